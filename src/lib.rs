//! lmlang-storage: the persistence layer of lmlang, whose programs are typed graphs.
//!
//! Layers, each depending only on those before it:
//! - [`model`]: value types of the program model (ids, ops, types, edges).
//! - [`hash`]: content hashing (blake3, Merkle), independent of numbering.
//! - [`graph`]: [`graph::ProgramGraph`], the program in memory on petgraph.
//! - `store`: the `GraphStore` trait, its errors and the in-memory backend.
//! - `sqlite`: the Diesel/SQLite backend.

pub mod graph;
pub mod hash;
pub mod model;
pub mod schema;
pub mod sqlite;
pub mod store;
pub mod synth;
