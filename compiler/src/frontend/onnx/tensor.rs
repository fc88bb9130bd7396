//! ONNX `TensorProto` → IR [`Tensor`]: element types, the typed and raw (little-endian)
//! encodings, and external data files.
//!
//! Every size is checked before memory is allocated for it: dims must be non-negative and
//! multiply without overflow, the tensor as snnc holds it must fit the file's [`Budget`], and the
//! stored data must have exactly the declared length. Each tensor is converted once, straight
//! from the file buffer (raw data is a slice of it) or from its external file (only the tensor's
//! own byte range is read). External files must resolve (symbolic links followed) to regular
//! files inside the model's folder, and the tensors read from one file may not together read
//! more than it holds (overlapping ranges would let a small file stand for any amount of data).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use snnc_ir::{DType, Tensor};

use super::proto::tensor_proto::{DataLocation, DataType};
use super::proto::TensorProto;
use crate::frontend::limits::{human, Budget};

/// What converting the tensors of one model shares: where its external data lives, how much of
/// each external file has been read, and the memory budget.
pub(crate) struct Store {
    /// The directory external data locations are relative to.
    pub base_dir: PathBuf,
    pub budget: Budget,
    /// Bytes read so far from each external file (by canonical path).
    read: BTreeMap<PathBuf, u64>,
}

impl Store {
    pub fn new(base_dir: PathBuf, budget: Budget) -> Self {
        Store {
            base_dir,
            budget,
            read: BTreeMap::new(),
        }
    }

    /// Charge `bytes` of memory for `what`.
    pub fn charge(&mut self, bytes: u64, what: impl FnOnce() -> String) -> Result<(), String> {
        self.budget
            .charge(bytes)
            .map_err(|e| format!("{} ({}) would be {e}", what(), human(bytes)))
    }
}

/// How an ONNX element type is stored in the IR.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Elem {
    F32,
    /// Narrowed to f32 on import.
    F64,
    Int(DType),
}

impl Elem {
    /// The IR dtype the elements end up with.
    pub fn dtype(self) -> DType {
        match self {
            Elem::F32 | Elem::F64 => DType::F32,
            Elem::Int(d) => d,
        }
    }

    /// Bytes per element in `raw_data` and external files.
    fn size(self) -> usize {
        match self {
            Elem::F32 => 4,
            Elem::F64 => 8,
            Elem::Int(d) => d.size_bytes(),
        }
    }
}

/// The element type behind an ONNX `TensorProto.DataType` code, or why snnc cannot use it.
pub(crate) fn elem_type(code: i32) -> Result<Elem, String> {
    let dt = DataType::try_from(code).map_err(|_| format!("unknown element type code {code}"))?;
    Ok(match dt {
        DataType::Float => Elem::F32,
        DataType::Double => Elem::F64,
        DataType::Int8 => Elem::Int(DType::I8),
        DataType::Uint8 => Elem::Int(DType::U8),
        DataType::Int16 => Elem::Int(DType::I16),
        DataType::Uint16 => Elem::Int(DType::U16),
        DataType::Int32 => Elem::Int(DType::I32),
        DataType::Uint32 => Elem::Int(DType::U32),
        DataType::Int64 => Elem::Int(DType::I64),
        DataType::Bool => Elem::Int(DType::Bool),
        other => {
            return Err(format!(
                "element type {} is not supported",
                other.as_str_name()
            ))
        }
    })
}

/// The shape of `dims`, checked: no negative dims and an element count that fits in `usize`.
pub(crate) fn shape_of(dims: &[i64]) -> Result<(Vec<usize>, usize), String> {
    let mut shape = Vec::with_capacity(dims.len());
    let mut n: usize = 1;
    for &d in dims {
        let d = usize::try_from(d).map_err(|_| format!("has a negative dimension {d}"))?;
        n = n
            .checked_mul(d)
            .ok_or_else(|| format!("dims {dims:?} overflow the element count"))?;
        shape.push(d);
    }
    Ok((shape, n))
}

/// Bytes one element of `elem` takes in an IR tensor (floats as f32, integers as i64).
fn held_size(elem: Elem) -> u64 {
    match elem {
        Elem::F32 | Elem::F64 => 4,
        Elem::Int(_) => 8,
    }
}

