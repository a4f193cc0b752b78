//! SQLite-specific round trips: float bits through the JSON payload, the stored
//! semantic tables kept current by every kind of write, ids surviving reloads, and the
//! functions that run on a host service's own connection and transaction.

#[path = "common/mod.rs"]
mod common;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::*;
use lmlang_storage::sqlite::{self, SqliteConfig, SqliteStore};
use lmlang_storage::store::{FunctionUpdate, GraphStore, NewFunction, ProgramHistory, StorageError};
use lmlang_storage::synth::{SynthConfig, generate};
use proptest::prelude::*;

fn verifying_store() -> SqliteStore {
    SqliteStore::temporary_with(SqliteConfig::default().with_verify_semantic_on_load(true)).expect("store")
}

#[test]
fn float_constants_keep_their_bits() {
    let g = common::float_program();
    let store = SqliteStore::temporary().expect("store");
    let p = store.insert_program("floats", &g).expect("insert");
    let loaded = store.load_program(p).expect("load");
    for ((id, a), (_, b)) in g.nodes().zip(loaded.nodes()) {
        assert_eq!(a, b, "node {id}");
    }
    assert_eq!(loaded, g);
    // The single-row paths too.
    common::check_single_row_float_paths(&store, p, &g);
}

/// A write learns which rewritten nodes were calls as stored from the stored program
/// or history's before image when it has them, and from the rows otherwise: every way
/// must keep the stored `Calls` edges current (checked on each load).
#[test]
fn semantic_tables_follow_every_kind_of_write() {
    for history in [false, true] {
        semantic_tables_follow_writes(history);
    }
}

