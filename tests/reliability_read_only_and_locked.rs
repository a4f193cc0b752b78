//! Read-only and locked databases: a store opened read-only loads and queries, and
//! every write gets `StorageError::ReadOnly` without touching the file; a database
//! locked by another connection gives `StorageError::Busy` once the busy timeout has
//! passed, never a hang.
//!
//! Tests run as root, where file permissions do not stop writes, so read-only means
//! SQLite's read-only open (`SqliteConfig::read_only`).

mod reliability_support;

use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::{ComputeOp, FlowEdge, LmType, ModuleId, TypeId, Visibility};
use lmlang_storage::sqlite::{SqliteConfig, SqliteStore};
use lmlang_storage::store::{
    DatabaseErrorKind, FunctionUpdate, GraphStore, NewFunction, ProgramId, StorageError, StorageResult,
};
use reliability_support::{SampleIds, companions, sample_program, snapshot, within};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn read_only() -> SqliteConfig {
    SqliteConfig::default().with_read_only(true)
}

/// A database holding the sample program, closed (so no WAL is left).
fn database(dir: &Path) -> (PathBuf, ProgramId, ProgramGraph, SampleIds) {
    let db = dir.join("store.db");
    let (g, ids) = sample_program();
    let store = SqliteStore::open(&db).unwrap();
    let program = store.insert_program("sample", &g).unwrap();
    drop(store);
    (db, program, g, ids)
}

/// Every write of the `GraphStore` API, each with arguments that would succeed on a
/// writable store.
fn every_write(
    store: &SqliteStore,
    p: ProgramId,
    g: &ProgramGraph,
    ids: &SampleIds,
) -> Vec<(&'static str, StorageResult<()>)> {
    let new_function = NewFunction {
        module: ModuleId::ROOT,
        name: "fresh".into(),
        visibility: Visibility::Public,
        params: vec![],
        return_type: TypeId::UNIT,
        closure_of: None,
    };
    let mut edited = g.clone();
    edited.add_core_op(ids.main, ComputeOp::Print).unwrap();
    vec![
        ("create_program", store.create_program("new").map(drop)),
        ("insert_program", store.insert_program("copy", g).map(drop)),
        ("save_program", store.save_program(p, &edited).map(drop)),
        ("save_function", store.save_function(p, &edited, ids.main).map(drop)),
        ("rename_program", store.rename_program(p, "renamed")),
        ("edit", store.edit(p, &mut |g| g.add_core_op(ids.main, ComputeOp::Print).map(drop)).map(drop)),
        ("insert_node", store.insert_node(p, ids.main, ComputeOp::Print.into()).map(drop)),
        ("update_node", store.update_node(p, ids.ret, ComputeOp::Print.into()).map(drop)),
        ("delete_node", store.delete_node(p, ids.check)),
        ("insert_edge", store.insert_edge(p, ids.check, ids.ret, FlowEdge::Control { branch_index: None }).map(drop)),
        ("delete_edge", store.delete_edge(p, ids.control_edge)),
        ("insert_type", store.insert_type(p, LmType::Array { element: TypeId::I8, length: 3 }).map(drop)),
        (
            "insert_named_type",
            store.insert_named_type(p, ModuleId::ROOT, Visibility::Public, "Alias", LmType::Unit).map(drop),
        ),
        ("insert_function", store.insert_function(p, new_function).map(drop)),
        (
            "update_function",
            store.update_function(p, ids.helper, FunctionUpdate { name: Some("renamed".into()), ..Default::default() }),
        ),
        ("delete_function", store.delete_function(p, ids.closure)),
        ("insert_module", store.insert_module(p, ModuleId::ROOT, "m", Visibility::Public).map(drop)),
        ("update_module", store.update_module(p, ids.util, "renamed")),
        ("delete_module", store.delete_module(p, ids.empty)),
        ("delete_program", store.delete_program(p)),
    ]
}

