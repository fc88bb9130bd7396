//! Test helpers of the SNN passes: small networks, and running a (stateful) graph over a few
//! samples in the reference interpreter.

use snnc_ir::interp::Interpreter;
use snnc_ir::op::{Gemm, IfNeuron, Lif, ResetMode};
use snnc_ir::{verify, Graph, NodeId, Op, Tensor, TensorType};

use crate::passes::{PassArgs, PassContext, PassFn, PassReport};

pub(crate) fn f32t(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_f32(shape.to_vec(), v.to_vec()).unwrap()
}

/// A snnTorch-style LIF (decay 0.9, unit gain at dt = 1e-4, threshold 1, reset to 0).
pub(crate) fn lif_op() -> Op {
    Op::Lif(Lif {
        tau: Tensor::scalar_f32(1e-3),
        r: Tensor::scalar_f32(10.0),
        v_leak: Tensor::scalar_f32(0.0),
        v_threshold: Tensor::scalar_f32(1.0),
        v_reset: Tensor::scalar_f32(0.0),
        reset: ResetMode::ToValue,
    })
}

/// IF with unit gain at dt = 1e-4, threshold 1, reset by subtraction.
pub(crate) fn if_op() -> Op {
    Op::If(IfNeuron {
        r: Tensor::scalar_f32(1e4),
        v_threshold: Tensor::scalar_f32(1.0),
        v_reset: Tensor::scalar_f32(0.0),
        reset: ResetMode::Subtract,
    })
}

/// `x[in] → gemm(W0 [h,in], b0) → n0 → gemm(W1 [out,h], b1) → n1 → y` with NIR's layout
/// (`trans_b`), weights `[out, in]` row-major.
#[allow(clippy::too_many_arguments)]
pub(crate) fn two_layer(
    dims: (usize, usize, usize),
    w0: &[f32],
    b0: &[f32],
    w1: &[f32],
    b1: &[f32],
    n0: Op,
    n1: Op,
) -> Graph {
    let (i, h, o) = dims;
    let mut g = Graph::new("snn");
    let x = g.add_input("x", TensorType::f32(vec![i]));
    let gemm = || {
        Op::Gemm(Gemm {
            trans_b: true,
            ..Gemm::default()
        })
    };
    let w0 = g.add_const("0.weight", f32t(&[h, i], w0));
    let b0 = g.add_const("0.bias", f32t(&[h], b0));
    let l0 = g.add_node("0", gemm(), &[x, w0, b0]).unwrap();
    let s0 = g.add_node("1", n0, &[l0]).unwrap();
    let w1 = g.add_const("2.weight", f32t(&[o, h], w1));
    let b1 = g.add_const("2.bias", f32t(&[o], b1));
    let l1 = g.add_node("2", gemm(), &[s0, w1, b1]).unwrap();
    let s1 = g.add_node("3", n1, &[l1]).unwrap();
    g.add_output("y", s1).unwrap();
    g
}

/// Deterministic pseudo-random values in `[lo, hi)`.
pub(crate) fn values(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut r = crate::sim::SplitMix64::new(seed);
    (0..n)
        .map(|_| lo + (hi - lo) * ((r.next_u64() >> 40) as f32 / (1u64 << 24) as f32))
        .collect()
}

/// Run `f` on `g` with `ctx`; the result must verify.
pub(crate) fn run_pass(f: PassFn, g: &mut Graph, args: &str, ctx: &PassContext<'_>) -> PassReport {
    let name = "test";
    let a = PassArgs::parse(name, args).unwrap();
    let r = f(g, &a, ctx).unwrap_or_else(|e| panic!("{e}"));
    verify(g).unwrap_or_else(|e| panic!("the pass left an invalid graph: {e}"));
    r
}

/// The sum over `steps` steps of the first output of `g` for each sample (direct input), as
/// f32, run with step `dt`.
pub(crate) fn counts(g: &Graph, samples: &[Vec<f32>], steps: usize, dt: f32) -> Vec<Vec<f32>> {
    let info = verify(g).unwrap();
    let mut it = Interpreter::new(g, &info, dt).unwrap();
    let input = g.inputs()[0];
    let ty = g.ty(input).clone();
    samples
        .iter()
        .map(|s| {
            it.reset();
            let x = if ty.dtype.is_float() {
                Tensor::from_f32(ty.shape.clone(), s.clone()).unwrap()
            } else {
                let v = s.iter().map(|v| *v as i64).collect();
                Tensor::from_i64(ty.dtype, ty.shape.clone(), v).unwrap()
            };
            let mut acc = vec![0.0f32; g.ty(g.outputs()[0]).numel()];
            for _ in 0..steps {
                let y = it.step(std::slice::from_ref(&x)).unwrap();
                for (a, v) in acc.iter_mut().zip(y[0].to_f32_vec()) {
                    *a += v;
                }
            }
            acc
        })
        .collect()
}

/// The node named `name`.
pub(crate) fn by_name(g: &Graph, name: &str) -> NodeId {
    g.node_ids()
        .into_iter()
        .find(|id| g.node(*id).name == name)
        .unwrap_or_else(|| panic!("no node `{name}`"))
}

/// The ops of `g` in topological order, by mnemonic.
pub(crate) fn op_names(g: &Graph) -> Vec<&'static str> {
    g.topo_order()
        .unwrap()
        .into_iter()
        .map(|id| g.node(id).op.name())
        .filter(|n| *n != "const")
        .collect()
}
