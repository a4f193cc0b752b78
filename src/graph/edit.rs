//! The editing API of `ProgramGraph`. Every method checks its input first and changes
//! nothing when it refuses; on success it stamps the journal, updates the semantic graph
//! and brings the hashes up to date before returning.

use super::error::{Entity, GraphError};
use super::program::{EdgeSlot, EdgeView, FunctionEntry, NodeSlot, ProgramGraph};
use crate::hash::Touched;
use crate::model::{
    Capture, ComputeNode, ComputeNodeOp, ComputeOp, EdgeId, FlowEdge, FunctionDef, FunctionId, FunctionSignature,
    LmType, ModuleDef, ModuleId, NodeId, SemanticEdge, SemanticKey, SemanticNode, StructuredOp, TypeId, Visibility,
};
use petgraph::Direction;
use petgraph::visit::EdgeRef;
use std::collections::BTreeSet;

/// Why an op's reference does not resolve: the entity is missing (a store reports
/// `NotFound`), or it exists but does not fit the op.
pub(crate) enum OpProblem {
    Missing(Entity),
    Unfit(Entity, String),
}

/// Which rule a name of a module, function or named type is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// The rule of edits, documents and imports: see [`check_name`].
    Current,
    /// The rule rows written by earlier versions obey: non-empty, without `::` or NUL,
    /// but possibly beginning or ending with `:`. Loads of stored rows use it, so a
    /// program stored before the current rule still loads (and can be renamed); it
    /// admits nothing new, since everything that writes a name checks `Current`.
    Stored,
}

/// Names of modules, functions and named types: non-empty, without NUL (which
/// PostgreSQL refuses in text and SQLite's `length()` stops at, so no backend could
/// keep it faithfully), without `::`, and neither beginning nor ending with `:`.
///
/// The colon rules keep qualified paths unambiguous: with no name containing `::`
/// nor beginning or ending with `:`, every `::` in a joined path (`a::b::f`) is a
/// join, so a path names one module, function or type. Without them module `a:`
/// holding `b` and module `a` holding `:b` would both be `a:::b`, and hashes (which
/// name call targets by path) and `hash::diff` (keyed by qualified name) could not
/// tell the two apart.
pub(crate) fn check_name(name: &str) -> Result<(), GraphError> {
    check_name_by(name, NameRule::Current)
}

/// [`check_name`] under a given rule.
pub(crate) fn check_name_by(name: &str, rule: NameRule) -> Result<(), GraphError> {
    let edge_colon = rule == NameRule::Current && (name.starts_with(':') || name.ends_with(':'));
    if name.is_empty() || name.contains("::") || name.contains('\0') || edge_colon {
        Err(GraphError::InvalidName(name.to_string()))
    } else {
        Ok(())
    }
}

/// Names of parameters and captures: non-empty, without NUL.
pub(crate) fn check_label(name: &str) -> Result<(), GraphError> {
    if name.is_empty() || name.contains('\0') { Err(GraphError::InvalidName(name.to_string())) } else { Ok(()) }
}

impl ProgramGraph {
    // ----- modules -----

    /// Adds a module under `parent`; names are unique among siblings.
    pub fn add_module(&mut self, parent: ModuleId, name: &str, visibility: Visibility) -> Result<ModuleId, GraphError> {
        check_name(name)?;
        self.require_module(parent)?;
        if self.modules.child_named(parent, name).is_some() {
            return Err(GraphError::DuplicateName { kind: "module", name: name.to_string(), module: parent });
        }
        if self.modules.next_id().0 == u32::MAX {
            return Err(GraphError::IdsExhausted("modules"));
        }
        let id = self.modules.allocate();
        self.modules.insert(ModuleDef { id, name: name.to_string(), parent: Some(parent), visibility });
        self.semantic.upsert(SemanticNode::Module { id, name: name.to_string(), visibility });
        self.semantic.link(SemanticEdge::Contains, SemanticKey::Module(parent), SemanticKey::Module(id));
        self.journal.bump();
        self.journal.module(id);
        self.settle(Touched::Modules);
        Ok(id)
    }

