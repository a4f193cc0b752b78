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
//! reached by nothing, or nodes reached only through a tie) get *descriptors* naming
//! every incident edge, the other end by its number when it has one. Those whose
//! descriptor no other shares become *anchors* the traversal restarts from; those
//! whose edges all go to numbered nodes (*inert*) are pinned down by their
//! descriptor; what remains is symmetric, and *individualisation* tries each member of
//! a class of identical nodes as the next number and keeps the smallest result, within
//! a budget past which the rest stays a multiset (the function is then not exact).
//! `docs/hashing.md` has the byte layout and proves both directions.
//!
//! Cost: linear in the function (each node's links are sorted, a handful at most), and
//! one blake3 call over the whole encoding, which blake3 hashes with SIMD; at most 64
//! branches, each linear in the nodes still symmetric. An edit re-runs it for the
//! edited function only.

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
    /// Descriptors of the unnumbered nodes, sorted by descriptor, each with whether it
    /// names another unnumbered node.
    pending: Vec<(ContentHash, NodeId, bool)>,
    /// Unnumbered nodes linked to other unnumbered nodes, once the traversal and the
    /// anchors are done: what individualisation works on.
    active: Vec<NodeId>,
    items: Vec<[u8; ITEM]>,
    /// The nodes a round of descriptors is for, and one descriptor's bytes: hashed in
    /// one call, which costs a fraction of feeding a streaming hasher item by item.
    candidates: Vec<NodeId>,
    descriptor_bytes: Vec<u8>,
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

/// The first part of a body's canonical form, kept between edits: the nodes the
/// traversal from the entry numbers, and their records. When that part is *closed*
/// (no link of one of its nodes leads outside it, so nothing else is linked to it), an
/// edit that touches none of its nodes cannot change its numbering or its bytes, and
/// the next hash of the body works out only the rest (an inserted node, say) and hashes
/// these bytes again. `docs/hashing.md` ("Rehashing after an edit") has the argument.
#[derive(Debug, Clone)]
pub(crate) struct MainPart {
    entry: Option<NodeId>,
    /// The part's nodes, sorted by id.
    nodes: Vec<NodeId>,
    /// Their records, as the encoding has them after its header.
    records: Vec<u8>,
}

impl MainPart {
    /// Whether `n` is one of the part's nodes.
    pub(crate) fn contains(&self, n: NodeId) -> bool {
        self.nodes.binary_search(&n).is_ok()
    }

    /// Where the part's records live: the same place after an edit that reused the
    /// part, a new one after one that made it again (for tests).
    #[cfg(test)]
    pub(crate) fn records_at(&self) -> *const u8 {
        self.records.as_ptr()
    }

    /// The memory the part holds, for the index's budget.
    pub(crate) fn size(&self) -> usize {
        self.nodes.len() * std::mem::size_of::<NodeId>() + self.records.len()
    }
}

