//! The in-memory backend: tables and indexes in B-trees, behind one lock.
//!
//! It is a real store, not a test double: it keeps rows the way SQLite does (one entry
//! per module, type, function, node and edge, with secondary indexes for every query),
//! so loads, queries and incremental saves cost what they cost on disk, minus the I/O.
//! Readers share the lock; a write holds it exclusively for its whole transaction and
//! never fails part-way, so a transaction is all or nothing.

use super::backend::{Backend, WriteTx};
use super::error::{ProgramRef, StorageError, StorageResult};
use super::history::{EntityRows, HistoryRecord, Tag};
use super::types::{ProgramId, ProgramSummary, SaveReport, found_summary};
use crate::graph::{ChangeSet, EdgeEntry, EdgeView, NextIds, NodeEntry, ProgramGraph, TypeEntry};
use crate::model::{
    ComputeNode, EdgeId, FlowEdge, FunctionDef, FunctionId, LmType, ModuleDef, ModuleId, NodeId, SemanticEdge,
    SemanticKey, SemanticNode, TypeId, TypeName,
};
use crate::rows::{self, Header, Replaced, RowSink, RowSource, SemanticRows};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::RwLock;

#[derive(Default)]
struct Tables {
    next_program: i64,
    programs: BTreeMap<ProgramId, ProgramRows>,
    names: BTreeMap<String, ProgramId>,
}

struct ProgramRows {
    name: String,
    created_at: i64,
    updated_at: i64,
    revision: u64,
    next_ids: NextIds,
    modules: BTreeMap<ModuleId, ModuleDef>,
    types: BTreeMap<TypeId, TypeEntry>,
    functions: BTreeMap<FunctionId, FunctionDef>,
    nodes: BTreeMap<NodeId, NodeEntry>,
    edges: BTreeMap<EdgeId, EdgeEntry>,
    // Secondary indexes, one per query, as SQLite has.
    nodes_by_owner: BTreeSet<(FunctionId, NodeId)>,
    nodes_by_type: BTreeSet<(TypeId, NodeId)>,
    edges_from: BTreeSet<(NodeId, EdgeId)>,
    edges_to: BTreeSet<(NodeId, EdgeId)>,
    edges_by_type: BTreeSet<(TypeId, EdgeId)>,
    functions_by_module: BTreeSet<(ModuleId, FunctionId)>,
    history: BTreeMap<u64, HistoryRecord>,
    tags: BTreeMap<String, u64>,
}

impl ProgramRows {
    fn new(name: &str, now: i64) -> Self {
        ProgramRows {
            name: name.to_string(),
            created_at: now,
            updated_at: now,
            revision: 0,
            next_ids: NextIds::default(),
            modules: BTreeMap::new(),
            types: BTreeMap::new(),
            functions: BTreeMap::new(),
            nodes: BTreeMap::new(),
            edges: BTreeMap::new(),
            nodes_by_owner: BTreeSet::new(),
            nodes_by_type: BTreeSet::new(),
            edges_from: BTreeSet::new(),
            edges_to: BTreeSet::new(),
            edges_by_type: BTreeSet::new(),
            functions_by_module: BTreeSet::new(),
            history: BTreeMap::new(),
            tags: BTreeMap::new(),
        }
    }

