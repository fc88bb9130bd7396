//! End-to-end tests: the real snnTorch export and the synthetic fixtures of
//! `compiler/tests/fixtures/nir/` (made by `make_fixtures.py` there).

use std::path::{Path, PathBuf};

use snnc_ir::op::{PoolKind, ResetMode};
use snnc_ir::{Graph, NodeId, Op, TensorType};

use super::*;

fn real_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/models/snn_mlp/snn_mlp.nir")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/nir")
        .join(format!("{name}.nir"))
}

fn load(name: &str) -> Graph {
    match import(&fixture(name)) {
        Ok(g) => g,
        Err(e) => panic!("{name}: {e}"),
    }
}

fn find(g: &Graph, name: &str) -> NodeId {
    g.node_ids()
        .into_iter()
        .find(|i| g.node(*i).name == name)
        .unwrap_or_else(|| panic!("no node `{name}`"))
}

fn shape(g: &Graph, name: &str) -> Vec<usize> {
    g.ty(find(g, name)).shape.clone()
}

/// The sources of `name`'s input slots, by name, with the recurrent flag.
fn sources(g: &Graph, name: &str) -> Vec<(String, bool)> {
    g.operands(find(g, name))
        .into_iter()
        .map(|(s, e)| (g.node(s).name.clone(), e.recurrent))
        .collect()
}

fn op_names(g: &Graph) -> Vec<(String, &'static str)> {
    g.node_ids()
        .into_iter()
        .map(|i| (g.node(i).name.clone(), g.node(i).op.name()))
        .collect()
}

fn all_close(v: &[f32], want: f32) -> bool {
    v.iter()
        .all(|x| (x - want).abs() <= 1e-6 * want.abs().max(1.0))
}

#[test]
fn imports_the_snntorch_mlp() {
    let g = import(&real_path()).unwrap();
    assert_eq!(g.name, "snn_mlp");
    assert_eq!(g.inputs().len(), 1);
    assert_eq!(g.outputs().len(), 1);
    assert_eq!(g.ty(g.inputs()[0]), &TensorType::f32(vec![64]));
    assert_eq!(g.ty(g.outputs()[0]), &TensorType::f32(vec![10]));
    assert_eq!(shape(&g, "0"), vec![128]);
    assert_eq!(shape(&g, "0.weight"), vec![128, 64]);
    assert_eq!(shape(&g, "1"), vec![128]);
    assert_eq!(shape(&g, "2"), vec![10]);
    assert_eq!(shape(&g, "3"), vec![10]);
    assert_eq!(
        sources(&g, "0"),
        vec![
            ("input".to_string(), false),
            ("0.weight".to_string(), false),
            ("0.bias".to_string(), false)
        ]
    );
    assert_eq!(sources(&g, "1"), vec![("0".to_string(), false)]);
    assert_eq!(sources(&g, "output"), vec![("3".to_string(), false)]);
    let Op::Gemm(gemm) = &g.node(find(&g, "2")).op else {
        panic!("node 2 is not a gemm")
    };
    assert!(gemm.trans_b && !gemm.trans_a && gemm.alpha == 1.0 && gemm.beta == 1.0);
    for lif in ["1", "3"] {
        let Op::Lif(l) = &g.node(find(&g, lif)).op else {
            panic!("node {lif} is not a LIF")
        };
        // snnTorch: tau = dt/(1-beta) = 1e-4/0.1, r = tau/dt = 10.
        assert!(all_close(l.tau.as_f32().unwrap(), 1e-3), "{:?}", l.tau);
        assert!(all_close(l.r.as_f32().unwrap(), 10.0));
        assert!(all_close(l.v_threshold.as_f32().unwrap(), 1.0));
        assert!(all_close(l.v_leak.as_f32().unwrap(), 0.0));
        assert!(all_close(l.v_reset.as_f32().unwrap(), 0.0));
        assert_eq!(l.reset, ResetMode::ToValue);
    }
    // 6 NIR nodes + 4 constants, no Add (no fan-in), no recurrence.
    assert_eq!(g.len(), 10);
    assert!(g.edges().iter().all(|(_, _, e)| !e.recurrent));
    assert!(snnc_ir::verify(&g).is_ok());
}

#[test]
fn the_reset_mode_is_an_option() {
    let opts = ImportOptions {
        reset: ResetMode::Subtract,
        ..ImportOptions::default()
    };
    let g = import_with(&real_path(), &opts).unwrap();
    let Op::Lif(l) = &g.node(find(&g, "1")).op else {
        panic!("not a LIF")
    };
    assert_eq!(l.reset, ResetMode::Subtract);
}

