//! Criterion benches of design.md §4 at 10k nodes, each store figure beside its raw
//! SQLite floor (`*_floor`), for tracking changes with criterion's statistics.
//! `lmstore bench` gives the same figures at several sizes with goals and ratios.
//!
//! Run with `cargo bench` (all) or `cargo bench --bench storage -- load` (a filter).
//! Benches are not part of `cargo test`.

// The floor is the one `lmstore bench` uses; a few of its helpers serve only the CLI.
#[allow(dead_code)]
#[path = "../src/bench/raw.rs"]
mod raw;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::hash;
use lmlang_storage::model::{ComputeNodeOp, ComputeOp, ConstValue, FlowEdge, FunctionId, NodeId};
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{GraphStore, ProgramId};
use lmlang_storage::synth::{SynthConfig, generate, one_node_edit};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tempfile::TempDir;

const NODES: usize = 10_000;

/// A fresh database file with the schema, in its own temporary directory.
fn fresh_db() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("bench.db");
    drop(SqliteStore::open(&path).expect("the schema is created"));
    (dir, path)
}

/// The stored 10k-node program, its rows, and a floor database holding the same rows.
struct Fixture {
    graph: ProgramGraph,
    _dirs: (TempDir, TempDir),
    store: SqliteStore,
    program: ProgramId,
    rows: raw::ProgramRows,
    floor: rusqlite::Connection,
    functions: Vec<FunctionId>,
    nodes: Vec<NodeId>,
}

fn fixture() -> Fixture {
    let graph = generate(&SynthConfig::new(NODES));
    let (main_dir, main) = fresh_db();
    let store = SqliteStore::open(&main).expect("open");
    let program = store.insert_program("bench", &graph).expect("insert");
    let rows = raw::read_program(&raw::open(&main).expect("open raw"), program.0).expect("read rows");
    let (floor_dir, floor_path) = fresh_db();
    let mut floor = raw::open(&floor_path).expect("open floor");
    raw::bulk_insert(&mut floor, &rows, raw::BULK_ROWS_PER_STATEMENT).expect("floor insert");
    let functions = graph.functions().map(|f| f.id).collect();
    let nodes = graph.nodes().map(|(id, _)| id).collect();
    Fixture { graph, _dirs: (main_dir, floor_dir), store, program, rows, floor, functions, nodes }
}

/// Keys spread over the whole program, the same for the store and the floor. (The
/// floor runs a batch of keys per call, as `lmstore bench` does, so its statement
/// set-up is not counted per query.)
fn spread<T: Copy>(from: &[T], i: u64) -> T {
    from[(i.wrapping_mul(2_654_435_761) % from.len() as u64) as usize]
}

