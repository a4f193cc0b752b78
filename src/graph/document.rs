//! `ProgramDocument`: a program as plain data, and assembly of a graph from it.
//!
//! This is the one interchange form: JSON export and import, `serde` for
//! `ProgramGraph`, and the stores' mapping all go through it. Ids are explicit, holes
//! are simply absent ids, and `next_ids` keeps them from being reused. Assembly accepts
//! any document: what petgraph cannot hold (an edge to a missing node, a duplicate id)
//! is left out and remembered as a violation, so `validate()` reports every problem.

use super::error::{Entity, Violation};
use super::journal::Journal;
use super::modules::ModuleTree;
use super::program::{EdgeSlot, FunctionEntry, NextIds, NodeSlot, ProgramGraph};
use super::semantic::SemanticIndex;
use crate::model::{
    ComputeNode, ComputeNodeOp, EdgeId, FlowEdge, FunctionDef, FunctionId, LmType, ModuleDef, NodeId, TypeId, TypeName,
    TypeRegistry,
};
use petgraph::stable_graph::StableGraph;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};

/// Version of the document layout; bumped on any incompatible change.
pub const DOCUMENT_FORMAT_VERSION: u32 = 1;

/// A user type with its name, if it has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeEntry {
    pub id: TypeId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<TypeName>,
    pub ty: LmType,
}

/// A compute node with its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeEntry {
    pub id: NodeId,
    pub owner: FunctionId,
    pub op: ComputeNodeOp,
}

/// A flow edge with its id and endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeEntry {
    pub id: EdgeId,
    pub source: NodeId,
    pub target: NodeId,
    pub edge: FlowEdge,
}

/// A whole program as plain data, every list in id order. The built-in types (ids 0
/// to 8) are implied and not listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramDocument {
    pub format_version: u32,
    pub next_ids: NextIds,
    pub modules: Vec<ModuleDef>,
    pub types: Vec<TypeEntry>,
    pub functions: Vec<FunctionDef>,
    pub nodes: Vec<NodeEntry>,
    pub edges: Vec<EdgeEntry>,
}

impl ProgramGraph {
    /// The graph as plain data.
    pub fn to_document(&self) -> ProgramDocument {
        ProgramDocument {
            format_version: DOCUMENT_FORMAT_VERSION,
            next_ids: self.next_ids(),
            modules: self.modules.iter().cloned().collect(),
            types: self
                .types
                .iter()
                .filter(|(id, _)| !id.is_builtin())
                .map(|(id, ty)| TypeEntry { id, name: self.types.name_of(id).cloned(), ty: ty.clone() })
                .collect(),
            functions: self.functions().cloned().collect(),
            nodes: self.nodes().map(|(id, n)| NodeEntry { id, owner: n.owner, op: n.op.clone() }).collect(),
            edges: self
                .edges()
                .map(|e| EdgeEntry { id: e.id, source: e.source, target: e.target, edge: e.edge })
                .collect(),
        }
    }

    /// Assembles a graph from a document and checks it: the graph if it is whole,
    /// otherwise every violation found.
    pub fn from_document(doc: ProgramDocument) -> Result<ProgramGraph, Vec<Violation>> {
        let g = Self::assemble(doc);
        if g.trusted { Ok(g) } else { Err(g.validate()) }
    }

