"""The streaming decision, exactly as the gateway applies it.

Every hop (0.1 s) the last 1.0 s of audio (zero-padded at the start of the
stream) is scored. A window whose 20 ms frames are all below -45 dBFS RMS
is not scored: it counts as silence (P = 0 for every word) and fires
nothing. A window in which speech follows a pause (at least 200 ms of
frames below -45 dBFS or 30 dB under the window's loudest frame) is scored
with everything before that pause replaced by the pause's own line sound:
the model hears what was said since the pause, so a word said again after
a pause is a new word, not the tail of the last one. P = softmax(logits); each word's smoothed P is the mean of its
last `smoothing` values (the history starts as zeros). A detection fires
for the word with the highest smoothed P when that is >= the word's
threshold and the word is also the arg-max class of the latest window;
then nothing fires for `refractory_s`, and that word fires again only after
a window where it was not the top class (re-arming). The event time is the
end of the window that fired.

A model with a verifier (a second stage, a graph of its own) gives a
second set of logits over the same classes for the same window: a
candidate the rule above finds fires only if the verifier's P of that word
in that window (its own softmax) also reaches the word's verifier
threshold; a candidate the verifier turns down changes nothing (no
refractory time, no re-arming). A candidate is always a window whose
detector top class is a word, so the verifier runs on those windows only
(P = 0 elsewhere): the decision is the same as with the verifier run on
every window, at a fraction of its cost.
"""
from dataclasses import dataclass

import numpy as np

from .vocab import CLASSES, WORDS

SAMPLE_RATE = 8000
WINDOW = 8000
HOP = 800
VAD_FRAME = 160
VAD_FLOOR_DBFS = -45.0
SMOOTHING = 2
REFRACTORY_S = 0.5
PAUSE_FRAMES = 10        # 200 ms
PAUSE_DROP_DB = 30.0
WORD_COLUMNS = [CLASSES.index(word) for word in WORDS]


@dataclass
class Event:
    time: float          # end of the window that fired, seconds from the start of the stream
    word: str
    confidence: float    # the smoothed P


def recorded_windows(audio):
    """The last WINDOW samples at every hop, as recorded [n, WINDOW], and their end times."""
    padded = np.concatenate([np.zeros(WINDOW, np.float32), audio.astype(np.float32)])
    ends = np.arange(HOP, len(audio) + 1, HOP)
    index = ends[:, None] + np.arange(WINDOW)[None, :]
    return padded[index], ends / SAMPLE_RATE


def windows(audio):
    """The scored windows [n, WINDOW] (cut after their last pause) and their end times: one per hop."""
    batch, ends = recorded_windows(audio)
    for window, levels in zip(batch, frame_levels(batch)):
        cut_before_pause(window, levels)
    return batch, ends


def frame_levels(batch):
    """dBFS RMS of every 20 ms frame, [n, WINDOW / VAD_FRAME] (the gateway's level_db)."""
    frames = batch.reshape(len(batch), -1, VAD_FRAME).astype(np.float64)
    return 10 * np.log10(np.mean(frames ** 2, axis=2) + 1e-10)


def last_pause(levels):
    """(first, end) frame of the window's last pause that speech follows, or None."""
    quiet = levels < max(VAD_FLOOR_DBFS, levels.max() - PAUSE_DROP_DB)
    speech_from = None
    for frame in range(len(levels) - 1, -1, -1):
        if not quiet[frame]:
            speech_from = frame
        elif speech_from is not None and frame == speech_from - PAUSE_FRAMES:
            first = frame
            while first > 0 and quiet[first - 1]:
                first -= 1
            return first, speech_from
    return None


def cut_before_pause(window, levels):
    """In place: what came before the last pause that speech follows becomes
    that pause's own sound, repeated."""
    pause = last_pause(levels)
    if pause is None or pause[0] == 0:
        return
    start, end = pause[0] * VAD_FRAME, pause[1] * VAD_FRAME
    window[:start] = window[start + np.arange(start) % (end - start)]


def voiced(batch):
    """True for windows with at least one 20 ms frame at or above -45 dBFS RMS."""
    return (frame_levels(batch) >= VAD_FLOOR_DBFS).any(axis=1)