    /// Renames a module. Qualified names below it change, and with them the hashes of
    /// every call into them.
    pub fn rename_module(&mut self, id: ModuleId, name: &str) -> Result<(), GraphError> {
        check_name(name)?;
        let def = self.require_module(id)?.clone();
        if def.name == name {
            return Ok(());
        }
        if let Some(parent) = def.parent
            && self.modules.child_named(parent, name).is_some_and(|m| m != id)
        {
            return Err(GraphError::DuplicateName { kind: "module", name: name.to_string(), module: parent });
        }
        if let Some(m) = self.modules.def_mut(id) {
            m.name = name.to_string();
        }
        self.semantic.upsert(SemanticNode::Module { id, name: name.to_string(), visibility: def.visibility });
        self.journal.bump();
        self.journal.module(id);
        self.settle(Touched::ModuleRenamed(id));
        Ok(())
    }

    /// Removes an empty module (no child modules, functions or named types).
    pub fn remove_module(&mut self, id: ModuleId) -> Result<ModuleDef, GraphError> {
        if id == ModuleId::ROOT {
            return Err(GraphError::RootModule);
        }
        self.require_module(id)?;
        if self.modules.children(id).next().is_some()
            || self.modules.functions_in(id).next().is_some()
            || self.modules.types_in(id).next().is_some()
        {
            return Err(GraphError::InUse(Entity::Module(id), "it still has modules, functions or types".into()));
        }
        let def = self.modules.remove(id).ok_or(GraphError::NotFound(Entity::Module(id)))?;
        self.semantic.remove(SemanticKey::Module(id));
        self.journal.bump();
        self.journal.module(id);
        self.settle(Touched::Modules);
        Ok(def)
    }

    // ----- types -----

    /// Registers an anonymous type (array, pointer, function type...).
    pub fn register_type(&mut self, ty: LmType) -> Result<TypeId, GraphError> {
        let id = self.types.register(ty)?;
        self.journal.bump();
        self.journal.type_(id);
        self.settle(Touched::Type(id));
        Ok(id)
    }

    /// Registers a named type. A struct or enum goes into the module and visibility its
    /// definition names; any other named type into the root module, public.
    pub fn register_named(&mut self, name: &str, ty: LmType) -> Result<TypeId, GraphError> {
        let (module, visibility) = match &ty {
            LmType::Struct(d) => (d.module, d.visibility),
            LmType::Enum(d) => (d.module, d.visibility),
            _ => (ModuleId::ROOT, Visibility::Public),
        };
        self.register_named_in(module, visibility, name, ty)
    }

    /// Registers a named type in a given module. Type names are unique per program.
    pub fn register_named_in(
        &mut self,
        module: ModuleId,
        visibility: Visibility,
        name: &str,
        ty: LmType,
    ) -> Result<TypeId, GraphError> {
        check_name(name)?;
        self.require_module(module)?;
        let id = self.types.register_named(name, module, visibility, ty)?;
        self.semantic_add_type(id);
        self.semantic_link_type_uses(id);
        self.journal.bump();
        self.journal.type_(id);
        self.settle(Touched::Type(id));
        Ok(id)
    }

    // ----- functions -----

    /// Adds a function to a module; names are unique within a module.
    pub fn add_function(
        &mut self,
        module: ModuleId,
        name: &str,
        visibility: Visibility,
        params: Vec<(String, TypeId)>,
        return_type: TypeId,
    ) -> Result<FunctionId, GraphError> {
        self.insert_function(module, name, visibility, params, return_type, None, Vec::new())
    }

