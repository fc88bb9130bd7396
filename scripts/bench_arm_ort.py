#!/usr/bin/env python3
"""onnxruntime side of scripts/bench_arm.sh (issue 5 closing note).

  bench_arm_ort.py make DIR            write the float twins as DIR/<key>.onnx
  bench_arm_ort.py bench DIR SECONDS   time each twin, batch 1, one thread

Float twins of the binary MLPs timed by targets/examples/arm_jit_bench.rs: the same layer sizes
as float Gemm (+ ReLU after every hidden layer), random normal weights and biases, input x
float32[1, n_in]. Session: intra_op_num_threads=1, inter_op_num_threads=1, sequential
execution, all graph optimisations. Method (the same as the Rust example): after warm-up calls,
batches of back-to-back `run` calls, the batch size doubled until a batch takes >= 2 ms; each
batch gives one time per call; median and minimum over the batches of the time budget. Also
times an Identity model of the small input: the per-call floor of onnxruntime's Python binding.
Prints `RESULT ort <key> <median_us> <min_us> <batches>` lines.
"""
import os
import sys
import time

import numpy as np

MODELS = {
    "bnn_mlp": [64, 256, 256, 10],
    "bin_1024_4096_4096_10": [1024, 4096, 4096, 10],
    "identity_64": None,
}


def make(out_dir):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(20261123)
    for key, sizes in MODELS.items():
        if sizes is None:
            x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])
            y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])
            graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], key, [x], [y])
        else:
            nodes, inits = [], []
            h = "x"
            for layer, (k, n) in enumerate(zip(sizes[:-1], sizes[1:])):
                w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
                b = (0.1 * rng.standard_normal(n)).astype(np.float32)
                inits += [numpy_helper.from_array(w, f"w{layer}"), numpy_helper.from_array(b, f"b{layer}")]
                out = f"g{layer}"
                nodes.append(helper.make_node("Gemm", [h, f"w{layer}", f"b{layer}"], [out], transB=1))
                h = out
                if layer + 2 < len(sizes):
                    nodes.append(helper.make_node("Relu", [h], [f"r{layer}"]))
                    h = f"r{layer}"
            nodes[-1].output[0] = "y"
            x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, sizes[0]])
            y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, sizes[-1]])
            graph = helper.make_graph(nodes, key, [x], [y], initializer=inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        onnx.checker.check_model(model)
        onnx.save(model, os.path.join(out_dir, f"{key}.onnx"))


def session(path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def bench(in_dir, seconds):
    rng = np.random.default_rng(7)
    for key in MODELS:
        sess = session(os.path.join(in_dir, f"{key}.onnx"))
        shape = sess.get_inputs()[0].shape
        x = {"x": rng.random(shape, dtype=np.float32)}
        run = sess.run
        for _ in range(3):
            run(None, x)
        per_call = []
        start = time.perf_counter()
        batch = 1
        while time.perf_counter() - start < seconds or len(per_call) < 5:
            t = time.perf_counter()
            for _ in range(batch):
                run(None, x)
            e = time.perf_counter() - t
            if e < 2e-3:
                batch *= 2
                continue
            per_call.append(e / batch)
        per_call.sort()
        med, mn = per_call[len(per_call) // 2], per_call[0]
        print(f"{key:<26} median {med * 1e6:9.2f} us  min {mn * 1e6:9.2f} us  (onnxruntime float)")
        print(f"RESULT ort {key} {med * 1e6:.3f} {mn * 1e6:.3f} {len(per_call)}", flush=True)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "make":
        make(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "bench":
        bench(sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 3.0)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
