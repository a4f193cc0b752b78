//! `PgBackend`: the [`Backend`] on PostgreSQL, and `PgTx`, its write transaction.

use super::connections::{self, PgConfig, PgPool};
use super::feed;
use super::replicas::Reads;
use super::rows::PgRows;
use super::source::{PgConnections, PgPoolConnections, PgPooled};
use crate::graph::{ChangeSet, EdgeView, NextIds, ProgramGraph};
use crate::model::{ComputeNode, EdgeId, FunctionDef, FunctionId, LmType, ModuleDef, ModuleId, NodeId, TypeId};
use crate::rows::sql::codec::{cell_id, corrupt, show};
use crate::rows::sql::tables::{edges, functions, history, modules, nodes, programs, types};
use crate::rows::{self, Header, Replaced};
use crate::schema::lmlang_programs;
use crate::store::{
    Backend, EntityRows, HistoryRecord, ListedProgram, ProgramId, ProgramRef, ProgramSummary, SaveReport, StorageError,
    StorageResult, Tag, WriteTx, found_summary,
};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use std::collections::HashMap;
use std::sync::Arc;

/// The PostgreSQL backend of [`PgStore`](super::PgStore) (on a pool, with or without
/// replicas) and of [`PgConnectionStore`](super::PgConnectionStore) (on a host's
/// connection): every row-level read and write, once, over any source of connections.
pub struct PgBackend<C = PgPoolConnections> {
    connections: C,
    config: PgConfig,
}

impl<C> std::fmt::Debug for PgBackend<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBackend").field("config", &self.config).finish_non_exhaustive()
    }
}

impl PgBackend {
    /// A backend on `pool`, whose connections must already see the store's tables
    /// (see [`PgCustomizer`](super::PgCustomizer)).
    pub fn new(pool: PgPool, config: PgConfig) -> Self {
        PgBackend { connections: PgPoolConnections::new(Reads::primary_only(pool)), config }
    }

    /// A backend on a host's `pool`, whose connections are checked to see
    /// `config.schema` where one is given (see [`PgStore::on_pool`](super::PgStore::on_pool)).
    pub(crate) fn on_host_pool(pool: PgPool, config: PgConfig) -> Self {
        let connections = PgPoolConnections::expecting_schema(Reads::primary_only(pool), config.schema.clone());
        PgBackend { connections, config }
    }

    /// A backend whose reads go where `reads` says.
    pub(crate) fn with_reads(config: PgConfig, reads: Reads) -> Self {
        PgBackend { connections: PgPoolConnections::new(reads), config }
    }

    /// Where reads go, for the change feed (which raises their WAL position).
    pub(crate) fn reads(&self) -> &Arc<Reads> {
        self.connections.reads()
    }

    /// The pool, for maintenance and tests.
    pub fn pool(&self) -> &PgPool {
        self.connections.pool()
    }

    /// A connection of the primary for maintenance and the change feed, checked to see
    /// the configured schema on a host's pool as reads and writes are.
    pub(crate) fn primary_connection(&self) -> StorageResult<PgPooled> {
        self.connections.primary()
    }
}

impl<C: PgConnections> PgBackend<C> {
    /// A backend reading and writing through `connections`.
    pub fn with_connections(connections: C, config: PgConfig) -> Self {
        PgBackend { connections, config }
    }

    /// Runs `work` on a connection, outside a transaction of the store's (each
    /// statement sees what is committed when it runs, or what a host's open
    /// transaction sees). With replicas, reads go to one that has replayed this
    /// store's last commit, or to the primary.
    pub fn with_connection<T>(&self, mut work: impl FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T> {
        self.connections.read(&mut work)
    }

    /// A single-row read: the existence check runs only when the row is missing.
    fn read_one<R, T>(
        &self,
        program: ProgramId,
        find: impl Fn(&mut PgConnection) -> QueryResult<Option<R>>,
        decode: impl Fn(R) -> StorageResult<T>,
    ) -> StorageResult<Option<T>> {
        self.with_connection(|conn| match find(conn)? {
            Some(row) => decode(row).map(Some),
            None => require_program(conn, program).map(|()| None),
        })
    }

    /// A list read; an empty answer checks that the program exists.
    fn read_list<R, T>(
        &self,
        program: ProgramId,
        find: impl Fn(&mut PgConnection) -> QueryResult<Vec<R>>,
        decode: impl Fn(R) -> StorageResult<T>,
    ) -> StorageResult<Vec<T>> {
        self.with_connection(|conn| {
            let rows = find(conn)?;
            if rows.is_empty() {
                require_program(conn, program)?;
            }
            rows.into_iter().map(&decode).collect()
        })
    }
}

/// Programs with at least this many edges load over two connections at once (sharing
/// one snapshot), when the connections come from a pool with one to spare.
const PARALLEL_LOAD_EDGES: i64 = 20_000;

fn require_program(conn: &mut PgConnection, program: ProgramId) -> StorageResult<()> {
    if programs::pg::exists(conn, program.0)? {
        Ok(())
    } else {
        Err(StorageError::ProgramNotFound(ProgramRef::Id(program)))
    }
}

impl<C: PgConnections> Backend for PgBackend<C> {
    fn reads_beside_writes(&self) -> bool {
        self.connections.reads_beside_writes()
    }

