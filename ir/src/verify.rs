//! The verifier: proves the invariants stated in the crate docs.
//!
//! Passes and backends take a [`GraphInfo`], which only [`verify`] produces, so nothing
//! downstream runs on a graph whose structure it would have to second-guess. Checks run in a
//! fixed order (names, operand slots, graph inputs and outputs, cycles, values, types) and nodes
//! are visited in id order, so the same broken graph always gives the same first error.

use std::collections::BTreeMap;

use crate::text::type_to_string;
use crate::{infer, DType, Graph, IrError, Node, NodeId, Op, Tensor};

/// What verification proved, handed to every consumer that needs a verified graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphInfo {
    /// A deterministic topological order (recurrent edges ignored).
    pub order: Vec<NodeId>,
    /// The graph keeps state across time steps: some op is stateful
    /// ([`Op::is_stateful`]) or some edge is recurrent. A stateless graph gives the same output
    /// for the same input at every step.
    pub stateful: bool,
}

/// Check every invariant listed in the crate docs:
/// - node names are non-empty and unique (they are how users find nodes in errors);
/// - every input slot an op requires is connected exactly once, slots are dense `0..n` and no
///   slot lies beyond [`Op::arity`]; graph outputs have no users;
/// - graph inputs and outputs are numbered densely from 0, [`Graph::inputs`] and
///   [`Graph::outputs`] list them in index order, and there is at least one output;
/// - the graph without its recurrent edges is acyclic (the error names a node on the cycle);
/// - constants and tensor attributes are finite, scalar attributes are well formed, and
///   quantization parameters are consistent with their type;
/// - every node has a type, equal to what [`infer::infer`] computes from its inputs (graph inputs
///   are declared; a constant's type has its tensor's dtype and shape).
pub fn verify(g: &Graph) -> Result<GraphInfo, IrError> {
    let ids = g.node_ids();
    check_names(g, &ids)?;
    for &id in &ids {
        check_operands(g, id)?;
    }
    check_io(g, &ids, Io::Input)?;
    check_io(g, &ids, Io::Output)?;
    let order = g.topo_order()?;
    for &id in &ids {
        check_values(g.node(id))?;
    }
    check_types(g, &ids, &order)?;
    let stateful = ids.iter().any(|id| g.node(*id).op.is_stateful())
        || g.edges().iter().any(|(_, _, e)| e.recurrent);
    Ok(GraphInfo { order, stateful })
}

fn node_error(n: &Node, reason: impl Into<String>) -> IrError {
    IrError::node(&n.name, n.op.name(), reason)
}

fn check_names(g: &Graph, ids: &[NodeId]) -> Result<(), IrError> {
    let mut seen: BTreeMap<&str, NodeId> = BTreeMap::new();
    for &id in ids {
        let n = g.node(id);
        if n.name.is_empty() {
            return Err(IrError::node(
                format!("<unnamed {id}>"),
                n.op.name(),
                "has an empty name; every node needs a unique name",
            ));
        }
        if let Some(first) = seen.insert(&n.name, id) {
            return Err(node_error(
                n,
                format!(
                    "the name is also used by another node ({}); names must be unique",
                    g.node(first).op.name()
                ),
            ));
        }
    }
    Ok(())
}

