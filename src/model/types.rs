//! The type system: `LmType`, struct and enum definitions, and the `TypeRegistry`.
//!
//! Field and variant order is part of a type's meaning, so the `IndexMap`s here compare
//! in order (IndexMap's own `==` ignores order).

use super::ids::{ModuleId, TypeId};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Who can see a module, function or named type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Visibility {
    /// Usable from other modules.
    Public,
    /// Usable only inside its own module.
    Private,
}

impl Visibility {
    /// Stable name, used as a stored column and hash input.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "Public",
            Visibility::Private => "Private",
        }
    }
}

/// Primitive value types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScalarType {
    /// `true` or `false`.
    Bool,
    /// 8-bit integer.
    I8,
    /// 16-bit integer.
    I16,
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// IEEE 754 single precision float.
    F32,
    /// IEEE 754 double precision float.
    F64,
}

/// A struct: named fields in declaration order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StructDef {
    /// The name it is registered under, unqualified (`Point`, not `geo::Point`).
    /// Registration overwrites it, as it does `type_id`, `module` and `visibility`.
    pub name: String,
    /// Its own id.
    pub type_id: TypeId,
    /// Field names and types in declaration order; `StructCreate`, `StructGet` and
    /// `StructSet` address fields by position in this order.
    pub fields: IndexMap<String, TypeId>,
    /// The module it is declared in.
    pub module: ModuleId,
    /// Who can use it outside its module.
    pub visibility: Visibility,
}

impl PartialEq for StructDef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.type_id == other.type_id
            && self.module == other.module
            && self.visibility == other.visibility
            && self.fields.iter().eq(other.fields.iter())
    }
}

/// One variant of an enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EnumVariant {
    /// Its position among the enum's variants, which is also its discriminant;
    /// registration refuses any other value ([`TypeError::VariantIndex`]).
    pub index: u32,
    /// The type of the value the variant carries, if it carries one.
    pub payload: Option<TypeId>,
}

/// An enum: named variants in declaration order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnumDef {
    /// The name it is registered under, unqualified. Registration overwrites it, as it
    /// does `type_id`, `module` and `visibility`.
    pub name: String,
    /// Its own id.
    pub type_id: TypeId,
    /// Variant names in declaration order; each variant's `index` is its position.
    pub variants: IndexMap<String, EnumVariant>,
    /// The module it is declared in.
    pub module: ModuleId,
    /// Who can use it outside its module.
    pub visibility: Visibility,
}

impl PartialEq for EnumDef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.type_id == other.type_id
            && self.module == other.module
            && self.visibility == other.visibility
            && self.variants.iter().eq(other.variants.iter())
    }
}

/// A type of the lmlang type system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LmType {
    /// A primitive value; the nine built-ins cover every scalar.
    Scalar(ScalarType),
    /// A fixed-length array.
    Array {
        /// The type of every element.
        element: TypeId,
        /// Number of elements, part of the type.
        length: u32,
    },
    /// A struct; `validate()` wants it registered by name.
    Struct(StructDef),
    /// An enum (tagged union); `validate()` wants it registered by name.
    Enum(EnumDef),
    /// A pointer, as `Alloc` yields and `Load`, `Store` and `GetElementPtr` take.
    Pointer {
        /// The type pointed to.
        pointee: TypeId,
        /// Whether `Store` may write through it.
        mutable: bool,
    },
    /// The type of a function or closure value (what `MakeClosure` yields and
    /// `IndirectCall` calls).
    Function {
        /// Parameter types in order.
        params: Vec<TypeId>,
        /// The type of the returned value.
        return_type: TypeId,
    },
    /// The type with one value, for functions and ops that return nothing useful.
    Unit,
    /// The type with no value: of a computation that never returns.
    Never,
}

