//! Model runs for live calls off the async runtime: inference threads take
//! windows from every call through one channel per model and run them in
//! batches (whatever is queued, up to [`BATCH`]), so the
//! runtime's workers never block on ONNX Runtime. A session runs one batch
//! at a time (it sits behind a mutex), so each thread has a model instance
//! of its own; batching is what raises calls per core.
//!
//! Keyword threads run at a lower priority than the rest of the process:
//! when the cores are short, the calls' SIP and RTP work and the anger
//! decision go first and keyword windows wait (then are skipped, below),
//! instead of every call's packets and transfers being late together.
//!
//! The queue is bounded (`scoring.queue_windows`): when more windows arrive
//! than the model keeps up with, the newest are skipped at once (the call
//! is told, and scores its next window) rather than queued ever later.
//! Overload costs windows, never calls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, TrySendError};
use std::sync::{Arc, Mutex};
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

/// How much lower than the calls a [`Priority::BelowCalls`] thread runs
/// (added to the nice value): low enough that packets win the cores, not so
/// low that a busy machine's other programs starve the model.
const INFERENCE_NICENESS: i32 = 10;
/// The lowest priority Linux has.
const NICEST: i32 = 19;

/// Where a model's inference threads stand against the calls' own work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// As the calls: the anger model, cheap, and the decision that
    /// transfers a caller, which must not wait behind the spotter.
    Calls,
    /// Below the calls: the keyword spotter, the largest cost per call,
    /// which yields the cores under overload.
    BelowCalls,
}

impl Scorer {
    /// Starts one inference thread for each of `instances` (one model,
    /// loaded once per thread) at `priority`, sharing room for `queue`
    /// windows; skipped windows are counted in `metrics` too.
    pub fn start(
        instances: Vec<Arc<dyn RowModel>>,
        priority: Priority,
        queue: usize,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Scorer> {
        let (jobs, waiting) = mpsc::sync_channel::<Job>(queue);
        let waiting = Arc::new(Mutex::new(waiting));
        let name = instances
            .first()
            .map(|model| model.name().to_string())
            .unwrap_or_default();
        for (index, model) in instances.into_iter().enumerate() {
            let (metrics, waiting) = (metrics.clone(), waiting.clone());
            thread::Builder::new()
                .name(format!("infer-{name}-{index}"))
                .spawn(move || {
                    if priority == Priority::BelowCalls {
                        lower_this_threads_priority();
                    }
                    run(model.as_ref(), &waiting, &metrics)
                })?;
        }
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

/// On Linux a nice value belongs to a thread; elsewhere, or if refused,
/// inference keeps the process's priority, which is only slower under overload.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: these calls take and return plain integers only.
        let refused = unsafe {
            let thread = libc::gettid() as libc::id_t;
            let nice = libc::getpriority(libc::PRIO_PROCESS, thread);
            let lower = (nice + INFERENCE_NICENESS).min(NICEST);
            libc::setpriority(libc::PRIO_PROCESS, thread, lower) != 0
        };
        if refused {
            tracing::warn!(
                "could not lower the inference thread's priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// The next batch: waits for one window, then takes what else is queued.
/// `None` once every call's handle has gone.
fn next_batch(queue: &Mutex<mpsc::Receiver<Job>>) -> Option<Vec<Job>> {
    let queue = queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let first = queue.recv().ok()?;
    let mut batch = vec![first];
    batch.extend(queue.try_iter().take(BATCH - 1));
    Some(batch)
}

fn run(model: &dyn RowModel, queue: &Mutex<mpsc::Receiver<Job>>, metrics: &Metrics) {
    while let Some(batch) = next_batch(queue) {
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
        let scorer =
            Scorer::start(vec![model.clone()], Priority::Calls, 4, Arc::default()).unwrap();
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

    /// A model whose every run waits (up to 5 s) for a second run to be
    /// under way at once, and answers 1 if one was, 0 if not.
    #[derive(Default)]
    struct PairedModel {
        running: Mutex<usize>,
        changed: Condvar,
    }

    impl PairedModel {
        fn wait_for_runs(&self, runs: usize) -> bool {
            let running = self.running.lock().unwrap();
            let timeout = std::time::Duration::from_secs(5);
            let (_running, waited) = self
                .changed
                .wait_timeout_while(running, timeout, |running| *running < runs)
                .unwrap();
            !waited.timed_out()
        }
    }

    impl RowModel for PairedModel {
        fn name(&self) -> &str {
            "paired"
        }

        fn rows(&self, windows: &[&[f32]]) -> Result<Vec<Vec<f32>>, String> {
            *self.running.lock().unwrap() += 1;
            self.changed.notify_all();
            let paired = self.wait_for_runs(2);
            Ok(vec![vec![f32::from(u8::from(paired))]; windows.len()])
        }
    }

    #[test]
    fn two_instances_score_two_windows_at_once() {
        let model = Arc::new(PairedModel::default());
        let instances: Vec<Arc<dyn RowModel>> = vec![model.clone(), model.clone()];
        let scorer = Scorer::start(instances, Priority::Calls, 16, Arc::default()).unwrap();
        let (reply, mut answers) = tokio::sync::mpsc::unbounded_channel();
        scorer.submit(vec![0.0], 0, reply.clone());
        assert!(model.wait_for_runs(1), "the first window was never run");
        // The first thread is busy with window 0: only the second can take this.
        scorer.submit(vec![1.0], 1, reply);
        let rows: Vec<_> = (0..2)
            .map(|_| answers.blocking_recv().unwrap().row)
            .collect();
        assert_eq!(
            rows,
            vec![Some(vec![1.0]); 2],
            "the two windows did not run together"
        );
    }

    /// Answers each window with the nice value of the thread that ran it.
    struct NiceModel;

    impl RowModel for NiceModel {
        fn name(&self) -> &str {
            "nice"
        }

        fn rows(&self, windows: &[&[f32]]) -> Result<Vec<Vec<f32>>, String> {
            // SAFETY: plain integers in and out.
            let nice =
                unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
            Ok(vec![vec![nice as f32]; windows.len()])
        }
    }

    /// The nice value of the thread that runs a window at `priority`.
    fn nice_at(priority: Priority) -> i32 {
        let scorer = Scorer::start(vec![Arc::new(NiceModel)], priority, 16, Arc::default());
        let (reply, mut answers) = tokio::sync::mpsc::unbounded_channel();
        scorer.unwrap().submit(vec![0.0], 0, reply);
        answers.blocking_recv().unwrap().row.unwrap()[0] as i32
    }

    #[test]
    fn keyword_inference_runs_below_the_calls_and_anger_inference_beside_them() {
        // SAFETY: as above, for the test's own thread.
        let calls = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        let below = nice_at(Priority::BelowCalls);
        assert_eq!(below, (calls + INFERENCE_NICENESS).min(NICEST));
        assert!(calls == NICEST || below > calls);
        assert_eq!(nice_at(Priority::Calls), calls);
    }
}
