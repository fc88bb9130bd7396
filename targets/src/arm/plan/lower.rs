//! Verified IR graph → [`Plan`]: every node becomes a kernel (or an alias, for reshapes), every
//! float pre-computation the reference does per channel is done here once, in the same f32
//! operations, and values get arena offsets by liveness. Nodes with no kernel are collected and
//! reported together.

use snnc_ir::broadcast::index_map;
use snnc_ir::op::elementwise::Clip;
use snnc_ir::op::pool::PoolKind as IrPool;
use snnc_ir::op::{Conv, Gemm, IntLif, Pool, Requant, ResetMode};
use snnc_ir::{DType, Graph, GraphInfo, NodeId, Op, Tensor};

use super::arena::assign_offsets;
use super::encode::{encode, pack_bin_rows};
use super::{
    BinaryOp, Channels, F32Weights, Kernel, Place, Plan, PoolKind, Port, Reset, Value, ValueId,
    Window,
};
use crate::arm::ArmError;

/// The plan of `g` for the ARM targets (`target` names the target in errors).
pub fn lower(g: &Graph, info: &GraphInfo, target: &'static str) -> Result<Plan, ArmError> {
    let mut cx = Lowering {
        g,
        values: Vec::new(),
        kernels: Vec::new(),
        of_node: std::collections::BTreeMap::new(),
        unsupported: Vec::new(),
        state_bytes: 0,
    };
    for (src, dst, edge) in g.edges() {
        if edge.recurrent {
            let n = g.node(dst);
            cx.unsupported.push((
                n.name.clone(),
                n.op.name().to_string(),
                format!(
                    "recurrent input from `{}`: recurrent graphs have no ARM kernel yet",
                    g.node(src).name
                ),
            ));
        }
    }
    let mut outputs = Vec::new();
    let mut failed = std::collections::BTreeSet::new();
    for &id in &info.order {
        let node = g.node(id);
        match &node.op {
            Op::Const(_) => {}
            Op::Input { index } => {
                let v = cx.new_value(id, Place::Input(*index));
                cx.of_node.insert(id, v);
            }
            Op::Output { index } => outputs.push((*index, id)),
            _ => {
                // A node fed by one that already failed is not reported again.
                let fed_by_failure = g.operands(id).iter().any(|(src, _)| failed.contains(src));
                if fed_by_failure {
                    failed.insert(id);
                } else if let Err(reason) = cx.lower_node(id) {
                    failed.insert(id);
                    cx.unsupported
                        .push((node.name.clone(), node.op.name().to_string(), reason));
                }
            }
        }
    }
    if !cx.unsupported.is_empty() {
        return Err(ArmError::Unsupported {
            target,
            nodes: cx.unsupported,
        });
    }
    let inputs = g
        .inputs()
        .iter()
        .map(|&id| {
            let value = cx
                .of_node
                .get(&id)
                .copied()
                .ok_or_else(|| bug(target, id, g))?;
            Ok(Port {
                name: g.node(id).name.clone(),
                value,
            })
        })
        .collect::<Result<Vec<_>, ArmError>>()?;
    outputs.sort_by_key(|(index, _)| *index);
    let mut ports = Vec::new();
    for (index, id) in outputs {
        let src = g.operand(id, 0).ok_or_else(|| bug(target, id, g))?;
        let v = match cx.of_node.get(&src) {
            Some(&v) => v,
            None => cx
                .const_value(src)
                .map_err(|reason| ArmError::Unsupported {
                    target,
                    nodes: vec![(g.node(id).name.clone(), "output".into(), reason)],
                })?,
        };
        let already_port = ports.iter().any(|p: &Port| p.value == v);
        let out = if matches!(cx.values[v].place, Place::Arena(_)) && !already_port {
            cx.values[v].place = Place::Output(index);
            v
        } else {
            let y = cx.push_value(Value {
                place: Place::Output(index),
                ..cx.values[v].clone()
            });
            cx.kernels.push(Kernel::Copy { x: v, y });
            y
        };
        ports.push(Port {
            name: g.node(id).name.clone(),
            value: out,
        });
    }
    let arena_bytes = assign_offsets(&mut cx.values, &cx.kernels);
    Ok(Plan {
        name: g.name.clone(),
        stateful: info.stateful,
        values: cx.values,
        kernels: cx.kernels,
        inputs,
        outputs: ports,
        arena_bytes,
        state_bytes: cx.state_bytes,
    })
}

