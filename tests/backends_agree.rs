//! Random scripts of store calls run on every backend (memory, SQLite and, with the
//! `postgres` feature and a server, PostgreSQL) must agree call by call: the same
//! values, the same errors, the same loads. Ids are drawn a little past the program's
//! next ids, so missing entities and refused edits are part of every script.

#[path = "common/mod.rs"]
mod common;
#[cfg(feature = "postgres")]
#[path = "pg_support/mod.rs"]
mod pg_support;

use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::*;
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{GraphStore, InMemoryStore};
use proptest::prelude::*;

/// One call of a script: an operation code and two operands.
type Call = (u8, u32, u32);

/// Runs a script on a store holding `g`, describing every outcome (`Debug` of the
/// result); the last entry is the final load.
fn trace(store: &dyn GraphStore, g: &ProgramGraph, script: &[Call]) -> Vec<String> {
    let p = store.insert_program("script", g).expect("insert");
    let next = g.next_ids();
    let node = |a: u32| NodeId(a % (next.node + 3));
    let edge = |a: u32| EdgeId(a % (next.edge + 3));
    let function = |a: u32| FunctionId(a % (next.function + 2));
    let mut out = Vec::new();
    for &(op, a, b) in script {
        let line = match op % 11 {
            0 => format!("{:?}", store.insert_node(p, function(a), ComputeOp::Print.into())),
            1 => format!("{:?}", store.delete_node(p, node(a))),
            2 => format!("{:?}", store.get_node(p, node(a))),
            3 => format!(
                "{:?}",
                store.insert_edge(p, node(a), node(b), FlowEdge::Control { branch_index: (b % 3 == 0).then_some(0) })
            ),
            4 => format!("{:?}", store.delete_edge(p, edge(a))),
            5 => format!("{:?}", store.find_nodes_by_owner(p, function(a))),
            6 => format!("{:?}", store.find_edges_from(p, node(a))),
            7 => format!("{:?}", store.find_edges_to(p, node(a))),
            8 => format!(
                "{:?}",
                store.update_node(p, node(a), ComputeOp::Const { value: ConstValue::I32(b as i32) }.into())
            ),
            9 => format!("{:?}", store.delete_function(p, function(a))),
            _ => format!("{:?}", store.load_program(p).map(|loaded| loaded.to_document())),
        };
        out.push(line);
    }
    out.push(format!("{:?}", store.load_program(p).map(|loaded| loaded.to_document())));
    out
}

fn agree(name: &str, expected: &[String], got: &[String]) -> Result<(), TestCaseError> {
    for (i, (e, g)) in expected.iter().zip(got).enumerate() {
        prop_assert_eq!(e, g, "{} disagrees with memory at call {}", name, i);
    }
    prop_assert_eq!(expected.len(), got.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn random_scripts_agree_across_backends(
        g in common::arb_program(),
        script in proptest::collection::vec(any::<Call>(), 0..50),
    ) {
        let expected = trace(&InMemoryStore::new(), &g, &script);
        let sqlite = SqliteStore::temporary().expect("a temporary SQLite store");
        agree("SQLite", &expected, &trace(&sqlite, &g, &script))?;
        #[cfg(feature = "postgres")]
        if let Some(schema) = pg_support::TestSchema::new() {
            agree("PostgreSQL", &expected, &trace(&schema.store(), &g, &script))?;
        }
    }
}