fn semantic_tables_follow_writes(history: bool) {
    let store = verifying_store();
    store.set_history(history);
    let p = store.create_program("skeleton").expect("program");
    let math = store.insert_module(p, ModuleId::ROOT, "math", Visibility::Public).expect("module");
    let io = store.insert_module(p, ModuleId::ROOT, "io", Visibility::Private).expect("module");
    let point = store
        .insert_named_type(
            p,
            math,
            Visibility::Public,
            "Point",
            LmType::Struct(StructDef {
                name: String::new(),
                type_id: TypeId(0),
                fields: [("x".to_string(), TypeId::F64)].into_iter().collect(),
                module: math,
                visibility: Visibility::Public,
            }),
        )
        .expect("type");
    let ptr = store.insert_type(p, LmType::Pointer { pointee: point, mutable: true }).expect("anonymous type");
    let new_fn = |name: &str, module, params: Vec<(String, TypeId)>| NewFunction {
        module,
        name: name.into(),
        visibility: Visibility::Public,
        params,
        return_type: TypeId::UNIT,
        closure_of: None,
    };
    let callee = store.insert_function(p, new_fn("callee", math, vec![("p".into(), ptr)])).expect("function");
    let caller = store.insert_function(p, new_fn("caller", ModuleId::ROOT, vec![])).expect("function");
    let closure = store
        .insert_function(
            p,
            NewFunction {
                closure_of: Some((
                    caller,
                    vec![Capture { name: "c".into(), captured_type: point, mode: CaptureMode::ByMutRef }],
                )),
                ..new_fn("inner", ModuleId::ROOT, vec![])
            },
        )
        .expect("closure");
    store.load_program(p).expect("verified after inserts");

    let call = store.insert_node(p, caller, ComputeOp::Call { target: callee }.into()).expect("call");
    let call2 = store.insert_node(p, caller, ComputeOp::Call { target: callee }.into()).expect("second call");
    store.insert_node(p, caller, ComputeOp::MakeClosure { function: closure }.into()).expect("closure node");
    store.load_program(p).expect("verified after calls");

    store.delete_node(p, call).expect("one call goes");
    store.load_program(p).expect("verified: the other call keeps the edge");
    store.update_node(p, call2, ComputeOp::Return.into()).expect("last call becomes a return");
    store.load_program(p).expect("verified: Calls edge gone");

    store.update_function(p, callee, FunctionUpdate { module: Some(io), ..Default::default() }).expect("move");
    store
        .update_function(p, callee, FunctionUpdate { signature: Some((vec![], TypeId::I32)), ..Default::default() })
        .expect("signature");
    store.update_module(p, math, "maths").expect("rename module");
    store.load_program(p).expect("verified after moves and renames");

    store.delete_function(p, callee).expect("delete function");
    let empty = store.insert_module(p, io, "empty", Visibility::Public).expect("module");
    store.delete_module(p, empty).expect("delete module");
    store.load_program(p).expect("verified after deletions");

    // A group of edits and a save of an unrelated copy.
    store
        .edit(p, &mut |g| {
            let f = g.add_function(ModuleId::ROOT, "grouped", Visibility::Public, vec![], TypeId::UNIT)?;
            let entry = g.add_core_op(f, ComputeOp::Call { target: caller })?;
            g.set_entry_node(f, Some(entry))?;
            Ok(())
        })
        .expect("group");
    let mut copy = store.load_program(p).expect("load");
    let extra = copy.add_function(ModuleId::ROOT, "extra", Visibility::Private, vec![], TypeId::UNIT).expect("f");
    copy.add_core_op(extra, ComputeOp::Call { target: caller }).expect("call");
    store.save_program(p, &copy).expect("save copy");
    assert_eq!(store.load_program(p).expect("verified after saves"), copy);

    // A loaded graph saved after its only call to `caller` became a return, then back:
    // saves the store follows by the graph's journal. A second store on the file
    // checks each step, so this one keeps following `g`.
    let check = SqliteStore::open_with(store.path(), SqliteConfig::default().with_verify_semantic_on_load(true))
        .expect("second store");
    let mut g = store.load_program(p).expect("load");
    let call = g
        .nodes()
        .find(|(_, n)| n.owner == extra && matches!(n.op, ComputeNodeOp::Core(ComputeOp::Call { .. })))
        .map(|(id, _)| id)
        .expect("the call in `extra`");
    let before = g.node(call).expect("node").op.clone();
    let calls_caller = |g: &ProgramGraph| g.callers(caller).contains(&extra);
    assert!(calls_caller(&g));
    g.modify_compute_node_op(call, ComputeOp::Return.into()).expect("rewrite");
    store.save_program(p, &g).expect("save the rewrite");
    assert!(!calls_caller(&check.load_program(p).expect("verified: the Calls edge gone")));
    g.modify_compute_node_op(call, before).expect("rewrite back");
    store.save_program(p, &g).expect("save it back");
    assert!(calls_caller(&check.load_program(p).expect("verified: the Calls edge back")));
    // The same rewrite in a clone, which the store does not follow (a clone starts a
    // lineage of its own): the save compares it with the stored program.
    let mut other = g.clone();
    other.modify_compute_node_op(call, ComputeOp::Return.into()).expect("rewrite the clone");
    store.save_program(p, &other).expect("save the clone");
    assert!(!calls_caller(&check.load_program(p).expect("verified after the clone's save")));
    if history {
        // Undo brings the call back, redo takes it away again.
        store.undo(p, None).expect("undo the clone's save");
        assert!(calls_caller(&check.load_program(p).expect("verified after undo")));
        store.redo(p, None).expect("redo");
        assert_eq!(check.load_program(p).expect("verified after redo"), other);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random programs, saved incrementally after random edits: every load equals the
    /// graph and the semantic tables equal its semantic graph.
    #[test]
    fn random_programs_and_edits_keep_tables_current(g in common::arb_program(), seed in any::<u64>()) {
        let store = verifying_store();
        let p = store.insert_program("random", &g).expect("insert");
        let mut g = store.load_program(p).expect("load");
        for round in 0..3u64 {
            common::apply_random_edits(&mut g, seed.wrapping_add(round), 12);
            store.save_program(p, &g).expect("save");
            prop_assert_eq!(&store.load_program(p).expect("load"), &g);
        }
        // And a graph the store never saw (compared with the stored one).
        let mut other = g.clone();
        common::apply_random_edits(&mut other, seed ^ 0xfeed, 20);
        store.save_program(p, &other).expect("save unrelated");
        prop_assert_eq!(&store.load_program(p).expect("load"), &other);
    }
}

/// `PRAGMA foreign_keys` as a connection has it.
#[derive(QueryableByName)]
struct ForeignKeys {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    foreign_keys: i32,
}

fn enforces_foreign_keys(conn: &mut SqliteConnection) -> bool {
    let rows: Vec<ForeignKeys> = diesel::sql_query("PRAGMA foreign_keys").load(conn).expect("pragma");
    rows[0].foreign_keys == 1
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// A new program is written without foreign-key and CHECK enforcement (the graph
    /// was checked whole): every reference its rows make must still hold, every CHECK
    /// must pass (`integrity_check` evaluates them), and the writer must enforce
    /// foreign keys again for the writes after it.
    #[test]
    fn inserted_programs_satisfy_every_constraint(g in common::arb_program()) {
        let store = SqliteStore::temporary().expect("store");
        store.insert_program("first", &g).expect("insert");
        store.insert_program("second", &g).expect("insert again");
        prop_assert_eq!(store.foreign_key_check().expect("foreign keys"), Vec::<String>::new());
        prop_assert_eq!(store.integrity_check().expect("integrity"), Vec::<String>::new());
        prop_assert!(store.backend().with_writer(|c| Ok(enforces_foreign_keys(c))).expect("writer"));
    }
}

#[test]
fn a_failed_insert_leaves_foreign_keys_enforced_and_nothing_written() {
    let store = SqliteStore::temporary().expect("store");
    let g = generate(&SynthConfig { nodes: 500, seed: 4, gaps: false });
    store.insert_program("taken", &g).expect("insert");
    let before = store.list_programs().expect("list");
    assert!(matches!(store.insert_program("taken", &g), Err(StorageError::DuplicateProgramName(_))));
    assert_eq!(store.list_programs().expect("list"), before);
    assert!(store.backend().with_writer(|c| Ok(enforces_foreign_keys(c))).expect("writer"));
    // The writer refuses a dangling row again.
    let dangling = store.backend().with_writer(|c| {
        Ok(c.batch_execute(
            "INSERT INTO lmlang_compute_nodes (program_id, owner_id, node_id, op) VALUES (1, 999999, 999999, 0)",
        ))
    });
    assert!(dangling.expect("writer").is_err(), "a node of a missing function was accepted");
}

#[test]
fn a_host_connection_keeps_its_own_foreign_key_setting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut conn = SqliteConnection::establish(dir.path().join("host.db").to_str().expect("path")).expect("open");
    sqlite::run_migrations(&mut conn).expect("migrate");
    let g = generate(&SynthConfig { nodes: 300, seed: 5, gaps: true });

    conn.batch_execute("PRAGMA foreign_keys = ON").expect("pragma");
    sqlite::insert_program(&mut conn, "on", &g).expect("insert");
    assert!(enforces_foreign_keys(&mut conn));

    conn.batch_execute("PRAGMA foreign_keys = OFF").expect("pragma");
    sqlite::insert_program(&mut conn, "off", &g).expect("insert");
    assert!(!enforces_foreign_keys(&mut conn));

    // Inside the host's transaction the setting cannot change and is left alone.
    conn.batch_execute("PRAGMA foreign_keys = ON").expect("pragma");
    conn.transaction(|c| sqlite::insert_program(c, "inside", &g).map(|_| ())).expect("host transaction");
    assert!(enforces_foreign_keys(&mut conn));
    for name in ["on", "off", "inside"] {
        let id = sqlite::find_program(&mut conn, name).expect("stored");
        assert_eq!(sqlite::load_program(&mut conn, id).expect("load"), g);
    }
}

