//! Bad stored data, as a hand edit or a broken tool would leave it: every case is a
//! typed `Corrupt` error naming the table and the row's key. Never a panic, never a
//! silently defaulted value.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::*;
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{GraphStore, ProgramId, StorageError};

struct Fixture {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    program: ProgramId,
    constant: NodeId,
    call: NodeId,
    edge: EdgeId,
    point: TypeId,
    main: FunctionId,
}

fn sample() -> (ProgramGraph, NodeId, NodeId, EdgeId, TypeId, FunctionId) {
    let mut g = ProgramGraph::new("app");
    let point = g
        .register_named_in(
            ModuleId::ROOT,
            Visibility::Public,
            "Point",
            LmType::Struct(StructDef {
                name: String::new(),
                type_id: TypeId(0),
                fields: [("x".to_string(), TypeId::F64), ("y".to_string(), TypeId::F64)].into_iter().collect(),
                module: ModuleId::ROOT,
                visibility: Visibility::Public,
            }),
        )
        .expect("type");
    let helper = g.add_function(ModuleId::ROOT, "helper", Visibility::Private, vec![], TypeId::F64).expect("helper");
    let main = g.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::UNIT).expect("main");
    let constant = g.add_core_op(main, ComputeOp::Const { value: ConstValue::F64(1.5) }).expect("const");
    let call = g.add_core_op(main, ComputeOp::Call { target: helper }).expect("call");
    let edge = g.add_data_edge(constant, call, 0, 0, TypeId::F64).expect("edge");
    g.add_structured_op(main, StructuredOp::StructCreate { type_id: point }).expect("struct");
    g.set_entry_node(main, Some(constant)).expect("entry");
    (g, constant, call, edge, point, main)
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("bad.db")).expect("store");
    let (g, constant, call, edge, point, main) = sample();
    let program = store.insert_program("victim", &g).expect("insert");
    assert_eq!(store.load_program(program).expect("clean load"), g);
    Fixture { _dir: dir, store, program, constant, call, edge, point, main }
}

impl Fixture {
    /// Runs SQL as a hand edit would: checks and foreign keys off.
    fn tamper(&self, sql: &str) {
        let mut conn =
            SqliteConnection::establish(self.store.path().to_str().expect("utf-8 path")).expect("connection");
        conn.batch_execute("PRAGMA foreign_keys = OFF; PRAGMA ignore_check_constraints = ON;").expect("pragmas");
        conn.batch_execute(sql).expect("tamper");
    }

    /// Loading fails with `Corrupt` for this table, with the key mentioning `key_part`.
    fn load_is_corrupt(&self, table: &str, key_part: &str) -> String {
        match self.store.load_program(self.program) {
            Err(StorageError::Corrupt { table: t, key, detail }) => {
                assert_eq!(t, table, "table ({key}: {detail})");
                assert!(key.contains(key_part), "key {key:?} should name {key_part:?} ({detail})");
                detail
            }
            Err(other) => panic!("expected Corrupt in {table}, got {other}"),
            Ok(_) => panic!("corrupt data loaded without error"),
        }
    }
}

#[test]
fn bad_json_in_a_payload() {
    let f = fixture();
    f.tamper(&format!("UPDATE lmlang_functions SET params = '[[\"x\", ' WHERE function_id = {}", f.main.0));
    let detail = f.load_is_corrupt("lmlang_functions", &format!("function {}", f.main.0));
    assert!(detail.contains("params"), "{detail}");
    assert!(matches!(
        f.store.get_function(f.program, f.main),
        Err(StorageError::Corrupt { table: "lmlang_functions", .. })
    ));
}

#[test]
fn unknown_variant_in_a_text_enum() {
    let f = fixture();
    f.tamper("UPDATE lmlang_modules SET visibility = 'Secret' WHERE module_id = 0");
    let detail = f.load_is_corrupt("lmlang_modules", "module 0");
    assert!(detail.contains("Secret"), "{detail}");
}

#[test]
fn unknown_variant_in_json() {
    let f = fixture();
    f.tamper(&format!("UPDATE lmlang_types SET definition = '{{\"Quaternion\":4}}' WHERE type_id = {}", f.point.0));
    f.load_is_corrupt("lmlang_types", &format!("type {}", f.point.0));
}

#[test]
fn unknown_op_code() {
    let f = fixture();
    f.tamper(&format!("UPDATE lmlang_compute_nodes SET op = 99 WHERE node_id = {}", f.call.0));
    let detail = f.load_is_corrupt("lmlang_compute_nodes", &format!("node {}", f.call.0));
    assert!(detail.contains("99"), "{detail}");
    assert!(matches!(
        f.store.get_node(f.program, f.call),
        Err(StorageError::Corrupt { table: "lmlang_compute_nodes", .. })
    ));
}

