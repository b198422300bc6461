//! Rollups: pre-aggregated tables that answer the overview's statistics without grouping over
//! every row, kept in the same transaction as the rows they summarise.
//!
//! Tables (all derived from `events`; `llmtrail reindex` rebuilds them with the rows):
//!
//! | table | key | what |
//! | --- | --- | --- |
//! | `roll_hour` | hour | requests, content events (requests, responses, tool calls), tokens, latency (µs sum and count), errors, findings, flagged content events (by their own hour) |
//! | `roll_prompt` | hour, prompt key, user | requests, highest id, last time |
//! | `roll_prompt_total` | prompt key | requests, highest id, last time (all time) |
//! | `roll_tool` | hour, tool, user | calls, failures, blocked calls |
//! | `roll_user` | hour, user | requests, tokens, tool calls, findings, last time |
//! | `roll_flagged` | flagged event id | findings, their categories, highest severity, last index |
//!
//! An hour is `time_ns.div_euclid(3600 s)`. Rows under the hour [`ALL`] (`i64::MIN`) hold the
//! all-time totals of `roll_prompt`, `roll_tool` and `roll_user`; a user-less row has
//! `has_user = 0` and `user = ''`, so distinct users are counted exactly.
//!
//! Contract: a statistic answered from rollups is identical to the one grouped from the rows.
//! They are used when a filter allows it ([`Plan`]): no filter but `since`/`until`; whole hours
//! in the range come from the hourly rows and the partial hours at its edges from the rows
//! themselves. Sums are integers (latency in whole microseconds), so the order of addition does
//! not change an answer. The unit test `rollups_answer_as_the_rows_do` checks the identity on a
//! random data set.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Transaction, params};

use crate::query::Filter;
use crate::row::Row;
use crate::store::IndexError;

