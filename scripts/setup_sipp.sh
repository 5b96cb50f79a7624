#!/usr/bin/env bash
# Makes sure SIPp (`sipp`, Debian package sip-tester) is installed, for the
# SIP interoperability tests in tests/integration/sipp/. Idempotent: does
# nothing when `sipp` is already on PATH. Installs with apt-get only when run
# as root on a machine that has it; otherwise says how and exits 2.
set -euo pipefail

if command -v sipp >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup_sipp: installing sip-tester (SIPp) with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq sip-tester >/dev/null
    if command -v sipp >/dev/null 2>&1; then
        exit 0
    fi
    echo "setup_sipp: apt-get installed sip-tester but sipp is still not on PATH; check /usr/bin/sipp" >&2
    exit 2
fi

echo "setup_sipp: sipp not found; install SIPp 3.6 (Debian/Ubuntu: sudo apt-get install sip-tester) and run this again" >&2
exit 2
