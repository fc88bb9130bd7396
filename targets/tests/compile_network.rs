//! End-to-end checks of the spinnaker2 mapping on hand-built networks: the rendered artifact
//! decodes, holds every synapse of the network exactly once under the right key, the routing
//! file delivers every key to the PEs that need it, errors carry numbers, and compiling twice
//! gives the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use snnc_targets::spinnaker2::artifact::{PeImage, RoutingFile, Synapse};
use snnc_targets::spinnaker2::compile::{compile, CompileOptions};
use snnc_targets::spinnaker2::kernel::artifact_files;
use snnc_targets::spinnaker2::machine::{Machine, PeCoord, PeId};
use snnc_targets::spinnaker2::network::Network;
use snnc_targets::spinnaker2::partition::SynapseStorage;
use snnc_targets::spinnaker2::routing::{Link, RoutingTable};
use snnc_targets::spinnaker2::synthetic;

/// Rendered files of a compile.
fn render(net: &Network, machine: &Machine) -> BTreeMap<String, Vec<u8>> {
    let opts = CompileOptions {
        machine: machine.clone(),
        model_file: "hand-built".into(),
        ..CompileOptions::default()
    };
    let (artifact, report) = match compile(net, &opts) {
        Ok(x) => x,
        Err(e) => panic!("compile: {e}"),
    };
    assert!(report.pes_used >= report.pes_lower_bound);
    assert!(report.sram_max_per_pe <= machine.sram_budget_per_pe());
    assert!(!report.render().is_empty());
    match artifact.render(&artifact_files()) {
        Ok(r) => r.files,
        Err(e) => panic!("render: {e}"),
    }
}

fn manifest(files: &BTreeMap<String, Vec<u8>>) -> serde_json::Value {
    let bytes = files.get("manifest.json").cloned().unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

/// Decoded image of every PE listed in the manifest.
fn images(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<u32, PeImage> {
    let m = manifest(files);
    let mut out = BTreeMap::new();
    for pe in m["pes"].as_array().cloned().unwrap_or_default() {
        let id = pe["pe"].as_u64().unwrap_or(u64::MAX) as u32;
        let path = pe["image"].as_str().unwrap_or_default();
        let bytes = files.get(path).cloned().unwrap_or_default();
        match PeImage::decode(&bytes) {
            Ok(img) => {
                out.insert(id, img);
            }
            Err(e) => panic!("{path}: {e}"),
        }
    }
    out
}

/// `(population, first neuron, key, mask)` of every slice.
fn slices(m: &serde_json::Value) -> Vec<(usize, u32, u32, u32, u32)> {
    let mut out = Vec::new();
    for (pop, p) in m["populations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        for s in p["slices"].as_array().cloned().unwrap_or_default() {
            out.push((
                pop,
                s["first"].as_u64().unwrap_or(0) as u32,
                s["count"].as_u64().unwrap_or(0) as u32,
                s["key"].as_u64().unwrap_or(0) as u32,
                s["mask"].as_u64().unwrap_or(0) as u32,
            ));
        }
    }
    out
}

/// Synapses as `(projection, pre, post) -> weight`.
type Weights = BTreeMap<(usize, u32, u32), i32>;

/// Rebuilds `(projection, pre, post) -> weight` from the images and manifest alone, checking
/// delays against the manifest, and returns it with, per key, the PEs holding a row for it.
fn reconstruct(
    net: &Network,
    files: &BTreeMap<String, Vec<u8>>,
) -> (Weights, BTreeMap<u32, BTreeSet<u32>>) {
    let m = manifest(files);
    let sl = slices(&m);
    let pe_pop: BTreeMap<u32, usize> = m["pes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|p| {
            (
                p["pe"].as_u64().unwrap_or(0) as u32,
                p["population"].as_u64().unwrap_or(0) as usize,
            )
        })
        .collect();
    let delays: Vec<u32> = m["projections"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|p| p["delay"].as_u64().unwrap_or(0) as u32)
        .collect();
    let mut weights = BTreeMap::new();
    let mut needs: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for (pe, img) in images(files) {
        let post_pop = pe_pop[&pe];
        let incoming: Vec<usize> = (0..net.projections.len())
            .filter(|&j| net.projections[j].post == post_pop)
            .collect();
        assert_eq!(img.k as usize, incoming.len());
        for e in &img.master {
            // The pre slice whose key block holds this entry.
            let Some(&(pre_pop, first, count, key, mask)) = sl.iter().find(|s| e.key & s.4 == s.3)
            else {
                panic!("master key {:#x} of {pe} belongs to no slice", e.key)
            };
            assert_eq!(e.mask & mask, mask, "entry inside the slice block");
            for j in 0..e.n_rows {
                let Some(row) = img.row(e, j) else { continue };
                let local = e.key - key + j;
                assert!(local < count || row.is_empty());
                let pre = first + local;
                if !row.is_empty() {
                    needs.entry(e.key + j).or_default().insert(pe);
                }
                for &w in row {
                    let s = Synapse::decode(w);
                    let proj = incoming[s.k as usize];
                    assert_eq!(net.projections[proj].pre, pre_pop);
                    assert_eq!(s.delay, delays[proj]);
                    let post = img.first + s.post;
                    let old = weights.insert((proj, pre, post), i32::from(s.weight));
                    assert!(old.is_none(), "synapse ({proj}, {pre}, {post}) twice");
                }
            }
        }
    }
    (weights, needs)
}

