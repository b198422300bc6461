//! The API's filters and the queries built from them.
//!
//! Contract: every value reaches SQLite as a bound parameter, never in the SQL text; `q` is
//! turned into an FTS5 expression of quoted terms (all must match), so FTS5 syntax in user
//! input is matched as words, not run. Results are ordered by ledger index, newest first;
//! the cursor is the last index of a page.

use rusqlite::types::Value as Sql;
use serde::Deserialize;
use serde_json::Value;

use crate::store::{Index, IndexError, rows_json};

/// Filters shared by the event search and the stats.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Full text over prompts, outputs, tool arguments and results.
    pub q: Option<String>,
    /// Event kind.
    pub kind: Option<String>,
    /// Actor user.
    pub user: Option<String>,
    /// Actor role.
    pub role: Option<String>,
    /// Actor department.
    pub department: Option<String>,
    /// Session (actor session or conversation id).
    pub session: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Provider.
    pub provider: Option<String>,
    /// Tool name.
    pub tool: Option<String>,
    /// Finding category: findings of it, and events with such a finding.
    pub category: Option<String>,
    /// Severity: findings and alerts of it, and events with such a finding.
    pub severity: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// From this time (RFC 3339), inclusive.
    pub since: Option<String>,
    /// Until this time (RFC 3339), exclusive.
    pub until: Option<String>,
    /// Page size (default 50, at most 500).
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
    /// Time-series bucket in seconds (stats/timeseries; default 3600).
    pub bucket: Option<u32>,
}

/// One page of matching events.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Event ids with their ledger index, newest first.
    pub hits: Vec<(u64, String)>,
    /// Cursor for the next page, when there may be one.
    pub next: Option<String>,
}

fn time_ns(s: &str, key: &str) -> Result<i64, IndexError> {
    let ts: jiff::Timestamp = s
        .parse()
        .map_err(|_| IndexError::Invalid(format!("{key} must be an RFC 3339 time")))?;
    i64::try_from(ts.as_nanosecond())
        .map_err(|_| IndexError::Invalid(format!("{key} out of range")))
}

/// Turns free text into an FTS5 query: each word quoted, all required.
fn fts_query(q: &str) -> Option<String> {
    let terms: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|t| !t.is_empty())
        .take(32)
        .map(|t| format!("\"{t}\""))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" AND "))
}

impl Filter {
    /// The WHERE clause (without `WHERE`) and its parameters.
    fn clause(&self) -> Result<(String, Vec<Sql>), IndexError> {
        let mut parts: Vec<String> = vec!["1 = 1".into()];
        let mut args: Vec<Sql> = Vec::new();
        let mut eq = |col: &str, v: &Option<String>, parts: &mut Vec<String>| {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                args.push(Sql::Text(v.clone()));
                parts.push(format!("{col} = ?{}", args.len()));
            }
        };
        for (col, v) in [
            ("kind", &self.kind),
            ("user", &self.user),
            ("role", &self.role),
            ("department", &self.department),
            ("session", &self.session),
            ("model", &self.model),
            ("provider", &self.provider),
            ("tool", &self.tool),
            ("status", &self.status),
        ] {
            eq(col, v, &mut parts);
        }
        if let Some(c) = self.category.as_ref().filter(|v| !v.is_empty()) {
            args.push(Sql::Text(c.clone()));
            let n = args.len();
            parts.push(format!(
                "(category = ?{n} OR id IN (SELECT ref_id FROM events WHERE category = ?{n}))"
            ));
        }
        if let Some(s) = self.severity.as_ref().filter(|v| !v.is_empty()) {
            args.push(Sql::Text(s.clone()));
            let n = args.len();
            parts.push(format!(
                "(severity = ?{n} OR id IN (SELECT ref_id FROM events WHERE kind = 'finding' AND severity = ?{n}))"
            ));
        }
        if let Some(s) = &self.since {
            args.push(Sql::Integer(time_ns(s, "since")?));
            parts.push(format!("time_ns >= ?{}", args.len()));
        }
        if let Some(u) = &self.until {
            args.push(Sql::Integer(time_ns(u, "until")?));
            parts.push(format!("time_ns < ?{}", args.len()));
        }
        if let Some(q) = self.q.as_deref().and_then(fts_query) {
            args.push(Sql::Text(q));
            parts.push(format!(
                "idx IN (SELECT rowid FROM fts WHERE fts MATCH ?{})",
                args.len()
            ));
        }
        Ok((parts.join(" AND "), args))
    }

    fn limit(&self) -> i64 {
        i64::from(self.limit.unwrap_or(50).clamp(1, 500))
    }
}

