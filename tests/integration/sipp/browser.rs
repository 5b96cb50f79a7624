//! A browser calls voicegate over WebRTC: headless Chromium (Debian's
//! `chromium`, installed by scripts/setup_interop.sh) opens
//! `/phone?autocall=1` with the angry fixture as its microphone, while the
//! same recording calls over SIP. Both go through the one call core: the
//! browser's call is listed by `GET /api/calls` with transport `webrtc`,
//! the dashboard page shows it, and both are transferred for anger to the
//! same queue. A screenshot of the dashboard mid-call is left in
//! `target/browser-test/dashboard.png` (the README's picture).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use voicegate::audio::{ChannelPick, Recording};

use super::faults::place;
use super::harness::{call_wav, http_exchange, http_get as get, Gateway};
use super::sipp_test;
use crate::repo_path;

/// How long a browser may take to place its call and be listed.
const LISTED_WITHIN: Duration = Duration::from_secs(20);

/// Chromium with its whole process group, killed when dropped.
struct Browser {
    child: std::process::Child,
}

impl Browser {
    /// Flags as the machine's verified headless line, with a fresh profile.
    fn command(profile: &Path) -> Command {
        let binary = which_chromium();
        let mut command = Command::new(binary);
        command
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--mute-audio",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .stdin(Stdio::null());
        command
    }

