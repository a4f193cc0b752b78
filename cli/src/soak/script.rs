//! Random mutation scripts: what a soak writer commits, in a form a checker can replay.
//!
//! A [`Step`] is one store call (a CRUD mutation, a grouped `edit`, a whole-program save,
//! a program created, renamed or deleted). The writer draws steps with a [`Scripter`],
//! which applies each one to its own copy of the programs ([`Programs`]) first and keeps
//! only edits the graph API accepts, so every step it hands out commits on a store that
//! holds the same programs. A checker that replays the same steps on plain graphs
//! ([`Step::replay`]) gets the programs the store must hold: that is the reference the
//! crash and concurrency soaks compare loads with.
//!
//! This file is shared by `lmstore soak` and the reliability tests (included by path), so
//! it uses only the library's public API.

use lmlang_storage::graph::{GraphError, ProgramGraph};
use lmlang_storage::model::{
    ArithOp, CmpOp, ComputeNodeOp, ComputeOp, ConstValue, EdgeId, FlowEdge, FunctionId, ModuleId, NodeId, StructuredOp,
    TypeId, Visibility,
};
use lmlang_storage::store::{GraphStore, NewFunction, ProgramId, StorageError, StorageResult};
use lmlang_storage::synth::{SynthConfig, generate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Programs by name: what a store holds, as plain graphs.
pub type Programs = BTreeMap<String, ProgramGraph>;

/// Strings that stress quoting, encodings and SQL (no NUL: names never hold one).
pub const ODD_TEXT: &[&str] = &[
    "plain",
    "it's",
    "say \"hi\"",
    "Robert'); DROP TABLE programs;--",
    "SELECT * FROM compute_nodes",
    "back\\slash",
    "tab\tnew\nline",
    "λ_ü_名前",
    "emoji 🦀",
    "rtl \u{202e}txet",
    "%_*?",
];

/// One edit of one program, as the graph API and the store's CRUD calls both express it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Edit {
    InsertNode { function: FunctionId, op: ComputeNodeOp },
    InsertEdge { source: NodeId, target: NodeId, edge: FlowEdge },
    UpdateNode { node: NodeId, op: ComputeNodeOp },
    DeleteNode { node: NodeId },
    DeleteEdge { edge: EdgeId },
    InsertFunction { module: ModuleId, name: String, params: Vec<(String, TypeId)>, return_type: TypeId },
}

impl Edit {
    /// Applies the edit to a graph; a refused edit changes nothing.
    pub fn apply(&self, g: &mut ProgramGraph) -> Result<(), GraphError> {
        match self {
            Edit::InsertNode { function, op } => g.add_compute_node(*function, op.clone()).map(drop),
            Edit::InsertEdge { source, target, edge } => g.add_edge(*source, *target, *edge).map(drop),
            Edit::UpdateNode { node, op } => g.modify_compute_node_op(*node, op.clone()).map(drop),
            Edit::DeleteNode { node } => g.remove_compute_node(*node).map(drop),
            Edit::DeleteEdge { edge } => g.remove_edge(*edge).map(drop),
            Edit::InsertFunction { module, name, params, return_type } => {
                g.add_function(*module, name, Visibility::Public, params.clone(), *return_type).map(drop)
            }
        }
    }

    /// Commits the edit through the matching CRUD call of the store.
    fn commit(&self, store: &dyn GraphStore, program: ProgramId) -> StorageResult<()> {
        match self {
            Edit::InsertNode { function, op } => store.insert_node(program, *function, op.clone()).map(drop),
            Edit::InsertEdge { source, target, edge } => store.insert_edge(program, *source, *target, *edge).map(drop),
            Edit::UpdateNode { node, op } => store.update_node(program, *node, op.clone()).map(drop),
            Edit::DeleteNode { node } => store.delete_node(program, *node),
            Edit::DeleteEdge { edge } => store.delete_edge(program, *edge),
            Edit::InsertFunction { module, name, params, return_type } => store
                .insert_function(
                    program,
                    NewFunction {
                        module: *module,
                        name: name.clone(),
                        visibility: Visibility::Public,
                        params: params.clone(),
                        return_type: *return_type,
                        closure_of: None,
                    },
                )
                .map(drop),
        }
    }
}

