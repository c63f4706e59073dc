//! The durable webhook outbox (SPEC §17.7): the `webhook_outbox` table in the store's SQLite
//! file, next to the tables sds-sqlite owns.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::time::Duration;

/// The table of SPEC §17.7, plus an index for the worker's "due rows" query.
const CREATE_OUTBOX: &str = "
CREATE TABLE IF NOT EXISTS webhook_outbox (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  store_id        TEXT    NOT NULL,
  event_id        TEXT    NOT NULL,
  url             TEXT    NOT NULL,
  body            TEXT    NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  last_error      TEXT,
  failed          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS webhook_outbox_due
  ON webhook_outbox (store_id, failed, next_attempt_at);
";

/// How long a write waits for another connection's write (the engine's patch appends share
/// the file).
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// An outbox error: a failure of the SQLite file.
#[derive(Debug, thiserror::Error)]
#[error("webhook outbox: {0}")]
pub struct OutboxError(#[from] rusqlite::Error);

/// A row to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRow {
    /// The `X-SDS-Event-Id` of the POST.
    pub event_id: String,
    /// The webhook URL.
    pub url: String,
    /// The JSON body, exactly as it is sent (and signed).
    pub body: String,
}

/// A stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// The row id: the delivery order.
    pub id: i64,
    /// The `X-SDS-Event-Id` of the POST.
    pub event_id: String,
    /// The webhook URL.
    pub url: String,
    /// The JSON body.
    pub body: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When the row is due, in ms since the epoch.
    pub next_attempt_at: i64,
    /// When the row was written, in ms since the epoch.
    pub created_at: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// Whether the row gave up after the maximum number of attempts.
    pub failed: bool,
}

/// One connection to the outbox table of one store.
#[derive(Debug)]
pub struct Outbox {
    conn: Connection,
    store_id: String,
}

