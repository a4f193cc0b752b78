//! `dot`: a program, or one function, as a Graphviz picture.
//!
//! One cluster per function, labelled with its signature; nodes in the readable
//! notation, tinted by what they do; data edges solid and labelled `port->slot type`,
//! control edges dashed and labelled with their branch index; the entry node has a
//! double border and an `entry` arrow pointing at it. Pictures are rendered by Graphviz's `dot`,
//! which the tool runs when asked for an .svg, .png or .pdf file.

use crate::db::Db;
use crate::inspect::program_or_file;
use crate::programs::named_function;
use crate::{CmdResult, Failure};
use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::{ComputeNodeOp, ComputeOp, FlowEdge, FunctionId};
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{Seek as _, Write as _};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

/// How to get Graphviz, said whenever it is needed and missing.
const INSTALL_GRAPHVIZ: &str = "install Graphviz (Debian/Ubuntu: `sudo apt-get install graphviz`, macOS: `brew install \
                                graphviz`, others: https://graphviz.org/download/), or write DOT text with `-o FILE.dot` \
                                and render it elsewhere";

pub fn dot(
    store: Option<&Db>,
    program: &OsStr,
    function: Option<&str>,
    output: Option<&Path>,
    svg: Option<&Path>,
) -> CmdResult {
    let g = program_or_file(store, program)?;
    let program = &*program.to_string_lossy();
    let functions: Vec<FunctionId> = match function {
        Some(name) => vec![named_function(&g, name, program)?.ok_or_else(|| {
            Failure::new(format!("no function {name:?} in {program}; `lmstore show {program}` lists them"))
        })?],
        None => g.functions().map(|f| f.id).collect(),
    };
    let text = render(&g, program, &functions)?;
    let picture = svg.map(|p| (p, "svg")).or_else(|| output.and_then(|p| picture_format(p).map(|f| (p, f))));
    match (picture, output) {
        (Some((path, format)), _) => {
            run_graphviz(&text, format, path)?;
            crate::output::errln!("wrote {}", path.display());
        }
        (None, Some(path)) => {
            crate::output::write_atomically(path, text.as_bytes())?;
            crate::output::errln!("wrote {}", path.display());
        }
        (None, None) => write!(std::io::stdout().lock(), "{text}").map_err(crate::output::stdout_failed)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The Graphviz output format a file name asks for, if it names a picture.
fn picture_format(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "svg" => Some("svg"),
        "png" => Some("png"),
        "pdf" => Some("pdf"),
        _ => None,
    }
}

fn run_graphviz(text: &str, format: &str, path: &Path) -> Result<(), Failure> {
    // Graphviz reads the text from a file, not a pipe: one that exits before reading it
    // all would otherwise end this process by SIGPIPE (whose default action `main`
    // restores) before its status and message could be reported.
    let staged = || -> std::io::Result<std::fs::File> {
        let mut file = tempfile::tempfile()?;
        file.write_all(text.as_bytes())?;
        file.rewind()?;
        Ok(file)
    };
    let input = staged().map_err(|e| Failure::new(format!("cannot stage the DOT text for Graphviz: {e}")))?;
    // The picture comes back on standard output and is written as every other output
    // is (whole or not at all, never through another user's link), not by Graphviz.
    let ran = Command::new("dot").arg(format!("-T{format}")).stdin(input).stdout(Stdio::piped()).output();
    let done = match ran {
        Ok(done) => done,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::new(format!("Graphviz is not installed (no `dot` on PATH): {INSTALL_GRAPHVIZ}")));
        }
        Err(e) => return Err(Failure::new(format!("cannot run Graphviz's `dot`: {e}"))),
    };
    if !done.status.success() {
        let why = String::from_utf8_lossy(&done.stderr);
        return Err(Failure::new(format!("Graphviz failed ({}): {}", done.status, why.trim().replace('\n', "; "))));
    }
    crate::output::write_atomically(path, &done.stdout)
}

/// A DOT string literal: quotes and backslashes escaped, line breaks as `\n`, and any
/// other control or invisible formatting character written out (`\u{1b}`,
/// `\u{202e}`), as every other output of lmstore does: a stored name must not reach a
/// terminal as an escape sequence, nor reorder the text around it.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if crate::escape::is_hidden(c) => {
                for e in c.escape_default() {
                    if e == '\\' { out.push_str("\\\\") } else { out.push(e) }
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A tint per kind of operation, so control, calls, I/O and contracts stand out.
fn fill(op: &ComputeNodeOp) -> &'static str {
    use ComputeOp::*;
    match op {
        ComputeNodeOp::Core(Const { .. } | Parameter { .. } | CaptureAccess { .. }) => "#e8f0fe",
        ComputeNodeOp::Core(Call { .. } | IndirectCall | MakeClosure { .. }) => "#e6f4ea",
        op if op.is_control_flow() => "#fff4d6",
        op if op.is_io() => "#f3e8fd",
        op if op.is_contract() => "#fde8e8",
        _ => "#ffffff",
    }
}

/// The DOT text of `functions` of `g`, titled `title`.
pub fn render(g: &ProgramGraph, title: &str, functions: &[FunctionId]) -> Result<String, std::fmt::Error> {
    let text = g.notation();
    let mut out = String::new();
    writeln!(out, "digraph {} {{", quoted(title))?;
    writeln!(out, "  graph [fontname=\"Helvetica\", fontsize=12, nodesep=0.3, ranksep=0.45];")?;
    writeln!(
        out,
        "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\", fontsize=11];"
    )?;
    writeln!(out, "  edge [fontname=\"Helvetica\", fontsize=9];")?;
    for &f in functions {
        let Some(def) = g.function(f) else { continue };
        writeln!(out, "  subgraph {} {{", quoted(&format!("cluster_{f}")))?;
        let label = format!("{}{}", text.function_name(f), text.signature(f));
        writeln!(out, "    label={}; style=\"rounded\"; color=\"#888888\";", quoted(&label))?;
        if let Some(entry) = def.entry_node {
            let marker = quoted(&format!("{f}_entry"));
            writeln!(out, "    {marker} [shape=plaintext, style=\"\", label=\"entry\", fontsize=9];")?;
            writeln!(out, "    {marker} -> {} [arrowsize=0.6];", quoted(&entry.to_string()))?;
        }
        for n in g.function_nodes(f) {
            let Some(node) = g.node(n) else { continue };
            let entry = if def.entry_node == Some(n) { ", peripheries=2" } else { "" };
            writeln!(
                out,
                "    {} [label={}, fillcolor=\"{}\"{entry}];",
                quoted(&n.to_string()),
                quoted(&text.node(n)),
                fill(&node.op)
            )?;
        }
        for e in g.function_nodes(f).flat_map(|n| g.outgoing(n)) {
            let (from, to) = (quoted(&e.source.to_string()), quoted(&e.target.to_string()));
            let carried = text.edge_label(&e.edge);
            match e.edge {
                FlowEdge::Data { source_port, target_port, .. } => {
                    let label = quoted(&format!("{source_port}→{target_port} {carried}"));
                    writeln!(out, "    {from} -> {to} [label={label}];")?;
                }
                FlowEdge::Control { branch_index: Some(_) } => {
                    writeln!(out, "    {from} -> {to} [style=dashed, label={}];", quoted(&carried))?;
                }
                FlowEdge::Control { branch_index: None } => {
                    writeln!(out, "    {from} -> {to} [style=dashed];")?;
                }
            }
        }
        writeln!(out, "  }}")?;
    }
    writeln!(out, "}}")?;
    Ok(out)
}