/// One store call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Step {
    /// One CRUD mutation, committed on its own.
    One {
        program: String,
        edit: Edit,
    },
    /// Several edits committed as one unit with `GraphStore::edit`.
    Group {
        program: String,
        edits: Vec<Edit>,
    },
    /// `load_program`, the edits on the loaded graph, `save_program` (incremental save).
    Save {
        program: String,
        edits: Vec<Edit>,
    },
    /// `save_program` of a copy (a graph the store has not seen: it compares and writes
    /// the differences).
    SaveCopy {
        program: String,
        edits: Vec<Edit>,
    },
    /// `save_program` of an unrelated generated program: every row changes.
    Replace {
        program: String,
        nodes: usize,
        seed: u64,
    },
    /// `insert_program` of a generated program.
    Create {
        name: String,
        nodes: usize,
        seed: u64,
    },
    Delete {
        name: String,
    },
    Rename {
        from: String,
        to: String,
    },
}

fn generated(nodes: usize, seed: u64) -> ProgramGraph {
    generate(&SynthConfig { nodes, seed, gaps: seed % 2 == 1 })
}

fn missing(name: &str) -> String {
    format!("the step names program {name:?}, which the reference does not hold")
}

impl Step {
    /// Replays the step on plain graphs: the programs a store holds once it committed.
    pub fn replay(&self, programs: &mut Programs) -> Result<(), String> {
        let edit_all = |programs: &mut Programs, program: &str, edits: &[Edit]| {
            let g = programs.get_mut(program).ok_or_else(|| missing(program))?;
            for e in edits {
                e.apply(g).map_err(|err| format!("replaying {e:?} on {program:?}: {err}"))?;
            }
            Ok(())
        };
        match self {
            Step::One { program, edit } => edit_all(programs, program, std::slice::from_ref(edit)),
            Step::Group { program, edits } | Step::Save { program, edits } | Step::SaveCopy { program, edits } => {
                edit_all(programs, program, edits)
            }
            Step::Replace { program, nodes, seed } => {
                let g = programs.get_mut(program).ok_or_else(|| missing(program))?;
                // The store keeps the replacement's content but never lowers its next
                // ids: the ids the old program handed out stay spent.
                let mut doc = generated(*nodes, *seed).to_document();
                doc.next_ids = doc.next_ids.max(g.next_ids());
                *g = ProgramGraph::from_document(doc)
                    .map_err(|v| format!("replacing {program:?}: {} violation(s)", v.len()))?;
                Ok(())
            }
            Step::Create { name, nodes, seed } => {
                programs.insert(name.clone(), generated(*nodes, *seed));
                Ok(())
            }
            Step::Delete { name } => programs.remove(name).map(drop).ok_or_else(|| missing(name)),
            Step::Rename { from, to } => {
                let g = programs.remove(from).ok_or_else(|| missing(from))?;
                programs.insert(to.clone(), g);
                Ok(())
            }
        }
    }
}

/// Commits steps through a store, remembering program ids by name.
pub struct Committer<'a> {
    store: &'a dyn GraphStore,
    ids: HashMap<String, ProgramId>,
}

impl<'a> Committer<'a> {
    pub fn new(store: &'a dyn GraphStore) -> Self {
        Committer { store, ids: HashMap::new() }
    }

    fn id(&mut self, name: &str) -> StorageResult<ProgramId> {
        if let Some(id) = self.ids.get(name) {
            return Ok(*id);
        }
        let id = self.store.find_program(name)?;
        self.ids.insert(name.to_string(), id);
        Ok(id)
    }

    /// Commits one step; it returns once the step is durable.
    pub fn commit(&mut self, step: &Step) -> StorageResult<()> {
        let store = self.store;
        match step {
            Step::One { program, edit } => edit.commit(store, self.id(program)?),
            Step::Group { program, edits } => {
                let id = self.id(program)?;
                store.edit(id, &mut |g| edits.iter().try_for_each(|e| e.apply(g))).map(drop)
            }
            Step::Save { program, edits } => {
                let id = self.id(program)?;
                let mut g = store.load_program(id)?;
                apply_all(&mut g, id, edits)?;
                store.save_program(id, &g).map(drop)
            }
            Step::SaveCopy { program, edits } => {
                let id = self.id(program)?;
                let mut g = store.load_program(id)?.clone();
                apply_all(&mut g, id, edits)?;
                store.save_program(id, &g).map(drop)
            }
            Step::Replace { program, nodes, seed } => {
                let id = self.id(program)?;
                store.save_program(id, &generated(*nodes, *seed)).map(drop)
            }
            Step::Create { name, nodes, seed } => {
                let id = store.insert_program(name, &generated(*nodes, *seed))?;
                self.ids.insert(name.clone(), id);
                Ok(())
            }
            Step::Delete { name } => {
                let id = self.id(name)?;
                self.ids.remove(name);
                store.delete_program(id)
            }
            Step::Rename { from, to } => {
                let id = self.id(from)?;
                store.rename_program(id, to)?;
                self.ids.remove(from);
                self.ids.insert(to.clone(), id);
                Ok(())
            }
        }
    }
}

