//! Connections: how each is configured, the reader pool, and write transactions.
//!
//! Every connection, the writer and each pooled reader, runs the same set-up once when
//! it is opened ([`ConnectionSetup`], an r2d2 `CustomizeConnection`): `busy_timeout`
//! first, so even the following pragmas wait for locks instead of failing, then
//! `foreign_keys` and `synchronous = NORMAL` (durable across application crashes; in
//! WAL mode only a power loss can drop the last commits). Readers are also
//! `query_only`, so a write through one fails instead of competing with the writer.

use super::config::SqliteConfig;
use super::error::classify_connection;
use crate::store::DatabaseErrorKind::{CannotOpen, Other};
use crate::store::{StorageError, StorageResult};
use diesel::connection::{
    AnsiTransactionManager, SimpleConnection, TransactionDepthChange, TransactionManager, TransactionManagerStatus,
};
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sql_types::BigInt;
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel::{Connection, QueryResult, QueryableByName, RunQueryDsl};

/// The pool of read-only connections.
pub type ReaderPool = Pool<ConnectionManager<SqliteConnection>>;

/// The longest SQLite's busy handler waits on the store's own writer connection at a
/// time (see [`ConnectionSetup::store_writer`]).
pub const WRITER_WAIT_SLICE: std::time::Duration = std::time::Duration::from_millis(20);

/// The per-connection set-up (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSetup {
    busy_timeout_ms: u128,
    cache_size_kib: u32,
    mmap_size: u64,
    query_only: bool,
    max_page_count: Option<u32>,
}

impl ConnectionSetup {
    /// Set-up of the one writer connection.
    pub fn writer(config: &SqliteConfig) -> Self {
        ConnectionSetup {
            busy_timeout_ms: config.busy_timeout.as_millis(),
            cache_size_kib: config.cache_size_kib,
            mmap_size: config.mmap_size,
            query_only: false,
            max_page_count: config.max_page_count,
        }
    }

    /// Set-up of the store's own writer connection: SQLite's busy handler waits one
    /// [`WRITER_WAIT_SLICE`] at most, and the store's writes begin again until
    /// `busy_timeout` has passed (see [`kept_write_transaction`]).
    ///
    /// SQLite's handler sleeps ever longer between its tries, up to 100 ms each: a
    /// writer that has waited a while tries ten times a second, while writers that
    /// just committed try again within a millisecond. Under sustained writes from
    /// several processes the one that waited longest kept losing, and failed with
    /// `Busy` after `busy_timeout` though every commit held the lock briefly. Begun
    /// again each slice, every waiter keeps trying at the handler's first, short
    /// intervals.
    pub fn store_writer(config: &SqliteConfig) -> Self {
        let slice = config.busy_timeout.min(WRITER_WAIT_SLICE);
        ConnectionSetup { busy_timeout_ms: slice.as_millis(), ..Self::writer(config) }
    }

    /// Set-up of a pooled reader.
    pub fn reader(config: &SqliteConfig) -> Self {
        ConnectionSetup { query_only: true, max_page_count: None, ..Self::writer(config) }
    }

    /// The same set-up with no busy timeout: every lock it cannot take at once fails
    /// at once (for the checkpoint thread, which retries on its own schedule).
    pub fn without_waiting(self) -> Self {
        ConnectionSetup { busy_timeout_ms: 0, ..self }
    }

