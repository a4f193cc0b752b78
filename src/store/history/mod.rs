//! History: every commit of a program recorded with what it replaced, so it can be
//! logged, undone, redone and checked out.
//!
//! The shared engine records an entry in the same transaction as the write it
//! describes, on every backend: the revision produced, the time, the program root hash
//! after it, an optional message, and a [`delta`](delta) holding the previous contents
//! of every entity the write changed (absent ones listed as absent). After a crash the
//! log and the program therefore agree exactly.
//!
//! Entries are *reverse deltas*: the program as it was at revision N is the current
//! program with the deltas of the revisions after N applied newest first. A one-node
//! edit costs one node's old row in history (no snapshot of the program is ever
//! written), and going back K commits reads K entries, so checkout costs a load plus
//! the size of what changed since. Undo and redo are commits of their own that apply
//! one entry's delta, so history stays linear and a crash in either leaves an ordinary
//! committed state.

pub(crate) mod delta;
mod ops;

pub(crate) use ops::{Heads, Pending};

pub use delta::EntityRows;

use super::error::StorageResult;
use super::types::ProgramId;
use crate::graph::ProgramGraph;
use crate::hash::{ContentHash, ProgramDiff};
use serde::Serialize;

/// What kind of write produced a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CommitKind {
    /// The program's first revision (`create_program`, `insert_program`): the base
    /// history never goes behind.
    Create,
    /// An edit: a CRUD call, an `edit` group, `save_program` or `save_function`.
    Edit,
    /// An undo of the commit at `of`.
    Undo {
        /// The revision whose change this undid.
        of: u64,
    },
    /// A redo: the undo at `of` inverted again.
    Redo {
        /// The undo revision this inverted.
        of: u64,
    },
    /// A rename of the program (its content is unchanged).
    Rename,
}

/// One entry of a program's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The revision this commit produced.
    pub revision: u64,
    /// When it committed, in seconds since the Unix epoch.
    pub committed_at: i64,
    /// The program root hash after it: compare with `hashes().program()` of a graph to
    /// tell whether the graph is the program as it was then.
    pub root: ContentHash,
    /// What kind of commit it was.
    pub kind: CommitKind,
    /// The message its caller gave, if any.
    pub message: Option<String>,
}

/// A history row as a backend stores it: the entry, the undo and redo stacks after it,
/// and the encoded delta. Backends keep these rows; only the engine interprets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRecord {
    /// What `log` shows of it.
    pub entry: HistoryEntry,
    /// The revision undo would invert after this commit.
    pub undo_top: Option<u64>,
    /// The undo revision redo would invert after this commit.
    pub redo_top: Option<u64>,
    /// For an entry on the undo stack (edits, redos) or the redo stack (undos), the
    /// entry below it.
    pub stack_below: Option<u64>,
    /// The previous contents of what the commit changed, in the store's own encoding
    /// (what undo and checkout decode); empty when read without deltas.
    pub delta: Vec<u8>,
}

/// A named revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tag {
    /// The tag's name, unique in its program.
    pub name: String,
    /// The revision it names.
    pub revision: u64,
}

/// Which history [`ProgramHistory::prune_history`] drops. The current revision's entry
/// is always kept, so undo state and `log` stay meaningful.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Drop the entries of revisions older than this one.
    Before(u64),
    /// Keep only this many newest entries (at least one).
    Newest(u64),
}

/// A page of the log: entries older than `before` (all when `None`), newest first, at
/// most `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPage {
    /// Only entries with a revision below this one; `None` starts at the newest.
    pub before: Option<u64>,
    /// At most this many entries.
    pub limit: u64,
}

impl Default for LogPage {
    fn default() -> Self {
        LogPage { before: None, limit: 50 }
    }
}

