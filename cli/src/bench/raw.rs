//! The raw SQLite floor: the store's own rows, written and read again with hand-written
//! prepared statements on rusqlite, against the same schema and the same pragmas.
//!
//! The rows are copied out of the database the store wrote rather than produced by a
//! second mapper, so the floor handles exactly the bytes the store handles (the same
//! values, JSON payloads and indexes) and measures only what SQLite itself costs. What
//! a figure spends beyond its floor is ours: encoding, Diesel, the pool, validation,
//! bookkeeping.
//!
//! This file uses nothing of the `lmstore` binary, so the criterion benches include it
//! too (`#[path]`) and both report the same floor.

use lmlang_storage::sqlite::SqliteConfig;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params_from_iter};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

/// Tables in the order their rows must be written for foreign keys to hold (parents
/// first). A program-owned table missing here is appended after them, so a table
/// added by a later migration is still copied.
const WRITE_ORDER: &[&str] = &lmlang_storage::rows::PROGRAM_TABLES;

/// A hand-written indexed query: the rows of `table` whose `column` equals a key,
/// ordered as the store orders them.
#[derive(Debug, Clone, Copy)]
pub struct IndexedQuery {
    table: &'static str,
    column: &'static str,
    order: &'static str,
}

/// `find_nodes_by_owner` by hand: the same index range, every column, no decoding.
pub const NODES_BY_OWNER: IndexedQuery =
    IndexedQuery { table: "lmlang_compute_nodes", column: "owner_id", order: "node_id" };
/// `find_edges_from` by hand.
pub const EDGES_FROM: IndexedQuery = IndexedQuery { table: "lmlang_flow_edges", column: "source_id", order: "edge_id" };
/// `find_edges_to` by hand.
pub const EDGES_TO: IndexedQuery = IndexedQuery { table: "lmlang_flow_edges", column: "target_id", order: "edge_id" };

/// One table's rows of one program, row-major.
pub struct TableRows {
    pub name: String,
    /// The column that names the program: `id` for `programs`, `program_id` elsewhere.
    key: String,
    pub columns: Vec<String>,
    cells: Vec<Value>,
}

impl TableRows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.cells.len().checked_div(self.columns.len()).unwrap_or(0)
    }

    fn rows(&self) -> impl Iterator<Item = &[Value]> {
        self.cells.chunks(self.columns.len().max(1))
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The largest integer in a column, for handing out fresh ids after it.
    pub fn max_int(&self, column: &str) -> Option<i64> {
        let i = self.column(column)?;
        self.rows()
            .filter_map(|r| match r.get(i) {
                Some(Value::Integer(v)) => Some(*v),
                _ => None,
            })
            .max()
    }
}

/// Every row of one program, table by table in write order.
pub struct ProgramRows {
    pub program: i64,
    pub tables: Vec<TableRows>,
}

impl ProgramRows {
    /// The rows of one table.
    pub fn table(&self, name: &str) -> Option<&TableRows> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Rows over all tables.
    pub fn row_count(&self) -> usize {
        self.tables.iter().map(TableRows::len).sum()
    }
}

/// Opens a database file with the pragmas the store gives its writer (from the
/// store's default [`SqliteConfig`]), so the floor pays for the same durability,
/// foreign-key checks and checkpoints, with the same page cache and in-memory
/// statement journals.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let config = SqliteConfig::default();
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    conn.busy_timeout(config.busy_timeout)?;
    // Two statements per table and a few more: more than rusqlite's default of 16.
    conn.set_prepared_statement_cache_capacity(64);
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -{}; PRAGMA mmap_size = {}; \
         PRAGMA wal_autocheckpoint = {}; PRAGMA journal_size_limit = {}; PRAGMA temp_store = MEMORY;",
        config.cache_size_kib, config.mmap_size, config.wal_autocheckpoint, config.journal_size_limit
    ))?;
    Ok(conn)
}

