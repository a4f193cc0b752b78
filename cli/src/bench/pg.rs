//! `lmstore bench --db postgres://...`: design.md §5's PostgreSQL figures, each beside
//! a floor written by hand on the same server in the same run (`pg_raw`), and beside
//! the SQLite store's figure for the same program, measured in the same run too.
//!
//! Every measurement works in schemas of its own (`lmbench_<pid>_...`), made by the
//! store's migrations and dropped at the end, so the database it runs against keeps
//! nothing and other users of it are not disturbed.

use super::figures::{Goal, SizeReport, Unit};
use super::pg_raw::{self, ProgramCopy};
use super::{BenchArgs, measure};
use crate::Failure;
use crate::output::outln;
use indicatif::ProgressBar;
use lmlang_storage::model::{ComputeOp, ConstValue, FunctionId, NodeId, TypeId, Visibility};
use lmlang_storage::postgres::{PgConfig, PgStore, quote_identifier};
use lmlang_storage::store::{GraphStore, NewFunction, ProgramId};
use lmlang_storage::synth::{self, SynthConfig};
use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// Steps of [`measure_size`], for the progress bar.
pub const STEPS: u64 = 7;
/// Calls per repetition of each query figure.
const QUERIES_PER_REP: usize = 200;
/// Commits per repetition of each single-mutation figure.
const COMMITS_PER_REP: usize = 200;
/// Commits each writer process makes in the writer-scaling figure.
const COMMITS_PER_WRITER: usize = 300;
/// Writer counts of the writer-scaling figure.
pub const WRITERS: [usize; 4] = [1, 2, 4, 8];

/// The PostgreSQL figures of one program size.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct PgReport {
    pub nodes: usize,
    pub edges: usize,
    pub rows: usize,
    pub reps: usize,
    pub bulk_save_ms: f64,
    pub bulk_save_floor_ms: f64,
    pub load_ms: f64,
    pub load_floor_ms: f64,
    pub save_after_edit_ms: f64,
    pub node_commits_per_s: f64,
    pub node_commit_floor_per_s: f64,
    pub edge_commits_per_s: f64,
    pub edge_commit_floor_per_s: f64,
    pub find_nodes_by_owner_us: f64,
    pub find_nodes_by_owner_floor_us: f64,
    pub find_edges_from_us: f64,
    pub find_edges_from_floor_us: f64,
    /// Commits per second of all writer processes together, each on its own program,
    /// for each count in [`WRITERS`].
    pub writers_commits_per_s: Vec<(usize, f64)>,
    /// The SQLite store's figures for the same program, from the same run.
    pub sqlite: Option<SizeReport>,
}

/// A schema of the benchmark's own, dropped when this goes out of scope.
struct BenchSchema {
    url: String,
    name: String,
}

impl BenchSchema {
    /// A migrated schema, partitioned by program when `partitions` says so.
    fn new(url: &str, label: &str, partitions: Option<u32>) -> Result<Self, Failure> {
        let name = format!("lmbench_{}_{label}", std::process::id());
        let schema = BenchSchema { url: url.to_string(), name };
        schema.drop_now()?;
        schema.sql(&format!("CREATE SCHEMA {}", quote_identifier(&schema.name)))?;
        // Opening a store migrates the new schema.
        let store = schema.store(1)?;
        if let Some(n) = partitions {
            store.partition_by_program(n)?;
        }
        drop(store);
        Ok(schema)
    }

    fn config(&self, pool_size: u32) -> PgConfig {
        PgConfig { schema: Some(self.name.clone()), pool_size, ..PgConfig::default() }
    }

    fn store(&self, pool_size: u32) -> Result<PgStore, Failure> {
        PgStore::connect_with(&self.url, self.config(pool_size))
            .map_err(|e| Failure::new(format!("cannot connect to {}: {e}", self.url)))
    }

