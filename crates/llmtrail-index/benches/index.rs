//! Index benchmark: builds an index of N synthetic events (default 1,000,000: requests,
//! responses, tool calls and findings from 200 users over 5.8 days, with prompt text drawn
//! from a small vocabulary) and times ingestion and the API's queries.
//!
//!     cargo bench -p llmtrail-index --bench index             # N = 1,000,000
//!     cargo bench -p llmtrail-index --bench index -- 100000   # smaller N
//!
//! Prints events/s for ingestion (rows built from events and added in transactions of
//! 4,096, as the feed does, rollups included) and the median of 5 runs of each query; the
//! statistics both from the rollups and from the rows.

use std::time::Instant;

use llmtrail_core::{
    Actor, Event, Finding, FindingCategory, LlmRequest, LlmResponse, Message, Part, ResponseStatus,
    Severity, ToolCall, ToolStatus, Usage,
};
use llmtrail_index::{Filter, Index, Row};

const WORDS: &[&str] = &[
    "refund",
    "invoice",
    "order",
    "status",
    "summarise",
    "contract",
    "customer",
    "balance",
    "shipping",
    "address",
    "password",
    "reset",
    "quarterly",
    "report",
    "revenue",
    "forecast",
    "meeting",
    "notes",
    "translate",
    "email",
    "draft",
    "policy",
    "security",
    "incident",
    "database",
    "migration",
    "kubernetes",
    "deploy",
    "error",
    "latency",
    "budget",
    "hiring",
];