/// The network's synapses as `(projection, pre, post) -> weight`.
fn expected(net: &Network) -> Weights {
    let mut out = BTreeMap::new();
    for (j, p) in net.projections.iter().enumerate() {
        for i in 0..p.rows.n_rows() {
            for (post, w) in p.rows.row(i) {
                out.insert((j, i as u32, post), w);
            }
        }
    }
    out
}

/// Walks the routing file hop by hop from `from` with `key`; routers absent from the file route
/// by default. Returns the PEs reached.
fn walk(
    files: &BTreeMap<String, Vec<u8>>,
    machine: &Machine,
    from: u32,
    key: u32,
) -> BTreeSet<u32> {
    let bytes = files.get("routing.json").cloned().unwrap_or_default();
    let file: RoutingFile = serde_json::from_slice(&bytes).unwrap_or_default();
    let (w, h) = (machine.chip.mesh_width, machine.chip.mesh_height);
    let (gx, gy) = (machine.board.chips_x * w, machine.board.chips_y * h);
    let tables: BTreeMap<(u32, u32), RoutingTable> = file
        .routers
        .iter()
        .map(|r| {
            let q = r.qpe();
            (
                (q.chip_x * w + q.qpe_x, q.chip_y * h + q.qpe_y),
                r.to_table().unwrap_or_default(),
            )
        })
        .collect();
    let empty = RoutingTable {
        default_routing: true,
        ..RoutingTable::default()
    };
    let c = machine.pe_coord(PeId(from)).unwrap_or(PeCoord {
        chip_x: 0,
        chip_y: 0,
        qpe_x: 0,
        qpe_y: 0,
        pe: 0,
    });
    let mut queue = vec![(
        (c.chip_x * w + c.qpe_x, c.chip_y * h + c.qpe_y),
        None::<Link>,
    )];
    let mut reached = BTreeSet::new();
    let mut steps = 0;
    while let Some(((x, y), arrival)) = queue.pop() {
        steps += 1;
        assert!(steps < 100_000, "routing loop for key {key:#x}");
        let table = tables.get(&(x, y)).unwrap_or(&empty);
        let Some(route) = table.route_of(key, arrival) else {
            panic!("key {key:#x} dropped at ({x}, {y})")
        };
        for pe in route.pes() {
            let coord = PeCoord {
                chip_x: x / w,
                chip_y: y / h,
                qpe_x: x % w,
                qpe_y: y % h,
                pe,
            };
            let id = machine.pe_id(coord).map(|p| p.0);
            assert!(id.is_some(), "key {key:#x} delivered to a missing PE");
            assert!(
                reached.insert(id.unwrap_or(0)),
                "key {key:#x} delivered twice"
            );
        }
        for link in route.links() {
            let next = match link {
                Link::East if x + 1 < gx => (x + 1, y),
                Link::West if x > 0 => (x - 1, y),
                Link::North if y + 1 < gy => (x, y + 1),
                Link::South if y > 0 => (x, y - 1),
                _ => panic!("key {key:#x} leaves the board at ({x}, {y}) via {link:?}"),
            };
            queue.push((next, Some(link.opposite())));
        }
    }
    reached
}

