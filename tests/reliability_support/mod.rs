//! Shared support of the `reliability_*` tests: a small program that has one of every
//! kind of row (so corruption and migration tests can aim at each), and helpers to run
//! a step with a time limit and to snapshot a database file.

#![allow(dead_code)]

use indexmap::IndexMap;
use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::*;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

/// Ids of the sample's entities, to aim SQL at their rows.
#[derive(Debug, Clone, Copy)]
pub struct SampleIds {
    pub util: ModuleId,
    /// A module with nothing in it (deletable).
    pub empty: ModuleId,
    pub point: TypeId,
    pub main: FunctionId,
    pub helper: FunctionId,
    pub closure: FunctionId,
    pub param: NodeId,
    pub nan: NodeId,
    pub seven: NodeId,
    pub add: NodeId,
    pub call: NodeId,
    pub cast: NodeId,
    pub make_point: NodeId,
    pub check: NodeId,
    pub ret: NodeId,
    pub deleted: NodeId,
    /// The data edge `nan -> add`.
    pub data_edge: EdgeId,
    /// The control edge `param -> ret` (branch 0).
    pub control_edge: EdgeId,
}

/// Names that must survive storage unchanged: quotes, SQL, NUL-free Unicode.
pub const ODD_NAMES: &[&str] = &[
    "it's",
    "say \"hi\"",
    "Robert'); DROP TABLE programs;--",
    "SELECT * FROM compute_nodes WHERE 1=1",
    "back\\slash",
    "tab\tnew\nline",
    "λ_ü_名前",
    "🦀 crab",
    "rtl \u{202e}txet",
    "%_*?[]",
    "\u{7f}\u{1}control",
    " leading and trailing ",
];

/// A small program with two modules (one empty), a named struct, two functions and a closure with
/// captures, nodes of every column shape (parameter index, NaN constant, integer
/// constant, arithmetic, call, cast, struct creation, contract message, return), data
/// and control edges, an entry node, and a deleted node (a hole).
pub fn sample_program() -> (ProgramGraph, SampleIds) {
    let mut g = ProgramGraph::new("root");
    let util = g.add_module(ModuleId::ROOT, "util 'x'", Visibility::Public).unwrap();
    let empty = g.add_module(util, "empty", Visibility::Private).unwrap();
    let fields: IndexMap<String, TypeId> = [("x \"q\"".to_string(), TypeId::F64), ("y".into(), TypeId::F64)].into();
    let point = g
        .register_named(
            "Point",
            LmType::Struct(StructDef {
                name: String::new(),
                type_id: TypeId(0),
                fields,
                module: util,
                visibility: Visibility::Public,
            }),
        )
        .unwrap();
    let main = g
        .add_function(ModuleId::ROOT, "main", Visibility::Public, vec![("n".into(), TypeId::I64)], TypeId::I64)
        .unwrap();
    let helper = g.add_function(util, "helper λ", Visibility::Private, vec![], TypeId::UNIT).unwrap();
    let captures = vec![Capture { name: "n".into(), captured_type: TypeId::I64, mode: CaptureMode::ByRef }];
    let closure = g.add_closure(main, "closure", vec![], TypeId::I64, captures).unwrap();
    let core = |op: ComputeOp| ComputeNodeOp::Core(op);
    let add = |g: &mut ProgramGraph, op: ComputeNodeOp| g.add_compute_node(main, op).unwrap();
    let param = add(&mut g, core(ComputeOp::Parameter { index: 0 }));
    let nan = add(&mut g, core(ComputeOp::Const { value: ConstValue::F64(f64::from_bits(0x7ff8_0000_0000_0001)) }));
    let seven = add(&mut g, core(ComputeOp::Const { value: ConstValue::I64(7) }));
    let deleted = add(&mut g, core(ComputeOp::Print));
    let sum = add(&mut g, core(ComputeOp::BinaryArith { op: ArithOp::Add }));
    let call = add(&mut g, core(ComputeOp::Call { target: helper }));
    let cast = add(&mut g, StructuredOp::Cast { target_type: TypeId::I64 }.into());
    let make_point = add(&mut g, StructuredOp::StructCreate { type_id: point }.into());
    let check = add(&mut g, core(ComputeOp::Precondition { message: "n >= 0 'or' \"else\"".into() }));
    let ret = add(&mut g, core(ComputeOp::Return));
    g.add_core_op(helper, ComputeOp::Return).unwrap();
    g.add_core_op(closure, ComputeOp::CaptureAccess { index: 0 }).unwrap();
    g.remove_compute_node(deleted).unwrap();
    let data_edge = g.add_data_edge(nan, sum, 0, 0, TypeId::F64).unwrap();
    g.add_data_edge(seven, sum, 0, 1, TypeId::I64).unwrap();
    g.add_data_edge(sum, cast, 0, 0, TypeId::F64).unwrap();
    g.add_data_edge(cast, ret, 0, 0, TypeId::I64).unwrap();
    let control_edge = g.add_control_edge(param, ret, Some(0)).unwrap();
    g.add_control_edge(check, call, None).unwrap();
    g.set_entry_node(main, Some(param)).unwrap();
    assert!(g.validate().is_empty());
    let ids = SampleIds {
        util,
        empty,
        point,
        main,
        helper,
        closure,
        param,
        nan,
        seven,
        add: sum,
        call,
        cast,
        make_point,
        check,
        ret,
        deleted,
        data_edge,
        control_edge,
    };
    (g, ids)
}

/// Runs `work` on another thread and waits at most `limit`: `Err` names a panic or a
/// hang instead of taking the test runner down with it.
pub fn within<T: Send + 'static>(limit: Duration, work: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => {
            let _ = handle.join();
            Ok(value)
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("panicked".into()),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("still running after {limit:?} (hang)")),
    }
}

/// A database file's bytes and modification time, to prove it was not touched.
#[derive(Debug, PartialEq, Eq)]
pub struct FileSnapshot {
    pub bytes: Vec<u8>,
    pub modified: SystemTime,
}

pub fn snapshot(path: &Path) -> FileSnapshot {
    FileSnapshot { bytes: std::fs::read(path).unwrap(), modified: std::fs::metadata(path).unwrap().modified().unwrap() }
}

/// The database file and its WAL and shared-memory companions.
pub fn companions(path: &Path) -> [PathBuf; 2] {
    let with = |suffix: &str| PathBuf::from(format!("{}{suffix}", path.display()));
    [with("-wal"), with("-shm")]
}

/// Copies a database file (with its WAL, if any) to `to`.
pub fn copy_db(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    for (a, b) in companions(from).iter().zip(companions(to)) {
        if a.exists() {
            std::fs::copy(a, b).unwrap();
        }
    }
}

/// Set in the child process of [`in_small_address_space`].
const CHILD: &str = "LMLANG_RELIABILITY_CHILD";

/// Whether this process is the child of [`in_small_address_space`].
pub fn is_small_address_space_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Runs the test `name` of this test binary again, in a child process limited to 2 GB
/// of address space (the test checks [`is_small_address_space_child`] to do its real
/// work). A regression that tries to allocate a whole id space then fails that test
/// with an allocation error instead of exhausting the machine. `Err` has the child's
/// status and output.
pub fn in_small_address_space(name: &str) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2000000 && exec \"$0\" --exact \"$1\" --test-threads 1 --nocapture")
        .arg(exe)
        .arg(name)
        .env(CHILD, "1")
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && stdout.contains("1 passed") {
        Ok(())
    } else {
        Err(format!("{}:\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr)))
    }
}
