//! Hostile JSON: imports of mutated exports and of random bytes end in a typed error or a
//! correct program, never a panic, and a refused import writes nothing.
//!
//! Mutations start from valid exports of random programs: bytes flipped, deleted or
//! inserted; numbers replaced by edge values (0, -1, u32::MAX, 2^32, 1e300, 1.5...);
//! strings and object keys (which name enum variants) replaced by other variant names
//! or garbage; array elements dropped or duplicated (dangling references, duplicate
//! ids). Each result goes through `serde_json::from_str::<ProgramDocument>`,
//! `ProgramGraph::assemble` / `from_document` / `validate` / `hashes`, and
//! `GraphStore::insert_program` on SQLite and in memory.

mod common;
mod reliability_support;

use lmlang_storage::graph::{ProgramDocument, ProgramGraph, TypeEntry};
use lmlang_storage::model::{EdgeId, FlowEdge, LmType, ModuleDef, ModuleId, NodeId, TypeId, Visibility};
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{GraphStore, InMemoryStore, StorageError};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use reliability_support::{in_small_address_space, is_small_address_space_child, sample_program};
use serde_json::Value;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// One SQLite store (and one in-memory store) for every case of a test binary.
struct Stores {
    _dir: tempfile::TempDir,
    sqlite: SqliteStore,
    memory: InMemoryStore,
}

fn stores() -> &'static Stores {
    static STORES: OnceLock<Stores> = OnceLock::new();
    STORES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(dir.path().join("hostile.db")).unwrap();
        Stores { _dir: dir, sqlite, memory: InMemoryStore::new() }
    })
}

fn fresh_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("import {}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Numbers that sit on a boundary of some field. Next ids get the ones that are cheap
/// to honour (see `huge_next_ids_do_not_exhaust_memory` for the others).
const EDGE_NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "8",
    "9",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "-4294967296",
    "9223372036854775808",
    "18446744073709551615",
    "1e300",
    "1.5",
    "-0.0",
    "9007199254740993",
];
const CHEAP_ID_NUMBERS: &[&str] = &["0", "1", "-1", "3", "1000", "65536", "1.5", "1e300", "4294967296"];

/// Variant names of the model's enums, and some that are not.
const NAMES: &[&str] = &[
    "Core",
    "Structured",
    "Const",
    "Call",
    "Data",
    "Control",
    "Public",
    "Private",
    "I64",
    "F64",
    "F32",
    "Unit",
    "Struct",
    "Enum",
    "Array",
    "Scalar",
    "NaN",
    "inf",
    "NaN:0x7ff8000000000001",
    "NaN:0xzz",
    "Nope",
    "",
    "root",
    "it's \"quoted\"",
];

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit { at: usize, bit: u8 },
    DeleteBytes { at: usize, len: usize },
    InsertBytes { at: usize, bytes: Vec<u8> },
    Number { nth: usize, pick: usize },
    Text { nth: usize, pick: usize },
    Key { nth: usize, pick: usize },
    DropElement { nth: usize },
    DuplicateElement { nth: usize },
    StringToNumber { nth: usize },
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    let n = any::<usize>();
    prop_oneof![
        (n, 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (n, 1usize..12).prop_map(|(at, len)| Mutation::DeleteBytes { at, len }),
        (n, prop::collection::vec(any::<u8>(), 1..6)).prop_map(|(at, bytes)| Mutation::InsertBytes { at, bytes }),
        (n, n).prop_map(|(nth, pick)| Mutation::Number { nth, pick }),
        (n, n).prop_map(|(nth, pick)| Mutation::Text { nth, pick }),
        (n, n).prop_map(|(nth, pick)| Mutation::Key { nth, pick }),
        n.prop_map(|nth| Mutation::DropElement { nth }),
        n.prop_map(|nth| Mutation::DuplicateElement { nth }),
        n.prop_map(|nth| Mutation::StringToNumber { nth }),
    ]
}

/// Places in a JSON tree, each with the path of keys leading to it.
#[derive(Default)]
struct Places {
    numbers: Vec<Vec<String>>,
    strings: Vec<Vec<String>>,
    keys: Vec<Vec<String>>,
    elements: Vec<Vec<String>>,
}

