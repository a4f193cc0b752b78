//! Corrupt stored rows: a database edited by hand with SQL (truncated JSON, values of
//! the wrong type, unknown variants, ids out of range, dangling references, NaN and
//! infinite floats in numeric columns) must give a typed error naming the table, or a
//! load equal to what was saved; never a panic, a hang, a silently changed value, or a
//! write that goes through on top of the damage.
//!
//! Each case edits a fresh copy of one database through rusqlite with foreign keys off
//! (the `sqlite3` shell's default). Cases marked `unchecked` also turn CHECK constraints
//! off, standing for damage a SQL edit cannot do but a broken disk or a hex editor can.
//! All cases run before the test asserts, so one run lists every case that misbehaves.

mod reliability_support;

use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::{ComputeOp, FunctionId, ModuleId, NodeId};
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{GraphStore, ProgramId, StorageError};
use reliability_support::{SampleIds, copy_db, sample_program, within};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a case must end in.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// `StorageError::Corrupt` naming this table.
    Corrupt(&'static str),
    /// A load equal to the saved program (the damage is in data the load does not use)
    /// or `Corrupt` naming this table.
    CorruptOrIntact(&'static str),
}

struct Case {
    name: &'static str,
    sql: String,
    unchecked: bool,
    expect: Expect,
}

fn case(name: &'static str, sql: impl Into<String>, expect: Expect) -> Case {
    Case { name, sql: sql.into(), unchecked: false, expect }
}

fn unchecked(name: &'static str, sql: impl Into<String>, expect: Expect) -> Case {
    Case { name, sql: sql.into(), unchecked: true, expect }
}

fn cases(p: ProgramId, ids: &SampleIds) -> Vec<Case> {
    use Expect::*;
    let p = p.0;
    let node = |n: NodeId, set: &str| {
        format!("UPDATE lmlang_compute_nodes SET {set} WHERE program_id = {p} AND node_id = {}", n.0)
    };
    let function = |f: FunctionId, set: &str| {
        format!("UPDATE lmlang_functions SET {set} WHERE program_id = {p} AND function_id = {}", f.0)
    };
    let edge = |set: &str| {
        format!("UPDATE lmlang_flow_edges SET {set} WHERE program_id = {p} AND edge_id = {}", ids.data_edge.0)
    };
    let types =
        |set: &str| format!("UPDATE lmlang_types SET {set} WHERE program_id = {p} AND type_id = {}", ids.point.0);
    let module = |m: ModuleId, set: &str| {
        format!("UPDATE lmlang_modules SET {set} WHERE program_id = {p} AND module_id = {}", m.0)
    };
    let program = |set: &str| format!("UPDATE lmlang_programs SET {set} WHERE id = {p}");
    vec![
        // JSON payloads.
        case(
            "truncated constant JSON",
            node(ids.nan, "payload = substr(payload, 1, length(payload) - 3)"),
            Corrupt("lmlang_compute_nodes"),
        ),
        case(
            "constant with an unknown variant",
            node(ids.seven, r#"payload = '{"I128":7}'"#),
            Corrupt("lmlang_compute_nodes"),
        ),
        case("constant of the wrong JSON type", node(ids.seven, "payload = '[1,2]'"), Corrupt("lmlang_compute_nodes")),
        case(
            "constant with bad NaN bits",
            node(ids.nan, r#"payload = '{"F64":"NaN:0xzz"}'"#),
            Corrupt("lmlang_compute_nodes"),
        ),
        case("constant missing", node(ids.seven, "payload = NULL"), Corrupt("lmlang_compute_nodes")),
        case("message as a number", node(ids.check, "payload = '42'"), Corrupt("lmlang_compute_nodes")),
        case("payload on an op without one", node(ids.ret, "payload = '\"stray\"'"), Corrupt("lmlang_compute_nodes")),
        case(
            "truncated parameter list",
            function(ids.main, "params = substr(params, 1, 5)"),
            Corrupt("lmlang_functions"),
        ),
        case(
            "captures of the wrong shape",
            function(ids.closure, r#"captures = '{"n":1}'"#),
            Corrupt("lmlang_functions"),
        ),
        case(
            "capture with an unknown mode",
            function(ids.closure, "captures = replace(captures, 'ByRef', 'ByMagic')"),
            Corrupt("lmlang_functions"),
        ),
        case("truncated type definition", types("definition = substr(definition, 1, 10)"), Corrupt("lmlang_types")),
        case(
            "type definition with an unknown variant",
            types("definition = replace(definition, 'Struct', 'Klass')"),
            Corrupt("lmlang_types"),
        ),
        case("type kind disagrees with its definition", types("kind = 'Array'"), Corrupt("lmlang_types")),
        // Values of the wrong SQL type (SQLite stores whatever it is given in a column
        // without a CHECK; Diesel would read text or a real as an integer).
        case("callee as text", node(ids.call, "callee_id = 'helper'"), Corrupt("lmlang_compute_nodes")),
        case("type reference as a fraction", node(ids.cast, "type_ref = 5.75"), Corrupt("lmlang_compute_nodes")),
        case("type reference as text", node(ids.cast, "type_ref = 'I64'"), Corrupt("lmlang_compute_nodes")),
        case("type reference as a blob", node(ids.cast, "type_ref = x'04'"), Corrupt("lmlang_compute_nodes")),
        case("return type as text", function(ids.helper, "return_type = 'unit'"), Corrupt("lmlang_functions")),
        case("module parent as text", module(ids.util, "parent_id = 'root'"), Corrupt("lmlang_modules")),
        case("function name as invalid UTF-8", function(ids.helper, "name = x'ff00fe'"), Corrupt("lmlang_functions")),
        case("edge value type as a fraction", edge("value_type = 5.5"), Corrupt("lmlang_flow_edges")),
        unchecked("op code as text", node(ids.seven, "op = 'Const'"), Corrupt("lmlang_compute_nodes")),
        unchecked("parameter index as text", node(ids.param, "arg = 'zero'"), Corrupt("lmlang_compute_nodes")),
        unchecked("port as text", edge("target_port = 'first'"), Corrupt("lmlang_flow_edges")),
        unchecked("visibility as a number", function(ids.main, "visibility = 1"), Corrupt("lmlang_functions")),
        // Floats in numeric columns: SQLite stores NaN as NULL, infinities as REAL.
        case("NaN type reference", node(ids.cast, "type_ref = 0.0 / 0.0"), Corrupt("lmlang_compute_nodes")),
        case("infinite type reference", node(ids.cast, "type_ref = 9e999"), Corrupt("lmlang_compute_nodes")),
        case("negative infinite callee", node(ids.call, "callee_id = -9e999"), Corrupt("lmlang_compute_nodes")),
        case("infinite edge value type", edge("value_type = 9e999"), Corrupt("lmlang_flow_edges")),
        unchecked("infinite node id", node(ids.ret, "node_id = 9e999"), Corrupt("lmlang_compute_nodes")),
        unchecked("NaN port", edge("source_port = 0.0 / 0.0"), Corrupt("lmlang_flow_edges")),
        // Unknown variants in coded columns.
        unchecked("unknown op code", node(ids.ret, "op = 99"), Corrupt("lmlang_compute_nodes")),
        unchecked("unknown arithmetic sub-op", node(ids.add, "arg = 17"), Corrupt("lmlang_compute_nodes")),
        unchecked("data edge without its ports", edge("source_port = NULL"), Corrupt("lmlang_flow_edges")),
        unchecked("control edge with ports", edge("value_type = NULL"), Corrupt("lmlang_flow_edges")),
        unchecked("unknown visibility", function(ids.main, "visibility = 'Protected'"), Corrupt("lmlang_functions")),
        unchecked("unknown type kind", types("kind = 'Quantum'"), Corrupt("lmlang_types")),
        // Ids and numbers out of range.
        unchecked(
            "node id beyond u32",
            node(ids.ret, "node_id = 4294967296 + node_id"),
            Corrupt("lmlang_compute_nodes"),
        ),
        unchecked("negative edge id", edge("edge_id = -1"), Corrupt("lmlang_flow_edges")),
        unchecked("port beyond u16", edge("target_port = 70000"), Corrupt("lmlang_flow_edges")),
        unchecked(
            "port beyond u32 (truncates to a valid one)",
            edge("target_port = 4294967296 + target_port"),
            Corrupt("lmlang_flow_edges"),
        ),
        unchecked(
            "op code beyond i16 (truncates to a valid one)",
            node(ids.ret, "op = 65536 + op"),
            Corrupt("lmlang_compute_nodes"),
        ),
        case(
            "node id at or beyond the next id",
            program(&format!("next_node_id = {}", ids.ret.0)),
            Corrupt("lmlang_compute_nodes"),
        ),
        case("edge id at or beyond the next id", program("next_edge_id = 0"), Corrupt("lmlang_flow_edges")),
        unchecked("negative next id", program("next_type_id = -3"), Corrupt("lmlang_programs")),
        unchecked("negative revision", program("revision = -1"), Corrupt("lmlang_programs")),
        // Dangling references (foreign keys are off, as in the sqlite3 shell).
        case("call to a missing function", node(ids.call, "callee_id = 999"), Corrupt("lmlang_compute_nodes")),
        case("cast to a missing type", node(ids.cast, "type_ref = 999"), Corrupt("lmlang_compute_nodes")),
        case("node of a missing function", node(ids.ret, "owner_id = 77"), Corrupt("lmlang_compute_nodes")),
        case("edge to a missing node", edge("target_id = 999"), Corrupt("lmlang_flow_edges")),
        case("edge of a missing type", edge("value_type = 12345"), Corrupt("lmlang_flow_edges")),
        case("entry node missing", function(ids.main, "entry_node_id = 999"), Corrupt("lmlang_functions")),
        case("function in a missing module", function(ids.helper, "module_id = 55"), Corrupt("lmlang_functions")),
        case(
            "closure of a missing parent",
            function(ids.closure, "parent_function_id = 66"),
            Corrupt("lmlang_functions"),
        ),
        case("module under a missing parent", module(ids.util, "parent_id = 99"), Corrupt("lmlang_modules")),
        case(
            "module its own parent",
            module(ids.util, &format!("parent_id = {}", ids.util.0)),
            Corrupt("lmlang_modules"),
        ),
        case(
            "root module deleted",
            format!("DELETE FROM lmlang_modules WHERE program_id = {p} AND module_id = 0"),
            Corrupt("lmlang_modules"),
        ),
        case(
            "function deleted under its nodes",
            format!("DELETE FROM lmlang_functions WHERE program_id = {p} AND function_id = {}", ids.helper.0),
            Corrupt("lmlang_compute_nodes"),
        ),
        case(
            "node deleted under its edges",
            format!("DELETE FROM lmlang_compute_nodes WHERE program_id = {p} AND node_id = {}", ids.nan.0),
            Corrupt("lmlang_flow_edges"),
        ),
        // Duplicated and derived data.
        case(
            "named type's name duplicated",
            format!(
                "INSERT INTO lmlang_types SELECT program_id, type_id + 100, kind, name, module_id, visibility, definition FROM lmlang_types WHERE program_id = {p} AND type_id = {}",
                ids.point.0
            ),
            Corrupt("lmlang_types"),
        ),
        case(
            "semantic rows garbled",
            format!("UPDATE lmlang_semantic_nodes SET name = 'garbage' WHERE program_id = {p}"),
            CorruptOrIntact("lmlang_semantic_nodes"),
        ),
        case(
            "semantic rows deleted",
            format!("DELETE FROM lmlang_semantic_edges WHERE program_id = {p}"),
            CorruptOrIntact("lmlang_semantic_edges"),
        ),
        case("counts wrong", program("node_count = 123456, edge_count = -4"), CorruptOrIntact("lmlang_programs")),
    ]
}

/// The template: the sample program (to be damaged) and an intact bystander.
fn template(dir: &Path) -> (PathBuf, ProgramId, ProgramId, ProgramGraph, SampleIds) {
    let path = dir.join("template.db");
    let (g, ids) = sample_program();
    let store = SqliteStore::open(&path).unwrap();
    let victim = store.insert_program("victim", &g).unwrap();
    let bystander = store.insert_program("bystander", &g).unwrap();
    store.checkpoint().unwrap();
    drop(store);
    (path, victim, bystander, g, ids)
}

fn damage(path: &Path, case: &Case) -> Result<(), String> {
    let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
    // As in the sqlite3 shell (rusqlite's bundled SQLite turns them on by default).
    conn.execute_batch("PRAGMA foreign_keys = OFF").map_err(|e| e.to_string())?;
    if case.unchecked {
        conn.execute_batch("PRAGMA ignore_check_constraints = ON").map_err(|e| e.to_string())?;
    }
    let changed = conn.execute(&case.sql, []).map_err(|e| format!("the damage itself failed: {e}"))?;
    if changed == 0 {
        return Err("the damage changed no row".into());
    }
    Ok(())
}

fn revision(path: &Path, program: ProgramId) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT revision FROM lmlang_programs WHERE id = ?1", [program.0], |r| {
        r.get::<_, rusqlite::types::Value>(0)
    })
    .map(|v| match v {
        rusqlite::types::Value::Integer(i) => i,
        _ => i64::MIN,
    })
    .unwrap()
}

/// Runs one case; `Err` says how it misbehaved.
fn run_case(
    path: PathBuf,
    victim: ProgramId,
    bystander: ProgramId,
    saved: ProgramGraph,
    ids: SampleIds,
    expect: Expect,
) -> Result<(), String> {
    let outcome = within(Duration::from_secs(30), move || -> Result<(), String> {
        let store = SqliteStore::open(&path).map_err(|e| format!("open failed: {e}"))?;
        let load = store.load_program(victim);
        match (&load, expect) {
            (Err(StorageError::Corrupt { table, key, .. }), Expect::Corrupt(t) | Expect::CorruptOrIntact(t)) => {
                if *table != t {
                    return Err(format!("Corrupt names table {table}, expected {t}: {load:?}"));
                }
                if !key.contains(&victim.0.to_string()) {
                    return Err(format!("Corrupt key {key:?} does not name the program"));
                }
            }
            (Ok(g), Expect::CorruptOrIntact(_)) if *g == saved => {}
            (Ok(g), _) if *g == saved => return Err("loaded without error (expected Corrupt)".into()),
            (Ok(g), _) => {
                return Err(format!(
                    "loaded a silently changed program (hash {} instead of {})",
                    g.hashes().program(),
                    saved.hashes().program()
                ));
            }
            (Err(e), _) => return Err(format!("failed with another error: {e:?}")),
        }
        // Row-level reads on the damaged program: any answer, or a typed error.
        let typed = |what: &str, r: Result<(), StorageError>| match r {
            Ok(()) | Err(StorageError::Corrupt { .. } | StorageError::NotFound { .. }) => Ok(()),
            Err(e) => Err(format!("{what}: untyped or unexpected error {e:?}")),
        };
        for n in [ids.param, ids.nan, ids.seven, ids.add, ids.call, ids.cast, ids.make_point, ids.check, ids.ret] {
            typed("get_node", store.get_node(victim, n).map(drop))?;
            typed("find_edges_from", store.find_edges_from(victim, n).map(drop))?;
            typed("find_edges_to", store.find_edges_to(victim, n).map(drop))?;
        }
        for f in [ids.main, ids.helper, ids.closure] {
            typed("get_function", store.get_function(victim, f).map(drop))?;
            typed("find_nodes_by_owner", store.find_nodes_by_owner(victim, f).map(drop))?;
        }
        typed("find_functions_in_module", store.find_functions_in_module(victim, ids.util).map(drop))?;
        typed("get_type", store.get_type(victim, ids.point).map(drop))?;
        typed("find_nodes_by_type", store.find_nodes_by_type(victim, ids.point).map(drop))?;
        typed("get_edge", store.get_edge(victim, ids.data_edge).map(drop))?;
        typed("get_module", store.get_module(victim, ids.util).map(drop))?;
        match store.find_module_by_path(victim, &["root", "util 'x'"]) {
            Ok(_) | Err(StorageError::ModulePathNotFound { .. } | StorageError::Corrupt { .. }) => {}
            Err(e) => return Err(format!("find_module_by_path: {e:?}")),
        }
        match store.list_programs() {
            Ok(_) | Err(StorageError::Corrupt { table: "lmlang_programs", .. }) => {}
            Err(e) => return Err(format!("list_programs: {e:?}")),
        }
        // A write to a damaged program is refused; the bystander is untouched and
        // still writable.
        if load.is_err() {
            match store.insert_node(victim, ids.main, ComputeOp::Print.into()) {
                Err(StorageError::Corrupt { .. }) => {}
                other => return Err(format!("a write on the damaged program gave {other:?}")),
            }
        }
        let intact = store.load_program(bystander).map_err(|e| format!("the bystander: {e}"))?;
        if intact != saved {
            return Err("the bystander changed".into());
        }
        store.insert_node(bystander, ids.main, ComputeOp::Print.into()).map_err(|e| format!("bystander write: {e}"))?;
        Ok(())
    });
    outcome.and_then(|r| r)
}

#[test]
fn corrupt_rows_give_typed_errors_naming_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let (template, victim, bystander, saved, ids) = template(dir.path());
    let mut failures = Vec::new();
    let all = cases(victim, &ids);
    let count = all.len();
    for (i, case) in all.into_iter().enumerate() {
        let path = dir.path().join(format!("case{i}.db"));
        copy_db(&template, &path);
        if let Err(e) = damage(&path, &case) {
            failures.push(format!("{}: {e}", case.name));
            continue;
        }
        let before = revision(&path, victim);
        if let Err(e) = run_case(path.clone(), victim, bystander, saved.clone(), ids, case.expect) {
            failures.push(format!("{}: {e}", case.name));
            continue;
        }
        // Nothing was written to the damaged program.
        if revision(&path, victim) != before {
            failures.push(format!("{}: the damaged program's revision moved", case.name));
        }
    }
    assert!(failures.is_empty(), "{} of {count} cases misbehaved:\n  {}", failures.len(), failures.join("\n  "));
}

