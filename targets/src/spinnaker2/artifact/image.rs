//! PE data images: the binary each PE loads into its SRAM.
//!
//! # Layout (little-endian 32-bit words)
//! ```text
//! header (20 words)
//!  0 magic 0x324E4E53 ("SNN2")   1 version (1)          2 role: 0 source, 1 lif
//!  3 n neurons (1..=1024)         4 key_base (neuron i sends key_base + i)
//!  5 flags: bit0 RECORD, bit1 PAYLOAD (source sends values), bit2 RESET_SUBTRACT, bit3 SENDS,
//!           bit4 SYNAPSES_DRAM (lif: the synapse section lives in the chip's DRAM)
//!  6 start_tick (population depth) 7 state_bits (2..=32)   8 frac_bits (0..=30)
//!  9 K synapse types (0..=4)     10 D ring slots (power of two, 1..=16)
//! 11 M master entries            12 S synapse-section words
//! 13 off_neuron 14 off_requant 15 off_master 16 off_synapse (word offsets, sections contiguous
//!    in this order)             17 total words             18 first (slice's first neuron)
//! 19 checksum: FNV-1a 32 over all image bytes with this word taken as 0
//! neuron section (lif): n x {decay, bias, threshold, v_reset} (i32)
//! requant section (lif): K x n x {multiplier, shift, zero_point, lo, hi}, type-major
//! master table: M x {key, mask, index_off, n_rows, flags (bit0 PAYLOAD, bit1 BITMAP)},
//!    sorted by key
//! synapse section: row-pointer arrays (n_rows words each, offsets in the section) and rows
//!    [count, syn_0 .. syn_count-1]; synapse word: bits 0..9 post, 10..13 delay (1..=D),
//!    14..15 type (< K), 16..31 weight (i16). A BITMAP entry's index_off points instead at
//!    ceil(n_rows / 32) bitmap words (bit j % 32 of word j / 32 set when row j exists; bits at
//!    or past n_rows clear) followed by one pointer per set bit, in row order: row j's pointer
//!    is the (number of set bits below j)-th; a clear bit is an empty row.
//! ```
//! With SYNAPSES_DRAM the image is still one file with the same layout; the loader puts the
//! synapse section (row pointers, bitmaps and rows) into the chip's DRAM instead of the PE's
//! SRAM, so it does not count against the PE's SRAM ([`PeImage::sram_words`]) and each row a
//! packet selects is fetched by DMA (`cost::dram_row_cycles`). Header, neuron, requant and
//! master sections stay in SRAM.
//! Source images have K = 0, D = 1, M = S = 0, state_bits = frac_bits = start_tick = 0 and no
//! neuron or requant section (all offsets equal 20).
//!
//! A packet with key `key` matching entry `e` (`key & e.mask == e.key`) selects row
//! `key & !e.mask` (ignored if not below `n_rows`); each synapse adds `w` (times the payload if
//! PAYLOAD) to `acc[(t - 1 + delay) % D][type][post]`, which the neuron update of tick
//! `t - 1 + delay` consumes. So `D` must be at least the largest delay of the image.
//!
//! [`PeImage`] is the decoded, typed form. [`PeImage::encode`] and [`PeImage::decode`] share one
//! validator ([`PeImage::validate`]), so the writer can never emit an image the loader rejects,
//! and the C kernel may trust every index of an image that decoded (it re-checks only the
//! header). Decoding is total: any byte string yields an image or an [`ImageError`], never a
//! panic.
//!
//! Two rules go beyond the bare layout so the kernel's master-table search is exact: master
//! masks are prefix masks (ones then zeros), and entries are sorted by key with disjoint key
//! blocks. Then at most one entry matches a key and a binary search on `key` finds it.

use super::error::ImageError;

/// Word 0: "SNN2" little-endian.
pub const MAGIC: u32 = 0x324E_4E53;
/// Word 1: the layout version this code reads and writes.
pub const VERSION: u32 = 1;
/// Header size in words.
pub const HEADER_WORDS: u32 = 20;
/// Largest slice: the synapse word's 10-bit post index.
pub const MAX_NEURONS: u32 = 1024;
/// Largest number of synapse types: the synapse word's 2-bit type field.
pub const MAX_TYPES: u32 = 4;
/// Largest ring of delay slots.
pub const MAX_SLOTS: u32 = 16;
/// Largest synaptic delay in ticks: the synapse word's 4-bit delay field.
pub const MAX_DELAY: u32 = 15;

