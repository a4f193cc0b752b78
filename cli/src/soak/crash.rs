//! The crash soak: a child process commits random steps and is SIGKILLed at random
//! moments; after each kill the parent reopens the database and checks that nothing
//! acknowledged was lost and nothing half-done is visible.
//!
//! The child prints `begin K <step as JSON>` before each store call and `ack K` once the
//! call returned, flushing both. The parent replays every acknowledged step on plain
//! graphs (its reference) and, after the kill, expects the store to hold exactly the
//! reference, or the reference plus the one step that was in flight (committed but not
//! yet acknowledged). Anything else (a lost acknowledged step, a part of a grouped edit,
//! a program half inserted) matches neither and is reported. Every reopen also runs
//! `PRAGMA integrity_check` and `foreign_key_check`, validates every program and
//! compares its content hash with the reference's. The database is a SQLite file or a
//! PostgreSQL schema (see `target`); on a server the kill ends the child's
//! connections mid-transaction, and the server must roll those back.
//!
//! Shared by `lmstore soak crash` and `tests/reliability_crash.rs` (included by path).

use super::script::{Committer, Mix, Programs, Scripter, Step};
use super::target::Opened;
use lmlang_storage::store::GraphStore;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the crash soak runs.
#[derive(Debug, Clone)]
pub struct CrashConfig {
    /// The `lmstore` executable, run as the child.
    pub exe: PathBuf,
    /// The database file (created on the first run), or a `postgres://` URL.
    pub db: PathBuf,
    /// How many times the child is killed.
    pub kills: usize,
    pub seed: u64,
    /// A child is killed at a random moment up to this long after it opened the store.
    pub max_run_ms: u64,
    /// The largest program a step creates.
    pub program_nodes: usize,
    /// The child deletes rather than adds once the programs hold this many nodes.
    pub node_budget: usize,
}

/// The step mix of the crash soak's child: programs created, renamed and deleted as
/// well as edited, and now and then one replaced whole.
pub fn mix(program_nodes: usize, node_budget: usize) -> Mix {
    Mix { program_steps: true, program_nodes, node_budget, replace_per_mille: 5 }
}

/// What the crash soak saw. A healthy store has no failures.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CrashReport {
    /// Children killed (each followed by a reopen and a full check).
    pub kills: usize,
    /// Of them, killed before the store was open (during recovery or migrations).
    pub killed_while_opening: usize,
    /// Steps the child acknowledged; every one must be in the database.
    pub steps_acknowledged: u64,
    /// Steps in flight at the kill that turned out committed / not committed.
    pub in_flight_committed: u64,
    pub in_flight_rolled_back: u64,
    /// Programs and nodes loaded and compared with the reference over all checks.
    pub programs_checked: u64,
    pub nodes_checked: u64,
    /// Programs and nodes in the database at the end.
    pub final_programs: usize,
    pub final_nodes: usize,
    pub seconds: f64,
    /// Everything that went wrong; empty when the store kept its promises.
    pub failures: Vec<String>,
}

/// A line the child printed, complete (ending in a newline).
enum ChildLine {
    Ready,
    Begin(u64, Box<Step>),
    Ack(u64),
    Error(String),
    Unreadable(String),
    Other,
}

fn parse_line(line: &str) -> ChildLine {
    let mut parts = line.splitn(3, ' ');
    let word = parts.next().unwrap_or("");
    let number = parts.next().and_then(|n| n.parse::<u64>().ok());
    let rest = parts.next();
    match (word, number, rest) {
        ("ready", _, _) => ChildLine::Ready,
        ("begin", Some(k), Some(json)) => match serde_json::from_str(json) {
            Ok(step) => ChildLine::Begin(k, Box::new(step)),
            Err(e) => ChildLine::Unreadable(format!("step {k} cannot be read back: {e}")),
        },
        ("ack", Some(k), None) => ChildLine::Ack(k),
        ("error", _, _) => ChildLine::Error(line.to_string()),
        _ => ChildLine::Other,
    }
}

