//! Measuring one program size: every figure of design.md §4 through the store's public
//! API, each beside its raw floor (see `raw`).
//!
//! The order matters. The bulk saves come first, on fresh files; the first of them is
//! kept as the database every later figure reads, and its size is taken before anything
//! else writes to it. Writes that grow the program (single-mutation commits) come last
//! so they do not change what the reads and the size see.
//!
//! Each step that times single operations (the load, the save after an edit, the
//! queries, the commits) starts from files flushed and read through the OS's cache
//! (`level`), so neither the store's file nor the floor's reads the disk because of what
//! earlier steps evicted (as far as memory allows: see `raw::read_through`). The first
//! save after a load is reported apart from the saves after it, and the first commit
//! is left untimed: each prepares statements the later ones reuse.

use super::figures::SizeReport;
use super::raw;
use super::{BenchArgs, memory};
use crate::Failure;
use indicatif::ProgressBar;
use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::hash;
use lmlang_storage::model::{ComputeNodeOp, ComputeOp, ConstValue, EdgeId, FlowEdge, FunctionId, NodeId};
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{GraphStore, ProgramId};
use lmlang_storage::synth::{self, SynthConfig};
use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Saves after a one-node edit per repetition; a save takes well under a millisecond,
/// so one would be all timer noise.
pub const EDITS_PER_REP: usize = 20;
/// Edits per repetition of the rehash figure (tens of microseconds each).
const REHASHES_PER_REP: usize = 200;
/// Calls per repetition of each query figure.
const QUERIES_PER_REP: usize = 1000;
/// Commits per repetition of each single-mutation figure.
const COMMITS_PER_REP: usize = 1000;

/// Steps of [`measure_size`], for the progress bar.
pub const STEPS: u64 = 11;

/// The median of a set of samples (the mean of the middle two for an even count).
pub fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => samples[n / 2],
        _ => (samples[n / 2 - 1] + samples[n / 2]) / 2.0,
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(super) fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

/// A database file in its own temporary directory, removed when dropped.
struct TempDb {
    _dir: TempDir,
    path: PathBuf,
}

impl TempDb {
    fn new(parent: Option<&Path>) -> Result<Self, Failure> {
        let dir = match parent {
            Some(p) => tempfile::tempdir_in(p)?,
            None => tempfile::tempdir()?,
        };
        let path = dir.path().join("bench.db");
        Ok(TempDb { _dir: dir, path })
    }

    /// Creates the schema by opening the file with the store (which runs the
    /// migrations), then closes it.
    fn with_schema(parent: Option<&Path>) -> Result<Self, Failure> {
        let db = TempDb::new(parent)?;
        drop(open_store(&db.path)?);
        Ok(db)
    }
}

fn open_store(path: &Path) -> Result<SqliteStore, Failure> {
    SqliteStore::open(path).map_err(|e| Failure::new(format!("cannot open {}: {e}", path.display())))
}

pub fn raw_err(e: rusqlite::Error) -> Failure {
    Failure::new(format!("raw floor: {e}"))
}

/// Flushes files written by earlier steps (see `raw::settle`): a commit that
/// checkpoints calls fsync, and on Linux file systems an fsync can be made to wait for
/// unrelated dirty data, which would charge one step's writes to the next.
fn settle(paths: &[&Path]) -> Result<(), Failure> {
    for path in paths {
        raw::settle(path)?;
    }
    Ok(())
}

/// Flushes the files, then reads each through the OS's cache (see `raw::read_through`),
/// so that a per-operation step finds the store's file and the floor's equally cached.
fn level(paths: &[&Path]) -> Result<(), Failure> {
    settle(paths)?;
    for path in paths {
        raw::read_through(path)?;
    }
    Ok(())
}

/// Checkpoints a database file and returns its bytes per node.
fn bytes_per_node(path: &Path, nodes: usize) -> Result<f64, Failure> {
    let conn = raw::open(path).map_err(raw_err)?;
    raw::checkpoint(&conn).map_err(raw_err)?;
    drop(conn);
    Ok(raw::database_bytes(path)? as f64 / nodes.max(1) as f64)
}

/// Bytes per node of a compacted copy of a (checkpointed, closed) database: what
/// `SqliteStore::vacuum` would leave. The original keeps the layout saves produce.
fn vacuumed_bytes_per_node(path: &Path, parent: Option<&Path>, nodes: usize) -> Result<f64, Failure> {
    let copy = TempDb::new(parent)?;
    std::fs::copy(path, &copy.path)?;
    let store = open_store(&copy.path)?;
    store.vacuum()?;
    drop(store);
    bytes_per_node(&copy.path, nodes)
}