/// Header flag: this slice's spikes are model output.
pub const FLAG_RECORD: u32 = 1;
/// Header flag: this source sends its values as packet payloads.
pub const FLAG_PAYLOAD: u32 = 2;
/// Header flag: reset by subtracting the threshold instead of setting `v_reset`.
pub const FLAG_RESET_SUBTRACT: u32 = 4;
/// Header flag: spikes have routes and are sent.
pub const FLAG_SENDS: u32 = 8;
/// Header flag: the synapse section lives in the chip's DRAM (LIF PEs only).
pub const FLAG_SYNAPSES_DRAM: u32 = 16;
/// Every header flag bit this version defines.
const FLAG_MASK: u32 = 0x1f;
/// Master-entry flag: the weight is multiplied by the packet payload.
pub const MASTER_FLAG_PAYLOAD: u32 = 1;
/// Master-entry flag: the entry's row pointers are a bitmap plus the pointers of present rows
/// (sparse key blocks pay a bit, not a word, per absent row).
pub const MASTER_FLAG_BITMAP: u32 = 2;

/// Header word indices (the C kernel's `SNNC_H_*` constants mirror them).
mod hw {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 1;
    pub const ROLE: usize = 2;
    pub const N: usize = 3;
    pub const KEY_BASE: usize = 4;
    pub const FLAGS: usize = 5;
    pub const START_TICK: usize = 6;
    pub const STATE_BITS: usize = 7;
    pub const FRAC_BITS: usize = 8;
    pub const K: usize = 9;
    pub const D: usize = 10;
    pub const M: usize = 11;
    pub const S: usize = 12;
    pub const OFF_NEURON: usize = 13;
    pub const OFF_REQUANT: usize = 14;
    pub const OFF_MASTER: usize = 15;
    pub const OFF_SYNAPSE: usize = 16;
    pub const TOTAL: usize = 17;
    pub const FIRST: usize = 18;
    pub const CHECKSUM: usize = 19;
}

/// What a PE does each tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeRole {
    /// Injects a slice of the host's input (role word 0).
    Source,
    /// Runs a slice of LIF neurons (role word 1).
    Lif,
}

/// Per-neuron IntLif parameters (neuron section, 4 words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NeuronParams {
    pub decay: i32,
    pub bias: i32,
    pub threshold: i32,
    pub v_reset: i32,
}

/// Requant parameters of one (synapse type, neuron) pair (requant section, 5 words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequantEntry {
    /// In `[0, 2^31)`.
    pub multiplier: i32,
    /// In `0..=62`.
    pub shift: u32,
    pub zero_point: i32,
    pub lo: i32,
    pub hi: i32,
}

/// One master-table entry: the packets of one pre-synaptic key block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MasterEntry {
    /// Block base key (no bits outside `mask`).
    pub key: u32,
    /// Prefix mask of the block.
    pub mask: u32,
    /// Word offset, in the synapse section, of the block's row-pointer array.
    pub index_off: u32,
    /// Rows (pre neurons) of the block; `key & !mask` indexes them.
    pub n_rows: u32,
    /// Weights are multiplied by the packet payload.
    pub payload: bool,
    /// Flag BITMAP: `index_off` points at a row bitmap followed by the present rows' pointers.
    pub bitmap: bool,
}

/// Bitmap words of a BITMAP entry with `n_rows` rows.
pub fn bitmap_words(n_rows: u32) -> u32 {
    n_rows.div_ceil(32)
}

/// One decoded synapse word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Synapse {
    /// Post-synaptic neuron index in the slice (bits 0..9).
    pub post: u32,
    /// Delay in ticks (bits 10..13).
    pub delay: u32,
    /// Synapse type (bits 14..15): which requant the contribution goes through.
    pub k: u32,
    /// Weight (bits 16..31).
    pub weight: i16,
}

impl Synapse {
    /// Unpacks a synapse word (any word unpacks; validity is checked by the image validator).
    pub fn decode(word: u32) -> Synapse {
        Synapse {
            post: word & 0x3ff,
            delay: (word >> 10) & 0xf,
            k: (word >> 14) & 0x3,
            weight: (word >> 16) as u16 as i16,
        }
    }

    /// Packs this synapse, checking every field fits.
    pub fn encode(&self) -> Result<u32, ImageError> {
        synapse_word(self.post, self.delay, self.k, i32::from(self.weight))
    }
}

/// Packs a synapse word: `post` < 1024, `delay` in 1..=15, `k` < 4, `weight` an i16.
pub fn synapse_word(post: u32, delay: u32, k: u32, weight: i32) -> Result<u32, ImageError> {
    let bad = |field: &'static str, reason: String| ImageError::Header { field, reason };
    if post >= MAX_NEURONS {
        return Err(bad(
            "synapse.post",
            format!("{post} is not below {MAX_NEURONS}"),
        ));
    }
    if !(1..=MAX_DELAY).contains(&delay) {
        return Err(bad(
            "synapse.delay",
            format!("{delay} is not in 1..={MAX_DELAY}"),
        ));
    }
    if k >= MAX_TYPES {
        return Err(bad("synapse.k", format!("{k} is not below {MAX_TYPES}")));
    }
    let w = i16::try_from(weight)
        .map_err(|_| bad("synapse.weight", format!("{weight} does not fit i16")))?;
    Ok(post | delay << 10 | k << 14 | u32::from(w as u16) << 16)
}

