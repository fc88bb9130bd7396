//! Interpreter tests: graphs built through the public graph API, run step by step.

use super::*;
use crate::op::neuron::new_state;
use crate::op::{Gemm, Integrator};
use crate::{verify, DType};

fn f(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_f32(shape.to_vec(), v.to_vec()).unwrap()
}

/// x[3] → gemm with constant weights [2,3] (transposed) and bias → relu → output.
fn dense_relu() -> Graph {
    let mut g = Graph::new("dense");
    let x = g.add_input("x", TensorType::f32(vec![3]));
    let w = g.add_const("w", f(&[2, 3], &[1., 2., 3., -1., -2., -3.]));
    let b = g.add_const("b", f(&[2], &[0.5, 0.5]));
    let gemm = Gemm {
        trans_b: true,
        ..Gemm::default()
    };
    let y = g.add_node("fc", Op::Gemm(gemm), &[x, w, b]).unwrap();
    let r = g.add_node("relu", Op::Relu, &[y]).unwrap();
    g.add_output("y", r).unwrap();
    g
}

#[test]
fn stateless_graph_runs_once() {
    let g = dense_relu();
    let info = verify(&g).unwrap();
    let out = run(&g, &info, &[f(&[3], &[1., 1., 1.])]).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].as_f32().unwrap(), &[6.5, 0.]);
    // Same graph, same input, again: same result (constants are not consumed).
    let mut it = Interpreter::new(&g, &info, 1e-3).unwrap();
    for _ in 0..2 {
        let out = it.step(&[f(&[3], &[1., 0., -1.])]).unwrap();
        assert_eq!(out[0].as_f32().unwrap(), &[0., 2.5]);
    }
}

#[test]
fn input_mismatch_names_the_input_node() {
    let g = dense_relu();
    let info = verify(&g).unwrap();
    let e = run(&g, &info, &[f(&[4], &[0.; 4])]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "node `x` (input): graph input 0 must be f32[3], got f32[4]"
    );
    let int = Tensor::from_i64(DType::I8, vec![3], vec![1, 2, 3]).unwrap();
    assert!(run(&g, &info, &[int]).is_err());
    let e = run(&g, &info, &[]).unwrap_err();
    assert_eq!(e.to_string(), "the graph takes 1 inputs, got 0");
}

/// y_t = x_t + 0.5·y_{t−1}: the multiply reads the add over a recurrent edge.
fn leaky_accumulator() -> Graph {
    let mut g = Graph::new("acc");
    let x = g.add_input("x", TensorType::f32(vec![2]));
    let half = g.add_const("half", Tensor::scalar_f32(0.5));
    let mul = g.add_node_untyped("decay", Op::Mul);
    let add = g.add_node_untyped("sum", Op::Add);
    let out = g.add_node_untyped("y", Op::Output { index: 0 });
    g.connect(add, mul, 0, true).unwrap();
    g.connect(half, mul, 1, false).unwrap();
    g.connect(x, add, 0, false).unwrap();
    g.connect(mul, add, 1, false).unwrap();
    g.connect(add, out, 0, false).unwrap();
    g.infer_types().unwrap();
    g
}

#[test]
fn recurrent_edge_delivers_the_previous_step() {
    let g = leaky_accumulator();
    let info = verify(&g).unwrap();
    assert_eq!(g.ty(g.outputs()[0]), &TensorType::f32(vec![2]));
    let mut it = Interpreter::new(&g, &info, 1e-3).unwrap();
    let x = f(&[2], &[2., 4.]);
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(it.step(std::slice::from_ref(&x)).unwrap()[0].clone());
    }
    // t0: 0 delivered → [2,4]; t1: [2,4] + [1,2]; t2: [2,4] + [1.5,3].
    assert_eq!(seen[0].as_f32().unwrap(), &[2., 4.]);
    assert_eq!(seen[1].as_f32().unwrap(), &[3., 6.]);
    assert_eq!(seen[2].as_f32().unwrap(), &[3.5, 7.]);
    let decay = g.node_ids()[2];
    assert_eq!(it.value(decay).unwrap().as_f32().unwrap(), &[1.5, 3.]);
    it.reset();
    let again = it.step(std::slice::from_ref(&x)).unwrap();
    assert_eq!(again[0].as_f32().unwrap(), &[2., 4.]);
    // A graph with recurrence cannot be "run once".
    assert!(run(&g, &info, &[x]).is_err());
}

#[test]
fn stateful_node_keeps_its_state_between_steps() {
    let mut g = Graph::new("integrate");
    let x = g.add_input("x", TensorType::f32(vec![2]));
    let op = Op::Integrator(Integrator {
        r: f(&[2], &[1., 2.]),
    });
    let n = g.add_node("int", op.clone(), &[x]).unwrap();
    g.add_output("v", n).unwrap();
    let info = verify(&g).unwrap();
    let dt = 0.25;
    let mut it = Interpreter::new(&g, &info, dt).unwrap();
    let mut reference = new_state(&op, &[2], dt).unwrap().unwrap();
    let input = f(&[2], &[1., 1.]);
    let mut outs = Vec::new();
    for _ in 0..3 {
        let got = it.step(std::slice::from_ref(&input)).unwrap().remove(0);
        assert_eq!(got, reference.step(&input).unwrap());
        outs.push(got.as_f32().unwrap()[1]);
    }
    // The integrator accumulates: each step adds the same positive amount.
    assert!(outs[0] > 0.0 && outs[1] > outs[0] && outs[2] > outs[1]);
    assert_eq!(outs[1] - outs[0], outs[2] - outs[1]);
    it.reset();
    let first = it.step(&[input]).unwrap().remove(0);
    assert_eq!(first.as_f32().unwrap()[1], outs[0]);
    let e = run(&g, &info, &[f(&[2], &[0., 0.])]).unwrap_err();
    assert!(e
        .to_string()
        .starts_with("node `int` (integrator): is stateful"));
}

#[test]
fn info_of_another_graph_is_rejected() {
    let g = dense_relu();
    let other = leaky_accumulator();
    let info = verify(&other).unwrap();
    assert!(Interpreter::new(&g, &info, 1.0).is_err());
}

#[test]
fn integer_pipeline_stays_exact() {
    // i8 input → gemm with i8 weights (i32 accumulators) → clip to [-128, 127].
    let mut g = Graph::new("int");
    let x = g.add_input("x", TensorType::new(DType::I8, vec![1, 2]));
    let w = g.add_const(
        "w",
        Tensor::from_i64(DType::I8, vec![2, 2], vec![127, -128, 127, 1]).unwrap(),
    );
    let y = g.add_node("mm", Op::MatMul, &[x, w]).unwrap();
    let c = g
        .add_node(
            "clip",
            Op::Clip(crate::op::Clip {
                min: Some(-128.0),
                max: Some(127.0),
            }),
            &[y],
        )
        .unwrap();
    g.add_output("y", c).unwrap();
    let info = verify(&g).unwrap();
    let xin = Tensor::from_i64(DType::I8, vec![1, 2], vec![100, -1]).unwrap();
    let out = run(&g, &info, &[xin]).unwrap();
    assert_eq!(out[0].dtype(), DType::I32);
    // [100·127 − 127, 100·(−128) − 1] = [12573, −12801], clipped.
    assert_eq!(out[0].as_i64().unwrap(), &[127, -128]);
}
