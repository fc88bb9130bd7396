//! Data images: the synaptic matrix, neuron and requant parameters of every slice, laid out in
//! the PE image format (`artifact::image`).
//!
//! Synaptic matrix of a LIF slice: for every pre population feeding it, and every slice of that
//! population, the rows of the pre neurons that reach this slice (the synapses of every
//! projection from that pre population, each with its synapse type `k` = the projection's index
//! among the post population's incoming projections, and its delay from the schedule). Rows of
//! one pre slice are found through master entries keyed by the pre slice's key block. To keep
//! sparse connectivity from paying a row pointer for every pre neuron of every pre slice, the
//! builder cuts each pre slice's key block into aligned sub-blocks of `2^b` keys and emits one
//! master entry per sub-block that holds a non-empty row (its `n_rows` ending at the last such
//! row), with `b` chosen per (pre slice, post slice) to minimise words: dense connectivity gets
//! one entry per pre slice (the spec's default), sparse one entry per handful of pre neurons.
//! Packets of pre neurons without a row match no entry (or fall past `n_rows`) and are skipped,
//! exactly as if their row were empty. Word 0 of the synapse section is the shared empty row.
//!
//! Slices of DRAM populations (`PopulationPlan::dram`, image flag SYNAPSES_DRAM) keep their
//! master table, which stays in SRAM, at one entry per pre slice with rows here (the bound the
//! partitioner budgeted), and make each entry a BITMAP entry when a bit per pre neuron plus a
//! pointer per present row is smaller than a pointer per pre neuron: sparse connectivity then
//! costs DRAM in proportion to its synapses, not to the pre population.
//!
//! Synapses are found without per-synapse heap objects: per post population, one counting sort
//! buckets every projection's synapse indices by post slice (pre ascending, then post), so each
//! slice reads only its own synapses. Images of a population are built in parallel (rayon) and
//! collected in slice order, so the result does not depend on the thread count.

use rayon::prelude::*;

use std::collections::BTreeMap;

use super::artifact::image::{
    bitmap_words, synapse_word, MasterEntry, NeuronParams, PeImage, PeRole, RequantEntry,
};
use super::artifact::manifest::KernelKind;
use super::cost;
use super::error::Spinnaker2Error;
use super::machine::{Machine, PeId};
use super::network::{Network, PopulationKind, Reset, Schedule};
use super::partition::{groups, NetInfo, Partition};
use super::routing::KeyRange;

/// One built slice: its image and the figures the manifest and report need.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltSlice {
    /// Population index.
    pub population: usize,
    /// Slice index within the population.
    pub slice: usize,
    /// The PE it runs on.
    pub pe: PeId,
    /// The data image.
    pub image: PeImage,
    /// Image (without a DRAM synapse section) + runtime state + spike buffer
    /// ([`cost::pe_sram_bytes`]).
    pub sram_bytes: u64,
    /// Bytes of the chip's DRAM the slice's synapse section takes (0 when in SRAM).
    pub dram_bytes: u64,
    /// Cost-model cycles per tick at the partition's rate assumption.
    pub est_cycles_per_tick: u64,
    /// Synapses stored in the image.
    pub synapses: u64,
}

/// Synapses of one projection bucketed by post slice: bucket `s` is
/// `pre[offsets[s]..offsets[s + 1]]` / `word[..]`, sorted by pre, then post. `word` is the
/// finished synapse word (post index local to the slice, the projection's delay and type), so
/// slices read their synapses sequentially instead of chasing indices into the network's CSR
/// (random reads that dominated at 10^8 synapses).
struct Buckets {
    offsets: Vec<usize>,
    pre: Vec<u32>,
    word: Vec<u32>,
}

fn too_many(what: &str) -> Spinnaker2Error {
    Spinnaker2Error::TooBig {
        reason: format!("{what} has 2^32 or more synapses"),
    }
}

