//! Incremental maintenance: after an edit, recompute only the hashes it can reach.
//!
//! An edit dirties some Merkle hashes (an op changed, a data input came or went), some
//! neighbour sums (an edge came or went) and some signatures. Settling then runs three
//! waves, each touching only what the previous one changed:
//! 1. Merkle hashes of the dirty nodes and their data descendants, in data order; each
//!    changed hash is swapped in the neighbour sums of the nodes that refer to it;
//! 2. contexts of the nodes whose Merkle hash or neighbour sum changed;
//! 3. control edges at a node whose context changed;
//!
//! then the roots of the functions touched and their members of the program's function
//! sum, each in O(1) thanks to the multiset sums. A plain node addition costs O(1); a
//! rewire costs the data descendants of its target plus the degrees of the nodes whose
//! hashes changed.

use super::encode::{self, Domain};
use super::index::{HashIndex, NodeHashes, put, slot};
use super::neighbour::{Relation, delta, term};
use super::{ContentHash, Touched};
use crate::graph::{EdgeView, ProgramGraph};
use crate::model::{EdgeId, FlowEdge, FunctionId, ModuleId, NodeId};
use petgraph::Direction;
use petgraph::visit::EdgeRef;
use std::collections::{BTreeSet, HashMap, HashSet};

/// What is dirty after an edit, before settling.
#[derive(Default)]
struct Dirty {
    merkle: Vec<NodeId>,
    contexts: Vec<NodeId>,
    edges: Vec<EdgeId>,
    signatures: BTreeSet<FunctionId>,
    roots: BTreeSet<FunctionId>,
}

impl HashIndex {
    /// Brings the index up to date with `g` after the edit described by `touched`.
    pub(crate) fn update(&mut self, g: &ProgramGraph, touched: Touched) {
        let mut dirty = Dirty::default();
        match touched {
            Touched::Modules => self.refresh_modules(g),
            Touched::ModuleRenamed(m) => {
                if m != ModuleId::ROOT {
                    // Every path below the module changed: calls, closures, named types.
                    // Rare enough that a linear rebuild is the simple, safe answer.
                    *self = HashIndex::build(g);
                    return;
                }
                // Paths are relative to the root: only the program root names it.
                self.refresh_root_module(g);
            }
            Touched::Type(t) => {
                if g.types().name_of(t).is_some() {
                    let h = self.types.definition(g, t);
                    self.type_defs.insert(h);
                }
            }
            Touched::Function(f) => {
                self.functions.entry(f).or_default();
                dirty.signatures.insert(f);
            }
            Touched::Renamed(f) => {
                dirty.signatures.insert(f);
                for caller in g.callers(f) {
                    let refers = |n: &NodeId| g.node(*n).and_then(|x| x.op.function_ref()) == Some(f);
                    dirty.merkle.extend(g.function_nodes(caller).filter(refers));
                }
                dirty.signatures.extend(g.functions().filter(|c| c.parent_function == Some(f)).map(|c| c.id));
            }
            Touched::FunctionRemoved { id, nodes, edges } => {
                for n in nodes {
                    put(&mut self.nodes, n.index(), None);
                }
                for e in edges {
                    put(&mut self.control, e.index(), None);
                }
                if let Some(share) = self.functions.remove(&id).and_then(|h| h.share) {
                    self.function_shares.remove(share);
                }
            }
            Touched::NodeAdded(n) => self.node_added(g, n, &mut dirty),
            Touched::OpChanged(n) => dirty.merkle.push(n),
            Touched::NodeRemoved { node, owner, edges } => self.node_removed(node, owner, &edges, &mut dirty),
            Touched::EdgeAdded(e) => self.edge_added(&e, &mut dirty),
            Touched::EdgeRemoved(e) => {
                let owner = g.node(e.source).map(|n| n.owner);
                self.edge_removed(&e, owner, &mut dirty);
            }
        }
        self.settle(g, dirty);
    }

    fn node_added(&mut self, g: &ProgramGraph, n: NodeId, dirty: &mut Dirty) {
        let merkle = self.merkle_of(g, n);
        let context = encode::pair(Domain::NodeContext, &merkle, &NodeHashes::default().neighbours);
        put(&mut self.nodes, n.index(), Some(NodeHashes { merkle, context, ..NodeHashes::default() }));
        if let Some(owner) = g.node(n).map(|x| x.owner) {
            if let Some(f) = self.functions.get_mut(&owner) {
                f.contexts.insert(context);
            }
            dirty.roots.insert(owner);
        }
    }

