//! `llmtrail search` (the query API on the command line) and `llmtrail reindex` (rebuild the
//! index from the ledger).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::Value;

/// `llmtrail search`
#[derive(Args)]
pub struct SearchArgs {
    /// Full text over prompts, outputs, tool arguments and results.
    q: Option<String>,
    /// The running server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API token.
    #[arg(long, env = "LLMTRAIL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Why raw content is read (forensic tokens need one; it is recorded in the ledger).
    #[arg(long)]
    reason: Option<String>,
    /// Output: `text` (one line per event) or `json` (the API's answer).
    #[arg(long, default_value = "text")]
    format: String,
    /// Instead of events: a statistic (top-prompts, tools, flagged, users, timeseries).
    #[arg(long, conflicts_with = "trace")]
    stats: Option<String>,
    /// Instead of events: the whole chain of a trace id or session.
    #[arg(long)]
    trace: Option<String>,
    /// Event kind (llm.request, llm.response, tool.call, finding, alert, audit).
    #[arg(long)]
    kind: Option<String>,
    /// Actor user.
    #[arg(long)]
    user: Option<String>,
    /// Actor role.
    #[arg(long)]
    role: Option<String>,
    /// Actor department.
    #[arg(long)]
    department: Option<String>,
    /// Session or conversation id.
    #[arg(long)]
    session: Option<String>,
    /// Model.
    #[arg(long)]
    model: Option<String>,
    /// Provider.
    #[arg(long)]
    provider: Option<String>,
    /// Tool name.
    #[arg(long)]
    tool: Option<String>,
    /// Finding category (findings of it and the events they flag).
    #[arg(long)]
    category: Option<String>,
    /// Severity (findings and alerts of it and the events they flag).
    #[arg(long)]
    severity: Option<String>,
    /// Status (ok, error, blocked, pending, …).
    #[arg(long)]
    status: Option<String>,
    /// From this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Until this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Page size (default 50, at most 500).
    #[arg(long)]
    limit: Option<u32>,
    /// The cursor printed after the previous page.
    #[arg(long)]
    cursor: Option<String>,
    /// Time-series bucket in seconds.
    #[arg(long)]
    bucket: Option<u32>,
}

fn summary(stored: &Value) -> String {
    let e = &stored["event"];
    let body = &e["body"];
    let text = match e["kind"].as_str() {
        Some("llm.request") => body["gen_ai.input.messages"]
            .as_array()
            .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
            .map(|m| parts_text(&m["parts"]))
            .unwrap_or_default(),
        Some("llm.response") => body["gen_ai.output.messages"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .map(|m| parts_text(&m["parts"]))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default(),
        Some("tool.call") => format!(
            "{} {} {}",
            body["gen_ai.tool.name"].as_str().unwrap_or(""),
            body["status"].as_str().unwrap_or(""),
            body.get("gen_ai.tool.call.arguments")
                .map(Value::to_string)
                .unwrap_or_default()
        ),
        Some("finding") => format!(
            "{} {} {} on {}",
            body["severity"].as_str().unwrap_or(""),
            body["category"].as_str().unwrap_or(""),
            body["type"].as_str().unwrap_or(""),
            body["event_id"].as_str().unwrap_or("")
        ),
        _ => body
            .get("action")
            .or(body.get("title"))
            .map(Value::to_string)
            .unwrap_or_default(),
    };
    // One line, control characters shown escaped: the text is whatever a user or model wrote.
    let one: String = text
        .chars()
        .take(120)
        .flat_map(char::escape_default)
        .collect();
    format!(
        "{:>8}  {}  {:<12}  {:<10}  {}",
        stored["index"],
        e["time"].as_str().unwrap_or(""),
        e["kind"].as_str().unwrap_or(""),
        e["actor"]["user"].as_str().unwrap_or("-"),
        one
    )
}

fn parts_text(parts: &Value) -> String {
    parts
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["content"].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Runs `llmtrail search`.
pub fn search(a: &SearchArgs) -> anyhow::Result<u8> {
    let mut params: Vec<(&str, String)> = Vec::new();
    let mut push = |k: &'static str, v: &Option<String>| {
        if let Some(v) = v {
            params.push((k, v.clone()));
        }
    };
    push("q", &a.q);
    push("kind", &a.kind);
    push("user", &a.user);
    push("role", &a.role);
    push("department", &a.department);
    push("session", &a.session);
    push("model", &a.model);
    push("provider", &a.provider);
    push("tool", &a.tool);
    push("category", &a.category);
    push("severity", &a.severity);
    push("status", &a.status);
    push("since", &a.since);
    push("until", &a.until);
    push("cursor", &a.cursor);
    push("limit", &a.limit.map(|l| l.to_string()));
    push("bucket", &a.bucket.map(|b| b.to_string()));
    let path = match (&a.stats, &a.trace) {
        (Some(s), _) => format!("/api/v1/stats/{s}"),
        (None, Some(t)) => {
            let mut p = String::from("/api/v1/traces/");
            for b in t.bytes() {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    p.push(char::from(b));
                } else {
                    p.push_str(&format!("%{b:02X}"));
                }
            }
            params.clear();
            p
        }
        (None, None) => "/api/v1/events".into(),
    };
    let client = crate::client::Client::new(&a.url, a.token.clone());
    let reply = client.get_query(&path, &params, a.reason.as_deref())?;
    if reply.status != 200 {
        bail!("GET {path}: HTTP {}: {}", reply.status, reply.body.trim());
    }
    let v: Value = serde_json::from_str(&reply.body).context("the server's answer is not JSON")?;
    if a.format == "json" {
        println!("{v}");
        return Ok(0);
    }
    if a.stats.is_some() {
        for item in v["items"].as_array().into_iter().flatten() {
            println!("{item}");
        }
        return Ok(0);
    }
    for e in v["events"].as_array().into_iter().flatten() {
        println!("{}", summary(e));
    }
    if let Some(c) = v["next_cursor"].as_str() {
        println!("-- more: --cursor {c}");
    }
    Ok(0)
}

/// Runs `llmtrail reindex`: builds a new index beside the old one, then puts it in place.
pub fn reindex(config: &llmtrail_server::Config) -> anyhow::Result<u64> {
    let ledger = llmtrail_server::serve::open_ledger(config)
        .context("opening the ledger (is serve running on this data directory? stop it first)")?;
    let path = llmtrail_server::index_feed::index_path(&config.data_dir);
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let fresh = dir.join("events.sqlite.rebuild");
    for f in [
        fresh.clone(),
        fresh.with_extension("rebuild-wal"),
        fresh.with_extension("rebuild-shm"),
    ] {
        let _ = std::fs::remove_file(f);
    }
    let n = {
        let index = llmtrail_index::Index::open(&fresh)?;
        llmtrail_server::index_feed::catch_up(&index, &ledger, 0, ledger.size())?
    };
    for suffix in ["-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    std::fs::rename(&fresh, &path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(n)
}
