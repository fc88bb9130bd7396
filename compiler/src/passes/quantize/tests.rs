//! Pass-level tests on small synthetic models: structure of the integer graph, agreement with
//! the float and QDQ graphs, and the errors users can provoke.

use snnc_ir::interp;
use snnc_ir::op::{
    Conv, DequantizeLinear, Flatten, Gemm, Pool, PoolKind, Quant, QuantizeLinear, RoundingMode,
};
use snnc_ir::{verify, DType, Graph, NodeId, Op, Tensor, TensorType};

use super::*;
use crate::npy::Array;
use crate::passes::{PassArgs, PassContext, PassError};

/// A deterministic sequence in [-1, 1).
fn noise(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn f(shape: &[usize], v: Vec<f32>) -> Tensor {
    Tensor::from_f32(shape.to_vec(), v).unwrap()
}

fn gemm_t() -> Op {
    Op::Gemm(Gemm {
        trans_b: true,
        ..Gemm::default()
    })
}

/// x[1,8] -> Gemm(16) -> Relu -> Gemm(4) -> y
fn mlp() -> Graph {
    let mut g = Graph::new("mlp");
    let x = g.add_input("x", TensorType::f32(vec![1, 8]));
    let w1 = g.add_const("w1", f(&[16, 8], noise(1, 128)));
    let b1 = g.add_const("b1", f(&[16], noise(2, 16)));
    let h = g.add_node("fc1", gemm_t(), &[x, w1, b1]).unwrap();
    let r = g.add_node("relu1", Op::Relu, &[h]).unwrap();
    let w2 = g.add_const("w2", f(&[4, 16], noise(3, 64)));
    let b2 = g.add_const("b2", f(&[4], noise(4, 4)));
    let y = g.add_node("fc2", gemm_t(), &[r, w2, b2]).unwrap();
    g.add_output("y", y).unwrap();
    g
}

/// Non-negative calibration data `[n, k]` in [0, 1).
fn calib(n: usize, k: usize, seed: u64) -> Array {
    Array {
        shape: vec![n, k],
        data: noise(seed, n * k).iter().map(|v| (v + 1.0) / 2.0).collect(),
    }
}

fn run_pass(
    g: &mut Graph,
    run: crate::passes::PassFn,
    name: &str,
    args: &str,
    calib: Option<&Array>,
) -> Result<crate::passes::PassReport, PassError> {
    let ctx = PassContext {
        calib,
        ..PassContext::default()
    };
    let r = run(g, &PassArgs::parse(name, args)?, &ctx)?;
    verify(g).unwrap_or_else(|e| panic!("{name} left an invalid graph: {e}"));
    Ok(r)
}

fn outputs(g: &Graph, x: &[f32]) -> Vec<f32> {
    let info = verify(g).unwrap();
    let shape = g.ty(g.inputs()[0]).shape.clone();
    let out = interp::run(g, &info, &[f(&shape, x.to_vec())]).unwrap();
    out[0].to_f32_vec()
}

fn ops(g: &Graph) -> Vec<&'static str> {
    g.topo_order()
        .unwrap()
        .into_iter()
        .map(|id| g.node(id).op.name())
        .filter(|n| *n != "const")
        .collect()
}

