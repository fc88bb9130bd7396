//! NIR primitives: each node's parameters checked and turned into what the IR needs.
//!
//! Parameter names and meanings follow the NIR specification (NIR 1.x, `nir/ir/*.py`). Which
//! parameters are required follows the reference reader `nir.read`: everything it reads
//! unconditionally is required here; `v_reset` (older files) defaults to zeros shaped like
//! `v_threshold`, `w_in` to ones shaped like `v_threshold`, and `input_shape` / `input_type`
//! are optional hints.
//!
//! Spatial ops follow PyTorch, where NIR's definitions come from: convolution padding is
//! symmetric per axis or the string `"same"` / `"valid"`; `AvgPool2d` divides by the full
//! window, padding included (PyTorch's default `count_include_pad=True`).

use snnc_ir::op::{Conv, CubaLif, Delay, IfNeuron, Integrator, Li, Lif, Pool, PoolKind, Threshold};
use snnc_ir::{Op, Tensor};

use super::hdf5::RawValue;
use super::model::NirNode;
use super::params::Params;
use super::{Fail, ImportOptions};

/// A NIR node ready to become IR nodes.
#[derive(Clone, PartialEq, Debug)]
pub enum Prim {
    /// A graph input of the given shape (no batch dimension).
    Input { shape: Vec<usize> },
    /// A graph output; `shape` is the declared shape, checked against the inferred one.
    Output { shape: Option<Vec<usize>> },
    /// A pass-through: NIR `Identity`, and the Input/Output nodes of nested graphs.
    Identity,
    /// `y = W·x + b` (Affine) or `y = W·x` (Linear, `bias = None`); `weight` is `[out, in]`.
    Affine {
        weight: Tensor,
        bias: Option<Tensor>,
    },
    /// Conv1d / Conv2d; `bias` has one value per output channel.
    Conv {
        conv: Conv,
        weight: Tensor,
        bias: Tensor,
    },
    /// SumPool2d / AvgPool2d.
    Pool(Pool),
    /// Flatten with dimensions as stored (negative counts from the end); resolved against the
    /// input's rank once it is known. `input_rank` comes from the optional `input_type`.
    Flatten {
        start: i64,
        end: i64,
        input_rank: Option<usize>,
    },
    /// `y = x ⊙ scale`.
    Scale(Tensor),
    /// A single IR op with no tensor inputs besides `x` (neurons, Threshold, Delay); boxed
    /// because neuron ops hold many tensors.
    Op(Box<Op>),
}

impl Prim {
    fn op(op: Op) -> Prim {
        Prim::Op(Box::new(op))
    }
}

/// Check one (non-graph) node and convert it. `name` is the node's qualified name.
pub fn parse(node: &NirNode, name: &str, opts: &ImportOptions) -> Result<Prim, Fail> {
    let p = Params {
        node: name,
        op: &node.kind,
        values: &node.params,
    };
    let reset = opts.reset;
    Ok(match node.kind.as_str() {
        "Input" => Prim::Input {
            shape: p.shape("shape")?,
        },
        "Output" => Prim::Output {
            shape: if p.has("shape") {
                Some(p.shape("shape")?)
            } else {
                None
            },
        },
        "Identity" => Prim::Identity,
        "Affine" => Prim::Affine {
            weight: matrix(&p)?,
            bias: Some(p.tensor("bias")?),
        },
        "Linear" => Prim::Affine {
            weight: matrix(&p)?,
            bias: None,
        },
        "Conv1d" => conv(&p, 1)?,
        "Conv2d" => conv(&p, 2)?,
        "SumPool2d" => Prim::Pool(pool(&p, PoolKind::Sum)?),
        "AvgPool2d" => Prim::Pool(pool(&p, PoolKind::Avg)?),
        "Flatten" => Prim::Flatten {
            start: p.int("start_dim")?,
            end: p.int("end_dim")?,
            input_rank: p.opt_ints("input_type")?.map(|d| d.len()),
        },
        "Scale" => Prim::Scale(p.tensor("scale")?),
        "Threshold" => Prim::op(Op::Threshold(Threshold {
            threshold: p.tensor("threshold")?,
        })),
        "LIF" => {
            let v_threshold = p.tensor("v_threshold")?;
            Prim::op(Op::Lif(Lif {
                tau: p.tensor("tau")?,
                r: p.tensor("r")?,
                v_leak: p.tensor("v_leak")?,
                v_reset: v_reset(&p, &v_threshold)?,
                v_threshold,
                reset,
            }))
        }
        "CubaLIF" => {
            let v_threshold = p.tensor("v_threshold")?;
            let w_in = p
                .opt_tensor("w_in")?
                .unwrap_or_else(|| Tensor::full_f32(v_threshold.shape().to_vec(), 1.0));
            Prim::op(Op::CubaLif(CubaLif {
                tau_syn: p.tensor("tau_syn")?,
                tau_mem: p.tensor("tau_mem")?,
                r: p.tensor("r")?,
                v_leak: p.tensor("v_leak")?,
                v_reset: v_reset(&p, &v_threshold)?,
                v_threshold,
                w_in,
                reset,
            }))
        }
        "IF" => {
            let v_threshold = p.tensor("v_threshold")?;
            Prim::op(Op::If(IfNeuron {
                r: p.tensor("r")?,
                v_reset: v_reset(&p, &v_threshold)?,
                v_threshold,
                reset,
            }))
        }
        "LI" => Prim::op(Op::Li(Li {
            tau: p.tensor("tau")?,
            r: p.tensor("r")?,
            v_leak: p.tensor("v_leak")?,
        })),
        "I" | "Integrator" => Prim::op(Op::Integrator(Integrator { r: p.tensor("r")? })),
        "Delay" => {
            let delay = p.tensor("delay")?;
            if delay.to_f32_vec().iter().any(|d| *d < 0.0) {
                return Err(p.fail("parameter `delay` has a negative value"));
            }
            Prim::op(Op::Delay(Delay { delay }))
        }
        other => return Err(p.fail(format!("unsupported NIR type `{other}`"))),
    })
}

