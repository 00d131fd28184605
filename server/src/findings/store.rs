//! The findings history: every finding with its open and resolve times, in `SQLite`, so incidents survive a
//! restart and `GET /api/v1/findings` can answer "what happened last night".
//!
//! One row per incident (a finding that opens, resolves and opens again is two rows); the finding itself is
//! stored as JSON next to the few columns the queries filter on, so adding a field to [`Finding`] needs no
//! migration. A partial unique index keeps at most one open row per key. Every call is blocking and runs on
//! the blocking pool ([`tokio::task::spawn_blocking`]), never on the async workers.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{params, Connection, OptionalExtension as _};
use topology::finding::Finding;

/// Resolved incidents kept at most (the oldest go first); open ones are never pruned.
pub const MAX_RESOLVED: i64 = 20_000;

/// What failed in the history database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Opening or creating the database.
    #[error("cannot open the findings database {path}")]
    Open {
        /// The path (or `:memory:`).
        path: String,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// A query.
    #[error("findings database")]
    Query(#[from] rusqlite::Error),
    /// A stored row that is not a finding.
    #[error("findings database: a stored finding does not parse")]
    Decode(#[from] serde_json::Error),
    /// The blocking task died.
    #[error("findings database: the blocking task failed")]
    Join(#[from] tokio::task::JoinError),
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which incidents a query wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    /// Still open.
    Open,
    /// Resolved.
    Resolved,
    /// Both.
    All,
}

/// The history. Cheap to clone.
#[derive(Clone)]
pub struct Store(Arc<Mutex<Connection>>);

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS findings (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    severity TEXT NOT NULL,
    opened INTEGER NOT NULL,
    resolved INTEGER,
    body TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS findings_open_key ON findings(key) WHERE resolved IS NULL;
CREATE INDEX IF NOT EXISTS findings_opened ON findings(opened);
";

impl Store {
    /// Opens (or creates) the database at `path`; `None` keeps it in memory.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the file cannot be opened or the schema cannot be created.
    pub fn open(path: Option<&Path>) -> Result<Store> {
        let name = path.map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string());
        let open = || -> rusqlite::Result<Connection> {
            let connection = match path {
                Some(path) => Connection::open(path)?,
                None => Connection::open_in_memory()?,
            };
            // WAL: readers (the API) don't wait for the engine's writes.
            connection.pragma_update(None, "journal_mode", "WAL")?;
            connection.execute_batch(SCHEMA)?;
            Ok(connection)
        };
        open()
            .map(|c| Store(Arc::new(Mutex::new(c))))
            .map_err(|source| StoreError::Open { path: name, source })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            // A panic mid-statement leaves SQLite consistent (it rolls the statement back).
            let mut connection = inner.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut connection)
        })
        .await?
    }

    /// Records what opened, what changed and what resolved in one transaction.
    pub async fn apply(
        &self,
        opened: Vec<Finding>,
        updated: Vec<Finding>,
        resolved: Vec<(String, i64)>,
    ) -> Result<()> {
        self.with(move |c| {
            let tx = c.transaction()?;
            for f in &opened {
                tx.execute(
                    "INSERT INTO findings (key, severity, opened, body) VALUES (?1, ?2, ?3, ?4)",
                    params![f.key, f.severity.as_str(), f.opened, serde_json::to_string(f)?],
                )?;
            }
            for f in &updated {
                tx.execute(
                    "UPDATE findings SET severity = ?2, body = ?3 WHERE key = ?1 AND resolved IS NULL",
                    params![f.key, f.severity.as_str(), serde_json::to_string(f)?],
                )?;
            }
            for (key, at) in &resolved {
                tx.execute(
                    "UPDATE findings SET resolved = ?2 WHERE key = ?1 AND resolved IS NULL",
                    params![key, at],
                )?;
            }
            if !resolved.is_empty() {
                tx.execute(
                    "DELETE FROM findings WHERE id IN (SELECT id FROM findings WHERE resolved IS NOT NULL
                     ORDER BY resolved DESC LIMIT -1 OFFSET ?1)",
                    params![MAX_RESOLVED],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Incidents that overlap `[since, until]` (unix seconds), newest first, `limit` of them after skipping
    /// `skip` (callers that filter further page through).
    pub async fn query(
        &self,
        state: StateFilter,
        since: i64,
        until: i64,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<Finding>> {
        self.with(move |c| {
            let mut statement = c.prepare(
                "SELECT body, resolved FROM findings
                 WHERE opened <= ?1 AND (resolved IS NULL OR resolved >= ?2)
                   AND (?3 = 'all' OR (?3 = 'open') = (resolved IS NULL))
                 ORDER BY opened DESC, id DESC LIMIT ?4 OFFSET ?5",
            )?;
            let state = match state {
                StateFilter::Open => "open",
                StateFilter::Resolved => "resolved",
                StateFilter::All => "all",
            };
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let skip = i64::try_from(skip).unwrap_or(i64::MAX);
            let rows = statement.query_map(params![until, since, state, limit, skip], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Option<i64>>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (body, resolved) = row?;
                let mut finding: Finding = serde_json::from_str(&body)?;
                finding.resolved = resolved;
                out.push(finding);
            }
            Ok(out)
        })
        .await
    }

    /// The open incidents, for the engine to resume from after a restart.
    pub async fn open_findings(&self) -> Result<Vec<Finding>> {
        self.query(StateFilter::Open, i64::MIN, i64::MAX, 0, usize::MAX).await
    }

    /// When the incident under `key` opened, if one is open.
    pub async fn opened_at(&self, key: String) -> Result<Option<i64>> {
        self.with(move |c| {
            Ok(c.query_row("SELECT opened FROM findings WHERE key = ?1 AND resolved IS NULL", [key], |r| {
                r.get(0)
            })
            .optional()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::finding::{Detector, Severity, Tier};
    use topology::{EntityId, Kind};

    pub(crate) fn finding(name: &str, opened: i64) -> Finding {
        let subject = EntityId::new("c", Kind::Pod, "shop", name);
        Finding {
            key: Finding::key_of(Detector::CrashLoop, &subject),
            detector: Detector::CrashLoop,
            severity: Severity::High,
            tier: Tier::P2,
            entities: vec![subject.clone()],
            subject,
            message: "container main is in CrashLoopBackOff (3 restarts)".into(),
            opened,
            resolved: None,
            events: Vec::new(),
        }
    }

    #[tokio::test]
    async fn history_survives_reopening_the_database() {
        let dir = std::env::temp_dir().join(format!("gestalt-findings-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("findings.db");
        {
            let store = Store::open(Some(&path)).unwrap();
            store.apply(vec![finding("a", 100), finding("b", 110)], vec![], vec![]).await.unwrap();
            store.apply(vec![], vec![], vec![(finding("a", 0).key, 150)]).await.unwrap();
        }
        let store = Store::open(Some(&path)).unwrap();
        let open: Vec<String> = store.open_findings().await.unwrap().into_iter().map(|f| f.key).collect();
        assert_eq!(open, ["crash-loop/c/pod/shop/b"]);
        let all = store.query(StateFilter::All, 0, 1000, 0, 10).await.unwrap();
        let times: Vec<(i64, Option<i64>)> = all.iter().map(|f| (f.opened, f.resolved)).collect();
        assert_eq!(times, [(110, None), (100, Some(150))]);
        // Resolved before the range starts: not in it.
        assert_eq!(store.query(StateFilter::All, 151, 1000, 0, 10).await.unwrap().len(), 1);
        assert_eq!(store.query(StateFilter::Resolved, 0, 1000, 0, 10).await.unwrap()[0].resolved, Some(150));
        let second: Vec<i64> =
            store.query(StateFilter::All, 0, 1000, 1, 10).await.unwrap().iter().map(|f| f.opened).collect();
        assert_eq!(second, [100]);
        assert_eq!(store.opened_at(finding("b", 0).key).await.unwrap(), Some(110));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_key_reopened_after_resolving_is_a_second_incident() {
        let store = Store::open(None).unwrap();
        store.apply(vec![finding("a", 100)], vec![], vec![]).await.unwrap();
        store.apply(vec![], vec![], vec![(finding("a", 0).key, 120)]).await.unwrap();
        store.apply(vec![finding("a", 130)], vec![], vec![]).await.unwrap();
        let all = store.query(StateFilter::All, 0, 1000, 0, 10).await.unwrap();
        assert_eq!(
            all.iter().map(|f| (f.opened, f.resolved)).collect::<Vec<_>>(),
            [(130, None), (100, Some(120))]
        );
        // A second open row for the same key would break the resume logic: the index refuses it.
        assert!(store.apply(vec![finding("a", 140)], vec![], vec![]).await.is_err());
    }
}
