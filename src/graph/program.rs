//! `ProgramGraph`: the whole program in memory, and its read API.
//!
//! Ids are kept apart from petgraph's indices. petgraph's `StableGraph` reuses a freed
//! slot (last freed first), but an lmlang id must never be handed out twice, not even
//! after a save and reload. So each id maps to its petgraph index through a dense table
//! (`Vec<Option<_>>`, one entry per id ever handed out), the next id is the table's
//! length, and a deleted id stays a hole forever. The table also gives id-ordered
//! iteration for free, which stores and exports rely on.

use super::journal::{ChangeSet, Journal, Lineage};
use super::modules::ModuleTree;
use super::semantic::SemanticIndex;
use crate::hash::HashIndex;
use crate::model::{
    ComputeNode, EdgeId, FlowEdge, FunctionDef, FunctionId, ModuleDef, ModuleId, NodeId, SemanticEdge, SemanticKey,
    SemanticNode, TypeRegistry,
};
use petgraph::Direction;
use petgraph::graph::{EdgeIndex, NodeIndex};
use petgraph::stable_graph::StableGraph;
use petgraph::visit::EdgeRef;
use std::collections::{BTreeMap, BTreeSet};

/// Weight of a compute-graph node: the node and its stable id.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodeSlot {
    pub(crate) id: NodeId,
    pub(crate) node: ComputeNode,
}

/// Weight of a compute-graph edge: the edge and its stable id.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EdgeSlot {
    pub(crate) id: EdgeId,
    pub(crate) edge: FlowEdge,
}

/// A function and the ids of the nodes it owns, so `function_nodes` costs the size of
/// the function rather than of the program.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FunctionEntry {
    pub(crate) def: FunctionDef,
    pub(crate) nodes: BTreeSet<NodeId>,
}

/// A flow edge with its endpoints, as read from the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeView {
    /// The edge's id, never reused within its program.
    pub id: EdgeId,
    /// The node the edge leaves (a value's producer, or the node that runs first).
    pub source: NodeId,
    /// The node the edge enters; always in the same function as `source`.
    pub target: NodeId,
    /// Ports and value type of a data edge, or the branch of a control edge.
    pub edge: FlowEdge,
}

/// The ids each kind of entity will get next. Stored with a program so that ids are
/// never reused after a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct NextIds {
    /// The id the next compute node gets (also the number of node ids ever issued).
    pub node: u32,
    /// The id the next flow edge gets.
    pub edge: u32,
    /// The id the next function or closure gets.
    pub function: u32,
    /// The id the next module gets.
    pub module: u32,
    /// The id the next registered type gets (built-ins take 0 to 8).
    #[serde(rename = "type")]
    pub type_: u32,
}

impl NextIds {
    /// Each counter at the larger of the two. Stored next ids only ever move up through
    /// this: an id handed out once stays spent even when a graph whose counters are
    /// behind (loaded before the id was issued) is saved over the program.
    pub fn max(self, other: NextIds) -> NextIds {
        NextIds {
            node: self.node.max(other.node),
            edge: self.edge.max(other.edge),
            function: self.function.max(other.function),
            module: self.module.max(other.module),
            type_: self.type_.max(other.type_),
        }
    }
}

/// An lmlang program: compute graph, semantic graph, types, modules and functions,
/// kept consistent by its own API and content-hashed after every edit.
///
/// ```
/// use lmlang_storage::graph::ProgramGraph;
/// use lmlang_storage::model::{ComputeOp, ConstValue, ModuleId, TypeId, Visibility};
///
/// let mut g = ProgramGraph::new("app");
/// let f = g.add_function(ModuleId::ROOT, "answer", Visibility::Public, vec![], TypeId::I32).unwrap();
/// let c = g.add_core_op(f, ComputeOp::Const { value: ConstValue::I32(42) }).unwrap();
/// let r = g.add_core_op(f, ComputeOp::Return).unwrap();
/// g.add_data_edge(c, r, 0, 0, TypeId::I32).unwrap();
/// assert!(g.validate().is_empty());
/// assert_eq!(g.function_nodes(f).count(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct ProgramGraph {
    pub(crate) compute: StableGraph<NodeSlot, EdgeSlot>,
    pub(crate) node_index: Vec<Option<NodeIndex>>,
    pub(crate) edge_index: Vec<Option<EdgeIndex>>,
    pub(crate) types: TypeRegistry,
    pub(crate) modules: ModuleTree,
    pub(crate) functions: BTreeMap<FunctionId, FunctionEntry>,
    pub(crate) next_function: u32,
    pub(crate) semantic: SemanticIndex,
    pub(crate) journal: Journal,
    /// Built on first read, then kept current by every edit.
    pub(crate) hashes: std::sync::OnceLock<HashIndex>,
    /// Problems found while assembling the graph from parts that petgraph cannot hold
    /// (an edge to a missing node, a duplicate id); `validate()` reports them.
    pub(crate) assembly_violations: Vec<super::Violation>,
    /// Whether the graph is known to be whole: built through the API from a valid root
    /// module name, or assembled and found valid. Edits keep it whole, so stores need not re-validate on every save.
    pub(crate) trusted: bool,
}

