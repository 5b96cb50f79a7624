//! Positions in text files the user wrote (TOML, JSON Lines), for errors
//! that name file:line.

use std::path::{Path, PathBuf};

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Where a TOML error is (its line, or 1) and what it says, on one line.
pub fn toml_problem(text: &str, error: &toml::de::Error) -> (usize, String) {
    let line = error.span().map_or(1, |span| line_of(text, span.start));
    (line, error.message().trim().replace('\n', " "))
}

/// A problem with a file the user wrote: it cannot be read, or it is wrong
/// at a line. One shape for configurations, menus, scripts and fixtures.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: cannot read {what}: {source} ({hint})")]
    Io {
        path: PathBuf,
        /// What the file is ("menu file", "script", …).
        what: &'static str,
        /// How to fix it.
        hint: &'static str,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

impl FileError {
    pub fn invalid(path: &Path, line: usize, message: impl Into<String>) -> FileError {
        FileError::Invalid {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    /// A TOML syntax or schema error in `text`, at its line.
    pub fn toml(path: &Path, text: &str, error: &toml::de::Error) -> FileError {
        let (line, message) = toml_problem(text, error);
        FileError::invalid(path, line, message)
    }
}

/// The text of `path`, a `what` the user wrote; `hint` says how to fix a
/// file that cannot be read.
pub fn read_text(path: &Path, what: &'static str, hint: &'static str) -> Result<String, FileError> {
    std::fs::read_to_string(path).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        what,
        hint,
        source,
    })
}
