#!/usr/bin/env bash
# Fuzzes every target in fuzz/ (outside CI: it takes a while). Needs nightly
# Rust (cargo fuzz builds with sanitizers) and installs cargo-fuzz from
# crates.io when missing. Each target runs RUNS executions (default
# 1,000,000) or MAX_SECONDS (default 900), whichever comes first; a crash
# stops its target and its reproducer lands in fuzz/artifacts/<target>/:
# copy it to fuzz/regressions/<target>/ once fixed, and cargo test replays it.
#   bash scripts/fuzz.sh [TARGET…]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-1000000}
max_seconds=${MAX_SECONDS:-900}
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: needs a nightly toolchain (rustup toolchain install nightly)" >&2
  exit 2
fi
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(ls fuzz/fuzz_targets | sed 's/\.rs$//')
printf '%-14s %12s %8s %s\n' target executions seconds result
for target in "${targets[@]}"; do
  log=$(mktemp)
  start=$(date +%s)
  # What the fuzzer learns goes to fuzz/work/ (not committed); the
  # committed seeds in fuzz/corpus/ are read, never written.
  mkdir -p "fuzz/work/$target"
  if cargo +nightly fuzz run --fuzz-dir fuzz "$target" "fuzz/work/$target" "fuzz/corpus/$target" -- \
      -runs="$runs" -max_total_time="$max_seconds" -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see fuzz/artifacts/$target)"
  fi
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  printf '%-14s %12s %8s %s\n' "$target" "${executions:-?}" "$(( $(date +%s) - start ))" "$result"
  rm -f "$log"
done
