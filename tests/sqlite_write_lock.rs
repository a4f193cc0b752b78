//! A write that needs the whole program (the first edit after opening a store, an edit
//! after another process wrote, `save_function`, a save of a graph the store has not
//! seen, undo) reads it through the read path, outside the write transaction: at 10
//! million nodes a load takes seconds, and other processes' writes wait for the write
//! lock only as long as their busy timeout.
//!
//! The store runs here on a backend that wraps the SQLite one and counts where whole
//! programs are read: `Backend::load` (outside) or `WriteTx::load` (inside a write).

use lmlang_storage::graph::{ChangeSet, EdgeView, NextIds, ProgramGraph};
use lmlang_storage::model::{
    ComputeNode, ComputeOp, EdgeId, FunctionDef, FunctionId, LmType, ModuleDef, ModuleId, NodeId, TypeId,
};
use lmlang_storage::rows::Replaced;
use lmlang_storage::sqlite::{OwnedConnections, SqliteBackend, SqliteConfig, SqliteStore};
use lmlang_storage::store::{
    Backend, EntityRows, GraphStore, HistoryRecord, ProgramHistory, ProgramId, ProgramSummary, SaveReport,
    StorageError, StorageResult, Store, Tag, WriteTx,
};
use lmlang_storage::synth::{SynthConfig, generate};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where whole programs were read, and something to run once right after the next
/// outside read (standing in for another process that commits in between).
#[derive(Default)]
struct Counts {
    outside: AtomicUsize,
    inside: AtomicUsize,
    after_next_load: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    after_next_history: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    /// History reads to let pass before `after_next_history` runs.
    history_reads_first: AtomicUsize,
}

struct Watched {
    inner: SqliteBackend,
    counts: Counts,
}

type WatchedStore = Store<Watched>;

fn open_watched(path: &Path, config: SqliteConfig) -> WatchedStore {
    let inner = SqliteBackend::new(OwnedConnections::open(path, config).expect("open"));
    Store::with_backend(Watched { inner, counts: Counts::default() })
}

fn outside(store: &WatchedStore) -> usize {
    store.backend().counts.outside.load(Ordering::SeqCst)
}

fn inside(store: &WatchedStore) -> usize {
    store.backend().counts.inside.load(Ordering::SeqCst)
}

/// A file holding one program of about 21,000 edges (past the size above which a
/// stale copy is read again outside the write) and its id.
fn big_program(dir: &Path) -> (std::path::PathBuf, ProgramId, ProgramGraph) {
    let path = dir.join("big.db");
    let graph = generate(&SynthConfig { nodes: 12_000, seed: 3, gaps: false });
    assert!(graph.edge_count() >= 20_000, "the program must count as big: {} edges", graph.edge_count());
    let program = SqliteStore::open(&path).expect("store").insert_program("big", &graph).expect("insert");
    (path, program, graph)
}

fn some_function(g: &ProgramGraph) -> FunctionId {
    g.functions().nth(1).map(|f| f.id).expect("a function")
}

#[test]
fn the_first_edit_after_opening_reads_the_program_outside_the_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, program, graph) = big_program(dir.path());
    let store = open_watched(&path, SqliteConfig::default());
    let f = some_function(&graph);

    let node = store.insert_node(program, f, ComputeOp::Print.into()).expect("insert");
    assert_eq!((outside(&store), inside(&store)), (1, 0));
    // Later edits use the copy the first one left.
    store.delete_node(program, node).expect("delete");
    store.insert_node(program, f, ComputeOp::Print.into()).expect("insert again");
    assert_eq!((outside(&store), inside(&store)), (1, 0));

    let stored = SqliteStore::open(&path).expect("reopen").load_program(program).expect("load");
    assert_eq!(stored.node_count(), graph.node_count() + 1);
}

#[test]
fn an_edit_after_another_process_wrote_reads_the_big_program_again_outside() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, program, graph) = big_program(dir.path());
    let store = open_watched(&path, SqliteConfig::default());
    let other = SqliteStore::open(&path).expect("other store");
    let f = some_function(&graph);

    let mine = store.insert_node(program, f, ComputeOp::Print.into()).expect("first edit");
    let theirs = other.insert_node(program, f, ComputeOp::ReadLine.into()).expect("other edit");
    let mine_again = store.insert_node(program, f, ComputeOp::Print.into()).expect("edit after theirs");
    assert_eq!((outside(&store), inside(&store)), (2, 0), "the stale copy is replaced by a read outside");

    let stored = other.load_program(program).expect("load");
    for node in [mine, theirs, mine_again] {
        assert!(stored.node(node).is_some(), "node {node} is stored");
    }
    assert_eq!(stored.node_count(), graph.node_count() + 3);
}

