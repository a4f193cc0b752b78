//! The cost of history: each figure with recording on beside the same operation with
//! it off (`Store::set_history(false)`) on the same store and program, alternating
//! repetitions so both see the same machine; then the bytes a one-node edit's entry
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

/// `insert_node` commits per second with history on and off.
fn commit_rates(
    store: &SqliteStore,
    program: ProgramId,
    function: FunctionId,
    reps: usize,
) -> Result<(f64, f64), Failure> {
    let op = || -> ComputeNodeOp { ComputeOp::Const { value: ConstValue::I64(7) }.into() };
    store.insert_node(program, function, op())?;
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for rep in 0..reps * 2 {
        let recording = rep % 2 == 0;
        store.set_history(recording);
        let start = Instant::now();
        for _ in 0..COMMITS_PER_REP {
            store.insert_node(program, function, op())?;
        }
        let rate = COMMITS_PER_REP as f64 / start.elapsed().as_secs_f64();
        if recording { on.push(rate) } else { off.push(rate) }
    }
    store.set_history(true);
    Ok((median(on), median(off)))
}

/// Milliseconds per save after a one-node edit, with history on and off.
fn save_times(store: &SqliteStore, program: ProgramId, reps: usize, seed: u64) -> Result<(f64, f64), Failure> {
    let mut g = store.load_program(program)?;
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for rep in 0..reps * 2 {
        let recording = rep % 2 == 0;
        store.set_history(recording);
        let mut total = 0.0;
        for k in 0..EDITS_PER_REP {
            synth::one_node_edit(&mut g, seed.wrapping_add((rep * EDITS_PER_REP + k) as u64))
                .ok_or_else(|| Failure("the program has no constant to edit".into()))?;
            let (saved, t) = timed(|| store.save_program(program, &g));
            saved?;
            total += ms(t);
        }
        let per_save = total / EDITS_PER_REP as f64;
        if recording { on.push(per_save) } else { off.push(per_save) }
    }
    store.set_history(true);
    Ok((median(on), median(off)))
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
    function: FunctionId,
    reps: usize,
    seed: u64,
) -> Result<HistoryFigures, Failure> {
    let mut f = HistoryFigures::default();
    (f.save_after_edit_ms, f.save_after_edit_ms_off) = save_times(store, program, reps, seed)?;
    (f.node_commits_per_s, f.node_commits_per_s_off) = commit_rates(store, program, function, reps)?;

    // One-node edits with history on: the bytes they add are their entries (the node
    // rows are rewritten in place), and they put a checkout 1,000 commits back.
    let mut g = store.load_program(program)?;
    let before = used_bytes(path)?;
    for k in 0..EDITS_BEHIND {
        synth::one_node_edit(&mut g, seed.wrapping_mul(31).wrapping_add(k))
            .ok_or_else(|| Failure("the program has no constant to edit".into()))?;
        store.save_program(program, &g)?;
    }
    f.bytes_per_edit_entry = (used_bytes(path)? - before) as f64 / EDITS_BEHIND as f64;
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
    Ok(f)
}
