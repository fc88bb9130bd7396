//! Round-trip, error and robustness tests of the text form.

use std::collections::HashMap;

use super::attrs::{POOL_KINDS, RESET_MODES, ROUNDING_MODES};
use super::{parse, print, PrintOptions};
use crate::op::{
    BatchNorm, BinThreshold, Clip, Conv, CubaLif, Delay, DequantizeLinear, Flatten, Gemm, IfNeuron,
    IntLif, Integrator, Li, Lif, Pool, PoolKind, Quant, QuantizeLinear, Requant, ResetMode,
    Reshape, RoundingMode, Threshold, Trunc,
};
use crate::verify::op_tensors;
use crate::{DType, Data, Graph, IrError, NodeId, Op, QuantParams, Tensor, TensorType};

fn full() -> PrintOptions {
    PrintOptions::default()
}

fn f32t(shape: &[usize], data: Vec<f32>) -> Tensor {
    Tensor::from_f32(shape.to_vec(), data).unwrap()
}

fn scalar(v: f32) -> Tensor {
    Tensor::scalar_f32(v)
}

/// Add a node by hand (no type inference): operands are `(source, recurrent)` in slot order.
fn node(
    g: &mut Graph,
    name: &str,
    op: Op,
    operands: &[(NodeId, bool)],
    ty: Option<TensorType>,
) -> NodeId {
    let id = g.add_node_untyped(name, op);
    for (slot, (src, rec)) in operands.iter().enumerate() {
        g.connect(*src, id, slot, *rec).unwrap();
    }
    g.node_mut(id).ty = ty;
    id
}

fn ty(shape: &[usize]) -> Option<TensorType> {
    Some(TensorType::f32(shape.to_vec()))
}

