//! `Store<B>`: the `GraphStore` behaviour shared by every backend.
//!
//! Edits are applied to a `ProgramGraph` first, which checks them, then the rows they
//! touched (`ProgramGraph::changes_since`) are written in one transaction. The graph a
//! store edits is cached per program with the revision it matches, within the store's
//! cache limits (`cache.rs`: the least recently used copies go first); when another
//! writer (another process) moved the revision on, or the copy went, it is read
//! again. A write that needs the whole program and has no copy of it reads it before
//! taking the write lock, and
//! a big copy found stale in the write is read again outside it (`preload`,
//! `stored_in`): at 10 million nodes a load takes seconds, which other processes'
//! writes would otherwise wait for. A graph handed out by
//! `load_program` or accepted by `save_program` is remembered by lineage and revision,
//! so saving it again writes just the journal's changes; any other graph is compared
//! with the stored one and only the differing rows are written.
//!
//! Every operation a user waits for runs in a span (`lmlang_load`, `lmlang_save`,
//! `lmlang_edit`, ...) with its program, its counts and `duration_ms`; single CRUD
//! mutations, the hottest path, are `lmlang_mutate` spans at debug level.

use super::api::{EditFn, GraphStore};
use super::backend::{Backend, WriteTx};
use super::cache::{Cache, CacheEntry, CacheLimits, CacheStats};
use super::error::{DatabaseErrorKind, ProgramRef, StorageError, StorageResult};
use super::history::{Heads, Pending};
use super::reentry::{self, Editing};
use super::trace::Timed;
use super::types::{FunctionUpdate, ListedProgram, NewFunction, ProgramId, ProgramSummary, SaveReport, now_unix};
use crate::graph::{ChangeSet, EdgeView, Entity, GraphError, ProgramGraph};
use crate::model::{
    ComputeNode, ComputeNodeOp, EdgeId, FlowEdge, FunctionDef, FunctionId, LmType, ModuleDef, ModuleId, NodeId, TypeId,
    TypeRegistry, Visibility,
};
use crate::rows::Replaced;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use tracing::Span;
use tracing::field::Empty;

/// The name of the root module of a program made by `create_program`.
pub const DEFAULT_ROOT_MODULE: &str = "root";

/// The longest program or tag name, in bytes of UTF-8, on every backend: PostgreSQL
/// cannot index a key of more than about 2.7 kB, and one limit everywhere keeps a
/// program movable between backends.
pub const MAX_NAME_BYTES: usize = 1024;

/// A function merged into the working copy before the write lock (`save_function`):
/// good for a write that finds the program at `revision`.
struct MergedFunction {
    revision: u64,
    stored: Box<ProgramGraph>,
    /// The merge and its changes, or why it was refused: an error is the caller's only
    /// if the transaction finds the same revision (a newer one may accept the merge).
    merged: StorageResult<(Box<ProgramGraph>, ChangeSet)>,
}

/// One attempt of a write that starts from the stored program: given the transaction
/// and whether it is the first attempt, `None` asks for the program to be read outside
/// the transaction and the write tried again (see `Store::write_from_stored`).
type AttemptFn<'a, T> = dyn FnMut(&mut dyn WriteTx, bool) -> StorageResult<Option<T>> + 'a;

/// Programs with at least this many edges are read again outside the write
/// transaction when the store's copy of them turns out to be stale (another process
/// wrote): below it an in-transaction load takes a few milliseconds, above it the
/// write lock would be held for a whole load (17 s at 10 million nodes).
const RELOAD_OUTSIDE_WRITE_EDGES: usize = 20_000;

/// A `GraphStore` over a backend. See the module docs for how writes work.
pub struct Store<B: Backend> {
    pub(crate) backend: B,
    cache: Mutex<Cache>,
    history: AtomicBool,
}

impl<B: Backend> Store<B> {
    /// Wraps a backend.
    pub fn with_backend(backend: B) -> Self {
        Store { backend, cache: Mutex::new(Cache::new()), history: AtomicBool::new(false) }
    }

    /// Turns history recording on or off (off by default). Off, commits have no history
    /// entry: the log skips them, and checkout and undo cannot step back across them.
    /// Opt-in because an entry records the program's root hash after the commit, which
    /// keeps the working copy's hash index current: each commit rehashes the function
    /// it touched (linear in that function), about 2x a single-mutation commit's cost
    /// on SQLite and far more for a function of thousands of nodes (BENCHMARKS.md,
    /// History). Reading history (log, checkout, tags) works either way.
    pub fn set_history(&self, on: bool) {
        self.history.store(on, Ordering::Relaxed);
    }

    /// Whether commits are recorded in history.
    pub fn history_enabled(&self) -> bool {
        self.history.load(Ordering::Relaxed)
    }

    /// Sets how much the store keeps of the programs it worked on besides the one it
    /// used last (see [`CacheLimits`]; the default suits a service with a few dozen
    /// programs in use), and drops what is now past them.
    pub fn set_cache_limits(&self, limits: CacheLimits) {
        // What the new limits drop is freed after the lock (the guard ends with the
        // statement).
        let dropped = self.cache().set_limits(limits);
        drop(dropped);
    }