    fn list_programs(&self) -> StorageResult<Vec<ProgramSummary>> {
        self.list_programs_each()?.into_iter().map(|(_, summary)| summary).collect()
    }

    fn list_programs_each(&self) -> StorageResult<Vec<ListedProgram>> {
        self.with_connection(|conn| {
            Ok(programs::pg::list(conn)?
                .into_iter()
                .map(|(row, name)| (ProgramId(row.id), row.summary(name)))
                .collect())
        })
    }

    fn program_summary(&self, program: ProgramId) -> StorageResult<ProgramSummary> {
        let listed = self.with_connection(|conn| Ok(programs::pg::list_one(conn, program.0)?))?;
        found_summary(program, listed.map(|(row, name)| row.summary(name)))
    }

    fn program_by_name(&self, name: &str) -> StorageResult<Option<ProgramId>> {
        self.with_connection(|conn| Ok(programs::pg::id_by_name(conn, name)?.map(ProgramId)))
    }

    fn load(&self, program: ProgramId) -> StorageResult<(ProgramGraph, u64)> {
        self.connections.snapshot(program, &mut |c| {
            // A big program: the first connection exports its snapshot and reads
            // everything but the edges; a second imports it and reads the edges, at the
            // same time. The size is read inside the snapshot, on the same connection.
            let big = self.config.split_loads
                && programs::pg::find(c, program.0)?
                    .is_some_and(|row| row.edge_count.get().is_ok_and(|n| n >= PARALLEL_LOAD_EDGES));
            if big && let Some(mut second) = self.connections.spare(c) {
                let id = connections::export_snapshot(c)?;
                let split = rows::read_graph_split(
                    program,
                    || rows::read_without_edges(&mut PgRows(c), program),
                    |sink| {
                        connections::imported_snapshot(&mut second, &id, |c2| {
                            rows::read_edges(&mut PgRows(c2), program, sink)
                        })
                    },
                )?;
                if let Some(loaded) = split {
                    return Ok(loaded);
                }
            }
            rows::read_graph(&mut PgRows(c), program, false)
        })
    }

    fn node(&self, program: ProgramId, node: NodeId) -> StorageResult<Option<ComputeNode>> {
        self.read_one(
            program,
            |c| nodes::pg::find(c, program.0, node.0.into()),
            |row| row.decode().map(|n| ComputeNode { op: n.op, owner: n.owner }),
        )
    }

    fn edge(&self, program: ProgramId, edge: EdgeId) -> StorageResult<Option<EdgeView>> {
        self.read_one(program, |c| edges::pg::find(c, program.0, edge.0.into()), |row| row.decode())
    }

    fn function(&self, program: ProgramId, function: FunctionId) -> StorageResult<Option<FunctionDef>> {
        self.read_one(program, |c| functions::pg::find(c, program.0, function.0.into()), functions::FunctionRow::decode)
    }

    fn module(&self, program: ProgramId, module: ModuleId) -> StorageResult<Option<ModuleDef>> {
        self.read_one(program, |c| modules::pg::find(c, program.0, module.0.into()), modules::ModuleRow::decode)
    }

    fn modules(&self, program: ProgramId) -> StorageResult<Vec<ModuleDef>> {
        self.read_list(program, |c| modules::pg::load(c, program.0), modules::ModuleRow::decode)
    }

    fn user_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Option<LmType>> {
        self.read_one(program, |c| types::pg::find(c, program.0, ty.0.into()), |row| row.decode().map(|t| t.ty))
    }

    fn nodes_by_owner(&self, program: ProgramId, function: FunctionId) -> StorageResult<Vec<(NodeId, ComputeNode)>> {
        self.read_list(
            program,
            |c| nodes::load_by_owner_pg(c, program.0, function.0.into()),
            |row| row.decode().map(|n| (n.id, ComputeNode { op: n.op, owner: n.owner })),
        )
    }

    fn edges_from(&self, program: ProgramId, node: NodeId) -> StorageResult<Vec<EdgeView>> {
        self.read_list(program, |c| edges::pg::load_from(c, program.0, node.0.into()), |row| row.decode())
    }