#[test]
fn odd_names_and_strings_round_trip_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("names.db")).unwrap();
    let (mut g, ids) = sample_program();
    for (i, name) in reliability_support::ODD_NAMES.iter().enumerate() {
        let m = g.add_module(ModuleId::ROOT, name, lmlang_storage::model::Visibility::Private).unwrap();
        let f = g
            .add_function(
                m,
                name,
                lmlang_storage::model::Visibility::Public,
                vec![(name.to_string(), lmlang_storage::model::TypeId::I8)],
                lmlang_storage::model::TypeId::UNIT,
            )
            .unwrap();
        g.add_core_op(f, ComputeOp::Postcondition { message: name.to_string() }).unwrap();
        g.add_core_op(ids.main, ComputeOp::Precondition { message: format!("{i}: {name}") }).unwrap();
    }
    for name in reliability_support::ODD_NAMES {
        let id = store.insert_program(name, &g).unwrap();
        assert_eq!(store.find_program(name).unwrap(), id, "{name:?} found by name");
        let loaded = store.load_program(id).unwrap();
        assert!(loaded == g, "{name:?}: the program round-trips");
        let listed = store.list_programs().unwrap().into_iter().find(|p| p.id == id).unwrap();
        assert_eq!(listed.name, *name);
        let path: Vec<&str> = vec!["root", name];
        let m = store.find_module_by_path(id, &path).unwrap();
        assert_eq!(store.get_module(id, m).unwrap().name, *name);
        store.rename_program(id, &format!("{name} (renamed)")).unwrap();
        assert_eq!(store.find_program(&format!("{name} (renamed)")).unwrap(), id);
    }
    // A name no program has, however it is quoted, finds nothing.
    for probe in ["' OR '1'='1", "%", "_", "*", "\" OR \"\"=\""] {
        assert!(matches!(store.find_program(probe), Err(StorageError::ProgramNotFound(_))), "{probe:?}");
    }
}