impl Index {
    /// Events matching `f`, newest first, one page.
    ///
    /// # Errors
    /// [`IndexError::Invalid`] for a bad time or cursor; SQLite failures.
    pub fn events(&self, f: &Filter) -> Result<Page, IndexError> {
        let (mut clause, mut args) = f.clause()?;
        if let Some(c) = &f.cursor {
            let before: i64 = c
                .parse()
                .map_err(|_| IndexError::Invalid("cursor is not one this API gave".into()))?;
            args.push(Sql::Integer(before));
            clause.push_str(&format!(" AND idx < ?{}", args.len()));
        }
        let limit = f.limit();
        args.push(Sql::Integer(limit));
        let q = format!(
            "SELECT idx, id FROM events WHERE {clause} ORDER BY idx DESC LIMIT ?{}",
            args.len()
        );
        let rows = self.read(|c| rows_json(c, &q, &args, &["idx", "id"]))?;
        let hits: Vec<(u64, String)> = rows
            .iter()
            .filter_map(|r| Some((r["idx"].as_u64()?, r["id"].as_str()?.to_owned())))
            .collect();
        let next = (hits.len() as i64 == limit)
            .then(|| hits.last().map(|h| h.0.to_string()))
            .flatten();
        Ok(Page { hits, next })
    }

