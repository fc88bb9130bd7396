//! Bad input: unsupported ops, opsets, NaN weights, external data, truncated and corrupted
//! files, extreme attributes.

use std::path::Path;

use super::{const_f32, mlp_with, shared, unsupported};
use crate::frontend::onnx::proto::{AttributeProto, ModelProto};
use crate::frontend::onnx::test_models::*;
use crate::ImportError;

#[test]
fn all_unknown_ops_in_one_error() {
    let mut fancy = domain_node("com.example", "Fancy", "fancy_3", &["h2"], &["h3"]);
    fancy.name = "fancy_3".into();
    let m = mlp_with(
        vec![
            node("FancyActivation", "fancy_1", &["h"], &["h1"], vec![]),
            node("Hardmax", "", &["h1"], &["h2"], vec![]),
            fancy,
            node("Relu", "act", &["h3"], &["y"], vec![]),
        ],
        "y",
        &[1, 3],
    );
    let e = import(&m).unwrap_err();
    let text = e.to_string();
    assert_eq!(
        unsupported(e),
        [
            ("fancy_1".to_string(), "FancyActivation".to_string()),
            ("h2".to_string(), "Hardmax".to_string()),
            ("fancy_3".to_string(), "com.example.Fancy".to_string()),
        ]
    );
    assert!(text.contains("3 unsupported op(s)"), "{text}");
}

#[test]
fn unsupported_variants_are_collected_with_unknown_consumers_skipped() {
    // Two Subs of computed tensors; the Relu after the first is skipped, not reported.
    let m = mlp_with(
        vec![
            node("Sub", "s1", &["h", "h"], &["d1"], vec![]),
            node("Relu", "r", &["d1"], &["d2"], vec![]),
            node("Div", "s2", &["d2", "h"], &["y"], vec![]),
        ],
        "y",
        &[1, 3],
    );
    assert_eq!(
        unsupported(import(&m).unwrap_err()),
        [("s1".to_string(), "Sub of two computed tensors".to_string())]
    );
    let m = mlp_with(
        vec![
            node("Sub", "s1", &["h", "h"], &["d1"], vec![]),
            node("Div", "s2", &["h", "h"], &["y"], vec![]),
        ],
        "y",
        &[1, 3],
    );
    assert_eq!(
        unsupported(import(&m).unwrap_err()),
        [
            ("s1".to_string(), "Sub of two computed tensors".to_string()),
            ("s2".to_string(), "Div by a computed divisor".to_string()),
        ]
    );
}

#[test]
fn opsets_outside_13_to_21_are_rejected() {
    let mut m = mlp_with(
        vec![node("Relu", "act", &["h"], &["y"], vec![])],
        "y",
        &[1, 3],
    );
    for (v, ok) in [(12, false), (13, true), (21, true), (22, false)] {
        m.opset_import[0].version = v;
        match import(&m) {
            Ok(_) => assert!(ok, "opset {v} accepted"),
            Err(ImportError::Format { reason, .. }) => {
                assert!(!ok, "opset {v}: {reason}");
                assert!(
                    reason.starts_with(&format!(
                        "opset {v} of the default ONNX domain is not supported: snnc reads opsets 13 to 21"
                    )),
                    "{reason}"
                );
            }
            Err(e) => panic!("opset {v}: {e}"),
        }
    }
    m.opset_import.remove(0);
    let e = import(&m).unwrap_err().to_string();
    assert!(e.contains("imports no opset of the default domain"), "{e}");
}

#[test]
fn nan_weight_names_weight_index_and_node() {
    let mut w: Vec<f32> = vec![0.5; 20];
    w[17] = f32::NAN;
    let m = model(
        17,
        vec![node(
            "Gemm",
            "fc",
            &["x", "0.weight"],
            &["y"],
            vec![attr_int("transB", 1)],
        )],
        vec![f32_tensor("0.weight", &[5, 4], &w)],
        vec![fvalue("x", &[1, 4])],
        vec![fvalue("y", &[1, 5])],
    );
    match import(&m).unwrap_err() {
        ImportError::Node {
            node, op, reason, ..
        } => {
            assert_eq!((node.as_str(), op.as_str()), ("fc", "Gemm"));
            assert_eq!(reason, "weight `0.weight` contains NaN at index 17");
        }
        other => panic!("{other}"),
    }
    w[17] = f32::NEG_INFINITY;
    let mut m2 = m.clone();
    m2.graph.as_mut().unwrap().initializer = vec![f32_tensor("0.weight", &[5, 4], &w)];
    let e = import(&m2).unwrap_err().to_string();
    assert!(
        e.ends_with("weight `0.weight` contains -inf at index 17"),
        "{e}"
    );
}

