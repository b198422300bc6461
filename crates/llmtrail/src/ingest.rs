//! `llmtrail ingest FILE|-`: NDJSON events into a running server or straight into a data
//! directory. The whole input is validated first; a bad line stops everything before any write.

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use llmtrail_core::Event;

use crate::client::Client;

/// Events per request or append.
const CHUNK: usize = 2000;

/// Where events go.
pub enum Target {
    /// A running server.
    Api { url: String, token: String },
    /// A data directory no server holds.
    DataDir(Box<llmtrail_server::Config>),
}

fn read_input(input: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if input == Path::new("-") {
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("reading standard input")?;
    } else {
        bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    }
    Ok(bytes)
}

/// Splits NDJSON into (line number, line) pairs, skipping blank lines.
fn lines(bytes: &[u8]) -> Vec<(usize, &[u8])> {
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .map(|(n, l)| (n + 1, l))
        .collect()
}

/// Runs the command; returns the number of events ingested.
pub fn run(input: &Path, target: Target) -> anyhow::Result<u64> {
    let bytes = read_input(input)?;
    if let Err(e) = std::str::from_utf8(&bytes) {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        bail!(
            "line {line}: invalid UTF-8 at byte offset {}",
            e.valid_up_to()
        );
    }
    let lines = lines(&bytes);
    let mut events = Vec::with_capacity(lines.len());
    for (n, line) in &lines {
        events.push(Event::from_json_slice(line).map_err(|e| anyhow::anyhow!("line {n}: {e}"))?);
    }
    match target {
        Target::Api { url, token } => {
            let client = Client::new(&url, Some(token));
            let mut done = 0u64;
            for chunk in lines.chunks(CHUNK) {
                let mut body = Vec::new();
                for (_, l) in chunk {
                    body.extend_from_slice(l);
                    body.push(b'\n');
                }
                let reply = client.post("/api/v1/events", "application/x-ndjson", &body)?;
                if reply.status != 200 {
                    bail!(
                        "server refused events starting at line {} ({} ingested before): HTTP {}: {}",
                        chunk[0].0,
                        done,
                        reply.status,
                        reply.body.trim()
                    );
                }
                done += chunk.len() as u64;
            }
            Ok(done)
        }
        Target::DataDir(config) => {
            let ledger = llmtrail_server::serve::open_ledger(&config)?;
            let mut done = 0u64;
            for chunk in events.chunks(CHUNK) {
                ledger
                    .append_blocking(chunk)
                    .with_context(|| format!("{done} events ingested before the failure"))?;
                done += chunk.len() as u64;
            }
            ledger.close()?;
            Ok(done)
        }
    }
}
