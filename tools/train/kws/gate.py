"""The keyword detector's gate: the detector's first network alone, cut
out of models/kws.onnx (its front end and that network's layers, nothing
retrained), run on every window with speech. The whole detector, and the
verifier after it, then run only on the windows where the gate hears a
word at all: a word is its top class, or its highest P of a word reaches
BAR. Elsewhere the gate's logits stand in for the detector's; such a
window cannot fire (every detector threshold is far above BAR), but it
enters the next window's average. `python -m kws.cascade` measured the
bars on real speech.
"""
import onnx

from .vocab import CLASSES

MEMBER = "member0_logits"
OUTPUT = "gate_logits"
FILE = "kws-gate.onnx"
BAR = 0.05


def cut(detector):
    """The gate graph: the nodes `detector` needs for its first network's logits."""
    graph = detector.graph
    producer = {output: node for node in graph.node for output in node.output}
    needed, wanted = set(), [MEMBER]
    while wanted:
        node = producer.get(wanted.pop())
        if node is not None and id(node) not in needed:
            needed.add(id(node))
            wanted += list(node.input)
    nodes = [node for node in graph.node if id(node) in needed]
    nodes.append(onnx.helper.make_node("Identity", [MEMBER], [OUTPUT]))
    used = {name for node in nodes for name in node.input}
    output = onnx.helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT, ["batch", len(CLASSES)])
    gate = onnx.helper.make_graph(nodes, "kws_gate", list(graph.input), [output],
                                  [tensor for tensor in graph.initializer if tensor.name in used])
    model = onnx.helper.make_model(gate, opset_imports=detector.opset_import, ir_version=detector.ir_version)
    onnx.checker.check_model(model)
    return model
