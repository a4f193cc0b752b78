//! `OwnedConnections`: the store's own file, reader pool and single writer.
//!
//! Reads take a pooled read-only connection; a load reads all its tables inside one
//! read transaction, so under WAL it sees one committed state and never waits for the
//! writer. Writes go through the single writer connection, behind a mutex, each in a
//! `BEGIN IMMEDIATE` transaction. A write of many rows is followed by a passive
//! checkpoint so the WAL does not keep the bulk of it.
//!
//! The writer remembers the program rows its own commits left ([`KnownRows`]): while
//! no other connection has committed since (SQLite's `data_version` is unchanged), a
//! write starts from them instead of reading each program's row again, which was a
//! sixth of a single-mutation commit.

use super::checkpointer::Checkpointer;
use super::config::SqliteConfig;
use super::connection::{self, ConnectionSetup, ReaderPool};
use super::error::classify_pool;
use super::source::{Connections, Headers, WriteWork, Written};
use super::tables::programs;
use super::{mapper, migrate};
use crate::graph::ProgramGraph;
use crate::pool_threads::PoolThread;
use crate::store::trace::Timed;
use crate::store::{DatabaseErrorKind, ProgramId, StorageError, StorageResult};
use diesel::connection::SimpleConnection;
use diesel::sqlite::SqliteConnection;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;
use tracing::field::Empty;

/// Programs with at least this many edges are loaded over two connections at once.
const PARALLEL_LOAD_EDGES: i64 = 20_000;

/// The writer connection and the program rows its own commits left.
struct Writer {
    conn: SqliteConnection,
    known: KnownRows,
}

/// Program rows as the writer's last commit left them, with the writer's data version
/// then. The version changes only when another connection commits, so while it is
/// unchanged these rows are still what is stored.
#[derive(Default)]
struct KnownRows {
    data_version: Option<i64>,
    headers: Headers,
}

impl Writer {
    fn new(conn: SqliteConnection) -> Self {
        Writer { conn, known: KnownRows::default() }
    }
}

/// The connections of a store that opened its database file itself.
pub struct OwnedConnections {
    path: PathBuf,
    url: String,
    config: SqliteConfig,
    readers: ReaderPool,
    writer: Mutex<Writer>,
    /// Checkpoints the WAL after bulk writes; started by the first one (`None` if the
    /// thread could not be started: the writer then checkpoints itself).
    checkpointer: OnceLock<Option<Checkpointer>>,
    /// Opens the readers' connections. Declared after them, so that when the store is
    /// dropped it waits for the connections the thread was still opening: the file is
    /// closed when the drop returns (and only then is a temporary directory removed).
    _reader_thread: PoolThread,
    /// Keeps the directory of a temporary database alive as long as the store.
    #[cfg(feature = "temporary")]
    _temp_dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for OwnedConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedConnections").field("path", &self.path).field("config", &self.config).finish()
    }
}

impl OwnedConnections {
    /// Opens (creating if needed) and migrates a database file.
    pub fn open(path: &Path, config: SqliteConfig) -> StorageResult<Self> {
        Self::open_inner(path, config)
    }

    /// A database in a fresh temporary directory, removed when the store is dropped.
    #[cfg(feature = "temporary")]
    pub fn temporary(config: SqliteConfig) -> StorageResult<Self> {
        let dir = tempfile::Builder::new().prefix("lmlang-store-").tempdir()?;
        let path = dir.path().join("store.db");
        let mut opened = Self::open_inner(&path, config)?;
        opened._temp_dir = Some(dir);
        Ok(opened)
    }

    fn open_inner(path: &Path, config: SqliteConfig) -> StorageResult<Self> {
        let span = tracing::info_span!(
            "lmlang_open",
            path = %path.display(),
            read_only = config.read_only,
            duration_ms = Empty,
            error = Empty
        );
        Timed::new(span).run(|_| {
            // Opening sets the journal mode and may migrate: steps that can meet another
            // opening process's lock without waiting for it.
            let opened =
                super::connection::retried_while_busy(config.busy_timeout, || Self::open_untimed(path, config.clone()));
            opened
                .map_err(|e| if config.read_only { e } else { read_only_beside(path, e) })
                .map_err(|e| said_by_the_file_system(path, e, config.read_only))
        })
    }

