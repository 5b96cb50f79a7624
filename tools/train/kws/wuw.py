"""Real callers on real phone lines: the WUW Corpus II sessions in
speech/wuw (CC BY-SA 4.0), split by session (one caller each), never by file.

Each session is one caller: "Operator" alone (utterance 001) and in a
sentence (006), four other words alone (002-005) and in natural sentences
(007-010). A session's split comes from a hash of its id: one in five is
held out for the evaluation (never trained on, never used for a
threshold), one in five is the validation split the thresholds are set on,
the rest trains. Clips whose transcript does not hold the word
(`_unclear`) and "other" clips where the caller said "Operator" anyway are
left out of both the positives and the other speech.
"""
import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anger.data import load

SAMPLE_RATE = 8000
OPERATOR_LABELS = ("operator_isolated", "operator_in_sentence")
OTHER_LABELS = ("other_word", "other_sentence")
SPLITS = ("held_out", "validation", "train")
TAIL_S = 1.2          # line after a clip, so a word at its very end can still fire
MIN_WORD_S = 0.2      # shorter (or reversed) kw_start..kw_end marks are errors in the manifest


@dataclass
class Clip:
    path: Path
    label: str
    session: str
    kw_start: float     # seconds: where the wake word is (operator clips only)
    kw_end: float


def split_of(session):
    """held_out for one session in five, validation for another, else train."""
    bucket = int(hashlib.sha1(session.encode()).hexdigest()[:8], 16) % 5
    return SPLITS[min(bucket, 2)]


def clips(data_dir, split):
    """The usable clips of one split, in manifest order."""
    root = Path(data_dir) / "speech/wuw"
    with open(root / "MANIFEST.tsv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    found = [Clip(root / row["path"], row["label"], row["session"], seconds(row["kw_start"]), seconds(row["kw_end"]))
             for row in rows
             if row["label"] in OPERATOR_LABELS + OTHER_LABELS and split_of(row["session"]) == split]
    return [c for c in found if c.label in OTHER_LABELS or c.kw_end - c.kw_start >= MIN_WORD_S]


def seconds(field):
    """A kw_start/kw_end field: empty for clips without the word, and one
    row carries a stray letter after the number."""
    number = re.match(r"[0-9.]*", field).group()
    return float(number) if number else 0.0


def sessions(data_dir, split):
    return sorted({c.session for c in clips(data_dir, split)})


def operator_streams(split_clips):
    """[(audio, "operator", word_start_s, word_end_s, label)]: each operator
    clip as a stream of its own, as recorded, with a quiet line after it."""
    streams = []
    for clip in split_clips:
        if clip.label in OPERATOR_LABELS:
            audio = np.concatenate([load(clip.path), np.zeros(int(TAIL_S * SAMPLE_RATE), np.float32)])
            streams.append((audio, "operator", clip.kw_start, clip.kw_end, clip.label))
    return streams


def other_speech(split_clips):
    """The callers' other words and sentences, in manifest order (per caller):
    every keyword event in them is false."""
    return [load(clip.path) for clip in split_clips if clip.label in OTHER_LABELS]