/// Names may no longer begin or end with `:` (paths would be ambiguous), but rows
/// stored before that rule may hold such names: they still load, save and take a
/// rename, rather than turning into "corrupt" programs.
#[test]
fn a_stored_name_ending_with_a_colon_from_before_the_rule_still_loads() {
    use lmlang_storage::model::{TypeId, Visibility};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("legacy.db");
    let mut g = ProgramGraph::new("root");
    let m = g.add_module(ModuleId::ROOT, "legacy", Visibility::Public).unwrap();
    let f = g.add_function(m, "run", Visibility::Public, vec![], TypeId::UNIT).unwrap();
    g.add_core_op(f, ComputeOp::Print).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    let p = store.insert_program("old", &g).unwrap();
    drop(store);
    // As an earlier version would have stored module "legacy:".
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(&format!(
        "UPDATE lmlang_modules SET name = 'legacy:' WHERE program_id = {p} AND module_id = {m};
         UPDATE lmlang_semantic_nodes SET name = 'legacy:' WHERE program_id = {p} AND kind = 'Module' AND entity_id = {m};",
        p = p.0,
        m = m.0
    ))
    .unwrap();
    drop(conn);

    let store = SqliteStore::open(&path).unwrap();
    let mut loaded = store.load_program(p).unwrap();
    assert_eq!(loaded.module(m).unwrap().name, "legacy:");
    assert!(loaded.is_trusted());
    // An edit elsewhere saves, whole program or one function.
    loaded.add_core_op(f, ComputeOp::ReadLine).unwrap();
    store.save_function(p, &loaded, f).unwrap();
    loaded.add_core_op(f, ComputeOp::Print).unwrap();
    store.save_program(p, &loaded).unwrap();
    // The way out: a rename to a name the rule allows.
    loaded.rename_module(m, "legacy").unwrap();
    store.save_program(p, &loaded).unwrap();
    assert!(store.load_program(p).unwrap().validate().is_empty());
}

