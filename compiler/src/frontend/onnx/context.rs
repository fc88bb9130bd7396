//! The import state: which IR node (or pending constant) each ONNX value name stands for, the
//! node names already taken, and the graph being built.
//!
//! Initializers and `Constant` outputs stay protobuf until a node uses them. Ops that only *read*
//! a constant (a Reshape's shape, a Clip's bounds) convert it without adding a node, so the
//! graph holds no dead constants; ops that take it as an operand add it as a `Const` node at
//! that point. Nodes are therefore added in ONNX node order with each constant just before its
//! first user, which makes the graph (and its node ids) depend only on the file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use snnc_ir::{Graph, IrError, NodeId, Op, Tensor, TensorType};

use super::proto::{NodeProto, TensorProto};
use super::tensor::{self, Store};
use crate::frontend::limits::{human, Budget};
use crate::ImportError;

/// A constant not yet added to the graph.
pub(crate) enum Pending {
    /// Still protobuf (boxed: a `TensorProto` is large and most values are nodes).
    Proto(Box<TensorProto>),
    /// Converted (and checked) because an op read its value.
    Tensor(Tensor),
}

/// What an ONNX value name stands for.
pub(crate) enum Value {
    /// The output of an IR node (graph input, op or materialized constant).
    Node(NodeId),
    /// A constant that no operand slot has used yet; `name` is the IR name it will get.
    Const { name: String, data: Pending },
    /// Another value under a second name (Identity, Dropout).
    Alias(String),
    /// The output of a node that could not be converted; users are skipped, and the
    /// unsupported-op report explains why.
    Poisoned,
}

/// One ONNX node during conversion: its protobuf and the name users know it by.
pub(crate) struct Node {
    pub proto: NodeProto,
    /// The ONNX node name, or its first output name when it has none.
    pub name: String,
    /// The op type as written (`Gemm`).
    pub op_type: String,
    /// The model file, for error messages.
    pub path: PathBuf,
}

impl Node {
    /// An error about this node.
    pub fn err(&self, reason: impl Into<String>) -> ImportError {
        ImportError::Node {
            path: self.path.clone(),
            node: self.name.clone(),
            op: self.op_type.clone(),
            reason: reason.into(),
        }
    }

    /// The name of input `i`, or `None` when it is absent or the empty (omitted) name.
    pub fn input(&self, i: usize) -> Option<&str> {
        self.proto
            .input
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Number of inputs as written (omitted trailing inputs excluded, empty ones included).
    pub fn n_inputs(&self) -> usize {
        self.proto.input.len()
    }

    /// Fail unless the node has between `lo` and `hi` inputs (counting empty names).
    pub fn check_inputs(&self, lo: usize, hi: usize) -> Result<(), ImportError> {
        let n = self.n_inputs();
        if n < lo || n > hi {
            let want = if lo == hi {
                format!("{lo}")
            } else {
                format!("{lo} to {hi}")
            };
            return Err(self.err(format!("takes {want} inputs, got {n}")));
        }
        Ok(())
    }

    /// The name of required input `i`.
    pub fn required(&self, i: usize) -> Result<&str, ImportError> {
        self.input(i)
            .ok_or_else(|| self.err(format!("input {i} is required but missing")))
    }
}

/// Everything the converters share while one model is imported.
pub(crate) struct Ctx {
    /// The model file, for error messages.
    pub path: PathBuf,
    /// External data, what of it was read, and the memory budget of the import.
    store: Store,
    pub graph: Graph,
    values: BTreeMap<String, Value>,
    names: BTreeSet<String>,
    /// The next suffix to try for each base name [`Ctx::unique`] was asked for, so that many
    /// nodes of one name take linear time, not quadratic.
    next_suffix: BTreeMap<String, usize>,
}

impl Ctx {
    /// The import state of the model at `path`, whose tensors may take what is left of
    /// `budget`.
    pub fn new(path: &Path, graph_name: String, budget: Budget) -> Self {
        let base_dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ctx {
            path: path.to_path_buf(),
            store: Store::new(base_dir, budget),
            graph: Graph::new(graph_name),
            values: BTreeMap::new(),
            names: BTreeSet::new(),
            next_suffix: BTreeMap::new(),
        }
    }

    /// A node name not used yet: `base`, else `base_1`, `base_2`, ...
    pub fn unique(&mut self, base: &str) -> String {
        let base = if base.is_empty() { "node" } else { base };
        let mut name = base.to_string();
        let k = self.next_suffix.entry(base.to_string()).or_insert(1);
        while self.names.contains(&name) {
            name = format!("{base}_{k}");
            *k += 1;
        }
        self.names.insert(name.clone());
        name
    }