fn bug(target: &'static str, id: NodeId, g: &Graph) -> ArmError {
    ArmError::Codegen {
        target,
        reason: format!("node `{}` has no value (lowering bug)", g.node(id).name),
    }
}

struct Lowering<'g> {
    g: &'g Graph,
    values: Vec<Value>,
    kernels: Vec<Kernel>,
    of_node: std::collections::BTreeMap<NodeId, ValueId>,
    unsupported: Vec<(String, String, String)>,
    state_bytes: usize,
}

type Res<T> = Result<T, String>;

impl<'g> Lowering<'g> {
    fn push_value(&mut self, v: Value) -> ValueId {
        self.values.push(v);
        self.values.len() - 1
    }

    /// A value for node `id` of its type, at `place` (arena offsets come later).
    fn new_value(&mut self, id: NodeId, place: Place) -> ValueId {
        let n = self.g.node(id);
        let (dtype, shape) =
            n.ty.as_ref()
                .map_or((DType::F32, Vec::new()), |t| (t.dtype, t.shape.clone()));
        self.push_value(Value {
            name: n.name.clone(),
            dtype,
            shape,
            place,
        })
    }

    fn constant(&self, id: NodeId) -> Option<&'g Tensor> {
        match &self.g.node(id).op {
            Op::Const(t) => Some(t),
            _ => None,
        }
    }

    fn operand(&self, id: NodeId, slot: usize) -> Res<NodeId> {
        self.g
            .operand(id, slot)
            .ok_or_else(|| format!("input {slot} is missing"))
    }

    fn const_operand(&self, id: NodeId, slot: usize, what: &str) -> Res<&'g Tensor> {
        let src = self.operand(id, slot)?;
        self.constant(src).ok_or_else(|| {
            format!(
                "{what} (input {slot}, `{}`) must be a constant on this target",
                self.g.node(src).name
            )
        })
    }

    /// The value a constant node is read as when a kernel takes it like an activation.
    fn const_value(&mut self, id: NodeId) -> Res<ValueId> {
        let t = self
            .constant(id)
            .ok_or_else(|| format!("`{}` has no value", self.g.node(id).name))?;
        let bytes = encode(t)?;
        let v = self.push_value(Value {
            name: self.g.node(id).name.clone(),
            dtype: t.dtype(),
            shape: t.shape().to_vec(),
            place: Place::Const(bytes),
        });
        self.of_node.insert(id, v);
        Ok(v)
    }

    /// The shape operand `slot` has at this node (a reshape's shape, not its source's).
    fn in_shape(&self, id: NodeId, slot: usize) -> Res<Vec<usize>> {
        let src = self.operand(id, slot)?;
        Ok(self.g.ty(src).shape.clone())
    }

    /// The value of operand `slot` (a constant becomes a read-only value).
    fn input_value(&mut self, id: NodeId, slot: usize) -> Res<ValueId> {
        let src = self.operand(id, slot)?;
        match self.of_node.get(&src) {
            Some(&v) => Ok(v),
            None => self.const_value(src),
        }
    }

    /// Lower one node: push its kernel and record its value, or say why it cannot run.
    fn lower_node(&mut self, id: NodeId) -> Res<()> {
        let g = self.g;
        let node = g.node(id);
        let ty = node.ty.as_ref().ok_or("the node has no type")?;
        if matches!(node.op, Op::Reshape(_) | Op::Flatten(_)) {
            let x = self.input_value(id, 0)?;
            let xv = &self.values[x];
            if xv.dtype == DType::Bin && xv.shape.last() != ty.shape.last() {
                return Err(format!(
                    "reshape of a packed binary tensor {:?} → {:?} changes its last axis",
                    xv.shape, ty.shape
                ));
            }
            self.of_node.insert(id, x);
            return Ok(());
        }
        check_activation(ty.dtype, &ty.shape, "its result")?;
        let kernel = match &node.op {
            Op::QuantizeLinear(q) => self.quantize(id, q.axis)?,
            Op::DequantizeLinear(q) => self.dequantize(id, q.axis)?,
            Op::Gemm(gm) => self.dense(id, gm)?,
            Op::MatMul => self.dense(id, &Gemm::default())?,
            Op::Conv(c) => self.conv(id, c)?,
            Op::Pool(p) => self.pool(id, p)?,
            Op::Add => self.elementwise(id, BinaryOp::Add)?,
            Op::Mul => self.elementwise(id, BinaryOp::Mul)?,
            Op::Relu => self.clamp(id, Some(0.0), None)?,
            Op::Clip(Clip { min, max }) => {
                let keep = |b: &Option<f64>| b.filter(|v| !v.is_nan());
                self.clamp(id, keep(min), keep(max))?
            }
            Op::BatchNorm(bn) => self.batchnorm(id, bn.epsilon)?,
            Op::Requant(r) => self.requant(id, r)?,
            Op::BinThreshold(b) => {
                let x = self.int_input(id, 0)?;
                let shape = &self.in_shape(id, 0)?;
                let ch = channels(b.threshold.shape(), shape, b.axis)?;
                let last = shape.last().copied().unwrap_or(1);
                let flip = ints(&b.flip)?.iter().map(|&f| f != 0).collect();
                let threshold = ints(&b.threshold)?;
                let y = self.output(id);
                Kernel::BinThreshold {
                    x,
                    y,
                    threshold,
                    flip,
                    ch,
                    last,
                }
            }
            Op::IntLif(l) => self.int_lif(id, l)?,
            Op::Lif(_) | Op::CubaLif(_) | Op::If(_) | Op::Li(_) | Op::Integrator(_) => {
                return Err(
                    "float neuron: run `quantize-snn` first (the target's default pipeline does)"
                        .into(),
                )
            }
            Op::Quant(_) | Op::BipolarQuant | Op::Trunc(_) => {
                return Err("QONNX quantizer left in the graph: run `lower-qdq` first".into())
            }
            other => return Err(format!("`{}` has no kernel on this target", other.name())),
        };
        self.kernels.push(kernel);
        Ok(())
    }

    /// The value of operand `slot`, which must be a non-binary integer tensor of ≤ 32 bits.
    fn int_input(&mut self, id: NodeId, slot: usize) -> Res<ValueId> {
        let x = self.input_value(id, slot)?;
        let dt = self.values[x].dtype;
        if !is_small_int(dt) {
            return Err(format!(
                "input {slot} must be an integer tensor of at most 32 bits, got {dt}"
            ));
        }
        Ok(x)
    }

    fn output(&mut self, id: NodeId) -> ValueId {
        let y = self.new_value(id, Place::Arena(0));
        self.of_node.insert(id, y);
        y
    }

    fn quantize(&mut self, id: NodeId, axis: usize) -> Res<Kernel> {
        let x = self.input_value(id, 0)?;
        if self.values[x].dtype != DType::F32 {
            return Err("quantize_linear of a non-f32 input has no kernel".into());
        }
        let shape = self.in_shape(id, 0)?;
        let scale = floats(self.const_operand(id, 1, "the scale")?)?;
        let zp_tensor = match self.g.operand(id, 2) {
            Some(_) => Some(self.const_operand(id, 2, "the zero point")?),
            None => None,
        };
        let ch = qdq_channels(&scale, &shape, axis)?;
        let zero_point = zero_points(zp_tensor, ch.channels)?;
        let out = self.g.node(id).ty.as_ref().map_or(DType::F32, |t| t.dtype);
        let (lo, hi) = out
            .int_range()
            .ok_or("the output is not an integer tensor")?;
        let y = self.output(id);
        Ok(Kernel::Quantize {
            x,
            y,
            scale,
            zero_point,
            ch,
            lo: to_i32(lo)?,
            hi: to_i32(hi)?,
        })
    }

    fn dequantize(&mut self, id: NodeId, axis: usize) -> Res<Kernel> {
        let x = self.int_input(id, 0)?;
        let shape = self.in_shape(id, 0)?;
        let scale = floats(self.const_operand(id, 1, "the scale")?)?;
        let zp_tensor = match self.g.operand(id, 2) {
            Some(_) => Some(self.const_operand(id, 2, "the zero point")?),
            None => None,
        };
        let ch = qdq_channels(&scale, &shape, axis)?;
        let zero_point = zero_points(zp_tensor, ch.channels)?;
        let y = self.output(id);
        Ok(Kernel::Dequantize {
            x,
            y,
            scale,
            zero_point,
            ch,
        })
    }

    fn dense(&mut self, id: NodeId, gm: &Gemm) -> Res<Kernel> {
        let x = self.input_value(id, 0)?;
        let (xdt, xshape) = (self.values[x].dtype, self.in_shape(id, 0)?);
        let (rows, k) = match (xshape.as_slice(), gm.trans_a) {
            ([k], _) => (1, *k),
            ([m, k], false) => (*m, *k),
            _ => return Err("a transposed or higher-rank A has no kernel".into()),
        };
        let b = self.const_operand(id, 1, "the weight matrix B")?;
        let n = match (b.shape(), gm.trans_b) {
            ([n, kk], true) | ([kk, n], false) if *kk == k => *n,
            _ => {
                return Err(format!(
                    "weights of shape {:?} do not match K = {k}",
                    b.shape()
                ))
            }
        };
        // B as [n][k], row-major.
        let idx = |j: usize, kk: usize| if gm.trans_b { j * k + kk } else { kk * n + j };
        let out = self.g.node(id).ty.clone().ok_or("the node has no type")?;
        let c = match self.g.operand(id, 2) {
            Some(_) => Some(self.const_operand(id, 2, "the bias C")?),
            None => None,
        };
        // C broadcast onto [rows, n]: one value per column, the same on every row.
        let bias_map = match c {
            Some(c) => {
                let map = index_map(c.shape(), &out.shape).map_err(|e| e.to_string())?;
                let first: Vec<usize> = map.iter().take(n).copied().collect();
                if map.chunks(n.max(1)).any(|row| row != first.as_slice()) {
                    return Err("a bias that differs between rows has no kernel".into());
                }
                Some((c, first))
            }
            None => None,
        };
        if out.dtype == DType::F32 {
            if !matches!(xdt, DType::F32 | DType::Bool | DType::Bin) {
                return Err(format!("a float layer on a {xdt} input has no kernel"));
            }
            let bv = b.to_f32_vec();
            let dense: Vec<f32> = (0..n)
                .flat_map(|j| (0..k).map(move |kk| (j, kk)))
                .map(|(j, kk)| bv[idx(j, kk)])
                .collect();
            let w = sign_weights(&dense, n, k).unwrap_or(F32Weights::Dense(dense));
            let bias = match bias_map {
                Some((c, map)) if gm.beta != 0.0 => {
                    let cv = c.to_f32_vec();
                    Some(map.iter().map(|&ci| gm.beta * cv[ci]).collect())
                }
                _ => None,
            };
            let alpha = (gm.alpha != 1.0).then_some(gm.alpha);
            let y = self.output(id);
            return Ok(Kernel::DenseF32 {
                x,
                y,
                rows,
                k,
                n,
                w,
                alpha,
                bias,
            });
        }
        let bias = match bias_map {
            Some((c, map)) => {
                let cv = ints(c)?;
                Some(map.iter().map(|&ci| cv[ci] as i32).collect::<Vec<i32>>())
            }
            None => None,
        };
        let bv = ints(b)?;
        let w_rows = (0..n).flat_map(|j| (0..k).map(move |kk| (j, kk)));
        match (xdt, b.dtype()) {
            (DType::Bin, DType::Bin) => {
                let dense: Vec<i64> = w_rows.map(|(j, kk)| bv[idx(j, kk)]).collect();
                let w = pack_bin_rows(&dense, n, k);
                let y = self.output(id);
                Ok(Kernel::DenseBin {
                    x,
                    y,
                    rows,
                    k,
                    n,
                    w,
                    bias,
                })
            }
            (DType::Bin, _) => Err("a binary input with integer weights has no kernel".into()),
            (xdt, DType::Bin) if is_small_int(xdt) || xdt == DType::Bool => {
                let dense: Vec<i64> = w_rows.map(|(j, kk)| bv[idx(j, kk)]).collect();
                let w = pack_bin_rows(&dense, n, k);
                let y = self.output(id);
                Ok(Kernel::DenseBinW {
                    x,
                    y,
                    rows,
                    k,
                    n,
                    w,
                    bias,
                })
            }
            (xdt, bdt) if is_small_int(xdt) || xdt == DType::Bool => {
                let w_dtype = match bdt {
                    DType::I8 | DType::U8 | DType::I16 | DType::U16 | DType::I32 => bdt,
                    other => return Err(format!("{other} weights have no kernel")),
                };
                let w = w_rows.map(|(j, kk)| bv[idx(j, kk)] as i32).collect();
                let y = self.output(id);
                Ok(Kernel::DenseInt {
                    x,
                    y,
                    rows,
                    k,
                    n,
                    w_dtype,
                    w,
                    bias,
                })
            }
            (xdt, _) => Err(format!("an integer layer on a {xdt} input has no kernel")),
        }
    }

    fn conv(&mut self, id: NodeId, c: &Conv) -> Res<Kernel> {
        let x = self.input_value(id, 0)?;
        let (xdt, xshape) = (self.values[x].dtype, self.in_shape(id, 0)?);
        if !(is_small_int(xdt) || xdt == DType::Bool) {
            return Err(format!("convolution of a {xdt} input has no kernel"));
        }
        let out = self.g.node(id).ty.clone().ok_or("the node has no type")?;
        let w = self.const_operand(id, 1, "the kernel")?;
        let win = window(
            &xshape,
            &out.shape,
            w.shape().get(2..).unwrap_or(&[]),
            &c.stride,
            &c.dilation,
            &c.pads,
            c.groups,
        )?;
        let w_dtype = match w.dtype() {
            DType::Bin => DType::I8,
            d @ (DType::I8 | DType::U8 | DType::I16 | DType::U16 | DType::I32) => d,
            other => return Err(format!("{other} convolution weights have no kernel")),
        };
        let wv = ints(w)?.into_iter().map(|v| v as i32).collect();
        let bias = match self.g.operand(id, 2) {
            Some(_) => {
                let b = self.const_operand(id, 2, "the bias")?;
                Some(ints(b)?.into_iter().map(|v| v as i32).collect())
            }
            None => None,
        };
        let y = self.output(id);
        Ok(Kernel::Conv2dInt {
            x,
            y,
            win,
            w_dtype,
            w: wv,
            bias,
        })
    }

    fn pool(&mut self, id: NodeId, p: &Pool) -> Res<Kernel> {
        let x = self.input_value(id, 0)?;
        let (xdt, xshape) = (self.values[x].dtype, self.in_shape(id, 0)?);
        if !(is_small_int(xdt) || xdt == DType::F32) {
            return Err(format!("pooling of a {xdt} input has no kernel"));
        }
        let kind = match p.kind {
            IrPool::Max => PoolKind::Max,
            IrPool::Sum => PoolKind::Sum,
            IrPool::Avg => return Err("average pooling has no kernel (use sum pooling)".into()),
        };
        let out = self.g.node(id).ty.clone().ok_or("the node has no type")?;
        let win = window(
            &xshape,
            &out.shape,
            &p.kernel,
            &p.stride,
            &p.dilation,
            &p.pads,
            0,
        )?;
        let y = self.output(id);
        Ok(Kernel::Pool2d { x, y, win, kind })
    }

    fn elementwise(&mut self, id: NodeId, op: BinaryOp) -> Res<Kernel> {
        let a = self.input_value(id, 0)?;
        let b = self.input_value(id, 1)?;
        let out = self.g.node(id).ty.clone().ok_or("the node has no type")?;
        let (adt, bdt) = (self.values[a].dtype, self.values[b].dtype);
        let ok = |d: DType| {
            if out.dtype == DType::F32 {
                d == DType::F32
            } else {
                is_small_int(d) || d == DType::Bool
            }
        };
        if !ok(adt) || !ok(bdt) {
            return Err(format!(
                "{adt} and {bdt} operands giving {} have no kernel",
                out.dtype
            ));
        }
        if out.shape.len() > 4 {
            return Err(format!("rank {} exceeds 4", out.shape.len()));
        }
        let shape = pad4(&out.shape);
        let a_strides = strides4(&self.in_shape(id, 0)?, &out.shape);
        let b_strides = strides4(&self.in_shape(id, 1)?, &out.shape);
        let y = self.output(id);
        Ok(Kernel::Elementwise {
            op,
            a,
            b,
            y,
            shape,
            a_strides,
            b_strides,
        })
    }

    fn clamp(&mut self, id: NodeId, lo: Option<f64>, hi: Option<f64>) -> Res<Kernel> {
        let x = self.input_value(id, 0)?;
        let dt = self.values[x].dtype;
        let (lo, hi) = if dt == DType::F32 {
            let f = |b: Option<f64>, inf: f64| b.map_or(inf, |v| f64::from(v as f32));
            (f(lo, f64::NEG_INFINITY), f(hi, f64::INFINITY))
        } else if is_small_int(dt) {
            let (dlo, dhi) = dt.int_range().ok_or("not an integer type")?;
            let fit = |b: f64| b.clamp(dlo as f64, dhi as f64).trunc();
            (
                lo.map_or(dlo as f64, |b| fit(b.ceil())),
                hi.map_or(dhi as f64, |b| fit(b.floor())),
            )
        } else {
            return Err(format!("clamping a {dt} tensor has no kernel"));
        };
        let y = self.output(id);
        Ok(Kernel::Clamp { x, y, lo, hi })
    }

    fn batchnorm(&mut self, id: NodeId, epsilon: f32) -> Res<Kernel> {
        let x = self.input_value(id, 0)?;
        let shape = self.in_shape(id, 0)?;
        if self.values[x].dtype != DType::F32 || shape.len() < 2 {
            return Err("batch normalisation needs an f32 input of rank ≥ 2".into());
        }
        let p: Vec<Vec<f32>> = (1..5)
            .map(|slot| {
                self.const_operand(id, slot, "a batch-norm parameter")
                    .map(|t| t.to_f32_vec())
            })
            .collect::<Res<_>>()?;
        let c = shape[1];
        if p.iter().any(|v| v.len() != c) {
            return Err(format!("batch-norm parameters must have {c} entries"));
        }
        // Exactly the reference's per-channel pre-computation (op::elementwise::eval_batchnorm).
        let (scale, shift) = (0..c)
            .map(|ch| {
                let inv_std = 1.0f32 / (p[3][ch] + epsilon).sqrt();
                let s = p[0][ch] * inv_std;
                (s, p[1][ch] - p[2][ch] * s)
            })
            .unzip();
        let ch = Channels {
            channels: c,
            inner: shape[2..].iter().product(),
        };
        let y = self.output(id);
        Ok(Kernel::ScaleShift {
            x,
            y,
            scale,
            shift,
            ch,
        })
    }

    fn requant(&mut self, id: NodeId, r: &Requant) -> Res<Kernel> {
        let x = self.int_input(id, 0)?;
        if !is_small_int(r.out) {
            return Err(format!("requantization to {} has no kernel", r.out));
        }
        let shape = self.in_shape(id, 0)?;
        let ch = channels(r.multiplier.shape(), &shape, r.axis)?;
        let multiplier = ints(&r.multiplier)?;
        let shift = ints(&r.shift)?
            .into_iter()
            .map(|s| u32::try_from(s).map_err(|_| format!("shift {s} is negative")))
            .collect::<Res<_>>()?;
        let y = self.output(id);
        Ok(Kernel::Requant {
            x,
            y,
            multiplier,
            shift,
            zero_point: to_i32(r.zero_point)?,
            lo: to_i32(r.lo)?,
            hi: to_i32(r.hi)?,
            ch,
        })
    }

    fn int_lif(&mut self, id: NodeId, l: &IntLif) -> Res<Kernel> {
        let x = self.int_input(id, 0)?;
        let shape = self.in_shape(id, 0)?;
        let n: usize = shape.iter().product();
        let expand = |t: &Tensor| -> Res<Vec<i64>> {
            let v = ints(t)?;
            let map = index_map(t.shape(), &shape).map_err(|e| e.to_string())?;
            Ok(map.into_iter().map(|i| v[i]).collect())
        };
        let decay = expand(&l.decay)?;
        if let Some(d) = decay.iter().find(|d| d.unsigned_abs() >= 1 << 31) {
            return Err(format!("decay {d} needs more than 32 bits"));
        }
        let half = 1i64 << (l.state_bits.clamp(2, 32) - 1);
        let state = self.state_bytes;
        self.state_bytes += (n * 4).next_multiple_of(super::ALIGN);
        let kernel_params = (expand(&l.bias)?, expand(&l.threshold)?, expand(&l.v_reset)?);
        let y = self.output(id);
        Ok(Kernel::IntLif {
            x,
            y,
            n,
            state,
            decay,
            bias: kernel_params.0,
            threshold: kernel_params.1,
            v_reset: kernel_params.2,
            frac_bits: u32::from(l.frac_bits),
            lo: -half,
            hi: half - 1,
            reset: match l.reset {
                ResetMode::ToValue => Reset::ToValue,
                ResetMode::Subtract => Reset::Subtract,
            },
        })
    }
}