    /// Adds a closure: a private function in its parent's module that captures
    /// variables from the parent.
    pub fn add_closure(
        &mut self,
        parent: FunctionId,
        name: &str,
        params: Vec<(String, TypeId)>,
        return_type: TypeId,
        captures: Vec<Capture>,
    ) -> Result<FunctionId, GraphError> {
        let module = self.require_function(parent)?.module;
        self.insert_function(module, name, Visibility::Private, params, return_type, Some(parent), captures)
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_function(
        &mut self,
        module: ModuleId,
        name: &str,
        visibility: Visibility,
        params: Vec<(String, TypeId)>,
        return_type: TypeId,
        parent: Option<FunctionId>,
        captures: Vec<Capture>,
    ) -> Result<FunctionId, GraphError> {
        check_name(name)?;
        self.require_module(module)?;
        self.check_function_name_free(module, name, None)?;
        let id = FunctionId(self.next_function);
        let def = FunctionDef {
            id,
            name: name.to_string(),
            module,
            visibility,
            params,
            return_type,
            entry_node: None,
            captures,
            is_closure: parent.is_some(),
            parent_function: parent,
        };
        self.check_signature_types(&def)?;
        self.next_function = self.next_function.checked_add(1).ok_or(GraphError::IdsExhausted("functions"))?;
        self.modules.attach_function(module, name, id);
        self.functions.insert(id, FunctionEntry { def, nodes: BTreeSet::new() });
        self.semantic_upsert_function(id);
        self.semantic_link_function_types(id);
        self.journal.bump();
        self.journal.function(id);
        self.settle(Touched::Function(id));
        Ok(id)
    }

    /// Renames a function; callers' hashes follow, since calls hash by qualified name.
    pub fn rename_function(&mut self, id: FunctionId, name: &str) -> Result<(), GraphError> {
        check_name(name)?;
        let def = self.require_function(id)?.clone();
        if def.name == name {
            return Ok(());
        }
        self.check_function_name_free(def.module, name, Some(id))?;
        self.modules.detach_function(def.module, &def.name);
        self.modules.attach_function(def.module, name, id);
        self.update_function(id, |d| d.name = name.to_string());
        self.settle(Touched::Renamed(id));
        Ok(())
    }

    /// Moves a function (and its name) to another module.
    pub fn move_function(&mut self, id: FunctionId, module: ModuleId) -> Result<(), GraphError> {
        let def = self.require_function(id)?.clone();
        self.require_module(module)?;
        if def.module == module {
            return Ok(());
        }
        self.check_function_name_free(module, &def.name, Some(id))?;
        self.modules.detach_function(def.module, &def.name);
        self.modules.attach_function(module, &def.name, id);
        self.semantic.unlink(SemanticEdge::Contains, SemanticKey::Module(def.module), SemanticKey::Function(id));
        self.semantic.link(SemanticEdge::Contains, SemanticKey::Module(module), SemanticKey::Function(id));
        self.update_function(id, |d| d.module = module);
        self.settle(Touched::Renamed(id));
        Ok(())
    }

    /// Changes who can see a function.
    pub fn set_function_visibility(&mut self, id: FunctionId, visibility: Visibility) -> Result<(), GraphError> {
        if self.require_function(id)?.visibility == visibility {
            return Ok(());
        }
        self.update_function(id, |d| d.visibility = visibility);
        self.settle(Touched::Function(id));
        Ok(())
    }

    /// Changes a function's parameters and return type.
    pub fn set_function_signature(
        &mut self,
        id: FunctionId,
        params: Vec<(String, TypeId)>,
        return_type: TypeId,
    ) -> Result<(), GraphError> {
        let mut def = self.require_function(id)?.clone();
        if def.params == params && def.return_type == return_type {
            return Ok(());
        }
        def.params = params;
        def.return_type = return_type;
        self.check_signature_types(&def)?;
        self.update_function(id, |d| (d.params, d.return_type) = (def.params, def.return_type));
        self.settle(Touched::Function(id));
        Ok(())
    }

    /// Changes what a closure captures.
    pub fn set_captures(&mut self, id: FunctionId, captures: Vec<Capture>) -> Result<(), GraphError> {
        let mut def = self.require_function(id)?.clone();
        if !def.is_closure {
            return Err(GraphError::InvalidOp(format!("{id} is not a closure, it cannot capture")));
        }
        if def.captures == captures {
            return Ok(());
        }
        def.captures = captures;
        self.check_signature_types(&def)?;
        self.update_function(id, |d| d.captures = def.captures);
        self.settle(Touched::Function(id));
        Ok(())
    }

    /// Sets or clears the node a function starts at; it must belong to the function.
    pub fn set_entry_node(&mut self, id: FunctionId, node: Option<NodeId>) -> Result<(), GraphError> {
        if self.require_function(id)?.entry_node == node {
            return Ok(());
        }
        if let Some(n) = node {
            let owner = self.node(n).ok_or(GraphError::NotFound(Entity::Node(n)))?.owner;
            if owner != id {
                return Err(GraphError::WrongOwner { node: n, owner, function: id });
            }
        }
        self.update_function(id, |d| d.entry_node = node);
        self.settle(Touched::Function(id));
        Ok(())
    }

    /// Removes a function with its nodes and edges. Refused while another function
    /// calls it or builds a closure of it, or while it has closures of its own.
    pub fn remove_function(&mut self, id: FunctionId) -> Result<FunctionDef, GraphError> {
        let def = self.require_function(id)?.clone();
        if let Some(caller) = self.callers(id).into_iter().find(|c| *c != id) {
            return Err(GraphError::InUse(Entity::Function(id), format!("{caller} refers to it")));
        }
        if let Some(child) = self.functions().find(|f| f.parent_function == Some(id)) {
            return Err(GraphError::InUse(Entity::Function(id), format!("closure {} belongs to it", child.id)));
        }
        self.journal.bump();
        let nodes: Vec<NodeId> = self.function_nodes(id).collect();
        for n in &nodes {
            self.detach_node(*n);
        }
        self.modules.detach_function(def.module, &def.name);
        self.functions.remove(&id);
        self.semantic.remove(SemanticKey::Function(id));
        self.journal.function(id);
        self.settle(Touched::FunctionRemoved { id, nodes });
        Ok(def)
    }

    // ----- compute nodes -----

    /// Adds a node to a function's body.
    pub fn add_compute_node(&mut self, function: FunctionId, op: ComputeNodeOp) -> Result<NodeId, GraphError> {
        self.require_function(function)?;
        self.check_op(&op)?;
        let id = NodeId(u32::try_from(self.node_index.len()).map_err(|_| GraphError::IdsExhausted("nodes"))?);
        if let Some(target) = op.function_ref() {
            self.semantic.link(SemanticEdge::Calls, SemanticKey::Function(function), SemanticKey::Function(target));
        }
        let index = self.compute.add_node(NodeSlot { id, node: ComputeNode { op, owner: function } });
        self.node_index.push(Some(index));
        if let Some(entry) = self.functions.get_mut(&function) {
            entry.nodes.insert(id);
        }
        self.journal.bump();
        self.journal.node(id);
        self.settle(Touched::NodeAdded(id));
        Ok(id)
    }

    /// Adds a tier-1 operation.
    pub fn add_core_op(&mut self, function: FunctionId, op: ComputeOp) -> Result<NodeId, GraphError> {
        self.add_compute_node(function, ComputeNodeOp::Core(op))
    }

    /// Adds a tier-2 operation.
    pub fn add_structured_op(&mut self, function: FunctionId, op: StructuredOp) -> Result<NodeId, GraphError> {
        self.add_compute_node(function, ComputeNodeOp::Structured(op))
    }

    /// Replaces a node's operation and returns the old one. The owner stays.
    pub fn modify_compute_node_op(&mut self, id: NodeId, op: ComputeNodeOp) -> Result<ComputeNodeOp, GraphError> {
        let index = self.node_idx(id).ok_or(GraphError::NotFound(Entity::Node(id)))?;
        self.check_op(&op)?;
        if self.compute[index].node.op == op {
            // Nothing changes: no journal stamp, so a store writes nothing for it.
            return Ok(op);
        }
        let owner = self.compute[index].node.owner;
        let old = std::mem::replace(&mut self.compute[index].node.op, op.clone());
        if let Some(t) = old.function_ref() {
            self.semantic.unlink(SemanticEdge::Calls, SemanticKey::Function(owner), SemanticKey::Function(t));
        }
        if let Some(t) = op.function_ref() {
            self.semantic.link(SemanticEdge::Calls, SemanticKey::Function(owner), SemanticKey::Function(t));
        }
        self.journal.bump();
        self.journal.node(id);
        self.settle(Touched::OpChanged(id));
        Ok(old)
    }

    /// Removes a node with its edges; a function entry that pointed at it is cleared.
    pub fn remove_compute_node(&mut self, id: NodeId) -> Result<ComputeNode, GraphError> {
        let node = self.node(id).ok_or(GraphError::NotFound(Entity::Node(id)))?.clone();
        self.journal.bump();
        let edges = self.detach_node(id);
        if self.functions.get(&node.owner).is_some_and(|e| e.def.entry_node == Some(id)) {
            self.update_function(node.owner, |d| d.entry_node = None);
        }
        self.settle(Touched::NodeRemoved { node: id, owner: node.owner, edges });
        Ok(node)
    }

    /// Removes a node, its edges and its `Calls` reference; returns the edges removed
    /// (the hash index needs their ends and kinds). The caller has bumped the journal.
    fn detach_node(&mut self, id: NodeId) -> Vec<EdgeView> {
        let Some(index) = self.node_idx(id) else { return Vec::new() };
        let mut removed = Vec::new();
        let edges: Vec<_> = self
            .compute
            .edges_directed(index, Direction::Outgoing)
            .chain(self.compute.edges_directed(index, Direction::Incoming))
            .map(|e| EdgeView {
                id: e.weight().id,
                source: self.compute[e.source()].id,
                target: self.compute[e.target()].id,
                edge: e.weight().edge,
            })
            .collect();
        for view in edges {
            self.edge_index[view.id.index()] = None;
            self.journal.edge(view.id);
            removed.push(view);
        }
        let slot = self.compute.remove_node(index).expect("index came from node_index");
        if let Some(t) = slot.node.op.function_ref() {
            self.semantic.unlink(SemanticEdge::Calls, SemanticKey::Function(slot.node.owner), SemanticKey::Function(t));
        }
        if let Some(entry) = self.functions.get_mut(&slot.node.owner) {
            entry.nodes.remove(&id);
        }
        self.node_index[id.index()] = None;
        self.journal.node(id);
        removed.sort_by_key(|e| e.id);
        removed.dedup_by_key(|e| e.id);
        removed
    }

    // ----- edges -----

    /// Adds a data edge: the value on `source`'s output port `source_port` feeds
    /// operand slot `target_port` of `target`.
    pub fn add_data_edge(
        &mut self,
        source: NodeId,
        target: NodeId,
        source_port: u16,
        target_port: u16,
        value_type: TypeId,
    ) -> Result<EdgeId, GraphError> {
        let (a, b) = self.same_function_endpoints(source, target)?;
        if !self.types.contains(value_type) {
            return Err(GraphError::NotFound(Entity::Type(value_type)));
        }
        let taken = self
            .compute
            .edges_directed(b, Direction::Incoming)
            .any(|e| matches!(e.weight().edge, FlowEdge::Data { target_port: p, .. } if p == target_port));
        if taken {
            return Err(GraphError::PortTaken { target, port: target_port });
        }
        if self.data_path_exists(b, a) {
            return Err(GraphError::DataCycle { from: source, to: target });
        }
        Ok(self.insert_edge(a, b, FlowEdge::Data { source_port, target_port, value_type }))
    }

    /// Adds a control edge; control edges may form cycles (loop back edges).
    pub fn add_control_edge(
        &mut self,
        source: NodeId,
        target: NodeId,
        branch_index: Option<u16>,
    ) -> Result<EdgeId, GraphError> {
        let (a, b) = self.same_function_endpoints(source, target)?;
        Ok(self.insert_edge(a, b, FlowEdge::Control { branch_index }))
    }

    /// Adds an edge of either kind with the checks of its kind.
    pub fn add_edge(&mut self, source: NodeId, target: NodeId, edge: FlowEdge) -> Result<EdgeId, GraphError> {
        match edge {
            FlowEdge::Data { source_port, target_port, value_type } => {
                self.add_data_edge(source, target, source_port, target_port, value_type)
            }
            FlowEdge::Control { branch_index } => self.add_control_edge(source, target, branch_index),
        }
    }

    /// Removes an edge and returns it.
    pub fn remove_edge(&mut self, id: EdgeId) -> Result<EdgeView, GraphError> {
        let view = self.edge(id).ok_or(GraphError::NotFound(Entity::Edge(id)))?;
        let index = self.edge_index[id.index()].take().expect("edge() found it");
        self.compute.remove_edge(index);
        self.journal.bump();
        self.journal.edge(id);
        self.settle(Touched::EdgeRemoved(view));
        Ok(view)
    }

    fn insert_edge(&mut self, a: petgraph::graph::NodeIndex, b: petgraph::graph::NodeIndex, edge: FlowEdge) -> EdgeId {
        let id = EdgeId(self.edge_index.len() as u32);
        let index = self.compute.add_edge(a, b, EdgeSlot { id, edge });
        self.edge_index.push(Some(index));
        self.journal.bump();
        self.journal.edge(id);
        let (source, target) = (self.compute[a].id, self.compute[b].id);
        self.settle(Touched::EdgeAdded(EdgeView { id, source, target, edge }));
        id
    }

    fn same_function_endpoints(
        &self,
        source: NodeId,
        target: NodeId,
    ) -> Result<(petgraph::graph::NodeIndex, petgraph::graph::NodeIndex), GraphError> {
        let a = self.node_idx(source).ok_or(GraphError::NotFound(Entity::Node(source)))?;
        let b = self.node_idx(target).ok_or(GraphError::NotFound(Entity::Node(target)))?;
        if self.compute[a].node.owner != self.compute[b].node.owner {
            return Err(GraphError::CrossFunctionEdge { from: source, to: target });
        }
        if self.edge_index.len() >= u32::MAX as usize {
            return Err(GraphError::IdsExhausted("edges"));
        }
        Ok((a, b))
    }

    /// Whether `to` is reachable from `from` along data edges. Cheap in the common
    /// case of wiring a fresh node, which has no outgoing data edges yet.
    fn data_path_exists(&self, from: petgraph::graph::NodeIndex, to: petgraph::graph::NodeIndex) -> bool {
        let mut stack = vec![from];
        let mut seen = std::collections::HashSet::new();
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if !seen.insert(n) {
                continue;
            }
            for e in self.compute.edges_directed(n, Direction::Outgoing) {
                if e.weight().edge.is_data() {
                    stack.push(e.target());
                }
            }
        }
        false
    }

