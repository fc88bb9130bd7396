//! Op mapping on small hand-built models.

use std::path::Path;

use snnc_ir::op::{Conv, Pool, PoolKind, QuantizeLinear, RoundingMode};
use snnc_ir::{DType, Op};

use super::{const_f32, mlp_with};
use crate::frontend::onnx::proto::tensor_proto::DataType;
use crate::frontend::onnx::test_models::*;

#[test]
fn symbolic_batch_is_one() {
    let g = import(&mlp_with(
        vec![node("Relu", "act", &["h"], &["y"], vec![])],
        "y",
        &[-1, 3],
    ))
    .unwrap();
    assert_eq!(
        summary(&g),
        [
            "x input f32[1,4]",
            "w const f32[3,4]",
            "fc gemm f32[1,3]",
            "act relu f32[1,3]",
            "y output f32[1,3]"
        ]
    );
}

#[test]
fn reshape_resolves_zero_and_minus_one() {
    let m = model(
        17,
        vec![
            node("Reshape", "r1", &["x", "s1"], &["a"], vec![]),
            node("Reshape", "r2", &["a", "s2"], &["y"], vec![]),
        ],
        vec![
            i64_tensor("s1", &[3], &[0, -1, 2]),
            i64_tensor("s2", &[2], &[-1, 0]),
        ],
        vec![fvalue("x", &[2, 3, 4])],
        vec![fvalue("y", &[4, 6])],
    );
    let g = import(&m).unwrap();
    assert_eq!(
        summary(&g),
        [
            "x input f32[2,3,4]",
            "r1 reshape f32[2,6,2]",
            "r2 reshape f32[4,6]",
            "y output f32[4,6]"
        ]
    );
    // A computed shape is refused with the node's name.
    let m = model(
        17,
        vec![node("Reshape", "r", &["x", "x"], &["y"], vec![])],
        vec![],
        vec![fvalue("x", &[2])],
        vec![fvalue("y", &[2])],
    );
    let e = import(&m).unwrap_err().to_string();
    assert!(
        e.contains("node `r` (Reshape): the shape input `x` must be a constant"),
        "{e}"
    );
}

#[test]
fn auto_pad_same_upper_and_lower() {
    let conv = node(
        "Conv",
        "c",
        &["x", "w"],
        &["h"],
        vec![
            attr_str("auto_pad", "SAME_UPPER"),
            attr_ints("strides", &[2, 2]),
        ],
    );
    let pool = node(
        "MaxPool",
        "p",
        &["h"],
        &["y"],
        vec![
            attr_str("auto_pad", "SAME_LOWER"),
            attr_ints("kernel_shape", &[2, 2]),
        ],
    );
    let m = model(
        17,
        vec![conv, pool],
        vec![f32_tensor("w", &[2, 1, 2, 2], &[1.0; 8])],
        vec![fvalue("x", &[1, 1, 5, 5])],
        vec![fvalue("y", &[1, 2, 3, 3])],
    );
    let g = import(&m).unwrap();
    assert_eq!(
        op_of(&g, "c"),
        &Op::Conv(Conv {
            stride: vec![2, 2],
            pads: vec![0, 0, 1, 1],
            dilation: vec![1, 1],
            groups: 1
        })
    );
    assert_eq!(
        op_of(&g, "p"),
        &Op::Pool(Pool {
            kind: PoolKind::Max,
            kernel: vec![2, 2],
            stride: vec![1, 1],
            pads: vec![1, 1, 0, 0],
            dilation: vec![1, 1],
            ceil_mode: false,
            count_include_pad: false
        })
    );
    assert_eq!(
        summary(&g)[2..4],
        ["c conv f32[1,2,3,3]", "p pool f32[1,2,3,3]"]
    );
}