#[test]
fn a_bulk_insert_is_checkpointed_into_the_file_without_the_caller() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bulk.db");
    let store = SqliteStore::open(&path).expect("store");
    let empty = std::fs::metadata(&path).expect("file").len();
    let g = generate(&SynthConfig { nodes: 20_000, seed: 6, gaps: false });
    let p = store.insert_program("bulk", &g).expect("insert");
    // Committed when the call returns: another connection sees it at once.
    let other = SqliteStore::open(&path).expect("second store");
    assert_eq!(other.load_program(p).expect("load"), g);
    // The commit skipped SQLite's own checkpoint; the store's checkpoint thread copies
    // the pages into the database file soon after. (A generous deadline: this is not
    // a timing test, the file must simply get there.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::metadata(&path).expect("file").len() < empty + 1_000_000 {
        assert!(std::time::Instant::now() < deadline, "the WAL was never checkpointed into the file");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // With every page copied, the thread also empties the WAL, so that the next
    // commit does not pay for cutting it back (the kernel drops the cut part of the
    // file from its cache, tens of milliseconds after a large save).
    // (The thread retries for 30 s while the other store's load holds a read lock.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let wal = dir.path().join("bulk.db-wal");
    while std::fs::metadata(&wal).map_or(0, |m| m.len()) > 0 {
        assert!(std::time::Instant::now() < deadline, "the WAL was never emptied");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(store);
    assert_eq!(other.load_program(p).expect("load after the first store closed"), g);
    assert_eq!(other.integrity_check().expect("integrity"), Vec::<String>::new());
}