    fn open_untimed(path: &Path, config: SqliteConfig) -> StorageResult<Self> {
        // Refuses what SQLite would not take as a file (`:memory:`) before any check.
        let url = connection::database_url(path, config.read_only)?;
        // Said plainly rather than as SQLite's "disk I/O error" and "unable to open
        // database file", with the kind a pool's connection would report.
        if path.is_dir() {
            return Err(StorageError::database(
                DatabaseErrorKind::CannotOpen,
                format!("{} is a directory, not a database file", path.display()),
            ));
        }
        // A FIFO would block the open until someone writes to it, and a device or a
        // socket is no database either (links are followed to what they name).
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            return Err(StorageError::database(
                DatabaseErrorKind::CannotOpen,
                format!("{} is not a regular file, so not a database file", path.display()),
            ));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            return Err(StorageError::database(
                DatabaseErrorKind::CannotOpen,
                format!("the directory {} does not exist", dir.display()),
            ));
        }
        if config.read_only && !path.exists() {
            // Said plainly rather than as SQLite's "unable to open database file".
            return Err(StorageError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} does not exist", path.display()),
            )));
        }
        let (url, writer) = if config.read_only {
            match Self::open_current(&url, &config) {
                // A WAL file whose directory cannot be written (a read-only mount, an
                // immutable directory, a directory of another user's) cannot get the
                // shared-memory file a reader needs; no writer can be at work there
                // either, so SQLite may read it as immutable. SQLite reports it as
                // "cannot open", or as "read-only" when it could not create the
                // shared-memory file: taken as such only while that file is absent,
                // for then no process has the database open (a "read-only" that means
                // migrations are pending answers the same again below).
                Err(
                    e @ (StorageError::Database { kind: DatabaseErrorKind::CannotOpen, .. } | StorageError::ReadOnly),
                ) if !matches!(e, StorageError::ReadOnly) || !shared_memory_file(path).exists() => {
                    // Immutable means SQLite ignores the rollback journal and the WAL
                    // beside the file: with writes waiting in either (a transaction
                    // cut off midway, commits not yet copied back) it would read torn
                    // or old data as if it were the database.
                    if let Some(pending) = writes_beside(path) {
                        return Err(StorageError::database(
                            DatabaseErrorKind::CannotOpen,
                            format!(
                                "{} holds writes that are not in {} yet (a transaction cut off midway, or \
                                 commits not yet copied back), and only an open with write access to its \
                                 directory can apply them; reading without them would show a state the \
                                 database never had",
                                pending.display(),
                                path.display()
                            ),
                        ));
                    }
                    tracing::warn!(
                        path = %path.display(),
                        error = %e,
                        "cannot open the WAL index beside a read-only database; reading it as immutable"
                    );
                    let url = format!("{url}&immutable=1");
                    let writer = Self::open_current(&url, &config)?;
                    (url, writer)
                }
                opened => (url, opened?),
            }
        } else {
            (url.clone(), connection::establish(&url, ConnectionSetup::store_writer(&config))?)
        };
        let mut writer = writer;
        if !config.read_only {
            // Refused before anything is written, WAL mode included: a newer file
            // stays as it was.
            migrate::migrate(&mut writer)?;
            connection::enable_wal(&mut writer, &config)?;
        }
        // A reader opens at most within the busy timeout, and a drop waits no longer.
        let reader_thread = PoolThread::new("lmlang-readers", config.busy_timeout.max(Duration::from_secs(1)));
        let readers = connection::reader_pool(&url, &config, &reader_thread)?;
        Ok(OwnedConnections {
            path: path.to_path_buf(),
            url,
            config,
            readers,
            writer: Mutex::new(Writer::new(writer)),
            checkpointer: OnceLock::new(),
            _reader_thread: reader_thread,
            #[cfg(feature = "temporary")]
            _temp_dir: None,
        })
    }

    /// A read-only connection to a file whose schema is this build's.
    fn open_current(url: &str, config: &SqliteConfig) -> StorageResult<SqliteConnection> {
        let mut conn = connection::establish(url, ConnectionSetup::reader(config))?;
        migrate::require_current(&mut conn)?;
        Ok(conn)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &SqliteConfig {
        &self.config
    }

    /// Runs `work` on a pooled read-only connection.
    pub fn with_reader<T>(&self, work: impl FnOnce(&mut SqliteConnection) -> StorageResult<T>) -> StorageResult<T> {
        let mut conn = self.readers.get().map_err(classify_pool)?;
        work(&mut conn)
    }

    /// Runs `work` on the writer connection, outside any transaction (for maintenance
    /// such as checkpoints and `VACUUM`). A `ReadOnly` caused by a file beside the
    /// database is explained as for writes.
    pub fn with_writer<T>(&self, work: impl FnOnce(&mut SqliteConnection) -> StorageResult<T>) -> StorageResult<T> {
        let mut writer = self.writer()?;
        // Whatever `work` does, the next write reads the program rows again.
        writer.known = KnownRows::default();
        work(&mut writer.conn).map_err(|e| read_only_beside(&self.path, e))
    }

    fn writer(&self) -> StorageResult<MutexGuard<'_, Writer>> {
        match self.writer.lock() {
            Ok(guard) => Ok(guard),
            Err(poisoned) => {
                // A panic inside a write left the connection in an unknown transaction
                // state; SQLite rolled nothing back for us, so start afresh.
                tracing::warn!(path = %self.path.display(), "a write panicked; replacing the writer connection");
                let mut guard = poisoned.into_inner();
                *guard = Writer::new(self.fresh_writer()?);
                self.writer.clear_poison();
                Ok(guard)
            }
        }
    }

    /// A newly opened writer connection, set up as the first one was.
    fn fresh_writer(&self) -> StorageResult<SqliteConnection> {
        let mut fresh = connection::establish(&self.url, ConnectionSetup::store_writer(&self.config))?;
        if !self.config.read_only {
            // The WAL limits are per connection.
            connection::enable_wal(&mut fresh, &self.config)?;
        }
        Ok(fresh)
    }

    fn checkpointer(&self) -> Option<&Checkpointer> {
        self.checkpointer
            .get_or_init(|| match Checkpointer::start(self.url.clone(), ConnectionSetup::writer(&self.config)) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "no checkpoint thread; the writer checkpoints bulk writes itself");
                    None
                }
            })
            .as_ref()
    }

    /// Loads a big program over two connections at once: edges (the largest table) on
    /// one, everything else on the other, each in its own read transaction. Every write
    /// to a program bumps its revision in the same transaction, so two snapshots that
    /// read the same revision hold the same rows of this program: the result is what
    /// one transaction would have read. `None` when a write came in between, or no
    /// thread could be started (the caller then loads in one transaction).
    ///
    /// The graph is built without its edges, and those parts checked, while the edges
    /// are still being read; then edges are added in batches as they arrive, so only
    /// the last batch and the checks of the edges wait for the whole read.
    fn load_split(
        &self,
        first: &mut SqliteConnection,
        second: &mut SqliteConnection,
        program: ProgramId,
        streamed: bool,
    ) -> StorageResult<Option<(ProgramGraph, u64)>> {
        let setup = ConnectionSetup::reader(&self.config);
        let streaming = streamed.then_some(&setup);
        crate::rows::read_graph_split(
            program,
            || read_on(first, streaming, |c| mapper::read_without_edges(c, program)),
            |sink| read_on(second, streaming, |c| mapper::read_edges(c, program, sink)),
        )
    }
}