def softmax(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def stage_softmax(logits):
    """P from a model's logits [n, C] or, with a verifier, [n, 2C]: each
    stage's C logits are a softmax of their own."""
    return np.concatenate([softmax(stage) for stage in np.split(logits, logits.shape[1] // len(CLASSES), axis=1)],
                          axis=1)


class Stages:
    """The keyword model's ONNX sessions: the detector, the verifier (None
    for a model of one stage) and the gate with its bar (None: the detector
    runs on every window; see kws/gate.py)."""

    def __init__(self, detector, verifier=None, gate=None, bar=None):
        self.detector, self.verifier, self.gate, self.bar = detector, verifier, gate, bar
        self.width = len(CLASSES) * (2 if verifier else 1)
        self.windows = self.detected = 0     # windows scored, and those the detector ran on

    def logits(self, batch):
        """The detector's logits [n, C] of raw windows (the gate's where the
        gate hears no word), and the verifier's [n, C] where the detector's
        top class is a word (NaN elsewhere)."""
        self.windows += len(batch)
        if self.gate is None:
            self.detected += len(batch)
            return self.detect_and_verify(batch)
        gate = self.gate.run(None, {"audio": batch})[0]
        heard = (softmax(gate)[:, WORD_COLUMNS].max(axis=1) >= self.bar) | is_candidate(gate)
        self.detected += int(heard.sum())
        detector = gate.copy()
        verifier = np.full_like(gate, np.nan) if self.verifier else None
        if heard.any():
            detected, verified = self.detect_and_verify(batch[heard])
            detector[heard] = detected
            if verified is not None:
                verifier[heard] = verified
        return detector, verifier

    def detect_and_verify(self, batch):
        detector = self.detector.run(None, {"audio": batch})[0]
        if self.verifier is None:
            return detector, None
        verifier = np.full_like(detector, np.nan)
        candidates = is_candidate(detector)
        if candidates.any():
            verifier[candidates] = self.verifier.run(None, {"audio": batch[candidates]})[0]
        return detector, verifier


def is_candidate(detector_logits):
    """Windows the verifier must hear: the detector's top class is a word
    (not _silence_ or _unknown_), which every candidate's is."""
    return np.isin(detector_logits.argmax(axis=1), WORD_COLUMNS)


def probabilities(stages, audio, batch=512):
    """P per window [n, C], or [n, 2C] with a verifier (detector, then
    verifier; zeros where the VAD skipped or the verifier did not run) and
    the window end times."""
    batch_windows, ends = windows(audio)
    is_voiced = voiced(batch_windows)
    probs = np.zeros((len(batch_windows), stages.width), np.float32)
    scored = np.where(is_voiced)[0]
    for start in range(0, len(scored), batch):
        rows = scored[start:start + batch]
        detector, verifier = stages.logits(batch_windows[rows])
        probs[rows, :len(CLASSES)] = softmax(detector)
        if verifier is not None:
            candidates = ~np.isnan(verifier[:, 0])
            probs[rows[candidates], len(CLASSES):] = softmax(verifier[candidates])
    return probs, is_voiced, ends


def detect(probs, is_voiced, ends, classes, thresholds, smoothing=SMOOTHING, refractory_s=REFRACTORY_S, verify=None):
    """Events from per-window P. `thresholds`: {word: threshold} of the words
    listened for (the gateway's KeywordDecider hears only these); `verify`:
    {word: verifier threshold}, or None for the detector alone."""
    word_columns = [i for i, c in enumerate(classes) if c in thresholds]
    verifier, probs = probs[:, len(classes):], probs[:, :len(classes)]
    word_thresholds = np.array([thresholds[classes[i]] for i in word_columns])
    word_probs = probs[:, word_columns]
    history = np.concatenate([np.zeros((smoothing - 1, len(word_columns)), np.float32), word_probs])
    smoothed = np.lib.stride_tricks.sliding_window_view(history, smoothing, axis=0).mean(axis=2)
    best = smoothed.argmax(axis=1)
    best_p = smoothed[np.arange(len(best)), best]
    fires = is_voiced & (best_p >= word_thresholds[best]) & (probs.argmax(axis=1) == np.array(word_columns)[best])
    if verify is not None:
        verify_thresholds = np.array([verify[classes[i]] for i in word_columns])
        fires &= verifier[np.arange(len(best)), np.array(word_columns)[best]] >= verify_thresholds[best]
    top = probs.argmax(axis=1)
    events, last = [], -np.inf
    armed = np.ones(len(word_columns), bool)
    for i in range(len(ends)):
        # A word that fired may fire again only after a window where it was
        # not the top class: its tail stays in the sliding window for up to 1 s.
        armed |= np.array(word_columns) != top[i]
        if fires[i] and armed[best[i]] and ends[i] - last >= refractory_s - 1e-9:
            events.append(Event(float(ends[i]), classes[word_columns[best[i]]], float(best_p[i])))
            last = ends[i]
            armed[best[i]] = False
    return events
