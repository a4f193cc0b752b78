//! A commit's delta: the previous contents of every entity it changed, and how deltas
//! are applied to a program to step it back.
//!
//! Encoded as compact JSON (one-letter keys, the model's own serde forms, the same
//! values the document format carries), so a one-node edit's delta is one node row of
//! a few dozen bytes plus the five next ids.

use super::super::error::{StorageError, StorageResult};
use super::super::types::ProgramId;
use crate::graph::{ChangeSet, EdgeEntry, NextIds, NodeEntry, ProgramDocument, ProgramGraph, TypeEntry};
use crate::model::{EdgeId, FunctionDef, FunctionId, ModuleDef, ModuleId, NodeId, TypeId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Stored rows of some entities (the present ones of a set of ids): what a backend
/// reads back so the engine can record what a write is about to replace.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct EntityRows {
    /// Modules.
    pub modules: Vec<ModuleDef>,
    /// User types.
    pub types: Vec<TypeEntry>,
    /// Function definitions.
    pub functions: Vec<FunctionDef>,
    /// Compute nodes.
    pub nodes: Vec<NodeEntry>,
    /// Flow edges.
    pub edges: Vec<EdgeEntry>,
}

impl EntityRows {
    /// The listed entities that `graph` has, as rows.
    pub fn from_graph(graph: &ProgramGraph, ids: &ChangeSet) -> Self {
        let types = graph.types();
        EntityRows {
            modules: ids.modules.iter().filter_map(|m| graph.module(*m).cloned()).collect(),
            types: ids
                .types
                .iter()
                .filter_map(|t| {
                    types.get(*t).map(|ty| TypeEntry { id: *t, name: types.name_of(*t).cloned(), ty: ty.clone() })
                })
                .collect(),
            functions: ids.functions.iter().filter_map(|f| graph.function(*f).cloned()).collect(),
            nodes: ids
                .nodes
                .iter()
                .filter_map(|n| graph.node(*n).map(|c| NodeEntry { id: *n, owner: c.owner, op: c.op.clone() }))
                .collect(),
            edges: ids
                .edges
                .iter()
                .filter_map(|e| graph.edge(*e))
                .map(|v| EdgeEntry { id: v.id, source: v.source, target: v.target, edge: v.edge })
                .collect(),
        }
    }
}

/// The previous state of what one commit changed: present entities with their old
/// contents, absent ones (created by the commit) by id, and the next ids before it.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Delta {
    /// Next ids before the commit: node, edge, function, module, type.
    #[serde(rename = "i")]
    next: [u32; 5],
    #[serde(rename = "m", default, skip_serializing_if = "Vec::is_empty")]
    modules: Vec<ModuleDef>,
    #[serde(rename = "M", default, skip_serializing_if = "Vec::is_empty")]
    no_modules: Vec<u32>,
    #[serde(rename = "t", default, skip_serializing_if = "Vec::is_empty")]
    types: Vec<TypeEntry>,
    #[serde(rename = "T", default, skip_serializing_if = "Vec::is_empty")]
    no_types: Vec<u32>,
    #[serde(rename = "f", default, skip_serializing_if = "Vec::is_empty")]
    functions: Vec<FunctionDef>,
    #[serde(rename = "F", default, skip_serializing_if = "Vec::is_empty")]
    no_functions: Vec<u32>,
    #[serde(rename = "n", default, skip_serializing_if = "Vec::is_empty")]
    nodes: Vec<NodeEntry>,
    #[serde(rename = "N", default, skip_serializing_if = "Vec::is_empty")]
    no_nodes: Vec<u32>,
    #[serde(rename = "e", default, skip_serializing_if = "Vec::is_empty")]
    edges: Vec<EdgeEntry>,
    #[serde(rename = "E", default, skip_serializing_if = "Vec::is_empty")]
    no_edges: Vec<u32>,
}

/// The ids of `changed` that `present` does not hold.
fn absent<T>(changed: impl Iterator<Item = u32>, present: &[T], id: impl Fn(&T) -> u32) -> Vec<u32> {
    let have: std::collections::BTreeSet<u32> = present.iter().map(id).collect();
    changed.filter(|i| !have.contains(i)).collect()
}

impl Delta {
    /// The delta of a commit that changes `changed`, whose stored rows before it are
    /// `before` (the present ones) and whose next ids were `next`.
    pub(crate) fn new(next: NextIds, before: EntityRows, changed: &ChangeSet) -> Self {
        Delta {
            next: [next.node, next.edge, next.function, next.module, next.type_],
            no_modules: absent(changed.modules.iter().map(|m| m.0), &before.modules, |m| m.id.0),
            no_types: absent(changed.types.iter().map(|t| t.0), &before.types, |t| t.id.0),
            no_functions: absent(changed.functions.iter().map(|f| f.0), &before.functions, |f| f.id.0),
            no_nodes: absent(changed.nodes.iter().map(|n| n.0), &before.nodes, |n| n.id.0),
            no_edges: absent(changed.edges.iter().map(|e| e.0), &before.edges, |e| e.id.0),
            modules: before.modules,
            types: before.types,
            functions: before.functions,
            nodes: before.nodes,
            edges: before.edges,
        }
    }

    pub(crate) fn encode(&self) -> StorageResult<Vec<u8>> {
        Ok(serde_json::to_vec(self)?)
    }

