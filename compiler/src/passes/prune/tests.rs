//! Tests of the whole pass on small graphs: exact sparsity, structured pruning that keeps the
//! function when the removed channels carry nothing, shapes through conv → flatten → gemm,
//! and bad input.

use snnc_ir::op::{BatchNorm, Conv, Flatten, Gemm};
use snnc_ir::{interp, verify, Graph, NodeId, Op, Tensor, TensorType};

use super::run;
use crate::passes::{PassArgs, PassContext, PassError, PassReport};

fn prune(g: &mut Graph, args: &str) -> Result<PassReport, PassError> {
    let a = PassArgs::parse("prune", args)?;
    let r = run(g, &a, &PassContext::default())?;
    verify(g).unwrap_or_else(|e| panic!("prune left an invalid graph: {e}"));
    Ok(r)
}

fn konst(g: &mut Graph, name: &str, shape: &[usize], v: Vec<f32>) -> NodeId {
    g.add_const(name, Tensor::from_f32(shape.to_vec(), v).unwrap())
}

/// Pseudo-random values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// 8 → 6 → 5 → 3 MLP with ReLUs; hidden neurons listed in `dead1`/`dead2` have zero weights
/// and bias (they output 0 after the ReLU) and their smallest-norm rows are exactly those.
fn mlp(dead1: &[usize], dead2: &[usize]) -> Graph {
    let mut g = Graph::new("mlp");
    let mut x = g.add_input("x", TensorType::f32(vec![1, 8]));
    let dims = [8usize, 6, 5, 3];
    let dead: [&[usize]; 3] = [dead1, dead2, &[]];
    for l in 0..3 {
        let (k, n) = (dims[l], dims[l + 1]);
        let mut w = values(n * k, 10 + l as u64);
        let mut b = values(n, 20 + l as u64);
        for &d in dead[l] {
            w[d * k..(d + 1) * k].fill(0.0);
            b[d] = 0.0;
        }
        let wn = konst(&mut g, &format!("w{l}"), &[n, k], w);
        let bn = konst(&mut g, &format!("b{l}"), &[n], b);
        let gemm = Gemm {
            trans_b: true,
            ..Gemm::default()
        };
        x = g
            .add_node(format!("gemm{l}"), Op::Gemm(gemm), &[x, wn, bn])
            .unwrap();
        if l < 2 {
            x = g.add_node(format!("relu{l}"), Op::Relu, &[x]).unwrap();
        }
    }
    g.add_output("y", x).unwrap();
    g
}

fn outputs(g: &Graph, n: usize, shape: &[usize]) -> Vec<Vec<f32>> {
    let info = verify(g).unwrap();
    let len: usize = shape.iter().product();
    (0..n)
        .map(|i| {
            let x = Tensor::from_f32(shape.to_vec(), values(len, 100 + i as u64)).unwrap();
            interp::run(g, &info, &[x]).unwrap()[0].to_f32_vec()
        })
        .collect()
}

