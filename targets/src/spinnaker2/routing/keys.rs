//! Routing-key allocation: every source slice (the neurons of one population placed on one PE)
//! gets its own aligned block of keys, and neuron `i` of the slice sends key `base | i`.

use thiserror::Error;

use super::entry::KeyMask;

/// Failures of key allocation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// A slice with no neurons sends nothing and needs no key; asking for one is a caller bug.
    #[error("slice {slice} has no neurons: it needs no routing key")]
    EmptySlice {
        /// Index of the slice in allocation order.
        slice: usize,
    },
    /// The 32-bit key space has no aligned block left for the slice.
    #[error(
        "routing key space exhausted: slice {slice} needs 2^{bits} keys but only {free} of \
         2^32 keys are left after {used} were allocated"
    )]
    Exhausted {
        /// Index of the slice in allocation order.
        slice: usize,
        /// log2 of the block the slice needs.
        bits: u32,
        /// Keys already handed out (including alignment padding).
        used: u64,
        /// Keys left above the allocation cursor.
        free: u64,
    },
}

/// The keys of one source slice: `2^bits` consecutive keys starting at `base`, matched by one
/// routing entry with `mask`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyRange {
    /// First key; a multiple of `2^bits`.
    pub base: u32,
    /// Mask with the low `bits` bits clear.
    pub mask: u32,
    /// log2 of the block size: `ceil(log2(neurons))`.
    pub bits: u32,
}

impl KeyRange {
    /// The key neuron `neuron` of the slice sends, or `None` when it is outside the block.
    pub fn key_of(&self, neuron: u32) -> Option<u32> {
        (u64::from(neuron) < self.size()).then_some(self.base | neuron)
    }

    /// Number of keys in the block.
    pub fn size(&self) -> u64 {
        1u64 << self.bits
    }

    /// The block as a pattern for routing entries.
    pub fn key_mask(&self) -> KeyMask {
        KeyMask {
            key: self.base,
            mask: self.mask,
        }
    }
}

/// Hands out aligned, non-overlapping key blocks in call order.
///
/// Blocks are placed in request order (rounded up to their alignment) rather than sorted by
/// size: the caller asks for the slices of one population one after another, so they get
/// neighbouring blocks that ordered covering can merge into one entry. Padding is below the
/// block size, so at most half of the key space is lost to it.
#[derive(Debug, Clone, Default)]
pub struct KeyAllocator {
    /// Next free key (u64 so that "all 2^32 keys used" is representable).
    next: u64,
    /// Number of slices allocated so far (names slices in errors).
    slices: usize,
}

impl KeyAllocator {
    /// An allocator with the whole 32-bit key space free.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allocates the block for a slice of `neurons` neurons (`neurons` ≥ 1).
    pub fn allocate(&mut self, neurons: u64) -> Result<KeyRange, KeyError> {
        let slice = self.slices;
        if neurons == 0 {
            return Err(KeyError::EmptySlice { slice });
        }
        let bits = block_bits(neurons);
        const SPACE: u64 = 1 << 32;
        let exhausted = KeyError::Exhausted {
            slice,
            bits,
            used: self.next,
            free: SPACE - self.next,
        };
        if bits > 32 {
            return Err(exhausted);
        }
        let size = 1u64 << bits;
        let base = self.next.div_ceil(size) * size;
        let end = base + size;
        if end > SPACE {
            return Err(exhausted);
        }
        let base32 = u32::try_from(base).map_err(|_| exhausted.clone())?;
        let mask = if bits == 32 { 0 } else { u32::MAX << bits };
        self.next = end;
        self.slices += 1;
        Ok(KeyRange {
            base: base32,
            mask,
            bits,
        })
    }

    /// Allocates the slices of one population (`slices[i]` neurons in slice `i`) inside one
    /// aligned population block: every slice gets a block of the largest slice's size, at
    /// consecutive offsets. All keys of the population then share one prefix, so a router that
    /// sends the whole population the same way needs a single entry after compression (the
    /// unused keys of the block are never sent, so covering them is harmless).
    pub fn allocate_population(&mut self, slices: &[u64]) -> Result<Vec<KeyRange>, KeyError> {
        let first = self.slices;
        if slices.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(empty) = slices.iter().position(|&n| n == 0) {
            return Err(KeyError::EmptySlice {
                slice: first + empty,
            });
        }
        let stride = slices.iter().map(|&n| block_bits(n)).max().unwrap_or(0);
        let index_bits = block_bits(slices.len() as u64);
        let total = stride.saturating_add(index_bits);
        let mut block = self.clone();
        let base = block.allocate(1u64.checked_shl(total).unwrap_or(u64::MAX))?;
        let mask = if stride >= 32 { 0 } else { u32::MAX << stride };
        let ranges = (0..slices.len() as u64)
            .map(|i| {
                let offset = i << stride;
                let key = u32::try_from(u64::from(base.base) + offset).map_err(|_| {
                    KeyError::Exhausted {
                        slice: first,
                        bits: total,
                        used: self.next,
                        free: (1u64 << 32) - self.next,
                    }
                })?;
                Ok(KeyRange {
                    base: key,
                    mask,
                    bits: stride,
                })
            })
            .collect::<Result<Vec<_>, KeyError>>()?;
        self.next = block.next;
        self.slices = first + slices.len();
        Ok(ranges)
    }

