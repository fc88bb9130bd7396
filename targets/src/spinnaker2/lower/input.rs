//! The model input: which node's values the source population sends, and how the host encodes
//! them (spikes, QuantizeLinear of a float input, or integers given directly).

use snnc_ir::{DType, Graph, NodeId, Op};

use crate::spinnaker2::error::{Spinnaker2Error, Unsupported};
use crate::spinnaker2::network::{InputEncoding, InputSpec};

/// The source population as found in the graph.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Source {
    /// The node whose values are sent: the quantize_linear of a float input, else the input.
    pub producer: NodeId,
    pub encoding: InputEncoding,
    /// Elements per step.
    pub size: usize,
    /// Graph input name.
    pub name: String,
    /// Graph input shape.
    pub shape: Vec<usize>,
}

impl Source {
    /// The network's input description.
    pub fn spec(&self) -> InputSpec {
        InputSpec {
            name: self.name.clone(),
            shape: self.shape.clone(),
            population: 0,
            encoding: self.encoding.clone(),
        }
    }
}

/// Find the source: exactly one graph input; a float input must be quantized by exactly one
/// per-tensor quantize_linear (through reshape/flatten), which no other node may use elsewhere.
pub(super) fn source(g: &Graph) -> Result<Source, Spinnaker2Error> {
    let inputs = g.inputs();
    let [input] = inputs else {
        return Err(Spinnaker2Error::Invalid {
            what: "graph inputs".into(),
            reason: format!(
                "spinnaker2 models take exactly one input, this graph has {}",
                inputs.len()
            ),
        });
    };
    let node = g.node(*input);
    let ty = node.ty.as_ref().ok_or_else(|| Spinnaker2Error::Invalid {
        what: format!("input `{}`", node.name),
        reason: "has no type".into(),
    })?;
    let quantizers: Vec<NodeId> = g
        .node_ids()
        .into_iter()
        .filter(|id| matches!(g.node(*id).op, Op::QuantizeLinear(_)))
        .collect();
    let refuse = |id: NodeId, reason: String| {
        let n = g.node(id);
        Spinnaker2Error::UnsupportedOp {
            node: n.name.clone(),
            op: n.op.name().into(),
            reason,
        }
    };
    let (producer, encoding) = if ty.dtype.is_float() {
        let mut mine: Vec<NodeId> = Vec::new();
        let mut others: Vec<Unsupported> = Vec::new();
        for &q in &quantizers {
            if reaches_input(g, q, *input) {
                mine.push(q);
            } else {
                others.push(unsupported(
                    g,
                    q,
                    "quantize_linear is supported only on the model input",
                ));
            }
        }
        others.extend(mine.iter().skip(1).map(|q| {
            unsupported(
                g,
                *q,
                "the input is quantized more than once; the host applies one encoding",
            )
        }));
        if !others.is_empty() {
            return Err(Spinnaker2Error::unsupported(others));
        }
        let Some(&q) = mine.first() else {
            return Err(refuse(
                *input,
                "a float input must be quantized by a quantize_linear (run quantize-snn)".into(),
            ));
        };
        (q, quantized(g, q)?)
    } else {
        if let Some(&q) = quantizers.first() {
            return Err(refuse(
                q,
                "quantize_linear is supported only on a float model input".into(),
            ));
        }
        (
            *input,
            integer(ty.dtype, ty.quant.as_ref().map(|q| q.range()), &node.name)?,
        )
    };
    Ok(Source {
        producer,
        encoding,
        size: ty.numel(),
        name: node.name.clone(),
        shape: ty.shape.clone(),
    })
}

fn unsupported(g: &Graph, id: NodeId, reason: &str) -> Unsupported {
    let n = g.node(id);
    Unsupported {
        node: n.name.clone(),
        op: n.op.name().into(),
        reason: reason.into(),
    }
}

/// Whether operand 0 of `q` is `input`, through reshape/flatten and plain edges.
fn reaches_input(g: &Graph, q: NodeId, input: NodeId) -> bool {
    let mut cur = q;
    for _ in 0..=g.len() {
        let Some((src, edge)) = g.operands(cur).into_iter().find(|(_, e)| e.slot == 0) else {
            return false;
        };
        if edge.recurrent {
            return false;
        }
        if src == input {
            return true;
        }
        match g.node(src).op {
            Op::Reshape(_) | Op::Flatten(_) => cur = src,
            _ => return false,
        }
    }
    false
}

