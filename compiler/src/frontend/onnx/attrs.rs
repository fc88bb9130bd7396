//! Typed access to a node's attributes, with errors that name the node and the attribute.
//!
//! An attribute whose `type` field disagrees with what the op expects is an error. Old exporters
//! leave `type` unset; then the field that holds the value decides.

use super::context::Node;
use super::proto::attribute_proto::AttributeType;
use super::proto::{AttributeProto, TensorProto};
use crate::ImportError;

impl Node {
    fn attr(&self, name: &str) -> Option<&AttributeProto> {
        self.proto.attribute.iter().find(|a| a.name == name)
    }

    /// The attribute `name` if present, after checking its declared type.
    fn typed_attr(
        &self,
        name: &str,
        want: AttributeType,
    ) -> Result<Option<&AttributeProto>, ImportError> {
        let Some(a) = self.attr(name) else {
            return Ok(None);
        };
        match AttributeType::try_from(a.r#type) {
            Ok(AttributeType::Undefined) => Ok(Some(a)),
            Ok(t) if t == want => Ok(Some(a)),
            Ok(t) => Err(self.err(format!(
                "attribute `{name}` is {}, expected {}",
                t.as_str_name(),
                want.as_str_name()
            ))),
            Err(_) => Err(self.err(format!("attribute `{name}` has an unknown type"))),
        }
    }

    /// An INT attribute.
    pub fn attr_int(&self, name: &str) -> Result<Option<i64>, ImportError> {
        Ok(self.typed_attr(name, AttributeType::Int)?.map(|a| a.i))
    }

    /// An INT attribute with its default.
    pub fn attr_int_or(&self, name: &str, default: i64) -> Result<i64, ImportError> {
        Ok(self.attr_int(name)?.unwrap_or(default))
    }

    /// An INT attribute used as a flag: only 0 and 1 are accepted.
    pub fn attr_bool_or(&self, name: &str, default: bool) -> Result<bool, ImportError> {
        match self.attr_int(name)? {
            None => Ok(default),
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            Some(v) => Err(self.err(format!("attribute `{name}` must be 0 or 1, got {v}"))),
        }
    }

    /// A FLOAT attribute.
    pub fn attr_float(&self, name: &str) -> Result<Option<f32>, ImportError> {
        Ok(self.typed_attr(name, AttributeType::Float)?.map(|a| a.f))
    }

    /// A FLOAT attribute with its default; it must be finite.
    pub fn attr_float_or(&self, name: &str, default: f32) -> Result<f32, ImportError> {
        let v = self.attr_float(name)?.unwrap_or(default);
        if !v.is_finite() {
            return Err(self.err(format!(
                "attribute `{name}` is {v}, expected a finite value"
            )));
        }
        Ok(v)
    }

    /// An INTS attribute.
    pub fn attr_ints(&self, name: &str) -> Result<Option<&[i64]>, ImportError> {
        Ok(self
            .typed_attr(name, AttributeType::Ints)?
            .map(|a| a.ints.as_slice()))
    }

    /// A FLOATS attribute.
    pub fn attr_floats(&self, name: &str) -> Result<Option<&[f32]>, ImportError> {
        Ok(self
            .typed_attr(name, AttributeType::Floats)?
            .map(|a| a.floats.as_slice()))
    }

    /// A STRING attribute (must be UTF-8).
    pub fn attr_string(&self, name: &str) -> Result<Option<String>, ImportError> {
        match self.typed_attr(name, AttributeType::String)? {
            None => Ok(None),
            Some(a) => std::str::from_utf8(&a.s)
                .map(|s| Some(s.to_string()))
                .map_err(|_| self.err(format!("attribute `{name}` is not UTF-8 text"))),
        }
    }

    /// Take a TENSOR attribute out of the node (it is not needed afterwards), avoiding a copy.
    pub fn take_attr_tensor(&mut self, name: &str) -> Result<Option<TensorProto>, ImportError> {
        if self.typed_attr(name, AttributeType::Tensor)?.is_none() {
            return Ok(None);
        }
        let a = self.proto.attribute.iter_mut().find(|a| a.name == name);
        match a.and_then(|a| a.t.take()) {
            Some(t) => Ok(Some(t)),
            None => Err(self.err(format!("attribute `{name}` has no tensor value"))),
        }
    }

    /// True when the node carries attribute `name` at all.
    pub fn has_attr(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }

    /// An INTS attribute of spatial rank `s` as positive sizes (strides, dilations, kernel), or
    /// `default` repeated when absent.
    pub fn attr_sizes(
        &self,
        name: &str,
        s: usize,
        default: usize,
    ) -> Result<Vec<usize>, ImportError> {
        match self.attr_ints(name)? {
            None => Ok(vec![default; s]),
            Some(v) if v.len() != s => Err(self.err(format!(
                "attribute `{name}` has {} values, expected {s} (one per spatial axis)",
                v.len()
            ))),
            Some(v) => {
                v.iter()
                    .map(|x| {
                        usize::try_from(*x).ok().filter(|x| *x >= 1).ok_or_else(|| {
                            self.err(format!("attribute `{name}` has a value {x} < 1"))
                        })
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::proto::NodeProto;
    use super::*;

    fn node(attrs: Vec<AttributeProto>) -> Node {
        Node {
            proto: NodeProto {
                attribute: attrs,
                ..Default::default()
            },
            name: "n".into(),
            op_type: "Op".into(),
            path: PathBuf::from("m.onnx"),
        }
    }

    fn int(name: &str, v: i64) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: AttributeType::Int as i32,
            i: v,
            ..Default::default()
        }
    }

    #[test]
    fn typed_lookup_and_defaults() {
        let n = node(vec![int("group", 2), int("flag", 3)]);
        assert_eq!(n.attr_int_or("group", 1).unwrap(), 2);
        assert_eq!(n.attr_int_or("missing", 7).unwrap(), 7);
        let e = n.attr_bool_or("flag", false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "m.onnx: node `n` (Op): attribute `flag` must be 0 or 1, got 3"
        );
        let e = n.attr_ints("group").unwrap_err();
        assert!(e
            .to_string()
            .contains("attribute `group` is INT, expected INTS"));
    }

    #[test]
    fn sizes_checked() {
        let ints = |v: Vec<i64>| AttributeProto {
            name: "strides".into(),
            r#type: AttributeType::Ints as i32,
            ints: v,
            ..Default::default()
        };
        assert_eq!(
            node(vec![ints(vec![2, 3])])
                .attr_sizes("strides", 2, 1)
                .unwrap(),
            [2, 3]
        );
        assert_eq!(node(vec![]).attr_sizes("strides", 2, 1).unwrap(), [1, 1]);
        assert!(node(vec![ints(vec![2])])
            .attr_sizes("strides", 2, 1)
            .is_err());
        assert!(node(vec![ints(vec![0, 1])])
            .attr_sizes("strides", 2, 1)
            .is_err());
    }
}