/// Convert tensor `name`. External locations are resolved against `store.base_dir`; the
/// tensor's memory is charged to `store.budget` before it is allocated. Errors name the tensor.
pub(crate) fn to_tensor(p: &TensorProto, name: &str, store: &mut Store) -> Result<Tensor, String> {
    let fail = |reason: String| format!("tensor `{name}`: {reason}");
    let elem = elem_type(p.data_type).map_err(fail)?;
    let (shape, n) = shape_of(&p.dims).map_err(fail)?;
    let bytes = n
        .checked_mul(elem.size())
        .ok_or_else(|| fail(format!("{n} elements overflow the byte size")))?;
    // What the IR tensor takes, charged once the stored data is known to match the shape (a
    // mismatch is the better message), before anything is allocated.
    let held = (n as u64).saturating_mul(held_size(elem));
    let what = || format!("shape {shape:?} as {}", elem.dtype());
    let external = p.data_location == DataLocation::External as i32;
    let t = if external {
        let raw = read_external(p, bytes, store, held, &what).map_err(fail)?;
        from_raw(elem, shape, &raw)
    } else if !p.raw_data.is_empty() || (n == 0 && !has_typed(p)) {
        let raw = &p.raw_data;
        if raw.len() != bytes {
            return Err(fail(format!(
                "raw_data holds {} bytes, the shape {shape:?} of {} needs {bytes}",
                raw.len(),
                elem.dtype()
            )));
        }
        store.charge(held, what).map_err(fail)?;
        from_raw(elem, shape, raw)
    } else {
        let (field, len) = typed_field(p, elem);
        if len != n {
            return Err(fail(format!(
                "{field} holds {len} values, the shape {shape:?} needs {n}"
            )));
        }
        store.charge(held, what).map_err(fail)?;
        from_typed(p, elem, shape, n)
    };
    t.map_err(fail)
}

/// The typed field that holds `elem`'s values and its length.
fn typed_field(p: &TensorProto, elem: Elem) -> (&'static str, usize) {
    match elem {
        Elem::F32 => ("float_data", p.float_data.len()),
        Elem::F64 => ("double_data", p.double_data.len()),
        Elem::Int(DType::I64) => ("int64_data", p.int64_data.len()),
        Elem::Int(DType::U32) => ("uint64_data", p.uint64_data.len()),
        Elem::Int(_) => ("int32_data", p.int32_data.len()),
    }
}

/// True when any typed data field holds values (proto3 cannot tell an empty `raw_data` from an
/// absent one, so a tensor with neither is decoded as raw).
fn has_typed(p: &TensorProto) -> bool {
    !(p.float_data.is_empty()
        && p.int32_data.is_empty()
        && p.int64_data.is_empty()
        && p.double_data.is_empty()
        && p.uint64_data.is_empty())
}

/// Decode little-endian `raw` (already checked to hold exactly the shape's bytes).
fn from_raw(elem: Elem, shape: Vec<usize>, raw: &[u8]) -> Result<Tensor, String> {
    let ints = |d: DType, v: Vec<i64>| Tensor::from_i64(d, shape.clone(), v);
    let t = match elem {
        Elem::F32 => Tensor::from_f32(
            shape.clone(),
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Elem::F64 => Tensor::from_f32(
            shape.clone(),
            narrow_f64(
                raw.chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])),
            )?,
        ),
        Elem::Int(d) => {
            let v: Vec<i64> = match d {
                DType::I8 => raw.iter().map(|b| *b as i8 as i64).collect(),
                DType::U8 => raw.iter().map(|b| *b as i64).collect(),
                DType::Bool => raw.iter().map(|b| i64::from(*b != 0)).collect(),
                DType::I16 => raw
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]) as i64)
                    .collect(),
                DType::U16 => raw
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]) as i64)
                    .collect(),
                DType::I32 => raw
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                    .collect(),
                DType::U32 => raw
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                    .collect(),
                DType::I64 => raw
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
                DType::F32 | DType::Bin => {
                    return Err(format!("internal: {d} is not an ONNX integer storage type"))
                }
            };
            ints(d, v)
        }
    };
    t.map_err(|e| e.to_string())
}

/// Decode the typed fields (`float_data`, `int32_data`, ...) that ONNX uses for each type.
fn from_typed(p: &TensorProto, elem: Elem, shape: Vec<usize>, n: usize) -> Result<Tensor, String> {
    let check = |field: &str, len: usize| {
        if len == n {
            Ok(())
        } else {
            Err(format!(
                "{field} holds {len} values, the shape {shape:?} needs {n}"
            ))
        }
    };
    let t = match elem {
        Elem::F32 => {
            check("float_data", p.float_data.len())?;
            Tensor::from_f32(shape.clone(), p.float_data.clone())
        }
        Elem::F64 => {
            check("double_data", p.double_data.len())?;
            Tensor::from_f32(shape.clone(), narrow_f64(p.double_data.iter().copied())?)
        }
        Elem::Int(DType::I64) => {
            check("int64_data", p.int64_data.len())?;
            Tensor::from_i64(DType::I64, shape.clone(), p.int64_data.clone())
        }
        Elem::Int(DType::U32) => {
            check("uint64_data", p.uint64_data.len())?;
            let v = p
                .uint64_data
                .iter()
                .map(|x| i64::try_from(*x).unwrap_or(i64::MAX))
                .collect();
            Tensor::from_i64(DType::U32, shape.clone(), v)
        }
        Elem::Int(d) => {
            // int8/uint8/int16/uint16/int32/bool all live in int32_data.
            check("int32_data", p.int32_data.len())?;
            let v = p.int32_data.iter().map(|x| *x as i64).collect();
            Tensor::from_i64(d, shape.clone(), v)
        }
    };
    t.map_err(|e| e.to_string())
}

