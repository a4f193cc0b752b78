//! `history` and `history_tags`: a program's history records (one per commit) and the
//! names given to revisions. What the records mean is the engine's
//! (`store::history`); these rows only keep them.

use crate::graph::{ChangeSet, EdgeEntry};
use crate::hash::ContentHash;
use crate::rows::sql::codec::{Strict, corrupt, count_u64, show};
use crate::rows::sql::tables::{
    Cached, InsertRow, RowsInsert, edges, functions, insert_row, modules, nodes, per_connection, types,
};
use crate::schema::{lmlang_history as history, lmlang_history_tags as tags};
use crate::store::{CommitKind, EntityRows, HistoryEntry, HistoryRecord, ProgramId, StorageResult, Tag};
use diesel::backend::Backend;
use diesel::dsl;
use diesel::prelude::*;
use diesel::query_builder::AstPass;
use diesel::upsert::excluded;

/// A history row without its delta (what a log page reads).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = history, check_for_backend(diesel::sqlite::Sqlite))]
pub struct EntryRow {
    pub program_id: i64,
    pub revision: Strict<i64>,
    pub committed_at: Strict<i64>,
    pub root_hash: Vec<u8>,
    pub kind: Strict<i16>,
    pub target: Option<Strict<i64>>,
    pub undo_top: Option<Strict<i64>>,
    pub redo_top: Option<Strict<i64>>,
    pub stack_below: Option<Strict<i64>>,
    pub message: Option<Strict<String>>,
}

insert_row!(
    EntryRow,
    history,
    [program_id, revision, committed_at, root_hash, kind, target, undo_top, redo_top, stack_below, message]
);

/// A record as appended: its entry row and its delta, written by one cached statement
/// (Diesel's own insert of the pair walks its eleven values twice more per execution
/// than it binds them).
struct NewRecord<'a> {
    entry: &'a EntryRow,
    delta: &'a [u8],
}

impl<DB: Backend> InsertRow<DB> for NewRecord<'_>
where
    EntryRow: InsertRow<DB>,
    [u8]: diesel::serialize::ToSql<<history::delta as diesel::Expression>::SqlType, DB>,
    DB: diesel::sql_types::HasSqlType<<history::delta as diesel::Expression>::SqlType>,
{
    fn walk_names(out: &mut AstPass<'_, '_, DB>) -> QueryResult<()> {
        EntryRow::walk_names(out)?;
        out.push_sql(", ");
        out.push_identifier(<history::delta as diesel::Column>::NAME)
    }

    fn walk_values<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.entry.walk_values(out)?;
        out.push_sql(", ");
        out.push_bind_param::<<history::delta as diesel::Expression>::SqlType, _>(self.delta)
    }
}

/// A revision (or count) as stored; they never come near `i64::MAX`.
pub fn wide(revision: u64) -> i64 {
    i64::try_from(revision).unwrap_or(i64::MAX)
}

impl EntryRow {
    /// The row of a record (its delta is written beside it).
    pub fn new(program: ProgramId, r: &HistoryRecord) -> Self {
        let (kind, target) = match r.entry.kind {
            CommitKind::Create => (0, None),
            CommitKind::Edit => (1, None),
            CommitKind::Undo { of } => (2, Some(of)),
            CommitKind::Redo { of } => (3, Some(of)),
            CommitKind::Rename => (4, None),
        };
        let opt = |v: Option<u64>| v.map(|v| wide(v).into());
        EntryRow {
            program_id: program.0,
            revision: wide(r.entry.revision).into(),
            committed_at: r.entry.committed_at.into(),
            root_hash: r.entry.root.0.to_vec(),
            kind: Strict::from(kind),
            target: opt(target),
            undo_top: opt(r.undo_top),
            redo_top: opt(r.redo_top),
            stack_below: opt(r.stack_below),
            message: r.entry.message.clone().map(Strict::from),
        }
    }

