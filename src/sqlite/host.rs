//! Connections a host service lends the store: its r2d2 pool, or one connection,
//! possibly inside a transaction the service has open.
//!
//! The store never reconfigures a pooled connection it does not own: a service installs
//! [`SqliteCustomizer`](super::SqliteCustomizer) on its pool (busy timeout, foreign
//! keys, synchronous) and the store writes through ordinary `BEGIN IMMEDIATE`
//! transactions. On a lent connection, everything the store does joins the service's
//! open transaction as a savepoint, so it commits or rolls back with the service's own
//! rows.

use super::connection::{self, ReaderPool};
use super::error::classify_pool;
use super::source::{Connections, Headers, WriteWork};
use crate::store::StorageResult;
use diesel::sqlite::SqliteConnection;
use std::sync::{Mutex, MutexGuard};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic of an edit closure is rolled back inside the store before it goes on
    // (`Store::mutate_untimed`), so the connection is left outside any transaction of
    // the store's; the lock itself guards nothing else.
    mutex.lock().unwrap_or_else(|e| {
        tracing::warn!("a store operation panicked on a host connection; later calls through it may fail");
        mutex.clear_poison();
        e.into_inner()
    })
}

/// A host's r2d2 pool: reads and writes check connections out of it. Writes from this
/// store are serialised in the process; SQLite's write lock (waited for under the
/// pool's busy timeout) serialises them with every other writer of the file.
pub struct HostPool {
    pool: ReaderPool,
    writer: Mutex<()>,
}

impl HostPool {
    /// Wraps the service's pool. The database must be migrated already
    /// ([`run_migrations`](super::run_migrations)).
    pub fn new(pool: ReaderPool) -> Self {
        HostPool { pool, writer: Mutex::new(()) }
    }
}

impl Connections for HostPool {
    /// A pool of one connection has none to read with while its write holds it.
    fn reads_beside_writes(&self) -> bool {
        self.pool.max_size() > 1
    }

    fn read<T>(&self, work: &mut dyn FnMut(&mut SqliteConnection) -> StorageResult<T>) -> StorageResult<T> {
        let mut conn = self.pool.get().map_err(classify_pool)?;
        work(&mut conn)
    }

    fn write<T>(&self, _new_program: bool, work: &mut WriteWork<'_, T>) -> StorageResult<T> {
        let _one_writer = lock(&self.writer);
        let mut conn = self.pool.get().map_err(classify_pool)?;
        connection::write_transaction(&mut conn, |c| work(c, Headers::new()).map(|done| done.value))
    }
}

/// One connection lent by the host for as long as the store lives. Inside a
/// transaction the host opened, every read sees that transaction and every write is a
/// savepoint in it; outside one, each write is its own `BEGIN IMMEDIATE` transaction.
pub struct HostConnection<'c> {
    conn: Mutex<&'c mut SqliteConnection>,
}

impl<'c> HostConnection<'c> {
    /// Borrows the connection. Its database must be migrated already.
    pub fn new(conn: &'c mut SqliteConnection) -> Self {
        HostConnection { conn: Mutex::new(conn) }
    }
}

impl Connections for HostConnection<'_> {
    fn read<T>(&self, work: &mut dyn FnMut(&mut SqliteConnection) -> StorageResult<T>) -> StorageResult<T> {
        let mut conn = lock(&self.conn);
        work(&mut conn)
    }

    fn reads_beside_writes(&self) -> bool {
        false
    }

    fn write<T>(&self, new_program: bool, work: &mut WriteWork<'_, T>) -> StorageResult<T> {
        let mut conn = lock(&self.conn);
        let run = |c: &mut SqliteConnection| work(c, Headers::new()).map(|done| done.value);
        if new_program {
            // Outside a host transaction this turns enforcement off for the insert
            // only and restores the connection's own setting; inside one it is a
            // plain savepoint.
            connection::new_program_transaction(&mut conn, std::time::Duration::ZERO, run)
        } else {
            connection::write_transaction(&mut conn, run)
        }
    }
}
