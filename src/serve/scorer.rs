//! Model runs for live calls off the async runtime: one inference thread per
//! model takes windows from every call through a channel and runs them in
//! batches (whatever is queued, up to [`BATCH`]), so the
//! runtime's workers never block on ONNX Runtime. The model's session runs
//! one batch at a time anyway (it sits behind a mutex), so more threads
//! would only queue on it; batching is what raises calls per core.
//!
//! The queue is bounded (`scoring.queue_windows`): when more windows arrive
//! than the model keeps up with, the newest are skipped at once (the call
//! is told, and scores its next window) rather than queued ever later.
//! Overload costs windows, never calls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, TrySendError};
use std::sync::Arc;
use std::thread;

use tokio::sync::mpsc::UnboundedSender;

use crate::infer::{WindowModel, BATCH};
use crate::metrics::Metrics;

/// One window's model output, sent back to the call that asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The call core's token for the window.
    pub token: u64,
    /// The model's raw output row; `None` if the window was skipped or the model failed.
    pub row: Option<Vec<f32>>,
}

/// What the inference thread runs: a window model (a stand-in in tests).
pub trait RowModel: Send + Sync + 'static {
    fn name(&self) -> &str;
    /// One output row per window, or why the run failed.
    fn rows(&self, windows: &[&[f32]]) -> Result<Vec<Vec<f32>>, String>;
}

impl RowModel for WindowModel {
    fn name(&self) -> &str {
        &self.manifest().name
    }

    fn rows(&self, windows: &[&[f32]]) -> Result<Vec<Vec<f32>>, String> {
        WindowModel::rows(self, windows).map_err(|error| error.to_string())
    }
}

struct Job {
    samples: Vec<f32>,
    token: u64,
    reply: UnboundedSender<Scored>,
}

impl Job {
    fn unscored(self) {
        let _ = self.reply.send(Scored {
            token: self.token,
            row: None,
        });
    }
}

/// A handle calls use to have windows scored.
#[derive(Clone)]
pub struct Scorer {
    name: String,
    jobs: mpsc::SyncSender<Job>,
    skipped: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
}

impl Scorer {
    /// Starts the inference thread for `model`, with room for `queue`
    /// windows; skipped windows are counted in `metrics` too.
    pub fn start(
        model: Arc<dyn RowModel>,
        queue: usize,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Scorer> {
        let (jobs, waiting) = mpsc::sync_channel::<Job>(queue);
        let name = model.name().to_string();
        thread::Builder::new()
            .name(format!("infer-{name}"))
            .spawn({
                let metrics = metrics.clone();
                move || run(model.as_ref(), &waiting, &metrics)
            })?;
        Ok(Scorer {
            name,
            jobs,
            skipped: Arc::default(),
            metrics,
        })
    }

    /// Queues a window; its answer arrives on `reply`: the row, or `None`
    /// at once if the queue is full, or if the model failed or its thread
    /// has stopped.
    pub fn submit(&self, samples: Vec<f32>, token: u64, reply: UnboundedSender<Scored>) {
        let job = Job {
            samples,
            token,
            reply,
        };
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(job)) => {
                let skipped = self.skipped.fetch_add(1, Ordering::Relaxed) + 1;
                self.metrics.count_error("skipped_window");
                // The first of a spell, then every thousandth: a log line per
                // skipped window would add to the overload.
                if skipped % 1000 == 1 {
                    tracing::warn!(model = %self.name, skipped, "inference is behind: windows skipped");
                }
                job.unscored();
            }
            Err(TrySendError::Disconnected(job)) => {
                tracing::error!(model = %self.name, "the inference thread has stopped; a window went unscored");
                job.unscored();
            }
        }
    }

    /// Windows skipped so far because the queue was full.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
}

fn run(model: &dyn RowModel, queue: &mpsc::Receiver<Job>, metrics: &Metrics) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        batch.extend(queue.try_iter().take(BATCH - 1));
        let windows: Vec<&[f32]> = batch.iter().map(|job| job.samples.as_slice()).collect();
        let started = std::time::Instant::now();
        let result = model.rows(&windows);
        metrics.observe_inference(started.elapsed().as_secs_f64());
        let rows = match result {
            Ok(rows) if rows.len() == batch.len() => rows.into_iter().map(Some).collect(),
            Ok(_) => vec![None; batch.len()],
            Err(error) => {
                tracing::error!(%error, model = model.name(), "model run failed");
                vec![None; batch.len()]
            }
        };
        for (job, row) in batch.into_iter().zip(rows) {
            // A call that ended meanwhile has dropped its receiver: nothing to do.
            let _ = job.reply.send(Scored {
                token: job.token,
                row,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, Mutex};

    /// A model that holds every run until the test opens its gate, then
    /// answers each window with its first sample.
    #[derive(Default)]
    struct GatedModel {
        open: Mutex<bool>,
        opened: Condvar,
    }

    impl GatedModel {
        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.opened.notify_all();
        }
    }

    impl RowModel for GatedModel {
        fn name(&self) -> &str {
            "gated"
        }

        fn rows(&self, windows: &[&[f32]]) -> Result<Vec<Vec<f32>>, String> {
            let open = self.open.lock().unwrap();
            drop(self.opened.wait_while(open, |open| !*open).unwrap());
            Ok(windows.iter().map(|w| vec![w[0]]).collect())
        }
    }

    #[test]
    fn a_model_that_falls_behind_skips_the_newest_windows_at_once_and_scores_the_rest() {
        let model = Arc::new(GatedModel::default());
        let scorer = Scorer::start(model.clone(), 4, Arc::default()).unwrap();
        let (reply, mut answers) = tokio::sync::mpsc::unbounded_channel();
        for token in 0..100u64 {
            scorer.submit(vec![token as f32], token, reply.clone());
        }
        // The thread holds at most one batch and the queue four: the other
        // 80 or more were answered, unscored, before the model ran at all.
        let mut skipped = Vec::new();
        while let Ok(answer) = answers.try_recv() {
            assert_eq!(answer.row, None);
            skipped.push(answer.token);
        }
        assert!(
            skipped.len() >= 100 - 4 - BATCH,
            "{} skipped",
            skipped.len()
        );
        assert_eq!(scorer.skipped(), skipped.len() as u64);
        model.open();
        let mut scored = Vec::new();
        while scored.len() + skipped.len() < 100 {
            let answer = answers.blocking_recv().expect("every window is answered");
            assert_eq!(answer.row, Some(vec![answer.token as f32]));
            scored.push(answer.token);
        }
        assert!(!scored.is_empty());
        assert!(scored.iter().all(|token| !skipped.contains(token)));
        // Caught up, nothing is skipped.
        scorer.submit(vec![99.0], 99, reply);
        let late = answers.blocking_recv().unwrap();
        assert_eq!((late.token, late.row), (99, Some(vec![99.0])));
    }
}
