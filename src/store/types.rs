//! Small value types of the store API.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A program in a store. Ids come from the store and are never reused, like node ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProgramId(pub i64);

impl fmt::Display for ProgramId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a listing shows of a program without loading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramSummary {
    /// The program's id.
    pub id: ProgramId,
    /// Its name, unique in the store.
    pub name: String,
    /// Number of modules, the root included.
    pub modules: u64,
    /// Number of functions, closures included.
    pub functions: u64,
    /// Number of compute nodes.
    pub nodes: u64,
    /// Number of flow edges, data and control.
    pub edges: u64,
    /// Bumped by every committed write; a cheap way to notice a change.
    pub revision: u64,
    /// When the program was created, in seconds since the Unix epoch.
    pub created_at: i64,
    /// When a write last committed, in seconds since the Unix epoch.
    pub updated_at: i64,
}

/// One program of [`GraphStore::list_programs_each`](super::GraphStore::list_programs_each):
/// its id, and its summary or the error its row gives (`Corrupt` for a damaged row).
pub type ListedProgram = (ProgramId, super::StorageResult<ProgramSummary>);

/// One program's summary as a look-up found it: `ProgramNotFound` when it found none,
/// else the summary or the error its row gave.
pub(crate) fn found_summary(
    program: ProgramId,
    found: Option<super::StorageResult<ProgramSummary>>,
) -> super::StorageResult<ProgramSummary> {
    found.unwrap_or(Err(super::StorageError::ProgramNotFound(super::ProgramRef::Id(program))))
}

/// The summary of `program` in a listing (for stores that have no one-row read).
pub(crate) fn summary_in(listing: Vec<ListedProgram>, program: ProgramId) -> super::StorageResult<ProgramSummary> {
    found_summary(program, listing.into_iter().find(|(id, _)| *id == program).map(|(_, summary)| summary))
}

/// What a save wrote: rows written (inserted or replaced) and rows deleted. A save after
/// a small edit writes a handful of rows, whatever the program's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SaveReport {
    /// Rows inserted or replaced.
    pub rows_written: u64,
    /// Rows deleted.
    pub rows_deleted: u64,
}

/// A new function or closure for [`crate::store::GraphStore::insert_function`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewFunction {
    /// The module to declare it in. Ignored for a closure, which goes into its
    /// parent's module.
    pub module: crate::model::ModuleId,
    /// Unqualified name, unique in its module.
    pub name: String,
    /// Who can call it from other modules.
    pub visibility: crate::model::Visibility,
    /// Parameter names and types in order.
    pub params: Vec<(String, crate::model::TypeId)>,
    /// The type it returns.
    pub return_type: crate::model::TypeId,
    /// `Some` makes a closure of this parent, with these captures.
    pub closure_of: Option<(crate::model::FunctionId, Vec<crate::model::Capture>)>,
}

/// Changes to a function for [`crate::store::GraphStore::update_function`]; `None`
/// leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionUpdate {
    /// A new name, unique in the function's module (checked before a move).
    pub name: Option<String>,
    /// The module to move it to.
    pub module: Option<crate::model::ModuleId>,
    /// New visibility.
    pub visibility: Option<crate::model::Visibility>,
    /// New parameters and return type together. Existing `Parameter` nodes and calls
    /// are not adjusted.
    pub signature: Option<(Vec<(String, crate::model::TypeId)>, crate::model::TypeId)>,
    /// `Some(Some(n))` sets the entry node (one of the function's own), `Some(None)`
    /// clears it.
    pub entry_node: Option<Option<crate::model::NodeId>>,
    /// New captures; refused for a function that is not a closure.
    pub captures: Option<Vec<crate::model::Capture>>,
}

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