    /// What the store holds now: working copies, their nodes and edges, programs
    /// remembered.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache().stats()
    }

    /// Marks `program` as the one last used, keeping the others within the limits;
    /// what that drops is freed after the lock.
    pub(crate) fn touch(&self, program: ProgramId) {
        Self::used_then_unlock(self.cache(), program);
    }

    /// [`touch`](Self::touch) for a caller that holds the lock: lets go of it, then
    /// frees what the limits dropped (a big copy takes a while).
    fn used_then_unlock(mut cache: MutexGuard<'_, Cache>, program: ProgramId) {
        let dropped = cache.used(program);
        drop(cache);
        drop(dropped);
    }

    /// Takes the store's working copy of a program if it matches `revision`.
    pub(crate) fn take_working(&self, program: ProgramId, revision: u64) -> Option<Box<ProgramGraph>> {
        let mut cache = self.cache();
        let entry = cache.get_mut(&program).filter(|c| c.revision == revision)?;
        let graph = entry.working.take()?;
        entry.in_write = true;
        Some(graph)
    }

    /// The program as the write transaction `tx` sees it at `revision`: the working
    /// copy when it matches, otherwise read in the transaction. `None` instead of that
    /// read when this is the write's `first_attempt` and the program is big (its stale
    /// copy, or the caller's graph of it, `edges_hint`, has 20,000 edges or more): the
    /// caller ends the transaction, calls [`Self::reload`] and tries again, so the write
    /// lock is not held for a whole load.
    pub(crate) fn stored_in(
        &self,
        tx: &mut dyn WriteTx,
        program: ProgramId,
        revision: u64,
        first_attempt: bool,
        edges_hint: usize,
    ) -> StorageResult<Option<Box<ProgramGraph>>> {
        if let Some(graph) = self.take_working(program, revision) {
            return Ok(Some(graph));
        }
        let copy_edges = self.cache().get(&program).and_then(|c| c.working.as_ref().map(|g| g.edge_count()));
        let big = copy_edges.unwrap_or(0).max(edges_hint) >= RELOAD_OUTSIDE_WRITE_EDGES;
        if first_attempt && big { Ok(None) } else { tx.load(program).map(|g| Some(Box::new(g))) }
    }

    /// Reads the program into the cache before a write that needs it, when the cache
    /// has no copy of it (a store just opened, a program only loaded or saved by
    /// callers): through the backend's read path, which for a big program is split
    /// and streamed (SQLite) and does not hold the write lock that other processes'
    /// writes wait for. The write then finds the copy at its revision; if another
    /// writer moved the revision on in between, it falls back to reading in the
    /// transaction. A lost connection is returned (see [`Self::reload`]).
    pub(crate) fn preload(&self, program: ProgramId) -> StorageResult<()> {
        let absent = self.cache().get(&program).is_none_or(|c| c.working.is_none() && !c.in_write);
        if absent && !self.backend.read_only() { self.reload(program) } else { Ok(()) }
    }

    /// Builds the working copy's hash index, which a recorded edit needs for the root
    /// it records (seconds at 10 million nodes), before the write lock rather than
    /// under it. Built once, it is kept current by every edit. (Saves, merges and undo
    /// record the root of a graph they build, not of this copy.)
    fn preload_hashes(&self, program: ProgramId) {
        let Some(revision) = self.cache().get(&program).map(|c| c.revision) else { return };
        let Some(graph) = self.take_working(program, revision) else { return };
        graph.hashes_for_edits();
        self.put_back(program, revision, graph);
    }

    /// Reads the program through the backend's read path and keeps it as the working
    /// copy, unless the cache meanwhile got one as new or a write has it out. Only a
    /// shortcut: a read that fails (the program gone, a replica that has not seen it
    /// yet, a row the read path refuses) leaves the write to read what it needs in its
    /// transaction and report what is wrong there. Except a lost connection, returned:
    /// the write would only meet it again (on a lent connection, as a Diesel transaction
    /// manager marked broken), or on a pool wait for a connection a second time.
    pub(crate) fn reload(&self, program: ProgramId) -> StorageResult<()> {
        let (graph, revision) = match self.rows()?.load(program) {
            Ok(loaded) => loaded,
            Err(e) if e.database_kind() == Some(DatabaseErrorKind::ConnectionLost) => return Err(e),
            Err(e) => {
                tracing::debug!(%program, error = %e, "no copy read before the write; the write reads it");
                return Ok(());
            }
        };
        let mut cache = self.cache();
        let entry = cache.entry(program).or_default();
        let newer = revision > entry.revision || (revision == entry.revision && entry.working.is_none());
        if !entry.in_write && newer {
            entry.hold(revision, Box::new(graph));
        }
        Self::used_then_unlock(cache, program);
        Ok(())
    }

    /// Runs `work` in write transactions until it returns `Some`: `None` (from
    /// [`Self::stored_in`]) means it wrote nothing and wants the program read outside
    /// the transaction first. `work` is told whether this is its first attempt; the
    /// second always reads what it needs, so there are at most two.
    pub(crate) fn write_from_stored<T>(&self, program: ProgramId, work: &mut AttemptFn<'_, T>) -> StorageResult<T> {
        let mut first_attempt = true;
        loop {
            self.may_write()?;
            if let Some(done) = self.backend.write(&mut |tx| work(tx, first_attempt))? {
                return Ok(done);
            }
            first_attempt = false;
            self.reload(program)?;
        }
    }

    /// Returns a working copy taken at `revision` and not changed, unless the cache has
    /// moved on meanwhile.
    pub(crate) fn put_back(&self, program: ProgramId, revision: u64, graph: Box<ProgramGraph>) {
        if let Some(entry) = self.cache().get_mut(&program).filter(|c| c.revision == revision) {
            entry.working = Some(graph);
            entry.in_write = false;
        }
        self.touch(program);
    }

    /// Puts the entry a committed write left, unless a later write of another thread
    /// has already put a newer one (writes are serialised, their cache updates not).
    pub(crate) fn install(&self, program: ProgramId, entry: CacheEntry) {
        let mut cache = self.cache();
        match cache.get_mut(&program) {
            Some(current) if current.revision > entry.revision => {}
            Some(current) => *current = entry,
            None => {
                cache.insert(program, entry);
            }
        }
        Self::used_then_unlock(cache, program);
    }

    /// Marks the end of a write that may have taken the working copy out and left the
    /// entry in place (a refused edit puts it back; a failed group drops it). A write
    /// that found the program gone (deleted by another process, say) drops the entry.
    pub(crate) fn end_write<T>(&self, program: ProgramId, outcome: &StorageResult<T>) {
        let mut cache = self.cache();
        if matches!(outcome, Err(StorageError::ProgramNotFound(_))) {
            cache.remove(&program);
        } else if let Some(entry) = cache.get_mut(&program) {
            entry.in_write = false;
        }
        Self::used_then_unlock(cache, program);
    }

    /// Remembers the history heads after a commit that made `revision`.
    fn cache_heads(&self, program: ProgramId, revision: u64, heads: Option<Heads>) {
        if let Some(entry) = self.cache().get_mut(&program).filter(|c| c.revision == revision) {
            entry.heads = heads;
        }
    }

    /// The backend, for backend-specific operations.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// This store's identity for [`reentry`](super::reentry): its address, fixed while
    /// any of its methods runs.
    fn address(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// The backend for a read, refused from inside this store's own edit closure when
    /// the backend cannot read beside its own write (it would wait for that edit).
    pub(crate) fn rows(&self) -> StorageResult<&B> {
        if !self.backend.reads_beside_writes() {
            reentry::refuse_inside_edit(self.address())?;
        }
        Ok(&self.backend)
    }

    /// Refuses a write from inside this store's own edit closure: every backend runs
    /// one write at a time (per program on PostgreSQL), so it would wait for that edit.
    pub(crate) fn may_write(&self) -> StorageResult<()> {
        reentry::refuse_inside_edit(self.address())
    }

    pub(crate) fn cache(&self) -> MutexGuard<'_, Cache> {
        // A panic while holding the lock cannot leave the cache inconsistent with the
        // database (entries are replaced whole), so a poisoned lock is still usable.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `op` to the store's copy of the program and commits the rows it touched,
    /// in a debug-level `lmlang_mutate` span naming the `operation`. A refused edit
    /// writes nothing; a failed write drops the copy, so the next call reloads the
    /// committed state.
    fn mutate<T>(
        &self,
        operation: &'static str,
        program: ProgramId,
        op: impl FnMut(&mut ProgramGraph) -> Result<T, GraphError>,
    ) -> StorageResult<(T, SaveReport)> {
        let span = tracing::debug_span!(
            "lmlang_mutate",
            operation,
            %program,
            rows_written = Empty,
            rows_deleted = Empty,
            duration_ms = Empty,
            error = Empty
        );
        self.mutate_in(span, program, None, op)
    }

    /// [`Self::mutate`] in the given span, which declares `rows_written`,
    /// `rows_deleted` and `duration_ms`.
    fn mutate_in<T>(
        &self,
        span: Span,
        program: ProgramId,
        message: Option<&str>,
        op: impl FnMut(&mut ProgramGraph) -> Result<T, GraphError>,
    ) -> StorageResult<(T, SaveReport)> {
        Timed::new(span).run(|span| {
            let done = self.mutate_untimed(program, message, op);
            if let Ok((_, report)) = &done {
                span.record("rows_written", report.rows_written);
                span.record("rows_deleted", report.rows_deleted);
            }
            done
        })
    }

    fn mutate_untimed<T>(
        &self,
        program: ProgramId,
        message: Option<&str>,
        mut op: impl FnMut(&mut ProgramGraph) -> Result<T, GraphError>,
    ) -> StorageResult<(T, SaveReport)> {
        self.may_write()?;
        crate::store::history::check_message(message)?;
        self.preload(program)?;
        if self.history_enabled() {
            self.preload_hashes(program);
        }
        // Whether the transaction began. A write refused before it (busy, read-only)
        // never touched the cached copy, so dropping that is not worth a warning.
        let mut began = false;
        // A panic of the caller's closure, kept while the transaction is rolled back
        // as for any failed write, then resumed: unwinding through the transaction
        // would leave it open (Diesel's transactions do not roll back on a panic),
        // holding SQLite's write lock, and on a lent connection later writes would go
        // into it as savepoints and be lost with it.
        let mut panicked = None;
        let result = self.write_from_stored(program, &mut |tx, first_attempt| {
            began = true;
            let revision = tx.revision(program)?;
            let Some(mut graph) = self.stored_in(tx, program, revision, first_attempt, 0)? else {
                return Ok(None);
            };
            let before = graph.revision();
            let ids_before = graph.next_ids();
            let lineage = graph.lineage();
            let outcome = {
                let _editing = Editing::enter(self.address());
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op(&mut graph))) {
                    Ok(outcome) => outcome,
                    Err(payload) => {
                        panicked = Some(payload);
                        return Err(StorageError::database(DatabaseErrorKind::Other, "the edit panicked"));
                    }
                }
            };
            if outcome.is_ok() && graph.lineage() != lineage {
                // Its changes are counted from the graph the closure was given, so a
                // graph put in its place (a new one, a clone) has none that say what
                // to write, and was never validated: refused, nothing written.
                return Err(StorageError::Invalid {
                    violations: vec![crate::graph::Violation::new(
                        crate::graph::Entity::Program,
                        "the edit replaced the graph it was given (with a new graph or a clone): edit that \
                         graph in place, or store a whole graph with save_program",
                    )],
                });
            }
            match outcome {
                Ok(value) => {
                    let changes = graph.changes_since(before);
                    if changes.is_empty() && graph.next_ids() == ids_before {
                        // An edit that changed nothing (a node set to its own op, an
                        // empty group) is no commit: no revision, no history entry for
                        // an undo to spend, no conflict for a save made at this one.
                        self.cache().entry(program).or_default().hold(revision, graph);
                        return Ok(Some((value, SaveReport::default(), None, revision, None)));
                    }
                    let pending = self.history_before(tx, program, revision, &changes, None)?;
                    let report =
                        tx.write_changes(program, &graph, &changes, Pending::replacing(pending.as_ref(), None))?;
                    let new_revision = Self::finish(tx, program, &graph)?;
                    let heads = self.history_after(tx, program, pending, new_revision, &graph, message)?;
                    Ok(Some((value, report, Some(graph), new_revision, heads)))
                }
                Err(e) => {
                    // A single refused edit left the graph untouched: keep it. A group
                    // that failed part-way is thrown away with the transaction.
                    if graph.revision() == before {
                        self.cache().entry(program).or_default().hold(revision, graph);
                    }
                    Err(StorageError::from_graph(program, e))
                }
            }
        });
        self.end_write(program, &result);
        if let Some(payload) = panicked {
            // Rolled back: the working copy the closure had is gone with it.
            self.cache().remove(&program);
            std::panic::resume_unwind(payload);
        }
        match result {
            Ok((value, report, graph, revision, heads)) => {
                if let Some(graph) = graph {
                    self.install(program, CacheEntry::committed(revision, graph, heads));
                }
                Ok((value, report))
            }
            Err(e) => {
                // A write refused before its transaction began (busy, read-only) never
                // touched the copy: it stays for the next attempt.
                if began
                    && !matches!(e, StorageError::Rejected { .. } | StorageError::NotFound { .. })
                    && self.cache().remove(&program).is_some()
                {
                    tracing::warn!(
                        %program,
                        error = %e,
                        "a write failed part-way; the program's cached copy is dropped and reloaded on next use"
                    );
                }
                Err(e)
            }
        }
    }

    /// Ends a write of `graph` (`WriteTx::finish`, stamped now), every kind of write
    /// alike; refuses one that would store ids a load refuses (see
    /// `ProgramGraph::sparse_ids`), so that every program a store accepts loads again.
    /// The ids checked are those the row will hold: next ids never go down, so a
    /// write that removes nodes is checked against the ids handed out before it.
    pub(super) fn finish(tx: &mut dyn WriteTx, program: ProgramId, graph: &ProgramGraph) -> StorageResult<u64> {
        let stored = tx.next_ids(program)?;
        let kept = stored.max(graph.next_ids());
        if let Some(violation) = graph.sparse_ids(kept).or_else(|| graph.raised_ids(stored)) {
            return Err(StorageError::Invalid { violations: vec![violation] });
        }
        tx.finish(program, graph, now_unix())
    }

    fn check_valid(graph: &ProgramGraph) -> StorageResult<()> {
        let violations = graph.validate();
        if violations.is_empty() { Ok(()) } else { Err(StorageError::Invalid { violations }) }
    }

    fn check_name(name: &str) -> StorageResult<()> {
        if name.is_empty() || name.contains('\0') || name.len() > MAX_NAME_BYTES {
            Err(StorageError::InvalidProgramName(name.to_string()))
        } else {
            Ok(())
        }
    }

    /// `rename_program` without its span.
    fn rename_untimed(&self, program: ProgramId, name: &str) -> StorageResult<()> {
        Self::check_name(name)?;
        if self.rows()?.program_by_name(name)? == Some(program) {
            // Already so named: no commit (no revision, no history entry).
            return Ok(());
        }
        self.may_write()?;
        self.backend.write(&mut |tx| {
            let before = tx.revision(program)?;
            tx.rename_program(program, name)?;
            let after = tx.revision(program)?;
            self.history_rename(tx, program, before, after)
        })
    }

    fn remember_synced(&self, program: ProgramId, graph: &ProgramGraph, revision: u64) {
        let mut cache = self.cache();
        let entry = cache.entry(program).or_default();
        if entry.revision != revision {
            entry.working = None;
            entry.heads = None;
        }
        entry.revision = revision;
        entry.synced = Some((graph.lineage(), graph.revision()));
        Self::used_then_unlock(cache, program);
    }

    fn require<T>(&self, program: ProgramId, found: Option<T>, entity: Entity) -> StorageResult<T> {
        found.ok_or(StorageError::NotFound { program, entity })
    }
}

