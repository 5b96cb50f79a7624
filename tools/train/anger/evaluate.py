"""Leave-one-corpus-out evaluation of the anger model, windows and whole calls
(run by `python -m anger.train --eval-only`).

Every figure for a corpus comes from the model trained without that corpus,
with its score-80 line set on the other corpora. Candidates (classifier
settings, then the caller-adaptive step) are chosen by their
WORST left-out corpus. Writes tools/train/out/anger-evaluation.json.
"""
import dataclasses
import sys
import tomllib
from pathlib import Path

import numpy as np
import onnx
import onnx.utils
import onnxruntime as ort

from . import calls, data, dataset, frontend, loco

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "tools" / "train" / "out"
# Measured beside the gateway's rule (each window on its own, its plain rise
# above the baseline): the mean of the 3 latest windows (1.5 s more audio per
# score), and a cumulative rise.
ADAPTATIONS = (tuple(calls.Adaptation(change, shift, recent) for recent in (1, 3)
                     for change in (0.0, 1.0, 2.0) for shift in (0.0, 0.5, 1.0, 1.5))
               + tuple(calls.Adaptation(1.0, shift, 1, drift) for drift in (0.5, 1.0) for shift in (0.5, 1.0)))
PRIOR_WINDOWS = 4.0          # the calm prior counts as this many windows of the call's own voice


def session(model):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options)


def call_features(call_list, front, batch=64):
    """Front-end features of every call's windows."""
    for call in call_list:
        stack = np.stack(call.windows).astype(np.float32) if call.windows else np.zeros((0, frontend.WINDOW), np.float32)
        call.features = np.concatenate([front.run(None, {"audio": stack[i:i + batch]})[0]
                                        for i in range(0, len(stack), batch)] or [np.zeros((0, frontend.FEATURES))])


def calibration_points(calm, angry, quantile=loco.CALM_QUANTILE_AT_80):
    """Logit -> score: 0 and 100 at the extremes, 20 at the median calm window,
    80 at the highest per-corpus `quantile` of calm windows (`calm`:
    corpus -> adapted logits), 95 at the median angry window above 80."""
    pooled_calm = np.concatenate(list(calm.values()))
    x80 = max(np.quantile(v, quantile) for v in calm.values())
    above = angry[angry > x80]
    points = [(np.quantile(pooled_calm, 0.001), 0.0), (np.median(pooled_calm), 20.0), (x80, 80.0),
              (np.median(above) if len(above) else x80 + 2.0, 95.0),
              (np.quantile(angry, 0.999) if len(angry) else x80 + 4.0, 100.0)]
    xs, ys = [], []
    for x, y in points:
        x = max(float(x), xs[-1] + 0.01) if xs else float(x)
        xs.append(round(x, 4))
        ys.append(y)
    return xs, ys


def adapted(call, logits, weight):
    return calls.adapted_logits(logits, weight, call.prior, PRIOR_WINDOWS)


def angry_part(call):
    """Which of a calm→angry call's windows hold its angry part."""
    return np.asarray(call.times) > call.onset_s + 1.0   # a window holds 2 s: half of it past the onset


def calibrate(call_list, weight):
    """Calibration from the calm windows of calm calls and the angry windows of angry calls."""
    calm, angry = {}, []
    for call in call_list:
        values = adapted(call, call.logits, weight)
        if call.kind == "calm":
            calm.setdefault(call.corpus, []).append(values)
        elif call.kind == "angry":
            angry.append(values[angry_part(call)])
    return calibration_points({c: np.concatenate(v) for c, v in calm.items()}, np.concatenate(angry))


def decide(call, weight, xs, ys):
    scorer = calls.Scorer(xs, ys, weight, call.prior, PRIOR_WINDOWS)
    scores = [scorer.push([x]) for x in call.logits]
    return scores, calls.first_transfer(call.times, scores)


def use_logits(call_list, held_out):
    """Sets each call's logits and calm prior for one way of holding out:
    "speaker" (the fold model that never heard the speaker) or "corpus"
    (the model that never saw the corpus)."""
    for call in call_list:
        call.logits, call.prior = call.held_out[held_out]