    /// Takes a removed node's terms out of its neighbours' sums (its edges are gone
    /// from the graph, its hashes still here), then forgets it.
    fn node_removed(&mut self, node: NodeId, owner: FunctionId, edges: &[EdgeView], dirty: &mut Dirty) {
        let Some(old) = slot(&self.nodes, node.index()) else { return };
        for e in edges {
            let (into, out_of) = (e.target == node, e.source == node);
            match e.edge {
                FlowEdge::Data { target_port, .. } => {
                    if into && !out_of {
                        self.remove_term(e.source, term(Relation::DataUse, Some(target_port), &old.merkle));
                        dirty.contexts.push(e.source);
                    } else if out_of && !into {
                        dirty.merkle.push(e.target);
                    }
                }
                FlowEdge::Control { branch_index } => {
                    if into && !out_of {
                        self.remove_term(e.source, term(Relation::ControlOut, branch_index, &old.merkle));
                        dirty.contexts.push(e.source);
                    } else if out_of && !into {
                        self.remove_term(e.target, term(Relation::ControlIn, branch_index, &old.merkle));
                        dirty.contexts.push(e.target);
                    }
                    self.drop_control(Some(owner), e.id);
                }
            }
        }
        if let Some(f) = self.functions.get_mut(&owner) {
            f.contexts.remove(old.context);
        }
        put(&mut self.nodes, node.index(), None);
        dirty.roots.insert(owner);
    }

    fn edge_added(&mut self, e: &EdgeView, dirty: &mut Dirty) {
        match e.edge {
            FlowEdge::Data { target_port, .. } => {
                if let Some(target) = self.merkle(e.target) {
                    self.add_term(e.source, term(Relation::DataUse, Some(target_port), &target));
                    dirty.contexts.push(e.source);
                }
                dirty.merkle.push(e.target);
            }
            FlowEdge::Control { branch_index } => {
                if let (Some(source), Some(target)) = (self.merkle(e.source), self.merkle(e.target)) {
                    self.add_term(e.source, term(Relation::ControlOut, branch_index, &target));
                    self.add_term(e.target, term(Relation::ControlIn, branch_index, &source));
                    dirty.contexts.extend([e.source, e.target]);
                }
                dirty.edges.push(e.id);
            }
        }
    }

    fn edge_removed(&mut self, e: &EdgeView, owner: Option<FunctionId>, dirty: &mut Dirty) {
        match e.edge {
            FlowEdge::Data { target_port, .. } => {
                if let Some(target) = self.merkle(e.target) {
                    self.remove_term(e.source, term(Relation::DataUse, Some(target_port), &target));
                    dirty.contexts.push(e.source);
                }
                dirty.merkle.push(e.target);
            }
            FlowEdge::Control { branch_index } => {
                if let (Some(source), Some(target)) = (self.merkle(e.source), self.merkle(e.target)) {
                    self.remove_term(e.source, term(Relation::ControlOut, branch_index, &target));
                    self.remove_term(e.target, term(Relation::ControlIn, branch_index, &source));
                    dirty.contexts.extend([e.source, e.target]);
                }
                self.drop_control(owner, e.id);
            }
        }
        dirty.roots.extend(owner);
    }

    fn drop_control(&mut self, owner: Option<FunctionId>, e: EdgeId) {
        let Some(old) = slot(&self.control, e.index()) else { return };
        put(&mut self.control, e.index(), None);
        if let Some(f) = owner.and_then(|o| self.functions.get_mut(&o)) {
            f.control_edges.remove(old);
        }
    }

