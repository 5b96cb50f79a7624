"""Training windows: 1.0 s of phone-line audio, each with a class label.

A keyword window holds the whole word somewhere in it (speed-perturbed,
sometimes in a room, sometimes with other speech before or after it), as
the streaming detector sees it once the word has ended. `_unknown_`
windows are other speech, including the first part of a keyword cut off
mid-word (so a word does not fire before it is finished) and real people's
words joined into phrases (so that a real voice saying several words is
not mistaken for a keyword the synthetic voices taught). `_silence_`
windows are line noise, DTMF, call-progress tones, music-like chords and
clicks. Every window then goes through a random phone line.
"""
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import onnxruntime as ort
from scipy.signal import resample

from . import channel, frontend, sounds
from .vocab import CLASSES, SILENCE, UNKNOWN, WORDS

WINDOW = frontend.WINDOW
MAX_WORD = WINDOW - 400          # a word longer than 0.95 s is sped up to fit
KEYWORD_WINDOWS = 1000           # per keyword class
UNKNOWN_WINDOWS = 20000
SILENCE_WINDOWS = 6000
PARTIAL_SHARE = 0.12             # of the unknown windows: keyword prefixes
# Two training recipes, each trained from every seed in model.ENSEMBLE_SEEDS:
# the share of the unknown windows that are real people's words joined into
# phrases (phrase_window). Networks that saw those phrases and
# networks that did not are confidently wrong on different speech, so the
# mean of all four holds up better than either pair (held out, the trigger
# words: 87.1 % and 86.3 % for the pairs, 90.2 % for the four).
PHRASE_SHARES = (0.0, 0.25)
PHRASE_WORDS = (2, 5)            # words per phrase: 2-4
PHRASE_GAP_S = (-0.03, 0.25)     # between words; below 0 the words run into each other
REAL_SHARE = 0.7                 # of a keyword's windows, where real recordings of it exist
NEURAL_SHARE = 0.4               # of a keyword's synthetic windows
NEURAL_SOURCES = {"tts:kokoro", "tts:piper"}
# Keywords that end in another keyword (转人工 in 人工, 不是 in 是): their
# windows may start up to 30 % into the word, as the last windows holding
# them do in a stream, so that the shorter word does not take over.
SUFFIX_HOSTS = {w for w in WORDS if any(w != v and w.endswith(v) for v in WORDS)}
HOST_CUT = 0.3


def speed(x, rng, low=0.87, high=1.15):
    """Faster or slower talker with a shorter or longer vocal tract: pitch,
    formants and tempo move together, as in speed perturbation."""
    factor = rng.uniform(low, high)
    return resample(x, max(32, int(round(len(x) / factor))))


def fit_word(x):
    return resample(x, MAX_WORD) if len(x) > MAX_WORD else x


def crop(x, rng, n):
    if len(x) <= n:
        return x
    start = rng.integers(0, len(x) - n + 1)
    return x[start:start + n]


def keyword_window(word, rng, others, label):
    """The whole word at a random place; sometimes in a room, sometimes with
    other speech before or after it (a gap of 50-300 ms)."""
    word = fit_word(speed(word, rng))
    if label in SUFFIX_HOSTS and rng.random() < 0.3:
        word = word[int(len(word) * rng.uniform(0, HOST_CUT)):]
    if rng.random() < 0.4:
        word = channel.room(word, rng)
    x = np.zeros(WINDOW)
    start = int(rng.integers(0, WINDOW - len(word) + 1))
    x[start:start + len(word)] = word
    if rng.random() < 0.35:
        add_context(x, start, start + len(word), rng, others, channel.rms(word))
    return x


def add_context(x, word_start, word_end, rng, others, word_rms):
    gap = int(rng.uniform(0.05, 0.3) * channel.SAMPLE_RATE)
    gain = word_rms * 10 ** (rng.uniform(-10, 0) / 20)
    before = word_start - gap
    if before > 800:
        speech = others[rng.integers(len(others))]
        piece = speech[-before:]
        x[before - len(piece):before] += channel.at_rms(piece, gain)
    after = WINDOW - word_end - gap
    if after > 800:
        speech = others[rng.integers(len(others))]
        piece = speech[:after]
        x[word_end + gap:word_end + gap + len(piece)] += channel.at_rms(piece, gain)


