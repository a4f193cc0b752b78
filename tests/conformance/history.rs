//! History on every backend: the log, undo and redo of every kind of write, checkout,
//! tags, pruning and deletion, written once against `&dyn ProgramHistory`.

use super::suite::sample;
use lmlang_storage::graph::{ProgramDocument, ProgramGraph};
use lmlang_storage::model::*;
use lmlang_storage::store::{
    CommitKind, FunctionUpdate, LogPage, NewFunction, ProgramHistory, ProgramId, Retention, StorageError,
};

fn function_named(g: &ProgramGraph, name: &str) -> FunctionId {
    g.functions().find(|f| f.name == name).map(|f| f.id).unwrap()
}

/// What a program holds, next ids aside (undo never gives ids back).
fn content(g: &ProgramGraph) -> ProgramDocument {
    let mut doc = g.to_document();
    doc.next_ids = Default::default();
    doc
}

fn all_log(store: &dyn ProgramHistory, p: ProgramId) -> Vec<lmlang_storage::store::HistoryEntry> {
    store.log(p, LogPage { before: None, limit: 10_000 }).unwrap()
}

/// One write of each kind the store offers, on the sample program.
type Write = fn(&dyn ProgramHistory, ProgramId, &ProgramGraph);

fn writes() -> Vec<(&'static str, Write)> {
    vec![
        ("insert_node", |s, p, g| {
            s.insert_node(p, function_named(g, "main"), ComputeOp::Print.into()).unwrap();
        }),
        ("update_node", |s, p, g| {
            let (n, _) = g.nodes().find(|(_, n)| matches!(n.op, ComputeNodeOp::Core(ComputeOp::Const { .. }))).unwrap();
            s.update_node(p, n, ComputeOp::Const { value: ConstValue::I64(-7) }.into()).unwrap();
        }),
        ("delete_node with edges and an entry", |s, p, g| {
            let entry = g.function(function_named(g, "square")).unwrap().entry_node.unwrap();
            s.delete_node(p, entry).unwrap();
        }),
        ("insert_edge", |s, p, g| {
            let main = function_named(g, "main");
            let nodes: Vec<NodeId> = g.function_nodes(main).collect();
            s.insert_edge(p, nodes[0], nodes[1], FlowEdge::Control { branch_index: Some(3) }).unwrap();
        }),
        ("delete_edge", |s, p, g| {
            s.delete_edge(p, g.edges().next().unwrap().id).unwrap();
        }),
        ("insert_type", |s, p, _| {
            s.insert_type(p, LmType::Array { element: TypeId::I8, length: 9 }).unwrap();
        }),
        ("insert_function", |s, p, _| {
            let f = NewFunction {
                module: ModuleId::ROOT,
                name: "fresh".into(),
                visibility: Visibility::Public,
                params: vec![("a".into(), TypeId::I32)],
                return_type: TypeId::I32,
                closure_of: None,
            };
            s.insert_function(p, f).unwrap();
        }),
        ("update_function", |s, p, g| {
            let u = FunctionUpdate { visibility: Some(Visibility::Private), ..Default::default() };
            s.update_function(p, function_named(g, "square"), u).unwrap();
        }),
        ("delete a function and the node that builds it, in one edit", |s, p, g| {
            let main = function_named(g, "main");
            let maker = g
                .function_nodes(main)
                .find(|n| matches!(g.node(*n).unwrap().op, ComputeNodeOp::Core(ComputeOp::MakeClosure { .. })))
                .unwrap();
            let adder = function_named(g, "adder");
            s.edit(p, &mut |g| {
                g.remove_compute_node(maker)?;
                g.remove_function(adder).map(drop)
            })
            .unwrap();
        }),
        ("insert_module", |s, p, _| {
            s.insert_module(p, ModuleId::ROOT, "extra", Visibility::Private).unwrap();
        }),
        ("update_module", |s, p, g| {
            s.update_module(p, g.modules().resolve(&["app", "math"]).unwrap(), "maths").unwrap();
        }),
        ("insert_named_type", |s, p, _| {
            let ty = LmType::Pointer { pointee: TypeId::I64, mutable: false };
            s.insert_named_type(p, ModuleId::ROOT, Visibility::Public, "Ptr", ty).unwrap();
        }),
        ("edit group", |s, p, g| {
            let main = function_named(g, "main");
            s.edit(p, &mut |g| {
                let a = g.add_core_op(main, ComputeOp::Print)?;
                let b = g.add_core_op(main, ComputeOp::ReadLine)?;
                g.add_control_edge(a, b, None)?;
                Ok(())
            })
            .unwrap();
        }),
        ("save after an edit of a loaded copy", |s, p, _| {
            let mut g = s.load_program(p).unwrap();
            let main = function_named(&g, "main");
            g.add_core_op(main, ComputeOp::Print).unwrap();
            let victim = g.nodes().map(|(id, _)| id).nth(2).unwrap();
            g.remove_compute_node(victim).unwrap();
            s.save_program(p, &g).unwrap();
        }),
        ("save_function", |s, p, g| {
            let mut edited = g.clone();
            let sq = function_named(g, "square");
            edited.add_core_op(sq, ComputeOp::Print).unwrap();
            s.save_function(p, &edited, sq).unwrap();
        }),
        ("save of a whole unrelated program", |s, p, _| {
            let other = lmlang_storage::synth::generate(&lmlang_storage::synth::SynthConfig {
                nodes: 400,
                seed: 3,
                gaps: true,
            });
            s.save_program(p, &other).unwrap();
        }),
    ]
}