    /// Applies the set-up to a fresh connection.
    pub fn apply(&self, conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
        // Pragmas are not expressible in Diesel's query builder.
        // temp_store = MEMORY keeps statement journals in memory: a multi-row INSERT
        // saves every page it changes there first (to undo just that statement), and
        // past 64 KiB SQLite would spill them to a temporary file, about 8 % of a bulk
        // save spent in write(2) calls.
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
             PRAGMA cache_size = -{}; PRAGMA mmap_size = {}; PRAGMA query_only = {}; PRAGMA temp_store = MEMORY;",
            self.busy_timeout_ms.min(i32::MAX as u128),
            self.cache_size_kib,
            self.mmap_size,
            if self.query_only { "ON" } else { "OFF" },
        ))?;
        if let Some(pages) = self.max_page_count {
            conn.batch_execute(&format!("PRAGMA max_page_count = {pages}"))?;
        }
        Ok(())
    }
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for ConnectionSetup {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        self.apply(conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The connection settings the store depends on, for a host service's own r2d2 pool:
/// `busy_timeout` (first, so a writer waits for the lock instead of failing at once),
/// `foreign_keys = ON`, `synchronous = NORMAL`, in-memory statement journals and the
/// page cache of [`SqliteConfig`]. Install it with
/// `Pool::builder().connection_customizer(Box::new(SqliteCustomizer::default()))`.
///
/// One writer at a time per file: SQLite has one write lock, and a pool without a
/// busy timeout hands `SQLITE_BUSY` to whichever writer comes second.
#[derive(Debug, Clone, Copy)]
pub struct SqliteCustomizer {
    setup: ConnectionSetup,
}

impl SqliteCustomizer {
    /// The settings of a store opened with `config` (its busy timeout, cache, mmap
    /// and page-count quota).
    pub fn from_config(config: &SqliteConfig) -> Self {
        SqliteCustomizer { setup: ConnectionSetup::writer(config) }
    }

    /// Applies the settings to a connection the caller opened itself.
    pub fn apply(&self, conn: &mut SqliteConnection) -> StorageResult<()> {
        self.setup.apply(conn).map_err(super::error::classify)
    }
}

impl Default for SqliteCustomizer {
    fn default() -> Self {
        Self::from_config(&SqliteConfig::default())
    }
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqliteCustomizer {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        self.setup.on_acquire(conn)
    }
}

/// The name SQLite opens for a path: the path itself, or for a read-only store a
/// `file:` URI with `mode=ro`.
///
/// A path names a file, always: Diesel opens with URI parsing on, so a relative path
/// starting with `file:` gets `./` in front (else `file:abc.db` would open `abc.db`),
/// and `:memory:` is refused rather than opened as SQLite's in-memory database, as is
/// the empty path, SQLite's private temporary database (as unshareable by a pool).
pub fn database_url(path: &std::path::Path, read_only: bool) -> StorageResult<String> {
    let text = path
        .to_str()
        .ok_or_else(|| StorageError::database(Other, format!("the path {} is not valid UTF-8", path.display())))?;
    if text == ":memory:" {
        return Err(StorageError::database(
            CannotOpen,
            "\":memory:\" would be SQLite's in-memory database, which a store cannot use (each of its \
             connections would see an empty database of its own); name a file instead (\"./:memory:\" \
             for a file so called, or one in a temporary directory for a throwaway store)",
        ));
    }
    if text.is_empty() {
        return Err(StorageError::database(
            CannotOpen,
            "an empty path would be SQLite's private temporary database, which a store cannot use (each of \
             its connections would see an empty database of its own, deleted when it closes); name a file \
             instead (one in a temporary directory for a throwaway store)",
        ));
    }
    if !read_only {
        return Ok(if text.starts_with("file:") { format!("./{text}") } else { text.to_string() });
    }
    // URI paths escape everything but unreserved characters and slashes.
    let mut uri = String::from("file:");
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?mode=ro");
    Ok(uri)
}

/// Opens a connection and applies a set-up.
pub fn establish(url: &str, setup: ConnectionSetup) -> StorageResult<SqliteConnection> {
    let mut conn = SqliteConnection::establish(url).map_err(classify_connection)?;
    setup.apply(&mut conn).map_err(super::error::classify)?;
    Ok(conn)
}

/// Builds the reader pool, whose connections `thread` opens.
pub(crate) fn reader_pool(
    url: &str,
    config: &SqliteConfig,
    thread: &crate::pool_threads::PoolThread,
) -> StorageResult<ReaderPool> {
    Pool::builder()
        .thread_pool(thread.for_pool())
        .max_size(config.max_readers.max(1))
        .min_idle(Some(config.min_idle_readers.min(config.max_readers.max(1))))
        .connection_timeout(config.reader_wait)
        // A local file's connection does not go stale; r2d2's default check would run
        // `SELECT 1` before every read.
        .test_on_check_out(false)
        .connection_customizer(Box::new(ConnectionSetup::reader(config)))
        .build(ConnectionManager::new(url))
        .map_err(super::error::classify_pool)
}

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = diesel::sql_types::Text)]
    journal_mode: String,
}

/// Puts the database in WAL mode (stored in the file, so once on open) and bounds the
/// WAL: automatic checkpoints every `wal_autocheckpoint` pages, and the file cut back to
/// `journal_size_limit` after each reset.
pub fn enable_wal(conn: &mut SqliteConnection, config: &SqliteConfig) -> StorageResult<()> {
    let mode = ask_for_wal(conn)?;
    if mode != "wal" {
        return Err(refused_wal(&mode));
    }
    conn.batch_execute(&format!(
        "PRAGMA wal_autocheckpoint = {}; PRAGMA journal_size_limit = {};",
        config.wal_autocheckpoint, config.journal_size_limit
    ))
    .map_err(super::error::classify)
}

