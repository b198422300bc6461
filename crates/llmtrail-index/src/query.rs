//! The API's filters and the queries built from them.
//!
//! Contract: every value reaches SQLite as a bound parameter, never in the SQL text; `q` is
//! turned into an FTS5 expression of quoted terms (all must match), so FTS5 syntax in user
//! input is matched as words, not run. Results are ordered by ledger index, newest first;
//! the cursor is the last index of a page. Statistics come from the rollups (`crate::rollup`)
//! when the filter allows, else from the rows, with the same answer either way; ties are
//! broken by key so that an answer is one answer.

use rusqlite::types::Value as Sql;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::rollup::{ALL, HOUR_NS, Plan};
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

    /// How a statistic over `f` is answered: from the rollups when the filter allows.
    fn plan(&self, f: &Filter) -> Result<Plan, IndexError> {
        let since = f
            .since
            .as_deref()
            .map(|s| time_ns(s, "since"))
            .transpose()?;
        let until = f
            .until
            .as_deref()
            .map(|u| time_ns(u, "until"))
            .transpose()?;
        if !self.rollups_on() {
            return Ok(Plan::Raw);
        }
        if since.is_some() || until.is_some() {
            // A range that holds every event answers as all time does (a dashboard's "last
            // 30 days" on younger data), and the all-time rollups answer that at once.
            let (first, last) = self.read(|c| {
                // Two subqueries: SQLite reads a lone min() or max() off the index, but
                // scans the table for both in one SELECT.
                c.query_row(
                    "SELECT (SELECT min(time_ns) FROM events), (SELECT max(time_ns) FROM events)",
                    [],
                    |r| Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?)),
                )
                .map_err(|source| IndexError::Sqlite {
                    what: "time bounds",
                    source,
                })
            })?;
            if let (Some(first), Some(last)) = (first, last)
                && since.is_none_or(|s| s <= first)
                && until.is_none_or(|u| u > last)
            {
                return Ok(Plan::of(f, None, None));
            }
        }
        Ok(Plan::of(f, since, until))
    }

    /// Top prompts: requests grouped by their normalised last user message, most asked first
    /// (then the most recent, then by key).
    ///
    /// # Errors
    /// As [`Index::events`].
    pub fn top_prompts(&self, f: &Filter) -> Result<Vec<Value>, IndexError> {
        let names = ["prompt_key", "count", "users", "sample_id", "last_ns"];
        let (q, args) = match self.plan(f)? {
            Plan::Raw => {
                let (clause, mut args) = f.clause()?;
                args.push(Sql::Integer(f.limit()));
                let q = format!(
                    "SELECT prompt_key, count(*) AS n, count(DISTINCT user) AS users, max(id) AS sample, \
                     max(time_ns) AS last FROM events WHERE kind = 'llm.request' AND prompt_key IS NOT NULL \
                     AND {clause} GROUP BY prompt_key ORDER BY n DESC, last DESC, prompt_key LIMIT ?{}",
                    args.len()
                );
                (q, args)
            }
            Plan::Rollup { all_time: true, .. } => (
                "SELECT t.pkey, t.n, (SELECT count(*) FROM roll_prompt p WHERE p.hour = ?2 \
                 AND p.pkey = t.pkey AND p.has_user = 1), t.max_id, t.last_ns \
                 FROM roll_prompt_total t ORDER BY t.n DESC, t.last_ns DESC, t.pkey LIMIT ?1"
                    .to_owned(),
                vec![Sql::Integer(f.limit()), Sql::Integer(ALL)],
            ),
            Plan::Rollup { lo, hi, edges, .. } => {
                let mut args = vec![Sql::Integer(lo), Sql::Integer(hi)];
                let rows = edge_rows(
                    &edges,
                    &mut args,
                    "prompt_key, user IS NOT NULL, coalesce(user, ''), 1, id, time_ns",
                    "kind = 'llm.request' AND prompt_key IS NOT NULL",
                );
                args.push(Sql::Integer(f.limit()));
                let q = format!(
                    "SELECT pkey, sum(n) AS cnt, count(DISTINCT CASE WHEN has_user THEN user END), \
                     max(max_id), max(last_ns) AS last FROM \
                     (SELECT pkey, has_user, user, n, max_id, last_ns FROM roll_prompt \
                      WHERE hour >= ?1 AND hour < ?2{rows}) \
                     GROUP BY pkey ORDER BY cnt DESC, last DESC, pkey LIMIT ?{}",
                    args.len()
                );
                (q, args)
            }
        };
        self.read(|c| rows_json(c, &q, &args, &names))
    }

    /// Most-used tools: calls, distinct users, failures and blocked calls per tool (pending
    /// calls not counted), most called first.
    ///
    /// # Errors
    /// As [`Index::events`].
    pub fn tools(&self, f: &Filter) -> Result<Vec<Value>, IndexError> {
        let names = ["tool", "calls", "users", "failures", "blocked"];
        let (q, args) = match self.plan(f)? {
            Plan::Raw => {
                let (clause, mut args) = f.clause()?;
                args.push(Sql::Integer(f.limit()));
                let q = format!(
                    "SELECT tool, count(*) AS n, count(DISTINCT user), sum(status = 'error'), \
                     sum(status = 'blocked') FROM events WHERE kind = 'tool.call' AND status != 'pending' \
                     AND {clause} GROUP BY tool ORDER BY n DESC, tool LIMIT ?{}",
                    args.len()
                );
                (q, args)
            }
            Plan::Rollup {
                lo,
                hi,
                edges,
                all_time,
            } => {
                let (lo, hi) = if all_time { (ALL, ALL + 1) } else { (lo, hi) };
                let mut args = vec![Sql::Integer(lo), Sql::Integer(hi)];
                let rows = edge_rows(
                    &edges,
                    &mut args,
                    "tool, user IS NOT NULL, coalesce(user, ''), 1, status = 'error', status = 'blocked'",
                    "kind = 'tool.call' AND status != 'pending'",
                );
                args.push(Sql::Integer(f.limit()));
                let q = format!(
                    "SELECT tool, sum(calls) AS n, count(DISTINCT CASE WHEN has_user THEN user END), \
                     sum(failures), sum(blocked) FROM \
                     (SELECT tool, has_user, user, calls, failures, blocked FROM roll_tool \
                      WHERE hour >= ?1 AND hour < ?2{rows}) \
                     GROUP BY tool ORDER BY n DESC, tool LIMIT ?{}",
                    args.len()
                );
                (q, args)
            }
        };
        self.read(|c| rows_json(c, &q, &args, &names))
    }

    /// Flagged events (those findings point at), newest finding first, with their findings'
    /// count, categories (sorted) and highest severity.
    ///
    /// # Errors
    /// As [`Index::events`].
    pub fn flagged(&self, f: &Filter) -> Result<Vec<Value>, IndexError> {
        let (clause, mut args) = f.clause()?;
        args.push(Sql::Integer(f.limit()));
        // The findings grouped by the event they flag, then the flagged events filtered. The
        // rollup `roll_flagged` is exactly that grouping, kept as findings arrive, so it serves
        // every filter; grouping first (rather than joining) kept SQLite from revisiting events
        // per finding.
        // With the rollup, the flagged events are visited newest first (CROSS JOIN keeps
        // `roll_flagged` outside, read backwards by `last_idx`) and the scan stops at the limit.
        let grouped = if self.rollups_on() {
            "roll_flagged x CROSS JOIN"
        } else {
            "(SELECT ref_id AS target, count(*) AS findings, group_concat(DISTINCT category) AS cats, \
              max(CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END) AS sev, \
              max(idx) AS last_idx FROM events WHERE kind = 'finding' AND ref_id IS NOT NULL GROUP BY ref_id) x \
             JOIN"
        };
        let q = format!(
            "SELECT e.id, e.kind, e.user, e.time_ns, x.findings, x.cats, x.sev FROM {grouped} \
             events e ON e.id = x.target WHERE {clause} ORDER BY x.last_idx DESC LIMIT ?{}",
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
            let mut cats: Vec<&str> = r["categories"]
                .as_str()
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .collect();
            cats.sort_unstable();
            cats.dedup();
            let cats: Vec<Value> = cats.into_iter().map(Value::from).collect();
            r["categories"] = Value::Array(cats);
        }
        Ok(rows)
    }

    /// Activity per user: requests, tokens, tool calls, findings, last seen; most requests
    /// first, then by user.
    ///
    /// # Errors
    /// As [`Index::events`].
    pub fn users(&self, f: &Filter) -> Result<Vec<Value>, IndexError> {
        let names = [
            "user",
            "requests",
            "tokens",
            "tool_calls",
            "findings",
            "last_ns",
        ];
        let (q, args) = match self.plan(f)? {
            Plan::Raw => {
                let (clause, mut args) = f.clause()?;
                args.push(Sql::Integer(f.limit()));
                let q = format!(
                    "SELECT user, sum(kind = 'llm.request') AS requests, \
                     coalesce(sum(input_tokens), 0) + coalesce(sum(output_tokens), 0), \
                     sum(kind = 'tool.call' AND coalesce(status, 'pending') != 'pending'), \
                     sum(kind = 'finding'), max(time_ns) \
                     FROM events WHERE user IS NOT NULL AND {clause} GROUP BY user \
                     ORDER BY requests DESC, user LIMIT ?{}",
                    args.len()
                );
                (q, args)
            }
            Plan::Rollup {
                lo,
                hi,
                edges,
                all_time,
            } => {
                let (lo, hi) = if all_time { (ALL, ALL + 1) } else { (lo, hi) };
                let mut args = vec![Sql::Integer(lo), Sql::Integer(hi)];
                let rows = edge_rows(
                    &edges,
                    &mut args,
                    "user, kind = 'llm.request', coalesce(input_tokens, 0) + coalesce(output_tokens, 0), \
                     kind = 'tool.call' AND coalesce(status, 'pending') != 'pending', kind = 'finding', time_ns",
                    "user IS NOT NULL",
                );
                args.push(Sql::Integer(f.limit()));
                let q = format!(
                    "SELECT user, sum(requests) AS r, sum(tokens), sum(tool_calls), sum(findings), \
                     max(last_ns) FROM \
                     (SELECT user, requests, tokens, tool_calls, findings, last_ns FROM roll_user \
                      WHERE hour >= ?1 AND hour < ?2{rows}) \
                     GROUP BY user ORDER BY r DESC, user LIMIT ?{}",
                    args.len()
                );
                (q, args)
            }
        };
        self.read(|c| rows_json(c, &q, &args, &names))
    }

    /// Requests, tokens, mean latency of responses, errors and findings per time bucket
    /// (`bucket` seconds, default 3600; buckets start at multiples of it since the epoch).
    ///
    /// # Errors
    /// As [`Index::events`].
    pub fn timeseries(&self, f: &Filter) -> Result<Vec<Value>, IndexError> {
        let bucket_s = i64::from(f.bucket.unwrap_or(3600).clamp(1, 366 * 86_400));
        let bucket = bucket_s * 1_000_000_000;
        let plan = match self.plan(f)? {
            // An hour must fall in one bucket for the hourly rollups to add up.
            Plan::Rollup { .. } if bucket_s % 3600 != 0 => Plan::Raw,
            p => p,
        };
        let floor = |t: &str| format!("({t} - ((({t} % {bucket}) + {bucket}) % {bucket}))");
        const CONTENT: &str = "kind IN ('llm.request', 'llm.response', 'tool.call')";
        // Sums per bucket, with the flagged events (content events with at least one finding
        // on them, by their own time); then distinct users per bucket.
        let (q, users, args) = match plan {
            Plan::Raw => {
                let (clause, args) = f.clause()?;
                let q = format!(
                    "SELECT {t} AS t, sum(kind = 'llm.request'), sum({CONTENT}), \
                     coalesce(sum(input_tokens), 0) + coalesce(sum(output_tokens), 0), \
                     sum(CASE WHEN kind = 'llm.response' THEN latency_us END), \
                     count(CASE WHEN kind = 'llm.response' THEN latency_us END), \
                     sum(kind = 'llm.response' AND coalesce(status, '') = 'error'), sum(kind = 'finding'), \
                     sum({CONTENT} AND id IN (SELECT ref_id FROM events WHERE kind = 'finding')) \
                     FROM events WHERE {clause} GROUP BY t ORDER BY t LIMIT 10000",
                    t = floor("time_ns")
                );
                let users = format!(
                    "SELECT {t} AS t, count(DISTINCT user) FROM events \
                     WHERE {clause} AND user IS NOT NULL GROUP BY t",
                    t = floor("time_ns")
                );
                (q, users, args)
            }
            Plan::Rollup { lo, hi, edges, .. } => {
                let mut args = vec![Sql::Integer(lo), Sql::Integer(hi)];
                let rows = edge_rows(
                    &edges,
                    &mut args,
                    &format!(
                        "time_ns, kind = 'llm.request', {CONTENT}, \
                         coalesce(input_tokens, 0) + coalesce(output_tokens, 0), \
                         CASE WHEN kind = 'llm.response' THEN latency_us END, \
                         kind = 'llm.response' AND latency_us IS NOT NULL, \
                         kind = 'llm.response' AND coalesce(status, '') = 'error', kind = 'finding', \
                         {CONTENT} AND id IN (SELECT ref_id FROM events WHERE kind = 'finding')"
                    ),
                    "1 = 1",
                );
                let q = format!(
                    "SELECT {} AS t, sum(requests), sum(content), sum(tokens), sum(lat_us), \
                     sum(lat_n), sum(errors), sum(findings), sum(flagged) FROM \
                     (SELECT hour * {HOUR_NS} AS ts, requests, content, tokens, lat_us, lat_n, \
                      errors, findings, flagged FROM roll_hour WHERE hour >= ?1 AND hour < ?2{rows}) \
                     GROUP BY t ORDER BY t LIMIT 10000",
                    floor("ts")
                );
                // The edges' bounds are ?3 and on, in the order edge_rows appended them.
                let mut n = 2;
                let mut edge = |select: &str, filter: &str| {
                    let mut out = String::new();
                    for _ in &edges {
                        out.push_str(&format!(
                            " UNION ALL SELECT {select} FROM events INDEXED BY events_time \
                             WHERE {filter} AND time_ns >= ?{} AND time_ns < ?{}",
                            n + 1,
                            n + 2
                        ));
                        n += 2;
                    }
                    out
                };
                let user_edges = edge("time_ns, user", "user IS NOT NULL");
                let users = format!(
                    "SELECT {} AS t, count(DISTINCT user) FROM \
                     (SELECT hour * {HOUR_NS} AS ts, user FROM roll_user \
                      WHERE hour >= ?1 AND hour < ?2 AND hour != {ALL}{user_edges}) GROUP BY t",
                    floor("ts")
                );
                (q, users, args)
            }
        };
        let (rows, users) = self.read(|c| {
            let rows = rows_json(
                c,
                &q,
                &args,
                &[
                    "t_ns", "requests", "content", "tokens", "lat_us", "lat_n", "errors",
                    "findings", "flagged",
                ],
            )?;
            // The users query uses a prefix of the same parameters.
            let per_bucket =
                |sql: &str| -> Result<std::collections::HashMap<i64, i64>, IndexError> {
                    let used = (1..=args.len())
                        .rev()
                        .find(|i| sql.contains(&format!("?{i}")))
                        .unwrap_or(0);
                    Ok(rows_json(c, sql, &args[..used], &["t", "n"])?
                        .into_iter()
                        .filter_map(|r| Some((r["t"].as_i64()?, r["n"].as_i64()?)))
                        .collect())
                };
            Ok((rows, per_bucket(&users)?))
        })?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let n = r["lat_n"].as_i64().unwrap_or(0);
                let avg =
                    (n > 0).then(|| r["lat_us"].as_i64().unwrap_or(0) as f64 / n as f64 / 1000.0);
                let t = r["t_ns"].as_i64().unwrap_or(0);
                json!({
                    "t_ns": r["t_ns"],
                    "requests": r["requests"],
                    "content_events": r["content"],
                    "users": users.get(&t).copied().unwrap_or(0),
                    "flagged": r["flagged"],
                    "tokens": r["tokens"],
                    "latency_ms_avg": avg,
                    "errors": r["errors"],
                    "findings": r["findings"],
                })
            })
            .collect())
    }
}

/// `UNION ALL` branches reading `select` from the rows of each edge range (with `filter`),
/// their bounds appended to `args`. An edge is under an hour: the time index finds its rows
/// (left to itself SQLite may prefer the kind index and walk every row of a kind).
fn edge_rows(edges: &[(i64, i64)], args: &mut Vec<Sql>, select: &str, filter: &str) -> String {
    let mut out = String::new();
    for (start, end) in edges {
        args.push(Sql::Integer(*start));
        args.push(Sql::Integer(*end));
        let (a, b) = (args.len() - 1, args.len());
        out.push_str(&format!(
            " UNION ALL SELECT {select} FROM events INDEXED BY events_time \
             WHERE {filter} AND time_ns >= ?{a} AND time_ns < ?{b}"
        ));
    }
    out
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
