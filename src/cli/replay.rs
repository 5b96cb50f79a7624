//! `voicegate replay`: recordings or scripted calls through the same engine as
//! live calls, on a virtual clock.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{ArgGroup, Args};

use super::{parse_channel, parse_dtmf_schedule, DtmfSchedule, Failure};
use crate::audio::{ChannelPick, PromptLibrary};
use crate::callcore::{json_event, CallEvent, CallSummary, EventKind};
use crate::config::{checked_menu, GatewayConfig};
use crate::infer::{KeywordModel, WindowModel};
use crate::menu::{self, Menu};
use crate::models;
use crate::replay::{self, RecordingReplay};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("calls").required(true).args(["inputs", "script", "check"])))]
pub struct ReplayArgs {
    /// Call recordings (WAV, FLAC, MP3, OGG/Vorbis, AAC/M4A) or directories of them.
    inputs: Vec<PathBuf>,
    /// A scripted call: JSON Lines of timed events ({"t":1.5,"dtmf":"1"}, {"t":4,"anger":85}, ...).
    #[arg(long)]
    script: Option<PathBuf>,
    /// Replay every fixture directory in DIR (call.jsonl or a recording call.*,
    /// plus expected.toml) and compare; exit 1 if any outcome differs.
    #[arg(long, value_name = "DIR")]
    check: Option<PathBuf>,
    /// JSON Lines on standard output instead of the timeline.
    #[arg(long)]
    json: bool,
    /// gateway.toml (default: sip-config/gateway.toml if present, else the built-in sample).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run this menu (scripts run the configuration's menu by default;
    /// recordings run none, since they press no keys).
    #[arg(long, conflicts_with = "no_menu")]
    menu: Option<PathBuf>,
    /// Scripts: run without a menu, only the escalation rules apply.
    #[arg(long)]
    no_menu: bool,
    /// Draw anger against time with the threshold and the transfer (OUT.svg or OUT.png).
    #[arg(long, value_name = "OUT")]
    plot: Option<PathBuf>,
    /// The caller's channel in a recording: `mix`, or 0, 1, … (0 = left).
    #[arg(long, default_value = "mix", value_parser = parse_channel)]
    channel: ChannelPick,
    /// Keys the caller presses during a recording, KEY@SECONDS, comma-separated
    /// ("1@4.0,0@9.5"), as `voicegate call --dtmf` sends them.
    #[arg(long, value_name = "KEYS", value_parser = parse_dtmf_schedule, default_value = "")]
    dtmf: DtmfSchedule,
}

pub fn run(args: ReplayArgs) -> Result<(), Failure> {
    let config = GatewayConfig::discover(args.config.as_deref()).map_err(Failure::input)?;
    if let Some(dir) = &args.check {
        return check_fixtures(dir, &args, &config);
    }
    if let Some(script_path) = &args.script {
        let script = replay::load_script(script_path).map_err(Failure::input)?;
        let events = replay::run_script(
            config.engine_config(),
            script_menu(&args, &config)?,
            &script,
        );
        return print_call(&events, args.json);
    }
    let files = recordings(&args.inputs)?;
    let models = load_models(&config)?;
    let replayer = recording_replay(&args, &config, &models)?;
    match files.as_slice() {
        [single] if args.inputs.len() == 1 && single == &args.inputs[0] => {
            let events = replayer.run(single).map_err(Failure::input)?;
            if let Some(out) = &args.plot {
                let title = single.display().to_string();
                replay::plot_anger(&events, config.policy.anger_threshold, &title, out)
                    .map_err(Failure::input)?;
            }
            print_call(&events, args.json)
        }
        _ if args.plot.is_some() => Err(Failure::input(
            "--plot draws one call: give a single recording",
        )),
        _ => replay_many(&files, &replayer, args.json),
    }
}

fn print_call(events: &[CallEvent], json: bool) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let written = if json {
        replay::json_lines(events)
            .iter()
            .try_for_each(|line| writeln!(out, "{line}"))
    } else {
        write!(out, "{}", replay::timeline(events))
    };
    written.map_err(|error| Failure::runtime(format!("cannot write output: {error}")))
}

/// What hears a recording: the anger model and the keyword spotter.
struct Models {
    anger: WindowModel,
    keywords: KeywordModel,
}

