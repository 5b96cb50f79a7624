#!/usr/bin/env bash
# Retrains the anger model from every corpus (after its leave-one-corpus-out
# evaluation) and writes models/anger.onnx,
# models/anger.toml, docs/anger-model.md (with a plot in docs/img/) and
# fixtures/anger_scorer.toml.
# Usage: bash tools/train/train_anger.sh [DATA_DIR]   (default ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data}
[ -f "$data/MANIFEST.tsv" ] || { echo "train_anger: $data/MANIFEST.tsv not found: pass the shared data directory" >&2; exit 2; }
bash tools/train/setup.sh
OMP_NUM_THREADS=2 PYTHONPATH=tools/train .venv-train/bin/python -m anger.train --data "$data"
