//! `SqliteBackend`: the [`Backend`] on SQLite, over any source of connections.
//!
//! Every row-level read and write is here, once: the store's own pool and writer,
//! a host's pool and a host's single connection differ only in how a connection is
//! had and a transaction begun ([`Connections`]).

use super::connection;
use super::mapper::{self, SqliteRows};
use super::owned::OwnedConnections;
use super::source::{Connections, Headers, Written};
use super::tables::{edges, functions, history, modules, nodes, programs, types};
use crate::graph::{ChangeSet, EdgeView, NextIds, ProgramGraph};
use crate::model::{ComputeNode, EdgeId, FunctionDef, FunctionId, LmType, ModuleDef, ModuleId, NodeId, TypeId};
use crate::rows::{self, Replaced};
use crate::store::{
    Backend, EntityRows, HistoryRecord, ListedProgram, ProgramId, ProgramRef, ProgramSummary, SaveReport, StorageError,
    StorageResult, Tag, WriteTx, found_summary,
};
use diesel::sqlite::SqliteConnection;

/// The SQLite backend of [`SqliteStore`](super::SqliteStore) (on its own connections)
/// and of the stores on a host's pool or connection.
#[derive(Debug)]
pub struct SqliteBackend<C = OwnedConnections> {
    connections: C,
}

impl<C: Connections> SqliteBackend<C> {
    /// A backend reading and writing through `connections`.
    pub fn new(connections: C) -> Self {
        SqliteBackend { connections }
    }

    /// Where the connections come from.
    pub fn connections(&self) -> &C {
        &self.connections
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
        find: impl Fn(&mut SqliteConnection) -> diesel::QueryResult<Option<R>>,
        decode: impl Fn(R) -> StorageResult<T>,
    ) -> StorageResult<Option<T>> {
        self.connections.read(&mut |conn| match find(conn)? {
            Some(row) => decode(row).map(Some),
            None => Self::require_program(conn, program).map(|_| None),
        })
    }

    /// A list read; an empty answer checks that the program exists.
    fn read_list<R, T>(
        &self,
        program: ProgramId,
        find: impl Fn(&mut SqliteConnection) -> diesel::QueryResult<Vec<R>>,
        decode: impl Fn(R) -> StorageResult<T>,
    ) -> StorageResult<Vec<T>> {
        self.connections.read(&mut |conn| {
            let rows = find(conn)?;
            if rows.is_empty() {
                Self::require_program(conn, program)?;
            }
            rows.into_iter().map(&decode).collect()
        })
    }

    fn write_with<T>(
        &self,
        new_program: bool,
        work: &mut dyn FnMut(&mut dyn WriteTx) -> StorageResult<T>,
    ) -> StorageResult<T> {
        if self.connections.read_only() {
            return Err(StorageError::ReadOnly);
        }
        self.connections.write(new_program, &mut |c, known| {
            let mut tx = SqliteTx::starting_from(c, known);
            let value = work(&mut tx)?;
            Ok(Written { value, rows: tx.rows, headers: tx.headers })
        })
    }
}

impl SqliteBackend {
    /// The database file.
    pub fn path(&self) -> &std::path::Path {
        self.connections.path()
    }

    /// Runs `work` on a pooled read-only connection.
    pub fn with_reader<T>(&self, work: impl FnOnce(&mut SqliteConnection) -> StorageResult<T>) -> StorageResult<T> {
        self.connections.with_reader(work)
    }

    /// Runs `work` on the writer connection, outside any transaction (for maintenance
    /// such as checkpoints).
    pub fn with_writer<T>(&self, work: impl FnOnce(&mut SqliteConnection) -> StorageResult<T>) -> StorageResult<T> {
        self.connections.with_writer(work)
    }
}

impl<C: Connections> Backend for SqliteBackend<C> {
    fn list_programs(&self) -> StorageResult<Vec<ProgramSummary>> {
        self.list_programs_each()?.into_iter().map(|(_, summary)| summary).collect()
    }

    fn list_programs_each(&self) -> StorageResult<Vec<ListedProgram>> {
        self.connections.read(&mut |conn| {
            Ok(programs::list(conn)?.into_iter().map(|(row, name)| (ProgramId(row.id), row.summary(name))).collect())
        })
    }

    fn program_summary(&self, program: ProgramId) -> StorageResult<ProgramSummary> {
        let listed = self.connections.read(&mut |conn| Ok(programs::list_one(conn, program.0)?))?;
        found_summary(program, listed.map(|(row, name)| row.summary(name)))
    }

    fn program_by_name(&self, name: &str) -> StorageResult<Option<ProgramId>> {
        self.connections.read(&mut |conn| Ok(programs::id_by_name(conn, name)?.map(ProgramId)))
    }

