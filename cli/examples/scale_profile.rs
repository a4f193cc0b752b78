//! Per-operation costs on a large stored program, edit by edit: the driver behind the
//! 10M-node profiles in BENCHMARKS.md ("Linear to 10 million nodes"). `lmstore bench`
//! reports one median per figure; this prints every edit's or save's own time, so a
//! cost paid once after a load (the first edits, the first saves) shows apart from the
//! steady cost, and `perf record -p PID` can attach where it says `ready`.
//!
//! ```sh
//! cargo build --release -p lmstore --example scale_profile
//! ./target/release/lmstore --db /tmp/big/10m.db generate --nodes 10000000 --name big
//! P=./target/release/examples/scale_profile
//! $P /tmp/big/10m.db rehash     # µs per one-node edit (rehash), 200 at a time, after a load
//! $P /tmp/big/10m.db save       # µs of each save after a one-node edit
//! $P /tmp/big/10m.db query      # µs per find_edges_from
//! $P /tmp/big/10m.db owner      # µs per find_nodes_by_owner
//! $P /tmp/big/10m.db commit     # µs per insert_node and insert_edge commit
//! $P /tmp/big/10m.db insert     # ms per bulk save of a copy (checkpointed, then deleted)
//! $P /tmp/big/10m.db save-function # ms of each save_function after a one-node edit
//! $P /tmp/big/10m.db save-copy  # ms of each save_program of a graph the store has not seen
//! $P /tmp/big/10m.db undo       # one recorded edit, then its undo beside another writer
//! $P /tmp/big/10m.db first-edit # the first edit after opening, and how long another
//!                               # connection's write waited meanwhile
//! MMAP=0 $P /tmp/big/10m.db query             # another SqliteConfig::mmap_size
//! PAUSE=1 $P /tmp/big/10m.db save             # waits 2 s at `ready PID` for a profiler
//! SAVES=400 $P /tmp/big/10m.db save           # more saves (at least 2): the median after
//!                                             # the first, and page faults per save
//! ```

use lmlang_storage::model::{ComputeNodeOp, ComputeOp, ConstValue, FlowEdge, ModuleId, NodeId};
use lmlang_storage::sqlite::{SqliteConfig, SqliteStore};
use lmlang_storage::store::{GraphStore, ProgramId};
use lmlang_storage::synth;
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn us(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e6
}

/// Page faults (minor and major) of this process so far, from `/proc/self/stat`: the
/// whole process, so the store's checkpoint thread counts too.
fn faults_so_far() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    // After the command's closing parenthesis: state is field 3, minflt 10, majflt 12.
    let at = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    at(10) + at(12)
}

