//! Accuracy of the quantization passes on the digits test set, computed by the reference
//! interpreter (issue 3): post-training quantization of ann_mlp in several configurations, and
//! lower-qdq on qcnn_int8 against the float QDQ graph it came from. Run with
//! `cargo test -p snnc-tests --test quantize_accuracy -- --nocapture` for the tables.

use std::collections::BTreeMap;

use snnc_compiler::load::load;
use snnc_compiler::npy::Array;
use snnc_compiler::passes::{parse_pipeline, run_pipeline, PassContext, PassError};
use snnc_ir::interp::Interpreter;
use snnc_ir::{verify, Graph, Op, Tensor};
use snnc_tests::{accuracy, argmax_rows, model_file, read_npy, run_digits};

fn test_x() -> Array {
    read_npy(&model_file("data/digits_test_x.npy"))
}

fn labels() -> Array {
    read_npy(&model_file("data/digits_test_y.npy"))
}

fn calib() -> Array {
    read_npy(&model_file("data/digits_calib_x.npy"))
}

/// Run `g` on the whole test set (the interpreter, via `snnc sim`'s batch runner).
fn run(g: &Graph) -> Array {
    let info = verify(g).unwrap_or_else(|e| panic!("{e}"));
    run_digits(g, &info, 1)
}

/// `model` after the pipeline `spec` (verified after every pass by `run_pipeline`).
fn transformed(model: &str, spec: &str, calib: Option<&Array>) -> Result<Graph, PassError> {
    let mut m = load(&model_file(model)).unwrap_or_else(|e| panic!("{e}"));
    let steps = parse_pipeline(spec)?;
    let ctx = PassContext {
        calib,
        ..PassContext::default()
    };
    run_pipeline(&mut m.graph, &steps, &ctx)?;
    verify(&m.graph).unwrap_or_else(|e| panic!("{spec}: {e}"));
    Ok(m.graph)
}

fn acc_of(y: &Array) -> f64 {
    100.0 * accuracy(&argmax_rows(y), &labels())
}

fn ann_accuracy(args: &str) -> f64 {
    let c = calib();
    let g = transformed(
        "ann_mlp/ann_mlp.onnx",
        &format!("quantize={args}"),
        Some(&c),
    )
    .unwrap_or_else(|e| panic!("{args}: {e}"));
    // The result is an integer graph: integer kernels and requantization only.
    let kernels: Vec<_> = g
        .node_ids()
        .into_iter()
        .map(|id| g.node(id))
        .filter(|n| matches!(n.op, Op::Gemm(_)))
        .collect();
    assert_eq!(kernels.len(), 3);
    for n in kernels {
        let ty = n.ty.as_ref().unwrap();
        assert!(ty.dtype.is_int(), "{args}: `{}` is {}", n.name, ty);
    }
    acc_of(&run(&g))
}

#[test]
fn ann_mlp_post_training_quantization() {
    let float = acc_of(&run(&load(&model_file("ann_mlp/ann_mlp.onnx"))
        .unwrap()
        .graph));
    assert!((float - 96.666).abs() < 0.01, "float accuracy {float}");
    let configs = [
        ("int8:per-channel", "int8 per-channel, min/max"),
        ("int8:per-tensor", "int8 per-tensor, min/max"),
        ("int8:per-channel:asym", "int8 per-channel, asym"),
        (
            "int8:per-channel:calib=percentile:pct=99.99",
            "int8 per-channel, percentile 99.99",
        ),
        ("int4:per-channel", "int4 per-channel, min/max"),
        ("int4:per-tensor", "int4 per-tensor, min/max"),
    ];
    let mut table = BTreeMap::new();
    for (args, label) in configs {
        table.insert(label, ann_accuracy(args));
    }
    eprintln!("\nann_mlp on digits_test (360), reference interpreter:");
    eprintln!("| configuration | accuracy |");
    eprintln!("|---|---|");
    eprintln!("| float | {float:.2}% |");
    for (args, label) in configs {
        eprintln!("| quantize={args} | {:.2}% |", table[label]);
    }
    for label in [
        "int8 per-channel, min/max",
        "int8 per-tensor, min/max",
        "int8 per-channel, asym",
        "int8 per-channel, percentile 99.99",
    ] {
        assert!(
            float - table[label] <= 1.0,
            "{label}: {} vs float {float}",
            table[label]
        );
    }
    for label in ["int4 per-channel, min/max", "int4 per-tensor, min/max"] {
        assert!(table[label] > 50.0, "{label}: {}", table[label]);
    }
}

