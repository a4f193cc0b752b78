//! What a person reads and sees in `lmstore`: `show` in the readable notation, `dot`
//! pictures, and node-level `diff` of programs that differ by one edit. Every program
//! here is the demo's sample, edited through an export file as a user would edit it.

mod cli_support;

use cli_support::{json, lmstore, ok};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

/// A fresh directory holding the demo's programs and `sample.json`, its export.
fn sample_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["demo"]);
    ok(dir.path(), &["export", "sample", "-o", "sample.json"]);
    dir
}

/// Writes `sample.json` changed by `edit` (given the whole export file) to `file`.
fn edited(d: &Path, file: &str, edit: impl FnOnce(&mut Value)) {
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(d.join("sample.json")).unwrap()).unwrap();
    edit(&mut doc);
    std::fs::write(d.join(file), doc.to_string()).unwrap();
}

fn node_mut(program: &mut Value, id: u64) -> &mut Value {
    program["nodes"].as_array_mut().unwrap().iter_mut().find(|n| n["id"] == id).unwrap()
}

/// Gives `main`'s nodes each other's ids (15, 20..=29 reversed), so every id in the
/// function now names a different node while the program is the same.
fn renumber_main(program: &mut Value) {
    let ids = [15u64, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29];
    let map = |id: &Value| -> Value {
        match ids.iter().position(|i| id == i) {
            Some(p) => json!(ids[ids.len() - 1 - p]),
            None => id.clone(),
        }
    };
    for n in program["nodes"].as_array_mut().unwrap() {
        n["id"] = map(&n["id"]);
    }
    program["nodes"].as_array_mut().unwrap().sort_by_key(|n| n["id"].as_u64());
    for e in program["edges"].as_array_mut().unwrap() {
        e["source"] = map(&e["source"]);
        e["target"] = map(&e["target"]);
    }
    let main = program["functions"].as_array_mut().unwrap().iter_mut().find(|f| f["name"] == "main").unwrap();
    main["entry_node"] = map(&main["entry_node"]);
}