fn collect(v: &Value, path: &mut Vec<String>, out: &mut Places) {
    match v {
        Value::Number(_) => out.numbers.push(path.clone()),
        Value::String(_) => out.strings.push(path.clone()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                out.elements.push(path.clone());
                collect(item, path, out);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                path.push(k.clone());
                out.keys.push(path.clone());
                collect(item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn parent_mut<'a>(root: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let (_, parents) = path.split_last()?;
    let mut v = root;
    for step in parents {
        v = match v {
            Value::Array(items) => items.get_mut(step.parse::<usize>().ok()?)?,
            Value::Object(map) => map.get_mut(step)?,
            _ => return None,
        };
    }
    Some(v)
}

fn at_mut<'a>(root: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let last = path.last()?;
    match parent_mut(root, path)? {
        Value::Array(items) => items.get_mut(last.parse::<usize>().ok()?),
        Value::Object(map) => map.get_mut(last),
        _ => None,
    }
}

fn pick<T: Copy>(items: &[T], k: usize) -> T {
    items[k % items.len()]
}

/// The mutated text (possibly no longer JSON at all).
fn mutate(valid: &str, m: &Mutation) -> String {
    let mut bytes = valid.as_bytes().to_vec();
    let len = bytes.len().max(1);
    let mut tree: Value = serde_json::from_str(valid).unwrap();
    let mut places = Places::default();
    collect(&tree, &mut Vec::new(), &mut places);
    let choose = |list: &Vec<Vec<String>>, nth: usize| (!list.is_empty()).then(|| list[nth % list.len()].clone());
    match m {
        Mutation::FlipBit { at, bit } => {
            bytes[at % len] ^= 1 << bit;
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        Mutation::DeleteBytes { at, len: n } => {
            let start = at % len;
            bytes.drain(start..(start + n).min(bytes.len()));
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        Mutation::InsertBytes { at, bytes: new } => {
            let start = at % len;
            bytes.splice(start..start, new.iter().copied());
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        Mutation::Number { nth, pick: k } => {
            if let Some(path) = choose(&places.numbers, *nth) {
                let numbers =
                    if path.first().is_some_and(|p| p == "next_ids") { CHEAP_ID_NUMBERS } else { EDGE_NUMBERS };
                if let Some(v) = at_mut(&mut tree, &path) {
                    *v = serde_json::from_str(pick(numbers, *k)).unwrap_or(Value::Null);
                }
            }
        }
        Mutation::Text { nth, pick: k } => {
            if let Some(v) = choose(&places.strings, *nth).and_then(|p| at_mut(&mut tree, &p)) {
                *v = Value::String(pick(NAMES, *k).to_string());
            }
        }
        Mutation::Key { nth, pick: k } => {
            if let Some(path) = choose(&places.keys, *nth)
                && let Some(Value::Object(map)) = parent_mut(&mut tree, &path)
                && let Some(v) = map.remove(path.last().unwrap())
            {
                map.insert(pick(NAMES, *k).to_string(), v);
            }
        }
        Mutation::DropElement { nth } | Mutation::DuplicateElement { nth } => {
            if let Some(path) = choose(&places.elements, *nth) {
                let i: usize = path.last().unwrap().parse().unwrap();
                if let Some(Value::Array(items)) = parent_mut(&mut tree, &path) {
                    if matches!(m, Mutation::DropElement { .. }) {
                        items.remove(i);
                    } else {
                        let copy = items[i].clone();
                        items.insert(i, copy);
                    }
                }
            }
        }
        Mutation::StringToNumber { nth } => {
            if let Some(v) = choose(&places.strings, *nth).and_then(|p| at_mut(&mut tree, &p)) {
                *v = Value::from(7);
            }
        }
    }
    serde_json::to_string(&tree).unwrap()
}

/// What an import of `text` must do: a typed error before anything is stored, or a
/// program that loads back equal to what was imported. Returns whether the text was a
/// document at all (and so reached assembly, validation and the stores).
fn import_is_safe(text: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<ProgramDocument>(text) else { return false };
    let assembled = ProgramGraph::assemble(doc.clone());
    let violations = assembled.validate();
    // A broken graph can still be shown and hashed (tools display broken programs).
    let _ = assembled.hashes().program();
    let checked = ProgramGraph::from_document(doc);
    assert_eq!(checked.is_ok(), violations.is_empty(), "from_document and validate agree");
    let s = stores();
    for store in [&s.sqlite as &dyn GraphStore, &s.memory] {
        let name = fresh_name();
        match (&checked, store.insert_program(&name, &assembled)) {
            (Ok(g), Ok(id)) => {
                let loaded = store.load_program(id).unwrap();
                assert!(loaded == *g, "an accepted import loads back equal");
                assert_eq!(loaded.hashes().program(), g.hashes().program());
                store.delete_program(id).unwrap();
            }
            (Err(_), Ok(_)) => panic!("an invalid document was stored: {violations:?}"),
            (_, Err(StorageError::Invalid { violations: v })) => {
                assert!(!v.is_empty());
                // Tests share the stores and run in parallel: look for this import's
                // own (unique) name rather than comparing whole listings.
                assert!(
                    store.list_programs().unwrap().iter().all(|p| p.name != name),
                    "a refused import writes nothing"
                );
            }
            (_, Err(e)) => panic!("an import failed with an untyped error: {e:?}"),
        }
    }
    true
}

/// Writes `edits` over `text`: half of them put a random digit over a digit of the
/// export (an id, port, index, length or next id), so that most edited exports still
/// parse and reach assembly; the others put any byte anywhere.
fn overwrite_bytes(text: &str, edits: &[(prop::sample::Index, u8, bool)]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let digits: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i].is_ascii_digit()).collect();
    for (at, byte, digit) in edits {
        if *digit && !digits.is_empty() {
            bytes[digits[at.index(digits.len())]] = b'0' + byte % 10;
        } else {
            let i = at.index(bytes.len());
            bytes[i] = *byte;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The byte-level fuzz below must exercise the store, not just the JSON parser.
#[test]
fn random_byte_edits_mostly_reach_the_store() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let edits = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<bool>()), 1..4);
    let text = export_text(&sample_program().0);
    let mut reached = 0;
    for _ in 0..200 {
        let e = edits.new_tree(&mut runner).expect("edits").current();
        reached += usize::from(import_is_safe(&overwrite_bytes(&text, &e)));
    }
    assert!(reached >= 40, "only {reached} of 200 edited exports reached assembly");
}

fn export_text(g: &ProgramGraph) -> String {
    serde_json::to_string(&g.to_document()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn mutated_exports_are_refused_or_imported_exactly(
        g in common::arb_program(),
        mutations in prop::collection::vec(arb_mutation(), 1..4),
    ) {
        let mut text = export_text(&g);
        for m in &mutations {
            text = mutate(&text, m);
            if serde_json::from_str::<Value>(&text).is_err() {
                break;
            }
        }
        import_is_safe(&text);
    }

    #[test]
    fn random_bytes_are_refused_or_imported_exactly(
        g in common::arb_program(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<bool>()), 1..4),
    ) {
        import_is_safe(&overwrite_bytes(&export_text(&g), &edits));
    }

    #[test]
    fn random_json_values_are_refused_or_imported(v in arb_json()) {
        import_is_safe(&v.to_string());
    }
}

/// Arbitrary JSON shaped roughly like a document, so parsing gets past the first field.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u32..64).prop_map(Value::from),
        prop::sample::select(NAMES).prop_map(Value::from),
    ];
    let inner = leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(NAMES).prop_map(String::from), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    (inner.clone(), inner.clone(), inner.clone(), inner.clone(), inner).prop_map(
        |(modules, types, functions, nodes, edges)| {
            serde_json::json!({
                "format_version": 1,
                "next_ids": { "node": 8, "edge": 8, "function": 4, "module": 4, "type": 12 },
                "modules": [{ "id": 0, "name": "root", "parent": null, "visibility": "Public" }, modules],
                "types": types,
                "functions": functions,
                "nodes": nodes,
                "edges": edges,
            })
        },
    )
}

#[test]
fn every_valid_export_imports_exactly() {
    // The unmutated baseline of the property above.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..20 {
        let g = common::arb_program().new_tree(&mut runner).unwrap().current();
        import_is_safe(&export_text(&g));
    }
}

