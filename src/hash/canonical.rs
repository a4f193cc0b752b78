//! The canonical form of a function body: what its root hash is computed from.
//!
//! The one idea: number the nodes by a deterministic traversal from the entry, in which
//! every node lists its edges in an order that depends on content only, and give each
//! node the next number the first time the traversal reaches it. Isomorphic bodies
//! are then numbered alike, so writing every node with its edges as numbers gives
//! equal bytes; and the bytes name every edge between numbered nodes exactly, so equal
//! bytes mean isomorphic bodies. No id is ever written; a number is a position in the
//! traversal.
//!
//! The traversal is breadth first and follows every edge at a numbered node, in both
//! directions ("links"), sorted by relation (data input, control successor, data use,
//! control predecessor), slot (port or branch), source port, value type and, last, the
//! other end's Merkle hash. A node's data inputs have distinct ports, and its other
//! links usually differ in slot or Merkle hash, so the order is strict. When it is not
//! (two links with equal keys to different nodes: a *tie*), the traversal does not
//! follow those links, since any order between them would be a choice; their ends are
//! usually reached another way. Nodes left unnumbered (other components, dead code
//! reached by nothing, or nodes reached only through a tie) form the *residual*,
//! hashed as a multiset of descriptors naming every incident edge, with the other end
//! as its number when it has one. `docs/hashing.md` proves both directions and says
//! what the residual misses.
//!
//! Cost: linear in the function (each node's links are sorted, a handful at most), and
//! one blake3 call over the whole encoding, which blake3 hashes with SIMD. An edit
//! re-runs it for the edited function only.

use super::digest::ContentHash;
use super::encode::{Domain, TypeHasher};
use crate::graph::ProgramGraph;
use crate::model::{FlowEdge, FunctionId, NodeId};
use petgraph::Direction;
use petgraph::visit::EdgeRef;

/// The number of a node the traversal has not reached.
const UNNUMBERED: u32 = u32::MAX;

/// Relations of a link, in the order links are sorted. Every edge is a data input or a
/// control successor of one of its ends; a numbered node's record lists those two.
const DATA_INPUT: u8 = 0;
const CONTROL_OUT: u8 = 1;
const DATA_USE: u8 = 2;
const CONTROL_IN: u8 = 3;

/// What a link is, independent of numbering, in 24 bytes: sorting and comparing links
/// is most of the traversal's work. The hashes are cut to their first 8 bytes: an
/// order only needs to be a function of content, and two different hashes with equal
/// prefixes (one chance in 2^64) are merely treated as a tie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct LinkKey {
    /// `relation << 56 | slot << 16 | source port`; the slot is the target port for
    /// data, and for control 0 for no branch and `b + 1` for branch `b`.
    head: u64,
    /// The value type's hash (data), cut.
    value_type: u64,
    /// The other end's Merkle hash, cut.
    other: u64,
}

impl LinkKey {
    fn relation(&self) -> u8 {
        (self.head >> 56) as u8
    }

    fn slot(&self) -> u32 {
        (self.head >> 16) as u32
    }
}

fn prefix(h: &ContentHash) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.0[..8]);
    u64::from_be_bytes(b)
}

/// An edge seen from one end: relation, slot, source port, value type hash (zero for
/// control), the other end's Merkle hash, and the other end.
type Seen = (u8, u32, u16, ContentHash, ContentHash, NodeId);

/// Buffers reused from one function to the next (an edit rehashes one function, and a
/// full hash every function, without allocating per function).
#[derive(Debug, Clone, Default)]
pub(crate) struct Canonicaliser {
    /// Number of each node by id index, `UNNUMBERED` outside the function at hand.
    numbers: Vec<u32>,
    order: Vec<NodeId>,
    /// Edges seen from one end: what the edge is, and the other end.
    links: Vec<(LinkKey, NodeId)>,
    /// `links[spans[i].0..spans[i].1]` are the links of `order[i]`.
    spans: Vec<(u32, u32)>,
    bytes: Vec<u8>,
    /// Descriptors of the unnumbered nodes, sorted by descriptor.
    pending: Vec<(ContentHash, NodeId)>,
    /// Whether some unnumbered node has an edge to another.
    residual_linked: bool,
    has_entry: bool,
    items: Vec<[u8; ITEM]>,
}

