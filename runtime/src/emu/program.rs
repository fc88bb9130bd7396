//! What one PE runs, flattened from its decoded data image for the hot loops: synapse words stay
//! in one `u32` slice (decoded on the fly, as the C kernel does), parameters become plain
//! vectors indexed `[k · n + i]`, and each master entry knows which cost-model path (event or
//! MAC) its packets take.

use super::error::EmuError;
use snnc_targets::spinnaker2::artifact::{KernelKind, Manifest, PeImage, PeRole};

/// One master-table entry as the emulator uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Master {
    pub key: u32,
    pub mask: u32,
    /// Word offset of the row-pointer array in the synapse section.
    pub index_off: u32,
    pub n_rows: u32,
    /// Weights are multiplied by the packet payload.
    pub payload: bool,
    /// Packets of this entry are charged to the MAC array (cost model), not per synapse.
    pub mac: bool,
    /// Index of the entry's row 0 in [`PeProgram::spans`].
    pub span_base: u32,
}

/// A PE's program: header fields, parameters and synaptic matrix of its image, plus where it
/// sits on the NoC.
#[derive(Clone, Debug)]
pub(crate) struct PeProgram {
    /// Global PE id.
    pub pe: u32,
    /// Router index on the global QPE grid (`gy · width + gx`) and the PE's local port there.
    pub router: (u32, u32),
    pub local: u8,
    /// Population index in the manifest.
    pub population: usize,
    pub lif: bool,
    pub n: usize,
    pub key_base: u32,
    pub record: bool,
    pub payload: bool,
    pub reset_subtract: bool,
    pub sends: bool,
    pub start_tick: u64,
    /// Membrane register range, `[-2^(B-1), 2^(B-1) - 1]`.
    pub state_lo: i64,
    pub state_hi: i64,
    pub frac_bits: u32,
    /// Synapse types and delay-ring slots.
    pub k: usize,
    pub d: usize,
    pub first: usize,
    pub decay: Vec<i64>,
    pub bias: Vec<i64>,
    pub threshold: Vec<i64>,
    pub v_reset: Vec<i64>,
    /// Requant parameters, `[k · n + i]`.
    pub rq_m: Vec<i64>,
    pub rq_s: Vec<u32>,
    pub rq_zp: Vec<i64>,
    pub rq_lo: Vec<i64>,
    pub rq_hi: Vec<i64>,
    /// Sorted by key, disjoint prefix-mask blocks (the image validator guarantees it).
    pub master: Vec<Master>,
    pub synapses: Vec<u32>,
    /// Per row of every master entry: `(start, len)` of its synapse words in `synapses`,
    /// resolved from the row pointers (or row bitmap) and counts once at load time; `(0, 0)`
    /// for an absent row of a BITMAP entry (a present row starts after its count word, so at
    /// least at 1).
    pub spans: Vec<(u32, u32)>,
    /// The synapse section lives in the chip's DRAM: every present row a packet selects is
    /// fetched by DMA (cost model).
    pub synapses_dram: bool,
    /// Bytes of the encoded image kept in SRAM, of its synapse section in DRAM (0 unless
    /// SYNAPSES_DRAM), and of the runtime state (`v`, `acc`).
    pub image_bytes: u64,
    pub dram_bytes: u64,
    pub state_bytes: u64,
}

