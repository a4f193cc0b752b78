//! `PgStore`: the lmlang store on PostgreSQL, through Diesel (feature `postgres`).
//!
//! [`PgStore`] is the shared [`Store`] engine over [`PgBackend`], so it behaves exactly
//! like the SQLite and in-memory stores: same checks, errors, orders and round trips.
//! Which rows a save writes and how rows become a graph are the shared row layer's
//! ([`crate::rows`]); rows, encodings and queries are the SQLite backend's (the
//! schema is the same column for column). This module holds only what is
//! PostgreSQL's: the pool and its `search_path`, snapshot and locking transactions with
//! retries, error classification, migrations under an advisory lock, and the
//! whole-program reads.
//!
//! # Schema (`migrations/postgres/`, generated into `crate::schema_postgres`)
//!
//! The SQLite tables with `program_id` first in every key, BIGINT ids, an identity
//! column for program ids, constants as bit-exact TEXT, the edge kind as a STORED
//! generated column, and deferrable foreign keys for the function/entry-node cycle. See
//! the migration's comments for the differences and why.
//!
//! # Transactions
//!
//! Loads read one `REPEATABLE READ READ ONLY` snapshot. Writes run in `READ COMMITTED`
//! and lock each program's row before touching it, so writers of one program (in any
//! process, on any host) are serialised and writers of different programs run in
//! parallel; a write rolled back by a serialization failure (40001) or deadlock
//! (40P01) runs again ([`PgConfig::write_retries`]). A lost connection is a
//! `Database` error of kind
//! [`ConnectionLost`](crate::store::DatabaseErrorKind::ConnectionLost), which is safe
//! to retry; only operations the server was running get it, as a pooled connection the
//! server closed while idle is discarded and the operation runs on another.
//!
//! # Several instances
//!
//! [`PgStore::connect_replicated`] reads from streaming replicas that have replayed the
//! store's last commit and writes to the primary (module `replicas`);
//! [`PgConfig::notify_changes`] and [`PgStore::subscribe`] are a change feed between
//! instances over `NOTIFY` ([`ChangeFeed`]).
//!
//! # TLS
//!
//! The `postgres` feature builds libpq from source without OpenSSL, so `sslmode=require`
//! URLs fail. For TLS, enable pq-sys's `bundled` feature with `openssl-sys/vendored` in
//! your own Cargo.toml (or use pq-sys without bundling to link the system's libpq).

mod backend;
mod connections;
mod error;
mod feed;
mod maintenance;
mod migrate;
mod partition;
mod replicas;
mod rows;
mod source;

pub use backend::{PgBackend, PgTx};
pub use connections::{PgConfig, PgCustomizer, PgPool, quote_identifier};
pub use error::classify;
pub use feed::{Change, ChangeFeed};
pub use migrate::{MIGRATIONS, run_migrations, with_migration_lock};
pub use partition::{MAX_PARTITIONS, partition_by_program, partition_count};
pub use rows::PgRows;
pub use source::{PgConnections, PgHostConnection, PgPoolConnections, PgPooled};

use crate::store::{StorageResult, Store};

/// The PostgreSQL store: the shared engine over [`PgBackend`].
pub type PgStore = Store<PgBackend>;

/// The store on one connection a host service lends, typically inside a transaction
/// of its own: the store's reads see that transaction and its writes are savepoints in
/// it, so programs commit or roll back with the service's own rows. Build it inside
/// the transaction and drop it there (it borrows the connection).
///
/// ```no_run
/// use diesel::prelude::*;
/// use lmlang_storage::graph::ProgramGraph;
/// use lmlang_storage::postgres::{self, PgConnectionStore};
/// use lmlang_storage::store::GraphStore;
///
/// let mut conn = PgConnection::establish("postgres://app@db.internal/app")?;
/// postgres::run_migrations(&mut conn)?;
/// conn.transaction(|conn| {
///     // ... the service's own writes ...
///     let store = PgConnectionStore::on_connection(conn);
///     let id = store.insert_program("app", &ProgramGraph::new("app"))?;
///     assert_eq!(store.load_program(id)?, ProgramGraph::new("app"));
///     Ok::<_, lmlang_storage::store::StorageError>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type PgConnectionStore<'c> = Store<PgBackend<PgHostConnection<'c>>>;

impl<'c> PgConnectionStore<'c> {
    /// The store on `conn`, whose `search_path` must see migrated tables
    /// ([`run_migrations`]).
    pub fn on_connection(conn: &'c mut diesel::pg::PgConnection) -> Self {
        Self::on_connection_with(conn, PgConfig::default())
    }

    /// The store on `conn` with the given settings (the pool's and migration settings
    /// do not apply).
    pub fn on_connection_with(conn: &'c mut diesel::pg::PgConnection, config: PgConfig) -> Self {
        Store::with_backend(PgBackend::with_connections(PgHostConnection::new(conn), config))
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host/db`) with default
    /// settings, applying pending migrations.
    pub fn connect(url: &str) -> StorageResult<Self> {
        Self::connect_with(url, PgConfig::default())
    }

    /// Connects with the given settings. A refused password or host, or a malformed URL,
    /// fails at once with `CannotOpen`; a database or role that does not exist, with
    /// `CannotOpen` after `connection_timeout` (a deployment may be creating it); a
    /// server that does not answer, after `connection_timeout`, with `ConnectionLost`,
    /// so a service started before its database can simply retry. Without `migrate`, a
    /// schema older or newer than this build's is refused (`SchemaTooOld`,
    /// `SchemaTooNew`) rather than met table by table.
    pub fn connect_with(url: &str, config: PgConfig) -> StorageResult<Self> {
        let span = tracing::info_span!(
            "lmlang_open",
            database = %crate::redact::redacted(url),
            migrate = config.migrate,
            duration_ms = tracing::field::Empty,
            error = tracing::field::Empty
        );
        crate::store::trace::Timed::new(span).run(|_| Self::connect_untimed(url, config))
    }

    fn connect_untimed(url: &str, config: PgConfig) -> StorageResult<Self> {
        let pool = connections::pool(url, &config)?;
        if config.migrate {
            migrate::migrate(&pool)?;
        } else {
            migrate::require_current(&pool)?;
        }
        Ok(Store::with_backend(PgBackend::new(pool, config)))
    }

    /// The store on a host's pool, whose connections must see a migrated schema
    /// ([`run_migrations`]; install a [`PgCustomizer`] for another schema than
    /// `public`).
    ///
    /// A test pool, whose customizer calls `begin_test_transaction`, works too: each
    /// read and write is then a savepoint in the connection's test transaction (which
    /// never commits). Give it one connection: the row lock a write takes on a program
    /// lasts until the test transaction ends, so a write on another connection of the
    /// pool would wait for it for good (and would not see the first one's rows).
    ///
    /// The store cannot set `search_path` on the host's connections, so
    /// `config.schema`, where given, is checked instead: the first operation whose
    /// connection does not see that schema fails with `CannotOpen`, and nothing is
    /// read from or written to another schema's store.
    pub fn on_pool(pool: PgPool, config: PgConfig) -> Self {
        Store::with_backend(PgBackend::on_host_pool(pool, config))
    }
}
