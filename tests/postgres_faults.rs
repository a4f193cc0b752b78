//! Server faults: the store's server connections terminated (`pg_terminate_backend`,
//! what a server restart does to every client) while writers and readers run. Only
//! operations the server was running get an error, always the typed, retryable
//! `ConnectionLost`; the pool replaces dead connections by itself, work resumes in the
//! same process, and every acknowledged write is kept.
//!
//! Only this test's own backends are terminated (found by `application_name`), as the
//! server is shared with other tests; the restart is of a fresh cluster of the test's
//! own (`pg_support/server.rs`). Skipped without a server (see `pg_support`).
#![cfg(feature = "postgres")]

#[path = "pg_support/mod.rs"]
mod pg_support;

#[path = "pg_support/server.rs"]
mod server;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::{ComputeNodeOp, ComputeOp, ConstValue, FunctionId, ModuleId, NodeId, TypeId, Visibility};
use lmlang_storage::postgres::{Change, PgConfig, PgStore};
use lmlang_storage::store::{DatabaseErrorKind, GraphStore, ProgramId, StorageError};
use pg_support::TestSchema;
use server::Server;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn constant(i: i64) -> ComputeNodeOp {
    ComputeOp::Const { value: ConstValue::I64(i) }.into()
}

/// The test schema's URL with an `application_name` of its own.
fn named_url(schema: &TestSchema, name: &str) -> String {
    let separator = if schema.url.contains('?') { '&' } else { '?' };
    format!("{}{separator}application_name={name}", schema.url)
}

/// Terminates every backend named `name`; returns how many.
fn terminate(admin: &mut PgConnection, name: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let sql = "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
               WHERE application_name = $1 AND pid <> pg_backend_pid()";
    diesel::sql_query(sql).bind::<Text, _>(name).get_result::<Count>(admin).map(|c| c.n).expect("terminate")
}

fn is_connection_lost(e: &StorageError) -> bool {
    matches!(e, StorageError::Database { kind: DatabaseErrorKind::ConnectionLost, .. })
}

fn setup(schema: &TestSchema, name: &str, config: PgConfig) -> (PgStore, ProgramId, FunctionId) {
    let store = PgStore::connect_with(&named_url(schema, name), config).expect("store");
    let mut g = ProgramGraph::new("root");
    let f = g.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::UNIT).expect("function");
    let p = store.insert_program("p", &g).expect("insert");
    (store, p, f)
}

#[test]
fn connections_terminated_while_idle_cost_no_caller_an_error() {
    let Some(schema) = TestSchema::new() else { return };
    let name = format!("lmlang_idle_{}", std::process::id());
    let (store, p, f) = setup(&schema, &name, schema.config());
    // Fill the pool with connections, then end all of them while nothing runs.
    std::thread::scope(|s| {
        for i in 0..4 {
            let store = &store;
            s.spawn(move || store.insert_node(p, f, constant(i)).expect("insert"));
        }
    });
    let mut admin = schema.connection();
    assert!(terminate(&mut admin, &name) > 0, "the store had connections to end");
    // No operation was running: none may fail.
    let n = store.insert_node(p, f, constant(10)).expect("a write after the termination");
    assert!(terminate(&mut admin, &name) > 0);
    store.get_node(p, n).expect("a read after the termination");
    terminate(&mut admin, &name);
    assert_eq!(store.load_program(p).expect("a load after the termination").node_count(), 5);
}

/// What two writers and two readers on one store saw while `fault` ran.
struct Outcome {
    acknowledged: Vec<NodeId>,
    connection_lost: u64,
    other_errors: Vec<String>,
}

/// Runs two writer and two reader threads on `store` while `fault` runs, then checks
/// that only `ConnectionLost` reached them, that the same store works at once after,
/// and that every acknowledged node is stored.
fn under_load(store: PgStore, p: ProgramId, f: FunctionId, fault: impl FnOnce()) -> Outcome {
    let store = Arc::new(store);
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<NodeId>::new()));
    let lost = Arc::new(Mutex::new(0u64));
    let other_errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for w in 0..4i64 {
        let (store, stop, acknowledged, lost, other_errors) = (
            Arc::clone(&store),
            Arc::clone(&stop),
            Arc::clone(&acknowledged),
            Arc::clone(&lost),
            Arc::clone(&other_errors),
        );
        workers.push(std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) && i < 20_000 {
                i += 1;
                let result = if w < 2 {
                    store.insert_node(p, f, constant(i)).map(|n| acknowledged.lock().unwrap().push(n))
                } else {
                    store.load_program(p).map(drop)
                };
                match result {
                    Ok(()) => {}
                    Err(e) if is_connection_lost(&e) => *lost.lock().unwrap() += 1,
                    Err(e) => other_errors.lock().unwrap().push(e.to_string()),
                }
            }
        }));
    }
    fault();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("a worker");
    }
    let outcome = Outcome {
        acknowledged: acknowledged.lock().unwrap().clone(),
        connection_lost: *lost.lock().unwrap(),
        other_errors: other_errors.lock().unwrap().clone(),
    };
    assert!(outcome.other_errors.is_empty(), "errors other than ConnectionLost: {:?}", outcome.other_errors);
    // Work resumes in this process without a restart, on the same store.
    let after = store.insert_node(p, f, constant(-1)).expect("a write after the faults");
    let g = store.load_program(p).expect("a load after the faults");
    assert!(!outcome.acknowledged.is_empty(), "the writers committed something");
    let missing: Vec<_> = outcome.acknowledged.iter().filter(|n| g.node(**n).is_none()).collect();
    assert!(missing.is_empty(), "acknowledged nodes lost: {missing:?}");
    assert!(g.node(after).is_some());
    assert!(g.validate().is_empty());
    outcome
}

