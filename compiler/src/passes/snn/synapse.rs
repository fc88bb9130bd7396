//! The synapses of a layer: a Gemm or Conv node with constant float weights (and bias), seen as
//! "output channel c reads weights W[c, …] and adds bias b[…]". Both SNN passes rescale or
//! quantize weights per output channel; this is the one place that knows how Gemm and Conv lay
//! their channels out.

use snnc_ir::op::{Conv, Gemm};
use snnc_ir::{Graph, IrError, NodeId, Op, Tensor};

use super::fixed::{expand, AxisMap};
use crate::passes::PassError;

/// A Gemm or Conv whose weights (and bias, if any) are f32 constants.
#[derive(Clone, Debug)]
pub struct Synapse {
    pub id: NodeId,
    pub name: String,
    pub op: Op,
    /// The node feeding the data input (Gemm's A, Conv's x).
    pub data: NodeId,
    pub weight_id: NodeId,
    pub weight: Tensor,
    pub bias_id: Option<NodeId>,
    pub bias: Option<Tensor>,
    /// The node's value shape (the neurons it drives have this shape).
    pub out_shape: Vec<usize>,
}

impl Synapse {
    /// The synapse at `id`: `Ok(None)` unless the node is a Gemm or Conv; an error naming the
    /// node when its weights or bias are not f32 constants.
    pub fn at(pass: &str, g: &Graph, id: NodeId) -> Result<Option<Synapse>, PassError> {
        let node = g.node(id);
        if !matches!(node.op, Op::Gemm(_) | Op::Conv(_)) {
            return Ok(None);
        }
        let fail = |what: &str| {
            PassError::not_applicable(
                pass,
                format!(
                    "{} `{}`: its {what} is not a float constant (run const-fold first?)",
                    node.op.name(),
                    node.name
                ),
            )
        };
        let constant = |slot: usize| -> Option<(NodeId, Tensor)> {
            let src = g.operand(id, slot)?;
            match &g.node(src).op {
                Op::Const(t) if t.dtype().is_float() => Some((src, t.clone())),
                _ => None,
            }
        };
        let data = g
            .operand(id, 0)
            .ok_or_else(|| PassError::ir(pass, missing(&node.name, &node.op)))?;
        let (weight_id, weight) = constant(1).ok_or_else(|| fail("weight (input 1)"))?;
        let (bias_id, bias) = match g.operand(id, 2) {
            None => (None, None),
            Some(_) => {
                let (b, t) = constant(2).ok_or_else(|| fail("bias (input 2)"))?;
                (Some(b), Some(t))
            }
        };
        Ok(Some(Synapse {
            id,
            name: node.name.clone(),
            op: node.op.clone(),
            data,
            weight_id,
            weight,
            bias_id,
            bias,
            out_shape: g.ty(id).shape.clone(),
        }))
    }

    /// The axis of the weight tensor that indexes output channels.
    pub fn weight_channel_axis(&self) -> usize {
        match &self.op {
            Op::Gemm(gm) if !gm.trans_b => 1,
            _ => 0,
        }
    }

    /// The axis of the output value that indexes channels: the last one of a Gemm, the one
    /// before the spatial axes of a Conv.
    pub fn out_channel_axis(&self) -> usize {
        let rank = self.out_shape.len();
        match &self.op {
            Op::Conv(_) => rank.saturating_sub(self.weight.rank().saturating_sub(1)),
            _ => rank.saturating_sub(1),
        }
    }

    /// Number of output channels.
    pub fn channels(&self) -> usize {
        self.weight
            .shape()
            .get(self.weight_channel_axis())
            .copied()
            .unwrap_or(1)
    }

    /// Channel of each weight element (row-major).
    pub fn weight_channels(&self) -> AxisMap {
        AxisMap::new(self.weight.shape(), self.weight_channel_axis())
    }

    /// Channel of each output element (row-major).
    pub fn out_channels(&self) -> AxisMap {
        AxisMap::new(&self.out_shape, self.out_channel_axis())
    }

    /// The weights with Gemm's `alpha` folded in, widened to f64.
    pub fn effective_weight(&self) -> Vec<f64> {
        let alpha = match &self.op {
            Op::Gemm(gm) => f64::from(gm.alpha),
            _ => 1.0,
        };
        self.weight
            .to_f32_vec()
            .into_iter()
            .map(|w| alpha * f64::from(w))
            .collect()
    }

