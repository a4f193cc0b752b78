//! Column codecs: how model values become SQL values and back.
//!
//! The one idea: decoding never fails inside Diesel. A `FromSql` error aborts a whole
//! `load` without saying which row was bad, so every column is read into a cell that
//! keeps a bad value as an error ([`Strict`] for integers and plain text, [`Json`] for
//! payloads, [`Named`] for enums), and the mapper decodes the cells knowing the table
//! and key to name in a [`StorageError::Corrupt`]. Nothing is ever defaulted or
//! converted: SQLite itself hands out 0 for a text stored in an integer column, and
//! Diesel replaces invalid UTF-8; both are refused here.
//!
//! Writes go through the ordinary `ToSql` of the inner values (generic over the
//! backend); the strict reads are SQLite's, since storage classes are SQLite's (on
//! PostgreSQL, whose columns are typed, the same cells read plainly: see `mod pg`).

use crate::model::{SemanticEdge, SemanticKey, Visibility};
use crate::store::{StorageError, StorageResult};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::result::UnexpectedNullError;
use diesel::row::{Field, Row};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{BigInt, Bool, Integer, SmallInt, Text};
use diesel::sqlite::{Sqlite, SqliteType, SqliteValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::marker::PhantomData;

/// A JSON payload in a TEXT column, typed by what it holds so two payload columns cannot
/// be mixed up. Encoded when a row is built; decoded by the mapper (see the module docs).
#[derive(AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct Json<T> {
    text: Result<String, WrongType>,
    of: PhantomData<fn() -> T>,
}

impl<T> Json<T> {
    /// The stored text, or a detail for a `Corrupt` error if it is not text.
    pub fn text(&self) -> Result<&str, String> {
        self.text.as_deref().map_err(|w| w.describe("a JSON text"))
    }

    fn from_text(text: String) -> Self {
        Json { text: Ok(text), of: PhantomData }
    }
}

impl<T: Serialize> Json<T> {
    /// Serialises a value (compact JSON).
    pub fn encode(value: &T) -> StorageResult<Self> {
        Ok(Json::from_text(serde_json::to_string(value)?))
    }
}

impl<T: DeserializeOwned> Json<T> {
    /// Parses the text; the error is a detail for a `Corrupt` error.
    pub fn decode(&self) -> Result<T, String> {
        parse(self.text()?)
    }
}

impl<T> Clone for Json<T> {
    fn clone(&self) -> Self {
        Json { text: self.text.clone(), of: PhantomData }
    }
}

impl<T> PartialEq for Json<T> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl<T> fmt::Debug for Json<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Json({:?})", self.text)
    }
}

impl<T, DB> ToSql<Text, DB> for Json<T>
where
    DB: Backend,
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        match &self.text {
            Ok(text) => text.as_str().to_sql(out),
            Err(wrong) => Err(format!("refusing to write a payload read as {wrong:?}").into()),
        }
    }
}

impl<T> FromSql<Text, Sqlite> for Json<T> {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        Ok(Json { text: read_text(value), of: PhantomData })
    }
}

/// An integer (or boolean) column read strictly: SQLite converts whatever is stored to
/// a number when asked, a text to 0; this keeps a value of the wrong storage class as
/// an error the mapper reports with the row's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = BigInt)]
#[diesel(sql_type = Integer)]
#[diesel(sql_type = SmallInt)]
#[diesel(sql_type = Bool)]
#[diesel(sql_type = Text)]
pub struct Strict<T>(Result<T, WrongType>);

/// What was found where a value of the column's type belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrongType {
    /// A value of another storage class.
    Class(Option<SqliteType>),
    /// An integer too large for the column's type.
    OutOfRange(i64),
    /// A text that is not UTF-8.
    NotUtf8,
}

impl WrongType {
    fn describe(self, expected: &str) -> String {
        let found = match self {
            WrongType::Class(Some(SqliteType::Text)) => "a text",
            WrongType::Class(Some(SqliteType::Double | SqliteType::Float)) => "a real",
            WrongType::Class(Some(SqliteType::Binary)) => "a blob",
            WrongType::Class(Some(_)) => "an integer",
            WrongType::Class(None) => "NULL",
            WrongType::OutOfRange(v) => return format!("{v} is out of range for the column"),
            WrongType::NotUtf8 => return "the text is not valid UTF-8".to_string(),
        };
        format!("{found} is stored where {expected} belongs")
    }
}

