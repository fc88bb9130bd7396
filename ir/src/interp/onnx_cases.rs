//! Differential test against onnxruntime: Conv, MaxPool, AveragePool, Gemm and MatMul cases
//! from `testdata/onnx_cases.txt` (made by `testdata/onnx_cases.py`). The inputs are small
//! integers, so the results are exact and must match bit for bit.

use std::collections::BTreeMap;

use crate::op::{conv, linear, pool, Conv, Gemm, Pool, PoolKind};
use crate::Tensor;

struct Case {
    kind: String,
    attrs: BTreeMap<String, Vec<usize>>,
    inputs: Vec<Tensor>,
    output: Tensor,
}

fn parse_tensor(rest: &str) -> Tensor {
    let mut it = rest.split_whitespace();
    let dims = it.next().unwrap();
    let shape: Vec<usize> = if dims == "-" {
        vec![]
    } else {
        dims.split(',').map(|d| d.parse().unwrap()).collect()
    };
    let data: Vec<f32> = it.map(|v| v.parse::<f64>().unwrap() as f32).collect();
    Tensor::from_f32(shape, data).unwrap()
}

fn cases() -> Vec<Case> {
    let mut out: Vec<Case> = Vec::new();
    for line in include_str!("testdata/onnx_cases.txt").lines() {
        let (tag, rest) = line.split_once(' ').unwrap();
        match tag {
            "case" => {
                let mut words = rest.split_whitespace();
                let kind = words.next().unwrap().to_string();
                let attrs = words
                    .map(|w| {
                        let (k, v) = w.split_once('=').unwrap();
                        (
                            k.to_string(),
                            v.split(',').map(|d| d.parse().unwrap()).collect(),
                        )
                    })
                    .collect();
                out.push(Case {
                    kind,
                    attrs,
                    inputs: vec![],
                    output: Tensor::scalar_f32(0.0),
                });
            }
            "input" => out.last_mut().unwrap().inputs.push(parse_tensor(rest)),
            "output" => out.last_mut().unwrap().output = parse_tensor(rest),
            other => panic!("unknown line tag {other}"),
        }
    }
    out
}

fn eval(c: &Case) -> Tensor {
    let a = |k: &str| c.attrs[k].clone();
    let flag = |k: &str| c.attrs[k] == [1];
    let refs: Vec<&Tensor> = c.inputs.iter().collect();
    let y = match c.kind.as_str() {
        "conv" => conv::eval(
            &Conv {
                stride: a("stride"),
                pads: a("pads"),
                dilation: a("dilation"),
                groups: a("groups")[0],
            },
            &refs,
        ),
        "MaxPool" | "AveragePool" => pool::eval(
            &Pool {
                kind: if c.kind == "MaxPool" {
                    PoolKind::Max
                } else {
                    PoolKind::Avg
                },
                kernel: a("kernel"),
                stride: a("stride"),
                pads: a("pads"),
                dilation: a("dilation"),
                ceil_mode: flag("ceil"),
                count_include_pad: flag("cip"),
            },
            refs[0],
        ),
        "gemm" => linear::eval_gemm(
            &Gemm {
                alpha: 2.0,
                beta: 0.5,
                trans_a: flag("ta"),
                trans_b: flag("tb"),
            },
            &refs,
        ),
        "matmul" => linear::eval_matmul(&refs),
        other => panic!("unknown case kind {other}"),
    };
    y.unwrap()
}

#[test]
fn agrees_with_onnxruntime() {
    let cases = cases();
    assert!(cases.len() > 100, "only {} cases", cases.len());
    let mut kinds = BTreeMap::new();
    for (i, c) in cases.iter().enumerate() {
        assert_eq!(eval(c), c.output, "case {i}: {} {:?}", c.kind, c.attrs);
        *kinds.entry(c.kind.clone()).or_insert(0) += 1;
    }
    assert_eq!(kinds.len(), 5, "{kinds:?}");
}
