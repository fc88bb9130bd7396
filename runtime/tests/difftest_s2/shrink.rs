//! Greedy shrinking of a failing [`Spec`]: try simpler specs (a layer or projection removed,
//! fewer neurons, steps and samples, a smaller machine, plain weights and parameters, no delays
//! or extra recurrent edges) and keep each one that still fails, until none does.

use snnc_ir::DType;
use snnc_targets::spinnaker2::partition::SynapseStorage;

use super::gen::{Form, Input, Layer, MachineKind, Spec, W};

/// Removes layer `i`, redirecting projections from it to its own predecessor.
fn remove_layer(s: &mut Spec, i: usize) {
    s.layers.remove(i);
    for (j, l) in s.layers.iter_mut().enumerate() {
        for p in &mut l.proj {
            if p.from == i + 1 {
                p.from = i;
            } else if p.from > i + 1 {
                p.from -= 1;
            }
            if p.from > j && !p.rec.iter().any(|r| *r) {
                p.rec[0] = true;
            }
        }
    }
    if s.out >= i && s.out > 0 {
        s.out -= 1;
    }
}

/// Halving and decrementing a size.
fn smaller(v: usize) -> Vec<usize> {
    let mut c = vec![];
    if v > 1 {
        c.push(1);
        if v / 2 > 1 {
            c.push(v / 2);
        }
        if v - 1 > v / 2 {
            c.push(v - 1);
        }
    }
    c
}

/// Simpler variants of `spec`, most drastic first.
fn candidates(spec: &Spec) -> Vec<Spec> {
    let mut out = Vec::new();
    let mut push = |f: &dyn Fn(&mut Spec)| {
        let mut s = spec.clone();
        f(&mut s);
        out.push(s);
    };
    if spec.layers.len() > 1 {
        for i in (0..spec.layers.len()).rev() {
            push(&|s: &mut Spec| remove_layer(s, i));
        }
    }
    for (i, l) in spec.layers.iter().enumerate() {
        if l.proj.len() > 1 {
            for j in (0..l.proj.len()).rev() {
                push(&|s: &mut Spec| {
                    s.layers[i].proj.remove(j);
                });
            }
        }
    }
    for v in smaller(spec.samples) {
        push(&|s: &mut Spec| s.samples = v);
    }
    for v in smaller(spec.steps) {
        push(&|s: &mut Spec| s.steps = v);
    }
    for (i, l) in spec.layers.iter().enumerate() {
        for v in smaller(l.n) {
            push(&|s: &mut Spec| s.layers[i].n = v);
        }
    }
    if spec.machine != MachineKind::Default {
        push(&|s: &mut Spec| s.machine = MachineKind::Default);
        push(&|s: &mut Spec| s.machine = MachineKind::Tiny(1, 1));
        let (x, y) = match spec.machine {
            MachineKind::Tiny(x, y)
            | MachineKind::Micro(x, y)
            | MachineKind::Odd(x, y)
            | MachineKind::Slow(x, y) => (x, y),
            MachineKind::Default => (1, 1),
            MachineKind::Column(y) => (1, y),
        };
        let with = |x: u8, y: u8| match spec.machine {
            MachineKind::Tiny(..) => MachineKind::Tiny(x, y),
            MachineKind::Micro(..) => MachineKind::Micro(x, y),
            MachineKind::Odd(..) => MachineKind::Odd(x, y),
            MachineKind::Slow(..) => MachineKind::Slow(x, y),
            MachineKind::Column(..) => MachineKind::Column(y),
            MachineKind::Default => MachineKind::Default,
        };
        if x > 1 {
            push(&|s: &mut Spec| s.machine = with(x - 1, y));
        }
        if y > 1 {
            push(&|s: &mut Spec| s.machine = with(x, y - 1));
        }
    }
    for v in smaller(spec.n_in) {
        push(&|s: &mut Spec| s.n_in = v);
    }
    if spec.synapses != SynapseStorage::Sram {
        push(&|s: &mut Spec| s.synapses = SynapseStorage::Sram);
    }
    if spec.max_rate != 10 {
        push(&|s: &mut Spec| s.max_rate = 10);
    }
    if spec.in_shape != 0 {
        push(&|s: &mut Spec| s.in_shape = 0);
    }
    if spec.out_reshape {
        push(&|s: &mut Spec| s.out_reshape = false);
    }
    if spec.out + 1 < spec.layers.len() {
        push(&|s: &mut Spec| s.out = s.layers.len() - 1);
    }
    match spec.input {
        Input::Quant { signed, zp: true } => {
            push(&|s: &mut Spec| s.input = Input::Quant { signed, zp: false })
        }
        Input::Int8 => push(&|s: &mut Spec| s.input = Input::Spikes),
        _ => {}
    }
    if !matches!(spec.input, Input::Spikes) {
        push(&|s: &mut Spec| s.input = Input::Spikes);
    }
    for (i, l) in spec.layers.iter().enumerate() {
        for c in simpler_layer(l) {
            push(&|s: &mut Spec| {
                let (proj, n) = (s.layers[i].proj.clone(), s.layers[i].n);
                s.layers[i] = Layer {
                    proj,
                    n,
                    ..c.clone()
                };
            });
        }
        for (j, p) in l.proj.iter().enumerate() {
            let mut edits: Vec<super::gen::Proj> = Vec::new();
            let mut e = |f: &dyn Fn(&mut super::gen::Proj)| {
                let mut q = p.clone();
                f(&mut q);
                edits.push(q);
            };
            for st in 0..3 {
                if p.delay[st].is_some() {
                    e(&|q| q.delay[st] = None);
                }
                if p.rec[st] {
                    e(&|q| q.rec[st] = false);
                }
                if let Some(d) = p.delay[st] {
                    if d > 1 {
                        e(&|q| q.delay[st] = Some(d - 1));
                    }
                }
            }
            if p.density != 100 {
                e(&|q| q.density = 100);
            }
            if p.w != W::Pm1 {
                e(&|q| q.w = W::Pm1);
                if p.w != W::I8 {
                    e(&|q| q.w = W::I8);
                }
            }
            if p.rq.per_channel {
                e(&|q| q.rq.per_channel = false);
            }
            if p.rq.zp {
                e(&|q| q.rq.zp = false);
            }
            if p.rq.clamp {
                e(&|q| q.rq.clamp = false);
            }
            if p.rq.kind != 0 {
                e(&|q| q.rq.kind = 0);
            }
            if p.rq.out != DType::I16 {
                e(&|q| q.rq.out = DType::I16);
            }
            if p.form != Form::GemmT {
                e(&|q| q.form = Form::GemmT);
            }
            if p.acc_reshape {
                e(&|q| q.acc_reshape = false);
            }
            if p.gain != 0 {
                e(&|q| q.gain = 0);
            }
            for q in edits {
                push(&|s: &mut Spec| s.layers[i].proj[j] = q.clone());
            }
        }
    }
    out
}