#[test]
fn a_commit_between_the_read_and_the_write_is_not_lost() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, program, graph) = big_program(dir.path());
    let store = open_watched(&path, SqliteConfig::default());
    let f = some_function(&graph);
    // Another process commits right after the store's read, before its write begins.
    let other_path = path.clone();
    let theirs = std::sync::Arc::new(Mutex::new(None));
    let slot = theirs.clone();
    *store.backend().counts.after_next_load.lock().expect("hook") = Some(Box::new(move || {
        let other = SqliteStore::open(&other_path).expect("other store");
        let id = other.insert_node(program, f, ComputeOp::ReadLine.into()).expect("other edit");
        *slot.lock().expect("slot") = Some(id);
    }));

    let mine = store.insert_node(program, f, ComputeOp::Print.into()).expect("edit");
    // The write saw its copy was stale, wrote nothing, and read the program again.
    assert_eq!((outside(&store), inside(&store)), (2, 0));
    let theirs = theirs.lock().expect("slot").expect("the other edit ran");
    assert_ne!(mine, theirs, "ids are never handed out twice");
    let stored = SqliteStore::open(&path).expect("reopen").load_program(program).expect("load");
    assert!(stored.node(mine).is_some() && stored.node(theirs).is_some());
    assert_eq!(stored.node_count(), graph.node_count() + 2);
}

#[test]
fn a_function_merged_before_another_process_commits_is_merged_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, program, graph) = big_program(dir.path());
    let store = open_watched(&path, SqliteConfig::default());
    // The caller changes a constant of one function; another process then adds a node
    // to another one, after the store has read the program but before its write (so
    // the merge made beforehand is stale and must not be written).
    let mut edited = graph.clone();
    let mine = lmlang_storage::synth::one_node_edit(&mut edited, 7).expect("a constant to change");
    let f = edited.node(mine).map(|n| n.owner).expect("its function");
    let g = graph.functions().map(|d| d.id).find(|d| *d != f).expect("another function");
    let other_path = path.clone();
    let theirs = std::sync::Arc::new(Mutex::new(None));
    let slot = theirs.clone();
    *store.backend().counts.after_next_load.lock().expect("hook") = Some(Box::new(move || {
        let other = SqliteStore::open(&other_path).expect("other store");
        let id = other.insert_node(program, g, ComputeOp::ReadLine.into()).expect("other edit");
        *slot.lock().expect("slot") = Some(id);
    }));

    store.save_function(program, &edited, f).expect("save_function");
    let theirs = theirs.lock().expect("slot").expect("the other edit ran");
    let stored = SqliteStore::open(&path).expect("reopen").load_program(program).expect("load");
    assert_eq!(stored.node(mine), edited.node(mine), "the saved function's change");
    assert_ne!(graph.node(mine), edited.node(mine));
    assert_eq!(stored.node(theirs).map(|n| n.owner), Some(g), "the other process's node");
    assert_eq!(stored.node_count(), graph.node_count() + 1);
    assert!(stored.next_ids().node > theirs.0, "the other node's id stays spent");
    assert!(stored.validate().is_empty());
    let summary = store.list_programs().expect("list").into_iter().find(|p| p.id == program).expect("listed");
    assert_eq!(summary.nodes, stored.node_count() as u64, "the program row counts every node");
    assert_eq!((outside(&store), inside(&store)), (2, 0), "read again outside, merged again");
}

