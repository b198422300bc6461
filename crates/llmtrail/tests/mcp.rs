//! End-to-end tests of the MCP proxies on the real binary: the official MCP Python SDK's
//! client and server through `llmtrail mcp wrap` and `llmtrail mcp proxy` (interop), and bad
//! input and faults on the stdio proxy (malformed JSON-RPC, unknown methods, oversized
//! messages, a server that exits mid-call or writes garbage, `serve` gone: fail closed).
//!
//! `make test` installs the SDK into `.venv`; `LLMTRAIL_PYTHON` may name another Python.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Server, bin, python, write_config};
use serde_json::{Value, json};

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Every event in the ledger of a stopped server, with content.
fn ledger_events(data_dir: &Path, config: &Path) -> Vec<Value> {
    let mut cfg = llmtrail_server::Config::load(Some(config)).unwrap();
    cfg.set_data_dir(data_dir.to_path_buf());
    let ledger = llmtrail_server::serve::open_ledger(&cfg).unwrap();
    let mut ids = Vec::new();
    ledger.scan_metadata(&mut |_, e| ids.push(e.id)).unwrap();
    ids.iter()
        .map(|id| ledger.get(id).unwrap().unwrap().event.to_value())
        .collect()
}

#[test]
fn the_mcp_sdk_through_wrap_and_proxy_every_call_logged_rm_rf_blocked_holds_approved_and_timed_out()
{
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        "[mcp]\nhold_timeout_ms = 1500\n\n[[mcp.tools]]\nname = \"deploy\"\naction = \"hold\"\n",
    );
    let data = tmp.path().join("data");
    let server = Server::start(&data, &config);
    let out = Command::new(python())
        .arg(interop_dir().join("mcp_sdk.py"))
        .current_dir(interop_dir())
        .env("LLMTRAIL_URL", &server.url)
        .env("LLMTRAIL_TOKEN", &server.token)
        .env("LLMTRAIL_BIN", bin())
        .env("LLMTRAIL_CONFIG", &config)
        .env("LLMTRAIL_LOG", "warn")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "mcp_sdk.py failed:\n{stdout}\n{stderr}"
    );
    print!("{stdout}");
    server.stop();

    let events = ledger_events(&data, &config);
    // The handshakes: legacy `initialize` and modern `server/discover`, with both names.
    let inits: Vec<&Value> = events
        .iter()
        .filter(|e| e["body"]["action"] == "mcp.initialize")
        .collect();
    assert!(
        inits
            .iter()
            .any(|e| e["body"]["details"]["method"] == "initialize"),
        "{inits:#?}"
    );
    assert!(
        inits
            .iter()
            .any(|e| e["body"]["details"]["method"] == "server/discover")
    );
    for e in &inits {
        assert_eq!(
            e["body"]["details"]["server"]["name"], "llmtrail-test-tools",
            "{e}"
        );
        assert!(e["body"]["details"]["client"]["name"].is_string(), "{e}");
    }
    // The catalogue, with the tools' descriptions, as the server sent it.
    let list = events
        .iter()
        .find(|e| e["body"]["gen_ai.tool.name"] == "tools/list")
        .expect("tools/list logged");
    let catalogue = list["body"]["gen_ai.tool.call.result"]["tools"].to_string();
    assert!(catalogue.contains("Run a shell command"), "{catalogue}");
    // The blocked calls were scanned by serve too: a tool_risk finding points at each.
    let blocked: Vec<&Value> = events
        .iter()
        .filter(|e| e["body"]["status"] == "blocked" && e["body"]["decision"] == "block")
        .collect();
    assert_eq!(blocked.len(), 4, "wrap (2 handshakes) and proxy (2 modes)");
    for b in &blocked {
        assert!(
            events.iter().any(|f| f["kind"] == "finding"
                && f["body"]["event_id"] == b["id"]
                && f["body"]["category"] == "tool_risk"),
            "no finding for {b}"
        );
    }
    // Tool poisoning and the rug pull: the second run of the same server described `deploy`
    // with injected instructions; its tools/list has an indirect injection finding and a
    // catalogue-change finding.
    let poisoned = events
        .iter()
        .find(|e| {
            e["body"]["gen_ai.tool.name"] == "tools/list"
                && e["body"]["gen_ai.tool.call.result"]
                    .to_string()
                    .contains("Ignore all previous")
        })
        .expect("the poisoned catalogue is logged");
    let on_poisoned: Vec<&Value> = events
        .iter()
        .filter(|f| f["kind"] == "finding" && f["body"]["event_id"] == poisoned["id"])
        .collect();
    assert!(
        on_poisoned
            .iter()
            .any(|f| f["body"]["category"] == "prompt_injection"
                && f["body"]["atlas"] == "AML.T0051.001"),
        "{on_poisoned:#?}"
    );
    let rug = on_poisoned
        .iter()
        .find(|f| f["body"]["type"] == "tool_catalogue_changed")
        .unwrap_or_else(|| panic!("no rug-pull finding: {on_poisoned:#?}"));
    assert!(
        rug["body"]["preview"]
            .as_str()
            .unwrap()
            .contains("deploy (changed)"),
        "{rug}"
    );
    let out = Command::new(bin())
        .args(["verify", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `llmtrail mcp wrap` with piped stdio.
struct Wrap {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Wrap {
    fn start(server: &Server, config: &Path, url: Option<&str>, command: &[&str]) -> Self {
        let mut child = Command::new(bin())
            .args(["mcp", "wrap", "--config"])
            .arg(config)
            .args(["--url", url.unwrap_or(&server.url), "--user", "u-9", "--"])
            .args(command)
            .env("LLMTRAIL_TOKEN", &server.token)
            .env("LLMTRAIL_LOG", "error")
            .env(
                "MCP_TEST_JOURNAL",
                server.data_dir.with_extension("journal"),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            stdin: child.stdin.take(),
            child,
            lines: rx,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    fn recv(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("no answer from mcp wrap within 30 s");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Closes stdin and returns the exit code.
    fn finish(mut self) -> Option<i32> {
        drop(self.stdin.take());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "mcp wrap did not exit"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn call(id: u64, tool: &str, args: Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": args}})
    .to_string()
    .into_bytes()
}

fn start_plain(tmp: &Path, extra: &str) -> (Server, PathBuf) {
    let config = write_config(
        tmp,
        &format!("[detect]\nenabled = false\n\n[mcp]\nmax_message_bytes = 4096\n{extra}"),
    );
    let server = Server::start(&tmp.join("data"), &config);
    (server, config)
}

#[test]
fn malformed_json_rpc_unknown_methods_and_oversized_messages_get_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, config) = start_plain(tmp.path(), "");
    let script = interop_dir().join("mcp_server.py");
    let py = python();
    let mut w = Wrap::start(
        &server,
        &config,
        None,
        &[py.to_str().unwrap(), script.to_str().unwrap()],
    );
    w.send(b"{not json");
    let r = w.recv();
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].clone()),
        (Value::Null, json!(-32700)),
        "{r}"
    );
    w.send(b"{\"jsonrpc\":\"2.0\",\"id\":\"\xff\xfe\",\"method\":\"ping\"}");
    assert_eq!(w.recv()["error"]["code"], -32700);
    w.send(br#"{"jsonrpc":"2.0","id":5,"method":7}"#);
    let r = w.recv();
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].clone()),
        (json!(5), json!(-32600)),
        "{r}"
    );
    w.send(b"[]");
    assert_eq!(w.recv()["error"]["code"], -32600);
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{{"name":"shell","arguments":{{"command":"echo {}"}}}}}}"#,
        "x".repeat(5000)
    );
    w.send(big.as_bytes());
    let r = w.recv();
    assert_eq!(r["error"]["code"], -32006, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("4096"),
        "{r}"
    );
    // The proxy is still up: a handshake, an unknown method (the server's own answer comes
    // through), then a real call.
    w.send(
        json!({"jsonrpc":"2.0","id":7,"method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{},
            "clientInfo":{"name":"raw-test","version":"1"}}})
        .to_string()
        .as_bytes(),
    );
    let r = w.recv();
    assert_eq!(r["id"], 7);
    assert_eq!(
        r["result"]["serverInfo"]["name"], "llmtrail-test-tools",
        "{r}"
    );
    w.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    w.send(br#"{"jsonrpc":"2.0","id":8,"method":"no/such/method"}"#);
    let r = w.recv();
    assert_eq!(r["id"], 8);
    assert!(
        r["error"]["code"].is_i64(),
        "the server's error comes through: {r}"
    );
    w.send(&call(9, "shell", json!({"command": "echo still working"})));
    let r = w.recv();
    assert_eq!(r["id"], 9);
    assert_eq!(r["result"]["content"][0]["text"], "still working\n", "{r}");
    assert_eq!(w.finish(), Some(0));
    server.stop();
    let events = ledger_events(&tmp.path().join("data"), &config);
    let invalid = events
        .iter()
        .filter(|e| e["body"]["action"] == "mcp.invalid_message")
        .count();
    assert_eq!(
        invalid, 5,
        "each bad message is logged (size and reason only)"
    );
    assert!(
        events
            .iter()
            .all(|e| !e.to_string().contains("xxxxxxxxxxxxxxxx")),
        "the oversized message's bytes are not kept"
    );
}