    // ----- checks and helpers shared by the edits -----

    fn require_module(&self, id: ModuleId) -> Result<&ModuleDef, GraphError> {
        self.modules.get(id).ok_or(GraphError::NotFound(Entity::Module(id)))
    }

    fn require_function(&self, id: FunctionId) -> Result<&FunctionDef, GraphError> {
        self.function(id).ok_or(GraphError::NotFound(Entity::Function(id)))
    }

    fn check_function_name_free(&self, module: ModuleId, name: &str, me: Option<FunctionId>) -> Result<(), GraphError> {
        match self.modules.function_named(module, name) {
            Some(other) if Some(other) != me => {
                Err(GraphError::DuplicateName { kind: "function", name: name.to_string(), module })
            }
            _ => Ok(()),
        }
    }

    fn check_signature_types(&self, def: &FunctionDef) -> Result<(), GraphError> {
        if let Some(t) = def.signature_types().find(|t| !self.types.contains(*t)) {
            return Err(GraphError::NotFound(Entity::Type(t)));
        }
        for name in def.params.iter().map(|(n, _)| n).chain(def.captures.iter().map(|c| &c.name)) {
            check_label(name)?;
        }
        if let Some(p) = def.parent_function {
            self.require_function(p)?;
        }
        Ok(())
    }