/// Every op variant, each with non-default attributes, special floats, quantized types, a
/// recurrent edge, inputs created out of index order, and untyped nodes.
fn every_op_graph() -> Graph {
    let mut g = Graph::new("every \"op\"\n/ü");
    let x1 = node(&mut g, "x1", Op::Input { index: 1 }, &[], ty(&[1, 4]));
    let x0 = node(&mut g, "x:0", Op::Input { index: 0 }, &[], ty(&[1, 4]));
    let special = f32t(
        &[2, 4],
        vec![
            0.1,
            -0.0,
            f32::from_bits(1),
            f32::MIN_POSITIVE,
            f32::MAX,
            -1.5e-7,
            1e20,
            3.0,
        ],
    );
    let w = g.add_const("w", special);
    let b = g.add_const(
        "b",
        Tensor::from_i64(DType::I8, vec![2], vec![-128, 127]).unwrap(),
    );
    let u = g.add_const(
        "u32",
        Tensor::from_i64(DType::U32, vec![1, 2], vec![0, u32::MAX as i64]).unwrap(),
    );
    let l = g.add_const(
        "i64",
        Tensor::from_i64(DType::I64, vec![2], vec![i64::MIN, i64::MAX]).unwrap(),
    );
    let flag = g.add_const(
        "flag",
        Tensor::from_i64(DType::Bool, vec![3], vec![1, 0, 1]).unwrap(),
    );
    let empty = g.add_const("empty", f32t(&[0, 3], vec![]));
    // A constant whose node type differs from its data (invalid, but it must still round-trip).
    let odd = node(
        &mut g,
        "odd",
        Op::Const(scalar(2.0)),
        &[],
        Some(TensorType::new(DType::I16, vec![1])),
    );
    let untyped_const = node(&mut g, "untyped const", Op::Const(scalar(-3.25)), &[], None);
    let gemm = node(
        &mut g,
        "/0/Gemm",
        Op::Gemm(Gemm {
            alpha: 0.5,
            beta: -2.0,
            trans_a: true,
            trans_b: true,
        }),
        &[(x0, false), (w, false), (b, false)],
        ty(&[1, 2]),
    );
    let mm = node(
        &mut g,
        "mm",
        Op::MatMul,
        &[(x1, false), (w, false)],
        ty(&[1, 4]),
    );
    let conv = node(
        &mut g,
        "conv",
        Op::Conv(Conv {
            stride: vec![2, 3],
            pads: vec![1, 0, 2, 1],
            dilation: vec![1, 2],
            groups: 4,
        }),
        &[(mm, false), (w, false)],
        ty(&[1, 4, 2, 2]),
    );
    let mut pools = conv;
    for (i, kind) in POOL_KINDS.iter().enumerate() {
        pools = node(
            &mut g,
            &format!("pool{i}"),
            Op::Pool(Pool {
                kind: *kind,
                kernel: vec![3, 2],
                stride: vec![1, 2],
                pads: vec![0, 1, 1, 0],
                dilation: vec![2, 1],
                ceil_mode: i % 2 == 0,
                count_include_pad: i % 2 == 1,
            }),
            &[(pools, false)],
            ty(&[1, 4, 1, 1]),
        );
    }
    let flat = node(
        &mut g,
        "flat",
        Op::Flatten(Flatten {
            start_dim: 1,
            end_dim: 3,
        }),
        &[(pools, false)],
        ty(&[1, 4]),
    );
    let resh = node(
        &mut g,
        "resh",
        Op::Reshape(Reshape { shape: vec![4, 1] }),
        &[(flat, false)],
        ty(&[4, 1]),
    );
    let mul = node(
        &mut g,
        "mul",
        Op::Mul,
        &[(resh, false), (u, false)],
        ty(&[4, 2]),
    );
    let relu = node(&mut g, "relu", Op::Relu, &[(mul, false)], ty(&[4, 2]));
    let clip = node(
        &mut g,
        "clip",
        Op::Clip(Clip {
            min: Some(-1.5),
            max: None,
        }),
        &[(relu, false)],
        ty(&[4, 2]),
    );
    let clip2 = node(
        &mut g,
        "clip2",
        Op::Clip(Clip {
            min: None,
            // Not an f32: the bound must travel as f64.
            max: Some(0.1),
        }),
        &[(clip, false)],
        ty(&[4, 2]),
    );
    let bn = node(
        &mut g,
        "bn",
        Op::BatchNorm(BatchNorm { epsilon: 1e-5 }),
        &[
            (clip2, false),
            (w, false),
            (w, false),
            (w, false),
            (w, false),
        ],
        ty(&[4, 2]),
    );
    let sign = node(&mut g, "sign", Op::Sign, &[(bn, false)], ty(&[4, 2]));
    let thr = node(
        &mut g,
        "thr",
        Op::Threshold(Threshold {
            threshold: f32t(&[2], vec![0.25, -0.75]),
        }),
        &[(sign, false)],
        ty(&[4, 2]),
    );
    let mut q = thr;
    for (i, r) in ROUNDING_MODES.iter().enumerate() {
        q = node(
            &mut g,
            &format!("quant{i}"),
            Op::Quant(Quant {
                signed: i % 2 == 0,
                narrow: i % 3 == 0,
                rounding: *r,
            }),
            &[(q, false), (w, false), (b, false), (l, false)],
            ty(&[4, 2]),
        );
        q = node(
            &mut g,
            &format!("trunc{i}"),
            Op::Trunc(Trunc {
                signed: i % 2 == 1,
                narrow: i % 3 == 1,
                rounding: *r,
            }),
            &[
                (q, false),
                (w, false),
                (b, false),
                (l, false),
                (flag, false),
            ],
            ty(&[4, 2]),
        );
    }
    let bq = node(
        &mut g,
        "bq",
        Op::BipolarQuant,
        &[(q, false), (w, false)],
        ty(&[4, 2]),
    );
    let quant_ty = TensorType {
        dtype: DType::U8,
        shape: vec![4, 2],
        quant: Some(QuantParams {
            scale: vec![0.5, f32::from_bits(0x0000_0003)],
            zero_point: vec![0, 255],
            axis: Some(1),
            bits: 4,
            signed: false,
            narrow: true,
        }),
    };
    let ql = node(
        &mut g,
        "ql",
        Op::QuantizeLinear(QuantizeLinear {
            axis: 1,
            out: DType::U8,
        }),
        &[(bq, false), (w, false), (b, false)],
        Some(quant_ty),
    );
    let dql = node(
        &mut g,
        "dql",
        Op::DequantizeLinear(DequantizeLinear { axis: 1 }),
        &[(ql, false), (w, false)],
        ty(&[4, 2]),
    );
    // `add` reads `delay`, defined further down, through a recurrent edge.
    let add = g.add_node_untyped("rec add", Op::Add);
    g.connect(dql, add, 0, false).unwrap();
    g.node_mut(add).ty = ty(&[4, 2]);
    let mut neurons = add;
    for (i, reset) in RESET_MODES.iter().enumerate() {
        neurons = node(
            &mut g,
            &format!("lif{i}"),
            Op::Lif(Lif {
                tau: scalar(0.002),
                r: f32t(&[2], vec![1.0, 2.0]),
                v_leak: scalar(-0.0),
                v_threshold: scalar(1.0),
                v_reset: scalar(0.0),
                reset: *reset,
            }),
            &[(neurons, false)],
            ty(&[4, 2]),
        );
        neurons = node(
            &mut g,
            &format!("cuba{i}"),
            Op::CubaLif(CubaLif {
                tau_syn: scalar(0.005),
                tau_mem: scalar(0.01),
                r: scalar(10.0),
                v_leak: scalar(0.0),
                v_threshold: f32t(&[2], vec![0.5, 0.75]),
                v_reset: scalar(-0.1),
                w_in: scalar(3.0),
                reset: *reset,
            }),
            &[(neurons, false)],
            ty(&[4, 2]),
        );
        neurons = node(
            &mut g,
            &format!("if{i}"),
            Op::If(IfNeuron {
                r: scalar(1.5),
                v_threshold: scalar(2.0),
                v_reset: scalar(0.0),
                reset: *reset,
            }),
            &[(neurons, false)],
            ty(&[4, 2]),
        );
    }
    let li = node(
        &mut g,
        "li",
        Op::Li(Li {
            tau: scalar(0.02),
            r: scalar(1.0),
            v_leak: scalar(0.125),
        }),
        &[(neurons, false)],
        ty(&[4, 2]),
    );
    let integ = node(
        &mut g,
        "integ",
        Op::Integrator(Integrator { r: scalar(0.5) }),
        &[(li, false)],
        ty(&[4, 2]),
    );
    let delay = node(
        &mut g,
        "delay",
        Op::Delay(Delay {
            delay: f32t(&[2], vec![0.001, 0.003]),
        }),
        &[(integ, false)],
        ty(&[4, 2]),
    );
    g.connect(delay, add, 1, true).unwrap();
    // Untyped node reading several constants.
    let untyped = node(
        &mut g,
        "untyped",
        Op::Add,
        &[(odd, false), (untyped_const, false)],
        None,
    );
    node(
        &mut g,
        "y1",
        Op::Output { index: 1 },
        &[(untyped, false)],
        ty(&[1]),
    );
    node(
        &mut g,
        "y0",
        Op::Output { index: 0 },
        &[(delay, false)],
        ty(&[4, 2]),
    );
    // The integer ops: per-channel and scalar tensors, every reset mode, a bin constant.
    let i64t = |shape: &[usize], v: &[i64]| {
        Tensor::from_i64(DType::I64, shape.to_vec(), v.to_vec()).unwrap()
    };
    let ity = |dtype: DType| Some(TensorType::new(dtype, vec![1, 2]));
    g.add_const(
        "bin",
        Tensor::from_i64(DType::Bin, vec![3], vec![1, -1, 1]).unwrap(),
    );
    let rq = node(
        &mut g,
        "rq",
        Op::Requant(Requant {
            multiplier: i64t(&[2], &[1 << 30, 3]),
            shift: i64t(&[2], &[31, 0]),
            zero_point: -3,
            axis: 1,
            out: DType::I8,
            lo: -3,
            hi: 127,
        }),
        &[(gemm, false)],
        ity(DType::I8),
    );
    let bt = node(
        &mut g,
        "bt",
        Op::BinThreshold(BinThreshold {
            threshold: i64t(&[], &[-5]),
            flip: i64t(&[], &[1]),
            axis: 0,
        }),
        &[(rq, false)],
        ity(DType::Bin),
    );
    let mut ilif = bt;
    for (i, reset) in RESET_MODES.iter().enumerate() {
        ilif = node(
            &mut g,
            &format!("int_lif{i}"),
            Op::IntLif(IntLif {
                decay: i64t(&[2], &[192, 256]),
                frac_bits: 8,
                bias: i64t(&[], &[-1]),
                threshold: i64t(&[1, 2], &[100, i64::MAX]),
                v_reset: i64t(&[], &[0]),
                reset: *reset,
                state_bits: 16 + i as u8,
            }),
            &[(ilif, false)],
            ity(DType::Bool),
        );
    }
    node(
        &mut g,
        "unused",
        Op::Relu,
        &[(gemm, false), (empty, false)],
        None,
    );
    g
}

