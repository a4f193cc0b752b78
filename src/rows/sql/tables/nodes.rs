//! `compute_nodes`: one row per compute node, clustered by owner so that a function's
//! body is one contiguous key range. Ops are spread over typed columns by
//! [`ops`](crate::rows::sql::ops).

use crate::graph::NodeEntry;
use crate::model::{ComputeNode, FunctionId, NodeId};
use crate::rows::sql::codec::{Json, Strict, cell_id, corrupt, read_cell, read_required, show};
use crate::rows::sql::ops::{OpColumns, OpPayload, decode_op, encode_op};
use crate::rows::sql::tables::{
    CHUNK, Cached, MAX_PARAMETERS, PlainUpdate, delete_ids, insert_row, insert_rows, per_connection, set_list,
    upsert_chunked,
};
use crate::schema::lmlang_compute_nodes as compute_nodes;
use crate::store::{ProgramId, StorageResult};
use diesel::connection::DefaultLoadingMode;
use diesel::deserialize::{self, FromSqlRow};
use diesel::dsl;
use diesel::prelude::*;
use diesel::row::Row;
use diesel::sql_types::{BigInt, Nullable, SmallInt, Text};
use diesel::sqlite::Sqlite;
use diesel::sqlite::SqliteConnection;
use diesel::upsert::excluded;

/// A compute node row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = compute_nodes, check_for_backend(diesel::sqlite::Sqlite), treat_none_as_default_value = false)]
pub struct NodeRow {
    pub program_id: i64,
    pub owner_id: Strict<i64>,
    pub node_id: Strict<i64>,
    pub op: Strict<i16>,
    pub arg: Option<Strict<i64>>,
    pub type_ref: Option<Strict<i64>>,
    pub callee_id: Option<Strict<i64>>,
    pub payload: Option<Json<OpPayload>>,
}

const _: () = assert!(CHUNK * 8 <= MAX_PARAMETERS);

insert_row!(NodeRow, compute_nodes, [program_id, owner_id, node_id, op, arg, type_ref, callee_id, payload]);

set_list!(
    /// A node row's op columns as the `SET` list of its rewrite in place.
    OpChanges,
    NodeRow,
    compute_nodes,
    [op, arg, type_ref, callee_id, payload]
);

set_list!(
    /// The op columns no index holds: the `SET` list of a rewrite that keeps the
    /// node's references, which SQLite then makes without touching an index.
    BodyChanges,
    NodeRow,
    compute_nodes,
    [op, arg, payload]
);

impl NodeRow {
    /// The row of a node.
    pub fn new(program: ProgramId, id: NodeId, node: &ComputeNode) -> StorageResult<Self> {
        let OpColumns { op, arg, type_ref, callee_id, payload } = encode_op(&node.op)?;
        Ok(NodeRow {
            program_id: program.0,
            owner_id: i64::from(node.owner.0).into(),
            node_id: i64::from(id.0).into(),
            op: op.into(),
            arg: arg.map(Strict::from),
            type_ref: type_ref.map(Strict::from),
            callee_id: callee_id.map(Strict::from),
            payload,
        })
    }

    /// The node a row holds, or a `Corrupt` error naming it.
    pub fn decode(self) -> StorageResult<NodeEntry> {
        let cells = NodeCells {
            owner_id: self.owner_id,
            node_id: self.node_id,
            op: self.op,
            arg: self.arg,
            type_ref: self.type_ref,
            callee_id: self.callee_id,
            payload: self.payload,
        };
        cells.decode(ProgramId(self.program_id))
    }
}

/// The SQL types of [`NodeCells`], in column order.
type CellTypes = (BigInt, BigInt, SmallInt, Nullable<BigInt>, Nullable<BigInt>, Nullable<BigInt>, Nullable<Text>);

/// A node row as a whole-program load reads it: the cells of [`NodeRow`] but the
/// program id, which the query's key gives. Built by a hand-written `FromSqlRow` (see
/// [`read_cell`]), which costs a load less than Diesel's derived one.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeCells {
    pub owner_id: Strict<i64>,
    pub node_id: Strict<i64>,
    pub op: Strict<i16>,
    pub arg: Option<Strict<i64>>,
    pub type_ref: Option<Strict<i64>>,
    pub callee_id: Option<Strict<i64>>,
    pub payload: Option<Json<OpPayload>>,
}

impl FromSqlRow<CellTypes, Sqlite> for NodeCells {
    fn build_from_row<'a>(row: &impl Row<'a, Sqlite>) -> deserialize::Result<Self> {
        Ok(NodeCells {
            owner_id: read_required::<BigInt, _>(row, 0)?,
            node_id: read_required::<BigInt, _>(row, 1)?,
            op: read_required::<SmallInt, _>(row, 2)?,
            arg: read_cell::<BigInt, _>(row, 3)?,
            type_ref: read_cell::<BigInt, _>(row, 4)?,
            callee_id: read_cell::<BigInt, _>(row, 5)?,
            payload: read_cell::<Text, _>(row, 6)?,
        })
    }
}

