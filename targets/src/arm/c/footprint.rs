//! Memory report of an emitted model: flash (constant data, and code once a cross compiler has
//! measured it) and RAM (arena, state, stack estimate), per kernel and total, so the CLI can
//! print it and refuse a model over its budget with the numbers.

use std::fmt::Write as _;

/// One kernel's share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelFootprint {
    pub kernel: usize,
    /// Its C function (`snnc_k<i>`).
    pub function: String,
    /// Kind, value names and shapes.
    pub what: String,
    /// Bytes of its constant arrays (weights, biases, per-channel parameters).
    pub const_bytes: usize,
    /// Bytes of its machine code (from `arm-none-eabi-nm`), when measured.
    pub code_bytes: Option<usize>,
}

/// Sizes measured by compiling `model.c` and `weights.c` with `arm-none-eabi-gcc -O2`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeSize {
    /// `text` of `arm-none-eabi-size` over both objects: code plus read-only data (flash).
    pub flash_bytes: usize,
    /// Code alone (`model.o` text minus its read-only data).
    pub code_bytes: usize,
    /// `data + bss`: static RAM (arena and state).
    pub static_ram_bytes: usize,
    /// Deepest stack of a run/step (`-fstack-usage`: the entry's frame plus the largest
    /// kernel frame, plus 32 bytes for `memset`).
    pub stack_bytes: usize,
    /// Code bytes per function, sorted by name.
    pub functions: Vec<(String, usize)>,
}

/// The memory report of one emitted model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Footprint {
    pub kernels: Vec<KernelFootprint>,
    /// Constant values of the plan (not kernel parameters), e.g. a broadcast operand.
    pub const_value_bytes: usize,
    pub arena_bytes: usize,
    pub state_bytes: usize,
    pub code: Option<CodeSize>,
}

/// Stack assumed when no compiler measured it.
pub const STACK_GUESS: usize = 256;

impl Footprint {
    /// Constant data in flash.
    pub fn const_bytes(&self) -> usize {
        self.kernels.iter().map(|k| k.const_bytes).sum::<usize>() + self.const_value_bytes
    }

    /// Flash: measured text when known, else the constant data alone.
    pub fn flash_bytes(&self) -> usize {
        match &self.code {
            Some(c) => c.flash_bytes,
            None => self.const_bytes(),
        }
    }

    /// RAM: arena + state + stack (measured, or the 256-byte guess when not measured).
    pub fn ram_bytes(&self) -> usize {
        self.arena_bytes + self.state_bytes + self.stack_bytes()
    }

    /// Stack estimate used in [`Self::ram_bytes`].
    pub fn stack_bytes(&self) -> usize {
        self.code.as_ref().map_or(STACK_GUESS, |c| c.stack_bytes)
    }

    /// Adds measured sizes (per-kernel code from the function sizes).
    pub fn with_code(mut self, code: CodeSize) -> Self {
        for k in &mut self.kernels {
            k.code_bytes = code
                .functions
                .iter()
                .find(|(f, _)| *f == k.function)
                .map(|(_, b)| *b);
        }
        self.code = Some(code);
        self
    }

    /// A table for the CLI: one line per kernel, then the totals.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{:>8} {:>8}  kernel", "const B", "code B");
        for k in &self.kernels {
            let code = k.code_bytes.map_or("-".to_string(), |b| b.to_string());
            let _ = writeln!(
                s,
                "{:>8} {:>8}  {}: {}",
                k.const_bytes, code, k.function, k.what
            );
        }
        if self.const_value_bytes > 0 {
            let _ = writeln!(
                s,
                "{:>8} {:>8}  constant values",
                self.const_value_bytes, "-"
            );
        }
        let measured = if self.code.is_some() {
            ""
        } else {
            " (constant data only: code not measured)"
        };
        let _ = writeln!(s, "flash: {} bytes{measured}", self.flash_bytes());
        let stack = if self.code.is_some() {
            "measured"
        } else {
            "assumed"
        };
        let _ = writeln!(
            s,
            "ram: {} bytes (arena {} + state {} + stack {} {stack})",
            self.ram_bytes(),
            self.arena_bytes,
            self.state_bytes,
            self.stack_bytes()
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_and_measured_code() {
        let f = Footprint {
            kernels: vec![KernelFootprint {
                kernel: 0,
                function: "snnc_k0".into(),
                what: "DenseBin".into(),
                const_bytes: 100,
                code_bytes: None,
            }],
            const_value_bytes: 8,
            arena_bytes: 64,
            state_bytes: 16,
            code: None,
        };
        assert_eq!(f.const_bytes(), 108);
        assert_eq!(f.flash_bytes(), 108);
        assert_eq!(f.ram_bytes(), 64 + 16 + STACK_GUESS);
        let f = f.with_code(CodeSize {
            flash_bytes: 500,
            code_bytes: 392,
            static_ram_bytes: 80,
            stack_bytes: 40,
            functions: vec![("snnc_k0".into(), 120)],
        });
        assert_eq!(f.kernels[0].code_bytes, Some(120));
        assert_eq!(f.flash_bytes(), 500);
        assert_eq!(f.ram_bytes(), 120);
        assert!(f
            .render()
            .contains("ram: 120 bytes (arena 64 + state 16 + stack 40 measured)"));
    }
}
