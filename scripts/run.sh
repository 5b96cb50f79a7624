#!/usr/bin/env bash
# The main job on embedded defaults: set up, start `voicegate serve` on
# loopback, call it with `voicegate call` playing the angry caller's
# recording, show the live decision (the REFER for anger), stop the server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bin=target/release/voicegate
config=sip-config/gateway.toml
recording=fixtures/calls/angry_mid_call/call.flac
work=$(mktemp -d)
serve_pid=
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" serve --config "$config" --calls 1 >"$work/serve.jsonl" 2>"$work/serve.log" &
serve_pid=$!
# Up when it says it listens (at most 10 s); a start-up error is its own message.
for _ in $(seq 100); do
  grep -q "listening for SIP" "$work/serve.log" && break
  if ! kill -0 "$serve_pid" 2>/dev/null; then cat "$work/serve.log" >&2; exit 2; fi
  sleep 0.1
done
listen=$(sed -n 's/.*listening for SIP on udp and tcp \([^;]*\);.*/\1/p' "$work/serve.log")
echo "run: voicegate serve is listening on $listen; calling it with $recording"
echo "run: the caller's side (voicegate call):"
"$bin" call "sip:800@$listen" --play "$recording" "$@"
# serve --calls 1 exits once the call has ended (at most 10 s more).
for _ in $(seq 100); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
echo "run: the gateway's side (voicegate serve, JSON Lines; prompts left out):"
grep -v '"event":"prompt"' "$work/serve.jsonl"
