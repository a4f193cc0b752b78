//! `programs`: one row per program, with what must survive a reload besides the parts
//! (revision, the next ids to hand out) and what a listing shows without loading
//! (counts, times); `program_names`: the unique names, in a table of their own so
//! every other key starts with the program id (a layout distributed or partitioned by
//! program requires it).

use crate::graph::{NextIds, ProgramGraph};
use crate::rows::sql::codec::{Strict, cell_id, corrupt, count_u64};
use crate::rows::sql::tables::{Cached, PlainUpdate, per_connection, set_list};
use crate::schema::lmlang_program_names as names;
use crate::schema::lmlang_programs as programs;
use crate::store::{ProgramId, ProgramSummary, StorageResult};
use diesel::prelude::*;

/// Version of how a program's parts are laid out in the rows, stored per program. A
/// layout change that old builds cannot read bumps it (with a migration).
pub const FORMAT_VERSION: i32 = 1;

/// A program row as read.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = programs, check_for_backend(diesel::sqlite::Sqlite))]
pub struct ProgramRow {
    pub id: i64,
    pub format_version: Strict<i32>,
    pub revision: Strict<i64>,
    pub next_node_id: Strict<i64>,
    pub next_edge_id: Strict<i64>,
    pub next_function_id: Strict<i64>,
    pub next_module_id: Strict<i64>,
    pub next_type_id: Strict<i64>,
    pub module_count: Strict<i64>,
    pub function_count: Strict<i64>,
    pub node_count: Strict<i64>,
    pub edge_count: Strict<i64>,
    pub created_at: Strict<i64>,
    pub updated_at: Strict<i64>,
}

/// A new program row: its creation, then the same state every write records (its
/// name goes to `program_names`).
#[derive(Debug, Insertable)]
#[diesel(table_name = programs, check_for_backend(diesel::sqlite::Sqlite), treat_none_as_default_value = false)]
pub struct NewProgram {
    pub format_version: i32,
    pub created_at: i64,
    #[diesel(embed)]
    pub state: ProgramState,
}

/// What a write to a program changes in its row.
#[derive(Debug, Default, Insertable)]
#[diesel(table_name = programs, check_for_backend(diesel::sqlite::Sqlite), treat_none_as_default_value = false)]
pub struct ProgramState {
    pub revision: i64,
    pub next_node_id: i64,
    pub next_edge_id: i64,
    pub next_function_id: i64,
    pub next_module_id: i64,
    pub next_type_id: i64,
    pub module_count: i64,
    pub function_count: i64,
    pub node_count: i64,
    pub edge_count: i64,
    pub updated_at: i64,
}

pub use crate::rows::Header;

set_list!(
    /// A [`ProgramState`] as the `SET` list of the update every write ends with.
    StateChanges,
    ProgramState,
    programs,
    every [
        revision,
        next_node_id,
        next_edge_id,
        next_function_id,
        next_module_id,
        next_type_id,
        module_count,
        function_count,
        node_count,
        edge_count,
        updated_at
    ]
);

set_list!(
    /// The part of a [`ProgramState`] a write of nodes and edges alone changes.
    NodeAndEdgeChanges,
    ProgramState,
    programs,
    [revision, next_node_id, next_edge_id, node_count, edge_count, updated_at]
);

impl NewProgram {
    /// The row of a new, empty program (`finish` records what is written into it).
    pub fn empty(now: i64) -> NewProgram {
        NewProgram {
            format_version: FORMAT_VERSION,
            created_at: now,
            state: ProgramState { updated_at: now, ..Default::default() },
        }
    }
}

