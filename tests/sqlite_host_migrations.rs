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

/// The service's own connection, with a busy timeout as a service sets one: the
/// store's checkpoint thread may briefly hold the WAL while it empties it, and a
/// connection without one gets "database is locked" (a CI run failed so).
fn connect(path: &Path) -> SqliteConnection {
    use diesel::connection::SimpleConnection;
    let mut conn = SqliteConnection::establish(path.to_str().expect("UTF-8 path")).expect("connection");
    conn.batch_execute("PRAGMA busy_timeout = 5000").expect("busy timeout");
    conn
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
    // The service's own `programs` (a name our first schema once used) is untouched.
    assert_eq!(service_programs(&db), vec!["the service's own".to_string()]);
}

#[derive(QueryableByName)]
struct Title {
    #[diesel(sql_type = diesel::sql_types::Text)]
    title: String,
}

fn service_programs(db: &Path) -> Vec<String> {
    diesel::sql_query("SELECT title FROM programs ORDER BY id")
        .load::<Title>(&mut connect(db))
        .expect("the service's table")
        .into_iter()
        .map(|t| t.title)
        .collect()
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

/// The programs of a database written by the schema before program names moved to
/// their own table, by name with their node counts.
fn programs_of(path: &Path) -> Vec<(String, usize)> {
    let store = SqliteStore::open(path).expect("open");
    let mut all: Vec<(String, usize)> =
        store.list_programs().expect("list").into_iter().map(|p| (p.name, p.nodes as usize)).collect();
    all.sort();
    all
}

/// The names migration rebuilds `lmlang_programs`; with foreign keys enforced that
/// would cascade into every program's rows. It turns them off itself, which SQLite
/// allows only outside a transaction: Diesel's plain harness on a connection with them
/// on (as the diesel CLI's) migrates without loss and leaves them on; inside a
/// transaction of the host's, where they stay on, it is refused and nothing changes.
#[test]
fn the_names_migration_never_cascades_into_the_programs() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema/v202612031400000000.db");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("old.db");
    std::fs::copy(&fixture, &db).expect("copy of the fixture");
    let before = {
        let reference = dir.path().join("reference.db");
        std::fs::copy(&fixture, &reference).expect("second copy");
        programs_of(&reference)
    };
    assert!(before.len() >= 2, "{before:?}");

    let mut conn = connect(&db);
    conn.batch_execute("PRAGMA foreign_keys = ON").expect("pragma");
    let refused = conn
        .immediate_transaction::<_, Box<dyn std::error::Error + Send + Sync>, _>(|c| {
            c.run_pending_migrations(MIGRATIONS)?;
            Ok(())
        })
        .expect_err("refused inside a transaction with foreign keys on");
    assert!(refused.to_string().contains("run_with_foreign_keys_off"), "{refused}");
    let nodes: i64 =
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT count(*) FROM lmlang_compute_nodes)"))
            .get_result(&mut conn)
            .expect("count");
    assert!(nodes > 0, "the program rows are still there");

    conn.run_pending_migrations(MIGRATIONS).expect("the plain harness outside a transaction");
    assert_eq!(sqlite::schema_version(&mut conn).expect("version"), our_newest());
    let enforced: i32 = diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>(
        "(SELECT foreign_keys FROM pragma_foreign_keys)",
    ))
    .get_result(&mut conn)
    .expect("pragma");
    assert_eq!(enforced, 1, "the connection's foreign keys are on again");
    drop(conn);
    assert_eq!(programs_of(&db), before);
}

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