    fn summary(&self, id: ProgramId) -> ProgramSummary {
        ProgramSummary {
            id,
            name: self.name.clone(),
            modules: self.modules.len() as u64,
            functions: self.functions.len() as u64,
            nodes: self.nodes.len() as u64,
            edges: self.edges.len() as u64,
            revision: self.revision,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    fn put_node(&mut self, entry: NodeEntry) {
        self.remove_node(entry.id);
        self.nodes_by_owner.insert((entry.owner, entry.id));
        if let Some(t) = entry.op.type_ref() {
            self.nodes_by_type.insert((t, entry.id));
        }
        self.nodes.insert(entry.id, entry);
    }

    fn remove_node(&mut self, id: NodeId) -> bool {
        let Some(old) = self.nodes.remove(&id) else { return false };
        self.nodes_by_owner.remove(&(old.owner, id));
        if let Some(t) = old.op.type_ref() {
            self.nodes_by_type.remove(&(t, id));
        }
        true
    }

    fn put_edge(&mut self, entry: EdgeEntry) {
        self.remove_edge(entry.id);
        self.edges_from.insert((entry.source, entry.id));
        self.edges_to.insert((entry.target, entry.id));
        if let FlowEdge::Data { value_type, .. } = entry.edge {
            self.edges_by_type.insert((value_type, entry.id));
        }
        self.edges.insert(entry.id, entry);
    }

    fn remove_edge(&mut self, id: EdgeId) -> bool {
        let Some(old) = self.edges.remove(&id) else { return false };
        self.edges_from.remove(&(old.source, id));
        self.edges_to.remove(&(old.target, id));
        if let FlowEdge::Data { value_type, .. } = old.edge {
            self.edges_by_type.remove(&(value_type, id));
        }
        true
    }

    fn put_function(&mut self, def: FunctionDef) {
        self.remove_function(def.id);
        self.functions_by_module.insert((def.module, def.id));
        self.functions.insert(def.id, def);
    }

    fn remove_function(&mut self, id: FunctionId) -> bool {
        let Some(old) = self.functions.remove(&id) else { return false };
        self.functions_by_module.remove(&(old.module, id));
        true
    }
}

/// Rows of all programs, in memory.
#[derive(Default)]
pub struct MemoryBackend {
    tables: RwLock<Tables>,
}

impl MemoryBackend {
    fn read<T>(&self, program: ProgramId, f: impl FnOnce(&ProgramRows) -> T) -> StorageResult<T> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        let rows = tables.programs.get(&program).ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))?;
        Ok(f(rows))
    }
}

fn range<K: Ord + Copy, V: Ord + Copy + Bounded>(set: &BTreeSet<(K, V)>, key: K) -> impl Iterator<Item = V> + '_ {
    set.range((key, V::MIN)..=(key, V::MAX)).map(|(_, v)| *v)
}

/// Id types with a least and greatest value, for index range scans.
trait Bounded {
    const MIN: Self;
    const MAX: Self;
}

macro_rules! bounded {
    ($($t:ident),*) => {$(impl Bounded for $t { const MIN: Self = $t(0); const MAX: Self = $t(u32::MAX); })*};
}
bounded!(NodeId, EdgeId, FunctionId);

