//! History in the shared engine: what every write records, and [`ProgramHistory`] for
//! every backend.
//!
//! A write gathers its delta before it writes (the rows it is about to replace, read in
//! its own transaction, or taken from the stored graph when the write loaded it
//! anyway) and appends its record after `finish`, in the same transaction. Undo and
//! redo are two stacks threaded through the records (`undo_top`, `redo_top`,
//! `stack_below`), so either reads the newest record and its target, never the log.

use super::delta::{Delta, Patch};
use super::{CommitKind, EntityRows, HistoryEntry, HistoryRecord, LogPage, ProgramHistory, Retention, Tag};
use crate::graph::{ChangeSet, NextIds, ProgramGraph};
use crate::hash::{self, ContentHash, ProgramDiff};
use crate::rows::{Replaced, assemble};
use crate::store::cache::CacheEntry;
use crate::store::trace::Timed;
use crate::store::types::now_unix;
use crate::store::{Backend, EditFn, ProgramId, SaveReport, StorageError, StorageResult, Store, WriteTx};

/// Above this many changed entities a write's delta is taken from one load of the
/// stored program rather than from row-by-row reads.
const ROW_READS_UP_TO: usize = 256;

/// The undo and redo stack heads after a revision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Heads {
    undo: Option<u64>,
    redo: Option<u64>,
}

/// The revision a program's create commit makes: the base no undo goes behind.
const CREATED_AT: u64 = 1;

impl HistoryRecord {
    fn heads(&self) -> Heads {
        Heads { undo: self.undo_top, redo: self.redo_top }
    }
}

impl Heads {
    /// The heads after a commit with no record (made with recording off): that commit
    /// is the newest to undo, and an undo of it finds no record and is refused as
    /// `RevisionNotFound`, not as "nothing to undo". Only a create commit leaves nothing.
    fn unrecorded(revision: u64) -> Heads {
        Heads { undo: (revision > CREATED_AT).then_some(revision), redo: None }
    }
}

/// An undo or redo worked out on the working copy before the write lock: the restored
/// program (assembled and hashed, which at 10 million nodes takes seconds) and what
/// its record needs, good for a transaction that finds the same revision and heads.
struct PreparedInvert {
    revision: u64,
    heads: Heads,
    target: u64,
    record: HistoryRecord,
    current: Box<ProgramGraph>,
    restored: ProgramGraph,
    changes: ChangeSet,
    replaced: EntityRows,
}

/// What a write records, gathered before it writes.
pub(crate) struct Pending {
    delta: Delta,
    heads: Heads,
}

impl Pending {
    /// What the write replaces, for `WriteTx::write_changes`: the stored program when
    /// the caller has it, else this entry's before image of the changed nodes.
    pub(crate) fn replacing<'a>(pending: Option<&'a Pending>, stored: Option<&'a ProgramGraph>) -> Replaced<'a> {
        match (stored, pending) {
            (Some(g), _) => Replaced::Program(g),
            (None, Some(p)) => Replaced::Nodes(p.delta.nodes_before()),
            (None, None) => Replaced::Unknown,
        }
    }
}

/// The entities of `changes` that may have stored rows: ids at or above the stored
/// next ids were handed out by this write and have none.
fn possibly_stored(changes: &ChangeSet, next: NextIds) -> ChangeSet {
    ChangeSet {
        modules: changes.modules.iter().copied().filter(|m| m.0 < next.module).collect(),
        types: changes.types.iter().copied().filter(|t| t.0 < next.type_).collect(),
        functions: changes.functions.iter().copied().filter(|f| f.0 < next.function).collect(),
        nodes: changes.nodes.iter().copied().filter(|n| n.0 < next.node).collect(),
        edges: changes.edges.iter().copied().filter(|e| e.0 < next.edge).collect(),
    }
}

/// The program `current` with the delta of `record` (made at `target`) applied: the
/// restored program, the entities it changes and their rows in `current`.
fn restore(
    program: ProgramId,
    current: &ProgramGraph,
    target: u64,
    record: &HistoryRecord,
) -> StorageResult<(ProgramGraph, ChangeSet, EntityRows)> {
    let delta = Delta::decode(program, target, &record.delta)?;
    let changes = delta.changes();
    let replaced = EntityRows::from_graph(current, &changes);
    let mut patch = Patch::default();
    patch.push_older(delta);
    let restored = assemble(program, patch.apply(current.to_document(), true))?;
    Ok((restored, changes, replaced))
}