/// Puts a database file in WAL mode, unless the connection is inside a transaction
/// (where SQLite cannot switch: the mode is left for a later call) or the database is
/// in memory (which has no WAL).
pub fn switch_to_wal(conn: &mut SqliteConnection) -> StorageResult<()> {
    if AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth()?.is_some() {
        return Ok(());
    }
    match ask_for_wal(conn)?.as_str() {
        "wal" | "memory" => Ok(()),
        mode => Err(refused_wal(mode)),
    }
}

/// Asks for WAL mode; `journal_mode` answers with the mode actually in force.
fn ask_for_wal(conn: &mut SqliteConnection) -> StorageResult<String> {
    let modes: Vec<JournalMode> =
        diesel::sql_query("PRAGMA journal_mode = WAL").load(conn).map_err(super::error::classify)?;
    Ok(modes.first().map(|m| m.journal_mode.to_ascii_lowercase()).unwrap_or_default())
}

fn refused_wal(mode: &str) -> StorageError {
    StorageError::database(
        Other,
        format!("the database refused WAL mode (journal_mode is {mode:?}); use a file on a local disk"),
    )
}

/// Runs `work` in a write transaction: `BEGIN IMMEDIATE`, which takes the write lock up
/// front (waiting under `busy_timeout`), so a transaction that reads and then writes
/// never fails half-way on a lock. Inside a transaction the caller already holds (a
/// host service's own, or a test transaction) it runs in a savepoint instead.
pub fn write_transaction<T>(
    conn: &mut SqliteConnection,
    work: impl FnOnce(&mut SqliteConnection) -> StorageResult<T>,
) -> StorageResult<T> {
    let depth = AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth()?;
    if depth.is_some() { conn.transaction(work) } else { conn.immediate_transaction(work) }
}

/// [`write_transaction`] for the store's own writer, which is never inside another
/// transaction: `BEGIN IMMEDIATE`, `COMMIT` and `ROLLBACK` run as statements the
/// connection prepares once and keeps. Diesel's own transaction prepares and frees
/// each of them every time, which was 5.6k of a single-mutation commit's 79k
/// instructions (BENCHMARKS.md). Diesel's transaction manager is told of the
/// transaction, so anything nested in `work` still becomes a savepoint.
///
/// `BEGIN IMMEDIATE` is tried again while another connection holds the write lock,
/// until `wait` has passed (the connection's own busy handler waits within each try;
/// see [`ConnectionSetup::store_writer`]): nothing has been done before it succeeds.
///
/// A failed `COMMIT` or `work` is rolled back; if even the rollback fails with the
/// transaction still open, the transaction manager is marked broken (as Diesel's own
/// does), and the owner must replace the connection.
pub fn kept_write_transaction<T>(
    conn: &mut SqliteConnection,
    wait: std::time::Duration,
    work: impl FnOnce(&mut SqliteConnection) -> StorageResult<T>,
) -> StorageResult<T> {
    if AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth()?.is_some() {
        return write_transaction(conn, work);
    }
    begin_immediate(conn, wait)?;
    change_depth(conn, TransactionDepthChange::IncreaseDepth).map_err(super::error::classify)?;
    let result = work(conn)
        .and_then(|value| KeptStatement::<Commit>::new().execute(conn).map(|_| value).map_err(super::error::classify));
    if result.is_err()
        && let Err(e) = KeptStatement::<Rollback>::new().execute(conn)
        // SQLite ends the transaction itself on some errors (a full disk, an I/O
        // error); then there is nothing left to roll back.
        && !e.to_string().contains("no transaction is active")
    {
        tracing::warn!(error = %e, "rollback after a failed write failed; the connection must be replaced");
        AnsiTransactionManager::transaction_manager_status_mut(conn).set_in_error();
        return result;
    }
    // On a failure Diesel may already have seen SQLite end the transaction and reset
    // its count: that is no error of ours, and must not hide the write's own.
    match change_depth(conn, TransactionDepthChange::DecreaseDepth) {
        Ok(()) => {}
        Err(diesel::result::Error::NotInTransaction) if result.is_err() => {}
        Err(e) => return Err(super::error::classify(e)),
    }
    result
}