pub fn undo_and_redo_every_kind_of_write(store: &dyn ProgramHistory) {
    for (i, (what, write)) in writes().into_iter().enumerate() {
        let p = store.insert_program(&format!("p{i}"), &sample()).unwrap();
        let before = store.load_program(p).unwrap();
        write(store, p, &before);
        let after = store.load_program(p).unwrap();
        assert_ne!(content(&after), content(&before), "{what} changed nothing");
        let undone = store.undo(p, None).unwrap();
        let back = store.load_program(p).unwrap();
        assert_eq!(content(&back), content(&before), "undo of {what}");
        assert_eq!(back.next_ids(), after.next_ids(), "undo of {what} gives no id back");
        assert_eq!(back.hashes().program(), before.hashes().program(), "undo of {what}");
        let redone = store.redo(p, Some("again")).unwrap();
        assert_eq!(redone, undone + 1);
        assert_eq!(store.load_program(p).unwrap(), after, "redo of {what} restores the same ids");
        // Undo of the redo, and redo once more: the stacks keep going.
        store.undo(p, None).unwrap();
        assert_eq!(content(&store.load_program(p).unwrap()), content(&before), "second undo of {what}");
        store.redo(p, None).unwrap();
        assert_eq!(store.load_program(p).unwrap(), after, "second redo of {what}");
    }
}

pub fn undo_walks_back_to_the_first_revision_and_ids_stay_unique(store: &dyn ProgramHistory) {
    let p = store.insert_program("walk", &sample()).unwrap();
    let first = store.load_program(p).unwrap();
    let main = function_named(&first, "main");
    let a = store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    let b = store.insert_node(p, main, ComputeOp::ReadLine.into()).unwrap();
    store.insert_edge(p, a, b, FlowEdge::Control { branch_index: None }).unwrap();
    store.undo(p, None).unwrap();
    store.undo(p, None).unwrap();
    store.undo(p, None).unwrap();
    let err = store.undo(p, None).unwrap_err();
    assert!(matches!(err, StorageError::NothingTo { action: "undo", .. }), "{err:?}");
    assert_eq!(content(&store.load_program(p).unwrap()), content(&first));
    // The undone ids are not handed out again; a new edit clears what could be redone.
    let c = store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    assert!(c.0 > b.0, "{c:?} reuses an undone id");
    let err = store.redo(p, None).unwrap_err();
    assert!(matches!(err, StorageError::NothingTo { action: "redo", .. }), "{err:?}");
    store.undo(p, None).unwrap();
    assert_eq!(content(&store.load_program(p).unwrap()), content(&first));
}

