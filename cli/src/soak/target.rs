//! Where a soak runs: a SQLite file, or (feature `postgres`) a scratch schema on a
//! PostgreSQL server, made for the run and dropped after it, so a soak never touches
//! the programs already on the server.
//!
//! The soaks name their database by one string, passed on to child processes as
//! `--db`: a file path, or a `postgres://` URL whose `options` set the `search_path` to
//! the scratch schema. Shared by `lmstore soak` and the reliability tests.

use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::GraphStore;
use std::path::Path;

pub use lmlang_storage::redact;

/// An opened soak database.
pub enum Opened {
    /// A SQLite file.
    Sqlite(Box<SqliteStore>),
    /// A PostgreSQL schema.
    #[cfg(feature = "postgres")]
    Postgres(Box<lmlang_storage::postgres::PgStore>),
}

/// Whether `db` names a PostgreSQL server rather than a file.
pub fn is_server(db: &Path) -> bool {
    db.to_str().is_some_and(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
}

impl Opened {
    /// Opens (creating or migrating) the database `db` names.
    pub fn open(db: &Path) -> Result<Opened, String> {
        if is_server(db) {
            return open_server(&db.to_string_lossy());
        }
        SqliteStore::open(db).map(|s| Opened::Sqlite(Box::new(s))).map_err(|e| e.to_string())
    }

    /// The store, whichever backend holds it.
    pub fn store(&self) -> &dyn GraphStore {
        match self {
            Opened::Sqlite(s) => &**s,
            #[cfg(feature = "postgres")]
            Opened::Postgres(s) => &**s,
        }
    }

    /// The checks a file needs beyond loading every program: SQLite's
    /// `integrity_check` and `foreign_key_check`. A server checks its own pages and
    /// enforces every key, so there is nothing to add there.
    pub fn storage_checks(&self) -> Result<(), String> {
        match self {
            Opened::Sqlite(store) => {
                let problems = store.integrity_check().map_err(|e| format!("integrity_check: {e}"))?;
                if !problems.is_empty() {
                    return Err(format!("integrity_check: {problems:?}"));
                }
                let dangling = store.foreign_key_check().map_err(|e| format!("foreign_key_check: {e}"))?;
                if !dangling.is_empty() {
                    return Err(format!("foreign_key_check: {dangling:?}"));
                }
                Ok(())
            }
            #[cfg(feature = "postgres")]
            Opened::Postgres(_) => Ok(()),
        }
    }
}

/// Waits until the server has finished every session of a killed child. A client
/// killed after sending `COMMIT` leaves the server committing on its own, and until it
/// has, a reader's snapshot can predate a commit that will still become visible; so a
/// check right after the kill could take a step that is about to commit as rolled back.
/// A file has no such sessions.
pub fn settle(db: &Path) -> Result<(), String> {
    if is_server(db) { settle_server(&db.to_string_lossy()) } else { Ok(()) }
}

#[cfg(feature = "postgres")]
fn settle_server(url: &str) -> Result<(), String> {
    use diesel::{Connection, RunQueryDsl};
    let mut conn = diesel::PgConnection::establish(url).map_err(|e| format!("{}: {e}", redact::redacted(url)))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let others: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM pg_stat_activity WHERE application_name = current_setting('application_name') \
             AND application_name <> '' AND pid <> pg_backend_pid())",
        ))
        .get_result(&mut conn)
        .map_err(|e| format!("pg_stat_activity: {e}"))?;
        if others == 0 {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("{others} session(s) of a killed child still open on the server after 30 s"));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[cfg(not(feature = "postgres"))]
fn settle_server(_url: &str) -> Result<(), String> {
    Ok(())
}

#[cfg(feature = "postgres")]
fn open_server(url: &str) -> Result<Opened, String> {
    lmlang_storage::postgres::PgStore::connect(url)
        .map(|s| Opened::Postgres(Box::new(s)))
        .map_err(|e| format!("{}: {e}", redact::redacted(url)))
}

#[cfg(not(feature = "postgres"))]
fn open_server(url: &str) -> Result<Opened, String> {
    Err(format!(
        "{}: this lmstore was built without PostgreSQL support (build with --features postgres)",
        redact::redacted(url)
    ))
}

/// A schema of its own on a PostgreSQL server for one soak run, dropped (with all it
/// holds) on drop.
#[cfg(feature = "postgres")]
pub struct Scratch {
    server: String,
    name: String,
    /// The URL of the server with the scratch schema as its `search_path`.
    pub url: String,
}

#[cfg(feature = "postgres")]
impl Scratch {
    /// Makes a fresh schema on the server at `server_url`.
    pub fn new(server_url: &str) -> Result<Scratch, String> {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!("lmstore_soak_{}_{unique}", std::process::id());
        let mut admin = diesel::PgConnection::establish(server_url)
            .map_err(|e| format!("{}: {e}", redact::redacted(server_url)))?;
        admin.batch_execute(&format!("CREATE SCHEMA {name}")).map_err(|e| format!("creating schema {name}: {e}"))?;
        let separator = if server_url.contains('?') { '&' } else { '?' };
        // The schema's name is also the sessions' application_name, so `settle` can tell
        // a killed child's sessions from everyone else's on a shared server.
        let url = format!("{server_url}{separator}options=-csearch_path%3D{name}&application_name={name}");
        Ok(Scratch { server: server_url.to_string(), name, url })
    }
}

#[cfg(feature = "postgres")]
impl Drop for Scratch {
    fn drop(&mut self) {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        // Best effort: a schema left behind holds only soak programs, named as such.
        if let Ok(mut admin) = diesel::PgConnection::establish(&self.server) {
            let _ = admin.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
        }
    }
}

/// For the reliability tests: a scratch schema on the test server
/// (`LMLANG_TEST_PG_URL`), or `None` after one skip line; a failure instead when
/// `LMLANG_PG_REQUIRED=1`.
#[cfg(all(test, feature = "postgres"))]
#[allow(dead_code)]
pub fn test_scratch() -> Option<Scratch> {
    let required = std::env::var("LMLANG_PG_REQUIRED").is_ok_and(|v| v == "1");
    let scratch = std::env::var("LMLANG_TEST_PG_URL").map_err(|e| e.to_string()).and_then(|u| Scratch::new(&u));
    match scratch {
        Ok(scratch) => Some(scratch),
        Err(why) => {
            assert!(!required, "LMLANG_PG_REQUIRED=1 but no PostgreSQL test server: {why}");
            eprintln!("skipped: PostgreSQL soak test ({why})");
            None
        }
    }
}
