//! Call records: every call's row and event log, written as the call goes
//! by a sink of its typed events ([`StoreSink`]), and read back by
//! `voicegate calls`, `voicegate report` and the caller-history lookup of
//! live calls. One store for all of them, named by `[store] url` or
//! `VOICEGATE_STORE_URL`.

#[cfg(test)]
mod pg_server;
mod postgres;
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
    #[error("{place}: {detail} (check it is there and voicegate may use it, or set [store] url / VOICEGATE_STORE_URL)")]
    Database { place: String, detail: String },
    #[error("{place}: written by a newer voicegate (schema {found}; this one knows {known}): upgrade voicegate, or point [store] url at another store")]
    NewerSchema {
        place: String,
        found: usize,
        known: usize,
    },
    #[error("store url {0:?}: write sqlite:PATH (e.g. sqlite:var/voicegate.db) or postgres://USER@HOST:PORT/DATABASE")]
    Url(String),
}

impl StoreError {
    fn at(place: &str, error: impl std::fmt::Display) -> StoreError {
        StoreError::Database {
            place: place.to_string(),
            detail: error.to_string(),
        }
    }
}

/// Where the records are: a SQLite file (relative to the working
/// directory), or a PostgreSQL database that several gateways share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    /// A `postgres://` connection URL, as libpq takes it.
    Postgres(String),
}

impl StoreUrl {
    pub fn parse(url: &str) -> Result<StoreUrl, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(url.to_string()));
        }
        match url.strip_prefix("sqlite:") {
            Some(path) if !path.trim().is_empty() => {
                Ok(StoreUrl::Sqlite(PathBuf::from(path.trim())))
            }
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

    /// The store for messages: the file, or the database without its password.
    pub fn place(&self) -> String {
        match self {
            StoreUrl::Sqlite(path) => path.display().to_string(),
            StoreUrl::Postgres(url) => postgres::without_password(url),
        }
    }

    fn open(&self) -> Result<Box<dyn Backend>, StoreError> {
        Ok(match self {
            StoreUrl::Sqlite(path) => Box::new(Sqlite::open(path)?),
            StoreUrl::Postgres(url) => Box::new(postgres::Postgres::open(url)?),
        })
    }

    /// Opens the store on a thread of its own named `name`, which then runs
    /// `serve` with it. The PostgreSQL client runs a runtime of its own and
    /// must never be opened, used or dropped on a tokio thread; SQLite
    /// does not mind. The open's error comes back here.
    fn open_on_thread(
        &self,
        name: &str,
        serve: impl FnOnce(Box<dyn Backend>) + Send + 'static,
    ) -> Result<(), StoreError> {
        let (ready, opened) = std::sync::mpsc::channel();
        let url = self.clone();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || match url.open() {
                Ok(backend) => {
                    let _ = ready.send(Ok(()));
                    serve(backend);
                }
                Err(error) => {
                    let _ = ready.send(Err(error));
                }
            })
            .map_err(|e| StoreError::at(&self.place(), e))?;
        opened
            .recv()
            .map_err(|e| StoreError::at(&self.place(), e))?
    }
}

/// What a store does, whichever database keeps it. Each write goes into the
/// transaction the writer began.
trait Backend: Send {
    fn begin(&mut self) -> Result<(), StoreError>;
    fn commit(&mut self) -> Result<(), StoreError>;
    fn start_call(
        &mut self,
        id: &str,
        caller: &str,
        dialed: &str,
        answered: bool,
        started: &str,
    ) -> Result<(), StoreError>;
    fn add_event(&mut self, id: &str, seq: u64, t: f64, line: &str) -> Result<(), StoreError>;
    fn end_call(&mut self, record: &CallRecord) -> Result<(), StoreError>;
    /// Answered calls from `caller` that started at or after `since` (RFC 3339).
    /// Answered calls from `caller` since `since`, counted up to `at_most`.
    fn calls_from(&mut self, caller: &str, since: &str, at_most: u32) -> Result<u32, StoreError>;
    fn list(&mut self, filter: &ListFilter) -> Result<Vec<CallRecord>, StoreError>;
    fn get(&mut self, id: &str) -> Result<Option<CallRecord>, StoreError>;
    /// A call's event lines, in order.
    fn events(&mut self, id: &str) -> Result<Vec<String>, StoreError>;
    /// Marks a call reviewed; false if there is no such call.
    fn review(&mut self, id: &str, verdict: &str, note: Option<&str>) -> Result<bool, StoreError>;
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

/// Work for the store's thread.
type Job = Box<dyn FnOnce(&mut dyn Backend) + Send>;

/// The records, for reading and for the odd write (QA review) from a
/// command or a live call's history lookup; the database is on its own
/// thread (see [`StoreUrl::open_on_thread`]).
pub struct Store {
    jobs: Mutex<std::sync::mpsc::Sender<Job>>,
}

impl Store {
    pub fn open(url: &StoreUrl) -> Result<Store, StoreError> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        url.open_on_thread("store-reader", move |mut backend| {
            for job in queue {
                job(backend.as_mut());
            }
        })?;
        Ok(Store {
            jobs: Mutex::new(jobs),
        })
    }

    /// Runs `work` on the store's thread and waits for its answer.
    fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut dyn Backend) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.within(Duration::MAX, work)
    }

    /// [`Self::with`], waiting at most `wait` for the answer.
    fn within<T: Send + 'static>(
        &self,
        wait: Duration,
        work: impl FnOnce(&mut dyn Backend) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let gone = || StoreError::at("the store", "its thread has stopped");
        let (answer, answered) = std::sync::mpsc::channel();
        let job: Job = Box::new(move |backend| {
            let _ = answer.send(work(backend));
        });
        self.jobs
            .lock()
            .map_err(|_| gone())?
            .send(job)
            .map_err(|_| gone())?;
        match answered.recv_timeout(wait) {
            Ok(answer) => answer,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(StoreError::at(
                "the store",
                format!("no answer within {} ms", wait.as_millis()),
            )),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(gone()),
        }
    }

    pub fn list(&self, filter: &ListFilter) -> Result<Vec<CallRecord>, StoreError> {
        let filter = filter.clone();
        self.with(move |db| db.list(&filter))
    }

    pub fn get(&self, id: &str) -> Result<Option<CallRecord>, StoreError> {
        let id = id.to_string();
        self.with(move |db| db.get(&id))
    }

    pub fn events(&self, id: &str) -> Result<Vec<String>, StoreError> {
        let id = id.to_string();
        self.with(move |db| db.events(&id))
    }

    /// Records QA's verdict (`ok` or `flagged`); false if no such call.
    pub fn review(&self, id: &str, verdict: &str, note: Option<&str>) -> Result<bool, StoreError> {
        let (id, verdict, note) = (id.to_string(), verdict.to_string(), note.map(String::from));
        self.with(move |db| db.review(&id, &verdict, note.as_deref()))
    }

    /// Answered calls from `caller` in the `window` before `now`, counted up
    /// to `at_most` (all the repeat-caller rule asks; a number every call
    /// shares, such as a withheld one, would otherwise cost a count of its
    /// whole history on each call), if the store answers within `wait` (a
    /// call must not wait on a slow store).
    pub fn recent_calls(
        &self,
        caller: &str,
        (now, window): (SystemTime, Duration),
        at_most: u32,
        wait: Duration,
    ) -> Result<u32, StoreError> {
        let since = rfc3339(now.checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH));
        let caller = caller.to_string();
        self.within(wait, move |db| db.calls_from(&caller, &since, at_most))
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