/// A document may claim next ids up to u32::MAX with no entity near them. Assembling,
/// validating, hashing and storing it must not try to allocate the whole id space (32
/// GB for nodes alone): that aborts the process, worse than a panic for a service
/// importing user files. Run in a child limited to 2 GB, so a regression fails this
/// test instead of the machine.
#[test]
fn huge_next_ids_do_not_exhaust_memory() {
    if !is_small_address_space_child() {
        in_small_address_space("huge_next_ids_do_not_exhaust_memory").unwrap();
        return;
    }
    let (g, _) = sample_program();
    let mut doc = g.to_document();
    doc.next_ids.node = u32::MAX;
    doc.next_ids.edge = u32::MAX;
    doc.next_ids.type_ = u32::MAX;
    import_is_safe(&serde_json::to_string(&doc).unwrap());
}

/// Type ids near the top of their range, in a valid program (and in a broken one, as a
/// dangling reference): hashing must not allocate per possible type id.
#[test]
fn type_ids_near_the_top_do_not_exhaust_memory() {
    if !is_small_address_space_child() {
        in_small_address_space("type_ids_near_the_top_do_not_exhaust_memory").unwrap();
        return;
    }
    let (g, ids) = sample_program();
    let mut doc = g.to_document();
    let top = TypeId(u32::MAX - 1);
    doc.next_ids.type_ = u32::MAX;
    doc.types.push(TypeEntry { id: top, name: None, ty: LmType::Array { element: TypeId::I8, length: 2 } });
    for e in &mut doc.edges {
        if e.id == ids.data_edge {
            e.edge = FlowEdge::Data { source_port: 0, target_port: 0, value_type: top };
        }
    }
    import_is_safe(&serde_json::to_string(&doc).unwrap());
    // The same reference, dangling.
    doc.types.pop();
    import_is_safe(&serde_json::to_string(&doc).unwrap());
}