    /// The references an op makes must resolve: functions exist (a `MakeClosure` body
    /// is a closure), struct and enum constructors name a struct or enum.
    pub(crate) fn op_problem(&self, op: &ComputeNodeOp) -> Option<OpProblem> {
        let unfit = |entity, why: String| Some(OpProblem::Unfit(entity, why));
        if let Some(f) = op.function_ref() {
            match self.function(f) {
                None => return Some(OpProblem::Missing(Entity::Function(f))),
                Some(def) if matches!(op, ComputeNodeOp::Core(ComputeOp::MakeClosure { .. })) && !def.is_closure => {
                    return unfit(Entity::Function(f), "is not a closure; MakeClosure needs one".into());
                }
                _ => {}
            }
        }
        if let Some(t) = op.type_ref() {
            let Some(ty) = self.types.get(t) else {
                return Some(OpProblem::Missing(Entity::Type(t)));
            };
            match (op, ty) {
                (ComputeNodeOp::Structured(StructuredOp::StructCreate { .. }), LmType::Struct(_)) => {}
                (ComputeNodeOp::Structured(StructuredOp::StructCreate { .. }), _) => {
                    return unfit(Entity::Type(t), "is not a struct; StructCreate needs one".into());
                }
                (ComputeNodeOp::Structured(StructuredOp::EnumCreate { variant_index, .. }), LmType::Enum(def))
                    if *variant_index as usize >= def.variants.len() =>
                {
                    return unfit(Entity::Type(t), format!("has no variant {variant_index}"));
                }
                (ComputeNodeOp::Structured(StructuredOp::EnumCreate { .. }), LmType::Enum(_)) => {}
                (ComputeNodeOp::Structured(StructuredOp::EnumCreate { .. }), _) => {
                    return unfit(Entity::Type(t), "is not an enum; EnumCreate needs one".into());
                }
                _ => {}
            }
        }
        None
    }

