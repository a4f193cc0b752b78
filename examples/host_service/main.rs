//! A small Diesel service that embeds lmlang-storage: its own migration (a `users`
//! table), its own r2d2 pool and its own transactions, with a user's program stored in
//! the same transaction as the user's row.
//!
//! `cargo run --example host_service [DB]` (a temporary file when no path is given).

use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::{ComputeOp, ConstValue, ModuleId, TypeId, Visibility};
use lmlang_storage::sqlite::{self, ConnectionStore, PooledSqliteStore, SqliteCustomizer};
use lmlang_storage::store::{GraphStore, StorageError};

/// The service's own migrations.
const SERVICE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("examples/host_service/migrations");

diesel::table! {
    users (id) {
        id -> Integer,
        name -> Text,
        program_id -> Nullable<BigInt>,
    }
}

/// Errors of the service: its own and the store's.
#[derive(Debug)]
enum ServiceError {
    Diesel(diesel::result::Error),
    Store(StorageError),
    Other(String),
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceError::Diesel(e) => write!(f, "service database: {e}"),
            ServiceError::Store(e) => write!(f, "program store: {e}"),
            ServiceError::Other(e) => f.write_str(e),
        }
    }
}

impl From<diesel::result::Error> for ServiceError {
    fn from(e: diesel::result::Error) -> Self {
        ServiceError::Diesel(e)
    }
}

impl From<StorageError> for ServiceError {
    fn from(e: StorageError) -> Self {
        ServiceError::Store(e)
    }
}

/// A program of one function that answers `value`.
fn answer(value: i32) -> Result<ProgramGraph, ServiceError> {
    let mut g = ProgramGraph::new("app");
    let build = |g: &mut ProgramGraph| {
        let f = g.add_function(ModuleId::ROOT, "answer", Visibility::Public, vec![], TypeId::I32)?;
        let c = g.add_core_op(f, ComputeOp::Const { value: ConstValue::I32(value) })?;
        let r = g.add_core_op(f, ComputeOp::Return)?;
        g.add_data_edge(c, r, 0, 0, TypeId::I32)?;
        Ok::<_, lmlang_storage::graph::GraphError>(())
    };
    build(&mut g).map_err(|e| ServiceError::Other(e.to_string()))?;
    Ok(g)
}

/// Creates a user and their program in one transaction of the service's own.
fn sign_up(conn: &mut SqliteConnection, name: &str, value: i32) -> Result<i64, ServiceError> {
    conn.immediate_transaction(|conn| {
        let program =
            ConnectionStore::on_connection(conn).insert_program(&format!("{name}'s app {value}"), &answer(value)?)?;
        diesel::insert_into(users::table)
            .values((users::name.eq(name), users::program_id.eq(program.0)))
            .execute(conn)?;
        Ok(program.0)
    })
}

fn main() -> Result<(), ServiceError> {
    let scratch = tempfile::tempdir().map_err(|e| ServiceError::Other(e.to_string()))?;
    let path =
        std::env::args().nth(1).unwrap_or_else(|| scratch.path().join("service.db").to_string_lossy().into_owned());

    // Migrations: ours first (the users table refers to lmlang_programs), then the
    // service's, each set through its own entry point, on one connection.
    let mut conn = SqliteConnection::establish(&path).map_err(|e| ServiceError::Other(e.to_string()))?;
    sqlite::run_migrations(&mut conn)?;
    conn.run_pending_migrations(SERVICE_MIGRATIONS).map_err(|e| ServiceError::Other(e.to_string()))?;
    drop(conn);

    // The service's pool, with the settings the store relies on.
    let pool = Pool::builder()
        .max_size(4)
        .connection_customizer(Box::new(SqliteCustomizer::default()))
        .build(ConnectionManager::<SqliteConnection>::new(&path))
        .map_err(|e| ServiceError::Other(e.to_string()))?;

    let mut conn = pool.get().map_err(|e| ServiceError::Other(e.to_string()))?;
    let ada = sign_up(&mut conn, "ada", 42)?;
    // A sign-up whose user row fails (the name is taken) leaves no program behind.
    let duplicate = sign_up(&mut conn, "ada", 7);
    match duplicate {
        Err(e @ ServiceError::Diesel(_)) => println!("second sign-up of ada refused: {e}"),
        other => return Err(ServiceError::Other(format!("the second ada was not refused: {other:?}"))),
    }
    drop(conn);

    // The whole store on the same pool, beside the service's own queries.
    let store = PooledSqliteStore::on_pool(pool.clone());
    let programs = store.list_programs()?;
    if programs.len() != 1 {
        return Err(ServiceError::Other(format!("the failed sign-up left {} programs", programs.len())));
    }
    let loaded = store.load_program(lmlang_storage::store::ProgramId(ada))?;
    if loaded != answer(42)? {
        return Err(ServiceError::Other("ada's program did not load back equal".into()));
    }
    let mut conn = pool.get().map_err(|e| ServiceError::Other(e.to_string()))?;
    let owners: Vec<(String, Option<i64>)> = users::table.select((users::name, users::program_id)).load(&mut conn)?;
    println!("users: {owners:?}");
    println!("programs: {:?}", programs.iter().map(|p| &p.name).collect::<Vec<_>>());
    println!("ada's program root: {}", loaded.hashes().program().to_hex());
    Ok(())
}
