//! Bad inputs through the real `snnc` binary: corrupted and hostile model files (ONNX, NIR,
//! IR text), `.npy` arrays, machine descriptions, artifact directories and command lines. Every
//! row of [`cases`] must fail cleanly:
//!
//! - exit code exactly 1, within 60 s (a process still running then is killed: "hang");
//! - standard error has an `error:` line naming the offending file (or flag) and the reason,
//!   plus the node or field where there is one, and never a panic or a backtrace hint;
//! - nothing written: each case runs in a directory of its own holding its inputs and, for most,
//!   a previous output at the output path (a file, or an artifact directory). Afterwards the
//!   directory must be byte-for-byte as before: the previous output unchanged, the inputs
//!   unchanged, no temporary siblings left. An output path outside that directory must not
//!   exist.
//!
//! Most bad files are made here; the NIR (HDF5) ones are committed in `tests/fixtures/bad/`
//! (`make_bad_nir.py`). With `SNNC_BAD_INPUTS_TABLE=FILE` the test also writes the Markdown
//! table of `docs/bad_inputs.md` (kind | command | first error line | exit | output left), and
//! with `SNNC_BAD_INPUTS_BIN=PATH` it runs the cases against another `snnc` binary (an older
//! build, to see what a change fixed); the shared artifacts are always built by this one.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use snnc_compiler::frontend::onnx::proto::attribute_proto::AttributeType;
use snnc_compiler::frontend::onnx::proto::tensor_proto::{DataLocation, DataType};
use snnc_compiler::frontend::onnx::proto::{
    tensor_shape_proto, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use snnc_compiler::npy::{self, Array};

const TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Small ONNX models, built with the frontend's own protobuf types.

fn dims_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d)),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn f32_init(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        raw_data: values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
            .into(),
        ..Default::default()
    }
}

fn external_init(
    name: &str,
    dims: &[i64],
    location: &str,
    offset: u64,
    length: u64,
) -> TensorProto {
    let entry = |k: &str, v: String| StringStringEntryProto {
        key: k.into(),
        value: v,
    };
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        data_location: DataLocation::External as i32,
        external_data: vec![
            entry("location", location.into()),
            entry("offset", offset.to_string()),
            entry("length", length.to_string()),
        ],
        ..Default::default()
    }
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn gemm(name: &str, inputs: &[&str], output: &str) -> NodeProto {
    let mut n = node("Gemm", name, inputs, &[output]);
    n.attribute.push(AttributeProto {
        name: "transB".into(),
        r#type: AttributeType::Int as i32,
        i: 1,
        ..Default::default()
    });
    n
}

