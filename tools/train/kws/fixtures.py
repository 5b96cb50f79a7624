"""Recorded keyword calls for the gateway's regression tests, and what the
Python streaming detector finds in them (the Rust side must find the same).

    PYTHONPATH=tools/train python -m kws.fixtures --data ../shared/data

Voices are held out of training: espeak-ng variant f3 in Mandarin and
English, flite's rms in English, Kokoro's jf_nezumi in Mandarin; the negative
call is real speech (RAVDESS, never trained on) with DTMF and a music-like
chord. Every synthetic call goes through a light phone line (35 dB SNR); the
real-phone calls are held-out WUW callers (speech/wuw, CC BY-SA 4.0) as
recorded. All are written as 8 kHz mono 16-bit FLAC.
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
KOKORO_VOICE = synth.KOKORO_HELD_OUT
# Held-out WUW callers (wuw.split_of: "held_out"), picked among those the
# model hears (a regression check, not an evaluation).
PHONE_OPERATOR_CLIPS = ["00004/WUWII00004_001.flac", "00025/WUWII00025_001.flac", "00067/WUWII00067_001.flac"]
PHONE_SENTENCE = "00074/WUWII00074_008.flac"   # "Use Onword"


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


def agent_x3_quick():
    english = lambda rate: say("espeak", "en-us+f3", "agent", rate)
    return [pause(1.0), english(1.0), pause(0.4), english(0.95), pause(0.5), english(1.05), pause(2.0)]


def mandarin_neutral():
    return [pause(0.8), say("kokoro", KOKORO_VOICE, "你好，我想查一下我上个月的账单，谢谢。"), pause(2.0)]


def wuw_clip(data_dir, name):
    return load(Path(data_dir) / "speech/wuw" / name)


def operator_x3(data_dir):
    """Three held-out callers saying "Operator", as recorded on their lines."""
    parts = []
    for name in PHONE_OPERATOR_CLIPS:
        parts += [wuw_clip(data_dir, name), pause(0.3)]
    return parts + [pause(1.5)]


def phone_sentence(data_dir):
    return [wuw_clip(data_dir, PHONE_SENTENCE), pause(1.5)]


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
    load = lambda name: ort.InferenceSession(str(root / "models" / name), options)
    verifier, gate = manifest.get("verifier"), manifest.get("gate")
    stages = stream.Stages(load(manifest["file"]), load(verifier["file"]) if verifier else None,
                           load(gate["file"]) if gate else None, gate["bar"] if gate else None)
    detection = manifest["detection"]
    thresholds = dict(zip(detection["words"], detection["thresholds"]))
    return stages, manifest["classes"], thresholds, detection


def verifier_thresholds(detection):
    """{word: verifier threshold} of a manifest's [detection], None without a verifier."""
    verify = detection.get("verifier_thresholds", [])
    return dict(zip(detection["words"], verify)) if verify else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    calls = {"kws_human_x3": human_x3(), "kws_complaint": complaint(), "kws_menu_digit": menu_digit(),
             "kws_no_keywords": no_keywords(args.data, rng), "kws_agent_x3_quick": agent_x3_quick(),
             "kws_mandarin_neutral": mandarin_neutral()}
    real = {"kws_phone_operator_x3": operator_x3(args.data), "kws_phone_sentence": phone_sentence(args.data)}
    stages, classes, thresholds, detection = detector(ROOT)
    recorded = [(name, phone(parts, seed)) for seed, (name, parts) in enumerate(calls.items())]
    recorded += [(name, np.concatenate(parts)) for name, parts in real.items()]
    for name, audio in recorded:
        audio = np.round(audio * 32767).astype(np.int16)
        path = ROOT / "fixtures/calls" / name / "call.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, audio, RATE, subtype="PCM_16", format="FLAC")
        samples, _ = soundfile.read(path, dtype="int16")
        probs, is_voiced, ends = stream.probabilities(stages, samples.astype(np.float32) / 32768)
        events = stream.detect(probs, is_voiced, ends, classes, thresholds,
                               detection["smoothing_windows"], detection["refractory_s"],
                               verifier_thresholds(detection))
        found = ", ".join(f"{e.time:.1f} s {e.word} ({e.confidence:.2f})" for e in events) or "nothing"
        print(f"{name}: {len(samples) / RATE:.1f} s, {path.stat().st_size // 1024} KiB: {found}")


if __name__ == "__main__":
    main()
