//! PostgreSQL round trips: float bits through the TEXT payload, ids with holes and next
//! ids across a reconnect, Unicode names, the semantic tables kept current by every
//! write, program names unique across stores, and writers of one program from two
//! stores serialised without a lost update; a role granted only reads reads, and its
//! writes are refused as `PermissionDenied` with nothing written. Skipped without a
//! server (see `pg_support`).
#![cfg(feature = "postgres")]

#[path = "common/mod.rs"]
mod common;
#[path = "pg_support/mod.rs"]
mod pg_support;

use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::*;
use lmlang_storage::postgres::{PgConfig, PgRows, PgStore};
use lmlang_storage::rows::read_graph;
use lmlang_storage::store::{DatabaseErrorKind, GraphStore, ProgramId, StorageError};
use lmlang_storage::synth::{SynthConfig, generate};
use pg_support::TestSchema;
use proptest::prelude::*;

/// Loads a program and checks its stored semantic tables against the graph.
fn load_verified(schema: &TestSchema, program: ProgramId) -> ProgramGraph {
    let mut conn = schema.connection();
    conn.build_transaction()
        .repeatable_read()
        .read_only()
        .run(|c| {
            read_graph(&mut PgRows(c), program, true).map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))
        })
        .expect("a load that verifies the semantic tables")
        .0
}

#[test]
fn float_constants_keep_their_bits() {
    pg_support::with_store(|store| {
        let g = common::float_program();
        let p = store.insert_program("floats", &g).expect("insert");
        let loaded = store.load_program(p).expect("load");
        for ((id, a), (_, b)) in g.nodes().zip(loaded.nodes()) {
            assert_eq!(a, b, "node {id}");
        }
        assert_eq!(loaded, g);
        common::check_single_row_float_paths(store, p, &g);
    });
}

#[test]
fn ids_with_holes_and_next_ids_survive_a_reconnect() {
    let Some(schema) = TestSchema::new() else { return };
    let g = generate(&SynthConfig { nodes: 4_000, seed: 3, gaps: true });
    let p = schema.store().insert_program("gaps", &g).expect("insert");
    let store = schema.store();
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
fn unicode_names_round_trip() {
    pg_support::with_store(|store| {
        let name = "プログラム λ→∀ e\u{301} 🦀 \"quoted\" 'it''s'";
        let mut g = ProgramGraph::new(name);
        let f =
            g.add_function(ModuleId::ROOT, "函数_ü_🦀", Visibility::Public, vec![], TypeId::UNIT).expect("function");
        g.add_core_op(f, ComputeOp::Print).expect("op");
        let p = store.insert_program(name, &g).expect("insert");
        assert_eq!(store.find_program(name).expect("find"), p);
        assert_eq!(store.load_program(p).expect("load"), g);
        assert_eq!(store.list_programs().expect("list")[0].name, name);
        store.rename_program(p, "新しい名前 ✓").expect("rename");
        assert_eq!(store.find_program("新しい名前 ✓").expect("find"), p);
    });
}

#[test]
fn program_names_are_unique_across_stores() {
    let Some(schema) = TestSchema::new() else { return };
    let (a, b) = (schema.store(), schema.store());
    a.create_program("shared").expect("first");
    assert!(matches!(b.create_program("shared"), Err(StorageError::DuplicateProgramName(n)) if n == "shared"));
}

/// Read-edit-save cycles of two instances on one program, each saved only over the
/// revision it read: every cycle's node is there at the end (a plain `save_program`
/// would drop the other instance's nodes saved in between).
#[test]
fn read_edit_save_cycles_of_two_instances_lose_no_update() {
    let Some(schema) = TestSchema::new() else { return };
    let (a, b) = (schema.store(), schema.store());
    let mut g = ProgramGraph::new("cycles");
    let f = g.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::UNIT).expect("function");
    let p = a.insert_program("cycles", &g).expect("insert");
    let expected = common::read_edit_save_cycles(&[&a, &b], p, f, 15);
    assert_eq!(b.load_program(p).expect("load").node_count(), expected);
}