/// `v_reset`, or zeros shaped like `v_threshold` when an older file omits it.
fn v_reset(p: &Params, v_threshold: &Tensor) -> Result<Tensor, Fail> {
    Ok(p.opt_tensor("v_reset")?
        .unwrap_or_else(|| Tensor::full_f32(v_threshold.shape().to_vec(), 0.0)))
}

/// The `weight` of Affine / Linear: a `[out, in]` matrix.
fn matrix(p: &Params) -> Result<Tensor, Fail> {
    let w = p.tensor("weight")?;
    if w.rank() != 2 {
        return Err(p.fail(format!(
            "parameter `weight` has shape {:?}, expected [out, in]",
            w.shape()
        )));
    }
    Ok(w)
}

fn conv(p: &Params, s: usize) -> Result<Prim, Fail> {
    let weight = p.tensor("weight")?;
    if weight.rank() != s + 2 {
        return Err(p.fail(format!(
            "parameter `weight` has shape {:?}, expected rank {} (C_out, C_in/groups, kernel)",
            weight.shape(),
            s + 2
        )));
    }
    let kernel = weight.shape()[2..].to_vec();
    let c_out = weight.shape()[0];
    let stride = p.per_axis("stride", s, 1)?;
    let dilation = p.per_axis("dilation", s, 1)?;
    let pads = padding(p, &kernel, &stride, &dilation)?;
    let groups = usize::try_from(p.int("groups")?)
        .ok()
        .filter(|g| *g >= 1)
        .ok_or_else(|| p.fail("parameter `groups` must be at least 1"))?;
    let bias = p.tensor("bias")?;
    // A single bias value (some exporters write a scalar 0) applies to every output channel.
    let bias = match bias.as_f32() {
        Some([b]) => Tensor::full_f32(vec![c_out], *b),
        _ => bias,
    };
    Ok(Prim::Conv {
        conv: Conv {
            stride,
            pads,
            dilation,
            groups,
        },
        weight,
        bias,
    })
}

fn pool(p: &Params, kind: PoolKind) -> Result<Pool, Fail> {
    let kernel = p.per_axis("kernel_size", 2, 1)?;
    let stride = p.per_axis("stride", 2, 1)?;
    let dilation = vec![1, 1];
    let pads = padding(p, &kernel, &stride, &dilation)?;
    Ok(Pool {
        kind,
        kernel,
        stride,
        pads,
        dilation,
        ceil_mode: false,
        count_include_pad: true,
    })
}

