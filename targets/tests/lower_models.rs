//! Lowering of the real integer graphs the passes leave for the shared models.
//!
//! The fixtures are the IR text `snnc compile` writes (the targets crate must not depend on the
//! compiler):
//!   snnc compile tests/models/snn_mlp/snn_mlp.nir --passes canonicalize,quantize-snn \
//!     -o targets/tests/fixtures/snn_mlp_int.ir
//!   snnc compile tests/models/ann_mlp/ann_mlp.onnx --calib tests/models/data/digits_calib_x.npy \
//!     --steps 16 --passes canonicalize,ann-to-snn,quantize-snn \
//!     -o targets/tests/fixtures/ann_mlp_int.ir

use snnc_ir::{verify, Graph, Op};
use snnc_targets::spinnaker2::lower::lower;
use snnc_targets::spinnaker2::network::{InputEncoding, Network, PopulationKind, Reset};

fn load(file: &str) -> Graph {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    snnc_ir::text::parse(&text).unwrap()
}

fn lowered(file: &str) -> (Graph, Network) {
    let g = load(file);
    let info = verify(&g).unwrap();
    let net = lower(&g, &info).unwrap();
    (g, net)
}

/// Nonzero elements of the constant named `name`.
fn nonzero(g: &Graph, name: &str) -> usize {
    let id = g
        .node_ids()
        .into_iter()
        .find(|id| g.node(*id).name == name)
        .unwrap();
    match &g.node(id).op {
        Op::Const(t) => t.as_i64().unwrap().iter().filter(|v| **v != 0).count(),
        other => panic!("{name} is {}", other.name()),
    }
}

fn summary(net: &Network) -> Vec<(String, usize, bool)> {
    net.populations
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.size,
                matches!(p.kind, PopulationKind::Lif(_)),
            )
        })
        .collect()
}

fn lif_reset(net: &Network, i: usize) -> Reset {
    match &net.populations[i].kind {
        PopulationKind::Lif(l) => l.reset,
        PopulationKind::Source => panic!("population {i} is the source"),
    }
}

#[test]
fn snn_mlp_lowers_to_two_layers() {
    let (g, net) = lowered("snn_mlp_int.ir");
    assert_eq!(net.name, "snn_mlp");
    assert_eq!(
        summary(&net),
        vec![
            ("input".to_string(), 64, false),
            ("1".to_string(), 128, true),
            ("3".to_string(), 10, true),
        ]
    );
    assert_eq!(
        net.input.encoding,
        InputEncoding::Quantized {
            scale: 0.003921569,
            zero_point: 0,
            lo: 0,
            hi: 255
        }
    );
    assert_eq!(
        (net.output.name.as_str(), net.output.population),
        ("output", 2)
    );
    let shape: Vec<_> = net
        .projections
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.pre,
                p.post,
                p.payload,
                p.recurrent,
                p.weight_bits,
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![("0", 0, 1, true, false, 12), ("2", 1, 2, false, false, 8)]
    );
    assert_eq!(net.projections[0].synapses(), nonzero(&g, "0.weight"));
    assert_eq!(net.projections[1].synapses(), nonzero(&g, "2.weight"));
    assert_eq!(net.projections[0].rows.n_rows(), 64);
    assert_eq!(net.projections[1].rows.n_rows(), 128);
    assert_eq!(net.projections[0].requant.multiplier.len(), 128);
    assert_eq!(net.projections[0].requant.multiplier[0], 8421505);
    assert_eq!(net.projections[1].requant.shift, vec![0; 10]);
    assert_eq!(lif_reset(&net, 1), Reset::ToValue);
    let s = net.schedule().unwrap();
    assert_eq!(
        (s.depth, s.delay, s.latency),
        (vec![0, 1, 2], vec![1, 1], 2)
    );
}

#[test]
fn converted_ann_mlp_lowers_to_three_layers() {
    let (g, net) = lowered("ann_mlp_int.ir");
    assert_eq!(
        summary(&net),
        vec![
            ("x".to_string(), 64, false),
            ("/1/Relu".to_string(), 128, true),
            ("/3/Relu".to_string(), 64, true),
            ("/4/Gemm.if".to_string(), 10, true),
        ]
    );
    assert_eq!(net.input.shape, vec![1, 64]);
    assert_eq!(net.output.shape, vec![1, 10]);
    assert_eq!(net.output.population, 3);
    let names: Vec<_> = net.projections.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["/0/Gemm", "/2/Gemm", "/4/Gemm"]);
    for (p, w) in net
        .projections
        .iter()
        .zip(["0.weight", "2.weight", "4.weight"])
    {
        assert_eq!(p.synapses(), nonzero(&g, w), "{}", p.name);
    }
    // The last requant has scalar parameters, broadcast to the 10 neurons.
    assert_eq!(net.projections[2].requant.multiplier, vec![8; 10]);
    assert_eq!(lif_reset(&net, 3), Reset::Subtract);
    let s = net.schedule().unwrap();
    assert_eq!(s.depth, vec![0, 1, 2, 3]);
    assert_eq!(s.latency, 3);
}
