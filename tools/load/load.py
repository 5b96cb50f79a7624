"""Load test of `voicegate serve` on loopback (run by tools/load/run.sh).

Concurrency steps: a fresh `serve` (the sample menu, both models, recording
and the SQLite store on) takes LEVEL calls from SIPp (tools/load/uac_hold.xml:
G.711 speech for the whole call, ramped at LEVEL/10 calls a second). Once all
are up, the server's CPU (user+system ticks) and RSS are sampled from /proc
every second; one angry caller (`voicegate call` with the angry fixture,
anger from 14.15 s) times anger onset -> REFER under that load; /metrics
gives the RTP send interval histogram and the calls up.

Set-up rate steps: SIPp's built-in `uac` (1 s calls, no audio from the
caller) at RATE calls a second for RATE_S seconds against a fresh `serve`,
then the same against SIPp's own built-in `uas` in the same run, so the
ratio of the two is voicegate's overhead on this machine.

With --profile DIR, `perf record -g` samples the server through each step
and DIR gets STEP.perf.data and STEP.txt (`perf report`, heaviest first).

Everything is on 127.0.0.1, every process is stopped by PID, every wait is
bounded. Prints the tables, or writes them into docs/PERFORMANCE.md between
its load markers.
"""
import argparse
import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VOICEGATE = ROOT / "target/release/voicegate"
PCAP = Path("/usr/share/sip-tester/g711a.pcap")
PCAP_SECONDS = 8
SIP_PORT, METRICS_PORT, CALLER_PORT, UAS_PORT = 5480, 9480, 5481, 5490
ANGER_ONSET_S = 14.15
DOC = ROOT / "docs/PERFORMANCE.md"
BEGIN, END = "<!-- load results begin -->", "<!-- load results end -->"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROFILE_DIR = None  # set by --profile


def gateway_toml(work):
    queues = (ROOT / "sip-config/gateway.toml").read_text()
    queues = queues[queues.index("[queues"):]
    return f"""
[sip]
listen = "127.0.0.1:{SIP_PORT}"
max_calls = 5000
[rtp]
ports = [20000, 39999]
[menu]
file = "{ROOT}/sip-config/menus/main.toml"
prompts = "{ROOT}/sip-config/prompts"
[scoring]
anger_model = "{ROOT}/models/anger.toml"
[keywords]
model = "{ROOT}/models/kws.toml"
[policy]
max_wait_s = 3600   # load callers stay in the menu: no wait-timeout transfer
no_input_s = 600
[store]
url = "sqlite:{work}/voicegate.db"
[recording]
dir = "{work}/recordings"
[metrics]
listen = "127.0.0.1:{METRICS_PORT}"
{queues}"""


@contextlib.contextmanager
def work_directory(keep):
    """A temporary directory, or `keep` (made, emptied, and left behind)."""
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="voicegate-load.") as work:
            yield Path(work)
        return
    shutil.rmtree(keep, ignore_errors=True)
    keep.mkdir(parents=True)
    yield keep.resolve()