#[test]
fn ids_survive_a_reload_with_holes() {
    let g = generate(&SynthConfig { nodes: 4_000, seed: 3, gaps: true });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ids.db");
    let p = SqliteStore::open(&path).expect("store").insert_program("gaps", &g).expect("insert");
    let store = SqliteStore::open(&path).expect("reopen");
    let mut loaded = store.load_program(p).expect("load");
    assert_eq!(loaded, g);
    assert_eq!(loaded.next_ids(), g.next_ids());
    let mut original = g.clone();
    let f = g.functions().next().map(|f| f.id).expect("a function");
    let expected = original.add_core_op(f, ComputeOp::Print).expect("add");
    assert_eq!(loaded.add_core_op(f, ComputeOp::Print).expect("add"), expected);
    assert_eq!(store.insert_node(p, f, ComputeOp::Print.into()).expect("insert"), expected);
}

#[test]
fn a_checkpoint_waits_for_the_thread_and_a_busy_writer_keeps_the_wal_bounded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("busy.db");
    let wal = dir.path().join("busy.db-wal");
    let every = 100;
    let store = SqliteStore::open_with(&path, SqliteConfig::default().with_wal_autocheckpoint(every)).expect("store");
    let g = generate(&SynthConfig { nodes: 20_000, seed: 8, gaps: false });
    // After a bulk save the checkpoint thread copies its pages. SQLite answers a
    // second checkpoint with `busy` at once (it did for 16 of 20 saves here before
    // the store's waited), so `checkpoint` waits for the thread's: the WAL is empty
    // when it returns, whenever it is called.
    let mut p = None;
    for k in 0..5u64 {
        p = Some(store.insert_program(&format!("busy {k}"), &g).expect("insert"));
        std::thread::sleep(std::time::Duration::from_millis(k));
        assert!(!store.checkpoint().expect("checkpoint").busy, "checkpoint {k} was refused");
        assert_eq!(std::fs::metadata(&wal).expect("wal").len(), 0, "checkpoint {k} left a WAL");
    }
    let p = p.expect("a program");
    let before = std::fs::metadata(&path).expect("file").len();
    let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("connection");
    let page = diesel::sql_query("PRAGMA page_size").get_result::<PageSize>(&mut conn).expect("page size").page_size;
    drop(conn);

    // Back to back, as an agent's edits come. SQLite never shrinks a WAL file below
    // the most it held, so its size bounds the WAL over the whole burst: the writer
    // checkpoints every `wal_autocheckpoint` pages (unchecked, 1,500 commits of about
    // four pages each would make some 6,000 frames).
    let f = g.functions().next().map(|f| f.id).expect("a function");
    let commits = 1_500;
    for _ in 0..commits {
        store.insert_node(p, f, ComputeOp::Print.into()).expect("insert");
    }
    let frame = page as u64 + 24;
    let most = u64::from(every + 64) * frame + 32;
    let held = std::fs::metadata(&wal).expect("wal").len();
    assert!(held <= most, "the WAL grew to {held} bytes, more than {most}");
    assert!(std::fs::metadata(&path).expect("file").len() > before, "no commit was checkpointed into the file");
    assert!(!store.checkpoint().expect("checkpoint").busy);
    assert_eq!(std::fs::metadata(&wal).expect("wal").len(), 0);
    let other = SqliteStore::open(&path).expect("second store");
    assert_eq!(other.load_program(p).expect("load").node_count(), g.node_count() + commits);
    assert_eq!(other.integrity_check().expect("integrity"), Vec::<String>::new());
}

