//! A host service's own migrations beside this crate's, in one database and one
//! `__diesel_schema_migrations` table: neither set stops the other, only this crate's
//! versions count as its schema version, and a database migrated by a newer
//! lmlang-storage is still refused untouched.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::sqlite::{self, MIGRATIONS, SqliteStore};
use lmlang_storage::store::{GraphStore, StorageError};
use std::path::Path;

/// A service's migrations: one older and one newer than every migration of this crate.
const HOST_MIGRATIONS: EmbeddedMigrations = embed_migrations!("tests/fixtures/host_migrations");

fn connect(path: &Path) -> SqliteConnection {
    SqliteConnection::establish(path.to_str().expect("UTF-8 path")).expect("connection")
}

fn our_newest() -> i64 {
    let dir = tempfile::tempdir().expect("temp dir");
    SqliteStore::open(dir.path().join("fresh.db")).expect("store").schema_version().expect("version")
}

fn assert_store_works(path: &Path) {
    let store = SqliteStore::open(path).expect("the store opens a database holding a host's migrations");
    assert_eq!(store.schema_version().expect("version"), our_newest(), "only our versions count");
    let id = store.insert_program("app", &ProgramGraph::new("app")).expect("insert");
    assert_eq!(store.load_program(id).expect("load"), ProgramGraph::new("app"));
}

#[test]
fn host_migrations_run_first_then_the_store_opens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("host.db");
    let mut conn = connect(&db);
    conn.run_pending_migrations(HOST_MIGRATIONS).expect("host migrations");
    drop(conn);
    assert_store_works(&db);
}

#[test]
fn both_sets_through_diesel_migrations_then_run_migrations_and_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("host.db");
    let mut conn = connect(&db);
    // The service runs both sets itself, ours through the plain harness.
    conn.run_pending_migrations(MIGRATIONS).expect("our migrations");
    conn.run_pending_migrations(HOST_MIGRATIONS).expect("host migrations");
    // Our own entry point agrees that nothing is pending and nothing is too new.
    assert_eq!(sqlite::run_migrations(&mut conn).expect("run_migrations"), Vec::<String>::new());
    assert_eq!(sqlite::schema_version(&mut conn).expect("version"), our_newest());
    conn.batch_execute("INSERT INTO users (id, name) VALUES (1, 'ada')").expect("host table");
    drop(conn);
    assert_store_works(&db);
}

#[test]
fn run_migrations_after_a_newer_host_migration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("host.db");
    let mut conn = connect(&db);
    conn.run_pending_migrations(HOST_MIGRATIONS).expect("host migrations");
    let applied = sqlite::run_migrations(&mut conn).expect("ours run after the host's newest");
    assert!(!applied.is_empty());
    // The host's tables and version rows are untouched.
    assert!(conn.applied_migrations().expect("applied").iter().any(|v| v.to_string().starts_with("2099")));
    drop(conn);
    assert_store_works(&db);
}

#[test]
fn a_newer_lmlang_schema_is_still_refused_beside_host_migrations() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("host.db");
    let mut conn = connect(&db);
    conn.run_pending_migrations(HOST_MIGRATIONS).expect("host migrations");
    sqlite::run_migrations(&mut conn).expect("ours");
    // What a newer lmlang-storage's migration records.
    conn.batch_execute(
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('209912312359590000'); \
         INSERT INTO lmlang_schema_versions (version) VALUES ('209912312359590000');",
    )
    .expect("a newer migration");
    drop(conn);
    let before = std::fs::read(&db).expect("file");
    match SqliteStore::open(&db) {
        Err(StorageError::SchemaTooNew { found, supported }) => {
            assert_eq!(found, 209912312359590000);
            assert_eq!(supported, our_newest());
        }
        Err(other) => panic!("expected SchemaTooNew, got {other}"),
        Ok(_) => panic!("a database of a newer lmlang-storage was opened"),
    }
    let mut conn = connect(&db);
    assert!(matches!(sqlite::run_migrations(&mut conn), Err(StorageError::SchemaTooNew { .. })));
    drop(conn);
    assert_eq!(std::fs::read(&db).expect("file"), before, "the refused file was modified");
}