impl LmType {
    /// Stable name of the variant (a stored column and hash input).
    pub fn kind(&self) -> &'static str {
        match self {
            LmType::Scalar(_) => "Scalar",
            LmType::Array { .. } => "Array",
            LmType::Struct(_) => "Struct",
            LmType::Enum(_) => "Enum",
            LmType::Pointer { .. } => "Pointer",
            LmType::Function { .. } => "Function",
            LmType::Unit => "Unit",
            LmType::Never => "Never",
        }
    }

    /// The names inside the type: its own (struct or enum), fields and variants.
    pub fn member_names(&self) -> impl Iterator<Item = &str> {
        let (own, members): (Option<&str>, Vec<&str>) = match self {
            LmType::Struct(d) => (Some(&d.name), d.fields.keys().map(String::as_str).collect()),
            LmType::Enum(d) => (Some(&d.name), d.variants.keys().map(String::as_str).collect()),
            _ => (None, Vec::new()),
        };
        own.into_iter().chain(members)
    }

    /// Every type id this type refers to, in declaration order.
    pub fn referenced_types(&self) -> Vec<TypeId> {
        match self {
            LmType::Scalar(_) | LmType::Unit | LmType::Never => Vec::new(),
            LmType::Array { element, .. } => vec![*element],
            LmType::Pointer { pointee, .. } => vec![*pointee],
            LmType::Function { params, return_type } => params.iter().copied().chain([*return_type]).collect(),
            LmType::Struct(def) => def.fields.values().copied().collect(),
            LmType::Enum(def) => def.variants.values().filter_map(|v| v.payload).collect(),
        }
    }
}

/// Where a named type lives and who sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeName {
    /// The name, unqualified and unique in the whole program (not just its module).
    pub name: String,
    /// The module it is declared in; its path qualifies the name in notation and hashes.
    pub module: ModuleId,
    /// Who can use it outside its module.
    pub visibility: Visibility,
}

/// Errors of type registration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TypeError {
    /// The name is taken: type names are unique per program, whatever their module.
    /// Pick another name; a registered type can be neither renamed nor removed.
    #[error("a type named {0:?} is already registered")]
    DuplicateName(String),
    /// The new type refers to an id that is not registered. Register the referenced
    /// type first; a type therefore cannot refer to itself.
    #[error("type {referenced} referenced by the new type does not exist")]
    UnknownType {
        /// The first missing id found.
        referenced: TypeId,
    },
    /// A named type was registered under `""` (through the registry directly;
    /// `ProgramGraph` refuses it first with `GraphError::InvalidName`).
    #[error("type names must not be empty")]
    EmptyName,
    /// The type's own name, or one of its field or variant names, contains NUL, which
    /// no backend stores faithfully (PostgreSQL refuses it in text). Carries the name.
    #[error("invalid name {0:?} in a type: type, field and variant names contain no NUL")]
    NulInName(String),
    /// A struct or enum was registered as an anonymous type. Structs and enums are
    /// known by their names (that is how other types, hashes and paths refer to them),
    /// so they must be registered by name.
    #[error("a struct or enum must be registered by name")]
    UnnamedStructOrEnum,
    /// All `u32` type ids are spent; the program can take no new type.
    #[error("type ids are exhausted")]
    IdsExhausted,
    /// An enum variant's `index` is not its position among the variants. Number the
    /// variants 0, 1, 2... in declaration order.
    #[error("enum variant {name:?} has index {index}, expected {expected} (its position)")]
    VariantIndex {
        /// The variant's name.
        name: String,
        /// The index it was given.
        index: u32,
        /// Its position, the only index accepted.
        expected: u32,
    },
}

/// All types of a program, built-ins at ids 0 to 8 and user types from 9.
///
/// Types are append-only: a registered type never changes, so every id that refers to
/// one stays meaningful for the life of the program.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeRegistry {
    types: BTreeMap<TypeId, LmType>,
    names: BTreeMap<String, TypeId>,
    named: BTreeMap<TypeId, TypeName>,
    next: u32,
}

impl Default for TypeRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl TypeRegistry {
    /// A registry holding only the nine built-ins.
    pub fn new() -> Self {
        let builtins = [
            LmType::Scalar(ScalarType::Bool),
            LmType::Scalar(ScalarType::I8),
            LmType::Scalar(ScalarType::I16),
            LmType::Scalar(ScalarType::I32),
            LmType::Scalar(ScalarType::I64),
            LmType::Scalar(ScalarType::F32),
            LmType::Scalar(ScalarType::F64),
            LmType::Unit,
            LmType::Never,
        ];
        let types = builtins.into_iter().enumerate().map(|(i, t)| (TypeId(i as u32), t)).collect();
        TypeRegistry { types, names: BTreeMap::new(), named: BTreeMap::new(), next: TypeId::FIRST_USER.0 }
    }

