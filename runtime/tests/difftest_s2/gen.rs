//! Seeded random integer spiking models in the shapes the spinnaker2 lowering accepts
//! (`targets/src/spinnaker2/lower*`): one input (a float input quantized once by a per-tensor
//! `quantize_linear`, bool spikes, or integers), then LIF populations, each fed by one or more
//! projections `[reshape|delay] → gemm|matmul → [delay|reshape] → requant → [delay|reshape]`
//! joined by integer `add`s into an `int_lif`, with recurrent edges (self-recurrence and
//! feedback from later populations), skip projections and `delay` ops at every stage.
//!
//! A [`Spec`] holds the choices shrinking can reduce; weight and parameter *values* are drawn at
//! build time from each layer's and projection's own seed, so removing or shrinking one part
//! leaves the others' values alone. Values are scaled so that neurons fire at low rates: each
//! projection's requant maps the expected spread of its accumulator to the layer's current unit
//! `U`, and thresholds are a few `U` above the membrane's expected spread.

use std::collections::BTreeSet;

use snnc_ir::interp::Interpreter;
use snnc_ir::op::int::IntLifState;
use snnc_ir::op::{Delay, Flatten, Gemm, IntLif, QuantizeLinear, Requant, ResetMode, Reshape};
use snnc_ir::rng::SplitMix64;
use snnc_ir::{verify, DType, Graph, NodeId, Op, Tensor, TensorType};
use snnc_targets::spinnaker2::machine::{Board, Chip, Machine};
use snnc_targets::spinnaker2::partition::SynapseStorage;

/// Step length the models are built and run with (delay ops are given in seconds).
pub const DT: f32 = 1e-3;

/// SplitMix64 with the draws the generator needs.
pub struct Rng(SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(SplitMix64::new(seed))
    }
    pub fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in `[lo, hi]` (inclusive).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo) as u64 + 1;
        lo + (self.next() % span) as i64
    }
    pub fn upto(&mut self, lo: usize, hi: usize) -> usize {
        self.range(lo as i64, hi as i64) as usize
    }
    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[(self.next() % v.len() as u64) as usize]
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How the model input enters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// f32 input quantized by `quantize_linear` to i8 (`signed`) or u8, zero point 0 or not.
    Quant { signed: bool, zp: bool },
    /// bool spikes (key-only packets).
    Spikes,
    /// i8 integers given directly (payload packets).
    Int8,
}

/// Weight value sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum W {
    I8,
    /// int4 values stored as i8.
    Int4,
    /// ±1 stored as i8.
    Pm1,
    /// ±1 of the `bin` type.
    Bin,
    /// 0..=255 stored as u8 (9 signed bits: the event kernel).
    U8,
    I16,
}

/// The requant of one projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rq {
    pub out: DType,
    pub per_channel: bool,
    /// A non-zero zero point.
    pub zp: bool,
    /// Bounds narrower than the output type.
    pub clamp: bool,
    /// 0: a fitted multiplier and shift, 1: a power of two (`m = 1`, as quantize-snn writes
    /// them), 2: the identity (`m = 1, s = 0`).
    pub kind: u8,
}

/// How a projection multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// gemm with `[N, K]` weights.
    GemmT,
    /// gemm with `[K, N]` weights.
    Gemm,
    /// matmul with `[K, N]` weights.
    MatMul,
    /// gemm with `trans_a` over a `[K, 1]` input.
    GemmTransA,
    /// gemm with an all-zero bias (accepted by the lowering).
    GemmZeroBias,
    /// gemm over a rank-1 `[K]` input.
    GemmRank1,
}

/// Stages of a projection, for recurrent edges and delay ops.
pub const PRE: usize = 0;
pub const ACC: usize = 1;
pub const CUR: usize = 2;

/// One projection into a layer.
#[derive(Clone, Debug)]
pub struct Proj {
    /// Pre population: 0 the input, `i + 1` layer `i` (a later layer or the layer itself needs
    /// a recurrent edge).
    pub from: usize,
    /// Recurrent edge at stage `PRE`, `ACC`, `CUR`.
    pub rec: [bool; 3],
    /// A delay op of that many steps at stage `PRE`, `ACC`, `CUR`.
    pub delay: [Option<u8>; 3],
    pub w: W,
    /// Percent of non-zero weights.
    pub density: u8,
    pub rq: Rq,
    pub form: Form,
    /// Reshape the accumulator (to the layer's shape) before the requant.
    pub acc_reshape: bool,
    /// log2 of the accumulator spread relative to the layer's current unit (0: one unit).
    pub gain: i8,
    pub seed: u64,
}

/// The neurons of one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lif {
    pub state_bits: u8,
    pub frac_bits: u8,
    pub subtract: bool,
    /// 0: scalar parameters, 1: per channel (broadcast), 2: per neuron.
    pub params: u8,
    pub bias: bool,
    pub v_reset: bool,
    /// Threshold in quarter units of the membrane's expected spread.
    pub theta: u8,
    /// Decay, negative thresholds or other unusual values.
    pub wild: bool,
}

/// One LIF population and the projections into it.
#[derive(Clone, Debug)]
pub struct Layer {
    pub n: usize,
    /// 0: `[1, n]`, 1: `[n]`, 2: `[1, a, b]`.
    pub shape: u8,
    pub lif: Lif,
    pub proj: Vec<Proj>,
    /// Requant bounds left wide although several projections are added (the add may wrap:
    /// the lowering refuses it).
    pub wrap: bool,
    /// The first projection's current is added a second time (`add(c, c)`: one gemm reached
    /// twice).
    pub twice: bool,
    /// The first projection reuses the previous layer's first current (one requant fanning
    /// out to two populations) when both layers have the same size and shape.
    pub share: bool,
    pub seed: u64,
}

/// The machine a model is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MachineKind {
    /// One SpiNNaker2 chip (152 PEs, 128 KiB SRAM per PE).
    Default,
    /// `Machine::tiny(x, y)`: 16 PEs per chip, 12 KiB of data SRAM per PE.
    Tiny(u8, u8),
    /// One QPE of 4 PEs per chip, 8 KiB of SRAM per PE, 24 routing entries: models spread over
    /// many chips and routing tables must be compressed.
    Micro(u8, u8),
    /// A 3 × 2 QPE mesh holding 4 QPEs of 2 PEs (two empty slots in the last row), 6 KiB of
    /// data SRAM per PE.
    Odd(u8, u8),
    /// Tiny chips at 10 MHz: 10,000 cycles per tick, so the cycle budget cuts slices.
    Slow(u8, u8),
    /// SpiNNaker2 chips (8 × 5 mesh, 38 QPEs: two empty slots) with 4 KiB of SRAM per PE, on a
    /// board of 1 × `y` chips: large models cross from one chip row to the next.
    Column(u8),
}

