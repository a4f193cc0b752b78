//! `RowSink`: the writes a backend offers the shared diff.

use crate::graph::EdgeView;
use crate::model::{
    ComputeNode, FunctionDef, FunctionId, LmType, ModuleDef, NodeId, SemanticEdge, SemanticKey, SemanticNode, TypeId,
    TypeName,
};
use crate::store::{ProgramId, StorageResult};

/// Row writes inside one write transaction, as the shared diff
/// ([`write_changes`](super::write_changes), [`write_all`](super::write_all)) drives them.
///
/// Each entity has a backend-specific row type, built once by the `*_row` constructors
/// (so a backend encodes a row the way its tables want, and the diff never copies a row
/// twice), then written by:
/// - `insert_*`: rows whose ids cannot be stored yet (at or past the stored next id, or
///   any row of a new program), so a backend may use plain, cached or bulk inserts;
/// - `upsert_*`: rows that may already be stored, to be inserted or replaced;
/// - `delete_*`: ids to remove, returning how many rows existed.
///
/// The diff calls these parents first (modules, types, functions, nodes, edges, then
/// the semantic rows) and deletes children first, so foreign keys that are checked at
/// every statement hold. The one cycle, a function's entry node, is written as a
/// function without its entry, then its nodes, then an upsert of the function: a
/// backend whose entry-node key is deferred to commit sees no pending reference either.
///
/// Every method returns the number of rows it touched. A failed call must leave the
/// transaction able to roll back to where it began; the caller rolls back.
pub trait RowSink {
    /// A module row.
    type Module;
    /// A (user) type row.
    type Type;
    /// A function row.
    type Function;
    /// A compute-node row.
    type Node;
    /// A flow-edge row.
    type Edge;
    /// A semantic-node row.
    type SemanticNode;
    /// A semantic-edge row.
    type SemanticEdge;

    /// The row of a module.
    fn module_row(program: ProgramId, def: &ModuleDef) -> StorageResult<Self::Module>;
    /// The row of a user type.
    fn type_row(program: ProgramId, id: TypeId, name: Option<&TypeName>, ty: &LmType) -> StorageResult<Self::Type>;
    /// The row of a function.
    fn function_row(program: ProgramId, def: &FunctionDef) -> StorageResult<Self::Function>;
    /// The row of a compute node.
    fn node_row(program: ProgramId, id: NodeId, node: &ComputeNode) -> StorageResult<Self::Node>;
    /// The row of a flow edge.
    fn edge_row(program: ProgramId, edge: &EdgeView) -> StorageResult<Self::Edge>;
    /// The row of a semantic node.
    fn semantic_node_row(program: ProgramId, node: &SemanticNode) -> StorageResult<Self::SemanticNode>;
    /// The row of a semantic edge.
    fn semantic_edge_row(
        program: ProgramId,
        kind: SemanticEdge,
        from: SemanticKey,
        to: SemanticKey,
    ) -> StorageResult<Self::SemanticEdge>;

    /// Inserts module rows that cannot exist yet.
    fn insert_modules(&mut self, program: ProgramId, rows: &[Self::Module]) -> StorageResult<usize>;
    /// Inserts or replaces module rows.
    fn upsert_modules(&mut self, program: ProgramId, rows: &[Self::Module]) -> StorageResult<usize>;
    /// Deletes modules by id.
    fn delete_modules(&mut self, program: ProgramId, ids: &[u32]) -> StorageResult<usize>;

    /// Inserts type rows that cannot exist yet.
    fn insert_types(&mut self, program: ProgramId, rows: &[Self::Type]) -> StorageResult<usize>;
    /// Inserts or replaces type rows.
    fn upsert_types(&mut self, program: ProgramId, rows: &[Self::Type]) -> StorageResult<usize>;
    /// Deletes types by id.
    fn delete_types(&mut self, program: ProgramId, ids: &[u32]) -> StorageResult<usize>;

    /// Inserts function rows that cannot exist yet.
    fn insert_functions(&mut self, program: ProgramId, rows: &[Self::Function]) -> StorageResult<usize>;
    /// Inserts or replaces function rows.
    fn upsert_functions(&mut self, program: ProgramId, rows: &[Self::Function]) -> StorageResult<usize>;
    /// Deletes functions by id.
    fn delete_functions(&mut self, program: ProgramId, ids: &[u32]) -> StorageResult<usize>;

    /// Inserts node rows that cannot exist yet.
    fn insert_nodes(&mut self, program: ProgramId, rows: &[Self::Node]) -> StorageResult<usize>;
    /// Inserts or replaces node rows.
    fn upsert_nodes(&mut self, program: ProgramId, rows: &[Self::Node]) -> StorageResult<usize>;
    /// Deletes nodes by id.
    fn delete_nodes(&mut self, program: ProgramId, ids: &[u32]) -> StorageResult<usize>;

    /// Inserts edge rows that cannot exist yet.
    fn insert_edges(&mut self, program: ProgramId, rows: &[Self::Edge]) -> StorageResult<usize>;
    /// Inserts or replaces edge rows.
    fn upsert_edges(&mut self, program: ProgramId, rows: &[Self::Edge]) -> StorageResult<usize>;
    /// Deletes edges by id.
    fn delete_edges(&mut self, program: ProgramId, ids: &[u32]) -> StorageResult<usize>;

    /// Rewrites a stored node in place if its owner and references (type, callee) are
    /// stored as `row` has them; whether it did. A sink that cannot tell answers
    /// `false`, and the node goes through `upsert_nodes`.
    fn rewrite_node_keeping_refs(&mut self, _program: ProgramId, _row: &Self::Node) -> StorageResult<bool> {
        Ok(false)
    }
    /// The owners of the stored call nodes (`Call`, `MakeClosure`) among `nodes`, as
    /// stored before this write: the functions whose `Calls` edges may change when
    /// those nodes are rewritten. A backend without semantic rows may answer nothing.
    fn call_owners(&mut self, program: ProgramId, nodes: &[NodeId]) -> StorageResult<Vec<FunctionId>>;
    /// Inserts semantic-node rows of a new program.
    fn insert_semantic_nodes(&mut self, program: ProgramId, rows: &[Self::SemanticNode]) -> StorageResult<usize>;
    /// Inserts or replaces semantic-node rows.
    fn upsert_semantic_nodes(&mut self, program: ProgramId, rows: &[Self::SemanticNode]) -> StorageResult<usize>;
    /// Inserts semantic-edge rows (their owners' old edges were deleted first).
    fn insert_semantic_edges(&mut self, program: ProgramId, rows: &[Self::SemanticEdge]) -> StorageResult<usize>;
    /// Deletes the semantic edges `key` owns (see `diff::sync_semantic`).
    fn delete_owned_semantic_edges(&mut self, program: ProgramId, key: SemanticKey) -> StorageResult<usize>;
    /// Deletes the semantic node of `key` (and, through keys, its remaining edges).
    fn delete_semantic_node(&mut self, program: ProgramId, key: SemanticKey) -> StorageResult<usize>;
}