/// Counting sort of a projection's synapses by post slice (`slice_size` neurons per slice),
/// encoding each as a synapse word with `delay` and type `k`.
fn bucket(
    net: &Network,
    j: usize,
    slice_size: u32,
    slices: u32,
    delay: u32,
    k: u32,
) -> Result<Buckets, Spinnaker2Error> {
    let p = &net.projections[j];
    let rows = &p.rows;
    if rows.post.len() >= u32::MAX as usize {
        return Err(too_many(&format!("projection `{}`", p.name)));
    }
    let per = slice_size.max(1);
    let mut offsets = vec![0usize; slices as usize + 1];
    for &q in &rows.post {
        if let Some(c) = offsets.get_mut((q / per) as usize + 1) {
            *c += 1;
        }
    }
    for s in 1..offsets.len() {
        offsets[s] += offsets[s - 1];
    }
    let total = offsets.last().copied().unwrap_or(0);
    let mut cursor = offsets.clone();
    let mut pre = vec![0u32; total];
    let mut word = vec![0u32; total];
    for i in 0..rows.n_rows() {
        let (lo, hi) = (rows.offsets[i] as usize, rows.offsets[i + 1] as usize);
        let posts = rows.post.get(lo..hi).unwrap_or(&[]);
        let weights = rows.weight.get(lo..hi).unwrap_or(&[]);
        for (&q, &w) in posts.iter().zip(weights) {
            let s = q / per;
            if let Some(c) = cursor.get_mut(s as usize) {
                let syn = synapse_word(q - s * per, delay, k, w).map_err(|e| {
                    Spinnaker2Error::Overflow {
                        what: format!("synapse of projection `{}`", p.name),
                        reason: e.to_string(),
                    }
                })?;
                if let (Some(a), Some(b)) = (pre.get_mut(*c), word.get_mut(*c)) {
                    *a = i as u32;
                    *b = syn;
                }
                *c += 1;
            }
        }
    }
    Ok(Buckets { offsets, pre, word })
}

/// What the image builder needs about one incoming pre population of a post population.
struct Group {
    pre: usize,
    /// `(projection, synapse type k)` in k order.
    projs: Vec<(usize, u32)>,
    payload: bool,
    kernel: KernelKind,
    rate: f64,
}

/// A cursor over one projection's bucket of the slice being built.
struct Segment<'a> {
    buckets: &'a Buckets,
    at: usize,
    end: usize,
}

/// Shared read-only inputs of image building.
struct Ctx<'a> {
    net: &'a Network,
    info: &'a NetInfo,
    part: &'a Partition,
    schedule: &'a Schedule,
    keys: &'a [Vec<KeyRange>],
    pes: &'a [Vec<PeId>],
    machine: &'a Machine,
}

