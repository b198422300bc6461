//! Test harness: runs the real `llmtrail` binary on 127.0.0.1 and talks to it over HTTP.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the harness"
)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Python with the interop SDKs: `LLMTRAIL_PYTHON`, else the venv `make test` builds.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("LLMTRAIL_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with the interop SDKs: run `make venv` (make test does) or set LLMTRAIL_PYTHON"
    );
    venv
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_llmtrail")
}

/// Writes a config with small segments and a fast checkpoint interval.
pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("llmtrail.toml");
    let text = format!(
        "[server]\nmax_body_bytes = 262144\n\n[ledger]\nsegment_bytes = 1048576\ncheckpoint_interval_ms = 100\n{extra}\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

pub struct Server {
    pub child: Child,
    pub url: String,
    pub token: String,
    pub data_dir: PathBuf,
    agent: ureq::Agent,
}

pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build();
    ureq::Agent::new_with_config(config)
}

impl Server {
    pub fn start(data_dir: &Path, config: &Path) -> Self {
        Self::start_with_env(data_dir, config, &[])
    }

    pub fn start_with_env(data_dir: &Path, config: &Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(data_dir)
            .env("LLMTRAIL_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().expect("serve printed nothing").unwrap();
        let addr = first
            .strip_prefix("llmtrail listening on http://")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_owned();
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let token = std::fs::read_to_string(data_dir.join("admin.token"))
            .unwrap()
            .trim()
            .to_owned();
        Self {
            child,
            url: format!("http://{addr}"),
            token,
            data_dir: data_dir.to_path_buf(),
            agent: agent(),
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        let resp = self
            .agent
            .get(format!("{}{path}", self.url))
            .header("authorization", format!("Bearer {}", self.token))
            .call();
        reply(resp)
    }

    pub fn get_anon(&self, path: &str) -> Reply {
        reply(self.agent.get(format!("{}{path}", self.url)).call())
    }

    pub fn post(&self, content_type: &str, body: &[u8]) -> Reply {
        self.post_with_token(Some(&self.token.clone()), content_type, body)
    }

    pub fn post_with_token(&self, token: Option<&str>, content_type: &str, body: &[u8]) -> Reply {
        let mut req = self
            .agent
            .post(format!("{}/api/v1/events", self.url))
            .header("content-type", content_type);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        reply(req.send(body))
    }

    /// Posts events as one JSON array; returns their ids in order.
    pub fn post_all(&self, events: &[serde_json::Value]) -> Vec<String> {
        let r = self.post(
            "application/json",
            serde_json::Value::Array(events.to_vec())
                .to_string()
                .as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_owned())
            .collect()
    }

    pub fn size(&self) -> u64 {
        self.get_anon("/api/v1/health").json()["size"]
            .as_u64()
            .unwrap()
    }

    /// Waits until the latest checkpoint covers `size` records; returns its note.
    pub fn wait_checkpoint(&self, size: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self.get_anon("/api/v1/checkpoint");
            if r.status == 200 && r.body.lines().nth(1) == Some(&size.to_string()) {
                return r.body;
            }
            assert!(
                Instant::now() < deadline,
                "no checkpoint of size {size}: {}",
                r.body
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM and wait: a clean shutdown with a final checkpoint.
    pub fn stop(mut self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "serve exited with {exit}");
    }

    /// SIGKILL: a crash.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn reply(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut resp = resp.unwrap();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    Reply { status, body }
}

/// Runs the binary with `args`; returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    run_with_env(args, &[])
}

pub fn run_with_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(bin());
    cmd.args(args).env("LLMTRAIL_LOG", "error");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Creates an API token with `llmtrail tokens create` on a data directory; returns it.
pub fn token(data: &Path, role: &str, name: &str) -> String {
    let (code, out, err) = run(&[
        "tokens",
        "create",
        "--role",
        role,
        "--name",
        name,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    out.trim().to_owned()
}

pub fn request_event(n: usize) -> String {
    serde_json::json!({
        "kind": "llm.request",
        "actor": {"user": format!("u-{n}"), "role": "finance", "session": "s-1", "source_ip": "10.1.2.3"},
        "body": {
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.input.messages": [{"role": "user", "content": format!("question {n}: what is my balance?")}]
        }
    })
    .to_string()
}
