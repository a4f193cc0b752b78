//! Concurrency: readers loading and querying while a writer commits edits and
//! whole-program saves always see one committed state and never an error; two
//! processes writing one file both get their writes in (or a typed `Busy`); a writer
//! that finds the file locked waits for the lock.
//!
//! The reader/writer harness is the one `lmstore soak concurrency` runs (shared source,
//! `cli/src/soak/concurrency.rs`), here for a few seconds.

#[allow(dead_code)]
mod cli_support;

#[allow(dead_code)]
#[path = "../src/soak/script.rs"]
mod script;

#[allow(dead_code)]
#[path = "../src/soak/target.rs"]
mod target;

#[allow(dead_code)]
#[path = "../src/soak/concurrency.rs"]
mod concurrency;

use lmlang_storage::model::{ComputeNodeOp, ComputeOp, ConstValue, FunctionId, NodeId};
use lmlang_storage::sqlite::{SqliteConfig, SqliteStore};
use lmlang_storage::store::GraphStore;
use lmlang_storage::synth::{SynthConfig, generate};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn readers_see_only_committed_states_and_no_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = concurrency::ConcurrencyConfig {
        db: dir.path().join("concurrency.db"),
        readers: 3,
        seconds: 4.0,
        solo_seconds: 1.5,
        program_nodes: 1_500,
        seed: 5,
    };
    let report = run_checked(&cfg);
    assert!(report.states_seen > 1, "readers saw the program change");
}

/// Runs the soak and checks what every run must show: no error reached a caller, no
/// torn load, and work was done. Rates are reported, not asserted: timing on a shared
/// CI machine is noise.
fn run_checked(cfg: &concurrency::ConcurrencyConfig) -> concurrency::ConcurrencyReport {
    let report = concurrency::run(cfg).unwrap();
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    assert!(report.errors.is_empty(), "errors reached callers:\n  {}", report.errors.join("\n  "));
    assert_eq!(report.torn_loads, 0);
    assert!(report.commits > 0 && report.loads_checked > 0 && report.queries > 0);
    report
}

/// The same on PostgreSQL (a scratch schema of the test server; skipped with one line
/// without it, unless `LMLANG_PG_REQUIRED=1`): half the readers on the writer's store,
/// half on stores of their own, as other instances.
#[cfg(feature = "postgres")]
#[test]
fn postgres_readers_see_only_committed_states_and_no_errors() {
    let Some(scratch) = target::test_scratch() else { return };
    let cfg = concurrency::ConcurrencyConfig {
        db: std::path::PathBuf::from(&scratch.url),
        readers: 2,
        seconds: 3.0,
        solo_seconds: 1.0,
        program_nodes: 800,
        seed: 9,
    };
    run_checked(&cfg);
}

#[derive(serde::Deserialize)]
struct WriterReport {
    inserted: Vec<NodeId>,
    busy: u64,
    errors: Vec<String>,
}

#[test]
fn two_processes_writing_one_file_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let store = SqliteStore::open(&db).unwrap();
    let program = store.insert_program("shared", &generate(&SynthConfig::new(200))).unwrap();
    let before = store.load_program(program).unwrap();
    drop(store);
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_lmstore"))
            .arg("--db")
            .arg(&db)
            .args(["soak", "writer", "--program", "shared", "--ops", "150"])
            .env_remove("LMLANG_DB")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children = [spawn(), spawn()];
    let reports: Vec<WriterReport> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect();
    let mut all = BTreeSet::new();
    for r in &reports {
        assert!(r.errors.is_empty(), "untyped errors: {:?}", r.errors);
        for id in &r.inserted {
            assert!(all.insert(*id), "node id {id} was handed out twice");
        }
    }
    println!("busy: {:?}", reports.iter().map(|r| r.busy).collect::<Vec<_>>());
    let store = SqliteStore::open(&db).unwrap();
    let after = store.load_program(program).unwrap();
    assert_eq!(after.node_count(), before.node_count() + all.len(), "every acknowledged insert is there");
    for id in &all {
        let node = after.node(*id).expect("an acknowledged node is stored");
        assert!(matches!(node.op, ComputeNodeOp::Core(ComputeOp::Const { value: ConstValue::I64(_) })));
        assert_eq!(node.owner, FunctionId(0));
    }
    assert!(after.validate().is_empty());
    assert!(store.integrity_check().unwrap().is_empty());
}

