//! `RowSource`: the reads a backend offers the shared assembly, and the assembly of a
//! program's rows into a document and a graph.
//!
//! A load is one read per table, each one key range of the program; there is never a
//! query per row. A backend decodes its cells strictly into the model's values; the
//! assembled document must then pass the graph's own validation, and a reference to a
//! missing node, function or type is a `Corrupt` error naming the table and key of the
//! offending row (see [`assemble`](super::assemble)).

use super::assemble::{assemble, check_semantic};
use crate::graph::{DOCUMENT_FORMAT_VERSION, EdgeEntry, NextIds, NodeEntry, ProgramDocument, ProgramGraph, TypeEntry};
use crate::model::{FunctionDef, ModuleDef, SemanticEdge, SemanticKey, SemanticNode};
use crate::store::{ProgramId, StorageResult};

/// The parts of a program's own row that a load and a write need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The committed revision.
    pub revision: u64,
    /// The next ids to hand out (never lower than any stored id plus one).
    pub next_ids: NextIds,
}

/// Whole-program reads, run by the caller inside one snapshot. Every method fails
/// with `ProgramNotFound` (through [`header`](RowSource::header), which the shared
/// functions call first) when the program does not exist.
pub trait RowSource {
    /// The program's revision and next ids.
    fn header(&mut self, program: ProgramId) -> StorageResult<Header>;
    /// Its modules, in id order.
    fn modules(&mut self, program: ProgramId) -> StorageResult<Vec<ModuleDef>>;
    /// Its user types, in id order.
    fn types(&mut self, program: ProgramId) -> StorageResult<Vec<TypeEntry>>;
    /// Its functions, in id order.
    fn functions(&mut self, program: ProgramId) -> StorageResult<Vec<FunctionDef>>;
    /// Its nodes, in any order (assembly sorts them by id).
    fn nodes(&mut self, program: ProgramId) -> StorageResult<Vec<NodeEntry>>;
    /// Its edges in id order, handed to `sink` in batches as they are read, so a load
    /// can build the graph from the first edges while it reads the rest.
    fn edges(&mut self, program: ProgramId, sink: &mut dyn FnMut(Vec<EdgeEntry>)) -> StorageResult<()>;
    /// Its stored semantic nodes and edges (for [`check_semantic`]), or `None` for a
    /// backend that keeps no semantic rows (the graph derives them on load).
    fn semantic(&mut self, program: ProgramId) -> StorageResult<Option<SemanticRows>>;
}

/// A program's stored semantic nodes and edges.
pub type SemanticRows = (Vec<SemanticNode>, Vec<(SemanticEdge, SemanticKey, SemanticKey)>);

/// Everything of a program but its edges, which come empty, with its revision.
pub fn read_without_edges(src: &mut impl RowSource, program: ProgramId) -> StorageResult<(ProgramDocument, u64)> {
    let header = src.header(program)?;
    let doc = ProgramDocument {
        format_version: DOCUMENT_FORMAT_VERSION,
        next_ids: header.next_ids,
        modules: src.modules(program)?,
        types: src.types(program)?,
        functions: src.functions(program)?,
        nodes: src.nodes(program)?,
        edges: Vec::new(),
    };
    Ok((doc, header.revision))
}

/// Reads a program's edges into `sink` in batches and returns the revision they
/// belong to.
pub fn read_edges(
    src: &mut impl RowSource,
    program: ProgramId,
    mut sink: impl FnMut(Vec<EdgeEntry>),
) -> StorageResult<u64> {
    let revision = src.header(program)?.revision;
    src.edges(program, &mut sink)?;
    Ok(revision)
}

/// Reads a whole program as a document, with its revision.
pub fn read_document(src: &mut impl RowSource, program: ProgramId) -> StorageResult<(ProgramDocument, u64)> {
    let (mut doc, revision) = read_without_edges(src, program)?;
    src.edges(program, &mut |batch| doc.edges.extend(batch))?;
    Ok((doc, revision))
}

/// Reads a whole program and assembles its graph; with `verify_semantic`, also checks
/// the stored semantic rows against the graph's.
pub fn read_graph(
    src: &mut impl RowSource,
    program: ProgramId,
    verify_semantic: bool,
) -> StorageResult<(ProgramGraph, u64)> {
    let (doc, revision) = read_document(src, program)?;
    let graph = assemble(program, doc)?;
    if verify_semantic && let Some((nodes, edges)) = src.semantic(program)? {
        check_semantic(program, &graph, nodes, edges)?;
    }
    Ok((graph, revision))
}
