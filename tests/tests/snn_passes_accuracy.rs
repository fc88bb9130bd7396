//! Accuracy of the SNN passes on the shared models and the digits test set (issue 3):
//! `quantize-snn` on snn_mlp against its float run, and `ann-to-snn` on ann_mlp over T.
//! The numbers are printed (`cargo test -- --nocapture`) for the closing note.

use std::path::Path;

use snnc_compiler::load::load;
use snnc_compiler::npy::Array;
use snnc_compiler::passes::{parse_pipeline, run_pipeline, PassContext};
use snnc_compiler::sim::{simulate, BatchInput, Encoding, Reduce, SimOptions};
use snnc_ir::{verify, Graph};
use snnc_tests::{accuracy, argmax_rows, model_file, read_npy};

const DT: f32 = 1e-4;

/// Run `graph` over the 360 test digits for `steps` steps (direct input) and reduce the first
/// output over time.
fn sim(graph: &Graph, steps: usize, reduce: Reduce) -> Array {
    let info = verify(graph).unwrap_or_else(|e| panic!("{e}"));
    let x_path = model_file("data/digits_test_x.npy");
    let x = read_npy(&x_path);
    let opts = SimOptions {
        steps,
        dt: DT,
        reduce,
        encoding: Encoding::Direct,
        seed: 0,
        threads: 2,
    };
    let inputs = [BatchInput {
        array: &x,
        path: &x_path,
    }];
    let mut outs = simulate(Path::new("model"), graph, &info, &inputs, &opts)
        .unwrap_or_else(|e| panic!("{e}"));
    outs.remove(0)
}

/// The model after the pipeline `passes` (with the digits calibration set).
fn transformed(model: &str, passes: &str) -> Graph {
    let mut g = load(&model_file(model))
        .unwrap_or_else(|e| panic!("{e}"))
        .graph;
    let calib = read_npy(&model_file("data/digits_calib_x.npy"));
    let ctx = PassContext {
        calib: Some(&calib),
        dt: DT,
        steps: 1,
    };
    let steps = parse_pipeline(passes).unwrap_or_else(|e| panic!("{e}"));
    run_pipeline(&mut g, &steps, &ctx).unwrap_or_else(|e| panic!("{passes}: {e}"));
    verify(&g).unwrap_or_else(|e| panic!("{passes}: {e}"));
    g
}

fn labels() -> Array {
    read_npy(&model_file("data/digits_test_y.npy"))
}

/// How a quantized SNN's output spike counts compare with the float run's.
struct Agreement {
    /// Inputs whose whole count vector is equal.
    samples_equal: f64,
    /// Output neurons (over all inputs) with equal counts.
    counts_equal: f64,
    /// Inputs with the same predicted class.
    argmax_equal: f64,
    accuracy: f64,
}

fn agreement(float: &Array, quant: &Array) -> Agreement {
    assert_eq!(float.shape, quant.shape);
    let k = float.shape[1];
    let n = float.shape[0];
    let rows_equal = float
        .data
        .chunks(k)
        .zip(quant.data.chunks(k))
        .filter(|(a, b)| a == b)
        .count();
    let elems_equal = float
        .data
        .iter()
        .zip(&quant.data)
        .filter(|(a, b)| a == b)
        .count();
    let argmax_equal = argmax_rows(float)
        .iter()
        .zip(argmax_rows(quant))
        .filter(|(a, b)| **a == *b)
        .count();
    Agreement {
        samples_equal: rows_equal as f64 / n as f64,
        counts_equal: elems_equal as f64 / float.data.len() as f64,
        argmax_equal: argmax_equal as f64 / n as f64,
        accuracy: accuracy(&argmax_rows(quant), &labels()),
    }
}

