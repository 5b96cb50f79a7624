//! The gateway-wide line of callers waiting for an agent ([`WaitingLines`]),
//! shared by the call tasks: each call in a line holds a [`LineTicket`] and
//! hears of its place on its own channel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use crate::engine::Priority;
use crate::metrics::Metrics;
use crate::queues::{Place, WaitingLines};

pub struct QueueBoard {
    lines: Mutex<Lines>,
    next_key: AtomicU64,
    /// Time 0 of the lines' clock.
    epoch: Instant,
    metrics: Arc<Metrics>,
}

struct Lines {
    waiting: WaitingLines,
    listeners: HashMap<u64, UnboundedSender<Place>>,
}

impl QueueBoard {
    pub fn new(expected_wait: Duration, metrics: Arc<Metrics>) -> Arc<QueueBoard> {
        Arc::new(QueueBoard {
            lines: Mutex::new(Lines {
                waiting: WaitingLines::new(expected_wait),
                listeners: HashMap::new(),
            }),
            next_key: AtomicU64::new(1),
            epoch: Instant::now(),
            metrics,
        })
    }

    /// Puts a call in `queue`'s line; its places arrive on `places`. The
    /// call leaves the line when the ticket is served or dropped.
    pub fn join(
        self: &Arc<Self>,
        queue: &str,
        priority: Priority,
        places: UnboundedSender<Place>,
    ) -> LineTicket {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let now = self.epoch.elapsed();
        self.update(|lines| {
            lines.listeners.insert(key, places);
            lines.waiting.join(now, key, queue, priority)
        });
        LineTicket {
            board: self.clone(),
            key,
            served: false,
        }
    }

    fn leave(&self, key: u64, served: bool) {
        let now = self.epoch.elapsed();
        self.update(|lines| {
            lines.listeners.remove(&key);
            lines.waiting.leave(now, key, served)
        });
    }

    /// Runs a change to the lines and tells every caller whose place moved.
    fn update(&self, change: impl FnOnce(&mut Lines) -> Vec<(u64, Place)>) {
        let mut lines = self.lock();
        for (key, place) in change(&mut lines) {
            if let Some(listener) = lines.listeners.get(&key) {
                // A call that has just ended drops its receiver: nothing to tell.
                let _ = listener.send(place);
            }
        }
        self.metrics.set_waiting(lines.waiting.waiting());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lines> {
        // The lines stay consistent across a panicking holder: each change
        // is one call into WaitingLines.
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A call's place in a line; dropping it (the call ended) leaves the line.
pub struct LineTicket {
    board: Arc<QueueBoard>,
    key: u64,
    served: bool,
}

impl LineTicket {
    /// An agent took the call.
    pub fn served(mut self) {
        self.served = true;
    }
}

impl Drop for LineTicket {
    fn drop(&mut self) {
        self.board.leave(self.key, self.served);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn callers_hear_their_places_and_a_dropped_ticket_moves_the_line() {
        let metrics = Arc::new(Metrics::default());
        let board = QueueBoard::new(Duration::from_secs(60), metrics.clone());
        let (first_tx, mut first) = tokio::sync::mpsc::unbounded_channel();
        let (second_tx, mut second) = tokio::sync::mpsc::unbounded_channel();
        let calm = board.join("agents", Priority::Normal, first_tx);
        let angry = board.join("agents", Priority::High, second_tx);
        assert_eq!(first.recv().await.unwrap().position, 1);
        assert_eq!(
            second.recv().await.unwrap().position,
            1,
            "the angry caller goes ahead"
        );
        assert_eq!(first.recv().await.unwrap().position, 2);
        assert!(metrics.render().contains("voicegate_callers_waiting 2"));
        angry.served();
        assert_eq!(first.recv().await.unwrap().position, 1);
        drop(calm);
        assert!(metrics.render().contains("voicegate_callers_waiting 0"));
    }
}