#[test]
fn op_columns_that_do_not_fit_the_op() {
    let f = fixture();
    f.tamper(&format!("UPDATE lmlang_compute_nodes SET arg = 3 WHERE node_id = {}", f.call.0));
    let detail = f.load_is_corrupt("lmlang_compute_nodes", &format!("node {}", f.call.0));
    assert!(detail.contains("arg"), "{detail}");
}

#[test]
fn garbage_and_non_nan_bits_in_a_float_payload() {
    let f = fixture();
    for payload in
        ["{\"F64\":\"NaN:0xzz\"}", "{\"F64\":\"NaN:0x0000000000000001\"}", "{\"F64\":\"lots\"}", "{\"F64\":null}"]
    {
        f.tamper(&format!("UPDATE lmlang_compute_nodes SET payload = '{payload}' WHERE node_id = {}", f.constant.0));
        let detail = f.load_is_corrupt("lmlang_compute_nodes", &format!("node {}", f.constant.0));
        assert!(detail.contains("constant"), "{payload}: {detail}");
    }
    // A float stored as REAL (the way SQLite would lose a NaN) is not a payload either.
    f.tamper(&format!("UPDATE lmlang_compute_nodes SET payload = 1.5 WHERE node_id = {}", f.constant.0));
    f.load_is_corrupt("lmlang_compute_nodes", &format!("node {}", f.constant.0));
}

#[test]
fn dangling_edge_endpoint() {
    let f = fixture();
    f.tamper(&format!("UPDATE lmlang_flow_edges SET source_id = 4242 WHERE edge_id = {}", f.edge.0));
    let detail = f.load_is_corrupt("lmlang_flow_edges", &format!("edge e{}", f.edge.0));
    assert!(detail.contains("4242"), "{detail}");
}

#[test]
fn dangling_node_owner_and_call_target() {
    let f = fixture();
    f.tamper(&format!("UPDATE lmlang_compute_nodes SET callee_id = 77 WHERE node_id = {}", f.call.0));
    f.load_is_corrupt("lmlang_compute_nodes", &format!("node n{}", f.call.0));
}

#[test]
fn id_out_of_range() {
    let f = fixture();
    f.tamper(&format!("UPDATE lmlang_compute_nodes SET node_id = 5000000000 WHERE node_id = {}", f.call.0));
    let detail = f.load_is_corrupt("lmlang_compute_nodes", "node 5000000000");
    assert!(detail.contains("out of range"), "{detail}");
}

#[test]
fn id_at_or_past_the_next_id() {
    let f = fixture();
    f.tamper(&format!("UPDATE lmlang_programs SET next_node_id = 1 WHERE id = {}", f.program.0));
    let detail = f.load_is_corrupt("lmlang_compute_nodes", "node n");
    assert!(detail.contains("next_ids"), "{detail}");
}

#[test]
fn negative_revision_and_unknown_format() {
    let f = fixture();
    f.tamper(&format!("UPDATE lmlang_programs SET revision = -3 WHERE id = {}", f.program.0));
    f.load_is_corrupt("lmlang_programs", &format!("program {}", f.program));
    f.tamper(&format!("UPDATE lmlang_programs SET revision = 3, format_version = 7 WHERE id = {}", f.program.0));
    let detail = f.load_is_corrupt("lmlang_programs", &format!("program {}", f.program));
    assert!(detail.contains("format version 7"), "{detail}");
}

#[test]
fn wrong_type_in_a_typed_column() {
    // SQLite lets any value into any column; a text where an id belongs must not be
    // read as 0.
    let f = fixture();
    f.tamper(&format!("UPDATE lmlang_flow_edges SET value_type = 'F64' WHERE edge_id = {}", f.edge.0));
    match f.store.load_program(f.program) {
        Err(StorageError::Corrupt { .. } | StorageError::Database { .. }) => {}
        Err(other) => panic!("expected a typed error, got {other}"),
        Ok(g) => panic!("loaded {:?}", g.edge(f.edge)),
    }
}

#[test]
fn stale_semantic_rows_are_caught_when_verification_is_on() {
    let f = fixture();
    f.tamper("DELETE FROM lmlang_semantic_edges WHERE kind = 'Calls'");
    // The graph rebuilds its semantic graph from the primary rows, so a default load
    // is correct regardless; verification reports the stale table.
    assert!(f.store.load_program(f.program).is_ok());
    let config = lmlang_storage::sqlite::SqliteConfig::default().with_verify_semantic_on_load(true);
    let verifying = SqliteStore::open_with(f.store.path(), config).expect("second store");
    match verifying.load_program(f.program) {
        Err(StorageError::Corrupt { table: "lmlang_semantic_edges", key, detail }) => {
            assert!(key.contains("Calls"), "{key}: {detail}");
        }
        other => panic!("expected a semantic_edges Corrupt error, got {other:?}"),
    }
}

