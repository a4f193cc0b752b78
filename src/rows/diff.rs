//! The diff, graph to rows: which rows a save inserts, upserts and deletes.
//!
//! Order keeps foreign keys true at every statement: rows are written parents first
//! (modules, types, functions, nodes, edges, then the semantic tables) and deleted
//! children first. The one cycle, a function's entry node, is closed after the nodes.
//!
//! Rows whose id is at or past the program's stored next id cannot exist yet, so they
//! go to the sink's `insert_*` (plain, cacheable inserts); older ids are upserts. A new
//! node, the commonest edit, is therefore one plain `INSERT`.

use super::RowSink;
use crate::graph::{ChangeSet, NextIds, NodeEntry, ProgramGraph};
use crate::model::{ComputeNodeOp, FunctionId, NodeId, SemanticEdge, SemanticKey};
use crate::store::{ProgramId, SaveReport, StorageResult};
use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use std::collections::BTreeSet;

/// Rows built and handed to the sink per batch on the bulk path, so memory stays
/// bounded for programs of millions of nodes; large, since a sink that reorders a
/// batch to fill its pages (SQLite's, decision D15) leaves the pages at the batch's
/// edges less full.
pub const BATCH: usize = 16_384;

/// Writes every row of a graph into a program that has none yet.
pub fn write_all<S: RowSink>(sink: &mut S, program: ProgramId, g: &ProgramGraph) -> StorageResult<SaveReport> {
    let mut written = 0usize;
    let module_rows = g.modules().iter().map(|m| S::module_row(program, m)).collect::<StorageResult<Vec<_>>>()?;
    written += sink.insert_modules(program, &module_rows)?;
    let type_rows = g
        .types()
        .iter()
        .filter(|(id, _)| !id.is_builtin())
        .map(|(id, ty)| S::type_row(program, id, g.types().name_of(id), ty))
        .collect::<StorageResult<Vec<_>>>()?;
    written += sink.insert_types(program, &type_rows)?;
    // Functions go in before their nodes (a node's owner must exist), but their entry
    // nodes only after: a pending reference would make SQLite search the functions for
    // every node inserted meanwhile.
    let mut function_rows = Vec::with_capacity(g.function_count());
    let mut with_entry = Vec::new();
    for f in g.functions() {
        if f.entry_node.is_some() {
            with_entry.push(S::function_row(program, f)?);
            let mut bare = f.clone();
            bare.entry_node = None;
            function_rows.push(S::function_row(program, &bare)?);
        } else {
            function_rows.push(S::function_row(program, f)?);
        }
    }
    written += sink.insert_functions(program, &function_rows)?;

    // Nodes function by function: SQLite's key order, so inserts append.
    let mut batch = Vec::with_capacity(BATCH);
    for f in g.functions() {
        for id in g.function_nodes(f.id) {
            if let Some(node) = g.node(id) {
                batch.push(S::node_row(program, id, node)?);
            }
            if batch.len() == BATCH {
                written += sink.insert_nodes(program, &batch)?;
                batch.clear();
            }
        }
    }
    written += sink.insert_nodes(program, &batch)?;
    sink.upsert_functions(program, &with_entry)?;

    let mut batch = Vec::with_capacity(BATCH);
    for e in g.edges() {
        batch.push(S::edge_row(program, &e)?);
        if batch.len() == BATCH {
            written += sink.insert_edges(program, &batch)?;
            batch.clear();
        }
    }
    written += sink.insert_edges(program, &batch)?;

    let sem = g.semantic_graph();
    let node_rows = sem.node_weights().map(|n| S::semantic_node_row(program, n)).collect::<StorageResult<Vec<_>>>()?;
    sink.insert_semantic_nodes(program, &node_rows)?;
    let edge_rows = sem
        .edge_references()
        .map(|e| S::semantic_edge_row(program, *e.weight(), sem[e.source()].key(), sem[e.target()].key()))
        .collect::<StorageResult<Vec<_>>>()?;
    sink.insert_semantic_edges(program, &edge_rows)?;
    Ok(SaveReport { rows_written: written as u64, rows_deleted: 0 })
}

/// Ids of one kind of entity that changed: those the graph has (to write, split by
/// whether they may already be stored) and those it lacks (to delete).
struct Split<T> {
    fresh: Vec<T>,
    maybe_stored: Vec<T>,
    gone: Vec<u32>,
}

impl<T> Split<T> {
    fn present(&self) -> usize {
        self.fresh.len() + self.maybe_stored.len()
    }
}

