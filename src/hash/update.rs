//! Incremental maintenance: after an edit, recompute only the hashes it can reach.
//!
//! An edit dirties some Merkle hashes (an op changed, a data input came or went), some
//! function bodies (any change of a node or edge of the function) and some
//! signatures. Settling then:
//! 1. recomputes the Merkle hashes of the dirty nodes and their data descendants, in
//!    data order, stopping where a hash comes out unchanged;
//! 2. recomputes the canonical body of each function touched, in time linear in that
//!    function (never in the program: edges never leave a function, and calls name
//!    their callee by path, not by body), or only in what lies outside the body's
//!    kept first part when the edit touched none of that part's nodes;
//! 3. refreshes those functions' roots and their members of the program's function
//!    sum, each in O(1) thanks to the multiset sum.

use super::Touched;
use super::index::{HashIndex, put, slot};
use crate::graph::{EdgeView, ProgramGraph};
use crate::model::{FunctionId, ModuleId, NodeId};
use petgraph::Direction;
use petgraph::visit::EdgeRef;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// What is dirty after an edit, before settling.
#[derive(Default)]
struct Dirty {
    merkle: Vec<NodeId>,
    /// Each body to recompute, with the nodes whose edges or Merkle hash changed
    /// (`None`: anything may have, as when its entry or signature changed).
    bodies: BTreeMap<FunctionId, Option<Vec<NodeId>>>,
    signatures: BTreeSet<FunctionId>,
}

impl Dirty {
    /// `n`, of body `f`, changed.
    fn node(&mut self, f: FunctionId, n: NodeId) {
        if let Some(nodes) = self.bodies.entry(f).or_insert_with(|| Some(Vec::new())) {
            nodes.push(n);
        }
    }

    /// Body `f` may have changed anywhere.
    fn whole(&mut self, f: FunctionId) {
        self.bodies.insert(f, None);
    }
}

impl HashIndex {
    /// Brings the index up to date with `g` after the edit described by `touched`.
    pub(crate) fn update(&mut self, g: &ProgramGraph, touched: Touched) {
        let mut dirty = Dirty::default();
        let owner = |n: NodeId| g.node(n).map(|x| x.owner);
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
                dirty.whole(f);
            }
            Touched::Renamed(f) => {
                dirty.signatures.insert(f);
                for caller in g.callers(f) {
                    let refers = |n: &NodeId| g.node(*n).and_then(|x| x.op.function_ref()) == Some(f);
                    dirty.merkle.extend(g.function_nodes(caller).filter(refers));
                }
                dirty.signatures.extend(g.functions().filter(|c| c.parent_function == Some(f)).map(|c| c.id));
            }
            Touched::FunctionRemoved { id, nodes } => {
                for n in nodes {
                    put(&mut self.nodes, n.index(), None);
                }
                if let Some(share) = self.functions.remove(&id).and_then(|h| h.share) {
                    self.function_shares.remove(share);
                }
                self.keep_main(id, None);
            }
            Touched::NodeAdded(n) => {
                let merkle = self.merkle_of(g, n);
                put(&mut self.nodes, n.index(), Some(merkle));
                if let Some(f) = owner(n) {
                    dirty.node(f, n);
                }
            }
            Touched::OpChanged(n) => dirty.merkle.push(n),
            Touched::NodeRemoved { node, owner, edges } => {
                put(&mut self.nodes, node.index(), None);
                // Its data consumers lost an input.
                dirty.merkle.extend(edges.iter().filter(|e| e.edge.is_data() && e.source == node).map(|e| e.target));
                dirty.node(owner, node);
                for e in &edges {
                    dirty.node(owner, e.source);
                    dirty.node(owner, e.target);
                }
            }
            Touched::EdgeAdded(e) | Touched::EdgeRemoved(e) => self.edge_changed(g, &e, &mut dirty),
        }
        self.settle(g, dirty);
    }

    fn edge_changed(&mut self, g: &ProgramGraph, e: &EdgeView, dirty: &mut Dirty) {
        if e.edge.is_data() {
            dirty.merkle.push(e.target);
        }
        if let Some(f) = g.node(e.source).map(|x| x.owner) {
            dirty.node(f, e.source);
            dirty.node(f, e.target);
        }
    }

    fn settle(&mut self, g: &ProgramGraph, mut dirty: Dirty) {
        if !dirty.merkle.is_empty() {
            for n in data_order(g, data_descendants(g, &dirty.merkle)) {
                let Some(node) = g.node(n) else { continue };
                let merkle = self.merkle_of(g, n);
                dirty.node(node.owner, n);
                if slot(&self.nodes, n.index()) != Some(merkle) {
                    put(&mut self.nodes, n.index(), Some(merkle));
                }
            }
        }
        for f in &dirty.signatures {
            self.refresh_signature(g, *f);
        }
        for (f, touched) in &dirty.bodies {
            if self.functions.contains_key(f) {
                self.refresh_body(g, *f, touched.as_deref());
            }
        }
        for f in dirty.signatures.iter().chain(dirty.bodies.keys()) {
            self.refresh_root(*f);
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
