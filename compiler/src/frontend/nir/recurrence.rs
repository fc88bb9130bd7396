//! Which edges of a NIR graph close a cycle.
//!
//! NIR graphs may be cyclic (recurrent layers); the IR needs every cycle broken by an edge
//! marked recurrent, whose value arrives one step later (DESIGN.md §2). The choice must not
//! depend on the order edges are listed in the file, so it is made by a depth-first search that
//! starts from the graph inputs in name order, then from every other unvisited node in name
//! order, and follows a node's outgoing edges in the name order of their targets. An edge to a
//! node still on the search stack is recurrent; no other edge is. In a feed-forward graph no
//! edge is recurrent; a self-loop always is.

/// `rec[i]` is true when `edges[i]` is recurrent. `names[n]` is node n's name; `inputs` are the
/// graph input nodes (searched first). Iterative, so deep graphs cannot overflow the stack.
pub fn recurrent_edges(names: &[String], inputs: &[usize], edges: &[(usize, usize)]) -> Vec<bool> {
    let n = names.len();
    let mut adj: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (e, (s, d)) in edges.iter().enumerate() {
        adj[*s].push((*d, e));
    }
    for a in &mut adj {
        a.sort_by(|x, y| names[x.0].cmp(&names[y.0]).then(x.1.cmp(&y.1)));
    }
    let by_name = |v: &mut Vec<usize>| v.sort_by(|a, b| names[*a].cmp(&names[*b]));
    let mut roots = inputs.to_vec();
    by_name(&mut roots);
    let mut rest: Vec<usize> = (0..n).collect();
    by_name(&mut rest);
    roots.extend(rest);

    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        OnStack,
        Done,
    }
    let mut state = vec![State::New; n];
    let mut rec = vec![false; edges.len()];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for r in roots {
        if state[r] != State::New {
            continue;
        }
        state[r] = State::OnStack;
        stack.push((r, 0));
        while let Some(top) = stack.last_mut() {
            let (u, pos) = *top;
            match adj[u].get(pos) {
                Some(&(v, e)) => {
                    top.1 += 1;
                    match state[v] {
                        State::New => {
                            state[v] = State::OnStack;
                            stack.push((v, 0));
                        }
                        State::OnStack => rec[e] = true,
                        State::Done => {}
                    }
                }
                None => {
                    state[u] = State::Done;
                    stack.pop();
                }
            }
        }
    }
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// The recurrent edges as (source, target) names, sorted.
    fn marked(ns: &[String], inputs: &[usize], edges: &[(usize, usize)]) -> Vec<(String, String)> {
        let rec = recurrent_edges(ns, inputs, edges);
        let mut v: Vec<(String, String)> = edges
            .iter()
            .zip(rec)
            .filter(|(_, r)| *r)
            .map(|((s, d), _)| (ns[*s].clone(), ns[*d].clone()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn feed_forward_has_no_recurrent_edge() {
        let ns = names(&["in", "a", "b", "out"]);
        let edges = [(0, 1), (1, 2), (2, 3), (0, 2)];
        assert!(recurrent_edges(&ns, &[0], &edges).iter().all(|r| !r));
    }

    #[test]
    fn the_back_edge_is_recurrent_whatever_the_edge_order() {
        // in → lin → lif → out, lif → lin (recurrent), lif → lif (self-loop).
        let ns = names(&["in", "lin", "lif", "out"]);
        let mut edges = vec![(0, 1), (1, 2), (2, 3), (2, 1), (2, 2)];
        let want = vec![
            ("lif".to_string(), "lif".to_string()),
            ("lif".to_string(), "lin".to_string()),
        ];
        assert_eq!(marked(&ns, &[0], &edges), want);
        edges.reverse();
        assert_eq!(marked(&ns, &[0], &edges), want);
        edges.swap(0, 3);
        assert_eq!(marked(&ns, &[0], &edges), want);
    }

    #[test]
    fn cycles_unreachable_from_inputs_are_broken_too() {
        let ns = names(&["in", "x", "y"]);
        let edges = [(1, 2), (2, 1)];
        // Search starts at `x` (name order), so y → x closes the cycle.
        assert_eq!(
            marked(&ns, &[0], &edges),
            vec![("y".to_string(), "x".to_string())]
        );
    }
}
