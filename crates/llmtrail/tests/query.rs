//! End-to-end tests of the query index and API on the real binary: events posted to `serve`
//! are found by full text and filters, page by cursor, form traces and statistics; bad
//! queries are refused clearly; `llmtrail search` prints the same; `llmtrail reindex` and an
//! index rebuilt from scratch at startup give the same answers as the live index.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod common;

use std::time::{Duration, Instant};

use common::{Server, bin, run_with_env, write_config};
use serde_json::{Value, json};

fn ids_of(v: &Value) -> Vec<String> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls a query until it has `n` events (the index is fed behind a queue).
fn wait_for(server: &Server, path: &str, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = server.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let v = r.json();
        if v["events"].as_array().map_or(0, Vec::len) >= n {
            return v;
        }
        assert!(Instant::now() < deadline, "{path}: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn request(user: &str, session: &str, text: &str) -> Value {
    json!({"kind": "llm.request", "actor": {"user": user, "role": "finance", "session": session},
           "body": {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
                    "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": text}]}]}})
}

fn seed(server: &Server) -> Vec<String> {
    let mut events = vec![
        request("u-1", "s-1", "What is the refund status of order 1182?"),
        request("u-2", "s-2", "what is the refund status of order 77"),
        request("u-3", "s-3", "Write a haiku about ledgers"),
    ];
    let ids = server.post_all(&events);
    events = vec![
        json!({"kind": "llm.response", "body": {"request_id": ids[0], "status": "ok",
               "usage": {"gen_ai.usage.input_tokens": 20, "gen_ai.usage.output_tokens": 9}, "latency_ms": 412.5,
               "gen_ai.output.messages": [{"role": "assistant", "parts": [{"type": "text",
                 "content": "Your refund was approved. Contact ops@example.com with AKIAZ3MXQ7RT4WPL6NVB."}]}]}}),
        json!({"kind": "tool.call", "actor": {"user": "u-1", "session": "s-1"},
               "body": {"gen_ai.tool.name": "shell", "status": "blocked", "decision": "block",
                        "gen_ai.tool.call.arguments": {"command": "rm -rf /"}}}),
        json!({"kind": "tool.call", "actor": {"user": "u-2", "session": "s-2"},
               "body": {"gen_ai.tool.name": "search_orders", "status": "ok",
                        "gen_ai.tool.call.arguments": {"order": "77"}}}),
    ];
    let mut all = ids;
    all.extend(server.post_all(&events));
    all
}

