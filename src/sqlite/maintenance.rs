//! Checks and upkeep for tools (`lmstore verify`, `migrate`) and tests: SQLite's own
//! integrity and foreign-key checks, the schema version, WAL checkpoints, and the query
//! plans of the store's indexed queries.

use super::SqliteStore;
use super::error::classify;
use super::migrate;
use super::tables::{edges, functions, history, modules, nodes, types};
use crate::store::StorageResult;
use diesel::connection::SimpleConnection;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::methods::{LimitDsl, SelectDsl};
use diesel::sql_types::{BigInt, Integer, Text};
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel::{QueryResult, QueryableByName, RunQueryDsl, SelectableHelper};
use std::time::{Duration, Instant};

/// What a checkpoint did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The checkpoint could not finish because a reader still uses old pages.
    pub busy: bool,
    /// Frames in the WAL before the checkpoint.
    pub wal_frames: i64,
    /// Frames copied into the database file.
    pub checkpointed_frames: i64,
}

#[derive(QueryableByName)]
struct IntegrityLine {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

#[derive(QueryableByName)]
struct CheckpointRow {
    #[diesel(sql_type = Integer)]
    busy: i32,
    #[diesel(sql_type = Integer)]
    log: i32,
    #[diesel(sql_type = Integer)]
    checkpointed: i32,
}

/// The plan SQLite chose for one of the store's queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPlan {
    /// The store operation the query serves (`find_nodes_by_owner`, `load: flow_edges`...).
    pub operation: &'static str,
    /// The SQL Diesel generates for it.
    pub sql: String,
    /// `EXPLAIN QUERY PLAN` lines, such as `SEARCH compute_nodes USING PRIMARY KEY (...)`.
    pub plan: Vec<String>,
}

/// `EXPLAIN QUERY PLAN` in front of a Diesel query, with its bind parameters kept.
/// Diesel has no way to express it.
struct ExplainQueryPlan<Q>(Q);

impl<Q: QueryFragment<Sqlite>> QueryFragment<Sqlite> for ExplainQueryPlan<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql("EXPLAIN QUERY PLAN ");
        self.0.walk_ast(out.reborrow())
    }
}

impl<Q> QueryId for ExplainQueryPlan<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for ExplainQueryPlan<Q> {
    type SqlType = (Integer, Integer, Integer, Text);
}

impl<Q> RunQueryDsl<SqliteConnection> for ExplainQueryPlan<Q> {}