impl Backend for MemoryBackend {
    fn list_programs(&self) -> StorageResult<Vec<ProgramSummary>> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        Ok(tables.programs.iter().map(|(id, p)| p.summary(*id)).collect())
    }

    fn program_summary(&self, program: ProgramId) -> StorageResult<ProgramSummary> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        found_summary(program, tables.programs.get(&program).map(|p| Ok(p.summary(program))))
    }

    fn program_by_name(&self, name: &str) -> StorageResult<Option<ProgramId>> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        Ok(tables.names.get(name).copied())
    }

    fn load(&self, program: ProgramId) -> StorageResult<(ProgramGraph, u64)> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        rows::read_graph(&mut MemoryRows(&tables), program, false)
    }

    fn node(&self, program: ProgramId, node: NodeId) -> StorageResult<Option<ComputeNode>> {
        self.read(program, |p| p.nodes.get(&node).map(|n| ComputeNode { op: n.op.clone(), owner: n.owner }))
    }

    fn edge(&self, program: ProgramId, edge: EdgeId) -> StorageResult<Option<EdgeView>> {
        self.read(program, |p| p.edges.get(&edge).map(EdgeView::from))
    }

    fn function(&self, program: ProgramId, function: FunctionId) -> StorageResult<Option<FunctionDef>> {
        self.read(program, |p| p.functions.get(&function).cloned())
    }

    fn module(&self, program: ProgramId, module: ModuleId) -> StorageResult<Option<ModuleDef>> {
        self.read(program, |p| p.modules.get(&module).cloned())
    }

    fn modules(&self, program: ProgramId) -> StorageResult<Vec<ModuleDef>> {
        self.read(program, |p| p.modules.values().cloned().collect())
    }

    fn user_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Option<LmType>> {
        self.read(program, |p| p.types.get(&ty).map(|t| t.ty.clone()))
    }

    fn nodes_by_owner(&self, program: ProgramId, function: FunctionId) -> StorageResult<Vec<(NodeId, ComputeNode)>> {
        self.read(program, |p| {
            range(&p.nodes_by_owner, function)
                .filter_map(|id| p.nodes.get(&id))
                .map(|n| (n.id, ComputeNode { op: n.op.clone(), owner: n.owner }))
                .collect()
        })
    }

    fn edges_from(&self, program: ProgramId, node: NodeId) -> StorageResult<Vec<EdgeView>> {
        self.read(program, |p| {
            range(&p.edges_from, node).filter_map(|id| p.edges.get(&id)).map(EdgeView::from).collect()
        })
    }

    fn edges_to(&self, program: ProgramId, node: NodeId) -> StorageResult<Vec<EdgeView>> {
        self.read(program, |p| range(&p.edges_to, node).filter_map(|id| p.edges.get(&id)).map(EdgeView::from).collect())
    }

    fn functions_in_module(&self, program: ProgramId, module: ModuleId) -> StorageResult<Vec<FunctionDef>> {
        self.read(program, |p| {
            range(&p.functions_by_module, module).filter_map(|id| p.functions.get(&id)).cloned().collect()
        })
    }

    fn nodes_by_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Vec<NodeId>> {
        self.read(program, |p| range(&p.nodes_by_type, ty).collect())
    }

    fn edges_by_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Vec<EdgeView>> {
        self.read(program, |p| {
            range(&p.edges_by_type, ty).filter_map(|id| p.edges.get(&id)).map(EdgeView::from).collect()
        })
    }

    fn history(
        &self,
        program: ProgramId,
        below: Option<u64>,
        limit: u64,
        with_deltas: bool,
    ) -> StorageResult<Vec<HistoryRecord>> {
        self.read(program, |p| {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            p.history
                .range(..below.unwrap_or(u64::MAX))
                .rev()
                .take(limit)
                .map(|(_, r)| if with_deltas { r.clone() } else { HistoryRecord { delta: Vec::new(), ..r.clone() } })
                .collect()
        })
    }

    fn tags(&self, program: ProgramId) -> StorageResult<Vec<Tag>> {
        self.read(program, |p| p.tags.iter().map(|(name, &revision)| Tag { name: name.clone(), revision }).collect())
    }

    fn reads_beside_writes(&self) -> bool {
        false
    }

    fn write<T>(&self, work: &mut dyn FnMut(&mut dyn WriteTx) -> StorageResult<T>) -> StorageResult<T> {
        let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
        // Work on a transaction log applied only on success: nothing a failed
        // transaction did is ever visible.
        let mut tx = MemoryTx { tables: &mut tables, undo: Vec::new() };
        match work(&mut tx) {
            Ok(v) => Ok(v),
            Err(e) => {
                tx.rollback();
                Err(e)
            }
        }
    }
}

impl Bounded for ModuleId {
    const MIN: Self = ModuleId(0);
    const MAX: Self = ModuleId(u32::MAX);
}

impl Bounded for TypeId {
    const MIN: Self = TypeId(0);
    const MAX: Self = TypeId(u32::MAX);
}

/// A memory transaction. Each change first saves what it replaces, so a failure
/// restores the tables exactly.
struct MemoryTx<'a> {
    tables: &'a mut Tables,
    undo: Vec<Undo>,
}

enum Undo {
    Program(ProgramId, Option<Box<ProgramRows>>),
    Node(ProgramId, NodeId, Option<NodeEntry>),
    Edge(ProgramId, EdgeId, Option<EdgeEntry>),
    Function(ProgramId, FunctionId, Option<FunctionDef>),
    Module(ProgramId, ModuleId, Option<ModuleDef>),
    Type(ProgramId, TypeId, Option<TypeEntry>),
    Header(ProgramId, u64, NextIds, i64, String),
    History(ProgramId, u64, Option<HistoryRecord>),
    Tag(ProgramId, String, Option<u64>),
}

