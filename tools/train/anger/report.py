"""The manifest beside the model and the evaluation page in docs/."""
import hashlib
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import calls, data, dataset, evaluate, frontend, loco  # noqa: E402

COMMAND = "bash tools/train/train_anger.sh ../shared/data"
EVAL_COMMAND = "bash tools/train/eval_anger.sh ../shared/data"
DATA = ("emotion: RAVDESS speech (24 actors, CC BY-NC-SA 4.0), TESS (2 speakers, CC BY-NC-ND 4.0), "
        "Indian EmoSpeech (55 named contributors and anonymous ones, CC BY-NC-SA 4.0); calm speech: "
        "WUW Corpus II real telephone callers (197 sessions, CC BY-SA 4.0), DSPSpeech-20 Mandarin and English words "
        "(34 speakers, 1200 clips, MIT), FSDD digits (6 speakers, 600 clips, CC BY-SA 4.0); "
        "Speech Commands test set (CC BY 4.0) as babble noise only; all 8 kHz")
LICENCE = ("Trained on RAVDESS and EmoSpeech (CC BY-NC-SA 4.0) and TESS (CC BY-NC-ND 4.0): they forbid commercial "
           "use. This model is for evaluation and research; check those licences before any commercial use.")
CHANNEL = (f"8 kHz, 300-3400 Hz band-pass, G.711 mu-law round trip; level +-20 dB, white/pink/babble noise at "
           f"5-35 dB SNR, 0-5 % lost 20 ms packets. {dataset.COPIES} copies of each window: one through that line "
           f"only (the copy evaluated), the others also through a random voice and room: pitch and formants scaled "
           f"together by up to +-12 % (vocal-tract length), tempo +-15 % at the same pitch, a handset tilt, room "
           f"reverb (RT60 0.15-0.8 s) in 30 %, a tandem A-law in 30 %")


def toml_list(values):
    return "[" + ", ".join(f"{v:.4f}" for v in values) + "]"


def manifest_head(sha, calibration, adaptation, prior):
    """The manifest up to [calibration]: what the gateway loads."""
    xs, ys = calibration
    return f'''# Anger model: made by `{COMMAND}`; do not edit by hand.
name = "anger"
file = "anger.onnx"
sha256 = "{sha}"
sample_rate = {frontend.SAMPLE_RATE}
window_s = {frontend.WINDOW / frontend.SAMPLE_RATE}
hop_s = {frontend.HOP_S}

[input]
name = "audio"
shape = [-1, {frontend.WINDOW}]
dtype = "float32"
range = "[-1, 1], i16 / 32768"

[output]
name = "anger_logit"
shape = [-1]
meaning = "logit of P(caller is angry) for the 2.0 s window of voiced audio"

# The logit plus adapt_weight x its change from the call's running mean (a
# calm prior counted as baseline_prior_windows windows), less baseline_shift x
# that mean's distance from the prior, mapped to 0-100.
[calibration]
kind = "piecewise_linear"
logit = {toml_list(xs)}
score = {toml_list(ys)}
adapt_weight = {adaptation.change}
baseline_shift = {adaptation.shift}
baseline_prior_logit = {prior:.4f}
baseline_prior_windows = {evaluate.PRIOR_WINDOWS}
'''


def write_manifest_head(path, onnx_path, calibration, adaptation, prior):
    """A loadable manifest for a model made during evaluation (no figures)."""
    sha = hashlib.sha256(Path(onnx_path).read_bytes()).hexdigest()
    path.write_text(manifest_head(sha, calibration, adaptation, prior), encoding="utf-8")


