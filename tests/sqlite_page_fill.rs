//! The pages a bulk save leaves: SQLite's own accounting (`dbstat`) of the node and edge
//! B-trees after two programs are stored, one after the other, in a fresh file. Written
//! in key order, each of them leaves 12 to 13 % of its pages unused; the store's
//! page-filling order (`sqlite::writer`, decision D15) leaves under 5 %. `dbstat` is
//! compiled into the bundled SQLite (feature `bundled`, on by default).
#![cfg(feature = "bundled")]

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::GraphStore;
use lmlang_storage::synth::{SynthConfig, generate};

#[derive(QueryableByName, Debug)]
struct TreeUse {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    pages: i64,
    #[diesel(sql_type = BigInt)]
    unused: i64,
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

#[test]
fn a_bulk_save_fills_the_pages_of_the_node_and_edge_trees() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("fill.db");
    let store = SqliteStore::open(&path).expect("store");
    let first = generate(&SynthConfig { nodes: 20_000, seed: 3, gaps: false });
    let second = generate(&SynthConfig { nodes: 20_000, seed: 4, gaps: true });
    let a = store.insert_program("first", &first).expect("first program");
    let b = store.insert_program("second", &second).expect("second program");
    store.checkpoint().expect("checkpoint");
    assert_eq!(store.load_program(a).expect("load"), first);
    assert_eq!(store.load_program(b).expect("load"), second);
    drop(store);

    let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("connection");
    let trees: Vec<TreeUse> = diesel::sql_query(
        "SELECT name, count(*) AS pages, sum(unused) AS unused, sum(pgsize) AS bytes FROM dbstat
         WHERE name IN ('lmlang_compute_nodes', 'lmlang_compute_nodes_by_id', 'lmlang_flow_edges',
                        'lmlang_flow_edges_by_source', 'lmlang_flow_edges_by_target')
         GROUP BY name ORDER BY name",
    )
    .load(&mut conn)
    .expect("dbstat");
    assert_eq!(trees.len(), 5, "{trees:?}");
    for tree in &trees {
        let share = tree.unused as f64 / tree.bytes as f64;
        assert!(tree.pages > 20, "{tree:?} is big enough to say something");
        assert!(share < 0.05, "{}: {:.1} % of {} pages unused", tree.name, share * 100.0, tree.pages);
    }
}
