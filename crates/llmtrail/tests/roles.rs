//! Every role boundary of the API on the real binary: a viewer sees no content, an analyst
//! sees masked content and never the raw value (equal values, equal pseudonyms), a forensic
//! read without a reason is refused and with one is audited, an ingest token writes but
//! reads nothing, and a revoked token is refused at once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod common;

use std::time::{Duration, Instant};

use common::{Reply, Server, agent, run, token, write_config};
use serde_json::{Value, json};

fn get(server: &Server, token: &str, path: &str, reason: Option<&str>) -> Reply {
    let mut req = agent()
        .get(format!("{}{path}", server.url))
        .header("authorization", format!("Bearer {token}"));
    if let Some(r) = reason {
        req = req.header("x-llmtrail-reason", r);
    }
    let mut resp = req.call().unwrap();
    Reply {
        status: resp.status().as_u16(),
        body: resp.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn post(server: &Server, token: &str, body: &Value) -> Reply {
    let mut resp = agent()
        .post(format!("{}/api/v1/events", server.url))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .send(body.to_string().as_bytes())
        .unwrap();
    Reply {
        status: resp.status().as_u16(),
        body: resp.body_mut().read_to_string().unwrap_or_default(),
    }
}

const EMAIL: &str = "dana.whitfield@example.org";
const KEY: &str = "AKIAZ3MXQ7RT4WPL6NVB";

fn request(text: &str) -> Value {
    json!({"kind": "llm.request", "actor": {"user": "u-5", "session": "s-roles"},
           "body": {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
                    "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": text}]}]}})
}

