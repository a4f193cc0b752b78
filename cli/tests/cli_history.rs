//! `lmstore log`, `undo`, `redo`, `checkout`, `tag`, `prune` and `PROGRAM@REVISION`,
//! end to end on a demo database edited through the library.

mod cli_support;

use cli_support::{json, lmstore, ok};
use lmlang_storage::model::ComputeOp;
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{GraphStore, ProgramHistory, ProgramId};

#[test]
fn history_commands_walk_a_program_back_and_forth() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    {
        let store = SqliteStore::open(d.join("lmlang.db")).unwrap();
        // The library records history only when asked (the tool always asks).
        store.set_history(true);
        let p = store.find_program("sample").unwrap();
        let g = store.load_program(p).unwrap();
        let main = g.functions().find(|f| f.name == "main").unwrap().id;
        store.edit_with_message(p, "add a print", &mut |g| g.add_core_op(main, ComputeOp::Print).map(drop)).unwrap();
        store.insert_node(p, main, ComputeOp::ReadLine.into()).unwrap();
    }
    let log = json(d, &["log", "sample", "--json"]);
    let entries = log.as_array().unwrap();
    let revisions: Vec<u64> = entries.iter().map(|e| e["revision"].as_u64().unwrap()).collect();
    assert_eq!(revisions, vec![3, 2, 1], "{log}");
    assert_eq!(entries[1]["message"], "add a print");
    let root_at = |r: usize| entries[3 - r]["root"].as_str().unwrap().to_string();
    assert!(ok(d, &["log", "sample"]).contains("add a print"));

    ok(d, &["tag", "sample", "start", "--revision", "1"]);
    assert!(ok(d, &["tag", "sample"]).contains("start"));
    // A script reads the tags from `log --json` as a person reads them from the table.
    let tagged = json(d, &["log", "sample", "--json"]);
    let tags_at = |r: u64| tagged.as_array().unwrap().iter().find(|e| e["revision"] == r).unwrap()["tags"].clone();
    assert_eq!(tags_at(1), serde_json::json!(["start"]), "{tagged}");
    assert_eq!(tags_at(3), serde_json::json!([]), "{tagged}");
    let undo = ok(d, &["undo", "sample", "-m", "back"]);
    assert!(undo.contains("undo 3") && undo.contains("revision 4"), "{undo}");
    let redo = ok(d, &["redo", "sample"]);
    assert!(redo.contains("redo 4") && redo.contains("revision 5"), "{redo}");
    let out = lmstore(d, &["redo", "sample"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to redo"));

    let diff = json(d, &["diff", "sample@start", "sample@3", "--json"]);
    assert_eq!(diff["changed"], serde_json::json!(["app::main"]), "{diff}");
    let same = json(d, &["diff", "sample@3", "sample@5", "--json"]);
    assert_eq!(same["program_root_differs"], false, "{same}");

    ok(d, &["checkout", "sample", "--revision", "start", "--as", "sample-start"]);
    assert_eq!(json(d, &["hash", "sample-start", "--json"])["program"], root_at(1).as_str());
    ok(d, &["checkout", "sample", "--revision", "2", "-o", "s2.json"]);
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("s2.json")).unwrap()).unwrap();
    assert_eq!(file["root_hash"], root_at(2).as_str());

    assert!(ok(d, &["prune", "sample", "--keep", "2"]).contains("pruned 3"));
    let out = lmstore(d, &["checkout", "sample", "--revision", "1", "-o", "s1.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no revision 1"), "{out:?}");
    assert!(!ok(d, &["tag", "sample"]).contains("start"), "the tag went with its revision");
    // Undo goes back as far as the kept entries reach, then says why it stops, naming
    // the program as the user did.
    let stopped = (0..5).map(|_| lmstore(d, &["undo", "sample"])).find(|out| !out.status.success());
    let err = String::from_utf8_lossy(&stopped.expect("undo stops at the pruned entries").stderr).into_owned();
    assert!(err.contains("nothing left to undo in sample") && err.contains("pruned"), "{err}");
}