/// Simpler versions of a layer's own choices (neurons and projections kept by the caller).
fn simpler_layer(l: &Layer) -> Vec<Layer> {
    let mut out = Vec::new();
    let mut e = |f: &dyn Fn(&mut Layer)| {
        let mut c = l.clone();
        f(&mut c);
        out.push(c);
    };
    if l.shape != 0 {
        e(&|c| c.shape = 0);
    }
    if l.wrap {
        e(&|c| c.wrap = false);
    }
    if l.twice {
        e(&|c| c.twice = false);
    }
    if l.share {
        e(&|c| c.share = false);
    }
    let lif = l.lif;
    if lif.params != 0 {
        e(&|c| c.lif.params = 0);
    }
    if lif.wild {
        e(&|c| c.lif.wild = false);
    }
    if lif.bias {
        e(&|c| c.lif.bias = false);
    }
    if lif.v_reset {
        e(&|c| c.lif.v_reset = false);
    }
    if lif.subtract {
        e(&|c| c.lif.subtract = false);
    }
    if lif.state_bits != 32 {
        e(&|c| c.lif.state_bits = 32);
    }
    if lif.frac_bits != 0 {
        e(&|c| c.lif.frac_bits = 0);
    }
    out
}

/// The smallest spec reachable from `spec` by accepted simplifications for which `fails`
/// holds, and the number of candidates tried (at most `budget`). After an accepted candidate
/// the next pass continues at the same position of the new candidate list (lists of similar
/// specs line up), so drastic candidates that failed are not retried after every small edit;
/// it stops after a whole pass without progress.
pub fn shrink(spec: &Spec, budget: usize, mut fails: impl FnMut(&Spec) -> bool) -> (Spec, usize) {
    let mut best = spec.clone();
    let mut tried = 0;
    let mut at = 0;
    // Candidates tried in a row without success: a whole list of them ends the search.
    let mut idle = 0;
    loop {
        let cands = candidates(&best);
        if cands.is_empty() || idle >= cands.len() {
            break;
        }
        if at >= cands.len() {
            at = 0;
        }
        let mut accepted = false;
        while at < cands.len() {
            if tried >= budget {
                return (best, tried);
            }
            tried += 1;
            let c = &cands[at];
            if fails(c) {
                best = c.clone();
                idle = 0;
                accepted = true;
                break;
            }
            idle += 1;
            at += 1;
            if idle >= cands.len() {
                return (best, tried);
            }
        }
        if !accepted {
            at = 0;
        }
    }
    (best, tried)
}
