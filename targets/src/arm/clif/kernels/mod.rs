//! One CLIF function body per [`Kernel`], following the kernel's doc comment literally.

mod dense;
mod misc;
mod quant;
mod window;

use cranelift_module::Module;

use super::fx::Fx;
use crate::arm::plan::Kernel;
use crate::arm::ArmError;

use dense::Dense;
use misc::{Broadcast, LifParams};
use quant::RequantParams;

/// Emit the body of kernel `k` into the current block of `fx`.
pub(super) fn emit<M: Module>(fx: &mut Fx<'_, '_, M>, k: &Kernel) -> Result<(), ArmError> {
    match k {
        Kernel::Quantize {
            x,
            y,
            scale,
            zero_point,
            ch,
            lo,
            hi,
        } => quant::quantize(fx, (*x, *y), scale, zero_point, *ch, *lo, *hi),
        Kernel::Dequantize {
            x,
            y,
            scale,
            zero_point,
            ch,
        } => quant::dequantize(fx, (*x, *y), scale, zero_point, *ch),
        Kernel::DenseInt {
            x,
            y,
            rows,
            k,
            n,
            w_dtype,
            w,
            bias,
        } => {
            let d = Dense {
                x: *x,
                y: *y,
                rows: *rows,
                k: *k,
                n: *n,
            };
            dense::dense_int(fx, &d, *w_dtype, w, bias.as_deref())
        }
        Kernel::DenseBin {
            x,
            y,
            rows,
            k,
            n,
            w,
            bias,
        } => {
            let d = Dense {
                x: *x,
                y: *y,
                rows: *rows,
                k: *k,
                n: *n,
            };
            dense::dense_bin(fx, &d, w, bias.as_deref())
        }
        Kernel::DenseBinW {
            x,
            y,
            rows,
            k,
            n,
            w,
            bias,
        } => {
            let d = Dense {
                x: *x,
                y: *y,
                rows: *rows,
                k: *k,
                n: *n,
            };
            dense::dense_bin_w(fx, &d, w, bias.as_deref())
        }
        Kernel::DenseF32 {
            x,
            y,
            rows,
            k,
            n,
            w,
            alpha,
            bias,
        } => {
            let d = Dense {
                x: *x,
                y: *y,
                rows: *rows,
                k: *k,
                n: *n,
            };
            dense::dense_f32(fx, &d, w, *alpha, bias.as_deref())
        }
        Kernel::Conv2dInt {
            x,
            y,
            win,
            w_dtype,
            w,
            bias,
        } => window::conv2d_int(fx, (*x, *y), win, *w_dtype, w, bias.as_deref()),
        Kernel::Pool2d { x, y, win, kind } => window::pool2d(fx, (*x, *y), win, *kind),
        Kernel::Requant {
            x,
            y,
            multiplier,
            shift,
            zero_point,
            lo,
            hi,
            ch,
        } => {
            let rp = RequantParams {
                multiplier,
                shift,
                zero_point: *zero_point,
                lo: *lo,
                hi: *hi,
                ch: *ch,
            };
            quant::requant(fx, (*x, *y), &rp)
        }
        Kernel::BinThreshold {
            x,
            y,
            threshold,
            flip,
            ch,
            last,
        } => quant::bin_threshold(fx, (*x, *y), threshold, flip, *ch, *last),
        Kernel::IntLif {
            x,
            y,
            n,
            state,
            decay,
            bias,
            threshold,
            v_reset,
            frac_bits,
            lo,
            hi,
            reset,
        } => {
            let p = LifParams {
                n: *n,
                state: *state,
                decay,
                bias,
                threshold,
                v_reset,
                frac_bits: *frac_bits,
                lo: *lo,
                hi: *hi,
                reset: *reset,
            };
            misc::int_lif(fx, (*x, *y), &p)
        }
        Kernel::Elementwise {
            op,
            a,
            b,
            y,
            shape,
            a_strides,
            b_strides,
        } => {
            let e = Broadcast {
                op: *op,
                a: *a,
                b: *b,
                y: *y,
                shape: *shape,
                a_strides: *a_strides,
                b_strides: *b_strides,
            };
            misc::elementwise(fx, &e)
        }
        Kernel::ScaleShift {
            x,
            y,
            scale,
            shift,
            ch,
        } => misc::scale_shift(fx, (*x, *y), scale, shift, *ch),
        Kernel::Clamp { x, y, lo, hi } => misc::clamp(fx, (*x, *y), *lo, *hi),
        Kernel::Copy { x, y } => misc::copy(fx, (*x, *y)),
    }
}
