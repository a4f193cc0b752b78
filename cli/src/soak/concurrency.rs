//! The concurrency soak: one writer commits random edits and whole-program saves while
//! reader threads load the program and run queries.
//!
//! Before each commit the writer records the content hash of the state it is about to
//! commit; every load a reader makes must hash to one of those states (a load that
//! mixed two commits would hash to neither). Every error any caller sees is collected:
//! none should reach a caller. The writer first runs alone, then with the readers, so
//! the two commit rates can be compared. Half the readers share the writer's store
//! (its reader pool); the others open their own store on the file, as another process
//! would.
//!
//! Shared by `lmstore soak concurrency` and `tests/reliability_concurrency.rs`.

use super::script::{Committer, Mix, Programs, Scripter, Step};
use super::target::Opened;
use lmlang_storage::model::{FunctionId, NodeId};
use lmlang_storage::store::{GraphStore, ProgramId, StorageError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the concurrency soak runs.
#[derive(Debug, Clone)]
pub struct ConcurrencyConfig {
    /// A SQLite file or a `postgres://` URL (see `target`).
    pub db: PathBuf,
    pub readers: usize,
    /// How long the writer runs with the readers.
    pub seconds: f64,
    /// How long the writer runs alone first, for its solo commit rate.
    pub solo_seconds: f64,
    /// Size of the program (and of whole-program replacements).
    pub program_nodes: usize,
    pub seed: u64,
}

/// What the concurrency soak saw.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ConcurrencyReport {
    pub readers: usize,
    pub program_nodes: usize,
    /// The writer alone.
    pub solo_commits: u64,
    pub solo_seconds: f64,
    pub solo_commits_per_second: f64,
    /// The writer with the readers.
    pub commits: u64,
    pub seconds: f64,
    pub commits_per_second: f64,
    /// `commits_per_second / solo_commits_per_second`.
    pub rate_ratio: f64,
    /// Commits that rewrote the program (save of a copy, replacement by another one).
    pub whole_program_saves: u64,
    /// Loads whose hash was checked against the writer's log.
    pub loads_checked: u64,
    /// Distinct committed states the readers saw.
    pub states_seen: usize,
    /// Queries run by the readers (each checked for consistency).
    pub queries: u64,
    /// Loads that matched no committed state.
    pub torn_loads: u64,
    /// Every error a caller saw, and every inconsistency; empty when all went well.
    pub errors: Vec<String>,
}

const PROGRAM: &str = "soak";

/// The hashes of every state the writer committed (or is about to commit).
type CommitLog = Mutex<HashSet<[u8; 32]>>;

struct WriterOutcome {
    commits: u64,
    whole: u64,
    seconds: f64,
    errors: Vec<String>,
}

fn write_for(
    store: &dyn GraphStore,
    programs: &mut Programs,
    scripter: &mut Scripter,
    log: &CommitLog,
    seconds: f64,
) -> WriterOutcome {
    let mut committer = Committer::new(store);
    let mut out = WriterOutcome { commits: 0, whole: 0, seconds: 0.0, errors: Vec::new() };
    let started = Instant::now();
    let budget = Duration::from_secs_f64(seconds);
    while started.elapsed() < budget {
        let step = scripter.next_step(programs);
        let hash = programs[PROGRAM].hashes().program().0;
        log.lock().unwrap_or_else(|e| e.into_inner()).insert(hash);
        match committer.commit(&step) {
            Ok(()) => {
                out.commits += 1;
                out.whole += u64::from(matches!(step, Step::SaveCopy { .. } | Step::Replace { .. }));
            }
            Err(e) => {
                out.errors.push(format!("writer: {e}"));
                // Carry on from what the store holds.
                match store.find_program(PROGRAM).and_then(|id| store.load_program(id)) {
                    Ok(g) => {
                        programs.insert(PROGRAM.to_string(), g);
                    }
                    Err(e) => {
                        out.errors.push(format!("writer reload: {e}"));
                        break;
                    }
                }
            }
        }
    }
    out.seconds = started.elapsed().as_secs_f64();
    out
}

#[derive(Default)]
struct ReaderOutcome {
    loads: u64,
    queries: u64,
    torn: u64,
    seen: HashSet<[u8; 32]>,
    errors: Vec<String>,
}

