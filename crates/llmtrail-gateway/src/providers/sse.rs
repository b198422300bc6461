//! An incremental parser of server-sent event streams (`text/event-stream`), as the WHATWG
//! HTML standard defines them (§9.2.6, "Interpreting an event stream").
//!
//! Contract:
//! - Bytes may be pushed in chunks of any size, split anywhere — inside a `\r\n` pair, inside a
//!   multi-byte UTF-8 character, inside the leading byte order mark — and the events produced
//!   are the same as for the whole stream at once.
//! - Lines end in `\n`, `\r\n` or `\r`. A line is decoded as UTF-8 with invalid sequences
//!   replaced by U+FFFD; a leading byte order mark is dropped.
//! - `data:` lines are joined with `\n`; `event:` sets the type (default `message`); `id:`
//!   sets the last event id (ignored if it holds NUL), which persists across events; lines
//!   starting with `:` are comments; `retry:` and unknown fields are ignored.
//! - An event is dispatched on a blank line, and only if it had a `data` field. What follows the
//!   last blank line is never dispatched: a stream cut off mid-event yields exactly the events
//!   completed before the cut.
//!
//! The parser holds at most one undecoded line and one pending event; it never fails.

use memchr::memchr2;

use super::common::BOM;

/// One dispatched server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// Event type: the last `event:` field, or `message` when none was given.
    pub event: String,
    /// The `data:` lines of the event joined with `\n`.
    pub data: String,
    /// The last event id set by an `id:` field so far in the stream (empty if none).
    pub id: String,
}

/// Incremental event-stream parser: push bytes as they arrive, collect dispatched events.
///
/// ```
/// use llmtrail_gateway::providers::sse::SseParser;
///
/// let mut parser = SseParser::new();
/// let mut events = Vec::new();
/// parser.push(b"event: ping\ndata: {\"a\"", &mut events);
/// assert!(events.is_empty());
/// parser.push(b":1}\r\n\r\ndata: cut off", &mut events);
/// assert_eq!(events.len(), 1);
/// assert_eq!(events[0].event, "ping");
/// assert_eq!(events[0].data, "{\"a\":1}");
/// ```
#[derive(Debug, Clone, Default)]
pub struct SseParser {
    /// Bytes of a leading byte order mark matched so far.
    bom_matched: usize,
    /// Whether the start of the stream (and its possible byte order mark) is behind us.
    started: bool,
    /// Whether the last byte seen ended a line with `\r`, so a `\n` right after it belongs to
    /// the same line ending.
    after_cr: bool,
    /// Bytes of the current line, undecoded until the line ends so that characters split
    /// across chunks decode as a whole.
    line: Vec<u8>,
    event_type: String,
    data: String,
    last_event_id: String,
}

impl SseParser {
    /// Creates a parser at the start of a stream.
    #[must_use]
    pub fn new() -> Self {
        SseParser::default()
    }

    /// Feeds the next bytes of the stream, appending every event they complete to `out`.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) {
        while !self.started {
            let Some((&byte, rest)) = bytes.split_first() else {
                return;
            };
            if BOM.get(self.bom_matched) == Some(&byte) {
                self.bom_matched += 1;
                bytes = rest;
                self.started = self.bom_matched == BOM.len();
            } else {
                // Not a byte order mark after all: what matched of it is ordinary data.
                self.started = true;
                let matched = BOM.get(..self.bom_matched).unwrap_or_default();
                self.feed(matched, out);
            }
        }
        self.feed(bytes, out);
    }

    /// Splits bytes into lines.
    fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) {
        if bytes.is_empty() {
            return;
        }
        if std::mem::take(&mut self.after_cr) && bytes.first() == Some(&b'\n') {
            bytes = bytes.get(1..).unwrap_or_default();
        }
        while let Some(end) = memchr2(b'\r', b'\n', bytes) {
            self.line
                .extend_from_slice(bytes.get(..end).unwrap_or_default());
            self.end_line(out);
            let crlf = bytes.get(end..end + 2) == Some(b"\r\n".as_slice());
            if bytes.get(end) == Some(&b'\r') && end + 1 == bytes.len() {
                self.after_cr = true;
            }
            bytes = bytes
                .get(end + if crlf { 2 } else { 1 }..)
                .unwrap_or_default();
        }
        self.line.extend_from_slice(bytes);
    }

    /// Interprets the completed line held in `self.line`.
    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        self.interpret(&String::from_utf8_lossy(&line), out);
        // Keep the allocation for the next line.
        self.line = line;
        self.line.clear();
    }

    fn interpret(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => {
                self.event_type.clear();
                self.event_type.push_str(value);
            }
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => {
                self.last_event_id.clear();
                self.last_event_id.push_str(value);
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event_type = std::mem::take(&mut self.event_type);
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // The newline after the last data line.
        out.push(SseEvent {
            event: if event_type.is_empty() {
                "message".to_owned()
            } else {
                event_type
            },
            data,
            id: self.last_event_id.clone(),
        });
    }
}

