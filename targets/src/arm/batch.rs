//! Several compiled models in one program, for tests that run thousands of models (the
//! differential test of issue 6): one link and one emulator start serve a whole batch.
//!
//! Each model is compiled exactly as for a single run (the same emitted files, the same
//! compiler and flags); its objects are then joined into one relocatable object whose entry
//! points are renamed `snnc_b{i}_init` / `snnc_b{i}_entry` and whose other global symbols
//! (the weight arrays) are made local, so models with identical symbol names link together.
//! A generated driver runs the models one after the other with the protocol of the single
//! harnesses (per sample: init, then T steps of read inputs, run/step, write outputs), reading
//! every model's input from one `in.bin` and writing every output to one `out.bin`.
//!
//! A batch that fails to build or run (or writes the wrong number of bytes) is split in halves
//! until the failing models are alone, so every model gets a result of its own and one bad
//! model never hides the others.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::arm::error::io;
use crate::arm::header::parse_sizes;
use crate::arm::ArmError;

/// One model of a batched run.
#[derive(Clone, Copy, Debug)]
pub struct BatchItem<'a> {
    /// The artifact directory: `model.h` and the target's files (`model.c` + `weights.c`, or
    /// `model.o`).
    pub dir: &'a Path,
    /// `n` samples × `t` steps of all inputs, as for a single run.
    pub input: &'a [u8],
    pub n: usize,
    pub t: usize,
}

/// How one target builds and runs a batch.
pub(crate) trait Toolchain: Sync {
    /// Builds the renamed relocatable object of the model in `dir` (see the module comment)
    /// into `scratch`, with entry points `snnc_b{index}_init` / `snnc_b{index}_entry`.
    fn object(
        &self,
        dir: &Path,
        scratch: &Path,
        index: usize,
        stateful: bool,
    ) -> Result<PathBuf, ArmError>;

    /// Links `driver.c` (in `scratch`, with `in.bin`) and `objects` into a program and runs it
    /// in `scratch`, where it writes `out.bin`.
    fn link_and_run(&self, scratch: &Path, objects: &[PathBuf]) -> Result<(), ArmError>;
}

/// `objcopy` arguments that rename the entry points of a joined model object to
/// `snnc_b{index}_*` and make every other global symbol local.
pub(crate) fn rename_args(index: usize, stateful: bool, from: &Path, to: &Path) -> Vec<String> {
    let entry = if stateful {
        "snnc_model_step"
    } else {
        "snnc_model_run"
    };
    let (init_new, entry_new) = (
        format!("snnc_b{index}_init"),
        format!("snnc_b{index}_entry"),
    );
    vec![
        "--redefine-sym".into(),
        format!("snnc_model_init={init_new}"),
        "--redefine-sym".into(),
        format!("{entry}={entry_new}"),
        "-G".into(),
        init_new,
        "-G".into(),
        entry_new,
        from.display().to_string(),
        to.display().to_string(),
    ]
}

/// A model ready to link: its renamed object and its ports.
struct Member {
    /// Position in the caller's items (and the `snnc_b{item}_*` names).
    item: usize,
    object: PathBuf,
    ins: Vec<usize>,
    outs: Vec<usize>,
    n: usize,
    t: usize,
}

impl Member {
    fn out_bytes(&self) -> usize {
        self.n * self.t * self.outs.iter().sum::<usize>()
    }
}