impl<T> Strict<T> {
    /// The value, or a detail for a `Corrupt` error.
    pub fn get(self) -> Result<T, String> {
        self.0.map_err(|wrong| wrong.describe("a value of the column's type"))
    }
}

/// Reads a TEXT value exactly: its bytes, which must be UTF-8.
fn read_text(mut value: SqliteValue<'_, '_, '_>) -> Result<String, WrongType> {
    match value.value_type() {
        Some(SqliteType::Text) => String::from_utf8(value.read_blob().to_vec()).map_err(|_| WrongType::NotUtf8),
        other => Err(WrongType::Class(other)),
    }
}

impl ToSql<Text, Sqlite> for Strict<String> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        match &self.0 {
            Ok(v) => <str as ToSql<Text, Sqlite>>::to_sql(v.as_str(), out),
            Err(e) => Err(format!("refusing to write a cell read as {e:?}").into()),
        }
    }
}

impl FromSql<Text, Sqlite> for Strict<String> {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        Ok(Strict(read_text(value)))
    }
}

impl<T> From<T> for Strict<T> {
    fn from(value: T) -> Self {
        Strict(Ok(value))
    }
}

/// ToSql and strict FromSql for one SQL integer type and its Rust type.
macro_rules! strict_integer {
    ($sql:ty, $rust:ty, $read:expr) => {
        impl ToSql<$sql, Sqlite> for Strict<$rust> {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                match &self.0 {
                    Ok(v) => <$rust as ToSql<$sql, Sqlite>>::to_sql(v, out),
                    Err(e) => Err(format!("refusing to write a cell read with {e:?}").into()),
                }
            }
        }

        impl FromSql<$sql, Sqlite> for Strict<$rust> {
            fn from_sql(mut value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
                match value.value_type() {
                    Some(SqliteType::Long) => {
                        let stored = value.read_long();
                        let convert: fn(i64) -> Option<$rust> = $read;
                        Ok(Strict(convert(stored).ok_or(WrongType::OutOfRange(stored))))
                    }
                    other => Ok(Strict(Err(WrongType::Class(other)))),
                }
            }
        }
    };
}

strict_integer!(BigInt, i64, Some);
strict_integer!(Integer, i32, |v| i32::try_from(v).ok());
strict_integer!(SmallInt, i16, |v| i16::try_from(v).ok());
strict_integer!(Bool, bool, |v| match v {
    0 => Some(false),
    1 => Some(true),
    _ => None,
});

/// Reads one column of a row into its cell; `None` for NULL. For the hand-written
/// `FromSqlRow` of the rows a whole-program load reads by the hundred thousand:
/// Diesel's derived row decoding (nested tuples, a boxed error path per column) costs
/// more per column than SQLite's own read, and this skips all of it but the cell's
/// `FromSql`.
pub fn read_cell<'a, ST, T: FromSql<ST, Sqlite>>(
    row: &impl Row<'a, Sqlite>,
    index: usize,
) -> deserialize::Result<Option<T>> {
    let field = row.get(index).ok_or(diesel::result::UnexpectedEndOfRow)?;
    field.value().map(T::from_sql).transpose()
}

/// [`read_cell`] for a NOT NULL column: a NULL fails the read, as in a derived row.
pub fn read_required<'a, ST, T: FromSql<ST, Sqlite>>(
    row: &impl Row<'a, Sqlite>,
    index: usize,
) -> deserialize::Result<T> {
    read_cell(row, index)?.ok_or_else(|| Box::new(UnexpectedNullError) as _)
}

/// A Rust enum stored as its stable name in a TEXT column (with a CHECK constraint in
/// the migration listing the names).
pub trait StoredName: Sized + Copy + 'static {
    /// What the enum is, for error messages.
    const WHAT: &'static str;
    /// The stored name.
    fn name(self) -> &'static str;
    /// The value a stored name stands for.
    fn from_name(name: &str) -> Option<Self>;
}