/// What a write already holds of the stored state it replaces. A rewritten call node
/// changes its function's `Calls` edges, so a write must know which of the nodes it
/// rewrites were calls as stored; a writer that has the stored program, or history's
/// before image, answers that without reading the rows again. What it hands over is
/// trusted: it must be exactly the stored state the write's transaction started from.
#[derive(Debug, Clone, Copy)]
pub enum Replaced<'a> {
    /// Nothing: the write reads what it needs.
    Unknown,
    /// The program exactly as stored before the write.
    Program(&'a ProgramGraph),
    /// The stored rows of the changed nodes, every one that has a row.
    Nodes(&'a [NodeEntry]),
}

/// The functions holding stored call nodes that `changes` rewrites or deletes: their
/// `Calls` edges may change.
fn stored_call_owners<S: RowSink>(
    sink: &mut S,
    program: ProgramId,
    changes: &ChangeSet,
    stored: NextIds,
    replaced: Replaced<'_>,
    kept_refs: Option<NodeId>,
) -> StorageResult<Vec<FunctionId>> {
    let owner_of_call = |owner: FunctionId, op: &ComputeNodeOp| op.function_ref().map(|_| owner);
    let owners = match replaced {
        Replaced::Unknown => {
            let old: Vec<NodeId> =
                changes.nodes.iter().copied().filter(|&n| n.0 < stored.node && Some(n) != kept_refs).collect();
            if old.is_empty() { Vec::new() } else { sink.call_owners(program, &old)? }
        }
        Replaced::Program(before) => changes
            .nodes
            .iter()
            .filter_map(|&n| before.node(n))
            .filter_map(|node| owner_of_call(node.owner, &node.op))
            .collect(),
        Replaced::Nodes(rows) => rows.iter().filter_map(|row| owner_of_call(row.owner, &row.op)).collect(),
    };
    // In test builds, what the caller handed over must name every owner the rows name
    // (a sink that keeps no call owners, the in-memory one, names none).
    #[cfg(debug_assertions)]
    if !matches!(replaced, Replaced::Unknown) {
        let read = stored_call_owners(sink, program, changes, stored, Replaced::Unknown, kept_refs)?;
        let missing: Vec<_> = read.iter().filter(|f| !owners.contains(f)).collect();
        debug_assert!(missing.is_empty(), "the replaced state lacks the stored call owners {missing:?}");
    }
    Ok(owners)
}

fn split<I: Copy, T>(
    ids: &[I],
    raw: impl Fn(I) -> u32,
    stored_next: u32,
    mut row: impl FnMut(I) -> StorageResult<Option<T>>,
) -> StorageResult<Split<T>> {
    let mut s = Split { fresh: Vec::new(), maybe_stored: Vec::new(), gone: Vec::new() };
    for &id in ids {
        match row(id)? {
            Some(r) if raw(id) >= stored_next => s.fresh.push(r),
            Some(r) => s.maybe_stored.push(r),
            None => s.gone.push(raw(id)),
        }
    }
    Ok(s)
}

/// Makes the rows of the entities `changes` lists match `g`: present ones are written,
/// absent ones deleted, and the semantic rows they own rewritten. `stored` are the next
/// ids the stored program had before this write; `replaced`, what the caller holds of
/// the rows it replaces.
pub fn write_changes<S: RowSink>(
    sink: &mut S,
    program: ProgramId,
    g: &ProgramGraph,
    changes: &ChangeSet,
    stored: NextIds,
    replaced: Replaced<'_>,
) -> StorageResult<SaveReport> {
    let mut n = split(
        &changes.nodes,
        |n| n.0,
        stored.node,
        |n| g.node(n).map(|node| S::node_row(program, n, node)).transpose(),
    )?;
    let nodes_written = n.present();
    // The usual edit rewrites one stored node and keeps its owner, type and callee: it
    // goes first, narrowly, and then was a call as stored exactly when it is one now
    // (its owner is in `affected` below if so), so its old row need not be read.
    let mut kept_refs = None;
    if let [row] = n.maybe_stored.as_slice()
        && sink.rewrite_node_keeping_refs(program, row)?
    {
        kept_refs = changes.nodes.iter().copied().find(|&id| id.0 < stored.node && g.node(id).is_some());
        n.maybe_stored.clear();
    }
    let old_call_owners = stored_call_owners(sink, program, changes, stored, replaced, kept_refs)?;

    let m = split(
        &changes.modules,
        |m| m.0,
        stored.module,
        |m| g.module(m).map(|d| S::module_row(program, d)).transpose(),
    )?;
    let t = split(
        &changes.types,
        |t| t.0,
        stored.type_,
        |t| g.types().get(t).map(|ty| S::type_row(program, t, g.types().name_of(t), ty)).transpose(),
    )?;
    let f = split(
        &changes.functions,
        |f| f.0,
        stored.function,
        |f| g.function(f).map(|d| S::function_row(program, d)).transpose(),
    )?;
    let e = split(&changes.edges, |e| e.0, stored.edge, |e| g.edge(e).map(|v| S::edge_row(program, &v)).transpose())?;

    let written = m.present() + t.present() + f.present() + nodes_written + e.present();
    let mut report = SaveReport { rows_written: written as u64, rows_deleted: 0 };

    sink.insert_modules(program, &m.fresh)?;
    sink.upsert_modules(program, &m.maybe_stored)?;
    sink.insert_types(program, &t.fresh)?;
    sink.upsert_types(program, &t.maybe_stored)?;
    sink.insert_functions(program, &f.fresh)?;
    sink.upsert_functions(program, &f.maybe_stored)?;
    sink.insert_nodes(program, &n.fresh)?;
    sink.upsert_nodes(program, &n.maybe_stored)?;
    sink.insert_edges(program, &e.fresh)?;
    sink.upsert_edges(program, &e.maybe_stored)?;

    // The semantic rows of everything whose skeleton may have changed.
    let mut affected: BTreeSet<SemanticKey> = BTreeSet::new();
    affected.extend(changes.modules.iter().map(|&m| SemanticKey::Module(m)));
    affected.extend(changes.types.iter().map(|&t| SemanticKey::Type(t)));
    affected.extend(changes.functions.iter().map(|&f| SemanticKey::Function(f)));
    affected.extend(
        changes
            .nodes
            .iter()
            .filter_map(|&n| g.node(n))
            .filter(|node| node.op.function_ref().is_some())
            .map(|node| SemanticKey::Function(node.owner)),
    );
    affected.extend(old_call_owners.into_iter().map(SemanticKey::Function));
    sync_semantic(sink, program, g, &affected)?;

    let deleted = sink.delete_edges(program, &e.gone)?
        + sink.delete_nodes(program, &n.gone)?
        + sink.delete_functions(program, &f.gone)?
        + sink.delete_types(program, &t.gone)?
        + sink.delete_modules(program, &m.gone)?;
    report.rows_deleted = deleted as u64;
    Ok(report)
}

/// Rewrites the semantic rows owned by the affected keys.
///
/// Every semantic edge has one owner, whose change is the only thing that can change
/// it: a `Contains` edge belongs to its child (moving a function changes the function),
/// `Calls` and `UsesType` edges to their source (a function's calls change with its
/// nodes, its used types with its signature; types never change). So rewriting the
/// owned edges of every affected key brings the table up to date.
fn sync_semantic<S: RowSink>(
    sink: &mut S,
    program: ProgramId,
    g: &ProgramGraph,
    affected: &BTreeSet<SemanticKey>,
) -> StorageResult<()> {
    if affected.is_empty() {
        return Ok(());
    }
    let sem = g.semantic_graph();
    // Looked up by key: a scan of the semantic graph made every rename or new function
    // cost the program's functions and types.
    let present: Vec<(SemanticKey, NodeIndex)> =
        affected.iter().filter_map(|&k| g.semantic_index_of(k).map(|i| (k, i))).collect();
    let present_keys: BTreeSet<SemanticKey> = present.iter().map(|(k, _)| *k).collect();

    for key in affected {
        sink.delete_owned_semantic_edges(program, *key)?;
    }
    let node_rows =
        present.iter().map(|(_, i)| S::semantic_node_row(program, &sem[*i])).collect::<StorageResult<Vec<_>>>()?;
    sink.upsert_semantic_nodes(program, &node_rows)?;
    let mut edge_rows = Vec::new();
    for (key, i) in &present {
        for e in sem.edges_directed(*i, Direction::Outgoing).filter(|e| *e.weight() != SemanticEdge::Contains) {
            edge_rows.push(S::semantic_edge_row(program, *e.weight(), *key, sem[e.target()].key())?);
        }
        for e in sem.edges_directed(*i, Direction::Incoming).filter(|e| *e.weight() == SemanticEdge::Contains) {
            edge_rows.push(S::semantic_edge_row(program, *e.weight(), sem[e.source()].key(), *key)?);
        }
    }
    sink.insert_semantic_edges(program, &edge_rows)?;
    for key in affected.difference(&present_keys) {
        sink.delete_semantic_node(program, *key)?;
    }
    Ok(())
}
