//! A small complete artifact for tests: 4 source elements on PE 0 feeding 3 LIF neurons on
//! PE 1 of a tiny one-chip machine.

use std::collections::BTreeMap;

use super::image::{build_synaptic_matrix, synapse_word, MatrixBlock, NeuronParams, RequantEntry};
use super::manifest::*;
use super::routing_file::{RouterEntry, RouterTable, RoutingFile};
use super::{image_path, Artifact, PeImage, PeRole};
use crate::spinnaker2::machine::{Machine, PeCoord, PeId};

/// The LIF image of the fixture.
pub fn lif_image() -> PeImage {
    let w = |post, delay, wt| synapse_word(post, delay, 0, wt).unwrap_or(0);
    let rows = vec![
        vec![w(0, 1, 3), w(1, 1, -2)],
        vec![w(2, 1, 5)],
        vec![],
        vec![w(0, 1, 1), w(1, 1, 1), w(2, 1, 1)],
    ];
    let (master, synapses) = build_synaptic_matrix(vec![MatrixBlock {
        key: 0x0,
        mask: 0xffff_fffc,
        payload: true,
        rows,
    }])
    .unwrap_or_default();
    PeImage {
        role: PeRole::Lif,
        n: 3,
        key_base: 0x4,
        record: true,
        payload: false,
        reset_subtract: false,
        sends: false,
        synapses_dram: false,
        start_tick: 1,
        state_bits: 16,
        frac_bits: 4,
        k: 1,
        d: 1,
        first: 0,
        neurons: vec![
            NeuronParams {
                decay: 12,
                bias: 0,
                threshold: 20,
                v_reset: 0,
            };
            3
        ],
        requant: vec![vec![
            RequantEntry {
                multiplier: 3,
                shift: 1,
                zero_point: 0,
                lo: -32768,
                hi: 32767,
            };
            3
        ]],
        master,
        synapses,
    }
}

fn coord(m: &Machine, pe: u32) -> PeCoord {
    m.pe_coord(PeId(pe)).unwrap_or(PeCoord {
        chip_x: 0,
        chip_y: 0,
        qpe_x: 0,
        qpe_y: 0,
        pe: 0,
    })
}

fn pe_info(m: &Machine, pe: u32, population: usize) -> PeInfo {
    PeInfo {
        pe: PeId(pe),
        coord: coord(m, pe),
        population,
        slice: 0,
        image: image_path(PeId(pe)),
        bytes: 0,
        digest: String::new(),
        sram_bytes: 1000,
        dram_bytes: 0,
        est_cycles_per_tick: 500,
    }
}

/// The fixture artifact (digests not yet filled in).
pub fn artifact() -> Artifact {
    let machine = Machine::tiny(1, 1);
    let slice = |pe, count, key| SliceInfo {
        pe: PeId(pe),
        first: 0,
        count,
        key,
        mask: 0xffff_fffc,
    };
    let manifest = Manifest {
        format: FORMAT.to_string(),
        format_version: FORMAT_VERSION,
        snnc_version: "0.1.0".to_string(),
        model: ModelRef {
            file: "tiny.nir".to_string(),
            digest: "fnv1a64:0000000000000000".to_string(),
        },
        flags: BTreeMap::from([("reset".to_string(), "to_value".to_string())]),
        machine: machine.clone(),
        latency: 1,
        steps_note: "output step s = tick s + 1".to_string(),
        input: InputInfo {
            name: "x".to_string(),
            shape: vec![4],
            population: 0,
            encoding: InputEncoding::Integer { lo: -128, hi: 127 },
        },
        output: OutputInfo {
            name: "y".to_string(),
            shape: vec![3],
            population: 1,
        },
        populations: vec![
            PopulationInfo {
                name: "in".to_string(),
                kind: PopulationKind::Source,
                neurons: 4,
                depth: 0,
                slices: vec![slice(0, 4, 0)],
            },
            PopulationInfo {
                name: "lif".to_string(),
                kind: PopulationKind::Lif,
                neurons: 3,
                depth: 1,
                slices: vec![slice(1, 3, 4)],
            },
        ],
        projections: vec![ProjectionInfo {
            name: "fc".to_string(),
            pre: 0,
            post: 1,
            synapses: 6,
            delay: 1,
            weight_bits: 8,
            kernel: KernelKind::Mac,
        }],
        pes: vec![pe_info(&machine, 1, 1), pe_info(&machine, 0, 0)],
        routing: RoutingInfo {
            file: super::ROUTING_FILE.to_string(),
            digest: String::new(),
            routers: 0,
            entries_before: 0,
            entries_after: 0,
            max_entries: 0,
        },
        resources: Resources {
            pes_used: 2,
            pes_lower_bound: 2,
            chips_used: 1,
            sram_max_per_pe: 1000,
            sram_total: 2000,
            dram_max_per_chip: 0,
            dram_total: 0,
            expected_packets_per_step: 2.5,
            longest_path_cycles: 2,
        },
        kernel: KernelInfo {
            files: Vec::new(),
            digest: String::new(),
        },
    };
    Artifact {
        manifest,
        images: vec![
            (PeId(1), lif_image()),
            (PeId(0), PeImage::source(4, 0, 0, true, true)),
        ],
        routing: RoutingFile {
            routers: vec![RouterTable {
                chip_x: 0,
                chip_y: 0,
                qpe_x: 0,
                qpe_y: 0,
                default_routing: false,
                entries_before: 1,
                entries: vec![RouterEntry {
                    key: 0,
                    mask: 0xffff_fffc,
                    links: vec![],
                    pes: vec![1],
                }],
            }],
        },
    }
}

/// Kernel files for the fixture (small stand-ins).
pub const KERNEL: [(&str, &str); 2] = [
    ("kernel/snnc_pe.h", "/* h */\n"),
    ("kernel/snnc_pe.c", "/* c */\n"),
];