#[test]
fn quantize_rejects_bad_requests() {
    let c = calib();
    let model = "ann_mlp/ann_mlp.onnx";
    for args in [
        "int0",
        "int1",
        "int9",
        "int33",
        "per-channel:per-tensor",
        "calib=foo",
    ] {
        let e = transformed(model, &format!("quantize={args}"), Some(&c)).unwrap_err();
        assert!(matches!(e, PassError::InvalidArgs { .. }), "{args}: {e}");
    }
    let e = transformed(model, "quantize=int8", None).unwrap_err();
    assert!(e.to_string().contains("--calib FILE.npy"), "{e}");
    let wrong = Array {
        shape: vec![360, 1, 8, 8],
        data: test_x().data,
    };
    // [N, 1, 8, 8] has 64 values per sample: it reshapes to [1, 64] and is accepted.
    assert!(transformed(model, "quantize=int8", Some(&wrong)).is_ok());
    let wrong = Array {
        shape: vec![180, 128],
        data: test_x().data,
    };
    let e = transformed(model, "quantize=int8", Some(&wrong)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "pass `quantize`: calibration data: the array has shape [180,128], expected [N, 64] (N samples of the input shape [1,64])"
    );
    let e = transformed(model, "quantize=int8,quantize=int8", Some(&c)).unwrap_err();
    assert!(matches!(e, PassError::NotApplicable { .. }), "{e}");
    // A model that arrives quantized is lowered, never re-quantized.
    let e = transformed("qcnn_int8/qcnn_int8.qcdq.onnx", "quantize=int8", Some(&c)).unwrap_err();
    assert!(e.to_string().contains("use lower-qdq"), "{e}");
}

/// Per-sample comparison of the float QDQ graph `a` with its lowered form `b`: outputs, and the
/// values of same-named integer nodes (QuantizeLinear outputs of `a`, which become Requant or
/// stay QuantizeLinear in `b`).
struct Compare {
    max_diff: f32,
    /// Largest output difference over the inputs where every integer activation agrees.
    max_diff_agreeing: f32,
    argmax_equal: usize,
    /// Activations compared and how many differ, per node name.
    activations: BTreeMap<String, (usize, usize)>,
    /// (sample, node, index) of each differing activation.
    diffs: Vec<(usize, String, usize)>,
}

fn compare(a: &Graph, b: &Graph) -> Compare {
    let (ia, ib) = (verify(a).unwrap(), verify(b).unwrap());
    let mut ra = Interpreter::new(a, &ia, 1.0).unwrap();
    let mut rb = Interpreter::new(b, &ib, 1.0).unwrap();
    let ints: Vec<(String, snnc_ir::NodeId, snnc_ir::NodeId)> = b
        .node_ids()
        .into_iter()
        .filter(|id| matches!(b.node(*id).op, Op::Requant(_) | Op::QuantizeLinear(_)))
        .filter_map(|id| {
            let name = &b.node(id).name;
            let other = a
                .node_ids()
                .into_iter()
                .find(|x| &a.node(*x).name == name)?;
            Some((name.clone(), other, id))
        })
        .collect();
    let x = test_x();
    let shape = a.ty(a.inputs()[0]).shape.clone();
    let mut c = Compare {
        max_diff: 0.0,
        max_diff_agreeing: 0.0,
        argmax_equal: 0,
        activations: BTreeMap::new(),
        diffs: Vec::new(),
    };
    let arg = |v: &[f32]| {
        argmax_rows(&Array {
            shape: vec![1, v.len()],
            data: v.to_vec(),
        })[0]
    };
    for (n, row) in x.data.chunks(64).enumerate() {
        let t = Tensor::from_f32(shape.clone(), row.to_vec()).unwrap();
        let ya = ra
            .step(std::slice::from_ref(&t))
            .unwrap()
            .remove(0)
            .to_f32_vec();
        let yb = rb
            .step(std::slice::from_ref(&t))
            .unwrap()
            .remove(0)
            .to_f32_vec();
        let d = ya
            .iter()
            .zip(&yb)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max);
        c.max_diff = c.max_diff.max(d);
        c.argmax_equal += usize::from(arg(&ya) == arg(&yb));
        let before = c.diffs.len();
        for (name, ida, idb) in &ints {
            let va = ra.value(*ida).unwrap().as_i64().unwrap();
            let vb = rb.value(*idb).unwrap().as_i64().unwrap();
            let e = c.activations.entry(name.clone()).or_default();
            e.0 += va.len();
            for (i, (p, q)) in va.iter().zip(vb).enumerate() {
                if p != q {
                    e.1 += 1;
                    c.diffs.push((n, name.clone(), i));
                }
            }
        }
        if c.diffs.len() == before {
            c.max_diff_agreeing = c.max_diff_agreeing.max(d);
        }
    }
    c
}

