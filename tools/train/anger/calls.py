"""Whole calls as the gateway hears them: clips of one held-out speaker
joined into a call, through one phone line, cut into windows of voiced audio
as `src/audio/windows.rs` does, scored as `src/audio/anger_score.rs` does,
and decided by the engine's rule (3 scores in a row above 80)."""
import functools
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from . import channel, data

RATE = 8000
FRAME = 160                 # the call's 20 ms packets
WINDOW, HOP = 16000, 4000   # 2 s of voiced audio, every 0.5 s of it
GAP_S = 0.4                 # silence between two clips of a call
THRESHOLD, SUSTAIN = 80.0, 3
SMOOTHING = 0.7             # [scoring] smoothing: the share of each new score
CUMULATIVE_LEAK = 0.8       # a trial's cumulative rise keeps this much of itself per window
CALM_S, ANGRY_S = 12.0, 10.0      # seconds of speech (clips' silent ends cut) of each part of a call
MIN_CALM_S = 8.0
ONSET_LIMIT_S = 6.0               # an angry call is transferred right within this of the onset
MIN_PART_S = ONSET_LIMIT_S        # a shorter angry (happy) part cannot be decided in time
CALLS_PER_SPEAKER = {"tess": 6}   # two speakers with 200 clips per emotion each


# --- the gateway's front end, mirrored -------------------------------------

def voiced_frames(audio, margin_db=9.0, min_level_db=-50.0, floor_rise_db=0.05, hangover=10):
    """Which 20 ms frames the VAD of src/audio/vad.rs keeps."""
    n = len(audio) // FRAME
    levels = 10 * np.log10(np.mean(audio[:n * FRAME].reshape(n, FRAME) ** 2, axis=1) + 1e-10)
    keep = np.zeros(n, bool)
    floor, left = None, 0
    for i, level in enumerate(levels):
        floor = level if floor is None or level < floor else min(floor + floor_rise_db, level)
        if level > floor + margin_db and level > min_level_db:
            left, keep[i] = hangover, True
        elif left > 0:
            left, keep[i] = left - 1, True
    return keep


