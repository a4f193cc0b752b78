//! The single-mutation commit path under a profiler: `insert_node` and `insert_edge`
//! commits of the store beside the raw floor's single-row commits (the bench's own
//! floor code), each in a function of its own so `valgrind --tool=callgrind
//! --toggle-collect=` can count just the commits. BENCHMARKS.md has the commands.
//!
//! ```sh
//! cargo build --release -p lmstore --example sqlite_commit_profile
//! P=./target/release/examples/sqlite_commit_profile
//! $P setup /tmp/cp 100000                    # store.db and floor.db of a 100k-node program
//! valgrind --tool=callgrind --toggle-collect='*store_commits*' $P store /tmp/cp 2000
//! valgrind --tool=callgrind --toggle-collect='*floor_commits*' $P floor /tmp/cp 2000
//! valgrind --tool=callgrind --toggle-collect='*store_bulk*' $P store-bulk /tmp/cp 100000
//! valgrind --tool=callgrind --toggle-collect='*floor_bulk*' $P floor-bulk /tmp/cp 100000
//! $P latency /tmp/cp 5000                    # each insert_node commit timed: p50, p99, max
//! ```

// The floor is the one `lmstore bench` uses; a few of its helpers serve only the CLI.
#[allow(dead_code)]
#[path = "../src/bench/raw.rs"]
mod raw;

use lmlang_storage::model::{ComputeNodeOp, ComputeOp, ConstValue, FlowEdge, FunctionId, NodeId};
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{GraphStore, ProgramId};
use lmlang_storage::synth::{SynthConfig, generate};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: sqlite_commit_profile setup|store|latency|floor|store-bulk|floor-bulk DIR N";
    let (mode, dir, n) = match &args[..] {
        [_, mode, dir, n] => (mode.as_str(), PathBuf::from(dir), n.parse::<usize>()?),
        _ => return Err(usage.into()),
    };
    match mode {
        "setup" => setup(&dir, n),
        "store" => {
            let store = SqliteStore::open(dir.join("store.db"))?;
            let program = store.find_program("profile")?;
            let function = store.load_program(program)?.functions().next().map(|f| f.id).ok_or("no function")?;
            // Loads the program into the store's write cache: not part of the commit path.
            let first = store.insert_node(program, function, op())?;
            let start = Instant::now();
            store_commits(&store, program, function, first, n)?;
            let t = start.elapsed().as_secs_f64();
            println!("store: {n} insert_node + {n} insert_edge commits, {:.1} us each", t * 1e6 / (2 * n) as f64);
            Ok(())
        }
        "latency" => {
            let store = SqliteStore::open(dir.join("store.db"))?;
            let program = store.find_program("profile")?;
            let function = store.load_program(program)?.functions().next().map(|f| f.id).ok_or("no function")?;
            let mut times = Vec::with_capacity(n);
            store.insert_node(program, function, op())?;
            for _ in 0..n {
                let start = Instant::now();
                store.insert_node(program, function, op())?;
                times.push(start.elapsed().as_secs_f64() * 1e6);
            }
            times.sort_by(f64::total_cmp);
            let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
            let mean = times.iter().sum::<f64>() / times.len() as f64;
            println!(
                "store: {n} insert_node commits, us: mean {mean:.1}, p50 {:.1}, p99 {:.1}, p99.9 {:.1}, max {:.1}",
                at(0.5),
                at(0.99),
                at(0.999),
                at(1.0)
            );
            Ok(())
        }
        "floor" => {
            let main = raw::open(&dir.join("store.db"))?;
            let program =
                main.query_row("SELECT program_id FROM lmlang_program_names WHERE name = 'profile'", [], |r| r.get(0))?;
            let rows = raw::read_program(&main, program)?;
            drop(main);
            let mut conn = raw::open(&dir.join("floor.db"))?;
            let start = Instant::now();
            floor_commits(&mut conn, &rows, n)?;
            let t = start.elapsed().as_secs_f64();
            println!("floor: {n} node + {n} edge single-row commits, {:.1} us each", t * 1e6 / (2 * n) as f64);
            Ok(())
        }
        "store-bulk" => {
            let graph = generate(&SynthConfig::new(n));
            let store = SqliteStore::open(fresh(&dir, "bulk-store.db")?)?;
            let start = Instant::now();
            store_bulk(&store, &graph)?;
            println!("store: bulk save of {n} nodes in {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
            Ok(())
        }
        "floor-bulk" => {
            let graph = generate(&SynthConfig::new(n));
            let source = SqliteStore::open(fresh(&dir, "bulk-source.db")?)?;
            let program = source.insert_program("profile", &graph)?;
            drop(source);
            let rows = raw::read_program(&raw::open(&dir.join("bulk-source.db"))?, program.0)?;
            let target = fresh(&dir, "bulk-floor.db")?;
            drop(SqliteStore::open(&target)?);
            let mut conn = raw::open(&target)?;
            let start = Instant::now();
            floor_bulk(&mut conn, &rows)?;
            println!("floor: bulk insert of {n} nodes in {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
            Ok(())
        }
        _ => Err(usage.into()),
    }
}

/// `dir/name` with no database left there from an earlier run.
fn fresh(dir: &Path, name: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("{name}{suffix}")));
    }
    Ok(dir.join(name))
}

