use snnc_ir::op::{Conv, CubaLif, Flatten, Gemm, Lif, ResetMode};
use snnc_ir::{DType, Graph, Op, Tensor, TensorType};

use super::run;
use crate::npy::Array;
use crate::passes::snn::testutil::{
    by_name, counts, f32t, if_op, lif_op, op_names, run_pass, two_layer, values,
};
use crate::passes::{PassArgs, PassContext, PassError};

/// LIF with dt/tau = 0.5 exactly at dt = 1e-4 and unit gain: decay 0.5.
fn half_lif() -> Op {
    Op::Lif(Lif {
        tau: Tensor::scalar_f32(2e-4),
        r: Tensor::scalar_f32(2.0),
        v_leak: Tensor::scalar_f32(0.0),
        v_threshold: Tensor::scalar_f32(1.0),
        v_reset: Tensor::scalar_f32(0.0),
        reset: ResetMode::ToValue,
    })
}

fn small() -> Graph {
    two_layer(
        (2, 2, 1),
        &[1.0, -0.5, 0.25, 0.0],
        &[0.1, 0.0],
        &[0.5, 0.5],
        &[0.0],
        half_lif(),
        half_lif(),
    )
}

fn int_lif(g: &Graph, name: &str) -> snnc_ir::op::IntLif {
    match &g.node(by_name(g, name)).op {
        Op::IntLif(l) => l.clone(),
        other => panic!("`{name}` is {}", other.name()),
    }
}

fn const_of(g: &Graph, name: &str) -> Tensor {
    match &g.node(by_name(g, name)).op {
        Op::Const(t) => t.clone(),
        other => panic!("`{name}` is {}", other.name()),
    }
}

fn i64s(t: &Tensor) -> Vec<i64> {
    t.as_i64().unwrap().to_vec()
}

#[test]
fn fixed_point_values_of_a_small_network() {
    let mut g = small();
    let report = run_pass(run, &mut g, "", &PassContext::default());
    assert_eq!(
        op_names(&g),
        vec![
            "input",
            "quantize_linear",
            "gemm",
            "requant",
            "int_lif",
            "gemm",
            "requant",
            "int_lif",
            "output"
        ]
    );
    // The analog-input layer has 12-bit weights by default: row 0 max 1.0 (scale 1/2047):
    // 1.0 → 2047, −0.5 → ⌊−1023.5⌉ = −1024; row 1 max 0.25: 0.25 → 2047, 0 → 0.
    let w0 = const_of(&g, "0.weight");
    assert_eq!(w0.dtype(), DType::I16);
    assert_eq!(i64s(&w0), vec![2047, -1024, 2047, 0]);
    // The spiking layer has 8-bit weights.
    let w2 = const_of(&g, "2.weight");
    assert_eq!(w2.dtype(), DType::I8);
    assert_eq!(i64s(&w2), vec![127, 127]);
    // Finest membrane unit with threshold ≤ 2^13: row 0 (2047 steps per 1.0) takes units of a
    // quarter step (threshold 4·2047 = 8188), row 1 (8188 steps per 1.0) whole steps.
    let l1 = int_lif(&g, "1");
    // Equal thresholds are stored as one scalar; the biases differ per channel.
    assert_eq!(i64s(&l1.threshold), vec![8188]);
    assert_eq!(l1.threshold.shape(), &[] as &[usize]);
    assert_eq!(i64s(&l1.decay), vec![1 << 14]);
    assert_eq!(l1.frac_bits, 15);
    assert_eq!(l1.state_bits, 16);
    // Bias 0.1 in units of 1/8188: ⌊818.8⌉ = 819 (no calibration, so no correction).
    assert_eq!(i64s(&l1.bias), vec![819, 0]);
    assert_eq!(i64s(&l1.v_reset), vec![0]);
    // Spiking layer: 254 steps per 1.0, units of 1/32 step: threshold 8128, Requant ×32.
    let l3 = int_lif(&g, "3");
    assert_eq!(i64s(&l3.threshold), vec![8128]);
    let Op::Requant(r2) = &g.node(by_name(&g, "2.requant")).op else {
        panic!("no requant after the spiking layer");
    };
    assert_eq!((i64s(&r2.multiplier), i64s(&r2.shift)), (vec![32], vec![0]));
    // The u8 input (scale 1/255) is rescaled to membrane units by m·2^−s ≈ 4/255 and 1/255.
    let Op::Requant(r) = &g.node(by_name(&g, "0.requant")).op else {
        panic!("no requant");
    };
    for (c, want) in [(0, 4.0), (1, 1.0)] {
        let (m, s) = (i64s(&r.multiplier)[c], i64s(&r.shift)[c]);
        let ratio = m as f64 / 2f64.powi(s as i32);
        assert!((ratio * 255.0 - want).abs() < 1e-6, "{c}: {m}/2^{s}");
    }
    assert_eq!((r.out, r.lo, r.hi), (DType::I16, -32768, 32767));
    let Op::QuantizeLinear(q) = &g.node(by_name(&g, "x.quant")).op else {
        panic!("no quantizer");
    };
    assert_eq!(q.out, DType::U8);
    assert!(
        report.notes.iter().any(|n| n.contains("[0, 1]")),
        "{report:?}"
    );
    assert_eq!(report.changed, 10);
}

