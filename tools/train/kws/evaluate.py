"""Held-out evaluation through the streaming detector.

Detection: every held-out keyword recording (held-out speakers of Speech
Commands and FSDD, held-out synthetic voices) in a stream of its own:
0.5-1.5 s of line, in half of them other held-out speech ending 0.15-0.4 s
before the word, the word, 1.5 s of line; one random phone line over it.
A detection is an event of that word from the word's start to 1.0 s after
its end; latency is the event time minus the word's end.

False accepts: RAVDESS and TESS (never trained on) joined into 60 s
streams with 0.2-1.0 s gaps, each stream through a random phone line; every
event there is a false accept. Nuisance: the same for DTMF, call-progress
tones, music-like chords, clicks, and clipped RAVDESS speech.
"""
import numpy as np

from anger.data import load

from . import channel, sounds, stream, wuw
from .vocab import TRIGGER_WORDS, UNKNOWN, WORDS

SAMPLE_RATE = 8000
DETECTION_SLACK_S = 1.0
FA_STREAM_S = 60.0
NUISANCE_MINUTES = 10
# The verifier's grid reaches lower: the detector already chose the candidates.
THRESHOLD_GRID = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999]
VERIFIER_GRID = [0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4] + THRESHOLD_GRID


def word_bounds(x, frame=160, drop_db=30.0):
    """First and last sample of the 20 ms frames within `drop_db` of the loudest."""
    n = max(1, len(x) // frame)
    energy = 10 * np.log10(np.mean(np.resize(x, n * frame).reshape(n, frame) ** 2, axis=1) + 1e-12)
    loud = np.where(energy > energy.max() - drop_db)[0]
    return loud[0] * frame, (loud[-1] + 1) * frame


def detection_streams(recordings, rng):
    """[(audio, label, word_start_s, word_end_s, source)] for every held-out keyword recording."""
    others = [r.audio for r in recordings if r.label == UNKNOWN and len(r.audio) > 4000]
    bed = np.concatenate(others[:200])
    streams = []
    for rec in recordings:
        if rec.label == UNKNOWN:
            continue
        lead = int(rng.uniform(0.5, 1.5) * SAMPLE_RATE)
        x = np.zeros(lead + len(rec.audio) + int(1.5 * SAMPLE_RATE))
        x[lead:lead + len(rec.audio)] = rec.audio
        if rng.random() < 0.5:
            context = others[rng.integers(len(others))]
            end = lead - int(rng.uniform(0.15, 0.4) * SAMPLE_RATE)
            piece = context[-end:] * (channel.rms(rec.audio) / (channel.rms(context) + 1e-9))
            x[end - len(piece):end] = piece
        start, end = word_bounds(rec.audio)
        audio = channel.line(x, rng, bed, level_db=(-10, 10), snr_db=(10, 35), loss=(0.0, 0.02))
        streams.append((audio, rec.label, (lead + start) / SAMPLE_RATE, (lead + end) / SAMPLE_RATE, rec.source))
    return streams


def joined_streams(pieces, rng, gap=(0.2, 1.0)):
    """Consecutive pieces joined with gaps into ~60 s streams, each through a random line."""
    return [channel.line(s, rng, None, level_db=(-10, 10), snr_db=(15, 40), loss=(0.0, 0.02))
            for s in joined(pieces, rng, gap)]


def joined(pieces, rng, gap=(0.2, 1.0)):
    """Consecutive pieces joined with gaps into ~60 s streams, as they are."""
    streams, current, length = [], [], 0
    for piece in pieces:
        current += [piece, np.zeros(int(rng.uniform(*gap) * SAMPLE_RATE))]
        length += len(piece)
        if length >= FA_STREAM_S * SAMPLE_RATE:
            streams.append(np.concatenate(current))
            current, length = [], 0
    if current:
        streams.append(np.concatenate(current))
    return streams


def false_accept_streams(clips, rng):
    order = rng.permutation(len(clips))
    return joined_streams([load(clips[i].path) for i in order], rng)


def nuisance_streams(clips, rng):
    """Tones, chords, clicks, and clipped speech: NUISANCE_MINUTES of each."""
    n_tones = int(NUISANCE_MINUTES * 60 / 2)
    tones = [sounds.noise_sound(rng, 2 * SAMPLE_RATE) * 0.5 for _ in range(n_tones)]
    speech = [load(c.path) for c in clips if c.corpus == "ravdess"]
    picks = rng.choice(len(speech), size=int(NUISANCE_MINUTES * 60 / 3.7), replace=False)
    clipped = [channel.clip_hard(speech[i], rng) for i in picks]
    return {"tones and music": joined_streams(tones, rng), "clipped speech": joined_streams(clipped, rng)}


def score_streams(session, audios):
    return [stream.probabilities(session, a) for a in audios]


def detection_figures(scored, streams, classes, thresholds, verify=None):
    """Per stream: (detected, latency or nan, confused) with these thresholds
    (and verifier thresholds, if any)."""
    rows = []
    for (probs, is_voiced, ends), (_, label, start, end, _) in zip(scored, streams):
        events = stream.detect(probs, is_voiced, ends, classes, thresholds, verify=verify)
        hits = [e for e in events if e.word == label and start <= e.time <= end + DETECTION_SLACK_S]
        confused = any(e.word != label for e in events)
        rows.append((bool(hits), hits[0].time - end if hits else np.nan, confused))
    return rows


def false_accepts(scored, classes, thresholds, verify=None):
    """{word: count} over the scored streams, and the hours they cover."""
    counts = {w: 0 for w in WORDS}
    seconds = 0.0
    for probs, is_voiced, ends in scored:
        for event in stream.detect(probs, is_voiced, ends, classes, thresholds, verify=verify):
            counts[event.word] += 1
        seconds += ends[-1] if len(ends) else 0.0
    return counts, seconds / 3600


def real_phone(session, data_dir, split, classes, rules, rng):
    """Real callers of one WUW split: "operator" detection (each clip a
    stream, a hit from the word's start to 1 s after its end) and every
    keyword event on their other words and sentences, all false; figures
    for each rule, a (thresholds, verifier thresholds or None)."""
    clips = wuw.clips(data_dir, split)
    streams = wuw.operator_streams(clips)
    scored = score_streams(session, [s[0] for s in streams])
    other = score_streams(session, joined(wuw.other_speech(clips), rng))
    return [real_phone_figures(data_dir, split, streams, scored, other, classes, rule) for rule in rules]


def real_phone_figures(data_dir, split, streams, scored, other, classes, rule):
    rows = detection_figures(scored, streams, classes, *rule)
    counts, hours = false_accepts(other, classes, *rule)
    detected = np.array([r[0] for r in rows])
    kinds = np.array([s[4] for s in streams])
    return {"sessions": len(wuw.sessions(data_dir, split)), "operator_clips": len(rows),
            "detection": float(detected.mean()),
            "detection_by_kind": {k: (float(detected[kinds == k].mean()), int((kinds == k).sum()))
                                  for k in wuw.OPERATOR_LABELS},
            "latencies": np.array([r[1] for r in rows if r[0]]),
            "fa_counts": counts, "hours": hours,
            "events_per_hour": sum(counts.values()) / hours,
            "trigger_fa_per_hour": sum(counts[w] for w in TRIGGER_WORDS) / hours}


def detection_sweep(det_scored, det_streams, classes):
    """{word: [detection rate per grid threshold]} (all words at that threshold)."""
    labels = np.array([s[1] for s in det_streams])
    table = {w: [] for w in WORDS}
    for threshold in THRESHOLD_GRID:
        rows = detection_figures(det_scored, det_streams, classes, {w: threshold for w in WORDS})
        detected = np.array([r[0] for r in rows])
        for w in WORDS:
            table[w].append(float(detected[labels == w].mean()))
    return table


def fa_sweep(fa_scored, classes, detector=None):
    """{word: [false accepts per hour per grid threshold]}: of the detector's
    thresholds or, given the detector's, of the verifier's."""
    table = {w: [] for w in WORDS}
    for threshold in grid(detector):
        counts, hours = false_accepts(fa_scored, classes, *as_rule(detector, {w: threshold for w in WORDS}))
        for w in WORDS:
            table[w].append(counts[w] / hours)
    return table


def grid(detector):
    return VERIFIER_GRID if detector else THRESHOLD_GRID


def as_rule(detector, thresholds):
    """(detector thresholds, verifier thresholds or None): `thresholds` are
    the detector's, or, given the `detector`'s, the verifier's."""
    return (detector, thresholds) if detector else (thresholds, None)


def choose_thresholds(tuning, classes, fa_target, detector=None):
    """Per word: the lowest grid threshold from which every higher one keeps
    the word's FA/h within its target on every set of `tuning` (a list of
    scored corpora) in the sweep (all words at one threshold), the highest
    if none does; then, since with each word at its own threshold the words
    compete differently for the top class, every word still over its
    target on a set moves up the grid until none is. Of the detector's
    thresholds or, given the `detector`'s, of the verifier's."""
    steps = grid(detector)
    tables = [fa_sweep(scored, classes, detector) for scored in tuning]
    chosen = {}
    for word in WORDS:
        chosen[word] = steps[-1]
        for threshold, rate in reversed(list(zip(steps, np.max([t[word] for t in tables], axis=0)))):
            if rate > fa_target(word):
                break
            chosen[word] = threshold
    for _ in steps:
        over = set()
        for scored in tuning:
            counts, hours = false_accepts(scored, classes, *as_rule(detector, chosen))
            over |= {w for w in WORDS if counts[w] / hours > fa_target(w) and chosen[w] < steps[-1]}
        if not over:
            break
        for word in over:
            chosen[word] = steps[steps.index(chosen[word]) + 1]
    return chosen


def cross_checked_fa(fa_scored, classes, fa_target, detector=None):
    """{word: FA/h} with thresholds chosen on one half of the false-accept
    streams and counted on the other, both ways round: what the rule gives
    on speech it was not tuned on (the verifier's thresholds, given the
    `detector`'s)."""
    halves = (fa_scored[0::2], fa_scored[1::2])
    counts, hours = {w: 0 for w in WORDS}, 0.0
    for tune, test in (halves, halves[::-1]):
        thresholds = choose_thresholds([tune], classes, fa_target, detector)
        found, duration = false_accepts(test, classes, *as_rule(detector, thresholds))
        hours += duration
        for w in WORDS:
            counts[w] += found[w]
    return {w: counts[w] / hours for w in WORDS}
