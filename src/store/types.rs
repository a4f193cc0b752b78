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
    pub id: ProgramId,
    pub name: String,
    pub modules: u64,
    pub functions: u64,
    pub nodes: u64,
    pub edges: u64,
    /// Bumped by every committed write; a cheap way to notice a change.
    pub revision: u64,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a save wrote: rows written (inserted or replaced) and rows deleted. A save after
/// a small edit writes a handful of rows, whatever the program's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SaveReport {
    pub rows_written: u64,
    pub rows_deleted: u64,
}

/// A new function or closure for [`crate::store::GraphStore::insert_function`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewFunction {
    pub module: crate::model::ModuleId,
    pub name: String,
    pub visibility: crate::model::Visibility,
    pub params: Vec<(String, crate::model::TypeId)>,
    pub return_type: crate::model::TypeId,
    /// `Some` makes a closure of this parent, with these captures.
    pub closure_of: Option<(crate::model::FunctionId, Vec<crate::model::Capture>)>,
}

/// Changes to a function for [`crate::store::GraphStore::update_function`]; `None`
/// leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionUpdate {
    pub name: Option<String>,
    pub module: Option<crate::model::ModuleId>,
    pub visibility: Option<crate::model::Visibility>,
    pub signature: Option<(Vec<(String, crate::model::TypeId)>, crate::model::TypeId)>,
    pub entry_node: Option<Option<crate::model::NodeId>>,
    pub captures: Option<Vec<crate::model::Capture>>,
}

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