/// The bench's bulk save: a new program from a whole graph.
#[inline(never)]
fn store_bulk(store: &SqliteStore, graph: &lmlang_storage::graph::ProgramGraph) -> Result<()> {
    black_box(store.insert_program("bulk", graph)?);
    Ok(())
}

/// The bench's bulk floor: the same rows by hand, in one transaction.
#[inline(never)]
fn floor_bulk(conn: &mut rusqlite::Connection, rows: &raw::ProgramRows) -> Result<()> {
    black_box(raw::bulk_insert(conn, rows, raw::BULK_ROWS_PER_STATEMENT)?);
    Ok(())
}

fn op() -> ComputeNodeOp {
    ComputeOp::Const { value: ConstValue::I64(7) }.into()
}

fn setup(dir: &Path, nodes: usize) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for f in ["store.db", "store.db-wal", "store.db-shm", "floor.db", "floor.db-wal", "floor.db-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let graph = generate(&SynthConfig::new(nodes));
    let store = SqliteStore::open(dir.join("store.db"))?;
    let program = store.insert_program("profile", &graph)?;
    drop(store);
    drop(SqliteStore::open(dir.join("floor.db"))?);
    let rows = raw::read_program(&raw::open(&dir.join("store.db"))?, program.0)?;
    let mut floor = raw::open(&dir.join("floor.db"))?;
    raw::bulk_insert(&mut floor, &rows, raw::BULK_ROWS_PER_STATEMENT)?;
    raw::checkpoint(&floor)?;
    println!("{nodes}-node program in {}", dir.display());
    Ok(())
}

/// `n` `insert_node` commits, then `n` `insert_edge` commits (control edges between
/// the new nodes), as `lmstore bench` runs them.
#[inline(never)]
fn store_commits(store: &SqliteStore, program: ProgramId, function: FunctionId, first: NodeId, n: usize) -> Result<()> {
    let mut added = vec![first];
    for _ in 0..n {
        added.push(store.insert_node(program, function, op())?);
    }
    for pair in added.windows(2).cycle().take(n) {
        black_box(store.insert_edge(program, pair[0], pair[1], FlowEdge::Control { branch_index: None })?);
    }
    Ok(())
}

/// `n` single-row node commits, then `n` single-row edge commits: the bench's floor.
#[inline(never)]
fn floor_commits(conn: &mut rusqlite::Connection, rows: &raw::ProgramRows, n: usize) -> Result<()> {
    let nodes = rows.table("lmlang_compute_nodes").ok_or("no nodes")?;
    let edges = rows.table("lmlang_flow_edges").ok_or("no edges")?;
    let next_node = nodes.max_int("node_id").ok_or("no nodes")? + 1 + black_box(0);
    let next_edge = edges.max_int("edge_id").ok_or("no edges")? + 1;
    raw::single_row_commits(conn, nodes, "node_id", next_node, n)?;
    raw::single_row_commits(conn, edges, "edge_id", next_edge, n)?;
    Ok(())
}