impl ProgramState {
    /// The state a write of `graph` leaves, over a row that had `header`: the next
    /// revision, next ids that never go down (see `NextIds::max`), fresh counts. Returns
    /// it with the header it makes.
    ///
    /// A revision at or one short of the largest a row holds (only a hand-edited row
    /// has one) is refused as corrupt: the commit could not be numbered apart from the
    /// last, or its history could not be read (a log or an undo bounds its range by the
    /// revision after the newest, which must fit too).
    pub fn after_write(
        program: ProgramId,
        header: Header,
        graph: &ProgramGraph,
        now: i64,
    ) -> StorageResult<(ProgramState, Header)> {
        let revision = header.revision + 1;
        if i64::try_from(revision + 1).is_err() {
            return Err(corrupt(
                "lmlang_programs",
                program,
                format!("revision {} leaves no room for another commit", header.revision),
            ));
        }
        let next = header.next_ids.max(graph.next_ids());
        let wide = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        let state = ProgramState {
            revision: wide(revision),
            next_node_id: next.node.into(),
            next_edge_id: next.edge.into(),
            next_function_id: next.function.into(),
            next_module_id: next.module.into(),
            next_type_id: next.type_.into(),
            module_count: wide(graph.modules().len() as u64),
            function_count: wide(graph.function_count() as u64),
            node_count: wide(graph.node_count() as u64),
            edge_count: wide(graph.edge_count() as u64),
            updated_at: now,
        };
        Ok((state, Header { revision, next_ids: next }))
    }
}

/// Whether a write whose changes touched only nodes and edges (`nodes_and_edges_only`)
/// may record its state with [`set_node_and_edge_state`]: it also took no new module,
/// type or function id, so every column that statement leaves is as `before` had it.
pub fn nodes_and_edges_only(changes: &crate::graph::ChangeSet) -> bool {
    changes.modules.is_empty() && changes.types.is_empty() && changes.functions.is_empty()
}

/// See [`nodes_and_edges_only`]: true when `after` took no new module, type or
/// function id over `before`.
pub fn same_other_ids(before: Header, after: Header) -> bool {
    let (old, new) = (before.next_ids, after.next_ids);
    (old.function, old.module, old.type_) == (new.function, new.module, new.type_)
}

impl ProgramRow {
    fn key(&self) -> String {
        format!("program {}", ProgramId(self.id))
    }

    /// Revision and next ids, checked.
    pub fn header(&self) -> StorageResult<Header> {
        let bad = |detail: String| corrupt("lmlang_programs", self.key(), detail);
        let format = self.format_version.get().map_err(|e| bad(format!("format_version: {e}")))?;
        if format != FORMAT_VERSION {
            return Err(bad(format!("format version {format} is not the {FORMAT_VERSION} this build reads")));
        }
        let id = |v: Strict<i64>, what: &str| cell_id(v).map_err(|e| bad(format!("{what}: {e}")));
        Ok(Header {
            revision: count_u64(self.revision, "revision").map_err(bad)?,
            next_ids: NextIds {
                node: id(self.next_node_id, "next_node_id")?,
                edge: id(self.next_edge_id, "next_edge_id")?,
                function: id(self.next_function_id, "next_function_id")?,
                module: id(self.next_module_id, "next_module_id")?,
                type_: id(self.next_type_id, "next_type_id")?,
            },
        })
    }

    /// The row and its name as a listing entry, checked.
    pub fn summary(&self, name: Option<Strict<String>>) -> StorageResult<ProgramSummary> {
        let Some(name) = name else {
            return Err(corrupt("lmlang_program_names", self.key(), "the program has no name row"));
        };
        let count =
            |v: Strict<i64>, what: &str| count_u64(v, what).map_err(|e| corrupt("lmlang_programs", self.key(), e));
        let time = |v: Strict<i64>, what: &str| {
            v.get().map_err(|e| corrupt("lmlang_programs", self.key(), format!("{what}: {e}")))
        };
        Ok(ProgramSummary {
            id: ProgramId(self.id),
            name: name.get().map_err(|e| corrupt("lmlang_program_names", self.key(), format!("name: {e}")))?,
            modules: count(self.module_count, "module_count")?,
            functions: count(self.function_count, "function_count")?,
            nodes: count(self.node_count, "node_count")?,
            edges: count(self.edge_count, "edge_count")?,
            revision: count(self.revision, "revision")?,
            created_at: time(self.created_at, "created_at")?,
            updated_at: time(self.updated_at, "updated_at")?,
        })
    }
}

