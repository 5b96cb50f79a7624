"""Reading the emotion corpora and cutting 2 s windows of voiced speech."""
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from .frontend import WINDOW

EMOTION_CORPORA = ("ravdess", "tess")


@dataclass
class Clip:
    path: Path
    corpus: str
    label: str
    speaker: str


def read_manifest(data_dir, corpora):
    """Rows of MANIFEST.tsv for the given corpora."""
    with open(Path(data_dir) / "MANIFEST.tsv", newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return [
            Clip(Path(data_dir) / row["path"], row["corpus"], row["label"], row["speaker"])
            for row in rows
            if row["corpus"] in corpora
        ]


def load(path):
    audio, rate = soundfile.read(path, dtype="float32", always_2d=False)
    if rate != 8000:
        raise ValueError(f"{path}: {rate} Hz, expected 8000")
    return audio if audio.ndim == 1 else audio.mean(axis=1)


def trim_silence(x, frame=160, drop_db=35.0):
    """Cuts leading and trailing frames more than `drop_db` below the loudest."""
    n = len(x) // frame
    if n == 0:
        return x
    energy = 10 * np.log10(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    voiced = np.where(energy > energy.max() - drop_db)[0]
    return x[voiced[0] * frame:(voiced[-1] + 1) * frame]


def windows(x, max_windows=3):
    """Up to `max_windows` 2 s windows spread over the utterance; a short one is
    repeated to fill the window, as continuous speech would (zero padding would
    put silence into every feature)."""
    if len(x) < WINDOW:
        return [np.resize(x, WINDOW)]
    starts = np.linspace(0, len(x) - WINDOW, num=min(max_windows, 1 + (len(x) - WINDOW) // 4000)).astype(int)
    return [x[s:s + WINDOW] for s in np.unique(starts)]
