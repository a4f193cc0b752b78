//! A store that works on many programs keeps what it holds of them within its limits:
//! a service editing one program per user through one store must not grow without
//! bound (an outside review measured 46 KB kept per 60-node program, every program
//! ever edited), and an edit of a program whose copy was dropped must still be exact.
//! Run on every backend, as the cache is the shared engine's.

#[cfg(feature = "postgres")]
#[path = "pg_support/mod.rs"]
mod pg_support;

use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::{ComputeNodeOp, ComputeOp, ConstValue, FunctionId, ModuleId, Visibility};
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{Backend, CacheLimits, CacheStats, GraphStore, InMemoryStore, ProgramId, Store};
use lmlang_storage::synth::{SynthConfig, generate};

fn constant(v: i32) -> ComputeNodeOp {
    ComputeNodeOp::Core(ComputeOp::Const { value: ConstValue::I32(v) })
}

/// A small generated program: its first function and its node count.
fn small(nodes: usize, seed: u64) -> (ProgramGraph, FunctionId) {
    let graph = generate(&SynthConfig { nodes, seed, gaps: false });
    let function = graph.functions().next().map(|f| f.id).expect("a generated program has a function");
    (graph, function)
}

/// Edits ten programs in turn with room for three copies besides the last; then edits
/// the first again, whose copy was dropped, and checks every program against what was
/// added to it, through a second store that shares nothing with the first.
fn copies_past_the_limit_are_dropped_and_edits_stay_exact<B: Backend>(store: &Store<B>, other: &dyn GraphStore) {
    store.set_cache_limits(CacheLimits { programs: 3, elements: 1_000_000 });
    let mut programs = Vec::new();
    for i in 0..10 {
        let (graph, function) = small(60, i);
        let id = store.insert_program(&format!("p{i}"), &graph).expect("insert");
        store.insert_node(id, function, constant(i as i32)).expect("edit");
        let held = store.cache_stats();
        assert!(held.programs <= 4, "after program {i}: {held:?}");
        programs.push((id, function, graph.node_count() + 1));
    }
    assert_eq!(store.cache_stats().programs, 4, "three copies and the last program's");
    // The first program's copy is long gone: the edit reads it again.
    let (first, function, _) = programs[0];
    store.insert_node(first, function, constant(-1)).expect("edit of a dropped copy");
    programs[0].2 += 1;
    assert!(store.cache_stats().programs <= 4);
    for (id, _, nodes) in &programs {
        assert_eq!(other.load_program(*id).expect("load").node_count(), *nodes, "program {id}");
        assert_eq!(
            store.load_program(*id).expect("load").hashes().program(),
            other.load_program(*id).expect("load").hashes().program()
        );
    }
}

/// The copies' nodes and edges stay within the limit, except the last program's, which
/// is kept however big (its next edit would otherwise read it whole again).
fn copies_are_kept_within_their_nodes_and_edges<B: Backend>(store: &Store<B>) {
    store.set_cache_limits(CacheLimits { programs: 100, elements: 500 });
    let (big, function) = small(2_000, 7);
    let big_id = store.insert_program("big", &big).expect("insert");
    store.insert_node(big_id, function, constant(1)).expect("edit");
    let held = store.cache_stats();
    assert_eq!(held.programs, 1, "{held:?}");
    assert!(held.elements > 2_000, "the last program's copy is kept whole: {held:?}");
    for i in 0..6 {
        let (graph, function) = small(100, 100 + i);
        let size = graph.node_count() + graph.edge_count();
        let id = store.insert_program(&format!("s{i}"), &graph).expect("insert");
        store.insert_node(id, function, constant(2)).expect("edit");
        let held = store.cache_stats();
        // Besides the last program's copy (about `size`), at most 500 nodes and edges.
        assert!(held.elements <= 500 + size + 1, "after s{i} of {size}: {held:?}");
    }
    // The big program's copy went first, being past the limit on its own.
    let before = store.cache_stats();
    store.set_cache_limits(CacheLimits { programs: 0, elements: 0 });
    let after = store.cache_stats();
    assert_eq!(after.programs, before.programs.min(1), "lowered limits drop copies at once: {before:?} {after:?}");
}

