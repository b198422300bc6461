//! `llmtrail mcp wrap` and `llmtrail mcp proxy`: the MCP proxies on the command line.
//!
//! Both read `[mcp]` and `[detect]` from `--config` (or the defaults), report to the `serve`
//! at `--url` (default `mcp.url`) with `--token` or `LLMTRAIL_TOKEN`, and refuse to start
//! when that `serve` cannot be reached, unless `mcp.on_log_failure = "allow"`.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Subcommand};
use llmtrail_core::Actor;
use llmtrail_mcp::config::OnLogFailure;
use llmtrail_mcp::{Conn, Gate, Policy, Reporter};

/// `llmtrail mcp …`
#[derive(Subcommand)]
pub enum McpCommand {
    /// Run an MCP server behind a stdio proxy: `llmtrail mcp wrap -- <command> [args...]`.
    Wrap {
        #[command(flatten)]
        common: Common,
        /// The MCP server's command and arguments (after `--`).
        #[arg(last = true, required = true, num_args = 1..)]
        command: Vec<OsString>,
    },
    /// Proxy a Streamable HTTP MCP server.
    Proxy {
        #[command(flatten)]
        common: Common,
        /// The MCP endpoint to forward to, e.g. http://127.0.0.1:9000/mcp.
        #[arg(long)]
        upstream: String,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8931")]
        listen: SocketAddr,
    },
}

/// Options both proxies take.
#[derive(Args)]
pub struct Common {
    /// Configuration file (llmtrail.toml): `[mcp]` and `[detect]`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The running `serve` (default: mcp.url, http://127.0.0.1:8080).
    #[arg(long)]
    url: Option<String>,
    /// API token for --url.
    #[arg(long, env = "LLMTRAIL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The user on whose behalf the client acts.
    #[arg(long)]
    user: Option<String>,
    /// The agent (client application) name.
    #[arg(long)]
    agent: Option<String>,
    /// A session id to record (the MCP session id is recorded too).
    #[arg(long)]
    session: Option<String>,
}

fn build(common: &Common) -> anyhow::Result<(Arc<Gate>, Actor, Reporter, OnLogFailure)> {
    let config = llmtrail_server::Config::load(common.config.as_deref())?;
    let mut mcp = config.mcp.clone();
    if let Some(url) = &common.url {
        mcp.url.clone_from(url);
        mcp.validate().map_err(|e| anyhow!("--url: {e}"))?;
    }
    let engine = llmtrail_server::detect::build_engine(&config.detect)
        .context("building the detection rules")?;
    let reporter = Reporter::new(&mcp.url, common.token.clone());
    let policy = Policy::new(&mcp, Arc::new(engine));
    let gate = Arc::new(Gate::new(&mcp, policy, reporter.clone()));
    let actor = Actor {
        user: common.user.clone(),
        agent: common.agent.clone(),
        session: common.session.clone(),
        ..Actor::default()
    };
    Ok((gate, actor, reporter, mcp.on_log_failure))
}

/// Checks that `serve` answers with the token before anything is proxied.
async fn preflight(reporter: &Reporter, on_failure: OnLogFailure) -> anyhow::Result<()> {
    match reporter.check().await {
        Ok(()) => Ok(()),
        Err(e) if on_failure == OnLogFailure::Allow => {
            tracing::warn!(error = %e, "llmtrail serve unreachable; proxying anyway (mcp.on_log_failure = allow)");
            Ok(())
        }
        Err(e) => {
            bail!("{e} (no call runs unlogged; start serve, or set mcp.on_log_failure = \"allow\")")
        }
    }
}

/// Runs the command; returns the exit code.
pub fn run(cmd: McpCommand) -> anyhow::Result<u8> {
    match cmd {
        McpCommand::Wrap { common, command } => {
            // One thread: each message crosses the proxy in a few task hand-offs, and on one
            // thread these are function calls, not thread wake-ups (measured: 0.27 ms added
            // per call on two worker threads; see docs/BENCHMARKS.md).
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let (gate, actor, reporter, on_failure) = build(&common)?;
            let mut parts = command.into_iter();
            let program = parts
                .next()
                .ok_or_else(|| anyhow!("no server command after --"))?;
            let args: Vec<OsString> = parts.collect();
            runtime.block_on(async move {
                preflight(&reporter, on_failure).await?;
                let session = uuid::Uuid::now_v7().to_string();
                let conn = Arc::new(Conn::new(actor, session));
                let code = llmtrail_mcp::stdio::wrap(
                    gate,
                    conn,
                    program,
                    args,
                    llmtrail_mcp::stdio::client_input()?,
                    llmtrail_mcp::stdio::client_output()?,
                )
                .await?;
                Ok(code.and_then(|c| u8::try_from(c).ok()).unwrap_or(1))
            })
        }
        McpCommand::Proxy {
            common,
            upstream,
            listen,
        } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let (gate, actor, reporter, on_failure) = build(&common)?;
            let upstream: http::Uri = upstream
                .parse()
                .with_context(|| format!("--upstream {upstream} is not a URL"))?;
            if !matches!(upstream.scheme_str(), Some("http" | "https")) {
                bail!("--upstream must be an http:// or https:// URL");
            }
            runtime.block_on(async move {
                preflight(&reporter, on_failure).await?;
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("binding {listen}"))?;
                let addr = listener.local_addr()?;
                tracing::info!(listen = %addr, upstream = %upstream, "MCP proxy listening");
                eprintln!("llmtrail mcp proxy listening on http://{addr}");
                tokio::select! {
                    r = llmtrail_mcp::http::proxy(gate, upstream, actor, listener) => r?,
                    _ = tokio::signal::ctrl_c() => {}
                }
                Ok(0)
            })
        }
    }
}
