//! Consistency rules between the manifest, the images and the routing file. The writer runs
//! them before writing and the loader after reading, so an artifact that can be written can be
//! loaded, and the emulator can index populations, slices and PEs without further checks.

use std::collections::BTreeSet;
use std::path::{Component, Path};

use super::error::ArtifactError;
use super::image::{PeImage, PeRole};
use super::manifest::{InputEncoding, Manifest, PopulationKind, FORMAT, FORMAT_VERSION};
use super::routing_file::RoutingFile;
use super::{image_path, MANIFEST_FILE, ROUTING_FILE};
use crate::spinnaker2::machine::PeId;

fn invalid(path: &str, reason: String) -> ArtifactError {
    ArtifactError::invalid(path, reason)
}

/// True for a relative path made only of normal components, so a hostile manifest cannot make
/// the loader read outside the artifact directory.
pub fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Format, version and the manifest-only rules (indices, slices, paths, machine).
pub fn check_manifest(m: &Manifest) -> Result<(), ArtifactError> {
    let f = MANIFEST_FILE;
    if m.format != FORMAT {
        return Err(invalid(
            f,
            format!("format is {:?}, expected {FORMAT:?}", m.format),
        ));
    }
    if m.format_version != FORMAT_VERSION {
        return Err(invalid(
            f,
            format!(
                "format_version {} is not supported (this snnc reads version {FORMAT_VERSION})",
                m.format_version
            ),
        ));
    }
    m.machine
        .validate(f)
        .map_err(|e| invalid(f, e.to_string()))?;
    let npop = m.populations.len();
    let pop_kind = |i: usize, what: &str| {
        m.populations.get(i).map(|p| p.kind).ok_or_else(|| {
            invalid(
                f,
                format!("{what} population {i} does not exist ({npop} populations)"),
            )
        })
    };
    if pop_kind(m.input.population, "input")? != PopulationKind::Source {
        return Err(invalid(
            f,
            "the input population is not a source".to_string(),
        ));
    }
    pop_kind(m.output.population, "output")?;
    check_numbers(m)?;
    let numel = |s: &[usize]| s.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    for (what, shape, pop) in [
        ("input", &m.input.shape, m.input.population),
        ("output", &m.output.shape, m.output.population),
    ] {
        let neurons = m.populations.get(pop).map_or(0, |p| p.neurons);
        if numel(shape) != Some(neurons) {
            return Err(invalid(
                f,
                format!("{what} shape {shape:?} does not hold the population's {neurons} neurons"),
            ));
        }
    }
    for (i, p) in m.projections.iter().enumerate() {
        if p.pre >= npop || p.post >= npop {
            return Err(invalid(
                f,
                format!("projection {i} ({}) joins missing populations", p.name),
            ));
        }
        if pop_kind(p.post, "projection")? != PopulationKind::Lif {
            return Err(invalid(
                f,
                format!("projection {i} ({}) targets a source", p.name),
            ));
        }
    }
    check_slices(m)?;
    check_pes(m)?;
    if m.routing.file != ROUTING_FILE {
        return Err(invalid(
            f,
            format!(
                "routing.file is {:?}, expected {ROUTING_FILE:?}",
                m.routing.file
            ),
        ));
    }
    let mut prev: Option<&str> = None;
    for k in &m.kernel.files {
        if !is_safe_relative(k) || !k.starts_with("kernel/") {
            return Err(invalid(
                f,
                format!("kernel file {k:?} is not a path under kernel/"),
            ));
        }
        if prev.is_some_and(|p| p >= k.as_str()) {
            return Err(invalid(
                f,
                "kernel.files are not sorted and unique".to_string(),
            ));
        }
        prev = Some(k);
    }
    Ok(())
}