#[test]
fn integer_run_tracks_the_float_run() {
    let (i, h, o) = (8, 16, 4);
    let w0 = values(h * i, 1, -0.4, 0.5);
    let b0 = values(h, 2, -0.1, 0.1);
    let w1 = values(o * h, 3, -0.3, 0.5);
    let b1 = values(o, 4, -0.1, 0.1);
    let float = two_layer((i, h, o), &w0, &b0, &w1, &b1, lif_op(), lif_op());
    let samples: Vec<Vec<f32>> = (0..20).map(|s| values(i, 100 + s, 0.0, 1.0)).collect();
    let reference = counts(&float, &samples, 20, 1e-4);
    let agreement = |args: &str| {
        let mut g = float.clone();
        run_pass(run, &mut g, args, &PassContext::default());
        let got = counts(&g, &samples, 20, 1e-4);
        let pairs: Vec<(f32, f32)> = got
            .iter()
            .flatten()
            .copied()
            .zip(reference.iter().flatten().copied())
            .collect();
        let equal = pairs.iter().filter(|(a, b)| a == b).count() as f64 / pairs.len() as f64;
        let off = pairs.iter().map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        (equal, off)
    };
    let total: f32 = reference.iter().flatten().sum();
    assert!(total > 100.0, "the float network is too quiet: {total}");
    // 12-bit weights, 16-bit input, 32-bit state: (almost) the float run itself.
    let (eq, off) = agreement("w=12:in=16:state=32");
    eprintln!("w=12: {eq} equal, max diff {off}");
    assert!(eq >= 0.99 && off <= 1.0, "{eq} {off}");
    // 8-bit weights: counts within one spike nearly everywhere.
    let (eq, off) = agreement("");
    eprintln!("w=8: {eq} equal, max diff {off}");
    assert!(eq >= 0.85 && off <= 1.0, "{eq} {off}");
}

#[test]
fn if_neurons_keep_decay_one_and_subtract_reset() {
    let mut g = two_layer(
        (2, 2, 2),
        &[0.5, 0.25, -0.5, 1.0],
        &[0.0, 0.0],
        &[1.0, 0.0, 0.0, 1.0],
        &[0.0, 0.0],
        if_op(),
        if_op(),
    );
    run_pass(
        run,
        &mut g,
        "per-tensor:state=32:frac=20:first=8",
        &PassContext::default(),
    );
    let l = int_lif(&g, "1");
    assert_eq!(i64s(&l.decay), vec![1 << 20]);
    assert_eq!(l.reset, ResetMode::Subtract);
    // Per-tensor: one threshold for the layer, scale 1/127, units of 2^−22 steps (the finest
    // with 127·2^22 ≤ 2^29).
    assert_eq!(l.threshold.shape(), &[] as &[usize]);
    assert_eq!(i64s(&l.threshold), vec![127 << 22]);
    assert_eq!(l.state_bits, 32);
    assert_eq!(i64s(&const_of(&g, "0.weight")), vec![64, 32, -64, 127]);
}

