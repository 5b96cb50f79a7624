//! Prompt scheduling on the call's clock: prompts play one after another,
//! each as long as its audio; the call learns when each ends, and a live
//! driver asks which frame of which prompt is due at a frame's time.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use crate::audio::CALL_RATE;
use crate::audio::FRAME_SAMPLES;

/// Length of one 20 ms frame of prompt audio.
pub const FRAME: Duration = Duration::from_millis((FRAME_SAMPLES as u64 * 1000) / CALL_RATE as u64);

/// Who asked for a prompt: the engine is told when its prompts end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    Engine,
    Handoff,
    /// The gateway's own notice at the start of a call.
    Gateway,
}

#[derive(Debug)]
struct Queued {
    name: String,
    asker: Asker,
}

#[derive(Debug)]
pub struct PromptSchedule {
    lengths: Arc<HashMap<String, Duration>>,
    queue: VecDeque<Queued>,
    /// When the first prompt of `queue` started playing.
    started: Duration,
}

/// The frame of prompt audio due at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptFrame<'a> {
    pub prompt: &'a str,
    pub index: usize,
}

impl PromptSchedule {
    /// Prompts last as long as `lengths` says (zero when unknown, as in
    /// scripted replay).
    pub fn new(lengths: Arc<HashMap<String, Duration>>) -> PromptSchedule {
        PromptSchedule {
            lengths,
            queue: VecDeque::new(),
            started: Duration::ZERO,
        }
    }

    /// Plays `name` after those queued.
    pub fn queue(&mut self, at: Duration, name: String, asker: Asker) {
        if self.queue.is_empty() {
            self.started = at;
        }
        self.queue.push_back(Queued { name, asker });
    }

    /// Stops everything playing and queued.
    pub fn stop(&mut self) {
        self.queue.clear();
    }

    /// When the prompt playing now ends.
    pub fn next_end(&self) -> Option<Duration> {
        let first = self.queue.front()?;
        Some(self.started + self.length_of(&first.name))
    }

    /// Ends the prompt playing now (at its [`Self::next_end`]); says who asked for it.
    pub fn finish_current(&mut self) -> Option<Asker> {
        let end = self.next_end()?;
        let done = self.queue.pop_front()?;
        self.started = end;
        Some(done.asker)
    }

    /// The frame due at `at`, for a driver that sends audio; prompts that
    /// ended by `at` must have been finished first.
    pub fn frame_at(&self, at: Duration) -> Option<PromptFrame<'_>> {
        let first = self.queue.front()?;
        let into = at.checked_sub(self.started)?;
        let index = (into.as_micros() / FRAME.as_micros()) as usize;
        Some(PromptFrame {
            prompt: &first.name,
            index,
        })
    }

    fn length_of(&self, prompt: &str) -> Duration {
        self.lengths.get(prompt).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> PromptSchedule {
        let lengths = HashMap::from([
            ("welcome".to_string(), Duration::from_millis(1000)),
            ("billing".to_string(), Duration::from_millis(400)),
        ]);
        PromptSchedule::new(Arc::new(lengths))
    }

    #[test]
    fn prompts_play_back_to_back_each_for_its_length() {
        let mut prompts = schedule();
        prompts.queue(Duration::from_secs(2), "welcome".into(), Asker::Engine);
        prompts.queue(Duration::from_secs(2), "billing".into(), Asker::Handoff);
        assert_eq!(prompts.next_end(), Some(Duration::from_secs(3)));
        assert_eq!(prompts.finish_current(), Some(Asker::Engine));
        assert_eq!(prompts.next_end(), Some(Duration::from_millis(3400)));
        let frame = prompts.frame_at(Duration::from_millis(3100)).unwrap();
        assert_eq!((frame.prompt, frame.index), ("billing", 5));
        assert_eq!(prompts.finish_current(), Some(Asker::Handoff));
        assert_eq!(prompts.next_end(), None);
    }

    #[test]
    fn a_prompt_queued_later_starts_when_it_is_asked_for() {
        let mut prompts = schedule();
        prompts.queue(Duration::from_secs(5), "billing".into(), Asker::Engine);
        assert_eq!(prompts.next_end(), Some(Duration::from_millis(5400)));
        let frame = prompts.frame_at(Duration::from_secs(5)).unwrap();
        assert_eq!(frame.index, 0);
    }

    #[test]
    fn an_unknown_prompt_takes_no_time_and_stop_clears_all() {
        let mut prompts = schedule();
        prompts.queue(Duration::from_secs(1), "unrecorded".into(), Asker::Engine);
        assert_eq!(prompts.next_end(), Some(Duration::from_secs(1)));
        prompts.queue(Duration::from_secs(1), "welcome".into(), Asker::Engine);
        prompts.stop();
        assert!(prompts.frame_at(Duration::from_secs(1)).is_none());
    }
}
