"""Trains, evaluates and exports the anger model.

    PYTHONPATH=tools/train python -m anger.train --data ../shared/data

Speaker-independent evaluation: RAVDESS actors in 4 folds (3 men and 3 women
each), and each TESS speaker as a fold of her own; every figure is measured
on speakers the model did not see, through a telephone channel. The shipped
model is then trained on every speaker, and its 0-100 calibration comes from
the held-out (out-of-fold) logits.
"""
import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from . import channel, data, frontend, report

ROOT = Path(__file__).resolve().parents[3]
SEED = 7
CHANNEL_COPIES = 3          # random phone channels per window; copy 0 is the one evaluated
CALM = {"neutral", "calm"}
# Score 80 sits at this quantile of held-out calm windows: the requirement is
# under 2 % of calm windows above 80 on new speakers, and the fold-by-fold
# check showed about 2.4 % at the 99th percentile, so the margin is taken here.
CALM_QUANTILE_AT_80 = 0.995
OTHER_SPEECH = {"fsdd", "dspspeech20"}
OTHER_SPEECH_CLIPS = 1500   # read words and digits by other speakers: more non-angry voices and microphones


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", help="the shared data directory (with MANIFEST.tsv)")
    parser.add_argument("--out", default=str(ROOT / "models"), help="where anger.onnx and anger.toml go")
    return parser.parse_args()


def session(model):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options)


def babble_source(data_dir, rng, seconds=120):
    """Other people talking (Speech Commands), as background noise."""
    clips = [c for c in data.read_manifest(data_dir, {"speech_commands"}) if c.label != "_silence_"]
    picked = rng.choice(len(clips), size=min(len(clips), seconds), replace=False)
    return np.concatenate([data.load(clips[i].path) for i in picked])


def extract(clips, front, babble):
    """Features [windows, CHANNEL_COPIES, F] and one row of metadata per window."""
    features, meta = [], []
    started = time.time()
    for index, clip in enumerate(clips):
        rng = np.random.default_rng([SEED, index])
        for window in data.windows(data.trim_silence(data.load(clip.path))):
            copies = np.stack([channel.telephone(window.copy(), rng, babble) for _ in range(CHANNEL_COPIES)])
            features.append(front.run(None, {"audio": copies})[0])
            meta.append((clip.corpus, clip.speaker, clip.label))
        if index % 200 == 0 or index == len(clips) - 1:
            print(f"\rfeatures: {index + 1}/{len(clips)} clips, {len(meta)} windows, {time.time() - started:.0f} s", end="", file=sys.stderr)
    print(file=sys.stderr)
    return np.stack(features), np.array(meta)