fn size(changes: &ChangeSet) -> usize {
    changes.modules.len() + changes.types.len() + changes.functions.len() + changes.nodes.len() + changes.edges.len()
}

impl<B: Backend> Store<B> {
    /// `prune_history` without its span.
    fn prune_untimed(&self, program: ProgramId, retention: Retention) -> StorageResult<u64> {
        // The n-th newest entry, read before the write: entries recorded meanwhile only
        // make it keep more than asked, never fewer. (Commits made with history off
        // have no entry, so counting back revisions would drop entries it should keep.)
        let oldest_kept = match retention {
            Retention::Before(r) => r,
            Retention::Newest(n) => {
                let limit = n.max(1);
                let newest = self.rows()?.history(program, None, limit, false)?;
                if (newest.len() as u64) < limit {
                    return Ok(0);
                }
                newest.last().map_or(0, |r| r.entry.revision)
            }
        };
        self.may_write()?;
        self.backend.write(&mut |tx| {
            let revision = tx.revision(program)?;
            tx.prune_history(program, oldest_kept.min(revision))
        })
    }

    /// `load_at` without its span.
    fn load_at_untimed(&self, program: ProgramId, revision: u64) -> StorageResult<ProgramGraph> {
        let (current, at) = self.rows()?.load(program)?;
        // A revision that was never made, or that history cannot reach (an entry on
        // the way back was pruned or not recorded), is reported as the one asked for.
        let missing = || StorageError::RevisionNotFound { program, revision };
        if revision == at {
            return Ok(current);
        }
        if revision == 0 || revision > at {
            return Err(missing());
        }
        // Records `at` down to `revision`: the deltas of the ones above `revision`,
        // and the root recorded at `revision` to check the result against.
        let records = self.rows()?.history(program, Some(at + 1), at - revision + 1, true)?;
        let mut patch = Patch::default();
        let mut expected = at;
        let mut root = None;
        for record in records {
            if record.entry.revision != expected {
                return Err(missing());
            }
            if expected == revision {
                root = Some(record.entry.root);
                break;
            }
            patch.push_older(Delta::decode(program, expected, &record.delta)?);
            expected -= 1;
        }
        let root = root.ok_or_else(missing)?;
        let graph = assemble(program, patch.apply(current.to_document(), false))?;
        if graph.hashes().program() != root {
            return Err(StorageError::Corrupt {
                table: "lmlang_history",
                key: format!("program {program} revision {revision}"),
                detail: "the program stepped back to this revision does not hash to the root recorded then".into(),
            });
        }
        Ok(graph)
    }

    /// The undo and redo heads after `revision`, from the cache or its record (see
    /// [`Heads::unrecorded`] when it has none).
    fn heads_at(&self, tx: &mut dyn WriteTx, program: ProgramId, revision: u64) -> StorageResult<Heads> {
        let cached = self.cache().get(&program).filter(|c| c.revision == revision).and_then(|c| c.heads);
        match cached {
            Some(h) => Ok(h),
            None => Ok(tx.history_record(program, revision)?.map_or(Heads::unrecorded(revision), |r| r.heads())),
        }
    }

    /// Why an undo (or redo) at `revision` found no head: `NothingTo` when the
    /// revision's record says so, or when neither it nor any older revision has a
    /// record (an unrecorded create commit; a redo in a program that never recorded
    /// anything), but `RevisionNotFound` when the revision has no record while older
    /// ones exist (it was committed with recording off): then what to invert is
    /// unknown, which "nothing to redo" would misstate. (An undo over an unrecorded
    /// commit gets its head from [`Heads::unrecorded`] and never comes here.)
    fn nothing_to_invert(
        &self,
        tx: &mut dyn WriteTx,
        program: ProgramId,
        revision: u64,
        action: &'static str,
    ) -> StorageResult<StorageError> {
        let cached = self.cache().get(&program).is_some_and(|c| c.revision == revision && c.heads.is_some());
        if !cached && tx.history_record(program, revision)?.is_none() && tx.has_history_below(program, revision)? {
            return Ok(StorageError::RevisionNotFound { program, revision });
        }
        Ok(StorageError::NothingTo { program, action })
    }

