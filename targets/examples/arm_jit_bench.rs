//! Benchmarks of the ARM backends for the issue 5 closing note (driven by
//! `scripts/bench_arm.sh`, results in notes/arm_bench.md):
//!
//!   cargo run --release -p snnc-targets --example arm_jit_bench [bench] [SECONDS_PER_MODEL]
//!   ... --example arm_jit_bench write-ir DIR
//!   ... --example arm_jit_bench lower-bound MODEL.ir
//!   ... --example arm_jit_bench count-aarch64 ARTIFACT_DIR IN.bin N T
//!
//! `bench`: host-JIT time per inference (batch 1, one thread) of binary MLPs compiled by the
//! cranelift backend: the bnn_mlp integer graph (64-256-256-10, from the test fixture), a
//! synthetic binary MLP of the same shape, and a binary MLP 1024-4096-4096-10, both with random
//! ±1 weights and a BinThreshold after every hidden layer (input: i16 thresholded to bits,
//! output: the last layer's i32 accumulators). Method (shared with scripts/bench_arm_ort.py):
//! after one checked warm-up call, batches of back-to-back calls, the batch size doubled until
//! a batch takes ≥ 2 ms; each batch gives one time per call; median and minimum over the
//! batches of the time budget. Outputs are checked once against the reference interpreter.
//! Prints a human line and a `RESULT jit <model> <median_us> <min_us> <batches>` line each.
//!
//! `write-ir`: the two synthetic binary MLPs as IR text (for `snnc compile --target
//! cortex-m4`, memory footprint). `lower-bound`: Σ over the weight constants (operand 1 of Gemm,
//! MatMul, Conv) of elements × their bit width (bin 1, i8 8, f32 32, ...), and the same over every
//! constant. `count-aarch64`: executed guest instructions of the model under qemu-aarch64
//! (exact, QEMU TCG plugin; the run minus a run with the same I/O that skips the model), with
//! the outputs checked against the host JIT of the artifact's `model.ir`.

use std::time::{Duration, Instant};

use snnc_ir::op::{BinThreshold, Gemm};
use snnc_ir::{verify, DType, Graph, Op, Tensor, TensorType};
use snnc_targets::arm::clif::JitModel;

/// Instruction counting under qemu-aarch64 (`clif::run_qemu_aarch64_counted`), with the outputs
/// checked against the host JIT of the artifact's `model.ir`.
mod count_aarch64 {
    use std::path::Path;

    use snnc_targets::arm::clif::{run_qemu_aarch64_counted, JitModel};
    use snnc_targets::arm::plan::lower;

    use super::Res;

    pub fn run(dir: &Path, input: &Path, n: usize, t: usize) -> Res<()> {
        let bytes = std::fs::read(input)?;
        let (got, model) = run_qemu_aarch64_counted(dir, &bytes, n, t)?;
        let g = snnc_ir::text::parse(&std::fs::read_to_string(dir.join("model.ir"))?)?;
        let info = snnc_ir::verify(&g)?;
        let want = JitModel::compile(&lower(&g, &info, "host")?)?.run_raw(&bytes, n, t)?;
        if got != want {
            return Err("the aarch64 outputs differ from the host JIT's".into());
        }
        println!(
            "COUNT_AARCH64 model_insns {model} per_step {:.1} samples {n} steps {t} (outputs equal the host JIT)",
            model as f64 / (n * t).max(1) as f64
        );
        Ok(())
    }
}
use snnc_targets::arm::plan::{encode, lower};

