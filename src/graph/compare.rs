//! Row-level comparison of two graphs: which entities differ by id. Stores use it to
//! save a graph whose edit history they do not know, writing only the rows that differ.

use super::error::Violation;
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
    pub fn with_function_from(
        &self,
        source: &ProgramGraph,
        function: FunctionId,
    ) -> Result<ProgramGraph, Vec<Violation>> {
        let mut doc = self.to_document();
        let Some(def) = source.function(function).cloned() else {
            return Ok(self.clone());
        };
        let old_nodes: BTreeSet<NodeId> = self.function_nodes(function).collect();
        doc.functions.retain(|d| d.id != function);
        doc.functions.push(def);
        doc.functions.sort_by_key(|d| d.id);
        doc.nodes.retain(|n| n.owner != function);
        doc.edges.retain(|e| !old_nodes.contains(&e.source) && !old_nodes.contains(&e.target));
        let new_nodes: BTreeSet<NodeId> = source.function_nodes(function).collect();
        let src = source.to_document();
        doc.nodes.extend(src.nodes.into_iter().filter(|n| n.owner == function));
        doc.edges.extend(src.edges.into_iter().filter(|e| new_nodes.contains(&e.source)));
        doc.nodes.sort_by_key(|n| n.id);
        doc.edges.sort_by_key(|e| e.id);
        doc.next_ids = self.next_ids().max(source.next_ids());
        ProgramGraph::from_document(doc)
    }
}
