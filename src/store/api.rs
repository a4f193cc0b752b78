//! `GraphStore`: the storage contract every backend fulfils identically.
//!
//! Two layers. Low-level CRUD and queries touch single rows and commit at once (a
//! mutation is durable when the call returns). High-level `save_program` writes a whole
//! graph but only the rows that differ from what is stored, and `edit` groups several
//! edits into one all-or-nothing unit. Every edit is checked by `ProgramGraph`, so every
//! backend refuses the same things with the same errors. Results come in id order.

use super::error::StorageResult;
use super::types::{FunctionUpdate, ListedProgram, NewFunction, ProgramId, ProgramSummary, SaveReport};
use crate::graph::{EdgeView, GraphError, ProgramGraph};
use crate::model::{
    ComputeNode, ComputeNodeOp, EdgeId, FlowEdge, FunctionDef, FunctionId, LmType, ModuleDef, ModuleId, NodeId, TypeId,
    Visibility,
};

/// A group of edits run as one unit by [`GraphStore::edit`].
pub type EditFn<'a> = dyn FnMut(&mut ProgramGraph) -> Result<(), GraphError> + 'a;

/// The storage contract. Synchronous; stores are `Send + Sync` and take `&self`, so one
/// store serves many threads (readers never wait for the writer).
///
/// Errors follow one pattern: `ProgramNotFound` when the program does not exist,
/// `NotFound` when an id the call names does not, `Rejected` (carrying the
/// [`GraphError`]) when `ProgramGraph` refuses an edit. A failed call has written
/// nothing.
pub trait GraphStore: Send + Sync {
    // ----- programs -----