/// The hash of a function's body.
pub(crate) struct Body {
    pub(crate) hash: ContentHash,
    /// Whether the encoding describes the body up to isomorphism: no unnumbered node
    /// is linked to another (so each is pinned down by its descriptor).
    pub(crate) exact: bool,
    /// The body's first part, when it is closed, was asked for and was worked out
    /// afresh (none when it was reused, or is not closed).
    pub(crate) main: Option<MainPart>,
    /// Whether the part given to reuse was used (it is not when the entry changed).
    pub(crate) reused: bool,
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
    /// gives the stored Merkle hash of a node. `reuse` is the body's first part as
    /// worked out before an edit that touched none of its nodes (see [`MainPart`]);
    /// `keep` asks for this body's first part, if closed, in the result.
    pub(crate) fn body(
        &mut self,
        g: &ProgramGraph,
        types: &mut TypeHasher,
        merkle: impl Fn(NodeId) -> ContentHash,
        f: FunctionId,
        reuse: Option<&MainPart>,
        keep: bool,
    ) -> Body {
        self.order.clear();
        self.links.clear();
        self.spans.clear();
        self.active.clear();
        let entry = g.function(f).and_then(|d| d.entry_node).filter(|n| g.node(*n).is_some_and(|x| x.owner == f));
        let reuse = reuse.filter(|m| m.entry == entry);
        let closed = match reuse {
            Some(main) => {
                // Numbered, in whatever order: the rest is linked to none of them, so
                // nothing below writes their numbers. An empty span each: nothing to
                // traverse from them.
                for &n in &main.nodes {
                    self.assign(n);
                    self.spans.push((0, 0));
                }
                false
            }
            None => {
                if let Some(entry) = entry {
                    self.assign(entry);
                }
                self.traverse(g, types, &merkle);
                self.links.iter().all(|l| self.number(l.1) != UNNUMBERED)
            }
        };
        let main_count = self.order.len();
        self.anchor(g, types, &merkle, Some(f));

        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.clear();
        bytes.push(entry.is_some() as u8);
        bytes.extend_from_slice(&(self.order.len() as u64).to_le_bytes());
        let records = bytes.len();
        match reuse {
            Some(main) => bytes.extend_from_slice(&main.records),
            None => {
                for i in 0..main_count {
                    self.write_record(i, false, &merkle, &mut bytes);
                }
            }
        }
        let main = (keep && closed).then(|| {
            let mut nodes = self.order[..main_count].to_vec();
            nodes.sort_unstable();
            MainPart { entry, nodes, records: bytes[records..].to_vec() }
        });
        for i in main_count..self.order.len() {
            self.write_record(i, false, &merkle, &mut bytes);
        }
        self.write_inert(&mut bytes);
        let exact = self.individualise(g, types, &merkle, 1, &mut bytes);
        let hash = ContentHash(*blake3::keyed_hash(Domain::Body.key(), &bytes).as_bytes());
        self.bytes = bytes;
        for n in &self.order {
            self.numbers[n.index()] = UNNUMBERED;
        }
        Body { hash, exact, main, reused: reuse.is_some() }
    }