impl<B: Backend> GraphStore for Store<B> {
    fn create_program(&self, name: &str) -> StorageResult<ProgramId> {
        self.insert_program(name, &ProgramGraph::new(DEFAULT_ROOT_MODULE))
    }

    fn insert_program(&self, name: &str, graph: &ProgramGraph) -> StorageResult<ProgramId> {
        let span = tracing::info_span!(
            "lmlang_insert_program",
            // Not `name`: a JSON log line would hold that key twice (the span's name).
            program_name = name,
            program = Empty,
            nodes = graph.node_count(),
            edges = graph.edge_count(),
            rows_written = Empty,
            duration_ms = Empty,
            error = Empty
        );
        Timed::new(span).run(|span| {
            Self::check_name(name)?;
            Self::check_valid_cheap(graph)?;
            // `check_valid_cheap` just proved the graph whole, which is what lets the
            // backend take its fast path.
            self.may_write()?;
            let (program, report, revision) = self.backend.write_new_program(&mut |tx| {
                let program = tx.insert_program(name, now_unix())?;
                let report = tx.write_all(program, graph)?;
                let revision = Self::finish(tx, program, graph)?;
                self.history_create(tx, program, revision, graph)?;
                Ok((program, report, revision))
            })?;
            span.record("program", tracing::field::display(program));
            span.record("rows_written", report.rows_written);
            self.remember_synced(program, graph, revision);
            Ok(program)
        })
    }