fn find(g: &Graph, name: &str) -> NodeId {
    g.node_ids()
        .into_iter()
        .find(|id| g.node(*id).name == name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn mlp_becomes_an_integer_graph() {
    let float = mlp();
    let mut g = float.clone();
    let c = calib(64, 8, 7);
    let report = run_pass(&mut g, run_quantize, QUANTIZE, "int8", Some(&c)).unwrap();
    assert_eq!(
        ops(&g),
        vec![
            "input",
            "quantize_linear",
            "gemm",
            "requant",
            "gemm",
            "dequantize_linear",
            "output"
        ],
        "{report:?}"
    );
    // Weights: i8 constants with per-channel parameters on their type, named as before.
    let w1 = g.ty(find(&g, "w1")).clone();
    assert_eq!(w1.dtype, DType::I8);
    let q = w1.quant.unwrap();
    assert_eq!(
        (q.bits, q.signed, q.narrow, q.axis),
        (8, true, true, Some(0))
    );
    assert_eq!(q.scale.len(), 16);
    // Requant with ReLU fused: unsigned output, lo = zero point = 0.
    let rq = find(&g, "relu1.quantize");
    let Op::Requant(r) = &g.node(rq).op else {
        panic!("not a requant")
    };
    assert_eq!((r.out, r.lo, r.hi, r.zero_point), (DType::U8, 0, 255, 0));
    assert_eq!(r.multiplier.shape(), &[16]);
    assert!(r
        .multiplier
        .as_i64()
        .unwrap()
        .iter()
        .all(|m| (1 << 30..1 << 31).contains(m)));
    // The integer graph follows the float one closely on fresh inputs.
    for seed in 100..110 {
        let x: Vec<f32> = noise(seed, 8).iter().map(|v| (v + 1.0) / 2.0).collect();
        let (a, b) = (outputs(&float, &x), outputs(&g, &x));
        assert!(max_diff(&a, &b) < 0.05, "{a:?} vs {b:?}");
    }
    assert!(report.notes.iter().any(|n| n.contains("ReLU fused")));
    assert!(report.changed >= 2);
}

/// The integer graph computes what its own QDQ statement computes, up to the rare activation
/// that lies on a rounding boundary (none on these inputs).
#[test]
fn lowering_matches_the_qdq_statement() {
    let mut qdq = mlp();
    let c = calib(64, 8, 7);
    let opts = options::parse(&PassArgs::parse(QUANTIZE, "int4:per-tensor").unwrap()).unwrap();
    let kernels = rewrite::plan(&qdq);
    let roots = kernels.iter().map(|k| k.root).collect();
    let samples = calibration::samples(&qdq, Some(&c), QUANTIZE).unwrap();
    let ranges = calibration::calibrate(&qdq, &samples, &roots, opts.method, QUANTIZE).unwrap();
    {
        let mut ed = edit::Editor::new(&mut qdq, QUANTIZE);
        rewrite::insert_qdq(&mut ed, &kernels, &ranges, &opts).unwrap();
    }
    verify(&qdq).unwrap();
    let mut int = qdq.clone();
    run_pass(&mut int, run_lower_qdq, LOWER_QDQ, "", None).unwrap();
    // int4 weights: values within ±7.
    let w = find(&int, "w2");
    let Op::Const(t) = &int.node(w).op else {
        panic!()
    };
    assert!(t.as_i64().unwrap().iter().all(|v| v.abs() <= 7));
    assert_eq!(int.ty(w).quant.as_ref().unwrap().bits, 4);
    for seed in 200..230 {
        let x: Vec<f32> = noise(seed, 8).iter().map(|v| (v + 1.0) / 2.0).collect();
        let (a, b) = (outputs(&qdq, &x), outputs(&int, &x));
        assert!(max_diff(&a, &b) < 1e-5, "{a:?} vs {b:?}");
    }
}

/// x[1,1,6,6] -> Conv(4, 3x3, pad 1) -> Relu -> MaxPool 2 -> Flatten -> Gemm(3)
fn cnn() -> Graph {
    let mut g = Graph::new("cnn");
    let x = g.add_input("x", TensorType::f32(vec![1, 1, 6, 6]));
    let w = g.add_const("cw", f(&[4, 1, 3, 3], noise(11, 36)));
    let b = g.add_const("cb", f(&[4], noise(12, 4)));
    let conv = Op::Conv(Conv {
        stride: vec![1, 1],
        pads: vec![1, 1, 1, 1],
        dilation: vec![1, 1],
        groups: 1,
    });
    let c = g.add_node("conv", conv, &[x, w, b]).unwrap();
    let r = g.add_node("relu", Op::Relu, &[c]).unwrap();
    let pool = Op::Pool(Pool {
        kind: PoolKind::Max,
        kernel: vec![2, 2],
        stride: vec![2, 2],
        pads: vec![0; 4],
        dilation: vec![1, 1],
        ceil_mode: false,
        count_include_pad: false,
    });
    let p = g.add_node("pool", pool, &[r]).unwrap();
    let fl = g
        .add_node(
            "flat",
            Op::Flatten(Flatten {
                start_dim: 1,
                end_dim: 3,
            }),
            &[p],
        )
        .unwrap();
    let w2 = g.add_const("gw", f(&[3, 36], noise(13, 108)));
    let y = g.add_node("fc", gemm_t(), &[fl, w2]).unwrap();
    g.add_output("y", y).unwrap();
    g
}

#[test]
fn conv_pool_and_flatten_stay_integer() {
    let float = cnn();
    let mut g = float.clone();
    let c = calib(32, 36, 5);
    run_pass(&mut g, run_quantize, QUANTIZE, "asym:act-bits=8", Some(&c)).unwrap();
    assert_eq!(
        ops(&g),
        vec![
            "input",
            "quantize_linear",
            "conv",
            "requant",
            "pool",
            "flatten",
            "gemm",
            "dequantize_linear",
            "output"
        ]
    );
    let pool = find(&g, "pool");
    assert_eq!(g.ty(pool).dtype, DType::U8);
    // No bias on the last Gemm: the accumulator stays i32.
    assert_eq!(g.ty(find(&g, "fc")).dtype, DType::I32);
    for seed in 300..305 {
        let x: Vec<f32> = noise(seed, 36).iter().map(|v| (v + 1.0) / 2.0).collect();
        let (a, b) = (outputs(&float, &x), outputs(&g, &x));
        assert!(max_diff(&a, &b) < 0.1, "{a:?} vs {b:?}");
    }
}

/// x -> Gemm -> Gemm: the hidden activation is signed; asym gives it a zero point that the
/// second kernel's bias absorbs.
#[test]
fn asymmetric_activations_fold_the_zero_point() {
    let mut float = Graph::new("lin");
    let x = float.add_input("x", TensorType::f32(vec![1, 8]));
    let w1 = float.add_const("w1", f(&[8, 8], noise(21, 64)));
    let b1 = float.add_const("b1", f(&[8], vec![0.8; 8]));
    let h = float.add_node("fc1", gemm_t(), &[x, w1, b1]).unwrap();
    let w2 = float.add_const("w2", f(&[2, 8], noise(22, 16)));
    let b2 = float.add_const("b2", f(&[2], vec![0.1, -0.1]));
    let y = float.add_node("fc2", gemm_t(), &[h, w2, b2]).unwrap();
    float.add_output("y", y).unwrap();
    let c = calib(64, 8, 9);
    let mut sym = float.clone();
    run_pass(&mut sym, run_quantize, QUANTIZE, "sym", Some(&c)).unwrap();
    let mut asym = float.clone();
    run_pass(&mut asym, run_quantize, QUANTIZE, "asym", Some(&c)).unwrap();
    let rq = |g: &Graph| match &g.node(find(g, "fc1.quantize")).op {
        Op::Requant(r) => (r.out, r.zero_point),
        _ => panic!(),
    };
    assert_eq!(rq(&sym), (DType::I8, 0));
    let (dt, zp) = rq(&asym);
    assert_eq!(dt, DType::U8);
    assert!(zp > 0 && zp < 255, "zero point {zp}");
    let mut worst = (0f32, 0f32);
    for seed in 400..420 {
        let x: Vec<f32> = noise(seed, 8).iter().map(|v| (v + 1.0) / 2.0).collect();
        let a = outputs(&float, &x);
        worst.0 = worst.0.max(max_diff(&a, &outputs(&sym, &x)));
        worst.1 = worst.1.max(max_diff(&a, &outputs(&asym, &x)));
    }
    assert!(worst.0 < 0.1 && worst.1 < 0.1, "{worst:?}");
}

/// An op without integer form (Mul by a constant) sits between DequantizeLinear and
/// QuantizeLinear and the report says so.
#[test]
fn ops_without_integer_form_stay_float_between_dq_and_q() {
    let mut float = Graph::new("mixed");
    let x = float.add_input("x", TensorType::f32(vec![1, 4]));
    let w1 = float.add_const("w1", f(&[4, 4], noise(31, 16)));
    let h = float.add_node("fc1", gemm_t(), &[x, w1]).unwrap();
    let k = float.add_const("k", Tensor::scalar_f32(0.5));
    let m = float.add_node("scale", Op::Mul, &[h, k]).unwrap();
    let w2 = float.add_const("w2", f(&[2, 4], noise(32, 8)));
    let y = float.add_node("fc2", gemm_t(), &[m, w2]).unwrap();
    float.add_output("y", y).unwrap();
    let mut g = float.clone();
    let c = calib(16, 4, 3);
    let report = run_pass(&mut g, run_quantize, QUANTIZE, "", Some(&c)).unwrap();
    assert_eq!(
        ops(&g),
        vec![
            "input",
            "quantize_linear",
            "gemm",
            "dequantize_linear",
            "mul",
            "quantize_linear",
            "gemm",
            "dequantize_linear",
            "output"
        ]
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n == "`scale` (mul): no integer form, computed in float"),
        "{:?}",
        report.notes
    );
}

#[test]
fn percentile_calibration_narrows_the_range() {
    let c = calib(64, 8, 7);
    let mut mm = mlp();
    run_pass(&mut mm, run_quantize, QUANTIZE, "calib=minmax", Some(&c)).unwrap();
    let mut pc = mlp();
    run_pass(
        &mut pc,
        run_quantize,
        QUANTIZE,
        "calib=percentile:pct=90",
        Some(&c),
    )
    .unwrap();
    let scale = |g: &Graph| {
        let q = find(g, "x.scale");
        match &g.node(q).op {
            Op::Const(t) => t.as_f32().unwrap()[0],
            _ => panic!(),
        }
    };
    assert!(scale(&pc) < scale(&mm), "{} vs {}", scale(&pc), scale(&mm));
}

#[test]
fn errors_users_can_provoke() {
    let c = calib(8, 8, 1);
    let err = |g: &mut Graph, args: &str, calib: Option<&Array>| {
        run_pass(g, run_quantize, QUANTIZE, args, calib).unwrap_err()
    };
    assert!(matches!(
        err(&mut mlp(), "int0", Some(&c)),
        PassError::InvalidArgs { .. }
    ));
    assert!(matches!(
        err(&mut mlp(), "int9", Some(&c)),
        PassError::InvalidArgs { .. }
    ));
    let e = err(&mut mlp(), "int8", None);
    assert!(matches!(e, PassError::Calibration { .. }));
    assert!(e.to_string().contains("--calib FILE.npy"), "{e}");
    let wrong = calib(8, 7, 1);
    let e = err(&mut mlp(), "", Some(&wrong));
    assert_eq!(
        e.to_string(),
        "pass `quantize`: calibration data: the array has shape [8,7], expected [N, 8] (N samples of the input shape [1,8])"
    );
    // Twice: the second run finds an integer graph.
    let mut g = mlp();
    run_pass(&mut g, run_quantize, QUANTIZE, "", Some(&c)).unwrap();
    let e = err(&mut g, "", Some(&c));
    assert!(matches!(e, PassError::NotApplicable { .. }), "{e}");
    assert!(e.to_string().contains("already quantized"), "{e}");
    // No dense layer at all.
    let mut g = Graph::new("relu");
    let x = g.add_input("x", TensorType::f32(vec![1, 8]));
    let r = g.add_node("r", Op::Relu, &[x]).unwrap();
    g.add_output("y", r).unwrap();
    let e = err(&mut g, "", Some(&c));
    assert!(e.to_string().contains("no float Gemm or Conv"), "{e}");
    // The graph is untouched after an error.
    let mut g = mlp();
    let _ = err(&mut g, "", Some(&wrong));
    assert_eq!(ops(&g), ops(&mlp()));
}

/// A hand-written QDQ model with a QONNX input Quant, run-time quantized weights and a
/// Conv -> Relu -> QuantizeLinear chain with a float bias: lowered exactly (the bias keeps
/// fractional bits: the accumulator is scaled up before it is added).
#[test]
fn lower_qdq_keeps_the_models_quantization() {
    let mut g = Graph::new("qdq");
    let x = g.add_input("x", TensorType::f32(vec![1, 1, 4, 4]));
    let s_in = g.add_const("s_in", Tensor::scalar_f32(1.0 / 255.0));
    let zero = g.add_const("zero", Tensor::scalar_f32(0.0));
    let eight = g.add_const("eight", Tensor::scalar_f32(8.0));
    let xq = g
        .add_node(
            "in_quant",
            Op::Quant(Quant {
                signed: false,
                narrow: false,
                rounding: RoundingMode::HalfEven,
            }),
            &[x, s_in, zero, eight],
        )
        .unwrap();
    let w = g.add_const("w", f(&[2, 1, 3, 3], noise(41, 18)));
    let s_w = g.add_const("s_w", f(&[2], vec![0.01, 0.007]));
    let zw = g.add_const(
        "zw",
        Tensor::from_i64(DType::I8, vec![2], vec![0, 0]).unwrap(),
    );
    let wq = g
        .add_node(
            "wq",
            Op::QuantizeLinear(QuantizeLinear {
                axis: 0,
                out: DType::I8,
            }),
            &[w, s_w, zw],
        )
        .unwrap();
    let wc = g
        .add_node(
            "wclip",
            Op::Clip(snnc_ir::op::Clip {
                min: Some(-127.0),
                max: Some(127.0),
            }),
            &[wq],
        )
        .unwrap();
    let wdq = g
        .add_node(
            "wdq",
            Op::DequantizeLinear(DequantizeLinear { axis: 0 }),
            &[wc, s_w, zw],
        )
        .unwrap();
    let b = g.add_const("b", f(&[2], vec![0.05, -0.02]));
    let conv = Op::Conv(Conv {
        stride: vec![1, 1],
        pads: vec![0; 4],
        dilation: vec![1, 1],
        groups: 1,
    });
    let c = g.add_node("conv", conv, &[xq, wdq, b]).unwrap();
    let r = g.add_node("relu", Op::Relu, &[c]).unwrap();
    let s_y = g.add_const("s_y", Tensor::scalar_f32(0.003));
    let zy = g.add_const("zy", Tensor::from_i64(DType::U8, vec![], vec![0]).unwrap());
    let yq = g
        .add_node(
            "yq",
            Op::QuantizeLinear(QuantizeLinear {
                axis: 1,
                out: DType::U8,
            }),
            &[r, s_y, zy],
        )
        .unwrap();
    let ydq = g
        .add_node(
            "ydq",
            Op::DequantizeLinear(DequantizeLinear { axis: 1 }),
            &[yq, s_y, zy],
        )
        .unwrap();
    g.add_output("y", ydq).unwrap();
    let float = g.clone();
    let report = run_pass(&mut g, run_lower_qdq, LOWER_QDQ, "", None).unwrap();
    assert_eq!(
        ops(&g),
        vec![
            "input",
            "quantize_linear",
            "conv",
            "mul",
            "add",
            "requant",
            "dequantize_linear",
            "output"
        ],
        "{:?}",
        report.notes
    );
    // The folded weight keeps the Clip's narrow 8-bit range and the per-channel scales.
    let wt = g.ty(find(&g, "w")).quant.clone().unwrap();
    assert_eq!((wt.bits, wt.narrow, wt.axis), (8, true, Some(0)));
    assert_eq!(wt.scale, vec![0.01, 0.007]);
    let mut same = 0;
    for seed in 500..600 {
        let xs: Vec<f32> = noise(seed, 16).iter().map(|v| (v + 1.0) / 2.0).collect();
        let (a, b) = (outputs(&float, &xs), outputs(&g, &xs));
        assert!(max_diff(&a, &b) <= 0.003 + 1e-6, "{a:?} vs {b:?}");
        same += usize::from(a == b);
    }
    assert!(same >= 95, "{same}/100 equal");
    // Nothing to lower in a float model: a no-op.
    let mut plain = mlp();
    let r = run_pass(&mut plain, run_lower_qdq, LOWER_QDQ, "", None).unwrap();
    assert_eq!(r.changed, 0);
    assert!(run_pass(&mut plain, run_lower_qdq, LOWER_QDQ, "x", None).is_err());
}

#[test]
fn stateful_graphs_are_not_quantized() {
    let mut g = Graph::new("snn");
    let x = g.add_input("x", TensorType::f32(vec![2]));
    let l = g
        .add_node(
            "lif",
            Op::Lif(snnc_ir::op::Lif {
                tau: Tensor::scalar_f32(0.01),
                r: Tensor::scalar_f32(1.0),
                v_leak: Tensor::scalar_f32(0.0),
                v_threshold: Tensor::scalar_f32(1.0),
                v_reset: Tensor::scalar_f32(0.0),
                reset: snnc_ir::op::ResetMode::ToValue,
            }),
            &[x],
        )
        .unwrap();
    g.add_output("y", l).unwrap();
    let c = calib(2, 2, 1);
    let e = run_pass(&mut g, run_quantize, QUANTIZE, "", Some(&c)).unwrap_err();
    assert!(matches!(e, PassError::NotApplicable { .. }), "{e}");
}

/// With power-of-two scales the requantized value can be an exact tie: Requant rounds it half
/// up, QuantizeLinear half to even. The report flags such Requants (docs/semantics.md §8.5).
#[test]
fn power_of_two_ratios_are_flagged_for_ties() {
    let mut g = Graph::new("po2");
    let x = g.add_input("x", TensorType::f32(vec![1, 1]));
    let one = g.add_const("one", Tensor::scalar_f32(1.0));
    let zp = g.add_const("zp", Tensor::from_i64(DType::I8, vec![], vec![0]).unwrap());
    let ql = |out| Op::QuantizeLinear(QuantizeLinear { axis: 0, out });
    let dql = Op::DequantizeLinear(DequantizeLinear { axis: 0 });
    let xq = g.add_node("xq", ql(DType::I8), &[x, one, zp]).unwrap();
    let xdq = g.add_node("xdq", dql.clone(), &[xq, one, zp]).unwrap();
    let w = g.add_const(
        "w",
        Tensor::from_i64(DType::I8, vec![1, 1], vec![1]).unwrap(),
    );
    let half = g.add_const("half", Tensor::scalar_f32(0.5));
    let wdq = g.add_node("wdq", dql.clone(), &[w, half]).unwrap();
    let y = g.add_node("fc", gemm_t(), &[xdq, wdq]).unwrap();
    let yq = g.add_node("yq", ql(DType::I8), &[y, one, zp]).unwrap();
    let ydq = g.add_node("ydq", dql, &[yq, one, zp]).unwrap();
    g.add_output("out", ydq).unwrap();
    let float = g.clone();
    let report = run_pass(&mut g, run_lower_qdq, LOWER_QDQ, "", None).unwrap();
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("exact ties are possible")),
        "{:?}",
        report.notes
    );
    // x = 1: y = 0.5 exactly. QuantizeLinear: 0 (to even); Requant (2^30·1 + 2^30) >> 31 = 1.
    assert_eq!(outputs(&float, &[1.0]), vec![0.0]);
    assert_eq!(outputs(&g, &[1.0]), vec![1.0]);
    // Away from ties both agree: x = 3 -> 1.5 -> 2 in both.
    assert_eq!(outputs(&float, &[3.0]), outputs(&g, &[3.0]));
    // The mlp's calibrated scales give no such flag.
    let mut m = mlp();
    let c = calib(16, 8, 2);
    let r = run_pass(&mut m, run_quantize, QUANTIZE, "", Some(&c)).unwrap();
    assert!(!r.notes.iter().any(|n| n.contains("exact ties")));
}