    /// A caller: the page dials as it loads, `wav` is its microphone.
    fn phone(profile: &Path, wav: &Path, url: &str, log: &Path) -> Browser {
        let mut command = Browser::command(profile);
        command
            .args([
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
                "--allow-loopback-in-peer-connection",
            ])
            .arg(format!(
                "--use-file-for-fake-audio-capture={}",
                wav.display()
            ))
            .arg(url)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        Browser {
            child: command.spawn().expect("start chromium"),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn which_chromium() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("chromium"))
        .find(|candidate| candidate.is_file());
    found.unwrap_or_else(|| {
        panic!("chromium is not on PATH: run scripts/setup_interop.sh (Debian: apt-get install chromium)")
    })
}

/// A page as headless Chromium renders it when it has loaded: its DOM, or
/// a screenshot written to `png`. Waits for Chromium itself, not for its
/// output pipe, which its helper processes may hold open.
fn render(profile: &Path, url: &str, png: Option<&Path>) -> String {
    let dom = profile.with_extension("html");
    let mut command = Browser::command(profile);
    command.arg("--window-size=1280,560");
    match png {
        Some(png) => command.arg(format!("--screenshot={}", png.display())),
        None => command.arg("--dump-dom"),
    };
    command
        .arg(url)
        .stdout(std::fs::File::create(&dom).unwrap())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut browser = Browser {
        child: command.spawn().expect("run chromium"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while browser.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(browser);
    std::fs::read_to_string(&dom).unwrap_or_default()
}

/// The fixture as a WAV file, which is what Chromium's fake microphone reads.
fn fixture_wav(fixture: &str, wav: &Path) {
    let flac = repo_path(&format!("fixtures/calls/{fixture}/call.flac"));
    let mut recording = Recording::open(&flac, ChannelPick::Mix).unwrap();
    let mut writer = call_wav(wav);
    while let Some(block) = recording.next_block().unwrap() {
        for sample in block {
            writer
                .write_sample((sample * 32767.0).clamp(-32768.0, 32767.0) as i16)
                .unwrap();
        }
    }
    writer.finalize().unwrap();
}

/// The browser's call once `/api/calls` lists it with an anger score.
fn listed_browser_call(port: u16) -> Option<Value> {
    let deadline = Instant::now() + LISTED_WITHIN;
    while Instant::now() < deadline {
        let calls = get(port, "/api/calls");
        let browser = calls
            .as_array()
            .into_iter()
            .flatten()
            .find(|call| call["transport"] == "webrtc" && call["anger"].is_number());
        if let Some(call) = browser {
            return Some(call.clone());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// Until call `id` scores `level` or more (or is gone, or 20 s pass).
fn wait_for_anger(port: u16, id: &str, level: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let calls = get(port, "/api/calls");
        let call = calls
            .as_array()
            .into_iter()
            .flatten()
            .find(|call| call["id"] == id);
        match call.and_then(|call| call["anger"].as_f64()) {
            Some(score) if score < level => std::thread::sleep(Duration::from_millis(100)),
            _ => return,
        }
    }
}

fn transfer_of(call: &Value) -> (String, String, f64) {
    let transfer = &call["transfer"];
    (
        transfer["reason"].as_str().unwrap_or_default().to_string(),
        transfer["target"].as_str().unwrap_or_default().to_string(),
        transfer["t"].as_f64().unwrap_or(f64::NAN),
    )
}

#[test]
fn a_browser_call_over_webrtc_is_listed_shown_and_decided_as_the_same_recording_over_sip() {
    let (ports, dir) = sipp_test(45);
    let gateway = Gateway::start(dir.path(), ports, 0.0, None);
    let wav = dir.path().join("angry.wav");
    fixture_wav("angry_mid_call", &wav);
    let over_sip = place(dir.path(), ports.sip, "+15550100123", "angry_mid_call", &[]);
    let phone_url = format!("http://127.0.0.1:{}/phone?autocall=1", ports.http);
    let log = dir.path().join("chromium-phone.log");
    let _phone = Browser::phone(&dir.path().join("phone-profile"), &wav, &phone_url, &log);

    let listed = listed_browser_call(ports.http).unwrap_or_else(|| {
        panic!(
            "no webrtc call listed with an anger score within {LISTED_WITHIN:?}: {}\n{}\nchromium: {}",
            get(ports.http, "/api/calls"),
            gateway.report(),
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    let id = listed["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(listed["node"], "main", "{listed}");
    assert_eq!(listed["dialed"], "webrtc", "{listed}");

    let dashboard = format!("http://127.0.0.1:{}/", ports.http);
    let dom = render(&dir.path().join("dashboard-profile"), &dashboard, None);
    let row = dom
        .split("<tr")
        .find(|row| row.contains(&format!("data-call=\"{id}\"")))
        .unwrap_or_else(|| panic!("the dashboard shows no row for call {id}: {dom}"));
    assert!(row.contains("<td>webrtc</td>"), "{row}");
    assert!(row.contains("class=\"meter\""), "an anger meter: {row}");
    let shots = repo_path("target/browser-test");
    std::fs::create_dir_all(&shots).unwrap();
    let png = shots.join("dashboard.png");
    // The picture is worth more with the meter up: taken once the anger rises.
    wait_for_anger(ports.http, &id, 60.0);
    render(&dir.path().join("shot-profile"), &dashboard, Some(&png));
    assert!(
        std::fs::metadata(&png).is_ok_and(|meta| meta.len() > 10_000),
        "a screenshot of the dashboard at {}",
        png.display()
    );

    over_sip.caller.join().unwrap();
    let calls = gateway.wait_calls(2, Duration::from_secs(40));
    let browser = calls
        .iter()
        .find(|call| call["call_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no call line for {id}: {calls:?}"));
    let sip = calls
        .iter()
        .find(|call| call["caller"] == "+15550100123")
        .unwrap_or_else(|| panic!("no call line for the SIP call: {calls:?}"));
    let (browser_reason, browser_target, browser_at) = transfer_of(browser);
    let (sip_reason, sip_target, sip_at) = transfer_of(sip);
    assert_eq!(browser_reason, "anger", "{browser}");
    assert_eq!(
        (&browser_reason, &browser_target),
        (&sip_reason, &sip_target),
        "the same decision:\n{browser}\n{sip}"
    );
    assert!(
        (browser_at - sip_at).abs() < 1.5,
        "decided at {browser_at} s over WebRTC and {sip_at} s over SIP"
    );
    qa_reviews_both_transfers_with_their_recordings(ports.http, &id);
}

/// Both anger transfers wait for QA, each recording plays from the
/// dashboard, and a verdict takes a call off the list.
fn qa_reviews_both_transfers_with_their_recordings(port: u16, browser_call: &str) {
    let listed = get(port, "/api/reviews");
    let reviews = listed.as_array().cloned().unwrap_or_default();
    assert_eq!(reviews.len(), 2, "{listed}");
    let review = reviews
        .iter()
        .find(|review| review["id"] == browser_call)
        .unwrap_or_else(|| panic!("the browser call is not listed for review: {listed}"));
    assert_eq!(review["transfer_reason"], "anger", "{review}");
    let url = review["recording_url"]
        .as_str()
        .expect("a recording to play");
    let wav = http_exchange(port, format!("GET /{url} HTTP/1.1\r\n\r\n").as_bytes());
    let spec =
        hound::WavReader::new(wav.as_slice()).map(|reader| (reader.spec(), reader.duration()));
    let Ok((spec, frames)) = spec else {
        panic!("{url} is not a WAV file: {} bytes", wav.len());
    };
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000), "{spec:?}");
    assert!(
        frames > 8000 * 10,
        "{frames} frames: the call lasted about 17 s"
    );
    let verdict =
        serde_json::json!({"id": browser_call, "verdict": "flagged", "note": "test"}).to_string();
    let post = format!(
        "POST /api/reviews HTTP/1.1\r\nContent-Length: {}\r\n\r\n{verdict}",
        verdict.len()
    );
    http_exchange(port, post.as_bytes());
    let left = get(port, "/api/reviews");
    assert_eq!(left.as_array().map(Vec::len), Some(1), "{left}");
}

#[test]
fn a_browser_tab_closed_mid_call_ends_its_call_with_its_record_written() {
    let (ports, dir) = sipp_test(46);
    let gateway = Gateway::start(dir.path(), ports, 0.0, None);
    let wav = dir.path().join("calm.wav");
    fixture_wav("calm_caller", &wav);
    let phone_url = format!(
        "http://127.0.0.1:{}/phone?autocall=1&caller=tab-closer",
        ports.http
    );
    let log = dir.path().join("chromium-phone.log");
    let phone = Browser::phone(&dir.path().join("phone-profile"), &wav, &phone_url, &log);
    let listed = listed_browser_call(ports.http)
        .unwrap_or_else(|| panic!("no webrtc call listed: {}", gateway.report()));
    assert_eq!(listed["caller"], "tab-closer", "{listed}");
    let closed = Instant::now();
    drop(phone);
    let call = gateway.wait_call(Duration::from_secs(20));
    let took = closed.elapsed();
    assert_eq!(call["ended"], "media_failed", "{call}");
    assert_eq!(call["caller"], "tab-closer", "{call}");
    assert!(
        took < Duration::from_secs(15),
        "the call ended {took:?} after the tab closed: {call}"
    );
    assert_eq!(get(ports.http, "/api/calls"), serde_json::json!([]));
    let records = crate::json_output(
        crate::voicegate_in(dir.path())
            .args(["calls", "list", "--format", "jsonl", "--config"])
            .arg(dir.path().join("gateway.toml")),
    );
    assert!(
        records
            .iter()
            .any(|record| record["caller"] == "tab-closer"),
        "the record of the call: {records:?}"
    );
}
