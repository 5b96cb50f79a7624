#!/usr/bin/env bash
# Renders every prompt a menu plays with espeak-ng, as 8 kHz G.711 mu-law WAV
# (the phone line's own format), into the prompts directory, and the gateway's
# own prompts (the sorry prompt, a waiting caller's place in line, the
# recording notice).
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
# The gateway's own prompts: the sorry prompt, and a waiting caller's place
# in line and expected wait ([transfer] announce_place).
gateway_prompts() {
  printf 'agents_busy\t%s\n' \
    "Sorry, all our agents are busy right now. Please stay on the line, and we will connect you as soon as one is free."
  printf 'queue_position_1\t%s\n' "You are next in line."
  for n in 2 3 4 5 6 7 8 9; do printf 'queue_position_%s\t%s\n' "$n" "You are number $n in line."; done
  printf 'queue_position_more\t%s\n' "There are more than nine callers ahead of you."
  printf 'queue_wait_1\t%s\n' "Your wait is about one minute."
  for n in 2 3 4 5; do printf 'queue_wait_%s\t%s\n' "$n" "Your wait is about $n minutes."; done
  printf 'queue_wait_more\t%s\n' "Your wait is more than five minutes."
  printf 'recording_notice\t%s\n' "This call is recorded for quality and compliance."
}
count=0
while IFS=$'\t' read -r name text; do
  # Mandarin-only text gets the Mandarin voice; everything else US English.
  voice=en-us; [[ "$text" =~ ^[[:ascii:]]*$ ]] || voice=cmn
  espeak-ng -v "$voice" -s 165 -w "$tmp/$name.wav" "$text"
  sox -G "$tmp/$name.wav" -r 8000 -c 1 -e u-law "$out/$name.wav" gain -3
  count=$((count + 1))
done < <("$voicegate" menu prompts "$menu"; gateway_prompts)
echo "rendered $count prompts into $out"