/// Numeric fields that serde accepts but the emulator cannot use: non-finite floats (they
/// would not even survive a JSON round trip), empty ranges, delays the hardware cannot hold,
/// a latency that is not the output population's depth.
fn check_numbers(m: &Manifest) -> Result<(), ArtifactError> {
    let f = MANIFEST_FILE;
    match m.input.encoding {
        InputEncoding::Spikes => {}
        InputEncoding::Quantized { scale, lo, hi, .. } => {
            if !(scale.is_finite() && scale > 0.0) {
                return Err(invalid(
                    f,
                    format!("input scale {scale} is not a positive finite number"),
                ));
            }
            if lo > hi {
                return Err(invalid(f, format!("input range {lo}..={hi} is empty")));
            }
        }
        InputEncoding::Integer { lo, hi } => {
            if lo > hi {
                return Err(invalid(f, format!("input range {lo}..={hi} is empty")));
            }
        }
    }
    let packets = m.resources.expected_packets_per_step;
    if !(packets.is_finite() && packets >= 0.0) {
        return Err(invalid(
            f,
            format!(
                "resources.expected_packets_per_step {packets} is not a finite non-negative number"
            ),
        ));
    }
    let depth = |i: usize| m.populations.get(i).map_or(0, |p| p.depth);
    if depth(m.input.population) != 0 {
        return Err(invalid(
            f,
            "the input population's depth is not 0".to_string(),
        ));
    }
    if m.latency != depth(m.output.population) {
        return Err(invalid(
            f,
            format!(
                "latency {} is not the output population's depth {}",
                m.latency,
                depth(m.output.population)
            ),
        ));
    }
    for (i, p) in m.projections.iter().enumerate() {
        if !(1..=super::image::MAX_DELAY).contains(&p.delay) {
            return Err(invalid(
                f,
                format!(
                    "projection {i} ({}): delay {} is not in 1..=15",
                    p.name, p.delay
                ),
            ));
        }
    }
    Ok(())
}

/// Slices of every population cover its neurons in order, exactly once.
fn check_slices(m: &Manifest) -> Result<(), ArtifactError> {
    for (pi, p) in m.populations.iter().enumerate() {
        let mut next: u64 = 0;
        for (si, s) in p.slices.iter().enumerate() {
            let at = || format!("population {pi} ({}) slice {si}", p.name);
            if u64::from(s.first) != next || s.count == 0 {
                return Err(invalid(
                    MANIFEST_FILE,
                    format!(
                        "{}: first {} count {} does not continue at neuron {next}",
                        at(),
                        s.first,
                        s.count
                    ),
                ));
            }
            if s.key & !s.mask != 0
                || u64::from(s.key) + u64::from(s.count) - 1 > u64::from(s.key | !s.mask)
            {
                return Err(invalid(
                    MANIFEST_FILE,
                    format!(
                        "{}: key 0x{:08x}/0x{:08x} does not cover {} neurons",
                        at(),
                        s.key,
                        s.mask,
                        s.count
                    ),
                ));
            }
            next += u64::from(s.count);
        }
        if next != p.neurons as u64 {
            return Err(invalid(
                MANIFEST_FILE,
                format!(
                    "population {pi} ({}): slices cover {next} of {} neurons",
                    p.name, p.neurons
                ),
            ));
        }
    }
    Ok(())
}

/// PEs are sorted, exist on the machine, and match the slices one to one.
fn check_pes(m: &Manifest) -> Result<(), ArtifactError> {
    let f = MANIFEST_FILE;
    let mut prev: Option<PeId> = None;
    for info in &m.pes {
        let at = format!("pes entry {}", info.pe);
        if prev.is_some_and(|p| p >= info.pe) {
            return Err(invalid(
                f,
                format!("{at}: pes are not sorted by id and unique"),
            ));
        }
        prev = Some(info.pe);
        if m.machine.pe_coord(info.pe) != Some(info.coord) {
            return Err(invalid(
                f,
                format!(
                    "{at}: coord {:?} is not that PE's position on the machine",
                    info.coord
                ),
            ));
        }
        let slice = m
            .populations
            .get(info.population)
            .and_then(|p| p.slices.get(info.slice));
        if slice.map(|s| s.pe) != Some(info.pe) {
            return Err(invalid(
                f,
                format!(
                    "{at}: population {} slice {} is not on this PE",
                    info.population, info.slice
                ),
            ));
        }
        if info.image != image_path(info.pe) {
            return Err(invalid(
                f,
                format!(
                    "{at}: image path {:?} should be {:?}",
                    info.image,
                    image_path(info.pe)
                ),
            ));
        }
    }
    let on_pes: BTreeSet<PeId> = m.pes.iter().map(|p| p.pe).collect();
    for p in &m.populations {
        for s in &p.slices {
            if !on_pes.contains(&s.pe) {
                return Err(invalid(
                    f,
                    format!("population {}: slice on {} has no pes entry", p.name, s.pe),
                ));
            }
        }
    }
    Ok(())
}

