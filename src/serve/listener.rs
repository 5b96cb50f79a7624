//! A live call's ears: the caller's audio cut into anger windows (voiced
//! audio) and keyword windows (the last second, every hop), sent to the
//! models' inference threads, and their answers turned into the engine's
//! inputs, in the order the audio came. The same windows, smoothing and
//! keyword decision as replay.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use super::scorer::Scored;
use super::Shared;
use crate::audio::{
    KeywordDecider, KeywordWindow, KeywordWindows, Smoother, VadConfig, VoicedWindows,
};
use crate::engine::Input;

/// A model answer for the listener.
pub enum Heard {
    Anger(Scored),
    Keyword(Scored),
}

/// Keyword windows in audio order: quiet ones wait behind scored ones
/// whose answers have not come back, so the decision sees them in order.
enum Pending {
    Scored,
    Quiet,
}

pub struct Listener {
    shared: Arc<Shared>,
    anger_windows: VoicedWindows,
    smoother: Smoother,
    keyword_windows: KeywordWindows,
    decider: KeywordDecider,
    pending: VecDeque<Pending>,
    anger_tx: UnboundedSender<Scored>,
    anger_rx: UnboundedReceiver<Scored>,
    keyword_tx: UnboundedSender<Scored>,
    keyword_rx: UnboundedReceiver<Scored>,
}

impl Listener {
    pub fn new(shared: Arc<Shared>) -> Listener {
        let (anger_tx, anger_rx) = mpsc::unbounded_channel();
        let (keyword_tx, keyword_rx) = mpsc::unbounded_channel();
        Listener {
            anger_windows: VoicedWindows::new(shared.window, shared.hop, VadConfig::default()),
            smoother: Smoother::new(shared.smoothing),
            keyword_windows: shared.keywords.windows(),
            decider: shared.keywords.decider(),
            pending: VecDeque::new(),
            shared,
            anger_tx,
            anger_rx,
            keyword_tx,
            keyword_rx,
        }
    }

    /// Voiced audio heard so far, for the call's log.
    pub fn voiced(&self) -> Duration {
        self.anger_windows.elapsed()
    }

    /// One frame of the caller's audio.
    pub fn hear(&mut self, frame: &[f32]) {
        for window in self.anger_windows.push(frame) {
            self.shared
                .anger_scorer
                .submit(window.samples, window.at, self.anger_tx.clone());
        }
        for window in self.keyword_windows.push(frame) {
            match window {
                KeywordWindow::Score(window) => {
                    self.pending.push_back(Pending::Scored);
                    self.shared.keyword_scorer.submit(
                        window.samples,
                        window.at,
                        self.keyword_tx.clone(),
                    );
                }
                KeywordWindow::Quiet(_) if self.pending.is_empty() => self.decider.quiet(),
                KeywordWindow::Quiet(_) => self.pending.push_back(Pending::Quiet),
            }
        }
    }

    /// The next answer from either model.
    pub async fn next(&mut self) -> Heard {
        tokio::select! {
            Some(scored) = self.anger_rx.recv() => Heard::Anger(scored),
            Some(scored) = self.keyword_rx.recv() => Heard::Keyword(scored),
        }
    }

    /// The engine input an answer makes, if any; `menu_waiting` is the
    /// engine's [`crate::engine::Call::awaits_choice`] now.
    pub fn input(&mut self, heard: Heard, menu_waiting: bool) -> Option<Input> {
        self.decider.set_menu_waiting(menu_waiting);
        match heard {
            Heard::Anger(scored) => {
                let raw = scored.row?.first().copied()?;
                let score = self.smoother.push(self.shared.calibration.score(raw));
                Some(Input::Anger { score })
            }
            Heard::Keyword(scored) => self.decide(scored),
        }
    }

    fn decide(&mut self, scored: Scored) -> Option<Input> {
        self.pending.pop_front();
        let hit = scored
            .row
            .and_then(|logits| self.decider.push(scored.audio_at, &logits));
        while let Some(Pending::Quiet) = self.pending.front() {
            self.pending.pop_front();
            self.decider.quiet();
        }
        hit.map(|hit| Input::Keyword {
            word: hit.word,
            confidence: hit.confidence,
        })
    }
}
