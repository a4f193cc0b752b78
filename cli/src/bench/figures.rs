//! The figures of one program size, the goals of design.md §4 they are held to, and
//! their rendering as a table and as JSON.
//!
//! Every figure is stored in one fixed unit (milliseconds, microseconds, per second,
//! bytes) and the JSON field names carry the unit, so a script reading `bench.json`
//! never has to guess.

use serde::Serialize;

/// The machine a run was measured on; figures mean little without it.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
}

impl Machine {
    /// Reads the CPU model and memory from /proc (Linux); unknown elsewhere.
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|rest| rest.split_once(':')).map(|(_, v)| v.trim()))
            .unwrap_or("unknown")
            .to_string();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            memory_gib: memory_kib / (1024.0 * 1024.0),
        }
    }
}

/// Every figure measured at one program size; `*_floor_*` fields are the raw SQLite
/// floor for the same rows, measured in the same run. Times are medians over the
/// repetitions.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SizeReport {
    pub nodes: usize,
    pub edges: usize,
    pub functions: usize,
    /// Rows the program occupies over all tables.
    pub rows: usize,
    pub gaps: bool,
    pub seed: u64,
    pub reps: usize,
    pub generate_ms: f64,

    pub bulk_save_ms: f64,
    pub bulk_save_floor_ms: f64,
    /// The bulk save and then the WAL checkpoint it leaves to the background thread,
    /// both timed; the floor the same way.
    pub bulk_save_with_checkpoint_ms: f64,
    pub bulk_save_with_checkpoint_floor_ms: f64,
    pub save_after_edit_ms: f64,
    /// The first save after a load, left out of `save_after_edit_ms`.
    pub first_save_after_load_ms: f64,
    /// Rows written plus rows deleted by one of those saves.
    pub save_after_edit_rows: u64,
    pub node_commits_per_s: f64,
    pub node_commit_floor_per_s: f64,
    pub edge_commits_per_s: f64,
    pub edge_commit_floor_per_s: f64,
    pub load_ms: f64,
    pub load_floor_ms: f64,
    pub hash_ms: f64,
    pub rehash_us: f64,
    pub find_nodes_by_owner_us: f64,
    pub find_nodes_by_owner_floor_us: f64,
    pub find_edges_from_us: f64,
    pub find_edges_from_floor_us: f64,
    pub find_edges_to_us: f64,
    pub find_edges_to_floor_us: f64,
    pub bytes_per_node: f64,
    pub bytes_per_node_floor: f64,
    /// The same database after `VACUUM` (index pages packed full).
    pub bytes_per_node_vacuumed: f64,
    /// Peak resident memory (VmHWM) of a process that opens the store and loads the
    /// program, and the part of it the load added. `None` where /proc is missing.
    pub load_peak_mib: Option<f64>,
    pub load_peak_delta_mib: Option<f64>,
    /// What history costs: each figure with recording on beside it off.
    pub history: Option<super::history::HistoryFigures>,

    pub machine: Option<Machine>,
}

/// A goal of design.md §4 or §5.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    AtMost(f64),
    Under(f64),
    AtLeast(f64),
}

impl Goal {
    pub fn met(self, value: f64) -> bool {
        match self {
            Goal::AtMost(g) => value <= g,
            Goal::Under(g) => value < g,
            Goal::AtLeast(g) => value >= g,
        }
    }

