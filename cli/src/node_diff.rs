//! Node-level diff of one function between two programs: nodes and edges added,
//! removed and changed, in the readable notation.
//!
//! Ids mean nothing across programs (an edited copy may number everything anew), so
//! nodes are matched by content: first the nodes that compute the same thing (equal
//! Merkle hash and notation) and are alone in doing so, then, spreading out from those,
//! nodes with the same notation joined to already matched nodes by corresponding edges,
//! then nodes whose notation is unique on both sides. What is left and still joined to
//! matched nodes in the same way is a node whose operation changed; the rest was added
//! or removed. Edges are compared through the matching.

use lmlang_storage::graph::{EdgeView, ProgramGraph};
use lmlang_storage::model::{FlowEdge, FunctionId, NodeId};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// A node or edge before and after.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub before: String,
    pub after: String,
}

/// How one function differs, every list in the readable notation: removed items with
/// `a`'s ids, added ones with `b`'s.
#[derive(Serialize, Debug, Default)]
pub struct FunctionNodeDiff {
    pub name: String,
    pub signature: Option<Change>,
    pub entry: Option<Change>,
    pub removed_nodes: Vec<String>,
    pub added_nodes: Vec<String>,
    pub changed_nodes: Vec<Change>,
    pub removed_edges: Vec<String>,
    pub added_edges: Vec<String>,
    pub changed_edges: Vec<Change>,
}

impl FunctionNodeDiff {
    /// Whether nothing differs that this diff can show.
    pub fn is_empty(&self) -> bool {
        self.signature.is_none()
            && self.entry.is_none()
            && self.removed_nodes.is_empty()
            && self.added_nodes.is_empty()
            && self.changed_nodes.is_empty()
            && self.removed_edges.is_empty()
            && self.added_edges.is_empty()
            && self.changed_edges.is_empty()
    }

    /// The diff as indented lines: `- ` removed, `+ ` added, `~ ` changed (`before  =>  after`).
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let changed = |c: &Change| format!("~ {}  =>  {}", c.before, c.after);
        if let Some(c) = &self.signature {
            out.push(format!("~ signature {}  =>  {}", c.before, c.after));
        }
        if let Some(c) = &self.entry {
            out.push(format!("~ entry {}  =>  {}", c.before, c.after));
        }
        out.extend(self.removed_nodes.iter().map(|n| format!("- {n}")));
        out.extend(self.added_nodes.iter().map(|n| format!("+ {n}")));
        out.extend(self.changed_nodes.iter().map(changed));
        out.extend(self.removed_edges.iter().map(|e| format!("- {e}")));
        out.extend(self.added_edges.iter().map(|e| format!("+ {e}")));
        out.extend(self.changed_edges.iter().map(changed));
        out
    }
}

/// An edge as seen from one of its ends: which way it goes and what it carries
/// (ports and type text, or branch), so edges compare across programs.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Shape {
    outgoing: bool,
    label: String,
}

impl Shape {
    fn reversed(&self) -> Shape {
        Shape { outgoing: !self.outgoing, label: self.label.clone() }
    }
}

/// One function of one program, indexed for matching.
struct Side<'g> {
    g: &'g ProgramGraph,
    nodes: Vec<NodeId>,
    op: HashMap<NodeId, String>,
    edges: Vec<EdgeView>,
    neighbours: HashMap<NodeId, Vec<(NodeId, Shape)>>,
}

fn edge_label(g: &ProgramGraph, e: &EdgeView) -> String {
    let carried = g.notation().edge_label(&e.edge);
    match e.edge {
        FlowEdge::Data { source_port, target_port, .. } => format!("{source_port}->{target_port} {carried}"),
        FlowEdge::Control { .. } => carried,
    }
}

