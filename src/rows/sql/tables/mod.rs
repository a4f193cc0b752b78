//! One module per stored entity: its row structs and the queries on its table, shared
//! by SQLite and PostgreSQL (see [`per_connection`]).
//!
//! New rows are written by [`insert_rows!`] in multi-row `INSERT`s of fixed sizes, each
//! prepared once per connection: chunks of [`CHUNK`] rows, then smaller fixed chunks
//! for the rest; every chunk stays far below SQLite's limit of 32,766 bound parameters
//! (checked at compile time in each module). Diesel caches no upsert whatever its
//! shape, nor on SQLite an `IN` list, so those run over plain slices, except a single
//! row's upsert, which [`OneRowUpsert`] lets Diesel cache.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::{Column, QueryResult, QuerySource, RunQueryDsl};
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

/// A statement that Diesel's statement cache keeps, under the zero-sized `Id`, which
/// must name this one statement: for statements whose SQL text never varies but which
/// Diesel, built its own way, would prepare anew every time (an upsert, an `UPDATE`:
/// their `SET` list could be empty, or skip a `None`, and render differently).
/// Preparing them was most of a small write's instructions (BENCHMARKS.md). Diesel's
/// own check that a statement may be cached is skipped: a statement whose text can
/// vary (an `IN` list, a `DEFAULT`, a changeset that leaves out a `None`) must not be
/// wrapped, or it would run another text's prepared statement.
pub struct Cached<Id, S> {
    statement: S,
    id: PhantomData<Id>,
}

impl<Id, S> Cached<Id, S> {
    /// Wraps `statement`, whose SQL must be the same every time it is built.
    pub fn new(statement: S) -> Self {
        Cached { statement, id: PhantomData }
    }
}

impl<DB: Backend, Id, S: QueryFragment<DB>> QueryFragment<DB> for Cached<Id, S> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.statement.walk_ast(pass)
    }

    /// Known without walking the statement, whose SQL never varies: Diesel would
    /// otherwise walk every bound value of a bulk chunk once more per execution.
    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }

    /// Never: each statement wrapped here writes at least one row or column.
    fn is_noop(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(false)
    }
}

impl<Id: 'static, S> QueryId for Cached<Id, S> {
    type QueryId = Id;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Id, S, Conn> RunQueryDsl<Conn> for Cached<Id, S> {}

/// A row [`RowsInsert`] can write: its table's column names and its values, in one
/// order. Implemented by [`insert_row!`] from a single list of columns, each value bound
/// with its column's SQL type from `crate::schema`, so a field of the wrong type does
/// not compile.
pub trait InsertRow<DB: Backend> {
    /// Writes `a, b, ...`.
    fn walk_names(out: &mut AstPass<'_, '_, DB>) -> QueryResult<()>;

    /// Binds the values, separated by commas, in the order of [`Self::walk_names`].
    fn walk_values<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()>;
}

/// Rows passed by reference, so a writer can insert them in an order of its own
/// without moving them (SQLite's page-filling order, `sqlite::writer`).
impl<DB: Backend, R: InsertRow<DB>> InsertRow<DB> for &R {
    fn walk_names(out: &mut AstPass<'_, '_, DB>) -> QueryResult<()> {
        R::walk_names(out)
    }

    fn walk_values<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
        (**self).walk_values(out)
    }
}

/// `INSERT INTO <table> (<columns>) VALUES (...), (...)` for a slice of rows: Diesel's
/// own multi-row insert walks each row's values as a tuple, asking every column
/// whether it is a default, which on the bulk path cost more than binding them
/// (BENCHMARKS.md). A fixed number of rows renders one SQL text, so it can be
/// [`Cached`].
pub struct RowsInsert<'a, F, R> {
    into: F,
    rows: &'a [R],
}

impl<'a, F, R> RowsInsert<'a, F, R> {
    /// The insert of `rows` into `table`.
    pub fn new<T: QuerySource<FromClause = F>>(table: T, rows: &'a [R]) -> Self {
        RowsInsert { into: table.from_clause(), rows }
    }
}

impl<DB, F, R> QueryFragment<DB> for RowsInsert<'_, F, R>
where
    DB: Backend,
    F: QueryFragment<DB>,
    R: InsertRow<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("INSERT INTO ");
        self.into.walk_ast(out.reborrow())?;
        out.push_sql(" (");
        R::walk_names(&mut out)?;
        out.push_sql(") VALUES ");
        for (k, row) in self.rows.iter().enumerate() {
            out.push_sql(if k == 0 { "(" } else { ", (" });
            row.walk_values(&mut out)?;
            out.push_sql(")");
        }
        Ok(())
    }
}