    /// Rebuilds a registry from stored parts without checks; `ProgramGraph::validate`
    /// reports whatever is wrong with it.
    pub(crate) fn from_parts(types: BTreeMap<TypeId, LmType>, named: BTreeMap<TypeId, TypeName>, next: u32) -> Self {
        let names = named.iter().map(|(id, n)| (n.name.clone(), *id)).collect();
        TypeRegistry { types, names, named, next }
    }

    /// Registers an anonymous type (array, pointer, function signature...).
    pub fn register(&mut self, ty: LmType) -> Result<TypeId, TypeError> {
        if matches!(ty, LmType::Struct(_) | LmType::Enum(_)) {
            // `validate()` would refuse the graph afterwards ("not registered by
            // name"), and a store could then not load what it saved.
            return Err(TypeError::UnnamedStructOrEnum);
        }
        self.check_references(&ty)?;
        Ok(self.insert(ty))
    }

    /// Registers a named type. A struct's or enum's own `name`, `type_id`, `module` and
    /// `visibility` are overwritten with the registered ones so the two cannot disagree.
    pub fn register_named(
        &mut self,
        name: &str,
        module: ModuleId,
        visibility: Visibility,
        mut ty: LmType,
    ) -> Result<TypeId, TypeError> {
        if name.is_empty() {
            return Err(TypeError::EmptyName);
        }
        if name.contains('\0') {
            return Err(TypeError::NulInName(name.to_string()));
        }
        if self.names.contains_key(name) {
            return Err(TypeError::DuplicateName(name.to_string()));
        }
        // Overwritten before the checks, so a struct's own (discarded) name cannot
        // refuse a registration under a valid one.
        let id = TypeId(self.next);
        match &mut ty {
            LmType::Struct(def) => {
                (def.name, def.type_id, def.module, def.visibility) = (name.to_string(), id, module, visibility)
            }
            LmType::Enum(def) => {
                (def.name, def.type_id, def.module, def.visibility) = (name.to_string(), id, module, visibility)
            }
            _ => {}
        }
        self.check_references(&ty)?;
        self.insert(ty);
        self.names.insert(name.to_string(), id);
        self.named.insert(id, TypeName { name: name.to_string(), module, visibility });
        Ok(id)
    }

    fn check_references(&self, ty: &LmType) -> Result<(), TypeError> {
        if self.next == u32::MAX {
            return Err(TypeError::IdsExhausted);
        }
        if let Some(missing) = ty.referenced_types().into_iter().find(|t| !self.types.contains_key(t)) {
            return Err(TypeError::UnknownType { referenced: missing });
        }
        if let Some(name) = ty.member_names().find(|n| n.contains('\0')) {
            return Err(TypeError::NulInName(name.to_string()));
        }
        if let LmType::Enum(def) = ty {
            for (pos, (name, v)) in def.variants.iter().enumerate() {
                if v.index != pos as u32 {
                    return Err(TypeError::VariantIndex { name: name.clone(), index: v.index, expected: pos as u32 });
                }
            }
        }
        Ok(())
    }

    fn insert(&mut self, ty: LmType) -> TypeId {
        let id = TypeId(self.next);
        self.next += 1;
        self.types.insert(id, ty);
        id
    }

    /// The type with this id.
    pub fn get(&self, id: TypeId) -> Option<&LmType> {
        self.types.get(&id)
    }

    /// Whether the id names a registered type.
    pub fn contains(&self, id: TypeId) -> bool {
        self.types.contains_key(&id)
    }

    /// The id registered under a name.
    pub fn lookup(&self, name: &str) -> Option<TypeId> {
        self.names.get(name).copied()
    }

    /// Name, module and visibility of a named type.
    pub fn name_of(&self, id: TypeId) -> Option<&TypeName> {
        self.named.get(&id)
    }

    /// All types in id order.
    pub fn iter(&self) -> impl Iterator<Item = (TypeId, &LmType)> {
        self.types.iter().map(|(id, t)| (*id, t))
    }

    /// All named types in id order.
    pub fn named(&self) -> impl Iterator<Item = (TypeId, &TypeName)> {
        self.named.iter().map(|(id, n)| (*id, n))
    }

    /// Number of types, built-ins included.
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// Never true: the built-ins are always there.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// The id the next registration will get.
    pub fn next_id(&self) -> TypeId {
        TypeId(self.next)
    }
}
