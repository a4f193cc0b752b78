//! Measures the bulk save of a new program on PostgreSQL (run by hand, in release):
//! `cargo test --release --features postgres --test postgres_bulk -- --ignored --nocapture`
//! prints the time of `insert_program` (nodes and edges by binary COPY) and of a load
//! at 10k and 100k nodes, then at 100k the save after a one-node edit, single-mutation
//! commits and `find_nodes_by_owner`. Prints only: no assertion on time.
#![cfg(feature = "postgres")]

#[path = "pg_support/mod.rs"]
mod pg_support;

use lmlang_storage::model::ComputeOp;
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
    let g = generate(&SynthConfig { nodes: 100_000, seed: 1, gaps: false });
    let p = store.insert_program("edits", &g).expect("insert");
    let mut g = store.load_program(p).expect("load");
    let f = g.functions().nth(1).map(|f| f.id).expect("a function");
    let median = |mut v: Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let mut edits = Vec::new();
    for _ in 0..21 {
        g.add_core_op(f, ComputeOp::Print).expect("edit");
        let start = Instant::now();
        store.save_program(p, &g).expect("save");
        edits.push(start.elapsed());
    }
    println!("100000 nodes: save after a one-node edit {:?} (median of 21)", median(edits));
    let start = Instant::now();
    for _ in 0..500 {
        store.insert_node(p, f, ComputeOp::Print.into()).expect("insert_node");
    }
    println!("100000 nodes: insert_node {:.0} commits/s (500)", 500.0 / start.elapsed().as_secs_f64());
    let owner = g.functions().nth(3).map(|f| f.id).expect("a function");
    let mut queries = Vec::new();
    for _ in 0..201 {
        let start = Instant::now();
        store.find_nodes_by_owner(p, owner).expect("query");
        queries.push(start.elapsed());
    }
    println!("100000 nodes: find_nodes_by_owner {:?} (median of 201)", median(queries));
}
