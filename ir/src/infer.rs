//! Type inference: the type of a node's value from its op and its input types.
//!
//! The shape rules of each op family live next to the op (`op/<family>.rs`, functions named
//! `infer*` that return a plain reason on failure); this module dispatches to them, adds the node
//! context to errors, and holds the rules of the quantization and neuron ops plus the broadcasting
//! helpers every family shares.
//!
//! Element-type rules (also in `docs/semantics.md`):
//! - a float input anywhere makes an arithmetic result `f32`;
//! - integer products and sums ([`accum_dtype`]) are exact and then wrap to `i32` when every
//!   input has at most 16 bits, to `i64` otherwise;
//! - `Add`/`Mul` of two integer tensors keep the dtype when both are equal (and not `bool` or
//!   `bin`), else [`accum_dtype`] applies; results wrap to the output dtype;
//! - `bin` (±1) counts as a 1-bit integer, so binary products accumulate in `i32`; ops that
//!   could produce 0 (Relu, Delay) refuse it.

use crate::{DType, IrError, Op, TensorType};

/// The type `op` produces from `inputs` (`None` for a recurrent input whose type is not known
/// yet). `name` is only used in errors.
pub fn infer(op: &Op, name: &str, inputs: &[Option<&TensorType>]) -> Result<TensorType, IrError> {
    infer_reason(op, inputs).map_err(|reason| IrError::node(name, op.name(), reason))
}

fn infer_reason(op: &Op, inputs: &[Option<&TensorType>]) -> Result<TensorType, String> {
    use crate::op::{conv, elementwise, int, linear, pool, shape};
    let (lo, hi) = op.arity();
    if inputs.len() < lo || inputs.len() > hi {
        return Err(format!("takes {lo} to {hi} inputs, got {}", inputs.len()));
    }
    let req = |i: usize| required(inputs, i);
    let opt = |i: usize| optional(inputs, i);
    match op {
        Op::Input { .. } | Op::Const(_) => Err("input/const nodes carry their own type".into()),
        Op::Output { .. } => Ok(req(0)?.clone()),
        Op::Gemm(g) => linear::infer_gemm(g, req(0)?, req(1)?, opt(2)?),
        Op::MatMul => linear::infer_matmul(req(0)?, req(1)?),
        Op::Conv(c) => conv::infer(c, req(0)?, req(1)?, opt(2)?),
        Op::Pool(p) => pool::infer(p, req(0)?),
        Op::Flatten(f) => shape::infer_flatten(f, req(0)?),
        Op::Reshape(r) => shape::infer_reshape(r, req(0)?),
        Op::Add | Op::Mul => elementwise::infer_binary(
            inputs.first().copied().flatten(),
            inputs.get(1).copied().flatten(),
        ),
        Op::Relu => {
            let x = req(0)?;
            no_bin(x, "maps -1 to 0")?;
            Ok(x.clone())
        }
        Op::Clip(_) | Op::Sign => Ok(req(0)?.clone()),
        Op::BatchNorm(_) => {
            elementwise::infer_batchnorm(req(0)?, [req(1)?, req(2)?, req(3)?, req(4)?])
        }
        Op::Threshold(t) => elementwise::infer_threshold(t, req(0)?),
        Op::Quant(_) => {
            let x = req(0)?;
            param_broadcasts(x, 1, "scale", req(1)?)?;
            param_broadcasts(x, 2, "zeropt", req(2)?)?;
            scalar_param(3, "bitwidth", req(3)?)?;
            Ok(TensorType::f32(x.shape.clone()))
        }
        Op::BipolarQuant => {
            let x = req(0)?;
            param_broadcasts(x, 1, "scale", req(1)?)?;
            Ok(TensorType::f32(x.shape.clone()))
        }
        Op::Trunc(_) => {
            let x = req(0)?;
            param_broadcasts(x, 1, "scale", req(1)?)?;
            param_broadcasts(x, 2, "zeropt", req(2)?)?;
            scalar_param(3, "in_bitwidth", req(3)?)?;
            scalar_param(4, "out_bitwidth", req(4)?)?;
            Ok(TensorType::f32(x.shape.clone()))
        }
        Op::QuantizeLinear(q) => {
            let x = req(0)?;
            if q.out.is_float() || q.out == DType::Bin {
                return Err(format!(
                    "output type must be an integer type other than bin, got {}",
                    q.out
                ));
            }
            linear_qparams(x, q.axis, req(1)?, opt(2)?)?;
            Ok(TensorType::new(q.out, x.shape.clone()))
        }
        Op::DequantizeLinear(q) => {
            let x = req(0)?;
            linear_qparams(x, q.axis, req(1)?, opt(2)?)?;
            Ok(TensorType::f32(x.shape.clone()))
        }
        Op::Lif(n) => neuron(
            req(0)?,
            &[
                ("tau", &n.tau),
                ("r", &n.r),
                ("v_leak", &n.v_leak),
                ("v_threshold", &n.v_threshold),
                ("v_reset", &n.v_reset),
            ],
        ),
        Op::CubaLif(n) => neuron(
            req(0)?,
            &[
                ("tau_syn", &n.tau_syn),
                ("tau_mem", &n.tau_mem),
                ("r", &n.r),
                ("v_leak", &n.v_leak),
                ("v_threshold", &n.v_threshold),
                ("v_reset", &n.v_reset),
                ("w_in", &n.w_in),
            ],
        ),
        Op::If(n) => neuron(
            req(0)?,
            &[
                ("r", &n.r),
                ("v_threshold", &n.v_threshold),
                ("v_reset", &n.v_reset),
            ],
        ),
        Op::Li(n) => neuron(
            req(0)?,
            &[("tau", &n.tau), ("r", &n.r), ("v_leak", &n.v_leak)],
        ),
        Op::Integrator(n) => neuron(req(0)?, &[("r", &n.r)]),
        Op::Delay(d) => {
            // A delay only moves values in time: the type (integers included) is unchanged.
            let x = req(0)?;
            no_bin(x, "emits 0 before the first value arrives")?;
            neuron(x, &[("delay", &d.delay)])?;
            Ok(x.clone())
        }
        Op::Requant(r) => int::infer_requant(r, req(0)?),
        Op::BinThreshold(b) => int::infer_bin_threshold(b, req(0)?),
        Op::IntLif(l) => int::infer_int_lif(l, req(0)?),
    }
}

