//! `validate()`: every invariant of the model checked on any graph, one built by hand,
//! loaded from a store or read from JSON. Problems come back as data, all of them.

use super::edit::NameRule;
use super::error::{Entity, Violation};
use super::program::ProgramGraph;
use crate::model::{EdgeId, FlowEdge, FunctionId, LmType, ModuleId, NodeId, SemanticKey};
use petgraph::Direction;
use petgraph::visit::{EdgeFiltered, EdgeRef, IntoEdgeReferences, NodeIndexable};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Reports the name of a module, function or named type that breaks `rule` (see
/// `check_name`), in the words of `GraphError::InvalidName`, which say what a valid
/// name is.
fn check_entity_name(out: &mut Vec<Violation>, e: Entity, name: &str, rule: NameRule) {
    if let Err(invalid) = super::edit::check_name_by(name, rule) {
        out.push(Violation::new(e, invalid.to_string()));
    }
}

impl ProgramGraph {
    /// Every broken invariant, sorted by entity; empty when the graph is whole.
    pub fn validate(&self) -> Vec<Violation> {
        self.validate_by(NameRule::Current)
    }

    /// [`validate`](Self::validate) with names held to `names`.
    pub(crate) fn validate_by(&self, names: NameRule) -> Vec<Violation> {
        let mut out = self.assembly_violations.clone();
        self.validate_without_edges(&mut out, names);
        self.validate_edges(&mut out);
        out.sort();
        out.dedup();
        out
    }

    /// The checks that read no flow edge: modules, types, functions, nodes and the
    /// semantic graph. Split from [`validate_edges`](Self::validate_edges) so assembly
    /// can run them before the edges are in (see `PartialGraph`); the two together
    /// find exactly what `validate_by(names)` finds.
    pub(crate) fn validate_without_edges(&self, out: &mut Vec<Violation>, names: NameRule) {
        self.validate_modules(out, names);
        self.validate_types(out, names);
        self.validate_functions(out, names);
        self.validate_nodes(out);
        self.validate_semantic(out);
    }

    /// The checks of the flow edges: their ends, types and operand slots, and that the
    /// data edges form no cycle.
    pub(crate) fn validate_edges(&self, out: &mut Vec<Violation>) {
        self.validate_edge_rows(out);
        self.validate_data_dag(out);
    }

    fn validate_modules(&self, out: &mut Vec<Violation>, names: NameRule) {
        match self.modules.get(ModuleId::ROOT) {
            None => out.push(Violation::new(Entity::Module(ModuleId::ROOT), "the root module is missing")),
            Some(root) if root.parent.is_some() => {
                out.push(Violation::new(Entity::Module(ModuleId::ROOT), "the root module has a parent"))
            }
            _ => {}
        }
        let mut sibling_names = HashSet::new();
        let endless = self.modules_in_endless_chains();
        for m in self.modules.iter() {
            let e = Entity::Module(m.id);
            if m.id.0 >= self.modules.next_id().0 {
                out.push(Violation::new(e, "id is not below the next module id"));
            }
            check_entity_name(out, e, &m.name, names);
            if m.id != ModuleId::ROOT {
                match m.parent {
                    None => out.push(Violation::new(e, "only the root module may lack a parent")),
                    Some(p) if self.modules.get(p).is_none() => {
                        out.push(Violation::new(e, format!("parent {p} does not exist")))
                    }
                    Some(p) => {
                        if !sibling_names.insert((p, m.name.clone())) {
                            out.push(Violation::new(e, format!("another module in {p} is named {:?}", m.name)));
                        }
                    }
                }
                if endless.contains(&m.id) {
                    out.push(Violation::new(e, "module parents form a cycle"));
                }
            }
        }
    }

    /// The modules whose chain of parents never reaches the root nor ends (it runs into
    /// a cycle). Each module is walked once, whatever the nesting: walking every module
    /// up to the root made a chain of modules cost the square of its length.
    fn modules_in_endless_chains(&self) -> HashSet<ModuleId> {
        let mut endless: HashMap<ModuleId, bool> = HashMap::new();
        for m in self.modules.iter() {
            let (mut walk, mut on_walk) = (Vec::new(), HashSet::new());
            let mut current = Some(m.id);
            let verdict = loop {
                match current {
                    None => break false,
                    Some(c) if c == ModuleId::ROOT => break false,
                    Some(c) => {
                        if let Some(&known) = endless.get(&c) {
                            break known;
                        }
                        if !on_walk.insert(c) {
                            break true;
                        }
                        walk.push(c);
                        current = self.modules.get(c).and_then(|d| d.parent);
                    }
                }
            };
            endless.extend(walk.into_iter().map(|c| (c, verdict)));
        }
        endless.into_iter().filter_map(|(m, e)| e.then_some(m)).collect()
    }

    fn validate_types(&self, out: &mut Vec<Violation>, names: NameRule) {
        for (id, ty) in self.types.iter() {
            let e = Entity::Type(id);
            if id.0 >= self.types.next_id().0 {
                out.push(Violation::new(e, "id is not below the next type id"));
            }
            for r in ty.referenced_types() {
                if !self.types.contains(r) {
                    out.push(Violation::new(e, format!("refers to missing type {r}")));
                } else if r >= id && self.types.name_of(r).is_none() {
                    out.push(Violation::new(e, format!("refers to later anonymous type {r}")));
                }
            }
            if let Some(bad) = ty.member_names().find(|n| n.contains('\0')) {
                out.push(Violation::new(e, format!("invalid name {bad:?}: names contain no NUL")));
            }
            let name = self.types.name_of(id);
            if let Some(n) = name {
                check_entity_name(out, e, &n.name, names);
            }
            let def_fields = match ty {
                LmType::Struct(d) => Some((&d.name, d.type_id, d.module, d.visibility)),
                LmType::Enum(d) => Some((&d.name, d.type_id, d.module, d.visibility)),
                _ => None,
            };
            if let LmType::Enum(d) = ty {
                for (pos, (vname, v)) in d.variants.iter().enumerate() {
                    if v.index != pos as u32 {
                        out.push(Violation::new(
                            e,
                            format!("variant {vname:?} has index {} at position {pos}", v.index),
                        ));
                    }
                }
            }
            match (def_fields, name) {
                (Some(_), None) => out.push(Violation::new(e, "struct or enum is not registered by name")),
                (Some((dname, did, dmod, dvis)), Some(n))
                    if *dname != n.name || did != id || dmod != n.module || dvis != n.visibility =>
                {
                    out.push(Violation::new(
                        e,
                        "definition disagrees with its registered name, id, module or visibility",
                    ));
                }
                _ => {}
            }
            if id.is_builtin() && name.is_some() {
                out.push(Violation::new(e, "built-in types cannot be named"));
            }
        }
        for (id, n) in self.types.named() {
            if !self.types.contains(id) {
                out.push(Violation::new(Entity::Type(id), format!("name {:?} refers to a missing type", n.name)));
            }
            if self.modules.get(n.module).is_none() {
                out.push(Violation::new(Entity::Type(id), format!("module {} does not exist", n.module)));
            }
        }
    }

    fn validate_functions(&self, out: &mut Vec<Violation>, names: NameRule) {
        let mut taken = HashSet::new();
        for (id, entry) in &self.functions {
            let def = &entry.def;
            let e = Entity::Function(*id);
            if def.id != *id {
                out.push(Violation::new(e, format!("definition carries id {}", def.id)));
            }
            if id.0 >= self.next_function {
                out.push(Violation::new(e, "id is not below the next function id"));
            }
            check_entity_name(out, e, &def.name, names);
            for label in def.params.iter().map(|(n, _)| n).chain(def.captures.iter().map(|c| &c.name)) {
                if super::edit::check_label(label).is_err() {
                    out.push(Violation::new(e, format!("invalid parameter or capture name {label:?}")));
                }
            }
            if self.modules.get(def.module).is_none() {
                out.push(Violation::new(e, format!("module {} does not exist", def.module)));
            }
            if !taken.insert((def.module, def.name.clone())) {
                out.push(Violation::new(e, format!("another function in {} is named {:?}", def.module, def.name)));
            }
            for t in def.signature_types() {
                if !self.types.contains(t) {
                    out.push(Violation::new(e, format!("signature refers to missing type {t}")));
                }
            }
            if let Some(n) = def.entry_node {
                match self.node(n) {
                    None => out.push(Violation::new(e, format!("entry node {n} does not exist"))),
                    Some(node) if node.owner != *id => {
                        out.push(Violation::new(e, format!("entry node {n} belongs to {}", node.owner)))
                    }
                    _ => {}
                }
            }
            match (def.is_closure, def.parent_function) {
                (true, None) => out.push(Violation::new(e, "closure without a parent function")),
                (false, Some(_)) => out.push(Violation::new(e, "a parent function is set but it is not a closure")),
                (true, Some(p)) if !self.functions.contains_key(&p) => {
                    out.push(Violation::new(e, format!("parent function {p} does not exist")))
                }
                _ => {}
            }
            if !def.is_closure && !def.captures.is_empty() {
                out.push(Violation::new(e, "captures on a function that is not a closure"));
            }
        }
        for f in self.closures_without_a_plain_ancestor() {
            out.push(Violation::new(Entity::Function(f), "closure parents form a cycle"));
        }
    }

    /// Closures whose chain of parents never reaches a function that is not a
    /// closure: the chain runs into a cycle. The API cannot build one (a parent exists
    /// before its closures); a document or a row can. Each function is walked once.
    fn closures_without_a_plain_ancestor(&self) -> Vec<FunctionId> {
        // Whether a function's chain reaches a plain function (or a missing parent,
        // which is reported on its own).
        let mut settled: HashMap<FunctionId, bool> = HashMap::new();
        let mut stuck = Vec::new();
        for &start in self.functions.keys() {
            let (mut path, mut on_path) = (Vec::new(), HashSet::new());
            let mut current = start;
            let reaches = loop {
                if let Some(&r) = settled.get(&current) {
                    break r;
                }
                match self.functions.get(&current).map(|f| (f.def.is_closure, f.def.parent_function)) {
                    Some((true, Some(parent))) => {
                        if !on_path.insert(current) {
                            break false;
                        }
                        path.push(current);
                        current = parent;
                    }
                    _ => break true,
                }
            };
            for f in path {
                settled.insert(f, reaches);
                if !reaches {
                    stuck.push(f);
                }
            }
        }
        stuck
    }

    fn validate_nodes(&self, out: &mut Vec<Violation>) {
        for (id, node) in self.nodes() {
            let e = Entity::Node(id);
            if !self.functions.contains_key(&node.owner) {
                out.push(Violation::new(e, format!("owner {} does not exist", node.owner)));
            }
            match self.op_problem(&node.op) {
                None => {}
                Some(super::edit::OpProblem::Missing(what)) => {
                    out.push(Violation::new(e, format!("op {} refers to {what}, which does not exist", node.op.kind())))
                }
                Some(super::edit::OpProblem::Unfit(what, why)) => {
                    out.push(Violation::new(e, format!("op {} refers to {what}, which {why}", node.op.kind())))
                }
            }
        }
    }

    fn validate_edge_rows(&self, out: &mut Vec<Violation>) {
        // One bit per operand slot below 64 and node: a slot fed twice finds its bit set.
        let mut fed = vec![0u64; self.compute.node_bound()];
        let mut slot_fed_twice = false;
        for slot in self.compute.edge_indices() {
            let Some((a, b)) = self.compute.edge_endpoints(slot) else { continue };
            let (source, target) = (&self.compute[a], &self.compute[b]);
            let edge = &self.compute[slot];
            let e = Entity::Edge(edge.id);
            if source.node.owner != target.node.owner {
                out.push(Violation::new(
                    e,
                    format!("joins {} of {} to {} of {}", source.id, source.node.owner, target.id, target.node.owner),
                ));
            }
            if let FlowEdge::Data { target_port, value_type, .. } = edge.edge {
                if !self.types.contains(value_type) {
                    out.push(Violation::new(e, format!("value type {value_type} does not exist")));
                }
                // A slot of 64 or more has no bit: the exact check below decides.
                let bit = 1u64.checked_shl(target_port.into()).unwrap_or(0);
                slot_fed_twice |= bit == 0 || fed[b.index()] & bit != 0;
                fed[b.index()] |= bit;
            }
        }
        if slot_fed_twice {
            self.validate_operand_slots(out);
        }
    }

    /// Operand slots fed twice: collect (target, slot, edge), sort, compare neighbours.
    /// Run only when the bitmap pass above saw a slot set twice (or a high slot).
    fn validate_operand_slots(&self, out: &mut Vec<Violation>) {
        let mut ports: Vec<(NodeId, u16, EdgeId)> = Vec::new();
        for e in self.compute.edge_references() {
            if let FlowEdge::Data { target_port, .. } = e.weight().edge {
                ports.push((self.compute[e.target()].id, target_port, e.weight().id));
            }
        }
        ports.sort_unstable();
        for pair in ports.windows(2) {
            if pair[0].0 == pair[1].0 && pair[0].1 == pair[1].1 {
                let (target, port, first) = pair[0];
                out.push(Violation::new(
                    Entity::Edge(pair[1].2),
                    format!("operand slot {port} of {target} is fed by {first} too"),
                ));
            }
        }
    }

    /// Kahn's algorithm over data edges: whatever cannot be ordered sits on a cycle.
    fn validate_data_dag(&self, out: &mut Vec<Violation>) {
        // If every data edge runs from a lower petgraph index to a higher one, index
        // order is a topological order and there is no cycle. Assembled graphs index
        // nodes in id order, in which programs are mostly built, so this usually ends
        // the check in one pass over the edges.
        let data_edges = || self.compute.edge_references().filter(|e| e.weight().edge.is_data());
        if data_edges().all(|e| e.source() < e.target()) {
            return;
        }
        let bound = self.compute.node_bound();
        let mut indegree = vec![0u32; bound];
        for e in data_edges() {
            indegree[e.target().index()] += 1;
        }
        let mut ready: Vec<_> = self.compute.node_indices().filter(|i| indegree[i.index()] == 0).collect();
        let mut ordered = 0usize;
        while let Some(n) = ready.pop() {
            ordered += 1;
            for e in self.compute.edges_directed(n, Direction::Outgoing).filter(|e| e.weight().edge.is_data()) {
                let d = &mut indegree[e.target().index()];
                *d -= 1;
                if *d == 0 {
                    ready.push(e.target());
                }
            }
        }
        if ordered < self.compute.node_count() {
            self.report_data_cycles(out);
        }
    }

    /// Reports the nodes that lie on a cycle of data edges, and only those: the nodes
    /// the topological sort above leaves over also include every node downstream of a
    /// cycle, which is not itself broken. A node is on a cycle when its strongly
    /// connected component (over data edges) has more than one node, or it feeds itself.
    fn report_data_cycles(&self, out: &mut Vec<Violation>) {
        let data = EdgeFiltered::from_fn(&self.compute, |e| e.weight().edge.is_data());
        for component in petgraph::algo::tarjan_scc(&data) {
            let on_cycle = match component.as_slice() {
                [single] => self.compute.edges_connecting(*single, *single).any(|e| e.weight().edge.is_data()),
                _ => true,
            };
            if on_cycle {
                for i in component {
                    out.push(Violation::new(Entity::Node(self.compute[i].id), "lies on a cycle of data edges"));
                }
            }
        }
    }

    /// The semantic graph must hold exactly one node per module, function and named
    /// type. (Its edges are derived on every edit and rebuild, so they cannot drift.)
    fn validate_semantic(&self, out: &mut Vec<Violation>) {
        let nodes = self.semantic.node_set();
        let expected = self
            .modules
            .iter()
            .map(|m| SemanticKey::Module(m.id))
            .chain(self.functions.keys().map(|f| SemanticKey::Function(*f)))
            .chain(self.types.named().map(|(t, _)| SemanticKey::Type(t)))
            .collect::<BTreeSet<_>>();
        let present = nodes.keys().copied().collect::<BTreeSet<_>>();
        for missing in expected.difference(&present) {
            out.push(Violation::new(Entity::Program, format!("semantic graph lacks a node for {missing:?}")));
        }
        for extra in present.difference(&expected) {
            out.push(Violation::new(Entity::Program, format!("semantic graph has a stray node for {extra:?}")));
        }
    }
}
