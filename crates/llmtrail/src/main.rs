//! The `llmtrail` binary: `serve`, `demo`, `verify`, `ingest`, `keys`, `mcp`, `search`, `reindex`,
//! `scan`, `rules`, `keygen`, `schema`.

mod client;
mod demo_cmd;
mod ingest;
mod keys_cmd;
mod mcp_cmd;
mod scan_cmd;
mod search_cmd;
mod tokens_cmd;
mod verify_cmd;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow};
use clap::{Parser, Subcommand};
use llmtrail_server::Config;

// A general-purpose allocator that keeps per-thread free lists: the ingest path allocates many
// small JSON values per event, and glibc's malloc showed up at 10-15% of its profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "llmtrail",
    version,
    about = "Security telemetry for LLM applications and agents"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: ingest API, proofs and checkpoints.
    Serve {
        /// Configuration file (llmtrail.toml); every key has a default.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (overrides ledger.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Listen address (overrides server.listen).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Serve with a built-in mock LLM and a day of replayed traffic (offline first look).
    Demo(demo_cmd::DemoArgs),
    /// Verify a ledger offline, or a running server against a kept checkpoint.
    Verify {
        /// Data directory to verify.
        #[arg(long, conflicts_with = "url")]
        data_dir: Option<PathBuf>,
        /// Keys directory (default: <data-dir>/keys).
        #[arg(long)]
        keys_dir: Option<PathBuf>,
        /// Trusted verifier key (a `name+id+key` string or a file holding one).
        #[arg(long)]
        key: Option<String>,
        /// Accept records after the last checkpoint (a live or crashed ledger).
        #[arg(long)]
        allow_unsigned_tail: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// URL of a running server to check against --checkpoint.
        #[arg(long, requires = "checkpoint")]
        url: Option<String>,
        /// File holding the checkpoint kept from a previous check; updated on success.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Append NDJSON events from a file or standard input.
    Ingest {
        /// NDJSON file, or `-` for standard input.
        input: PathBuf,
        /// Send to this running server.
        #[arg(long, conflicts_with = "data_dir")]
        url: Option<String>,
        /// API token for --url.
        #[arg(long, env = "LLMTRAIL_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Write straight into this data directory (no server may hold it).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Configuration file for --data-dir.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Scan text for injection, jailbreaks, PII, secrets, exfiltration and unsafe output.
    Scan(scan_cmd::ScanArgs),
    /// List the detection rules or run their examples.
    #[command(subcommand)]
    Rules(scan_cmd::RulesCommand),
    /// Manage the gateway's virtual keys (works while serve runs).
    #[command(subcommand)]
    Keys(keys_cmd::KeysCommand),
    /// Manage API tokens and their roles (works while serve runs).
    #[command(subcommand)]
    Tokens(tokens_cmd::TokensCommand),
    /// Search events, traces and statistics through a running server's query API.
    Search(Box<search_cmd::SearchArgs>),
    /// Rebuild the query index from the ledger (with serve stopped).
    Reindex {
        /// Configuration file (llmtrail.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (overrides ledger.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// MCP proxies that log and police tool calls: `mcp wrap`, `mcp proxy`.
    #[command(subcommand)]
    Mcp(mcp_cmd::McpCommand),
    /// Generate a signing key and a master key into a directory.
    Keygen {
        /// Directory to write the keys to.
        #[arg(long)]
        out: PathBuf,
        /// Key name, which becomes the checkpoint origin unless configured otherwise.
        #[arg(long)]
        name: Option<String>,
    },
    /// Print the JSON Schema of events.
    Schema,
}

/// Where the data directory is: `--data-dir`, else the config file's, else the default.
#[derive(clap::Args)]
pub struct DataDirArgs {
    /// Data directory (overrides ledger.data_dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Configuration file (llmtrail.toml).
    #[arg(long)]
    config: Option<PathBuf>,
}

impl DataDirArgs {
    fn load(&self) -> anyhow::Result<Config> {
        load_config(self.config.as_ref(), self.data_dir.clone())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LLMTRAIL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn load_config(path: Option<&PathBuf>, data_dir: Option<PathBuf>) -> anyhow::Result<Config> {
    let mut config = Config::load(path.map(PathBuf::as_path))?;
    if let Some(dir) = data_dir {
        config.set_data_dir(dir);
    }
    Ok(config)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            config,
            data_dir,
            listen,
        } => {
            let mut config = load_config(config.as_ref(), data_dir)?;
            if let Some(addr) = listen {
                config.listen = addr;
            }
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let data_dir = config.data_dir.clone();
            let scheme = if config.tls.is_some() {
                "https"
            } else {
                "http"
            };
            runtime.block_on(llmtrail_server::serve::run(config, |addr| {
                println!(
                    "llmtrail listening on {scheme}://{addr} (data in {})",
                    data_dir.display()
                );
                let admin = data_dir.join(llmtrail_server::auth::ADMIN_TOKEN_FILE);
                if admin.exists() {
                    println!("admin token: {}", admin.display());
                }
            }))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => {
            demo_cmd::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            data_dir,
            keys_dir,
            key,
            allow_unsigned_tail,
            json,
            url,
            checkpoint,
        } => {
            if let Some(url) = url {
                let file = checkpoint.ok_or_else(|| anyhow!("--url needs --checkpoint FILE"))?;
                return match verify_cmd::verify_url(&url, &file, key.as_deref()) {
                    Ok(summary) => {
                        println!("ok: {summary}");
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(e) => {
                        println!("FAILED: {e:#}");
                        Ok(ExitCode::from(1))
                    }
                };
            }
            let data_dir = data_dir.unwrap_or_else(|| PathBuf::from("./llmtrail-data"));
            let keys_dir = keys_dir.unwrap_or_else(|| data_dir.join("keys"));
            match verify_cmd::verify_dir(&data_dir, &keys_dir, key.as_deref(), allow_unsigned_tail)?
            {
                Ok(report) => {
                    if json {
                        println!("{}", serde_json::to_string(&report)?);
                    } else {
                        println!(
                            "ok: {} records in {} segments, {} checkpoints (latest size {}), {} contents checked, {} deleted, {} unchecked, root {}",
                            report.records,
                            report.segments,
                            report.checkpoints,
                            report.checkpoint_size,
                            report.content_checked,
                            report.content_deleted,
                            report.content_unchecked,
                            report.root
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    if json {
                        let v = serde_json::json!({"ok": false, "first_bad_index": e.first_bad_index(), "error": e.to_string()});
                        println!("{v}");
                    } else {
                        println!("FAILED: {e}");
                    }
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Ingest {
            input,
            url,
            token,
            data_dir,
            config,
        } => {
            let target = match (url, data_dir) {
                (Some(url), _) => {
                    let token =
                        token.ok_or_else(|| anyhow!("--url needs --token or LLMTRAIL_TOKEN"))?;
                    ingest::Target::Api { url, token }
                }
                (None, Some(dir)) => {
                    ingest::Target::DataDir(Box::new(load_config(config.as_ref(), Some(dir))?))
                }
                (None, None) => {
                    return Err(anyhow!(
                        "give --url URL (a running server) or --data-dir DIR"
                    ));
                }
            };
            let n = ingest::run(&input, target)?;
            println!("ingested {n} events");
            Ok(ExitCode::SUCCESS)
        }
        Command::Scan(args) => Ok(ExitCode::from(scan_cmd::scan(&args)?)),
        Command::Rules(cmd) => Ok(ExitCode::from(scan_cmd::rules(&cmd)?)),
        Command::Tokens(cmd) => {
            tokens_cmd::run(cmd)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Search(args) => Ok(ExitCode::from(search_cmd::search(&args)?)),
        Command::Reindex { config, data_dir } => {
            let config = load_config(config.as_ref(), data_dir)?;
            let n = search_cmd::reindex(&config)?;
            println!("indexed {n} events");
            Ok(ExitCode::SUCCESS)
        }
        Command::Mcp(cmd) => Ok(ExitCode::from(mcp_cmd::run(cmd)?)),
        Command::Keys(cmd) => {
            keys_cmd::run(cmd)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen { out, name } => {
            let name = match name {
                Some(n) => n,
                None => {
                    let mut suffix = [0u8; 8];
                    llmtrail_ledger::crypto::random_bytes(&mut suffix)?;
                    format!("llmtrail/{}", hex::encode(suffix))
                }
            };
            let keys = llmtrail_ledger::keys::Keys::generate(&name)?;
            keys.write(&out, true)
                .with_context(|| format!("writing keys to {}", out.display()))?;
            println!("wrote {} keys to {}", name, out.display());
            println!("public key: {}", keys.verifier().to_vkey());
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&llmtrail_core::schema::event_schema())?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
