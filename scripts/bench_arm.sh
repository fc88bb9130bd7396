#!/usr/bin/env bash
# Issue 5 closing-note benchmarks of the ARM targets (results: notes/arm_bench.md).
#   scripts/bench_arm.sh [ROUNDS] [SECONDS_PER_MODEL]     (defaults 3 and 3)
# 1. host-JIT (cranelift) vs onnxruntime float twins, batch 1, one thread, alternating rounds;
# 2. executed instructions per inference under QEMU: cortex-m4 (snnc run) and aarch64
#    (arm_jit_bench count-aarch64), on the 360 digits inputs;
# 3. cortex-m4 flash vs the packed-weight lower bound.
# Env: SNNC_BENCH_SKIP=timing|counts|memory (comma list) skips parts; KEEP=1 keeps the work dir.
set -euo pipefail
ROUNDS=${1:-3}
SECS=${2:-3}
SKIP=${SNNC_BENCH_SKIP:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
M=/work/shared/models
DATA=$M/data/digits_test_x.npy
W=$(mktemp -d /tmp/snnc-bench-arm.XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$W"' EXIT
cd "$ROOT"
cargo build --release -q -p snnc-compiler
cargo build --release -q -p snnc-targets --example arm_jit_bench
SNNC=$ROOT/target/release/snnc
BENCH=$ROOT/target/release/examples/arm_jit_bench
ORT="python3 $ROOT/scripts/bench_arm_ort.py"
skip() { [[ ",$SKIP," == *",$1,"* ]]; }

if ! skip timing; then
  echo "== 1. host JIT vs onnxruntime float (batch 1, one thread; $ROUNDS rounds x ${SECS}s per model)"
  $ORT make "$W/ort"
  for r in $(seq "$ROUNDS"); do
    echo "-- round $r"
    "$BENCH" bench "$SECS" | tee -a "$W/timing.txt"
    $ORT bench "$W/ort" "$SECS" | tee -a "$W/timing.txt"
  done
  python3 - "$W/timing.txt" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if line.startswith("RESULT "):
        _, impl, key, med, mn, _n = line.split()
        rows.setdefault((impl, key), []).append((float(med), float(mn)))
def agg(impl, key):
    v = rows.get((impl, key), [])
    meds = [m for m, _ in v]
    return statistics.median(meds), min(meds), max(meds), min(x for _, x in v)
print("\n| model | runtime | median of round medians (us) | round medians range (us) | min (us) |")
print("|---|---|---:|---:|---:|")
pairs = [("bnn_mlp 64-256-256-10", "bnn_mlp", "bnn_mlp"),
         ("binary 64-256-256-10 (synthetic)", "bin_64_256_256_10", "bnn_mlp"),
         ("binary 1024-4096-4096-10", "bin_1024_4096_4096_10", "bin_1024_4096_4096_10")]
for name, jk, ok in pairs:
    j, o = agg("jit", jk), agg("ort", ok)
    print(f"| {name} | snnc host JIT (binary) | {j[0]:.2f} | {j[1]:.2f}-{j[2]:.2f} | {j[3]:.2f} |")
    print(f"| float twin {ok} | onnxruntime 1 thread | {o[0]:.2f} | {o[1]:.2f}-{o[2]:.2f} | {o[3]:.2f} |")
    print(f"| **ratio ort/jit** | | **{o[0]/j[0]:.1f}x** | | **{o[3]/j[3]:.1f}x** |")
i = agg("ort", "identity_64")
print(f"| Identity [1,64] (ort per-call floor) | onnxruntime 1 thread | {i[0]:.2f} | {i[1]:.2f}-{i[2]:.2f} | {i[3]:.2f} |")
PY
fi

if ! skip counts; then
  echo "== 2. executed instructions per inference/step under QEMU (360 digits inputs)"
  python3 - "$DATA" "$W" <<'PY'
import numpy as np, sys
x = np.load(sys.argv[1]).astype("<f4")
x.tofile(sys.argv[2] + "/x_ff.bin")                              # [360, 64]
x.reshape(360, 1, 1, 8, 8).tofile(sys.argv[2] + "/x_cnn.bin")     # same bytes, [1,1,8,8] per sample
np.repeat(x[:, None, :], 16, axis=1).tofile(sys.argv[2] + "/x_snn.bin")  # T = 16 steps of the same input
PY
  declare -A SRC=(
    [bnn_mlp]="$M/bnn_mlp/bnn_mlp.qonnx.onnx"
    [qcnn_int8]="$M/qcnn_int8/qcnn_int8.qcdq.onnx"
    [ann_mlp_int8]="$M/ann_mlp/ann_mlp.onnx --passes canonicalize,quantize=int8 --calib $M/data/digits_calib_x.npy"
    [snn_mlp]="$M/snn_mlp/snn_mlp.nir"
  )
  echo "| model | target | samples x steps | model instructions | per inference (per step for snn) |"
  echo "|---|---|---|---:|---:|"
  for m in bnn_mlp qcnn_int8 ann_mlp_int8 snn_mlp; do
    T=1; IN=$W/x_ff.bin
    [ "$m" = snn_mlp ] && { T=16; IN=$W/x_snn.bin; }
    [ "$m" = qcnn_int8 ] && IN=$W/x_cnn.bin
    # shellcheck disable=SC2086
    $SNNC compile ${SRC[$m]} --target cortex-m4 -o "$W/$m.m4" 2>"$W/$m.m4.log"
    # shellcheck disable=SC2086
    $SNNC compile ${SRC[$m]} --target aarch64 -o "$W/$m.a64" 2>"$W/$m.a64.log"
    $SNNC run "$W/$m.m4" --input "$DATA" --steps "$T" -o "$W/$m.m4.npy" --report "$W/$m.m4.json" >/dev/null
    python3 - "$W/$m.m4.json" "$m" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]} | cortex-m4 (qemu-system-arm mps2-an386) | {r['samples']} x {r['steps']} | {r['instructions_model']} | {r['instructions_per_step']:.1f} |")
