//! Schema migrations: every database written by an earlier schema version opens,
//! migrates to the current one and loses nothing; a database from a newer version is
//! refused with `SchemaTooNew` and left byte for byte as it was.
//!
//! Fixtures live in `tests/fixtures/schema/`: `v<VERSION>.db`, a database written by
//! the build whose newest migration is VERSION, and `v<VERSION>.json`, the programs it
//! holds as documents with their root hashes. The test opens a copy of every fixture.
//! Before adding a migration, the fixture of the current version must exist (this test
//! insists on it); after adding one, run
//! `cargo test --test reliability_migrations -- --ignored write_fixture_of_current_schema`
//! to add the new version's fixture, and keep the old ones: each then proves its
//! upgrade path.

mod reliability_support;

use lmlang_storage::graph::{ProgramDocument, ProgramGraph};
use lmlang_storage::model::{ComputeOp, FunctionId};
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{GraphStore, StorageError};
use lmlang_storage::synth::{SynthConfig, generate};
use reliability_support::{companions, copy_db, sample_program, snapshot};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a fixture holds, by program name.
#[derive(Serialize, Deserialize)]
struct Expected {
    schema_version: i64,
    programs: BTreeMap<String, ExpectedProgram>,
}

#[derive(Serialize, Deserialize)]
struct ExpectedProgram {
    root_hash: String,
    document: ProgramDocument,
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema")
}

fn fixtures() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "db")).collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

fn current_version() -> i64 {
    let dir = tempfile::tempdir().unwrap();
    SqliteStore::open(dir.path().join("fresh.db")).unwrap().schema_version().unwrap()
}

/// Writes the fixture of the schema this build creates. Run by hand (see the module
/// docs); it refuses to overwrite an existing fixture.
#[test]
#[ignore = "writes tests/fixtures/schema; run by hand when adding a migration"]
fn write_fixture_of_current_schema() {
    let version = current_version();
    let db = fixture_dir().join(format!("v{version}.db"));
    assert!(!db.exists(), "{} exists; fixtures are never rewritten", db.display());
    std::fs::create_dir_all(fixture_dir()).unwrap();
    let store = SqliteStore::open(&db).unwrap();
    let (sample, _) = sample_program();
    let mut programs: Vec<(String, ProgramGraph)> = vec![
        ("sample".into(), sample),
        ("synthetic with holes".into(), generate(&SynthConfig { nodes: 200, seed: 11, gaps: true })),
    ];
    for name in reliability_support::ODD_NAMES.iter().take(4) {
        programs.push((name.to_string(), generate(&SynthConfig { nodes: 40, seed: name.len() as u64, gaps: false })));
    }
    let mut expected = Expected { schema_version: version, programs: BTreeMap::new() };
    for (name, g) in programs {
        let id = store.insert_program(&name, &g).unwrap();
        // Leave a trace of incremental writes too: an edit, a delete, a save.
        store.insert_node(id, FunctionId(0), ComputeOp::Print.into()).unwrap();
        let mut loaded = store.load_program(id).unwrap();
        let last = loaded.nodes().last().map(|(n, _)| n).unwrap();
        loaded.remove_compute_node(last).unwrap();
        store.save_program(id, &loaded).unwrap();
        let stored = store.load_program(id).unwrap();
        expected.programs.insert(
            name,
            ExpectedProgram { root_hash: stored.hashes().program().to_hex(), document: stored.to_document() },
        );
    }
    store.checkpoint().unwrap();
    drop(store);
    for c in companions(&db) {
        assert!(!c.exists(), "{} left behind", c.display());
    }
    let json = serde_json::to_string_pretty(&expected).unwrap();
    std::fs::write(db.with_extension("json"), json + "\n").unwrap();
}

#[test]
fn there_is_a_fixture_of_the_current_schema() {
    let version = current_version();
    let path = fixture_dir().join(format!("v{version}.db"));
    assert!(
        path.exists(),
        "no fixture of schema {version}: run `cargo test --test reliability_migrations -- --ignored \
         write_fixture_of_current_schema` and commit tests/fixtures/schema/v{version}.*"
    );
}

#[test]
fn every_fixture_opens_at_the_current_schema_without_loss() {
    let current = current_version();
    let all = fixtures();
    assert!(!all.is_empty(), "no fixtures in {}", fixture_dir().display());
    for fixture in all {
        let expected: Expected =
            serde_json::from_str(&std::fs::read_to_string(fixture.with_extension("json")).unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("copy.db");
        copy_db(&fixture, &db);
        let store = SqliteStore::open(&db).unwrap_or_else(|e| panic!("{}: {e}", fixture.display()));
        assert_eq!(store.schema_version().unwrap(), current, "{} migrated to the current schema", fixture.display());
        assert_eq!(store.integrity_check().unwrap(), Vec::<String>::new());
        assert_eq!(store.foreign_key_check().unwrap(), Vec::<String>::new());
        let names: Vec<String> = store.list_programs().unwrap().into_iter().map(|p| p.name).collect();
        assert_eq!(names.len(), expected.programs.len(), "{}: {names:?}", fixture.display());
        for (name, want) in &expected.programs {
            let id = store.find_program(name).unwrap();
            let g = store.load_program(id).unwrap();
            assert!(g.validate().is_empty());
            assert!(g.to_document() == want.document, "{}: {name:?} lost something", fixture.display());
            // Hashes are derived, never stored, and `root_hash` was computed by the hash
            // algorithm of the fixture's day: compare with the document hashed today.
            let today = ProgramGraph::from_document(want.document.clone()).unwrap().hashes().program();
            assert_eq!(g.hashes().program(), today, "{}: {name:?}", fixture.display());
            // Still writable, and ids continue where the old build left them.
            let next = g.next_ids().node;
            let n = store.insert_node(id, FunctionId(0), ComputeOp::Print.into()).unwrap();
            assert_eq!(n.0, next);
        }
        drop(store);
        // The planner statistics a fresh store starts with are all there, under the
        // same names: without them SQLite picks a secondary index for a program's rows
        // (a load of a first-schema store took twice as long).
        let fresh = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(fresh.path().join("fresh.db")).unwrap());
        let upgraded = planner_statistics(&db);
        let missing: Vec<_> =
            planner_statistics(&fresh.path().join("fresh.db")).into_iter().filter(|r| !upgraded.contains(r)).collect();
        assert!(missing.is_empty(), "{}: statistics missing after the upgrade: {missing:?}", fixture.display());
    }
}

