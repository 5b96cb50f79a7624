//! Running `voicegate serve` and SIPp from a test: configuration, ports,
//! processes that are killed by PID whatever happens (a guard's `Drop` runs
//! on panic too), serve's JSON Lines, and SIPp's exit codes and traces for
//! the failure message.

use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::repo_path;

pub const SETUP_HINT: &str =
    "run scripts/setup_interop.sh (it installs SIPp, Debian package sip-tester)";

/// The ports of one test. Tests in one binary run in parallel threads, so
/// each has its own block of 100 from 15000 (below Linux's ephemeral range).
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// voicegate's SIP (UDP and TCP).
    pub sip: u16,
    /// The SIPp caller's SIP port.
    pub caller: u16,
    /// The SIPp agent's SIP port: every queue URI points here.
    pub agent: u16,
    /// SIPp control ports (`-cp`; 8888 by default, shared otherwise).
    pub caller_control: u16,
    pub agent_control: u16,
    /// A test's own UDP listener (the media sink of the pcap check).
    pub sink: u16,
    /// voicegate's `GET /metrics`.
    pub metrics: u16,
    /// voicegate's dashboard and API (`[http] listen`).
    pub http: u16,
    /// SIPp media ports (`-mp`; SIPp binds this one and the next but one).
    pub caller_media: u16,
    pub agent_media: u16,
    /// voicegate's RTP port range.
    pub rtp_low: u16,
    pub rtp_high: u16,
}

impl Ports {
    pub fn block(index: u16) -> Ports {
        assert!(index < 60, "port block {index} is past 20999");
        let base = 15_000 + 100 * index;
        Ports {
            sip: base,
            caller: base + 1,
            agent: base + 2,
            caller_control: base + 3,
            agent_control: base + 4,
            sink: base + 6,
            metrics: base + 7,
            http: base + 8,
            caller_media: base + 10,
            agent_media: base + 20,
            rtp_low: base + 40,
            rtp_high: base + 98,
        }
    }

    /// The URI of queue `user` (as in sip-config/gateway.toml) at the agent.
    pub fn queue_uri(&self, user: &str) -> String {
        format!("sip:{user}@127.0.0.1:{}", self.agent)
    }
}