/// A next id at the top of its range passes the schema's CHECK; loading such a program
/// must not allocate the whole id space (see `reliability_hostile_json` for the same
/// through import). Run in a child limited to 2 GB.
#[test]
fn a_huge_next_id_in_a_row_does_not_exhaust_memory() {
    if !reliability_support::is_small_address_space_child() {
        reliability_support::in_small_address_space("a_huge_next_id_in_a_row_does_not_exhaust_memory").unwrap();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, victim, _, saved, _) = template(dir.path());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE lmlang_programs SET next_node_id = 4294967295, next_edge_id = 4294967295 WHERE id = ?1",
        [victim.0],
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    match store.load_program(victim) {
        // Odd but whole: the ids in use are all below the next ids.
        Ok(g) => {
            assert_eq!(g.next_ids().node, u32::MAX);
            assert_eq!(g.node_count(), saved.node_count());
            let _ = g.hashes().program();
        }
        Err(StorageError::Corrupt { table: "lmlang_programs", .. }) => {}
        Err(e) => panic!("{e:?}"),
    }
}

/// A file at `path` holding a 200-node program whose history records its creation
/// (revision 1) and one inserted node (revision 2): the program, the function edited
/// and its node count before the edit.
fn program_with_history(path: &Path) -> (ProgramId, FunctionId, usize) {
    let store = SqliteStore::open(path).expect("store");
    store.set_history(true);
    let g = lmlang_storage::synth::generate(&lmlang_storage::synth::SynthConfig::new(200));
    let p = store.insert_program("h", &g).expect("insert");
    let f = g.functions().next().map(|f| f.id).expect("a function");
    store.insert_node(p, f, ComputeOp::Print.into()).expect("edit");
    (p, f, g.node_count())
}

