//! Where a PostgreSQL backend gets its connections.
//!
//! The row-level work of [`PgBackend`](super::PgBackend) is the same whoever owns the
//! connections; what differs is how a connection is had and how a transaction begins.
//! [`PgConnections`] is that difference, implemented by a pool (the store's own or a
//! host service's, [`PgPoolConnections`]) and by one connection a host lends, possibly
//! inside its own open transaction ([`PgHostConnection`]).

use super::connections::{self, PgPool};
use super::error::reclassify;
use super::replicas::Reads;
use crate::store::StorageResult;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, PooledConnection};
use std::sync::{Arc, Mutex, MutexGuard};

/// A pooled PostgreSQL connection.
pub type PgPooled = PooledConnection<ConnectionManager<PgConnection>>;

/// How a backend reads and writes. See the module docs.
pub trait PgConnections: Send + Sync {
    /// Runs `work` on a connection, outside a transaction of the store's (each
    /// statement sees what is committed, or what the host's open transaction sees).
    fn read<T>(&self, work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T>;

    /// Runs `work` where it reads one snapshot: a `REPEATABLE READ READ ONLY`
    /// transaction, or the host's open transaction.
    fn snapshot<T>(&self, work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T>;

    /// A second connection for a load split over two, if one is free (never waited
    /// for: waiting while holding the first could deadlock a busy pool).
    fn spare(&self) -> Option<PgPooled> {
        None
    }

    /// Runs `work` in one write transaction (a savepoint inside a host's open one),
    /// again when a serialization failure or deadlock rolled it back and that can be
    /// retried.
    fn write<T>(&self, retries: u32, work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T>;
}

/// A pool: the store's own ([`PgStore::connect`](super::PgStore::connect)) or a host
/// service's ([`PgStore::on_pool`](super::PgStore::on_pool)); with replicas
/// ([`PgStore::connect_replicated`](super::PgStore::connect_replicated)), reads go
/// where `replicas::Reads` says and writes record their WAL position.
#[derive(Clone)]
pub struct PgPoolConnections {
    pool: PgPool,
    reads: Arc<Reads>,
}

impl PgPoolConnections {
    /// Connections from `pool`, which must already see the store's tables.
    pub fn new(pool: PgPool) -> Self {
        let reads = Arc::new(Reads::primary_only(pool.clone()));
        PgPoolConnections { pool, reads }
    }

    /// Connections from `pool` for writes, and where `reads` says for reads.
    pub(crate) fn with_reads(pool: PgPool, reads: Reads) -> Self {
        PgPoolConnections { pool, reads: Arc::new(reads) }
    }

    /// Where reads go.
    pub(crate) fn reads(&self) -> &Arc<Reads> {
        &self.reads
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl PgConnections for PgPoolConnections {
    fn read<T>(&self, work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T> {
        self.reads.read(work)
    }

    fn snapshot<T>(&self, work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T> {
        self.reads.read(&mut |conn| connections::snapshot(conn, |c| work(c)))
    }

    fn spare(&self) -> Option<PgPooled> {
        // A snapshot exported on a replica cannot be imported on the primary.
        if self.reads.has_replicas() { None } else { self.pool.try_get() }
    }

    fn write<T>(&self, retries: u32, work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T> {
        let done = connections::write(&self.pool, retries, work);
        match &done {
            Ok(_) => self.reads.after_commit(),
            Err(e) => self.reads.after_failed_write(e),
        }
        done
    }
}

/// One connection lent by a host for as long as the store lives. Inside a transaction
/// the host opened, every read sees that transaction and every write is a savepoint in
/// it, committed or rolled back with the host's own rows (a serialization failure
/// there aborts the host's transaction, so it is returned, not retried); outside one,
/// each load is its own snapshot and each write its own transaction, retried as on a
/// pool.
pub struct PgHostConnection<'c> {
    conn: Mutex<&'c mut PgConnection>,
}

impl<'c> PgHostConnection<'c> {
    /// Borrows the connection. Its `search_path` must see migrated tables
    /// ([`run_migrations`](super::run_migrations)).
    pub fn new(conn: &'c mut PgConnection) -> Self {
        PgHostConnection { conn: Mutex::new(conn) }
    }

    fn lock(&self) -> MutexGuard<'_, &'c mut PgConnection> {
        // A panic inside a transaction leaves Diesel's transaction manager marking the
        // connection broken, so later calls fail instead of writing through it.
        self.conn.lock().unwrap_or_else(|e| {
            tracing::warn!("a store operation panicked on a host connection; later calls through it may fail");
            self.conn.clear_poison();
            e.into_inner()
        })
    }
}

/// Whether the host has a transaction open on `conn`.
fn in_transaction(conn: &mut PgConnection) -> StorageResult<bool> {
    Ok(AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth()?.is_some())
}

impl PgConnections for PgHostConnection<'_> {
    fn read<T>(&self, work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T> {
        work(&mut self.lock()).map_err(reclassify)
    }

    fn snapshot<T>(&self, work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T> {
        let mut conn = self.lock();
        if in_transaction(&mut conn)? {
            work(&mut conn).map_err(reclassify)
        } else {
            connections::snapshot(&mut conn, |c| work(c))
        }
    }

    fn write<T>(&self, retries: u32, work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T> {
        let mut conn = self.lock();
        if in_transaction(&mut conn)? {
            use diesel::Connection;
            conn.transaction(|c| work(c)).map_err(reclassify)
        } else {
            connections::write_on(&mut conn, retries, work)
        }
    }
}