    /// What `value` finally stands for (aliases followed), to alias it directly.
    pub fn canonical(&self, value: &str) -> Option<String> {
        self.resolve(value)
    }

    /// Bind an ONNX value name; ONNX graphs are in SSA form, so a second definition is an error.
    pub fn define(&mut self, value: &str, v: Value) -> Result<(), String> {
        if self.values.contains_key(value) {
            return Err(format!("value `{value}` is defined twice"));
        }
        self.values.insert(value.to_string(), v);
        Ok(())
    }

    /// True when `value` (through aliases) is the output of a node that was not converted.
    pub fn is_poisoned(&self, value: &str) -> bool {
        matches!(
            self.resolve(value).and_then(|k| self.values.get(&k)),
            Some(Value::Poisoned)
        )
    }

    /// The key a value name finally stands for, following aliases.
    fn resolve(&self, value: &str) -> Option<String> {
        let mut key = value.to_string();
        // Aliases only point at earlier definitions, so a chain is at most this long.
        for _ in 0..=self.values.len() {
            match self.values.get(&key)? {
                Value::Alias(next) => key = next.clone(),
                _ => return Some(key),
            }
        }
        None
    }

    /// Add a graph input.
    pub fn add_input(&mut self, name: &str, ty: TensorType) -> Result<(), String> {
        let ir_name = self.unique(name);
        let id = self.graph.add_input(ir_name, ty);
        self.define(name, Value::Node(id))
    }

    /// The IR node feeding `value` into `user`, adding the constant behind it if this is its
    /// first use as an operand.
    pub fn operand(&mut self, user: &Node, value: &str) -> Result<NodeId, ImportError> {
        let key = self.resolve(value).ok_or_else(|| undefined(user, value))?;
        match self.values.get(&key) {
            Some(Value::Node(id)) => return Ok(*id),
            Some(Value::Const { .. }) => {}
            Some(Value::Poisoned) | Some(Value::Alias(_)) | None => {
                return Err(undefined(user, value))
            }
        }
        let Some(Value::Const { name, data }) = self.values.remove(&key) else {
            return Err(undefined(user, value));
        };
        let t = match data {
            Pending::Tensor(t) => t,
            Pending::Proto(p) => convert(&mut self.store, &self.path, &p, &name, Some(user))?,
        };
        let ir_name = self.unique(&name);
        let id = self.graph.add_const(ir_name, t);
        self.values.insert(key, Value::Node(id));
        Ok(id)
    }

    /// The operand for optional input `i` of `user`, if given.
    pub fn opt_operand(&mut self, user: &Node, i: usize) -> Result<Option<NodeId>, ImportError> {
        match user.input(i) {
            Some(v) => {
                let v = v.to_string();
                self.operand(user, &v).map(Some)
            }
            None => Ok(None),
        }
    }

    /// Operands for inputs `0..n` of `user`, all required.
    pub fn operands(&mut self, user: &Node, n: usize) -> Result<Vec<NodeId>, ImportError> {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let v = user.required(i)?.to_string();
            ids.push(self.operand(user, &v)?);
        }
        Ok(ids)
    }

    /// The value of `value` if it is a constant (initializer, `Constant` output or a `Const`
    /// node), `None` if it is computed. Reading does not add a node.
    pub fn const_value(&mut self, user: &Node, value: &str) -> Result<Option<Tensor>, ImportError> {
        let key = self.resolve(value).ok_or_else(|| undefined(user, value))?;
        let converted = match self.values.get(&key) {
            Some(Value::Node(id)) => {
                let t = match self.graph.get(*id).map(|n| &n.op) {
                    Some(Op::Const(t)) => t,
                    _ => return Ok(None),
                };
                // Ops may keep what they read (per-channel scales): each copy is charged.
                charge_copy(&mut self.store, user, value, t)?;
                return Ok(Some(t.clone()));
            }
            Some(Value::Const {
                name,
                data: Pending::Proto(p),
            }) => convert(&mut self.store, &self.path, p, name, Some(user))?,
            Some(Value::Const {
                data: Pending::Tensor(t),
                ..
            }) => {
                charge_copy(&mut self.store, user, value, t)?;
                return Ok(Some(t.clone()));
            }
            Some(Value::Poisoned) | Some(Value::Alias(_)) | None => {
                return Err(undefined(user, value))
            }
        };
        if let Some(Value::Const { data, .. }) = self.values.get_mut(&key) {
            *data = Pending::Tensor(converted.clone());
        }
        Ok(Some(converted))
    }