impl NodeCells {
    /// The node the row holds, or a `Corrupt` error naming it.
    pub fn decode(self, program: ProgramId) -> StorageResult<NodeEntry> {
        let node = self.node_id;
        self.entry()
            .map_err(|detail| corrupt("lmlang_compute_nodes", format!("program {program} node {}", show(node)), detail))
    }

    /// The node, or what is wrong with the row (inlined for the reason
    /// `EdgeCells::entry` is).
    #[inline]
    fn entry(self) -> Result<NodeEntry, String> {
        let id = NodeId(cell_id(self.node_id)?);
        let owner = FunctionId(cell_id(self.owner_id).map_err(|e| format!("owner_id: {e}"))?);
        let column = |cell: Option<Strict<i64>>, name: &str| {
            cell.map(|c| c.get()).transpose().map_err(|e| format!("{name}: {e}"))
        };
        let cols = OpColumns {
            op: self.op.get().map_err(|e| format!("op: {e}"))?,
            arg: column(self.arg, "arg")?,
            type_ref: column(self.type_ref, "type_ref")?,
            callee_id: column(self.callee_id, "callee_id")?,
            payload: self.payload,
        };
        Ok(NodeEntry { id, owner, op: decode_op(&cols)? })
    }
}

/// One node by id (index `compute_nodes_by_id`).
#[dsl::auto_type(no_type_alias)]
pub fn by_id(program: i64, node: i64) -> _ {
    compute_nodes::table.filter(compute_nodes::program_id.eq(program)).filter(compute_nodes::node_id.eq(node))
}

/// The nodes a function owns, in id order: a range of the primary key.
#[dsl::auto_type(no_type_alias)]
pub fn by_owner(program: i64, owner: i64) -> _ {
    compute_nodes::table
        .filter(compute_nodes::program_id.eq(program))
        .filter(compute_nodes::owner_id.eq(owner))
        .order_by(compute_nodes::node_id)
}

/// The ids of nodes whose op names a type, in id order (index `compute_nodes_by_type`).
#[dsl::auto_type(no_type_alias)]
pub fn by_type(program: i64, ty: i64) -> _ {
    compute_nodes::table
        .filter(compute_nodes::program_id.eq(program))
        .filter(compute_nodes::type_ref.eq(ty))
        .order_by(compute_nodes::node_id)
        .select(compute_nodes::node_id)
}

/// All nodes of a program in key order (by owner, then id), as [`NodeCells`]: one
/// sequential read, what a load runs.
#[dsl::auto_type(no_type_alias)]
pub fn cells_of_program(program: i64) -> _ {
    compute_nodes::table
        .filter(compute_nodes::program_id.eq(program))
        .order_by((compute_nodes::owner_id, compute_nodes::node_id))
        .select((
            compute_nodes::owner_id,
            compute_nodes::node_id,
            compute_nodes::op,
            compute_nodes::arg,
            compute_nodes::type_ref,
            compute_nodes::callee_id,
            compute_nodes::payload,
        ))
}

/// The nodes a function owns, in id order, on PostgreSQL (SQLite reads
/// [`load_cells_by_owner`]).
#[cfg(feature = "postgres")]
pub fn load_by_owner_pg(conn: &mut diesel::pg::PgConnection, program: i64, owner: i64) -> QueryResult<Vec<NodeRow>> {
    by_owner(program, owner).select(NodeRow::as_select()).load(conn)
}

/// The nodes a function owns, in id order, as [`NodeCells`]: on SQLite,
/// `find_nodes_by_owner` decodes them as a load does, for a third of the instructions
/// per row of the derived [`NodeRow`] (BENCHMARKS.md).
pub fn load_cells_by_owner(conn: &mut SqliteConnection, program: i64, owner: i64) -> QueryResult<Vec<NodeCells>> {
    // The whole-program read narrowed to one owner: still a range of the primary key,
    // in id order.
    cells_of_program(program).filter(compute_nodes::owner_id.eq(owner)).load::<NodeCells>(conn)
}

/// Loads and decodes all nodes of a program (in key order, not id order), row by row
/// so no intermediate rows pile up.
pub fn load_decoded(conn: &mut SqliteConnection, program: i64) -> StorageResult<Vec<NodeEntry>> {
    let mut out = Vec::new();
    for row in cells_of_program(program).load_iter::<NodeCells, DefaultLoadingMode>(conn)? {
        out.push(row?.decode(ProgramId(program))?);
    }
    Ok(out)
}