#[test]
fn a_damaged_history_row_is_named_by_its_stored_values() {
    use lmlang_storage::store::{LogPage, ProgramHistory};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.db");
    let (p, _, _) = program_with_history(&path);
    let conn = rusqlite::Connection::open(&path).expect("connection");
    conn.execute_batch(&format!(
        "PRAGMA ignore_check_constraints = ON; UPDATE lmlang_history SET revision = -7 WHERE program_id = {} AND revision = 2;",
        p.0
    ))
    .expect("damage");
    drop(conn);
    let err = SqliteStore::open(&path).expect("store").log(p, LogPage::default()).expect_err("a damaged row");
    let text = err.to_string();
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err:?}");
    assert!(text.contains("lmlang_history") && text.contains("revision -7") && !text.contains("Strict"), "{text}");
}

/// A damaged newest history entry refuses recorded edits (they read it for the undo
/// stack), saying how the program is still edited: with recording off, which neither
/// reads nor writes history.
#[test]
fn a_damaged_newest_history_entry_says_edits_go_on_with_recording_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.db");
    let (p, f, nodes) = program_with_history(&path);
    let conn = rusqlite::Connection::open(&path).expect("connection");
    conn.execute_batch(&format!(
        "PRAGMA ignore_check_constraints = ON; UPDATE lmlang_history SET root_hash = X'00' WHERE program_id = {} AND revision = 2;",
        p.0
    ))
    .expect("damage");
    drop(conn);
    let store = SqliteStore::open(&path).expect("store");
    store.set_history(true);
    let err = store.insert_node(p, f, ComputeOp::Print.into()).expect_err("a damaged newest entry");
    assert!(matches!(err, StorageError::Corrupt { table: "lmlang_history", .. }), "{err:?}");
    assert!(err.to_string().contains("history recording off edits it"), "{err}");
    assert_eq!(store.load_program(p).expect("loads").node_count(), nodes + 1, "nothing written");
    store.set_history(false);
    store.insert_node(p, f, ComputeOp::Print.into()).expect("recording off, the edit goes on");
    assert_eq!(store.load_program(p).expect("loads").node_count(), nodes + 2);
}