    fn check_op(&self, op: &ComputeNodeOp) -> Result<(), GraphError> {
        match self.op_problem(op) {
            None => Ok(()),
            Some(OpProblem::Missing(entity)) => Err(GraphError::NotFound(entity)),
            Some(OpProblem::Unfit(entity, why)) => Err(GraphError::InvalidOp(format!("{entity} {why}"))),
        }
    }

    /// Applies a change to a function's definition and refreshes its semantic node.
    fn update_function(&mut self, id: FunctionId, change: impl FnOnce(&mut FunctionDef)) {
        if let Some(entry) = self.functions.get_mut(&id) {
            change(&mut entry.def);
        }
        self.semantic_upsert_function(id);
        self.semantic.unlink_all_from(SemanticEdge::UsesType, SemanticKey::Function(id));
        self.semantic_link_function_types(id);
        self.journal.bump();
        self.journal.function(id);
    }

    pub(crate) fn semantic_upsert_function(&mut self, id: FunctionId) {
        let Some(def) = self.function(id) else { return };
        let node = SemanticNode::Function {
            id,
            name: def.name.clone(),
            module: def.module,
            visibility: def.visibility,
            signature: FunctionSignature {
                params: def.params.iter().map(|(_, t)| *t).collect(),
                return_type: def.return_type,
            },
        };
        let module = def.module;
        let fresh = self.semantic.node(SemanticKey::Function(id)).is_none();
        self.semantic.upsert(node);
        if fresh {
            self.semantic.link(SemanticEdge::Contains, SemanticKey::Module(module), SemanticKey::Function(id));
        }
    }