/// `BEGIN IMMEDIATE`, begun again while it fails with `Busy` until `wait` has passed
/// since the first try ended (which waited under the connection's busy handler).
fn begin_immediate(conn: &mut SqliteConnection, wait: std::time::Duration) -> StorageResult<()> {
    let mut deadline = None;
    loop {
        let Err(e) = KeptStatement::<BeginImmediate>::new().execute(conn) else { return Ok(()) };
        let e = super::error::classify(e);
        let deadline = *deadline.get_or_insert_with(|| std::time::Instant::now() + wait);
        if !matches!(e, StorageError::Busy) || std::time::Instant::now() >= deadline {
            return Err(e);
        }
    }
}

/// Whether Diesel's transaction manager gave up on the connection (a rollback failed
/// with the transaction left open): nothing more can run on it.
pub fn transaction_manager_broken(conn: &mut SqliteConnection) -> bool {
    AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth().is_err()
}

/// Tells Diesel's transaction manager of a transaction begun or ended by hand.
fn change_depth(conn: &mut SqliteConnection, change: TransactionDepthChange) -> QueryResult<()> {
    match AnsiTransactionManager::transaction_manager_status_mut(conn) {
        TransactionManagerStatus::Valid(status) => status.change_transaction_depth(change),
        TransactionManagerStatus::InError => Err(diesel::result::Error::BrokenTransactionManager),
    }
}

/// The SQL of a statement kept by [`KeptStatement`].
trait FixedSql {
    const SQL: &'static str;
}

/// A statement without parameters whose SQL never changes, so Diesel prepares it once
/// per connection and keeps it, identified by its type (`batch_execute` and
/// `sql_query` prepare anew each time).
struct KeptStatement<S>(std::marker::PhantomData<S>);

impl<S> KeptStatement<S> {
    fn new() -> Self {
        KeptStatement(std::marker::PhantomData)
    }
}

impl<S: FixedSql> QueryFragment<Sqlite> for KeptStatement<S> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql(S::SQL);
        Ok(())
    }
}

impl<S: 'static> QueryId for KeptStatement<S> {
    type QueryId = S;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<S> RunQueryDsl<SqliteConnection> for KeptStatement<S> {}

struct BeginImmediate;
impl FixedSql for BeginImmediate {
    const SQL: &'static str = "BEGIN IMMEDIATE";
}

struct Commit;
impl FixedSql for Commit {
    const SQL: &'static str = "COMMIT";
}

struct Rollback;
impl FixedSql for Rollback {
    const SQL: &'static str = "ROLLBACK";
}

/// Runs `work`, which writes a new program from a validated graph and nothing else, in
/// a write transaction with foreign-key enforcement off; back on afterwards, whatever
/// the outcome (a connection that had it off keeps it off).
///
/// The checks cannot fail for such rows (they refer only to each other, and the graph
/// guarantees every reference), yet they cost about a third of a bulk save: one index
/// look-up per reference, two per edge. SQLite only lets the setting change outside a
/// transaction, so inside a caller's transaction this is an ordinary savepoint with the
/// caller's setting. An error restoring the setting is returned: the caller must not
/// keep using a connection left without enforcement.
pub fn new_program_transaction<T>(
    conn: &mut SqliteConnection,
    wait: std::time::Duration,
    work: impl FnOnce(&mut SqliteConnection) -> StorageResult<T>,
) -> StorageResult<T> {
    let depth = AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth()?;
    if depth.is_some() || !foreign_keys_enforced(conn) {
        return write_transaction(conn, work);
    }
    conn.batch_execute("PRAGMA foreign_keys = OFF; PRAGMA ignore_check_constraints = ON")
        .map_err(super::error::classify)?;
    let result = kept_write_transaction(conn, wait, work);
    let restored = conn
        .batch_execute("PRAGMA foreign_keys = ON; PRAGMA ignore_check_constraints = OFF")
        .map_err(super::error::classify);
    let value = result?;
    restored?;
    Ok(value)
}

/// `PRAGMA data_version` as a statement Diesel prepares once and keeps: its SQL never
/// changes, so its type identifies it (`sql_query` would be prepared anew each time).
struct DataVersion;

impl QueryFragment<Sqlite> for DataVersion {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("PRAGMA data_version");
        Ok(())
    }
}