/// An undo over a commit made with recording off is refused as `RevisionNotFound`
/// naming that commit (the record that says what to undo is missing), whether the
/// program never recorded anything or recorded edits after it; nothing is written. A
/// program with nothing but its create commit, which no undo goes behind, has nothing
/// to undo.
pub fn an_undo_over_a_commit_made_with_recording_off_names_it(store: &dyn ProgramHistory, set_history: &dyn Fn(bool)) {
    let unrecorded = |r: Result<u64, StorageError>, p: ProgramId, expected: u64| match r {
        Err(StorageError::RevisionNotFound { program, revision }) => assert_eq!((program, revision), (p, expected)),
        other => panic!("an undo over unrecorded revision {expected}: {other:?}"),
    };
    set_history(false);
    let p = store.create_program("unrecorded").unwrap();
    let f = store
        .insert_function(
            p,
            NewFunction {
                module: ModuleId::ROOT,
                name: "f".into(),
                visibility: Visibility::Public,
                params: vec![],
                return_type: TypeId::UNIT,
                closure_of: None,
            },
        )
        .unwrap();
    let n = store.insert_node(p, f, ComputeOp::Print.into()).unwrap();
    let (at_3, revision) = store.load_program_with_revision(p).unwrap();
    assert_eq!(revision, 3);
    unrecorded(store.undo(p, None), p, 3);

    set_history(true);
    unrecorded(store.undo(p, None), p, 3);
    store.update_node(p, n, ComputeOp::ReadLine.into()).unwrap();
    assert_eq!(store.undo(p, None).unwrap(), 5);
    assert_eq!(store.load_program(p).unwrap(), at_3, "the recorded edit is undone");
    unrecorded(store.undo(p, None), p, 3);
    assert_eq!(store.load_program_with_revision(p).unwrap(), (at_3, 5), "a refused undo writes nothing");

    set_history(false);
    let bare = store.create_program("bare, unrecorded").unwrap();
    let err = store.undo(bare, None).unwrap_err();
    assert!(matches!(err, StorageError::NothingTo { action: "undo", .. }), "{err:?}");
    set_history(true);
    let bare = store.create_program("bare, recorded").unwrap();
    let err = store.undo(bare, None).unwrap_err();
    assert!(matches!(err, StorageError::NothingTo { action: "undo", .. }), "{err:?}");
}

pub fn log_records_every_commit_newest_first(store: &dyn ProgramHistory) {
    let p = store.insert_program("log", &sample()).unwrap();
    let g = store.load_program(p).unwrap();
    let main = function_named(&g, "main");
    let mut roots = vec![g.hashes().program()];
    store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    roots.push(store.load_program(p).unwrap().hashes().program());
    store.edit_with_message(p, "two nodes", &mut |g| g.add_core_op(main, ComputeOp::Print).map(drop)).unwrap();
    roots.push(store.load_program(p).unwrap().hashes().program());
    let mut copy = store.load_program(p).unwrap();
    copy.add_core_op(main, ComputeOp::ReadLine).unwrap();
    store.save_with_message(p, &copy, "saved").unwrap();
    roots.push(copy.hashes().program());
    store.rename_program(p, "log2").unwrap();
    roots.push(copy.hashes().program());
    store.undo(p, Some("oops")).unwrap();
    roots.push(store.load_program(p).unwrap().hashes().program());
    // A save that changes nothing commits nothing and records nothing.
    let same = store.load_program(p).unwrap();
    store.save_program(p, &same).unwrap();

    let log = all_log(store, p);
    let revisions: Vec<u64> = log.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, vec![6, 5, 4, 3, 2, 1]);
    let kinds: Vec<CommitKind> = log.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            CommitKind::Undo { of: 4 },
            CommitKind::Rename,
            CommitKind::Edit,
            CommitKind::Edit,
            CommitKind::Edit,
            CommitKind::Create
        ]
    );
    let messages: Vec<Option<&str>> = log.iter().map(|e| e.message.as_deref()).collect();
    assert_eq!(messages, vec![Some("oops"), None, Some("saved"), Some("two nodes"), None, None]);
    let logged: Vec<_> = log.iter().rev().map(|e| e.root).collect();
    assert_eq!(logged, roots);
    assert_eq!(store.list_programs().unwrap().iter().find(|s| s.id == p).unwrap().revision, 6);
    // Paging: newest first, below a revision, at most `limit`.
    let page = store.log(p, LogPage { before: Some(5), limit: 2 }).unwrap();
    assert_eq!(page.iter().map(|e| e.revision).collect::<Vec<_>>(), vec![4, 3]);
    assert!(store.log(p, LogPage { before: Some(1), limit: 5 }).unwrap().is_empty());
    let err = store.log(ProgramId(9_999), LogPage::default()).unwrap_err();
    assert!(matches!(err, StorageError::ProgramNotFound(_)), "{err:?}");
}

