//! A service on PostgreSQL lending its own connection: inside the service's
//! transaction the store's writes commit or roll back with the service's rows, a
//! refused store write undoes only its own savepoint, and the store's reads see the
//! transaction's uncommitted state while other connections do not. The same holds for
//! a service's test pool, whose connections are in a test transaction. A connection
//! lost under the store is reported as such. Skipped without a server (see
//! `pg_support`).
#![cfg(feature = "postgres")]

#[path = "pg_support/mod.rs"]
mod pg_support;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::{ComputeOp, ConstValue, FunctionId, ModuleId, TypeId, Visibility};
use lmlang_storage::postgres::{PgConfig, PgConnectionStore, PgStore};
use lmlang_storage::store::{DatabaseErrorKind, GraphStore, ProgramId, StorageError, StorageResult};
use pg_support::TestSchema;

/// A schema migrated by the store, with a table of the service's own beside ours.
fn service_schema() -> Option<TestSchema> {
    let schema = TestSchema::new()?;
    drop(schema.store());
    schema.connection().batch_execute("CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT NOT NULL)").expect("users");
    Some(schema)
}

fn users(conn: &mut PgConnection) -> i64 {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT count(*) FROM users)"))
        .get_result(conn)
        .expect("count")
}

#[test]
fn the_service_transaction_rolls_back_its_rows_and_the_program_together() {
    let Some(schema) = service_schema() else { return };
    let mut conn = schema.connection();
    let outcome: Result<(), StorageError> = conn.transaction(|c| {
        c.batch_execute("INSERT INTO users VALUES (1, 'ada')")?;
        let store = PgConnectionStore::on_connection(c);
        let p = store.insert_program("app", &ProgramGraph::new("app"))?;
        // The store reads what the open transaction wrote.
        assert_eq!(store.load_program(p)?, ProgramGraph::new("app"));
        Err(StorageError::InvalidProgramName("the service gives up".into()))
    });
    assert!(outcome.is_err());
    assert_eq!(users(&mut conn), 0);
    assert!(schema.store().list_programs().expect("list").is_empty(), "the program rolled back with the service");
}

#[test]
fn the_service_transaction_commits_its_rows_and_the_program_together() {
    let Some(schema) = service_schema() else { return };
    let mut conn = schema.connection();
    let other = schema.store();
    conn.transaction(|c| {
        c.batch_execute("INSERT INTO users VALUES (1, 'ada')")?;
        let store = PgConnectionStore::on_connection(c);
        store.insert_program("app", &ProgramGraph::new("app"))?;
        // Until the service commits, nobody else sees the program.
        assert!(other.list_programs()?.is_empty());
        Ok::<_, StorageError>(())
    })
    .expect("the service commits");
    assert_eq!(users(&mut conn), 1);
    assert_eq!(other.list_programs().expect("list").len(), 1);
}

#[test]
fn a_refused_store_write_undoes_only_its_savepoint() {
    let Some(schema) = service_schema() else { return };
    let mut conn = schema.connection();
    conn.transaction(|c| {
        c.batch_execute("INSERT INTO users VALUES (1, 'ada')")?;
        let store = PgConnectionStore::on_connection(c);
        store.insert_program("app", &ProgramGraph::new("app"))?;
        // A duplicate name fails inside the store's savepoint; the service's
        // transaction stays usable and keeps everything before it.
        assert!(matches!(
            store.insert_program("app", &ProgramGraph::new("app")),
            Err(StorageError::DuplicateProgramName(_))
        ));
        store.create_program("second")?;
        drop(store);
        c.batch_execute("INSERT INTO users VALUES (2, 'grace')")?;
        Ok::<_, StorageError>(())
    })
    .expect("the service commits");
    assert_eq!(users(&mut conn), 2);
    let names: Vec<String> = schema.store().list_programs().expect("list").into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["app", "second"]);
}

