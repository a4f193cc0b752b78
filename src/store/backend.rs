//! `Backend`: the small row-level interface a storage engine implements.
//!
//! The shared [`Store`](super::Store) does everything that must behave the same on every
//! backend (checking edits through `ProgramGraph`, choosing which rows a save writes,
//! caching, error mapping); a backend only keeps rows and indexes and runs transactions.
//! A new backend (PostgreSQL, say) implements this trait and passes the conformance
//! suite; it inherits identical semantics.

use super::error::{DatabaseErrorKind, StorageError, StorageResult};
use super::history::{EntityRows, HistoryRecord, Tag};
use super::types::{ListedProgram, ProgramId, ProgramSummary, SaveReport};
use crate::graph::{ChangeSet, EdgeView, NextIds, ProgramGraph};
use crate::model::{ComputeNode, EdgeId, FunctionDef, FunctionId, LmType, ModuleDef, ModuleId, NodeId, TypeId};
use crate::rows::Replaced;

/// Row-level reads outside a write transaction. Each call sees one committed state;
/// `load` reads the whole program from one snapshot. Every method that names a program
/// fails with `ProgramNotFound` when it does not exist.
pub trait Backend: Send + Sync {
    /// All programs in id order.
    fn list_programs(&self) -> StorageResult<Vec<ProgramSummary>>;
    /// All programs in id order, each with its summary or the error its row gives. A
    /// backend whose rows can be damaged (a file, a server) overrides this, so that one
    /// damaged row does not hide the others.
    fn list_programs_each(&self) -> StorageResult<Vec<ListedProgram>> {
        Ok(self.list_programs()?.into_iter().map(|s| (s.id, Ok(s))).collect())
    }
    /// One program's summary: `ProgramNotFound` when it does not exist, the error its
    /// row gives when that is damaged. A backend with a table of programs overrides
    /// this with a read of the one row.
    fn program_summary(&self, program: ProgramId) -> StorageResult<ProgramSummary> {
        super::types::summary_in(self.list_programs_each()?, program)
    }
    /// The program with this exact name, if any.
    fn program_by_name(&self, name: &str) -> StorageResult<Option<ProgramId>>;
    /// The whole program and the revision it was read at.
    fn load(&self, program: ProgramId) -> StorageResult<(ProgramGraph, u64)>;
    /// One node, if the program has it.
    fn node(&self, program: ProgramId, node: NodeId) -> StorageResult<Option<ComputeNode>>;
    /// One edge with its endpoints, if the program has it.
    fn edge(&self, program: ProgramId, edge: EdgeId) -> StorageResult<Option<EdgeView>>;
    /// One function's definition, if the program has it.
    fn function(&self, program: ProgramId, function: FunctionId) -> StorageResult<Option<FunctionDef>>;
    /// One module, if the program has it.
    fn module(&self, program: ProgramId, module: ModuleId) -> StorageResult<Option<ModuleDef>>;
    /// All modules of a program in id order (module trees are small).
    fn modules(&self, program: ProgramId) -> StorageResult<Vec<ModuleDef>>;
    /// A user type (ids from 9); built-ins are answered by the store.
    fn user_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Option<LmType>>;
    /// A function's nodes in id order (one index range).
    fn nodes_by_owner(&self, program: ProgramId, function: FunctionId) -> StorageResult<Vec<(NodeId, ComputeNode)>>;
    /// Edges leaving a node, in id order.
    fn edges_from(&self, program: ProgramId, node: NodeId) -> StorageResult<Vec<EdgeView>>;
    /// Edges entering a node, in id order.
    fn edges_to(&self, program: ProgramId, node: NodeId) -> StorageResult<Vec<EdgeView>>;
    /// Functions declared in a module, in id order.
    fn functions_in_module(&self, program: ProgramId, module: ModuleId) -> StorageResult<Vec<FunctionDef>>;
    /// Nodes whose op names the type, in id order.
    fn nodes_by_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Vec<NodeId>>;
    /// Data edges carrying a value of the type, in id order.
    fn edges_by_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Vec<EdgeView>>;

    /// History records with a revision below `below` (all when `None`), newest first,
    /// at most `limit`; with `with_deltas` false their deltas are left empty (a log
    /// page need not read them). Entries are append-only, so a caller that loaded
    /// revision R and then reads the records up to R sees the ones that made it.
    fn history(
        &self,
        program: ProgramId,
        below: Option<u64>,
        limit: u64,
        with_deltas: bool,
    ) -> StorageResult<Vec<HistoryRecord>>;
    /// The program's tags, by name.
    fn tags(&self, program: ProgramId) -> StorageResult<Vec<Tag>>;

    /// Whether every write will be refused (a store opened read-only), so the shared
    /// layer does not read a program for a write that cannot happen.
    fn read_only(&self) -> bool {
        false
    }

