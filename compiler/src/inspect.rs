//! `snnc inspect`: what a model contains, as a table or JSON.

use std::collections::BTreeMap;

use snnc_ir::{Graph, GraphInfo, NodeId, Op};

/// One computing node of the summary (constants and the ops that only transform constants are
/// folded into the parameters of the node that reads them).
#[derive(Clone, Debug, serde::Serialize)]
pub struct NodeRow {
    pub id: String,
    pub name: String,
    pub op: &'static str,
    pub ty: String,
    pub params: usize,
}

/// A model's summary.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    pub graph: String,
    pub inputs: Vec<(String, String)>,
    pub outputs: Vec<(String, String)>,
    pub nodes: usize,
    pub parameters: usize,
    pub stateful: bool,
    pub ops: BTreeMap<&'static str, usize>,
    pub rows: Vec<NodeRow>,
}

/// Numbers of values held in an op's tensor attributes (neuron parameters, thresholds,
/// requantization multipliers): the same enumeration `snnc report` counts.
fn attr_params(op: &Op) -> usize {
    crate::report::layer::attr_tensors(op)
        .iter()
        .map(|(_, t, _)| t.len())
        .sum()
}

pub fn summarize(g: &Graph, info: &GraphInfo) -> Summary {
    // A verified graph has a topological order, so this cannot fail.
    let derived = crate::passes::canonical::eval::constant_derived(g).unwrap_or_default();
    let is_derived = |id: &NodeId| derived.get(id).copied().unwrap_or(false);
    let mut ops = BTreeMap::new();
    let mut rows = Vec::new();
    let mut parameters = 0;
    for &id in &info.order {
        let node = g.node(id);
        if let Op::Const(t) = &node.op {
            parameters += t.len();
        }
        parameters += attr_params(&node.op);
        if is_derived(&id) {
            continue;
        }
        *ops.entry(node.op.name()).or_insert(0) += 1;
        let params = g
            .operands(id)
            .iter()
            .filter(|(s, _)| is_derived(s))
            .map(|(s, _)| g.ty(*s).numel())
            .sum::<usize>()
            + attr_params(&node.op);
        rows.push(NodeRow {
            id: id.to_string(),
            name: node.name.clone(),
            op: node.op.name(),
            ty: g.ty(id).to_string(),
            params,
        });
    }
    let io = |ids: &[NodeId]| {
        ids.iter()
            .map(|i| (g.node(*i).name.clone(), g.ty(*i).to_string()))
            .collect()
    };
    Summary {
        graph: g.name.clone(),
        inputs: io(g.inputs()),
        outputs: io(g.outputs()),
        nodes: g.len(),
        parameters,
        stateful: info.stateful,
        ops,
        rows,
    }
}

/// The human-readable table.
pub fn render(s: &Summary, source: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "model:      {source}");
    let _ = writeln!(out, "graph:      {}", s.graph);
    for (n, t) in &s.inputs {
        let _ = writeln!(out, "input:      {n} {t}");
    }
    for (n, t) in &s.outputs {
        let _ = writeln!(out, "output:     {n} {t}");
    }
    let _ = writeln!(
        out,
        "nodes:      {} ({} computing), {}",
        s.nodes,
        s.rows.len(),
        if s.stateful {
            "stateful (run with --steps)"
        } else {
            "stateless"
        }
    );
    let _ = writeln!(out, "parameters: {}", s.parameters);
    let hist: Vec<String> = s.ops.iter().map(|(k, v)| format!("{k} x{v}")).collect();
    let _ = writeln!(out, "ops:        {}", hist.join(", "));
    let w_name = s
        .rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let w_op = s.rows.iter().map(|r| r.op.len()).max().unwrap_or(2).max(2);
    let w_ty = s.rows.iter().map(|r| r.ty.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<5} {:<w_name$} {:<w_op$} {:<w_ty$} {:>9}",
        "id", "name", "op", "type", "params"
    );
    for r in &s.rows {
        let _ = writeln!(
            out,
            "{:<5} {:<w_name$} {:<w_op$} {:<w_ty$} {:>9}",
            r.id, r.name, r.op, r.ty, r.params
        );
    }
    out
}