pub fn checkout_gives_each_revision_as_it_was(store: &dyn ProgramHistory) {
    let p = store.insert_program("co", &sample()).unwrap();
    let mut states = vec![store.load_program(p).unwrap()];
    for (_, write) in writes() {
        let current = store.load_program(p).unwrap();
        write(store, p, &current);
        states.push(store.load_program(p).unwrap());
    }
    store.undo(p, None).unwrap();
    states.push(store.load_program(p).unwrap());
    let log = all_log(store, p);
    assert_eq!(log.len() as u64, log[0].revision, "one entry per revision");
    assert_eq!(log.len(), states.len(), "every write above is one commit");
    for entry in &log {
        let at = store.load_at(p, entry.revision).unwrap();
        assert_eq!(at.hashes().program(), entry.root, "revision {}", entry.revision);
        assert_eq!(at, states[entry.revision as usize - 1], "revision {}, next ids included", entry.revision);
    }
    for bad in [0, log[0].revision + 1] {
        let err = store.load_at(p, bad).unwrap_err();
        assert!(matches!(err, StorageError::RevisionNotFound { revision, .. } if revision == bad), "{err:?}");
    }
    let d = store.diff_revisions(p, 1, 2).unwrap();
    assert_eq!(d.changed, vec!["app::main".to_string()]);
    assert!(store.diff_revisions(p, 2, 2).unwrap().is_empty());
}

pub fn tags_name_revisions(store: &dyn ProgramHistory) {
    let p = store.insert_program("tags", &sample()).unwrap();
    let first = store.load_program(p).unwrap();
    store.tag(p, "start", 1).unwrap();
    store.insert_node(p, function_named(&first, "main"), ComputeOp::Print.into()).unwrap();
    store.tag(p, "one-more", 2).unwrap();
    assert_eq!(store.tagged(p, "start").unwrap(), 1);
    assert_eq!(store.load_at(p, store.tagged(p, "start").unwrap()).unwrap(), first);
    store.tag(p, "start", 2).unwrap();
    assert_eq!(store.tagged(p, "start").unwrap(), 2, "a tag moves");
    let names: Vec<String> = store.tags(p).unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, vec!["one-more".to_string(), "start".to_string()]);
    store.untag(p, "one-more").unwrap();
    assert!(matches!(store.untag(p, "one-more"), Err(StorageError::TagNotFound { .. })));
    assert!(matches!(store.tagged(p, "nope"), Err(StorageError::TagNotFound { .. })));
    let too_long = "é".repeat(lmlang_storage::store::MAX_NAME_BYTES / 2 + 1);
    store.tag(p, &"t".repeat(lmlang_storage::store::MAX_NAME_BYTES), 1).unwrap();
    for bad in ["", "a@b", "nul\0", "7", "+2", "99999999999999999999", too_long.as_str()] {
        assert!(matches!(store.tag(p, bad, 1), Err(StorageError::InvalidTagName(_))), "{bad:?}");
        // No tag can have an empty name or a NUL, on every backend alike (PostgreSQL
        // refused the NUL with an error of its own); names an older build allowed
        // can still be removed, so the others are only not found.
        let untagged = store.untag(p, bad);
        if bad.is_empty() || bad.contains('\0') {
            assert!(matches!(untagged, Err(StorageError::InvalidTagName(_))), "{bad:?}");
        } else {
            assert!(matches!(untagged, Err(StorageError::TagNotFound { .. })), "{bad:?}: {untagged:?}");
        }
    }
    assert!(matches!(store.find_program("nul\0name"), Err(StorageError::ProgramNotFound(_))));
    // A name refused for its length is quoted cut short; the field keeps it whole.
    let huge = "t".repeat(1 << 20);
    let refused = store.tag(p, &huge, 1).unwrap_err();
    assert!(matches!(&refused, StorageError::InvalidTagName(n) if *n == huge));
    for message in [refused.to_string(), store.untag(p, &huge).unwrap_err().to_string()] {
        assert!(message.len() < 1024 && message.contains("tttt") && message.contains("1048576 bytes"), "{message}");
    }
    let err = store.tag(p, "future", 99).unwrap_err();
    assert!(matches!(err, StorageError::RevisionNotFound { revision: 99, .. }), "{err:?}");
    assert_eq!(store.tags(p).unwrap().len(), 2, "a refused tag writes nothing");
}