/// A [`StoredName`] enum in a TEXT column. Reading keeps an unknown name (possible only
/// in a hand-edited file) so the mapper can report it with its table and key.
#[derive(Debug, Clone, PartialEq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub enum Named<E> {
    /// A name this build knows.
    Known(E),
    /// A name it does not know.
    Unknown(String),
    /// Not a text at all.
    Unreadable(WrongType),
}

impl<E: StoredName> Named<E> {
    /// The value, or a detail for a `Corrupt` error.
    pub fn get(&self) -> Result<E, String> {
        match self {
            Named::Known(e) => Ok(*e),
            Named::Unknown(s) => Err(format!("unknown {} {}", E::WHAT, excerpt(s))),
            Named::Unreadable(w) => Err(w.describe(&format!("a {} name", E::WHAT))),
        }
    }
}

impl<E: StoredName> From<E> for Named<E> {
    fn from(e: E) -> Self {
        Named::Known(e)
    }
}

impl<E, DB> ToSql<Text, DB> for Named<E>
where
    E: StoredName + fmt::Debug,
    DB: Backend,
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        match self {
            Named::Known(e) => e.name().to_sql(out),
            Named::Unknown(s) => s.as_str().to_sql(out),
            Named::Unreadable(w) => Err(format!("refusing to write a name read as {w:?}").into()),
        }
    }
}

impl<E: StoredName> FromSql<Text, Sqlite> for Named<E> {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        Ok(match read_text(value) {
            Ok(text) => E::from_name(&text).map(Named::Known).unwrap_or(Named::Unknown(text)),
            Err(wrong) => Named::Unreadable(wrong),
        })
    }
}

impl StoredName for Visibility {
    const WHAT: &'static str = "visibility";
    fn name(self) -> &'static str {
        self.as_str()
    }
    fn from_name(name: &str) -> Option<Self> {
        [Visibility::Public, Visibility::Private].into_iter().find(|v| v.as_str() == name)
    }
}

impl StoredName for SemanticEdge {
    const WHAT: &'static str = "semantic edge kind";
    fn name(self) -> &'static str {
        self.as_str()
    }
    fn from_name(name: &str) -> Option<Self> {
        [SemanticEdge::Contains, SemanticEdge::Calls, SemanticEdge::UsesType].into_iter().find(|k| k.as_str() == name)
    }
}

/// Which kind of entity a semantic node stands for (the first half of a
/// [`SemanticKey`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SemanticKind {
    Module,
    Function,
    Type,
}

impl SemanticKind {
    /// Splits a semantic key into its stored kind and id.
    pub fn of(key: SemanticKey) -> (SemanticKind, i64) {
        match key {
            SemanticKey::Module(m) => (SemanticKind::Module, m.0.into()),
            SemanticKey::Function(f) => (SemanticKind::Function, f.0.into()),
            SemanticKey::Type(t) => (SemanticKind::Type, t.0.into()),
        }
    }

    /// Joins a stored kind and id into a semantic key.
    pub fn key(self, id: i64) -> Result<SemanticKey, String> {
        let id = id_u32(id)?;
        Ok(match self {
            SemanticKind::Module => SemanticKey::Module(crate::model::ModuleId(id)),
            SemanticKind::Function => SemanticKey::Function(crate::model::FunctionId(id)),
            SemanticKind::Type => SemanticKey::Type(crate::model::TypeId(id)),
        })
    }
}

impl StoredName for SemanticKind {
    const WHAT: &'static str = "semantic node kind";
    fn name(self) -> &'static str {
        match self {
            SemanticKind::Module => "Module",
            SemanticKind::Function => "Function",
            SemanticKind::Type => "Type",
        }
    }
    fn from_name(name: &str) -> Option<Self> {
        [SemanticKind::Module, SemanticKind::Function, SemanticKind::Type].into_iter().find(|k| k.name() == name)
    }
}

/// A strictly read integer for an error key: the number, or `?` if it is not one.
pub fn show(cell: Strict<i64>) -> String {
    cell.get().map_or_else(|_| "?".to_string(), |v| v.to_string())
}

/// A strictly read id as the model's `u32`.
pub fn cell_id(cell: Strict<i64>) -> Result<u32, String> {
    cell.get().and_then(id_u32)
}