fn whole_program(c: &mut Criterion, f: &mut Fixture) {
    let mut group = c.benchmark_group("10k");
    group.sample_size(10).measurement_time(Duration::from_secs(5));

    group.bench_function("bulk_save", |b| {
        b.iter_batched(
            || {
                let (dir, path) = fresh_db();
                (dir, SqliteStore::open(&path).expect("open"))
            },
            |(dir, store)| {
                store.insert_program("bench", &f.graph).expect("insert");
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("bulk_save_floor", |b| {
        b.iter_batched(
            || {
                let (dir, path) = fresh_db();
                (dir, raw::open(&path).expect("open"))
            },
            |(dir, mut conn)| {
                raw::bulk_insert(&mut conn, &f.rows, raw::BULK_ROWS_PER_STATEMENT).expect("insert");
                (dir, conn)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("load", |b| b.iter(|| f.store.load_program(f.program).expect("load")));
    group.bench_function("load_floor", |b| b.iter(|| raw::scan_program(&mut f.floor, &f.rows).expect("scan")));
    group.bench_function("hash_from_scratch", |b| b.iter(|| hash::compute(black_box(&f.graph))));
    group.finish();
}

fn small_edits(c: &mut Criterion, f: &mut Fixture) {
    let mut group = c.benchmark_group("10k");
    group.measurement_time(Duration::from_secs(3));

    let mut loaded = f.store.load_program(f.program).expect("load");
    let mut seed = 0;
    group.bench_function("save_after_one_node_edit", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                seed += 1;
                one_node_edit(&mut loaded, seed).expect("a constant to edit");
                let start = Instant::now();
                f.store.save_program(f.program, &loaded).expect("save");
                total += start.elapsed();
            }
            total
        })
    });

    black_box(loaded.hashes());
    let constants: Vec<(NodeId, ConstValue)> = loaded
        .nodes()
        .filter_map(|(id, n)| match n.op {
            ComputeNodeOp::Core(ComputeOp::Const { value: ConstValue::I64(v) }) => Some((id, ConstValue::I64(v))),
            _ => None,
        })
        .collect();
    let mut i = 0u64;
    group.bench_function("rehash_after_one_node_edit", |b| {
        b.iter_batched(
            || {
                i += 1;
                let (id, _) = spread(&constants, i);
                (id, ComputeOp::Const { value: ConstValue::I64(i as i64) }.into())
            },
            |(id, op): (NodeId, ComputeNodeOp)| loaded.modify_compute_node_op(id, op).expect("edit"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn queries(c: &mut Criterion, f: &mut Fixture) {
    let mut group = c.benchmark_group("10k");
    group.measurement_time(Duration::from_secs(3));
    let program = f.program;
    let mut i = 0u64;
    let mut next = || {
        i += 1;
        i
    };

    group.bench_function("find_nodes_by_owner", |b| {
        b.iter(|| f.store.find_nodes_by_owner(program, spread(&f.functions, next())).expect("query"))
    });
    group.bench_function("find_nodes_by_owner_floor", |b| {
        b.iter_custom(|iters| {
            let keys: Vec<i64> = (0..iters).map(|_| i64::from(spread(&f.functions, next()).0)).collect();
            raw::indexed_selects(&f.floor, &f.rows, raw::NODES_BY_OWNER, &keys).expect("query").0
        })
    });
    group.bench_function("find_edges_from", |b| {
        b.iter(|| f.store.find_edges_from(program, spread(&f.nodes, next())).expect("query"))
    });
    group.bench_function("find_edges_from_floor", |b| {
        b.iter_custom(|iters| {
            let keys: Vec<i64> = (0..iters).map(|_| i64::from(spread(&f.nodes, next()).0)).collect();
            raw::indexed_selects(&f.floor, &f.rows, raw::EDGES_FROM, &keys).expect("query").0
        })
    });
    group.bench_function("find_edges_to", |b| {
        b.iter(|| f.store.find_edges_to(program, spread(&f.nodes, next())).expect("query"))
    });
    group.bench_function("find_edges_to_floor", |b| {
        b.iter_custom(|iters| {
            let keys: Vec<i64> = (0..iters).map(|_| i64::from(spread(&f.nodes, next()).0)).collect();
            raw::indexed_selects(&f.floor, &f.rows, raw::EDGES_TO, &keys).expect("query").0
        })
    });
    group.finish();
}

fn mutations(c: &mut Criterion, f: &mut Fixture) {
    let mut group = c.benchmark_group("10k");
    group.measurement_time(Duration::from_secs(3));
    let program = f.program;
    let function = f.functions[0];
    let op = || -> ComputeNodeOp { ComputeOp::Const { value: ConstValue::I64(7) }.into() };
    // Warm the store's write cache, and keep two nodes to join with edges.
    let a = f.store.insert_node(program, function, op()).expect("insert");
    let b_node = f.store.insert_node(program, function, op()).expect("insert");

    group.bench_function("commit_insert_node", |b| {
        b.iter(|| f.store.insert_node(program, function, op()).expect("insert"))
    });
    group.bench_function("commit_insert_edge", |b| {
        b.iter(|| f.store.insert_edge(program, a, b_node, FlowEdge::Control { branch_index: None }).expect("insert"))
    });

    let nodes = f.rows.table("lmlang_compute_nodes").expect("node rows");
    let edges = f.rows.table("lmlang_flow_edges").expect("edge rows");
    let mut next_node = nodes.max_int("node_id").expect("node ids") + 1;
    let mut next_edge = edges.max_int("edge_id").expect("edge ids") + 1;
    group.bench_function("commit_insert_node_floor", |b| {
        b.iter_custom(|iters| {
            let t = raw::single_row_commits(&mut f.floor, nodes, "node_id", next_node, iters as usize).expect("insert");
            next_node += iters as i64;
            t
        })
    });
    group.bench_function("commit_insert_edge_floor", |b| {
        b.iter_custom(|iters| {
            let t = raw::single_row_commits(&mut f.floor, edges, "edge_id", next_edge, iters as usize).expect("insert");
            next_edge += iters as i64;
            t
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let mut f = fixture();
    whole_program(c, &mut f);
    small_edits(c, &mut f);
    queries(c, &mut f);
    mutations(c, &mut f);
}

criterion_group!(storage, benches);
criterion_main!(storage);