/// `add_tag` names a revision only when the tag is new or already there, and otherwise
/// says where it is and moves nothing; `move_tag` moves it and says where it was. Each
/// reads the tag in the write that sets it, so two writers cannot both take it for new.
pub fn adding_a_tag_never_moves_it_and_moving_one_says_from_where(store: &dyn ProgramHistory) {
    let p = store.insert_program("tag moves", &sample()).unwrap();
    let first = store.load_program(p).unwrap();
    store.insert_node(p, function_named(&first, "main"), ComputeOp::Print.into()).unwrap();
    assert!(store.add_tag(p, "rel", 1).unwrap(), "a new tag");
    assert!(!store.add_tag(p, "rel", 1).unwrap(), "already there: nothing to do");
    let err = store.add_tag(p, "rel", 2).unwrap_err();
    assert!(matches!(&err, StorageError::TagElsewhere { name, revision: 1, .. } if name == "rel"), "{err:?}");
    assert_eq!(store.tagged(p, "rel").unwrap(), 1, "a refused add moves nothing");

    assert_eq!(store.move_tag(p, "rel", 2).unwrap(), Some(1), "where it was");
    assert_eq!(store.move_tag(p, "rel", 2).unwrap(), Some(2), "already there");
    assert_eq!(store.move_tag(p, "new", 1).unwrap(), None, "a new tag");
    assert_eq!(store.tagged(p, "rel").unwrap(), 2);

    // `tag`'s checks hold for both.
    assert!(matches!(store.add_tag(p, "7", 1), Err(StorageError::InvalidTagName(_))));
    assert!(matches!(store.move_tag(p, "a@b", 1), Err(StorageError::InvalidTagName(_))));
    let err = store.add_tag(p, "future", 99).unwrap_err();
    assert!(matches!(err, StorageError::RevisionNotFound { revision: 99, .. }), "{err:?}");
    let err = store.move_tag(p, "rel", 99).unwrap_err();
    assert!(matches!(err, StorageError::RevisionNotFound { revision: 99, .. }), "{err:?}");
    assert!(matches!(store.add_tag(ProgramId(999_999), "x", 1), Err(StorageError::ProgramNotFound(_))));
    assert_eq!(store.tags(p).unwrap().len(), 2, "refusals write nothing");
}

pub fn pruning_drops_old_history_only(store: &dyn ProgramHistory) {
    let p = store.insert_program("prune", &sample()).unwrap();
    let main = function_named(&store.load_program(p).unwrap(), "main");
    for _ in 0..6 {
        store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    }
    store.tag(p, "old", 2).unwrap();
    store.tag(p, "new", 6).unwrap();
    let at5 = store.load_at(p, 5).unwrap();
    assert_eq!(store.prune_history(p, Retention::Before(3)).unwrap(), 2);
    assert_eq!(all_log(store, p).iter().map(|e| e.revision).min(), Some(3));
    assert!(matches!(store.load_at(p, 2), Err(StorageError::RevisionNotFound { revision: 2, .. })));
    assert!(matches!(store.tagged(p, "old"), Err(StorageError::TagNotFound { .. })), "tags go with their revision");
    assert_eq!(store.tagged(p, "new").unwrap(), 6);
    assert_eq!(store.prune_history(p, Retention::Newest(3)).unwrap(), 2);
    assert_eq!(all_log(store, p).iter().map(|e| e.revision).collect::<Vec<_>>(), vec![7, 6, 5]);
    assert_eq!(store.load_at(p, 5).unwrap(), at5);
    // Undo stops where history was cut.
    for _ in 0..3 {
        store.undo(p, None).unwrap();
    }
    let err = store.undo(p, None).unwrap_err();
    assert!(matches!(err, StorageError::RevisionNotFound { revision: 4, .. }), "{err:?}");
    assert_eq!(store.prune_history(p, Retention::Newest(0)).unwrap(), 5, "the newest entry is always kept");
    assert_eq!(all_log(store, p).len(), 1);
    // A revision past the current one (a typo, another program's number) prunes up to
    // the newest entry, never the newest itself: undo still works.
    store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    let head = all_log(store, p)[0].revision;
    let before_undo = store.load_at(p, head - 1).unwrap().hashes().program();
    assert_eq!(store.prune_history(p, Retention::Before(head + 100)).unwrap(), 2);
    assert_eq!(all_log(store, p).iter().map(|e| e.revision).collect::<Vec<_>>(), vec![head]);
    store.undo(p, None).unwrap();
    assert_eq!(store.load_program(p).unwrap().hashes().program(), before_undo, "undone to the state before");
}