/// History of the programs in a store: implemented once by the shared engine, so every
/// backend (memory, SQLite in every connection mode, PostgreSQL) offers it alike.
pub trait ProgramHistory: super::GraphStore {
    /// The log, newest first, one page at a time.
    fn log(&self, program: ProgramId, page: LogPage) -> StorageResult<Vec<HistoryEntry>>;
    /// Undoes the newest commit not yet undone, as a new commit; returns its revision.
    /// Ids the undone commit handed out are not given back. Fails with `NothingTo`
    /// when there is nothing to undo (every commit back to the program's creation is
    /// undone), and with `RevisionNotFound` naming the commit to undo when it has no
    /// record (made with recording off, or pruned).
    fn undo(&self, program: ProgramId, message: Option<&str>) -> StorageResult<u64>;
    /// Redoes the newest undo, as a new commit; returns its revision. Any other edit of
    /// the program after an undo clears what can be redone, as in an editor (a rename,
    /// which changes no content, keeps it).
    fn redo(&self, program: ProgramId, message: Option<&str>) -> StorageResult<u64>;
    /// The program as it was at `revision` (ids, holes and next ids of then). Its root
    /// hash is checked against the one recorded at the time.
    fn load_at(&self, program: ProgramId, revision: u64) -> StorageResult<ProgramGraph>;
    /// Names a revision (moving the tag if it exists).
    fn tag(&self, program: ProgramId, name: &str, revision: u64) -> StorageResult<()>;
    /// Names a revision, moving the tag if it exists, and returns the revision it named
    /// before (`None`: the tag is new). The tag is read and written in one write
    /// transaction, so the revision returned is the one this call replaced even when
    /// other writers move the tag at the same moment.
    fn move_tag(&self, program: ProgramId, name: &str, revision: u64) -> StorageResult<Option<u64>>;
    /// Names a revision unless the tag already names another one: then nothing is
    /// written and [`TagElsewhere`](super::StorageError::TagElsewhere) says which
    /// revision it names. Returns whether the tag is new (`false`: it already named
    /// this revision). Checked and written in one write transaction, so of two callers
    /// naming different revisions with the same tag at once, one is refused: a name
    /// someone relies on (`release`) is never moved by a race.
    fn add_tag(&self, program: ProgramId, name: &str, revision: u64) -> StorageResult<bool>;
    /// Removes a tag; `TagNotFound` if there is none.
    fn untag(&self, program: ProgramId, name: &str) -> StorageResult<()>;
    /// Every tag of the program, by name (in the byte order of the names' UTF-8, on every
    /// backend, whatever a PostgreSQL database's collation).
    fn tags(&self, program: ProgramId) -> StorageResult<Vec<Tag>>;
    /// The revision a tag names.
    fn tagged(&self, program: ProgramId, name: &str) -> StorageResult<u64>;
    /// What differs between two revisions, function by function (see [`crate::hash::diff`]).
    fn diff_revisions(&self, program: ProgramId, from: u64, to: u64) -> StorageResult<ProgramDiff>;
    /// Drops old entries (and tags on them); returns how many entries went. Revisions
    /// older than the oldest entry kept can no longer be checked out or undone.
    fn prune_history(&self, program: ProgramId, retention: Retention) -> StorageResult<u64>;
    /// [`GraphStore::edit`](super::GraphStore::edit) with a message recorded in the log
    /// (any text but a NUL character, which no backend keeps alike: `InvalidMessage`).
    fn edit_with_message(
        &self,
        program: ProgramId,
        message: &str,
        edits: &mut super::EditFn<'_>,
    ) -> StorageResult<super::SaveReport>;
    /// [`GraphStore::save_program`](super::GraphStore::save_program) with a message
    /// recorded in the log.
    fn save_with_message(
        &self,
        program: ProgramId,
        graph: &ProgramGraph,
        message: &str,
    ) -> StorageResult<super::SaveReport>;
    /// [`GraphStore::save_program_if_at`](super::GraphStore::save_program_if_at) with a
    /// message recorded in the log.
    fn save_with_message_if_at(
        &self,
        program: ProgramId,
        graph: &ProgramGraph,
        revision: u64,
        message: &str,
    ) -> StorageResult<super::SaveReport>;
}

/// Refuses a commit message no backend can keep alike (see
/// [`StorageError::InvalidMessage`](super::error::StorageError::InvalidMessage)), before
/// anything is written.
pub(crate) fn check_message(message: Option<&str>) -> StorageResult<()> {
    match message {
        Some(m) if m.contains('\0') => Err(super::error::StorageError::InvalidMessage(m.to_string())),
        _ => Ok(()),
    }
}
