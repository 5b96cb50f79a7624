//! `voicegate call`: a test caller that places a real call to any gateway
//! and plays a recording into it, through voicegate's own SIP and RTP code.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{parse_channel, parse_dtmf_schedule, DtmfSchedule, Failure};
use crate::audio::ChannelPick;
use crate::dialer::{dial, Dial, Happened, NetworkFaults};
use crate::sip::{ReferAnswer, Transport};

#[derive(Debug, Args)]
pub struct CallArgs {
    /// Whom to call: a SIP URI with an IP address, e.g. sip:800@127.0.0.1:5060.
    target: String,
    /// The caller's number (From's user part), e.g. +15550100123.
    #[arg(long, value_name = "NUMBER", default_value = "voicegate-call", value_parser = parse_sip_user)]
    from: String,
    /// Assert the caller's number as a trunk does (P-Asserted-Identity, RFC
    /// 3325): a gateway that trusts this address takes it as verified
    /// (VIPs, the CRM lookup).
    #[arg(long)]
    asserted: bool,
    /// The caller's voice: a recording (WAV, FLAC, MP3, OGG/Vorbis, AAC/M4A),
    /// streamed as RTP in real time from the answer.
    #[arg(long, value_name = "FILE")]
    play: PathBuf,
    /// Keys to press, KEY@SECONDS from the answer, comma-separated ("1@4.0,0@9.5"),
    /// sent as RFC 4733 events.
    #[arg(long, value_name = "KEYS", value_parser = parse_dtmf_schedule, default_value = "")]
    dtmf: DtmfSchedule,
    #[arg(long, value_enum, default_value = "udp")]
    transport: TransportArg,
    /// The caller's channel in a stereo recording: `mix`, or 0, 1, … (0 = left).
    #[arg(long, default_value = "mix", value_parser = parse_channel)]
    channel: ChannelPick,
    /// JSON Lines on standard output, the last one the summary.
    #[arg(long)]
    json: bool,
    /// What to do with a REFER: accept it and report it done, or hang up
    /// before the NOTIFY (a caller giving up mid-transfer).
    #[arg(long, value_enum, default_value = "complete")]
    on_refer: OnRefer,
    #[command(flatten)]
    network: NetworkArgs,
}

/// A bad network on the caller's RTP, to test the gateway against.
#[derive(Debug, Args)]
#[command(next_help_heading = "Network faults on the caller's RTP")]
struct NetworkArgs {
    /// Percent of packets lost.
    #[arg(long, value_name = "PERCENT", default_value = "0", value_parser = parse_percent)]
    loss: f64,
    /// Each packet is delayed by up to this many milliseconds (more than 20 reorders them).
    #[arg(long, value_name = "MS", default_value = "0", value_parser = parse_jitter)]
    jitter: Duration,
    /// Percent of packets sent twice.
    #[arg(long, value_name = "PERCENT", default_value = "0", value_parser = parse_percent)]
    duplicate: f64,
    /// Restart the stream with a new SSRC this many seconds after the answer.
    #[arg(long, value_name = "SECONDS", value_parser = parse_call_time)]
    new_ssrc_at: Option<Duration>,
    /// Stop sending RTP this many seconds after the answer (0: one-way audio).
    #[arg(long, value_name = "SECONDS", value_parser = parse_call_time)]
    stop_rtp_at: Option<Duration>,
    /// Seed of the faults' random draws: the same seed, the same faults.
    #[arg(long, default_value = "1")]
    seed: u64,
}

impl NetworkArgs {
    fn faults(&self) -> NetworkFaults {
        NetworkFaults {
            loss: self.loss / 100.0,
            jitter: self.jitter,
            duplicate: self.duplicate / 100.0,
            new_ssrc_at: self.new_ssrc_at,
            stop_at: self.stop_rtp_at,
            seed: self.seed,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OnRefer {
    Complete,
    HangUp,
}

/// A SIP user part voicegate can put in a URI as it is (RFC 3261 section 25.1's unreserved characters).
fn parse_sip_user(text: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+-_.!~*'()".contains(c);
    match !text.is_empty() && text.len() <= 64 && text.chars().all(allowed) {
        true => Ok(text.to_string()),
        false => Err(format!(
            "{text:?} is not a caller number: use 1 to 64 letters, digits and + - _ ."
        )),
    }
}

fn parse_percent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(percent) if (0.0..=100.0).contains(&percent) => Ok(percent),
        _ => Err(format!("{text:?} is not a percentage: give 0 to 100")),
    }
}

fn parse_jitter(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(ms) if ms <= 10_000 => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "{text:?} is not a jitter: give 0 to 10000 milliseconds"
        )),
    }
}

fn parse_call_time(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(seconds) if (0.0..=86_400.0).contains(&seconds) => Ok(Duration::from_secs_f64(seconds)),
        _ => Err(format!(
            "{text:?} is not a time in the call: give 0 to 86400 seconds"
        )),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TransportArg {
    Udp,
    Tcp,
}

pub fn run(args: CallArgs) -> Result<(), Failure> {
    let dial_spec = Dial {
        target: args.target.clone(),
        from: args.from.clone(),
        asserted: args.asserted,
        recording: args.play.clone(),
        channel: args.channel,
        dtmf: args.dtmf.0.clone(),
        transport: match args.transport {
            TransportArg::Udp => Transport::Udp,
            TransportArg::Tcp => Transport::Tcp,
        },
        faults: args.network.faults(),
        on_refer: match args.on_refer {
            OnRefer::Complete => ReferAnswer::Complete,
            OnRefer::HangUp => ReferAnswer::HangUp,
        },
    };
    let json = args.json;
    let mut out = std::io::stdout();
    let mut print = |line: String| {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    let report = dial(&dial_spec, |at, happened: &Happened| {
        print(if json {
            happened.json(at).to_string()
        } else {
            happened.text(at)
        });
    })
    .map_err(|error| match error.is_input_error() {
        true => Failure::input(error),
        false => Failure::runtime(error),
    })?;
    print(if json {
        report.summary_json().to_string()
    } else {
        report.summary_text()
    });
    match report.answered {
        true => Ok(()),
        false => Err(Failure::runtime(format!("{} did not answer", args.target))),
    }
}
