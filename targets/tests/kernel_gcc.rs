//! The shipped PE kernel compiles for the Cortex-M4F without warnings, and, built for the host
//! with its test driver, computes exactly what the reference semantics (snnc-ir's
//! `requant_scale` and `IntLifState`) compute on a hand-built two-PE network.
//!
//! A missing compiler fails these tests (with the Debian package to install) rather than
//! skipping them: the kernel's warning-free build is a deliverable.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use snnc_ir::op::int::{requant_scale, IntLifState};
use snnc_ir::op::{IntLif, ResetMode};
use snnc_ir::{DType, Tensor};
use snnc_targets::spinnaker2::artifact::{
    build_synaptic_matrix, synapse_word, MasterEntry, MatrixBlock, NeuronParams, PeImage, PeRole,
    RequantEntry,
};
use snnc_targets::spinnaker2::kernel::{HOST_DRIVER_C, SNNC_PE_C, SNNC_PE_H};

const ARM_FLAGS: [&str; 5] = [
    "-mcpu=cortex-m4",
    "-mthumb",
    "-mfloat-abi=hard",
    "-mfpu=fpv4-sp-d16",
    "-O2",
];
const COMMON_FLAGS: [&str; 5] = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"];

/// A scratch directory holding the embedded kernel sources (what artifacts ship).
fn sources(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("snnc-kernel-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("create scratch dir");
    for (f, text) in [
        ("snnc_pe.h", SNNC_PE_H),
        ("snnc_pe.c", SNNC_PE_C),
        ("host_driver.c", HOST_DRIVER_C),
    ] {
        fs::write(d.join(f), text).expect("write source");
    }
    d
}

/// Runs a compiler; panics with `package` named when it is not installed, and with its
/// diagnostics when it fails or warns.
fn compile(tool: &str, package: &str, args: &[&str], dir: &Path) {
    let out = Command::new(tool).args(args).current_dir(dir).output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            panic!("`{tool}` could not be run ({e}); install it: apt-get install -y {package}")
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{tool} {args:?} failed:\n{stderr}");
    assert!(
        stderr.trim().is_empty(),
        "{tool} {args:?} warned:\n{stderr}"
    );
}

#[test]
fn kernel_compiles_for_cortex_m4f_without_warnings() {
    let d = sources("arm");
    let mut args: Vec<&str> = ARM_FLAGS.to_vec();
    args.extend(COMMON_FLAGS);
    args.extend(["-c", "snnc_pe.c", "-o", "snnc_pe.o"]);
    compile(
        "arm-none-eabi-gcc",
        "gcc-arm-none-eabi libnewlib-arm-none-eabi",
        &args,
        &d,
    );
    assert!(d.join("snnc_pe.o").is_file());
    let _ = fs::remove_dir_all(&d);
}

/// Builds the host driver with the kernel; returns the executable.
fn host_driver(name: &str, extra: Option<&str>) -> PathBuf {
    let d = sources(name);
    let mut args: Vec<&str> = vec!["-O2"];
    args.extend(COMMON_FLAGS);
    let main = match extra {
        Some(src) => {
            fs::write(d.join("extra.c"), src).expect("write test program");
            "extra.c"
        }
        None => "host_driver.c",
    };
    args.extend([main, "snnc_pe.c", "-o", "prog"]);
    compile("cc", "gcc", &args, &d);
    d.join("prog")
}

/// xorshift64*: deterministic test data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

#[test]
fn requant_and_floor_shift_match_reference() {
    let mut cases: Vec<[i64; 6]> = vec![
        [-1, 1, 1, 0, i32::MIN as i64, i32::MAX as i64],
        [-3, 1, 1, 0, -100, 100],
        [-5, 3, 2, 7, -100, 100],
        [
            i32::MIN as i64,
            (1 << 31) - 1,
            62,
            0,
            i32::MIN as i64,
            i32::MAX as i64,
        ],
        [
            i32::MIN as i64,
            (1 << 31) - 1,
            0,
            5,
            i32::MIN as i64,
            i32::MAX as i64,
        ],
        [i32::MAX as i64, (1 << 31) - 1, 30, -3, -128, 127],
        [123_456, 1_518_500_250, 31, 0, -32768, 32767],
        [0, 0, 0, 9, 0, 255],
    ];
    let mut rng = Rng(7);
    for _ in 0..500 {
        cases.push([
            rng.range(i32::MIN as i64, i32::MAX as i64),
            rng.range(0, (1 << 31) - 1),
            rng.range(0, 62),
            rng.range(-128, 127),
            rng.range(-40000, 0),
            rng.range(0, 40000),
        ]);
    }
    let table: Vec<String> = cases
        .iter()
        .map(|c| {
            format!(
                "{{{}LL,{}LL,{},{},{},{}}}",
                c[0], c[1], c[2], c[3], c[4], c[5]
            )
        })
        .collect();
    let prog = format!(
        "#include <stdio.h>\n#include \"snnc_pe.h\"\nstatic const long long c[][6] = {{{}}};\n\
         int main(void) {{ size_t i; for (i = 0; i < sizeof c / sizeof c[0]; i++) {{\n\
         printf(\"%d %lld\\n\", (int)snnc_requant((int32_t)c[i][0], (int32_t)c[i][1], (uint32_t)c[i][2],\n\
         (int32_t)c[i][3], (int32_t)c[i][4], (int32_t)c[i][5]),\n\
         (long long)snnc_floor_shift((int64_t)c[i][0] * c[i][1], (uint32_t)c[i][2])); }} return 0; }}\n",
        table.join(",\n")
    );
    let exe = host_driver("requant", Some(&prog));
    let out = Command::new(&exe).output().expect("run requant program");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), cases.len());
    for (c, line) in cases.iter().zip(lines) {
        let scaled = requant_scale(c[0], c[1], c[2] as u32).expect("fits i64");
        let want = (scaled + c[3]).clamp(c[4], c[5]);
        let floor = (c[0] * c[1]).div_euclid(1i64 << c[2]);
        assert_eq!(line, format!("{want} {floor}"), "case {c:?}");
    }
    if let Some(d) = exe.parent() {
        let _ = fs::remove_dir_all(d);
    }
}

