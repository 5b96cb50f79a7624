//! SIPVicious (Debian's sipvicious 0.3.3), the scanner a gateway on a trunk
//! meets first, against `voicegate serve` on loopback (not trusted here):
//! svmap sees no version, svwar tells no extension from another by INVITE
//! or REGISTER, and svcrack, guessing a caller's password where untrusted
//! sources must authenticate, is banned after a few wrong guesses.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::harness::Gateway;
use super::sipp_test;

/// Runs a SIPVicious tool bounded in time, with its state in `dir`; its
/// stdout and stderr together.
fn sipvicious(dir: &Path, tool: &str, args: &[&str]) -> String {
    let output = Command::new("timeout")
        .arg("60")
        .arg(tool)
        .args(args)
        .env("HOME", dir)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {tool} (bash scripts/setup_interop.sh installs sipvicious): {e}")
        });
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The extensions an svwar table lists.
fn listed(table: &str) -> Vec<(String, String)> {
    table
        .lines()
        .filter(|line| line.starts_with("| ") && !line.contains("Extension"))
        .filter_map(|line| {
            let mut cells = line.split('|').map(str::trim).filter(|c| !c.is_empty());
            Some((cells.next()?.to_string(), cells.next()?.to_string()))
        })
        .collect()
}

#[test]
fn sipvicious_sees_no_version_and_no_extension() {
    let (ports, dir) = sipp_test(27);
    // The scanner on loopback is not trusted here; svwar sends a few
    // requests a second, so the rate is set below that.
    let config = super::harness::gateway_toml(ports, 0.0)
        .replace(
            "trusted = [\"127.0.0.1/32\"]",
            "trusted = [\"192.0.2.1/32\"]",
        )
        .replace("[sip]\n", "[sip]\nsource_rate = 2.0\nsource_burst = 40.0\n");
    let gateway = Gateway::start_with(dir.path(), ports, &config, None);
    let port = ports.sip.to_string();
    let map = sipvicious(
        dir.path(),
        "svmap",
        &["-b", "127.0.0.1", "-p", &port, "127.0.0.1"],
    );
    assert!(
        map.contains("| voicegate "),
        "svmap found the gateway:\n{map}"
    );
    assert!(!map.contains("voicegate/"), "and no version:\n{map}");

    // Every number gets the same answer (a 403 for an untrusted source):
    // none of 798-802 stands out as one that exists.
    let invite = sipvicious(
        dir.path(),
        "svwar",
        &[
            "-b",
            "127.0.0.1",
            "-p",
            &port,
            "-e",
            "798-802",
            "-m",
            "INVITE",
            "127.0.0.1",
        ],
    );
    let rows = listed(&invite);
    let verdicts: std::collections::BTreeSet<&str> =
        rows.iter().map(|(_, verdict)| verdict.as_str()).collect();
    assert!(
        verdicts.len() <= 1,
        "svwar by INVITE tells numbers apart:\n{invite}"
    );

    let register = sipvicious(
        dir.path(),
        "svwar",
        &["-b", "127.0.0.1", "-p", &port, "-e", "100-110", "127.0.0.1"],
    );
    let found = listed(&register);
    assert!(
        !found.iter().any(|(extension, _)| extension
            .parse::<u32>()
            .is_ok_and(|n| (100..=110).contains(&n))),
        "svwar by REGISTER finds no extension:\n{register}"
    );
    assert!(gateway.report().contains("listening"), "serve still up");
}

#[test]
fn svcrack_is_banned_after_a_few_wrong_passwords_and_finds_none() {
    let (ports, dir) = sipp_test(32);
    // Loopback is not trusted here and must authenticate; the rate limit
    // is set well above svcrack's pace, so what stops it is the ban for
    // wrong passwords.
    let config = super::harness::gateway_toml(ports, 0.0)
        .replace(
            "trusted = [\"127.0.0.1/32\"]",
            "trusted = [\"192.0.2.1/32\"]\nuntrusted_invites = \"authenticate\"\nsource_rate = 100.0\nsource_burst = 1000.0\n\n[sip.auth]\nusers = { \"1001\" = \"Correct-Horse-7\" }\n",
        );
    let mut gateway = Gateway::start_with(dir.path(), ports, &config, None);
    let port = ports.sip.to_string();
    let crack = sipvicious(
        dir.path(),
        "svcrack",
        &[
            "-b",
            "127.0.0.1",
            "-p",
            &port,
            "-u",
            "1001",
            "-r",
            "1000-1200",
            "-m",
            "INVITE",
            "--maximumtime",
            "5",
            "127.0.0.1",
        ],
    );
    assert!(
        !crack.contains("The password for"),
        "svcrack found a password:\n{crack}"
    );
    gateway.wait_stderr(
        "wrong SIP credentials again and again: banned",
        Duration::from_secs(5),
    );
    let tried = gateway.report().matches("caller authenticated").count();
    assert_eq!(tried, 0, "nobody got in\n{crack}");
    assert!(gateway.alive(), "{}", gateway.report());
}
