#!/usr/bin/env bash
# Run snnc's cargo-fuzz targets (docs/fuzzing.md). Needs a nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`); on a stable-only machine the corpus is still replayed by
# `cargo test -p snnc-compiler --test fuzz_replay`.
#
#   fuzz/run.sh smoke            every target for 20 s (what CI runs when nightly is available)
#   fuzz/run.sh long [SECONDS]   every target for SECONDS (default 600), one after the other
#   fuzz/run.sh merge [TARGET..] corpus/ + work/ (what runs found) minimized into corpus/ (-merge=1),
#                                beyond what seeds/ covers
#   fuzz/run.sh one TARGET SECONDS
set -euo pipefail
cd "$(dirname "$0")"
TARGETS=(onnx_import nir_import ir_text_parse artifact_load)
if ! cargo +nightly --version >/dev/null 2>&1 || ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: needs a nightly toolchain and cargo-fuzz; skipped (the stable replay test still runs the corpus)" >&2
    exit 0
fi
# Debug assertions and overflow checks stay on (cargo-fuzz's default without -O).
run() {
    local target=$1 secs=$2
    mkdir -p "corpus/$target" "work/$target" "artifacts/$target"
    # New inputs go to work/ (not committed); `merge` decides what enters corpus/.
    cargo +nightly fuzz run "$target" "work/$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=131072 \
        -artifact_prefix="artifacts/$target/" -print_final_stats=1
}
# The committed corpus stays small (docs/fuzzing.md): only inputs up to max_bytes TARGET are
# candidates, and what the seeds already cover is not added again.
max_bytes() {
    case $1 in
        nir_import) echo 4096 ;;
        onnx_import) echo 2048 ;;
        *) echo 1024 ;;
    esac
}
merge() {
    local target=$1 out cand limit
    limit=$(max_bytes "$target")
    out=$(mktemp -d)
    cand=$(mktemp -d)
    mkdir -p "work/$target" "corpus/$target"
    cp "seeds/$target"/* "$out/"
    find "corpus/$target" "work/$target" -type f -size -"$((limit + 1))"c -exec cp -f {} "$cand/" \;
    cargo +nightly fuzz run "$target" "$out" "$cand" -- \
        -merge=1 -rss_limit_mb=2048 -timeout=10 -max_len=131072
    for f in "seeds/$target"/*; do rm -f "$out/$(basename "$f")"; done
    rm -rf "corpus/$target" "$cand"
    mv "$out" "corpus/$target"
}
case "${1:-smoke}" in
    smoke) for t in "${TARGETS[@]}"; do run "$t" "${2:-20}"; done ;;
    long) for t in "${TARGETS[@]}"; do run "$t" "${2:-600}"; done ;;
    merge)
        shift
        for t in "${@:-${TARGETS[@]}}"; do merge "$t"; done
        ;;
    one) run "$2" "$3" ;;
    *) echo "usage: fuzz/run.sh smoke | long [SECONDS] | merge [TARGET..] | one TARGET SECONDS" >&2; exit 2 ;;
esac
