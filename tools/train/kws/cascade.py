"""How the keyword detector's gate (kws/gate.py) was chosen, on real
speech: the detector on every window against the gate on every window and
the detector only where the gate hears a word, for several bars.

Reports, for each gate bar, the share of speech windows the whole
detector still runs on, the CPU per window that implies (timed here, one
thread, batch 1), and the decision's figures beside today's on the real
speech that holds no synthetic voice: the WUW validation and held-out
callers, EmoSpeech and RAVDESS + TESS.

    PYTHONPATH=tools/train .venv-train/bin/python -m kws.cascade --data ../shared/data
"""
import argparse
import json
from pathlib import Path

import numpy as np
import onnx

from anger.data import read_manifest

from . import evaluate, fixtures, gate, other_speech, stream, wuw
from .train import session, timing
from .vocab import TRIGGER_WORDS

ROOT = Path(__file__).resolve().parents[3]
BARS = (0.02, 0.05, 0.1, 0.2, 0.3)


def speech(data_dir, rng):
    """{name: (operator streams or None, other-speech streams)} of the real speech."""
    found = {}
    for split in ("validation", "held_out"):
        clips = wuw.clips(data_dir, split)
        found[f"WUW {split} callers"] = (wuw.operator_streams(clips), evaluate.joined(wuw.other_speech(clips), rng))
    emospeech = other_speech.emospeech_clips(data_dir)
    found["EmoSpeech"] = (None, evaluate.false_accept_streams(emospeech, rng))
    acted = read_manifest(data_dir, {"ravdess", "tess"})
    found["RAVDESS + TESS"] = (None, evaluate.false_accept_streams(acted, rng))
    return found


def figures(stages, corpora, classes, rule):
    row = {}
    for name, (operators, other) in corpora.items():
        counts, hours = evaluate.false_accepts(evaluate.score_streams(stages, other), classes, *rule)
        entry = {"hours": hours, "trigger_fa_per_hour": sum(counts[w] for w in TRIGGER_WORDS) / hours,
                 "events_per_hour": sum(counts.values()) / hours}
        if operators is not None:
            scored = evaluate.score_streams(stages, [s[0] for s in operators])
            hits = evaluate.detection_figures(scored, operators, classes, *rule)
            entry["operator"] = float(np.mean([h[0] for h in hits]))
            entry["operator_clips"] = len(hits)
        row[name] = entry
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", type=Path, default=ROOT / "tools/train/out/kws-cascade.json")
    args = parser.parse_args()
    shipped, classes, thresholds, detection = fixtures.detector(ROOT)
    rule = (thresholds, fixtures.verifier_thresholds(detection))
    stages = stream.Stages(shipped.detector, shipped.verifier)
    gate_session = session(gate.cut(onnx.load(str(ROOT / "models/kws.onnx"))))
    corpora = speech(args.data, np.random.default_rng(17))
    cost = {"gate": timing(gate_session)[1], "detector": timing(stages.detector)[1]}

    results = {"cost_ms_per_window": cost, "today": figures(stages, corpora, classes, rule), "gated": {}}
    for bar in BARS:
        gated = stream.Stages(stages.detector, stages.verifier, gate_session, bar)
        row = figures(gated, corpora, classes, rule)
        share = gated.detected / max(1, gated.windows)
        row["detector_share"] = share
        row["ms_per_window"] = cost["gate"] + share * cost["detector"]
        results["gated"][str(bar)] = row
        print(f"bar {bar}: detector on {share:.1%} of speech windows, "
              f"{row['ms_per_window']:.3f} ms a window (today {cost['detector']:.3f})", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(table(results))


def table(results):
    names = list(results["today"])
    head = ["| detector | runs on | ms a window | " + " | ".join(names) + " |",
            "|---|---|---|" + "---|" * len(names)]

    def cells(row):
        out = []
        for name in names:
            entry = row[name]
            text = f"{entry['trigger_fa_per_hour']:.2f} / {entry['events_per_hour']:.1f}"
            if "operator" in entry:
                text = f"{entry['operator']:.1%} of {entry['operator_clips']}; " + text
            out.append(text)
        return " | ".join(out)

    lines = head + [f"| today | 100 % | {results['cost_ms_per_window']['detector']:.3f} | "
                    f"{cells(results['today'])} |"]
    for bar, row in results["gated"].items():
        lines.append(f"| gate {bar} | {row['detector_share']:.1%} | {row['ms_per_window']:.3f} | {cells(row)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