fn read_until(
    store: &dyn GraphStore,
    program: ProgramId,
    log: &CommitLog,
    stop: &AtomicBool,
    seed: u64,
) -> ReaderOutcome {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = ReaderOutcome::default();
    let fail = |out: &mut ReaderOutcome, what: String| {
        if out.errors.len() < 20 {
            out.errors.push(what);
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let g = match store.load_program(program) {
            Ok(g) => g,
            Err(e) => {
                fail(&mut out, format!("load_program: {e}"));
                continue;
            }
        };
        let hash = g.hashes().program().0;
        out.loads += 1;
        if !log.lock().unwrap_or_else(|e| e.into_inner()).contains(&hash) {
            out.torn += 1;
            fail(&mut out, format!("a load ({} nodes) matches no committed state", g.node_count()));
        }
        out.seen.insert(hash);
        // Queries, each its own snapshot: check what each answer promises.
        let functions: Vec<FunctionId> = g.functions().map(|f| f.id).collect();
        let nodes = g.next_ids().node;
        for _ in 0..8 {
            out.queries += 1;
            let result = match rng.random_range(0..5u32) {
                0 if !functions.is_empty() => {
                    let f = functions[rng.random_range(0..functions.len())];
                    store.find_nodes_by_owner(program, f).map(|found| {
                        found.iter().all(|(_, n)| n.owner == f).then_some(()).ok_or("a node of another owner")
                    })
                }
                1 if nodes > 0 => {
                    let n = NodeId(rng.random_range(0..nodes));
                    store.find_edges_from(program, n).map(|found| {
                        found.iter().all(|e| e.source == n).then_some(()).ok_or("an edge from another node")
                    })
                }
                2 if nodes > 0 => {
                    let n = NodeId(rng.random_range(0..nodes));
                    store
                        .find_edges_to(program, n)
                        .map(|found| found.iter().all(|e| e.target == n).then_some(()).ok_or("an edge to another node"))
                }
                3 if nodes > 0 => match store.get_node(program, NodeId(rng.random_range(0..nodes))) {
                    Ok(_) | Err(StorageError::NotFound { .. }) => Ok(Ok(())),
                    Err(e) => Err(e),
                },
                _ => store.list_programs().map(|l| (l.len() == 1).then_some(()).ok_or("a second program")),
            };
            match result {
                Ok(Ok(())) => {}
                Ok(Err(what)) => fail(&mut out, format!("inconsistent query answer: {what}")),
                Err(e) => fail(&mut out, format!("query: {e}")),
            }
        }
    }
    out
}

/// Runs the soak: the writer alone, then with the readers.
pub fn run(cfg: &ConcurrencyConfig) -> Result<ConcurrencyReport, String> {
    let opened = Arc::new(Opened::open(&cfg.db).map_err(|e| format!("open: {e}"))?);
    let store = opened.store();
    let mix = Mix {
        program_steps: false,
        program_nodes: cfg.program_nodes,
        node_budget: cfg.program_nodes * 2,
        replace_per_mille: 5,
    };
    let mut scripter = Scripter::new(cfg.seed, mix);
    let mut programs = Programs::new();
    let create = Step::Create { name: PROGRAM.into(), nodes: cfg.program_nodes, seed: cfg.seed };
    create.replay(&mut programs)?;
    Committer::new(store).commit(&create).map_err(|e| format!("creating the program: {e}"))?;
    let program = store.find_program(PROGRAM).map_err(|e| e.to_string())?;
    let log: Arc<CommitLog> = Arc::new(Mutex::new(HashSet::new()));
    log.lock().unwrap_or_else(|e| e.into_inner()).insert(programs[PROGRAM].hashes().program().0);

    let solo = write_for(store, &mut programs, &mut scripter, &log, cfg.solo_seconds);

    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for r in 0..cfg.readers {
        let own_store =
            if r % 2 == 1 { Some(Opened::open(&cfg.db).map_err(|e| format!("reader {r} open: {e}"))?) } else { None };
        let (shared, log, stop) = (Arc::clone(&opened), Arc::clone(&log), Arc::clone(&stop));
        let seed = cfg.seed ^ (r as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        handles.push(std::thread::spawn(move || {
            let store = own_store.as_ref().unwrap_or(&shared);
            read_until(store.store(), program, &log, &stop, seed)
        }));
    }
    let with_readers = write_for(store, &mut programs, &mut scripter, &log, cfg.seconds);
    stop.store(true, Ordering::Relaxed);

    let rate = |commits: u64, secs: f64| if secs > 0.0 { commits as f64 / secs } else { 0.0 };
    let mut report = ConcurrencyReport {
        readers: cfg.readers,
        program_nodes: cfg.program_nodes,
        solo_commits: solo.commits,
        solo_seconds: solo.seconds,
        solo_commits_per_second: rate(solo.commits, solo.seconds),
        commits: with_readers.commits,
        seconds: with_readers.seconds,
        commits_per_second: rate(with_readers.commits, with_readers.seconds),
        whole_program_saves: solo.whole + with_readers.whole,
        ..ConcurrencyReport::default()
    };
    report.rate_ratio = if report.solo_commits_per_second > 0.0 {
        report.commits_per_second / report.solo_commits_per_second
    } else {
        0.0
    };
    report.errors.extend(solo.errors);
    report.errors.extend(with_readers.errors);
    let mut seen = HashSet::new();
    for (r, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(out) => {
                report.loads_checked += out.loads;
                report.queries += out.queries;
                report.torn_loads += out.torn;
                seen.extend(out.seen);
                report.errors.extend(out.errors.into_iter().map(|e| format!("reader {r}: {e}")));
            }
            Err(_) => report.errors.push(format!("reader {r} panicked")),
        }
    }
    report.states_seen = seen.len();
    // The final state must be the writer's last one.
    match store.load_program(program) {
        Ok(g) if g == programs[PROGRAM] => {}
        Ok(_) => report.errors.push("the stored program differs from the writer's last state".into()),
        Err(e) => report.errors.push(format!("final load: {e}")),
    }
    Ok(report)
}
