//! A browser calls voicegate over WebRTC: headless Chromium (Debian's
//! `chromium`, installed by scripts/setup_interop.sh) opens
//! `/phone?autocall=1` with the angry fixture as its microphone, while the
//! same recording calls over SIP. Both go through the one call core: the
//! browser's call is listed by `GET /api/calls` with transport `webrtc`,
//! the dashboard page shows it, and both are transferred for anger to the
//! same queue. A screenshot of the dashboard mid-call is left in
//! `target/browser-test/dashboard.png` (the README's picture). An agent
//! page (`/agent?queue=NAME`) in Chromium answers an angry SIP caller and
//! the two are bridged.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use voicegate::audio::{ChannelPick, Recording};

use super::faults::place;
use super::harness::{call_wav, gateway_toml, http_exchange, http_get as get, Gateway};
use super::sipp_test;
use crate::repo_path;

/// How long a browser may take to place its call and be listed.
const LISTED_WITHIN: Duration = Duration::from_secs(20);

/// One Chromium call test at a time: a fake microphone plays in real time,
/// and two browsers, two gateways and their callers at once on two cores
/// starve it (its audio then arrives late or silent).
static ONE_CHROMIUM_CALL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn chromium_turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_CHROMIUM_CALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

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
                // The page's console.log lines go to the log too.
                "--enable-logging=stderr",
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

/// What the page logged to its console, from Chromium's log (the rest of
/// that log is Chromium's own complaints about the headless machine).
fn page_console(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("CONSOLE"))
        .collect();
    lines.join("\n")
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
    let _turn = chromium_turn();
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
            "no webrtc call listed with an anger score within {LISTED_WITHIN:?}: {}\nthe page said:\n{}\n{}",
            get(ports.http, "/api/calls"),
            page_console(&log),
            gateway.report(),
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
    let _turn = chromium_turn();
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
    let listed = listed_browser_call(ports.http).unwrap_or_else(|| {
        let page = page_console(&log);
        panic!(
            "no webrtc call listed; the page said:\n{page}\n{}",
            gateway.report()
        )
    });
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