/// The program-owned tables of a schema and the column naming the program, in write
/// order. Tables without a program column (`op_kinds`, the migrations table) hold
/// no program rows and come with the schema.
fn program_tables(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    names.sort_by_key(|n| WRITE_ORDER.iter().position(|w| w == n).unwrap_or(WRITE_ORDER.len()));
    let mut out = Vec::new();
    for name in names {
        if name == "lmlang_programs" {
            out.push((name, "id".to_string()));
            continue;
        }
        let has_program: bool =
            conn.query_row("SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = 'program_id'", [&name], |r| {
                r.get(0)
            })?;
        if has_program {
            out.push((name, "program_id".to_string()));
        }
    }
    Ok(out)
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The columns a row stores, in declaration order. Generated columns (an edge's
/// `kind`) are left out: they cannot be inserted, and the store does not read them.
fn stored_columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare("SELECT name FROM pragma_table_xinfo(?1) WHERE hidden = 0 ORDER BY cid")?
        .query_map([table], |r| r.get(0))?
        .collect()
}

fn select_sql(table: &str, columns: &[String], filter: &str) -> String {
    let columns: Vec<String> = columns.iter().map(|c| quoted(c)).collect();
    format!("SELECT {} FROM {} WHERE {filter}", columns.join(", "), quoted(table))
}

/// Reads every row of a program, in primary-key order.
pub fn read_program(conn: &Connection, program: i64) -> rusqlite::Result<ProgramRows> {
    let mut tables = Vec::new();
    for (name, key) in program_tables(conn)? {
        let columns = stored_columns(conn, &name)?;
        let width = columns.len();
        let mut stmt = conn.prepare(&select_sql(&name, &columns, &format!("{} = ?1", quoted(&key))))?;
        let mut cells = Vec::new();
        let mut rows = stmt.query([program])?;
        while let Some(row) = rows.next()? {
            for i in 0..width {
                cells.push(row.get::<_, Value>(i)?);
            }
        }
        drop(rows);
        drop(stmt);
        tables.push(TableRows { name, key, columns, cells });
    }
    Ok(ProgramRows { program, tables })
}

/// Rows per statement on the bulk path: multi-row `VALUES` lists, as the store writes
/// them. One row per statement costs about a third more here (SQLite parses and steps
/// far fewer statements), and a floor the store could beat would be no floor.
pub const BULK_ROWS_PER_STATEMENT: usize = 512;

/// SQLite's limit on bound parameters per statement.
const MAX_PARAMETERS: usize = 32_766;

fn insert_sql_rows(table: &TableRows, rows: usize) -> String {
    let columns: Vec<String> = table.columns.iter().map(|c| quoted(c)).collect();
    let tuple = format!("({})", vec!["?"; columns.len()].join(", "));
    let values = vec![tuple.as_str(); rows].join(", ");
    format!("INSERT INTO {} ({}) VALUES {values}", quoted(&table.name), columns.join(", "))
}

fn insert_sql(table: &TableRows) -> String {
    insert_sql_rows(table, 1)
}

/// Writes all the rows in one `BEGIN IMMEDIATE` transaction with cached statements of
/// up to `rows_per_statement` rows (the rest one by one); returns the time from
/// `BEGIN` to the end of `COMMIT`.
///
/// Like the store's `insert_program`, the transaction runs with foreign-key and CHECK
/// enforcement off (a new program's rows refer only to each other; the store has
/// validated them), which SQLite lets change only between transactions, and its commit
/// does not checkpoint (the store leaves that to a background thread; the caller
/// checkpoints after the timed part).
///
/// Functions go in without their entry node, which is set once the nodes exist (the
/// store does the same: with enforcement on, a pending deferred foreign key would make
/// SQLite search `functions` for every node inserted meanwhile).
pub fn bulk_insert(conn: &mut Connection, rows: &ProgramRows, rows_per_statement: usize) -> rusqlite::Result<Duration> {
    let start = Instant::now();
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF; PRAGMA ignore_check_constraints = ON; PRAGMA wal_autocheckpoint = 0",
    )?;
    let written = bulk_insert_rows(conn, rows, rows_per_statement);
    let elapsed = start.elapsed();
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA ignore_check_constraints = OFF; PRAGMA wal_autocheckpoint = {}",
        SqliteConfig::default().wal_autocheckpoint
    ))?;
    written?;
    Ok(elapsed)
}

