//! `reset-mode`: set what every spiking neuron does after a spike.
//!
//! NIR leaves the reset open (reset to `v_reset` or subtract the threshold) and hardware differs,
//! so it is a compile option: `reset-mode=to-value` (the default, NIR's definition) or
//! `reset-mode=subtract`. The pass rewrites the `reset` attribute of every `lif`, `cuba_lif`,
//! `if` and `int_lif`, so the reference interpreter and every target run the same mode.

use snnc_ir::op::ResetMode;
use snnc_ir::{Graph, Op};

use crate::passes::{PassArgs, PassContext, PassError, PassInfo, PassReport};

pub const NAME: &str = "reset-mode";

/// Registry entry.
pub const INFO: PassInfo = PassInfo {
    name: NAME,
    summary:
        "set the reset of every spiking neuron: to v_reset (default, NIR) or subtract threshold",
    usage: "reset-mode[=to-value|subtract]",
    run,
};

/// The mode the arguments ask for (no argument: to-value).
fn mode(args: &PassArgs) -> Result<ResetMode, PassError> {
    args.check(&["to-value", "subtract"], &[])?;
    match args.words.as_slice() {
        [] => Ok(ResetMode::ToValue),
        [w] if w == "to-value" => Ok(ResetMode::ToValue),
        [w] if w == "subtract" => Ok(ResetMode::Subtract),
        _ => Err(PassError::invalid(
            NAME,
            "give one mode: to-value or subtract",
        )),
    }
}

/// The reset attribute of a spiking neuron op.
fn reset_of(op: &mut Op) -> Option<&mut ResetMode> {
    match op {
        Op::Lif(l) => Some(&mut l.reset),
        Op::CubaLif(l) => Some(&mut l.reset),
        Op::If(n) => Some(&mut n.reset),
        Op::IntLif(l) => Some(&mut l.reset),
        _ => None,
    }
}

/// Run the pass (see the module docs). `changed` counts neurons whose mode was different.
pub fn run(
    g: &mut Graph,
    args: &PassArgs,
    _ctx: &PassContext<'_>,
) -> Result<PassReport, PassError> {
    let want = mode(args)?;
    let mut report = PassReport::new(NAME);
    let mut neurons = 0usize;
    for id in g.node_ids() {
        if let Some(reset) = reset_of(&mut g.node_mut(id).op) {
            neurons += 1;
            if *reset != want {
                *reset = want;
                report.changed += 1;
            }
        }
    }
    if neurons == 0 {
        return Err(PassError::not_applicable(
            NAME,
            "the graph has no spiking neurons (lif, cuba_lif, if, int_lif)",
        ));
    }
    let word = match want {
        ResetMode::ToValue => "to v_reset",
        ResetMode::Subtract => "by subtracting the threshold",
    };
    report.notes.push(format!(
        "{neurons} spiking neuron node(s) reset {word} ({} changed)",
        report.changed
    ));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::snn::testutil::{by_name, counts, if_op, lif_op, run_pass, two_layer};
    use snnc_ir::op::IntLif;
    use snnc_ir::{DType, Tensor, TensorType};

    fn reset(g: &Graph, name: &str) -> ResetMode {
        match &g.node(by_name(g, name)).op {
            Op::Lif(l) => l.reset,
            Op::If(n) => n.reset,
            Op::IntLif(l) => l.reset,
            other => panic!("{name} is {}", other.name()),
        }
    }

    /// One input, a 2x2 identity layer into LIF, then into IF (which subtracts).
    fn net() -> Graph {
        two_layer(
            (2, 2, 2),
            &[1.0, 0.0, 0.0, 1.0],
            &[0.0; 2],
            &[1.0, 0.0, 0.0, 1.0],
            &[0.0; 2],
            lif_op(),
            if_op(),
        )
    }

    #[test]
    fn sets_every_neuron_and_counts_changes() {
        let ctx = PassContext::default();
        let mut g = net();
        let r = run_pass(run, &mut g, "subtract", &ctx);
        assert_eq!(r.changed, 1);
        assert_eq!(
            r.notes,
            vec!["2 spiking neuron node(s) reset by subtracting the threshold (1 changed)"]
        );
        assert_eq!(reset(&g, "1"), ResetMode::Subtract);
        assert_eq!(reset(&g, "3"), ResetMode::Subtract);
        let r = run_pass(run, &mut g, "", &ctx);
        assert_eq!(r.changed, 2);
        assert_eq!(reset(&g, "1"), ResetMode::ToValue);
        assert_eq!(reset(&g, "3"), ResetMode::ToValue);
        let r = run_pass(run, &mut g, "to-value", &ctx);
        assert_eq!(r.changed, 0);
    }

    #[test]
    fn the_reference_runs_the_chosen_mode() {
        // Two IF layers with unit gain (v += input each step), threshold 1, input 0.6 per step.
        // Reset to 0: layer 1 fires every second step (0.6, 1.2) → 10 spikes in 20 steps, and
        // layer 2 (+1 per spike) every second spike → 5. Subtract: layer 1 keeps the excess and
        // fires 12 times (rate 0.6); layer 2 fires at v = 2 and keeps 1, so every spike after
        // the first fires → 11.
        let mk = || two_layer((1, 1, 1), &[1.0], &[0.0], &[1.0], &[0.0], if_op(), if_op());
        let ctx = PassContext::default();
        let samples = vec![vec![0.6f32]];
        let mut sub = mk();
        run_pass(run, &mut sub, "subtract", &ctx);
        let mut to_value = mk();
        run_pass(run, &mut to_value, "to-value", &ctx);
        let a = counts(&sub, &samples, 20, 1e-4);
        let b = counts(&to_value, &samples, 20, 1e-4);
        assert_eq!(a, vec![vec![11.0]]);
        assert_eq!(b, vec![vec![5.0]]);
    }

    #[test]
    fn int_lif_and_errors() {
        let mut g = Graph::new("q");
        let x = g.add_input("x", TensorType::new(DType::I16, vec![2]));
        let i = |v: i64| Tensor::from_i64(DType::I64, vec![], vec![v]).unwrap();
        let l = IntLif {
            decay: i(1 << 15),
            frac_bits: 15,
            bias: i(0),
            threshold: i(10),
            v_reset: i(0),
            reset: ResetMode::ToValue,
            state_bits: 16,
        };
        let n = g.add_node("n", Op::IntLif(l), &[x]).unwrap();
        g.add_output("y", n).unwrap();
        let ctx = PassContext::default();
        let r = run_pass(run, &mut g, "subtract", &ctx);
        assert_eq!(r.changed, 1);
        assert_eq!(reset(&g, "n"), ResetMode::Subtract);
        let bad = PassArgs::parse(NAME, "sideways").unwrap();
        assert!(matches!(
            run(&mut g, &bad, &ctx),
            Err(PassError::InvalidArgs { .. })
        ));
        let two = PassArgs::parse(NAME, "subtract:to-value").unwrap();
        assert!(matches!(
            run(&mut g, &two, &ctx),
            Err(PassError::InvalidArgs { .. })
        ));
        let mut plain = Graph::new("p");
        let x = plain.add_input("x", TensorType::f32(vec![2]));
        let r = plain.add_node("r", Op::Relu, &[x]).unwrap();
        plain.add_output("y", r).unwrap();
        match run(&mut plain, &PassArgs::parse(NAME, "").unwrap(), &ctx) {
            Err(PassError::NotApplicable { pass, reason }) => {
                assert_eq!(pass, NAME);
                assert!(reason.contains("no spiking neurons"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