    /// The record a row holds (with `delta`), or a `Corrupt` error naming it.
    pub fn decode(self, delta: Vec<u8>) -> StorageResult<HistoryRecord> {
        let key = format!("program {} revision {}", ProgramId(self.program_id), show(self.revision));
        let bad = |detail: String| corrupt("lmlang_history", key.clone(), detail);
        let revision = |cell: Strict<i64>, what: &str| count_u64(cell, what).map_err(bad);
        let opt = |cell: Option<Strict<i64>>, what: &str| cell.map(|c| revision(c, what)).transpose();
        let root: [u8; 32] =
            self.root_hash.as_slice().try_into().map_err(|_| bad("root_hash: not 32 bytes".to_string()))?;
        let target = opt(self.target, "target")?;
        let kind = match (self.kind.get().map_err(|e| bad(format!("kind: {e}")))?, target) {
            (0, None) => CommitKind::Create,
            (1, None) => CommitKind::Edit,
            (2, Some(of)) => CommitKind::Undo { of },
            (3, Some(of)) => CommitKind::Redo { of },
            (4, None) => CommitKind::Rename,
            (other, _) => return Err(bad(format!("kind {other} with target {target:?}"))),
        };
        Ok(HistoryRecord {
            entry: HistoryEntry {
                revision: revision(self.revision, "revision")?,
                committed_at: self.committed_at.get().map_err(|e| bad(format!("committed_at: {e}")))?,
                root: ContentHash(root),
                kind,
                message: self.message.map(|m| m.get().map_err(|e| bad(format!("message: {e}")))).transpose()?,
            },
            undo_top: opt(self.undo_top, "undo_top")?,
            redo_top: opt(self.redo_top, "redo_top")?,
            stack_below: opt(self.stack_below, "stack_below")?,
            delta,
        })
    }
}

/// A tag as read, checked.
pub fn decode_tag(program: ProgramId, (name, revision): (Strict<String>, Strict<i64>)) -> StorageResult<Tag> {
    let bad = |detail: String| corrupt("lmlang_history_tags", format!("program {program}"), detail);
    Ok(Tag {
        name: name.get().map_err(|e| bad(format!("name: {e}")))?,
        revision: count_u64(revision, "revision").map_err(bad)?,
    })
}

/// One record by key.
#[dsl::auto_type(no_type_alias)]
pub fn by_revision(program: i64, revision: i64) -> _ {
    history::table.filter(history::program_id.eq(program)).filter(history::revision.eq(revision))
}

/// A program's records below a revision, newest first.
#[dsl::auto_type(no_type_alias)]
pub fn below(program: i64, revision: i64) -> _ {
    history::table
        .filter(history::program_id.eq(program))
        .filter(history::revision.lt(revision))
        .order_by(history::revision.desc())
}

/// A program's tags on revisions below `revision` (what pruning drops with them).
#[dsl::auto_type(no_type_alias)]
pub fn tags_below(program: i64, revision: i64) -> _ {
    tags::table.filter(tags::program_id.eq(program)).filter(tags::revision.lt(revision))
}

/// A program's tags by name.
#[dsl::auto_type(no_type_alias)]
pub fn tags_of(program: i64) -> _ {
    tags::table.filter(tags::program_id.eq(program)).order_by(tags::name)
}

/// The outcome of appending `record`: an entry at a revision history already holds
/// means the program row's revision went back (only a hand-edited row does that), which
/// is corrupt data, named, rather than a bare unique violation. The write then rolls
/// back whole.
pub fn appended(
    inserted: QueryResult<usize>,
    program: ProgramId,
    record: &HistoryRecord,
    classify: fn(diesel::result::Error) -> crate::store::StorageError,
) -> StorageResult<()> {
    match inserted {
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Err(corrupt(
                "lmlang_programs",
                program,
                format!(
                    "revision {} is behind the program's history, which already holds revision {}",
                    record.entry.revision.saturating_sub(1),
                    record.entry.revision
                ),
            ))
        }
        other => other.map(drop).map_err(classify),
    }
}