fn set_const_f64(program: &mut Value, node: u64, value: f64) {
    node_mut(program, node)["op"] = json!({"Core": {"Const": {"value": {"F64": value}}}});
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn show_prints_one_line_per_node_and_edge_with_names_resolved() {
    let dir = sample_dir();
    let d = dir.path();
    let main = ok(d, &["show", "sample", "--function", "main"]);
    let mut got = lines(&main);
    assert!(got[1].starts_with("root hash ") && got[1].len() == "root hash ".len() + 64, "{main}");
    got.remove(1);
    assert_eq!(
        got,
        [
            "app::main() -> unit",
            "entry n15",
            "",
            "nodes:",
            "  n15  const f64 2.5",
            "  n20  make_closure app::scale",
            "  n21  const i64 10",
            "  n22  call app::math::sum_to",
            "  n23  call app::math::abs",
            "  n24  const f64 -0.0",
            "  n25  struct_create app::geometry::Point",
            "  n26  cast f64",
            "  n27  print",
            "  n28  invariant app::geometry::Point \"finite coordinates\"",
            "  n29  return",
            "",
            "edges:",
            "  n15:0 -> n20:0  f64",
            "  n21:0 -> n22:0  i64",
            "  n22:0 -> n23:0  i64",
            "  n23:0 -> n26:0  i64",
            "  n23:0 -> n27:0  i64",
            "  n24:0 -> n25:1  f64",
            "  n25:0 -> n28:0  app::geometry::Point",
            "  n26:0 -> n25:0  f64",
            "  n27 -> n29  control",
        ]
    );

    // Branches, contracts, parameters and captures by name.
    let abs = ok(d, &["show", "sample", "--function", "app::math::abs"]);
    for line in
        ["  n0  param 0 x: i64", "  n2  cmp lt", "  n3  if_else", "  n3 -> n4  branch 0", "  n3 -> n5  branch 1"]
    {
        assert!(lines(&abs).contains(&line), "{line:?} missing from:\n{abs}");
    }
    let sum_to = ok(d, &["show", "sample", "--function", "sum_to"]);
    assert!(lines(&sum_to).contains(&"  n8  precondition \"n >= 0\""), "{sum_to}");
    assert!(lines(&sum_to).contains(&"  n12 -> n9  control"), "the loop's back edge: {sum_to}");
    let scale = ok(d, &["show", "sample", "--function", "scale"]);
    assert_eq!(lines(&scale)[0], "app::scale(v: f64) -> f64 captures [factor: f64]");
    assert!(lines(&scale).contains(&"  n17  capture 0 factor: f64"), "{scale}");

    // The program view names types by their module path.
    let program = ok(d, &["show", "sample"]);
    assert!(lines(&program).contains(&"  app::geometry::Point (Struct)"), "{program}");

    // --json keeps the serialised form and adds the text.
    let main = json(d, &["show", "sample", "--function", "main", "--json"]);
    assert_eq!(main["nodes"][0]["op"], json!({"Core": {"Const": {"value": {"F64": 2.5}}}}));
    assert_eq!(main["nodes"][0]["text"], "n15  const f64 2.5");
    assert_eq!(main["edges"][0]["edge"], json!({"Data": {"source_port": 0, "target_port": 0, "value_type": 6}}));
    assert_eq!(main["edges"][0]["text"], "n15:0 -> n20:0  f64");
}

fn graphviz_installed() -> bool {
    Command::new("dot").arg("-V").output().is_ok_and(|o| o.status.success())
}

#[test]
fn dot_draws_clusters_solid_data_edges_dashed_control_edges_and_the_entry() {
    let dir = sample_dir();
    let d = dir.path();
    let text = ok(d, &["dot", "sample", "--function", "main"]);
    let got = lines(&text);
    assert_eq!(got.first(), Some(&"digraph \"sample\" {"), "{text}");
    assert_eq!(got.last(), Some(&"}"), "{text}");
    let clusters: Vec<&&str> = got.iter().filter(|l| l.trim_start().starts_with("subgraph \"cluster_")).collect();
    assert_eq!(clusters.len(), 1, "{text}");
    assert!(got.contains(&"    label=\"app::main() -> unit\"; style=\"rounded\"; color=\"#888888\";"), "{text}");
    let node_lines = got.iter().filter(|l| l.trim_start().starts_with("\"n") && l.contains("[label=\"n")).count();
    assert_eq!(node_lines, 11, "one statement per node of main:\n{text}");
    // Data edges: solid, labelled port->slot and type.
    assert!(got.contains(&"    \"n15\" -> \"n20\" [label=\"0→0 f64\"];"), "{text}");
    assert!(got.contains(&"    \"n24\" -> \"n25\" [label=\"0→1 f64\"];"), "{text}");
    assert!(got.contains(&"    \"n25\" -> \"n28\" [label=\"0→0 app::geometry::Point\"];"), "{text}");
    let data_edges = got.iter().filter(|l| l.contains("\" -> \"n") && l.contains("→")).count();
    assert_eq!(data_edges, 8, "{text}");
    assert!(got.iter().filter(|l| l.contains("→")).all(|l| !l.contains("dashed")), "{text}");
    // Control edges: dashed.
    assert!(got.contains(&"    \"n27\" -> \"n29\" [style=dashed];"), "{text}");
    // The entry node: a double border and an arrow from an `entry` marker.
    assert!(
        got.iter().any(|l| l.starts_with("    \"n15\" [label=\"n15  const f64 2.5\"") && l.contains("peripheries=2"))
    );
    assert_eq!(got.iter().filter(|l| l.contains("peripheries=2")).count(), 1, "{text}");
    assert!(got.iter().any(|l| l.ends_with("-> \"n15\" [arrowsize=0.6];")), "{text}");
    // Quotes inside labels are escaped.
    assert!(text.contains("invariant app::geometry::Point \\\"finite coordinates\\\""), "{text}");

    // Branch indices on control edges.
    let abs = ok(d, &["dot", "sample", "--function", "abs"]);
    assert!(lines(&abs).contains(&"    \"n3\" -> \"n5\" [style=dashed, label=\"branch 1\"];"), "{abs}");
    // The whole program: one cluster per function.
    let all = ok(d, &["dot", "sample"]);
    assert_eq!(all.matches("subgraph \"cluster_").count(), 4, "{all}");

    // DOT text to a file; a picture only through Graphviz.
    ok(d, &["dot", "sample", "--function", "main", "-o", "main.dot"]);
    assert_eq!(std::fs::read_to_string(d.join("main.dot")).unwrap(), text);
    if graphviz_installed() {
        ok(d, &["dot", "sample", "--function", "main", "--svg", "main.svg"]);
        let svg = std::fs::read_to_string(d.join("main.svg")).unwrap();
        assert!(svg.contains("<svg"), "{svg}");
        assert_eq!(svg.matches("class=\"cluster\"").count(), 1, "{svg}");
        assert_eq!(svg.matches("class=\"node\"").count(), 12, "11 nodes and the entry marker:\n{svg}");
        assert!(svg.contains("n22 &#160;call app::math::sum_to") || svg.contains("n22  call app::math::sum_to"));
        ok(d, &["dot", "sample", "-o", "all.svg"]);
        let all_svg = std::fs::read_to_string(d.join("all.svg")).unwrap();
        assert_eq!(all_svg.matches("class=\"cluster\"").count(), 4);
        // Graphviz reads every DOT we write without complaint.
        let checked =
            Command::new("dot").args(["-Tcanon", "-o", "/dev/null"]).arg(d.join("main.dot")).output().unwrap();
        assert!(checked.status.success() && checked.stderr.is_empty(), "{}", String::from_utf8_lossy(&checked.stderr));
    } else {
        eprintln!("Graphviz is not installed: the DOT structure was checked, no picture rendered");
    }
}

#[test]
fn dot_without_graphviz_says_how_to_install_it() {
    let dir = sample_dir();
    let d = dir.path();
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lmstore"))
        .args(["dot", "sample", "--function", "main", "--svg", "main.svg"])
        .current_dir(d)
        .env_remove("LMLANG_DB")
        .env("PATH", empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Graphviz is not installed"), "{err}");
    assert!(err.contains("apt-get install graphviz") && err.contains("brew install graphviz"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!d.join("main.svg").exists());
}

/// A Graphviz that fails before reading all of a large program's text is reported with
/// its status and message; lmstore is not killed by SIGPIPE on the unread rest.
#[test]
fn dot_reports_a_graphviz_that_exits_early() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Far more DOT text than a pipe holds.
    ok(d, &["generate", "--nodes", "5000", "--name", "big"]);
    let bin = d.join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("dot"), "#!/bin/sh\necho 'syntax error in line 1' >&2\nexit 3\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("dot"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lmstore"))
        .args(["dot", "big", "--svg", "big.svg"])
        .current_dir(d)
        .env_remove("LMLANG_DB")
        .env("PATH", &bin)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{:?}: {err}", out.status);
    assert!(err.contains("Graphviz failed") && err.contains("syntax error in line 1"), "{err}");
}