    fn edges_to(&self, program: ProgramId, node: NodeId) -> StorageResult<Vec<EdgeView>> {
        self.read_list(program, |c| edges::pg::load_to(c, program.0, node.0.into()), |row| row.decode())
    }

    fn functions_in_module(&self, program: ProgramId, module: ModuleId) -> StorageResult<Vec<FunctionDef>> {
        self.read_list(
            program,
            |c| functions::pg::load_in_module(c, program.0, module.0.into()),
            functions::FunctionRow::decode,
        )
    }

    fn nodes_by_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Vec<NodeId>> {
        self.read_list(
            program,
            |c| nodes::pg::load_by_type(c, program.0, ty.0.into()),
            |id| {
                cell_id(id)
                    .map(NodeId)
                    .map_err(|e| corrupt("lmlang_compute_nodes", format!("program {program} node {}", show(id)), e))
            },
        )
    }

    fn edges_by_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Vec<EdgeView>> {
        self.read_list(program, |c| edges::pg::load_by_type(c, program.0, ty.0.into()), |row| row.decode())
    }

    fn history(
        &self,
        program: ProgramId,
        below: Option<u64>,
        limit: u64,
        with_deltas: bool,
    ) -> StorageResult<Vec<HistoryRecord>> {
        self.with_connection(|conn| {
            let records = history::pg::records(conn, program, below, limit, with_deltas)?;
            if records.is_empty() {
                require_program(conn, program)?;
            }
            Ok(records)
        })
    }

    fn tags(&self, program: ProgramId) -> StorageResult<Vec<Tag>> {
        self.read_list(program, |c| history::pg::tags(c, program.0), |t| history::decode_tag(program, t))
    }

    fn write<T>(&self, work: &mut dyn FnMut(&mut dyn WriteTx) -> StorageResult<T>) -> StorageResult<T> {
        let notify = self.config.notify_changes;
        self.connections.write(self.config.write_retries, &mut |conn| work(&mut PgTx { notify, ..PgTx::new(conn) }))
    }
}

/// A write transaction on PostgreSQL: the [`WriteTx`] the shared engine drives.
///
/// The first time it touches a program it locks the program's row (`SELECT ... FOR
/// UPDATE`) and keeps the header it read: a writer of the same program in another
/// process waits for this one to commit and then reads the new revision, so the
/// engine's cache check sees every other writer.
pub struct PgTx<'c> {
    conn: &'c mut PgConnection,
    headers: HashMap<ProgramId, Header>,
    /// Whether each program's new revision is announced on the change feed.
    notify: bool,
    /// The program whose last write changed only nodes and edges (see
    /// `programs::nodes_and_edges_only`).
    nodes_and_edges_only: Option<ProgramId>,
}

impl<'c> PgTx<'c> {
    /// Wraps a connection inside a write transaction.
    pub fn new(conn: &'c mut PgConnection) -> Self {
        PgTx { conn, headers: HashMap::new(), notify: false, nodes_and_edges_only: None }
    }

    fn header(&mut self, program: ProgramId) -> StorageResult<Header> {
        if let Some(h) = self.headers.get(&program) {
            return Ok(*h);
        }
        let row = lmlang_programs::table
            .find(program.0)
            .select(programs::ProgramRow::as_select())
            // NO KEY UPDATE, not UPDATE: it queues the program's writers all the same,
            // and does not conflict with the KEY SHARE lock a service's row takes when
            // it refers to the program by a foreign key (which `FOR UPDATE` would wait
            // for, and deadlock with when the service's transaction then writes here).
            .for_no_key_update()
            .get_result(self.conn)
            .optional()?
            .ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))?;
        let header = row.header()?;
        self.headers.insert(program, header);
        Ok(header)
    }
}

/// A unique violation on the program name (a concurrent writer took it first).
fn duplicate_name(e: DieselError, name: &str) -> StorageError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            StorageError::DuplicateProgramName(name.to_string())
        }
        other => other.into(),
    }
}

