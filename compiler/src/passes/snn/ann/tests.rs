use snnc_ir::interp::Interpreter;
use snnc_ir::op::{Gemm, Pool, PoolKind, ResetMode};
use snnc_ir::{verify, Graph, Op, Tensor, TensorType};

use super::run;
use crate::npy::Array;
use crate::passes::snn::testutil::{by_name, counts, f32t, op_names, run_pass};
use crate::passes::{PassArgs, PassContext, PassError};

/// `x[1,2] → gemm(W0, 0) → relu → gemm(W1, b1) → y`, ONNX layout (`trans_b`).
fn relu_net() -> Graph {
    let mut g = Graph::new("ann");
    let x = g.add_input("x", TensorType::f32(vec![1, 2]));
    let gemm = || {
        Op::Gemm(Gemm {
            trans_b: true,
            ..Gemm::default()
        })
    };
    let w0 = g.add_const("w0", f32t(&[2, 2], &[1.0, 0.0, 0.0, 2.0]));
    let b0 = g.add_const("b0", f32t(&[2], &[0.0, 0.0]));
    let l0 = g.add_node("fc0", gemm(), &[x, w0, b0]).unwrap();
    let r = g.add_node("relu0", Op::Relu, &[l0]).unwrap();
    let w1 = g.add_const("w1", f32t(&[2, 2], &[1.0, -1.0, 0.5, 0.5]));
    let b1 = g.add_const("b1", f32t(&[2], &[0.1, 0.0]));
    let l1 = g.add_node("fc1", gemm(), &[r, w1, b1]).unwrap();
    g.add_output("y", l1).unwrap();
    g
}

/// Relu outputs (1,1), (.5,.5), (2,2), (0,0): positive activations up to 2. Outputs
/// (0.1, 1), (0.1, 0.5), (0.1, 2), (0.1, 0): positive up to 2.
fn calib() -> Array {
    Array {
        shape: vec![4, 1, 2],
        data: vec![1.0, 0.5, 0.5, 0.25, 2.0, 1.0, -1.0, 0.0],
    }
}

fn weights(g: &Graph, name: &str) -> Vec<f32> {
    match &g.node(by_name(g, name)).op {
        Op::Const(t) => t.as_f32().unwrap().to_vec(),
        other => panic!("`{name}` is {}", other.name()),
    }
}

#[test]
fn max_normalization_of_a_small_network() {
    let a = calib();
    let ctx = PassContext {
        calib: Some(&a),
        ..PassContext::default()
    };
    let mut g = relu_net();
    let report = run_pass(run, &mut g, "pct=100", &ctx);
    assert_eq!(
        op_names(&g),
        vec!["input", "gemm", "if", "gemm", "if", "output"]
    );
    // λ1 = 2, λ_out = 2: W0/2, b0/2; W1·2/2, b1/2.
    assert_eq!(weights(&g, "w0"), vec![0.5, 0.0, 0.0, 1.0]);
    assert_eq!(weights(&g, "w1"), vec![1.0, -1.0, 0.5, 0.5]);
    assert_eq!(weights(&g, "b1"), vec![0.05, 0.0]);
    let Op::If(n) = &g.node(by_name(&g, "relu0")).op else {
        panic!("relu0 is not an IF neuron");
    };
    assert_eq!(n.r.as_f32().unwrap(), &[1.0f32 / 1e-4]);
    assert_eq!(n.v_threshold.as_f32().unwrap(), &[1.0]);
    assert_eq!(n.reset, ResetMode::Subtract);
    assert!(report.notes.iter().any(|l| l.contains("`relu0`: scale 2")));
    // Rates: hidden 1/2 each for x = (1, 0.5); outputs (0.1, 1)/2 = (0.05, 0.5) per step,
    // less the first spikes that wait for the membrane to rise strictly above 1.
    let c = counts(&g, &[vec![1.0, 0.5]], 200, 1e-4);
    assert_eq!(c, vec![vec![10.0, 98.0]]);
}

#[test]
fn percentile_clips_outliers() {
    let a = calib();
    let ctx = PassContext {
        calib: Some(&a),
        ..PassContext::default()
    };
    let mut g = relu_net();
    run_pass(run, &mut g, "pct=50", &ctx);
    // Positive relu outputs sorted: .5 .5 1 1 2 2, median 1 → W0 unchanged.
    assert_eq!(weights(&g, "w0"), vec![1.0, 0.0, 0.0, 2.0]);
}

