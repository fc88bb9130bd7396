//! The fixed-point form of one layer (synapse + neurons), computed before the graph changes.
//!
//! With per-neuron coefficients `v ← decay·v + gain·I + drive` (see [`neuron_params`]):
//! 1. effective weights `w' = alpha·W·gain` (the current a weight adds to the membrane in one
//!    step), quantized symmetrically to `b` bits: scale `s_c = max|w'_c| / (2^(b−1) − 1)` per
//!    output channel (or one per layer), `q = ⌊w'/s_c⌉`;
//! 2. the accumulator `Σ q·x` is in units `s_c·s_in` (`s_in` = 1 for spikes, the input scale
//!    for quantized analog input);
//! 3. the membrane unit is `u_c = s_c·2^k_c` with the smallest `k_c ≥ −24` (negative: finer
//!    than a weight step) that keeps `max(|v_th|, |v_reset|)/u_c ≤ 2^(state−3)` (headroom ×4
//!    for the excursions around the threshold), so the register's resolution is used; a
//!    Requant rescales the accumulator by `s_in·2^(−k_c)` when that is not 1;
//! 4. `decay = ⌊decay·2^F⌉`, `threshold = ⌊v_th/u⌋` (floor, see
//!    [`crate::passes::snn::fixed::threshold_int`]), `v_reset = ⌊v_reset/u⌉`,
//!    `bias = ⌊(gain·b + drive − correction)/u⌉` saturated to the register.

use snnc_ir::op::{IntLif, Requant};
use snnc_ir::{DType, Graph, Tensor};

use super::input::{bias_correction, InputQuant};
use super::options::Options;
use super::sites::{Site, Source};
use crate::passes::snn::calib::Calib;
use crate::passes::snn::fixed::{
    channel_pair, compact_i64, multiplier_shift, round_even, signed_dtype, signed_range,
    threshold_int, to_i64,
};
use crate::passes::snn::neuron::{neuron_params, NeuronParams};
use crate::passes::PassError;

/// Everything the rewrite of one layer needs.
#[derive(Clone, Debug)]
pub struct LayerPlan {
    pub site: Site,
    pub neuron_name: String,
    /// Integer weights, the synapse's weight layout.
    pub weight_q: Tensor,
    pub requant: Option<Requant>,
    pub lif: IntLif,
    pub note: String,
}