fn model(
    opset: i64,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    input: ValueInfoProto,
    output: ValueInfoProto,
) -> ModelProto {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        graph: Some(GraphProto {
            name: "m".into(),
            node: nodes,
            initializer: inits,
            input: vec![input],
            output: vec![output],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// x[1,4] → Gemm `fc` (weight `fc.weight` [3,4]) → h → Relu `act` → y[1,3].
fn mlp() -> ModelProto {
    let w: Vec<f32> = (0..12).map(|i| i as f32 * 0.25 - 1.0).collect();
    model(
        17,
        vec![
            gemm("fc", &["x", "fc.weight"], "h"),
            node("Relu", "act", &["h"], &["y"]),
        ],
        vec![f32_init("fc.weight", &[3, 4], &w)],
        dims_info("x", &[1, 4]),
        dims_info("y", &[1, 3]),
    )
}

/// [`mlp`] with its graph changed by `f`.
fn mlp_with(f: impl FnOnce(&mut GraphProto)) -> ModelProto {
    let mut m = mlp();
    if let Some(g) = m.graph.as_mut() {
        f(g);
    }
    m
}

/// [`mlp`] whose weight lives in an external file.
fn external_mlp(location: &str, offset: u64, length: u64) -> ModelProto {
    mlp_with(|g| {
        g.initializer = vec![external_init(
            "fc.weight",
            &[3, 4],
            location,
            offset,
            length,
        )]
    })
}

fn onnx(m: &ModelProto) -> Vec<u8> {
    m.encode_to_vec()
}

/// A graph nested `depth` levels deep through `Constant` nodes' graph attributes.
fn deeply_nested(depth: usize) -> ModelProto {
    let mut g = GraphProto::default();
    for _ in 0..depth {
        let mut n = node("Constant", "c", &[], &["c"]);
        n.attribute.push(AttributeProto {
            name: "g".into(),
            r#type: AttributeType::Graph as i32,
            g: Some(g),
            ..Default::default()
        });
        g = GraphProto {
            node: vec![n],
            ..Default::default()
        };
    }
    let mut m = mlp();
    if let Some(top) = m.graph.as_mut() {
        top.node.extend(g.node);
    }
    m
}

// ---------------------------------------------------------------------------------------------
// .npy files.

fn npy_f32(shape: &[usize], v: f32) -> Vec<u8> {
    let n = shape.iter().product();
    npy::to_bytes(&Array {
        shape: shape.to_vec(),
        data: vec![v; n],
    })
}

/// A version-1 `.npy` file with the given header fields and payload.
fn npy_raw(descr: &str, fortran: bool, shape: &str, payload: &[u8]) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    let mut header = dict.into_bytes();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header);
    out.extend_from_slice(payload);
    out
}

// ---------------------------------------------------------------------------------------------
// Cases.

/// What a case writes to (and what the checks look at).
#[derive(Clone, Debug)]
enum Out {
    /// A file; with `previous`, one is there before the command runs.
    File { path: String, previous: bool },
    /// An artifact directory; with `previous`, a previous artifact is there.
    Dir { path: String, previous: bool },
}

/// Extra setup of a case directory.
type Setup = Box<dyn Fn(&Path)>;

/// One row: how to set up the case directory and what to run in it.
struct Case {
    kind: &'static str,
    /// Files to create in the case directory: (relative path, content).
    files: Vec<(String, Vec<u8>)>,
    /// Extra setup (artifact copies, links, directories) in the case directory.
    setup: Option<Setup>,
    args: Vec<String>,
    /// Strings the standard error must contain.
    needles: Vec<String>,
    out: Out,
}

impl Case {
    fn new(kind: &'static str, args: &[&str], needles: &[&str], out: Out) -> Case {
        Case {
            kind,
            files: Vec::new(),
            setup: None,
            args: args.iter().map(|s| s.to_string()).collect(),
            needles: needles.iter().map(|s| s.to_string()).collect(),
            out,
        }
    }

    fn file(mut self, name: &str, bytes: impl Into<Vec<u8>>) -> Case {
        self.files.push((name.to_string(), bytes.into()));
        self
    }

    fn setup(mut self, f: impl Fn(&Path) + 'static) -> Case {
        self.setup = Some(Box::new(f));
        self
    }
}

fn prev_file(path: &str) -> Out {
    Out::File {
        path: path.into(),
        previous: true,
    }
}

fn no_file(path: &str) -> Out {
    Out::File {
        path: path.into(),
        previous: false,
    }
}

fn prev_dir(path: &str) -> Out {
    Out::Dir {
        path: path.into(),
        previous: true,
    }
}

/// Paths the cases share: the committed fixtures and the artifacts built once per run.
struct Env {
    /// `tests/fixtures/bad/`
    bad: PathBuf,
    /// A spinnaker2 artifact of `bad/good.nir`.
    s2: PathBuf,
    /// A host (ARM) artifact of [`mlp`].
    host: PathBuf,
    /// A directory this process cannot write to (`/sys` when running as root).
    unwritable: PathBuf,
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Copies the directory `from` to `to` (recursively).
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// A named pipe at `path` (nobody ever writes to it).
fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(st.success(), "mkfifo {}", path.display());
}

/// Overwrite `len` bytes at `at` in `path` with their complement.
fn corrupt(path: &Path, at: usize, len: usize) {
    let mut b = fs::read(path).unwrap();
    for x in &mut b[at..at + len] {
        *x = !*x;
    }
    fs::write(path, b).unwrap();
}

fn cases(env: &Env) -> Vec<Case> {
    let good = onnx(&mlp());
    let x4 = npy_f32(&[2, 4], 0.5);
    let mut v = Vec::new();

    // ---- ONNX ------------------------------------------------------------------------------
    let compile = |kind, model: &str, needles: &[&str]| {
        Case::new(
            kind,
            &["compile", model, "-o", "out.ir"],
            needles,
            prev_file("out.ir"),
        )
    };
    v.push(
        compile(
            "ONNX: truncated protobuf",
            "half.onnx",
            &["half.onnx", "not a valid ONNX model"],
        )
        .file("half.onnx", &good[..good.len() / 2]),
    );
    v.push(
        compile(
            "ONNX: not protobuf (text)",
            "notes.onnx",
            &["notes.onnx", "not a valid ONNX model"],
        )
        .file("notes.onnx", "These are my notes, not a model.\n"),
    );
    v.push(
        compile(
            "model file empty",
            "empty.onnx",
            &["empty.onnx", "the file is empty"],
        )
        .file("empty.onnx", ""),
    );
    v.push(
        compile(
            "model is a FIFO (reading would block forever)",
            "pipe.onnx",
            &["pipe.onnx", "is not a regular file, not a model file"],
        )
        .setup(|d| mkfifo(&d.join("pipe.onnx"))),
    );
    v.push(compile(
        "model file missing",
        "nope.onnx",
        &["nope.onnx", "No such file"],
    ));
    v.push(
        compile(
            "model path is a directory",
            "models",
            &["models", "is a directory"],
        )
        .setup(|d| fs::create_dir(d.join("models")).unwrap()),
    );
    v.push(
        compile(
            "ONNX: unknown op (all listed with node names)",
            "unknown_op.onnx",
            &[
                "unknown_op.onnx",
                "`frob_1` (Frobnicate)",
                "`act` (Hardmax)",
            ],
        )
        .file(
            "unknown_op.onnx",
            onnx(&mlp_with(|g| {
                g.node[1].op_type = "Hardmax".into();
                g.node
                    .insert(1, node("Frobnicate", "frob_1", &["h"], &["h1"]));
                g.node[2].input[0] = "h1".into();
            })),
        ),
    );
    v.push(
        compile(
            "ONNX: missing initializer",
            "missing_init.onnx",
            &[
                "missing_init.onnx",
                "node `fc` (Gemm)",
                "`fc.weight` is not produced",
            ],
        )
        .file(
            "missing_init.onnx",
            onnx(&mlp_with(|g| g.initializer.clear())),
        ),
    );
    v.push(
        compile(
            "ONNX: Gemm shape mismatch",
            "gemm.onnx",
            &["gemm.onnx", "node `fc` (Gemm)", "K = 4", "K = 5"],
        )
        .file(
            "gemm.onnx",
            onnx(&mlp_with(|g| {
                g.initializer = vec![f32_init("fc.weight", &[3, 5], &[0.5; 15])]
            })),
        ),
    );
    v.push(
        compile(
            "ONNX: MatMul shape mismatch",
            "matmul.onnx",
            &[
                "matmul.onnx",
                "node `mm` (MatMul)",
                "inner dimensions 4 and 3 differ",
            ],
        )
        .file(
            "matmul.onnx",
            onnx(&mlp_with(|g| {
                g.node[0] = node("MatMul", "mm", &["x", "fc.weight"], &["h"]);
            })),
        ),
    );
    v.push(
        compile(
            "ONNX: negative initializer dimension",
            "neg_dim.onnx",
            &[
                "neg_dim.onnx",
                "tensor `fc.weight`",
                "negative dimension -4",
            ],
        )
        .file(
            "neg_dim.onnx",
            onnx(&mlp_with(|g| g.initializer[0].dims = vec![3, -4])),
        ),
    );
    v.push(
        compile(
            "ONNX: initializer dimensions overflow",
            "overflow.onnx",
            &[
                "overflow.onnx",
                "tensor `fc.weight`",
                "overflow the element count",
            ],
        )
        .file(
            "overflow.onnx",
            onnx(&mlp_with(|g| {
                g.initializer[0].dims = vec![1 << 40, 1 << 40]
            })),
        ),
    );
    v.push(
        compile(
            "ONNX: raw_data shorter than the declared shape",
            "short_raw.onnx",
            &[
                "short_raw.onnx",
                "tensor `fc.weight`",
                "raw_data holds 40 bytes",
                "needs 48",
            ],
        )
        .file(
            "short_raw.onnx",
            onnx(&mlp_with(|g| {
                g.initializer[0].raw_data = vec![0u8; 40].into()
            })),
        ),
    );
    v.push(
        Case::new(
            "ONNX: weights over --max-model-bytes (int8 widened to i64)",
            &[
                "compile",
                "big_weight.onnx",
                "--max-model-bytes",
                "24K",
                "-o",
                "out.ir",
            ],
            &[
                "big_weight.onnx",
                "tensor `fc.weight`",
                "set by --max-model-bytes",
            ],
            prev_file("out.ir"),
        )
        .file(
            "big_weight.onnx",
            onnx(&mlp_with(|g| {
                // int8 weights: 8 KiB in the file, 64 KiB once widened to the IR's i64.
                g.initializer = vec![TensorProto {
                    name: "fc.weight".into(),
                    dims: vec![128, 64],
                    data_type: DataType::Int8 as i32,
                    raw_data: vec![1u8; 128 * 64].into(),
                    ..Default::default()
                }];
                g.input = vec![dims_info("x", &[1, 64])];
                g.output = vec![dims_info("y", &[1, 128])];
            })),
        ),
    );
    v.push(
        compile(
            "ONNX: negative graph-input dimension",
            "neg_input.onnx",
            &["neg_input.onnx", "graph input `x`", "dimension 1 is -5"],
        )
        .file(
            "neg_input.onnx",
            onnx(&mlp_with(|g| g.input = vec![dims_info("x", &[1, -5])])),
        ),
    );
    v.push(
        compile(
            "ONNX: huge graph-input dimension (declared values over the budget)",
            "huge_input.onnx",
            &[
                "huge_input.onnx",
                "node `x` (input)",
                "over the 256.0 MiB budget",
            ],
        )
        .file(
            "huge_input.onnx",
            onnx(&model(
                17,
                vec![node("Relu", "act", &["x"], &["y"])],
                vec![],
                dims_info("x", &[1, 1 << 40]),
                dims_info("y", &[1, 1 << 40]),
            )),
        ),
    );
    for (kind, file, loc) in [
        (
            "ONNX: external data path with ../",
            "dotdot.onnx",
            "../secret.bin",
        ),
        (
            "ONNX: external data absolute path",
            "absolute.onnx",
            "/etc/passwd",
        ),
    ] {
        v.push(
            compile(
                kind,
                file,
                &[file, "tensor `fc.weight`", "leaves the model's folder"],
            )
            .file(file, onnx(&external_mlp(loc, 0, 48))),
        );
    }
    v.push(
        compile(
            "ONNX: external data through a symbolic link out of the folder",
            "m/linked.onnx",
            &[
                "linked.onnx",
                "`w.bin` resolves to",
                "outside the model's folder",
            ],
        )
        .file("secret.bin", vec![7u8; 48])
        .file("m/linked.onnx", onnx(&external_mlp("w.bin", 0, 48)))
        .setup(|d| std::os::unix::fs::symlink("../secret.bin", d.join("m/w.bin")).unwrap()),
    );
    v.push(
        compile(
            "ONNX: external data file missing",
            "missing_ext.onnx",
            &[
                "missing_ext.onnx",
                "tensor `fc.weight`",
                "nothere.bin",
                "No such file",
            ],
        )
        .file(
            "missing_ext.onnx",
            onnx(&external_mlp("nothere.bin", 0, 48)),
        ),
    );
    v.push(
        compile(
            "ONNX: external data file shorter than declared",
            "short_ext.onnx",
            &[
                "short_ext.onnx",
                "tensor `fc.weight`",
                "range 0..48 lies beyond the end",
                "(20 bytes)",
            ],
        )
        .file("short.bin", vec![1u8; 20])
        .file("short_ext.onnx", onnx(&external_mlp("short.bin", 0, 48))),
    );
    v.push(
        compile(
            "ONNX: external data length field disagrees with the shape",
            "long_ext.onnx",
            &[
                "long_ext.onnx",
                "is 1099511627776 bytes long, the tensor needs 48",
            ],
        )
        .file("w.bin", vec![1u8; 48])
        .file("long_ext.onnx", onnx(&external_mlp("w.bin", 0, 1 << 40))),
    );
    v.push(
        compile(
            "ONNX: external data offset beyond the file",
            "offset_ext.onnx",
            &["offset_ext.onnx", "lies beyond the end of", "(48 bytes)"],
        )
        .file("w.bin", vec![1u8; 48])
        .file("offset_ext.onnx", onnx(&external_mlp("w.bin", 1 << 62, 48))),
    );
    v.push(
        compile(
            "ONNX: external data ranges overlap (one file read twice)",
            "overlap.onnx",
            &[
                "overlap.onnx",
                "node `fc` (Gemm)",
                "external data ranges overlap",
            ],
        )
        .file("w.bin", vec![0u8; 48])
        .file(
            "overlap.onnx",
            onnx(&mlp_with(|g| {
                g.initializer = vec![
                    external_init("fc.weight", &[3, 4], "w.bin", 0, 48),
                    external_init("fc.bias", &[3], "w.bin", 0, 12),
                ];
                g.node[0].input.push("fc.bias".into());
            })),
        ),
    );
    v.push(
        compile(
            "ONNX: opset too new",
            "opset99.onnx",
            &["opset99.onnx", "opset 99", "opsets 13 to 21"],
        )
        .file("opset99.onnx", {
            let mut m = mlp();
            m.opset_import[0].version = 99;
            onnx(&m)
        }),
    );
    v.push(
        compile(
            "ONNX: graph cycle",
            "cycle.onnx",
            &[
                "cycle.onnx",
                "node `fc` (Gemm)",
                "`y` is not produced by any earlier node",
            ],
        )
        .file(
            "cycle.onnx",
            onnx(&mlp_with(|g| g.node[0].input[0] = "y".into())),
        ),
    );
    v.push(
        compile(
            "ONNX: duplicate output names",
            "dup.onnx",
            &[
                "dup.onnx",
                "node `act` (Relu)",
                "value `h` is defined twice",
            ],
        )
        .file(
            "dup.onnx",
            onnx(&mlp_with(|g| g.node[1].output[0] = "h".into())),
        ),
    );
    v.push(
        compile(
            "ONNX: empty graph",
            "empty_graph.onnx",
            &[
                "empty_graph.onnx",
                "graph output `y` is not produced by any node",
            ],
        )
        .file("empty_graph.onnx", onnx(&mlp_with(|g| g.node.clear()))),
    );
    v.push(
        compile(
            "ONNX: messages nested too deep",
            "deep.onnx",
            &["deep.onnx", "nest deeper than 32 levels"],
        )
        .file("deep.onnx", onnx(&deeply_nested(12))),
    );
    v.push(
        compile(
            "ONNX: millions of empty entries (decoding would take GBs)",
            "amplified.onnx",
            &[
                "amplified.onnx",
                "decoding the protobuf would take about",
                "over the",
            ],
        )
        .file("amplified.onnx", {
            // graph { initializer {} x 2,000,000 }: 4 MB on disk.
            let graph = [(5u8 << 3) | 2, 0].repeat(2_000_000);
            let mut m = vec![(7 << 3) | 2];
            let mut n = graph.len();
            while n >= 0x80 {
                m.push((n as u8) | 0x80);
                n >>= 7;
            }
            m.push(n as u8);
            m.extend(graph);
            m
        }),
    );

    v.push(
        Case::new(
            "model file larger than --max-model-bytes",
            &[
                "compile",
                "m.onnx",
                "--max-model-bytes",
                "100",
                "-o",
                "out.ir",
            ],
            &[
                "m.onnx",
                "the file is",
                "over the 100 B budget set by --max-model-bytes",
            ],
            prev_file("out.ir"),
        )
        .file("m.onnx", good.clone()),
    );
    v.push(
        Case::new(
            "inspect: truncated ONNX",
            &["inspect", "half.onnx"],
            &["half.onnx", "not a valid ONNX model"],
            no_file("out.txt"),
        )
        .file("half.onnx", &good[..good.len() / 3]),
    );
    v.push(
        Case::new(
            "report: unknown op",
            &["report", "--json", "unknown_op.onnx"],
            &["unknown_op.onnx", "`act` (Hardmax)"],
            no_file("out.txt"),
        )
        .file(
            "unknown_op.onnx",
            onnx(&mlp_with(|g| g.node[1].op_type = "Hardmax".into())),
        ),
    );

    v.push(
        compile(
            "ONNX: 100,000 nodes of one name, output missing (quadratic naming would hang)",
            "same_names.onnx",
            &[
                "same_names.onnx",
                "graph output `missing` is not produced by any node",
            ],
        )
        .file("same_names.onnx", {
            let n = 100_000;
            let nodes = (0..n)
                .map(|i| {
                    let src = if i == 0 {
                        "x".to_string()
                    } else {
                        format!("r{}", i - 1)
                    };
                    node("Relu", "r", &[&src], &[&format!("r{i}")])
                })
                .collect();
            onnx(&model(
                17,
                nodes,
                vec![],
                dims_info("x", &[4]),
                dims_info("missing", &[4]),
            ))
        }),
    );

    // ---- NIR (HDF5) ------------------------------------------------------------------------
    v.push(
        compile(
            "NIR: not HDF5",
            "model.nir",
            &["model.nir", "is not an HDF5 file"],
        )
        .file("model.nir", "graph? no.\n"),
    );
    let good_nir = fs::read(env.bad.join("good.nir")).unwrap();
    v.push(
        compile(
            "NIR: truncated HDF5",
            "half.nir",
            &["half.nir", "unexpected end of data"],
        )
        .file("half.nir", &good_nir[..good_nir.len() / 2]),
    );
    for (kind, file, needles) in [
        (
            "NIR: missing node type",
            "missing_type.nir",
            &["node `fc`", "no `type` dataset"][..],
        ),
        (
            "NIR: unknown node type",
            "unknown_type.nir",
            &["`fc` (Spooky)"],
        ),
        (
            "NIR: edge to a missing node",
            "edge_to_missing_node.nir",
            &["edge (lif, ghost)", "no node `ghost`"],
        ),
        (
            "NIR: mismatched weight shapes",
            "weight_shape_mismatch.nir",
            &["node `fc`", "shape [5]", "does not broadcast"],
        ),
        (
            "NIR: NaN parameter",
            "nan_parameter.nir",
            &["node `lif` (LIF)", "`tau`", "non-finite value at element 1"],
        ),
        (
            "NIR: infinite parameter",
            "inf_parameter.nir",
            &[
                "node `lif` (LIF)",
                "`v_threshold`",
                "non-finite value at element 2",
            ],
        ),
        (
            "NIR: huge declared dataset (fill value, nothing stored)",
            "huge_declared_dataset.nir",
            &[
                "dataset `/node/nodes/fc/weight`",
                "1.0 GiB",
                "over the 256.0 MiB budget",
            ],
        ),
        (
            "NIR: graphs nested too deep",
            "nesting_too_deep.nir",
            &["groups nest deeper than 64 levels"],
        ),
        (
            "NIR: negative input shape",
            "negative_shape.nir",
            &["node `input` (Input)", "`shape` is -3"],
        ),
    ] {
        let mut n = vec![file];
        n.extend_from_slice(needles);
        v.push(
            Case::new(
                kind,
                &["compile", file, "-o", "out.ir"],
                &n,
                prev_file("out.ir"),
            )
            .file(file, fs::read(env.bad.join(file)).unwrap()),
        );
    }

    // ---- IR text ---------------------------------------------------------------------------
    let ir = |shape: &str| {
        format!(
            "graph \"m\" {{\n  n0 = input 0 \"x\" : f32[{shape}]\n  n1 = relu(n0) \"act\" : f32[{shape}]\n  n2 = output 0 (n1) \"y\" : f32[{shape}]\n}}\n"
        )
    };
    v.push(
        compile(
            "IR text: syntax error",
            "syntax.ir",
            &[
                "syntax.ir",
                "line 3, column 16",
                "expected `,` between operands",
            ],
        )
        .file(
            "syntax.ir",
            ir("1,4").replace("relu(n0)", "relu(n0 \"oops\""),
        ),
    );
    v.push(
        compile(
            "IR text: unknown op",
            "unknown.ir",
            &["unknown.ir", "line 3", "frobnicate"],
        )
        .file(
            "unknown.ir",
            ir("1,4").replace("relu(n0)", "frobnicate(n0)"),
        ),
    );
    v.push(
        Case::new(
            "IR text: declared shape over the budget (sim)",
            &["sim", "big.ir", "-i", "x4.npy", "-o", "y.npy"],
            &[
                "big.ir",
                "node `x` (input)",
                "37.3 GiB",
                "over the 256.0 MiB budget",
            ],
            prev_file("y.npy"),
        )
        .file("big.ir", ir("100000,100000"))
        .file("x4.npy", x4.clone()),
    );
    v.push(
        Case::new(
            "IR text: element count overflows (sim)",
            &["sim", "overflow.ir", "-i", "x4.npy", "-o", "y.npy"],
            &[
                "overflow.ir",
                "node `x` (input)",
                "more elements than memory can hold",
            ],
            prev_file("y.npy"),
        )
        .file("overflow.ir", ir("100000000000,100000000000"))
        .file("x4.npy", x4.clone()),
    );

    // ---- .npy inputs -----------------------------------------------------------------------
    let sim = |kind, x: &str, needles: &[&str]| {
        Case::new(
            kind,
            &["sim", "m.onnx", "-i", x, "-o", "y.npy"],
            needles,
            prev_file("y.npy"),
        )
        .file("m.onnx", good.clone())
    };
    v.push(
        sim(
            "npy: unsupported dtype (complex64)",
            "x.npy",
            &["x.npy", "dtype `<c8` is not supported"],
        )
        .file("x.npy", npy_raw("<c8", false, "(2, 4)", &[0u8; 64])),
    );
    v.push(
        sim(
            "npy: wrong shape",
            "x.npy",
            &["x.npy", "5 values", "input `x` is f32[1,4]"],
        )
        .file("x.npy", npy_f32(&[2, 5], 1.0)),
    );
    v.push(
        sim("npy: truncated", "x.npy", &["x.npy", "truncated"]).file("x.npy", &x4[..x4.len() - 5]),
    );
    v.push(
        sim("npy: Fortran order", "x.npy", &["x.npy", "Fortran-order"])
            .file("x.npy", npy_raw("<f4", true, "(2, 4)", &[0u8; 32])),
    );
    v.push(
        sim(
            "npy: not an .npy file",
            "x.npy",
            &["x.npy", "not a valid .npy file"],
        )
        .file("x.npy", "1,2,3,4\n"),
    );
    v.push(sim("npy: empty file", "x.npy", &["x.npy", "the file is empty"]).file("x.npy", ""));
    v.push(
        sim(
            "npy: empty batch [0, 4]",
            "x.npy",
            &["x.npy", "the batch is empty"],
        )
        .file("x.npy", npy_f32(&[0, 4], 0.0)),
    );
    v.push(
        sim(
            "npy: NaN input value",
            "x.npy",
            &["x.npy", "element 0 is not finite"],
        )
        .file("x.npy", npy_f32(&[2, 4], f32::NAN)),
    );
    v.push(
        sim(
            "npy: input is a FIFO (reading would block forever)",
            "x.fifo",
            &["x.fifo", "not a regular file"],
        )
        .setup(|d| mkfifo(&d.join("x.fifo"))),
    );
    v.push(
        sim(
            "npy: input is a directory",
            "xdir",
            &["xdir", "not a regular file"],
        )
        .setup(|d| fs::create_dir(d.join("xdir")).unwrap()),
    );
    v.push(
        Case::new(
            "calibration file of the wrong shape",
            &[
                "compile",
                "m.onnx",
                "--passes",
                "quantize=int8",
                "--calib",
                "c.npy",
                "-o",
                "out.ir",
            ],
            &[
                "c.npy",
                "--passes quantize=int8",
                "each sample has 5 values",
                "input `x`",
            ],
            prev_file("out.ir"),
        )
        .file("m.onnx", good.clone())
        .file("c.npy", npy_f32(&[10, 5], 0.5)),
    );

    // ---- spinnaker2 machine descriptions ---------------------------------------------------
    let chip = |pes: &str, qpes: &str| {
        format!(
            "{{\"chip\": {{\"pes_per_qpe\": {pes}, \"qpes\": {qpes}, \"mesh_width\": 1, \"mesh_height\": 1, \"sram_per_pe_bytes\": 16384, \"reserved_sram_per_pe_bytes\": 4096}}}}\n"
        )
    };
    for (kind, json, needles) in [
        (
            "machine JSON: malformed",
            "{ chip: 1".to_string(),
            &["key must be a string"][..],
        ),
        (
            "machine JSON: zero PEs per QPE",
            chip("0", "1"),
            &["chip.pes_per_qpe", "0 is outside"],
        ),
        (
            "machine JSON: negative number",
            chip("-4", "1"),
            &["integer `-4`"],
        ),
        (
            "machine JSON: huge number",
            chip("4", "4000000000"),
            &["chip.qpes", "4000000000 is outside"],
        ),
        (
            "machine JSON: not an object",
            "[]".to_string(),
            &["expected a JSON object", "found an array"],
        ),
    ] {
        let mut n = vec!["machine file m.json"];
        n.extend_from_slice(needles);
        v.push(
            Case::new(
                kind,
                &[
                    "compile",
                    "m.nir",
                    "--target",
                    "spinnaker2",
                    "--machine",
                    "m.json",
                    "-o",
                    "art",
                ],
                &n,
                prev_dir("art"),
            )
            .file("m.nir", good_nir.clone())
            .file("m.json", json),
        );
    }

    // ---- artifacts for `snnc run` ----------------------------------------------------------
    let run = |kind, art: &Path, tweak: fn(&Path), extra: &[&str], needles: &[&str]| {
        let art = art.to_path_buf();
        let mut args = vec!["run", "art", "-i", "x.npy", "-o", "y.npy"];
        args.extend_from_slice(extra);
        // An input that fits the artifact (spinnaker2: 3 values, host: 4), so that only the
        // case's own fault can stop the run.
        let width = if art.ends_with("s2") { 3 } else { 4 };
        Case::new(kind, &args, needles, prev_file("y.npy"))
            .file("x.npy", npy_f32(&[2, width], 0.5))
            .setup(move |d| {
                copy_dir(&art, &d.join("art"));
                tweak(&d.join("art"));
            })
    };
    v.push(run(
        "artifact: manifest.json missing",
        &env.s2,
        |a| fs::remove_file(a.join("manifest.json")).unwrap(),
        &["--steps", "3"],
        &["art", "holds no manifest.json"],
    ));
    v.push(run(
        "artifact: corrupted manifest JSON",
        &env.s2,
        |a| fs::write(a.join("manifest.json"), "{ \"format\": ").unwrap(),
        &["--steps", "3"],
        &["art", "manifest.json", "EOF while parsing"],
    ));
    v.push(run(
        "artifact: PE image checksum mismatch",
        &env.s2,
        |a| corrupt(&a.join("pe/pe_00001.bin"), 40, 2),
        &["--steps", "3"],
        &["art", "pe/pe_00001.bin", "does not match the manifest"],
    ));
    v.push(run(
        "artifact: routing table checksum mismatch",
        &env.s2,
        |a| {
            let p = a.join("routing.json");
            let t = fs::read_to_string(&p)
                .unwrap()
                .replacen("\"key\": ", "\"key\":  ", 1);
            fs::write(p, t).unwrap();
        },
        &["--steps", "3"],
        &["art", "routing.json", "does not match the manifest"],
    ));
    v.push(run(
        "artifact: PE image is a FIFO (reading would block forever)",
        &env.s2,
        |a| {
            fs::remove_file(a.join("pe/pe_00001.bin")).unwrap();
            mkfifo(&a.join("pe/pe_00001.bin"));
        },
        &["--steps", "3"],
        &["art", "pe/pe_00001.bin is not a regular file"],
    ));
    v.push(run(
        "artifact: routing table links to /dev/zero (endless)",
        &env.s2,
        |a| {
            fs::remove_file(a.join("routing.json")).unwrap();
            std::os::unix::fs::symlink("/dev/zero", a.join("routing.json")).unwrap();
        },
        &["--steps", "3"],
        &["art", "routing.json is not a regular file"],
    ));
    v.push(run(
        "artifact: ARM manifest with a wrong port size",
        &env.host,
        |a| {
            let p = a.join("manifest.json");
            let t = fs::read_to_string(&p)
                .unwrap()
                .replacen("\"bytes\": 16", "\"bytes\": 15", 1);
            fs::write(p, t).unwrap();
        },
        &[],
        &[
            "art",
            "port `x`",
            "15 bytes listed for f32[1, 4], which takes 16",
        ],
    ));
    v.push(run(
        "artifact: ARM model.ir corrupted",
        &env.host,
        |a| fs::write(a.join("model.ir"), "garbage\n").unwrap(),
        &[],
        &["art", "model.ir", "line 1, column 1"],
    ));
    v.push(run(
        "artifact: input of the wrong shape",
        &env.s2,
        |a| fs::write(a.join("../x.npy"), npy_f32(&[2, 5], 0.5)).unwrap(),
        &["--steps", "3"],
        &["x.npy", "each sample has 5 values", "(3 values)"],
    ));
    v.push(
        Case::new(
            "artifact: directory missing",
            &[
                "run", "nothere", "-i", "x.npy", "-o", "y.npy", "--steps", "3",
            ],
            &["nothere", "does not exist"],
            prev_file("y.npy"),
        )
        .file("x.npy", npy_f32(&[2, 3], 0.5)),
    );

    // ---- command-line flags ----------------------------------------------------------------
    let flag = |kind, args: &[&str], needles: &[&str]| {
        let mut a = vec!["compile", "m.onnx"];
        a.extend_from_slice(args);
        a.extend(["-o", "out.ir"]);
        Case::new(kind, &a, needles, prev_file("out.ir")).file("m.onnx", good.clone())
    };
    v.push(flag(
        "flag: unknown target",
        &["--target", "tpu"],
        &["'tpu'", "--target"],
    ));
    v.push(flag(
        "flag: quantize=int0",
        &["--passes", "quantize=int0"],
        &["m.onnx", "pass `quantize`", "`int0`"],
    ));
    v.push(flag(
        "flag: prune sparsity 1.5",
        &["--passes", "prune=1.5"],
        &["m.onnx", "pass `prune`", "sparsity 1.5 is outside [0, 1)"],
    ));
    v.push(flag(
        "flag: unknown pass",
        &["--passes", "canonicalize,frobnicate"],
        &["m.onnx", "unknown pass `frobnicate`"],
    ));
    v.push(flag(
        "flag: typo in a pass argument key",
        &["--passes", "quantize=int8:per-chanel"],
        &["m.onnx", "unknown argument `per-chanel`"],
    ));
    v.push(flag(
        "flag: --dt negative",
        &["--dt=-1"],
        &["--dt must be a positive number"],
    ));
    v.push(flag(
        "flag: --max-model-bytes not a size",
        &["--max-model-bytes", "lots"],
        &["--max-model-bytes", "`lots` is not a size"],
    ));
    v.push(
        Case::new(
            "flag: --max-rate out of range",
            &[
                "compile",
                "m.nir",
                "--target",
                "spinnaker2",
                "--max-rate",
                "2",
                "-o",
                "art",
            ],
            &["--max-rate must be in (0, 1], got 2"],
            prev_dir("art"),
        )
        .file("m.nir", good_nir.clone()),
    );
    v.push(
        Case::new(
            "flag: sim --steps 0",
            &[
                "sim", "m.onnx", "-i", "x.npy", "--steps", "0", "-o", "y.npy",
            ],
            &["--steps must be at least 1"],
            prev_file("y.npy"),
        )
        .file("m.onnx", good.clone())
        .file("x.npy", x4.clone()),
    );
    v.push(run(
        "flag: run --threads 0",
        &env.s2,
        |_| {},
        &["--steps", "3", "--threads", "0"],
        &["art", "emulator option `threads`: must be at least 1"],
    ));
    v.push(run(
        "flag: run --steps 0",
        &env.s2,
        |_| {},
        &["--steps", "0"],
        &["--steps must be at least 1"],
    ));

    // ---- output paths ----------------------------------------------------------------------
    v.push(
        Case::new(
            "output in a missing directory",
            &["compile", "m.onnx", "-o", "nodir/out.ir"],
            &["nodir/out.ir", "directory `nodir` does not exist"],
            no_file("nodir/out.ir"),
        )
        .file("m.onnx", good.clone()),
    );
    v.push(
        Case::new(
            "output is an existing directory",
            &["compile", "m.onnx", "-o", "outdir"],
            &["outdir", "-o names a directory"],
            prev_dir("outdir"),
        )
        .file("m.onnx", good.clone()),
    );
    v.push(
        Case::new(
            "artifact output is an existing file",
            &["compile", "m.onnx", "--target", "host", "-o", "art"],
            &["art", "-o names an existing file"],
            prev_file("art"),
        )
        .file("m.onnx", good.clone()),
    );
    v.push(
        Case::new(
            "artifact output is a directory of other files",
            &["compile", "m.onnx", "--target", "host", "-o", "docs"],
            &[
                "docs",
                "not empty and holds no manifest.json",
                "refusing to replace it",
            ],
            no_file("docs/notes.txt"),
        )
        .file("m.onnx", good.clone())
        .file("docs/notes.txt", "keep me\n"),
    );
    v.push(
        Case::new(
            "output is the input model",
            &["compile", "m.onnx", "-o", "m.onnx"],
            &[
                "m.onnx",
                "-o is the model `m.onnx`, which would be overwritten",
            ],
            no_file("m.onnx"),
        )
        .file("m.onnx", good.clone()),
    );
    v.push(
        Case::new(
            "output is the input model (through a hard link)",
            &["compile", "m.onnx", "-o", "same.onnx"],
            &["same.onnx", "which would be overwritten"],
            no_file("same.onnx"),
        )
        .file("m.onnx", good.clone())
        .setup(|d| fs::hard_link(d.join("m.onnx"), d.join("same.onnx")).unwrap()),
    );
    v.push(
        Case::new(
            "sim output is its input array",
            &["sim", "m.onnx", "-i", "x.npy", "-o", "./x.npy"],
            &[
                "x.npy",
                "-o is an --input `x.npy`, which would be overwritten",
            ],
            no_file("x.npy"),
        )
        .file("m.onnx", good.clone())
        .file("x.npy", x4.clone()),
    );
    v.push(
        Case::new(
            "compile --report is the -o file",
            &["compile", "m.onnx", "--report", "out.ir", "-o", "out.ir"],
            &["out.ir", "-o and --report name the same file"],
            prev_file("out.ir"),
        )
        .file("m.onnx", good.clone()),
    );
    v.push(
        Case::new(
            "compile --report in a missing directory (artifact kept)",
            &[
                "compile",
                "m.nir",
                "--target",
                "spinnaker2",
                "--report",
                "no/r.json",
                "-o",
                "art",
            ],
            &["no/r.json", "--report: directory `no` does not exist"],
            prev_dir("art"),
        )
        .file("m.nir", good_nir.clone()),
    );
    v.push(run(
        "run --trace in a missing directory (outputs kept)",
        &env.s2,
        |_| {},
        &["--steps", "3", "--trace", "no/t.npy", "--report", "r.json"],
        &["no/t.npy", "--trace: directory `no` does not exist"],
    ));
    v.push(run(
        "run output inside the artifact",
        &env.s2,
        |_| {},
        &["--steps", "3", "--report", "art/manifest.json"],
        &["art/manifest.json", "--report is inside the artifact `art`"],
    ));
    let ro = s(&env.unwritable.join("y.npy"));
    v.push(
        Case::new(
            "output directory not writable",
            &["sim", "m.onnx", "-i", "x.npy", "-o", &ro],
            &["y.npy", "denied"],
            no_file(&ro),
        )
        .file("m.onnx", good.clone())
        .file("x.npy", x4.clone()),
    );
    v
}

// ---------------------------------------------------------------------------------------------
// Running and checking.

/// Every file under `dir` (relative path → content; symbolic links as their target).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                let t = fs::read_link(&p).unwrap();
                out.insert(rel, format!("-> {}", t.display()).into_bytes());
            } else if ft.is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                walk(root, &p, out);
            } else if !ft.is_file() {
                // A FIFO or device: reading it would block.
                out.insert(rel, b"<special file>".to_vec());
            } else {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// What one run produced.
struct Outcome {
    code: Option<i32>,
    stderr: String,
    elapsed: Duration,
    hang: bool,
}

fn run_snnc(dir: &Path, log: &Path, args: &[String]) -> Outcome {
    let stdout = fs::File::create(log.with_extension("out")).unwrap();
    let stderr = fs::File::create(log.with_extension("err")).unwrap();
    let start = Instant::now();
    let bin = std::env::var_os("SNNC_BAD_INPUTS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_snnc")));
    let mut child = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("start snnc");
    let mut hang = false;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for snnc") {
            break Some(st);
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            hang = true;
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Outcome {
        code: status.and_then(|s| s.code()),
        stderr: fs::read_to_string(log.with_extension("err")).unwrap_or_default(),
        elapsed: start.elapsed(),
        hang,
    }
}

