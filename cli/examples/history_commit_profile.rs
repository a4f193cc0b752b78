//! Where a single-mutation commit's time goes, with history recording on or off: the
//! driver behind the profile in BENCHMARKS.md ("History"). It stores a generated
//! program, then times `insert_node` commits spread over its functions (as
//! `lmstore bench` does), and the same edits on an in-memory copy of the graph with and
//! without its hash index (what recording the root costs before any row is written).
//!
//! ```sh
//! cargo build --release -p lmstore --example history_commit_profile
//! ./target/release/examples/history_commit_profile 100000 2000 on     # NODES COMMITS on|off
//! valgrind --tool=callgrind --toggle-collect='*profiled_commits*' \
//!     ./target/release/examples/history_commit_profile 100000 2000 on
//! # saves after a one-node edit instead of commits (as the bench's history figure):
//! valgrind --tool=callgrind --toggle-collect='*profiled_save*' \
//!     ./target/release/examples/history_commit_profile 100000 2000 on save
//! # `update_node` commits (a constant changed, as a one-node edit does):
//! valgrind --tool=callgrind --toggle-collect='*profiled_update*' \
//!     ./target/release/examples/history_commit_profile 100000 2000 off update
//! ```
//!
//! Each line gives wall-clock and CPU time (user and system) per commit; on a busy
//! machine compare CPU times. Under callgrind, the first commit (which loads the store's working copy and, with
//! history on, builds its hash index) is the `WriteTx::load` and `HashIndex::build`
//! calls; subtract them from `Timed::run` and divide by COMMITS for a commit's cost.

use lmlang_storage::model::{ComputeNodeOp, ComputeOp, ConstValue, FunctionId};
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{GraphStore, ProgramHistory};
use lmlang_storage::synth;
use std::time::Instant;

/// CPU seconds this process has used (user and system), which a busy shared machine
/// disturbs far less than wall-clock time.
fn cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is a valid value of the plain C struct, and
    // getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn op() -> ComputeNodeOp {
    ComputeOp::Const { value: ConstValue::I64(7) }.into()
}

/// Microseconds per `add_compute_node` round the functions on a copy of `g`, with its
/// hash index built first or not at all.
fn graph_edits(
    g: &lmlang_storage::graph::ProgramGraph,
    functions: &[FunctionId],
    edits: usize,
    indexed: bool,
) -> Result<f64, Box<dyn std::error::Error>> {
    let mut copy = g.clone();
    if indexed {
        copy.hashes();
    }
    let start = Instant::now();
    for k in 0..edits {
        copy.add_compute_node(functions[k % functions.len()], op())?;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / edits as f64)
}

/// One whole hash of `g` (every node, function and the program), in a function of
/// its own for callgrind.
#[inline(never)]
fn profiled_hash_all(g: &lmlang_storage::graph::ProgramGraph) -> lmlang_storage::hash::ContentHash {
    g.hashes().program()
}

/// One edit of a graph that keeps its hash index, in a function of its own for
/// callgrind: the edited function's rehash is most of it.
#[inline(never)]
fn profiled_edit(g: &mut lmlang_storage::graph::ProgramGraph, f: FunctionId) -> Result<(), Box<dyn std::error::Error>> {
    g.add_compute_node(f, op())?;
    Ok(())
}

/// The hash index alone, no store: a whole hash, then EDITS one-node edits round the
/// functions, each rehashing its function.
fn rehash(nodes: usize, edits: usize) -> Result<(), Box<dyn std::error::Error>> {
    let g = synth::generate(&synth::SynthConfig::new(nodes));
    let functions: Vec<FunctionId> = g.functions().map(|f| f.id).collect();
    let mut copy = g.clone();
    let start = Instant::now();
    let root = profiled_hash_all(&copy);
    let whole = start.elapsed().as_secs_f64() * 1e3;
    let start = Instant::now();
    for k in 0..edits {
        profiled_edit(&mut copy, functions[k % functions.len()])?;
    }
    let each = start.elapsed().as_secs_f64() * 1e6 / edits as f64;
    println!("hash all: {whole:.1} ms (root {root}); one-node edit with the index: {each:.1} us");
    Ok(())
}

/// One timed `update_node` commit, in a function of its own for callgrind.
#[inline(never)]
fn profiled_update(
    store: &SqliteStore,
    program: lmlang_storage::store::ProgramId,
    node: lmlang_storage::model::NodeId,
    op: ComputeNodeOp,
) -> Result<(), Box<dyn std::error::Error>> {
    store.update_node(program, node, op)?;
    Ok(())
}

