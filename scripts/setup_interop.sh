#!/usr/bin/env bash
# Installs the independent SIP clients the interoperability tests call
# voicegate with: SIPp (`sipp`, Debian package sip-tester), baresip
# (`baresip`, package baresip-core, headless) and the SIPVicious scanner
# (`svmap`, `svwar`, package sipvicious), and Prometheus's promtool
# (package prometheus; the server is never started), and PostgreSQL's
# server programs (package postgresql; the tests start their own), and
# Kamailio (package kamailio; its test starts it), and Chromium (package
# chromium; the browser-call test runs it headless). Idempotent: does nothing when all
# are on PATH. Installs with apt-get only when run as root on a machine
# that has it; otherwise says how and exits 2.
set -euo pipefail

missing=()
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v baresip >/dev/null 2>&1 || missing+=(baresip-core)
command -v svmap >/dev/null 2>&1 || missing+=(sipvicious)
# promtool checks the shipped Prometheus rules and voicegate's /metrics.
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
# Kamailio in front of two gateways (deploy/kamailio/), started by its test.
command -v kamailio >/dev/null 2>&1 || missing+=(kamailio)
# The PostgreSQL store's tests start a server of their own (initdb, pg_ctl).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
# The browser caller's test (tests/integration/browser.rs) calls over WebRTC.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup_interop: installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # No package may start a daemon (Prometheus's server, say): the tests
    # start what they need themselves. policy-rc.d is Debian's switch for it.
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
    if command -v sipp >/dev/null 2>&1 && command -v baresip >/dev/null 2>&1 && command -v svmap >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 \
        && command -v kamailio >/dev/null 2>&1 && command -v chromium >/dev/null 2>&1 \
        && compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
        exit 0
    fi
    echo "setup_interop: apt-get installed ${missing[*]} but sipp, baresip, svmap, promtool, kamailio, chromium or initdb is still missing" >&2
    exit 2
fi

echo "setup_interop: needs ${missing[*]}: install them (Debian/Ubuntu: sudo apt-get install --no-install-recommends ${missing[*]}) and run this again" >&2
exit 2
