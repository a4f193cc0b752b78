//! Where a PostgreSQL backend gets its connections.
//!
//! The row-level work of [`PgBackend`](super::PgBackend) is the same whoever owns the
//! connections; what differs is how a connection is had and how a transaction begins.
//! [`PgConnections`] is that difference, implemented by a pool (the store's own or a
//! host service's, [`PgPoolConnections`]) and by one connection a host lends, possibly
//! inside its own open transaction ([`PgHostConnection`]). A connection already in a
//! transaction (the host's, or a test pool's `begin_test_transaction`) gets each read
//! and write as a savepoint in it, from either.

use super::connections::{self, PgPool, in_transaction, transaction_depth};
use super::error::reclassify;
use super::replicas::Reads;
use crate::store::{DatabaseErrorKind, ProgramId, StorageError, StorageResult};
use diesel::Connection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, PooledConnection};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A pooled PostgreSQL connection.
pub type PgPooled = PooledConnection<ConnectionManager<PgConnection>>;

/// How a backend reads and writes. See the module docs.
pub trait PgConnections: Send + Sync {
    /// Runs `work` on a connection, outside a transaction of the store's (each
    /// statement sees what is committed, or what the host's open transaction sees).
    fn read<T>(&self, work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T>;

    /// Runs `work`, a read of `program`, where it reads one snapshot: a `REPEATABLE
    /// READ READ ONLY` transaction, or the host's open transaction (see
    /// [`PgHostConnection`]).
    fn snapshot<T>(
        &self,
        program: ProgramId,
        work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>,
    ) -> StorageResult<T>;

    /// A second connection for a load that `first` reads in a snapshot, to split it
    /// over two, if one is free (never waited for: waiting while holding the first
    /// could deadlock a busy pool).
    fn spare(&self, _first: &mut PgConnection) -> Option<PgPooled> {
        None
    }

    /// Whether a read can run while a write of this source is open on the same thread
    /// (false for one lent connection, which the write holds).
    fn reads_beside_writes(&self) -> bool {
        true
    }

    /// Runs `work` in one write transaction (a savepoint inside a host's open one),
    /// again when a serialization failure or deadlock rolled it back and that can be
    /// retried.
    fn write<T>(&self, retries: u32, work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T>;
}

/// A pool: the store's own ([`PgStore::connect`](super::PgStore::connect)) or a host
/// service's ([`PgStore::on_pool`](super::PgStore::on_pool)), with reads sent to
/// replicas where the store has them
/// ([`PgStore::connect_replicated`](super::PgStore::connect_replicated)).
///
/// A host's pool may hand out connections already in a transaction (a test pool, whose
/// customizer calls `begin_test_transaction`): reads and writes are then savepoints in
/// it, as on a [`PgHostConnection`] in a host's transaction, and loads stay on one
/// connection.
#[derive(Clone)]
pub struct PgPoolConnections {
    reads: Arc<Reads>,
    schema: Option<Arc<ExpectedSchema>>,
}

impl PgPoolConnections {
    pub(crate) fn new(reads: Reads) -> Self {
        PgPoolConnections { reads: Arc::new(reads), schema: None }
    }

    /// Connections from a host's pool, which must see `schema` (the store cannot set
    /// `search_path` on connections it does not make): checked on the first one used.
    pub(crate) fn expecting_schema(reads: Reads, schema: Option<String>) -> Self {
        let schema = schema.map(|name| Arc::new(ExpectedSchema { name, seen: AtomicBool::new(false) }));
        PgPoolConnections { reads: Arc::new(reads), schema }
    }

    fn check_schema(&self, conn: &mut PgConnection) -> StorageResult<()> {
        self.schema.as_deref().map_or(Ok(()), |expected| expected.check(conn))
    }

    /// A connection of the primary's pool for what runs beside reads and writes (the
    /// change feed's `LISTEN`, partitioning), its schema checked as theirs is: a feed
    /// on the wrong schema would hear another store's commits.
    pub(crate) fn primary(&self) -> StorageResult<PgPooled> {
        let mut conn = connections::connection(self.pool())?;
        self.check_schema(&mut conn)?;
        Ok(conn)
    }

    /// The primary's pool (writes, and reads without replicas).
    pub fn pool(&self) -> &PgPool {
        self.reads.primary()
    }

    pub(crate) fn reads(&self) -> &Arc<Reads> {
        &self.reads
    }
}

impl PgConnections for PgPoolConnections {
    /// A pool of one connection (a test pool, typically) has none to read with while
    /// its write holds it.
    fn reads_beside_writes(&self) -> bool {
        self.pool().max_size() > 1
    }

    fn read<T>(&self, work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T> {
        self.reads.read(&mut |conn| {
            self.check_schema(conn)?;
            read_on(conn, work)
        })
    }

    fn snapshot<T>(
        &self,
        program: ProgramId,
        work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>,
    ) -> StorageResult<T> {
        self.reads.read(&mut |conn| {
            self.check_schema(conn)?;
            snapshot_on(conn, program, work)
        })
    }

    fn spare(&self, first: &mut PgConnection) -> Option<PgPooled> {
        // A snapshot can be shared only on the server that exported it; with replicas
        // the first connection may be a replica's, so loads stay in one. And only a
        // snapshot transaction of the load's own (depth 1) is shared: in a savepoint of
        // a transaction the connection was in, the load reads uncommitted rows that no
        // other connection sees.
        let own_snapshot = matches!(transaction_depth(first), Ok(1));
        if self.reads.has_replicas() || !own_snapshot { None } else { self.pool().try_get() }
    }

    fn write<T>(&self, retries: u32, work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T> {
        let done = connections::write(self.pool(), retries, &mut |conn| {
            self.check_schema(conn)?;
            work(conn)
        });
        match &done {
            Ok(_) => self.reads.after_commit(),
            Err(e) => self.reads.after_failed_write(e),
        }
        done
    }
}

/// One connection lent by a host for as long as the store lives. Inside a transaction
/// the host opened, every read sees that transaction and every read and write is a
/// savepoint in it, so a failed one (a statement timeout, say) leaves the host's
/// transaction usable; writes are committed or rolled back with the host's own rows (a
/// serialization failure there aborts the host's transaction, so it is returned, not
/// retried). Outside one, each load is its own snapshot and each write its own
/// transaction, retried as on a pool.
///
/// A load reads several tables. In a `READ COMMITTED` host transaction (PostgreSQL's
/// default) each statement sees the commits made before it, so the load compares the
/// program's revision before and after and reads again when a commit landed in
/// between (`Busy` after five tries); under `REPEATABLE READ` or `SERIALIZABLE` its
/// statements share one snapshot anyway.
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
        // A panic of an edit closure is rolled back inside the store before it goes on
        // (`Store::mutate_untimed`), so the connection is left outside any transaction
        // of the store's; the lock itself guards nothing else.
        self.conn.lock().unwrap_or_else(|e| {
            tracing::warn!("a store operation panicked on a host connection; later calls through it may fail");
            self.conn.clear_poison();
            e.into_inner()
        })
    }
}

/// The schema a host's pool was configured to see ([`PgConfig::schema`](super::PgConfig)
/// given to [`PgStore::on_pool`](super::PgStore::on_pool)). Without the check, a pool
/// whose connections lack the customizer reads and writes whatever store its
/// `search_path` finds (`public`'s, typically) while the service believes it uses its
/// own schema.
struct ExpectedSchema {
    name: String,
    seen: AtomicBool,
}

#[derive(diesel::QueryableByName)]
struct CurrentSchema {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    schema: Option<String>,
    /// The schema whose `lmlang_programs` an unqualified name finds (none before
    /// migrations): with `search_path = svc, public` and the store's tables only in
    /// `public`, the current schema is `svc` while every query reads `public`'s.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    tables: Option<String>,
}

impl ExpectedSchema {
    /// Refuses a connection whose `search_path` leads elsewhere, for new tables or for
    /// the store's existing ones, until one has been seen to lead to the schema (a
    /// pool's connections all get the same customizer).
    fn check(&self, conn: &mut PgConnection) -> StorageResult<()> {
        use diesel::RunQueryDsl;
        if self.seen.load(Ordering::Relaxed) {
            return Ok(());
        }
        let found: Vec<CurrentSchema> = diesel::sql_query(
            "SELECT current_schema() AS schema, \
                    (SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                      WHERE c.oid = to_regclass('lmlang_programs')) AS tables",
        )
        .load(conn)?;
        let (current, tables) = found.into_iter().next().map_or((None, None), |row| (row.schema, row.tables));
        let seen = if current.as_deref() != Some(self.name.as_str()) {
            current
                .map_or_else(|| "no schema (none of its search_path exists)".to_string(), |s| format!("schema {s:?}"))
        } else if let Some(elsewhere) = tables.filter(|t| *t != self.name) {
            format!("the store's tables in schema {elsewhere:?} (their search_path finds them there first)")
        } else {
            self.seen.store(true, Ordering::Relaxed);
            return Ok(());
        };
        let message = format!(
            "the pool's connections use {seen}, not the configured schema {:?}: install \
             PgCustomizer::new(Some(..)) on the pool (a store cannot set search_path on a host's connections)",
            self.name
        );
        Err(StorageError::Database { kind: DatabaseErrorKind::CannotOpen, source: message.into() })
    }
}

#[derive(diesel::QueryableByName)]
struct Isolation {
    #[diesel(sql_type = diesel::sql_types::Text)]
    isolation: String,
}

/// Whether `conn`'s transaction is `READ COMMITTED` (or `READ UNCOMMITTED`, which
/// PostgreSQL runs as such): each statement sees the commits made before it, so a
/// read of several statements may mix two commits.
fn reads_per_statement(conn: &mut PgConnection) -> StorageResult<bool> {
    use diesel::RunQueryDsl;
    let found: Vec<Isolation> =
        diesel::sql_query("SELECT current_setting('transaction_isolation') AS isolation").load(conn)?;
    Ok(found.first().is_some_and(|s| s.isolation.starts_with("read ")))
}

/// The program's revision as this statement sees it (`None` when there is no such
/// program).
fn revision_now(conn: &mut PgConnection, program: ProgramId) -> StorageResult<Option<i64>> {
    use crate::schema_postgres::lmlang_programs;
    use diesel::prelude::*;
    Ok(lmlang_programs::table.find(program.0).select(lmlang_programs::revision).get_result(conn).optional()?)
}

/// Times a load in a `READ COMMITTED` host transaction is read again when a commit
/// to the program landed while it read.
const CONSISTENT_READ_ATTEMPTS: usize = 5;

/// Runs `work`, a load of `program`, so that it reads one committed state even where
/// each statement sees the latest commits: every write to a program moves its revision,
/// so a load that finds the same revision before and after read no commit in between;
/// otherwise it reads again. No lock is taken (a share lock held to the end of the
/// host's transaction would deadlock with the write that commonly follows a load).
fn consistent_read<T>(
    conn: &mut PgConnection,
    program: ProgramId,
    work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>,
) -> StorageResult<T> {
    if !reads_per_statement(conn)? {
        return work(conn);
    }
    for _ in 0..CONSISTENT_READ_ATTEMPTS {
        let before = revision_now(conn, program)?;
        // A read that mixed two commits may also fail its checks (a false `Corrupt`):
        // the revision tells which, and only an error of a still state is one.
        let read = work(conn);
        if revision_now(conn, program)? == before {
            return read;
        }
    }
    Err(StorageError::Busy)
}

/// Runs the read `work` on `conn`; as a savepoint when `conn` is in a transaction
/// already, so that a failed statement does not abort the whole of it.
fn read_on<T>(
    conn: &mut PgConnection,
    work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>,
) -> StorageResult<T> {
    if in_transaction(conn)? {
        conn.transaction(|c| work(c)).map_err(reclassify)
    } else {
        work(conn).map_err(reclassify)
    }
}

/// Runs `work`, a load of `program`, on `conn` where it reads one committed state: a
/// snapshot transaction of its own, or a savepoint (see [`consistent_read`]) in the
/// transaction `conn` is already in.
fn snapshot_on<T>(
    conn: &mut PgConnection,
    program: ProgramId,
    work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>,
) -> StorageResult<T> {
    if in_transaction(conn)? {
        conn.transaction(|c| consistent_read(c, program, work)).map_err(reclassify)
    } else {
        connections::snapshot(conn, |c| work(c))
    }
}

impl PgConnections for PgHostConnection<'_> {
    fn reads_beside_writes(&self) -> bool {
        false
    }

    fn read<T>(&self, work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T> {
        read_on(&mut self.lock(), work)
    }

    fn snapshot<T>(
        &self,
        program: ProgramId,
        work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>,
    ) -> StorageResult<T> {
        snapshot_on(&mut self.lock(), program, work)
    }

    fn write<T>(&self, retries: u32, work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T> {
        let mut conn = self.lock();
        if in_transaction(&mut conn)? {
            conn.transaction(|c| work(c)).map_err(reclassify)
        } else {
            connections::write_on(&mut conn, retries, work)
        }
    }
}