    /// The bias added to every output element (Gemm's `beta·C` broadcast, Conv's per-channel
    /// bias), widened to f64; zeros without a bias.
    pub fn effective_bias(&self, pass: &str) -> Result<Vec<f64>, PassError> {
        let n = snnc_ir::numel(&self.out_shape);
        let Some(b) = &self.bias else {
            return Ok(vec![0.0; n]);
        };
        let values = b.to_f32_vec();
        let expanded = match &self.op {
            Op::Gemm(gm) => {
                let beta = f64::from(gm.beta);
                expand(&values, b.shape(), &self.out_shape)
                    .map(|v| v.into_iter().map(|x| beta * f64::from(x)).collect())
            }
            _ => {
                let map = self.out_channels();
                (0..n)
                    .map(|i| values.get(map.of(i)).map(|x| f64::from(*x)))
                    .collect::<Option<Vec<f64>>>()
            }
        };
        expanded.ok_or_else(|| {
            PassError::ir(
                pass,
                IrError::node(
                    &self.name,
                    self.op.name(),
                    format!(
                        "bias of shape {:?} does not fit the output {:?}",
                        b.shape(),
                        self.out_shape
                    ),
                ),
            )
        })
    }

    /// This synapse's op with Gemm's `alpha` and `beta` set to 1 (they are folded into the new
    /// weights and bias).
    pub fn unscaled_op(&self) -> Op {
        match &self.op {
            Op::Gemm(gm) => Op::Gemm(Gemm {
                alpha: 1.0,
                beta: 1.0,
                ..gm.clone()
            }),
            Op::Conv(c) => Op::Conv(Conv { ..c.clone() }),
            other => other.clone(),
        }
    }
}

fn missing(name: &str, op: &Op) -> IrError {
    IrError::node(name, op.name(), "input 0 is not connected")
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::TensorType;

    #[test]
    fn gemm_and_conv_channel_layouts() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![1, 3]));
        let w = g.add_const("w", Tensor::from_f32(vec![3, 2], vec![1.0; 6]).unwrap());
        let b = g.add_const("b", Tensor::from_f32(vec![2], vec![0.5, -0.5]).unwrap());
        let op = Op::Gemm(Gemm {
            alpha: 2.0,
            beta: 3.0,
            ..Gemm::default()
        });
        let gm = g.add_node("gm", op, &[x, w, b]).unwrap();
        let s = Synapse::at("p", &g, gm).unwrap().unwrap();
        assert_eq!(s.weight_channel_axis(), 1);
        assert_eq!(s.out_channel_axis(), 1);
        assert_eq!(s.channels(), 2);
        assert_eq!(s.weight_channels().of(3), 1);
        assert_eq!(s.effective_weight(), vec![2.0; 6]);
        assert_eq!(s.effective_bias("p").unwrap(), vec![1.5, -1.5]);
        assert!(
            matches!(s.unscaled_op(), Op::Gemm(Gemm { alpha, beta, .. }) if alpha == 1.0 && beta == 1.0)
        );

        let cx = g.add_input("cx", TensorType::f32(vec![1, 4, 4]));
        let cw = g.add_const(
            "cw",
            Tensor::from_f32(vec![2, 1, 3, 3], vec![0.1; 18]).unwrap(),
        );
        let cb = g.add_const("cb", Tensor::from_f32(vec![2], vec![1.0, 2.0]).unwrap());
        let conv = Op::Conv(Conv {
            stride: vec![1, 1],
            pads: vec![0; 4],
            dilation: vec![1, 1],
            groups: 1,
        });
        let c = g.add_node("c", conv, &[cx, cw, cb]).unwrap();
        let s = Synapse::at("p", &g, c).unwrap().unwrap();
        assert_eq!(s.out_shape, vec![2, 2, 2]);
        assert_eq!(s.out_channel_axis(), 0);
        assert_eq!(s.weight_channel_axis(), 0);
        assert_eq!(
            s.effective_bias("p").unwrap(),
            vec![1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]
        );
        assert!(Synapse::at("p", &g, x).unwrap().is_none());
    }

    #[test]
    fn non_constant_weights_do_not_apply() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![1, 3]));
        let w = g.add_input("w", TensorType::f32(vec![3, 2]));
        let gm = g
            .add_node("gm", Op::Gemm(Gemm::default()), &[x, w])
            .unwrap();
        let e = Synapse::at("p", &g, gm).unwrap_err();
        assert!(matches!(e, PassError::NotApplicable { .. }));
        assert!(e.to_string().contains("`gm`"), "{e}");
    }
}