#[test]
fn a_server_that_exits_mid_call_is_an_error_for_the_client_not_a_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, config) = start_plain(tmp.path(), "");
    let mut w = Wrap::start(&server, &config, None, &["sh", "-c", "read line; exit 3"]);
    w.send(&call(1, "shell", json!({"command": "sleep 100"})));
    let r = w.recv();
    assert_eq!(r["id"], 1);
    assert_eq!(r["error"]["code"], -32004, "{r}");
    assert_eq!(w.finish(), Some(3), "wrap exits with the server's status");
    server.stop();
    let events = ledger_events(&tmp.path().join("data"), &config);
    assert!(events.iter().any(|e| {
        e["body"]["gen_ai.tool.name"] == "shell"
            && e["body"]["status"] == "error"
            && e["body"]["attributes"]["llmtrail.proxy_error"]
                .as_str()
                .is_some_and(|s| s.contains("exited"))
    }));
}

#[test]
fn a_server_that_writes_garbage_fails_the_pending_call() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, config) = start_plain(tmp.path(), "");
    let mut w = Wrap::start(
        &server,
        &config,
        None,
        &[
            "sh",
            "-c",
            "read line; echo 'Traceback: not json'; read rest || true",
        ],
    );
    w.send(&call(1, "shell", json!({"command": "ls"})));
    let r = w.recv();
    assert_eq!(r["id"], 1);
    assert_eq!(r["error"]["code"], -32005, "{r}");
    assert_eq!(w.finish(), Some(0));
    server.stop();
}