/// Another constant of the same type, so the edges carrying it stay well typed.
fn bumped(value: ConstValue) -> ConstValue {
    match value {
        ConstValue::Bool(b) => ConstValue::Bool(!b),
        ConstValue::I8(v) => ConstValue::I8(v.wrapping_add(1)),
        ConstValue::I16(v) => ConstValue::I16(v.wrapping_add(1)),
        ConstValue::I32(v) => ConstValue::I32(v.wrapping_add(1)),
        ConstValue::I64(v) => ConstValue::I64(v.wrapping_add(1)),
        ConstValue::F32(v) => ConstValue::F32(if v.is_finite() && v + 1.0 != v { v + 1.0 } else { 1.0 }),
        ConstValue::F64(v) => ConstValue::F64(if v.is_finite() && v + 1.0 != v { v + 1.0 } else { 1.0 }),
        ConstValue::Unit => ConstValue::Unit,
    }
}

fn constant(g: &ProgramGraph, id: NodeId) -> Option<ConstValue> {
    match g.node(id).map(|n| &n.op) {
        Some(ComputeNodeOp::Core(ComputeOp::Const { value })) if *value != ConstValue::Unit => Some(*value),
        _ => None,
    }
}

/// Measures every figure for a program of `nodes` nodes.
pub fn measure_size(nodes: usize, args: &BenchArgs, bar: &ProgressBar) -> Result<SizeReport, Failure> {
    let reps = args.reps.max(1);
    let dir = args.dir.as_deref();
    let step = |what: &str| bar.set_message(format!("{nodes} nodes: {what}"));
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ nodes as u64);

    step("generating");
    let config = SynthConfig::new(nodes).with_seed(args.seed).with_gaps(args.gaps);
    let (graph, generate_time) = timed(|| synth::generate(&config));
    let mut report = SizeReport {
        nodes: graph.node_count(),
        edges: graph.edge_count(),
        functions: graph.functions().count(),
        gaps: args.gaps,
        seed: args.seed,
        reps,
        generate_ms: ms(generate_time),
        ..SizeReport::default()
    };
    bar.inc(1);

    // Bulk save into fresh files; the first becomes the database for what follows.
    step("bulk save");
    let (mut samples, mut with_checkpoint) = (Vec::new(), Vec::new());
    let mut kept: Option<(TempDb, ProgramId)> = None;
    for _ in 0..reps {
        if let Some((db, _)) = &kept {
            settle(&[&db.path])?;
        }
        let db = TempDb::with_schema(dir)?;
        let store = open_store(&db.path)?;
        let (program, t) = timed(|| store.insert_program("bench", &graph));
        let program = program?;
        samples.push(ms(t));
        // The work the save leaves to the background checkpointer, done now and
        // counted: the figure that hides no deferred work.
        let (done, checkpoint) = timed(|| store.checkpoint());
        done?;
        with_checkpoint.push(ms(t + checkpoint));
        drop(store);
        if kept.is_none() {
            kept = Some((db, program));
        }
    }
    report.bulk_save_ms = median(samples);
    report.bulk_save_with_checkpoint_ms = median(with_checkpoint);
    let Some((main, program)) = kept else { return Err(Failure::new("no repetition ran")) };
    drop(graph);
    bar.inc(1);

    // The same rows by hand, into fresh files with the same schema.
    step("raw floor: bulk insert");
    report.bytes_per_node = bytes_per_node(&main.path, report.nodes)?;
    report.bytes_per_node_vacuumed = vacuumed_bytes_per_node(&main.path, dir, report.nodes)?;
    let rows = raw::read_program(&raw::open(&main.path).map_err(raw_err)?, program.0).map_err(raw_err)?;
    report.rows = rows.row_count();
    let (mut samples, mut with_checkpoint) = (Vec::new(), Vec::new());
    let mut floor_db: Option<TempDb> = None;
    for _ in 0..reps {
        settle(&[&main.path])?;
        if let Some(db) = &floor_db {
            settle(&[&db.path])?;
        }
        let db = TempDb::with_schema(dir)?;
        let mut conn = raw::open(&db.path).map_err(raw_err)?;
        let t = raw::bulk_insert(&mut conn, &rows, raw::BULK_ROWS_PER_STATEMENT).map_err(raw_err)?;
        samples.push(ms(t));
        let (done, checkpoint) = timed(|| raw::checkpoint(&conn));
        done.map_err(raw_err)?;
        with_checkpoint.push(ms(t + checkpoint));
        drop(conn);
        if floor_db.is_none() {
            floor_db = Some(db);
        }
    }
    report.bulk_save_floor_ms = median(samples);
    report.bulk_save_with_checkpoint_floor_ms = median(with_checkpoint);
    let Some(floor_db) = floor_db else { return Err(Failure::new("no repetition ran")) };
    report.bytes_per_node_floor = bytes_per_node(&floor_db.path, report.nodes)?;
    let mut floor = raw::open(&floor_db.path).map_err(raw_err)?;
    bar.inc(1);

    step("load");
    level(&[&main.path, &floor_db.path])?;
    let store = open_store(&main.path)?;
    let mut samples = Vec::new();
    let mut loaded = None;
    for _ in 0..reps {
        let (g, t) = timed(|| store.load_program(program));
        samples.push(ms(t));
        loaded = Some(g?);
    }
    report.load_ms = median(samples);
    let Some(mut loaded) = loaded else { return Err(Failure::new("no repetition ran")) };
    if loaded.node_count() != report.nodes || loaded.edge_count() != report.edges {
        return Err(Failure::new("the loaded program differs from the one saved"));
    }
    let mut samples = Vec::new();
    for _ in 0..reps {
        let (count, t) = raw::scan_program(&mut floor, &rows).map_err(raw_err)?;
        if count != report.rows {
            return Err(Failure::new(format!("raw floor: scanned {count} rows of {}", report.rows)));
        }
        samples.push(ms(t));
    }
    report.load_floor_ms = median(samples);
    bar.inc(1);

    step("peak memory of a load");
    if let Some(peak) = memory::measure(&main.path, program)? {
        report.load_peak_mib = Some(peak.after_kib as f64 / 1024.0);
        report.load_peak_delta_mib = Some(peak.after_kib.saturating_sub(peak.before_kib) as f64 / 1024.0);
    }
    bar.inc(1);

    step("hash from scratch");
    let samples = (0..reps).map(|_| ms(timed(|| black_box(hash::compute(&loaded))).1)).collect();
    report.hash_ms = median(samples);
    bar.inc(1);

    step("save after a one-node edit");
    level(&[&main.path, &floor_db.path])?;
    let saves = save_after_edit(&store, program, reps, args.seed)?;
    report.save_after_edit_ms = saves.ms;
    report.first_save_after_load_ms = saves.first_ms;
    report.save_after_edit_rows = saves.rows;
    bar.inc(1);

    step("rehash after a one-node edit");
    let live: Vec<NodeId> = loaded.nodes().map(|(id, _)| id).collect();
    let constants: Vec<(NodeId, ConstValue)> = (0..REHASHES_PER_REP * 64)
        .filter_map(|_| live.choose(&mut rng))
        .filter_map(|&id| constant(&loaded, id).map(|v| (id, v)))
        .collect();
    if constants.is_empty() {
        return Err(Failure::new("the program has no constant to edit"));
    }
    black_box(loaded.hashes());
    let mut samples = Vec::new();
    for _ in 0..reps {
        let edits: Vec<(NodeId, ComputeNodeOp)> = (0..REHASHES_PER_REP)
            .filter_map(|_| constants.choose(&mut rng))
            .map(|&(id, _)| {
                let current = constant(&loaded, id).unwrap_or(ConstValue::I64(0));
                (id, ComputeOp::Const { value: bumped(current) }.into())
            })
            .collect();
        // Each id appears at most a few times, and bumping an already bumped value is
        // still a change of the same type, so every edit is a real one.
        let start = Instant::now();
        for (id, op) in edits {
            loaded.modify_compute_node_op(id, op)?;
        }
        samples.push(us(start.elapsed()) / REHASHES_PER_REP as f64);
    }
    report.rehash_us = median(samples);
    bar.inc(1);

    step("queries");
    level(&[&main.path, &floor_db.path])?;
    let functions: Vec<FunctionId> = loaded.functions().map(|f| f.id).collect();
    let (mut by_owner, mut from, mut to) = (Vec::new(), Vec::new(), Vec::new());
    let (mut by_owner_floor, mut from_floor, mut to_floor) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        let fkeys: Vec<FunctionId> = (0..QUERIES_PER_REP).filter_map(|_| functions.choose(&mut rng).copied()).collect();
        let nkeys: Vec<NodeId> = (0..QUERIES_PER_REP).filter_map(|_| live.choose(&mut rng).copied()).collect();
        let per_call = |d: Duration| us(d) / QUERIES_PER_REP as f64;

        let (seen, t) = timed(|| -> Result<usize, Failure> {
            fkeys.iter().try_fold(0, |n, f| Ok(n + store.find_nodes_by_owner(program, *f)?.len()))
        });
        let seen = seen?;
        by_owner.push(per_call(t));
        let keys: Vec<i64> = fkeys.iter().map(|f| i64::from(f.0)).collect();
        let (t, floor_seen) = raw::indexed_selects(&floor, &rows, raw::NODES_BY_OWNER, &keys).map_err(raw_err)?;
        check_same(seen, floor_seen, "find_nodes_by_owner")?;
        by_owner_floor.push(per_call(t));

        let keys: Vec<i64> = nkeys.iter().map(|n| i64::from(n.0)).collect();
        let (seen, t) = timed(|| -> Result<usize, Failure> {
            nkeys.iter().try_fold(0, |n, id| Ok(n + store.find_edges_from(program, *id)?.len()))
        });
        let seen = seen?;
        from.push(per_call(t));
        let (t, floor_seen) = raw::indexed_selects(&floor, &rows, raw::EDGES_FROM, &keys).map_err(raw_err)?;
        check_same(seen, floor_seen, "find_edges_from")?;
        from_floor.push(per_call(t));

        let (seen, t) = timed(|| -> Result<usize, Failure> {
            nkeys.iter().try_fold(0, |n, id| Ok(n + store.find_edges_to(program, *id)?.len()))
        });
        let seen = seen?;
        to.push(per_call(t));
        let (t, floor_seen) = raw::indexed_selects(&floor, &rows, raw::EDGES_TO, &keys).map_err(raw_err)?;
        check_same(seen, floor_seen, "find_edges_to")?;
        to_floor.push(per_call(t));
    }
    report.find_nodes_by_owner_us = median(by_owner);
    report.find_nodes_by_owner_floor_us = median(by_owner_floor);
    report.find_edges_from_us = median(from);
    report.find_edges_from_floor_us = median(from_floor);
    report.find_edges_to_us = median(to);
    report.find_edges_to_floor_us = median(to_floor);
    bar.inc(1);

    step("single-mutation commits");
    level(&[&main.path, &floor_db.path])?;
    let rates = mutation_rates(&store, program, functions.first().copied(), reps, COMMITS_PER_REP)?;
    report.node_commits_per_s = rates.nodes_per_s;
    report.edge_commits_per_s = rates.edges_per_s;
    let (node_floor, edge_floor) = floor_mutation_rates(&mut floor, &rows, reps)?;
    report.node_commit_floor_per_s = node_floor;
    report.edge_commit_floor_per_s = edge_floor;
    bar.inc(1);

    step("history on and off");
    level(&[&main.path])?;
    if functions.is_empty() {
        return Err(Failure::new("the program has no function"));
    }
    report.history = Some(super::history::measure(&store, &main.path, program, &functions, reps, args.seed)?);
    bar.inc(1);
    Ok(report)
}

