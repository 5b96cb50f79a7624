"""The anger model as one ONNX graph: raw 8 kHz samples in, a logit out.

The feature front end lives inside the graph so the gateway (Rust, ort) and
training (Python, onnxruntime) compute exactly the same features: training
extracts features by running the front-end graph itself.

Front end, per 2 s window:
  framing + DFT as a Conv1d with fixed Hann-windowed cos/sin kernels
  (25 ms frames, 10 ms hop), only the 300-3400 Hz telephone band;
  power -> 40 mel bands -> log;
  level normalisation: subtract the window's mean log energy (gain-free);
  pooled statistics over time: per-band mean (spectral shape and tilt),
  per-band standard deviation (dynamics), per-band peak above the mean, per-band
  mean absolute frame-to-frame change (spectral flux), and the spread and flux of the frame energy.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SAMPLE_RATE = 8000
WINDOW = 16000          # 2.0 s
HOP_S = 0.5             # the gateway scores a window every 0.5 s
FRAME = 200             # 25 ms
FRAME_HOP = 80          # 10 ms
N_MELS = 40
BAND = (300.0, 3400.0)
LOG_FLOOR = 1e-8
OPSET = 17


def dft_kernels():
    """Hann-windowed cos and sin kernels for the DFT bins inside the band."""
    bin_hz = SAMPLE_RATE / FRAME
    bins = np.arange(int(np.ceil(BAND[0] / bin_hz)), int(np.floor(BAND[1] / bin_hz)) + 1)
    n = np.arange(FRAME)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / FRAME)
    phase = 2 * np.pi * np.outer(bins, n) / FRAME
    kernels = np.concatenate([np.cos(phase) * hann, -np.sin(phase) * hann])
    return kernels[:, None, :].astype(np.float32), bins * bin_hz


def mel_matrix(freqs):
    """Triangular mel filters over the band, one row per mel band."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    inv = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)
    edges = inv(np.linspace(mel(BAND[0]), mel(BAND[1]), N_MELS + 2))
    weights = np.zeros((N_MELS, len(freqs)), dtype=np.float32)
    for m in range(N_MELS):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        rising = (freqs - lo) / (mid - lo)
        falling = (hi - freqs) / (hi - mid)
        weights[m] = np.clip(np.minimum(rising, falling), 0.0, None)
    # Narrow low bands may catch no bin: give each its nearest bin.
    for m in np.where(weights.sum(axis=1) == 0)[0]:
        weights[m, np.argmin(np.abs(freqs - edges[m + 1]))] = 1.0
    return weights


FEATURES = 4 * N_MELS + 2


def log_mel_nodes(window, log_floor):
    """Nodes and initializers from `audio` [N, window] to `logmel` [N, M, T]:
    the spectrum both models start from (the keyword model shares it)."""
    kernels, freqs = dft_kernels()
    n_bins = len(freqs)
    init = [
        numpy_helper.from_array(kernels, "dft"),
        numpy_helper.from_array(mel_matrix(freqs), "mel"),
        numpy_helper.from_array(np.array([-1, 1, window], np.int64), "shape_in"),
        numpy_helper.from_array(np.array([log_floor], np.float32), "floor"),
        numpy_helper.from_array(np.array([n_bins, n_bins], np.int64), "halves"),
    ]
    n = helper.make_node
    nodes = [
        n("Reshape", ["audio", "shape_in"], ["audio3"]),
        n("Conv", ["audio3", "dft"], ["spec"], strides=[FRAME_HOP]),           # [N, 2B, T]
        n("Split", ["spec", "halves"], ["re", "im"], axis=1),
        n("Mul", ["re", "re"], ["re2"]),
        n("Mul", ["im", "im"], ["im2"]),
        n("Add", ["re2", "im2"], ["power"]),                                    # [N, B, T]
        n("MatMul", ["mel", "power"], ["melpow"]),                              # [N, M, T]
        n("Add", ["melpow", "floor"], ["melpow_floored"]),
        n("Log", ["melpow_floored"], ["logmel"]),
    ]
    return nodes, init


