//! Prometheus `/metrics` on the real binary (issue 7): requests through the real gateway are
//! counted per provider and model with their tokens and a latency histogram; findings by
//! category; export sinks with their queue, lag and deliveries; ledger size and checkpoint. The
//! endpoint needs a token of a role that reads.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod common;

use std::time::{Duration, Instant};

use common::{Server, agent, run, write_config};
use llmtrail_mock_upstream::MockUpstream;
use serde_json::json;

fn metrics(server: &Server, token: Option<&str>) -> (u16, String) {
    let mut req = agent().get(format!("{}/metrics", server.url));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut resp = req.call().unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn gateway_traffic_findings_sinks_and_the_ledger_show_up_in_metrics() {
    let mock = MockUpstream::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("events.jsonl");
    let config = write_config(
        tmp.path(),
        &format!(
            "[gateway]\n[gateway.upstreams.openai]\nbase_url = \"{}\"\n\
             [[export.sinks]]\ntype = \"file\"\nname = \"audit-file\"\npath = \"{}\"\n",
            mock.base_url(),
            out.display()
        ),
    );
    let server = Server::start(&tmp.path().join("data"), &config);
    for text in [
        "What is our Q3 cash position?",
        "Summarise the board memo",
        "My card is 4111 1111 1111 1111, is it on file?",
    ] {
        let mut resp = agent()
            .post(format!("{}/v1/chat/completions", server.url))
            .header("content-type", "application/json")
            .header("authorization", "Bearer sk-client")
            .send(
                json!({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]})
                    .to_string()
                    .as_bytes(),
            )
            .unwrap();
        assert_eq!(resp.status(), 200, "{:?}", resp.body_mut().read_to_string());
    }

    // No token, a write-only token: refused. A viewer may scrape.
    assert_eq!(metrics(&server, None).0, 401);
    let data = server.data_dir.to_str().unwrap();
    let (_, ingest, _) = run(&[
        "tokens",
        "create",
        "--data-dir",
        data,
        "--role",
        "ingest",
        "--name",
        "otel",
    ]);
    assert_eq!(metrics(&server, Some(ingest.trim())).0, 403);
    let (_, viewer, _) = run(&[
        "tokens",
        "create",
        "--data-dir",
        data,
        "--role",
        "viewer",
        "--name",
        "prom",
    ]);
    let viewer = viewer.trim().to_owned();

    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let (status, text) = metrics(&server, Some(&viewer));
        assert_eq!(status, 200);
        let findings = value(
            &text,
            r#"llmtrail_findings_total{category="pii",severity="high"}"#,
        )
        .or_else(|| {
            value(
                &text,
                r#"llmtrail_findings_total{category="pii",severity="medium"}"#,
            )
        });
        let delivered = value(
            &text,
            r#"llmtrail_export_delivered_total{sink="audit-file"}"#,
        );
        let size = value(&text, "llmtrail_ledger_records").unwrap_or(0.0);
        if findings.is_some() && delivered.is_some_and(|d| d >= size && d > 0.0) {
            break text;
        }
        assert!(Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let m = r#"provider="openai",model="gpt-4o""#;
    assert_eq!(
        value(&text, &format!("llmtrail_llm_requests_total{{{m}}}")),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            &format!("llmtrail_llm_responses_total{{{m},status=\"ok\"}}")
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(&text, &format!("llmtrail_llm_latency_seconds_count{{{m}}}")),
        Some(3.0),
        "{text}"
    );
    assert!(
        value(
            &text,
            &format!("llmtrail_llm_tokens_total{{{m},direction=\"input\"}}")
        )
        .unwrap()
            > 0.0
    );
    assert_eq!(
        value(&text, r#"llmtrail_events_total{kind="llm.request"}"#),
        Some(3.0)
    );
    assert_eq!(
        value(&text, r#"llmtrail_export_lag_records{sink="audit-file"}"#),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value(&text, r#"llmtrail_export_queue_records{sink="audit-file"}"#),
        Some(0.0),
        "{text}"
    );
    let size = value(&text, "llmtrail_ledger_records").unwrap();
    assert!(size >= 7.0, "3 requests, 3 responses, findings: {size}");
    assert!(value(&text, "llmtrail_checkpoint_size").is_some());
    assert!(value(&text, "llmtrail_checkpoint_age_seconds").is_some());
    // The exposition is well-formed: every sample line is `name{labels} number`.
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (_, v) = line.rsplit_once(' ').unwrap();
        assert!(
            v.parse::<f64>().is_ok() || v == "NaN" || v == "+Inf",
            "{line}"
        );
    }
}
