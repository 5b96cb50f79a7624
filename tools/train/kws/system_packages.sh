#!/usr/bin/env bash
# The Debian packages the keyword spotter's data needs: the TTS engines and
# their voices (espeak-ng, flite, festival + voices), an English word list
# (wamerican, for random phrases), and a CJK font for the
# plots. Installs what is missing when run as root; otherwise says what to install.
set -euo pipefail
packages=(espeak-ng sox flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts wamerican fonts-wqy-zenhei)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "kws: missing Debian packages: ${missing[*]} (apt-get install -y ${missing[*]})" >&2
  exit 2
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "kws: installed ${missing[*]}"
