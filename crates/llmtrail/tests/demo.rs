//! `llmtrail demo` on the real binary (issue 5, "First contact"): it starts, fills itself with a
//! day of traffic through the gateway and the ingest API within a minute, prints the dashboard
//! URL and a viewer token, and that token sees requests from several users, tool calls, and
//! findings of the four attack categories; Ctrl-C (SIGINT) stops it cleanly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(agent: &ureq::Agent, url: &str, token: &str) -> Value {
    let mut resp = agent
        .get(url)
        .header("authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap();
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn demo_populates_a_dashboard_within_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Command::new(common::bin())
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("LLMTRAIL_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut demo = Demo(child);
    let mut lines = BufReader::new(stdout).lines();
    let (mut url, mut token) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(u) = line.strip_prefix("dashboard: ") {
            url = Some(u.trim_end_matches('/').to_owned());
        }
        if let Some(t) = line.strip_prefix("viewer token: ") {
            token = Some(t.to_owned());
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let (url, token) = (
        url.expect("no dashboard URL"),
        token.expect("no viewer token"),
    );
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "populated in {:?}",
        started.elapsed()
    );
    let agent = common::agent();

    // The token is a viewer's.
    let me = get(&agent, &format!("{url}/api/v1/token"), &token);
    assert_eq!(me["role"], "viewer", "{me}");

    // Requests from several people.
    let users = get(
        &agent,
        &format!("{url}/api/v1/stats/users?limit=50"),
        &token,
    );
    let active: Vec<&str> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["requests"].as_i64().unwrap_or(0) > 0)
        .filter_map(|u| u["user"].as_str())
        .collect();
    assert!(active.len() >= 5, "{users}");
    assert!(active.contains(&"u-mallory"), "{users}");

    // Tool calls: from the gateway (tool results sent back) and from MCP records, one blocked.
    let tools = get(
        &agent,
        &format!("{url}/api/v1/stats/tools?limit=50"),
        &token,
    );
    let tool = |name: &str| {
        tools["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tool"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {tools}"))
    };
    assert!(tool("get_weather")["calls"].as_i64().unwrap() >= 4);
    assert!(tool("run_command")["blocked"].as_i64().unwrap() >= 1);

    // Findings of every attack, on the right people.
    for category in ["prompt_injection", "secret", "exfiltration", "tool_risk"] {
        let page = get(
            &agent,
            &format!("{url}/api/v1/events?kind=finding&category={category}&limit=100"),
            &token,
        );
        let n = page["events"].as_array().unwrap().len();
        assert!(n >= 1, "no {category} finding: {page}");
    }
    let injection = get(
        &agent,
        &format!("{url}/api/v1/stats/users?category=prompt_injection&kind=finding&limit=50"),
        &token,
    );
    assert_eq!(
        injection["items"][0]["user"], "u-mallory",
        "the campaign comes from one account: {injection}"
    );

    // Flagged events, top prompts, and a day of history in the time series.
    let flagged = get(&agent, &format!("{url}/api/v1/stats/flagged"), &token);
    assert!(flagged["items"].as_array().unwrap().len() >= 8, "{flagged}");
    let top = get(&agent, &format!("{url}/api/v1/stats/top-prompts"), &token);
    assert!(top["items"][0]["count"].as_i64().unwrap() >= 5, "{top}");
    assert!(
        top["items"][0].get("sample").is_none(),
        "a viewer sees no content"
    );
    let series = get(&agent, &format!("{url}/api/v1/stats/timeseries"), &token);
    assert!(
        series["items"].as_array().unwrap().len() >= 20,
        "hourly buckets over the past day: {series}"
    );

    // Ctrl-C stops it cleanly.
    let pid = demo.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let exit = demo.0.wait().unwrap();
    assert!(exit.success(), "demo exited with {exit}");
}
