//! `SqliteBackend`: the [`Backend`] over a pool of readers and one writer.
//!
//! Reads take a pooled read-only connection; a load reads all its tables inside one
//! read transaction, so under WAL it sees one committed state and never waits for the
//! writer. Writes go through the single writer connection, behind a mutex, each in a
//! `BEGIN IMMEDIATE` transaction. A write of many rows is followed by a passive
//! checkpoint so the WAL does not keep the bulk of it.

use super::checkpointer::Checkpointer;
use super::config::SqliteConfig;
use super::connection::{self, ConnectionSetup, ReaderPool};
use super::error::classify_pool;
use super::migrate;
use super::tables::{edges, functions, modules, nodes, programs, types};
use super::{mapper, writer};
use crate::graph::{ChangeSet, EdgeView, PartialGraph, ProgramGraph};
use crate::model::{ComputeNode, EdgeId, FunctionDef, FunctionId, LmType, ModuleDef, ModuleId, NodeId, TypeId};
use crate::store::{Backend, ProgramId, ProgramRef, ProgramSummary, SaveReport, StorageError, StorageResult, WriteTx};
use diesel::connection::SimpleConnection;
use diesel::sqlite::SqliteConnection;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Programs with at least this many edges are loaded over two connections at once.
const PARALLEL_LOAD_EDGES: i64 = 20_000;

/// The SQLite backend of [`SqliteStore`](super::SqliteStore).
pub struct SqliteBackend {
    path: PathBuf,
    url: String,
    config: SqliteConfig,
    readers: ReaderPool,
    writer: Mutex<SqliteConnection>,
    /// Checkpoints the WAL after bulk writes; started by the first one (`None` if the
    /// thread could not be started: the writer then checkpoints itself).
    checkpointer: OnceLock<Option<Checkpointer>>,
    /// Keeps the directory of a temporary database alive as long as the store.
    _temp_dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend").field("path", &self.path).field("config", &self.config).finish()
    }
}

impl SqliteBackend {
    /// Opens (creating if needed) and migrates a database file.
    pub fn open(path: &Path, config: SqliteConfig) -> StorageResult<Self> {
        Self::open_inner(path, config, None)
    }

    /// A database in a fresh temporary directory, removed when the backend is dropped.
    pub fn temporary(config: SqliteConfig) -> StorageResult<Self> {
        let dir = tempfile::Builder::new().prefix("lmlang-store-").tempdir()?;
        let path = dir.path().join("store.db");
        Self::open_inner(&path, config, Some(dir))
    }

