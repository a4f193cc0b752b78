//! Several processes opening one new database file at the same moment (services
//! starting together, through the store or their own connection): every one of them
//! opens it, the migrations run exactly once,
//! and the file is whole. Each child is this test binary run again on the ignored
//! entry point below, released by a shared start time so the opens overlap.

use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::GraphStore;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DB: &str = "LMLANG_TEST_OPEN_DB";
const START_AT_MS: &str = "LMLANG_TEST_OPEN_START_MS";
/// Set for the children that open the file as a service does, on its own connection.
const HOST: &str = "LMLANG_TEST_OPEN_AS_HOST";

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
    let name = format!("p{}", std::process::id());
    if std::env::var_os(HOST).is_some() {
        // A service's own connection, made by `establish` alone (no busy timeout),
        // then our migrations, as README and examples/host_service do it.
        use diesel::Connection;
        let mut conn = diesel::SqliteConnection::establish(&db).unwrap_or_else(|e| panic!("establish: {e:?}"));
        lmlang_storage::sqlite::run_migrations(&mut conn).unwrap_or_else(|e| panic!("run_migrations failed: {e:?}"));
        // Its own writes then wait for the lock as the README asks (the customizer's
        // busy timeout); `run_migrations` left the connection's setting as it was.
        lmlang_storage::sqlite::SqliteCustomizer::default().apply(&mut conn).expect("settings");
        let store = lmlang_storage::sqlite::ConnectionStore::on_connection(&mut conn);
        store.create_program(&name).unwrap_or_else(|e| panic!("create failed: {e:?}"));
        return;
    }
    let store = SqliteStore::open(&db).unwrap_or_else(|e| panic!("open failed: {e:?}"));
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
        // Half the processes open it as the store does, half as a service with its own
        // connection and `run_migrations` (which used to fail at once with `Busy`: a
        // connection from `establish` has no busy timeout).
        let children: Vec<_> = (0..PROCESSES)
            .map(|i| {
                let mut child = Command::new(&exe);
                child
                    .args(["--ignored", "--exact", "child_opens_the_shared_file", "--test-threads=1"])
                    .env(DB, &db)
                    .env(START_AT_MS, start.to_string())
                    .env_remove(HOST)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                if i % 2 == 1 {
                    child.env(HOST, "1");
                }
                child.spawn().expect("spawn")
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
