"""Trains, exports and evaluates the keyword spotter.

    PYTHONPATH=tools/train python -m kws.train --data ../shared/data [--eval-only]

Writes models/kws.onnx (the detector) and models/kws-verifier.onnx
(unless --eval-only), then evaluates them on held-out speakers and voices
and on the false-accept corpus through the streaming detector, chooses the
per-word thresholds, and writes models/kws.toml, docs/kws-model.md and
docs/img/kws-*.png. Four networks are trained and distilled into the one
the detector ships (one network costs a quarter of four on every window).
--verifier-only keeps the detector of models/kws.onnx and trains the
verifier anew; --distil-detector keeps the verifier and distils the
networks of models/kws.onnx (the teachers) into one detector network.
"""
import argparse
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from . import dataset, evaluate, examples, frontend, gate, model, other_speech, report, stream, verifier, wuw
from .corpora import false_accept_clips
from .vocab import CLASSES, TRIGGER_WORDS, WORDS

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / "tools/train/cache/kws"
SEED = 7
TRIGGER_FA_PER_HOUR = 0.5
OTHER_FA_PER_HOUR = 3.0     # menu words and digits only count while a menu listens
# The detector, tuned for recall, may fire this many times more often than
# the targets on the tuning speech; the verifier's thresholds bring it back.
DETECTOR_FA_SLACK = 4.0


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", help="the shared data directory (with MANIFEST.tsv)")
    parser.add_argument("--eval-only", action="store_true", help="evaluate models/kws.onnx as it is")
    parser.add_argument("--verifier-only", action="store_true",
                        help="keep the detector networks of models/kws.onnx, train the verifier")
    parser.add_argument("--distil-detector", action="store_true",
                        help="keep models/kws-verifier.onnx, distil the networks of models/kws.onnx into one")
    return parser.parse_args()


def progress_line(what):
    started = time.time()

    def show(done, total):
        if done == total or done % 250 == 0:
            end = "\n" if done == total else ""
            print(f"\r{what}: {done}/{total} ({time.time() - started:.0f} s)", end=end, file=sys.stderr, flush=True)
    return show


def session(onnx_model):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(onnx_model.SerializeToString(), options)


def train_model(data, data_dir, kept_detector=None):
    """Both stages' graphs; the detector is `kept_detector` (a graph) if
    given, else distilled from a trained ensemble. The verifier trains on
    the last recipe's windows and the training callers'."""
    if kept_detector is None:
        nets = []
        for phrase_share in examples.PHRASE_SHARES:
            x, y = training_windows(data, phrase_share)
            nets += [model.train(x, y, len(CLASSES), seed) for seed in model.ENSEMBLE_SEEDS]
        detector = distilled([model.folded_layers(net) for net in nets], x, y)
    else:
        x, y = training_windows(data, examples.PHRASE_SHARES[-1])
        detector = kept_detector
    verifier_net, verifier_windows = verifier.train(x, y, session(detector), session(frontend.build()), data_dir)
    verifier_graph = frontend.build([model.folded_layers(verifier_net)], len(CLASSES), verifier.OUTPUT)
    check_export(verifier_graph, verifier_net)
    return (detector, verifier_graph), {"training_windows": int(len(y)), "verifier_windows": verifier_windows}


def distilled(teachers, x, y):
    """The detector's graph: one network trained on windows `x` (labels
    `y`) to give the mean P of `teachers` (folded networks) as well."""
    teacher = np.mean([model.folded_logits(t, x) for t in teachers], axis=0)
    print(f"distilling {len(teachers)} networks into one on {len(y)} windows "
          f"(the teachers agree with the labels on {np.mean(teacher.argmax(1) == y):.1%})", file=sys.stderr)
    student = model.train(x, y, len(CLASSES), model.DISTIL_SEED, teacher=teacher)
    graph = frontend.build([model.folded_layers(student)], len(CLASSES))
    check_export(graph, student)
    return graph