    pub(crate) fn semantic_link_function_types(&mut self, id: FunctionId) {
        let Some(def) = self.function(id) else { return };
        let used: BTreeSet<TypeId> = def.signature_types().flat_map(|t| self.named_types_in(t)).collect();
        for t in used {
            self.semantic.link(SemanticEdge::UsesType, SemanticKey::Function(id), SemanticKey::Type(t));
        }
    }

    pub(crate) fn semantic_add_type(&mut self, id: TypeId) {
        let Some(name) = self.types.name_of(id).cloned() else { return };
        self.modules.attach_type(name.module, id);
        self.semantic.upsert(SemanticNode::TypeDef {
            id,
            name: name.name,
            module: name.module,
            visibility: name.visibility,
        });
        self.semantic.link(SemanticEdge::Contains, SemanticKey::Module(name.module), SemanticKey::Type(id));
    }

    pub(crate) fn semantic_link_type_uses(&mut self, id: TypeId) {
        let Some(ty) = self.types.get(id) else { return };
        let used: BTreeSet<TypeId> = ty.referenced_types().into_iter().flat_map(|t| self.named_types_in(t)).collect();
        for t in used {
            self.semantic.link(SemanticEdge::UsesType, SemanticKey::Type(id), SemanticKey::Type(t));
        }
    }

    /// The named types a type reference reaches: itself if named, else the named types
    /// inside it (anonymous types only refer to earlier types, so this ends).
    pub(crate) fn named_types_in(&self, id: TypeId) -> Vec<TypeId> {
        let mut out = Vec::new();
        let mut stack = vec![id];
        let mut steps = 0;
        while let Some(t) = stack.pop() {
            steps += 1;
            if steps > self.types.len() * 4 + 16 {
                break; // a corrupt registry with a cycle; validate() reports it
            }
            if self.types.name_of(t).is_some() {
                out.push(t);
            } else if let Some(ty) = self.types.get(t) {
                stack.extend(ty.referenced_types());
            }
        }
        out
    }

    /// Brings the hashes up to date after an edit, if they have been built.
    fn settle(&mut self, touched: Touched) {
        if let Some(mut hashes) = self.hashes.take() {
            hashes.update(self, touched);
            self.hashes = std::sync::OnceLock::from(hashes);
        }
    }
}