impl MachineKind {
    pub fn machine(self) -> Machine {
        let board = |x: u8, y: u8| Board {
            chips_x: u32::from(x.max(1)),
            chips_y: u32::from(y.max(1)),
            ..Board::default()
        };
        match self {
            MachineKind::Default => Machine::spinnaker2_default(),
            MachineKind::Tiny(x, y) => Machine::tiny(u32::from(x), u32::from(y)),
            MachineKind::Micro(x, y) => Machine {
                chip: Chip {
                    pes_per_qpe: 4,
                    qpes: 1,
                    mesh_width: 1,
                    mesh_height: 1,
                    sram_per_pe_bytes: 8 * 1024,
                    reserved_sram_per_pe_bytes: 2 * 1024,
                    // Small tables: ordered-covering compression has to work.
                    routing_entries: 24,
                    ..Chip::default()
                },
                board: board(x, y),
            },
            MachineKind::Odd(x, y) => Machine {
                chip: Chip {
                    pes_per_qpe: 2,
                    qpes: 4,
                    mesh_width: 3,
                    mesh_height: 2,
                    sram_per_pe_bytes: 8 * 1024,
                    reserved_sram_per_pe_bytes: 2 * 1024,
                    routing_entries: 1024,
                    ..Chip::default()
                },
                board: board(x, y),
            },
            MachineKind::Slow(x, y) => {
                let mut m = Machine::tiny(u32::from(x), u32::from(y));
                m.chip.clock_hz = 10_000_000;
                m
            }
            MachineKind::Column(y) => Machine {
                chip: Chip {
                    sram_per_pe_bytes: 5 * 1024,
                    reserved_sram_per_pe_bytes: 1024,
                    ..Chip::default()
                },
                board: board(1, y),
            },
        }
    }
}

/// A model to build, and how to compile and run it.
#[derive(Clone, Debug)]
pub struct Spec {
    pub seed: u64,
    pub input: Input,
    pub n_in: usize,
    /// 0: `[1, n]`, 1: `[n]`, 2: `[1, c, h, w]` (reshaped before the quantizer when float).
    pub in_shape: u8,
    pub layers: Vec<Layer>,
    /// Index of the output layer (clamped to the last).
    pub out: usize,
    /// The output reads the spikes through a reshape/flatten.
    pub out_reshape: bool,
    pub steps: usize,
    pub samples: usize,
    pub machine: MachineKind,
    pub synapses: SynapseStorage,
    /// Assumed firing rate for partitioning, percent.
    pub max_rate: u8,
}

/// How a built model is compiled and fed.
#[derive(Clone, Debug)]
pub struct RunOpts {
    pub machine: Machine,
    pub synapses: SynapseStorage,
    pub max_rate: f64,
    pub steps: usize,
    pub samples: usize,
    /// Seed of the input samples.
    pub input_seed: u64,
}

/// A built model: the verified graph, how to run it and the features it exercises.
pub struct Built {
    pub graph: Graph,
    pub opts: RunOpts,
    pub features: BTreeSet<String>,
}

/// Percent of input elements that are non-zero in a step, for the input seed `seed` (the
/// sample generator and the generator's scale estimates agree on it).
pub fn input_rate(seed: u64) -> u8 {
    Rng::new(seed ^ 0x7a7e).pick(&[3, 5, 10, 10, 20, 40])
}

/// A random spec for `seed` (it may still fail to build; the caller regenerates).
pub fn generate(seed: u64) -> Spec {
    let mut r = Rng::new(seed);
    let input = match r.upto(0, 9) {
        0..=5 => Input::Quant {
            signed: r.chance(50),
            zp: r.chance(15),
        },
        6..=8 => Input::Spikes,
        _ => Input::Int8,
    };
    let n_in = match r.upto(0, 19) {
        0..=15 => r.upto(1, 64),
        16..=18 => r.upto(65, 300),
        _ => r.upto(301, 1500),
    };
    let n_layers = r.pick(&[1, 1, 2, 2, 2, 3, 3, 4, 5]);
    let mut layers: Vec<Layer> = Vec::new();
    for i in 0..n_layers {
        let mut l = random_layer(&mut r, i, n_layers);
        if let (true, Some(prev)) = (l.share, layers.last()) {
            // Sharing a current needs equal sizes, shapes and add widths.
            l.n = prev.n;
            l.shape = prev.shape;
            l.twice = prev.twice;
            l.proj.truncate(prev.proj.len());
        }
        layers.push(l);
    }
    let out = if r.chance(85) {
        n_layers - 1
    } else {
        r.upto(0, n_layers - 1)
    };
    let mut machine = match r.upto(0, 19) {
        0..=4 => MachineKind::Default,
        5 => MachineKind::Column(r.upto(1, 2) as u8),
        6..=9 => MachineKind::Tiny(r.upto(1, 3) as u8, r.upto(1, 2) as u8),
        10..=14 => MachineKind::Micro(r.upto(1, 4) as u8, r.upto(1, 3) as u8),
        15..=17 => MachineKind::Odd(r.upto(1, 2) as u8, r.upto(1, 2) as u8),
        _ => MachineKind::Slow(r.upto(1, 2) as u8, r.upto(1, 2) as u8),
    };
    // Most models should fit their machine: a small machine that clearly cannot hold the
    // model is replaced by the default chip (a few are kept, to see the refusal).
    if !fits(&layers, n_in, machine) && r.chance(95) {
        // First a bigger board of the same chips, then the default chip.
        let boards = [(2, 1), (2, 2), (3, 2), (4, 2), (4, 3)];
        let bigger = boards.iter().find_map(|&(x, y)| {
            let m = match machine {
                MachineKind::Tiny(..) => MachineKind::Tiny(x, y),
                MachineKind::Micro(..) => MachineKind::Micro(x, y),
                MachineKind::Odd(..) => MachineKind::Odd(x, y),
                MachineKind::Slow(..) => MachineKind::Slow(x, y),
                MachineKind::Column(_) => MachineKind::Column(y),
                MachineKind::Default => MachineKind::Default,
            };
            fits(&layers, n_in, m).then_some(m)
        });
        machine = bigger.unwrap_or(MachineKind::Default);
    }
    Spec {
        seed,
        input,
        n_in,
        in_shape: r.upto(0, 2) as u8,
        layers,
        out,
        out_reshape: r.chance(20),
        steps: if r.chance(10) {
            r.upto(1, 3)
        } else {
            r.upto(4, 40)
        },
        samples: r.upto(1, 4),
        machine,
        synapses: r.pick(&[
            SynapseStorage::Sram,
            SynapseStorage::Sram,
            SynapseStorage::Dram,
            SynapseStorage::Auto,
        ]),
        max_rate: r.pick(&[10, 10, 10, 10, 2, 30, 100]),
    }
}

