//! The limits on untrusted ONNX input (`frontend::limits`): external data that resolves outside
//! the model's folder or is read twice, tensors and constant copies over the budget, corrupt
//! input dimensions, and names or alias chains that would take quadratic time.

use std::path::Path;
use std::time::Instant;

use super::{const_f32, mlp_with};
use crate::frontend::limits::Limits;
use crate::frontend::onnx::proto::tensor_shape_proto::{dimension, Dimension};
use crate::frontend::onnx::proto::type_proto;
use crate::frontend::onnx::proto::ModelProto;
use crate::frontend::onnx::test_models::*;

/// x[1,4] → Gemm with the external weights `w` and `v` (both [3,4], 48 bytes each) → y, z.
fn two_external(w: (&str, u64), v: (&str, u64)) -> ModelProto {
    model(
        17,
        vec![
            node(
                "Gemm",
                "fc",
                &["x", "w"],
                &["y"],
                vec![attr_int("transB", 1)],
            ),
            node(
                "Gemm",
                "fc2",
                &["x", "v"],
                &["z"],
                vec![attr_int("transB", 1)],
            ),
        ],
        vec![
            external_tensor("w", &[3, 4], w.0, w.1, 48),
            external_tensor("v", &[3, 4], v.0, v.1, 48),
        ],
        vec![fvalue("x", &[1, 4])],
        vec![fvalue("y", &[1, 3]), fvalue("z", &[1, 3])],
    )
}

fn weights(dir: &Path, name: &str, bytes: usize) {
    let data: Vec<u8> = (0..bytes).map(|i| (i % 7) as u8).collect();
    std::fs::write(dir.join(name), data).unwrap();
}