/// Master entries and words of one pre slice's rows. `rows` holds `(local pre index, start,
/// len)` into `scratch` (synapse words), ascending by local index. `dram`: one entry for the
/// whole pre slice, BITMAP when smaller (module docs).
#[allow(clippy::too_many_arguments)]
fn emit_block(
    key: KeyRange,
    slice_n: u32,
    payload: bool,
    dram: bool,
    rows: &[(u32, u32, u32)],
    scratch: &[u32],
    master: &mut Vec<MasterEntry>,
    words: &mut Vec<u32>,
) -> Result<(), Spinnaker2Error> {
    if rows.is_empty() {
        return Ok(());
    }
    if dram {
        return emit_dram_block(key, slice_n, payload, rows, scratch, master, words);
    }
    // Cost of sub-blocks of 2^b keys: 5 master words + pointers up to the last row per block;
    // the whole slice block (b = bits) keeps a pointer for every neuron of the pre slice, so
    // dense connectivity gets the plain one-entry-per-pre-slice layout and no packet of the
    // slice misses it. Ties go to larger blocks.
    let mut best = (u64::MAX, 0u32);
    for b in 0..=key.bits.min(31) {
        if b == key.bits {
            let cost = 5 + u64::from(slice_n);
            if cost <= best.0 {
                best = (cost, b);
            }
            continue;
        }
        let mut cost = 0u64;
        let mut block: Option<(u32, u32)> = None;
        for &(j, _, _) in rows {
            let blk = j >> b;
            match block {
                Some((id, _)) if id == blk => block = Some((id, j)),
                _ => {
                    if let Some((id, last)) = block {
                        cost += 5 + u64::from(last - (id << b)) + 1;
                    }
                    block = Some((blk, j));
                }
            }
        }
        if let Some((id, last)) = block {
            cost += 5 + u64::from(last - (id << b)) + 1;
        }
        if cost <= best.0 {
            best = (cost, b);
        }
    }
    let b = best.1;
    let overflow = || Spinnaker2Error::TooBig {
        reason: "a PE's synapse section exceeds 2^32 words".into(),
    };
    let mut i = 0;
    while i < rows.len() {
        let blk = rows[i].0 >> b;
        let end = i + rows[i..].partition_point(|r| r.0 >> b == blk);
        let base = blk << b;
        let last = rows[end - 1].0;
        let n_rows = if b == key.bits {
            slice_n.max(last + 1)
        } else {
            last - base + 1
        };
        let index_off = u32::try_from(words.len()).map_err(|_| overflow())?;
        master.push(MasterEntry {
            key: key.base | base,
            mask: u32::MAX << b,
            index_off,
            n_rows,
            payload,
            bitmap: false,
        });
        let ptrs = words.len();
        words.resize(ptrs + n_rows as usize, 0);
        for &(j, start, len) in &rows[i..end] {
            let at = u32::try_from(words.len()).map_err(|_| overflow())?;
            if let Some(p) = words.get_mut(ptrs + (j - base) as usize) {
                *p = at;
            }
            words.push(len);
            words.extend_from_slice(
                scratch
                    .get(start as usize..(start + len) as usize)
                    .unwrap_or(&[]),
            );
        }
        i = end;
    }
    Ok(())
}

/// [`emit_block`] for a DRAM slice: one entry covering the pre slice's whole key block, its
/// pointers a plain array (a word per pre neuron) or a BITMAP (a bit per pre neuron and a word
/// per present row), whichever is smaller; ties keep the plain array.
fn emit_dram_block(
    key: KeyRange,
    slice_n: u32,
    payload: bool,
    rows: &[(u32, u32, u32)],
    scratch: &[u32],
    master: &mut Vec<MasterEntry>,
    words: &mut Vec<u32>,
) -> Result<(), Spinnaker2Error> {
    let overflow = || Spinnaker2Error::TooBig {
        reason: "a PE's synapse section exceeds 2^32 words".into(),
    };
    let last = rows.last().map_or(0, |r| r.0);
    let n_rows = slice_n.max(last + 1);
    let nbw = bitmap_words(n_rows);
    let bitmap = u64::from(nbw) + (rows.len() as u64) < u64::from(n_rows);
    let index_off = u32::try_from(words.len()).map_err(|_| overflow())?;
    master.push(MasterEntry {
        key: key.base,
        mask: key.mask,
        index_off,
        n_rows,
        payload,
        bitmap,
    });
    let base = words.len();
    let ptrs = if bitmap { base + nbw as usize } else { base };
    let ptr_words = if bitmap {
        nbw as usize + rows.len()
    } else {
        n_rows as usize
    };
    words.resize(base + ptr_words, 0);
    for (rank, &(j, start, len)) in rows.iter().enumerate() {
        let at = u32::try_from(words.len()).map_err(|_| overflow())?;
        let slot = if bitmap {
            if let Some(w) = words.get_mut(base + (j / 32) as usize) {
                *w |= 1 << (j % 32);
            }
            ptrs + rank
        } else {
            ptrs + j as usize
        };
        if let Some(p) = words.get_mut(slot) {
            *p = at;
        }
        words.push(len);
        words.extend_from_slice(
            scratch
                .get(start as usize..(start + len) as usize)
                .unwrap_or(&[]),
        );
    }
    Ok(())
}