/// Puts the previous output of `out` in place.
fn put_previous(dir: &Path, out: &Out) {
    match out {
        Out::File {
            path,
            previous: true,
        } => fs::write(dir.join(path), b"previous output\n").unwrap(),
        Out::Dir {
            path,
            previous: true,
        } => {
            let d = dir.join(path);
            fs::create_dir_all(d.join("kernel")).unwrap();
            fs::write(d.join("manifest.json"), b"{\"previous\": true}\n").unwrap();
            fs::write(d.join("kernel/pe.c"), b"/* previous */\n").unwrap();
        }
        _ => {}
    }
}

/// Checks one outcome; returns what is wrong (empty when the case behaved).
fn check(case: &Case, dir: &Path, before: &BTreeMap<String, Vec<u8>>, o: &Outcome) -> Vec<String> {
    let mut wrong = Vec::new();
    if o.hang {
        wrong.push(format!("hang (killed after {} s)", TIMEOUT.as_secs()));
    }
    if o.code != Some(1) {
        wrong.push(format!("exit code {:?}, expected 1", o.code));
    }
    for bad in ["panicked", "RUST_BACKTRACE"] {
        if o.stderr.contains(bad) {
            wrong.push(format!("standard error mentions `{bad}`"));
        }
    }
    if !o.stderr.lines().any(|l| l.starts_with("error:")) {
        wrong.push("no `error:` line".into());
    }
    for n in &case.needles {
        if !o.stderr.contains(n.as_str()) {
            wrong.push(format!("`{n}` missing from standard error"));
        }
    }
    let after = snapshot(dir);
    if &after != before {
        let changed: std::collections::BTreeSet<&String> = before
            .keys()
            .chain(after.keys())
            .filter(|k| before.get(*k) != after.get(*k))
            .collect();
        wrong.push(format!("the case directory changed: {changed:?}"));
    }
    let (Out::File { path, .. } | Out::Dir { path, .. }) = &case.out;
    let p = dir.join(path);
    if !p.starts_with(dir) && (p.exists() || p.is_symlink()) {
        wrong.push(format!("{} exists", p.display()));
    }
    wrong
}

