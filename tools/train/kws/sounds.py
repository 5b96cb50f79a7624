"""Non-speech sounds a phone line carries, for the `_silence_` class and as
backgrounds: DTMF, call-progress tones, hold-music-like chords, clicks."""
import numpy as np

SAMPLE_RATE = 8000
DTMF_ROWS = [697, 770, 852, 941]
DTMF_COLS = [1209, 1336, 1477, 1633]
CHORD_SHAPES = [[0, 4, 7], [0, 3, 7], [0, 4, 7, 11], [0, 5, 9]]   # major, minor, major 7th, sixth


def sine(freq, n, phase=0.0):
    return np.sin(2 * np.pi * freq * np.arange(n) / SAMPLE_RATE + phase)


def dtmf(rng, n):
    """Key presses: 40-250 ms tone pairs with 30-300 ms gaps, random keys."""
    out = np.zeros(n)
    at = int(rng.integers(0, SAMPLE_RATE // 5))
    while at < n:
        length = int(rng.uniform(0.04, 0.25) * SAMPLE_RATE)
        pair = sine(rng.choice(DTMF_ROWS), length) + sine(rng.choice(DTMF_COLS), length) * 10 ** (rng.uniform(-3, 3) / 20)
        out[at:at + length] = pair[:max(0, min(length, n - at))]
        at += length + int(rng.uniform(0.03, 0.3) * SAMPLE_RATE)
    return out


def call_progress(rng, n):
    """Dial, ringing, busy or a single test tone, with its cadence."""
    freqs, on, off = [([350, 440], 1.0, 0.0), ([440, 480], 2.0, 4.0), ([480, 620], 0.5, 0.5),
                      ([425], 0.4, 0.35), ([1000], 1.0, 0.0), ([950, 1400, 1800], 0.33, 0.0)][rng.integers(6)]
    tone = sum(sine(f, n, rng.uniform(0, 6.3)) for f in freqs)
    period = (on + off) * SAMPLE_RATE
    gate = ((np.arange(n) + rng.integers(0, int(period))) % period) < on * SAMPLE_RATE
    return tone * gate


def chords(rng, n):
    """Hold-music-like: triads with harmonics, a new chord every 0.2-0.9 s, decaying notes."""
    out = np.zeros(n)
    at = 0
    while at < n:
        length = int(rng.uniform(0.2, 0.9) * SAMPLE_RATE)
        root = 110 * 2 ** (rng.integers(0, 24) / 12)
        note = np.zeros(length)
        for step in CHORD_SHAPES[rng.integers(len(CHORD_SHAPES))]:
            f0 = root * 2 ** (step / 12)
            for harmonic in range(1, 5):
                if f0 * harmonic < 3800:
                    note += sine(f0 * harmonic, length, rng.uniform(0, 6.3)) / harmonic ** rng.uniform(1, 2)
        note *= np.exp(-np.arange(length) / (length * rng.uniform(0.3, 1.5)))
        out[at:at + length] = note[:max(0, min(length, n - at))]
        at += length
    return out


def clicks(rng, n):
    """Line clicks and crackle over a faint hiss."""
    out = rng.standard_normal(n) * 0.01
    for _ in range(rng.integers(1, 8)):
        at = int(rng.integers(0, n))
        out[at:at + 20] += rng.uniform(-1, 1) * np.exp(-np.arange(min(20, n - at)) / 4)
    return out


def noise_sound(rng, n):
    """One of the above, at unit peak."""
    kind = [dtmf, call_progress, chords, clicks][rng.integers(4)]
    x = kind(rng, n)
    return x / (np.abs(x).max() + 1e-9)
