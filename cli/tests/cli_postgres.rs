//! `lmstore --db postgres://...` end to end (feature `postgres`): the commands (the
//! soaks have tests of their own) and `bench`, against a fresh schema of the test server (`LMLANG_TEST_PG_URL`,
//! made and dropped with `psql`). Skipped with one line without a server, unless
//! `LMLANG_PG_REQUIRED=1`.
#![cfg(feature = "postgres")]

mod cli_support;

use cli_support::{json, lmstore, ok};
use std::process::Command;

fn psql(url: &str, sql: &str) -> bool {
    Command::new("psql").args([url, "-qAtc", sql]).output().is_ok_and(|o| o.status.success())
}

/// A schema of its own on the test server, dropped on drop.
struct Schema {
    url: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        psql(&self.url, &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}

fn schema() -> Option<Schema> {
    let required = std::env::var("LMLANG_PG_REQUIRED").is_ok_and(|v| v == "1");
    let url = std::env::var("LMLANG_TEST_PG_URL").ok();
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("lmstore_test_{}_{n}", std::process::id());
    match url {
        Some(url) if psql(&url, &format!("CREATE SCHEMA {name}")) => Some(Schema { url, name }),
        other => {
            // These tests make and drop their schemas with `psql`.
            let psql_found = Command::new("psql").arg("--version").output().is_ok_and(|o| o.status.success());
            let missing = if psql_found { "PostgreSQL test server" } else { "psql on PATH" };
            assert!(!required, "LMLANG_PG_REQUIRED=1 but no {missing} for {other:?}");
            println!("skipped: no {missing}");
            None
        }
    }
}

#[test]
fn every_command_works_against_a_server() {
    let Some(schema) = schema() else { return };
    let separator = if schema.url.contains('?') { '&' } else { '?' };
    let db = format!("{}{separator}options=-csearch_path%3D{}", schema.url, schema.name);
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let run = |args: &[&str]| ok(d, &[&["--db", db.as_str()], args].concat());

    assert!(run(&["migrate"]).contains("schema version"));
    assert!(run(&["demo"]).contains("reloaded equal"));
    assert!(!d.join("lmlang.db").exists(), "no SQLite file is made");
    let list = json(d, &["--db", &db, "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    assert!(run(&["show", "sample"]).contains("app::math::abs"));
    run(&["export", "sample", "-o", "sample.json"]);
    run(&["import", "sample.json", "--name", "copy"]);
    assert!(run(&["diff", "sample", "copy"]).contains("no differences"));
    assert!(run(&["hash", "copy"]).contains("ROOT HASH"));
    assert!(run(&["verify"]).contains("ok"));
    run(&["dot", "sample", "--output", "sample.dot"]);
    run(&["vacuum"]);
    run(&["delete", "copy"]);

    // The partitioned layout, on the programs already stored; the tool keeps working on it.
    let hash_before = run(&["hash", "sample"]);
    assert!(run(&["partition", "--partitions", "4"]).contains("into 4 partitions"));
    assert!(psql(
        &schema.url,
        &format!(
            "DO $$ BEGIN IF (SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{}') <> 10 \
             THEN RAISE EXCEPTION 'not partitioned'; END IF; END $$",
            schema.name
        )
    ));
    assert_eq!(run(&["hash", "sample"]), hash_before);
    run(&["import", "sample.json", "--name", "copy after partitioning"]);
    assert!(run(&["diff", "sample", "copy after partitioning"]).contains("no differences"));
    let refused = lmstore(d, &["--db", db.as_str(), "partition", "--partitions", "8"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already have 4 partitions"));
}

/// `bench` against a server: every PostgreSQL figure beside its floor and the SQLite
/// figure of the same run, the JSON with both, and no benchmark schema left behind.
#[test]
fn bench_measures_postgres_beside_its_floors_and_sqlite() {
    let Some(schema) = schema() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let json_path = dir.path().join("bench.json");
    let json_arg = json_path.to_string_lossy().into_owned();
    let table = ok(dir.path(), &["--db", &schema.url, "bench", "--nodes", "300", "--reps", "1", "--json", &json_arg]);
    for figure in [
        "bulk save, new program (floor: COPY)",
        "load program (floor: SELECT per table)",
        "single mutation: insert_node",
        "find_nodes_by_owner",
        "8 writer process(es), one program each",
        "SQLite (same run)",
    ] {
        assert!(table.contains(figure), "{figure} missing from:\n{table}");
    }
    let text = std::fs::read_to_string(&json_path).expect("the JSON file");
    let reports: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let report = &reports[0];
    assert_eq!(report["nodes"], 300);
    for field in ["bulk_save_floor_ms", "load_floor_ms", "node_commit_floor_per_s", "find_nodes_by_owner_floor_us"] {
        assert!(report[field].as_f64().is_some_and(|v| v > 0.0), "{field} in {report}");
    }
    assert!(report["sqlite"]["bulk_save_ms"].as_f64().is_some_and(|v| v > 0.0), "{report}");
    assert_eq!(report["writers_commits_per_s"].as_array().map(Vec::len), Some(4), "{report}");
    // The same figures on the partitioned layout.
    let partitioned =
        ok(dir.path(), &["--db", &schema.url, "bench", "--nodes", "200", "--reps", "1", "--partitions", "2"]);
    assert!(partitioned.contains("hash-partitioned by program into 2 partitions"), "{partitioned}");
    assert!(partitioned.contains("single mutation: insert_node"), "{partitioned}");
    let left = Command::new("psql")
        .args([schema.url.as_str(), "-qAtc", "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'lmbench\\_%'"])
        .output()
        .expect("psql");
    assert_eq!(String::from_utf8_lossy(&left.stdout).trim(), "0", "benchmark schemas left behind");
}

/// Reading commands on PostgreSQL write nothing: on a schema that holds only another
/// application's table they refuse instead of creating ours beside it (they used to
/// migrate it), and on a current schema they work in a read-only session (a standby,
/// `default_transaction_read_only`), where they used to fail in Diesel's migration
/// check. Writing commands there fail without a trace. A password in the URL is never
/// printed.
#[test]
fn reading_commands_write_nothing_on_postgres() {
    let Some(schema) = schema() else { return };
    let separator = if schema.url.contains('?') { '&' } else { '?' };
    let db = format!("{}{separator}options=-csearch_path%3D{}", schema.url, schema.name);
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    assert!(psql(&schema.url, &format!("CREATE TABLE {}.users (id int PRIMARY KEY)", schema.name)));
    let tables = || {
        let out = Command::new("psql")
            .args([
                schema.url.as_str(),
                "-qAtc",
                &format!("SELECT count(*) FROM pg_tables WHERE schemaname = '{}'", schema.name),
            ])
            .output()
            .expect("psql");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let out = lmstore(d, &["--db", &db, "list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no lmlang schema"), "{out:?}");
    assert_eq!(tables(), "1", "only the application's own table");
    // A search path whose schema does not exist: `migrate` could not help, so the
    // message says to create the schema first.
    let missing = format!("{}{separator}options=-csearch_path%3D{}_missing", schema.url, schema.name);
    let out = lmstore(d, &["--db", &missing, "list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CREATE SCHEMA") && !err.contains("holds no lmlang schema"), "{err}");

    ok(d, &["--db", &db, "demo"]);
    let read_only = format!(
        "{}{separator}options=-csearch_path%3D{}%20-cdefault_transaction_read_only%3Don",
        schema.url, schema.name
    );
    let list = json(d, &["--db", &read_only, "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    ok(d, &["--db", &read_only, "export", "sample", "-o", "s.json"]);
    let refused = lmstore(d, &["--db", &read_only, "undo", "sample"]);
    assert!(!refused.status.success());
    assert_eq!(json(d, &["--db", &db, "list", "--json"]), list, "nothing changed");

    // A URL the server refuses at once (an unknown setting), with a password in it.
    if let Some(at) = schema.url.find('@') {
        let user_info_has_password = schema.url[..at].matches(':').count() > 1;
        if !user_info_has_password {
            let with_password = format!("{}:not-printed{}", &schema.url[..at], &schema.url[at..]);
            let refused = format!("{with_password}{separator}options=-cno_such_setting%3D1");
            let out = lmstore(d, &["--db", &refused, "list"]);
            assert!(!out.status.success());
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(text.contains("***") && !text.contains("not-printed"), "{text}");
        }
    }
}

/// `--busy-timeout` is the wait of a SQLite file: a write on PostgreSQL that the
/// server's `lock_timeout` ends says so, and does not claim lmstore waited the
/// `--busy-timeout` it was given (it used to print "lmstore waited 60 s" after 0.3 s).
#[test]
fn a_lock_timeout_on_postgres_is_the_servers_not_busy_timeout() {
    let Some(schema) = schema() else { return };
    let separator = if schema.url.contains('?') { '&' } else { '?' };
    let db = format!("{}{separator}options=-csearch_path%3D{}", schema.url, schema.name);
    let impatient = format!("{db}%20-clock_timeout%3D200");
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    ok(d, &["--db", &db, "demo"]);

    let mut holder = postgres::Client::connect(&schema.url, postgres::NoTls).expect("a connection of the test's");
    let mut lock = holder.transaction().expect("a transaction");
    lock.batch_execute(&format!("SELECT id FROM {}.lmlang_programs FOR UPDATE", schema.name)).expect("the lock");
    let out = lmstore(d, &["--db", &impatient, "--busy-timeout", "60", "tag", "sample", "v1"]);
    lock.rollback().expect("the lock released");

    assert_eq!(out.status.code(), Some(75), "refused for the lock, to retry (EX_TEMPFAIL): {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("retry later") && err.contains("lock_timeout"), "names what ended the wait: {err}");
    assert!(!err.contains("waited 60"), "no wait of --busy-timeout's is claimed: {err}");
    ok(d, &["--db", &db, "tag", "sample", "v1"]);
}

/// A role that may only read, or a read-only session, on a schema an older lmstore
/// made: the reading commands cannot upgrade it, and say that (with what to do), not
/// that they cannot connect. Nothing changes; after the owner's `migrate` they read.
#[test]
fn a_reader_on_an_older_schema_is_told_to_migrate_it() {
    let Some(schema) = schema() else { return };
    let separator = if schema.url.contains('?') { '&' } else { '?' };
    let search_path = format!("options=-csearch_path%3D{}", schema.name);
    let db = format!("{}{separator}{search_path}", schema.url);
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    ok(d, &["--db", &db, "demo"]);
    // Back to the schema before program names: the last migration's own down step.
    let down =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/postgres/2026-12-03-170000-0000_program_names/down.sql");
    let reverted = Command::new("psql")
        .args([schema.url.as_str(), "-q", "-v", "ON_ERROR_STOP=1"])
        .args(["-c", &format!("SET search_path TO {}", schema.name), "-f", down])
        .args(["-c", "DELETE FROM __diesel_schema_migrations WHERE version = '202612031700000000'"])
        .output()
        .expect("psql");
    assert!(reverted.status.success(), "{reverted:?}");
    let role = format!("{}_reads", schema.name);
    assert!(psql(
        &schema.url,
        &format!(
            "CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA {s} TO {role}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {role}",
            s = schema.name
        )
    ));
    let (scheme, rest) = schema.url.split_once("://").expect("a URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let reader = format!("{scheme}://{role}@{host}{separator}{search_path}");
    let read_only = format!("{db}%20-cdefault_transaction_read_only%3Don");
    for (url, command) in [(&reader, &["list"][..]), (&reader, &["migrate"]), (&read_only, &["show", "sample"])] {
        let out = lmstore(d, &[&["--db", url.as_str()], command].concat());
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        for part in ["upgrading the lmlang schema", "older than", "lmstore migrate"] {
            assert!(err.contains(part), "{command:?}: {part}: {err}");
        }
        assert!(!err.contains("cannot connect"), "{err}");
    }
    // A schema holding only an empty table of versions is no older lmlang schema:
    // refused as before, and nothing is made in it.
    let bare = format!("{}_bare", schema.name);
    assert!(psql(
        &schema.url,
        &format!("CREATE SCHEMA {bare}; CREATE TABLE {bare}.lmlang_schema_versions (version text)")
    ));
    let out = lmstore(d, &["--db", &format!("{}{separator}options=-csearch_path%3D{bare}", schema.url), "list"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no lmlang schema"), "{out:?}");
    let made = Command::new("psql")
        .args([schema.url.as_str(), "-qAtc", &format!("SELECT count(*) FROM pg_tables WHERE schemaname = '{bare}'")])
        .output()
        .expect("psql");
    assert_eq!(String::from_utf8_lossy(&made.stdout).trim(), "1", "only the table that was there");
    psql(&schema.url, &format!("DROP SCHEMA {bare} CASCADE"));
    ok(d, &["--db", &db, "migrate"]);
    // The migration made a table, which the role was not granted with the others.
    assert!(psql(&schema.url, &format!("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {role}", schema.name)));
    let list = json(d, &["--db", &reader, "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    psql(&schema.url, &format!("DROP OWNED BY {role}; DROP ROLE {role}"));
}