    fn client(&self) -> Result<postgres::Client, Failure> {
        pg_raw::connect(&self.url, &self.name).map_err(Failure::new)
    }

    fn sql(&self, sql: &str) -> Result<(), Failure> {
        let mut client = postgres::Client::connect(&self.url, postgres::NoTls)
            .map_err(|e| Failure::new(format!("cannot connect to {}: {e}", self.url)))?;
        client.batch_execute(sql).map_err(|e| Failure::new(format!("{sql}: {e}")))
    }

    fn drop_now(&self) -> Result<(), Failure> {
        self.sql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", quote_identifier(&self.name)))
    }
}

impl Drop for BenchSchema {
    fn drop(&mut self) {
        if let Err(Failure { message: e, .. }) = self.drop_now() {
            tracing::warn!(schema = %self.name, error = %e, "a benchmark schema was left behind");
        }
    }
}

/// Measures every PostgreSQL figure for a program of `nodes` nodes on the server at
/// `url`, then the SQLite store's figures for the same program.
pub fn measure_size(url: &str, nodes: usize, args: &BenchArgs, bar: &ProgressBar) -> Result<PgReport, Failure> {
    let reps = args.reps.max(1);
    let step = |what: &str| bar.set_message(format!("{nodes} nodes on PostgreSQL: {what}"));
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ nodes as u64);
    let graph = synth::generate(&SynthConfig::new(nodes).with_seed(args.seed).with_gaps(args.gaps));
    let mut report = PgReport { nodes: graph.node_count(), edges: graph.edge_count(), reps, ..PgReport::default() };

    step("bulk save");
    let mut samples = Vec::new();
    let mut kept: Option<(BenchSchema, ProgramId)> = None;
    for rep in 0..reps {
        let schema = BenchSchema::new(url, &format!("{nodes}_store_{rep}"), args.partitions)?;
        let store = schema.store(2)?;
        let (program, t) = measure::timed(|| store.insert_program("bench", &graph));
        let program = program?;
        samples.push(measure::ms(t));
        drop(store);
        if kept.is_none() {
            kept = Some((schema, program));
        }
    }
    report.bulk_save_ms = measure::median(samples);
    let Some((main, program)) = kept else { return Err(Failure::new("no repetition ran")) };
    bar.inc(1);

    step("raw floor: bulk COPY");
    let rows: ProgramCopy = pg_raw::export(&mut main.client()?, &main.name, program.0).map_err(Failure::new)?;
    report.rows = rows.rows;
    let mut samples = Vec::new();
    let mut floor: Option<BenchSchema> = None;
    for rep in 0..reps {
        let schema = BenchSchema::new(url, &format!("{nodes}_floor_{rep}"), args.partitions)?;
        samples.push(measure::ms(pg_raw::bulk_copy(&mut schema.client()?, &rows).map_err(Failure::new)?));
        if floor.is_none() {
            floor = Some(schema);
        }
    }
    report.bulk_save_floor_ms = measure::median(samples);
    let Some(floor) = floor else { return Err(Failure::new("no repetition ran")) };
    let mut floor_client = floor.client()?;
    bar.inc(1);

    step("load");
    let store = main.store(10)?;
    let mut samples = Vec::new();
    for _ in 0..reps {
        let (loaded, t) = measure::timed(|| store.load_program(program));
        let loaded = loaded?;
        if loaded.node_count() != report.nodes || loaded.edge_count() != report.edges {
            return Err(Failure::new("the loaded program differs from the one saved"));
        }
        samples.push(measure::ms(t));
    }
    report.load_ms = measure::median(samples);
    let mut samples = Vec::new();
    for _ in 0..reps {
        let (seen, t) = pg_raw::scan(&mut floor_client, &rows).map_err(Failure::new)?;
        if seen != report.rows {
            return Err(Failure::new(format!("raw floor: scanned {seen} rows of {}", report.rows)));
        }
        samples.push(measure::ms(t));
    }
    report.load_floor_ms = measure::median(samples);
    bar.inc(1);

    step("save after a one-node edit");
    report.save_after_edit_ms = measure::save_after_edit(&store, program, reps, args.seed)?.ms;
    bar.inc(1);

    step("queries");
    let loaded = store.load_program(program)?;
    let functions: Vec<FunctionId> = loaded.functions().map(|f| f.id).collect();
    let live: Vec<NodeId> = loaded.nodes().map(|(id, _)| id).collect();
    drop(loaded);
    let per_call = |d: Duration| measure::us(d) / QUERIES_PER_REP as f64;
    let (mut owner, mut owner_floor, mut from, mut from_floor) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        let fkeys: Vec<FunctionId> = (0..QUERIES_PER_REP).filter_map(|_| functions.choose(&mut rng).copied()).collect();
        let (seen, t) = measure::timed(|| -> Result<usize, Failure> {
            fkeys.iter().try_fold(0, |n, f| Ok(n + store.find_nodes_by_owner(program, *f)?.len()))
        });
        let seen = seen?;
        owner.push(per_call(t));
        let keys: Vec<i64> = fkeys.iter().map(|f| i64::from(f.0)).collect();
        let (t, floor_seen) =
            pg_raw::indexed(&mut floor_client, program.0, pg_raw::NODES_BY_OWNER, &keys).map_err(Failure::new)?;
        measure::check_same(seen, floor_seen, "find_nodes_by_owner")?;
        owner_floor.push(per_call(t));

        let nkeys: Vec<NodeId> = (0..QUERIES_PER_REP).filter_map(|_| live.choose(&mut rng).copied()).collect();
        let (seen, t) = measure::timed(|| -> Result<usize, Failure> {
            nkeys.iter().try_fold(0, |n, id| Ok(n + store.find_edges_from(program, *id)?.len()))
        });
        let seen = seen?;
        from.push(per_call(t));
        let keys: Vec<i64> = nkeys.iter().map(|n| i64::from(n.0)).collect();
        let (t, floor_seen) =
            pg_raw::indexed(&mut floor_client, program.0, pg_raw::EDGES_FROM, &keys).map_err(Failure::new)?;
        measure::check_same(seen, floor_seen, "find_edges_from")?;
        from_floor.push(per_call(t));
    }
    report.find_nodes_by_owner_us = measure::median(owner);
    report.find_nodes_by_owner_floor_us = measure::median(owner_floor);
    report.find_edges_from_us = measure::median(from);
    report.find_edges_from_floor_us = measure::median(from_floor);
    bar.inc(1);

    step("single-mutation commits");
    let function = functions.first().copied().ok_or_else(|| Failure::new("the program has no function"))?;
    let rates = measure::mutation_rates(&store, program, Some(function), reps, COMMITS_PER_REP)?;
    report.node_commits_per_s = rates.nodes_per_s;
    report.edge_commits_per_s = rates.edges_per_s;
    let edge = rates.last_edge.ok_or_else(|| Failure::new("no edge was committed"))?;
    let template = Template { node: i64::from(rates.last_node.0), edge: i64::from(edge.0) };
    let (node_floor, edge_floor) = floor_commit_rates(&mut floor_client, &main, program, template, reps)?;
    report.node_commit_floor_per_s = node_floor;
    report.edge_commit_floor_per_s = edge_floor;
    drop(store);
    bar.inc(1);

    step("writers on separate programs");
    report.writers_commits_per_s = writer_scaling(url, nodes, args.partitions)?;
    bar.inc(1);
    Ok(report)
}

