#!/usr/bin/env bash
# Sets up a fresh machine for voicegate: checks the Rust toolchain, installs
# the ONNX Runtime library (Python wheel) into .venv, and builds the release
# binary. Idempotent: run it as often as you like.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found: install Rust (https://rustup.rs) and run again" >&2
  exit 2
fi
# Plots (replay --plot) render text with fontconfig and freetype.
if ! pkg-config --exists fontconfig freetype2 2>/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "setup: installing fontconfig and freetype headers…"
    apt-get update -qq && apt-get install -y -qq pkg-config libfontconfig1-dev libfreetype-dev fonts-dejavu-core >/dev/null
  else
    echo "setup: needs pkg-config, libfontconfig1-dev, libfreetype-dev and a font (fonts-dejavu-core): install them and run again" >&2
    exit 2
  fi
fi

# The ONNX Runtime shared library comes from the official onnxruntime wheel,
# installed into a project-local venv (voicegate finds it in .venv).
if ! command -v python3 >/dev/null; then
  echo "setup: python3 not found: install Python 3.9+ (apt-get install python3 python3-venv)" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv…"
  python3 -m venv .venv
fi
if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt; then
  echo "setup: pip could not install requirements.txt into .venv (network to the package registry needed once)" >&2
  exit 1
fi
echo "setup: building voicegate (release)…"
cargo build --release --locked --quiet
echo "setup: ready: target/release/voicegate"
