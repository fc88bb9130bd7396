//! `snnc compile --target cortex-m4|cortex-m7|aarch64|host` and `snnc run` of such artifacts.
//! The integer graph the pipeline leaves is lowered to one plan; the C backend (Cortex-M) or the
//! cranelift backend (aarch64, host) translates it. `snnc run` executes the artifact under QEMU
//! (or natively for the host) with the same input encoding and output layout as `snnc sim`, so
//! the two `.npy` files compare equal element for element.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use snnc_ir::{text, verify, DType};
use snnc_targets::arm::c::{self, COptions, Cpu};
use snnc_targets::arm::clif::{self, JitModel};
use snnc_targets::arm::manifest::{self, ArmManifest, FORMAT};
use snnc_targets::arm::plan::{self, decode, Plan};
use snnc_targets::arm::ArmError;
use snnc_targets::spinnaker2::artifact::file_digest;
use snnc_targets::spinnaker2::artifact::write::write_files;

use super::run_cmd::{RunArgs, RunTarget};
use super::target::Target;
use super::{compile_report_json, pipeline, CompileArgs};
use crate::encode::StepInput;
use crate::error::CliError;
use crate::npy;
use crate::output;
use crate::sim::{self, Reduce, SimOptions};

/// Memory budgets of the ARM targets.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct ArmOptions {
    /// Flash budget (bytes, or with a K/M suffix): a model whose code and constants exceed it
    /// is refused with the numbers.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub flash: Option<usize>,
    /// RAM budget (bytes, or with a K/M suffix) for arena, state and stack.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub ram: Option<usize>,
}

/// `1M`, `256K`, `4096`, `2G` → bytes (K, M and G are powers of 1024).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 1 << 10),
        Some((i, 'M' | 'm')) => (&t[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    num.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| format!("`{s}` is not a size (bytes, or a number with K, M or G)"))
}

fn arm_err(path: &Path) -> impl FnOnce(ArmError) -> CliError + '_ {
    move |source| CliError::Arm {
        path: path.to_path_buf(),
        source,
    }
}