/// Runs `work` in a read transaction on `conn`; with a set-up, streamed (see
/// `connection::streaming`) and then given back that set-up's map and cache.
fn read_on<T>(
    conn: &mut SqliteConnection,
    streaming: Option<&ConnectionSetup>,
    work: impl FnOnce(&mut SqliteConnection) -> StorageResult<T>,
) -> StorageResult<T> {
    match streaming {
        Some(setup) => connection::streaming(conn, setup, |c| connection::read_transaction(c, work)),
        None => connection::read_transaction(conn, work),
    }
}

impl OwnedConnections {
    /// [`Connections::write`] on a writable store.
    fn write_on_writer<T>(&self, new_program: bool, work: &mut WriteWork<'_, T>) -> StorageResult<T> {
        let mut writer = self.writer()?;
        if connection::transaction_manager_broken(&mut writer.conn) {
            // A rollback failed with the transaction left open: start afresh.
            tracing::warn!(path = %self.path.display(), "replacing a writer whose rollback failed");
            *writer = Writer::new(self.fresh_writer()?);
        }
        let Writer { conn, known } = &mut *writer;
        // Taken, so that a write that fails leaves nothing known: the next one reads.
        let mut trusted = Some(std::mem::take(known));
        let mut rows = 0u64;
        let mut left = None;
        let mut run = |c: &mut SqliteConnection| {
            let version = connection::data_version(c)?;
            let start = match trusted.take() {
                Some(t) if t.data_version == Some(version) => t.headers,
                _ => Headers::new(),
            };
            let Written { value, rows: written, headers } = work(c, start)?;
            rows = written;
            left = Some(KnownRows { data_version: Some(version), headers });
            Ok(value)
        };
        let value = if new_program {
            conn.batch_execute("PRAGMA wal_autocheckpoint = 0")?;
            let result = connection::new_program_transaction(conn, self.config.busy_timeout, &mut run);
            let restored =
                conn.batch_execute(&format!("PRAGMA wal_autocheckpoint = {}", self.config.wal_autocheckpoint));
            if restored.is_err() || !connection::foreign_keys_enforced(conn) {
                // The connection's settings could not be put back: never write
                // through it again.
                tracing::warn!(path = %self.path.display(), "writer settings not restored; replacing the connection");
                *conn = self.fresh_writer()?;
                // A new connection counts data versions of its own.
                left = None;
            }
            result?
        } else {
            let done = connection::kept_write_transaction(conn, self.config.busy_timeout, run);
            if done.is_err() && connection::transaction_manager_broken(conn) {
                // Its rollback failed with the transaction open, holding the file's
                // write lock: replaced now, not at the next write, so other writers
                // are not kept waiting while this store is idle.
                tracing::warn!(path = %self.path.display(), "replacing a writer whose rollback failed");
                *conn = self.fresh_writer()?;
                *known = KnownRows::default();
            }
            done?
        };
        // Committed: what the write left is what is stored.
        *known = left.unwrap_or_default();
        if rows >= self.config.checkpoint_after_rows {
            let background = if new_program { self.checkpointer() } else { None };
            // Unless the thread takes it (it folds the WAL back), the writer does.
            let handed_over = background.is_some_and(Checkpointer::request);
            if !handed_over && let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)") {
                // The commit is durable already; a checkpoint that cannot run now (a
                // reader holds old pages) is retried by the next automatic one.
                tracing::warn!(error = %e, "passive checkpoint after a bulk write failed");
            }
        }
        Ok(value)
    }
}

