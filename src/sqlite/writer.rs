//! The write side on SQLite: the shared SQL row sink over a SQLite connection.

use super::mapper::SqliteRows;

crate::rows::sql::sink::sql_row_sink!(SqliteRows, sqlite);