#[test]
fn connections_terminated_under_load_fail_only_in_flight_operations_and_lose_nothing_acknowledged() {
    let Some(schema) = TestSchema::new() else { return };
    let name = format!("lmlang_faults_{}", std::process::id());
    let (store, p, f) =
        setup(&schema, &name, PgConfig { connection_timeout: Duration::from_secs(5), ..schema.config() });
    let mut admin = schema.connection();
    let mut terminated = 0;
    let outcome = under_load(store, p, f, || {
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            terminated += terminate(&mut admin, &name);
            std::thread::sleep(Duration::from_millis(30));
        }
    });
    assert!(terminated > 0, "connections were terminated");
    println!(
        "terminated {terminated} backends; {} ConnectionLost errors; {} acknowledged",
        outcome.connection_lost,
        outcome.acknowledged.len()
    );
}

/// A real restart (`pg_ctl restart -m fast`), of a server of the test's own so the
/// shared one is left alone.
#[test]
fn a_server_restart_fails_only_in_flight_operations_and_work_resumes() {
    if pg_support::server().is_none() {
        return;
    }
    let Some(mut server) = Server::fresh() else { return };
    let config = PgConfig { pool_size: 4, connection_timeout: Duration::from_secs(5), ..PgConfig::default() };
    let store = PgStore::connect_with(&server.url, config).expect("a store on the fresh server");
    let mut g = ProgramGraph::new("root");
    let f = g.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::UNIT).expect("function");
    let p = store.insert_program("p", &g).expect("insert");
    let outcome = under_load(store, p, f, || {
        std::thread::sleep(Duration::from_millis(500));
        server.restart();
        std::thread::sleep(Duration::from_millis(500));
    });
    println!("restart: {} ConnectionLost errors; {} acknowledged", outcome.connection_lost, outcome.acknowledged.len());
}

#[test]
fn the_change_feed_survives_its_connection_being_terminated() {
    let Some(schema) = TestSchema::new() else { return };
    let name = format!("lmlang_feed_{}", std::process::id());
    let notifying = PgConfig { notify_changes: true, ..schema.config() };
    let (listener, p, f) = setup(&schema, &name, notifying.clone());
    let writer = PgStore::connect_with(&schema.url, notifying).expect("writer");
    let feed = listener.subscribe().expect("subscribe");
    let mut admin = schema.connection();
    assert!(terminate(&mut admin, &name) > 0);
    let wait = Duration::from_secs(20);
    assert_eq!(feed.recv_timeout(wait), Some(Change::Missed), "the feed says what it may have missed");
    writer.insert_node(p, f, constant(1)).expect("insert");
    let revision = writer.list_programs().expect("list")[0].revision;
    assert_eq!(feed.recv_timeout(wait), Some(Change::Committed { program: p, revision }));
}

/// A server that accepts connections and never answers (a hung host, a black-holed
/// port): the pool opens no connection within its timeout, which is `ConnectionLost`
/// (retry later), not `Timeout` ("every connection in use", which sends a service to
/// enlarge a pool that holds none). Needs no PostgreSQL server.
#[test]
fn a_server_that_never_answers_is_connection_lost_not_an_exhausted_pool() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
    let port = listener.local_addr().expect("its address").port();
    // Accepts and holds every connection, sending nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let url = format!("postgres://root@127.0.0.1:{port}/none?connect_timeout=30");
    let pool = diesel::r2d2::Pool::builder()
        .max_size(2)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_millis(700))
        .build_unchecked(diesel::r2d2::ConnectionManager::<PgConnection>::new(url));
    match PgStore::on_pool(pool, PgConfig::default()).list_programs() {
        Err(e) => assert_eq!(e.database_kind(), Some(DatabaseErrorKind::ConnectionLost), "{e:?}"),
        Ok(listed) => panic!("listed {listed:?} from a server that never answers"),
    }
}