def unknown_window(speech, rng):
    speech = speed(crop(speech, rng, WINDOW + 2000), rng)
    speech = crop(speech, rng, WINDOW)
    if rng.random() < 0.3:
        speech = channel.room(speech, rng)
    x = np.zeros(WINDOW)
    start = int(rng.integers(0, WINDOW - len(speech) + 1))
    x[start:start + len(speech)] = speech
    return x


def phrase_window(speaker_words, rng):
    """Up to PHRASE_WORDS words of one real speaker (topped up from others
    when one recorded too few), one after the other, each at its own level;
    then a random 1 s of that phrase as an ordinary unknown window."""
    own = speaker_words[rng.integers(len(speaker_words))]
    count = int(rng.integers(*PHRASE_WORDS))
    words = [own[i] for i in rng.permutation(len(own))[:count]]
    while len(words) < count:
        other = speaker_words[rng.integers(len(speaker_words))]
        words.append(other[rng.integers(len(other))])
    starts, cursor = [], 0
    for word in words:
        starts.append(max(0, cursor + int(rng.uniform(*PHRASE_GAP_S) * channel.SAMPLE_RATE)))
        cursor = starts[-1] + len(word)
    phrase = np.zeros(cursor)
    for start, word in zip(starts, words):
        phrase[start:start + len(word)] += channel.at_rms(word, 10 ** (rng.uniform(-6, 0) / 20))
    return unknown_window(phrase, rng)


def partial_keyword_window(word, rng):
    """The first 30-65 % of a keyword, ending near the end of the window."""
    word = fit_word(speed(word, rng))
    part = word[:max(80, int(len(word) * rng.uniform(0.3, 0.65)))]
    x = np.zeros(WINDOW)
    end = WINDOW - int(rng.integers(0, 1200))
    x[end - len(part):end] = part
    return x


def silence_window(rng, background):
    """Line noise (recorded backgrounds or synthetic), tones, chords, clicks,
    or near-digital silence."""
    kind = rng.integers(5)
    if kind == 0:
        return crop(background[rng.integers(len(background))], rng, WINDOW)
    if kind in (1, 2):   # tones and music twice as often: they are loud and structured, so they could fire
        return sounds.noise_sound(rng, WINDOW)
    if kind == 3:
        return channel.coloured_noise(rng, WINDOW, rng.choice(["white", "pink"])) * 10 ** (rng.uniform(-4, -1))
    return np.zeros(WINDOW)


def through_line(x, rng, babble, label):
    """The phone line; speech is sometimes clipped, and silence windows keep
    their quietness (a dead line is quiet, music is not)."""
    if label != SILENCE and rng.random() < 0.08:
        x = channel.clip_hard(x, rng)
    bed = crop(babble, rng, WINDOW)
    if label == SILENCE:
        if not x.any():
            return channel.line(x + 1e-5 * rng.standard_normal(WINDOW), rng, None, level_db=(-60, -30), snr_db=(10, 40))
        return channel.line(x, rng, None, level_db=(-30, 5))
    return channel.line(x, rng, bed)


# Per-process state for the feature workers (filled before the pool forks).
_STATE = {}


def keyword_picks(recordings, indices, rng):
    """KEYWORD_WINDOWS recording indices for one keyword: REAL_SHARE of them
    from real recordings where there are any (the callers are real people),
    and NEURAL_SHARE of the synthetic rest from the neural voices, which
    sound more like people than the other engines but are fewer."""
    real = [i for i in indices if not recordings[i].source.startswith("tts:")]
    neural = [i for i in indices if recordings[i].source in NEURAL_SOURCES]
    other = [i for i in indices if recordings[i].source.startswith("tts:") and recordings[i].source not in NEURAL_SOURCES]
    n_real = int(KEYWORD_WINDOWS * REAL_SHARE) if real else 0
    n_neural = int((KEYWORD_WINDOWS - n_real) * NEURAL_SHARE) if neural else 0
    return np.concatenate([repeated(real, n_real, rng), repeated(neural, n_neural, rng),
                           repeated(other, KEYWORD_WINDOWS - n_real - n_neural, rng)])


