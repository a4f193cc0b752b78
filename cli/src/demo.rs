//! `demo` and `generate`.
//!
//! The demo's sample is written the way an agent would build a program: a `geometry`
//! module with a `Point` struct and a `Shape` enum, a `math` module with `abs` (an
//! if/else diamond), `sum_to` (a loop with a back edge) and `scale` (a closure that
//! captures a factor), contracts, and a `main` that calls them and prints.

use crate::db::Db;
use crate::output::{Progress, outln};
use crate::{CmdResult, Failure};
use lmlang_storage::graph::{GraphError, ProgramGraph};
use lmlang_storage::model::*;
use lmlang_storage::store::{ProgramId, StorageError};
use lmlang_storage::synth::{SynthConfig, generate as synthesize};
use std::path::Path;
use std::process::ExitCode;

const SAMPLE: &str = "sample";
const GENERATED: &str = "generated-10k";

/// The hand-written sample program.
pub fn sample_program() -> Result<ProgramGraph, GraphError> {
    let mut g = ProgramGraph::new("app");
    let geometry = g.add_module(ModuleId::ROOT, "geometry", Visibility::Public)?;
    let math = g.add_module(ModuleId::ROOT, "math", Visibility::Public)?;
    let point = g.register_named_in(
        geometry,
        Visibility::Public,
        "Point",
        LmType::Struct(StructDef {
            name: String::new(),
            type_id: TypeId(0),
            fields: [("x".to_string(), TypeId::F64), ("y".to_string(), TypeId::F64)].into_iter().collect(),
            module: geometry,
            visibility: Visibility::Public,
        }),
    )?;
    g.register_named_in(
        geometry,
        Visibility::Public,
        "Shape",
        LmType::Enum(EnumDef {
            name: String::new(),
            type_id: TypeId(0),
            variants: [
                ("Dot".to_string(), EnumVariant { index: 0, payload: Some(point) }),
                ("Empty".to_string(), EnumVariant { index: 1, payload: None }),
            ]
            .into_iter()
            .collect(),
            module: geometry,
            visibility: Visibility::Public,
        }),
    )?;

    // math::abs(x: i64) -> i64 { if x < 0 { -x } else { x } }
    let abs = g.add_function(math, "abs", Visibility::Public, vec![("x".into(), TypeId::I64)], TypeId::I64)?;
    let x = g.add_core_op(abs, ComputeOp::Parameter { index: 0 })?;
    let zero = g.add_core_op(abs, ComputeOp::Const { value: ConstValue::I64(0) })?;
    let lt = g.add_core_op(abs, ComputeOp::Compare { op: CmpOp::Lt })?;
    let branch = g.add_core_op(abs, ComputeOp::IfElse)?;
    let neg = g.add_core_op(abs, ComputeOp::UnaryArith { op: UnaryArithOp::Neg })?;
    let phi = g.add_core_op(abs, ComputeOp::Phi)?;
    let ret = g.add_core_op(abs, ComputeOp::Return)?;
    g.add_data_edge(x, lt, 0, 0, TypeId::I64)?;
    g.add_data_edge(zero, lt, 0, 1, TypeId::I64)?;
    g.add_data_edge(lt, branch, 0, 0, TypeId::BOOL)?;
    g.add_data_edge(x, neg, 0, 0, TypeId::I64)?;
    g.add_data_edge(neg, phi, 0, 0, TypeId::I64)?;
    g.add_data_edge(x, phi, 0, 1, TypeId::I64)?;
    g.add_data_edge(phi, ret, 0, 0, TypeId::I64)?;
    g.add_control_edge(branch, neg, Some(0))?;
    g.add_control_edge(branch, phi, Some(1))?;
    g.add_control_edge(neg, phi, None)?;
    g.set_entry_node(abs, Some(x))?;

    // math::sum_to(n: i64) -> i64, a loop whose body jumps back to its header.
    let sum = g.add_function(math, "sum_to", Visibility::Public, vec![("n".into(), TypeId::I64)], TypeId::I64)?;
    let n = g.add_core_op(sum, ComputeOp::Parameter { index: 0 })?;
    let pre = g.add_core_op(sum, ComputeOp::Precondition { message: "n >= 0".into() })?;
    let head = g.add_core_op(sum, ComputeOp::Loop)?;
    let acc = g.add_core_op(sum, ComputeOp::Phi)?;
    let add = g.add_core_op(sum, ComputeOp::BinaryArith { op: ArithOp::Add })?;
    let back = g.add_core_op(sum, ComputeOp::Jump)?;
    let done = g.add_core_op(sum, ComputeOp::Return)?;
    let post = g.add_core_op(sum, ComputeOp::Postcondition { message: "result >= 0".into() })?;
    g.add_data_edge(n, pre, 0, 0, TypeId::I64)?;
    g.add_data_edge(n, add, 0, 0, TypeId::I64)?;
    g.add_data_edge(acc, add, 0, 1, TypeId::I64)?;
    g.add_data_edge(add, done, 0, 0, TypeId::I64)?;
    g.add_data_edge(add, post, 0, 0, TypeId::I64)?;
    g.add_control_edge(pre, head, None)?;
    g.add_control_edge(head, acc, Some(0))?;
    g.add_control_edge(acc, back, None)?;
    g.add_control_edge(back, head, None)?;
    g.add_control_edge(head, done, Some(1))?;
    g.set_entry_node(sum, Some(n))?;

    // main: builds a point, scales it with a closure, prints |sum_to(10)|.
    let main = g.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::UNIT)?;
    let factor = g.add_core_op(main, ComputeOp::Const { value: ConstValue::F64(2.5) })?;
    let scale = g.add_closure(
        main,
        "scale",
        vec![("v".into(), TypeId::F64)],
        TypeId::F64,
        vec![Capture { name: "factor".into(), captured_type: TypeId::F64, mode: CaptureMode::ByValue }],
    )?;
    let v = g.add_core_op(scale, ComputeOp::Parameter { index: 0 })?;
    let captured = g.add_core_op(scale, ComputeOp::CaptureAccess { index: 0 })?;
    let mul = g.add_core_op(scale, ComputeOp::BinaryArith { op: ArithOp::Mul })?;
    let sret = g.add_core_op(scale, ComputeOp::Return)?;
    g.add_data_edge(v, mul, 0, 0, TypeId::F64)?;
    g.add_data_edge(captured, mul, 0, 1, TypeId::F64)?;
    g.add_data_edge(mul, sret, 0, 0, TypeId::F64)?;
    let closure = g.add_core_op(main, ComputeOp::MakeClosure { function: scale })?;
    g.add_data_edge(factor, closure, 0, 0, TypeId::F64)?;
    let ten = g.add_core_op(main, ComputeOp::Const { value: ConstValue::I64(10) })?;
    let call_sum = g.add_core_op(main, ComputeOp::Call { target: sum })?;
    let call_abs = g.add_core_op(main, ComputeOp::Call { target: abs })?;
    let y = g.add_core_op(main, ComputeOp::Const { value: ConstValue::F64(-0.0) })?;
    let mk = g.add_structured_op(main, StructuredOp::StructCreate { type_id: point })?;
    let as_f64 = g.add_structured_op(main, StructuredOp::Cast { target_type: TypeId::F64 })?;
    let print = g.add_core_op(main, ComputeOp::Print)?;
    let inv = g.add_core_op(main, ComputeOp::Invariant { target_type: point, message: "finite coordinates".into() })?;
    let mret = g.add_core_op(main, ComputeOp::Return)?;
    g.add_data_edge(ten, call_sum, 0, 0, TypeId::I64)?;
    g.add_data_edge(call_sum, call_abs, 0, 0, TypeId::I64)?;
    g.add_data_edge(call_abs, as_f64, 0, 0, TypeId::I64)?;
    g.add_data_edge(as_f64, mk, 0, 0, TypeId::F64)?;
    g.add_data_edge(y, mk, 0, 1, TypeId::F64)?;
    g.add_data_edge(mk, inv, 0, 0, point)?;
    g.add_data_edge(call_abs, print, 0, 0, TypeId::I64)?;
    g.add_control_edge(print, mret, None)?;
    g.set_entry_node(main, Some(factor))?;
    Ok(g)
}