/// A store write that fails in the database (here: the program's row locked elsewhere
/// past the service's `lock_timeout`) rolls back its savepoint only: the service's
/// transaction goes on and commits its own rows and the store's later writes.
#[test]
fn a_store_write_failing_in_the_database_leaves_the_service_transaction_usable() {
    let Some(schema) = service_schema() else { return };
    let p = schema.store().create_program("app").expect("create");
    let mut holder = schema.connection();
    holder
        .batch_execute(&format!("BEGIN; SELECT id FROM lmlang_programs WHERE id = {} FOR UPDATE", p.0))
        .expect("lock");
    let mut conn = schema.connection();
    conn.transaction(|c| {
        c.batch_execute("SET LOCAL lock_timeout = '100ms'; INSERT INTO users VALUES (1, 'ada')")?;
        let store = PgConnectionStore::on_connection(c);
        assert!(matches!(store.rename_program(p, "renamed"), Err(StorageError::Busy)), "the lock timed out");
        drop(store);
        // The service's own statement meeting the same lock, converted as the README
        // says, is the same variant.
        let own = c.transaction(|c| {
            let update = format!("UPDATE lmlang_programs SET revision = revision WHERE id = {}", p.0);
            c.batch_execute(&update).map_err(lmlang_storage::postgres::classify)
        });
        assert!(matches!(own, Err(StorageError::Busy)), "{own:?}");
        holder.batch_execute("ROLLBACK").expect("unlock");
        let store = PgConnectionStore::on_connection(c);
        store.rename_program(p, "renamed")?;
        drop(store);
        c.batch_execute("INSERT INTO users VALUES (2, 'grace')")?;
        Ok::<_, StorageError>(())
    })
    .expect("the service commits");
    assert_eq!(users(&mut conn), 2);
    assert_eq!(schema.store().find_program("renamed").expect("renamed"), p);
}

#[test]
fn a_name_postgresql_cannot_hold_leaves_the_service_transaction_usable() {
    // A NUL sent to the server fails the statement, and with it the service's whole
    // transaction: the look-up answers without asking.
    let Some(schema) = service_schema() else { return };
    let mut conn = schema.connection();
    conn.transaction(|c| {
        c.batch_execute("INSERT INTO users VALUES (1, 'ada')")?;
        let store = PgConnectionStore::on_connection(c);
        assert!(matches!(store.find_program("bad\0name"), Err(StorageError::ProgramNotFound(_))));
        drop(store);
        c.batch_execute("INSERT INTO users VALUES (2, 'grace')")?;
        Ok::<_, StorageError>(())
    })
    .expect("the service commits");
    assert_eq!(users(&mut conn), 2);
}

/// A load that fails inside the service's transaction (here: the service pointed
/// `search_path` elsewhere) undoes only its own savepoint: the service's transaction
/// and rows stay usable.
#[test]
fn a_failed_load_in_the_service_transaction_leaves_it_usable() {
    let Some(schema) = service_schema() else { return };
    let p = schema.store().insert_program("app", &ProgramGraph::new("app")).expect("program");
    let mut conn = schema.connection();
    let back = format!("SET LOCAL search_path TO \"{}\"", schema.name);
    conn.transaction(|c| {
        c.batch_execute("INSERT INTO users VALUES (1, 'ada'); SET LOCAL search_path TO pg_catalog")?;
        let err = PgConnectionStore::on_connection(c).load_program(p).expect_err("no tables there");
        assert!(matches!(err, StorageError::Database { .. }), "{err:?}");
        c.batch_execute(&back)?;
        assert_eq!(users(c), 1, "the service's transaction is still usable");
        assert_eq!(PgConnectionStore::on_connection(c).load_program(p)?, ProgramGraph::new("app"));
        Ok::<_, StorageError>(())
    })
    .expect("the service commits");
    assert_eq!(users(&mut conn), 1);
}