fn scalar(g: &Graph, name: &str) -> f64 {
    let id = g
        .node_ids()
        .into_iter()
        .find(|i| g.node(*i).name == name)
        .unwrap();
    match &g.node(id).op {
        Op::Const(t) => f64::from(t.to_f32_vec()[0]),
        _ => panic!("`{name}` is not a constant"),
    }
}

/// qcnn's second convolution (float bias, input through MaxPool) checked against exact
/// arithmetic: for every input and activation, the real value
/// `y = (Σ x_q·w_q · s_x·s_w + b) / s_y` in f64 from the lowered graph's integer accumulator,
/// and the distance of `y` to the nearest rounding boundary `k + 1/2`. Returns the number of
/// Requant outputs that differ from `clamp(round(max(y, 0)))` and the margin of every input and
/// index (for the differences against the float graph).
fn conv2_against_exact(float: &Graph, lowered: &Graph) -> (usize, BTreeMap<(usize, usize), f64>) {
    let s_x = scalar(float, "2.act_quant.export_handler.lifted_tensor_10");
    let s_w = scalar(float, "4.weight_quant.export_handler.lifted_tensor_14");
    let s_y = scalar(float, "5.act_quant.export_handler.lifted_tensor_20");
    let bias_id = float
        .node_ids()
        .into_iter()
        .find(|i| float.node(*i).name == "4.bias")
        .unwrap();
    let Op::Const(bias) = &float.node(bias_id).op else {
        panic!()
    };
    let bias = bias.to_f32_vec();
    let find = |name: &str| {
        lowered
            .node_ids()
            .into_iter()
            .find(|i| lowered.node(*i).name == name)
            .unwrap_or_else(|| panic!("no `{name}`"))
    };
    let (acc_id, rq_id) = (find("node_conv2d_1"), find("node__symbolic_10"));
    let info = verify(lowered).unwrap();
    let mut it = Interpreter::new(lowered, &info, 1.0).unwrap();
    let shape = lowered.ty(lowered.inputs()[0]).shape.clone();
    let (mut wrong, mut margins) = (0, BTreeMap::new());
    for (n, row) in test_x().data.chunks(64).enumerate() {
        let t = Tensor::from_f32(shape.clone(), row.to_vec()).unwrap();
        it.step(std::slice::from_ref(&t)).unwrap();
        let acc = it.value(acc_id).unwrap().as_i64().unwrap().to_vec();
        let rq = it.value(rq_id).unwrap().as_i64().unwrap().to_vec();
        let per_channel = acc.len() / bias.len();
        for (i, (a, q)) in acc.iter().zip(&rq).enumerate() {
            let y = (*a as f64 * s_x * s_w + f64::from(bias[i / per_channel])) / s_y;
            let want = y.max(0.0).round_ties_even().min(255.0) as i64;
            wrong += usize::from(want != *q);
            margins.insert((n, i), (y - y.floor() - 0.5).abs());
        }
    }
    (wrong, margins)
}

