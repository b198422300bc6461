//! `llmtrail scan` and `llmtrail rules` as CI and evaluation tools run them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::{bin, run};

fn scan_stdin(args: &[&str], input: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(bin())
        .arg("scan")
        .args(args)
        .env("LLMTRAIL_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const SECRET: &str = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";

#[test]
fn plain_text_findings_readable_and_json_and_fail_on() {
    let text = format!("deploy notes\nthe token is {SECRET} ok\n");
    let (code, out, _) = scan_stdin(&[], text.as_bytes());
    assert_eq!(code, 0);
    assert!(out.starts_with("2:14\t"), "{out}");
    assert!(out.contains("secret/github_pat_classic"));
    assert!(!out.contains(SECRET), "the secret is printed whole");

    let (code, out, _) = scan_stdin(&["--format", "json", "--fail-on", "high"], text.as_bytes());
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let f = &v[0];
    let (s, e) = (
        f["start"].as_u64().unwrap() as usize,
        f["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&text[s..e], SECRET);
    assert_eq!(f["category"], "secret");

    let (code, _, _) = scan_stdin(&["--fail-on", "critical"], text.as_bytes());
    assert_eq!(code, 0, "a high finding does not reach critical");
    let (code, out, _) = scan_stdin(&[], b"Lunch at noon?");
    assert_eq!((code, out.trim()), (0, "no findings"));
}

#[test]
fn jsonl_keeps_order_reports_bad_lines_and_goes_on() {
    let input = format!(
        "{}\nnot json\n{}\n\n{}\n{}\n",
        serde_json::json!({"id": "a", "text": format!("key {SECRET}")}),
        serde_json::json!({"id": 2, "text": "nothing here", "role": "assistant"}),
        serde_json::json!({"id": "c", "text": "x", "role": "wizard"}),
        serde_json::json!({"id": "d", "text": "<script>alert(1)</script>", "role": "assistant"}),
    );
    let (code, out, err) = scan_stdin(&["--jsonl"], input.as_bytes());
    assert_eq!(code, 2, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["id"], "a");
    assert_eq!(lines[0]["findings"][0]["type"], "github_pat_classic");
    assert_eq!(lines[0]["findings"][0]["start"], 4);
    assert_eq!(lines[1]["line"], 2);
    assert_eq!(lines[2]["id"], 2);
    assert_eq!(lines[2]["findings"].as_array().unwrap().len(), 0);
    assert!(lines[3]["error"].as_str().unwrap().contains("role"));
    assert_eq!(lines[4]["findings"][0]["category"], "unsafe_output");

    let (code, _, err) = scan_stdin(&[], b"abc \xff\xfe def");
    assert_eq!(code, 2);
    assert!(err.contains("not UTF-8"), "{err}");
}

/// The tracker issue on detection: `scan --jsonl` streams with flat memory, so one line
/// without an end cannot be read whole; it is skipped, reported, and the run goes on.
#[test]
fn jsonl_line_over_the_limit_is_reported_and_skipped() {
    let ok = serde_json::json!({"id": "ok", "text": format!("key {SECRET}")}).to_string();
    let long = serde_json::json!({"id": "long", "text": "x".repeat(300)}).to_string();
    let limit = ok.len().to_string();
    // The first line is exactly at the limit; the long line is followed by a good one, and
    // the input ends with a long line that has no newline.
    let input = format!("{ok}\n{long}\n{ok}\n{long}");
    let (code, out, err) = scan_stdin(&["--jsonl", "--max-line-bytes", &limit], input.as_bytes());
    assert_eq!(code, 2, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0]["id"], "ok");
    assert_eq!(lines[0]["findings"][0]["type"], "github_pat_classic");
    assert_eq!(lines[1]["line"], 2);
    assert!(
        lines[1]["error"].as_str().unwrap().contains("longer than"),
        "{out}"
    );
    assert_eq!(lines[2]["id"], "ok");
    assert_eq!(lines[3]["line"], 4);
}

#[test]
fn rules_list_and_test_including_user_files() {
    let (code, out, _) = run(&["rules", "list"]);
    assert_eq!(code, 0);
    assert!(out.lines().count() >= 110, "{}", out.lines().count());
    assert!(out.contains("secret.github_pat_classic"));

    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("acme.toml");
    std::fs::write(
        &good,
        r#"[[rules]]
id = "acme.project_code"
description = "Internal project code names"
category = "pii"
type = "project_code"
severity = "medium"
keywords = ["proj-"]
patterns = ['\bPROJ-[0-9]{4}\b']
examples.positive = ["see PROJ-1234 for details"]
examples.negative = ["see PROJ-12 for details", "PROJ-1234 is fine"]
"#,
    )
    .unwrap();
    let (code, out, _) = run(&["rules", "test", good.to_str().unwrap()]);
    assert_eq!(code, 1, "a negative example that matches must fail: {out}");
    assert!(
        out.contains("acme.project_code") && out.contains("negative"),
        "{out}"
    );

    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[rules]]\nid = \"acme.bad\"\ncategory = \"nonsense\"\ntype = \"x\"\nseverity = \"high\"\npatterns = [\"x\"]\n",
    )
    .unwrap();
    let (code, _, err) = run(&["rules", "test", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.toml") && err.contains("acme.bad") && err.contains("category"),
        "{err}"
    );

    let (code, _, err) = run(&["scan", "--rules", bad.to_str().unwrap(), "/dev/null"]);
    assert_eq!(code, 2, "{err}");
}