impl PartialEq for ProgramGraph {
    /// Two graphs are equal when every id maps to the same content, the next ids agree
    /// and the semantic graphs match. Hashes and edit history are not compared.
    fn eq(&self, other: &Self) -> bool {
        self.next_ids() == other.next_ids()
            && self.types == other.types
            && self.modules == other.modules
            && self.functions == other.functions
            && self.nodes().eq(other.nodes())
            && self.edges().eq(other.edges())
            && self.semantic == other.semantic
    }
}

impl ProgramGraph {
    /// An empty program whose root module has the given name. A name no module may have
    /// (empty, with `::` or NUL, beginning or ending with `:`) still makes a graph, so tools can show and rename it,
    /// but an untrusted one: `validate()` reports the name and stores refuse the graph
    /// rather than write a program they could not load back.
    pub fn new(root_module_name: &str) -> Self {
        let mut g = ProgramGraph {
            compute: StableGraph::new(),
            node_index: Vec::new(),
            edge_index: Vec::new(),
            types: TypeRegistry::new(),
            modules: ModuleTree::with_root(root_module_name),
            functions: BTreeMap::new(),
            next_function: 0,
            semantic: SemanticIndex::default(),
            journal: Journal::new(),
            hashes: std::sync::OnceLock::new(),
            assembly_violations: Vec::new(),
            trusted: super::edit::check_name(root_module_name).is_ok(),
        };
        g.rebuild_derived();
        g.journal.bump();
        g.journal.module(ModuleId::ROOT);
        g
    }

    // ----- nodes and edges -----

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> Option<&ComputeNode> {
        self.node_idx(id).map(|i| &self.compute[i].node)
    }

