"""Windows through random phone lines, turned into front-end features once and
cached under tools/train/cache/ (git-ignored): training then only runs the
classifier."""
import hashlib
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import channel, data
from .model import FRAME, FRAME_HOP, N_MELS, POWER_FLOOR, FrontEnd

CACHE = Path(__file__).resolve().parents[1] / "cache"
COPIES = 4      # random phone lines per window; copy 0 is the one evaluated, training draws from all
VERSION = 1     # bump when the channel or windowing changes: old caches are then ignored


class WindowSet:
    """Features [windows, COPIES, N_MELS, FRAMES] (float16) of every window,
    with the index of its clip."""

    def __init__(self, features, clip_index, clips):
        self.features = features
        self.clip_index = clip_index
        self.clips = clips
        self.angry = np.array([clips[i].angry for i in clip_index])
        self.labels = np.array([clips[i].label for i in clip_index])
        self.corpus = np.array([clips[i].corpus for i in clip_index])
        self.speaker = np.array([clips[i].speaker for i in clip_index])
        self.fold = np.array([clips[i].fold for i in clip_index])

    def __len__(self):
        return len(self.clip_index)


def cache_key(clips, seed):
    digest = hashlib.sha256(f"{VERSION} {seed} {COPIES} {FRAME} {FRAME_HOP} {N_MELS} {POWER_FLOOR}".encode())
    for clip in clips:
        digest.update(f"{clip.path.name} {clip.label}\n".encode())
    return digest.hexdigest()[:16]


def extract(clips, noise, seed, name):
    """Features of every window of `clips`, from the cache when it matches."""
    path = CACHE / f"{name}-{cache_key(clips, seed)}.npz"
    if path.exists():
        stored = np.load(path)
        print(f"{name}: features from {path.relative_to(CACHE.parents[2])}", file=sys.stderr)
        return WindowSet(stored["features"], stored["clip_index"], clips)
    front = FrontEnd().eval()
    features, clip_index = [], []
    for index, clip in enumerate(tqdm(clips, desc=f"{name}: phone lines + features", unit="clip")):
        # One generator per clip, seeded by its position: the same lines on every run.
        rng = np.random.default_rng([seed, index])
        for window in data.windows(data.trim_silence(data.load(clip.path))):
            lines = np.stack([channel.telephone(window, rng, noise) for _ in range(COPIES)])
            with torch.no_grad():
                features.append(front(torch.from_numpy(lines)).numpy().astype(np.float16))
            clip_index.append(index)
    windows = WindowSet(np.stack(features), np.array(clip_index), clips)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, features=windows.features, clip_index=windows.clip_index)
    return windows