pub(super) fn check_same(store: usize, floor: usize, query: &str) -> Result<(), Failure> {
    if store == floor {
        Ok(())
    } else {
        Err(Failure::new(format!("{query}: the store returned {store} rows, the raw floor {floor}")))
    }
}

/// Saves after a one-node edit, `EDITS_PER_REP` edits of one loaded graph per
/// repetition after a first one timed apart.
pub(super) struct SaveTimes {
    /// Median over repetitions of the mean save, the first left out.
    pub ms: f64,
    /// Median of the first save after each load, which also prepares the save's
    /// statements on the writer (in the first repetition) and may restart the WAL. The
    /// commit rates leave out their first mutation the same way.
    pub first_ms: f64,
    /// Rows written plus deleted by the last save.
    pub rows: u64,
}

/// Times saves after a one-node edit (see [`SaveTimes`]).
pub(super) fn save_after_edit(
    store: &dyn GraphStore,
    program: ProgramId,
    reps: usize,
    seed: u64,
) -> Result<SaveTimes, Failure> {
    let (mut samples, mut firsts, mut rows) = (Vec::new(), Vec::new(), 0);
    for rep in 0..reps {
        let mut g = store.load_program(program)?;
        let mut total = Duration::ZERO;
        for k in 0..=EDITS_PER_REP {
            let seed = seed.wrapping_mul(1_000_003).wrapping_add((rep * (EDITS_PER_REP + 1) + k) as u64);
            if synth::one_node_edit(&mut g, seed).is_none() {
                return Err(Failure::new("the program has no constant to edit"));
            }
            let (saved, t) = timed(|| store.save_program(program, &g));
            let saved = saved?;
            rows = saved.rows_written + saved.rows_deleted;
            if k > 0 {
                total += t;
            } else {
                firsts.push(ms(t));
            }
        }
        samples.push(ms(total) / EDITS_PER_REP as f64);
    }
    Ok(SaveTimes { ms: median(samples), first_ms: median(firsts), rows })
}

