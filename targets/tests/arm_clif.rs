//! The cranelift backend (aarch64 object under qemu-aarch64, host JIT) against the reference
//! interpreter, byte for byte, on the shared models' integer graphs and on small graphs that
//! exercise every kernel.
//!
//! Fixtures are the integer graphs `snnc compile` writes, shared with the C backend's tests
//! (`tests/fixtures/arm/*.ir`, how each was made is written in `arm_c.rs`) and the SpiNNaker2
//! tests (`tests/fixtures/snn_mlp_int.ir`).
//!
//! The QEMU tests need `aarch64-linux-gnu-gcc` and `qemu-aarch64` (Debian: gcc-aarch64-linux-gnu,
//! libc6-dev-arm64-cross, qemu-user) and fail naming them when missing.

use snnc_ir::interp::Interpreter;
use snnc_ir::{verify, DType, Graph, GraphInfo, Tensor};
use snnc_targets::arm::clif::{emit_object, run_qemu_aarch64, JitModel};
use snnc_targets::arm::plan::{encode, lower, Plan};

fn fixture(file: &str) -> Graph {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    snnc_ir::text::parse(&text).unwrap()
}

/// The 360 digits test images (f32 [360, 64]) from the shared models' data.
fn digits() -> Vec<Vec<f32>> {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/models/data/digits_test_x.npy"
    ))
    .unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
    assert!(
        header.contains("'<f4'") && header.contains("(360, 64)"),
        "{header}"
    );
    let data: Vec<f32> = bytes[10 + hlen..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    data.chunks(64).map(|c| c.to_vec()).collect()
}

/// A deterministic stream of pseudo-random numbers (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform integer in `[lo, hi]`.
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    fn f32(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next() >> 40) as f32 / (1u64 << 24) as f32)
    }
}

/// Random input tensors for every graph input: f32 in [-2, 2], integers over their range.
fn random_inputs(g: &Graph, rng: &mut Rng) -> Vec<Tensor> {
    g.inputs()
        .iter()
        .map(|&id| {
            let ty = g.ty(id);
            let n: usize = ty.shape.iter().product();
            match ty.dtype {
                DType::F32 => Tensor::from_f32(
                    ty.shape.clone(),
                    (0..n).map(|_| rng.f32(-2.0, 2.0)).collect(),
                )
                .unwrap(),
                dt => {
                    let (lo, hi) = dt.int_range().unwrap();
                    let (lo, hi) = (lo.max(-100_000), hi.min(100_000));
                    let v = (0..n)
                        .map(|_| {
                            let v = rng.int(lo, hi);
                            if dt == DType::Bin {
                                if v < 0 {
                                    -1
                                } else {
                                    1
                                }
                            } else {
                                v
                            }
                        })
                        .collect();
                    Tensor::from_i64(dt, ty.shape.clone(), v).unwrap()
                }
            }
        })
        .collect()
}

/// The digits images as the single f32 input of `g` (reshaped to its input shape).
fn digit_inputs(g: &Graph) -> Vec<Vec<Tensor>> {
    let shape = g.ty(g.inputs()[0]).shape.clone();
    digits()
        .into_iter()
        .map(|x| vec![Tensor::from_f32(shape.clone(), x).unwrap()])
        .collect()
}

/// Input bytes (storage format) and the reference's output bytes for `samples`, each run for
/// `t` steps with the same inputs.
fn reference(g: &Graph, info: &GraphInfo, samples: &[Vec<Tensor>], t: usize) -> (Vec<u8>, Vec<u8>) {
    let mut it = Interpreter::new(g, info, 1e-4).unwrap();
    let (mut input, mut output) = (Vec::new(), Vec::new());
    for s in samples {
        it.reset();
        for _ in 0..t {
            for x in s {
                input.extend(encode(x).unwrap());
            }
            for y in it.step(s).unwrap() {
                output.extend(encode(&y).unwrap());
            }
        }
    }
    (input, output)
}

fn plan_of(g: &Graph) -> (GraphInfo, Plan) {
    let info = verify(g).unwrap();
    let plan = lower(g, &info, "aarch64").unwrap();
    (info, plan)
}

