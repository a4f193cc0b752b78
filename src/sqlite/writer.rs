//! The mapper, write side: a graph, or the part of it that changed, to rows.
//!
//! Order keeps foreign keys true at every statement: rows are written parents first
//! (modules, types, functions, nodes, edges, then the semantic tables) and deleted
//! children first. The one cycle, a function's entry node, is checked at commit.
//!
//! Rows whose id is at or past the program's stored next id cannot exist yet, so they
//! are plain inserts (cached statements); older ids are upserts. A new node, the
//! commonest edit, is therefore one cached `INSERT`.

use super::codec::{cell_id, corrupt};
use super::tables::semantic::{SemanticEdgeRow, SemanticNodeRow};
use super::tables::{edges, functions, modules, nodes, semantic, types};
use crate::graph::{ChangeSet, NextIds, ProgramGraph};
use crate::model::{FunctionId, SemanticEdge, SemanticKey};
use crate::store::{ProgramId, SaveReport, StorageResult};
use diesel::sqlite::SqliteConnection;
use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use std::collections::BTreeSet;

/// Rows built and written per batch on the bulk path, so memory stays bounded for
/// programs of millions of nodes.
const BATCH: usize = 8 * super::tables::CHUNK;

/// Writes every row of a graph into a program that has none yet.
pub fn write_all(conn: &mut SqliteConnection, program: ProgramId, g: &ProgramGraph) -> StorageResult<SaveReport> {
    let mut written = 0usize;
    let module_rows: Vec<_> = g.modules().iter().map(|m| modules::ModuleRow::new(program, m)).collect();
    written += modules::insert(conn, &module_rows)?;
    let type_rows = g
        .types()
        .iter()
        .filter(|(id, _)| !id.is_builtin())
        .map(|(id, ty)| types::TypeRow::new(program, id, g.types().name_of(id), ty))
        .collect::<StorageResult<Vec<_>>>()?;
    written += types::insert(conn, &type_rows)?;
    // Functions go in before their nodes (a node's owner must exist), but their entry
    // nodes only after: a pending reference would make SQLite search the functions for
    // every node inserted meanwhile.
    let mut function_rows =
        g.functions().map(|f| functions::FunctionRow::new(program, f)).collect::<StorageResult<Vec<_>>>()?;
    let with_entry: Vec<_> = function_rows.iter().filter(|f| f.entry_node_id.is_some()).cloned().collect();
    for row in &mut function_rows {
        row.entry_node_id = None;
    }
    written += functions::insert(conn, &function_rows)?;

    // Nodes function by function: the table's key order, so inserts append.
    let mut batch = Vec::with_capacity(BATCH);
    for f in g.functions() {
        for id in g.function_nodes(f.id) {
            if let Some(node) = g.node(id) {
                batch.push(nodes::NodeRow::new(program, id, node)?);
            }
            if batch.len() == BATCH {
                written += nodes::insert(conn, &batch)?;
                batch.clear();
            }
        }
    }
    written += nodes::insert(conn, &batch)?;
    functions::upsert(conn, &with_entry)?;

    let mut batch = Vec::with_capacity(BATCH);
    for e in g.edges() {
        batch.push(edges::EdgeRow::new(program, &e));
        if batch.len() == BATCH {
            written += edges::insert(conn, &batch)?;
            batch.clear();
        }
    }
    written += edges::insert(conn, &batch)?;

    write_all_semantic(conn, program, g)?;
    Ok(SaveReport { rows_written: written as u64, rows_deleted: 0 })
}

fn write_all_semantic(conn: &mut SqliteConnection, program: ProgramId, g: &ProgramGraph) -> StorageResult<()> {
    let sem = g.semantic_graph();
    let node_rows = sem.node_weights().map(|n| SemanticNodeRow::new(program, n)).collect::<StorageResult<Vec<_>>>()?;
    semantic::insert_nodes(conn, &node_rows)?;
    let edge_rows: Vec<_> = sem
        .edge_references()
        .map(|e| SemanticEdgeRow::new(program, *e.weight(), sem[e.source()].key(), sem[e.target()].key()))
        .collect();
    semantic::insert_edges(conn, &edge_rows)?;
    Ok(())
}

/// Ids of one kind of entity that changed: those the graph has (to write, split by
/// whether they may already be stored) and those it lacks (to delete).
struct Split<T> {
    fresh: Vec<T>,
    maybe_stored: Vec<T>,
    gone: Vec<i64>,
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
            None => s.gone.push(raw(id).into()),
        }
    }
    Ok(s)
}