#[test]
fn diff_names_the_one_node_an_edit_changed() {
    let dir = sample_dir();
    let d = dir.path();
    edited(d, "edited.json", |doc| set_const_f64(&mut doc["program"], 15, 3.0));
    ok(d, &["import", "edited.json", "--name", "edited"]);

    assert_eq!(lines(&ok(d, &["diff", "sample", "edited"])), ["~ app::main"]);
    let expected = ["~ app::main", "    ~ n15  const f64 2.5  =>  n15  const f64 3.0"];
    assert_eq!(lines(&ok(d, &["diff", "sample", "edited", "--function", "main"])), expected);
    assert_eq!(lines(&ok(d, &["diff", "sample", "edited", "--nodes"])), expected);
    assert_eq!(
        lines(&ok(d, &["diff", "sample", "edited", "--function", "abs"])),
        ["= app::math::abs", "    same nodes and edges"]
    );

    let detail = json(d, &["diff", "sample", "edited", "--nodes", "--json"]);
    assert_eq!(detail["changed"], json!(["app::main"]));
    let main = &detail["functions"][0];
    assert_eq!(main["changed_nodes"], json!([{"before": "n15  const f64 2.5", "after": "n15  const f64 3.0"}]));
    for key in ["added_nodes", "removed_nodes", "added_edges", "removed_edges", "changed_edges"] {
        assert_eq!(main[key], json!([]), "{key}: {detail}");
    }
}

#[test]
fn diff_lists_a_removed_node_with_its_edges() {
    let dir = sample_dir();
    let d = dir.path();
    // Delete `print` (n27) and the two edges that touch it; the holes list them.
    edited(d, "no-print.json", |doc| {
        let p = &mut doc["program"];
        p["nodes"].as_array_mut().unwrap().retain(|n| n["id"] != 27);
        let edges = p["edges"].as_array_mut().unwrap();
        let gone: Vec<Value> =
            edges.iter().filter(|e| e["source"] == 27 || e["target"] == 27).map(|e| e["id"].clone()).collect();
        edges.retain(|e| e["source"] != 27 && e["target"] != 27);
        assert_eq!(gone.len(), 2);
        doc["holes"] = json!({"nodes": [27], "edges": gone});
    });

    let out = ok(d, &["diff", "sample", "no-print.json", "--nodes"]);
    assert_eq!(
        lines(&out),
        ["~ app::main", "    - n27  print", "    - n23:0 -> n27:0  i64", "    - n27 -> n29  control"],
        "{out}"
    );
    // And the other way round, as an addition.
    let out = ok(d, &["diff", "no-print.json", "sample", "--function", "main"]);
    assert_eq!(
        lines(&out),
        ["~ app::main", "    + n27  print", "    + n23:0 -> n27:0  i64", "    + n27 -> n29  control"],
        "{out}"
    );
}