/// `padding` as IR pads (all begins, then all ends): integers pad both sides of an axis;
/// `"valid"` is no padding; `"same"` (stride 1 only, as in PyTorch) pads `dilation·(k−1)` in
/// total per axis, the odd element at the end.
fn padding(
    p: &Params,
    kernel: &[usize],
    stride: &[usize],
    dilation: &[usize],
) -> Result<Vec<usize>, Fail> {
    let s = kernel.len();
    if let Some(mode) = p.opt_string("padding")? {
        return match mode.trim() {
            "valid" => Ok(vec![0; 2 * s]),
            "same" => {
                if stride.iter().any(|st| *st != 1) {
                    return Err(p.fail("padding \"same\" needs stride 1"));
                }
                let total: Vec<usize> = kernel
                    .iter()
                    .zip(dilation)
                    .map(|(k, d)| d.saturating_mul(k.saturating_sub(1)))
                    .collect();
                let begins = total.iter().map(|t| t / 2);
                let ends = total.iter().map(|t| t - t / 2);
                Ok(begins.chain(ends).collect())
            }
            other => Err(p.fail(format!(
                "padding \"{other}\" is not \"same\", \"valid\" or a number"
            ))),
        };
    }
    if matches!(p.values.get("padding"), Some(RawValue::Str { .. })) {
        return Err(p.fail("parameter `padding` must be a single string"));
    }
    let per_axis = p.per_axis("padding", s, 0)?;
    Ok(per_axis.iter().chain(per_axis.iter()).copied().collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use snnc_ir::op::ResetMode;

    use super::*;

    fn f(shape: Vec<usize>, data: Vec<f64>) -> RawValue {
        RawValue::Float { shape, data }
    }

    fn i(shape: Vec<usize>, data: Vec<i64>) -> RawValue {
        RawValue::Int { shape, data }
    }

    fn s(v: &str) -> RawValue {
        RawValue::Str {
            shape: vec![],
            data: vec![v.into()],
        }
    }

    fn node(kind: &str, params: Vec<(&str, RawValue)>) -> NirNode {
        NirNode {
            kind: kind.into(),
            params: params
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<BTreeMap<_, _>>(),
            sub: None,
        }
    }

    fn conv2d(padding: RawValue, stride: i64) -> NirNode {
        node(
            "Conv2d",
            vec![
                ("weight", f(vec![4, 2, 3, 2], vec![0.5; 48])),
                ("bias", f(vec![], vec![0.25])),
                ("stride", i(vec![], vec![stride])),
                ("dilation", i(vec![2], vec![1, 2])),
                ("groups", i(vec![], vec![1])),
                ("padding", padding),
            ],
        )
    }

    #[test]
    fn conv_padding_forms() {
        let opts = ImportOptions::default();
        let Prim::Conv { conv, bias, .. } =
            parse(&conv2d(i(vec![2], vec![1, 0]), 1), "c", &opts).unwrap()
        else {
            panic!("not a conv")
        };
        assert_eq!(conv.pads, vec![1, 0, 1, 0]);
        assert_eq!(conv.stride, vec![1, 1]);
        assert_eq!(conv.dilation, vec![1, 2]);
        assert_eq!(bias.shape(), &[4]);
        assert_eq!(bias.as_f32().unwrap(), &[0.25; 4]);
        // "same": kernel (3, 2), dilation (1, 2) → totals (2, 2).
        let Prim::Conv { conv, .. } = parse(&conv2d(s("same"), 1), "c", &opts).unwrap() else {
            panic!("not a conv")
        };
        assert_eq!(conv.pads, vec![1, 1, 1, 1]);
        let Prim::Conv { conv, .. } = parse(&conv2d(s("valid"), 2), "c", &opts).unwrap() else {
            panic!("not a conv")
        };
        assert_eq!(conv.pads, vec![0; 4]);
        assert!(parse(&conv2d(s("same"), 2), "c", &opts).is_err());
        assert!(parse(&conv2d(s("full"), 1), "c", &opts).is_err());
    }

    #[test]
    fn lif_defaults_and_reset_mode() {
        let n = node(
            "LIF",
            vec![
                ("tau", f(vec![3], vec![1e-3; 3])),
                ("r", f(vec![], vec![10.0])),
                ("v_leak", i(vec![], vec![0])),
                ("v_threshold", f(vec![3], vec![1.0; 3])),
            ],
        );
        let opts = ImportOptions {
            reset: ResetMode::Subtract,
            ..ImportOptions::default()
        };
        let Prim::Op(op) = parse(&n, "l", &opts).unwrap() else {
            panic!("not an op")
        };
        let Op::Lif(lif) = *op else {
            panic!("not a LIF")
        };
        assert_eq!(lif.v_reset.shape(), &[3]);
        assert_eq!(lif.v_reset.as_f32().unwrap(), &[0.0; 3]);
        assert_eq!(lif.r.shape(), &[] as &[usize]);
        assert_eq!(lif.reset, ResetMode::Subtract);
    }

    #[test]
    fn missing_and_bad_params_name_the_node() {
        let opts = ImportOptions::default();
        let n = node("LI", vec![("tau", f(vec![], vec![1.0]))]);
        match parse(&n, "outer.li", &opts) {
            Err(Fail::Node { node, op, reason }) => {
                assert_eq!((node.as_str(), op.as_str()), ("outer.li", "LI"));
                assert!(reason.contains("`r`"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let d = node("Delay", vec![("delay", f(vec![2], vec![1.0, -1.0]))]);
        assert!(parse(&d, "d", &opts).is_err());
        let a = node(
            "Affine",
            vec![
                ("weight", f(vec![3], vec![1.0; 3])),
                ("bias", f(vec![], vec![0.0])),
            ],
        );
        assert!(parse(&a, "a", &opts).is_err());
    }

    #[test]
    fn pools_take_scalars_or_pairs() {
        let n = node(
            "AvgPool2d",
            vec![
                ("kernel_size", i(vec![], vec![2])),
                ("stride", i(vec![2], vec![2, 1])),
                ("padding", i(vec![2], vec![0, 1])),
            ],
        );
        let Prim::Pool(p) = parse(&n, "p", &ImportOptions::default()).unwrap() else {
            panic!("not a pool")
        };
        assert_eq!(p.kind, PoolKind::Avg);
        assert_eq!(p.kernel, vec![2, 2]);
        assert_eq!(p.stride, vec![2, 1]);
        assert_eq!(p.pads, vec![0, 1, 0, 1]);
        assert!(p.count_include_pad);
    }
}
