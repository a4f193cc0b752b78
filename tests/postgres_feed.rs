//! The change feed between two stores (two pools, as two service instances) on one
//! schema: each commit of one reaches the other's subscription with the program and its
//! new revision, deletions too, and only once committed; and a store never serves a
//! graph another instance has replaced, with or without the feed. Skipped without a
//! server (see `pg_support`).
#![cfg(feature = "postgres")]

#[path = "pg_support/mod.rs"]
mod pg_support;

use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::{ComputeNodeOp, ComputeOp, ConstValue, FunctionId, ModuleId, TypeId, Visibility};
use lmlang_storage::postgres::{Change, ChangeFeed, PgConfig, PgStore};
use lmlang_storage::store::{GraphStore, ProgramId};
use pg_support::TestSchema;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn constant(i: i64) -> ComputeNodeOp {
    ComputeOp::Const { value: ConstValue::I64(i) }.into()
}

fn new_program(store: &PgStore, name: &str) -> (ProgramId, FunctionId) {
    let mut g = ProgramGraph::new("root");
    let f = g.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::UNIT).expect("function");
    (store.insert_program(name, &g).expect("insert"), f)
}

fn revision(store: &PgStore, program: ProgramId) -> u64 {
    store.list_programs().expect("list").iter().find(|s| s.id == program).expect("listed").revision
}

/// The next change for `program`, skipping other programs' changes.
fn next_for(feed: &ChangeFeed, program: ProgramId) -> Option<Change> {
    while let Some(change) = feed.recv_timeout(WAIT) {
        match change {
            Change::Committed { program: p, .. } | Change::Deleted { program: p } if p != program => {}
            other => return Some(other),
        }
    }
    None
}

#[test]
fn commits_of_one_instance_reach_the_others_subscription() {
    let Some(schema) = TestSchema::new() else { return };
    let config = PgConfig { notify_changes: true, ..schema.config() };
    let a = PgStore::connect_with(&schema.url, config.clone()).expect("instance a");
    let b = PgStore::connect_with(&schema.url, config).expect("instance b");
    let feed = b.subscribe().expect("subscribe");

    let (p, f) = new_program(&a, "p");
    assert_eq!(next_for(&feed, p), Some(Change::Committed { program: p, revision: revision(&b, p) }));
    for i in 0..3 {
        a.insert_node(p, f, constant(i)).expect("insert");
        let announced = next_for(&feed, p);
        assert_eq!(announced, Some(Change::Committed { program: p, revision: revision(&b, p) }));
    }
    // A grouped edit announces once, with its one new revision.
    a.edit(p, &mut |g| {
        g.add_core_op(f, ComputeOp::Print)?;
        g.add_core_op(f, ComputeOp::Print)?;
        Ok(())
    })
    .expect("edit");
    assert_eq!(next_for(&feed, p), Some(Change::Committed { program: p, revision: revision(&b, p) }));
    // A rename is a commit of its own: it moves the revision on, and is announced.
    let before = revision(&b, p);
    a.rename_program(p, "renamed").expect("rename");
    assert_eq!(next_for(&feed, p), Some(Change::Committed { program: p, revision: before + 1 }));
    assert_eq!(revision(&b, p), before + 1);
    // A refused edit commits nothing and announces nothing: the next change is the
    // deletion.
    assert!(a.delete_node(p, lmlang_storage::model::NodeId(9_999)).is_err());
    a.delete_program(p).expect("delete");
    assert_eq!(next_for(&feed, p), Some(Change::Deleted { program: p }));
}

#[test]
fn stores_in_other_schemas_do_not_hear_each_other() {
    let (Some(one), Some(two)) = (TestSchema::new(), TestSchema::new()) else { return };
    let a = PgStore::connect_with(&one.url, PgConfig { notify_changes: true, ..one.config() }).expect("a");
    let b = PgStore::connect_with(&two.url, PgConfig { notify_changes: true, ..two.config() }).expect("b");
    let feed = b.subscribe().expect("subscribe");
    new_program(&a, "in one");
    let (q, _) = new_program(&b, "in two");
    // b's own commit arrives; a's, made first, never does.
    assert_eq!(feed.recv_timeout(WAIT), Some(Change::Committed { program: q, revision: revision(&b, q) }));
}

#[test]
fn a_store_never_serves_a_graph_another_instance_replaced() {
    let Some(schema) = TestSchema::new() else { return };
    // No feed at all: the engine must not need one to stay correct.
    let a = schema.store();
    let b = schema.store();
    let (p, f) = new_program(&a, "p");
    // b caches the program (its working copy and a loaded graph).
    let mine = b.insert_node(p, f, constant(1)).expect("b inserts");
    let loaded = b.load_program(p).expect("b loads");

    let theirs = a.insert_node(p, f, constant(2)).expect("a inserts");
    // Every read of b shows a's commit at once.
    b.get_node(p, theirs).expect("b sees a's node");
    assert!(b.load_program(p).expect("load").node(theirs).is_some());
    assert_eq!(b.find_nodes_by_owner(p, f).expect("query").len(), 2);
    // b's next edit builds on a's commit, not on its cached copy.
    let next = b.insert_node(p, f, constant(3)).expect("b inserts again");
    let stored = a.load_program(p).expect("load");
    for n in [mine, theirs, next] {
        assert!(stored.node(n).is_some(), "node {n} kept");
    }
    // Saving the graph b loaded before a's commit writes that graph (compared with
    // the stored program), as on SQLite: nothing half-way. Ids handed out since stay
    // used (the stored next ids never go down).
    b.save_program(p, &loaded).expect("save");
    let saved = a.load_program(p).expect("load");
    assert!(saved.nodes().eq(loaded.nodes()));
    assert_eq!(saved.hashes().program(), loaded.hashes().program());
    assert!(saved.next_ids().node >= stored.next_ids().node);
}

/// A schema whose name takes more than PostgreSQL's 63 bytes after `lmlang:` (30
/// two-byte characters) still gets a channel: every write used to fail with "channel
/// name too long".
#[test]
fn a_schema_with_a_long_multibyte_name_has_a_feed() {
    let Some(schema) = TestSchema::new() else { return };
    let long = format!("{}_{}", "é".repeat(30), std::process::id());
    let mut admin = schema.connection();
    use diesel::connection::SimpleConnection;
    admin.batch_execute(&format!("CREATE SCHEMA \"{long}\"")).expect("schema");
    let config = PgConfig { notify_changes: true, schema: Some(long.clone()), ..schema.config() };
    let outcome = std::panic::catch_unwind(|| {
        let store = PgStore::connect_with(&schema.url, config).expect("store");
        let feed = store.subscribe().expect("subscribe");
        let (p, _) = new_program(&store, "p");
        assert_eq!(next_for(&feed, p), Some(Change::Committed { program: p, revision: revision(&store, p) }));
    });
    admin.batch_execute(&format!("DROP SCHEMA \"{long}\" CASCADE")).expect("drop");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