/// A rough check that the layers fit the machine's PE SRAM (synapse words, per-neuron state
/// and the rows of a single neuron), with room for slicing overheads.
fn fits(layers: &[Layer], n_in: usize, machine: MachineKind) -> bool {
    let m = machine.machine();
    let budget = m.sram_budget_per_pe() as f64;
    let capacity = f64::from(m.total_pes()) * budget;
    let mut need = n_in as f64 * 8.0;
    for l in layers {
        let fan_in: f64 = l
            .proj
            .iter()
            .map(|p| {
                let pre = if p.from == 0 {
                    n_in
                } else {
                    layers.get(p.from - 1).map_or(1, |x| x.n)
                };
                pre as f64 * f64::from(p.density.max(1)) / 100.0
            })
            .sum();
        let per_neuron = 40.0 + 28.0 * l.proj.len() as f64 + 12.0 * fan_in;
        if per_neuron > 0.6 * budget {
            return false;
        }
        need += l.n as f64 * (40.0 + 28.0 * l.proj.len() as f64 + 4.0 * fan_in);
    }
    need < 0.4 * capacity
}

fn random_layer(r: &mut Rng, i: usize, n_layers: usize) -> Layer {
    let n = match r.upto(0, 49) {
        0..=34 => r.upto(1, 48),
        35..=45 => r.upto(49, 200),
        46..=48 => r.upto(201, 600),
        _ => r.upto(601, 1500),
    };
    let k = match r.upto(0, 99) {
        0..=59 => 1,
        60..=84 => 2,
        85..=94 => 3,
        95..=98 => 4,
        _ => 5,
    };
    let mut proj = Vec::new();
    for j in 0..k {
        let from = if j == 0 {
            if r.chance(92) {
                if r.chance(75) {
                    i
                } else {
                    r.upto(0, i)
                }
            } else {
                // Only recurrent input: itself or a later layer.
                r.upto(i + 1, n_layers)
            }
        } else {
            match r.upto(0, 19) {
                0..=5 => i + 1,
                6..=8 => r.upto(i + 1, n_layers),
                9..=11 => proj.first().map_or(i, |p: &Proj| p.from),
                _ => r.upto(0, i),
            }
        };
        proj.push(random_proj(r, i, from));
    }
    let state_bits = match r.upto(0, 9) {
        0..=3 => 16,
        4..=7 => 32,
        8 => r.upto(2, 7) as u8,
        _ => r.upto(8, 31) as u8,
    };
    Layer {
        n,
        shape: r.upto(0, 2) as u8,
        lif: Lif {
            state_bits,
            frac_bits: if r.chance(15) {
                r.pick(&[0, 1, 2, 24, 30])
            } else {
                r.upto(4, 16) as u8
            },
            subtract: r.chance(50),
            params: r.upto(0, 2) as u8,
            bias: r.chance(35),
            v_reset: r.chance(25),
            theta: r.upto(6, 24) as u8,
            wild: r.chance(5),
        },
        proj,
        wrap: r.chance(3),
        // Four projections and a doubled current would be five synapse types (refused).
        twice: k < 4 && r.chance(4),
        share: i > 0 && r.chance(6),
        seed: r.next(),
    }
}

fn random_proj(r: &mut Rng, layer: usize, from: usize) -> Proj {
    let backwards = from > layer;
    let mut rec = [false; 3];
    if backwards || r.chance(8) {
        rec[r.upto(0, 2)] = true;
        if r.chance(10) {
            rec[r.upto(0, 2)] = true;
        }
    }
    let mut delay = [None; 3];
    for d in &mut delay {
        if r.chance(12) {
            *d = Some(if r.chance(3) {
                13
            } else {
                r.pick(&[0, 1, 1, 2, 3, 4, 7])
            });
        }
    }
    // A feedback projection from `from - 1` into `layer` needs about that many steps of delay
    // on the loop (the lowering refuses a loop it cannot pipeline; rarely tested on purpose).
    if from > layer + 1 && r.chance(90) {
        let need = (from - 1 - layer) as u8 + r.pick(&[0, 0, 1]);
        let at = r.pick(&[PRE, ACC, PRE]);
        delay[at] = Some(need.max(delay[at].unwrap_or(0)));
    }
    let w = r.pick(&[
        W::I8,
        W::I8,
        W::I8,
        W::Int4,
        W::Int4,
        W::Pm1,
        W::Bin,
        W::U8,
        W::I16,
    ]);
    let rq = Rq {
        out: r.pick(&[DType::I16, DType::I16, DType::I32, DType::I8, DType::U8]),
        per_channel: r.chance(30),
        zp: r.chance(10),
        clamp: r.chance(20),
        kind: match r.upto(0, 19) {
            0..=15 => 0,
            16..=18 => 1,
            _ => 2,
        },
    };
    // A delay or recurrent edge after the requant needs zero point 0 (else refused, rarely on
    // purpose).
    let rq = if (rec[CUR] || delay[CUR].is_some()) && r.chance(90) {
        Rq { zp: false, ..rq }
    } else {
        rq
    };
    Proj {
        from,
        rec,
        delay,
        w,
        density: if r.chance(3) {
            0
        } else {
            r.pick(&[100, 100, 100, 100, 60, 30, 10, 3])
        },
        rq,
        form: r.pick(&[
            Form::GemmT,
            Form::GemmT,
            Form::Gemm,
            Form::MatMul,
            Form::GemmTransA,
            Form::GemmZeroBias,
            Form::GemmRank1,
        ]),
        acc_reshape: r.chance(20),
        // Now and then far too much current: the membrane saturates.
        gain: r.pick(&[-2, -1, 0, 0, 1, 2, 2, 9]),
        seed: r.next(),
    }
}

/// One sample: per step, the interpreter's input tensor and the emulator's flattened values.
pub type Sample = Vec<(Tensor, Vec<f32>)>;

