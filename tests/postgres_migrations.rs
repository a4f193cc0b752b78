//! `postgres::run_migrations` as services starting together call it: inside their own
//! transactions, beside their own Diesel migrations, while another session holds the
//! migration lock, on a search path that names no schema, and on a store at an older
//! schema beside a service's own objects. Skipped without a server (see `pg_support`).
#![cfg(feature = "postgres")]

#[path = "pg_support/mod.rs"]
mod pg_support;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::MigrationHarness;
use lmlang_storage::postgres::{self, PgConfig, PgStore};
use lmlang_storage::store::{DatabaseErrorKind, GraphStore, StorageError};
use pg_support::TestSchema;
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::time::Duration;

/// The advisory lock key the crate's migrations run under ("lmlang" in ASCII).
const MIGRATION_LOCK: i64 = 0x6c6d_6c61_6e67;

/// The migration lock is one advisory lock for the whole database, whatever the schema:
/// a test holding it (or asserting that it is free) would disturb the others of this
/// file running beside it, so they run one at a time.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn services_migrating_inside_their_transactions_at_once_apply_the_schema_once() {
    let _serial = one_at_a_time();
    let Some(schema) = TestSchema::new() else { return };
    let start = Arc::new(Barrier::new(2));
    let runs: Vec<_> = (0..2u64)
        .map(|k| {
            let (mut conn, start) = (schema.connection(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                std::thread::sleep(Duration::from_millis(200 * k));
                conn.transaction(|c| {
                    let applied = postgres::run_migrations(c)?;
                    // The service's own work in the same transaction, still uncommitted
                    // while the other service starts.
                    std::thread::sleep(Duration::from_millis(800));
                    Ok::<_, StorageError>(applied)
                })
            })
        })
        .collect();
    let applied: Vec<Vec<String>> = runs.into_iter().map(|r| r.join().expect("thread").expect("migrations")).collect();
    assert!(applied.iter().filter(|a| !a.is_empty()).count() == 1, "applied {applied:?}");
    drop(schema.store());
}

#[test]
fn the_schema_and_a_services_own_diesel_table_created_at_once_both_succeed() {
    let _serial = one_at_a_time();
    // Diesel creates `__diesel_schema_migrations` without a lock: a service's own
    // migration run creating it at the same moment made ours fail with a unique
    // violation in PostgreSQL's catalog.
    for round in 0..8 {
        let Some(schema) = TestSchema::new() else { return };
        let start = Arc::new(Barrier::new(2));
        let mut service = schema.connection();
        let mut ours = schema.connection();
        let other = {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                service.batch_execute(
                    "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations \
                     (version VARCHAR(50) PRIMARY KEY NOT NULL, run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
                )
            })
        };
        start.wait();
        let result = postgres::run_migrations(&mut ours);
        let service_result = other.join().expect("thread");
        assert!(result.is_ok(), "round {round}: {result:?}");
        // The service's own statement may lose the race (it is not ours to retry).
        let _ = service_result;
        drop(schema.store());
    }
}

#[test]
fn with_migration_lock_serialises_a_services_migrations_with_ours() {
    let _serial = one_at_a_time();
    let Some(schema) = TestSchema::new() else { return };
    let start = Arc::new(Barrier::new(3));
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let (mut conn, start) = (schema.connection(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                postgres::with_migration_lock(&mut conn, |c| {
                    c.batch_execute("CREATE TABLE IF NOT EXISTS service_users (id BIGINT PRIMARY KEY)")
                        .map_err(|e| StorageError::Migration(e.to_string()))?;
                    postgres::run_migrations(c)
                })
            })
        })
        .collect();
    for r in runs {
        r.join().expect("thread").expect("migrations under the lock");
    }
    // The session locks were all given back: a run now takes the lock at once.
    let mut conn = schema.connection();
    conn.batch_execute("SET lock_timeout = '200ms'").expect("timeout");
    assert_eq!(postgres::run_migrations(&mut conn).expect("current schema"), Vec::<String>::new());
    assert!(
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
            "pg_try_advisory_lock({MIGRATION_LOCK}) AND pg_advisory_unlock({MIGRATION_LOCK})"
        )))
        .get_result::<bool>(&mut conn)
        .expect("lock"),
        "the migration lock was left held"
    );
}

#[test]
fn a_run_waiting_on_a_stuck_migration_gives_up_after_the_lock_timeout() {
    let _serial = one_at_a_time();
    let Some(schema) = TestSchema::new() else { return };
    let mut holder = schema.connection();
    holder.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).expect("hold the lock");
    let mut conn = schema.connection();
    conn.batch_execute("SET lock_timeout = '1s'").expect("timeout");
    let result = postgres::run_migrations(&mut conn);
    holder.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).expect("release");
    match result {
        Err(StorageError::Migration(message)) => {
            assert!(message.contains("migration lock") && message.contains("process"), "{message}")
        }
        other => panic!("expected a migration error naming the holder, got {other:?}"),
    }
    assert!(!postgres::run_migrations(&mut conn).expect("after the release").is_empty());
}