#[test]
fn events_are_found_by_text_and_filters_and_form_traces_and_statistics() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "");
    let data = tmp.path().join("data");
    let server = Server::start(&data, &config);
    let ids = seed(&server);

    // Full text over prompts, outputs and tool arguments.
    let v = wait_for(&server, "/api/v1/events?q=refund%20status", 2);
    assert_eq!(
        ids_of(&v),
        vec![ids[1].clone(), ids[0].clone()],
        "newest first"
    );
    assert_eq!(
        v["events"][0]["event"]["body"]["gen_ai.input.messages"][0]["parts"][0]["content"],
        "what is the refund status of order 77",
        "content comes from the ledger"
    );
    let v = server.get("/api/v1/events?q=approved").json();
    assert_eq!(ids_of(&v), vec![ids[3].clone()]);
    // Filters; a response is filed under its request's user and model.
    let v = server
        .get("/api/v1/events?user=u-1&kind=llm.response")
        .json();
    assert_eq!(ids_of(&v), vec![ids[3].clone()]);
    let v = server
        .get("/api/v1/events?tool=shell&status=blocked")
        .json();
    assert_eq!(ids_of(&v), vec![ids[4].clone()]);
    let v = server
        .get("/api/v1/events?model=gpt-4o&role=finance&kind=llm.request")
        .json();
    assert_eq!(v["events"].as_array().unwrap().len(), 3);
    // Findings from detection: by category, and the events they flag.
    let v = wait_for(
        &server,
        "/api/v1/events?category=secret&kind=llm.response",
        1,
    );
    assert_eq!(ids_of(&v), vec![ids[3].clone()]);
    let v = wait_for(&server, "/api/v1/events?kind=finding&severity=critical", 1);
    assert_eq!(v["events"][0]["event"]["body"]["event_id"], ids[4].as_str());
    // Cursor pages cover everything once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/events?kind=llm.request&limit=2&cursor={c}"),
            None => "/api/v1/events?kind=llm.request&limit=2".into(),
        };
        let v = server.get(&path).json();
        seen.extend(ids_of(&v));
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, vec![ids[2].clone(), ids[1].clone(), ids[0].clone()]);
    // Time range.
    let v = server
        .get("/api/v1/events?until=2000-01-01T00:00:00Z")
        .json();
    assert!(v["events"].as_array().unwrap().is_empty());

    // The trail of a session: request, response, blocked call, and the findings on them.
    let v = server.get("/api/v1/traces/s-1").json();
    let kinds: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        &kinds[..3],
        &["llm.request", "llm.response", "tool.call"],
        "{kinds:?}"
    );
    // The findings on them, and the built-in alert rules' alert (an injection followed by a
    // blocked tool call in one session: `exfil-after-injection`, issue 7).
    assert!(
        kinds[3..].iter().all(|k| matches!(*k, "finding" | "alert")) && kinds.len() >= 5,
        "{kinds:?}"
    );

    // Statistics.
    let top = server.get("/api/v1/stats/top-prompts").json();
    assert_eq!(top["items"][0]["count"], 2, "{top}");
    assert_eq!(top["items"][0]["users"], 2);
    assert_eq!(
        top["items"][0]["sample"],
        "what is the refund status of order 77"
    );
    let tools = server.get("/api/v1/stats/tools").json();
    let shell = tools["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool"] == "shell")
        .unwrap();
    assert_eq!(shell["blocked"], 1);
    let flagged = server.get("/api/v1/stats/flagged").json();
    assert!(
        flagged["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["event_id"] == ids[4].as_str() && f["max_severity"] == "critical")
    );
    let users = server.get("/api/v1/stats/users").json();
    let u1 = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user"] == "u-1")
        .unwrap();
    assert_eq!(
        (u1["requests"].as_i64(), u1["tokens"].as_i64()),
        (Some(1), Some(29))
    );
    let ts = server.get("/api/v1/stats/timeseries?bucket=86400").json();
    assert_eq!(ts["items"][0]["requests"], 3);

    // The command line gives the same.
    let (code, out, err) = run_with_env(
        &[
            "search",
            "refund status",
            "--url",
            &server.url,
            "--format",
            "json",
        ],
        &[("LLMTRAIL_TOKEN", &server.token)],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(ids_of(&v), vec![ids[1].clone(), ids[0].clone()]);
    let (code, out, _) = run_with_env(
        &["search", "--url", &server.url, "--tool", "shell"],
        &[("LLMTRAIL_TOKEN", &server.token)],
    );
    assert_eq!(code, 0);
    assert!(out.contains("tool.call") && out.contains("rm -rf"), "{out}");

    // Bad queries are refused with a reason.
    for (path, status) in [
        ("/api/v1/events?colour=red", 400),
        ("/api/v1/events?since=yesterday", 400),
        ("/api/v1/events?cursor=abc", 400),
        ("/api/v1/events?limit=-1", 400),
        ("/api/v1/stats/nonsense", 404),
        ("/api/v1/traces/no-such-session", 404),
    ] {
        let r = server.get(path);
        assert_eq!(r.status, status, "{path}: {}", r.body);
        assert!(r.json()["error"]["code"].is_string());
    }
    // FTS5 syntax in q is searched as words, never run.
    let r = server.get("/api/v1/events?q=%22refund%22%20OR%20NEAR(x");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(server.get_anon("/api/v1/events").status, 401);

    // Answers to compare after rebuilding the index.
    let queries = [
        "/api/v1/events?q=refund",
        "/api/v1/events?category=secret",
        "/api/v1/events?limit=500",
        "/api/v1/traces/s-1",
        "/api/v1/stats/top-prompts",
        "/api/v1/stats/tools",
        "/api/v1/stats/users",
        "/api/v1/stats/flagged",
    ];
    // An analyst's reads are masked views, which append nothing (an admin's raw reads are
    // audited, and so would change the answers); wait until the index holds every record.
    let (code, analyst, err) = common::run(&[
        "tokens",
        "create",
        "--role",
        "analyst",
        "--name",
        "a",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let analyst = analyst.trim().to_owned();
    let as_analyst = |server: &Server, q: &str| -> Value {
        let mut r = common::agent()
            .get(format!("{}{q}", server.url))
            .header("authorization", format!("Bearer {analyst}"))
            .call()
            .unwrap();
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let size = loop {
        let n = server.size() as usize;
        if as_analyst(&server, "/api/v1/events?limit=500")["events"]
            .as_array()
            .unwrap()
            .len()
            == n
        {
            break n;
        }
        assert!(Instant::now() < deadline, "the index never caught up");
        std::thread::sleep(Duration::from_millis(50));
    };
    let before: Vec<Value> = queries.iter().map(|q| as_analyst(&server, q)).collect();
    server.stop();

    // reindex on the ledger: same answers.
    let (code, out, err) = common::run(&[
        "reindex",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("indexed"), "{out}");
    let server = Server::start(&data, &config);
    for (q, b) in queries.iter().zip(&before) {
        assert_eq!(&as_analyst(&server, q), b, "{q} after reindex");
    }
    server.stop();

    // No index at all: serve rebuilds it from the ledger at startup.
    std::fs::remove_dir_all(data.join("index")).unwrap();
    let server = Server::start(&data, &config);
    let deadline = Instant::now() + Duration::from_secs(20);
    while as_analyst(&server, "/api/v1/events?limit=500")["events"]
        .as_array()
        .unwrap()
        .len()
        < size
    {
        assert!(Instant::now() < deadline, "the index was not rebuilt");
        std::thread::sleep(Duration::from_millis(50));
    }
    for (q, b) in queries.iter().zip(&before) {
        assert_eq!(&as_analyst(&server, q), b, "{q} after a rebuild at startup");
    }
    server.stop();
    let _ = bin();
}
