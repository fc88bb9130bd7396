//! The NIR document: graphs of typed nodes and named edges, as the HDF5 tree stores them.
//!
//! Layout written by `nir.write` (NIR 1.x): a root group `node` that is a `NIRGraph`; a graph
//! group holds a `type` string, a group `nodes` with one group per node and a dataset `edges`
//! of `(source, target)` name pairs (an `[E, 2]` string array). A node group holds its `type`
//! string and one dataset per parameter; a node whose type is `NIRGraph` is itself a graph.

use std::collections::BTreeMap;

use super::hdf5::{RawGroup, RawValue};
use super::Fail;

/// The NIR type strings this frontend maps to the IR (`NIRGraph` aside). `I` and `Integrator`
/// are the same primitive; `Identity` is the pass-through node of the NIR Python library.
pub const KNOWN_TYPES: &[&str] = &[
    "Input",
    "Output",
    "Identity",
    "Affine",
    "Linear",
    "Conv1d",
    "Conv2d",
    "SumPool2d",
    "AvgPool2d",
    "Flatten",
    "Scale",
    "Threshold",
    "LIF",
    "CubaLIF",
    "IF",
    "LI",
    "I",
    "Integrator",
    "Delay",
];

/// One graph level: its nodes by name (sorted) and its edges in file order.
#[derive(Clone, PartialEq, Debug)]
pub struct NirGraph {
    pub nodes: BTreeMap<String, NirNode>,
    pub edges: Vec<(String, String)>,
}

/// One node: its NIR type, its parameter datasets, and its body when it is a nested graph.
#[derive(Clone, PartialEq, Debug)]
pub struct NirNode {
    pub kind: String,
    pub params: BTreeMap<String, RawValue>,
    pub sub: Option<NirGraph>,
}

/// The NIR graph of a file: the group `node` under the root.
pub fn read_document(root: &RawGroup) -> Result<NirGraph, Fail> {
    let node = root
        .groups
        .get("node")
        .ok_or_else(|| Fail::Format("no group `node`: this HDF5 file is not a NIR graph".into()))?;
    let kind = read_type(node).map_err(|e| Fail::Format(format!("group `node`: {e}")))?;
    if kind != "NIRGraph" {
        return Err(Fail::Format(format!(
            "the root node has type `{kind}`, expected `NIRGraph`"
        )));
    }
    read_graph(node, "")
}

/// The `type` string of a node group.
fn read_type(g: &RawGroup) -> Result<String, String> {
    match g.datasets.get("type") {
        Some(RawValue::Str { data, .. }) if data.len() == 1 => Ok(data[0].trim().to_string()),
        Some(RawValue::Unreadable(e)) => Err(format!("cannot read `type`: {e}")),
        Some(_) => Err("`type` is not a single string".into()),
        None => Err("no `type` dataset".into()),
    }
}

/// `prefix` is the qualified name of the graph node (`""` at the root), used in errors.
fn read_graph(g: &RawGroup, prefix: &str) -> Result<NirGraph, Fail> {
    let where_ = if prefix.is_empty() {
        "the root graph".to_string()
    } else {
        format!("graph `{prefix}`")
    };
    let nodes_group = g
        .groups
        .get("nodes")
        .ok_or_else(|| Fail::Format(format!("{where_} has no group `nodes`")))?;
    let edges = read_edges(g).map_err(|e| Fail::Format(format!("{where_}: {e}")))?;
    let mut nodes = BTreeMap::new();
    for (name, ng) in &nodes_group.groups {
        let qualified = qualify(prefix, name);
        let kind = read_type(ng).map_err(|reason| Fail::Node {
            node: qualified.clone(),
            op: "?".into(),
            reason,
        })?;
        let sub = if kind == "NIRGraph" {
            Some(read_graph(ng, &qualified)?)
        } else {
            None
        };
        let mut params = ng.datasets.clone();
        params.remove("type");
        nodes.insert(name.clone(), NirNode { kind, params, sub });
    }
    Ok(NirGraph { nodes, edges })
}

