//! One module per stored entity: its row structs and the queries on its table, shared
//! by SQLite and PostgreSQL (see [`per_connection`]).
//!
//! Rows are written in multi-row `INSERT`s over fixed-size arrays: Diesel caches a
//! prepared statement per array type, while a statement built from a `Vec` is prepared
//! anew every time. A bulk save therefore runs chunks of [`CHUNK`] rows, then smaller
//! fixed chunks for the rest; every chunk stays far below SQLite's limit of 32,766
//! bound parameters (checked at compile time in each module). Diesel caches no upsert
//! and no `IN` list whatever their shape, so those run over plain slices, except a
//! single row's upsert, which [`OneRowUpsert`] lets Diesel cache.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::{Column, QueryResult, RunQueryDsl};
use std::marker::PhantomData;

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

/// A single row's upsert (`INSERT ... ON CONFLICT (key) DO UPDATE SET ...`) that
/// Diesel's statement cache keeps, under the zero-sized `Id`, which must name this one
/// statement.
///
/// Diesel prepares every upsert it builds anew, because an upsert's `SET` list could be
/// empty and render as `DO NOTHING`. Ours never is, and a single row's `INSERT` (with
/// `treat_none_as_default_value = false`, so a `None` is a bound `NULL`) has one SQL
/// text, so the statement is written here from its cacheable parts: the plain
/// `INSERT`, the key's column names and the changeset. Preparing it was half the
/// instructions of a save after a one-node edit (BENCHMARKS.md).
pub struct OneRowUpsert<Id, I, K, C> {
    insert: I,
    changeset: C,
    marks: PhantomData<(Id, K)>,
}

impl<Id, I, K, C> OneRowUpsert<Id, I, K, C> {
    /// The upsert of the row `insert` writes, on conflict over the key `K` replacing
    /// what `changeset` sets.
    pub fn new(insert: I, _key: K, changeset: C) -> Self {
        OneRowUpsert { insert, changeset, marks: PhantomData }
    }
}

/// The columns of a conflict target, written as bare names (as SQL wants them there).
pub trait KeyColumns {
    /// Writes `a, b, ...`.
    fn walk_names<DB: Backend>(out: &mut AstPass<'_, '_, DB>) -> QueryResult<()>;
}

impl<A: Column, B: Column> KeyColumns for (A, B) {
    fn walk_names<DB: Backend>(out: &mut AstPass<'_, '_, DB>) -> QueryResult<()> {
        out.push_identifier(A::NAME)?;
        out.push_sql(", ");
        out.push_identifier(B::NAME)
    }
}

impl<A: Column, B: Column, C: Column> KeyColumns for (A, B, C) {
    fn walk_names<DB: Backend>(out: &mut AstPass<'_, '_, DB>) -> QueryResult<()> {
        <(A, B)>::walk_names(out)?;
        out.push_sql(", ");
        out.push_identifier(C::NAME)
    }
}

impl<DB, Id, I, K, C> QueryFragment<DB> for OneRowUpsert<Id, I, K, C>
where
    DB: Backend,
    I: QueryFragment<DB>,
    K: KeyColumns,
    C: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.insert.walk_ast(out.reborrow())?;
        out.push_sql(" ON CONFLICT (");
        K::walk_names(&mut out)?;
        out.push_sql(") DO UPDATE SET ");
        self.changeset.walk_ast(out.reborrow())
    }
}

impl<Id: 'static, I, K, C> QueryId for OneRowUpsert<Id, I, K, C> {
    type QueryId = Id;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Id, I, K, C, Conn> RunQueryDsl<Conn> for OneRowUpsert<Id, I, K, C> {}

/// Inserts or replaces rows (`ON CONFLICT (key) DO UPDATE SET ...`) in chunks of
/// [`CHUNK`]; a single row through a cached statement (see [`OneRowUpsert`]). Evaluates
/// to `QueryResult<usize>`.
macro_rules! upsert_chunked {
    ($conn:expr, $table:expr, $rows:expr, $target:expr, $set:expr) => {{
        use diesel::RunQueryDsl as _;
        let conn = $conn;
        let mut written = 0usize;
        for chunk in $rows.chunks($crate::rows::sql::tables::CHUNK) {
            written += if let [row] = chunk {
                // Names this expansion's one-row upsert for the statement cache.
                struct OneRow;
                $crate::rows::sql::tables::OneRowUpsert::<OneRow, _, _, _>::new(
                    diesel::insert_into($table).values(row),
                    $target,
                    diesel::query_builder::AsChangeset::as_changeset($set),
                )
                .execute(&mut *conn)?
            } else {
                diesel::insert_into($table)
                    .values(chunk)
                    .on_conflict($target)
                    .do_update()
                    .set($set)
                    .execute(&mut *conn)?
            };
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

#[cfg(test)]
mod tests {
    use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
    use std::sync::{Arc, Mutex};

    /// The SQL of every statement prepared to be kept in the connection's cache.
    struct Cached(Arc<Mutex<Vec<String>>>);

    impl Instrumentation for Cached {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event
                && let Ok(mut seen) = self.0.lock()
            {
                seen.push(sql.to_string());
            }
        }
    }

    #[test]
    fn a_one_row_upsert_is_prepared_once_and_replaces_the_row() {
        use crate::model::{ComputeNode, ComputeOp, FunctionId, NodeId};
        use crate::store::ProgramId;
        use diesel::prelude::*;

        let mut conn = SqliteConnection::establish(":memory:").expect("connection");
        crate::sqlite::run_migrations(&mut conn).expect("migrations");
        // The row alone, without the program and function it belongs to.
        conn.batch_execute("PRAGMA foreign_keys = OFF").expect("pragma");
        let seen = Arc::new(Mutex::new(Vec::new()));
        conn.set_instrumentation(Cached(seen.clone()));
        let row = |op: ComputeOp| {
            let node = ComputeNode { op: op.into(), owner: FunctionId(1) };
            super::nodes::NodeRow::new(ProgramId(1), NodeId(1), &node).expect("row")
        };
        for op in [ComputeOp::Print, ComputeOp::ReadLine, ComputeOp::Print, ComputeOp::Return] {
            let written = super::nodes::upsert(&mut conn, &[row(op.clone())]).expect("upsert");
            assert_eq!(written, 1);
        }
        let prepared = seen.lock().expect("log").clone();
        let stored: Vec<super::nodes::NodeRow> = crate::schema::lmlang_compute_nodes::table
            .select(super::nodes::NodeRow::as_select())
            .load(&mut conn)
            .expect("rows");
        assert_eq!(stored, vec![row(ComputeOp::Return)], "the last upsert's row, once");
        assert_eq!(prepared.len(), 1, "prepared once for four upserts: {prepared:?}");
        assert!(prepared[0].contains("ON CONFLICT (`program_id`, `node_id`) DO UPDATE SET"), "{}", prepared[0]);
    }
}