#[test]
fn writers_of_one_program_in_two_stores_lose_no_update() {
    let Some(schema) = TestSchema::new() else { return };
    let stores = [schema.store(), schema.store()];
    let mut g = ProgramGraph::new("contended");
    let f = g.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::UNIT).expect("function");
    let p = stores[0].insert_program("contended", &g).expect("insert");
    std::thread::scope(|scope| {
        for store in &stores {
            scope.spawn(move || {
                for _ in 0..40 {
                    store.insert_node(p, f, ComputeOp::Print.into()).expect("insert");
                }
            });
        }
    });
    let g = stores[1].load_program(p).expect("load");
    assert_eq!(g.function_nodes(f).count(), 80);
    let ids: std::collections::BTreeSet<_> = g.function_nodes(f).collect();
    assert_eq!(ids.len(), 80, "no id was handed out twice");
}

#[test]
fn a_lost_server_is_a_typed_error() {
    let Some(schema) = TestSchema::new() else { return };
    let mut config = schema.config();
    config.connection_timeout = std::time::Duration::from_millis(300);
    let unreachable = "postgres://root@127.0.0.1:1/test";
    let lost = PgStore::connect_with(unreachable, config).err().and_then(|e| e.database_kind());
    assert_eq!(lost, Some(lmlang_storage::store::DatabaseErrorKind::ConnectionLost));
}

/// A connection string libpq cannot read is refused as `CannotOpen`, and the
/// error (which libpq words by echoing the string, or the password alone) never holds
/// the password. No server is needed: libpq refuses before connecting.
#[test]
fn a_malformed_url_is_refused_at_once_without_its_password() {
    let config = PgConfig { connection_timeout: std::time::Duration::from_secs(20), ..PgConfig::default() };
    let cases = [
        ("postgres://root:sec ret@127.0.0.1/test", "sec ret"),
        ("postgresql//root:hunter22@127.0.0.1/test", "hunter22"),
        ("postgres://root:se%zzcret@127.0.0.1/test", "se%zzcret"),
    ];
    for (url, password) in cases {
        let Err(e) = PgStore::connect_with(url, config.clone()) else { panic!("{url} connected") };
        // Not `ConnectionLost` after the pool's whole wait, as when nothing refused it.
        assert_eq!(e.database_kind(), Some(DatabaseErrorKind::CannotOpen), "{url}: {e}");
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(password), "{url}: {shown}");
        assert!(shown.contains("***"), "{url}: {shown}");
    }
}

/// A database that does not exist is refused by the server: after the pool's wait (it
/// may be being created) the store says so in the server's words, as `CannotOpen`,
/// rather than reporting a lost connection.
#[test]
fn a_database_that_does_not_exist_is_reported_as_such() {
    let Some(schema) = TestSchema::new() else { return };
    let mut config = schema.config();
    config.connection_timeout = std::time::Duration::from_secs(2);
    let (url, query) = schema.url.split_once('?').unwrap_or((&schema.url, ""));
    let Some((server, _)) = url.rsplit_once('/') else { panic!("no database in {}", schema.url) };
    let missing = if query.is_empty() {
        format!("{server}/lmlang_no_such_database")
    } else {
        format!("{server}/lmlang_no_such_database?{query}")
    };
    let Err(e) = PgStore::connect_with(&missing, config) else { panic!("connected to a missing database") };
    assert_eq!(e.database_kind(), Some(lmlang_storage::store::DatabaseErrorKind::CannotOpen), "{e}");
    assert!(e.to_string().contains("lmlang_no_such_database"), "the message names the database: {e}");
    // A wrong password is final at once; the test server trusts every local user, so
    // that case is the unit test's (`only_the_servers_exact_refusals_of_the_settings_count`).
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// Random programs, saved incrementally after random edits: every load equals the
    /// graph and the semantic tables equal its semantic graph.
    #[test]
    fn random_programs_and_edits_keep_tables_current(g in common::arb_program(), seed in any::<u64>()) {
        let Some(schema) = TestSchema::new() else { return Ok(()) };
        let store = schema.store();
        let p = store.insert_program("random", &g).expect("insert");
        let mut g = store.load_program(p).expect("load");
        prop_assert_eq!(&load_verified(&schema, p), &g);
        for round in 0..3u64 {
            common::apply_random_edits(&mut g, seed.wrapping_add(round), 12);
            store.save_program(p, &g).expect("save");
            prop_assert_eq!(&load_verified(&schema, p), &g);
        }
        let mut other = g.clone();
        common::apply_random_edits(&mut other, seed ^ 0xfeed, 20);
        store.save_program(p, &other).expect("save unrelated");
        prop_assert_eq!(&load_verified(&schema, p), &other);
    }
}

