//! The delivery plan: for every key a PE can send, the PEs its multicast tree reaches (walked
//! once through the routing tables at load time) and, gathered next to each other, the synaptic
//! row each of those PEs' master tables selects for the key, with every synapse resolved to
//! its place in the emulator's delay ring ([`RingWord`]).
//!
//! Why: routing and the master-table lookup are static, so resolving them per packet at run
//! time only repeats work, and applying a spike then touches one contiguous run of memory
//! instead of one random row per target PE (the emulator's throughput is bound by those cache
//! misses). The rows are copies of the images' rows, applied with the kernel's semantics
//! (`pe.rs`), so results are those of executing the images. A target whose master table does
//! not match the key, or whose block has no row `j`, gets an empty "unmatched" segment: it still
//! receives (and pays for) the packet, as on hardware.

use std::sync::atomic::{AtomicU64, Ordering};

use super::error::EmuError;
use super::program::PeProgram;
use super::ring::{RingLayout, RingWord};
use super::router::TableRouter;
use crate::noc::{NocError, NocParams, PeId, Port, Router, RouterId, TreeSet, TreeShape};
use snnc_targets::spinnaker2::artifact::KernelKind;
use snnc_targets::spinnaker2::cost;
use snnc_targets::spinnaker2::machine::Machine;

/// One target of a key: the PE and its row (the row's words follow the previous segment's in
/// [`Plan::words`]), packed in 64 bits (target 20, flags 3, row length 17, cycles 24) because
/// applying a spike streams its segments from memory: half the bytes, half the wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Segment(u64);

impl Segment {
    /// Packs a segment; `None` if a field exceeds its width (a machine of more than 2^20 PEs,
    /// a row of 2^17 synapses, or 2^24 cycles for one packet: none is a real mapping).
    fn new(target: u32, len: u32, flags: u32, cycles: u64) -> Option<Segment> {
        (target < 1 << 20 && flags < 1 << 3 && len < 1 << 17 && cycles < 1 << 24).then(|| {
            Segment(
                u64::from(target) | u64::from(flags) << 20 | u64::from(len) << 23 | cycles << 40,
            )
        })
    }

    /// Emulator PE index of the target.
    #[inline]
    pub(crate) fn target(self) -> u32 {
        (self.0 & 0xf_ffff) as u32
    }

    /// Flags: [`SEG_PAYLOAD`], [`SEG_MAC`], [`SEG_UNMATCHED`].
    #[inline]
    pub(crate) fn flags(self) -> u32 {
        ((self.0 >> 20) & 0x7) as u32
    }

    /// Synapse words of the row.
    #[inline]
    pub(crate) fn len(self) -> u32 {
        ((self.0 >> 23) & 0x1_ffff) as u32
    }

    /// Cycles the target spends on the packet (cost model), precomputed.
    #[inline]
    pub(crate) fn cycles(self) -> u32 {
        (self.0 >> 40) as u32
    }
}

/// The row's weights are multiplied by the packet payload.
pub(crate) const SEG_PAYLOAD: u32 = 1;
/// The row is charged to the MAC array.
pub(crate) const SEG_MAC: u32 = 2;
/// The target's master table has no row for the key.
pub(crate) const SEG_UNMATCHED: u32 = 4;

/// Routing figures of one key's multicast tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TreeStats {
    /// Copies a router consumed without a route (table miss, default route off the board).
    pub lost: u32,
    /// Mesh links crossed.
    pub hops: u32,
    /// Copies delivered to a local port with no program on it.
    pub idle: u32,
}

/// Where one key's segments and words start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct KeyPlan {
    seg: u64,
    word: u64,
    stats: TreeStats,
    /// Root of the key's tree in the NoC model's [`TreeSet`] (see [`Plan::build_trees`]).
    tree: u32,
}

/// The delivery plan of every sending PE, neuron by neuron, in PE order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Plan {
    /// Per PE: index of its neuron 0 in `keys`, and its neuron count (0 if it sends nothing).
    pes: Vec<(usize, usize)>,
    /// One entry per sending neuron plus a final sentinel.
    keys: Vec<KeyPlan>,
    segments: Vec<Segment>,
    words: Vec<u64>,
}

