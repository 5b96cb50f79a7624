//! `voicegate call`: a test caller that places a real call to any gateway
//! and plays a recording into it, through voicegate's own SIP and RTP code.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{parse_channel, parse_dtmf_schedule, DtmfSchedule, Failure};
use crate::audio::ChannelPick;
use crate::dialer::{dial, Dial, Happened};
use crate::sip::Transport;

#[derive(Debug, Args)]
pub struct CallArgs {
    /// Whom to call: a SIP URI with an IP address, e.g. sip:800@127.0.0.1:5060.
    target: String,
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
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TransportArg {
    Udp,
    Tcp,
}

pub fn run(args: CallArgs) -> Result<(), Failure> {
    let dial_spec = Dial {
        target: args.target.clone(),
        recording: args.play.clone(),
        channel: args.channel,
        dtmf: args.dtmf.0.clone(),
        transport: match args.transport {
            TransportArg::Udp => Transport::Udp,
            TransportArg::Tcp => Transport::Tcp,
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
