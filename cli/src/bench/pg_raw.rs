//! The raw PostgreSQL floor: the store's own rows, copied out of the schema the store
//! wrote and written and read again by hand on an independent client (`postgres`, the
//! synchronous rust-postgres), on the same server and the same schema.
//!
//! Like the SQLite floor (`raw`), it handles exactly the bytes the store handles, so
//! what a figure spends beyond it is ours: Diesel, libpq, encoding, the revision and the
//! row lock, validation.

use postgres::{Client, NoTls, Statement};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// A failure of the floor, as text (the bench reports it and stops).
pub type RawResult<T> = Result<T, String>;

fn err(what: &str) -> impl FnOnce(postgres::Error) -> String + '_ {
    move |e| match e.as_db_error() {
        Some(db) => format!("raw floor: {what}: {} ({})", db.message(), db.code().code()),
        None => format!("raw floor: {what}: {e}"),
    }
}

/// A client on `url` whose `search_path` is `schema`.
pub fn connect(url: &str, schema: &str) -> RawResult<Client> {
    let mut client = Client::connect(url, NoTls).map_err(err("connect"))?;
    client.batch_execute(&format!("SET search_path TO {}", quote(schema))).map_err(err("search_path"))?;
    Ok(client)
}

/// An identifier, quoted.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// One table's rows of one program, in binary COPY format.
pub struct TableCopy {
    pub table: &'static str,
    /// The columns copied: every one but the generated ones (COPY cannot write those).
    columns: String,
    /// The column that names the program.
    key: &'static str,
    data: Vec<u8>,
}

/// Every row of one program, table by table in write order.
pub struct ProgramCopy {
    pub program: i64,
    pub tables: Vec<TableCopy>,
    /// Rows in all tables.
    pub rows: usize,
}

fn key_of(table: &str) -> &'static str {
    if table == "lmlang_programs" { "id" } else { "program_id" }
}

/// Copies the rows of `program` out of the schema `client` looks at.
pub fn export(client: &mut Client, schema: &str, program: i64) -> RawResult<ProgramCopy> {
    let mut tables = Vec::new();
    let mut rows = 0usize;
    for &table in lmlang_storage::rows::PROGRAM_TABLES.iter() {
        let names: Vec<String> = client
            .query(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = $1 AND table_name = $2 AND is_generated = 'NEVER' ORDER BY ordinal_position",
                &[&schema, &table],
            )
            .map_err(err("columns"))?
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect();
        let columns = names.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
        let key = key_of(table);
        let count: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table} WHERE {key} = $1"), &[&program])
            .map_err(err("count"))?
            .get(0);
        rows += usize::try_from(count).unwrap_or(0);
        let mut data = Vec::new();
        client
            .copy_out(&format!(
                "COPY (SELECT {columns} FROM {table} WHERE {key} = {program}) TO STDOUT (FORMAT binary)"
            ))
            .map_err(err("copy out"))?
            .read_to_end(&mut data)
            .map_err(|e| format!("raw floor: copy out {table}: {e}"))?;
        tables.push(TableCopy { table, columns, key, data });
    }
    Ok(ProgramCopy { program, tables, rows })
}

/// Writes every row in one transaction with binary COPY, parents first; the time it
/// took.
pub fn bulk_copy(client: &mut Client, rows: &ProgramCopy) -> RawResult<Duration> {
    let start = Instant::now();
    let mut tx = client.transaction().map_err(err("begin"))?;
    for t in &rows.tables {
        let mut writer = tx
            .copy_in(&format!("COPY {} ({}) FROM STDIN (FORMAT binary)", t.table, t.columns))
            .map_err(err("copy in"))?;
        writer.write_all(&t.data).map_err(|e| format!("raw floor: copy in {}: {e}", t.table))?;
        writer.finish().map_err(err("copy in"))?;
    }
    tx.commit().map_err(err("commit"))?;
    Ok(start.elapsed())
}

/// Reads every row back, one `SELECT` per table in one `REPEATABLE READ READ ONLY`
/// snapshot (as the store's load does); the rows read and the time.
pub fn scan(client: &mut Client, rows: &ProgramCopy) -> RawResult<(usize, Duration)> {
    let statements: Vec<Statement> = rows
        .tables
        .iter()
        .map(|t| client.prepare(&format!("SELECT {} FROM {} WHERE {} = $1", t.columns, t.table, t.key)))
        .collect::<Result<_, _>>()
        .map_err(err("prepare"))?;
    let start = Instant::now();
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(err("begin"))?;
    let mut seen = 0;
    for s in &statements {
        seen += std::hint::black_box(tx.query(s, &[&rows.program]).map_err(err("select"))?).len();
    }
    tx.commit().map_err(err("commit"))?;
    Ok((seen, start.elapsed()))
}