#[test]
fn results_are_redacted_for_the_client_and_kept_raw_in_the_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, config) = start_plain(tmp.path(), "redact = [\"secret\"]\n");
    let answer = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"found AKIAZ3MXQ7RT4WPL6NVB in .env"}],"isError":false}}"#;
    let script = format!("read line; echo '{answer}'; read rest || true");
    let mut w = Wrap::start(&server, &config, None, &["sh", "-c", &script]);
    w.send(&call(1, "read_file", json!({"path": ".env"})));
    let r = w.recv();
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert_eq!(text, "found [REDACTED:secret] in .env");
    let event_id = r["result"]["_meta"]["llmtrail.dev/event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored = server.get(&format!("/api/v1/events/{event_id}")).json();
    let body = &stored["event"]["body"];
    assert_eq!(
        body["gen_ai.tool.call.result"]["content"][0]["text"],
        "found AKIAZ3MXQ7RT4WPL6NVB in .env"
    );
    assert!(body["attributes"]["llmtrail.redacted"].is_array(), "{body}");
    assert_eq!(w.finish(), Some(0));
    server.stop();
}

#[test]
fn with_serve_gone_no_call_runs_unlogged() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, config) = start_plain(tmp.path(), "");
    // Refuses to start when serve cannot be reached.
    let out = Command::new(bin())
        .args(["mcp", "wrap", "--config"])
        .arg(&config)
        .args(["--url", "http://127.0.0.1:9", "--", "cat"])
        .env("LLMTRAIL_TOKEN", &server.token)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unreachable") && err.contains("unlogged"),
        "{err}"
    );
    // Refuses a wrong token.
    let out = Command::new(bin())
        .args(["mcp", "wrap", "--config"])
        .arg(&config)
        .args(["--url", &server.url, "--", "cat"])
        .env("LLMTRAIL_TOKEN", "wrong")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    // serve goes away mid-session: the call is refused and the server never sees it.
    let seen = tmp.path().join("seen.jsonl");
    let script = format!("while read l; do echo \"$l\" >> '{}'; done", seen.display());
    let mut w = Wrap::start(&server, &config, None, &["sh", "-c", &script]);
    // An answer from the proxy itself shows it is past its start-up check.
    w.send(b"{not json");
    assert_eq!(w.recv()["error"]["code"], -32700);
    server.stop();
    w.send(&call(1, "shell", json!({"command": "echo hi"})));
    let r = w.recv();
    assert_eq!(r["error"]["code"], -32003, "{r}");
    assert_eq!(w.finish(), Some(0));
    let seen = std::fs::read_to_string(&seen).unwrap_or_default();
    assert!(!seen.contains("tools/call"), "the server saw: {seen}");
}

