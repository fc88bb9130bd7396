//! Arena offsets by liveness: a value occupies its bytes from the kernel that writes it to the
//! last kernel that reads it; first fit over the free gaps, so the arena is the peak of live
//! bytes or close to it (TFLite Micro's greedy planner does the same).

use super::{Kernel, Place, Value, ValueId, ALIGN};

/// The values a kernel reads and the one it writes.
pub fn reads_writes(k: &Kernel) -> (Vec<ValueId>, ValueId) {
    match k {
        Kernel::Quantize { x, y, .. }
        | Kernel::Dequantize { x, y, .. }
        | Kernel::DenseInt { x, y, .. }
        | Kernel::DenseBin { x, y, .. }
        | Kernel::DenseBinW { x, y, .. }
        | Kernel::DenseF32 { x, y, .. }
        | Kernel::Conv2dInt { x, y, .. }
        | Kernel::Pool2d { x, y, .. }
        | Kernel::Requant { x, y, .. }
        | Kernel::BinThreshold { x, y, .. }
        | Kernel::IntLif { x, y, .. }
        | Kernel::ScaleShift { x, y, .. }
        | Kernel::Clamp { x, y, .. }
        | Kernel::Copy { x, y } => (vec![*x], *y),
        Kernel::Elementwise { a, b, y, .. } => (vec![*a, *b], *y),
    }
}

/// Give every [`Place::Arena`] value its offset; returns the arena size.
pub fn assign_offsets(values: &mut [Value], kernels: &[Kernel]) -> usize {
    let mut last_use = vec![0usize; values.len()];
    for (i, k) in kernels.iter().enumerate() {
        let (reads, write) = reads_writes(k);
        last_use[write] = last_use[write].max(i);
        for r in reads {
            last_use[r] = last_use[r].max(i);
        }
    }
    // Live allocations: (offset, size, value).
    let mut live: Vec<(usize, usize, ValueId)> = Vec::new();
    let mut top = 0usize;
    for (i, k) in kernels.iter().enumerate() {
        let (_, y) = reads_writes(k);
        // Values whose last reader ran before this kernel are free; this kernel's own inputs stay.
        live.retain(|&(_, _, v)| last_use[v] >= i);
        if !matches!(values[y].place, Place::Arena(_)) {
            continue;
        }
        let size = values[y].bytes().next_multiple_of(ALIGN).max(ALIGN);
        live.sort_by_key(|&(off, _, _)| off);
        let mut offset = 0usize;
        for &(off, sz, _) in &live {
            if off >= offset + size {
                break;
            }
            offset = offset.max(off + sz);
        }
        values[y].place = Place::Arena(offset);
        live.push((offset, size, y));
        top = top.max(offset + size);
    }
    top
}