#[test]
fn importing_twice_gives_the_same_graph() {
    let a = import(&real_path()).unwrap();
    let b = import(&real_path()).unwrap();
    assert_eq!(op_names(&a), op_names(&b));
    assert_eq!(a.edges(), b.edges());
}

#[test]
fn conv_net_maps_every_spatial_op() {
    let g = load("conv_net");
    assert_eq!(g.ty(g.inputs()[0]), &TensorType::f32(vec![1, 8, 8]));
    assert_eq!(shape(&g, "conv"), vec![4, 8, 8]);
    assert_eq!(shape(&g, "if"), vec![4, 8, 8]);
    assert_eq!(shape(&g, "sum"), vec![4, 4, 4]);
    assert_eq!(shape(&g, "avg"), vec![4, 4, 4]);
    assert_eq!(shape(&g, "flat"), vec![64]);
    assert_eq!(shape(&g, "linear"), vec![10]);
    assert_eq!(shape(&g, "li"), vec![10]);
    let Op::Conv(c) = &g.node(find(&g, "conv")).op else {
        panic!("not a conv")
    };
    assert_eq!(
        (c.stride.clone(), c.pads.clone(), c.groups),
        (vec![1, 1], vec![1; 4], 1)
    );
    assert_eq!(
        g.node(find(&g, "conv.bias")).op,
        Op::Const(snnc_ir::Tensor::from_f32(vec![4], vec![0.1, 0.2, 0.3, 0.4]).unwrap())
    );
    let Op::Pool(p) = &g.node(find(&g, "sum")).op else {
        panic!("not a pool")
    };
    assert_eq!(
        (p.kind, p.kernel.clone(), p.stride.clone()),
        (PoolKind::Sum, vec![2, 2], vec![2, 2])
    );
    let Op::Pool(p) = &g.node(find(&g, "avg")).op else {
        panic!("not a pool")
    };
    assert_eq!((p.kind, p.pads.clone()), (PoolKind::Avg, vec![1; 4]));
    let Op::Flatten(f) = &g.node(find(&g, "flat")).op else {
        panic!("not a flatten")
    };
    assert_eq!((f.start_dim, f.end_dim), (0, 2));
    // IF without v_reset: zeros shaped like v_threshold; scalar f64 r kept as a scalar.
    let Op::If(n) = &g.node(find(&g, "if")).op else {
        panic!("not an IF")
    };
    assert_eq!(n.v_reset.shape(), &[4, 8, 8]);
    assert!(all_close(n.v_reset.as_f32().unwrap(), 0.0));
    assert_eq!(n.r.shape(), &[] as &[usize]);
    assert_eq!(n.r.as_f32().unwrap(), &[2.0]);
    // Linear: a Gemm without bias; its f64 weight narrowed to f32.
    assert_eq!(sources(&g, "linear").len(), 2);
    assert_eq!(shape(&g, "linear.weight"), vec![10, 64]);
    let Op::Li(li) = &g.node(find(&g, "li")).op else {
        panic!("not an LI")
    };
    assert!(all_close(li.tau.as_f32().unwrap(), 2e-3));
}

#[test]
fn conv1d_same_padding_and_partial_flatten() {
    let g = load("conv1d");
    let Op::Conv(c) = &g.node(find(&g, "conv")).op else {
        panic!("not a conv")
    };
    // kernel 5, dilation 2: 8 padded elements in total, 4 on each side.
    assert_eq!((c.pads.clone(), c.dilation.clone()), (vec![4, 4], vec![2]));
    assert_eq!(shape(&g, "conv"), vec![3, 16]);
    let Op::Threshold(t) = &g.node(find(&g, "thr")).op else {
        panic!("not a threshold")
    };
    assert_eq!(t.threshold.shape(), &[] as &[usize]);
    // NIR Flatten dims exclude the batch: start_dim 1 on [3, 16] keeps [3, 16].
    let Op::Flatten(f) = &g.node(find(&g, "flat")).op else {
        panic!("not a flatten")
    };
    assert_eq!((f.start_dim, f.end_dim), (1, 1));
    assert_eq!(g.ty(g.outputs()[0]).shape, vec![3, 16]);
}

