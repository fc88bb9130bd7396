//! Small graph-editing helpers shared by the quantization passes: unique names, constants,
//! reading constant operands, and removing what no output needs any more.

use std::collections::BTreeSet;

use snnc_ir::{DType, Graph, IrError, NodeId, Op, QuantParams, Tensor};

use crate::passes::PassError;

/// Adds nodes to a graph under names that are unique in it.
pub struct Editor<'g> {
    pub g: &'g mut Graph,
    names: BTreeSet<String>,
    pass: &'static str,
}

impl<'g> Editor<'g> {
    pub fn new(g: &'g mut Graph, pass: &'static str) -> Self {
        let names = g
            .node_ids()
            .iter()
            .map(|i| g.node(*i).name.clone())
            .collect();
        Editor { g, names, pass }
    }

    pub fn pass(&self) -> &'static str {
        self.pass
    }

    /// `base`, or `base.1`, `base.2`, ... whichever is free; reserved on return.
    pub fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1;
        while self.names.contains(&name) {
            name = format!("{base}.{k}");
            k += 1;
        }
        self.names.insert(name.clone());
        name
    }

    /// Give node `id` a new name `{name}.{suffix}` (unique) and return its old name, free for
    /// the node that replaces it: the integer kernel keeps the layer name users know.
    pub fn take_name(&mut self, id: NodeId, suffix: &str) -> String {
        let old = self.g.node(id).name.clone();
        let new = self.fresh(&format!("{old}.{suffix}"));
        self.g.node_mut(id).name = new;
        // `old` stays reserved for the replacing node.
        old
    }

    /// Add a node named exactly `name` (already reserved by [`Editor::fresh`] or
    /// [`Editor::take_name`]).
    pub fn node_named(
        &mut self,
        name: String,
        op: Op,
        operands: &[NodeId],
    ) -> Result<NodeId, PassError> {
        self.names.insert(name.clone());
        self.g
            .add_node(name, op, operands)
            .map_err(|e| PassError::ir(self.pass, e))
    }

    /// Add a node under a fresh name derived from `base`.
    pub fn node(&mut self, base: &str, op: Op, operands: &[NodeId]) -> Result<NodeId, PassError> {
        let name = self.fresh(base);
        self.node_named(name, op, operands)
    }

    /// Add a constant under a fresh name derived from `base`, optionally recording
    /// quantization parameters on its type.
    pub fn constant(&mut self, base: &str, t: Tensor, quant: Option<QuantParams>) -> NodeId {
        let name = self.fresh(base);
        self.constant_named(name, t, quant)
    }

    /// Add a constant named exactly `name` (reserved by [`Editor::take_name`]).
    pub fn constant_named(
        &mut self,
        name: String,
        t: Tensor,
        quant: Option<QuantParams>,
    ) -> NodeId {
        self.names.insert(name.clone());
        let id = self.g.add_const(name, t);
        if let Some(ty) = self.g.node_mut(id).ty.as_mut() {
            ty.quant = quant;
        }
        id
    }

    /// A scalar f32 constant.
    pub fn scalar(&mut self, base: &str, v: f32) -> NodeId {
        self.constant(base, Tensor::scalar_f32(v), None)
    }

    /// A f32 constant of shape `[n]` (`[]` when `values` has one element and `scalar_if_one`).
    pub fn vector_f32(&mut self, base: &str, values: Vec<f32>) -> Result<NodeId, PassError> {
        let t = if values.len() == 1 {
            Tensor::from_f32(vec![], values)
        } else {
            Tensor::from_f32(vec![values.len()], values)
        }
        .map_err(|e| PassError::ir(self.pass, e))?;
        Ok(self.constant(base, t, None))
    }

    /// A scalar integer constant of `dtype`.
    pub fn scalar_int(&mut self, base: &str, dtype: DType, v: i64) -> Result<NodeId, PassError> {
        let t =
            Tensor::from_i64(dtype, vec![], vec![v]).map_err(|e| PassError::ir(self.pass, e))?;
        Ok(self.constant(base, t, None))
    }

    /// Map an IR error into this pass's error.
    pub fn ir(&self, e: IrError) -> PassError {
        PassError::ir(self.pass, e)
    }
}

/// The tensor of a constant node.
pub fn const_of(g: &Graph, id: NodeId) -> Option<&Tensor> {
    match &g.get(id)?.op {
        Op::Const(t) => Some(t),
        _ => None,
    }
}

/// The constant feeding input `slot` of `id`.
pub fn const_operand(g: &Graph, id: NodeId, slot: usize) -> Option<&Tensor> {
    const_of(g, g.operand(id, slot)?)
}

/// The single value of a one-element f32 constant.
pub fn scalar_f32(t: &Tensor) -> Option<f32> {
    match t.as_f32() {
        Some([v]) => Some(*v),
        _ => None,
    }
}

/// The single value of a one-element integer constant.
pub fn scalar_i64(t: &Tensor) -> Option<i64> {
    match t.as_i64() {
        Some([v]) => Some(*v),
        _ => None,
    }
}

/// Remove every node from which no graph output can be reached (graph inputs stay). Returns
/// how many nodes went.
pub fn remove_dead(g: &mut Graph) -> usize {
    let mut live: BTreeSet<NodeId> = BTreeSet::new();
    let mut stack: Vec<NodeId> = g.outputs().to_vec();
    while let Some(id) = stack.pop() {
        if live.insert(id) {
            stack.extend(g.operands(id).into_iter().map(|(src, _)| src));
        }
    }
    let inputs: BTreeSet<NodeId> = g.inputs().iter().copied().collect();
    let dead: Vec<NodeId> = g
        .node_ids()
        .into_iter()
        .filter(|id| !live.contains(id) && !inputs.contains(id))
        .collect();
    for id in &dead {
        g.remove_node(*id);
    }
    dead.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::{verify, TensorType};

    #[test]
    fn fresh_names_and_dead_code() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![2]));
        let r = g.add_node("r", Op::Relu, &[x]).unwrap();
        let unused = g.add_node("unused", Op::Relu, &[r]).unwrap();
        g.add_output("y", r).unwrap();
        {
            let mut ed = Editor::new(&mut g, "test");
            assert_eq!(ed.fresh("r"), "r.1");
            assert_eq!(ed.fresh("r"), "r.2");
            assert_eq!(ed.fresh("q"), "q");
            let old = ed.take_name(r, "float");
            assert_eq!(old, "r");
            assert_eq!(ed.g.node(r).name, "r.float");
            let c = ed.scalar("c", 1.0);
            assert_eq!(scalar_f32(const_of(ed.g, c).unwrap()), Some(1.0));
        }
        assert_eq!(remove_dead(&mut g), 2);
        assert!(g.get(unused).is_none());
        verify(&g).unwrap();
    }
}