#[test]
fn a_save_function_refused_by_a_stale_copy_is_judged_again_on_the_stored_program() {
    use lmlang_storage::model::{ModuleId, TypeId, Visibility};
    use lmlang_storage::store::NewFunction;
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, program, graph) = big_program(dir.path());
    let store = open_watched(&path, SqliteConfig::default());
    let f = some_function(&graph);
    store.insert_node(program, f, ComputeOp::Print.into()).expect("the store reads its copy");

    // Another process adds a function; the caller's graph calls it from `f`. Merged
    // into the store's (now stale) copy, the call has no target; merged into the
    // stored program, it has.
    let other = SqliteStore::open(&path).expect("other store");
    let new = NewFunction {
        module: ModuleId::ROOT,
        name: "added_elsewhere".into(),
        visibility: Visibility::Public,
        params: vec![],
        return_type: TypeId::UNIT,
        closure_of: None,
    };
    let h = other.insert_function(program, new).expect("other process adds a function");
    let mut caller = other.load_program(program).expect("caller's graph");
    let call = caller.add_core_op(f, ComputeOp::Call { target: h }).expect("call it");

    store.save_function(program, &caller, f).expect("accepted: the stored program has the callee");
    let stored = other.load_program(program).expect("load");
    assert_eq!(stored.node(call).map(|n| &n.op), caller.node(call).map(|n| &n.op));
    assert!(stored.function(h).is_some());
}

#[test]
fn a_loaded_graph_saved_after_another_process_wrote_is_compared_outside_the_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, program, graph) = big_program(dir.path());
    let store = open_watched(&path, SqliteConfig::default());
    let mut mine = store.load_program(program).expect("load");
    let other = SqliteStore::open(&path).expect("other store");
    let f = some_function(&graph);
    let theirs = other.insert_node(program, f, ComputeOp::ReadLine.into()).expect("other edit");
    let changed = lmlang_storage::synth::one_node_edit(&mut mine, 11).expect("a constant to change");

    // The store knows `mine` at the revision before the other edit, so it compares the
    // graph with the stored program, which it reads again outside the write.
    store.save_program(program, &mine).expect("save");
    assert_eq!((outside(&store), inside(&store)), (2, 0), "the load, then the stored program");
    let stored = other.load_program(program).expect("load");
    assert_eq!(stored.node(changed), mine.node(changed));
    assert!(stored.node(theirs).is_none(), "a whole-program save replaces the program with the graph");
}

#[test]
fn a_write_refused_as_busy_keeps_the_copy_it_read() {
    use diesel::Connection as _;
    use diesel::connection::SimpleConnection as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, program, graph) = big_program(dir.path());
    let config = SqliteConfig::default().with_busy_timeout(std::time::Duration::from_millis(50));
    let store = open_watched(&path, config);
    let f = some_function(&graph);
    // Another process holds the write lock.
    let mut holder = diesel::sqlite::SqliteConnection::establish(&path.to_string_lossy()).expect("connection");
    holder.batch_execute("BEGIN IMMEDIATE").expect("lock");
    let refused = store.insert_node(program, f, ComputeOp::Print.into());
    assert!(matches!(refused, Err(StorageError::Busy)), "{refused:?}");
    holder.batch_execute("COMMIT").expect("unlock");
    store.insert_node(program, f, ComputeOp::Print.into()).expect("the retry");
    assert_eq!((outside(&store), inside(&store)), (1, 0), "the retry used the copy read for the refused write");
}

/// The store's writer waits for the lock a slice at a time (so that, among several
/// processes writing at once, the one that waited longest keeps trying as often as
/// the others), yet a write still waits its whole `busy_timeout`: a lock held for
/// many slices delays it, never refuses it.
#[test]
fn a_lock_held_for_many_slices_delays_a_write_within_its_busy_timeout() {
    use diesel::Connection as _;
    use diesel::connection::SimpleConnection as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, program, graph) = big_program(dir.path());
    let config = SqliteConfig::default().with_busy_timeout(std::time::Duration::from_secs(20));
    let store = open_watched(&path, config);
    let f = some_function(&graph);
    let mut holder = diesel::sqlite::SqliteConnection::establish(&path.to_string_lossy()).expect("connection");
    holder.batch_execute("BEGIN IMMEDIATE").expect("lock");
    let holding = std::thread::spawn(move || {
        // Fifteen of the writer's 20 ms slices.
        std::thread::sleep(std::time::Duration::from_millis(300));
        holder.batch_execute("COMMIT").expect("unlock");
    });
    let node = store.insert_node(program, f, ComputeOp::Print.into()).expect("the write waited for the lock");
    holding.join().expect("holder");
    assert!(store.load_program(program).expect("load").node(node).is_some());
}

