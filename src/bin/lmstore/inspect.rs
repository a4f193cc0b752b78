//! `show` output, `hash`, `diff` and `verify`.

use crate::output::{print_json, print_table};
use crate::programs::resolve;
use crate::{CmdResult, Failure};
use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::hash;
use lmlang_storage::model::{FunctionId, LmType, ModuleId};
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::GraphStore;
use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;

fn type_name(g: &ProgramGraph, t: lmlang_storage::model::TypeId) -> String {
    if let Some(n) = g.types().name_of(t) {
        return n.name.clone();
    }
    match g.types().get(t) {
        Some(LmType::Scalar(s)) => format!("{s:?}").to_lowercase(),
        Some(LmType::Unit) => "unit".into(),
        Some(LmType::Never) => "never".into(),
        Some(LmType::Array { element, length }) => format!("[{}; {length}]", type_name(g, *element)),
        Some(LmType::Pointer { pointee, mutable }) => {
            format!("*{}{}", if *mutable { "mut " } else { "" }, type_name(g, *pointee))
        }
        Some(LmType::Function { params, return_type }) => {
            let ps: Vec<String> = params.iter().map(|p| type_name(g, *p)).collect();
            format!("fn({}) -> {}", ps.join(", "), type_name(g, *return_type))
        }
        _ => t.to_string(),
    }
}

fn signature(g: &ProgramGraph, f: FunctionId) -> String {
    let Some(def) = g.function(f) else { return String::new() };
    let params: Vec<String> = def.params.iter().map(|(n, t)| format!("{n}: {}", type_name(g, *t))).collect();
    format!("({}) -> {}", params.join(", "), type_name(g, def.return_type))
}

#[derive(Serialize)]
struct FunctionLine {
    id: u32,
    name: String,
    signature: String,
    closure: bool,
    nodes: usize,
    root_hash: String,
}

#[derive(Serialize)]
struct ProgramView {
    root_hash: String,
    modules: Vec<String>,
    types: Vec<String>,
    functions: Vec<FunctionLine>,
}

fn function_lines(g: &ProgramGraph) -> Vec<FunctionLine> {
    g.functions()
        .map(|f| FunctionLine {
            id: f.id.0,
            name: g.qualified_name(f.id).unwrap_or_default(),
            signature: signature(g, f.id),
            closure: f.is_closure,
            nodes: g.function_nodes(f.id).count(),
            root_hash: g.hashes().function(f.id).map(|h| h.to_hex()).unwrap_or_default(),
        })
        .collect()
}