per_connection! {
    /// The program with this id.
    pub fn find(conn: &mut Conn, id: i64) -> QueryResult<Option<ProgramRow>> {
        programs::table.find(id).select(ProgramRow::as_select()).get_result(conn).optional()
    }

    /// Whether the program exists.
    pub fn exists(conn: &mut Conn, id: i64) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(programs::table.find(id))).get_result(conn)
    }

    /// The id of the program with this name.
    pub fn id_by_name(conn: &mut Conn, name: &str) -> QueryResult<Option<i64>> {
        names::table.find(name).select(names::program_id).get_result(conn).optional()
    }

    /// All programs with their names, in id order. A program whose name row is
    /// missing (damage, or a service's own delete) comes with `None`, so that the
    /// listing reports it instead of hiding a program nothing can then reach by name.
    pub fn list(conn: &mut Conn) -> QueryResult<Vec<(ProgramRow, Option<Strict<String>>)>> {
        programs::table
            .left_join(names::table)
            .order_by(programs::id)
            .select((ProgramRow::as_select(), names::name.nullable()))
            .load(conn)
    }

    /// One program with its name, as [`list`] gives it: a command about one program
    /// reads its own rows, whatever else the database holds.
    pub fn list_one(conn: &mut Conn, id: i64) -> QueryResult<Option<(ProgramRow, Option<Strict<String>>)>> {
        programs::table
            .left_join(names::table)
            .filter(programs::id.eq(id))
            .select((ProgramRow::as_select(), names::name.nullable()))
            .get_result(conn)
            .optional()
    }

    /// Inserts a program row and its name; returns the new id. A name already taken
    /// fails the name's insert with a unique violation (the caller's transaction then
    /// rolls the program row back).
    pub fn insert(conn: &mut Conn, name: &str, row: &NewProgram) -> QueryResult<i64> {
        let id = diesel::insert_into(programs::table).values(row).returning(programs::id).get_result(conn)?;
        diesel::insert_into(names::table).values((names::name.eq(name), names::program_id.eq(id))).execute(conn)?;
        Ok(id)
    }

    /// Records the state after a write (every write ends with it: a cached statement,
    /// whose `SET` list always names every column of [`ProgramState`]).
    pub fn set_state(conn: &mut Conn, id: i64, state: &ProgramState) -> QueryResult<usize> {
        struct SetState;
        Cached::<SetState, _>::new(PlainUpdate::new(programs::table, StateChanges(state), programs::id.eq(id)))
            .execute(conn)
    }

    /// [`set_state`] after a write that changed only nodes and edges and took no new
    /// module, type or function id: the columns it leaves keep their values.
    pub fn set_node_and_edge_state(conn: &mut Conn, id: i64, state: &ProgramState) -> QueryResult<usize> {
        struct SetNodeAndEdgeState;
        Cached::<SetNodeAndEdgeState, _>::new(PlainUpdate::new(programs::table, NodeAndEdgeChanges(state), programs::id.eq(id)))
            .execute(conn)
    }

    /// Renames a program and bumps its revision; the number of programs changed.
    pub fn rename(conn: &mut Conn, id: i64, name: &str) -> QueryResult<usize> {
        let bumped =
            diesel::update(programs::table.find(id)).set(programs::revision.eq(programs::revision + 1)).execute(conn)?;
        if bumped > 0 {
            diesel::update(names::table.filter(names::program_id.eq(id))).set(names::name.eq(name)).execute(conn)?;
        }
        Ok(bumped)
    }

    /// Deletes a program and its name; every table's rows cascade from it. The name is
    /// deleted by hand as well, for layouts without that foreign key (Citus refuses
    /// one from a reference table to a distributed one).
    pub fn delete(conn: &mut Conn, id: i64) -> QueryResult<usize> {
        diesel::delete(names::table.filter(names::program_id.eq(id))).execute(conn)?;
        diesel::delete(programs::table.find(id)).execute(conn)
    }
}