#[test]
fn primitives_with_scalars_ints_and_defaults() {
    let g = load("primitives");
    let w = g.node(find(&g, "affine.weight"));
    let Op::Const(w) = &w.op else {
        panic!("weight is not a const")
    };
    assert_eq!(w.shape(), &[6, 5]);
    assert!(w
        .as_f32()
        .unwrap()
        .iter()
        .all(|v| v.fract() == 0.0 && v.abs() <= 3.0));
    let Op::CubaLif(c) = &g.node(find(&g, "cuba")).op else {
        panic!("not a CubaLIF")
    };
    assert_eq!(c.tau_syn.as_f32().unwrap(), &[5e-3]);
    assert_eq!(c.tau_mem.shape(), &[] as &[usize]);
    assert_eq!(c.w_in.shape(), &[6]);
    assert!(all_close(c.w_in.as_f32().unwrap(), 1.0));
    assert!(all_close(c.v_reset.as_f32().unwrap(), 0.0));
    assert_eq!(
        sources(&g, "scale"),
        vec![("cuba".into(), false), ("scale.scale".into(), false)]
    );
    assert_eq!(g.node(find(&g, "scale")).op, Op::Mul);
    assert!(matches!(g.node(find(&g, "delay")).op, Op::Delay(_)));
    assert!(matches!(g.node(find(&g, "integ")).op, Op::Integrator(_)));
    // A node named `metadata` is a node; the graph's and nodes' metadata groups are ignored.
    assert_eq!(
        sources(&g, "metadata"),
        vec![("integ".into(), false), ("metadata.scale".into(), false)]
    );
    assert_eq!(sources(&g, "output"), vec![("metadata".into(), false)]);
    assert_eq!(g.ty(g.outputs()[0]).shape, vec![6]);
}