fn apply_all(g: &mut ProgramGraph, program: ProgramId, edits: &[Edit]) -> StorageResult<()> {
    for e in edits {
        e.apply(g).map_err(|err| StorageError::from_graph(program, err))?;
    }
    Ok(())
}

/// What kinds of step a scripter draws.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    /// Programs created, renamed and deleted (crash soak) or one program only.
    pub program_steps: bool,
    /// Size of the programs `Create` and `Replace` generate, at most.
    pub program_nodes: usize,
    /// The scripter deletes rather than adds once the programs hold this many nodes.
    pub node_budget: usize,
    /// Per mille of steps that replace a whole program.
    pub replace_per_mille: u32,
}

/// Draws random steps that the store will accept.
pub struct Scripter {
    rng: ChaCha8Rng,
    mix: Mix,
    /// Numbers the names it makes. The crash soak's lives have consecutive seeds and
    /// share one database, so each seed gets its own block of a million numbers: a
    /// life must never make a name an earlier life's program still has (the store
    /// would rightly refuse it, and the soak would report the refusal as a failure).
    counter: u64,
}

impl Scripter {
    pub fn new(seed: u64, mix: Mix) -> Self {
        Scripter { rng: ChaCha8Rng::seed_from_u64(seed), mix, counter: (seed % 1_000_000) * 1_000_000 }
    }

    fn fresh_name(&mut self, prefix: &str) -> String {
        self.counter += 1;
        let odd = ODD_TEXT[self.rng.random_range(0..ODD_TEXT.len())];
        format!("{prefix}{} {odd}", self.counter)
    }

    /// The next step, already applied to `programs`.
    pub fn next_step(&mut self, programs: &mut Programs) -> Step {
        let total: usize = programs.values().map(|g| g.node_count()).sum();
        let over_budget = total > self.mix.node_budget;
        let roll = self.rng.random_range(0..1000u32);
        let program_cut = if self.mix.program_steps { 20 } else { 0 };
        let step = if programs.is_empty() {
            let nodes = self.rng.random_range(50..=self.mix.program_nodes.max(50));
            Step::Create { name: self.fresh_name("p"), nodes, seed: self.rng.random() }
        } else if roll < program_cut {
            self.program_step(programs, over_budget)
        } else if roll < program_cut + self.mix.replace_per_mille {
            let program = self.pick_program(programs);
            let nodes = self.rng.random_range(50..=self.mix.program_nodes.max(50));
            Step::Replace { program, nodes, seed: self.rng.random() }
        } else {
            let program = self.pick_program(programs);
            let kind = self.rng.random_range(0..100u32);
            let count = match kind {
                0..80 => 1,
                80..92 => self.rng.random_range(2..=20),
                _ => self.rng.random_range(5..=60),
            };
            let g = programs.get_mut(&program).expect("picked from the map");
            let mut edits = Vec::with_capacity(count);
            let mut tries = 0;
            while edits.len() < count && tries < count * 4 {
                tries += 1;
                let edit = random_edit(&mut self.rng, g, over_budget, &mut self.counter);
                if edit.apply(g).is_ok() {
                    edits.push(edit);
                }
            }
            match kind {
                0..80 if edits.len() == 1 => Step::One { program, edit: edits.remove(0) },
                0..92 => Step::Group { program, edits },
                92..96 => Step::Save { program, edits },
                _ => Step::SaveCopy { program, edits },
            }
        };
        // Edits were applied while drawing; the others are applied here.
        if !matches!(step, Step::One { .. } | Step::Group { .. } | Step::Save { .. } | Step::SaveCopy { .. }) {
            step.replay(programs).expect("a drawn step applies to the programs it was drawn from");
        }
        step
    }

    fn pick_program(&mut self, programs: &Programs) -> String {
        let i = self.rng.random_range(0..programs.len());
        programs.keys().nth(i).expect("index below len").clone()
    }

    fn program_step(&mut self, programs: &Programs, over_budget: bool) -> Step {
        let roll = self.rng.random_range(0..3u32);
        if (over_budget || roll == 0) && programs.len() > 1 {
            Step::Delete { name: self.pick_program(programs) }
        } else if roll == 1 || over_budget {
            Step::Rename { from: self.pick_program(programs), to: self.fresh_name("renamed ") }
        } else {
            let nodes = self.rng.random_range(50..=self.mix.program_nodes.max(50));
            Step::Create { name: self.fresh_name("p"), nodes, seed: self.rng.random() }
        }
    }
}