    fn load_program(&self, program: ProgramId) -> StorageResult<ProgramGraph> {
        self.load_program_with_revision(program).map(|(graph, _)| graph)
    }

    fn load_program_with_revision(&self, program: ProgramId) -> StorageResult<(ProgramGraph, u64)> {
        let span = tracing::info_span!("lmlang_load", %program, nodes = Empty, edges = Empty, duration_ms = Empty, error = Empty);
        Timed::new(span).run(|span| {
            let (graph, revision) = self.rows()?.load(program)?;
            span.record("nodes", graph.node_count());
            span.record("edges", graph.edge_count());
            self.remember_synced(program, &graph, revision);
            Ok((graph, revision))
        })
    }

    fn save_program(&self, program: ProgramId, graph: &ProgramGraph) -> StorageResult<SaveReport> {
        self.save_as(program, graph, None, None)
    }

    fn save_program_if_at(&self, program: ProgramId, graph: &ProgramGraph, revision: u64) -> StorageResult<SaveReport> {
        self.save_as(program, graph, None, Some(revision))
    }

    fn save_function(
        &self,
        program: ProgramId,
        graph: &ProgramGraph,
        function: FunctionId,
    ) -> StorageResult<SaveReport> {
        let span = tracing::info_span!(
            "lmlang_save_function",
            %program,
            %function,
            rows_written = Empty,
            rows_deleted = Empty,
            duration_ms = Empty,
            error = Empty
        );
        Timed::new(span).run(|span| {
            let report = self.save_function_untimed(program, graph, function)?;
            span.record("rows_written", report.rows_written);
            span.record("rows_deleted", report.rows_deleted);
            Ok(report)
        })
    }