/// f64 → f32; a finite value beyond f32's range is an error rather than a silent infinity.
fn narrow_f64(it: impl Iterator<Item = f64>) -> Result<Vec<f32>, String> {
    it.enumerate()
        .map(|(i, x)| {
            let y = x as f32;
            if x.is_finite() && !y.is_finite() {
                Err(format!(
                    "double value {x} at index {i} is outside f32's range"
                ))
            } else {
                Ok(y)
            }
        })
        .collect()
}

/// The external-data entries of a tensor: file location, byte offset and length.
struct External {
    location: String,
    offset: u64,
    length: Option<u64>,
}

fn external_entries(p: &TensorProto) -> Result<External, String> {
    let mut location = None;
    let mut offset = 0u64;
    let mut length = None;
    for e in &p.external_data {
        let value = e.value.as_str();
        let number = |what: &str| {
            value
                .parse::<u64>()
                .map_err(|_| format!("external data {what} `{value}` is not a byte count"))
        };
        match e.key.as_str() {
            "location" => location = Some(value.to_string()),
            "offset" => offset = number("offset")?,
            "length" => length = Some(number("length")?),
            _ => {}
        }
    }
    let location = location
        .filter(|l| !l.is_empty())
        .ok_or("external data has no `location`")?;
    Ok(External {
        location,
        offset,
        length,
    })
}

/// The file behind an external location, which must stay inside the model's folder: absolute
/// paths and `..` components are rejected.
pub(crate) fn external_path(location: &str, base_dir: &Path) -> Result<PathBuf, String> {
    let rel = Path::new(location);
    let escapes = rel.components().any(|c| {
        matches!(
            c,
            Component::ParentDir | Component::RootDir | Component::Prefix(_)
        )
    });
    if escapes || rel.is_absolute() {
        return Err(format!(
            "external data location `{location}` leaves the model's folder (absolute paths and `..` are not allowed)"
        ));
    }
    Ok(base_dir.join(rel))
}

/// The canonical path of the external file at `file`, which must be a regular file inside the
/// canonical `base_dir` (a symbolic link may not lead out of it).
fn resolve_inside(file: &Path, location: &str, base_dir: &Path) -> Result<PathBuf, String> {
    let shown = file.display();
    let base = base_dir
        .canonicalize()
        .map_err(|e| format!("the model's folder `{}`: {e}", base_dir.display()))?;
    let real = file
        .canonicalize()
        .map_err(|e| format!("external data file `{shown}`: {e}"))?;
    if !real.starts_with(&base) {
        return Err(format!(
            "external data location `{location}` resolves to `{}`, outside the model's folder",
            real.display()
        ));
    }
    let meta =
        std::fs::metadata(&real).map_err(|e| format!("external data file `{shown}`: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "external data file `{shown}` is not a regular file"
        ));
    }
    Ok(real)
}

