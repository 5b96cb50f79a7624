#!/usr/bin/env bash
# Re-evaluates models/kws.onnx as it is (held-out detection, false accepts,
# latency, thresholds) and rewrites models/kws.toml, docs/kws-model.md and
# docs/img/kws-*.png. Usage: bash tools/train/eval_kws.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash tools/train/train_kws.sh "${1:-../shared/data}" --eval-only
