//! History survives a writer killed at any moment: a child process (this test binary
//! run again) edits, undoes and redoes a program without pause and is SIGKILLed at a
//! random time, again and again. After each kill the program and its history must
//! agree exactly (one entry per revision, the newest recording the program's root, and
//! every revision checking out to the root recorded for it); at the end, undoing
//! everything gives the first state back.

#[path = "reliability_support/mod.rs"]
mod support;

use lmlang_storage::graph::{ProgramDocument, ProgramGraph};
use lmlang_storage::model::{ComputeNodeOp, ComputeOp, ConstValue, FunctionId, NodeId};
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{GraphStore, LogPage, ProgramHistory, ProgramId, StorageError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Set (to the database path) in the child.
const CHILD_DB: &str = "LMLANG_HISTORY_CRASH_DB";
/// Set (to a seed) in the child.
const CHILD_SEED: &str = "LMLANG_HISTORY_CRASH_SEED";
const KILLS: u64 = 8;

fn content(g: &ProgramGraph) -> ProgramDocument {
    let mut doc = g.to_document();
    doc.next_ids = Default::default();
    doc
}

/// One random write: an edit, an edit group, an undo or a redo.
fn random_write(store: &SqliteStore, p: ProgramId, rng: &mut ChaCha8Rng) -> Result<(), StorageError> {
    let g = store.load_program(p)?;
    let functions: Vec<FunctionId> = g.functions().map(|f| f.id).collect();
    let function = functions[rng.random_range(0..functions.len())];
    let nodes: Vec<NodeId> = g.function_nodes(function).collect();
    let pick = |rng: &mut ChaCha8Rng| nodes.get(rng.random_range(0..nodes.len().max(1))).copied();
    let result = match rng.random_range(0..20) {
        0..=6 => store.insert_node(p, function, ComputeOp::Print.into()).map(drop),
        7..=9 => match pick(rng) {
            Some(n) => {
                let op: ComputeNodeOp = ComputeOp::Const { value: ConstValue::I64(rng.random()) }.into();
                // A node with data edges may refuse a constant; that is fine.
                store.update_node(p, n, op).map(drop)
            }
            None => Ok(()),
        },
        10..=11 => match pick(rng) {
            Some(n) => store.delete_node(p, n),
            None => Ok(()),
        },
        12..=13 => store
            .edit(p, &mut |g| {
                let a = g.add_core_op(function, ComputeOp::Print)?;
                let b = g.add_core_op(function, ComputeOp::ReadLine)?;
                g.add_control_edge(a, b, None).map(drop)
            })
            .map(drop),
        14..=17 => store.undo(p, None).map(drop),
        _ => store.redo(p, None).map(drop),
    };
    match result {
        Err(StorageError::NothingTo { .. } | StorageError::Rejected { .. }) => Ok(()),
        other => other,
    }
}

/// The child: writes until it is killed.
#[test]
#[ignore = "the child of history_agrees_with_the_program_after_every_kill"]
fn history_crash_child() {
    let (Some(db), Some(seed)) = (std::env::var_os(CHILD_DB), std::env::var(CHILD_SEED).ok()) else { return };
    let store = SqliteStore::open(PathBuf::from(db)).unwrap();
    store.set_history(true);
    let p = store.find_program("p").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed.parse().unwrap());
    loop {
        random_write(&store, p, &mut rng).unwrap();
    }
}

/// Checks that the program and its history agree; returns the revision.
fn check_agreement(db: &Path) -> u64 {
    let store = SqliteStore::open(db).unwrap();
    let p = store.find_program("p").unwrap();
    let current = store.load_program(p).unwrap();
    let revision = store.list_programs().unwrap()[0].revision;
    let log = store.log(p, LogPage { before: None, limit: u64::MAX }).unwrap();
    let revisions: Vec<u64> = log.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, (1..=revision).rev().collect::<Vec<_>>(), "one entry per revision, none lost or extra");
    assert_eq!(log[0].root, current.hashes().program(), "the newest entry records the program's root");
    // Every revision steps back to the root recorded for it (load_at checks it).
    for entry in log.iter().step_by(7).chain(log.last()) {
        let at = store.load_at(p, entry.revision).unwrap();
        assert_eq!(at.hashes().program(), entry.root, "revision {}", entry.revision);
    }
    revision
}

#[test]
fn history_agrees_with_the_program_after_every_kill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let (first, _) = support::sample_program();
    {
        let store = SqliteStore::open(&db).unwrap();
        store.set_history(true);
        store.insert_program("p", &first).unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    let mut last = 1;
    for kill in 0..KILLS {
        let mut child = std::process::Command::new(&exe)
            .args(["--exact", "history_crash_child", "--ignored", "--nocapture", "--test-threads", "1"])
            .env(CHILD_DB, &db)
            .env(CHILD_SEED, kill.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(100..600)));
        child.kill().unwrap();
        child.wait().unwrap();
        let revision = check_agreement(&db);
        assert!(revision >= last, "revision {revision} went back from {last}");
        last = revision;
    }
    assert!(last > 1, "the children committed nothing");
    eprintln!("{KILLS} kills, {last} revisions");

    let store = SqliteStore::open(&db).unwrap();
    store.set_history(true);
    let p = store.find_program("p").unwrap();
    loop {
        match store.undo(p, None) {
            Ok(_) => {}
            Err(StorageError::NothingTo { .. }) => break,
            Err(e) => panic!("undo failed: {e}"),
        }
    }
    let now = store.load_program(p).unwrap();
    assert_eq!(content(&now), content(&first), "undoing everything gives the first state back");
    assert_eq!(store.load_at(p, 1).unwrap().to_document(), first.to_document(), "revision 1 is the first state");
}
