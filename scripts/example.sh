#!/usr/bin/env bash
# Build snnc and run it on the example models (copies of shared/models in tests/models):
# inspect the snnTorch SNN, write its IR, simulate it on the 360 digits test inputs and print the
# accuracy; then the same for the float, binary (QONNX) and int8 (QDQ) ONNX models; then int8
# post-training quantization and ANN-to-SNN conversion of the float model; the SNN on the
# spinnaker2 emulator, and the BNN on Cortex-M4 (QEMU), aarch64 (QEMU) and the host JIT.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p snnc-compiler -p snnc-examples --bins --examples
snnc=target/release/snnc
acc=target/release/examples/accuracy
m=tests/models
out=out/example
mkdir -p "$out"

echo "== snnc inspect $m/snn_mlp/snn_mlp.nir"
"$snnc" inspect "$m/snn_mlp/snn_mlp.nir"
"$snnc" compile "$m/snn_mlp/snn_mlp.nir" --emit ir -o "$out/snn_mlp.ir"
echo "== IR text written to $out/snn_mlp.ir ($(wc -l < "$out/snn_mlp.ir") lines)"

echo "== snnc sim (T = 16, dt = 1e-4, direct input): output spike counts"
"$snnc" sim "$m/snn_mlp/snn_mlp.nir" --input "$m/data/digits_test_x.npy" --steps 16 --dt 1e-4 -o "$out/snn_mlp.npy"
"$acc" "$out/snn_mlp.npy" "$m/data/digits_test_y.npy" "$m/snn_mlp/ref_spike_counts.npy"

for model in ann_mlp/ann_mlp.onnx:ann_mlp/ref_logits.npy \
             bnn_mlp/bnn_mlp.qonnx.onnx:bnn_mlp/ref_logits_qonnx_exec.npy \
             qcnn_int8/qcnn_int8.qcdq.onnx:qcnn_int8/ref_logits_onnxruntime.npy; do
    file=${model%%:*}; ref=${model##*:}; name=$(basename "$file" | cut -d. -f1)
    echo "== snnc sim $file"
    "$snnc" sim "$m/$file" --input "$m/data/digits_test_x.npy" -o "$out/$name.npy"
    "$acc" "$out/$name.npy" "$m/data/digits_test_y.npy" "$m/$ref"
done

echo "== post-training int8 quantization of ann_mlp (calibrated on 256 training images), then its report"
"$snnc" sim "$m/ann_mlp/ann_mlp.onnx" --passes canonicalize,quantize=int8 --calib "$m/data/digits_calib_x.npy" \
    --input "$m/data/digits_test_x.npy" -o "$out/ann_mlp_int8.npy"
"$acc" "$out/ann_mlp_int8.npy" "$m/data/digits_test_y.npy"
"$snnc" report "$m/ann_mlp/ann_mlp.onnx" --passes canonicalize,quantize=int8 --calib "$m/data/digits_calib_x.npy"

echo "== ann_mlp converted to a spiking network (IF neurons, threshold balancing), T = 32"
"$snnc" sim "$m/ann_mlp/ann_mlp.onnx" --passes ann-to-snn --calib "$m/data/digits_calib_x.npy" \
    --input "$m/data/digits_test_x.npy" --steps 32 -o "$out/ann_mlp_snn.npy"
"$acc" "$out/ann_mlp_snn.npy" "$m/data/digits_test_y.npy"

echo "== snn_mlp compiled for spinnaker2 (one SpiNNaker2 chip) and run on the bundled emulator, T = 16"
rm -rf "$out/snn_mlp.s2"
"$snnc" compile "$m/snn_mlp/snn_mlp.nir" --target spinnaker2 -o "$out/snn_mlp.s2"
"$snnc" run "$out/snn_mlp.s2" --input "$m/data/digits_test_x.npy" --steps 16 --reduce none \
    -o "$out/snn_mlp_s2_emu.npy" --report "$out/snn_mlp_s2_run.json"
"$snnc" sim "$m/snn_mlp/snn_mlp.nir" --target spinnaker2 --input "$m/data/digits_test_x.npy" --steps 16 \
    --reduce none -o "$out/snn_mlp_s2_ref.npy"
if cmp -s "$out/snn_mlp_s2_emu.npy" "$out/snn_mlp_s2_ref.npy"; then
    echo "emulator output == reference interpreter on the integer graph (all 360 inputs, every step)"
else
    echo "MISMATCH between emulator and reference" >&2; exit 1
fi
"$snnc" run "$out/snn_mlp.s2" --input "$m/data/digits_test_x.npy" --steps 16 -o "$out/snn_mlp_s2_counts.npy" >/dev/null
"$acc" "$out/snn_mlp_s2_counts.npy" "$m/data/digits_test_y.npy" "$m/snn_mlp/ref_spike_counts.npy"

echo "== bnn_mlp (QONNX) compiled for a Cortex-M4 (C99 library) and run under QEMU (mps2-an386)"
./scripts/install_deps.sh
rm -rf "$out/bnn_mlp.m4" "$out/bnn_mlp.a64"
"$snnc" compile "$m/bnn_mlp/bnn_mlp.qonnx.onnx" --target cortex-m4 -o "$out/bnn_mlp.m4"
"$snnc" run "$out/bnn_mlp.m4" --input "$m/data/digits_test_x.npy" -o "$out/bnn_mlp_m4.npy"
"$snnc" sim "$m/bnn_mlp/bnn_mlp.qonnx.onnx" --target cortex-m4 --input "$m/data/digits_test_x.npy" \
    -o "$out/bnn_mlp_m4_ref.npy"
cmp -s "$out/bnn_mlp_m4.npy" "$out/bnn_mlp_m4_ref.npy" \
    && echo "Cortex-M4 (QEMU) output == reference interpreter on the integer graph (all 360 inputs)" \
    || { echo "MISMATCH between Cortex-M4 and reference" >&2; exit 1; }
"$acc" "$out/bnn_mlp_m4.npy" "$m/data/digits_test_y.npy" "$m/bnn_mlp/ref_logits_qonnx_exec.npy"
echo "== the same model for aarch64 (cranelift ELF object) under qemu-aarch64, and JIT-compiled on this host"
"$snnc" compile "$m/bnn_mlp/bnn_mlp.qonnx.onnx" --target aarch64 -o "$out/bnn_mlp.a64" 2>/dev/null
"$snnc" run "$out/bnn_mlp.a64" --input "$m/data/digits_test_x.npy" -o "$out/bnn_mlp_a64.npy"
"$snnc" run "$out/bnn_mlp.a64" --target host --input "$m/data/digits_test_x.npy" -o "$out/bnn_mlp_host.npy"
cmp -s "$out/bnn_mlp_a64.npy" "$out/bnn_mlp_m4_ref.npy" && cmp -s "$out/bnn_mlp_host.npy" "$out/bnn_mlp_m4_ref.npy" \
    && echo "aarch64 (QEMU) and host JIT outputs == reference" \
    || { echo "MISMATCH between aarch64/host and reference" >&2; exit 1; }
