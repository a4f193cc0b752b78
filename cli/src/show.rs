//! `show`: a program's modules, types and functions, or one function's nodes and edges
//! in the readable notation (`n15  const f64 2.5`, `n15:0 -> n17:0  f64`).

use crate::output::{escape_controls, outln, print_json, print_table};
use crate::{CmdResult, Failure};
use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::{ComputeNodeOp, FlowEdge, FunctionId, ModuleId};
use serde::Serialize;
use std::process::ExitCode;

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

fn function_line(g: &ProgramGraph, f: FunctionId) -> FunctionLine {
    let text = g.notation();
    FunctionLine {
        id: f.0,
        name: text.function_name(f),
        signature: text.signature(f),
        closure: g.function(f).is_some_and(|d| d.is_closure),
        nodes: g.function_nodes(f).count(),
        root_hash: g.hashes().function(f).map(|h| h.to_hex()).unwrap_or_default(),
    }
}

fn short(hash: &str) -> &str {
    &hash[..16.min(hash.len())]
}

pub fn show_program(g: &ProgramGraph, json: bool) -> CmdResult {
    let text = g.notation();
    let modules: Vec<String> = g.modules().iter().map(|m| g.modules().path(m.id).join("::")).collect();
    let types: Vec<String> = g
        .types()
        .named()
        .map(|(id, _)| {
            let kind = g.types().get(id).map(|t| t.kind()).unwrap_or("?");
            format!("{} ({kind})", text.type_name(id))
        })
        .collect();
    let functions = g.functions().map(|f| function_line(g, f.id)).collect();
    let view = ProgramView { root_hash: g.hashes().program().to_hex(), modules, types, functions };
    if json {
        print_json(&view)?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("root hash {}", view.root_hash)?;
    outln!("\nmodules:")?;
    print_tree(g, ModuleId::ROOT, 1)?;
    outln!("\ntypes:")?;
    for t in &view.types {
        outln!("  {}", escape_controls(&t.to_string()))?;
    }
    outln!("\nfunctions:")?;
    let rows: Vec<Vec<String>> = view
        .functions
        .iter()
        .map(|f| {
            let name = if f.closure { format!("{} (closure)", f.name) } else { f.name.clone() };
            vec![name, f.signature.clone(), f.nodes.to_string(), short(&f.root_hash).to_string()]
        })
        .collect();
    print_table(&["NAME", "SIGNATURE", "NODES", "ROOT HASH"], &rows)?;
    Ok(ExitCode::SUCCESS)
}

/// The module tree, depth first, children in order; an explicit stack rather than
/// recursion, since a hand-written program may nest modules many thousands deep.
fn print_tree(g: &ProgramGraph, root: ModuleId, depth: usize) -> Result<(), Failure> {
    let mut stack = vec![(root, depth)];
    while let Some((m, depth)) = stack.pop() {
        let Some(def) = g.module(m) else { continue };
        let counts = (g.modules().functions_in(m).count(), g.modules().types_in(m).count());
        outln!("{}{} ({} functions, {} types)", "  ".repeat(depth), escape_controls(&def.name), counts.0, counts.1)?;
        let children: Vec<ModuleId> = g.modules().children(m).collect();
        stack.extend(children.into_iter().rev().map(|c| (c, depth + 1)));
    }
    Ok(())
}

#[derive(Serialize)]
struct FunctionDetail {
    function: FunctionLine,
    entry_node: Option<u32>,
    nodes: Vec<NodeLine>,
    edges: Vec<EdgeLine>,
}

/// A node in both forms: `text` for people, `op` for programs.
#[derive(Serialize)]
struct NodeLine {
    id: u32,
    text: String,
    op: ComputeNodeOp,
    hash: String,
}

#[derive(Serialize)]
struct EdgeLine {
    id: u32,
    text: String,
    source: u32,
    target: u32,
    edge: FlowEdge,
}

pub fn show_function(g: &ProgramGraph, f: FunctionId, json: bool) -> CmdResult {
    let text = g.notation();
    let def = g.function(f).ok_or_else(|| Failure::new(format!("function {f} vanished")))?;
    let nodes: Vec<NodeLine> = g
        .function_nodes(f)
        .filter_map(|n| {
            let node = g.node(n)?;
            Some(NodeLine {
                id: n.0,
                text: text.node(n),
                op: node.op.clone(),
                hash: g.hashes().node(n).map(|h| h.to_hex()).unwrap_or_default(),
            })
        })
        .collect();
    let edges: Vec<EdgeLine> = g
        .function_nodes(f)
        .flat_map(|n| g.outgoing(n))
        .map(|e| EdgeLine { id: e.id.0, text: text.edge(&e), source: e.source.0, target: e.target.0, edge: e.edge })
        .collect();
    let detail =
        FunctionDetail { function: function_line(g, f), entry_node: def.entry_node.map(|n| n.0), nodes, edges };
    if json {
        print_json(&detail)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Names and constants come from the database: control characters are shown
    // escaped, never sent to the terminal.
    outln!("{}", escape_controls(&format!("{}{}", detail.function.name, detail.function.signature)))?;
    outln!("root hash {}", detail.function.root_hash)?;
    if let Some(e) = detail.entry_node {
        outln!("entry n{e}")?;
    }
    outln!("\nnodes:")?;
    for n in &detail.nodes {
        outln!("  {}", escape_controls(&n.text))?;
    }
    outln!("\nedges:")?;
    for e in &detail.edges {
        outln!("  {}", escape_controls(&e.text))?;
    }
    Ok(ExitCode::SUCCESS)
}
