//! `SqliteStore`: the lmlang store on SQLite, through Diesel.
//!
//! [`SqliteStore`] is the shared [`Store`] engine over [`SqliteBackend`], so it behaves
//! exactly like the in-memory store (same checks, errors and orders); this module only
//! decides how rows are kept.
//!
//! # Schema (`migrations/sqlite/`, generated into `crate::schema`)
//!
//! Every table's name begins with `lmlang_`, so the store's tables sit beside a
//! service's own. `lmlang_programs` (revision, the next ids so ids survive a reload,
//! counts for listings), `lmlang_program_names` (each program's unique name) and one
//! table per stored entity: `lmlang_modules`, `lmlang_types`, `lmlang_functions`,
//! `lmlang_compute_nodes`, `lmlang_flow_edges`, `lmlang_semantic_nodes`,
//! `lmlang_semantic_edges`; history in `lmlang_history` and `lmlang_history_tags`. Every
//! table is keyed by program id first and deleted with its program (`ON DELETE
//! CASCADE`); foreign keys inside a program guard node owners, call targets, edge
//! endpoints, module parents, named types' modules and entry nodes (the cycle between
//! a function and its entry node is checked at commit).
//!
//! Decisions, and why:
//! - **WITHOUT ROWID tables with composite keys**: a row is stored once, in key order;
//!   a rowid table would add a hidden key and an index for the real one.
//! - **Nodes clustered by owner** (`(program, owner, node)`): `find_nodes_by_owner`
//!   reads one contiguous range; `get_node` and the foreign keys of edges use the
//!   unique `(program, node)` index. A load reads nodes in key order and sorts them
//!   by id (bodies are id ranges, so the sort is nearly free).
//! - **Typed, indexed columns for everything a query filters on** (owner, op code,
//!   referenced type and function, edge endpoints, kind, ports, value type, branch);
//!   compact JSON for payloads nobody filters on (constants, contract messages, type
//!   definitions, parameters, captures). Partial indexes skip the NULLs of optional
//!   columns. `tests/sqlite_plans.rs` proves with `EXPLAIN QUERY PLAN` that each query
//!   uses its index, and that foreign-key checks do too.
//! - **Planner statistics shipped with the schema**: without them SQLite assumes an
//!   equality on the leading `program_id` matches ten rows, and prefers reading a
//!   program's whole edge range to a two-column index (for queries and for the
//!   foreign-key checks of every node deletion). The migration writes representative
//!   `sqlite_stat1` rows; `ANALYZE` on real data keeps the same shape.
//! - **Small integer codes** for the op of a node and its one small operand (the
//!   `lmlang_op_kinds` table names the codes for SQL readers); an edge's `kind` is a VIRTUAL
//!   generated column (computed from `value_type`, costing no space). TEXT enums with
//!   CHECK constraints elsewhere. Both keep rows small: about 150 bytes a node with its
//!   1.76 edges, of which about 13 % is free space SQLite leaves in index pages filled
//!   in key order (`SqliteStore::vacuum` repacks to about 133).
//! - **Floats never as REAL**: SQLite turns a NaN into NULL. Constants are JSON in the
//!   bit-exact text form of [`ConstValue`](crate::model::ConstValue).
//! - **Strict reads**: a text in an integer column, a real where an id belongs, or
//!   invalid UTF-8 is a `Corrupt` error naming the table and key, never SQLite's silent
//!   conversion (see `codec.rs`).
//! - **The semantic tables are written, not read**: the graph derives its semantic graph
//!   from the primary rows on load; the tables serve SQL tools and are kept current by
//!   every write (see `writer.rs`), which `SqliteConfig::verify_semantic_on_load`
//!   checks.
//!
//! # Connections and transactions
//!
//! One writer connection behind a mutex, `BEGIN IMMEDIATE` per write (a savepoint
//! inside a caller's transaction); a pool of `query_only` readers; WAL, so readers see
//! committed snapshots and never block the writer. Every connection gets `busy_timeout`
//! (first), `foreign_keys = ON`, `synchronous = NORMAL` and in-memory statement
//! journals when it opens. `insert_program` of a new program, whose graph has just been
//! validated whole, is the one write that turns foreign-key and CHECK enforcement off
//! for its transaction (its rows can refer to nothing but each other; the checks were a
//! third of a bulk save) and leaves the checkpoint of its pages to a background thread. A load reads
//! in one read transaction; a large one reads its edges on a second connection at the
//! same time and keeps the result only if both read the same program revision (every
//! write bumps it), which is what one snapshot would have read.
//!
//! # For host services
//!
//! [`MIGRATIONS`] are the embedded migrations; [`run_migrations`], [`load_program`],
//! [`insert_program`], [`save_program`] and friends work on a caller's own
//! `SqliteConnection`, inside the caller's transaction.

