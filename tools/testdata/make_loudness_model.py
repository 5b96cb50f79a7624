"""Builds tests/data/loudness.onnx: a tiny stand-in with the anger model's
contract (input `audio` [N, 16000] float32, output `anger_logit` [N]) whose
logit is the window's log energy, so tests can predict its output exactly.
Run: python tools/testdata/make_loudness_model.py  (needs the `onnx` package)."""
import hashlib
import pathlib

import onnx
from onnx import TensorProto, helper

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "loudness.onnx"

graph = helper.make_graph(
    [
        helper.make_node("Mul", ["audio", "audio"], ["power"]),
        helper.make_node("ReduceMean", ["power"], ["mean_power"], axes=[1], keepdims=0),
        helper.make_node("Add", ["mean_power", "eps"], ["floored"]),
        helper.make_node("Log", ["floored"], ["anger_logit"]),
    ],
    "loudness",
    [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", 16000])],
    [helper.make_tensor_value_info("anger_logit", TensorProto.FLOAT, ["batch"])],
    initializer=[
        helper.make_tensor("eps", TensorProto.FLOAT, [], [1e-10]),
    ],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="voicegate-tests")
model.ir_version = 8
onnx.checker.check_model(model)
OUT.write_bytes(model.SerializeToString())
print(OUT, hashlib.sha256(OUT.read_bytes()).hexdigest())