fn tables(path: &Path) -> Vec<String> {
    let mut conn = connect(path);
    let rows: Vec<TableName> = diesel::sql_query("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .load(&mut conn)
        .expect("tables");
    rows.into_iter().map(|t| t.name).collect()
}

#[test]
fn a_migration_that_fails_leaves_the_database_as_it_was() {
    // Another application's file that happens to hold a table of one of our names:
    // our first migration fails on it. Diesel's own table used to be created before
    // the migrations' transaction, so it stayed behind.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("theirs.db");
    connect(&path)
        .batch_execute("CREATE TABLE users (id INTEGER PRIMARY KEY); CREATE TABLE lmlang_programs (x);")
        .expect("their schema");
    let before = tables(&path);
    let refused = SqliteStore::open(&path);
    assert!(matches!(refused, Err(StorageError::Migration(_))), "{:?}", refused.err());
    assert_eq!(tables(&path), before);
}

#[test]
fn run_migrations_keeps_the_hosts_foreign_key_setting_and_refuses_a_transaction() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("host.db");
    let mut conn = connect(&path);
    // Inside the host's transaction: refused with the reason, nothing applied.
    let inside = conn.transaction(sqlite::run_migrations);
    match inside {
        Err(StorageError::Migration(m)) => assert!(m.contains("outside any"), "{m}"),
        other => panic!("expected a Migration error, got {other:?}"),
    }
    assert_eq!(sqlite::schema_version(&mut conn).expect("version"), 0);
    // A host that keeps foreign keys off gets its connection back with them off.
    conn.batch_execute("PRAGMA foreign_keys = OFF").expect("pragma");
    assert!(!sqlite::run_migrations(&mut conn).expect("migrations").is_empty());
    let on: i64 =
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT foreign_keys FROM pragma_foreign_keys)"))
            .get_result(&mut conn)
            .expect("pragma");
    assert_eq!(on, 0);
    assert_store_works(&path);
}

#[derive(QueryableByName)]
struct Mode {
    #[diesel(sql_type = diesel::sql_types::Text)]
    journal_mode: String,
}

/// A service that migrates its own database gets WAL mode as a store's file does: the
/// pooled settings (`synchronous = NORMAL`) and "readers never wait for the writer"
/// assume it.
#[test]
fn run_migrations_puts_the_hosts_file_in_wal_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("host.db");
    let mut conn = connect(&db);
    sqlite::run_migrations(&mut conn).expect("migrations");
    drop(conn);
    let modes: Vec<Mode> = diesel::sql_query("PRAGMA journal_mode").load(&mut connect(&db)).expect("mode");
    assert_eq!(modes[0].journal_mode, "wal");
    // In memory there is no WAL; the migrations still run.
    let mut memory = SqliteConnection::establish(":memory:").expect("connection");
    assert!(!sqlite::run_migrations(&mut memory).expect("migrations").is_empty());
}

fn count(conn: &mut SqliteConnection, query: &str) -> i64 {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!("({query})")))
        .get_result(conn)
        .unwrap_or_else(|e| panic!("{query}: {e}"))
}

/// A service's view on `lmlang_programs`, made before the store's tables exist (SQLite
/// allows that, and migrations run in either order), survives the store's migrations,
/// through `run_migrations` and through Diesel's plain harness (as the diesel CLI runs
/// them), and reads the programs stored after. The names migration rebuilds the table,
/// and its rename used to fail on the view, so the store could never be opened.
#[test]
fn a_services_view_on_the_programs_made_first_survives_the_migrations() {
    for plain_harness in [false, true] {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("view.db");
        let mut conn = connect(&db);
        conn.batch_execute(
            "CREATE VIEW service_revisions AS SELECT p.id AS program, p.revision AS revision FROM lmlang_programs p",
        )
        .expect("the service's view");
        if plain_harness {
            conn.run_pending_migrations(MIGRATIONS).expect("Diesel's harness migrates beside the view");
        } else {
            sqlite::run_migrations(&mut conn).expect("run_migrations migrates beside the view");
        }
        let store = SqliteStore::open(&db).expect("the store opens");
        store.insert_program("app", &ProgramGraph::new("app")).expect("insert");
        store.insert_program("lib", &ProgramGraph::new("lib")).expect("insert");
        assert_eq!(count(&mut conn, "SELECT count(*) FROM service_revisions"), 2, "plain harness: {plain_harness}");
    }
}

