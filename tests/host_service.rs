//! A host service's view: its own migrations (`examples/host_service/migrations`) run
//! beside ours through `diesel_migrations`, its own r2d2 pool, and its own
//! transactions, in which the store's writes commit or roll back with the service's
//! rows.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use lmlang_storage::model::ComputeOp;
use lmlang_storage::sqlite::{self, ConnectionStore, PooledSqliteStore, SqliteCustomizer};
use lmlang_storage::store::{GraphStore, ProgramHistory};

const SERVICE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("examples/host_service/migrations");

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn users(conn: &mut SqliteConnection) -> i64 {
    diesel::sql_query("SELECT count(*) AS n FROM users").get_result::<Count>(conn).expect("count").n
}

fn service_pool(dir: &tempfile::TempDir) -> Pool<ConnectionManager<SqliteConnection>> {
    let path = dir.path().join("service.db").to_string_lossy().into_owned();
    let pool = Pool::builder()
        .max_size(3)
        .connection_customizer(Box::new(SqliteCustomizer::default()))
        .build(ConnectionManager::<SqliteConnection>::new(path))
        .expect("pool");
    let mut conn = pool.get().expect("connection");
    sqlite::run_migrations(&mut conn).expect("our migrations");
    conn.run_pending_migrations(SERVICE_MIGRATIONS).expect("the service's migrations");
    pool
}

#[test]
fn the_service_transaction_rolls_back_its_rows_and_the_program_together() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pool = service_pool(&dir);
    let mut conn = pool.get().expect("connection");
    let sample = lmlang_storage::synth::generate(&lmlang_storage::synth::SynthConfig::new(2_000));
    let result = conn.immediate_transaction(|conn| {
        conn.batch_execute("INSERT INTO users (name) VALUES ('ada')")?;
        let store = ConnectionStore::on_connection(conn);
        let p = store.insert_program("ada's", &sample).expect("insert");
        let main = store.find_functions_in_module(p, lmlang_storage::model::ModuleId::ROOT).expect("functions")[0].id;
        store.insert_node(p, main, ComputeOp::Print.into()).expect("node");
        assert_eq!(store.list_programs().expect("list").len(), 1, "visible inside the transaction");
        // The service changes its mind.
        Err::<(), _>(diesel::result::Error::RollbackTransaction)
    });
    assert!(result.is_err());
    assert_eq!(users(&mut conn), 0, "the service's row was rolled back");
    drop(conn);
    let store = PooledSqliteStore::on_pool(pool.clone());
    assert!(store.list_programs().expect("list").is_empty(), "the program was rolled back with it");
}

#[test]
fn the_service_transaction_commits_its_rows_and_the_program_together() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pool = service_pool(&dir);
    let mut conn = pool.get().expect("connection");
    let sample = lmlang_storage::synth::generate(&lmlang_storage::synth::SynthConfig::new(2_000));
    let p = conn
        .immediate_transaction(|conn| {
            conn.batch_execute("INSERT INTO users (name) VALUES ('ada')")?;
            let p = ConnectionStore::on_connection(conn).insert_program("ada's", &sample).expect("insert");
            diesel::sql_query(format!("UPDATE users SET program_id = {} WHERE name = 'ada'", p.0)).execute(conn)?;
            Ok::<_, diesel::result::Error>(p)
        })
        .expect("commit");
    assert_eq!(users(&mut conn), 1);
    drop(conn);
    let store = PooledSqliteStore::on_pool(pool.clone());
    assert_eq!(store.load_program(p).expect("load"), sample);
    // A second instance of the service on the same pool sees the same program.
    assert_eq!(PooledSqliteStore::on_pool(pool).load_program(p).expect("load"), sample);
}

/// The public row models let a service query and join this crate's tables with its own
/// Diesel code; what they read agrees with what the store holds.
#[test]
fn the_service_joins_its_own_queries_against_the_stored_rows() {
    use lmlang_storage::schema::{
        lmlang_compute_nodes, lmlang_flow_edges, lmlang_functions, lmlang_program_names, lmlang_programs,
    };
    use lmlang_storage::sqlite::records::{EdgeRecord, FunctionRecord, NodeRecord, ProgramRecord};

    let dir = tempfile::tempdir().expect("temp dir");
    let pool = service_pool(&dir);
    let store = PooledSqliteStore::on_pool(pool.clone());
    let g = lmlang_storage::synth::generate(&lmlang_storage::synth::SynthConfig::new(3_000));
    let p = store.insert_program("report", &g).expect("insert");
    store.create_program("other").expect("another program");
    let mut conn = pool.get().expect("connection");

    let program: ProgramRecord = lmlang_programs::table
        .inner_join(lmlang_program_names::table)
        .filter(lmlang_program_names::name.eq("report"))
        .select(ProgramRecord::as_select())
        .first(&mut conn)
        .expect("program row");
    assert_eq!(program.id, p.0);
    assert_eq!(program.node_count, g.node_count() as i64);

    let functions: Vec<FunctionRecord> = lmlang_functions::table
        .inner_join(lmlang_programs::table.inner_join(lmlang_program_names::table))
        .filter(lmlang_program_names::name.eq("report"))
        .select(FunctionRecord::as_select())
        .load(&mut conn)
        .expect("join");
    assert_eq!(functions.len(), g.function_count());
    assert!(functions.iter().all(|f| g.function(lmlang_storage::model::FunctionId(f.function_id as u32)).is_some()));

    let nodes: Vec<NodeRecord> = lmlang_compute_nodes::table
        .filter(lmlang_compute_nodes::program_id.eq(p.0))
        .select(NodeRecord::as_select())
        .load(&mut conn)
        .expect("nodes");
    assert_eq!(nodes.len(), g.node_count());
    let returns = nodes.iter().filter(|n| n.op_name() == Some("Return")).count();
    let expected = g
        .nodes()
        .filter(|(_, n)| matches!(n.op, lmlang_storage::model::ComputeNodeOp::Core(ComputeOp::Return)))
        .count();
    assert!(returns > 0);
    assert_eq!(returns, expected);

    let control: i64 = lmlang_flow_edges::table
        .filter(lmlang_flow_edges::program_id.eq(p.0))
        .filter(lmlang_flow_edges::kind.eq(1))
        .count()
        .get_result(&mut conn)
        .expect("count");
    let data: Vec<EdgeRecord> = lmlang_flow_edges::table
        .filter(lmlang_flow_edges::program_id.eq(p.0))
        .filter(lmlang_flow_edges::kind.eq(0))
        .select(EdgeRecord::as_select())
        .load(&mut conn)
        .expect("data edges");
    assert!(data.iter().all(|e| e.value_type.is_some() && e.branch.is_none()));
    assert_eq!(control as usize + data.len(), g.edge_count());
}

