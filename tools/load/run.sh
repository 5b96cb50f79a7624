#!/usr/bin/env bash
# Load test of `voicegate serve` on loopback, outside CI (minutes, both
# cores): see tools/load/load.py for what it measures. Writes its table into
# docs/PERFORMANCE.md (between the load markers) unless --print.
#
#   bash tools/load/run.sh                       # the full run
#   bash tools/load/run.sh --levels 50 --hold 20 --rates "" --print   # a smoke run
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v sipp >/dev/null && [ -f /usr/share/sip-tester/g711a.pcap ] || {
  echo "load: needs sipp and /usr/share/sip-tester/g711a.pcap: bash scripts/setup_interop.sh" >&2; exit 2; }
cargo build --release --quiet
exec python3 tools/load/load.py "$@"