def front_end_nodes():
    """Nodes and initializers from `audio` [N, WINDOW] to `features` [N, FEATURES]."""
    nodes, init = log_mel_nodes(WINDOW, LOG_FLOOR)
    n = helper.make_node
    nodes += [
        # Level normalisation: remove the window's mean log energy.
        n("ReduceMean", ["logmel"], ["level"], axes=[1, 2], keepdims=1),
        n("Sub", ["logmel", "level"], ["norm"]),
        n("ReduceMean", ["norm"], ["band_mean"], axes=[2], keepdims=0),         # [N, M]
        n("ReduceMean", ["norm"], ["band_mean_k"], axes=[2], keepdims=1),
        n("Sub", ["norm", "band_mean_k"], ["centred"]),
        n("Mul", ["centred", "centred"], ["centred2"]),
        n("ReduceMean", ["centred2"], ["band_var"], axes=[2], keepdims=0),
        n("Sqrt", ["band_var"], ["band_std"]),                                  # [N, M]
        n("Slice", ["norm", "s_from", "s_to", "s_axis"], ["later"]),
        n("Slice", ["norm", "s_zero", "s_last", "s_axis"], ["earlier"]),
        n("Sub", ["later", "earlier"], ["delta"]),
        n("Abs", ["delta"], ["abs_delta"]),
        n("ReduceMean", ["abs_delta"], ["band_flux"], axes=[2], keepdims=0),    # [N, M]
        n("ReduceMax", ["centred"], ["band_peak"], axes=[2], keepdims=0),       # [N, M]
        # Frame energy: its spread and its flux over the window.
        n("ReduceMean", ["centred"], ["energy"], axes=[1], keepdims=0),         # [N, T]
        n("Mul", ["energy", "energy"], ["energy2"]),
        n("ReduceMean", ["energy2"], ["energy_var"], axes=[1], keepdims=1),
        n("Sqrt", ["energy_var"], ["energy_std"]),                              # [N, 1]
        n("ReduceMean", ["abs_delta"], ["energy_flux"], axes=[1, 2], keepdims=0),
        n("Unsqueeze", ["energy_flux", "s_axis_last"], ["energy_flux2"]),      # [N, 1]
        n("Concat", ["band_mean", "band_std", "band_flux", "band_peak", "energy_std", "energy_flux2"], ["features"], axis=1),
    ]
    init += [
        numpy_helper.from_array(np.array([1], np.int64), "s_from"),
        numpy_helper.from_array(np.array([2**31], np.int64), "s_to"),
        numpy_helper.from_array(np.array([0], np.int64), "s_zero"),
        numpy_helper.from_array(np.array([-1], np.int64), "s_last"),
        numpy_helper.from_array(np.array([2], np.int64), "s_axis"),
        numpy_helper.from_array(np.array([1], np.int64), "s_axis_last"),
    ]
    return nodes, init


def build(classifier=None):
    """The front end alone (output `features`), or with a classifier
    (dict of standardisation and layer weights) ending in `anger_logit`."""
    nodes, init = front_end_nodes()
    output = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", FEATURES])
    if classifier is not None:
        more_nodes, more_init = classifier_nodes(classifier)
        nodes += more_nodes
        init += more_init
        output = helper.make_tensor_value_info("anger_logit", TensorProto.FLOAT, ["batch"])
    return graph_model("anger", nodes, init, WINDOW, output)


def graph_model(name, nodes, init, window, output):
    """A checked ONNX model from `audio` [N, window] to `output` (both models' last step)."""
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", window])],
        [output], initializer=init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="voicegate tools/train")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def classifier_nodes(c):
    """Standardise the features, then either one linear layer (`w`, `b`: a
    logistic regression) or a one-hidden-layer ReLU MLP (`w1`..`b2`), to one logit."""
    f32 = lambda a: np.asarray(a, np.float32)
    layers = [("w", "b")] if "w" in c else [("w1", "b1"), ("w2", "b2")]
    init = [numpy_helper.from_array(f32(c["mean"]), "feat_mean"),
            numpy_helper.from_array(f32(c["scale"]), "feat_scale"),
            numpy_helper.from_array(np.array([-1], np.int64), "flat")]
    n = helper.make_node
    nodes = [n("Sub", ["features", "feat_mean"], ["feat_centred"]),
             n("Div", ["feat_centred", "feat_scale"], ["layer0"])]
    for i, (w, b) in enumerate(layers):
        init += [numpy_helper.from_array(f32(c[w]), w), numpy_helper.from_array(f32(c[b]), b)]
        nodes += [n("MatMul", [f"layer{i}", w], [f"lin{i}"]), n("Add", [f"lin{i}", b], [f"out{i}"])]
        if i < len(layers) - 1:
            nodes.append(n("Relu", [f"out{i}"], [f"layer{i + 1}"]))
    nodes.append(n("Reshape", [f"out{len(layers) - 1}", "flat"], ["anger_logit"]))
    return nodes, init
