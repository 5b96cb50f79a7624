#!/usr/bin/env bash
# The main job on embedded defaults: set up, then replay the sample call
# (a caller who navigates the bank menu, grows angry, and is transferred).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec target/release/voicegate replay --script fixtures/scripts/angry_caller.jsonl "$@"