impl MemoryTx<'_> {
    fn rows(&mut self, program: ProgramId) -> StorageResult<&mut ProgramRows> {
        self.tables.programs.get_mut(&program).ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))
    }

    fn rollback(&mut self) {
        while let Some(u) = self.undo.pop() {
            match u {
                Undo::Program(id, rows) => {
                    if let Some(n) = self.tables.programs.get(&id).map(|p| p.name.clone()) {
                        self.tables.names.remove(&n);
                    }
                    match rows {
                        Some(r) => {
                            self.tables.names.insert(r.name.clone(), id);
                            self.tables.programs.insert(id, *r);
                        }
                        None => {
                            self.tables.programs.remove(&id);
                        }
                    }
                }
                Undo::Header(id, revision, next, updated, name) => {
                    if let Some(p) = self.tables.programs.get_mut(&id) {
                        if p.name != name {
                            self.tables.names.remove(&p.name);
                            self.tables.names.insert(name.clone(), id);
                        }
                        (p.revision, p.next_ids, p.updated_at, p.name) = (revision, next, updated, name);
                    }
                }
                Undo::Node(id, n, old) => {
                    if let Some(p) = self.tables.programs.get_mut(&id) {
                        p.remove_node(n);
                        if let Some(o) = old {
                            p.put_node(o);
                        }
                    }
                }
                Undo::Edge(id, e, old) => {
                    if let Some(p) = self.tables.programs.get_mut(&id) {
                        p.remove_edge(e);
                        if let Some(o) = old {
                            p.put_edge(o);
                        }
                    }
                }
                Undo::Function(id, f, old) => {
                    if let Some(p) = self.tables.programs.get_mut(&id) {
                        p.remove_function(f);
                        if let Some(o) = old {
                            p.put_function(o);
                        }
                    }
                }
                Undo::Module(id, m, old) => {
                    if let Some(p) = self.tables.programs.get_mut(&id) {
                        match old {
                            Some(o) => p.modules.insert(m, o),
                            None => p.modules.remove(&m),
                        };
                    }
                }
                Undo::History(id, revision, old) => {
                    if let Some(p) = self.tables.programs.get_mut(&id) {
                        match old {
                            Some(o) => p.history.insert(revision, o),
                            None => p.history.remove(&revision),
                        };
                    }
                }
                Undo::Tag(id, name, old) => {
                    if let Some(p) = self.tables.programs.get_mut(&id) {
                        match old {
                            Some(o) => p.tags.insert(name, o),
                            None => p.tags.remove(&name),
                        };
                    }
                }
                Undo::Type(id, t, old) => {
                    if let Some(p) = self.tables.programs.get_mut(&id) {
                        match old {
                            Some(o) => p.types.insert(t, o),
                            None => p.types.remove(&t),
                        };
                    }
                }
            }
        }
    }

    fn header_undo(&mut self, program: ProgramId) -> StorageResult<()> {
        let p = self.rows(program)?;
        let u = Undo::Header(program, p.revision, p.next_ids, p.updated_at, p.name.clone());
        self.undo.push(u);
        Ok(())
    }
}