    fn open_inner(path: &Path, config: SqliteConfig, temp: Option<tempfile::TempDir>) -> StorageResult<Self> {
        let url = connection::database_url(path, config.read_only)?;
        if config.read_only && !path.to_string_lossy().starts_with("file:") && !path.exists() {
            // Said plainly rather than as SQLite's "unable to open database file".
            return Err(StorageError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} does not exist", path.display()),
            )));
        }
        let mut writer = connection::establish(&url, ConnectionSetup::writer(&config))?;
        if config.read_only {
            migrate::require_current(&mut writer)?;
        } else {
            // Refused before anything is written, WAL mode included: a newer file
            // stays as it was.
            migrate::migrate(&mut writer)?;
            connection::enable_wal(&mut writer, &config)?;
        }
        let readers = connection::reader_pool(&url, &config)?;
        Ok(SqliteBackend {
            path: path.to_path_buf(),
            url,
            config,
            readers,
            writer: Mutex::new(writer),
            checkpointer: OnceLock::new(),
            _temp_dir: temp,
        })
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
    /// such as checkpoints).
    pub fn with_writer<T>(&self, work: impl FnOnce(&mut SqliteConnection) -> StorageResult<T>) -> StorageResult<T> {
        let mut conn = self.writer()?;
        work(&mut conn)
    }

    fn writer(&self) -> StorageResult<MutexGuard<'_, SqliteConnection>> {
        match self.writer.lock() {
            Ok(guard) => Ok(guard),
            Err(poisoned) => {
                // A panic inside a write left the connection in an unknown transaction
                // state; SQLite rolled nothing back for us, so start afresh.
                let mut guard = poisoned.into_inner();
                *guard = self.fresh_writer()?;
                self.writer.clear_poison();
                Ok(guard)
            }
        }
    }

    /// A newly opened writer connection, set up as the first one was.
    fn fresh_writer(&self) -> StorageResult<SqliteConnection> {
        let mut fresh = connection::establish(&self.url, ConnectionSetup::writer(&self.config))?;
        if !self.config.read_only {
            // The WAL limits are per connection.
            connection::enable_wal(&mut fresh, &self.config)?;
        }
        Ok(fresh)
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
    ) -> StorageResult<Option<(ProgramGraph, u64)>> {
        let (batches, arriving) = std::sync::mpsc::channel();
        let both = std::thread::scope(|scope| {
            let edges = std::thread::Builder::new()
                .name("lmlang-load-edges".into())
                .spawn_scoped(scope, move || {
                    // A send fails only once the other side has given up on the load.
                    let sink = |batch| drop(batches.send(batch));
                    connection::read_transaction(second, |c| mapper::read_edges(c, program, sink))
                })
                .ok()?;
            let main = connection::read_transaction(first, |c| mapper::read_without_edges(c, program)).map(
                |(doc, revision)| {
                    let mut partial = PartialGraph::new(doc);
                    // Until the reader is done and drops its end of the channel.
                    for batch in &arriving {
                        partial.add_edges(batch);
                    }
                    (partial, revision)
                },
            );
            drop(arriving);
            Some((main, edges.join()))
        });
        let Some((main, edges)) = both else { return Ok(None) };
        let (partial, revision) = main?;
        let edge_revision = edges.map_err(|_| StorageError::Database("the edge reader thread panicked".into()))??;
        if edge_revision != revision {
            return Ok(None);
        }
        Ok(Some((mapper::finish(program, partial)?, revision)))
    }

    fn require_program(conn: &mut SqliteConnection, program: ProgramId) -> StorageResult<()> {
        if programs::exists(conn, program.0)? {
            Ok(())
        } else {
            Err(StorageError::ProgramNotFound(ProgramRef::Id(program)))
        }
    }

    /// A single-row read that needs "program not found" told apart from "row not
    /// found": the existence check runs only when the row is missing.
    fn read_one<R, T>(
        &self,
        program: ProgramId,
        find: impl FnOnce(&mut SqliteConnection) -> diesel::QueryResult<Option<R>>,
        decode: impl FnOnce(R) -> StorageResult<T>,
    ) -> StorageResult<Option<T>> {
        self.with_reader(|conn| match find(conn)? {
            Some(row) => decode(row).map(Some),
            None => Self::require_program(conn, program).map(|_| None),
        })
    }

    /// A list read; an empty answer checks that the program exists.
    fn read_list<R, T>(
        &self,
        program: ProgramId,
        find: impl FnOnce(&mut SqliteConnection) -> diesel::QueryResult<Vec<R>>,
        decode: impl FnMut(R) -> StorageResult<T>,
    ) -> StorageResult<Vec<T>> {
        self.with_reader(|conn| {
            let rows = find(conn)?;
            if rows.is_empty() {
                Self::require_program(conn, program)?;
            }
            rows.into_iter().map(decode).collect()
        })
    }
}

impl Backend for SqliteBackend {
    fn list_programs(&self) -> StorageResult<Vec<ProgramSummary>> {
        self.with_reader(|conn| programs::list(conn)?.iter().map(programs::ProgramRow::summary).collect())
    }

    fn program_by_name(&self, name: &str) -> StorageResult<Option<ProgramId>> {
        self.with_reader(|conn| Ok(programs::id_by_name(conn, name)?.map(ProgramId)))
    }

    fn load(&self, program: ProgramId) -> StorageResult<(ProgramGraph, u64)> {
        let verify = self.config.verify_semantic_on_load;
        let mut conn = self.readers.get().map_err(classify_pool)?;
        let big = self.config.split_loads
            && programs::find(&mut conn, program.0)?
                .is_some_and(|row| row.edge_count.get().is_ok_and(|n| n >= PARALLEL_LOAD_EDGES));
        // A second connection only if one is free: waiting for it while holding the
        // first could deadlock a busy pool. (Verification reads more tables, which a
        // split load could see at another revision, so it keeps to one transaction.)
        if big
            && !verify
            && let Some(mut second) = self.readers.try_get()
            && let Some(loaded) = self.load_split(&mut conn, &mut second, program)?
        {
            return Ok(loaded);
        }
        connection::read_transaction(&mut conn, |c| mapper::read_graph(c, program, verify))
    }

    fn node(&self, program: ProgramId, node: NodeId) -> StorageResult<Option<ComputeNode>> {
        self.read_one(
            program,
            |c| nodes::find(c, program.0, node.0.into()),
            |row| row.decode().map(|n| ComputeNode { op: n.op, owner: n.owner }),
        )
    }

    fn edge(&self, program: ProgramId, edge: EdgeId) -> StorageResult<Option<EdgeView>> {
        self.read_one(program, |c| edges::find(c, program.0, edge.0.into()), |row| row.decode())
    }