/// What is at the output path after a (failed) run, for the table.
fn left(case: &Case, dir: &Path, before: &BTreeMap<String, Vec<u8>>) -> &'static str {
    let same = &snapshot(dir) == before;
    match &case.out {
        Out::File { previous: true, .. } | Out::Dir { previous: true, .. } if same => {
            "previous output unchanged"
        }
        Out::File { path, .. } | Out::Dir { path, .. } if same => {
            if dir.join(path).exists() && before.contains_key(path.as_str()) {
                "inputs unchanged, nothing written"
            } else {
                "nothing"
            }
        }
        _ => "CHANGED",
    }
}

/// Builds the artifacts the `run` cases corrupt (copies of them, per case).
fn build_env(base: &Path) -> Env {
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/bad");
    let shared = base.join("shared");
    fs::create_dir_all(&shared).unwrap();
    fs::write(shared.join("m.onnx"), onnx(&mlp())).unwrap();
    let compile = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_snnc"))
            .args(args)
            .current_dir(&shared)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let nir = s(&bad.join("good.nir"));
    compile(&["compile", &nir, "--target", "spinnaker2", "-o", "s2"]);
    compile(&["compile", "m.onnx", "--target", "host", "-o", "host"]);
    // A directory this process cannot create files in: as root, permissions do not stop it, so
    // sysfs stands in.
    let ro = shared.join("read-only");
    fs::create_dir_all(&ro).unwrap();
    let mut perms = fs::metadata(&ro).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
    fs::set_permissions(&ro, perms).unwrap();
    let unwritable = if fs::write(ro.join("probe"), b"").is_ok() {
        let _ = fs::remove_file(ro.join("probe"));
        PathBuf::from("/sys")
    } else {
        ro
    };
    Env {
        bad,
        s2: shared.join("s2"),
        host: shared.join("host"),
        unwritable,
    }
}

