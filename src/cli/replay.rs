//! `voicegate replay`: a call through the same engine as live calls, on a virtual clock.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::Failure;
use crate::config::{checked_menu, GatewayConfig};
use crate::menu::{self, Menu};
use crate::replay;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A scripted call: JSON Lines of timed events ({"t":1.5,"dtmf":"1"}, {"t":4,"anger":85}, ...).
    #[arg(long)]
    script: PathBuf,
    /// JSON Lines on standard output instead of the timeline.
    #[arg(long)]
    json: bool,
    /// gateway.toml (default: sip-config/gateway.toml if present, else the built-in sample).
    #[arg(long)]
    config: Option<PathBuf>,
    /// A menu file instead of the configuration's.
    #[arg(long, conflicts_with = "no_menu")]
    menu: Option<PathBuf>,
    /// Run without a menu: only the escalation rules apply.
    #[arg(long)]
    no_menu: bool,
}

pub fn run(args: ReplayArgs) -> Result<(), Failure> {
    let config = GatewayConfig::discover(args.config.as_deref()).map_err(Failure::input)?;
    let menu = select_menu(&args, &config)?;
    let script = replay::load_script(&args.script).map_err(Failure::input)?;
    let log = replay::run_script(config.engine_config(), menu, &script);
    let summary = replay::summarize(&log);
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        replay::json_lines(&log, &summary)
            .iter()
            .try_for_each(|line| writeln!(out, "{line}"))
    } else {
        write!(out, "{}", replay::timeline(&log, &summary))
    };
    written.map_err(|error| Failure::runtime(format!("cannot write output: {error}")))
}

fn select_menu(args: &ReplayArgs, config: &GatewayConfig) -> Result<Option<Arc<Menu>>, Failure> {
    if args.no_menu {
        return Ok(None);
    }
    let menu = match &args.menu {
        Some(path) => {
            let menu = menu::load_menu(path).map_err(Failure::input)?;
            checked_menu(menu, path, &config.check_options(false))
        }
        None => config.load_menu(),
    };
    menu.map(Some).map_err(Failure::input)
}