/// The hand-built network: 4 payload inputs -> 3 LIF neurons with a recurrent projection
/// onto themselves (synapse type 1), delays 1..=4 with D = 4.
struct Net {
    /// rows[pre] of the input projection: (post, delay, weight), type 0.
    input_rows: Vec<Vec<(u32, u32, i32)>>,
    /// rows[pre] of the recurrent projection, type 1 (spikes, no payload).
    rec_rows: Vec<Vec<(u32, u32, i32)>>,
    requant: [[RequantEntry; 3]; 2],
    neurons: [NeuronParams; 3],
    subtract: bool,
}

const STATE_BITS: u32 = 12;
const FRAC_BITS: u32 = 4;

fn net(subtract: bool) -> Net {
    let rq = |m, s, zp| RequantEntry {
        multiplier: m,
        shift: s,
        zero_point: zp,
        lo: -500,
        hi: 500,
    };
    Net {
        input_rows: vec![
            vec![(0, 1, 3), (1, 2, -2), (2, 4, 1)],
            vec![(0, 3, -4), (2, 1, 5)],
            vec![],
            vec![(0, 1, 2), (1, 1, 6), (2, 2, -3)],
        ],
        rec_rows: vec![
            vec![(1, 1, 40), (2, 2, -30)],
            vec![(0, 4, -25)],
            vec![(0, 1, 10), (1, 3, 10), (2, 1, -50)],
        ],
        requant: [
            [rq(3, 2, 0), rq(5, 3, 1), rq(7, 3, -1)],
            [rq(1, 0, 0), rq(3, 1, 0), rq(1 << 20, 21, 0)],
        ],
        neurons: [
            NeuronParams {
                decay: 14,
                bias: 1,
                threshold: 60,
                v_reset: 0,
            },
            NeuronParams {
                decay: 12,
                bias: 0,
                threshold: 45,
                v_reset: -10,
            },
            NeuronParams {
                decay: 15,
                bias: -2,
                threshold: 50,
                v_reset: 5,
            },
        ],
        subtract,
    }
}

