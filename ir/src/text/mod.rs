//! The text form of the IR: a deterministic printer and a parser that reads its output back.
//!
//! Snapshot tests compare printed graphs, filetests are written in it, and `snnc compile --emit
//! ir` shows it to users, so it has to be stable (the same graph always prints the same bytes),
//! exact (`parse(print(g))` is `g`, floats bit for bit) and readable (one node per line, in the
//! style of Cranelift and MLIR):
//!
//! ```text
//! graph "ann_mlp" {
//!   n0 = input 0 "x" : f32[1,64]
//!   n1 = const "0.weight" : f32[128,64] = [0.1, -0.25, ...]
//!   n2 = const "0.bias" : f32[128] = [0.0, ...]
//!   n3 = gemm(n0, n1, n2) {alpha = 1.0, beta = 1.0, trans_a = false, trans_b = true} "/0/Gemm" : f32[1,128]
//!   n4 = add(n3, ^n5) "rec" : f32[1,128]
//!   n5 = lif(n4) {tau = f32[] [0.002], ..., reset = to_value} "lif1" : f32[1,128]
//!   n6 = output 0 (n5) "logits" : f32[1,128]
//! }
//! ```
//!
//! # Grammar
//!
//! ```text
//! file     = "graph" STRING "{" node* "}"
//! node     = LABEL "=" OPNAME [INDEX] ["(" [operand {"," operand}] ")"]
//!            ["{" [attr {"," attr}] "}"] STRING [":" type] ["=" data]
//! operand  = [SLOT ":"] ["^"] LABEL     -- "^": recurrent edge (value of the previous step)
//! attr     = IDENT "=" value
//! value    = NUMBER | WORD | "[" [atom {"," atom}] "]" | tensor
//! type     = DTYPE shape ["quant" "{" attr {"," attr} "}"]
//! shape    = "[" [INT {"," INT}] "]"
//! tensor   = DTYPE shape elements
//! data     = elements | tensor          -- const only; bare elements take the node's type
//! elements = "[" [NUMBER {"," NUMBER}] "]" | "elided" "(" ... ")"
//! ```
//!
//! - `LABEL` is an identifier; the printer writes `n0, n1, ...` in [`crate::Graph::topo_order`]
//!   order (ids are renumbered densely), and the parser creates nodes in file order. Operands may
//!   name a later node (recurrent edges do). `INDEX` follows `input` and `output` only, and only
//!   `const` has `= data`.
//! - Operands fill slots 0, 1, 2, ... in order; a `SLOT:` prefix is printed only for a graph
//!   whose slots are not dense, so that even an invalid graph round-trips for the verifier.
//! - `STRING` is double-quoted with escapes `\"`, `\\`, `\n`, `\r`, `\t`, `\u{hex}`; any other
//!   character, Unicode included, stands for itself. Every node has a name string.
//! - `OPNAME` is [`crate::Op::name`]. Every attribute of the op is printed, and required when
//!   parsing, in any order. Enumerations are words: pool `kind` (`max`, `avg`, `sum`),
//!   `rounding` (`half_even`, `half_up`, `half_down`, `ceil`, `floor`, `toward_zero`,
//!   `away_from_zero`), `reset` (`to_value`, `subtract`), `out` (a dtype); a missing Clip
//!   bound is `none`.
//! - Floats: finite values in Rust's shortest round-trip spelling (`0.1`, `-0.0`, `1e-45`),
//!   `inf`, `-inf`, `nan` (the canonical quiet NaN), `-nan`, and any other NaN by its bits,
//!   `nan:0x7fa00001`. Clip bounds are f64 and use the same spellings.
//! - Tensor elements are flat in row-major order. Element counts must match the shape, and
//!   integers must lie in their dtype's range.
//! - A type's quantization: `quant {scale = [..], zero_point = [..], axis = none | INT,
//!   bits = INT, signed = BOOL, narrow = BOOL}`.
//! - `//` starts a comment that runs to the end of the line.
//!
//! With [`PrintOptions::elide_consts_over`], a tensor (constant or tensor attribute) with more
//! elements than the limit prints as
//! `elided(len=N, sum=S, min=A, max=B, fnv=0x0123456789abcdef)`: its element count, sum,
//! min and max (NaNs skipped), and a 64-bit FNV-1a hash of the exact element bits. Such a text is
//! for reading and snapshots only; parsing it fails with a message saying so.
//!
//! The parser checks syntax only; [`crate::verify()`] checks the graph. Errors are
//! [`crate::IrError::Parse`] with a 1-based line and column (counted in characters).

mod attrs;
mod digest;
mod lexer;
mod literal;
mod parse;
mod print;

#[cfg(test)]
mod tests;

pub use parse::parse;
pub use print::print;
pub(crate) use print::type_to_string;

/// How to print a graph.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrintOptions {
    /// Print a digest instead of the elements of every tensor with more elements than this
    /// (for snapshots of large models). `None`, the default, prints everything, and only such a
    /// text parses back.
    pub elide_consts_over: Option<usize>,
}
