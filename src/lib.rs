//! lmlang-storage: the persistence layer of lmlang, whose programs are typed graphs.
//!
//! Layers, each depending only on those before it:
//! - [`model`]: value types of the program model (ids, ops, types, edges).
//! - [`hash`]: content hashing (blake3, Merkle), independent of numbering.
//! - [`graph`]: [`graph::ProgramGraph`], the program in memory on petgraph.
//! - `store`: the `GraphStore` trait, its errors, the shared engine and the in-memory
//!   backend.
//! - `sqlite`: the Diesel/SQLite backend, on its own file or on a host service's pool
//!   or connection.
//! - `synth` (feature `synth`): the seeded synthetic program generator.
//!
//! Features: `bundled` (default; SQLite built from source, otherwise the system's
//! libsqlite3), `synth`, and `temporary` (`SqliteStore::temporary()` for tests).

#![forbid(unsafe_code)]

pub mod graph;
pub mod hash;
pub mod model;
/// This crate's tables for Diesel, as `diesel print-schema` generates them from the
/// migrations (never edited by hand), for the store's own queries and a service's.
#[allow(missing_docs)]
pub mod schema;
pub mod sqlite;
pub mod store;
#[cfg(feature = "synth")]
pub mod synth;
