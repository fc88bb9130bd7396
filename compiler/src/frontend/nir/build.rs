//! The flat NIR graph turned into an IR [`Graph`].
//!
//! Every graph is built the same way, cyclic or not: all nodes first (untyped), then the edges,
//! then [`Graph::infer_types`]. Node ids are handed out in a fixed order (graph inputs by name,
//! the other nodes in a topological order that breaks ties by flat-node order, graph outputs by
//! name), so the same file always gives the same graph.
//!
//! Mapping (NIR → IR): Affine → `Gemm(x, W, b)` with `trans_b` (W is `[out, in]`, x has no
//! batch dimension); Linear → the same without `b`; Conv → `Conv(x, W, b)`; pools → `Pool`;
//! Flatten → `Flatten` with dimensions resolved against the input's rank; Scale → `Mul(x, s)`;
//! neurons, Threshold and Delay → their op. Weights become `Const` nodes named `<node>.weight`,
//! `<node>.bias`, `<node>.scale`. NIR sums every edge that enters a node: a node with several
//! sources gets a chain of `Add` nodes (`<node>.sum`, `<node>.sum2`, ...) over its sources in
//! name order.

use std::collections::BTreeSet;

use snnc_ir::op::{Flatten, Gemm};
use snnc_ir::{infer, Graph, IrError, NodeId, Op, TensorType};

use super::nesting::FlatGraph;
use super::prim::Prim;
use super::recurrence::recurrent_edges;
use super::Fail;