    /// Keys handed out so far, alignment padding included.
    pub fn used(&self) -> u64 {
        self.next
    }
}

/// `ceil(log2(neurons))` for `neurons ≥ 1`.
fn block_bits(neurons: u64) -> u32 {
    if neurons <= 1 {
        0
    } else {
        64 - (neurons - 1).leading_zeros()
    }
}

/// Allocates one block per slice, in order; `slices[i]` is the neuron count of slice `i`.
pub fn allocate_keys(slices: &[u64]) -> Result<Vec<KeyRange>, KeyError> {
    let mut allocator = KeyAllocator::new();
    slices.iter().map(|&n| allocator.allocate(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_and_disjoint() {
        let ranges = allocate_keys(&[3, 256, 1, 100, 257]).unwrap_or_default();
        let got: Vec<(u32, u32, u32)> = ranges.iter().map(|r| (r.base, r.mask, r.bits)).collect();
        assert_eq!(
            got,
            vec![
                (0, 0xFFFF_FFFC, 2),
                (256, 0xFFFF_FF00, 8),
                (512, 0xFFFF_FFFF, 0),
                (640, 0xFFFF_FF80, 7),
                (1024, 0xFFFF_FE00, 9),
            ]
        );
        for (i, a) in ranges.iter().enumerate() {
            assert_eq!(u64::from(a.base) % a.size(), 0);
            for b in ranges.iter().skip(i + 1) {
                assert!(!a.key_mask().intersects(b.key_mask()));
            }
        }
        assert_eq!(ranges[3].key_of(99), Some(739));
        assert_eq!(ranges[3].key_of(128), None);
    }

    #[test]
    fn population_blocks_share_a_prefix() {
        let mut a = KeyAllocator::new();
        let first = a.allocate(3).unwrap_or_default_range();
        let pop = a.allocate_population(&[64, 64, 40]).unwrap_or_default();
        // 3 slices of stride 64 need a 256-key block, aligned after the first 4 keys.
        let got: Vec<(u32, u32)> = pop.iter().map(|r| (r.base, r.mask)).collect();
        assert_eq!(
            got,
            vec![(256, 0xFFFF_FFC0), (320, 0xFFFF_FFC0), (384, 0xFFFF_FFC0)]
        );
        assert_eq!(first.base, 0);
        assert_eq!(a.used(), 512);
        assert_eq!(a.allocate_population(&[]), Ok(Vec::new()));
        assert_eq!(a.used(), 512);
        assert_eq!(
            a.allocate_population(&[4, 0]),
            Err(KeyError::EmptySlice { slice: 5 })
        );
        let mut full = KeyAllocator::new();
        assert!(full.allocate(1 << 31).is_ok());
        assert!(matches!(
            full.allocate_population(&[1 << 30, 1 << 30, 1]),
            Err(KeyError::Exhausted {
                slice: 1,
                bits: 32,
                ..
            })
        ));
        // A failed population leaves the allocator unchanged.
        assert_eq!(full.used(), 1 << 31);
    }

    trait OrDefault {
        fn unwrap_or_default_range(self) -> KeyRange;
    }

    impl OrDefault for Result<KeyRange, KeyError> {
        fn unwrap_or_default_range(self) -> KeyRange {
            self.unwrap_or(KeyRange {
                base: u32::MAX,
                mask: 0,
                bits: 0,
            })
        }
    }

    #[test]
    fn block_bits_is_ceil_log2() {
        assert_eq!(block_bits(1), 0);
        assert_eq!(block_bits(2), 1);
        assert_eq!(block_bits(255), 8);
        assert_eq!(block_bits(256), 8);
        assert_eq!(block_bits(257), 9);
        assert_eq!(block_bits(1 << 32), 32);
        assert_eq!(block_bits((1 << 32) + 1), 33);
    }

    #[test]
    fn exhaustion_and_empty_slices_are_errors() {
        assert_eq!(
            allocate_keys(&[5, 0]),
            Err(KeyError::EmptySlice { slice: 1 })
        );
        let mut a = KeyAllocator::new();
        assert!(a.allocate(1 << 31).is_ok());
        assert!(a.allocate(1 << 30).is_ok());
        // 2^30 keys remain; 2^30 + 1 neurons need 2^31.
        assert_eq!(
            a.allocate((1 << 30) + 1),
            Err(KeyError::Exhausted {
                slice: 2,
                bits: 31,
                used: 3 << 30,
                free: 1 << 30,
            })
        );
        assert!(a.allocate(1 << 30).is_ok());
        assert_eq!(a.used(), 1 << 32);
        assert!(matches!(
            a.allocate(1),
            Err(KeyError::Exhausted { slice: 3, .. })
        ));
        let whole = allocate_keys(&[1 << 32]).unwrap_or_default();
        assert_eq!(whole.first().map(|r| (r.base, r.mask)), Some((0, 0)));
        assert!(matches!(
            allocate_keys(&[(1 << 32) + 1]),
            Err(KeyError::Exhausted { bits: 33, .. })
        ));
    }
}
