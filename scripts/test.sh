#!/usr/bin/env bash
# Everything CI checks: set-up, formatting, lints, and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# SIPp and baresip for the live-call interoperability tests.
bash scripts/setup_interop.sh
echo "test: cargo fmt --check"
cargo fmt --all -- --check
echo "test: cargo clippy"
cargo clippy --locked --all-targets --quiet -- -D warnings
echo "test: benchmarks compile (run them with cargo bench)"
cargo bench --locked --no-run --quiet
echo "test: cargo test"
# Unit tests, then the integration binary last, so the run ends on its count.
cargo test --locked --lib --bins --tests