/// Upgrading a store of the schema before program names moved out of
/// `lmlang_programs` rebuilds that table, and `DROP TABLE` takes its triggers and
/// indexes along. A service's own are made again on the new table by `run_migrations`
/// (the trigger still fires); Diesel's plain harness, which cannot, refuses the step
/// and changes nothing, instead of dropping them without a word.
#[test]
fn upgrading_keeps_a_services_trigger_and_index_on_the_programs() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema/v202612031400000000.db");
    let service = "CREATE TABLE audit (note TEXT NOT NULL, program_id BIGINT NOT NULL);
        CREATE TRIGGER audit_program_delete AFTER DELETE ON lmlang_programs
        BEGIN INSERT INTO audit (note, program_id) VALUES ('deleted', OLD.id); END;
        CREATE INDEX service_programs_by_update ON lmlang_programs (updated_at);";
    let objects =
        "SELECT count(*) FROM sqlite_schema WHERE name IN ('audit_program_delete', 'service_programs_by_update')";
    let dir = tempfile::tempdir().expect("temp dir");

    let refused = dir.path().join("refused.db");
    std::fs::copy(&fixture, &refused).expect("copy of the fixture");
    let mut conn = connect(&refused);
    conn.batch_execute(service).expect("the service's objects");
    let before = {
        // `programs_of` opens a store, which migrates: on a copy.
        let reference = dir.path().join("reference.db");
        std::fs::copy(&fixture, &reference).expect("second copy");
        programs_of(&reference)
    };
    let err = conn.run_pending_migrations(MIGRATIONS).expect_err("the plain harness cannot keep them");
    assert!(err.to_string().contains("drop_the_triggers_and_indexes_on_lmlang_programs_first"), "{err}");
    drop(conn);
    let mut conn = connect(&refused);
    assert_eq!(count(&mut conn, objects), 2, "nothing dropped");
    assert_eq!(count(&mut conn, "SELECT count(*) FROM pragma_table_info('lmlang_programs') WHERE name = 'name'"), 1);
    assert!(count(&mut conn, "SELECT count(*) FROM lmlang_compute_nodes") > 0, "no row cascaded away");
    drop(conn);
    assert_eq!(programs_of(&refused), before, "and the store's own upgrade then keeps the programs");

    let kept = dir.path().join("kept.db");
    std::fs::copy(&fixture, &kept).expect("copy of the fixture");
    let mut conn = connect(&kept);
    conn.batch_execute(service).expect("the service's objects");
    sqlite::run_migrations(&mut conn).expect("run_migrations sets them aside and makes them again");
    assert_eq!(count(&mut conn, objects), 2, "both made again");
    assert_eq!(sqlite::schema_version(&mut conn).expect("version"), our_newest());
    let store = SqliteStore::open(&kept).expect("open");
    let victim = store.list_programs().expect("list")[0].id;
    store.delete_program(victim).expect("delete");
    assert_eq!(count(&mut conn, "SELECT count(*) FROM audit"), 1, "the service's trigger still fires");
}

