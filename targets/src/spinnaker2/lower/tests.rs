//! Lowering of small hand-built integer graphs: every accepted form and every refusal.

use super::*;
use crate::spinnaker2::network::{InputEncoding, Reset, SparseRows};
use snnc_ir::op::{Delay, Gemm, IntLif, QuantizeLinear, Requant, ResetMode};
use snnc_ir::{verify, DType, Tensor, TensorType};

fn t(dtype: DType, shape: &[usize], v: &[i64]) -> Tensor {
    Tensor::from_i64(dtype, shape.to_vec(), v.to_vec()).unwrap()
}

fn gemm(trans_b: bool) -> Op {
    Op::Gemm(Gemm {
        trans_b,
        ..Default::default()
    })
}

/// Requant to i16 with per-neuron multipliers 1..=n, shift 0 and bounds `lo..=hi`.
fn requant(n: usize, axis: usize, zero_point: i64, lo: i64, hi: i64) -> Op {
    let m: Vec<i64> = (1..=n as i64).collect();
    Op::Requant(Requant {
        multiplier: t(DType::I64, &[n], &m),
        shift: t(DType::I64, &[n], &vec![0; n]),
        zero_point,
        axis,
        out: DType::I16,
        lo,
        hi,
    })
}

fn int_lif(n: usize) -> Op {
    let bias: Vec<i64> = (0..n as i64).collect();
    Op::IntLif(IntLif {
        decay: t(DType::I64, &[], &[29491]),
        frac_bits: 15,
        bias: t(DType::I64, &[n], &bias),
        threshold: t(DType::I64, &[], &[100]),
        v_reset: t(DType::I64, &[], &[-3]),
        reset: ResetMode::ToValue,
        state_bits: 16,
    })
}

/// A graph built from untyped nodes (so that recurrent edges can close loops), typed at the end.
struct B {
    g: Graph,
}

impl B {
    fn new() -> Self {
        B {
            g: Graph::new("net"),
        }
    }

    fn node(&mut self, name: &str, op: Op, inputs: &[(NodeId, bool)]) -> NodeId {
        let id = self.g.add_node_untyped(name, op);
        for (slot, (src, rec)) in inputs.iter().enumerate() {
            self.g.connect(*src, id, slot, *rec).unwrap();
        }
        id
    }

    /// Declare a node's type up front (a gemm reading it through a recurrent edge needs it
    /// before inference reaches the node).
    fn spikes(&mut self, id: NodeId, n: usize) {
        self.g.node_mut(id).ty = Some(TensorType::new(DType::Bool, vec![n]));
    }

    fn connect(&mut self, src: NodeId, dst: NodeId, slot: usize, rec: bool) {
        self.g.connect(src, dst, slot, rec).unwrap();
    }

    fn finish(mut self) -> (Graph, GraphInfo) {
        self.g.infer_types().unwrap();
        let info = verify(&self.g).unwrap();
        (self.g, info)
    }
}

/// input f32[1,4] → quantize_linear(u8, 0.5) → gemm(W [3,4] or its transpose) → requant →
/// int_lif → output.
fn one_layer(trans_b: bool, matmul: bool) -> (Graph, GraphInfo) {
    let w = [[1, 0, -2, 0], [0, 0, 0, 0], [3, 4, 0, -5]];
    let data: Vec<i64> = if trans_b {
        w.iter().flatten().copied().collect()
    } else {
        (0..4).flat_map(|k| w.iter().map(move |r| r[k])).collect()
    };
    let shape = if trans_b { [3, 4] } else { [4, 3] };
    let mut b = B::new();
    let x = b.g.add_input("x", TensorType::f32(vec![1, 4]));
    let s = b.g.add_const("s", Tensor::scalar_f32(0.5));
    let wc = b.g.add_const("w", t(DType::I8, &shape, &data));
    let ql = QuantizeLinear {
        axis: 0,
        out: DType::U8,
    };
    let q = b.node("x.q", Op::QuantizeLinear(ql), &[(x, false), (s, false)]);
    let op = if matmul { Op::MatMul } else { gemm(trans_b) };
    let g = b.node("fc", op, &[(q, false), (wc, false)]);
    let r = b.node("fc.rq", requant(3, 1, 0, -32768, 32767), &[(g, false)]);
    let l = b.node("lif", int_lif(3), &[(r, false)]);
    b.node("y", Op::Output { index: 0 }, &[(l, false)]);
    b.finish()
}