per_connection! {
    /// Loads one node.
    pub fn find(conn: &mut Conn, program: i64, node: i64) -> QueryResult<Option<NodeRow>> {
        by_id(program, node).select(NodeRow::as_select()).get_result(conn).optional()
    }

    /// Loads the ids of the nodes naming a type.
    pub fn load_by_type(conn: &mut Conn, program: i64, ty: i64) -> QueryResult<Vec<Strict<i64>>> {
        by_type(program, ty).load(conn)
    }

    /// Rewrites a stored node in place if its owner, type and callee are stored as
    /// `row` has them (the usual edit: a constant's value, an argument index), setting
    /// only the columns no index holds; whether it did. Done so, the node was stored
    /// as a call exactly when it is one now, so the write needs no read of its old
    /// row to keep `Calls` edges, and no index entry moves. One statement per
    /// combination of absent references, each prepared once.
    pub fn rewrite_keeping_refs(conn: &mut Conn, row: &NodeRow) -> QueryResult<bool> {
        let key = compute_nodes::program_id
            .eq(row.program_id)
            .and(compute_nodes::owner_id.eq(&row.owner_id))
            .and(compute_nodes::node_id.eq(&row.node_id));
        macro_rules! rewrite {
            ($marker:ident, $refs:expr) => {{
                struct $marker;
                Cached::<$marker, _>::new(PlainUpdate::new(compute_nodes::table, BodyChanges(row), key.and($refs)))
                    .execute(conn)?
            }};
        }
        let (t, c) = (compute_nodes::type_ref, compute_nodes::callee_id);
        let rewritten = match (&row.type_ref, &row.callee_id) {
            (None, None) => rewrite!(NoRefs, t.is_null().and(c.is_null())),
            (Some(ty), None) => rewrite!(TypeRef, t.eq(ty).and(c.is_null())),
            (None, Some(callee)) => rewrite!(CalleeRef, t.is_null().and(c.eq(callee))),
            (Some(ty), Some(callee)) => rewrite!(BothRefs, t.eq(ty).and(c.eq(callee))),
        };
        Ok(rewritten == 1)
    }

    /// The owners of the stored call nodes (`Call`, `MakeClosure`) among `ids`: the
    /// functions whose `Calls` edges may change when those nodes are rewritten.
    pub fn call_owners(conn: &mut Conn, program: i64, ids: &[i64]) -> QueryResult<Vec<Strict<i64>>> {
        let calls_in = compute_nodes::table
            .filter(compute_nodes::program_id.eq(program))
            .filter(compute_nodes::callee_id.is_not_null())
            .select(compute_nodes::owner_id);
        if let [id] = ids {
            // One id (a one-node edit): a statement Diesel caches, unlike an `IN` list.
            return calls_in.filter(compute_nodes::node_id.eq(*id)).load::<Strict<i64>>(conn);
        }
        let mut owners = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            owners.extend(calls_in.filter(compute_nodes::node_id.eq_any(chunk)).load::<Strict<i64>>(conn)?);
        }
        Ok(owners)
    }

    /// Inserts rows that do not exist yet, in the order given.
    pub fn insert(conn: &mut Conn, rows: &[NodeRow]) -> QueryResult<usize> {
        insert_rows!(conn, compute_nodes::table, rows)
    }

    /// Inserts or replaces rows, matched by node id (an owner never changes through the
    /// graph API, but a save of an unrelated graph may give an id another owner).
    ///
    /// A single row is first rewritten in place where it is stored under the same
    /// owner (the usual edit): the upsert's `SET` names `owner_id`, a key column, so
    /// SQLite would delete and reinsert the row and all its index entries.
    pub fn upsert(conn: &mut Conn, rows: &[NodeRow]) -> QueryResult<usize> {
        if let [row] = rows {
            struct SameOwner;
            let rewritten = Cached::<SameOwner, _>::new(PlainUpdate::new(
                compute_nodes::table,
                OpChanges(row),
                compute_nodes::program_id
                    .eq(row.program_id)
                    .and(compute_nodes::owner_id.eq(&row.owner_id))
                    .and(compute_nodes::node_id.eq(&row.node_id)),
            ))
            .execute(conn)?;
            if rewritten == 1 {
                return Ok(1);
            }
        }
        upsert_chunked!(
            conn,
            compute_nodes::table,
            rows,
            (compute_nodes::program_id, compute_nodes::node_id),
            (
                compute_nodes::owner_id.eq(excluded(compute_nodes::owner_id)),
                compute_nodes::op.eq(excluded(compute_nodes::op)),
                compute_nodes::arg.eq(excluded(compute_nodes::arg)),
                compute_nodes::type_ref.eq(excluded(compute_nodes::type_ref)),
                compute_nodes::callee_id.eq(excluded(compute_nodes::callee_id)),
                compute_nodes::payload.eq(excluded(compute_nodes::payload)),
            )
        )
    }

    /// Deletes nodes by id.
    pub fn delete(conn: &mut Conn, program: i64, ids: &[i64]) -> QueryResult<usize> {
        delete_ids!(conn, compute_nodes, node_id, program, ids)
    }
}