/// The fixed-point form of `site`. `iq` is the encoding of the graph input for analog layers.
pub fn plan_layer(
    pass: &str,
    g: &Graph,
    site: &Site,
    opts: &Options,
    dt: f32,
    iq: Option<&InputQuant>,
    calib: Option<&Calib<'_>>,
) -> Result<LayerPlan, PassError> {
    let syn = &site.syn;
    let neuron = g.node(site.neuron);
    let shape = syn.out_shape.clone();
    let p = neuron_params(pass, &neuron.name, &neuron.op, &shape, dt)?.ok_or_else(|| {
        PassError::not_applicable(pass, format!("`{}` is not a lif or if", neuron.name))
    })?;
    let channels = syn.channels();
    let out_map = syn.out_channels();
    let gain = channel_gains(pass, &neuron.name, &p, out_map, channels)?;

    // 1. Effective weights and their integer form.
    let bits = match site.source {
        Source::Spikes => opts.w,
        Source::Analog { .. } => opts.first,
    };
    let qmax = ((1i64 << (bits - 1)) - 1) as f64;
    let w_map = syn.weight_channels();
    let w_eff: Vec<f64> = syn
        .effective_weight()
        .iter()
        .enumerate()
        .map(|(j, w)| w * gain[w_map.of(j)])
        .collect();
    let mut absmax = vec![0.0f64; channels];
    for (j, w) in w_eff.iter().enumerate() {
        let c = w_map.of(j);
        absmax[c] = absmax[c].max(w.abs());
    }
    if !opts.per_channel {
        let all = absmax.iter().copied().fold(0.0, f64::max);
        absmax.fill(all);
    }
    let param_max = channel_max(&p, out_map, channels);
    let scale: Vec<f64> = absmax
        .iter()
        .zip(&param_max)
        .map(|(m, pm)| {
            if *m > 0.0 {
                m / qmax
            } else if *pm > 0.0 {
                // No weights: any unit works; take one that resolves the threshold.
                pm / qmax
            } else {
                1.0 / qmax
            }
        })
        .collect();
    let q: Vec<i64> = w_eff
        .iter()
        .enumerate()
        .map(|(j, w)| round_even(w / scale[w_map.of(j)]).clamp(-qmax, qmax) as i64)
        .collect();
    let w_hat: Vec<f64> = q
        .iter()
        .enumerate()
        .map(|(j, q)| *q as f64 * scale[w_map.of(j)])
        .collect();

    // 2. Input scale and the accumulator bound.
    let (s_in, x_max, src_note) = match (site.source, iq) {
        (Source::Spikes, _) => (1.0, 1i64, "spikes".to_string()),
        (Source::Analog { .. }, Some(iq)) => (
            f64::from(iq.scale),
            iq.max_abs(),
            format!("{} input ×{:e}", iq.dtype, iq.scale),
        ),
        (Source::Analog { .. }, None) => {
            return Err(PassError::not_applicable(
                pass,
                format!("internal: no input encoding for `{}`", syn.name),
            ))
        }
    };
    let mut row_sum = vec![0i64; channels];
    for (j, v) in q.iter().enumerate() {
        row_sum[w_map.of(j)] += v.abs();
    }
    if let Some(worst) = row_sum.iter().map(|s| s.saturating_mul(x_max)).max() {
        if worst >= 1i64 << 31 {
            return Err(PassError::invalid(
                pass,
                format!(
                    "{} `{}`: {bits}-bit weights times inputs up to {x_max} can reach {worst}, \
                     beyond the 32-bit accumulator; use fewer weight or input bits",
                    syn.op.name(),
                    syn.name
                ),
            ));
        }
    }

    // 3. Membrane units.
    let budget = (1i64 << (opts.state - 3)) as f64;
    let mut k: Vec<i32> = scale
        .iter()
        .zip(&param_max)
        .map(|(s, pm)| membrane_shift(*s, *pm, budget))
        .collect();
    if !opts.per_channel {
        let all = k.iter().copied().max().unwrap_or(0);
        k.fill(all);
    }
    let unit: Vec<f64> = scale
        .iter()
        .zip(&k)
        .map(|(s, k)| s * 2f64.powi(*k))
        .collect();
    let (lo, hi) = signed_range(opts.state);
    let requant = requant_for(pass, syn, s_in, &k, opts.state, lo, hi)?;

    // Bias correction of analog Gemm layers.
    let correction = match (site.source, iq, calib) {
        (Source::Analog { .. }, Some(iq), Some(c)) if opts.bias_correct => {
            let a_shape = g.ty(syn.data).shape.clone();
            bias_correction(syn, &a_shape, c, iq, &w_eff, &w_hat)
        }
        _ => None,
    };

    // 4. Neuron parameters in membrane units.
    let bias = syn.effective_bias(pass)?;
    let n = snnc_ir::numel(&shape);
    let f = opts.frac as i32;
    let bad = |what: &str, i: usize| {
        let u = unit[out_map.of(i)];
        let reason = format!(
            "`{}`: the {what} of neuron {i} does not fit a {}-bit membrane in units of {u:e}",
            neuron.name, opts.state
        );
        PassError::invalid(pass, reason)
    };
    let mut decay = Vec::with_capacity(n);
    let mut bias_q = Vec::with_capacity(n);
    let mut thr = Vec::with_capacity(n);
    let mut v_reset = Vec::with_capacity(n);
    let mut saturated = 0usize;
    for (i, b_i) in bias.iter().enumerate() {
        let c = out_map.of(i);
        let u = unit[c];
        decay.push(to_i64(round_even(p.decay[i] * 2f64.powi(f))).ok_or_else(|| bad("decay", i))?);
        let corr = correction
            .as_ref()
            .and_then(|v| v.get(c))
            .copied()
            .unwrap_or(0.0);
        let b = to_i64(round_even((p.gain[i] * b_i + p.drive[i] - corr) / u))
            .ok_or_else(|| bad("bias", i))?;
        if b < lo || b > hi {
            saturated += 1;
        }
        bias_q.push(b.clamp(lo, hi));
        let t = threshold_int(p.threshold[i], u).ok_or_else(|| bad("threshold", i))?;
        if t < lo || t > hi {
            return Err(bad("threshold", i));
        }
        thr.push(t);
        let r = to_i64(round_even(p.v_reset[i] / u)).ok_or_else(|| bad("reset value", i))?;
        if r < lo || r > hi {
            return Err(bad("reset value", i));
        }
        v_reset.push(r);
    }
    let axis = syn.out_channel_axis();
    let ir = |e| PassError::ir(pass, e);
    let lif = IntLif {
        decay: compact_i64(&decay, &shape, axis).map_err(ir)?,
        frac_bits: opts.frac as u8,
        bias: compact_i64(&bias_q, &shape, axis).map_err(ir)?,
        threshold: compact_i64(&thr, &shape, axis).map_err(ir)?,
        v_reset: compact_i64(&v_reset, &shape, axis).map_err(ir)?,
        reset: p.reset,
        state_bits: opts.state as u8,
    };
    let wdtype = signed_dtype(bits);
    let weight_q = Tensor::from_i64(wdtype, syn.weight.shape().to_vec(), q).map_err(ir)?;

    let (smin, smax) = min_max(&scale);
    let (tmin, tmax) = min_max_i(&thr);
    let mut note = format!(
        "{} `{}` <- {} `{}`: {bits}-bit weights ({}, scale {smin:.3e}..{smax:.3e}), {src_note}, \
         threshold {tmin}..{tmax}, decay {}/2^{f}",
        p.kind,
        neuron.name,
        syn.op.name(),
        syn.name,
        if opts.per_channel {
            "per-channel"
        } else {
            "per-tensor"
        },
        decay.first().copied().unwrap_or(0),
    );
    if let Some(r) = &requant {
        note.push_str(&format!(
            ", requant ×{}/2^{} (first channel)",
            r.multiplier.as_i64().and_then(|v| v.first()).unwrap_or(&0),
            r.shift.as_i64().and_then(|v| v.first()).unwrap_or(&0)
        ));
    }
    if correction.is_some() {
        note.push_str(", bias corrected on calibration data");
    }
    if saturated > 0 {
        note.push_str(&format!(
            ", {saturated} biases saturated to the {}-bit membrane",
            opts.state
        ));
    }
    Ok(LayerPlan {
        site: site.clone(),
        neuron_name: neuron.name.clone(),
        weight_q,
        requant,
        lif,
        note,
    })
}

