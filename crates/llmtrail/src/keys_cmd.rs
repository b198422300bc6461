//! `llmtrail keys create|list|revoke`: virtual keys for the gateway.
//!
//! These change `<data-dir>/virtual-keys.json` directly (under a lock, replaced atomically), so
//! they work while `serve` runs: the server rereads the file on the next request. The key is
//! printed once at creation; only its hash is stored.

use std::collections::BTreeMap;

use anyhow::{Context as _, anyhow};
use clap::Subcommand;
use llmtrail_gateway::vkeys::{NewKey, Store, VirtualKey};

use crate::DataDirArgs;

/// The `keys` subcommands.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Issue a virtual key for a person or agent; prints the key once.
    Create {
        /// User the key belongs to, e.g. u-1042.
        #[arg(long)]
        user: String,
        /// Role of the user, e.g. finance.
        #[arg(long)]
        role: Option<String>,
        /// Department of the user.
        #[arg(long)]
        department: Option<String>,
        /// Agent the key is for, when an agent uses it.
        #[arg(long)]
        agent: Option<String>,
        /// Tag added to every event made with the key, as key=value (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Environment variable of the gateway holding the real provider key for this key
        /// (default: the upstream's `api_key_env`).
        #[arg(long)]
        provider_key_env: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// List virtual keys (never the keys themselves).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// Revoke a virtual key by id; takes effect at once, also in a running server.
    Revoke {
        /// The key id (vk_…).
        id: String,
        #[command(flatten)]
        dir: DataDirArgs,
    },
}

fn describe(k: &VirtualKey) -> serde_json::Value {
    serde_json::json!({
        "id": k.id,
        "prefix": k.prefix,
        "user": k.user,
        "role": k.role,
        "department": k.department,
        "agent": k.agent,
        "tags": k.tags,
        "provider_key_env": k.provider_key_env,
        "created": k.created,
        "revoked": k.revoked,
    })
}

/// Runs a `keys` subcommand.
///
/// # Errors
/// Bad arguments or an unreadable store.
pub fn run(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Create {
            user,
            role,
            department,
            agent,
            tags,
            provider_key_env,
            json,
            dir,
        } => {
            let config = dir.load()?;
            let mut tag_map = BTreeMap::new();
            for t in tags {
                let (k, v) = t
                    .split_once('=')
                    .ok_or_else(|| anyhow!("--tag expects key=value"))?;
                tag_map.insert(k.to_owned(), v.to_owned());
            }
            let store = Store::new(&config.data_dir);
            let (entry, key) = store
                .create(NewKey {
                    user,
                    role,
                    department,
                    agent,
                    tags: tag_map,
                    provider_key_env,
                })
                .context("creating the virtual key")?;
            if json {
                let mut v = describe(&entry);
                v["key"] = key.into();
                println!("{v}");
            } else {
                println!("created {} for {}", entry.id, entry.user);
                println!("key: {key}");
                println!("(shown once; only its hash is stored)");
            }
        }
        KeysCommand::List { json, dir } => {
            let config = dir.load()?;
            let keys = Store::new(&config.data_dir).list()?;
            if json {
                let all: Vec<_> = keys.iter().map(describe).collect();
                println!("{}", serde_json::Value::Array(all));
            } else {
                for k in keys {
                    println!(
                        "{}\t{}…\tuser={}\trole={}\tdepartment={}\t{}",
                        k.id,
                        k.prefix,
                        k.user,
                        k.role.as_deref().unwrap_or("-"),
                        k.department.as_deref().unwrap_or("-"),
                        k.revoked
                            .map_or_else(|| "active".to_owned(), |t| format!("revoked {t}")),
                    );
                }
            }
        }
        KeysCommand::Revoke { id, dir } => {
            let config = dir.load()?;
            let entry = Store::new(&config.data_dir).revoke(&id)?;
            println!(
                "revoked {} ({})",
                entry.id,
                entry.revoked.as_deref().unwrap_or("")
            );
        }
    }
    Ok(())
}
