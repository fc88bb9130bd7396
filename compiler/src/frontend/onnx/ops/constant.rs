//! The Constant op.

use super::Out;
use crate::frontend::onnx::context::{Ctx, Node};
use crate::frontend::onnx::proto::tensor_proto::DataType;
use crate::frontend::onnx::proto::TensorProto;
use crate::ImportError;

/// [Constant](https://onnx.ai/onnx/operators/onnx__Constant.html), opsets 13–21: exactly one
/// of `value` (a tensor), `value_float(s)`, `value_int(s)`. String and sparse values are not
/// supported. The value becomes a constant added when first used.
pub(super) fn constant(_cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    n.check_inputs(0, 0)?;
    let kinds = [
        "value",
        "value_float",
        "value_floats",
        "value_int",
        "value_ints",
    ];
    let given: Vec<&str> = kinds.iter().copied().filter(|k| n.has_attr(k)).collect();
    for other in ["value_string", "value_strings", "sparse_value"] {
        if n.has_attr(other) {
            return Err(n.err(format!("attribute `{other}` is not supported")));
        }
    }
    if given.len() != 1 {
        return Err(n.err(format!(
            "needs exactly one value attribute, got {}",
            given.len()
        )));
    }
    let t = match given[0] {
        "value" => n
            .take_attr_tensor("value")?
            .ok_or_else(|| n.err("attribute `value` is missing"))?,
        "value_float" => floats(vec![], n.attr_float("value_float")?.unwrap_or(0.0)),
        "value_floats" => {
            let v = n.attr_floats("value_floats")?.unwrap_or(&[]).to_vec();
            TensorProto {
                dims: vec![v.len() as i64],
                data_type: DataType::Float as i32,
                float_data: v,
                ..Default::default()
            }
        }
        "value_int" => ints(vec![], vec![n.attr_int("value_int")?.unwrap_or(0)]),
        _ => {
            let v = n.attr_ints("value_ints")?.unwrap_or(&[]).to_vec();
            ints(vec![v.len() as i64], v)
        }
    };
    Ok(Out::Const(Box::new(t)))
}

fn floats(dims: Vec<i64>, v: f32) -> TensorProto {
    TensorProto {
        dims,
        data_type: DataType::Float as i32,
        float_data: vec![v],
        ..Default::default()
    }
}

fn ints(dims: Vec<i64>, v: Vec<i64>) -> TensorProto {
    TensorProto {
        dims,
        data_type: DataType::Int64 as i32,
        int64_data: v,
        ..Default::default()
    }
}