/// `url` with a server setting for every connection (libpq `options`).
fn with_option(url: &str, setting: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c{}", setting.replace('=', "%3D"))
}

#[test]
fn a_read_only_server_refuses_writes_with_read_only() {
    let Some(schema) = TestSchema::new() else { return };
    let p = schema.store().create_program("kept").expect("create");
    let mut config = schema.config();
    config.migrate = false;
    let url = with_option(&schema.url, "default_transaction_read_only=on");
    let store = PgStore::connect_with(&url, config).expect("a store on read-only sessions");
    assert!(matches!(store.create_program("new"), Err(StorageError::ReadOnly)));
    assert!(matches!(store.rename_program(p, "renamed"), Err(StorageError::ReadOnly)));
    assert_eq!(store.find_program("kept").expect("reads still work"), p);
}

#[test]
fn a_writer_waiting_past_the_lock_timeout_gets_busy_and_changes_nothing() {
    use diesel::connection::SimpleConnection;
    let Some(schema) = TestSchema::new() else { return };
    let p = schema.store().create_program("locked").expect("create");
    let mut config = schema.config();
    config.migrate = false;
    let store = PgStore::connect_with(&with_option(&schema.url, "lock_timeout=100"), config).expect("store");
    // Another session holds the program's row, as a long write would.
    let mut holder = schema.connection();
    holder.batch_execute(&format!("BEGIN; SELECT 1 FROM lmlang_programs WHERE id = {} FOR UPDATE", p.0)).expect("lock");
    assert!(matches!(store.rename_program(p, "renamed"), Err(StorageError::Busy)));
    holder.batch_execute("COMMIT").expect("release");
    assert_eq!(store.find_program("locked").expect("unchanged"), p);
    store.rename_program(p, "renamed").expect("the lock is free again");
}

/// A program big enough to load over two connections (edges on one, the rest on the
/// other) loads whole and as it was stored, with the split on and off.
#[test]
fn a_big_program_loads_the_same_over_two_connections() {
    let Some(schema) = TestSchema::new() else { return };
    let g = generate(&SynthConfig { nodes: 12_000, seed: 5, gaps: false });
    assert!(g.edge_count() >= 20_000, "the program must be big enough to be split: {}", g.edge_count());
    let split = schema.store();
    let p = split.insert_program("big", &g).expect("insert");
    assert_eq!(split.load_program(p).expect("split load"), g);
    let whole = PgStore::connect_with(&schema.url, PgConfig { split_loads: false, ..schema.config() }).expect("store");
    assert_eq!(whole.load_program(p).expect("load in one"), g);
}

/// The two halves of a split load read one snapshot: while another store commits a
/// new node with an edge to it in each transaction, every load sees as many new edges
/// as new nodes, and never a half of one commit.
#[test]
fn a_split_load_reads_one_snapshot_while_writers_commit() {
    let Some(schema) = TestSchema::new() else { return };
    let g = generate(&SynthConfig { nodes: 12_000, seed: 6, gaps: false });
    let (base_nodes, base_edges) = (g.node_count(), g.edge_count());
    let reader = schema.store();
    let p = reader.insert_program("busy", &g).expect("insert");
    let f = g.functions().next().map(|f| f.id).expect("a function");
    let anchor = g.nodes().find(|(_, n)| n.owner == f).map(|(id, _)| id).expect("a node in the function");
    let writer = schema.store();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let writes = scope.spawn(|| {
            let mut commits = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && commits < 200 {
                writer
                    .edit(p, &mut |graph| {
                        let n = graph.add_core_op(f, ComputeOp::Print)?;
                        graph.add_control_edge(anchor, n, None)?;
                        Ok(())
                    })
                    .expect("a commit");
                commits += 1;
            }
            commits
        });
        for _ in 0..8 {
            let loaded = reader.load_program(p).expect("a split load");
            let new_nodes = loaded.node_count() - base_nodes;
            assert_eq!(loaded.edge_count() - base_edges, new_nodes, "a load saw part of a commit");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(writes.join().expect("the writer") > 0);
    });
}

