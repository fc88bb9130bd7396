//! cargo-fuzz target: see `snnc_fuzz::entry::onnx_import` and docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    snnc_fuzz::entry::onnx_import(data);
});
