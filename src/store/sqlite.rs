//! The call records in SQLite (rusqlite, bundled): WAL, so readers (the
//! `calls` and `report` commands, a second gateway's history lookups) never
//! wait on the writer; versioned migrations in `PRAGMA user_version`.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::record::{CallRecord, CallRow, Outcome};
use super::{Backend, ListFilter, StoreError};

/// Each migration brings the schema from its index to the next version.
const MIGRATIONS: [&str; 1] = [r#"
CREATE TABLE calls (
    id TEXT PRIMARY KEY,
    caller TEXT NOT NULL,
    dialed TEXT NOT NULL,
    answered INTEGER NOT NULL,
    started TEXT NOT NULL,
    ended TEXT,
    duration_s REAL,
    hops INTEGER,
    max_anger REAL,
    anger_above_s REAL NOT NULL DEFAULT 0,
    outcome TEXT,
    transfer_reason TEXT,
    transfer_target TEXT,
    transfer_uri TEXT,
    transfer_via TEXT,
    transfer_at_s REAL,
    ended_by TEXT,
    keywords TEXT NOT NULL DEFAULT '[]',
    recording TEXT,
    review_due TEXT,
    review TEXT,
    review_note TEXT
);
CREATE INDEX calls_by_caller ON calls (caller, started);
CREATE INDEX calls_by_start ON calls (started);
CREATE TABLE events (
    call_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    t REAL NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);
"#];

pub struct Sqlite {
    connection: Connection,
    /// The file, for messages.
    place: String,
}

impl Sqlite {
    /// Opens (creating) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::at(&place_of(path), e))?;
        }
        let place = place_of(path);
        let connection = Connection::open(path).map_err(|e| StoreError::at(&place, e))?;
        let store = Sqlite { connection, place };
        store.prepare()?;
        Ok(store)
    }

    fn prepare(&self) -> Result<(), StoreError> {
        let fail = |e: rusqlite::Error| StoreError::at(&self.place, e);
        self.connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(fail)?;
        let version: usize = self
            .connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(fail)?;
        if version > MIGRATIONS.len() {
            return Err(StoreError::NewerSchema {
                place: self.place.clone(),
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        self.connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        // A commit reaches the disk without waiting for a checkpoint; WAL
        // keeps the file consistent through a crash.
        self.connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        for (from, migration) in MIGRATIONS.iter().enumerate().skip(version) {
            let batch = format!(
                "BEGIN; {migration} PRAGMA user_version = {}; COMMIT;",
                from + 1
            );
            self.connection.execute_batch(&batch).map_err(fail)?;
        }
        Ok(())
    }

    fn execute(&self, sql: &str, values: &[&dyn rusqlite::ToSql]) -> Result<(), StoreError> {
        self.connection
            .execute(sql, values)
            .map(|_| ())
            .map_err(|e| StoreError::at(&self.place, e))
    }
}

impl Backend for Sqlite {
    fn begin(&mut self) -> Result<(), StoreError> {
        self.execute("BEGIN", &[])
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.execute("COMMIT", &[])
    }

    /// A call's row as it starts (the rest comes with its end).
    fn start_call(
        &mut self,
        id: &str,
        caller: &str,
        dialed: &str,
        answered: bool,
        started: &str,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT OR IGNORE INTO calls (id, caller, dialed, answered, started) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, caller, dialed, answered, started],
        )
    }

    fn add_event(&mut self, id: &str, seq: u64, t: f64, line: &str) -> Result<(), StoreError> {
        self.execute(
            "INSERT OR REPLACE INTO events (call_id, seq, t, line) VALUES (?1, ?2, ?3, ?4)",
            params![id, seq as i64, t, line],
        )
    }

    /// The record at the call's end.
    fn end_call(&mut self, record: &CallRecord) -> Result<(), StoreError> {
        let keywords = serde_json::to_string(&record.keywords).unwrap_or_else(|_| "[]".into());
        self.execute(
            "UPDATE calls SET ended = ?2, duration_s = ?3, hops = ?4, max_anger = ?5, anger_above_s = ?6,
                outcome = ?7, transfer_reason = ?8, transfer_target = ?9, transfer_uri = ?10,
                transfer_via = ?11, transfer_at_s = ?12, ended_by = ?13, keywords = ?14,
                recording = ?15, review_due = ?16 WHERE id = ?1",
            params![
                record.id,
                record.ended,
                record.duration_s,
                record.hops,
                record.max_anger,
                record.anger_above_s,
                record.outcome.map(Outcome::as_str),
                record.transfer_reason,
                record.transfer_target,
                record.transfer_uri,
                record.transfer_via,
                record.transfer_at_s,
                record.ended_by,
                keywords,
                record.recording,
                record.review_due,
            ],
        )
    }

    /// Answered calls from `caller` that started at or after `since` (RFC
    /// 3339), up to `at_most`.
    fn calls_from(&mut self, caller: &str, since: &str, at_most: u32) -> Result<u32, StoreError> {
        self.connection
            .query_row(
                "SELECT COUNT(*) FROM (SELECT 1 FROM calls
                   WHERE caller = ?1 AND started >= ?2 AND answered = 1 LIMIT ?3)",
                params![caller, since, at_most],
                |row| row.get(0),
            )
            .map_err(|e| StoreError::at(&self.place, e))
    }

    fn list(&mut self, filter: &ListFilter) -> Result<Vec<CallRecord>, StoreError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT * FROM calls WHERE answered = 1 AND started >= ?1
                   AND (?2 IS NULL OR transfer_reason = ?2)
                   AND (?3 = 0 OR (review_due IS NOT NULL AND review IS NULL))
                 ORDER BY started, rowid",
            )
            .map_err(|e| StoreError::at(&self.place, e))?;
        let rows = statement
            .query_map(
                params![filter.since, filter.reason, filter.due_only],
                record_of,
            )
            .map_err(|e| StoreError::at(&self.place, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::at(&self.place, e))
    }

    fn get(&mut self, id: &str) -> Result<Option<CallRecord>, StoreError> {
        self.connection
            .query_row("SELECT * FROM calls WHERE id = ?1", [id], record_of)
            .optional()
            .map_err(|e| StoreError::at(&self.place, e))
    }

    /// A call's event lines, in order.
    fn events(&mut self, id: &str) -> Result<Vec<String>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT line FROM events WHERE call_id = ?1 ORDER BY seq")
            .map_err(|e| StoreError::at(&self.place, e))?;
        let lines = statement
            .query_map([id], |row| row.get(0))
            .map_err(|e| StoreError::at(&self.place, e))?;
        lines
            .collect::<Result<Vec<String>, _>>()
            .map_err(|e| StoreError::at(&self.place, e))
    }

    /// Marks a call reviewed; false if there is no such call.
    fn review(&mut self, id: &str, verdict: &str, note: Option<&str>) -> Result<bool, StoreError> {
        self.connection
            .execute(
                "UPDATE calls SET review = ?2, review_note = ?3 WHERE id = ?1",
                params![id, verdict, note],
            )
            .map(|changed| changed > 0)
            .map_err(|e| StoreError::at(&self.place, e))
    }
}

fn place_of(path: &Path) -> String {
    path.display().to_string()
}

fn record_of(row: &Row) -> rusqlite::Result<CallRecord> {
    CallRecord::from_row(row)
}

impl CallRow for Row<'_> {
    type Error = rusqlite::Error;

    fn text(&self, column: &str) -> rusqlite::Result<Option<String>> {
        self.get(column)
    }

    fn number(&self, column: &str) -> rusqlite::Result<Option<f64>> {
        self.get(column)
    }

    fn integer(&self, column: &str) -> rusqlite::Result<Option<i64>> {
        self.get(column)
    }
}
