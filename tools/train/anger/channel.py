"""The telephone channel that every training and evaluation window goes through.

A random line: room echo now and then, caller level ±20 dB, 300-3400 Hz
band-pass, background noise (white, pink, other people talking, or recorded
ambience), G.711 mu-law or A-law, and lost 20 ms packets that the jitter
buffer plays as silence.
"""
import numpy as np
from scipy.signal import butter, fftconvolve, sosfilt

SAMPLE_RATE = 8000
NOMINAL_RMS = 0.05          # about -26 dBov, the usual active speech level on a line
PACKET = SAMPLE_RATE // 50  # 20 ms


def band_pass(low, high):
    return butter(4, [low, high], btype="bandpass", fs=SAMPLE_RATE, output="sos")


def mulaw_round_trip(x):
    """G.711 mu-law encode and decode, bit-exact with the ITU tables."""
    pcm = np.clip(np.round(x * 32768), -32768, 32767).astype(np.int32)
    sign = pcm < 0
    magnitude = np.minimum(np.abs(pcm), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    decoded = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign, -decoded, decoded).astype(np.float32) / 32768


def alaw_round_trip(x):
    """G.711 A-law encode and decode, bit-exact with the ITU tables."""
    pcm = np.clip(np.round(x * 32768), -32768, 32767).astype(np.int32) >> 3   # 13-bit
    sign = pcm < 0
    magnitude = np.where(sign, -pcm - 1, pcm)
    segment = np.clip(np.floor(np.log2(np.maximum(magnitude, 1))).astype(np.int32) - 4, 0, 7)
    mantissa = np.where(segment < 1, magnitude >> 1, magnitude >> np.maximum(segment, 1)) & 0x0F
    decoded = (mantissa << 4) + 8 + np.where(segment > 0, 0x100, 0)
    decoded = np.where(segment > 1, decoded << np.maximum(segment - 1, 0), decoded)
    return np.where(sign, -decoded, decoded).astype(np.float32) / 32768


def rms(x):
    return float(np.sqrt(np.mean(np.square(x)))) + 1e-9


def active_rms(x):
    """Level of the speech itself: the centred zero padding does not count."""
    return rms(x[x != 0]) if np.any(x) else 1e-9


def coloured_noise(rng, n, colour):
    """White or pink (1/f power) noise with unit RMS."""
    white = rng.standard_normal(n)
    if colour == "pink":
        spectrum = np.fft.rfft(white)
        spectrum /= np.sqrt(np.arange(1, len(spectrum) + 1))
        white = np.fft.irfft(spectrum, n)
    return white / rms(white)


class NoiseBank:
    """Recorded noise: `babble` (other speakers' words, several at once) and
    `ambience` (the Speech Commands background-noise clips)."""

    def __init__(self, babble, ambience):
        self.babble = babble
        self.ambience = ambience

    def sample(self, rng, n):
        kind = rng.choice(["white", "pink", "babble", "ambience"])
        if kind in ("white", "pink"):
            return coloured_noise(rng, n, kind)
        if kind == "babble":
            talkers = rng.integers(3, 7)
            mix = sum(self._excerpt(rng, self.babble, n) for _ in range(talkers))
        else:
            mix = self._excerpt(rng, self.ambience, n)
        return mix / rms(mix)

    @staticmethod
    def _excerpt(rng, source, n):
        start = rng.integers(0, len(source) - n)
        return source[start:start + n]


def room_echo(x, rng):
    """A synthetic room: exponentially decaying noise, RT60 0.2-0.6 s."""
    rt60 = rng.uniform(0.2, 0.6)
    t = np.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
    response = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
    response[0] = 1.0 / max(rng.uniform(0.1, 0.6), 1e-3)   # the direct path, louder than the tail
    wet = fftconvolve(x, response)[:len(x)]
    return wet * (rms(x) / rms(wet))


def drop_packets(x, rng, rate):
    """Zeroes whole 20 ms packets, as a jitter buffer without concealment does."""
    for start in range(0, len(x), PACKET):
        if rng.random() < rate:
            x[start:start + PACKET] = 0.0
    return x


def telephone(x, rng, noise):
    """One random phone line. `x` is speech at any level; the output is what
    the gateway would decode, in [-1, 1]."""
    x = x.astype(np.float64)
    if rng.random() < 0.3:
        x = room_echo(x, rng)
    level = NOMINAL_RMS * 10 ** (rng.uniform(-20, 20) / 20)
    x = x * (level / active_rms(x))
    if rng.random() < 0.8:
        snr_db = rng.uniform(5, 35)
        x = x + noise.sample(rng, len(x)) * level * 10 ** (-snr_db / 20)
    # Real lines vary around the nominal band edges.
    x = sosfilt(band_pass(rng.uniform(250, 350), rng.uniform(3200, 3500)), x)
    x = np.clip(x, -1.0, 1.0)
    x = mulaw_round_trip(x) if rng.random() < 0.5 else alaw_round_trip(x)
    if rng.random() < 0.5:
        x = drop_packets(x, rng, rng.uniform(0.0, 0.1))
    return x.astype(np.float32)
