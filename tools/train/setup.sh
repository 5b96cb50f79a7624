#!/usr/bin/env bash
# Creates .venv-train at the project root with the pinned training packages.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x .venv-train/bin/python ] || python3 -m venv .venv-train
.venv-train/bin/python -m pip install --quiet --disable-pip-version-check -r tools/train/requirements.txt
echo "training venv ready: .venv-train"
