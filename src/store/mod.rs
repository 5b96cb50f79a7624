//! Call records: every call's row and event log, written as the call goes
//! by a sink of its typed events ([`StoreSink`]), and read back by
//! `voicegate calls`, `voicegate report` and the caller-history lookup of
//! live calls. One store for all of them, named by `[store] url` or
//! `VOICEGATE_STORE_URL`.

mod record;
mod report;
mod sink;
mod sqlite;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

pub use record::{CallRecord, Outcome, REVIEWED_REASONS};
pub use report::{HealthReport, Rate, Thresholds};
pub use sink::{RecordSettings, StoreSink};
use sqlite::Sqlite;

/// The environment variable that overrides `[store] url`.
pub const STORE_URL_VARIABLE: &str = "VOICEGATE_STORE_URL";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {detail} (check the path and its permissions, or set [store] url / VOICEGATE_STORE_URL)")]
    Database { path: PathBuf, detail: String },
    #[error("{path}: written by a newer voicegate (schema {found}; this one knows {known}): upgrade voicegate, or point [store] url at another file")]
    NewerSchema {
        path: PathBuf,
        found: usize,
        known: usize,
    },
    #[error("store url {0:?}: write sqlite:PATH (e.g. sqlite:var/voicegate.db)")]
    Url(String),
    #[error("store url {0:?}: PostgreSQL is not built into this voicegate yet; use sqlite:PATH")]
    Postgres(String),
}

impl StoreError {
    fn at(path: &Path, error: impl std::fmt::Display) -> StoreError {
        StoreError::Database {
            path: path.to_path_buf(),
            detail: error.to_string(),
        }
    }
}

/// Where the records are: `sqlite:PATH` (relative to the working directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl {
    pub path: PathBuf,
}

impl StoreUrl {
    pub fn parse(url: &str) -> Result<StoreUrl, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Err(StoreError::Postgres(url.to_string()));
        }
        match url.strip_prefix("sqlite:") {
            Some(path) if !path.trim().is_empty() => Ok(StoreUrl {
                path: PathBuf::from(path.trim()),
            }),
            _ => Err(StoreError::Url(url.to_string())),
        }
    }

    /// `VOICEGATE_STORE_URL` if set, else `configured`.
    pub fn resolve(configured: &str) -> Result<StoreUrl, StoreError> {
        match std::env::var(STORE_URL_VARIABLE) {
            Ok(url) if !url.trim().is_empty() => StoreUrl::parse(url.trim()),
            _ => StoreUrl::parse(configured),
        }
    }
}

/// Which calls `list` returns.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Calls that started at or after this (RFC 3339, UTC).
    pub since: String,
    pub reason: Option<String>,
    /// Only calls whose QA review is still open.
    pub due_only: bool,
}

/// The records, for reading and for the odd write (QA review) from a command.
pub struct Store {
    database: Mutex<Sqlite>,
}

impl Store {
    pub fn open(url: &StoreUrl) -> Result<Store, StoreError> {
        Ok(Store {
            database: Mutex::new(Sqlite::open(&url.path)?),
        })
    }

    fn with<T>(&self, run: impl FnOnce(&Sqlite) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let database = self
            .database
            .lock()
            .map_err(|_| StoreError::Url("a poisoned store".into()))?;
        run(&database)
    }

    pub fn list(&self, filter: &ListFilter) -> Result<Vec<CallRecord>, StoreError> {
        self.with(|db| db.list(filter))
    }

    pub fn get(&self, id: &str) -> Result<Option<CallRecord>, StoreError> {
        self.with(|db| db.get(id))
    }

    pub fn events(&self, id: &str) -> Result<Vec<String>, StoreError> {
        self.with(|db| db.events(id))
    }

    /// Records QA's verdict (`ok` or `flagged`); false if no such call.
    pub fn review(&self, id: &str, verdict: &str, note: Option<&str>) -> Result<bool, StoreError> {
        self.with(|db| db.review(id, verdict, note))
    }

    /// Answered calls from `caller` in the `window` before `now`.
    pub fn recent_calls(
        &self,
        caller: &str,
        now: SystemTime,
        window: Duration,
    ) -> Result<u32, StoreError> {
        let since = rfc3339(now.checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH));
        self.with(|db| db.calls_from(caller, &since))
    }
}

/// The one time format of the records: UTC, milliseconds, so that text
/// order is time order.
pub fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// Where a call's recording goes under `dir`: one file per call, named by
/// its Call-ID with anything unsafe in a file name replaced.
pub fn recording_path(dir: &Path, call_id: &str) -> PathBuf {
    let name: String = call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    dir.join(format!("{name}.wav"))
}
