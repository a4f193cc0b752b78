//! `ProgramDocument`: a program as plain data, and assembly of a graph from it.
//!
//! This is the one interchange form: JSON export and import, `serde` for
//! `ProgramGraph`, and the stores' mapping all go through it. Ids are explicit, holes
//! are simply absent ids, and `next_ids` keeps them from being reused. Assembly accepts
//! any document: what petgraph cannot hold (an edge to a missing node, a duplicate id)
//! is left out and remembered as a violation, so `validate()` reports every problem.

use super::edit::NameRule;
use super::error::{Entity, Violation};
use super::journal::Journal;
use super::modules::ModuleTree;
use super::program::{EdgeSlot, EdgeView, FunctionEntry, NextIds, NodeSlot, ProgramGraph};
use super::semantic::SemanticIndex;
use crate::model::{
    ComputeNode, ComputeNodeOp, EdgeId, FlowEdge, FunctionDef, FunctionId, LmType, ModuleDef, NodeId, TypeId, TypeName,
    TypeRegistry,
};
use petgraph::graph::NodeIndex;
use petgraph::stable_graph::StableGraph;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};

/// Version of the document layout; bumped on any incompatible change.
pub const DOCUMENT_FORMAT_VERSION: u32 = 1;

/// A user type with its name, if it has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeEntry {
    /// The type's id, 9 or above (built-ins are never listed).
    pub id: TypeId,
    /// Name, module and visibility of a named type; `None` (and absent from JSON) for
    /// an anonymous one. Structs and enums must have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<TypeName>,
    /// The type itself.
    pub ty: LmType,
}

/// A compute node with its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeEntry {
    /// The node's id, below `next_ids.node`.
    pub id: NodeId,
    /// The function whose body holds it.
    pub owner: FunctionId,
    /// What it does.
    pub op: ComputeNodeOp,
}

/// A flow edge with its id and endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeEntry {
    /// The edge's id, below `next_ids.edge`.
    pub id: EdgeId,
    /// Where the value or control comes from.
    pub source: NodeId,
    /// Where it goes; a node of the same function as `source`.
    pub target: NodeId,
    /// Kind, ports, value type or branch.
    pub edge: FlowEdge,
}

impl From<&EdgeEntry> for EdgeView {
    fn from(e: &EdgeEntry) -> Self {
        EdgeView { id: e.id, source: e.source, target: e.target, edge: e.edge }
    }
}

/// A whole program as plain data, every list in id order. The built-in types (ids 0
/// to 8) are implied and not listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramDocument {
    /// [`DOCUMENT_FORMAT_VERSION`] when written; any other value is a violation on
    /// assembly.
    pub format_version: u32,
    /// The ids the program hands out next, each above every id it has used, deleted
    /// ones included; this is what keeps ids from being reused after a round trip.
    pub next_ids: NextIds,
    /// Every module, the root included.
    pub modules: Vec<ModuleDef>,
    /// The user types (ids from 9).
    pub types: Vec<TypeEntry>,
    /// Every function and closure.
    pub functions: Vec<FunctionDef>,
    /// Every compute node.
    pub nodes: Vec<NodeEntry>,
    /// Every flow edge.
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
        Self::assemble(doc).checked(NameRule::Current)
    }

    /// [`from_document`](Self::from_document) for rows a store wrote: names are held
    /// to [`NameRule::Stored`], so a program stored before the current name rule still
    /// loads.
    pub(crate) fn from_stored(doc: ProgramDocument) -> Result<ProgramGraph, Vec<Violation>> {
        PartialGraph::stored(doc).finish().checked(NameRule::Stored)
    }

    /// Assembles a graph without judging it; `validate()` tells what is wrong. For
    /// tools that must show a broken program rather than refuse it.
    pub fn assemble(doc: ProgramDocument) -> ProgramGraph {
        PartialGraph::new(doc).finish()
    }

    /// The graph if it is known to be whole, otherwise every violation found, with
    /// names held to `names` (the rule the graph was assembled under).
    pub(crate) fn checked(self, names: NameRule) -> Result<ProgramGraph, Vec<Violation>> {
        if self.trusted { Ok(self) } else { Err(self.validate_by(names)) }
    }
}

/// A graph assembled in steps: everything but the flow edges, then the edges as they
/// come, then the checks of the edges.
///
/// A store reads a big program's edges on another connection while it reads the rest;
/// with this it builds and checks the nodes (their table, functions, modules, types,
/// the semantic graph) while the edges are still being read, and adds the edges batch
/// by batch as they arrive. [`ProgramGraph::assemble`] is the same steps back to back,
/// so both ways give the same graph, the same violations and the same trust.
pub(crate) struct PartialGraph {
    graph: ProgramGraph,
    /// The document's next edge id (within the plausible, checked up front).
    next_edge: u32,
    /// Whether every check that reads no edge passed (assembly problems included).
    whole_without_edges: bool,
}

impl PartialGraph {
    /// Assembles `doc`: everything but the edges, the checks that read no edge, then
    /// the document's edges. More edges may follow with [`add_edges`](Self::add_edges).
    pub(crate) fn new(doc: ProgramDocument) -> PartialGraph {
        Self::with_names(doc, NameRule::Current)
    }

