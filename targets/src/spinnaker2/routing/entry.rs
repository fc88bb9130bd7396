//! Key/mask pairs (ternary patterns over 32-bit keys) and routing-table entries.

use super::route::Route;

/// A ternary pattern over 32-bit keys: bit `b` is fixed to `key`'s bit where `mask` has a 1 and
/// "don't care" (X) where `mask` has a 0. `key` has no bits outside `mask` (a 1 there could never
/// match, which the SpiNNaker tools treat as an error too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyMask {
    /// Required bit values (zero where `mask` is zero).
    pub key: u32,
    /// Which bits are compared.
    pub mask: u32,
}

impl KeyMask {
    /// True when `key` is one of the keys of this pattern.
    pub fn matches(self, key: u32) -> bool {
        key & self.mask == self.key
    }

    /// True when `key` has no bit outside `mask`.
    pub fn is_canonical(self) -> bool {
        self.key & !self.mask == 0
    }

    /// Number of X bits: a pattern with generality `g` covers `2^g` keys. Ordered covering keeps
    /// tables sorted by it so more specific entries stay above more general ones.
    pub fn generality(self) -> u32 {
        self.mask.count_zeros()
    }

    /// True when some key matches both patterns: they agree on every bit both fix.
    pub fn intersects(self, other: KeyMask) -> bool {
        let both = self.mask & other.mask;
        (self.key ^ other.key) & both == 0
    }

    /// True when every key of `other` is a key of `self`.
    pub fn covers(self, other: KeyMask) -> bool {
        self.mask & other.mask == self.mask && other.key & self.mask == self.key
    }

    /// The smallest pattern covering both: bits stay fixed where both fix the same value.
    pub fn cover(self, other: KeyMask) -> KeyMask {
        let mask = self.mask & other.mask & !(self.key ^ other.key);
        KeyMask {
            key: self.key & mask,
            mask,
        }
    }
}

/// One router entry: packets whose key matches `key`/`mask` are copied to every output in
/// `route`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoutingEntry {
    /// Required key bits (zero outside `mask`).
    pub key: u32,
    /// Compared key bits.
    pub mask: u32,
    /// Outputs of a matching packet.
    pub route: Route,
}

impl RoutingEntry {
    /// The entry's key/mask pattern.
    pub fn key_mask(&self) -> KeyMask {
        KeyMask {
            key: self.key,
            mask: self.mask,
        }
    }

    /// True when `key` matches this entry.
    pub fn matches(&self, key: u32) -> bool {
        self.key_mask().matches(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn km(key: u32, mask: u32) -> KeyMask {
        KeyMask { key, mask }
    }

    #[test]
    fn pattern_relations() {
        // 0b00XX and 0b0X1X share 0b0010 and 0b0011.
        let a = km(0b0000, 0b1100);
        let b = km(0b0010, 0b1010);
        assert!(a.intersects(b));
        assert!(!a.covers(b));
        assert!(!a.intersects(km(0b0100, 0b1100)));
        assert_eq!(a.cover(km(0b0100, 0b1100)), km(0b0000, 0b1000));
        assert!(km(0, 0).covers(a));
        assert_eq!(a.generality(), 30);
        assert!(a.matches(0b0011));
        assert!(!a.matches(0b0111));
        assert!(!km(1, 0).is_canonical());
    }
}