#[test]
fn wide_weights_get_a_coarser_membrane_unit() {
    // 16-bit weights on a 16-bit membrane: threshold 1/(0.5/32767) = 65534 does not fit the
    // budget 2^13, so the unit is 2^3 weight steps and a Requant shifts by 3.
    let mut g = small();
    run_pass(run, &mut g, "w=16:first=8", &PassContext::default());
    let Op::Requant(r) = &g.node(by_name(&g, "2.requant")).op else {
        panic!("no requant after the spiking layer");
    };
    assert_eq!((i64s(&r.multiplier), i64s(&r.shift)), (vec![1], vec![3]));
    assert_eq!(i64s(&int_lif(&g, "3").threshold), vec![8191]);
    assert_eq!(const_of(&g, "2.weight").dtype(), DType::I16);
}

#[test]
fn calibration_sets_a_signed_input_range_and_corrects_the_bias() {
    let calib = Array {
        shape: vec![4, 2],
        data: vec![-1.0, 0.5, 2.0, 0.25, 0.3, -0.7, 1.1, 1.9],
    };
    let ctx = PassContext {
        calib: Some(&calib),
        ..PassContext::default()
    };
    let mut g = small();
    let report = run_pass(run, &mut g, "w=16:state=32", &ctx);
    let Op::QuantizeLinear(q) = &g.node(by_name(&g, "x.quant")).op else {
        panic!("no quantizer");
    };
    assert_eq!(q.out, DType::I8);
    // Scale max|x|/L with the L in [64, 127] of least squared error on the samples.
    let values = &calib.data;
    let (scale, levels) = super::input::best_levels(values, 2.0, -127, 127);
    assert!((64..=127).contains(&levels));
    assert_eq!(const_of(&g, "x.scale").as_f32().unwrap(), &[scale]);
    let sq = |scale: f32| -> f64 {
        values
            .iter()
            .map(|x| {
                let q = f64::from((x / scale).round_ties_even()).clamp(-127.0, 127.0);
                (q * f64::from(scale) - f64::from(*x)).powi(2)
            })
            .sum()
    };
    assert!(sq(scale) <= sq(2.0 / 127.0));
    // Symmetric narrow range: a Clip keeps −128 out.
    let Op::Clip(c) = &g.node(by_name(&g, "x.clip")).op else {
        panic!("no clip");
    };
    assert_eq!((c.min, c.max), (Some(-127.0), Some(127.0)));
    assert!(report.notes.iter().any(|n| n.contains("bias corrected")));
    let mut plain = small();
    run_pass(run, &mut plain, "w=16:state=32:no-bias-correct", &ctx);
    assert_ne!(int_lif(&g, "1").bias, int_lif(&plain, "1").bias);

    let wrong = Array {
        shape: vec![4, 3],
        data: vec![0.0; 12],
    };
    let ctx = PassContext {
        calib: Some(&wrong),
        ..PassContext::default()
    };
    let e = run(&mut small(), &PassArgs::default(), &ctx).unwrap_err();
    assert!(matches!(e, PassError::Calibration { .. }), "{e}");
}

#[test]
fn conv_layers_use_channel_shaped_parameters() {
    let mut g = Graph::new("conv_snn");
    let x = g.add_input("x", TensorType::f32(vec![1, 4, 4]));
    let cw = g.add_const("cw", f32t(&[2, 1, 3, 3], &values(18, 7, -0.5, 1.0)));
    let cb = g.add_const("cb", f32t(&[2], &[0.05, -0.05]));
    let conv = Op::Conv(Conv {
        stride: vec![1, 1],
        pads: vec![1, 1, 1, 1],
        dilation: vec![1, 1],
        groups: 1,
    });
    let c = g.add_node("conv", conv, &[x, cw, cb]).unwrap();
    let s0 = g.add_node("lif0", lif_op(), &[c]).unwrap();
    let f = g
        .add_node(
            "flat",
            Op::Flatten(Flatten {
                start_dim: 0,
                end_dim: 2,
            }),
            &[s0],
        )
        .unwrap();
    let w = g.add_const("fw", f32t(&[3, 32], &values(96, 8, -0.3, 0.5)));
    let l = g
        .add_node(
            "fc",
            Op::Gemm(Gemm {
                trans_b: true,
                ..Gemm::default()
            }),
            &[f, w],
        )
        .unwrap();
    let s1 = g.add_node("lif1", lif_op(), &[l]).unwrap();
    g.add_output("y", s1).unwrap();
    let float = g.clone();
    run_pass(run, &mut g, "", &PassContext::default());
    let l0 = int_lif(&g, "lif0");
    assert_eq!(l0.threshold.shape(), &[2, 1, 1]);
    assert_eq!(g.ty(by_name(&g, "flat")).dtype, DType::Bool);
    assert_eq!(g.ty(by_name(&g, "fc")).dtype, DType::I32);
    let samples: Vec<Vec<f32>> = (0..5).map(|s| values(16, 50 + s, 0.0, 1.0)).collect();
    let a = counts(&float, &samples, 10, 1e-4);
    let b = counts(&g, &samples, 10, 1e-4);
    let diff: f32 = a
        .iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .sum();
    let total: f32 = a.iter().flatten().sum();
    assert!(total > 10.0 && diff <= 0.2 * total, "{diff} of {total}");
}