PY
    line=$("$BENCH" count-aarch64 "$W/$m.a64" "$IN" 360 "$T")
    read -r _ _ total _ per _ <<<"$line"
    echo "| $m | aarch64 (qemu-aarch64) | 360 x $T | $total | $per |"
  done
  echo "(cortex-m4 binary MACs per instruction of bnn_mlp's 256x256 binary layer alone:"
  echo " cargo test --release -p snnc-targets --test arm_c binary_layer_macs_per_instruction -- --nocapture)"
fi

if ! skip memory; then
  echo "== 3. cortex-m4 flash vs the packed-weight lower bound"
  "$BENCH" write-ir "$W/ir" >/dev/null
  echo "| model | flash bytes | weights lower bound bytes | flash / bound | all constants bound bytes | flash / that |"
  echo "|---|---:|---:|---:|---:|---:|"
  for pair in "bnn_mlp:$M/bnn_mlp/bnn_mlp.qonnx.onnx" "bin_64_256_256_10:$W/ir/bin_64_256_256_10.ir" "bin_1024_4096_4096_10:$W/ir/bin_1024_4096_4096_10.ir"; do
    m=${pair%%:*}; src=${pair#*:}
    $SNNC compile "$src" --target cortex-m4 --flash 64M --ram 64M -o "$W/$m.mem" 2>"$W/$m.mem.log"
    flash=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['memory']['flash_bytes'])" "$W/$m.mem/manifest.json")
    read -r _ _ wb _ ab <<<"$("$BENCH" lower-bound "$W/$m.mem/model.ir" | grep LOWER_BOUND)"
    python3 -c "import sys; f,w,a=map(int,sys.argv[2:]); print(f'| {sys.argv[1]} | {f} | {w} | {f/w:.3f} | {a} | {f/a:.3f} |')" "$m" "$flash" "$wb" "$ab"
  done
fi
