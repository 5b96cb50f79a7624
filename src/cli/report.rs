//! `voicegate report`: the three health rates against their thresholds.

use std::time::Duration;

use clap::Args;

use super::calls::{parse_age, StoreArgs};
use super::Failure;
use crate::store::HealthReport;

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
    let report = HealthReport::recent(
        &store,
        args.since,
        config.repeat_window(),
        config.alarm_thresholds(),
    )
    .map_err(Failure::runtime)?;
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    Ok(())
}