impl Outbox {
    /// Opens the outbox in the SQLite file at `path` (which sds-sqlite has initialised) and
    /// creates its table if needed.
    pub fn open(path: &Path, store_id: &str) -> Result<Outbox, OutboxError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // The file is in WAL mode already (sds-sqlite switches it); NORMAL makes a commit
        // survive a killed process, like the engine's own patch appends.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(CREATE_OUTBOX)?;
        Ok(Outbox {
            conn,
            store_id: store_id.to_owned(),
        })
    }

    /// Inserts the rows of one change set in one transaction, due at `now_ms`.
    pub fn enqueue(&mut self, rows: &[NewRow], now_ms: i64) -> Result<(), OutboxError> {
        if rows.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO webhook_outbox (store_id, event_id, url, body, next_attempt_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            )?;
            for row in rows {
                insert.execute(params![
                    self.store_id,
                    row.event_id,
                    row.url,
                    row.body,
                    now_ms
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Rows that are due at `now_ms` (not failed), in id order, at most `limit`.
    pub fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxRow>, OutboxError> {
        self.select(
            "WHERE store_id = ?1 AND failed = 0 AND next_attempt_at <= ?2 ORDER BY id LIMIT ?3",
            params![self.store_id, now_ms, limit as i64],
        )
    }

    /// Every row of the store, in id order (for inspection and tests).
    pub fn rows(&self) -> Result<Vec<OutboxRow>, OutboxError> {
        self.select("WHERE store_id = ?1 ORDER BY id", params![self.store_id])
    }

    fn select(
        &self,
        condition: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<OutboxRow>, OutboxError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT id, event_id, url, body, attempts, next_attempt_at, created_at, last_error, failed
             FROM webhook_outbox {condition}"
        ))?;
        let rows = statement
            .query_map(params, |row| {
                Ok(OutboxRow {
                    id: row.get(0)?,
                    event_id: row.get(1)?,
                    url: row.get(2)?,
                    body: row.get(3)?,
                    attempts: row.get(4)?,
                    next_attempt_at: row.get(5)?,
                    created_at: row.get(6)?,
                    last_error: row.get(7)?,
                    failed: row.get::<_, i64>(8)? != 0,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The earliest `next_attempt_at` of a row that is not failed.
    pub fn next_due_at(&self) -> Result<Option<i64>, OutboxError> {
        Ok(self
            .conn
            .query_row(
                "SELECT MIN(next_attempt_at) FROM webhook_outbox WHERE store_id = ?1 AND failed = 0",
                [&self.store_id],
                |row| row.get::<_, Option<i64>>(0),
            )
            .optional()?
            .flatten())
    }

    /// Removes a delivered row.
    pub fn delete(&self, id: i64) -> Result<(), OutboxError> {
        self.conn
            .execute("DELETE FROM webhook_outbox WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Records a failed attempt: the new attempt count, the error, and either the next due
    /// time or `failed = 1`.
    pub fn record_failure(
        &self,
        id: i64,
        attempts: u32,
        error: &str,
        next_attempt_at: Option<i64>,
    ) -> Result<(), OutboxError> {
        match next_attempt_at {
            Some(at) => self.conn.execute(
                "UPDATE webhook_outbox SET attempts = ?2, last_error = ?3, next_attempt_at = ?4 WHERE id = ?1",
                params![id, attempts, error, at],
            )?,
            None => self.conn.execute(
                "UPDATE webhook_outbox SET attempts = ?2, last_error = ?3, failed = 1 WHERE id = ?1",
                params![id, attempts, error],
            )?,
        };
        Ok(())
    }

    /// Moves a row's due time without counting an attempt (it waits behind an earlier row
    /// of an unreachable endpoint).
    pub fn postpone(&self, id: i64, next_attempt_at: i64) -> Result<(), OutboxError> {
        self.conn.execute(
            "UPDATE webhook_outbox SET next_attempt_at = ?2 WHERE id = ?1",
            params![id, next_attempt_at],
        )?;
        Ok(())
    }

    /// The size of the stored snapshot of the store, if any (for the start-up log line).
    pub fn snapshot_size(&self) -> Result<Option<u64>, OutboxError> {
        Ok(self
            .conn
            .query_row(
                "SELECT length(data) FROM snapshots WHERE store_id = ?1",
                [&self.store_id],
                |row| row.get::<_, i64>(0),
            )
            .optional()?
            .map(|n| n as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> Outbox {
        let path = dir.join("s.db");
        sds_sqlite::SqlitePersistence::open(&path, "s", sds_sqlite::SqliteOptions::default())
            .unwrap();
        Outbox::open(&path, "s").unwrap()
    }

    fn row(n: u32) -> NewRow {
        NewRow {
            event_id: format!("e{n}"),
            url: "http://x".into(),
            body: format!("{{\"n\":{n}}}"),
        }
    }

    #[test]
    fn rows_are_due_in_id_order_and_failures_are_rescheduled() {
        let dir = tempfile::tempdir().unwrap();
        let mut outbox = open(dir.path());
        outbox.enqueue(&[row(1), row(2), row(3)], 1_000).unwrap();
        let due = outbox.due(1_000, 10).unwrap();
        assert_eq!(
            due.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>(),
            ["e1", "e2", "e3"]
        );
        outbox
            .record_failure(due[0].id, 1, "boom", Some(5_000))
            .unwrap();
        outbox.delete(due[1].id).unwrap();
        outbox.record_failure(due[2].id, 20, "gone", None).unwrap();
        assert!(outbox.due(4_999, 10).unwrap().is_empty());
        assert_eq!(outbox.next_due_at().unwrap(), Some(5_000));
        let rows = outbox.rows().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].attempts, 1);
        assert_eq!(rows[0].last_error.as_deref(), Some("boom"));
        assert!(rows[1].failed);
        // A reopened connection sees the same rows, and sds-sqlite still accepts the file.
        drop(outbox);
        let path = dir.path().join("s.db");
        sds_sqlite::SqlitePersistence::open(&path, "s", sds_sqlite::SqliteOptions::default())
            .unwrap();
        assert_eq!(Outbox::open(&path, "s").unwrap().rows().unwrap(), rows);
    }
}