#[test]
fn an_edited_export_saved_back_is_one_edit_that_undo_takes_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    ok(d, &["export", "sample", "-o", "s.json"]);
    let edited = cli_support::bump_an_integer_constant(&std::fs::read_to_string(d.join("s.json")).unwrap());
    std::fs::write(d.join("edited.json"), edited).unwrap();
    let before = json(d, &["hash", "sample", "--json"]);

    assert!(ok(d, &["save", "sample", "edited.json", "-m", "bump a constant"]).contains("1 rows written"));
    let log = json(d, &["log", "sample", "--json"]);
    assert_eq!(log[0]["kind"], "Edit");
    assert_eq!(log[0]["message"], "bump a constant");
    assert_ne!(json(d, &["hash", "sample", "--json"]), before);
    // Saved again, the same file changes nothing and makes no commit.
    assert!(ok(d, &["save", "sample", "edited.json"]).contains("nothing saved"));
    assert_eq!(json(d, &["log", "sample", "--json"]).as_array().unwrap().len(), log.as_array().unwrap().len());
    ok(d, &["undo", "sample"]);
    assert_eq!(json(d, &["hash", "sample", "--json"]), before);

    // Usage errors exit 2 and change nothing.
    for args in [
        &["prune", "sample", "--keep", "0"][..],
        &["prune", "sample"],
        &["tag", "sample", "--delete"],
        &["tag", "sample", "--revision", "1"],
    ] {
        assert_eq!(lmstore(d, args).status.code(), Some(2), "{args:?}");
    }
    // A file that does not validate is refused and the program stays as it was.
    std::fs::write(d.join("broken.json"), "{\"format_version\": 1}").unwrap();
    let out = lmstore(d, &["save", "sample", "broken.json"]);
    assert!(!out.status.success());
    assert_eq!(json(d, &["hash", "sample", "--json"]), before);
}

/// Saving an export taken before another agent's edit would silently undo that edit:
/// it is refused, and `--force` saves it all the same.
#[test]
fn a_stale_export_is_not_saved_over_newer_edits_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    ok(d, &["export", "sample", "-o", "mine.json"]);
    let text = std::fs::read_to_string(d.join("mine.json")).unwrap();
    // Another agent's edit lands first.
    std::fs::write(d.join("theirs.json"), cli_support::bump_an_integer_constant(&text)).unwrap();
    ok(d, &["save", "sample", "theirs.json"]);
    let theirs = json(d, &["hash", "sample", "--json"]);
    // Mine, from the older export, edited another way.
    let mine = cli_support::bump_an_integer_constant(&cli_support::bump_an_integer_constant(&text));
    std::fs::write(d.join("mine.json"), mine).unwrap();
    let out = lmstore(d, &["save", "sample", "mine.json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has changed since"), "{out:?}");
    assert_eq!(json(d, &["hash", "sample", "--json"]), theirs, "nothing was saved");
    ok(d, &["save", "sample", "mine.json", "--force"]);
    assert_ne!(json(d, &["hash", "sample", "--json"]), theirs);
    // The file now records the root it saved: edited again, it saves again.
    let again = cli_support::bump_an_integer_constant(&std::fs::read_to_string(d.join("mine.json")).unwrap());
    std::fs::write(d.join("mine.json"), again).unwrap();
    assert!(ok(d, &["save", "sample", "mine.json"]).contains("1 rows written"));
}