/// A key's part of the plan, borrowed.
pub(crate) struct KeyView<'a> {
    pub segments: &'a [Segment],
    pub words: &'a [u64],
    pub stats: TreeStats,
    pub tree: u32,
}

/// Walks `key` from local port `local` of `source` through `router`; returns the targets (PE
/// indices, in walk order, a PE twice if two branches reach it) and the tree's figures.
/// `pe_at` maps `(router index, local port)` to a PE index. Errors on a routing loop.
fn walk(
    router: &TableRouter,
    source: RouterId,
    local: u8,
    key: u32,
    pe: u32,
    max_hops: u32,
    pe_at: &dyn Fn(u32, u8) -> Option<u32>,
) -> Result<(Vec<u32>, TreeStats), EmuError> {
    let mut targets = Vec::new();
    let mut stats = TreeStats::default();
    let mut stack: Vec<(RouterId, Port, u32)> = vec![(source, Port::Local(local), 0)];
    while let Some((at, in_port, hops)) = stack.pop() {
        let ports = router.route(at, key, in_port);
        if ports.is_empty() {
            stats.lost += 1;
            continue;
        }
        for idx in ports.indices() {
            match Port::from_index(idx) {
                Some(Port::Mesh(d)) => {
                    let (dx, dy) = d.delta();
                    let x = i64::from(at.x) + dx;
                    let y = i64::from(at.y) + dy;
                    let inside = x >= 0
                        && y >= 0
                        && x < i64::from(router.width())
                        && y < i64::from(router.height());
                    if !inside {
                        stats.lost += 1;
                        continue;
                    }
                    if hops >= max_hops {
                        return Err(EmuError::RoutingLoop {
                            key,
                            pe,
                            limit: max_hops,
                        });
                    }
                    stats.hops += 1;
                    stack.push((
                        RouterId::new(x as u32, y as u32),
                        Port::Mesh(d.opposite()),
                        hops + 1,
                    ));
                }
                Some(Port::Local(p)) => match pe_at(at.y * router.width() + at.x, p) {
                    Some(target) => targets.push(target),
                    None => stats.idle += 1,
                },
                None => stats.lost += 1,
            }
        }
    }
    Ok((targets, stats))
}

/// One PE's share of the plan while it is built (PEs are planned in parallel).
#[derive(Default)]
struct PePlan {
    keys: Vec<(u64, u64, TreeStats)>,
    segments: Vec<Segment>,
    words: Vec<u64>,
}

/// What planning one PE needs to know, shared by the parallel planners.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    pes: &'a [PeProgram],
    router: &'a TableRouter,
    max_hops: u32,
    machine: &'a Machine,
    pe_at: &'a (dyn Fn(u32, u8) -> Option<u32> + Sync),
    /// Where each PE's neurons start in a slot of the delay ring.
    ring: &'a RingLayout,
    /// Bytes planned so far over all PEs, and the limit.
    used: &'a AtomicU64,
    limit: u64,
}

