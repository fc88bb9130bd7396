//! `.npy` input and output, the array format of `snnc sim` and `snnc run`.

use std::io::Cursor;
use std::path::Path;

use crate::error::CliError;

/// A dense row-major f32 array read from or written to a `.npy` file.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Read a C-order `.npy` file of any real numeric or bool dtype as f32. Only regular files are
/// read (a FIFO or `/dev/zero` would block or never end).
pub fn read(path: &Path) -> Result<Array, CliError> {
    let bad = |reason: String| CliError::Npy {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| CliError::io(path, e))?;
    if !meta.is_file() {
        return Err(bad("not a regular file".into()));
    }
    let bytes = std::fs::read(path).map_err(|e| CliError::io(path, e))?;
    parse(&bytes).map_err(bad)
}

/// Parse `.npy` bytes (see [`read`]).
pub fn parse(bytes: &[u8]) -> Result<Array, String> {
    if bytes.is_empty() {
        return Err("the file is empty (not a .npy array)".into());
    }
    let npy = npyz::NpyFile::new(Cursor::new(bytes))
        .map_err(|e| format!("not a valid .npy file: {e}"))?;
    if npy.order() == npyz::Order::Fortran {
        return Err(
            "Fortran-order arrays are not supported; save with np.ascontiguousarray".into(),
        );
    }
    let shape: Vec<usize> = npy.shape().iter().map(|d| *d as usize).collect();
    let expected = shape
        .iter()
        .try_fold(1usize, |a, d| a.checked_mul(*d))
        .ok_or("array shape overflows")?;
    let data = read_elements(npy)?;
    if data.len() != expected {
        return Err(format!(
            "header declares shape {shape:?} ({expected} elements) but the file holds {}",
            data.len()
        ));
    }
    Ok(Array { shape, data })
}

macro_rules! try_dtype {
    ($npy:ident, $($t:ty),*) => {
        $(
            let $npy = match $npy.try_data::<$t>() {
                Ok(reader) => {
                    return reader
                        .map(|r| r.map(|v| v as f32))
                        .collect::<std::io::Result<Vec<f32>>>()
                        .map_err(|e| format!("truncated or unreadable data: {e}"));
                }
                Err(npy) => npy,
            };
        )*
    };
}

fn read_elements(npy: npyz::NpyFile<Cursor<&[u8]>>) -> Result<Vec<f32>, String> {
    try_dtype!(npy, f32, f64, i8, u8, i16, u16, i32, u32, i64, u64);
    let npy = match npy.try_data::<bool>() {
        Ok(reader) => {
            return reader
                .map(|r| r.map(|v| if v { 1.0 } else { 0.0 }))
                .collect::<std::io::Result<Vec<f32>>>()
                .map_err(|e| format!("truncated or unreadable data: {e}"));
        }
        Err(npy) => npy,
    };
    Err(format!(
        "dtype {} is not supported (use a real number or bool dtype)",
        dtype_name(&npy.dtype())
    ))
}

/// The NumPy spelling of a dtype (`<c8`), or what kind it is.
fn dtype_name(d: &npyz::DType) -> String {
    match d {
        npyz::DType::Plain(t) => format!("`{t}`"),
        npyz::DType::Array(..) => "of a sub-array".into(),
        npyz::DType::Record(_) => "of a structured array".into(),
    }
}

/// Serialize an f32 array as `.npy` bytes.
pub fn to_bytes(a: &Array) -> Vec<u8> {
    use npyz::WriterBuilder;
    let mut buf = Vec::new();
    let shape: Vec<u64> = a.shape.iter().map(|d| *d as u64).collect();
    // Writing to a Vec cannot fail.
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(&mut buf)
        .begin_nd()
        .expect("writing .npy to memory");
    w.extend(a.data.iter().copied())
        .expect("writing .npy to memory");
    w.finish().expect("writing .npy to memory");
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let a = Array {
            shape: vec![2, 3],
            data: vec![1.0, -2.5, 3.0, 0.0, f32::MIN_POSITIVE, 7.0],
        };
        assert_eq!(parse(&to_bytes(&a)).unwrap(), a);
    }

    #[test]
    fn reads_shared_float32_data() {
        let p =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/models/data/digits_test_x.npy");
        let a = read(&p).unwrap();
        assert_eq!(a.shape, vec![360, 64]);
        assert!(a.data.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn reads_int64_labels() {
        let p =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/models/data/digits_test_y.npy");
        let a = read(&p).unwrap();
        assert_eq!(a.shape, vec![360]);
        assert!(a
            .data
            .iter()
            .all(|v| (0.0..=9.0).contains(v) && v.fract() == 0.0));
    }

    #[test]
    fn unsupported_dtypes_are_named_as_numpy_does() {
        // np.save of np.zeros(2, np.complex64)
        let mut b =
            b"\x93NUMPY\x01\x00v\x00{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }"
                .to_vec();
        b.resize(10 + 117, b' ');
        b.push(b'\n');
        b.extend([0u8; 16]);
        let e = parse(&b).unwrap_err();
        assert_eq!(
            e,
            "dtype `<c8` is not supported (use a real number or bool dtype)"
        );
        assert_eq!(
            parse(b"").unwrap_err(),
            "the file is empty (not a .npy array)"
        );
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(parse(b"not numpy at all").is_err());
        let a = Array {
            shape: vec![4],
            data: vec![1.0; 4],
        };
        let bytes = to_bytes(&a);
        for n in 0..bytes.len() {
            assert!(parse(&bytes[..n]).is_err(), "prefix {n} accepted");
        }
    }
}
