//! The real diesel CLI on this crate's migrations, as a service's developer runs it:
//! `diesel migration run` builds the schema, `print-schema` with the repository's
//! `diesel.toml` settings reproduces `src/schema.rs` byte for byte, and
//! `migration redo --all` (every `down.sql`, then every `up.sql`) gets back to the
//! same schema; a service's own migrations whose tables have the names of our first
//! schema's (`programs`, `functions`) run beside ours in either order.
//!
//! Skipped with one line when `diesel` is not on the PATH; CI sets
//! `LMLANG_REQUIRE_DIESEL_CLI=1`, which turns the skip into a failure.

use std::path::Path;
use std::process::Command;

fn diesel_available() -> bool {
    let found = Command::new("diesel").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found && std::env::var_os("LMLANG_REQUIRE_DIESEL_CLI").is_some() {
        panic!("LMLANG_REQUIRE_DIESEL_CLI is set but the diesel CLI is not on the PATH");
    }
    found
}

/// Runs the CLI from a scratch directory whose `diesel.toml` is the repository's with
/// the schema written to a scratch file, so the test never touches `src/schema.rs`.
fn diesel(scratch: &Path, db: &Path, args: &[&str]) -> String {
    let out = Command::new("diesel")
        .args(args)
        .arg("--database-url")
        .arg(db)
        .arg("--config-file")
        .arg(scratch.join("diesel.toml"))
        .current_dir(scratch)
        .output()
        .expect("diesel runs");
    assert!(
        out.status.success(),
        "diesel {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Runs the CLI on a migration directory given on the command line, from `scratch`;
/// a failure fails the test with the CLI's message.
fn on_dir(scratch: &Path, migrations: &Path, db: &Path, args: &[&str]) {
    let out = Command::new("diesel")
        .args(args)
        .arg("--migration-dir")
        .arg(migrations)
        .arg("--database-url")
        .arg(db)
        .current_dir(scratch)
        .output()
        .expect("diesel runs");
    let failed = format!("diesel {args:?} --migration-dir {}", migrations.display());
    assert!(out.status.success(), "{failed} failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_diesel_cli_reproduces_src_schema_rs() {
    if !diesel_available() {
        println!(
            "skipped: the diesel CLI is not installed (cargo install diesel_cli --no-default-features --features sqlite-bundled)"
        );
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir().expect("temp dir");
    let config = std::fs::read_to_string(root.join("diesel.toml")).expect("diesel.toml");
    let generated = scratch.path().join("schema.rs");
    let config = config
        .replace("file = \"src/schema.rs\"", &format!("file = {:?}", generated.to_str().expect("UTF-8")))
        .replace(
            "dir = \"migrations/sqlite\"",
            &format!("dir = {:?}", root.join("migrations/sqlite").to_str().expect("UTF-8")),
        );
    std::fs::write(scratch.path().join("diesel.toml"), config).expect("config");
    let db = scratch.path().join("cli.db");
    let committed = std::fs::read_to_string(root.join("src/schema.rs")).expect("src/schema.rs");

    diesel(scratch.path(), &db, &["migration", "run"]);
    let after_run = std::fs::read_to_string(&generated).expect("migration run writes the schema file");
    assert!(after_run == committed, "`diesel migration run` generates a schema.rs that differs from src/schema.rs");
    assert!(diesel(scratch.path(), &db, &["print-schema"]) == committed, "print-schema differs from src/schema.rs");

    diesel(scratch.path(), &db, &["migration", "redo", "--all"]);
    assert!(diesel(scratch.path(), &db, &["print-schema"]) == committed, "after redo --all the schema differs");
}

/// The upgrade that rebuilds `lmlang_programs` (`program_names`) needs foreign keys
/// off, which Diesel's connection turns on: it used to refuse through the CLI whenever
/// the store held programs. Now `redo` (its `down.sql`, then its `up.sql`) and a
/// revert followed by `migration run` keep every program, exactly.
#[test]
fn the_diesel_cli_reverts_and_reapplies_a_store_that_holds_programs() {
    use lmlang_storage::sqlite::SqliteStore;
    use lmlang_storage::store::GraphStore;
    if !diesel_available() {
        println!("skipped: the diesel CLI is not installed");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir().expect("temp dir");
    let migrations = root.join("migrations/sqlite");
    let db = scratch.path().join("cli.db");
    let cli = |args: &[&str]| on_dir(scratch.path(), &migrations, &db, args);
    cli(&["migration", "run"]);
    let sample = lmlang_storage::synth::generate(&lmlang_storage::synth::SynthConfig::new(2_000));
    let (first, second) = {
        let store = SqliteStore::open(&db).expect("open");
        let first = store.insert_program("first", &sample).expect("insert");
        let second = store.create_program("second").expect("create");
        store.delete_program(store.create_program("gone").expect("create")).expect("delete");
        (first, second)
    };
    let check = |what: &str| {
        let store = SqliteStore::open(&db).expect("open");
        assert_eq!(store.load_program(first).expect("load"), sample, "{what}");
        assert_eq!(store.find_program("second").expect("find"), second, "{what}");
        assert!(store.integrity_check().expect("integrity").is_empty(), "{what}");
        assert!(store.foreign_key_check().expect("foreign keys").is_empty(), "{what}");
        // Ids are not given back: the next program comes after the deleted one.
        let next = store.create_program(&format!("after {what}")).expect("create");
        assert!(next.0 > second.0 + 1, "{what}: program id {} reused", next.0);
        store.delete_program(next).expect("delete");
    };
    cli(&["migration", "redo"]);
    check("redo");
    cli(&["migration", "revert"]);
    cli(&["migration", "run"]);
    check("revert and run");
}

/// A file of the first schema as its first release wrote it (tables without the
/// `lmlang_` prefix, which only `run_migrations` renames) is refused by the diesel CLI
/// at the first step it runs, with the way out in the message, and left as it was
/// (it applied two steps and then failed on a table the user never named); then
/// `SqliteStore::open` migrates it and every program reads back.
#[test]
fn the_diesel_cli_refuses_a_first_schema_file_before_changing_it() {
    use lmlang_storage::sqlite::SqliteStore;
    use lmlang_storage::store::GraphStore;
    if !diesel_available() {
        println!("skipped: the diesel CLI is not installed");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir().expect("temp dir");
    let db = scratch.path().join("first.db");
    std::fs::copy(root.join("tests/fixtures/schema/v202611250555450000.db"), &db).expect("fixture");
    let before = std::fs::read(&db).expect("read");
    let out = Command::new("diesel")
        .args(["migration", "run", "--migration-dir"])
        .arg(root.join("migrations/sqlite"))
        .arg("--database-url")
        .arg(&db)
        .current_dir(scratch.path())
        .output()
        .expect("diesel runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the CLI migrated a first-schema file: {stderr}");
    assert!(stderr.contains("run_lmstore_migrate_first"), "{stderr}");
    assert!(std::fs::read(&db).expect("read") == before, "the refused run changed the file");
    let store = SqliteStore::open(&db).expect("open migrates the first schema");
    let listed = store.list_programs().expect("list");
    assert!(!listed.is_empty(), "the fixture holds programs");
    for summary in listed {
        assert_eq!(store.load_program(summary.id).expect("load").node_count() as u64, summary.nodes);
    }
}

/// `diesel migration redo --all` and `revert --all` on a store holding programs (with
/// functions that have entry nodes, and history): the first migration's revert dropped
/// `lmlang_compute_nodes` while a function's entry node still referred to it, and the
/// CLI failed ("FOREIGN KEY constraint failed") after the later reverts had committed.
/// Reverting it drops every program, as reverting any CREATE TABLE does; the schema
/// made again holds a working store.
#[test]
fn the_diesel_cli_reverts_every_migration_of_a_store_that_holds_programs() {
    use diesel::prelude::*;
    use lmlang_storage::graph::ProgramGraph;
    use lmlang_storage::sqlite::SqliteStore;
    use lmlang_storage::store::GraphStore;
    if !diesel_available() {
        println!("skipped: the diesel CLI is not installed");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir().expect("temp dir");
    let migrations = root.join("migrations/sqlite");
    let count = |db: &Path, query: &str| -> i64 {
        let mut conn = SqliteConnection::establish(db.to_str().expect("UTF-8 path")).expect("connection");
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!("({query})")))
            .get_result(&mut conn)
            .expect(query)
    };
    for all in [["migration", "redo", "--all"], ["migration", "revert", "--all"]] {
        let db = scratch.path().join(format!("{}-all.db", all[1]));
        std::fs::copy(root.join("tests/fixtures/schema/v202612031400000000.db"), &db).expect("copy of the fixture");
        on_dir(scratch.path(), &migrations, &db, &["migration", "run"]);
        assert!(count(&db, "SELECT count(*) FROM lmlang_functions WHERE entry_node_id IS NOT NULL") > 0);
        assert!(count(&db, "SELECT count(*) FROM lmlang_history") > 0);
        on_dir(scratch.path(), &migrations, &db, &all);
        if all[1] == "revert" {
            let ours = "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'lmlang\\_%' ESCAPE '\\'";
            assert_eq!(count(&db, ours), 0, "nothing of ours is left");
            on_dir(scratch.path(), &migrations, &db, &["migration", "run"]);
        }
        let store = SqliteStore::open(&db).expect("a store opens on it");
        assert!(store.list_programs().expect("list").is_empty(), "reverting the first migration drops the programs");
        let id = store.insert_program("app", &ProgramGraph::new("app")).expect("insert");
        assert_eq!(store.load_program(id).expect("load"), ProgramGraph::new("app"));
    }
}

#[test]
fn the_diesel_cli_runs_a_services_migrations_and_ours_in_either_order() {
    use lmlang_storage::sqlite::SqliteStore;
    use lmlang_storage::store::GraphStore;
    if !diesel_available() {
        println!("skipped: the diesel CLI is not installed");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ours = root.join("migrations/sqlite");
    let theirs = root.join("tests/fixtures/host_migrations");
    let scratch = tempfile::tempdir().expect("temp dir");
    for (order, dirs) in [("theirs first", [&theirs, &ours]), ("ours first", [&ours, &theirs])] {
        let db = scratch.path().join(format!("{}.db", order.replace(' ', "-")));
        for dir in dirs {
            on_dir(scratch.path(), dir, &db, &["migration", "run"]);
        }
        let store = SqliteStore::open(&db).expect("the store opens");
        let sample = lmlang_storage::synth::generate(&lmlang_storage::synth::SynthConfig::new(200));
        let id = store.insert_program("app", &sample).expect("insert");
        assert_eq!(store.load_program(id).expect("load"), sample, "{order}");
        assert!(store.foreign_key_check().expect("foreign keys").is_empty(), "{order}");
    }
}