/// Implements [`InsertRow`] for a row struct whose fields are named as its table's
/// columns, on SQLite and (feature `postgres`) PostgreSQL:
/// `insert_row!(EdgeRow, flow_edges, [program_id, edge_id, ...])`.
macro_rules! insert_row {
    ($row:ty, $table:ident, [$first:ident $(, $column:ident)* $(,)?]) => {
        $crate::rows::sql::tables::insert_row!(@on diesel::sqlite::Sqlite, $row, $table, [$first $(, $column)*]);
        #[cfg(feature = "postgres")]
        $crate::rows::sql::tables::insert_row!(@on diesel::pg::Pg, $row, $table, [$first $(, $column)*]);
    };
    (@on $db:ty, $row:ty, $table:ident, [$first:ident $(, $column:ident)*]) => {
        impl $crate::rows::sql::tables::InsertRow<$db> for $row {
            fn walk_names(out: &mut diesel::query_builder::AstPass<'_, '_, $db>) -> diesel::QueryResult<()> {
                out.push_identifier(<$table::$first as diesel::Column>::NAME)?;
                $(
                    out.push_sql(", ");
                    out.push_identifier(<$table::$column as diesel::Column>::NAME)?;
                )*
                Ok(())
            }

            fn walk_values<'b>(&'b self, out: &mut diesel::query_builder::AstPass<'_, 'b, $db>) -> diesel::QueryResult<()> {
                out.push_bind_param::<<$table::$first as diesel::Expression>::SqlType, _>(&self.$first)?;
                $(
                    out.push_sql(", ");
                    out.push_bind_param::<<$table::$column as diesel::Expression>::SqlType, _>(&self.$column)?;
                )*
                Ok(())
            }
        }
    };
}

/// Defines `$name<'a>(pub &'a $row)`: the `SET` list `a = ?, b = ?, ...` of the listed
/// fields of a row struct named as its table's columns, each bound with its column's
/// SQL type, on SQLite and (feature `postgres`) PostgreSQL. Diesel's derived and tuple
/// changesets ask each part whether it is empty every time the statement runs, a cost
/// a single-row write pays on every commit. With `every`, the list must name every
/// field of the struct (a field added later and not listed does not compile):
/// `set_list!(StateChanges, ProgramState, programs, every [revision, ...])`.
macro_rules! set_list {
    ($(#[$doc:meta])* $name:ident, $row:ident, $table:ident, every [$($column:ident),+ $(,)?]) => {
        $crate::rows::sql::tables::set_list!($(#[$doc])* $name, $row, $table, [$($column),+]);
        const _: () = {
            #[allow(dead_code)]
            fn every_field_is_listed(row: &$row) {
                let $row { $($column: _),+ } = row;
            }
        };
    };
    ($(#[$doc:meta])* $name:ident, $row:ident, $table:ident, [$first:ident $(, $column:ident)* $(,)?]) => {
        $(#[$doc])*
        pub struct $name<'a>(pub &'a $row);

        $crate::rows::sql::tables::set_list!(@on diesel::sqlite::Sqlite, $name, $table, [$first $(, $column)*]);
        #[cfg(feature = "postgres")]
        $crate::rows::sql::tables::set_list!(@on diesel::pg::Pg, $name, $table, [$first $(, $column)*]);
    };
    (@on $db:ty, $name:ident, $table:ident, [$first:ident $(, $column:ident)*]) => {
        impl diesel::query_builder::QueryFragment<$db> for $name<'_> {
            fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, $db>) -> diesel::QueryResult<()> {
                out.push_identifier(<$table::$first as diesel::Column>::NAME)?;
                out.push_sql(" = ");
                out.push_bind_param::<<$table::$first as diesel::Expression>::SqlType, _>(&self.0.$first)?;
                $(
                    out.push_sql(", ");
                    out.push_identifier(<$table::$column as diesel::Column>::NAME)?;
                    out.push_sql(" = ");
                    out.push_bind_param::<<$table::$column as diesel::Expression>::SqlType, _>(&self.0.$column)?;
                )*
                Ok(())
            }
        }
    };
}

/// Inserts rows that implement [`InsertRow`] through [`RowsInsert`], in cached chunks
/// of [`CHUNK`], then of 64, 8 and 1 rows, one statement per size (the marker types
/// name them; expand outside generic code). Evaluates to `QueryResult<usize>`.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {{
        use diesel::RunQueryDsl as _;
        use $crate::rows::sql::tables::{CHUNK, Cached, RowsInsert};
        struct Full;
        struct Of64;
        struct Of8;
        struct One;
        let conn = $conn;
        let mut rest = $rows;
        let mut written = 0usize;
        while let Some((chunk, tail)) = rest.split_first_chunk::<CHUNK>() {
            written += Cached::<Full, _>::new(RowsInsert::new($table, chunk)).execute(&mut *conn)?;
            rest = tail;
        }
        while let Some((chunk, tail)) = rest.split_first_chunk::<64>() {
            written += Cached::<Of64, _>::new(RowsInsert::new($table, chunk)).execute(&mut *conn)?;
            rest = tail;
        }
        while let Some((chunk, tail)) = rest.split_first_chunk::<8>() {
            written += Cached::<Of8, _>::new(RowsInsert::new($table, chunk)).execute(&mut *conn)?;
            rest = tail;
        }
        for row in rest.chunks(1) {
            written += Cached::<One, _>::new(RowsInsert::new($table, row)).execute(&mut *conn)?;
        }
        diesel::QueryResult::Ok(written)
    }};
}

