//! Interpreter tests of integer graphs: binary (±1) products, Requant, BinThreshold and the
//! fixed-point LIF, built through the graph API, verified and run.

use super::*;
use crate::op::{BinThreshold, Conv, Gemm, IntLif, Requant, ResetMode};
use crate::{verify, DType};

fn it(dtype: DType, shape: &[usize], v: &[i64]) -> Tensor {
    Tensor::from_i64(dtype, shape.to_vec(), v.to_vec()).unwrap()
}

fn ints(t: &Tensor) -> Vec<i64> {
    t.as_i64().unwrap().to_vec()
}

/// The packed form's dot product (DESIGN.md §4): bit 1 means −1, `K − 2·popcount(a XOR w)`.
fn packed_dot(a: &[i64], w: &[i64]) -> i64 {
    let bit = |v: i64| u32::from(v < 0);
    let ones: u32 = a.iter().zip(w).map(|(x, y)| bit(*x) ^ bit(*y)).sum();
    a.len() as i64 - 2 * i64::from(ones)
}

/// x: bin[1,4] → gemm with bin weights [4,2] → requant (×1.5, zp 1) → bin_threshold → output.
#[test]
fn binary_dense_layer_runs_exactly() {
    let mut g = Graph::new("bnn");
    let x = g.add_input("x", TensorType::new(DType::Bin, vec![1, 4]));
    let wv = [1, -1, 1, 1, -1, 1, -1, 1];
    let w = g.add_const("w", it(DType::Bin, &[4, 2], &wv));
    let fc = g
        .add_node("fc", Op::Gemm(Gemm::default()), &[x, w])
        .unwrap();
    let rq = Op::Requant(Requant {
        multiplier: it(DType::I64, &[], &[3]),
        shift: it(DType::I64, &[], &[1]),
        zero_point: 1,
        axis: 0,
        out: DType::I8,
        lo: -128,
        hi: 127,
    });
    let rq = g.add_node("rq", rq, &[fc]).unwrap();
    let bt = Op::BinThreshold(BinThreshold {
        threshold: it(DType::I64, &[2], &[0, 2]),
        flip: it(DType::I64, &[2], &[0, 1]),
        axis: 1,
    });
    let bt = g.add_node("bt", bt, &[rq]).unwrap();
    g.add_output("acc", fc).unwrap();
    g.add_output("q", rq).unwrap();
    g.add_output("y", bt).unwrap();
    let info = verify(&g).unwrap();
    assert_eq!(g.node(fc).ty, Some(TensorType::new(DType::I32, vec![1, 2])));
    let xv = [1, -1, -1, 1];
    let out = run(&g, &info, &[it(DType::Bin, &[1, 4], &xv)]).unwrap();
    // Column 0 = [1, 1, -1, -1]: 1 - 1 + 1 - 1 = 0; column 1 = [-1, 1, 1, 1]: -1 - 1 - 1 + 1 = -2.
    assert_eq!(ints(&out[0]), vec![0, -2]);
    let col = |j: usize| [wv[j], wv[2 + j], wv[4 + j], wv[6 + j]];
    assert_eq!(
        ints(&out[0]),
        vec![packed_dot(&xv, &col(0)), packed_dot(&xv, &col(1))]
    );
    // 0·3 → 0 → +1 = 1; (−6 + 1) >> 1 = −3 → −2.
    assert_eq!(out[1].dtype(), DType::I8);
    assert_eq!(ints(&out[1]), vec![1, -2]);
    // ch0: 1 ≥ 0 → +1; ch1 (flipped): −2 ≤ 2 → +1.
    assert_eq!(out[2].dtype(), DType::Bin);
    assert_eq!(ints(&out[2]), vec![1, 1]);
}