/// Finest membrane units a layer may take: `2^-FINEST` weight steps (the Requant multiplier
/// `2^FINEST` stays well inside 31 bits).
const FINEST: i32 = 24;

/// The `k` of the membrane unit `s·2^k`: the smallest `k` in `[−FINEST, 62]` with
/// `pm/(s·2^k) ≤ budget`, i.e. the finest unit that keeps the threshold and reset value within
/// a quarter of the register. A finer unit than the weight step (k < 0) costs nothing in the
/// synapse (the Requant multiplies by `2^−k`) and makes the rounding of the decay product
/// `v·decay` and of analog currents that much smaller relative to the threshold. `k = 0` when
/// the neuron has no threshold or reset to resolve.
fn membrane_shift(s: f64, pm: f64, budget: f64) -> i32 {
    if !(pm > 0.0 && s > 0.0) {
        return 0;
    }
    let mut k = -FINEST;
    while pm / (s * 2f64.powi(k)) > budget && k < 62 {
        k += 1;
    }
    k
}

/// The gain of each channel; the weights of a channel can only carry one gain.
fn channel_gains(
    pass: &str,
    name: &str,
    p: &NeuronParams,
    map: crate::passes::snn::fixed::AxisMap,
    channels: usize,
) -> Result<Vec<f64>, PassError> {
    let mut gain: Vec<Option<f64>> = vec![None; channels];
    for (i, g) in p.gain.iter().enumerate() {
        let slot = gain
            .get_mut(map.of(i))
            .ok_or_else(|| PassError::not_applicable(pass, format!("`{name}`: shape mismatch")))?;
        match slot {
            Some(seen) if seen != g => {
                return Err(PassError::not_applicable(
                    pass,
                    format!(
                        "{} `{name}`: neurons of one channel have different gains (dt/tau·r), \
                         which per-channel integer weights cannot express",
                        p.kind
                    ),
                ))
            }
            _ => *slot = Some(*g),
        }
    }
    Ok(gain.into_iter().map(|g| g.unwrap_or(1.0)).collect())
}

/// Per channel, the largest `|v_th|` or `|v_reset|` of its neurons.
fn channel_max(
    p: &NeuronParams,
    map: crate::passes::snn::fixed::AxisMap,
    channels: usize,
) -> Vec<f64> {
    let mut m = vec![0.0f64; channels];
    for (i, (t, r)) in p.threshold.iter().zip(&p.v_reset).enumerate() {
        if let Some(slot) = m.get_mut(map.of(i)) {
            *slot = slot.max(t.abs()).max(r.abs());
        }
    }
    m
}

/// The Requant from accumulator units `s_c·s_in` to membrane units `s_c·2^k_c`, or `None`
/// when the ratio is 1 everywhere.
fn requant_for(
    pass: &str,
    syn: &crate::passes::snn::synapse::Synapse,
    s_in: f64,
    k: &[i32],
    state: u32,
    lo: i64,
    hi: i64,
) -> Result<Option<Requant>, PassError> {
    let ratios: Vec<f64> = k.iter().map(|k| s_in * 2f64.powi(-k)).collect();
    if ratios.iter().all(|r| *r == 1.0) {
        return Ok(None);
    }
    let mut m = Vec::with_capacity(ratios.len());
    let mut s = Vec::with_capacity(ratios.len());
    for r in &ratios {
        let (mc, sc) = multiplier_shift(*r).ok_or_else(|| {
            PassError::invalid(
                pass,
                format!(
                    "{} `{}`: the rescale factor {r:e} has no multiplier/shift form",
                    syn.op.name(),
                    syn.name
                ),
            )
        })?;
        m.push(mc);
        s.push(sc);
    }
    let (multiplier, shift) = channel_pair(&m, &s).map_err(|e| PassError::ir(pass, e))?;
    Ok(Some(Requant {
        multiplier,
        shift,
        zero_point: 0,
        axis: syn.out_channel_axis(),
        out: state_dtype(state),
        lo,
        hi,
    }))
}

/// The dtype that carries membrane-unit currents: the narrowest signed type of the register.
pub fn state_dtype(state: u32) -> DType {
    signed_dtype(state)
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(*x), b.max(*x))
        })
}

fn min_max_i(v: &[i64]) -> (i64, i64) {
    (
        v.iter().copied().min().unwrap_or(0),
        v.iter().copied().max().unwrap_or(0),
    )
}