    /// [`new`](Self::new) for rows a store wrote, whose names are held to
    /// [`NameRule::Stored`].
    pub(crate) fn stored(doc: ProgramDocument) -> PartialGraph {
        Self::with_names(doc, NameRule::Stored)
    }

    fn with_names(doc: ProgramDocument, names: NameRule) -> PartialGraph {
        let mut problems = Vec::new();
        if doc.format_version != DOCUMENT_FORMAT_VERSION {
            problems.push(Violation::new(
                Entity::Program,
                format!("document format {} is not the supported {DOCUMENT_FORMAT_VERSION}", doc.format_version),
            ));
        }
        let mut next = doc.next_ids;
        // Ids are never reused, so a program edited for long has next ids far past its
        // live ones; but a few nodes with ids in the billions would need dense id
        // tables of gigabytes: such a document is refused, not allocated. (The same
        // limits refuse a write that would store one: `ProgramGraph::sparse_ids`.)
        let node_limit = sparse_id_limit(doc.nodes.len(), NODE_IDS_PER_NODE);
        if next.node > node_limit {
            problems.push(Violation::new(
                Entity::Program,
                format!("node ids up to {} are implausibly sparse for {} nodes", next.node, doc.nodes.len()),
            ));
            next.node = node_limit;
        }
        let edge_limit = sparse_id_limit(doc.nodes.len(), EDGE_IDS_PER_NODE);
        if next.edge > edge_limit {
            problems.push(Violation::new(
                Entity::Program,
                format!("edge ids up to {} are implausibly sparse for {} nodes", next.edge, doc.nodes.len()),
            ));
            next.edge = edge_limit;
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
        modules.raise_next(next.module);
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

        // Nodes go into petgraph in id order whatever the document's order (a store
        // reads them by owner): first each id's place in the document, in document
        // order (so the first of a duplicate id wins), then the nodes id by id. A
        // counting sort on the dense id table; sorting the nodes themselves would move
        // every one of them twice more.
        let mut place: Vec<Option<u32>> = vec![None; next.node as usize];
        let mut owned = Vec::with_capacity(doc.nodes.len());
        for (at, n) in (0u32..).zip(&doc.nodes) {
            let Some(slot) = place.get_mut(n.id.index()) else {
                problems.push(Violation::new(Entity::Node(n.id), "id is not below next_ids.node"));
                continue;
            };
            if slot.is_some() {
                problems.push(Violation::new(Entity::Node(n.id), "id appears twice"));
                continue;
            }
            *slot = Some(at);
            owned.push((n.owner, n.id));
        }
        let mut nodes: Vec<Option<NodeEntry>> = doc.nodes.into_iter().map(Some).collect();
        // Room for as many edges as the document has edge ids (up to the least bound
        // of a plausible id table), so that edges added in batches do not make the
        // edge storage and table grow, and copy, step by step.
        let edge_room = (next.edge.min(EDGE_ROOM_LIMIT) as usize).max(doc.edges.len());
        let mut compute = StableGraph::with_capacity(owned.len(), edge_room);
        let node_index: Vec<Option<NodeIndex>> = place
            .into_iter()
            .map(|at| {
                let n = nodes.get_mut(at? as usize)?.take()?;
                Some(compute.add_node(NodeSlot { id: n.id, node: ComputeNode { op: n.op, owner: n.owner } }))
            })
            .collect();
        drop(nodes);
        // Each function's node set in one go rather than an insert per node: sorted by
        // owner (stably; a store's order is already by owner, a document's has one run
        // per body), every body is a run of ids, from which a set is built in bulk.
        owned.sort_by_key(|&(owner, _)| owner);
        for body in owned.chunk_by(|a, b| a.0 == b.0) {
            if let Some(f) = body.first().and_then(|(owner, _)| functions.get_mut(owner)) {
                f.nodes = body.iter().map(|&(_, id)| id).collect();
            }
        }

        let mut graph = ProgramGraph {
            compute,
            node_index,
            edge_index: Vec::with_capacity(edge_room),
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
        graph.rebuild_derived();
        let mut found = Vec::new();
        graph.validate_without_edges(&mut found, names);
        let whole_without_edges = graph.assembly_violations.is_empty() && found.is_empty();
        let mut partial = PartialGraph { graph, next_edge: next.edge, whole_without_edges };
        partial.add_edges(doc.edges);
        partial
    }

    /// Adds edges after those already in. An edge that petgraph cannot hold (an end
    /// missing, its id taken or not below the next edge id) is left out and
    /// remembered as a violation.
    pub(crate) fn add_edges(&mut self, edges: Vec<EdgeEntry>) {
        let graph = &mut self.graph;
        let problems = &mut graph.assembly_violations;
        let (compute, node_index, edge_index) = (&mut graph.compute, &graph.node_index, &mut graph.edge_index);
        compute.reserve_edges(edges.len());
        for e in edges {
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
            // The table grows with the ids seen and reaches next_edge in `finish`.
            if e.id.0 >= self.next_edge {
                problems.push(Violation::new(Entity::Edge(e.id), "id is not below next_ids.edge"));
                continue;
            }
            if edge_index.len() <= e.id.index() {
                edge_index.resize(e.id.index() + 1, None);
            }
            let slot = &mut edge_index[e.id.index()];
            if slot.is_some() {
                problems.push(Violation::new(Entity::Edge(e.id), "id appears twice"));
                continue;
            }
            *slot = Some(compute.add_edge(a, b, EdgeSlot { id: e.id, edge: e.edge }));
        }
    }

    /// Settles the next edge id, runs the checks of the edges and decides whether the
    /// graph is trusted: what `ProgramGraph::assemble` returns.
    pub(crate) fn finish(self) -> ProgramGraph {
        let PartialGraph { mut graph, next_edge, whole_without_edges } = self;
        graph.edge_index.resize(next_edge as usize, None);
        let mut found = Vec::new();
        graph.validate_edges(&mut found);
        graph.trusted = whole_without_edges && graph.assembly_violations.is_empty() && found.is_empty();
        graph
    }
}

/// The highest next id accepted for a program of `live` nodes, at most `per_live` ids
/// per node (and at least 2^24, tables of 128 MiB). Ids are never reused, so a program
/// edited for a long time has more ids than nodes, but not this many more; a document
/// past it is corrupt or hostile, and its dense id tables would not fit in memory.
fn sparse_id_limit(live: usize, per_live: u64) -> u32 {
    (live as u64).saturating_mul(per_live).max(1 << 24).min(u32::MAX as u64) as u32
}

/// Node ids a document may have handed out per live node (past the floor of
/// [`sparse_id_limit`]).
const NODE_IDS_PER_NODE: u64 = 64;
/// Edge ids a document may have handed out per live node.
const EDGE_IDS_PER_NODE: u64 = 256;
/// Function, module and type ids a program may have handed out per live one (past
/// the floor of [`sparse_id_limit`]). Their tables are not dense, so this bounds no
/// memory: it keeps a mistyped next id (4294967295 in an edited export) from using up
/// the program's ids for good, since ids are never given back.
const OTHER_IDS_PER_ITEM: u64 = 64;

/// Why `next`'s function, module or type id is implausible for a program of `counts`
/// (functions, modules, types); only ids raised above `before` are judged. A document
/// with such counters still assembles and loads (a stored one must); a store refuses
/// the write that would raise them so far (`ProgramGraph::raised_ids`).
fn implausible_other_ids(next: NextIds, counts: (usize, usize, usize), before: NextIds) -> Vec<Violation> {
    let (functions, modules, types) = counts;
    [
        ("function", next.function, before.function, functions),
        ("module", next.module, before.module, modules),
        ("type", next.type_, before.type_, types),
    ]
    .into_iter()
    .filter(|&(_, id, was, live)| id > was && id > sparse_id_limit(live, OTHER_IDS_PER_ITEM))
    .map(|(what, id, _, live)| {
        Violation::new(
            Entity::Program,
            format!(
                "next_ids.{what} {id} is implausibly far past the program's {live} {what}s (at most {}): ids are \
                 never given back, so it would use them up for good",
                sparse_id_limit(live, OTHER_IDS_PER_ITEM)
            ),
        )
    })
    .collect()
}

/// The most edge slots reserved ahead of the edges read (a hint, not a limit).
const EDGE_ROOM_LIMIT: u32 = 1 << 22;

impl ProgramGraph {
    /// Why a load would refuse this graph's ids as stored with `next` (the next ids
    /// its row would hold), if it would: handed out so far beyond its live nodes that
    /// the id tables, dense by design, would be implausibly large. A store refuses
    /// such a write, so that everything it stores can be loaded again; ids are never
    /// reused, so only a program that has handed out millions of ids more than it
    /// keeps gets here.
    pub(crate) fn sparse_ids(&self, next: NextIds) -> Option<Violation> {
        let live = self.node_count();
        let (node_limit, edge_limit) =
            (sparse_id_limit(live, NODE_IDS_PER_NODE), sparse_id_limit(live, EDGE_IDS_PER_NODE));
        let message = if next.node > node_limit {
            format!("node ids up to {} are implausibly sparse for {live} nodes", next.node)
        } else if next.edge > edge_limit {
            format!("edge ids up to {} are implausibly sparse for {live} nodes", next.edge)
        } else {
            return None;
        };
        Some(Violation::new(
            Entity::Program,
            format!("{message}: a load would refuse it (at most {node_limit} node and {edge_limit} edge ids)"),
        ))
    }
}

impl ProgramGraph {
    /// Why a write that takes the stored next ids `stored` to this graph's would be
    /// refused: it raises a function, module or type id implausibly far (see
    /// [`OTHER_IDS_PER_ITEM`]). Ids it does not raise are not judged, so a program
    /// stored with such ids before stays writable.
    pub(crate) fn raised_ids(&self, stored: NextIds) -> Option<Violation> {
        let counts = (self.function_count(), self.modules().len(), self.types().len());
        implausible_other_ids(self.next_ids(), counts, stored).into_iter().next()
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