/// What [`mutation_rates`] measured: commits per second of each mutation, and the last
/// node and edge it added (the PostgreSQL floor copies their rows).
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(super) struct MutationRates {
    pub nodes_per_s: f64,
    pub edges_per_s: f64,
    pub last_node: NodeId,
    pub last_edge: Option<EdgeId>,
}

/// Commits per second of `insert_node` and of `insert_edge`, each call its own
/// transaction, `per_rep` calls per repetition. The first mutation after a load makes
/// the store read the program into its write cache once; that warm-up is not timed.
pub(super) fn mutation_rates(
    store: &dyn GraphStore,
    program: ProgramId,
    function: Option<FunctionId>,
    reps: usize,
    per_rep: usize,
) -> Result<MutationRates, Failure> {
    let Some(function) = function else { return Err(Failure::new("the program has no function")) };
    let op = || -> ComputeNodeOp { ComputeOp::Const { value: ConstValue::I64(7) }.into() };
    let mut last_node = store.insert_node(program, function, op())?;
    let mut last_edge = None;
    let (mut nodes, mut edges) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let mut added = Vec::with_capacity(per_rep);
        let start = Instant::now();
        for _ in 0..per_rep {
            added.push(store.insert_node(program, function, op())?);
        }
        nodes.push(per_rep as f64 / start.elapsed().as_secs_f64());
        last_node = added.last().copied().unwrap_or(last_node);

        let start = Instant::now();
        for pair in added.windows(2).cycle().take(per_rep) {
            last_edge = Some(store.insert_edge(program, pair[0], pair[1], FlowEdge::Control { branch_index: None })?);
        }
        edges.push(per_rep as f64 / start.elapsed().as_secs_f64());
    }
    Ok(MutationRates { nodes_per_s: median(nodes), edges_per_s: median(edges), last_node, last_edge })
}