def fold_of(corpus, speaker):
    """RAVDESS actors 1,2 -> 0, 3,4 -> 1, ... so each fold has both sexes; TESS speakers get folds 4 and 5."""
    if corpus == "tess":
        return 4 if speaker.startswith("OAF") else 5
    actor = int(speaker.split("_")[-1])
    return ((actor - 1) // 2) % 4


def other_speech(data_dir, rng):
    """A sample of the word and digit corpora, as extra non-angry speakers."""
    clips = data.read_manifest(data_dir, OTHER_SPEECH)
    return [clips[i] for i in rng.choice(len(clips), size=min(len(clips), OTHER_SPEECH_CLIPS), replace=False)]


def fit(x, y, extra_negatives):
    """Strong L2 (alpha 20) won in speaker-independent cross-validation over
    weaker settings and over logistic regression: it generalises across speakers."""
    x = np.concatenate([x, extra_negatives])
    y = np.concatenate([y, np.zeros(len(extra_negatives), bool)])
    scaler = StandardScaler().fit(x)
    mlp = MLPClassifier(hidden_layer_sizes=(64,), alpha=20.0, max_iter=500, random_state=SEED)
    mlp.fit(scaler.transform(x), y)
    return scaler, mlp


def logits(model, x):
    scaler, mlp = model
    hidden = np.maximum(scaler.transform(x) @ mlp.coefs_[0] + mlp.intercepts_[0], 0.0)
    return (hidden @ mlp.coefs_[1] + mlp.intercepts_[1]).ravel()


def cross_validate(features, meta, angry, negatives):
    folds = np.array([fold_of(c, s) for c, s, _ in meta])
    oof = np.zeros(len(meta))
    rows = []
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        model = fit(features[train].reshape(-1, features.shape[-1]), np.repeat(angry[train], CHANNEL_COPIES), negatives)
        oof[test] = logits(model, features[test, 0])
        rows.append(fold_figures(fold, meta[test], angry[test], oof[test]))
        print(f"fold {fold}: AUC {rows[-1]['auc_vs_neutral_calm']:.3f} vs neutral/calm, "
              f"{rows[-1]['auc_vs_all']:.3f} vs all ({rows[-1]['speakers']})", file=sys.stderr)
    return folds, oof, rows


def aucs(labels, angry, scores):
    calm = np.isin(labels, list(CALM))
    vs_calm = angry | calm
    return (roc_auc_score(angry[vs_calm], scores[vs_calm]), roc_auc_score(angry, scores))


def fold_figures(fold, meta, angry, scores):
    vs_calm, vs_all = aucs(meta[:, 2], angry, scores)
    speakers = sorted(set(meta[:, 1]))
    return {"fold": int(fold), "corpus": str(meta[0, 0]), "speakers": ", ".join(speakers),
            "windows": int(len(meta)), "auc_vs_neutral_calm": float(vs_calm), "auc_vs_all": float(vs_all)}


def threshold_check(folds, oof, labels, angry):
    """For each fold, the score-80 threshold fitted on the other folds' calm
    windows, then the share of this fold's calm and angry windows above it."""
    calm = np.isin(labels, list(CALM))
    calm_above, angry_above = [], []
    for fold in np.unique(folds):
        here = folds == fold
        threshold = np.quantile(oof[~here & calm], CALM_QUANTILE_AT_80)
        calm_above.append(np.mean(oof[here & calm] > threshold))
        angry_above.append(np.mean(oof[here & angry] > threshold))
    return float(np.mean(calm_above)), float(np.mean(angry_above))


def calibration_points(oof, labels, angry):
    """Logit -> score: 20 at the median calm window, 80 at the 99.5th percentile
    of calm windows (so about 0.5 % of calm speech scores above 80), 95 at the
    median angry window above that, 0 and 100 at the extremes."""
    calm = oof[np.isin(labels, list(CALM))]
    angry_logits = oof[angry]
    x80 = np.quantile(calm, CALM_QUANTILE_AT_80)
    above = angry_logits[angry_logits > x80]
    points = [
        (np.quantile(oof, 0.001), 0.0),
        (np.median(calm), 20.0),
        (x80, 80.0),
        (np.median(above) if len(above) else x80 + 2.0, 95.0),
        (np.quantile(angry_logits, 0.999), 100.0),
    ]
    xs, ys = [], []
    for x, y in points:
        x = max(float(x), xs[-1] + 0.01) if xs else float(x)
        xs.append(round(x, 4))
        ys.append(y)
    return xs, ys


def expected_calibration_error(probabilities, truth, bins=10):
    edges = np.linspace(0, 1, bins + 1)
    error = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (probabilities >= lo) & (probabilities < hi if hi < 1 else probabilities <= hi)
        if inside.any():
            error += inside.mean() * abs(probabilities[inside].mean() - truth[inside].mean())
    return float(error)


def timing(model_session):
    audio = (np.random.default_rng(SEED).standard_normal((8, frontend.WINDOW)) * 0.1).astype(np.float32)
    figures = {}
    for batch, runs in ((1, 300), (8, 60)):
        started = time.perf_counter()
        for _ in range(runs):
            model_session.run(None, {"audio": audio[:batch]})
        figures[batch] = (time.perf_counter() - started) / runs / batch * 1000
    return figures


def main():
    args = parse_args()
    rng = np.random.default_rng(SEED)
    clips = data.read_manifest(args.data, data.EMOTION_CORPORA)
    print(f"{len(clips)} emotion clips from {args.data}", file=sys.stderr)
    front = session(frontend.build())
    babble = babble_source(args.data, rng)
    features, meta = extract(clips, front, babble)
    negatives = extract(other_speech(args.data, rng), front, babble)[0].reshape(-1, frontend.FEATURES)
    labels = meta[:, 2]
    angry = labels == "angry"
    folds, oof, rows = cross_validate(features, meta, angry, negatives)
    vs_calm, vs_all = aucs(labels, angry, oof)
    calm_above, angry_above = threshold_check(folds, oof, labels, angry)
    xs, ys = calibration_points(oof, labels, angry)
    final = fit(features.reshape(-1, features.shape[-1]), np.repeat(angry, CHANNEL_COPIES), negatives)
    scaler, mlp = final
    model = frontend.build({"mean": scaler.mean_, "scale": scaler.scale_, "w1": mlp.coefs_[0],
                            "b1": mlp.intercepts_[0], "w2": mlp.coefs_[1], "b2": mlp.intercepts_[1]})
    full = session(model)
    check_export(full, front, final)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "anger.onnx"
    model_path.write_bytes(model.SerializeToString())
    figures = {
        "auc_anger_vs_neutral_calm": round(float(vs_calm), 4),
        "auc_anger_vs_all": round(float(vs_all), 4),
        "ece": round(expected_calibration_error(1 / (1 + np.exp(-oof)), angry.astype(float)), 4),
        "neutral_calm_windows_above_80": round(calm_above, 4),
        "angry_windows_above_80": round(angry_above, 4),
        "windows": int(len(meta)),
        "size_bytes": model_path.stat().st_size,
    }
    speed = timing(full)
    figures["cpu_ms_per_window_batch1"] = round(speed[1], 3)
    figures["cpu_ms_per_window_batch8"] = round(speed[8], 3)
    sha = hashlib.sha256(model_path.read_bytes()).hexdigest()
    report.write_manifest(out / "anger.toml", sha, xs, ys, figures, rows, mlp)
    report.write_doc(ROOT / "docs", figures, rows, xs, ys, oof, angry, labels, folds)
    print(f"wrote {model_path} ({figures['size_bytes']} bytes, sha256 {sha[:12]}…)", file=sys.stderr)
    print(figures, file=sys.stderr)


def check_export(full, front, model, windows=16):
    """The exported graph must give the trained model's logits."""
    audio = (np.random.default_rng(SEED + 1).standard_normal((windows, frontend.WINDOW)) * 0.05).astype(np.float32)
    expected = logits(model, front.run(None, {"audio": audio})[0])
    actual = full.run(None, {"audio": audio})[0]
    worst = float(np.max(np.abs(expected - actual)))
    if worst > 1e-3:
        raise SystemExit(f"export mismatch: max |logit difference| {worst}")
    print(f"export check: max |logit difference| {worst:.2e}", file=sys.stderr)


if __name__ == "__main__":
    main()