#[test]
fn a_program_without_its_name_row_is_reported_by_the_listing_not_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let (path, victim, bystander, saved, _) = template(dir.path());
    let sql = format!("DELETE FROM lmlang_program_names WHERE program_id = {}", victim.0);
    damage(&path, &case("name row deleted", sql, Expect::Corrupt("lmlang_program_names"))).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    match store.list_programs() {
        Err(StorageError::Corrupt { table: "lmlang_program_names", key, .. })
            if key.contains(&victim.0.to_string()) => {}
        other => panic!("a program nothing can reach by name must not be left out of the listing: {other:?}"),
    }
    // Listed row by row, the damaged program is named by its id and the other listed whole.
    let each = store.list_programs_each().unwrap();
    assert_eq!(each.iter().map(|(id, _)| *id).collect::<Vec<_>>(), {
        let mut ids = vec![victim, bystander];
        ids.sort();
        ids
    });
    for (id, summary) in &each {
        match summary {
            Ok(s) if *id == bystander => assert_eq!(s.nodes, saved.node_count() as u64),
            Err(StorageError::Corrupt { table: "lmlang_program_names", .. }) if *id == victim => {}
            other => panic!("{id}: {other:?}"),
        }
    }
    assert_eq!(store.load_program(bystander).unwrap(), saved);
    // Reached by id, it can be deleted, and the listing is whole again.
    store.delete_program(victim).unwrap();
    let listed: Vec<ProgramId> = store.list_programs().unwrap().iter().map(|p| p.id).collect();
    assert_eq!(listed, vec![bystander]);
}