fn is_small_int(d: DType) -> bool {
    matches!(
        d,
        DType::I8 | DType::U8 | DType::I16 | DType::U16 | DType::I32
    )
}

/// Activations the kernels can store: everything but 64-bit and u32 integers.
fn check_activation(dt: DType, shape: &[usize], what: &str) -> Res<()> {
    if matches!(dt, DType::I64 | DType::U32) {
        return Err(format!(
            "{what} is {dt}{shape:?}: no ARM storage for that type"
        ));
    }
    Ok(())
}

fn ints(t: &Tensor) -> Res<Vec<i64>> {
    t.to_i64_vec().map_err(|e| e.to_string())
}

fn floats(t: &Tensor) -> Res<Vec<f32>> {
    if t.dtype() != DType::F32 {
        return Err(format!("a scale must be f32, got {}", t.dtype()));
    }
    Ok(t.to_f32_vec())
}

fn to_i32(v: i64) -> Res<i32> {
    i32::try_from(v).map_err(|_| format!("{v} does not fit 32 bits"))
}

/// Per-tensor or per-`axis` parameter layout, as `op::int`'s channel rule.
fn channels(param: &[usize], shape: &[usize], axis: usize) -> Res<Channels> {
    match param {
        [] => Ok(Channels::TENSOR),
        [c] if shape.get(axis) == Some(c) => Ok(Channels {
            channels: *c,
            inner: shape.get(axis + 1..).map_or(1, |s| s.iter().product()),
        }),
        _ => Err(format!(
            "parameter of shape {param:?} does not match axis {axis} of {shape:?}"
        )),
    }
}