/// The SQL of a service's object that the upgrade makes again comes from the file,
/// which may hold any text there: only the one CREATE statement it must be is run, so
/// a hostile file cannot end the migration's transaction or write another file.
#[test]
fn an_upgrade_runs_a_stored_objects_create_statement_and_nothing_after_it() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema/v202612031400000000.db");
    let dir = tempfile::tempdir().expect("temp dir");
    let attached = dir.path().join("attached.db");
    let forge = |name: &str, sql: &str| {
        let db = dir.path().join(name);
        std::fs::copy(&fixture, &db).expect("copy of the fixture");
        let file = rusqlite::Connection::open(&db).expect("open");
        file.execute_batch("CREATE INDEX svc_idx ON lmlang_programs (updated_at); PRAGMA writable_schema = ON;")
            .expect("index");
        file.execute("UPDATE sqlite_schema SET sql = ?1 WHERE name = 'svc_idx'", [sql]).expect("forged");
        db
    };
    let trailing = format!(
        "CREATE INDEX svc_idx ON lmlang_programs (updated_at); COMMIT; ATTACH '{}' AS other; \
         CREATE TABLE other.written (x); DETACH other; BEGIN",
        attached.display()
    );
    let db = forge("trailing.db", &trailing);
    let store = SqliteStore::open(&db).expect("the upgrade runs the CREATE alone");
    drop(store);
    assert!(!attached.exists(), "no statement after the CREATE ran");
    let mut conn = connect(&db);
    assert_eq!(count(&mut conn, "SELECT count(*) FROM sqlite_schema WHERE name = 'svc_idx'"), 1);

    let db = forge("other.db", &format!("ATTACH '{}' AS other", attached.display()));
    let before = std::fs::read(&db).expect("bytes");
    // SQLite itself refuses such a schema when it reads it (or the upgrade would).
    let err = SqliteStore::open(&db).err().expect("refused");
    assert!(matches!(err, StorageError::Migration(_) | StorageError::Corrupt { .. }), "{err:?}");
    assert!(!attached.exists(), "the text was never run");
    assert_eq!(std::fs::read(&db).expect("bytes"), before, "nothing was changed");
}

/// Upgrading a store of the first schema (unprefixed names) moves the planner
/// statistics of this crate's indexes to their `lmlang_` names, and leaves a service's
/// own index's rows on its own name, even when that name looks like one of ours: they
/// used to be moved to an index that does not exist.
#[test]
fn the_first_schema_upgrade_leaves_a_services_index_statistics_on_its_name() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema/v202611250555450000.db");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("first.db");
    std::fs::copy(&fixture, &db).expect("copy of the fixture");
    let mut conn = connect(&db);
    conn.batch_execute(
        "CREATE INDEX functions_by_name ON functions (name); CREATE INDEX Programs_By_Rev ON programs (revision); ANALYZE;",
    )
    .expect("the service's indexes");
    let stat = |conn: &mut SqliteConnection, idx: &str| {
        count(conn, &format!("SELECT count(*) FROM sqlite_stat1 WHERE idx = '{idx}'"))
    };
    assert_eq!(stat(&mut conn, "functions_by_name"), 1);
    sqlite::run_migrations(&mut conn).expect("upgrade");
    assert_eq!(stat(&mut conn, "functions_by_name"), 1, "the service's index keeps its statistics");
    assert_eq!(stat(&mut conn, "lmlang_functions_by_name"), 0, "no statistics for an index that does not exist");
    assert_eq!(stat(&mut conn, "lmlang_functions_by_module"), 1, "ours follow their index");
    assert_eq!(stat(&mut conn, "Programs_By_Rev"), 1, "an index the names migration set aside keeps its statistics");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM sqlite_stat1 WHERE idx NOT IN (SELECT name FROM sqlite_schema WHERE type = 'index') AND idx IS NOT NULL AND idx <> tbl"
        ),
        0,
        "every row names an index that exists"
    );
}

