//! PostgreSQL for tests: a store in a fresh schema of the test server, dropped after.
//!
//! The server comes from `LMLANG_TEST_PG_URL` (e.g. `postgres://root@127.0.0.1/test`).
//! When it is unset or the server cannot be reached, the test prints one skip line
//! (once per test binary) and passes, so `cargo test` passes on a machine without
//! PostgreSQL; with `LMLANG_PG_REQUIRED=1` (set by CI) it fails instead, so a green CI
//! means the PostgreSQL tests ran.

#![allow(dead_code)]

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use lmlang_storage::postgres::{PgConfig, PgCustomizer, PgPool, PgStore, quote_identifier};
use std::io::Write;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

static SKIPPED: Once = Once::new();
static NEXT: AtomicU64 = AtomicU64::new(0);

/// The test server's URL and an admin connection to it, or `None` after the skip line
/// (a panic when PostgreSQL is required).
pub fn server() -> Option<(String, PgConnection)> {
    let required = std::env::var("LMLANG_PG_REQUIRED").is_ok_and(|v| v == "1");
    let skip = |why: String| {
        assert!(!required, "LMLANG_PG_REQUIRED=1 but {why}");
        // Straight to stderr: the test harness captures `println!` of passing tests.
        SKIPPED.call_once(|| {
            let _ = writeln!(std::io::stderr(), "skipped: PostgreSQL tests ({why})");
        });
        None
    };
    let Ok(url) = std::env::var("LMLANG_TEST_PG_URL") else {
        return skip("LMLANG_TEST_PG_URL is not set".into());
    };
    match PgConnection::establish(&url) {
        Ok(conn) => Some((url, conn)),
        Err(e) => skip(format!("{url} is unreachable: {e}")),
    }
}

/// A schema of its own on the test server, dropped (with everything in it) on drop.
pub struct TestSchema {
    pub url: String,
    pub name: String,
    admin: PgConnection,
}

impl TestSchema {
    /// A fresh schema, or `None` when the tests are skipped.
    pub fn new() -> Option<TestSchema> {
        let (url, mut admin) = server()?;
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let name = format!(
            "lmlang_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            unique % 1_000_000_007
        );
        admin.batch_execute(&format!("CREATE SCHEMA {}", quote_identifier(&name))).expect("create the test schema");
        Some(TestSchema { url, name, admin })
    }

    /// Settings for a store in this schema.
    pub fn config(&self) -> PgConfig {
        PgConfig { schema: Some(self.name.clone()), pool_size: 4, ..PgConfig::default() }
    }

    /// A migrated store in this schema.
    pub fn store(&self) -> PgStore {
        PgStore::connect_with(&self.url, self.config()).expect("a PostgreSQL store in the test schema")
    }

    /// The usual Diesel test setup on this schema: a pool of one connection whose
    /// customizer opens a test transaction, which never commits.
    pub fn test_transaction_pool(&self) -> PgPool {
        Pool::builder()
            .max_size(1)
            .connection_customizer(Box::new(TestTransaction(PgCustomizer::new(Some(self.name.clone())))))
            .build(ConnectionManager::new(self.url.as_str()))
            .expect("a test-transaction pool")
    }

    /// A connection of its own whose `search_path` is this schema.
    pub fn connection(&self) -> PgConnection {
        let mut conn = PgConnection::establish(&self.url).expect("connection");
        conn.batch_execute(&format!("SET search_path TO {}", quote_identifier(&self.name))).expect("search_path");
        conn
    }
}

/// Sets the schema, then begins a test transaction on every pooled connection.
#[derive(Debug)]
struct TestTransaction(PgCustomizer);

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for TestTransaction {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        self.0.apply(conn).and_then(|()| conn.begin_test_transaction()).map_err(diesel::r2d2::Error::QueryError)
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // Best effort: a test that failed still cleans up; a failed drop only leaves an
        // empty-named schema behind on a test server.
        let _ = self.admin.batch_execute(&format!("DROP SCHEMA {} CASCADE", quote_identifier(&self.name)));
    }
}

/// `url` logging in as `user` instead of its own user (trust authentication).
pub fn as_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}@{host}")
}

/// Runs `test` on a fresh PostgreSQL store in its own schema (nothing when skipped).
pub fn with_store(test: impl FnOnce(&PgStore)) {
    let Some(schema) = TestSchema::new() else { return };
    let store = schema.store();
    test(&store);
    drop(store);
    drop(schema);
}
