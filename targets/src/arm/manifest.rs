//! `manifest.json` of an ARM artifact: what `snnc run` needs to feed and read the compiled
//! model (ports with dtypes and storage sizes, whether it steps), and what it cost (memory per
//! kernel, which kernels are float). No timestamps or paths: the same compile gives the same
//! bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::plan::{reads_writes, Kernel, Plan};

/// The artifact format this version writes and reads.
pub const FORMAT: &str = "snnc-arm/1";

/// One input or output of the compiled model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortInfo {
    pub name: String,
    /// Dtype name as in the IR text (`f32`, `u8`, `bool`, `bin`, ...).
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Bytes of one step's buffer in the storage format.
    pub bytes: usize,
}

/// One kernel of the compiled model, in execution order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelInfo {
    /// Kernel kind (`dense_bin`, `conv2d_int`, ...).
    pub kind: String,
    /// The IR node whose value it writes.
    pub node: String,
    /// Whether it computes in float (reported: DESIGN.md §4 asks that float work is visible).
    pub float: bool,
}

/// Everything `snnc run` reads from an ARM artifact directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmManifest {
    pub format: String,
    pub target: String,
    pub snnc_version: String,
    pub model: String,
    pub model_digest: String,
    pub flags: BTreeMap<String, String>,
    pub stateful: bool,
    pub inputs: Vec<PortInfo>,
    pub outputs: Vec<PortInfo>,
    pub arena_bytes: usize,
    pub state_bytes: usize,
    pub kernels: Vec<KernelInfo>,
    /// The backend's memory report (flash/RAM, per kernel).
    pub memory: serde_json::Value,
    /// Files of the artifact besides the manifest.
    pub files: Vec<String>,
}

/// Ports and kernels of `plan` as the manifest lists them.
pub fn describe(plan: &Plan) -> (Vec<PortInfo>, Vec<PortInfo>, Vec<KernelInfo>) {
    let port = |p: &super::plan::Port| {
        let v = &plan.values[p.value];
        PortInfo {
            name: p.name.clone(),
            dtype: v.dtype.name().to_string(),
            shape: v.shape.clone(),
            bytes: v.bytes(),
        }
    };
    let kernels = plan
        .kernels
        .iter()
        .map(|k| {
            let (reads, y) = reads_writes(k);
            let is_f32 = |v: usize| plan.values[v].dtype == snnc_ir::DType::F32;
            // Quantize/Dequantize convert at the float boundary; any other kernel with a float
            // operand computes in float.
            let float = match k {
                Kernel::Quantize { .. } | Kernel::Dequantize { .. } | Kernel::Copy { .. } => false,
                _ => is_f32(y) || reads.iter().any(|&r| is_f32(r)),
            };
            KernelInfo {
                kind: k.kind().to_string(),
                node: plan.values[y].name.clone(),
                float,
            }
        })
        .collect();
    (
        plan.inputs.iter().map(port).collect(),
        plan.outputs.iter().map(port).collect(),
        kernels,
    )
}