    /// The three waves, then the roots.
    fn settle(&mut self, g: &ProgramGraph, mut dirty: Dirty) {
        if !dirty.merkle.is_empty() {
            for n in data_order(g, data_descendants(g, &dirty.merkle)) {
                let Some(old) = slot(&self.nodes, n.index()) else { continue };
                let merkle = self.merkle_of(g, n);
                if merkle == old.merkle {
                    continue;
                }
                put(&mut self.nodes, n.index(), Some(NodeHashes { merkle, ..old }));
                self.swap_terms(g, n, &old.merkle, &merkle, &mut dirty.contexts);
                dirty.contexts.push(n);
            }
        }

        dirty.contexts.sort_unstable();
        dirty.contexts.dedup();
        for n in std::mem::take(&mut dirty.contexts) {
            let (Some(old), Some(index)) = (slot(&self.nodes, n.index()), g.node_idx(n)) else { continue };
            let context = encode::pair(Domain::NodeContext, &old.merkle, &old.neighbours);
            if context == old.context {
                continue;
            }
            put(&mut self.nodes, n.index(), Some(NodeHashes { context, ..old }));
            let owner = g.compute[index].node.owner;
            if let Some(f) = self.functions.get_mut(&owner) {
                f.contexts.replace(old.context, context);
            }
            dirty.roots.insert(owner);
            for dir in [Direction::Incoming, Direction::Outgoing] {
                let edges = g.compute.edges_directed(index, dir).filter(|e| !e.weight().edge.is_data());
                dirty.edges.extend(edges.map(|e| e.weight().id));
            }
        }

        dirty.edges.sort_unstable();
        dirty.edges.dedup();
        for e in std::mem::take(&mut dirty.edges) {
            let Some(view) = g.edge(e).filter(|v| !v.edge.is_data()) else { continue };
            let Some(new) = self.control_hash(view.source, view.target) else { continue };
            let old = slot(&self.control, e.index());
            if old == Some(new) {
                continue;
            }
            put(&mut self.control, e.index(), Some(new));
            let Some(owner) = g.node(view.source).map(|n| n.owner) else { continue };
            if let Some(f) = self.functions.get_mut(&owner) {
                match old {
                    Some(old) => f.control_edges.replace(old, new),
                    None => f.control_edges.insert(new),
                }
            }
            dirty.roots.insert(owner);
        }

        for f in &dirty.signatures {
            self.refresh_signature(g, *f);
        }
        for f in dirty.signatures.iter().chain(&dirty.roots) {
            self.refresh_root(g, *f);
        }
    }

    /// Node `n`'s Merkle hash went from `old` to `new`: adjust the sums of the nodes
    /// whose terms name it (the data sources it consumes, its control neighbours),
    /// one multiplication each.
    fn swap_terms(&mut self, g: &ProgramGraph, n: NodeId, old: &ContentHash, new: &ContentHash, out: &mut Vec<NodeId>) {
        let Some(index) = g.node_idx(n) else { return };
        for e in g.compute.edges_directed(index, Direction::Incoming) {
            let source = g.compute[e.source()].id;
            let change = match e.weight().edge {
                FlowEdge::Data { target_port, .. } => delta(Relation::DataUse, Some(target_port), old, new),
                FlowEdge::Control { branch_index } => delta(Relation::ControlOut, branch_index, old, new),
            };
            self.add_term(source, change);
            out.push(source);
        }
        for e in g.compute.edges_directed(index, Direction::Outgoing) {
            if let FlowEdge::Control { branch_index } = e.weight().edge {
                let target = g.compute[e.target()].id;
                self.add_term(target, delta(Relation::ControlIn, branch_index, old, new));
                out.push(target);
            }
        }
    }
}

/// The seeds and every node reachable from them along data edges, each once.
fn data_descendants(g: &ProgramGraph, seeds: &[NodeId]) -> Vec<NodeId> {
    let mut seen: HashSet<NodeId> = HashSet::new();
    let mut out = Vec::new();
    let mut stack: Vec<NodeId> = seeds.to_vec();
    while let Some(n) = stack.pop() {
        let Some(index) = g.node_idx(n) else { continue };
        if !seen.insert(n) {
            continue;
        }
        out.push(n);
        for e in g.compute.edges_directed(index, Direction::Outgoing) {
            if e.weight().edge.is_data() {
                stack.push(g.compute[e.target()].id);
            }
        }
    }
    out
}

/// `nodes` (distinct) in an order where every data source comes before its targets
/// among them: Kahn's algorithm over data edges. Nodes on a data cycle, which only a
/// corrupt graph has, come last in id order, so hashing still ends.
fn data_order(g: &ProgramGraph, nodes: Vec<NodeId>) -> Vec<NodeId> {
    let data_targets = |n: NodeId| {
        g.node_idx(n).into_iter().flat_map(move |i| {
            g.compute
                .edges_directed(i, Direction::Outgoing)
                .filter(|e| e.weight().edge.is_data())
                .map(|e| g.compute[e.target()].id)
        })
    };
    let mut indegree: HashMap<NodeId, u32> = nodes.iter().map(|n| (*n, 0)).collect();
    for n in &nodes {
        for t in data_targets(*n) {
            if let Some(d) = indegree.get_mut(&t) {
                *d += 1;
            }
        }
    }
    let mut ready: Vec<NodeId> = nodes.iter().copied().filter(|n| indegree.get(n) == Some(&0)).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(n) = ready.pop() {
        order.push(n);
        for t in data_targets(n) {
            if let Some(d) = indegree.get_mut(&t) {
                *d -= 1;
                if *d == 0 {
                    ready.push(t);
                }
            }
        }
    }
    if order.len() < nodes.len() {
        let mut rest: Vec<NodeId> = nodes.into_iter().filter(|n| indegree.get(n).is_some_and(|d| *d > 0)).collect();
        rest.sort();
        order.extend(rest);
    }
    order
}