#[test]
fn membrane_readout_accumulates_the_logits() {
    let a = calib();
    let ctx = PassContext {
        calib: Some(&a),
        ..PassContext::default()
    };
    let mut g = relu_net();
    run_pass(run, &mut g, "pct=100:readout=membrane:neuron=lif", &ctx);
    assert_eq!(
        op_names(&g),
        vec!["input", "gemm", "lif", "gemm", "integrator", "output"]
    );
    let Op::Lif(l) = &g.node(by_name(&g, "relu0")).op else {
        panic!("relu0 is not a LIF neuron");
    };
    assert_eq!(l.tau.as_f32().unwrap(), &[100.0f32 * 1e-4]);
    // Unnormalized output layer: W1·λ1, b1.
    assert_eq!(weights(&g, "w1"), vec![2.0, -2.0, 1.0, 1.0]);
    let info = verify(&g).unwrap();
    let mut it = Interpreter::new(&g, &info, 1e-4).unwrap();
    let x = Tensor::from_f32(vec![1, 2], vec![2.0, 1.0]).unwrap();
    let mut last = Vec::new();
    for _ in 0..400 {
        last = it.step(std::slice::from_ref(&x)).unwrap()[0].to_f32_vec();
    }
    // The ANN gives (0.1, 2.0); the hidden LIF leaks, so the second logit comes out lower.
    assert!((last[0] / 400.0 - 0.1).abs() < 0.02, "{last:?}");
    assert!(last[1] / 400.0 > 1.0 && last[1] / 400.0 <= 2.05, "{last:?}");
}

#[test]
fn bad_inputs() {
    let args = |t: &str| PassArgs::parse("ann-to-snn", t).unwrap();
    let a = calib();
    let ctx = PassContext {
        calib: Some(&a),
        ..PassContext::default()
    };
    // No ReLU.
    let mut g = Graph::new("linear");
    let x = g.add_input("x", TensorType::f32(vec![1, 2]));
    let w = g.add_const("w", f32t(&[2, 2], &[1.0; 4]));
    let l = g
        .add_node("fc", Op::Gemm(Gemm::default()), &[x, w])
        .unwrap();
    g.add_output("y", l).unwrap();
    let e = run(&mut g, &args(""), &ctx).unwrap_err();
    assert!(matches!(e, PassError::NotApplicable { .. }), "{e}");
    assert!(e.to_string().contains("no ReLU"), "{e}");
    // Missing calibration.
    let e = run(&mut relu_net(), &args(""), &PassContext::default()).unwrap_err();
    assert!(matches!(e, PassError::Calibration { .. }), "{e}");
    // Calibration of the wrong shape.
    let wrong = Array {
        shape: vec![2, 3],
        data: vec![0.0; 6],
    };
    let bad_ctx = PassContext {
        calib: Some(&wrong),
        ..PassContext::default()
    };
    let e = run(&mut relu_net(), &args(""), &bad_ctx).unwrap_err();
    assert!(matches!(e, PassError::Calibration { .. }), "{e}");
    // Max pooling has no spiking form.
    let mut g = Graph::new("pool");
    let x = g.add_input("x", TensorType::f32(vec![1, 1, 4]));
    let w = g.add_const("w", f32t(&[1, 1, 1], &[1.0]));
    let conv = Op::Conv(snnc_ir::op::Conv {
        stride: vec![1],
        pads: vec![0, 0],
        dilation: vec![1],
        groups: 1,
    });
    let c = g.add_node("c", conv, &[x, w]).unwrap();
    let r = g.add_node("r", Op::Relu, &[c]).unwrap();
    let p = Pool {
        kind: PoolKind::Max,
        kernel: vec![2],
        stride: vec![2],
        pads: vec![0, 0],
        dilation: vec![1],
        ceil_mode: false,
        count_include_pad: false,
    };
    let p = g.add_node("mp", Op::Pool(p), &[r]).unwrap();
    g.add_output("y", p).unwrap();
    let pool_calib = Array {
        shape: vec![1, 1, 1, 4],
        data: vec![1.0; 4],
    };
    let pool_ctx = PassContext {
        calib: Some(&pool_calib),
        ..PassContext::default()
    };
    let e = run(&mut g, &args(""), &pool_ctx).unwrap_err();
    assert!(e.to_string().contains("pool `mp`"), "{e}");
    // A spiking graph is not an ANN.
    let mut g = relu_net();
    run_pass(run, &mut g, "", &ctx);
    let e = run(&mut g, &args(""), &ctx).unwrap_err();
    assert!(e.to_string().contains("if `relu0`"), "{e}");
    // Bad options.
    let e = run(&mut relu_net(), &args("pct=0"), &ctx).unwrap_err();
    assert!(matches!(e, PassError::InvalidArgs { .. }), "{e}");
}
