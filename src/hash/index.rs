//! `HashIndex`: every node, control-edge, function and program hash of one graph, and
//! the incremental maintenance that keeps them current.

use super::canon::{self, Canon, domain};
use super::{ContentHash, Touched};
use crate::graph::ProgramGraph;
use crate::model::{EdgeId, FlowEdge, FunctionId, NodeId, TypeId};
use petgraph::visit::{EdgeRef, IntoEdgeReferences, NodeIndexable};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Running sums of one function's members and its root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct FunctionHashes {
    nodes_sum: ContentHash,
    nodes: u64,
    edges_sum: ContentHash,
    edges: u64,
    root: ContentHash,
    /// This function's share of the program root: H(qualified name, root).
    entry: ContentHash,
}

/// Hashes of every node, function and the program.
#[derive(Debug, Clone, Default)]
pub struct HashIndex {
    local: Vec<Option<ContentHash>>,
    deep: Vec<Option<ContentHash>>,
    control: Vec<Option<ContentHash>>,
    functions: BTreeMap<FunctionId, FunctionHashes>,
    functions_sum: ContentHash,
    types_sum: ContentHash,
    types: u64,
    modules_sum: ContentHash,
    modules: u64,
    program: ContentHash,
    /// Memo of type-reference hashes; types never change, named types' qualified names
    /// change only with the module tree, which rebuilds the index.
    type_refs: Vec<Option<ContentHash>>,
}

impl PartialEq for HashIndex {
    fn eq(&self, other: &Self) -> bool {
        fn live<T: PartialEq>(a: &[Option<T>], b: &[Option<T>]) -> bool {
            let n = a.len().max(b.len());
            (0..n).all(|i| a.get(i).and_then(|x| x.as_ref()) == b.get(i).and_then(|x| x.as_ref()))
        }
        live(&self.local, &other.local)
            && live(&self.deep, &other.deep)
            && live(&self.control, &other.control)
            && self.functions == other.functions
            && self.program == other.program
    }
}

fn slot<T: Copy>(v: &[Option<T>], i: usize) -> Option<T> {
    v.get(i).copied().flatten()
}

fn put<T>(v: &mut Vec<Option<T>>, i: usize, value: Option<T>) {
    if v.len() <= i {
        v.resize_with(i + 1, || None);
    }
    v[i] = value;
}

impl HashIndex {
    // ----- reading -----

    /// The program root: changes when anything in the program changes.
    pub fn program(&self) -> ContentHash {
        self.program
    }

    /// A function's root: its signature and all its nodes and edges, dead ones too.
    pub fn function(&self, id: FunctionId) -> Option<ContentHash> {
        self.functions.get(&id).map(|f| f.root)
    }

