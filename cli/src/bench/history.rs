//! The cost of history: each figure with recording on beside the same operation on a
//! second store on the same file with recording off (`Store::set_history(false)`),
//! alternating repetitions so both see the same machine; then the bytes a one-node edit's entry
//! takes and a checkout 1,000 commits back beside a plain load.

use super::measure::{EDITS_PER_REP, median, ms, raw_err, timed};
use super::raw;
use crate::Failure;
use lmlang_storage::model::{ComputeNodeOp, ComputeOp, ConstValue, FunctionId};
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{GraphStore, ProgramHistory, ProgramId};
use lmlang_storage::synth;
use std::path::Path;
use std::time::Instant;

/// Commits per repetition of the single-mutation figure, each way.
const COMMITS_PER_REP: usize = 500;
/// One-node edits recorded before measuring their bytes and checking out behind them.
pub const EDITS_BEHIND: u64 = 1000;

/// The history figures of one size.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct HistoryFigures {
    pub node_commits_per_s: f64,
    pub node_commits_per_s_off: f64,
    pub save_after_edit_ms: f64,
    pub save_after_edit_ms_off: f64,
    /// Database bytes per one-node edit's history entry (pages in use, checkpointed).
    pub bytes_per_edit_entry: f64,
    pub load_behind_ms: f64,
    pub load_ms: f64,
}

/// `insert_node` commits per second with history on and off, spread over the
/// program's functions (as agents edit; one function grown by thousands of nodes would
/// measure its rehash instead). Each store's first commit of a repetition, which
/// reloads its write cache after the other store wrote, is not timed.
fn commit_rates(
    on: &SqliteStore,
    off: &SqliteStore,
    program: ProgramId,
    functions: &[FunctionId],
    reps: usize,
) -> Result<(f64, f64), Failure> {
    let op = || -> ComputeNodeOp { ComputeOp::Const { value: ConstValue::I64(7) }.into() };
    let (mut on_rates, mut off_rates) = (Vec::new(), Vec::new());
    for rep in 0..reps * 2 {
        let (store, rates) = if rep % 2 == 0 { (on, &mut on_rates) } else { (off, &mut off_rates) };
        store.insert_node(program, functions[0], op())?;
        let start = Instant::now();
        for k in 0..COMMITS_PER_REP {
            store.insert_node(program, functions[(rep * COMMITS_PER_REP + k) % functions.len()], op())?;
        }
        rates.push(COMMITS_PER_REP as f64 / start.elapsed().as_secs_f64());
    }
    Ok((median(on_rates), median(off_rates)))
}

/// Milliseconds per save after a one-node edit, with history on and off; each store's
/// first save of a repetition (a full comparison, the other store having written) is
/// not timed.
fn save_times(
    on: &SqliteStore,
    off: &SqliteStore,
    program: ProgramId,
    reps: usize,
    seed: u64,
) -> Result<(f64, f64), Failure> {
    let mut g = on.load_program(program)?;
    let (mut on_times, mut off_times) = (Vec::new(), Vec::new());
    let mut k = 0;
    for rep in 0..reps * 2 {
        let (store, times) = if rep % 2 == 0 { (on, &mut on_times) } else { (off, &mut off_times) };
        let mut total = 0.0;
        for i in 0..=EDITS_PER_REP {
            k += 1;
            synth::one_node_edit(&mut g, seed.wrapping_add(k))
                .ok_or_else(|| Failure::new("the program has no constant to edit"))?;
            let (saved, t) = timed(|| store.save_program(program, &g));
            saved?;
            if i > 0 {
                total += ms(t);
            }
        }
        times.push(total / EDITS_PER_REP as f64);
    }
    Ok((median(on_times), median(off_times)))
}

/// Database bytes in use (pages not on the free list), after a checkpoint.
fn used_bytes(path: &Path) -> Result<i64, Failure> {
    let conn = raw::open(path).map_err(raw_err)?;
    raw::checkpoint(&conn).map_err(raw_err)?;
    let pragma = |name: &str| conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0)).map_err(raw_err);
    Ok((pragma("page_count")? - pragma("freelist_count")?) * pragma("page_size")?)
}

/// Measures every history figure on `program` (stored in the file at `path`).
pub fn measure(
    store: &SqliteStore,
    path: &Path,
    program: ProgramId,
    functions: &[FunctionId],
    reps: usize,
    seed: u64,
) -> Result<HistoryFigures, Failure> {
    let mut f = HistoryFigures::default();
    // History is opt-in: on for `store` while these figures are taken, off again after,
    // so the figures measured later are the defaults'.
    store.set_history(true);
    // The same file through a second store that records nothing: the operation as it
    // costs without history (no history rows, and no hashes kept for the root).
    let off = SqliteStore::open(path).map_err(|e| Failure::new(format!("cannot open {}: {e}", path.display())))?;
    off.set_history(false);
    (f.save_after_edit_ms, f.save_after_edit_ms_off) = save_times(store, &off, program, reps, seed)?;
    (f.node_commits_per_s, f.node_commits_per_s_off) = commit_rates(store, &off, program, functions, reps)?;
    drop(off);

    // One-node edits with history on: the bytes they add are their entries (the node
    // rows are rewritten in place), and they put a checkout 1,000 commits back (one
    // more edit records the revision checked out, the figures above having left
    // commits without history).
    let mut g = store.load_program(program)?;
    let before = used_bytes(path)?;
    for k in 0..=EDITS_BEHIND {
        synth::one_node_edit(&mut g, seed.wrapping_mul(31).wrapping_add(k))
            .ok_or_else(|| Failure::new("the program has no constant to edit"))?;
        store.save_program(program, &g)?;
    }
    f.bytes_per_edit_entry = (used_bytes(path)? - before) as f64 / (EDITS_BEHIND + 1) as f64;
    let now = store.log(program, Default::default())?.first().map_or(0, |e| e.revision);
    let target = now.saturating_sub(EDITS_BEHIND);
    let (mut behind, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let (g, t) = timed(|| store.load_at(program, target));
        g?;
        behind.push(ms(t));
        let (g, t) = timed(|| store.load_program(program));
        g?;
        plain.push(ms(t));
    }
    f.load_behind_ms = median(behind);
    f.load_ms = median(plain);
    store.set_history(false);
    Ok(f)
}