/// A hand-written indexed query: every column of the rows whose `column` equals a key.
#[derive(Debug, Clone, Copy)]
pub struct IndexedQuery {
    pub table: &'static str,
    pub column: &'static str,
    pub order: &'static str,
}

/// `find_nodes_by_owner` by hand.
pub const NODES_BY_OWNER: IndexedQuery =
    IndexedQuery { table: "lmlang_compute_nodes", column: "owner_id", order: "node_id" };
/// `find_edges_from` by hand.
pub const EDGES_FROM: IndexedQuery = IndexedQuery { table: "lmlang_flow_edges", column: "source_id", order: "edge_id" };

/// Runs `query` once per key (a prepared statement, as a service would); the time and
/// the rows returned in all.
pub fn indexed(client: &mut Client, program: i64, query: IndexedQuery, keys: &[i64]) -> RawResult<(Duration, usize)> {
    let statement = client
        .prepare(&format!(
            "SELECT * FROM {} WHERE program_id = $1 AND {} = $2 ORDER BY {}",
            query.table, query.column, query.order
        ))
        .map_err(err("prepare"))?;
    let start = Instant::now();
    let mut seen = 0;
    for key in keys {
        seen += std::hint::black_box(client.query(&statement, &[&program, key]).map_err(err("select"))?).len();
    }
    Ok((start.elapsed(), seen))
}

/// A cell of the template row, typed as its column is, so the floor binds what a
/// service's own prepared statement would.
enum Cell {
    Big(Option<i64>),
    Int(Option<i32>),
    Small(Option<i16>),
    Text(Option<String>),
    Bool(Option<bool>),
}

impl Cell {
    fn read(row: &postgres::Row, i: usize, ty: &str) -> RawResult<Cell> {
        let e = err("template cell");
        Ok(match ty {
            "bigint" => Cell::Big(row.try_get(i).map_err(e)?),
            "integer" => Cell::Int(row.try_get(i).map_err(e)?),
            "smallint" => Cell::Small(row.try_get(i).map_err(e)?),
            "text" => Cell::Text(row.try_get(i).map_err(e)?),
            "boolean" => Cell::Bool(row.try_get(i).map_err(e)?),
            other => return Err(format!("raw floor: no cell type for {other}")),
        })
    }

    fn param(&self) -> &(dyn postgres::types::ToSql + Sync) {
        match self {
            Cell::Big(v) => v,
            Cell::Int(v) => v,
            Cell::Small(v) => v,
            Cell::Text(v) => v,
            Cell::Bool(v) => v,
        }
    }
}

/// `count` single-row commits into `table`, each one prepared `INSERT` in autocommit
/// (one round trip and the WAL flush), with the cells of the row `template_id` names
/// and a fresh id from `first_id` for each copy; the time taken.
pub fn single_row_commits(
    client: &mut Client,
    program: i64,
    table: &str,
    id_column: &str,
    template_id: i64,
    first_id: i64,
    count: usize,
) -> RawResult<Duration> {
    let columns: Vec<(String, String)> = client
        .query(
            "SELECT attname::text, format_type(atttypid, NULL) FROM pg_attribute \
             WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '' \
             ORDER BY attnum",
            &[&table],
        )
        .map_err(err("columns"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let names = columns.iter().map(|(c, _)| quote(c)).collect::<Vec<_>>().join(", ");
    let template = client
        .query_one(
            &format!("SELECT {names} FROM {table} WHERE program_id = $1 AND {id_column} = $2"),
            &[&program, &template_id],
        )
        .map_err(err("template row"))?;
    let mut cells: Vec<Cell> =
        columns.iter().enumerate().map(|(i, (_, ty))| Cell::read(&template, i, ty)).collect::<RawResult<_>>()?;
    let id_index =
        columns.iter().position(|(c, _)| c == id_column).ok_or_else(|| format!("raw floor: no {id_column}"))?;
    let placeholders = (1..=columns.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
    let insert =
        client.prepare(&format!("INSERT INTO {table} ({names}) VALUES ({placeholders})")).map_err(err("prepare"))?;
    let start = Instant::now();
    for k in 0..count {
        cells[id_index] = Cell::Big(Some(first_id + k as i64));
        let params: Vec<&(dyn postgres::types::ToSql + Sync)> = cells.iter().map(Cell::param).collect();
        client.execute(&insert, &params).map_err(err("insert"))?;
    }
    Ok(start.elapsed())
}
