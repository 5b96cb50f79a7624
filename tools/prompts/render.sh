#!/usr/bin/env bash
# Renders every prompt a menu plays with espeak-ng, as 8 kHz G.711 mu-law WAV
# (the phone line's own format), into the prompts directory, and the gateway's
# own agents_busy prompt (played when no agent can be reached).
# Usage: tools/prompts/render.sh [MENU] [PROMPTS_DIR]   (needs espeak-ng and sox)
set -euo pipefail
menu=${1:-sip-config/menus/main.toml}
out=${2:-sip-config/prompts}
command -v espeak-ng >/dev/null && command -v sox >/dev/null || {
  echo "render.sh: needs espeak-ng and sox: apt-get install espeak-ng sox" >&2; exit 2; }
voicegate=${VOICEGATE:-target/release/voicegate}
[ -x "$voicegate" ] || cargo build --release --quiet
mkdir -p "$out"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
count=0
while IFS=$'\t' read -r name text; do
  # Mandarin-only text gets the Mandarin voice; everything else US English.
  voice=en-us; [[ "$text" =~ ^[[:ascii:]]*$ ]] || voice=cmn
  espeak-ng -v "$voice" -s 165 -w "$tmp/$name.wav" "$text"
  sox -G "$tmp/$name.wav" -r 8000 -c 1 -e u-law "$out/$name.wav" gain -3
  count=$((count + 1))
done < <("$voicegate" menu prompts "$menu"; printf 'agents_busy\t%s\n' \
  "Sorry, all our agents are busy right now. Please stay on the line, and we will connect you as soon as one is free.")
echo "rendered $count prompts into $out"
