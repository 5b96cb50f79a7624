//! Replay: calls driven through the engine on a virtual clock, from scripts
//! (and, later, recordings), with the timeline and JSON Lines output.

mod driver;
mod expect;
mod plot;
mod recording;
mod report;
mod script;

pub use driver::{Scorers, VirtualCall, BATCH};
pub use expect::{differences, load_expected, ExpectError, Expected};
pub use plot::{plot_anger, PlotError};
pub use recording::{RecordingError, RecordingReplay};
pub use report::{json_lines, summary_line, timeline};
pub use script::{load_script, parse_script, Script, ScriptError};

use std::sync::Arc;
use std::time::SystemTime;

use crate::callcore::{CallEvent, CallerId, CoreInput, CoreSetup, HandoffSettings};
use crate::engine::EngineConfig;
use crate::menu::Menu;

/// A replayed call's set-up: no line, prompts as long as `prompt_lengths`
/// (none for scripts: they finish at once).
pub fn replay_setup(
    engine: Arc<EngineConfig>,
    menu: Option<Arc<Menu>>,
    caller: CallerId,
) -> CoreSetup {
    CoreSetup {
        engine,
        menu,
        caller,
        started: SystemTime::now(),
        prompt_lengths: Arc::default(),
        queues: Arc::default(),
        handoff: HandoffSettings::default(),
        inactivity: None,
        notice: None,
    }
}

/// Runs a script through the call core and returns the call's events.
pub fn run_script(
    config: Arc<EngineConfig>,
    menu: Option<Arc<Menu>>,
    script: &Script,
) -> Vec<CallEvent> {
    let setup = replay_setup(config, menu, script.caller.clone());
    let mut call = VirtualCall::start(setup, None);
    for (at, input) in &script.events {
        call.feed(*at, CoreInput::Engine(input.clone()));
    }
    let end = script.events.last().map(|(at, _)| *at).unwrap_or_default();
    call.finish(end)
}
