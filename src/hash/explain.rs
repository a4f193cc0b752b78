//! Why a node hashes as it does: the exact fields that went into its two hashes.

use super::ContentHash;
use super::canon::{self, Canon, domain};
use crate::graph::ProgramGraph;
use crate::model::{FlowEdge, NodeId};
use serde::Serialize;

/// One field of a hash input, as written into the hasher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HashInput {
    pub field: String,
    pub value: String,
}

/// The inputs of a node's local hash (its op) and of its Merkle hash (local hash plus
/// data inputs), each with the resulting digest. Comparing two explanations shows
/// which field made a hash change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeHashExplanation {
    pub node: NodeId,
    pub local_inputs: Vec<HashInput>,
    pub local: ContentHash,
    pub inputs: Vec<HashInput>,
    pub hash: ContentHash,
}

fn inputs(trace: Option<Vec<(String, String)>>) -> Vec<HashInput> {
    trace.unwrap_or_default().into_iter().map(|(field, value)| HashInput { field, value }).collect()
}

/// Recomputes a node's hashes with every input recorded; `None` for a missing node.
pub fn explain_node(g: &ProgramGraph, n: NodeId) -> Option<NodeHashExplanation> {
    let node = g.node(n)?;
    let mut local = Canon::traced(domain::NODE_LOCAL);
    canon::op(g, &mut local, &node.op);
    let local_hash = local.finish();
    let mut data: Vec<_> = g
        .incoming(n)
        .into_iter()
        .filter_map(|e| match e.edge {
            FlowEdge::Data { source_port, target_port, value_type } => Some((
                target_port,
                source_port,
                canon::type_ref(g, value_type),
                g.hashes().node(e.source).unwrap_or_default(),
            )),
            FlowEdge::Control { .. } => None,
        })
        .collect();
    data.sort();
    let mut deep = Canon::traced(domain::NODE);
    deep.hash("local", &local_hash).u32("inputs", data.len() as u32);
    for (tp, sp, ty, src) in &data {
        deep.u32("target_port", *tp as u32).u32("source_port", *sp as u32).hash("value_type", ty).hash("source", src);
    }
    let hash = deep.finish();
    Some(NodeHashExplanation {
        node: n,
        local_inputs: inputs(local.trace.take()),
        local: local_hash,
        inputs: inputs(deep.trace.take()),
        hash,
    })
}