fn http(method: &str, url: &str, token: Option<&str>, body: Option<&[u8]>) -> (u16, String) {
    let agent = common::agent();
    let mut resp = match (method, body) {
        ("POST", b) => {
            let mut req = agent.post(url).header("content-type", "application/json");
            if let Some(t) = token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            req.send(b.unwrap_or_default()).unwrap()
        }
        _ => {
            let mut req = agent.get(url);
            if let Some(t) = token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            req.call().unwrap()
        }
    };
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

#[test]
fn the_http_proxy_answers_bad_input_and_a_dead_upstream_with_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, config) = start_plain(tmp.path(), "");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut proxy = Command::new(bin())
        .args(["mcp", "proxy", "--config"])
        .arg(&config)
        .args(["--url", &server.url, "--upstream", "http://127.0.0.1:9/mcp"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("LLMTRAIL_TOKEN", &server.token)
        .env("LLMTRAIL_LOG", "error")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/mcp");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let (status, body) = http("POST", &url, None, Some(b"{nope"));
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        -32700
    );
    let big = vec![b' '; 5000];
    let (status, body) = http("POST", &url, None, Some(&big));
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        -32006
    );
    // A blocked call is answered by the proxy itself, upstream or not.
    let (status, body) = http(
        "POST",
        &url,
        None,
        Some(&call(1, "shell", json!({"command": "rm -rf /"}))),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        -32001
    );
    // The upstream is down: a 502 with a JSON-RPC error for the call, which is logged.
    let (status, body) = http(
        "POST",
        &url,
        None,
        Some(&call(2, "shell", json!({"command": "ls"}))),
    );
    assert_eq!(status, 502, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["id"].clone(), v["error"]["code"].clone()),
        (json!(2), json!(-32007)),
        "{v}"
    );
    let _ = proxy.kill();
    let _ = proxy.wait();
    server.stop();
    let events = ledger_events(&tmp.path().join("data"), &config);
    assert!(
        events
            .iter()
            .any(|e| e["body"]["gen_ai.tool.name"] == "shell"
                && e["body"]["status"] == "error"
                && e["actor"]["source_ip"] == "127.0.0.1")
    );
}