fn qcnn_check(spec: &str) {
    let model = "qcnn_int8/qcnn_int8.qcdq.onnx";
    let float = load(&model_file(model)).unwrap().graph;
    let lowered = transformed(model, spec, None).unwrap_or_else(|e| panic!("{e}"));
    // Integer kernels everywhere: Conv, Conv, Gemm.
    let kernels: Vec<_> = lowered
        .node_ids()
        .into_iter()
        .map(|id| lowered.node(id))
        .filter(|n| matches!(n.op, Op::Conv(_) | Op::Gemm(_)))
        .map(|n| n.ty.as_ref().unwrap().dtype)
        .collect();
    assert_eq!(kernels.len(), 3, "{spec}");
    assert!(kernels.iter().all(|d| d.is_int()), "{spec}: {kernels:?}");
    let c = compare(&float, &lowered);
    let (wrong, margins) = conv2_against_exact(&float, &lowered);
    eprintln!("\nqcnn_int8 `{spec}` vs the float QDQ graph on 360 inputs:");
    eprintln!(
        "  argmax equal on {}/360; max |logit diff| = {:.3e} overall, {:.3e} on the inputs whose activations all agree",
        c.argmax_equal, c.max_diff, c.max_diff_agreeing
    );
    for (name, (n, d)) in &c.activations {
        eprintln!("  `{name}`: {d} of {n} quantized activations differ");
    }
    for (n, name, i) in &c.diffs {
        let m = margins.get(&(*n, *i)).copied().unwrap_or(f64::NAN);
        eprintln!(
            "  input {n}, `{name}`[{i}]: the exact value lies {m:.2e} from a rounding boundary; the float graph's f32 error crosses it"
        );
    }
    let min_margin = margins.values().copied().fold(f64::INFINITY, f64::min);
    eprintln!(
        "  conv 2 against exact arithmetic: {wrong} of {} Requant outputs differ; closest value to a boundary: {min_margin:.2e}",
        margins.len()
    );
    eprintln!("  accuracy {:.2}%", acc_of(&run(&lowered)));
    assert_eq!(c.argmax_equal, 360, "{spec}");
    assert_eq!(c.activations.len(), 3, "{:?}", c.activations.keys());
    // The integer path is exact: every Requant output of conv 2 is the correctly rounded real.
    assert_eq!(wrong, 0, "{spec}");
    // Where the float QDQ graph disagrees, it is its own f32 rounding error at a boundary: the
    // exact value lies within 1e-4 of k + 1/2 (measured: one activation, 8.6e-6).
    for (n, name, i) in &c.diffs {
        assert_eq!(name, "node__symbolic_10", "input {n}");
        assert!(margins[&(*n, *i)] < 1e-4, "input {n} index {i}");
    }
    assert!(c.diffs.len() <= 1, "{} activations differ", c.diffs.len());
    assert!(c.max_diff_agreeing < 1e-5, "{}", c.max_diff_agreeing);
    assert!(c.max_diff < 0.05, "{}", c.max_diff);
}

#[test]
fn qcnn_int8_lowered_equals_its_float_qdq_graph() {
    qcnn_check("lower-qdq");
}

#[test]
fn qcnn_int8_canonicalized_then_lowered() {
    qcnn_check("canonicalize,lower-qdq");
}

/// bnn_mlp's 8-bit input `Quant` becomes QuantizeLinear/DequantizeLinear: the logits stay
/// bit-identical on all 360 inputs (BipolarQuant is left to binarization).
#[test]
fn bnn_mlp_input_quant_lowering_is_bit_exact() {
    let model = "bnn_mlp/bnn_mlp.qonnx.onnx";
    let float = load(&model_file(model)).unwrap().graph;
    let lowered = transformed(model, "lower-qdq", None).unwrap_or_else(|e| panic!("{e}"));
    let count = |g: &Graph, f: fn(&Op) -> bool| {
        g.node_ids()
            .into_iter()
            .filter(|id| f(&g.node(*id).op))
            .count()
    };
    assert_eq!(count(&lowered, |op| matches!(op, Op::Quant(_))), 0);
    assert_eq!(count(&lowered, |op| matches!(op, Op::QuantizeLinear(_))), 1);
    let (a, b) = (run(&float), run(&lowered));
    let same = a
        .data
        .iter()
        .zip(&b.data)
        .all(|(x, y)| x.to_bits() == y.to_bits());
    eprintln!(
        "\nbnn_mlp lower-qdq: logits bit-identical on 360 inputs: {same}, accuracy {:.2}%",
        acc_of(&b)
    );
    assert!(same);
}
