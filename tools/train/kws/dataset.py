"""All recordings for training and for the held-out evaluation: the real
corpora plus the synthetic voices, as labelled, trimmed 8 kHz audio."""
import numpy as np

from anger.data import trim_silence

from . import corpora, synth
from .corpora import Recording
from .vocab import (CHARACTERS_EXCLUDED, COMMON_CHARACTERS, ENGLISH_EXCLUDED, ENGLISH_NEAR_MISSES,
                    ENGLISH_SENTENCES, ENGLISH_WORDS, MANDARIN_NEAR_MISSES, MANDARIN_SENTENCES, MANDARIN_WORDS,
                    OTHER_LANGUAGE_SENTENCES, UNKNOWN, WORD_LIST)

# Synthetic utterances per keyword, (training, held-out voices).
ENGLISH_KEYWORD_COUNT = (200, 40)
MANDARIN_KEYWORD_COUNT = (220, 50)
NEAR_MISS_COUNT = 5           # per near-miss word, training voices only
SENTENCE_COUNT = 8            # per sentence, training voices only
RANDOM_PHRASES = 700          # per language (English, Mandarin), one voice each
# The neural voices (slower to synthesise, closer to people): utterances per
# keyword (training, held-out), and how many of the other texts they speak.
NEURAL_ENGLISH_KEYWORD_COUNT = (30, 25)
NEURAL_MANDARIN_KEYWORD_COUNT = (60, 20)
PIPER_KEYWORD_COUNT = 40      # held out: Piper's one voice never trains
NEURAL_NEAR_MISS_COUNT = {"en": 1, "zh": 4}
NEURAL_SENTENCE_COUNT = {"en": 2, "zh": 3}
NEURAL_RANDOM_PHRASES = {"en": 300, "zh": 250}


def english_words():
    with open(WORD_LIST, encoding="utf-8") as handle:
        words = [w.strip() for w in handle]
    return [w for w in words if w.isalpha() and w.islower() and 2 < len(w) < 11 and w not in ENGLISH_EXCLUDED]


def mandarin_characters():
    return [c for c in COMMON_CHARACTERS if c not in CHARACTERS_EXCLUDED]


def random_phrases(rng, vocabulary, count, length, joiner):
    return [joiner.join(rng.choice(vocabulary, size=rng.integers(*length))) for _ in range(count)]


def synthetic_plan(rng, held_out):
    """(label, request) pairs for one side of the voice split."""
    english = synth.english_voices(held_out)
    mandarin = synth.espeak_voices("cmn", held_out)
    side = 1 if held_out else 0
    plan = []
    for word in ENGLISH_WORDS:
        plan += [(word, r) for r in synth.random_requests(rng, word, english, ENGLISH_KEYWORD_COUNT[side])]
    for word in MANDARIN_WORDS:
        plan += [(word, r) for r in synth.random_requests(rng, word, mandarin, MANDARIN_KEYWORD_COUNT[side])]
    if held_out:
        return plan
    for text in ENGLISH_NEAR_MISSES:
        plan += [(UNKNOWN, r) for r in synth.random_requests(rng, text, english, NEAR_MISS_COUNT)]
    for text in MANDARIN_NEAR_MISSES:
        plan += [(UNKNOWN, r) for r in synth.random_requests(rng, text, mandarin, NEAR_MISS_COUNT)]
    for text in ENGLISH_SENTENCES:
        plan += [(UNKNOWN, r) for r in synth.random_requests(rng, text, english, SENTENCE_COUNT)]
    for text in MANDARIN_SENTENCES:
        plan += [(UNKNOWN, r) for r in synth.random_requests(rng, text, mandarin, SENTENCE_COUNT)]
    for text in random_phrases(rng, english_words(), RANDOM_PHRASES, (2, 6), " "):
        plan += [(UNKNOWN, r) for r in synth.random_requests(rng, text, english, 1)]
    for text in random_phrases(rng, mandarin_characters(), RANDOM_PHRASES, (2, 9), ""):
        plan += [(UNKNOWN, r) for r in synth.random_requests(rng, text, mandarin, 1)]
    for language, text in OTHER_LANGUAGE_SENTENCES:
        plan += [(UNKNOWN, r) for r in synth.random_requests(rng, text, synth.espeak_voices(language, False), SENTENCE_COUNT)]
    return plan


def neural_plan(rng, held_out):
    """(label, request) pairs for Kokoro and Piper on one side of the split."""
    side = 1 if held_out else 0

    def kokoro(text, count):
        return synth.neural_requests(rng, text, "kokoro", count, held_out)
    plan = []
    for word in ENGLISH_WORDS:
        plan += [(word, r) for r in kokoro(word, NEURAL_ENGLISH_KEYWORD_COUNT[side])]
        if held_out:
            plan += [(word, r) for r in synth.neural_requests(rng, word, "piper", PIPER_KEYWORD_COUNT, True)]
    for word in MANDARIN_WORDS:
        plan += [(word, r) for r in kokoro(word, NEURAL_MANDARIN_KEYWORD_COUNT[side])]
    if held_out:
        return plan
    texts = {"en": (ENGLISH_NEAR_MISSES, ENGLISH_SENTENCES, english_words(), " ", (2, 6)),
             "zh": (MANDARIN_NEAR_MISSES, MANDARIN_SENTENCES, mandarin_characters(), "", (2, 9))}
    for language, (near_misses, sentences, vocabulary, joiner, length) in texts.items():
        for text in near_misses:
            plan += [(UNKNOWN, r) for r in kokoro(text, NEURAL_NEAR_MISS_COUNT[language])]
        for text in sentences:
            plan += [(UNKNOWN, r) for r in kokoro(text, NEURAL_SENTENCE_COUNT[language])]
        for text in random_phrases(rng, vocabulary, NEURAL_RANDOM_PHRASES[language], length, joiner):
            plan += [(UNKNOWN, r) for r in kokoro(text, 1)]
    return plan


def synthetic_recordings(rng, held_out, cache_dir, progress=None):
    plan = synthetic_plan(rng, held_out)
    # Its own generator, so that the Debian engines' requests (and their cache) stay as they were.
    plan += neural_plan(np.random.default_rng(rng.integers(2 ** 32)), held_out)
    audio = synth.synthesise_all([r for _, r in plan], cache_dir, progress)
    return [Recording(label, trim_silence(a), f"tts:{r.engine}", r.voice) for (label, r), a in zip(plan, audio)
            if len(a) > 400]


def babble(recordings, rng, count=300):
    """Other people talking, one after the other: a background bed."""
    speech = [r.audio for r in recordings if r.label == UNKNOWN and r.source != "tts:espeak"]
    picks = rng.choice(len(speech), size=min(count, len(speech)), replace=False)
    return np.concatenate([speech[i] for i in picks])


def load_all(data_dir, cache_dir, sides=("train", "held_out"), progress=None, seed=7):
    """{side: [Recording], f"{side}_backgrounds": [audio]} for the sides asked
    for (recorded backgrounds are Speech Commands' `_silence_` files)."""
    real = corpora.real_recordings(data_dir)
    split = {}
    for side in sides:
        rng = np.random.default_rng([seed, side == "held_out"])
        recordings = real[side] + synthetic_recordings(rng, side == "held_out", cache_dir, progress)
        split[side] = [r for r in recordings if r.label != "_silence_"]
        split[f"{side}_backgrounds"] = [r.audio for r in recordings if r.label == "_silence_"]
    return split
