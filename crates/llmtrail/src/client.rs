//! A small blocking HTTP client for the CLI commands that talk to a running `serve`.

use anyhow::{Context as _, bail};

/// A client of the llmtrail API.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

/// A response: status and body text.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body text (bounded).
    pub body: String,
}

const MAX_REPLY: u64 = 64 * 1024 * 1024;

impl Client {
    /// Creates a client for `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str, token: Option<String>) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build();
        Self {
            agent: ureq::Agent::new_with_config(config),
            base: base.trim_end_matches('/').to_owned(),
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GETs `path`.
    pub fn get(&self, path: &str) -> anyhow::Result<Reply> {
        let mut req = self.agent.get(self.url(path));
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = req
            .call()
            .with_context(|| format!("GET {}", self.url(path)))?;
        read(resp)
    }

    /// GETs `path` with query parameters (encoded here) and, for raw reads, a reason.
    pub fn get_query(
        &self,
        path: &str,
        params: &[(&str, String)],
        reason: Option<&str>,
    ) -> anyhow::Result<Reply> {
        let mut req = self.agent.get(self.url(path));
        for (k, v) in params {
            req = req.query(*k, v);
        }
        if let Some(r) = reason {
            req = req.header("x-llmtrail-reason", r);
        }
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = req
            .call()
            .with_context(|| format!("GET {}", self.url(path)))?;
        read(resp)
    }

    /// POSTs `body` with `content_type` to `path`.
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> anyhow::Result<Reply> {
        let mut req = self
            .agent
            .post(self.url(path))
            .header("content-type", content_type);
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = req
            .send(body)
            .with_context(|| format!("POST {}", self.url(path)))?;
        read(resp)
    }

    /// GETs `path` and fails unless the status is 200.
    pub fn get_ok(&self, path: &str) -> anyhow::Result<String> {
        let reply = self.get(path)?;
        if reply.status != 200 {
            bail!("GET {path}: HTTP {}: {}", reply.status, reply.body.trim());
        }
        Ok(reply.body)
    }
}

fn read(mut resp: ureq::http::Response<ureq::Body>) -> anyhow::Result<Reply> {
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_REPLY)
        .read_to_string()
        .context("reading the reply")?;
    Ok(Reply { status, body })
}
