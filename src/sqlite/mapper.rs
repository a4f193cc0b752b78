//! The read side on SQLite: the [`RowSource`] over a connection, and the shared
//! assembly ([`crate::rows`]) called with it.
//!
//! Every cell is decoded strictly (see [`codec`](super::codec)); what the rows mean
//! together is judged by the shared assembly.

use super::tables::{edges, functions, modules, nodes, programs, semantic, types};
use crate::graph::{EdgeEntry, NodeEntry, ProgramDocument, ProgramGraph, TypeEntry};
use crate::model::{FunctionDef, ModuleDef};
use crate::rows::{self, Header, RowSource, SemanticRows};
use crate::store::{ProgramId, ProgramRef, StorageError, StorageResult};
use diesel::sqlite::SqliteConnection;

/// A SQLite connection as a [`RowSource`]; the caller holds the read transaction.
pub struct SqliteRows<'c>(pub &'c mut SqliteConnection);

impl RowSource for SqliteRows<'_> {
    fn header(&mut self, program: ProgramId) -> StorageResult<Header> {
        programs::find(self.0, program.0)?.ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))?.header()
    }

    fn modules(&mut self, program: ProgramId) -> StorageResult<Vec<ModuleDef>> {
        modules::load(self.0, program.0)?.into_iter().map(modules::ModuleRow::decode).collect()
    }

    fn types(&mut self, program: ProgramId) -> StorageResult<Vec<TypeEntry>> {
        types::load(self.0, program.0)?.into_iter().map(types::TypeRow::decode).collect()
    }

    fn functions(&mut self, program: ProgramId) -> StorageResult<Vec<FunctionDef>> {
        functions::load(self.0, program.0)?.into_iter().map(functions::FunctionRow::decode).collect()
    }

    /// In stored order, by owner: assembly puts nodes in id order itself.
    fn nodes(&mut self, program: ProgramId) -> StorageResult<Vec<NodeEntry>> {
        nodes::load_decoded(self.0, program.0)
    }

    fn edges(&mut self, program: ProgramId, sink: &mut dyn FnMut(Vec<EdgeEntry>)) -> StorageResult<()> {
        edges::load_decoded_batches(self.0, program.0, sink)
    }

    fn semantic(&mut self, program: ProgramId) -> StorageResult<Option<SemanticRows>> {
        let nodes =
            semantic::load_nodes(self.0, program.0)?.into_iter().map(|row| row.decode()).collect::<Result<_, _>>()?;
        let edges =
            semantic::load_edges(self.0, program.0)?.iter().map(|row| row.decode()).collect::<Result<_, _>>()?;
        Ok(Some((nodes, edges)))
    }
}

/// Everything of a program but its edges (see [`rows::read_without_edges`]). Run
/// inside a transaction.
pub fn read_without_edges(conn: &mut SqliteConnection, program: ProgramId) -> StorageResult<(ProgramDocument, u64)> {
    rows::read_without_edges(&mut SqliteRows(conn), program)
}

/// Reads a program's edges into `sink` in batches, returning their revision. Run
/// inside a transaction.
pub fn read_edges(
    conn: &mut SqliteConnection,
    program: ProgramId,
    sink: impl FnMut(Vec<EdgeEntry>),
) -> StorageResult<u64> {
    rows::read_edges(&mut SqliteRows(conn), program, sink)
}

/// Reads a whole program and assembles its graph. Run inside a transaction.
pub fn read_graph(
    conn: &mut SqliteConnection,
    program: ProgramId,
    verify_semantic: bool,
) -> StorageResult<(ProgramGraph, u64)> {
    rows::read_graph(&mut SqliteRows(conn), program, verify_semantic)
}
