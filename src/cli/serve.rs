//! `voicegate serve`: answer calls from a SIP trunk or phones.

use std::path::PathBuf;

use clap::Args;

use super::Failure;
use crate::config::GatewayConfig;
use crate::serve::{serve, ServeOptions};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Gateway configuration (default: sip-config/gateway.toml, else the built-in one).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Exit after this many calls have ended (tests and load runs).
    #[arg(long)]
    calls: Option<u64>,
}

pub fn run(args: ServeArgs) -> Result<(), Failure> {
    let config = GatewayConfig::discover(args.config.as_deref()).map_err(Failure::input)?;
    let options = ServeOptions { calls: args.calls };
    serve(&config, options).map_err(|error| match error.is_input_error() {
        true => Failure::input(error),
        false => Failure::runtime(error),
    })
}
