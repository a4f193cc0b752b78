//! `soak`: long reliability runs whose figures go beside the automated tests.
//!
//! `soak crash` kills a writing child process at random moments and checks the database
//! after each kill; `soak concurrency` runs a writer against reader threads. Both run on
//! a fresh temporary database, never on `--db`'s programs: a temporary file, or with
//! `--db postgres://...` a scratch schema on that server, dropped after the run. Both
//! exit non-zero if anything went wrong. Two hidden subcommands are the children other processes run: `crash-child`
//! (the crash soak's writer) and `writer` (one of two processes writing one file).

pub mod concurrency;
pub mod crash;
pub mod script;
pub mod target;

use crate::output::{outln, print_json};
use crate::{CmdResult, Failure};
use clap::{Args, Subcommand};
use lmlang_storage::model::{ComputeOp, ConstValue, FunctionId, NodeId};
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{GraphStore, StorageError};
use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;

/// Options of `lmstore soak`.
#[derive(Args, Debug)]
pub struct SoakArgs {
    #[command(subcommand)]
    pub kind: SoakKind,
}

#[derive(Subcommand, Debug)]
pub enum SoakKind {
    /// Kill a writing child process at random moments; after each kill, check that every
    /// acknowledged commit is there, no half-done one is, and every program validates.
    #[command(after_help = "Example: lmstore soak crash --kills 200")]
    Crash {
        /// How many times the child is killed.
        #[arg(long, default_value_t = 200)]
        kills: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Longest a child runs before it is killed, in milliseconds.
        #[arg(long, default_value_t = 250)]
        max_run_ms: u64,
        /// Largest program a step creates.
        #[arg(long, default_value_t = 2_000)]
        program_nodes: usize,
        /// The child deletes rather than adds beyond this many nodes in all.
        #[arg(long, default_value_t = 20_000)]
        node_budget: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a writer (edits and whole-program saves) against reader threads; check every
    /// load against the writer's committed states and count errors (there should be none).
    #[command(after_help = "Example: lmstore soak concurrency --readers 4 --seconds 30")]
    Concurrency {
        #[arg(long, default_value_t = 4)]
        readers: usize,
        /// How long the writer runs with the readers.
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        /// How long the writer runs alone first, for its solo commit rate.
        #[arg(long, default_value_t = 10.0)]
        solo_seconds: f64,
        /// Size of the program.
        #[arg(long, default_value_t = 5_000)]
        nodes: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        json: bool,
    },
    /// The crash soak's child: commits random steps to --db until killed.
    #[command(hide = true)]
    CrashChild {
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        program_nodes: usize,
        #[arg(long)]
        node_budget: usize,
    },
    /// One of several processes writing one file: inserts nodes into the first function
    /// of a program and prints what it committed as JSON.
    #[command(hide = true)]
    Writer {
        #[arg(long)]
        program: String,
        #[arg(long)]
        ops: usize,
    },
}

pub fn run(db: &Path, args: &SoakArgs) -> CmdResult {
    match &args.kind {
        SoakKind::Crash { kills, seed, max_run_ms, program_nodes, node_budget, json } => {
            let (_scratch, db) = scratch_database(db, "crash.db")?;
            let cfg = crash::CrashConfig {
                exe: std::env::current_exe()?,
                db,
                kills: *kills,
                seed: *seed,
                max_run_ms: *max_run_ms,
                program_nodes: *program_nodes,
                node_budget: *node_budget,
            };
            let report = crash::run(&cfg, &mut |r| {
                if r.kills % 10 == 0 {
                    eprintln!(
                        "{} kills, {} steps acknowledged, {} failures ({:.0} s)",
                        r.kills,
                        r.steps_acknowledged,
                        r.failures.len(),
                        r.seconds
                    );
                }
            });
            if *json {
                print_json(&report)?;
            } else {
                print_crash(&report)?;
            }
            Ok(if report.failures.is_empty() && report.kills == *kills { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        SoakKind::Concurrency { readers, seconds, solo_seconds, nodes, seed, json } => {
            let (_scratch, db) = scratch_database(db, "concurrency.db")?;
            let cfg = concurrency::ConcurrencyConfig {
                db,
                readers: *readers,
                seconds: *seconds,
                solo_seconds: *solo_seconds,
                program_nodes: *nodes,
                seed: *seed,
            };
            let report = concurrency::run(&cfg).map_err(Failure::new)?;
            if *json {
                print_json(&report)?;
            } else {
                print_concurrency(&report)?;
            }
            let healthy = report.errors.is_empty() && report.torn_loads == 0;
            Ok(if healthy { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        SoakKind::CrashChild { seed, program_nodes, node_budget } => {
            crash::child(db, *seed, crash::mix(*program_nodes, *node_budget)).map_err(Failure::new)?;
            Ok(ExitCode::SUCCESS)
        }
        SoakKind::Writer { program, ops } => writer(db, program, *ops),
    }
}

/// What a soak's scratch database needs kept alive: a temporary directory, or a
/// scratch schema on a server.
enum ScratchGuard {
    Directory(#[allow(dead_code)] tempfile::TempDir),
    #[cfg(feature = "postgres")]
    Schema(#[allow(dead_code)] target::Scratch),
}

/// A fresh database for a soak: `file` in a temporary directory, or (when `--db` is a
/// server URL) a scratch schema on that server; dropped with the guard.
fn scratch_database(db: &Path, file: &str) -> Result<(ScratchGuard, std::path::PathBuf), Failure> {
    if target::is_server(db) {
        #[cfg(feature = "postgres")]
        {
            let scratch = target::Scratch::new(&db.to_string_lossy()).map_err(Failure::new)?;
            let url = std::path::PathBuf::from(&scratch.url);
            return Ok((ScratchGuard::Schema(scratch), url));
        }
        #[cfg(not(feature = "postgres"))]
        return Err(Failure::new(format!(
            "{}: this lmstore was built without PostgreSQL support",
            crate::db::redacted(&db.to_string_lossy())
        )));
    }
    let dir = tempfile::tempdir().map_err(|e| Failure::new(format!("temporary directory: {e}")))?;
    let path = dir.path().join(file);
    Ok((ScratchGuard::Directory(dir), path))
}

fn print_crash(r: &crash::CrashReport) -> Result<(), Failure> {
    outln!("kills survived         {} ({} while opening)", r.kills, r.killed_while_opening)?;
    outln!("steps acknowledged     {} (all present after every kill)", r.steps_acknowledged)?;
    outln!("in flight at the kill  {} committed, {} rolled back", r.in_flight_committed, r.in_flight_rolled_back)?;
    outln!("programs checked       {} ({} nodes)", r.programs_checked, r.nodes_checked)?;
    outln!("final database         {} programs, {} nodes", r.final_programs, r.final_nodes)?;
    outln!("time                   {:.1} s", r.seconds)?;
    outln!("failures               {}", r.failures.len())?;
    for f in &r.failures {
        outln!("  - {f}")?;
    }
    Ok(())
}

fn print_concurrency(r: &concurrency::ConcurrencyReport) -> Result<(), Failure> {
    outln!("program                {} nodes, {} readers", r.program_nodes, r.readers)?;
    outln!(
        "writer alone           {} commits in {:.1} s = {:.0}/s",
        r.solo_commits,
        r.solo_seconds,
        r.solo_commits_per_second
    )?;
    outln!(
        "writer with readers    {} commits in {:.1} s = {:.0}/s ({:.0} % of solo)",
        r.commits,
        r.seconds,
        r.commits_per_second,
        r.rate_ratio * 100.0
    )?;
    outln!("whole-program saves    {}", r.whole_program_saves)?;
    outln!("loads checked          {} ({} distinct committed states seen)", r.loads_checked, r.states_seen)?;
    outln!("queries                {}", r.queries)?;
    outln!("torn loads             {}", r.torn_loads)?;
    outln!("errors surfaced        {}", r.errors.len())?;
    for e in &r.errors {
        outln!("  - {e}")?;
    }
    Ok(())
}

/// What a `writer` child committed.
#[derive(Serialize)]
struct WriterReport {
    /// Ids of the nodes it inserted (all committed).
    inserted: Vec<NodeId>,
    /// Calls that failed with `StorageError::Busy` (allowed, and committed nothing).
    busy: u64,
    /// Any other error (none allowed).
    errors: Vec<String>,
}

fn writer(db: &Path, program: &str, ops: usize) -> CmdResult {
    let store = SqliteStore::open(db)?;
    let id = store.find_program(program)?;
    let mut report = WriterReport { inserted: Vec::new(), busy: 0, errors: Vec::new() };
    for i in 0..ops {
        let op = ComputeOp::Const { value: ConstValue::I64(i as i64) };
        let result = if i % 5 == 4 {
            // A group of three: all or nothing.
            let mut ids = Vec::new();
            let done = store.edit(id, &mut |g| {
                ids.clear();
                for _ in 0..3 {
                    ids.push(g.add_core_op(FunctionId(0), op.clone())?);
                }
                Ok(())
            });
            done.map(|_| ids)
        } else {
            store.insert_node(id, FunctionId(0), op.into()).map(|n| vec![n])
        };
        match result {
            Ok(ids) => report.inserted.extend(ids),
            Err(StorageError::Busy) => report.busy += 1,
            Err(e) => report.errors.push(e.to_string()),
        }
    }
    print_json(&report)?;
    Ok(ExitCode::SUCCESS)
}