    /// The goal on a ratio (`<= 1.30x`), for the PostgreSQL table.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub fn describe_ratio(self) -> String {
        match self {
            Goal::AtMost(g) => format!("<= {g:.2}x"),
            Goal::Under(g) => format!("< {g:.2}x"),
            Goal::AtLeast(g) => format!(">= {g:.2}x"),
        }
    }

    pub fn describe(self, unit: Unit) -> String {
        match self {
            Goal::AtMost(g) => format!("<= {}", unit.show(g)),
            Goal::Under(g) => format!("< {}", unit.show(g)),
            Goal::AtLeast(g) => format!(">= {}", unit.show(g)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Unit {
    Ms,
    Us,
    PerS,
    Bytes,
    BytesPerEntry,
    Mib,
}

impl Unit {
    pub fn show(self, v: f64) -> String {
        let n = significant(v);
        match self {
            Unit::Ms => format!("{n} ms"),
            Unit::Us => format!("{n} µs"),
            Unit::PerS => format!("{}k/s", significant(v / 1000.0)),
            Unit::Bytes => format!("{n} B/node"),
            Unit::BytesPerEntry => format!("{n} B/entry"),
            Unit::Mib => format!("{n} MiB"),
        }
    }

    /// Whether a larger value is worse (times, sizes) or better (rates).
    pub fn cost(self) -> bool {
        !matches!(self, Unit::PerS)
    }
}

/// Three significant digits, without exponent notation.
fn significant(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// One line of the table.
pub struct Line {
    pub figure: &'static str,
    pub value: String,
    pub floor: String,
    /// Cost against the floor: above 1 is slower (or bigger) than raw SQLite.
    pub ratio: String,
    pub goal: String,
    /// `Some(true)` met, `Some(false)` missed, `None` no goal at this size.
    pub met: Option<bool>,
}

fn line(figure: &'static str, unit: Unit, value: f64, floor: Option<f64>, goal: Option<Goal>) -> Line {
    let ratio = floor.filter(|f| *f > 0.0 && value > 0.0).map(|f| if unit.cost() { value / f } else { f / value });
    Line {
        figure,
        value: unit.show(value),
        floor: floor.map(|f| unit.show(f)).unwrap_or_else(|| "-".into()),
        ratio: ratio.map(|r| format!("{r:.2}x")).unwrap_or_else(|| "-".into()),
        goal: goal.map(|g| g.describe(unit)).unwrap_or_else(|| "-".into()),
        met: goal.map(|g| g.met(value)),
    }
}

impl SizeReport {
    /// The table lines with their goals. design.md states its goals at 100k nodes (and
    /// the 1M-node save and load); goals that do not depend on size (a small edit, a
    /// commit, a query, bytes per node) are checked at every size, except bytes per
    /// node below 100k, where the schema's fixed pages still dominate.
    pub fn lines(&self) -> Vec<Line> {
        let at = |n: usize, goal: Goal| (self.nodes == n).then_some(goal);
        let big = self.nodes >= 100_000;
        let bulk = at(100_000, Goal::AtMost(300.0)).or(at(1_000_000, Goal::Under(4000.0)));
        let load = at(100_000, Goal::AtMost(55.0)).or(at(1_000_000, Goal::Under(1500.0)));
        let mut lines = vec![
            line("bulk save, new program", Unit::Ms, self.bulk_save_ms, Some(self.bulk_save_floor_ms), bulk),
            line(
                "bulk save with its WAL checkpoint",
                Unit::Ms,
                self.bulk_save_with_checkpoint_ms,
                Some(self.bulk_save_with_checkpoint_floor_ms),
                // design.md section 5: at most 1.25x the floor doing the same work.
                Some(Goal::AtMost(1.25 * self.bulk_save_with_checkpoint_floor_ms)),
            ),
            line("save after a one-node edit", Unit::Ms, self.save_after_edit_ms, None, Some(Goal::Under(1.0))),
            line("first save after a load (not in the above)", Unit::Ms, self.first_save_after_load_ms, None, None),
            line(
                "single mutation: insert_node",
                Unit::PerS,
                self.node_commits_per_s,
                Some(self.node_commit_floor_per_s),
                Some(Goal::AtLeast(30_000.0)),
            ),
            line(
                "single mutation: insert_edge",
                Unit::PerS,
                self.edge_commits_per_s,
                Some(self.edge_commit_floor_per_s),
                Some(Goal::AtLeast(30_000.0)),
            ),
            line("load program", Unit::Ms, self.load_ms, Some(self.load_floor_ms), load),
            line("hash all (from scratch)", Unit::Ms, self.hash_ms, None, at(100_000, Goal::AtMost(60.0))),
            line("rehash after a one-node edit", Unit::Us, self.rehash_us, None, Some(Goal::Under(100.0))),
            line(
                "find_nodes_by_owner",
                Unit::Us,
                self.find_nodes_by_owner_us,
                Some(self.find_nodes_by_owner_floor_us),
                Some(Goal::AtMost(50.0)),
            ),
            line("find_edges_from", Unit::Us, self.find_edges_from_us, Some(self.find_edges_from_floor_us), None),
            line("find_edges_to", Unit::Us, self.find_edges_to_us, Some(self.find_edges_to_floor_us), None),
            line(
                "database size",
                Unit::Bytes,
                self.bytes_per_node,
                Some(self.bytes_per_node_floor),
                big.then_some(Goal::AtMost(140.0)),
            ),
            line(
                "database size after VACUUM",
                Unit::Bytes,
                self.bytes_per_node_vacuumed,
                None,
                big.then_some(Goal::AtMost(140.0)),
            ),
        ];
        if let Some(h) = &self.history {
            // The "floor" of these lines is the same operation with history off (a
            // plain load for the checkout); the goals are the ratios.
            lines.extend([
                line(
                    "history on: insert_node (vs off)",
                    Unit::PerS,
                    h.node_commits_per_s,
                    Some(h.node_commits_per_s_off),
                    Some(Goal::AtLeast(h.node_commits_per_s_off / 1.2)),
                ),
                line(
                    "history on: save after a one-node edit (vs off)",
                    Unit::Ms,
                    h.save_after_edit_ms,
                    Some(h.save_after_edit_ms_off),
                    Some(Goal::AtMost(h.save_after_edit_ms_off * 1.2)),
                ),
                line(
                    "history entry of a one-node edit",
                    Unit::BytesPerEntry,
                    h.bytes_per_edit_entry,
                    None,
                    Some(Goal::AtMost(300.0)),
                ),
                line(
                    "load 1,000 commits back (vs a load)",
                    Unit::Ms,
                    h.load_behind_ms,
                    Some(h.load_ms),
                    Some(Goal::AtMost(5.0 * h.load_ms)),
                ),
            ]);
        }
        if let Some(peak) = self.load_peak_mib {
            lines.push(line("peak memory of a load (VmHWM)", Unit::Mib, peak, None, None));
        }
        lines
    }

    /// The table for this size, ready to print.
    pub fn render(&self) -> String {
        let lines = self.lines();
        let header = ["figure", "value", "raw floor", "ratio", "goal", ""];
        let cells: Vec<[String; 6]> = lines
            .iter()
            .map(|l| {
                let verdict = match l.met {
                    Some(true) => "met",
                    Some(false) => "MISSED",
                    None => "",
                };
                [
                    l.figure.to_string(),
                    l.value.clone(),
                    l.floor.clone(),
                    l.ratio.clone(),
                    l.goal.clone(),
                    verdict.into(),
                ]
            })
            .collect();
        let mut widths = header.map(|h| h.chars().count());
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let gaps = if self.gaps { ", 5 % deleted" } else { "" };
        let mut out = format!(
            "{} nodes, {} edges, {} functions, {} rows{gaps} (median of {}; generated in {} ms)\n",
            self.nodes,
            self.edges,
            self.functions,
            self.rows,
            self.reps,
            significant(self.generate_ms)
        );
        let mut push_row = |row: &[String]| {
            let mut text = String::new();
            for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                let pad = w.saturating_sub(cell.chars().count());
                if i == 0 || i == 5 {
                    text.push_str(cell);
                    text.push_str(&" ".repeat(pad));
                } else {
                    text.push_str(&" ".repeat(pad));
                    text.push_str(cell);
                }
                text.push_str("  ");
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        push_row(&header.map(String::from));
        for row in &cells {
            push_row(row);
        }
        out
    }
}

/// How figures grow from one size to the next: time ratios beside the node ratio for
/// the whole-program operations (linear means about equal), and the spread of query
/// latency over all sizes (flat means about 1).
pub fn scaling(reports: &[SizeReport]) -> String {
    let mut out = String::new();
    for pair in reports.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.nodes == 0 {
            continue;
        }
        let nodes = b.nodes as f64 / a.nodes as f64;
        let r = |x: f64, y: f64| if x > 0.0 { format!("{:.1}x", y / x) } else { "-".into() };
        out.push_str(&format!(
            "{} -> {} nodes ({nodes:.1}x): bulk save {}, load {}, hash {}, floor save {}, floor load {}\n",
            a.nodes,
            b.nodes,
            r(a.bulk_save_ms, b.bulk_save_ms),
            r(a.load_ms, b.load_ms),
            r(a.hash_ms, b.hash_ms),
            r(a.bulk_save_floor_ms, b.bulk_save_floor_ms),
            r(a.load_floor_ms, b.load_floor_ms),
        ));
    }
    if reports.len() >= 2 {
        let spread = |f: fn(&SizeReport) -> f64| {
            let values: Vec<f64> = reports.iter().map(f).collect();
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(0.0, f64::max);
            if min > 0.0 { format!("{:.2}x", max / min) } else { "-".into() }
        };
        out.push_str(&format!(
            "query latency, largest over smallest across sizes: find_nodes_by_owner {}, find_edges_from {}, \
             find_edges_to {}, rehash {}\n",
            spread(|r| r.find_nodes_by_owner_us),
            spread(|r| r.find_edges_from_us),
            spread(|r| r.find_edges_to_us),
            spread(|r| r.rehash_us),
        ));
    }
    out
}