/// Rounds of anchors after the traversal from the entry. Each costs a descriptor per
/// node still unnumbered; a cap keeps a function whose nodes are singled out one
/// round at a time from costing quadratic time.
const ANCHOR_ROUNDS: u32 = 4;

/// Most branches individualisation may explore for one function (the product of the
/// sizes of the classes it tries); beyond, the residual stays a multiset.
const INDIVIDUALISE_BRANCHES: u32 = 64;

/// Bytes of one residual link: relation, slot, source port, value type, then the other
/// end as `0 number` or `1 Merkle hash`.
const ITEM: usize = 1 + 4 + 2 + 32 + 1 + 32;

/// The hash of a function's body.
pub(crate) struct Body {
    pub(crate) hash: ContentHash,
    /// Whether the encoding describes the body up to isomorphism: no unnumbered node
    /// is linked to another (so each is pinned down by its descriptor).
    pub(crate) exact: bool,
}

fn slot_of_branch(branch: Option<u16>) -> u32 {
    branch.map_or(0, |b| b as u32 + 1)
}

impl Canonicaliser {
    fn number(&self, n: NodeId) -> u32 {
        self.numbers.get(n.index()).copied().unwrap_or(UNNUMBERED)
    }

    fn assign(&mut self, n: NodeId) {
        if self.numbers.len() <= n.index() {
            self.numbers.resize(n.index() + 1, UNNUMBERED);
        }
        self.numbers[n.index()] = self.order.len() as u32;
        self.order.push(n);
    }

    /// Hashes the body of `f`: its canonical numbering, then the residual. `merkle`
    /// gives the stored Merkle hash of a node.
    pub(crate) fn body(
        &mut self,
        g: &ProgramGraph,
        types: &mut TypeHasher,
        merkle: impl Fn(NodeId) -> ContentHash,
        f: FunctionId,
    ) -> Body {
        self.order.clear();
        self.links.clear();
        self.spans.clear();
        let entry = g.function(f).and_then(|d| d.entry_node).filter(|n| g.node(*n).is_some_and(|x| x.owner == f));
        self.has_entry = entry.is_some();
        if let Some(entry) = entry {
            self.assign(entry);
        }
        self.traverse(g, types, &merkle);
        self.anchor(g, types, &merkle, f);
        let body = self.individualise(g, types, &merkle, f, 1);
        for n in &self.order {
            self.numbers[n.index()] = UNNUMBERED;
        }
        body
    }

    /// Numbers more nodes from anchors: unnumbered nodes whose descriptor no other
    /// unnumbered node shares, in descriptor order. Each round of anchors can single
    /// out more nodes (descriptors name numbered neighbours by number), up to
    /// `ANCHOR_ROUNDS`. Leaves `pending` describing the nodes still unnumbered.
    fn anchor(
        &mut self,
        g: &ProgramGraph,
        types: &mut TypeHasher,
        merkle: &impl Fn(NodeId) -> ContentHash,
        f: FunctionId,
    ) {
        for _ in 0..ANCHOR_ROUNDS {
            self.describe_unnumbered(g, types, merkle, f);
            let pending = std::mem::take(&mut self.pending);
            let mut anchored = false;
            for k in 0..pending.len() {
                let unique = (k == 0 || pending[k - 1].0 != pending[k].0)
                    && pending.get(k + 1).is_none_or(|next| next.0 != pending[k].0);
                if unique && self.number(pending[k].1) == UNNUMBERED {
                    self.assign(pending[k].1);
                    self.traverse(g, types, merkle);
                    anchored = true;
                }
            }
            self.pending = pending;
            if !anchored {
                return;
            }
        }
        self.describe_unnumbered(g, types, merkle, f);
    }

