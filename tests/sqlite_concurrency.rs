//! Real concurrency on one database file: readers load and query while writers commit.
//! No `Busy` error reaches a caller, and every load equals a state some writer
//! committed, never half of one.

#[path = "common/mod.rs"]
mod common;

use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::{ComputeOp, ConstValue, FlowEdge, NodeId};
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{GraphStore, StorageError};
use lmlang_storage::synth::{SynthConfig, generate};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// A graph's stored form, to compare states cheaply.
fn fingerprint(g: &ProgramGraph) -> String {
    serde_json::to_string(&g.to_document()).expect("document JSON")
}

#[test]
fn readers_see_whole_commits_and_never_busy() {
    readers_see_whole_commits(3_000, true, 60);
}

#[test]
fn big_loads_split_over_two_connections_still_see_whole_commits() {
    // Past 20,000 edges a load reads edges and the rest on two connections at once,
    // and keeps the result only if both read the same revision.
    readers_see_whole_commits(12_000, false, 12);
}

fn readers_see_whole_commits(nodes: usize, gaps: bool, commits: i64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("concurrent.db");
    let store = Arc::new(SqliteStore::open(&path).expect("store"));
    let mut g = generate(&SynthConfig { nodes, seed: 5, gaps });
    let program = store.insert_program("shared", &g).expect("insert");

    // Every state a writer commits, recorded before the commit so a reader can never
    // see one that is not here.
    let committed: Arc<Mutex<HashSet<String>>> = Arc::new(Mutex::new(HashSet::from([fingerprint(&g)])));
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..3)
        .map(|r| {
            // Reader 2 uses its own store on the same file, as another process would.
            let store = if r == 2 { Arc::new(SqliteStore::open(&path).expect("second store")) } else { store.clone() };
            let done = done.clone();
            thread::spawn(move || -> Result<Vec<String>, StorageError> {
                let mut seen = Vec::new();
                while !done.load(Ordering::Relaxed) || seen.is_empty() {
                    let loaded = store.load_program(program)?;
                    seen.push(fingerprint(&loaded));
                    let f = loaded.functions().next().map(|f| f.id).expect("a function");
                    let body = store.find_nodes_by_owner(program, f)?;
                    if let Some((n, _)) = body.first() {
                        store.find_edges_from(program, *n)?;
                        store.get_node(program, *n)?;
                    }
                    store.list_programs()?;
                }
                Ok(seen)
            })
        })
        .collect();

    // The writer: small groups of edits, mirrored on its own copy to know each state.
    let f = g.functions().nth(2).map(|f| f.id).expect("a function");
    for i in 0..commits {
        let mut step = |g: &mut ProgramGraph| -> Result<(), lmlang_storage::graph::GraphError> {
            let id = g.add_core_op(f, ComputeOp::Const { value: ConstValue::I64(i) })?;
            if i % 3 == 0 {
                g.remove_compute_node(id)?;
            }
            Ok(())
        };
        step(&mut g).expect("edit");
        committed.lock().expect("lock").insert(fingerprint(&g));
        store.edit(program, &mut step).expect("commit");
    }
    // A bigger commit while readers run: a second program.
    let other = generate(&SynthConfig { nodes: 5_000, seed: 9, gaps: false });
    store.insert_program("other", &other).expect("insert other");
    done.store(true, Ordering::Relaxed);

    let committed = committed.lock().expect("lock");
    let mut loads = 0;
    for r in readers {
        let seen = r.join().expect("reader thread").expect("no reader error (Busy included)");
        loads += seen.len();
        for s in &seen {
            assert!(committed.contains(s), "a reader loaded a state no writer committed");
        }
    }
    assert!(loads >= 3, "readers ran");
    assert_eq!(store.load_program(program).expect("final load"), g);
}