/// The rows of one pre-synaptic key block, for [`build_synaptic_matrix`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixBlock {
    pub key: u32,
    pub mask: u32,
    pub payload: bool,
    /// Row `j` (pre neuron `key + j`): its synapse words (see [`synapse_word`]).
    pub rows: Vec<Vec<u32>>,
}

/// Lays out the master table and synapse section from key blocks: blocks sorted by key, each
/// block's row-pointer array followed by its rows; all empty rows share one `[0]` row at offset
/// 0 (saves a word per silent pre neuron).
pub fn build_synaptic_matrix(
    mut blocks: Vec<MatrixBlock>,
) -> Result<(Vec<MasterEntry>, Vec<u32>), ImageError> {
    blocks.sort_by_key(|b| b.key);
    let mut words: Vec<u32> = Vec::new();
    let any_empty = blocks.iter().any(|b| b.rows.iter().any(Vec::is_empty));
    if any_empty {
        words.push(0);
    }
    let mut master = Vec::with_capacity(blocks.len());
    let too_big = |what: &str| ImageError::Section {
        section: "synapse",
        reason: format!("{what} exceeds 2^32 words"),
    };
    for b in &blocks {
        let index_off = u32::try_from(words.len()).map_err(|_| too_big("synapse section"))?;
        let n_rows = u32::try_from(b.rows.len()).map_err(|_| too_big("row count"))?;
        master.push(MasterEntry {
            key: b.key,
            mask: b.mask,
            index_off,
            n_rows,
            payload: b.payload,
            bitmap: false,
        });
        let ptrs = words.len();
        words.resize(ptrs + b.rows.len(), 0);
        for (j, row) in b.rows.iter().enumerate() {
            let ptr = if row.is_empty() {
                0
            } else {
                let p = u32::try_from(words.len()).map_err(|_| too_big("synapse section"))?;
                let count = u32::try_from(row.len()).map_err(|_| too_big("row"))?;
                words.push(count);
                words.extend_from_slice(row);
                p
            };
            if let Some(slot) = words.get_mut(ptrs + j) {
                *slot = ptr;
            }
        }
    }
    Ok((master, words))
}

/// A decoded PE data image. Field meanings follow the header words; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeImage {
    pub role: PeRole,
    /// Neurons (elements) of the slice, 1..=1024.
    pub n: u32,
    /// Neuron `i` sends key `key_base + i`.
    pub key_base: u32,
    /// Flag RECORD: the slice's spikes are model output.
    pub record: bool,
    /// Flag PAYLOAD (sources): packets carry the input value.
    pub payload: bool,
    /// Flag RESET_SUBTRACT (LIF): reset by subtracting the threshold.
    pub reset_subtract: bool,
    /// Flag SENDS: spikes are sent (they have routes).
    pub sends: bool,
    /// Flag SYNAPSES_DRAM (LIF): the synapse section lives in the chip's DRAM.
    pub synapses_dram: bool,
    /// First tick at which neurons update (the population's depth).
    pub start_tick: u32,
    /// Membrane register width, 2..=32 (LIF; 0 for sources).
    pub state_bits: u32,
    /// Fixed-point fraction bits of `decay`, 0..=30 (LIF; 0 for sources).
    pub frac_bits: u32,
    /// Synapse types, 0..=4 (0 for sources).
    pub k: u32,
    /// Delay ring slots, a power of two in 1..=16 (1 for sources).
    pub d: u32,
    /// Index of the slice's first neuron in its population.
    pub first: u32,
    /// `n` entries for LIF, none for sources.
    pub neurons: Vec<NeuronParams>,
    /// `requant[k][i]`: `k` vectors of `n` entries (LIF), none for sources.
    pub requant: Vec<Vec<RequantEntry>>,
    /// Master table sorted by key (LIF), empty for sources.
    pub master: Vec<MasterEntry>,
    /// Synapse section words (row-pointer arrays and rows), empty for sources.
    pub synapses: Vec<u32>,
}

