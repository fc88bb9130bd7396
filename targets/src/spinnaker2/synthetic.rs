//! Synthetic [`Network`]s built directly (not from IR): the peer benchmark network
//! (shared/bench/README.md) at any size, and small layered nets for mapping tests.
//!
//! Compile-time benchmarks at 10^5–10^6 neurons must not go through the IR (issue 4), and the
//! mapping tests need networks whose every synapse is known. Connectivity comes from a seeded
//! splitmix64 generator, so a given (shape, seed) always yields the same network.

use snnc_ir::rng::SplitMix64;

use super::network::{
    InputEncoding, InputSpec, LifParams, Network, OutputSpec, Population, PopulationKind,
    Projection, RequantParams, Reset, SparseRows,
};

/// Random numbers for synthetic networks: snnc's one seeded generator (SplitMix64) with the
/// draws the generators need.
#[derive(Debug, Clone)]
pub struct Rng(SplitMix64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(SplitMix64::new(seed))
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in `lo..=hi`.
    pub fn range(&mut self, lo: i32, hi: i32) -> i32 {
        let span = (i64::from(hi) - i64::from(lo) + 1).max(1) as u64;
        (i64::from(lo) + (self.next_u64() % span) as i64) as i32
    }
}

/// A LIF population with the same parameters for every neuron.
fn lif(name: &str, size: usize, decay: i32, threshold: i32) -> Population {
    Population {
        name: name.to_string(),
        size,
        kind: PopulationKind::Lif(LifParams {
            decay: vec![decay; size],
            bias: vec![0; size],
            threshold: vec![threshold; size],
            v_reset: vec![0; size],
            frac_bits: 8,
            state_bits: 16,
            reset: Reset::ToValue,
        }),
    }
}

/// Identity requantization (x · 2^30 >> 30) clamped to i16.
fn identity_requant(post: usize) -> RequantParams {
    RequantParams {
        multiplier: vec![1 << 30; post],
        shift: vec![30; post],
        zero_point: 0,
        lo: -32768,
        hi: 32767,
    }
}

/// Random sparse rows: each (pre, post) pair connected with probability `p`, weights drawn by
/// `weight`. Uses geometric skips, so the cost is O(synapses), not O(pre · post).
fn random_rows(
    rng: &mut Rng,
    pre: usize,
    post: usize,
    p: f64,
    mut weight: impl FnMut(&mut Rng) -> i32,
) -> SparseRows {
    let mut rows = SparseRows {
        offsets: Vec::with_capacity(pre + 1),
        post: Vec::with_capacity((pre as f64 * post as f64 * p * 1.05) as usize + 16),
        weight: Vec::new(),
    };
    rows.weight.reserve(rows.post.capacity());
    rows.offsets.push(0);
    let log_q = (1.0 - p.clamp(1e-12, 1.0 - 1e-12)).ln();
    for _ in 0..pre {
        if p >= 1.0 {
            for j in 0..post {
                rows.post.push(j as u32);
                rows.weight.push(weight(rng));
            }
        } else {
            let mut j = -1i64;
            loop {
                let u = rng.unit().max(f64::MIN_POSITIVE);
                j += (u.ln() / log_q).floor() as i64 + 1;
                if j >= post as i64 {
                    break;
                }
                let w = weight(rng);
                if w != 0 {
                    rows.post.push(j as u32);
                    rows.weight.push(w);
                }
            }
        }
        rows.offsets.push(rows.post.len() as u64);
    }
    rows
}

/// A projection with identity requantization.
fn projection(
    name: &str,
    pre: usize,
    post: usize,
    rows: SparseRows,
    recurrent: bool,
) -> Projection {
    let bits = rows
        .weight
        .iter()
        .map(|w| 33 - w.unsigned_abs().leading_zeros().min(32))
        .max()
        .unwrap_or(1);
    Projection {
        name: name.to_string(),
        pre,
        post,
        recurrent,
        extra_delay: 0,
        rows,
        weight_bits: bits,
        requant: identity_requant(0),
        payload: false,
    }
}