/// A strictly read optional id as the model's `u32`.
pub fn cell_opt_id(cell: Option<Strict<i64>>) -> Result<Option<u32>, String> {
    cell.map(cell_id).transpose()
}

/// A stored id as the model's `u32`.
pub fn id_u32(value: i64) -> Result<u32, String> {
    u32::try_from(value).map_err(|_| format!("id {value} is out of range (0 to {})", u32::MAX))
}

/// A stored small number (port, branch) as `u16`.
pub fn small_u16(value: i32, what: &str) -> Result<u16, String> {
    u16::try_from(value).map_err(|_| format!("{what} {value} is out of range (0 to {})", u16::MAX))
}

/// A strictly read count or revision as `u64`.
pub fn count_u64(cell: Strict<i64>, what: &str) -> Result<u64, String> {
    let value = cell.get().map_err(|e| format!("{what}: {e}"))?;
    u64::try_from(value).map_err(|_| format!("{what} {value} is negative"))
}

/// Parses JSON text; the error is a detail for a `Corrupt` error.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    // serde's message quotes what it met (an unknown variant's whole name, say), which a
    // damaged row can make megabytes long: it is clipped as the text is.
    serde_json::from_str(text).map_err(|e| format!("bad JSON {}: {}", excerpt(text), clipped(&e.to_string(), 200)))
}

/// The error for a bad stored value.
pub fn corrupt(table: &'static str, key: impl fmt::Display, detail: impl Into<String>) -> StorageError {
    StorageError::Corrupt { table, key: key.to_string(), detail: detail.into() }
}

/// `text` itself up to `max` characters, then `...`.
fn clipped(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// The start of a stored text, for error messages about it.
fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// The same cells on PostgreSQL. Its columns are strictly typed by the server, so a
/// value always has the column's type and reading cannot meet another storage class;
/// the cells exist so one set of row structs serves both backends.
#[cfg(feature = "postgres")]
mod pg {
    use super::{Json, Named, StoredName, Strict, WrongType};
    use diesel::deserialize::{self, FromSql};
    use diesel::pg::{Pg, PgValue};
    use diesel::serialize::{self, Output, ToSql};
    use diesel::sql_types::{BigInt, Bool, Integer, SmallInt, Text};
    use std::marker::PhantomData;

    macro_rules! strict_pg {
        ($sql:ty, $rust:ty) => {
            impl ToSql<$sql, Pg> for Strict<$rust> {
                fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                    match &self.0 {
                        Ok(v) => <$rust as ToSql<$sql, Pg>>::to_sql(v, out),
                        Err(e) => Err(format!("refusing to write a cell read as {e:?}").into()),
                    }
                }
            }

            impl FromSql<$sql, Pg> for Strict<$rust> {
                fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
                    <$rust as FromSql<$sql, Pg>>::from_sql(value).map(|v| Strict(Ok(v)))
                }
            }
        };
    }

    strict_pg!(BigInt, i64);
    strict_pg!(Integer, i32);
    strict_pg!(SmallInt, i16);
    strict_pg!(Bool, bool);

    impl ToSql<Text, Pg> for Strict<String> {
        fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
            match &self.0 {
                Ok(v) => <str as ToSql<Text, Pg>>::to_sql(v.as_str(), out),
                Err(e) => Err(format!("refusing to write a cell read as {e:?}").into()),
            }
        }
    }

    /// Text as the server sent it; not UTF-8 is kept as an error for the mapper.
    fn read_text(value: PgValue<'_>) -> Result<String, WrongType> {
        String::from_utf8(value.as_bytes().to_vec()).map_err(|_| WrongType::NotUtf8)
    }

    impl FromSql<Text, Pg> for Strict<String> {
        fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
            Ok(Strict(read_text(value)))
        }
    }

    impl<T> FromSql<Text, Pg> for Json<T> {
        fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
            Ok(Json { text: read_text(value), of: PhantomData })
        }
    }

    impl<E: StoredName> FromSql<Text, Pg> for Named<E> {
        fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
            Ok(match read_text(value) {
                Ok(text) => E::from_name(&text).map(Named::Known).unwrap_or(Named::Unknown(text)),
                Err(wrong) => Named::Unreadable(wrong),
            })
        }
    }
}