#[test]
fn binary_conv_matmul_and_add_are_exact_i32() {
    let mut g = Graph::new("bin");
    let x = g.add_input("x", TensorType::new(DType::Bin, vec![1, 2, 3]));
    let w = g.add_const("w", it(DType::Bin, &[1, 2, 2], &[1, -1, -1, -1]));
    let c = Conv {
        stride: vec![1],
        pads: vec![0, 0],
        dilation: vec![1],
        groups: 1,
    };
    let conv = g.add_node("conv", Op::Conv(c), &[x, w]).unwrap();
    let m = g.add_const("m", it(DType::Bin, &[3, 1], &[-1, 1, 1]));
    let mm = g.add_node("mm", Op::MatMul, &[x, m]).unwrap();
    let add = g.add_node("add", Op::Add, &[x, x]).unwrap();
    for (name, id) in [("y0", conv), ("y1", mm), ("y2", add)] {
        assert_eq!(g.node(id).ty.as_ref().map(|t| t.dtype), Some(DType::I32));
        g.add_output(name, id).unwrap();
    }
    let info = verify(&g).unwrap();
    // x = [[1, -1, 1], [-1, -1, 1]].
    let out = run(
        &g,
        &info,
        &[it(DType::Bin, &[1, 2, 3], &[1, -1, 1, -1, -1, 1])],
    )
    .unwrap();
    // Window 0: 1·1 + (−1)(−1) + (−1)(−1) + (−1)(−1) = 4; window 1: −1 − 1 + 1 − 1 = −2.
    assert_eq!(ints(&out[0]), vec![4, -2]);
    assert_eq!(out[0].shape(), &[1, 1, 2]);
    // Rows times [−1, 1, 1]: −1 − 1 + 1 = −1; 1 − 1 + 1 = 1.
    assert_eq!(ints(&out[1]), vec![-1, 1]);
    assert_eq!(ints(&out[2]), vec![2, -2, 2, -2, -2, 2]);
}

/// current: i32[2] → int_lif → output, stepped; same values as the state's own unit test.
#[test]
fn int_lif_steps_in_the_interpreter() {
    let mut g = Graph::new("snn");
    let x = g.add_input("i", TensorType::new(DType::I32, vec![2]));
    let l = Op::IntLif(IntLif {
        decay: it(DType::I64, &[2], &[3, 2]),
        frac_bits: 2,
        bias: it(DType::I64, &[2], &[0, 1]),
        threshold: it(DType::I64, &[], &[10]),
        v_reset: it(DType::I64, &[], &[-2]),
        reset: ResetMode::ToValue,
        state_bits: 16,
    });
    let n = g.add_node("lif", l, &[x]).unwrap();
    g.add_output("s", n).unwrap();
    let info = verify(&g).unwrap();
    assert!(info.stateful);
    assert!(run(&g, &info, &[it(DType::I32, &[2], &[4, -6])]).is_err());
    let mut interp = Interpreter::new(&g, &info, 1e-3).unwrap();
    let mut spikes = Vec::new();
    for _ in 0..5 {
        let out = interp.step(&[it(DType::I32, &[2], &[4, -6])]).unwrap();
        assert_eq!(out[0].dtype(), DType::Bool);
        spikes.push(ints(&out[0]));
    }
    let want = vec![vec![0, 0], vec![0, 0], vec![0, 0], vec![1, 0], vec![0, 0]];
    assert_eq!(spikes, want);
    interp.reset();
    let again: Vec<Vec<i64>> = (0..5)
        .map(|_| ints(&interp.step(&[it(DType::I32, &[2], &[4, -6])]).unwrap()[0]))
        .collect();
    assert_eq!(again, want);
}

#[test]
fn verify_names_the_node_with_bad_integer_attributes() {
    let mut g = Graph::new("bad");
    let x = g.add_input("x", TensorType::new(DType::I32, vec![2]));
    let rq = g.add_node_untyped(
        "rq",
        Op::Requant(Requant {
            multiplier: it(DType::I64, &[], &[1]),
            shift: it(DType::I64, &[], &[70]),
            zero_point: 0,
            axis: 0,
            out: DType::I8,
            lo: -128,
            hi: 127,
        }),
    );
    g.connect(x, rq, 0, false).unwrap();
    g.node_mut(rq).ty = Some(TensorType::new(DType::I8, vec![2]));
    g.add_output("y", rq).unwrap();
    assert_eq!(
        verify(&g).unwrap_err().to_string(),
        "node `rq` (requant): shift 70 at index 0 is outside [0, 62]"
    );
    // add_node infers, so the same op is refused there with the same reason.
    let mut g = Graph::new("bad2");
    let f = g.add_input("f", TensorType::f32(vec![2]));
    let bt = Op::BinThreshold(BinThreshold {
        threshold: it(DType::I64, &[], &[0]),
        flip: it(DType::I64, &[], &[0]),
        axis: 0,
    });
    let e = g.add_node("bt", bt, &[f]).unwrap_err().to_string();
    assert_eq!(
        e,
        "node `bt` (bin_threshold): input 0 (x) must be an integer tensor, got f32[2]"
    );
}
