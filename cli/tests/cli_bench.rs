//! `lmstore bench` end to end on a small program: it runs, prints a table with goals,
//! and writes one JSON object per size with every figure present and plausible.

use std::process::Command;

#[test]
fn bench_writes_a_table_and_one_json_object_per_size() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("bench.json");
    let out = Command::new(env!("CARGO_BIN_EXE_lmstore"))
        .args(["bench", "--nodes", "300,600", "--reps", "1", "--dir"])
        .arg(dir.path())
        .arg("--json")
        .arg(&json_path)
        .env_remove("LMLANG_DB")
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    for figure in ["bulk save, new program", "load program", "find_nodes_by_owner", "database size", "raw floor"] {
        assert!(table.contains(figure), "{figure} missing from:\n{table}");
    }

    let text = std::fs::read_to_string(&json_path).unwrap();
    let reports: serde_json::Value = serde_json::from_str(&text).unwrap();
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["nodes"], 300);
    assert_eq!(reports[1]["nodes"], 600);
    for r in reports {
        for field in [
            "bulk_save_ms",
            "bulk_save_floor_ms",
            "bulk_save_with_checkpoint_ms",
            "bulk_save_with_checkpoint_floor_ms",
            "save_after_edit_ms",
            "node_commits_per_s",
            "node_commit_floor_per_s",
            "edge_commits_per_s",
            "load_ms",
            "load_floor_ms",
            "hash_ms",
            "rehash_us",
            "find_nodes_by_owner_us",
            "find_nodes_by_owner_floor_us",
            "find_edges_from_us",
            "find_edges_to_us",
            "bytes_per_node",
            "bytes_per_node_floor",
        ] {
            let v = r[field].as_f64().unwrap_or(-1.0);
            assert!(v > 0.0 && v.is_finite(), "{field} = {} in {r}", r[field]);
        }
        // The store and the floor hold the same rows, so their files are about the same size.
        let ratio = r["bytes_per_node"].as_f64().unwrap() / r["bytes_per_node_floor"].as_f64().unwrap();
        assert!((0.8..1.25).contains(&ratio), "{r}");
    }
    // The temporary databases are cleaned up: only the JSON file is left.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("bench.json")]);
}
