//! The shared reference models and the fixtures written by the `onnx` Python package.

use std::path::PathBuf;

use snnc_ir::op::{Conv, Gemm, QuantizeLinear, RoundingMode};
use snnc_ir::{DType, Op};

use super::{const_f32, shared, unsupported};
use crate::frontend::onnx::test_models::*;
use crate::ImportError;

#[test]
fn ann_mlp_is_three_gemms() {
    let g = crate::frontend::onnx::import(&shared("ann_mlp/ann_mlp.onnx")).unwrap();
    snnc_ir::verify(&g).unwrap();
    assert_eq!(g.name, "main_graph");
    assert_eq!(
        summary(&g),
        [
            "x input f32[1,64]",
            "0.weight const f32[128,64]",
            "0.bias const f32[128]",
            "/0/Gemm gemm f32[1,128]",
            "/1/Relu relu f32[1,128]",
            "2.weight const f32[64,128]",
            "2.bias const f32[64]",
            "/2/Gemm gemm f32[1,64]",
            "/3/Relu relu f32[1,64]",
            "4.weight const f32[10,64]",
            "4.bias const f32[10]",
            "/4/Gemm gemm f32[1,10]",
            "logits output f32[1,10]",
        ]
    );
    assert_eq!(
        op_of(&g, "/0/Gemm"),
        &Op::Gemm(Gemm {
            trans_b: true,
            ..Gemm::default()
        })
    );
    // Values as numpy reads them.
    assert_eq!(
        &const_f32(&g, "0.weight")[..3],
        &[0.040078416, -0.07297991, -0.027120832]
    );
    assert_eq!(&const_f32(&g, "4.bias")[..2], &[0.10240951, 0.0182009]);
    let sum: f64 = const_f32(&g, "0.weight").iter().map(|v| *v as f64).sum();
    assert!((sum - 124.90317).abs() < 1e-3, "{sum}");
    assert_eq!(g.inputs().len(), 1);
    assert_eq!(g.outputs().len(), 1);
}

#[test]
fn bnn_mlp_weights_listed_as_inputs_are_constants() {
    let g = crate::frontend::onnx::import(&shared("bnn_mlp/bnn_mlp.qonnx.onnx")).unwrap();
    snnc_ir::verify(&g).unwrap();
    // 21 graph inputs in the file, 20 of them initializers.
    assert_eq!(g.inputs().len(), 1);
    let ops: Vec<&str> = g
        .node_ids()
        .into_iter()
        .map(|id| g.node(id).op.name())
        .filter(|n| *n != "const")
        .collect();
    assert_eq!(
        ops,
        [
            "input",
            "quant",
            "bipolar_quant",
            "gemm",
            "batchnorm",
            "bipolar_quant",
            "bipolar_quant",
            "gemm",
            "batchnorm",
            "bipolar_quant",
            "bipolar_quant",
            "gemm",
            "batchnorm",
            "output"
        ]
    );
    let s = summary(&g);
    assert_eq!(s[0], "input input f32[1,64]");
    assert_eq!(s[4], "node__symbolic quant f32[1,64]");
    assert_eq!(s[7], "node__symbolic_1 bipolar_quant f32[256,64]");
    assert_eq!(s[8], "node_linear gemm f32[1,256]");
    assert_eq!(s.last().unwrap(), "getitem_6 output f32[1,10]");
    match op_of(&g, "node__symbolic") {
        Op::Quant(q) => {
            assert!(!q.signed && !q.narrow);
            assert_eq!(q.rounding, RoundingMode::HalfEven);
        }
        other => panic!("{other:?}"),
    }
    match op_of(&g, "node__native_batch_norm_legit_no_training__0") {
        Op::BatchNorm(b) => assert_eq!(b.epsilon, 1e-5_f32),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        const_f32(&g, "0.act_quant.export_handler.lifted_tensor_2"),
        &[8.0]
    );
}

#[test]
fn qcnn_int8_qdq_chain() {
    let g = crate::frontend::onnx::import(&shared("qcnn_int8/qcnn_int8.qcdq.onnx")).unwrap();
    snnc_ir::verify(&g).unwrap();
    let s = summary(&g);
    let expect_prefix = [
        "input input f32[1,1,8,8]",
        "0.act_quant.export_handler.lifted_tensor_0 const f32[]",
        "0.act_quant.export_handler.lifted_tensor_1 const i8[]",
        "node__symbolic quantize_linear i8[1,1,8,8]",
        "node__symbolic_1 dequantize_linear f32[1,1,8,8]",
        "slice_1 const f32[8,1,3,3]",
        "1.weight_quant.export_handler.lifted_tensor_4 const f32[]",
        "node__symbolic_2 quantize_linear i8[8,1,3,3]",
        "node__symbolic_3 clip i8[8,1,3,3]",
        "node__symbolic_4 dequantize_linear f32[8,1,3,3]",
        "1.bias const f32[8]",
        "node_conv2d conv f32[1,8,8,8]",
        "node_relu relu f32[1,8,8,8]",
    ];
    assert_eq!(&s[..expect_prefix.len()], &expect_prefix);
    for line in [
        "node__symbolic_5 quantize_linear u8[1,8,8,8]",
        "node_max_pool2d pool f32[1,8,4,4]",
        "node_conv2d_1 conv f32[1,16,4,4]",
        "node_max_pool2d_1 pool f32[1,16,2,2]",
        "node_view_10 reshape f32[1,64]",
        "node_linear gemm f32[1,10]",
        "linear output f32[1,10]",
    ] {
        assert!(s.iter().any(|l| l == line), "missing {line} in {s:#?}");
    }
    // The Reshape's shape was read, not added as a node.
    assert!(!s.iter().any(|l| l.starts_with("val_27")));
    assert_eq!(
        op_of(&g, "node__symbolic_2"),
        &Op::QuantizeLinear(QuantizeLinear {
            axis: 1,
            out: DType::I8
        })
    );
    match op_of(&g, "node__symbolic_3") {
        Op::Clip(c) => assert_eq!((c.min, c.max), (Some(-127.0), Some(127.0))),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        op_of(&g, "node_conv2d"),
        &Op::Conv(Conv {
            stride: vec![1, 1],
            pads: vec![1, 1, 1, 1],
            dilation: vec![1, 1],
            groups: 1
        })
    );
}