/// QuantizeLinear/DequantizeLinear scale layout: one scale is per tensor.
fn qdq_channels(scale: &[f32], shape: &[usize], axis: usize) -> Res<Channels> {
    if scale.len() == 1 {
        return Ok(Channels::TENSOR);
    }
    channels(&[scale.len()], shape, axis)
}

fn zero_points(zp: Option<&Tensor>, channels: usize) -> Res<Vec<i32>> {
    let v = match zp {
        Some(t) => ints(t)?,
        None => vec![0],
    };
    let v: Vec<i32> = v.into_iter().map(to_i32).collect::<Res<_>>()?;
    match v.len() {
        1 => Ok(vec![v[0]; channels]),
        l if l == channels => Ok(v),
        l => Err(format!("{l} zero points for {channels} scales")),
    }
}

/// The geometry of a 1-D or 2-D window op whose input is `[N=1, C, ...]` or `[C, ...]`.
fn window(
    x: &[usize],
    y: &[usize],
    kernel: &[usize],
    stride: &[usize],
    dilation: &[usize],
    pads: &[usize],
    groups: usize,
) -> Res<Window> {
    let spatial = kernel.len();
    if !(1..=2).contains(&spatial) || x.len() < spatial + 1 || x.len() != y.len() {
        return Err(format!(
            "a {spatial}-D window over {x:?} has no kernel (1-D and 2-D only)"
        ));
    }
    let batch = x.len() - spatial - 1;
    if batch > 1 || x[..batch].iter().any(|&n| n != 1) {
        return Err(format!("a batch in {x:?} has no kernel (batch 1 only)"));
    }
    let dims = |s: &[usize]| -> (usize, usize, usize) {
        let c = s[batch];
        if spatial == 1 {
            (c, 1, s[batch + 1])
        } else {
            (c, s[batch + 1], s[batch + 2])
        }
    };
    let (c_in, h, w) = dims(x);
    let (c_out, out_h, out_w) = dims(y);
    let two = |v: &[usize], default: usize| -> [usize; 2] {
        if spatial == 1 {
            [default, v.first().copied().unwrap_or(default)]
        } else {
            [
                v.first().copied().unwrap_or(default),
                v.get(1).copied().unwrap_or(default),
            ]
        }
    };
    let (kh, kw) = if spatial == 1 {
        (1, kernel[0])
    } else {
        (kernel[0], kernel[1])
    };
    Ok(Window {
        c_in,
        h,
        w,
        c_out,
        out_h,
        out_w,
        kh,
        kw,
        stride: two(stride, 1),
        dilation: two(dilation, 1),
        pad: two(pads, 0),
        groups: groups.max(1),
    })
}