/// A POSIX extended regexp matching `text` literally.
pub fn regex_literal(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if ".[]()*+?{}|^$\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A child process killed (by its PID) and reaped when dropped, on every
/// path out of a test, panics included.
pub struct Running {
    child: Child,
    status: Option<ExitStatus>,
}

impl Running {
    pub fn new(child: Child) -> Running {
        Running {
            child,
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if it has exited.
    pub fn poll(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits at most `limit` for the process to exit by itself.
    pub fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.poll() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        if self.poll().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `sipp` executable, or a failure telling how to install it.
pub fn sipp_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("sipp"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("sipp (SIPp 3.6) is not on PATH: {SETUP_HINT}"))
}

/// Copies scenario `template` from tests/sipp/ into `dir`, with each
/// `@NAME@` replaced by its value (SIPp substitutes no keywords in
/// `play_pcap_audio`, so paths go in here). Every placeholder needs a value.
pub fn scenario(dir: &Path, template: &str, values: &[(&str, String)]) -> PathBuf {
    let source = repo_path("tests/sipp").join(template);
    let mut text =
        std::fs::read_to_string(&source).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
    for (name, value) in values {
        let placeholder = format!("@{name}@");
        assert!(
            text.contains(&placeholder),
            "{template} has no {placeholder}"
        );
        text = text.replace(&placeholder, value);
    }
    if let Some(left) = placeholder_left(&text) {
        panic!("{template}: no value given for @{left}@");
    }
    let path = dir.join(template);
    std::fs::write(&path, text).unwrap();
    path
}

fn placeholder_left(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let after = &rest[at + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with('@') {
            return Some(&after[..name_len]);
        }
        rest = after;
    }
    None
}

/// The gateway.toml of a test: its ports, the repository's menu, prompts and
/// anger model by absolute path, and every queue of sip-config/gateway.toml
/// pointed at the test's agent port.
pub fn gateway_toml(ports: Ports, ring_s: f64) -> String {
    let root = repo_path("");
    let root = root.to_str().unwrap().trim_end_matches('/');
    let mut text = format!(
        r#"# Written by tests/integration/sipp for one test.
[sip]
listen = "127.0.0.1:{sip}"
ring_s = {ring_s:.1}
trusted = ["127.0.0.1/32"]

[rtp]
address = "127.0.0.1"
ports = [{low}, {high}]
inactivity_s = 30

[metrics]
listen = "127.0.0.1:{metrics}"

[http]
listen = "127.0.0.1:{http}"

[menu]
file = "{root}/sip-config/menus/main.toml"
prompts = "{root}/sip-config/prompts"

[scoring]
anger_model = "{root}/models/anger.toml"

[keywords]
model = "{root}/models/kws.toml"
"#,
        sip = ports.sip,
        metrics = ports.metrics,
        http = ports.http,
        low = ports.rtp_low,
        high = ports.rtp_high,
    );
    for (name, user) in queues() {
        text.push_str(&format!(
            "\n[queues.{name}]\nuri = \"{}\"\n",
            ports.queue_uri(&user)
        ));
    }
    text
}

/// (queue name, user part of its URI) of every queue in sip-config/gateway.toml.
fn queues() -> Vec<(String, String)> {
    let path = repo_path("sip-config/gateway.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let table: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let queues = table["queues"]
        .as_table()
        .expect("[queues] in gateway.toml");
    let list: Vec<(String, String)> = queues
        .iter()
        .map(|(name, queue)| {
            let uri = queue["uri"].as_str().expect("queue uri");
            let user = uri
                .strip_prefix("sip:")
                .and_then(|rest| rest.split('@').next())
                .unwrap_or_else(|| panic!("queue {name}: uri {uri} is not sip:user@host"));
            (name.clone(), user.to_string())
        })
        .collect();
    assert!(list.iter().any(|(name, _)| name == "priority"));
    list
}

/// `voicegate serve` on a test's ports, its stdout parsed as JSON Lines.
pub struct Gateway {
    process: Running,
    ports: Ports,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl Gateway {
    /// Writes gateway.toml into `dir`, starts serve there (with `--calls N`
    /// when given) and waits until it answers SIP on its UDP port.
    pub fn start(dir: &Path, ports: Ports, ring_s: f64, calls: Option<u32>) -> Gateway {
        Gateway::start_with(dir, ports, &gateway_toml(ports, ring_s), calls)
    }

    /// `voicegate serve` with this gateway.toml text (listening on `ports`).
    pub fn start_with(dir: &Path, ports: Ports, config_text: &str, calls: Option<u32>) -> Gateway {
        let config = dir.join("gateway.toml");
        std::fs::write(&config, config_text).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_voicegate"));
        if std::env::var_os("VOICEGATE_LOG").is_none() {
            // A browser call's connection states and first packet: what a
            // failed browser test needs to say where its media stopped.
            command.env(
                "VOICEGATE_LOG",
                "voicegate=warn,voicegate::serve::webrtc=debug",
            );
        }
        command
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(calls) = calls {
            command.arg("--calls").arg(calls.to_string());
        }
        let mut child = command.spawn().expect("start voicegate serve");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let lines = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line);
            }
        });
        let mut err = child.stderr.take().unwrap();
        let text = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = err.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                text.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        let mut gateway = Gateway {
            process: Running::new(child),
            ports,
            stdout,
            stderr,
        };
        gateway.wait_ready(Duration::from_secs(20));
        gateway
    }

    /// Polls with OPTIONS until any SIP response comes back.
    fn wait_ready(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut attempt = 0;
        while Instant::now() < deadline {
            if let Some(status) = self.process.poll() {
                panic!(
                    "voicegate serve exited with {status} before answering SIP on 127.0.0.1:{}\n{}",
                    self.ports.sip,
                    self.report()
                );
            }
            attempt += 1;
            let options = options_request(self.ports.sip, &format!("ready-{attempt}"));
            if sip_exchange(
                self.ports.sip,
                options.as_bytes(),
                Duration::from_millis(300),
            )
            .is_some()
            {
                return;
            }
        }
        panic!(
            "voicegate serve did not answer OPTIONS on UDP 127.0.0.1:{} within {limit:?}\n{}",
            self.ports.sip,
            self.report()
        );
    }

    pub fn alive(&mut self) -> bool {
        self.process.poll().is_none()
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// SIGKILL: the gateway dies where it stands, as in a crash.
    pub fn kill_hard(&mut self) {
        self.process.kill();
    }

    /// Every stdout line that is a JSON object, in order.
    pub fn events(&self) -> Vec<Value> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(Value::is_object)
            .collect()
    }

    /// The `{"event":"call",…}` lines so far.
    pub fn calls(&self) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|event| event["event"] == "call")
            .collect()
    }

    /// Waits at most `limit` for `count` call lines; fails with serve's output.
    pub fn wait_calls(&self, count: usize, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let calls = self.calls();
            if calls.len() >= count {
                return calls;
            }
            if Instant::now() >= deadline {
                panic!(
                    "voicegate serve printed {} call line(s) within {limit:?} after the caller finished, expected {count}\n{}",
                    calls.len(),
                    self.report()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The first call line (waits for it).
    pub fn wait_call(&self, limit: Duration) -> Value {
        self.wait_calls(1, limit).remove(0)
    }

    /// The per-step events of one call.
    pub fn events_of(&self, call_id: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|event| event["call_id"] == call_id && event["event"] != "call")
            .collect()
    }

    /// With `--calls N`: serve exits 0 by itself once the calls ended.
    pub fn assert_exits_by_itself(&mut self, limit: Duration) {
        match self.process.wait_for(limit) {
            Some(status) if status.success() => {}
            Some(status) => panic!(
                "voicegate serve --calls exited with {status}, expected 0\n{}",
                self.report()
            ),
            None => panic!(
                "voicegate serve --calls did not exit within {limit:?} after its last call ended\n{}",
                self.report()
            ),
        }
    }

    /// Sends serve SIGTERM, as a service manager stopping it does.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends serve a signal (`TERM`, `HUP`, …), as `kill -NAME` does.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.process.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {}", self.process.pid());
    }

    /// Waits at most `limit` for serve's stderr to hold `text`; fails with its output.
    pub fn wait_stderr(&self, text: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.stderr.lock().unwrap().contains(text) {
            assert!(
                Instant::now() < deadline,
                "serve's stderr did not say {text:?} within {limit:?}\n{}",
                self.report()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Serve's stdout and stderr, for failure messages.
    pub fn report(&self) -> String {
        let stdout = self.stdout.lock().unwrap().join("\n");
        let stderr = self.stderr.lock().unwrap().clone();
        format!(
            "--- voicegate serve (pid {}) stdout ---\n{}\n--- voicegate serve stderr ---\n{}",
            self.process.pid(),
            tail(&stdout, 8000),
            tail(&stderr, 6000)
        )
    }
}

impl Drop for Gateway {
    /// With `SIPP_TESTS_VERBOSE=1`, shows serve's output even when the test
    /// passes (`cargo test --test integration sipp -- --nocapture`).
    fn drop(&mut self) {
        if std::env::var_os("SIPP_TESTS_VERBOSE").is_some() {
            eprintln!("{}", self.report());
        }
    }
}

/// An OPTIONS request from the probe socket's port (filled in on send).
pub fn options_request(port: u16, id: &str) -> String {
    format!(
        "OPTIONS sip:800@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:LOCALPORT;branch=z9hG4bK-{id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@127.0.0.1:LOCALPORT>;tag={id}\r\n\
         To: <sip:800@127.0.0.1:{port}>\r\n\
         Call-ID: {id}@probe.voicegate.test\r\n\
         CSeq: 1 OPTIONS\r\n\
         Contact: <sip:probe@127.0.0.1:LOCALPORT>\r\n\
         Accept: application/sdp\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Sends one datagram from a fresh socket on 127.0.0.1 (`LOCALPORT` in it
/// becomes that socket's port) to `port` and returns the first datagram that
/// comes back within `limit`, as text.
pub fn sip_exchange(port: u16, datagram: &[u8], limit: Duration) -> Option<String> {
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    let local = socket.local_addr().ok()?.port();
    let datagram = String::from_utf8_lossy(datagram).replace("LOCALPORT", &local.to_string());
    socket.connect(("127.0.0.1", port)).ok()?;
    socket.send(datagram.as_bytes()).ok()?;
    socket
        .set_read_timeout(Some(limit.max(Duration::from_millis(1))))
        .ok()?;
    let mut buffer = vec![0u8; 65_535];
    match socket.recv(&mut buffer) {
        Ok(n) => Some(String::from_utf8_lossy(&buffer[..n]).into_owned()),
        // ICMP port unreachable: nobody listens yet.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            std::thread::sleep(Duration::from_millis(50));
            None
        }
        Err(_) => None,
    }
}

/// One SIPp process in a test's directory, with its traces.
pub struct Sipp {
    process: Running,
    dir: PathBuf,
    label: String,
    stem: String,
    status: Option<ExitStatus>,
}

impl Sipp {
    /// Starts `sipp ARGS -sf SCENARIO` in `dir` with message, error, log and
    /// statistics traces, stdout and stderr to `dir/LABEL.stdout|stderr`.
    pub fn start(dir: &Path, label: &str, scenario: &Path, args: &[String]) -> Sipp {
        let sipp = sipp_binary();
        let stdout = std::fs::File::create(dir.join(format!("{label}.stdout"))).unwrap();
        let stderr = std::fs::File::create(dir.join(format!("{label}.stderr"))).unwrap();
        let child = Command::new(sipp)
            .args(args)
            .arg("-sf")
            .arg(scenario)
            .args([
                "-nostdin",
                "-trace_msg",
                "-trace_err",
                "-trace_logs",
                "-trace_stat",
            ])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start sipp ({SETUP_HINT}): {e}"));
        let stem = scenario.file_stem().unwrap().to_string_lossy().into_owned();
        Sipp {
            process: Running::new(child),
            dir: dir.to_path_buf(),
            label: label.to_string(),
            stem,
            status: None,
        }
    }

    /// The caller: one call to voicegate, bounded by SIPp's own global
    /// timeout (a timeout is a failure) and by `limit` here.
    pub fn caller(dir: &Path, ports: Ports, scenario: &Path) -> Sipp {
        Sipp::caller_with(dir, ports, scenario, &[])
    }

    /// The caller with further SIPp options (`-t t1`: SIP over one TCP connection).
    pub fn caller_with(dir: &Path, ports: Ports, scenario: &Path, options: &[&str]) -> Sipp {
        let mut args = vec![
            format!("127.0.0.1:{}", ports.sip),
            "-s".into(),
            "800".into(),
        ];
        args.extend(sipp_args(
            1,
            ports.caller,
            ports.caller_media,
            ports.caller_control,
            60,
        ));
        args.extend(options.iter().map(|option| option.to_string()));
        Sipp::start(dir, "caller", scenario, &args)
    }

    /// The agent: a UAS for one call on the queues' port.
    pub fn agent(dir: &Path, ports: Ports, scenario: &Path) -> Sipp {
        Sipp::uas(dir, "agent", scenario, ports.agent, ports, 60)
    }

    /// A UAS for one call on SIP port `sip_port`, with the agent's media and
    /// control ports (no test runs two UASes at once), failing after
    /// `timeout_s` seconds.
    pub fn uas(
        dir: &Path,
        label: &str,
        scenario: &Path,
        sip_port: u16,
        ports: Ports,
        timeout_s: u32,
    ) -> Sipp {
        Sipp::uas_for_calls(dir, label, scenario, (sip_port, 1), ports, timeout_s)
    }

    /// A UAS on SIP port `port_and_calls.0` for up to `port_and_calls.1`
    /// calls, with the agent's media and control ports.
    pub fn uas_for_calls(
        dir: &Path,
        label: &str,
        scenario: &Path,
        (sip_port, calls): (u16, u32),
        ports: Ports,
        timeout_s: u32,
    ) -> Sipp {
        let args = sipp_args(
            calls,
            sip_port,
            ports.agent_media,
            ports.agent_control,
            timeout_s,
        );
        let uas = Sipp::start(dir, label, scenario, &args);
        // Its socket is bound before the first call can reach it.
        std::thread::sleep(Duration::from_millis(300));
        uas
    }

    /// Waits at most `limit` for SIPp to finish (then kills it).
    pub fn finish(&mut self, limit: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.process.wait_for(limit);
            if self.status.is_none() {
                self.process.kill();
            }
        }
        self.status
    }

    /// Fails, with SIPp's traces and serve's output, unless SIPp exited 0
    /// (every call successful) within `limit`.
    pub fn assert_success(&mut self, limit: Duration, gateway: Option<&Gateway>) {
        let status = self.finish(limit);
        if status.is_some_and(|s| s.success()) {
            return;
        }
        let what = match status {
            None => format!("did not finish within {limit:?} (killed)"),
            Some(s) => format!("exited with {s}: {}", sipp_exit_meaning(s.code())),
        };
        panic!(
            "sipp {} {what}\n{}{}",
            self.label,
            self.report(),
            gateway.map(Gateway::report).unwrap_or_default()
        );
    }

    /// SIPp's stderr, error log, log actions and message trace.
    pub fn report(&self) -> String {
        let pid = self.process.pid();
        let read = |name: String| {
            let path = self.dir.join(&name);
            std::fs::read_to_string(&path).map(|text| (name, text)).ok()
        };
        let mut out = String::new();
        for (name, limit) in [
            (format!("{}.stderr", self.label), 3000),
            (format!("{}_{pid}_errors.log", self.stem), 4000),
            (format!("{}_{pid}_logs.log", self.stem), 2000),
            (format!("{}_{pid}_messages.log", self.stem), 12000),
        ] {
            if let Some((name, text)) = read(name) {
                out.push_str(&format!(
                    "--- sipp {}: {name} ---\n{}\n",
                    self.label,
                    tail(&text, limit)
                ));
            }
        }
        out
    }
}

/// SIPp options for `calls` calls on 127.0.0.1 with these SIP, media and control
/// ports; SIPp's global timeout after `timeout_s` seconds is a failure.
fn sipp_args(
    calls: u32,
    sip_port: u16,
    media_port: u16,
    control_port: u16,
    timeout_s: u32,
) -> Vec<String> {
    [
        "-m",
        &calls.to_string(),
        "-i",
        "127.0.0.1",
        "-p",
        &sip_port.to_string(),
        "-mi",
        "127.0.0.1",
        "-mp",
        &media_port.to_string(),
        "-cp",
        &control_port.to_string(),
        "-timeout",
        &format!("{timeout_s}s"),
        "-timeout_error",
    ]
    .map(String::from)
    .to_vec()
}

fn sipp_exit_meaning(code: Option<i32>) -> &'static str {
    match code {
        Some(0) => "all calls successful",
        Some(1) => "at least one call failed (see the error log and message trace)",
        Some(97) => "exit on internal command, calls may have been processed",
        Some(99) => "normal exit without calls processed",
        Some(255) | Some(-1) => "fatal error (bad scenario or option?)",
        Some(254) | Some(-2) => "fatal error binding a socket (port in use?)",
        _ => "killed by a signal or an unknown code",
    }
}

/// The last `limit` bytes of `text` (from a char boundary).
pub fn tail(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut start = text.len() - limit;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// A new WAV file for call audio (8 kHz mono, 16-bit samples).
pub fn call_wav(path: &Path) -> hound::WavWriter<std::io::BufWriter<std::fs::File>> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound::WavWriter::create(path, spec).unwrap()
}

/// A datagram and when it arrived.
pub type Arrival = (Instant, Vec<u8>);

/// A UDP socket of the test's own that stands in for a party's RTP port:
/// it keeps every datagram with its arrival time, and can echo each one back
/// to its sender (as `sipp -rtp_echo` would).
pub struct RtpSink {
    received: Arc<Mutex<Vec<Arrival>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RtpSink {
    pub fn bind(port: u16, echo: bool) -> RtpSink {
        let socket = UdpSocket::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("cannot bind UDP 127.0.0.1:{port}: {e}"));
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (keep, done) = (Arc::clone(&received), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 2048];
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buffer) {
                    keep.lock()
                        .unwrap()
                        .push((Instant::now(), buffer[..n].to_vec()));
                    if echo {
                        let _ = socket.send_to(&buffer[..n], from);
                    }
                }
            }
        });
        RtpSink {
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// Everything received so far, with arrival times.
    pub fn packets(&self) -> Vec<Arrival> {
        self.received.lock().unwrap().clone()
    }

    /// Forgets what was received so far.
    pub fn clear(&self) {
        self.received.lock().unwrap().clear();
    }
}

impl Drop for RtpSink {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `GET path` on the dashboard at `port`: its JSON body (a 200 or a failure).
pub fn http_get(port: u16, path: &str) -> Value {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    let body = http_exchange(port, request.as_bytes());
    let body = String::from_utf8_lossy(&body);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// One request to the dashboard at `port`: the body of its 200 (or a failure).
pub fn http_exchange(port: u16, request: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP reply");
    let head = String::from_utf8_lossy(&reply[..split]);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    reply.split_off(split + 4)
}
