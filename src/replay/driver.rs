//! Drives a [`CallCore`] on a virtual clock: inputs at their timestamps,
//! windows scored synchronously in batches, every event kept.

use std::time::Duration;

use crate::callcore::{
    CallCore, CallEvent, CoreInput, CoreOutput, CoreSetup, FrontEnd, Model, ScoreJob,
};
pub use crate::infer::BATCH;
use crate::infer::{InferError, WindowModel};

/// The models that score a replayed call's windows.
#[derive(Clone, Copy)]
pub struct Scorers<'a> {
    pub anger: &'a WindowModel,
    pub keywords: Option<&'a WindowModel>,
}

/// A call run on a virtual clock.
pub struct VirtualCall {
    core: CallCore,
    events: Vec<CallEvent>,
    jobs: Vec<ScoreJob>,
}

impl VirtualCall {
    /// Answers the call at time zero.
    pub fn start(setup: CoreSetup, front: Option<FrontEnd>) -> VirtualCall {
        let mut call = VirtualCall {
            core: CallCore::new(setup, front),
            events: Vec::new(),
            jobs: Vec::new(),
        };
        call.collect();
        call
    }

    /// An input at `at`; pending windows must have been scored first.
    pub fn feed(&mut self, at: Duration, input: CoreInput) {
        self.core.handle_input(at, input);
        self.collect();
    }

    /// Caller audio whose last sample is at `at`.
    pub fn hear(&mut self, at: Duration, samples: &[f32]) {
        self.core.handle_audio(at, samples);
        self.collect();
    }

    /// Windows waiting to be scored.
    pub fn pending(&self) -> usize {
        self.jobs.len()
    }

    /// Scores every pending window, a batch per model, and hands the
    /// answers to the call in the order they were asked for.
    pub fn score(&mut self, scorers: Scorers) -> Result<(), InferError> {
        while !self.jobs.is_empty() {
            let jobs = std::mem::take(&mut self.jobs);
            let anger = rows_for(&jobs, Model::Anger, Some(scorers.anger))?;
            let keywords = rows_for(&jobs, Model::Keyword, scorers.keywords)?;
            let (mut anger, mut keywords) = (anger.into_iter(), keywords.into_iter());
            for job in jobs {
                let row = match job.model {
                    Model::Anger => anger.next(),
                    Model::Keyword => keywords.next(),
                };
                self.core.handle_input(
                    Duration::ZERO,
                    CoreInput::Scored {
                        token: job.token,
                        row,
                    },
                );
                self.collect();
            }
        }
        Ok(())
    }

    /// Ends the call at `at` (the caller hangs up unless it ended before)
    /// and returns its events, the summary last.
    pub fn finish(mut self, at: Duration) -> Vec<CallEvent> {
        self.core.finish(at);
        self.collect();
        self.events
    }

    fn collect(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                CoreOutput::Score(job) => self.jobs.push(job),
                CoreOutput::Event(event) => self.events.push(event),
                // Nobody to signal: the decision is what replay shows.
                CoreOutput::Command(command) => tracing::debug!(?command, "replay: not sent"),
            }
        }
    }
}

/// The rows of `model`'s jobs in one run; none without the model.
fn rows_for(
    jobs: &[ScoreJob],
    model: Model,
    scorer: Option<&WindowModel>,
) -> Result<Vec<Vec<f32>>, InferError> {
    let Some(scorer) = scorer else {
        return Ok(Vec::new());
    };
    let windows: Vec<&[f32]> = jobs
        .iter()
        .filter(|job| job.model == model)
        .map(|job| job.samples.as_slice())
        .collect();
    if windows.is_empty() {
        return Ok(Vec::new());
    }
    scorer.rows(&windows)
}