/// Gives a profiler time to attach, when `PAUSE` is set.
fn ready() {
    if std::env::var_os("PAUSE").is_some() {
        eprintln!("ready {}", std::process::id());
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(what)) = (args.get(1), args.get(2)) else {
        return Err(
            "usage: scale_profile DB rehash|save|save-function|save-copy|undo|query|owner|commit|insert|first-edit"
                .into(),
        );
    };
    let mut config = SqliteConfig::default();
    if let Ok(bytes) = std::env::var("MMAP") {
        config = config.with_mmap_size(bytes.parse()?);
    }
    let store = SqliteStore::open_with(path, config)?;
    let program = store.list_programs()?.first().map(|p| p.id).ok_or("the database holds no program")?;
    if what == "first-edit" {
        return first_edit(&store, program, path);
    }
    let start = Instant::now();
    let mut g = store.load_program(program)?;
    eprintln!("{} nodes, loaded in {:.2} s", g.node_count(), start.elapsed().as_secs_f64());
    match what.as_str() {
        "rehash" => {
            let start = Instant::now();
            std::hint::black_box(g.hashes());
            eprintln!("hash index built in {:.2} s", start.elapsed().as_secs_f64());
            ready();
            for round in 0..5u64 {
                let start = Instant::now();
                for k in 0..200 {
                    synth::one_node_edit(&mut g, round * 1000 + k).ok_or("no constant to edit")?;
                }
                println!("edits {}-{}: {:.1} µs each", round * 200, round * 200 + 199, us(start) / 200.0);
            }
        }
        "save" => {
            ready();
            let mut times = Vec::new();
            let saves: u64 = std::env::var("SAVES").ok().and_then(|s| s.parse().ok()).unwrap_or(40).max(2);
            let mut faults = Vec::new();
            for k in 0..saves {
                synth::one_node_edit(&mut g, 7_000_000 + k).ok_or("no constant to edit")?;
                let before = faults_so_far();
                let start = Instant::now();
                store.save_program(program, &g)?;
                times.push(us(start));
                faults.push(faults_so_far() - before);
            }
            let shown: Vec<String> = times.iter().take(40).map(|t| format!("{t:.0}")).collect();
            println!("saves after a one-node edit, µs each in order: {}", shown.join(" "));
            let mut rest = times[1..].to_vec();
            rest.sort_by(f64::total_cmp);
            println!(
                "median after the first {:.1} µs; page faults per save after the first {:.2}",
                rest[rest.len() / 2],
                faults[1..].iter().sum::<u64>() as f64 / (faults.len() - 1) as f64
            );
        }
        "query" => query(&store, program, g.next_ids().node)?,
        "owner" => {
            let functions: Vec<_> = g.functions().map(|f| f.id).collect();
            ready();
            for round in 0..3usize {
                let start = Instant::now();
                let mut rows = 0;
                for k in 0..1000usize {
                    let f = functions[(k * 7919 + round * 13) % functions.len().max(1)];
                    rows += store.find_nodes_by_owner(program, f)?.len();
                }
                println!("find_nodes_by_owner, round {round}: {:.2} µs each ({rows} rows)", us(start) / 1000.0);
            }
        }
        "insert" => {
            ready();
            let mut times = Vec::new();
            for k in 0..10 {
                let start = Instant::now();
                let copy = store.insert_program(&format!("copy {k}"), &g)?;
                times.push(format!("{:.1}", us(start) / 1000.0));
                store.checkpoint()?;
                store.delete_program(copy)?;
                store.checkpoint()?;
            }
            println!("bulk saves of a copy, ms each in order: {}", times.join(" "));
        }
        "save-function" => {
            ready();
            let (times, other) = beside_another_writer(path, || {
                let mut times = Vec::new();
                for k in 0..10 {
                    let node = synth::one_node_edit(&mut g, 9_000_000 + k).ok_or("no constant to edit")?;
                    let f = g.node(node).map(|n| n.owner).ok_or("the edited node is gone")?;
                    let start = Instant::now();
                    store.save_function(program, &g, f)?;
                    times.push(format!("{:.2}", us(start) / 1000.0));
                }
                Ok(times)
            })?;
            println!("save_function after a one-node edit, ms each in order: {}", times.join(" "));
            println!("{other}");
        }
        "save-copy" => {
            ready();
            let (times, other) = beside_another_writer(path, || {
                let mut times = Vec::new();
                for k in 0..5 {
                    // A clone has a lineage of its own: the store compares it whole.
                    let mut copy = g.clone();
                    synth::one_node_edit(&mut copy, 11_000_000 + k).ok_or("no constant to edit")?;
                    let start = Instant::now();
                    store.save_program(program, &copy)?;
                    times.push(format!("{:.2}", us(start) / 1000.0));
                    g = copy;
                }
                Ok(times)
            })?;
            println!("save_program of an edited clone, ms each in order: {}", times.join(" "));
            println!("{other}");
        }
        "undo" => {
            use lmlang_storage::store::ProgramHistory;
            store.set_history(true);
            let function = g.functions().next().map(|f| f.id).ok_or("no function")?;
            drop(g);
            let (took, other) = beside_another_writer(path, || {
                let start = Instant::now();
                store.insert_node(program, function, ComputeOp::Print.into())?;
                Ok(start.elapsed().as_secs_f64())
            })?;
            println!("the first recorded edit: {took:.2} s");
            println!("{other}");
            ready();
            let (took, other) = beside_another_writer(path, || {
                let start = Instant::now();
                store.undo(program, None)?;
                Ok(start.elapsed().as_secs_f64())
            })?;
            println!("undo of that edit: {took:.2} s");
            println!("{other}");
        }
        "commit" => commit(&store, program, &g)?,
        other => return Err(format!("unknown measurement {other}").into()),
    }
    Ok(())
}