pub fn deleting_a_program_deletes_its_history(store: &dyn ProgramHistory) {
    let p = store.insert_program("gone", &sample()).unwrap();
    let main = function_named(&store.load_program(p).unwrap(), "main");
    store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    store.undo(p, None).unwrap();
    store.tag(p, "t", 2).unwrap();
    store.delete_program(p).unwrap();
    assert!(matches!(store.log(p, LogPage::default()), Err(StorageError::ProgramNotFound(_))));
    assert!(matches!(store.tags(p), Err(StorageError::ProgramNotFound(_))));
    assert!(matches!(store.undo(p, None), Err(StorageError::ProgramNotFound(_))));
    let again = store.insert_program("gone", &sample()).unwrap();
    assert_eq!(all_log(store, again).len(), 1);
    assert!(store.tags(again).unwrap().is_empty());
}

/// Random programs edited by random scripts, each step its own commit: every revision
/// checks out to exactly the program stored then, and undoing everything gives the
/// first back.
pub fn random_edits_check_out_and_undo_exactly(store: &dyn ProgramHistory) {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config { cases: 12, ..Config::default() });
    let counter = std::cell::Cell::new(0);
    let strategy = (crate::common::arb_program(), crate::common::arb_edit_script());
    runner
        .run(&strategy, |(g, script)| {
            counter.set(counter.get() + 1);
            let p = store.insert_program(&format!("random-{}", counter.get()), &g).expect("insert");
            let (first, mut revision) = store.load_program_with_revision(p).expect("load");
            let mut states = vec![first];
            for step in script {
                // Every accepted edit that changes something commits one revision; a
                // refused one, or one that changes nothing, none.
                if store.edit(p, &mut |g| crate::common::try_step(g, step)).is_ok() {
                    let (now, at) = store.load_program_with_revision(p).expect("load");
                    if at == revision {
                        proptest::prop_assert_eq!(Some(&now), states.last(), "revision {} changed", at);
                    } else {
                        proptest::prop_assert_eq!(at, revision + 1);
                        states.push(now);
                        revision = at;
                    }
                }
            }
            let log = all_log(store, p);
            proptest::prop_assert_eq!(log.len(), states.len());
            for entry in &log {
                let at = store.load_at(p, entry.revision).expect("checkout");
                proptest::prop_assert_eq!(&at, &states[entry.revision as usize - 1], "revision {}", entry.revision);
            }
            while store.undo(p, None).is_ok() {}
            proptest::prop_assert_eq!(content(&store.load_program(p).expect("load")), content(&states[0]));
            Ok(())
        })
        .unwrap();
}

pub fn a_message_with_a_nul_is_refused_alike_and_writes_nothing(store: &dyn ProgramHistory) {
    // PostgreSQL's text cannot hold a NUL: it failed there with an error of its own
    // while the other backends stored the message.
    let p = store.insert_program("messages", &sample()).unwrap();
    let main = function_named(&store.load_program(p).unwrap(), "main");
    store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    let before = (store.load_program(p).unwrap(), all_log(store, p));
    let mut edit = |g: &mut ProgramGraph| g.add_compute_node(main, ComputeOp::Print.into()).map(|_| ());
    let refused = store.edit_with_message(p, "bad\0message", &mut edit);
    assert!(matches!(refused, Err(StorageError::InvalidMessage(_))), "{refused:?}");
    let mut changed = store.load_program(p).unwrap();
    changed.add_compute_node(main, ComputeOp::Print.into()).unwrap();
    let refused = store.save_with_message(p, &changed, "\0");
    assert!(matches!(refused, Err(StorageError::InvalidMessage(_))), "{refused:?}");
    assert!(matches!(store.undo(p, Some("undo\0")), Err(StorageError::InvalidMessage(_))));
    assert_eq!((store.load_program(p).unwrap(), all_log(store, p)), before, "a refused message wrote something");
    // Any other text is kept as given.
    let kept = "línea\nsegunda\t✓ \u{7f}";
    store.save_with_message(p, &changed, kept).unwrap();
    assert_eq!(all_log(store, p)[0].message.as_deref(), Some(kept));
}