/// The ids of one node row and one edge row the store wrote during the commit figures,
/// which the floor copies.
#[derive(Debug, Clone, Copy)]
struct Template {
    node: i64,
    edge: i64,
}

/// The floor of a single-mutation commit: a copy of a node row (an edge row) the store
/// wrote, inserted by hand in autocommit under fresh ids, into the floor's schema.
fn floor_commit_rates(
    floor: &mut postgres::Client,
    main: &BenchSchema,
    program: ProgramId,
    template: Template,
    reps: usize,
) -> Result<(f64, f64), Failure> {
    // The template rows live in the store's schema; copy them into the floor's first
    // (the edge's endpoints are the template node, which exists in both after this).
    let mut source = main.client()?;
    let copy = |client: &mut postgres::Client, table: &str, id_column: &str, id: i64| -> Result<Vec<u8>, Failure> {
        let mut data = Vec::new();
        std::io::Read::read_to_end(
            &mut client
                .copy_out(&format!(
                    "COPY (SELECT * FROM {table} WHERE program_id = {} AND {id_column} = {id}) TO STDOUT",
                    program.0
                ))
                .map_err(|e| Failure::new(format!("raw floor: {e}")))?,
            &mut data,
        )?;
        Ok(data)
    };
    let node_row = copy(&mut source, "lmlang_compute_nodes", "node_id", template.node)?;
    let mut writer =
        floor.copy_in("COPY lmlang_compute_nodes FROM STDIN").map_err(|e| Failure::new(format!("raw floor: {e}")))?;
    std::io::Write::write_all(&mut writer, &node_row)?;
    writer.finish().map_err(|e| Failure::new(format!("raw floor: {e}")))?;
    // An edge between two nodes that exist in the floor: the template node to itself is
    // a cycle the store would refuse, but the floor only measures the row's write.
    floor
        .execute(
            "INSERT INTO lmlang_flow_edges (program_id, edge_id, source_id, target_id, branch) \
             VALUES ($1, $2, $3, $3, NULL)",
            &[&program.0, &template.edge, &template.node],
        )
        .map_err(|e| Failure::new(format!("raw floor: {e}")))?;
    // Fresh ids far above the program's, inside the ids' CHECK range (u32).
    let base = 3_000_000_000i64;
    let (mut nodes, mut edges) = (Vec::new(), Vec::new());
    for rep in 0..reps {
        let first = base + (rep * COMMITS_PER_REP) as i64;
        let t = pg_raw::single_row_commits(
            floor,
            program.0,
            "lmlang_compute_nodes",
            "node_id",
            template.node,
            first,
            COMMITS_PER_REP,
        )
        .map_err(Failure::new)?;
        nodes.push(COMMITS_PER_REP as f64 / t.as_secs_f64());
        let t = pg_raw::single_row_commits(
            floor,
            program.0,
            "lmlang_flow_edges",
            "edge_id",
            template.edge,
            first,
            COMMITS_PER_REP,
        )
        .map_err(Failure::new)?;
        edges.push(COMMITS_PER_REP as f64 / t.as_secs_f64());
    }
    Ok((measure::median(nodes), measure::median(edges)))
}

