"""The second stage: a verifier that hears only the detector's candidates.

The detector (four networks, trained on synthetic speech and short real
words) fires on real callers' ordinary sentences; the verifier is one more
network of the same form, trained on half of the detector's second set of
training windows plus the WUW
training callers on real phone lines: the windows just after their
"Operator" as that word, every fourth window of their other words and
sentences as `_unknown_`, and, repeated, the windows of that speech where
the detector's top class is a word: the detector's own false accepts on
real callers are the verifier's hard negatives. The validation and
held-out callers are never trained on.

The verifier is a graph of its own (models/kws-verifier.onnx, output
`verifier_logits`), run only on the detector's candidates (stream.py says
how the two combine).
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper

from anger.frontend import N_MELS

from . import evaluate, frontend, model, stream, wuw
from .vocab import CLASSES, UNKNOWN

SEED = 9
EPOCHS = 16
GENERAL_SHARE = 0.5               # of the detector's training windows (the time a retrain on 2 cores has)
OPERATOR_AFTER_S = (-0.05, 0.5)   # window ends around the marked word's end that are "operator"
OTHER_STRIDE = 4                  # every fourth window of the callers' other speech
HARD_REPEAT = 4                   # a detector false accept counts this many times
OUTPUT = "verifier_logits"


def networks(path):
    """The networks of a stage's graph (a kws.onnx), as frontend.build takes them."""
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    members = []
    while f"member{len(members)}_logits_head_w" in weights:
        name = f"member{len(members)}_logits"
        layers = [(weights[f"{name}_conv{i}_w"], weights[f"{name}_conv{i}_b"], stride)
                  for i, (_, _, stride) in enumerate(model.LAYERS)]
        members.append((layers, weights[f"{name}_head_w"], weights[f"{name}_head_b"]))
    return members


def caller_windows(detector, front, data_dir, rng):
    """(features, labels) of the WUW training callers, as the detector's
    streams cut them: their "Operator" and their other speech."""
    clips = wuw.clips(data_dir, "train")
    x, y = [], []
    for audio, word, _, word_end, _ in wuw.operator_streams(clips):
        batch, ends = stream.windows(audio)
        after = ends - word_end
        keep = (after >= OPERATOR_AFTER_S[0]) & (after <= OPERATOR_AFTER_S[1]) & stream.voiced(batch)
        x.append(features(front, batch[keep]))
        y += [CLASSES.index(word)] * int(keep.sum())
    hard = 0
    for audio in evaluate.joined(wuw.other_speech(clips), rng):
        batch, _ = stream.windows(audio)
        probs, is_voiced, _ = stream.probabilities(stream.Stages(detector), audio)
        word_top = is_voiced & (probs[:, :len(CLASSES)].argmax(axis=1) >= 2)
        picks = np.concatenate([np.where(is_voiced)[0][::OTHER_STRIDE], np.repeat(np.where(word_top)[0], HARD_REPEAT)])
        hard += int(word_top.sum())
        x.append(features(front, batch[picks]))
        y += [CLASSES.index(UNKNOWN)] * len(picks)
    print(f"verifier: {len(y)} caller windows from {len(wuw.sessions(data_dir, 'train'))} training callers, "
          f"{hard} of them detector false accepts (each ×{HARD_REPEAT})", file=sys.stderr)
    return np.concatenate(x), np.array(y)


def features(front, batch, size=512):
    """Front-end features (float16, as the training windows are) of raw windows."""
    blocks = [front.run(None, {"audio": batch[i:i + size]})[0] for i in range(0, len(batch), size)]
    return np.concatenate(blocks).astype(np.float16) if blocks else np.zeros((0, N_MELS, frontend.FRAMES), np.float16)


def train(general_x, general_y, detector, front, data_dir):
    """The verifier network, from the detector's kind of training windows
    and the training callers' windows (`detector` and `front`: sessions of
    the detector and of the front end alone)."""
    rng = np.random.default_rng(SEED)
    caller_x, caller_y = caller_windows(detector, front, data_dir, rng)
    general = np.sort(rng.choice(len(general_y), int(len(general_y) * GENERAL_SHARE), replace=False))
    x = np.concatenate([general_x[general], caller_x])
    y = np.concatenate([general_y[general], caller_y])
    return model.train(x, y, len(CLASSES), SEED, EPOCHS), int(len(y))
