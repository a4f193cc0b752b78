//! `ProgramGraph`: the program held in petgraph, its editing API that keeps every layer
//! consistent, validation, the change journal, the plain-data document form and the
//! readable notation people see it in. It knows nothing of storage.

mod compare;
mod document;
mod edit;
mod error;
mod journal;
mod modules;
mod notation;
mod program;
mod semantic;
mod validate;

pub(crate) use document::PartialGraph;
pub use document::{DOCUMENT_FORMAT_VERSION, EdgeEntry, NodeEntry, ProgramDocument, TypeEntry};
pub(crate) use edit::NameRule;
pub use error::{Entity, GraphError, Violation};
pub use journal::{ChangeSet, Lineage};
pub use modules::ModuleTree;
pub use notation::Notation;
pub use program::{EdgeView, NextIds, ProgramGraph};