#[derive(QueryableByName)]
struct PageSize {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    page_size: i32,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[test]
fn saves_and_loads_join_a_host_transaction() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("host.db");
    let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("connection");
    sqlite::run_migrations(&mut conn).expect("migrations");
    conn.batch_execute("PRAGMA foreign_keys = ON; CREATE TABLE host_notes (note TEXT NOT NULL);").expect("host table");
    let g = generate(&SynthConfig { nodes: 500, seed: 1, gaps: false });

    // A failed host transaction takes the program with it.
    let failed: Result<(), StorageError> = conn.immediate_transaction(|conn| {
        conn.batch_execute("INSERT INTO host_notes VALUES ('first')")?;
        sqlite::insert_program(conn, "app", &g)?;
        Err(StorageError::InvalidProgramName("the host changed its mind".into()))
    });
    assert!(failed.is_err());
    assert!(matches!(sqlite::find_program(&mut conn, "app"), Err(StorageError::ProgramNotFound(_))));

    // A committed one keeps both, and reads inside it see its own writes.
    let id = conn
        .immediate_transaction(|conn| {
            conn.batch_execute("INSERT INTO host_notes VALUES ('second')")?;
            let id = sqlite::insert_program(conn, "app", &g)?;
            assert_eq!(sqlite::load_program(conn, id)?, g);
            let mut edited = g.clone();
            lmlang_storage::synth::one_node_edit(&mut edited, 4).expect("an edit");
            let report = sqlite::save_program(conn, id, &edited)?;
            assert_eq!((report.rows_written, report.rows_deleted), (1, 0));
            Ok::<_, StorageError>(id)
        })
        .expect("host transaction");
    let notes: Vec<Count> = diesel::sql_query("SELECT count(*) AS n FROM host_notes").load(&mut conn).expect("count");
    assert_eq!(notes[0].n, 1);

    // Outside a transaction each call makes its own; a store sees what the host wrote.
    let loaded = sqlite::load_program(&mut conn, id).expect("load");
    let store = SqliteStore::open(&path).expect("store");
    assert_eq!(store.load_program(id).expect("store load"), loaded);
    sqlite::delete_program(&mut conn, id).expect("delete");
    assert!(matches!(store.load_program(id), Err(StorageError::ProgramNotFound(_))));
    assert_eq!(store.schema_version().expect("version"), sqlite::schema_version(&mut conn).expect("version"));
}

#[test]
fn maintenance_reports_a_sound_file() {
    let store = SqliteStore::temporary().expect("store");
    store.insert_program("p", &generate(&SynthConfig { nodes: 2_000, seed: 2, gaps: true })).expect("insert");
    assert_eq!(store.integrity_check().expect("integrity"), Vec::<String>::new());
    assert_eq!(store.foreign_key_check().expect("foreign keys"), Vec::<String>::new());
    let checkpoint = store.checkpoint().expect("checkpoint");
    assert!(!checkpoint.busy);
    assert!(store.database_bytes().expect("size") > 0);
}

