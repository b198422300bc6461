//! `llmtrail verify`: offline verification of a data directory, or of a running server against
//! a checkpoint kept earlier (detecting a rolled-back or forked log).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use llmtrail_ledger::checkpoint::{Checkpoint, NoteVerifier};
use llmtrail_ledger::crypto::MasterKey;
use llmtrail_ledger::keys::{MASTER_KEY_ENV, MASTER_KEY_FILE, load_verifier};
use llmtrail_ledger::merkle::{Hash, verify_consistency};
use llmtrail_ledger::verify::{VerifyOptions, VerifyReport, verify};

use crate::client::Client;

/// Loads a verifier key from `--key` (a verifier key string or a file holding one).
pub fn parse_key(key: &str) -> anyhow::Result<NoteVerifier> {
    if let Ok(v) = NoteVerifier::from_vkey(key.trim()) {
        return Ok(v);
    }
    load_verifier(Path::new(key)).map_err(|e| anyhow!("--key: {e}"))
}

/// Verifies a data directory; returns the report or the failure.
pub fn verify_dir(
    data_dir: &Path,
    keys_dir: &Path,
    key: Option<&str>,
    allow_unsigned_tail: bool,
) -> anyhow::Result<Result<VerifyReport, llmtrail_ledger::verify::VerifyError>> {
    let verifier = match key {
        Some(k) => parse_key(k)?,
        None => load_verifier(keys_dir)
            .context("no --key given and no public key in the keys directory")?,
    };
    let master = match std::env::var(MASTER_KEY_ENV) {
        Ok(v) => Some(MasterKey::from_base64(&v).map_err(|e| anyhow!("${MASTER_KEY_ENV}: {e}"))?),
        Err(_) => {
            let path = keys_dir.join(MASTER_KEY_FILE);
            match std::fs::read_to_string(&path) {
                Ok(text) => Some(
                    MasterKey::from_base64(&text)
                        .map_err(|e| anyhow!("{}: {e}", path.display()))?,
                ),
                Err(_) => None,
            }
        }
    };
    let ledger_dir = data_dir.join("ledger");
    if !ledger_dir.is_dir() {
        bail!("{} holds no ledger", data_dir.display());
    }
    let opts = VerifyOptions {
        dir: ledger_dir,
        verifier: &verifier,
        master: master.as_ref(),
        allow_unsigned_tail,
    };
    Ok(verify(&opts))
}

/// Checks a running server against a kept checkpoint and stores the new one.
pub fn verify_url(
    url: &str,
    checkpoint_file: &PathBuf,
    key: Option<&str>,
) -> anyhow::Result<String> {
    let client = Client::new(url, None);
    let key_file = sibling(checkpoint_file, "pub");
    let mut first_use = false;
    let verifier = match key {
        Some(k) => parse_key(k)?,
        None if key_file.exists() => load_verifier(&key_file).map_err(|e| anyhow!("{e}"))?,
        None => {
            let vkey = client.get_ok("/api/v1/public-key")?;
            first_use = true;
            NoteVerifier::from_vkey(vkey.trim()).map_err(|e| anyhow!("server public key: {e}"))?
        }
    };
    let note = client.get_ok("/api/v1/checkpoint")?;
    let new = verifier
        .verify(&note)
        .map_err(|e| anyhow!("the server's checkpoint does not verify: {e}"))?;
    if first_use {
        // Kept only once the server proved it holds the key, so later checks detect a swap.
        eprintln!(
            "trusting the server's public key {} on first use; it is kept in {}",
            verifier.to_vkey(),
            key_file.display()
        );
        write_atomic(&key_file, &format!("{}\n", verifier.to_vkey()))?;
    }
    let summary = match std::fs::read_to_string(checkpoint_file) {
        Ok(old_note) => {
            let old = verifier.verify(&old_note).map_err(|e| {
                anyhow!(
                    "the kept checkpoint {} does not verify: {e}",
                    checkpoint_file.display()
                )
            })?;
            check_consistent(&client, &old, &new)?;
            format!(
                "consistent: tree size {} -> {}, root {}",
                old.size,
                new.size,
                hex::encode(new.root)
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            format!(
                "first checkpoint kept: tree size {}, root {}",
                new.size,
                hex::encode(new.root)
            )
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", checkpoint_file.display())),
    };
    write_atomic(checkpoint_file, &note)?;
    Ok(summary)
}

fn check_consistent(client: &Client, old: &Checkpoint, new: &Checkpoint) -> anyhow::Result<()> {
    if old.origin != new.origin {
        bail!("origin changed from {:?} to {:?}", old.origin, new.origin);
    }
    if new.size < old.size {
        bail!(
            "ROLLED BACK: the server's tree has {} records, the kept checkpoint {}",
            new.size,
            old.size
        );
    }
    if new.size == old.size {
        if new.root != old.root {
            bail!("FORKED: same tree size {} with a different root", new.size);
        }
        return Ok(());
    }
    let body = client.get_ok(&format!(
        "/api/v1/proof/consistency?old={}&new={}",
        old.size, new.size
    ))?;
    let v: serde_json::Value =
        serde_json::from_str(&body).context("consistency proof is not JSON")?;
    let proof = v["proof"]
        .as_array()
        .ok_or_else(|| anyhow!("consistency proof has no proof array"))?
        .iter()
        .map(|h| {
            let mut out: Hash = [0u8; 32];
            hex::decode_to_slice(h.as_str().unwrap_or(""), &mut out).map(|()| out)
        })
        .collect::<Result<Vec<Hash>, _>>()
        .context("consistency proof holds a malformed hash")?;
    verify_consistency(old.size, new.size, &old.root, &new.root, &proof).map_err(|e| {
        anyhow!("FORKED: the server's tree is not an extension of the kept checkpoint: {e}")
    })
}

/// Returns `FILE.<suffix>` (appended, so that `a.checkpoint` and `a.pub` never collide).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// Replaces `path` with `text` durably: a synced temporary file renamed over it.
fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let tmp = sibling(path, "tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    // The rename itself must survive a crash.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing {}", dir.display()))?;
    }
    Ok(())
}