/// Plans every key of PE `p` (none if it does not send).
fn plan_pe(p: &PeProgram, ctx: &Ctx<'_>) -> Result<PePlan, EmuError> {
    let Ctx {
        pes,
        router,
        max_hops,
        machine,
        pe_at,
        ring,
        used,
        limit,
    } = *ctx;
    let mut out = PePlan::default();
    if !p.sends {
        return Ok(out);
    }
    let source = RouterId::new(p.router.0, p.router.1);
    for i in 0..p.n {
        let key = p.key_base.wrapping_add(i as u32);
        let (targets, stats) = walk(router, source, p.local, key, p.pe, max_hops, pe_at)?;
        // Bytes this key's segments add to the plan (rows are counted as they are copied).
        let grows = targets.len() as u64 * std::mem::size_of::<Segment>() as u64;
        let total = used.fetch_add(grows, Ordering::Relaxed) + grows;
        if total > limit {
            return Err(EmuError::TooLarge {
                what: "delivery plan",
                bytes: total,
                limit,
            });
        }
        out.keys
            .push((out.segments.len() as u64, out.words.len() as u64, stats));
        for target in targets {
            let Some(tp) = pes.get(target as usize) else {
                continue;
            };
            let row = tp.lookup(key).and_then(|e| {
                let m = tp.master.get(e)?;
                let j = key & !m.mask;
                if j >= m.n_rows {
                    return None;
                }
                let &(start, len) = tp.spans.get(m.span_base as usize + j as usize)?;
                let words = tp
                    .synapses
                    .get(start as usize..start as usize + len as usize)?;
                let flags =
                    if m.payload { SEG_PAYLOAD } else { 0 } | if m.mac { SEG_MAC } else { 0 };
                // An absent row of a BITMAP entry (start 0) is fetched from nowhere.
                let fetch = tp.synapses_dram && start > 0;
                Some((words, flags, fetch))
            });
            let (len, flags, cycles) = match row {
                Some((words, flags, fetch)) => {
                    let bytes = 8 * words.len() as u64;
                    if used.fetch_add(bytes, Ordering::Relaxed) + bytes > limit {
                        return Err(EmuError::TooLarge {
                            what: "delivery plan",
                            bytes: used.load(Ordering::Relaxed),
                            limit,
                        });
                    }
                    let payload = flags & SEG_PAYLOAD != 0;
                    // A row on a PE without neurons has nothing to add to (validated images
                    // hold none); its packet is still charged.
                    if let Some(base) = ring.base(target as usize).filter(|_| tp.lif) {
                        out.words.extend(
                            words
                                .iter()
                                .map(|&w| RingWord::resolve(w, base, tp.n, payload).0),
                        );
                    } else {
                        out.words
                            .extend(std::iter::repeat_n(RingWord::NOP.0, words.len()));
                    }
                    let kind = if flags & SEG_MAC != 0 {
                        KernelKind::Mac
                    } else {
                        KernelKind::Event
                    };
                    let cycles = cost::packet_cycles_on(machine, kind, words.len() as u64, fetch);
                    (words.len() as u32, flags, cycles)
                }
                None => (0, SEG_UNMATCHED, cost::PACKET_CYCLES),
            };
            let segment = Segment::new(target, len, flags, cycles).ok_or_else(|| {
                EmuError::artifact(
                    format!("PE {}", tp.pe),
                    format!(
                        "row of {len} synapses costing {cycles} cycles for PE index {target} \
                         exceeds the emulator's delivery plan fields"
                    ),
                )
            })?;
            out.segments.push(segment);
        }
    }
    Ok(out)
}