    fn function(&self, program: ProgramId, function: FunctionId) -> StorageResult<Option<FunctionDef>> {
        self.read_one(program, |c| functions::find(c, program.0, function.0.into()), functions::FunctionRow::decode)
    }

    fn module(&self, program: ProgramId, module: ModuleId) -> StorageResult<Option<ModuleDef>> {
        self.read_one(program, |c| modules::find(c, program.0, module.0.into()), modules::ModuleRow::decode)
    }

    fn modules(&self, program: ProgramId) -> StorageResult<Vec<ModuleDef>> {
        self.read_list(program, |c| modules::load(c, program.0), modules::ModuleRow::decode)
    }

    fn user_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Option<LmType>> {
        self.read_one(program, |c| types::find(c, program.0, ty.0.into()), |row| row.decode().map(|t| t.ty))
    }

    fn nodes_by_owner(&self, program: ProgramId, function: FunctionId) -> StorageResult<Vec<(NodeId, ComputeNode)>> {
        self.read_list(
            program,
            |c| nodes::load_by_owner(c, program.0, function.0.into()),
            |row| row.decode().map(|n| (n.id, ComputeNode { op: n.op, owner: n.owner })),
        )
    }

    fn edges_from(&self, program: ProgramId, node: NodeId) -> StorageResult<Vec<EdgeView>> {
        self.read_list(program, |c| edges::load_from(c, program.0, node.0.into()), |row| row.decode())
    }

    fn edges_to(&self, program: ProgramId, node: NodeId) -> StorageResult<Vec<EdgeView>> {
        self.read_list(program, |c| edges::load_to(c, program.0, node.0.into()), |row| row.decode())
    }

    fn functions_in_module(&self, program: ProgramId, module: ModuleId) -> StorageResult<Vec<FunctionDef>> {
        self.read_list(
            program,
            |c| functions::load_in_module(c, program.0, module.0.into()),
            functions::FunctionRow::decode,
        )
    }

    fn nodes_by_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Vec<NodeId>> {
        self.read_list(
            program,
            |c| nodes::load_by_type(c, program.0, ty.0.into()),
            |id| {
                super::codec::cell_id(id).map(NodeId).map_err(|e| {
                    super::codec::corrupt(
                        "compute_nodes",
                        format!("program {program} node {}", super::codec::show(id)),
                        e,
                    )
                })
            },
        )
    }

    fn edges_by_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Vec<EdgeView>> {
        self.read_list(program, |c| edges::load_by_type(c, program.0, ty.0.into()), |row| row.decode())
    }

    fn write<T>(&self, work: &mut dyn FnMut(&mut dyn WriteTx) -> StorageResult<T>) -> StorageResult<T> {
        self.write_with(false, work)
    }

    fn write_new_program<T>(&self, work: &mut dyn FnMut(&mut dyn WriteTx) -> StorageResult<T>) -> StorageResult<T> {
        self.write_with(true, work)
    }
}

impl SqliteBackend {
    /// A write on the writer connection. A `new_program` write runs without
    /// foreign-key enforcement (see [`connection::new_program_transaction`]) and
    /// without SQLite's automatic checkpoint in its commit: the checkpoint thread
    /// folds its pages into the file afterwards.
    fn write_with<T>(
        &self,
        new_program: bool,
        work: &mut dyn FnMut(&mut dyn WriteTx) -> StorageResult<T>,
    ) -> StorageResult<T> {
        if self.config.read_only {
            return Err(StorageError::ReadOnly);
        }
        let mut conn = self.writer()?;
        let mut rows = 0u64;
        let mut run = |c: &mut SqliteConnection| {
            let mut tx = SqliteTx::new(c);
            let value = work(&mut tx)?;
            rows = tx.rows;
            Ok(value)
        };
        let value = if new_program {
            conn.batch_execute("PRAGMA wal_autocheckpoint = 0")?;
            let result = connection::new_program_transaction(&mut conn, &mut run);
            let restored =
                conn.batch_execute(&format!("PRAGMA wal_autocheckpoint = {}", self.config.wal_autocheckpoint));
            if restored.is_err() || !connection::foreign_keys_enforced(&mut conn) {
                // The connection's settings could not be put back: never write
                // through it again.
                *conn = self.fresh_writer()?;
            }
            result?
        } else {
            connection::write_transaction(&mut conn, run)?
        };
        if rows >= self.config.checkpoint_after_rows {
            let background = if new_program { self.checkpointer() } else { None };
            if let Some(checkpointer) = background {
                checkpointer.request();
            } else {
                // The commit is durable already; a checkpoint that cannot run now (a
                // reader holds old pages) is retried by the next automatic one.
                let _ = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)");
            }
        }
        Ok(value)
    }

    fn checkpointer(&self) -> Option<&Checkpointer> {
        self.checkpointer
            .get_or_init(|| Checkpointer::start(self.url.clone(), ConnectionSetup::writer(&self.config)).ok())
            .as_ref()
    }
}