#[test]
fn a_role_granted_only_reads_is_refused_writes_as_permission_denied() {
    use diesel::connection::SimpleConnection;
    let Some(schema) = TestSchema::new() else { return };
    let store = schema.store();
    let id = store.insert_program("granted", &generate(&SynthConfig::new(60))).expect("insert");
    let before = store.load_program(id).expect("load");
    let role = format!("{}_reads", schema.name);
    let mut admin = schema.connection();
    admin
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA {s} TO {role}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {role};",
            s = schema.name
        ))
        .expect("the role");
    let config = PgConfig { migrate: false, ..schema.config() };
    let reader = PgStore::connect_with(&pg_support::as_user(&schema.url, &role), config).expect("connect as the role");
    assert_eq!(reader.load_program(id).expect("the role reads").hashes().program(), before.hashes().program());
    let function = before.functions().next().expect("a function").id;
    let op: ComputeNodeOp = ComputeOp::Const { value: ConstValue::I64(7) }.into();
    let refusals = [
        reader.insert_node(id, function, op).map(drop),
        reader.rename_program(id, "renamed"),
        reader.create_program("new").map(drop),
    ];
    for refused in refusals {
        assert!(
            matches!(refused, Err(StorageError::Database { kind: DatabaseErrorKind::PermissionDenied, .. })),
            "{refused:?}"
        );
    }
    // VACUUM by a role that owns no table: PostgreSQL would skip each with a warning
    // and report success.
    match reader.vacuum() {
        Err(StorageError::Database { kind: DatabaseErrorKind::PermissionDenied, source }) => {
            assert!(source.to_string().contains("lmlang_programs"), "{source}");
        }
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
    store.vacuum().expect("the owner vacuums");
    let after = store.load_program(id).expect("load");
    assert_eq!(after.hashes().program(), before.hashes().program());
    assert_eq!(store.list_programs().expect("list").len(), 1);
    drop(reader);
    admin.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role};")).expect("drop the role");
}

/// A program row damaged on the server (a count made negative by hand) fails the whole
/// `list_programs` as `Corrupt`; `list_programs_each` names that program by its id and
/// lists the other whole.
#[test]
fn a_damaged_program_row_is_listed_by_its_id_beside_the_others() {
    use diesel::RunQueryDsl;
    let Some(schema) = TestSchema::new() else { return };
    let store = schema.store();
    let g = generate(&SynthConfig::new(300));
    let (victim, bystander) =
        (store.insert_program("victim", &g).unwrap(), store.insert_program("bystander", &g).unwrap());
    diesel::sql_query(format!("UPDATE lmlang_programs SET module_count = -1 WHERE id = {}", victim.0))
        .execute(&mut schema.connection())
        .unwrap();
    assert!(matches!(store.list_programs(), Err(StorageError::Corrupt { table: "lmlang_programs", .. })));
    let each = store.list_programs_each().unwrap();
    assert_eq!(each.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![victim, bystander]);
    assert!(matches!(each[0].1, Err(StorageError::Corrupt { table: "lmlang_programs", .. })), "{each:?}");
    assert!(each[1].1.as_ref().is_ok_and(|s| s.name == "bystander" && s.nodes == g.node_count() as u64), "{each:?}");
}

/// Tags come by the bytes of their names on PostgreSQL as on the other backends, even
/// where the database's collation orders text otherwise (here the tag column is made
/// en-US, as a database created with that locale makes every text column).
#[test]
fn tags_come_in_byte_order_whatever_the_collation() {
    use diesel::connection::SimpleConnection;
    use lmlang_storage::store::ProgramHistory;
    let Some(schema) = TestSchema::new() else { return };
    let store = schema.store();
    schema
        .connection()
        .batch_execute(r#"ALTER TABLE lmlang_history_tags ALTER COLUMN name TYPE TEXT COLLATE "en-US-x-icu""#)
        .expect("an ICU collation (PostgreSQL's packages are built with ICU)");
    store.set_history(true);
    let p = store.insert_program("p", &generate(&SynthConfig::new(200))).unwrap();
    let names = ["b", "B", "a", "A", "_x", "é", "z"];
    for name in names {
        store.tag(p, name, 1).unwrap();
    }
    let got: Vec<String> = store.tags(p).unwrap().into_iter().map(|t| t.name).collect();
    let mut bytewise: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    bytewise.sort();
    assert_eq!(got, bytewise, "[A, B, _x, a, b, z, é], as on SQLite and in memory");
}
