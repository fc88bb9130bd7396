//! The integer twin of a float activation: which integer node holds the same values, and with
//! which scale and zero point (`real = (q − zero_point)·scale`).
//!
//! A float value `v` has an integer twin when
//! - `v = DequantizeLinear(q, s, z)` with `q` a computed (non-constant) integer tensor and a
//!   per-tensor `s`, `z`: the twin is `q` itself;
//! - `v` is a max pooling, Flatten or Reshape of a value with a twin: the same op applied to the
//!   twin. This is exact: dequantization is monotone (`s > 0`), so the largest float of a window
//!   is the dequantized largest integer, and padded taps are skipped in both;
//! - `v = Relu(u)` and `u` has a twin: `max(q, z)`, an integer Clip (nothing when `z` is already
//!   the lowest value of the type).
//!
//! New integer nodes take the name of the float node they stand for (which is renamed
//! `<name>.float` and normally removed once nothing reads it).

use std::collections::BTreeMap;

use snnc_ir::op::{Clip, PoolKind};
use snnc_ir::{DType, NodeId, Op};

use super::edit::{const_operand, scalar_f32, scalar_i64, Editor};
use crate::passes::PassError;

/// An integer tensor with per-tensor quantization parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IntVal {
    pub node: NodeId,
    pub scale: f32,
    pub zero_point: i64,
    pub dtype: DType,
}

impl IntVal {
    /// The inclusive range of the storage type.
    pub fn range(&self) -> (i64, i64) {
        self.dtype.int_range().unwrap_or((0, 0))
    }
}

/// Memoized integer twins of float values.
#[derive(Default)]
pub struct IntValues {
    memo: BTreeMap<NodeId, Option<IntVal>>,
}

/// A plain integer dtype that quantized activations may use.
pub fn is_plain_int(d: DType) -> bool {
    d.is_int() && !matches!(d, DType::Bool | DType::Bin)
}

impl IntValues {
    /// The integer twin of `v`, creating the pass-through nodes it needs.
    pub fn of(&mut self, ed: &mut Editor<'_>, v: NodeId) -> Result<Option<IntVal>, PassError> {
        if let Some(known) = self.memo.get(&v) {
            return Ok(*known);
        }
        let found = self.find(ed, v)?;
        self.memo.insert(v, found);
        Ok(found)
    }

    fn find(&mut self, ed: &mut Editor<'_>, v: NodeId) -> Result<Option<IntVal>, PassError> {
        let op = ed.g.node(v).op.clone();
        let input = ed.g.operand(v, 0);
        match (&op, input) {
            (Op::DequantizeLinear(_), Some(q)) => Ok(dequantized(ed, v, q)),
            (Op::Pool(p), Some(u)) if p.kind == PoolKind::Max => self.pass_through(ed, v, u, op),
            (Op::Flatten(_) | Op::Reshape(_), Some(u)) => self.pass_through(ed, v, u, op),
            (Op::Relu, Some(u)) => {
                let Some(iv) = self.of(ed, u)? else {
                    return Ok(None);
                };
                if iv.zero_point <= iv.range().0 {
                    return Ok(Some(iv));
                }
                let name = ed.take_name(v, "float");
                let clip = Op::Clip(Clip {
                    min: Some(iv.zero_point as f64),
                    max: None,
                });
                let node = ed.node_named(name, clip, &[iv.node])?;
                Ok(Some(IntVal { node, ..iv }))
            }
            _ => Ok(None),
        }
    }

    fn pass_through(
        &mut self,
        ed: &mut Editor<'_>,
        v: NodeId,
        u: NodeId,
        op: Op,
    ) -> Result<Option<IntVal>, PassError> {
        let Some(iv) = self.of(ed, u)? else {
            return Ok(None);
        };
        let name = ed.take_name(v, "float");
        let node = ed.node_named(name, op, &[iv.node])?;
        Ok(Some(IntVal { node, ..iv }))
    }
}

/// `DequantizeLinear(q, s, [z])` with a computed integer `q` and one scale and zero point.
fn dequantized(ed: &Editor<'_>, dq: NodeId, q: NodeId) -> Option<IntVal> {
    let g = &*ed.g;
    let qn = g.get(q)?;
    if matches!(qn.op, Op::Const(_)) {
        return None;
    }
    let dtype = qn.ty.as_ref()?.dtype;
    if !is_plain_int(dtype) {
        return None;
    }
    let scale = scalar_f32(const_operand(g, dq, 1)?)?;
    let zero_point = match g.operand(dq, 2) {
        None => 0,
        Some(_) => scalar_i64(const_operand(g, dq, 2)?)?,
    };
    (scale.is_finite() && scale > 0.0).then_some(IntVal {
        node: q,
        scale,
        zero_point,
        dtype,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::op::{DequantizeLinear, Pool, QuantizeLinear};
    use snnc_ir::{verify, Graph, Tensor, TensorType};

    /// x -> Q(u8, zp 3) -> DQ -> relu -> maxpool -> out
    #[test]
    fn twins_through_relu_and_max_pool() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![1, 1, 2, 2]));
        let s = g.add_const("s", Tensor::scalar_f32(0.5));
        let z = g.add_const("z", Tensor::from_i64(DType::U8, vec![], vec![3]).unwrap());
        let q = g
            .add_node(
                "q",
                Op::QuantizeLinear(QuantizeLinear {
                    axis: 1,
                    out: DType::U8,
                }),
                &[x, s, z],
            )
            .unwrap();
        let dq = g
            .add_node(
                "dq",
                Op::DequantizeLinear(DequantizeLinear { axis: 1 }),
                &[q, s, z],
            )
            .unwrap();
        let r = g.add_node("relu", Op::Relu, &[dq]).unwrap();
        let pool = Op::Pool(Pool {
            kind: PoolKind::Max,
            kernel: vec![2, 2],
            stride: vec![2, 2],
            pads: vec![0; 4],
            dilation: vec![1, 1],
            ceil_mode: false,
            count_include_pad: false,
        });
        let p = g.add_node("pool", pool, &[r]).unwrap();
        g.add_output("y", p).unwrap();
        let mut ints = IntValues::default();
        let mut ed = Editor::new(&mut g, "test");
        let iv = ints.of(&mut ed, p).unwrap().unwrap();
        assert_eq!((iv.scale, iv.zero_point, iv.dtype), (0.5, 3, DType::U8));
        let pooled = ed.g.node(iv.node);
        assert_eq!(pooled.name, "pool");
        let clip = ed.g.operand(iv.node, 0).unwrap();
        assert!(
            matches!(ed.g.node(clip).op, Op::Clip(Clip { min: Some(m), max: None }) if m == 3.0)
        );
        assert_eq!(ed.g.operand(clip, 0), Some(q));
        assert_eq!(ed.g.node(p).name, "pool.float");
        // Memoized: asking again adds nothing.
        let n = ed.g.len();
        assert_eq!(ints.of(&mut ed, p).unwrap(), Some(iv));
        assert_eq!(ed.g.len(), n);
        // A constant or a float op has no twin.
        assert_eq!(ints.of(&mut ed, s).unwrap(), None);
        assert_eq!(ints.of(&mut ed, x).unwrap(), None);
        verify(&g).unwrap();
    }
}