impl WriteTx for PgTx<'_> {
    fn insert_program(&mut self, name: &str, now: i64) -> StorageResult<ProgramId> {
        if programs::pg::id_by_name(self.conn, name)?.is_some() {
            return Err(StorageError::DuplicateProgramName(name.to_string()));
        }
        let id = ProgramId(
            programs::pg::insert(self.conn, name, &programs::NewProgram::empty(now))
                .map_err(|e| duplicate_name(e, name))?,
        );
        self.headers.insert(id, Header { revision: 0, next_ids: Default::default() });
        Ok(id)
    }

    fn revision(&mut self, program: ProgramId) -> StorageResult<u64> {
        Ok(self.header(program)?.revision)
    }

    fn load(&mut self, program: ProgramId) -> StorageResult<ProgramGraph> {
        self.header(program)?;
        rows::read_graph(&mut PgRows(self.conn), program, false).map(|(g, _)| g)
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
        let report = rows::write_changes(&mut PgRows(self.conn), program, graph, changes, stored, replaced)?;
        if programs::nodes_and_edges_only(changes) {
            self.nodes_and_edges_only = Some(program);
        }
        Ok(report)
    }

    fn write_all(&mut self, program: ProgramId, graph: &ProgramGraph) -> StorageResult<SaveReport> {
        self.header(program)?;
        self.nodes_and_edges_only = None;
        rows::write_all(&mut PgRows(self.conn), program, graph)
    }

    fn finish(&mut self, program: ProgramId, graph: &ProgramGraph, now: i64) -> StorageResult<u64> {
        let before = self.header(program)?;
        let (state, header) = programs::ProgramState::after_write(program, before, graph, now)?;
        // Half the row after a write of nodes and edges alone, as on SQLite.
        if self.nodes_and_edges_only.take() == Some(program) && programs::same_other_ids(before, header) {
            programs::pg::set_node_and_edge_state(self.conn, program.0, &state)?;
        } else {
            programs::pg::set_state(self.conn, program.0, &state)?;
        }
        if self.notify {
            feed::announce(self.conn, program, Some(header.revision))?;
        }
        self.headers.insert(program, header);
        Ok(header.revision)
    }

    fn next_ids(&mut self, program: ProgramId) -> StorageResult<NextIds> {
        Ok(self.header(program)?.next_ids)
    }

    fn stored_rows(&mut self, program: ProgramId, ids: &ChangeSet) -> StorageResult<EntityRows> {
        history::stored_rows_pg(self.conn, program, ids)
    }

    fn history_record(&mut self, program: ProgramId, revision: u64) -> StorageResult<Option<HistoryRecord>> {
        history::pg::record(self.conn, program, revision)
    }

    fn has_history_below(&mut self, program: ProgramId, revision: u64) -> StorageResult<bool> {
        Ok(!history::pg::records(self.conn, program, Some(revision), 1, false)?.is_empty())
    }

    fn append_history(&mut self, program: ProgramId, record: &HistoryRecord) -> StorageResult<()> {
        let inserted = history::pg::insert(self.conn, &history::EntryRow::new(program, record), &record.delta);
        history::appended(inserted, program, record, super::error::classify)
    }

    fn prune_history(&mut self, program: ProgramId, revision: u64) -> StorageResult<u64> {
        Ok(history::pg::prune(self.conn, program.0, history::wide(revision))? as u64)
    }

    fn tagged(&mut self, program: ProgramId, name: &str) -> StorageResult<Option<u64>> {
        let row = history::pg::tag(self.conn, program.0, name)?;
        Ok(row.map(|t| history::decode_tag(program, t)).transpose()?.map(|t| t.revision))
    }

    fn set_tag(&mut self, program: ProgramId, name: &str, revision: u64) -> StorageResult<()> {
        history::pg::set_tag(self.conn, program.0, name, history::wide(revision))?;
        Ok(())
    }

    fn remove_tag(&mut self, program: ProgramId, name: &str) -> StorageResult<bool> {
        Ok(history::pg::remove_tag(self.conn, program.0, name)? > 0)
    }

    fn delete_program(&mut self, program: ProgramId) -> StorageResult<()> {
        self.header(program)?;
        if programs::pg::delete(self.conn, program.0)? == 0 {
            return Err(StorageError::ProgramNotFound(ProgramRef::Id(program)));
        }
        if self.notify {
            feed::announce(self.conn, program, None)?;
        }
        self.headers.remove(&program);
        Ok(())
    }

    fn rename_program(&mut self, program: ProgramId, name: &str) -> StorageResult<()> {
        let before = self.header(program)?;
        if programs::pg::id_by_name(self.conn, name)?.is_some_and(|other| other != program.0) {
            return Err(StorageError::DuplicateProgramName(name.to_string()));
        }
        if programs::pg::rename(self.conn, program.0, name).map_err(|e| duplicate_name(e, name))? == 0 {
            return Err(StorageError::ProgramNotFound(ProgramRef::Id(program)));
        }
        // A rename is a commit of its own (the revision moves on), so listeners hear it.
        if self.notify {
            feed::announce(self.conn, program, Some(before.revision + 1))?;
        }
        self.headers.remove(&program);
        Ok(())
    }
}