/// Loads in the service's `READ COMMITTED` transactions while another instance saves
/// two versions of the program in turn: each load is one of the two versions, never a
/// mixture of both (which a load of several statements read before: a graph never
/// committed, or a false `Corrupt`).
#[test]
fn loads_in_read_committed_service_transactions_never_mix_two_commits() {
    use lmlang_storage::synth::{SynthConfig, generate};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let Some(schema) = service_schema() else { return };
    let a = generate(&SynthConfig { nodes: 600, seed: 1, gaps: false });
    let b = generate(&SynthConfig { nodes: 600, seed: 2, gaps: false });
    let roots = [a.hashes().program(), b.hashes().program()];
    let writer = schema.store();
    let p = writer.insert_program("app", &a).expect("program");
    let (stop, saves) = (AtomicBool::new(false), AtomicUsize::new(0));
    std::thread::scope(|s| {
        let saving = s.spawn(|| {
            // Bounded, so a failed assertion below (which waits for this thread) ends.
            while !stop.load(Ordering::Relaxed) && saves.load(Ordering::Relaxed) < 200 {
                let version = if saves.load(Ordering::Relaxed) % 2 == 0 { &b } else { &a };
                writer.save_program(p, version).expect("save");
                saves.fetch_add(1, Ordering::Relaxed);
            }
        });
        let mut conn = schema.connection();
        let mut loads = 0;
        while (loads < 60 || saves.load(Ordering::Relaxed) < 10) && !saving.is_finished() {
            match conn.transaction(|c| PgConnectionStore::on_connection(c).load_program(p)) {
                Ok(loaded) => assert!(roots.contains(&loaded.hashes().program()), "a load mixed two commits"),
                // Commits kept landing while it read, five times over.
                Err(StorageError::Busy) => {}
                Err(e) => panic!("load {loads}: {e}"),
            }
            loads += 1;
        }
        stop.store(true, Ordering::Relaxed);
        saving.join().expect("the writer saved every time");
    });
}

/// The usual Diesel test setup: a pool of one connection in a test transaction. Every
/// kind of call works through `PgStore::on_pool` on it (each a savepoint in the test
/// transaction; Diesel refuses a transaction of the store's own there), and nothing is
/// ever committed.
#[test]
fn a_store_on_a_test_transaction_pool_works_and_commits_nothing() {
    let Some(schema) = service_schema() else { return };
    let store = PgStore::on_pool(schema.test_transaction_pool(), schema.config());
    let p = store.insert_program("app", &ProgramGraph::new("app")).expect("insert");
    let kept = store.create_program("kept").expect("create");
    assert!(matches!(store.create_program("kept"), Err(StorageError::DuplicateProgramName(_))));
    store
        .edit(p, &mut |g| {
            let f = g.add_function(ModuleId::ROOT, "answer", Visibility::Public, vec![], TypeId::I32)?;
            let c = g.add_core_op(f, ComputeOp::Const { value: ConstValue::I32(42) })?;
            let r = g.add_core_op(f, ComputeOp::Return)?;
            g.add_data_edge(c, r, 0, 0, TypeId::I32)?;
            Ok(())
        })
        .expect("edit");
    store.insert_node(p, FunctionId(0), ComputeOp::Return.into()).expect("insert_node");
    let loaded = store.load_program(p).expect("load");
    assert_eq!((loaded.node_count(), loaded.edge_count()), (3, 1));
    assert_eq!(store.find_nodes_by_owner(p, FunctionId(0)).expect("query").len(), 3);
    store.save_program(kept, &loaded).expect("save");
    assert_eq!(store.load_program(kept).expect("load").node_count(), 3);
    store.delete_program(p).expect("delete");
    let names: Vec<String> = store.list_programs().expect("list").into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["kept"]);
    // Another pool's connection: the test transaction never committed.
    assert!(schema.store().list_programs().expect("list").is_empty());
}

fn lost<T: std::fmt::Debug>(what: &str, outcome: StorageResult<T>) {
    match outcome {
        Err(e) if e.database_kind() == Some(DatabaseErrorKind::ConnectionLost) => {}
        other => panic!("{what}: expected ConnectionLost, got {other:?}"),
    }
}

