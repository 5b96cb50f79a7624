"""Trains, evaluates and exports the anger model.

    PYTHONPATH=tools/train python -m anger.train --data ../shared/data [--eval-only]

Runs the leave-one-corpus-out and held-out-speaker evaluation of
`anger.evaluate` (which chooses the classifier and the caller-adaptive
adaptive step), then fits the chosen classifier on every corpus, exports it with the
front end as one ONNX graph, and writes the manifest, docs/anger-model.md and
fixtures/anger_scorer.toml (scores the Rust scorer must reproduce). The
held-out-speaker calls are replayed through target/release/voicegate too
(when it is built). With --eval-only, only the evaluation runs and
tools/train/out/anger-evaluation.json and the trials table of
docs/anger-model.md are written.
"""
import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from . import calls, classifier, evaluate, frontend, replay_check, report

ROOT = Path(__file__).resolve().parents[3]
SEED = 7


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", help="the shared data directory (with MANIFEST.tsv)")
    parser.add_argument("--out", default=str(ROOT / "models"), help="where anger.onnx and anger.toml go")
    parser.add_argument("--eval-only", action="store_true", help="evaluate (and replay) only; change nothing in models/")
    parser.add_argument("--baseline", default=str(ROOT / "models"),
                        help="the directory of the anger model (and manifest) the figures are compared with")
    return parser.parse_args()


def timing(model_session):
    audio = (np.random.default_rng(SEED).standard_normal((8, frontend.WINDOW)) * 0.1).astype(np.float32)
    figures = {}
    for batch, runs in ((1, 300), (8, 60)):
        started = time.perf_counter()
        for _ in range(runs):
            model_session.run(None, {"audio": audio[:batch]})
        figures[batch] = (time.perf_counter() - started) / runs / batch * 1000
    return figures


def check_export(full, front, model, windows=16):
    """The exported graph must give the trained model's logits."""
    audio = (np.random.default_rng(SEED + 1).standard_normal((windows, frontend.WINDOW)) * 0.05).astype(np.float32)
    expected = model.logits(front.run(None, {"audio": audio})[0])
    actual = full.run(None, {"audio": audio})[0]
    worst = float(np.max(np.abs(expected - actual)))
    if worst > 1e-3:
        raise SystemExit(f"export mismatch: max |logit difference| {worst}")
    print(f"export check: max |logit difference| {worst:.2e}", file=sys.stderr)


def scorer_vectors(path, evaluation, calibration):
    """One calm and one angry held-out call of each emotion corpus, scored by
    the Python mirror of the Rust scorer, for the Rust unit test."""
    xs, ys = calibration
    picked = []
    for corpus in ("ravdess", "tess", "emospeech"):
        for kind in ("calm", "angry"):
            picked += [c for c in evaluation["calls"] if c.corpus == corpus and c.kind == kind][:1]
    lines = [f"# Made by `{report.COMMAND}` from held-out calls: the Rust AngerScorer must give these scores.",
             f"smoothing = {calls.SMOOTHING}", "", "[calibration]", 'kind = "piecewise_linear"',
             f"logit = {report.toml_list(xs)}", f"score = {report.toml_list(ys)}",
             f"adapt_weight = {evaluation['weight'].change}", f"baseline_shift = {evaluation['weight'].shift}",
             f"baseline_prior_logit = {evaluation['prior']:.4f}",
             f"baseline_prior_windows = {evaluate.PRIOR_WINDOWS}"]
    for call in picked:
        logits = [round(float(x), 4) for x in call.logits]
        scorer = calls.Scorer(xs, ys, evaluation["weight"], round(evaluation["prior"], 4), evaluate.PRIOR_WINDOWS)
        scores = [scorer.push([x]) for x in logits]
        lines += ["", "[[call]]", f'name = "{call.corpus} {call.kind} {call.speaker}"',
                  f"logits = {report.toml_list(logits)}", f"scores = {report.toml_list(scores)}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def replayed(evaluation, summary):
    """The binary's figures on the held-out-speaker calls, if it is built."""
    if not replay_check.BINARY.exists():
        print(f"replay check skipped: build {replay_check.BINARY} first (cargo build --release)", file=sys.stderr)
        return
    rows = replay_check.check(evaluation, evaluate.OUT / "replay")
    same, total = replay_check.agreement(rows)
    summary["replay"] = {"agree": same, "calls": total, "figures": replay_check.binary_figures(rows)}
    print(f"replay check: the binary and the Python mirror agree on {same} of {total} calls", file=sys.stderr)


def export(args, evaluation, summary):
    final = classifier.fit(evaluation["best"]["config"], evaluation["features"], evaluation["meta"])
    model = frontend.build(final.weights())
    full = evaluate.session(model)
    check_export(full, evaluate.session(frontend.build()), final)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "anger.onnx"
    model_path.write_bytes(model.SerializeToString())
    speed = timing(full)
    figures = {"size_bytes": model_path.stat().st_size,
               "cpu_ms_per_window_batch1": round(speed[1], 3), "cpu_ms_per_window_batch8": round(speed[8], 3)}
    sha = hashlib.sha256(model_path.read_bytes()).hexdigest()
    calibration = evaluation["calibration"]
    report.write_manifest(out / "anger.toml", sha, calibration, evaluation, summary, figures)
    report.write_doc(ROOT / "docs", evaluation, summary, figures, calibration)
    scorer_vectors(ROOT / "fixtures" / "anger_scorer.toml", evaluation, calibration)
    print(f"wrote {model_path} ({figures['size_bytes']} bytes, sha256 {sha[:12]}…)", file=sys.stderr)


def main():
    args = parse_args()
    evaluation = evaluate.evaluate(args.data, args.baseline)
    summary = evaluate.summary(evaluation)
    replayed(evaluation, summary)
    if args.eval_only:
        report.update_trials(ROOT / "docs", summary)
    else:
        export(args, evaluation, summary)
    evaluate.OUT.mkdir(parents=True, exist_ok=True)
    (evaluate.OUT / "anger-evaluation.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {evaluate.OUT / 'anger-evaluation.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