/// The child side: opens the store, then commits random steps until it is killed.
/// Returns only on an error, which is also printed for the parent.
pub fn child(db: &Path, seed: u64, mix: Mix) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    let mut say = |line: String| -> Result<(), String> {
        writeln!(out, "{line}").and_then(|_| out.flush()).map_err(|e| format!("stdout: {e}"))
    };
    let result = (|| {
        let opened = Opened::open(db).map_err(|e| format!("open: {e}"))?;
        let store = opened.store();
        say("ready".into())?;
        let mut programs = load_all(store)?;
        let mut scripter = Scripter::new(seed, mix);
        let mut committer = Committer::new(store);
        for k in 0u64.. {
            let step = scripter.next_step(&mut programs);
            let json = serde_json::to_string(&step).map_err(|e| e.to_string())?;
            say(format!("begin {k} {json}"))?;
            committer.commit(&step).map_err(|e| format!("step {k} failed: {e}"))?;
            say(format!("ack {k}"))?;
        }
        Ok(())
    })();
    if let Err(e) = &result {
        let _ = say(format!("error {e}"));
    }
    result
}

/// Every program of a store, by name.
pub fn load_all(store: &dyn GraphStore) -> Result<Programs, String> {
    let mut programs = Programs::new();
    for p in store.list_programs().map_err(|e| format!("list_programs: {e}"))? {
        let g = store.load_program(p.id).map_err(|e| format!("load_program {:?}: {e}", p.name))?;
        programs.insert(p.name, g);
    }
    Ok(programs)
}

/// Why two sets of programs differ, or `None` when they are equal (content, ids, next
/// ids and content hashes).
pub fn difference(stored: &Programs, expected: &Programs) -> Option<String> {
    let names = |p: &Programs| p.keys().cloned().collect::<Vec<_>>();
    if names(stored) != names(expected) {
        return Some(format!("programs {:?}, expected {:?}", names(stored), names(expected)));
    }
    for (name, g) in stored {
        let e = &expected[name];
        if g != e {
            return Some(format!(
                "program {name:?} differs: {} nodes / {} edges / next {:?}, expected {} / {} / {:?}",
                g.node_count(),
                g.edge_count(),
                g.next_ids(),
                e.node_count(),
                e.edge_count(),
                e.next_ids()
            ));
        }
        if g.hashes().program() != e.hashes().program() {
            return Some(format!("program {name:?} is equal but hashes differently"));
        }
    }
    None
}

fn spawn_child(cfg: &CrashConfig, seed: u64) -> std::io::Result<Child> {
    Command::new(&cfg.exe)
        .arg("--db")
        .arg(&cfg.db)
        .args(["soak", "crash-child", "--seed", &seed.to_string()])
        .args(["--program-nodes", &cfg.program_nodes.to_string()])
        .args(["--node-budget", &cfg.node_budget.to_string()])
        .env_remove("LMLANG_DB")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// Complete lines of a pipe, sent as they arrive; a line cut by the kill is dropped.
fn line_reader(pipe: impl Read + Send + 'static) -> (mpsc::Receiver<String>, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) if buf.ends_with(b"\n") => {
                    let line = String::from_utf8_lossy(&buf[..buf.len() - 1]).into_owned();
                    if tx.send(line).is_err() {
                        break;
                    }
                }
                Ok(_) => break,
            }
        }
    });
    (rx, handle)
}

