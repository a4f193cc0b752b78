//! The semantic graph: modules, functions and named types joined by `Contains`,
//! `Calls` and `UsesType`.
//!
//! It is derived data. `ProgramGraph` updates it on every edit, and rebuilds it when a
//! graph is assembled from stored parts, so it cannot disagree with the modules,
//! functions, types and ops it summarises. `Calls` edges are counted: a function that
//! calls another from three nodes has one edge, which goes when the last call does.

use crate::model::{SemanticEdge, SemanticKey, SemanticNode};
use petgraph::Direction;
use petgraph::graph::{EdgeIndex, NodeIndex};
use petgraph::stable_graph::StableGraph;
use petgraph::visit::EdgeRef;
use std::collections::{BTreeMap, BTreeSet, HashMap};

type EdgeKey = (SemanticEdge, SemanticKey, SemanticKey);

#[derive(Debug, Clone, Default)]
pub(crate) struct SemanticIndex {
    graph: StableGraph<SemanticNode, SemanticEdge>,
    nodes: HashMap<SemanticKey, NodeIndex>,
    edges: HashMap<EdgeKey, (EdgeIndex, u32)>,
}

impl SemanticIndex {
    pub(crate) fn graph(&self) -> &StableGraph<SemanticNode, SemanticEdge> {
        &self.graph
    }

    /// Where the node for `key` is in [`graph`](Self::graph), if there is one.
    pub(crate) fn index_of(&self, key: SemanticKey) -> Option<NodeIndex> {
        self.nodes.get(&key).copied()
    }

    pub(crate) fn node(&self, key: SemanticKey) -> Option<&SemanticNode> {
        self.nodes.get(&key).and_then(|i| self.graph.node_weight(*i))
    }

    /// Inserts or replaces the node for `node.key()`, keeping its edges.
    pub(crate) fn upsert(&mut self, node: SemanticNode) {
        let key = node.key();
        match self.nodes.get(&key) {
            Some(index) => self.graph[*index] = node,
            None => {
                let index = self.graph.add_node(node);
                self.nodes.insert(key, index);
            }
        }
    }

    /// Removes a node and every edge that touches it. Costs the node's degree, not the
    /// size of the graph.
    pub(crate) fn remove(&mut self, key: SemanticKey) {
        if let Some(index) = self.nodes.remove(&key) {
            let touching: Vec<EdgeKey> = self
                .graph
                .edges_directed(index, Direction::Outgoing)
                .chain(self.graph.edges_directed(index, Direction::Incoming))
                .map(|e| (*e.weight(), self.graph[e.source()].key(), self.graph[e.target()].key()))
                .collect();
            for k in touching {
                self.edges.remove(&k);
            }
            self.graph.remove_node(index);
        }
    }

    /// Adds one reference along `kind`; the edge appears with the first reference.
    pub(crate) fn link(&mut self, kind: SemanticEdge, from: SemanticKey, to: SemanticKey) {
        let (Some(&a), Some(&b)) = (self.nodes.get(&from), self.nodes.get(&to)) else {
            return;
        };
        let entry = self.edges.entry((kind, from, to)).or_insert_with(|| (self.graph.add_edge(a, b, kind), 0));
        entry.1 += 1;
    }

    /// Drops one reference along `kind`; the edge goes with the last one.
    pub(crate) fn unlink(&mut self, kind: SemanticEdge, from: SemanticKey, to: SemanticKey) {
        if let Some(entry) = self.edges.get_mut(&(kind, from, to)) {
            entry.1 -= 1;
            if entry.1 == 0 {
                let index = entry.0;
                self.edges.remove(&(kind, from, to));
                self.graph.remove_edge(index);
            }
        }
    }

    /// Drops every outgoing edge of `kind` from `from` (before re-deriving them). Walks
    /// the node's own edges: every function edit calls this, and a scan of all edges
    /// made such an edit cost the size of the program.
    pub(crate) fn unlink_all_from(&mut self, kind: SemanticEdge, from: SemanticKey) {
        let Some(&index) = self.nodes.get(&from) else { return };
        let doomed: Vec<EdgeKey> = self
            .graph
            .edges_directed(index, Direction::Outgoing)
            .filter(|e| *e.weight() == kind)
            .map(|e| (kind, from, self.graph[e.target()].key()))
            .collect();
        for key in doomed {
            if let Some((edge, _)) = self.edges.remove(&key) {
                self.graph.remove_edge(edge);
            }
        }
    }

    /// Sources of incoming edges of `kind` into `to`.
    pub(crate) fn sources_into(&self, kind: SemanticEdge, to: SemanticKey) -> Vec<SemanticKey> {
        let Some(&index) = self.nodes.get(&to) else { return Vec::new() };
        self.graph
            .edges_directed(index, Direction::Incoming)
            .filter(|e| *e.weight() == kind)
            .map(|e| self.graph[e.source()].key())
            .collect()
    }

    /// The nodes, by key.
    pub(crate) fn node_set(&self) -> BTreeMap<SemanticKey, &SemanticNode> {
        self.graph.node_weights().map(|n| (n.key(), n)).collect()
    }

    /// The edges with their multiplicity, in a canonical order.
    pub(crate) fn edge_set(&self) -> BTreeSet<(EdgeKey, u32)> {
        self.edges.iter().map(|(k, (_, n))| (*k, *n)).collect()
    }
}

impl PartialEq for SemanticIndex {
    fn eq(&self, other: &Self) -> bool {
        self.node_set() == other.node_set() && self.edge_set() == other.edge_set()
    }
}
