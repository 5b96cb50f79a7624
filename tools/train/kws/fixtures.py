"""Recorded keyword calls for the gateway's regression tests, and what the
Python streaming detector finds in them (the Rust side must find the same).

    PYTHONPATH=tools/train python -m kws.fixtures --data ../shared/data

Voices are held out of training: espeak-ng variant f3 in Mandarin, flite's
rms in English; the negative call is real speech (RAVDESS, never trained
on) with DTMF and a music-like chord. Every call goes through a light phone
line (35 dB SNR) and is written as 8 kHz mono 16-bit FLAC.
"""
import argparse
import tomllib
from pathlib import Path

import numpy as np
import onnxruntime as ort
import soundfile

from anger.data import load, trim_silence

from . import channel, sounds, stream, synth

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / "tools/train/cache/kws/tts"
RATE = 8000
MANDARIN_VOICE = "cmn+f3"
ENGLISH_VOICE = "rms"
NO_KEYWORD_ACTORS = [f"{n:02d}" for n in range(1, 13)]


def say(engine, voice, text, rate=1.0, pitch=0):
    if engine == "espeak" and not pitch:
        pitch = 50
    return trim_silence(synth.synthesise(synth.Request(engine, voice, text, rate, pitch), CACHE))


def pause(seconds):
    return np.zeros(int(seconds * RATE))


def human_x3():
    mandarin = lambda text, rate=1.0: say("espeak", MANDARIN_VOICE, text, rate)
    return [mandarin("你好，我的银行卡有问题"), pause(1.5), mandarin("人工"), pause(1.8),
            mandarin("人工", 0.95), pause(1.7), mandarin("人工", 1.05), pause(2.0)]


def complaint():
    mandarin = lambda text, rate=1.0: say("espeak", MANDARIN_VOICE, text, rate)
    return [pause(0.8), mandarin("你们又多扣了我的钱", 0.85), pause(1.2), mandarin("投诉"), pause(3.0)]


def menu_digit():
    english = lambda text: say("flite", ENGLISH_VOICE, text)
    return [pause(3.0), english("four"), pause(3.0), english("one"), pause(3.0)]


def no_keywords(data_dir, rng):
    """Neutral and calm RAVDESS statements of twelve actors, then DTMF and a chord."""
    rav = Path(data_dir) / "emotion/ravdess"
    parts = []
    for actor in NO_KEYWORD_ACTORS:
        for emotion in ("01", "02"):
            for statement in ("01", "02"):
                name = f"03-01-{emotion}-01-{statement}-01-{actor}.flac"
                parts += [trim_silence(load(rav / f"Actor_{actor}" / name)), pause(0.5)]
    parts += [sounds.dtmf(rng, 3 * RATE) * 0.3, pause(0.5), sounds.chords(rng, 4 * RATE) * 0.1, pause(1.0)]
    return parts


def phone(parts, seed):
    """Light phone line; the silent stretches keep a faint line hiss."""
    x = np.concatenate(parts)
    rng = np.random.default_rng(seed)
    x = x + rng.standard_normal(len(x)) * 1e-4
    return channel.line(x, rng, None, level_db=(0, 0), snr_db=(35, 35), loss=(0, 0))


def detector(root):
    manifest = tomllib.loads((root / "models/kws.toml").read_text(encoding="utf-8"))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(root / "models/kws.onnx"), options)
    detection = manifest["detection"]
    thresholds = dict(zip(detection["words"], detection["thresholds"]))
    return session, manifest["classes"], thresholds, detection


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    calls = {"kws_human_x3": human_x3(), "kws_complaint": complaint(), "kws_menu_digit": menu_digit(),
             "kws_no_keywords": no_keywords(args.data, rng)}
    session, classes, thresholds, detection = detector(ROOT)
    for seed, (name, parts) in enumerate(calls.items()):
        audio = phone(parts, seed)
        audio = np.round(audio * 32767).astype(np.int16)
        path = ROOT / "fixtures/calls" / name / "call.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, audio, RATE, subtype="PCM_16", format="FLAC")
        samples, _ = soundfile.read(path, dtype="int16")
        probs, is_voiced, ends = stream.probabilities(session, samples.astype(np.float32) / 32768)
        events = stream.detect(probs, is_voiced, ends, classes, thresholds,
                               detection["smoothing_windows"], detection["refractory_s"])
        found = ", ".join(f"{e.time:.1f} s {e.word} ({e.confidence:.2f})" for e in events) or "nothing"
        print(f"{name}: {len(samples) / RATE:.1f} s, {path.stat().st_size // 1024} KiB: {found}")


if __name__ == "__main__":
    main()
