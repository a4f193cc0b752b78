//! Identifier newtypes.
//!
//! Every id is a `u32` handle that is never reused inside a program (see
//! [`crate::graph::ProgramGraph`]): agents keep ids across edits, so a reused id would
//! silently point an old reference at a new entity. Ids serialise as bare integers.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u32);

        impl $name {
            /// The id as an index into dense per-id tables.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

id_type!(
    /// A compute node: one operation inside a function body.
    NodeId,
    "n"
);
id_type!(
    /// A flow edge (data or control) between two compute nodes of one function.
    EdgeId,
    "e"
);
id_type!(
    /// A function or closure.
    FunctionId,
    "f"
);
id_type!(
    /// A module; `ModuleId(0)` is always the root.
    ModuleId,
    "m"
);
id_type!(
    /// A registered type; ids 0 to 8 are the built-ins.
    TypeId,
    "t"
);

impl ModuleId {
    /// The root module every program has.
    pub const ROOT: ModuleId = ModuleId(0);
}

impl TypeId {
    /// Built-in `Bool`; the same id in every program.
    pub const BOOL: TypeId = TypeId(0);
    /// Built-in 8-bit integer; the same id in every program.
    pub const I8: TypeId = TypeId(1);
    /// Built-in 16-bit integer; the same id in every program.
    pub const I16: TypeId = TypeId(2);
    /// Built-in 32-bit integer; the same id in every program.
    pub const I32: TypeId = TypeId(3);
    /// Built-in 64-bit integer; the same id in every program.
    pub const I64: TypeId = TypeId(4);
    /// Built-in single precision float; the same id in every program.
    pub const F32: TypeId = TypeId(5);
    /// Built-in double precision float; the same id in every program.
    pub const F64: TypeId = TypeId(6);
    /// Built-in `Unit`, the type of no useful value; the same id in every program.
    pub const UNIT: TypeId = TypeId(7);
    /// Built-in `Never`, the type of computations that do not return; the same id in
    /// every program.
    pub const NEVER: TypeId = TypeId(8);
    /// The first id handed to a user type.
    pub const FIRST_USER: TypeId = TypeId(9);

    /// Whether this is one of the nine built-in types.
    pub fn is_builtin(self) -> bool {
        self.0 < Self::FIRST_USER.0
    }
}