#[test]
fn saves_and_undo_read_the_stored_program_outside_the_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, program, graph) = big_program(dir.path());
    let f = some_function(&graph);

    // A function saved from a graph of the caller's.
    let store = open_watched(&path, SqliteConfig::default());
    let mut edited = graph.clone();
    edited.add_core_op(f, ComputeOp::Print).expect("edit");
    store.save_function(program, &edited, f).expect("save_function");
    assert_eq!((outside(&store), inside(&store)), (1, 0), "save_function");

    // A whole graph the store has not seen: compared with the stored program.
    let store = open_watched(&path, SqliteConfig::default());
    edited.add_core_op(f, ComputeOp::ReadLine).expect("edit");
    let report = store.save_program(program, &edited).expect("save");
    assert_eq!(report.rows_written, 1, "only the new node's row");
    assert_eq!((outside(&store), inside(&store)), (1, 0), "save_program");
    // Saving it again changes nothing and reads nothing more.
    store.save_program(program, &edited).expect("save again");
    assert_eq!((outside(&store), inside(&store)), (1, 0), "save_program again");

    // Undo in a store just opened.
    let recorder = open_watched(&path, SqliteConfig::default());
    recorder.set_history(true);
    let node = recorder.insert_node(program, f, ComputeOp::Print.into()).expect("recorded edit");
    let store = open_watched(&path, SqliteConfig::default());
    store.undo(program, None).expect("undo");
    assert_eq!((outside(&store), inside(&store)), (1, 0), "undo");
    let stored = store.load_program(program).expect("load");
    assert!(stored.node(node).is_none(), "the recorded edit is undone");
    assert_eq!(stored.node_count(), edited.node_count());
}

#[test]
fn an_undo_worked_out_before_another_process_commits_undoes_the_newest_commit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, program, graph) = big_program(dir.path());
    let f = some_function(&graph);
    let recorder = SqliteStore::open(&path).expect("recorder");
    recorder.set_history(true);
    let first = recorder.insert_node(program, f, ComputeOp::Print.into()).expect("first recorded edit");

    // The store works the undo out on its copy (undoing `first`); another process then
    // commits a second recorded edit before the store's write, which must undo that
    // newest commit instead.
    let store = open_watched(&path, SqliteConfig::default());
    store.set_history(true);
    // The first history read asks whether there is anything to undo; the hook runs
    // after the second, the heads the undo is worked out from.
    store.backend().counts.history_reads_first.store(1, Ordering::SeqCst);
    let other_path = path.clone();
    let second = std::sync::Arc::new(Mutex::new(None));
    let slot = second.clone();
    *store.backend().counts.after_next_history.lock().expect("hook") = Some(Box::new(move || {
        let other = SqliteStore::open(&other_path).expect("other store");
        other.set_history(true);
        let id = other.insert_node(program, f, ComputeOp::ReadLine.into()).expect("second recorded edit");
        *slot.lock().expect("slot") = Some(id);
    }));
    store.undo(program, None).expect("undo");
    let second = second.lock().expect("slot").expect("the other edit ran");

    let stored = SqliteStore::open(&path).expect("reopen").load_program(program).expect("load");
    assert!(stored.node(first).is_some(), "the older edit stays");
    assert!(stored.node(second).is_none(), "the newest commit is the one undone");
    assert_eq!(stored.node_count(), graph.node_count() + 1);
    assert_eq!((outside(&store), inside(&store)), (2, 0), "read outside, and again outside once found stale");
}

