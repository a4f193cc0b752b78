//! Whole-program saves and loads on a caller's own connection, for host services that
//! keep lmlang programs beside their own tables and want both in one transaction.
//!
//! Each function is a one-call [`ConnectionStore`](super::ConnectionStore): it joins the
//! caller's transaction if one is open (as a savepoint, so a failure undoes only its
//! own work) and opens its own otherwise, with exactly the checks, rows and errors of
//! [`SqliteStore`](super::SqliteStore). For more than one call, or for the rest of the
//! `GraphStore` API (CRUD, `edit`, queries), build a `ConnectionStore` once.
//!
//! ```no_run
//! use diesel::prelude::*;
//! use lmlang_storage::graph::ProgramGraph;
//! use lmlang_storage::sqlite::{self, ConnectionStore};
//! use lmlang_storage::store::GraphStore;
//!
//! let mut conn = SqliteConnection::establish("host.db")?;
//! sqlite::run_migrations(&mut conn)?;
//! conn.immediate_transaction(|conn| {
//!     // ... the service's own writes ...
//!     let store = ConnectionStore::on_connection(conn);
//!     let id = store.insert_program("app", &ProgramGraph::new("app"))?;
//!     assert_eq!(store.load_program(id)?, ProgramGraph::new("app"));
//!     Ok::<_, lmlang_storage::store::StorageError>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::ConnectionStore;
use super::migrate;
use crate::graph::ProgramGraph;
use crate::store::{GraphStore, ProgramId, SaveReport, StorageResult};
use diesel::connection::SimpleConnection;
use diesel::sqlite::SqliteConnection;

/// Applies pending migrations (refusing a newer database), as opening a store does.
/// Returns the versions applied. Run it outside any transaction: it switches foreign
/// keys off around the migrations, which SQLite ignores inside one.
///
/// It also puts the database file in WAL mode (a setting stored in the file), as
/// [`SqliteStore::open`](super::SqliteStore::open) does: the store's guarantees assume
/// it (readers never wait for the writer; `synchronous = NORMAL`, which
/// [`SqliteCustomizer`](super::SqliteCustomizer) sets, is safe against power loss
/// only in WAL mode). An in-memory database keeps its own mode.
pub fn run_migrations(conn: &mut SqliteConnection) -> StorageResult<Vec<String>> {
    // A connection made by `establish` alone never waits for a lock: services starting
    // together on a new file would fail with `Busy` where they should queue for the
    // write lock. Such a connection waits as the store's own do for this run.
    let own = super::connection::busy_timeout_ms(conn);
    let never_waits = own == 0;
    let wait = if never_waits {
        let wait = super::config::SqliteConfig::default().busy_timeout;
        conn.batch_execute(&format!("PRAGMA busy_timeout = {}", wait.as_millis().min(i32::MAX as u128)))
            .map_err(super::error::classify)?;
        wait
    } else {
        std::time::Duration::from_millis(own.unsigned_abs())
    };
    // The switch to WAL does not wait for another process's lock (the migrations are
    // one transaction, so a failed try wrote nothing).
    let done = super::connection::retried_while_busy(wait, || {
        migrate::migrate(conn).and_then(|applied| super::connection::switch_to_wal(conn).map(|()| applied))
    });
    if never_waits {
        // Put back as the host set it; a failure here changes nothing it relies on.
        let _ = conn.batch_execute("PRAGMA busy_timeout = 0");
    }
    done
}

/// The schema version of the database (this crate's newest applied migration).
pub fn schema_version(conn: &mut SqliteConnection) -> StorageResult<i64> {
    migrate::schema_version(conn)
}

/// Loads a whole program from one snapshot.
pub fn load_program(conn: &mut SqliteConnection, program: ProgramId) -> StorageResult<ProgramGraph> {
    ConnectionStore::on_connection(conn).load_program(program)
}

/// The id of the program with this name; `ProgramNotFound` if there is none.
pub fn find_program(conn: &mut SqliteConnection, name: &str) -> StorageResult<ProgramId> {
    ConnectionStore::on_connection(conn).find_program(name)
}

/// Stores a graph as a new program.
pub fn insert_program(conn: &mut SqliteConnection, name: &str, graph: &ProgramGraph) -> StorageResult<ProgramId> {
    ConnectionStore::on_connection(conn).insert_program(name, graph)
}

/// Makes a stored program equal to `graph`, writing only the rows that differ (and
/// the next ids, which never go down).
pub fn save_program(
    conn: &mut SqliteConnection,
    program: ProgramId,
    graph: &ProgramGraph,
) -> StorageResult<SaveReport> {
    ConnectionStore::on_connection(conn).save_program(program, graph)
}

/// Deletes a program and everything it owns.
pub fn delete_program(conn: &mut SqliteConnection, program: ProgramId) -> StorageResult<()> {
    ConnectionStore::on_connection(conn).delete_program(program)
}