impl WriteTx for MemoryTx<'_> {
    fn insert_program(&mut self, name: &str, now: i64) -> StorageResult<ProgramId> {
        if self.tables.names.contains_key(name) {
            return Err(StorageError::DuplicateProgramName(name.to_string()));
        }
        self.tables.next_program += 1;
        let id = ProgramId(self.tables.next_program);
        self.tables.programs.insert(id, ProgramRows::new(name, now));
        self.tables.names.insert(name.to_string(), id);
        self.undo.push(Undo::Program(id, None));
        Ok(id)
    }

    fn revision(&mut self, program: ProgramId) -> StorageResult<u64> {
        Ok(self.rows(program)?.revision)
    }

    fn load(&mut self, program: ProgramId) -> StorageResult<ProgramGraph> {
        rows::read_graph(&mut MemoryRows(self.tables), program, false).map(|(g, _)| g)
    }

    fn write_changes(
        &mut self,
        program: ProgramId,
        g: &ProgramGraph,
        changes: &ChangeSet,
        replaced: Replaced<'_>,
    ) -> StorageResult<SaveReport> {
        let stored = self.rows(program)?.next_ids;
        rows::write_changes(self, program, g, changes, stored, replaced)
    }

    fn write_all(&mut self, program: ProgramId, g: &ProgramGraph) -> StorageResult<SaveReport> {
        rows::write_all(self, program, g)
    }

    fn finish(&mut self, program: ProgramId, g: &ProgramGraph, now: i64) -> StorageResult<u64> {
        self.header_undo(program)?;
        let p = self.rows(program)?;
        // Never down: see `NextIds::max`.
        p.next_ids = p.next_ids.max(g.next_ids());
        p.updated_at = now;
        p.revision += 1;
        Ok(p.revision)
    }

    fn next_ids(&mut self, program: ProgramId) -> StorageResult<NextIds> {
        Ok(self.rows(program)?.next_ids)
    }

    fn stored_rows(&mut self, program: ProgramId, ids: &ChangeSet) -> StorageResult<EntityRows> {
        let p = self.rows(program)?;
        Ok(EntityRows {
            modules: ids.modules.iter().filter_map(|m| p.modules.get(m).cloned()).collect(),
            types: ids.types.iter().filter_map(|t| p.types.get(t).cloned()).collect(),
            functions: ids.functions.iter().filter_map(|f| p.functions.get(f).cloned()).collect(),
            nodes: ids.nodes.iter().filter_map(|n| p.nodes.get(n).cloned()).collect(),
            edges: ids.edges.iter().filter_map(|e| p.edges.get(e).cloned()).collect(),
        })
    }

    fn history_record(&mut self, program: ProgramId, revision: u64) -> StorageResult<Option<HistoryRecord>> {
        Ok(self.rows(program)?.history.get(&revision).cloned())
    }

    fn has_history_below(&mut self, program: ProgramId, revision: u64) -> StorageResult<bool> {
        Ok(self.rows(program)?.history.range(..revision).next().is_some())
    }

    fn append_history(&mut self, program: ProgramId, record: &HistoryRecord) -> StorageResult<()> {
        let revision = record.entry.revision;
        let old = self.rows(program)?.history.insert(revision, record.clone());
        self.undo.push(Undo::History(program, revision, old));
        Ok(())
    }

    fn prune_history(&mut self, program: ProgramId, revision: u64) -> StorageResult<u64> {
        let p = self.rows(program)?;
        let kept = p.history.split_off(&revision);
        let gone = std::mem::replace(&mut p.history, kept);
        let tags: Vec<(String, u64)> =
            p.tags.iter().filter(|(_, r)| **r < revision).map(|(n, r)| (n.clone(), *r)).collect();
        for (name, _) in &tags {
            p.tags.remove(name);
        }
        let count = gone.len() as u64;
        self.undo.extend(gone.into_iter().map(|(r, old)| Undo::History(program, r, Some(old))));
        self.undo.extend(tags.into_iter().map(|(n, r)| Undo::Tag(program, n, Some(r))));
        Ok(count)
    }

    fn tagged(&mut self, program: ProgramId, name: &str) -> StorageResult<Option<u64>> {
        Ok(self.rows(program)?.tags.get(name).copied())
    }

    fn set_tag(&mut self, program: ProgramId, name: &str, revision: u64) -> StorageResult<()> {
        let old = self.rows(program)?.tags.insert(name.to_string(), revision);
        self.undo.push(Undo::Tag(program, name.to_string(), old));
        Ok(())
    }

    fn remove_tag(&mut self, program: ProgramId, name: &str) -> StorageResult<bool> {
        let old = self.rows(program)?.tags.remove(name);
        let existed = old.is_some();
        self.undo.push(Undo::Tag(program, name.to_string(), old));
        Ok(existed)
    }

    fn delete_program(&mut self, program: ProgramId) -> StorageResult<()> {
        let rows =
            self.tables.programs.remove(&program).ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))?;
        self.tables.names.remove(&rows.name);
        self.undo.push(Undo::Program(program, Some(Box::new(rows))));
        Ok(())
    }

    fn rename_program(&mut self, program: ProgramId, name: &str) -> StorageResult<()> {
        if self.tables.names.get(name).is_some_and(|id| *id != program) {
            return Err(StorageError::DuplicateProgramName(name.to_string()));
        }
        self.header_undo(program)?;
        let p = self.rows(program)?;
        let old = std::mem::replace(&mut p.name, name.to_string());
        p.revision += 1;
        self.tables.names.remove(&old);
        self.tables.names.insert(name.to_string(), program);
        Ok(())
    }
}

/// The tables as a [`RowSource`]: what a load reads, under the caller's lock.
struct MemoryRows<'a>(&'a Tables);

impl MemoryRows<'_> {
    fn program(&self, program: ProgramId) -> StorageResult<&ProgramRows> {
        self.0.programs.get(&program).ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))
    }
}