fn load_models(config: &GatewayConfig) -> Result<Models, Failure> {
    Ok(Models {
        anger: models::anger_model(config).map_err(Failure::input)?,
        keywords: models::keyword_model(config).map_err(Failure::input)?,
    })
}

fn recording_replay<'m>(
    args: &ReplayArgs,
    config: &GatewayConfig,
    models: &'m Models,
) -> Result<RecordingReplay<'m>, Failure> {
    let menu = match &args.menu {
        Some(path) => Some(load_checked_menu(path, config)?),
        None => None,
    };
    replay_with_menu(config, models, menu, args)
}

/// Replay of recordings with `menu` (prompts then take their real time).
fn replay_with_menu<'m>(
    config: &GatewayConfig,
    models: &'m Models,
    menu: Option<Arc<Menu>>,
    args: &ReplayArgs,
) -> Result<RecordingReplay<'m>, Failure> {
    // Prompts take their real time when a menu runs, as on a live call,
    // the recording notice first.
    let notice = menu.as_ref().and(config.recording_notice());
    let prompt_lengths = match &menu {
        Some(menu) => {
            let names = menu::prompt_texts(menu)
                .into_iter()
                .map(|(name, _)| name)
                .chain(notice.clone())
                .collect::<Vec<_>>();
            PromptLibrary::load(&config.prompts_dir(), names.iter().map(String::as_str))
                .map_err(Failure::input)?
                .lengths()
        }
        None => Default::default(),
    };
    Ok(RecordingReplay {
        config: config.engine_config(),
        menu,
        model: &models.anger,
        keywords: Some(&models.keywords),
        pick: args.channel,
        smoothing: config.scoring.smoothing,
        prompt_lengths: Arc::new(prompt_lengths),
        queues: Arc::new(config.queue_uris()),
        dtmf: args.dtmf.0.clone(),
        notice,
    })
}

fn script_menu(args: &ReplayArgs, config: &GatewayConfig) -> Result<Option<Arc<Menu>>, Failure> {
    match (&args.menu, args.no_menu) {
        (_, true) => Ok(None),
        (Some(path), false) => load_checked_menu(path, config).map(Some),
        (None, false) => config.load_menu().map(Some).map_err(Failure::input),
    }
}

fn load_checked_menu(path: &Path, config: &GatewayConfig) -> Result<Arc<Menu>, Failure> {
    let menu = menu::load_menu(path).map_err(Failure::input)?;
    checked_menu(menu, path, &config.check_options(false)).map_err(Failure::input)
}

/// The files to replay: each file given, and every file under each directory
/// given (recursively, in name order, hidden files left out).
fn recordings(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            collect_files(input, &mut files)?;
        } else {
            files.push(input.clone());
        }
    }
    if files.is_empty() {
        return Err(Failure::input(
            "no recordings to replay: the directories given are empty",
        ));
    }
    Ok(files)
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), Failure> {
    let entries = std::fs::read_dir(dir).map_err(|error| {
        Failure::input(format!("{}: cannot read directory: {error}", dir.display()))
    })?;
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            !path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect_files(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// Replays every file with a progress bar, then prints one table row per file.
fn replay_many(files: &[PathBuf], replayer: &RecordingReplay, json: bool) -> Result<(), Failure> {
    let progress = indicatif::ProgressBar::new(files.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let outcomes = replay_in_parallel(files, replayer, &progress);
    progress.finish_and_clear();
    let rows: Vec<_> = files.iter().zip(outcomes).collect();
    let failed = rows.iter().filter(|(_, outcome)| outcome.is_err()).count();
    for (file, outcome) in &rows {
        match (outcome, json) {
            (Ok(summary), true) => println!("{}", summary_json(file, summary)),
            (Ok(summary), false) => println!("{}", table_row(file, summary)),
            (Err(error), _) => eprintln!("error: {error}"),
        }
    }
    if !json {
        println!(
            "{} files: {} replayed, {failed} unreadable",
            rows.len(),
            rows.len() - failed
        );
    }
    match failed {
        0 => Ok(()),
        n => Err(Failure::input(format!(
            "{n} of {} files could not be replayed (see above)",
            rows.len()
        ))),
    }
}

/// Replays files on every core (decoding and VAD run in parallel; the model
/// session serialises inference), keeping the results in file order.
fn replay_in_parallel(
    files: &[PathBuf],
    replayer: &RecordingReplay,
    progress: &indicatif::ProgressBar,
) -> Vec<Result<CallSummary, replay::RecordingError>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let sender = sender.clone();
            let next = &next;
            scope.spawn(move || loop {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(file) = files.get(index) else { break };
                progress.set_message(file.display().to_string());
                let outcome = replayer.run(file).map(|events| CallSummary::of(&events));
                progress.inc(1);
                if sender.send((index, outcome)).is_err() {
                    break;
                }
            });
        }
    });
    drop(sender);
    let mut outcomes: Vec<_> = receiver.into_iter().collect();
    outcomes.sort_by_key(|(index, _)| *index);
    outcomes.into_iter().map(|(_, outcome)| outcome).collect()
}

