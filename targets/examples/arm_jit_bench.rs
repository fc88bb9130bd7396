//! Host-JIT time per inference (batch 1, one thread) of binary MLPs compiled by the cranelift
//! backend, for the issue 5 closing note:
//!
//!   cargo run --release -p snnc-targets --example arm_jit_bench [SECONDS_PER_MODEL]
//!
//! Models: the bnn_mlp integer graph (64-256-256-10, from the test fixture), a synthetic
//! binary MLP of the same shape, and a binary MLP 1024-4096-4096-10, both with random ±1
//! weights and a BinThreshold after every hidden layer (input: i16 thresholded to bits, output:
//! the last layer's i32 accumulators). Prints the median and minimum time per inference and the
//! binary MACs per nanosecond; the outputs are checked once against the reference interpreter.

use std::time::{Duration, Instant};

use snnc_ir::op::{BinThreshold, Gemm};
use snnc_ir::{verify, DType, Graph, Op, Tensor, TensorType};
use snnc_targets::arm::clif::JitModel;
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

fn bench(name: &str, g: &Graph, input: &Tensor, budget: Duration) -> Res<()> {
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
    Ok(())
}

fn main() -> Res<()> {
    let secs: f64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(3.0);
    let budget = Duration::from_secs_f64(secs);
    let mut rng = Rng(0x5eed_be4c);
    let fixture = format!(
        "{}/tests/fixtures/arm_clif/bnn_mlp.ir",
        env!("CARGO_MANIFEST_DIR")
    );
    let bnn = snnc_ir::text::parse(&std::fs::read_to_string(fixture)?)?;
    let x = digit_like_input(&bnn, &mut rng)?;
    bench("bnn_mlp (64-256-256-10)", &bnn, &x, budget)?;
    let small = binary_mlp(&[64, 256, 256, 10], &mut rng)?;
    let x = random_input(&small, &mut rng)?;
    bench("binary 64-256-256-10", &small, &x, budget)?;
    let large = binary_mlp(&[1024, 4096, 4096, 10], &mut rng)?;
    let x = random_input(&large, &mut rng)?;
    bench("binary 1024-4096-4096-10", &large, &x, budget)?;
    Ok(())
}