/// The parent side: runs `cfg.kills` child lives, checking the database after each.
pub fn run(cfg: &CrashConfig, progress: &mut dyn FnMut(&CrashReport)) -> CrashReport {
    let started = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut report = CrashReport::default();
    // What the database must hold: every acknowledged step replayed on plain graphs.
    let mut reference = Programs::new();
    for life in 0..cfg.kills {
        let child_seed = cfg.seed.wrapping_mul(6364136223846793005).wrapping_add(life as u64);
        let lines = match one_life(cfg, child_seed, &mut rng, &mut report) {
            Ok(lines) => lines,
            Err(e) => {
                report.failures.push(format!("life {life}: {e}"));
                continue;
            }
        };
        let mut acknowledged = Vec::new();
        let mut in_flight: Option<(u64, Step)> = None;
        for line in lines {
            match parse_line(&line) {
                ChildLine::Ready | ChildLine::Other => {}
                ChildLine::Unreadable(e) => report.failures.push(format!("life {life}: {e}")),
                ChildLine::Begin(k, step) => in_flight = Some((k, *step)),
                ChildLine::Ack(k) => match in_flight.take() {
                    Some((begun, step)) if begun == k => acknowledged.push(step),
                    _ => report.failures.push(format!("life {life}: ack {k} without its begin")),
                },
                ChildLine::Error(e) => report.failures.push(format!("life {life}: the child failed: {e}")),
            }
        }
        report.steps_acknowledged += acknowledged.len() as u64;
        for step in &acknowledged {
            if let Err(e) = step.replay(&mut reference) {
                report.failures.push(format!("life {life}: {e}"));
            }
        }
        if let Err(e) = check(cfg, &mut reference, in_flight.map(|(_, s)| s), &mut report) {
            report.failures.push(format!("after kill {life}: {e}"));
        }
        report.seconds = started.elapsed().as_secs_f64();
        progress(&report);
    }
    if let Ok(opened) = Opened::open(&cfg.db)
        && let Ok(all) = load_all(opened.store())
    {
        report.final_programs = all.len();
        report.final_nodes = all.values().map(|g| g.node_count()).sum();
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// Runs one child until it is killed; returns the lines it completed.
fn one_life(
    cfg: &CrashConfig,
    seed: u64,
    rng: &mut ChaCha8Rng,
    report: &mut CrashReport,
) -> Result<Vec<String>, String> {
    let mut child = spawn_child(cfg, seed).map_err(|e| format!("cannot start {}: {e}", cfg.exe.display()))?;
    let (lines, reader) = line_reader(child.stdout.take().ok_or("no stdout")?);
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut seen = Vec::new();
    // One life in ten is cut short while the store opens (recovery, migrations).
    if rng.random_ratio(1, 10) {
        std::thread::sleep(Duration::from_millis(rng.random_range(0..40)));
        seen.extend(lines.try_iter());
        if !seen.iter().any(|l| l == "ready") {
            report.killed_while_opening += 1;
        }
    } else {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !seen.iter().any(|l| l == "ready") {
            match lines.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => seen.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(1..=cfg.max_run_ms.max(1))));
    }
    let still_running = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    let status = child.wait().map_err(|e| format!("wait: {e}"))?;
    let _ = reader.join();
    seen.extend(lines.try_iter());
    let stderr = errors.join().unwrap_or_default();
    report.kills += 1;
    if !still_running {
        return Err(format!("the child exited by itself ({status}) before the kill: {}", stderr.trim()));
    }
    Ok(seen)
}

/// Reopens the database and compares it with the reference (plus the in-flight step,
/// if the store committed it).
fn check(
    cfg: &CrashConfig,
    reference: &mut Programs,
    in_flight: Option<Step>,
    report: &mut CrashReport,
) -> Result<(), String> {
    super::target::settle(&cfg.db)?;
    let opened = Opened::open(&cfg.db).map_err(|e| format!("reopen failed: {e}"))?;
    opened.storage_checks()?;
    let stored = load_all(opened.store())?;
    for (name, g) in &stored {
        let violations = g.validate();
        if !violations.is_empty() {
            return Err(format!("program {name:?} does not validate: {:?}", &violations[..violations.len().min(3)]));
        }
        report.programs_checked += 1;
        report.nodes_checked += g.node_count() as u64;
    }
    let Some(before) = difference(&stored, reference) else {
        report.in_flight_rolled_back += u64::from(in_flight.is_some());
        return Ok(());
    };
    let Some(step) = in_flight else {
        *reference = stored;
        return Err(format!("an acknowledged step is missing: {before}"));
    };
    let mut after = reference.clone();
    step.replay(&mut after)?;
    match difference(&stored, &after) {
        None => {
            report.in_flight_committed += 1;
            *reference = after;
            Ok(())
        }
        Some(after_diff) => {
            let kind = format!("{:?}", step).chars().take(60).collect::<String>();
            *reference = stored;
            Err(format!(
                "the database matches neither the acknowledged state ({before}) nor it plus the step in flight \
                 ({after_diff}); step in flight: {kind}..."
            ))
        }
    }
}