/// The encoding of quantize_linear `q`: one finite positive scale, one zero point, the output
/// type's range (QuantizeLinear saturates to it).
fn quantized(g: &Graph, q: NodeId) -> Result<InputEncoding, Spinnaker2Error> {
    let node = g.node(q);
    let Op::QuantizeLinear(ql) = &node.op else {
        return Err(Spinnaker2Error::Invalid {
            what: format!("node `{}`", node.name),
            reason: "is not a quantize_linear".into(),
        });
    };
    let refuse = |reason: String| Spinnaker2Error::UnsupportedOp {
        node: node.name.clone(),
        op: node.op.name().into(),
        reason,
    };
    let constant = |slot: usize| match g.operand(q, slot).map(|id| &g.node(id).op) {
        Some(Op::Const(t)) => Some(t),
        _ => None,
    };
    let scale = match constant(1).map(|t| t.to_f32_vec()).as_deref() {
        Some([s]) if s.is_finite() && *s > 0.0 => *s,
        _ => {
            return Err(refuse(
                "the scale must be one constant finite positive value (per-tensor): the host \
                 quantizes the whole input with it"
                    .into(),
            ))
        }
    };
    let zero_point = match g.operand(q, 2) {
        None => 0,
        Some(_) => match constant(2).and_then(|t| t.as_i64()) {
            Some([z]) => {
                i32::try_from(*z).map_err(|_| refuse(format!("zero point {z} does not fit i32")))?
            }
            _ => {
                return Err(refuse(
                    "the zero point must be one constant integer (per-tensor)".into(),
                ))
            }
        },
    };
    let (lo, hi) = fit_range(ql.out, None, &node.name)?;
    Ok(InputEncoding::Quantized {
        scale,
        zero_point,
        lo,
        hi,
    })
}

/// The encoding of an integer input of `dtype` (bool: spikes).
fn integer(
    dtype: DType,
    quant: Option<(i64, i64)>,
    name: &str,
) -> Result<InputEncoding, Spinnaker2Error> {
    if dtype == DType::Bool {
        return Ok(InputEncoding::Spikes);
    }
    let (lo, hi) = fit_range(dtype, quant, name)?;
    Ok(InputEncoding::Integer { lo, hi })
}

/// The value range of `dtype` (narrowed to the quantization range when given) as i32 payloads.
fn fit_range(
    dtype: DType,
    quant: Option<(i64, i64)>,
    name: &str,
) -> Result<(i32, i32), Spinnaker2Error> {
    let (mut lo, mut hi) = dtype.int_range().ok_or_else(|| Spinnaker2Error::Invalid {
        what: format!("input `{name}`"),
        reason: format!("{dtype} is not an integer type"),
    })?;
    if let Some((qlo, qhi)) = quant {
        lo = lo.max(qlo);
        hi = hi.min(qhi);
    }
    match (i32::try_from(lo), i32::try_from(hi)) {
        (Ok(lo), Ok(hi)) if lo <= hi => Ok((lo, hi)),
        _ => Err(Spinnaker2Error::Overflow {
            what: format!("input `{name}`"),
            reason: format!(
                "its values range over [{lo}, {hi}] ({dtype}), but packet payloads are i32"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::op::QuantizeLinear;
    use snnc_ir::{Tensor, TensorType};

    #[test]
    fn integer_inputs_and_ranges() {
        assert_eq!(
            integer(DType::Bool, None, "x").unwrap(),
            InputEncoding::Spikes
        );
        assert_eq!(
            integer(DType::I8, None, "x").unwrap(),
            InputEncoding::Integer { lo: -128, hi: 127 }
        );
        assert_eq!(
            integer(DType::I64, Some((-7, 7)), "x").unwrap(),
            InputEncoding::Integer { lo: -7, hi: 7 }
        );
        assert_eq!(
            integer(DType::Bin, None, "x").unwrap(),
            InputEncoding::Integer { lo: -1, hi: 1 }
        );
        assert!(matches!(
            integer(DType::U32, None, "x"),
            Err(Spinnaker2Error::Overflow { .. })
        ));
    }

    #[test]
    fn float_input_needs_one_per_tensor_quantizer() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![2, 3]));
        let flat = g
            .add_node(
                "flat",
                Op::Flatten(snnc_ir::op::Flatten {
                    start_dim: 0,
                    end_dim: 1,
                }),
                &[x],
            )
            .unwrap();
        let s = g.add_const("s", Tensor::scalar_f32(0.25));
        let z = g.add_const("z", Tensor::from_i64(DType::I8, vec![], vec![-3]).unwrap());
        let ql = QuantizeLinear {
            axis: 0,
            out: DType::I8,
        };
        let q = g
            .add_node("q", Op::QuantizeLinear(ql), &[flat, s, z])
            .unwrap();
        let src = source(&g).unwrap();
        assert_eq!(src.producer, q);
        assert_eq!(src.size, 6);
        assert_eq!(src.shape, vec![2, 3]);
        assert_eq!(
            src.encoding,
            InputEncoding::Quantized {
                scale: 0.25,
                zero_point: -3,
                lo: -128,
                hi: 127
            }
        );
        assert!(src.encoding.payload());
        assert_eq!(src.encoding.max_abs(), 128);
        // A per-axis scale is refused.
        let mut g2 = Graph::new("t");
        let x = g2.add_input("x", TensorType::f32(vec![2]));
        let s = g2.add_const("s", Tensor::from_f32(vec![2], vec![0.5, 0.25]).unwrap());
        let ql = QuantizeLinear {
            axis: 0,
            out: DType::U8,
        };
        g2.add_node("q", Op::QuantizeLinear(ql), &[x, s]).unwrap();
        match source(&g2) {
            Err(Spinnaker2Error::UnsupportedOp { node, reason, .. }) => {
                assert_eq!(node, "q");
                assert!(reason.contains("per-tensor"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
