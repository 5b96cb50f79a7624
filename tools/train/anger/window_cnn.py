"""Experiment: a small CNN on the window's level-normalised log-mel frames
instead of the MLP on 162 hand-made statistics, measured leave-one-corpus-out
on the same windows (the same clips, phone lines, voices and rooms as the
cached features: the extraction draws the same random numbers).

    PYTHONPATH=tools/train python -m anger.window_cnn --data ../shared/data [--screen]

Writes tools/train/out/anger-window-cnn.json (every corpus left out in turn,
SETTINGS) or, with --screen, tools/train/out/anger-window-cnn-screen.json
(the EmoSpeech fold only, SCREEN). The log-mel frames are cached beside the
features in tools/train/cache (700 MB).
"""
import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper

import torch
from torch import nn

from . import classifier, data, dataset, evaluate, frontend, loco, report

OUT = Path(__file__).resolve().parents[1] / "out"
DOC = Path(__file__).resolve().parents[3] / "docs" / "anger-model.md"
FRAMES = (frontend.WINDOW - frontend.FRAME) // frontend.FRAME_HOP + 1
SEED = 7


@dataclass(frozen=True)
class Setting:
    """One window model and its training.

    Shape: `width` channels in each of three time convolutions (the mel bands
    are the input channels); or, with `planar`, three 2-D convolutions over
    bands and time (8, 16, `width` channels, each halving both); with
    `recurrent`, a GRU of `width` units over the 1-D convolutions' frames;
    the head sees the mean over time (and with `peak` the peak beside it).
    `statistics`: hidden units of a ReLU MLP on the shipped model's 162
    statistics of the same (augmented) frames, beside the convolutions (or,
    without `conv`, alone), its weights under an L2 penalty `l2`.
    Input: `centre_bands` removes each band's mean over the window (the
    line's and the microphone's colouring, and the spectral tilt with it).
    Augmentation: SpecAugment masks of up to `freq_mask` bands and twice up to
    `time_mask` frames; a random spectral tilt (a line across the bands from
    -`tilt` to +`tilt` in log units: a handset or microphone);
    `shuffle_chunks` reorders that many spans of the window (the acted
    corpora's fixed sentences lose their order, the voice keeps its
    dynamics); `mixup` mixes pairs of windows, frames and labels, by a
    Beta(`mixup`, `mixup`) share. `adversary` weighs a corpus classifier on
    the pooled features whose gradient is reversed (features that cannot
    tell the corpus). Training: `epochs` of `draws` windows drawn by the
    balanced weights."""
    width: int = 32
    planar: bool = False
    recurrent: bool = False
    centre_bands: bool = False
    freq_mask: int = 6
    time_mask: int = 30
    epochs: int = 12
    draws: int = 28000
    batch: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-2
    dropout: float = 0.3
    tilt: float = 0.0
    peak: bool = True
    shuffle_chunks: int = 0
    adversary: float = 0.0
    conv: bool = True
    statistics: int = 0
    l2: float = 0.0
    mixup: float = 0.0

    def describe(self):
        centred = ", band means removed" if self.centre_bands else ""
        extras = f", tilt ±{self.tilt}" if self.tilt else ""
        extras += "" if self.peak else ", mean pooling only"
        extras += f", {self.shuffle_chunks} spans shuffled" if self.shuffle_chunks else ""
        extras += f", corpus adversary {self.adversary}" if self.adversary else ""
        extras += f", mixup {self.mixup}" if self.mixup else ""
        shape = f"2-D CNN 8/16/{self.width} channels" if self.planar else f"CNN 3x{self.width} channels"
        shape += f" + GRU {self.width}" if self.recurrent else ""
        if self.statistics:
            statistics = f"MLP {self.statistics} hidden on the statistics (L2 {self.l2})"
            shape = f"{statistics} + {shape}" if self.conv else statistics
        return (f"{shape}{centred}, masks {self.freq_mask} bands / 2x{self.time_mask} frames{extras}, "
                f"{self.epochs} epochs, weight decay {self.weight_decay}, dropout {self.dropout}")


