//! A PostgreSQL store dropped is gone: the threads its pool opened connections on end
//! with it, rather than 30 s later (a service that connects and drops stores gathered
//! three threads a store). One test in this binary, so the thread count is this
//! test's alone. Skipped without a server (see
//! `pg_support`).
#![cfg(all(feature = "postgres", target_os = "linux"))]

#[path = "pg_support/mod.rs"]
mod pg_support;

use lmlang_storage::store::GraphStore;
use pg_support::TestSchema;
use std::time::{Duration, Instant};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_dropped_store_leaves_no_thread_behind() {
    let Some(schema) = TestSchema::new() else { return };
    drop(schema.store());
    let before = threads();
    for _ in 0..30 {
        let store = schema.store();
        store.list_programs().unwrap();
        drop(store);
    }
    // A store that reads from replicas has a pool per replica (here the primary again).
    for _ in 0..5 {
        let url = schema.url.as_str();
        let store = lmlang_storage::postgres::PgStore::connect_replicated(url, &[url, url], schema.config()).unwrap();
        store.list_programs().unwrap();
        drop(store);
    }
    let start = Instant::now();
    while threads() > before + 1 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(threads() <= before + 1, "threads: {before} before, {} after 35 stores", threads());
}
