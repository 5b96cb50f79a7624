//! Scripted calls: JSON Lines of timed events, e.g.
//! `{"t":1.5,"dtmf":"1"}`, `{"t":4,"anger":85}`, `{"t":5,"keyword":"人工"}`,
//! `{"t":9,"hangup":true}`, and optionally a first
//! `{"t":0,"start":{"caller":"+15550100","dialed":"100","recent_calls":2}}`.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::callcore::CallerId;
use crate::dtmf::dtmf_key;
use crate::engine::Input;

/// Why a script could not be read.
pub type ScriptError = crate::source::FileError;

/// A parsed script: who calls, and what happens when.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub caller: CallerId,
    /// Inputs in time order; the call ends at the last one (or its hang-up).
    pub events: Vec<(Duration, Input)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    t: f64,
    dtmf: Option<String>,
    keyword: Option<String>,
    confidence: Option<f32>,
    anger: Option<f32>,
    hangup: Option<bool>,
    start: Option<RawStart>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStart {
    caller: String,
    #[serde(default)]
    dialed: Option<String>,
    #[serde(default)]
    recent_calls: u32,
}

/// A day: no script needs more, and larger times would not fit the clock.
const MAX_CALL_S: f64 = 86_400.0;

pub fn load_script(path: &Path) -> Result<Script, ScriptError> {
    let text = crate::source::read_text(path, "script", "check the path")?;
    parse_script(&text, path)
}

pub fn parse_script(text: &str, path: &Path) -> Result<Script, ScriptError> {
    let mut script = Script {
        caller: CallerId::default(),
        events: Vec::new(),
    };
    let mut last_t = 0.0_f64;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let invalid = |message: String| ScriptError::invalid(path, index + 1, message);
        let raw: RawEvent = serde_json::from_str(line).map_err(|error| {
            invalid(format!(
                "not a script event: {error}; expected e.g. {{\"t\":1.5,\"dtmf\":\"1\"}}"
            ))
        })?;
        if !raw.t.is_finite() || raw.t < 0.0 {
            return Err(invalid(format!(
                "t = {} is not a time: use seconds since the call started, 0 or more",
                raw.t
            )));
        }
        if raw.t > MAX_CALL_S {
            return Err(invalid(format!(
                "t = {:e} is past the longest call voicegate replays ({MAX_CALL_S} s)",
                raw.t
            )));
        }
        if raw.t < last_t {
            return Err(invalid(format!(
                "time goes backwards: t = {} after t = {last_t}; sort the lines by t",
                raw.t
            )));
        }
        last_t = raw.t;
        let at = Duration::from_secs_f64(raw.t);
        match event_of(raw).map_err(invalid)? {
            Event::Start(caller) if script.events.is_empty() => script.caller = caller,
            Event::Start(_) => {
                return Err(invalid(
                    "`start` must be the first event of the script".into(),
                ))
            }
            Event::Input(input) => script.events.push((at, input)),
        }
    }
    Ok(script)
}

enum Event {
    Start(CallerId),
    Input(Input),
}

fn event_of(raw: RawEvent) -> Result<Event, String> {
    let kinds = [
        raw.dtmf.is_some(),
        raw.keyword.is_some(),
        raw.anger.is_some(),
        raw.hangup.is_some(),
        raw.start.is_some(),
    ];
    if kinds.iter().filter(|&&present| present).count() != 1 {
        return Err("each line needs exactly one of dtmf, keyword, anger, hangup, start".into());
    }
    if raw.confidence.is_some() && raw.keyword.is_none() {
        return Err("`confidence` belongs to a `keyword` event".into());
    }
    if let Some(digit) = raw.dtmf {
        return dtmf_of(&digit).map(|d| Event::Input(Input::Dtmf(d)));
    }
    if let Some(word) = raw.keyword {
        let confidence = raw.confidence.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&confidence) {
            return Err(format!("confidence {confidence} is outside 0..=1"));
        }
        return Ok(Event::Input(Input::Keyword { word, confidence }));
    }
    if let Some(score) = raw.anger {
        if !(0.0..=100.0).contains(&score) {
            return Err(format!("anger {score} is outside 0..=100"));
        }
        return Ok(Event::Input(Input::Anger { score }));
    }
    if let Some(start) = raw.start {
        return Ok(Event::Start(CallerId {
            caller: start.caller,
            dialed: start.dialed.unwrap_or_else(|| CallerId::default().dialed),
            recent_calls: start.recent_calls,
            // The tester says who calls: a script's caller is as asserted.
            verified: true,
        }));
    }
    match raw.hangup {
        Some(true) => Ok(Event::Input(Input::HungUp)),
        _ => Err("`hangup` must be true".into()),
    }
}

fn dtmf_of(text: &str) -> Result<char, String> {
    dtmf_key(text).ok_or_else(|| format!("dtmf {text:?} is not one key: use one of 0-9, *, #, A-D"))
}
