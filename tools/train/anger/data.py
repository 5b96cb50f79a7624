"""The shared corpora: which clips, which speakers, which folds, and the 2 s
windows of voiced speech cut from each clip."""
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

SAMPLE_RATE = 8000
WINDOW = 2 * SAMPLE_RATE
HOP = SAMPLE_RATE // 2               # the gateway scores a window every 0.5 s
EMOTION_CORPORA = ("ravdess", "tess")
OTHER_SPEECH = {"speech_commands": 700, "fsdd": 300, "dspspeech20": 700}   # clips used, per corpus
CALM = ("neutral", "calm")
FOLDS = 4


@dataclass(frozen=True)
class Clip:
    path: Path
    corpus: str
    label: str
    speaker: str

    @property
    def angry(self):
        return self.label == "angry"

    @property
    def fold(self):
        return fold_of(self.corpus, self.speaker)


def read_manifest(data_dir):
    with open(Path(data_dir) / "MANIFEST.tsv", newline="", encoding="utf-8") as handle:
        return [Clip(Path(data_dir) / row["path"], row["corpus"], row["label"], row["speaker"])
                for row in csv.DictReader(handle, delimiter="\t")]


def emotion_clips(clips):
    return [c for c in clips if c.corpus in EMOTION_CORPORA]


def other_speech_clips(clips, rng):
    """A sample of the read-word corpora (English and Mandarin, hundreds of
    voices and microphones): speech that is not angry."""
    picked = []
    for corpus, count in OTHER_SPEECH.items():
        pool = [c for c in clips if c.corpus == corpus and c.label != "_silence_"]
        picked += [pool[i] for i in sorted(rng.choice(len(pool), size=count, replace=False))]
    return picked


def fold_of(corpus, speaker):
    """Speaker-independent folds. RAVDESS actors 1-2 go to fold 0, 3-4 to
    fold 1, ... so that every fold holds 3 men and 3 women; TESS's older
    talker is held out in fold 0 and the younger in fold 1; speakers of the
    other corpora are spread by a stable hash of their name."""
    if corpus == "ravdess":
        return ((int(speaker.split("_")[-1]) - 1) // 2) % FOLDS
    if corpus == "tess":
        return 0 if speaker.startswith("OAF") else 1
    return sum(speaker.encode()) % FOLDS


def load(path):
    audio, rate = soundfile.read(path, dtype="float32", always_2d=False)
    if rate != SAMPLE_RATE or audio.ndim != 1:
        raise ValueError(f"{path}: expected 8 kHz mono, got {rate} Hz, shape {audio.shape}")
    return audio


def trim_silence(x, frame=160, below_peak_db=35.0):
    """Cuts leading and trailing 20 ms frames far below the loudest one: an
    energy VAD that ignores the recording's own level."""
    n = len(x) // frame
    if n == 0:
        return x
    energy_db = 10 * np.log10(np.mean(x[:n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    voiced = np.flatnonzero(energy_db > energy_db.max() - below_peak_db)
    return x[voiced[0] * frame:(voiced[-1] + 1) * frame]


def windows(x):
    """2 s windows every 0.5 s over the voiced audio, as the gateway cuts them;
    a shorter utterance is zero-padded, centred, into one window."""
    if len(x) <= WINDOW:
        padded = np.zeros(WINDOW, np.float32)
        start = (WINDOW - len(x)) // 2
        padded[start:start + len(x)] = x
        return [padded]
    starts = list(range(0, len(x) - WINDOW + 1, HOP))
    if len(x) - WINDOW - starts[-1] > HOP // 2:    # keep the end of the utterance too
        starts.append(len(x) - WINDOW)
    return [x[s:s + WINDOW] for s in starts]


def noise_sources(clips, rng, seconds=240):
    """Babble (other people's words, from Speech Commands) and recorded
    ambience (its _silence_ clips), each as one long signal."""
    words = [c for c in clips if c.corpus == "speech_commands" and c.label != "_silence_"]
    ambience = [c for c in clips if c.corpus == "speech_commands" and c.label == "_silence_"]
    babble = np.concatenate([load(words[i].path) for i in rng.choice(len(words), size=seconds, replace=False)])
    return babble, np.concatenate([load(c.path) for c in ambience])