/// The peer benchmark network: 1,000 spike sources → `n` LIF neurons (connection probability
/// `k_in / 1000`) plus `n` → `n` recurrent (probability `k_rec / n`). Integer version of the
/// README's parameters: threshold 1000 for v > 1, input weight 50 (0.05), recurrent weight 2
/// (0.002 rounded up), decay exp(−1/10) ≈ 232/256.
pub fn bench(n: usize, k_in: usize, k_rec: usize, seed: u64) -> Network {
    let mut rng = Rng::new(seed);
    let inputs = 1000;
    let rows_in = random_rows(&mut rng, inputs, n, k_in as f64 / inputs as f64, |_| 50);
    let rows_rec = random_rows(&mut rng, n, n, k_rec as f64 / n.max(1) as f64, |_| 2);
    let mut p_in = projection("w_in", 0, 1, rows_in, false);
    let mut p_rec = projection("w_rec", 1, 1, rows_rec, true);
    p_in.requant = identity_requant(n);
    p_rec.requant = identity_requant(n);
    Network {
        name: format!("bench_{n}"),
        populations: vec![
            Population {
                name: "poisson".into(),
                size: inputs,
                kind: PopulationKind::Source,
            },
            lif("lif", n, 232, 1000),
        ],
        projections: vec![p_in, p_rec],
        input: InputSpec {
            name: "spikes".into(),
            shape: vec![inputs],
            population: 0,
            encoding: InputEncoding::Spikes,
        },
        output: OutputSpec {
            name: "out".into(),
            shape: vec![n],
            population: 1,
        },
    }
}

/// A feed-forward net of spike source `sizes[0]` → LIF layers `sizes[1..]` with random weights
/// in −100..=100 (density 0.6), plus, when `recurrent`, a recurrent projection on the first LIF
/// layer. The last layer is the output.
pub fn layered(sizes: &[usize], seed: u64, recurrent: bool) -> Network {
    let mut rng = Rng::new(seed);
    let mut populations = Vec::new();
    let mut projections = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        if i == 0 {
            populations.push(Population {
                name: "in".into(),
                size,
                kind: PopulationKind::Source,
            });
            continue;
        }
        populations.push(lif(&format!("lif{i}"), size, 200, 150));
        let rows = random_rows(&mut rng, sizes[i - 1], size, 0.6, |r| r.range(-100, 100));
        let mut p = projection(&format!("fc{i}"), i - 1, i, rows, false);
        p.requant = identity_requant(size);
        projections.push(p);
        if recurrent && i == 1 {
            let rows = random_rows(&mut rng, size, size, 0.3, |r| r.range(-50, 50));
            let mut p = projection("rec1", 1, 1, rows, true);
            p.requant = identity_requant(size);
            projections.push(p);
        }
    }
    let last = sizes.len().saturating_sub(1);
    Network {
        name: "layered".into(),
        populations,
        projections,
        input: InputSpec {
            name: "in".into(),
            shape: vec![sizes.first().copied().unwrap_or(0)],
            population: 0,
            encoding: InputEncoding::Spikes,
        },
        output: OutputSpec {
            name: "out".into(),
            shape: vec![sizes.last().copied().unwrap_or(0)],
            population: last,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_has_expected_density() {
        let net = bench(2000, 100, 100, 1);
        let syn_in = net.projections[0].synapses() as f64;
        let syn_rec = net.projections[1].synapses() as f64;
        // 1000 x 2000 x 0.1 = 200,000 and 2000 x 2000 x 0.05 = 200,000, within 2 %.
        assert!((syn_in / 200_000.0 - 1.0).abs() < 0.02, "{syn_in}");
        assert!((syn_rec / 200_000.0 - 1.0).abs() < 0.02, "{syn_rec}");
        assert_eq!(net.projections[0].weight_bits, 7);
        assert!(net.schedule().is_ok());
        assert_eq!(bench(2000, 100, 100, 1), net);
    }

    #[test]
    fn rows_are_sorted_and_in_range() {
        let net = layered(&[30, 20, 5], 9, true);
        for p in &net.projections {
            let post = net.populations[p.post].size as u32;
            for i in 0..p.rows.n_rows() {
                let row: Vec<u32> = p.rows.row(i).map(|(q, _)| q).collect();
                assert!(row.windows(2).all(|w| w[0] < w[1]));
                assert!(row.iter().all(|&q| q < post));
            }
        }
        assert_eq!(net.projections.len(), 3);
    }
}