    /// Decodes a stored delta; a broken one is `Corrupt`, naming its row.
    pub(crate) fn decode(program: ProgramId, revision: u64, bytes: &[u8]) -> StorageResult<Self> {
        serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt {
            table: "lmlang_history",
            key: format!("program {program} revision {revision}"),
            detail: format!("delta: {e}"),
        })
    }

    /// The stored rows of the changed nodes before the commit.
    pub(crate) fn nodes_before(&self) -> &[NodeEntry] {
        &self.nodes
    }

    /// The next ids before the commit.
    pub(crate) fn next_ids(&self) -> NextIds {
        let [node, edge, function, module, type_] = self.next;
        NextIds { node, edge, function, module, type_ }
    }

    /// The entities applying this delta rewrites, as a change set.
    pub(crate) fn changes(&self) -> ChangeSet {
        fn ids<T, I: Ord>(present: &[T], gone: &[u32], id: impl Fn(&T) -> u32, make: impl Fn(u32) -> I) -> Vec<I> {
            let mut all: Vec<I> = present.iter().map(&id).chain(gone.iter().copied()).map(make).collect();
            all.sort_unstable();
            all.dedup();
            all
        }
        ChangeSet {
            modules: ids(&self.modules, &self.no_modules, |m| m.id.0, ModuleId),
            types: ids(&self.types, &self.no_types, |t| t.id.0, TypeId),
            functions: ids(&self.functions, &self.no_functions, |f| f.id.0, FunctionId),
            nodes: ids(&self.nodes, &self.no_nodes, |n| n.id.0, NodeId),
            edges: ids(&self.edges, &self.no_edges, |e| e.id.0, EdgeId),
        }
    }
}

/// Deltas gathered newest first and applied to a program's document in one pass: the
/// oldest delta's content for an entity wins, as if each had been applied in turn.
#[derive(Default)]
pub(crate) struct Patch {
    next: Option<NextIds>,
    modules: BTreeMap<u32, Option<ModuleDef>>,
    types: BTreeMap<u32, Option<TypeEntry>>,
    functions: BTreeMap<u32, Option<FunctionDef>>,
    nodes: BTreeMap<u32, Option<NodeEntry>>,
    edges: BTreeMap<u32, Option<EdgeEntry>>,
}

fn put<T>(map: &mut BTreeMap<u32, Option<T>>, present: Vec<T>, gone: Vec<u32>, id: impl Fn(&T) -> u32) {
    for row in present {
        map.insert(id(&row), Some(row));
    }
    for i in gone {
        map.insert(i, None);
    }
}

/// `rows` (any order) with `patch` applied: patched ids replaced or removed, new ones
/// added, in id order.
fn merge<T>(mut rows: Vec<T>, patch: BTreeMap<u32, Option<T>>, id: impl Fn(&T) -> u32) -> Vec<T> {
    if patch.is_empty() {
        return rows;
    }
    if !rows.is_sorted_by_key(&id) {
        rows.sort_by_key(&id);
    }
    let mut out = Vec::with_capacity(rows.len() + patch.len());
    let mut patch = patch.into_iter().peekable();
    for row in rows {
        let rid = id(&row);
        while let Some((_, value)) = patch.next_if(|(pid, _)| *pid < rid) {
            out.extend(value);
        }
        match patch.next_if(|(pid, _)| *pid == rid) {
            Some((_, value)) => out.extend(value),
            None => out.push(row),
        }
    }
    out.extend(patch.filter_map(|(_, value)| value));
    out
}

impl Patch {
    /// Adds a delta older than every one added so far.
    pub(crate) fn push_older(&mut self, d: Delta) {
        self.next = Some(d.next_ids());
        put(&mut self.modules, d.modules, d.no_modules, |m| m.id.0);
        put(&mut self.types, d.types, d.no_types, |t| t.id.0);
        put(&mut self.functions, d.functions, d.no_functions, |f| f.id.0);
        put(&mut self.nodes, d.nodes, d.no_nodes, |n| n.id.0);
        put(&mut self.edges, d.edges, d.no_edges, |e| e.id.0);
    }

    /// `doc` stepped back through every delta added. With `keep_next_ids` the next ids
    /// stay `doc`'s (an undo never gives ids back); otherwise they are those before the
    /// oldest delta's commit (a checkout shows the program exactly as it was).
    pub(crate) fn apply(self, mut doc: ProgramDocument, keep_next_ids: bool) -> ProgramDocument {
        if !keep_next_ids && let Some(next) = self.next {
            doc.next_ids = next;
        }
        doc.modules = merge(doc.modules, self.modules, |m| m.id.0);
        doc.types = merge(doc.types, self.types, |t| t.id.0);
        doc.functions = merge(doc.functions, self.functions, |f| f.id.0);
        doc.nodes = merge(doc.nodes, self.nodes, |n| n.id.0);
        doc.edges = merge(doc.edges, self.edges, |e| e.id.0);
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_removes_and_inserts_in_id_order() {
        let patch: BTreeMap<u32, Option<u32>> = [(0, Some(0)), (2, None), (3, Some(30)), (9, Some(9))].into();
        assert_eq!(merge(vec![1, 2, 3, 5], patch, |v| *v % 10), vec![0, 1, 30, 5, 9]);
    }

    #[test]
    fn an_empty_delta_round_trips_in_a_few_bytes() {
        let d = Delta::default();
        let bytes = d.encode().unwrap();
        assert!(bytes.len() < 24, "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(Delta::decode(ProgramId(1), 1, &bytes).unwrap(), d);
    }
}
