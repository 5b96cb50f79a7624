"""The keyword spotter as one ONNX graph: 1.0 s of raw 8 kHz samples in,
class logits out.

Front end (the anger model's framing, DFT kernels and mel filters):
25 ms frames every 10 ms as a Conv1d with fixed Hann-windowed cos/sin
kernels over the 300-3400 Hz bins, power, 40 mel bands, log, then the
window's mean subtracted from every band: a gain or a line's frequency
response is a constant per band in the log domain, so this removes both.
Training computes its features with this very graph, so Rust and Python
see the same numbers.

Classifier: five 1-D convolutions over time (mel bands as channels) with
batch norm folded in, ReLU, then the mean and the max over time and a
linear layer to the logits. The detector (models/kws.onnx) and the
verifier (models/kws-verifier.onnx) are each such a graph.
"""
import numpy as np
from onnx import TensorProto, helper, numpy_helper

from anger.frontend import FRAME, FRAME_HOP, N_MELS, graph_model, log_mel_nodes

SAMPLE_RATE = 8000
WINDOW = 8000                       # 1.0 s
FRAMES = (WINDOW - FRAME) // FRAME_HOP + 1
LOG_FLOOR = 1e-6                    # about -90 dB below a full-scale bin: digital silence and lost packets stay finite


def front_end_nodes():
    """Nodes and initializers from `audio` [N, WINDOW] to `features` [N, N_MELS, FRAMES]."""
    nodes, init = log_mel_nodes(WINDOW, LOG_FLOOR)
    n = helper.make_node
    nodes += [
        n("ReduceMean", ["logmel"], ["band_mean"], axes=[2], keepdims=1),      # [N, M, 1]
        n("Sub", ["logmel", "band_mean"], ["features"]),                       # [N, M, T]
    ]
    return nodes, init


def classifier_nodes(layers, head_weight, head_bias, name):
    """One classifier, its tensors prefixed with `name`: `layers` is a list
    of (weight [O, I, K], bias [O], stride) with batch norm already folded
    in; `head_*` the linear layer over [mean, max] pooling. Output: `name`."""
    n = helper.make_node
    nodes, init, current = [], [], "features"
    for index, (weight, bias, stride) in enumerate(layers):
        k = weight.shape[-1]
        conv = f"{name}_conv{index}"
        init += [numpy_helper.from_array(weight.astype(np.float32), f"{conv}_w"),
                 numpy_helper.from_array(bias.astype(np.float32), f"{conv}_b")]
        nodes += [
            n("Conv", [current, f"{conv}_w", f"{conv}_b"], [conv], strides=[stride], pads=[k // 2, k // 2]),
            n("Relu", [conv], [f"{name}_act{index}"]),
        ]
        current = f"{name}_act{index}"
    init += [numpy_helper.from_array(head_weight.astype(np.float32), f"{name}_head_w"),
             numpy_helper.from_array(head_bias.astype(np.float32), f"{name}_head_b")]
    nodes += [
        n("ReduceMean", [current], [f"{name}_pool_mean"], axes=[2], keepdims=0),
        n("ReduceMax", [current], [f"{name}_pool_max"], axes=[2], keepdims=0),
        n("Concat", [f"{name}_pool_mean", f"{name}_pool_max"], [f"{name}_pooled"], axis=1),
        n("Gemm", [f"{name}_pooled", f"{name}_head_w", f"{name}_head_b"], [name], transB=1),
    ]
    return nodes, init


def build(classifiers=(), n_classes=None, output="keyword_logits"):
    """The front end alone (output `features`), or a whole stage ending in
    `output` [batch, n_classes]: the mean of the logits of `classifiers`,
    each a (layers, head_weight, head_bias) of one network. The detector and
    the verifier are separate graphs (ONNX Runtime runs every node of a
    graph whatever outputs are asked for), so that the gateway runs the
    verifier only on the detector's candidates."""
    nodes, init = front_end_nodes()
    graph_output = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", N_MELS, FRAMES])
    if classifiers:
        members = [f"member{i}_logits" for i in range(len(classifiers))]
        for classifier, member in zip(classifiers, members):
            more_nodes, more_init = classifier_nodes(*classifier, member)
            nodes += more_nodes
            init += more_init
        nodes.append(helper.make_node("Mean", members, [output]))
        graph_output = helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", n_classes])
    return graph_model("kws", nodes, init, WINDOW, graph_output)