/// A single row's upsert (`INSERT ... ON CONFLICT (key) DO UPDATE SET ...`) built from
/// parts that never mark themselves unsafe to cache: the plain one-row `INSERT` (with
/// `treat_none_as_default_value = false`, so a `None` is a bound `NULL`), the key's
/// column names and a changeset that is never empty. Diesel's own upsert is prepared
/// anew every time; this one can be [`Cached`].
pub struct OneRowUpsert<I, K, C> {
    insert: I,
    changeset: C,
    key: PhantomData<K>,
}

impl<I, K, C> OneRowUpsert<I, K, C> {
    /// The upsert of the row `insert` writes, on conflict over the key `K` replacing
    /// what `changeset` sets.
    pub fn new(insert: I, _key: K, changeset: C) -> Self {
        OneRowUpsert { insert, changeset, key: PhantomData }
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

impl<DB, I, K, C> QueryFragment<DB> for OneRowUpsert<I, K, C>
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

/// `UPDATE <table> SET <changeset> WHERE <filter>`, which can be [`Cached`] when the
/// changeset renders every column whatever the values, as a [`set_list!`] does (a
/// `None` binds `NULL`).
pub struct PlainUpdate<Q, C, W> {
    from: Q,
    changeset: C,
    filter: W,
}

impl<Q, C, W> PlainUpdate<Q, C, W> {
    /// The update of `table`'s rows matching `filter`.
    pub fn new<T: QuerySource<FromClause = Q>>(table: T, changeset: C, filter: W) -> Self {
        PlainUpdate { from: table.from_clause(), changeset, filter }
    }
}

impl<DB, Q, C, W> QueryFragment<DB> for PlainUpdate<Q, C, W>
where
    DB: Backend,
    Q: QueryFragment<DB>,
    C: QueryFragment<DB>,
    W: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        self.from.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.changeset.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.filter.walk_ast(out.reborrow())
    }
}