#[test]
fn a_panic_inside_a_write_rolls_it_back_and_the_store_goes_on() {
    let store = SqliteStore::temporary().expect("store");
    let g = generate(&SynthConfig { nodes: 300, seed: 8, gaps: false });
    let p = store.insert_program("p", &g).expect("insert");
    let f = g.functions().next().map(|f| f.id).expect("a function");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.edit(p, &mut |g| {
            g.add_core_op(f, ComputeOp::Print)?;
            panic!("a caller's edit closure panics half-way");
        })
    }));
    assert!(outcome.is_err(), "the panic reached the caller");
    assert_eq!(store.load_program(p).expect("load"), g, "nothing of the panicked write is stored");
    // The write lock went with the panic, before this store writes again: another
    // store on the file writes at once (it used to wait out its busy timeout, `Busy`).
    let other = SqliteStore::open_with(
        store.path(),
        SqliteConfig::default().with_busy_timeout(std::time::Duration::from_millis(200)),
    )
    .expect("a second store");
    other.rename_program(p, "renamed by another store").expect("no lock left behind");
    other.rename_program(p, "p").expect("and back");
    drop(other);
    let mut expected = g.clone();
    let id = store.insert_node(p, f, ComputeOp::Print.into()).expect("the writer works again");
    assert_eq!(expected.add_core_op(f, ComputeOp::Print).expect("add"), id);
    assert_eq!(store.load_program(p).expect("load"), expected);
}

#[derive(QueryableByName, Debug, PartialEq)]
struct MmapSize {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    mmap_size: i64,
}

#[derive(QueryableByName, Debug, PartialEq)]
struct CacheSize {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    cache_size: i64,
}

/// A reader's memory map and page cache, as SQLite reports them.
fn map_and_cache(conn: &mut SqliteConnection) -> (i64, i64) {
    let map = diesel::sql_query("PRAGMA mmap_size").get_result::<MmapSize>(conn).expect("mmap_size");
    let cache = diesel::sql_query("PRAGMA cache_size").get_result::<CacheSize>(conn).expect("cache_size");
    (map.mmap_size, cache.cache_size)
}

/// A load past `stream_loads_from_edges` reads the file without the memory map,
/// through a small cache (so the file's pages do not count in the process's memory),
/// then gives every reader it used back with the store's own settings: one reader for
/// a one-connection load, two for a split load.
#[test]
fn a_large_load_gives_its_readers_back_as_configured() {
    let g = generate(&SynthConfig { nodes: 15_000, seed: 4, gaps: false });
    assert!(g.edge_count() >= 20_000, "large enough to stream (and to split)");
    for readers in [1, 2] {
        let config = SqliteConfig::default()
            .with_max_readers(readers)
            .with_min_idle_readers(readers)
            .with_stream_loads_from_edges(20_000)
            .with_mmap_size(48 << 20)
            .with_cache_size_kib(3 * 1024);
        let store = SqliteStore::temporary_with(config).expect("store");
        let p = store.insert_program("big", &g).expect("insert");
        for _ in 0..2 {
            assert_eq!(store.load_program(p).expect("load"), g);
            let seen = store
                .backend()
                .with_reader(|a| {
                    let first = map_and_cache(a);
                    if readers == 1 {
                        return Ok(vec![first]);
                    }
                    store.backend().with_reader(|b| Ok(vec![first, map_and_cache(b)]))
                })
                .expect("every reader");
            assert_eq!(seen, vec![(48 << 20, -3 * 1024); readers as usize], "{readers} reader(s)");
        }
    }
}

/// An undo on top of a commit made with recording off is refused as
/// `RevisionNotFound` (its record, which says what to undo, is missing), not as
/// "nothing to undo" while the log shows older edits, nor on a program that never
/// recorded anything; only one with nothing but its create commit has `NothingTo`.
#[test]
fn an_undo_over_an_unrecorded_commit_says_its_record_is_missing() {
    use lmlang_storage::store::InMemoryStore;
    fn check<S: GraphStore + ProgramHistory>(store: &S, set_history: &dyn Fn(bool)) {
        let mut g = ProgramGraph::new("app");
        let main = g.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::I32).expect("main");
        set_history(true);
        let p = store.insert_program("gap", &g).expect("insert");
        store.insert_node(p, main, ComputeOp::Print.into()).expect("recorded");
        set_history(false);
        store.insert_node(p, main, ComputeOp::Print.into()).expect("unrecorded");
        let (_, current) = store.load_program_with_revision(p).expect("load");
        set_history(true);
        match store.undo(p, None) {
            Err(StorageError::RevisionNotFound { program, revision }) => assert_eq!((program, revision), (p, current)),
            other => panic!("undo over an unrecorded commit: {other:?}"),
        }
        assert_eq!(store.load_program_with_revision(p).expect("load").1, current, "nothing was written");
        set_history(false);
        let never = store.insert_program("never", &g).expect("insert");
        set_history(true);
        assert!(matches!(store.undo(never, None), Err(StorageError::NothingTo { .. })));
        set_history(false);
        store.insert_node(never, main, ComputeOp::Print.into()).expect("unrecorded");
        set_history(true);
        assert!(matches!(store.undo(never, None), Err(StorageError::RevisionNotFound { revision: 2, .. })));
    }
    let memory = InMemoryStore::new();
    check(&memory, &|on| memory.set_history(on));
    let file = SqliteStore::temporary().expect("store");
    check(&file, &|on| file.set_history(on));
}