/// Compile `model` for an ARM target into the directory `dest`.
pub fn compile(
    model: &Path,
    dest: &Path,
    c: &CompileArgs,
    opts: &ArmOptions,
) -> Result<(), CliError> {
    let target = c.passes.target;
    if dest == Path::new("-") {
        return Err(CliError::Usage(format!(
            "a {} artifact is a directory: give -o DIR, not -",
            target.name()
        )));
    }
    c.check_artifact_outputs(model, dest, None)?;
    let p = pipeline::prepare_with(model, &c.passes, c.dt, c.steps, &c.limits)?;
    p.warn_unused_calib(&c.passes);
    eprint!("{}", pipeline::render_reports(&p.reports));
    let g = &p.model.graph;
    let plan = plan::lower(g, &p.model.info, target.name()).map_err(arm_err(model))?;
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let memory = match target {
        Target::CortexM4 | Target::CortexM7 => emit_c(model, &plan, target, opts, &mut files)?,
        Target::Aarch64 => {
            let a = clif::emit_object(&plan).map_err(arm_err(model))?;
            let ram = plan.arena_bytes + plan.state_bytes;
            check_budget(
                model,
                target,
                "flash",
                a.object.len(),
                opts.flash,
                "object file",
            )?;
            check_budget(model, target, "RAM", ram, opts.ram, "arena + state")?;
            let object_bytes = a.object.len();
            files.insert("model.o".into(), a.object);
            files.insert("model.h".into(), a.header.into_bytes());
            files.insert("model.clif".into(), a.clif.into_bytes());
            serde_json::json!({ "object_bytes": object_bytes, "arena_bytes": plan.arena_bytes, "state_bytes": plan.state_bytes })
        }
        _ => {
            // The host artifact keeps only the integer graph; `snnc run` JIT-compiles it.
            let jit = JitModel::compile(&plan).map_err(arm_err(model))?;
            files.insert("model.clif".into(), jit.clif().as_bytes().to_vec());
            serde_json::json!({ "arena_bytes": plan.arena_bytes, "state_bytes": plan.state_bytes })
        }
    };
    // The integer graph itself: `snnc sim DIR/model.ir` is the reference for this artifact, and
    // `snnc run --native` JIT-compiles it.
    files.insert(
        "model.ir".into(),
        text::print(g, &text::PrintOptions::default()).into_bytes(),
    );
    let bytes = std::fs::read(model).map_err(|e| CliError::io(model, e))?;
    let (inputs, outputs, kernels) = manifest::describe(&plan);
    let mut flags = BTreeMap::new();
    flags.insert("passes".to_string(), p.spec.clone());
    flags.insert("dt".to_string(), format!("{}", c.dt));
    for (name, v) in [("flash", opts.flash), ("ram", opts.ram)] {
        if let Some(v) = v {
            flags.insert(name.to_string(), v.to_string());
        }
    }
    let floats: Vec<&str> = kernels
        .iter()
        .filter(|k| k.float)
        .map(|k| k.node.as_str())
        .collect();
    if !floats.is_empty() {
        eprintln!(
            "note: {} kernel(s) compute in float: {}",
            floats.len(),
            floats.join(", ")
        );
    }
    let m = ArmManifest {
        format: FORMAT.into(),
        target: target.name().into(),
        snnc_version: env!("CARGO_PKG_VERSION").into(),
        model: model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        model_digest: file_digest(&bytes),
        flags,
        stateful: plan.stateful,
        inputs,
        outputs,
        arena_bytes: plan.arena_bytes,
        state_bytes: plan.state_bytes,
        kernels,
        memory,
        files: files.keys().cloned().collect(),
    };
    let json = serde_json::to_string_pretty(&m).map_err(|e| CliError::Usage(e.to_string()))?;
    files.insert("manifest.json".into(), (json + "\n").into_bytes());
    // The report is staged first: if it cannot be written, the previous artifact stays.
    let report = match &c.report {
        Some(path) => {
            let json = compile_report_json(model, c, &p, Some(m.memory.clone()))?;
            Some(output::stage(&[(path.clone(), json)])?)
        }
        None => None,
    };
    write_files(dest, &files).map_err(|source| CliError::Artifact {
        path: dest.to_path_buf(),
        source,
    })?;
    if let Some(r) = report {
        r.commit()?;
    }
    eprintln!(
        "{}: {} kernels, arena {} B, state {} B → {}",
        target.name(),
        plan.kernels.len(),
        plan.arena_bytes,
        plan.state_bytes,
        dest.display()
    );
    Ok(())
}

/// The C library for a Cortex-M; code size measured with `arm-none-eabi-gcc` when installed.
fn emit_c(
    model: &Path,
    plan: &Plan,
    target: Target,
    opts: &ArmOptions,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> Result<serde_json::Value, CliError> {
    let cpu = if target == Target::CortexM7 {
        Cpu::CortexM7
    } else {
        Cpu::CortexM4
    };
    let copts = COptions {
        cpu,
        ..COptions::default()
    };
    let art = c::emit(plan, &copts).map_err(arm_err(model))?;
    // Measure code and stack in a scratch copy (never in the destination).
    let scratch = std::env::temp_dir().join(format!("snnc-measure-{}", std::process::id()));
    let measured = art
        .write_to(&scratch)
        .and_then(|()| c::measure_code(&scratch, cpu));
    let _ = std::fs::remove_dir_all(&scratch);
    let footprint = match measured {
        Ok(code) => art.footprint.clone().with_code(code),
        Err(e) => {
            eprintln!("note: code size not measured ({e}); flash counts constant data only");
            art.footprint.clone()
        }
    };
    eprint!("{}", footprint.render());
    check_budget(
        model,
        target,
        "flash",
        footprint.flash_bytes(),
        opts.flash,
        "code and constants",
    )?;
    check_budget(
        model,
        target,
        "RAM",
        footprint.ram_bytes(),
        opts.ram,
        &format!(
            "arena {} + state {} + stack {}",
            footprint.arena_bytes,
            footprint.state_bytes,
            footprint.stack_bytes()
        ),
    )?;
    for (name, text) in &art.files {
        files.insert(name.clone(), text.clone().into_bytes());
    }
    Ok(serde_json::json!({
        "flash_bytes": footprint.flash_bytes(),
        "ram_bytes": footprint.ram_bytes(),
        "const_bytes": footprint.const_bytes(),
        "arena_bytes": footprint.arena_bytes,
        "state_bytes": footprint.state_bytes,
        "stack_bytes": footprint.stack_bytes(),
        "code_bytes": footprint.code.as_ref().map(|c| c.code_bytes),
        "kernels": footprint.kernels.iter().map(|k| serde_json::json!({
            "function": k.function, "what": k.what, "const_bytes": k.const_bytes, "code_bytes": k.code_bytes,
        })).collect::<Vec<_>>(),
    }))
}

fn check_budget(
    model: &Path,
    target: Target,
    what: &'static str,
    need: usize,
    budget: Option<usize>,
    detail: &str,
) -> Result<(), CliError> {
    match budget {
        Some(b) if need > b => Err(CliError::Arm {
            path: model.to_path_buf(),
            source: ArmError::Budget {
                target: target.name(),
                what,
                need,
                budget: b,
                detail: detail.to_string(),
            },
        }),
        _ => Ok(()),
    }
}

/// Read an ARM artifact's manifest, if `dir` holds one.
pub fn read_manifest(dir: &Path) -> Option<Result<ArmManifest, CliError>> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return None;
    }
    Some(serde_json::from_value(v).map_err(|e| CliError::Usage(format!("{}: {e}", path.display()))))
}