#[test]
fn nested_graphs_are_flattened_with_qualified_names() {
    let g = load("nested");
    let names: Vec<String> = op_names(&g).into_iter().map(|(n, _)| n).collect();
    for want in ["a.fc", "a.lif", "b.deep.fc", "b.deep.lif"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    // Inner Input/Output nodes are pass-throughs and disappear.
    assert!(!names
        .iter()
        .any(|n| n == "a.in" || n == "b.out" || n == "b.deep.out"));
    assert_eq!(sources(&g, "a.fc")[0], ("input".into(), false));
    assert_eq!(sources(&g, "b.deep.fc")[0], ("a.lif".into(), false));
    assert_eq!(sources(&g, "output"), vec![("b.deep.lif".into(), false)]);
    assert_eq!(shape(&g, "a.lif"), vec![6]);
    assert_eq!(g.ty(g.outputs()[0]).shape, vec![3]);
    assert_eq!(g.inputs().len(), 1);
    assert_eq!(g.outputs().len(), 1);
}

#[test]
fn recurrence_and_fan_in() {
    let g = load("recurrent");
    // lif sums fc_in and fc_rec. The search from `input` reaches fc_in → lif → fc_rec, so the
    // edge fc_rec → lif closes the cycle: lif receives fc_rec's value one step late.
    assert_eq!(
        sources(&g, "lif.sum"),
        vec![("fc_in".into(), false), ("fc_rec".into(), true)]
    );
    assert_eq!(sources(&g, "lif"), vec![("lif.sum".into(), false)]);
    assert_eq!(sources(&g, "fc_rec")[0], ("lif".into(), false));
    assert_eq!(
        sources(&g, "output.sum"),
        vec![("lif".into(), false), ("skip".into(), false)]
    );
    let recurrent: Vec<_> = g
        .edges()
        .into_iter()
        .filter(|(_, _, e)| e.recurrent)
        .collect();
    assert_eq!(recurrent.len(), 1);
    assert_eq!(g.ty(g.outputs()[0]).shape, vec![4]);
    assert!(snnc_ir::verify(&g).is_ok());
}

#[test]
fn edge_order_does_not_matter() {
    let a = load("recurrent");
    let b = load("recurrent_shuffled");
    assert_eq!(op_names(&a), op_names(&b));
    assert_eq!(a.edges(), b.edges());
    for id in a.node_ids() {
        assert_eq!(a.node(id), b.node(id));
    }
}

fn import_err(name: &str) -> ImportError {
    match import(&fixture(name)) {
        Ok(_) => panic!("{name} imported"),
        Err(e) => e,
    }
}

#[test]
fn unknown_types_are_reported_together() {
    match import_err("unknown_types") {
        ImportError::Unsupported { ops, .. } => assert_eq!(
            ops,
            vec![
                ("cli".to_string(), "CubaLI".to_string()),
                ("sub.mystery".to_string(), "Spooky".to_string())
            ]
        ),
        e => panic!("{e}"),
    }
}

#[test]
fn bad_parameters_name_node_and_parameter() {
    match import_err("nan_param") {
        ImportError::Node {
            node, op, reason, ..
        } => {
            assert_eq!((node.as_str(), op.as_str()), ("lif", "LIF"));
            assert!(
                reason.contains("`tau`") && reason.contains("element 1"),
                "{reason}"
            );
        }
        e => panic!("{e}"),
    }
    match import_err("missing_param") {
        ImportError::Node {
            node, op, reason, ..
        } => {
            assert_eq!((node.as_str(), op.as_str()), ("lif", "LIF"));
            assert_eq!(reason, "missing parameter `r`");
        }
        e => panic!("{e}"),
    }
}

#[test]
fn shape_mismatch_comes_from_inference() {
    match import_err("shape_mismatch") {
        ImportError::Node {
            node, op, reason, ..
        } => {
            assert_eq!((node.as_str(), op.as_str()), ("fc", "gemm"));
            assert!(reason.contains("inner dimensions"), "{reason}");
        }
        e => panic!("{e}"),
    }
}

#[test]
fn not_hdf5_is_a_format_error() {
    let e = import_bytes(
        b"ONNX?".to_vec(),
        Path::new("x.nir"),
        &ImportOptions::default(),
    );
    assert!(matches!(e, Err(ImportError::Format { .. })), "{e:?}");
    let e = import(Path::new("/nonexistent/model.nir"));
    assert!(matches!(e, Err(ImportError::Io { .. })), "{e:?}");
}

/// Import `bytes` and return whether it failed; a panic fails the test.
fn rejects(bytes: Vec<u8>) -> bool {
    import_bytes(bytes, Path::new("fuzz.nir"), &ImportOptions::default()).is_err()
}

#[test]
fn every_truncation_of_the_real_file_is_an_error() {
    let bytes = std::fs::read(real_path()).unwrap();
    let start = std::time::Instant::now();
    for n in 0..bytes.len() {
        assert!(
            rejects(bytes[..n].to_vec()),
            "truncated to {n} bytes, the file imported"
        );
    }
    eprintln!("{} truncations in {:?}", bytes.len(), start.elapsed());
}

/// xorshift64*: a fixed, dependency-free pseudo-random sequence for the corruption test.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

#[test]
fn random_byte_flips_never_panic() {
    let files = [
        std::fs::read(real_path()).unwrap(),
        std::fs::read(fixture("nested")).unwrap(),
        std::fs::read(fixture("conv_net")).unwrap(),
    ];
    let iterations: usize = std::env::var("SNNC_NIR_FLIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut failed = 0;
    for i in 0..iterations {
        let mut bytes = files[i % files.len()].clone();
        // Every other case hits the first 4 KiB, where the superblock and root headers live.
        let span = if i % 2 == 0 {
            bytes.len()
        } else {
            bytes.len().min(4096)
        };
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(span);
            bytes[at] ^= 1 << rng.below(8);
        }
        failed += usize::from(rejects(bytes));
    }
    eprintln!("{failed} of {iterations} corrupted files rejected");
    // Many flips land in weights and still import; some must break the file.
    assert!(
        failed > 0 && failed < iterations,
        "{failed} of {iterations} failed"
    );
}

fn read_npy_f32(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

/// The imported graph, run by the reference interpreter with snnTorch's `dt = 1e-4` for 16 steps
/// of direct input, spikes exactly as snnTorch did on the digits test set.
#[test]
fn the_real_model_reproduces_snntorch_spike_counts() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/models");
    let (xs_shape, xs) = read_npy_f32(&models.join("data/digits_test_x.npy"));
    let (_, want) = read_npy_f32(&models.join("snn_mlp/ref_spike_counts.npy"));
    let g = import(&real_path()).unwrap();
    let info = snnc_ir::verify(&g).unwrap();
    let mut it = snnc_ir::interp::Interpreter::new(&g, &info, 1e-4).unwrap();
    let n = xs_shape[0] as usize;
    let mut mismatched = 0;
    for s in 0..n {
        it.reset();
        let x = snnc_ir::Tensor::from_f32(vec![64], xs[s * 64..(s + 1) * 64].to_vec()).unwrap();
        let mut counts = [0f32; 10];
        for _ in 0..16 {
            let out = it.step(std::slice::from_ref(&x)).unwrap();
            for (c, v) in counts.iter_mut().zip(out[0].as_f32().unwrap()) {
                *c += v;
            }
        }
        if counts[..] != want[s * 10..(s + 1) * 10] {
            mismatched += 1;
        }
    }
    // All 360 agree today; float rounding may one day flip a spike sitting at the threshold.
    assert!(mismatched <= n / 100, "{mismatched} of {n} samples differ");
}