pub fn show_program(g: &ProgramGraph, json: bool) -> CmdResult {
    let modules: Vec<String> = g.modules().iter().map(|m| g.modules().path(m.id).join("::")).collect();
    let types: Vec<String> = g
        .types()
        .named()
        .map(|(id, n)| {
            let kind = g.types().get(id).map(|t| t.kind()).unwrap_or("?");
            format!("{}::{} ({kind})", g.modules().path(n.module).join("::"), n.name)
        })
        .collect();
    let view = ProgramView { root_hash: g.hashes().program().to_hex(), modules, types, functions: function_lines(g) };
    if json {
        print_json(&view)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("root hash {}", view.root_hash);
    println!("\nmodules:");
    print_tree(g, ModuleId::ROOT, 1);
    println!("\ntypes:");
    for t in &view.types {
        println!("  {t}");
    }
    println!("\nfunctions:");
    let rows: Vec<Vec<String>> = view
        .functions
        .iter()
        .map(|f| {
            let name = if f.closure { format!("{} (closure)", f.name) } else { f.name.clone() };
            vec![name, f.signature.clone(), f.nodes.to_string(), f.root_hash[..16.min(f.root_hash.len())].to_string()]
        })
        .collect();
    print_table(&["NAME", "SIGNATURE", "NODES", "ROOT HASH"], &rows);
    Ok(ExitCode::SUCCESS)
}

fn print_tree(g: &ProgramGraph, m: ModuleId, depth: usize) {
    let Some(def) = g.module(m) else { return };
    let counts = (g.modules().functions_in(m).count(), g.modules().types_in(m).count());
    println!("{}{} ({} functions, {} types)", "  ".repeat(depth), def.name, counts.0, counts.1);
    for c in g.modules().children(m) {
        print_tree(g, c, depth + 1);
    }
}

#[derive(Serialize)]
struct FunctionDetail {
    function: FunctionLine,
    entry_node: Option<u32>,
    nodes: Vec<NodeLine>,
    edges: Vec<EdgeLine>,
}

#[derive(Serialize)]
struct NodeLine {
    id: u32,
    op: lmlang_storage::model::ComputeNodeOp,
    hash: String,
}

#[derive(Serialize)]
struct EdgeLine {
    id: u32,
    source: u32,
    target: u32,
    edge: lmlang_storage::model::FlowEdge,
}

pub fn show_function(g: &ProgramGraph, f: FunctionId, json: bool) -> CmdResult {
    let line =
        function_lines(g).into_iter().find(|l| l.id == f.0).ok_or_else(|| Failure("function vanished".into()))?;
    let nodes: Vec<NodeLine> = g
        .function_nodes(f)
        .filter_map(|n| {
            let node = g.node(n)?;
            Some(NodeLine {
                id: n.0,
                op: node.op.clone(),
                hash: g.hashes().node(n).map(|h| h.to_hex()).unwrap_or_default(),
            })
        })
        .collect();
    let edges: Vec<EdgeLine> = g
        .function_nodes(f)
        .flat_map(|n| g.outgoing(n))
        .map(|e| EdgeLine { id: e.id.0, source: e.source.0, target: e.target.0, edge: e.edge })
        .collect();
    let detail = FunctionDetail {
        function: line,
        entry_node: g.function(f).and_then(|d| d.entry_node).map(|n| n.0),
        nodes,
        edges,
    };
    if json {
        print_json(&detail)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} {}", detail.function.name, detail.function.signature);
    println!("root hash {}", detail.function.root_hash);
    if let Some(e) = detail.entry_node {
        println!("entry n{e}");
    }
    println!("\nnodes:");
    let rows: Vec<Vec<String>> = detail
        .nodes
        .iter()
        .map(|n| {
            vec![
                format!("n{}", n.id),
                serde_json::to_string(&n.op).unwrap_or_default(),
                n.hash[..16.min(n.hash.len())].to_string(),
            ]
        })
        .collect();
    print_table(&["ID", "OP", "HASH"], &rows);
    println!("\nedges:");
    let rows: Vec<Vec<String>> = detail
        .edges
        .iter()
        .map(|e| {
            vec![
                format!("e{}", e.id),
                format!("n{} -> n{}", e.source, e.target),
                serde_json::to_string(&e.edge).unwrap_or_default(),
            ]
        })
        .collect();
    print_table(&["ID", "FROM -> TO", "EDGE"], &rows);
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct HashView {
    program: String,
    functions: Vec<(String, String)>,
}

pub fn hash(store: &SqliteStore, program: &str, json: bool) -> CmdResult {
    let g = store.load_program(resolve(store, program)?)?;
    let mut functions: Vec<(String, String)> = g
        .functions()
        .map(|f| {
            (
                g.qualified_name(f.id).unwrap_or_default(),
                g.hashes().function(f.id).map(|h| h.to_hex()).unwrap_or_default(),
            )
        })
        .collect();
    functions.sort();
    let view = HashView { program: g.hashes().program().to_hex(), functions };
    if json {
        print_json(&view)?;
    } else {
        println!("program  {}", view.program);
        let rows: Vec<Vec<String>> = view.functions.iter().map(|(n, h)| vec![n.clone(), h.clone()]).collect();
        print_table(&["FUNCTION", "ROOT HASH"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}

/// A stored program, or an exported file when a file exists at that path.
fn program_or_file(store: &SqliteStore, what: &str) -> Result<ProgramGraph, Failure> {
    let path = Path::new(what);
    if path.is_file() {
        return crate::transfer::read_export(path).map(|(_, g)| g);
    }
    Ok(store.load_program(resolve(store, what)?)?)
}

pub fn diff(store: &SqliteStore, a: &str, b: &str, json: bool) -> CmdResult {
    let (ga, gb) = (program_or_file(store, a)?, program_or_file(store, b)?);
    let d = hash::diff(&ga, &gb);
    if json {
        print_json(&d)?;
    } else if d.is_empty() {
        println!("no differences (root hash {})", ga.hashes().program().to_hex());
    } else {
        for name in &d.added {
            println!("+ {name}");
        }
        for name in &d.removed {
            println!("- {name}");
        }
        for name in &d.changed {
            println!("~ {name}");
        }
        if d.types_differ {
            println!("~ named types differ");
        }
        if d.modules_differ {
            println!("~ modules differ");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize, Default)]
struct VerifyReport {
    integrity_check: Vec<String>,
    foreign_key_check: Vec<String>,
    programs: Vec<ProgramCheck>,
    ok: bool,
}

#[derive(Serialize)]
struct ProgramCheck {
    name: String,
    violations: Vec<String>,
    reload_equal: bool,
    hashes_consistent: bool,
    root_hash: String,
}

pub fn verify(store: &SqliteStore, program: Option<&str>, json: bool) -> CmdResult {
    let mut report = VerifyReport {
        integrity_check: store.integrity_check()?,
        foreign_key_check: store.foreign_key_check()?,
        ..Default::default()
    };
    let ids = match program {
        Some(p) => vec![resolve(store, p)?],
        None => store.list_programs()?.into_iter().map(|p| p.id).collect(),
    };
    let names: std::collections::HashMap<_, _> = store.list_programs()?.into_iter().map(|p| (p.id, p.name)).collect();
    for id in ids {
        let name = names.get(&id).cloned().unwrap_or_default();
        let check = match store.load_program(id) {
            Err(e) => ProgramCheck {
                name,
                violations: vec![e.to_string()],
                reload_equal: false,
                hashes_consistent: false,
                root_hash: String::new(),
            },
            Ok(g) => {
                let again = store.load_program(id)?;
                ProgramCheck {
                    name,
                    violations: g.validate().iter().map(|v| v.to_string()).collect(),
                    reload_equal: again == g && again.hashes().program() == g.hashes().program(),
                    hashes_consistent: hash::verify_index(&g),
                    root_hash: g.hashes().program().to_hex(),
                }
            }
        };
        report.programs.push(check);
    }
    report.ok = report.integrity_check.is_empty()
        && report.foreign_key_check.is_empty()
        && report.programs.iter().all(|p| p.violations.is_empty() && p.reload_equal && p.hashes_consistent);
    if json {
        print_json(&report)?;
    } else {
        let status = |ok: bool| if ok { "ok" } else { "FAILED" };
        println!("integrity_check    {}", status(report.integrity_check.is_empty()));
        for p in &report.integrity_check {
            println!("  {p}");
        }
        println!("foreign_key_check  {}", status(report.foreign_key_check.is_empty()));
        for p in &report.foreign_key_check {
            println!("  {p}");
        }
        for p in &report.programs {
            let ok = p.violations.is_empty() && p.reload_equal && p.hashes_consistent;
            println!("program {:<20} {}", p.name, status(ok));
            for v in &p.violations {
                println!("  {v}");
            }
            if !p.reload_equal {
                println!("  a second load differs from the first");
            }
            if !p.hashes_consistent {
                println!("  maintained hashes differ from a full recomputation");
            }
        }
    }
    Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