/// Inserts or replaces rows (`ON CONFLICT (key) DO UPDATE SET ...`) in chunks of
/// [`CHUNK`]; a single row through a cached statement (see [`OneRowUpsert`]), which
/// needs the row struct's `treat_none_as_default_value = false` and an expansion
/// outside generic code (its marker type must name one SQL text). Evaluates to
/// `QueryResult<usize>`.
macro_rules! upsert_chunked {
    ($conn:expr, $table:expr, $rows:expr, $target:expr, $set:expr) => {{
        use diesel::RunQueryDsl as _;
        let conn = $conn;
        let mut written = 0usize;
        for chunk in $rows.chunks($crate::rows::sql::tables::CHUNK) {
            written += if let [row] = chunk {
                // Names this expansion's one-row upsert for the statement cache.
                struct OneRow;
                $crate::rows::sql::tables::Cached::<OneRow, _>::new($crate::rows::sql::tables::OneRowUpsert::new(
                    diesel::insert_into($table).values(row),
                    $target,
                    diesel::query_builder::AsChangeset::as_changeset($set),
                ))
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

pub(crate) use {delete_ids, insert_row, insert_rows, per_connection, set_list, upsert_chunked};

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

    /// A migrated in-memory database that takes rows alone, without the program,
    /// functions and nodes they belong to, and the log of the statements it caches.
    fn instrumented() -> (diesel::sqlite::SqliteConnection, Arc<Mutex<Vec<String>>>) {
        use diesel::Connection;
        let mut conn = diesel::sqlite::SqliteConnection::establish(":memory:").expect("connection");
        crate::sqlite::run_migrations(&mut conn).expect("migrations");
        conn.batch_execute("PRAGMA foreign_keys = OFF").expect("pragma");
        let seen = Arc::new(Mutex::new(Vec::new()));
        conn.set_instrumentation(Cached(seen.clone()));
        (conn, seen)
    }

    #[test]
    fn fresh_rows_go_through_one_prepared_statement_per_chunk_size_and_come_back_whole() {
        use super::CHUNK;
        use super::edges::{self, EdgeRow};
        use crate::graph::EdgeView;
        use crate::model::{EdgeId, FlowEdge, NodeId, TypeId};
        use crate::store::ProgramId;
        use diesel::prelude::*;

        let (mut conn, seen) = instrumented();
        // Data and control edges, so that every column is written as a value and as NULL.
        let edge = |id: u32| {
            let edge = match id % 3 {
                0 => FlowEdge::Data { source_port: 1, target_port: 2, value_type: TypeId(id % 7) },
                1 => FlowEdge::Control { branch_index: Some(1) },
                _ => FlowEdge::Control { branch_index: None },
            };
            EdgeRow::new(ProgramId(1), &EdgeView { id: EdgeId(id), source: NodeId(id), target: NodeId(id + 1), edge })
        };
        // One chunk of each size and two single rows, twice.
        let count = (CHUNK + 64 + 8 + 2) as u32;
        let first: Vec<EdgeRow> = (0..count).map(edge).collect();
        let second: Vec<EdgeRow> = (count..2 * count).map(edge).collect();
        assert_eq!(edges::insert(&mut conn, &first).expect("insert"), first.len());
        assert_eq!(edges::insert(&mut conn, &second).expect("insert"), second.len());

        let stored: Vec<EdgeRow> = crate::schema::lmlang_flow_edges::table
            .select(EdgeRow::as_select())
            .order(crate::schema::lmlang_flow_edges::edge_id)
            .load(&mut conn)
            .expect("rows");
        assert_eq!(stored, [first, second].concat(), "every row as written, in id order");
        let inserts: Vec<String> =
            seen.lock().expect("log").iter().filter(|sql| sql.starts_with("INSERT")).cloned().collect();
        let rows_of = |sql: &String| sql.matches('(').count() - 1;
        let sizes: Vec<usize> = inserts.iter().map(rows_of).collect();
        assert_eq!(sizes, vec![CHUNK, 64, 8, 1], "{inserts:?}");
    }

    #[test]
    fn a_one_row_upsert_prepares_its_statements_once_and_replaces_the_row() {
        use crate::model::{ComputeNode, ComputeOp, FunctionId, NodeId};
        use crate::store::ProgramId;
        use diesel::prelude::*;
        use diesel::sqlite::SqliteConnection;

        let (mut conn, seen) = instrumented();
        let row = |op: ComputeOp, owner: u32| {
            let node = ComputeNode { op: op.into(), owner: FunctionId(owner) };
            super::nodes::NodeRow::new(ProgramId(1), NodeId(1), &node).expect("row")
        };
        let stored = |conn: &mut SqliteConnection| -> Vec<super::nodes::NodeRow> {
            crate::schema::lmlang_compute_nodes::table
                .select(super::nodes::NodeRow::as_select())
                .load(conn)
                .expect("rows")
        };
        // New, rewritten in place, moved to another owner (the in-place update finds
        // nothing and the upsert moves it), rewritten in place again; the ops set
        // different optional columns (`arg`, `callee_id`, none), which must not change
        // the cached statements' SQL.
        let writes = [
            (ComputeOp::Parameter { index: 3 }, 1),
            (ComputeOp::Call { target: FunctionId(7) }, 1),
            (ComputeOp::Print, 2),
            (ComputeOp::Parameter { index: 5 }, 2),
            (ComputeOp::Return, 2),
        ];
        for (op, owner) in writes {
            let written = super::nodes::upsert(&mut conn, &[row(op.clone(), owner)]).expect("upsert");
            assert_eq!(written, 1);
            assert_eq!(stored(&mut conn), vec![row(op, owner)], "the row as last written, once");
        }
        let prepared: Vec<String> =
            seen.lock().expect("log").iter().filter(|sql| !sql.starts_with("SELECT")).cloned().collect();
        // The in-place update and the upsert, each prepared once for the five writes.
        assert_eq!(prepared.len(), 2, "{prepared:?}");
        assert!(prepared[0].starts_with("UPDATE `lmlang_compute_nodes` SET `op` = ?"), "{}", prepared[0]);
        assert!(prepared[1].contains("ON CONFLICT (`program_id`, `node_id`) DO UPDATE SET"), "{}", prepared[1]);
    }
}