/// The start of the name a program is stored under while `replace` checks it.
fn staging_prefix(name: &str) -> String {
    format!("{name} (being stored by process ")
}

/// The name a program is stored under while this process's `replace` checks it: the
/// process id and the host, since processes of other hosts (a shared PostgreSQL
/// database) have ids of their own.
fn staging_name(name: &str) -> String {
    format!("{}{} on {})", staging_prefix(name), std::process::id(), host_name())
}

/// This machine's host name (empty if it cannot be read).
fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer it is given.
    let written = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if written != 0 {
        return String::new();
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// Deletes what demos of this host that died half-way (killed, say) left under a
/// staging name of `name`, this process's id included. Another host's are left: its
/// processes cannot be looked up from here.
fn clear_dead_staging(store: &Db, name: &str) -> Result<(), Failure> {
    let prefix = staging_prefix(name);
    let here = host_name();
    for left in store.list_programs()? {
        let owner = left.name.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix(')'));
        let Some((pid, host)) = owner.and_then(|o| o.split_once(" on ")) else { continue };
        if let Ok(pid) = pid.parse::<u32>()
            && host == here
            && (pid == std::process::id() || !process_alive(pid))
        {
            match store.delete_program(left.id) {
                Ok(()) | Err(StorageError::ProgramNotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// What the demo did with one of its programs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// The name was free: stored under it.
    New,
    /// A program of that name already held exactly the demo's: left as it was.
    Kept,
    /// `--force`: a program of that name was replaced.
    Replaced,
}

/// Stores `g` as `name` and checks that it reads back equal. A name still free takes
/// the program at once. A program already there that holds exactly `g` (an earlier
/// demo's) is kept with its history; one that holds anything else (the demo's sample
/// edited since, or a program of the user's that happens to have the name) is never
/// deleted unless `force`, and then only once the new one is stored and checked (see
/// [`replace`]).
fn store_and_check(store: &Db, name: &str, g: &ProgramGraph, force: bool) -> Result<Stored, Failure> {
    clear_dead_staging(store, name)?;
    if let Err(StorageError::ProgramNotFound(_)) = store.find_program(name) {
        match store.insert_program(name, g) {
            Ok(id) => {
                return match read_back_problem(store, id, g)? {
                    None => Ok(Stored::New),
                    Some(problem) => Err(Failure::new(format!("{name}: {problem}"))),
                };
            }
            // Another process stored one meanwhile: look at it as at any other.
            Err(StorageError::DuplicateProgramName(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let old = store.find_program(name)?;
    let differs = match read_back_problem(store, old, g) {
        Ok(None) => return Ok(Stored::Kept),
        Ok(Some(_)) => "holds something else than the demo's (edited since, or not the demo's)".to_string(),
        Err(Failure { message, .. }) => format!("could not be read ({message})"),
    };
    if force {
        return replace(store, name, g).map(|_| Stored::Replaced);
    }
    Err(Failure::new(format!(
        "a program named {name:?} is already stored and {differs}; it is left as it is. \
         `lmstore demo --force` replaces it (its history goes with it), or give the demo another database with --db"
    )))
}

/// What is wrong with the program `id` as read back, if it differs from `g`.
fn read_back_problem(store: &Db, id: ProgramId, g: &ProgramGraph) -> Result<Option<&'static str>, Failure> {
    let loaded = store.load_program(id)?;
    Ok(if &loaded != g {
        Some("the reloaded program differs from the stored one")
    } else if loaded.hashes().program() != g.hashes().program() {
        Some("the reloaded program hashes differently")
    } else {
        None
    })
}

/// Replaces the program named `name` by `g`: written under a name of its own first
/// and checked, then the old program is deleted and the new one renamed. A failure at
/// any step (a damaged file, say) leaves the old program, the new one or both, never
/// neither; another process storing the same name at the same moment makes it try
/// again.
fn replace(store: &Db, name: &str, g: &ProgramGraph) -> Result<ProgramId, Failure> {
    let staging = staging_name(name);
    let id = store.insert_program(&staging, g)?;
    if let Some(problem) = read_back_problem(store, id, g)? {
        // Best effort: the old program was not touched either way.
        let _ = store.delete_program(id);
        return Err(Failure::new(format!("{name}: {problem}")));
    }
    for _ in 0..3 {
        if let Ok(old) = store.find_program(name) {
            match store.delete_program(old) {
                Ok(()) | Err(StorageError::ProgramNotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match store.rename_program(id, name) {
            Ok(()) => return Ok(id),
            Err(StorageError::DuplicateProgramName(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Failure::new(format!("{name}: other processes kept storing a program of that name; this one is {staging:?}")))
}

/// Whether a process with this id runs (a signal-0 probe: nothing is sent). One we may
/// not signal runs, under another user.
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: kill with signal 0 only checks that the process exists and may be
    // signalled; it takes no pointers.
    let probed = unsafe { libc::kill(pid, 0) };
    probed == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

pub fn demo(store: &Db, db: &Path, force: bool) -> CmdResult {
    let progress = Progress::steps(3);
    progress.step("storing the sample");
    let sample = sample_program().map_err(|e| Failure::new(format!("building the sample failed: {e}")))?;
    let sample_stored = store_and_check(store, SAMPLE, &sample, force)?;
    progress.step("generating a 10k-node program");
    let generated = synthesize(&SynthConfig { nodes: 10_000, seed: 1, gaps: true });
    progress.step("storing it and reading it back");
    let generated_stored = store_and_check(store, GENERATED, &generated, force)?;
    progress.finish();
    outln!("stored in {}:", crate::db::redacted(&db.to_string_lossy()))?;
    outln!(
        "  {SAMPLE:<14} {:>6} nodes {:>6} edges {:>3} functions  root {}{}",
        sample.node_count(),
        sample.edge_count(),
        sample.functions().count(),
        &sample.hashes().program().to_hex()[..16],
        note(sample_stored)
    )?;
    outln!(
        "  {GENERATED:<14} {:>6} nodes {:>6} edges {:>3} functions  root {}{}",
        generated.node_count(),
        generated.edge_count(),
        generated.functions().count(),
        &generated.hashes().program().to_hex()[..16],
        note(generated_stored)
    )?;
    outln!("both reloaded equal to what was stored, with equal hashes.")?;
    outln!("\nnext, try:")?;
    outln!("  lmstore list")?;
    outln!("  lmstore show {SAMPLE} --function main")?;
    outln!("  lmstore dot {SAMPLE} --function main --svg main.svg")?;
    outln!("  lmstore export {SAMPLE} -o {SAMPLE}.json && lmstore import {SAMPLE}.json --name copy")?;
    outln!("  lmstore diff {SAMPLE} copy --nodes")?;
    outln!("  lmstore verify")?;
    Ok(ExitCode::SUCCESS)
}

/// The end of a program's line in the demo's report.
fn note(stored: Stored) -> &'static str {
    match stored {
        Stored::New => "",
        Stored::Kept => "  (already stored: kept)",
        Stored::Replaced => "  (replaced the program of that name)",
    }
}

pub fn generate(store: &Db, nodes: usize, name: &str, seed: u64, gaps: bool) -> CmdResult {
    crate::programs::check_new_name(name)?;
    let progress = Progress::steps(2);
    progress.step(format!("generating {nodes} nodes"));
    let g = synthesize(&SynthConfig { nodes, seed, gaps });
    progress.step(format!("storing {} nodes and {} edges", g.node_count(), g.edge_count()));
    let id = store.insert_program(name, &g)?;
    progress.finish();
    outln!(
        "stored {name:?} (id {}): {} nodes, {} edges, {} functions",
        id.0,
        g.node_count(),
        g.edge_count(),
        g.functions().count()
    )?;
    Ok(ExitCode::SUCCESS)
}