/// Builds the image of LIF slice `slice` of population `pop`.
fn lif_slice(
    ctx: &Ctx,
    pop: usize,
    slice: usize,
    groups: &[Group],
    buckets: &[(usize, Buckets)],
) -> Result<BuiltSlice, Spinnaker2Error> {
    let net = ctx.net;
    let p = &net.populations[pop];
    let PopulationKind::Lif(lif) = &p.kind else {
        return Err(Spinnaker2Error::Mapping {
            what: format!("population `{}`", p.name),
            reason: "not a LIF population".into(),
        });
    };
    let (first, n) = ctx
        .part
        .slice_range(net, pop, slice as u32)
        .ok_or_else(|| Spinnaker2Error::Mapping {
            what: format!("population `{}`", p.name),
            reason: format!("slice {slice} does not exist"),
        })?;
    let range = first as usize..(first + n) as usize;
    let neurons: Vec<NeuronParams> = range
        .clone()
        .map(|i| NeuronParams {
            decay: lif.decay[i],
            bias: lif.bias[i],
            threshold: lif.threshold[i],
            v_reset: lif.v_reset[i],
        })
        .collect();
    let incoming = &ctx.info.incoming[pop];
    let requant: Vec<Vec<RequantEntry>> = incoming
        .iter()
        .map(|&j| {
            let r = &net.projections[j].requant;
            range
                .clone()
                .map(|i| RequantEntry {
                    multiplier: r.multiplier[i],
                    shift: r.shift[i],
                    zero_point: r.zero_point,
                    lo: r.lo,
                    hi: r.hi,
                })
                .collect()
        })
        .collect();
    let mut master = Vec::new();
    let mut words: Vec<u32> = vec![0];
    let mut scratch: Vec<u32> = Vec::new();
    let mut rows: Vec<(u32, u32, u32)> = Vec::new();
    let mut cycles = cost::TICK_OVERHEAD_CYCLES as f64;
    let mut synapses = 0u64;
    let dram = ctx.part.plans[pop].dram;
    let chip = &ctx.machine.chip;
    let macs = chip.macs_per_cycle;
    for g in groups {
        let pre_plan = &ctx.part.plans[g.pre];
        let pre_size = net.populations[g.pre].size as f64;
        cycles += pre_size * g.rate * cost::PACKET_CYCLES as f64;
        // Per projection of the group: its bucket segment for this slice and a cursor.
        let mut segs: Vec<Segment> = Vec::new();
        for &(j, _) in &g.projs {
            let Some((_, b)) = buckets.iter().find(|(bj, _)| *bj == j) else {
                continue;
            };
            let (lo, hi) = (b.offsets[slice], b.offsets[slice + 1]);
            segs.push(Segment {
                buckets: b,
                at: lo,
                end: hi,
            });
            synapses += (hi - lo) as u64;
        }
        let mut current_slice: Option<usize> = None;
        loop {
            // Next pre neuron: the smallest pre among the cursors.
            let next = segs
                .iter()
                .filter(|s| s.at < s.end)
                .map(|s| s.buckets.pre[s.at])
                .min();
            let pre_slice = next.map(|i| (i / pre_plan.slice_size.max(1)) as usize);
            if pre_slice != current_slice {
                if let Some(a) = current_slice {
                    let key = ctx.keys[g.pre][a];
                    let pre_n = ctx
                        .part
                        .slice_range(net, g.pre, a as u32)
                        .map_or(0, |(_, c)| c);
                    emit_block(
                        key,
                        pre_n,
                        g.payload,
                        dram,
                        &rows,
                        &scratch,
                        &mut master,
                        &mut words,
                    )?;
                }
                rows.clear();
                scratch.clear();
                current_slice = pre_slice;
            }
            let Some(i) = next else { break };
            let start = scratch.len() as u32;
            for seg in segs.iter_mut() {
                let b = seg.buckets;
                let from = seg.at;
                while seg.at < seg.end && b.pre[seg.at] == i {
                    seg.at += 1;
                }
                scratch.extend_from_slice(&b.word[from..seg.at]);
            }
            let len = scratch.len() as u32 - start;
            let local = i - pre_slice.unwrap_or(0) as u32 * pre_plan.slice_size;
            rows.push((local, start, len));
            cycles += g.rate * cost::row_cycles(g.kernel, u64::from(len), macs) as f64;
            if dram {
                cycles += g.rate
                    * cost::dram_row_cycles(
                        u64::from(len),
                        chip.dram_row_setup_cycles,
                        chip.dram_bytes_per_cycle,
                    ) as f64;
            }
        }
    }
    let k = incoming.len() as u32;
    let d = ctx.info.slots[pop];
    let sends = !ctx.info.outgoing[pop].is_empty();
    cycles += cost::neuron_cycles(u64::from(n), k) as f64;
    // Every spike costs its handling (recorded or sent), as the emulator and the partitioner
    // charge it, whether or not the population has outgoing projections.
    cycles += f64::from(n) * ctx.info.rate[pop] * cost::SPIKE_SENT_CYCLES as f64;
    if master.is_empty() {
        words.clear();
    }
    let image = PeImage {
        role: PeRole::Lif,
        n,
        key_base: ctx.keys[pop][slice].base,
        record: pop == net.output.population,
        payload: false,
        reset_subtract: lif.reset == Reset::Subtract,
        sends,
        synapses_dram: dram,
        start_tick: ctx.schedule.depth[pop],
        state_bits: lif.state_bits,
        frac_bits: lif.frac_bits,
        k,
        d,
        first,
        neurons,
        requant,
        master,
        synapses: words,
    };
    let sram_bytes = cost::pe_sram_bytes(
        image.sram_words(),
        cost::lif_state_bytes(u64::from(n), d, k),
        u64::from(n),
    );
    Ok(BuiltSlice {
        population: pop,
        slice,
        pe: ctx.pes[pop][slice],
        dram_bytes: image.dram_bytes(),
        image,
        sram_bytes,
        est_cycles_per_tick: cycles.ceil() as u64,
        synapses,
    })
}

