//! `llmtrail scan` and `llmtrail rules list|test`: the detection engine offline.
//!
//! `scan [FILE|-]` scans plain text (the whole input as one text) and prints findings, one per
//! line (`LINE:COL severity category/type rule preview`), or a JSON array with `--format json`.
//! `scan --jsonl [FILE|-]` streams: each input line is `{"id", "text", "role"?}` and each output
//! line, in the same order, `{"id", "findings": [...]}` with byte offsets into the text; memory
//! stays flat whatever the input size. A line that is not such an object gets
//! `{"line": N, "error": "..."}` in its place and the run goes on (exit status 2 at the end).
//! Lines are read one at a time into a buffer of at most `--max-line-bytes` (64 MiB by
//! default): a longer line is skipped without being held in memory and reported the same way,
//! so that one line without a newline cannot take the process's memory.
//! `--fail-on SEVERITY` exits 1 when a finding reaches that severity (for CI).

use std::io::{BufRead as _, BufWriter, Read as _, Write as _};
use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use llmtrail_core::Severity;
use llmtrail_detect::{Engine, Hit, Input, Role};
use serde_json::{Value, json};

/// Output format of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One finding per line, for people.
    Text,
    /// JSON.
    Json,
}

/// Severity threshold for `--fail-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Level {
    /// Any finding.
    Low,
    /// Medium and above.
    Medium,
    /// High and above.
    High,
    /// Critical only.
    Critical,
}

impl Level {
    fn severity(self) -> Severity {
        match self {
            Level::Low => Severity::Low,
            Level::Medium => Severity::Medium,
            Level::High => Severity::High,
            Level::Critical => Severity::Critical,
        }
    }
}

/// Arguments of `scan`.
#[derive(Args)]
pub struct ScanArgs {
    /// Input file, or `-` (the default) for standard input.
    #[arg(default_value = "-")]
    input: PathBuf,
    /// Read JSON lines `{"id", "text", "role"}` and write one result line per input line.
    #[arg(long)]
    jsonl: bool,
    /// Longest accepted JSON line, in bytes; a longer line is skipped and reported as an error.
    #[arg(long, default_value_t = 64 << 20)]
    max_line_bytes: u64,
    /// Output format for plain-text input.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Exit with status 1 when a finding reaches this severity.
    #[arg(long, value_enum)]
    fail_on: Option<Level>,
    /// Role of plain-text input: user, assistant, system, tool, document, tool_arguments.
    #[arg(long, default_value = "user")]
    role: String,
    /// Extra rule file (repeatable).
    #[arg(long = "rules")]
    rules: Vec<PathBuf>,
    /// Domains that may receive data in URLs (exfiltration allowlist; repeatable).
    #[arg(long = "allow-domain")]
    allow_domains: Vec<String>,
}

/// The `rules` subcommands.
#[derive(Subcommand)]
pub enum RulesCommand {
    /// List every rule: built-in packs plus the given files.
    List {
        /// Extra rule file (repeatable).
        #[arg(long = "rules")]
        rules: Vec<PathBuf>,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Run every rule's positive and negative examples: of the given files, or of the
    /// built-in packs when none is given. Exit 1 when one fails.
    Test {
        /// Rule files to test.
        files: Vec<PathBuf>,
    },
}

fn engine(rules: &[PathBuf], allow: &[String]) -> anyhow::Result<Engine> {
    let mut engine = Engine::with_files(rules)?;
    engine.add_detector(Box::new(llmtrail_detect::exfil::Exfiltration::new(
        allow.iter().cloned(),
    )));
    engine.add_detector(Box::new(llmtrail_detect::invisible::InvisibleText));
    Ok(engine)
}

fn hit_json(h: &Hit) -> Value {
    let mut v = json!({
        "category": h.category,
        "type": h.kind,
        "severity": h.severity,
        "confidence": h.confidence,
        "detector": h.detector,
        "rule_id": h.rule_id,
        "start": h.start,
        "end": h.end,
        "preview": h.preview,
    });
    if !h.owasp.is_empty() {
        v["owasp"] = h.owasp.into();
    }
    if !h.atlas.is_empty() {
        v["atlas"] = h.atlas.into();
    }
    if let Some(d) = &h.decoded {
        v["decoded"] = d.clone().into();
    }
    v
}

fn open_input(path: &PathBuf) -> anyhow::Result<Box<dyn std::io::BufRead>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::BufReader::new(std::io::stdin())));
    }
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, file)))
}