#[test]
fn bad_inputs() {
    let ctx = PassContext::default();
    let args = |t: &str| PassArgs::parse("quantize-snn", t).unwrap();
    // Not a spiking graph.
    let mut ann = Graph::new("ann");
    let x = ann.add_input("x", TensorType::f32(vec![2]));
    let r = ann.add_node("r", Op::Relu, &[x]).unwrap();
    ann.add_output("y", r).unwrap();
    let e = run(&mut ann, &args(""), &ctx).unwrap_err();
    assert!(matches!(e, PassError::NotApplicable { .. }), "{e}");
    assert!(e.to_string().contains("no float spiking neurons"), "{e}");
    // Impossible options.
    for bad in ["w=0", "state=64", "w=8:oops"] {
        let e = run(&mut small(), &args(bad), &ctx).unwrap_err();
        assert!(matches!(e, PassError::InvalidArgs { .. }), "{bad}: {e}");
    }
    // CubaLIF has no fixed-point form.
    let cuba = Op::CubaLif(CubaLif {
        tau_syn: Tensor::scalar_f32(1e-3),
        tau_mem: Tensor::scalar_f32(1e-3),
        r: Tensor::scalar_f32(10.0),
        v_leak: Tensor::scalar_f32(0.0),
        v_threshold: Tensor::scalar_f32(1.0),
        v_reset: Tensor::scalar_f32(0.0),
        w_in: Tensor::scalar_f32(1.0),
        reset: ResetMode::ToValue,
    });
    let mut g = two_layer(
        (2, 2, 1),
        &[1.0; 4],
        &[0.0; 2],
        &[1.0; 2],
        &[0.0],
        cuba,
        lif_op(),
    );
    let e = run(&mut g, &args(""), &ctx).unwrap_err();
    assert!(e.to_string().contains("cuba_lif `1`"), "{e}");
    // A neuron without a synapse in front.
    let mut g = Graph::new("bare");
    let x = g.add_input("x", TensorType::f32(vec![2]));
    let n = g.add_node("n", lif_op(), &[x]).unwrap();
    g.add_output("y", n).unwrap();
    let e = run(&mut g, &args(""), &ctx).unwrap_err();
    assert!(e.to_string().contains("lif `n` is fed by `x`"), "{e}");
    // 16-bit weights on a 16-bit input overflow the 32-bit accumulator for K = 64.
    let mut g = two_layer(
        (64, 1, 1),
        &[1.0; 64],
        &[0.0],
        &[1.0],
        &[0.0],
        lif_op(),
        lif_op(),
    );
    let e = run(&mut g, &args("first=16:in=16:state=32"), &ctx).unwrap_err();
    assert!(matches!(e, PassError::InvalidArgs { .. }), "{e}");
    assert!(e.to_string().contains("accumulator"), "{e}");
    // dt so large that dt/tau > 1.
    let big_dt = PassContext {
        dt: 0.01,
        ..PassContext::default()
    };
    let e = run(&mut small(), &args(""), &big_dt).unwrap_err();
    assert!(e.to_string().contains("outside (0, 1]"), "{e}");
}
