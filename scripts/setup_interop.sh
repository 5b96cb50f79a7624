#!/usr/bin/env bash
# Installs the independent SIP clients the interoperability tests call
# voicegate with: SIPp (`sipp`, Debian package sip-tester), baresip
# (`baresip`, package baresip-core, headless) and the SIPVicious scanner
# (`svmap`, `svwar`, package sipvicious). Idempotent: does nothing when all
# are on PATH. Installs with apt-get only when run as root on a machine
# that has it; otherwise says how and exits 2.
set -euo pipefail

missing=()
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v baresip >/dev/null 2>&1 || missing+=(baresip-core)
command -v svmap >/dev/null 2>&1 || missing+=(sipvicious)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup_interop: installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if command -v sipp >/dev/null 2>&1 && command -v baresip >/dev/null 2>&1 && command -v svmap >/dev/null 2>&1; then
        exit 0
    fi
    echo "setup_interop: apt-get installed ${missing[*]} but sipp or baresip is still not on PATH" >&2
    exit 2
fi

echo "setup_interop: needs ${missing[*]}: install them (Debian/Ubuntu: sudo apt-get install --no-install-recommends ${missing[*]}) and run this again" >&2
exit 2
