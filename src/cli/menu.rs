//! `voicegate menu check|show|flatten|simulate`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::Failure;
use crate::callcore::{CallEvent, CallerId, CoreInput, EventKind};
use crate::config::GatewayConfig;
use crate::dtmf::dtmf_key;
use crate::engine::{Action, Input, MenuStep};
use crate::menu::{self, CheckOptions, Menu, PhraseConflict, Problem, ProblemKind};
use crate::replay::{self, VirtualCall};

#[derive(Debug, Subcommand)]
pub enum MenuCommand {
    /// Validate menu files: exit 0 if all are valid, else print every problem
    /// with file:line and the path of choices to it, and exit 2.
    Check(CheckArgs),
    /// Print the tree as an indented outline with the hop count of every action.
    Show { file: PathBuf },
    /// Rebuild a deep legacy tree so every action is within --max-hops key presses.
    Flatten {
        file: PathBuf,
        /// Write the flattened menu here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The depth limit to flatten to.
        #[arg(long, default_value_t = 3)]
        max_hops: u32,
    },
    /// List every prompt the menu plays and what it should say, as TSV (name, text).
    Prompts { file: PathBuf },
    /// Walk the tree with a list of key presses and spoken phrases.
    Simulate {
        file: PathBuf,
        /// Comma-separated inputs: a single key (1, *, #) is DTMF, anything else is speech.
        #[arg(long, value_delimiter = ',', required = true)]
        input: Vec<String>,
        /// gateway.toml for the escalation policy (default: sip-config/gateway.toml or built-in).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// gateway.toml whose queues and prompts the menus must use (default: the
    /// gateway.toml one directory above each menu, if there is one).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory of prompt files (default: the configuration's prompts directory).
    #[arg(long)]
    prompts: Option<PathBuf>,
    /// Depth limit (default: the configuration's policy.max_hops, else 3).
    #[arg(long)]
    max_hops: Option<u32>,
}

pub fn run(command: MenuCommand) -> Result<(), Failure> {
    match command {
        MenuCommand::Check(args) => check(args),
        MenuCommand::Show { file } => {
            print!("{}", menu::outline(&load(&file)?));
            Ok(())
        }
        MenuCommand::Prompts { file } => {
            for (name, text) in menu::prompt_texts(&load(&file)?) {
                println!("{name}\t{text}");
            }
            Ok(())
        }
        MenuCommand::Flatten {
            file,
            output,
            max_hops,
        } => flatten(&file, output.as_deref(), max_hops),
        MenuCommand::Simulate {
            file,
            input,
            config,
        } => simulate(&file, &input, config.as_deref()),
    }
}

fn load(path: &Path) -> Result<Menu, Failure> {
    menu::load_menu(path).map_err(Failure::input)
}

fn print_problems(path: &Path, problems: &[Problem]) {
    for problem in problems {
        eprintln!("{}:{problem}", path.display());
    }
}

fn check(args: CheckArgs) -> Result<(), Failure> {
    let explicit = args
        .config
        .as_deref()
        .map(GatewayConfig::load)
        .transpose()
        .map_err(Failure::input)?;
    let mut failed = 0;
    for file in &args.files {
        let menu = match menu::load_menu(file) {
            Ok(menu) => menu,
            Err(error) => {
                eprintln!("{error}");
                failed += 1;
                continue;
            }
        };
        let options = check_options(file, explicit.as_ref(), &args)?;
        let problems = menu::check(&menu, &options);
        if problems.is_empty() {
            println!("{}: ok, {}", file.display(), describe(&menu));
        } else {
            print_problems(file, &problems);
            failed += 1;
        }
    }
    match failed {
        0 => Ok(()),
        n => Err(Failure {
            code: 2,
            message: format!("{n} of {} menu files have problems", args.files.len()),
        }),
    }
}

/// What a menu is checked against: the explicit configuration, or the
/// gateway.toml beside the menus directory (the sip-config layout).
fn check_options(
    file: &Path,
    explicit: Option<&GatewayConfig>,
    args: &CheckArgs,
) -> Result<CheckOptions, Failure> {
    let sibling = file
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("gateway.toml"))
        .filter(|path| path.is_file());
    let discovered = match (explicit, sibling) {
        (Some(_), _) | (None, None) => None,
        (None, Some(path)) => Some(GatewayConfig::load(&path).map_err(Failure::input)?),
    };
    let config = explicit.or(discovered.as_ref());
    let mut options = config.map_or(
        CheckOptions {
            max_hops: 3,
            ..CheckOptions::default()
        },
        |config| config.check_options(true),
    );
    if let Some(dir) = &args.prompts {
        options.prompts_dir = Some(dir.clone());
    }
    if let Some(max_hops) = args.max_hops {
        options.max_hops = max_hops;
    }
    Ok(options)
}

fn describe(menu: &Menu) -> String {
    format!(
        "{} nodes, {} distinct actions, deepest action at {} choices ({} key presses)",
        menu.nodes.len(),
        menu.actions()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        menu::deepest_action(menu, false),
        menu::deepest_action(menu, true)
    )
}