#[test]
fn snn_mlp_quantized_matches_the_float_run() {
    const T: usize = 16;
    let model = "snn_mlp/snn_mlp.nir";
    let float_graph = load(&model_file(model))
        .unwrap_or_else(|e| panic!("{e}"))
        .graph;
    let float = sim(&float_graph, T, Reduce::Sum);
    let float_acc = accuracy(&argmax_rows(&float), &labels());
    eprintln!(
        "snn_mlp float (T = {T}, dt = {DT}): accuracy {:.1}%",
        100.0 * float_acc
    );
    let mut results = Vec::new();
    for args in [
        "w=8:state=16",
        "w=8:state=32",
        "w=8:state=16:per-tensor",
        "w=8:state=16:no-bias-correct",
        "w=8:state=16:first=8",
        "w=8:state=32:first=8",
        "w=8:state=16:in=12",
        "w=12:state=32",
    ] {
        let g = transformed(model, &format!("quantize-snn={args}"));
        let a = agreement(&float, &sim(&g, T, Reduce::Sum));
        eprintln!(
            "snn_mlp quantize-snn={args}: counts equal on {:.1}% of inputs ({:.2}% of output \
             neurons), argmax equal {:.1}%, accuracy {:.1}%",
            100.0 * a.samples_equal,
            100.0 * a.counts_equal,
            100.0 * a.argmax_equal,
            100.0 * a.accuracy
        );
        results.push((args, a));
    }
    let get = |args: &str| &results.iter().find(|(a, _)| *a == args).unwrap().1;
    // The default policy (8-bit weights on every synapse carrying spikes, 12-bit weights on the
    // layer fed by the analog input): all 10 output counts equal to the float run's on >= 95%
    // of the inputs and accuracy within one point, with 16- and 32-bit state.
    for args in ["w=8:state=16", "w=8:state=32"] {
        let a = get(args);
        assert!(
            (a.accuracy - float_acc).abs() <= 0.01,
            "{args}: {} vs {float_acc}",
            a.accuracy
        );
        assert!(a.samples_equal >= 0.95, "{args}: {}", a.samples_equal);
    }
    // 8-bit weights on the analog layer too: the argmax survives, exact counts do not.
    for args in ["w=8:state=16:first=8", "w=8:state=32:first=8"] {
        let a = get(args);
        assert!((a.accuracy - float_acc).abs() <= 0.01, "{args}");
        assert!(a.counts_equal >= 0.95, "{args}: {}", a.counts_equal);
        assert!(a.samples_equal < 0.95, "{args}: {}", a.samples_equal);
    }
}

#[test]
fn ann_mlp_converted_to_an_snn() {
    let model = "ann_mlp/ann_mlp.onnx";
    let ann = load(&model_file(model))
        .unwrap_or_else(|e| panic!("{e}"))
        .graph;
    let ann_acc = accuracy(&argmax_rows(&sim(&ann, 1, Reduce::Sum)), &labels());
    eprintln!("ann_mlp float: accuracy {:.1}%", 100.0 * ann_acc);
    let curve = |passes: &str, reduce: Reduce| -> Vec<(usize, f64)> {
        let g = transformed(model, passes);
        [8, 16, 32, 64]
            .into_iter()
            .map(|t| (t, accuracy(&argmax_rows(&sim(&g, t, reduce)), &labels())))
            .collect()
    };
    let show = |label: &str, c: &[(usize, f64)]| {
        let points: Vec<String> = c
            .iter()
            .map(|(t, a)| format!("T={t}: {:.1}%", 100.0 * a))
            .collect();
        eprintln!("ann_mlp {label}: {}", points.join(", "));
    };
    let spikes = curve("ann-to-snn", Reduce::Sum);
    show("ann-to-snn (IF, spike counts)", &spikes);
    show(
        "ann-to-snn=readout=membrane (IF, integrator)",
        &curve("ann-to-snn=readout=membrane", Reduce::Last),
    );
    show(
        "ann-to-snn=neuron=lif",
        &curve("ann-to-snn=neuron=lif", Reduce::Sum),
    );
    show(
        "ann-to-snn,quantize-snn (integer IF)",
        &curve("ann-to-snn,quantize-snn", Reduce::Sum),
    );
    let at64 = spikes.iter().find(|(t, _)| *t == 64).map(|(_, a)| *a);
    assert!(at64 >= Some(0.94), "{spikes:?}");
    // The curve rises with T (up to one digit of noise).
    assert!(spikes[0].1 <= spikes[3].1 + 1.0 / 360.0, "{spikes:?}");
}
