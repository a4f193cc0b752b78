//! `modules`: the module tree, one row per module with its parent.

use crate::model::{ModuleDef, ModuleId, Visibility};
use crate::rows::sql::codec::{Named, Strict, cell_id, cell_opt_id, corrupt, show};
use crate::rows::sql::tables::{
    CHUNK, MAX_PARAMETERS, delete_ids, insert_row, insert_rows, per_connection, upsert_chunked,
};
use crate::schema::lmlang_modules as modules;
use crate::store::{ProgramId, StorageResult};
use diesel::dsl;
use diesel::prelude::*;
use diesel::upsert::excluded;

/// A module row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = modules, check_for_backend(diesel::sqlite::Sqlite), treat_none_as_default_value = false)]
pub struct ModuleRow {
    pub program_id: i64,
    pub module_id: Strict<i64>,
    pub name: Strict<String>,
    pub parent_id: Option<Strict<i64>>,
    pub visibility: Named<Visibility>,
}

const _: () = assert!(CHUNK * 5 <= MAX_PARAMETERS);

impl ModuleRow {
    /// The row of a module.
    pub fn new(program: ProgramId, def: &ModuleDef) -> Self {
        ModuleRow {
            program_id: program.0,
            module_id: i64::from(def.id.0).into(),
            name: def.name.clone().into(),
            parent_id: def.parent.map(|p| i64::from(p.0).into()),
            visibility: def.visibility.into(),
        }
    }

    /// The module a row holds, or a `Corrupt` error naming it.
    pub fn decode(self) -> StorageResult<ModuleDef> {
        let key = || format!("program {} module {}", ProgramId(self.program_id), show(self.module_id));
        let bad = |detail: String| corrupt("lmlang_modules", key(), detail);
        Ok(ModuleDef {
            id: ModuleId(cell_id(self.module_id).map_err(bad)?),
            parent: cell_opt_id(self.parent_id).map_err(|e| bad(format!("parent_id: {e}")))?.map(ModuleId),
            visibility: self.visibility.get().map_err(bad)?,
            name: self.name.get().map_err(|e| bad(format!("name: {e}")))?,
        })
    }
}

/// One module by key.
#[dsl::auto_type(no_type_alias)]
pub fn by_id(program: i64, module: i64) -> _ {
    modules::table.filter(modules::program_id.eq(program)).filter(modules::module_id.eq(module))
}

/// All modules of a program, in id order.
#[dsl::auto_type(no_type_alias)]
pub fn of_program(program: i64) -> _ {
    modules::table.filter(modules::program_id.eq(program)).order_by(modules::module_id)
}

insert_row!(ModuleRow, modules, [program_id, module_id, name, parent_id, visibility]);

per_connection! {
    /// Loads one module.
    pub fn find(conn: &mut Conn, program: i64, module: i64) -> QueryResult<Option<ModuleRow>> {
        by_id(program, module).select(ModuleRow::as_select()).get_result(conn).optional()
    }

    /// Loads all modules of a program.
    pub fn load(conn: &mut Conn, program: i64) -> QueryResult<Vec<ModuleRow>> {
        of_program(program).select(ModuleRow::as_select()).load(conn)
    }

    /// Inserts rows that do not exist yet.
    pub fn insert(conn: &mut Conn, rows: &[ModuleRow]) -> QueryResult<usize> {
        insert_rows!(conn, modules::table, rows)
    }

    /// Inserts or replaces rows.
    pub fn upsert(conn: &mut Conn, rows: &[ModuleRow]) -> QueryResult<usize> {
        upsert_chunked!(
            conn,
            modules::table,
            rows,
            (modules::program_id, modules::module_id),
            (
                modules::name.eq(excluded(modules::name)),
                modules::parent_id.eq(excluded(modules::parent_id)),
                modules::visibility.eq(excluded(modules::visibility)),
            )
        )
    }

    /// Deletes modules by id.
    pub fn delete(conn: &mut Conn, program: i64, ids: &[i64]) -> QueryResult<usize> {
        delete_ids!(conn, modules, module_id, program, ids)
    }
}