def training_windows(data, phrase_share):
    """Features and labels of one recipe (its own generator, so that each
    recipe's windows are what they would be alone)."""
    rng = np.random.default_rng(SEED)
    recordings = data["train"]
    specs = examples.plan(recordings, rng, phrase_share)
    babble = dataset.babble(recordings, rng)
    what = f"training windows ({phrase_share:.0%} phrases)"
    x = examples.features(recordings, data["train_backgrounds"], babble, specs, SEED, progress_line(what))
    return x, np.array([CLASSES.index(label) for _, label, _, _ in specs])


def check_export(onnx_model, net):
    """The ONNX graph must give the torch network's logits."""
    front = session(frontend.build())
    audio = (np.random.default_rng(SEED + 1).standard_normal((64, frontend.WINDOW)) * 0.05).astype(np.float32)
    expected = model.logits(net, front.run(None, {"audio": audio})[0])
    actual = session(onnx_model).run(None, {"audio": audio})[0]
    worst = float(np.max(np.abs(expected - actual)))
    if worst > 1e-3:
        raise SystemExit(f"export mismatch: max |logit difference| {worst}")
    print(f"export check: max |logit difference| {worst:.2e}", file=sys.stderr)


def timing(detector, repeats=7):
    """ms per window of the detector (what runs on every window), one
    thread; the best of `repeats` runs, since other work on the machine
    (builds) only ever adds time."""
    audio = (np.random.default_rng(SEED).standard_normal((8, frontend.WINDOW)) * 0.1).astype(np.float32)
    for _ in range(20):
        detector.run(None, {"audio": audio[:1]})
    figures = {}
    for batch, runs in ((1, 300), (8, 50)):
        best = np.inf
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in range(runs):
                detector.run(None, {"audio": audio[:batch]})
            best = min(best, (time.perf_counter() - started) / runs / batch * 1000)
        figures[batch] = best
    return figures


def write_graph(path, graph):
    path.write_bytes(graph.SerializeToString())
    print(f"wrote {path}", file=sys.stderr)


def previous_training(model_path):
    """For --eval-only: the figures the last training run wrote."""
    manifest = model_path.with_suffix(".toml")
    training = tomllib.loads(manifest.read_text(encoding="utf-8")).get("training", {}) if manifest.exists() else {}
    return {"training_windows": training.get("windows", 0), "minutes": training.get("minutes", 0.0),
            "verifier_windows": training.get("verifier_windows", 0),
            "detector_kept": training.get("detector_kept", False),
            "detector_distilled_alone": training.get("detector_distilled_alone", False)}


def fa_target(word):
    return TRIGGER_FA_PER_HOUR if word in TRIGGER_WORDS else OTHER_FA_PER_HOUR


def recall_target(word):
    return fa_target(word) * DETECTOR_FA_SLACK


def decision_rules(fa_scored, validation, has_verifier):
    """[(thresholds, None)] of the detector alone at the targets, then, for
    a model with a verifier, (detector thresholds at the looser recall
    target, verifier thresholds at the targets). The detector's are set on
    RAVDESS + TESS and the validation callers pooled; the verifier's keep
    each word within its target on each of the two, as the targets ask of
    every corpus."""
    pooled = [fa_scored + validation]
    one_stage = evaluate.choose_thresholds(pooled, CLASSES, fa_target)
    if not has_verifier:
        return [(one_stage, None)]
    detector = evaluate.choose_thresholds(pooled, CLASSES, recall_target)
    verify = evaluate.choose_thresholds([fa_scored, validation], CLASSES, fa_target, detector)
    return [(one_stage, None), (detector, verify)]