fn tensor_bits(t: &Tensor) -> (DType, Vec<usize>, Vec<u64>) {
    let bits = match t.data() {
        Data::F32(v) => v.iter().map(|x| u64::from(x.to_bits())).collect(),
        Data::I64(v) => v.iter().map(|x| *x as u64).collect(),
    };
    (t.dtype(), t.shape().to_vec(), bits)
}

/// The scalar float attributes of an op, as bits (Debug output hides NaN payloads).
fn float_bits(op: &Op) -> Vec<u64> {
    match op {
        Op::Gemm(g) => vec![g.alpha.to_bits().into(), g.beta.to_bits().into()],
        Op::BatchNorm(b) => vec![b.epsilon.to_bits().into()],
        Op::Clip(c) => [c.min, c.max]
            .iter()
            .map(|v| v.map_or(u64::MAX, f64::to_bits))
            .collect(),
        _ => vec![],
    }
}

fn type_key(t: &Option<TensorType>) -> String {
    match t {
        None => "untyped".to_string(),
        Some(t) => {
            let scale: Vec<u32> = t
                .quant
                .iter()
                .flat_map(|q| q.scale.iter().map(|s| s.to_bits()))
                .collect();
            format!("{t:?} {scale:?}")
        }
    }
}

/// `b` is `a` as it comes back from the text: same nodes (in `a`'s topological order), ops,
/// attributes and tensors bit for bit, names, types, edges, inputs and outputs.
fn assert_same(a: &Graph, b: &Graph) {
    assert_eq!(a.name, b.name);
    let oa = a.topo_order().unwrap_or_else(|_| a.node_ids());
    let ob = b.node_ids();
    assert_eq!(oa.len(), ob.len());
    let map: HashMap<NodeId, NodeId> = oa.iter().copied().zip(ob.iter().copied()).collect();
    for (ia, ib) in oa.iter().zip(&ob) {
        let (na, nb) = (a.node(*ia), b.node(*ib));
        assert_eq!(na.name, nb.name);
        assert_eq!(
            format!("{:?}", na.op),
            format!("{:?}", nb.op),
            "{}",
            na.name
        );
        assert_eq!(float_bits(&na.op), float_bits(&nb.op), "{}", na.name);
        let ta: Vec<_> = op_tensors(&na.op)
            .into_iter()
            .map(|(k, t)| (k, tensor_bits(t)))
            .collect();
        let tb: Vec<_> = op_tensors(&nb.op)
            .into_iter()
            .map(|(k, t)| (k, tensor_bits(t)))
            .collect();
        assert_eq!(ta, tb, "{}", na.name);
        assert_eq!(type_key(&na.ty), type_key(&nb.ty), "{}", na.name);
        let ea: Vec<_> = a.operands(*ia).iter().map(|(s, e)| (map[s], *e)).collect();
        assert_eq!(ea, b.operands(*ib), "{}", na.name);
    }
    let io = |v: &[NodeId]| v.iter().map(|i| map[i]).collect::<Vec<_>>();
    assert_eq!(io(a.inputs()), b.inputs());
    assert_eq!(io(a.outputs()), b.outputs());
}

