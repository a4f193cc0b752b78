//! What differs between two programs (or a program and what a store holds), found by
//! comparing hashes: functions by root, nodes inside a changed function by local
//! context.

use super::digest::ContentHash;
use super::encode::TypeHasher;
use super::explain::local_context;
use crate::graph::ProgramGraph;
use crate::model::{FunctionId, NodeId};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Functions added, removed and changed from `a` to `b`, by qualified name
/// (`root::math::sqrt`), each list sorted; with node detail for the changed ones.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ProgramDiff {
    /// Functions only in `b`.
    pub added: Vec<String>,
    /// Functions only in `a`.
    pub removed: Vec<String>,
    /// Functions in both whose roots differ (body, signature, or a callee's path).
    pub changed: Vec<String>,
    /// One entry per name in `changed`, in the same order.
    pub details: Vec<FunctionChange>,
    /// Whether the named types' definitions differ.
    pub types_differ: bool,
    /// Whether the module trees differ (paths or visibility).
    pub modules_differ: bool,
    /// Whether the program roots differ. The root covers each function's root with its
    /// path, each named type's definition, each module's path and visibility, and the
    /// root module's name; it leaves out numbering (ids, holes, next ids) and anonymous
    /// types nothing refers to (registering an array type no one uses changes what a
    /// store holds, not the root). So `false` means the programs agree on all of that,
    /// bodies up to isomorphism when `hashes().is_exact(f)` holds, not that they store
    /// the same rows; see `docs/hashing.md`.
    pub program_root_differs: bool,
}

impl ProgramDiff {
    /// Whether the two programs hash the same (see [`Self::program_root_differs`] for
    /// what that covers).
    pub fn is_empty(&self) -> bool {
        !self.program_root_differs
    }
}

/// How one function with the same qualified name differs between `a` and `b`.
///
/// Nodes are matched by local context (what they compute, and each edge beyond their
/// data inputs with what the other end computes), as a multiset: ids need not correspond between the two programs. A node whose op or
/// wiring changed appears on both sides, and so do the nodes its change reaches (data
/// consumers, direct neighbours).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionChange {
    /// The qualified name, as in [`ProgramDiff::changed`].
    pub name: String,
    /// Whether the signature (parameters, return type, visibility, captures) changed.
    pub signature_changed: bool,
    /// Nodes of `a`'s function with no counterpart in `b`'s, ascending.
    pub removed_nodes: Vec<NodeId>,
    /// Nodes of `b`'s function with no counterpart in `a`'s, ascending.
    pub added_nodes: Vec<NodeId>,
}

fn roots(g: &ProgramGraph) -> BTreeMap<String, (FunctionId, ContentHash)> {
    let hashes = g.hashes();
    g.functions().filter_map(|f| Some((g.qualified_name(f.id)?, (f.id, hashes.function(f.id)?)))).collect()
}

/// Compares two programs. Cost: one pass over the functions, plus the size of the
/// functions that changed; unchanged bodies are skipped by their roots.
pub fn diff(a: &ProgramGraph, b: &ProgramGraph) -> ProgramDiff {
    let (ra, rb) = (roots(a), roots(b));
    let mut d = ProgramDiff::default();
    for (name, (fa, ha)) in &ra {
        match rb.get(name) {
            None => d.removed.push(name.clone()),
            Some((fb, hb)) if hb != ha => {
                d.changed.push(name.clone());
                d.details.push(function_change(a, *fa, b, *fb, name));
            }
            Some(_) => {}
        }
    }
    d.added = rb.keys().filter(|n| !ra.contains_key(*n)).cloned().collect();
    let (ia, ib) = (a.hashes(), b.hashes());
    d.types_differ = ia.type_defs != ib.type_defs;
    d.modules_differ = ia.modules != ib.modules;
    d.program_root_differs = ia.program() != ib.program();
    d
}

fn function_change(a: &ProgramGraph, fa: FunctionId, b: &ProgramGraph, fb: FunctionId, name: &str) -> FunctionChange {
    let (ia, ib) = (a.hashes(), b.hashes());
    let (mut ta, mut tb) = (TypeHasher::default(), TypeHasher::default());
    let mut unmatched: HashMap<ContentHash, Vec<NodeId>> = HashMap::new();
    for n in a.function_nodes(fa) {
        if let Some(c) = local_context(a, &mut ta, n) {
            unmatched.entry(c).or_default().push(n);
        }
    }
    let mut added_nodes = Vec::new();
    for n in b.function_nodes(fb) {
        let Some(c) = local_context(b, &mut tb, n) else { continue };
        match unmatched.get_mut(&c).and_then(Vec::pop) {
            Some(_) => {}
            None => added_nodes.push(n),
        }
    }
    let mut removed_nodes: Vec<NodeId> = unmatched.into_values().flatten().collect();
    removed_nodes.sort();
    FunctionChange {
        name: name.to_string(),
        signature_changed: ia.signature(fa) != ib.signature(fb),
        removed_nodes,
        added_nodes,
    }
}