fn bulk_insert_rows(conn: &mut Connection, rows: &ProgramRows, rows_per_statement: usize) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut entries: Vec<[Value; 3]> = Vec::new();
    for table in &rows.tables {
        let width = table.columns.len().max(1);
        let deferred = match (table.name.as_str(), table.column("entry_node_id"), table.column("function_id")) {
            ("lmlang_functions", Some(entry), Some(id)) => Some((entry, id)),
            _ => None,
        };
        if let Some((entry, id)) = deferred {
            let mut single = tx.prepare_cached(&insert_sql(table))?;
            for row in table.rows() {
                let mut row = row.to_vec();
                let target = std::mem::replace(&mut row[entry], Value::Null);
                if target != Value::Null {
                    entries.push([target, Value::Integer(rows.program), row[id].clone()]);
                }
                single.execute(params_from_iter(row.iter()))?;
            }
            continue;
        }
        let per_statement = rows_per_statement.clamp(1, MAX_PARAMETERS / width);
        let mut chunks = table.cells.chunks_exact(per_statement * width);
        if per_statement > 1 {
            let mut multi = tx.prepare_cached(&insert_sql_rows(table, per_statement))?;
            for chunk in chunks.by_ref() {
                multi.execute(params_from_iter(chunk.iter()))?;
            }
        }
        let rest = if per_statement > 1 { chunks.remainder() } else { &table.cells[..] };
        let mut single = tx.prepare_cached(&insert_sql(table))?;
        for row in rest.chunks(width) {
            single.execute(params_from_iter(row.iter()))?;
        }
        if table.name == "lmlang_compute_nodes" && !entries.is_empty() {
            let mut update = tx.prepare_cached(
                "UPDATE lmlang_functions SET entry_node_id = ?1 WHERE program_id = ?2 AND function_id = ?3",
            )?;
            for entry in entries.drain(..) {
                update.execute(params_from_iter(entry.iter()))?;
            }
        }
    }
    tx.commit()
}

/// Steps through every row of the program in one read transaction, touching every
/// column without decoding it: the least a load can do. Returns the rows read and the
/// time taken. A program the store streams (`SqliteConfig::stream_loads_from_edges`)
/// is read the same way here, without the map and through a 2 MiB cache, so both
/// sides read alike and the floor's map is left as cold as the store's readers.
pub fn scan_program(conn: &mut Connection, rows: &ProgramRows) -> rusqlite::Result<(usize, Duration)> {
    let config = SqliteConfig::default();
    let edges = rows.table("lmlang_flow_edges").map_or(0, TableRows::len);
    let streamed = edges as u64 >= config.stream_loads_from_edges;
    if streamed {
        conn.execute_batch("PRAGMA mmap_size = 0; PRAGMA cache_size = -2048;")?;
    }
    let scanned = scan_rows(conn, rows);
    if streamed {
        conn.execute_batch(&format!(
            "PRAGMA mmap_size = {}; PRAGMA cache_size = -{};",
            config.mmap_size, config.cache_size_kib
        ))?;
    }
    scanned
}

fn scan_rows(conn: &mut Connection, rows: &ProgramRows) -> rusqlite::Result<(usize, Duration)> {
    let start = Instant::now();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    let mut count = 0;
    for table in &rows.tables {
        let sql = select_sql(&table.name, &table.columns, &format!("{} = ?1", quoted(&table.key)));
        let mut stmt = tx.prepare_cached(&sql)?;
        let width = stmt.column_count();
        let mut cursor = stmt.query([rows.program])?;
        while let Some(row) = cursor.next()? {
            for i in 0..width {
                black_box(row.get_ref(i)?);
            }
            count += 1;
        }
    }
    tx.commit()?;
    Ok((count, start.elapsed()))
}

