//! Greedy shrinking of a failing [`Spec`]: try simpler specs (a layer removed, a dimension
//! halved, weights zeroed or made ±1, parameters made per-tensor, fewer steps and samples) and
//! keep each one that still fails, until none does.

use super::gen::{FloatPre, Kind, Other, OutStage, Spec};

#[path = "shrink_ext.rs"]
mod shrink_ext;

/// Simpler variants of `spec`, most drastic first.
fn candidates(spec: &Spec) -> Vec<Spec> {
    let mut out = Vec::new();
    let mut push = |f: &dyn Fn(&mut Spec)| {
        let mut s = spec.clone();
        f(&mut s);
        out.push(s);
    };
    for i in (0..spec.layers.len()).rev() {
        push(&|s: &mut Spec| *s = shrink_ext::without_layer(s, i));
    }
    let mut more = Vec::new();
    shrink_ext::drastic(spec, &mut |s| more.push(s));
    out.append(&mut more);
    let mut push = |f: &dyn Fn(&mut Spec)| {
        let mut s = spec.clone();
        f(&mut s);
        out.push(s);
    };
    if spec.samples > 1 {
        push(&|s: &mut Spec| s.samples = 1);
        push(&|s: &mut Spec| s.samples = 2);
        push(&|s: &mut Spec| s.samples /= 2);
        push(&|s: &mut Spec| s.samples -= 1);
    }
    if spec.steps > 1 {
        push(&|s: &mut Spec| s.steps = 1);
        push(&|s: &mut Spec| s.steps -= 1);
    }
    if spec.out != OutStage::Direct {
        push(&|s: &mut Spec| s.out = OutStage::Direct);
    }
    if spec.pre != FloatPre::None {
        push(&|s: &mut Spec| s.pre = FloatPre::None);
    }
    if spec.quant_per_channel {
        push(&|s: &mut Spec| s.quant_per_channel = false);
    }
    for d in 1..spec.input.len() {
        if spec.input[d] > 1 {
            push(&|s: &mut Spec| s.input[d] = 1);
            push(&|s: &mut Spec| s.input[d] /= 2);
            push(&|s: &mut Spec| s.input[d] -= 1);
        }
    }
    for i in 0..spec.layers.len() {
        if spec.layers[i].extra_output {
            push(&|s: &mut Spec| s.layers[i].extra_output = false);
        }
        for k in simpler(&spec.layers[i].kind) {
            push(&|s: &mut Spec| s.layers[i].kind = k.clone());
        }
    }
    shrink_ext::finer(spec, &mut |s| out.push(s));
    out
}

/// Halving and decrementing a size.
fn smaller(v: usize) -> Vec<usize> {
    let mut c = vec![];
    if v > 1 {
        c.push(1);
        c.push(v / 2);
        c.push(v - 1);
    }
    c.dedup();
    c
}

