//! The mapper, read side: rows to a [`ProgramDocument`] and on to a [`ProgramGraph`].
//!
//! A load is one `SELECT` per table, each reading one key range of the program in key
//! order; there is never a query per row. Every row is decoded strictly (see
//! [`codec`](super::codec)), and the assembled document must pass the graph's own
//! validation: a reference to a missing node, function or type is reported as a
//! `Corrupt` error naming the table and key of the offending row.

use super::tables::{edges, functions, modules, nodes, programs, semantic, types};
use crate::graph::{
    DOCUMENT_FORMAT_VERSION, EdgeEntry, Entity, PartialGraph, ProgramDocument, ProgramGraph, Violation,
};
use crate::model::{SemanticEdge, SemanticKey, SemanticNode};
use crate::store::{ProgramId, ProgramRef, StorageError, StorageResult};
use diesel::sqlite::SqliteConnection;
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use std::collections::BTreeSet;

fn header(conn: &mut SqliteConnection, program: ProgramId) -> StorageResult<programs::Header> {
    programs::find(conn, program.0)?.ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))?.header()
}

/// Everything of a program but its edges, which come empty; its nodes come by owner,
/// not in id order (assembly accepts either). Run inside a transaction.
pub fn read_without_edges(conn: &mut SqliteConnection, program: ProgramId) -> StorageResult<(ProgramDocument, u64)> {
    let header = header(conn, program)?;
    let modules =
        modules::load(conn, program.0)?.into_iter().map(modules::ModuleRow::decode).collect::<Result<_, _>>()?;
    let types = types::load(conn, program.0)?.into_iter().map(types::TypeRow::decode).collect::<Result<_, _>>()?;
    let functions =
        functions::load(conn, program.0)?.into_iter().map(functions::FunctionRow::decode).collect::<Result<_, _>>()?;
    // In stored order, by owner: assembly puts nodes in id order itself.
    let nodes = nodes::load_decoded(conn, program.0)?;
    let doc = ProgramDocument {
        format_version: DOCUMENT_FORMAT_VERSION,
        next_ids: header.next_ids,
        modules,
        types,
        functions,
        nodes,
        edges: Vec::new(),
    };
    Ok((doc, header.revision))
}

/// Reads a program's edges, handing them to `sink` in batches as they are read, and
/// returns the revision they belong to. Run inside a transaction.
pub fn read_edges(
    conn: &mut SqliteConnection,
    program: ProgramId,
    sink: impl FnMut(Vec<EdgeEntry>),
) -> StorageResult<u64> {
    let revision = header(conn, program)?.revision;
    edges::load_decoded_batches(conn, program.0, sink)?;
    Ok(revision)
}

/// Reads a whole program as a document (nodes by owner, see [`read_without_edges`]),
/// with its stored revision. Run it inside a transaction so every table is read from
/// the same snapshot.
pub fn read_document(conn: &mut SqliteConnection, program: ProgramId) -> StorageResult<(ProgramDocument, u64)> {
    let (mut doc, revision) = read_without_edges(conn, program)?;
    doc.edges = edges::load_decoded(conn, program.0)?;
    Ok((doc, revision))
}

/// Reads a whole program and assembles its graph. Run it inside a transaction.
pub fn read_graph(
    conn: &mut SqliteConnection,
    program: ProgramId,
    verify_semantic: bool,
) -> StorageResult<(ProgramGraph, u64)> {
    let (doc, revision) = read_document(conn, program)?;
    let graph = assemble(program, doc)?;
    if verify_semantic {
        check_semantic(conn, program, &graph)?;
    }
    Ok((graph, revision))
}

/// Assembles stored rows into a graph; rows that do not form a whole program are a
/// `Corrupt` error naming the first offending row.
pub fn assemble(program: ProgramId, doc: ProgramDocument) -> StorageResult<ProgramGraph> {
    ProgramGraph::from_document(doc).map_err(|v| violations_to_corrupt(program, v))
}

/// Finishes a graph assembled in steps (see [`PartialGraph`]); like [`assemble`],
/// rows that do not form a whole program are a `Corrupt` error naming the first
/// offending row.
pub fn finish(program: ProgramId, partial: PartialGraph) -> StorageResult<ProgramGraph> {
    partial.finish().checked().map_err(|v| violations_to_corrupt(program, v))
}

/// The table that stores an entity.
fn table_of(entity: Entity) -> &'static str {
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

/// Checks that the stored semantic tables equal the graph's semantic graph (rebuilt
/// from the primary rows on load).
pub fn check_semantic(conn: &mut SqliteConnection, program: ProgramId, graph: &ProgramGraph) -> StorageResult<()> {
    let sem = graph.semantic_graph();
    let expected_nodes: BTreeSet<(SemanticKey, String)> =
        sem.node_weights().map(|n| (n.key(), format!("{n:?}"))).collect();
    let stored_nodes: BTreeSet<(SemanticKey, String)> = semantic::load_nodes(conn, program.0)?
        .into_iter()
        .map(|row| row.decode().map(|n: SemanticNode| (n.key(), format!("{n:?}"))))
        .collect::<Result<_, _>>()?;
    if let Some(diff) = expected_nodes.symmetric_difference(&stored_nodes).next() {
        return Err(StorageError::Corrupt {
            table: "lmlang_semantic_nodes",
            key: format!("program {program} {:?}", diff.0),
            detail: format!("stored semantic node disagrees with the program: {}", diff.1),
        });
    }
    let expected_edges: BTreeSet<(SemanticEdge, SemanticKey, SemanticKey)> =
        sem.edge_references().map(|e| (*e.weight(), sem[e.source()].key(), sem[e.target()].key())).collect();
    let stored_edges: BTreeSet<(SemanticEdge, SemanticKey, SemanticKey)> =
        semantic::load_edges(conn, program.0)?.iter().map(|row| row.decode()).collect::<Result<_, _>>()?;
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
