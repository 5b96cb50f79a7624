"""Features of every clip's windows, cached under tools/train/cache: copy 0
of each window through a plain random phone line (the copy evaluated), the
others through a random voice, room and line as well (trained on)."""
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

from . import calls, channel, data, voice

COPIES = 3
SEED = 7
# Per-corpus caps keep any one corpus from dominating the features' cost;
# the training weights balance corpora anyway.
MAX_CLIPS = {"fsdd": 600, "dspspeech20": 1200}
CACHE = Path(__file__).resolve().parents[1] / "cache"
VERSION = "anger-dataset-5"   # bump when windows, channel or augmentation change
SESSION_CLIPS = 8
TRAIN_HOP_S = 1.0


def clips(data_dir):
    """Every emotion clip and a capped, seeded sample of each speech corpus."""
    rng = np.random.default_rng(SEED)
    picked = []
    for corpus in data.CORPORA:
        rows = data.read_manifest(data_dir, {corpus})
        cap = MAX_CLIPS.get(corpus, len(rows))
        keep = np.sort(rng.choice(len(rows), size=min(cap, len(rows)), replace=False))
        picked += [rows[i] for i in keep]
    return picked


def babble_source(data_dir, rng, seconds=120):
    """Other people talking (Speech Commands), as background noise."""
    rows = [c for c in data.read_manifest(data_dir, {"speech_commands"}) if c.label != "_silence_"]
    picked = rng.choice(len(rows), size=min(len(rows), seconds), replace=False)
    return np.concatenate([data.load(rows[i].path) for i in picked])


def copies_of(window, rng, babble):
    plain = channel.telephone(window.copy(), rng, babble)
    return np.stack([plain] + [voice.augmented(window, rng, babble) for _ in range(COPIES - 1)])


def sessions(rows, rng):
    """Clips joined as the gateway would hear them: each speaker's clips of
    one emotion (of a speech corpus: all of them) in random order, a WUW
    caller's session in recorded order, up to SESSION_CLIPS at a time."""
    groups = {}
    for clip in rows:
        label = clip.label if clip.corpus in data.EMOTION_CORPORA else "calm"
        groups.setdefault((clip.corpus, clip.speaker, label), []).append(clip)
    out = []
    for key in sorted(groups):
        clips = groups[key]
        order = np.arange(len(clips)) if key[0] == "wuw" else rng.permutation(len(clips))
        for start in range(0, len(clips), SESSION_CLIPS):
            out.append([clips[i] for i in order[start:start + SESSION_CLIPS]])
    return out


def extract(rows, front, babble):
    """Features [windows, COPIES, F] and metadata (corpus, speaker, label, kind)
    per window. Windows are cut from joined clips by the gateway's own VAD and
    windowing (so they hold its pauses and clip joins), one every
    TRAIN_HOP_S of voiced audio."""
    features, meta = [], []
    started = time.time()
    rng = np.random.default_rng(SEED)
    groups = sessions(rows, rng)
    for index, clips in enumerate(groups):
        audio, _ = calls.join(clips, rng)
        first = clips[0]
        for _, window in calls.voiced_windows(audio, hop=int(TRAIN_HOP_S * calls.RATE)):
            features.append(front.run(None, {"audio": copies_of(window, rng, babble)})[0])
            meta.append((first.corpus, first.speaker, first.label, data.kind_of(first)))
        if index % 100 == 0 or index == len(groups) - 1:
            print(f"\rfeatures: {index + 1}/{len(groups)} sessions, {len(meta)} windows, {time.time() - started:.0f} s",
                  end="", file=sys.stderr)
    print(file=sys.stderr)
    return np.stack(features).astype(np.float32), np.array(meta)


def cache_key(rows):
    digest = hashlib.sha256(VERSION.encode())
    for clip in rows:
        digest.update(str(clip.path).encode())
    return digest.hexdigest()[:16]


def load_or_extract(data_dir, front):
    """The window features of `clips(data_dir)`, from the cache when it matches."""
    rows = clips(data_dir)
    path = CACHE / f"anger-windows-{cache_key(rows)}.npz"
    if path.exists():
        stored = np.load(path)
        return stored["features"], stored["meta"]
    babble = babble_source(data_dir, np.random.default_rng(SEED))
    features, meta = extract(rows, front, babble)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, features=features, meta=meta)
    return features, meta
