//! A quick measurement of the SQLite store on the synthetic workload (not an assertion:
//! timings on a shared machine are noise). Run it optimised:
//!
//! ```sh
//! cargo test --release --test sqlite_figures -- --ignored --nocapture
//! ```
//!
//! `LMLANG_FIGURE_NODES` changes the program size (default 100,000).

use lmlang_storage::model::{ComputeOp, ConstValue};
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::GraphStore;
use lmlang_storage::synth::{SynthConfig, generate, one_node_edit};
use std::time::{Duration, Instant};

/// The fastest of `runs` runs, and the last result.
fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let value = f();
        best = best.min(start.elapsed());
        last = Some(value);
    }
    (best, last.expect("at least one run"))
}

#[test]
#[ignore = "a measurement; run with --release --ignored --nocapture"]
fn sqlite_figures() {
    let nodes: usize = std::env::var("LMLANG_FIGURE_NODES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    for gaps in [false, true] {
        let g = generate(&SynthConfig { nodes, seed: 7, gaps });
        println!(
            "== {nodes} nodes{}: {} live nodes, {} edges",
            if gaps { ", 5% deleted" } else { "" },
            g.node_count(),
            g.edge_count()
        );

        // Size: one program alone in a fresh file, WAL checkpointed into it.
        let sized = SqliteStore::temporary().expect("store");
        sized.insert_program("p", &g).expect("save");
        sized.checkpoint().expect("checkpoint");
        let bytes = sized.database_bytes().expect("size") as f64;
        sized.vacuum().expect("vacuum");
        let packed = sized.database_bytes().expect("size") as f64;
        println!(
            "database size        {:>9.1} bytes/node (after VACUUM {:.1})",
            bytes / g.node_count() as f64,
            packed / g.node_count() as f64
        );
        drop(sized);

        let store = SqliteStore::temporary().expect("store");
        let mut n = 0;
        let (save, id) = best_of(3, || {
            n += 1;
            store.insert_program(&format!("p{n}"), &g).expect("save")
        });
        println!("bulk save            {:>9.1} ms", save.as_secs_f64() * 1e3);
        let (load, mut loaded) = best_of(5, || store.load_program(id).expect("load"));
        println!("load                 {:>9.1} ms", load.as_secs_f64() * 1e3);
        assert!(loaded == g, "round trip");

        let (edit, report) = best_of(20, || {
            one_node_edit(&mut loaded, 3).expect("an edit");
            store.save_program(id, &loaded).expect("save edit")
        });
        println!("save one-node edit   {:>9.3} ms ({} row)", edit.as_secs_f64() * 1e3, report.rows_written);

        let f = loaded.functions().nth(3).map(|f| f.id).expect("a function");
        let count = 2_000;
        let start = Instant::now();
        for i in 0..count {
            store.insert_node(id, f, ComputeOp::Const { value: ConstValue::I64(i) }.into()).expect("insert node");
        }
        println!("insert_node commits  {:>9.0} /s", count as f64 / start.elapsed().as_secs_f64());

        let functions: Vec<_> = loaded.functions().map(|f| f.id).collect();
        let queries = 5_000;
        let mut found = 0;
        let start = Instant::now();
        for i in 0..queries {
            found += store.find_nodes_by_owner(id, functions[i % functions.len()]).expect("query").len();
        }
        let per_query = start.elapsed() / queries as u32;
        println!(
            "find_nodes_by_owner  {:>9.1} us ({:.0} nodes on average)",
            per_query.as_secs_f64() * 1e6,
            found as f64 / queries as f64
        );
    }
}
