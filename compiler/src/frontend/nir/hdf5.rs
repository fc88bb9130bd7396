//! The HDF5 layer: the whole object tree of a NIR file, read once into plain Rust values.
//!
//! Everything NIR-specific works on [`RawGroup`], so the HDF5 crate is touched in this file only.
//! A file is read eagerly (NIR files are small) under limits on depth, object count and value
//! bytes (the file's [`Budget`], see `frontend::limits`), because every byte of it is untrusted. The reader crate is hardened against
//! malformed input, but as a last line of defence the read runs under `catch_unwind`: a panic
//! inside it becomes an ordinary error instead of aborting the compiler.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use hdf5_reader::group::Group;
use hdf5_reader::{Dataset, Datatype, Hdf5File, OpenOptions};

use crate::frontend::limits::{human, Budget, Limits};

/// Deepest group nesting read (NIR nests one group per graph level plus two).
const MAX_DEPTH: usize = 64;
/// Most groups and datasets read from one file.
const MAX_OBJECTS: usize = 100_000;
// Values read from one file are charged to its budget as snnc holds them (8 bytes per number,
// [`STRING_COST`] per string), from each dataset's declared shape *before* it is read: a small
// file can declare huge datasets (fill values, compressed chunks), and reading one would
// allocate its raw form and its widened copy.
/// What one string element is charged (the `String` and a short text).
const STRING_COST: u64 = 64;

/// The value of one dataset, converted to the widest type of its kind. A dataset that cannot be
/// read or has a type NIR never uses is kept as [`RawValue::Unreadable`], so that it is an error
/// only if a node actually needs it.
#[derive(Clone, PartialEq, Debug)]
pub enum RawValue {
    /// Any IEEE float dataset (f32 values widen exactly).
    Float { shape: Vec<usize>, data: Vec<f64> },
    /// Any integer dataset.
    Int { shape: Vec<usize>, data: Vec<i64> },
    /// Fixed- or variable-length strings.
    Str {
        shape: Vec<usize>,
        data: Vec<String>,
    },
    /// Why the dataset could not be used.
    Unreadable(String),
}

/// A group: its datasets and child groups by name (sorted, so iteration is deterministic).
#[derive(Clone, PartialEq, Debug, Default)]
pub struct RawGroup {
    pub datasets: BTreeMap<String, RawValue>,
    pub groups: BTreeMap<String, RawGroup>,
}

/// Read the object tree of an HDF5 file held in memory. Groups named `metadata` (NIR's free-form
/// annotations) are skipped, except as nodes of a graph (children of `nodes`). Fails with a one-line reason when the bytes are not a readable HDF5
/// file.
pub fn read_tree(bytes: Vec<u8>, limits: &Limits) -> Result<RawGroup, String> {
    let budget = limits.budget_for(bytes.len() as u64);
    match catch_unwind(AssertUnwindSafe(move || read_tree_inner(bytes, budget))) {
        Ok(r) => r,
        Err(_) => Err("the HDF5 reader failed on malformed data".into()),
    }
}

fn read_tree_inner(bytes: Vec<u8>, values: Budget) -> Result<RawGroup, String> {
    // One read never needs more than the whole budget.
    let per_read = usize::try_from(values.total()).unwrap_or(usize::MAX);
    let options = OpenOptions::default().with_max_read_bytes(per_read);
    let file = Hdf5File::from_vec_with_options(bytes, options)
        .map_err(|e| format!("not a readable HDF5 file: {e}"))?;
    let root = file
        .root_group()
        .map_err(|e| format!("cannot open the root group: {e}"))?;
    let mut budget = Limit {
        objects: MAX_OBJECTS,
        values,
    };
    read_group(&root, "/", 0, &mut budget)
}

/// What is left of the file's limits on objects and on value bytes.
struct Limit {
    objects: usize,
    values: Budget,
}

