//! Call records and recordings of live calls (issue: records): what
//! `voicegate serve` writes to the store and to var/recordings, read back
//! with `voicegate calls` and `voicegate report` as a supervisor would.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::faults::place;
use super::harness::Gateway;
use super::sipp_test;
use crate::{json_output, stdout_of, voicegate_in};

/// `voicegate calls list --format jsonl` in `dir` (its store, its config).
fn records(dir: &Path, extra: &[&str]) -> Vec<Value> {
    json_output(
        voicegate_in(dir)
            .args(["calls", "list", "--format", "jsonl", "--config"])
            .arg(dir.join("gateway.toml"))
            .args(extra),
    )
}

/// The body of `GET /metrics` on `port`.
pub fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    reply.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// `promtool check metrics` (Debian's prometheus, installed by
/// scripts/setup_interop.sh) reads `metrics` as valid exposition text.
fn promtool_accepts_metrics(dir: &Path, metrics: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (bash scripts/setup_interop.sh installs Debian's prometheus)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}\n{metrics}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn seconds_of(wav: &str) -> f64 {
    let reader = hound::WavReader::open(wav).unwrap_or_else(|e| panic!("{wav}: {e}"));
    assert_eq!(reader.spec().channels, 2, "{wav}");
    assert_eq!(reader.spec().sample_rate, 8000, "{wav}");
    f64::from(reader.duration()) / 8000.0
}

#[test]
fn a_live_call_is_recorded_listed_shown_reviewed_and_counted_in_the_report() {
    let (ports, dir) = sipp_test(33);
    let gateway = Gateway::start(dir.path(), ports, 0.0, None);
    let caller = place(dir.path(), ports.sip, "+15550100123", "angry_mid_call", &[]);
    caller.caller.join().unwrap();
    gateway.wait_call(Duration::from_secs(10));
    let metrics = scrape(ports.metrics);
    for line in [
        "voicegate_calls_answered_total 1",
        "voicegate_calls_active 0",
        "voicegate_calls_ended_total{outcome=\"transferred\"} 1",
        "voicegate_transfers_total{reason=\"anger\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in /metrics:\n{metrics}"
        );
    }
    promtool_accepts_metrics(dir.path(), &metrics);

    let listed = records(dir.path(), &[]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let call = &listed[0];
    assert_eq!(call["caller"], "+15550100123", "{call}");
    assert_eq!(call["outcome"], "transferred", "{call}");
    assert_eq!(call["transfer_reason"], "anger", "{call}");
    assert!(
        call["started"].as_str().unwrap().ends_with('Z'),
        "UTC: {call}"
    );
    let wav = call["recording"].as_str().expect("a recording");
    assert!(Path::new(wav).is_absolute(), "{wav}");
    let length = seconds_of(wav);
    let duration = call["duration_s"].as_f64().unwrap();
    assert!(
        (length - duration).abs() < 1.5,
        "{length} s recorded of a {duration} s call"
    );
    assert!(call["anger_above_s"].as_f64().unwrap() > 0.0, "{call}");

    let id = call["id"].as_str().unwrap();
    let due = records(dir.path(), &["--due"]);
    assert_eq!(due.len(), 1, "an anger transfer awaits QA: {due:?}");
    let config = dir.path().join("gateway.toml");
    let shown = stdout_of(
        voicegate_in(dir.path())
            .args(["calls", "show", id, "--config"])
            .arg(&config),
    );
    assert!(
        shown.contains("timeline:") && shown.contains("transfer"),
        "{shown}"
    );
    assert!(shown.contains(wav), "{shown}");
    stdout_of(
        voicegate_in(dir.path())
            .args([
                "calls",
                "review",
                id,
                "--flag",
                "angry at the hold music, not us",
                "--config",
            ])
            .arg(&config),
    );
    assert!(records(dir.path(), &["--due"]).is_empty(), "reviewed");
    let report = json_output(
        voicegate_in(dir.path())
            .args(["report", "--json", "--config"])
            .arg(&config),
    );
    let report = &report[0];
    assert_eq!(report["calls"], 1, "{report}");
    assert_eq!(report["forced_transfer_rate"]["value"], 1.0, "{report}");
    assert_eq!(report["forced_transfer_rate"]["alarm"], true, "{report}");
    assert_eq!(report["session_break_rate"]["value"], 0.0, "{report}");
    assert_eq!(report["flagged_misjudgements"], 1, "{report}");
}

#[test]
fn a_gateway_killed_mid_call_leaves_a_playable_recording_and_a_readable_record() {
    let (ports, dir) = sipp_test(34);
    let mut gateway = Gateway::start(dir.path(), ports, 0.0, None);
    let caller = place(dir.path(), ports.sip, "+15550100999", "calm_caller", &[]);
    std::thread::sleep(Duration::from_secs(5));
    gateway.kill_hard();
    let _ = caller.caller.join();

    let wavs: Vec<_> = std::fs::read_dir(dir.path().join("var/recordings"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(wavs.len(), 1, "{wavs:?}");
    let length = seconds_of(wavs[0].to_str().unwrap());
    assert!(
        (3.0..=6.0).contains(&length),
        "{length} s playable after kill -9 at 5 s"
    );
    let listed = records(dir.path(), &[]);
    assert_eq!(
        listed.len(),
        1,
        "the call's row was written as it started: {listed:?}"
    );
    assert_eq!(listed[0]["caller"], "+15550100999");
    assert_eq!(
        listed[0]["outcome"],
        Value::Null,
        "it never ended: {}",
        listed[0]
    );
}

#[test]
fn a_caller_kept_waiting_past_max_wait_is_transferred_for_wait_timeout_and_queued_for_review() {
    let (ports, dir) = sipp_test(35);
    // The sample policy waits 90 s; 6 s here, so the calm caller who never
    // chooses anything (28 s of speech, no keys) is past it well before the end.
    let config = super::harness::gateway_toml(ports, 0.0) + "\n[policy]\nmax_wait_s = 6.0\n";
    let mut gateway = Gateway::start_with(dir.path(), ports, &config, Some(1));
    let caller = place(dir.path(), ports.sip, "+15550100777", "calm_caller", &[]);
    let seen = caller.caller.join().unwrap();
    gateway.assert_exits_by_itself(Duration::from_secs(20));
    let summary = seen.last().unwrap();
    let refer_at = summary["refer_at"]
        .as_f64()
        .unwrap_or_else(|| panic!("no REFER: {seen:?}"));
    assert!(
        (6.0..7.5).contains(&refer_at),
        "REFER {refer_at} s into the call, max_wait_s 6"
    );
    let listed = records(dir.path(), &["--reason", "wait_timeout", "--due"]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["transfer_target"], "agents", "{}", listed[0]);
}

/// A gateway (port block `block`, one call) on the store at `url`, whose
/// wait-timeout transfer starts at normal priority and goes a step higher
/// for a caller with one earlier call (repeat_caller_calls = 1).
pub fn repeat_aware_gateway(
    block: u16,
    url: &str,
) -> (super::harness::Ports, tempfile::TempDir, Gateway) {
    let (ports, dir) = sipp_test(block);
    let config = super::harness::gateway_toml(ports, 0.0)
        + &format!(
            "\n[policy]\nmax_wait_s = 4.0\nrepeat_caller_calls = 1\n\n[store]\nurl = \"{url}\"\n"
        );
    let gateway = Gateway::start_with(dir.path(), ports, &config, Some(1));
    (ports, dir, gateway)
}

#[test]
fn two_gateways_sharing_one_postgres_store_know_a_repeat_caller_whichever_takes_the_call() {
    let server = crate::pg_server::PgServer::start();
    let url = server.database("shared");
    let (ports_a, dir_a, mut first_gateway) = repeat_aware_gateway(36, &url);
    let (ports_b, dir_b, mut second_gateway) = repeat_aware_gateway(37, &url);
    let caller = "+15550100444";
    place(dir_a.path(), ports_a.sip, caller, "calm_caller", &[])
        .caller
        .join()
        .unwrap();
    first_gateway.assert_exits_by_itself(Duration::from_secs(20));
    place(dir_b.path(), ports_b.sip, caller, "calm_caller", &[])
        .caller
        .join()
        .unwrap();
    second_gateway.assert_exits_by_itself(Duration::from_secs(20));
    let first = first_gateway.wait_call(Duration::from_secs(1));
    let second = second_gateway.wait_call(Duration::from_secs(1));
    assert_eq!(first["transfer"]["reason"], "wait_timeout", "{first}");
    assert_eq!(
        first["transfer"]["priority"], "normal",
        "a first call: {first}"
    );
    assert_eq!(
        second["transfer"]["priority"], "high",
        "the other gateway knew the caller: {second}"
    );
    let both = json_output(
        voicegate_in(dir_b.path())
            .env(voicegate::store::STORE_URL_VARIABLE, &url)
            .args(["calls", "list", "--format", "jsonl"]),
    );
    let callers: Vec<&Value> = both.iter().map(|call| &call["caller"]).collect();
    assert_eq!(callers, [caller, caller], "{both:?}");
}

/// A CRM on loopback: `{"vip":true}` for `vip`'s path, 404 for anyone
/// else. Returns its port and the paths it has been asked, as they come.
fn crm_serving(vip: &'static str) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let paths = asked.clone();
    // Blocked in accept once the test is over: it ends with the test process.
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request_line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut request_line);
            let path = request_line
                .split(' ')
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let answer = if path == vip {
                "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{\"vip\":true}"
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            };
            let _ = stream.write_all(answer.as_bytes());
            paths.lock().unwrap().push(path);
        }
    });
    (port, asked)
}

