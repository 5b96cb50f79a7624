//! Two gateways behind Kamailio (Debian's kamailio, with the shipped
//! `deploy/kamailio/kamailio.cfg`), sharing one PostgreSQL store: calls
//! through Kamailio reach both, every request of a call stays on the
//! gateway that answered it, and a repeat caller is recognised by whichever
//! gateway takes the second call.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::faults::place;
use super::harness::{options_request, sip_exchange, Running};
use super::records::repeat_aware_gateway;
use crate::repo_path;

/// Kamailio on `port`, dispatching new calls over `gateways` (SIP ports).
struct Kamailio {
    process: Running,
}

impl Kamailio {
    fn start(dir: &Path, port: u16, gateways: &[u16]) -> Kamailio {
        let list = dir.join("dispatcher.list");
        let lines: String = gateways
            .iter()
            .map(|gw| format!("1 sip:127.0.0.1:{gw}\n"))
            .collect();
        std::fs::write(&list, lines).unwrap();
        let child = Command::new("kamailio")
            .arg("-f")
            .arg(repo_path("deploy/kamailio/kamailio.cfg"))
            .args(["-DD", "-E", "-m", "64", "-M", "8", "-P"])
            .arg(dir.join("kamailio.pid"))
            .arg("-A")
            .arg(format!("LISTEN=udp:127.0.0.1:{port}"))
            .arg("-A")
            .arg(format!("DISPATCHER_LIST=\"{}\"", list.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kamailio (bash scripts/setup_interop.sh installs Debian's kamailio)");
        let kamailio = Kamailio {
            process: Running::new(child),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while sip_exchange(
            port,
            options_request(port, "k").as_bytes(),
            Duration::from_millis(300),
        )
        .is_none()
        {
            assert!(
                Instant::now() < deadline,
                "kamailio did not answer OPTIONS on {port}"
            );
        }
        kamailio
    }
}

impl Drop for Kamailio {
    /// SIGTERM: its main process stops its children (SIGKILL would orphan them).
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.process.pid().to_string()])
            .status();
        if self.process.wait_for(Duration::from_secs(5)).is_none() {
            self.process.kill();
        }
    }
}

#[test]
fn calls_through_kamailio_reach_both_gateways_and_the_second_knows_the_repeat_caller() {
    let server = crate::pg_server::PgServer::start();
    let url = server.database("behind_kamailio");
    let (ports_a, dir_a, mut gateway_a) = repeat_aware_gateway(38, &url);
    let (ports_b, _dir_b, mut gateway_b) = repeat_aware_gateway(39, &url);
    let proxy = ports_a.sip + 8;
    let _kamailio = Kamailio::start(dir_a.path(), proxy, &[ports_a.sip, ports_b.sip]);
    let caller = "+15550100555";
    let mut seen = Vec::new();
    for _ in 0..2 {
        let lines = place(dir_a.path(), proxy, caller, "calm_caller", &[])
            .caller
            .join()
            .unwrap();
        let summary = lines.last().cloned().unwrap();
        assert!(
            summary["refer_at"].is_number(),
            "referred through kamailio: {lines:?}"
        );
        assert_eq!(
            summary["ended_by"], "gateway",
            "the BYE came back through kamailio: {lines:?}"
        );
        seen.push(summary);
    }
    gateway_a.assert_exits_by_itself(Duration::from_secs(20));
    gateway_b.assert_exits_by_itself(Duration::from_secs(20));
    let mut calls = [
        gateway_a.wait_call(Duration::from_secs(1)),
        gateway_b.wait_call(Duration::from_secs(1)),
    ];
    calls.sort_by(|x, y| x["started"].as_str().cmp(&y["started"].as_str()));
    assert_eq!(
        calls[0]["transfer"]["priority"], "normal",
        "the first call: {}",
        calls[0]
    );
    assert_eq!(
        calls[1]["transfer"]["priority"], "high",
        "the other gateway knew the caller from the shared store: {}",
        calls[1]
    );
}
