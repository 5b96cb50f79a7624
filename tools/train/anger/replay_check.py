"""The held-out-speaker whole-call figures again, through the real binary
(`target/release/voicegate replay DIR --json`), as users and the held-out
evaluation run it: each speaker fold's model is exported with the
calibration made on the other folds (under tools/train/out/replay/), that
fold's calls are written as 8 kHz WAV files to a temporary directory
(corpus audio: removed after the run), and the binary's anger transfers
are compared with the Python mirror's.
Keywords are switched off in the configuration used, so only anger decides.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime
import soundfile

from . import calls, evaluate, frontend, report

ROOT = Path(__file__).resolve().parents[3]
BINARY = ROOT / "target" / "release" / "voicegate"
AGREE_S = 0.05


def config_text(manifest):
    """sip-config/gateway.toml with the fold's anger model, no keywords and no wait timeout."""
    text = (ROOT / "sip-config" / "gateway.toml").read_text(encoding="utf-8")
    start, end = text.index("words = ["), text.index("[policy]")
    text = text[:start] + "words = []\n\n" + text[end:]
    replace = {
        'anger_model = "../models/anger.toml"': f'anger_model = "{manifest}"',
        'model = "../models/kws.toml"': f'model = "{ROOT / "models" / "kws.toml"}"',
        'file = "menus/main.toml"': f'file = "{ROOT / "sip-config" / "menus" / "main.toml"}"',
        'prompts = "prompts"': f'prompts = "{ROOT / "sip-config" / "prompts"}"',
        "max_wait_s = 90 ": "max_wait_s = 86400 ",
    }
    for old, new in replace.items():
        if old not in text:
            raise SystemExit(f"replay check: sip-config/gateway.toml has no {old!r} any more")
        text = text.replace(old, new)
    for key in ("human_words", "complaint_words"):
        text, found = re.subn(rf"^{key} = \[[^\]]*\]", f"{key} = []", text, flags=re.MULTILINE)
        if not found:
            raise SystemExit(f"replay check: sip-config/gateway.toml has no {key} any more")
    return text


def export_fold(folder, model, calibration, evaluation):
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = folder / "anger.onnx"
    onnx_path.write_bytes(frontend.build(model.weights()).SerializeToString())
    report.write_manifest_head(folder / "anger.toml", onnx_path, calibration, evaluation["weight"], evaluation["prior"])
    (folder / "gateway.toml").write_text(config_text(folder / "anger.toml"), encoding="utf-8")


def python_transfer(call, evaluation, calibration):
    return evaluate.decide(call, evaluation["weight"], *calibration)[1]


def runtime_env():
    """The environment for the binary: ONNX Runtime from the training venv's
    onnxruntime wheel (the same version) unless VOICEGATE_ORT_LIB is set."""
    env = dict(os.environ)
    if "VOICEGATE_ORT_LIB" not in env:
        libraries = sorted((Path(onnxruntime.__file__).parent / "capi").glob("libonnxruntime.so*"))
        if libraries:
            env["VOICEGATE_ORT_LIB"] = str(libraries[0])
    return env


def binary_transfers(folder, audio):
    """File name -> anger transfer time (None: no transfer) from the binary."""
    out = subprocess.run([str(BINARY), "replay", str(audio), "--json", "--config", str(folder / "gateway.toml")],
                         capture_output=True, text=True, check=False, env=runtime_env())
    if out.returncode not in (0, 1):
        raise SystemExit(f"replay check: voicegate replay failed ({out.returncode}): {out.stderr[-2000:]}")
    found = {}
    for line in out.stdout.splitlines():
        event = json.loads(line)
        if event.get("event") == "summary":
            transfer = event["transfer"]
            found[Path(event["file"]).name] = transfer["t"] if transfer and transfer["reason"] == "anger" else None
    return found


def check(evaluation, out_dir):
    """Per fold: export, write calls, replay, compare. Returns the comparison rows."""
    _, models, _ = evaluation["speaker"]
    call_list = evaluation["calls"]
    evaluate.use_logits(call_list, "speaker")
    rows = []
    for fold, model in models.items():
        folder = Path(out_dir) / f"fold{fold}"
        mine = [c for c in call_list if c.fold == fold]
        calibration = evaluate.calibrate([c for c in call_list if c.fold != fold], evaluation["weight"])
        export_fold(folder, model, calibration, evaluation)
        names = {f"{i:04d}-{call.corpus}-{call.kind}.wav": call for i, call in enumerate(mine)}
        with tempfile.TemporaryDirectory() as audio:
            for name, call in names.items():
                soundfile.write(Path(audio) / name, np.clip(call.audio, -1, 1), 8000, subtype="PCM_16")
            replayed = binary_transfers(folder, audio)
        for name, call in names.items():
            rows.append({"fold": fold, "corpus": call.corpus, "kind": call.kind, "onset_s": call.onset_s,
                         "python": python_transfer(call, evaluation, calibration), "binary": replayed.get(name, "missing")})
        print(f"replay check: fold {fold}, {len(mine)} calls", file=sys.stderr)
    return rows


def agreement(rows):
    """Calls where Python and the binary take the same decision (transfer or
    not, and within AGREE_S of each other)."""
    same = [r for r in rows if (r["python"] is None) == (r["binary"] is None) and
            (r["python"] is None or (r["binary"] != "missing" and abs(r["python"] - r["binary"]) <= AGREE_S))]
    return len(same), len(rows)


def binary_figures(rows):
    """The whole-call figures from the binary's decisions."""
    figures = {}
    for corpus in sorted({r["corpus"] for r in rows}):
        mine = [r for r in rows if r["corpus"] == corpus and r["binary"] != "missing"]
        angry = [r for r in mine if r["kind"] == "angry"]
        calm = [r for r in mine if r["kind"] == "calm"]
        caught = sum(1 for r in angry if r["binary"] is not None and r["onset_s"] < r["binary"] <= r["onset_s"] + calls.ONSET_LIMIT_S)
        figures[corpus] = {"angry_calls": len(angry), "angry_within_6s": caught,
                           "calm_calls": len(calm), "calm_transferred": sum(1 for r in calm if r["binary"] is not None)}
    return figures