def hold_scenario(hold_s):
    plays = max(1, -(-hold_s // PCAP_SECONDS))
    play = ('  <nop><action><exec play_pcap_audio="pcap/g711a.pcap"/></action></nop>\n'
            f'  <pause milliseconds="{PCAP_SECONDS * 1000}"/>\n')
    return (ROOT / "tools/load/uac_hold.xml").read_text().replace("@MEDIA@", play * plays)


class Serve:
    def __init__(self, work, step):
        (work / "gateway.toml").write_text(gateway_toml(work))
        for stale in ["voicegate.db", "voicegate.db-wal", "voicegate.db-shm"]:
            (work / stale).unlink(missing_ok=True)
        shutil.rmtree(work / "recordings", ignore_errors=True)
        self.err = work / "serve.err"
        self.process = subprocess.Popen(
            [VOICEGATE, "serve", "--config", work / "gateway.toml"],
            stdout=subprocess.DEVNULL, stderr=open(self.err, "w"))
        deadline = time.time() + 20
        while "listening for SIP" not in self.err.read_text():
            if time.time() > deadline or self.process.poll() is not None:
                sys.exit(f"load: serve did not start:\n{self.err.read_text()}")
            time.sleep(0.1)
        self.step, self.perf = step, None
        if PROFILE_DIR:
            self.perf = subprocess.Popen(
                ["perf", "record", "-F", "499", "-g", "-p", str(self.process.pid),
                 "-o", PROFILE_DIR / f"{step}.perf.data"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ticks(self):
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def rss_kib(self):
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status)[1])

    def stop(self):
        if self.perf:
            self.perf.send_signal(signal.SIGINT)
            self.perf.wait(timeout=60)
            with open(PROFILE_DIR / f"{self.step}.txt", "w") as report:
                subprocess.run(["perf", "report", "--stdio", "--no-children", "--sort", "dso,symbol",
                                "--percent-limit", "0.5", "-g", "none",
                                "-i", PROFILE_DIR / f"{self.step}.perf.data"],
                               stdout=report, stderr=subprocess.DEVNULL, timeout=300)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def metrics_text():
    """/metrics, or "" when a saturated gateway does not answer in 5 s."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5) as answer:
            return answer.read().decode()
    except OSError:
        return ""


def metric(text, name):
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(match[1]) if match else None


def quantile_ms(text, name, q):
    """The upper bound of the histogram bucket holding quantile q, in ms."""
    buckets = [(float("inf") if le == "+Inf" else float(le), int(count)) for le, count in
               re.findall(rf'^{re.escape(name)}_bucket{{le="([^"]+)"}} (\d+)$', text, re.M)]
    if not buckets or buckets[-1][1] == 0:
        return "-"
    total = buckets[-1][1]
    bound = next(le for le, count in buckets if count >= q * total)
    return "> 100" if bound == float("inf") else f"{bound * 1000:g}"


def sipp(work, label, target, args, limit_s):
    """Runs SIPp to the end (at most limit_s); its successful and failed
    calls and the seconds it ran."""
    stat = work / f"{label}.csv"
    stat.unlink(missing_ok=True)
    command = ["sipp", target, *args, "-i", "127.0.0.1", "-nostdin", "-timeout", f"{limit_s}s",
               "-trace_stat", "-stf", str(stat), "-fd", "1"]
    started = time.time()
    with open(work / f"{label}.out", "w") as out:
        process = subprocess.Popen(command, cwd=work, stdout=out, stderr=subprocess.STDOUT)
        try:
            process.wait(timeout=limit_s + 30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    rows = list(csv.reader(open(stat), delimiter=";")) if stat.exists() else []
    if len(rows) < 2:
        return 0, 0, time.time() - started
    head, last = rows[0], rows[-1]
    count = lambda column: int(last[head.index(column)])
    return count("SuccessfulCall(C)"), count("FailedCall(C)"), time.time() - started


def angry_call(results):
    """One angry caller: seconds from anger onset to the REFER it got."""
    output = subprocess.run(
        [VOICEGATE, "call", f"sip:800@127.0.0.1:{SIP_PORT}", "--json", "--from", "+15550100777",
         "--play", ROOT / "fixtures/calls/angry_mid_call/call.flac"],
        capture_output=True, text=True, timeout=120).stdout.strip().splitlines()
    summary = json.loads(output[-1]) if output else {}
    refer_at = summary.get("refer_at")
    results["onset_to_refer"] = "-" if refer_at is None else f"{refer_at - ANGER_ONSET_S:.2f}"


def concurrency_step(work, level, hold_s):
    print(f"load: {level} concurrent calls of {hold_s} s", file=sys.stderr)
    serve = Serve(work, f"calls-{level}")
    before = serve.rss_kib()
    (work / "hold.xml").write_text(hold_scenario(hold_s))
    rate = max(1, level // 10)
    ramp_s = level / rate + 2
    outcome = {}
    hold_args = ["-sf", "hold.xml", "-s", "800", "-p", str(CALLER_PORT), "-mi", "127.0.0.1",
                 "-mp", "40000", "-r", str(rate), "-l", str(level), "-m", str(level)]

    def place_calls():
        ok, failed, _ = sipp(work, "hold", f"127.0.0.1:{SIP_PORT}", hold_args,
                             int(ramp_s + hold_s + 60))
        outcome.update(ok=ok, failed=failed)

    caller = threading.Thread(target=place_calls)
    caller.start()
    try:
        return measure_under_load(serve, before, caller, (level, hold_s, ramp_s), outcome)
    finally:
        serve.stop()


def measure_under_load(serve, before, caller, shape, outcome):
    """Samples the server while SIPp's calls are up; the step's table row."""
    level, hold_s, ramp_s = shape
    time.sleep(ramp_s)
    angry = {}
    angry_thread = threading.Thread(target=angry_call, args=(angry,))
    angry_thread.start()
    ticks, at = serve.ticks(), time.time()
    peak, up, trace = before, 0, []
    while time.time() < at + max(5, hold_s - ramp_s - 5):
        rss = serve.rss_kib()
        peak = max(peak, rss)
        trace.append((time.time() - at, rss))
        up = max(up, metric(metrics_text(), "voicegate_calls_active") or 0)
        time.sleep(1)
    cpu = (serve.ticks() - ticks) / CLOCK_TICKS / (time.time() - at) * 100
    angry_thread.join()
    caller.join()
    text = metrics_text()
    per_call = (peak - before) / 1024 / max(1, up)
    return (f"| {level} × {hold_s} s | {up:.0f} | {outcome['ok']} | {outcome['failed']} | {cpu:.0f} % "
            f"| {before / 1024:.0f} MiB + {per_call:.2f} MiB a call "
            f"| {quantile_ms(text, 'voicegate_rtp_send_interval_seconds', 0.5)} / "
            f"{quantile_ms(text, 'voicegate_rtp_send_interval_seconds', 0.99)} ms "
            f"| {angry.get('onset_to_refer', '-')} s | {caller_audio_lost(text)} "
            f"| {growth_after_first_minute(trace)} |")


def caller_audio_lost(text):
    """Callers' packet times concealed for a lost or late packet, as a share
    of all played (pauses of the sender's included), and the packets
    dropped as late (counted as each call ends)."""
    received = metric(text, 'voicegate_caller_frames_total{kind="received"}')
    concealed = metric(text, 'voicegate_caller_frames_total{kind="concealed"}')
    paused = metric(text, 'voicegate_caller_frames_total{kind="paused"}')
    late = metric(text, 'voicegate_caller_packets_dropped_total{reason="late"}')
    if None in (received, concealed, paused, late):
        return "-"
    share = concealed / max(1, received + concealed + paused) * 100
    return f"{share:.2f} % / {late:.0f}"


def growth_after_first_minute(trace):
    """RSS at the end against a minute into the load (a leak grows it; a
    queue that has filled does not): '-' for loads held under two minutes."""
    settled = [rss for elapsed, rss in trace if elapsed >= 60]
    if not trace or trace[-1][0] < 120 or not settled:
        return "-"
    minutes = (trace[-1][0] - 60) / 60
    change = (trace[-1][1] - settled[0]) / 1024
    return f"{change:+.1f} MiB over the next {minutes:.0f} min ({settled[0] / 1024:.0f} → {trace[-1][1] / 1024:.0f} MiB)"


def rate_step(work, rate, seconds):
    print(f"load: {rate} call set-ups a second for {seconds} s", file=sys.stderr)
    calls = rate * seconds
    uac = ["-sn", "uac", "-s", "800", "-p", str(CALLER_PORT), "-r", str(rate), "-l", "5000",
           "-m", str(calls), "-d", "1000"]
    serve = Serve(work, f"rate-{rate}")
    ours = sipp(work, "rate", f"127.0.0.1:{SIP_PORT}", uac, seconds + 60)
    serve.stop()
    uas = subprocess.Popen(["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(UAS_PORT), "-nostdin",
                            "-bg"], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    theirs = sipp(work, "baseline", f"127.0.0.1:{UAS_PORT}", uac, seconds + 60)
    subprocess.run(["pkill", "-f", f"sipp -sn uas -i 127.0.0.1 -p {UAS_PORT}"], check=False)
    uas.wait(timeout=10)
    achieved = lambda run: run[0] / max(1e-9, run[2] - 1)
    return (f"| {rate}/s × {seconds} s | {ours[0]} / {ours[1]} | {achieved(ours):.0f}/s "
            f"| {theirs[0]} / {theirs[1]} | {achieved(theirs):.0f}/s "
            f"| {achieved(ours) / max(1e-9, achieved(theirs)):.2f} |")


def tables(levels, hold_s, rates, rate_s, work):
    concurrency = [concurrency_step(work, level, hold_s) for level in levels]
    setups = [rate_step(work, rate, rate_s) for rate in rates]
    lines = [f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
             f"`bash tools/load/run.sh --levels \"{' '.join(map(str, levels))}\" --hold {hold_s} "
             f"--rates \"{' '.join(map(str, rates))}\" --rate-seconds {rate_s}`:", "",
             "| concurrent calls × length | calls up (gateway) | SIPp successful | failed "
             "| server CPU (100 % = one core) | RSS: before calls + a call "
             "| RTP send interval p50 / p99 | anger onset → REFER under load "
             "| callers' audio concealed / packets dropped late "
             "| RSS from the first minute to the end |",
             "|---|---|---|---|---|---|---|---|---|---|", *concurrency]
    if setups:
        lines += ["", "| set-up rate × time | voicegate: successful / failed | reached "
                  "| SIPp `uas`: successful / failed | reached | voicegate / `uas` |",
                  "|---|---|---|---|---|---|", *setups]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="50 200 500 1000")
    parser.add_argument("--hold", type=int, default=60)
    parser.add_argument("--rates", default="250 500")
    parser.add_argument("--rate-seconds", type=int, default=60)
    parser.add_argument("--print", action="store_true", help="print the tables, leave the doc")
    parser.add_argument("--profile", type=Path, help="perf profiles of the server into this directory")
    parser.add_argument("--keep", type=Path,
                        help="work in this directory and keep it: the server's log, SIPp's output "
                             "and statistics, the call records (the last step's)")
    args = parser.parse_args()
    if args.profile:
        global PROFILE_DIR
        PROFILE_DIR = args.profile.resolve()
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    levels = [int(n) for n in args.levels.split()]
    rates = [int(n) for n in args.rates.split()]
    with work_directory(args.keep) as work:
        (work / "pcap").mkdir(exist_ok=True)
        shutil.copy(PCAP, work / "pcap/g711a.pcap")
        table = tables(levels, args.hold, rates, args.rate_seconds, work)
    if args.print:
        print(table)
        return
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + table + "\n" + text[end:])
    print(f"load: results written to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
