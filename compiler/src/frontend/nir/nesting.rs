//! Nested NIR graphs flattened into one graph.
//!
//! A node of type `NIRGraph` holds its own nodes and edges; its Input and Output nodes are the
//! ports through which outer edges enter and leave. Flattening gives every inner node the
//! qualified name `outer.inner`, turns the inner Input/Output nodes (and NIR `Identity` nodes)
//! into pass-throughs, and then removes every pass-through by connecting each of its sources to
//! each of its targets. Because NIR sums all edges that enter a node, this keeps the meaning.
//!
//! An outer edge names a nested graph either as `sub` (allowed when `sub` has exactly one Input,
//! or one Output when it is the edge's source) or by port as `sub.port`; dotted names reach into
//! deeper levels the same way.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{qualify, NirGraph};
use super::prim::{parse, Prim};
use super::{Fail, ImportOptions};

/// Most edges the flat graph may have; pass-through removal multiplies edges, and a hostile file
/// could otherwise make it explode.
const MAX_EDGES: usize = 1_000_000;

/// One node of the flattened graph.
#[derive(Clone, PartialEq, Debug)]
pub struct FlatNode {
    /// Qualified name (`outer.inner`).
    pub name: String,
    /// The NIR type, for errors.
    pub kind: String,
    pub prim: Prim,
}

/// The whole model as one graph: no nested graphs, no pass-throughs. Edges are sorted, so the
/// graph does not depend on the order edges are listed in the file.
#[derive(Clone, PartialEq, Debug)]
pub struct FlatGraph {
    pub nodes: Vec<FlatNode>,
    pub edges: Vec<(usize, usize)>,
}

/// What an edge can name at one graph level.
#[derive(Default)]
struct Scope {
    leaves: BTreeMap<String, usize>,
    subs: BTreeMap<String, Scope>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Source,
    Target,
}