#[test]
fn approvals_reject_bad_input_unknown_holds_and_second_decisions() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, _config) = start_plain(tmp.path(), "");
    let api = format!("{}/api/v1/approvals", server.url);
    let tok = Some(server.token.as_str());
    assert_eq!(http("GET", &api, None, None).0, 401);
    assert_eq!(http("POST", &api, None, Some(b"{}")).0, 401);
    let unknown = uuid::Uuid::now_v7();
    let reg = json!({"event_id": unknown, "tool": "deploy", "timeout_ms": 60000}).to_string();
    assert_eq!(
        http("POST", &api, tok, Some(reg.as_bytes())).0,
        404,
        "the held event must be in the ledger"
    );
    assert_eq!(http("POST", &api, tok, Some(b"{\"event_id\": 1}")).0, 400);
    // A real held record, registered, decided once.
    let ev = json!({"kind": "tool.call", "body": {"gen_ai.tool.name": "deploy", "status": "pending", "decision": "hold"}});
    let r = server.post("application/json", ev.to_string().as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let reg = json!({"event_id": id, "tool": "deploy", "timeout_ms": 60000}).to_string();
    assert_eq!(http("POST", &api, tok, Some(reg.as_bytes())).0, 201);
    assert_eq!(
        http("POST", &api, tok, Some(reg.as_bytes())).0,
        409,
        "held twice"
    );
    let (s, b) = http("GET", &api, tok, None);
    assert_eq!(s, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["approvals"][0]["id"],
        id.as_str()
    );
    let one = format!("{api}/{id}");
    assert_eq!(
        http("POST", &one, tok, Some(br#"{"decision": "maybe"}"#)).0,
        400
    );
    assert_eq!(
        http(
            "POST",
            &format!("{api}/not-a-uuid"),
            tok,
            Some(br#"{"decision": "deny"}"#)
        )
        .0,
        400
    );
    assert_eq!(
        http(
            "POST",
            &format!("{api}/{unknown}"),
            tok,
            Some(br#"{"decision": "deny"}"#)
        )
        .0,
        404
    );
    let (s, b) = http(
        "POST",
        &one,
        tok,
        Some(br#"{"decision": "deny", "reason": "not in the change window"}"#),
    );
    assert_eq!(s, 200, "{b}");
    let decided: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(decided["state"], "denied");
    assert_eq!(
        http("POST", &one, tok, Some(br#"{"decision": "approve"}"#)).0,
        409,
        "decisions are final"
    );
    let (s, b) = http("GET", &format!("{one}?wait_ms=10"), tok, None);
    assert_eq!(
        (
            s,
            serde_json::from_str::<Value>(&b).unwrap()["state"].clone()
        ),
        (200, json!("denied"))
    );
    // The decision is in the ledger, with who and why, pointing at the held record.
    let audit = server
        .get(&format!(
            "/api/v1/events/{}",
            decided["audit_event"].as_str().unwrap()
        ))
        .json();
    assert_eq!(audit["event"]["body"]["target"], id.as_str());
    assert_eq!(audit["event"]["body"]["reason"], "not in the change window");
    assert_eq!(audit["event"]["actor"]["user"], "admin");
    server.stop();
}

#[test]
fn batches_are_split_by_policy_and_cancelled_calls_are_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, config) = start_plain(tmp.path(), "");
    let seen = tmp.path().join("seen.jsonl");
    // A server that records what it receives, answers a batch with a batch, and never answers
    // single requests (so the client cancels them).
    let answer = r#"[{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"a.txt"}],"isError":false}}]"#;
    let script = format!(
        "while read l; do echo \"$l\" >> '{}'; case \"$l\" in '['*) echo '{answer}';; esac; done",
        seen.display()
    );
    let mut w = Wrap::start(&server, &config, None, &["sh", "-c", &script]);
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "shell", "arguments": {"command": "rm -rf /"}}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "shell", "arguments": {"command": "ls"}}},
    ]);
    w.send(batch.to_string().as_bytes());
    // The refusal and the server's batch answer come back as two batches, in either order.
    let mut answers = [w.recv(), w.recv()];
    answers.sort_by_key(|a| a[0]["id"].as_i64());
    assert_eq!(answers[0][0]["id"], 1);
    assert_eq!(answers[0][0]["error"]["code"], -32001);
    assert_eq!(answers[1][0]["id"], 2);
    assert_eq!(answers[1][0]["result"]["content"][0]["text"], "a.txt");
    w.send(&call(3, "shell", json!({"command": "sleep 1000"})));
    w.send(br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"reason":"user stop"}}"#);
    // Something the proxy answers itself shows the cancellation went through before it.
    w.send(b"{not json");
    assert_eq!(w.recv()["error"]["code"], -32700);
    assert_eq!(w.finish(), Some(0));
    server.stop();
    let seen = std::fs::read_to_string(&seen).unwrap();
    assert!(
        !seen.contains("rm -rf"),
        "the blocked member never reached the server: {seen}"
    );
    assert!(
        seen.contains("\"ls\"") && seen.contains("notifications/cancelled"),
        "{seen}"
    );
    let events = ledger_events(&tmp.path().join("data"), &config);
    assert!(
        events
            .iter()
            .any(|e| e["body"]["gen_ai.tool.call.id"] == "3"
                && e["body"]["status"] == "error"
                && e["body"]["attributes"]["llmtrail.proxy_error"] == "cancelled by the client")
    );
    assert!(
        events
            .iter()
            .any(|e| e["body"]["gen_ai.tool.call.id"] == "2" && e["body"]["status"] == "ok")
    );
}
