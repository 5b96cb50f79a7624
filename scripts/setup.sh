#!/usr/bin/env bash
# Sets up a fresh machine for voicegate: checks the Rust toolchain and builds
# the release binary. Idempotent: run it as often as you like.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found: install Rust (https://rustup.rs) and run again" >&2
  exit 2
fi
echo "setup: building voicegate (release)…"
cargo build --release --locked --quiet
echo "setup: ready: target/release/voicegate"