#[test]
fn one_quantized_layer() {
    let (g, info) = one_layer(true, false);
    let net = lower(&g, &info).unwrap();
    assert_eq!(net.name, "net");
    assert_eq!(net.populations.len(), 2);
    assert_eq!(
        (net.populations[0].name.as_str(), net.populations[0].size),
        ("x", 4)
    );
    assert_eq!(net.populations[0].kind, PopulationKind::Source);
    assert_eq!(
        (net.populations[1].name.as_str(), net.populations[1].size),
        ("lif", 3)
    );
    let PopulationKind::Lif(lif) = &net.populations[1].kind else {
        panic!("not a LIF population");
    };
    assert_eq!(lif.decay, vec![29491; 3]);
    assert_eq!(lif.bias, vec![0, 1, 2]);
    assert_eq!(lif.threshold, vec![100; 3]);
    assert_eq!(lif.v_reset, vec![-3; 3]);
    assert_eq!(
        (lif.frac_bits, lif.state_bits, lif.reset),
        (15, 16, Reset::ToValue)
    );
    assert_eq!(net.input.name, "x");
    assert_eq!(net.input.shape, vec![1, 4]);
    assert_eq!(net.input.population, 0);
    assert_eq!(
        net.input.encoding,
        InputEncoding::Quantized {
            scale: 0.5,
            zero_point: 0,
            lo: 0,
            hi: 255
        }
    );
    assert_eq!((net.output.name.as_str(), net.output.population), ("y", 1));
    assert_eq!(net.output.shape, vec![1, 3]);
    let [p] = net.projections.as_slice() else {
        panic!("{:?}", net.projections);
    };
    assert_eq!((p.name.as_str(), p.pre, p.post), ("fc", 0, 1));
    assert!(p.payload && !p.recurrent);
    assert_eq!(p.extra_delay, 0);
    assert_eq!(
        p.rows,
        SparseRows {
            offsets: vec![0, 2, 3, 4, 5],
            post: vec![0, 2, 2, 0, 2],
            weight: vec![1, 3, 4, -2, -5],
        }
    );
    assert_eq!(p.synapses(), 5);
    assert_eq!(p.rows.row(0).collect::<Vec<_>>(), vec![(0, 1), (2, 3)]);
    assert_eq!(p.weight_bits, 4);
    assert_eq!(p.requant.multiplier, vec![1, 2, 3]);
    assert_eq!(p.requant.shift, vec![0; 3]);
    assert_eq!((p.requant.lo, p.requant.hi), (-32768, 32767));
    let s = net.schedule().unwrap();
    assert_eq!((s.depth, s.delay, s.latency), (vec![0, 1], vec![1], 1));
}

#[test]
fn trans_b_and_matmul_give_the_same_synapses() {
    let (g, info) = one_layer(true, false);
    let want = lower(&g, &info).unwrap().projections[0].rows.clone();
    for matmul in [false, true] {
        let (g, info) = one_layer(false, matmul);
        let net = lower(&g, &info).unwrap();
        assert_eq!(net.projections[0].rows, want, "matmul = {matmul}");
    }
}

/// Spikes x bool[2] → g1 → r1 ┐
///                            add → lif[3] → y, and lif → (recurrent) rec → r2 ┘
fn recurrent(range: i64, zp2: i64, rec_after_requant: bool) -> (Graph, GraphInfo) {
    let mut b = B::new();
    let x = b.g.add_input("x", TensorType::new(DType::Bool, vec![2]));
    let w1 =
        b.g.add_const("w1", t(DType::I8, &[2, 3], &[1, 2, 0, 0, -1, 7]));
    let w2 =
        b.g.add_const("w2", t(DType::I8, &[3, 3], &[0, 0, 5, 0, 0, 0, 0, -6, 0]));
    let g1 = b.node("g1", gemm(false), &[(x, false), (w1, false)]);
    let r1 = b.node("r1", requant(3, 0, 0, -range, range), &[(g1, false)]);
    let sum = b.g.add_node_untyped("sum", Op::Add);
    let lif = b.node("lif", int_lif(3), &[(sum, false)]);
    b.spikes(lif, 3);
    let g2 = b.g.add_node_untyped("rec", gemm(false));
    b.connect(lif, g2, 0, !rec_after_requant);
    b.connect(w2, g2, 1, false);
    let r2 = b.node("r2", requant(3, 0, zp2, -range, range), &[(g2, false)]);
    b.connect(r1, sum, 0, false);
    b.connect(r2, sum, 1, rec_after_requant);
    b.node("y", Op::Output { index: 0 }, &[(lif, false)]);
    b.finish()
}

