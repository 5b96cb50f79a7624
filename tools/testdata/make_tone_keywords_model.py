"""Builds tests/data/tone_keywords.onnx: a tiny stand-in with the keyword
model's contract (input `audio` [N, 8000] float32, output `keyword_logits`
[N, 4] over _silence_, _unknown_, agent, 人工) that "hears" a word as a tone:
700 Hz is "agent", 1100 Hz is "人工". Each word's logit is the log power of
the window at its frequency (a fixed DFT row), `_unknown_`'s the log of the
window's total power, `_silence_`'s a constant, so tests can make audio that
gives a known detection. Run: python tools/testdata/make_tone_keywords_model.py
(needs the `onnx` and `numpy` packages, e.g. .venv-train)."""
import hashlib
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "tone_keywords.onnx"
RATE, WINDOW = 8000, 8000
WORD_HZ = [700.0, 1100.0]

t = np.arange(WINDOW) / RATE
cosines = np.stack([np.cos(2 * np.pi * f * t) for f in WORD_HZ], axis=1).astype(np.float32)
sines = np.stack([np.sin(2 * np.pi * f * t) for f in WORD_HZ], axis=1).astype(np.float32)

graph = helper.make_graph(
    [
        helper.make_node("MatMul", ["audio", "cosines"], ["re"]),
        helper.make_node("MatMul", ["audio", "sines"], ["im"]),
        helper.make_node("Mul", ["re", "re"], ["re2"]),
        helper.make_node("Mul", ["im", "im"], ["im2"]),
        helper.make_node("Add", ["re2", "im2"], ["tone_power"]),
        helper.make_node("Add", ["tone_power", "eps"], ["tone_floored"]),
        helper.make_node("Log", ["tone_floored"], ["word_logits"]),
        helper.make_node("Mul", ["audio", "audio"], ["power"]),
        helper.make_node("ReduceSum", ["power", "axis1"], ["total_power"], keepdims=1),
        helper.make_node("Add", ["total_power", "eps"], ["total_floored"]),
        helper.make_node("Log", ["total_floored"], ["unknown_logit"]),
        helper.make_node("Mul", ["unknown_logit", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "silence"], ["silence_logit"]),
        helper.make_node("Concat", ["silence_logit", "unknown_logit", "word_logits"], ["keyword_logits"], axis=1),
    ],
    "tone_keywords",
    [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", WINDOW])],
    [helper.make_tensor_value_info("keyword_logits", TensorProto.FLOAT, ["batch", 4])],
    initializer=[
        numpy_helper.from_array(cosines, "cosines"),
        numpy_helper.from_array(sines, "sines"),
        helper.make_tensor("eps", TensorProto.FLOAT, [], [1e-6]),
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("silence", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
    ],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="voicegate-tests")
model.ir_version = 8
onnx.checker.check_model(model)
OUT.write_bytes(model.SerializeToString())
print(OUT, hashlib.sha256(OUT.read_bytes()).hexdigest())