fn images(n: &Net) -> (PeImage, PeImage) {
    let words = |rows: &[Vec<(u32, u32, i32)>], k| -> Vec<Vec<u32>> {
        rows.iter()
            .map(|r| {
                r.iter()
                    .map(|&(p, d, w)| synapse_word(p, d, k, w).expect("valid synapse"))
                    .collect()
            })
            .collect()
    };
    let (master, synapses) = build_synaptic_matrix(vec![
        MatrixBlock {
            key: 4,
            mask: 0xffff_fffc,
            payload: false,
            rows: words(&n.rec_rows, 1),
        },
        MatrixBlock {
            key: 0,
            mask: 0xffff_fffc,
            payload: true,
            rows: words(&n.input_rows, 0),
        },
    ])
    .expect("matrix");
    let lif = PeImage {
        role: PeRole::Lif,
        n: 3,
        key_base: 4,
        record: true,
        payload: false,
        reset_subtract: n.subtract,
        sends: true,
        synapses_dram: false,
        start_tick: 1,
        state_bits: STATE_BITS,
        frac_bits: FRAC_BITS,
        k: 2,
        d: 4,
        first: 0,
        neurons: n.neurons.to_vec(),
        requant: n.requant.iter().map(|r| r.to_vec()).collect(),
        master,
        synapses,
    };
    (PeImage::source(4, 0, 0, true, true), lif)
}

fn i64t(v: Vec<i64>) -> Tensor {
    Tensor::from_i64(DType::I64, vec![v.len()], v).expect("tensor")
}

/// The spec's tick semantics written with the reference's oracles: exact pending sums per
/// (arrival tick, type, post), requant_scale + clamp, IntLifState::step.
fn reference(n: &Net, inputs: &[Vec<i32>], latency: usize) -> Vec<Vec<u8>> {
    let l = IntLif {
        decay: i64t(n.neurons.iter().map(|p| i64::from(p.decay)).collect()),
        frac_bits: FRAC_BITS as u8,
        bias: i64t(n.neurons.iter().map(|p| i64::from(p.bias)).collect()),
        threshold: i64t(n.neurons.iter().map(|p| i64::from(p.threshold)).collect()),
        v_reset: i64t(n.neurons.iter().map(|p| i64::from(p.v_reset)).collect()),
        reset: if n.subtract {
            ResetMode::Subtract
        } else {
            ResetMode::ToValue
        },
        state_bits: STATE_BITS as u8,
    };
    let mut lif = IntLifState::new(&l, &[3]).expect("lif");
    let mut pending: BTreeMap<(usize, usize, usize), i64> = BTreeMap::new();
    // Packets sent at the previous tick: (source?, pre, payload).
    let mut prev: Vec<(bool, usize, i64)> = Vec::new();
    let mut out = Vec::new();
    for t in 0..inputs.len() + latency {
        for &(from_source, pre, payload) in &prev {
            let (rows, k, scale) = if from_source {
                (&n.input_rows, 0, payload)
            } else {
                (&n.rec_rows, 1, 1)
            };
            for &(post, delay, w) in &rows[pre] {
                *pending
                    .entry((t - 1 + delay as usize, k, post as usize))
                    .or_default() += i64::from(w) * scale;
            }
        }
        let mut sent = Vec::new();
        if t < inputs.len() {
            for (i, &x) in inputs[t].iter().enumerate() {
                if x != 0 {
                    sent.push((true, i, i64::from(x)));
                }
            }
        }
        if t >= 1 {
            let current: Vec<i64> = (0..3)
                .map(|i| {
                    (0..2)
                        .map(|k| {
                            let r = n.requant[k][i];
                            let acc = pending.get(&(t, k, i)).copied().unwrap_or(0);
                            let s =
                                requant_scale(acc, i64::from(r.multiplier), r.shift).expect("fits");
                            (s + i64::from(r.zero_point)).clamp(i64::from(r.lo), i64::from(r.hi))
                        })
                        .sum()
                })
                .collect();
            let spikes = lif.step(&i64t(current)).expect("step");
            let spikes = spikes.to_i64_vec().expect("spikes");
            for (i, &s) in spikes.iter().enumerate() {
                if s != 0 {
                    sent.push((false, i, 0));
                }
            }
            out.push(spikes.iter().map(|&s| s as u8).collect());
        }
        prev = sent;
    }
    out
}