mod backend;
mod backup;
mod checkpointer;
mod config;
mod connection;
mod direct;
mod error;
mod host;
mod maintenance;
mod mapper;
mod migrate;
mod owned;
pub mod records;
mod source;
mod writer;

// The shared SQL rows, under the names this module's files use.
pub(crate) use crate::rows::sql::{codec, ops, tables};
#[cfg(feature = "postgres")]
pub(crate) use error::pool_exhausted;

pub use backend::SqliteBackend;
pub use config::SqliteConfig;
pub use connection::SqliteCustomizer;
pub use direct::{
    delete_program, find_program, insert_program, load_program, run_migrations, save_program, schema_version,
};
pub use host::{HostConnection, HostPool};
pub use maintenance::{Checkpoint, QueryPlan};
pub use migrate::MIGRATIONS;
pub use ops::OP_NAMES;
pub use owned::{OwnedConnections, writes_beside};
pub use source::{Connections, WriteWork};

use crate::store::{StorageResult, Store};
use std::path::Path;

/// The SQLite store: the shared engine over [`SqliteBackend`] on its own file, pool
/// and writer.
pub type SqliteStore = Store<SqliteBackend>;

/// The whole store on a host service's r2d2 pool: the service keeps its pool, and the
/// store is one more user of it.
pub type PooledSqliteStore = Store<SqliteBackend<HostPool>>;

/// The whole store on one connection a host lends, usually inside the host's open
/// transaction: everything done through it commits or rolls back with that
/// transaction.
pub type ConnectionStore<'c> = Store<SqliteBackend<HostConnection<'c>>>;

impl PooledSqliteStore {
    /// The store on the service's pool. The pool should install
    /// [`SqliteCustomizer`] (busy timeout, foreign keys, synchronous), and the
    /// database must be migrated ([`run_migrations`], which also puts the file in WAL
    /// mode; a file migrated by the diesel CLI alone stays in rollback-journal mode,
    /// where readers and the writer wait for each other: call `run_migrations` once,
    /// or set `PRAGMA journal_mode = WAL`).
    pub fn on_pool(pool: diesel::r2d2::Pool<diesel::r2d2::ConnectionManager<diesel::SqliteConnection>>) -> Self {
        Store::with_backend(SqliteBackend::new(HostPool::new(pool)))
    }
}

impl<'c> ConnectionStore<'c> {
    /// The store on a connection the caller lends for the store's lifetime. The
    /// database must be migrated ([`run_migrations`]).
    pub fn on_connection(conn: &'c mut diesel::SqliteConnection) -> Self {
        Store::with_backend(SqliteBackend::new(HostConnection::new(conn)))
    }
}

impl SqliteStore {
    /// Opens the database at `path` (creating it if needed) with default settings,
    /// applying pending migrations. `path` names a file, whatever SQLite would make of
    /// it: `file:x.db` is the file so named, not a URI, and `:memory:` and the empty
    /// path (SQLite's private temporary database) are refused with
    /// [`DatabaseErrorKind::CannotOpen`](crate::store::DatabaseErrorKind::CannotOpen) (a
    /// pool's connections cannot share one such database; see `temporary`).
    pub fn open(path: impl AsRef<Path>) -> StorageResult<Self> {
        Self::open_with(path, SqliteConfig::default())
    }

    /// Opens the database at `path` with the given settings.
    pub fn open_with(path: impl AsRef<Path>, config: SqliteConfig) -> StorageResult<Self> {
        Ok(Store::with_backend(SqliteBackend::new(OwnedConnections::open(path.as_ref(), config)?)))
    }

    /// A store on a fresh database in a temporary directory, deleted with the store:
    /// for tests and scratch work. (A file, not `:memory:`: pooled connections to an
    /// in-memory database would each see their own empty database.)
    #[cfg(feature = "temporary")]
    pub fn temporary() -> StorageResult<Self> {
        Self::temporary_with(SqliteConfig::default())
    }

    /// A temporary store with the given settings.
    #[cfg(feature = "temporary")]
    pub fn temporary_with(config: SqliteConfig) -> StorageResult<Self> {
        Ok(Store::with_backend(SqliteBackend::new(OwnedConnections::temporary(config)?)))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.backend().path()
    }
}