/// Builds the image of source slice `slice` of population `pop`.
fn source_slice(ctx: &Ctx, pop: usize, slice: usize) -> Result<BuiltSlice, Spinnaker2Error> {
    let net = ctx.net;
    let (first, n) = ctx
        .part
        .slice_range(net, pop, slice as u32)
        .ok_or_else(|| Spinnaker2Error::Mapping {
            what: format!("population `{}`", net.populations[pop].name),
            reason: format!("slice {slice} does not exist"),
        })?;
    let sends = !ctx.info.outgoing[pop].is_empty();
    let mut image = PeImage::source(
        n,
        ctx.keys[pop][slice].base,
        first,
        ctx.info.payload[pop],
        sends,
    );
    image.record = pop == net.output.population;
    let spikes = if sends {
        f64::from(n) * ctx.info.rate[pop]
    } else {
        0.0
    };
    let cycles = cost::TICK_OVERHEAD_CYCLES as f64
        + cost::source_cycles(u64::from(n)) as f64
        + spikes * cost::SPIKE_SENT_CYCLES as f64;
    Ok(BuiltSlice {
        population: pop,
        slice,
        pe: ctx.pes[pop][slice],
        sram_bytes: cost::pe_sram_bytes(
            image.words(),
            cost::source_state_bytes(u64::from(n)),
            u64::from(n),
        ),
        dram_bytes: 0,
        image,
        est_cycles_per_tick: cycles.ceil() as u64,
        synapses: 0,
    })
}