/// Build the IR graph named `name` from a flattened NIR graph.
pub fn build(name: &str, flat: &FlatGraph) -> Result<Graph, Fail> {
    let nodes = &flat.nodes;
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let fail = |i: usize, reason: &str| Fail::Node {
        node: nodes[i].name.clone(),
        op: nodes[i].kind.clone(),
        reason: reason.to_string(),
    };

    let mut incoming: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut outgoing = vec![0usize; nodes.len()];
    for (e, (s, d)) in flat.edges.iter().enumerate() {
        incoming[*d].push(e);
        outgoing[*s] += 1;
    }
    let by_name = |v: &mut Vec<usize>| v.sort_by(|a, b| names[*a].cmp(&names[*b]));
    let mut inputs: Vec<usize> = Vec::new();
    let mut outputs: Vec<usize> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        match n.prim {
            Prim::Input { .. } if !incoming[i].is_empty() => {
                return Err(fail(i, "an Input node cannot have incoming edges"))
            }
            Prim::Input { .. } => inputs.push(i),
            Prim::Output { .. } if outgoing[i] > 0 => {
                return Err(fail(i, "an Output node cannot have outgoing edges"))
            }
            Prim::Output { .. } => outputs.push(i),
            _ if incoming[i].is_empty() => {
                return Err(fail(i, "no edge feeds this node"));
            }
            _ => {}
        }
    }
    if inputs.is_empty() || outputs.is_empty() {
        return Err(Fail::Format(
            "the graph needs at least one Input and one Output node".into(),
        ));
    }
    by_name(&mut inputs);
    by_name(&mut outputs);
    let rec = recurrent_edges(&names, &inputs, &flat.edges);

    // Creation order: inputs, the rest topologically, outputs.
    let mut order = inputs.clone();
    order.extend(
        topo_order(nodes.len(), &flat.edges, &rec)
            .into_iter()
            .filter(|i| !matches!(nodes[*i].prim, Prim::Input { .. } | Prim::Output { .. })),
    );
    order.extend(outputs.iter().copied());

    let mut g = Graph::new(name);
    let mut ids: Vec<Option<NodeId>> = vec![None; nodes.len()];
    for (k, &i) in order.iter().enumerate() {
        let out_index = k.checked_sub(order.len() - outputs.len());
        ids[i] = Some(create(&mut g, &nodes[i].name, &nodes[i].prim, out_index)?);
    }
    let id = |i: usize| ids[i].ok_or_else(|| fail(i, "node was not created"));

    // Edges, then a first typing pass in creation order that Flatten needs for its rank.
    let mut first_error: Option<IrError> = None;
    for &i in &order {
        let dst = id(i)?;
        let mut srcs: Vec<(usize, bool)> = incoming[i]
            .iter()
            .map(|e| (flat.edges[*e].0, rec[*e]))
            .collect();
        srcs.sort_by(|a, b| names[a.0].cmp(&names[b.0]).then(a.1.cmp(&b.1)));
        let mut acc: Option<(NodeId, bool)> = None;
        for (k, (s, r)) in srcs.iter().enumerate() {
            let src = (id(*s)?, *r);
            acc = Some(match acc {
                None => src,
                Some(prev) => {
                    let suffix = if k == 1 { String::new() } else { k.to_string() };
                    let add = g.add_node_untyped(format!("{}.sum{suffix}", names[i]), Op::Add);
                    g.connect(prev.0, add, 0, prev.1).map_err(Fail::Ir)?;
                    g.connect(src.0, add, 1, src.1).map_err(Fail::Ir)?;
                    pre_infer(&mut g, add, &mut first_error);
                    (add, false)
                }
            });
        }
        if let Some((src, r)) = acc {
            g.connect(src, dst, 0, r).map_err(Fail::Ir)?;
        }
        if let Prim::Flatten {
            start,
            end,
            input_rank,
        } = &nodes[i].prim
        {
            let rank = g
                .operand(dst, 0)
                .and_then(|s| g.node(s).ty.as_ref())
                .map(|t| t.rank())
                .or(*input_rank);
            let Some(rank) = rank else {
                return Err(match first_error.take() {
                    Some(e) => Fail::Ir(e),
                    None => fail(i, "the rank of the input is unknown"),
                });
            };
            let f = resolve_flatten(*start, *end, rank).map_err(|r| fail(i, &r))?;
            g.node_mut(dst).op = Op::Flatten(f);
        }
        if !matches!(nodes[i].prim, Prim::Input { .. }) {
            pre_infer(&mut g, dst, &mut first_error);
        }
    }

    g.infer_types().map_err(Fail::Ir)?;
    for &i in &outputs {
        if let Prim::Output { shape: Some(want) } = &nodes[i].prim {
            let got = g.node(id(i)?).ty.as_ref().map(|t| t.shape.clone());
            let numel = |s: &[usize]| s.iter().try_fold(1usize, |a, d| a.checked_mul(*d));
            if let Some(got) = got {
                if numel(&got) != numel(want) {
                    return Err(fail(
                        i,
                        &format!("declares shape {want:?} but receives {got:?}"),
                    ));
                }
            }
        }
    }
    Ok(g)
}

/// Create the IR nodes of one NIR node (constants connected) and return the node that takes the
/// NIR input in slot 0 and produces the NIR output.
fn create(
    g: &mut Graph,
    name: &str,
    prim: &Prim,
    out_index: Option<usize>,
) -> Result<NodeId, Fail> {
    let id = match prim {
        Prim::Input { shape } => g.add_input(name, TensorType::f32(shape.clone())),
        Prim::Output { .. } => g.add_node_untyped(
            name,
            Op::Output {
                index: out_index.unwrap_or(0),
            },
        ),
        Prim::Identity => {
            return Err(Fail::Node {
                node: name.into(),
                op: "Identity".into(),
                reason: "pass-through left in the flat graph".into(),
            })
        }
        Prim::Affine { weight, bias } => {
            let gemm = Gemm {
                alpha: 1.0,
                beta: 1.0,
                trans_a: false,
                trans_b: true,
            };
            let n = g.add_node_untyped(name, Op::Gemm(gemm));
            let w = g.add_const(format!("{name}.weight"), weight.clone());
            g.connect(w, n, 1, false).map_err(Fail::Ir)?;
            if let Some(b) = bias {
                let b = g.add_const(format!("{name}.bias"), b.clone());
                g.connect(b, n, 2, false).map_err(Fail::Ir)?;
            }
            n
        }
        Prim::Conv { conv, weight, bias } => {
            let n = g.add_node_untyped(name, Op::Conv(conv.clone()));
            let w = g.add_const(format!("{name}.weight"), weight.clone());
            let b = g.add_const(format!("{name}.bias"), bias.clone());
            g.connect(w, n, 1, false).map_err(Fail::Ir)?;
            g.connect(b, n, 2, false).map_err(Fail::Ir)?;
            n
        }
        Prim::Pool(p) => g.add_node_untyped(name, Op::Pool(p.clone())),
        // Dimensions are resolved once the input's rank is known.
        Prim::Flatten { .. } => g.add_node_untyped(
            name,
            Op::Flatten(Flatten {
                start_dim: 0,
                end_dim: 0,
            }),
        ),
        Prim::Scale(s) => {
            let n = g.add_node_untyped(name, Op::Mul);
            let c = g.add_const(format!("{name}.scale"), s.clone());
            g.connect(c, n, 1, false).map_err(Fail::Ir)?;
            n
        }
        Prim::Op(op) => g.add_node_untyped(name, (**op).clone()),
    };
    Ok(id)
}