/// xorshift64: deterministic weights and inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// `i16[1, sizes[0]]` → threshold → (binary dense → threshold)* → binary dense → `i32`.
fn binary_mlp(sizes: &[usize], rng: &mut Rng) -> Res<Graph> {
    let mut g = Graph::new(format!(
        "bin_mlp_{}",
        sizes
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("_")
    ));
    let x = g.add_input("x", TensorType::new(DType::I16, vec![1, sizes[0]]));
    let th = BinThreshold {
        threshold: Tensor::from_i64(DType::I64, vec![], vec![0])?,
        flip: Tensor::from_i64(DType::I64, vec![], vec![0])?,
        axis: 1,
    };
    let mut h = g.add_node("t0", Op::BinThreshold(th.clone()), &[x])?;
    let layers = sizes.len() - 1;
    for l in 0..layers {
        let (k, n) = (sizes[l], sizes[l + 1]);
        let w: Vec<i64> = (0..n * k)
            .map(|_| if rng.next() & 1 == 1 { -1 } else { 1 })
            .collect();
        let w = g.add_const(
            format!("w{l}"),
            Tensor::from_i64(DType::Bin, vec![n, k], w)?,
        );
        let gemm = Gemm {
            trans_b: true,
            ..Gemm::default()
        };
        let acc = g.add_node(format!("d{l}"), Op::Gemm(gemm), &[h, w])?;
        h = if l + 1 < layers {
            g.add_node(format!("t{}", l + 1), Op::BinThreshold(th.clone()), &[acc])?
        } else {
            acc
        };
    }
    g.add_output("y", h)?;
    Ok(g)
}

fn random_input(g: &Graph, rng: &mut Rng) -> Res<Tensor> {
    let ty = g.ty(g.inputs()[0]).clone();
    let n: usize = ty.shape.iter().product();
    let v = (0..n).map(|_| (rng.next() % 2001) as i64 - 1000).collect();
    Ok(Tensor::from_i64(ty.dtype, ty.shape, v)?)
}

fn digit_like_input(g: &Graph, rng: &mut Rng) -> Res<Tensor> {
    let ty = g.ty(g.inputs()[0]).clone();
    let n: usize = ty.shape.iter().product();
    let v = (0..n).map(|_| (rng.next() % 17) as f32 / 16.0).collect();
    Ok(Tensor::from_f32(ty.shape, v)?)
}

/// Binary multiply-accumulates of one inference (every dense layer with a bin input).
fn binary_macs(plan: &snnc_targets::arm::plan::Plan) -> usize {
    use snnc_targets::arm::plan::Kernel;
    plan.kernels
        .iter()
        .map(|k| match k {
            Kernel::DenseBin { rows, k, n, .. } => rows * k * n,
            _ => 0,
        })
        .sum()
}

fn bench(name: &str, key: &str, g: &Graph, input: &Tensor, budget: Duration) -> Res<()> {
    let info = verify(g)?;
    let t0 = Instant::now();
    let plan = lower(g, &info, "host")?;
    let mut jit = JitModel::compile(&plan)?;
    let compile = t0.elapsed();
    let x = encode(input)?;
    let mut outs: Vec<Vec<u8>> = jit.output_bytes().iter().map(|&b| vec![0u8; b]).collect();
    {
        let mut o: Vec<&mut [u8]> = outs.iter_mut().map(|b| b.as_mut_slice()).collect();
        jit.run(&[&x], &mut o)?;
    }
    let want = snnc_ir::interp::run(g, &info, std::slice::from_ref(input))?;
    let want: Vec<Vec<u8>> = want.iter().map(encode).collect::<Result<_, _>>()?;
    if want != outs {
        return Err(format!("{name}: JIT output differs from the reference").into());
    }
    // Batches of calls long enough to time reliably; median and minimum per call.
    let mut per_call = Vec::new();
    let start = Instant::now();
    let mut batch = 1usize;
    while start.elapsed() < budget || per_call.len() < 5 {
        let t = Instant::now();
        for _ in 0..batch {
            let mut o: Vec<&mut [u8]> = outs.iter_mut().map(|b| b.as_mut_slice()).collect();
            jit.run(&[&x], &mut o)?;
        }
        let e = t.elapsed();
        if e < Duration::from_millis(2) {
            batch *= 2;
            continue;
        }
        per_call.push(e.as_secs_f64() / batch as f64);
    }
    per_call.sort_by(f64::total_cmp);
    let med = per_call[per_call.len() / 2];
    let min = per_call[0];
    let macs = binary_macs(&plan);
    let packed: usize = plan
        .kernels
        .iter()
        .map(|k| match k {
            snnc_targets::arm::plan::Kernel::DenseBin { w, .. } => w.len() * 4,
            _ => 0,
        })
        .sum();
    println!(
        "{name:<26} median {:>9.2} us  min {:>9.2} us  {:>6.1} binary MACs/ns  packed binary weights {packed} B, compile {:.0} ms",
        med * 1e6,
        min * 1e6,
        macs as f64 / (min * 1e9),
        compile.as_secs_f64() * 1e3
    );
    println!(
        "RESULT jit {key} {:.3} {:.3} {}",
        med * 1e6,
        min * 1e6,
        per_call.len()
    );
    Ok(())
}