/// Times `update_node` commits that change a constant (picked and changed as
/// `one_node_edit` does, on a loaded copy that follows the store).
fn update_commits(
    store: &SqliteStore,
    program: lmlang_storage::store::ProgramId,
    commits: usize,
    history: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    store.set_history(history);
    let mut g = store.load_program(program)?;
    let next = |g: &mut lmlang_storage::graph::ProgramGraph, k: u64| {
        let node = synth::one_node_edit(g, k).ok_or("no constant to edit")?;
        let op = g.node(node).ok_or("edited node missing")?.op.clone();
        Ok::<_, Box<dyn std::error::Error>>((node, op))
    };
    // The first commit loads the store's working copy: not timed.
    let (node, op) = next(&mut g, 0)?;
    store.update_node(program, node, op)?;
    let (mut wall, mut cpu) = (0.0, 0.0);
    for k in 1..=commits as u64 {
        let (node, op) = next(&mut g, k)?;
        let (start, before) = (Instant::now(), cpu_seconds());
        profiled_update(store, program, node, op)?;
        wall += start.elapsed().as_secs_f64();
        cpu += cpu_seconds() - before;
    }
    println!(
        "update_node commits, history {}: {:.1} us each ({:.0}/s), {:.1} us of CPU each",
        if history { "on" } else { "off" },
        wall * 1e6 / commits as f64,
        commits as f64 / wall,
        cpu * 1e6 / commits as f64
    );
    Ok(())
}

/// The timed `insert_node` commits round the functions, in a function of its own for
/// callgrind's `--toggle-collect='*profiled_commits*'`.
#[inline(never)]
fn profiled_commits(
    store: &SqliteStore,
    program: lmlang_storage::store::ProgramId,
    functions: &[FunctionId],
    commits: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    for k in 0..commits {
        store.insert_node(program, functions[k % functions.len()], op())?;
    }
    Ok(())
}

/// One timed save, in a function of its own for callgrind's `--toggle-collect`.
#[inline(never)]
fn profiled_save(
    store: &SqliteStore,
    program: lmlang_storage::store::ProgramId,
    g: &lmlang_storage::graph::ProgramGraph,
) -> Result<(), Box<dyn std::error::Error>> {
    store.save_program(program, g)?;
    Ok(())
}

/// Times `save_program` after each of `saves` one-node edits of a loaded copy (the
/// edits themselves untimed), as `lmstore bench`'s history figure does.
fn save_after_edits(
    store: &SqliteStore,
    program: lmlang_storage::store::ProgramId,
    saves: usize,
    history: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    store.set_history(history);
    let mut g = store.load_program(program)?;
    // The first save compares the loaded graph with the store's copy, and with history
    // on builds its hash index: not timed.
    synth::one_node_edit(&mut g, 0).ok_or("no constant to edit")?;
    store.save_program(program, &g)?;
    let (mut wall, mut cpu) = (0.0, 0.0);
    for k in 1..=saves as u64 {
        synth::one_node_edit(&mut g, k).ok_or("no constant to edit")?;
        let (start, before) = (Instant::now(), cpu_seconds());
        profiled_save(store, program, &g)?;
        wall += start.elapsed().as_secs_f64();
        cpu += cpu_seconds() - before;
    }
    println!(
        "save after a one-node edit, history {}: {:.1} us each, {:.1} us of CPU each",
        if history { "on" } else { "off" },
        wall * 1e6 / saves as f64,
        cpu * 1e6 / saves as f64
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let nodes: usize = args.get(1).map_or(Ok(100_000), |s| s.parse())?;
    let commits: usize = args.get(2).map_or(Ok(2000), |s| s.parse())?.max(1);
    let history = match args.get(3).map(String::as_str) {
        None | Some("on") => true,
        Some("off") => false,
        Some(other) => return Err(format!("expected on or off, not {other}").into()),
    };
    let mode = args.get(4).map_or("commit", String::as_str);
    if !["commit", "save", "update", "rehash"].contains(&mode) {
        return Err(format!("expected commit, save, update or rehash, not {mode}").into());
    }
    if mode == "rehash" {
        return rehash(nodes, commits);
    }
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path().join("profile.db"))?;
    let g = synth::generate(&synth::SynthConfig::new(nodes));
    let functions: Vec<FunctionId> = g.functions().map(|f| f.id).collect();
    let program = store.insert_program("profile", &g)?;
    // The bulk insert's WAL emptied now, so every run measures on the same short one
    // (a longer WAL makes every page lookup dearer): left to the checkpoint thread,
    // whether it is gone before the measured loop depends on timing.
    store.checkpoint()?;

    match mode {
        "save" => return save_after_edits(&store, program, commits, history),
        "update" => return update_commits(&store, program, commits, history),
        _ => {}
    }
    let indexed = graph_edits(&g, &functions, commits, true)?;
    let bare = graph_edits(&g, &functions, commits, false)?;
    println!(
        "add_compute_node on the graph: {indexed:.1} us with its hash index, {bare:.1} us without ({} functions)",
        functions.len()
    );
    drop(g);

    store.set_history(history);
    // Loads the store's working copy (and, with history on, builds its hash index).
    store.insert_node(program, functions[0], op())?;
    let (start, cpu) = (Instant::now(), cpu_seconds());
    profiled_commits(&store, program, &functions, commits)?;
    let (t, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    println!(
        "insert_node commits, history {}: {:.1} us each ({:.0}/s), {:.1} us of CPU each",
        if history { "on" } else { "off" },
        t * 1e6 / commits as f64,
        commits as f64 / t,
        cpu * 1e6 / commits as f64
    );
    if history {
        let newest = store.log(program, Default::default())?.first().map(|e| e.revision);
        println!("newest history entry: revision {newest:?}");
    }
    Ok(())
}
