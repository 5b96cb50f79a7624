"""The telephone channel, for training and evaluation: 300-3400 Hz band,
G.711 mu-law round trip, and the augmentations a real call brings (level,
noise, lost packets)."""
import numpy as np
from scipy.signal import butter, sosfilt

SAMPLE_RATE = 8000
_BAND = butter(4, [300, 3400], btype="bandpass", fs=SAMPLE_RATE, output="sos")
MU = 255.0


def mulaw_round_trip(x):
    """G.711 mu-law encode and decode (continuous companding, 8-bit quantised)."""
    x = np.clip(x, -1.0, 1.0)
    companded = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    quantised = np.round((companded + 1.0) * 127.5) / 127.5 - 1.0
    return np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(MU)) / MU


def coloured_noise(rng, n, colour):
    """White or pink noise with unit RMS."""
    white = rng.standard_normal(n)
    if colour == "pink":
        spectrum = np.fft.rfft(white)
        spectrum /= np.sqrt(np.arange(1, len(spectrum) + 1))
        white = np.fft.irfft(spectrum, n)
    return white / (np.sqrt(np.mean(white ** 2)) + 1e-12)


def telephone(x, rng=None, babble=None):
    """One pass through the phone line. With `rng`, random level (±20 dB),
    noise at 5-35 dB SNR (white, pink or other speech) and 0-5 % lost 20 ms
    packets; without, a clean line at a nominal level."""
    x = sosfilt(_BAND, x)
    rms = np.sqrt(np.mean(x ** 2)) + 1e-12
    if rng is None:
        x = x * (0.1 / rms)
    else:
        x = x * (0.1 / rms) * 10 ** (rng.uniform(-20, 20) / 20)
        x = x + noise(rng, len(x), babble) * np.sqrt(np.mean(x ** 2)) * 10 ** (-rng.uniform(5, 35) / 20)
        x = drop_packets(x, rng, rng.uniform(0.0, 0.05))
    return mulaw_round_trip(x).astype(np.float32)


def noise(rng, n, babble):
    kind = rng.choice(["white", "pink", "babble"] if babble is not None else ["white", "pink"])
    if kind != "babble":
        return coloured_noise(rng, n, kind)
    start = rng.integers(0, max(1, len(babble) - n))
    chunk = np.resize(babble[start:start + n], n)
    return chunk / (np.sqrt(np.mean(chunk ** 2)) + 1e-12)


def drop_packets(x, rng, rate):
    """Zeroes whole 20 ms packets, as a jitter buffer without concealment would."""
    packet = SAMPLE_RATE // 50
    for start in range(0, len(x), packet):
        if rng.random() < rate:
            x[start:start + packet] = 0.0
    return x