    fn delete_program(&self, program: ProgramId) -> StorageResult<()> {
        let span = tracing::info_span!("lmlang_delete_program", %program, duration_ms = Empty, error = Empty);
        Timed::new(span).run(|_| {
            self.may_write()?;
            self.backend.write(&mut |tx| tx.delete_program(program))?;
            self.cache().remove(&program);
            Ok(())
        })
    }

    fn rename_program(&self, program: ProgramId, name: &str) -> StorageResult<()> {
        let span = tracing::info_span!("lmlang_rename_program", %program, duration_ms = Empty, error = Empty);
        Timed::new(span).run(|_| self.rename_untimed(program, name))
    }

    fn list_programs(&self) -> StorageResult<Vec<ProgramSummary>> {
        self.rows()?.list_programs()
    }

    fn list_programs_each(&self) -> StorageResult<Vec<ListedProgram>> {
        self.rows()?.list_programs_each()
    }

    fn program_summary(&self, program: ProgramId) -> StorageResult<ProgramSummary> {
        self.rows()?.program_summary(program)
    }

    fn find_program(&self, name: &str) -> StorageResult<ProgramId> {
        let not_found = || StorageError::ProgramNotFound(ProgramRef::Name(name.into()));
        if name.contains('\0') {
            // No stored name holds one (`check_name`), and PostgreSQL refuses the
            // byte with an error that would abort a host's transaction around us.
            return Err(not_found());
        }
        self.rows()?.program_by_name(name)?.ok_or_else(not_found)
    }

    fn edit(&self, program: ProgramId, edits: &mut EditFn<'_>) -> StorageResult<SaveReport> {
        self.edit_as(program, None, edits)
    }

    fn insert_node(&self, program: ProgramId, function: FunctionId, op: ComputeNodeOp) -> StorageResult<NodeId> {
        self.mutate("insert_node", program, |g| g.add_compute_node(function, op.clone())).map(|(id, _)| id)
    }

