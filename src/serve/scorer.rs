//! Model runs for live calls off the async runtime: one inference thread per
//! model takes windows from every call through a channel and runs them in
//! batches (whatever is queued, up to [`BATCH`]), so the
//! runtime's workers never block on ONNX Runtime. The model's session runs
//! one batch at a time anyway (it sits behind a mutex), so more threads
//! would only queue on it; batching is what raises calls per core.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use tokio::sync::mpsc::UnboundedSender;

use crate::infer::{WindowModel, BATCH};

/// One window's model output, sent back to the call that asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The call core's token for the window.
    pub token: u64,
    /// The model's raw output row; `None` if the model failed.
    pub row: Option<Vec<f32>>,
}

struct Job {
    samples: Vec<f32>,
    token: u64,
    reply: UnboundedSender<Scored>,
}

/// A handle calls use to have windows scored.
#[derive(Clone)]
pub struct Scorer {
    jobs: mpsc::Sender<Job>,
}

impl Scorer {
    /// Starts the inference thread for `model`.
    pub fn start(model: Arc<WindowModel>) -> std::io::Result<Scorer> {
        let (jobs, queue) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name(format!("infer-{}", model.manifest().name))
            .spawn(move || run(&model, &queue))?;
        Ok(Scorer { jobs })
    }

    /// Queues a window; its answer arrives on `reply` (`None` if the
    /// model failed or its thread has stopped).
    pub fn submit(&self, samples: Vec<f32>, token: u64, reply: UnboundedSender<Scored>) {
        let job = Job {
            samples,
            token,
            reply,
        };
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            tracing::error!("the inference thread has stopped; a window went unscored");
            let _ = job.reply.send(Scored {
                token: job.token,
                row: None,
            });
        }
    }
}

fn run(model: &WindowModel, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        batch.extend(queue.try_iter().take(BATCH - 1));
        let windows: Vec<&[f32]> = batch.iter().map(|job| job.samples.as_slice()).collect();
        let rows = match model.rows(&windows) {
            Ok(rows) if rows.len() == batch.len() => rows.into_iter().map(Some).collect(),
            Ok(_) => vec![None; batch.len()],
            Err(error) => {
                tracing::error!(%error, model = %model.manifest().name, "model run failed");
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