/// The scale of the graph's input quantizer, if any.
fn input_scale(g: &Graph) -> Option<f32> {
    g.node_ids().into_iter().find_map(|id| match g.node(id).op {
        Op::QuantizeLinear(_) => {
            let s = g.operand(id, 1)?;
            match &g.node(s).op {
                Op::Const(t) => t.to_f32_vec().first().copied(),
                _ => None,
            }
        }
        _ => None,
    })
}

/// `n` samples of `steps` steps for the graph's single input, from `seed`. About
/// `input_rate(seed)` percent of the elements are non-zero per step. Float inputs hit rounding
/// ties of the quantizer, saturation, -0.0, infinities and NaN now and then.
pub fn samples(g: &Graph, n: usize, steps: usize, seed: u64) -> Result<Vec<Sample>, String> {
    let mut r = Rng::new(seed ^ 0x1a2b_3c4d);
    let rate = u64::from(input_rate(seed));
    let input = *g.inputs().first().ok_or("no input")?;
    let ty = g.node(input).ty.clone().ok_or("untyped input")?;
    let count: usize = ty.shape.iter().product();
    let scale = input_scale(g).unwrap_or(0.05);
    let mut out = Vec::new();
    for _ in 0..n {
        let mut sample = Vec::new();
        for _ in 0..steps {
            let (t, v) = match ty.dtype {
                DType::F32 => {
                    let v: Vec<f32> = (0..count)
                        .map(|_| {
                            if !r.chance(rate) {
                                return if r.chance(10) { -0.0 } else { 0.0 };
                            }
                            if r.chance(3) {
                                return r.pick(&[f32::NAN, f32::INFINITY, -f32::INFINITY, 1e30]);
                            }
                            let k = r.range(-60, 60) as f32;
                            let frac = if r.chance(30) {
                                0.5
                            } else {
                                r.unit() as f32 - 0.5
                            };
                            let k = if r.chance(5) { k * 8.0 } else { k };
                            (k + frac) * scale
                        })
                        .collect();
                    (
                        Tensor::from_f32(ty.shape.clone(), v.clone()).map_err(|e| e.to_string())?,
                        v,
                    )
                }
                DType::Bool => {
                    let v: Vec<i64> = (0..count).map(|_| i64::from(r.chance(rate))).collect();
                    let f = v.iter().map(|&x| x as f32).collect();
                    (
                        Tensor::from_i64(DType::Bool, ty.shape.clone(), v)
                            .map_err(|e| e.to_string())?,
                        f,
                    )
                }
                dt => {
                    let (lo, hi) = dt.int_range().ok_or("input type")?;
                    let (lo, hi) = (lo.max(-128), hi.min(127));
                    let v: Vec<i64> = (0..count)
                        .map(|_| if r.chance(rate) { r.range(lo, hi) } else { 0 })
                        .collect();
                    let f = v.iter().map(|&x| x as f32).collect();
                    (
                        Tensor::from_i64(dt, ty.shape.clone(), v).map_err(|e| e.to_string())?,
                        f,
                    )
                }
            };
            sample.push((t, v));
        }
        out.push(sample);
    }
    Ok(out)
}

/// A value while building: its node, dtype and shape.
#[derive(Clone, Debug)]
struct Cur {
    id: NodeId,
    dtype: DType,
    shape: Vec<usize>,
}

struct Builder {
    g: Graph,
    features: BTreeSet<String>,
    names: usize,
    /// The next edge created from the current value is recurrent.
    rec_next: bool,
}

type Res<T> = Result<T, String>;

fn numel(s: &[usize]) -> usize {
    s.iter().product()
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

impl Builder {
    fn feat(&mut self, f: impl Into<String>) {
        self.features.insert(f.into());
    }

    fn name(&mut self, what: &str) -> String {
        self.names += 1;
        format!("{what}{}", self.names)
    }

    /// An untyped node fed by `inputs` (the first edge recurrent when `rec_next` is set), with
    /// its type declared up front (nodes read through recurrent edges need it before inference
    /// reaches them; `infer_types` recomputes every type).
    fn node(&mut self, what: &str, op: Op, inputs: &[NodeId], ty: (DType, Vec<usize>)) -> Res<Cur> {
        let name = self.name(what);
        let id = self.g.add_node_untyped(name, op);
        for (slot, src) in inputs.iter().enumerate() {
            let rec = slot == 0 && self.rec_next;
            self.g.connect(*src, id, slot, rec).map_err(err)?;
        }
        self.rec_next = false;
        self.g.node_mut(id).ty = Some(TensorType::new(ty.0, ty.1.clone()));
        Ok(Cur {
            id,
            dtype: ty.0,
            shape: ty.1,
        })
    }

    fn konst(&mut self, what: &str, t: Tensor) -> NodeId {
        let name = self.name(what);
        self.g.add_const(name, t)
    }

    fn ints(&mut self, what: &str, dt: DType, shape: Vec<usize>, v: Vec<i64>) -> Res<NodeId> {
        let t = Tensor::from_i64(dt, shape, v).map_err(err)?;
        Ok(self.konst(what, t))
    }

    fn reshape(&mut self, c: &Cur, shape: Vec<usize>) -> Res<Cur> {
        if shape == c.shape && !self.rec_next {
            return Ok(c.clone());
        }
        let dt = c.dtype;
        self.node(
            "reshape",
            Op::Reshape(Reshape {
                shape: shape.clone(),
            }),
            &[c.id],
            (dt, shape),
        )
    }

    fn flatten(&mut self, c: &Cur) -> Res<Cur> {
        let end = c.shape.len() - 1;
        let shape = vec![1, numel(&c.shape)];
        self.feat("flatten");
        self.node(
            "flatten",
            Op::Flatten(Flatten {
                start_dim: 1,
                end_dim: end,
            }),
            &[c.id],
            (c.dtype, shape),
        )
    }

    fn delay(&mut self, c: &Cur, steps: u8, stage: &str) -> Res<Cur> {
        let t = Tensor::scalar_f32(f32::from(steps) * DT);
        self.feat(format!("delay op at {stage}"));
        if steps == 0 {
            self.feat("delay op of 0 steps");
        }
        self.node(
            "delay",
            Op::Delay(Delay { delay: t }),
            &[c.id],
            (c.dtype, c.shape.clone()),
        )
    }
}

/// The shape of a layer of `n` neurons of shape kind `kind`.
fn layer_shape(n: usize, kind: u8) -> Vec<usize> {
    match kind {
        0 => vec![1, n],
        1 => vec![n],
        _ => {
            let a = (2..=n.min(8)).find(|d| n % d == 0).unwrap_or(1);
            vec![1, a, n / a]
        }
    }
}

impl W {
    fn dtype(self) -> DType {
        match self {
            W::I8 | W::Int4 | W::Pm1 => DType::I8,
            W::Bin => DType::Bin,
            W::U8 => DType::U8,
            W::I16 => DType::I16,
        }
    }

    /// Mean square of a weight value.
    fn mean_sq(self) -> f64 {
        match self {
            W::I8 => 5461.0,
            W::Int4 => 21.5,
            W::Pm1 | W::Bin => 1.0,
            W::U8 => 21760.0,
            W::I16 => 3.58e8,
        }
    }

    fn draw(self, r: &mut Rng) -> i64 {
        match self {
            W::I8 => r.range(-128, 127),
            W::Int4 => r.range(-8, 7),
            W::Pm1 | W::Bin => {
                if r.chance(50) {
                    1
                } else {
                    -1
                }
            }
            W::U8 => r.range(0, 255),
            W::I16 => r.range(-32768, 32767),
        }
    }

    fn name(self) -> &'static str {
        match self {
            W::I8 => "int8",
            W::Int4 => "int4",
            W::Pm1 => "±1 (i8)",
            W::Bin => "±1 (bin)",
            W::U8 => "uint8",
            W::I16 => "int16",
        }
    }
}