/// `Retention::Newest(n)` keeps the n newest entries, however many commits without
/// history lie between them (it used to count back revisions and drop entries it should
/// have kept), on the in-memory backend as on SQLite.
#[test]
fn keeping_the_newest_entries_counts_entries_not_revisions() {
    use lmlang_storage::store::{InMemoryStore, LogPage, Retention};
    fn check<S: GraphStore + ProgramHistory>(store: &S, set_history: &dyn Fn(bool)) {
        let mut g = ProgramGraph::new("app");
        let main = g.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::I32).expect("main");
        set_history(true);
        let p = store.insert_program("gaps", &g).expect("insert");
        let commit = |recorded: bool| {
            set_history(recorded);
            store.insert_node(p, main, ComputeOp::Print.into()).expect("commit");
        };
        (0..4).for_each(|_| commit(true));
        (0..10).for_each(|_| commit(false));
        commit(true);
        let log = |store: &S| -> Vec<u64> {
            store.log(p, LogPage { before: None, limit: 100 }).expect("log").iter().map(|e| e.revision).collect()
        };
        assert_eq!(log(store), vec![16, 5, 4, 3, 2, 1]);
        assert_eq!(store.prune_history(p, Retention::Newest(3)).expect("prune"), 3);
        assert_eq!(log(store), vec![16, 5, 4]);
        assert_eq!(store.prune_history(p, Retention::Newest(5)).expect("prune"), 0, "fewer than asked: all stay");
        // With the newest commit unrecorded, keeping one entry keeps the newest there is.
        commit(false);
        assert_eq!(store.prune_history(p, Retention::Newest(1)).expect("prune"), 2);
        assert_eq!(log(store), vec![16]);
    }
    let memory = InMemoryStore::new();
    check(&memory, &|on| memory.set_history(on));
    let file = SqliteStore::temporary().expect("store");
    check(&file, &|on| file.set_history(on));
}

/// `SqliteStore`'s own maintenance calls run on the writer connection, which an edit
/// closure of the same store holds: from there they are refused as `Reentrant` (they
/// waited for good), and outside it they work.
#[test]
fn maintenance_calls_from_inside_an_edit_are_refused() {
    let store = SqliteStore::temporary().expect("store");
    let mut g = ProgramGraph::new("app");
    let main = g.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::I32).expect("main");
    let p = store.insert_program("maintained", &g).expect("insert");
    let watchdog = common::Watchdog::start("a maintenance call inside an edit");
    let mut answers = Vec::new();
    store
        .edit(p, &mut |g| {
            answers.push(("schema_version", store.schema_version().map(drop)));
            answers.push(("checkpoint", store.checkpoint().map(drop)));
            answers.push(("vacuum", store.vacuum()));
            g.add_core_op(main, ComputeOp::Print).map(drop)
        })
        .expect("the edit");
    drop(watchdog);
    for (what, answer) in answers {
        assert!(matches!(answer, Err(StorageError::Reentrant)), "{what}: {answer:?}");
    }
    store.schema_version().expect("outside the edit");
    store.checkpoint().expect("outside the edit");
    assert_eq!(store.load_program(p).expect("load").node_count(), 1);
}