#[test]
fn a_search_path_naming_no_schema_is_refused_with_its_name() {
    let _serial = one_at_a_time();
    let Some(schema) = TestSchema::new() else { return };
    let config = PgConfig { schema: Some("lmlang_no_such_schema".into()), pool_size: 1, ..PgConfig::default() };
    match PgStore::connect_with(&schema.url, config) {
        Err(e @ StorageError::Database { kind: DatabaseErrorKind::CannotOpen, .. }) => {
            assert!(e.to_string().contains("lmlang_no_such_schema"), "{e}")
        }
        Ok(_) => panic!("opened a store in a schema that does not exist"),
        Err(e) => panic!("unexpected error: {e:?}"),
    }
}

#[test]
fn program_names_up_and_down_refuse_to_drop_a_services_objects_on_what_they_move() {
    let _serial = one_at_a_time();
    let Some(schema) = TestSchema::new() else { return };
    let mut conn = schema.connection();
    // A store at schema 202612031400000000 (the first two migrations), holding programs.
    for _ in 0..2 {
        conn.run_next_migration(postgres::MIGRATIONS).expect("an older migration");
    }
    conn.batch_execute(
        "INSERT INTO lmlang_programs (name, format_version, revision, next_node_id, next_edge_id, \
         next_function_id, next_module_id, next_type_id, module_count, function_count, node_count, \
         edge_count, created_at, updated_at) \
         VALUES ('alpha', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1), ('beta', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2)",
    )
    .expect("programs");
    // The service's own objects on the column that moves: DROP COLUMN would drop them all
    // without a word.
    let service = "CREATE INDEX svc_programs_by_updated ON lmlang_programs (updated_at, name); \
         ALTER TABLE lmlang_programs ADD CONSTRAINT svc_fresh_names CHECK (name <> 'scratch' OR revision < 1000); \
         CREATE STATISTICS svc_prog_stats ON name, updated_at FROM lmlang_programs; \
         CREATE TABLE svc_owner (pname TEXT REFERENCES lmlang_programs (name)); \
         INSERT INTO svc_owner VALUES ('alpha'); \
         CREATE VIEW svc_program_names AS SELECT id, name FROM lmlang_programs";
    conn.batch_execute(service).expect("the service's objects");
    let count = |conn: &mut PgConnection, query: &str| -> i64 {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!("({query})")))
            .get_result(conn)
            .expect(query)
    };
    let unchanged = |conn: &mut PgConnection| {
        assert_eq!(count(conn, "SELECT count(*) FROM lmlang_programs WHERE name IN ('alpha', 'beta')"), 2);
        assert_eq!(
            count(conn, "SELECT count(*) FROM pg_index WHERE indexrelid = to_regclass('svc_programs_by_updated')"),
            1
        );
        assert_eq!(
            count(
                conn,
                "SELECT count(*) FROM pg_constraint WHERE conrelid = 'lmlang_programs'::regclass AND conname = 'svc_fresh_names'"
            ),
            1
        );
        assert_eq!(
            count(
                conn,
                "SELECT count(*) FROM pg_statistic_ext WHERE stxrelid = 'lmlang_programs'::regclass AND stxname = 'svc_prog_stats'"
            ),
            1
        );
        // The service's foreign key and view on name (DROP COLUMN refuses while they exist,
        // naming neither: Diesel drops PostgreSQL's DETAIL line).
        assert_eq!(
            count(
                conn,
                "SELECT count(*) FROM pg_constraint WHERE conrelid = to_regclass('svc_owner') AND contype = 'f' \
                 AND confrelid = 'lmlang_programs'::regclass"
            ),
            1
        );
        assert_eq!(count(conn, "SELECT count(*) FROM svc_owner WHERE pname = 'alpha'"), 1);
        assert_eq!(count(conn, "SELECT count(*) FROM svc_program_names WHERE name IN ('alpha', 'beta')"), 2);
        assert_eq!(count(conn, "SELECT count(*) FROM lmlang_schema_versions"), 2);
        assert_eq!(count(conn, "SELECT count(*) FROM pg_class WHERE oid = to_regclass('lmlang_program_names')"), 0);
    };
    let refused = postgres::run_migrations(&mut conn).expect_err("the migration drops the service's objects");
    let message = refused.to_string();
    for name in [
        "svc_programs_by_updated",
        "svc_fresh_names",
        "svc_prog_stats",
        "svc_owner_pname_fkey",
        "view svc_program_names",
        "drop them, migrate",
    ] {
        assert!(message.contains(name), "{name} is not named in: {message}");
    }
    for ours in ["lmlang_programs_name_key", "lmlang_programs_name_check"] {
        assert!(!message.contains(ours), "our own {ours} is named: {message}");
    }
    unchanged(&mut conn);
    // Diesel's own harness (the diesel CLI's) is refused the same way.
    let refused = conn.run_pending_migrations(postgres::MIGRATIONS).expect_err("the plain harness");
    for name in ["svc_prog_stats", "svc_owner_pname_fkey", "view svc_program_names"] {
        assert!(refused.to_string().contains(name), "{name} is not named in: {refused}");
    }
    unchanged(&mut conn);
    // The service drops them, migrates, and makes them again on the new table.
    conn.batch_execute(
        "DROP INDEX svc_programs_by_updated; ALTER TABLE lmlang_programs DROP CONSTRAINT svc_fresh_names; \
         DROP STATISTICS svc_prog_stats; ALTER TABLE svc_owner DROP CONSTRAINT svc_owner_pname_fkey; \
         DROP VIEW svc_program_names",
    )
    .expect("drop the service's objects");
    assert_eq!(postgres::run_migrations(&mut conn).expect("the migration"), vec!["202612031700000000".to_string()]);
    conn.batch_execute("CREATE INDEX svc_names_by_program ON lmlang_program_names (program_id, name)")
        .expect("the service's index again");
    let store = schema.store();
    let alpha = store.find_program("alpha").expect("alpha");
    let beta = store.find_program("beta").expect("beta");
    assert_ne!(alpha, beta);
    drop(store);
    // Reverting drops lmlang_program_names, and with it, without a word, the service's
    // index on it: refused, naming it, and nothing changes.
    let refused = conn.revert_last_migration(postgres::MIGRATIONS).expect_err("the revert drops the index");
    assert!(refused.to_string().contains("svc_names_by_program"), "{refused}");
    for ours in ["lmlang_program_names_pkey", "lmlang_program_names_program_id_key"] {
        assert!(!refused.to_string().contains(ours), "our own {ours} is named: {refused}");
    }
    assert_eq!(count(&mut conn, "SELECT count(*) FROM lmlang_program_names WHERE name IN ('alpha', 'beta')"), 2);
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM pg_index WHERE indexrelid = to_regclass('svc_names_by_program')"),
        1
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM lmlang_schema_versions"), 3);
    conn.batch_execute("DROP INDEX svc_names_by_program").expect("drop the service's index");
    conn.revert_last_migration(postgres::MIGRATIONS).expect("the revert");
    assert_eq!(count(&mut conn, "SELECT count(*) FROM lmlang_programs WHERE name IN ('alpha', 'beta')"), 2);
}