def conv_block(conv, norm, inputs, outputs, kernel, stride):
    return [conv(inputs, outputs, kernel, stride=stride, padding=kernel // 2), norm(outputs), nn.ReLU()]


class WindowNet(nn.Module):
    """Three convolutions, then the mean (and the peak) of the last over time
    (and bands), to one logit."""
    def __init__(self, setting):
        super().__init__()
        w = setting.width
        self.centre_bands, self.planar, self.peak = setting.centre_bands, setting.planar, setting.peak
        self.inp = nn.BatchNorm1d(frontend.N_MELS)
        if setting.planar:
            layers = conv_block(nn.Conv2d, nn.BatchNorm2d, 1, 8, 5, 2) + conv_block(nn.Conv2d, nn.BatchNorm2d, 8, 16, 3, 2) \
                + conv_block(nn.Conv2d, nn.BatchNorm2d, 16, w, 3, 2)
        else:
            layers = conv_block(nn.Conv1d, nn.BatchNorm1d, frontend.N_MELS, w, 5, 2) \
                + conv_block(nn.Conv1d, nn.BatchNorm1d, w, w, 5, 2) + conv_block(nn.Conv1d, nn.BatchNorm1d, w, w, 3, 1)
        self.body = nn.Sequential(*layers)
        self.recurrent = nn.GRU(w, w, batch_first=True) if setting.recurrent else None
        pooled = (2 if setting.peak else 1) * w
        self.head = nn.Sequential(nn.Dropout(setting.dropout), nn.Linear(pooled, 1))
        self.corpus_head = nn.Linear(pooled, len(data.CORPORA))
        self.conv = setting.conv
        self.statistics_head = nn.Sequential(
            nn.BatchNorm1d(frontend.FEATURES, affine=False), nn.Linear(frontend.FEATURES, setting.statistics), nn.ReLU(),
            nn.Linear(setting.statistics, 1)) if setting.statistics else None

    def forward(self, x):
        return self.parts(x)[0]

    def parts(self, x):
        """The logit, and the pooled convolution features (None without them)."""
        embedded = self.embed(x) if self.conv else None
        logit = self.head(embedded).squeeze(1) if self.conv else torch.zeros(len(x))
        if self.statistics_head is not None:
            logit = logit + self.statistics_head(statistics(x)).squeeze(1)
        return logit, embedded

    def penalty(self):
        """Sum of the squared weights of the statistics MLP."""
        if self.statistics_head is None:
            return 0.0
        return sum((layer.weight ** 2).sum() for layer in self.statistics_head if isinstance(layer, nn.Linear))

    def embed(self, x):
        if self.centre_bands:
            x = x - x.mean(dim=2, keepdim=True)
        x = self.inp(x)
        h = self.body(x.unsqueeze(1)).flatten(2) if self.planar else self.body(x)
        if self.recurrent is not None:
            h = self.recurrent(h.transpose(1, 2))[0].transpose(1, 2)
        pooled = [h.mean(dim=2), h.amax(dim=2)] if self.peak else [h.mean(dim=2)]
        return torch.cat(pooled, dim=1)


def statistics(x):
    """The 162 statistics of `frontend.front_end_nodes` from level-normalised frames [N, mels, frames]."""
    band_mean = x.mean(dim=2)
    centred = x - band_mean[:, :, None]
    abs_delta = (x[:, :, 1:] - x[:, :, :-1]).abs()
    energy = centred.mean(dim=1)
    return torch.cat([band_mean, centred.pow(2).mean(dim=2).sqrt(), abs_delta.mean(dim=2), centred.amax(dim=2),
                      energy.pow(2).mean(dim=1, keepdim=True).sqrt(), abs_delta.mean(dim=(1, 2))[:, None]], dim=1)


class Reversed(torch.autograd.Function):
    """Identity forward, gradient times -`weight` backward."""
    @staticmethod
    def forward(context, x, weight):
        context.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(context, grad):
        return -context.weight * grad, None


def spec_augment(x, setting, rng):
    """Masks a band range and two time spans of every window in place (to
    the window's mean, 0 after level normalisation)."""
    n, mels, frames = x.shape
    for i in range(n):
        width = rng.integers(0, setting.freq_mask + 1)
        start = rng.integers(0, mels - width + 1)
        x[i, start:start + width] = 0.0
        for _ in range(2):
            width = rng.integers(0, setting.time_mask + 1)
            start = rng.integers(0, frames - width + 1)
            x[i, :, start:start + width] = 0.0
    if setting.shuffle_chunks:
        spans = np.array_split(np.arange(frames), setting.shuffle_chunks)
        for i in range(n):
            x[i] = x[i][:, np.concatenate([spans[k] for k in rng.permutation(len(spans))])]
    slope = np.linspace(-1.0, 1.0, mels, dtype=np.float32)
    x += (rng.uniform(-setting.tilt, setting.tilt, size=n).astype(np.float32)[:, None] * slope)[:, :, None]
    return x


def fit(setting, frames, meta):
    """Trains on windows drawn by the balanced weights, each time one of its copies."""
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    weights = classifier.balanced_weights(meta)
    angry = (meta[:, 3] == "angry").astype(np.float32)
    corpus = np.array([data.CORPORA.index(c) for c in meta[:, 0]])
    net = WindowNet(setting)
    optimiser = torch.optim.AdamW(net.parameters(), lr=setting.lr, weight_decay=setting.weight_decay)
    steps = setting.epochs * (setting.draws // setting.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=setting.lr, total_steps=steps)
    net.train()
    for _ in range(steps):
        drawn = rng.choice(len(meta), size=setting.batch, p=weights / weights.sum())
        copy = rng.integers(0, frames.shape[1], size=setting.batch)
        x = spec_augment(frames[drawn, copy].astype(np.float32), setting, rng)
        target = angry[drawn]
        if setting.mixup:
            x, target = mixed(x, target, rng.beta(setting.mixup, setting.mixup, size=setting.batch), rng)
        loss = batch_loss(net, torch.from_numpy(x), target, corpus[drawn], setting)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    return net.eval()


def mixed(x, target, share, rng):
    """Each window mixed with another of the batch by `share` of itself (frames and label)."""
    other = rng.permutation(len(x))
    share = share.astype(np.float32)
    return (share[:, None, None] * x + (1 - share[:, None, None]) * x[other],
            share * target + (1 - share) * target[other])


def batch_loss(net, x, angry, corpus, setting):
    """Anger's cross-entropy, plus the reversed corpus classifier's with an
    adversary, plus the statistics MLP's L2 penalty."""
    logit, embedded = net.parts(x)
    loss = nn.functional.binary_cross_entropy_with_logits(logit, torch.from_numpy(angry))
    if setting.adversary and embedded is not None:
        guess = net.corpus_head(Reversed.apply(embedded, setting.adversary))
        loss = loss + nn.functional.cross_entropy(guess, torch.from_numpy(corpus))
    return loss + setting.l2 / 2 * net.penalty()


def logits_of(net, frames, batch=512):
    with torch.no_grad():
        return np.concatenate([net(torch.from_numpy(frames[i:i + batch].astype(np.float32))).numpy()
                               for i in range(0, len(frames), batch)])


def screen(settings, frames, meta, corpus="emospeech"):
    """Each setting trained without `corpus` (the worst left-out corpus of
    the MLP): AUC on it, and on the plain copies of the training windows."""
    held = meta[:, 0] == corpus
    angry, calm = meta[:, 3] == "angry", meta[:, 3] == "calm"
    results = []
    for setting in settings:
        started = time.time()
        net = fit(setting, frames[~held], meta[~held])
        inside, outside = logits_of(net, frames[~held, 0]), logits_of(net, frames[held, 0])
        results.append({"model": setting.describe(), "setting": asdict(setting), "left_out": corpus,
                        "auc_left_out": loco.auc(outside, angry[held], calm[held]),
                        "auc_training": loco.auc(inside, angry[~held], calm[~held]),
                        "seconds": round(time.time() - started)})
        print(f"{setting.describe()}: {corpus} left out {loco.fmt(results[-1]['auc_left_out'])}, "
              f"training windows {loco.fmt(results[-1]['auc_training'])}, {results[-1]['seconds']} s", file=sys.stderr)
        (OUT / "anger-window-cnn-screen.json").write_text(json.dumps(results, indent=1))
    write_doc_block()


def out_of_corpus(setting, frames, meta):
    """Logits of every window's plain copy from the CNN trained without its corpus."""
    logits = np.zeros(len(meta))
    for corpus in data.CORPORA:
        started = time.time()
        held = meta[:, 0] == corpus
        net = fit(setting, frames[~held], meta[~held])
        logits[held] = logits_of(net, frames[held, 0])
        print(f"  {corpus} left out: {time.time() - started:.0f} s", file=sys.stderr)
    return logits


def log_mel_graph():
    """`audio` [N, WINDOW] -> `norm` [N, mels, frames]: the log-mel of the
    anger front end with the window's mean log energy removed."""
    nodes, init = frontend.log_mel_nodes(frontend.WINDOW, frontend.LOG_FLOOR)
    n = helper.make_node
    nodes += [n("ReduceMean", ["logmel"], ["level"], axes=[1, 2], keepdims=1),
              n("Sub", ["logmel", "level"], ["norm"])]
    output = helper.make_tensor_value_info("norm", TensorProto.FLOAT, ["batch", frontend.N_MELS, "frames"])
    return frontend.graph_model("anger_log_mel", nodes, init, frontend.WINDOW, output)


class HalfPrecision:
    """A front end whose output is stored as float16 (the frames of every copy
    of every window take 700 MB so)."""
    def __init__(self, front):
        self.front = front

    def run(self, names, feeds):
        return [self.front.run(names, feeds)[0].astype(np.float16)]


def log_mel_windows(data_dir):
    """Log-mel frames [windows, copies, mels, frames] of the cached feature
    windows, and their metadata; checked to be the same windows."""
    rows = dataset.clips(data_dir)
    key = dataset.cache_key(rows)
    path = dataset.CACHE / f"anger-logmel-{key}.npz"
    features, meta = dataset.load_or_extract(data_dir, evaluate.session(frontend.build()))
    if not path.exists():
        babble = dataset.babble_source(data_dir, np.random.default_rng(dataset.SEED))
        frames, frame_meta = dataset.extract(rows, HalfPrecision(evaluate.session(log_mel_graph())), babble)
        if not np.array_equal(frame_meta, meta):
            raise SystemExit("log-mel windows differ from the cached feature windows")
        np.savez(path, frames=frames.astype(np.float16), meta=frame_meta)
    stored = np.load(path)
    return stored["frames"], features, meta


# Left out in turn, every corpus (the figures in docs/anger-model.md).
SETTINGS = (Setting(), Setting(centre_bands=True), Setting(planar=True, epochs=6, adversary=1.0),
            Setting(statistics=64, l2=0.1, planar=True, epochs=6))
# Screened on the EmoSpeech fold only (the worst left-out corpus of every model).
SCREEN = (Setting(epochs=6), Setting(width=16, epochs=6, weight_decay=0.1, dropout=0.5),
          Setting(width=8, epochs=6, weight_decay=0.1, dropout=0.5), Setting(width=8, epochs=2, weight_decay=0.1, dropout=0.5),
          Setting(epochs=6, peak=False), Setting(epochs=6, tilt=1.0), Setting(epochs=6, shuffle_chunks=8),
          Setting(epochs=6, mixup=0.4), Setting(epochs=6, adversary=0.3), Setting(epochs=6, adversary=1.0),
          Setting(epochs=6, mixup=0.4, adversary=1.0), Setting(epochs=6, recurrent=True),
          Setting(epochs=6, recurrent=True, adversary=1.0),
          Setting(planar=True, epochs=6), Setting(planar=True, width=16, epochs=3), Setting(planar=True, epochs=6, freq_mask=12),
          Setting(planar=True, epochs=6, mixup=0.4), Setting(planar=True, epochs=6, adversary=1.0),
          # The statistics MLP in torch, with and without masks: the shipped model's features with this training.
          Setting(conv=False, statistics=64, l2=0.1, epochs=6), Setting(conv=False, statistics=64, l2=0.1, epochs=6, freq_mask=0, time_mask=0),
          Setting(statistics=64, l2=0.1, width=8, epochs=6), Setting(statistics=64, l2=0.1, planar=True, epochs=6))
MLP = classifier.Config("mlp", hidden=64, alpha=20.0)    # the shipped window model


def summary_line(name, rows):
    return f"{name}: worst left-out AUC {loco.worst_auc(rows):.3f}; " + ", ".join(
        f"{r['corpus']} {loco.fmt(r['auc_vs_calm'])}/{r['calm_above_80']:.3f}" for r in rows)


def standardised(logits, meta):
    """Logits on a common scale (the calm windows' spread), so two models can be averaged."""
    calm = meta[:, 3] == "calm"
    return (logits - np.median(logits[calm])) / np.std(logits[calm])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", help="the shared data directory (with MANIFEST.tsv)")
    parser.add_argument("--extract-only", action="store_true", help="only cache the log-mel frames")
    parser.add_argument("--screen", action="store_true", help="only the EmoSpeech fold of the SCREEN settings")
    parser.add_argument("--doc", action="store_true", help="only rewrite the section of docs/anger-model.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.doc:
        return write_doc_block()
    frames, features, meta = log_mel_windows(args.data)
    if args.extract_only:
        return
    OUT.mkdir(parents=True, exist_ok=True)
    if args.screen:
        return screen(SCREEN, frames, meta)
    mlp = loco.out_of_corpus(MLP, features, meta)[0]
    results = [{"model": MLP.describe(), "rows": loco.corpus_rows(mlp, meta)}]
    print(summary_line(results[0]["model"], results[0]["rows"]), file=sys.stderr)
    for setting in SETTINGS:
        started = time.time()
        cnn = out_of_corpus(setting, frames, meta)
        both = standardised(cnn, meta) + standardised(mlp, meta)
        for name, logits in ((setting.describe(), cnn), (f"{setting.describe()} + MLP, averaged", both)):
            results.append({"model": name, "setting": asdict(setting), "rows": loco.corpus_rows(logits, meta),
                            "seconds": round(time.time() - started)})
            print(summary_line(name, results[-1]["rows"]), file=sys.stderr)
        (OUT / "anger-window-cnn.json").write_text(json.dumps(results, indent=1))
    write_doc_block()


def cost(setting, runs=100, repeats=5):
    """CPU ms per window (torch, 1 thread, batch 1, the best of `repeats`
    timings on this shared machine; the log-mel front end not counted) and
    the number of weights."""
    net = WindowNet(setting).eval()
    x = torch.zeros(1, frontend.N_MELS, FRAMES)
    timings = []
    with torch.no_grad():
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in range(runs):
                net(x)
            timings.append((time.perf_counter() - started) / runs * 1000)
    return min(timings), sum(p.numel() for p in net.parameters())


def loco_table(results):
    lines = ["| window model | worst left-out AUC | " + " | ".join(data.EMOTION_CORPORA) + " | calm windows above 80: "
             + " / ".join(data.CORPORA) + " | CPU ms per window, learned part | weights |", "|---|---|" + "---|" * (len(data.EMOTION_CORPORA) + 3)]
    for r in results:
        by = {row["corpus"]: row for row in r["rows"]}
        ms, weights = cost(Setting(**r["setting"])) if "setting" in r else (None, None)
        lines.append(f"| {r['model']} | {loco.worst_auc(r['rows']):.3f} | "
                     + " | ".join(loco.fmt(by[c]["auc_vs_calm"]) for c in data.EMOTION_CORPORA) + " | "
                     + " / ".join(report.pct(by[c]["calm_above_80"]) for c in data.CORPORA)
                     + f" | {loco.fmt(ms, 2)} | {'–' if weights is None else weights} |")
    return "\n".join(lines)


def screen_table(results):
    lines = ["| window model | EmoSpeech left out: AUC angry vs calm | training corpora (plain copies): AUC |", "|---|---|---|"]
    lines += [f"| {r['model']} | {loco.fmt(r['auc_left_out'])} | {loco.fmt(r['auc_training'])} |" for r in results]
    return "\n".join(lines)


def fit_gap(results):
    """What the screen says: how well the models with convolutions fit the training corpora, and carry over."""
    learned = [r for r in results if r["setting"]["conv"]]
    alone = [r for r in results if not r["setting"]["conv"]]
    if not learned or not alone:
        return ""
    span = lambda rows, key: f"{min(r[key] for r in rows):.3f}-{max(r[key] for r in rows):.3f}"
    return (f"With convolutions, the training corpora's windows reach AUC {span(learned, 'auc_training')} and "
            f"EmoSpeech left out {span(learned, 'auc_left_out')}; the statistics alone "
            f"{span(alone, 'auc_training')} and {span(alone, 'auc_left_out')}. The learned models fit the training "
            f"corpora more closely and carry less of what they learn to another corpus. (One setting run "
            f"with other random numbers moved by up to 0.01.)")


def write_doc_block():
    """The section of docs/anger-model.md on these models, from the figures in tools/train/out."""
    full, screened = (OUT / "anger-window-cnn.json", OUT / "anger-window-cnn-screen.json")
    parts = [report.WINDOW_CNN_START, "", INTRO]
    if full.exists():
        results = json.loads(full.read_text())
        mlp, learned = results[0], results[1:]
        best = max(learned, key=lambda r: loco.worst_auc(r["rows"]))
        parts += ["Every corpus left out in turn (score 80 placed on the other corpora, as above); the "
                  "shipped MLP on the statistics first, fitted again in the same run on one thread (the "
                  "pipeline's fit on two BLAS threads, above, differs a little: the thread count alone moves "
                  "it). The CPU cost is the learned part's in torch; the front end's and the shipped MLP's "
                  "together are given above.", "", loco_table(results), "",
                  f"The best learned model's worst left-out AUC is {loco.worst_auc(best['rows']):.3f} "
                  f"({best['model']}), the MLP's {loco.worst_auc(mlp['rows']):.3f}: "
                  + ("the MLP stays." if loco.worst_auc(best["rows"]) <= loco.worst_auc(mlp["rows"]) else
                     "a learned model is better on the worst corpus."), ""]
    if screened.exists():
        results = json.loads(screened.read_text())
        parts += ["Screened on the EmoSpeech fold only (trained on the other five corpora; the worst left-out "
                  "corpus of every model above). \"MLP 64 hidden on the statistics\" alone is the shipped "
                  "model's input trained this way:", "", screen_table(results), "", fit_gap(results), ""]
    report.replace_block(DOC, report.WINDOW_CNN_START, report.WINDOW_CNN_END, "\n".join(parts + [report.WINDOW_CNN_END]))


INTRO = """Small learned window models instead of (or beside) the 162 statistics, on
the same level-normalised 300-3400 Hz log-mel frames of the 2 s window (40
bands × 198 frames), the same windows, phone lines and copies through random
voices and rooms, and the same (corpus, class) balancing; trained with torch
on one thread (`tools/train/anger/window_cnn.py`; the frames are cached in
`tools/train/cache`). Each trains on one of a window's 3 copies at a time,
drawn by the balanced weights, with SpecAugment masks (and, where named,
mixup, a random spectral tilt, reordered spans, or a corpus classifier with
reversed gradient), AdamW and a one-cycle learning rate. "+ MLP, averaged":
the CNN's and the MLP's logits, each scaled by its calm windows' spread, summed.
"""


if __name__ == "__main__":
    main()