/// The rows of `sqlite_stat1` for this crate's tables.
fn planner_statistics(db: &Path) -> Vec<(String, String, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut query =
        conn.prepare("SELECT tbl, idx, stat FROM sqlite_stat1 WHERE tbl LIKE 'lmlang%' ORDER BY 1, 2").unwrap();
    query.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
}

/// Adds a migration row from a future build to a copy of the current fixture.
fn future_database(dir: &Path, journal_mode: &str) -> PathBuf {
    let db = dir.join(format!("future-{journal_mode}.db"));
    let store = SqliteStore::open(&db).unwrap();
    store.insert_program("kept", &sample_program().0).unwrap();
    store.checkpoint().unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let newest: String = conn
        .query_row("SELECT version FROM __diesel_schema_migrations ORDER BY version DESC LIMIT 1", [], |r| r.get(0))
        .unwrap();
    // Same shape as the real versions, far in the future.
    let future: String = newest.chars().map(|c| if c.is_ascii_digit() { '9' } else { c }).collect();
    conn.execute("INSERT INTO __diesel_schema_migrations (version) VALUES (?1)", [&future]).unwrap();
    // A newer lmlang-storage also lists the version among its own.
    conn.execute("INSERT INTO lmlang_schema_versions (version) VALUES (?1)", [&future]).unwrap();
    let mode: String = conn.query_row(&format!("PRAGMA journal_mode = {journal_mode}"), [], |r| r.get(0)).unwrap();
    assert_eq!(mode.to_lowercase(), journal_mode.to_lowercase());
    drop(conn);
    for c in companions(&db) {
        let _ = std::fs::remove_file(c);
    }
    db
}

#[test]
fn newer_schema_is_refused_and_the_file_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    for mode in ["wal", "delete"] {
        let db = future_database(dir.path(), mode);
        let before = snapshot(&db);
        // Let a change of modification time show even on coarse clocks.
        std::thread::sleep(std::time::Duration::from_millis(20));
        match SqliteStore::open(&db) {
            Err(StorageError::SchemaTooNew { found, supported }) => {
                assert!(found > supported, "found {found}, supported {supported}");
            }
            Ok(_) => panic!("{mode}: a newer schema was opened"),
            Err(e) => panic!("{mode}: refused with another error: {e:?}"),
        }
        assert!(snapshot(&db) == before, "{mode}: the refused file was modified");
        for c in companions(&db) {
            assert!(!c.exists(), "{mode}: {} was left behind", c.display());
        }
        // The message tells the user what to do.
        let message = SqliteStore::open(&db).err().unwrap().to_string();
        assert!(message.contains("upgrade"), "{message}");
    }
}

#[test]
fn files_that_are_not_databases_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, Vec<u8>); 3] = [
        ("text", b"this is not a database, just some text\n".repeat(200)),
        ("random", (0..8192u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()),
        ("truncated header", b"SQLite format 3\0\x10\0\x01\x01".to_vec()),
    ];
    for (name, bytes) in cases {
        let db = dir.path().join(format!("{}.db", name.replace(' ', "-")));
        std::fs::write(&db, &bytes).unwrap();
        let before = snapshot(&db);
        match SqliteStore::open(&db) {
            Err(StorageError::Corrupt { .. }) => {}
            Ok(_) => panic!("{name}: opened"),
            Err(e) => panic!("{name}: refused with an untyped error: {e:?}"),
        }
        assert!(snapshot(&db) == before, "{name}: the file was modified");
    }
    // An empty file is a new database.
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let store = SqliteStore::open(&empty).unwrap();
    assert!(store.list_programs().unwrap().is_empty());
}

/// A schema version that is no version at all (a damaged or hand-edited row) is named
/// as damage, not reported as a schema from the far future.
#[test]
fn a_garbled_schema_version_is_reported_as_damage() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("garbled.db");
    drop(SqliteStore::open(&db).unwrap());
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("INSERT INTO lmlang_schema_versions (version) VALUES ('garbage')", []).unwrap();
    drop(conn);
    match SqliteStore::open(&db) {
        Err(StorageError::Migration(message)) => {
            assert!(message.contains("\"garbage\"") && message.contains("no migration version"), "{message}")
        }
        Err(other) => panic!("expected a migration error, got {other:?}"),
        Ok(_) => panic!("the store opened"),
    }
}