/// `img` with its synapse section in DRAM and every master entry rewritten as a BITMAP entry
/// (bitmap words, then pointers of the present rows, then the rows).
fn dram_bitmap(img: &PeImage) -> PeImage {
    let mut out = img.clone();
    out.synapses_dram = true;
    let mut words = vec![0u32];
    let mut master = Vec::new();
    for e in &img.master {
        let rows: Vec<(u32, Vec<u32>)> = (0..e.n_rows)
            .filter_map(|j| img.row(e, j).map(|r| (j, r.to_vec())))
            .filter(|(_, r)| !r.is_empty())
            .collect();
        let base = words.len();
        let nbw = e.n_rows.div_ceil(32) as usize;
        words.resize(base + nbw + rows.len(), 0);
        for (rank, (j, r)) in rows.iter().enumerate() {
            words[base + (*j / 32) as usize] |= 1 << (j % 32);
            words[base + nbw + rank] = words.len() as u32;
            words.push(r.len() as u32);
            words.extend_from_slice(r);
        }
        master.push(MasterEntry {
            index_off: base as u32,
            bitmap: true,
            ..*e
        });
    }
    out.master = master;
    out.synapses = words;
    out
}

fn run_driver(exe: &Path, dir: &Path, n: &Net, inputs: &[Vec<i32>]) -> Vec<Vec<u8>> {
    run_driver_with(exe, dir, n, inputs, false)
}

fn run_driver_with(
    exe: &Path,
    dir: &Path,
    n: &Net,
    inputs: &[Vec<i32>],
    bitmap: bool,
) -> Vec<Vec<u8>> {
    let (src, lif) = images(n);
    let lif = if bitmap { dram_bitmap(&lif) } else { lif };
    fs::write(dir.join("pe_0.bin"), src.encode().expect("encode")).expect("write");
    fs::write(dir.join("pe_1.bin"), lif.encode().expect("encode")).expect("write");
    let mut desc = String::from("snnc-host 1 # test\nlatency 1\n");
    desc += &format!("steps {}\npe pe_0.bin\npe pe_1.bin\nvalues\n", inputs.len());
    for x in inputs {
        let v: Vec<String> = x.iter().map(i32::to_string).collect();
        desc += &(v.join(" ") + "\n");
    }
    fs::write(dir.join("net.txt"), desc).expect("write description");
    let out = Command::new(exe)
        .arg("net.txt")
        .current_dir(dir)
        .output()
        .expect("run host driver");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unmatched 0 out_of_range 0"), "{stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split(' ').map(|t| u8::from(t == "1")).collect())
        .collect()
}

#[test]
fn host_driver_matches_reference_on_two_pe_network() {
    let exe = host_driver("driver", None);
    let dir = exe.parent().expect("dir").to_path_buf();
    let mut rng = Rng(42);
    let inputs: Vec<Vec<i32>> = (0..400)
        .map(|_| {
            (0..4)
                .map(|_| {
                    if rng.range(0, 3) == 0 {
                        0
                    } else {
                        rng.range(-60, 127) as i32
                    }
                })
                .collect()
        })
        .collect();
    for subtract in [false, true] {
        let n = net(subtract);
        let want = reference(&n, &inputs, 1);
        let got = run_driver(&exe, &dir, &n, &inputs);
        assert_eq!(got.len(), inputs.len());
        assert_eq!(got, want, "reset subtract = {subtract}");
        // The same network with the synapses in DRAM as BITMAP entries: the same spikes.
        let got = run_driver_with(&exe, &dir, &n, &inputs, true);
        assert_eq!(got, want, "DRAM bitmap rows, reset subtract = {subtract}");
        let ones: usize = want.iter().flatten().map(|&s| usize::from(s)).sum();
        // The test is only meaningful if neurons both fire and stay silent.
        assert!(ones > 60 && ones < 1100, "{ones} spikes of 1200");
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn host_driver_rejects_bad_input() {
    let exe = host_driver("bad", None);
    let dir = exe.parent().expect("dir").to_path_buf();
    fs::write(dir.join("junk.bin"), [0u8; 80]).expect("write");
    fs::write(
        dir.join("d.txt"),
        "snnc-host 1\nlatency 0\nsteps 0\npe junk.bin\nvalues\n",
    )
    .expect("write");
    let out = Command::new(&exe)
        .arg("d.txt")
        .current_dir(&dir)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("snnc_pe_init failed with -2"), "{err}");
    let _ = fs::remove_dir_all(&dir);
}