/// Ops whose result may be 0 cannot keep a ±1 ([`DType::Bin`]) type: the input must be
/// converted first (Add with an `i32` zero, say).
fn no_bin(x: &TensorType, why: &str) -> Result<(), String> {
    if x.dtype == DType::Bin {
        Err(format!(
            "input 0 is bin (±1), which this op cannot keep: it {why}"
        ))
    } else {
        Ok(())
    }
}

/// The type of required input `i`, or why it is missing.
fn required<'a>(inputs: &[Option<&'a TensorType>], i: usize) -> Result<&'a TensorType, String> {
    match inputs.get(i) {
        Some(Some(t)) => Ok(t),
        Some(None) => Err(format!("the type of input {i} is not known yet")),
        None => Err(format!("input {i} is missing")),
    }
}

/// The type of optional input `i`: absent is fine, present but untyped is not.
fn optional<'a>(
    inputs: &[Option<&'a TensorType>],
    i: usize,
) -> Result<Option<&'a TensorType>, String> {
    match inputs.get(i) {
        Some(Some(t)) => Ok(Some(t)),
        Some(None) => Err(format!("the type of input {i} is not known yet")),
        None => Ok(None),
    }
}

/// A neuron: output has the input's shape in f32; each parameter must broadcast to it.
fn neuron(x: &TensorType, params: &[(&str, &crate::Tensor)]) -> Result<TensorType, String> {
    for (pname, p) in params {
        if !broadcasts_to(p.shape(), &x.shape) {
            return Err(format!(
                "parameter `{pname}` has shape {}, which does not broadcast to the input shape {}",
                fmt_shape(p.shape()),
                fmt_shape(&x.shape)
            ));
        }
    }
    Ok(TensorType::f32(x.shape.clone()))
}

/// A per-element parameter input (`slot`) must broadcast to `x`.
fn param_broadcasts(
    x: &TensorType,
    slot: usize,
    pname: &str,
    p: &TensorType,
) -> Result<(), String> {
    if broadcasts_to(&p.shape, &x.shape) {
        Ok(())
    } else {
        Err(format!(
            "input {slot} ({pname}) has shape {}, which does not broadcast to x's shape {}",
            fmt_shape(&p.shape),
            fmt_shape(&x.shape)
        ))
    }
}

