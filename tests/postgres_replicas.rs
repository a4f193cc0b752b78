//! Readers on a streaming replica, the writer on the primary: reads go to the replica,
//! never show a store a state older than its own last commit, and never fail because
//! the replica lags, is paused or stops; a graph read from a lagging replica and saved
//! back loses nothing a CRUD edit relied on and is saved as on SQLite.
//!
//! Each test makes its own replica of the test server (`pg_support/server.rs`, a few
//! seconds); replay is paused to make a replica lag on purpose. Skipped without a
//! server or the PostgreSQL binaries (see `pg_support`).
#![cfg(feature = "postgres")]

#[path = "pg_support/mod.rs"]
mod pg_support;

#[path = "pg_support/server.rs"]
mod server;

use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::{ComputeNodeOp, ComputeOp, ConstValue, FunctionId, ModuleId, NodeId, TypeId, Visibility};
use lmlang_storage::postgres::{PgConfig, PgStore};
use lmlang_storage::store::{GraphStore, ProgramId, StorageError};
use pg_support::TestSchema;
use server::Server;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn constant(i: i64) -> ComputeNodeOp {
    ComputeOp::Const { value: ConstValue::I64(i) }.into()
}

/// A program with one function, `main`.
fn new_program(store: &PgStore, name: &str) -> (ProgramId, FunctionId) {
    let mut g = ProgramGraph::new("root");
    let f = g.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::UNIT).expect("function");
    (store.insert_program(name, &g).expect("insert"), f)
}

fn has_node(store: &PgStore, program: ProgramId, node: NodeId) -> bool {
    match store.get_node(program, node) {
        Ok(_) => true,
        Err(StorageError::NotFound { .. }) => false,
        Err(e) => panic!("get_node: {e}"),
    }
}

/// The test schema, a replica of the server, a store reading from it and one on the
/// primary alone (another instance, as far as the first can tell).
fn setup(config: impl FnOnce(PgConfig) -> PgConfig) -> Option<(TestSchema, Server, PgStore, PgStore)> {
    let schema = TestSchema::new()?;
    // The schema (and the tables the primary-only store migrates) exist before the
    // backup, so the replica starts with them.
    let other = schema.store();
    let replica = Server::replica_of(&schema.url)?;
    let store = PgStore::connect_replicated(&schema.url, &[&replica.url], config(schema.config()))
        .expect("a store on the primary and the replica");
    Some((schema, replica, store, other))
}

#[test]
fn reads_use_the_replica_but_never_show_a_state_older_than_the_stores_own_commit() {
    let Some((schema, replica, store, other)) = setup(|c| c) else { return };
    let (p, f) = new_program(&store, "p");
    // Read-your-writes for a new program, whatever the replica has replayed.
    assert_eq!(store.find_program("p").expect("find"), p);
    replica.catch_up(&mut schema.connection());

    // With replay paused, another instance's commit is invisible on the replica: a
    // read that does not see it was served there.
    replica.pause_replay();
    let theirs = other.insert_node(p, f, constant(1)).expect("the other instance's insert");
    assert!(!has_node(&store, p, theirs), "the read went to the (paused) replica");
    assert_eq!(store.list_programs().expect("list").len(), 1);

    // The store's own commit: the paused replica is now behind it, so every read goes
    // to the primary and shows the commit (and the other one before it).
    let mine = store.insert_node(p, f, constant(2)).expect("own insert");
    assert!(has_node(&store, p, mine), "read-your-writes");
    let loaded = store.load_program(p).expect("load");
    assert!(loaded.node(mine).is_some() && loaded.node(theirs).is_some());
    assert_eq!(store.find_nodes_by_owner(p, f).expect("query").len(), 2);

    // Once the replica replays past the store's commit, reads go back to it.
    replica.resume_replay();
    replica.catch_up(&mut schema.connection());
    replica.pause_replay();
    let later = other.insert_node(p, f, constant(3)).expect("insert");
    assert!(!has_node(&store, p, later), "the caught-up replica serves reads again");
    replica.resume_replay();
}

