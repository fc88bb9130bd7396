//! Simpler variants of a spec's extensions (see [`ext`](super::super::gen::ext)): sections,
//! float layers and extra inputs removed, float layers simplified.

use super::super::gen::ext::{At, FKind, Join};
use super::super::gen::{Other, Spec};

/// `spec` with integer layer `i` removed, the extensions' positions after it moved down.
pub fn without_layer(spec: &Spec, i: usize) -> Spec {
    let mut s = spec.clone();
    s.layers.remove(i);
    let down = |a: &mut usize| {
        if *a > i {
            *a -= 1;
        }
    };
    for sec in &mut s.ext.sections {
        if let At::After(a) = &mut sec.at {
            down(a);
        }
    }
    for x in &mut s.ext.inputs {
        down(&mut x.at);
    }
    s
}

/// Removals of whole extensions, most drastic first.
pub fn drastic(spec: &Spec, push: &mut dyn FnMut(Spec)) {
    let e = &spec.ext;
    if e.refuse.is_some() {
        let mut s = spec.clone();
        s.ext.refuse = None;
        push(s);
    }
    for i in (0..e.sections.len()).rev() {
        let mut s = spec.clone();
        s.ext.sections.remove(i);
        push(s);
    }
    for i in (0..e.inputs.len()).rev() {
        let mut s = spec.clone();
        s.ext.inputs.remove(i);
        push(s);
    }
    for (i, sec) in e.sections.iter().enumerate() {
        for j in (0..sec.layers.len()).rev() {
            let mut s = spec.clone();
            s.ext.sections[i].layers.remove(j);
            push(s);
        }
    }
}

/// Smaller choices within the extensions.
pub fn finer(spec: &Spec, push: &mut dyn FnMut(Spec)) {
    let e = &spec.ext;
    for (i, x) in e.inputs.iter().enumerate() {
        if x.join != Join::Add {
            let mut s = spec.clone();
            s.ext.inputs[i].join = Join::Add;
            push(s);
        }
    }
    for (i, sec) in e.sections.iter().enumerate() {
        if sec.at == At::Tail && sec.back.is_some() {
            let mut s = spec.clone();
            s.ext.sections[i].back = None;
            push(s);
        }
        for (j, l) in sec.layers.iter().enumerate() {
            for k in simpler(&l.kind) {
                let mut s = spec.clone();
                s.ext.sections[i].layers[j].kind = k;
                push(s);
            }
        }
    }
}

fn simpler(k: &FKind) -> Vec<FKind> {
    let mut out = Vec::new();
    match *k {
        FKind::Dense {
            n,
            signs,
            bias,
            scaled,
            prune,
            matmul,
            rank1,
        } => {
            let d = |n, signs, bias, scaled, prune, matmul, rank1| FKind::Dense {
                n,
                signs,
                bias,
                scaled,
                prune,
                matmul,
                rank1,
            };
            for m in [1, n / 2, n.saturating_sub(1)] {
                if m >= 1 && m < n {
                    out.push(d(m, signs, bias, scaled, prune, matmul, rank1));
                }
            }
            if bias {
                out.push(d(n, signs, false, scaled, prune, matmul, rank1));
            }
            if scaled {
                out.push(d(n, signs, bias, false, prune, matmul, rank1));
            }
            if prune > 0 {
                out.push(d(n, signs, bias, scaled, 0, matmul, rank1));
            }
            if matmul {
                out.push(d(n, signs, bias, scaled, prune, false, rank1));
            }
            if rank1 {
                out.push(d(n, signs, bias, scaled, prune, matmul, false));
            }
        }
        FKind::BatchNorm { image, eps } => {
            if image {
                out.push(FKind::BatchNorm { image: false, eps });
            }
        }
        FKind::Clip => out.push(FKind::Relu),
        FKind::Elementwise { mul, other } => {
            if other != Other::Const(0) {
                out.push(FKind::Elementwise {
                    mul,
                    other: Other::Const(0),
                });
            }
        }
        FKind::Pool { max, dims } => {
            if dims == 2 {
                out.push(FKind::Pool { max, dims: 1 });
            }
        }
        FKind::Relu => {}
    }
    out
}
