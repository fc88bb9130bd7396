//! Benchmark: import + verify of a synthetic float ONNX model (default 25 M parameters), and
//! optionally a pass pipeline on it.
//!
//! `cargo run --release -p snnc-examples --example bench_import [-- PARAMS [PASSES]]`
//!
//! Writes an MLP of Gemm + Relu layers with `PARAMS` float parameters to `target/bench/`, then
//! imports and verifies it in a fresh child process (so the generator's memory does not count) and
//! reports wall time and peak resident memory (VmHWM) against the model's size. With `PASSES`
//! (e.g. `canonicalize,quantize=int8`), the child then runs that pipeline with 8 seeded random
//! calibration samples and reports its time and the peak memory of the whole run. Repeats 3 times.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use prost::Message;
use snnc_compiler::frontend::onnx::proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(*d)),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn tensor(name: &str, dims: &[i64], rng: &mut u64) -> TensorProto {
    let n: i64 = dims.iter().product();
    let mut raw = Vec::with_capacity(n as usize * 4);
    for _ in 0..n {
        *rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let v = ((*rng >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1;
        raw.extend_from_slice(&v.to_le_bytes());
    }
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        raw_data: raw.into(),
        ..Default::default()
    }
}

fn write_model(path: &Path, params: usize) -> std::io::Result<usize> {
    let layers = 5usize;
    let width = ((params / layers) as f64).sqrt() as i64;
    let mut rng = 1u64;
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut prev = "x".to_string();
    for l in 0..layers {
        let (w, b) = (format!("w{l}"), format!("b{l}"));
        inits.push(tensor(&w, &[width, width], &mut rng));
        inits.push(tensor(&b, &[width], &mut rng));
        let out = format!("h{l}");
        nodes.push(NodeProto {
            name: format!("gemm{l}"),
            op_type: "Gemm".into(),
            input: vec![prev.clone(), w, b],
            output: vec![out.clone()],
            attribute: vec![AttributeProto {
                name: "transB".into(),
                r#type: AttributeType::Int as i32,
                i: 1,
                ..Default::default()
            }],
            ..Default::default()
        });
        let act = format!("a{l}");
        nodes.push(NodeProto {
            name: format!("relu{l}"),
            op_type: "Relu".into(),
            input: vec![out],
            output: vec![act.clone()],
            ..Default::default()
        });
        prev = act;
    }
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(GraphProto {
            name: "bench_mlp".into(),
            node: nodes,
            initializer: inits,
            input: vec![value_info("x", &[1, width])],
            output: vec![value_info(&prev, &[1, width])],
            ..Default::default()
        }),
        ..Default::default()
    };
    std::fs::write(path, model.encode_to_vec())?;
    Ok(layers * (width * width + width) as usize)
}

/// Peak resident set size of this process in bytes (Linux `VmHWM`).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn measure(path: &Path, passes: Option<&str>) {
    let before = peak_rss();
    let t = Instant::now();
    let mut m = match snnc_compiler::load::load(path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let secs = t.elapsed().as_secs_f64();
    let import_peak = peak_rss();
    let mut pipeline_secs = 0.0;
    if let Some(spec) = passes {
        let width = m.graph.ty(m.graph.inputs()[0]).numel();
        let mut rng = 7u64;
        let data = (0..8 * width)
            .map(|_| {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (rng >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect();
        let calib = snnc_compiler::npy::Array {
            shape: vec![8, width],
            data,
        };
        let ctx = snnc_compiler::passes::PassContext {
            calib: Some(&calib),
            ..Default::default()
        };
        let t = Instant::now();
        let run = snnc_compiler::passes::parse_pipeline(spec)
            .and_then(|steps| snnc_compiler::passes::run_pipeline(&mut m.graph, &steps, &ctx));
        if let Err(e) = run {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        pipeline_secs = t.elapsed().as_secs_f64();
    }
    println!(
        "{secs} {import_peak} {before} {} {pipeline_secs} {}",
        m.graph.len(),
        peak_rss()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--measure") {
        measure(Path::new(&args[2]), args.get(3).map(String::as_str));
        return;
    }
    let params: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(25_000_000);
    let passes = args.get(2);
    let dir = PathBuf::from("target/bench");
    std::fs::create_dir_all(&dir).expect("create target/bench");
    let path = dir.join(format!("mlp_{params}.onnx"));
    let actual = write_model(&path, params).expect("write model");
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "model: {} ({actual} float parameters, {:.1} MB)",
        path.display(),
        size as f64 / 1e6
    );
    for run in 1..=3 {
        let mut child = Command::new(&args[0]);
        child.args(["--measure", &path.to_string_lossy()]);
        if let Some(p) = passes {
            child.arg(p);
        }
        let out = child.output().expect("run child");
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<f64> = text
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if !out.status.success() || f.len() < 6 {
            eprintln!("run {run} failed: {}", String::from_utf8_lossy(&out.stderr));
            std::process::exit(1);
        }
        println!(
            "run {run}: import+verify {:.3} s, peak RSS {:.1} MB ({:.2}x the model file; {:.1} MB before import)",
            f[0],
            f[1] / 1e6,
            f[1] / size as f64,
            f[2] / 1e6
        );
        if let Some(p) = passes {
            println!(
                "       passes `{p}`: {:.3} s, peak RSS of import + passes {:.1} MB ({:.2}x the model file)",
                f[4],
                f[5] / 1e6,
                f[5] / size as f64
            );
        }
    }
}
