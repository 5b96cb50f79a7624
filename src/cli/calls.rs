//! `voicegate calls`: the call records, for supervisors and QA.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use super::Failure;
use crate::config::GatewayConfig;
use crate::store::{rfc3339, CallRecord, ListFilter, Store};

#[derive(Debug, Subcommand)]
pub enum CallsCommand {
    /// List call records (by default those of the last 24 hours).
    List(ListArgs),
    /// One call: its record, its timeline with every decision and its evidence, its recording.
    Show(ShowArgs),
    /// Record QA's verdict on a call: --ok, or --flag "note" for an AI misjudgement.
    Review(ReviewArgs),
    /// Every record (or those since --since) as JSON Lines or CSV, for other tools.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Gateway configuration naming the store (default: sip-config/gateway.toml, else the built-in one).
    #[arg(long)]
    config: Option<PathBuf>,
}

impl StoreArgs {
    pub fn open(&self) -> Result<(GatewayConfig, Store), Failure> {
        let config = GatewayConfig::discover(self.config.as_deref()).map_err(Failure::input)?;
        let url = config.store_url().map_err(Failure::input)?;
        let store = Store::open(&url).map_err(Failure::input)?;
        Ok((config, store))
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only calls transferred for this reason (anger, human_request, complaint_keyword, …).
    #[arg(long)]
    reason: Option<String>,
    /// How far back: e.g. 24h, 7d, 90m.
    #[arg(long, default_value = "24h", value_parser = parse_age)]
    since: Duration,
    /// Only calls whose QA review is still open.
    #[arg(long)]
    due: bool,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The call's id (its SIP Call-ID, as `calls list` shows it).
    id: String,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Verdict {
    /// The decision was right.
    #[arg(long)]
    ok: bool,
    /// The AI misjudged the call; say how.
    #[arg(long, value_name = "NOTE")]
    flag: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    id: String,
    #[command(flatten)]
    verdict: Verdict,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// How far back (default: everything).
    #[arg(long, value_parser = parse_age)]
    since: Option<Duration>,
    #[arg(long, value_enum, default_value = "jsonl")]
    format: Format,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Jsonl,
    Csv,
}

/// Reads an age such as `24h`, `7d` or `90m`.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .ok()
        .filter(|age| *age <= Duration::from_secs(100 * 365 * 86_400))
        .ok_or_else(|| format!("{text:?} is not an age: write e.g. 24h, 7d or 90m"))
}

/// The RFC 3339 time `age` ago.
pub fn since(age: Duration) -> String {
    rfc3339(
        SystemTime::now()
            .checked_sub(age)
            .unwrap_or(SystemTime::UNIX_EPOCH),
    )
}

pub fn run(command: CallsCommand) -> Result<(), Failure> {
    match command {
        CallsCommand::List(args) => {
            let (_, store) = args.store.open()?;
            let filter = ListFilter {
                since: since(args.since),
                reason: args.reason,
                due_only: args.due,
            };
            let calls = store.list(&filter).map_err(Failure::runtime)?;
            print!("{}", formatted(&calls, args.format));
            Ok(())
        }
        CallsCommand::Show(args) => show(&args),
        CallsCommand::Review(args) => review(&args),
        CallsCommand::Export(args) => {
            let (_, store) = args.store.open()?;
            let filter = ListFilter {
                since: since(
                    args.since
                        .unwrap_or(Duration::from_secs(100 * 365 * 86_400)),
                ),
                ..ListFilter::default()
            };
            let calls = store.list(&filter).map_err(Failure::runtime)?;
            print!("{}", formatted(&calls, args.format));
            Ok(())
        }
    }
}

fn formatted(calls: &[CallRecord], format: Format) -> String {
    match format {
        Format::Table => table(calls),
        Format::Jsonl => calls
            .iter()
            .filter_map(|call| serde_json::to_string(call).ok())
            .map(|line| line + "\n")
            .collect(),
        Format::Csv => csv(calls),
    }
}

fn table(calls: &[CallRecord]) -> String {
    let mut text = format!(
        "{:<26} {:<24} {:<14} {:<12} {:<18} {:>5} {}\n",
        "id", "started (UTC)", "caller", "outcome", "transfer", "anger", "review"
    );
    for call in calls {
        let review = match (&call.review, &call.review_due) {
            (Some(verdict), _) => verdict.clone(),
            (None, Some(due)) => format!("due {}", &due[..16.min(due.len())]),
            (None, None) => String::new(),
        };
        text.push_str(&format!(
            "{:<26} {:<24} {:<14} {:<12} {:<18} {:>5} {}\n",
            clip(&call.id, 26),
            call.started,
            clip(&call.caller, 14),
            call.outcome.map_or("up", |o| o.as_str()),
            call.transfer_reason.as_deref().unwrap_or("-"),
            call.max_anger
                .map_or("-".to_string(), |a| format!("{a:.0}")),
            review
        ));
    }
    text.push_str(&format!("{} call(s)\n", calls.len()));
    text
}

fn clip(text: &str, width: usize) -> String {
    match text.char_indices().nth(width) {
        Some((end, _)) => format!("{}…", &text[..end.saturating_sub(1)]),
        None => text.to_string(),
    }
}

const CSV_COLUMNS: [&str; 17] = [
    "id",
    "caller",
    "dialed",
    "started",
    "ended",
    "duration_s",
    "outcome",
    "transfer_reason",
    "transfer_target",
    "transfer_via",
    "max_anger",
    "anger_above_s",
    "keywords",
    "recording",
    "review_due",
    "review",
    "review_note",
];

fn csv(calls: &[CallRecord]) -> String {
    let mut text = CSV_COLUMNS.join(",") + "\n";
    for call in calls {
        let record = serde_json::to_value(call).unwrap_or(Value::Null);
        let cells: Vec<String> = CSV_COLUMNS
            .iter()
            .map(|column| csv_cell(&record[*column]))
            .collect();
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    text
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break.
fn csv_cell(value: &Value) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn show(args: &ShowArgs) -> Result<(), Failure> {
    let (_, store) = args.store.open()?;
    let call = store
        .get(&args.id)
        .map_err(Failure::runtime)?
        .ok_or_else(|| {
            Failure::input(format!(
                "no call {:?} in the store: `voicegate calls list` shows the ids",
                args.id
            ))
        })?;
    let record = serde_json::to_value(&call).unwrap_or(Value::Null);
    if let Value::Object(fields) = &record {
        for (name, value) in fields {
            println!("{name:<16} {}", csv_cell(value));
        }
    }
    println!("timeline:");
    for line in store.events(&args.id).map_err(Failure::runtime)? {
        println!("  {}", timeline_line(&line));
    }
    Ok(())
}

/// An event line for people: its time, its kind, the rest as it is.
fn timeline_line(line: &str) -> String {
    let Ok(Value::Object(mut event)) = serde_json::from_str::<Value>(line) else {
        return line.to_string();
    };
    let kind = event
        .remove("event")
        .and_then(|k| k.as_str().map(String::from))
        .unwrap_or_default();
    // The call line has no time of its own: it comes at the call's end.
    let t = event
        .remove("t")
        .or_else(|| event.get("duration").cloned())
        .and_then(|t| t.as_f64())
        .unwrap_or(0.0);
    event.remove("call_id");
    format!("{t:>8.2}  {kind:<10} {}", Value::Object(event))
}

fn review(args: &ReviewArgs) -> Result<(), Failure> {
    let (_, store) = args.store.open()?;
    let (verdict, note) = match &args.verdict.flag {
        Some(note) => ("flagged", Some(note.as_str())),
        None => ("ok", None),
    };
    let found = store
        .review(&args.id, verdict, note)
        .map_err(Failure::runtime)?;
    if !found {
        return Err(Failure::input(format!(
            "no call {:?} in the store: `voicegate calls list` shows the ids",
            args.id
        )));
    }
    println!("{}: reviewed, {verdict}", args.id);
    Ok(())
}