/// Polls `GET /api/agents` until an agent page matches `wanted` (or 40 s pass).
fn agent_page(port: u16, wanted: impl Fn(&Value) -> bool) -> Option<Value> {
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline {
        let agents = get(port, "/api/agents");
        if let Some(agent) = agents.as_array().into_iter().flatten().find(|a| wanted(a)) {
            return Some(agent.clone());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// The RMS of the right channel (what the caller heard) from `from_s` to
/// `to_s` seconds of a stereo recording.
fn heard_rms(wav: &[u8], from_s: f64, to_s: f64) -> f64 {
    let mut reader = hound::WavReader::new(wav).expect("a WAV recording");
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let heard: Vec<f64> = samples
        .chunks(2)
        .skip((from_s * 8000.0) as usize)
        .take(((to_s - from_s) * 8000.0) as usize)
        .map(|frame| f64::from(frame[1]) / 32768.0)
        .collect();
    (heard.iter().map(|s| s * s).sum::<f64>() / heard.len().max(1) as f64).sqrt()
}

/// The RMS of a mono WAV file.
fn wav_rms(path: &Path) -> f64 {
    let mut reader = hound::WavReader::open(path).unwrap();
    let samples: Vec<f64> = reader
        .samples::<i16>()
        .map(|s| f64::from(s.unwrap()) / 32768.0)
        .collect();
    (samples.iter().map(|s| s * s).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

#[test]
fn an_angry_sip_caller_rings_the_agent_page_and_is_bridged_to_the_browser() {
    let _turn = chromium_turn();
    let (ports, dir) = sipp_test(47);
    let sip_queue = format!(
        "[queues.priority]\nuri = \"{}\"",
        ports.queue_uri("priority")
    );
    let config = gateway_toml(ports, 0.0);
    assert!(config.contains(&sip_queue), "{config}");
    let config = config.replace(
        &sip_queue,
        "[queues.priority]\nuri = \"/agent?queue=priority\"",
    );
    let gateway = Gateway::start_with(dir.path(), ports, &config, None);
    let wav = dir.path().join("agent.wav");
    fixture_wav("calm_caller", &wav);
    let url = format!(
        "http://127.0.0.1:{}/agent?queue=priority&autoanswer=1",
        ports.http
    );
    let log = dir.path().join("chromium-agent.log");
    let _agent = Browser::phone(&dir.path().join("agent-profile"), &wav, &url, &log);
    let chromium = || std::fs::read_to_string(&log).unwrap_or_default();
    agent_page(ports.http, |agent| agent["queue"] == "priority")
        .unwrap_or_else(|| panic!("the agent page never signed in: {}", chromium()));

    let caller = place(dir.path(), ports.sip, "+15550100777", "angry_mid_call", &[]);
    let talking = agent_page(ports.http, |agent| agent["talking"] == true).unwrap_or_else(|| {
        panic!(
            "the agent page never took the call: {}\n{}\nchromium: {}",
            get(ports.http, "/api/agents"),
            gateway.report(),
            chromium()
        )
    });
    caller.caller.join().unwrap();
    let call = gateway.wait_call(Duration::from_secs(40));
    assert_eq!(talking["call"], call["call_id"], "{talking}\n{call}");
    let transfer = &call["transfer"];
    assert_eq!(
        (&transfer["reason"], &transfer["target"], &transfer["via"]),
        (&"anger".into(), &"priority".into(), &"bridge".into()),
        "{call}"
    );
    assert_eq!(
        call["ended"], "caller",
        "the caller hung up at the recording's end: {call}"
    );

    // The caller heard the agent's microphone once bridged (no prompt plays then).
    let id = call["call_id"].as_str().unwrap();
    let reviews = get(ports.http, "/api/reviews");
    let review = reviews
        .as_array()
        .into_iter()
        .flatten()
        .find(|review| review["id"] == id)
        .unwrap_or_else(|| panic!("the anger transfer waits for QA: {reviews}"));
    let url = review["recording_url"].as_str().expect("a recording");
    let recording = http_exchange(
        ports.http,
        format!("GET /{url} HTTP/1.1\r\n\r\n").as_bytes(),
    );
    let bridged_at = transfer["t"].as_f64().unwrap() + 4.0;
    let rms = heard_rms(&recording, bridged_at, bridged_at + 6.0);
    let spoken = wav_rms(&wav);
    assert!(
        rms > 0.3 * spoken,
        "the caller heard {rms} RMS from the agent after {bridged_at} s; the agent's microphone gives {spoken}"
    );

    // The page heard the caller: it logs what arrived when the call ends.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !chromium().contains("voicegate agent: call") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = chromium();
    let line = text
        .lines()
        .find(|line| line.contains("voicegate agent: call"))
        .unwrap_or_else(|| panic!("the page logged no end of call: {text}"));
    let number_after = |label: &str| -> f64 {
        let rest = line.split(label).nth(1).unwrap_or_default().trim_start();
        let digits: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        digits.parse().unwrap_or(0.0)
    };
    assert!(number_after("from the caller:") > 100.0, "{line}");
    assert!(number_after("audio energy") > 0.0, "{line}");
}

/// A page that connects (ICE, DTLS-SRTP) with an audio track that never
/// sends a packet, made by webrtc-rs as a browser's RTCPeerConnection
/// would be; kept until dropped.
struct SilentPage {
    _connection: webrtc::peer_connection::RTCPeerConnection,
    _runtime: tokio::runtime::Runtime,
    connected: bool,
}

/// What the page does with voicegate's answer.
#[derive(PartialEq)]
enum AfterTheAnswer {
    Connect,
    /// Closes at once, so ICE never completes: a tab closed while dialling.
    Vanish,
    /// Sends a second of silence, then no more packets while its ICE agent
    /// stays up: a page whose microphone died.
    TalkThenHush,
}

impl SilentPage {
    fn call(http_port: u16, then: AfterTheAnswer) -> SilentPage {
        use webrtc::api::media_engine::{MediaEngine, MIME_TYPE_PCMU};
        use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState as State;
        use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
        use webrtc::rtp_transceiver::rtp_codec::RTCRtpCodecCapability;
        use webrtc::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;
        use webrtc::track::track_local::TrackLocalWriter;
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (connection, connected) = runtime.block_on(async {
            let mut media = MediaEngine::default();
            media.register_default_codecs().unwrap();
            let api = webrtc::api::APIBuilder::new()
                .with_media_engine(media)
                .build();
            let page = api.new_peer_connection(Default::default()).await.unwrap();
            let pcmu = RTCRtpCodecCapability {
                mime_type: MIME_TYPE_PCMU.to_owned(),
                clock_rate: 8000,
                ..Default::default()
            };
            let track =
                std::sync::Arc::new(TrackLocalStaticRTP::new(pcmu, "mic".into(), "page".into()));
            page.add_track(track.clone()).await.unwrap();
            let (up_tx, mut up) = tokio::sync::mpsc::unbounded_channel();
            page.on_peer_connection_state_change(Box::new(move |state| {
                let _ = up_tx.send(state);
                Box::pin(async {})
            }));
            let offer = page.create_offer(None).await.unwrap();
            let mut gathered = page.gathering_complete_promise().await;
            page.set_local_description(offer).await.unwrap();
            let _ = gathered.recv().await;
            let sdp = page.local_description().await.unwrap().sdp;
            let body = serde_json::json!({"sdp": sdp, "caller": "silent-page"}).to_string();
            let request = format!(
                "POST /api/webrtc/offer HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let reply =
                tokio::task::spawn_blocking(move || http_exchange(http_port, request.as_bytes()))
                    .await
                    .unwrap();
            let answer: Value = serde_json::from_slice(&reply).unwrap();
            if then == AfterTheAnswer::Vanish {
                page.close().await.unwrap();
                return (page, false);
            }
            let answer = RTCSessionDescription::answer(answer["sdp"].as_str().unwrap().into());
            page.set_remote_description(answer.unwrap()).await.unwrap();
            let connected = tokio::time::timeout(Duration::from_secs(10), async {
                while let Some(state) = up.recv().await {
                    if state == State::Connected {
                        return true;
                    }
                }
                false
            });
            let connected = connected.await.unwrap_or(false);
            if then == AfterTheAnswer::TalkThenHush {
                let mut packets = voicegate::rtp::RtpSender::new(1, 0, 0, 0).unwrap();
                for _ in 0..50 {
                    let silence = [0xFFu8; 160];
                    track.write(&packets.packet(&silence)).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            (page, connected)
        });
        SilentPage {
            _connection: connection,
            _runtime: runtime,
            connected,
        }
    }
}

/// A silent page's call to `gateway`, its ICE and DTLS completed.
fn connected_page(gateway: &Gateway, http_port: u16, then: AfterTheAnswer) -> SilentPage {
    let page = SilentPage::call(http_port, then);
    assert!(
        page.connected,
        "ICE and DTLS completed: {}",
        gateway.report()
    );
    page
}

/// The silent page's call line says it ended `how`, `seconds` into the
/// call (`why` that long), and `/api/calls` no longer lists it.
fn assert_page_call_ended(
    call: &Value,
    http_port: u16,
    how: &str,
    seconds: std::ops::Range<f64>,
    why: &str,
) {
    assert_eq!(
        (&call["caller"], &call["ended"]),
        (&"silent-page".into(), &how.into()),
        "{call}"
    );
    let lasted = call["duration"].as_f64().unwrap_or(f64::NAN);
    assert!(
        seconds.contains(&lasted),
        "ended {lasted} s in, {why}: {call}"
    );
    assert_eq!(get(http_port, "/api/calls"), serde_json::json!([]));
}

#[test]
fn a_browser_that_connects_but_sends_no_audio_is_hung_up_after_the_inactivity_limit() {
    let (ports, dir) = sipp_test(48);
    let config = gateway_toml(ports, 0.0).replace("inactivity_s = 30", "inactivity_s = 4");
    let gateway = Gateway::start_with(dir.path(), ports, &config, None);
    let page = connected_page(&gateway, ports.http, AfterTheAnswer::Connect);
    let call = gateway.wait_call(Duration::from_secs(20));
    assert_page_call_ended(
        &call,
        ports.http,
        "timeout",
        4.0..8.0,
        "for 4 s without a packet",
    );
    drop(page);
}

#[test]
fn a_browser_whose_audio_stops_while_its_connection_stays_up_is_hung_up() {
    let (ports, dir) = sipp_test(50);
    let gateway = Gateway::start_with(dir.path(), ports, &gateway_toml(ports, 0.0), None);
    let page = connected_page(&gateway, ports.http, AfterTheAnswer::TalkThenHush);
    let call = gateway.wait_call(Duration::from_secs(25));
    assert_page_call_ended(
        &call,
        ports.http,
        "media_failed",
        7.5..12.0,
        "7 s after the page's last packet, with 30 s of inactivity allowed",
    );
    drop(page);
}

#[test]
fn a_browser_that_never_completes_ice_is_hung_up_with_its_record_written() {
    let (ports, dir) = sipp_test(49);
    let gateway = Gateway::start_with(dir.path(), ports, &gateway_toml(ports, 0.0), None);
    let page = SilentPage::call(ports.http, AfterTheAnswer::Vanish);
    let call = gateway.wait_call(Duration::from_secs(30));
    assert_page_call_ended(
        &call,
        ports.http,
        "media_failed",
        5.0..12.0,
        "ICE fails after about 7 s, media not up by 10 s",
    );
    drop(page);
}