/// Parses a whole (possibly cut-off) event stream at once.
#[must_use]
pub fn parse(body: &[u8]) -> Vec<SseEvent> {
    let mut events = Vec::new();
    SseParser::new().push(body, &mut events);
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event(event: &str, data: &str, id: &str) -> SseEvent {
        SseEvent {
            event: event.to_owned(),
            data: data.to_owned(),
            id: id.to_owned(),
        }
    }

    /// Feeds `body` split at the given (sorted, in-range) points.
    fn parse_split(body: &[u8], splits: &[usize]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        let mut start = 0;
        for &split in splits {
            parser.push(&body[start..split], &mut events);
            start = split;
        }
        parser.push(&body[start..], &mut events);
        events
    }

    #[test]
    fn fields_follow_the_standard() {
        let body = b"\xEF\xBB\xBF: a comment\n\
            data: first\n\
            data:second\n\
            data\n\
            id: 7\n\
            \n\
            event: update\n\
            data: {\"x\": 1}\n\
            retry: 1000\n\
            unknown: field\n\
            \n\
            id\n\
            event: no-data\n\
            \n\
            data:  two spaces\n\
            \n";
        assert_eq!(
            parse(body),
            vec![
                event("message", "first\nsecond\n", "7"),
                event("update", "{\"x\": 1}", "7"),
                event("message", " two spaces", ""),
            ]
        );
    }

    #[test]
    fn all_three_line_endings_work() {
        let body = b"data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\n\n";
        let data: Vec<String> = parse(body).into_iter().map(|e| e.data).collect();
        assert_eq!(data, ["a", "b", "c", "d"]);
    }

    #[test]
    fn an_event_without_its_blank_line_is_not_dispatched() {
        assert_eq!(
            parse(b"data: a\n\ndata: b\n"),
            vec![event("message", "a", "")]
        );
        assert_eq!(
            parse(b"data: a\n\ndata: b"),
            vec![event("message", "a", "")]
        );
        assert!(parse(b"").is_empty());
    }

    #[test]
    fn ids_with_nul_are_ignored_and_ids_persist() {
        let body = b"id: 1\ndata: a\n\nid: x\0y\ndata: b\n\ndata: c\n\n";
        let ids: Vec<String> = parse(body).into_iter().map(|e| e.id).collect();
        assert_eq!(ids, ["1", "1", "1"]);
    }

    #[test]
    fn invalid_utf8_is_replaced_and_a_lone_bom_prefix_is_data() {
        assert_eq!(
            parse(b"data: \xFFok\n\n"),
            vec![event("message", "\u{FFFD}ok", "")]
        );
        // Two bytes of a byte order mark that do not complete it decode to one U+FFFD, which
        // makes the line an unknown field.
        assert_eq!(parse(b"\xEF\xBBdata: a\n\n"), vec![]);
        assert_eq!(
            parse(b"\xEF\xBB\n\ndata: a\n\n"),
            vec![event("message", "a", "")]
        );
        // A byte order mark later in the stream is not dropped.
        assert_eq!(parse(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n").len(), 1);
    }

    #[test]
    fn a_cr_at_a_chunk_end_then_lf_is_one_line_ending() {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        parser.push(b"data: a\r", &mut events);
        parser.push(b"", &mut events);
        parser.push(b"\n", &mut events);
        assert!(
            events.is_empty(),
            "\\r\\n split across chunks is one line end"
        );
        parser.push(b"\r", &mut events);
        assert_eq!(events, vec![event("message", "a", "")]);
    }

    #[test]
    fn every_single_split_point_gives_the_same_events() {
        let body = "\u{FEFF}event: delta\r\ndata: {\"text\": \"h\u{e9}llo \u{1F600}\"}\r\n\r\n\
                    : keep-alive\r\rid: 42\ndata: [DONE]\n\ndata: cut"
            .as_bytes();
        let whole = parse(body);
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[0].data, "{\"text\": \"h\u{e9}llo \u{1F600}\"}");
        assert_eq!(whole[1], event("message", "[DONE]", "42"));
        for split in 0..=body.len() {
            assert_eq!(parse_split(body, &[split]), whole, "split at {split}");
        }
        let every_byte: Vec<usize> = (1..body.len()).collect();
        assert_eq!(parse_split(body, &every_byte), whole);
    }

    proptest! {
        #[test]
        fn chunking_never_changes_the_events(
            body in proptest::collection::vec(
                prop_oneof![
                    Just(b'\r'), Just(b'\n'), Just(b':'), Just(b' '), Just(0xEF), Just(0xBB),
                    Just(0xBF), Just(0xC3), Just(0xA9), any::<u8>(),
                    Just(b'd'), Just(b'a'), Just(b't'),
                ],
                0..200,
            ),
            mut splits in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let mut body = body;
            // Make events likely: sprinkle whole field lines in.
            body.splice(0..0, b"data: x\r\n".iter().copied());
            for split in &mut splits {
                *split %= body.len() + 1;
            }
            splits.sort_unstable();
            prop_assert_eq!(parse_split(&body, &splits), parse(&body));
        }
    }
}