/// A node and an edge with ids near u32::MAX, next ids just past them: every id is
/// then "plausible" relative to the highest one, yet the dense id tables would take
/// 32 GB each. Refused as implausibly sparse, in a child limited to 2 GB.
#[test]
fn node_and_edge_ids_near_the_top_do_not_exhaust_memory() {
    if !is_small_address_space_child() {
        in_small_address_space("node_and_edge_ids_near_the_top_do_not_exhaust_memory").unwrap();
        return;
    }
    let (g, ids) = sample_program();
    let mut doc = g.to_document();
    let top = u32::MAX - 1;
    for n in &mut doc.nodes {
        if n.id == ids.seven {
            n.id = NodeId(top);
        }
    }
    for e in &mut doc.edges {
        for end in [&mut e.source, &mut e.target] {
            if *end == ids.seven {
                *end = NodeId(top);
            }
        }
    }
    doc.next_ids.node = u32::MAX;
    let violations = ProgramGraph::assemble(doc.clone()).validate();
    assert!(violations.iter().any(|v| v.to_string().contains("implausibly sparse")), "{violations:?}");
    import_is_safe(&serde_json::to_string(&doc).unwrap());

    let mut doc = g.to_document();
    if let Some(e) = doc.edges.iter_mut().find(|e| e.id == ids.data_edge) {
        e.id = EdgeId(top);
    }
    doc.next_ids.edge = u32::MAX;
    let violations = ProgramGraph::assemble(doc.clone()).validate();
    assert!(violations.iter().any(|v| v.to_string().contains("implausibly sparse")), "{violations:?}");
    import_is_safe(&serde_json::to_string(&doc).unwrap());
}

/// A module id at u32::MAX: refused or imported, not a panic on `id + 1`.
#[test]
fn a_module_id_at_the_top_does_not_panic() {
    let mut doc = sample_program().0.to_document();
    doc.next_ids.module = u32::MAX;
    doc.modules.push(ModuleDef {
        id: ModuleId(u32::MAX),
        name: "top".into(),
        parent: Some(ModuleId::ROOT),
        visibility: Visibility::Public,
    });
    import_is_safe(&serde_json::to_string(&doc).unwrap());
}
