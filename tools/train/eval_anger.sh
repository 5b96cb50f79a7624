#!/usr/bin/env bash
# Leave-one-corpus-out and held-out-speaker evaluation of the anger model
# (windows and whole calls), without retraining the shipped model: writes
# tools/train/out/anger-evaluation.json and prints the figures.
# Usage: bash tools/train/eval_anger.sh [DATA_DIR]   (default ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data}
[ -f "$data/MANIFEST.tsv" ] || { echo "eval_anger: $data/MANIFEST.tsv not found: pass the shared data directory" >&2; exit 2; }
bash tools/train/setup.sh
OMP_NUM_THREADS=2 PYTHONPATH=tools/train nice -n 10 .venv-train/bin/python -m anger.train --data "$data" --eval-only