def repeated(indices, count, rng):
    return np.resize(rng.permutation(indices), count) if indices else np.array([], int)


def plan(recordings, rng, phrase_share):
    """(kind, label, recording index, seed) for every training window;
    `phrase_share` of the unknown windows are real words joined into phrases."""
    by_label = {}
    for index, rec in enumerate(recordings):
        by_label.setdefault(rec.label, []).append(index)
    specs = []
    for label in CLASSES[2:]:
        specs += [("keyword", label, int(i)) for i in keyword_picks(recordings, by_label[label], rng)]
    unknown = by_label[UNKNOWN]
    keywords = [i for label in CLASSES[2:] for i in by_label[label]]
    n_partial = int(UNKNOWN_WINDOWS * PARTIAL_SHARE)
    n_phrase = int(UNKNOWN_WINDOWS * phrase_share)
    specs += [("unknown", UNKNOWN, int(i)) for i in rng.choice(unknown, UNKNOWN_WINDOWS - n_partial - n_phrase)]
    specs += [("partial", UNKNOWN, int(i)) for i in rng.choice(keywords, n_partial)]
    specs += [("phrase", UNKNOWN, -1)] * n_phrase
    specs += [("silence", SILENCE, -1)] * SILENCE_WINDOWS
    return [(kind, label, index, seed) for seed, (kind, label, index) in enumerate(specs)]


def render(spec, seed_base):
    kind, label, index, seed = spec
    rng = np.random.default_rng([seed_base, seed])
    audio = _STATE["audio"]
    if kind == "keyword":
        x = keyword_window(audio[index], rng, _STATE["unknown_audio"], label)
    elif kind == "unknown":
        x = unknown_window(audio[index], rng)
    elif kind == "partial":
        x = partial_keyword_window(audio[index], rng)
    elif kind == "phrase":
        x = phrase_window(_STATE["real_unknown_by_speaker"], rng)
    else:
        x = silence_window(rng, _STATE["backgrounds"])
    return through_line(x, rng, _STATE["babble"], label)


def _features_chunk(args):
    specs, seed_base = args
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    front = ort.InferenceSession(frontend.build().SerializeToString(), options)
    windows = np.stack([render(spec, seed_base) for spec in specs]).astype(np.float32)
    return front.run(None, {"audio": windows})[0].astype(np.float16)


def real_unknown_by_speaker(recordings):
    """[[audio of one speaker's non-keyword words]] from the real corpora."""
    by_speaker = {}
    for rec in recordings:
        if rec.label == UNKNOWN and not rec.source.startswith("tts:"):
            by_speaker.setdefault((rec.source, rec.speaker), []).append(rec.audio)
    return list(by_speaker.values())


def features(recordings, backgrounds, babble, specs, seed_base, progress=None, chunk=500):
    """Features [len(specs), N_MELS, FRAMES] (float16 to halve the memory), two workers."""
    _STATE.update(audio=[r.audio for r in recordings],
                  unknown_audio=[r.audio for r in recordings if r.label == UNKNOWN and len(r.audio) > 4000],
                  real_unknown_by_speaker=real_unknown_by_speaker(recordings),
                  backgrounds=backgrounds, babble=babble)
    chunks = [(specs[i:i + chunk], seed_base) for i in range(0, len(specs), chunk)]
    out = []
    with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        for done, block in enumerate(pool.map(_features_chunk, chunks), 1):
            out.append(block)
            if progress:
                progress(min(done * chunk, len(specs)), len(specs))
    return np.concatenate(out)