/// Runs `scan`; returns the exit status.
///
/// # Errors
/// Unreadable input or rule files.
pub fn scan(args: &ScanArgs) -> anyhow::Result<u8> {
    let engine = engine(&args.rules, &args.allow_domains)?;
    let threshold = args.fail_on.map(Level::severity);
    let mut worst: Option<Severity> = None;
    let mut bad_lines = 0u64;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut input = open_input(&args.input)?;
    if args.jsonl {
        let mut line = Vec::new();
        let mut n = 0u64;
        loop {
            line.clear();
            let limit = args.max_line_bytes;
            if input
                .by_ref()
                .take(limit.saturating_add(1))
                .read_until(b'\n', &mut line)?
                == 0
            {
                break;
            }
            n += 1;
            if line.len() as u64 > limit && line.last() != Some(&b'\n') {
                input.skip_until(b'\n')?;
                bad_lines += 1;
                let why = format!("the line is longer than {limit} bytes (--max-line-bytes)");
                serde_json::to_writer(&mut out, &json!({"line": n, "error": why}))?;
                out.write_all(b"\n")?;
                continue;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match scan_line(&engine, &line) {
                Ok((id, hits)) => {
                    for h in &hits {
                        worst = worst.max(Some(h.severity));
                    }
                    let findings: Vec<Value> = hits.iter().map(hit_json).collect();
                    serde_json::to_writer(&mut out, &json!({"id": id, "findings": findings}))?;
                }
                Err(why) => {
                    bad_lines += 1;
                    serde_json::to_writer(&mut out, &json!({"line": n, "error": why}))?;
                }
            }
            out.write_all(b"\n")?;
        }
    } else {
        let role = Role::parse(&args.role).ok_or_else(|| {
            anyhow!("--role: expected user, assistant, system, tool, document or tool_arguments")
        })?;
        let mut bytes = Vec::new();
        input.read_to_end(&mut bytes)?;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            anyhow!(
                "the input is not UTF-8 (first bad byte at offset {})",
                e.valid_up_to()
            )
        })?;
        let hits = engine.scan(&Input { text, role });
        for h in &hits {
            worst = worst.max(Some(h.severity));
        }
        match args.format {
            Format::Json => {
                let all: Vec<Value> = hits.iter().map(hit_json).collect();
                serde_json::to_writer_pretty(&mut out, &all)?;
                out.write_all(b"\n")?;
            }
            Format::Text => {
                for h in &hits {
                    let (line, col) = line_col(text, h.start);
                    writeln!(
                        out,
                        "{line}:{col}\t{:?}\t{}/{}\t{}\t{}",
                        h.severity,
                        serde_json::to_value(h.category)?.as_str().unwrap_or("?"),
                        h.kind,
                        h.rule_id,
                        escape(&h.preview)
                    )?;
                }
                if hits.is_empty() {
                    writeln!(out, "no findings")?;
                }
            }
        }
    }
    out.flush()?;
    if bad_lines > 0 {
        eprintln!("error: {bad_lines} input lines were not {{\"id\", \"text\", \"role\"}} objects");
        return Ok(2);
    }
    Ok(match (threshold, worst) {
        (Some(t), Some(w)) if w >= t => 1,
        _ => 0,
    })
}

/// Keeps previews on one line and free of terminal control characters.
fn escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |p| before.len() - p - 1)
        + 1;
    (line, col)
}

fn scan_line(engine: &Engine, line: &[u8]) -> Result<(Value, Vec<Hit>), String> {
    let v: Value = serde_json::from_slice(line).map_err(|e| {
        if std::str::from_utf8(line).is_err() {
            "the line is not UTF-8".to_owned()
        } else {
            format!("invalid JSON at column {}", e.column())
        }
    })?;
    let Value::Object(map) = v else {
        return Err("expected a JSON object".into());
    };
    let id = map.get("id").cloned().unwrap_or(Value::Null);
    let text = map
        .get("text")
        .and_then(Value::as_str)
        .ok_or("`text` must be a string")?;
    let role = match map.get("role") {
        None | Some(Value::Null) => Role::User,
        Some(Value::String(r)) => Role::parse(r).ok_or("unknown `role`")?,
        Some(_) => return Err("`role` must be a string".into()),
    };
    Ok((id, engine.scan(&Input { text, role })))
}

/// Runs a `rules` subcommand; returns the exit status.
///
/// # Errors
/// Invalid rule files (naming file, rule and reason).
pub fn rules(cmd: &RulesCommand) -> anyhow::Result<u8> {
    match cmd {
        RulesCommand::List { rules, json } => {
            let engine = Engine::with_files(rules)?;
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            for r in engine.rules() {
                let category = serde_json::to_value(r.category)?;
                if *json {
                    let v = json!({"id": r.id, "category": category, "type": r.kind,
                                   "severity": r.severity, "owasp": r.owasp, "atlas": r.atlas,
                                   "description": r.description});
                    writeln!(out, "{v}")?;
                } else {
                    writeln!(
                        out,
                        "{}\t{}\t{:?}\t{}",
                        r.id,
                        category.as_str().unwrap_or("?"),
                        r.severity,
                        r.description
                    )?;
                }
            }
            out.flush()?;
            Ok(0)
        }
        RulesCommand::Test { files } => {
            let engine = Engine::with_files(files)?;
            let names: Vec<PathBuf> = files.clone();
            let report = llmtrail_detect::test_rules::test_rules(&engine, &names);
            println!("{report}");
            if report.rules == 0 {
                bail!("no rules were tested");
            }
            Ok(if report.passed() { 0 } else { 1 })
        }
    }
}
