use super::*;
use crate::passes::canonical::testutil::{args, assert_same_outputs, run_checked};
use snnc_ir::op::{BatchNorm, Conv, Gemm};
use snnc_ir::{DType, TensorType};

fn t(shape: &[usize], v: Vec<f32>) -> Tensor {
    Tensor::from_f32(shape.to_vec(), v).unwrap()
}

/// Deterministic, varied values.
fn vals(n: usize, k: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 37 + k * 11) % 23) as f32 - 11.0) / 10.0)
        .collect()
}

fn add_bn(g: &mut Graph, x: NodeId, c: usize) -> NodeId {
    let gamma = g.add_const("gamma", t(&[c], vals(c, 1)));
    let beta = g.add_const("beta", t(&[c], vals(c, 2)));
    let mean = g.add_const("mean", t(&[c], vals(c, 3)));
    let var = g.add_const("var", t(&[c], (0..c).map(|i| 0.5 + i as f32).collect()));
    let op = Op::BatchNorm(BatchNorm { epsilon: 1e-5 });
    g.add_node("bn", op, &[x, gamma, beta, mean, var]).unwrap()
}

fn count_bn(g: &Graph) -> usize {
    g.node_ids()
        .iter()
        .filter(|i| matches!(g.node(**i).op, Op::BatchNorm(_)))
        .count()
}

/// x[1,4] -> Gemm(W, C) -> BN -> y, with the given Gemm attributes and weight layout.
fn gemm_bn(gm: Gemm, bias: Option<Tensor>, w: Tensor) -> Graph {
    let mut g = Graph::new("t");
    let x = g.add_input("x", TensorType::f32(vec![1, 4]));
    let w = g.add_const("w", w);
    let mut ins = vec![x, w];
    if let Some(b) = bias {
        ins.push(g.add_const("c", b));
    }
    let l = g.add_node("gemm", Op::Gemm(gm), &ins).unwrap();
    let bn = add_bn(&mut g, l, 3);
    g.add_output("y", bn).unwrap();
    g
}

fn fold_ok(mut g: Graph) -> Graph {
    let before = g.clone();
    let r = run_checked(run, &mut g, &args(NAME, ""));
    assert_eq!(r.changed, 1, "{r:?}");
    assert_eq!(
        r.notes,
        ["folded 1 BatchNorm(s) into the preceding Gemm/Conv"]
    );
    assert_eq!(count_bn(&g), 0);
    assert_same_outputs(&before, &g, 1e-5);
    g
}

#[test]
fn folds_into_gemm_trans_b_with_bias() {
    let gm = Gemm {
        trans_b: true,
        ..Gemm::default()
    };
    fold_ok(gemm_bn(
        gm,
        Some(t(&[3], vals(3, 5))),
        t(&[3, 4], vals(12, 0)),
    ));
}

#[test]
fn folds_into_gemm_without_bias_and_scaled() {
    let gm = Gemm {
        alpha: 2.0,
        beta: 0.5,
        ..Gemm::default()
    };
    fold_ok(gemm_bn(gm.clone(), None, t(&[4, 3], vals(12, 0))));
    let g = fold_ok(gemm_bn(
        gm,
        Some(t(&[1, 3], vals(3, 4))),
        t(&[4, 3], vals(12, 0)),
    ));
    let gemm = g
        .node_ids()
        .into_iter()
        .find(|i| g.node(*i).name == "gemm")
        .unwrap();
    assert!(matches!(&g.node(gemm).op, Op::Gemm(x) if x.beta == 1.0 && x.alpha == 2.0));
}

#[test]
fn folds_into_a_batched_conv() {
    let mut g = Graph::new("t");
    let x = g.add_input("x", TensorType::f32(vec![1, 2, 4, 4]));
    let w = g.add_const("w", t(&[3, 2, 3, 3], vals(54, 0)));
    let b = g.add_const("b", t(&[3], vals(3, 9)));
    let conv = Conv {
        stride: vec![1, 1],
        pads: vec![1, 1, 1, 1],
        dilation: vec![1, 1],
        groups: 1,
    };
    let l = g.add_node("conv", Op::Conv(conv), &[x, w, b]).unwrap();
    let bn = add_bn(&mut g, l, 3);
    g.add_output("y", bn).unwrap();
    fold_ok(g);
}

fn kept(mut g: Graph, why: &str) {
    let before = g.clone();
    let r = run_checked(run, &mut g, &args(NAME, ""));
    assert_eq!(r.changed, 0);
    assert_eq!(count_bn(&g), 1);
    assert!(r.notes.iter().any(|n| n.contains(why)), "{:?}", r.notes);
    assert_same_outputs(&before, &g, 0.0);
}

#[test]
fn keeps_binary_and_integer_weights() {
    let gm = Gemm {
        trans_b: true,
        ..Gemm::default()
    };
    let bin = t(
        &[3, 4],
        vals(12, 0)
            .iter()
            .map(|v| if *v < 0.0 { -0.1 } else { 0.1 })
            .collect(),
    );
    kept(gemm_bn(gm.clone(), None, bin), "binary");
    let int = Tensor::from_i64(DType::I8, vec![3, 4], (0..12).map(|i| i - 6).collect()).unwrap();
    kept(gemm_bn(gm, None, int), "not a float constant");
}

#[test]
fn keeps_shared_outputs_and_sign_inputs() {
    let mut g = gemm_bn(Gemm::default(), None, t(&[4, 3], vals(12, 0)));
    let gemm = g
        .node_ids()
        .into_iter()
        .find(|i| g.node(*i).name == "gemm")
        .unwrap();
    g.add_output("z", gemm).unwrap();
    kept(g, "other readers");

    let mut g = Graph::new("t");
    let x = g.add_input("x", TensorType::f32(vec![1, 4]));
    let w = g.add_const("w", t(&[4, 3], vals(12, 0)));
    let l = g
        .add_node("gemm", Op::Gemm(Gemm::default()), &[x, w])
        .unwrap();
    let bn = add_bn(&mut g, l, 3);
    let s = g.add_const("s", Tensor::scalar_f32(1.0));
    let q = g.add_node("sign", Op::BipolarQuant, &[bn, s]).unwrap();
    g.add_output("y", q).unwrap();
    kept(g, "sign");
}

#[test]
fn keeps_batchnorm_after_other_ops() {
    let mut g = Graph::new("t");
    let x = g.add_input("x", TensorType::f32(vec![1, 3]));
    let bn = add_bn(&mut g, x, 3);
    g.add_output("y", bn).unwrap();
    kept(g, "does not follow");
}
