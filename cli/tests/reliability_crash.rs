//! Crashes: a writer process killed with SIGKILL at random moments loses no
//! acknowledged commit and leaves no half-done one, and every program still validates
//! and hashes as the acknowledged steps say it should.
//!
//! The harness is the one `lmstore soak crash` runs (shared source, see
//! `cli/src/soak/crash.rs`); here with few kills and small programs, so it fits
//! in CI. The child is the `lmstore` binary's hidden `soak crash-child` command.

#[allow(dead_code)]
#[path = "../src/soak/script.rs"]
mod script;

#[allow(dead_code)]
#[path = "../src/soak/target.rs"]
mod target;

#[allow(dead_code)]
#[path = "../src/soak/crash.rs"]
mod crash;

use std::path::PathBuf;

#[test]
fn killed_writers_lose_nothing_acknowledged_and_leave_nothing_half_done() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = crash::CrashConfig {
        exe: PathBuf::from(env!("CARGO_BIN_EXE_lmstore")),
        db: dir.path().join("crash.db"),
        kills: 12,
        seed: 7,
        max_run_ms: 120,
        program_nodes: 300,
        node_budget: 2_500,
    };
    let report = crash::run(&cfg, &mut |_| {});
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    assert!(report.failures.is_empty(), "failures:\n  {}", report.failures.join("\n  "));
    assert_eq!(report.kills, cfg.kills);
    assert!(report.steps_acknowledged > 0, "the children committed something");
    assert!(report.programs_checked > 0, "the checks loaded programs");
}

/// The same on PostgreSQL: the kill ends the child's connection mid-transaction, and
/// the server keeps every acknowledged commit and none of the half-done one. Runs in a
/// scratch schema of the test server (`LMLANG_TEST_PG_URL`); skipped with one line
/// without it, unless `LMLANG_PG_REQUIRED=1`.
#[cfg(feature = "postgres")]
#[test]
fn killed_postgres_writers_lose_nothing_acknowledged_and_leave_nothing_half_done() {
    let Some(scratch) = target::test_scratch() else { return };
    let cfg = crash::CrashConfig {
        exe: PathBuf::from(env!("CARGO_BIN_EXE_lmstore")),
        db: PathBuf::from(&scratch.url),
        kills: 10,
        seed: 11,
        max_run_ms: 150,
        program_nodes: 300,
        node_budget: 2_500,
    };
    let report = crash::run(&cfg, &mut |_| {});
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    assert!(report.failures.is_empty(), "failures:\n  {}", report.failures.join("\n  "));
    assert_eq!(report.kills, cfg.kills);
    assert!(report.steps_acknowledged > 0, "the children committed something");
    assert!(report.programs_checked > 0, "the checks loaded programs");
}

/// The checker itself: a step that was acknowledged but is missing from the database
/// is caught (otherwise the test above could pass vacuously).
#[test]
fn the_checker_notices_a_lost_step() {
    let mut reference = script::Programs::new();
    let create = script::Step::Create { name: "p".into(), nodes: 80, seed: 3 };
    create.replay(&mut reference).unwrap();
    let mut stored = reference.clone();
    assert!(crash::difference(&stored, &reference).is_none());
    let g = stored.get_mut("p").unwrap();
    let node = g.nodes().next().map(|(id, _)| id).unwrap();
    g.remove_compute_node(node).unwrap();
    assert!(crash::difference(&stored, &reference).is_some());
}