/// The server ends the service's connection inside its transaction, after the store
/// wrote through it: the store's next calls, and every later one, report the lost
/// connection (they said only that Diesel's transaction manager was broken).
#[test]
fn a_lent_connection_killed_in_the_service_transaction_is_a_lost_connection() {
    let Some(schema) = service_schema() else { return };
    let mut conn = schema.connection();
    let pid: i32 = diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("pg_backend_pid()"))
        .get_result(&mut conn)
        .expect("pid");
    let mut killer = schema.connection();
    let mut graph = ProgramGraph::new("app");
    graph.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::I32).expect("function");
    let outcome: Result<(), StorageError> = conn.transaction(|c| {
        c.batch_execute("INSERT INTO users VALUES (1, 'ada')")?;
        let store = PgConnectionStore::on_connection(c);
        let p = store.insert_program("app", &graph)?;
        killer.batch_execute(&format!("SELECT pg_terminate_backend({pid})"))?;
        let gone = format!("(SELECT count(*) FROM pg_stat_activity WHERE pid = {pid})");
        for _ in 0..250 {
            let left: i64 =
                diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&gone)).get_result(&mut killer)?;
            if left == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        lost("the first call after the kill", store.insert_node(p, FunctionId(0), ComputeOp::Return.into()));
        lost("the same call again", store.insert_node(p, FunctionId(0), ComputeOp::Return.into()));
        lost("a load", store.load_program(p));
        lost("a read", store.list_programs());
        Ok(())
    });
    assert!(outcome.is_err(), "the service's transaction cannot commit on a dead connection");
    assert!(schema.store().list_programs().expect("list").is_empty(), "nothing was committed");
}