    /// Every function root, in id order.
    pub fn functions(&self) -> impl Iterator<Item = (FunctionId, ContentHash)> + '_ {
        self.functions.iter().map(|(id, f)| (*id, f.root))
    }

    /// A node's hash: its op and, through its data inputs, everything that feeds it.
    pub fn node(&self, id: NodeId) -> Option<ContentHash> {
        slot(&self.deep, id.index())
    }

    /// A node's own hash, its op alone.
    pub fn node_local(&self, id: NodeId) -> Option<ContentHash> {
        slot(&self.local, id.index())
    }

    // ----- building -----

    /// Everything from scratch, in time linear in the program.
    pub(crate) fn build(g: &ProgramGraph) -> Self {
        let mut index = HashIndex::default();
        // Local hashes depend on nothing but the node: compute them on two threads.
        let ids: Vec<NodeId> = g.nodes().map(|(id, _)| id).collect();
        let (first, second) = ids.split_at(ids.len() / 2);
        let locals = |part: &[NodeId]| -> Vec<(NodeId, ContentHash)> {
            part.iter().filter_map(|n| Some((*n, local_hash(g, *n)?))).collect()
        };
        let (a, b) = std::thread::scope(|scope| {
            let other = scope.spawn(|| locals(second));
            let mine = locals(first);
            (mine, other.join().unwrap_or_else(|_| locals(second)))
        });
        index.local = vec![None; g.next_ids().node as usize];
        for (n, h) in a.into_iter().chain(b) {
            put(&mut index.local, n.index(), Some(h));
        }
        for id in topological_all(g) {
            let owner = g.node(id).map(|n| n.owner);
            let h = index.deep_of(g, id);
            put(&mut index.deep, id.index(), Some(h));
            if let Some(f) = owner {
                let acc = index.functions.entry(f).or_default();
                acc.nodes_sum = acc.nodes_sum.add(h);
                acc.nodes += 1;
            }
        }
        for e in g.edges().filter(|e| !e.edge.is_data()) {
            let h = index.control_hash(e.source, e.target, e.edge);
            put(&mut index.control, e.id.index(), Some(h));
            if let Some(f) = g.node(e.source).map(|n| n.owner) {
                let acc = index.functions.entry(f).or_default();
                acc.edges_sum = acc.edges_sum.add(h);
                acc.edges += 1;
            }
        }
        let functions: Vec<FunctionId> = g.functions().map(|f| f.id).collect();
        for f in functions {
            index.functions.entry(f).or_default();
            index.refresh_root(g, f);
        }
        index.refresh_types(g);
        index.refresh_modules(g);
        index.refresh_program();
        index
    }

    // ----- incremental maintenance -----

    pub(crate) fn update(&mut self, g: &ProgramGraph, touched: Touched) {
        match touched {
            Touched::Modules => {
                *self = HashIndex::build(g);
                return;
            }
            Touched::Types => self.refresh_types(g),
            Touched::Function(f) => {
                self.functions.entry(f).or_default();
                self.refresh_root(g, f);
            }
            Touched::Renamed(f) => {
                // Calls and closures name their callee: re-hash the nodes that refer to f.
                let mut seeds = Vec::new();
                for caller in g.callers(f) {
                    for n in g.function_nodes(caller) {
                        if g.node(n).and_then(|x| x.op.function_ref()) == Some(f) {
                            self.recompute_local(g, n);
                            seeds.push(n);
                        }
                    }
                }
                let mut roots = self.refresh_nodes(g, seeds);
                roots.insert(f);
                roots.extend(g.functions().filter(|c| c.parent_function == Some(f)).map(|c| c.id));
                for r in roots {
                    self.refresh_root(g, r);
                }
            }
            Touched::Removed { def, nodes, edges } => {
                for n in nodes {
                    put(&mut self.local, n.index(), None);
                    put(&mut self.deep, n.index(), None);
                }
                for e in edges {
                    put(&mut self.control, e.index(), None);
                }
                if let Some(acc) = self.functions.remove(&def.id) {
                    self.functions_sum = self.functions_sum.sub(acc.entry);
                }
                for c in g.functions().filter(|c| c.parent_function == Some(def.id)).map(|c| c.id).collect::<Vec<_>>() {
                    self.refresh_root(g, c);
                }
            }
            Touched::Node(n) => {
                self.recompute_local(g, n);
                for f in self.refresh_nodes(g, vec![n]) {
                    self.refresh_root(g, f);
                }
            }
            Touched::NodeRemoved { node, owner, edges, neighbours } => {
                if let Some(old) = slot(&self.deep, node.index()) {
                    let acc = self.functions.entry(owner).or_default();
                    acc.nodes_sum = acc.nodes_sum.sub(old);
                    acc.nodes -= 1;
                }
                put(&mut self.local, node.index(), None);
                put(&mut self.deep, node.index(), None);
                for e in edges {
                    self.drop_control(owner, e);
                }
                let live: Vec<NodeId> = neighbours.into_iter().filter(|n| g.node(*n).is_some()).collect();
                let mut roots = self.refresh_nodes(g, live);
                roots.insert(owner);
                for f in roots {
                    self.refresh_root(g, f);
                }
            }
            Touched::Edge { id, source, target } => {
                let owner = g.node(source).or(g.node(target)).map(|n| n.owner);
                let mut roots = BTreeSet::new();
                match g.edge(id) {
                    Some(e) if !e.edge.is_data() => {
                        let h = self.control_hash(e.source, e.target, e.edge);
                        if let Some(f) = owner {
                            self.set_control(f, id, h);
                        }
                    }
                    Some(_) => roots = self.refresh_nodes(g, vec![target]),
                    None => match (slot(&self.control, id.index()), owner) {
                        (Some(_), Some(f)) => self.drop_control(f, id),
                        _ => roots = self.refresh_nodes(g, vec![target]),
                    },
                }
                roots.extend(owner);
                for f in roots {
                    self.refresh_root(g, f);
                }
            }
        }
        self.refresh_program();
    }

    /// Recomputes the hashes of `seeds` and of every data descendant, in data order,
    /// with the control edges that touch them. Returns the functions touched.
    fn refresh_nodes(&mut self, g: &ProgramGraph, seeds: Vec<NodeId>) -> BTreeSet<FunctionId> {
        let mut affected = BTreeSet::new();
        let mut stack: Vec<NodeId> = seeds.into_iter().filter(|n| g.node(*n).is_some()).collect();
        while let Some(n) = stack.pop() {
            if affected.insert(n) {
                stack.extend(g.outgoing(n).into_iter().filter(|e| e.edge.is_data()).map(|e| e.target));
            }
        }
        let mut functions = BTreeSet::new();
        for n in topological(g, affected.into_iter().collect()) {
            let Some(owner) = g.node(n).map(|x| x.owner) else { continue };
            functions.insert(owner);
            let new = self.deep_of(g, n);
            let old = slot(&self.deep, n.index());
            if old == Some(new) {
                continue;
            }
            let acc = self.functions.entry(owner).or_default();
            match old {
                Some(o) => acc.nodes_sum = acc.nodes_sum.sub(o),
                None => acc.nodes += 1,
            }
            acc.nodes_sum = acc.nodes_sum.add(new);
            put(&mut self.deep, n.index(), Some(new));
            for e in g.incoming(n).into_iter().chain(g.outgoing(n)).filter(|e| !e.edge.is_data()) {
                let h = self.control_hash(e.source, e.target, e.edge);
                self.set_control(owner, e.id, h);
            }
        }
        functions
    }

    fn set_control(&mut self, owner: FunctionId, e: EdgeId, h: ContentHash) {
        let acc = self.functions.entry(owner).or_default();
        match slot(&self.control, e.index()) {
            Some(old) => acc.edges_sum = acc.edges_sum.sub(old),
            None => acc.edges += 1,
        }
        acc.edges_sum = acc.edges_sum.add(h);
        put(&mut self.control, e.index(), Some(h));
    }

    fn drop_control(&mut self, owner: FunctionId, e: EdgeId) {
        if let Some(old) = slot(&self.control, e.index()) {
            let acc = self.functions.entry(owner).or_default();
            acc.edges_sum = acc.edges_sum.sub(old);
            acc.edges -= 1;
            put(&mut self.control, e.index(), None);
        }
    }

    fn type_ref(&mut self, g: &ProgramGraph, t: TypeId) -> ContentHash {
        if let Some(h) = slot(&self.type_refs, t.index()) {
            return h;
        }
        let h = canon::type_ref(g, t);
        put(&mut self.type_refs, t.index(), Some(h));
        h
    }

    fn recompute_local(&mut self, g: &ProgramGraph, n: NodeId) {
        put(&mut self.local, n.index(), local_hash(g, n));
    }

    /// A node's Merkle hash from its local hash and its data inputs in slot order.
    fn deep_of(&mut self, g: &ProgramGraph, n: NodeId) -> ContentHash {
        let inputs = self.data_inputs(g, n);
        let mut c = Canon::new(domain::NODE);
        c.hash("local", &slot(&self.local, n.index()).unwrap_or_default()).u32("inputs", inputs.len() as u32);
        for (target_port, source_port, ty, source) in &inputs {
            c.u32("target_port", *target_port as u32).u32("source_port", *source_port as u32);
            c.hash("value_type", ty).hash("source", source);
        }
        c.finish()
    }

    /// Incoming data edges as (target port, source port, type hash, source hash), sorted.
    pub(crate) fn data_inputs(&mut self, g: &ProgramGraph, n: NodeId) -> Vec<(u16, u16, ContentHash, ContentHash)> {
        let mut inputs: Vec<_> = g
            .incoming(n)
            .into_iter()
            .filter_map(|e| match e.edge {
                FlowEdge::Data { source_port, target_port, value_type } => {
                    Some((target_port, source_port, value_type, e.source))
                }
                FlowEdge::Control { .. } => None,
            })
            .map(|(tp, sp, ty, src)| (tp, sp, self.type_ref(g, ty), slot(&self.deep, src.index()).unwrap_or_default()))
            .collect();
        inputs.sort();
        inputs
    }

    fn control_hash(&self, source: NodeId, target: NodeId, edge: FlowEdge) -> ContentHash {
        let branch = match edge {
            FlowEdge::Control { branch_index } => branch_index,
            FlowEdge::Data { .. } => None,
        };
        let mut c = Canon::new(domain::CONTROL_EDGE);
        c.opt_u16("branch", branch);
        c.hash("source", &slot(&self.deep, source.index()).unwrap_or_default());
        c.hash("target", &slot(&self.deep, target.index()).unwrap_or_default());
        c.finish()
    }

    fn refresh_root(&mut self, g: &ProgramGraph, f: FunctionId) {
        let Some(def) = g.function(f) else { return };
        let acc = self.functions.get(&f).copied().unwrap_or_default();
        let mut c = Canon::new(domain::FUNCTION);
        c.str("visibility", def.visibility.as_str()).u32("params", def.params.len() as u32);
        for (name, t) in &def.params {
            let h = self.type_ref(g, *t);
            c.str("param", name).hash("param_type", &h);
        }
        let ret = self.type_ref(g, def.return_type);
        c.hash("return_type", &ret).u8("closure", def.is_closure as u8);
        let parent = def.parent_function.and_then(|p| g.qualified_name(p)).unwrap_or_default();
        c.str("parent", &parent).u32("captures", def.captures.len() as u32);
        for cap in &def.captures {
            let h = self.type_ref(g, cap.captured_type);
            c.str("capture", &cap.name).hash("capture_type", &h).str("mode", cap.mode.as_str());
        }
        let entry = def.entry_node.and_then(|n| slot(&self.deep, n.index())).unwrap_or_default();
        c.hash("entry", &entry);
        c.u64("nodes", acc.nodes).hash("nodes_sum", &acc.nodes_sum);
        c.u64("control_edges", acc.edges).hash("control_sum", &acc.edges_sum);
        let root = c.finish();
        let mut e = Canon::new(domain::FUNCTION_ENTRY);
        e.str("name", &g.qualified_name(f).unwrap_or_default()).hash("root", &root);
        let entry_hash = e.finish();
        let acc = self.functions.entry(f).or_default();
        self.functions_sum = self.functions_sum.sub(acc.entry).add(entry_hash);
        acc.root = root;
        acc.entry = entry_hash;
    }

    fn refresh_types(&mut self, g: &ProgramGraph) {
        self.types_sum = ContentHash::default();
        self.types = 0;
        for (t, _) in g.types().named() {
            self.types_sum = self.types_sum.add(canon::type_definition(g, t));
            self.types += 1;
        }
    }

    fn refresh_modules(&mut self, g: &ProgramGraph) {
        self.modules_sum = ContentHash::default();
        self.modules = 0;
        for m in g.modules().iter() {
            let mut c = Canon::new(domain::MODULE_ENTRY);
            c.str("path", &g.modules().path(m.id).join("::")).str("visibility", m.visibility.as_str());
            self.modules_sum = self.modules_sum.add(c.finish());
            self.modules += 1;
        }
    }

    fn refresh_program(&mut self) {
        let mut c = Canon::new(domain::PROGRAM);
        c.u64("functions", self.functions.len() as u64).hash("functions_sum", &self.functions_sum);
        c.u64("types", self.types).hash("types_sum", &self.types_sum);
        c.u64("modules", self.modules).hash("modules_sum", &self.modules_sum);
        self.program = c.finish();
    }
}

