//! Names for the nodes the SNN passes add: node names are how users find nodes in errors and
//! reports, so they must stay unique (the verifier insists).

use snnc_ir::Graph;

/// `base`, or `base.1`, `base.2`, …: the first name no node of `g` has.
pub fn unique_name(g: &Graph, base: &str) -> String {
    let taken = |n: &str| g.node_ids().iter().any(|id| g.node(*id).name == n);
    if !taken(base) {
        return base.to_string();
    }
    (1..)
        .map(|i| format!("{base}.{i}"))
        .find(|n| !taken(n))
        .unwrap_or_else(|| base.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::TensorType;

    #[test]
    fn appends_the_first_free_suffix() {
        let mut g = Graph::new("t");
        g.add_input("x", TensorType::f32(vec![1]));
        g.add_input("x.1", TensorType::f32(vec![1]));
        assert_eq!(unique_name(&g, "y"), "y");
        assert_eq!(unique_name(&g, "x"), "x.2");
    }
}