/// Another agent's edit that leaves the root hash unchanged (a new anonymous type that
/// nothing uses yet) still counts: the export records its revision and `save` holds
/// the file to it, so the edit is not silently deleted.
#[test]
fn an_export_is_not_saved_over_an_edit_that_left_the_root_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    ok(d, &["export", "sample", "-o", "mine.json"]);
    let text = std::fs::read_to_string(d.join("mine.json")).unwrap();
    let root = json(d, &["hash", "sample", "--json"]);
    // Theirs: an anonymous array type appended, used by nothing.
    let mut theirs: serde_json::Value = serde_json::from_str(&text).unwrap();
    let next = theirs["program"]["next_ids"]["type"].as_u64().unwrap();
    theirs["program"]["types"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"id": next, "ty": {"Array": {"element": 6, "length": 4242}}}));
    theirs["program"]["next_ids"]["type"] = serde_json::json!(next + 1);
    std::fs::write(d.join("theirs.json"), theirs.to_string()).unwrap();
    ok(d, &["save", "sample", "theirs.json", "-m", "theirs"]);
    assert_eq!(json(d, &["hash", "sample", "--json"]), root, "their edit leaves the root as it was");
    let with_theirs = json(d, &["export", "sample"]);
    assert!(with_theirs.to_string().contains("4242"));

    // Mine, from the export before theirs: refused, nothing saved.
    std::fs::write(d.join("mine.json"), cli_support::bump_an_integer_constant(&text)).unwrap();
    let out = lmstore(d, &["save", "sample", "mine.json", "-m", "mine"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has changed since mine.json was exported"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(json(d, &["export", "sample"]), with_theirs, "nothing was saved");

    // With --force it replaces what is stored, their type included.
    assert!(ok(d, &["save", "sample", "mine.json", "-m", "mine", "--force"]).contains("1 deleted"));
    assert!(!json(d, &["export", "sample"]).to_string().contains("4242"));
}

/// Revisions are small numbers that many programs share: an export of one program is
/// not saved over another at the same revision without `--force` (the root it
/// records tells them apart).
#[test]
fn an_export_of_one_program_is_not_saved_over_another_at_the_same_revision() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["generate", "--nodes", "40", "--name", "a", "--seed", "1"]);
    ok(d, &["generate", "--nodes", "40", "--name", "b", "--seed", "2"]);
    ok(d, &["export", "a", "-o", "a.json"]);
    let b = json(d, &["hash", "b", "--json"]);
    let out = lmstore(d, &["save", "b", "a.json"]);
    assert!(!out.status.success(), "saved a's export over b");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has changed since a.json was exported") && err.contains("--force"), "{err}");
    assert_eq!(json(d, &["hash", "b", "--json"]), b, "b is as it was");
}

/// A save records the revision it committed in the file, so the file saves again
/// after another edit; also when another program's damaged row keeps the listing
/// from being read (the revision was once taken from the listing, and the second
/// save was refused as stale).
#[test]
fn an_export_saves_again_after_a_save_even_beside_a_damaged_program() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["generate", "--nodes", "40", "--name", "a", "--seed", "1"]);
    ok(d, &["generate", "--nodes", "40", "--name", "b", "--seed", "2"]);
    ok(d, &["export", "a", "-o", "a.json"]);
    let conn = rusqlite::Connection::open(d.join("lmlang.db")).unwrap();
    conn.execute("UPDATE lmlang_programs SET node_count = 'garbage' WHERE id = 2", []).unwrap();
    drop(conn);
    for k in 1..=2 {
        let text = std::fs::read_to_string(d.join("a.json")).unwrap();
        std::fs::write(d.join("a.json"), cli_support::bump_an_integer_constant(&text)).unwrap();
        let out = lmstore(d, &["save", "a", "a.json", "-m", &format!("edit {k}")]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "save {k}: {err}");
        assert!(!err.contains("could not record"), "save {k}: {err}");
    }
}

/// A save run again with a file that still records the revision before it (the first
/// run's answer was lost, or the file was copied before it was updated) finds the
/// program already holding what the file holds: nothing to save, and no refusal.
#[test]
fn a_save_retried_with_the_file_as_it_was_saves_nothing_and_is_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["generate", "--nodes", "40", "--name", "a", "--seed", "1"]);
    ok(d, &["export", "a", "-o", "a.json"]);
    let text = std::fs::read_to_string(d.join("a.json")).unwrap();
    let edited = cli_support::bump_an_integer_constant(&text);
    std::fs::write(d.join("a.json"), &edited).unwrap();
    std::fs::write(d.join("copy.json"), &edited).unwrap();
    ok(d, &["save", "a", "a.json"]);
    assert!(ok(d, &["save", "a", "copy.json"]).contains("already holds"));
}