impl<'g> Side<'g> {
    fn new(g: &'g ProgramGraph, f: Option<FunctionId>) -> Side<'g> {
        let nodes: Vec<NodeId> = f.map(|f| g.function_nodes(f).collect()).unwrap_or_default();
        let text = g.notation();
        let op = nodes.iter().map(|n| (*n, text.node_op(*n))).collect();
        let edges: Vec<EdgeView> = nodes.iter().flat_map(|n| g.outgoing(*n)).collect();
        let mut neighbours: HashMap<NodeId, Vec<(NodeId, Shape)>> = HashMap::new();
        for e in &edges {
            let label = edge_label(g, e);
            neighbours.entry(e.source).or_default().push((e.target, Shape { outgoing: true, label: label.clone() }));
            neighbours.entry(e.target).or_default().push((e.source, Shape { outgoing: false, label }));
        }
        Side { g, nodes, op, edges, neighbours }
    }

    fn neighbours(&self, n: NodeId) -> &[(NodeId, Shape)] {
        self.neighbours.get(&n).map(Vec::as_slice).unwrap_or_default()
    }

    fn op(&self, n: NodeId) -> &str {
        self.op.get(&n).map(String::as_str).unwrap_or_default()
    }
}

#[derive(Default)]
struct Matching {
    a_to_b: HashMap<NodeId, NodeId>,
    b_to_a: HashMap<NodeId, NodeId>,
}

impl Matching {
    fn pair(&mut self, a: NodeId, b: NodeId) {
        self.a_to_b.insert(a, b);
        self.b_to_a.insert(b, a);
    }
}

/// The unmatched node of `a` that shares the most corresponding edges with `nb`
/// (edges to matched nodes, same direction and label), if one scores highest alone.
/// With `same_op`, only nodes with `nb`'s notation count.
fn best_partner(a: &Side, b: &Side, m: &Matching, nb: NodeId, same_op: bool) -> Option<NodeId> {
    let mut scores: BTreeMap<NodeId, usize> = BTreeMap::new();
    for (ob, shape) in b.neighbours(nb) {
        let Some(oa) = m.b_to_a.get(ob) else { continue };
        for (ca, shape_from_oa) in a.neighbours(*oa) {
            if m.a_to_b.contains_key(ca) || shape_from_oa.reversed() != *shape {
                continue;
            }
            if same_op && a.op(*ca) != b.op(nb) {
                continue;
            }
            *scores.entry(*ca).or_default() += 1;
        }
    }
    let best = scores.values().copied().max()?;
    let mut top = scores.iter().filter(|(_, s)| **s == best).map(|(n, _)| *n);
    let first = top.next();
    if top.next().is_some() { None } else { first }
}

/// Pairs nodes reached from matched ones, spreading until nothing more pairs.
fn spread(a: &Side, b: &Side, m: &mut Matching, mut work: Vec<NodeId>) {
    while let Some(nb) = work.pop() {
        if m.b_to_a.contains_key(&nb) {
            continue;
        }
        if let Some(na) = best_partner(a, b, m, nb, true) {
            m.pair(na, nb);
            work.extend(b.neighbours(nb).iter().map(|(n, _)| *n).filter(|n| !m.b_to_a.contains_key(n)));
        }
    }
}

/// Unmatched nodes whose notation is held by exactly one unmatched node on each side.
fn unique_leftovers(a: &Side, b: &Side, m: &Matching) -> Vec<(NodeId, NodeId)> {
    let by_op = |side: &Side, matched: &HashMap<NodeId, NodeId>| {
        let mut groups: BTreeMap<String, Vec<NodeId>> = BTreeMap::new();
        for n in side.nodes.iter().filter(|n| !matched.contains_key(n)) {
            groups.entry(side.op(*n).to_string()).or_default().push(*n);
        }
        groups
    };
    let (ga, gb) = (by_op(a, &m.a_to_b), by_op(b, &m.b_to_a));
    ga.iter()
        .filter_map(|(op, na)| match (na.as_slice(), gb.get(op).map(Vec::as_slice)) {
            ([na], Some([nb])) => Some((*na, *nb)),
            _ => None,
        })
        .collect()
}

fn match_nodes(a: &Side, b: &Side) -> (Matching, Vec<(NodeId, NodeId)>) {
    let mut m = Matching::default();
    // Anchors: a computation that occurs once on each side.
    let key = |side: &Side, n: NodeId| (side.g.hashes().node(n), side.op(n).to_string());
    let mut groups: HashMap<_, (Vec<NodeId>, Vec<NodeId>)> = HashMap::new();
    for n in &a.nodes {
        groups.entry(key(a, *n)).or_default().0.push(*n);
    }
    for n in &b.nodes {
        groups.entry(key(b, *n)).or_default().1.push(*n);
    }
    for (na, nb) in groups.values() {
        if let ([na], [nb]) = (na.as_slice(), nb.as_slice()) {
            m.pair(*na, *nb);
        }
    }
    let mut changed = Vec::new();
    let mut work: Vec<NodeId> = b.nodes.iter().rev().copied().filter(|n| !m.b_to_a.contains_key(n)).collect();
    loop {
        spread(a, b, &mut m, work);
        let mut fresh = unique_leftovers(a, b, &m);
        if fresh.is_empty() {
            // Same place, different operation: a changed node.
            let unmatched: Vec<NodeId> = b.nodes.iter().copied().filter(|n| !m.b_to_a.contains_key(n)).collect();
            for nb in unmatched {
                if let Some(na) = best_partner(a, b, &m, nb, false) {
                    m.pair(na, nb);
                    if a.op(na) != b.op(nb) {
                        changed.push((na, nb));
                    }
                    fresh.push((na, nb));
                }
            }
        } else {
            for (na, nb) in &fresh {
                m.pair(*na, *nb);
            }
        }
        if fresh.is_empty() {
            break;
        }
        work = fresh.iter().flat_map(|(_, nb)| b.neighbours(*nb).iter().map(|(n, _)| *n)).collect();
    }
    (m, changed)
}

/// The node-level diff of function `fa` of `a` against `fb` of `b` (either may be
/// absent: then every node of the other is added or removed).
pub fn diff_function(
    name: &str,
    a: &ProgramGraph,
    fa: Option<FunctionId>,
    b: &ProgramGraph,
    fb: Option<FunctionId>,
) -> FunctionNodeDiff {
    let (sa, sb) = (Side::new(a, fa), Side::new(b, fb));
    let (ta, tb) = (a.notation(), b.notation());
    let (m, changed) = match_nodes(&sa, &sb);
    let mut d = FunctionNodeDiff { name: name.to_string(), ..Default::default() };

    if let (Some(fa), Some(fb)) = (fa, fb) {
        let (before, after) = (ta.signature(fa), tb.signature(fb));
        if before != after {
            d.signature = Some(Change { before, after });
        }
        let (ea, eb) = (a.function(fa).and_then(|f| f.entry_node), b.function(fb).and_then(|f| f.entry_node));
        if ea.and_then(|n| m.a_to_b.get(&n).copied()) != eb {
            let show = |n: Option<NodeId>, t: &lmlang_storage::graph::Notation| {
                n.map(|n| t.node(n)).unwrap_or_else(|| "none".into())
            };
            d.entry = Some(Change { before: show(ea, &ta), after: show(eb, &tb) });
        }
    }
    d.removed_nodes = sa.nodes.iter().filter(|n| !m.a_to_b.contains_key(n)).map(|n| ta.node(*n)).collect();
    d.added_nodes = sb.nodes.iter().filter(|n| !m.b_to_a.contains_key(n)).map(|n| tb.node(*n)).collect();
    d.changed_nodes = changed.iter().map(|(na, nb)| Change { before: ta.node(*na), after: tb.node(*nb) }).collect();

    // Edges of `a` carried into `b`'s numbering; an edge with an unmatched end has no
    // counterpart. Equal keys cancel as a multiset.
    type Key = (NodeId, NodeId, String);
    let mut unmatched_b: HashMap<Key, Vec<&EdgeView>> = HashMap::new();
    for e in &sb.edges {
        unmatched_b.entry((e.source, e.target, edge_label(b, e))).or_default().push(e);
    }
    let mut removed: Vec<&EdgeView> = Vec::new();
    for e in &sa.edges {
        let mapped = m.a_to_b.get(&e.source).zip(m.a_to_b.get(&e.target));
        let counterpart = mapped
            .and_then(|(s, t)| unmatched_b.get_mut(&(*s, *t, edge_label(a, e))))
            .and_then(|v| (!v.is_empty()).then(|| v.remove(0)));
        if counterpart.is_none() {
            removed.push(e);
        }
    }
    let mut added: Vec<&EdgeView> = unmatched_b.into_values().flatten().collect();
    added.sort_by_key(|e| e.id);
    // A removed and an added edge between the same matched ends into the same slot
    // (or both control) are one edge whose type or branch changed.
    let slot = |e: &EdgeView| match e.edge {
        FlowEdge::Data { target_port, .. } => Some(target_port),
        FlowEdge::Control { .. } => None,
    };
    for ea in removed {
        let ends = m.a_to_b.get(&ea.source).zip(m.a_to_b.get(&ea.target));
        let partner = ends.and_then(|(s, t)| {
            added.iter().position(|eb| {
                eb.source == *s && eb.target == *t && eb.edge.kind() == ea.edge.kind() && slot(eb) == slot(ea)
            })
        });
        match partner {
            Some(i) => {
                let eb = added.remove(i);
                d.changed_edges.push(Change { before: ta.edge(ea), after: tb.edge(eb) });
            }
            None => d.removed_edges.push(ta.edge(ea)),
        }
    }
    d.added_edges = added.iter().map(|e| tb.edge(e)).collect();
    d
}