/// The driver of a batch: the members' entry points called in order, all inputs read from
/// `in.bin`, all outputs written to `out.bin`. Exit code 0 on success, 3 file error, 4 short
/// input.
fn driver(members: &[&Member]) -> String {
    let mut s = String::from(
        "/* snnc batch driver: runs several models one after another (arm/batch.rs). */\n\
         #include <stdint.h>\n#include <stdio.h>\n#include <string.h>\n\n\
         typedef void (*snnc_init_fn)(void);\n\
         typedef void (*snnc_entry_fn)(const void *const *inputs, void *const *outputs);\n\
         struct snnc_batch_model {\n    snnc_init_fn init;\n    snnc_entry_fn entry;\n    \
         int n_in;\n    const size_t *in;\n    int n_out;\n    const size_t *out;\n    \
         long n;\n    long t;\n};\n\n",
    );
    let round = |b: usize| b.div_ceil(16) * 16;
    let (mut in_area, mut out_area) = (16, 16);
    let list = |v: &[usize]| {
        if v.is_empty() {
            "0".to_string()
        } else {
            v.iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    for m in members {
        let i = m.item;
        let _ = writeln!(
            s,
            "void snnc_b{i}_init(void);\nvoid snnc_b{i}_entry(const void *const *inputs, void *const *outputs);\n\
             static const size_t snnc_b{i}_in[] = {{ {} }};\nstatic const size_t snnc_b{i}_out[] = {{ {} }};",
            list(&m.ins),
            list(&m.outs)
        );
        in_area = in_area.max(m.ins.iter().map(|&b| round(b)).sum());
        out_area = out_area.max(m.outs.iter().map(|&b| round(b)).sum());
    }
    s.push_str("\nstatic const struct snnc_batch_model models[] = {\n");
    for m in members {
        let i = m.item;
        let _ = writeln!(
            s,
            "    {{ snnc_b{i}_init, snnc_b{i}_entry, {}, snnc_b{i}_in, {}, snnc_b{i}_out, {}L, {}L }},",
            m.ins.len(),
            m.outs.len(),
            m.n,
            m.t
        );
    }
    let _ = write!(
        s,
        "}};\n\n#define SNNC_BATCH_MODELS {}\n\
         static uint32_t in_area[{}] __attribute__((aligned(16)));\n\
         static uint32_t out_area[{}] __attribute__((aligned(16)));\n",
        members.len(),
        in_area / 4,
        out_area / 4
    );
    s.push_str(
        "\nint main(void)\n{\n\
         \x20   FILE *fi = fopen(\"in.bin\", \"rb\");\n\
         \x20   FILE *fo = fopen(\"out.bin\", \"wb\");\n\
         \x20   int m;\n\
         \x20   if (fi == NULL || fo == NULL) {\n        return 3;\n    }\n\
         \x20   for (m = 0; m < SNNC_BATCH_MODELS; m++) {\n\
         \x20       const struct snnc_batch_model *md = &models[m];\n\
         \x20       void *inb[8];\n\
         \x20       const void *ins[8];\n\
         \x20       void *outs[8];\n\
         \x20       size_t at = 0;\n\
         \x20       long smp, k;\n\
         \x20       int i;\n\
         \x20       for (i = 0; i < md->n_in; i++) {\n\
         \x20           inb[i] = (uint8_t *)in_area + at;\n\
         \x20           ins[i] = inb[i];\n\
         \x20           at += (md->in[i] + 15) / 16 * 16;\n\
         \x20       }\n\
         \x20       at = 0;\n\
         \x20       for (i = 0; i < md->n_out; i++) {\n\
         \x20           outs[i] = (uint8_t *)out_area + at;\n\
         \x20           at += (md->out[i] + 15) / 16 * 16;\n\
         \x20       }\n\
         \x20       for (smp = 0; smp < md->n; smp++) {\n\
         \x20           md->init();\n\
         \x20           for (k = 0; k < md->t; k++) {\n\
         \x20               for (i = 0; i < md->n_in; i++) {\n\
         \x20                   if (md->in[i] > 0 && fread(inb[i], 1, md->in[i], fi) != md->in[i]) {\n\
         \x20                       return 4;\n\
         \x20                   }\n\
         \x20               }\n\
         \x20               md->entry(ins, outs);\n\
         \x20               for (i = 0; i < md->n_out; i++) {\n\
         \x20                   if (md->out[i] > 0 && fwrite(outs[i], 1, md->out[i], fo) != md->out[i]) {\n\
         \x20                       return 3;\n\
         \x20                   }\n\
         \x20               }\n\
         \x20           }\n\
         \x20       }\n\
         \x20   }\n\
         \x20   fclose(fi);\n\
         \x20   return fclose(fo) == 0 ? 0 : 3;\n}\n",
    );
    s
}

/// A fresh scratch directory.
fn scratch(kind: &str) -> Result<PathBuf, ArmError> {
    crate::arm::error::scratch("snnc-batch", kind)
}

/// Builds and runs `items` as batches with `tc` (see the module comment); one result per
/// item, in order: its output bytes, or why it could not be built or run.
pub(crate) fn run(
    items: &[BatchItem],
    tc: &dyn Toolchain,
    kind: &str,
) -> Vec<Result<Vec<u8>, ArmError>> {
    let root = match scratch(kind) {
        Ok(d) => d,
        Err(e) => {
            let msg = e.to_string();
            return items
                .iter()
                .map(|_| Err(ArmError::Data(msg.clone())))
                .collect();
        }
    };
    let prepared: Vec<Result<Member, ArmError>> = items
        .par_iter()
        .enumerate()
        .map(|(item, it)| member(item, it, tc, &root))
        .collect();
    let mut results: Vec<Option<Result<Vec<u8>, ArmError>>> = Vec::new();
    let mut ok = Vec::new();
    for p in prepared {
        match p {
            Ok(m) => {
                results.push(None);
                ok.push(m);
            }
            Err(e) => results.push(Some(Err(e))),
        }
    }
    let refs: Vec<&Member> = ok.iter().collect();
    let attempts = AtomicUsize::new(0);
    for (item, r) in split_run(&refs, items, tc, &root, &attempts) {
        results[item] = Some(r);
    }
    let _ = std::fs::remove_dir_all(&root);
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ArmError::Data("not run (batch bug)".into()))))
        .collect()
}