/// `tag P NAME` names the program's current revision. It used to name the newest
/// history entry, which after a commit made with recording off is an older state,
/// one that `diff` and `checkout` then could not read back either.
#[test]
fn a_tag_without_a_revision_names_the_current_one_or_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let store = SqliteStore::open(d.join("lmlang.db")).unwrap();
    let p = store.find_program("sample").unwrap();
    let main = store.load_program(p).unwrap().functions().find(|f| f.name == "main").unwrap().id;
    store.set_history(true);
    store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    store.set_history(false);
    store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    let out = lmstore(d, &["tag", "sample", "now"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("revision 3, which its history does not hold"), "{err}");
    assert!(store.tags(p).unwrap().is_empty(), "nothing was tagged");
    assert!(ok(d, &["tag", "sample", "then", "--revision", "2"]).contains("then names revision 2"));
    store.set_history(true);
    store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    assert!(ok(d, &["tag", "sample", "now"]).contains("now names revision 4"));
    ok(d, &["diff", "sample@now", "sample@4"]);
    // Revision 2 is recorded, but the unrecorded commit after it cannot be stepped back
    // across (`set_history`): said, not guessed.
    assert!(!lmstore(d, &["diff", "sample@then", "sample@now"]).status.success());
}

/// Two `save`s of edits made to the same export, run at once: both passed the stale
/// check (made before the write) and the second silently undid the first. The check is
/// now made again inside the write, so exactly one saves and the other says why.
#[test]
fn two_saves_of_one_export_at_once_never_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    for round in 0..3 {
        ok(d, &["export", "generated-10k", "-o", "base.json"]);
        let text = std::fs::read_to_string(d.join("base.json")).unwrap();
        let a = cli_support::bump_an_integer_constant(&text);
        std::fs::write(d.join("a.json"), &a).unwrap();
        std::fs::write(d.join("b.json"), cli_support::bump_an_integer_constant(&a)).unwrap();
        let save = |file: &str| cli_support::spawn(d, &["save", "generated-10k", file]);
        let (a, b) = (save("a.json"), save("b.json"));
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let (winner, loser) = match (a.status.success(), b.status.success()) {
            (true, false) => ("a.json", b),
            (false, true) => ("b.json", a),
            _ => panic!("round {round}: exactly one save must succeed: {a:?} {b:?}"),
        };
        let err = String::from_utf8_lossy(&loser.stderr);
        assert!(err.contains("changed"), "round {round}: {err}");
        // The stored program is the winner's file, whole.
        ok(d, &["import", winner, "--name", "winner"]);
        assert_eq!(
            json(d, &["hash", "generated-10k", "--json"])["program"],
            json(d, &["hash", "winner", "--json"])["program"]
        );
        ok(d, &["delete", "winner"]);
    }
}

/// `@` names a revision (`PROGRAM@REV`), so lmstore makes no program whose name holds
/// one, and a checkout's file carries a name import can take.
#[test]
fn no_program_name_reads_as_a_revision() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    ok(d, &["checkout", "sample", "--revision", "1", "-o", "r1.json"]);
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("r1.json")).unwrap()).unwrap();
    assert_eq!(file["name"], "sample r1");
    ok(d, &["import", "r1.json"]);
    for args in [
        &["import", "r1.json", "--name", "sample@2"][..],
        &["generate", "--nodes", "10", "--name", "x@y"],
        &["checkout", "sample", "--revision", "1", "--as", "sample@1"],
    ] {
        let out = lmstore(d, args);
        assert!(!out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("contains '@'"), "{out:?}");
    }
}

