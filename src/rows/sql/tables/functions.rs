//! `functions`: functions and closures, with parameters and captures as JSON arrays in
//! declaration order.

use crate::model::{Capture, FunctionDef, FunctionId, ModuleId, NodeId, TypeId, Visibility};
use crate::rows::sql::codec::{Json, Named, Strict, cell_id, corrupt, show};
use crate::rows::sql::tables::{
    CHUNK, MAX_PARAMETERS, delete_ids, insert_row, insert_rows, per_connection, upsert_chunked,
};
use crate::schema::lmlang_functions as functions;
use crate::store::{ProgramId, StorageResult};
use diesel::dsl;
use diesel::prelude::*;
use diesel::upsert::excluded;

/// A function row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = functions, check_for_backend(diesel::sqlite::Sqlite), treat_none_as_default_value = false)]
pub struct FunctionRow {
    pub program_id: i64,
    pub function_id: Strict<i64>,
    pub module_id: Strict<i64>,
    pub name: Strict<String>,
    pub visibility: Named<Visibility>,
    pub params: Json<Vec<(String, TypeId)>>,
    pub return_type: Strict<i64>,
    pub entry_node_id: Option<Strict<i64>>,
    pub is_closure: Strict<bool>,
    pub parent_function_id: Option<Strict<i64>>,
    pub captures: Json<Vec<Capture>>,
}

const _: () = assert!(CHUNK * 11 <= MAX_PARAMETERS);

impl FunctionRow {
    /// The row of a function.
    pub fn new(program: ProgramId, def: &FunctionDef) -> StorageResult<Self> {
        Ok(FunctionRow {
            program_id: program.0,
            function_id: i64::from(def.id.0).into(),
            module_id: i64::from(def.module.0).into(),
            name: def.name.clone().into(),
            visibility: def.visibility.into(),
            params: Json::encode(&def.params)?,
            return_type: i64::from(def.return_type.0).into(),
            entry_node_id: def.entry_node.map(|n| i64::from(n.0).into()),
            is_closure: def.is_closure.into(),
            parent_function_id: def.parent_function.map(|f| i64::from(f.0).into()),
            captures: Json::encode(&def.captures)?,
        })
    }

    /// The function a row holds, or a `Corrupt` error naming it.
    pub fn decode(self) -> StorageResult<FunctionDef> {
        let key = || format!("program {} function {}", ProgramId(self.program_id), show(self.function_id));
        let bad = |detail: String| corrupt("lmlang_functions", key(), detail);
        let id = |v: Strict<i64>, what: &str| cell_id(v).map_err(|e| bad(format!("{what}: {e}")));
        Ok(FunctionDef {
            id: FunctionId(id(self.function_id, "function_id")?),
            module: ModuleId(id(self.module_id, "module_id")?),
            visibility: self.visibility.get().map_err(bad)?,
            params: self.params.decode().map_err(|e| bad(format!("params: {e}")))?,
            return_type: TypeId(id(self.return_type, "return_type")?),
            entry_node: self.entry_node_id.map(|n| id(n, "entry_node_id").map(NodeId)).transpose()?,
            captures: self.captures.decode().map_err(|e| bad(format!("captures: {e}")))?,
            is_closure: self.is_closure.get().map_err(|e| bad(format!("is_closure: {e}")))?,
            parent_function: self
                .parent_function_id
                .map(|f| id(f, "parent_function_id").map(FunctionId))
                .transpose()?,
            name: self.name.get().map_err(|e| bad(format!("name: {e}")))?,
        })
    }
}

/// One function by key.
#[dsl::auto_type(no_type_alias)]
pub fn by_id(program: i64, function: i64) -> _ {
    functions::table.filter(functions::program_id.eq(program)).filter(functions::function_id.eq(function))
}

/// The functions of a module, in id order (index `functions_by_module`).
#[dsl::auto_type(no_type_alias)]
pub fn in_module(program: i64, module: i64) -> _ {
    functions::table
        .filter(functions::program_id.eq(program))
        .filter(functions::module_id.eq(module))
        .order_by(functions::function_id)
}

/// All functions of a program, in id order.
#[dsl::auto_type(no_type_alias)]
pub fn of_program(program: i64) -> _ {
    functions::table.filter(functions::program_id.eq(program)).order_by(functions::function_id)
}

insert_row!(
    FunctionRow,
    functions,
    [
        program_id,
        function_id,
        module_id,
        name,
        visibility,
        params,
        return_type,
        entry_node_id,
        is_closure,
        parent_function_id,
        captures
    ]
);

per_connection! {
    /// Loads one function.
    pub fn find(conn: &mut Conn, program: i64, function: i64) -> QueryResult<Option<FunctionRow>> {
        by_id(program, function).select(FunctionRow::as_select()).get_result(conn).optional()
    }

    /// Loads the functions of a module.
    pub fn load_in_module(conn: &mut Conn, program: i64, module: i64) -> QueryResult<Vec<FunctionRow>> {
        in_module(program, module).select(FunctionRow::as_select()).load(conn)
    }

    /// Loads all functions of a program.
    pub fn load(conn: &mut Conn, program: i64) -> QueryResult<Vec<FunctionRow>> {
        of_program(program).select(FunctionRow::as_select()).load(conn)
    }

    /// Inserts rows that do not exist yet.
    pub fn insert(conn: &mut Conn, rows: &[FunctionRow]) -> QueryResult<usize> {
        insert_rows!(conn, functions::table, rows)
    }

    /// Inserts or replaces rows.
    pub fn upsert(conn: &mut Conn, rows: &[FunctionRow]) -> QueryResult<usize> {
        upsert_chunked!(
            conn,
            functions::table,
            rows,
            (functions::program_id, functions::function_id),
            (
                functions::module_id.eq(excluded(functions::module_id)),
                functions::name.eq(excluded(functions::name)),
                functions::visibility.eq(excluded(functions::visibility)),
                functions::params.eq(excluded(functions::params)),
                functions::return_type.eq(excluded(functions::return_type)),
                functions::entry_node_id.eq(excluded(functions::entry_node_id)),
                functions::is_closure.eq(excluded(functions::is_closure)),
                functions::parent_function_id.eq(excluded(functions::parent_function_id)),
                functions::captures.eq(excluded(functions::captures)),
            )
        )
    }

    /// Deletes functions by id.
    pub fn delete(conn: &mut Conn, program: i64, ids: &[i64]) -> QueryResult<usize> {
        delete_ids!(conn, functions, function_id, program, ids)
    }
}