#[test]
fn a_caller_the_crm_marks_vip_skips_the_menu_only_when_a_trusted_source_asserts_the_number() {
    let (ports, dir) = sipp_test(41);
    let (crm_port, asked) = crm_serving("/callers/%2B15550100555");
    let config = super::harness::gateway_toml(ports, 0.0)
        + &format!(
            "\n[crm]\nurl = \"http://127.0.0.1:{crm_port}/callers/{{caller}}\"\ntimeout_ms = 500\n"
        );
    let mut gateway = Gateway::start_with(dir.path(), ports, &config, Some(2));
    let asserted = place(
        dir.path(),
        ports.sip,
        "+15550100555",
        "kws_phone_sentence",
        &["--asserted"],
    );
    // The same number in a From header alone: anyone can write that.
    let claimed = place(
        dir.path(),
        ports.sip,
        "+15550100555",
        "kws_phone_sentence",
        &[],
    );
    asserted.caller.join().unwrap();
    claimed.caller.join().unwrap();
    gateway.assert_exits_by_itself(Duration::from_secs(20));
    let calls = gateway.calls();
    let vip: Vec<&Value> = calls
        .iter()
        .filter(|call| call["transfer"]["reason"] == "vip")
        .collect();
    assert_eq!(
        vip.len(),
        1,
        "one of two calls is a VIP's\n{}",
        gateway.report()
    );
    assert_eq!(vip[0]["transfer"]["target"], "experts", "{}", vip[0]);
    let at = vip[0]["transfer"]["t"].as_f64().unwrap_or(f64::NAN);
    assert!(
        at < 0.5,
        "the CRM answered within its 500 ms: transferred at {at} s"
    );
    let heard = gateway.events_of(vip[0]["call_id"].as_str().unwrap_or_default());
    assert!(
        heard
            .iter()
            .any(|e| e["event"] == "vip" && e["source"] == "crm"),
        "{heard:?}"
    );
    assert_eq!(
        *asked.lock().unwrap(),
        ["/callers/%2B15550100555"],
        "only the asserted caller is looked up"
    );
}

