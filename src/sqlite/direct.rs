//! Saves and loads on a caller's own connection, for host services that keep lmlang
//! programs beside their own tables and want both in one transaction.
//!
//! Each function joins the caller's transaction if one is open (as a savepoint, so a
//! failure undoes only its own work) and opens its own otherwise (`BEGIN IMMEDIATE`
//! for writes, a read transaction for loads). They apply the same checks and write the
//! same rows as [`SqliteStore`](super::SqliteStore); a store open on the same file
//! notices the new revision and reloads.
//!
//! ```no_run
//! use diesel::prelude::*;
//! use lmlang_storage::graph::ProgramGraph;
//! use lmlang_storage::sqlite;
//!
//! let mut conn = SqliteConnection::establish("host.db")?;
//! sqlite::run_migrations(&mut conn)?;
//! conn.immediate_transaction(|conn| {
//!     // ... the service's own writes ...
//!     let id = sqlite::insert_program(conn, "app", &ProgramGraph::new("app"))?;
//!     let loaded = sqlite::load_program(conn, id)?;
//!     assert_eq!(loaded, ProgramGraph::new("app"));
//!     Ok::<_, lmlang_storage::store::StorageError>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::backend::SqliteTx;
use super::connection::{new_program_transaction, read_transaction, write_transaction};
use super::mapper;
use super::migrate;
use super::tables::programs;
use crate::graph::ProgramGraph;
use crate::store::{ProgramId, SaveReport, StorageError, StorageResult, WriteTx};
use diesel::sqlite::SqliteConnection;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn check_graph(graph: &ProgramGraph) -> StorageResult<()> {
    if graph.is_trusted() {
        return Ok(());
    }
    let violations = graph.validate();
    if violations.is_empty() { Ok(()) } else { Err(StorageError::Invalid { violations }) }
}

/// Applies pending migrations (refusing a newer database), as opening a store does.
/// Returns the versions applied. Run it outside any transaction: it switches foreign
/// keys off around the migrations, which SQLite ignores inside one.
pub fn run_migrations(conn: &mut SqliteConnection) -> StorageResult<Vec<String>> {
    migrate::migrate(conn)
}

/// The schema version of the database (its newest applied migration).
pub fn schema_version(conn: &mut SqliteConnection) -> StorageResult<i64> {
    migrate::schema_version(conn)
}

/// Loads a whole program from one snapshot.
pub fn load_program(conn: &mut SqliteConnection, program: ProgramId) -> StorageResult<ProgramGraph> {
    read_transaction(conn, |c| mapper::read_graph(c, program, false).map(|(g, _)| g))
}

/// The id of the program with this name.
pub fn find_program(conn: &mut SqliteConnection, name: &str) -> StorageResult<Option<ProgramId>> {
    Ok(programs::id_by_name(conn, name)?.map(ProgramId))
}

/// Stores a graph as a new program.
pub fn insert_program(conn: &mut SqliteConnection, name: &str, graph: &ProgramGraph) -> StorageResult<ProgramId> {
    if name.is_empty() {
        return Err(StorageError::InvalidProgramName(name.to_string()));
    }
    check_graph(graph)?;
    // The graph was just checked whole, so its rows need no foreign-key checks.
    new_program_transaction(conn, |c| {
        let mut tx = SqliteTx::new(c);
        let program = tx.insert_program(name, now())?;
        tx.write_all(program, graph)?;
        tx.finish(program, graph, now())?;
        Ok(program)
    })
}

/// Makes a stored program equal to `graph`, writing only the rows that differ.
pub fn save_program(
    conn: &mut SqliteConnection,
    program: ProgramId,
    graph: &ProgramGraph,
) -> StorageResult<SaveReport> {
    check_graph(graph)?;
    write_transaction(conn, |c| {
        let mut tx = SqliteTx::new(c);
        let changes = tx.load(program)?.differences(graph);
        if changes.is_empty() {
            return Ok(SaveReport::default());
        }
        let report = tx.write_changes(program, graph, &changes)?;
        tx.finish(program, graph, now())?;
        Ok(report)
    })
}

/// Deletes a program and everything it owns.
pub fn delete_program(conn: &mut SqliteConnection, program: ProgramId) -> StorageResult<()> {
    write_transaction(conn, |c| SqliteTx::new(c).delete_program(program))
}
