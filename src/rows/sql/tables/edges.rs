//! `flow_edges`: one row per data or control edge, spread over typed columns by
//! [`ops`](crate::rows::sql::ops). The table's `kind` column is generated from
//! `value_type`, so the row structs leave it out.

use crate::graph::{EdgeEntry, EdgeView};
use crate::model::{EdgeId, NodeId};
use crate::rows::sql::codec::{Strict, cell_id, corrupt, read_cell, read_required, show};
use crate::rows::sql::ops::{EdgeColumns, decode_edge, encode_edge};
use crate::rows::sql::tables::{
    CHUNK, MAX_PARAMETERS, delete_ids, insert_row, insert_rows, per_connection, upsert_chunked,
};
use crate::schema::lmlang_flow_edges as flow_edges;
use crate::store::{ProgramId, StorageResult};
use diesel::connection::DefaultLoadingMode;
use diesel::deserialize::{self, FromSqlRow};
use diesel::dsl;
use diesel::prelude::*;
use diesel::row::Row;
use diesel::sql_types::{BigInt, Integer, Nullable};
use diesel::sqlite::Sqlite;
use diesel::sqlite::SqliteConnection;
use diesel::upsert::excluded;

/// A flow edge row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = flow_edges, check_for_backend(diesel::sqlite::Sqlite), treat_none_as_default_value = false)]
pub struct EdgeRow {
    pub program_id: i64,
    pub edge_id: Strict<i64>,
    pub source_id: Strict<i64>,
    pub target_id: Strict<i64>,
    pub source_port: Option<Strict<i32>>,
    pub target_port: Option<Strict<i32>>,
    pub value_type: Option<Strict<i64>>,
    pub branch: Option<Strict<i32>>,
}

const _: () = assert!(CHUNK * 8 <= MAX_PARAMETERS);

insert_row!(
    EdgeRow,
    flow_edges,
    [program_id, edge_id, source_id, target_id, source_port, target_port, value_type, branch]
);

impl EdgeRow {
    /// The row of an edge.
    pub fn new(program: ProgramId, edge: &EdgeView) -> Self {
        let EdgeColumns { source_port, target_port, value_type, branch } = encode_edge(&edge.edge);
        EdgeRow {
            program_id: program.0,
            edge_id: i64::from(edge.id.0).into(),
            source_id: i64::from(edge.source.0).into(),
            target_id: i64::from(edge.target.0).into(),
            source_port: source_port.map(Strict::from),
            target_port: target_port.map(Strict::from),
            value_type: value_type.map(Strict::from),
            branch: branch.map(Strict::from),
        }
    }

    /// The edge a row holds, or a `Corrupt` error naming it.
    pub fn decode(&self) -> StorageResult<EdgeView> {
        let cells = EdgeCells {
            edge_id: self.edge_id,
            source_id: self.source_id,
            target_id: self.target_id,
            source_port: self.source_port,
            target_port: self.target_port,
            value_type: self.value_type,
            branch: self.branch,
        };
        cells.decode(ProgramId(self.program_id)).map(|e| EdgeView::from(&e))
    }
}

/// The SQL types of [`EdgeCells`], in column order.
type CellTypes = (BigInt, BigInt, BigInt, Nullable<Integer>, Nullable<Integer>, Nullable<BigInt>, Nullable<Integer>);

/// An edge row as a whole-program load reads it: the cells of [`EdgeRow`] but the
/// program id, which the query's key gives. Built by a hand-written `FromSqlRow`
/// (see [`read_cell`]): edges are most of the rows a load reads, and Diesel's derived
/// row decoding took longer than SQLite took to read them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdgeCells {
    pub edge_id: Strict<i64>,
    pub source_id: Strict<i64>,
    pub target_id: Strict<i64>,
    pub source_port: Option<Strict<i32>>,
    pub target_port: Option<Strict<i32>>,
    pub value_type: Option<Strict<i64>>,
    pub branch: Option<Strict<i32>>,
}

impl FromSqlRow<CellTypes, Sqlite> for EdgeCells {
    fn build_from_row<'a>(row: &impl Row<'a, Sqlite>) -> deserialize::Result<Self> {
        Ok(EdgeCells {
            edge_id: read_required::<BigInt, _>(row, 0)?,
            source_id: read_required::<BigInt, _>(row, 1)?,
            target_id: read_required::<BigInt, _>(row, 2)?,
            source_port: read_cell::<Integer, _>(row, 3)?,
            target_port: read_cell::<Integer, _>(row, 4)?,
            value_type: read_cell::<BigInt, _>(row, 5)?,
            branch: read_cell::<Integer, _>(row, 6)?,
        })
    }
}

impl EdgeCells {
    /// The edge the row holds, or a `Corrupt` error naming it.
    pub fn decode(self, program: ProgramId) -> StorageResult<EdgeEntry> {
        self.entry().map_err(|detail| {
            corrupt("lmlang_flow_edges", format!("program {program} edge {}", show(self.edge_id)), detail)
        })
    }

    /// The edge, or what is wrong with the row. Inlined, like `column`: it runs for
    /// every edge of a load, and out of line its results went through memory.
    #[inline]
    fn entry(self) -> Result<EdgeEntry, String> {
        #[inline]
        fn column<T>(cell: Option<Strict<T>>, name: &str) -> Result<Option<T>, String> {
            cell.map(|c| c.get()).transpose().map_err(|e| format!("{name}: {e}"))
        }
        let cols = EdgeColumns {
            source_port: column(self.source_port, "source_port")?,
            target_port: column(self.target_port, "target_port")?,
            value_type: column(self.value_type, "value_type")?,
            branch: column(self.branch, "branch")?,
        };
        Ok(EdgeEntry {
            id: EdgeId(cell_id(self.edge_id)?),
            source: NodeId(cell_id(self.source_id).map_err(|e| format!("source_id: {e}"))?),
            target: NodeId(cell_id(self.target_id).map_err(|e| format!("target_id: {e}"))?),
            edge: decode_edge(&cols)?,
        })
    }
}

