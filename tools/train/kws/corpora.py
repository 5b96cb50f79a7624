"""The real recordings in the shared data folder, labelled for the keyword
spotter and split by speaker.

Held out of training, whole speakers: one Speech Commands speaker in five
(by the speaker hash), FSDD speakers george and lucas, one DSPSpeech-20
speaker in five. RAVDESS and TESS are never trained on: they are the
false-accept corpus (TESS files whose word is a keyword, "yes" and "five",
are left out of it).
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anger.data import load, read_manifest, trim_silence

from .vocab import ENGLISH_WORDS, SILENCE, UNKNOWN

FSDD_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
FSDD_HELD_OUT = {"george", "lucas"}
FA_CORPORA = ("ravdess", "tess")


@dataclass
class Recording:
    label: str          # a class name
    audio: np.ndarray   # 8 kHz float32, trimmed to the spoken part
    source: str         # corpus or "tts:<engine>"
    speaker: str        # speaker id or voice name


def speech_commands_label(path, folder_label):
    """yes/no by folder; the `_unknown_` folder holds the digits too (file prefix)."""
    if folder_label in ("yes", "no", SILENCE):
        return folder_label
    word = Path(path).name.split("_")[0]
    if folder_label == UNKNOWN and word in ENGLISH_WORDS:
        return word
    return UNKNOWN


def is_held_out(clip, index):
    if clip.corpus == "speech_commands":
        if clip.label == SILENCE:
            return index % 5 == 0
        return int(clip.speaker[:8], 16) % 5 == 0
    if clip.corpus == "fsdd":
        return clip.speaker in FSDD_HELD_OUT
    if clip.corpus == "dspspeech20":
        return int(clip.speaker) % 5 == 0
    raise ValueError(clip.corpus)


def label_of(clip):
    if clip.corpus == "speech_commands":
        return speech_commands_label(clip.path, clip.label)
    if clip.corpus == "fsdd":
        return FSDD_DIGITS[int(clip.label)]
    return UNKNOWN   # DSPSpeech-20: Mandarin and English words, none a keyword


def real_recordings(data_dir):
    """{"train": [...], "held_out": [...]} Recordings from the word corpora."""
    clips = read_manifest(data_dir, {"speech_commands", "fsdd", "dspspeech20"})
    split = {"train": [], "held_out": []}
    for index, clip in enumerate(clips):
        label = label_of(clip)
        audio = load(clip.path)
        if label != SILENCE:
            audio = trim_silence(audio)
        side = "held_out" if is_held_out(clip, index) else "train"
        split[side].append(Recording(label, audio, clip.corpus, clip.speaker))
    return split


def false_accept_clips(data_dir, words):
    """RAVDESS and TESS clips for the false-accept streams, minus TESS keywords."""
    clips = read_manifest(data_dir, set(FA_CORPORA))
    return [c for c in clips if not (c.corpus == "tess" and Path(c.path).stem.split("_")[1] in words)]