fn round_trip(g: &Graph) -> String {
    let text = print(g, &full());
    let back = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_same(g, &back);
    assert_eq!(print(&back, &full()), text);
    text
}

#[test]
fn every_op_round_trips() {
    let g = every_op_graph();
    let text = round_trip(&g);
    let expected_ops = [
        "gemm",
        "matmul",
        "conv",
        "pool",
        "flatten",
        "reshape",
        "add",
        "mul",
        "relu",
        "clip",
        "batchnorm",
        "sign",
        "threshold",
        "quant",
        "bipolar_quant",
        "trunc",
        "quantize_linear",
        "dequantize_linear",
        "lif",
        "cuba_lif",
        "if",
        "li",
        "integrator",
        "delay",
        "requant",
        "bin_threshold",
        "int_lif",
        "input",
        "output",
        "const",
    ];
    for op in expected_ops {
        assert!(text.contains(&format!("= {op}")), "{op} missing:\n{text}");
    }
    assert!(text.contains("  n0 = input 1 \"x1\" : f32[1,4]\n  n1 = input 0 \"x:0\" : f32[1,4]\n"));
    assert!(text.contains(
        "  n10 = gemm(n1, n2, n3) {alpha = 0.5, beta = -2.0, trans_a = true, trans_b = true} \"/0/Gemm\" : f32[1,2]\n"
    ), "{text}");
    assert!(text.contains("{min = -1.5, max = none}"), "{text}");
    assert!(text.contains("{min = none, max = 0.1}"), "{text}");
    assert!(text.contains("quant {scale = [0.5, 4e-45], zero_point = [0, 255], axis = 1, bits = 4, signed = false, narrow = true}"), "{text}");
    assert!(text.contains("= [-128, 127]"), "{text}");
    assert!(text.contains("\"odd\" : i16[1] = f32[] [2.0]"), "{text}");
    assert!(text.contains("\"untyped const\" = f32[] [-3.25]"), "{text}");
    assert!(
        text.contains("= [-9223372036854775808, 9223372036854775807]"),
        "{text}"
    );
    assert!(text.contains("reset = subtract"), "{text}");
    assert!(text.contains("rounding = away_from_zero"), "{text}");
    assert!(text.contains("kind = sum"), "{text}");
    assert!(text.contains(
        "= requant(n10) {multiplier = i64[2] [1073741824, 3], shift = i64[2] [31, 0], zero_point = -3, axis = 1, out = i8, lo = -3, hi = 127} \"rq\" : i8[1,2]\n"
    ), "{text}");
    assert!(
        text.contains("{threshold = i64[] [-5], flip = i64[] [1], axis = 0} \"bt\" : bin[1,2]\n"),
        "{text}"
    );
    assert!(text.contains(
        "{decay = i64[2] [192, 256], frac_bits = 8, bias = i64[] [-1], threshold = i64[1,2] [100, 9223372036854775807], v_reset = i64[] [0], reset = subtract, state_bits = 17} \"int_lif1\" : bool[1,2]\n"
    ), "{text}");
    assert!(text.contains("\"bin\" : bin[3] = [1, -1, 1]"), "{text}");
}