/// Makes the rows of the listed entities match `g`. `stored` are the next ids the
/// stored program had before this write.
pub fn write_changes(
    conn: &mut SqliteConnection,
    program: ProgramId,
    g: &ProgramGraph,
    changes: &ChangeSet,
    stored: NextIds,
) -> StorageResult<SaveReport> {
    // Owners of stored call nodes about to be rewritten: their `Calls` edges may change.
    let old_nodes: Vec<i64> = changes.nodes.iter().filter(|n| n.0 < stored.node).map(|n| i64::from(n.0)).collect();
    let old_call_owners =
        if old_nodes.is_empty() { Vec::new() } else { nodes::call_owners(conn, program.0, &old_nodes)? };

    let m = split(
        &changes.modules,
        |m| m.0,
        stored.module,
        |m| Ok(g.module(m).map(|d| modules::ModuleRow::new(program, d))),
    )?;
    let t = split(
        &changes.types,
        |t| t.0,
        stored.type_,
        |t| g.types().get(t).map(|ty| types::TypeRow::new(program, t, g.types().name_of(t), ty)).transpose(),
    )?;
    let f = split(
        &changes.functions,
        |f| f.0,
        stored.function,
        |f| g.function(f).map(|d| functions::FunctionRow::new(program, d)).transpose(),
    )?;
    let n = split(
        &changes.nodes,
        |n| n.0,
        stored.node,
        |n| g.node(n).map(|node| nodes::NodeRow::new(program, n, node)).transpose(),
    )?;
    let e = split(&changes.edges, |e| e.0, stored.edge, |e| Ok(g.edge(e).map(|v| edges::EdgeRow::new(program, &v))))?;

    let mut report = SaveReport::default();
    let written = m.fresh.len()
        + m.maybe_stored.len()
        + t.fresh.len()
        + t.maybe_stored.len()
        + f.fresh.len()
        + f.maybe_stored.len()
        + n.fresh.len()
        + n.maybe_stored.len()
        + e.fresh.len()
        + e.maybe_stored.len();
    report.rows_written = written as u64;

    modules::insert(conn, &m.fresh)?;
    modules::upsert(conn, &m.maybe_stored)?;
    types::insert(conn, &t.fresh)?;
    types::upsert(conn, &t.maybe_stored)?;
    functions::insert(conn, &f.fresh)?;
    functions::upsert(conn, &f.maybe_stored)?;
    nodes::insert(conn, &n.fresh)?;
    nodes::upsert(conn, &n.maybe_stored)?;
    edges::insert(conn, &e.fresh)?;
    edges::upsert(conn, &e.maybe_stored)?;

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
    for owner in old_call_owners {
        let owner = cell_id(owner)
            .map_err(|e| corrupt("lmlang_compute_nodes", format!("program {program}, an owner_id"), e))?;
        affected.insert(SemanticKey::Function(FunctionId(owner)));
    }
    sync_semantic(conn, program, g, &affected)?;

    let deleted = edges::delete(conn, program.0, &e.gone)?
        + nodes::delete(conn, program.0, &n.gone)?
        + functions::delete(conn, program.0, &f.gone)?
        + types::delete(conn, program.0, &t.gone)?
        + modules::delete(conn, program.0, &m.gone)?;
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
fn sync_semantic(
    conn: &mut SqliteConnection,
    program: ProgramId,
    g: &ProgramGraph,
    affected: &BTreeSet<SemanticKey>,
) -> StorageResult<()> {
    if affected.is_empty() {
        return Ok(());
    }
    let sem = g.semantic_graph();
    let present: Vec<(SemanticKey, NodeIndex)> =
        sem.node_indices().map(|i| (sem[i].key(), i)).filter(|(k, _)| affected.contains(k)).collect();
    let present_keys: BTreeSet<SemanticKey> = present.iter().map(|(k, _)| *k).collect();

    for key in affected {
        semantic::delete_owned_edges(conn, program, *key)?;
    }
    let node_rows =
        present.iter().map(|(_, i)| SemanticNodeRow::new(program, &sem[*i])).collect::<StorageResult<Vec<_>>>()?;
    semantic::upsert_nodes(conn, &node_rows)?;
    let mut edge_rows = Vec::new();
    for (key, i) in &present {
        for e in sem.edges_directed(*i, Direction::Outgoing).filter(|e| *e.weight() != SemanticEdge::Contains) {
            edge_rows.push(SemanticEdgeRow::new(program, *e.weight(), *key, sem[e.target()].key()));
        }
        for e in sem.edges_directed(*i, Direction::Incoming).filter(|e| *e.weight() == SemanticEdge::Contains) {
            edge_rows.push(SemanticEdgeRow::new(program, *e.weight(), sem[e.source()].key(), *key));
        }
    }
    semantic::insert_edges(conn, &edge_rows)?;
    for key in affected.difference(&present_keys) {
        semantic::delete_node(conn, program, *key)?;
    }
    Ok(())
}