/// A write whose read before it (the copy of the program it works on) lost the
/// connection returns that at once: on a pool whose server is gone it waited for a
/// connection twice, once in the read and again in the write.
#[test]
fn a_write_whose_read_before_it_lost_the_connection_waits_for_one_once() {
    use diesel::r2d2::{ConnectionManager, HandleEvent, Pool, event::TimeoutEvent};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    #[derive(Debug)]
    struct CountTimeouts(Arc<AtomicUsize>);
    impl HandleEvent for CountTimeouts {
        fn handle_timeout(&self, _: TimeoutEvent) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let timeouts = Arc::new(AtomicUsize::new(0));
    // Nothing listens on port 1: every connection attempt is refused.
    let pool = Pool::builder()
        .max_size(1)
        .connection_timeout(std::time::Duration::from_millis(300))
        .event_handler(Box::new(CountTimeouts(timeouts.clone())))
        .build_unchecked(ConnectionManager::<PgConnection>::new("postgres://root@127.0.0.1:1/nowhere"));
    let store = PgStore::on_pool(pool, PgConfig::default());
    lost("insert_node", store.insert_node(ProgramId(1), FunctionId(0), ComputeOp::Return.into()));
    assert_eq!(timeouts.load(Ordering::SeqCst), 1, "one wait for a connection");
}

/// A service table whose rows refer to programs by a foreign key: inserting such a row
/// takes a `KEY SHARE` lock on the program's row until the service commits. The
/// store's writes of that program neither wait for it nor deadlock with it (the
/// store's `FOR NO KEY UPDATE` does not conflict with `KEY SHARE`; `FOR UPDATE` did, and
/// two service transactions each adding a row and then writing the program deadlocked).
#[test]
fn a_service_row_referring_to_a_program_does_not_hold_up_its_writes() {
    let Some(schema) = service_schema() else { return };
    let store = schema.store();
    let (p, f) = new_program(&store, "audited");
    schema
        .connection()
        .batch_execute(
            "CREATE TABLE audit (id BIGSERIAL PRIMARY KEY, \
             program_id BIGINT NOT NULL REFERENCES lmlang_programs(id) ON DELETE CASCADE)",
        )
        .expect("audit");
    let mut service = schema.connection();
    service.batch_execute(&format!("BEGIN; INSERT INTO audit (program_id) VALUES ({})", p.0)).expect("audit row");
    // Another connection writes the program while the service's transaction is open;
    // its lock_timeout turns a wait into an error instead of a hang.
    let mut other = schema.connection();
    other
        .transaction(|c| {
            c.batch_execute("SET LOCAL lock_timeout = '2s'")?;
            let store = PgConnectionStore::on_connection(c);
            store.insert_node(p, f, ComputeOp::Const { value: ConstValue::I64(1) }.into())?;
            store.rename_program(p, "audited-2")?;
            Ok::<_, StorageError>(())
        })
        .expect("the store's writes pass the service's audit row");
    service.batch_execute("COMMIT").expect("the service commits");
    let g = store.load_program(p).expect("load");
    assert_eq!(g.node_count(), 1);
    assert_eq!(store.find_program("audited-2").expect("renamed"), p);
}

/// A statement cancelled by `statement_timeout` is `Timeout`, not `Busy`: here it
/// waits on a row lock with no `lock_timeout`, so only the statement's limit ends it.
#[test]
fn a_statement_past_its_timeout_is_a_timeout_not_busy() {
    let Some(schema) = service_schema() else { return };
    let p = schema.store().create_program("slow").expect("create");
    let mut holder = schema.connection();
    holder
        .batch_execute(&format!("BEGIN; SELECT id FROM lmlang_programs WHERE id = {} FOR UPDATE", p.0))
        .expect("lock");
    let mut conn = schema.connection();
    conn.batch_execute("SET lock_timeout = 0; SET statement_timeout = '200ms'").expect("limits");
    let store = PgConnectionStore::on_connection(&mut conn);
    match store.rename_program(p, "renamed") {
        Err(StorageError::Database { kind: DatabaseErrorKind::Timeout, source }) => {
            assert!(source.to_string().contains("statement timeout"), "{source}");
        }
        other => panic!("expected a Timeout, got {other:?}"),
    }
    drop(store);
    holder.batch_execute("ROLLBACK").expect("unlock");
    assert_eq!(schema.store().find_program("slow").expect("not renamed"), p);
}

/// A pool whose every connection stays in use is a `Timeout` after the pool's wait,
/// not a lost connection: the server is up.
#[test]
fn a_pool_with_every_connection_in_use_times_out_as_such() {
    let Some(schema) = service_schema() else { return };
    let config =
        PgConfig { pool_size: 2, connection_timeout: std::time::Duration::from_millis(300), ..schema.config() };
    let store = PgStore::connect_with(&schema.url, config).expect("store");
    let held = [store.backend().pool().get().expect("one"), store.backend().pool().get().expect("two")];
    match store.list_programs() {
        Err(StorageError::Database { kind: DatabaseErrorKind::Timeout, .. }) => {}
        other => panic!("expected a Timeout, got {other:?}"),
    }
    drop(held);
    assert!(store.list_programs().expect("free again").is_empty());
}

/// `PgStore::on_pool` cannot set `search_path` on a host's connections: given a schema
/// the pool's connections do not see, it refuses every call instead of reading and
/// writing the store of another schema.
#[test]
fn a_host_pool_that_does_not_see_the_configured_schema_is_refused() {
    let Some(schema) = service_schema() else { return };
    let pool = diesel::r2d2::Pool::builder()
        .max_size(2)
        .build(diesel::r2d2::ConnectionManager::<PgConnection>::new(schema.url.as_str()))
        .expect("a pool without the customizer");
    let store = PgStore::on_pool(pool, schema.config());
    for outcome in [store.list_programs().map(|_| ()), store.create_program("lost").map(|_| ())] {
        match outcome {
            Err(StorageError::Database { kind: DatabaseErrorKind::CannotOpen, source }) => {
                assert!(source.to_string().contains(&schema.name), "{source}");
            }
            other => panic!("expected CannotOpen, got {other:?}"),
        }
    }
    assert!(schema.store().list_programs().expect("list").is_empty(), "nothing written to the schema");
    // With the customizer, the same pool type works.
    let pool = diesel::r2d2::Pool::builder()
        .max_size(2)
        .connection_customizer(Box::new(lmlang_storage::postgres::PgCustomizer::new(Some(schema.name.clone()))))
        .build(diesel::r2d2::ConnectionManager::<PgConnection>::new(schema.url.as_str()))
        .expect("a customized pool");
    let p = PgStore::on_pool(pool, schema.config()).create_program("found").expect("create");
    assert_eq!(schema.store().find_program("found").expect("there"), p);
}

/// The configured schema exists but holds no store, and the pool's `search_path`
/// goes on to another schema that does: the current schema is right, yet every
/// unqualified table name finds the other store. Refused, feed and partitioning
/// included (the feed would hear the other store's commits).
#[test]
fn a_host_pool_whose_search_path_finds_another_schemas_tables_is_refused() {
    let Some(empty) = TestSchema::new() else { return };
    let Some(other) = TestSchema::new() else { return };
    let other_store = PgStore::connect_with(&other.url, PgConfig { notify_changes: true, ..other.config() })
        .expect("the other schema's store");
    other_store.insert_program("theirs", &ProgramGraph::new("app")).expect("insert");
    let url = format!(
        "{}{}options=-c%20search_path%3D{}%2C{}",
        empty.url,
        if empty.url.contains('?') { "&" } else { "?" },
        empty.name,
        other.name
    );
    let pool = diesel::r2d2::Pool::builder()
        .max_size(3)
        .build(diesel::r2d2::ConnectionManager::<PgConnection>::new(url))
        .expect("a pool whose search_path goes on to the other schema");
    let store = PgStore::on_pool(pool, PgConfig { notify_changes: true, ..empty.config() });
    let outcomes = [
        ("subscribe", store.subscribe().map(drop)),
        ("partition_count", store.partition_count().map(drop)),
        ("list_programs", store.list_programs().map(drop)),
        ("create_program", store.create_program("lost").map(drop)),
    ];
    for (what, outcome) in outcomes {
        match outcome {
            Err(StorageError::Database { kind: DatabaseErrorKind::CannotOpen, source }) => {
                assert!(source.to_string().contains(&other.name), "{what}: {source}");
            }
            other => panic!("{what}: expected CannotOpen, got {other:?}"),
        }
    }
    assert_eq!(other_store.list_programs().expect("list").len(), 1, "nothing written to the other schema");
}

fn new_program(store: &PgStore, name: &str) -> (ProgramId, FunctionId) {
    let mut g = ProgramGraph::new("root");
    let f = g.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::UNIT).expect("function");
    (store.insert_program(name, &g).expect("insert"), f)
}