/// A service's view or trigger that no longer fits the rebuilt `lmlang_programs` (it
/// reads the `name` column that moved to `lmlang_program_names`) refuses the upgrade,
/// naming it, and nothing changes: SQLite reads either only when used, so they used to
/// come through the migration and then fail every write (a trigger on insert) or every
/// later rename in the file (a view). A trigger written `ON LMLANG_PROGRAMS` is the
/// table's too: kept by `run_migrations`, refused by the plain harness.
#[test]
fn upgrading_refuses_a_services_view_or_trigger_on_the_moved_name_and_keeps_one_in_any_case() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema/v202612031400000000.db");
    let dir = tempfile::tempdir().expect("temp dir");
    let stale = [
        (
            "audit_new",
            "CREATE TABLE audit (x); CREATE TRIGGER audit_new AFTER INSERT ON lmlang_programs BEGIN INSERT INTO audit VALUES (NEW.name); END;",
        ),
        ("names_v", "CREATE VIEW names_v AS SELECT id, name FROM lmlang_programs;"),
    ];
    for (i, (named, service)) in stale.into_iter().enumerate() {
        for plain_harness in [false, true] {
            let db = dir.path().join(format!("stale-{i}-{plain_harness}.db"));
            std::fs::copy(&fixture, &db).expect("copy of the fixture");
            let mut conn = connect(&db);
            conn.batch_execute(service).expect("the service's object");
            let err = if plain_harness {
                conn.run_pending_migrations(MIGRATIONS).expect_err("refused").to_string()
            } else {
                sqlite::run_migrations(&mut conn).expect_err("refused").to_string()
            };
            // Through the plain harness a trigger on the table is refused before the
            // rebuild, by the guard that keeps it from being dropped.
            let guarded = plain_harness && named == "audit_new";
            let expected = if guarded { "drop_the_triggers_and_indexes_on_lmlang_programs_first" } else { named };
            assert!(err.contains(expected), "{named}, plain harness {plain_harness}: {err}");
            drop(conn);
            let mut conn = connect(&db);
            let still = format!("SELECT count(*) FROM sqlite_schema WHERE name = '{named}'");
            assert_eq!(count(&mut conn, &still), 1, "{named} is still there");
            let name_column = "SELECT count(*) FROM pragma_table_info('lmlang_programs') WHERE name = 'name'";
            assert_eq!(count(&mut conn, name_column), 1, "{named}: nothing migrated");
        }
    }

    let shouted = "CREATE TABLE audit (x); \
        CREATE TRIGGER audit_delete AFTER DELETE ON LMLANG_PROGRAMS BEGIN INSERT INTO audit VALUES (OLD.id); END;";
    let present = "SELECT count(*) FROM sqlite_schema WHERE name = 'audit_delete'";
    let db = dir.path().join("shouted-plain.db");
    std::fs::copy(&fixture, &db).expect("copy of the fixture");
    let mut conn = connect(&db);
    conn.batch_execute(shouted).expect("the service's trigger");
    let err = conn.run_pending_migrations(MIGRATIONS).expect_err("the plain harness cannot keep it");
    assert!(err.to_string().contains("drop_the_triggers_and_indexes_on_lmlang_programs_first"), "{err}");
    drop(conn);
    assert_eq!(count(&mut connect(&db), present), 1);
    let db = dir.path().join("shouted.db");
    std::fs::copy(&fixture, &db).expect("copy of the fixture");
    let mut conn = connect(&db);
    conn.batch_execute(shouted).expect("the service's trigger");
    sqlite::run_migrations(&mut conn).expect("run_migrations keeps it");
    assert_eq!(count(&mut conn, present), 1);
}