    /// Gathers what a write of `changes` over `revision` replaces; `stored` is the
    /// stored program when the write has loaded it. `None` when history is off.
    pub(crate) fn history_before(
        &self,
        tx: &mut dyn WriteTx,
        program: ProgramId,
        revision: u64,
        changes: &ChangeSet,
        stored: Option<&ProgramGraph>,
    ) -> StorageResult<Option<Pending>> {
        if !self.history_enabled() {
            return Ok(None);
        }
        let next = tx.next_ids(program)?;
        let before = match stored {
            Some(g) => EntityRows::from_graph(g, changes),
            None => {
                let reads = possibly_stored(changes, next);
                if size(&reads) > ROW_READS_UP_TO {
                    EntityRows::from_graph(&tx.load(program)?, &reads)
                } else {
                    tx.stored_rows(program, &reads)?
                }
            }
        };
        Ok(Some(Pending { delta: Delta::new(next, before, changes), heads: self.heads_at(tx, program, revision)? }))
    }

    /// Records an edit that made `revision` (after `finish`); returns the heads for
    /// the cache.
    pub(crate) fn history_after(
        &self,
        tx: &mut dyn WriteTx,
        program: ProgramId,
        pending: Option<Pending>,
        revision: u64,
        graph: &ProgramGraph,
        message: Option<&str>,
    ) -> StorageResult<Option<Heads>> {
        let Some(p) = pending else { return Ok(None) };
        let heads = Heads { undo: Some(revision), redo: None };
        let entry = entry(revision, graph.hashes_for_edits().program(), CommitKind::Edit, message);
        append(tx, program, entry, heads, p.heads.undo, &p.delta)?;
        Ok(Some(heads))
    }

    /// Records a program's first revision.
    pub(crate) fn history_create(
        &self,
        tx: &mut dyn WriteTx,
        program: ProgramId,
        revision: u64,
        graph: &ProgramGraph,
    ) -> StorageResult<()> {
        if !self.history_enabled() {
            return Ok(());
        }
        let entry = entry(revision, graph.hashes().program(), CommitKind::Create, None);
        append(tx, program, entry, Heads::default(), None, &Delta::default())
    }

    /// Records a rename from `before` to `after`: same content, same stacks.
    pub(crate) fn history_rename(
        &self,
        tx: &mut dyn WriteTx,
        program: ProgramId,
        before: u64,
        after: u64,
    ) -> StorageResult<()> {
        if !self.history_enabled() {
            return Ok(());
        }
        let (root, heads) = match tx.history_record(program, before)? {
            Some(r) => (r.entry.root, r.heads()),
            None => (tx.load(program)?.hashes().program(), Heads::unrecorded(before)),
        };
        let delta = Delta::new(tx.next_ids(program)?, EntityRows::default(), &ChangeSet::default());
        append(tx, program, entry(after, root, CommitKind::Rename, None), heads, None, &delta)
    }

    /// Applies the delta at the top of the undo (or redo) stack as a new commit.
    fn invert(&self, program: ProgramId, undo: bool, message: Option<&str>) -> StorageResult<u64> {
        let action = if undo { "undo" } else { "redo" };
        let span = tracing::info_span!(
            "lmlang_history_invert",
            %program,
            action,
            revision = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
            error = tracing::field::Empty
        );
        Timed::new(span).run(|span| {
            let made = self.invert_untimed(program, undo, message);
            if let Ok(revision) = &made {
                span.record("revision", revision);
            }
            made
        })
    }

