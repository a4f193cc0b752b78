//! Read-only row models of this crate's tables, for a service's own Diesel queries and
//! joins (a report of programs per user, the functions of a module, nodes by op).
//!
//! They hold column values as stored, with the types `src/schema.rs` gives them, and
//! select a stable subset of each table's columns. The store's own reads are stricter
//! (every cell checked, ids range-checked, payloads decoded into model types): to get
//! graphs, nodes or functions as values, use the store; to filter, join and count in
//! SQL beside the service's tables, use these. Writing to these tables other than
//! through the store is not supported: the store's revisions, next ids and semantic
//! tables would no longer agree with the rows.
//!
//! ```no_run
//! use diesel::prelude::*;
//! use lmlang_storage::schema::{lmlang_functions, lmlang_program_names};
//! use lmlang_storage::sqlite::records::FunctionRecord;
//!
//! let mut conn = SqliteConnection::establish("service.db")?;
//! let app = lmlang_program_names::table.filter(lmlang_program_names::name.eq("app"));
//! let public_functions: Vec<FunctionRecord> = lmlang_functions::table
//!     .filter(lmlang_functions::program_id.eq_any(app.select(lmlang_program_names::program_id)))
//!     .filter(lmlang_functions::visibility.eq("Public"))
//!     .select(FunctionRecord::as_select())
//!     .load(&mut conn)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::ops::OP_NAMES;
use crate::schema::{
    lmlang_compute_nodes, lmlang_flow_edges, lmlang_functions, lmlang_modules, lmlang_program_names, lmlang_programs,
    lmlang_types,
};
use diesel::{Queryable, Selectable};

/// A program: name, revision (bumped by every write) and sizes. Names live in
/// `lmlang_program_names` (so every other key starts with the program id), so select
/// it from `lmlang_programs::table.inner_join(lmlang_program_names::table)`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = lmlang_programs, check_for_backend(diesel::sqlite::Sqlite))]
pub struct ProgramRecord {
    /// The program id (`ProgramId`).
    pub id: i64,
    /// The unique program name.
    #[diesel(select_expression = lmlang_program_names::name)]
    pub name: String,
    /// Incremented by every committed write to the program.
    pub revision: i64,
    /// Live modules.
    pub module_count: i64,
    /// Live functions and closures.
    pub function_count: i64,
    /// Live compute nodes.
    pub node_count: i64,
    /// Live flow edges.
    pub edge_count: i64,
    /// Unix seconds of creation.
    pub created_at: i64,
    /// Unix seconds of the last write.
    pub updated_at: i64,
}

/// A module of a program; the root module has no parent.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = lmlang_modules, check_for_backend(diesel::sqlite::Sqlite))]
pub struct ModuleRecord {
    /// The owning program.
    pub program_id: i64,
    /// The module id within the program.
    pub module_id: i64,
    /// The module's name (unique among its siblings).
    pub name: String,
    /// The parent module, `None` for the root.
    pub parent_id: Option<i64>,
    /// `Public` or `Private`.
    pub visibility: String,
}

/// A function or closure, without its body (the nodes that name it as owner).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = lmlang_functions, check_for_backend(diesel::sqlite::Sqlite))]
pub struct FunctionRecord {
    /// The owning program.
    pub program_id: i64,
    /// The function id within the program.
    pub function_id: i64,
    /// The module that declares it.
    pub module_id: i64,
    /// Its name, unique within the module.
    pub name: String,
    /// `Public` or `Private`.
    pub visibility: String,
    /// The type id of its result.
    pub return_type: i64,
    /// The node execution starts at, once set.
    pub entry_node_id: Option<i64>,
    /// Whether it is a closure (then `parent_function_id` is set).
    pub is_closure: bool,
    /// The function a closure is defined in.
    pub parent_function_id: Option<i64>,
}

/// A user type (ids from 9; built-ins are not stored). `definition` is the type's
/// JSON form; named types carry their name, module and visibility.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = lmlang_types, check_for_backend(diesel::sqlite::Sqlite))]
pub struct TypeRecord {
    /// The owning program.
    pub program_id: i64,
    /// The type id within the program.
    pub type_id: i64,
    /// `Scalar`, `Array`, `Struct`, `Enum`, `Pointer`, `Function`, `Unit` or `Never`.
    pub kind: String,
    /// The registered name of a named type.
    pub name: Option<String>,
    /// The module of a named type.
    pub module_id: Option<i64>,
    /// The visibility of a named type.
    pub visibility: Option<String>,
    /// The type's definition as JSON.
    pub definition: String,
}

/// A compute node. `op` is a small code (see [`NodeRecord::op_name`] and the
/// `lmlang_op_kinds` table); `arg`, `type_ref` and `callee_id` are the op's one small
/// operand, referenced type and called function where it has them; `payload` holds
/// the rest as JSON (constants in their bit-exact text form).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = lmlang_compute_nodes, check_for_backend(diesel::sqlite::Sqlite))]
pub struct NodeRecord {
    /// The owning program.
    pub program_id: i64,
    /// The function whose body the node belongs to.
    pub owner_id: i64,
    /// The node id within the program.
    pub node_id: i64,
    /// The op code.
    pub op: i16,
    /// The op's small integer operand (parameter index, field, variant...), if any.
    pub arg: Option<i64>,
    /// The type the op names (struct, enum, cast target...), if any.
    pub type_ref: Option<i64>,
    /// The function the op calls or closes over, if any.
    pub callee_id: Option<i64>,
    /// The rest of the op as JSON, if it has more.
    pub payload: Option<String>,
}

impl NodeRecord {
    /// The op's name (`"Const"`, `"Call"`...), or `None` for a code this build does
    /// not know.
    pub fn op_name(&self) -> Option<&'static str> {
        usize::try_from(self.op).ok().and_then(|i| OP_NAMES.get(i)).copied()
    }
}

/// A flow edge: a data edge carries a value from an output port to an input port
/// (`value_type` set, `kind` 0); a control edge orders execution (`branch` for the arm
/// of a conditional, `kind` 1).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = lmlang_flow_edges, check_for_backend(diesel::sqlite::Sqlite))]
pub struct EdgeRecord {
    /// The owning program.
    pub program_id: i64,
    /// The edge id within the program.
    pub edge_id: i64,
    /// The node the edge leaves.
    pub source_id: i64,
    /// The node the edge enters.
    pub target_id: i64,
    /// The output port of a data edge.
    pub source_port: Option<i32>,
    /// The input port of a data edge.
    pub target_port: Option<i32>,
    /// The type of the value a data edge carries.
    pub value_type: Option<i64>,
    /// The branch index of a control edge out of a conditional.
    pub branch: Option<i32>,
    /// 0 for data, 1 for control (generated from `value_type`).
    pub kind: i16,
}