#[test]
fn a_symbolic_link_may_not_lead_out_of_the_model_folder() {
    let outside = scratch_dir("ext_outside");
    weights(&outside, "secret.bin", 96);
    let dir = scratch_dir("ext_symlink");
    std::os::unix::fs::symlink(outside.join("secret.bin"), dir.join("w.bin")).unwrap();
    let m = two_external(("w.bin", 0), ("w.bin", 48));
    let e = import_in(&m, &dir).unwrap_err().to_string();
    assert!(e.contains("node `fc` (Gemm): tensor `w`"), "{e}");
    assert!(
        e.contains("external data location `w.bin` resolves to `")
            && e.contains("secret.bin`, outside the model's folder"),
        "{e}"
    );
    // A link that stays inside is followed.
    weights(&dir, "real.bin", 96);
    std::fs::remove_file(dir.join("w.bin")).unwrap();
    std::os::unix::fs::symlink("real.bin", dir.join("w.bin")).unwrap();
    assert!(import_in(&m, &dir).is_ok());
    for d in [outside, dir] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn external_data_must_be_a_regular_file() {
    let dir = scratch_dir("ext_dir");
    std::fs::create_dir_all(dir.join("w.bin")).unwrap();
    let e = import_in(&two_external(("w.bin", 0), ("w.bin", 48)), &dir)
        .unwrap_err()
        .to_string();
    assert!(e.contains("w.bin` is not a regular file"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tensors_may_not_read_more_than_their_file_holds() {
    let dir = scratch_dir("ext_overlap");
    weights(&dir, "w.bin", 96);
    // Disjoint ranges: fine.
    assert!(import_in(&two_external(("w.bin", 0), ("w.bin", 48)), &dir).is_ok());
    // Both tensors read bytes 0..48 of a 64-byte file: 96 bytes from 64.
    weights(&dir, "w.bin", 64);
    let e = import_in(&two_external(("w.bin", 0), ("w.bin", 0)), &dir)
        .unwrap_err()
        .to_string();
    assert!(e.contains("node `fc2` (Gemm): tensor `v`"), "{e}");
    assert!(
        e.contains("take 96 bytes from `")
            && e.contains("which holds 64: external data ranges overlap"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tensors_are_charged_to_the_budget_before_they_are_built() {
    // w: 3 x 4 f32 = 48 bytes held; the protobuf estimate comes first.
    let m = mlp_with(vec![], "h", &[1, 3]);
    let bytes = encode(&m);
    let path = Path::new("m.onnx");
    let fits =
        crate::frontend::onnx::import_bytes_with(bytes.clone(), path, &Limits::fixed(64 << 10));
    assert!(fits.is_ok());
    // Find the smallest budget the decode fits, then take 8 bytes less than the weights need.
    let decode_only = (0..64 << 10)
        .step_by(8)
        .find(|&b| {
            crate::frontend::onnx::wire::check(&bytes, &mut Limits::fixed(b).budget_for(0)).is_ok()
        })
        .unwrap();
    let e = crate::frontend::onnx::import_bytes_with(bytes, path, &Limits::fixed(decode_only + 40))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("node `fc` (Gemm): tensor `w`: shape [3, 4] as f32 (48 B) would be"),
        "{e}"
    );
    assert!(e.ends_with("budget set by --max-model-bytes"), "{e}");
}

#[test]
fn every_copy_of_a_constant_an_op_reads_is_charged() {
    // x → Div(c) → Div(c) → ... : each Div builds the reciprocal of c (4000 bytes).
    let c: Vec<f32> = (1..=1000).map(|i| i as f32).collect();
    let chain = |n: usize| {
        let nodes = (0..n)
            .map(|i| {
                let src = if i == 0 {
                    "x".to_string()
                } else {
                    format!("d{}", i - 1)
                };
                node(
                    "Div",
                    &format!("div{i}"),
                    &[&src, "c"],
                    &[&format!("d{i}")],
                    vec![],
                )
            })
            .collect();
        model(
            17,
            nodes,
            vec![f32_tensor("c", &[1000], &c)],
            vec![fvalue("x", &[1000])],
            vec![fvalue(&format!("d{}", n - 1), &[1000])],
        )
    };
    let limits = Limits::fixed(1 << 20);
    let path = Path::new("m.onnx");
    assert!(crate::frontend::onnx::import_bytes_with(encode(&chain(10)), path, &limits).is_ok());
    let e = crate::frontend::onnx::import_bytes_with(encode(&chain(400)), path, &limits)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("(Div): reading constant `c` (3.9 KiB) would be"),
        "{e}"
    );
}

#[test]
fn corrupt_input_dimensions_are_errors_unknown_ones_are_one() {
    let mut m = mlp_with(vec![], "h", &[1, 3]);
    let set_dim = |m: &mut ModelProto, v: i64| {
        let g = m.graph.as_mut().unwrap();
        let Some(type_proto::Value::TensorType(t)) =
            g.input[0].r#type.as_mut().unwrap().value.as_mut()
        else {
            panic!("not a tensor input");
        };
        t.shape.as_mut().unwrap().dim[0] = Dimension {
            value: Some(dimension::Value::DimValue(v)),
            ..Default::default()
        };
    };
    for unknown in [0, -1] {
        set_dim(&mut m, unknown);
        assert!(import(&m).is_ok(), "{unknown}");
    }
    set_dim(&mut m, -5);
    let e = import(&m).unwrap_err().to_string();
    assert!(
        e.ends_with("graph input `x`: dimension 0 is -5; a dimension is a size (or -1 / a name when unknown)"),
        "{e}"
    );
}

#[test]
fn many_nodes_of_one_name_and_long_identity_chains_take_linear_time() {
    // 20,000 Relus all called `r`, then 20,000 Identities in a chain: quadratic name search or
    // alias resolution would take seconds here (and hours for a hostile file).
    let n = 20_000;
    let mut nodes = Vec::new();
    for i in 0..n {
        let src = if i == 0 {
            "x".to_string()
        } else {
            format!("r{}", i - 1)
        };
        nodes.push(node("Relu", "r", &[&src], &[&format!("r{i}")], vec![]));
    }
    for i in 0..n {
        let src = if i == 0 {
            format!("r{}", n - 1)
        } else {
            format!("i{}", i - 1)
        };
        nodes.push(node("Identity", "id", &[&src], &[&format!("i{i}")], vec![]));
    }
    let m = model(
        17,
        nodes,
        vec![],
        vec![fvalue("x", &[4])],
        vec![fvalue(&format!("i{}", n - 1), &[4])],
    );
    let start = Instant::now();
    let g = import(&m).unwrap();
    assert_eq!(g.len(), n + 2);
    assert!(g.node_ids().iter().any(|&id| g.node(id).name == "r_19999"));
    assert!(start.elapsed().as_secs() < 20, "{:?}", start.elapsed());
}

#[test]
fn external_weights_still_load() {
    let dir = scratch_dir("ext_fine");
    let w: Vec<f32> = (0..24).map(|i| i as f32).collect();
    std::fs::write(
        dir.join("w.bin"),
        w.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>(),
    )
    .unwrap();
    let g = import_in(&two_external(("w.bin", 0), ("w.bin", 48)), &dir).unwrap();
    assert_eq!(const_f32(&g, "v")[0], 12.0);
    let _ = std::fs::remove_dir_all(&dir);
}
