//! The call records in PostgreSQL, for several gateways sharing one store
//! (the `postgres` crate, synchronous: the store's writer is a thread of
//! its own). The same tables as SQLite; the schema version in a table,
//! migrated under an advisory lock so that two gateways starting together
//! do not both migrate.

use std::time::{Duration, Instant};

use postgres::{Client, NoTls, Row};

use super::record::{CallRecord, CallRow, Outcome};
use super::{Backend, ListFilter, StoreError};

/// Each migration brings the schema from its index to the next version.
const MIGRATIONS: [&str; 1] = [r#"
CREATE TABLE calls (
    id TEXT PRIMARY KEY,
    caller TEXT NOT NULL,
    dialed TEXT NOT NULL,
    answered BOOLEAN NOT NULL,
    started TEXT NOT NULL,
    ended TEXT,
    duration_s DOUBLE PRECISION,
    hops BIGINT,
    max_anger DOUBLE PRECISION,
    anger_above_s DOUBLE PRECISION NOT NULL DEFAULT 0,
    outcome TEXT,
    transfer_reason TEXT,
    transfer_target TEXT,
    transfer_uri TEXT,
    transfer_via TEXT,
    transfer_at_s DOUBLE PRECISION,
    ended_by TEXT,
    keywords TEXT NOT NULL DEFAULT '[]',
    recording TEXT,
    review_due TEXT,
    review TEXT,
    review_note TEXT,
    inserted BIGSERIAL
);
CREATE INDEX calls_by_caller ON calls (caller, started);
CREATE INDEX calls_by_start ON calls (started);
CREATE TABLE events (
    call_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    t DOUBLE PRECISION NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);
"#];

/// An arbitrary key of voicegate's migration lock.
const MIGRATION_LOCK: i64 = 0x766f_6963_6567_6174;

/// A lost server is tried again at most this often (a write in between fails
/// at once and is counted), and a connection attempt waits at most
/// `CONNECT_TIMEOUT`: the writer must not stall behind a dead server.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Postgres {
    client: Client,
    config: postgres::Config,
    place: String,
    last_connect: Instant,
}

