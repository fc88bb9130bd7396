//! Convolution (1-D and 2-D).

/// ONNX Conv attributes with every default made explicit. The spatial rank `s` is the weight's
/// rank minus 2; `stride` and `dilation` have `s` entries, `pads` has `2·s` (all begins, then all
/// ends, as ONNX orders them).
#[derive(Clone, PartialEq, Debug)]
pub struct Conv {
    pub stride: Vec<usize>,
    pub pads: Vec<usize>,
    pub dilation: Vec<usize>,
    pub groups: usize,
}