/// Builds every slice's image, populations in network order, slices in order.
#[allow(clippy::too_many_arguments)]
pub fn build_images(
    net: &Network,
    info: &NetInfo,
    part: &Partition,
    schedule: &Schedule,
    keys: &[Vec<KeyRange>],
    pes: &[Vec<PeId>],
    machine: &Machine,
) -> Result<Vec<BuiltSlice>, Spinnaker2Error> {
    let ctx = Ctx {
        net,
        info,
        part,
        schedule,
        keys,
        pes,
        machine,
    };
    let budget = machine.sram_budget_per_pe();
    let mut out = Vec::new();
    for (pop, p) in net.populations.iter().enumerate() {
        let plan = &part.plans[pop];
        let slices = plan.slices as usize;
        let built: Vec<BuiltSlice> = match p.kind {
            PopulationKind::Source => (0..slices)
                .map(|s| source_slice(&ctx, pop, s))
                .collect::<Result<_, _>>()?,
            PopulationKind::Lif(_) => {
                let gs: Vec<Group> = groups(net, info, pop)
                    .into_iter()
                    .map(|(pre, projs)| {
                        let with_k: Vec<(usize, u32)> = projs
                            .iter()
                            .map(|&j| {
                                let k =
                                    info.incoming[pop].iter().position(|&x| x == j).unwrap_or(0);
                                (j, k as u32)
                            })
                            .collect();
                        let kernel = cost::group_kernel(projs.iter().map(|&j| {
                            let pr = &net.projections[j];
                            cost::kernel_kind(pr.payload, pr.weight_bits)
                        }));
                        Group {
                            pre,
                            projs: with_k,
                            payload: info.payload[pre],
                            kernel,
                            rate: info.rate[pre],
                        }
                    })
                    .collect();
                let buckets = info.incoming[pop]
                    .par_iter()
                    .enumerate()
                    .map(|(k, &j)| {
                        let delay = schedule.delay.get(j).copied().unwrap_or(1);
                        bucket(net, j, plan.slice_size, plan.slices, delay, k as u32)
                            .map(|b| (j, b))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                (0..slices)
                    .into_par_iter()
                    .map(|s| lif_slice(&ctx, pop, s, &gs, &buckets))
                    .collect::<Result<_, _>>()?
            }
        };
        for b in &built {
            if b.sram_bytes > budget {
                return Err(Spinnaker2Error::TooBig {
                    reason: format!(
                        "slice {} of population `{}` on {} needs {} bytes of SRAM, the budget \
                         per PE is {budget} bytes",
                        b.slice, p.name, b.pe, b.sram_bytes
                    ),
                });
            }
        }
        out.extend(built);
    }
    check_dram(&out, net, machine)?;
    Ok(out)
}

/// DRAM used per chip `(chip_x, chip_y) -> bytes`, chips without DRAM sections left out.
pub fn dram_per_chip(built: &[BuiltSlice], machine: &Machine) -> BTreeMap<(u32, u32), u64> {
    let mut per_chip: BTreeMap<(u32, u32), u64> = BTreeMap::new();
    for b in built.iter().filter(|b| b.dram_bytes > 0) {
        if let Some(c) = machine.pe_coord(b.pe) {
            *per_chip.entry((c.chip_x, c.chip_y)).or_default() += b.dram_bytes;
        }
    }
    per_chip
}

/// Every chip's DRAM sections must fit its DRAM (partitioning keeps each slice within its
/// PE's share, so this only fails on machines the share does not describe).
fn check_dram(
    built: &[BuiltSlice],
    net: &Network,
    machine: &Machine,
) -> Result<(), Spinnaker2Error> {
    for ((x, y), bytes) in dram_per_chip(built, machine) {
        if bytes > machine.chip.dram_bytes {
            let pops: std::collections::BTreeSet<&str> = built
                .iter()
                .filter(|b| {
                    b.dram_bytes > 0
                        && machine
                            .pe_coord(b.pe)
                            .is_some_and(|c| (c.chip_x, c.chip_y) == (x, y))
                })
                .filter_map(|b| net.populations.get(b.population).map(|p| p.name.as_str()))
                .collect();
            return Err(Spinnaker2Error::TooBig {
                reason: format!(
                    "chip ({x}, {y}) needs {bytes} bytes of DRAM for the synapses of {}, it has \
                     {} bytes",
                    pops.into_iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    machine.chip.dram_bytes
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spinnaker2::artifact::image::Synapse;
    use crate::spinnaker2::synthetic;

    fn key(base: u32, bits: u32) -> KeyRange {
        KeyRange {
            base,
            mask: u32::MAX << bits,
            bits,
        }
    }

    #[test]
    fn dense_rows_get_one_entry_per_pre_slice() {
        // 8 rows of 2 synapses in an 8-key block.
        let scratch: Vec<u32> = (0..16).collect();
        let rows: Vec<(u32, u32, u32)> = (0..8).map(|j| (j, 2 * j, 2)).collect();
        let (mut master, mut words) = (Vec::new(), vec![0]);
        let r = emit_block(
            key(0x40, 3),
            8,
            true,
            false,
            &rows,
            &scratch,
            &mut master,
            &mut words,
        );
        assert!(r.is_ok());
        assert_eq!(master.len(), 1);
        let e = master[0];
        assert_eq!(
            (e.key, e.mask, e.index_off, e.n_rows, e.payload),
            (0x40, !7, 1, 8, true)
        );
        // Pointers then rows [2, a, b].
        assert_eq!(words.len(), 1 + 8 + 8 * 3);
        assert_eq!(words[1], 9);
        assert_eq!(&words[9..12], &[2, 0, 1]);
        assert_eq!(&words[words[8] as usize..], &[2, 14, 15]);
    }

    #[test]
    fn sparse_rows_get_small_blocks() {
        // Rows 3 and 200 of a 256-key block: two exact entries (6 words each) beat one entry
        // with 201 pointers.
        let scratch = vec![7, 8];
        let rows = vec![(3, 0, 1), (200, 1, 1)];
        let (mut master, mut words) = (Vec::new(), vec![0]);
        let r = emit_block(
            key(0x100, 8),
            256,
            false,
            false,
            &rows,
            &scratch,
            &mut master,
            &mut words,
        );
        assert!(r.is_ok());
        let got: Vec<(u32, u32, u32)> = master.iter().map(|e| (e.key, e.mask, e.n_rows)).collect();
        assert_eq!(got, vec![(0x103, u32::MAX, 1), (0x1C8, u32::MAX, 1)]);
        assert_eq!(words, vec![0, 2, 1, 7, 5, 1, 8]);
        // A 4-neuron pre slice with rows 0, 1 and 3: 9 words for any b >= 2, and ties go to
        // the whole slice block, which keeps all 4 pointers.
        let rows = vec![(0, 0, 1), (1, 1, 1), (3, 0, 1)];
        let (mut master, mut words) = (Vec::new(), vec![0]);
        let r = emit_block(
            key(0x100, 8),
            4,
            false,
            false,
            &rows,
            &scratch,
            &mut master,
            &mut words,
        );
        assert!(r.is_ok());
        let got: Vec<(u32, u32, u32)> = master.iter().map(|e| (e.key, e.mask, e.n_rows)).collect();
        assert_eq!(got, vec![(0x100, !0xFF, 4)]);
        // Row 2 is empty: it points at the shared empty row, word 0.
        assert_eq!(words[1 + 2], 0);
    }

    #[test]
    fn dram_blocks_are_one_entry_plain_or_bitmap() {
        // Rows 3 and 200 of a 256-neuron pre slice: a bitmap (8 words) + 2 pointers beat 256.
        let scratch = vec![7, 8];
        let rows = vec![(3, 0, 1), (200, 1, 1)];
        let (mut master, mut words) = (Vec::new(), vec![0]);
        let r = emit_block(
            key(0x100, 8),
            256,
            false,
            true,
            &rows,
            &scratch,
            &mut master,
            &mut words,
        );
        assert!(r.is_ok());
        let got: Vec<(u32, u32, u32, bool)> = master
            .iter()
            .map(|e| (e.key, e.mask, e.n_rows, e.bitmap))
            .collect();
        assert_eq!(got, vec![(0x100, !0xFF, 256, true)]);
        assert_eq!(words.len(), 1 + 8 + 2 + 4);
        assert_eq!(words[1], 1 << 3);
        assert_eq!(words[1 + 200 / 32], 1 << (200 % 32));
        assert_eq!(&words[9..11], &[11, 13]);
        assert_eq!(&words[11..], &[1, 7, 1, 8]);
        // Dense rows: the plain array is smaller and kept.
        let scratch: Vec<u32> = (0..8).collect();
        let rows: Vec<(u32, u32, u32)> = (0..8).map(|j| (j, j, 1)).collect();
        let (mut master, mut words) = (Vec::new(), vec![0]);
        let r = emit_block(
            key(0x40, 3),
            8,
            true,
            true,
            &rows,
            &scratch,
            &mut master,
            &mut words,
        );
        assert!(r.is_ok());
        assert_eq!(master.len(), 1);
        assert!(!master[0].bitmap);
        assert_eq!(words.len(), 1 + 8 + 16);
    }

    #[test]
    fn chip_dram_is_summed_and_checked() {
        let net = synthetic::layered(&[4, 3], 1, false);
        let mut m = Machine::tiny(2, 1);
        m.chip.dram_bytes = 1000;
        // PEs 0 and 1 on chip (0, 0), PE 16 on chip (1, 0).
        let slice = |pe: u32, dram: u64| BuiltSlice {
            population: 1,
            slice: 0,
            pe: PeId(pe),
            image: PeImage::source(1, 0, 0, false, false),
            sram_bytes: 0,
            dram_bytes: dram,
            est_cycles_per_tick: 0,
            synapses: 0,
        };
        let built = vec![slice(0, 600), slice(1, 300), slice(16, 50)];
        let per_chip = dram_per_chip(&built, &m);
        assert_eq!(per_chip.get(&(0, 0)), Some(&900));
        assert_eq!(per_chip.get(&(1, 0)), Some(&50));
        assert!(check_dram(&built, &net, &m).is_ok());
        let built = vec![slice(0, 600), slice(1, 500)];
        let msg = check_dram(&built, &net, &m)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.contains("chip (0, 0) needs 1100 bytes of DRAM for the synapses of `lif1`"),
            "{msg}"
        );
        assert!(msg.contains("it has 1000 bytes"), "{msg}");
    }

    #[test]
    fn buckets_split_synapses_by_post_slice() {
        let net = synthetic::layered(&[10, 7], 3, false);
        let Ok(b) = bucket(&net, 0, 3, 3, 2, 1) else {
            panic!("bucket")
        };
        let rows = &net.projections[0].rows;
        assert_eq!(b.offsets.len(), 4);
        assert_eq!(b.offsets[3], rows.post.len());
        let mut seen = 0;
        for s in 0..3 {
            let seg = b.offsets[s]..b.offsets[s + 1];
            let pres = &b.pre[seg.clone()];
            assert!(pres.windows(2).all(|w| w[0] <= w[1]));
            for (&i, &word) in pres.iter().zip(&b.word[seg]) {
                let syn = Synapse::decode(word);
                assert_eq!((syn.delay, syn.k), (2, 1));
                // The synapse (i -> 3s + post) with its weight is in the network's row i.
                let (lo, hi) = (rows.offsets[i as usize], rows.offsets[i as usize + 1]);
                let found = (lo..hi).any(|x| {
                    rows.post[x as usize] == 3 * s as u32 + syn.post
                        && rows.weight[x as usize] == i32::from(syn.weight)
                });
                assert!(found, "slice {s} pre {i} word {word:#x}");
                seen += 1;
            }
        }
        assert_eq!(seen, rows.post.len());
    }
}
