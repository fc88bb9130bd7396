//! Unstructured magnitude pruning: in each layer, the `round(s · n)` weights of smallest
//! magnitude become zero (ties broken by position, so the result is deterministic). The
//! magnitude is `|w|` of the stored constant (`|q − zero_point|` for integer constants); zeros
//! stay zeros through every quantizer with an integer zero point, so pruning the stored
//! constant prunes the layer.

use snnc_ir::{Data, Graph, NodeId, Tensor};

use super::sparse::Csr;
use super::weights::{const_tensor, pruned_name, trace};
use crate::passes::binarize::Names;

/// What pruning one layer did.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Pruned {
    pub zeros: usize,
    pub total: usize,
    /// Bytes of the weights as CSR and dense, at the constant's storage width.
    pub csr_bytes: usize,
    pub dense_bytes: usize,
}

/// Zero the smallest weights of `layer` to `sparsity`; `Err` says why the layer cannot be
/// pruned (it is then left as it is).
pub(crate) fn prune_layer(
    g: &mut Graph,
    names: &mut Names,
    layer: NodeId,
    sparsity: f64,
) -> Result<Pruned, String> {
    let chain = trace(g, layer, 1).ok_or("its weights are not a constant")?;
    if !chain.can_hold_zero(g) {
        return Err("its weights are binary (±1 cannot be zero)".into());
    }
    let t = const_tensor(g, chain.konst).ok_or("its weights are not a constant")?;
    let zero_point = match g
        .node(chain.konst)
        .ty
        .as_ref()
        .and_then(|ty| ty.quant.as_ref())
    {
        Some(q) if q.axis.is_none() && q.zero_point.len() == 1 => q.zero_point[0],
        Some(_) => return Err("its weights have a per-channel zero point".into()),
        None => 0,
    };
    let n = t.len();
    let k = ((sparsity * n as f64).round() as usize).min(n);
    let (new, zeros) = match t.data() {
        Data::F32(v) => {
            let mags: Vec<f64> = v.iter().map(|x| f64::from(x.abs())).collect();
            let mut out = v.clone();
            for i in smallest(&mags, k) {
                out[i] = 0.0;
            }
            let zeros = out.iter().filter(|x| **x == 0.0).count();
            (Tensor::from_f32(t.shape().to_vec(), out), zeros)
        }
        Data::I64(v) => {
            let mags: Vec<f64> = v.iter().map(|x| (x - zero_point).abs() as f64).collect();
            let mut out = v.clone();
            for i in smallest(&mags, k) {
                out[i] = zero_point;
            }
            let zeros = out.iter().filter(|x| **x == zero_point).count();
            (Tensor::from_i64(t.dtype(), t.shape().to_vec(), out), zeros)
        }
    };
    let new = new.map_err(|e| e.to_string())?;
    let rows = new.shape().first().copied().unwrap_or(1);
    let cols = n / rows.max(1);
    let bits = new.dtype().size_bytes() * 8;
    let (csr_bytes, dense_bytes) = match new.data() {
        Data::F32(v) => sizes(Csr::from_dense(rows, cols, v), bits),
        Data::I64(v) => {
            let centred: Vec<i64> = v.iter().map(|x| x - zero_point).collect();
            sizes(Csr::from_dense(rows, cols, &centred), bits)
        }
    }?;
    let name = names.fresh(&pruned_name(&g.node(chain.konst).name));
    let c = g.add_const(name, new);
    if let Some(q) = g
        .node(chain.konst)
        .ty
        .as_ref()
        .and_then(|ty| ty.quant.clone())
    {
        if let Some(ty) = g.node_mut(c).ty.as_mut() {
            ty.quant = Some(q);
        }
    }
    g.set_operand(chain.reader.0, chain.reader.1, c);
    Ok(Pruned {
        zeros,
        total: n,
        csr_bytes,
        dense_bytes,
    })
}

/// Indices of the `k` smallest magnitudes, ties by index.
fn smallest(mags: &[f64], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..mags.len()).collect();
    idx.sort_by(|a, b| mags[*a].total_cmp(&mags[*b]).then(a.cmp(b)));
    idx.truncate(k);
    idx
}

fn sizes<T: Copy + PartialEq + Default>(
    m: Result<Csr<T>, String>,
    bits: usize,
) -> Result<(usize, usize), String> {
    let m = m?;
    Ok((m.bytes(bits), m.dense_bytes(bits)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::op::Gemm;
    use snnc_ir::{Op, TensorType};

    #[test]
    fn zeroes_the_smallest_magnitudes() {
        let mut g = Graph::new("p");
        let x = g.add_input("x", TensorType::f32(vec![1, 3]));
        let w = g.add_const(
            "w",
            Tensor::from_f32(vec![2, 3], vec![0.5, -0.1, 0.3, -0.2, 0.0, 0.4]).unwrap(),
        );
        let y = g
            .add_node(
                "gemm",
                Op::Gemm(Gemm {
                    trans_b: true,
                    ..Gemm::default()
                }),
                &[x, w],
            )
            .unwrap();
        g.add_output("y", y).unwrap();
        let mut names = Names::new(&g);
        let p = prune_layer(&mut g, &mut names, y, 0.5).unwrap();
        assert_eq!((p.zeros, p.total), (3, 6));
        let w2 = g.operand(y, 1).unwrap();
        assert_eq!(g.node(w2).name, "w.pruned");
        // 0.0, −0.1 and −0.2 go; ties would go by position.
        match &g.node(w2).op {
            Op::Const(t) => assert_eq!(t.as_f32().unwrap(), &[0.5, 0.0, 0.3, 0.0, 0.0, 0.4]),
            other => panic!("{other:?}"),
        }
        assert_eq!(p.dense_bytes, 24);
        assert_eq!(p.csr_bytes, 3 * 4 + 3 + 3 * 4);
        assert_eq!(smallest(&[1.0, 0.0, 1.0, 0.0], 3), vec![1, 3, 0]);
    }
}