fn weights_of(g: &Graph, layer: &str) -> Tensor {
    let id = g
        .node_ids()
        .into_iter()
        .find(|i| g.node(*i).name == layer)
        .unwrap();
    let w = g.operand(id, 1).unwrap();
    match &g.node(w).op {
        Op::Const(t) => t.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unstructured_reaches_the_target_in_every_layer() {
    for s in [0.5, 0.8] {
        let mut g = mlp(&[], &[]);
        let r = prune(&mut g, &format!("{s}")).unwrap();
        assert_eq!(r.changed, 3);
        for (layer, n) in [("gemm0", 48usize), ("gemm1", 30), ("gemm2", 15)] {
            let w = weights_of(&g, layer);
            let zeros = w.as_f32().unwrap().iter().filter(|v| **v == 0.0).count();
            assert_eq!(zeros, (s * n as f64).round() as usize, "{layer} at {s}");
        }
        outputs(&g, 2, &[1, 8]);
    }
    // Only the named layer.
    let mut g = mlp(&[], &[]);
    prune(&mut g, "0.5:layers=gemm1").unwrap();
    let z = |g: &Graph, l: &str| {
        weights_of(g, l)
            .as_f32()
            .unwrap()
            .iter()
            .filter(|v| **v == 0.0)
            .count()
    };
    assert_eq!((z(&g, "gemm0"), z(&g, "gemm1"), z(&g, "gemm2")), (0, 15, 0));
}

#[test]
fn structured_removes_dead_neurons_without_changing_the_function() {
    // Two dead neurons in each hidden layer: round(0.34 · 6) = round(0.34 · 5) = 2 go.
    let original = mlp(&[1, 4], &[0, 3]);
    let mut g = original.clone();
    let r = prune(&mut g, "0.34:structured").unwrap();
    assert_eq!(r.changed, 2, "{:?}", r.notes);
    assert!(
        r.notes.iter().any(|n| n.contains("graph output")),
        "{:?}",
        r.notes
    );
    assert_eq!(weights_of(&g, "gemm0").shape(), &[4, 8]);
    assert_eq!(weights_of(&g, "gemm1").shape(), &[3, 4]);
    assert_eq!(weights_of(&g, "gemm2").shape(), &[3, 3]);
    let y = |g: &Graph| {
        g.outputs()
            .iter()
            .map(|o| g.ty(*o).shape.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(y(&g), y(&original));
    let (a, b) = (outputs(&g, 5, &[1, 8]), outputs(&original, 5, &[1, 8]));
    assert_eq!(a, b);
}

/// Conv(1→4, pad 1) → BatchNorm → ReLU → MaxPool 2 → Flatten → Gemm(16→3) on a [1,1,4,4]
/// input; conv channel 2 is dead and the Gemm ignores its columns.
fn conv_net() -> Graph {
    let mut g = Graph::new("cnn");
    let x = g.add_input("x", TensorType::f32(vec![1, 1, 4, 4]));
    let mut w = values(4 * 9, 3);
    w[2 * 9..3 * 9].fill(0.0);
    let w = konst(&mut g, "cw", &[4, 1, 3, 3], w);
    let b = konst(&mut g, "cb", &[4], vec![0.1, -0.1, 0.0, 0.2]);
    let conv = Conv {
        stride: vec![1, 1],
        pads: vec![1; 4],
        dilation: vec![1, 1],
        groups: 1,
    };
    let c = g.add_node("conv", Op::Conv(conv), &[x, w, b]).unwrap();
    let p: Vec<NodeId> = (0..4)
        .map(|i| konst(&mut g, &format!("bn{i}"), &[4], vec![1.0, 0.5, 2.0, 1.5]))
        .collect();
    let bn = g
        .add_node(
            "bn",
            Op::BatchNorm(BatchNorm { epsilon: 1e-5 }),
            &[c, p[0], p[1], p[2], p[3]],
        )
        .unwrap();
    let r = g.add_node("relu", Op::Relu, &[bn]).unwrap();
    let pool = g
        .add_node(
            "pool",
            Op::Pool(snnc_ir::op::Pool {
                kind: snnc_ir::op::PoolKind::Max,
                kernel: vec![2, 2],
                stride: vec![2, 2],
                pads: vec![0; 4],
                dilation: vec![1, 1],
                ceil_mode: false,
                count_include_pad: false,
            }),
            &[r],
        )
        .unwrap();
    let f = g
        .add_node(
            "flatten",
            Op::Flatten(Flatten {
                start_dim: 1,
                end_dim: 3,
            }),
            &[pool],
        )
        .unwrap();
    let mut gw = values(3 * 16, 4);
    for row in 0..3 {
        gw[row * 16 + 8..row * 16 + 12].fill(0.0);
    }
    let gw = konst(&mut g, "gw", &[3, 16], gw);
    let gemm = Gemm {
        trans_b: true,
        ..Gemm::default()
    };
    let y = g.add_node("fc", Op::Gemm(gemm), &[f, gw]).unwrap();
    g.add_output("y", y).unwrap();
    g
}

#[test]
fn structured_conv_updates_batchnorm_and_the_flattened_gemm() {
    let original = conv_net();
    let mut g = original.clone();
    let r = prune(&mut g, "0.25:structured:layers=conv").unwrap();
    assert_eq!(r.changed, 1);
    assert!(r.notes[0].contains("updated bn, fc"), "{:?}", r.notes);
    assert_eq!(weights_of(&g, "conv").shape(), &[3, 1, 3, 3]);
    assert_eq!(weights_of(&g, "fc").shape(), &[3, 12]);
    assert_eq!(
        outputs(&g, 4, &[1, 1, 4, 4]),
        outputs(&original, 4, &[1, 1, 4, 4])
    );
    // Unstructured pruning of a conv counts its zeros too.
    let mut u = conv_net();
    prune(&mut u, "0.5:layers=conv").unwrap();
    let zeros = weights_of(&u, "conv")
        .as_f32()
        .unwrap()
        .iter()
        .filter(|v| **v == 0.0)
        .count();
    assert_eq!(zeros, 18);
}

#[test]
fn bad_input_gives_clear_errors() {
    let mut g = mlp(&[], &[]);
    for bad in ["1.5", "-0.1", "1", "", "0.5:structure", "0.5:layers=nope"] {
        let e = prune(&mut g, bad).unwrap_err();
        assert!(matches!(e, PassError::InvalidArgs { .. }), "{bad}: {e}");
    }
    let e = prune(&mut g, "0.5:layers=nope").unwrap_err().to_string();
    assert!(e.contains("gemm0, gemm1, gemm2"), "{e}");
    // No layer.
    let mut r = Graph::new("relu");
    let x = r.add_input("x", TensorType::f32(vec![4]));
    let y = r.add_node("r", Op::Relu, &[x]).unwrap();
    r.add_output("y", y).unwrap();
    let e = prune(&mut r, "0.5").unwrap_err();
    assert!(matches!(e, PassError::NotApplicable { .. }), "{e}");
    // The only layer feeds the graph output: structured pruning has nothing it may remove.
    let e = prune(&mut g, "0.5:structured:layers=gemm2").unwrap_err();
    assert!(matches!(e, PassError::NotApplicable { .. }), "{e}");
    assert!(e.to_string().contains("graph output"), "{e}");
}
