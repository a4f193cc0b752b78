//! One module per stored entity: its row structs and the queries on its table, shared
//! by SQLite and PostgreSQL (see [`per_connection`]).
//!
//! Rows are written in multi-row `INSERT`s over fixed-size arrays: Diesel caches a
//! prepared statement per array type, while a statement built from a `Vec` is prepared
//! anew every time. A bulk save therefore runs chunks of [`CHUNK`] rows, then smaller
//! fixed chunks for the rest; every chunk stays far below SQLite's limit of 32,766
//! bound parameters (checked at compile time in each module). Upserts and `IN` lists
//! cannot be cached by Diesel whatever their shape, so they run over plain slices.

pub mod edges;
pub mod functions;
pub mod history;
pub mod modules;
pub mod nodes;
pub mod programs;
pub mod semantic;
pub mod types;

/// Rows per multi-row statement on the bulk path.
pub const CHUNK: usize = 512;

/// SQLite's bound-parameter limit per statement (`SQLITE_MAX_VARIABLE_NUMBER`).
pub const MAX_PARAMETERS: usize = 32_766;

/// Inserts rows with cached multi-row statements: chunks of [`CHUNK`], then of 64, 8
/// and 1 for the remainder. Evaluates to `QueryResult<usize>`, the rows inserted.
macro_rules! insert_chunked {
    ($conn:expr, $table:expr, $rows:expr) => {{
        use diesel::RunQueryDsl as _;
        let conn = $conn;
        let mut rest = $rows;
        let mut written = 0usize;
        while let Some((chunk, tail)) = rest.split_first_chunk::<{ $crate::rows::sql::tables::CHUNK }>() {
            written += diesel::insert_into($table).values(chunk).execute(&mut *conn)?;
            rest = tail;
        }
        while let Some((chunk, tail)) = rest.split_first_chunk::<64>() {
            written += diesel::insert_into($table).values(chunk).execute(&mut *conn)?;
            rest = tail;
        }
        while let Some((chunk, tail)) = rest.split_first_chunk::<8>() {
            written += diesel::insert_into($table).values(chunk).execute(&mut *conn)?;
            rest = tail;
        }
        for row in rest {
            written += diesel::insert_into($table).values(row).execute(&mut *conn)?;
        }
        diesel::QueryResult::Ok(written)
    }};
}

/// Inserts or replaces rows (`ON CONFLICT (key) DO UPDATE SET ...`), chunked like
/// [`insert_chunked`]. Evaluates to `QueryResult<usize>`.
macro_rules! upsert_chunked {
    ($conn:expr, $table:expr, $rows:expr, $target:expr, $set:expr) => {{
        use diesel::RunQueryDsl as _;
        let conn = $conn;
        let mut written = 0usize;
        for chunk in $rows.chunks($crate::rows::sql::tables::CHUNK) {
            written += diesel::insert_into($table)
                .values(chunk)
                .on_conflict($target)
                .do_update()
                .set($set)
                .execute(&mut *conn)?;
        }
        diesel::QueryResult::Ok(written)
    }};
}

/// Deletes the rows of one program whose id column is in `ids`: one cached statement
/// for a single id, `IN` lists in chunks otherwise. Evaluates to `QueryResult<usize>`.
macro_rules! delete_ids {
    ($conn:expr, $table:ident, $id_column:ident, $program:expr, $ids:expr) => {{
        use diesel::{ExpressionMethods as _, QueryDsl as _, RunQueryDsl as _};
        let conn = $conn;
        let program: i64 = $program;
        let ids: &[i64] = $ids;
        let mut deleted = 0usize;
        if let [id] = ids {
            deleted +=
                diesel::delete($table::table.filter($table::program_id.eq(program)).filter($table::$id_column.eq(*id)))
                    .execute(&mut *conn)?;
        } else {
            for chunk in ids.chunks($crate::rows::sql::tables::CHUNK) {
                deleted += diesel::delete(
                    $table::table.filter($table::program_id.eq(program)).filter($table::$id_column.eq_any(chunk)),
                )
                .execute(&mut *conn)?;
            }
        }
        diesel::QueryResult::Ok(deleted)
    }};
}

/// Defines a table's queries once for each backend's connection type (`Conn` in the
/// items): in a `sqlite` submodule (re-exported at the module's top level) and a `pg`
/// submodule on PostgreSQL
/// (feature `postgres`). The tables, row structs and query builders are the same on
/// both (the PostgreSQL schema matches `crate::schema` column for column), so only the
/// connection differs; what really differs per backend lives in that backend's module.
macro_rules! per_connection {
    ($($item:item)*) => {
        /// The queries on a SQLite connection (also at the module's top level).
        pub mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            type Conn = diesel::sqlite::SqliteConnection;
            $($item)*
        }
        pub use self::sqlite::*;

        /// The same queries on a PostgreSQL connection.
        #[cfg(feature = "postgres")]
        pub mod pg {
            #[allow(unused_imports)]
            use super::*;
            type Conn = diesel::pg::PgConnection;
            $($item)*
        }
    };
}

pub(crate) use {delete_ids, insert_chunked, per_connection, upsert_chunked};