/// `snnc run` of an ARM artifact.
pub fn run(args: &RunArgs, m: &ArmManifest, out: &mut dyn std::io::Write) -> Result<(), CliError> {
    let dir = &args.artifact;
    let bad = |reason: String| CliError::Usage(format!("{}: {reason}", dir.display()));
    let steps = match args.steps {
        Some(0) => return Err(CliError::Usage("--steps must be at least 1".into())),
        Some(t) => t,
        None if m.stateful => {
            return Err(bad(
                "the model is stateful (spiking); give the number of time steps with --steps"
                    .into(),
            ))
        }
        None => 1,
    };
    let (Some(inp), Some(outp)) = (m.inputs.first(), m.outputs.first()) else {
        return Err(bad("the manifest lists no input or no output".into()));
    };
    if m.inputs.len() != 1 || m.outputs.len() != 1 {
        return Err(bad(format!(
            "the model has {} inputs and {} outputs; `snnc run` feeds one input and reads one output",
            m.inputs.len(),
            m.outputs.len()
        )));
    }
    if inp.dtype != "f32" {
        return Err(bad(format!(
            "input `{}` is {}; `snnc run` feeds f32 inputs",
            inp.name, inp.dtype
        )));
    }
    let (_, numel) = check_port(inp).map_err(&bad)?;
    let (out_dtype, _) = check_port(outp).map_err(&bad)?;
    let sim_opts = SimOptions {
        steps,
        dt: 1.0,
        reduce: args.reduce,
        encoding: args.encoding,
        seed: args.seed,
        threads: 1,
    };
    let array = npy::read(&args.input)?;
    let ty = format!("{}{:?}", inp.dtype, inp.shape);
    let input = StepInput::new(&array, &args.input, &inp.name, &ty, numel, 0, &sim_opts)?;
    let n = input.batch();
    // Buffer sizes from the manifest and --steps, checked before anything is allocated.
    let total = |per: usize| {
        n.checked_mul(steps)
            .and_then(|v| v.checked_mul(per))
            .ok_or_else(|| {
                bad(format!(
                    "{n} samples × {steps} steps × {per} bytes overflow"
                ))
            })
    };
    let (in_total, out_total) = (total(inp.bytes)?, total(outp.bytes)?);
    let mut bytes = Vec::with_capacity(in_total);
    for i in 0..n {
        for t in 0..steps {
            bytes.extend(input.step(i, t).iter().flat_map(|v| v.to_le_bytes()));
        }
    }
    let start = Instant::now();
    let native =
        args.native || args.target == Some(RunTarget::Host) || m.target == Target::Host.name();
    let (raw, how, insns) = if native {
        let ir_path = dir.join("model.ir");
        let text = std::fs::read_to_string(&ir_path).map_err(|e| CliError::io(&ir_path, e))?;
        let g = text::parse(&text).map_err(|e| bad(format!("model.ir: {e}")))?;
        let info = verify(&g).map_err(|e| bad(format!("model.ir: {e}")))?;
        let plan = plan::lower(&g, &info, "host").map_err(arm_err(dir))?;
        let mut jit = JitModel::compile(&plan).map_err(arm_err(dir))?;
        let raw = jit.run_raw(&bytes, n, steps).map_err(arm_err(dir))?;
        (raw, "host JIT (cranelift)", None)
    } else if m.target == Target::Aarch64.name() {
        let (raw, insns) =
            clif::run_qemu_aarch64_counted(dir, &bytes, n, steps).map_err(arm_err(dir))?;
        (raw, "qemu-aarch64", Some(insns))
    } else {
        let r = c::run_qemu(dir, &bytes, n, steps, true).map_err(arm_err(dir))?;
        (r.output, "qemu-system-arm (mps2-an386)", r.insns_model)
    };
    let wall = start.elapsed().as_secs_f64();
    if raw.len() != out_total {
        return Err(bad(format!(
            "the model wrote {} output bytes, {out_total} expected",
            raw.len()
        )));
    }
    let mut outputs: Vec<Vec<f32>> = Vec::with_capacity(n);
    for sample in raw.chunks(steps * outp.bytes.max(1)) {
        let mut acc = Vec::new();
        for step in sample.chunks(outp.bytes.max(1)) {
            let t = decode(out_dtype, &outp.shape, step).map_err(bad)?;
            sim::accumulate(&mut acc, t.to_f32_vec(), args.reduce, steps);
        }
        outputs.push(acc);
    }
    let y = sim::assemble(
        outputs.iter().map(Vec::as_slice),
        n,
        &sim::sample_shape(&outp.shape),
        steps,
        args.reduce,
    );
    let expect = n
        * check_port(outp).map_err(&bad)?.1
        * if args.reduce == Reduce::None && steps > 1 {
            steps
        } else {
            1
        };
    if y.data.len() != expect {
        return Err(bad(format!(
            "output `{}` of shape {:?} does not hold the model's values",
            outp.name, outp.shape
        )));
    }
    let per = |v: u64| v as f64 / (n * steps).max(1) as f64;
    let mut files = vec![(args.output.clone(), npy::to_bytes(&y))];
    if let Some(path) = &args.report {
        let json = serde_json::json!({
            "target": m.target,
            "runner": how,
            "samples": n,
            "steps": steps,
            "instructions_model": insns,
            "instructions_per_step": insns.map(per),
            "wall_seconds": wall,
        });
        let text =
            serde_json::to_string_pretty(&json).map_err(|e| CliError::Usage(e.to_string()))?;
        files.push((path.clone(), (text + "\n").into_bytes()));
    }
    output::write_all_atomic(&files)?;
    let insn_line = insns.map_or(String::new(), |i| {
        format!(
            "  instructions {i} ({:.0} per {})",
            per(i),
            if m.stateful { "step" } else { "inference" }
        )
    });
    let text = format!(
        "{}: {n} sample(s) x {steps} step(s) on {how}{insn_line}  host time {wall:.2} s\n",
        dir.display()
    );
    out.write_all(text.as_bytes())
        .map_err(|e| CliError::io(Path::new("<stdout>"), e))
}

/// A manifest port's dtype and element count, checked: a known dtype, a shape whose size does
/// not overflow, and a byte count equal to its storage size (a hand-edited or corrupted manifest
/// is refused before any buffer is sized from it).
fn check_port(p: &manifest::PortInfo) -> Result<(DType, usize), String> {
    let dtype = DType::ALL
        .iter()
        .copied()
        .find(|d| d.name() == p.dtype)
        .ok_or_else(|| format!("port `{}`: unknown dtype `{}`", p.name, p.dtype))?;
    let numel = p
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n.checked_mul(8).is_some())
        .ok_or_else(|| format!("port `{}`: shape {:?} is too large", p.name, p.shape))?;
    let need = plan::storage_bytes(dtype, &p.shape);
    if p.bytes != need {
        return Err(format!(
            "port `{}`: {} bytes listed for {}{:?}, which takes {need}",
            p.name, p.bytes, p.dtype, p.shape
        ));
    }
    Ok((dtype, numel))
}