    /// Whether a read can run while this backend's own write transaction is open on
    /// another frame of the same thread (an `edit` closure reading the store): not on
    /// one lent connection or the in-memory tables, where it would wait for the write.
    fn reads_beside_writes(&self) -> bool {
        true
    }

    /// Runs `work` in one write transaction (on SQLite, `BEGIN IMMEDIATE`), committing
    /// if it returns `Ok` and rolling back otherwise. Writers are serialised.
    fn write<T>(&self, work: &mut dyn FnMut(&mut dyn WriteTx) -> StorageResult<T>) -> StorageResult<T>;

    /// Like [`write`](Backend::write), for a transaction that only creates one program
    /// from a graph already known to be valid. Rows of a new program can refer to
    /// nothing but each other, and the graph guarantees those references, so a backend
    /// may skip the checks that cannot fail here (SQLite skips foreign-key enforcement,
    /// a third of a bulk save). The default is an ordinary write.
    fn write_new_program<T>(&self, work: &mut dyn FnMut(&mut dyn WriteTx) -> StorageResult<T>) -> StorageResult<T> {
        self.write(work)
    }
}

/// What a write transaction can do. Rows for parents are written before children and
/// deleted after them, so foreign keys hold at every statement.
pub trait WriteTx {
    /// Adds a program row with empty content; fails with `DuplicateProgramName`.
    fn insert_program(&mut self, name: &str, now: i64) -> StorageResult<ProgramId>;
    /// The program's committed revision.
    fn revision(&mut self, program: ProgramId) -> StorageResult<u64>;
    /// The whole program, as this transaction sees it.
    fn load(&mut self, program: ProgramId) -> StorageResult<ProgramGraph>;
    /// Makes the listed entities' rows match `graph`: present ones are written, absent
    /// ones deleted. `replaced` is what the caller already holds of the stored state
    /// (trusted, so exactly that state, or `Replaced::Unknown`); it spares a read.
    fn write_changes(
        &mut self,
        program: ProgramId,
        graph: &ProgramGraph,
        changes: &ChangeSet,
        replaced: Replaced<'_>,
    ) -> StorageResult<SaveReport>;
    /// Writes every row of `graph` into a program that has none yet (bulk path).
    fn write_all(&mut self, program: ProgramId, graph: &ProgramGraph) -> StorageResult<SaveReport>;
    /// Records next ids and counts from `graph`, stamps `updated_at`, bumps and returns
    /// the revision. Called once at the end of every write to a program.
    fn finish(&mut self, program: ProgramId, graph: &ProgramGraph, now: i64) -> StorageResult<u64>;
    /// The program's stored next ids (what its rows had before this transaction's
    /// writes, or after its last `finish`).
    fn next_ids(&mut self, program: ProgramId) -> StorageResult<NextIds>;
    /// The stored rows of the listed entities that exist, as this transaction sees
    /// them: what a write is about to replace, for its history entry.
    fn stored_rows(&mut self, program: ProgramId, ids: &ChangeSet) -> StorageResult<EntityRows>;
    /// One history record with its delta, if the program has it.
    fn history_record(&mut self, program: ProgramId, revision: u64) -> StorageResult<Option<HistoryRecord>>;
    /// Whether the program has a history record below `revision`.
    fn has_history_below(&mut self, program: ProgramId, revision: u64) -> StorageResult<bool>;
    /// Appends a history record (its revision is new to the program).
    fn append_history(&mut self, program: ProgramId, record: &HistoryRecord) -> StorageResult<()>;
    /// Deletes the history records below `revision` and the tags on them; returns how
    /// many records went.
    fn prune_history(&mut self, program: ProgramId, revision: u64) -> StorageResult<u64>;
    /// The revision the tag `name` names, as this transaction sees it (`None`: no such
    /// tag): what `add_tag` and `move_tag` check and report in the write that sets it.
    /// Defaulted so that a backend written before it still builds and keeps `tag`;
    /// those two calls then fail on it until it reads its tags here.
    fn tagged(&mut self, program: ProgramId, name: &str) -> StorageResult<Option<u64>> {
        let _ = (program, name);
        Err(StorageError::database(
            DatabaseErrorKind::Other,
            "this backend cannot read a tag inside a write (WriteTx::tagged); use `tag`, or implement it",
        ))
    }
    /// Points the tag `name` at `revision` (which has a record), creating or moving it.
    fn set_tag(&mut self, program: ProgramId, name: &str, revision: u64) -> StorageResult<()>;
    /// Removes a tag; whether it existed.
    fn remove_tag(&mut self, program: ProgramId, name: &str) -> StorageResult<bool>;
    /// Removes a program and every row it owns.
    fn delete_program(&mut self, program: ProgramId) -> StorageResult<()>;
    /// Renames a program; fails with `DuplicateProgramName`.
    fn rename_program(&mut self, program: ProgramId, name: &str) -> StorageResult<()>;
}