impl Connections for OwnedConnections {
    fn read<T>(&self, work: &mut dyn FnMut(&mut SqliteConnection) -> StorageResult<T>) -> StorageResult<T> {
        self.with_reader(work)
    }

    /// A write on the writer connection. A `new_program` write runs without
    /// foreign-key enforcement (see `connection::new_program_transaction`) and
    /// without SQLite's automatic checkpoint in its commit: the checkpoint thread
    /// folds its pages into the file afterwards.
    fn write<T>(&self, new_program: bool, work: &mut WriteWork<'_, T>) -> StorageResult<T> {
        if self.config.read_only {
            return Err(StorageError::ReadOnly);
        }
        self.write_on_writer(new_program, work).map_err(|e| read_only_beside(&self.path, e))
    }

    fn load(&self, program: ProgramId, verify_semantic: bool) -> StorageResult<(ProgramGraph, u64)> {
        let mut conn = self.readers.get().map_err(classify_pool)?;
        let edges = programs::find(&mut conn, program.0)?.and_then(|row| row.edge_count.get().ok()).unwrap_or(0);
        let big = edges >= PARALLEL_LOAD_EDGES;
        let streamed = u64::try_from(edges).is_ok_and(|n| n >= self.config.stream_loads_from_edges);
        // A second connection only if one is free: waiting for it while holding the
        // first could deadlock a busy pool. (Verification reads more tables, which a
        // split load could see at another revision, so it keeps to one transaction.)
        if big
            && self.config.split_loads
            && !verify_semantic
            && let Some(mut second) = self.readers.try_get()
            && let Some(loaded) = self.load_split(&mut conn, &mut second, program, streamed)?
        {
            return Ok(loaded);
        }
        let setup = ConnectionSetup::reader(&self.config);
        read_on(&mut conn, streamed.then_some(&setup), |c| mapper::read_graph(c, program, verify_semantic))
    }

