//! Where a SQLite backend gets its connections.
//!
//! The row-level work of [`SqliteBackend`](super::SqliteBackend) is the same whoever
//! owns the connections; what differs is how a connection is had and how a write
//! transaction begins and ends. [`Connections`] is that difference, implemented by
//! the store's own pool and writer ([`OwnedConnections`](super::OwnedConnections)), a
//! host service's r2d2 pool ([`HostPool`](super::HostPool)) and a single connection a
//! host lends, possibly inside its own open transaction
//! ([`HostConnection`](super::HostConnection)).

use super::{connection, mapper};
use crate::graph::ProgramGraph;
use crate::rows::Header;
use crate::store::{ProgramId, StorageResult};
use diesel::sqlite::SqliteConnection;
use std::collections::HashMap;

/// Program rows (revision and next ids) by program, as a write transaction knows them.
pub type Headers = HashMap<ProgramId, Header>;

/// What a write transaction's body returns: its value, the number of rows it wrote or
/// deleted (which decides checkpoints), and the program rows as it leaves them.
pub struct Written<T> {
    pub value: T,
    pub rows: u64,
    pub headers: Headers,
}

/// A write transaction's body: it gets a connection inside the transaction and the
/// program rows the source knows to be current (see [`Connections::write`]).
pub type WriteWork<'a, T> = dyn FnMut(&mut SqliteConnection, Headers) -> StorageResult<Written<T>> + 'a;

/// How a backend reads and writes. See the module docs.
pub trait Connections: Send + Sync {
    /// Runs `work` on a connection that may read. Each call sees committed data (or,
    /// on a host's connection inside its transaction, what that transaction sees).
    fn read<T>(&self, work: &mut dyn FnMut(&mut SqliteConnection) -> StorageResult<T>) -> StorageResult<T>;

    /// Runs `work` in one write transaction: `BEGIN IMMEDIATE`, or a savepoint inside a
    /// transaction the connection already has. Writers are serialised. A `new_program`
    /// write only creates one program from a validated graph, so it may run without
    /// foreign-key and CHECK enforcement (see `connection::new_program_transaction`).
    ///
    /// `work` gets the program rows that are certainly current, which it need not read
    /// again: a source that keeps the rows its own commits left may hand them on while
    /// no other connection has committed since; the others hand on none.
    fn write<T>(&self, new_program: bool, work: &mut WriteWork<'_, T>) -> StorageResult<T>;

    /// Loads a whole program from one snapshot, with the revision it was read at.
    fn load(&self, program: ProgramId, verify_semantic: bool) -> StorageResult<(ProgramGraph, u64)> {
        self.read(&mut |conn| connection::read_transaction(conn, |c| mapper::read_graph(c, program, verify_semantic)))
    }

    /// Whether a read can run while a write of this source is open on the same thread
    /// (false for one lent connection, which the write holds).
    fn reads_beside_writes(&self) -> bool {
        true
    }

    /// Whether every write must be refused with `ReadOnly` before it starts.
    fn read_only(&self) -> bool {
        false
    }

    /// Whether loads also compare the stored semantic tables with the graph.
    fn verify_semantic_on_load(&self) -> bool {
        false
    }
}
