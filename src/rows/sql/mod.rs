//! What the SQL backends share: row structs, column encodings, op codes and the queries
//! on each table (written once, run on SQLite and PostgreSQL connections alike, see
//! [`tables::per_connection`]), and the [`RowSink`](crate::rows::RowSink) over them.
//!
//! The PostgreSQL schema matches `crate::schema` column for column, so one set of
//! Diesel tables serves both; what differs per backend is cell decoding (`codec`:
//! SQLite's storage classes need strict reads, PostgreSQL's typed columns do not), and
//! what lives in each backend's own module: connections, transactions, DDL, bulk paths.

pub(crate) mod codec;
pub(crate) mod ops;
pub(crate) mod sink;
pub(crate) mod tables;