    /// When unnumbered nodes are linked to each other, the multiset of their
    /// descriptors could miss how; so, within a budget of `INDIVIDUALISE_BRANCHES`,
    /// try numbering each member of the first class of equal descriptors next, carry
    /// on, and keep the smallest resulting hash. The set of choices depends on content only, so the minimum does
    /// too, and each choice ends in an encoding that describes the body exactly.
    fn individualise(
        &mut self,
        g: &ProgramGraph,
        types: &mut TypeHasher,
        merkle: &impl Fn(NodeId) -> ContentHash,
        f: FunctionId,
        branches: u32,
    ) -> Body {
        // The first class of two or more (each level at least doubles the branches, so
        // the recursion is at most six deep).
        let first = self.pending.windows(2).find(|w| w[0].0 == w[1].0).map(|w| w[0].0);
        let class: Vec<NodeId> = match first {
            Some(d) if self.residual_linked => self.pending.iter().filter(|p| p.0 == d).map(|p| p.1).collect(),
            _ => Vec::new(),
        };
        let product = branches.saturating_mul(class.len() as u32);
        if class.len() < 2 || product > INDIVIDUALISE_BRANCHES {
            return self.encode(merkle);
        }
        let saved = (self.order.len(), self.links.len(), self.spans.len(), self.pending.clone(), self.residual_linked);
        let mut best: Option<Body> = None;
        for c in class {
            self.assign(c);
            self.traverse(g, types, merkle);
            self.anchor(g, types, merkle, f);
            let body = self.individualise(g, types, merkle, f, product);
            if best.as_ref().is_none_or(|b| body.hash < b.hash) {
                best = Some(body);
            }
            for n in &self.order[saved.0..] {
                self.numbers[n.index()] = UNNUMBERED;
            }
            self.order.truncate(saved.0);
            self.links.truncate(saved.1);
            self.spans.truncate(saved.2);
            self.pending.clone_from(&saved.3);
            self.residual_linked = saved.4;
        }
        best.unwrap_or_else(|| self.encode(merkle))
    }

    /// The hash of the current numbering: the numbered nodes' records, then the
    /// residual descriptors.
    fn encode(&mut self, merkle: &impl Fn(NodeId) -> ContentHash) -> Body {
        self.bytes.clear();
        self.bytes.push(self.has_entry as u8);
        // Each numbered node: Merkle hash, then data inputs and control successors by
        // number (the other two relations are the same edges seen from their other end).
        let numbered = self.order.len();
        self.bytes.extend_from_slice(&(numbered as u64).to_le_bytes());
        for i in 0..numbered {
            let (start, end) = (self.spans[i].0 as usize, self.spans[i].1 as usize);
            let m = merkle(self.order[i]);
            self.bytes.extend_from_slice(&m.0);
            let own = self.links[start..end].iter().filter(|l| l.0.relation() <= CONTROL_OUT).count();
            self.bytes.extend_from_slice(&(own as u32).to_le_bytes());
            let mut k = start;
            while k < end && self.links[k].0.relation() <= CONTROL_OUT {
                let run = self.run_end(k, end);
                if run - k > 1 {
                    // Equal keys: order by number (unnumbered ends write identical bytes).
                    let numbers = &self.numbers;
                    let at = |n: NodeId| numbers.get(n.index()).copied().unwrap_or(UNNUMBERED);
                    self.links[k..run].sort_unstable_by_key(|l| at(l.1));
                }
                for j in k..run {
                    let (key, n) = self.links[j];
                    let number = self.number(n);
                    self.bytes.push(key.relation());
                    self.bytes.extend_from_slice(&key.slot().to_le_bytes());
                    self.bytes.extend_from_slice(&number.to_le_bytes());
                    if number == UNNUMBERED {
                        self.bytes.extend_from_slice(&merkle(n).0);
                    }
                }
                k = run;
            }
        }
        // The residual: the descriptors of the nodes still unnumbered, sorted.
        self.bytes.extend_from_slice(&(self.pending.len() as u64).to_le_bytes());
        for (d, _) in &self.pending {
            self.bytes.extend_from_slice(&d.0);
        }
        let hash = ContentHash(*blake3::keyed_hash(Domain::Body.key(), &self.bytes).as_bytes());
        Body { hash, exact: !self.residual_linked }
    }

    /// Continues the breadth-first traversal until every numbered node's links have
    /// been followed; `order[spans.len()..]` is the queue.
    fn traverse(&mut self, g: &ProgramGraph, types: &mut TypeHasher, merkle: &impl Fn(NodeId) -> ContentHash) {
        while self.spans.len() < self.order.len() {
            let u = self.order[self.spans.len()];
            let start = self.links.len();
            self.collect_links(g, types, merkle, u);
            self.links[start..].sort_unstable_by_key(|l| l.0);
            let mut k = start;
            while k < self.links.len() {
                let run = self.run_end(k, self.links.len());
                let tied = self.links[k..run].iter().any(|l| l.1 != self.links[k].1);
                if !tied && self.number(self.links[k].1) == UNNUMBERED {
                    let n = self.links[k].1;
                    self.assign(n);
                }
                k = run;
            }
            self.spans.push((start as u32, self.links.len() as u32));
        }
    }

