"""The keyword decision, checked against the gateway's: shared vectors.

    PYTHONPATH=tools/train python -m kws.decisions           # check
    PYTHONPATH=tools/train python -m kws.decisions --write   # remake

`tests/data/keyword_decisions.json` holds, for a few spoken calls (held-out
synthetic voices through a phone line: "agent" and "人工" three times at a
natural pace, one long "agent", "operator" in a sentence, two digits with
and without a menu waiting), the model's logits for every window (the
detector's, then, where its top class is a word, the verifier's: what the gateway's model gives) and the events stream.py decides from them; and the frame levels of windows with
the pause stream.py finds in each. The Rust unit tests in
src/audio/keywords.rs assert the same events and pauses from the same
numbers, and this check asserts that stream.py still decides what the file
says (tools/train/train_kws.sh runs it first), so neither side can drift.
--write remakes the file from models/kws*.onnx and their manifest.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

from . import fixtures, stream
from .vocab import TRIGGER_WORDS

VECTORS = fixtures.ROOT / "tests/data/keyword_decisions.json"
PAUSE_WINDOWS = 40      # windows of frame levels kept, from the calls' windows that hold a pause


def repeated(engine, voice, text, gap_s, rates=(1.0, 0.95, 1.05)):
    parts = [fixtures.pause(1.0)]
    for rate in rates:
        parts += [fixtures.say(engine, voice, text, rate), fixtures.pause(gap_s)]
    return parts + [fixtures.pause(1.2)]


def calls():
    """(name, parts, escalation only) of every case."""
    return [
        ("agent ×3, 0.3 s apart (espeak-ng en-us+f3)", repeated("espeak", "en-us+f3", "agent", 0.3), False),
        ("agent ×3, 0.5 s apart (Kokoro jf_nezumi)", repeated("kokoro", "jf_nezumi", "agent", 0.5), False),
        ("人工 ×3, 0.3 s apart (espeak-ng cmn+f3)", repeated("espeak", "cmn+f3", "人工", 0.3), False),
        ("人工 ×3, 0.5 s apart (Kokoro jf_nezumi)", repeated("kokoro", "jf_nezumi", "人工", 0.5), False),
        ("one long agent (espeak-ng en-us+f3, 2.2 × slower)",
         [fixtures.pause(1.0), fixtures.say("espeak", "en-us+f3", "agent", 2.2), fixtures.pause(1.5)], False),
        ("operator in a sentence (Piper joe)",
         [fixtures.pause(0.8), fixtures.say("piper", "joe", "operator, please, I need help"), fixtures.pause(1.5)], False),
        ("four, one in a menu (flite rms)", fixtures.menu_digit(), False),
        ("four, one with no menu waiting (flite rms)", fixtures.menu_digit(), True),
    ]


def heard_thresholds(thresholds, escalation_only):
    """The words the decision listens for: all, or only those that escalate."""
    return {w: t for w, t in thresholds.items() if not escalation_only or w in TRIGGER_WORDS}


def decide(case, vectors):
    """Events [[at_ms, word, confidence]] stream.py decides from a case's logits."""
    classes = vectors["classes"]
    ats = np.array([w[0] for w in case["windows"]]) / 1000
    is_voiced = np.array([w[1] is not None for w in case["windows"]])
    width = max(len(logits) for _, logits in case["windows"] if logits is not None)
    probs = np.zeros((len(ats), width), np.float32)
    for row, (_, logits) in enumerate(case["windows"]):
        if logits is not None:
            p = stream.stage_softmax(np.array([logits], np.float32))[0]
            probs[row, :len(p)] = p
    thresholds = heard_thresholds(dict(zip(vectors["words"], vectors["thresholds"])), case["escalation_only"])
    verify = fixtures.verifier_thresholds(vectors)
    events = stream.detect(probs, is_voiced, ats, classes, thresholds,
                           vectors["smoothing_windows"], vectors["refractory_s"], verify)
    return [[round(e.time * 1000), e.word, round(e.confidence, 4)] for e in events]


def pause_of(levels):
    pause = stream.last_pause(np.array(levels))
    return None if pause is None else [int(pause[0]), int(pause[1])]


def write():
    stages, classes, thresholds, detection = fixtures.detector(fixtures.ROOT)
    vectors = {
        "made_by": "PYTHONPATH=tools/train python -m kws.decisions --write (models/kws*.onnx, their manifest)",
        "classes": classes, "smoothing_windows": detection["smoothing_windows"],
        "refractory_s": detection["refractory_s"], "words": list(thresholds),
        "thresholds": list(thresholds.values()),
        "verifier_thresholds": detection.get("verifier_thresholds", []), "escalation": TRIGGER_WORDS,
        "speech_level_db": stream.VAD_FLOOR_DBFS, "pause_frames": stream.PAUSE_FRAMES,
        "pause_drop_db": stream.PAUSE_DROP_DB, "cases": [], "pauses": []}
    pause_levels = []
    for seed, (name, parts, escalation_only) in enumerate(calls()):
        audio = fixtures.phone(parts, seed).astype(np.float32)
        batch, ends = stream.windows(audio)
        is_voiced = stream.voiced(batch)
        detector, verifier = stages.logits(batch)
        rows = detector if verifier is None else [np.concatenate([d, v[~np.isnan(v)]]) for d, v in zip(detector, verifier)]
        windows = [[round(at * 1000), [round(float(v), 3) for v in row] if voiced else None]
                   for at, row, voiced in zip(ends, rows, is_voiced)]
        case = {"name": name, "escalation_only": escalation_only, "windows": windows}
        case["events"] = decide(case, vectors)
        vectors["cases"].append(case)
        print(f"{name}: {[e[1] for e in case['events']]}", file=sys.stderr)
        raw, _ = stream.recorded_windows(audio)
        pause_levels += [levels for levels in stream.frame_levels(raw) if stream.last_pause(levels)]
    picks = np.linspace(0, len(pause_levels) - 1, PAUSE_WINDOWS).astype(int)
    vectors["pauses"] = [{"levels": [round(float(v), 2) for v in pause_levels[i]]} for i in picks]
    for entry in vectors["pauses"]:
        entry["pause"] = pause_of(entry["levels"])
    VECTORS.write_text(json.dumps(vectors, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {VECTORS}", file=sys.stderr)


def check():
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    wrong = [c["name"] for c in vectors["cases"] if decide(c, vectors) != c["events"]]
    wrong += [f"pause {i}" for i, p in enumerate(vectors["pauses"]) if pause_of(p["levels"]) != p["pause"]]
    if wrong:
        raise SystemExit(f"stream.py no longer decides what {VECTORS.name} says: {', '.join(wrong)}")
    print(f"keyword decisions: {len(vectors['cases'])} calls and {len(vectors['pauses'])} pauses agree "
          f"with {VECTORS.relative_to(fixtures.ROOT)}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="remake the vectors from models/kws.onnx")
    args = parser.parse_args()
    write() if args.write else check()


if __name__ == "__main__":
    main()
