//! `auto_pad` and `pads` of Conv and the pooling ops, resolved to explicit pads.

use crate::frontend::onnx::context::Node;
use crate::ImportError;

/// Window geometry along the spatial axes.
pub(super) struct Window<'a> {
    /// The input's spatial sizes (its trailing axes).
    pub input: &'a [usize],
    pub kernel: &'a [usize],
    pub stride: &'a [usize],
    pub dilation: &'a [usize],
}

/// Explicit pads (all begins, then all ends) from the node's `auto_pad` and `pads`:
/// NOTSET uses `pads` (default 0), VALID pads nothing, SAME_UPPER / SAME_LOWER pad so that the
/// output has `ceil(input / stride)` positions, the odd extra pad at the end (UPPER) or at the
/// beginning (LOWER).
pub(super) fn resolve_pads(n: &Node, w: &Window) -> Result<Vec<usize>, ImportError> {
    let s = w.kernel.len();
    let mode = n
        .attr_string("auto_pad")?
        .unwrap_or_else(|| "NOTSET".into());
    match mode.as_str() {
        "NOTSET" | "" => explicit(n, s),
        "VALID" => Ok(vec![0; 2 * s]),
        "SAME_UPPER" | "SAME_LOWER" => {
            let upper = mode == "SAME_UPPER";
            let mut begins = Vec::with_capacity(s);
            let mut ends = Vec::with_capacity(s);
            for i in 0..s {
                let total =
                    same_total(w, i).ok_or_else(|| n.err("the padding for auto_pad overflows"))?;
                let (small, big) = (total / 2, total - total / 2);
                let (b, e) = if upper { (small, big) } else { (big, small) };
                begins.push(b);
                ends.push(e);
            }
            begins.extend(ends);
            Ok(begins)
        }
        other => Err(n.err(format!(
            "attribute `auto_pad` is `{other}`, expected NOTSET, VALID, SAME_UPPER or SAME_LOWER"
        ))),
    }
}

/// Total padding along axis `i` for SAME: `max(0, (ceil(in/stride) − 1)·stride + span − in)`.
fn same_total(w: &Window, i: usize) -> Option<usize> {
    let (len, k, st, d) = (
        *w.input.get(i)?,
        *w.kernel.get(i)?,
        *w.stride.get(i)?,
        *w.dilation.get(i)?,
    );
    let span = k.checked_sub(1)?.checked_mul(d)?.checked_add(1)?;
    let out = len.div_ceil(st.max(1));
    let need = out.saturating_sub(1).checked_mul(st)?.checked_add(span)?;
    Some(need.saturating_sub(len))
}

fn explicit(n: &Node, s: usize) -> Result<Vec<usize>, ImportError> {
    match n.attr_ints("pads")? {
        None => Ok(vec![0; 2 * s]),
        Some(p) if p.len() != 2 * s => Err(n.err(format!(
            "attribute `pads` has {} values, expected {} (begin and end per spatial axis)",
            p.len(),
            2 * s
        ))),
        Some(p) => p
            .iter()
            .map(|x| {
                usize::try_from(*x)
                    .map_err(|_| n.err(format!("attribute `pads` has a negative value {x}")))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::frontend::onnx::proto::{attribute_proto::AttributeType, AttributeProto, NodeProto};

    fn node(auto_pad: &str) -> Node {
        Node {
            proto: NodeProto {
                attribute: vec![AttributeProto {
                    name: "auto_pad".into(),
                    r#type: AttributeType::String as i32,
                    s: auto_pad.as_bytes().to_vec().into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            name: "c".into(),
            op_type: "Conv".into(),
            path: PathBuf::from("m.onnx"),
        }
    }

    #[test]
    fn same_padding() {
        // 5 wide, kernel 2, stride 2: 3 outputs need 6 inputs, one pad.
        let w = Window {
            input: &[5, 4],
            kernel: &[2, 3],
            stride: &[2, 1],
            dilation: &[1, 1],
        };
        assert_eq!(resolve_pads(&node("SAME_UPPER"), &w).unwrap(), [0, 1, 1, 1]);
        assert_eq!(resolve_pads(&node("SAME_LOWER"), &w).unwrap(), [1, 1, 0, 1]);
        assert_eq!(resolve_pads(&node("VALID"), &w).unwrap(), [0, 0, 0, 0]);
        assert!(resolve_pads(&node("SAME"), &w).is_err());
        // Dilation 2 widens a 3-tap kernel to 5: 4 pads around a stride-1 axis.
        let w = Window {
            input: &[6],
            kernel: &[3],
            stride: &[1],
            dilation: &[2],
        };
        assert_eq!(resolve_pads(&node("SAME_UPPER"), &w).unwrap(), [2, 2]);
    }
}
