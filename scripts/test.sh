#!/usr/bin/env bash
# Everything CI checks: set-up, formatting, lints, and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "test: cargo fmt --check"
cargo fmt --all -- --check
echo "test: cargo clippy"
cargo clippy --locked --all-targets --quiet -- -D warnings
echo "test: cargo test"
cargo test --locked --all-targets