/// A write transaction on a SQLite connection: the [`WriteTx`] the shared engine drives,
/// also used by the functions that run on a caller's own connection.
pub struct SqliteTx<'c> {
    conn: &'c mut SqliteConnection,
    /// Program rows as this transaction last read or wrote them.
    headers: HashMap<ProgramId, programs::Header>,
    /// Rows written or deleted so far, to decide on a checkpoint.
    rows: u64,
}

impl<'c> SqliteTx<'c> {
    /// Wraps a connection that is inside a write transaction.
    pub fn new(conn: &'c mut SqliteConnection) -> Self {
        SqliteTx { conn, headers: HashMap::new(), rows: 0 }
    }

    fn header(&mut self, program: ProgramId) -> StorageResult<programs::Header> {
        if let Some(h) = self.headers.get(&program) {
            return Ok(*h);
        }
        let row =
            programs::find(self.conn, program.0)?.ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))?;
        let header = row.header()?;
        self.headers.insert(program, header);
        Ok(header)
    }

    fn count(&mut self, report: SaveReport) -> SaveReport {
        self.rows += report.rows_written + report.rows_deleted;
        report
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl WriteTx for SqliteTx<'_> {
    fn insert_program(&mut self, name: &str, now: i64) -> StorageResult<ProgramId> {
        if programs::id_by_name(self.conn, name)?.is_some() {
            return Err(StorageError::DuplicateProgramName(name.to_string()));
        }
        let row = programs::NewProgram {
            name,
            format_version: programs::FORMAT_VERSION,
            created_at: now,
            // Empty until `finish` records the program written into it.
            state: programs::ProgramState { updated_at: now, ..Default::default() },
        };
        let id = ProgramId(programs::insert(self.conn, &row)?);
        self.headers.insert(id, programs::Header { revision: 0, next_ids: Default::default() });
        Ok(id)
    }

    fn revision(&mut self, program: ProgramId) -> StorageResult<u64> {
        Ok(self.header(program)?.revision)
    }

    fn load(&mut self, program: ProgramId) -> StorageResult<ProgramGraph> {
        mapper::read_graph(self.conn, program, false).map(|(g, _)| g)
    }

    fn write_changes(
        &mut self,
        program: ProgramId,
        graph: &ProgramGraph,
        changes: &ChangeSet,
    ) -> StorageResult<SaveReport> {
        let stored = self.header(program)?.next_ids;
        let report = writer::write_changes(self.conn, program, graph, changes, stored)?;
        Ok(self.count(report))
    }

    fn write_all(&mut self, program: ProgramId, graph: &ProgramGraph) -> StorageResult<SaveReport> {
        self.header(program)?;
        let report = writer::write_all(self.conn, program, graph)?;
        Ok(self.count(report))
    }

    fn finish(&mut self, program: ProgramId, graph: &ProgramGraph, now: i64) -> StorageResult<u64> {
        let revision = self.header(program)?.revision + 1;
        let next = graph.next_ids();
        let state = programs::ProgramState {
            revision: to_i64(revision),
            next_node_id: next.node.into(),
            next_edge_id: next.edge.into(),
            next_function_id: next.function.into(),
            next_module_id: next.module.into(),
            next_type_id: next.type_.into(),
            module_count: to_i64(graph.modules().len() as u64),
            function_count: to_i64(graph.function_count() as u64),
            node_count: to_i64(graph.node_count() as u64),
            edge_count: to_i64(graph.edge_count() as u64),
            updated_at: now,
        };
        programs::set_state(self.conn, program.0, &state)?;
        self.headers.insert(program, programs::Header { revision, next_ids: next });
        Ok(revision)
    }

    fn delete_program(&mut self, program: ProgramId) -> StorageResult<()> {
        if programs::delete(self.conn, program.0)? == 0 {
            return Err(StorageError::ProgramNotFound(ProgramRef::Id(program)));
        }
        self.headers.remove(&program);
        Ok(())
    }

    fn rename_program(&mut self, program: ProgramId, name: &str) -> StorageResult<()> {
        if programs::id_by_name(self.conn, name)?.is_some_and(|other| other != program.0) {
            return Err(StorageError::DuplicateProgramName(name.to_string()));
        }
        if programs::rename(self.conn, program.0, name)? == 0 {
            return Err(StorageError::ProgramNotFound(ProgramRef::Id(program)));
        }
        self.headers.remove(&program);
        Ok(())
    }
}