/// Assert equal outputs, naming the first differing sample and byte.
fn assert_same(what: &str, got: &[u8], want: &[u8], per_sample: usize) {
    assert_eq!(got.len(), want.len(), "{what}: output sizes");
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        let s = i / per_sample.max(1);
        let r = s * per_sample..((s + 1) * per_sample).min(got.len());
        panic!(
            "{what}: first difference in sample {s} at byte {}:\n got  {:?}\n want {:?}",
            i - s * per_sample,
            &got[r.clone()],
            &want[r]
        );
    }
}

fn out_bytes(plan: &Plan) -> usize {
    plan.outputs
        .iter()
        .map(|p| plan.values[p.value].bytes())
        .sum()
}

/// The kernel kinds of a plan (the variant names), sorted and deduplicated.
fn kinds(plan: &Plan) -> Vec<String> {
    let mut k: Vec<String> = plan
        .kernels
        .iter()
        .map(|k| {
            format!("{k:?}")
                .split([' ', '{'])
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    k.sort();
    k.dedup();
    k
}

/// JIT and (when `qemu`) aarch64-under-QEMU outputs equal the reference's.
fn check(what: &str, g: &Graph, samples: &[Vec<Tensor>], t: usize, qemu: bool) -> Plan {
    let (info, plan) = plan_of(g);
    let (input, want) = reference(g, &info, samples, t);
    let per = out_bytes(&plan) * t;
    let mut jit = JitModel::compile(&plan).unwrap();
    let got = jit.run_raw(&input, samples.len(), t).unwrap();
    assert_same(&format!("{what} (host JIT)"), &got, &want, per);
    if qemu {
        let art = emit_object(&plan).unwrap();
        let dir =
            std::env::temp_dir().join(format!("snnc-arm-clif-test-{what}-{}", std::process::id()));
        art.write_to(&dir).unwrap();
        let got =
            run_qemu_aarch64(&dir, &input, samples.len(), t).unwrap_or_else(|e| panic!("{e}"));
        let _ = std::fs::remove_dir_all(&dir);
        assert_same(&format!("{what} (aarch64 under QEMU)"), &got, &want, per);
    }
    plan
}

fn check_model(file: &str, t: usize, qemu: bool) {
    let g = fixture(file);
    let samples = digit_inputs(&g);
    assert_eq!(samples.len(), 360);
    check(file, &g, &samples, t, qemu);
}

#[test]
fn bnn_mlp_jit_matches_reference() {
    check_model("arm/bnn_mlp.ir", 1, false);
}

#[test]
fn qcnn_int8_jit_matches_reference() {
    check_model("arm/qcnn_int8.ir", 1, false);
}

#[test]
fn ann_mlp_int8_jit_matches_reference() {
    check_model("arm/ann_mlp_int8.ir", 1, false);
}

#[test]
fn snn_mlp_jit_matches_reference() {
    check_model("snn_mlp_int.ir", 16, false);
}

#[test]
fn bnn_mlp_aarch64_matches_reference() {
    check_model("arm/bnn_mlp.ir", 1, true);
}

#[test]
fn qcnn_int8_aarch64_matches_reference() {
    check_model("arm/qcnn_int8.ir", 1, true);
}

#[test]
fn ann_mlp_int8_aarch64_matches_reference() {
    check_model("arm/ann_mlp_int8.ir", 1, true);
}

#[test]
fn snn_mlp_aarch64_matches_reference() {
    check_model("snn_mlp_int.ir", 16, true);
}

/// `[a, b, c]` of integers.
fn ints(v: &[i64]) -> String {
    let s: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", s.join(", "))
}

/// `[a, b, c]` of floats (Debug form round-trips f32 exactly).
fn floats(v: &[f32]) -> String {
    let s: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
    format!("[{}]", s.join(", "))
}

fn dims(shape: &[usize]) -> String {
    let s: Vec<String> = shape.iter().map(|x| x.to_string()).collect();
    format!("[{}]", s.join(","))
}

/// A constant node line of random integers in `[lo, hi]`.
fn int_const(rng: &mut Rng, id: &str, dt: &str, shape: &[usize], lo: i64, hi: i64) -> String {
    let n: usize = shape.iter().product();
    let v: Vec<i64> = (0..n).map(|_| rng.int(lo, hi)).collect();
    format!(
        "  {id} = const \"{id}\" : {dt}{} = {}\n",
        dims(shape),
        ints(&v)
    )
}

/// A constant node line of random floats in `[lo, hi]`.
fn f32_const(rng: &mut Rng, id: &str, shape: &[usize], lo: f32, hi: f32) -> String {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.f32(lo, hi)).collect();
    format!(
        "  {id} = const \"{id}\" : f32{} = {}\n",
        dims(shape),
        floats(&v)
    )
}

/// A constant node line of random ±1.
fn bin_const(rng: &mut Rng, id: &str, shape: &[usize]) -> String {
    let n: usize = shape.iter().product();
    let v: Vec<i64> = (0..n)
        .map(|_| if rng.next() & 1 == 1 { -1 } else { 1 })
        .collect();
    format!(
        "  {id} = const \"{id}\" : bin{} = {}\n",
        dims(shape),
        ints(&v)
    )
}

fn parse_graph(text: &str) -> Graph {
    snnc_ir::text::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Integer window ops: grouped strided padded convolution, per-channel requant (some shifts
/// 0), sum and max pooling with padding and ceil mode, relu and clip on integers, broadcast
/// add and mul, and an output that is a reshape of the input (a copy).
fn int_ops_graph(rng: &mut Rng) -> Graph {
    let mut t = String::from("graph \"int_ops\" {\n  x = input 0 \"x\" : i8[1,4,6,6]\n");
    t += &int_const(rng, "w", "i8", &[4, 2, 3, 3], -128, 127);
    t += &int_const(rng, "b", "i32", &[4], -3000, 3000);
    t += "  conv = conv(x, w, b) {stride = [2, 2], pads = [1, 1, 1, 1], dilation = [1, 1], groups = 2} \"conv\" : i32[1,4,3,3]\n";
    t += "  rq = requant(conv) {multiplier = i64[4] [1073741824, 3, 1500000000, 7], shift = i64[4] [31, 0, 40, 1], zero_point = -3, axis = 1, out = i8, lo = -128, hi = 127} \"rq\" : i8[1,4,3,3]\n";
    t += "  ps = pool(rq) {kind = sum, kernel = [2, 2], stride = [1, 1], pads = [1, 1, 1, 1], dilation = [1, 1], ceil_mode = false, count_include_pad = false} \"ps\" : i32[1,4,4,4]\n";
    t += "  pm = pool(ps) {kind = max, kernel = [3, 3], stride = [2, 2], pads = [1, 1, 1, 1], dilation = [1, 1], ceil_mode = true, count_include_pad = false} \"pm\" : i32[1,4,3,3]\n";
    t += "  r = relu(pm) \"r\" : i32[1,4,3,3]\n";
    t += "  cl = clip(ps) {min = -20.0, max = 50.0} \"cl\" : i32[1,4,4,4]\n";
    t += &int_const(rng, "c", "i32", &[1, 4, 1, 1], -100000, 100000);
    t += "  ad = add(r, c) \"ad\" : i32[1,4,3,3]\n";
    t += &int_const(rng, "m", "i16", &[3], -300, 300);
    t += "  mu = mul(rq, m) \"mu\" : i32[1,4,3,3]\n";
    t += "  rs = reshape(x) {shape = [1, 144]} \"rs\" : i8[1,144]\n";
    t += "  o0 = output 0 (ad) \"y0\" : i32[1,4,3,3]\n  o1 = output 1 (mu) \"y1\" : i32[1,4,3,3]\n  o2 = output 2 (rs) \"y2\" : i8[1,144]\n  o3 = output 3 (cl) \"y3\" : i32[1,4,4,4]\n}\n";
    parse_graph(&t)
}

#[test]
fn integer_window_and_elementwise_kernels_match_reference() {
    let mut rng = Rng(0x5eed_0001);
    let g = int_ops_graph(&mut rng);
    let samples: Vec<Vec<Tensor>> = (0..40).map(|_| random_inputs(&g, &mut rng)).collect();
    let plan = check("int_ops", &g, &samples, 1, true);
    assert_eq!(
        kinds(&plan),
        [
            "Clamp",
            "Conv2dInt",
            "Copy",
            "Elementwise",
            "Pool2d",
            "Requant"
        ]
    );
}

/// Float kernels: dense with rows, alpha and bias; batchnorm; relu and clip; max and sum
/// pooling with padding; per-channel quantize (i8 and u8 with zero points) and dequantize;
/// broadcast add and mul.
fn float_ops_graph(rng: &mut Rng) -> Graph {
    let mut t = String::from(
        "graph \"float_ops\" {\n  x = input 0 \"x\" : f32[2,8]\n  z = input 1 \"z\" : f32[1,3,5,5]\n",
    );
    t += &f32_const(rng, "w", &[5, 8], -1.0, 1.0);
    t += &f32_const(rng, "b", &[5], -1.0, 1.0);
    t += "  d = gemm(x, w, b) {alpha = 0.75, beta = 1.5, trans_a = false, trans_b = true} \"d\" : f32[2,5]\n";
    t += &f32_const(rng, "g", &[5], 0.5, 2.0);
    t += &f32_const(rng, "be", &[5], -1.0, 1.0);
    t += &f32_const(rng, "mn", &[5], -0.5, 0.5);
    t += &f32_const(rng, "vr", &[5], 0.1, 2.0);
    t += "  bn = batchnorm(d, g, be, mn, vr) {epsilon = 1e-5} \"bn\" : f32[2,5]\n";
    t += "  r = relu(bn) \"r\" : f32[2,5]\n";
    t += "  c = clip(bn) {min = -0.5, max = 0.75} \"c\" : f32[2,5]\n";
    t += "  mul = mul(r, c) \"mul\" : f32[2,5]\n";
    t += "  pm = pool(z) {kind = max, kernel = [3, 3], stride = [2, 2], pads = [1, 1, 1, 1], dilation = [1, 1], ceil_mode = false, count_include_pad = false} \"pm\" : f32[1,3,3,3]\n";
    t += "  ps = pool(z) {kind = sum, kernel = [2, 3], stride = [1, 2], pads = [1, 0, 1, 0], dilation = [1, 1], ceil_mode = false, count_include_pad = false} \"ps\" : f32[1,3,6,2]\n";
    t += &f32_const(rng, "qs", &[3], 0.01, 0.05);
    t += "  qz = const \"qz\" : i8[3] = [-3, 0, 5]\n";
    t += "  q = quantize_linear(pm, qs, qz) {axis = 1, out = i8} \"q\" : i8[1,3,3,3]\n";
    t += "  dq = dequantize_linear(q, qs, qz) {axis = 1} \"dq\" : f32[1,3,3,3]\n";
    t += "  qs2 = const \"qs2\" : f32[] = [0.02]\n  qz2 = const \"qz2\" : u8[] = [128]\n";
    t += "  q2 = quantize_linear(ps, qs2, qz2) {axis = 0, out = u8} \"q2\" : u8[1,3,6,2]\n";
    t += &f32_const(rng, "k", &[1, 3, 1, 3], -1.0, 1.0);
    t += "  ad = add(dq, k) \"ad\" : f32[1,3,3,3]\n";
    t += "  o0 = output 0 (mul) \"y0\" : f32[2,5]\n  o1 = output 1 (ad) \"y1\" : f32[1,3,3,3]\n  o2 = output 2 (q2) \"y2\" : u8[1,3,6,2]\n}\n";
    parse_graph(&t)
}

#[test]
fn float_and_quantize_kernels_match_reference() {
    let mut rng = Rng(0x5eed_0002);
    let g = float_ops_graph(&mut rng);
    let mut samples: Vec<Vec<Tensor>> = (0..40).map(|_| random_inputs(&g, &mut rng)).collect();
    // Quantize edge cases: NaN, ±inf, halfway values, beyond the range.
    let edge = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.5,
        -2.5,
        1e30,
        -1e30,
        -0.0,
    ];
    let mut z: Vec<f32> = (0..75).map(|i| edge[i % edge.len()]).collect();
    z[9] = 0.01 * 2.5;
    samples.push(vec![
        samples[0][0].clone(),
        Tensor::from_f32(vec![1, 3, 5, 5], z).unwrap(),
    ]);
    let plan = check("float_ops", &g, &samples, 1, true);
    assert_eq!(
        kinds(&plan),
        [
            "Clamp",
            "DenseF32",
            "Dequantize",
            "Elementwise",
            "Pool2d",
            "Quantize",
            "ScaleShift"
        ]
    );
}

/// Binary kernels: per-channel thresholds with flips on rows that are not whole words, a
/// binary dense layer wide enough for more than one popcount group (k = 4100: 32 chunks of
/// 128 bits and one word), a float layer on a binary input.
fn bin_ops_graph(rng: &mut Rng) -> Graph {
    let mut t = String::from(
        "graph \"bin_ops\" {\n  x = input 0 \"x\" : i16[2,40]\n  u = input 1 \"u\" : i8[1,4100]\n",
    );
    let th: Vec<i64> = (0..40).map(|_| rng.int(-2000, 2000)).collect();
    let fl: Vec<i64> = (0..40).map(|_| rng.int(0, 1)).collect();
    t += &format!(
        "  bx = bin_threshold(x) {{threshold = i64[40] {}, flip = i64[40] {}, axis = 1}} \"bx\" : bin[2,40]\n",
        ints(&th),
        ints(&fl)
    );
    t += &bin_const(rng, "w1", &[70, 40]);
    t += &int_const(rng, "b1", "i32", &[70], -20, 20);
    t += "  d1 = gemm(bx, w1, b1) {alpha = 1.0, beta = 1.0, trans_a = false, trans_b = true} \"d1\" : i32[2,70]\n";
    t += "  b2 = bin_threshold(d1) {threshold = i64[] [0], flip = i64[] [0], axis = 0} \"b2\" : bin[2,70]\n";
    t += &f32_const(rng, "w2", &[10, 70], -1.0, 1.0);
    t += "  d2 = gemm(b2, w2) {alpha = 1.0, beta = 1.0, trans_a = false, trans_b = true} \"d2\" : f32[2,10]\n";
    t += "  bu = bin_threshold(u) {threshold = i64[] [3], flip = i64[] [1], axis = 0} \"bu\" : bin[1,4100]\n";
    t += &bin_const(rng, "w3", &[8, 4100]);
    t += "  d3 = gemm(bu, w3) {alpha = 1.0, beta = 1.0, trans_a = false, trans_b = true} \"d3\" : i32[1,8]\n";
    t += "  o0 = output 0 (d2) \"y0\" : f32[2,10]\n  o1 = output 1 (d3) \"y1\" : i32[1,8]\n  o2 = output 2 (b2) \"y2\" : bin[2,70]\n}\n";
    parse_graph(&t)
}

#[test]
fn binary_kernels_match_reference() {
    let mut rng = Rng(0x5eed_0003);
    let g = bin_ops_graph(&mut rng);
    let samples: Vec<Vec<Tensor>> = (0..40).map(|_| random_inputs(&g, &mut rng)).collect();
    let plan = check("bin_ops", &g, &samples, 1, true);
    assert_eq!(kinds(&plan), ["BinThreshold", "DenseBin", "DenseF32"]);
}

/// A stateful graph: LIF with subtractive reset and per-neuron decay on an i16 input, its
/// spikes into an integer dense layer (bool input), and a second LIF resetting to a value.
fn lif_graph(rng: &mut Rng) -> Graph {
    let mut t = String::from("graph \"lif\" {\n  x = input 0 \"x\" : i16[12]\n");
    let decay: Vec<i64> = (0..12).map(|_| rng.int(20000, 32000)).collect();
    let bias: Vec<i64> = (0..12).map(|_| rng.int(-300, 300)).collect();
    let th: Vec<i64> = (0..12).map(|_| rng.int(3000, 9000)).collect();
    t += &format!(
        "  l1 = int_lif(x) {{decay = i64[12] {}, frac_bits = 15, bias = i64[12] {}, threshold = i64[12] {}, v_reset = i64[] [0], reset = subtract, state_bits = 16}} \"l1\" : bool[12]\n",
        ints(&decay),
        ints(&bias),
        ints(&th)
    );
    t += &int_const(rng, "w", "i8", &[6, 12], -128, 127);
    t += "  d = gemm(l1, w) {alpha = 1.0, beta = 1.0, trans_a = false, trans_b = true} \"d\" : i32[6]\n";
    t += "  l2 = int_lif(d) {decay = i64[] [30000], frac_bits = 4, bias = i64[] [7], threshold = i64[] [100], v_reset = i64[6] [-5, 0, 3, -50, 10, 1], reset = to_value, state_bits = 12} \"l2\" : bool[6]\n";
    t += "  o0 = output 0 (l2) \"y0\" : bool[6]\n  o1 = output 1 (d) \"y1\" : i32[6]\n}\n";
    parse_graph(&t)
}

#[test]
fn stateful_lif_kernels_match_reference() {
    let mut rng = Rng(0x5eed_0004);
    let g = lif_graph(&mut rng);
    let samples: Vec<Vec<Tensor>> = (0..30)
        .map(|_| {
            let v = (0..12).map(|_| rng.int(-1500, 6000)).collect();
            vec![Tensor::from_i64(DType::I16, vec![12], v).unwrap()]
        })
        .collect();
    let plan = check("lif", &g, &samples, 12, true);
    assert!(plan.stateful);
    assert_eq!(kinds(&plan), ["DenseInt", "IntLif"]);
}

/// A small BNN: threshold an integer input into bits, a binary dense layer, threshold again,
/// a float layer on the bits.
fn small_bnn_graph() -> Graph {
    let mut rng = Rng(0x5eed_0005);
    let mut t = String::from("graph \"small_bnn\" {\n  x = input 0 \"x\" : i16[1,40]\n");
    t += "  b0 = bin_threshold(x) {threshold = i64[] [5], flip = i64[] [0], axis = 0} \"b0\" : bin[1,40]\n";
    t += &bin_const(&mut rng, "w1", &[8, 40]);
    t += "  d1 = gemm(b0, w1) {alpha = 1.0, beta = 1.0, trans_a = false, trans_b = true} \"d1\" : i32[1,8]\n";
    let th: Vec<i64> = (0..8).map(|_| rng.int(-6, 6)).collect();
    t += &format!("  b1 = bin_threshold(d1) {{threshold = i64[8] {}, flip = i64[8] [0, 1, 0, 0, 1, 0, 0, 0], axis = 1}} \"b1\" : bin[1,8]\n", ints(&th));
    t += &f32_const(&mut rng, "w2", &[4, 8], -1.0, 1.0);
    t += "  d2 = gemm(b1, w2) {alpha = 1.0, beta = 1.0, trans_a = false, trans_b = true} \"d2\" : f32[1,4]\n";
    t += "  o = output 0 (d2) \"y\" : f32[1,4]\n}\n";
    parse_graph(&t)
}

/// A small int8 MLP layer: quantize, integer dense with bias, requant, dequantize.
fn small_int8_graph() -> Graph {
    let mut rng = Rng(0x5eed_0006);
    let mut t = String::from("graph \"small_int8\" {\n  x = input 0 \"x\" : f32[1,8]\n");
    t += "  s = const \"s\" : f32[] = [0.02]\n  z = const \"z\" : u8[] = [0]\n";
    t += "  q = quantize_linear(x, s, z) {axis = 0, out = u8} \"q\" : u8[1,8]\n";
    t += &int_const(&mut rng, "w", "i8", &[4, 8], -128, 127);
    t += &int_const(&mut rng, "b", "i32", &[4], -500, 500);
    t += "  d = gemm(q, w, b) {alpha = 1.0, beta = 1.0, trans_a = false, trans_b = true} \"d\" : i32[1,4]\n";
    t += "  r = requant(d) {multiplier = i64[] [1234567890], shift = i64[] [38], zero_point = 0, axis = 1, out = u8, lo = 0, hi = 255} \"r\" : u8[1,4]\n";
    t += "  ds = const \"ds\" : f32[] = [0.05]\n";
    t += "  dq = dequantize_linear(r, ds, z) {axis = 0} \"dq\" : f32[1,4]\n";
    t += "  o = output 0 (dq) \"y\" : f32[1,4]\n}\n";
    parse_graph(&t)
}

#[test]
fn small_plans_run_and_their_clif_is_stable() {
    let mut rng = Rng(0x5eed_0007);
    for (name, g) in [
        ("small_bnn", small_bnn_graph()),
        ("small_int8", small_int8_graph()),
    ] {
        let samples: Vec<Vec<Tensor>> = (0..20).map(|_| random_inputs(&g, &mut rng)).collect();
        let plan = check(name, &g, &samples, 1, false);
        let a = emit_object(&plan).unwrap();
        // Same plan, same bytes.
        assert_eq!(emit_object(&plan).unwrap(), a);
        assert_eq!(&a.object[..4], b"\x7fELF");
        insta::assert_snapshot!(format!("{name}_clif"), a.clif);
        insta::assert_snapshot!(format!("{name}_header"), a.header);
    }
}

/// The CLIF of the shared models (the aarch64 regression of generated code).
#[test]
fn shared_models_clif_is_stable() {
    for (name, file) in [
        ("bnn_mlp", "arm/bnn_mlp.ir"),
        ("qcnn_int8", "arm/qcnn_int8.ir"),
        ("ann_mlp_int8", "arm/ann_mlp_int8.ir"),
        ("snn_mlp", "snn_mlp_int.ir"),
    ] {
        let (_, plan) = plan_of(&fixture(file));
        let a = emit_object(&plan).unwrap();
        insta::assert_snapshot!(format!("{name}_model_clif"), a.clif);
    }
}

#[test]
fn missing_tool_is_named_with_its_package() {
    let e = snnc_targets::arm::clif::find_tool("snnc-no-such-gcc", "gcc-imaginary", "links")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("snnc-no-such-gcc") && e.contains("gcc-imaginary"),
        "{e}"
    );
}

#[test]
fn jit_refuses_wrong_buffer_sizes() {
    let g = small_int8_graph();
    let (_, plan) = plan_of(&g);
    let mut jit = JitModel::compile(&plan).unwrap();
    assert_eq!(jit.input_bytes(), [32]);
    assert_eq!(jit.output_bytes(), [16]);
    let x = [0u8; 31];
    let mut y = [0u8; 16];
    let e = jit.run(&[&x], &mut [&mut y]).unwrap_err().to_string();
    assert!(e.contains("input 0 has 31 bytes"), "{e}");
    let x = [0u8; 32];
    let mut short = [0u8; 15];
    assert!(jit.run(&[&x], &mut [&mut short]).is_err());
    assert!(jit.run(&[], &mut [&mut y]).is_err());
    assert!(jit.run(&[&x], &mut [&mut y]).is_ok());
}

/// Integer inputs × packed ±1 weights (u8 and i8 with a bias, rows of 18): the bit-plane
/// popcount path against the reference, JIT and aarch64.
#[test]
fn integer_input_binary_weights_match_reference() {
    let g = fixture("arm/binw.ir");
    let mut rng = Rng(41);
    let samples: Vec<Vec<Tensor>> = (0..60).map(|_| random_inputs(&g, &mut rng)).collect();
    let plan = check("binw", &g, &samples, 1, true);
    let n = plan
        .kernels
        .iter()
        .filter(|k| k.kind() == "dense_bin_weights");
    assert_eq!(n.count(), 2);
}
