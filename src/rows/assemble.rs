//! Assembly's verdicts: rows that do not form a whole program, and semantic rows that
//! disagree with the program, as `Corrupt` errors naming a table and key.

use crate::graph::{Entity, NameRule, PartialGraph, ProgramDocument, ProgramGraph, Violation};
use crate::model::{SemanticEdge, SemanticKey, SemanticNode};
use crate::store::{ProgramId, StorageError, StorageResult};
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use std::collections::BTreeSet;

/// Assembles stored rows into a graph; rows that do not form a whole program are a
/// `Corrupt` error naming the first offending row. Names are held to the rule stored
/// rows obey (`NameRule::Stored`), so programs stored before the current name rule load.
pub fn assemble(program: ProgramId, doc: ProgramDocument) -> StorageResult<ProgramGraph> {
    ProgramGraph::from_stored(doc).map_err(|v| violations_to_corrupt(program, v))
}

/// Finishes a graph assembled in steps (see [`PartialGraph`]); like [`assemble`],
/// rows that do not form a whole program are a `Corrupt` error naming the first
/// offending row.
pub(crate) fn finish(program: ProgramId, partial: PartialGraph) -> StorageResult<ProgramGraph> {
    partial.finish().checked(NameRule::Stored).map_err(|v| violations_to_corrupt(program, v))
}

/// The table that stores an entity (the same name on every SQL backend).
pub fn table_of(entity: Entity) -> &'static str {
    match entity {
        Entity::Program => "lmlang_programs",
        Entity::Module(_) => "lmlang_modules",
        Entity::Type(_) => "lmlang_types",
        Entity::Function(_) => "lmlang_functions",
        Entity::Node(_) => "lmlang_compute_nodes",
        Entity::Edge(_) => "lmlang_flow_edges",
    }
}

/// Stored rows that do not form a whole program: the first violation names the table
/// and key, the detail counts the rest.
fn violations_to_corrupt(program: ProgramId, mut violations: Vec<Violation>) -> StorageError {
    violations.sort();
    let Some(first) = violations.first() else {
        return StorageError::Corrupt {
            table: "lmlang_programs",
            key: format!("program {program}"),
            detail: "invalid".into(),
        };
    };
    let key = match first.entity {
        Entity::Program => format!("program {program}"),
        other => format!("program {program} {other}"),
    };
    let more = match violations.len() {
        1 => String::new(),
        n => format!(
            " ({} more: {})",
            n - 1,
            violations.iter().skip(1).take(3).map(|v| v.to_string()).collect::<Vec<_>>().join("; ")
        ),
    };
    StorageError::Corrupt { table: table_of(first.entity), key, detail: format!("{}{more}", first.message) }
}

/// Checks that stored semantic rows equal the graph's semantic graph (which assembly
/// rebuilt from the primary rows).
pub fn check_semantic(
    program: ProgramId,
    graph: &ProgramGraph,
    stored_nodes: Vec<SemanticNode>,
    stored_edges: Vec<(SemanticEdge, SemanticKey, SemanticKey)>,
) -> StorageResult<()> {
    let sem = graph.semantic_graph();
    let expected_nodes: BTreeSet<(SemanticKey, String)> =
        sem.node_weights().map(|n| (n.key(), format!("{n:?}"))).collect();
    let stored_nodes: BTreeSet<(SemanticKey, String)> =
        stored_nodes.into_iter().map(|n| (n.key(), format!("{n:?}"))).collect();
    if let Some(diff) = expected_nodes.symmetric_difference(&stored_nodes).next() {
        return Err(StorageError::Corrupt {
            table: "lmlang_semantic_nodes",
            key: format!("program {program} {:?}", diff.0),
            detail: format!("stored semantic node disagrees with the program: {}", diff.1),
        });
    }
    let expected_edges: BTreeSet<(SemanticEdge, SemanticKey, SemanticKey)> =
        sem.edge_references().map(|e| (*e.weight(), sem[e.source()].key(), sem[e.target()].key())).collect();
    let stored_edges: BTreeSet<(SemanticEdge, SemanticKey, SemanticKey)> = stored_edges.into_iter().collect();
    if let Some((kind, from, to)) = expected_edges.symmetric_difference(&stored_edges).next() {
        let side = if stored_edges.contains(&(*kind, *from, *to)) { "stored but not derived" } else { "missing" };
        return Err(StorageError::Corrupt {
            table: "lmlang_semantic_edges",
            key: format!("program {program} {from:?} {kind:?} {to:?}"),
            detail: format!("semantic edge is {side}"),
        });
    }
    Ok(())
}