fn random_node(rng: &mut ChaCha8Rng, g: &ProgramGraph) -> Option<NodeId> {
    let next = g.next_ids().node;
    if next == 0 {
        return None;
    }
    (0..16).map(|_| NodeId(rng.random_range(0..next))).find(|id| g.node(*id).is_some())
}

fn random_op(rng: &mut ChaCha8Rng, g: &ProgramGraph) -> ComputeNodeOp {
    let builtin = TypeId(rng.random_range(0..9));
    match rng.random_range(0..12u32) {
        0 => ComputeOp::Const { value: ConstValue::I64(rng.random()) }.into(),
        1 => ComputeOp::Const { value: ConstValue::F64(f64::from_bits(rng.random())) }.into(),
        2 => {
            let special = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, f64::from_bits(0x7ff8_0000_dead_beef)];
            ComputeOp::Const { value: ConstValue::F64(special[rng.random_range(0..special.len())]) }.into()
        }
        3 => ComputeOp::Const { value: ConstValue::F32(f32::from_bits(rng.random())) }.into(),
        4 => ComputeOp::BinaryArith { op: [ArithOp::Add, ArithOp::Mul, ArithOp::Rem][rng.random_range(0..3)] }.into(),
        5 => ComputeOp::Compare { op: [CmpOp::Lt, CmpOp::Ge][rng.random_range(0..2)] }.into(),
        6 => match g.functions().nth(rng.random_range(0..g.functions().count().max(1))) {
            Some(f) => ComputeOp::Call { target: f.id }.into(),
            None => ComputeOp::Return.into(),
        },
        7 => ComputeOp::Precondition { message: ODD_TEXT[rng.random_range(0..ODD_TEXT.len())].to_string() }.into(),
        8 => StructuredOp::Cast { target_type: builtin }.into(),
        9 => StructuredOp::StructGet { field_index: rng.random_range(0..4) }.into(),
        10 => ComputeOp::Parameter { index: rng.random_range(0..3) }.into(),
        _ => ComputeOp::Print.into(),
    }
}

/// A random edit of `g`; the caller keeps it only if `g` accepts it.
fn random_edit(rng: &mut ChaCha8Rng, g: &ProgramGraph, shrink: bool, counter: &mut u64) -> Edit {
    let functions = g.functions().count();
    let roll = if functions == 0 { 99 } else { rng.random_range(0..100u32) };
    let node = random_node(rng, g);
    match (roll, node) {
        (0..30, _) if !shrink => {
            let function = g.functions().nth(rng.random_range(0..functions)).map(|f| f.id).unwrap_or(FunctionId(0));
            Edit::InsertNode { function, op: random_op(rng, g) }
        }
        (30..50, Some(a)) if !shrink => {
            let owner = g.node(a).map(|n| n.owner).unwrap_or(FunctionId(0));
            let own: Vec<NodeId> = g.function_nodes(owner).collect();
            let b = own[rng.random_range(0..own.len())];
            if rng.random_bool(0.7) && a != b {
                let (source, target) = if a < b { (a, b) } else { (b, a) };
                let value_type = TypeId(rng.random_range(0..9));
                let edge = FlowEdge::Data { source_port: 0, target_port: rng.random_range(0..4), value_type };
                Edit::InsertEdge { source, target, edge }
            } else {
                let branch_index = rng.random_bool(0.5).then(|| rng.random_range(0..3));
                Edit::InsertEdge { source: a, target: b, edge: FlowEdge::Control { branch_index } }
            }
        }
        (50..75, Some(node)) => Edit::UpdateNode { node, op: random_op(rng, g) },
        (75..90, Some(node)) => Edit::DeleteNode { node },
        (90..97, _) if g.edge_count() > 0 => {
            let next = g.next_ids().edge;
            let edge = (0..16).map(|_| EdgeId(rng.random_range(0..next))).find(|e| g.edge(*e).is_some());
            match edge {
                Some(edge) => Edit::DeleteEdge { edge },
                None => Edit::DeleteNode { node: node.unwrap_or(NodeId(0)) },
            }
        }
        (_, Some(node)) if shrink => Edit::DeleteNode { node },
        _ => {
            *counter += 1;
            let odd = ODD_TEXT[rng.random_range(0..ODD_TEXT.len())];
            let modules: Vec<ModuleId> = g.modules().iter().map(|m| m.id).collect();
            Edit::InsertFunction {
                module: modules[rng.random_range(0..modules.len())],
                name: format!("f{counter} {odd}"),
                params: vec![("x".into(), TypeId::I64), (odd.into(), TypeId(rng.random_range(0..9)))],
                return_type: TypeId(rng.random_range(0..9)),
            }
        }
    }
}