/// A store opened without migrating (a role that may only read) on a schema an older
/// build made is refused as `SchemaTooOld` when it connects, instead of failing in
/// the calls that meet a table or column the older schema lacks and working in the
/// others; nothing is written. Once migrated, the same role reads.
#[test]
fn a_store_opened_without_migrating_refuses_an_older_schema() {
    let _serial = one_at_a_time();
    let Some(schema) = TestSchema::new() else { return };
    let store = schema.store();
    let id = store.insert_program("kept", &lmlang_storage::graph::ProgramGraph::new("kept")).expect("insert");
    drop(store);
    let mut conn = schema.connection();
    conn.revert_last_migration(postgres::MIGRATIONS).expect("back to the schema before program names");
    let versions = |conn: &mut PgConnection| {
        diesel::dsl::sql::<diesel::sql_types::BigInt>("SELECT count(*) FROM lmlang_schema_versions")
            .get_result::<i64>(conn)
            .expect("count")
    };
    assert_eq!(versions(&mut conn), 2);
    let role = format!("{}_reads", schema.name);
    conn.batch_execute(&format!(
        "CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA {s} TO {role}; \
         GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {role};",
        s = schema.name
    ))
    .expect("the role");
    let reader_url = pg_support::as_user(&schema.url, &role);
    let without_migrating = PgConfig { migrate: false, ..schema.config() };
    for url in [&reader_url, &schema.url] {
        match PgStore::connect_with(url, without_migrating.clone()) {
            Err(StorageError::SchemaTooOld { found, required }) => {
                assert_eq!((found, required), (202612031400000000, 202612031700000000));
            }
            other => panic!("expected SchemaTooOld, got {:?}", other.map(drop)),
        }
    }
    assert_eq!(versions(&mut conn), 2, "nothing was applied");
    drop(schema.store());
    // The migration made a table, which the role was not granted with the others.
    conn.batch_execute(&format!("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {role}", schema.name)).expect("grant");
    let reader = PgStore::connect_with(&reader_url, without_migrating).expect("the role reads a current schema");
    assert_eq!(reader.find_program("kept").expect("found"), id);
    drop(reader);
    // A role not granted the table of versions cannot be checked, and is not refused.
    conn.batch_execute(&format!("REVOKE SELECT ON lmlang_schema_versions FROM {role}")).expect("revoke");
    let reader = PgStore::connect_with(&reader_url, PgConfig { migrate: false, ..schema.config() });
    assert_eq!(reader.expect("connects").find_program("kept").expect("found"), id);
    conn.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role};")).expect("drop the role");
}