#[test]
fn a_graph_read_from_a_lagging_replica_never_becomes_a_lost_update() {
    let Some((schema, replica, store, other)) = setup(|c| c) else { return };
    let (p, f) = new_program(&store, "p");
    let base = store.insert_node(p, f, constant(0)).expect("insert");
    replica.catch_up(&mut schema.connection());
    replica.pause_replay();

    // Another instance commits; the store's load comes from the replica without it.
    let theirs = other.insert_node(p, f, constant(1)).expect("insert");
    let mut stale = store.load_program(p).expect("load");
    assert!(stale.node(theirs).is_none() && stale.node(base).is_some(), "the load came from the paused replica");

    // A CRUD edit after the stale read is made on the stored program, under its lock:
    // the other instance's node stays.
    let mine = store.insert_node(p, f, constant(2)).expect("insert");
    let stored = other.load_program(p).expect("load");
    assert!(stored.node(theirs).is_some() && stored.node(mine).is_some(), "nothing committed was lost");

    // Saving the stale graph back is compared with the stored program (its revision
    // moved on), not replayed from its journal: the program becomes exactly the graph
    // saved, as on SQLite when a caller saves a graph loaded before another writer's
    // commit. Nothing is written half-way; ids handed out since stay used.
    let added = stale.add_core_op(f, ComputeOp::Print).expect("edit");
    store.save_program(p, &stale).expect("save");
    let saved = other.load_program(p).expect("load");
    assert!(saved.nodes().eq(stale.nodes()), "the program is the graph saved, whole");
    assert_eq!(saved.hashes().program(), stale.hashes().program());
    // The stale graph's new node took the id the other instance's node had.
    assert_eq!(saved.node(added).map(|n| &n.op), Some(&ComputeOp::Print.into()));
    assert!(saved.next_ids().node >= stored.next_ids().node);
    replica.resume_replay();
}

#[test]
fn a_replica_stopped_mid_run_never_fails_a_read() {
    let Some((_schema, mut replica, store, _other)) =
        setup(|c| PgConfig { replica_retry_after: Duration::from_millis(100), ..c })
    else {
        return;
    };
    let store = Arc::new(store);
    let (p, f) = new_program(&store, "p");
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let (store, stop, acknowledged) = (Arc::clone(&store), Arc::clone(&stop), Arc::clone(&acknowledged));
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) && i < 5_000 {
                let node = store.insert_node(p, f, constant(i)).expect("writes go to the primary");
                acknowledged.lock().unwrap().push(node);
                i += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (store, stop, acknowledged) = (Arc::clone(&store), Arc::clone(&stop), Arc::clone(&acknowledged));
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // Whatever this store acknowledged before the read is in it.
                    let known = acknowledged.lock().unwrap().clone();
                    let g = store.load_program(p).expect("a load never fails");
                    assert!(known.iter().all(|n| g.node(*n).is_some()), "a load older than the store's commit");
                    if let Some(last) = known.last() {
                        store.get_node(p, *last).expect("a query never fails");
                    }
                    reads += 2;
                }
                reads
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1_500));
    replica.stop();
    std::thread::sleep(Duration::from_millis(1_500));
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("the writer");
    for reader in readers {
        assert!(reader.join().expect("a reader") > 0);
    }
    let all = acknowledged.lock().unwrap().clone();
    let g = store.load_program(p).expect("load");
    assert!(!all.is_empty() && all.iter().all(|n| g.node(*n).is_some()));
}

#[test]
fn an_unreachable_replica_never_fails_a_read() {
    let Some(schema) = TestSchema::new() else { return };
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").port();
    let absent = format!("postgres://nobody@127.0.0.1:{port}/none");
    let config = PgConfig { replica_timeout: Duration::from_millis(200), ..schema.config() };
    let store = PgStore::connect_replicated(&schema.url, &[&absent], config).expect("opens without the replica");
    let (p, f) = new_program(&store, "p");
    let n = store.insert_node(p, f, constant(1)).expect("insert");
    for _ in 0..3 {
        assert!(has_node(&store, p, n));
        assert!(store.load_program(p).expect("load").node(n).is_some());
    }
}