/// Writes that change nothing (a node set to its own op, an empty function update, a
/// rename to the current name, an empty edit group, a function saved as it is stored)
/// make no commit: the revision stays,
/// the log gains no entry for an undo to spend, and a save made at that revision still
/// goes through.
pub fn writes_that_change_nothing_make_no_commit(store: &dyn ProgramHistory) {
    let p = store.insert_program("no-op", &sample()).unwrap();
    let (g, at) = store.load_program_with_revision(p).unwrap();
    let entries = all_log(store, p).len();
    let (node, op) = g
        .nodes()
        .find(|(_, n)| matches!(n.op, ComputeNodeOp::Core(ComputeOp::Const { .. })))
        .map(|(id, n)| (id, n.op.clone()))
        .unwrap();
    let square = function_named(&g, "square");
    let visibility = g.function(square).unwrap().visibility;
    let root_name = g.module(ModuleId::ROOT).unwrap().name.clone();
    assert_eq!(store.update_node(p, node, op.clone()).unwrap(), op);
    store.update_function(p, square, FunctionUpdate::default()).unwrap();
    store.update_function(p, square, FunctionUpdate { visibility: Some(visibility), ..Default::default() }).unwrap();
    store.update_module(p, ModuleId::ROOT, &root_name).unwrap();
    store.rename_program(p, "no-op").unwrap();
    let report = store.edit(p, &mut |_| Ok(())).unwrap();
    assert_eq!(report.rows_written + report.rows_deleted, 0);
    let report = store.save_function(p, &g, square).unwrap();
    assert_eq!(report.rows_written + report.rows_deleted, 0);
    assert_eq!(store.load_program_with_revision(p).unwrap(), (g.clone(), at), "no revision was made");
    assert_eq!(all_log(store, p).len(), entries, "no history entry was made");
    let mut edited = g;
    edited.add_core_op(function_named(&edited, "main"), ComputeOp::Print).unwrap();
    store.save_program_if_at(p, &edited, at).unwrap();
    // A real change still commits.
    store.update_node(p, node, ComputeOp::Const { value: ConstValue::I64(12_345) }.into()).unwrap();
    assert_eq!(store.load_program_with_revision(p).unwrap().1, at + 2);
}

/// History calls from inside an `edit` closure of the same store: undo (a write) is
/// refused as `Reentrant` everywhere; the log, tags and checkouts (reads) answer or are
/// refused alike; none hangs.
pub fn history_calls_from_inside_an_edit_are_refused_or_answered(store: &dyn ProgramHistory) {
    let p = store.insert_program("reentrant-history", &sample()).unwrap();
    let main = function_named(&store.load_program(p).unwrap(), "main");
    store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    store.tag(p, "t", 2).unwrap();
    let watchdog = crate::common::Watchdog::start("a history call from inside an edit closure");
    let (mut writes, mut reads) = (Vec::new(), Vec::new());
    let stored = store.load_program(p).unwrap();
    store
        .edit(p, &mut |g| {
            writes.push(("undo", store.undo(p, None).map(drop)));
            writes.push(("redo", store.redo(p, None).map(drop)));
            writes.push(("tag", store.tag(p, "u", 1)));
            writes.push(("add_tag", store.add_tag(p, "u", 1).map(drop)));
            writes.push(("move_tag", store.move_tag(p, "t", 1).map(drop)));
            writes.push(("untag", store.untag(p, "t")));
            writes.push(("prune_history", store.prune_history(p, Retention::Newest(0)).map(drop)));
            writes.push(("edit_with_message", store.edit_with_message(p, "m", &mut |_| Ok(())).map(drop)));
            writes.push(("save_with_message", store.save_with_message(p, &stored, "m").map(drop)));
            writes.push(("save_with_message_if_at", store.save_with_message_if_at(p, &stored, 2, "m").map(drop)));
            reads.push(store.tagged(p, "t").map(drop));
            reads.push(store.tags(p).map(drop));
            reads.push(store.log(p, LogPage::default()).map(drop));
            reads.push(store.load_at(p, 1).map(drop));
            g.add_core_op(main, ComputeOp::ReadLine).map(drop)
        })
        .unwrap();
    drop(watchdog);
    for (call, result) in &writes {
        assert!(matches!(result, Err(StorageError::Reentrant)), "{call}: {result:?}");
    }
    for read in reads {
        assert!(matches!(read, Ok(()) | Err(StorageError::Reentrant)), "{read:?}");
    }
    assert_eq!(all_log(store, p).len(), 3, "the edit itself committed");
    assert_eq!(store.tagged(p, "t").unwrap(), 2, "the tag is where it was");
    assert!(matches!(store.tagged(p, "u"), Err(StorageError::TagNotFound { .. })));
}