#[test]
fn each_role_sees_exactly_what_it_may() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "");
    let data = tmp.path().join("data");
    let server = Server::start(&data, &config);
    let viewer = token(&data, "viewer", "dash-viewer");
    let analyst = token(&data, "analyst", "soc-analyst");
    let forensic = token(&data, "forensic", "ir-lead");
    let ingest = token(&data, "ingest", "app-1");

    // Writes: ingest may, viewer may not.
    let a = post(
        &server,
        &ingest,
        &request(&format!("Email {EMAIL} the key {KEY} please")),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let a = a.json()["id"].as_str().unwrap().to_owned();
    let b = post(
        &server,
        &ingest,
        &request(&format!("Is {EMAIL} on the list?")),
    );
    let b = b.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(post(&server, &viewer, &request("hi")).status, 403);
    assert_eq!(
        get(&server, &ingest, &format!("/api/v1/events/{a}"), None).status,
        403,
        "ingest reads nothing"
    );
    assert_eq!(
        get(&server, &ingest, "/api/v1/stats/users", None).status,
        403
    );

    // Wait until detection has flagged both and the index has them.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = server.get("/api/v1/events?kind=finding&limit=500").json();
        let on = |id: &str| {
            r["events"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["event"]["body"]["event_id"] == id)
                .count()
        };
        if on(&a) >= 2 && on(&b) >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "findings never came: {r}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Viewer: metadata, no content anywhere.
    let r = get(&server, &viewer, &format!("/api/v1/events/{a}"), None);
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["view"], "metadata");
    assert!(v["event"]["body"].get("gen_ai.input.messages").is_none());
    assert_eq!(v["event"]["body"]["gen_ai.request.model"], "gpt-4o");
    for path in [
        "/api/v1/events?q=list",
        "/api/v1/traces/s-roles",
        "/api/v1/stats/top-prompts",
    ] {
        let r = get(&server, &viewer, path, None);
        assert_eq!(r.status, 200, "{path}");
        assert!(
            !r.body.contains("dana")
                && !r.body.contains("Email")
                && !r.body.contains("on the list"),
            "{path}: {}",
            r.body
        );
    }

    // Analyst: content with the email and key replaced by pseudonyms, never the values.
    let r = get(&server, &analyst, &format!("/api/v1/events/{a}"), None);
    assert_eq!(r.status, 200);
    assert!(
        !r.body.contains(EMAIL) && !r.body.contains(KEY),
        "{}",
        r.body
    );
    let text_a = r.json()["event"]["body"]["gen_ai.input.messages"][0]["parts"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text_a.starts_with("Email [pii:email:") && text_a.contains("[secret:"),
        "{text_a}"
    );
    let r = get(&server, &analyst, &format!("/api/v1/events/{b}"), None);
    let text_b = r.json()["event"]["body"]["gen_ai.input.messages"][0]["parts"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let pseudo = |t: &str| {
        t[t.find("[pii:").unwrap()..]
            .split(']')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        pseudo(&text_a),
        pseudo(&text_b),
        "equal values, equal pseudonyms"
    );
    for path in [
        "/api/v1/events?q=list",
        "/api/v1/traces/s-roles",
        "/api/v1/stats/top-prompts",
        &format!("/api/v1/events/{a}/related"),
    ] {
        let r = get(&server, &analyst, path, None);
        assert_eq!(r.status, 200, "{path}");
        assert!(
            !r.body.contains(EMAIL) && !r.body.contains(KEY),
            "{path}: {}",
            r.body
        );
    }
    // Even the raw body of the request is withheld from analysts.
    assert!(
        get(&server, &analyst, "/api/v1/events?limit=500", None).json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["event"]["body"].get("raw").is_none())
    );

    // Forensic: refused without a reason; with one, raw, and the read is in the ledger.
    let r = get(&server, &forensic, &format!("/api/v1/events/{a}"), None);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "reason_required");
    let r = get(
        &server,
        &forensic,
        &format!("/api/v1/events/{a}"),
        Some("IR-2291 credential leak"),
    );
    assert_eq!(r.status, 200);
    assert!(r.body.contains(EMAIL) && r.body.contains(KEY));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let audits = server.get("/api/v1/events?kind=audit&limit=500").json();
        let read = audits["events"].as_array().unwrap().iter().find(|e| {
            e["event"]["body"]["action"] == "event.read" && e["event"]["actor"]["user"] == "ir-lead"
        });
        if let Some(read) = read {
            assert_eq!(read["event"]["body"]["reason"], "IR-2291 credential leak");
            assert_eq!(read["event"]["actor"]["role"], "forensic");
            assert!(
                read["event"]["body"]["details"]["events"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(a))
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no audit of the raw read: {audits}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The command line passes a reason too.
    let (code, out, err) = common::run_with_env(
        &[
            "search",
            "list",
            "--url",
            &server.url,
            "--format",
            "json",
            "--reason",
            "IR-2291 follow-up",
        ],
        &[("LLMTRAIL_TOKEN", &forensic)],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(EMAIL), "{out}");
    let (code, _, err) = common::run_with_env(
        &["search", "list", "--url", &server.url],
        &[("LLMTRAIL_TOKEN", &forensic)],
    );
    assert_ne!(code, 0);
    assert!(err.contains("reason_required"), "{err}");

    // Approvals are not for viewers or ingest tokens to decide or list.
    assert_eq!(get(&server, &viewer, "/api/v1/approvals", None).status, 403);
    assert_eq!(get(&server, &ingest, "/api/v1/approvals", None).status, 403);
    assert_eq!(
        get(&server, &analyst, "/api/v1/approvals", None).status,
        200
    );

    // Revocation takes effect at once, while serve runs.
    let (code, _, err) = run(&[
        "tokens",
        "revoke",
        "soc-analyst",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        get(&server, &analyst, &format!("/api/v1/events/{a}"), None).status,
        401
    );
    let (code, out, _) = run(&[
        "tokens",
        "list",
        "--data-dir",
        data.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0);
    let names: Vec<String> = serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(!names.contains(&"soc-analyst".to_owned()) && names.contains(&"ir-lead".to_owned()));
    assert!(!out.contains("hash"), "the list shows no hashes");
    let (code, _, err) = run(&[
        "tokens",
        "create",
        "--role",
        "root",
        "--name",
        "x",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("unknown role"), "{err}");
    server.stop();
}