    fn invert_untimed(&self, program: ProgramId, undo: bool, message: Option<&str>) -> StorageResult<u64> {
        let action = if undo { "undo" } else { "redo" };
        self.may_write()?;
        super::check_message(message)?;
        let preloaded = self.may_have_to_invert(program, undo);
        if preloaded {
            self.preload(program)?;
        }
        // Skipped, the program may still have something to invert by the time the
        // transaction looks (another process recorded a commit meanwhile): a program
        // of unknown size is then read outside the transaction first, as a big one is.
        let edges_hint = if preloaded { 0 } else { usize::MAX };
        let mut prepared = self.prepare_invert(program, undo);
        // The program before the undo, freed after the commit rather than under the lock.
        let mut replaced_program = None;
        let done = self.write_from_stored(program, &mut |tx, first_attempt| {
            let revision = tx.revision(program)?;
            let heads = self.heads_at(tx, program, revision)?;
            let (target, record, restored, changes, replaced) = match prepared.take() {
                // The target's record must still be there: a prune moves neither the
                // revision nor the heads.
                Some(p)
                    if p.revision == revision
                        && p.heads == heads
                        && tx.history_record(program, p.target)?.is_some() =>
                {
                    replaced_program = Some((p.revision, p.current));
                    (p.target, p.record, p.restored, p.changes, p.replaced)
                }
                stale => {
                    if let Some(p) = stale {
                        self.put_back(program, p.revision, p.current);
                    }
                    let Some(target) = (if undo { heads.undo } else { heads.redo }) else {
                        return Err(self.nothing_to_invert(tx, program, revision, action)?);
                    };
                    let record = tx
                        .history_record(program, target)?
                        .ok_or(StorageError::RevisionNotFound { program, revision: target })?;
                    let Some(current) = self.stored_in(tx, program, revision, first_attempt, edges_hint)? else {
                        return Ok(None);
                    };
                    let (restored, changes, replaced) = match restore(program, &current, target, &record) {
                        Ok(restored) => restored,
                        Err(e) => {
                            self.put_back(program, revision, current);
                            return Err(e);
                        }
                    };
                    (target, record, restored, changes, replaced)
                }
            };
            // An undo or redo of `target` restores the state the commit before it left.
            // Where history holds that commit, the restored program must hash to its
            // recorded root, or a damaged delta would be committed as a state that
            // never existed (as `load_at` refuses to show one).
            if let Some(earlier) = target.checked_sub(1).filter(|&r| r > 0)
                && let Some(earlier) = tx.history_record(program, earlier)?
                && earlier.entry.root != restored.hashes().program()
            {
                return Err(StorageError::Corrupt {
                    table: "lmlang_history",
                    key: format!("program {program} revision {target}"),
                    detail: format!(
                        "the program with revision {target} {action}ne does not hash to the root recorded at revision {}",
                        earlier.entry.revision
                    ),
                });
            }
            let before = Delta::new(tx.next_ids(program)?, replaced, &changes);
            tx.write_changes(program, &restored, &changes, Replaced::Nodes(before.nodes_before()))?;
            let made = Self::finish(tx, program, &restored)?;
            let (kind, after, below) = if undo {
                (CommitKind::Undo { of: target }, Heads { undo: record.stack_below, redo: Some(made) }, heads.redo)
            } else {
                (CommitKind::Redo { of: target }, Heads { undo: Some(made), redo: record.stack_below }, heads.undo)
            };
            append(tx, program, entry(made, restored.hashes().program(), kind, message), after, below, &before)?;
            Ok(Some((made, restored, after)))
        });
        if done.is_err()
            && let Some((revision, current)) = replaced_program.take()
        {
            // Nothing was written: the copy the prepared undo replaced still holds.
            self.put_back(program, revision, current);
        }
        drop(replaced_program);
        if let Some(p) = prepared.take() {
            // The transaction never began (busy): the copy is as it was.
            self.put_back(program, p.revision, p.current);
        }
        self.end_write(program, &done);
        // On an error nothing was written: what the cache says still holds, less the
        // copy if the write took it (the next write reads it again).
        let (made, restored, heads) = done?;
        self.install(program, CacheEntry::committed(made, Box::new(restored), Some(heads)));
        Ok(made)
    }

    /// Whether an undo (or redo) may find something to do, judged by the newest history
    /// record when the cache has no copy of the program: if that record has nothing to
    /// invert, neither has the program (its heads are that record's), or the program
    /// moved on without history and the transaction refuses from the missing record
    /// alone. Reading a big program to refuse would take seconds. "Maybe" when the record has something but may
    /// be older than the program (no cheap read tells), and when the read fails: the
    /// transaction decides.
    fn may_have_to_invert(&self, program: ProgramId, undo: bool) -> bool {
        if self.cache().get(&program).is_some_and(|c| c.working.is_some()) {
            return true;
        }
        match self.backend.history(program, None, 1, false) {
            Ok(newest) => newest.first().is_some_and(|r| {
                let heads = r.heads();
                if undo { heads.undo } else { heads.redo }.is_some()
            }),
            Err(_) => true,
        }
    }