per_connection! {
    /// Appends a record.
    pub fn insert(conn: &mut Conn, row: &EntryRow, delta: &[u8]) -> QueryResult<usize> {
        struct Append;
        let record = NewRecord { entry: row, delta };
        Cached::<Append, _>::new(RowsInsert::new(history::table, std::slice::from_ref(&record))).execute(conn)
    }

    /// One record with its delta.
    pub fn find(conn: &mut Conn, program: i64, revision: i64) -> QueryResult<Option<(EntryRow, Vec<u8>)>> {
        by_revision(program, revision).select((EntryRow::as_select(), history::delta)).get_result(conn).optional()
    }

    /// Records below `below`, newest first, without deltas.
    pub fn page(conn: &mut Conn, program: i64, below: i64, limit: i64) -> QueryResult<Vec<EntryRow>> {
        self::below(program, below).limit(limit).select(EntryRow::as_select()).load(conn)
    }

    /// Records below `below`, newest first, with deltas.
    pub fn page_with_deltas(
        conn: &mut Conn,
        program: i64,
        below: i64,
        limit: i64,
    ) -> QueryResult<Vec<(EntryRow, Vec<u8>)>> {
        self::below(program, below).limit(limit).select((EntryRow::as_select(), history::delta)).load(conn)
    }

    /// Deletes the records below `below` and the tags on them; returns the records
    /// deleted.
    pub fn prune(conn: &mut Conn, program: i64, below: i64) -> QueryResult<usize> {
        diesel::delete(tags_below(program, below)).execute(conn)?;
        diesel::delete(history::table.filter(history::program_id.eq(program)).filter(history::revision.lt(below)))
            .execute(conn)
    }

    /// Records below `below` (all when `None`), newest first, at most `limit`,
    /// decoded; deltas only `with_deltas`.
    pub fn records(
        conn: &mut Conn,
        program: ProgramId,
        below: Option<u64>,
        limit: u64,
        with_deltas: bool,
    ) -> StorageResult<Vec<HistoryRecord>> {
        let (below, limit) = page_bounds(below, limit);
        if with_deltas {
            page_with_deltas(conn, program.0, below, limit)?.into_iter().map(|(r, d)| r.decode(d)).collect()
        } else {
            page(conn, program.0, below, limit)?.into_iter().map(|r| r.decode(Vec::new())).collect()
        }
    }

    /// One record with its delta, decoded.
    pub fn record(conn: &mut Conn, program: ProgramId, revision: u64) -> StorageResult<Option<HistoryRecord>> {
        find(conn, program.0, wide(revision))?.map(|(r, d)| r.decode(d)).transpose()
    }

    /// Creates or moves a tag.
    pub fn set_tag(conn: &mut Conn, program: i64, name: &str, revision: i64) -> QueryResult<usize> {
        diesel::insert_into(tags::table)
            .values((tags::program_id.eq(program), tags::name.eq(name), tags::revision.eq(revision)))
            .on_conflict((tags::program_id, tags::name))
            .do_update()
            .set(tags::revision.eq(excluded(tags::revision)))
            .execute(conn)
    }

    /// One tag, if the program has it.
    pub fn tag(conn: &mut Conn, program: i64, name: &str) -> QueryResult<Option<(Strict<String>, Strict<i64>)>> {
        tags::table.find((program, name)).select((tags::name, tags::revision)).get_result(conn).optional()
    }

    /// Removes a tag; the rows deleted (0 or 1).
    pub fn remove_tag(conn: &mut Conn, program: i64, name: &str) -> QueryResult<usize> {
        diesel::delete(tags::table.find((program, name))).execute(conn)
    }

    /// A program's tags by name.
    pub fn tags(conn: &mut Conn, program: i64) -> QueryResult<Vec<(Strict<String>, Strict<i64>)>> {
        tags_of(program).select((tags::name, tags::revision)).load(conn)
    }

}

/// Defines `stored_rows` on one backend's connection, reading through that backend's
/// instance of each table's `find`.
macro_rules! stored_rows_on {
    ($name:ident, $conn:ty, $backend:ident) => {
        /// The stored rows of the listed entities that exist (one keyed read each; a
        /// write reads only the few rows it replaces).
        pub fn $name(conn: &mut $conn, program: ProgramId, ids: &ChangeSet) -> StorageResult<EntityRows> {
            let mut out = EntityRows::default();
            for m in &ids.modules {
                if let Some(row) = modules::$backend::find(conn, program.0, m.0.into())? {
                    out.modules.push(row.decode()?);
                }
            }
            for t in &ids.types {
                if let Some(row) = types::$backend::find(conn, program.0, t.0.into())? {
                    out.types.push(row.decode()?);
                }
            }
            for f in &ids.functions {
                if let Some(row) = functions::$backend::find(conn, program.0, f.0.into())? {
                    out.functions.push(row.decode()?);
                }
            }
            for n in &ids.nodes {
                if let Some(row) = nodes::$backend::find(conn, program.0, n.0.into())? {
                    out.nodes.push(row.decode()?);
                }
            }
            for e in &ids.edges {
                if let Some(row) = edges::$backend::find(conn, program.0, e.0.into())? {
                    let v = row.decode()?;
                    out.edges.push(EdgeEntry { id: v.id, source: v.source, target: v.target, edge: v.edge });
                }
            }
            Ok(out)
        }
    };
}

stored_rows_on!(stored_rows, diesel::sqlite::SqliteConnection, sqlite);
#[cfg(feature = "postgres")]
stored_rows_on!(stored_rows_pg, diesel::pg::PgConnection, pg);

/// The bounds of a page query: `below` (all when `None`) and `limit`, as stored.
pub fn page_bounds(below: Option<u64>, limit: u64) -> (i64, i64) {
    (below.map_or(i64::MAX, wide), wide(limit))
}
