"""Augmentation of the voice and the room before the phone line, so the model
meets other vocal tracts, speaking rates, handsets and rooms than the few
actors of the emotion corpora: a resampling that moves pitch, formants
(vocal-tract length) and tempo together, a separate tempo change, a handset
tilt, room reverb, clicks and beeps of real lines, and the A-law codec
beside mu-law."""
import numpy as np
from scipy.signal import lfilter, resample

from kws.channel import alaw_round_trip, room

from . import channel


def vocal_tract(x, rng, spread=0.12):
    """Pitch and formants scaled together by up to ±`spread` (the tempo follows)."""
    factor = np.exp(rng.uniform(-spread, spread))
    return resample(x, max(1, int(round(len(x) / factor))))


def tempo(x, rng, spread=0.15, grain=240):
    """Tempo changed by up to ±`spread` at the same pitch: 30 ms grains,
    overlapped by half and read at a different rate."""
    rate = np.exp(rng.uniform(-spread, spread))
    hop_out = grain // 2
    starts = np.arange(0, len(x) - grain, hop_out * rate).astype(int)
    if len(starts) < 2:
        return x
    window = np.hanning(grain)
    out = np.zeros(len(starts) * hop_out + grain)
    for i, start in enumerate(starts):
        out[i * hop_out:i * hop_out + grain] += x[start:start + grain] * window
    return out


def handset_tilt(x, rng):
    """A first-order tilt of the spectrum, as handsets and headsets differ."""
    a = rng.uniform(-0.6, 0.6)
    return lfilter([1.0, -a], [1.0], x) if a >= 0 else lfilter([1.0], [1.0, a], x)


def line_events(x, rng):
    """What real phone lines add between and over words: clicks (short
    decaying bursts) and beeps (a 150 ms tone), at the speech's level."""
    level = np.sqrt(np.mean(x ** 2)) + 1e-9
    x = x.copy()
    for _ in range(rng.integers(0, 4)):
        at, n = rng.integers(0, len(x)), int(rng.integers(20, 160))
        burst = rng.standard_normal(n) * np.exp(-np.arange(n) / (n / 4)) * level * rng.uniform(2, 8)
        x[at:at + n] += burst[:len(x) - at]
    if rng.random() < 0.3:
        at, n = rng.integers(0, len(x)), int(0.15 * channel.SAMPLE_RATE)
        tone = np.sin(2 * np.pi * rng.uniform(400, 1800) * np.arange(n) / channel.SAMPLE_RATE) * level * rng.uniform(0.5, 3)
        x[at:at + n] += tone[:len(x) - at]
    return x


def augmented(x, rng, babble):
    """One random voice, room and phone line for the window `x`, cut or
    repeated back to its length."""
    length = len(x)
    x = np.asarray(x, np.float64)
    if rng.random() < 0.7:
        x = vocal_tract(x, rng)
    if rng.random() < 0.5:
        x = tempo(x, rng)
    if rng.random() < 0.3:
        x = room(x, rng)
    if rng.random() < 0.4:
        x = line_events(x, rng)
    x = handset_tilt(x, rng)
    line = channel.telephone(x, rng, babble)
    if rng.random() < 0.3:
        line = alaw_round_trip(line).astype(np.float32)
    return np.resize(line, length)