/// A parameter input that must hold exactly one value.
fn scalar_param(slot: usize, pname: &str, p: &TensorType) -> Result<(), String> {
    if p.numel() == 1 {
        Ok(())
    } else {
        Err(format!(
            "input {slot} ({pname}) has shape {}, expected a single value",
            fmt_shape(&p.shape)
        ))
    }
}

/// ONNX QuantizeLinear / DequantizeLinear scale and zero point: a scalar (per tensor) or a 1-D
/// tensor of length `x.shape[axis]` (per axis); the zero point has the scale's shape.
fn linear_qparams(
    x: &TensorType,
    axis: usize,
    scale: &TensorType,
    zp: Option<&TensorType>,
) -> Result<(), String> {
    let ok = |s: &[usize]| match s {
        [] | [1] => true,
        [n] => x.shape.get(axis) == Some(n),
        _ => false,
    };
    if !ok(&scale.shape) {
        return Err(format!(
            "input 1 (scale) has shape {}, expected [] or [{}] (x has shape {}, axis {axis})",
            fmt_shape(&scale.shape),
            x.shape.get(axis).map_or("?".to_string(), |d| d.to_string()),
            fmt_shape(&x.shape)
        ));
    }
    if let Some(zp) = zp {
        if zp.numel() != scale.numel() || zp.rank() > 1 {
            return Err(format!(
                "input 2 (zero_point) has shape {}, expected the scale's shape {}",
                fmt_shape(&zp.shape),
                fmt_shape(&scale.shape)
            ));
        }
    }
    Ok(())
}

/// `[3,4]`: how shapes appear in messages (and in the text form).
pub fn fmt_shape(s: &[usize]) -> String {
    let inner: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", inner.join(","))
}

/// Bits of an integer dtype's range (`bool` counts as 1).
fn int_bits(d: DType) -> u32 {
    match d {
        DType::Bool | DType::Bin => 1,
        DType::I8 | DType::U8 => 8,
        DType::I16 | DType::U16 => 16,
        DType::I32 | DType::U32 => 32,
        DType::F32 | DType::I64 => 64,
    }
}

/// The dtype of an exact integer sum of products of `dtypes`: `i32` when all have at most 16
/// bits (int8/int16 kernels accumulate in 32 bits), `i64` otherwise; `f32` if any is a float.
pub fn accum_dtype(dtypes: &[DType]) -> DType {
    if dtypes.iter().any(|d| d.is_float()) {
        DType::F32
    } else if dtypes.iter().all(|d| int_bits(*d) <= 16) {
        DType::I32
    } else {
        DType::I64
    }
}

/// The accumulator of a product of `operands` plus an optional `bias`: as [`accum_dtype`] for
/// the operands, except that a bias of at most 32 bits does not widen an `i32` accumulator
/// (int8 kernels add an int32 bias into an int32 accumulator, as QLinearConv and CMSIS-NN do).
pub fn accum_dtype_with_bias(operands: &[DType], bias: Option<DType>) -> DType {
    match bias {
        Some(b) if b.is_float() => DType::F32,
        Some(b) if int_bits(b) > 32 => {
            let mut all = operands.to_vec();
            all.push(b);
            accum_dtype(&all)
        }
        _ => accum_dtype(operands),
    }
}

