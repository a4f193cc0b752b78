//! Peak memory of a load, measured in a child process.
//!
//! The benchmark process itself holds the generated program, the copied rows of the
//! floor and a loaded graph, so its own high-water mark says nothing about a load. A
//! fresh `lmstore bench --load-child` process opens the store, notes its high-water
//! mark (VmHWM), loads the program and notes it again; the difference is what the load
//! needed at its peak, the absolute value what a process that only loads needs.

use crate::Failure;
use crate::output::outln;
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{GraphStore, ProgramId};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

/// What the child reports, as one JSON line on stdout.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct LoadPeak {
    /// VmHWM after opening the store, before the load.
    pub before_kib: u64,
    /// VmHWM after the load, with the graph still alive.
    pub after_kib: u64,
    pub load_ms: f64,
    pub nodes: usize,
}

/// The process's peak resident set size so far, from /proc/self/status.
fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

/// The child's side: load once and report.
pub fn run_child(db: &Path, program: i64) -> crate::CmdResult {
    let store = SqliteStore::open(db).map_err(|e| Failure::new(format!("cannot open {}: {e}", db.display())))?;
    let before_kib = vm_hwm_kib().ok_or_else(|| Failure::new("no VmHWM in /proc/self/status"))?;
    let start = Instant::now();
    let graph = store.load_program(ProgramId(program))?;
    let load_ms = start.elapsed().as_secs_f64() * 1e3;
    let after_kib = vm_hwm_kib().ok_or_else(|| Failure::new("no VmHWM in /proc/self/status"))?;
    let peak = LoadPeak { before_kib, after_kib, load_ms, nodes: graph.node_count() };
    outln!("{}", serde_json::to_string(&peak)?)?;
    Ok(ExitCode::SUCCESS)
}

/// The parent's side: runs this executable as the child and reads its report. `None`
/// when the platform has no /proc (the child then fails and says why).
pub fn measure(db: &Path, program: ProgramId) -> Result<Option<LoadPeak>, Failure> {
    if vm_hwm_kib().is_none() {
        return Ok(None);
    }
    let exe = std::env::current_exe()?;
    let output = Command::new(exe)
        .arg("bench")
        .arg("--load-child")
        .arg(db)
        .arg("--load-child-program")
        .arg(program.0.to_string())
        .stdin(Stdio::null())
        .output()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(Failure::new(format!("the load child failed: {}", stderr.trim())));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let peak: LoadPeak =
        serde_json::from_str(line).map_err(|e| Failure::new(format!("unreadable report from the load child: {e}")))?;
    Ok(Some(peak))
}