/// One hour in nanoseconds.
pub(crate) const HOUR_NS: i64 = 3_600_000_000_000;
/// The hour under which all-time totals are kept.
pub(crate) const ALL: i64 = i64::MIN;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS roll_hour (hour INTEGER PRIMARY KEY, requests INTEGER NOT NULL,
   content INTEGER NOT NULL, tokens INTEGER NOT NULL, lat_us INTEGER NOT NULL, lat_n INTEGER NOT NULL,
   errors INTEGER NOT NULL, findings INTEGER NOT NULL, flagged INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS roll_prompt (hour INTEGER NOT NULL, pkey TEXT NOT NULL,
   has_user INTEGER NOT NULL, user TEXT NOT NULL, n INTEGER NOT NULL, max_id TEXT NOT NULL,
   last_ns INTEGER NOT NULL, PRIMARY KEY (hour, pkey, has_user, user)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS roll_prompt_total (pkey TEXT PRIMARY KEY, n INTEGER NOT NULL,
   max_id TEXT NOT NULL, last_ns INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS roll_prompt_total_rank ON roll_prompt_total(n DESC, last_ns DESC, pkey);
CREATE TABLE IF NOT EXISTS roll_tool (hour INTEGER NOT NULL, tool TEXT NOT NULL,
   has_user INTEGER NOT NULL, user TEXT NOT NULL, calls INTEGER NOT NULL,
   failures INTEGER NOT NULL, blocked INTEGER NOT NULL,
   PRIMARY KEY (hour, tool, has_user, user)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS roll_user (hour INTEGER NOT NULL, user TEXT NOT NULL,
   requests INTEGER NOT NULL, tokens INTEGER NOT NULL, tool_calls INTEGER NOT NULL,
   findings INTEGER NOT NULL, last_ns INTEGER NOT NULL, PRIMARY KEY (hour, user)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS roll_flagged (target TEXT PRIMARY KEY, findings INTEGER NOT NULL,
   cats TEXT NOT NULL, sev INTEGER NOT NULL, last_idx INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS roll_flagged_last ON roll_flagged(last_idx);
";

/// The hour of a time in nanoseconds.
pub(crate) fn hour_of(t: i64) -> i64 {
    t.div_euclid(HOUR_NS)
}

/// The rank of a severity, as the flagged statistic orders them.
pub(crate) fn severity_rank(s: Option<&str>) -> i64 {
    match s {
        Some("critical") => 4,
        Some("high") => 3,
        Some("medium") => 2,
        _ => 1,
    }
}

#[derive(Default)]
struct HourAgg {
    requests: i64,
    content: i64,
    tokens: i64,
    lat_us: i64,
    lat_n: i64,
    errors: i64,
    findings: i64,
}

struct PromptAgg {
    n: i64,
    max_id: String,
    last_ns: i64,
}

#[derive(Default)]
struct ToolAgg {
    calls: i64,
    failures: i64,
    blocked: i64,
}

#[derive(Default)]
struct UserAgg {
    requests: i64,
    tokens: i64,
    tool_calls: i64,
    findings: i64,
    last_ns: i64,
}

struct FlagAgg {
    findings: i64,
    cats: BTreeSet<String>,
    sev: i64,
    last_idx: i64,
}

/// What a batch of new rows adds to the rollups, summed in memory so that each key is written
/// once per transaction, in key order (B-tree maps: neighbouring keys land on the same pages).
#[derive(Default)]
pub(crate) struct Delta {
    hours: BTreeMap<i64, HourAgg>,
    prompts: BTreeMap<(i64, String, Option<String>), PromptAgg>,
    prompt_totals: BTreeMap<String, PromptAgg>,
    tools: BTreeMap<(i64, String, Option<String>), ToolAgg>,
    users: BTreeMap<(i64, String), UserAgg>,
    flagged: BTreeMap<String, FlagAgg>,
    /// Content events of the batch (id, hour): each counts as flagged in its hour once a
    /// finding points at it, whichever of the two is indexed first.
    content: Vec<(String, i64)>,
}

const CONTENT_KINDS: &str = "('llm.request', 'llm.response', 'tool.call')";

impl Delta {
    /// Adds one row that was just inserted (as stored: after inheriting from its request).
    pub(crate) fn add(&mut self, r: &Row) {
        let hour = hour_of(r.time_ns);
        let tokens = r.input_tokens.unwrap_or(0) + r.output_tokens.unwrap_or(0);
        let status = r.status.as_deref();
        let is = |k: &str| r.kind == k;
        let h = self.hours.entry(hour).or_default();
        h.requests += i64::from(is("llm.request"));
        if is("llm.request") || is("llm.response") || is("tool.call") {
            h.content += 1;
            self.content.push((r.id.clone(), hour));
        }
        h.tokens += tokens;
        if is("llm.response")
            && let Some(us) = r.latency_us
        {
            h.lat_us += us;
            h.lat_n += 1;
        }
        h.errors += i64::from(is("llm.response") && status == Some("error"));
        h.findings += i64::from(is("finding"));

        let counted_call = is("tool.call") && status.is_some_and(|s| s != "pending");
        if let Some(user) = &r.user {
            for hr in [hour, ALL] {
                let u = self
                    .users
                    .entry((hr, user.clone()))
                    .or_insert_with(|| UserAgg {
                        last_ns: r.time_ns,
                        ..UserAgg::default()
                    });
                u.requests += i64::from(is("llm.request"));
                u.tokens += tokens;
                u.tool_calls += i64::from(counted_call);
                u.findings += i64::from(is("finding"));
                u.last_ns = u.last_ns.max(r.time_ns);
            }
        }
        if counted_call && let Some(tool) = &r.tool {
            for hr in [hour, ALL] {
                let t = self
                    .tools
                    .entry((hr, tool.clone(), r.user.clone()))
                    .or_default();
                t.calls += 1;
                t.failures += i64::from(status == Some("error"));
                t.blocked += i64::from(status == Some("blocked"));
            }
        }
        if is("llm.request")
            && let Some(key) = &r.prompt_key
        {
            for hr in [hour, ALL] {
                bump(self.prompts.entry((hr, key.clone(), r.user.clone())), r);
            }
            bump(self.prompt_totals.entry(key.clone()), r);
        }
        if is("finding")
            && let Some(target) = &r.ref_id
        {
            let idx = i64::try_from(r.idx).unwrap_or(i64::MAX);
            let sev = severity_rank(r.severity.as_deref());
            let f = self.flagged.entry(target.clone()).or_insert(FlagAgg {
                findings: 0,
                cats: BTreeSet::new(),
                sev,
                last_idx: idx,
            });
            f.findings += 1;
            f.sev = f.sev.max(sev);
            f.last_idx = f.last_idx.max(idx);
            if let Some(c) = &r.category {
                f.cats.insert(c.clone());
            }
        }
    }

    /// Writes the sums into the rollup tables.
    pub(crate) fn write(&self, tx: &Transaction<'_>) -> Result<(), IndexError> {
        let e = |what: &'static str| move |source| IndexError::Sqlite { what, source };
        let mut st = tx
            .prepare_cached(
                "INSERT INTO roll_hour (hour, requests, content, tokens, lat_us, lat_n, errors, \
                 findings, flagged) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0) \
                 ON CONFLICT(hour) DO UPDATE SET \
                 requests = requests + excluded.requests, content = content + excluded.content, \
                 tokens = tokens + excluded.tokens, \
                 lat_us = lat_us + excluded.lat_us, lat_n = lat_n + excluded.lat_n, \
                 errors = errors + excluded.errors, findings = findings + excluded.findings",
            )
            .map_err(e("prepare rollup"))?;
        for (hour, h) in &self.hours {
            st.execute(params![
                hour, h.requests, h.content, h.tokens, h.lat_us, h.lat_n, h.errors, h.findings
            ])
            .map_err(e("rollup hours"))?;
        }
        let mut st = tx
            .prepare_cached(
                "INSERT INTO roll_prompt (hour, pkey, has_user, user, n, max_id, last_ns) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO UPDATE SET n = n + excluded.n, \
                 max_id = max(max_id, excluded.max_id), last_ns = max(last_ns, excluded.last_ns)",
            )
            .map_err(e("prepare rollup"))?;
        for ((hour, key, user), p) in &self.prompts {
            st.execute(params![
                hour,
                key,
                user.is_some(),
                user.as_deref().unwrap_or(""),
                p.n,
                p.max_id,
                p.last_ns
            ])
            .map_err(e("rollup prompts"))?;
        }
        let mut st = tx
            .prepare_cached(
                "INSERT INTO roll_prompt_total (pkey, n, max_id, last_ns) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT DO UPDATE SET n = n + excluded.n, \
                 max_id = max(max_id, excluded.max_id), last_ns = max(last_ns, excluded.last_ns)",
            )
            .map_err(e("prepare rollup"))?;
        for (key, p) in &self.prompt_totals {
            st.execute(params![key, p.n, p.max_id, p.last_ns])
                .map_err(e("rollup prompt totals"))?;
        }
        let mut st = tx
            .prepare_cached(
                "INSERT INTO roll_tool (hour, tool, has_user, user, calls, failures, blocked) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO UPDATE SET \
                 calls = calls + excluded.calls, failures = failures + excluded.failures, \
                 blocked = blocked + excluded.blocked",
            )
            .map_err(e("prepare rollup"))?;
        for ((hour, tool, user), t) in &self.tools {
            st.execute(params![
                hour,
                tool,
                user.is_some(),
                user.as_deref().unwrap_or(""),
                t.calls,
                t.failures,
                t.blocked
            ])
            .map_err(e("rollup tools"))?;
        }
        let mut st = tx
            .prepare_cached(
                "INSERT INTO roll_user (hour, user, requests, tokens, tool_calls, findings, last_ns) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO UPDATE SET \
                 requests = requests + excluded.requests, tokens = tokens + excluded.tokens, \
                 tool_calls = tool_calls + excluded.tool_calls, \
                 findings = findings + excluded.findings, last_ns = max(last_ns, excluded.last_ns)",
            )
            .map_err(e("prepare rollup"))?;
        for ((hour, user), u) in &self.users {
            st.execute(params![
                hour,
                user,
                u.requests,
                u.tokens,
                u.tool_calls,
                u.findings,
                u.last_ns
            ])
            .map_err(e("rollup users"))?;
        }
        // Flagged content events per hour, counted once per event: a content event of this
        // batch that findings already pointed at, and a newly flagged event already indexed.
        let mut flagged_hours: BTreeMap<i64, i64> = BTreeMap::new();
        let mut known = tx
            .prepare_cached("SELECT 1 FROM roll_flagged WHERE target = ?1")
            .map_err(e("prepare rollup"))?;
        for (id, hour) in &self.content {
            if known.exists([id]).map_err(e("rollup flagged"))? {
                *flagged_hours.entry(*hour).or_default() += 1;
            }
        }
        let mut target_time = tx
            .prepare_cached(&format!(
                "SELECT time_ns FROM events WHERE id = ?1 AND kind IN {CONTENT_KINDS}"
            ))
            .map_err(e("prepare rollup"))?;
        let mut get = tx
            .prepare_cached(
                "SELECT findings, cats, sev, last_idx FROM roll_flagged WHERE target = ?1",
            )
            .map_err(e("prepare rollup"))?;
        let mut put = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO roll_flagged (target, findings, cats, sev, last_idx) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(e("prepare rollup"))?;
        for (target, f) in &self.flagged {
            let old = get
                .query_row([target], |q| {
                    Ok((
                        q.get::<_, i64>(0)?,
                        q.get::<_, String>(1)?,
                        q.get::<_, i64>(2)?,
                        q.get::<_, i64>(3)?,
                    ))
                })
                .ok();
            if old.is_none()
                && let Ok(t) = target_time.query_row([target], |q| q.get::<_, i64>(0))
            {
                *flagged_hours.entry(hour_of(t)).or_default() += 1;
            }
            let mut cats = f.cats.clone();
            let (mut n, mut sev, mut last) = (f.findings, f.sev, f.last_idx);
            if let Some((on, oc, os, ol)) = old {
                n += on;
                sev = sev.max(os);
                last = last.max(ol);
                cats.extend(oc.split(',').filter(|s| !s.is_empty()).map(str::to_owned));
            }
            let cats = cats.into_iter().collect::<Vec<_>>().join(",");
            put.execute(params![target, n, cats, sev, last])
                .map_err(e("rollup flagged"))?;
        }
        let mut st = tx
            .prepare_cached(
                "INSERT INTO roll_hour (hour, requests, content, tokens, lat_us, lat_n, errors, \
                 findings, flagged) VALUES (?1, 0, 0, 0, 0, 0, 0, 0, ?2) \
                 ON CONFLICT(hour) DO UPDATE SET flagged = flagged + excluded.flagged",
            )
            .map_err(e("prepare rollup"))?;
        for (hour, n) in &flagged_hours {
            st.execute(params![hour, n])
                .map_err(e("rollup flagged hours"))?;
        }
        Ok(())
    }
}

fn bump<K: Ord>(entry: std::collections::btree_map::Entry<'_, K, PromptAgg>, r: &Row) {
    let p = entry.or_insert_with(|| PromptAgg {
        n: 0,
        max_id: r.id.clone(),
        last_ns: r.time_ns,
    });
    p.n += 1;
    if r.id > p.max_id {
        p.max_id.clone_from(&r.id);
    }
    p.last_ns = p.last_ns.max(r.time_ns);
}

/// How a statistic can be answered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan {
    /// From the rows (a filter the rollups do not cover).
    Raw,
    /// From the rollups: hours `[lo, hi)` (hour keys) and the rows of the `edges` time ranges
    /// (`[start, end)` in ns), which are the partial hours at the ends of the range.
    Rollup {
        /// First whole hour.
        lo: i64,
        /// Past the last whole hour.
        hi: i64,
        /// Partial hours read from the rows.
        edges: Vec<(i64, i64)>,
        /// No time bound at all: the all-time rows (hour [`ALL`]) answer.
        all_time: bool,
    },
}

impl Plan {
    /// The plan for a filter (its `since` and `until` parsed to ns).
    pub(crate) fn of(f: &Filter, since: Option<i64>, until: Option<i64>) -> Plan {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        let filtered = [
            &f.q,
            &f.kind,
            &f.user,
            &f.role,
            &f.department,
            &f.session,
            &f.model,
            &f.provider,
            &f.tool,
            &f.category,
            &f.severity,
            &f.status,
        ]
        .into_iter()
        .any(set);
        if filtered {
            return Plan::Raw;
        }
        if since.is_none() && until.is_none() {
            return Plan::Rollup {
                lo: ALL + 1,
                hi: i64::MAX,
                edges: Vec::new(),
                all_time: true,
            };
        }
        let lo = match since {
            Some(s) => {
                let h = s.div_euclid(HOUR_NS) + i64::from(s.rem_euclid(HOUR_NS) != 0);
                if h.checked_mul(HOUR_NS).is_none() {
                    return Plan::Raw;
                }
                h
            }
            None => ALL + 1,
        };
        let hi = match until {
            Some(u) => u.div_euclid(HOUR_NS),
            None => i64::MAX,
        };
        if lo >= hi {
            // Within two partial hours: the rows answer as fast.
            return Plan::Raw;
        }
        let mut edges = Vec::new();
        if let Some(s) = since
            && s < lo * HOUR_NS
        {
            edges.push((s, lo * HOUR_NS));
        }
        if let Some(u) = until
            && hi * HOUR_NS < u
        {
            edges.push((hi * HOUR_NS, u));
        }
        Plan::Rollup {
            lo,
            hi,
            edges,
            all_time: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_whole_hours_and_read_the_edges() {
        let f = Filter::default();
        assert!(matches!(
            Plan::of(&f, None, None),
            Plan::Rollup { all_time: true, .. }
        ));
        let h = HOUR_NS;
        assert_eq!(
            Plan::of(&f, Some(10 * h + 5), Some(20 * h)),
            Plan::Rollup {
                lo: 11,
                hi: 20,
                edges: vec![(10 * h + 5, 11 * h)],
                all_time: false
            }
        );
        assert_eq!(
            Plan::of(&f, Some(10 * h), Some(20 * h + 1)),
            Plan::Rollup {
                lo: 10,
                hi: 20,
                edges: vec![(20 * h, 20 * h + 1)],
                all_time: false
            }
        );
        assert_eq!(Plan::of(&f, Some(10 * h + 1), Some(11 * h + 1)), Plan::Raw);
        let user = Filter {
            user: Some("u".into()),
            ..Filter::default()
        };
        assert_eq!(Plan::of(&user, None, None), Plan::Raw);
    }
}