impl PeProgram {
    /// Flattens a decoded (hence validated) image of PE `pe`. `router`/`local` place it on the
    /// NoC; `manifest` tells which master entries belong to MAC-kernel projections: an entry's
    /// key block lies in a slice of a pre population, and the projection from that population
    /// into this PE's population says `"mac"` (all such projections must, if there are several).
    pub(crate) fn new(
        pe: u32,
        router: (u32, u32),
        local: u8,
        population: usize,
        image: &PeImage,
        manifest: &Manifest,
    ) -> Result<PeProgram, EmuError> {
        let what = || format!("PE {pe}");
        let n = image.n as usize;
        let k = image.k as usize;
        let lif = image.role == PeRole::Lif;
        let (state_lo, state_hi) = if lif {
            if !(2..=32).contains(&image.state_bits) {
                return Err(EmuError::artifact(
                    what(),
                    format!("state_bits {} is not in 2..=32", image.state_bits),
                ));
            }
            let half = 1i64 << (image.state_bits - 1);
            (-half, half - 1)
        } else {
            (0, 0)
        };
        if lif && (image.neurons.len() != n || image.requant.len() != k) {
            return Err(EmuError::artifact(
                what(),
                "neuron or requant section does not match n and K",
            ));
        }
        let mut rq_m = Vec::with_capacity(k * n);
        let mut rq_s = Vec::with_capacity(k * n);
        let mut rq_zp = Vec::with_capacity(k * n);
        let mut rq_lo = Vec::with_capacity(k * n);
        let mut rq_hi = Vec::with_capacity(k * n);
        for per_type in &image.requant {
            if per_type.len() != n {
                return Err(EmuError::artifact(what(), "requant section is not K x n"));
            }
            for r in per_type {
                if r.multiplier < 0 || r.shift > 62 {
                    return Err(EmuError::artifact(
                        what(),
                        format!(
                            "requant multiplier {} / shift {} out of range",
                            r.multiplier, r.shift
                        ),
                    ));
                }
                rq_m.push(i64::from(r.multiplier));
                rq_s.push(r.shift);
                rq_zp.push(i64::from(r.zero_point));
                rq_lo.push(i64::from(r.lo));
                rq_hi.push(i64::from(r.hi));
            }
        }
        let mut master = Vec::with_capacity(image.master.len());
        let mut spans = Vec::new();
        for (index, e) in image.master.iter().enumerate() {
            let span_base = u32::try_from(spans.len())
                .map_err(|_| EmuError::artifact(what(), "more than 2^32 rows"))?;
            for j in 0..e.n_rows {
                // The image's own decoder: plain row-pointer arrays and BITMAP entries alike.
                let (start, count) = image.row_span(e, j).ok_or_else(|| {
                    EmuError::artifact(
                        what(),
                        format!("master entry {index} row {j} is outside the synapse section"),
                    )
                })?;
                let too_big = || EmuError::artifact(what(), "synapse section beyond 2^32 words");
                spans.push((
                    u32::try_from(start).map_err(|_| too_big())?,
                    u32::try_from(count).map_err(|_| too_big())?,
                ));
            }
            master.push(Master {
                key: e.key,
                mask: e.mask,
                index_off: e.index_off,
                n_rows: e.n_rows,
                payload: e.payload,
                mac: is_mac_block(manifest, population, e.key),
                span_base,
            });
        }
        // SRAM holds the image minus a synapse section that lives in DRAM.
        let image_bytes = image.sram_words().saturating_mul(4);
        let dram_bytes = image.dram_bytes();
        Ok(PeProgram {
            pe,
            router,
            local,
            population,
            lif,
            n,
            key_base: image.key_base,
            record: image.record,
            payload: image.payload,
            reset_subtract: image.reset_subtract,
            sends: image.sends,
            start_tick: u64::from(image.start_tick),
            state_lo,
            state_hi,
            frac_bits: image.frac_bits,
            k,
            d: (image.d as usize).max(1),
            first: image.first as usize,
            decay: image.neurons.iter().map(|p| i64::from(p.decay)).collect(),
            bias: image.neurons.iter().map(|p| i64::from(p.bias)).collect(),
            threshold: image
                .neurons
                .iter()
                .map(|p| i64::from(p.threshold))
                .collect(),
            v_reset: image.neurons.iter().map(|p| i64::from(p.v_reset)).collect(),
            rq_m,
            rq_s,
            rq_zp,
            rq_lo,
            rq_hi,
            master,
            synapses: image.synapses.clone(),
            spans,
            synapses_dram: image.synapses_dram,
            image_bytes,
            dram_bytes,
            state_bytes: if lif {
                image.state_bytes()
            } else {
                snnc_targets::spinnaker2::cost::source_state_bytes(n as u64)
            },
        })
    }

    /// Index of the master entry matching `key` by binary search (blocks are sorted and
    /// disjoint, so at most one matches).
    #[inline]
    pub(crate) fn lookup(&self, key: u32) -> Option<usize> {
        let i = self
            .master
            .partition_point(|e| e.key <= key)
            .checked_sub(1)?;
        let e = self.master.get(i)?;
        (key & e.mask == e.key).then_some(i)
    }
}

/// Whether the key block at `key` feeding population `post` comes only from MAC-kernel
/// projections (see [`PeProgram::new`]). Unknown blocks count as event-driven.
fn is_mac_block(manifest: &Manifest, post: usize, key: u32) -> bool {
    let pre = manifest.populations.iter().position(|p| {
        p.slices
            .iter()
            .any(|s| key & s.mask == s.key & s.mask && s.mask != 0)
    });
    let Some(pre) = pre else { return false };
    let mut kinds = manifest
        .projections
        .iter()
        .filter(|p| p.pre == pre && p.post == post)
        .map(|p| p.kernel)
        .peekable();
    kinds.peek().is_some() && kinds.all(|k| k == KernelKind::Mac)
}
