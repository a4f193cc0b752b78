//! `HashIndex`: every node, function and program hash of one graph, its read API and
//! its from-scratch construction. Incremental maintenance is in `update.rs`; the two
//! share the per-item computations defined here, so an edit cannot hash anything
//! differently from a rebuild.

use super::canonical::{Canonicaliser, MainPart};
use super::digest::{ContentHash, Multiset};
use super::encode::{self, DataInput, Domain, Encoder, TypeHasher};
use crate::graph::ProgramGraph;
use crate::model::{FlowEdge, FunctionId, ModuleId, NodeId};
use petgraph::Direction;
use petgraph::visit::EdgeRef;
use std::collections::BTreeMap;

/// One function's hashes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct FunctionHashes {
    /// Hash of the function's path (`math::sqrt`), kept so that a root change costs
    /// one block to re-share.
    pub(crate) path: ContentHash,
    pub(crate) signature: ContentHash,
    /// The canonical form of the body (see `canonical.rs`).
    pub(crate) body: ContentHash,
    /// Whether equal roots imply isomorphic bodies (see `canonical.rs`).
    pub(crate) exact: bool,
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
    /// Merkle hash of each live node, by id index.
    pub(crate) nodes: Vec<Option<ContentHash>>,
    pub(crate) functions: BTreeMap<FunctionId, FunctionHashes>,
    pub(crate) function_shares: Multiset,
    pub(crate) type_defs: Multiset,
    pub(crate) modules: Multiset,
    /// The root module's name, which the program root records (paths leave it out).
    pub(crate) root_module: String,
    pub(crate) types: TypeHasher,
    /// Reused buffers for a node's data inputs and for function bodies.
    scratch: Vec<DataInput>,
    canon: Canonicaliser,
    /// The closed first part of each function's body, while [`MAIN_PARTS_BUDGET`]
    /// allows: what lets an edit outside it rehash the body without numbering it again.
    mains: BTreeMap<FunctionId, MainPart>,
    /// The memory `mains` holds, and may hold.
    mains_size: usize,
    mains_budget: usize,
}

/// Bytes the kept first parts of bodies may take: about 60 a node, so some 2,000
/// functions of the reference workload's size (or one function's part alone, if that
/// is bigger; see `keep_main`).
const MAIN_PARTS_BUDGET: usize = 16 << 20;

/// The room a build leaves in the budget before it stops keeping parts (a large
/// function's part).
const PART_ROOM: usize = 256 << 10;