/// `outer.inner`: the name a nested node gets in the flat IR graph.
pub fn qualify(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn read_edges(g: &RawGroup) -> Result<Vec<(String, String)>, String> {
    let value = g.datasets.get("edges").ok_or("no `edges` dataset")?;
    match value {
        RawValue::Str { shape, data } => {
            if data.is_empty() {
                return Ok(Vec::new());
            }
            if shape.len() != 2 || shape[1] != 2 {
                return Err(format!("`edges` has shape {shape:?}, expected [E, 2]"));
            }
            Ok(data
                .chunks_exact(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect())
        }
        // An empty edge list is written as an empty numeric array.
        RawValue::Float { data, .. } if data.is_empty() => Ok(Vec::new()),
        RawValue::Int { data, .. } if data.is_empty() => Ok(Vec::new()),
        RawValue::Unreadable(e) => Err(format!("cannot read `edges`: {e}")),
        _ => Err("`edges` is not an array of node names".into()),
    }
}

/// Every node whose type this frontend does not know, as (qualified name, type), in name order,
/// nested graphs included.
pub fn unsupported(g: &NirGraph, prefix: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, node) in &g.nodes {
        let qualified = qualify(prefix, name);
        match &node.sub {
            Some(sub) => out.extend(unsupported(sub, &qualified)),
            None if !KNOWN_TYPES.contains(&node.kind.as_str()) => {
                out.push((qualified, node.kind.clone()))
            }
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> RawValue {
        RawValue::Str {
            shape: vec![],
            data: vec![v.into()],
        }
    }

    fn node(kind: &str) -> RawGroup {
        let mut g = RawGroup::default();
        g.datasets.insert("type".into(), s(kind));
        g
    }

    fn graph(nodes: Vec<(&str, RawGroup)>, edges: &[(&str, &str)]) -> RawGroup {
        let mut g = node("NIRGraph");
        let mut ns = RawGroup::default();
        for (n, ng) in nodes {
            ns.groups.insert(n.into(), ng);
        }
        g.groups.insert("nodes".into(), ns);
        let data: Vec<String> = edges
            .iter()
            .flat_map(|(a, b)| [a.to_string(), b.to_string()])
            .collect();
        g.datasets.insert(
            "edges".into(),
            RawValue::Str {
                shape: vec![edges.len(), 2],
                data,
            },
        );
        g
    }

    fn root(g: RawGroup) -> RawGroup {
        let mut r = RawGroup::default();
        r.groups.insert("node".into(), g);
        r
    }

    #[test]
    fn reads_nested_graphs_and_lists_unknown_types() {
        let inner = graph(
            vec![
                ("in", node("Input")),
                ("x", node("Spooky")),
                ("out", node("Output")),
            ],
            &[("in", "x"), ("x", "out")],
        );
        let g = graph(
            vec![("a", node("Input")), ("sub", inner), ("z", node("CubaLI"))],
            &[("a", "sub")],
        );
        let doc = read_document(&root(g)).unwrap();
        assert_eq!(doc.edges, vec![("a".to_string(), "sub".to_string())]);
        let sub = doc.nodes["sub"].sub.as_ref().unwrap();
        assert_eq!(sub.nodes["x"].kind, "Spooky");
        assert_eq!(
            unsupported(&doc, ""),
            vec![
                ("sub.x".to_string(), "Spooky".to_string()),
                ("z".to_string(), "CubaLI".to_string())
            ]
        );
    }

    #[test]
    fn malformed_documents_are_format_errors() {
        assert!(matches!(
            read_document(&RawGroup::default()),
            Err(Fail::Format(_))
        ));
        assert!(matches!(
            read_document(&root(node("LIF"))),
            Err(Fail::Format(_))
        ));
        let mut g = graph(vec![], &[]);
        g.datasets.insert(
            "edges".into(),
            RawValue::Str {
                shape: vec![3],
                data: vec!["a".into(), "b".into(), "c".into()],
            },
        );
        assert!(matches!(read_document(&root(g)), Err(Fail::Format(_))));
        let mut untyped = graph(vec![("n", RawGroup::default())], &[]);
        untyped.datasets.remove("type");
        assert!(matches!(
            read_document(&root(untyped)),
            Err(Fail::Format(_))
        ));
        let missing_type = graph(vec![("n", RawGroup::default())], &[]);
        match read_document(&root(missing_type)) {
            Err(Fail::Node { node, .. }) => assert_eq!(node, "n"),
            other => panic!("{other:?}"),
        }
    }
}