    /// Creates an empty program (a root module named `root`). Names are unique.
    fn create_program(&self, name: &str) -> StorageResult<ProgramId>;
    /// Stores a whole graph as a new program, in one transaction.
    fn insert_program(&self, name: &str, graph: &ProgramGraph) -> StorageResult<ProgramId>;
    /// Loads a whole program from one consistent snapshot.
    fn load_program(&self, program: ProgramId) -> StorageResult<ProgramGraph>;
    /// [`load_program`](Self::load_program) with the revision the graph was read at: the
    /// revision to give [`save_program_if_at`](Self::save_program_if_at) after editing it.
    fn load_program_with_revision(&self, program: ProgramId) -> StorageResult<(ProgramGraph, u64)>;
    /// Makes the stored program equal to `graph`, writing only what differs, whatever
    /// was committed since the graph was loaded (last writer wins, ids included; see
    /// [`save_program_if_at`](Self::save_program_if_at) for a save that refuses that).
    fn save_program(&self, program: ProgramId, graph: &ProgramGraph) -> StorageResult<SaveReport>;
    /// [`save_program`](Self::save_program) only while the program is still at
    /// `revision`, checked in the write's own transaction: a read-edit-save cycle of one
    /// process cannot then silently undo what another saved meanwhile (a lost update).
    /// Otherwise `RevisionMoved`, with nothing written, unless the program already
    /// equals `graph` (then nothing is written and the save succeeds, so retrying one
    /// whose answer was lost with the connection is safe). Not a compare-and-set, then:
    /// a change derived from what was read (a counter) belongs in [`edit`](Self::edit).
    fn save_program_if_at(&self, program: ProgramId, graph: &ProgramGraph, revision: u64) -> StorageResult<SaveReport>;
    /// Writes one function of `graph` (definition, nodes, edges) and nothing else.
    /// Refused as `IdsTaken` when another writer has since given the function's new
    /// node or edge ids to other functions (both loaded the same revision).
    fn save_function(
        &self,
        program: ProgramId,
        graph: &ProgramGraph,
        function: FunctionId,
    ) -> StorageResult<SaveReport>;
    /// Deletes a program and everything it owns.
    fn delete_program(&self, program: ProgramId) -> StorageResult<()>;
    /// Renames a program; names stay unique.
    fn rename_program(&self, program: ProgramId, name: &str) -> StorageResult<()>;
    /// All programs in id order. One program whose row is damaged fails the whole
    /// listing (`Corrupt`); [`list_programs_each`](Self::list_programs_each) lists the
    /// others beside it.
    fn list_programs(&self) -> StorageResult<Vec<ProgramSummary>>;
    /// All programs in id order, each with its summary or the error its own row gives:
    /// for tools that must show every program of a file or server in which one row is
    /// damaged (and let the user delete that one by its id).
    fn list_programs_each(&self) -> StorageResult<Vec<ListedProgram>> {
        Ok(self.list_programs()?.into_iter().map(|s| (s.id, Ok(s))).collect())
    }
    /// One program's summary, read from its own rows: a tool or service asking about
    /// one program pays nothing for the others the database holds, as it would
    /// through the listing. `ProgramNotFound` when it does not exist; `Corrupt` when
    /// its own row is damaged. The default reads the listing, for implementors that
    /// have no cheaper way.
    fn program_summary(&self, program: ProgramId) -> StorageResult<ProgramSummary> {
        super::types::summary_in(self.list_programs_each()?, program)
    }
    /// The program with this name.
    fn find_program(&self, name: &str) -> StorageResult<ProgramId>;
    /// Runs a group of edits as one unit: all are committed together or none is.
    fn edit(&self, program: ProgramId, edits: &mut EditFn<'_>) -> StorageResult<SaveReport>;

    // ----- compute nodes and edges -----

    /// Adds a node to a function.
    fn insert_node(&self, program: ProgramId, function: FunctionId, op: ComputeNodeOp) -> StorageResult<NodeId>;
    /// Reads one node; `NotFound` if the program has no such node (any more).
    fn get_node(&self, program: ProgramId, node: NodeId) -> StorageResult<ComputeNode>;
    /// Replaces a node's op; returns the old one.
    fn update_node(&self, program: ProgramId, node: NodeId, op: ComputeNodeOp) -> StorageResult<ComputeNodeOp>;
    /// Removes a node with its edges (and clears an entry node that pointed at it).
    fn delete_node(&self, program: ProgramId, node: NodeId) -> StorageResult<()>;
    /// Adds a data or control edge between two nodes of one function. `Rejected` for a
    /// cross-function edge, a data cycle or an operand slot already fed.
    fn insert_edge(&self, program: ProgramId, source: NodeId, target: NodeId, edge: FlowEdge) -> StorageResult<EdgeId>;
    /// Reads one edge with its endpoints; `NotFound` if there is no such edge.
    fn get_edge(&self, program: ProgramId, edge: EdgeId) -> StorageResult<EdgeView>;
    /// Removes one edge; its id is never handed out again.
    fn delete_edge(&self, program: ProgramId, edge: EdgeId) -> StorageResult<()>;

    // ----- types, functions, modules -----

    /// Registers an anonymous type.
    fn insert_type(&self, program: ProgramId, ty: LmType) -> StorageResult<TypeId>;
    /// Registers a named type in a module.
    fn insert_named_type(
        &self,
        program: ProgramId,
        module: ModuleId,
        visibility: Visibility,
        name: &str,
        ty: LmType,
    ) -> StorageResult<TypeId>;
    /// Reads a type, built-ins included (they exist in every program).
    fn get_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<LmType>;
    /// Adds a function, or a closure when `closure_of` is set, with an empty body.
    fn insert_function(&self, program: ProgramId, function: NewFunction) -> StorageResult<FunctionId>;
    /// Reads a function's definition (not its body: see `find_nodes_by_owner`).
    fn get_function(&self, program: ProgramId, function: FunctionId) -> StorageResult<FunctionDef>;
    /// Applies the fields set in `update` as one unit: if any change is refused, none
    /// is made.
    fn update_function(&self, program: ProgramId, function: FunctionId, update: FunctionUpdate) -> StorageResult<()>;
    /// Removes a function with its body; refused while something refers to it.
    fn delete_function(&self, program: ProgramId, function: FunctionId) -> StorageResult<()>;
    /// Adds a module under `parent`; names are unique among siblings.
    fn insert_module(
        &self,
        program: ProgramId,
        parent: ModuleId,
        name: &str,
        visibility: Visibility,
    ) -> StorageResult<ModuleId>;
    /// Reads one module's definition.
    fn get_module(&self, program: ProgramId, module: ModuleId) -> StorageResult<ModuleDef>;
    /// Renames a module.
    fn update_module(&self, program: ProgramId, module: ModuleId, name: &str) -> StorageResult<()>;
    /// Removes an empty module.
    fn delete_module(&self, program: ProgramId, module: ModuleId) -> StorageResult<()>;

    // ----- queries (indexed; cost does not grow with the program) -----

    /// A function's nodes in id order.
    fn find_nodes_by_owner(
        &self,
        program: ProgramId,
        function: FunctionId,
    ) -> StorageResult<Vec<(NodeId, ComputeNode)>>;
    /// Edges leaving a node, in id order.
    fn find_edges_from(&self, program: ProgramId, node: NodeId) -> StorageResult<Vec<EdgeView>>;
    /// Edges entering a node, in id order.
    fn find_edges_to(&self, program: ProgramId, node: NodeId) -> StorageResult<Vec<EdgeView>>;
    /// Functions declared in a module, in id order.
    fn find_functions_in_module(&self, program: ProgramId, module: ModuleId) -> StorageResult<Vec<FunctionDef>>;
    /// Nodes whose op names a type (StructCreate, EnumCreate, Cast, Invariant), id order.
    fn find_nodes_by_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Vec<NodeId>>;
    /// Data edges carrying a value of a type, in id order.
    fn find_edges_by_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Vec<EdgeView>>;
    /// The module a path names (`["root", "math"]`).
    fn find_module_by_path(&self, program: ProgramId, path: &[&str]) -> StorageResult<ModuleId>;
}
