#!/usr/bin/env bash
# The test command of the README and of CI: formatting, lints, docs, and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# Cross compilers and QEMU for the ARM targets' tests (installed when missing).
./scripts/install_deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# Fuzz smoke: each cargo-fuzz target for 10 s when a nightly toolchain with cargo-fuzz is
# installed (fuzz/run.sh says so and skips otherwise; the stable replay test above runs the
# corpus and 3,000 mutations per target either way, docs/fuzzing.md).
if ! fuzz/run.sh smoke 10 >"$log.fuzz" 2>&1; then
    tail -n 40 "$log.fuzz"
    echo "fuzz smoke: a target failed (inputs in fuzz/artifacts/)"
    status=1
else
    grep -E "skipped|^Done" "$log.fuzz" || true
fi
rm -f "$log.fuzz"
# One closing line over all test binaries (cargo prints one `test result:` line per binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "summary: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