    fn get_node(&self, program: ProgramId, node: NodeId) -> StorageResult<ComputeNode> {
        let found = self.rows()?.node(program, node)?;
        self.require(program, found, Entity::Node(node))
    }

    fn update_node(&self, program: ProgramId, node: NodeId, op: ComputeNodeOp) -> StorageResult<ComputeNodeOp> {
        self.mutate("update_node", program, |g| g.modify_compute_node_op(node, op.clone())).map(|(old, _)| old)
    }

    fn delete_node(&self, program: ProgramId, node: NodeId) -> StorageResult<()> {
        self.mutate("delete_node", program, |g| g.remove_compute_node(node).map(drop)).map(drop)
    }

    fn insert_edge(&self, program: ProgramId, source: NodeId, target: NodeId, edge: FlowEdge) -> StorageResult<EdgeId> {
        self.mutate("insert_edge", program, |g| g.add_edge(source, target, edge)).map(|(id, _)| id)
    }

    fn get_edge(&self, program: ProgramId, edge: EdgeId) -> StorageResult<EdgeView> {
        let found = self.rows()?.edge(program, edge)?;
        self.require(program, found, Entity::Edge(edge))
    }

    fn delete_edge(&self, program: ProgramId, edge: EdgeId) -> StorageResult<()> {
        self.mutate("delete_edge", program, |g| g.remove_edge(edge).map(drop)).map(drop)
    }

    fn insert_type(&self, program: ProgramId, ty: LmType) -> StorageResult<TypeId> {
        self.mutate("insert_type", program, |g| g.register_type(ty.clone())).map(|(id, _)| id)
    }

    fn insert_named_type(
        &self,
        program: ProgramId,
        module: ModuleId,
        visibility: Visibility,
        name: &str,
        ty: LmType,
    ) -> StorageResult<TypeId> {
        self.mutate("insert_named_type", program, |g| g.register_named_in(module, visibility, name, ty.clone()))
            .map(|(id, _)| id)
    }

    fn get_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<LmType> {
        if ty.is_builtin() {
            // Built-ins are not stored; the program must still exist.
            self.rows()?.module(program, ModuleId::ROOT)?;
            let builtin = TypeRegistry::new().get(ty).cloned();
            return self.require(program, builtin, Entity::Type(ty));
        }
        let found = self.rows()?.user_type(program, ty)?;
        self.require(program, found, Entity::Type(ty))
    }

    fn insert_function(&self, program: ProgramId, f: NewFunction) -> StorageResult<FunctionId> {
        self.mutate("insert_function", program, |g| match &f.closure_of {
            None => g.add_function(f.module, &f.name, f.visibility, f.params.clone(), f.return_type),
            Some((parent, captures)) => {
                let id = g.add_closure(*parent, &f.name, f.params.clone(), f.return_type, captures.clone())?;
                if f.visibility != Visibility::Private {
                    g.set_function_visibility(id, f.visibility)?;
                }
                Ok(id)
            }
        })
        .map(|(id, _)| id)
    }

    fn get_function(&self, program: ProgramId, function: FunctionId) -> StorageResult<FunctionDef> {
        let found = self.rows()?.function(program, function)?;
        self.require(program, found, Entity::Function(function))
    }

    fn update_function(&self, program: ProgramId, function: FunctionId, u: FunctionUpdate) -> StorageResult<()> {
        self.mutate("update_function", program, |g| {
            if let Some(name) = &u.name {
                g.rename_function(function, name)?;
            }
            if let Some(module) = u.module {
                g.move_function(function, module)?;
            }
            if let Some(v) = u.visibility {
                g.set_function_visibility(function, v)?;
            }
            if let Some((params, ret)) = &u.signature {
                g.set_function_signature(function, params.clone(), *ret)?;
            }
            if let Some(entry) = u.entry_node {
                g.set_entry_node(function, entry)?;
            }
            if let Some(captures) = &u.captures {
                g.set_captures(function, captures.clone())?;
            }
            if g.function(function).is_none() {
                return Err(GraphError::NotFound(Entity::Function(function)));
            }
            Ok(())
        })
        .map(drop)
    }

    fn delete_function(&self, program: ProgramId, function: FunctionId) -> StorageResult<()> {
        self.mutate("delete_function", program, |g| g.remove_function(function).map(drop)).map(drop)
    }

    fn insert_module(
        &self,
        program: ProgramId,
        parent: ModuleId,
        name: &str,
        visibility: Visibility,
    ) -> StorageResult<ModuleId> {
        self.mutate("insert_module", program, |g| g.add_module(parent, name, visibility)).map(|(id, _)| id)
    }

    fn get_module(&self, program: ProgramId, module: ModuleId) -> StorageResult<ModuleDef> {
        let found = self.rows()?.module(program, module)?;
        self.require(program, found, Entity::Module(module))
    }

    fn update_module(&self, program: ProgramId, module: ModuleId, name: &str) -> StorageResult<()> {
        self.mutate("update_module", program, |g| g.rename_module(module, name)).map(drop)
    }

    fn delete_module(&self, program: ProgramId, module: ModuleId) -> StorageResult<()> {
        self.mutate("delete_module", program, |g| g.remove_module(module).map(drop)).map(drop)
    }

    fn find_nodes_by_owner(
        &self,
        program: ProgramId,
        function: FunctionId,
    ) -> StorageResult<Vec<(NodeId, ComputeNode)>> {
        self.rows()?.nodes_by_owner(program, function)
    }

