"""Leave-one-corpus-out evaluation: for each corpus, a model trained on all
the others scores it. A corpus left out is also a set of speakers (and a
language, a channel, a way of acting) the model never met, which is what
the gateway meets on a real line."""
import sys

import numpy as np
from sklearn.metrics import roc_auc_score

from . import classifier, data

# Score 80 is the largest, over the corpora, of their calm windows' 98.5th
# percentile: "80" must hold (at most 2 % of calm windows above it) on the
# corpus where calm speech scores highest.
CALM_QUANTILE_AT_80 = 0.985
SPEAKER_FOLDS = 5


def out_of_corpus(config, features, meta):
    """Logits of every window's plain copy from the model trained without its corpus,
    and those models by corpus."""
    logits = np.zeros(len(meta))
    models = {}
    for corpus in data.CORPORA:
        held = meta[:, 0] == corpus
        models[corpus] = classifier.fit(config, features[~held], meta[~held])
        logits[held] = models[corpus].logits(features[held, 0])
    return logits, models


def speaker_folds(meta):
    """A fold for every window, whole speakers (within their corpus) to a fold."""
    groups = np.char.add(np.char.add(meta[:, 0].astype(str), "/"), meta[:, 1].astype(str))
    names = np.unique(groups)
    order = np.random.default_rng(classifier.SEED).permutation(len(names))
    fold_of = dict(zip(names[order], np.arange(len(names)) % SPEAKER_FOLDS))
    return np.array([fold_of[g] for g in groups]), fold_of


def out_of_speaker(config, features, meta):
    """Logits of every window's plain copy from the model trained without its
    speaker (every corpus seen), those models by fold, and the fold of each speaker."""
    folds, fold_of = speaker_folds(meta)
    logits = np.zeros(len(meta))
    models = {}
    for fold in range(SPEAKER_FOLDS):
        held = folds == fold
        models[fold] = classifier.fit(config, features[~held], meta[~held])
        logits[held] = models[fold].logits(features[held, 0])
    return logits, models, fold_of


def threshold_80(logits, meta, leave_out=None):
    """Logit of score 80: the highest per-corpus calm quantile, `leave_out` not counted."""
    calm = meta[:, 3] == "calm"
    return max(np.quantile(logits[calm & (meta[:, 0] == c)], CALM_QUANTILE_AT_80)
               for c in data.CORPORA if c != leave_out)


def auc(logits, positive, negative):
    if not positive.any() or not negative.any():
        return None
    keep = positive | negative
    return float(roc_auc_score(positive[keep], logits[keep]))


def corpus_rows(logits, meta):
    """Per left-out corpus: AUCs, and shares of windows above score 80 with the
    80 set on the other corpora only."""
    rows = []
    for corpus in data.CORPORA:
        here = meta[:, 0] == corpus
        kind, label = meta[here, 3], meta[here, 2]
        x = logits[here]
        line = threshold_80(logits, meta, leave_out=corpus)
        angry, calm = kind == "angry", kind == "calm"
        rows.append({
            "corpus": corpus, "windows": int(here.sum()), "speakers": len(set(meta[here, 1])),
            "auc_vs_calm": auc(x, angry, calm), "auc_vs_all": auc(x, angry, ~angry),
            "auc_vs_happy": auc(x, angry, label == "happy"),
            "calm_above_80": float(np.mean(x[calm] > line)),
            "angry_above_80": float(np.mean(x[angry] > line)) if angry.any() else None,
            "happy_above_80": float(np.mean(x[label == "happy"] > line)) if (label == "happy").any() else None,
        })
    return rows


def worst_auc(rows):
    return min(r["auc_vs_calm"] for r in rows if r["auc_vs_calm"] is not None)


def select(features, meta, candidates=classifier.CANDIDATES):
    """Every candidate's out-of-corpus figures; the one with the best worst
    left-out AUC wins."""
    results = []
    for config in candidates:
        logits, models = out_of_corpus(config, features, meta)
        rows = corpus_rows(logits, meta)
        results.append({"config": config, "logits": logits, "models": models, "rows": rows})
        print(f"{config.describe()}: worst left-out AUC {worst_auc(rows):.3f}; " + ", ".join(
            f"{r['corpus']} {fmt(r['auc_vs_calm'])}/{r['calm_above_80']:.3f}" for r in rows), file=sys.stderr)
    return results, max(results, key=lambda r: worst_auc(r["rows"]))


def fmt(value, digits=3):
    return "–" if value is None else f"{value:.{digits}f}"