    /// Works out an undo (or redo) on the working copy, reading the heads and the
    /// record through the backend's read path. `None` when anything is missing or
    /// fails: the transaction then works it out itself and reports what is wrong.
    fn prepare_invert(&self, program: ProgramId, undo: bool) -> Option<PreparedInvert> {
        let (revision, cached) = self.cache().get(&program).map(|c| (c.revision, c.heads))?;
        let record_at = |revision: u64, with_delta: bool| -> Option<HistoryRecord> {
            let below = revision.checked_add(1)?;
            let found = self.backend.history(program, Some(below), 1, with_delta).ok()?;
            found.into_iter().next().filter(|r| r.entry.revision == revision)
        };
        let heads = match cached {
            Some(h) => h,
            None => record_at(revision, false).map_or(Heads::unrecorded(revision), |r| r.heads()),
        };
        let target = if undo { heads.undo } else { heads.redo }?;
        let record = record_at(target, true)?;
        let current = self.take_working(program, revision)?;
        match restore(program, &current, target, &record) {
            Ok((restored, changes, replaced)) => {
                // The record of the undo carries the restored program's root.
                restored.hashes();
                Some(PreparedInvert { revision, heads, target, record, current, restored, changes, replaced })
            }
            Err(_) => {
                self.put_back(program, revision, current);
                None
            }
        }
    }

    /// Points the tag at `revision` and returns the revision it named before, reading
    /// and writing it in one write transaction: the answer is the tag this write
    /// replaced, whatever other writers do. Without `may_move`, a tag on another
    /// revision stays and `TagElsewhere` says where.
    fn place_tag(&self, program: ProgramId, name: &str, revision: u64, may_move: bool) -> StorageResult<Option<u64>> {
        Self::check_tag_name(name)?;
        self.may_write()?;
        self.backend.write(&mut |tx| {
            Self::recorded(tx, program, revision)?;
            let before = tx.tagged(program, name)?;
            match before {
                Some(at) if at == revision => {}
                Some(at) if !may_move => {
                    return Err(StorageError::TagElsewhere { program, name: name.to_string(), revision: at });
                }
                _ => tx.set_tag(program, name, revision)?,
            }
            Ok(before)
        })
    }

    /// Refuses a tag on a revision the program's history does not hold (or a program
    /// that does not exist), locking the program for the write where the backend does.
    fn recorded(tx: &mut dyn WriteTx, program: ProgramId, revision: u64) -> StorageResult<()> {
        tx.revision(program)?;
        match tx.history_record(program, revision)? {
            Some(_) => Ok(()),
            None => Err(StorageError::RevisionNotFound { program, revision }),
        }
    }

    fn check_tag_name(name: &str) -> StorageResult<()> {
        // A name that reads as a number would be taken for a revision (`PROGRAM@2`),
        // digits too many for a revision included: `lmstore` reads any run of digits
        // as a revision number, so such a tag could never be named again.
        let number = name.bytes().all(|b| b.is_ascii_digit()) || name.parse::<u64>().is_ok();
        if name.is_empty()
            || name.contains('\0')
            || name.contains('@')
            || name.len() > crate::store::MAX_NAME_BYTES
            || number
        {
            Err(StorageError::InvalidTagName(name.to_string()))
        } else {
            Ok(())
        }
    }
}

fn entry(revision: u64, root: ContentHash, kind: CommitKind, message: Option<&str>) -> HistoryEntry {
    HistoryEntry { revision, committed_at: now_unix(), root, kind, message: message.map(str::to_string) }
}

fn append(
    tx: &mut dyn WriteTx,
    program: ProgramId,
    entry: HistoryEntry,
    heads: Heads,
    stack_below: Option<u64>,
    delta: &Delta,
) -> StorageResult<()> {
    let record =
        HistoryRecord { entry, undo_top: heads.undo, redo_top: heads.redo, stack_below, delta: delta.encode()? };
    tx.append_history(program, &record)
}