    /// Sets `pending` to the descriptor of every unnumbered node of `f`, sorted.
    fn describe_unnumbered(
        &mut self,
        g: &ProgramGraph,
        types: &mut TypeHasher,
        merkle: &impl Fn(NodeId) -> ContentHash,
        f: FunctionId,
    ) {
        self.pending.clear();
        self.residual_linked = false;
        if self.order.len() == g.functions.get(&f).map_or(0, |e| e.nodes.len()) {
            return;
        }
        for v in g.function_nodes(f) {
            if self.number(v) == UNNUMBERED {
                let d = self.descriptor(g, types, merkle, v);
                self.pending.push((d, v));
            }
        }
        self.pending.sort_unstable_by_key(|p| p.0);
    }

    /// The end of the run of links before `end` with the same key as `links[k]`.
    fn run_end(&self, k: usize, end: usize) -> usize {
        let key = self.links[k].0;
        let mut run = k + 1;
        while run < end && self.links[run].0 == key {
            run += 1;
        }
        run
    }

    /// Appends a link for every edge at `u`.
    fn collect_links(
        &mut self,
        g: &ProgramGraph,
        types: &mut TypeHasher,
        merkle: &impl Fn(NodeId) -> ContentHash,
        u: NodeId,
    ) {
        let links = &mut self.links;
        edges_at(g, types, merkle, u, |(relation, slot, source_port, value_type, other, n)| {
            let head = (relation as u64) << 56 | (slot as u64) << 16 | source_port as u64;
            links.push((LinkKey { head, value_type: prefix(&value_type), other: prefix(&other) }, n));
        });
    }

    /// A residual node's descriptor: its Merkle hash and every incident edge, the other
    /// end named by its number if it has one, else by its Merkle hash; order-free.
    fn descriptor(
        &mut self,
        g: &ProgramGraph,
        types: &mut TypeHasher,
        merkle: &impl Fn(NodeId) -> ContentHash,
        v: NodeId,
    ) -> ContentHash {
        let mut items = std::mem::take(&mut self.items);
        items.clear();
        let mut linked = false;
        edges_at(g, types, merkle, v, |(relation, slot, source_port, value_type, other, n)| {
            let mut item = [0u8; ITEM];
            item[0] = relation;
            item[1..5].copy_from_slice(&slot.to_le_bytes());
            item[5..7].copy_from_slice(&source_port.to_le_bytes());
            item[7..39].copy_from_slice(&value_type.0);
            match self.number(n) {
                UNNUMBERED => {
                    linked = true;
                    item[39] = 1;
                    item[40..72].copy_from_slice(&other.0);
                }
                number => item[40..44].copy_from_slice(&number.to_le_bytes()),
            }
            items.push(item);
        });
        items.sort_unstable();
        self.items = items;
        self.residual_linked |= linked;
        let mut h = blake3::Hasher::new_keyed(Domain::Residual.key());
        h.update(&merkle(v).0);
        h.update(&(self.items.len() as u32).to_le_bytes());
        for item in &self.items {
            h.update(item);
        }
        ContentHash(*h.finalize().as_bytes())
    }
}

/// Calls `visit` for every edge at `u`, seen from `u`.
fn edges_at(
    g: &ProgramGraph,
    types: &mut TypeHasher,
    merkle: &impl Fn(NodeId) -> ContentHash,
    u: NodeId,
    mut visit: impl FnMut(Seen),
) {
    let Some(index) = g.node_idx(u) else { return };
    for (direction, data, control) in
        [(Direction::Incoming, DATA_INPUT, CONTROL_IN), (Direction::Outgoing, DATA_USE, CONTROL_OUT)]
    {
        for e in g.compute.edges_directed(index, direction) {
            let other = g.compute[if direction == Direction::Incoming { e.source() } else { e.target() }].id;
            visit(match e.weight().edge {
                FlowEdge::Data { source_port, target_port, value_type } => {
                    (data, target_port as u32, source_port, types.type_ref(g, value_type), merkle(other), other)
                }
                FlowEdge::Control { branch_index } => {
                    (control, slot_of_branch(branch_index), 0, ContentHash::default(), merkle(other), other)
                }
            });
        }
    }
}
