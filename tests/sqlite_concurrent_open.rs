//! Several processes opening one new database file at the same moment (services
//! starting together): every one of them opens it, the migrations run exactly once,
//! and the file is whole. Each child is this test binary run again on the ignored
//! entry point below, released by a shared start time so the opens overlap.

use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::GraphStore;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DB: &str = "LMLANG_TEST_OPEN_DB";
const START_AT_MS: &str = "LMLANG_TEST_OPEN_START_MS";

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

/// The child: waits for the common start, opens the file and writes one program.
#[test]
#[ignore = "entry point of the child processes of processes_opening_a_new_file_together_all_succeed"]
fn child_opens_the_shared_file() {
    let (Ok(db), Ok(start)) = (std::env::var(DB), std::env::var(START_AT_MS)) else { return };
    let start: u128 = start.parse().expect("start time");
    while now_ms() < start {
        std::thread::sleep(Duration::from_micros(200));
    }
    let store = SqliteStore::open(&db).unwrap_or_else(|e| panic!("open failed: {e:?}"));
    let name = format!("p{}", std::process::id());
    store.create_program(&name).unwrap_or_else(|e| panic!("create failed: {e:?}"));
}

#[test]
fn processes_opening_a_new_file_together_all_succeed() {
    const ROUNDS: usize = 10;
    const PROCESSES: usize = 6;
    let exe = std::env::current_exe().expect("test binary");
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("new.db");
        let start = now_ms() + 300;
        let children: Vec<_> = (0..PROCESSES)
            .map(|_| {
                Command::new(&exe)
                    .args(["--ignored", "--exact", "child_opens_the_shared_file", "--test-threads=1"])
                    .env(DB, &db)
                    .env(START_AT_MS, start.to_string())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect::<Vec<_>>();
        let outputs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().expect("child output")).collect();
        for (i, out) in outputs.iter().enumerate() {
            assert!(
                out.status.success(),
                "round {round}, process {i} failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let store = SqliteStore::open(&db).expect("open after");
        assert_eq!(store.list_programs().expect("list").len(), PROCESSES, "round {round}");
        assert!(store.integrity_check().expect("integrity").is_empty());
        assert!(store.foreign_key_check().expect("foreign keys").is_empty());
    }
}
