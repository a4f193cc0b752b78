//! Row-level comparison of two graphs: which entities differ by id. Stores use it to
//! save a graph whose edit history they do not know, writing only the rows that differ.

use super::document::{EdgeEntry, NodeEntry};
use super::error::{Entity, Violation};
use super::journal::ChangeSet;
use super::program::ProgramGraph;
use crate::model::{EdgeId, FunctionId, ModuleId, NodeId, TypeId};
use std::collections::BTreeSet;

impl ProgramGraph {
    /// The entities whose stored form differs between `self` and `other`: each listed
    /// id is to be written from `other` if it has it, deleted otherwise.
    pub fn differences(&self, other: &ProgramGraph) -> ChangeSet {
        let module_ids: BTreeSet<ModuleId> = self.modules.iter().chain(other.modules.iter()).map(|m| m.id).collect();
        let type_ids: BTreeSet<TypeId> =
            self.types.iter().chain(other.types.iter()).map(|(id, _)| id).filter(|t| !t.is_builtin()).collect();
        let function_ids: BTreeSet<FunctionId> = self.functions.keys().chain(other.functions.keys()).copied().collect();
        let node_bound = self.node_index.len().max(other.node_index.len()) as u32;
        let edge_bound = self.edge_index.len().max(other.edge_index.len()) as u32;
        ChangeSet {
            modules: module_ids.into_iter().filter(|m| self.module(*m) != other.module(*m)).collect(),
            types: type_ids
                .into_iter()
                .filter(|t| {
                    self.types.get(*t) != other.types.get(*t) || self.types.name_of(*t) != other.types.name_of(*t)
                })
                .collect(),
            functions: function_ids.into_iter().filter(|f| self.function(*f) != other.function(*f)).collect(),
            nodes: (0..node_bound).map(NodeId).filter(|n| self.node(*n) != other.node(*n)).collect(),
            edges: (0..edge_bound).map(EdgeId).filter(|e| self.edge(*e) != other.edge(*e)).collect(),
        }
    }

    /// This graph with one function (definition, nodes and edges) taken from `source`.
    /// Fails with the violations if the result is not whole, for example when the
    /// function calls something this graph lacks or its node ids are taken here.
    /// Names are held to the rule of stored rows (`NameRule::Stored`), since this graph
    /// may be a program stored before the current rule; the function's own name, when
    /// `source` gives it a new one, to the current rule (`source` may be a document
    /// nobody validated, and a new name must be one the store can export and import).
    pub fn with_function_from(
        &self,
        source: &ProgramGraph,
        function: FunctionId,
    ) -> Result<ProgramGraph, Vec<Violation>> {
        let mut doc = self.to_document();
        let Some(def) = source.function(function).cloned() else {
            return Ok(self.clone());
        };
        let renamed = self.function(function).is_none_or(|kept| kept.name != def.name);
        if renamed && let Err(e) = super::edit::check_name(&def.name) {
            return Err(vec![Violation::new(Entity::Function(function), e.to_string())]);
        }
        let old_nodes: BTreeSet<NodeId> = self.function_nodes(function).collect();
        doc.functions.retain(|d| d.id != function);
        doc.functions.push(def);
        doc.functions.sort_by_key(|d| d.id);
        doc.nodes.retain(|n| n.owner != function);
        doc.edges.retain(|e| !old_nodes.contains(&e.source) && !old_nodes.contains(&e.target));
        // The function's part of `source` only, not a document of all of it.
        for id in source.function_nodes(function) {
            if let Some(node) = source.node(id) {
                doc.nodes.push(NodeEntry { id, owner: node.owner, op: node.op.clone() });
            }
            doc.edges.extend(source.outgoing(id).into_iter().map(|e| EdgeEntry {
                id: e.id,
                source: e.source,
                target: e.target,
                edge: e.edge,
            }));
        }
        doc.nodes.sort_by_key(|n| n.id);
        doc.edges.sort_by_key(|e| e.id);
        doc.next_ids = self.next_ids().max(source.next_ids());
        ProgramGraph::from_stored(doc)
    }

    /// What differs between this graph and `merged`, which
    /// [`with_function_from`](Self::with_function_from) made from it for `function`:
    /// the same as [`differences`](Self::differences), found in time proportional to
    /// the function rather than the program, since nothing else can differ (edges
    /// never leave their function).
    pub fn function_differences(&self, merged: &ProgramGraph, function: FunctionId) -> ChangeSet {
        let nodes: BTreeSet<NodeId> = self.function_nodes(function).chain(merged.function_nodes(function)).collect();
        let mut edges = BTreeSet::new();
        for g in [self, merged] {
            for n in &nodes {
                edges.extend(g.outgoing(*n).into_iter().chain(g.incoming(*n)).map(|e| e.id));
            }
        }
        ChangeSet {
            modules: Vec::new(),
            types: Vec::new(),
            functions: if self.function(function) != merged.function(function) { vec![function] } else { Vec::new() },
            nodes: nodes.into_iter().filter(|n| self.node(*n) != merged.node(*n)).collect(),
            edges: edges.into_iter().filter(|e| self.edge(*e) != merged.edge(*e)).collect(),
        }
    }
}