impl RowSource for MemoryRows<'_> {
    fn header(&mut self, program: ProgramId) -> StorageResult<Header> {
        let p = self.program(program)?;
        Ok(Header { revision: p.revision, next_ids: p.next_ids })
    }

    fn modules(&mut self, program: ProgramId) -> StorageResult<Vec<ModuleDef>> {
        Ok(self.program(program)?.modules.values().cloned().collect())
    }

    fn types(&mut self, program: ProgramId) -> StorageResult<Vec<TypeEntry>> {
        Ok(self.program(program)?.types.values().cloned().collect())
    }

    fn functions(&mut self, program: ProgramId) -> StorageResult<Vec<FunctionDef>> {
        Ok(self.program(program)?.functions.values().cloned().collect())
    }

    fn nodes(&mut self, program: ProgramId) -> StorageResult<Vec<NodeEntry>> {
        Ok(self.program(program)?.nodes.values().cloned().collect())
    }

    fn edges(&mut self, program: ProgramId, sink: &mut dyn FnMut(Vec<EdgeEntry>)) -> StorageResult<()> {
        sink(self.program(program)?.edges.values().cloned().collect());
        Ok(())
    }

    /// None: memory keeps no semantic rows, the graph derives them on load.
    fn semantic(&mut self, program: ProgramId) -> StorageResult<Option<SemanticRows>> {
        self.program(program).map(|_| None)
    }
}