fn read_group(g: &Group, path: &str, depth: usize, budget: &mut Limit) -> Result<RawGroup, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "groups nest deeper than {MAX_DEPTH} levels at `{}`",
            elide(path)
        ));
    }
    let (group_names, dataset_names) = g
        .member_names()
        .map_err(|e| format!("cannot list group `{path}`: {e}"))?;
    let mut out = RawGroup::default();
    for name in dataset_names {
        spend(budget)?;
        let value = match g.dataset(&name) {
            Ok(ds) => {
                charge(&ds, path, &name, budget)?;
                read_value(&ds)
            }
            Err(e) => RawValue::Unreadable(e.to_string()),
        };
        out.datasets.insert(name, value);
    }
    for name in group_names {
        // NIR metadata, unless it is a node that happens to be called `metadata`.
        if name == "metadata" && !path.ends_with("/nodes") {
            continue;
        }
        spend(budget)?;
        let child_path = format!("{}/{}", path.trim_end_matches('/'), name);
        let child = g
            .group(&name)
            .map_err(|e| format!("cannot open group `{child_path}`: {e}"))?;
        let raw = read_group(&child, &child_path, depth + 1, budget)?;
        out.groups.insert(name, raw);
    }
    Ok(out)
}

/// A long group path as its first and last parts (`/node/nodes/sub/…/nodes/sub/nodes/in`).
fn elide(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() <= 12 {
        return path.to_string();
    }
    let (head, tail) = (&parts[..5], &parts[parts.len() - 6..]);
    format!("{}/…/{}", head.join("/"), tail.join("/"))
}

fn spend(budget: &mut Limit) -> Result<(), String> {
    budget.objects = budget
        .objects
        .checked_sub(1)
        .ok_or_else(|| format!("the file holds more than {MAX_OBJECTS} objects"))?;
    Ok(())
}

/// Takes the bytes dataset `name` will occupy once read out of the budget, or fails naming it.
fn charge(ds: &Dataset, path: &str, name: &str, budget: &mut Limit) -> Result<(), String> {
    let per: u64 = match ds.dtype() {
        Datatype::String { .. } | Datatype::VarLen { .. } => STRING_COST,
        _ => 8,
    };
    let need = ds
        .shape()
        .iter()
        .try_fold(per, |acc, &d| acc.checked_mul(d))
        .unwrap_or(u64::MAX);
    budget.values.charge(need).map_err(|e| {
        format!(
            "dataset `{}/{name}` of shape {:?} ({} as snnc holds it) would be {e}",
            path.trim_end_matches('/'),
            ds.shape(),
            human(need)
        )
    })
}

fn read_value(ds: &Dataset) -> RawValue {
    match read_value_inner(ds) {
        Ok(v) => v,
        Err(e) => RawValue::Unreadable(e),
    }
}

fn read_value_inner(ds: &Dataset) -> Result<RawValue, String> {
    let shape = ds
        .shape()
        .iter()
        .map(|d| usize::try_from(*d).map_err(|_| format!("dimension {d} is too large")))
        .collect::<Result<Vec<usize>, String>>()?;
    let err = |e: hdf5_reader::error::Error| e.to_string();
    let value = match ds.dtype() {
        Datatype::FloatingPoint { size: 4, .. } => RawValue::Float {
            data: ds
                .read_array::<f32>()
                .map_err(err)?
                .iter()
                .map(|v| *v as f64)
                .collect(),
            shape,
        },
        Datatype::FloatingPoint { size: 8, .. } => RawValue::Float {
            data: ds
                .read_array::<f64>()
                .map_err(err)?
                .iter()
                .copied()
                .collect(),
            shape,
        },
        Datatype::FixedPoint { size, signed, .. } => RawValue::Int {
            data: read_ints(ds, *size, *signed)?,
            shape,
        },
        Datatype::String { .. } | Datatype::VarLen { .. } => RawValue::Str {
            data: ds.read_strings().map_err(err)?,
            shape,
        },
        other => return Err(format!("unsupported element type {other:?}")),
    };
    Ok(value)
}