/// Simpler versions of one layer kind.
fn simpler(k: &Kind) -> Vec<Kind> {
    let mut out = Vec::new();
    match k.clone() {
        Kind::Dense {
            n,
            weights,
            bias,
            prune,
            small,
            trans_b,
            rank1,
        } => {
            let base = Kind::Dense {
                n,
                weights,
                bias,
                prune,
                small,
                trans_b,
                rank1,
            };
            for n2 in smaller(n) {
                out.push(with(&base, |k| set_dense(k, |d| *d.0 = n2)));
            }
            if bias {
                out.push(with(&base, |k| set_dense(k, |d| *d.1 = false)));
            }
            if prune < 100 {
                out.push(with(&base, |k| set_dense(k, |d| *d.2 = 100)));
            }
            if !small {
                out.push(with(&base, |k| set_dense(k, |d| *d.3 = true)));
            }
            if !trans_b {
                out.push(with(&base, |k| set_dense(k, |d| *d.4 = true)));
            }
            if rank1 {
                out.push(with(&base, |k| set_dense(k, |d| *d.5 = false)));
            }
        }
        Kind::DenseBin {
            n,
            per_channel,
            bias,
        } => {
            for n2 in smaller(n) {
                out.push(Kind::DenseBin {
                    n: n2,
                    per_channel,
                    bias,
                });
            }
            if per_channel {
                out.push(Kind::DenseBin {
                    n,
                    per_channel: false,
                    bias,
                });
            }
            if bias {
                out.push(Kind::DenseBin {
                    n,
                    per_channel,
                    bias: false,
                });
            }
        }
        Kind::Conv {
            dims,
            c_out,
            k,
            stride,
            pad,
            dil,
            groups,
            weights,
            bias,
            prune,
            small,
            batchless,
        } => {
            let base = Kind::Conv {
                dims,
                c_out,
                k,
                stride,
                pad,
                dil,
                groups,
                weights,
                bias,
                prune,
                small,
                batchless,
            };
            let edit = |f: &dyn Fn(&mut Kind)| {
                let mut c = base.clone();
                f(&mut c);
                c
            };
            macro_rules! conv_edit {
                ($field:ident, $val:expr) => {
                    edit(&|c: &mut Kind| {
                        if let Kind::Conv { $field, .. } = c {
                            *$field = $val;
                        }
                    })
                };
            }
            if dims == 2 {
                out.push(conv_edit!(dims, 1));
            }
            for c2 in smaller(c_out) {
                out.push(conv_edit!(c_out, c2));
            }
            if groups > 1 {
                out.push(conv_edit!(groups, 1));
            }
            if k != [1, 1] {
                out.push(conv_edit!(k, [1, 1]));
                out.push(conv_edit!(k, [k[0].max(2) - 1, k[1].max(2) - 1]));
            }
            if stride != [1, 1] {
                out.push(conv_edit!(stride, [1, 1]));
            }
            if pad != [0; 4] {
                out.push(conv_edit!(pad, [0; 4]));
                for i in 0..4 {
                    if pad[i] > 0 {
                        let mut p = pad;
                        p[i] = 0;
                        out.push(conv_edit!(pad, p));
                    }
                }
            }
            if dil != [1, 1] {
                out.push(conv_edit!(dil, [1, 1]));
            }
            if bias {
                out.push(conv_edit!(bias, false));
            }
            if prune < 100 {
                out.push(conv_edit!(prune, 100));
            }
            if !small {
                out.push(conv_edit!(small, true));
            }
            if batchless {
                out.push(conv_edit!(batchless, false));
            }
        }
        Kind::Pool {
            max,
            dims,
            k,
            stride,
            pad,
            dil,
            ceil,
        } => {
            if dims == 2 {
                out.push(pool(max, 1, k, stride, pad, dil, ceil));
            }
            if k != [1, 1] {
                out.push(pool(max, dims, [1, 1], stride, pad, dil, ceil));
            }
            if stride != [1, 1] {
                out.push(pool(max, dims, k, [1, 1], pad, dil, ceil));
            }
            if pad != [0; 4] {
                out.push(pool(max, dims, k, stride, [0; 4], dil, ceil));
            }
            if dil != [1, 1] {
                out.push(pool(max, dims, k, stride, pad, [1, 1], ceil));
            }
            if ceil {
                out.push(pool(max, dims, k, stride, pad, dil, false));
            }
        }
        Kind::Requant {
            out: o,
            per_channel,
            wild,
            clamp,
        } => {
            if per_channel {
                out.push(Kind::Requant {
                    out: o,
                    per_channel: false,
                    wild,
                    clamp,
                });
            }
            if wild {
                out.push(Kind::Requant {
                    out: o,
                    per_channel,
                    wild: false,
                    clamp,
                });
            }
            if clamp {
                out.push(Kind::Requant {
                    out: o,
                    per_channel,
                    wild,
                    clamp: false,
                });
            }
        }
        Kind::Lif {
            state_bits,
            frac_bits,
            subtract,
            params,
            wild,
        } => {
            let mk = |sb, fb, su, pa, wi| Kind::Lif {
                state_bits: sb,
                frac_bits: fb,
                subtract: su,
                params: pa,
                wild: wi,
            };
            if params > 0 {
                out.push(mk(state_bits, frac_bits, subtract, 0, wild));
            }
            if wild {
                out.push(mk(state_bits, frac_bits, subtract, params, false));
            }
            if frac_bits > 0 {
                out.push(mk(state_bits, 0, subtract, params, wild));
            }
            if state_bits != 32 {
                out.push(mk(32, frac_bits, subtract, params, wild));
            }
            if subtract {
                out.push(mk(state_bits, frac_bits, false, params, wild));
            }
        }
        Kind::Elementwise { mul, other } => {
            if other != Other::Const(0) {
                out.push(Kind::Elementwise {
                    mul,
                    other: Other::Const(0),
                });
            }
        }
        Kind::Clip { relu } => {
            if !relu {
                out.push(Kind::Clip { relu: true });
            }
        }
        Kind::Reshape { .. } => {}
    }
    out
}

/// A pool layer kind from its fields.
fn pool(
    max: bool,
    dims: usize,
    k: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 4],
    dil: [usize; 2],
    ceil: bool,
) -> Kind {
    Kind::Pool {
        max,
        dims,
        k,
        stride,
        pad,
        dil,
        ceil,
    }
}

fn with(k: &Kind, f: impl Fn(&mut Kind)) -> Kind {
    let mut c = k.clone();
    f(&mut c);
    c
}

type DenseFields<'a> = (
    &'a mut usize,
    &'a mut bool,
    &'a mut u8,
    &'a mut bool,
    &'a mut bool,
    &'a mut bool,
);

fn set_dense(k: &mut Kind, f: impl Fn(DenseFields)) {
    if let Kind::Dense {
        n,
        bias,
        prune,
        small,
        trans_b,
        rank1,
        ..
    } = k
    {
        f((n, bias, prune, small, trans_b, rank1));
    }
}

/// The smallest spec reachable from `spec` by accepted simplifications for which `fails`
/// holds, and the number of candidates tried (at most `budget`).
pub fn shrink(spec: &Spec, budget: usize, mut fails: impl FnMut(&Spec) -> bool) -> (Spec, usize) {
    let mut best = spec.clone();
    let mut tried = 0;
    'outer: loop {
        for c in candidates(&best) {
            if tried >= budget {
                break 'outer;
            }
            tried += 1;
            if fails(&c) {
                best = c;
                continue 'outer;
            }
        }
        break;
    }
    (best, tried)
}
