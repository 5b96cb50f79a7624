//! ONNX inference with `ort`: model manifests, the runtime library, and
//! window models. Nothing here knows about calls; the audio front end feeds
//! windows and the engine receives scores.

mod keywords;
mod manifest;
mod model;
mod runtime;

use std::path::PathBuf;

pub use keywords::KeywordModel;
pub use manifest::{Calibration, Detection, Manifest, OutputSpec, StageSpec, TensorSpec};
pub use model::{WindowModel, BATCH};
pub use runtime::{environment, find_library, LIBRARY_ENV};

#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("{path}: cannot read: {source} (models/ ships anger.onnx with anger.toml; retrain with tools/train or restore the file)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Manifest {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{model}: sha256 is {actual}, but {manifest} says {expected}: the model and its manifest do not belong together; retrain, or restore both from git")]
    Checksum {
        model: PathBuf,
        manifest: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{0}")]
    Runtime(String),
    #[error("{path}: cannot build an ONNX session: {message}")]
    Session { path: PathBuf, message: String },
    #[error("a window has {actual} samples, the model takes {expected}")]
    WindowLength { expected: usize, actual: usize },
    #[error("inference failed: {0}")]
    Run(String),
    #[error("the model session was poisoned by an earlier panic")]
    Poisoned,
}