def call_figures(call_list, weight, held_out, fixed=None):
    """Per corpus: angry calls transferred within 6 s of the onset, happy
    calls transferred, calm calls transferred, calm windows above 80, false
    transfers per hour. Each call's calibration comes from calls it is not
    part of (other speaker folds, or other corpora), unless `fixed` gives one."""
    use_logits(call_list, held_out)
    part = (lambda c: c.fold) if held_out.startswith("speaker") else (lambda c: c.corpus)
    calibrations = {p: fixed or calibrate([c for c in call_list if part(c) != p], weight)
                    for p in {part(c) for c in call_list}}
    rows = []
    for corpus in data.CORPORA:
        mine = [c for c in call_list if c.corpus == corpus]
        outcome = {"angry": [], "happy": [], "calm": []}
        calm_scores, false_transfers, calm_hours = [], 0, 0.0
        for call in mine:
            xs, ys = calibrations[part(call)]
            scores, at = decide(call, weight, xs, ys)
            if call.kind == "calm":
                outcome["calm"].append(at is not None)
                calm_scores += list(np.interp(adapted(call, call.logits, weight), xs, ys))
                false_transfers += transfers(call.times, scores)
                calm_hours += len(call.audio) / calls.RATE / 3600
            else:
                outcome[call.kind].append(at is not None and call.onset_s < at <= call.onset_s + calls.ONSET_LIMIT_S)
        rows.append({
            "corpus": corpus, "calls": len(mine),
            "angry_calls": len(outcome["angry"]), "angry_within_6s": rate(outcome["angry"]),
            "happy_calls": len(outcome["happy"]), "happy_transferred": rate(outcome["happy"]),
            "calm_calls": len(outcome["calm"]), "calm_transferred": int(sum(outcome["calm"])),
            "calm_windows_above_80": float(np.mean(np.asarray(calm_scores) > 80)) if calm_scores else None,
            "calm_hours": round(calm_hours, 3),
            "false_transfers_per_hour": false_transfers / calm_hours if calm_hours else None,
        })
    return rows


def transfers(times, scores):
    """How many anger transfers a call would make if each one restarted the count."""
    count, run = 0, 0
    for score in scores:
        run = run + 1 if score > calls.THRESHOLD else 0
        if run == calls.SUSTAIN:
            count, run = count + 1, 0
    return count


def rate(flags):
    return float(np.mean(flags)) if flags else None


def worst_calls(rows):
    """The worst corpus's share of angry calls caught in time, less twice the
    share of all calm calls transferred."""
    angry = min(r["angry_within_6s"] for r in rows if r["angry_within_6s"] is not None)
    calm = sum(r["calm_transferred"] for r in rows) / sum(r["calm_calls"] for r in rows)
    return angry - 2 * calm


def hold_out_calls(call_list, front, best, speaker, meta, shipped, shipped_windows):
    """Each call's (logits, calm prior) under each way of holding out, and from the shipped model."""
    call_features(call_list, front)
    speaker_logits, speaker_models, fold_of = speaker
    calm = meta[:, 3] == "calm"
    speaker_prior = float(np.median(speaker_logits[calm]))
    shipped_prior = shipped.prior if shipped.prior is not None else float(np.median(shipped_windows[calm]))
    for call in call_list:
        call.fold = fold_of[f"{call.corpus}/{call.speaker}"]
        corpus_prior = float(np.median(best["logits"][calm & (meta[:, 0] != call.corpus)]))
        call.held_out = {
            "speaker": (logits_of(speaker_models[call.fold], call.features), speaker_prior),
            "corpus": (logits_of(best["models"][call.corpus], call.features), corpus_prior),
            "shipped": (logits_of(shipped, call.features), shipped_prior),
        }


class Shipped:
    """The model in models/ before this run, as the baseline: its graph from
    `features` on, and its own calibration."""

    def __init__(self, models_dir):
        path = Path(models_dir) / "anger.onnx"
        graph = onnx.shape_inference.infer_shapes(onnx.load(path))
        sub = onnx.utils.Extractor(graph).extract_model(["features"], ["anger_logit"])
        self.session = session(sub)
        # New features are appended after the old ones: the shipped model reads the first of them.
        self.width = sub.graph.input[0].type.tensor_type.shape.dim[1].dim_value
        calibration = tomllib.loads((Path(models_dir) / "anger.toml").read_text(encoding="utf-8"))["calibration"]
        self.calibration = (calibration["logit"], calibration["score"])
        # A manifest from before the adaptive step has none: windows scored on their own.
        self.adaptation = calls.Adaptation(calibration.get("adapt_weight", 0.0), calibration.get("baseline_shift", 0.0))
        self.prior = calibration.get("baseline_prior_logit")

    def logits(self, features):
        return self.session.run(None, {"features": np.asarray(features[:, :self.width], np.float32)})[0]


def logits_of(model, features):
    return model.logits(features) if len(features) else np.zeros(0)