impl Plan {
    /// Plans every key of every sending PE. `grid` maps `router index · pes_per_router + local`
    /// to a PE index (`u32::MAX` for none). Per-PE planning runs on rayon; the result is
    /// assembled in PE order, so it does not depend on threads.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn build(
        pes: &[PeProgram],
        ring: &RingLayout,
        router: &TableRouter,
        grid: &[u32],
        pes_per_router: usize,
        max_hops: u32,
        machine: &Machine,
        limit: u64,
    ) -> Result<Plan, EmuError> {
        use rayon::prelude::*;
        let used = AtomicU64::new(0);
        let pe_at = |r: u32, local: u8| -> Option<u32> {
            let slot = r as usize * pes_per_router + usize::from(local);
            grid.get(slot).copied().filter(|&i| i != u32::MAX)
        };
        let ctx = Ctx {
            pes,
            router,
            max_hops,
            machine,
            pe_at: &pe_at,
            ring,
            used: &used,
            limit,
        };
        let parts: Vec<Result<PePlan, EmuError>> =
            pes.par_iter().map(|p| plan_pe(p, &ctx)).collect();
        let parts = parts
            .into_iter()
            .collect::<Result<Vec<PePlan>, EmuError>>()?;
        // Reserve exactly, then move part by part (each freed once copied): the plan's peak
        // memory stays near its size instead of doubling on growth.
        let mut plan = Plan {
            pes: Vec::with_capacity(parts.len()),
            keys: Vec::with_capacity(parts.iter().map(|p| p.keys.len()).sum::<usize>() + 1),
            segments: Vec::with_capacity(parts.iter().map(|p| p.segments.len()).sum()),
            words: Vec::with_capacity(parts.iter().map(|p| p.words.len()).sum()),
        };
        for part in parts {
            let seg0 = plan.segments.len() as u64;
            let word0 = plan.words.len() as u64;
            plan.pes.push((plan.keys.len(), part.keys.len()));
            plan.keys
                .extend(part.keys.iter().map(|&(seg, word, stats)| KeyPlan {
                    seg: seg0 + seg,
                    word: word0 + word,
                    stats,
                    tree: 0,
                }));
            plan.segments.extend_from_slice(&part.segments);
            plan.words.extend_from_slice(&part.words);
        }
        plan.keys.push(KeyPlan {
            seg: plan.segments.len() as u64,
            word: plan.words.len() as u64,
            stats: TreeStats::default(),
            tree: 0,
        });
        Ok(plan)
    }

    /// The plan of neuron `i` of PE `pe`, `None` if it sends nothing.
    #[inline]
    pub(crate) fn key(&self, pe: usize, i: usize) -> Option<KeyView<'_>> {
        let &(base, count) = self.pes.get(pe)?;
        if i >= count {
            return None;
        }
        let a = self.keys.get(base + i)?;
        let b = self.keys.get(base + i + 1)?;
        Some(KeyView {
            segments: self.segments.get(a.seg as usize..b.seg as usize)?,
            words: self.words.get(a.word as usize..b.word as usize)?,
            stats: a.stats,
            tree: a.tree,
        })
    }

    /// Resolves the multicast tree of every key for the NoC model (each distinct tree stored
    /// once) and records its root in the key's plan. PEs resolve their keys in parallel; the
    /// trees are stored in plan order, so the set does not depend on threads.
    pub(crate) fn build_trees(
        &mut self,
        pes: &[PeProgram],
        params: &NocParams,
        router: &TableRouter,
    ) -> Result<TreeSet, NocError> {
        use rayon::prelude::*;
        // Per PE: its distinct shapes and, per key, the index of its shape (consecutive keys
        // of a slice usually share one).
        type PeShapes = Result<(Vec<TreeShape>, Vec<usize>), NocError>;
        let per_pe: Vec<PeShapes> = pes
            .par_iter()
            .zip(self.pes.par_iter())
            .map(|(p, &(_, count))| {
                let source = PeId {
                    router: RouterId::new(p.router.0, p.router.1),
                    pe: p.local,
                };
                let mut shapes: Vec<TreeShape> = Vec::new();
                let mut seen: std::collections::HashMap<TreeShape, usize> = Default::default();
                let mut index = Vec::with_capacity(count);
                for i in 0..count {
                    let key = p.key_base.wrapping_add(i as u32);
                    let shape = TreeShape::resolve(params, router, source, key)?;
                    if shapes.last() == Some(&shape) {
                        index.push(shapes.len() - 1);
                        continue;
                    }
                    let j = *seen.entry(shape.clone()).or_insert(shapes.len());
                    if j == shapes.len() {
                        shapes.push(shape);
                    }
                    index.push(j);
                }
                Ok((shapes, index))
            })
            .collect();
        let mut trees = TreeSet::new();
        for (part, &(base, _)) in per_pe.into_iter().zip(&self.pes) {
            let (shapes, index) = part?;
            let roots: Vec<u32> = shapes.into_iter().map(|s| trees.insert(s)).collect();
            for (i, j) in index.into_iter().enumerate() {
                if let (Some(k), Some(&root)) = (self.keys.get_mut(base + i), roots.get(j)) {
                    k.tree = root;
                }
            }
        }
        Ok(trees)
    }
}