fn assert_reads_work(store: &SqliteStore, p: ProgramId, g: &ProgramGraph, ids: &SampleIds) {
    assert!(store.load_program(p).unwrap() == *g);
    assert_eq!(store.list_programs().unwrap().len(), 1);
    assert_eq!(store.find_program("sample").unwrap(), p);
    assert_eq!(store.get_node(p, ids.seven).unwrap(), *g.node(ids.seven).unwrap());
    assert_eq!(store.find_nodes_by_owner(p, ids.main).unwrap().len(), g.function_nodes(ids.main).count());
    assert_eq!(store.find_edges_to(p, ids.add).unwrap(), g.incoming(ids.add));
    assert_eq!(store.find_nodes_by_type(p, ids.point).unwrap(), vec![ids.make_point]);
    assert_eq!(store.find_module_by_path(p, &["root", "util 'x'"]).unwrap(), ids.util);
    assert_eq!(store.get_type(p, ids.point).unwrap(), *g.types().get(ids.point).unwrap());
}

fn assert_writes_refused(store: &SqliteStore, p: ProgramId, g: &ProgramGraph, ids: &SampleIds) {
    for (name, result) in every_write(store, p, g, ids) {
        assert!(matches!(result, Err(StorageError::ReadOnly)), "{name} on a read-only store gave {result:?}");
    }
    // And the store is still fine for reads afterwards.
    assert_reads_work(store, p, g, ids);
}

#[test]
fn a_read_only_store_reads_and_refuses_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let (db, p, g, ids) = database(dir.path());
    let before = snapshot(&db);
    let store = SqliteStore::open_with(&db, read_only()).unwrap();
    assert_reads_work(&store, p, &g, &ids);
    assert_writes_refused(&store, p, &g, &ids);
    drop(store);
    assert!(snapshot(&db) == before, "the read-only store modified the file");
}

#[test]
fn a_file_uri_is_a_path_not_a_read_only_open() {
    let dir = tempfile::tempdir().unwrap();
    let (db, ..) = database(dir.path());
    let before = snapshot(&db);
    let uri = format!("file:{}?mode=ro", db.display());
    let Err(e) = SqliteStore::open(&uri) else { panic!("the URI opened") };
    assert_eq!(e.database_kind(), Some(DatabaseErrorKind::CannotOpen), "{e}");
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert!(snapshot(&db) == before, "the database was not opened");
}

#[test]
fn a_read_only_store_sees_what_another_writer_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (db, p, g, ids) = database(dir.path());
    let writer = SqliteStore::open(&db).unwrap();
    let reader = SqliteStore::open_with(&db, read_only()).unwrap();
    assert!(reader.load_program(p).unwrap() == g);
    let node = writer.insert_node(p, ids.main, ComputeOp::Print.into()).unwrap();
    assert!(reader.load_program(p).unwrap().node(node).is_some(), "the new commit is visible");
    assert!(reader.get_node(p, node).is_ok());
}

#[test]
fn read_only_open_of_a_missing_or_unmigrated_file_is_a_typed_error_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    match SqliteStore::open_with(&missing, read_only()) {
        Err(StorageError::ReadOnly | StorageError::Io(_)) => {}
        Ok(_) => panic!("opened a missing file read-only"),
        Err(e) => panic!("untyped error for a missing file: {e:?}"),
    }
    assert!(!missing.exists(), "a read-only open created the file");
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    match SqliteStore::open_with(&empty, read_only()) {
        Err(StorageError::ReadOnly) => {}
        Ok(_) => panic!("opened an unmigrated file read-only"),
        Err(e) => panic!("untyped error for an unmigrated file: {e:?}"),
    }
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0, "the read-only open migrated the file");
}

/// The files a process leaves when it dies inside a transaction that had already
/// written pages to the database (rollback-journal mode): the file holds half the
/// transaction, `-journal` the pages to put back. A reader that cannot write must not
/// show that half (SQLite would, opened as immutable); a writable open rolls it back.
#[test]
fn a_read_only_open_refuses_a_transaction_cut_off_midway_and_a_writable_one_rolls_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let (db, program, g, _) = database(dir.path());
    let crashed = dir.path().join("crashed.db");
    let journal = dir.path().join("crashed.db-journal");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        // A one-page cache makes the transaction write its pages into the file early.
        conn.execute_batch(
            "PRAGMA journal_mode = DELETE; PRAGMA cache_size = 1; BEGIN; \
             UPDATE lmlang_program_names SET name = 'renamed'; \
             UPDATE lmlang_compute_nodes SET program_id = program_id;",
        )
        .unwrap();
        std::fs::copy(&db, &crashed).unwrap();
        std::fs::copy(dir.path().join("store.db-journal"), &journal).unwrap();
    }
    let before = (snapshot(&crashed), snapshot(&journal));
    match SqliteStore::open_with(&crashed, read_only()) {
        Err(e @ StorageError::Database { kind: DatabaseErrorKind::CannotOpen, .. }) => {
            assert!(e.to_string().contains("crashed.db-journal"), "{e}")
        }
        Ok(s) => panic!("read a transaction cut off midway; programs: {:?}", s.list_programs()),
        Err(e) => panic!("unexpected error: {e:?}"),
    }
    assert!(before == (snapshot(&crashed), snapshot(&journal)), "the refused open changed the files");
    let store = SqliteStore::open(&crashed).unwrap();
    assert_eq!(store.find_program("sample").unwrap(), program);
    assert_eq!(store.load_program(program).unwrap(), g);
}