fn read_ints(ds: &Dataset, size: u8, signed: bool) -> Result<Vec<i64>, String> {
    fn widen<T: hdf5_reader::H5Type + Copy + TryInto<i64>>(
        ds: &Dataset,
    ) -> Result<Vec<i64>, String> {
        ds.read_array::<T>()
            .map_err(|e| e.to_string())?
            .iter()
            .map(|v| {
                (*v).try_into()
                    .map_err(|_| "integer out of the i64 range".to_string())
            })
            .collect()
    }
    match (size, signed) {
        (1, true) => widen::<i8>(ds),
        (1, false) => widen::<u8>(ds),
        (2, true) => widen::<i16>(ds),
        (2, false) => widen::<u16>(ds),
        (4, true) => widen::<i32>(ds),
        (4, false) => widen::<u32>(ds),
        (8, true) => widen::<i64>(ds),
        (8, false) => widen::<u64>(ds),
        _ => Err(format!("unsupported integer size {size}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real_file() -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/models/snn_mlp/snn_mlp.nir"
        );
        std::fs::read(path).unwrap()
    }

    #[test]
    fn reads_the_real_tree() {
        let root = read_tree(real_file(), &Limits::default()).unwrap();
        assert_eq!(
            root.datasets.get("version"),
            Some(&RawValue::Str {
                shape: vec![],
                data: vec!["1.0.8".into()]
            })
        );
        let node = &root.groups["node"];
        let RawValue::Str { shape, data } = &node.datasets["edges"] else {
            panic!("edges are not strings");
        };
        assert_eq!(shape, &[5, 2]);
        assert_eq!(data.len(), 10);
        let nodes = &node.groups["nodes"];
        assert_eq!(
            nodes.groups.keys().collect::<Vec<_>>(),
            ["0", "1", "2", "3", "input", "output"]
        );
        let RawValue::Float { shape, data } = &nodes.groups["0"].datasets["weight"] else {
            panic!("weight is not float");
        };
        assert_eq!(shape, &[128, 64]);
        assert_eq!(data.len(), 128 * 64);
        assert_eq!(
            nodes.groups["input"].datasets["shape"],
            RawValue::Int {
                shape: vec![1],
                data: vec![64]
            }
        );
    }

    #[test]
    fn deep_paths_are_shown_by_their_ends() {
        let deep = format!("/node{}/nodes/in", "/nodes/sub".repeat(40));
        assert_eq!(
            elide(&deep),
            "/node/nodes/sub/nodes/…/nodes/sub/nodes/sub/nodes/in"
        );
        assert_eq!(elide("/node/nodes/fc"), "/node/nodes/fc");
    }

    #[test]
    fn garbage_is_an_error() {
        let l = Limits::default();
        assert!(read_tree(b"not hdf5 at all".to_vec(), &l).is_err());
        assert!(read_tree(Vec::new(), &l).is_err());
    }

    /// Found by `cargo fuzz run nir_import` (docs/fuzzing.md): a 92 KB file whose integer dataset
    /// declares about a gigabyte of values; reading it and widening it to i64 went past 2 GB.
    /// It is refused from its declared shape, before anything is read.
    #[test]
    fn huge_declared_dataset_is_refused_before_reading() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fuzz/seeds/nir_import/oom_huge_int_dataset.nir"
        );
        let bytes = std::fs::read(path).unwrap();
        let err = read_tree(bytes.clone(), &Limits::default()).unwrap_err();
        assert!(err.contains("over the 256.0 MiB budget"), "{err}");
        assert!(err.starts_with("dataset `/"), "{err}");
        // The budget scales with the file: a 92 KB file gets the floor. A budget given by
        // --max-model-bytes replaces it either way.
        let err = read_tree(bytes, &Limits::fixed(1 << 20)).unwrap_err();
        assert!(
            err.contains("over the 1.0 MiB budget set by --max-model-bytes"),
            "{err}"
        );
    }

    /// The value budget is spent across datasets: the real model's values (about 70 KB as
    /// snnc holds them) fit 1 MiB, not 16 KiB.
    #[test]
    fn the_value_budget_is_charged_for_every_dataset() {
        assert!(read_tree(real_file(), &Limits::fixed(1 << 20)).is_ok());
        let err = read_tree(real_file(), &Limits::fixed(16 << 10)).unwrap_err();
        assert!(err.contains("16.0 KiB budget"), "{err}");
    }
}
