//! Change detection between two programs by function root.

use crate::graph::ProgramGraph;
use serde::Serialize;
use std::collections::BTreeMap;

/// Functions added, removed and changed from `a` to `b`, by qualified name, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ProgramDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// Whether anything outside function bodies differs (types, modules).
    pub program_root_differs: bool,
}

impl ProgramDiff {
    /// Whether the two programs hash the same.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty() && !self.program_root_differs
    }
}

fn roots(g: &ProgramGraph) -> BTreeMap<String, crate::hash::ContentHash> {
    let hashes = g.hashes();
    g.functions().filter_map(|f| Some((g.qualified_name(f.id)?, hashes.function(f.id)?))).collect()
}

/// Compares two programs, or a program and what a store holds (load it first). Cost:
/// one pass over the functions; bodies are compared through their roots.
pub fn diff(a: &ProgramGraph, b: &ProgramGraph) -> ProgramDiff {
    let (ra, rb) = (roots(a), roots(b));
    let mut d = ProgramDiff::default();
    for (name, h) in &ra {
        match rb.get(name) {
            None => d.removed.push(name.clone()),
            Some(other) if other != h => d.changed.push(name.clone()),
            _ => {}
        }
    }
    d.added = rb.keys().filter(|n| !ra.contains_key(*n)).cloned().collect();
    d.program_root_differs = a.hashes().program() != b.hashes().program();
    d
}
