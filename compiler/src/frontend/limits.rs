//! Limits on what an untrusted model file can make snnc allocate.
//!
//! Model files are small descriptions of possibly large things: a protobuf field of two bytes
//! decodes to a struct of hundreds, an HDF5 dataset can declare gigabytes it stores as a fill
//! value, a tensor shape of a few digits stands for terabytes. Every such size is charged to one
//! [`Budget`] *before* the allocation it implies, and the import fails with a message naming
//! what went over, instead of the process running out of memory.
//!
//! The budget of one file is `max(256 MiB, 16 × bytes read)` (bytes read: the model file plus,
//! for ONNX, the external data files it references), unless `--max-model-bytes` gives it. Any
//! legitimate file stores (nearly) what it declares, so its needs grow with its size: 16× covers
//! the widening of int8 weights to the IR's i64 storage (8×) with room for compression in HDF5
//! and the decoded protobuf structures; the floor lets small files declare the activations of
//! ordinary models. A file needing more can be loaded with a larger `--max-model-bytes`.

use std::fmt;

/// Budget of a file whose size does not call for more.
pub const FLOOR_BYTES: u64 = 256 << 20;
/// Bytes of budget per byte of file.
pub const BYTES_PER_FILE_BYTE: u64 = 16;
/// Most nodes one model may have (ONNX nodes at all nesting levels, NIR nodes after
/// flattening, IR nodes): large networks have tens of thousands.
pub const MAX_NODES: usize = 1_000_000;
/// Deepest nesting of messages in an ONNX file (a model with one graph of nodes with attributes
/// holding tensors nests 5 deep; each subgraph level adds 3).
pub const MAX_ONNX_DEPTH: usize = 32;

/// The user's choice of budget (`--max-model-bytes`), or the default that scales with the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// A fixed budget in bytes; `None` for [`Limits::budget_for`]'s default.
    pub max_model_bytes: Option<u64>,
}

impl Limits {
    /// Limits with a fixed budget of `bytes`.
    pub fn fixed(bytes: u64) -> Self {
        Limits {
            max_model_bytes: Some(bytes),
        }
    }

    /// The budget for a model whose files hold `file_bytes` bytes.
    pub fn budget_for(&self, file_bytes: u64) -> Budget {
        let mut b = Budget {
            total: 0,
            left: 0,
            file_bytes: 0,
            fixed: self.max_model_bytes,
        };
        match self.max_model_bytes {
            Some(total) => {
                b.total = total;
                b.left = total;
            }
            None => b.add_file(file_bytes),
        }
        b
    }
}

/// The default budget of files holding `file_bytes` bytes in all.
fn scaled(file_bytes: u64) -> u64 {
    file_bytes
        .saturating_mul(BYTES_PER_FILE_BYTE)
        .max(FLOOR_BYTES)
}

/// What is left of one file's budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    total: u64,
    left: u64,
    /// Bytes of the files read so far (the model and its external data).
    file_bytes: u64,
    /// `--max-model-bytes`, when given: the budget does not grow with the files.
    fixed: Option<u64>,
}

/// A charge that did not fit: by how much, and what the budget was. It renders as
/// `1.2 GiB over the 256.0 MiB budget (...)`, for a message to say what would be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverBudget {
    pub need: u64,
    pub total: u64,
    pub scaled: bool,
}

impl fmt::Display for OverBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} over the {} budget",
            human(self.need),
            human(self.total)
        )?;
        if self.scaled {
            write!(
                f,
                " (the default for this file's size; raise it with --max-model-bytes)"
            )
        } else {
            write!(f, " set by --max-model-bytes")
        }
    }
}

impl Budget {
    /// Take `bytes` from the budget, or fail leaving it as it was.
    pub fn charge(&mut self, bytes: u64) -> Result<(), OverBudget> {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(OverBudget {
                need: bytes - self.left,
                total: self.total,
                scaled: self.fixed.is_none(),
            }),
        }
    }

    /// Account for one more file of `bytes` read for this model (an external data file): the
    /// default budget grows with it, a fixed one does not.
    pub fn add_file(&mut self, bytes: u64) {
        if self.fixed.is_some() {
            return;
        }
        self.file_bytes = self.file_bytes.saturating_add(bytes);
        let total = scaled(self.file_bytes);
        self.left = self.left.saturating_add(total - self.total);
        self.total = total;
    }

    /// The whole budget in bytes.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// What has not been charged yet.
    pub fn left(&self) -> u64 {
        self.left
    }
}

/// `bytes` in the largest binary unit that keeps it at least 1 (`3.0 GiB`, `512 B`).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Bytes of `numel` elements of a tensor stored with `elem` bytes each, or `None` on overflow.
pub fn tensor_bytes(shape: &[usize], elem: u64) -> Option<u64> {
    shape
        .iter()
        .try_fold(elem, |acc, &d| acc.checked_mul(u64::try_from(d).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_budget_scales_with_the_file_above_a_floor() {
        let l = Limits::default();
        assert_eq!(l.budget_for(0).total(), FLOOR_BYTES);
        assert_eq!(l.budget_for(1 << 20).total(), FLOOR_BYTES);
        assert_eq!(l.budget_for(1 << 30).total(), 16 << 30);
        assert_eq!(l.budget_for(u64::MAX).total(), u64::MAX);
        assert_eq!(Limits::fixed(1000).budget_for(1 << 30).total(), 1000);
    }

    #[test]
    fn external_files_grow_the_default_budget_only() {
        let mut b = Limits::default().budget_for(1 << 20);
        b.charge(FLOOR_BYTES - 10).unwrap();
        b.add_file(1 << 30);
        assert_eq!(b.total(), 16 * ((1 << 30) + (1 << 20)));
        assert_eq!(b.left(), b.total() - FLOOR_BYTES + 10);
        let mut f = Limits::fixed(100).budget_for(0);
        f.add_file(1 << 30);
        assert_eq!((f.total(), f.left()), (100, 100));
    }

    #[test]
    fn charges_until_the_budget_is_spent() {
        let mut b = Limits::fixed(100).budget_for(0);
        assert!(b.charge(60).is_ok());
        let e = b.charge(41).unwrap_err();
        assert_eq!(
            e,
            OverBudget {
                need: 1,
                total: 100,
                scaled: false
            }
        );
        assert_eq!(b.left(), 40, "a failed charge takes nothing");
        assert!(b.charge(40).is_ok());
        assert_eq!(
            e.to_string(),
            "1 B over the 100 B budget set by --max-model-bytes"
        );
    }

    #[test]
    fn sizes_render_and_overflow_is_caught() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(3 << 30), "3.0 GiB");
        assert_eq!(tensor_bytes(&[2, 3], 4), Some(24));
        assert_eq!(tensor_bytes(&[], 8), Some(8));
        assert_eq!(tensor_bytes(&[usize::MAX, 2], 1), None);
    }
}