/// Deletes every row a program owns but its program and name rows, children first:
/// what the cascade of [`delete`] does, for a connection that does not enforce
/// foreign keys (a service's SQLite pool with `foreign_keys = OFF`), where the
/// cascade would not run and the rows would stay behind for good.
pub fn delete_owned_rows(conn: &mut SqliteConnection, id: i64) -> QueryResult<()> {
    use crate::schema::{
        lmlang_compute_nodes as nodes, lmlang_flow_edges as edges, lmlang_functions as functions,
        lmlang_history as history, lmlang_history_tags as tags, lmlang_modules as modules,
        lmlang_semantic_edges as semantic_edges, lmlang_semantic_nodes as semantic_nodes, lmlang_types as types,
    };
    diesel::delete(tags::table.filter(tags::program_id.eq(id))).execute(conn)?;
    diesel::delete(history::table.filter(history::program_id.eq(id))).execute(conn)?;
    diesel::delete(semantic_edges::table.filter(semantic_edges::program_id.eq(id))).execute(conn)?;
    diesel::delete(semantic_nodes::table.filter(semantic_nodes::program_id.eq(id))).execute(conn)?;
    diesel::delete(edges::table.filter(edges::program_id.eq(id))).execute(conn)?;
    diesel::delete(nodes::table.filter(nodes::program_id.eq(id))).execute(conn)?;
    diesel::delete(functions::table.filter(functions::program_id.eq(id))).execute(conn)?;
    diesel::delete(types::table.filter(types::program_id.eq(id))).execute(conn)?;
    diesel::delete(modules::table.filter(modules::program_id.eq(id))).execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{NewProgram, ProgramRow, ProgramState, programs};
    use diesel::prelude::*;

    /// The row's state columns, in `ProgramState`'s order.
    fn state_of(conn: &mut SqliteConnection, id: i64) -> ([i64; 11], ProgramRow) {
        let row = programs::table.find(id).select(ProgramRow::as_select()).get_result(conn).expect("row");
        let cells = [
            row.revision,
            row.next_node_id,
            row.next_edge_id,
            row.next_function_id,
            row.next_module_id,
            row.next_type_id,
            row.module_count,
            row.function_count,
            row.node_count,
            row.edge_count,
            row.updated_at,
        ];
        (cells.map(|cell| cell.get().expect("an integer")), row)
    }

    #[test]
    fn a_write_records_every_column_of_its_state() {
        let mut conn = SqliteConnection::establish(":memory:").expect("connection");
        crate::sqlite::run_migrations(&mut conn).expect("migrations");
        let id = super::insert(&mut conn, "p", &NewProgram::empty(5)).expect("program");
        // Distinct values, so a column left out of the SET list, or set from another
        // field, shows.
        let state = ProgramState {
            revision: 11,
            next_node_id: 12,
            next_edge_id: 13,
            next_function_id: 14,
            next_module_id: 15,
            next_type_id: 16,
            module_count: 17,
            function_count: 18,
            node_count: 19,
            edge_count: 20,
            updated_at: 21,
        };
        assert_eq!(super::set_state(&mut conn, id, &state).expect("update"), 1);
        let (stored, row) = state_of(&mut conn, id);
        assert_eq!(stored, [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]);
        assert_eq!(row.created_at.get(), Ok(5), "the creation time stays");

        // The narrow update sets its six columns and leaves the other five.
        let later = ProgramState {
            revision: 31,
            next_node_id: 32,
            next_edge_id: 33,
            next_function_id: 34,
            next_module_id: 35,
            next_type_id: 36,
            module_count: 37,
            function_count: 38,
            node_count: 39,
            edge_count: 40,
            updated_at: 41,
        };
        assert_eq!(super::set_node_and_edge_state(&mut conn, id, &later).expect("update"), 1);
        let (stored, _) = state_of(&mut conn, id);
        assert_eq!(stored, [31, 32, 33, 14, 15, 16, 17, 18, 39, 40, 41]);
    }
}