/// The command as the table shows it (it runs in the case directory).
fn shown(args: &[String]) -> String {
    format!("snnc {}", args.join(" "))
}

#[test]
fn bad_inputs_fail_cleanly_and_write_nothing() {
    let base = std::env::temp_dir().join(format!("snnc-bad-inputs-{}", std::process::id()));
    let _ = fs::remove_dir_all(&base);
    fs::create_dir_all(&base).unwrap();
    let env = build_env(&base);
    let all = cases(&env);
    let mut failures = Vec::new();
    let mut table = String::from(
        "| # | kind | command | what snnc printed (first error line) | exit | output left |\n|---|---|---|---|---|---|\n",
    );
    let mut slowest = (Duration::ZERO, "");
    let other_bin = std::env::var_os("SNNC_BAD_INPUTS_BIN").is_some();
    for (i, case) in all.iter().enumerate() {
        // An older build may read /dev/zero until the machine runs out of memory.
        if other_bin && case.kind.contains("/dev/zero") {
            let _ = writeln!(
                table,
                "| {} | {} | (skipped: reads without end) | | | |",
                i + 1,
                case.kind
            );
            continue;
        }
        let dir = base.join(format!("case{i:03}"));
        fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in &case.files {
            let p = dir.join(name);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, bytes).unwrap();
        }
        if let Some(f) = &case.setup {
            f(&dir);
        }
        put_previous(&dir, &case.out);
        let before = snapshot(&dir);
        let o = run_snnc(&dir, &base.join(format!("case{i:03}.log")), &case.args);
        if o.elapsed > slowest.0 {
            slowest = (o.elapsed, case.kind);
        }
        let wrong = check(case, &dir, &before, &o);
        let first = o
            .stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or("")
            .replace(&s(&dir), "<case dir>");
        let code = o.code.map_or("killed".to_string(), |c| c.to_string());
        let _ = writeln!(
            table,
            "| {} | {} | `{}` | {} | {code} | {} |",
            i + 1,
            case.kind,
            shown(&case.args).replace('|', "\\|"),
            first.replace('|', "\\|"),
            left(case, &dir, &before)
        );
        if !wrong.is_empty() {
            failures.push(format!(
                "{} ({}):\n  {}\n  stderr: {}",
                case.kind,
                shown(&case.args),
                wrong.join("\n  "),
                o.stderr.trim_end().replace('\n', "\n          ")
            ));
        }
    }
    if let Ok(path) = std::env::var("SNNC_BAD_INPUTS_TABLE") {
        fs::write(&path, &table).unwrap();
    }
    eprintln!(
        "{} bad-input cases, {} misbehaved; slowest: {} ({:.2} s)",
        all.len(),
        failures.len(),
        slowest.1,
        slowest.0.as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases misbehaved (files kept in {}):\n\n{}",
        failures.len(),
        all.len(),
        base.display(),
        failures.join("\n\n")
    );
    assert!(all.len() >= 40, "only {} cases", all.len());
    let _ = fs::remove_dir_all(&base);
}