#[test]
fn small_ops_map_to_the_ir() {
    let m = model(
        17,
        vec![
            node(
                "Constant",
                "k",
                &[],
                &["two"],
                vec![attr_float("value_float", 2.0)],
            ),
            node("Sub", "", &["x", "c"], &["s"], vec![]),
            node("Div", "d", &["s", "two"], &["q"], vec![]),
            node("Sub", "neg", &["c", "q"], &["n"], vec![]),
            node("Identity", "id", &["n"], &["i"], vec![]),
            node("Dropout", "drop", &["i"], &["o", ""], vec![]),
            node("Clip", "clip", &["o", "", "hi"], &["cl"], vec![]),
            node("GlobalAveragePool", "gap", &["cl"], &["g"], vec![]),
            node("Flatten", "flat", &["g"], &["y"], vec![]),
        ],
        vec![f32_tensor("c", &[1], &[1.0]), f32_tensor("hi", &[], &[6.0])],
        vec![fvalue("x", &[1, 3, 4, 4])],
        vec![fvalue("y", &[1, 3])],
    );
    let g = import(&m).unwrap();
    assert_eq!(
        summary(&g),
        [
            "x input f32[1,3,4,4]",
            "c/neg const f32[1]",
            "s add f32[1,3,4,4]",
            "two/reciprocal const f32[]",
            "d mul f32[1,3,4,4]",
            "neg/minus_one const f32[]",
            "neg/neg mul f32[1,3,4,4]",
            "c const f32[1]",
            "neg add f32[1,3,4,4]",
            "clip clip f32[1,3,4,4]",
            "gap pool f32[1,3,1,1]",
            "flat reshape f32[1,3]",
            "y output f32[1,3]",
        ]
    );
    assert_eq!(const_f32(&g, "c/neg"), &[-1.0]);
    assert_eq!(const_f32(&g, "two/reciprocal"), &[0.5]);
    match op_of(&g, "clip") {
        Op::Clip(c) => assert_eq!((c.min, c.max), (None, Some(6.0))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn constant_tensors_are_read_or_added_when_used() {
    let m = model(
        17,
        vec![
            node(
                "Constant",
                "shape",
                &[],
                &["s"],
                vec![attr_tensor("value", i64_tensor("", &[2], &[-1, 2]))],
            ),
            node(
                "Constant",
                "unused",
                &[],
                &["u"],
                vec![attr_float("value_float", 1.0)],
            ),
            node(
                "Constant",
                "bias",
                &[],
                &["b"],
                vec![attr_tensor("value", f32_tensor("", &[2], &[0.5, -0.5]))],
            ),
            node("Reshape", "r", &["x", "s"], &["h"], vec![]),
            node("Add", "add", &["h", "b"], &["y"], vec![]),
        ],
        vec![],
        vec![fvalue("x", &[2, 2])],
        vec![fvalue("y", &[2, 2])],
    );
    let g = import(&m).unwrap();
    assert_eq!(
        summary(&g),
        [
            "x input f32[2,2]",
            "r reshape f32[2,2]",
            "bias const f32[2]",
            "add add f32[2,2]",
            "y output f32[2,2]"
        ]
    );
    assert_eq!(const_f32(&g, "bias"), &[0.5, -0.5]);
}

#[test]
fn integer_clip_keeps_exact_bounds_and_qlinear_types() {
    let m = model(
        19,
        vec![
            node("QuantizeLinear", "q", &["x", "s"], &["qx"], vec![]),
            node("Clip", "c", &["qx", "lo", "hi"], &["cx"], vec![]),
            node(
                "DequantizeLinear",
                "dq",
                &["cx", "s", "zp"],
                &["y"],
                vec![attr_int("axis", -1)],
            ),
        ],
        vec![
            f32_tensor("s", &[], &[0.5]),
            int_tensor("lo", DataType::Uint8, &[], &[3]),
            int_tensor("hi", DataType::Uint8, &[], &[250]),
            int_tensor("zp", DataType::Uint8, &[], &[128]),
        ],
        vec![fvalue("x", &[2, 3])],
        vec![fvalue("y", &[2, 3])],
    );
    let g = import(&m).unwrap();
    // No zero point: uint8.
    assert_eq!(
        op_of(&g, "q"),
        &Op::QuantizeLinear(QuantizeLinear {
            axis: 1,
            out: DType::U8
        })
    );
    match op_of(&g, "c") {
        Op::Clip(c) => assert_eq!((c.min, c.max), (Some(3.0), Some(250.0))),
        other => panic!("{other:?}"),
    }
    match op_of(&g, "dq") {
        Op::DequantizeLinear(d) => assert_eq!(d.axis, 1),
        other => panic!("{other:?}"),
    }
    assert!(summary(&g).contains(&"c clip u8[2,3]".to_string()));
}

#[test]
fn qonnx_ops_under_old_domain_names() {
    let quant = |domain: &str| {
        let mut n = domain_node(domain, "Quant", "q", &["x", "s", "z", "b"], &["y"]);
        n.attribute = vec![
            attr_int("signed", 1),
            attr_int("narrow", 1),
            attr_str("rounding_mode", "HALF_UP"),
        ];
        n
    };
    for domain in [
        "qonnx.custom_op.general",
        "finn.custom_op.general",
        "onnx.brevitas",
    ] {
        let mut trunc = domain_node(
            domain,
            "Trunc",
            "t",
            &["y", "s", "z", "b", "b4"],
            &["t_out"],
        );
        trunc.attribute = vec![attr_str("rounding_mode", "ROUND_TO_ZERO")];
        let m = model(
            17,
            vec![
                quant(domain),
                trunc,
                domain_node(domain, "BipolarQuant", "bq", &["t_out", "s"], &["out"]),
            ],
            vec![
                f32_tensor("s", &[], &[0.25]),
                f32_tensor("z", &[], &[0.0]),
                f32_tensor("b", &[], &[8.0]),
                f32_tensor("b4", &[], &[4.0]),
            ],
            vec![fvalue("x", &[1, 4])],
            vec![fvalue("out", &[1, 4])],
        );
        let g = import(&m).unwrap_or_else(|e| panic!("{domain}: {e}"));
        match op_of(&g, "q") {
            Op::Quant(q) => {
                assert!(q.signed && q.narrow);
                assert_eq!(q.rounding, RoundingMode::HalfUp);
            }
            other => panic!("{other:?}"),
        }
        match op_of(&g, "t") {
            Op::Trunc(t) => assert_eq!(t.rounding, RoundingMode::TowardZero),
            other => panic!("{other:?}"),
        }
        assert!(matches!(op_of(&g, "bq"), Op::BipolarQuant));
    }
}

#[test]
fn names_fall_back_to_outputs_and_are_unique() {
    let m = model(
        17,
        vec![
            node("Relu", "", &["x"], &["a"], vec![]),
            node("Relu", "dup", &["a"], &["b"], vec![]),
            node("Relu", "dup", &["b"], &["x2"], vec![]),
        ],
        vec![],
        vec![fvalue("x", &[2])],
        vec![fvalue("x2", &[2])],
    );
    let g = import(&m).unwrap();
    assert_eq!(
        summary(&g),
        [
            "x input f32[2]",
            "a relu f32[2]",
            "dup relu f32[2]",
            "dup_1 relu f32[2]",
            "x2 output f32[2]"
        ]
    );
}

#[test]
fn file_stem_names_an_unnamed_graph() {
    let mut m = mlp_with(
        vec![node("Relu", "act", &["h"], &["y"], vec![])],
        "y",
        &[1, 3],
    );
    m.graph.as_mut().unwrap().name = String::new();
    let g =
        crate::frontend::onnx::import_bytes(encode(&m), Path::new("dir/my_model.onnx")).unwrap();
    assert_eq!(g.name, "my_model");
}