/// log2 of the layer's current unit `U` for a membrane of `bits` bits.
fn unit_bits(r: &mut Rng, bits: u8) -> i64 {
    let hi = (i64::from(bits) - 5).max(0);
    match bits {
        16 => r.range(3, 9),
        32 => r.range(4, 20),
        _ => r.range(hi.min(2), hi),
    }
}

/// Multiplier and shift with `m · 2^−s ≈ ratio` (`0 ≤ m < 2^31`, `s ≤ 62`).
fn mult_shift(ratio: f64) -> (i64, i64) {
    let mut s: i64 = 0;
    while s < 62 && ratio * 2f64.powi(s as i32 + 1) < (1u64 << 30) as f64 {
        s += 1;
    }
    let m = (ratio * 2f64.powi(s as i32)).round();
    let m = m.clamp(0.0, ((1u64 << 31) - 1) as f64) as i64;
    (m, s)
}

/// What a population sends, for scale estimates: probability of a non-zero element per step
/// and the mean square of a non-zero value.
#[derive(Clone, Copy)]
struct Traffic {
    p: f64,
    x_sq: f64,
}

/// Builds and verifies `spec`.
pub fn build(spec: &Spec) -> Res<Built> {
    let mut b = Builder {
        g: Graph::new(format!("s2diff{}", spec.seed)),
        features: BTreeSet::new(),
        names: 0,
        rec_next: false,
    };
    if spec.layers.is_empty() {
        return Err("no layers".into());
    }
    let mut r = Rng::new(spec.seed ^ 0x5eed);
    let rate = f64::from(input_rate(spec.seed)) / 100.0;
    // The input and the source population's value.
    let n_in = spec.n_in.max(1);
    let in_shape = match spec.in_shape {
        0 => vec![1, n_in],
        1 => vec![n_in],
        _ => {
            let c = (2..=n_in.min(4)).find(|d| n_in % d == 0).unwrap_or(1);
            let rest = n_in / c;
            let h = (2..=rest.min(4)).find(|d| rest % d == 0).unwrap_or(1);
            vec![1, c, h, rest / h]
        }
    };
    let (source, traffic) = match spec.input {
        Input::Quant { signed, zp } => {
            let (float_shape, q_shape) = if spec.in_shape == 2 && r.chance(50) {
                b.feat("float reshape before quantize_linear");
                (in_shape.clone(), vec![1, n_in])
            } else {
                (in_shape.clone(), in_shape.clone())
            };
            let x =
                b.g.add_input("x", TensorType::new(DType::F32, float_shape.clone()));
            let mut xv = Cur {
                id: x,
                dtype: DType::F32,
                shape: float_shape,
            };
            if xv.shape != q_shape {
                xv = b.reshape(&xv, q_shape.clone())?;
            }
            let scale = r.range(1, 64) as f32 / 256.0;
            let out = if signed { DType::I8 } else { DType::U8 };
            let (lo, hi) = out.int_range().ok_or("no range")?;
            let z = if zp { r.range(lo, hi) } else { 0 };
            let s = b.konst("qs", Tensor::scalar_f32(scale));
            let z = b.ints("qz", out, vec![], vec![z])?;
            b.feat(format!(
                "input: float quantized to {out}{}",
                if zp { ", zero point ≠ 0" } else { "" }
            ));
            let q = b.node(
                "q",
                Op::QuantizeLinear(QuantizeLinear { axis: 0, out }),
                &[xv.id, s, z],
                (out, q_shape),
            )?;
            // Quantized codes spread over roughly ±40.
            (
                q,
                Traffic {
                    p: if zp { 1.0 } else { rate },
                    x_sq: 1600.0,
                },
            )
        }
        Input::Spikes => {
            let x =
                b.g.add_input("x", TensorType::new(DType::Bool, in_shape.clone()));
            b.feat("input: spikes");
            (
                Cur {
                    id: x,
                    dtype: DType::Bool,
                    shape: in_shape,
                },
                Traffic { p: rate, x_sq: 1.0 },
            )
        }
        Input::Int8 => {
            let x =
                b.g.add_input("x", TensorType::new(DType::I8, in_shape.clone()));
            b.feat("input: int8");
            (
                Cur {
                    id: x,
                    dtype: DType::I8,
                    shape: in_shape,
                },
                Traffic {
                    p: rate,
                    x_sq: 1600.0,
                },
            )
        }
    };
    if spec.in_shape == 2 {
        b.feat("input of rank 4");
    }
    if n_in > 1024 {
        b.feat("input > 1024 elements (the slice limit)");
    }
    // Every LIF node first (projections may read later ones through recurrent edges).
    let nl = spec.layers.len();
    let mut pops: Vec<(Cur, Traffic)> = vec![(source, traffic)];
    // (int_lif node, its current) per layer.
    let mut lifs: Vec<(NodeId, NodeId)> = Vec::new();
    // The previous layer's first current and its add width.
    let mut shared: Option<(Cur, usize)> = None;
    for (i, l) in spec.layers.iter().enumerate() {
        let shape = layer_shape(l.n.max(1), l.shape);
        let op = lif_op(l, i, &shape, 1.0)?;
        let name = b.name(&format!("lif{i}_"));
        let id = b.g.add_node_untyped(name, op);
        b.g.node_mut(id).ty = Some(TensorType::new(DType::Bool, shape.clone()));
        pops.push((
            Cur {
                id,
                dtype: DType::Bool,
                shape,
            },
            Traffic { p: 0.1, x_sq: 1.0 },
        ));
    }
    for (i, l) in spec.layers.iter().enumerate() {
        let post = pops[i + 1].0.clone();
        let mut lr = Rng::new(l.seed ^ 0x1234);
        let unit = 2f64.powi(unit_bits(&mut lr, l.lif.state_bits) as i32);
        let k = l.proj.len();
        if k == 0 {
            return Err(format!("layer {i} has no projections"));
        }
        // The add's width: every current's bounds are narrowed to a `k_eff`-th of its type.
        let k_eff = k + usize::from(l.twice);
        let mut currents = Vec::new();
        for (j, p) in l.proj.iter().enumerate() {
            if let (0, true, Some((c, kk))) = (j, l.share, &shared) {
                if *kk == k_eff && c.shape == post.shape {
                    b.feat("one requant feeding two populations");
                    currents.push(c.clone());
                    continue;
                }
            }
            let from = p.from.min(nl);
            let (pre, tr) = pops[from].clone();
            let rec = p.rec.iter().any(|x| *x);
            if from > i && !rec {
                return Err("a projection from a later layer without a recurrent edge".into());
            }
            if from == i + 1 {
                b.feat("recurrent: self");
            } else if from > i + 1 {
                b.feat("recurrent: feedback from a later layer");
            } else if from + 1 < i + 1 && from > 0 || (from == 0 && i > 0) {
                b.feat("skip projection");
            }
            let c = projection(&mut b, p, &pre, tr, &post, unit, k_eff, l.wrap)?;
            currents.push(c);
        }
        if l.twice {
            b.feat("a current added to itself");
            currents.push(currents[0].clone());
        }
        shared = Some((currents[0].clone(), k_eff));
        if k > 1 {
            b.feat(format!("add-merge of {} projections", k.min(4)));
            if k > 4 {
                b.feat("more than 4 projections into one population");
            }
        }
        let mut cur = currents[0].clone();
        for c in &currents[1..] {
            let dt = add_type(cur.dtype, c.dtype);
            cur = b.node("add", Op::Add, &[cur.id, c.id], (dt, post.shape.clone()))?;
        }
        b.feat(format!("int_lif input {}", cur.dtype));
        b.g.connect(cur.id, post.id, 0, false).map_err(err)?;
        lifs.push((post.id, cur.id));
        lif_features(&mut b, l, &post.shape);
    }
    // The output.
    let out = spec.out.min(nl - 1);
    if out + 1 < nl {
        b.feat("output is not the last layer");
    }
    let mut y = pops[out + 1].0.clone();
    if spec.out_reshape {
        y = if y.shape.len() > 2 {
            b.flatten(&y)?
        } else {
            let n = numel(&y.shape);
            let s = if y.shape.len() == 1 {
                vec![1, n]
            } else {
                vec![n]
            };
            b.reshape(&y, s)?
        };
        b.feat("output through reshape/flatten");
    }
    let name = b.name("y");
    let o = b.g.add_node_untyped(name, Op::Output { index: 0 });
    b.g.connect(y.id, o, 0, false).map_err(err)?;
    b.g.infer_types().map_err(|e| format!("types: {e}"))?;
    verify(&b.g).map_err(|e| format!("verify: {e}"))?;
    let opts = RunOpts {
        machine: spec.machine.machine(),
        synapses: spec.synapses,
        max_rate: f64::from(spec.max_rate.max(1)) / 100.0,
        steps: spec.steps.max(1),
        samples: spec.samples.max(1),
        input_seed: spec.seed,
    };
    calibrate(&mut b.g, spec, &lifs, &opts)?;
    verify(&b.g).map_err(|e| format!("verify: {e}"))?;
    let features = spec_features(spec, b.features);
    Ok(Built {
        graph: b.g,
        opts,
        features,
    })
}

