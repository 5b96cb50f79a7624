"""The telephone channel for the keyword spotter: the anger model's channel
(300-3400 Hz band, G.711 mu-law, noise, lost packets) with A-law as well,
room reverb before the microphone, and clipping."""
import numpy as np
from scipy.signal import fftconvolve, sosfilt

from anger.channel import _BAND, coloured_noise, drop_packets, mulaw_round_trip

SAMPLE_RATE = 8000
A = 87.6
NOMINAL_RMS = 0.1   # about -20 dBFS, a normal talker on a phone line


def alaw_round_trip(x):
    """G.711 A-law encode and decode (continuous companding, 8-bit quantised)."""
    x = np.clip(x, -1.0, 1.0)
    ax = np.abs(x)
    small = ax < 1.0 / A
    companded = np.where(small, A * ax / (1 + np.log(A)), (1 + np.log(np.maximum(A * ax, 1e-12))) / (1 + np.log(A)))
    quantised = np.round(companded * 127.0) / 127.0
    expanded = np.where(quantised < 1.0 / (1 + np.log(A)), quantised * (1 + np.log(A)) / A,
                        np.exp(quantised * (1 + np.log(A)) - 1) / A)
    return np.sign(x) * expanded


def rms(x):
    return np.sqrt(np.mean(x ** 2))


def at_rms(x, target):
    """`x` scaled to an RMS of `target` (silence stays silence)."""
    return x / (rms(x) + 1e-9) * target


def room(x, rng):
    """A synthetic room: exponentially decaying noise as impulse response,
    RT60 0.15-0.8 s, mixed with the direct sound."""
    rt60 = rng.uniform(0.15, 0.8)
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    tail[0] = 0.0
    response = tail / np.sqrt(np.sum(tail ** 2)) * rng.uniform(0.2, 0.9)
    response[0] = 1.0
    wet = fftconvolve(x, response)[:len(x)]
    return wet * (rms(x) / (rms(wet) + 1e-12))


def clip_hard(x, rng):
    """An overdriven handset: gain 6-20 dB, then hard clipping at full scale."""
    return np.clip(x * 10 ** (rng.uniform(6, 20) / 20) / (np.abs(x).max() + 1e-9), -1.0, 1.0)


def line(x, rng, noise_bed=None, level_db=(-15, 10), snr_db=(5, 35), loss=(0.0, 0.03)):
    """One pass through the phone line: band, level, additive noise (white,
    pink or `noise_bed`, e.g. other talkers), lost 20 ms packets, then G.711
    mu-law or A-law. Level and SNR are relative to the loudest 100 ms."""
    x = sosfilt(_BAND, x)
    x = x * (NOMINAL_RMS / (active_rms(x) + 1e-9)) * 10 ** (rng.uniform(*level_db) / 20)
    if noise_bed is not None and rng.random() < 0.4:
        bed = np.resize(noise_bed, len(x))
        bed = bed / (rms(bed) + 1e-12)
    else:
        bed = coloured_noise(rng, len(x), rng.choice(["white", "pink"]))
    x = x + sosfilt(_BAND, bed) * active_rms(x) * 10 ** (-rng.uniform(*snr_db) / 20)
    x = drop_packets(x, rng, rng.uniform(*loss))
    codec = mulaw_round_trip if rng.random() < 0.5 else alaw_round_trip
    return codec(x).astype(np.float32)


def active_rms(x, block=800):
    """RMS of the loudest 100 ms block: the talker's level, whatever the pauses."""
    n = max(1, len(x) // block)
    blocks = np.resize(x, n * block).reshape(n, block)
    return float(np.sqrt(np.max(np.mean(blocks ** 2, axis=1))))
