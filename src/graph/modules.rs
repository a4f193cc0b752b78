//! `ModuleTree`: the module hierarchy and which functions and named types live where.
//!
//! Only the `ModuleDef`s are primary data; the child, function and type indexes are
//! rebuilt from the program, which is why equality compares the definitions alone.

use crate::model::{FunctionId, ModuleDef, ModuleId, TypeId, Visibility};
use std::collections::{BTreeMap, BTreeSet};

/// The module hierarchy of one program.
#[derive(Debug, Clone)]
pub struct ModuleTree {
    modules: BTreeMap<ModuleId, ModuleDef>,
    children: BTreeMap<ModuleId, BTreeSet<ModuleId>>,
    functions: BTreeMap<ModuleId, BTreeMap<String, FunctionId>>,
    types: BTreeMap<ModuleId, BTreeSet<TypeId>>,
    next: u32,
}

impl PartialEq for ModuleTree {
    fn eq(&self, other: &Self) -> bool {
        self.modules == other.modules && self.next == other.next
    }
}

impl ModuleTree {
    pub(crate) fn with_root(name: &str) -> Self {
        let root =
            ModuleDef { id: ModuleId::ROOT, name: name.to_string(), parent: None, visibility: Visibility::Public };
        Self::from_parts(BTreeMap::from([(ModuleId::ROOT, root)]), 1)
    }

    /// Rebuilds the tree from stored definitions; function and type membership is
    /// attached afterwards by the graph.
    pub(crate) fn from_parts(modules: BTreeMap<ModuleId, ModuleDef>, next: u32) -> Self {
        let mut tree = ModuleTree {
            modules: BTreeMap::new(),
            children: BTreeMap::new(),
            functions: BTreeMap::new(),
            types: BTreeMap::new(),
            next,
        };
        for def in modules.into_values() {
            tree.insert(def);
        }
        tree
    }

    /// A tree of just these modules (no functions or types), for path look-ups over
    /// module rows read from a store.
    pub fn from_defs(defs: impl IntoIterator<Item = ModuleDef>) -> Self {
        Self::from_parts(defs.into_iter().map(|d| (d.id, d)).collect(), 0)
    }

    pub(crate) fn insert(&mut self, def: ModuleDef) {
        if let Some(parent) = def.parent {
            self.children.entry(parent).or_default().insert(def.id);
        }
        self.next = self.next.max(def.id.0.saturating_add(1));
        self.modules.insert(def.id, def);
    }

    pub(crate) fn allocate(&mut self) -> ModuleId {
        let id = ModuleId(self.next);
        self.next += 1;
        id
    }

    /// Makes the next id at least `next`, at once: a stored counter may lie far past
    /// the last module (trailing ones deleted, or a hand-edited `u32::MAX`).
    pub(crate) fn raise_next(&mut self, next: u32) {
        self.next = self.next.max(next);
    }

    pub(crate) fn remove(&mut self, id: ModuleId) -> Option<ModuleDef> {
        let def = self.modules.remove(&id)?;
        if let Some(set) = def.parent.and_then(|parent| self.children.get_mut(&parent)) {
            set.remove(&id);
        }
        self.children.remove(&id);
        self.functions.remove(&id);
        self.types.remove(&id);
        Some(def)
    }

    pub(crate) fn def_mut(&mut self, id: ModuleId) -> Option<&mut ModuleDef> {
        self.modules.get_mut(&id)
    }

    pub(crate) fn attach_function(&mut self, module: ModuleId, name: &str, id: FunctionId) {
        self.functions.entry(module).or_default().insert(name.to_string(), id);
    }

    pub(crate) fn detach_function(&mut self, module: ModuleId, name: &str) {
        if let Some(map) = self.functions.get_mut(&module) {
            map.remove(name);
        }
    }

    pub(crate) fn attach_type(&mut self, module: ModuleId, id: TypeId) {
        self.types.entry(module).or_default().insert(id);
    }

    /// The module with this id.
    pub fn get(&self, id: ModuleId) -> Option<&ModuleDef> {
        self.modules.get(&id)
    }

    /// All modules in id order.
    pub fn iter(&self) -> impl Iterator<Item = &ModuleDef> + '_ {
        self.modules.values()
    }

    /// Number of modules, the root included.
    pub fn len(&self) -> usize {
        self.modules.len()
    }

    /// Never true: the root is always there.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// The id the next module will get.
    pub fn next_id(&self) -> ModuleId {
        ModuleId(self.next)
    }

    /// Child modules, ascending.
    pub fn children(&self, id: ModuleId) -> impl Iterator<Item = ModuleId> + '_ {
        self.children.get(&id).into_iter().flatten().copied()
    }

    /// A child module by name.
    pub fn child_named(&self, parent: ModuleId, name: &str) -> Option<ModuleId> {
        self.children(parent).find(|c| self.modules.get(c).is_some_and(|m| m.name == name))
    }

    /// Functions in a module, by name.
    pub fn functions_in(&self, id: ModuleId) -> impl Iterator<Item = (&str, FunctionId)> + '_ {
        self.functions.get(&id).into_iter().flatten().map(|(n, f)| (n.as_str(), *f))
    }

    /// A function in a module by name.
    pub fn function_named(&self, module: ModuleId, name: &str) -> Option<FunctionId> {
        self.functions.get(&module).and_then(|m| m.get(name)).copied()
    }

    /// Named types declared in a module, ascending.
    pub fn types_in(&self, id: ModuleId) -> impl Iterator<Item = TypeId> + '_ {
        self.types.get(&id).into_iter().flatten().copied()
    }

    /// Names from the root to this module: `["root", "math", "trig"]`. Stops at a
    /// missing parent or a cycle, which `validate()` reports.
    pub fn path(&self, id: ModuleId) -> Vec<String> {
        let mut names = Vec::new();
        let mut current = Some(id);
        while let Some(m) = current.and_then(|c| self.modules.get(&c)) {
            names.push(m.name.clone());
            if names.len() > self.modules.len() {
                break;
            }
            current = m.parent;
        }
        names.reverse();
        names
    }

    /// The innermost names of this module's path, outermost first, as many as fit in
    /// `max_bytes` written with `::` between them, and whether that is the whole path.
    /// Costs O(max_bytes) however deep the module, for names that must stay short.
    pub fn path_within(&self, id: ModuleId, max_bytes: usize) -> (Vec<&str>, bool) {
        let mut names = Vec::new();
        let mut used = 0;
        let mut current = Some(id);
        while let Some(m) = current.and_then(|c| self.modules.get(&c)) {
            used += m.name.len() + if names.is_empty() { 0 } else { 2 };
            if used > max_bytes || names.len() >= self.modules.len() {
                names.reverse();
                return (names, false);
            }
            names.push(m.name.as_str());
            current = m.parent;
        }
        names.reverse();
        (names, true)
    }

    /// The module a path names, starting with the root's name.
    pub fn resolve<S: AsRef<str>>(&self, path: &[S]) -> Option<ModuleId> {
        let (first, rest) = path.split_first()?;
        let root = self.modules.get(&ModuleId::ROOT)?;
        if root.name != first.as_ref() {
            return None;
        }
        rest.iter().try_fold(ModuleId::ROOT, |m, name| self.child_named(m, name.as_ref()))
    }
}