/// Target firing rate of a layer, percent.
fn target_rate(l: &Layer) -> u8 {
    Rng::new(l.seed ^ 0xca1).pick(&[1, 3, 5, 5, 10, 10, 20])
}

/// Scales each layer's thresholds, in layer order, so that on the test's own input samples the
/// layer fires near its target rate: the reference runs the graph, the layer's recorded
/// currents drive an offline IntLif (the IR's own state machine) while the scale is bisected,
/// and the chosen scale is written into the graph before the next layer is calibrated. (A
/// layer's recurrent input changes with its threshold, so the rate is approximate.)
fn calibrate(g: &mut Graph, spec: &Spec, lifs: &[(NodeId, NodeId)], o: &RunOpts) -> Res<()> {
    let xs = samples(g, o.samples, o.steps, o.input_seed)?;
    for (i, l) in spec.layers.iter().enumerate() {
        let Some(&(lif, cur)) = lifs.get(i) else {
            break;
        };
        let shape = layer_shape(l.n.max(1), l.shape);
        let info = verify(g).map_err(err)?;
        let mut it = Interpreter::new(g, &info, DT).map_err(err)?;
        let mut currents: Vec<Vec<Tensor>> = Vec::new();
        for x in &xs {
            it.reset();
            let mut steps = Vec::new();
            for (t, _) in x {
                it.step(std::slice::from_ref(t)).map_err(err)?;
                steps.push(it.value(cur).cloned().ok_or("no current")?);
            }
            currents.push(steps);
        }
        let rate = |scale: f64| -> Res<f64> {
            let Op::IntLif(op) = lif_op(l, i, &shape, scale)? else {
                return Err("not an int_lif".into());
            };
            let mut st = IntLifState::new(&op, &shape).map_err(err)?;
            let (mut ones, mut all) = (0usize, 0usize);
            for steps in &currents {
                st.reset();
                for c in steps {
                    let s = st.step(c).map_err(err)?;
                    let v = s.as_i64().ok_or("spikes")?;
                    ones += v.iter().filter(|&&x| x != 0).count();
                    all += v.len();
                }
            }
            Ok(ones as f64 / all.max(1) as f64)
        };
        let want = f64::from(target_rate(l)) / 100.0;
        // Bisect log2(scale) in [-24, 24]: the rate falls as the threshold grows.
        let (mut lo, mut hi) = (-24.0f64, 24.0f64);
        for _ in 0..22 {
            let mid = 0.5 * (lo + hi);
            if rate(mid.exp2())? > want {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        // The rate jumps at some scales: take the closer side.
        let best = if (rate(lo.exp2())? - want).abs() < (rate(hi.exp2())? - want).abs() {
            lo
        } else {
            hi
        };
        let op = lif_op(l, i, &shape, best.exp2())?;
        g.node_mut(lif).op = op;
    }
    Ok(())
}

/// Features decided by the spec alone.
fn spec_features(spec: &Spec, mut f: BTreeSet<String>) -> BTreeSet<String> {
    f.insert(format!("layers: {}", spec.layers.len()));
    f.insert(format!("machine: {:?}", machine_class(spec.machine)));
    f.insert(format!(
        "synapse storage option: {}",
        match spec.synapses {
            SynapseStorage::Sram => "sram",
            SynapseStorage::Dram => "dram",
            SynapseStorage::Auto => "auto",
        }
    ));
    if spec.steps > 20 {
        f.insert("steps > 20".into());
    }
    if spec.samples > 1 {
        f.insert("several samples".into());
    }
    f
}

/// The machine kind without its board size.
fn machine_class(m: MachineKind) -> &'static str {
    match m {
        MachineKind::Default => "default chip",
        MachineKind::Tiny(..) => "tiny chips",
        MachineKind::Micro(..) => "one-QPE chips",
        MachineKind::Odd(..) => "3x2 mesh of 4 QPEs (empty slots)",
        MachineKind::Slow(..) => "tiny chips at 10 MHz",
        MachineKind::Column(..) => "SpiNNaker2 chips with 4 KiB SRAM, 1 x y board",
    }
}

/// §4.1: the common type of two equal integer types, else the accumulator type.
fn add_type(a: DType, b: DType) -> DType {
    if a == b {
        return a;
    }
    let narrow = |d: DType| {
        matches!(
            d,
            DType::Bool | DType::Bin | DType::I8 | DType::U8 | DType::I16 | DType::U16
        )
    };
    if narrow(a) && narrow(b) {
        DType::I32
    } else {
        DType::I64
    }
}

fn lif_features(b: &mut Builder, l: &Layer, shape: &[usize]) {
    let lif = &l.lif;
    b.feat(format!(
        "reset: {}",
        if lif.subtract { "subtract" } else { "to value" }
    ));
    b.feat(match lif.state_bits {
        16 => "state bits 16".to_string(),
        32 => "state bits 32".to_string(),
        _ => "state bits other".to_string(),
    });
    b.feat(match lif.frac_bits {
        0 => "frac bits 0",
        1..=16 => "frac bits 1..16",
        _ => "frac bits > 16",
    });
    b.feat(match lif.params {
        0 => "lif params: scalar",
        1 => "lif params: broadcast",
        _ => "lif params: per neuron",
    });
    if lif.bias {
        b.feat("lif bias");
    }
    if lif.v_reset {
        b.feat("lif v_reset ≠ 0");
    }
    if lif.wild {
        b.feat("lif wild parameters");
    }
    if shape.len() == 3 {
        b.feat("3-D population");
    }
    if l.n > 1024 {
        b.feat("population > 1024 neurons (the slice limit)");
    } else if l.n > 200 {
        b.feat("population of 201..1024 neurons");
    }
}

/// The IntLif of layer `l` with neurons of `shape`, thresholds scaled by `scale` (values are
/// drawn from the layer's seed, the same for every scale).
fn lif_op(l: &Layer, index: usize, shape: &[usize], scale: f64) -> Res<Op> {
    let r = &mut Rng::new(l.seed);
    let recurrent_only = l.proj.iter().all(|p| p.from > index);
    let lif = &l.lif;
    let bits = lif.state_bits.clamp(2, 32);
    let f = lif.frac_bits.min(30);
    let (vlo, vhi) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
    let unit = 2f64.powi(unit_bits(&mut Rng::new(l.seed ^ 0x1234), bits) as i32);
    let pshape: Vec<usize> = match lif.params {
        0 => vec![],
        1 => match shape {
            [_, a, _] => vec![*a, 1],
            [n] => vec![*n],
            _ => vec![1, 1],
        },
        _ => shape.to_vec(),
    };
    let cnt = numel(&pshape);
    let one = 1i64 << f;
    let mut decay = Vec::new();
    let mut bias = Vec::new();
    let mut thr = Vec::new();
    let mut vr = Vec::new();
    for _ in 0..cnt {
        let d = if lif.wild && r.chance(50) {
            r.range(-one, 2 * one + 1)
        } else if f == 0 {
            r.range(0, 1)
        } else {
            ((0.5 + 0.5 * r.unit()) * one as f64).round() as i64
        };
        let df = (d as f64 / one as f64).clamp(0.0, 0.99);
        let spread = unit / (1.0 - df * df).sqrt();
        let jitter = 0.75 + 0.5 * r.unit();
        let t = (f64::from(lif.theta) / 4.0 * spread * jitter * scale).round();
        let t = t.clamp(0.0, vhi.min(i64::from(i32::MAX)) as f64) as i64;
        let wild_thr = lif.wild && r.chance(30);
        let neg = -r.range(0, 4);
        thr.push(if wild_thr { neg } else { t });
        let b = r.range(-(unit as i64) / 2, (unit as i64) / 2);
        // A layer fed only by recurrent projections needs a positive drive to start at all.
        bias.push(if recurrent_only {
            b.abs().max(1)
        } else if lif.bias {
            b
        } else {
            0
        });
        let frac = r.unit() - 0.5;
        vr.push(if lif.v_reset {
            ((frac * t as f64).round() as i64).clamp(vlo, vhi)
        } else {
            0
        });
        decay.push(d);
    }
    let ten = |v: Vec<i64>| Tensor::from_i64(DType::I64, pshape.clone(), v).map_err(err);
    Ok(Op::IntLif(IntLif {
        decay: ten(decay)?,
        frac_bits: f,
        bias: ten(bias)?,
        threshold: ten(thr)?,
        v_reset: ten(vr)?,
        reset: if lif.subtract {
            ResetMode::Subtract
        } else {
            ResetMode::ToValue
        },
        state_bits: bits,
    }))
}

/// Builds projection `p` from population value `pre` into layer `post`; returns the current
/// (requantized, shaped like `post`).
#[allow(clippy::too_many_arguments)]
fn projection(
    b: &mut Builder,
    p: &Proj,
    pre: &Cur,
    tr: Traffic,
    post: &Cur,
    unit: f64,
    k: usize,
    wrap: bool,
) -> Res<Cur> {
    let mut r = Rng::new(p.seed);
    let n = numel(&post.shape);
    let kk = numel(&pre.shape);
    // Presynaptic stage.
    let mut a = pre.clone();
    b.rec_next = p.rec[PRE];
    if p.rec[PRE] {
        b.feat("recurrent edge before the gemm");
    }
    if let Some(d) = p.delay[PRE] {
        a = b.delay(&a, d, "the presynaptic stage")?;
    }
    let want: Vec<usize> = match p.form {
        Form::GemmRank1 => vec![kk],
        Form::GemmTransA => vec![kk, 1],
        _ => vec![1, kk],
    };
    if a.shape != want || b.rec_next {
        a = if a.shape.len() > 2 && want == [1, kk] {
            b.flatten(&a)?
        } else {
            b.reshape(&a, want.clone())?
        };
    }
    // Weights.
    let density = u64::from(p.density.min(100));
    let wv: Vec<i64> = (0..n * kk)
        .map(|_| {
            if p.w != W::Bin && !r.chance(density) {
                0
            } else {
                p.w.draw(&mut r)
            }
        })
        .collect(); // [n][kk]
    let trans_b = matches!(p.form, Form::GemmT | Form::GemmTransA | Form::GemmRank1);
    let (wshape, data) = if trans_b {
        (vec![n, kk], wv)
    } else {
        let t = (0..kk * n).map(|i| wv[(i % n) * kk + i / n]).collect();
        (vec![kk, n], t)
    };
    let wid = b.ints("w", p.w.dtype(), wshape, data)?;
    b.feat(format!("weights {}", p.w.name()));
    if density < 100 {
        b.feat(if density == 0 {
            "all-zero weight matrix"
        } else {
            "pruned (sparse) weights"
        });
    }
    let acc_shape = if p.form == Form::GemmRank1 {
        vec![n]
    } else {
        vec![1, n]
    };
    let mut acc = match p.form {
        Form::MatMul => {
            b.feat("matmul");
            b.node(
                "matmul",
                Op::MatMul,
                &[a.id, wid],
                (DType::I32, acc_shape.clone()),
            )?
        }
        _ => {
            let g = Gemm {
                trans_a: p.form == Form::GemmTransA,
                trans_b,
                ..Gemm::default()
            };
            let mut ops = vec![a.id, wid];
            if p.form == Form::GemmZeroBias {
                ops.push(b.ints("zb", DType::I32, vec![n], vec![0; n])?);
                b.feat("gemm with a zero bias");
            }
            if p.form == Form::GemmTransA {
                b.feat("gemm trans_a");
            }
            b.node("gemm", Op::Gemm(g), &ops, (DType::I32, acc_shape.clone()))?
        }
    };
    // Accumulator stage.
    b.rec_next = p.rec[ACC];
    if p.rec[ACC] {
        b.feat("recurrent edge between gemm and requant");
    }
    if let Some(d) = p.delay[ACC] {
        acc = b.delay(&acc, d, "the accumulator stage")?;
    }
    if p.acc_reshape {
        let s = if post.shape.len() == 3 {
            post.shape.clone()
        } else if acc.shape.len() == 1 {
            vec![1, n]
        } else {
            vec![n]
        };
        acc = b.reshape(&acc, s)?;
        b.feat("reshape before the requant");
    } else if b.rec_next {
        acc = b.reshape(&acc, acc.shape.clone())?;
    }
    // Requant: the accumulator's expected spread to 2^gain current units.
    let fan = kk as f64 * density.max(1) as f64 / 100.0;
    let spread = (fan * tr.p.max(0.01) * p.w.mean_sq() * tr.x_sq)
        .sqrt()
        .max(1.0);
    let target = unit * 2f64.powi(i32::from(p.gain)) / (k as f64).sqrt();
    let axis = if acc.shape.len() >= 2 { 1 } else { 0 };
    let channels = if p.rq.per_channel { acc.shape[axis] } else { 1 };
    let (mut ms, mut ss) = (Vec::new(), Vec::new());
    for _ in 0..channels {
        let jitter = 0.7 + 0.6 * r.unit();
        let ratio = target / spread * jitter;
        let (m, s) = match p.rq.kind {
            0 => mult_shift(ratio),
            // The power of two nearest the ratio (never a left shift).
            1 => (1, (-ratio.log2().round()).clamp(0.0, 62.0) as i64),
            _ => (1, 0),
        };
        ms.push(m);
        ss.push(s);
    }
    match p.rq.kind {
        1 => b.feat("requant by a power of two"),
        2 => b.feat("requant identity (m = 1, s = 0)"),
        _ => {}
    }
    if p.gain > 4 {
        b.feat("requant gain far above the current unit (saturation)");
    }
    let (tlo, thi) = p.rq.out.int_range().ok_or("no range")?;
    let (mut lo, mut hi) = (tlo, thi);
    if p.rq.clamp {
        let c = (unit * 4.0) as i64;
        lo = (-c).clamp(tlo, 0);
        hi = c.clamp(1, thi);
        b.feat("requant bounds narrower than its type");
    }
    if k > 1 && !wrap {
        lo /= k as i64;
        hi /= k as i64;
    }
    let zp = if p.rq.zp {
        b.feat("requant zero point ≠ 0");
        r.range(lo.max(-(unit as i64)), hi.min(unit as i64))
    } else {
        0i64.clamp(lo, hi)
    };
    if p.rq.per_channel {
        b.feat("requant per channel");
    }
    b.feat(format!("requant to {}", p.rq.out));
    let pshape = if p.rq.per_channel {
        vec![channels]
    } else {
        vec![]
    };
    let rq = Requant {
        multiplier: Tensor::from_i64(DType::I64, pshape.clone(), ms).map_err(err)?,
        shift: Tensor::from_i64(DType::I64, pshape, ss).map_err(err)?,
        zero_point: zp,
        axis,
        out: p.rq.out,
        lo,
        hi,
    };
    let mut c = b.node(
        "requant",
        Op::Requant(rq),
        &[acc.id],
        (p.rq.out, acc.shape.clone()),
    )?;
    // Current stage.
    b.rec_next = p.rec[CUR];
    if p.rec[CUR] {
        b.feat("recurrent edge after the requant");
    }
    if let Some(d) = p.delay[CUR] {
        c = b.delay(&c, d, "the current stage")?;
    }
    if c.shape != post.shape || b.rec_next {
        c = b.reshape(&c, post.shape.clone())?;
    }
    Ok(c)
}