#[test]
fn import_is_deterministic() {
    let path = shared("qcnn_int8/qcnn_int8.qcdq.onnx");
    let a = crate::frontend::onnx::import(&path).unwrap();
    let b = crate::frontend::onnx::import(&path).unwrap();
    assert_eq!(summary(&a), summary(&b));
    for id in a.node_ids() {
        assert_eq!(a.node(id), b.node(id));
    }
    assert_eq!(a.edges(), b.edges());
}

fn read_npy_f32(rel: &str) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(shared(rel)).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

/// The imported models, run by the reference interpreter on the first test images, give the
/// logits their own frameworks computed. onnxruntime ran the QDQ CNN through its fused integer
/// kernels (QLinearConv), whose requantization moves a few activations by one step against the
/// float QDQ semantics an import has (with graph optimizations off, onnxruntime agrees with the
/// interpreter to 1e-6), hence its wider tolerance.
#[test]
fn imported_models_reproduce_reference_logits() {
    let (_, x) = read_npy_f32("data/digits_test_x.npy");
    for (model, reference, in_shape, tol) in [
        (
            "ann_mlp/ann_mlp.onnx",
            "ann_mlp/ref_logits.npy",
            vec![1, 64],
            1e-4,
        ),
        (
            "bnn_mlp/bnn_mlp.qonnx.onnx",
            "bnn_mlp/ref_logits_qonnx_exec.npy",
            vec![1, 64],
            1e-4,
        ),
        (
            "qcnn_int8/qcnn_int8.qcdq.onnx",
            "qcnn_int8/ref_logits_onnxruntime.npy",
            vec![1, 1, 8, 8],
            1e-4,
        ),
    ] {
        let g = crate::frontend::onnx::import(&shared(model)).unwrap();
        let info = snnc_ir::verify(&g).unwrap();
        let (_, want) = read_npy_f32(reference);
        for sample in 0..8 {
            let input = snnc_ir::Tensor::from_f32(
                in_shape.clone(),
                x[sample * 64..(sample + 1) * 64].to_vec(),
            )
            .unwrap();
            let out = snnc_ir::interp::run(&g, &info, &[input]).unwrap();
            let got = out[0].to_f32_vec();
            let want = &want[sample * 10..(sample + 1) * 10];
            for (a, b) in got.iter().zip(want) {
                assert!(
                    (a - b).abs() <= tol * (1.0 + b.abs()),
                    "{model} sample {sample}: {got:?} vs {want:?}"
                );
            }
            assert_eq!(argmax(&got), argmax(want), "{model} sample {sample}");
        }
    }
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len())
        .max_by(|a, b| v[*a].total_cmp(&v[*b]))
        .unwrap_or(0)
}

/// The fixtures written by the `onnx` Python package (tests/fixtures/onnx/make_fixtures.py).
#[test]
fn fixtures_written_by_the_onnx_package() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx");
    let import = |name: &str| crate::frontend::onnx::import(&dir.join(name));

    let g = import("external_ok.onnx").unwrap();
    assert_eq!(
        summary(&g),
        [
            "x input f32[1,4]",
            "fc.weight const f32[3,4]",
            "fc gemm f32[1,3]",
            "act relu f32[1,3]",
            "y output f32[1,3]"
        ]
    );
    let e = import("external_missing.onnx").unwrap_err().to_string();
    assert!(
        e.contains("tensor `fc.weight`") && e.contains("missing.weights"),
        "{e}"
    );
    let e = import("external_escape.onnx").unwrap_err().to_string();
    assert!(
        e.contains("`../../../etc/passwd` leaves the model's folder"),
        "{e}"
    );
    let e = import("nan_weight.onnx").unwrap_err().to_string();
    assert!(
        e.ends_with("node `fc` (Gemm): weight `fc.weight` contains NaN at index 6"),
        "{e}"
    );
    assert_eq!(
        unsupported(import("unknown_op.onnx").unwrap_err()),
        [
            ("fancy_1".to_string(), "FancyActivation".to_string()),
            ("hardmax_2".to_string(), "Hardmax".to_string())
        ]
    );
    match import("shape_mismatch.onnx").unwrap_err() {
        ImportError::Node { node, .. } => assert_eq!(node, "fc"),
        other => panic!("{other}"),
    }
}