def write_manifest(path, sha, calibration, evaluation, summary, figures):
    loco_rows = next(c["rows"] for c in summary["candidates"] if c["config"] == summary["chosen"])
    calls_rows = summary["calls_by_weight"][str(evaluation["weight"])]["speaker"]
    per_corpus = "; ".join(f"{r['corpus']}: AUC {loco.fmt(r['auc_vs_calm'])}, calm>80 {100 * r['calm_above_80']:.1f} %"
                           for r in loco_rows)
    per_calls = "; ".join(
        f"{r['corpus']}: angry {count(r['angry_within_6s'], r['angry_calls'])} within 6 s, "
        f"calm {r['calm_transferred']} of {r['calm_calls']} transferred, {loco.fmt(r['false_transfers_per_hour'], 1)}/h"
        for r in calls_rows)
    path.write_text(manifest_head(sha, calibration, evaluation["weight"], evaluation["prior"]) + f'''
[training]
command = "{COMMAND}"
evaluation = "{EVAL_COMMAND}"
data = "{DATA}"
licence = "{LICENCE}"
channel = "{CHANNEL}"
features = "in-graph: 25 ms Hann frames every 10 ms, 40 mel bands 300-3400 Hz, log, window-level gain removed; per-band mean, std, peak and flux, energy spread and flux ({frontend.FEATURES} values)"
classifier = "standardise, then {summary['chosen']}; training weights balance every (corpus, class) group"

[evaluation]
split = "leave one corpus out (the corpus's speakers, language and channel never seen), and held-out speakers in {loco.SPEAKER_FOLDS} speaker folds over all corpora; plain phone-line copy of each window"
leave_one_corpus_out = "{per_corpus}"
worst_left_out_auc = {min(r['auc_vs_calm'] for r in loco_rows if r['auc_vs_calm'] is not None):.4f}
whole_calls_held_out_speakers = "{per_calls}"
size_bytes = {figures['size_bytes']}
cpu_ms_per_window_batch1 = {figures['cpu_ms_per_window_batch1']}
cpu_ms_per_window_batch8 = {figures['cpu_ms_per_window_batch8']}
''', encoding="utf-8")