#[test]
fn an_undo_worked_out_before_its_record_was_pruned_is_refused() {
    use lmlang_storage::store::Retention;
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, program, graph) = big_program(dir.path());
    let f = some_function(&graph);
    let recorder = SqliteStore::open(&path).expect("recorder");
    recorder.set_history(true);
    let edit = recorder.insert_node(program, f, ComputeOp::Print.into()).expect("a recorded edit");
    recorder.insert_node(program, f, ComputeOp::Print.into()).expect("another");
    recorder.undo(program, None).expect("undo the other: the first edit is next to undo");
    let revision = recorder.log(program, Default::default()).expect("log")[0].revision;

    // After the store has read the heads and the record to undo (the first edit's),
    // another process prunes everything before the current revision: the undo must not
    // go ahead on what it read. (History reads: whether there is anything to undo, the
    // heads, the record.)
    let store = open_watched(&path, SqliteConfig::default());
    store.set_history(true);
    store.backend().counts.history_reads_first.store(2, Ordering::SeqCst);
    let other_path = path.clone();
    *store.backend().counts.after_next_history.lock().expect("hook") = Some(Box::new(move || {
        let other = SqliteStore::open(&other_path).expect("other store");
        other.prune_history(program, Retention::Before(revision)).expect("prune");
    }));
    let refused = store.undo(program, None);
    assert!(
        matches!(refused, Err(StorageError::RevisionNotFound { .. } | StorageError::NothingTo { .. })),
        "{refused:?}"
    );
    let stored = SqliteStore::open(&path).expect("reopen").load_program(program).expect("load");
    assert!(stored.node(edit).is_some(), "the pruned edit is not undone");
}

#[test]
fn an_undo_or_redo_with_nothing_to_do_is_refused_without_reading_the_program() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, program, graph) = big_program(dir.path());
    let f = some_function(&graph);

    // No history at all: nothing to undo or redo.
    let store = open_watched(&path, SqliteConfig::default());
    store.set_history(true);
    let refused = store.undo(program, None);
    assert!(matches!(refused, Err(StorageError::NothingTo { action: "undo", .. })), "{refused:?}");
    let refused = store.redo(program, None);
    assert!(matches!(refused, Err(StorageError::NothingTo { action: "redo", .. })), "{refused:?}");
    assert_eq!((outside(&store), inside(&store)), (0, 0), "nothing read for a refusal");

    // A recorded edit: nothing to redo, and a store just opened refuses without reading.
    let recorder = open_watched(&path, SqliteConfig::default());
    recorder.set_history(true);
    recorder.insert_node(program, f, ComputeOp::Print.into()).expect("recorded edit");
    let store = open_watched(&path, SqliteConfig::default());
    let refused = store.redo(program, None);
    assert!(matches!(refused, Err(StorageError::NothingTo { action: "redo", .. })), "{refused:?}");
    assert_eq!((outside(&store), inside(&store)), (0, 0), "redo with nothing to redo");

    // An edit made without history after the recorded one: the record that says what
    // to undo at the program's revision is missing. The newest record cannot tell (it
    // has an undo, and no cheap read gives the revision), so this refusal reads the
    // program first.
    let unrecorded = open_watched(&path, SqliteConfig::default());
    unrecorded.insert_node(program, f, ComputeOp::Print.into()).expect("unrecorded edit");
    let store = open_watched(&path, SqliteConfig::default());
    let refused = store.undo(program, None);
    assert!(matches!(refused, Err(StorageError::RevisionNotFound { .. })), "{refused:?}");
    assert_eq!((outside(&store), inside(&store)), (1, 0), "a recorded edit below an unrecorded one");

    // With something to undo, it is read outside as before, and undone.
    let recorded = recorder.insert_node(program, f, ComputeOp::ReadLine.into()).expect("recorded edit");
    let store = open_watched(&path, SqliteConfig::default());
    store.undo(program, None).expect("undo");
    assert_eq!((outside(&store), inside(&store)), (1, 0), "undo");
    assert!(store.load_program(program).expect("load").node(recorded).is_none(), "undone");
}

#[test]
fn an_undo_that_finds_a_commit_recorded_after_it_looked_reads_the_program_outside() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, program, graph) = big_program(dir.path());
    let f = some_function(&graph);

    // Nothing to undo when the store looks; another process records an edit right
    // after, so the transaction finds one, with no copy of the program at hand.
    let store = open_watched(&path, SqliteConfig::default());
    store.set_history(true);
    let other_path = path.clone();
    let recorded = std::sync::Arc::new(Mutex::new(None));
    let slot = recorded.clone();
    *store.backend().counts.after_next_history.lock().expect("hook") = Some(Box::new(move || {
        let other = SqliteStore::open(&other_path).expect("other store");
        other.set_history(true);
        let id = other.insert_node(program, f, ComputeOp::Print.into()).expect("recorded edit");
        *slot.lock().expect("slot") = Some(id);
    }));
    store.undo(program, None).expect("undo");
    let recorded = recorded.lock().expect("slot").expect("the other edit ran");
    assert_eq!((outside(&store), inside(&store)), (1, 0), "read outside the write, not in it");
    assert!(store.load_program(program).expect("load").node(recorded).is_none(), "undone");
}