/// One edge by key.
#[dsl::auto_type(no_type_alias)]
pub fn by_id(program: i64, edge: i64) -> _ {
    flow_edges::table.filter(flow_edges::program_id.eq(program)).filter(flow_edges::edge_id.eq(edge))
}

/// Edges leaving a node, in id order (index `flow_edges_by_source`).
#[dsl::auto_type(no_type_alias)]
pub fn from(program: i64, node: i64) -> _ {
    flow_edges::table
        .filter(flow_edges::program_id.eq(program))
        .filter(flow_edges::source_id.eq(node))
        .order_by(flow_edges::edge_id)
}

/// Edges entering a node, in id order (index `flow_edges_by_target`).
#[dsl::auto_type(no_type_alias)]
pub fn to(program: i64, node: i64) -> _ {
    flow_edges::table
        .filter(flow_edges::program_id.eq(program))
        .filter(flow_edges::target_id.eq(node))
        .order_by(flow_edges::edge_id)
}

/// Data edges carrying a type, in id order (index `flow_edges_by_type`).
#[dsl::auto_type(no_type_alias)]
pub fn by_type(program: i64, ty: i64) -> _ {
    flow_edges::table
        .filter(flow_edges::program_id.eq(program))
        .filter(flow_edges::value_type.eq(ty))
        .order_by(flow_edges::edge_id)
}

/// All edges of a program, in id order, as [`EdgeCells`]: what a load runs.
#[dsl::auto_type(no_type_alias)]
pub fn cells_of_program(program: i64) -> _ {
    flow_edges::table.filter(flow_edges::program_id.eq(program)).order_by(flow_edges::edge_id).select((
        flow_edges::edge_id,
        flow_edges::source_id,
        flow_edges::target_id,
        flow_edges::source_port,
        flow_edges::target_port,
        flow_edges::value_type,
        flow_edges::branch,
    ))
}

/// Edges per batch of [`load_decoded_batches`]: small enough that the first arrive
/// early, and that a batch (96 KiB) comes from the allocator's pool rather than a
/// fresh mapping of its own.
const BATCH: usize = 4096;

/// Loads and decodes all edges of a program in id order, handing them to `sink` in
/// batches as they are read, so a load can build the graph from the first edges while
/// it still reads the rest.
pub fn load_decoded_batches(
    conn: &mut SqliteConnection,
    program: i64,
    sink: &mut dyn FnMut(Vec<EdgeEntry>),
) -> StorageResult<()> {
    let mut batch = Vec::with_capacity(BATCH);
    for row in cells_of_program(program).load_iter::<EdgeCells, DefaultLoadingMode>(conn)? {
        batch.push(row?.decode(ProgramId(program))?);
        if batch.len() == BATCH {
            sink(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
        }
    }
    if !batch.is_empty() {
        sink(batch);
    }
    Ok(())
}

per_connection! {
    /// Loads one edge.
    pub fn find(conn: &mut Conn, program: i64, edge: i64) -> QueryResult<Option<EdgeRow>> {
        by_id(program, edge).select(EdgeRow::as_select()).get_result(conn).optional()
    }

    /// Loads the edges leaving a node.
    pub fn load_from(conn: &mut Conn, program: i64, node: i64) -> QueryResult<Vec<EdgeRow>> {
        from(program, node).select(EdgeRow::as_select()).load(conn)
    }

    /// Loads the edges entering a node.
    pub fn load_to(conn: &mut Conn, program: i64, node: i64) -> QueryResult<Vec<EdgeRow>> {
        to(program, node).select(EdgeRow::as_select()).load(conn)
    }

    /// Loads the data edges carrying a type.
    pub fn load_by_type(conn: &mut Conn, program: i64, ty: i64) -> QueryResult<Vec<EdgeRow>> {
        by_type(program, ty).select(EdgeRow::as_select()).load(conn)
    }

    /// Inserts rows that do not exist yet, in the order given.
    pub fn insert(conn: &mut Conn, rows: &[EdgeRow]) -> QueryResult<usize> {
        insert_rows!(conn, flow_edges::table, rows)
    }

    /// Inserts or replaces rows.
    pub fn upsert(conn: &mut Conn, rows: &[EdgeRow]) -> QueryResult<usize> {
        upsert_chunked!(
            conn,
            flow_edges::table,
            rows,
            (flow_edges::program_id, flow_edges::edge_id),
            (
                flow_edges::source_id.eq(excluded(flow_edges::source_id)),
                flow_edges::target_id.eq(excluded(flow_edges::target_id)),
                flow_edges::source_port.eq(excluded(flow_edges::source_port)),
                flow_edges::target_port.eq(excluded(flow_edges::target_port)),
                flow_edges::value_type.eq(excluded(flow_edges::value_type)),
                flow_edges::branch.eq(excluded(flow_edges::branch)),
            )
        )
    }

    /// Deletes edges by id.
    pub fn delete(conn: &mut Conn, program: i64, ids: &[i64]) -> QueryResult<usize> {
        delete_ids!(conn, flow_edges, edge_id, program, ids)
    }
}