#[test]
fn printed_form_is_exactly_as_documented() {
    let mut g = Graph::new("ann_mlp");
    let x = g.add_input("x", TensorType::f32(vec![1, 2]));
    let w = g.add_const(
        "0.weight",
        f32t(&[3, 2], vec![0.1, -0.25, 1.0, 0.0, -0.0, 2.5]),
    );
    let bias = g.add_const("0.bias", f32t(&[3], vec![0.5, 0.0, -1.0]));
    let gemm = node(
        &mut g,
        "/0/Gemm",
        Op::Gemm(Gemm {
            trans_b: true,
            ..Gemm::default()
        }),
        &[(x, false), (w, false), (bias, false)],
        ty(&[1, 3]),
    );
    let add = g.add_node_untyped("rec", Op::Add);
    g.connect(gemm, add, 0, false).unwrap();
    g.node_mut(add).ty = ty(&[1, 3]);
    let relu = node(&mut g, "relu", Op::Relu, &[(add, false)], ty(&[1, 3]));
    g.connect(relu, add, 1, true).unwrap();
    node(
        &mut g,
        "logits",
        Op::Output { index: 0 },
        &[(relu, false)],
        ty(&[1, 3]),
    );
    let text = round_trip(&g);
    assert_eq!(
        text,
        r#"graph "ann_mlp" {
  n0 = input 0 "x" : f32[1,2]
  n1 = const "0.weight" : f32[3,2] = [0.1, -0.25, 1.0, 0.0, -0.0, 2.5]
  n2 = const "0.bias" : f32[3] = [0.5, 0.0, -1.0]
  n3 = gemm(n0, n1, n2) {alpha = 1.0, beta = 1.0, trans_a = false, trans_b = true} "/0/Gemm" : f32[1,3]
  n4 = add(n3, ^n5) "rec" : f32[1,3]
  n5 = relu(n4) "relu" : f32[1,3]
  n6 = output 0 (n5) "logits" : f32[1,3]
}
"#
    );
}

#[test]
fn ids_with_gaps_are_renumbered_densely() {
    let mut g = Graph::new("gaps");
    let junk = g.add_const("junk", scalar(1.0));
    let x = g.add_input("x", TensorType::f32(vec![2]));
    let junk2 = g.add_const("junk2", scalar(1.0));
    let r = node(&mut g, "r", Op::Relu, &[(x, false)], ty(&[2]));
    node(
        &mut g,
        "y",
        Op::Output { index: 0 },
        &[(r, false)],
        ty(&[2]),
    );
    g.remove_node(junk);
    g.remove_node(junk2);
    let text = round_trip(&g);
    assert!(text.contains("  n0 = input 0 \"x\""), "{text}");
    assert!(text.contains("  n1 = relu(n0)"), "{text}");
    assert!(text.contains("  n2 = output 0 (n1)"), "{text}");
}

#[test]
fn floats_round_trip_bit_exactly() {
    let vals = vec![
        0.1,
        -0.0,
        0.0,
        f32::from_bits(1),
        f32::from_bits(0x007f_ffff),
        f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
        f32::EPSILON,
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7f80_0001),
        f32::from_bits(0xffbf_ffff),
        f32::INFINITY,
        f32::NEG_INFINITY,
        16_777_217.0,
        1.0 / 3.0,
    ];
    let mut g = Graph::new("floats");
    let n = vals.len();
    g.add_const("c", f32t(&[n], vals));
    node(
        &mut g,
        "g",
        Op::Gemm(Gemm {
            alpha: f32::from_bits(0x7fa0_0000),
            beta: -0.0,
            trans_a: false,
            trans_b: false,
        }),
        &[],
        None,
    );
    node(
        &mut g,
        "c2",
        Op::Clip(Clip {
            min: Some(f64::from_bits(0xfff8_0000_0000_0001)),
            max: Some(f64::from_bits(1)),
        }),
        &[],
        None,
    );
    let text = round_trip(&g);
    assert!(text.contains("nan:0x7f800001"), "{text}");
    assert!(text.contains("alpha = nan:0x7fa00000"), "{text}");
    assert!(
        text.contains("min = nan:0xfff8000000000001, max = 5e-324"),
        "{text}"
    );
    assert!(text.contains(", -nan, "), "{text}");
}

