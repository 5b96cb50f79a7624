#!/usr/bin/env bash
# Retrains the keyword spotter and writes models/kws.onnx, models/kws.toml and
# docs/kws-model.md (with plots in docs/img/kws-*.png). Synthesised speech is
# cached in tools/train/cache/kws/. Extra arguments go to `python -m kws.train`
# (e.g. --eval-only, which tools/train/eval_kws.sh passes).
# Usage: bash tools/train/train_kws.sh [DATA_DIR]   (default ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data}
[ -f "$data/MANIFEST.tsv" ] || { echo "train_kws: $data/MANIFEST.tsv not found: pass the shared data directory" >&2; exit 2; }
bash tools/train/kws/system_packages.sh
bash tools/train/setup.sh
# The keyword decision must still be the gateway's (tests/data/keyword_decisions.json).
PYTHONPATH=tools/train .venv-train/bin/python -m kws.decisions
# nice and one thread: training shares the 2 cores with builds. Two torch
# threads on a busy machine took 7.4 ms a window per epoch, one thread 0.7 ms.
OMP_NUM_THREADS=1 PYTHONPATH=tools/train nice -n 10 .venv-train/bin/python -m kws.train --data "$data" "${@:2}"
# The vectors follow the model (its logits and thresholds); the Rust tests assert them.
PYTHONPATH=tools/train .venv-train/bin/python -m kws.decisions --write