/// An undo whose history entry was damaged (a before image changed in the file) is
/// refused as `Corrupt`: the program it would restore does not hash to the root history
/// recorded for that state, and nothing is committed. It used to commit a state the
/// program never had, while `load_at` of the same revision refused it.
#[test]
fn an_undo_through_a_damaged_entry_is_refused_and_commits_nothing() {
    use lmlang_storage::model::{ConstValue, TypeId, Visibility};
    use lmlang_storage::store::ProgramHistory;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.db");
    let store = SqliteStore::open(&path).expect("store");
    store.set_history(true);
    let mut g = ProgramGraph::new("app");
    let f = g.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::UNIT).expect("function");
    let n = g.add_core_op(f, ComputeOp::Const { value: ConstValue::I64(1_000_072) }).expect("node");
    let p = store.insert_program("h", &g).expect("insert");
    for value in [2_000_000, 3_000_000] {
        store.update_node(p, n, ComputeOp::Const { value: ConstValue::I64(value) }.into()).expect("edit");
    }
    // Revision 2 replaced 1_000_072: its before image is the only place that value is.
    let conn = rusqlite::Connection::open(&path).expect("connection");
    let changed = conn
        .execute(
            "UPDATE lmlang_history SET delta = CAST(replace(CAST(delta AS TEXT), '1000072', '1000099') AS BLOB) \
             WHERE program_id = ?1 AND revision = 2",
            [p.0],
        )
        .expect("damage");
    assert_eq!(changed, 1);
    drop(conn);
    let store = SqliteStore::open(&path).expect("store");
    store.set_history(true);
    // A checkout through the damaged entry would give a program that never existed:
    // its root differs from the one recorded at the time.
    match store.load_at(p, 1) {
        Err(StorageError::Corrupt { table: "lmlang_history", .. }) => {}
        other => panic!("expected Corrupt from the checkout, got {other:?}"),
    }
    match store.diff_revisions(p, 1, 3) {
        Err(StorageError::Corrupt { table: "lmlang_history", .. }) => {}
        other => panic!("expected Corrupt from the diff, got {other:?}"),
    }
    store.undo(p, None).expect("the undo of revision 3 is sound");
    let before = store.load_program_with_revision(p).expect("load");
    match store.undo(p, None) {
        Err(StorageError::Corrupt { table: "lmlang_history", .. }) => {}
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(store.load_program_with_revision(p).expect("load"), before, "nothing committed");
}