/// A panic in an edit closure on a lent connection (outside any transaction of the
/// service's) rolls the edit back and leaves the connection outside a transaction: the
/// store's next write commits, as another store sees. It used to go into the
/// transaction the panic left open, as a savepoint, answer `Ok` and be lost when the
/// connection closed.
#[test]
fn a_panic_in_an_edit_on_a_lent_connection_leaves_later_writes_committed() {
    let Some(schema) = service_schema() else { return };
    let mut conn = schema.connection();
    let store = PgConnectionStore::on_connection(&mut conn);
    let g = lmlang_storage::synth::generate(&lmlang_storage::synth::SynthConfig::new(300));
    let p = store.insert_program("p", &g).expect("insert");
    let f = g.functions().next().expect("a function").id;
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.edit(p, &mut |g| {
            g.add_core_op(f, ComputeOp::Print)?;
            panic!("the service's closure has a bug");
        })
    }));
    assert!(panicked.is_err());
    let node = store.insert_node(p, f, ComputeOp::Print.into()).expect("a write after the panic");
    // Seen from another connection before this one closes: committed.
    let other = schema.store();
    assert_eq!(other.load_program(p).expect("load").node_count(), g.node_count() + 1);
    assert!(other.get_node(p, node).is_ok());
    drop(store);
    drop(conn);
    assert!(other.get_node(p, node).is_ok(), "still there after the connection closed");
}
