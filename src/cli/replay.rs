//! `voicegate replay`: a call through the same engine as live calls, on a virtual clock.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{ArgGroup, Args};

use super::Failure;
use crate::config::{checked_menu, GatewayConfig};
use crate::menu::{self, Menu};
use crate::replay;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("calls").required(true).args(["script", "check"])))]
pub struct ReplayArgs {
    /// A scripted call: JSON Lines of timed events ({"t":1.5,"dtmf":"1"}, {"t":4,"anger":85}, ...).
    #[arg(long)]
    script: Option<PathBuf>,
    /// Replay every fixture directory in DIR (call.jsonl + expected.toml) and
    /// compare; exit 1 if any outcome differs.
    #[arg(long, value_name = "DIR")]
    check: Option<PathBuf>,
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
    if let Some(dir) = &args.check {
        return check_fixtures(dir, &config, menu);
    }
    let Some(script_path) = &args.script else {
        return Err(Failure::input("give --script FILE or --check DIR"));
    };
    let script = replay::load_script(script_path).map_err(Failure::input)?;
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

/// Replays each fixture under `dir` and prints one row per fixture.
fn check_fixtures(
    dir: &Path,
    config: &GatewayConfig,
    menu: Option<Arc<Menu>>,
) -> Result<(), Failure> {
    let fixtures = fixture_dirs(dir)?;
    let mut differing = 0;
    let mut broken = 0;
    for fixture in &fixtures {
        let name = fixture
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        match check_fixture(fixture, config, menu.clone()) {
            Ok((outcome, diffs)) if diffs.is_empty() => println!("ok    {name:<28} {outcome}"),
            Ok((outcome, diffs)) => {
                differing += 1;
                println!("DIFF  {name:<28} {outcome}: {}", diffs.join("; "));
            }
            Err(message) => {
                broken += 1;
                println!("ERROR {name:<28} {message}");
            }
        }
    }
    println!(
        "{} fixtures: {} ok, {differing} differ, {broken} unreadable",
        fixtures.len(),
        fixtures.len() - differing - broken
    );
    match (broken, differing) {
        (0, 0) => Ok(()),
        (0, _) => Err(Failure::runtime(format!(
            "{differing} fixtures differ from their expected outcome"
        ))),
        _ => Err(Failure::input(format!(
            "{broken} fixtures could not be read"
        ))),
    }
}

fn fixture_dirs(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    let entries = std::fs::read_dir(dir).map_err(|error| {
        Failure::input(format!(
            "{}: cannot read fixtures directory: {error}",
            dir.display()
        ))
    })?;
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Err(Failure::input(format!(
            "{}: no fixture directories in it: add <name>/call.jsonl and <name>/expected.toml",
            dir.display()
        )));
    }
    Ok(dirs)
}

/// The outcome in words and its differences from expected.toml.
fn check_fixture(
    dir: &Path,
    config: &GatewayConfig,
    menu: Option<Arc<Menu>>,
) -> Result<(String, Vec<String>), String> {
    let expected = replay::load_expected(&dir.join("expected.toml")).map_err(|e| e.to_string())?;
    let script = replay::load_script(&dir.join("call.jsonl")).map_err(|e| e.to_string())?;
    let log = replay::run_script(config.engine_config(), menu, &script);
    let summary = replay::summarize(&log);
    let outcome = match &summary.transfer {
        Some((at, transfer)) => format!(
            "{} → {} at {:.3} s",
            transfer.reason,
            transfer.target,
            at.as_secs_f64()
        ),
        None => "no transfer".to_string(),
    };
    Ok((outcome, replay::differences(&expected, &summary)))
}