/// Commits per second of 1, 2, 4 and 8 writer processes, each inserting nodes into a
/// program of its own, all starting at one instant: whatever serialises them is the
/// server's or the store's, not this process's pool or threads.
fn writer_scaling(url: &str, nodes: usize, partitions: Option<u32>) -> Result<Vec<(usize, f64)>, Failure> {
    let schema = BenchSchema::new(url, &format!("{nodes}_writers"), partitions)?;
    let most = WRITERS.iter().copied().max().unwrap_or(1);
    let store = schema.store(1)?;
    let mut programs = Vec::new();
    for k in 0..most {
        let program = store.create_program(&format!("writer-{k}"))?;
        let root = store.find_module_by_path(program, &["root"])?;
        store.insert_function(
            program,
            NewFunction {
                module: root,
                name: "f".into(),
                visibility: Visibility::Public,
                params: vec![],
                return_type: TypeId::UNIT,
                closure_of: None,
            },
        )?;
        programs.push(program);
    }
    drop(store);
    let exe = std::env::current_exe()?;
    let mut out = Vec::new();
    for &writers in &WRITERS {
        // Long enough for every child to connect and warm up before it.
        let start_at = epoch_ms()? + 1500;
        let children = programs[..writers]
            .iter()
            .map(|program| {
                std::process::Command::new(&exe)
                    .args(["--db", url, "bench", "--writer-schema", &schema.name])
                    .args(["--writer-program", &program.0.to_string(), "--writer-start-at", &start_at.to_string()])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut last_end = 0u64;
        for child in children {
            let output = child.wait_with_output()?;
            let text = String::from_utf8_lossy(&output.stdout);
            let end = text.trim().strip_prefix("done at ").and_then(|v| v.parse::<u64>().ok());
            match end {
                Some(end) if output.status.success() => last_end = last_end.max(end),
                _ => {
                    return Err(Failure::new(format!(
                        "a writer process failed: {}{}",
                        text.trim(),
                        String::from_utf8_lossy(&output.stderr).trim()
                    )));
                }
            }
        }
        let seconds = last_end.saturating_sub(start_at).max(1) as f64 / 1e3;
        out.push((writers, (writers * COMMITS_PER_WRITER) as f64 / seconds));
    }
    Ok(out)
}

fn epoch_ms() -> Result<u64, Failure> {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| Failure::new(format!("the clock is before 1970: {e}")))?;
    Ok(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// One writer process of the writer-scaling figure: connects, warms its store's cache
/// with one untimed commit, waits for `start_at`, makes its commits, and prints when it
/// was done.
pub fn run_writer(url: &str, schema: &str, program: i64, start_at: u64) -> crate::CmdResult {
    let config = PgConfig { schema: Some(schema.to_string()), pool_size: 1, migrate: false, ..PgConfig::default() };
    let store = PgStore::connect_with(url, config)
        .map_err(|e| Failure::new(format!("cannot connect to {}: {e}", crate::db::redacted(url))))?;
    let program = ProgramId(program);
    let function = store
        .load_program(program)?
        .functions()
        .next()
        .map(|f| f.id)
        .ok_or_else(|| Failure::new("the writer's program has no function"))?;
    let op = || ComputeOp::Const { value: ConstValue::I64(1) }.into();
    store.insert_node(program, function, op())?;
    let now = epoch_ms()?;
    if start_at > now {
        std::thread::sleep(Duration::from_millis(start_at - now));
    }
    for _ in 0..COMMITS_PER_WRITER {
        store.insert_node(program, function, op())?;
    }
    outln!("done at {}", epoch_ms()?)?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// One line: the figure, the store's value, its floor, the ratio, the goal on the
/// ratio, and the SQLite store's value of the same figure.
struct Row {
    cells: [String; 7],
}

fn row(figure: &str, unit: Unit, value: f64, floor: Option<f64>, goal: Option<Goal>, sqlite: Option<f64>) -> Row {
    let ratio = floor.filter(|f| *f > 0.0 && value > 0.0).map(|f| if unit.cost() { value / f } else { f / value });
    // Goals on a floor are goals on the ratio (cost over floor); the others on the value.
    let judged = if floor.is_some() { ratio } else { Some(value) };
    let verdict = match (goal, judged) {
        (Some(g), Some(v)) if g.met(v) => "met",
        (Some(_), Some(_)) => "MISSED",
        _ => "",
    };
    let goal_text = match goal {
        Some(g) if floor.is_some() => g.describe_ratio(),
        Some(g) => g.describe(unit),
        None => "-".into(),
    };
    Row {
        cells: [
            figure.to_string(),
            unit.show(value),
            floor.map(|f| unit.show(f)).unwrap_or_else(|| "-".into()),
            ratio.map(|r| format!("{r:.2}x")).unwrap_or_else(|| "-".into()),
            goal_text,
            verdict.into(),
            sqlite.map(|v| unit.show(v)).unwrap_or_else(|| "-".into()),
        ],
    }
}

impl PgReport {
    /// The table for this size, ready to print.
    pub fn render(&self) -> String {
        let s = self.sqlite.as_ref();
        let at_100k = (self.nodes >= 100_000).then_some(());
        let mut rows = vec![
            row(
                "bulk save, new program (floor: COPY)",
                Unit::Ms,
                self.bulk_save_ms,
                Some(self.bulk_save_floor_ms),
                at_100k.map(|_| Goal::AtMost(1.3)),
                s.map(|s| s.bulk_save_ms),
            ),
            row(
                "load program (floor: SELECT per table)",
                Unit::Ms,
                self.load_ms,
                Some(self.load_floor_ms),
                at_100k.map(|_| Goal::AtMost(1.3)),
                s.map(|s| s.load_ms),
            ),
            row(
                "save after a one-node edit",
                Unit::Ms,
                self.save_after_edit_ms,
                None,
                Some(Goal::Under(2.0)),
                s.map(|s| s.save_after_edit_ms),
            ),
            row(
                "single mutation: insert_node",
                Unit::PerS,
                self.node_commits_per_s,
                Some(self.node_commit_floor_per_s),
                Some(Goal::AtMost(1.25)),
                s.map(|s| s.node_commits_per_s),
            ),
            row(
                "single mutation: insert_edge",
                Unit::PerS,
                self.edge_commits_per_s,
                Some(self.edge_commit_floor_per_s),
                Some(Goal::AtMost(1.25)),
                s.map(|s| s.edge_commits_per_s),
            ),
            row(
                "find_nodes_by_owner",
                Unit::Us,
                self.find_nodes_by_owner_us,
                Some(self.find_nodes_by_owner_floor_us),
                Some(Goal::AtMost(1.3)),
                s.map(|s| s.find_nodes_by_owner_us),
            ),
            row(
                "find_edges_from",
                Unit::Us,
                self.find_edges_from_us,
                Some(self.find_edges_from_floor_us),
                None,
                s.map(|s| s.find_edges_from_us),
            ),
        ];
        let one = self.writers_commits_per_s.first().map(|(_, r)| *r);
        for &(writers, rate) in &self.writers_commits_per_s {
            let label = format!("{writers} writer process(es), one program each");
            let mut r = row(&label, Unit::PerS, rate, None, None, None);
            if let Some(one) = one.filter(|_| writers > 1) {
                // More is better here, and the goal is on the speed-up over one writer.
                let speedup = rate / one;
                r.cells[2] = format!("1 writer: {}", Unit::PerS.show(one));
                r.cells[3] = format!("{speedup:.2}x");
                if writers == 8 {
                    let goal = Goal::AtLeast(2.0);
                    r.cells[4] = goal.describe_ratio();
                    r.cells[5] = if goal.met(speedup) { "met" } else { "MISSED" }.into();
                }
            }
            rows.push(r);
        }
        let header = ["figure", "PostgreSQL", "raw floor", "ratio", "goal", "", "SQLite (same run)"].map(String::from);
        let mut widths = header.clone().map(|h| h.chars().count());
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(&r.cells) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = format!(
            "PostgreSQL: {} nodes, {} edges, {} rows (median of {})\n",
            self.nodes, self.edges, self.rows, self.reps
        );
        for cells in std::iter::once(&header).chain(rows.iter().map(|r| &r.cells)) {
            let mut text = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                let pad = " ".repeat(w.saturating_sub(cell.chars().count()));
                if i == 0 || i == 5 {
                    text.push_str(&format!("{cell}{pad}  "));
                } else {
                    text.push_str(&format!("{pad}{cell}  "));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out.push_str(
            "ratio: the store's cost over the floor's (for commit rates, the floor's rate over the store's; \
             for writers, the speed-up over one writer)\n",
        );
        out
    }
}