def window_table(rows, shipped_rows):
    shipped = {r["corpus"]: r for r in shipped_rows}
    lines = ["| left-out corpus | speakers | windows | AUC angry vs calm/neutral | AUC angry vs all | AUC angry vs happy "
             "| calm windows above 80 | angry windows above 80 | shipped model: AUC / calm above 80 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = shipped[r["corpus"]]
        seen = " (trained on)" if r["corpus"] in ("ravdess", "tess") else ""
        lines.append(f"| {r['corpus']} | {r['speakers']} | {r['windows']} | {loco.fmt(r['auc_vs_calm'])} | "
                     f"{loco.fmt(r['auc_vs_all'])} | {loco.fmt(r['auc_vs_happy'])} | {pct(r['calm_above_80'])} | "
                     f"{pct(r['angry_above_80'])} | {loco.fmt(s['auc_vs_calm'])} / {pct(s['calm_above_80'])}{seen} |")
    return "\n".join(lines)


def calls_table(rows):
    lines = ["| corpus | angry calls transferred within 6 s of onset | calm→happy calls transferred "
             "| calm calls transferred | calm windows above 80 | calm speech (h) | false transfers per hour |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['corpus']} | {count(r['angry_within_6s'], r['angry_calls'])} | "
                     f"{count(r['happy_transferred'], r['happy_calls'])} | {r['calm_transferred']} of {r['calm_calls']} | "
                     f"{pct(r['calm_windows_above_80'])} | {r['calm_hours']:.2f} | {loco.fmt(r['false_transfers_per_hour'], 1)} |")
    return "\n".join(lines)


def candidates_table(summary):
    lines = ["| classifier | worst left-out AUC | " + " | ".join(data.EMOTION_CORPORA) + " |",
             "|---|---|" + "---|" * len(data.EMOTION_CORPORA)]
    for c in summary["candidates"]:
        by = {r["corpus"]: r for r in c["rows"]}
        lines.append(f"| {c['config']} | {c['worst_auc']:.3f} | " +
                     " | ".join(loco.fmt(by[k]["auc_vs_calm"]) for k in data.EMOTION_CORPORA) + " |")
    return "\n".join(lines)


def weights_table(summary):
    lines = ["| adaptation | held out | worst corpus: angry calls within 6 s | calm calls transferred (all corpora) "
             "| wuw false transfers per hour |", "|---|---|---|---|---|"]
    for weight, by_held in summary["calls_by_weight"].items():
        for held, rows in by_held.items():
            angry = min(r["angry_within_6s"] for r in rows if r["angry_within_6s"] is not None)
            calm = sum(r["calm_transferred"] for r in rows)
            calm_calls = sum(r["calm_calls"] for r in rows)
            wuw = next(r for r in rows if r["corpus"] == "wuw")
            lines.append(f"| {weight} | {held} | {pct(angry)} | {calm} of {calm_calls} | {loco.fmt(wuw['false_transfers_per_hour'], 1)} |")
    return "\n".join(lines)


TRIALS_START, TRIALS_END = "<!-- trials: made by the evaluation -->", "<!-- trials end -->"


def trials_table(summary):
    """The chosen model and rule beside what was tried instead, on the same held-out-speaker calls."""
    lines = [TRIALS_START, "", "| tried | worst window AUC (held-out speakers) | " + " | ".join(f"{k}: angry within 6 s" for k in data.EMOTION_CORPORA)
             + " | calm calls transferred | wuw false transfers per hour |", "|---|---|" + "---|" * (len(data.EMOTION_CORPORA) + 2)]
    for name, trial in summary["trials"].items():
        by = {r["corpus"]: r for r in trial["calls"]}
        calm = sum(r["calm_transferred"] for r in trial["calls"])
        calm_calls = sum(r["calm_calls"] for r in trial["calls"])
        lines.append(f"| {name} | {loco.worst_auc(trial['windows']):.3f} | "
                     + " | ".join(count(by[k]["angry_within_6s"], by[k]["angry_calls"]) for k in data.EMOTION_CORPORA)
                     + f" | {calm} of {calm_calls} | {loco.fmt(by['wuw']['false_transfers_per_hour'], 1)} |")
    return "\n".join(lines + ["", TRIALS_END])


def update_trials(docs, summary):
    """Replaces the trials table of docs/anger-model.md (an evaluation without retraining)."""
    replace_block(Path(docs) / "anger-model.md", TRIALS_START, TRIALS_END, trials_table(summary))


WINDOW_CNN_COMMAND = "PYTHONPATH=tools/train .venv-train/bin/python -m anger.window_cnn --data ../shared/data [--screen]"
WINDOW_CNN_START, WINDOW_CNN_END = f"<!-- window cnn: made by {WINDOW_CNN_COMMAND} -->", "<!-- window cnn end -->"
DECISION_COMMAND = "PYTHONPATH=tools/train .venv-train/bin/python -m anger.decision --data ../shared/data"
DECISION_START, DECISION_END = f"<!-- decision: made by {DECISION_COMMAND} -->", "<!-- decision end -->"


def replace_block(path, start, end, block):
    """Replaces the text of `path` from marker `start` to marker `end` by `block` (markers included)."""
    text = path.read_text(encoding="utf-8")
    if start not in text:
        raise SystemExit(f"{path} has no block {start}: run {COMMAND} once")
    head, rest = text.split(start, 1)
    path.write_text(head + block + rest.split(end, 1)[1], encoding="utf-8")


def kept_block(path, start, end):
    """The page's block from `start` to `end` as it is (another script writes
    it), so that rewriting the page keeps it."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if start not in text:
        return f"{start}\n\nNot measured yet.\n\n{end}"
    return start + text.split(start, 1)[1].split(end, 1)[0] + end


def targets_text(loco_rows, call_rows):
    """The issue's targets against this model's figures."""
    worst = min((r for r in loco_rows if r["auc_vs_calm"] is not None), key=lambda r: r["auc_vs_calm"])
    angry = [r for r in call_rows if r["angry_calls"]]
    caught = ", ".join(f"{r['corpus']} {count(r['angry_within_6s'], r['angry_calls'])}" for r in angry)
    calm = sum(r["calm_transferred"] for r in call_rows)
    wuw = next(r for r in call_rows if r["corpus"] == "wuw")
    over = ", ".join(f"{r['corpus']} {pct(r['calm_above_80'])}" for r in loco_rows if r["calm_above_80"] > 0.02)
    return (f"- Targets not met: AUC ≥ 0.90 on every left-out corpus ({worst['corpus']} "
            f"{worst['auc_vs_calm']:.3f}); ≤ 2 % of calm windows above 80 on every left-out corpus "
            f"({over or 'met'}); angry calls transferred within 6 s ≥ 95 % ({caught}); no calm call "
            f"transferred ({calm} of {sum(r['calm_calls'] for r in call_rows)}); ≤ 1 false transfer per hour of "
            f"real phone speech (wuw {loco.fmt(wuw['false_transfers_per_hour'], 1)}). The calm-window rule (≤ 2 % "
            f"above 80 on every corpus) puts 80 where the real phone calls' calm windows end, above most acted "
            f"anger: the window model does not separate them well enough yet.")


def replay_text(summary):
    """The held-out-speaker calls through the real binary, if it was run."""
    if "replay" not in summary:
        return "(The replay through `target/release/voicegate` was skipped: the binary was not built.)"
    replay = summary["replay"]
    lines = [f"The same held-out-speaker calls through the real binary (`voicegate replay DIR --json`, each "
             f"speaker fold's model and calibration exported, keywords off): the binary and the Python mirror take "
             f"the same decision (transfer or not, within 0.05 s) on **{replay['agree']} of {replay['calls']}** calls. "
             f"The binary's figures:", "",
             "| corpus | angry calls transferred within 6 s | calm calls transferred |", "|---|---|---|"]
    for corpus, f in replay["figures"].items():
        angry = f"{f['angry_within_6s']} of {f['angry_calls']}" if f["angry_calls"] else "–"
        lines.append(f"| {corpus} | {angry} | {f['calm_transferred']} of {f['calm_calls']} |")
    return "\n".join(lines)


def pct(value):
    return "–" if value is None else f"{100 * value:.1f} %"


def count(share, total):
    return "–" if share is None else f"{round(share * total)} of {total}"


def write_doc(docs, evaluation, summary, figures, calibration):
    img = Path(docs) / "img"
    img.mkdir(parents=True, exist_ok=True)
    plot_calls(img / "anger-calls.png", evaluation, calibration)
    loco_rows = next(c["rows"] for c in summary["candidates"] if c["config"] == summary["chosen"])
    weight = str(evaluation["weight"])
    shipped = summary["shipped_model"]
    (Path(docs) / "anger-model.md").write_text(f"""# The anger model

`models/anger.onnx` scores 2 s of a caller's voice for anger; `models/anger.toml`
is its manifest (checksum, input, calibration to 0-100, the caller-adaptive
weight, figures). Both come from one command on the shared corpora, and the
evaluation alone from another:

```sh
{COMMAND}     # evaluation, final fit, export, this page
{EVAL_COMMAND}      # the evaluation only: tools/train/out/anger-evaluation.json
```

Both create `.venv-train` with the pinned packages of `tools/train/requirements.txt`
and run on 2 CPU cores (features of {len(evaluation['meta'])} windows × {dataset.COPIES} copies,
cached in `tools/train/cache/`; {len(summary['candidates'])} classifiers × {len(data.CORPORA)} left-out corpora,
{loco.SPEAKER_FOLDS} speaker folds, {len(evaluation['calls'])} synthetic and real calls).

## What the model is

One ONNX graph from raw samples to a logit, so the gateway and training compute
the same features: 25 ms Hann frames every 10 ms as a Conv1d with fixed DFT
kernels (only the 300-3400 Hz band), 40 mel bands, log, the window's mean log
energy removed (the caller's level and the line's gain do not count), then
per-band mean (spectral tilt and shape), spread, peak and flux over time, and the
spread and flux of frame energy ({frontend.FEATURES} values); then {summary['chosen']}.
No pitch feature: Mandarin carries words in pitch. Size {figures['size_bytes']} bytes;
{figures['cpu_ms_per_window_batch1']} ms of one core per window (batch 1),
{figures['cpu_ms_per_window_batch8']} ms in batches of 8: the gateway scores a window
every 0.5 s, so {2 * figures['cpu_ms_per_window_batch1']:.2f} ms of CPU per second of audio.

Training data: {DATA}. Every corpus is in training, and the weights balance
every (corpus, class) group, so that no corpus, language or channel can stand
for "angry" or "calm". Channel and augmentation: {CHANNEL}.

A call's score (`src/audio/anger_score.rs`, mirrored in `tools/train/anger/calls.py`):
the window's logit l, the call's running mean b of its earlier logits (started from
a calm prior p counted as {evaluate.PRIOR_WINDOWS} windows, so a caller angry from the
first word is measured against calm speech), and the score is the calibration of
l + c·(l − b) − s·(b − p) with c = {evaluation['weight'].change}, s = {evaluation['weight'].shift} (the change from the caller's own
voice counts extra; a voice that sounds tense all call long, from its line,
language or manner, is moved down), then smoothed (0.7). The engine transfers on 3 smoothed scores in
a row above 80.

## Leave one corpus out (windows)

For each corpus, the model trained on all the others scores it; score 80 is
placed on the other corpora only (at the highest per-corpus 98.5th percentile
of calm windows). Plain phone-line copies. The shipped model before this one
(trained on RAVDESS and TESS) is in the last column; on those two it is
not held out.

{window_table(loco_rows, shipped['windows'])}

The classifier was chosen by the worst left-out AUC:

{candidates_table(summary)}

## Whole calls (held-out speakers)

Calls are made per speaker: about {calls.CALM_S:.0f} s of their calm/neutral speech, then {calls.ANGRY_S:.0f} s of
angry speech (calm→angry; transferred right if within {calls.ONSET_LIMIT_S:.0f} s after the onset and not
before), or {calls.CALM_S + calls.ANGRY_S:.0f} s of calm only, or calm then happy; seconds of speech once each
clip's silent ends are cut, and a speaker with less than {calls.MIN_PART_S:.0f} s of angry (happy) speech, or
{calls.MIN_CALM_S:.0f} s of calm, makes no such call (EmoSpeech's single words leave fewer calls than speakers).
Each call goes through one random phone
line, then is cut into windows of voiced audio exactly as the gateway does (VAD on 20 ms
frames, a 2 s window every 0.5 s of voiced audio). WUW calls are the real sessions
of each caller, as recorded (no added line). Each call is scored by the model of the
speaker fold that never heard that speaker, with the calibration made on the other
folds' calls. TESS gives 6 calls of each kind per speaker.

{calls_table(summary['calls_by_weight'][weight]['speaker'])}

The same calls from the model that never saw the call's corpus:

{calls_table(summary['calls_by_weight'][weight]['corpus'])}

The shipped model before this one, with its own calibration, on the same calls
(RAVDESS and TESS speakers were in its training):

{calls_table(shipped['calls'])}

The shipped model before this one under this model's rules (80 placed on the
other corpora's calm calls, the same adaptive step):

{calls_table(shipped['calls_same_rule'])}

{replay_text(summary)}

The caller-adaptive step was chosen on the held-out-speaker calls (worst corpus's
angry calls caught, less twice the share of calm calls transferred):

{weights_table(summary)}

![Scores along held-out calls](img/anger-calls.png)

Smoothed scores along the first held-out calls of each emotion corpus, from the
onset of the angry or happy part (red: calm→angry, orange: calm→happy, green: calm only).

## Tried instead (held-out speakers)

The chosen window model and adaptive step beside what was tried instead, on the
same held-out-speaker calls: the best step scoring the mean of the 3 latest
windows, the best with a cumulative rise (a leaky CUSUM of the rise above the
caller's baseline), and the real phone calls' calm windows weighted 3 times in
training. One is kept only if it catches more angry calls on the worst corpus
with no more false transfers on the WUW phone calls.

{trials_table(summary)}

## The decision rule and its cadence (tried, not changed)

{kept_block(Path(docs) / "anger-model.md", DECISION_START, DECISION_END)}

## A learned window model (tried, not shipped)

{kept_block(Path(docs) / "anger-model.md", WINDOW_CNN_START, WINDOW_CNN_END)}

## What is left

{targets_text(loco_rows, summary['calls_by_weight'][weight]['speaker'])}
- No corpus here has angry Mandarin speech: DSPSpeech-20 is calm words only, so the
  Mandarin happy/angry inversion cannot be measured here, only the Mandarin
  calm calls' false transfers (the dspspeech20 rows).
- EmoSpeech's labels are the contributors' own and its clips are single command
  words; it is the worst corpus, left out or not.
- Figures are for synthetic calls joined from short clips; the held-out evaluation
  runs real calls through the gateway.
- Tried and not kept (same held-out-speaker calls): five more vocal-effort statistics
  in the graph (spectral centroid and tilt movement, energy range, slow energy change)
  caught fewer angry calls (RAVDESS 4 of 24, TESS 7 of 12, EmoSpeech 3 of 30); features
  relative to the call's running mean feature vector (the per-call picture in feature
  space, beside the absolute ones) left 3 of 197 WUW callers transferred but caught no
  more angry calls (RAVDESS 3 of 24, EmoSpeech 1 of 30), both measured on the earlier
  calls (parts counted in file seconds, which left some EmoSpeech calls 1-2 s of anger).
  Per-call adaptation on the logit is what ships; the rules and weighting of "Tried
  instead" are measured by every run.
- The decision rule and its cadence (above, `python -m anger.decision`): none of 1,512
  rules (hop 0.5, 0.3 or 0.2 s, the adaptive change and shift, a calm prior worth 2 or
  6 s, smoothing, 1-10 scores in a row) with score 80 at any of 8 calm quantiles, chosen on the other speaker
  folds, is worth shipping. Chosen to transfer no more calm calls than today, they
  catch 11-20 of 50 angry calls within 6 s (today 16), EmoSpeech 0-2 of 14, with
  9-13 of 292 calm calls and 3.6-6.8 per hour on WUW transferred, and every rule but
  today's transfers more calm→happy calls (13-18 of 51, today 8); chosen to catch more,
  EmoSpeech reaches 3-5 of 14 at 27-38 calm calls transferred (20.0-101.7 per hour on
  WUW). Onset → transfer p95 stays 2.9-4.2 s
  at today's false transfers; 2 s is reached only by rules that catch 5 of 50 angry
  calls, even picked on the held-out calls themselves (median 1.31 s, 0.6 s of it the
  sustain: a 2 s window scores anger only once much of it is angry). The rule stays:
  hop 0.5 s, change 0.0, shift 1.0, smoothing 0.7, 3 scores in a row above 80.
- The window model is the limit: on held-out speakers, acted anger in its first seconds
  scores where the tail of the real phone callers' and EmoSpeech's calm windows
  lies, and no streaming rule tried (scoring cadence by the mean of the latest
  windows, a cumulative rise, the adaptive weights) moves angry calls up without moving
  calm calls up as much. Learned window models on the same log-mel frames (small
  CNNs, a CNN+GRU, with SpecAugment, mixup, a corpus adversary) did worse on the
  worst left-out corpus (above): they fit the training corpora and carry less to another.

Licence: {LICENCE}
""", encoding="utf-8")


def plot_calls(path, evaluation, calibration):
    """Score timelines of a few held-out calm→angry and calm calls."""
    xs, ys = calibration
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5), sharey=True)
    for ax, corpus in zip(axes, data.EMOTION_CORPORA):
        for call in [c for c in evaluation["calls"] if c.corpus == corpus][:6]:
            scorer = calls.Scorer(xs, ys, evaluation["weight"], call.prior, evaluate.PRIOR_WINDOWS)
            scores = [scorer.push([x]) for x in call.logits]
            times = np.asarray(call.times) - (call.onset_s or 0.0)
            ax.plot(times, scores, color={"angry": "red", "calm": "green", "happy": "orange"}[call.kind], alpha=0.7)
        ax.axhline(80, color="grey", linestyle="--")
        ax.axvline(0, color="grey", linestyle=":")
        ax.set(title=f"{corpus} (held-out speakers)", xlabel="s from onset (calm calls: from start)")
    axes[0].set(ylabel="smoothed score")
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
