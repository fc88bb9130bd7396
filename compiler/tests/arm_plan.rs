//! The ARM targets' plan (`snnc_targets::arm::plan`) against the reference interpreter on the
//! shared models: every model the ARM targets must run is lowered, executed by the plan's own
//! executor, and compared bit for bit with `snnc_ir::interp` on all 360 digits inputs. A
//! backend that disagrees with the reference on these models is then wrong, not the plan.

#[allow(dead_code)]
mod common;

use common::models;
use snnc_compiler::cli::pipeline::{prepare, PassOptions};
use snnc_compiler::cli::target::Target;
use snnc_compiler::npy;
use snnc_ir::interp::Interpreter;
use snnc_ir::{DType, Tensor};
use snnc_targets::arm::plan::{self, decode, encode, PlanMachine};

fn digits() -> npy::Array {
    npy::read(&models("data/digits_test_x.npy")).unwrap()
}

/// Prepare `model` for cortex-m4 with `passes` (None: the target's default), lower it, and run
/// plan and interpreter side by side for `steps` per digit; returns the number of values checked.
fn agree(model: &str, passes: Option<&str>, steps: usize) -> usize {
    let opts = PassOptions {
        passes: passes.map(str::to_string),
        calib: passes
            .filter(|p| p.contains("quantize="))
            .map(|_| models("data/digits_calib_x.npy")),
        target: Target::CortexM4,
        reset: None,
    };
    let prepared = prepare(&models(model), &opts, 1e-4, steps).unwrap();
    let (g, info) = (&prepared.model.graph, &prepared.model.info);
    let plan = plan::lower(g, info, "cortex-m4").unwrap();
    let x = digits();
    let in_ty = g.ty(g.inputs()[0]).clone();
    let per = in_ty.numel();
    let mut interp = Interpreter::new(g, info, 1e-4).unwrap();
    let mut machine = PlanMachine::new(&plan);
    let mut checked = 0;
    for i in 0..x.shape[0] {
        let sample =
            Tensor::from_f32(in_ty.shape.clone(), x.data[i * per..(i + 1) * per].to_vec()).unwrap();
        assert_eq!(in_ty.dtype, DType::F32);
        let bytes = encode(&sample).unwrap();
        interp.reset();
        machine.init();
        for _ in 0..steps {
            let want = interp.step(std::slice::from_ref(&sample)).unwrap();
            let got = machine.run(&[&bytes]).unwrap();
            for ((w, g_bytes), port) in want.iter().zip(&got).zip(&plan.outputs) {
                let v = &plan.values[port.value];
                let g_t = decode(v.dtype, &v.shape, g_bytes).unwrap();
                match (w.as_f32(), g_t.as_f32()) {
                    (Some(a), Some(b)) => {
                        let bits = |s: &[f32]| s.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(a), bits(b), "{model}: sample {i}");
                    }
                    _ => assert_eq!(w.as_i64(), g_t.as_i64(), "{model}: sample {i}"),
                }
                checked += w.len();
            }
        }
    }
    checked
}

#[test]
fn bnn_mlp_plan_matches_reference() {
    assert_eq!(agree("bnn_mlp/bnn_mlp.qonnx.onnx", None, 1), 3600);
}

#[test]
fn qcnn_int8_plan_matches_reference() {
    assert_eq!(agree("qcnn_int8/qcnn_int8.qcdq.onnx", None, 1), 3600);
}

#[test]
fn ann_mlp_int8_plan_matches_reference() {
    let passes = "default,quantize=int8:per-channel";
    assert_eq!(agree("ann_mlp/ann_mlp.onnx", Some(passes), 1), 3600);
}

#[test]
fn snn_mlp_plan_matches_reference_over_16_steps() {
    assert_eq!(agree("snn_mlp/snn_mlp.nir", None, 16), 360 * 16 * 10);
}

/// The float model as imported: float dense layers whose products are not exact, so the
/// reference's fused accumulation (`mul_add`) must be reproduced.
#[test]
fn ann_mlp_float_plan_matches_reference() {
    assert_eq!(agree("ann_mlp/ann_mlp.onnx", None, 1), 3600);
}