/// A service's foreign key to `lmlang_programs (name)` would, after the names migration
/// moves that column to `lmlang_program_names`, point at a column that is no longer
/// UNIQUE: the diesel CLI applied the step, and every later `delete_program` failed
/// ("foreign key mismatch"). The step now refuses, through `run_migrations` (naming the
/// table) and Diesel's plain harness (the CLI's) alike, and nothing changes; once the
/// service drops its key the upgrade succeeds. Reverting refuses the same way while a
/// service's key points at `lmlang_program_names`, which the revert drops.
#[test]
fn the_names_migration_refuses_a_services_foreign_key_on_what_it_moves() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema/v202612031400000000.db");
    let dir = tempfile::tempdir().expect("temp dir");
    let before = {
        let reference = dir.path().join("reference.db");
        std::fs::copy(&fixture, &reference).expect("copy of the fixture");
        programs_of(&reference)
    };
    for plain_harness in [false, true] {
        let db = dir.path().join(format!("keyed-{plain_harness}.db"));
        std::fs::copy(&fixture, &db).expect("copy of the fixture");
        let mut conn = connect(&db);
        conn.batch_execute(
            "CREATE TABLE svc_owner (pname TEXT REFERENCES lmlang_programs (name)); \
             INSERT INTO svc_owner VALUES ('sample');",
        )
        .expect("the service's key");
        let err = if plain_harness {
            conn.run_pending_migrations(MIGRATIONS).expect_err("refused").to_string()
        } else {
            sqlite::run_migrations(&mut conn).expect_err("refused").to_string()
        };
        assert!(err.contains("drop_the_foreign_keys_to_lmlang_programs_name_first"), "{plain_harness}: {err}");
        if !plain_harness {
            assert!(err.contains("svc_owner"), "the table is named: {err}");
        }
        drop(conn);
        let mut conn = connect(&db);
        let name_column = "SELECT count(*) FROM pragma_table_info('lmlang_programs') WHERE name = 'name'";
        assert_eq!(count(&mut conn, name_column), 1, "{plain_harness}: nothing migrated");
        assert_eq!(count(&mut conn, "SELECT count(*) FROM sqlite_schema WHERE name = 'lmlang_program_names'"), 0);
        assert_eq!(count(&mut conn, "SELECT count(*) FROM lmlang_schema_versions"), 3);
        assert_eq!(count(&mut conn, "SELECT count(*) FROM __diesel_schema_migrations"), 3);
        assert_eq!(count(&mut conn, "SELECT count(*) FROM pragma_foreign_key_list('svc_owner')"), 1);
        assert_eq!(count(&mut conn, "SELECT count(*) FROM svc_owner WHERE pname = 'sample'"), 1);
        assert!(count(&mut conn, "SELECT count(*) FROM lmlang_compute_nodes") > 0, "no row cascaded away");

        // The service drops its key (SQLite: a table without it), and the upgrade succeeds.
        conn.batch_execute(
            "CREATE TABLE svc_owner_new (pname TEXT); INSERT INTO svc_owner_new SELECT pname FROM svc_owner; \
             DROP TABLE svc_owner; ALTER TABLE svc_owner_new RENAME TO svc_owner;",
        )
        .expect("drop the key");
        if plain_harness {
            conn.run_pending_migrations(MIGRATIONS).expect("the plain harness migrates");
            drop(conn);
            conn = connect(&db);
        } else {
            sqlite::run_migrations(&mut conn).expect("run_migrations migrates");
        }
        assert_eq!(sqlite::schema_version(&mut conn).expect("version"), our_newest());
        assert_eq!(programs_of(&db), before, "{plain_harness}: the programs came through");
        let store = SqliteStore::open(&db).expect("open");
        let victim = store.list_programs().expect("list").into_iter().find(|p| p.name != "sample").expect("one").id;
        store.delete_program(victim).expect("a program deletes");
        drop(store);

        // Reverting drops lmlang_program_names: a service's key to it is refused the same way.
        conn.batch_execute(
            "CREATE TABLE svc_names (pname TEXT REFERENCES lmlang_program_names (name)); \
             INSERT INTO svc_names VALUES ('sample');",
        )
        .expect("the service's key on the new table");
        let err = conn.revert_last_migration(MIGRATIONS).expect_err("the revert is refused");
        assert!(err.to_string().contains("drop_the_foreign_keys_to_lmlang_program_names_first"), "{err}");
        drop(conn);
        let mut conn = connect(&db);
        assert_eq!(count(&mut conn, "SELECT count(*) FROM sqlite_schema WHERE name = 'lmlang_program_names'"), 1);
        assert_eq!(count(&mut conn, name_column), 0, "nothing reverted");
        assert_eq!(count(&mut conn, "SELECT count(*) FROM lmlang_schema_versions"), 4);
        conn.batch_execute("DROP TABLE svc_names").expect("drop the key");
        conn.revert_last_migration(MIGRATIONS).expect("the revert");
        drop(conn);
        assert_eq!(count(&mut connect(&db), name_column), 1, "reverted");
    }
}