fn member(
    item: usize,
    it: &BatchItem,
    tc: &dyn Toolchain,
    root: &Path,
) -> Result<Member, ArmError> {
    let h_path = it.dir.join("model.h");
    let h = std::fs::read_to_string(&h_path).map_err(io(&h_path))?;
    let (ins, outs, stateful) =
        parse_sizes(&h).map_err(|e| ArmError::Data(format!("{}: {e}", h_path.display())))?;
    let per: usize = ins.iter().sum();
    if it.t == 0 || it.input.len() != it.n * it.t * per {
        return Err(ArmError::Data(format!(
            "the input has {} bytes, but {} samples × {} steps × {per} bytes are {}",
            it.input.len(),
            it.n,
            it.t,
            it.n * it.t * per
        )));
    }
    if ins.len() > 8 || outs.len() > 8 {
        return Err(ArmError::Data(format!(
            "{} inputs and {} outputs: the batch driver handles up to 8 of each",
            ins.len(),
            outs.len()
        )));
    }
    let dir = std::path::absolute(it.dir).map_err(io(it.dir))?;
    let scratch = root.join(format!("m{item}"));
    std::fs::create_dir_all(&scratch).map_err(io(&scratch))?;
    let object = tc.object(&dir, &scratch, item, stateful)?;
    Ok(Member {
        item,
        object,
        ins,
        outs,
        n: it.n,
        t: it.t,
    })
}

/// Runs `members` as one batch, or, when that fails, each half on its own.
fn split_run(
    members: &[&Member],
    items: &[BatchItem],
    tc: &dyn Toolchain,
    root: &Path,
    attempts: &AtomicUsize,
) -> Vec<(usize, Result<Vec<u8>, ArmError>)> {
    if members.is_empty() {
        return Vec::new();
    }
    match run_once(members, items, tc, root, attempts) {
        Ok(outs) => members
            .iter()
            .map(|m| m.item)
            .zip(outs.into_iter().map(Ok))
            .collect(),
        Err(e) if members.len() == 1 => vec![(members[0].item, Err(e))],
        Err(_) => {
            let (a, b) = members.split_at(members.len() / 2);
            let mut r = split_run(a, items, tc, root, attempts);
            r.extend(split_run(b, items, tc, root, attempts));
            r
        }
    }
}

