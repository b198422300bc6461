//! `llmtrail tokens create|list|revoke`: API tokens and their roles, edited in the data
//! directory (also while `serve` runs: it re-reads the store when it changes).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

/// `llmtrail tokens …`
#[derive(Subcommand)]
pub enum TokensCommand {
    /// Create a token; it is printed once and stored hashed.
    Create {
        /// Role: viewer, analyst, forensic, admin or ingest.
        #[arg(long)]
        role: String,
        /// A unique name, e.g. soc-analyst.
        #[arg(long)]
        name: String,
        /// Data directory.
        #[arg(long, default_value = "./llmtrail-data")]
        data_dir: PathBuf,
    },
    /// List tokens (names, roles, creation times).
    List {
        /// Data directory.
        #[arg(long, default_value = "./llmtrail-data")]
        data_dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by name; refused at once by a running serve.
    Revoke {
        /// The token's name.
        name: String,
        /// Data directory.
        #[arg(long, default_value = "./llmtrail-data")]
        data_dir: PathBuf,
    },
}

/// Runs the command.
pub fn run(cmd: TokensCommand) -> anyhow::Result<()> {
    use llmtrail_server::auth;
    match cmd {
        TokensCommand::Create {
            role,
            name,
            data_dir,
        } => {
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))?;
            let token = auth::create(&data_dir, &name, &role)?;
            println!("{token}");
            eprintln!("created token `{name}` with role {role}; it is shown only this once");
        }
        TokensCommand::List { data_dir, json } => {
            let list = auth::list(&data_dir)?;
            if json {
                let v: Vec<serde_json::Value> = list
                    .iter()
                    .map(|t| serde_json::json!({"name": t.name, "role": t.role, "created": t.created}))
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                for t in list {
                    println!("{:<24} {:<9} {}", t.name, t.role, t.created);
                }
            }
        }
        TokensCommand::Revoke { name, data_dir } => {
            auth::revoke(&data_dir, &name)?;
            println!("revoked `{name}`");
        }
    }
    Ok(())
}