/// Programs only read (a load hands the caller the graph; the store remembers it was
/// saved) are remembered in entries without a copy, and those are bounded too.
fn programs_remembered_are_bounded<B: Backend>(store: &Store<B>) {
    let mut ids = Vec::new();
    for i in 0..5_000 {
        ids.push(store.create_program(&format!("r{i}")).expect("create"));
    }
    for id in &ids {
        let graph = store.load_program(*id).expect("load");
        assert_eq!(graph.node_count(), 0);
    }
    let CacheStats { entries, .. } = store.cache_stats();
    assert!(entries <= 4_096, "{entries} programs remembered");
    // Forgotten or not, every program is still there and saves as before.
    let last = *ids.last().expect("ids");
    let mut graph = store.load_program(ids[0]).expect("load");
    graph.add_module(ModuleId::ROOT, "m", Visibility::Public).expect("module");
    store.save_program(ids[0], &graph).expect("save of a program forgotten");
    assert_eq!(store.load_program(ids[0]).expect("load").hashes().program(), graph.hashes().program());
    assert!(store.program_summary(last).is_ok());
}

/// Two stores on one new SQLite file, as two processes of a service would have; the
/// file's directory is removed when the returned `TempDir` is dropped.
fn two_stores_on_one_file() -> (tempfile::TempDir, SqliteStore, SqliteStore) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("c.db");
    let store = SqliteStore::open(&path).expect("open");
    let other = SqliteStore::open(&path).expect("open a second store");
    (dir, store, other)
}

#[test]
fn in_memory_copies_past_the_limit_are_dropped_and_edits_stay_exact() {
    let store = InMemoryStore::new();
    // The in-memory tables are the store's own; the check reads them through it.
    copies_past_the_limit_are_dropped_and_edits_stay_exact(&store, &store);
}

#[test]
fn sqlite_copies_past_the_limit_are_dropped_and_edits_stay_exact() {
    let (_dir, store, other) = two_stores_on_one_file();
    copies_past_the_limit_are_dropped_and_edits_stay_exact(&store, &other);
}

#[test]
fn copies_are_kept_within_their_nodes_and_edges_in_memory_and_on_sqlite() {
    copies_are_kept_within_their_nodes_and_edges(&InMemoryStore::new());
    copies_are_kept_within_their_nodes_and_edges(&SqliteStore::temporary().expect("store"));
}

#[test]
fn programs_remembered_are_bounded_in_memory() {
    programs_remembered_are_bounded(&InMemoryStore::new());
}

#[test]
fn an_edit_of_a_program_another_process_changed_after_its_copy_was_dropped_reads_the_change() {
    let (_dir, store, other) = two_stores_on_one_file();
    store.set_cache_limits(CacheLimits { programs: 0, elements: 0 });
    let (graph, function) = small(60, 1);
    let a = store.insert_program("a", &graph).expect("insert");
    let b = store.insert_program("b", &graph).expect("insert");
    store.insert_node(a, function, constant(1)).expect("edit a");
    store.insert_node(b, function, constant(2)).expect("edit b: a's copy dropped");
    other.insert_node(a, function, constant(3)).expect("another store edits a");
    store.insert_node(a, function, constant(4)).expect("edit a again");
    let loaded = other.load_program(a).expect("load");
    assert_eq!(loaded.node_count(), graph.node_count() + 3);
    assert_eq!(store.load_program(a).expect("load").hashes().program(), loaded.hashes().program());
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_copies_past_the_limit_are_dropped_and_edits_stay_exact() {
    let Some(schema) = pg_support::TestSchema::new() else { return };
    let store = schema.store();
    let other = schema.store();
    copies_past_the_limit_are_dropped_and_edits_stay_exact(&store, &other);
    copies_are_kept_within_their_nodes_and_edges(&schema.store());
}

#[test]
fn a_program_summary_reads_one_program_and_names_a_missing_or_damaged_one() {
    let store = InMemoryStore::new();
    let (graph, _) = small(60, 3);
    let id = store.insert_program("s", &graph).expect("insert");
    let summary = store.program_summary(id).expect("summary");
    let listed = store.list_programs().expect("list").into_iter().find(|s| s.id == id).expect("listed");
    assert_eq!(summary, listed);
    assert!(matches!(
        store.program_summary(ProgramId(id.0 + 1)),
        Err(lmlang_storage::store::StorageError::ProgramNotFound(_))
    ));
}
