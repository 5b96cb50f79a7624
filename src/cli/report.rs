//! `voicegate report`: the three health rates against their thresholds.

use std::time::{Duration, SystemTime};

use clap::Args;

use super::calls::{parse_age, since, StoreArgs};
use super::Failure;
use crate::store::{HealthReport, ListFilter};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// How far back: e.g. 24h, 7d.
    #[arg(long, default_value = "24h", value_parser = parse_age)]
    since: Duration,
    /// One JSON object instead of the table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(args: ReportArgs) -> Result<(), Failure> {
    let (config, store) = args.store.open()?;
    let window = config.repeat_window();
    // The calls in the period, and those a repeat window before them.
    let history = ListFilter {
        since: since(args.since + window),
        ..ListFilter::default()
    };
    let calls = store.list(&history).map_err(Failure::runtime)?;
    let from = SystemTime::now()
        .checked_sub(args.since)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let report = HealthReport::of(&calls, from, window, config.alarm_thresholds());
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    Ok(())
}