/// A service pool whose connections do not enforce foreign keys.
#[derive(Debug)]
struct ForeignKeysOff;

impl diesel::r2d2::CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for ForeignKeysOff {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = OFF")
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[test]
fn deleting_a_program_on_a_pool_without_foreign_keys_leaves_no_rows_behind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("service.db").to_string_lossy().into_owned();
    let pool = Pool::builder()
        .max_size(2)
        .connection_customizer(Box::new(ForeignKeysOff))
        .build(ConnectionManager::<SqliteConnection>::new(path))
        .expect("pool");
    sqlite::run_migrations(&mut pool.get().expect("connection")).expect("our migrations");
    let store = PooledSqliteStore::on_pool(pool.clone());
    store.set_history(true);
    let sample = lmlang_storage::synth::generate(&lmlang_storage::synth::SynthConfig::new(300));
    let gone = store.insert_program("gone", &sample).expect("insert");
    let kept = store.insert_program("kept", &sample).expect("insert");
    let main = store.find_functions_in_module(gone, lmlang_storage::model::ModuleId::ROOT).expect("functions")[0].id;
    store.insert_node(gone, main, ComputeOp::Print.into()).expect("node");
    let (_, revision) = store.load_program_with_revision(gone).expect("load");
    store.tag(gone, "v1", revision).expect("tag");
    store.delete_program(gone).expect("delete");

    let mut conn = pool.get().expect("connection");
    let tables: Vec<String> = diesel::sql_query(
        "SELECT m.name FROM sqlite_master m WHERE m.type = 'table' AND m.name LIKE 'lmlang%' \
         AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE name = 'program_id')",
    )
    .load::<Name>(&mut conn)
    .expect("tables")
    .into_iter()
    .map(|t| t.name)
    .collect();
    assert!(tables.len() >= 10, "{tables:?}");
    for table in &tables {
        let count = |p: i64| {
            diesel::sql_query(format!("SELECT count(*) AS n FROM {table} WHERE program_id = {p}"))
                .get_result::<Count>(&mut pool.get().expect("connection"))
                .expect("count")
                .n
        };
        assert_eq!(count(gone.0), 0, "rows of the deleted program left in {table}");
        assert!(table.contains("history") || count(kept.0) > 0, "the other program's rows in {table} went too");
    }
    #[derive(QueryableByName)]
    struct Violation {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table: String,
    }
    let violations = diesel::sql_query("PRAGMA foreign_key_check").load::<Violation>(&mut conn).expect("check");
    let tables: Vec<&str> = violations.iter().map(|v| v.table.as_str()).collect();
    assert!(tables.is_empty(), "foreign keys broken in {tables:?}");
    assert_eq!(store.load_program(kept).expect("the other program").node_count(), sample.node_count());
}

/// A panic in an edit closure on a lent connection (outside any transaction of the
/// service's) rolls the edit back and leaves the connection outside a transaction: the
/// store's next writes commit, as another connection sees, and the write lock is free.
/// They used to go into the transaction the panic left open, as savepoints, answer
/// `Ok` and be lost when the connection closed.
#[test]
fn a_panic_in_an_edit_on_a_lent_connection_leaves_later_writes_committed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pool = service_pool(&dir);
    let mut conn = pool.get().expect("connection");
    let sample = lmlang_storage::synth::generate(&lmlang_storage::synth::SynthConfig::new(300));
    let store = ConnectionStore::on_connection(&mut conn);
    let p = store.insert_program("p", &sample).expect("insert");
    let f = sample.functions().next().expect("a function").id;
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.edit(p, &mut |g| {
            g.add_core_op(f, ComputeOp::Print)?;
            panic!("the service's closure has a bug");
        })
    }));
    assert!(panicked.is_err());
    let node = store.insert_node(p, f, ComputeOp::Print.into()).expect("a write after the panic");
    drop(store);
    assert_eq!(
        <diesel::connection::AnsiTransactionManager as diesel::connection::TransactionManager<SqliteConnection>>::transaction_manager_status_mut(&mut conn)
            .transaction_depth()
            .expect("status"),
        None,
        "no transaction left open on the service's connection"
    );
    drop(conn);
    let elsewhere = PooledSqliteStore::on_pool(pool);
    let stored = elsewhere.load_program(p).expect("load");
    assert_eq!(stored.node_count(), sample.node_count() + 1, "the panicked edit is gone, the later write kept");
    assert!(elsewhere.get_node(p, node).is_ok());
}