fn flatten(file: &Path, output: Option<&Path>, max_hops: u32) -> Result<(), Failure> {
    let legacy = load(file)?;
    let (flat, report) = menu::flatten(&legacy, max_hops).map_err(|problems| {
        print_problems(file, &problems);
        Failure::input(format!(
            "{} cannot be flattened; fix the problems above",
            file.display()
        ))
    })?;
    let leftover = menu::check(
        &flat,
        &CheckOptions {
            max_hops,
            ..CheckOptions::default()
        },
    );
    if !leftover.is_empty() {
        print_problems(Path::new("<flattened>"), &leftover);
        return Err(Failure::runtime("the flattened menu does not pass check; this is a bug in flatten, please report it with the input file"));
    }
    let header = format!(
        "# Flattened from {} by `voicegate menu flatten --max-hops {max_hops}`.\n# Prompts changed: record each node's `text` as <prompt>.wav.\n",
        file.display()
    );
    let toml = header + &menu::to_toml(&flat);
    let report_text = format!(
        "flattened {}{}\n  actions:            {} (all kept, same action strings)\n  nodes:              {} → {}\n  depth:              {} → {} choices to the deepest action\n  key presses:        {} → {} to the deepest action\n  back-links dropped: {}\n  spoken shortcuts:   {} added at the entry node\n  prompts to record:  {} (each node's `text`)",
        file.display(),
        output.map_or(String::new(), |out| format!(" → {}", out.display())),
        report.actions,
        report.nodes_before,
        report.nodes_after,
        report.depth_before,
        report.depth_after,
        report.key_presses_before,
        report.key_presses_after,
        report.back_links_dropped,
        report.shortcuts,
        report.nodes_after
    ) + &phrase_conflict_lines(&report.phrase_conflicts);
    match output {
        Some(path) => {
            std::fs::write(path, toml).map_err(|error| {
                Failure::runtime(format!("{}: cannot write: {error}", path.display()))
            })?;
            println!("{report_text}");
        }
        None => {
            print!("{toml}");
            eprintln!("{report_text}");
        }
    }
    Ok(())
}

/// The report's lines for shared phrases resolved (none when there were none).
fn phrase_conflict_lines(conflicts: &[PhraseConflict]) -> String {
    if conflicts.is_empty() {
        return String::new();
    }
    let mut lines = format!(
        "\n  shared phrases:     {} resolved (a phrase said for two options of one node)",
        conflicts.len()
    );
    for conflict in conflicts {
        lines.push_str(&format!("\n    {}", conflict.describe()));
    }
    lines
}

fn simulate(file: &Path, inputs: &[String], config: Option<&Path>) -> Result<(), Failure> {
    let menu = load(file)?;
    let blocking: Vec<Problem> = menu::check(
        &menu,
        &CheckOptions {
            max_hops: u32::MAX,
            ..CheckOptions::default()
        },
    )
    .into_iter()
    .filter(|problem| !matches!(problem.kind, ProblemKind::TooDeep | ProblemKind::Cycle))
    .collect();
    if !blocking.is_empty() {
        print_problems(file, &blocking);
        return Err(Failure::input(format!(
            "{} cannot be simulated; fix the problems above",
            file.display()
        )));
    }
    let config = GatewayConfig::discover(config).map_err(Failure::input)?;
    let setup = replay::replay_setup(
        config.engine_config(),
        Some(Arc::new(menu)),
        CallerId::default(),
    );
    let mut call = VirtualCall::start(setup, None);
    for (index, input) in inputs.iter().enumerate() {
        let at = Duration::from_secs(index as u64 + 1);
        call.feed(at, CoreInput::Engine(input_of(input)));
    }
    let end = Duration::from_secs(inputs.len() as u64 + 1);
    let events = call.finish(end);
    print!("{}", replay::timeline(&events));
    println!("final: {}", final_outcome(&events));
    Ok(())
}

fn input_of(text: &str) -> Input {
    match dtmf_key(text.trim()) {
        Some(key) => Input::Dtmf(key),
        None => Input::Keyword {
            word: text.trim().to_string(),
            confidence: 1.0,
        },
    }
}

/// Where the walk ended: a transfer or hang-up, else the last action reached,
/// else the node the caller is left at.
fn final_outcome(events: &[CallEvent]) -> String {
    let mut outcome = "no menu position".to_string();
    let mut reached_action = false;
    for event in events {
        match &event.kind {
            EventKind::Did(Action::Transfer(transfer)) => {
                return format!(
                    "transfer to {} (reason {}, priority {})",
                    transfer.target, transfer.reason, transfer.priority
                )
            }
            EventKind::Did(Action::HangUp { reason }) => {
                return format!("the gateway hung up ({})", reason.as_str())
            }
            EventKind::Did(Action::Menu(MenuStep::Reached { action, .. })) => {
                outcome = action.clone();
                reached_action = true;
            }
            // Zero hops means back at the entry after a flow: the action stands.
            EventKind::Did(Action::Menu(MenuStep::Entered { node, hops }))
                if *hops > 0 || !reached_action =>
            {
                outcome = format!("at node {node}, no action reached");
                reached_action = false;
            }
            _ => {}
        }
    }
    outcome
}