#[test]
fn a_read_only_store_refuses_an_edit_without_reading_the_program() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, program, graph) = big_program(dir.path());
    let store = open_watched(&path, SqliteConfig::default().with_read_only(true));
    let refused = store.insert_node(program, some_function(&graph), ComputeOp::Print.into());
    assert!(matches!(refused, Err(StorageError::ReadOnly)), "{refused:?}");
    assert_eq!((outside(&store), inside(&store)), (0, 0));
}

#[test]
fn a_small_stale_program_is_read_inside_the_write() {
    // Below the size that pays for a second transaction, a stale copy is read where it
    // is needed, in the write, as before.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("small.db");
    let graph = generate(&SynthConfig { nodes: 300, seed: 3, gaps: false });
    let program = SqliteStore::open(&path).expect("store").insert_program("small", &graph).expect("insert");
    let store = open_watched(&path, SqliteConfig::default());
    let other = SqliteStore::open(&path).expect("other store");
    let f = some_function(&graph);
    store.insert_node(program, f, ComputeOp::Print.into()).expect("first edit");
    other.insert_node(program, f, ComputeOp::Print.into()).expect("other edit");
    store.insert_node(program, f, ComputeOp::Print.into()).expect("edit after theirs");
    assert_eq!((outside(&store), inside(&store)), (1, 1));
    assert_eq!(other.load_program(program).expect("load").node_count(), graph.node_count() + 3);
}

// Forwarding, with the counts.

impl Backend for Watched {
    fn list_programs(&self) -> StorageResult<Vec<ProgramSummary>> {
        self.inner.list_programs()
    }
    fn program_by_name(&self, name: &str) -> StorageResult<Option<ProgramId>> {
        self.inner.program_by_name(name)
    }
    fn load(&self, program: ProgramId) -> StorageResult<(ProgramGraph, u64)> {
        self.counts.outside.fetch_add(1, Ordering::SeqCst);
        let loaded = self.inner.load(program);
        let hook = self.counts.after_next_load.lock().expect("hook").take();
        if let Some(hook) = hook {
            hook();
        }
        loaded
    }
    fn node(&self, program: ProgramId, node: NodeId) -> StorageResult<Option<ComputeNode>> {
        self.inner.node(program, node)
    }
    fn edge(&self, program: ProgramId, edge: EdgeId) -> StorageResult<Option<EdgeView>> {
        self.inner.edge(program, edge)
    }
    fn function(&self, program: ProgramId, function: FunctionId) -> StorageResult<Option<FunctionDef>> {
        self.inner.function(program, function)
    }
    fn module(&self, program: ProgramId, module: ModuleId) -> StorageResult<Option<ModuleDef>> {
        self.inner.module(program, module)
    }
    fn modules(&self, program: ProgramId) -> StorageResult<Vec<ModuleDef>> {
        self.inner.modules(program)
    }
    fn user_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Option<LmType>> {
        self.inner.user_type(program, ty)
    }
    fn nodes_by_owner(&self, program: ProgramId, function: FunctionId) -> StorageResult<Vec<(NodeId, ComputeNode)>> {
        self.inner.nodes_by_owner(program, function)
    }
    fn edges_from(&self, program: ProgramId, node: NodeId) -> StorageResult<Vec<EdgeView>> {
        self.inner.edges_from(program, node)
    }
    fn edges_to(&self, program: ProgramId, node: NodeId) -> StorageResult<Vec<EdgeView>> {
        self.inner.edges_to(program, node)
    }
    fn functions_in_module(&self, program: ProgramId, module: ModuleId) -> StorageResult<Vec<FunctionDef>> {
        self.inner.functions_in_module(program, module)
    }
    fn nodes_by_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Vec<NodeId>> {
        self.inner.nodes_by_type(program, ty)
    }
    fn edges_by_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Vec<EdgeView>> {
        self.inner.edges_by_type(program, ty)
    }
    fn history(
        &self,
        program: ProgramId,
        below: Option<u64>,
        limit: u64,
        with_deltas: bool,
    ) -> StorageResult<Vec<HistoryRecord>> {
        let read = self.inner.history(program, below, limit, with_deltas);
        let waiting = self.counts.history_reads_first.load(Ordering::SeqCst);
        if waiting > 0 {
            self.counts.history_reads_first.store(waiting - 1, Ordering::SeqCst);
            return read;
        }
        let hook = self.counts.after_next_history.lock().expect("hook").take();
        if let Some(hook) = hook {
            hook();
        }
        read
    }
    fn tags(&self, program: ProgramId) -> StorageResult<Vec<Tag>> {
        self.inner.tags(program)
    }
    fn read_only(&self) -> bool {
        self.inner.read_only()
    }
    fn write<T>(&self, work: &mut dyn FnMut(&mut dyn WriteTx) -> StorageResult<T>) -> StorageResult<T> {
        self.inner.write(&mut |tx| work(&mut CountingTx { inner: tx, inside: &self.counts.inside }))
    }
    fn write_new_program<T>(&self, work: &mut dyn FnMut(&mut dyn WriteTx) -> StorageResult<T>) -> StorageResult<T> {
        self.inner.write_new_program(&mut |tx| work(&mut CountingTx { inner: tx, inside: &self.counts.inside }))
    }
}