    /// Assembles a graph without judging it; `validate()` tells what is wrong. For
    /// tools that must show a broken program rather than refuse it.
    pub fn assemble(doc: ProgramDocument) -> ProgramGraph {
        let mut problems = Vec::new();
        if doc.format_version != DOCUMENT_FORMAT_VERSION {
            problems.push(Violation::new(
                Entity::Program,
                format!("document format {} is not the supported {DOCUMENT_FORMAT_VERSION}", doc.format_version),
            ));
        }
        let mut next = doc.next_ids;
        // The id tables are dense, one slot per id ever handed out. A next id far
        // beyond every live id (a corrupt or hostile document) would make them
        // enormous, so it is reported and clamped instead of allocated.
        let bound = |live: usize, highest: Option<u32>| -> u32 {
            let highest = highest.map_or(0, |h| h as u64 + 1);
            (highest + (4 * live as u64).max(1 << 22)).min(u32::MAX as u64) as u32
        };
        let node_bound = bound(doc.nodes.len(), doc.nodes.iter().map(|n| n.id.0).max());
        if next.node > node_bound {
            problems.push(Violation::new(
                Entity::Program,
                format!("next_ids.node {} is implausibly far beyond the node ids", next.node),
            ));
            next.node = doc.nodes.iter().map(|n| n.id.0.saturating_add(1)).max().unwrap_or(0);
        }
        let edge_bound = bound(doc.edges.len(), doc.edges.iter().map(|e| e.id.0).max());
        if next.edge > edge_bound {
            problems.push(Violation::new(
                Entity::Program,
                format!("next_ids.edge {} is implausibly far beyond the edge ids", next.edge),
            ));
            next.edge = doc.edges.iter().map(|e| e.id.0.saturating_add(1)).max().unwrap_or(0);
        }

        let mut types = BTreeMap::new();
        let mut named = BTreeMap::new();
        for (id, ty) in TypeRegistry::new().iter() {
            types.insert(id, ty.clone());
        }
        for entry in doc.types {
            if entry.id.is_builtin() {
                problems.push(Violation::new(Entity::Type(entry.id), "redefines a built-in type"));
                continue;
            }
            if types.insert(entry.id, entry.ty).is_some() {
                problems.push(Violation::new(Entity::Type(entry.id), "id appears twice"));
            }
            if let Some(name) = entry.name {
                named.insert(entry.id, name);
            }
        }
        let mut seen_names = BTreeSet::new();
        for (id, n) in &named {
            if !seen_names.insert(n.name.clone()) {
                problems.push(Violation::new(Entity::Type(*id), format!("type name {:?} is used twice", n.name)));
            }
        }
        let types = TypeRegistry::from_parts(types, named, next.type_.max(TypeId::FIRST_USER.0));

        let mut module_defs = BTreeMap::new();
        for m in doc.modules {
            let id = m.id;
            if module_defs.insert(id, m).is_some() {
                problems.push(Violation::new(Entity::Module(id), "id appears twice"));
            }
        }
        let mut modules = ModuleTree::from_parts(module_defs, 0);
        // Keep the stored counter even when trailing modules were deleted.
        while modules.next_id().0 < next.module {
            modules.allocate();
        }
        if modules.next_id().0 > next.module {
            problems.push(Violation::new(Entity::Program, "a module id is not below next_ids.module"));
        }

        let mut functions = BTreeMap::new();
        for def in doc.functions {
            let id = def.id;
            modules.attach_function(def.module, &def.name, id);
            if functions.insert(id, FunctionEntry { def, nodes: BTreeSet::new() }).is_some() {
                problems.push(Violation::new(Entity::Function(id), "id appears twice"));
            }
        }
        for (id, n) in types.named() {
            modules.attach_type(n.module, id);
        }

        let mut compute = StableGraph::with_capacity(doc.nodes.len(), doc.edges.len());
        let mut node_index = vec![None; next.node as usize];
        for n in doc.nodes {
            let Some(slot) = node_index.get_mut(n.id.index()) else {
                problems.push(Violation::new(Entity::Node(n.id), "id is not below next_ids.node"));
                continue;
            };
            if slot.is_some() {
                problems.push(Violation::new(Entity::Node(n.id), "id appears twice"));
                continue;
            }
            if let Some(f) = functions.get_mut(&n.owner) {
                f.nodes.insert(n.id);
            }
            *slot = Some(compute.add_node(NodeSlot { id: n.id, node: ComputeNode { op: n.op, owner: n.owner } }));
        }
        let mut edge_index = vec![None; next.edge as usize];
        for e in doc.edges {
            let ends = (
                node_index.get(e.source.index()).copied().flatten(),
                node_index.get(e.target.index()).copied().flatten(),
            );
            let (Some(a), Some(b)) = ends else {
                problems.push(Violation::new(
                    Entity::Edge(e.id),
                    format!("endpoint {} or {} does not exist", e.source, e.target),
                ));
                continue;
            };
            let Some(slot) = edge_index.get_mut(e.id.index()) else {
                problems.push(Violation::new(Entity::Edge(e.id), "id is not below next_ids.edge"));
                continue;
            };
            if slot.is_some() {
                problems.push(Violation::new(Entity::Edge(e.id), "id appears twice"));
                continue;
            }
            *slot = Some(compute.add_edge(a, b, EdgeSlot { id: e.id, edge: e.edge }));
        }

        let mut g = ProgramGraph {
            compute,
            node_index,
            edge_index,
            types,
            modules,
            functions,
            next_function: next.function,
            semantic: SemanticIndex::default(),
            journal: Journal::new(),
            hashes: std::sync::OnceLock::new(),
            assembly_violations: problems,
            trusted: false,
        };
        g.rebuild_derived();
        g.trusted = g.validate().is_empty();
        g
    }
}

impl Serialize for ProgramGraph {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_document().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ProgramGraph {
    /// Accepts any well-formed document; call `validate()` to learn what is wrong.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ProgramDocument::deserialize(d).map(ProgramGraph::assemble)
    }
}