#[test]
fn an_unwritable_recording_directory_costs_the_recording_and_one_error_not_the_call() {
    let (ports, dir) = sipp_test(42);
    let blocker = dir.path().join("not-a-directory");
    std::fs::write(&blocker, b"a file where the recordings should go").unwrap();
    let config = super::harness::gateway_toml(ports, 0.0)
        + &format!(
            "\n[recording]\ndir = \"{}/recordings\"\n",
            blocker.display()
        );
    let gateway = Gateway::start_with(dir.path(), ports, &config, None);
    let caller = place(dir.path(), ports.sip, "+15550100123", "kws_human_x3", &[]);
    caller.caller.join().unwrap();
    let call = gateway.wait_call(Duration::from_secs(10));
    assert_eq!(
        call["transfer"]["reason"], "human_request",
        "the call went on: {call}"
    );
    let metrics = scrape(ports.metrics);
    let line = "voicegate_errors_total{kind=\"recording\"} 1";
    assert!(
        metrics.lines().any(|l| l == line),
        "{line} not in /metrics:\n{metrics}"
    );
    let listed = records(dir.path(), &[]);
    assert_eq!(listed.len(), 1, "the record is written: {listed:?}");
    assert!(listed[0]["recording"].is_null(), "{}", listed[0]);
    let errors = gateway
        .report()
        .lines()
        .filter(|line| line.contains("cannot record the call"))
        .count();
    assert_eq!(errors, 1, "one log line\n{}", gateway.report());
}
