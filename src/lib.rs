//! lmlang-storage: the persistence layer of lmlang, whose programs are typed graphs.
//!
//! Layers, each depending only on those before it:
//! - [`model`]: value types of the program model (ids, ops, types, edges).
//! - [`hash`]: content hashing (blake3, Merkle), independent of numbering.
//! - [`graph`]: [`graph::ProgramGraph`], the program in memory on petgraph.
//! - `store`: the `GraphStore` trait, its errors, the shared engine, history
//!   (`ProgramHistory`: log, undo, redo, checkout, tags, recorded by the engine with
//!   every commit) and the in-memory backend.
//! - [`rows`]: the one diff of a graph into rows and the one assembly of rows into a
//!   graph, which every backend drives through `RowSink` and `RowSource`; and, for the
//!   SQL backends, the shared row structs, encodings and queries.
//! - `sqlite`: the Diesel/SQLite backend, on its own file or on a host service's pool
//!   or connection.
//! - `postgres` (feature `postgres`): the Diesel/PostgreSQL backend.
//! - `synth` (feature `synth`): the seeded synthetic program generator.
//!
//! Features: `bundled` (default; SQLite built from source, otherwise the system's
//! libsqlite3), `postgres` (libpq built from source, no TLS: see the module docs),
//! `synth`, and `temporary` (`SqliteStore::temporary()` for tests).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod graph;
pub mod hash;
pub mod model;
mod pool_threads;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod redact;
pub mod rows;
/// This crate's tables for Diesel, as `diesel print-schema` generates them from the
/// migrations (never edited by hand), for the store's own queries and a service's.
#[allow(missing_docs)]
pub mod schema;
/// The PostgreSQL schema as `diesel print-schema` generates it from `migrations/postgres/`
/// (never edited by hand). Queries use [`schema`], whose tables this one matches column
/// for column (`tests/postgres_schema.rs`).
#[cfg(feature = "postgres")]
pub mod schema_postgres;
pub mod sqlite;

// The README's Rust examples that are not marked `ignore` compile (and run, unless
// `no_run`) as doctests, so the first example a user copies stays true to the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
pub mod store;
#[cfg(feature = "synth")]
pub mod synth;