#[test]
fn awkward_names_round_trip() {
    let names = [
        "with \"quotes\"",
        "back\\slash",
        "line\nbreak\r\ttab",
        "ünïcödé 🦀",
        "/model/conv.0/Conv:0",
        "bell\u{7}\u{1b}",
        "{ } ( ) = , ^ : [ ]",
        "// not a comment",
    ];
    let mut g = Graph::new("names \u{2028} \"g\"");
    let mut prev = g.add_input(names[0], TensorType::f32(vec![1]));
    for name in &names[1..] {
        prev = node(&mut g, name, Op::Relu, &[(prev, false)], ty(&[1]));
    }
    node(
        &mut g,
        "",
        Op::Output { index: 0 },
        &[(prev, false)],
        ty(&[1]),
    );
    let text = round_trip(&g);
    assert_eq!(text.lines().count(), names.len() + 3, "{text}");
    assert!(text.contains(r#""line\nbreak\r\ttab""#), "{text}");
    assert!(text.contains(r#""bell\u{7}\u{1b}""#), "{text}");
}

#[test]
fn recurrent_edges_and_sparse_slots_round_trip() {
    let mut g = Graph::new("rec");
    let x = g.add_input("x", TensorType::f32(vec![2]));
    let a = g.add_node_untyped("a", Op::Add);
    let b = g.add_node_untyped("b", Op::Mul);
    g.connect(x, a, 0, false).unwrap();
    g.connect(b, a, 1, true).unwrap();
    g.connect(a, b, 0, false).unwrap();
    g.connect(b, b, 1, true).unwrap();
    // A gemm with slots 0 and 2 only, and an output reading slot 3: invalid, still printable.
    let w = g.add_const("w", scalar(1.0));
    let gm = g.add_node_untyped("gm", Op::Gemm(Gemm::default()));
    g.connect(b, gm, 0, false).unwrap();
    g.connect(w, gm, 2, false).unwrap();
    let y = g.add_node_untyped("y", Op::Output { index: 0 });
    g.connect(gm, y, 3, false).unwrap();
    let text = round_trip(&g);
    assert!(text.contains("n1 = add(n0, ^n2) \"a\""), "{text}");
    assert!(text.contains("n2 = mul(n1, ^n2) \"b\""), "{text}");
    assert!(text.contains("n4 = gemm(n2, 2: n3)"), "{text}");
    assert!(text.contains("output 0 (3: n4)"), "{text}");
}

#[test]
fn cyclic_graph_still_prints_in_id_order() {
    let mut g = Graph::new("cycle");
    let a = g.add_node_untyped("a", Op::Relu);
    let b = g.add_node_untyped("b", Op::Relu);
    g.connect(a, b, 0, false).unwrap();
    g.connect(b, a, 0, false).unwrap();
    let text = print(&g, &full());
    assert!(text.contains("n0 = relu(n1) \"a\""), "{text}");
    let back = parse(&text).unwrap();
    assert_eq!(print(&back, &full()), text);
}

#[test]
fn elided_constants_print_a_digest_and_refuse_to_parse() {
    let mut g = Graph::new("big");
    let data: Vec<f32> = (0..100).map(|i| i as f32 * 0.5).collect();
    g.add_const("big", f32t(&[10, 10], data));
    g.add_const("small", f32t(&[2], vec![1.0, 2.0]));
    node(
        &mut g,
        "thr",
        Op::Threshold(Threshold {
            threshold: f32t(&[5], vec![1.0; 5]),
        }),
        &[],
        None,
    );
    let opts = PrintOptions {
        elide_consts_over: Some(4),
    };
    let text = print(&g, &opts);
    assert!(
        text.contains(
            "\"big\" : f32[10,10] = elided(len=100, sum=2475.0, min=0.0, max=49.5, fnv=0x"
        ),
        "{text}"
    );
    assert!(text.contains("\"small\" : f32[2] = [1.0, 2.0]"), "{text}");
    assert!(
        text.contains("threshold = f32[5] elided(len=5, sum=5.0"),
        "{text}"
    );
    assert_eq!(print(&g, &opts), text);
    match parse(&text) {
        Err(IrError::Parse {
            line: 2, reason, ..
        }) => {
            assert_eq!(
                reason,
                "constant data elided; print with full data to round-trip"
            )
        }
        other => panic!("{other:?}"),
    }
    // Changing one element changes the digest.
    let mut g2 = Graph::new("big");
    let mut data: Vec<f32> = (0..100).map(|i| i as f32 * 0.5).collect();
    data[17] = f32::from_bits(data[17].to_bits() + 1);
    g2.add_const("big", f32t(&[10, 10], data));
    let t1 = print(&g, &opts);
    let t2 = print(&g2, &opts);
    assert_ne!(t1.lines().nth(1), t2.lines().nth(1));
}

fn parse_err(src: &str) -> (usize, usize, String) {
    match parse(src) {
        Err(IrError::Parse { line, col, reason }) => (line, col, reason),
        other => panic!("expected a parse error for {src:?}, got {other:?}"),
    }
}

#[test]
fn parse_errors_report_line_and_column() {
    let (l, c, r) = parse_err("graph \"g\" {\n  n0 = frobnicate \"x\"\n}\n");
    assert_eq!((l, c, r.as_str()), (2, 8, "unknown op `frobnicate`"));

    let (l, c, r) = parse_err("graph \"g\" {\n  n0 = input 0 \"x\" : f32[2]\n");
    assert_eq!((l, c), (3, 1));
    assert!(r.contains("not closed"), "{r}");

    let (l, c, r) = parse_err("graph \"g\" {\n  n0 = const \"w\" : f32[2] = [1.0, 2.0, 3.0]\n}");
    assert_eq!((l, c), (2, 29));
    assert_eq!(r, "3 values given for f32[2], which holds 2");

    let (l, c, r) = parse_err("graph \"g\" {\n  n0 = const \"w\" : i8[2] = [1, 300]\n}");
    assert_eq!((l, c, r.as_str()), (2, 32, "300 is out of range for i8"));

    let (l, c, r) = parse_err("graph \"g\" {\n  n0 = const \"w\" : i8[1] = [1.5]\n}");
    assert_eq!((l, c, r.as_str()), (2, 29, "`1.5` is not an integer"));

    let (l, c, r) = parse_err("graph \"g\" {\n  n0 = gemm(n1, n2) {alpha = true, beta = 1.0, trans_a = false, trans_b = false} \"g\"\n}");
    assert_eq!(
        (l, c, r.as_str()),
        (2, 22, "`alpha`: `true` is not a float")
    );

    let lif = "n0 = int_lif {decay = i64[] [3], frac_bits = 300, bias = i64[] [0], threshold = i64[] [9], v_reset = i64[] [0], reset = to_value, state_bits = 16} \"l\"";
    let (l, c, r) = parse_err(&format!("graph \"g\" {{\n  {lif}\n}}"));
    assert_eq!(
        (l, c, r.as_str()),
        (2, 36, "`frac_bits`: `300` is not an integer in 0..=255")
    );
    let rq = "n0 = requant {multiplier = i64[] [3], shift = i64[] [1], zero_point = 0.5, axis = 0, out = i8, lo = -128, hi = 127} \"r\"";
    let (l, c, r) = parse_err(&format!("graph \"g\" {{\n  {rq}\n}}"));
    assert_eq!(
        (l, c, r.as_str()),
        (2, 60, "`zero_point`: `0.5` is not an integer")
    );
    let (l, c, r) = parse_err("graph \"g\" {\n  n0 = const \"b\" : bin[2] = [1, 0]\n}");
    assert_eq!((l, c, r.as_str()), (2, 33, "0 is out of range for bin"));

    let (l, c, r) = parse_err("graph \"g\" {\n  n0 = gemm {alpha = 1.0} \"g\"\n}");
    assert_eq!((l, c, r.as_str()), (2, 8, "gemm needs attribute `beta`"));

    let (l, c, r) = parse_err("graph \"g\" {\n  n0 = relu {x = 1} \"g\"\n}");
    assert_eq!((l, c, r.as_str()), (2, 14, "relu has no attribute `x`"));

    let (l, c, r) = parse_err("graph \"g\" {\n  n0 = relu(n7) \"g\"\n}");
    assert_eq!((l, c, r.as_str()), (2, 13, "no node is labelled `n7`"));

    let (l, c, r) = parse_err("graph \"g\" {\n  n0 = input 0 \"x\"\n  n0 = relu(n0) \"y\"\n}");
    assert_eq!(
        (l, c, r.as_str()),
        (3, 3, "node label `n0` is defined twice")
    );

    let (l, c, r) =
        parse_err("graph \"g\" {\n  n0 = input 0 \"x\"\n  n1 = add(n0, 0: n0) \"y\"\n}");
    assert_eq!((l, c), (3, 19));
    assert!(r.contains("input slot 0 is already connected"), "{r}");

    let (l, c, r) = parse_err("graph \"g\" {\n  n0 = input 0 \"x\" : q32[2]\n}");
    assert_eq!((l, c, r.as_str()), (2, 22, "unknown element type `q32`"));

    let (l, c, r) = parse_err("graph \"g\" {\n  n0 = relu \"x\" = [1.0]\n}");
    assert_eq!(
        (l, c, r.as_str()),
        (2, 17, "only `const` nodes are followed by `= data`")
    );

    let (l, c, r) = parse_err("graph \"g\" {\n  n0 = const \"w\" = [1.0]\n}");
    assert_eq!((l, c), (2, 20));
    assert!(r.contains("without a type"), "{r}");

    let (l, c, r) = parse_err("graph \"g\" {\n  n0 = pool {kind = median} \"p\"\n}");
    assert_eq!((l, c), (2, 14));
    assert!(r.contains("`median` is not one of max, avg, sum"), "{r}");

    let (l, c, r) = parse_err("graph \"g\" { } trailing");
    assert_eq!((l, c), (1, 15));
    assert!(r.contains("after the graph's closing"), "{r}");

    let (l, c, r) = parse_err("graph \"g\" {\n  n0 = relu \"bad \\q escape\"\n}");
    assert_eq!((l, c), (2, 18));
    assert!(r.starts_with("unknown escape"), "{r}");

    let (l, c, r) = parse_err("");
    assert_eq!(
        (l, c, r.as_str()),
        (1, 1, "expected `graph`, found end of input")
    );

    let (l, c, r) = parse_err(
        "graph \"g\" {\n  n0 = const \"w\" : f32[4294967296,4294967296,4294967296] = [1.0]\n}",
    );
    assert_eq!((l, c), (2, 60));
    assert!(r.contains("has too many elements"), "{r}");
}

#[test]
fn parsed_text_may_be_hand_written() {
    let g = parse(
        "// a filetest\ngraph \"hand\" {\n  x = input 0 \"x\" : f32[2]  // comment\n\n  y = output 0 (r) \"y\" : f32[2]\n  r = relu(x) \"r\" : f32[2]\n}\n",
    )
    .unwrap();
    assert_eq!(g.len(), 3);
    let text = print(&g, &full());
    assert_eq!(
        text,
        "graph \"hand\" {\n  n0 = input 0 \"x\" : f32[2]\n  n1 = relu(n0) \"r\" : f32[2]\n  n2 = output 0 (n1) \"y\" : f32[2]\n}\n"
    );
}

/// A small deterministic generator for the robustness tests.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn no_prefix_of_a_valid_text_panics() {
    let text = print(&every_op_graph(), &full());
    let mut ok = 0;
    for (i, _) in text.char_indices() {
        if parse(&text[..i]).is_ok() {
            ok += 1;
        }
    }
    // Only the prefix that ends right after the closing brace parses.
    assert_eq!(ok, 1);
    assert!(parse(&text[..text.len() - 1]).is_ok());
}

#[test]
fn garbage_and_mutations_never_panic() {
    let text = print(&every_op_graph(), &full());
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let alphabet: Vec<char> = "graph{}()[]=,:^\"\\ \n0123456789.-+eExnaifu_quant elided ü"
        .chars()
        .collect();
    for _ in 0..2000 {
        let len = rng.below(80);
        let s: String = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        let _ = parse(&s);
        let with_header = format!("graph \"g\" {{\n n0 = {s}\n}}");
        let _ = parse(&with_header);
    }
    let bytes = text.as_bytes();
    for _ in 0..600 {
        let mut b = bytes.to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(b.len());
            match rng.below(3) {
                0 => b[at] = rng.next() as u8,
                1 => {
                    b.remove(at);
                }
                _ => b.insert(at, alphabet[rng.below(alphabet.len())] as u8),
            }
        }
        let s = String::from_utf8_lossy(&b);
        if let Ok(g) = parse(&s) {
            // Whatever parses prints and parses again to the same text.
            let t = print(&g, &full());
            assert_eq!(print(&parse(&t).unwrap(), &full()), t);
        }
    }
}

#[test]
fn every_enum_spelling_parses() {
    for r in ROUNDING_MODES {
        let mut g = Graph::new("r");
        node(
            &mut g,
            "q",
            Op::Quant(Quant {
                signed: true,
                narrow: false,
                rounding: r,
            }),
            &[],
            None,
        );
        round_trip(&g);
    }
    assert!(matches!(POOL_KINDS[2], PoolKind::Sum));
    assert!(matches!(RESET_MODES[1], ResetMode::Subtract));
    assert!(matches!(ROUNDING_MODES[0], RoundingMode::HalfEven));
    for d in DType::ALL {
        let mut g = Graph::new("d");
        node(
            &mut g,
            "q",
            Op::QuantizeLinear(QuantizeLinear { axis: 0, out: d }),
            &[],
            Some(TensorType::new(d, vec![0])),
        );
        // Bin holds ±1 only, so its constant cannot be zeros.
        let c = match d {
            DType::Bin => Tensor::from_i64(d, vec![2], vec![-1, 1]).unwrap(),
            _ => Tensor::zeros(d, vec![2]),
        };
        g.add_const("z", c);
        round_trip(&g);
    }
}

#[test]
fn large_constants_print_and_parse_quickly() {
    let n = 1 << 20;
    let data: Vec<f32> = (0..n).map(|i| (i as f32).sin() * 1e-3).collect();
    let mut g = Graph::new("big");
    g.add_const("w", f32t(&[n], data));
    let start = std::time::Instant::now();
    let text = print(&g, &full());
    let back = parse(&text).unwrap();
    assert_same(&g, &back);
    // Unoptimised test builds are slow; this only catches accidental quadratic behaviour.
    assert!(start.elapsed().as_secs() < 20, "{:?}", start.elapsed());
}

/// The size of the largest model snnc imports (25M parameters); run with
/// `cargo test --release -p snnc-ir -- --ignored twenty_five`.
#[test]
#[ignore = "slow in unoptimised builds; run with --release"]
fn twenty_five_million_elements_print_in_seconds() {
    let n = 25_000_000;
    let data: Vec<f32> = (0..n)
        .map(|i| ((i % 9973) as f32 - 4986.0) * 1.37e-4)
        .collect();
    let mut g = Graph::new("big");
    g.add_const("w", f32t(&[n], data));
    let start = std::time::Instant::now();
    let text = print(&g, &full());
    let printed = start.elapsed();
    let back = parse(&text).unwrap();
    let parsed = start.elapsed() - printed;
    eprintln!("print {printed:?}, parse {parsed:?}, {} bytes", text.len());
    assert_eq!(back.len(), 1);
    assert!(printed.as_secs() < 5, "print took {printed:?}");
    assert!(parsed.as_secs() < 10, "parse took {parsed:?}");
}
