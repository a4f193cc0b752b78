//! `ProgramGraph`: the program held in petgraph, its editing API that keeps every layer
//! consistent, validation, the change journal and the plain-data document form.
//! It knows nothing of storage.

mod compare;
mod document;
mod edit;
mod error;
mod journal;
mod modules;
mod program;
mod semantic;
mod validate;

pub(crate) use document::PartialGraph;
pub use document::{DOCUMENT_FORMAT_VERSION, EdgeEntry, NodeEntry, ProgramDocument, TypeEntry};
pub use error::{Entity, GraphError, Violation};
pub use journal::{ChangeSet, Lineage};
pub use modules::ModuleTree;
pub use program::{EdgeView, NextIds, ProgramGraph};