    /// Numbers more nodes from anchors: unnumbered nodes whose descriptor no other
    /// unnumbered node shares, in descriptor order. Each round of anchors can single
    /// out more nodes (descriptors name numbered neighbours by number), up to
    /// `ANCHOR_ROUNDS`. Leaves `pending` describing the nodes still unnumbered: those
    /// of `f`, or with `None` those of `active`.
    fn anchor(
        &mut self,
        g: &ProgramGraph,
        types: &mut TypeHasher,
        merkle: &impl Fn(NodeId) -> ContentHash,
        f: Option<FunctionId>,
    ) {
        for round in 0..ANCHOR_ROUNDS {
            self.describe_unnumbered(g, types, merkle, f, round > 0);
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
        self.describe_unnumbered(g, types, merkle, f, true);
    }

    /// Writes the descriptors of the unnumbered nodes linked to no other unnumbered
    /// node (*inert*: every edge of theirs names a number, and nothing numbered later
    /// can reach them), and makes the others the `active` set.
    fn write_inert(&mut self, out: &mut Vec<u8>) {
        let inert = self.pending.iter().filter(|p| !p.2).count();
        out.extend_from_slice(&(inert as u64).to_le_bytes());
        for (d, _, _) in self.pending.iter().filter(|p| !p.2) {
            out.extend_from_slice(&d.0);
        }
        self.pending.retain(|p| p.2);
        self.active.clear();
        self.active.extend(self.pending.iter().map(|p| p.1));
    }

    /// The active nodes (unnumbered and linked to each other) are what a multiset of
    /// descriptors could get wrong. So, within a budget of `INDIVIDUALISE_BRANCHES`,
    /// try numbering each member of the first class of equal descriptors next, carry
    /// on, and write the smallest branch hash. The set of choices depends on content
    /// only, so the minimum does too. Each branch writes the records of the nodes it
    /// numbers with all their links (so edges back to earlier numbers are named from
    /// this side), then its inert descriptors, then its own individualisation. Returns
    /// whether everything ended up numbered or inert.
    fn individualise(
        &mut self,
        g: &ProgramGraph,
        types: &mut TypeHasher,
        merkle: &impl Fn(NodeId) -> ContentHash,
        branches: u32,
        out: &mut Vec<u8>,
    ) -> bool {
        // The first class of two or more (each level at least doubles the branches,
        // so the recursion is at most six deep).
        let first = self.pending.windows(2).find(|w| w[0].0 == w[1].0).map(|w| w[0].0);
        let class: Vec<NodeId> = match first {
            Some(d) => self.pending.iter().filter(|p| p.0 == d).map(|p| p.1).collect(),
            None => Vec::new(),
        };
        let product = branches.saturating_mul(class.len() as u32);
        if class.is_empty() || product > INDIVIDUALISE_BRANCHES {
            out.push(0);
            out.extend_from_slice(&(self.pending.len() as u64).to_le_bytes());
            for (d, _, _) in &self.pending {
                out.extend_from_slice(&d.0);
            }
            return self.pending.is_empty();
        }
        let saved = (self.order.len(), self.links.len(), self.spans.len(), self.pending.clone(), self.active.clone());
        let mut best: Option<(ContentHash, bool)> = None;
        for c in class {
            self.assign(c);
            self.traverse(g, types, merkle);
            self.anchor(g, types, merkle, None);
            let mut branch = Vec::new();
            branch.extend_from_slice(&((self.order.len() - saved.0) as u64).to_le_bytes());
            for i in saved.0..self.order.len() {
                self.write_record(i, true, merkle, &mut branch);
            }
            self.write_inert(&mut branch);
            let exact = self.individualise(g, types, merkle, product, &mut branch);
            let hash = ContentHash(*blake3::keyed_hash(Domain::Body.key(), &branch).as_bytes());
            if best.is_none_or(|b| hash < b.0) {
                best = Some((hash, exact));
            }
            for n in &self.order[saved.0..] {
                self.numbers[n.index()] = UNNUMBERED;
            }
            self.order.truncate(saved.0);
            self.links.truncate(saved.1);
            self.spans.truncate(saved.2);
            self.pending.clone_from(&saved.3);
            self.active.clone_from(&saved.4);
        }
        let (hash, exact) = best.unwrap_or_default();
        out.push(1);
        out.extend_from_slice(&hash.0);
        exact
    }

    /// Writes the record of the node numbered `i`: its Merkle hash, then its data
    /// inputs and control successors (with `all`, every link) in key order, equal keys
    /// by number, each `u8(relation) u32(slot) u32(number)`, followed by the other
    /// end's Merkle hash when it has no number yet.
    fn write_record(&mut self, i: usize, all: bool, merkle: &impl Fn(NodeId) -> ContentHash, out: &mut Vec<u8>) {
        let (start, end) = (self.spans[i].0 as usize, self.spans[i].1 as usize);
        out.extend_from_slice(&merkle(self.order[i]).0);
        let written = |k: &LinkKey| all || k.relation() <= CONTROL_OUT;
        let count = self.links[start..end].iter().filter(|l| written(&l.0)).count();
        out.extend_from_slice(&(count as u32).to_le_bytes());
        let mut k = start;
        while k < end && written(&self.links[k].0) {
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
                out.push(key.relation());
                out.extend_from_slice(&key.slot().to_le_bytes());
                out.extend_from_slice(&number.to_le_bytes());
                if number == UNNUMBERED {
                    out.extend_from_slice(&merkle(n).0);
                }
            }
            k = run;
        }
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

    /// Sets `pending` to the descriptor of every unnumbered node of `f` (with `None`,
    /// of `active`), sorted, each with whether it names another unnumbered node.
    /// `again`: `pending` describes them as of an earlier round, so only those still
    /// unnumbered are left to look at (rather than the whole function).
    fn describe_unnumbered(
        &mut self,
        g: &ProgramGraph,
        types: &mut TypeHasher,
        merkle: &impl Fn(NodeId) -> ContentHash,
        f: Option<FunctionId>,
        again: bool,
    ) {
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        match f {
            _ if again => candidates.extend(self.pending.iter().map(|p| p.1).filter(|v| self.number(*v) == UNNUMBERED)),
            Some(f) if self.order.len() == g.functions.get(&f).map_or(0, |e| e.nodes.len()) => {}
            Some(f) => candidates.extend(g.function_nodes(f).filter(|v| self.number(*v) == UNNUMBERED)),
            None => candidates.extend(self.active.iter().copied().filter(|v| self.number(*v) == UNNUMBERED)),
        }
        self.pending.clear();
        for &v in &candidates {
            let (d, linked) = self.descriptor(g, types, merkle, v);
            self.pending.push((d, v, linked));
        }
        self.candidates = candidates;
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
    ) -> (ContentHash, bool) {
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
        let bytes = &mut self.descriptor_bytes;
        bytes.clear();
        bytes.extend_from_slice(&merkle(v).0);
        bytes.extend_from_slice(&(items.len() as u32).to_le_bytes());
        for item in &items {
            bytes.extend_from_slice(item);
        }
        self.items = items;
        (ContentHash(*blake3::keyed_hash(Domain::Residual.key(), bytes).as_bytes()), linked)
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
