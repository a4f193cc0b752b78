//! Constant values, with floats that survive every round trip bit for bit.
//!
//! Equality compares float *bits*, so a NaN constant equals itself and `-0.0` differs
//! from `0.0`: a stored program must compare equal to the one that was saved. In JSON a
//! finite float is a plain number (serde_json prints the shortest decimal that parses
//! back to the same bits, `-0.0` included); NaN and the infinities, which JSON numbers
//! cannot carry, are strings such as `"inf"`, `"-inf"`, `"NaN"` or `"NaN:0x7ff8000000000001"`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::hash::{Hash, Hasher};

/// A literal value of a `Const` operation.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum ConstValue {
    /// Of type [`TypeId::BOOL`](super::TypeId::BOOL).
    Bool(bool),
    /// Of type [`TypeId::I8`](super::TypeId::I8).
    I8(i8),
    /// Of type [`TypeId::I16`](super::TypeId::I16).
    I16(i16),
    /// Of type [`TypeId::I32`](super::TypeId::I32).
    I32(i32),
    /// Of type [`TypeId::I64`](super::TypeId::I64).
    I64(i64),
    /// Of type [`TypeId::F32`](super::TypeId::F32), kept bit for bit (NaN payloads and
    /// `-0.0` included).
    F32(#[serde(with = "f32_exact")] f32),
    /// Of type [`TypeId::F64`](super::TypeId::F64), kept bit for bit (NaN payloads and
    /// `-0.0` included).
    F64(#[serde(with = "f64_exact")] f64),
    /// The one value of [`TypeId::UNIT`](super::TypeId::UNIT).
    Unit,
}

impl ConstValue {
    /// A stable small number per variant, used by hashing and storage.
    pub fn tag(&self) -> u8 {
        match self {
            ConstValue::Bool(_) => 0,
            ConstValue::I8(_) => 1,
            ConstValue::I16(_) => 2,
            ConstValue::I32(_) => 3,
            ConstValue::I64(_) => 4,
            ConstValue::F32(_) => 5,
            ConstValue::F64(_) => 6,
            ConstValue::Unit => 7,
        }
    }

    /// The value's bits, zero-extended: the exact identity used for equality and hashing.
    pub fn bits(&self) -> u64 {
        match *self {
            ConstValue::Bool(b) => b as u64,
            ConstValue::I8(v) => v as u8 as u64,
            ConstValue::I16(v) => v as u16 as u64,
            ConstValue::I32(v) => v as u32 as u64,
            ConstValue::I64(v) => v as u64,
            ConstValue::F32(v) => v.to_bits() as u64,
            ConstValue::F64(v) => v.to_bits(),
            ConstValue::Unit => 0,
        }
    }
}

impl PartialEq for ConstValue {
    fn eq(&self, other: &Self) -> bool {
        self.tag() == other.tag() && self.bits() == other.bits()
    }
}

impl Eq for ConstValue {}

impl Hash for ConstValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.tag().hash(state);
        self.bits().hash(state);
    }
}

/// Shared text forms of the non-finite floats.
fn non_finite_text(is_nan: bool, negative: bool, bits: u64, canonical_nan: u64, width: usize) -> String {
    if is_nan {
        if bits == canonical_nan { "NaN".to_string() } else { format!("NaN:0x{bits:0width$x}") }
    } else if negative {
        "-inf".to_string()
    } else {
        "inf".to_string()
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FloatRepr {
    Number(f64),
    Text(String),
}

fn parse_non_finite<E: serde::de::Error>(text: &str, canonical_nan: u64) -> Result<FloatText, E> {
    match text {
        "inf" => Ok(FloatText::Inf(false)),
        "-inf" => Ok(FloatText::Inf(true)),
        "NaN" => Ok(FloatText::NanBits(canonical_nan)),
        other => {
            let hex = other.strip_prefix("NaN:0x").ok_or_else(|| E::custom(format!("invalid float text {other:?}")))?;
            u64::from_str_radix(hex, 16)
                .map(FloatText::NanBits)
                .map_err(|_| E::custom(format!("invalid NaN payload {other:?}")))
        }
    }
}

enum FloatText {
    Inf(bool),
    NanBits(u64),
}

mod f64_exact {
    use super::*;

    const CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            let text = non_finite_text(v.is_nan(), v.is_sign_negative(), v.to_bits(), CANONICAL_NAN, 16);
            s.serialize_str(&text)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match FloatRepr::deserialize(d)? {
            FloatRepr::Number(n) => Ok(n),
            FloatRepr::Text(t) => match parse_non_finite::<D::Error>(&t, CANONICAL_NAN)? {
                FloatText::Inf(neg) => Ok(if neg { f64::NEG_INFINITY } else { f64::INFINITY }),
                FloatText::NanBits(bits) => {
                    let v = f64::from_bits(bits);
                    if v.is_nan() {
                        Ok(v)
                    } else {
                        Err(serde::de::Error::custom(format!("{t:?} is not a NaN bit pattern")))
                    }
                }
            },
        }
    }
}

mod f32_exact {
    use super::*;

    const CANONICAL_NAN: u64 = 0x7fc0_0000;

    pub fn serialize<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f32(*v)
        } else {
            let text = non_finite_text(v.is_nan(), v.is_sign_negative(), v.to_bits() as u64, CANONICAL_NAN, 8);
            s.serialize_str(&text)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
        match FloatRepr::deserialize(d)? {
            // serde_json prints an f32 as its shortest f32 decimal; reading it as f64 and
            // narrowing gives back the same bits.
            // A finite number beyond f32's range, or too small for its smallest
            // subnormal, would silently become infinite or zero: refused instead.
            FloatRepr::Number(n) => {
                let narrowed = n as f32;
                if narrowed.is_infinite() || (narrowed == 0.0 && n != 0.0) {
                    return Err(serde::de::Error::custom(format!("{n} is outside the range of an f32")));
                }
                Ok(narrowed)
            }
            FloatRepr::Text(t) => match parse_non_finite::<D::Error>(&t, CANONICAL_NAN)? {
                FloatText::Inf(neg) => Ok(if neg { f32::NEG_INFINITY } else { f32::INFINITY }),
                FloatText::NanBits(bits) => {
                    let v = u32::try_from(bits).map(f32::from_bits).ok().filter(|v| v.is_nan());
                    v.ok_or_else(|| serde::de::Error::custom(format!("{t:?} is not an f32 NaN bit pattern")))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ConstValue;

    #[test]
    fn an_f32_out_of_range_is_refused_rather_than_rounded_to_infinity_or_zero() {
        for text in [r#"{"F32":1e300}"#, r#"{"F32":-1e39}"#, r#"{"F32":1e-50}"#] {
            let err = serde_json::from_str::<ConstValue>(text).expect_err(text);
            assert!(err.to_string().contains("outside the range of an f32"), "{text}: {err}");
        }
        for (text, value) in
            [(r#"{"F32":0.0}"#, 0.0f32), (r#"{"F32":3.4028235e38}"#, f32::MAX), (r#"{"F32":1e-45}"#, 1e-45)]
        {
            assert_eq!(serde_json::from_str::<ConstValue>(text).expect(text), ConstValue::F32(value), "{text}");
        }
    }
}