/// The memory transaction as the shared diff's [`RowSink`]: rows are the model's own
/// values, and every write first records what it replaces, for rollback. Memory keeps
/// no semantic rows (the graph derives them), so those writes do nothing.
impl RowSink for MemoryTx<'_> {
    type Module = ModuleDef;
    type Type = TypeEntry;
    type Function = FunctionDef;
    type Node = NodeEntry;
    type Edge = EdgeEntry;
    type SemanticNode = ();
    type SemanticEdge = ();

    fn module_row(_: ProgramId, def: &ModuleDef) -> StorageResult<ModuleDef> {
        Ok(def.clone())
    }

    fn type_row(_: ProgramId, id: TypeId, name: Option<&TypeName>, ty: &LmType) -> StorageResult<TypeEntry> {
        Ok(TypeEntry { id, name: name.cloned(), ty: ty.clone() })
    }

    fn function_row(_: ProgramId, def: &FunctionDef) -> StorageResult<FunctionDef> {
        Ok(def.clone())
    }

    fn node_row(_: ProgramId, id: NodeId, node: &ComputeNode) -> StorageResult<NodeEntry> {
        Ok(NodeEntry { id, owner: node.owner, op: node.op.clone() })
    }

    fn edge_row(_: ProgramId, v: &EdgeView) -> StorageResult<EdgeEntry> {
        Ok(EdgeEntry { id: v.id, source: v.source, target: v.target, edge: v.edge })
    }

    fn semantic_node_row(_: ProgramId, _: &SemanticNode) -> StorageResult<()> {
        Ok(())
    }

    fn semantic_edge_row(_: ProgramId, _: SemanticEdge, _: SemanticKey, _: SemanticKey) -> StorageResult<()> {
        Ok(())
    }

    fn insert_modules(&mut self, program: ProgramId, rows: &[ModuleDef]) -> StorageResult<usize> {
        self.upsert_modules(program, rows)
    }

    fn upsert_modules(&mut self, program: ProgramId, rows: &[ModuleDef]) -> StorageResult<usize> {
        let p = self.tables.programs.get_mut(&program).ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))?;
        for m in rows {
            self.undo.push(Undo::Module(program, m.id, p.modules.insert(m.id, m.clone())));
        }
        Ok(rows.len())
    }

    fn delete_modules(&mut self, program: ProgramId, ids: &[u32]) -> StorageResult<usize> {
        let p = self.tables.programs.get_mut(&program).ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))?;
        let mut deleted = 0;
        for &id in ids {
            if let Some(old) = p.modules.remove(&ModuleId(id)) {
                self.undo.push(Undo::Module(program, ModuleId(id), Some(old)));
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    fn insert_types(&mut self, program: ProgramId, rows: &[TypeEntry]) -> StorageResult<usize> {
        self.upsert_types(program, rows)
    }

    fn upsert_types(&mut self, program: ProgramId, rows: &[TypeEntry]) -> StorageResult<usize> {
        let p = self.tables.programs.get_mut(&program).ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))?;
        for t in rows {
            self.undo.push(Undo::Type(program, t.id, p.types.insert(t.id, t.clone())));
        }
        Ok(rows.len())
    }

    fn delete_types(&mut self, program: ProgramId, ids: &[u32]) -> StorageResult<usize> {
        let p = self.tables.programs.get_mut(&program).ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))?;
        let mut deleted = 0;
        for &id in ids {
            if let Some(old) = p.types.remove(&TypeId(id)) {
                self.undo.push(Undo::Type(program, TypeId(id), Some(old)));
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    fn insert_functions(&mut self, program: ProgramId, rows: &[FunctionDef]) -> StorageResult<usize> {
        self.upsert_functions(program, rows)
    }

    fn upsert_functions(&mut self, program: ProgramId, rows: &[FunctionDef]) -> StorageResult<usize> {
        let p = self.tables.programs.get_mut(&program).ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))?;
        for f in rows {
            self.undo.push(Undo::Function(program, f.id, p.functions.get(&f.id).cloned()));
            p.put_function(f.clone());
        }
        Ok(rows.len())
    }

    fn delete_functions(&mut self, program: ProgramId, ids: &[u32]) -> StorageResult<usize> {
        let p = self.tables.programs.get_mut(&program).ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))?;
        let mut deleted = 0;
        for &id in ids {
            let old = p.functions.get(&FunctionId(id)).cloned();
            if p.remove_function(FunctionId(id)) {
                self.undo.push(Undo::Function(program, FunctionId(id), old));
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    fn insert_nodes(&mut self, program: ProgramId, rows: &[NodeEntry]) -> StorageResult<usize> {
        self.upsert_nodes(program, rows)
    }

    fn upsert_nodes(&mut self, program: ProgramId, rows: &[NodeEntry]) -> StorageResult<usize> {
        let p = self.tables.programs.get_mut(&program).ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))?;
        for n in rows {
            self.undo.push(Undo::Node(program, n.id, p.nodes.get(&n.id).cloned()));
            p.put_node(n.clone());
        }
        Ok(rows.len())
    }

    fn delete_nodes(&mut self, program: ProgramId, ids: &[u32]) -> StorageResult<usize> {
        let p = self.tables.programs.get_mut(&program).ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))?;
        let mut deleted = 0;
        for &id in ids {
            let old = p.nodes.get(&NodeId(id)).cloned();
            if p.remove_node(NodeId(id)) {
                self.undo.push(Undo::Node(program, NodeId(id), old));
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    fn insert_edges(&mut self, program: ProgramId, rows: &[EdgeEntry]) -> StorageResult<usize> {
        self.upsert_edges(program, rows)
    }

    fn upsert_edges(&mut self, program: ProgramId, rows: &[EdgeEntry]) -> StorageResult<usize> {
        let p = self.tables.programs.get_mut(&program).ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))?;
        for e in rows {
            self.undo.push(Undo::Edge(program, e.id, p.edges.get(&e.id).cloned()));
            p.put_edge(e.clone());
        }
        Ok(rows.len())
    }

    fn delete_edges(&mut self, program: ProgramId, ids: &[u32]) -> StorageResult<usize> {
        let p = self.tables.programs.get_mut(&program).ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))?;
        let mut deleted = 0;
        for &id in ids {
            let old = p.edges.get(&EdgeId(id)).cloned();
            if p.remove_edge(EdgeId(id)) {
                self.undo.push(Undo::Edge(program, EdgeId(id), old));
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    fn call_owners(&mut self, _: ProgramId, _: &[NodeId]) -> StorageResult<Vec<FunctionId>> {
        Ok(Vec::new())
    }

    fn insert_semantic_nodes(&mut self, _: ProgramId, _: &[()]) -> StorageResult<usize> {
        Ok(0)
    }

    fn upsert_semantic_nodes(&mut self, _: ProgramId, _: &[()]) -> StorageResult<usize> {
        Ok(0)
    }

    fn insert_semantic_edges(&mut self, _: ProgramId, _: &[()]) -> StorageResult<usize> {
        Ok(0)
    }

    fn delete_owned_semantic_edges(&mut self, _: ProgramId, _: SemanticKey) -> StorageResult<usize> {
        Ok(0)
    }

    fn delete_semantic_node(&mut self, _: ProgramId, _: SemanticKey) -> StorageResult<usize> {
        Ok(0)
    }
}
