//! The command line: one module per subcommand. `main.rs` only calls [`run`].

mod call;
mod calls;
mod menu;
mod replay;
mod report;
mod serve;

use std::fmt::Display;
use std::process::ExitCode;
use std::time::Duration;

use crate::audio::ChannelPick;

use clap::{Parser, Subcommand};

/// voicegate: an IVR voice gateway that hands angry, stuck or insistent callers to a human.
#[derive(Debug, Parser)]
#[command(name = "voicegate", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check, show, flatten and simulate menu trees.
    #[command(subcommand)]
    Menu(menu::MenuCommand),
    /// Replay recordings or scripted calls through the call core on a virtual clock.
    Replay(replay::ReplayArgs),
    /// Place a test call to a gateway: play a recording, press keys, take the REFER.
    Call(call::CallArgs),
    /// Answer live calls over SIP (UDP and TCP) and RTP, as configured in gateway.toml.
    Serve(serve::ServeArgs),
    /// Read the call records: list, show, QA review, export.
    #[command(subcommand)]
    Calls(calls::CallsCommand),
    /// The three health rates (session break, repeat contact, forced transfer) against their thresholds.
    Report(report::ReportArgs),
}

/// A failure that ends the command, with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// A usage, configuration or input error: exit code 2.
    pub fn input(error: impl Display) -> Failure {
        Failure {
            code: 2,
            message: error.to_string(),
        }
    }

    /// A failure while running: exit code 1.
    pub fn runtime(error: impl Display) -> Failure {
        Failure {
            code: 1,
            message: error.to_string(),
        }
    }
}

/// Reads `--channel`: mix, left, right or a channel number.
pub fn parse_channel(text: &str) -> Result<ChannelPick, String> {
    match text {
        "mix" => Ok(ChannelPick::Mix),
        "left" => Ok(ChannelPick::Index(0)),
        "right" => Ok(ChannelPick::Index(1)),
        _ => text.parse().map(ChannelPick::Index).map_err(|_| {
            format!("{text:?} is not a channel: use mix, left, right or a number from 0")
        }),
    }
}

/// Key presses at times of a call: `KEY@SECONDS`, comma-separated, in time order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DtmfSchedule(pub Vec<(Duration, char)>);

/// Reads "1@4.0,0@9.5" (an empty text is no keys).
pub fn parse_dtmf_schedule(text: &str) -> Result<DtmfSchedule, String> {
    let mut keys: Vec<(Duration, char)> = Vec::new();
    for item in text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let problem =
            || format!("{item:?} is not KEY@SECONDS: write e.g. 1@4.0 (keys 0-9, *, #, A-D)");
        let (key, at) = item.split_once('@').ok_or_else(problem)?;
        let key = crate::dtmf::dtmf_key(key.trim()).ok_or_else(problem)?;
        let seconds: f64 = at.trim().parse().map_err(|_| problem())?;
        if !(0.0..=86_400.0).contains(&seconds) {
            return Err(format!("{item:?}: the time must be 0 to 86400 seconds"));
        }
        let at = Duration::from_secs_f64(seconds);
        if keys.last().is_some_and(|(last, _)| *last > at) {
            return Err(format!(
                "{item:?} comes before the key listed ahead of it: list keys in time order"
            ));
        }
        keys.push((at, key));
    }
    Ok(DtmfSchedule(keys))
}

/// Parses the arguments, runs the command, and returns the exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Menu(command) => menu::run(command),
        Command::Replay(args) => replay::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Call(args) => call::run(args),
        Command::Calls(command) => calls::run(command),
        Command::Report(args) => report::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("error: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

/// Logs go to stderr, filtered by `VOICEGATE_LOG` (e.g. `debug`); by default
/// only voicegate's own warnings (its errors already say what libraries found).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VOICEGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("voicegate=warn"));
    // Colours only for a person at a terminal, not for a log file or pipe.
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal)
        .with_writer(std::io::stderr)
        .init();
}