/// The URL for messages: no password in a log line.
pub fn without_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}{user}{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

impl Postgres {
    pub fn open(url: &str) -> Result<Postgres, StoreError> {
        let place = without_password(url);
        let mut config: postgres::Config = url.parse().map_err(|e| StoreError::at(&place, e))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        let client = config
            .connect(NoTls)
            .map_err(|e| StoreError::at(&place, e))?;
        let mut store = Postgres {
            client,
            config,
            place,
            last_connect: Instant::now(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Runs `work` on the connection, connecting again first if the server
    /// went away (a restart): records written after it come back catch up.
    fn with_client<T>(
        &mut self,
        work: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        if self.client.is_closed() {
            self.reconnect()?;
        }
        work(&mut self.client).map_err(|e| StoreError::at(&self.place, e))
    }

    fn reconnect(&mut self) -> Result<(), StoreError> {
        if self.last_connect.elapsed() < RECONNECT_EVERY {
            return Err(StoreError::at(
                &self.place,
                "the connection was lost; connecting again shortly",
            ));
        }
        self.last_connect = Instant::now();
        self.client = self
            .config
            .connect(NoTls)
            .map_err(|e| StoreError::at(&self.place, e))?;
        tracing::info!(store = %self.place, "connected to the store again");
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let place = self.place.clone();
        let fail = |e: postgres::Error| StoreError::at(&place, e);
        let mut transaction = self.client.transaction().map_err(fail)?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(fail)?;
        transaction
            .batch_execute("CREATE TABLE IF NOT EXISTS voicegate_schema (version INTEGER NOT NULL)")
            .map_err(fail)?;
        let version: i32 = transaction
            .query_opt("SELECT version FROM voicegate_schema", &[])
            .map_err(fail)?
            .map_or(Ok(0), |row| row.try_get(0))
            .map_err(fail)?;
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        if version > MIGRATIONS.len() {
            return Err(StoreError::NewerSchema {
                place,
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        for (from, migration) in MIGRATIONS.iter().enumerate().skip(version) {
            transaction.batch_execute(migration).map_err(fail)?;
            let to = i32::try_from(from + 1).unwrap_or(i32::MAX);
            transaction
                .execute("DELETE FROM voicegate_schema", &[])
                .map_err(fail)?;
            transaction
                .execute("INSERT INTO voicegate_schema (version) VALUES ($1)", &[&to])
                .map_err(fail)?;
        }
        transaction.commit().map_err(fail)
    }

    fn execute(
        &mut self,
        sql: &str,
        values: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.with_client(|client| client.execute(sql, values))
    }
}

impl Backend for Postgres {
    fn begin(&mut self) -> Result<(), StoreError> {
        self.with_client(|client| client.batch_execute("BEGIN"))
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.with_client(|client| client.batch_execute("COMMIT"))
    }

    fn start_call(
        &mut self,
        id: &str,
        caller: &str,
        dialed: &str,
        answered: bool,
        started: &str,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO calls (id, caller, dialed, answered, started) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
            &[&id, &caller, &dialed, &answered, &started],
        )
        .map(|_| ())
    }

    fn add_event(&mut self, id: &str, seq: u64, t: f64, line: &str) -> Result<(), StoreError> {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        self.execute(
            "INSERT INTO events (call_id, seq, t, line) VALUES ($1, $2, $3, $4)
             ON CONFLICT (call_id, seq) DO UPDATE SET t = excluded.t, line = excluded.line",
            &[&id, &seq, &t, &line],
        )
        .map(|_| ())
    }

    fn end_call(&mut self, record: &CallRecord) -> Result<(), StoreError> {
        let keywords = serde_json::to_string(&record.keywords).unwrap_or_else(|_| "[]".into());
        let hops = record.hops.map(i64::from);
        let outcome = record.outcome.map(Outcome::as_str);
        self.execute(
            "UPDATE calls SET ended = $2, duration_s = $3, hops = $4, max_anger = $5, anger_above_s = $6,
                outcome = $7, transfer_reason = $8, transfer_target = $9, transfer_uri = $10,
                transfer_via = $11, transfer_at_s = $12, ended_by = $13, keywords = $14,
                recording = $15, review_due = $16 WHERE id = $1",
            &[
                &record.id,
                &record.ended,
                &record.duration_s,
                &hops,
                &record.max_anger,
                &record.anger_above_s,
                &outcome,
                &record.transfer_reason,
                &record.transfer_target,
                &record.transfer_uri,
                &record.transfer_via,
                &record.transfer_at_s,
                &record.ended_by,
                &keywords,
                &record.recording,
                &record.review_due,
            ],
        )
        .map(|_| ())
    }

    fn calls_from(&mut self, caller: &str, since: &str, at_most: u32) -> Result<u32, StoreError> {
        let at_most = i64::from(at_most);
        let count: i64 = self.with_client(|client| {
            client
                .query_one(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM calls
                       WHERE caller = $1 AND started >= $2 AND answered LIMIT $3) AS recent",
                    &[&caller, &since, &at_most],
                )?
                .try_get(0)
        })?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    fn list(&mut self, filter: &ListFilter) -> Result<Vec<CallRecord>, StoreError> {
        self.with_client(|client| {
            client
                .query(
                    "SELECT * FROM calls WHERE answered AND started >= $1
                       AND ($2::TEXT IS NULL OR transfer_reason = $2)
                       AND (NOT $3 OR (review_due IS NOT NULL AND review IS NULL))
                     ORDER BY started, inserted",
                    &[&filter.since, &filter.reason, &filter.due_only],
                )?
                .iter()
                .map(record_of)
                .collect()
        })
    }

    fn get(&mut self, id: &str) -> Result<Option<CallRecord>, StoreError> {
        self.with_client(|client| {
            client
                .query_opt("SELECT * FROM calls WHERE id = $1", &[&id])?
                .as_ref()
                .map(record_of)
                .transpose()
        })
    }

    fn events(&mut self, id: &str) -> Result<Vec<String>, StoreError> {
        self.with_client(|client| {
            client
                .query(
                    "SELECT line FROM events WHERE call_id = $1 ORDER BY seq",
                    &[&id],
                )?
                .iter()
                .map(|row| row.try_get(0))
                .collect()
        })
    }

    fn review(&mut self, id: &str, verdict: &str, note: Option<&str>) -> Result<bool, StoreError> {
        self.execute(
            "UPDATE calls SET review = $2, review_note = $3 WHERE id = $1",
            &[&id, &verdict, &note],
        )
        .map(|changed| changed > 0)
    }
}

/// A row of `calls` (the types are this schema's: a mismatch is an error, not a panic).
fn record_of(row: &Row) -> Result<CallRecord, postgres::Error> {
    CallRecord::from_row(row)
}

impl CallRow for Row {
    type Error = postgres::Error;

    fn text(&self, column: &str) -> Result<Option<String>, postgres::Error> {
        self.try_get(column)
    }

    fn number(&self, column: &str) -> Result<Option<f64>, postgres::Error> {
        self.try_get(column)
    }

    fn integer(&self, column: &str) -> Result<Option<i64>, postgres::Error> {
        self.try_get(column)
    }
}