impl PartialEq for HashIndex {
    /// Equal when every live hash and every root agree (the type memo, buffers, kept
    /// body parts and trailing empty slots are bookkeeping, not content).
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&self.nodes, &other.nodes);
        (0..a.len().max(b.len())).all(|i| slot(a, i) == slot(b, i))
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
    /// numbering, with exactly two exceptions: an anonymous type that is registered
    /// but referred to by nothing does not enter it (types are append-only and such a
    /// type changes no computation; every type that is used enters through its users),
    /// and a function whose [`is_exact`](Self::is_exact) is false may share its root
    /// with a function that is not isomorphic to it (`docs/hashing.md` says how).
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
    /// and every edge), independent of ids and of the function's own name. Equal
    /// roots mean isomorphic bodies: see `docs/hashing.md` for the exact statement.
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

    /// Whether the function's root pins its body down exactly: then any function
    /// with the same root has an isomorphic body (same ops, constants, ports,
    /// branches, value types and signature, wired the same way from the same entry).
    /// False only when some nodes could not be numbered (identical nodes linked to each
    /// other, in symmetries too large to try out); those are hashed as a multiset that
    /// can miss how they connect among themselves. See `docs/hashing.md`.
    pub fn is_exact(&self, id: FunctionId) -> Option<bool> {
        self.functions.get(&id).map(|f| f.exact)
    }

    /// A node's Merkle hash: its operation and, through its data inputs, everything
    /// that computes them. Two nodes computing the same thing hash the same.
    pub fn node(&self, id: NodeId) -> Option<ContentHash> {
        slot(&self.nodes, id.index())
    }

    // ----- building -----

    /// Every hash from scratch, in time linear in the program.
    pub(crate) fn build(g: &ProgramGraph) -> Self {
        Self::build_within(g, MAIN_PARTS_BUDGET)
    }

    /// [`Self::build`], also keeping the first part of each body while the budget has
    /// room (about 60 bytes a node: every function of a program of some 250,000
    /// nodes). Costs about a tenth more than a plain build (BENCHMARKS.md); for a
    /// graph whose every function's first edit should be quick.
    pub(crate) fn build_keeping_parts(g: &ProgramGraph) -> Self {
        Self::build_with(g, MAIN_PARTS_BUDGET, true)
    }

    /// [`Self::build`], keeping body parts within `budget` bytes.
    fn build_within(g: &ProgramGraph, budget: usize) -> Self {
        Self::build_with(g, budget, false)
    }

    /// A build that keeps body parts within `budget`, every function's while there is
    /// room if `keep_parts`, else none (only edits keep them then).
    fn build_with(g: &ProgramGraph, budget: usize, keep_parts: bool) -> Self {
        let mut ix = HashIndex { mains_budget: budget, ..HashIndex::default() };
        ix.nodes.resize(g.next_ids().node as usize, None);
        ix.merkle_all(g);
        for f in g.functions() {
            ix.functions.insert(f.id, FunctionHashes::default());
        }
        let ids: Vec<FunctionId> = ix.functions.keys().copied().collect();
        for f in ids {
            ix.refresh_signature(g, f);
            // A part is asked for as after an edit that touched nothing of the body
            // (`Some(&[])`), until the budget is nearly full: parts kept only to be
            // forgotten for the next would cost without paying back.
            let room = keep_parts && ix.mains_size + PART_ROOM <= ix.mains_budget;
            ix.refresh_body(g, f, room.then_some(&[][..]));
            ix.refresh_root(f);
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

    /// A node's Merkle hash from its op and the stored Merkle hashes of its sources.
    pub(crate) fn merkle_of(&mut self, g: &ProgramGraph, n: NodeId) -> ContentHash {
        let mut inputs = std::mem::take(&mut self.scratch);
        data_inputs(g, &mut self.types, n, |s| slot(&self.nodes, s.index()), &mut inputs);
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
                        put(&mut self.nodes, top.index(), Some(merkle));
                    }
                    _ => {
                        stack.pop();
                    }
                }
            }
        }
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

    /// Recomputes a function's body hash from its canonical form, in time linear in
    /// the function; `touched` lists every node whose edges or Merkle hash the edit
    /// changed (`None`: unknown). When none of them is in the body's kept first part,
    /// only the rest is worked out again.
    pub(crate) fn refresh_body(&mut self, g: &ProgramGraph, f: FunctionId, touched: Option<&[NodeId]>) {
        let reuse = match (touched, self.mains.get(&f)) {
            (Some(touched), Some(main)) if !touched.iter().any(|n| main.contains(*n)) => Some(main),
            _ => None,
        };
        // Only an edit keeps its function's part, for the edits that follow: a rebuild
        // keeping every function's would allocate and fill 60 bytes a node, which made
        // a cold whole hash 10 % slower (BENCHMARKS.md).
        let keep = reuse.is_none() && touched.is_some();
        let nodes = &self.nodes;
        let body = self.canon.body(g, &mut self.types, |n| slot(nodes, n.index()).unwrap_or_default(), f, reuse, keep);
        if !body.reused {
            // Also forgets a part this computation did not keep: it may be stale.
            self.keep_main(f, body.main);
        }
        if let Some(h) = self.functions.get_mut(&f) {
            h.body = body.hash;
            h.exact = body.exact;
        }
    }

    /// Keeps (or, with `None`, forgets) a function's body's first part, making room
    /// within the budget by forgetting others. A part bigger than the whole budget is
    /// kept alone (a function of some 250,000 nodes or more): without it every edit of
    /// that one huge function would number it whole again, and its memory is in
    /// proportion to the function's.
    pub(crate) fn keep_main(&mut self, f: FunctionId, main: Option<MainPart>) {
        if let Some(old) = self.mains.remove(&f) {
            self.mains_size -= old.size();
        }
        let Some(main) = main else { return };
        while self.mains_size + main.size() > self.mains_budget
            && let Some((_, old)) = self.mains.pop_first()
        {
            self.mains_size -= old.size();
        }
        self.mains_size += main.size();
        self.mains.insert(f, main);
    }

    /// Recomputes a function's root from its signature and body hashes, and its share
    /// of the program root.
    pub(crate) fn refresh_root(&mut self, f: FunctionId) {
        let Some(h) = self.functions.get_mut(&f) else { return };
        let mut e = Encoder::new(Domain::Function);
        e.hash("signature", &h.signature).hash("body", &h.body);
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
        let paths = encode::module_paths(g);
        for m in g.modules().iter() {
            let mut e = Encoder::new(Domain::ProgramModule);
            let path = paths.get(&m.id).cloned().unwrap_or_else(|| encode::module_path(g, m.id));
            e.str("path", &path).str("visibility", m.visibility.as_str());
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
    stored: impl Fn(NodeId) -> Option<ContentHash>,
    inputs: &mut Vec<DataInput>,
) {
    inputs.clear();
    let Some(index) = g.node_idx(n) else { return };
    for e in g.compute.edges_directed(index, Direction::Incoming) {
        if let FlowEdge::Data { source_port, target_port, value_type } = e.weight().edge {
            let source = stored(g.compute[e.source()].id).unwrap_or_default();
            let value_type = types.type_ref(g, value_type);
            inputs.push(DataInput { target_port, source_port, value_type, source });
        }
    }
    inputs.sort_unstable();
}

#[cfg(test)]
mod tests {
    use super::HashIndex;
    use crate::hash::Touched;
    use crate::model::{ComputeOp, ConstValue, FunctionId};
    use crate::synth::{SynthConfig, generate};

    /// With room for a few functions' parts only, the index keeps within its budget
    /// while edits round the functions (three times, so parts are reused too) evict
    /// and replace parts, and every hash stays that of a rebuild.
    #[test]
    fn kept_body_parts_stay_within_their_budget_and_the_hashes_exact() {
        let mut g = generate(&SynthConfig::new(3000));
        let budget = 16 << 10;
        // The graph keeps no index of its own: `ix` is maintained by hand below.
        let mut ix = HashIndex::build_within(&g, budget);
        let functions: Vec<FunctionId> = g.functions().map(|f| f.id).collect();
        for k in 0..3 * functions.len() {
            let op = ComputeOp::Const { value: ConstValue::I64(k as i64) };
            // Each function twice running: the second edit reuses the part the first kept.
            let n = g.add_core_op(functions[(k / 2) % functions.len()], op).expect("node");
            ix.update(&g, Touched::NodeAdded(n));
            assert!(ix.mains_size <= budget, "{} bytes kept", ix.mains_size);
            assert_eq!(ix.mains_size, ix.mains.values().map(|m| m.size()).sum::<usize>());
            assert!(ix == HashIndex::build(&g), "after edit {k}");
        }
        assert!(!ix.mains.is_empty(), "edits keep their functions' parts");
    }

    /// A build that keeps every function's part (a store's working copy with history
    /// on) gives the same hashes as a plain one, keeps a part for each function whose
    /// first part is closed, and the first edit of each such function reuses it,
    /// exactly.
    #[test]
    fn a_build_keeping_every_part_hashes_the_same_and_first_edits_reuse_them() {
        let mut g = generate(&SynthConfig::new(3000));
        let mut ix = HashIndex::build_keeping_parts(&g);
        let plain = HashIndex::build(&g);
        assert!(plain.mains.is_empty(), "a plain build keeps none");
        assert!(ix == plain);
        let functions: Vec<FunctionId> = g.functions().map(|f| f.id).collect();
        // A part is kept only where it is closed (no link out of it): most functions.
        assert!(ix.mains.len() * 4 >= functions.len() * 3, "{} parts, {} functions", ix.mains.len(), functions.len());
        for (k, f) in functions.iter().enumerate() {
            let kept = ix.mains.get(f).map(|m| m.records_at());
            let op = ComputeOp::Const { value: ConstValue::I64(k as i64) };
            let n = g.add_core_op(*f, op).expect("node");
            ix.update(&g, Touched::NodeAdded(n));
            assert_eq!(ix.mains.get(f).map(|m| m.records_at()), kept, "the part was reused, not made again");
            assert!(ix == HashIndex::build(&g), "after the first edit of {f}");
        }
    }

    /// A function whose part alone is bigger than the budget keeps it (alone), and its
    /// next edit reuses it, exactly.
    #[test]
    fn a_part_bigger_than_the_budget_is_kept_alone() {
        let mut g = generate(&SynthConfig::new(3000));
        let mut ix = HashIndex::build_within(&g, 64);
        let functions: Vec<FunctionId> = g.functions().map(|f| f.id).collect();
        for (k, f) in functions.iter().enumerate().take(6) {
            let first = g.add_core_op(*f, ComputeOp::Const { value: ConstValue::I64(k as i64) }).expect("node");
            ix.update(&g, Touched::NodeAdded(first));
            let Some(kept) = ix.mains.get(f).map(|m| m.records_at()) else { continue };
            assert_eq!(ix.mains.len(), 1, "alone");
            let second = g.add_core_op(*f, ComputeOp::Const { value: ConstValue::I64(-(k as i64)) }).expect("node");
            ix.update(&g, Touched::NodeAdded(second));
            assert_eq!(ix.mains.get(f).map(|m| m.records_at()), Some(kept), "reused by the next edit");
            assert!(ix == HashIndex::build(&g));
        }
        assert!(!ix.mains.is_empty());
    }

    /// With a budget too small for every part, the build stops keeping them when it is
    /// nearly full rather than keeping and forgetting them in turn.
    #[test]
    fn a_build_keeping_parts_stops_at_its_budget() {
        let g = generate(&SynthConfig::new(3000));
        let budget = super::PART_ROOM + (32 << 10);
        let ix = HashIndex::build_with(&g, budget, true);
        assert!(!ix.mains.is_empty() && ix.mains_size <= budget);
        let first: Vec<FunctionId> = g.functions().map(|f| f.id).take(ix.mains.len()).collect();
        assert_eq!(ix.mains.keys().copied().collect::<Vec<_>>(), first, "the first functions' parts, none forgotten");
        assert!(ix == HashIndex::build(&g));
    }
}
