//! Interop with the official `openai` and `anthropic` Python SDKs, run as users run them: the
//! SDK points at `serve`, which forwards to a mock upstream; each script then reads the trail
//! back through the API and checks it against what the SDK sent and received
//! (tests/interop/*.py). `make test` installs the SDKs into `.venv`; `LLMTRAIL_PYTHON` may name
//! another interpreter that has them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Server, python, run, write_config};
use llmtrail_mock_upstream::MockUpstream;

fn script(name: &str, server: &Server, env: &[(&str, &str)]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    let mut cmd = Command::new(python());
    cmd.arg(dir.join(name))
        .current_dir(&dir)
        .env("LLMTRAIL_URL", &server.url)
        .env("LLMTRAIL_TOKEN", &server.token)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name} failed:\n{stdout}\n{stderr}");
    print!("{stdout}");
}

fn start(tmp: &std::path::Path, mock: &MockUpstream) -> Server {
    let upstream = mock.base_url();
    let config = write_config(
        tmp,
        &format!(
            "[gateway.upstreams.openai]\nbase_url = \"{upstream}\"\n\
             [gateway.upstreams.anthropic]\nbase_url = \"{upstream}\"\napi_key_env = \"REAL_ANTHROPIC_KEY\"\n"
        ),
    );
    Server::start_with_env(
        &tmp.join("data"),
        &config,
        &[("REAL_ANTHROPIC_KEY", "sk-ant-real")],
    )
}

#[test]
fn the_openai_sdk_works_through_the_gateway_and_leaves_an_exact_trail() {
    let mock = MockUpstream::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path(), &mock);
    script("openai_sdk.py", &server, &[]);
    // The client's own key went upstream untouched (pass-through mode).
    let reqs = mock.requests();
    assert!(reqs.len() >= 8);
    assert!(
        reqs.iter()
            .all(|r| r.header("authorization") == Some("Bearer sk-client-key"))
    );
}

#[test]
fn the_anthropic_sdk_works_through_the_gateway_with_a_virtual_key() {
    let mock = MockUpstream::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path(), &mock);
    let data = tmp.path().join("data");
    let (code, out, err) = run(&[
        "keys",
        "create",
        "--user",
        "u-1042",
        "--role",
        "finance",
        "--department",
        "treasury",
        "--json",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let created: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    script(
        "anthropic_sdk.py",
        &server,
        &[
            ("LLMTRAIL_VIRTUAL_KEY", created["key"].as_str().unwrap()),
            ("LLMTRAIL_VIRTUAL_KEY_ID", created["id"].as_str().unwrap()),
        ],
    );
    let reqs = mock.requests();
    assert!(reqs.len() >= 6);
    for r in &reqs {
        assert_eq!(r.header("x-api-key"), Some("sk-ant-real"));
        assert!(!r.headers.iter().any(|(_, v)| v.contains("llmt_vk_")));
    }
}