    fn find_edges_from(&self, program: ProgramId, node: NodeId) -> StorageResult<Vec<EdgeView>> {
        self.rows()?.edges_from(program, node)
    }

    fn find_edges_to(&self, program: ProgramId, node: NodeId) -> StorageResult<Vec<EdgeView>> {
        self.rows()?.edges_to(program, node)
    }

    fn find_functions_in_module(&self, program: ProgramId, module: ModuleId) -> StorageResult<Vec<FunctionDef>> {
        self.rows()?.functions_in_module(program, module)
    }

    fn find_nodes_by_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Vec<NodeId>> {
        self.rows()?.nodes_by_type(program, ty)
    }

    fn find_edges_by_type(&self, program: ProgramId, ty: TypeId) -> StorageResult<Vec<EdgeView>> {
        self.rows()?.edges_by_type(program, ty)
    }

    fn find_module_by_path(&self, program: ProgramId, path: &[&str]) -> StorageResult<ModuleId> {
        let modules = self.rows()?.modules(program)?;
        let tree = crate::graph::ModuleTree::from_defs(modules);
        tree.resolve(path).ok_or_else(|| StorageError::ModulePathNotFound { program, path: path.join("::") })
    }
}

impl<B: Backend> Store<B> {
    /// `edit` with an optional history message.
    pub(crate) fn edit_as(
        &self,
        program: ProgramId,
        message: Option<&str>,
        edits: &mut EditFn<'_>,
    ) -> StorageResult<SaveReport> {
        let span = tracing::info_span!(
            "lmlang_edit",
            %program,
            rows_written = Empty,
            rows_deleted = Empty,
            duration_ms = Empty,
            error = Empty
        );
        self.mutate_in(span, program, message, |g| edits(g)).map(|(_, report)| report)
    }

    /// `save_program` with an optional history message, and only while the program is
    /// at `expected` when that is given.
    pub(crate) fn save_as(
        &self,
        program: ProgramId,
        graph: &ProgramGraph,
        message: Option<&str>,
        expected: Option<u64>,
    ) -> StorageResult<SaveReport> {
        let span = tracing::info_span!(
            "lmlang_save",
            %program,
            nodes = graph.node_count(),
            rows_written = Empty,
            rows_deleted = Empty,
            duration_ms = Empty,
            error = Empty
        );
        Timed::new(span).run(|span| {
            let report = self.save_untimed(program, graph, message, expected)?;
            span.record("rows_written", report.rows_written);
            span.record("rows_deleted", report.rows_deleted);
            Ok(report)
        })
    }

    /// `save_program` without its span.
    fn save_untimed(
        &self,
        program: ProgramId,
        graph: &ProgramGraph,
        message: Option<&str>,
        expected: Option<u64>,
    ) -> StorageResult<SaveReport> {
        self.may_write()?;
        crate::store::history::check_message(message)?;
        Self::check_valid_cheap(graph)?;
        if self.history_enabled() {
            // The history entry records the graph's root: its index is built (once, then
            // kept by the graph's edits) before the write lock.
            graph.hashes();
        }
        let in_sync =
            |c: &CacheEntry| c.synced.is_some_and(|(lineage, at)| lineage == graph.lineage() && at <= graph.revision());
        if !self.cache().get(&program).is_some_and(in_sync) {
            // The save compares the graph with the stored program: read that first.
            self.preload(program)?;
        }
        let result = self.write_from_stored(program, &mut |tx, first_attempt| {
            let revision = tx.revision(program)?;
            // A save made only at `expected` that finds another revision compares the
            // graph with the stored program whole (the graph's own changes say nothing
            // about the other commits).
            let moved = expected.filter(|&e| e != revision);
            let synced = match moved {
                Some(_) => None,
                None => self.cache().get(&program).filter(|c| c.revision == revision).and_then(|c| c.synced),
            };
            let (changes, ids_moved, stored) = match synced {
                Some((lineage, at)) if lineage == graph.lineage() && at <= graph.revision() => {
                    (graph.changes_since(at), false, None)
                }
                _ => {
                    let Some(stored) = self.stored_in(tx, program, revision, first_attempt, graph.edge_count())? else {
                        return Ok(None);
                    };
                    // A node added and removed again leaves no row to write but moves
                    // the next ids on, which must be stored all the same. Counters
                    // behind the stored ones change nothing: stored ids never go down.
                    let next = stored.next_ids();
                    (stored.differences(graph), next.max(graph.next_ids()) != next, Some(stored))
                }
            };
            if changes.is_empty() && !ids_moved {
                // Nothing differs: no write, no new revision. After a move that is no
                // conflict either: it is what a retry finds when its first attempt
                // committed and the connection was lost before the answer came back.
                return Ok(Some((SaveReport::default(), revision, None, stored, None)));
            }
            if let Some(expected) = moved {
                return Err(StorageError::RevisionMoved { program, expected, found: revision });
            }
            let pending = self.history_before(tx, program, revision, &changes, stored.as_deref())?;
            let report =
                tx.write_changes(program, graph, &changes, Pending::replacing(pending.as_ref(), stored.as_deref()))?;
            let made = Self::finish(tx, program, graph)?;
            let heads = self.history_after(tx, program, pending, made, graph, message)?;
            // `stored` goes with the result, so a big one is freed after the commit.
            Ok(Some((report, made, heads, None, stored)))
        });
        self.end_write(program, &result);
        let (report, revision, heads, unchanged, replaced) = result?;
        drop(replaced);
        if let Some(stored) = unchanged {
            // The graph equals the stored program, which stays the working copy.
            self.put_back(program, revision, stored);
        }
        self.remember_synced(program, graph, revision);
        if heads.is_some() {
            self.cache_heads(program, revision, heads);
        }
        Ok(report)
    }