/// Single-row commits: copies of the table's first row under fresh ids from `first_id`
/// in `id_column`, each in its own `BEGIN IMMEDIATE` transaction. Returns the time for
/// all `count` commits.
pub fn single_row_commits(
    conn: &mut Connection,
    table: &TableRows,
    id_column: &str,
    first_id: i64,
    count: usize,
) -> rusqlite::Result<Duration> {
    let missing = || rusqlite::Error::InvalidColumnName(format!("{}.{id_column}", table.name));
    let id_at = table.column(id_column).ok_or_else(missing)?;
    let mut template: Vec<Value> = table.rows().next().ok_or_else(missing)?.to_vec();
    let sql = insert_sql(table);
    let start = Instant::now();
    for i in 0..count {
        template[id_at] = Value::Integer(first_id + i as i64);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached(&sql)?.execute(params_from_iter(template.iter()))?;
        tx.commit()?;
    }
    Ok(start.elapsed())
}

/// Runs an indexed query once per key with a cached statement, reading every stored
/// column of every row without decoding; returns the total time and the rows seen.
pub fn indexed_selects(
    conn: &Connection,
    rows: &ProgramRows,
    query: IndexedQuery,
    keys: &[i64],
) -> rusqlite::Result<(Duration, usize)> {
    let table = rows.table(query.table).ok_or_else(|| rusqlite::Error::InvalidParameterName(query.table.into()))?;
    let filter = format!("program_id = ?1 AND {} = ?2 ORDER BY {}", quoted(query.column), quoted(query.order));
    let mut stmt = conn.prepare_cached(&select_sql(query.table, &table.columns, &filter))?;
    let width = stmt.column_count();
    let mut seen = 0;
    let start = Instant::now();
    for key in keys {
        let mut cursor = stmt.query([rows.program, *key])?;
        while let Some(row) = cursor.next()? {
            for i in 0..width {
                black_box(row.get_ref(i)?);
            }
            seen += 1;
        }
    }
    Ok((start.elapsed(), seen))
}

/// Folds the WAL back into the database file and empties it, so the file size is the
/// size of the data.
pub fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
}

/// Reads a database file and its WAL from start to end, so the OS holds their pages in
/// its cache. At 10M nodes the bench's own memory (the floor's rows, two
/// loaded graphs) leaves room for only part of the files it wrote, and which pages the
/// kernel had dropped decided whether a query or a commit read the disk: the store's
/// file, written first, lost more of them than the floor's. Read through before a step,
/// both files are cached as far as memory allows; where it does not allow both, the
/// file read last (the floor's, as `level` orders them) keeps more.
pub fn read_through(path: &Path) -> std::io::Result<()> {
    use std::io::Read;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let mut buf = vec![0u8; 1 << 20];
    for file in [path, Path::new(&wal)] {
        let mut f = match std::fs::File::open(file) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        while f.read(&mut buf)? > 0 {}
    }
    Ok(())
}

/// Flushes a database file and its WAL to the disk, so that writes an earlier step
/// left in the OS's cache are not paid for by the fsync of a later step's checkpoint.
pub fn settle(path: &Path) -> std::io::Result<()> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    for file in [path, Path::new(&wal)] {
        if let Ok(f) = std::fs::File::open(file) {
            f.sync_all()?;
        }
    }
    Ok(())
}

/// Bytes the database occupies on disk: the file and whatever its WAL still holds.
pub fn database_bytes(path: &Path) -> std::io::Result<u64> {
    let main = std::fs::metadata(path)?.len();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = std::fs::metadata(Path::new(&wal)).map(|m| m.len()).unwrap_or(0);
    Ok(main + wal)
}