/// Flatten `doc` (the root graph) and check every node's parameters.
pub fn flatten(doc: &NirGraph, opts: &ImportOptions) -> Result<FlatGraph, Fail> {
    let mut flat = FlatGraph {
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    add_graph(doc, "", opts, &mut flat)?;
    let mut seen = BTreeSet::new();
    for n in &flat.nodes {
        if !seen.insert(n.name.as_str()) {
            return Err(Fail::Format(format!(
                "two nodes are named `{}` once nested graphs are flattened",
                n.name
            )));
        }
    }
    remove_pass_throughs(&mut flat)?;
    Ok(flat)
}

fn add_graph(
    g: &NirGraph,
    prefix: &str,
    opts: &ImportOptions,
    flat: &mut FlatGraph,
) -> Result<Scope, Fail> {
    let top = prefix.is_empty();
    let mut scope = Scope::default();
    for (name, node) in &g.nodes {
        let qualified = qualify(prefix, name);
        if let Some(sub) = &node.sub {
            let inner = add_graph(sub, &qualified, opts, flat)?;
            scope.subs.insert(name.clone(), inner);
            continue;
        }
        let mut prim = parse(node, &qualified, opts)?;
        let idx = flat.nodes.len();
        match prim {
            Prim::Input { .. } => scope.inputs.push(idx),
            Prim::Output { .. } => scope.outputs.push(idx),
            _ => {}
        }
        if !top && matches!(prim, Prim::Input { .. } | Prim::Output { .. }) {
            prim = Prim::Identity;
        }
        flat.nodes.push(FlatNode {
            name: qualified,
            kind: node.kind.clone(),
            prim,
        });
        scope.leaves.insert(name.clone(), idx);
    }
    for (a, b) in &g.edges {
        let src = resolve(&scope, a, Role::Source);
        let dst = resolve(&scope, b, Role::Target);
        match (src, dst) {
            (Ok(s), Ok(d)) => flat.edges.push((s, d)),
            (Err(e), _) | (_, Err(e)) => {
                let where_ = if top {
                    String::new()
                } else {
                    format!("in graph `{prefix}`, ")
                };
                return Err(Fail::Format(format!("{where_}edge ({a}, {b}): {e}")));
            }
        }
    }
    Ok(scope)
}

/// The flat node an edge endpoint names.
fn resolve(scope: &Scope, name: &str, role: Role) -> Result<usize, String> {
    if let Some(i) = scope.leaves.get(name) {
        return Ok(*i);
    }
    if let Some(sub) = scope.subs.get(name) {
        let (ports, what) = match role {
            Role::Target => (&sub.inputs, "Input"),
            Role::Source => (&sub.outputs, "Output"),
        };
        return match ports.as_slice() {
            [only] => Ok(*only),
            _ => Err(format!(
                "graph `{name}` has {} {what} nodes; name one as `{name}.<node>`",
                ports.len()
            )),
        };
    }
    for (i, _) in name.match_indices('.') {
        if let Some(sub) = scope.subs.get(&name[..i]) {
            if let Ok(idx) = resolve(sub, &name[i + 1..], role) {
                return Ok(idx);
            }
        }
    }
    Err(format!("there is no node `{name}`"))
}

/// Replace every pass-through node by edges from each of its sources to each of its targets,
/// then renumber the remaining nodes (keeping their order) and sort the edges.
fn remove_pass_throughs(flat: &mut FlatGraph) -> Result<(), Fail> {
    let mut edges = std::mem::take(&mut flat.edges);
    for k in 0..flat.nodes.len() {
        if flat.nodes[k].prim != Prim::Identity {
            continue;
        }
        let ins: Vec<usize> = edges
            .iter()
            .filter(|(s, d)| *d == k && *s != k)
            .map(|(s, _)| *s)
            .collect();
        let outs: Vec<usize> = edges
            .iter()
            .filter(|(s, d)| *s == k && *d != k)
            .map(|(_, d)| *d)
            .collect();
        edges.retain(|(s, d)| *s != k && *d != k);
        if edges
            .len()
            .saturating_add(ins.len().saturating_mul(outs.len()))
            > MAX_EDGES
        {
            return Err(Fail::Format(format!(
                "more than {MAX_EDGES} edges once nested graphs are flattened"
            )));
        }
        for s in &ins {
            for t in &outs {
                edges.push((*s, *t));
            }
        }
    }
    let mut new_index = vec![usize::MAX; flat.nodes.len()];
    let mut kept = Vec::new();
    for (i, n) in std::mem::take(&mut flat.nodes).into_iter().enumerate() {
        if n.prim != Prim::Identity {
            new_index[i] = kept.len();
            kept.push(n);
        }
    }
    flat.nodes = kept;
    flat.edges = edges
        .into_iter()
        .map(|(s, d)| (new_index[s], new_index[d]))
        .collect();
    flat.edges.sort_unstable();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::hdf5::RawValue;
    use super::super::model::NirNode;
    use super::*;

    fn leaf(kind: &str, params: Vec<(&str, RawValue)>) -> NirNode {
        NirNode {
            kind: kind.into(),
            params: params
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            sub: None,
        }
    }

    fn shape1(n: i64) -> Vec<(&'static str, RawValue)> {
        vec![(
            "shape",
            RawValue::Int {
                shape: vec![1],
                data: vec![n],
            },
        )]
    }

    fn scale() -> NirNode {
        leaf(
            "Scale",
            vec![(
                "scale",
                RawValue::Float {
                    shape: vec![],
                    data: vec![2.0],
                },
            )],
        )
    }

    fn graph(nodes: Vec<(&str, NirNode)>, edges: &[(&str, &str)]) -> NirGraph {
        NirGraph {
            nodes: nodes.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            edges: edges
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    fn sub_node(g: NirGraph) -> NirNode {
        NirNode {
            kind: "NIRGraph".into(),
            params: BTreeMap::new(),
            sub: Some(g),
        }
    }

    fn names(f: &FlatGraph) -> Vec<&str> {
        f.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    fn named_edges(f: &FlatGraph) -> Vec<(String, String)> {
        f.edges
            .iter()
            .map(|(s, d)| (f.nodes[*s].name.clone(), f.nodes[*d].name.clone()))
            .collect()
    }

    fn inner() -> NirGraph {
        graph(
            vec![
                ("i", leaf("Input", shape1(3))),
                ("s", scale()),
                ("o", leaf("Output", shape1(3))),
            ],
            &[("i", "s"), ("s", "o")],
        )
    }

    #[test]
    fn nested_ports_become_edges() {
        let doc = graph(
            vec![
                ("in", leaf("Input", shape1(3))),
                ("sub", sub_node(inner())),
                (
                    "deep",
                    sub_node(graph(vec![("sub2", sub_node(inner()))], &[])),
                ),
                ("out", leaf("Output", shape1(3))),
            ],
            &[("in", "sub"), ("sub", "deep.sub2.i"), ("deep.sub2", "out")],
        );
        let f = flatten(&doc, &ImportOptions::default()).unwrap();
        assert_eq!(names(&f), vec!["deep.sub2.s", "in", "out", "sub.s"]);
        assert_eq!(
            named_edges(&f),
            vec![
                ("deep.sub2.s".into(), "out".into()),
                ("in".into(), "sub.s".into()),
                ("sub.s".into(), "deep.sub2.s".into()),
            ]
        );
    }

    #[test]
    fn bad_endpoints_are_reported() {
        let two_inputs = graph(
            vec![
                ("a", leaf("Input", shape1(3))),
                ("b", leaf("Input", shape1(3))),
                ("o", leaf("Output", shape1(3))),
            ],
            &[("a", "o"), ("b", "o")],
        );
        let doc = graph(
            vec![
                ("in", leaf("Input", shape1(3))),
                ("sub", sub_node(two_inputs)),
            ],
            &[("in", "sub")],
        );
        match flatten(&doc, &ImportOptions::default()) {
            Err(Fail::Format(reason)) => assert!(reason.contains("2 Input nodes"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let doc = graph(vec![("in", leaf("Input", shape1(3)))], &[("in", "ghost")]);
        match flatten(&doc, &ImportOptions::default()) {
            Err(Fail::Format(reason)) => assert!(reason.contains("`ghost`"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pass_through_fan_in_and_fan_out_multiply_out() {
        let doc = graph(
            vec![
                ("a", scale()),
                ("b", scale()),
                ("id", leaf("Identity", vec![])),
                ("c", scale()),
                ("d", scale()),
            ],
            &[
                ("a", "id"),
                ("b", "id"),
                ("id", "c"),
                ("id", "d"),
                ("id", "id"),
            ],
        );
        let f = flatten(&doc, &ImportOptions::default()).unwrap();
        assert_eq!(names(&f), vec!["a", "b", "c", "d"]);
        assert_eq!(f.edges, vec![(0, 2), (0, 3), (1, 2), (1, 3)]);
    }
}
