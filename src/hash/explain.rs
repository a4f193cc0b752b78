//! Why a node hashes as it does: every field that went into its Merkle hash and its
//! local context, with the exact bytes, so a surprising hash (or a hash that changed)
//! can be traced to the field responsible by comparing two explanations.
//!
//! The local context (a node's Merkle hash and the edges it has beyond its data
//! inputs, each with the other end's Merkle hash) is what `diff` matches nodes by. It
//! is not part of any root: function roots come from the canonical form of the body
//! (`canonical.rs`), which names neighbours by position rather than by content.

use super::digest::ContentHash;
use super::encode::{self, Domain, Encoder, TypeHasher};
use super::index::{HashIndex, data_inputs, slot};
use crate::graph::ProgramGraph;
use crate::model::{EdgeId, FlowEdge, NodeId};
use serde::{Deserialize, Serialize};

/// One field of a hash input: its name, a readable value, and the exact bytes written
/// (hex), so concatenating `bytes` and hashing under the key reproduces the hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashInput {
    /// What the field is (`"op"`, `"target_port"`, `"source"`...).
    pub field: String,
    /// The value as a person reads it (a number, a quoted string, a hex digest).
    pub value: String,
    /// The bytes written for it, in hex.
    pub bytes: String,
}

/// One edge of a node's local context, seen from the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbour {
    /// The edge.
    pub edge: EdgeId,
    /// `"data use"` (this node feeds the edge's target), `"control out"` or
    /// `"control in"`.
    pub relation: String,
    /// The target port (data use) or branch (control).
    pub slot: Option<u16>,
    /// The Merkle hash of the edge's other end.
    pub other_end: ContentHash,
}

/// The inputs of a node's two hashes.
///
/// The Merkle hash is `keyed_hash(key, concat(inputs.bytes))` with the key
/// `derive_key(key_context, "")`; the local context likewise from `context_inputs`
/// and `context_key_context`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeHashExplanation {
    /// The node explained.
    pub node: NodeId,
    /// The blake3 `derive_key` context of the Merkle hash's key.
    pub key_context: String,
    /// The fields of the Merkle hash's input: the op, then the sorted data inputs.
    pub inputs: Vec<HashInput>,
    /// The Merkle hash, as `HashIndex::node` reports it.
    pub hash: ContentHash,
    /// The edges beyond the data inputs, in the order they are hashed.
    pub neighbours: Vec<Neighbour>,
    /// The `derive_key` context of the local context's key.
    pub context_key_context: String,
    /// The fields of the local context's input: the Merkle hash, then the sorted
    /// neighbours.
    pub context_inputs: Vec<HashInput>,
    /// The local context, as `diff` matches nodes by it.
    pub context: ContentHash,
}

/// Relations of the local context, in the order its neighbours are sorted.
const RELATIONS: [&str; 3] = ["data use", "control out", "control in"];

/// A neighbour as sorted and hashed: relation, slot, source port, value type, other end.
type Item = (u8, u32, u16, ContentHash, ContentHash, EdgeId);

fn items(g: &ProgramGraph, types: &mut TypeHasher, index: &HashIndex, n: NodeId) -> Vec<Item> {
    let merkle = |m: NodeId| slot(&index.nodes, m.index()).unwrap_or_default();
    let mut out = Vec::new();
    for e in g.outgoing(n) {
        out.push(match e.edge {
            FlowEdge::Data { source_port, target_port, value_type } => {
                (0, target_port as u32, source_port, types.type_ref(g, value_type), merkle(e.target), e.id)
            }
            FlowEdge::Control { branch_index } => {
                (1, branch_index.map_or(0, |b| b as u32 + 1), 0, ContentHash::default(), merkle(e.target), e.id)
            }
        });
    }
    for e in g.incoming(n) {
        if let FlowEdge::Control { branch_index } = e.edge {
            out.push((2, branch_index.map_or(0, |b| b as u32 + 1), 0, ContentHash::default(), merkle(e.source), e.id));
        }
    }
    // Sorted without the edge id, so the order (hence the hash) is free of numbering;
    // equal items write equal bytes whatever their order.
    out.sort_unstable_by_key(|i| (i.0, i.1, i.2, i.3, i.4));
    out
}

fn context(merkle: &ContentHash, items: &[Item], traced: bool) -> Encoder {
    let mut e = if traced { Encoder::traced(Domain::NodeContext) } else { Encoder::new(Domain::NodeContext) };
    e.hash("hash", merkle).u32("neighbours", items.len() as u32);
    for (relation, slot, source_port, value_type, other, _) in items {
        e.u8("relation", *relation).u32("slot", *slot).u16("source_port", *source_port);
        e.hash("value_type", value_type).hash("other_end", other);
    }
    e
}

/// A node's local context: its Merkle hash and its other edges, each with the other
/// end's Merkle hash. `None` if the node does not exist.
pub(crate) fn local_context(g: &ProgramGraph, types: &mut TypeHasher, n: NodeId) -> Option<ContentHash> {
    let index = g.hashes();
    let merkle = index.node(n)?;
    Some(context(&merkle, &items(g, types, index, n), false).finish())
}

/// Recomputes a node's hashes with every input recorded; `None` if the node does not
/// exist. Source and neighbour hashes are read from the graph's index.
pub fn explain_node(g: &ProgramGraph, n: NodeId) -> Option<NodeHashExplanation> {
    let node = g.node(n)?;
    let index = g.hashes();
    let mut types = TypeHasher::default();
    let mut inputs = Vec::new();
    data_inputs(g, &mut types, n, |s| slot(&index.nodes, s.index()), &mut inputs);
    let mut merkle = Encoder::traced(Domain::Node);
    encode::node(&mut merkle, g, &mut types, &node.op, &inputs);
    let hash = merkle.finish();

    let items = items(g, &mut types, index, n);
    let neighbours = items
        .iter()
        .map(|(relation, slot, _, _, other, edge)| Neighbour {
            edge: *edge,
            relation: RELATIONS[*relation as usize].to_string(),
            slot: match (*relation, *slot) {
                (0, port) => Some(port as u16),
                (_, 0) => None,
                (_, branch) => Some((branch - 1) as u16),
            },
            other_end: *other,
        })
        .collect();
    let c = context(&hash, &items, true);
    let context_hash = c.finish();
    Some(NodeHashExplanation {
        node: n,
        key_context: Domain::Node.context(),
        inputs: merkle.into_trace(),
        hash,
        neighbours,
        context_key_context: Domain::NodeContext.context(),
        context_inputs: c.into_trace(),
        context: context_hash,
    })
}