#[test]
fn a_writer_waits_for_a_lock_held_briefly_then_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wait.db");
    let config = SqliteConfig::default().with_busy_timeout(Duration::from_secs(10));
    let store = SqliteStore::open_with(&db, config).unwrap();
    let program = store.insert_program("p", &generate(&SynthConfig::new(100))).unwrap();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let path = db.clone();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(600));
        conn.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    let started = Instant::now();
    let node = store.insert_node(program, FunctionId(0), ComputeOp::Print.into()).unwrap();
    let waited = started.elapsed();
    holder.join().unwrap();
    assert!(waited >= Duration::from_millis(400), "the write waited for the lock ({waited:?})");
    assert!(store.load_program(program).unwrap().node(node).is_some());
}

/// `lmstore ARGS` on `db`, as a child process.
fn lmstore_on(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lmstore")).arg("--db").arg(db).args(args).output().expect("the binary runs")
}

#[test]
fn list_and_verify_pass_while_another_process_deletes_and_edits_programs() {
    // Both list the programs, then load each: one deleted in between used to fail the
    // whole command ("program #N does not exist"; a quarter of `list` runs against a
    // deleting writer), and `verify` loads each twice, which an edit in between makes
    // differ with nothing wrong.
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("churn.db");
    let made = lmstore_on(&db, &["generate", "--nodes", "500", "--name", "stays"]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    // Two versions of `stays` for the writer to save in turn.
    let a = dir.path().join("a.json");
    assert!(lmstore_on(&db, &["export", "stays", "-o", a.to_str().expect("UTF-8")]).status.success());
    let b = dir.path().join("b.json");
    std::fs::write(&b, cli_support::bump_an_integer_constant(&std::fs::read_to_string(&a).expect("export")))
        .expect("write");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (db, stop, a, b) = (db.clone(), stop.clone(), a.clone(), b.clone());
        std::thread::spawn(move || {
            let mut k = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let name = format!("churn {k}");
                let version = if k % 2 == 0 { &b } else { &a }.to_str().expect("UTF-8").to_string();
                // A busy answer is the only failure a writer may meet here.
                for args in [
                    vec!["generate", "--nodes", "500", "--name", &name],
                    // Alternating two files replaces what the other saved: --force.
                    vec!["save", "stays", &version, "--force"],
                    vec!["delete", &name],
                ] {
                    let out = lmstore_on(&db, &args);
                    let err = String::from_utf8_lossy(&out.stderr);
                    assert!(out.status.success() || err.contains("busy") || err.contains("locked"), "{args:?}: {err}");
                }
                k += 1;
            }
        })
    };
    for _ in 0..25 {
        for args in [["list"], ["verify"]] {
            let out = lmstore_on(&db, &args);
            assert!(
                out.status.success(),
                "{args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stdout).contains("stays"), "{args:?}");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().expect("the churning writer");
}

#[test]
fn demos_run_at_once_each_leave_one_sample_and_nothing_half_stored() {
    // Each demo replaces the programs of its names; it used to delete and then insert,
    // so a second process could delete in between ("program #N does not exist") and a
    // failed insert left the name with no program at all.
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("demos.db");
    let made = lmstore_on(&db, &["demo"]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || lmstore_on(&db, &["demo"]))
        })
        .collect();
    for run in runs {
        let out = run.join().expect("demo thread");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() || err.contains("busy") || err.contains("locked"), "{err}");
    }
    let list = lmstore_on(&db, &["list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    let mut names: Vec<&str> = listed.as_array().expect("array").iter().filter_map(|p| p["name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["generated-10k", "sample"], "{listed}");
}
