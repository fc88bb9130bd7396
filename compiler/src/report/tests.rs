use std::path::Path;

use super::*;
use crate::load::load;

fn report_of(rel: &str) -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/models")
        .join(rel);
    let m = load(&path).unwrap_or_else(|e| panic!("{e}"));
    build(&m.graph, &m.info).unwrap()
}

#[test]
fn ann_mlp_counts() {
    let r = report_of("ann_mlp/ann_mlp.onnx");
    assert_eq!(r.total.macs, 64 * 128 + 128 * 64 + 64 * 10);
    assert_eq!(r.total.macs, 17024);
    assert_eq!(r.total.params, 17226);
    assert_eq!(r.total.bits_per_param, 32.0);
    assert_eq!(r.total.memory_bytes, 17226 * 4);
    assert_eq!(r.total.ace, 17024 * 32 * 32);
    assert_eq!(r.layers.len(), 3, "{:?}", r.layers);
    let l = r.layer("/0/Gemm").unwrap();
    assert_eq!((l.params, l.macs, l.weights), (128 * 64 + 128, 8192, 8192));
    assert_eq!((l.act_bits, l.weight_bits), (Some(32), Some(32)));
    assert_eq!(r.per, "sample");
    assert_eq!(r.total.acs, None);
}

#[test]
fn qcnn_counts_by_hand() {
    let r = report_of("qcnn_int8/qcnn_int8.qcdq.onnx");
    // conv1: out [1,8,8,8] = 512 values × (1 channel · 3·3) = 4608
    // conv2: out [1,16,4,4] = 256 values × (8 channels · 3·3) = 18432
    // linear: 10 × 64 = 640
    let conv1 = r.layer("node_conv2d").unwrap();
    let conv2 = r.layer("node_conv2d_1").unwrap();
    let fc = r.layer("node_linear").unwrap();
    assert_eq!((conv1.macs, conv2.macs, fc.macs), (4608, 18432, 640));
    assert_eq!(r.total.macs, 4608 + 18432 + 640);
    // int8 activations and weights everywhere (the activation quantizers are u8 / i8).
    for l in [conv1, conv2, fc] {
        assert_eq!(
            (l.act_bits, l.weight_bits),
            (Some(8), Some(8)),
            "{}",
            l.name
        );
    }
    assert_eq!(r.total.ace, (4608 + 18432 + 640) * 64);
    // weights 8-bit; conv1's bias is an i32 QDQ bias, the others are f32.
    assert_eq!(conv1.params, 72 + 8);
    assert_eq!(conv1.memory_bytes, 72 + 8 * 4);
    assert_eq!(conv2.memory_bytes, 1152 + 16 * 4);
    assert_eq!(fc.memory_bytes, 640 + 10 * 4);
    assert_eq!(r.total.params, 72 + 8 + 1152 + 16 + 640 + 10);
    let pools = r.layers.iter().filter(|l| l.op == "pool").count();
    assert_eq!(pools, 2);
    assert_eq!(r.layers.len(), 5);
}

#[test]
fn bnn_mlp_is_binary_after_the_first_layer() {
    let r = report_of("bnn_mlp/bnn_mlp.qonnx.onnx");
    let l1 = r.layer("node_linear").unwrap();
    assert_eq!((l1.act_bits, l1.weight_bits), (Some(8), Some(1)));
    assert_eq!(l1.memory_bytes, 256 * 64 / 8);
    let l2 = r.layer("node_linear_1").unwrap();
    assert_eq!((l2.act_bits, l2.weight_bits), (Some(1), Some(1)));
    assert_eq!(l2.ace, 256 * 256);
    assert_eq!(r.total.ace, 256 * 64 * 8 + 256 * 256 + 10 * 256);
}

#[test]
fn snn_layers_take_spikes() {
    let r = report_of("snn_mlp/snn_mlp.nir");
    assert!(r.stateful);
    assert_eq!(r.per, "sample per time step");
    let l0 = r.layer("0").unwrap();
    assert!(!l0.spike_input);
    let l2 = r.layer("2").unwrap();
    assert!(l2.spike_input);
    assert_eq!((l2.macs, l2.act_bits), (1280, Some(1)));
    let lif = r.layer("1").unwrap();
    assert_eq!(lif.params, 5 * 128);
    assert!(r.notes.iter().any(|n| n.contains("ACs = MACs")));
}

#[test]
fn measured_rates_give_acs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/models");
    let m = load(&dir.join("snn_mlp/snn_mlp.nir")).unwrap();
    let mut r = build(&m.graph, &m.info).unwrap();
    let x = crate::npy::read(&dir.join("data/digits_calib_x.npy")).unwrap();
    let few = crate::npy::Array {
        shape: vec![8, 64],
        data: x.data[..8 * 64].to_vec(),
    };
    let rates = activity::spike_rates(&m.graph, &m.info, &few, 8, 1e-4).unwrap();
    r.set_spike_rates(&rates, "on 8 samples");
    let l2 = r.layer("2").unwrap();
    let acs = l2.acs.unwrap();
    assert!(acs > 0.0 && acs < 1280.0, "{acs}");
    assert_eq!(r.total.acs, Some(acs));
}

#[test]
fn sparsity_counts_zero_weights() {
    use snnc_ir::op::Gemm;
    use snnc_ir::{verify, Op, TensorType};
    let mut g = Graph::new("t");
    let x = g.add_input("x", TensorType::f32(vec![1, 4]));
    let w = Tensor::from_f32(vec![4, 2], vec![0.0, 1.0, 0.0, 2.0, 3.0, 0.0, 0.0, 4.0]).unwrap();
    let w = g.add_const("w", w);
    let d = g.add_node("d", Op::Gemm(Gemm::default()), &[x, w]).unwrap();
    g.add_output("y", d).unwrap();
    let info = verify(&g).unwrap();
    let r = build(&g, &info).unwrap();
    assert_eq!(r.layers[0].sparsity, Some(0.5));
    assert_eq!(r.total.zero_weights, 4);
    let table = render::render(&r, "t");
    assert!(table.contains("50.0%"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("total")), "{table}");
}

#[test]
fn canonicalize_keeps_every_count() {
    use crate::passes::{parse_pipeline, run_pipeline, PassContext};
    for rel in [
        "ann_mlp/ann_mlp.onnx",
        "bnn_mlp/bnn_mlp.qonnx.onnx",
        "qcnn_int8/qcnn_int8.qcdq.onnx",
        "snn_mlp/snn_mlp.nir",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/models")
            .join(rel);
        let mut m = load(&path).unwrap();
        let before = build(&m.graph, &m.info).unwrap();
        let steps = parse_pipeline("canonicalize").unwrap();
        run_pipeline(&mut m.graph, &steps, &PassContext::default()).unwrap();
        let info = snnc_ir::verify(&m.graph).unwrap();
        let after = build(&m.graph, &info).unwrap();
        assert_eq!(before.total, after.total, "{rel}");
        assert_eq!(before.layers.len(), after.layers.len(), "{rel}");
    }
}
