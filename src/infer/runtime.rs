//! Finding and loading the ONNX Runtime shared library once per process.
//! voicegate uses `ort` with `load-dynamic`: the library comes from the
//! onnxruntime Python wheel that `scripts/setup.sh` installs into `.venv`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

use super::InferError;

/// Overrides the library search.
pub const LIBRARY_ENV: &str = "VOICEGATE_ORT_LIB";

static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

/// The process's ONNX Runtime environment, created on first use; later
/// calls return the first outcome.
pub fn environment() -> Result<&'static Environment, InferError> {
    let outcome = ENVIRONMENT.get_or_init(|| {
        let library = find_library().map_err(|error| error.to_string())?;
        let cannot_load = |error: &dyn std::fmt::Display| {
            format!(
                "{}: cannot load ONNX Runtime: {error} (reinstall it with scripts/setup.sh)",
                library.display()
            )
        };
        let builder = ort::init_from(&library).map_err(|error| cannot_load(&error))?;
        builder
            .with_name("voicegate")
            .build()
            .map_err(|error| cannot_load(&error))
    });
    outcome
        .as_ref()
        .map_err(|message| InferError::Runtime(message.clone()))
}

/// `VOICEGATE_ORT_LIB`, else the onnxruntime wheel in a `.venv` in the working
/// directory or beside (or above) the executable.
pub fn find_library() -> Result<PathBuf, InferError> {
    if let Some(path) = std::env::var_os(LIBRARY_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(InferError::Runtime(format!(
                "{LIBRARY_ENV}={} is not a file: point it at libonnxruntime.so or unset it",
                path.display()
            )))
        };
    }
    crate::paths::search_roots()
        .iter()
        .find_map(|root| library_in_venv(&root.join(".venv")))
        .ok_or_else(|| {
            InferError::Runtime(
                "ONNX Runtime library not found: run scripts/setup.sh (it installs the onnxruntime wheel into .venv), or set VOICEGATE_ORT_LIB to libonnxruntime.so".into(),
            )
        })
}

fn library_in_venv(venv: &Path) -> Option<PathBuf> {
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    lib.flatten()
        .map(|python| python.path().join("site-packages/onnxruntime/capi"))
        .filter_map(|capi| std::fs::read_dir(capi).ok())
        .flat_map(|entries| entries.flatten().map(|entry| entry.path()))
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("libonnxruntime.so"))
        })
}