fn check_network(net: &Network, machine: &Machine) {
    let files = render(net, machine);
    let (got, needs) = reconstruct(net, &files);
    assert_eq!(got, expected(net), "synapses differ");
    let m = manifest(&files);
    // Every key of every sending slice reaches exactly the PEs of its target populations,
    // a superset of the PEs that hold a row for it.
    for (pop, first, count, key, _) in slices(&m) {
        let _ = first;
        let targets: BTreeSet<usize> = net
            .projections
            .iter()
            .filter(|p| p.pre == pop)
            .map(|p| p.post)
            .collect();
        if targets.is_empty() {
            continue;
        }
        let want: BTreeSet<u32> = m["populations"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter(|(i, _)| targets.contains(i))
            .flat_map(|(_, p)| {
                p["slices"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| s["pe"].as_u64().unwrap_or(0) as u32)
            })
            .collect();
        let src = m["populations"][pop]["slices"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .find(|s| s["key"].as_u64() == Some(u64::from(key)))
            .and_then(|s| s["pe"].as_u64())
            .unwrap_or(0) as u32;
        for i in 0..count {
            let reached = walk(&files, machine, src, key + i);
            assert_eq!(reached, want, "pop {pop} key {:#x}", key + i);
            if let Some(n) = needs.get(&(key + i)) {
                assert!(n.is_subset(&reached));
            }
        }
    }
}

#[test]
fn two_layers_and_recurrent_on_one_chip() {
    let net = synthetic::layered(&[64, 96, 10], 11, true);
    check_network(&net, &Machine::spinnaker2_default());
}

#[test]
fn spills_over_several_small_chips() {
    let net = synthetic::layered(&[64, 300, 40, 10], 5, true);
    let machine = Machine::tiny(2, 1);
    let files = render(&net, &machine);
    let m = manifest(&files);
    assert_eq!(m["resources"]["chips_used"].as_u64(), Some(2));
    check_network(&net, &machine);
    check_network(&net, &Machine::tiny(2, 2));
}

#[test]
fn sparse_benchmark_shape_round_trips() {
    // The peer benchmark's shape at 2,000 neurons: sparse rows use sub-block master entries.
    let net = synthetic::bench(2000, 100, 100, 3);
    let machine = Machine::spinnaker2_board48();
    let files = render(&net, &machine);
    let (got, _) = reconstruct(&net, &files);
    assert_eq!(got, expected(&net));
    // Auto puts this population's synapses in DRAM (SRAM slices would hold ~47 neurons).
    let m = manifest(&files);
    assert!(m["resources"]["dram_total"].as_u64().unwrap_or(0) > 0);
    let lif_pes: Vec<_> = m["pes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p["population"].as_u64() == Some(1))
        .collect();
    assert!(lif_pes.len() <= 4, "{} PEs", lif_pes.len());
    for p in &lif_pes {
        let path = p["image"].as_str().unwrap_or("");
        let img = files.get(path).and_then(|b| PeImage::decode(b).ok());
        let Some(img) = img else { panic!("{path}") };
        assert!(img.synapses_dram);
        assert_eq!(
            p["dram_bytes"].as_u64(),
            Some(img.synapses.len() as u64 * 4)
        );
    }
}

#[test]
fn very_sparse_dram_rows_use_bitmap_entries() {
    // Two recurrent synapses per neuron: most pre neurons have no row on a given post slice,
    // so a bitmap beats a pointer per pre neuron.
    let net = synthetic::bench(3000, 100, 2, 5);
    let machine = Machine::spinnaker2_default();
    let files = render(&net, &machine);
    let (got, _) = reconstruct(&net, &files);
    assert_eq!(got, expected(&net));
    let imgs = images(&files);
    let bitmaps = imgs
        .values()
        .flat_map(|img| img.master.iter())
        .filter(|e| e.bitmap)
        .count();
    assert!(bitmaps > 0);
    assert!(imgs
        .values()
        .filter(|i| i.role == snnc_targets::spinnaker2::artifact::PeRole::Lif)
        .all(|i| i.synapses_dram));
    // Deterministic with DRAM and bitmaps too.
    assert_eq!(render(&net, &machine), files);
}

#[test]
fn compiling_twice_gives_the_same_bytes() {
    let net = synthetic::layered(&[64, 300, 40, 10], 5, true);
    let machine = Machine::tiny(2, 2);
    assert_eq!(render(&net, &machine), render(&net, &machine));
}

#[test]
fn written_artifact_loads() {
    let net = synthetic::layered(&[64, 96, 10], 2, true);
    let opts = CompileOptions::default();
    let Ok((artifact, _)) = compile(&net, &opts) else {
        panic!("compile")
    };
    let dir = std::env::temp_dir().join(format!("snnc_map_test_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let written = artifact.write(&dir, &artifact_files());
    assert!(written.is_ok(), "{:?}", written.err());
    let loaded = snnc_targets::spinnaker2::artifact::LoadedArtifact::load(&dir);
    assert!(loaded.is_ok(), "{:?}", loaded.err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn too_big_model_is_a_clear_error() {
    let net = synthetic::layered(&[64, 1500], 1, false);
    let mut opts = CompileOptions {
        machine: Machine::tiny(1, 1),
        synapses: SynapseStorage::Sram,
        ..CompileOptions::default()
    };
    let msg = compile(&net, &opts)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        msg.starts_with("spinnaker2: model too big for the machine: needs "),
        "{msg}"
    );
    assert!(msg.contains("PEs, machine has 16"), "{msg}");
    // With the synapses in DRAM (what Auto picks for it) the same layer fits two PEs.
    opts.synapses = SynapseStorage::Auto;
    let Ok((_, report)) = compile(&net, &opts) else {
        panic!("DRAM compile")
    };
    assert!(report.populations[1].synapses_dram);
    assert!(report.pes_used <= 16, "{}", report.pes_used);
    assert!(report.dram_max_per_chip > 0);
    assert!(report.dram_max_per_chip <= report.dram_budget_per_chip);
    opts.synapses = SynapseStorage::Sram;
    // A neuron whose synapses alone exceed a PE is named with its byte count.
    let net = synthetic::layered(&[64, 2000, 10], 1, false);
    let msg = compile(&net, &opts)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("a single neuron of population `lif2` needs"),
        "{msg}"
    );
    assert!(msg.contains("the budget per PE is 12288 bytes"), "{msg}");
}

#[test]
fn uncompressible_tables_are_a_clear_error() {
    let net = synthetic::layered(&[64, 300, 40, 10], 5, true);
    let mut machine = Machine::tiny(2, 2);
    machine.chip.routing_entries = 1;
    let opts = CompileOptions {
        machine,
        ..CompileOptions::default()
    };
    let msg = compile(&net, &opts)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("routing table of router chip"), "{msg}");
    assert!(msg.contains("the router holds 1"), "{msg}");
}

/// The lowered shared models (fixtures written by `snnc compile`, see tests/lower_models.rs).
fn lowered(file: &str) -> Network {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let Ok(g) = snnc_ir::text::parse(&text) else {
        panic!("parse {path}")
    };
    let Ok(info) = snnc_ir::verify(&g) else {
        panic!("verify {path}")
    };
    match snnc_targets::spinnaker2::lower::lower(&g, &info) {
        Ok(net) => net,
        Err(e) => panic!("lower {path}: {e}"),
    }
}

#[test]
fn shared_models_map_on_one_chip_and_on_small_chips() {
    for file in ["snn_mlp_int.ir", "ann_mlp_int.ir"] {
        let net = lowered(file);
        check_network(&net, &Machine::spinnaker2_default());
        check_network(&net, &Machine::tiny(2, 2));
        // Chips of one QPE (4 PEs): the models need several.
        let mut small = Machine::tiny(3, 2);
        small.chip.qpes = 1;
        small.chip.mesh_width = 1;
        small.chip.mesh_height = 1;
        check_network(&net, &small);
        let files = render(&net, &small);
        let m = manifest(&files);
        assert!(
            m["resources"]["chips_used"].as_u64() >= Some(2),
            "{file} should spill over several tiny chips"
        );
        // Payload (quantized input) projections use the MAC kernel.
        let kernels: Vec<String> = m["projections"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|p| p["kernel"].as_str().unwrap_or_default().to_string())
            .collect();
        assert!(kernels.first().is_some_and(|k| k == "mac" || k == "event"));
    }
}

#[test]
fn thread_count_does_not_change_the_artifact() {
    let net = synthetic::bench(3000, 100, 100, 7);
    let machine = Machine::spinnaker2_board48();
    let many = render(&net, &machine);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map(|pool| pool.install(|| render(&net, &machine)));
    assert!(one.as_ref().is_ok_and(|one| *one == many));
}

#[test]
fn two_projections_between_one_pair_share_rows_with_own_types_and_delays() {
    let mut net = synthetic::layered(&[30, 40, 10], 8, false);
    let mut second = net.projections[0].clone();
    second.name = "fc1_delayed".into();
    second.extra_delay = 2;
    for w in &mut second.rows.weight {
        *w = -*w;
    }
    net.projections.push(second);
    let Ok(s) = net.schedule() else {
        panic!("schedule")
    };
    assert_eq!(s.delay[2], 3);
    for machine in [Machine::spinnaker2_default(), Machine::tiny(2, 1)] {
        check_network(&net, &machine);
        let files = render(&net, &machine);
        let imgs = images(&files);
        let two: Vec<_> = imgs.values().filter(|i| i.k == 2).collect();
        assert!(!two.is_empty());
        assert!(two.iter().all(|i| i.d == 4));
    }
}