fn text(seed: u64, n: usize) -> String {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x >> 33;
            x = x.wrapping_mul(0xff51afd7ed558ccd);
            WORDS[(x % WORDS.len() as u64) as usize]
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn events(i: u64) -> Vec<Event> {
    let user = format!("u-{}", i % 200);
    let actor = Actor {
        user: Some(user),
        role: Some(["finance", "support", "engineering"][(i % 3) as usize].into()),
        session: Some(format!("s-{}", i / 4)),
        ..Actor::default()
    };
    let t0 = jiff::Timestamp::from_second(1_780_000_000 + (i as i64) * 2).unwrap_or_default();
    let mut req = LlmRequest::new(
        "openai",
        ["gpt-4o", "gpt-4o-mini", "claude-sonnet"][(i % 3) as usize],
    );
    req.messages.push(Message {
        role: "user".into(),
        name: None,
        parts: vec![Part::Text {
            content: format!("{} {}", text(i % 5000, 12), i % 97),
        }],
        finish_reason: None,
    });
    let mut a = Event::new(req);
    a.actor = actor.clone();
    a.time = t0;
    let mut resp = LlmResponse::new(if i.is_multiple_of(50) {
        ResponseStatus::Error
    } else {
        ResponseStatus::Ok
    });
    resp.request_id = Some(a.id);
    resp.usage = Some(Usage {
        input_tokens: 40 + i % 300,
        output_tokens: 80 + i % 500,
        total_tokens: None,
        cache_read_input_tokens: None,
        cache_creation_input_tokens: None,
        reasoning_output_tokens: None,
    });
    resp.latency_ms = Some(200.0 + (i % 900) as f64);
    resp.output_messages.push(Message {
        role: "assistant".into(),
        name: None,
        parts: vec![Part::Text {
            content: text(i, 40),
        }],
        finish_reason: None,
    });
    let mut b = Event::new(resp);
    b.time = t0;
    let mut call = ToolCall::new(
        ["search_orders", "shell", "read_file", "http_get"][(i % 4) as usize],
        ToolStatus::Ok,
    );
    call.arguments = Some(serde_json::json!({"q": text(i, 4)}));
    let mut c = Event::new(call);
    c.actor = actor;
    c.time = t0;
    let f = Finding {
        event_id: b.id,
        category: [
            FindingCategory::Pii,
            FindingCategory::Secret,
            FindingCategory::PromptInjection,
        ][(i % 3) as usize],
        finding_type: "email".into(),
        severity: [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ][(i % 4) as usize],
        confidence: None,
        detector: "rules".into(),
        rule_id: None,
        location: None,
        preview: None,
        owasp: None,
        atlas: None,
    };
    let mut d = Event::new(f);
    d.time = t0;
    vec![a, b, c, d]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<T>(name: &str, target_ms: Option<f64>, mut f: impl FnMut() -> T) -> f64 {
    let runs: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let m = median(runs);
    match target_ms {
        Some(t) => println!("{name:<52} {m:>9.2} ms  (target < {t} ms)"),
        None => println!("{name:<52} {m:>9.2} ms"),
    }
    m
}

fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let ix = Index::open(&dir.path().join("bench.sqlite")).unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    let mut idx = 0u64;
    let mut rows = Vec::with_capacity(4096);
    for i in 0..n / 4 {
        for e in events(i) {
            rows.push(Row::of(idx, &e));
            idx += 1;
        }
        if rows.len() >= 4096 {
            ix.add(&rows).unwrap_or_else(|e| panic!("{e}"));
            rows.clear();
        }
    }
    ix.add(&rows).unwrap_or_else(|e| panic!("{e}"));
    let secs = t.elapsed().as_secs_f64();
    println!(
        "indexed {idx} events in {secs:.1} s: {:.0} events/s (target >= 20000)",
        idx as f64 / secs
    );
    let all = Filter::default();
    // The overview as the dashboard asks for it: the five statistics, first over all time,
    // then over the last 7 days of the data with an unaligned start (whole hours from the
    // hourly rollups, the partial hour from the rows); with the rollups, then from the rows.
    let end_s = 1_780_000_000 + (n as i64 / 4) * 2;
    let ago = |secs: i64| {
        jiff::Timestamp::from_second(end_s - secs + 1_234)
            .unwrap_or_default()
            .to_string()
    };
    let (day, days3) = (ago(86_400), ago(3 * 86_400));
    for rollups in [true, false] {
        ix.use_rollups(rollups);
        let how = if rollups { "rollups" } else { "rows" };
        for (range, since) in [
            ("all time", None),
            ("last 24 h", Some(day.clone())),
            ("last 3 days", Some(days3.clone())),
        ] {
            time(
                &format!("overview, {range}, from {how}"),
                Some(300.0),
                || {
                    let f = Filter {
                        limit: Some(10),
                        since: since.clone(),
                        ..Filter::default()
                    };
                    let ok = |r: Result<Vec<serde_json::Value>, _>| {
                        r.map(|v| assert!(!v.is_empty()))
                            .unwrap_or_else(|e| panic!("{e}"))
                    };
                    ok(ix.top_prompts(&f));
                    ok(ix.tools(&f));
                    ok(ix.flagged(&f));
                    ok(ix.users(&f));
                    ok(ix.timeseries(&Filter {
                        bucket: Some(3600),
                        since: since.clone(),
                        ..Filter::default()
                    }));
                },
            );
        }
        for (range, since) in [("all time", None), ("last 3 days", Some(days3.clone()))] {
            for (name, f) in [
                ("  top prompts", "top"),
                ("  tools", "tools"),
                ("  flagged", "flagged"),
                ("  users", "users"),
                ("  timeseries (hourly)", "ts"),
            ] {
                time(&format!("{name}, {range}, from {how}"), None, || {
                    let l = Filter {
                        limit: Some(10),
                        since: since.clone(),
                        ..Filter::default()
                    };
                    match f {
                        "top" => ix.top_prompts(&l),
                        "tools" => ix.tools(&l),
                        "flagged" => ix.flagged(&l),
                        "users" => ix.users(&l),
                        _ => ix.timeseries(&Filter {
                            bucket: Some(3600),
                            since: since.clone(),
                            ..Filter::default()
                        }),
                    }
                    .map(|v| v.len())
                });
            }
        }
    }
    ix.use_rollups(true);
    time(
        "full text: q=\"refund invoice\" (first page)",
        Some(200.0),
        || {
            ix.events(&Filter {
                q: Some("refund invoice".into()),
                ..Filter::default()
            })
            .map(|p| p.hits.len())
        },
    );
    time(
        "full text + filter: q=kubernetes user=u-7",
        Some(200.0),
        || {
            ix.events(&Filter {
                q: Some("kubernetes".into()),
                user: Some("u-7".into()),
                ..Filter::default()
            })
            .map(|p| p.hits.len())
        },
    );
    time("filter: kind=finding severity=critical", None, || {
        ix.events(&Filter {
            kind: Some("finding".into()),
            severity: Some("critical".into()),
            ..all.clone()
        })
        .map(|p| p.hits.len())
    });
    time("trace of a session", Some(50.0), || {
        ix.trace(&format!("s-{}", n / 32))
            .map(|v| assert_eq!(v.len(), 16))
    });
}