impl<B: Backend> ProgramHistory for Store<B> {
    fn log(&self, program: ProgramId, page: LogPage) -> StorageResult<Vec<HistoryEntry>> {
        let records = self.rows()?.history(program, page.before, page.limit, false)?;
        Ok(records.into_iter().map(|r| r.entry).collect())
    }

    fn undo(&self, program: ProgramId, message: Option<&str>) -> StorageResult<u64> {
        self.invert(program, true, message)
    }

    fn redo(&self, program: ProgramId, message: Option<&str>) -> StorageResult<u64> {
        self.invert(program, false, message)
    }

    fn load_at(&self, program: ProgramId, revision: u64) -> StorageResult<ProgramGraph> {
        let span = tracing::info_span!(
            "lmlang_load_at",
            %program,
            revision,
            duration_ms = tracing::field::Empty,
            error = tracing::field::Empty
        );
        Timed::new(span).run(|_| self.load_at_untimed(program, revision))
    }

    fn tag(&self, program: ProgramId, name: &str, revision: u64) -> StorageResult<()> {
        Self::check_tag_name(name)?;
        self.may_write()?;
        self.backend.write(&mut |tx| {
            Self::recorded(tx, program, revision)?;
            tx.set_tag(program, name, revision)
        })
    }

    fn move_tag(&self, program: ProgramId, name: &str, revision: u64) -> StorageResult<Option<u64>> {
        self.place_tag(program, name, revision, true)
    }

    fn add_tag(&self, program: ProgramId, name: &str, revision: u64) -> StorageResult<bool> {
        self.place_tag(program, name, revision, false).map(|before| before.is_none())
    }

    fn untag(&self, program: ProgramId, name: &str) -> StorageResult<()> {
        // A name no tag can have (PostgreSQL would refuse its NUL untyped). Only that:
        // tags an older build allowed (numbers, longer names) can still be removed.
        if name.is_empty() || name.contains('\0') {
            return Err(StorageError::InvalidTagName(name.to_string()));
        }
        self.may_write()?;
        self.backend.write(&mut |tx| {
            tx.revision(program)?;
            match tx.remove_tag(program, name)? {
                true => Ok(()),
                false => Err(StorageError::TagNotFound { program, name: name.to_string() }),
            }
        })
    }

    fn tags(&self, program: ProgramId) -> StorageResult<Vec<Tag>> {
        let mut tags = self.rows()?.tags(program)?;
        // By the names' bytes on every backend: PostgreSQL's own order follows the
        // database's collation (`A a B b` under en-US, `A B a b` under C).
        tags.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Ok(tags)
    }

    fn tagged(&self, program: ProgramId, name: &str) -> StorageResult<u64> {
        self.rows()?
            .tags(program)?
            .into_iter()
            .find(|t| t.name == name)
            .map(|t| t.revision)
            .ok_or_else(|| StorageError::TagNotFound { program, name: name.to_string() })
    }

    fn diff_revisions(&self, program: ProgramId, from: u64, to: u64) -> StorageResult<ProgramDiff> {
        Ok(hash::diff(&self.load_at(program, from)?, &self.load_at(program, to)?))
    }

    fn prune_history(&self, program: ProgramId, retention: Retention) -> StorageResult<u64> {
        let span = tracing::info_span!(
            "lmlang_prune_history",
            %program,
            removed = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
            error = tracing::field::Empty
        );
        Timed::new(span).run(|span| {
            let removed = self.prune_untimed(program, retention);
            if let Ok(n) = &removed {
                span.record("removed", n);
            }
            removed
        })
    }

    fn edit_with_message(
        &self,
        program: ProgramId,
        message: &str,
        edits: &mut EditFn<'_>,
    ) -> StorageResult<SaveReport> {
        self.edit_as(program, Some(message), edits)
    }

    fn save_with_message(&self, program: ProgramId, graph: &ProgramGraph, message: &str) -> StorageResult<SaveReport> {
        self.save_as(program, graph, Some(message), None)
    }

    fn save_with_message_if_at(
        &self,
        program: ProgramId,
        graph: &ProgramGraph,
        revision: u64,
        message: &str,
    ) -> StorageResult<SaveReport> {
        self.save_as(program, graph, Some(message), Some(revision))
    }
}