#[test]
fn diff_matches_nodes_by_content_not_by_id() {
    let dir = sample_dir();
    let d = dir.path();
    edited(d, "renumbered.json", |doc| renumber_main(&mut doc["program"]));
    // Every id of main now names another node; nothing differs.
    assert_eq!(
        lines(&ok(d, &["diff", "sample", "renumbered.json", "--function", "main"])),
        ["= app::main", "    same nodes and edges"]
    );

    // Renumbered and edited: only the edit shows, each side with its own ids.
    edited(d, "both.json", |doc| {
        renumber_main(&mut doc["program"]);
        set_const_f64(&mut doc["program"], 29, 3.0);
    });
    assert_eq!(
        lines(&ok(d, &["diff", "sample", "both.json", "--function", "main"])),
        ["~ app::main", "    ~ n15  const f64 2.5  =>  n29  const f64 3.0"]
    );
}

/// A file in the current directory named like a stored program is not read in the
/// program's place (a stale export would be compared instead); the name is refused with
/// how to pick either.
#[test]
fn a_name_that_is_both_a_program_and_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["generate", "--nodes", "50", "--name", "p", "--seed", "1"]);
    ok(d, &["generate", "--nodes", "50", "--name", "q", "--seed", "2"]);
    // A stale export of q saved under p's name.
    ok(d, &["export", "q", "-o", "p"]);
    for args in [&["diff", "p", "q"][..], &["dot", "p"][..]] {
        let out = lmstore(d, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("both a stored program and a file") && err.contains("./p") && err.contains("#1"), "{err}");
    }
    assert!(ok(d, &["diff", "./p", "q"]).starts_with("no differences"));
    assert!(!ok(d, &["diff", "#1", "q"]).starts_with("no differences"));
}

#[test]
fn exports_are_compared_and_drawn_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["generate", "--nodes", "50", "--name", "p", "--seed", "1"]);
    ok(d, &["generate", "--nodes", "50", "--name", "q", "--seed", "2"]);
    ok(d, &["export", "p", "-o", "p.json"]);
    ok(d, &["export", "q", "-o", "q.json"]);
    let elsewhere = tempfile::tempdir().unwrap();
    let e = elsewhere.path();
    for f in ["p.json", "q.json"] {
        std::fs::copy(d.join(f), e.join(f)).unwrap();
    }
    // No database here: the files alone are compared and drawn, and none is created.
    assert!(ok(e, &["diff", "p.json", "p.json"]).starts_with("no differences"));
    assert!(!ok(e, &["diff", "p.json", "q.json"]).starts_with("no differences"));
    assert!(ok(e, &["dot", "q.json"]).starts_with("digraph"));
    assert!(!e.join("lmlang.db").exists());
    // A name that is not a file still needs the database, and says so.
    let out = lmstore(e, &["diff", "p.json", "p"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database at"), "{out:?}");
    assert!(!e.join("lmlang.db").exists());
}

#[test]
fn diff_of_an_unknown_function_is_an_error() {
    let dir = sample_dir();
    let out = lmstore(dir.path(), &["diff", "sample", "sample", "--function", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no function \"nope\" in sample or sample"), "{err}");
}

/// A plain function name two functions share (in different modules) is refused with
/// both qualified names, by `show`, `dot` and `diff --function`; it named whichever came
/// first. The qualified name picks one.
#[test]
fn a_function_name_two_functions_share_is_refused_with_their_qualified_names() {
    use lmlang_storage::graph::ProgramGraph;
    use lmlang_storage::model::{ModuleId, TypeId, Visibility};
    use lmlang_storage::sqlite::SqliteStore;
    use lmlang_storage::store::GraphStore;
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let mut g = ProgramGraph::new("app");
    let math = g.add_module(ModuleId::ROOT, "math", Visibility::Public).expect("module");
    for module in [ModuleId::ROOT, math] {
        g.add_function(module, "abs", Visibility::Public, vec![], TypeId::UNIT).expect("function");
    }
    SqliteStore::open(d.join("lmlang.db")).expect("store").insert_program("twins", &g).expect("insert");
    for args in [
        vec!["show", "twins", "--function", "abs"],
        vec!["dot", "twins", "--function", "abs"],
        vec!["diff", "twins", "twins", "--function", "abs"],
    ] {
        let out = lmstore(d, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("app::abs") && err.contains("app::math::abs") && err.contains("qualified"),
            "{args:?}: {err}"
        );
    }
    let shown = ok(d, &["show", "twins", "--function", "app::math::abs"]);
    assert!(shown.contains("app::math::abs"), "{shown}");
}