/// Each image agrees with its manifest entry: role, size, first neuron, keys, depth, flags.
/// `images` must be in `m.pes` order.
pub fn check_images(m: &Manifest, images: &[(PeId, &PeImage)]) -> Result<(), ArtifactError> {
    if images.len() != m.pes.len() {
        return Err(invalid(
            MANIFEST_FILE,
            format!("{} images for {} pes entries", images.len(), m.pes.len()),
        ));
    }
    for (info, (pe, img)) in m.pes.iter().zip(images) {
        let path = info.image.as_str();
        if *pe != info.pe {
            return Err(invalid(
                path,
                format!("image of {pe} listed as {}", info.pe),
            ));
        }
        let (Some(pop), Some(slice)) = (
            m.populations.get(info.population),
            m.populations
                .get(info.population)
                .and_then(|p| p.slices.get(info.slice)),
        ) else {
            return Err(invalid(path, "population or slice missing".to_string()));
        };
        let role = match pop.kind {
            PopulationKind::Source => PeRole::Source,
            PopulationKind::Lif => PeRole::Lif,
        };
        let recorded = info.population == m.output.population;
        let mut mismatches = Vec::new();
        if img.role != role {
            mismatches.push(format!(
                "role {:?} but population {} is {:?}",
                img.role, pop.name, pop.kind
            ));
        }
        if img.n != slice.count || img.first != slice.first {
            mismatches.push(format!(
                "neurons {}..+{} but the slice is {}..+{}",
                img.first, img.n, slice.first, slice.count
            ));
        }
        if img.key_base != slice.key {
            mismatches.push(format!(
                "key_base 0x{:08x} but the slice key is 0x{:08x}",
                img.key_base, slice.key
            ));
        }
        if role == PeRole::Lif && img.start_tick != pop.depth {
            mismatches.push(format!(
                "start_tick {} but the population depth is {}",
                img.start_tick, pop.depth
            ));
        }
        if img.record != recorded {
            mismatches.push(format!(
                "RECORD flag {} but output population is {}",
                img.record, m.output.population
            ));
        }
        if role == PeRole::Source && info.population == m.input.population {
            let payload = !matches!(m.input.encoding, InputEncoding::Spikes);
            if img.payload != payload {
                mismatches.push(format!(
                    "PAYLOAD flag {} does not match the input encoding",
                    img.payload
                ));
            }
        }
        if let Some(first) = mismatches.into_iter().next() {
            return Err(invalid(
                path,
                format!("disagrees with manifest.json: {first}"),
            ));
        }
    }
    Ok(())
}

/// The routing file is in canonical order, every entry decodes, routers exist on the machine,
/// local PE indices exist in a QPE, and the manifest's statistics match.
pub fn check_routing(m: &Manifest, r: &RoutingFile) -> Result<(), ArtifactError> {
    let f = ROUTING_FILE;
    let mut prev = None;
    for (i, t) in r.routers.iter().enumerate() {
        let at = format!(
            "router {i} (chip {},{} qpe {},{})",
            t.chip_x, t.chip_y, t.qpe_x, t.qpe_y
        );
        if prev.is_some_and(|p| p >= t.order_key()) {
            return Err(invalid(
                f,
                format!("{at}: routers are not sorted and unique"),
            ));
        }
        prev = Some(t.order_key());
        if t.entries.is_empty() {
            return Err(invalid(
                f,
                format!("{at}: has no entries (such routers are omitted)"),
            ));
        }
        if m.machine.global_qpe_index(t.qpe()).is_none() {
            return Err(invalid(f, format!("{at}: no such QPE on the machine")));
        }
        for (j, e) in t.entries.iter().enumerate() {
            e.to_entry()
                .map_err(|err| invalid(f, format!("{at} entry {j}: {err}")))?;
            if let Some(p) = e.pes.iter().find(|&&p| p >= m.machine.chip.pes_per_qpe) {
                return Err(invalid(
                    f,
                    format!("{at} entry {j}: local PE {p} does not exist"),
                ));
            }
        }
    }
    let before: u64 = r.routers.iter().map(|t| u64::from(t.entries_before)).sum();
    let max = r.routers.iter().map(|t| t.entries.len()).max().unwrap_or(0);
    let stats = &m.routing;
    if stats.routers != r.routers.len()
        || stats.entries_before != before
        || stats.entries_after != r.total_entries()
        || stats.max_entries as usize != max
    {
        return Err(invalid(
            f,
            format!(
                "file has {} routers, {before} entries before and {} after compression, at most {max} per router; manifest.json says {}, {}, {}, {}",
                r.routers.len(),
                r.total_entries(),
                stats.routers,
                stats.entries_before,
                stats.entries_after,
                stats.max_entries
            ),
        ));
    }
    Ok(())
}
