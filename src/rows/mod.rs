//! The row layer every backend shares: which rows a save writes, and how rows become
//! a graph again.
//!
//! A backend keeps rows; it does not decide which. [`write_changes`] and
//! [`write_all`] turn a graph (or the part of it a [`ChangeSet`](crate::graph::ChangeSet)
//! names) into calls on a [`RowSink`], parents first and children last, with the
//! semantic rows of everything whose skeleton may have changed; [`read_graph`] and its
//! parts turn what a [`RowSource`] reads back into a checked
//! [`ProgramGraph`](crate::graph::ProgramGraph). So SQLite, PostgreSQL and the
//! in-memory backend agree on every row by construction, and a backend implements
//! only row reads and writes, its transactions and its bulk path.

mod assemble;
mod diff;
mod sink;
mod source;
mod split;
pub(crate) mod sql;

pub(crate) use split::read_graph_split;

/// The tables that hold a program's rows in the SQL backends, in the order rows must be
/// written for foreign keys to hold (parents first; delete in reverse). For tools that
/// copy, size or maintain a program's rows by hand.
pub const PROGRAM_TABLES: [&str; 11] = [
    "lmlang_programs",
    "lmlang_program_names",
    "lmlang_modules",
    "lmlang_types",
    "lmlang_functions",
    "lmlang_compute_nodes",
    "lmlang_flow_edges",
    "lmlang_semantic_nodes",
    "lmlang_semantic_edges",
    "lmlang_history",
    "lmlang_history_tags",
];
pub use assemble::{assemble, check_semantic, table_of};
pub use diff::{Replaced, write_all, write_changes};
pub use sink::RowSink;
pub use source::{Header, RowSource, SemanticRows, read_document, read_edges, read_graph, read_without_edges};