struct CountingTx<'a> {
    inner: &'a mut dyn WriteTx,
    inside: &'a AtomicUsize,
}

impl WriteTx for CountingTx<'_> {
    fn insert_program(&mut self, name: &str, now: i64) -> StorageResult<ProgramId> {
        self.inner.insert_program(name, now)
    }
    fn revision(&mut self, program: ProgramId) -> StorageResult<u64> {
        self.inner.revision(program)
    }
    fn load(&mut self, program: ProgramId) -> StorageResult<ProgramGraph> {
        self.inside.fetch_add(1, Ordering::SeqCst);
        self.inner.load(program)
    }
    fn write_changes(
        &mut self,
        program: ProgramId,
        graph: &ProgramGraph,
        changes: &ChangeSet,
        replaced: Replaced<'_>,
    ) -> StorageResult<SaveReport> {
        self.inner.write_changes(program, graph, changes, replaced)
    }
    fn write_all(&mut self, program: ProgramId, graph: &ProgramGraph) -> StorageResult<SaveReport> {
        self.inner.write_all(program, graph)
    }
    fn finish(&mut self, program: ProgramId, graph: &ProgramGraph, now: i64) -> StorageResult<u64> {
        self.inner.finish(program, graph, now)
    }
    fn next_ids(&mut self, program: ProgramId) -> StorageResult<NextIds> {
        self.inner.next_ids(program)
    }
    fn stored_rows(&mut self, program: ProgramId, ids: &ChangeSet) -> StorageResult<EntityRows> {
        self.inner.stored_rows(program, ids)
    }
    fn history_record(&mut self, program: ProgramId, revision: u64) -> StorageResult<Option<HistoryRecord>> {
        self.inner.history_record(program, revision)
    }
    fn has_history_below(&mut self, program: ProgramId, revision: u64) -> StorageResult<bool> {
        self.inner.has_history_below(program, revision)
    }
    fn append_history(&mut self, program: ProgramId, record: &HistoryRecord) -> StorageResult<()> {
        self.inner.append_history(program, record)
    }
    fn prune_history(&mut self, program: ProgramId, revision: u64) -> StorageResult<u64> {
        self.inner.prune_history(program, revision)
    }
    fn tagged(&mut self, program: ProgramId, name: &str) -> StorageResult<Option<u64>> {
        self.inner.tagged(program, name)
    }
    fn set_tag(&mut self, program: ProgramId, name: &str, revision: u64) -> StorageResult<()> {
        self.inner.set_tag(program, name, revision)
    }
    fn remove_tag(&mut self, program: ProgramId, name: &str) -> StorageResult<bool> {
        self.inner.remove_tag(program, name)
    }
    fn delete_program(&mut self, program: ProgramId) -> StorageResult<()> {
        self.inner.delete_program(program)
    }
    fn rename_program(&mut self, program: ProgramId, name: &str) -> StorageResult<()> {
        self.inner.rename_program(program, name)
    }
}
