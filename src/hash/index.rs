//! `HashIndex`: every node, control-edge, function and program hash of one graph, its
//! read API and its from-scratch construction. Incremental maintenance is in
//! `update.rs`; the two share the per-item computations defined here, so an edit
//! cannot hash anything differently from a rebuild.

use super::digest::{ContentHash, Multiset};
use super::encode::{self, DataInput, Domain, Encoder, TypeHasher};
use super::neighbour::{Relation, term};
use crate::graph::ProgramGraph;
use crate::model::{EdgeId, FlowEdge, FunctionId, ModuleId, NodeId};
use petgraph::Direction;
use petgraph::visit::EdgeRef;
use std::collections::BTreeMap;

/// The stored hashes of one live node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct NodeHashes {
    /// Merkle hash: op and data inputs, recursively ("same computation, same hash").
    pub(crate) merkle: ContentHash,
    /// Sum of the neighbour terms: one per data edge the node feeds, one per control
    /// edge at either end, each naming the edge's slot or branch and the other end's
    /// Merkle hash.
    pub(crate) neighbours: ContentHash,
    /// `pair(merkle, neighbours)`: the node in its surroundings; what function roots sum.
    pub(crate) context: ContentHash,
}

/// One function's hashes and the running sums its root is made of.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct FunctionHashes {
    /// Hash of the function's path (`math::sqrt`), kept so that a root change costs
    /// one block to re-share.
    pub(crate) path: ContentHash,
    pub(crate) signature: ContentHash,
    pub(crate) contexts: Multiset,
    pub(crate) control_edges: Multiset,
    pub(crate) root: ContentHash,
    /// This function's member of the program root, pair(path, root), once computed.
    pub(crate) share: Option<ContentHash>,
}

/// Content hashes of every node, function and the program, kept current by
/// [`ProgramGraph`] after every edit (see the module documentation of [`crate::hash`]).
///
/// ```
/// use lmlang_storage::graph::ProgramGraph;
/// use lmlang_storage::model::{ComputeOp, ModuleId, TypeId, Visibility};
///
/// let mut g = ProgramGraph::new("app");
/// let f = g.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::UNIT).unwrap();
/// let before = g.hashes().function(f).unwrap();
/// g.add_core_op(f, ComputeOp::Print).unwrap();
/// assert_ne!(g.hashes().function(f).unwrap(), before);
/// ```
#[derive(Debug, Clone, Default)]
pub struct HashIndex {
    pub(crate) nodes: Vec<Option<NodeHashes>>,
    pub(crate) control: Vec<Option<ContentHash>>,
    pub(crate) functions: BTreeMap<FunctionId, FunctionHashes>,
    pub(crate) function_shares: Multiset,
    pub(crate) type_defs: Multiset,
    pub(crate) modules: Multiset,
    /// The root module's name, which the program root records (paths leave it out).
    pub(crate) root_module: String,
    pub(crate) types: TypeHasher,
    /// Reused buffer for a node's data inputs.
    scratch: Vec<DataInput>,
}

impl PartialEq for HashIndex {
    /// Equal when every live hash and every root agree (the type memo and trailing
    /// empty slots are bookkeeping, not content).
    fn eq(&self, other: &Self) -> bool {
        fn live<T: PartialEq>(a: &[Option<T>], b: &[Option<T>]) -> bool {
            (0..a.len().max(b.len())).all(|i| a.get(i).and_then(Option::as_ref) == b.get(i).and_then(Option::as_ref))
        }
        live(&self.nodes, &other.nodes)
            && live(&self.control, &other.control)
            && self.functions == other.functions
            && self.function_shares == other.function_shares
            && self.type_defs == other.type_defs
            && self.modules == other.modules
            && self.root_module == other.root_module
    }
}

pub(crate) fn slot<T: Copy>(v: &[Option<T>], i: usize) -> Option<T> {
    v.get(i).copied().flatten()
}

pub(crate) fn put<T>(v: &mut Vec<Option<T>>, i: usize, value: Option<T>) {
    if v.len() <= i {
        v.resize_with(i + 1, || None);
    }
    v[i] = value;
}

impl HashIndex {
    // ----- reading -----

    /// The program root: covers every function (by path and root), named type and
    /// module, and the root module's name. Equal roots mean equal programs up to
    /// numbering.
    ///
    /// Computed on each call from sums that every edit keeps current (one hash of
    /// about 130 bytes), rather than stored: edits far outnumber reads of it.
    pub fn program(&self) -> ContentHash {
        let mut e = Encoder::new(Domain::Program);
        e.str("root_module", &self.root_module);
        e.u64("functions", self.function_shares.count).hash("function_sum", &self.function_shares.sum);
        e.u64("named_types", self.type_defs.count).hash("type_sum", &self.type_defs.sum);
        e.u64("modules", self.modules.count).hash("module_sum", &self.modules.sum);
        e.finish()
    }

    /// A function's root: its signature and its whole body (every node, dead ones too,
    /// and every edge), independent of ids and of the function's own name.
    pub fn function(&self, id: FunctionId) -> Option<ContentHash> {
        self.functions.get(&id).map(|f| f.root)
    }

