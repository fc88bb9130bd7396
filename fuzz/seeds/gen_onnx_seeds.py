"""Tiny ONNX models, one per op family snnc reads, as fuzz seeds (docs/fuzzing.md).

Run from fuzz/: python3 seeds/gen_onnx_seeds.py corpus/onnx_import
"""
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
F = TensorProto.FLOAT


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def save(name, nodes, inputs, outputs, inits, opset=17, extra_opsets=()):
    g = helper.make_graph(nodes, name, inputs, outputs, inits)
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in extra_opsets]
    m = helper.make_model(g, opset_imports=ops, producer_name="snnc-fuzz-seed")
    m.ir_version = 8
    onnx.save(m, f"{out}/seed_{name}.onnx")


rng = np.random.default_rng(0)
w = lambda *s: rng.standard_normal(s).astype(np.float32).round(2)

# Gemm + Relu + Add + Clip
save("gemm", [
    helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1, name="fc"),
    helper.make_node("Relu", ["h"], ["r"]),
    helper.make_node("Add", ["r", "b"], ["a"]),
    helper.make_node("Clip", ["a", "lo", "hi"], ["y"]),
], [helper.make_tensor_value_info("x", F, [1, 4])],
   [helper.make_tensor_value_info("y", F, [1, 3])],
   [init("w", w(3, 4)), init("b", w(3)), init("lo", np.float32(0)), init("hi", np.float32(6))])

# Conv + BatchNorm + MaxPool + AveragePool + GlobalAveragePool + Flatten + MatMul
save("conv", [
    helper.make_node("Conv", ["x", "k", "kb"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
    helper.make_node("BatchNormalization", ["c", "s", "bb", "mu", "var"], ["n"]),
    helper.make_node("MaxPool", ["n"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("AveragePool", ["p"], ["q"], kernel_shape=[2, 2], strides=[1, 1]),
    helper.make_node("GlobalAveragePool", ["q"], ["g"]),
    helper.make_node("Flatten", ["g"], ["f"], axis=1),
    helper.make_node("MatMul", ["f", "m"], ["y"]),
], [helper.make_tensor_value_info("x", F, [1, 1, 6, 6])],
   [helper.make_tensor_value_info("y", F, [1, 2])],
   [init("k", w(2, 1, 3, 3)), init("kb", w(2)), init("s", np.ones(2, np.float32)), init("bb", w(2)),
    init("mu", w(2)), init("var", np.ones(2, np.float32)), init("m", w(2, 2))])

# QDQ: QuantizeLinear/DequantizeLinear around a Conv, GlobalMaxPool, Reshape
save("qdq", [
    helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
    helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xd"]),
    helper.make_node("DequantizeLinear", ["wq", "sw", "zw"], ["wd"]),
    helper.make_node("Conv", ["xd", "wd"], ["c"], kernel_shape=[2, 2]),
    helper.make_node("GlobalMaxPool", ["c"], ["g"]),
    helper.make_node("Reshape", ["g", "shape"], ["y"]),
], [helper.make_tensor_value_info("x", F, [1, 1, 3, 3])],
   [helper.make_tensor_value_info("y", F, [1, 2])],
   [init("sx", np.float32(0.05)), init("zx", np.int8(0)),
    init("wq", rng.integers(-127, 127, (2, 1, 2, 2)).astype(np.int8)), init("sw", np.float32(0.01)),
    init("zw", np.int8(0)), init("shape", np.array([1, 2], np.int64))])

# QONNX: Quant, BipolarQuant, Trunc, Sign, Mul, Sub, Div, Identity, Dropout, Constant
Q = "qonnx.custom_op.general"
save("qonnx", [
    helper.make_node("Quant", ["x", "qs", "qz", "qb"], ["xq"], domain=Q, signed=1, narrow=0, rounding_mode="ROUND"),
    helper.make_node("BipolarQuant", ["w", "qs"], ["wb"], domain=Q),
    helper.make_node("MatMul", ["xq", "wb"], ["h"]),
    helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.float32(2.0))),
    helper.make_node("Mul", ["h", "c"], ["h2"]),
    helper.make_node("Sub", ["h2", "c"], ["h3"]),
    helper.make_node("Div", ["h3", "c"], ["h4"]),
    helper.make_node("Identity", ["h4"], ["h5"]),
    helper.make_node("Dropout", ["h5"], ["h6"]),
    helper.make_node("Trunc", ["h6", "qs", "qz", "qb", "tb"], ["h7"], domain=Q, rounding_mode="FLOOR"),
    helper.make_node("Sign", ["h7"], ["y"]),
], [helper.make_tensor_value_info("x", F, [1, 4])],
   [helper.make_tensor_value_info("y", F, [1, 3])],
   [init("qs", np.float32(1.0)), init("qz", np.float32(0)), init("qb", np.float32(8)), init("tb", np.float32(4)),
    init("w", w(4, 3))], extra_opsets=[Q])
