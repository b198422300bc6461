//! The SQLite file: schema, writes in batches, and the queries behind the API.
//!
//! Why SQLite: one embedded file, transactions, a query planner for the filters and
//! group-bys the API needs, and FTS5 for full text; nothing to run beside `serve`, and the
//! whole index can be thrown away and rebuilt from the ledger.
//!
//! Layout: table `events` (one row per ledger record, `idx` = ledger index as the rowid;
//! metadata columns only) and the contentless FTS5 table `fts` (rowid = `idx`), which keeps
//! the search terms of prompts, outputs and tool arguments and results but not the text
//! itself: matches point into the ledger, which serves the content. `meta` holds the schema
//! version. The `roll_*` tables are rollups of `events` for the statistics, written in the
//! same transaction as the rows (`crate::rollup`). The file is opened in WAL mode so readers
//! never wait for the writer.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{Connection, OpenFlags, params, params_from_iter};
use serde_json::{Value, json};

use crate::rollup::{self, Delta};
use crate::row::Row;

/// 2: rollups (`crate::rollup`) and `latency_us`.
const SCHEMA_VERSION: i64 = 3;

/// Index errors.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// SQLite failed.
    #[error("index {what}: {source}")]
    Sqlite {
        /// What was being done.
        what: &'static str,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// A query parameter is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The file was written by another schema version.
    #[error("index schema version {found} is not {SCHEMA_VERSION}: run `llmtrail reindex`")]
    Version {
        /// The version found.
        found: i64,
    },
}

fn sql(what: &'static str) -> impl FnOnce(rusqlite::Error) -> IndexError {
    move |source| IndexError::Sqlite { what, source }
}

/// The index.
#[derive(Debug)]
pub struct Index {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    rollups: AtomicBool,
}

const COLUMNS: &str = "idx, id, time_ns, kind, user, role, department, session, agent, source_ip, \
     model, provider, tool, category, severity, status, trace_id, ref_id, input_tokens, \
     output_tokens, latency_ms, latency_us, prompt_key";