/// A big program loads over two connections, its graph assembled while the edges
/// stream in; every corrupt row must come out exactly as the one-transaction load
/// reports it, and a sound program must load equal and trusted both ways.
#[test]
fn split_loads_report_corrupt_rows_as_one_transaction_loads_do() {
    use lmlang_storage::graph::EdgeView;
    use lmlang_storage::sqlite::SqliteConfig;
    use lmlang_storage::synth::{SynthConfig, generate};

    // Past 20,000 edges, with holes in the ids.
    let g = generate(&SynthConfig { nodes: 16_000, seed: 11, gaps: true });
    assert!(g.edge_count() > 20_000, "{} edges", g.edge_count());
    let data: Vec<EdgeView> = g.edges().filter(|e| e.edge.is_data()).collect();
    // Late edges, so the damage sits in a later batch than the first.
    let late = data[data.len() * 3 / 4];
    let twin = data.iter().rev().find(|e| e.target == late.target && e.id != late.id).expect("a node fed twice");
    let stranger =
        g.nodes().find(|(_, n)| n.owner != g.node(late.source).expect("source").owner).expect("another body");
    let next_edge = g.next_ids().edge;
    let cases: Vec<(&str, String)> = vec![
        ("sound", String::new()),
        (
            "edge to a missing node",
            format!("UPDATE lmlang_flow_edges SET target_id = 99999999 WHERE edge_id = {}", late.id.0),
        ),
        ("edge id past the next id", format!("UPDATE lmlang_programs SET next_edge_id = {}", late.id.0)),
        ("implausible next edge id", "UPDATE lmlang_programs SET next_edge_id = 4000000000".into()),
        (
            "operand slot fed twice",
            format!("UPDATE lmlang_flow_edges SET target_port = {} WHERE edge_id = {}", late_port(&late), twin.id.0),
        ),
        (
            "high operand slot fed twice",
            format!("UPDATE lmlang_flow_edges SET target_port = 100 WHERE edge_id IN ({}, {})", late.id.0, twin.id.0),
        ),
        (
            "data cycle",
            format!(
                "INSERT INTO lmlang_flow_edges (program_id, edge_id, source_id, target_id, source_port, target_port, \
                 value_type) SELECT program_id, {next_edge}, target_id, source_id, 0, 200, value_type \
                 FROM lmlang_flow_edges WHERE edge_id = {}; UPDATE lmlang_programs SET next_edge_id = {}",
                late.id.0,
                next_edge + 1
            ),
        ),
        (
            "edge across functions",
            format!("UPDATE lmlang_flow_edges SET target_id = {} WHERE edge_id = {}", stranger.0.0, late.id.0),
        ),
        (
            "text in an edge column",
            format!("UPDATE lmlang_flow_edges SET target_port = 'first' WHERE edge_id = {}", late.id.0),
        ),
        (
            "node of a missing function",
            format!("UPDATE lmlang_compute_nodes SET owner_id = 77777 WHERE node_id = {}", late.target.0),
        ),
    ];
    for (case, sql) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("big.db");
        let split = SqliteStore::open(&path).expect("store");
        let program = split.insert_program("big", &g).expect("insert");
        if !sql.is_empty() {
            let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("connection");
            conn.batch_execute("PRAGMA foreign_keys = OFF; PRAGMA ignore_check_constraints = ON;").expect("pragmas");
            conn.batch_execute(&sql).expect("tamper");
        }
        let single =
            SqliteStore::open_with(&path, SqliteConfig::default().with_split_loads(false)).expect("second store");
        match (split.load_program(program), single.load_program(program)) {
            (Ok(a), Ok(b)) => {
                assert!(sql.is_empty(), "{case}: corrupt rows loaded without error");
                assert!(a.is_trusted() && b.is_trusted(), "{case}");
                assert_eq!(a, g, "{case}");
                assert_eq!(b, g, "{case}");
            }
            (Err(a), Err(b)) => {
                assert!(matches!(a, StorageError::Corrupt { .. }), "{case}: {a}");
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "{case}");
            }
            (a, b) => panic!("{case}: split {:?} but one transaction {:?}", a.err(), b.err()),
        }
    }
}

/// The operand slot an edge feeds.
fn late_port(e: &lmlang_storage::graph::EdgeView) -> u16 {
    match e.edge {
        FlowEdge::Data { target_port, .. } => target_port,
        FlowEdge::Control { .. } => unreachable!("a data edge"),
    }
}