pub use crate::broadcast::{broadcast_shapes, broadcasts_to};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{CubaLif, Delay, DequantizeLinear, Lif, QuantizeLinear, ResetMode};
    use crate::Tensor;

    fn t(dtype: DType, shape: &[usize]) -> TensorType {
        TensorType::new(dtype, shape.to_vec())
    }

    fn reason(e: IrError) -> String {
        match e {
            IrError::Node { reason, .. } => reason,
            other => panic!("not a node error: {other}"),
        }
    }

    #[test]
    fn accumulator_types() {
        assert_eq!(accum_dtype(&[DType::I8, DType::I8]), DType::I32);
        assert_eq!(accum_dtype(&[DType::I8, DType::I32]), DType::I64);
        assert_eq!(accum_dtype(&[DType::I8, DType::F32]), DType::F32);
        let int8 = [DType::I8, DType::I8];
        assert_eq!(accum_dtype_with_bias(&int8, Some(DType::I32)), DType::I32);
        assert_eq!(accum_dtype_with_bias(&int8, Some(DType::I64)), DType::I64);
        assert_eq!(accum_dtype_with_bias(&int8, Some(DType::F32)), DType::F32);
        assert_eq!(
            accum_dtype_with_bias(&[DType::I32, DType::I8], None),
            DType::I64
        );
    }

    #[test]
    fn input_and_output() {
        let x = t(DType::I8, &[2, 3]);
        let e = infer(&Op::Input { index: 0 }, "in", &[]).unwrap_err();
        assert_eq!(reason(e), "input/const nodes carry their own type");
        assert_eq!(
            infer(&Op::Output { index: 0 }, "o", &[Some(&x)]).unwrap(),
            x
        );
        let e = infer(&Op::Output { index: 0 }, "o", &[None]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "node `o` (output): the type of input 0 is not known yet"
        );
    }

    #[test]
    fn quant_family() {
        let x = t(DType::F32, &[1, 4, 3]);
        let s = t(DType::F32, &[4, 1]);
        let one = t(DType::F32, &[]);
        let q = Op::Quant(crate::op::Quant {
            signed: true,
            narrow: false,
            rounding: crate::op::RoundingMode::HalfEven,
        });
        let y = infer(&q, "q", &[Some(&x), Some(&s), Some(&one), Some(&one)]).unwrap();
        assert_eq!(y, t(DType::F32, &[1, 4, 3]));
        let bad = t(DType::F32, &[3, 1]);
        let e = infer(&q, "q", &[Some(&x), Some(&bad), Some(&one), Some(&one)]).unwrap_err();
        assert!(reason(e).contains("input 1 (scale) has shape [3,1]"));
        let e = infer(&q, "q", &[Some(&x), Some(&one), Some(&one), Some(&s)]).unwrap_err();
        assert!(reason(e).contains("bitwidth"));

        let ql = Op::QuantizeLinear(QuantizeLinear {
            axis: 1,
            out: DType::I8,
        });
        let per_ch = t(DType::F32, &[4]);
        let zp = t(DType::I8, &[4]);
        let y = infer(&ql, "ql", &[Some(&x), Some(&per_ch), Some(&zp)]).unwrap();
        assert_eq!(y, t(DType::I8, &[1, 4, 3]));
        let wrong = t(DType::F32, &[3]);
        assert!(infer(&ql, "ql", &[Some(&x), Some(&wrong)]).is_err());
        let zp_wrong = t(DType::I8, &[2]);
        assert!(infer(&ql, "ql", &[Some(&x), Some(&per_ch), Some(&zp_wrong)]).is_err());
        let dq = Op::DequantizeLinear(DequantizeLinear { axis: 0 });
        let xi = t(DType::I8, &[5]);
        let y = infer(&dq, "dq", &[Some(&xi), Some(&one)]).unwrap();
        assert_eq!(y, t(DType::F32, &[5]));
    }

    #[test]
    fn neurons_broadcast_parameters() {
        let s = |v: f32| Tensor::scalar_f32(v);
        let lif = Op::Lif(Lif {
            tau: Tensor::full_f32(vec![3], 0.01),
            r: s(1.0),
            v_leak: s(0.0),
            v_threshold: s(1.0),
            v_reset: s(0.0),
            reset: ResetMode::ToValue,
        });
        let x = t(DType::I8, &[2, 3]);
        assert_eq!(
            infer(&lif, "l", &[Some(&x)]).unwrap(),
            t(DType::F32, &[2, 3])
        );
        let cuba = Op::CubaLif(CubaLif {
            tau_syn: s(0.1),
            tau_mem: s(0.1),
            r: s(1.0),
            v_leak: s(0.0),
            v_threshold: s(1.0),
            v_reset: s(0.0),
            w_in: Tensor::full_f32(vec![4], 1.0),
            reset: ResetMode::ToValue,
        });
        let e = infer(&cuba, "c", &[Some(&x)]).unwrap_err();
        assert_eq!(
            reason(e),
            "parameter `w_in` has shape [4], which does not broadcast to the input shape [2,3]"
        );
        let d = Op::Delay(Delay {
            delay: Tensor::full_f32(vec![2, 1], 0.0),
        });
        assert_eq!(infer(&d, "d", &[Some(&x)]).unwrap(), t(DType::I8, &[2, 3]));
    }

    #[test]
    fn binary_values_accumulate_in_i32() {
        let bin = t(DType::Bin, &[2, 4]);
        let wb = t(DType::Bin, &[4, 3]);
        let gemm = Op::Gemm(crate::op::Gemm::default());
        assert_eq!(
            infer(&gemm, "g", &[Some(&bin), Some(&wb)]).unwrap(),
            t(DType::I32, &[2, 3])
        );
        assert_eq!(
            infer(&Op::MatMul, "m", &[Some(&bin), Some(&wb)]).unwrap(),
            t(DType::I32, &[2, 3])
        );
        let conv = Op::Conv(crate::op::Conv {
            stride: vec![1],
            pads: vec![0, 0],
            dilation: vec![1],
            groups: 1,
        });
        let x = t(DType::Bin, &[1, 2, 5]);
        let w = t(DType::Bin, &[3, 2, 3]);
        assert_eq!(
            infer(&conv, "c", &[Some(&x), Some(&w)]).unwrap(),
            t(DType::I32, &[1, 3, 3])
        );
        for op in [Op::Add, Op::Mul] {
            assert_eq!(
                infer(&op, "a", &[Some(&bin), Some(&bin)]).unwrap(),
                t(DType::I32, &[2, 4])
            );
        }
        let i8x = t(DType::I8, &[2, 4]);
        assert_eq!(
            infer(&Op::Add, "a", &[Some(&bin), Some(&i8x)]).unwrap(),
            t(DType::I32, &[2, 4])
        );
        // Ops that would produce 0 cannot keep the ±1 type.
        let e = infer(&Op::Relu, "r", &[Some(&bin)]).unwrap_err();
        assert_eq!(
            reason(e),
            "input 0 is bin (±1), which this op cannot keep: it maps -1 to 0"
        );
        let d = Op::Delay(Delay {
            delay: Tensor::scalar_f32(0.0),
        });
        assert!(infer(&d, "d", &[Some(&bin)]).is_err());
        assert_eq!(infer(&Op::Sign, "s", &[Some(&bin)]).unwrap(), bin);
        let ql = Op::QuantizeLinear(QuantizeLinear {
            axis: 0,
            out: DType::Bin,
        });
        let f = t(DType::F32, &[2]);
        let one = t(DType::F32, &[]);
        assert!(infer(&ql, "q", &[Some(&f), Some(&one)]).is_err());
    }

    #[test]
    fn integer_ops() {
        use crate::op::{BinThreshold, IntLif, Requant};
        let i64t = |shape: &[usize], v: &[i64]| {
            Tensor::from_i64(DType::I64, shape.to_vec(), v.to_vec()).unwrap()
        };
        let acc = t(DType::I32, &[1, 3, 2]);
        let rq = Op::Requant(Requant {
            multiplier: i64t(&[3], &[1, 2, 3]),
            shift: i64t(&[3], &[0, 1, 2]),
            zero_point: 0,
            axis: 1,
            out: DType::U8,
            lo: 0,
            hi: 255,
        });
        assert_eq!(
            infer(&rq, "rq", &[Some(&acc)]).unwrap(),
            t(DType::U8, &[1, 3, 2])
        );
        let e = infer(&rq, "rq", &[Some(&t(DType::I32, &[1, 2, 3]))]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "node `rq` (requant): per-channel `multiplier` has shape [3] but input dimension 1 of [1,2,3] is 2"
        );
        let bt = Op::BinThreshold(BinThreshold {
            threshold: i64t(&[], &[3]),
            flip: i64t(&[], &[0]),
            axis: 0,
        });
        assert_eq!(
            infer(&bt, "b", &[Some(&acc)]).unwrap(),
            t(DType::Bin, &[1, 3, 2])
        );
        let e = infer(&bt, "b", &[Some(&t(DType::F32, &[2]))]).unwrap_err();
        assert_eq!(
            reason(e),
            "input 0 (x) must be an integer tensor, got f32[2]"
        );
        let lif = Op::IntLif(IntLif {
            decay: i64t(&[2], &[200, 250]),
            frac_bits: 8,
            bias: i64t(&[], &[0]),
            threshold: i64t(&[], &[64]),
            v_reset: i64t(&[], &[0]),
            reset: ResetMode::Subtract,
            state_bits: 16,
        });
        assert_eq!(
            infer(&lif, "l", &[Some(&acc)]).unwrap(),
            t(DType::Bool, &[1, 3, 2])
        );
        let e = infer(&lif, "l", &[Some(&t(DType::I32, &[3]))]).unwrap_err();
        assert!(reason(e).contains("`decay` has shape [2]"));
    }
}