fn explain<Q>(conn: &mut SqliteConnection, operation: &'static str, query: Q) -> StorageResult<QueryPlan>
where
    Q: QueryFragment<Sqlite> + QueryId,
{
    let sql = diesel::debug_query::<Sqlite, _>(&query).to_string();
    let rows: Vec<(i32, i32, i32, String)> = ExplainQueryPlan(query).load(conn)?;
    Ok(QueryPlan { operation, sql, plan: rows.into_iter().map(|r| r.3).collect() })
}

/// The plans of every query the store runs by key or index, for a sample program and
/// ids (plans do not depend on the values).
pub fn query_plans(conn: &mut SqliteConnection) -> StorageResult<Vec<QueryPlan>> {
    let (p, id) = (1, 0);
    Ok(vec![
        explain(conn, "get_node", nodes::by_id(p, id).select(nodes::NodeRow::as_select()))?,
        explain(conn, "find_nodes_by_owner", nodes::by_owner(p, id).select(nodes::NodeRow::as_select()))?,
        explain(conn, "find_nodes_by_type", nodes::by_type(p, id))?,
        explain(conn, "get_edge", edges::by_id(p, id).select(edges::EdgeRow::as_select()))?,
        explain(conn, "find_edges_from", edges::from(p, id).select(edges::EdgeRow::as_select()))?,
        explain(conn, "find_edges_to", edges::to(p, id).select(edges::EdgeRow::as_select()))?,
        explain(conn, "find_edges_by_type", edges::by_type(p, id).select(edges::EdgeRow::as_select()))?,
        explain(conn, "get_function", functions::by_id(p, id).select(functions::FunctionRow::as_select()))?,
        explain(
            conn,
            "find_functions_in_module",
            functions::in_module(p, id).select(functions::FunctionRow::as_select()),
        )?,
        explain(conn, "get_module", modules::by_id(p, id).select(modules::ModuleRow::as_select()))?,
        explain(conn, "get_type", types::by_id(p, id).select(types::TypeRow::as_select()))?,
        explain(conn, "load: modules", modules::of_program(p).select(modules::ModuleRow::as_select()))?,
        explain(conn, "load: types", types::of_program(p).select(types::TypeRow::as_select()))?,
        explain(conn, "load: functions", functions::of_program(p).select(functions::FunctionRow::as_select()))?,
        explain(conn, "load: compute_nodes", nodes::cells_of_program(p))?,
        explain(conn, "load: flow_edges", edges::cells_of_program(p))?,
        explain(conn, "history: record", history::by_revision(p, id).select(history::EntryRow::as_select()))?,
        explain(conn, "history: page", history::below(p, id).limit(1).select(history::EntryRow::as_select()))?,
        explain(conn, "history: tags below (prune)", history::tags_below(p, id))?,
        explain(conn, "history: tags", history::tags_of(p))?,
    ])
}

/// `PRAGMA integrity_check`: empty when the file is sound, else SQLite's findings.
pub fn integrity_check(conn: &mut SqliteConnection) -> StorageResult<Vec<String>> {
    // A pragma: Diesel cannot express it.
    let lines: Vec<IntegrityLine> = diesel::sql_query("PRAGMA integrity_check").load(conn).map_err(classify)?;
    Ok(lines.into_iter().map(|l| l.integrity_check).filter(|l| l != "ok").collect())
}

/// `PRAGMA wal_checkpoint(TRUNCATE)`: copies the WAL into the database and empties it.
pub fn checkpoint(conn: &mut SqliteConnection) -> StorageResult<Checkpoint> {
    checkpoint_mode(conn, "TRUNCATE")
}

/// `PRAGMA wal_checkpoint(mode)` for one of SQLite's modes (`PASSIVE`, `TRUNCATE`...).
pub(super) fn checkpoint_mode(conn: &mut SqliteConnection, mode: &'static str) -> StorageResult<Checkpoint> {
    // A pragma: Diesel cannot express it.
    let rows: Vec<CheckpointRow> =
        diesel::sql_query(format!("PRAGMA wal_checkpoint({mode})")).load(conn).map_err(classify)?;
    let row = rows.first().map_or((0, 0, 0), |r| (r.busy, r.log, r.checkpointed));
    Ok(Checkpoint { busy: row.0 != 0, wal_frames: row.1.into(), checkpointed_frames: row.2.into() })
}

#[derive(QueryableByName)]
struct PageCount {
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

/// Bytes the database file holds in pages (page count times page size), WAL excluded.
pub fn database_bytes(conn: &mut SqliteConnection) -> StorageResult<i64> {
    // Pragma functions: Diesel cannot express them.
    let rows: Vec<PageCount> =
        diesel::sql_query("SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()")
            .load(conn)
            .map_err(classify)?;
    Ok(rows.first().map_or(0, |r| r.bytes))
}

impl SqliteStore {
    /// SQLite's `PRAGMA integrity_check` on the whole file: empty when it is sound.
    pub fn integrity_check(&self) -> StorageResult<Vec<String>> {
        self.backend().with_reader(integrity_check)
    }

    /// `PRAGMA foreign_key_check`: every row whose reference points at nothing.
    pub fn foreign_key_check(&self) -> StorageResult<Vec<String>> {
        self.backend().with_reader(migrate::foreign_key_problems)
    }

    /// The schema version of the file (its newest applied migration).
    pub fn schema_version(&self) -> StorageResult<i64> {
        // On the writer, which an edit closure of this store holds: refused there.
        self.may_write()?;
        self.backend().with_writer(migrate::schema_version)
    }

    /// Copies the WAL into the database file and truncates it. The store checkpoints
    /// on its own; this is for tools that want a single, compact file now. SQLite runs
    /// one checkpoint at a time and answers any other at once with `busy`, so while
    /// the store's checkpoint thread (or another process) is copying pages, this
    /// waits for it, within `busy_timeout`; `busy` in the answer means a reader or
    /// another checkpoint still held the WAL after that.
    pub fn checkpoint(&self) -> StorageResult<Checkpoint> {
        self.may_write()?;
        let deadline = Instant::now() + self.backend().connections().config().busy_timeout;
        self.backend().with_writer(|conn| {
            loop {
                let done = checkpoint(conn)?;
                if !done.busy || Instant::now() >= deadline {
                    return Ok(done);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    }

    /// Rewrites the whole file compactly (`VACUUM`): pages filled as SQLite fills them
    /// when it builds an index from scratch, free pages returned. It copies every
    /// program, so it is maintenance for tools, never part of a save.
    pub fn vacuum(&self) -> StorageResult<()> {
        self.may_write()?;
        let wait = self.backend().connections().config().busy_timeout;
        self.backend().with_writer(|conn| {
            // VACUUM is a statement Diesel's builder does not have. The writer's busy
            // handler waits one slice at a time (`ConnectionSetup::store_writer`); a
            // VACUUM refused for the lock has done nothing and is run again.
            super::connection::retried_while_busy(wait, || conn.batch_execute("VACUUM").map_err(classify))?;
            checkpoint(conn).map(drop)
        })
    }

    /// Bytes of the database file in use by pages (after a checkpoint, the file size).
    pub fn database_bytes(&self) -> StorageResult<i64> {
        self.backend().with_reader(database_bytes)
    }

    /// The plan SQLite uses for each of the store's keyed and indexed queries.
    pub fn query_plans(&self) -> StorageResult<Vec<QueryPlan>> {
        self.backend().with_reader(query_plans)
    }
}