    /// The chain of a trace id or session: its events in order, and the findings, alerts
    /// and audit events that point at them.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn trace(&self, key: &str) -> Result<Vec<(u64, String)>, IndexError> {
        // Two indexed lookups joined by UNION (an OR of the two columns made SQLite scan).
        let q = "WITH base AS (
                    SELECT idx, id FROM events WHERE trace_id = ?1
                    UNION SELECT idx, id FROM events WHERE session = ?1)
                 SELECT idx, id FROM base
                 UNION
                 SELECT e.idx, e.id FROM events e WHERE e.ref_id IN (SELECT id FROM base)
                 ORDER BY idx LIMIT 20000";
        let rows = self.read(|c| rows_json(c, q, &[Sql::Text(key.to_owned())], &["idx", "id"]))?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((r["idx"].as_u64()?, r["id"].as_str()?.to_owned())))
            .collect())
    }

    /// Top prompts: requests grouped by their normalised last user message.
    ///
    /// # Errors
    /// As [`Index::events`].
    pub fn top_prompts(&self, f: &Filter) -> Result<Vec<Value>, IndexError> {
        let (clause, mut args) = f.clause()?;
        args.push(Sql::Integer(f.limit()));
        let q = format!(
            "SELECT prompt_key, count(*) AS n, count(DISTINCT user) AS users, max(id) AS sample, \
             max(time_ns) AS last FROM events WHERE kind = 'llm.request' AND prompt_key IS NOT NULL \
             AND {clause} GROUP BY prompt_key ORDER BY n DESC, last DESC LIMIT ?{}",
            args.len()
        );
        self.read(|c| {
            rows_json(
                c,
                &q,
                &args,
                &["prompt_key", "count", "users", "sample_id", "last_ns"],
            )
        })
    }

    /// Most-used tools: calls, distinct users, failures and blocked calls per tool.
    ///
    /// # Errors
    /// As [`Index::events`].
    pub fn tools(&self, f: &Filter) -> Result<Vec<Value>, IndexError> {
        let (clause, mut args) = f.clause()?;
        args.push(Sql::Integer(f.limit()));
        let q = format!(
            "SELECT tool, count(*) AS n, count(DISTINCT user), sum(status = 'error'), \
             sum(status = 'blocked') FROM events WHERE kind = 'tool.call' AND status != 'pending' \
             AND {clause} GROUP BY tool ORDER BY n DESC LIMIT ?{}",
            args.len()
        );
        self.read(|c| {
            rows_json(
                c,
                &q,
                &args,
                &["tool", "calls", "users", "failures", "blocked"],
            )
        })
    }

    /// Flagged events (those findings point at), newest first, with their findings' count,
    /// categories and highest severity.
    ///
    /// # Errors
    /// As [`Index::events`].
    pub fn flagged(&self, f: &Filter) -> Result<Vec<Value>, IndexError> {
        let (clause, mut args) = f.clause()?;
        args.push(Sql::Integer(f.limit()));
        // Findings grouped by the event they flag first (one pass over the findings), then the
        // flagged events filtered; joining first made SQLite revisit events per finding.
        let q = format!(
            "SELECT e.id, e.kind, e.user, e.time_ns, x.n, x.cats, x.sev FROM \
             (SELECT ref_id, count(*) AS n, group_concat(DISTINCT category) AS cats, \
              max(CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END) AS sev, \
              max(idx) AS last FROM events WHERE kind = 'finding' AND ref_id IS NOT NULL GROUP BY ref_id) x \
             JOIN events e ON e.id = x.ref_id WHERE {clause} ORDER BY x.last DESC LIMIT ?{}",
            args.len()
        );
        let mut rows = self.read(|c| {
            rows_json(
                c,
                &q,
                &args,
                &[
                    "event_id",
                    "kind",
                    "user",
                    "time_ns",
                    "findings",
                    "categories",
                    "max_severity",
                ],
            )
        })?;
        for r in &mut rows {
            let sev = match r["max_severity"].as_i64() {
                Some(4) => "critical",
                Some(3) => "high",
                Some(2) => "medium",
                _ => "low",
            };
            r["max_severity"] = Value::from(sev);
            let cats: Vec<Value> = r["categories"]
                .as_str()
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(Value::from)
                .collect();
            r["categories"] = Value::Array(cats);
        }
        Ok(rows)
    }

    /// Activity per user: requests, tokens, tool calls, findings, last seen.
    ///
    /// # Errors
    /// As [`Index::events`].
    pub fn users(&self, f: &Filter) -> Result<Vec<Value>, IndexError> {
        let (clause, mut args) = f.clause()?;
        args.push(Sql::Integer(f.limit()));
        let q = format!(
            "SELECT user, sum(kind = 'llm.request') AS requests, \
             coalesce(sum(input_tokens), 0) + coalesce(sum(output_tokens), 0), \
             sum(kind = 'tool.call' AND status != 'pending'), sum(kind = 'finding'), max(time_ns) \
             FROM events WHERE user IS NOT NULL AND {clause} GROUP BY user \
             ORDER BY requests DESC LIMIT ?{}",
            args.len()
        );
        self.read(|c| {
            rows_json(
                c,
                &q,
                &args,
                &[
                    "user",
                    "requests",
                    "tokens",
                    "tool_calls",
                    "findings",
                    "last_ns",
                ],
            )
        })
    }

    /// Requests, tokens, mean latency, errors and findings per time bucket.
    ///
    /// # Errors
    /// As [`Index::events`].
    pub fn timeseries(&self, f: &Filter) -> Result<Vec<Value>, IndexError> {
        let (clause, mut args) = f.clause()?;
        let bucket = i64::from(f.bucket.unwrap_or(3600).clamp(1, 366 * 86_400)) * 1_000_000_000;
        args.push(Sql::Integer(bucket));
        let b = args.len();
        let q = format!(
            "SELECT (time_ns / ?{b}) * ?{b} AS t, sum(kind = 'llm.request'), \
             coalesce(sum(input_tokens), 0) + coalesce(sum(output_tokens), 0), \
             avg(CASE WHEN kind = 'llm.response' THEN latency_ms END), \
             sum(kind = 'llm.response' AND status = 'error'), sum(kind = 'finding') \
             FROM events WHERE {clause} GROUP BY t ORDER BY t LIMIT 10000"
        );
        self.read(|c| {
            rows_json(
                c,
                &q,
                &args,
                &[
                    "t_ns",
                    "requests",
                    "tokens",
                    "latency_ms_avg",
                    "errors",
                    "findings",
                ],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_becomes_quoted_terms() {
        assert_eq!(
            fts_query("refund status").as_deref(),
            Some("\"refund\" AND \"status\"")
        );
        assert_eq!(
            fts_query("x\" OR 1=1 NEAR(").as_deref(),
            Some("\"x\" AND \"OR\" AND \"1\" AND \"1\" AND \"NEAR\"")
        );
        assert_eq!(fts_query("  ,;  "), None);
    }
}
