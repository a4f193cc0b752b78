//! A store dropped is gone: its threads end, its file is closed when the drop returns
//! (another process can write to it at once, and a file deleted stays deleted), and a
//! temporary store's directory is removed. A service or test suite that opens and
//! drops stores by the thousand relies on it. One test in this binary, so the counts
//! of threads and files are this test's alone.
#![cfg(target_os = "linux")]

use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::GraphStore;
use lmlang_storage::synth::{SynthConfig, generate};
use std::path::Path;
use std::time::{Duration, Instant};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

/// The files this process holds open under `dir`.
fn open_files_under(dir: &Path) -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter(|target| target.starts_with(dir))
        .map(|target| target.display().to_string())
        .collect()
}

/// Waits up to a few seconds for `done` (a thread told to stop ends a moment later).
fn eventually(done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

#[test]
fn a_dropped_store_leaves_no_thread_no_open_file_and_no_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("life.db");
    let g = generate(&SynthConfig::new(300));
    let p = SqliteStore::open(&path).unwrap().insert_program("p", &g).unwrap();
    let before = threads();

    for round in 0..60 {
        let store = SqliteStore::open(&path).unwrap();
        // A read takes a reader from the pool, which then opens more in the background.
        assert_eq!(store.load_program(p).unwrap(), g);
        drop(store);
        let open = open_files_under(dir.path());
        assert!(open.is_empty(), "round {round}: still open after the drop returned: {open:?}");
    }
    // Three workers a store used to stay behind for 30 s: 180 threads by now.
    assert!(eventually(|| threads() <= before + 1), "threads: {} before, {} after", before, threads());

    // With the file closed, another writer gets the lock at once (no busy wait).
    let store = SqliteStore::open(&path).unwrap();
    store.load_program(p).unwrap();
    drop(store);
    let other = rusqlite::Connection::open(&path).unwrap();
    other.busy_timeout(Duration::ZERO).unwrap();
    other.execute_batch("BEGIN IMMEDIATE; UPDATE lmlang_programs SET updated_at = updated_at; COMMIT;").unwrap();
    drop(other);

    // A temporary store's directory goes with it, whatever its readers were doing.
    for _ in 0..20 {
        let store = SqliteStore::temporary().unwrap();
        let temp_dir = store.path().parent().unwrap().to_path_buf();
        let q = store.insert_program("t", &g).unwrap();
        store.load_program(q).unwrap();
        drop(store);
        assert!(!temp_dir.exists(), "{} left behind", temp_dir.display());
    }
}