/// A node's own hash: its operation alone.
fn local_hash(g: &ProgramGraph, n: NodeId) -> Option<ContentHash> {
    let node = g.node(n)?;
    let mut c = Canon::new(domain::NODE_LOCAL);
    canon::op(g, &mut c, &node.op);
    Some(c.finish())
}

/// Every node in data order, by Kahn's algorithm on petgraph indices (the whole-graph
/// case of [`topological`], without its per-node maps). Nodes on a data cycle, which
/// only a corrupt graph has, come last in id order.
fn topological_all(g: &ProgramGraph) -> Vec<NodeId> {
    let bound = g.compute.node_bound();
    let mut indegree = vec![0u32; bound];
    for e in g.compute.edge_references().filter(|e| e.weight().edge.is_data()) {
        indegree[e.target().index()] += 1;
    }
    let mut ready: Vec<_> = g.compute.node_indices().filter(|i| indegree[i.index()] == 0).collect();
    ready.reverse();
    let mut order = Vec::with_capacity(g.compute.node_count());
    while let Some(n) = ready.pop() {
        order.push(g.compute[n].id);
        for e in g.compute.edges_directed(n, petgraph::Direction::Outgoing) {
            if e.weight().edge.is_data() {
                let d = &mut indegree[e.target().index()];
                *d -= 1;
                if *d == 0 {
                    ready.push(e.target());
                }
            }
        }
    }
    if order.len() < g.compute.node_count() {
        let mut rest: Vec<NodeId> =
            g.compute.node_indices().filter(|i| indegree[i.index()] > 0).map(|i| g.compute[i].id).collect();
        rest.sort();
        order.extend(rest);
    }
    order
}