fn pad4(shape: &[usize]) -> [usize; 4] {
    let mut out = [1; 4];
    out[4 - shape.len()..].copy_from_slice(shape);
    out
}

/// Strides of `from` over the 4-D padded index space of `to` (0 on broadcast axes).
fn strides4(from: &[usize], to: &[usize]) -> [usize; 4] {
    let from = pad4(from);
    let to = pad4(to);
    let mut strides = [0; 4];
    let mut stride = 1;
    for axis in (0..4).rev() {
        if from[axis] == to[axis] && from[axis] != 1 {
            strides[axis] = stride;
        }
        stride *= from[axis];
    }
    strides
}

/// `±scale[j]` rows as packed signs (see [`F32Weights::Signs`]), when every weight of each row
/// has one finite, nonzero magnitude.
fn sign_weights(w: &[f32], n: usize, k: usize) -> Option<F32Weights> {
    if k == 0 {
        return None;
    }
    let mut scale = Vec::with_capacity(n);
    let mut signs = Vec::with_capacity(n * k);
    for row in w.chunks(k) {
        let s = row.first()?.abs();
        if !(s.is_finite() && s > 0.0) || row.iter().any(|v| v.abs().to_bits() != s.to_bits()) {
            return None;
        }
        scale.push(s);
        signs.extend(
            row.iter()
                .map(|v| if v.is_sign_negative() { -1 } else { 1 }),
        );
    }
    Some(F32Weights::Signs {
        bits: pack_bin_rows(&signs, n, k),
        scale,
    })
}
