"""Reading the corpora: the manifest, the audio, and what each clip counts as."""
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

EMOTION_CORPORA = ("ravdess", "tess", "emospeech")
# Speech without emotion labels, taken as calm: real callers on phone lines
# (wuw), Mandarin and English words (dspspeech20), English digits (fsdd).
SPEECH_CORPORA = ("wuw", "dspspeech20", "fsdd")
CORPORA = EMOTION_CORPORA + SPEECH_CORPORA
CALM = {"neutral", "calm"}


@dataclass
class Clip:
    path: Path
    corpus: str
    label: str
    speaker: str
    duration: float


def read_manifest(data_dir, corpora):
    """Rows of MANIFEST.tsv for the given corpora."""
    with open(Path(data_dir) / "MANIFEST.tsv", newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return [
            Clip(Path(data_dir) / row["path"], row["corpus"], row["label"], row["speaker"],
                 float(row["duration_s"]))
            for row in rows
            if row["corpus"] in corpora
        ]


def kind_of(clip):
    """angry, calm (calm/neutral acting or unlabelled speech) or other (another emotion)."""
    if clip.label == "angry":
        return "angry"
    if clip.corpus in SPEECH_CORPORA or clip.label in CALM:
        return "calm"
    return "other"


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