    /// `save_function` without its span.
    fn save_function_untimed(
        &self,
        program: ProgramId,
        graph: &ProgramGraph,
        function: FunctionId,
    ) -> StorageResult<SaveReport> {
        self.may_write()?;
        if graph.function(function).is_none() {
            return Err(StorageError::NotFound { program, entity: Entity::Function(function) });
        }
        self.preload(program)?;
        // The merge reads the whole program (assembling and checking it), which at 10
        // million nodes takes seconds: done on the working copy before the write lock,
        // and used if the transaction finds the revision that copy had.
        let mut prepared = self.merge_outside(program, graph, function);
        let result = self.write_from_stored(program, &mut |tx, first_attempt| {
            let revision = tx.revision(program)?;
            let (stored, (merged, changes)) = match prepared.take() {
                Some(m) if m.revision == revision => match m.merged {
                    Ok(merged) => (m.stored, merged),
                    Err(refused) => {
                        // Refused against the program as it is: the copy stands.
                        self.put_back(program, m.revision, m.stored);
                        return Err(refused);
                    }
                },
                stale => {
                    if let Some(m) = stale {
                        // Another process wrote since: the copy is stale (see `stored_in`).
                        self.put_back(program, m.revision, m.stored);
                    }
                    let Some(stored) = self.stored_in(tx, program, revision, first_attempt, graph.edge_count())? else {
                        return Ok(None);
                    };
                    let (merged, changes) = Self::merge(program, &stored, graph, function)?;
                    (stored, (Box::new(merged), changes))
                }
            };
            if changes.is_empty() && merged.next_ids() == stored.next_ids() {
                // The function is stored as it is: no commit (see `mutate_untimed`).
                return Ok(Some((SaveReport::default(), revision, merged, None, stored)));
            }
            let pending = self.history_before(tx, program, revision, &changes, Some(&stored))?;
            let report = tx.write_changes(program, &merged, &changes, Replaced::Program(&stored))?;
            let made = Self::finish(tx, program, &merged)?;
            let heads = self.history_after(tx, program, pending, made, &merged, None)?;
            // `stored` goes with the result, so a big one is freed after the commit.
            Ok(Some((report, made, merged, heads, stored)))
        });
        if let Some(m) = prepared.take() {
            // The transaction never began (busy): the copy is as it was.
            self.put_back(program, m.revision, m.stored);
        }
        self.end_write(program, &result);
        let (report, revision, merged, heads, stored) = result?;
        drop(stored);
        self.install(program, CacheEntry::committed(revision, merged, heads));
        Ok(report)
    }

    /// `stored` with `function` taken from `graph`, and the rows that differ.
    fn merge(
        program: ProgramId,
        stored: &ProgramGraph,
        graph: &ProgramGraph,
        function: FunctionId,
    ) -> StorageResult<(ProgramGraph, ChangeSet)> {
        if Self::ids_taken(stored, graph, function) {
            return Err(StorageError::IdsTaken { program, function });
        }
        let merged =
            stored.with_function_from(graph, function).map_err(|violations| StorageError::Invalid { violations })?;
        let changes = stored.function_differences(&merged, function);
        Ok((merged, changes))
    }

    /// Whether `graph`'s function holds a node or edge id that `stored` has given to
    /// another function: another writer took the same ids after `graph` was loaded, so
    /// the merge could not keep both (it would report the caller's graph as broken).
    fn ids_taken(stored: &ProgramGraph, graph: &ProgramGraph, function: FunctionId) -> bool {
        let elsewhere = |n: NodeId| stored.node(n).is_some_and(|node| node.owner != function);
        graph.function_nodes(function).any(|n| {
            elsewhere(n)
                || graph.outgoing(n).into_iter().any(|e| stored.edge(e.id).is_some_and(|s| elsewhere(s.source)))
        })
    }

    /// [`Self::merge`] on the working copy, outside any transaction; `None` when the
    /// cache has no copy.
    fn merge_outside(&self, program: ProgramId, graph: &ProgramGraph, function: FunctionId) -> Option<MergedFunction> {
        let revision = self.cache().get(&program).map(|c| c.revision)?;
        let stored = self.take_working(program, revision)?;
        let merged = Self::merge(program, &stored, graph, function).map(|(m, changes)| (Box::new(m), changes));
        if let Ok((m, _)) = &merged
            && self.history_enabled()
        {
            // The history entry records the merged program's root.
            m.hashes();
        }
        Some(MergedFunction { revision, stored, merged })
    }

    /// Refuses a graph that was assembled from broken parts. A graph built through its
    /// API is whole by construction, so this costs nothing for the common case.
    fn check_valid_cheap(graph: &ProgramGraph) -> StorageResult<()> {
        if graph.is_trusted() { Ok(()) } else { Self::check_valid(graph) }
    }
}
