//! `PgRows`: a PostgreSQL connection as the shared row layer's source and sink.
//!
//! The rows, encodings and queries are the SQLite backend's (`sqlite::tables`, whose
//! `pg` submodules run them on a `PgConnection`), and so is the sink
//! (`sql_row_sink!`); what is PostgreSQL's own is the whole-program read, which loads
//! each table in key order through Diesel's derived row decoding (SQLite's hand-written
//! cell readers are SQLite's), and the bulk insert of a new program, which uses COPY.

use crate::graph::{EdgeEntry, NodeEntry, TypeEntry};
use crate::model::{FunctionDef, ModuleDef};
use crate::rows::sql::tables::{edges, functions, modules, nodes, programs, semantic, types};
use crate::rows::{Header, RowSource, SemanticRows};
use crate::schema::{lmlang_compute_nodes as compute_nodes, lmlang_flow_edges as flow_edges};
use crate::store::{ProgramId, ProgramRef, StorageError, StorageResult};
use diesel::connection::DefaultLoadingMode;
use diesel::pg::PgConnection;
use diesel::prelude::*;

/// Edges handed to a load's sink per batch.
const EDGE_BATCH: usize = 4096;

/// A PostgreSQL connection, inside the caller's transaction, as a [`RowSource`] and a
/// [`RowSink`](crate::rows::RowSink).
pub struct PgRows<'c>(pub &'c mut PgConnection);

crate::rows::sql::sink::sql_row_sink!(PgRows, pg, nodes = insert_nodes, edges = insert_edges);

/// Fewer rows than this go in as multi-row `INSERT`s (a prepared, cached statement);
/// more through binary `COPY`, which measured a little faster for a bulk save
/// (BENCHMARKS.md: both are dominated by the foreign-key triggers).
const COPY_FROM_ROWS: usize = 256;

fn copy_wanted(rows: usize) -> bool {
    rows >= COPY_FROM_ROWS
}

/// Inserts fresh node rows: COPY for a batch of a bulk save, INSERT otherwise.
fn insert_nodes(conn: &mut PgConnection, rows: &[nodes::NodeRow]) -> QueryResult<usize> {
    if copy_wanted(rows.len()) {
        with_generic_key_checks(conn, |c| diesel::copy_from(compute_nodes::table).from_insertable(rows).execute(c))
    } else {
        nodes::pg::insert(conn, rows)
    }
}

/// Inserts fresh edge rows: COPY for a batch of a bulk save, INSERT otherwise.
fn insert_edges(conn: &mut PgConnection, rows: &[edges::EdgeRow]) -> QueryResult<usize> {
    if copy_wanted(rows.len()) {
        with_generic_key_checks(conn, |c| diesel::copy_from(flow_edges::table).from_insertable(rows).execute(c))
    } else {
        edges::pg::insert(conn, rows)
    }
}

/// Runs one COPY with the server's foreign-key checks on a generic plan, then restores
/// the transaction's `plan_cache_mode`.
///
/// Every row a COPY inserts is checked against each table it refers to by a query the
/// server prepares once per session and keeps in its plan cache. On the partitioned
/// layout the tables referred to are partitioned, and the cache's default makes a
/// custom plan for such a query each time: every row's check is planned again. A
/// generic plan is made once, here after the rows a bulk save refers to are in, and
/// prunes to the program's partition as it runs. Every check still runs, in the same
/// statement, so nothing referential is given up; the setting is the transaction's,
/// so a host's transaction gets its own back.
fn with_generic_key_checks(
    conn: &mut PgConnection,
    copy: impl FnOnce(&mut PgConnection) -> QueryResult<usize>,
) -> QueryResult<usize> {
    let before = diesel::select(current_setting("plan_cache_mode")).get_result::<String>(conn)?;
    diesel::select(set_config("plan_cache_mode", "force_generic_plan", true)).execute(conn)?;
    let copied = copy(conn)?;
    diesel::select(set_config("plan_cache_mode", before, true)).execute(conn)?;
    Ok(copied)
}

diesel::define_sql_function! {
    /// The value of a setting of the session.
    fn current_setting(name: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

diesel::define_sql_function! {
    /// Sets a setting of the session (`is_local`: until the transaction ends).
    fn set_config(name: diesel::sql_types::Text, value: diesel::sql_types::Text, is_local: diesel::sql_types::Bool) -> diesel::sql_types::Text;
}

impl RowSource for PgRows<'_> {
    fn header(&mut self, program: ProgramId) -> StorageResult<Header> {
        programs::pg::find(self.0, program.0)?.ok_or(StorageError::ProgramNotFound(ProgramRef::Id(program)))?.header()
    }

    fn modules(&mut self, program: ProgramId) -> StorageResult<Vec<ModuleDef>> {
        modules::pg::load(self.0, program.0)?.into_iter().map(modules::ModuleRow::decode).collect()
    }

    fn types(&mut self, program: ProgramId) -> StorageResult<Vec<TypeEntry>> {
        types::pg::load(self.0, program.0)?.into_iter().map(types::TypeRow::decode).collect()
    }

    fn functions(&mut self, program: ProgramId) -> StorageResult<Vec<FunctionDef>> {
        functions::pg::load(self.0, program.0)?.into_iter().map(functions::FunctionRow::decode).collect()
    }

    fn nodes(&mut self, program: ProgramId) -> StorageResult<Vec<NodeEntry>> {
        // Unordered: the assembly sorts nodes by id, and an `ORDER BY node_id` made the
        // server sort a big program's nodes on disk (`work_mem`), tripling the read.
        compute_nodes::table
            .filter(compute_nodes::program_id.eq(program.0))
            .select(nodes::NodeRow::as_select())
            // Each row decoded as it is read from libpq's result, with no vector of
            // rows between.
            .load_iter::<nodes::NodeRow, DefaultLoadingMode>(self.0)?
            .map(|row| row.map_err(StorageError::from).and_then(nodes::NodeRow::decode))
            .collect()
    }

    fn edges(&mut self, program: ProgramId, sink: &mut dyn FnMut(Vec<EdgeEntry>)) -> StorageResult<()> {
        // Read unordered and sorted here, for the reason `nodes` is: libpq hands over
        // the whole result at once anyway, and sorting decoded entries is cheaper than
        // the server's sort.
        let mut entries = flow_edges::table
            .filter(flow_edges::program_id.eq(program.0))
            .select(edges::EdgeRow::as_select())
            .load_iter::<edges::EdgeRow, DefaultLoadingMode>(self.0)?
            .map(|row| {
                let e = row.map_err(StorageError::from)?.decode()?;
                Ok(EdgeEntry { id: e.id, source: e.source, target: e.target, edge: e.edge })
            })
            .collect::<StorageResult<Vec<_>>>()?;
        entries.sort_unstable_by_key(|e| e.id);
        let mut rest = entries.into_iter().peekable();
        while rest.peek().is_some() {
            sink(rest.by_ref().take(EDGE_BATCH).collect());
        }
        Ok(())
    }

    fn semantic(&mut self, program: ProgramId) -> StorageResult<Option<SemanticRows>> {
        let nodes =
            semantic::pg::load_nodes(self.0, program.0)?.into_iter().map(|r| r.decode()).collect::<Result<_, _>>()?;
        let edges =
            semantic::pg::load_edges(self.0, program.0)?.iter().map(|r| r.decode()).collect::<Result<_, _>>()?;
        Ok(Some((nodes, edges)))
    }
}