/// The two synthetic binary MLPs, each from its own seed.
fn synthetic() -> Res<[(&'static str, Graph); 2]> {
    Ok([
        (
            "bin_64_256_256_10",
            binary_mlp(&[64, 256, 256, 10], &mut Rng(0x5eed_0001))?,
        ),
        (
            "bin_1024_4096_4096_10",
            binary_mlp(&[1024, 4096, 4096, 10], &mut Rng(0x5eed_0002))?,
        ),
    ])
}

fn run_bench(secs: f64) -> Res<()> {
    let budget = Duration::from_secs_f64(secs);
    let mut rng = Rng(0x5eed_be4c);
    let fixture = format!(
        "{}/tests/fixtures/arm/bnn_mlp.ir",
        env!("CARGO_MANIFEST_DIR")
    );
    let bnn = snnc_ir::text::parse(&std::fs::read_to_string(fixture)?)?;
    let x = digit_like_input(&bnn, &mut rng)?;
    bench("bnn_mlp (64-256-256-10)", "bnn_mlp", &bnn, &x, budget)?;
    let [(small_key, small), (large_key, large)] = synthetic()?;
    let x = random_input(&small, &mut rng)?;
    bench("binary 64-256-256-10", small_key, &small, &x, budget)?;
    let x = random_input(&large, &mut rng)?;
    bench("binary 1024-4096-4096-10", large_key, &large, &x, budget)?;
    Ok(())
}

fn write_ir(dir: &str) -> Res<()> {
    std::fs::create_dir_all(dir)?;
    for (key, g) in synthetic()? {
        verify(&g)?;
        let path = format!("{dir}/{key}.ir");
        std::fs::write(&path, snnc_ir::text::print(&g, &Default::default()))?;
        println!("{path}");
    }
    Ok(())
}

/// Bits of one element as the graph stores it: bin and bool 1, else the storage width.
fn bits(d: DType) -> usize {
    match d {
        DType::Bin | DType::Bool => 1,
        other => other.size_bytes() * 8,
    }
}

fn lower_bound(path: &str) -> Res<()> {
    let g = snnc_ir::text::parse(&std::fs::read_to_string(path)?)?;
    let mut weight_ids = std::collections::BTreeSet::new();
    for id in g.node_ids() {
        if matches!(g.node(id).op, Op::Gemm(_) | Op::MatMul | Op::Conv(_)) {
            weight_ids.extend(g.operand(id, 1));
        }
    }
    let (mut weights, mut all) = (0usize, 0usize);
    for id in g.node_ids() {
        let node = g.node(id);
        let Op::Const(t) = &node.op else { continue };
        let b = t.len() * bits(t.dtype());
        all += b;
        if weight_ids.contains(&id) {
            weights += b;
            println!(
                "weight {} {}{:?}: {b} bits",
                node.name,
                t.dtype(),
                t.shape()
            );
        }
    }
    println!(
        "LOWER_BOUND weights_bytes {} all_consts_bytes {}",
        weights.div_ceil(8),
        all.div_ceil(8)
    );
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> Res<&str> {
        args.get(i).map(String::as_str).ok_or_else(|| {
            format!("missing argument {i}; see the header of arm_jit_bench.rs").into()
        })
    };
    match args.first().map(String::as_str) {
        None => run_bench(3.0),
        Some("bench") => run_bench(args.get(1).map_or(Ok(3.0), |s| s.parse())?),
        Some("write-ir") => write_ir(arg(1)?),
        Some("lower-bound") => lower_bound(arg(1)?),
        Some("count-aarch64") => count_aarch64::run(
            std::path::Path::new(arg(1)?),
            std::path::Path::new(arg(2)?),
            arg(3)?.parse()?,
            arg(4)?.parse()?,
        ),
        Some(secs) => run_bench(secs.parse()?),
    }
}