#[test]
fn two_stores_writing_one_program_wait_for_each_other() {
    // Two stores on one file behave like two processes: each write waits for the
    // other's lock (BEGIN IMMEDIATE under busy_timeout) and notices the other's commits
    // through the program's revision.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("writers.db");
    let a = Arc::new(SqliteStore::open(&path).expect("store a"));
    let b = Arc::new(SqliteStore::open(&path).expect("store b"));
    let program = a.create_program("shared").expect("program");
    let f = a
        .insert_function(
            program,
            lmlang_storage::store::NewFunction {
                module: lmlang_storage::model::ModuleId::ROOT,
                name: "f".into(),
                visibility: lmlang_storage::model::Visibility::Public,
                params: vec![],
                return_type: lmlang_storage::model::TypeId::UNIT,
                closure_of: None,
            },
        )
        .expect("function");
    let write = |store: Arc<SqliteStore>| {
        thread::spawn(move || -> Result<Vec<lmlang_storage::model::NodeId>, StorageError> {
            (0..150)
                .map(|i| store.insert_node(program, f, ComputeOp::Const { value: ConstValue::I32(i) }.into()))
                .collect()
        })
    };
    let (ta, tb) = (write(a.clone()), write(b.clone()));
    let ids_a = ta.join().expect("writer a").expect("writer a never sees Busy");
    let ids_b = tb.join().expect("writer b").expect("writer b never sees Busy");
    let mut all: Vec<_> = ids_a.iter().chain(&ids_b).copied().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 300, "no id was handed out twice");
    let loaded = b.load_program(program).expect("load");
    assert_eq!(loaded.node_count(), 300);
    assert_eq!(loaded, a.load_program(program).expect("load from a"));
}

#[test]
fn a_store_notices_every_commit_another_store_makes_between_its_own() {
    // The writer trusts the program rows its own last commit left as long as no other
    // connection has committed since; every kind of foreign commit must end that trust.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("alternating.db");
    let a = SqliteStore::open(&path).expect("store a");
    let b = SqliteStore::open(&path).expect("store b");
    let program = a.insert_program("shared", &generate(&SynthConfig::new(300))).expect("program");
    let f = a.load_program(program).expect("load").functions().next().expect("a function").id;
    let op = |i: i32| ComputeOp::Const { value: ConstValue::I32(i) }.into();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(a.insert_node(program, f, op(i)).expect("a inserts"));
        ids.push(b.insert_node(program, f, op(-i)).expect("b inserts"));
    }
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ids.len(), "no id was handed out twice");
    assert_eq!(a.load_program(program).expect("load a"), b.load_program(program).expect("load b"));

    // A rename through the other store, then a refused edit and a commit of this one.
    b.rename_program(program, "renamed").expect("rename");
    assert!(a.insert_edge(program, ids[0], NodeId(4_000_000_000), FlowEdge::Control { branch_index: None }).is_err());
    let after = a.insert_node(program, f, op(99)).expect("a inserts after the rename");
    assert_eq!(b.get_node(program, after).expect("b reads it").owner, f);
    assert_eq!(a.find_program("renamed").expect("found by its new name"), program);

    // Maintenance on this store's own writer between commits.
    a.vacuum().expect("vacuum");
    a.insert_node(program, f, op(100)).expect("a inserts after a vacuum");

    // The program deleted by the other store.
    b.delete_program(program).expect("delete");
    assert!(matches!(a.insert_node(program, f, op(7)), Err(StorageError::ProgramNotFound(_))));
    assert!(a.list_programs().expect("list").is_empty());
}

/// Read-edit-save cycles of two stores on one file, each saved only over the revision
/// it read: every cycle's node is there at the end (a plain `save_program` would drop
/// the other store's nodes saved in between).
#[test]
fn read_edit_save_cycles_of_two_stores_lose_no_update() {
    use lmlang_storage::model::{ModuleId, TypeId, Visibility};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cycles.db");
    let (a, b) = (SqliteStore::open(&path).unwrap(), SqliteStore::open(&path).unwrap());
    let mut g = ProgramGraph::new("cycles");
    let f = g.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::UNIT).unwrap();
    let p = a.insert_program("cycles", &g).unwrap();
    let expected = common::read_edit_save_cycles(&[&a, &b], p, f, 25);
    assert_eq!(b.load_program(p).unwrap().node_count(), expected);
}
