//! What the test caller saw, as lines for people or JSON Lines ending in a
//! summary (`answered`, `refer_to`, `refer_at`, `ended_by`, `prompt_audio_s`).

use std::time::Duration;

use serde_json::{json, Value};

/// One step of the call, as the caller saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Happened {
    Ringing,
    Answered {
        codec: &'static str,
    },
    Pressed {
        digit: char,
    },
    Referred {
        target: String,
    },
    HungUp {
        by_gateway: bool,
    },
    Failed {
        code: u16,
    },
    /// Nothing answered in time.
    NoAnswer,
    /// The TCP connection closed under the call.
    Lost,
}

impl Happened {
    /// The JSON line of this step at `at` seconds from the answer.
    pub fn json(&self, at: f64) -> Value {
        let t = (at * 1000.0).round() / 1000.0;
        match self {
            Happened::Ringing => json!({"t": t, "event": "ringing"}),
            Happened::Answered { codec } => json!({"t": t, "event": "answered", "codec": codec}),
            Happened::Pressed { digit } => {
                json!({"t": t, "event": "dtmf", "digit": digit.to_string()})
            }
            Happened::Referred { target } => {
                json!({"t": t, "event": "refer", "refer_to": target})
            }
            Happened::HungUp { by_gateway } => {
                json!({"t": t, "event": "hangup", "by": if *by_gateway { "gateway" } else { "caller" }})
            }
            Happened::Failed { code } => json!({"t": t, "event": "failed", "code": code}),
            Happened::NoAnswer => json!({"t": t, "event": "failed", "code": 408}),
            Happened::Lost => json!({"t": t, "event": "lost"}),
        }
    }

    /// The same step for people.
    pub fn text(&self, at: f64) -> String {
        let what = match self {
            Happened::Ringing => "ringing".to_string(),
            Happened::Answered { codec } => format!("answered ({codec}); playing the recording"),
            Happened::Pressed { digit } => format!("pressed {digit}"),
            Happened::Referred { target } => format!("REFER to {target} (accepted)"),
            Happened::HungUp { by_gateway: true } => "the gateway hung up".to_string(),
            Happened::HungUp { by_gateway: false } => "hung up".to_string(),
            Happened::Failed { code } => format!("call failed: {code}"),
            Happened::NoAnswer => "no answer".to_string(),
            Happened::Lost => "the connection to the gateway closed".to_string(),
        };
        format!("{at:>9.3}  {what}")
    }
}

/// The outcome of a test call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallReport {
    pub answered: bool,
    pub refer_to: Option<String>,
    /// Seconds from the answer.
    pub refer_at: Option<f64>,
    pub ended_by: Option<&'static str>,
    /// Audio received from the gateway above −50 dBFS.
    pub prompt_audio: Duration,
    /// The whole recording was sent.
    pub played_out: bool,
    pub failed: Option<u16>,
}

impl CallReport {
    pub fn record(&mut self, at: f64, happened: &Happened) {
        match happened {
            Happened::Answered { .. } => self.answered = true,
            Happened::Referred { target } if self.refer_to.is_none() => {
                self.refer_to = Some(target.clone());
                self.refer_at = Some(at);
            }
            Happened::HungUp { by_gateway } => {
                self.ended_by = Some(if *by_gateway { "gateway" } else { "caller" })
            }
            Happened::Failed { code } => self.failed = Some(*code),
            Happened::NoAnswer => self.failed = Some(408),
            _ => {}
        }
    }

    pub fn summary_json(&self) -> Value {
        json!({
            "event": "summary",
            "answered": self.answered,
            "refer_to": self.refer_to,
            "refer_at": self.refer_at.map(|at| (at * 1000.0).round() / 1000.0),
            "ended_by": self.ended_by,
            "prompt_audio_s": (self.prompt_audio.as_secs_f64() * 100.0).round() / 100.0,
        })
    }

    pub fn summary_text(&self) -> String {
        if !self.answered {
            return format!(
                "summary: not answered ({})",
                self.failed
                    .map_or("no response".into(), |code| code.to_string())
            );
        }
        let refer = match (&self.refer_to, self.refer_at) {
            (Some(target), Some(at)) => format!("referred to {target} at {at:.3} s"),
            _ => "no REFER".to_string(),
        };
        format!(
            "summary: answered, {refer}, ended by {}, {:.1} s of prompt audio heard",
            self.ended_by.unwrap_or("nobody"),
            self.prompt_audio.as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_the_refer_and_who_hung_up() {
        let mut report = CallReport::default();
        for (at, step) in [
            (0.0, Happened::Answered { codec: "PCMU" }),
            (
                17.0224,
                Happened::Referred {
                    target: "sip:priority@127.0.0.1".into(),
                },
            ),
            (
                17.1,
                Happened::Referred {
                    target: "sip:other@127.0.0.1".into(),
                },
            ),
            (17.5, Happened::HungUp { by_gateway: true }),
        ] {
            report.record(at, &step);
        }
        let line = report.summary_json();
        assert_eq!(line["answered"], true);
        assert_eq!(line["refer_to"], "sip:priority@127.0.0.1");
        assert_eq!(line["refer_at"], 17.022);
        assert_eq!(line["ended_by"], "gateway");
        assert!(report
            .summary_text()
            .contains("referred to sip:priority@127.0.0.1"));
    }

    #[test]
    fn an_unanswered_call_says_so() {
        let mut report = CallReport::default();
        report.record(0.0, &Happened::Failed { code: 488 });
        assert_eq!(report.summary_json()["answered"], false);
        assert_eq!(report.summary_json()["ended_by"], Value::Null);
        assert_eq!(report.summary_text(), "summary: not answered (488)");
    }
}