/// Holds a lock on `db` from another connection until `release` is dropped.
fn hold_lock(db: &Path, statement: &'static str) -> std::sync::mpsc::Sender<()> {
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let path = db.to_path_buf();
    std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch(statement).unwrap();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv();
        let _ = conn.execute_batch("ROLLBACK");
    });
    locked_rx.recv().unwrap();
    release_tx
}

fn short_timeout() -> SqliteConfig {
    SqliteConfig::default().with_busy_timeout(Duration::from_millis(300))
}

#[test]
fn a_locked_database_gives_busy_after_the_timeout_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let (db, p, g, ids) = database(dir.path());
    let store = SqliteStore::open_with(&db, short_timeout()).unwrap();
    let release = hold_lock(&db, "BEGIN EXCLUSIVE");
    let started = Instant::now();
    let result = store.insert_node(p, ids.main, ComputeOp::Print.into());
    let waited = started.elapsed();
    assert!(matches!(result, Err(StorageError::Busy)), "{result:?}");
    assert!(waited >= Duration::from_millis(250), "gave up before the busy timeout ({waited:?})");
    assert!(waited < Duration::from_secs(5), "waited far past the busy timeout ({waited:?})");
    // Every other kind of write too.
    for (name, result) in every_write(&store, p, &g, &ids) {
        assert!(matches!(result, Err(StorageError::Busy)), "{name} under a lock gave {result:?}");
    }
    // In WAL mode an exclusive writer does not block readers.
    assert!(store.load_program(p).unwrap() == g);
    drop(release);
    // Once the lock is gone, writes work, and nothing refused earlier was written.
    let node = store.insert_node(p, ids.main, ComputeOp::Print.into()).unwrap();
    let mut expected = g.clone();
    assert_eq!(expected.add_core_op(ids.main, ComputeOp::Print).unwrap(), node);
    assert!(store.load_program(p).unwrap() == expected);
}

#[test]
fn opening_a_locked_database_ends_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (db, p, g, _) = database(dir.path());
    // WAL mode (as the store leaves it): opening needs no write, so it succeeds.
    let release = hold_lock(&db, "BEGIN EXCLUSIVE");
    let (path, expected) = (db.clone(), g.clone());
    let opened = within(Duration::from_secs(10), move || {
        SqliteStore::open_with(&path, short_timeout()).and_then(|s| s.load_program(p)).map(|l| l == expected)
    });
    match opened {
        Ok(Ok(true)) | Ok(Err(StorageError::Busy)) => {}
        other => panic!("opening a locked WAL database: {other:?}"),
    }
    drop(release);

    // Rollback-journal mode: an exclusive lock blocks readers too, and opening must
    // switch the file to WAL, so the open fails with Busy once the timeout passed.
    // Leaving WAL mode needs every other connection closed, and SQLite answers BUSY at
    // once rather than waiting; the lock holder and the store's pool close theirs
    // asynchronously, so retry the switch for a while.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let conn = rusqlite::Connection::open(&db).unwrap();
        match conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get::<_, String>(0)) {
            Ok(mode) if mode == "delete" => break,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            other => panic!("could not leave WAL mode: {other:?}"),
        }
    }
    for c in companions(&db) {
        assert!(!c.exists());
    }
    let release = hold_lock(&db, "BEGIN EXCLUSIVE");
    let path = db.clone();
    let started = Instant::now();
    let opened = within(Duration::from_secs(10), move || SqliteStore::open_with(&path, short_timeout()).map(drop));
    assert!(matches!(opened, Ok(Err(StorageError::Busy))), "{opened:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(release);
    let store = SqliteStore::open_with(&db, short_timeout()).unwrap();
    assert!(store.load_program(p).unwrap() == g, "nothing was lost");
}
