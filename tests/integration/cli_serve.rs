//! `voicegate serve` start-up failures as an operator meets them: one line
//! naming the file and the fix, exit code 2, nothing left running.

use std::net::UdpSocket;
use std::time::Duration;

use predicates::prelude::*;
use predicates::str::contains;

use super::{repo_path, voicegate_in, write};

/// A gateway.toml using the repository's menu, prompts and model, with `extra` prepended.
fn config(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let sample = std::fs::read_to_string(repo_path("sip-config/gateway.toml")).unwrap();
    let sip_config = repo_path("sip-config");
    let text = sample
        .replace(
            "file = \"menus/main.toml\"",
            &format!("file = {:?}", sip_config.join("menus/main.toml")),
        )
        .replace(
            "prompts = \"prompts\"",
            &format!("prompts = {:?}", sip_config.join("prompts")),
        )
        .replace(
            "anger_model = \"../models/anger.toml\"",
            &format!("anger_model = {:?}", repo_path("models/anger.toml")),
        )
        .replace(
            "model = \"../models/kws.toml\"",
            &format!("model = {:?}", repo_path("models/kws.toml")),
        );
    write(dir, "gateway.toml", &format!("{extra}{text}"))
}

fn with_listen(dir: &std::path::Path, listen: &str) -> std::path::PathBuf {
    let path = config(dir, "");
    edit(
        &path,
        "listen = \"127.0.0.1:5060\"",
        &format!("listen = \"{listen}\""),
    );
    path
}

/// Replaces `from` with `to` in the file at `path`; returns the new text.
fn edit(path: &std::path::Path, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(path).unwrap().replace(from, to);
    std::fs::write(path, &text).unwrap();
    text
}

/// `voicegate serve --config PATH` in `dir`, which must stop at start-up
/// with exit code 2 (bounded, so that a serve that starts fails the test
/// instead of hanging it).
fn serve_refuses(dir: &std::path::Path, path: &std::path::Path) -> assert_cmd::assert::Assert {
    voicegate_in(dir)
        .args(["serve", "--config"])
        .arg(path)
        .timeout(Duration::from_secs(30))
        .assert()
        .code(2)
}

#[test]
fn a_sip_port_in_use_is_a_one_line_error_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().to_string();
    let path = with_listen(dir.path(), &taken);
    serve_refuses(dir.path(), &path)
        .stderr(contains(format!("cannot listen for SIP on UDP {taken}")))
        .stderr(contains("set sip.listen"))
        .stderr(contains("gateway.toml"));
}

#[test]
fn a_missing_prompt_stops_start_up_naming_the_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let path = with_listen(dir.path(), "127.0.0.1:0");
    edit(
        &path,
        "sorry_prompt = \"agents_busy\"",
        "sorry_prompt = \"no_such_prompt\"",
    );
    serve_refuses(dir.path(), &path)
        .stderr(contains("no audio file for prompt \"no_such_prompt\""))
        .stderr(predicate::str::contains("\n").count(1));
}

#[test]
fn a_wildcard_listen_address_needs_an_advertised_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = with_listen(dir.path(), "0.0.0.0:5060");
    serve_refuses(dir.path(), &path)
        .stderr(contains("gateway.toml:"))
        .stderr(contains("set sip.advertise"));
}

#[test]
fn a_reversed_rtp_port_range_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = with_listen(dir.path(), "127.0.0.1:0");
    let text = edit(&path, "ports = [20000, 23999]", "ports = [23999, 20000]");
    let line = text.lines().position(|l| l.starts_with("ports =")).unwrap() + 1;
    serve_refuses(dir.path(), &path).stderr(contains(format!(
        "gateway.toml:{line}: rtp.ports [23999, 20000] is not a range"
    )));
}

#[test]
fn a_product_name_that_could_break_a_header_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = with_listen(dir.path(), "127.0.0.1:0");
    let text = edit(
        &path,
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\nproduct = \"gw\\r\\nX-Injected: 1\"",
    );
    let line = text
        .lines()
        .position(|l| l.starts_with("product ="))
        .unwrap()
        + 1;
    serve_refuses(dir.path(), &path).stderr(contains(format!(
        "gateway.toml:{line}: sip.product must be printable ASCII"
    )));
}

#[test]
fn the_shipped_prometheus_rules_pass_promtool() {
    let rules = crate::repo_path("deploy/prometheus/voicegate-rules.yml");
    let output = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("promtool (bash scripts/setup_interop.sh installs Debian's prometheus)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("SUCCESS: 7 rules found"), "{text}");
}

#[test]
fn a_dashboard_beyond_loopback_without_a_token_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = with_listen(dir.path(), "127.0.0.1:0");
    let text = edit(
        &path,
        "listen = \"127.0.0.1:8080\"",
        "listen = \"0.0.0.0:8080\"",
    );
    let line = text
        .lines()
        .position(|l| l == "listen = \"0.0.0.0:8080\"")
        .unwrap()
        + 1;
    serve_refuses(dir.path(), &path)
        .stderr(contains(format!(
            "gateway.toml:{line}: http.listen 0.0.0.0:8080 is reachable beyond this machine"
        )))
        .stderr(contains("set http.token"));
}

#[test]
fn a_crm_url_that_is_not_http_or_lacks_the_caller_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (url, fix) in [
        (
            "https://crm.example/callers/{caller}",
            "must start with http://",
        ),
        ("http://crm.example/callers", "has no {caller}"),
    ] {
        let path = config(dir.path(), &format!("[crm]\nurl = \"{url}\"\n\n"));
        serve_refuses(dir.path(), &path)
            .stderr(contains("gateway.toml:2: crm.url"))
            .stderr(contains(fix));
    }
}

#[test]
fn a_queue_for_agent_pages_needs_a_plain_name_and_the_browser_door() {
    let dir = tempfile::tempdir().unwrap();
    for (uri, webrtc, fix) in [
        ("/agent?queue=front desk", "true", "must be 1-64 letters"),
        ("/agents", "true", "neither a SIP URI nor an agent page"),
        (
            "/agent?queue=desk",
            "false",
            "needs [http] enabled = true and webrtc = true",
        ),
    ] {
        let path = config(dir.path(), &format!("[queues.desk]\nuri = \"{uri}\"\n\n"));
        edit(&path, "webrtc = true ", &format!("webrtc = {webrtc} "));
        serve_refuses(dir.path(), &path)
            .stderr(contains("gateway.toml:2: "))
            .stderr(contains(fix));
    }
}
