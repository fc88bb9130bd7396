//! The working state of one `binarize` run: the graph being rewritten, what has been lowered
//! so far, and the notes of the report.

use std::collections::BTreeMap;

use snnc_ir::{Graph, IrError, NodeId, Op, Tensor};

use super::graph_util::Names;
use super::options::Options;
use crate::passes::PassError;

/// A value the integer path can read: `real value = node · scale` elementwise, where `node` is
/// a ±1 ([`snnc_ir::DType::Bin`]) or integer tensor whose values lie in `[lo, hi]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct IntVal {
    pub node: NodeId,
    pub scale: f32,
    pub lo: i64,
    pub hi: i64,
    pub binary: bool,
}

/// An integer accumulator made by lowering a layer.
#[derive(Clone, Debug)]
pub(crate) struct Accumulator {
    /// The layer it came from (for notes).
    pub layer: String,
    /// The channel axis of the accumulator's shape.
    pub axis: usize,
    /// Per channel, the inclusive range of values it can take.
    pub ranges: Vec<(i64, i64)>,
}

/// Counters for the report.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stats {
    pub integer_layers: usize,
    pub float_layers_changed: usize,
    pub folded_channels: usize,
    pub float_signs: usize,
}

pub(crate) struct State<'g> {
    pub g: &'g mut Graph,
    pub pass: &'static str,
    pub opts: Options,
    pub names: Names,
    /// Integer forms of float values, by the node of the float value.
    pub int_vals: BTreeMap<NodeId, IntVal>,
    /// `sign(x)` as a ±1 node, by `x`.
    pub signs: BTreeMap<NodeId, NodeId>,
    /// Accumulators of lowered layers, by accumulator node.
    pub accs: BTreeMap<NodeId, Accumulator>,
    pub notes: Vec<String>,
    pub stats: Stats,
}

impl<'g> State<'g> {
    pub(crate) fn new(g: &'g mut Graph, pass: &'static str, opts: Options) -> Self {
        let names = Names::new(g);
        State {
            g,
            pass,
            opts,
            names,
            int_vals: BTreeMap::new(),
            signs: BTreeMap::new(),
            accs: BTreeMap::new(),
            notes: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Add a node named after `base`, its type inferred; errors name the pass.
    pub(crate) fn add(
        &mut self,
        base: &str,
        op: Op,
        operands: &[NodeId],
    ) -> Result<NodeId, PassError> {
        let name = self.names.fresh(base);
        self.g
            .add_node(name, op, operands)
            .map_err(|e| PassError::ir(self.pass, e))
    }

    /// Add a constant named after `base`.
    pub(crate) fn constant(&mut self, base: &str, t: Tensor) -> NodeId {
        let name = self.names.fresh(base);
        self.g.add_const(name, t)
    }

    /// An IR error about node `id`, as a pass error.
    pub(crate) fn err(&self, id: NodeId, reason: impl Into<String>) -> PassError {
        let n = self.g.node(id);
        PassError::ir(self.pass, IrError::node(&n.name, n.op.name(), reason))
    }

    /// The pass does not apply, because of node `id`.
    pub(crate) fn not_applicable(&self, id: NodeId, reason: impl std::fmt::Display) -> PassError {
        let n = self.g.node(id);
        PassError::not_applicable(
            self.pass,
            format!("node `{}` ({}): {reason}", n.name, n.op.name()),
        )
    }

    pub(crate) fn name(&self, id: NodeId) -> String {
        self.g.node(id).name.clone()
    }
}