#[test]
fn recurrent_projection_joined_by_an_exact_add() {
    let (g, info) = recurrent(1000, 0, false);
    let net = lower(&g, &info).unwrap();
    assert_eq!(net.input.encoding, InputEncoding::Spikes);
    let got: Vec<(&str, usize, usize, bool, bool)> = net
        .projections
        .iter()
        .map(|p| (p.name.as_str(), p.pre, p.post, p.recurrent, p.payload))
        .collect();
    assert_eq!(
        got,
        vec![("g1", 0, 1, false, false), ("rec", 1, 1, true, false)]
    );
    assert_eq!(
        net.projections[1].rows,
        SparseRows {
            offsets: vec![0, 1, 1, 2],
            post: vec![2, 1],
            weight: vec![5, -6],
        }
    );
    let s = net.schedule().unwrap();
    assert_eq!((s.depth, s.delay, s.latency), (vec![0, 1], vec![1, 1], 1));
    // The recurrent edge may also sit after the requant when its zero point is 0.
    let (g, info) = recurrent(1000, 0, true);
    let net = lower(&g, &info).unwrap();
    assert!(net.projections[1].recurrent);
}

#[test]
fn add_that_can_wrap_is_refused() {
    let (g, info) = recurrent(32767, 0, false);
    match lower(&g, &info) {
        Err(Spinnaker2Error::UnsupportedOp { node, op, reason }) => {
            assert_eq!((node.as_str(), op.as_str()), ("sum", "add"));
            assert!(
                reason.contains("wraps to its output type i16")
                    && reason.contains("[-65534, 65534]"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn delayed_requant_with_a_zero_point_is_refused() {
    let (g, info) = recurrent(1000, 5, true);
    match lower(&g, &info) {
        Err(Spinnaker2Error::UnsupportedOp { node, reason, .. }) => {
            assert_eq!(node, "r2");
            assert!(reason.contains("zero point is 5"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

/// x bool[2] → delay(2 ms) → gemm → requant → lif → y.
fn delayed() -> (Graph, GraphInfo) {
    let mut b = B::new();
    let x = b.g.add_input("x", TensorType::new(DType::Bool, vec![2]));
    let w = b.g.add_const("w", t(DType::I8, &[2, 2], &[1, 0, 0, 1]));
    let d = b.node(
        "d",
        Op::Delay(Delay {
            delay: Tensor::scalar_f32(2e-3),
        }),
        &[(x, false)],
    );
    let g1 = b.node("g", gemm(false), &[(d, false), (w, false)]);
    let r = b.node("r", requant(2, 0, 0, -100, 100), &[(g1, false)]);
    let l = b.node("lif", int_lif(2), &[(r, false)]);
    b.node("y", Op::Output { index: 0 }, &[(l, false)]);
    b.finish()
}

#[test]
fn delay_ops_become_extra_delay() {
    let (g, info) = delayed();
    match lower(&g, &info) {
        Err(Spinnaker2Error::UnsupportedOp { node, op, reason }) => {
            assert_eq!((node.as_str(), op.as_str()), ("d", "delay"));
            assert!(reason.contains("dt"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let opts = LowerOptions { dt: Some(1e-3) };
    let net = lower_with(&g, &info, &opts).unwrap();
    assert_eq!(net.projections[0].extra_delay, 2);
    assert!(!net.projections[0].recurrent);
    let s = net.schedule().unwrap();
    assert_eq!((s.depth, s.delay, s.latency), (vec![0, 0], vec![2], 0));
}

#[test]
fn float_and_ann_ops_are_all_reported() {
    let mut g = Graph::new("f");
    let x = g.add_input("x", TensorType::f32(vec![4]));
    let w = g.add_const("w", Tensor::from_f32(vec![2, 4], vec![0.5; 8]).unwrap());
    let fc = g.add_node("fc", gemm(true), &[x, w]).unwrap();
    let r = g.add_node("act", Op::Relu, &[fc]).unwrap();
    g.add_output("y", r).unwrap();
    let info = verify(&g).unwrap();
    let e = lower(&g, &info).unwrap_err();
    let Spinnaker2Error::UnsupportedOps(list) = &e else {
        panic!("{e:?}");
    };
    let names: Vec<&str> = list.iter().map(|u| u.node.as_str()).collect();
    assert_eq!(names, vec!["fc", "act"]);
    let msg = e.to_string();
    assert!(
        msg.starts_with("spinnaker2: 2 unsupported nodes: node `fc` (gemm): float arithmetic"),
        "{msg}"
    );
    assert!(msg.contains("run quantize-snn first"), "{msg}");
}

/// x i16[k] → gemm(all weights `w`, [k, 1]) → requant → lif → y.
fn integer_input(k: usize, w: i64, wdtype: DType) -> (Graph, GraphInfo) {
    let mut b = B::new();
    let x = b.g.add_input("x", TensorType::new(DType::I16, vec![k]));
    let wc = b.g.add_const("w", t(wdtype, &[k, 1], &vec![w; k]));
    let g1 = b.node("big", gemm(false), &[(x, false), (wc, false)]);
    let r = b.node("r", requant(1, 0, 0, -100, 100), &[(g1, false)]);
    let l = b.node("lif", int_lif(1), &[(r, false)]);
    b.node("y", Op::Output { index: 0 }, &[(l, false)]);
    b.finish()
}

#[test]
fn accumulator_and_weight_overflow() {
    // 100 · 300 · 32768 < 2^31: fine, payload packets of an integer input.
    let (g, info) = integer_input(300, 100, DType::I16);
    let net = lower(&g, &info).unwrap();
    assert_eq!(
        net.input.encoding,
        InputEncoding::Integer {
            lo: -32768,
            hi: 32767
        }
    );
    assert!(net.projections[0].payload);
    assert_eq!(net.projections[0].weight_bits, 8);
    // 1000 · 300 · 32768 >= 2^31.
    let (g, info) = integer_input(300, 1000, DType::I16);
    match lower(&g, &info) {
        Err(Spinnaker2Error::Overflow { what, reason }) => {
            assert_eq!(what, "the i32 accumulator of node `big`");
            assert!(reason.contains("sum |w| = 300000"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let (g, info) = integer_input(2, 40000, DType::I32);
    match lower(&g, &info) {
        Err(Spinnaker2Error::Overflow { what, reason }) => {
            assert_eq!(what, "weights of node `big`");
            assert!(reason.contains("weight 40000 (pre 0, post 0)"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn output_must_be_spikes() {
    let mut b = B::new();
    let x = b.g.add_input("x", TensorType::new(DType::Bool, vec![2]));
    let w = b.g.add_const("w", t(DType::I8, &[2, 2], &[1, 0, 0, 1]));
    let g1 = b.node("g", gemm(false), &[(x, false), (w, false)]);
    let r = b.node("r", requant(2, 0, 0, -100, 100), &[(g1, false)]);
    b.node("y", Op::Output { index: 0 }, &[(r, false)]);
    let (g, info) = b.finish();
    match lower(&g, &info) {
        Err(Spinnaker2Error::UnsupportedOp { node, reason, .. }) => {
            assert_eq!(node, "y");
            assert!(reason.contains("reads requant `r`"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn gemm_bias_and_back_edge_over_a_layer() {
    // l1 → l2 forward, l2 → l1 recurrent: l1 needs l2's previous step in the same tick.
    let mut b = B::new();
    let x = b.g.add_input("x", TensorType::new(DType::Bool, vec![2]));
    let w = b.g.add_const("w", t(DType::I8, &[2, 2], &[1, 0, 0, 1]));
    let g1 = b.node("g1", gemm(false), &[(x, false), (w, false)]);
    let r1 = b.node("r1", requant(2, 0, 0, -100, 100), &[(g1, false)]);
    let sum = b.g.add_node_untyped("sum", Op::Add);
    let l1 = b.node("l1", int_lif(2), &[(sum, false)]);
    let g2 = b.node("g2", gemm(false), &[(l1, false), (w, false)]);
    let r2 = b.node("r2", requant(2, 0, 0, -100, 100), &[(g2, false)]);
    let l2 = b.node("l2", int_lif(2), &[(r2, false)]);
    b.spikes(l2, 2);
    let g3 = b.node("back", gemm(false), &[(l2, true), (w, false)]);
    let r3 = b.node("r3", requant(2, 0, 0, -100, 100), &[(g3, false)]);
    b.connect(r1, sum, 0, false);
    b.connect(r3, sum, 1, false);
    b.node("y", Op::Output { index: 0 }, &[(l2, false)]);
    let (g, info) = b.finish();
    match lower(&g, &info) {
        Err(Spinnaker2Error::Unschedulable { what, .. }) => {
            assert_eq!(what, "recurrent projection `back`");
        }
        other => panic!("{other:?}"),
    }
    // A gemm with a nonzero bias is refused; a zero bias is accepted.
    for (bias, ok) in [(0, true), (4, false)] {
        let mut b = B::new();
        let x = b.g.add_input("x", TensorType::new(DType::Bool, vec![2]));
        let w = b.g.add_const("w", t(DType::I8, &[2, 2], &[1, 0, 0, 1]));
        let c = b.g.add_const("c", t(DType::I32, &[2], &[bias, 0]));
        let g1 = b.node("g", gemm(false), &[(x, false), (w, false), (c, false)]);
        let r = b.node("r", requant(2, 0, 0, -100, 100), &[(g1, false)]);
        let l = b.node("lif", int_lif(2), &[(r, false)]);
        b.node("y", Op::Output { index: 0 }, &[(l, false)]);
        let (g, info) = b.finish();
        let got = lower(&g, &info);
        assert_eq!(got.is_ok(), ok, "{got:?}");
        if let Err(Spinnaker2Error::UnsupportedOp { node, reason, .. }) = got {
            assert_eq!(node, "g");
            assert!(reason.contains("bias"), "{reason}");
        }
    }
}
