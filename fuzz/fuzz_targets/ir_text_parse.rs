//! cargo-fuzz target: see `snnc_fuzz::entry::ir_text_parse` and docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    snnc_fuzz::entry::ir_text_parse(data);
});