/// The floor of a single-mutation commit: one row inserted and committed, for a node
/// row and for an edge row, under ids past any the program uses.
fn floor_mutation_rates(
    conn: &mut rusqlite::Connection,
    rows: &raw::ProgramRows,
    reps: usize,
) -> Result<(f64, f64), Failure> {
    let missing = |t: &str| Failure::new(format!("raw floor: no {t} rows"));
    let nodes = rows.table("lmlang_compute_nodes").ok_or_else(|| missing("lmlang_compute_nodes"))?;
    let edges = rows.table("lmlang_flow_edges").ok_or_else(|| missing("lmlang_flow_edges"))?;
    let mut next_node = nodes.max_int("node_id").ok_or_else(|| missing("lmlang_compute_nodes"))? + 1;
    let mut next_edge = edges.max_int("edge_id").ok_or_else(|| missing("lmlang_flow_edges"))? + 1;
    let (mut node_rates, mut edge_rates) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let t = raw::single_row_commits(conn, nodes, "node_id", next_node, COMMITS_PER_REP).map_err(raw_err)?;
        node_rates.push(COMMITS_PER_REP as f64 / t.as_secs_f64());
        next_node += COMMITS_PER_REP as i64;
        let t = raw::single_row_commits(conn, edges, "edge_id", next_edge, COMMITS_PER_REP).map_err(raw_err)?;
        edge_rates.push(COMMITS_PER_REP as f64 / t.as_secs_f64());
        next_edge += COMMITS_PER_REP as i64;
    }
    Ok((median(node_rates), median(edge_rates)))
}