def evaluate_model(stages, data, data_dir):
    # One generator each, so that the false-accept corpus (and so the
    # thresholds) stays the same when the held-out set grows.
    det_streams = evaluate.detection_streams(data["held_out"], np.random.default_rng([SEED, 100]))
    clips = false_accept_clips(data_dir, WORDS)
    fa_audio = evaluate.false_accept_streams(clips, np.random.default_rng([SEED, 101]))
    nuisance = evaluate.nuisance_streams(clips, np.random.default_rng([SEED, 102]))
    print(f"scoring {len(det_streams)} detection streams, {len(fa_audio)} false-accept streams", file=sys.stderr)
    det_scored = evaluate.score_streams(stages, [s[0] for s in det_streams])
    fa_scored = evaluate.score_streams(stages, fa_audio)
    det_table = evaluate.detection_sweep(det_scored, det_streams, CLASSES)
    fa_table = evaluate.fa_sweep(fa_scored, CLASSES)
    # Thresholds are set on real speech: RAVDESS + TESS and the validation
    # callers' other speech on real phone lines (never the held-out callers).
    validation = evaluate.score_streams(stages, evaluate.joined(
        wuw.other_speech(wuw.clips(data_dir, "validation")), np.random.default_rng([SEED, 104])))
    rules = decision_rules(fa_scored, validation, stages.verifier is not None)
    shipped = rules[-1]
    rows = evaluate.detection_figures(det_scored, det_streams, CLASSES, *shipped)
    fa_counts, fa_hours = evaluate.false_accepts(fa_scored, CLASSES, *shipped)
    nuisance_figures = {name: evaluate.false_accepts(evaluate.score_streams(stages, audios), CLASSES, *shipped)
                        for name, audios in nuisance.items()}
    real_phone = {split: evaluate.real_phone(stages, data_dir, split, CLASSES, rules,
                                             np.random.default_rng([SEED, 103]))
                  for split in ("held_out", "validation")}
    other = other_speech.false_accepts(stages, data_dir, data["held_out"], CACHE / "tts", CLASSES, rules,
                                       np.random.default_rng([SEED, 105]))
    before = evaluate.detection_figures(det_scored, det_streams, CLASSES, *rules[0])
    return {"real_phone": {split: figures[-1] for split, figures in real_phone.items()},
            "real_phone_before": {split: figures[0] for split, figures in real_phone.items()},
            "other_speech": other[-1], "other_speech_before": other[0], "rows_before": before,
            "fa_before": evaluate.false_accepts(fa_scored, CLASSES, *rules[0]),
            "streams": det_streams, "rows": rows, "thresholds": shipped[0], "verify": shipped[1],
            "detector_slack": DETECTOR_FA_SLACK,
            "det_table": det_table, "fa_table": fa_table,
            "cross_checked_fa": evaluate.cross_checked_fa(fa_scored, CLASSES, fa_target,
                                                     shipped[0] if shipped[1] else None),
            "fa_counts": fa_counts, "fa_hours": fa_hours, "fa_clips": len(clips), "nuisance": nuisance_figures}


def main():
    args = parse_args()
    started = time.time()
    model_path, verifier_path = ROOT / "models/kws.onnx", ROOT / "models/kws-verifier.onnx"
    trains = not args.eval_only
    sides = ("train", "held_out") if trains else ("held_out",)
    data = dataset.load_all(args.data, CACHE / "tts", sides, progress_line("speech synthesis"), SEED)
    extra = previous_training(model_path)
    if args.distil_detector:
        x, y = training_windows(data, examples.PHRASE_SHARES[-1])
        write_graph(model_path, distilled(verifier.networks(model_path), x, y))
        extra["detector_distilled_alone"] = True
    elif trains:
        kept = onnx.load(str(model_path)) if args.verifier_only else None
        graphs, extra = train_model(data, args.data, kept)
        extra["detector_kept"] = args.verifier_only
        for path, graph in zip((model_path, verifier_path), graphs):
            write_graph(path, graph)
    extra["detector_networks"] = len(verifier.networks(model_path))
    gate_path = ROOT / "models" / gate.FILE
    write_graph(gate_path, gate.cut(onnx.load(str(model_path))))
    stages = stream.Stages(*(session(onnx.load(str(path))) for path in (model_path, verifier_path, gate_path)),
                           bar=gate.BAR)
    results = evaluate_model(stages, data, args.data)
    speed, gate_speed = timing(stages.detector), timing(stages.gate)
    if trains:
        extra["minutes"] = (time.time() - started) / 60
    results.update(extra, ms_batch1=speed[1], ms_batch8=speed[8], gate_ms_batch1=gate_speed[1],
                   gate_ms_batch8=gate_speed[8], detector_share=stages.detected / max(1, stages.windows),
                   size_bytes=sum(path.stat().st_size for path in (model_path, verifier_path, gate_path)))
    report.write_all(ROOT, args.data, results)
    print(f"done in {(time.time() - started) / 60:.1f} min", file=sys.stderr)


if __name__ == "__main__":
    main()
