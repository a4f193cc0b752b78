//! `types`: user types (ids from 9), their JSON definitions and, for named types, the
//! name, module and visibility the registry records.

use crate::graph::TypeEntry;
use crate::model::{LmType, ModuleId, TypeId, TypeName, Visibility};
use crate::rows::sql::codec::{Json, Named, Strict, cell_id, corrupt, show};
use crate::rows::sql::tables::{
    CHUNK, MAX_PARAMETERS, delete_ids, insert_row, insert_rows, per_connection, upsert_chunked,
};
use crate::schema::lmlang_types as types;
use crate::store::{ProgramId, StorageResult};
use diesel::dsl;
use diesel::prelude::*;
use diesel::upsert::excluded;

/// A type row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = types, check_for_backend(diesel::sqlite::Sqlite), treat_none_as_default_value = false)]
pub struct TypeRow {
    pub program_id: i64,
    pub type_id: Strict<i64>,
    /// The variant name, so SQL can tell structs from arrays without parsing JSON.
    pub kind: Strict<String>,
    pub name: Option<Strict<String>>,
    pub module_id: Option<Strict<i64>>,
    pub visibility: Option<Named<Visibility>>,
    pub definition: Json<LmType>,
}

const _: () = assert!(CHUNK * 7 <= MAX_PARAMETERS);

impl TypeRow {
    /// The row of a user type.
    pub fn new(program: ProgramId, id: TypeId, name: Option<&TypeName>, ty: &LmType) -> StorageResult<Self> {
        Ok(TypeRow {
            program_id: program.0,
            type_id: i64::from(id.0).into(),
            kind: ty.kind().to_string().into(),
            name: name.map(|n| n.name.clone().into()),
            module_id: name.map(|n| i64::from(n.module.0).into()),
            visibility: name.map(|n| n.visibility.into()),
            definition: Json::encode(ty)?,
        })
    }

    /// The type a row holds, or a `Corrupt` error naming it.
    pub fn decode(self) -> StorageResult<TypeEntry> {
        let key = || format!("program {} type {}", ProgramId(self.program_id), show(self.type_id));
        let bad = |detail: String| corrupt("lmlang_types", key(), detail);
        let id = TypeId(cell_id(self.type_id).map_err(bad)?);
        let ty = self.definition.decode().map_err(bad)?;
        let kind = self.kind.get().map_err(|e| bad(format!("kind: {e}")))?;
        if ty.kind() != kind {
            return Err(bad(format!("kind {kind:?} disagrees with the definition, a {}", ty.kind())));
        }
        let name = match (self.name, self.module_id, self.visibility) {
            (None, None, None) => None,
            (Some(name), Some(module), Some(visibility)) => Some(TypeName {
                name: name.get().map_err(|e| bad(format!("name: {e}")))?,
                module: ModuleId(cell_id(module).map_err(|e| bad(format!("module_id: {e}")))?),
                visibility: visibility.get().map_err(bad)?,
            }),
            _ => return Err(bad("name, module_id and visibility must be all set or all NULL".into())),
        };
        Ok(TypeEntry { id, name, ty })
    }
}

/// One type by key.
#[dsl::auto_type(no_type_alias)]
pub fn by_id(program: i64, ty: i64) -> _ {
    types::table.filter(types::program_id.eq(program)).filter(types::type_id.eq(ty))
}

/// All types of a program, in id order.
#[dsl::auto_type(no_type_alias)]
pub fn of_program(program: i64) -> _ {
    types::table.filter(types::program_id.eq(program)).order_by(types::type_id)
}

insert_row!(TypeRow, types, [program_id, type_id, kind, name, module_id, visibility, definition]);

per_connection! {
    /// Loads one type.
    pub fn find(conn: &mut Conn, program: i64, ty: i64) -> QueryResult<Option<TypeRow>> {
        by_id(program, ty).select(TypeRow::as_select()).get_result(conn).optional()
    }

    /// Loads all types of a program.
    pub fn load(conn: &mut Conn, program: i64) -> QueryResult<Vec<TypeRow>> {
        of_program(program).select(TypeRow::as_select()).load(conn)
    }

    /// Inserts rows that do not exist yet.
    pub fn insert(conn: &mut Conn, rows: &[TypeRow]) -> QueryResult<usize> {
        insert_rows!(conn, types::table, rows)
    }

    /// Inserts or replaces rows.
    pub fn upsert(conn: &mut Conn, rows: &[TypeRow]) -> QueryResult<usize> {
        upsert_chunked!(
            conn,
            types::table,
            rows,
            (types::program_id, types::type_id),
            (
                types::kind.eq(excluded(types::kind)),
                types::name.eq(excluded(types::name)),
                types::module_id.eq(excluded(types::module_id)),
                types::visibility.eq(excluded(types::visibility)),
                types::definition.eq(excluded(types::definition)),
            )
        )
    }

    /// Deletes types by id.
    pub fn delete(conn: &mut Conn, program: i64, ids: &[i64]) -> QueryResult<usize> {
        delete_ids!(conn, types, type_id, program, ids)
    }
}