fn run_once(
    members: &[&Member],
    items: &[BatchItem],
    tc: &dyn Toolchain,
    root: &Path,
    attempts: &AtomicUsize,
) -> Result<Vec<Vec<u8>>, ArmError> {
    let dir = root.join(format!("run{}", attempts.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let d = dir.join("driver.c");
    std::fs::write(&d, driver(members)).map_err(io(&d))?;
    let input: Vec<u8> = members
        .iter()
        .flat_map(|m| items[m.item].input.iter().copied())
        .collect();
    let p = dir.join("in.bin");
    std::fs::write(&p, input).map_err(io(&p))?;
    let objects: Vec<PathBuf> = members.iter().map(|m| m.object.clone()).collect();
    tc.link_and_run(&dir, &objects)?;
    let p = dir.join("out.bin");
    let out = std::fs::read(&p).map_err(io(&p))?;
    let want: usize = members.iter().map(|m| m.out_bytes()).sum();
    if out.len() != want {
        return Err(ArmError::Data(format!(
            "the batch wrote {} output bytes, {want} expected",
            out.len()
        )));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut at = 0;
    Ok(members
        .iter()
        .map(|m| {
            let b = m.out_bytes();
            at += b;
            out[at - b..at].to_vec()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(item: usize, ins: Vec<usize>, outs: Vec<usize>) -> Member {
        Member {
            item,
            object: PathBuf::new(),
            ins,
            outs,
            n: 3,
            t: 2,
        }
    }

    #[test]
    fn driver_lists_every_member_and_sizes_the_areas_for_the_largest() {
        let (a, b) = (
            member(4, vec![10, 3], vec![40]),
            member(7, vec![100], vec![]),
        );
        let d = driver(&[&a, &b]);
        assert!(d.contains("static const size_t snnc_b4_in[] = { 10, 3 };"));
        assert!(d.contains("static const size_t snnc_b7_out[] = { 0 };"));
        assert!(
            d.contains("{ snnc_b4_init, snnc_b4_entry, 2, snnc_b4_in, 1, snnc_b4_out, 3L, 2L },")
        );
        assert!(
            d.contains("{ snnc_b7_init, snnc_b7_entry, 1, snnc_b7_in, 0, snnc_b7_out, 3L, 2L },")
        );
        assert!(d.contains("#define SNNC_BATCH_MODELS 2"));
        // Inputs: max(16 + 16, 112) bytes; outputs: max(48, 16).
        assert!(d.contains("static uint32_t in_area[28]"));
        assert!(d.contains("static uint32_t out_area[12]"));
        assert_eq!(a.out_bytes(), 3 * 2 * 40);
    }

    #[test]
    fn rename_keeps_only_the_renamed_entry_points_global() {
        let a = rename_args(3, true, Path::new("a.o"), Path::new("b.o"));
        assert_eq!(
            a,
            [
                "--redefine-sym",
                "snnc_model_init=snnc_b3_init",
                "--redefine-sym",
                "snnc_model_step=snnc_b3_entry",
                "-G",
                "snnc_b3_init",
                "-G",
                "snnc_b3_entry",
                "a.o",
                "b.o"
            ]
        );
        assert!(rename_args(0, false, Path::new("a"), Path::new("b"))
            .contains(&"snnc_model_run=snnc_b0_entry".to_string()));
    }
}

/// Two small plans (a stateless binary layer, a stateful LIF layer with two inputs and two
/// outputs) with inputs and the plan executor's outputs, for the batch runners' tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::arm::plan::{BinaryOp, Kernel, Place, Plan, PlanMachine, Port, Reset, Value};
    use snnc_ir::DType;

    fn value(name: &str, dtype: DType, shape: Vec<usize>, place: Place) -> Value {
        Value {
            name: name.into(),
            dtype,
            shape,
            place,
        }
    }

    fn port(name: &str, value: usize) -> Port {
        Port {
            name: name.into(),
            value,
        }
    }

    /// `y = popcount layer 64 → 4` (stateless).
    pub fn binary() -> Plan {
        Plan {
            name: "bin".into(),
            stateful: false,
            values: vec![
                value("x", DType::Bin, vec![1, 64], Place::Input(0)),
                value("y", DType::I32, vec![1, 4], Place::Output(0)),
            ],
            kernels: vec![Kernel::DenseBin {
                x: 0,
                y: 1,
                rows: 1,
                k: 64,
                n: 4,
                w: vec![0, u32::MAX, 0x5555_5555, 1, 7, 0, 0xffff_0000, 3],
                bias: Some(vec![1, -2, 3, 0]),
            }],
            inputs: vec![port("x", 0)],
            outputs: vec![port("y", 1)],
            arena_bytes: 0,
            state_bytes: 0,
        }
    }

    /// `s = a + b` (i16), spikes of a LIF over `s`, and `s` itself as a second output.
    pub fn lif() -> Plan {
        Plan {
            name: "lif".into(),
            stateful: true,
            values: vec![
                value("a", DType::I16, vec![3], Place::Input(0)),
                value("b", DType::I16, vec![3], Place::Input(1)),
                value("s", DType::I16, vec![3], Place::Output(1)),
                value("spk", DType::Bool, vec![3], Place::Output(0)),
            ],
            kernels: vec![
                Kernel::Elementwise {
                    op: BinaryOp::Add,
                    a: 0,
                    b: 1,
                    y: 2,
                    shape: [1, 1, 1, 3],
                    a_strides: [0, 0, 0, 1],
                    b_strides: [0, 0, 0, 1],
                },
                Kernel::IntLif {
                    x: 2,
                    y: 3,
                    n: 3,
                    state: 0,
                    decay: vec![3, 4, 2],
                    bias: vec![0, 1, -1],
                    threshold: vec![100, 50, 400],
                    v_reset: vec![0, -5, 0],
                    frac_bits: 2,
                    lo: -(1 << 15),
                    hi: (1 << 15) - 1,
                    reset: Reset::Subtract,
                },
            ],
            inputs: vec![port("a", 0), port("b", 1)],
            outputs: vec![port("spk", 3), port("s", 2)],
            arena_bytes: 0,
            state_bytes: 16,
        }
    }

    /// Input bytes for `n` samples of `t` steps and the executor's output bytes.
    pub fn io(plan: &Plan, n: usize, t: usize, salt: u8) -> (Vec<u8>, Vec<u8>) {
        let per: Vec<usize> = plan
            .inputs
            .iter()
            .map(|p| plan.values[p.value].bytes())
            .collect();
        let total: usize = per.iter().sum();
        let input: Vec<u8> = (0..n * t * total)
            .map(|i| (i as u8).wrapping_mul(37).wrapping_add(salt))
            .collect();
        let mut m = PlanMachine::new(plan);
        let mut out = Vec::new();
        for (k, step) in input.chunks(total).enumerate() {
            if k % t == 0 {
                m.init();
            }
            let mut ins = Vec::new();
            let mut at = 0;
            for &b in &per {
                ins.push(&step[at..at + b]);
                at += b;
            }
            for y in m.run(&ins).unwrap_or_else(|e| panic!("{e}")) {
                out.extend(y);
            }
        }
        (input, out)
    }
}