def voiced_windows(audio, hop=HOP):
    """(time in s, 2 s window) every `hop` samples of voiced audio, as VoicedWindows gives them
    (a window once at least `hop` voiced samples came in since the last one: whole 20 ms frames)."""
    keep = voiced_frames(audio)
    voiced = np.concatenate([audio[i * FRAME:(i + 1) * FRAME] for i in np.where(keep)[0]] or [np.zeros(0)])
    ends = np.where(keep)[0] + 1                     # frame count at the end of each voiced frame
    out = []
    for k in range(WINDOW // FRAME, len(ends) + 1, -(-hop // FRAME)):
        out.append((ends[k - 1] * FRAME / RATE, voiced[(k * FRAME) - WINDOW:k * FRAME]))
    return out


@dataclass(frozen=True)
class Adaptation:
    """The caller-adaptive step: the mean logit of the `recent` latest
    windows (the caller's voice now), plus `change` of its rise above the
    call's baseline (the mean of the windows before those), less `shift` of
    the baseline's distance from the calm prior. With a `drift`, the rise is
    a leaky cumulative sum of rises beyond `drift` (a change detector that
    grows while the voice stays raised)."""
    change: float
    shift: float
    recent: int = 1
    drift: float = None

    def __str__(self):
        more = "" if self.drift is None else f", cumulative rise beyond {self.drift}"
        return f"recent {self.recent}, change {self.change}, shift {self.shift}{more}"

    def in_gateway(self):
        """Whether src/audio/anger_score.rs scores this way (the latest window, its plain rise)."""
        return self.recent == 1 and self.drift is None


@dataclass
class Scorer:
    """Model output row -> 0-100 score, as src/audio/anger_score.rs: the
    recent windows' mean logit against the call's own running mean of the
    windows before them (started from a calm prior worth `prior_windows`
    windows), adapted, then the calibration, then smoothing."""
    logit: list
    score: list
    adaptation: Adaptation
    prior_logit: float
    prior_windows: float
    smoothing: float = SMOOTHING
    total: float = 0.0
    count: int = 0
    smoothed: float = None
    latest: deque = field(default_factory=deque)
    cumulative: float = 0.0

    def adapted(self, logit):
        self.latest.append(logit)
        if len(self.latest) > self.adaptation.recent:
            self.total += self.latest.popleft()
            self.count += 1
        baseline = (self.prior_logit * self.prior_windows + self.total) / (self.prior_windows + self.count)
        now = sum(self.latest) / len(self.latest)
        rise = now - baseline
        if self.adaptation.drift is not None:
            self.cumulative = max(0.0, CUMULATIVE_LEAK * self.cumulative + rise - self.adaptation.drift)
            rise = self.cumulative
        return now + self.adaptation.change * rise - self.adaptation.shift * (baseline - self.prior_logit)

    def push(self, row):
        score = float(np.interp(self.adapted(float(row[0])), self.logit, self.score))
        self.smoothed = score if self.smoothed is None else self.smoothed + self.smoothing * (score - self.smoothed)
        return self.smoothed


def adapted_logits(logits, adaptation, prior_logit, prior_windows):
    """The adapted logit of each window of one call."""
    scorer = Scorer([0.0, 1.0], [0.0, 1.0], adaptation, prior_logit, prior_windows)
    return np.array([scorer.adapted(x) for x in logits])


def first_transfer(times, scores):
    """When the engine would transfer for anger: the 3rd score in a row above 80."""
    run = 0
    for at, score in zip(times, scores):
        run = run + 1 if score > THRESHOLD else 0
        if run == SUSTAIN:
            return at
    return None


# --- synthetic calls from held-out speakers ---------------------------------

@dataclass
class Call:
    corpus: str
    speaker: str
    kind: str                  # "calm", "angry" (calm then angry) or "happy" (calm then happy)
    audio: np.ndarray
    onset_s: float = None      # where the angry or happy part starts
    times: list = field(default_factory=list)
    windows: list = field(default_factory=list)


def join(clips, rng):
    """Trimmed clips with short pauses between, and where each starts (s)."""
    parts, starts, at = [], [], 0
    for clip in clips:
        speech = data.trim_silence(data.load(clip.path))
        starts.append(at / RATE)
        parts += [speech, np.zeros(int(GAP_S * RATE) + int(rng.integers(0, 1600)))]
        at += len(parts[-2]) + len(parts[-1])
    return np.concatenate(parts), starts


@functools.lru_cache(maxsize=None)
def speech_seconds(path):
    """How long a clip is once its silent ends are cut, as a call joins it."""
    return len(data.trim_silence(data.load(path))) / RATE


def take(pool, seconds, rng):
    """Clips from `pool` (shuffled) until `seconds` of speech."""
    order = rng.permutation(len(pool))
    picked, total = [], 0.0
    for i in order:
        if total >= seconds:
            break
        picked.append(pool[i])
        total += speech_seconds(pool[i].path)
    return picked


def speaker_calls(corpus, speaker, rows, rng):
    """One calm call, one calm->angry call and (where the speaker acted happiness) one calm->happy call,
    each part counted in seconds of speech; a speaker with less than MIN_PART_S of angry (happy)
    speech makes no such call."""
    by_kind = lambda k: [c for c in rows if data.kind_of(c) == k and (k != "other" or c.label == "happy")]
    calm, angry, happy = by_kind("calm"), by_kind("angry"), by_kind("other")
    speech = lambda pool: sum(speech_seconds(c.path) for c in pool)
    calls = []
    if speech(calm) >= MIN_CALM_S:
        calls.append(("calm", take(calm, CALM_S + ANGRY_S, rng), 0))
    for kind, pool in (("angry", angry), ("happy", happy)):
        if calm and speech(pool) >= MIN_PART_S:
            lead = take(calm, CALM_S, rng)
            calls.append((kind, lead + take(pool, ANGRY_S, rng), len(lead)))
    out = []
    for kind, clips, onset_index in calls:
        audio, starts = join(clips, rng)
        onset = starts[onset_index] if kind != "calm" else None
        out.append(Call(corpus, speaker, kind, audio, onset))
    return out


def wuw_calls(rows):
    """Each real caller's session, in its recorded order, as one calm call."""
    calls = []
    for speaker in sorted({c.speaker for c in rows}):
        clips = sorted((c for c in rows if c.speaker == speaker), key=lambda c: str(c.path))
        audio = np.concatenate([data.load(c.path) for c in clips])
        calls.append(Call("wuw", speaker, "calm", audio))
    return calls


def make_calls(data_dir, babble, seed=11):
    """Synthetic calls for every speaker of every corpus (each speaker is held
    out whenever their corpus is), through a random phone line, cut into windows."""
    calls = phone_calls(data_dir, babble, seed)
    for call in calls:
        call.times, call.windows = cut(call.audio)
    return calls


def cut(audio, hop=HOP):
    """The call time and the audio of each window the gateway scores, every `hop` samples of voiced audio."""
    windows = voiced_windows(audio, hop)
    return [t for t, _ in windows], [w for _, w in windows]


def phone_calls(data_dir, babble, seed=11):
    """The calls of `make_calls`, not yet cut into windows."""
    rng = np.random.default_rng(seed)
    calls = []
    for corpus in data.CORPORA:
        rows = data.read_manifest(data_dir, {corpus})
        if corpus == "wuw":
            calls += wuw_calls(rows)
            continue
        for speaker in sorted({c.speaker for c in rows} - {"unknown_user"}):
            for _ in range(CALLS_PER_SPEAKER.get(corpus, 1)):
                calls += speaker_calls(corpus, speaker, [c for c in rows if c.speaker == speaker], rng)
    for call in calls:
        if call.corpus != "wuw":    # already real phone lines
            call.audio = channel.telephone(call.audio, rng, babble)
    return calls