/// Little-endian words of `bytes` (length already checked to be a multiple of 4).
fn words_of(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn header(field: &'static str, reason: String) -> ImageError {
    ImageError::Header { field, reason }
}

fn section(section: &'static str, reason: String) -> ImageError {
    ImageError::Section { section, reason }
}

/// Row offsets already validated (rows may be shared between pointers): one bit per word of
/// the synapse section, so validation stays linear on images with 10^5 rows.
struct SeenRows(Vec<u64>);

impl SeenRows {
    fn new(words: usize) -> SeenRows {
        SeenRows(vec![0; words.div_ceil(64)])
    }

    /// Marks `ptr`; true if it was not marked before. Offsets past the section are never
    /// marked (the caller rejects them).
    fn insert(&mut self, ptr: u32) -> bool {
        let (w, b) = ((ptr / 64) as usize, ptr % 64);
        match self.0.get_mut(w) {
            Some(word) if *word & (1 << b) == 0 => {
                *word |= 1 << b;
                true
            }
            Some(_) => false,
            None => true,
        }
    }
}

/// True for masks made of leading ones then trailing zeros (0 and all-ones included).
fn is_prefix_mask(mask: u32) -> bool {
    mask.leading_ones() + mask.trailing_zeros() == 32
}

/// Word offsets of the sections for given sizes, in the fixed order header, neuron, requant,
/// master, synapse. All in u64 so hostile sizes cannot overflow.
struct Layout {
    off_neuron: u64,
    off_requant: u64,
    off_master: u64,
    off_synapse: u64,
    total: u64,
}

impl Layout {
    fn new(role: PeRole, n: u64, k: u64, m: u64, s: u64) -> Layout {
        let lif = role == PeRole::Lif;
        let off_neuron = u64::from(HEADER_WORDS);
        let off_requant = off_neuron + if lif { 4 * n } else { 0 };
        let off_master = off_requant + if lif { 5 * k * n } else { 0 };
        let off_synapse = off_master + 5 * m;
        Layout {
            off_neuron,
            off_requant,
            off_master,
            off_synapse,
            total: off_synapse + s,
        }
    }
}

impl PeImage {
    /// A source PE image: injects `n` input elements starting at `first`, sending key
    /// `key_base + i` (with the value as payload when `payload`) if `sends`.
    pub fn source(n: u32, key_base: u32, first: u32, payload: bool, sends: bool) -> PeImage {
        PeImage {
            role: PeRole::Source,
            n,
            key_base,
            record: false,
            payload,
            reset_subtract: false,
            sends,
            synapses_dram: false,
            start_tick: 0,
            state_bits: 0,
            frac_bits: 0,
            k: 0,
            d: 1,
            first,
            neurons: Vec::new(),
            requant: Vec::new(),
            master: Vec::new(),
            synapses: Vec::new(),
        }
    }

    /// Runtime state the kernel keeps beside the image, in bytes: `v[n]` and `acc[D][K][n]`,
    /// 4 bytes each (the C kernel's `snnc_pe_ram_bytes`).
    pub fn state_bytes(&self) -> u64 {
        match self.role {
            PeRole::Source => 0,
            PeRole::Lif => 4 * u64::from(self.n) * (1 + u64::from(self.d) * u64::from(self.k)),
        }
    }

    /// Image size in words once encoded.
    pub fn words(&self) -> u64 {
        Layout::new(
            self.role,
            u64::from(self.n),
            u64::from(self.k),
            self.master.len() as u64,
            self.synapses.len() as u64,
        )
        .total
    }

    /// Words of the image the PE keeps in SRAM: all of it, or all but the synapse section
    /// when that lives in DRAM.
    pub fn sram_words(&self) -> u64 {
        if self.synapses_dram {
            self.words().saturating_sub(self.synapses.len() as u64)
        } else {
            self.words()
        }
    }

    /// Bytes of the chip's DRAM the image occupies (its synapse section when SYNAPSES_DRAM).
    pub fn dram_bytes(&self) -> u64 {
        if self.synapses_dram {
            self.synapses.len() as u64 * 4
        } else {
            0
        }
    }

    /// The master entry matching `key` (`key & mask == entry.key`), by binary search (valid
    /// images have disjoint prefix-mask blocks sorted by key, so at most one matches).
    pub fn lookup(&self, key: u32) -> Option<&MasterEntry> {
        let i = self.master.partition_point(|e| e.key <= key);
        let e = self.master.get(i.checked_sub(1)?)?;
        (key & e.mask == e.key).then_some(e)
    }

    /// The synapse words of row `j` of `entry` (without the count word), or `None` when `j` is
    /// not below `n_rows` or the row is out of the section (never for a validated image).
    pub fn row(&self, entry: &MasterEntry, j: u32) -> Option<&[u32]> {
        let (start, count) = self.row_span(entry, j)?;
        self.synapses.get(start..start.checked_add(count)?)
    }

    /// `(start, count)` of row `j` of `entry` in the synapse section (the synapse words, after
    /// the count word), or `None` when `j` is not below `n_rows` or the row is out of the
    /// section (never for a validated image). An absent row of a BITMAP entry is `(0, 0)`.
    pub fn row_span(&self, entry: &MasterEntry, j: u32) -> Option<(usize, usize)> {
        let ptr = self.row_pointer(entry, j)?;
        let Some(ptr) = ptr else {
            return Some((0, 0));
        };
        let ptr = ptr as usize;
        let count = *self.synapses.get(ptr)? as usize;
        let start = ptr.checked_add(1)?;
        (start.checked_add(count)? <= self.synapses.len()).then_some((start, count))
    }

    /// Word offset of row `j`'s count word: `Some(None)` for an absent row of a BITMAP entry,
    /// `None` when `j` is not below `n_rows` or a word is out of the section.
    fn row_pointer(&self, entry: &MasterEntry, j: u32) -> Option<Option<u32>> {
        if j >= entry.n_rows {
            return None;
        }
        let base = entry.index_off as usize;
        if !entry.bitmap {
            return self
                .synapses
                .get(base.checked_add(j as usize)?)
                .map(|&p| Some(p));
        }
        let word = *self.synapses.get(base.checked_add((j / 32) as usize)?)?;
        if word & (1 << (j % 32)) == 0 {
            return Some(None);
        }
        let before: u32 = self
            .synapses
            .get(base..base + (j / 32) as usize)?
            .iter()
            .map(|w| w.count_ones())
            .sum();
        let rank = before + (word & ((1u32 << (j % 32)) - 1)).count_ones();
        let at = base
            .checked_add(bitmap_words(entry.n_rows) as usize)?
            .checked_add(rank as usize)?;
        self.synapses.get(at).map(|&p| Some(p))
    }

    /// Requant parameters of synapse type `k`, neuron `i`.
    pub fn requant_at(&self, k: u32, i: u32) -> Option<&RequantEntry> {
        self.requant.get(k as usize)?.get(i as usize)
    }

    fn flags_word(&self) -> u32 {
        (if self.record { FLAG_RECORD } else { 0 })
            | (if self.payload { FLAG_PAYLOAD } else { 0 })
            | (if self.reset_subtract {
                FLAG_RESET_SUBTRACT
            } else {
                0
            })
            | (if self.sends { FLAG_SENDS } else { 0 })
            | (if self.synapses_dram {
                FLAG_SYNAPSES_DRAM
            } else {
                0
            })
    }

    /// Checks every rule of the format on the typed form (the rules `decode` enforces beyond
    /// the byte layout). `encode` calls it too.
    pub fn validate(&self) -> Result<(), ImageError> {
        if !(1..=MAX_NEURONS).contains(&self.n) {
            return Err(header(
                "n",
                format!("{} is not in 1..={MAX_NEURONS}", self.n),
            ));
        }
        if self.key_base.checked_add(self.n - 1).is_none() {
            return Err(header(
                "key_base",
                format!("0x{:08x} + n - 1 overflows 32 bits", self.key_base),
            ));
        }
        if self.first.checked_add(self.n).is_none() {
            return Err(header("first", format!("{} + n overflows", self.first)));
        }
        match self.role {
            PeRole::Source => self.validate_source(),
            PeRole::Lif => self.validate_lif(),
        }?;
        if self.words() > u64::from(u32::MAX) {
            return Err(section("total", "image exceeds 2^32 words".to_string()));
        }
        Ok(())
    }

    fn validate_source(&self) -> Result<(), ImageError> {
        let zero = [
            ("state_bits", self.state_bits),
            ("frac_bits", self.frac_bits),
            ("k", self.k),
            ("start_tick", self.start_tick),
        ];
        for (field, v) in zero {
            if v != 0 {
                return Err(header(field, format!("{v} must be 0 for a source PE")));
            }
        }
        if self.d != 1 {
            return Err(header("d", format!("{} must be 1 for a source PE", self.d)));
        }
        if self.reset_subtract {
            return Err(header(
                "flags",
                "RESET_SUBTRACT is set on a source PE".to_string(),
            ));
        }
        if self.synapses_dram {
            return Err(header(
                "flags",
                "SYNAPSES_DRAM is set on a source PE".to_string(),
            ));
        }
        let sizes = [
            ("neuron", self.neurons.len()),
            ("requant", self.requant.len()),
            ("master", self.master.len()),
            ("synapse", self.synapses.len()),
        ];
        for (name, len) in sizes {
            if len != 0 {
                return Err(section(name, format!("{len} entries on a source PE")));
            }
        }
        Ok(())
    }

    fn validate_lif(&self) -> Result<(), ImageError> {
        if !(2..=32).contains(&self.state_bits) {
            return Err(header(
                "state_bits",
                format!("{} is not in 2..=32", self.state_bits),
            ));
        }
        if self.frac_bits > 30 {
            return Err(header(
                "frac_bits",
                format!("{} is not in 0..=30", self.frac_bits),
            ));
        }
        if self.k > MAX_TYPES {
            return Err(header("k", format!("{} is not in 0..={MAX_TYPES}", self.k)));
        }
        if !self.d.is_power_of_two() || self.d > MAX_SLOTS {
            return Err(header(
                "d",
                format!("{} is not a power of two in 1..={MAX_SLOTS}", self.d),
            ));
        }
        if self.payload {
            return Err(header("flags", "PAYLOAD is set on a LIF PE".to_string()));
        }
        if self.neurons.len() != self.n as usize {
            return Err(section(
                "neuron",
                format!("{} entries for {} neurons", self.neurons.len(), self.n),
            ));
        }
        if self.requant.len() != self.k as usize {
            return Err(section(
                "requant",
                format!("{} types for k = {}", self.requant.len(), self.k),
            ));
        }
        for (k, per_type) in self.requant.iter().enumerate() {
            if per_type.len() != self.n as usize {
                return Err(section(
                    "requant",
                    format!(
                        "type {k} has {} entries for {} neurons",
                        per_type.len(),
                        self.n
                    ),
                ));
            }
            for (i, r) in per_type.iter().enumerate() {
                let neuron = i as u32;
                let bad = |field, reason| ImageError::Param {
                    field,
                    neuron,
                    reason,
                };
                if r.multiplier < 0 {
                    return Err(bad(
                        "requant.multiplier",
                        format!("{} (type {k}) is negative", r.multiplier),
                    ));
                }
                if r.shift > 62 {
                    return Err(bad(
                        "requant.shift",
                        format!("{} (type {k}) is not in 0..=62", r.shift),
                    ));
                }
                if r.lo > r.hi {
                    return Err(bad(
                        "requant.lo",
                        format!("lo {} > hi {} (type {k})", r.lo, r.hi),
                    ));
                }
            }
        }
        self.validate_master()
    }

    fn validate_master(&self) -> Result<(), ImageError> {
        let s = self.synapses.len() as u64;
        let mut prev_last: Option<u32> = None;
        let mut seen_rows = SeenRows::new(self.synapses.len());
        for (index, e) in self.master.iter().enumerate() {
            let bad = |reason: String| ImageError::Master { index, reason };
            if !is_prefix_mask(e.mask) {
                return Err(bad(format!("mask 0x{:08x} is not a prefix mask", e.mask)));
            }
            if e.key & !e.mask != 0 {
                return Err(bad(format!(
                    "key 0x{:08x} has bits outside mask 0x{:08x}",
                    e.key, e.mask
                )));
            }
            if let Some(last) = prev_last {
                if e.key <= last {
                    return Err(bad(format!(
                        "key 0x{:08x} is not above the previous block (which ends at 0x{last:08x})",
                        e.key
                    )));
                }
            }
            prev_last = Some(e.key | !e.mask);
            if u64::from(e.n_rows) > u64::from(!e.mask) + 1 {
                return Err(bad(format!(
                    "{} rows but the mask covers only {} keys",
                    e.n_rows,
                    u64::from(!e.mask) + 1
                )));
            }
            if e.bitmap {
                self.validate_bitmap(index, e, &mut seen_rows)?;
                continue;
            }
            if u64::from(e.index_off) + u64::from(e.n_rows) > s {
                return Err(bad(format!(
                    "row pointers {}..{} exceed the synapse section ({s} words)",
                    e.index_off,
                    u64::from(e.index_off) + u64::from(e.n_rows)
                )));
            }
            for row in 0..e.n_rows {
                let ptr = self
                    .synapses
                    .get((e.index_off + row) as usize)
                    .copied()
                    .unwrap_or(u32::MAX);
                self.validate_row(index, row, ptr, &mut seen_rows)?;
            }
        }
        Ok(())
    }

    /// Checks a BITMAP entry: bitmap and pointers inside the section, no bit at or past
    /// `n_rows`, every present row valid.
    fn validate_bitmap(
        &self,
        index: usize,
        e: &MasterEntry,
        seen: &mut SeenRows,
    ) -> Result<(), ImageError> {
        let s = self.synapses.len() as u64;
        let bad = |reason: String| ImageError::Master { index, reason };
        let nbw = u64::from(bitmap_words(e.n_rows));
        let base = u64::from(e.index_off);
        if base + nbw > s {
            return Err(bad(format!(
                "row bitmap {base}..{} exceeds the synapse section ({s} words)",
                base + nbw
            )));
        }
        let bits = self
            .synapses
            .get(base as usize..(base + nbw) as usize)
            .unwrap_or(&[]);
        if let Some(&last) = bits.last() {
            let used = e.n_rows - 32 * (nbw as u32 - 1);
            if used < 32 && last >> used != 0 {
                return Err(bad(format!(
                    "row bitmap has bits at or past its {} rows",
                    e.n_rows
                )));
            }
        }
        let present: u64 = bits.iter().map(|w| u64::from(w.count_ones())).sum();
        if base + nbw + present > s {
            return Err(bad(format!(
                "{present} row pointers after the bitmap at {base} exceed the synapse section \
                 ({s} words)"
            )));
        }
        let mut rank = 0u64;
        for (wi, &w) in bits.iter().enumerate() {
            for b in 0..32u32 {
                if w & (1 << b) == 0 {
                    continue;
                }
                let ptr = self
                    .synapses
                    .get((base + nbw + rank) as usize)
                    .copied()
                    .unwrap_or(u32::MAX);
                self.validate_row(index, wi as u32 * 32 + b, ptr, seen)?;
                rank += 1;
            }
        }
        Ok(())
    }

    /// Checks the row at word `ptr` once (rows may be shared between pointers).
    fn validate_row(
        &self,
        entry: usize,
        row: u32,
        ptr: u32,
        seen: &mut SeenRows,
    ) -> Result<(), ImageError> {
        if !seen.insert(ptr) {
            return Ok(());
        }
        let s = self.synapses.len() as u64;
        let bad = |reason: String| ImageError::Row { entry, row, reason };
        let Some(&count) = self.synapses.get(ptr as usize) else {
            return Err(bad(format!(
                "row pointer {ptr} is outside the synapse section ({s} words)"
            )));
        };
        let end = u64::from(ptr) + 1 + u64::from(count);
        if end > s {
            return Err(bad(format!(
                "row at {ptr} with {count} synapses ends at {end}, past the synapse section ({s} words)"
            )));
        }
        let words = self
            .synapses
            .get(ptr as usize + 1..end as usize)
            .unwrap_or(&[]);
        for (index, &w) in words.iter().enumerate() {
            let syn = Synapse::decode(w);
            let bad = |reason: String| ImageError::Synapse {
                entry,
                row,
                index: index as u32,
                reason,
            };
            if syn.post >= self.n {
                return Err(bad(format!(
                    "post {} is not below n = {}",
                    syn.post, self.n
                )));
            }
            if syn.k >= self.k {
                return Err(bad(format!("type {} is not below K = {}", syn.k, self.k)));
            }
            if syn.delay == 0 || syn.delay > self.d {
                return Err(bad(format!(
                    "delay {} is not in 1..=D = {}",
                    syn.delay, self.d
                )));
            }
        }
        Ok(())
    }

    /// The image as little-endian 32-bit words, checksum included.
    pub fn encode_words(&self) -> Result<Vec<u32>, ImageError> {
        self.validate()?;
        let lay = Layout::new(
            self.role,
            u64::from(self.n),
            u64::from(self.k),
            self.master.len() as u64,
            self.synapses.len() as u64,
        );
        // validate() bounded the total by u32::MAX.
        let mut w: Vec<u32> = Vec::with_capacity(lay.total as usize);
        w.extend_from_slice(&[
            MAGIC,
            VERSION,
            match self.role {
                PeRole::Source => 0,
                PeRole::Lif => 1,
            },
            self.n,
            self.key_base,
            self.flags_word(),
            self.start_tick,
            self.state_bits,
            self.frac_bits,
            self.k,
            self.d,
            self.master.len() as u32,
            self.synapses.len() as u32,
            lay.off_neuron as u32,
            lay.off_requant as u32,
            lay.off_master as u32,
            lay.off_synapse as u32,
            lay.total as u32,
            self.first,
            0,
        ]);
        for p in &self.neurons {
            w.extend_from_slice(&[
                p.decay as u32,
                p.bias as u32,
                p.threshold as u32,
                p.v_reset as u32,
            ]);
        }
        for per_type in &self.requant {
            for r in per_type {
                w.extend_from_slice(&[
                    r.multiplier as u32,
                    r.shift,
                    r.zero_point as u32,
                    r.lo as u32,
                    r.hi as u32,
                ]);
            }
        }
        for e in &self.master {
            w.extend_from_slice(&[
                e.key,
                e.mask,
                e.index_off,
                e.n_rows,
                (if e.payload { MASTER_FLAG_PAYLOAD } else { 0 })
                    | (if e.bitmap { MASTER_FLAG_BITMAP } else { 0 }),
            ]);
        }
        w.extend_from_slice(&self.synapses);
        let sum = checksum(&w);
        if let Some(c) = w.get_mut(hw::CHECKSUM) {
            *c = sum;
        }
        Ok(w)
    }

    /// The image file's bytes. Fails (instead of writing a file the loader would reject) when
    /// the image breaks a rule of the format.
    pub fn encode(&self) -> Result<Vec<u8>, ImageError> {
        Ok(bytes_of(&self.encode_words()?))
    }

    /// Decodes and fully validates an image file.
    pub fn decode(bytes: &[u8]) -> Result<PeImage, ImageError> {
        let len = bytes.len();
        if len % 4 != 0 {
            return Err(ImageError::Size {
                bytes: len,
                reason: "not a whole number of 32-bit words".to_string(),
            });
        }
        if len < 4 * HEADER_WORDS as usize {
            return Err(ImageError::Size {
                bytes: len,
                reason: format!("shorter than the {HEADER_WORDS}-word header"),
            });
        }
        let mut w = words_of(bytes);
        let h = |i: usize| w.get(i).copied().unwrap_or(0);
        if h(hw::MAGIC) != MAGIC {
            return Err(ImageError::Magic {
                found: h(hw::MAGIC),
                expected: MAGIC,
            });
        }
        if h(hw::VERSION) != VERSION {
            return Err(ImageError::Version {
                found: h(hw::VERSION),
                expected: VERSION,
            });
        }
        if h(hw::TOTAL) as usize != w.len() {
            return Err(ImageError::Length {
                header: h(hw::TOTAL),
                actual: w.len(),
            });
        }
        let stored = h(hw::CHECKSUM);
        if let Some(c) = w.get_mut(hw::CHECKSUM) {
            *c = 0;
        }
        let computed = checksum(&w);
        if stored != computed {
            return Err(ImageError::Checksum { stored, computed });
        }
        let h = |i: usize| w.get(i).copied().unwrap_or(0);
        let role = match h(hw::ROLE) {
            0 => PeRole::Source,
            1 => PeRole::Lif,
            r => {
                return Err(header(
                    "role",
                    format!("{r} is neither 0 (source) nor 1 (lif)"),
                ))
            }
        };
        let flags = h(hw::FLAGS);
        if flags & !FLAG_MASK != 0 {
            return Err(header("flags", format!("unknown bits in 0x{flags:08x}")));
        }
        let n = h(hw::N);
        if !(1..=MAX_NEURONS).contains(&n) {
            return Err(header("n", format!("{n} is not in 1..={MAX_NEURONS}")));
        }
        let k = h(hw::K);
        if k > MAX_TYPES {
            return Err(header("k", format!("{k} is not in 0..={MAX_TYPES}")));
        }
        let (m, s) = (h(hw::M), h(hw::S));
        let lay = Layout::new(role, u64::from(n), u64::from(k), u64::from(m), u64::from(s));
        let offs = [
            ("neuron", hw::OFF_NEURON, lay.off_neuron),
            ("requant", hw::OFF_REQUANT, lay.off_requant),
            ("master", hw::OFF_MASTER, lay.off_master),
            ("synapse", hw::OFF_SYNAPSE, lay.off_synapse),
        ];
        for (name, word, expected) in offs {
            if u64::from(h(word)) != expected {
                return Err(section(
                    name,
                    format!("offset {} where the layout puts it at {expected}", h(word)),
                ));
            }
        }
        if lay.total != w.len() as u64 {
            return Err(section(
                "total",
                format!(
                    "sections need {} words but the image has {}",
                    lay.total,
                    w.len()
                ),
            ));
        }
        // From here every section lies inside `w`: the layout matched the length.
        let slice = |from: u64, to: u64| w.get(from as usize..to as usize).unwrap_or(&[]);
        let neurons = slice(lay.off_neuron, lay.off_requant)
            .chunks_exact(4)
            .map(|c| NeuronParams {
                decay: c[0] as i32,
                bias: c[1] as i32,
                threshold: c[2] as i32,
                v_reset: c[3] as i32,
            })
            .collect();
        let entries: Vec<RequantEntry> = slice(lay.off_requant, lay.off_master)
            .chunks_exact(5)
            .map(|c| RequantEntry {
                multiplier: c[0] as i32,
                shift: c[1],
                zero_point: c[2] as i32,
                lo: c[3] as i32,
                hi: c[4] as i32,
            })
            .collect();
        let requant = entries.chunks(n as usize).map(<[_]>::to_vec).collect();
        let mut master = Vec::with_capacity(m as usize);
        for (index, c) in slice(lay.off_master, lay.off_synapse)
            .chunks_exact(5)
            .enumerate()
        {
            if c[4] & !(MASTER_FLAG_PAYLOAD | MASTER_FLAG_BITMAP) != 0 {
                return Err(ImageError::Master {
                    index,
                    reason: format!("unknown flag bits in 0x{:08x}", c[4]),
                });
            }
            master.push(MasterEntry {
                key: c[0],
                mask: c[1],
                index_off: c[2],
                n_rows: c[3],
                payload: c[4] & MASTER_FLAG_PAYLOAD != 0,
                bitmap: c[4] & MASTER_FLAG_BITMAP != 0,
            });
        }
        let img = PeImage {
            role,
            n,
            key_base: h(hw::KEY_BASE),
            record: flags & FLAG_RECORD != 0,
            payload: flags & FLAG_PAYLOAD != 0,
            reset_subtract: flags & FLAG_RESET_SUBTRACT != 0,
            sends: flags & FLAG_SENDS != 0,
            synapses_dram: flags & FLAG_SYNAPSES_DRAM != 0,
            start_tick: h(hw::START_TICK),
            state_bits: h(hw::STATE_BITS),
            frac_bits: h(hw::FRAC_BITS),
            k,
            d: h(hw::D),
            first: h(hw::FIRST),
            neurons,
            requant,
            master,
            synapses: slice(lay.off_synapse, lay.total).to_vec(),
        };
        img.validate()?;
        Ok(img)
    }
}

/// FNV-1a 32 over the little-endian bytes of `words` (the checksum word must already be 0),
/// without materialising the bytes: images of large models run to hundreds of megabytes.
fn checksum(words: &[u32]) -> u32 {
    words.iter().fold(0x811c_9dc5u32, |h, w| {
        w.to_le_bytes()
            .iter()
            .fold(h, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
    })
}

/// Little-endian bytes of `words`.
fn bytes_of(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

#[cfg(test)]
#[path = "image_tests.rs"]
mod tests;