impl Index {
    /// Opens (creating when missing) the index file at `path`.
    ///
    /// # Errors
    /// [`IndexError`] when the file cannot be opened or has another schema version.
    pub fn open(path: &Path) -> Result<Index, IndexError> {
        let writer = Connection::open(path).map_err(sql("open"))?;
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);",
            )
            .map_err(sql("create meta"))?;
        // The version first: a file of another version is left as it is.
        let found: Option<i64> = writer
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .ok();
        if let Some(v) = found.filter(|v| *v != SCHEMA_VERSION) {
            return Err(IndexError::Version { found: v });
        }
        writer
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS events (
                    idx INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, time_ns INTEGER NOT NULL,
                    kind TEXT NOT NULL, user TEXT, role TEXT, department TEXT, session TEXT,
                    agent TEXT, source_ip TEXT, model TEXT, provider TEXT, tool TEXT,
                    category TEXT, severity TEXT, status TEXT, trace_id TEXT, ref_id TEXT,
                    input_tokens INTEGER, output_tokens INTEGER, latency_ms REAL,
                    latency_us INTEGER, prompt_key TEXT);
                 CREATE INDEX IF NOT EXISTS events_time ON events(time_ns);
                 CREATE INDEX IF NOT EXISTS events_kind ON events(kind, idx);
                 CREATE INDEX IF NOT EXISTS events_user ON events(user, idx);
                 CREATE INDEX IF NOT EXISTS events_session ON events(session, idx);
                 CREATE INDEX IF NOT EXISTS events_trace ON events(trace_id, idx);
                 CREATE INDEX IF NOT EXISTS events_ref ON events(ref_id);
                 CREATE INDEX IF NOT EXISTS events_kind_ref ON events(kind, ref_id);
                 CREATE INDEX IF NOT EXISTS events_tool ON events(tool, idx);
                 CREATE INDEX IF NOT EXISTS events_prompt ON events(prompt_key);
                 CREATE INDEX IF NOT EXISTS events_category ON events(category, idx);
                 CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
                    text, content='', contentless_delete=1, tokenize='unicode61');",
            )
            .map_err(sql("create schema"))?;
        writer
            .execute_batch(rollup::SCHEMA)
            .map_err(sql("create rollups"))?;
        if found.is_none() {
            writer
                .execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
                    [SCHEMA_VERSION],
                )
                .map_err(sql("write schema version"))?;
        }
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql("open reader"))?;
        Ok(Index {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            rollups: AtomicBool::new(true),
        })
    }

    /// Chooses whether statistics may be answered from the rollups (the default) or always
    /// from the rows. The answers are the same; this is for comparing and measuring.
    pub fn use_rollups(&self, on: bool) {
        self.rollups.store(on, Ordering::Relaxed);
    }

    /// Whether statistics may be answered from the rollups.
    pub(crate) fn rollups_on(&self) -> bool {
        self.rollups.load(Ordering::Relaxed)
    }

    /// The ledger index just past the last indexed record (0 when empty).
    ///
    /// # Errors
    /// [`IndexError`] on a SQLite failure.
    pub fn next_index(&self) -> Result<u64, IndexError> {
        let conn = self
            .reader
            .lock()
            .map_err(|_| IndexError::Invalid("lock".into()))?;
        let max: Option<i64> = conn
            .query_row("SELECT max(idx) FROM events", [], |r| r.get(0))
            .map_err(sql("read size"))?;
        Ok(max.map_or(0, |m| u64::try_from(m + 1).unwrap_or(0)))
    }

    /// The ledger indexes at or above `low` that the index holds, and how many rows it holds
    /// in all.
    ///
    /// # Errors
    /// [`IndexError`] on a SQLite failure.
    pub fn present_from(
        &self,
        low: u64,
    ) -> Result<(std::collections::HashSet<u64>, u64), IndexError> {
        let conn = self
            .reader
            .lock()
            .map_err(|_| IndexError::Invalid("lock".into()))?;
        let total: i64 = conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .map_err(sql("count"))?;
        let mut stmt = conn
            .prepare("SELECT idx FROM events WHERE idx >= ?1")
            .map_err(sql("prepare holes"))?;
        let rows = stmt
            .query_map([i64::try_from(low).unwrap_or(i64::MAX)], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(sql("holes"))?;
        let mut set = std::collections::HashSet::new();
        for r in rows {
            set.insert(u64::try_from(r.map_err(sql("hole row"))?).unwrap_or(0));
        }
        Ok((set, u64::try_from(total).unwrap_or(0)))
    }

    /// Adds rows in one transaction; a row whose index is already there is skipped (a
    /// replay after a restart adds nothing twice).
    ///
    /// # Errors
    /// [`IndexError`] on a SQLite failure (nothing of the batch is kept).
    pub fn add(&self, rows: &[Row]) -> Result<(), IndexError> {
        let mut conn = self
            .writer
            .lock()
            .map_err(|_| IndexError::Invalid("lock".into()))?;
        let tx = conn.transaction().map_err(sql("begin"))?;
        let mut delta = Delta::default();
        {
            let mut ins = tx
                .prepare_cached(&format!(
                    "INSERT OR IGNORE INTO events ({COLUMNS}) VALUES \
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
                      ?18, ?19, ?20, ?21, ?22, ?23)"
                ))
                .map_err(sql("prepare insert"))?;
            let mut fts = tx
                .prepare_cached("INSERT INTO fts (rowid, text) VALUES (?1, ?2)")
                .map_err(sql("prepare fts"))?;
            let mut inherit = tx
                .prepare_cached(
                    "SELECT provider, model, user, role, department, session FROM events WHERE id = ?1",
                )
                .map_err(sql("prepare lookup"))?;
            for r in rows {
                let idx = i64::try_from(r.idx).unwrap_or(i64::MAX);
                let mut r = r.clone();
                // A response is filed under its request's provider, model and person when it
                // does not say them itself.
                if r.kind == "llm.response"
                    && let Some(req) = &r.ref_id
                {
                    let found = inherit
                        .query_row([req], |q| {
                            Ok((
                                q.get::<_, Option<String>>(0)?,
                                q.get::<_, Option<String>>(1)?,
                                q.get::<_, Option<String>>(2)?,
                                q.get::<_, Option<String>>(3)?,
                                q.get::<_, Option<String>>(4)?,
                                q.get::<_, Option<String>>(5)?,
                            ))
                        })
                        .ok();
                    if let Some((p, m, u, ro, d, s)) = found {
                        r.provider = r.provider.or(p);
                        r.model = r.model.or(m);
                        r.user = r.user.or(u);
                        r.role = r.role.or(ro);
                        r.department = r.department.or(d);
                        r.session = r.session.or(s);
                    }
                }
                let n = ins
                    .execute(params![
                        idx,
                        r.id,
                        r.time_ns,
                        r.kind,
                        r.user,
                        r.role,
                        r.department,
                        r.session,
                        r.agent,
                        r.source_ip,
                        r.model,
                        r.provider,
                        r.tool,
                        r.category,
                        r.severity,
                        r.status,
                        r.trace_id,
                        r.ref_id,
                        r.input_tokens,
                        r.output_tokens,
                        r.latency_ms,
                        r.latency_us,
                        r.prompt_key
                    ])
                    .map_err(sql("insert"))?;
                if n == 1 {
                    delta.add(&r);
                    if !r.text.is_empty() {
                        fts.execute(params![idx, r.text])
                            .map_err(sql("insert text"))?;
                    }
                }
            }
        }
        delta.write(&tx)?;
        tx.commit().map_err(sql("commit"))
    }

    /// Runs `f` with the read connection.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, IndexError>,
    ) -> Result<T, IndexError> {
        let conn = self
            .reader
            .lock()
            .map_err(|_| IndexError::Invalid("lock".into()))?;
        f(&conn)
    }
}

/// Runs a query whose rows are JSON objects of the named columns.
pub(crate) fn rows_json(
    conn: &Connection,
    query: &str,
    args: &[rusqlite::types::Value],
    names: &[&str],
) -> Result<Vec<Value>, IndexError> {
    let mut stmt = conn.prepare_cached(query).map_err(sql("prepare query"))?;
    let mut out = Vec::new();
    let mut rows = stmt
        .query(params_from_iter(args.iter()))
        .map_err(sql("query"))?;
    while let Some(row) = rows.next().map_err(sql("read row"))? {
        let mut obj = serde_json::Map::new();
        for (i, n) in names.iter().enumerate() {
            let v: rusqlite::types::Value = row.get(i).map_err(sql("read column"))?;
            obj.insert(
                (*n).to_owned(),
                match v {
                    rusqlite::types::Value::Null => Value::Null,
                    rusqlite::types::Value::Integer(i) => json!(i),
                    rusqlite::types::Value::Real(f) => json!(f),
                    rusqlite::types::Value::Text(t) => json!(t),
                    rusqlite::types::Value::Blob(_) => Value::Null,
                },
            );
        }
        out.push(Value::Object(obj));
    }
    Ok(out)
}
