//! `ContentHash`, the 32-byte digest every hash is, and `Multiset`, the order-free sum
//! that lets one edit update the program root in constant time.
//!
//! The program root must not depend on the order functions, types and modules were
//! created in, and an edit of one function must not revisit the others. So members
//! are combined by addition modulo 2^256: commutative (order-free) and invertible
//! (removing or replacing one member is one subtraction and one addition).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A 32-byte blake3 digest: the hash of a node, a function, a program or one of the
/// parts they are built from. Printed and serialised as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// Lower-case hexadecimal, 64 characters: the form tools print and files record.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for b in self.0 {
            out.push(DIGITS[(b >> 4) as usize] as char);
            out.push(DIGITS[(b & 15) as usize] as char);
        }
        out
    }

    /// Parses 64 hex digits (either case), so hashes recorded in files can be compared.
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Some(ContentHash(out))
    }

    /// The digest as four little-endian u64 lanes, least significant first.
    fn lanes(&self) -> [u64; 4] {
        let mut lanes = [0u64; 4];
        for (i, lane) in lanes.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&self.0[i * 8..i * 8 + 8]);
            *lane = u64::from_le_bytes(b);
        }
        lanes
    }

    fn from_lanes(lanes: [u64; 4]) -> Self {
        let mut out = [0u8; 32];
        for (i, lane) in lanes.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&lane.to_le_bytes());
        }
        ContentHash(out)
    }

    /// `self + other` modulo 2^256 (the digests read as little-endian integers).
    pub(crate) fn wrapping_add(self, other: ContentHash) -> ContentHash {
        let (a, b) = (self.lanes(), other.lanes());
        let mut out = [0u64; 4];
        let mut carry = false;
        for i in 0..4 {
            let (s1, c1) = a[i].overflowing_add(b[i]);
            let (s2, c2) = s1.overflowing_add(carry as u64);
            out[i] = s2;
            carry = c1 || c2;
        }
        ContentHash::from_lanes(out)
    }

    /// `self - other` modulo 2^256, the inverse of [`wrapping_add`](Self::wrapping_add).
    pub(crate) fn wrapping_sub(self, other: ContentHash) -> ContentHash {
        let (a, b) = (self.lanes(), other.lanes());
        let mut out = [0u64; 4];
        let mut borrow = false;
        for i in 0..4 {
            let (d1, b1) = a[i].overflowing_sub(b[i]);
            let (d2, b2) = d1.overflowing_sub(borrow as u64);
            out[i] = d2;
            borrow = b1 || b2;
        }
        ContentHash::from_lanes(out)
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ContentHash::from_hex(&text).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

/// A multiset of digests kept as their count and their sum modulo 2^256, so adding,
/// removing or replacing a member costs O(1) whatever the order of edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Multiset {
    pub(crate) sum: ContentHash,
    pub(crate) count: u64,
}

impl Multiset {
    pub(crate) fn insert(&mut self, h: ContentHash) {
        self.sum = self.sum.wrapping_add(h);
        self.count = self.count.wrapping_add(1);
    }

    pub(crate) fn remove(&mut self, h: ContentHash) {
        self.sum = self.sum.wrapping_sub(h);
        self.count = self.count.wrapping_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(seed: u8) -> ContentHash {
        ContentHash(*blake3::hash(&[seed]).as_bytes())
    }

    #[test]
    fn sums_ignore_order_and_subtraction_undoes_addition() {
        let (a, b, c) = (h(1), h(2), h(3));
        let abc = a.wrapping_add(b).wrapping_add(c);
        assert_eq!(abc, c.wrapping_add(a).wrapping_add(b));
        assert_eq!(abc.wrapping_sub(b), a.wrapping_add(c));
        let max = ContentHash([0xff; 32]);
        assert_eq!(max.wrapping_add(ContentHash::from_lanes([1, 0, 0, 0])), ContentHash::default(), "carries wrap");
        assert_eq!(ContentHash::default().wrapping_sub(ContentHash::from_lanes([1, 0, 0, 0])), max, "borrows wrap");
    }

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        let x = h(9);
        assert_eq!(ContentHash::from_hex(&x.to_hex()), Some(x));
        assert_eq!(ContentHash::from_hex(&x.to_hex().to_uppercase()), Some(x));
        assert_eq!(ContentHash::from_hex("zz"), None);
        assert_eq!(ContentHash::from_hex(&"g".repeat(64)), None);
        assert_eq!(ContentHash::from_hex(&"é".repeat(32)), None);
        let json = serde_json::to_string(&x).unwrap();
        assert_eq!(serde_json::from_str::<ContentHash>(&json).unwrap(), x);
    }
}