    /// All nodes in id order.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &ComputeNode)> + '_ {
        self.node_index.iter().filter_map(|slot| slot.map(|i| (self.compute[i].id, &self.compute[i].node)))
    }

    /// Number of live nodes.
    pub fn node_count(&self) -> usize {
        self.compute.node_count()
    }

    /// The edge with this id and its endpoints.
    pub fn edge(&self, id: EdgeId) -> Option<EdgeView> {
        let index = self.edge_index.get(id.index()).copied().flatten()?;
        self.edge_view(index)
    }

    /// All edges in id order.
    pub fn edges(&self) -> impl Iterator<Item = EdgeView> + '_ {
        self.edge_index.iter().filter_map(|slot| slot.and_then(|i| self.edge_view(i)))
    }

    /// Number of live edges.
    pub fn edge_count(&self) -> usize {
        self.compute.edge_count()
    }

    /// Edges leaving a node, in edge-id order.
    pub fn outgoing(&self, id: NodeId) -> Vec<EdgeView> {
        self.adjacent(id, Direction::Outgoing)
    }

    /// Edges entering a node, in edge-id order.
    pub fn incoming(&self, id: NodeId) -> Vec<EdgeView> {
        self.adjacent(id, Direction::Incoming)
    }

    fn adjacent(&self, id: NodeId, dir: Direction) -> Vec<EdgeView> {
        let Some(index) = self.node_idx(id) else { return Vec::new() };
        let mut out: Vec<EdgeView> =
            self.compute.edges_directed(index, dir).filter_map(|e| self.edge_view(e.id())).collect();
        out.sort_by_key(|e| e.id);
        out
    }

    fn edge_view(&self, index: EdgeIndex) -> Option<EdgeView> {
        let (a, b) = self.compute.edge_endpoints(index)?;
        let slot = &self.compute[index];
        Some(EdgeView { id: slot.id, source: self.compute[a].id, target: self.compute[b].id, edge: slot.edge })
    }

    pub(crate) fn node_idx(&self, id: NodeId) -> Option<NodeIndex> {
        self.node_index.get(id.index()).copied().flatten()
    }

    // ----- functions, modules, types -----

    /// The function with this id.
    pub fn function(&self, id: FunctionId) -> Option<&FunctionDef> {
        self.functions.get(&id).map(|e| &e.def)
    }

    /// All functions in id order.
    pub fn functions(&self) -> impl Iterator<Item = &FunctionDef> + '_ {
        self.functions.values().map(|e| &e.def)
    }

    /// Number of functions, closures included; constant time (stores record it on
    /// every commit).
    pub fn function_count(&self) -> usize {
        self.functions.len()
    }

    /// The ids of the nodes a function owns, ascending; costs the size of the function.
    pub fn function_nodes(&self, id: FunctionId) -> impl Iterator<Item = NodeId> + '_ {
        self.functions.get(&id).into_iter().flat_map(|e| e.nodes.iter().copied())
    }

    /// A function by module and name.
    pub fn find_function(&self, module: ModuleId, name: &str) -> Option<FunctionId> {
        self.modules.function_named(module, name)
    }

    /// `root::math::sqrt`: the module path and the function name. Hashes refer to
    /// callees by this name so they do not depend on numbering.
    pub fn qualified_name(&self, id: FunctionId) -> Option<String> {
        let def = self.function(id)?;
        let mut path = self.modules.path(def.module);
        path.push(def.name.clone());
        Some(path.join("::"))
    }

    /// The module with this id.
    pub fn module(&self, id: ModuleId) -> Option<&ModuleDef> {
        self.modules.get(id)
    }

    /// The module tree.
    pub fn modules(&self) -> &ModuleTree {
        &self.modules
    }

    /// The type registry.
    pub fn types(&self) -> &TypeRegistry {
        &self.types
    }

    /// The semantic graph, for browsing and petgraph algorithms.
    pub fn semantic_graph(&self) -> &StableGraph<SemanticNode, SemanticEdge> {
        self.semantic.graph()
    }

    /// The semantic node standing for a module, function or named type.
    pub fn semantic_node(&self, key: SemanticKey) -> Option<&SemanticNode> {
        self.semantic.node(key)
    }

    /// Where the semantic node for `key` is in [`semantic_graph`](Self::semantic_graph).
    pub(crate) fn semantic_index_of(&self, key: SemanticKey) -> Option<petgraph::graph::NodeIndex> {
        self.semantic.index_of(key)
    }

    /// Functions that call or build a closure of `id` (the `Calls` edges into it).
    pub fn callers(&self, id: FunctionId) -> Vec<FunctionId> {
        let mut out: Vec<FunctionId> = self
            .semantic
            .sources_into(SemanticEdge::Calls, SemanticKey::Function(id))
            .into_iter()
            .filter_map(|k| match k {
                SemanticKey::Function(f) => Some(f),
                _ => None,
            })
            .collect();
        out.sort();
        out
    }

    /// The ids the next additions will get.
    pub fn next_ids(&self) -> NextIds {
        NextIds {
            node: self.node_index.len() as u32,
            edge: self.edge_index.len() as u32,
            function: self.next_function,
            module: self.modules.next_id().0,
            type_: self.types.next_id().0,
        }
    }

    /// Whether the graph is known to be whole without running `validate()`: true for
    /// graphs built through the API from a valid root module name and for assembled
    /// graphs that validated.
    pub fn is_trusted(&self) -> bool {
        self.trusted
    }

    /// Content hashes of every node, function and the program. The first call builds
    /// them (linear in the program); after that every edit keeps them current.
    pub fn hashes(&self) -> &HashIndex {
        self.hashes.get_or_init(|| HashIndex::build(self))
    }

    /// [`hashes`](Self::hashes) for a graph that will be edited function by function
    /// and rehashed after every edit (a store's working copy with history on): the
    /// first build also keeps each body's first part, while its budget allows, so the
    /// first edit of any function rehashes only the rest of it. The hashes are the same.
    pub(crate) fn hashes_for_edits(&self) -> &HashIndex {
        self.hashes.get_or_init(|| HashIndex::build_keeping_parts(self))
    }

    // ----- change tracking -----

    /// Identity of this graph's edit history; clones get a new one.
    pub fn lineage(&self) -> Lineage {
        self.journal.lineage()
    }

    /// Number of edits made since the graph was created or assembled.
    pub fn revision(&self) -> u64 {
        self.journal.revision()
    }

    /// What changed after `revision`: the entities to rewrite in a store synced then.
    pub fn changes_since(&self, revision: u64) -> ChangeSet {
        self.journal.changes_since(revision)
    }

    /// Recomputes every derived structure (semantic graph, hashes) from the primary
    /// data; used after assembly from stored parts.
    pub(crate) fn rebuild_derived(&mut self) {
        self.semantic = SemanticIndex::default();
        for m in self.modules.iter().cloned().collect::<Vec<_>>() {
            self.semantic.upsert(SemanticNode::Module { id: m.id, name: m.name.clone(), visibility: m.visibility });
        }
        for m in self.modules.iter().filter_map(|m| m.parent.map(|p| (p, m.id))).collect::<Vec<_>>() {
            self.semantic.link(SemanticEdge::Contains, SemanticKey::Module(m.0), SemanticKey::Module(m.1));
        }
        let named: Vec<_> = self.types.named().map(|(id, _)| id).collect();
        for id in &named {
            self.semantic_add_type(*id);
        }
        for id in &named {
            self.semantic_link_type_uses(*id);
        }
        let functions: Vec<FunctionId> = self.functions.keys().copied().collect();
        for f in &functions {
            self.semantic_upsert_function(*f);
        }
        for f in &functions {
            self.semantic_link_function_types(*f);
        }
        let calls: Vec<(FunctionId, FunctionId)> =
            self.nodes().filter_map(|(_, n)| n.op.function_ref().map(|t| (n.owner, t))).collect();
        for (from, to) in calls {
            self.semantic.link(SemanticEdge::Calls, SemanticKey::Function(from), SemanticKey::Function(to));
        }
        self.hashes = std::sync::OnceLock::new();
    }
}