/// `nodes` in an order where every data source comes before its targets (among the
/// given nodes). Nodes on a data cycle, which only a corrupt graph has, come last in id
/// order, so hashing still ends and stays deterministic.
fn topological(g: &ProgramGraph, nodes: Vec<NodeId>) -> Vec<NodeId> {
    let set: std::collections::HashSet<NodeId> = nodes.iter().copied().collect();
    let mut indegree: HashMap<NodeId, usize> = nodes.iter().map(|n| (*n, 0)).collect();
    for n in &nodes {
        for e in g.outgoing(*n).into_iter().filter(|e| e.edge.is_data() && set.contains(&e.target)) {
            *indegree.entry(e.target).or_default() += 1;
        }
    }
    let mut ready: Vec<NodeId> = nodes.iter().copied().filter(|n| indegree.get(n) == Some(&0)).collect();
    ready.sort_by(|a, b| b.cmp(a));
    let mut order = Vec::with_capacity(nodes.len());
    let mut done = std::collections::HashSet::new();
    while let Some(n) = ready.pop() {
        order.push(n);
        done.insert(n);
        for e in g.outgoing(n).into_iter().filter(|e| e.edge.is_data() && set.contains(&e.target)) {
            if let Some(d) = indegree.get_mut(&e.target) {
                *d -= 1;
                if *d == 0 {
                    ready.push(e.target);
                }
            }
        }
    }
    let mut rest: Vec<NodeId> = nodes.into_iter().filter(|n| !done.contains(n)).collect();
    rest.sort();
    order.extend(rest);
    order
}