    fn load(&self, program: ProgramId) -> StorageResult<(ProgramGraph, u64)> {
        self.connections.load(program, self.connections.verify_semantic_on_load())
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
            |c| nodes::load_cells_by_owner(c, program.0, function.0.into()),
            |cells| cells.decode(program).map(|n| (n.id, ComputeNode { op: n.op, owner: n.owner })),
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
                        "lmlang_compute_nodes",
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

    fn history(
        &self,
        program: ProgramId,
        below: Option<u64>,
        limit: u64,
        with_deltas: bool,
    ) -> StorageResult<Vec<HistoryRecord>> {
        self.connections.read(&mut |conn| {
            let records = history::records(conn, program, below, limit, with_deltas)?;
            if records.is_empty() {
                Self::require_program(conn, program)?;
            }
            Ok(records)
        })
    }

    fn tags(&self, program: ProgramId) -> StorageResult<Vec<Tag>> {
        self.read_list(program, |c| history::tags(c, program.0), |t| history::decode_tag(program, t))
    }

    fn read_only(&self) -> bool {
        self.connections.read_only()
    }

    fn reads_beside_writes(&self) -> bool {
        self.connections.reads_beside_writes()
    }

    fn write<T>(&self, work: &mut dyn FnMut(&mut dyn WriteTx) -> StorageResult<T>) -> StorageResult<T> {
        self.write_with(false, work)
    }

    fn write_new_program<T>(&self, work: &mut dyn FnMut(&mut dyn WriteTx) -> StorageResult<T>) -> StorageResult<T> {
        self.write_with(true, work)
    }
}

/// A write transaction on a SQLite connection: the [`WriteTx`] the shared engine drives,
/// also used by the functions that run on a caller's own connection.
pub struct SqliteTx<'c> {
    conn: &'c mut SqliteConnection,
    /// Program rows as this transaction last read or wrote them (or as the connection
    /// source knew them to be current when it began).
    headers: Headers,
    /// Rows written or deleted so far, to decide on a checkpoint.
    rows: u64,
    /// The program whose last write changed only nodes and edges (no module, type or
    /// function), so `finish` may leave those columns of its row alone.
    nodes_and_edges_only: Option<ProgramId>,
}

impl<'c> SqliteTx<'c> {
    /// Wraps a connection that is inside a write transaction, where `known` are
    /// program rows certainly as stored (they are not read again).
    pub fn starting_from(conn: &'c mut SqliteConnection, known: Headers) -> Self {
        SqliteTx { conn, headers: known, rows: 0, nodes_and_edges_only: None }
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

impl WriteTx for SqliteTx<'_> {
    fn insert_program(&mut self, name: &str, now: i64) -> StorageResult<ProgramId> {
        if programs::id_by_name(self.conn, name)?.is_some() {
            return Err(StorageError::DuplicateProgramName(name.to_string()));
        }
        let id = ProgramId(programs::insert(self.conn, name, &programs::NewProgram::empty(now))?);
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
        replaced: Replaced<'_>,
    ) -> StorageResult<SaveReport> {
        let stored = self.header(program)?.next_ids;
        self.nodes_and_edges_only = None;
        let report = rows::write_changes(&mut SqliteRows(self.conn), program, graph, changes, stored, replaced)?;
        if programs::nodes_and_edges_only(changes) {
            self.nodes_and_edges_only = Some(program);
        }
        Ok(self.count(report))
    }

    fn write_all(&mut self, program: ProgramId, graph: &ProgramGraph) -> StorageResult<SaveReport> {
        self.header(program)?;
        self.nodes_and_edges_only = None;
        let report = rows::write_all(&mut SqliteRows(self.conn), program, graph)?;
        Ok(self.count(report))
    }

    fn finish(&mut self, program: ProgramId, graph: &ProgramGraph, now: i64) -> StorageResult<u64> {
        let before = self.header(program)?;
        let (state, header) = programs::ProgramState::after_write(program, before, graph, now)?;
        // A write of nodes and edges alone (every single-mutation commit but a
        // function's) leaves the module and function counts as they were; if it took no
        // new module, type or function id either, only half the row is set (binding
        // and writing the other five cost 2.2k of such a commit's 77k instructions,
        // BENCHMARKS.md).
        if self.nodes_and_edges_only.take() == Some(program) && programs::same_other_ids(before, header) {
            programs::set_node_and_edge_state(self.conn, program.0, &state)?;
        } else {
            programs::set_state(self.conn, program.0, &state)?;
        }
        self.headers.insert(program, header);
        Ok(header.revision)
    }

    fn next_ids(&mut self, program: ProgramId) -> StorageResult<NextIds> {
        Ok(self.header(program)?.next_ids)
    }

    fn stored_rows(&mut self, program: ProgramId, ids: &ChangeSet) -> StorageResult<EntityRows> {
        history::stored_rows(self.conn, program, ids)
    }

    fn history_record(&mut self, program: ProgramId, revision: u64) -> StorageResult<Option<HistoryRecord>> {
        history::record(self.conn, program, revision)
    }

    fn has_history_below(&mut self, program: ProgramId, revision: u64) -> StorageResult<bool> {
        Ok(!history::records(self.conn, program, Some(revision), 1, false)?.is_empty())
    }

    fn append_history(&mut self, program: ProgramId, record: &HistoryRecord) -> StorageResult<()> {
        let inserted = history::insert(self.conn, &history::EntryRow::new(program, record), &record.delta);
        history::appended(inserted, program, record, super::error::classify)
    }

    fn prune_history(&mut self, program: ProgramId, revision: u64) -> StorageResult<u64> {
        Ok(history::prune(self.conn, program.0, history::wide(revision))? as u64)
    }

    fn tagged(&mut self, program: ProgramId, name: &str) -> StorageResult<Option<u64>> {
        let row = history::tag(self.conn, program.0, name)?;
        Ok(row.map(|t| history::decode_tag(program, t)).transpose()?.map(|t| t.revision))
    }

    fn set_tag(&mut self, program: ProgramId, name: &str, revision: u64) -> StorageResult<()> {
        history::set_tag(self.conn, program.0, name, history::wide(revision))?;
        Ok(())
    }

    fn remove_tag(&mut self, program: ProgramId, name: &str) -> StorageResult<bool> {
        Ok(history::remove_tag(self.conn, program.0, name)? > 0)
    }

    fn delete_program(&mut self, program: ProgramId) -> StorageResult<()> {
        // A host's connection may have foreign keys off, which stops the cascade.
        if !connection::foreign_keys_enforced(self.conn) {
            programs::delete_owned_rows(self.conn, program.0)?;
        }
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