/// An export whose root this build cannot compare (written under another hash
/// algorithm, or before the field existed) says nothing about edits made since: it
/// used to be saved over them silently. It is now refused unless `--force`. And a
/// program cannot be named like an id (`#3`), which `#N` always means.
#[test]
fn a_file_whose_root_cannot_be_compared_is_saved_only_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    ok(d, &["export", "sample", "-o", "old.json"]);
    let text = std::fs::read_to_string(d.join("old.json")).unwrap();
    std::fs::write(d.join("theirs.json"), cli_support::bump_an_integer_constant(&text)).unwrap();
    ok(d, &["save", "sample", "theirs.json"]);
    let theirs = json(d, &["hash", "sample", "--json"]);
    let mut old: serde_json::Value = serde_json::from_str(&text).unwrap();
    // As written before exports recorded the hash algorithm (and the revision).
    old.as_object_mut().unwrap().remove("hash_algorithm_version");
    old.as_object_mut().unwrap().remove("revision");
    std::fs::write(d.join("old.json"), serde_json::to_string(&old).unwrap()).unwrap();
    let out = lmstore(d, &["save", "sample", "old.json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("records no root this lmstore can compare"), "{out:?}");
    assert_eq!(json(d, &["hash", "sample", "--json"]), theirs, "nothing was saved");
    ok(d, &["save", "sample", "old.json", "--force"]);
    assert_ne!(json(d, &["hash", "sample", "--json"]), theirs);

    let out = lmstore(d, &["import", "theirs.json", "--name", "#1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("reads as a program id"), "{out:?}");
}

/// Revisions and tags that are not there are named as the user named the program, a
/// number past u64 is no tag, and names echoed back cannot write terminal escapes.
#[test]
fn missing_tags_and_revisions_are_named_as_given_and_names_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let fails = |args: &[&str]| {
        let out = lmstore(d, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = fails(&["diff", "sample@nosuch", "sample"]);
    assert!(err.contains("sample has no tag \"nosuch\"") && !err.contains("#1"), "{err}");
    let err = fails(&["checkout", "sample", "--revision", "nosuch"]);
    assert!(err.contains("sample has no tag \"nosuch\""), "{err}");
    let err = fails(&["checkout", "sample", "--revision", "99999999999999999999"]);
    assert!(err.contains("is no revision of sample"), "{err}");
    let out = ok(d, &["tag", "sample", "bad\u{1b}[31mred"]);
    assert!(!out.contains('\u{1b}') && out.contains("names revision"), "{out:?}");
    let out = ok(d, &["tag", "sample", "bad\u{1b}[31mred", "--delete"]);
    assert!(!out.contains('\u{1b}') && out.contains("removed tag"), "{out:?}");
}

/// A node deleted from an export (its edges with it) is saved back only once its ids
/// are listed as holes; until then the refusal names the ids and says so.
#[test]
fn a_node_deleted_from_an_export_is_named_until_listed_as_a_hole() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    ok(d, &["export", "sample", "-o", "s.json"]);
    let mut doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("s.json")).unwrap()).unwrap();
    // `print` (n27) and its two edges go; a node that stays (n20) is listed as a hole.
    let p = &mut doc["program"];
    p["nodes"].as_array_mut().unwrap().retain(|n| n["id"] != 27);
    let edges = p["edges"].as_array_mut().unwrap();
    let gone: Vec<u64> =
        edges.iter().filter(|e| e["source"] == 27 || e["target"] == 27).map(|e| e["id"].as_u64().unwrap()).collect();
    edges.retain(|e| e["source"] != 27 && e["target"] != 27);
    doc["holes"]["nodes"].as_array_mut().unwrap().push(20.into());
    std::fs::write(d.join("edited.json"), doc.to_string()).unwrap();

    let out = lmstore(d, &["save", "sample", "edited.json"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let edge_ids = gone.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
    assert!(err.contains("node ids missing from the file but not listed as holes: 27;"), "{err}");
    assert!(err.contains(&format!("edge ids missing from the file but not listed as holes: {edge_ids};")), "{err}");
    assert!(err.contains("list their ids under \"holes\""), "{err}");
    assert!(err.contains("node ids listed as holes but present in the file: 20;"), "{err}");

    let holes = &mut doc["holes"];
    holes["nodes"].as_array_mut().unwrap().retain(|id| id != 20);
    holes["nodes"].as_array_mut().unwrap().push(27.into());
    holes["edges"].as_array_mut().unwrap().extend(gone.iter().map(|&id| id.into()));
    std::fs::write(d.join("edited.json"), doc.to_string()).unwrap();
    ok(d, &["save", "sample", "edited.json"]);
    let diff = json(d, &["diff", "sample", "edited.json", "--json"]);
    assert!(diff["changed"].as_array().unwrap().is_empty(), "saved as edited: {diff}");
}

/// Four recorded edits after the demo: `sample` has revisions 1 to 5 in its history.
/// The store and the program are returned for checks through the library.
fn sample_at_revision_5(d: &std::path::Path) -> (SqliteStore, ProgramId) {
    ok(d, &["demo"]);
    let store = SqliteStore::open(d.join("lmlang.db")).unwrap();
    let p = store.find_program("sample").unwrap();
    let main = store.load_program(p).unwrap().functions().find(|f| f.name == "main").unwrap().id;
    store.set_history(true);
    for _ in 0..4 {
        store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    }
    (store, p)
}

/// A tag on one revision is not moved to another by a slip: that takes --force, and
/// the move is reported.
#[test]
fn a_tag_moves_to_another_revision_only_with_force_and_says_from_where() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (store, p) = sample_at_revision_5(d);
    ok(d, &["tag", "sample", "release", "--revision", "2"]);
    let out = lmstore(d, &["tag", "sample", "release", "--revision", "5"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("release already names revision 2 of sample") && err.contains("--force"), "{err}");
    assert_eq!(store.tagged(p, "release").unwrap(), 2, "the tag stayed");
    let out = ok(d, &["tag", "sample", "release", "--revision", "5", "--force"]);
    assert!(out.contains("release names revision 5 of sample (moved from revision 2)"), "{out}");
    // Naming the revision it already names is no move.
    let out = ok(d, &["tag", "sample", "release", "--revision", "5"]);
    assert!(out.contains("release names revision 5 of sample") && !out.contains("moved"), "{out}");
}

/// Two `tag`s of one name at different revisions, run at once, used to both find the
/// tag free (checked before their writes) and both say they named their revision, the
/// second moving the first's tag unannounced. The check is now made inside the write:
/// both wait behind another process's write, and once it ends exactly one tags and
/// the other is refused with where the tag is.
#[test]
fn two_tags_of_one_name_at_once_never_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (store, p) = sample_at_revision_5(d);
    let holder = rusqlite::Connection::open(d.join("lmlang.db")).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let tag = |revision: &str| {
        cli_support::spawn(d, &["--busy-timeout", "60", "tag", "sample", "rel", "--revision", revision])
    };
    let (one, two) = (tag("1"), tag("2"));
    // Long enough for both to reach their writes, which wait for the holder's.
    std::thread::sleep(std::time::Duration::from_secs(3));
    holder.execute_batch("COMMIT").unwrap();
    let one = cli_support::within_a_minute(one, "tag --revision 1");
    let two = cli_support::within_a_minute(two, "tag --revision 2");
    let (winner, won, lost) = match (one.status.success(), two.status.success()) {
        (true, false) => (1, one, two),
        (false, true) => (2, two, one),
        _ => panic!("exactly one tag must succeed: {one:?} {two:?}"),
    };
    let out = String::from_utf8_lossy(&won.stdout);
    assert!(out.contains(&format!("rel names revision {winner} of sample")) && !out.contains("moved"), "{out}");
    let err = String::from_utf8_lossy(&lost.stderr);
    assert!(
        err.contains(&format!("rel already names revision {winner} of sample")) && err.contains("--force"),
        "{err}"
    );
    assert_eq!(store.tagged(p, "rel").unwrap(), winner, "the winner's tag stayed");
}

/// A missing tag or a pruned revision given to `tag` is named with the program as the
/// user named it, not by the id the store knows it by.
#[test]
fn tag_names_the_program_as_given_when_a_tag_or_revision_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sample_at_revision_5(d);
    let out = lmstore(d, &["tag", "sample", "nosuch", "--delete"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sample has no tag \"nosuch\"") && !err.contains('#'), "{err}");
    ok(d, &["prune", "sample", "--keep", "1"]);
    let out = lmstore(d, &["tag", "sample", "old", "--revision", "3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sample has no revision 3") && !err.contains('#'), "{err}");
}
