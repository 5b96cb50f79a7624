//! Where voicegate looks for files it ships (the model, the ONNX Runtime
//! wheel in `.venv`) when no path is configured: the working directory, then
//! the executable's directory and its ancestors (`target/release/voicegate`
//! finds the checkout it was built in).

use std::path::{Path, PathBuf};

pub fn search_roots() -> Vec<PathBuf> {
    let mut roots = vec![std::env::current_dir().unwrap_or_default()];
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    roots
}

/// The first `root/relative` that exists.
pub fn find_shipped(relative: &str) -> Option<PathBuf> {
    search_roots()
        .into_iter()
        .map(|root| root.join(relative))
        .find(|path| path.exists())
}