    /// Every function root in id order, for tools that list or compare them.
    pub fn functions(&self) -> impl Iterator<Item = (FunctionId, ContentHash)> + '_ {
        self.functions.iter().map(|(id, f)| (*id, f.root))
    }

    /// A function's signature hash (visibility, parameters, return type, closure
    /// parent and captures), so a diff can tell a signature change from a body change.
    pub fn signature(&self, id: FunctionId) -> Option<ContentHash> {
        self.functions.get(&id).map(|f| f.signature)
    }

    /// A node's Merkle hash: its operation and, through its data inputs, everything
    /// that computes them. Two nodes computing the same thing hash the same.
    pub fn node(&self, id: NodeId) -> Option<ContentHash> {
        slot(&self.nodes, id.index()).map(|n| n.merkle)
    }

    /// A node's context hash: its Merkle hash together with how it is used (data
    /// consumers and control neighbours). This is what function roots are made of, so
    /// rewiring a node changes it even when the node computes the same thing.
    pub fn node_context(&self, id: NodeId) -> Option<ContentHash> {
        slot(&self.nodes, id.index()).map(|n| n.context)
    }

    /// A control edge's hash (the contexts of its two ends); `None` for data edges,
    /// which live inside their target's Merkle hash.
    pub fn control_edge(&self, id: EdgeId) -> Option<ContentHash> {
        slot(&self.control, id.index())
    }

    // ----- building -----

    /// Every hash from scratch, in time linear in the program.
    pub(crate) fn build(g: &ProgramGraph) -> Self {
        let mut ix = HashIndex::default();
        ix.nodes.resize(g.next_ids().node as usize, None);
        ix.control.resize(g.next_ids().edge as usize, None);
        for f in g.functions() {
            ix.functions.insert(f.id, FunctionHashes::default());
        }
        ix.merkle_all(g);
        for e in g.edges() {
            let (Some(source), Some(target)) = (ix.merkle(e.source), ix.merkle(e.target)) else { continue };
            match e.edge {
                FlowEdge::Data { target_port, .. } => {
                    ix.add_term(e.source, term(Relation::DataUse, Some(target_port), &target));
                }
                FlowEdge::Control { branch_index } => {
                    ix.add_term(e.source, term(Relation::ControlOut, branch_index, &target));
                    ix.add_term(e.target, term(Relation::ControlIn, branch_index, &source));
                }
            }
        }
        for (n, node) in g.nodes() {
            if let Some(h) = ix.nodes.get_mut(n.index()).and_then(Option::as_mut) {
                h.context = encode::pair(Domain::NodeContext, &h.merkle, &h.neighbours);
                if let Some(f) = ix.functions.get_mut(&node.owner) {
                    f.contexts.insert(h.context);
                }
            }
        }
        for e in g.edges().filter(|e| !e.edge.is_data()) {
            if let Some(h) = ix.control_hash(e.source, e.target) {
                put(&mut ix.control, e.id.index(), Some(h));
                if let Some(f) = g.node(e.source).and_then(|n| ix.functions.get_mut(&n.owner)) {
                    f.control_edges.insert(h);
                }
            }
        }
        let ids: Vec<FunctionId> = ix.functions.keys().copied().collect();
        for f in ids {
            ix.refresh_signature(g, f);
            ix.refresh_root(g, f);
        }
        for (t, _) in g.types().named() {
            let h = ix.types.definition(g, t);
            ix.type_defs.insert(h);
        }
        ix.refresh_modules(g);
        ix.refresh_root_module(g);
        ix
    }

    // ----- per-item computations shared with the incremental path -----

    pub(crate) fn merkle(&self, n: NodeId) -> Option<ContentHash> {
        slot(&self.nodes, n.index()).map(|h| h.merkle)
    }

    pub(crate) fn context(&self, n: NodeId) -> Option<ContentHash> {
        slot(&self.nodes, n.index()).map(|h| h.context)
    }

    /// Adds a neighbour term to a node's sum (its context is refreshed later).
    pub(crate) fn add_term(&mut self, n: NodeId, term: ContentHash) {
        if let Some(h) = self.nodes.get_mut(n.index()).and_then(Option::as_mut) {
            h.neighbours = h.neighbours.wrapping_add(term);
        }
    }

    pub(crate) fn remove_term(&mut self, n: NodeId, term: ContentHash) {
        if let Some(h) = self.nodes.get_mut(n.index()).and_then(Option::as_mut) {
            h.neighbours = h.neighbours.wrapping_sub(term);
        }
    }

    /// A node's Merkle hash from its op and the stored Merkle hashes of its sources.
    pub(crate) fn merkle_of(&mut self, g: &ProgramGraph, n: NodeId) -> ContentHash {
        let mut inputs = std::mem::take(&mut self.scratch);
        data_inputs(g, &mut self.types, n, |s| self.nodes.get(s.index()).copied().flatten(), &mut inputs);
        let mut e = Encoder::new(Domain::Node);
        if let Some(node) = g.node(n) {
            encode::node(&mut e, g, &mut self.types, &node.op, &inputs);
        }
        self.scratch = inputs;
        e.finish()
    }

    /// The Merkle hash of every node, sources before targets: a depth-first walk up
    /// the data inputs from each node in id order (one pass over the edges, where a
    /// topological sort would take two). A data cycle, which only a corrupt graph
    /// has, is cut where the walk meets a node already open: that input counts as
    /// zeros.
    fn merkle_all(&mut self, g: &ProgramGraph) {
        const NEW: u8 = 0;
        const OPEN: u8 = 1;
        const DONE: u8 = 2;
        let mut state = vec![NEW; g.next_ids().node as usize];
        let mut stack: Vec<NodeId> = Vec::new();
        for (n, _) in g.nodes() {
            stack.push(n);
            while let Some(&top) = stack.last() {
                let Some(index) = g.node_idx(top) else {
                    stack.pop();
                    continue;
                };
                match state.get(top.index()).copied().unwrap_or(DONE) {
                    NEW => {
                        state[top.index()] = OPEN;
                        for e in g.compute.edges_directed(index, Direction::Incoming) {
                            if e.weight().edge.is_data() {
                                let s = g.compute[e.source()].id;
                                if state.get(s.index()) == Some(&NEW) {
                                    stack.push(s);
                                }
                            }
                        }
                    }
                    OPEN => {
                        stack.pop();
                        state[top.index()] = DONE;
                        let merkle = self.merkle_of(g, top);
                        put(&mut self.nodes, top.index(), Some(NodeHashes { merkle, ..NodeHashes::default() }));
                    }
                    _ => {
                        stack.pop();
                    }
                }
            }
        }
    }

    /// A control edge's hash from the contexts of its ends.
    pub(crate) fn control_hash(&self, source: NodeId, target: NodeId) -> Option<ContentHash> {
        Some(encode::pair(Domain::ControlEdge, &self.context(source)?, &self.context(target)?))
    }

    pub(crate) fn refresh_signature(&mut self, g: &ProgramGraph, f: FunctionId) {
        let Some(def) = g.function(f) else { return };
        let mut e = Encoder::new(Domain::Signature);
        encode::signature(&mut e, g, &mut self.types, def);
        let signature = e.finish();
        let mut p = Encoder::new(Domain::FunctionPath);
        p.str("path", &encode::function_path(g, f).unwrap_or_default());
        let path = p.finish();
        if let Some(h) = self.functions.get_mut(&f) {
            h.signature = signature;
            h.path = path;
        }
    }

    /// Recomputes a function's root from its signature hash, entry node and sums, and
    /// its share of the program root.
    pub(crate) fn refresh_root(&mut self, g: &ProgramGraph, f: FunctionId) {
        let entry = g.function(f).and_then(|d| d.entry_node).and_then(|n| self.context(n));
        let Some(h) = self.functions.get_mut(&f) else { return };
        let mut e = Encoder::new(Domain::Function);
        e.hash("signature", &h.signature);
        match entry {
            None => e.u8("entry", 0),
            Some(c) => e.u8("entry", 1).hash("entry_context", &c),
        };
        e.u64("nodes", h.contexts.count).hash("node_contexts", &h.contexts.sum);
        e.u64("control_edges", h.control_edges.count).hash("control_edge_sum", &h.control_edges.sum);
        let root = e.finish();
        let share = encode::pair(Domain::ProgramFunction, &h.path, &root);
        let old = h.share.replace(share);
        h.root = root;
        if let Some(old) = old {
            self.function_shares.remove(old);
        }
        self.function_shares.insert(share);
    }

    pub(crate) fn refresh_modules(&mut self, g: &ProgramGraph) {
        self.modules = Multiset::default();
        for m in g.modules().iter() {
            let mut e = Encoder::new(Domain::ProgramModule);
            e.str("path", &encode::module_path(g, m.id)).str("visibility", m.visibility.as_str());
            self.modules.insert(e.finish());
        }
    }

    pub(crate) fn refresh_root_module(&mut self, g: &ProgramGraph) {
        self.root_module = g.module(ModuleId::ROOT).map(|m| m.name.clone()).unwrap_or_default();
    }
}

/// Fills `inputs` with a node's incoming data edges as its Merkle hash sees them,
/// sorted. `stored` gives the stored hashes of sources (a source not yet hashed, which
/// only a corrupt graph with a data cycle has, counts as zeros).
pub(crate) fn data_inputs(
    g: &ProgramGraph,
    types: &mut TypeHasher,
    n: NodeId,
    stored: impl Fn(NodeId) -> Option<NodeHashes>,
    inputs: &mut Vec<DataInput>,
) {
    inputs.clear();
    let Some(index) = g.node_idx(n) else { return };
    for e in g.compute.edges_directed(index, Direction::Incoming) {
        if let FlowEdge::Data { source_port, target_port, value_type } = e.weight().edge {
            let source = stored(g.compute[e.source()].id).map(|h| h.merkle).unwrap_or_default();
            let value_type = types.type_ref(g, value_type);
            inputs.push(DataInput { target_port, source_port, value_type, source });
        }
    }
    inputs.sort_unstable();
}