fn table_row(file: &Path, summary: &CallSummary) -> String {
    let anger = summary
        .max_anger
        .map_or("-".to_string(), |a| format!("{a:.1}"));
    let transfer = summary
        .transfer
        .as_ref()
        .map_or("no transfer".to_string(), |outcome| {
            let transfer = &outcome.transfer;
            format!(
                "{:.1} s {} → {}",
                outcome.at.as_secs_f64(),
                transfer.reason,
                transfer.target
            )
        });
    format!(
        "{:<40} {:>8.1} s  max anger {:>5}  {transfer}",
        file.display(),
        summary.duration.as_secs_f64(),
        anger
    )
}

fn summary_json(file: &Path, summary: &CallSummary) -> serde_json::Value {
    let ended = CallEvent {
        at: summary.duration,
        kind: EventKind::Ended(Box::new(summary.clone())),
    };
    let mut line = json_event(&ended, None).unwrap_or_default();
    line["file"] = serde_json::json!(file.display().to_string());
    line
}

/// Replays each fixture under `dir` and prints one row per fixture.
fn check_fixtures(dir: &Path, args: &ReplayArgs, config: &GatewayConfig) -> Result<(), Failure> {
    let fixtures = fixture_dirs(dir)?;
    let mut models: Option<Models> = None;
    let (mut differing, mut broken) = (0, 0);
    for fixture in &fixtures {
        let name = fixture
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        match check_fixture(fixture, args, config, &mut models) {
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
            "{}: no fixture directories in it: add <name>/call.jsonl (or a recording call.wav) and <name>/expected.toml",
            dir.display()
        )));
    }
    Ok(dirs)
}

/// The outcome in words and its differences from expected.toml. The models
/// are loaded on the first recording fixture.
fn check_fixture(
    dir: &Path,
    args: &ReplayArgs,
    config: &GatewayConfig,
    models: &mut Option<Models>,
) -> Result<(String, Vec<String>), String> {
    let expected = replay::load_expected(&dir.join("expected.toml")).map_err(|e| e.to_string())?;
    let script_path = dir.join("call.jsonl");
    let events = if script_path.is_file() {
        let script = replay::load_script(&script_path).map_err(|e| e.to_string())?;
        let menu = script_menu(args, config).map_err(|f| f.message)?;
        replay::run_script(config.engine_config(), menu, &script)
    } else {
        let recording = recording_in(dir)?;
        if models.is_none() {
            *models = Some(load_models(config).map_err(|f| f.message)?);
        }
        let models = models.as_ref().ok_or("the models did not load")?;
        let replayer = match expected.menu {
            true => {
                let menu = config.load_menu().map_err(|e| e.to_string())?;
                replay_with_menu(config, models, Some(menu), args)
            }
            false => recording_replay(args, config, models),
        }
        .map_err(|f| f.message)?;
        replayer.run(&recording).map_err(|e| e.to_string())?
    };
    let summary = CallSummary::of(&events);
    let outcome = match &summary.transfer {
        Some(outcome) => format!(
            "{} → {} at {:.3} s",
            outcome.transfer.reason,
            outcome.transfer.target,
            outcome.at.as_secs_f64()
        ),
        None => "no transfer".to_string(),
    };
    Ok((outcome, replay::differences(&expected, &summary)))
}

fn recording_in(dir: &Path) -> Result<PathBuf, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    entries
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.file_stem().is_some_and(|stem| stem == "call"))
        .ok_or_else(|| {
            format!(
                "{}: no call.jsonl or call recording (call.wav, call.flac, …)",
                dir.display()
            )
        })
}