/// `find_edges_from` on ids spread over the whole program.
fn query(store: &SqliteStore, program: ProgramId, bound: u32) -> Result<()> {
    ready();
    for round in 0..3u64 {
        let start = Instant::now();
        let mut rows = 0;
        for k in 0..2000u64 {
            let id = NodeId(((k * 2_654_435_761 + round * 17) % u64::from(bound.max(1))) as u32);
            rows += store.find_edges_from(program, id)?.len();
        }
        println!("find_edges_from, round {round}: {:.2} µs each ({rows} rows)", us(start) / 2000.0);
    }
    Ok(())
}

/// `insert_node` then `insert_edge` commits, 1,000 of each a round, as the bench makes
/// them. The first commit reads the program into the store's working copy (untimed).
fn commit(store: &SqliteStore, program: ProgramId, g: &lmlang_storage::graph::ProgramGraph) -> Result<()> {
    let function = g.functions().next().map(|f| f.id).ok_or("no function")?;
    let op = || -> ComputeNodeOp { ComputeOp::Const { value: ConstValue::I64(7) }.into() };
    let start = Instant::now();
    let first = store.insert_node(program, function, op())?;
    eprintln!("first commit (reads the working copy) in {:.2} s", start.elapsed().as_secs_f64());
    ready();
    for round in 0..3 {
        let mut added = vec![first];
        let start = Instant::now();
        for _ in 0..1000 {
            added.push(store.insert_node(program, function, op())?);
        }
        let node_us = us(start) / 1000.0;
        let start = Instant::now();
        for pair in added.windows(2) {
            store.insert_edge(program, pair[0], pair[1], FlowEdge::Control { branch_index: None })?;
        }
        println!("round {round}: insert_node {node_us:.1} µs, insert_edge {:.1} µs", us(start) / 1000.0);
    }
    Ok(())
}

/// The first edit of a store just opened, which reads the whole program, while another
/// connection writes (see [`beside_another_writer`]).
fn first_edit(store: &SqliteStore, program: ProgramId, path: &str) -> Result<()> {
    let function = store.find_functions_in_module(program, ModuleId::ROOT)?.first().map(|f| f.id);
    let function = function.ok_or("no function in the root module")?;
    let op: ComputeNodeOp = ComputeOp::Const { value: ConstValue::I64(7) }.into();
    let ((first, second), other) = beside_another_writer(path, || {
        let start = Instant::now();
        store.insert_node(program, function, op.clone())?;
        let first = start.elapsed().as_secs_f64();
        let start = Instant::now();
        store.insert_node(program, function, op.clone())?;
        Ok((first, us(start)))
    })?;
    println!("first edit after opening: {first:.2} s; the next edit: {second:.0} µs");
    println!("{other}");
    Ok(())
}

/// Runs `work` while another connection (another process, as far as SQLite can tell)
/// writes an empty transaction every 20 ms with a busy timeout long enough never to
/// fail; says how long those writes waited, which is how long `work` held the write
/// lock at a time.
fn beside_another_writer<T>(path: &str, work: impl FnOnce() -> Result<T>) -> Result<(T, String)> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let other = {
        let stop = stop.clone();
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(600))?;
        std::thread::spawn(move || -> rusqlite::Result<(f64, usize, usize)> {
            let (mut longest, mut writes, mut over_5s) = (0f64, 0, 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let start = Instant::now();
                conn.execute_batch("BEGIN IMMEDIATE; COMMIT;")?;
                let waited = start.elapsed().as_secs_f64();
                longest = longest.max(waited);
                writes += 1;
                over_5s += usize::from(waited > 5.0);
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok((longest, writes, over_5s))
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let done = work();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (longest, writes, over_5s) = other.join().map_err(|_| "the other writer panicked")??;
    let said = format!(
        "the other connection's writes meanwhile: {writes}, longest wait {longest:.3} s, \
         {over_5s} waited over 5 s (the default busy timeout)"
    );
    Ok((done?, said))
}