    fn read_only(&self) -> bool {
        self.config.read_only
    }

    fn verify_semantic_on_load(&self) -> bool {
        self.config.verify_semantic_on_load
    }
}

/// The WAL index SQLite keeps beside a database in WAL mode while it is open.
/// The rollback journal or WAL beside a database file when it holds something: writes
/// not yet in the file (a transaction cut off midway, commits not yet copied back),
/// which only an open with write access can apply. A read-only open is refused while
/// they are there and no other process has the file open; a tool may then open the
/// file writable, as a writing command would, to apply them first.
pub fn writes_beside(path: &Path) -> Option<PathBuf> {
    ["-journal", "-wal"].into_iter().map(|suffix| companion(path, suffix)).find(|f| {
        // A file that cannot be read is taken as holding writes: refusing is safe.
        std::fs::metadata(f).map_or_else(|e| e.kind() != std::io::ErrorKind::NotFound, |m| m.len() > 0)
    })
}

/// `ReadOnly` from a writable open, explained where the cause is beside the file: a
/// `-shm` or `-wal` this process cannot write, as a process that could only read
/// leaves them (SQLite gives them the database file's mode). "The database is
/// read-only" would send the user to a file they can write.
fn read_only_beside(path: &Path, e: StorageError) -> StorageError {
    // Opened for writing without truncating or changing anything: only the permission
    // is asked.
    let writable = |file: &Path| std::fs::OpenOptions::new().write(true).open(file).is_ok();
    if !matches!(e, StorageError::ReadOnly) || !writable(path) {
        return e;
    }
    let blocking =
        ["-shm", "-wal"].into_iter().map(|suffix| companion(path, suffix)).find(|f| f.exists() && !writable(f));
    match blocking {
        Some(file) => StorageError::database(
            DatabaseErrorKind::CannotOpen,
            format!(
                "{} is writable, but {} beside it is not (a process that could only read the database \
                 leaves it so): give it the database file's owner and permissions, or delete it while no \
                 process has the database open",
                path.display(),
                file.display()
            ),
        ),
        None => e,
    }
}

/// An open that failed with no reason SQLite could name (its "disk I/O error" when the
/// `-shm` file cannot be sized, "unable to open database file" on a read-only mount),
/// read again from the file system that holds the database: a full one is
/// [`StorageError::Full`], and, for a store that would write, a read-only mount is
/// [`StorageError::ReadOnly`], each with what to do instead of a hint of damage. A
/// file that cannot be opened says why (no permission, no file descriptor left).
fn said_by_the_file_system(path: &Path, e: StorageError, read_only: bool) -> StorageError {
    use rustix::fs::StatVfsMountFlags;
    let StorageError::Database { kind, .. } = &e else { return e };
    let unnamed = *kind == DatabaseErrorKind::Other;
    if !unnamed && *kind != DatabaseErrorKind::CannotOpen {
        return e;
    }
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let Ok(fs) = rustix::fs::statvfs(dir) else { return e };
    let mounted_read_only = fs.f_flag.contains(StatVfsMountFlags::RDONLY);
    // Only a regular file is read again: a missing file, a directory or a FIFO stays
    // what the open said on any file system (and opening a FIFO would wait for a writer).
    let regular = std::fs::metadata(path).is_ok_and(|m| m.is_file());
    if mounted_read_only && !read_only && regular {
        StorageError::ReadOnly
    } else if unnamed && !mounted_read_only && fs.f_bavail == 0 {
        StorageError::Full
    } else if !unnamed && regular {
        // SQLite's "unable to open database file" says no more; the system's own
        // reason (no permission, no file descriptor left) is what to act on.
        match std::fs::File::open(path) {
            Err(why) => StorageError::database(
                DatabaseErrorKind::CannotOpen,
                format!("unable to open {}: {why}", path.display()),
            ),
            Ok(_) => e,
        }
    } else {
        e
    }
}

fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn shared_memory_file(path: &Path) -> PathBuf {
    companion(path, "-shm")
}
