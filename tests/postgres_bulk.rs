//! Measures the bulk save of a new program on PostgreSQL (run by hand, in release):
//! `cargo test --release --features postgres --test postgres_bulk -- --ignored --nocapture`
//! prints the time of `insert_program` (nodes and edges by binary COPY) and of a load
//! at 10k and 100k nodes. Prints only: no assertion on time.
#![cfg(feature = "postgres")]

#[path = "pg_support/mod.rs"]
mod pg_support;

use lmlang_storage::store::GraphStore;
use lmlang_storage::synth::{SynthConfig, generate};
use std::time::Instant;

#[test]
#[ignore = "a measurement, run by hand"]
fn bulk_save_and_load_times() {
    let Some(schema) = pg_support::TestSchema::new() else { return };
    let store = schema.store();
    for nodes in [10_000, 100_000] {
        let g = generate(&SynthConfig { nodes, seed: 1, gaps: false });
        for round in 0..3 {
            let start = Instant::now();
            let p = store.insert_program(&format!("bulk-{nodes}-{round}"), &g).expect("insert");
            let saved = start.elapsed();
            let start = Instant::now();
            let loaded = store.load_program(p).expect("load");
            let load = start.elapsed();
            assert_eq!(loaded.node_count(), g.node_count());
            println!("{nodes} nodes, {} edges: save {saved:?}, load {load:?}", g.edge_count());
        }
    }
}
