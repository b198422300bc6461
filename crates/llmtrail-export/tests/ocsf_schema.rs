//! OCSF output validates against the OCSF schema (issue 7): every kind of event is rendered and
//! checked by `ocsf_validate.py` with the OCSF models of the `pydantic-ocsf` package (schema
//! 1.7.0), including attributes the models do not know. `make test` installs the package into
//! `.venv` (crates/llmtrail/tests/interop/requirements.txt); `LLMTRAIL_PYTHON` may name another
//! interpreter that has it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;

use llmtrail_core::{
    Actor, Alert, AlertState, Audit, AuditOutcome, Event, Finding, FindingCategory, LlmRequest,
    LlmResponse, Message, ResponseStatus, Severity, ToolCall, ToolStatus, Usage,
};
use llmtrail_export::{Record, ocsf};
use uuid::Uuid;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("LLMTRAIL_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with pydantic-ocsf: run `make venv` (make test does) or set LLMTRAIL_PYTHON"
    );
    venv
}

fn records() -> Vec<Record> {
    let hostile = "eve\" ] | = \\ \n\r\0\u{7f}\u{85}\u{2028} 🙂";
    let mut request = LlmRequest::new("openai", "gpt-4o");
    request.messages.push(Message::text("user", hostile));
    request.conversation_id = Some("conv-1".into());
    let mut req = Event::new(request);
    req.actor = Actor {
        user: Some(hostile.into()),
        role: Some("finance".into()),
        department: Some("treasury".into()),
        session: Some("s-1".into()),
        source_ip: "2001:db8::7".parse().ok(),
        user_agent: Some("OpenAI/Python".into()),
        agent: Some("planner".into()),
        ..Actor::default()
    };
    let mut response = LlmResponse::new(ResponseStatus::Error);
    response.request_id = Some(req.id);
    response.response_model = Some("gpt-4o-2024-08-06".into());
    response.http_status = Some(429);
    response.finish_reasons = vec!["length".into()];
    response.usage = Some(Usage {
        input_tokens: 10,
        output_tokens: 5,
        total_tokens: None,
        cache_read_input_tokens: None,
        cache_creation_input_tokens: None,
        reasoning_output_tokens: None,
    });
    let resp = Event::new(response);
    let mut tool = ToolCall::new("send_email", ToolStatus::Blocked);
    tool.request_id = Some(resp.id);
    tool.server = Some("mail-mcp".into());
    let tool = Event::new(tool);
    let finding = Event::new(Finding {
        event_id: req.id,
        category: FindingCategory::Secret,
        finding_type: "aws_access_key".into(),
        severity: Severity::Critical,
        confidence: Some(0.97),
        detector: "rules".into(),
        rule_id: Some("secrets.aws_access_key".into()),
        location: None,
        preview: Some("AKIA…MPLE".into()),
        owasp: Some("LLM02".into()),
        atlas: None,
    });
    let mut alerts = Vec::new();
    for state in [
        AlertState::Open,
        AlertState::Acknowledged,
        AlertState::Closed,
    ] {
        alerts.push(Event::new(Alert {
            alert_id: Uuid::now_v7(),
            rule_id: "injection_campaign".into(),
            title: hostile.into(),
            severity: Severity::High,
            state,
            evidence: vec![finding.id],
            by: Some("analyst".into()),
            reason: None,
        }));
    }
    let audit = Event::new(Audit::new("key.create", AuditOutcome::Success));
    [req, resp, tool, finding]
        .into_iter()
        .chain(alerts)
        .chain([audit])
        .enumerate()
        .map(|(i, event)| Record {
            index: i as u64,
            leaf_hash: [i as u8; 32],
            event,
        })
        .collect()
}

#[test]
fn every_kind_of_event_validates_against_the_ocsf_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ocsf.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    let records = records();
    for r in &records {
        writeln!(f, "{}", ocsf::render(r)).unwrap();
    }
    drop(f);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ocsf_validate.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{} records valid, 0 problems", records.len())),
        "{stdout}"
    );
}

#[test]
fn the_validator_rejects_what_the_schema_does_not_allow() {
    // The check must be able to fail: an unknown attribute and a bad enum value.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    let mut v = ocsf::value(&records()[0]);
    v["made_up_attribute"] = 1.into();
    v["actor"]["user"]["not_a_user_field"] = "x".into();
    let mut w = ocsf::value(&records()[3]);
    w["severity_id"] = 42.into();
    std::fs::write(&path, format!("{v}\n{w}\n")).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ocsf_validate.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("$.made_up_attribute"), "{stdout}");
    assert!(stdout.contains("$.actor.user.not_a_user_field"), "{stdout}");
    assert!(stdout.contains("severity_id"), "{stdout}");
}