fn check_operands(g: &Graph, id: NodeId) -> Result<(), IrError> {
    let n = g.node(id);
    let ops = g.operands(id);
    let (lo, hi) = n.op.arity();
    let mut prev: Option<usize> = None;
    for (i, (src, e)) in ops.iter().enumerate() {
        let src_bin = g.get(*src).and_then(|s| s.ty.as_ref()).map(|t| t.dtype) == Some(DType::Bin);
        if e.recurrent && src_bin {
            // A recurrent edge delivers zeros at t = 0, and ±1 values have no zero.
            return Err(node_error(
                n,
                format!("recurrent input slot {} carries bin (±1) values, which have no zero for the first step", e.slot),
            ));
        }
        if hi == 0 {
            return Err(node_error(
                n,
                format!("takes no inputs, but input slot {} is connected", e.slot),
            ));
        }
        if e.slot >= hi {
            return Err(node_error(
                n,
                format!(
                    "input slot {} is connected, but the op takes at most {hi} inputs",
                    e.slot
                ),
            ));
        }
        if prev == Some(e.slot) {
            return Err(node_error(
                n,
                format!("input slot {} is connected more than once", e.slot),
            ));
        }
        if e.slot != i {
            return Err(node_error(
                n,
                format!("input slot {i} is not connected, but slot {} is", e.slot),
            ));
        }
        prev = Some(e.slot);
    }
    if ops.len() < lo {
        return Err(node_error(
            n,
            format!(
                "input slot {} is not connected; the op needs {lo} inputs",
                ops.len()
            ),
        ));
    }
    if let Op::Output { index } = n.op {
        if let Some((user, _)) = g.users(id).first() {
            return Err(node_error(
                n,
                format!(
                    "graph output {index} is read by `{}`; outputs have no users",
                    g.node(*user).name
                ),
            ));
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Io {
    Input,
    Output,
}

fn check_io(g: &Graph, ids: &[NodeId], io: Io) -> Result<(), IrError> {
    let (list, kind) = match io {
        Io::Input => (g.inputs(), "input"),
        Io::Output => (g.outputs(), "output"),
    };
    let mut found: Vec<(usize, NodeId)> = ids
        .iter()
        .filter_map(|id| match (&g.node(*id).op, io) {
            (Op::Input { index }, Io::Input) | (Op::Output { index }, Io::Output) => {
                Some((*index, *id))
            }
            _ => None,
        })
        .collect();
    found.sort();
    for (i, (index, id)) in found.iter().enumerate() {
        if *index == i {
            continue;
        }
        let n = g.node(*id);
        let dup = i > 0 && found.get(i - 1).is_some_and(|(p, _)| p == index);
        return Err(node_error(
            n,
            if dup {
                format!("graph {kind} index {index} is used by more than one node")
            } else {
                format!("graph {kind}s must be numbered 0, 1, ...: index {i} is missing and this node has {index}")
            },
        ));
    }
    let len = list.len().max(found.len());
    for i in 0..len {
        let listed = list.get(i).copied();
        let actual = found.get(i).map(|(_, id)| *id);
        if listed == actual {
            continue;
        }
        return Err(match (actual, listed.and_then(|l| g.get(l))) {
            (Some(a), _) => node_error(
                g.node(a),
                format!("is graph {kind} {i}, but the graph's {kind} list does not hold it there"),
            ),
            (None, Some(l)) => node_error(
                l,
                format!("is listed as graph {kind} {i}, but it is not a graph {kind} node"),
            ),
            (None, None) => IrError::Graph(format!(
                "the graph's {kind} list names a node that is not in the graph"
            )),
        });
    }
    if io == Io::Output && found.is_empty() {
        return Err(IrError::Graph("the graph has no outputs".to_string()));
    }
    Ok(())
}

/// The tensors an op holds: a constant's data (`None`) and its tensor attributes (by name).
pub(crate) fn op_tensors(op: &Op) -> Vec<(Option<&'static str>, &Tensor)> {
    match op {
        Op::Const(t) => vec![(None, t)],
        Op::Threshold(t) => vec![(Some("threshold"), &t.threshold)],
        Op::Lif(l) => vec![
            (Some("tau"), &l.tau),
            (Some("r"), &l.r),
            (Some("v_leak"), &l.v_leak),
            (Some("v_threshold"), &l.v_threshold),
            (Some("v_reset"), &l.v_reset),
        ],
        Op::CubaLif(c) => vec![
            (Some("tau_syn"), &c.tau_syn),
            (Some("tau_mem"), &c.tau_mem),
            (Some("r"), &c.r),
            (Some("v_leak"), &c.v_leak),
            (Some("v_threshold"), &c.v_threshold),
            (Some("v_reset"), &c.v_reset),
            (Some("w_in"), &c.w_in),
        ],
        Op::If(n) => vec![
            (Some("r"), &n.r),
            (Some("v_threshold"), &n.v_threshold),
            (Some("v_reset"), &n.v_reset),
        ],
        Op::Li(l) => vec![
            (Some("tau"), &l.tau),
            (Some("r"), &l.r),
            (Some("v_leak"), &l.v_leak),
        ],
        Op::Integrator(i) => vec![(Some("r"), &i.r)],
        Op::Delay(d) => vec![(Some("delay"), &d.delay)],
        Op::Requant(r) => vec![
            (Some("multiplier"), &r.multiplier),
            (Some("shift"), &r.shift),
        ],
        Op::BinThreshold(b) => vec![(Some("threshold"), &b.threshold), (Some("flip"), &b.flip)],
        Op::IntLif(l) => crate::op::int::int_lif_params(l)
            .into_iter()
            .map(|(k, t)| (Some(k), t))
            .collect(),
        Op::Input { .. }
        | Op::Output { .. }
        | Op::Gemm(_)
        | Op::MatMul
        | Op::Conv(_)
        | Op::Pool(_)
        | Op::Flatten(_)
        | Op::Reshape(_)
        | Op::Add
        | Op::Mul
        | Op::Relu
        | Op::Clip(_)
        | Op::BatchNorm(_)
        | Op::Sign
        | Op::Quant(_)
        | Op::BipolarQuant
        | Op::Trunc(_)
        | Op::QuantizeLinear(_)
        | Op::DequantizeLinear(_) => vec![],
    }
}

fn non_finite(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "inf"
    } else {
        "-inf"
    }
}

/// Finite constants and attributes, and quantization parameters that fit their type.
fn check_values(n: &Node) -> Result<(), IrError> {
    for (attr, t) in op_tensors(&n.op) {
        if let Some(i) = t.first_non_finite() {
            let what = non_finite(t.get_f64(i));
            return Err(node_error(
                n,
                match attr {
                    None => format!("contains {what} at index {i}"),
                    Some(a) => format!("attribute `{a}` contains {what} at index {i}"),
                },
            ));
        }
    }
    let finite: Vec<(&str, f32)> = match &n.op {
        Op::Gemm(g) => vec![("alpha", g.alpha), ("beta", g.beta)],
        Op::BatchNorm(b) => vec![("epsilon", b.epsilon)],
        _ => vec![],
    };
    for (a, v) in finite {
        if !v.is_finite() {
            return Err(node_error(
                n,
                format!("attribute `{a}` is {}", non_finite(f64::from(v))),
            ));
        }
    }
    if let Op::BatchNorm(b) = &n.op {
        if b.epsilon < 0.0 {
            return Err(node_error(n, "attribute `epsilon` is negative"));
        }
    }
    crate::op::int::check_attrs(&n.op).map_err(|reason| node_error(n, reason))?;
    if let Op::Clip(c) = &n.op {
        for (a, v) in [("min", c.min), ("max", c.max)] {
            if v.is_some_and(f64::is_nan) {
                return Err(node_error(n, format!("attribute `{a}` is NaN")));
            }
        }
    }
    if let Some(ty) = &n.ty {
        if let Some(q) = &ty.quant {
            check_quant(n, q, &ty.shape)?;
        }
    }
    Ok(())
}

fn check_quant(n: &Node, q: &crate::QuantParams, shape: &[usize]) -> Result<(), IrError> {
    let bad = |reason: String| Err(node_error(n, format!("quantization: {reason}")));
    if let Some(i) = q.scale.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
        return bad(format!(
            "scale {} at index {i} is not a positive finite number",
            q.scale.get(i).copied().unwrap_or_default()
        ));
    }
    if q.zero_point.len() != q.scale.len() {
        return bad(format!(
            "{} scales but {} zero points",
            q.scale.len(),
            q.zero_point.len()
        ));
    }
    let want = match q.axis {
        None => 1,
        Some(a) => match shape.get(a) {
            Some(d) => *d,
            None => return bad(format!("axis {a} is out of range for rank {}", shape.len())),
        },
    };
    if q.scale.len() != want {
        return bad(format!(
            "{} scales given, {want} needed ({})",
            q.scale.len(),
            match q.axis {
                None => "per tensor".to_string(),
                Some(a) => format!("one per index of axis {a}"),
            }
        ));
    }
    if q.bits == 0 || q.bits > 64 {
        return bad(format!("bit width {} is not in 1..=64", q.bits));
    }
    let (lo, hi) = q.range();
    if let Some(z) = q.zero_point.iter().find(|z| **z < lo || **z > hi) {
        return bad(format!("zero point {z} is outside the range {lo}..={hi}"));
    }
    Ok(())
}

fn check_types(g: &Graph, ids: &[NodeId], order: &[NodeId]) -> Result<(), IrError> {
    if let Some(n) = ids.iter().map(|id| g.node(*id)).find(|n| n.ty.is_none()) {
        return Err(node_error(n, "has no type"));
    }
    for &id in order {
        let n = g.node(id);
        let Some(ty) = &n.ty else { continue };
        // Every later size computation may multiply the dimensions out.
        if ty
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .is_none()
        {
            return Err(node_error(
                n,
                format!(
                    "type {} has more elements than this machine can index",
                    type_to_string(ty)
                ),
            ));
        }
        match &n.op {
            Op::Input { .. } => {}
            Op::Const(t) => {
                if ty.dtype != t.dtype() || ty.shape != t.shape() {
                    let data = crate::TensorType::new(t.dtype(), t.shape().to_vec());
                    return Err(node_error(
                        n,
                        format!(
                            "has type {} but its data is {}",
                            type_to_string(ty),
                            type_to_string(&data)
                        ),
                    ));
                }
            }
            op => {
                let operands = g.operands(id);
                let tys: Vec<_> = operands
                    .iter()
                    .map(|(src, _)| g.node(*src).ty.as_ref())
                    .collect();
                let want = infer::infer(op, &n.name, &tys)?;
                if want != *ty {
                    return Err(node_error(
                        n,
                        format!(
                            "has type {} but its inputs give {}",
                            type_to_string(ty),
                            type_to_string(&want)
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{Gemm, Lif, ResetMode};
    use crate::text::parse;
    use crate::{DType, QuantParams, TensorType};

    /// Wrap node lines into a graph text and parse it (the parser does not verify).
    fn graph(body: &str) -> Graph {
        let src = format!("graph \"t\" {{\n{body}\n}}\n");
        parse(&src).unwrap_or_else(|e| panic!("{e}\n{src}"))
    }

    fn err(g: &Graph) -> String {
        match verify(g) {
            Ok(_) => panic!("verify accepted an invalid graph"),
            Err(e) => e.to_string(),
        }
    }

    const MLP: &str = r#"
  n0 = input 0 "x" : f32[1,2]
  n1 = const "w" : f32[3,2] = [0.5, -1.0, 2.0, 0.0, 1.5, -0.25]
  n2 = const "b" : f32[3] = [0.1, 0.2, 0.3]
  n3 = gemm(n0, n1, n2) {alpha = 1.0, beta = 1.0, trans_a = false, trans_b = true} "fc" : f32[1,3]
  n4 = relu(n3) "relu" : f32[1,3]
  n5 = output 0 (n4) "y" : f32[1,3]"#;

    #[test]
    fn accepts_a_valid_graph_and_orders_it() {
        let g = graph(MLP);
        let info = verify(&g).unwrap();
        assert_eq!(info.order, g.node_ids());
        assert!(!info.stateful);
    }

    #[test]
    fn types_with_more_elements_than_usize_are_refused() {
        let g = graph(
            "  n0 = input 0 \"x\" : f32[4294967296,4294967296,2]\n  \
             n1 = relu(n0) \"r\" : f32[4294967296,4294967296,2]\n  \
             n2 = output 0 (n1) \"y\" : f32[4294967296,4294967296,2]",
        );
        let e = verify(&g).map(|_| ()).map_err(|e| e.to_string());
        assert!(matches!(&e, Err(m) if m.contains("more elements")), "{e:?}");
        assert_eq!(crate::tensor::numel(&[1 << 32, 1 << 32, 2]), usize::MAX);
    }

    #[test]
    fn graphs_built_through_the_api_verify() {
        let mut g = Graph::new("api");
        let x = g.add_input("x", TensorType::f32(vec![1, 2]));
        let w = g.add_const(
            "w",
            Tensor::from_f32(vec![3, 2], vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0]).unwrap(),
        );
        let fc = g
            .add_node(
                "fc",
                Op::Gemm(Gemm {
                    trans_b: true,
                    ..Gemm::default()
                }),
                &[x, w],
            )
            .unwrap();
        let lif = g
            .add_node(
                "lif",
                Op::Lif(Lif {
                    tau: Tensor::scalar_f32(0.01),
                    r: Tensor::scalar_f32(1.0),
                    v_leak: Tensor::scalar_f32(0.0),
                    v_threshold: Tensor::scalar_f32(1.0),
                    v_reset: Tensor::scalar_f32(0.0),
                    reset: ResetMode::Subtract,
                }),
                &[fc],
            )
            .unwrap();
        g.add_output("y", lif).unwrap();
        let info = verify(&g).unwrap();
        assert_eq!(info.order.len(), 5);
        assert!(info.stateful);
    }

    #[test]
    fn recurrent_edges_are_allowed_and_make_the_graph_stateful() {
        let g = graph(
            r#"
  n0 = input 0 "x" : f32[4]
  n1 = add(n0, ^n2) "acc" : f32[4]
  n2 = relu(n1) "r" : f32[4]
  n3 = output 0 (n2) "y" : f32[4]"#,
        );
        let info = verify(&g).unwrap();
        assert!(info.stateful);
        assert_eq!(info.order.len(), 4);
    }

    #[test]
    fn names_must_be_non_empty_and_unique() {
        let g = graph(&MLP.replace("\"relu\"", "\"fc\""));
        assert_eq!(
            err(&g),
            "node `fc` (relu): the name is also used by another node (gemm); names must be unique"
        );
        let g = graph(&MLP.replace("\"relu\"", "\"\""));
        assert_eq!(
            err(&g),
            "node `<unnamed n4>` (relu): has an empty name; every node needs a unique name"
        );
    }

    #[test]
    fn required_slots_must_be_connected() {
        let g = graph(&MLP.replace("gemm(n0, n1, n2)", "gemm(n0)"));
        assert_eq!(
            err(&g),
            "node `fc` (gemm): input slot 1 is not connected; the op needs 2 inputs"
        );
        let g = graph(&MLP.replace("gemm(n0, n1, n2)", "gemm(n0, 2: n2)"));
        assert_eq!(
            err(&g),
            "node `fc` (gemm): input slot 1 is not connected, but slot 2 is"
        );
        let g = graph(&MLP.replace("relu(n3)", "relu(n3, n3)"));
        assert_eq!(
            err(&g),
            "node `relu` (relu): input slot 1 is connected, but the op takes at most 1 inputs"
        );
        let g = graph(&MLP.replace("relu(n3)", "relu(7: n3)"));
        assert!(err(&g).contains("input slot 7 is connected"));
    }

    #[test]
    fn inputs_and_constants_take_no_operands_and_outputs_have_no_users() {
        let g = graph(&MLP.replace("input 0 \"x\"", "input 0 (n2) \"x\""));
        assert_eq!(
            err(&g),
            "node `x` (input): takes no inputs, but input slot 0 is connected"
        );
        let g = graph(&MLP.replace("const \"b\"", "const (n0) \"b\""));
        assert_eq!(
            err(&g),
            "node `b` (const): takes no inputs, but input slot 0 is connected"
        );
        let g = graph(&format!("{MLP}\n  n6 = relu(n5) \"after\" : f32[1,3]"));
        assert_eq!(
            err(&g),
            "node `y` (output): graph output 0 is read by `after`; outputs have no users"
        );
    }

    #[test]
    fn cycles_name_a_node_on_the_cycle() {
        // `down` has the smallest id and sits behind the cycle; the error must not blame it.
        let g = graph(
            r#"
  n0 = relu(n1) "down" : f32[2]
  n1 = add(n9, n2) "a" : f32[2]
  n2 = relu(n1) "b" : f32[2]
  n9 = input 0 "x" : f32[2]
  n3 = output 0 (n0) "y" : f32[2]"#,
        );
        assert_eq!(
            verify(&g).unwrap_err(),
            IrError::Cycle {
                node: "a".to_string()
            }
        );
        // Marking the back edge recurrent makes it valid.
        let g = graph(
            r#"
  n0 = relu(n1) "down" : f32[2]
  n1 = add(n9, ^n2) "a" : f32[2]
  n2 = relu(n1) "b" : f32[2]
  n9 = input 0 "x" : f32[2]
  n3 = output 0 (n0) "y" : f32[2]"#,
        );
        verify(&g).unwrap();
    }

    #[test]
    fn graph_inputs_and_outputs_are_numbered_densely() {
        let g = graph(&MLP.replace("input 0", "input 1"));
        assert_eq!(
            err(&g),
            "node `x` (input): graph inputs must be numbered 0, 1, ...: index 0 is missing and this node has 1"
        );
        let g = graph(&format!("{MLP}\n  n6 = output 0 (n3) \"y2\" : f32[1,3]"));
        assert_eq!(
            err(&g),
            "node `y2` (output): graph output index 0 is used by more than one node"
        );
        let g = graph(&MLP.replace("  n5 = output 0 (n4) \"y\" : f32[1,3]", ""));
        assert_eq!(err(&g), "the graph has no outputs");
    }

    #[test]
    fn input_list_must_match_the_input_nodes() {
        // An input node the graph's input list does not hold.
        let mut g = Graph::new("unlisted");
        let c = g.add_const("c", Tensor::scalar_f32(1.0));
        g.node_mut(c).op = Op::Input { index: 0 };
        let y = g.add_node_untyped("y", Op::Output { index: 0 });
        g.connect(c, y, 0, false).unwrap();
        g.node_mut(y).ty = Some(TensorType::f32(vec![]));
        assert_eq!(
            err(&g),
            "node `c` (input): is graph input 0, but the graph's input list does not hold it there"
        );
        // A listed input that is no longer an input node.
        let mut g = graph(MLP);
        let x = g.inputs()[0];
        g.node_mut(x).op = Op::Const(Tensor::zeros(DType::F32, vec![1, 2]));
        assert_eq!(
            err(&g),
            "node `x` (const): is listed as graph input 0, but it is not a graph input node"
        );
    }

    #[test]
    fn every_node_is_typed_as_inference_says() {
        let g = graph(&MLP.replace("\"relu\" : f32[1,3]", "\"relu\""));
        assert_eq!(err(&g), "node `relu` (relu): has no type");
        let g = graph(&MLP.replace("\"relu\" : f32[1,3]", "\"relu\" : f32[3]"));
        assert_eq!(
            err(&g),
            "node `relu` (relu): has type f32[3] but its inputs give f32[1,3]"
        );
        let g = graph(&MLP.replace(
            "\"relu\" : f32[1,3]",
            "\"relu\" : f32[1,3] quant {scale = [0.5], zero_point = [0], axis = none, bits = 8, signed = true, narrow = false}",
        ));
        assert!(err(&g).contains("but its inputs give f32[1,3]"));
        let g = graph(&MLP.replace("\"b\" : f32[3] = [", "\"b\" : f32[1,3] = f32[3] ["));
        assert_eq!(
            err(&g),
            "node `b` (const): has type f32[1,3] but its data is f32[3]"
        );
        // Inference errors come through with the node named.
        let g = graph(&MLP.replace("f32[3,2] = [", "f32[3,3] = [1.0, 2.0, 3.0, "));
        assert!(err(&g).starts_with("node `fc` (gemm): "));
    }

    #[test]
    fn constants_and_tensor_attributes_are_finite() {
        let mut data = vec![0.0f32; 20];
        data[17] = f32::NAN;
        let mut g = graph(MLP);
        let w = g.node_ids()[1];
        g.node_mut(w).name = "weight".into();
        g.node_mut(w).op = Op::Const(Tensor::from_f32(vec![3, 2], data[14..20].to_vec()).unwrap());
        assert_eq!(err(&g), "node `weight` (const): contains NaN at index 3");
        let mut big = Graph::new("big");
        let wt = big.add_const("weight", Tensor::from_f32(vec![20], data).unwrap());
        big.add_output("y", wt).unwrap();
        assert_eq!(err(&big), "node `weight` (const): contains NaN at index 17");

        let lif = r#"
  n0 = input 0 "x" : f32[2]
  n1 = lif(n0) {tau = f32[2] [0.01, TAU], r = f32[] [1.0], v_leak = f32[] [0.0], v_threshold = f32[] [1.0], v_reset = f32[] [0.0], reset = to_value} "lif" : f32[2]
  n2 = output 0 (n1) "y" : f32[2]"#;
        verify(&graph(&lif.replace("TAU", "0.02"))).unwrap();
        assert_eq!(
            err(&graph(&lif.replace("TAU", "-inf"))),
            "node `lif` (lif): attribute `tau` contains -inf at index 1"
        );
    }

    #[test]
    fn scalar_attributes_are_well_formed() {
        let g = graph(&MLP.replace("alpha = 1.0", "alpha = nan"));
        assert_eq!(err(&g), "node `fc` (gemm): attribute `alpha` is NaN");
        let g = graph(&MLP.replace("beta = 1.0", "beta = inf"));
        assert_eq!(err(&g), "node `fc` (gemm): attribute `beta` is inf");
        let clip = MLP.replace("relu(n3)", "clip(n3) {min = MIN, max = 6.0}");
        verify(&graph(&clip.replace("MIN", "-inf"))).unwrap();
        assert_eq!(
            err(&graph(&clip.replace("MIN", "nan"))),
            "node `relu` (clip): attribute `min` is NaN"
        );
    }

    #[test]
    fn quantization_parameters_fit_their_type() {
        let q = |scale: Vec<f32>, zp: Vec<i64>, axis: Option<usize>, bits: u8| {
            let mut g = Graph::new("q");
            let x = g.add_input(
                "x",
                TensorType {
                    dtype: DType::I8,
                    shape: vec![1, 2],
                    quant: Some(QuantParams {
                        scale,
                        zero_point: zp,
                        axis,
                        bits,
                        signed: true,
                        narrow: false,
                    }),
                },
            );
            g.add_output("y", x).unwrap();
            verify(&g).map(|_| ()).map_err(|e| e.to_string())
        };
        q(vec![0.5], vec![0], None, 8).unwrap();
        q(vec![0.5, 0.25], vec![0, -3], Some(1), 4).unwrap();
        let e = |r: Result<(), String>| r.unwrap_err();
        assert_eq!(
            e(q(vec![0.5], vec![0], None, 0)),
            "node `x` (input): quantization: bit width 0 is not in 1..=64"
        );
        assert_eq!(
            e(q(vec![0.5], vec![0], Some(1), 8)),
            "node `x` (input): quantization: 1 scales given, 2 needed (one per index of axis 1)"
        );
        assert!(e(q(vec![0.5], vec![0], Some(2), 8)).contains("axis 2 is out of range for rank 2"));
        assert!(e(q(vec![0.0], vec![0], None, 8)).contains("scale 0 at index 0"));
        assert!(e(q(vec![0.5], vec![0, 1], None, 8)).contains("1 scales but 2 zero points"));
        assert!(
            e(q(vec![0.5], vec![8], None, 4)).contains("zero point 8 is outside the range -8..=7")
        );
    }

    #[test]
    fn the_first_error_is_deterministic() {
        // Two problems: the one on the node with the smaller id is reported, every time.
        let text = MLP
            .replace("\"relu\" : f32[1,3]", "\"relu\"")
            .replace("\"fc\" : f32[1,3]", "\"fc\"");
        let g = graph(&text);
        for _ in 0..3 {
            assert_eq!(err(&g), "node `fc` (gemm): has no type");
        }
    }
}

#[cfg(test)]
mod bin_recurrence_tests {
    use crate::op::BinThreshold;
    use crate::{verify, DType, Graph, Op, Tensor, TensorType};

    #[test]
    fn recurrent_bin_edges_are_rejected() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::new(DType::I32, vec![2]));
        let sum = g.add_node_untyped("sum", Op::Add);
        let th = g.add_node_untyped(
            "th",
            Op::BinThreshold(BinThreshold {
                threshold: Tensor::from_i64(DType::I64, vec![], vec![0]).unwrap(),
                flip: Tensor::from_i64(DType::I64, vec![], vec![0]).unwrap(),
                axis: 0,
            }),
        );
        let out = g.add_node_untyped("y", Op::Output { index: 0 });
        g.connect(x, sum, 0, false).unwrap();
        g.connect(th, sum, 1, true).unwrap();
        g.connect(sum, th, 0, false).unwrap();
        g.connect(th, out, 0, false).unwrap();
        g.infer_types().unwrap();
        let e = verify(&g).unwrap_err().to_string();
        assert!(e.contains("`sum`") && e.contains("bin"), "{e}");
    }
}
