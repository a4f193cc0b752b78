//! `bench`: the figures of design.md §4 on the generator's workload, each beside the raw
//! SQLite floor for the same rows measured in the same run.
//!
//! A figure alone moves with whatever else the machine is doing; its ratio to a floor
//! taken minutes apart on the same files does not move much, so the ratios are what to
//! compare between runs. `measure` drives the store, `raw` the floor, `memory` the
//! child process that measures a load's peak memory, `history` what history recording
//! costs (each figure with it on beside it off), `figures` the goals and output.

mod figures;
mod history;
mod measure;
mod memory;
#[cfg(feature = "postgres")]
mod pg;
#[cfg(feature = "postgres")]
mod pg_raw;
mod raw;

use crate::output::outln;
use crate::{CmdResult, Failure};
use clap::Args;
use figures::{Machine, SizeReport};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `lmstore bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Program sizes to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    pub nodes: Vec<usize>,
    /// Delete 5 % of nodes first.
    #[arg(long)]
    pub gaps: bool,
    /// Repetitions per figure; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Also write the figures as JSON to this file (an array, one object per size).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// PostgreSQL only: measure on the partitioned layout, every program table (the
    /// floors' too) hash-partitioned into this many partitions by program.
    #[arg(long)]
    pub partitions: Option<u32>,
    /// Directory for the temporary databases (default: the system's temp directory).
    /// Put it on the disk you want measured.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Internal: load this database's program in a fresh process and report its peak
    /// memory (run by `bench` itself).
    #[arg(long, hide = true, requires = "load_child_program")]
    pub load_child: Option<PathBuf>,
    /// Internal: the program for `--load-child`.
    #[arg(long, hide = true)]
    pub load_child_program: Option<i64>,
    /// Internal: commit into a program of this PostgreSQL schema as one writer process
    /// of the writer-scaling figure (run by `bench --db postgres://` itself).
    #[arg(long, hide = true, requires_all = ["writer_program", "writer_start_at"])]
    pub writer_schema: Option<String>,
    /// Internal: the program for `--writer-schema`.
    #[arg(long, hide = true)]
    pub writer_program: Option<i64>,
    /// Internal: when the writer starts committing, in milliseconds since the epoch.
    #[arg(long, hide = true)]
    pub writer_start_at: Option<u64>,
}

pub fn run(args: &BenchArgs) -> CmdResult {
    if let (Some(db), Some(program)) = (&args.load_child, args.load_child_program) {
        return memory::run_child(db, program);
    }
    if args.partitions.is_some() {
        return Err(Failure::new("--partitions is a PostgreSQL layout: use it with --db postgres://..."));
    }
    if args.nodes.is_empty() || args.nodes.contains(&0) {
        return Err(Failure::new("--nodes needs one or more sizes above zero"));
    }
    let machine = Machine::detect();
    let bar = progress_bar(measure::STEPS * args.nodes.len() as u64);
    outln!(
        "lmstore bench: {} ({} cores, {:.1} GiB); {} repetition(s), seed {}{}",
        machine.cpu,
        machine.cores,
        machine.memory_gib,
        args.reps.max(1),
        args.seed,
        if args.gaps { ", 5 % of nodes deleted" } else { "" }
    )?;
    let mut reports: Vec<SizeReport> = Vec::new();
    for &nodes in &args.nodes {
        let mut report = measure::measure_size(nodes, args, &bar)?;
        report.machine = Some(machine.clone());
        bar.suspend(|| outln!("\n{}", report.render()))?;
        reports.push(report);
        write_json(args, &reports)?;
    }
    bar.finish_and_clear();
    let scaling = figures::scaling(&reports);
    if !scaling.is_empty() {
        outln!("\nscaling\n{scaling}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `lmstore bench --db postgres://...`: the PostgreSQL figures of each size, each with
/// the SQLite store's figures for the same program from the same run beside it.
#[cfg(feature = "postgres")]
pub fn run_postgres(url: &str, args: &BenchArgs) -> CmdResult {
    if let (Some(schema), Some(program), Some(start_at)) =
        (&args.writer_schema, args.writer_program, args.writer_start_at)
    {
        return pg::run_writer(url, schema, program, start_at);
    }
    if args.nodes.is_empty() || args.nodes.contains(&0) {
        return Err(Failure::new("--nodes needs one or more sizes above zero"));
    }
    let machine = Machine::detect();
    let bar = progress_bar((pg::STEPS + measure::STEPS) * args.nodes.len() as u64);
    outln!(
        "lmstore bench on PostgreSQL ({}), SQLite beside it: {} ({} cores, {:.1} GiB); {} repetition(s), seed {}",
        crate::db::redacted(url),
        machine.cpu,
        machine.cores,
        machine.memory_gib,
        args.reps.max(1),
        args.seed
    )?;
    match args.partitions {
        Some(n) => outln!("layout: every program table hash-partitioned by program into {n} partitions")?,
        None => outln!("layout: plain tables (--partitions N for the partitioned layout)")?,
    }
    let mut reports = Vec::new();
    for &nodes in &args.nodes {
        let mut report = pg::measure_size(url, nodes, args, &bar)?;
        let mut sqlite = measure::measure_size(nodes, args, &bar)?;
        sqlite.machine = Some(machine.clone());
        report.sqlite = Some(sqlite);
        bar.suspend(|| outln!("\n{}", report.render()))?;
        reports.push(report);
        write_json(args, &reports)?;
    }
    bar.finish_and_clear();
    Ok(ExitCode::SUCCESS)
}

/// Writes the figures so far to `--json`, after every size, so a long run interrupted
/// later keeps what it has.
fn write_json(args: &BenchArgs, reports: &impl serde::Serialize) -> Result<(), Failure> {
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(reports)?;
        std::fs::write(path, text + "\n").map_err(|e| Failure::new(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

/// A bar on stderr when it is a terminal; hidden otherwise, so logs and pipes get only
/// the tables.
fn progress_bar(steps: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(steps);
    if let Ok(style) = ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
