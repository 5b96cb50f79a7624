//! Replay: calls driven through the engine on a virtual clock, from scripts
//! (and, later, recordings), with the timeline and JSON Lines output.

mod driver;
mod expect;
mod plot;
mod recording;
mod report;
mod script;

pub use driver::{CallerId, Logged, Step, VirtualCall};
pub use expect::{differences, load_expected, ExpectError, Expected};
pub use plot::{plot_anger, PlotError};
pub use recording::{RecordingError, RecordingReplay};
pub use report::{json_event, json_lines, summarize, summary_line, timeline, Summary};
pub use script::{load_script, parse_script, Script, ScriptError};

use std::collections::HashMap;
use std::sync::Arc;

use crate::engine::EngineConfig;
use crate::menu::Menu;

/// Runs a script through the engine and returns the call's log.
pub fn run_script(
    config: Arc<EngineConfig>,
    menu: Option<Arc<Menu>>,
    script: &Script,
) -> Vec<Logged> {
    let mut call = VirtualCall::start(
        config,
        menu,
        script.caller.clone(),
        Arc::new(HashMap::new()),
    );
    for (at, input) in &script.events {
        call.feed(*at, input.clone());
    }
    let end = script.events.last().map(|(at, _)| *at).unwrap_or_default();
    call.finish(end)
}
