//! A second, independent SIP client: baresip (Debian's baresip-core) places
//! one real call to `voicegate serve` with the angry recording as its
//! microphone, and must be asked to transfer the call to the priority queue.
//!
//! baresip binds its RTP to the default route's address, not to loopback
//! (see ../shared/TOOLS.md), so both programs run inside a network namespace
//! of the test's own (`unshare -n`) where 10.200.0.1 sits on its loopback:
//! nothing of this test reaches any real network.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use voicegate::audio::{ChannelPick, Recording};

use super::harness::{call_wav, gateway_toml, tail, Ports};
use crate::repo_path;

const ADDRESS: &str = "10.200.0.1";
/// Seconds of the angry recording baresip sends (anger starts at 14.15 s).
const SECONDS: usize = 22;

/// The recording's first seconds as the 8 kHz 16-bit WAV baresip's aufile reads.
fn microphone(path: &Path) {
    let mut recording = Recording::open(
        &repo_path("fixtures/calls/angry_mid_call/call.flac"),
        ChannelPick::Mix,
    )
    .unwrap();
    let mut writer = call_wav(path);
    let mut left = SECONDS * 8000;
    while let (true, Some(block)) = (left > 0, recording.next_block().unwrap()) {
        for sample in block.into_iter().take(left) {
            writer
                .write_sample(voicegate::audio::g711::to_i16(sample))
                .unwrap();
            left -= 1;
        }
    }
    writer.finalize().unwrap();
}

fn baresip_config(dir: &Path, wav: &Path) {
    let modules = "/usr/lib/baresip/modules";
    let config = format!(
        "sip_listen {ADDRESS}:5090\naudio_source aufile,{}\naudio_player aubridge,nil\naudio_alert aubridge,nil\n\
         module_path {modules}\nmodule g711.so\nmodule aufile.so\nmodule aubridge.so\n\
         module_app account.so\nmodule_app menu.so\n",
        wav.display()
    );
    std::fs::write(dir.join("config"), config).unwrap();
    std::fs::write(
        dir.join("accounts"),
        format!("<sip:caller@{ADDRESS}:5090>;regint=0;audio_codecs=PCMU,PCMA\n"),
    )
    .unwrap();
}

/// Both programs in a namespace, each bounded by `timeout`; the namespace
/// and everything in it end with the script.
const SCRIPT: &str = r#"set -u
ip link set lo up && ip addr add 10.200.0.1/24 dev lo
timeout 90 "$VOICEGATE" serve --config "$DIR/gateway.toml" --calls 1 > "$DIR/serve.out" 2> "$DIR/serve.err" &
gateway=$!
for _ in $(seq 100); do grep -q listening "$DIR/serve.err" && break; sleep 0.1; done
# baresip hangs up when its microphone file ends; serve exits after that call.
timeout 60 baresip -4 -f "$DIR/baresip" -e "/dial sip:800@10.200.0.1:$SIP_PORT" > "$DIR/baresip.out" 2>&1 &
phone=$!
for _ in $(seq 600); do kill -0 $gateway 2>/dev/null || break; sleep 0.1; done
kill $gateway $phone 2>/dev/null
wait
exit 0
"#;

#[test]
fn baresip_calls_and_is_asked_to_transfer_the_angry_caller() {
    assert!(
        Command::new("baresip").arg("-h").output().is_ok(),
        "baresip is not on PATH: run scripts/setup_interop.sh (it installs baresip-core)"
    );
    let ports = Ports::block(11);
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("baresip");
    std::fs::create_dir_all(&conf).unwrap();
    let wav = dir.path().join("caller.wav");
    microphone(&wav);
    baresip_config(&conf, &wav);
    // Beyond loopback the dashboard needs a token (serve refuses to start without one).
    let gateway = gateway_toml(ports, 0.0)
        .replace("127.0.0.1", ADDRESS)
        .replace("[http]\n", "[http]\ntoken = \"namespace-test\"\n");
    std::fs::write(dir.path().join("gateway.toml"), gateway).unwrap();
    let status = Command::new("timeout")
        .args(["150", "unshare", "-n", "bash", "-c", SCRIPT])
        .env("VOICEGATE", env!("CARGO_BIN_EXE_voicegate"))
        .env("DIR", dir.path())
        .env("SIP_PORT", ports.sip.to_string())
        .status()
        .expect("unshare and bash (util-linux) run the namespace");
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    let (out, err, phone) = (read("serve.out"), read("serve.err"), read("baresip.out"));
    let context = format!(
        "script: {status}\nserve stdout:\n{}\nserve stderr:\n{}\nbaresip:\n{}",
        tail(&out, 3000),
        tail(&err, 2000),
        tail(&phone, 3000)
    );
    let call: Value = out
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["event"] == "call")
        .unwrap_or_else(|| panic!("no call line from serve\n{context}"));
    assert_eq!(call["caller"], "caller", "{context}");
    assert_eq!(call["transfer"]["reason"], "anger", "{context}");
    assert_eq!(call["transfer"]["target"], "priority", "{context}");
    assert!(phone.contains("Call established"), "{context}");
    let refer_to = ports.queue_uri("priority").replace("127.0.0.1", ADDRESS);
    assert!(
        phone.contains("transferring call") && phone.contains(&refer_to),
        "baresip must have received the REFER to {refer_to}\n{context}"
    );
}