def print_calls(name, rows):
    print(name + ": " + "; ".join(
        f"{r['corpus']} angry {loco.fmt(r['angry_within_6s'], 2)} happy {loco.fmt(r['happy_transferred'], 2)} "
        f"calm {r['calm_transferred']}/{r['calm_calls']} ({loco.fmt(r['false_transfers_per_hour'], 1)}/h)"
        for r in rows), file=sys.stderr)


def evaluate(data_dir, models_dir=ROOT / "models"):
    front = session(frontend.build())
    features, meta = dataset.load_or_extract(data_dir, front)
    results, best = loco.select(features, meta)
    speaker = loco.out_of_speaker(best["config"], features, meta)
    call_list = calls.make_calls(data_dir, dataset.babble_source(data_dir, np.random.default_rng(dataset.SEED)))
    shipped = Shipped(models_dir)
    shipped_windows = shipped.logits(features[:, 0])
    hold_out_calls(call_list, front, best, speaker, meta, shipped, shipped_windows)
    shipped_rows = {"windows": loco.corpus_rows(shipped_windows, meta),
                    "calls": call_figures(call_list, shipped.adaptation, "shipped", fixed=shipped.calibration)}
    print_calls("shipped model", shipped_rows["calls"])
    by_weight = {}
    for weight in ADAPTATIONS:
        by_weight[weight] = {held: call_figures(call_list, weight, held) for held in ("speaker", "corpus")}
        for held, rows in by_weight[weight].items():
            print_calls(f"adaptation {weight}, held-out {held}", rows)
    weight = best_of(by_weight, calls.Adaptation.in_gateway)
    # The shipped model under this model's rules: 80 placed on the other corpora, the same adaptive step.
    shipped_rows["calls_same_rule"] = call_figures(call_list, weight, "shipped")
    print_calls("shipped model, same rule", shipped_rows["calls_same_rule"])
    tried = trials(best["config"], speaker[0], features, meta, call_list, weight, by_weight)
    use_logits(call_list, "speaker")
    return {"features": features, "meta": meta, "results": results, "best": best, "speaker": speaker,
            "calls": call_list, "by_weight": by_weight, "weight": weight, "shipped": shipped_rows, "trials": tried,
            "calibration": calibrate(call_list, weight), "prior": call_list[0].prior}


def best_of(by_weight, which):
    """The adaptive step, among those `which` accepts, with the best whole calls held out by speaker."""
    return max((w for w in by_weight if which(w)), key=lambda w: worst_calls(by_weight[w]["speaker"]))


def trials(config, speaker_logits, features, meta, call_list, weight, by_weight, real_line=3.0):
    """Whole-call figures (held out by speaker) of the chosen model and
    adaptive step beside what was tried instead: the best step on the mean
    of the latest windows, the best with a cumulative rise (neither is the
    gateway's rule), and the real phone calls' calm windows weighted
    `real_line` times in training."""
    windows = loco.corpus_rows(speaker_logits, meta)
    out = {f"chosen: {config.describe()}; {weight}": {"windows": windows, "calls": by_weight[weight]["speaker"]}}
    for tried in (best_of(by_weight, lambda w: w.recent > 1), best_of(by_weight, lambda w: w.drift is not None)):
        out[f"{config.describe()}; {tried}"] = {"windows": windows, "calls": by_weight[tried]["speaker"]}
    heavier = dataclasses.replace(config, real_line=real_line)
    logits, models, _ = loco.out_of_speaker(heavier, features, meta)
    key = f"speaker, {heavier.describe()}"
    prior = float(np.median(logits[meta[:, 3] == "calm"]))
    for call in call_list:
        call.held_out[key] = (logits_of(models[call.fold], call.features), prior)
    out[f"{heavier.describe()}; {weight}"] = {"windows": loco.corpus_rows(logits, meta),
                                                "calls": call_figures(call_list, weight, key)}
    for name, rows in out.items():
        print_calls(f"trial {name}", rows["calls"])
    return out


def summary(evaluation):
    """What the JSON file and the docs keep."""
    return {
        "candidates": [{"config": r["config"].describe(), "worst_auc": loco.worst_auc(r["rows"]), "rows": r["rows"]}
                       for r in evaluation["results"]],
        "chosen": evaluation["best"]["config"].describe(),
        "adaptation": str(evaluation["weight"]),
        "calls_by_weight": {str(w): rows for w, rows in evaluation["by_weight"].items()},
        "speaker_held_out_windows": loco.corpus_rows(evaluation["speaker"][0], evaluation["meta"]),
        "shipped_model": evaluation["shipped"],
        "trials": evaluation["trials"],
    }