/// Type `id` from its operands as far as they are known; keep the first failure, which
/// [`Graph::infer_types`] will report again unless it was only caused by a type not known yet.
fn pre_infer(g: &mut Graph, id: NodeId, first_error: &mut Option<IrError>) {
    let node = g.node(id);
    let ops = g.operands(id);
    let tys: Vec<Option<&TensorType>> = ops.iter().map(|(s, _)| g.node(*s).ty.as_ref()).collect();
    match infer::infer(&node.op, &node.name, &tys) {
        Ok(t) => g.node_mut(id).ty = Some(t),
        Err(e) => {
            first_error.get_or_insert(e);
        }
    }
}

/// NIR Flatten dimensions (relative to the input without batch dimension, negative counting from
/// the end) as the IR's non-negative, inclusive range.
fn resolve_flatten(start: i64, end: i64, rank: usize) -> Result<Flatten, String> {
    let r = rank as i64;
    let fix = |d: i64| if d < 0 { d + r } else { d };
    let (s, e) = (fix(start), fix(end));
    if s < 0 || e >= r || s > e {
        return Err(format!(
            "start_dim {start} and end_dim {end} do not fit an input of rank {rank}"
        ));
    }
    Ok(Flatten {
        start_dim: s as usize,
        end_dim: e as usize,
    })
}

/// Kahn's algorithm over the non-recurrent edges; among ready nodes the lowest index first.
/// Nodes on a cycle without a recurrent edge (impossible after [`recurrent_edges`]) are left out.
fn topo_order(n: usize, edges: &[(usize, usize)], rec: &[bool]) -> Vec<usize> {
    let mut indeg = vec![0usize; n];
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    for ((s, d), r) in edges.iter().zip(rec) {
        if !r {
            indeg[*d] += 1;
            succ[*s].push(*d);
        }
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|i| indeg[*i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(u) = ready.pop_first() {
        order.push(u);
        for v in &succ[u] {
            indeg[*v] -= 1;
            if indeg[*v] == 0 {
                ready.insert(*v);
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_dims_resolve_against_the_rank() {
        assert_eq!(
            resolve_flatten(0, -1, 3).unwrap(),
            Flatten {
                start_dim: 0,
                end_dim: 2
            }
        );
        assert_eq!(
            resolve_flatten(1, -1, 3).unwrap(),
            Flatten {
                start_dim: 1,
                end_dim: 2
            }
        );
        assert!(resolve_flatten(0, 3, 3).is_err());
        assert!(resolve_flatten(2, 1, 3).is_err());
        assert!(resolve_flatten(-4, -1, 3).is_err());
    }

    #[test]
    fn topo_order_skips_recurrent_edges() {
        // 0 → 1 → 2, 2 → 1 recurrent.
        let edges = [(0, 1), (1, 2), (2, 1)];
        assert_eq!(topo_order(3, &edges, &[false, false, true]), vec![0, 1, 2]);
    }
}