    /// The type of an IR node added by this import.
    pub fn ty(&self, user: &Node, id: NodeId) -> Result<&TensorType, ImportError> {
        self.graph
            .get(id)
            .and_then(|n| n.ty.as_ref())
            .ok_or_else(|| user.err("an input has no type"))
    }

    /// Add an op node named after `user` (made unique). A type-inference error is reported
    /// under the ONNX node's name and op type, as the user finds them in the file.
    pub fn add(&mut self, user: &Node, op: Op, operands: &[NodeId]) -> Result<NodeId, ImportError> {
        let name = self.unique(&user.name);
        self.graph
            .add_node(name, op, operands)
            .map_err(|e| match e {
                IrError::Node { reason, .. } => user.err(reason),
                other => ImportError::ir(&self.path, other),
            })
    }

    /// Add an op node under an exact, already unique name.
    pub fn add_named(
        &mut self,
        name: String,
        op: Op,
        operands: &[NodeId],
    ) -> Result<NodeId, ImportError> {
        self.graph
            .add_node(name, op, operands)
            .map_err(|e| ImportError::ir(&self.path, e))
    }

    /// Add a constant computed by a converter (a negated subtrahend, say) named after `base`.
    pub fn add_const(&mut self, base: &str, t: Tensor) -> NodeId {
        let name = self.unique(base);
        self.graph.add_const(name, t)
    }

    /// Add graph output `value` under the name `name`. A constant output is added as a node
    /// first.
    pub fn add_output(&mut self, value: &str) -> Result<(), ImportError> {
        let key = self.resolve(value).ok_or_else(|| ImportError::Format {
            path: self.path.clone(),
            reason: format!("graph output `{value}` is not produced by any node"),
        })?;
        let id = match self.values.remove(&key) {
            Some(Value::Node(id)) => id,
            Some(Value::Const { name, data }) => {
                let t = match data {
                    Pending::Tensor(t) => t,
                    Pending::Proto(p) => convert(&mut self.store, &self.path, &p, &name, None)?,
                };
                let ir_name = self.unique(&name);
                self.graph.add_const(ir_name, t)
            }
            _ => {
                return Err(ImportError::Format {
                    path: self.path.clone(),
                    reason: format!("graph output `{value}` is not produced by any node"),
                })
            }
        };
        self.values.insert(key, Value::Node(id));
        let name = self.unique(value);
        self.graph
            .add_output(name, id)
            .map_err(|e| ImportError::ir(&self.path, e))?;
        Ok(())
    }
}

/// Convert a constant of the model at `path` and reject NaN/inf, blaming `user` when there is
/// one.
fn convert(
    store: &mut Store,
    path: &Path,
    p: &TensorProto,
    name: &str,
    user: Option<&Node>,
) -> Result<Tensor, ImportError> {
    let blame = |reason: String| match user {
        Some(n) => n.err(reason),
        None => ImportError::Format {
            path: path.to_path_buf(),
            reason,
        },
    };
    let t = tensor::to_tensor(p, name, store).map_err(blame)?;
    if let Some(i) = t.first_non_finite() {
        let v = t
            .as_f32()
            .and_then(|d| d.get(i))
            .copied()
            .unwrap_or(f32::NAN);
        let what = if v.is_nan() {
            "NaN"
        } else if v > 0.0 {
            "inf"
        } else {
            "-inf"
        };
        return Err(blame(format!(
            "weight `{name}` contains {what} at index {i}"
        )));
    }
    Ok(t)
}

/// Charge the copy of constant `value` that `user` reads.
fn charge_copy(store: &mut Store, user: &Node, value: &str, t: &Tensor) -> Result<(), ImportError> {
    let per = if t.dtype() == snnc_ir::DType::F32 {
        4
    } else {
        8
    };
    let bytes = (t.shape().iter().product::<usize>() as u64).saturating_mul(per);
    store.budget.charge(bytes).map_err(|e| {
        user.err(format!(
            "reading constant `{value}` ({}) would be {e}",
            human(bytes)
        ))
    })
}

fn undefined(user: &Node, value: &str) -> ImportError {
    user.err(format!(
        "input `{value}` is not produced by any earlier node, initializer or graph input"
    ))
}