/// Read exactly the `bytes` bytes of an external tensor, charging them and the `held` bytes of
/// the tensor they become (`what`) once the file is known to hold them.
fn read_external(
    p: &TensorProto,
    bytes: usize,
    store: &mut Store,
    held: u64,
    what: &dyn Fn() -> String,
) -> Result<Vec<u8>, String> {
    let ext = external_entries(p)?;
    let file = external_path(&ext.location, &store.base_dir)?;
    let real = resolve_inside(&file, &ext.location, &store.base_dir)?;
    let shown = file.display();
    let io = |e: std::io::Error| format!("external data file `{shown}`: {e}");
    let mut f = File::open(&real).map_err(io)?;
    let file_len = f.metadata().map_err(io)?.len();
    let want = bytes as u64;
    let length = ext.length.unwrap_or(file_len.saturating_sub(ext.offset));
    if length != want {
        return Err(format!(
            "external data in `{shown}` is {length} bytes long, the tensor needs {want}"
        ));
    }
    let end = ext.offset.checked_add(want).filter(|e| *e <= file_len);
    if end.is_none() {
        return Err(format!(
            "external data range {}..{} lies beyond the end of `{shown}` ({file_len} bytes)",
            ext.offset,
            ext.offset.saturating_add(want)
        ));
    }
    if !store.read.contains_key(&real) {
        store.budget.add_file(file_len);
    }
    let used = store.read.entry(real).or_insert(0);
    *used = used.saturating_add(want);
    if *used > file_len {
        return Err(format!(
            "the tensors read so far take {used} bytes from `{shown}`, which holds {file_len}: external data ranges overlap"
        ));
    }
    store.charge(held.saturating_add(want), what)?;
    f.seek(SeekFrom::Start(ext.offset)).map_err(io)?;
    // The length is bounded by the real file size and the budget, so this allocation is too.
    let mut buf = vec![0u8; bytes];
    f.read_exact(&mut buf).map_err(io)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::frontend::limits::Limits;

    fn store(dir: &Path) -> Store {
        Store::new(dir.to_path_buf(), Limits::default().budget_for(0))
    }

    fn proto(dt: DataType, dims: &[i64]) -> TensorProto {
        TensorProto {
            dims: dims.to_vec(),
            data_type: dt as i32,
            ..Default::default()
        }
    }

    #[test]
    fn raw_little_endian_of_each_type() {
        let dir = &mut store(Path::new("."));
        let mut p = proto(DataType::Float, &[2]);
        p.raw_data = [1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()]
            .concat()
            .into();
        assert_eq!(
            to_tensor(&p, "a", dir).unwrap().as_f32().unwrap(),
            &[1.5, -2.0]
        );

        let mut p = proto(DataType::Int8, &[3]);
        p.raw_data = vec![0xff, 0x7f, 0x80].into();
        let t = to_tensor(&p, "b", dir).unwrap();
        assert_eq!(t.dtype(), DType::I8);
        assert_eq!(t.as_i64().unwrap(), &[-1, 127, -128]);

        let mut p = proto(DataType::Uint16, &[1]);
        p.raw_data = vec![0x34, 0x12].into();
        assert_eq!(
            to_tensor(&p, "c", dir).unwrap().as_i64().unwrap(),
            &[0x1234]
        );

        let mut p = proto(DataType::Int64, &[]);
        p.raw_data = (-5i64).to_le_bytes().to_vec().into();
        let t = to_tensor(&p, "d", dir).unwrap();
        assert_eq!(t.shape(), &[] as &[usize]);
        assert_eq!(t.as_i64().unwrap(), &[-5]);

        let mut p = proto(DataType::Double, &[1]);
        p.raw_data = 0.25f64.to_le_bytes().to_vec().into();
        assert_eq!(to_tensor(&p, "e", dir).unwrap().as_f32().unwrap(), &[0.25]);
    }

    #[test]
    fn typed_fields() {
        let dir = &mut store(Path::new("."));
        let mut p = proto(DataType::Uint8, &[2]);
        p.int32_data = vec![0, 255];
        assert_eq!(
            to_tensor(&p, "u", dir).unwrap().as_i64().unwrap(),
            &[0, 255]
        );
        p.int32_data = vec![0, 256];
        let e = to_tensor(&p, "u", dir).unwrap_err();
        assert!(e.contains("out of range for u8"), "{e}");

        let mut p = proto(DataType::Double, &[2]);
        p.double_data = vec![1.0, 1e300];
        let e = to_tensor(&p, "big", dir).unwrap_err();
        assert!(e.contains("outside f32's range"), "{e}");

        let mut p = proto(DataType::Int64, &[3]);
        p.int64_data = vec![1, 2];
        let e = to_tensor(&p, "short", dir).unwrap_err();
        assert_eq!(
            e,
            "tensor `short`: int64_data holds 2 values, the shape [3] needs 3"
        );
    }

    #[test]
    fn sizes_are_checked_before_allocating() {
        let dir = &mut store(Path::new("."));
        let p = proto(DataType::Float, &[1 << 40, 1 << 40]);
        let e = to_tensor(&p, "huge", dir).unwrap_err();
        assert!(e.contains("overflow"), "{e}");
        let p = proto(DataType::Float, &[-1]);
        assert!(to_tensor(&p, "neg", dir).unwrap_err().contains("negative"));
        let mut p = proto(DataType::Float, &[1 << 30]);
        p.raw_data = vec![0u8; 8].into();
        assert!(to_tensor(&p, "lying", dir)
            .unwrap_err()
            .contains("raw_data holds 8 bytes"));
        let p = proto(DataType::Float16, &[1]);
        assert!(to_tensor(&p, "h", dir).unwrap_err().contains("FLOAT16"));
    }

    #[test]
    fn external_paths_stay_inside() {
        let base = Path::new("/models/m");
        assert_eq!(
            external_path("w/a.bin", base).unwrap(),
            PathBuf::from("/models/m/w/a.bin")
        );
        assert!(external_path("../x.bin", base).is_err());
        assert!(external_path("w/../../x.bin", base).is_err());
        assert!(external_path("/etc/passwd", base).is_err());
    }
}