impl QueryId for DataVersion {
    type QueryId = DataVersion;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for DataVersion {
    type SqlType = BigInt;
}

impl RunQueryDsl<SqliteConnection> for DataVersion {}

/// The connection's data version: it changes when another connection commits to the
/// database, and never for this connection's own commits. Inside a transaction it
/// tells whether anyone else wrote since this connection last looked.
pub fn data_version(conn: &mut SqliteConnection) -> StorageResult<i64> {
    DataVersion.get_result(conn).map_err(super::error::classify)
}

#[derive(QueryableByName)]
struct ForeignKeys {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    foreign_keys: i32,
}

/// Whether the connection enforces foreign keys (false also when it cannot tell).
pub fn foreign_keys_enforced(conn: &mut SqliteConnection) -> bool {
    let rows: QueryResult<Vec<ForeignKeys>> = diesel::sql_query("PRAGMA foreign_keys").load(conn);
    rows.is_ok_and(|rows| rows.first().is_some_and(|r| r.foreign_keys == 1))
}

#[derive(diesel::QueryableByName)]
struct BusyTimeout {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    timeout: i64,
}

/// The connection's busy timeout in milliseconds (0, never waiting, when it cannot tell).
pub fn busy_timeout_ms(conn: &mut SqliteConnection) -> i64 {
    let rows: QueryResult<Vec<BusyTimeout>> = diesel::sql_query("PRAGMA busy_timeout").load(conn);
    rows.ok().and_then(|rows| rows.first().map(|r| r.timeout)).unwrap_or(0)
}

/// Runs `step` again while it fails with `Busy`, until `wait` has passed. For the steps
/// of a new file's first opens where SQLite does not call the busy handler (a
/// journal-mode change, WAL recovery) and fails at once while another process holds
/// the lock: such a step wrote nothing, so it is tried again, as a statement would wait.
pub fn retried_while_busy<T>(
    wait: std::time::Duration,
    mut step: impl FnMut() -> StorageResult<T>,
) -> StorageResult<T> {
    let started = std::time::Instant::now();
    loop {
        match step() {
            Err(StorageError::Busy) if started.elapsed() < wait => {
                tracing::debug!("database busy on a step that does not wait; trying again");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            done => return done,
        }
    }
}

/// Page cache of a reader while it streams a large load, in KiB.
const STREAMING_CACHE_KIB: u32 = 2 * 1024;

/// Runs `work` (a large load) with the file read by `pread` into a small page cache
/// instead of through the memory map, then puts the reader's settings back.
///
/// A load reads every page of two tables once, in key order, so neither a map nor a
/// cache saves it anything; but every mapped page it touches, and the index pages the
/// kernel maps beside it, count in the process's resident set until the map is
/// dropped: about 155 MiB of a 1M-node load's 340 MiB peak. Read this way the file
/// stays in the kernel's page cache only, as every other file a process reads does.
pub fn streaming<T>(
    conn: &mut SqliteConnection,
    setup: &ConnectionSetup,
    work: impl FnOnce(&mut SqliteConnection) -> StorageResult<T>,
) -> StorageResult<T> {
    // Pragmas are not expressible in Diesel's query builder.
    conn.batch_execute(&format!("PRAGMA mmap_size = 0; PRAGMA cache_size = -{STREAMING_CACHE_KIB};"))
        .map_err(super::error::classify)?;
    let result = work(conn);
    let restore = format!("PRAGMA mmap_size = {}; PRAGMA cache_size = -{};", setup.mmap_size, setup.cache_size_kib);
    if let Err(e) = conn.batch_execute(&restore) {
        // The connection still reads correctly, only through the smaller cache.
        tracing::warn!(error = %e, "could not restore a reader's mmap and cache settings after a load");
    }
    result
}

/// Runs `work` in a read transaction, so everything it reads comes from one snapshot;
/// inside a caller's transaction it uses that one.
pub fn read_transaction<T>(
    conn: &mut SqliteConnection,
    work: impl FnOnce(&mut SqliteConnection) -> StorageResult<T>,
) -> StorageResult<T> {
    let depth = AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth()?;
    if depth.is_some() { work(conn) } else { conn.transaction(work) }
}

#[cfg(test)]
mod tests {
    use super::{kept_write_transaction, transaction_manager_broken};
    use crate::store::{StorageError, StorageResult};
    use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
    use diesel::sql_types::BigInt;
    use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
    use std::sync::{Arc, Mutex};

    /// Counts the statements the connection prepares to keep.
    struct Prepared(Arc<Mutex<Vec<String>>>);

    impl Instrumentation for Prepared {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event
                && let Ok(mut seen) = self.0.lock()
            {
                seen.push(sql.to_string());
            }
        }
    }

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    fn rows(conn: &mut SqliteConnection) -> i64 {
        let counted: Vec<Count> = diesel::sql_query("SELECT count(*) AS n FROM t").load(conn).expect("count");
        counted[0].n
    }

    fn insert(conn: &mut SqliteConnection) -> StorageResult<()> {
        conn.batch_execute("INSERT INTO t VALUES (1)").map_err(super::super::error::classify)
    }

    fn database() -> (tempfile::TempDir, SqliteConnection, Arc<Mutex<Vec<String>>>) {
        let dir = tempfile::tempdir().expect("dir");
        let mut conn = SqliteConnection::establish(&dir.path().join("t.db").to_string_lossy()).expect("open");
        conn.batch_execute("CREATE TABLE t (x INTEGER)").expect("table");
        let seen = Arc::new(Mutex::new(Vec::new()));
        conn.set_instrumentation(Prepared(seen.clone()));
        (dir, conn, seen)
    }

    #[test]
    fn kept_transactions_commit_roll_back_and_prepare_their_statements_once() {
        let (_dir, mut conn, seen) = database();
        for _ in 0..3 {
            kept_write_transaction(&mut conn, std::time::Duration::ZERO, insert).expect("commit");
        }
        let failed: StorageResult<()> = kept_write_transaction(&mut conn, std::time::Duration::ZERO, |c| {
            insert(c)?;
            Err(StorageError::ReadOnly)
        });
        assert!(matches!(failed, Err(StorageError::ReadOnly)));
        assert_eq!(rows(&mut conn), 3, "the failed transaction's row was rolled back");
        let seen = seen.lock().expect("log").clone();
        for sql in ["BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"] {
            assert_eq!(seen.iter().filter(|s| s.as_str() == sql).count(), 1, "{sql} prepared once: {seen:?}");
        }
    }

    #[test]
    fn a_transaction_nested_in_a_kept_one_is_a_savepoint() {
        let (_dir, mut conn, _) = database();
        kept_write_transaction(&mut conn, std::time::Duration::ZERO, |c| {
            insert(c)?;
            let inner: StorageResult<()> = c.transaction(|c| {
                insert(c)?;
                Err(StorageError::ReadOnly)
            });
            assert!(inner.is_err());
            Ok(())
        })
        .expect("outer commits");
        assert_eq!(rows(&mut conn), 1, "only the savepoint's row went");
        assert!(!transaction_manager_broken(&mut conn));
    }

    #[test]
    fn a_transaction_that_sqlite_ended_early_leaves_the_connection_usable() {
        let (_dir, mut conn, _) = database();
        // The work ends the transaction itself, as SQLite does on some errors: the
        // failed COMMIT is reported, and the rollback finding nothing is no harm.
        let ended: StorageResult<()> = kept_write_transaction(&mut conn, std::time::Duration::ZERO, |c| {
            insert(c)?;
            c.batch_execute("ROLLBACK").map_err(super::super::error::classify)
        });
        assert!(ended.is_err(), "COMMIT without a transaction is an error");
        let ended_and_failed: StorageResult<()> = kept_write_transaction(&mut conn, std::time::Duration::ZERO, |c| {
            c.batch_execute("ROLLBACK").map_err(super::super::error::classify)?;
            Err(StorageError::ReadOnly)
        });
        assert!(matches!(ended_and_failed, Err(StorageError::ReadOnly)));
        // Diesel, seeing SQLite end the transaction, resets its own count: the write's
        // error still comes out, not Diesel's "not in a transaction".
        let reset_by_diesel: StorageResult<()> = kept_write_transaction(&mut conn, std::time::Duration::ZERO, |c| {
            c.batch_execute("ROLLBACK").map_err(super::super::error::classify)?;
            super::change_depth(c, diesel::connection::TransactionDepthChange::DecreaseDepth).expect("reset");
            Err(StorageError::Full)
        });
        assert!(matches!(reset_by_diesel, Err(StorageError::Full)), "{reset_by_diesel:?}");
        assert!(!transaction_manager_broken(&mut conn));
        kept_write_transaction(&mut conn, std::time::Duration::ZERO, insert).expect("the connection still writes");
        assert_eq!(rows(&mut conn), 1);
    }
}