#[test]
fn shape_mismatch_is_a_node_error_from_type_inference() {
    let m = model(
        17,
        vec![node(
            "Gemm",
            "fc",
            &["x", "w"],
            &["y"],
            vec![attr_int("transB", 1)],
        )],
        vec![f32_tensor("w", &[3, 5], &[0.0; 15])],
        vec![fvalue("x", &[1, 4])],
        vec![fvalue("y", &[1, 3])],
    );
    match import(&m).unwrap_err() {
        ImportError::Node {
            node, op, reason, ..
        } => {
            assert_eq!((node.as_str(), op.as_str()), ("fc", "Gemm"));
            assert!(reason.contains("inner dimensions differ"), "{reason}");
        }
        other => panic!("{other}"),
    }
}

fn external_model(location: &str, offset: u64) -> ModelProto {
    model(
        17,
        vec![node(
            "Gemm",
            "fc",
            &["x", "w"],
            &["y"],
            vec![attr_int("transB", 1)],
        )],
        vec![external_tensor("w", &[3, 4], location, offset, 48)],
        vec![fvalue("x", &[1, 4])],
        vec![fvalue("y", &[1, 3])],
    )
}

#[test]
fn external_data_is_read_relative_to_the_model() {
    let dir = scratch_dir("external_ok");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let w: Vec<f32> = (0..12).map(|i| i as f32 - 6.0).collect();
    let mut bytes = vec![0xAAu8; 16]; // 16 bytes of something else first
    bytes.extend(w.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(dir.join("data/w.bin"), &bytes).unwrap();
    let g = import_in(&external_model("data/w.bin", 16), &dir).unwrap();
    assert_eq!(const_f32(&g, "w"), w.as_slice());
    // The same through `import`, from a file on disk.
    let path = dir.join("m.onnx");
    std::fs::write(&path, encode(&external_model("./data/w.bin", 16))).unwrap();
    let g = crate::frontend::onnx::import(&path).unwrap();
    assert_eq!(const_f32(&g, "w")[11], 5.0);
    // A range beyond the file's end.
    let e = import_in(&external_model("data/w.bin", 32), &dir)
        .unwrap_err()
        .to_string();
    assert!(e.contains("beyond the end"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_external_file_names_file_and_tensor() {
    let dir = scratch_dir("external_missing");
    let e = import_in(&external_model("weights.bin", 0), &dir).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("tensor `w`"), "{text}");
    assert!(text.contains("weights.bin"), "{text}");
    assert!(text.contains("node `fc`"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn external_paths_may_not_leave_the_model_folder() {
    let dir = scratch_dir("external_escape");
    for loc in ["../../../etc/passwd", "/etc/passwd", "data/../../x.bin"] {
        let e = import_in(&external_model(loc, 0), &dir)
            .unwrap_err()
            .to_string();
        assert!(e.contains("leaves the model's folder"), "{loc}: {e}");
        assert!(e.contains("tensor `w`"), "{loc}: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_prefix_of_a_real_model_fails_cleanly() {
    let bytes = std::fs::read(shared("ann_mlp/ann_mlp.onnx")).unwrap();
    let full = bytes::Bytes::from(bytes);
    let path = Path::new("ann_mlp.onnx");
    let mut ok = 0;
    for len in 0..full.len() {
        match crate::frontend::onnx::import_bytes(full.slice(..len), path) {
            Ok(_) => ok += 1,
            Err(ImportError::Format { .. })
            | Err(ImportError::Node { .. })
            | Err(ImportError::Ir { .. })
            | Err(ImportError::Unsupported { .. }) => {}
            Err(e) => panic!("prefix {len}: unexpected {e}"),
        }
    }
    assert_eq!(ok, 0, "a strict prefix imported as a whole model");
    assert!(crate::frontend::onnx::import_bytes(full, path).is_ok());
    let e = crate::frontend::onnx::import_bytes(bytes::Bytes::from_static(b"\xff\xff\xff"), path)
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("ann_mlp.onnx: not a valid ONNX model: "),
        "{e}"
    );
}

/// Random byte changes in the real models: every result is an `Ok` or an `Err`, never a panic.
/// `SNNC_ONNX_FUZZ=<n>` runs `n` mutations per model instead of 1000.
#[test]
fn corrupted_bytes_never_panic() {
    let iters: usize = std::env::var("SNNC_ONNX_FUZZ")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    for model in [
        "ann_mlp/ann_mlp.onnx",
        "bnn_mlp/bnn_mlp.qonnx.onnx",
        "qcnn_int8/qcnn_int8.qcdq.onnx",
    ] {
        fuzz_model(model, iters);
    }
}

fn fuzz_model(model: &str, iters: usize) {
    let bytes = std::fs::read(shared(model)).unwrap();
    let path = Path::new("fuzz.onnx");
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..iters {
        let mut b = bytes.clone();
        for _ in 0..1 + next() % 3 {
            let i = (next() % b.len() as u64) as usize;
            b[i] = next() as u8;
        }
        let _ = crate::frontend::onnx::import_bytes(bytes::Bytes::from(b), path);
    }
}

#[test]
fn extreme_attributes_fail_cleanly() {
    let big = i64::MAX;
    let cases: Vec<Vec<AttributeProto>> = vec![
        vec![attr_ints("strides", &[big, big])],
        vec![attr_ints("pads", &[big, big, big, big])],
        vec![attr_ints("dilations", &[big, big])],
        vec![
            attr_ints("dilations", &[1 << 40, 1 << 40]),
            attr_str("auto_pad", "SAME_UPPER"),
        ],
        vec![
            attr_ints("strides", &[1 << 40, 1]),
            attr_str("auto_pad", "SAME_LOWER"),
        ],
        vec![attr_int("group", big)],
        vec![attr_int("group", 0)],
        vec![attr_ints("kernel_shape", &[big, 2])],
    ];
    for attrs in cases {
        let m = model(
            17,
            vec![node("Conv", "c", &["x", "w"], &["y"], attrs.clone())],
            vec![f32_tensor("w", &[1, 1, 2, 2], &[1.0; 4])],
            vec![fvalue("x", &[1, 1, 4, 4])],
            vec![fvalue("y", &[1, 1, 3, 3])],
        );
        let _ = import(&m);
        let mut pool_attrs = attrs.clone();
        if !pool_attrs.iter().any(|a| a.name == "kernel_shape") {
            pool_attrs.push(attr_ints("kernel_shape", &[2, 2]));
        }
        for op in ["MaxPool", "AveragePool"] {
            let m = model(
                19,
                vec![node(op, "p", &["x"], &["y"], pool_attrs.clone())],
                vec![],
                vec![fvalue("x", &[1, 1, 4, 4])],
                vec![fvalue("y", &[1, 1, 3, 3])],
            );
            let _ = import(&m);
        }
    }
    // Huge input dims and reshapes.
    let m = model(
        17,
        vec![
            node("Flatten", "f", &["x"], &["a"], vec![attr_int("axis", 2)]),
            node("Reshape", "r", &["a", "s"], &["y"], vec![]),
        ],
        vec![i64_tensor("s", &[2], &[big, -1])],
        vec![fvalue("x", &[1 << 20, 1 << 20, 1 << 20])],
        vec![fvalue("y", &[1])],
    );
    assert!(import(&m).is_err());
    let m = model(
        17,
        vec![node("GlobalMaxPool", "g", &["x"], &["y"], vec![])],
        vec![],
        vec![fvalue("x", &[1, 2, 0])],
        vec![fvalue("y", &[1])],
    );
    let _ = import(&m);
}

#[test]
fn unused_extra_outputs_only() {
    let m = model(
        17,
        vec![
            node(
                "MaxPool",
                "p",
                &["x"],
                &["y", "idx"],
                vec![attr_ints("kernel_shape", &[2])],
            ),
            node("Relu", "r", &["idx"], &["z"], vec![]),
        ],
        vec![],
        vec![fvalue("x", &[1, 1, 4])],
        vec![fvalue("z", &[1, 1, 3])],
    );
    let e = import(&m).unwrap_err().to_string();
    assert!(
        e.contains("node `p` (MaxPool): output 1 (`idx`) is used"),
        "{e}"
    );
}