/// Diesel's `revert_all_migrations`, then `run_pending_migrations` (what `diesel
/// migration redo --all` does), on a store holding programs with entry nodes and
/// history: reverting the first migration drops every program, as reverting any CREATE
/// TABLE does, and the schema made again holds a working store. (The SQLite built into
/// this crate let the old down.sql through; the diesel CLI's failed on it, which
/// tests/diesel_cli.rs checks.)
#[test]
fn reverting_every_migration_of_a_store_holding_programs_then_migrating_again_works() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema/v202612031400000000.db");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("redo.db");
    std::fs::copy(&fixture, &db).expect("copy of the fixture");
    drop(SqliteStore::open(&db).expect("the store upgrades it"));
    let mut conn = connect(&db);
    let enforced = "SELECT foreign_keys FROM pragma_foreign_keys";
    assert_eq!(count(&mut conn, enforced), 1, "foreign keys on, as the diesel CLI has them");
    assert!(count(&mut conn, "SELECT count(*) FROM lmlang_functions WHERE entry_node_id IS NOT NULL") > 0);
    assert!(count(&mut conn, "SELECT count(*) FROM lmlang_history") > 0);
    let reverted = conn.revert_all_migrations(MIGRATIONS).expect("revert --all");
    assert_eq!(reverted.len(), 4, "every migration of ours: {reverted:?}");
    let ours = "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'lmlang\\_%' ESCAPE '\\'";
    assert_eq!(count(&mut conn, ours), 0, "nothing of ours is left");
    assert_eq!(count(&mut conn, "SELECT count(*) FROM __diesel_schema_migrations"), 0);
    conn.run_pending_migrations(MIGRATIONS).expect("and run again");
    drop(conn);
    assert_store_works(&db);
}

/// The diesel CLI killed after the `program_names` step (run outside Diesel's
/// transaction) committed and before Diesel recorded its version: every later run, the
/// CLI's and the store's, failed on the existing `lmlang_program_names`, though
/// `lmlang_schema_versions` listed the version. `run_migrations` (and so
/// `SqliteStore::open`) records it, and the plain harness (the CLI's) then finds
/// nothing pending.
#[test]
fn run_migrations_records_a_names_migration_applied_but_not_recorded() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema/v202612031400000000.db");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("interrupted.db");
    std::fs::copy(&fixture, &db).expect("copy of the fixture");
    let before = {
        let reference = dir.path().join("reference.db");
        std::fs::copy(&fixture, &reference).expect("second copy");
        programs_of(&reference)
    };
    let mut conn = connect(&db);
    conn.run_pending_migrations(MIGRATIONS).expect("the plain harness");
    conn.batch_execute("DELETE FROM __diesel_schema_migrations WHERE version = '202612031700000000'")
        .expect("the run killed before Diesel recorded the step");
    let stuck = conn.run_pending_migrations(MIGRATIONS).expect_err("Diesel's harness alone is stuck");
    assert!(stuck.to_string().contains("lmlang_program_names"), "{stuck}");
    drop(conn);
    let mut conn = connect(&db);
    assert_eq!(sqlite::run_migrations(&mut conn).expect("run_migrations recovers"), Vec::<String>::new());
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM __diesel_schema_migrations WHERE version = '202612031700000000'"),
        1
    );
    assert!(conn.pending_migrations(MIGRATIONS).expect("pending").is_empty(), "the CLI finds nothing to do");
    conn.run_pending_migrations(MIGRATIONS).expect("and runs");
    drop(conn);
    assert_eq!(programs_of(&db), before);
    assert_store_works(&db);
}
