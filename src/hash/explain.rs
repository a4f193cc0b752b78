//! Why a node hashes as it does: every field that went into its Merkle hash and its
//! context, with the exact bytes, so a surprising hash (or a hash that changed) can be
//! traced to the field responsible by comparing two explanations.

use super::digest::ContentHash;
use super::encode::{self, Domain, Encoder, TypeHasher};
use super::index::{data_inputs, slot};
use super::neighbour::{self, Relation};
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

/// One term of a node's neighbour sum: an edge seen from this node.
///
/// `term = multiplier * other_end` modulo 2^256 (both read as little-endian
/// integers); `multiplier` is `keyed_hash(multiplier key, concat(multiplier_inputs))`
/// with its lowest bit set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighbourTerm {
    /// The edge this term stands for.
    pub edge: EdgeId,
    /// `"data use"` (this node feeds the edge's target), `"control out"` or
    /// `"control in"`.
    pub relation: String,
    /// The target port (data use) or branch (control).
    pub slot: Option<u16>,
    /// The fields of the multiplier's input.
    pub multiplier_inputs: Vec<HashInput>,
    /// The multiplier, a 256-bit little-endian odd number.
    pub multiplier: ContentHash,
    /// The Merkle hash of the edge's other end.
    pub other_end: ContentHash,
    /// `multiplier * other_end` modulo 2^256.
    pub term: ContentHash,
}

/// The inputs of a node's two hashes.
///
/// The Merkle hash is `keyed_hash(key, concat(inputs.bytes))` with the key
/// `derive_key(key_context, "")`. The context is `keyed_hash(context key, hash ||
/// neighbour_sum)`, where `neighbour_sum` is the sum modulo 2^256 of the terms.
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
    /// The `derive_key` context of the key multipliers are hashed under.
    pub multiplier_key_context: String,
    /// One term per data edge the node feeds and per control edge at either end,
    /// ordered by edge id.
    pub neighbour_terms: Vec<NeighbourTerm>,
    /// The sum of the terms modulo 2^256.
    pub neighbour_sum: ContentHash,
    /// The `derive_key` context of the context hash's key.
    pub context_key_context: String,
    /// The context hash, as `HashIndex::node_context` reports it.
    pub context: ContentHash,
}

fn term(edge: EdgeId, relation: Relation, slot: Option<u16>, other_end: ContentHash) -> NeighbourTerm {
    let input = neighbour::multiplier_input(relation, slot, true);
    let multiplier = neighbour::multiplier(relation, slot);
    NeighbourTerm {
        edge,
        relation: relation.name().to_string(),
        slot,
        multiplier_inputs: input.into_trace(),
        multiplier,
        other_end,
        term: neighbour::term(relation, slot, &other_end),
    }
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

    let other = |id: NodeId| index.node(id).unwrap_or_default();
    let mut terms = Vec::new();
    for e in g.outgoing(n) {
        terms.push(match e.edge {
            FlowEdge::Data { target_port, .. } => term(e.id, Relation::DataUse, Some(target_port), other(e.target)),
            FlowEdge::Control { branch_index } => term(e.id, Relation::ControlOut, branch_index, other(e.target)),
        });
    }
    for e in g.incoming(n) {
        if let FlowEdge::Control { branch_index } = e.edge {
            terms.push(term(e.id, Relation::ControlIn, branch_index, other(e.source)));
        }
    }
    terms.sort_by(|a, b| (a.edge, &a.relation).cmp(&(b.edge, &b.relation)));
    let neighbour_sum = terms.iter().fold(ContentHash::default(), |s, t| s.wrapping_add(t.term));
    let context = encode::pair(Domain::NodeContext, &hash, &neighbour_sum);
    Some(NodeHashExplanation {
        node: n,
        key_context: Domain::Node.context(),
        inputs: merkle.into_trace(),
        hash,
        multiplier_key_context: Domain::Multiplier.context(),
        neighbour_terms: terms,
        neighbour_sum,
        context_key_context: Domain::NodeContext.context(),
        context,
    })
}
