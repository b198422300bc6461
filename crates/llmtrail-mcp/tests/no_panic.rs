//! Property tests: no input makes the JSON-RPC parser, the line reader or the SSE splitter
//! panic, and what they return keeps their contracts.

use llmtrail_mcp::jsonrpc::{self, Frame, Kind};
use llmtrail_mcp::lines::{Line, LineReader};
use llmtrail_mcp::sse;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn jsonrpc_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(frame) = jsonrpc::parse(&bytes) {
            for m in frame.into_messages() {
                if let Kind::Request { id, .. } | Kind::Response { id, .. } = &m.kind {
                    let e = jsonrpc::error_response(id, -1, "x", None);
                    prop_assert_eq!(&e["id"], id);
                }
            }
        }
    }

    #[test]
    fn jsonrpc_shaped_text_is_classified(
        id in prop_oneof![any::<i64>().prop_map(serde_json::Value::from), "[a-z0-9]{0,8}".prop_map(serde_json::Value::from)],
        method in "[a-z/]{1,20}",
    ) {
        let text = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method}).to_string();
        let Ok(Frame::Single(m)) = jsonrpc::parse(text.as_bytes()) else { panic!("{text}") };
        prop_assert_eq!(m.kind, Kind::Request { id, method });
    }

    #[test]
    fn sse_splitter_never_loses_bytes(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)) {
        let mut s = sse::Splitter::default();
        let mut out = Vec::new();
        for c in &chunks {
            for ev in s.push(c) {
                let _ = sse::data(&ev);
                let _ = sse::with_data(&ev, "{}");
                out.extend(ev);
            }
        }
        out.extend(s.take());
        prop_assert_eq!(out, chunks.concat());
    }

    #[test]
    fn line_reader_returns_every_short_line(lines in proptest::collection::vec("[^\n\r]{0,40}", 0..20), cap in 1usize..16) {
        let text = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let got = rt.block_on(async {
            let mut r = LineReader::new(tokio::io::BufReader::with_capacity(cap, text.as_bytes()), 30);
            let mut got = Vec::new();
            loop {
                match r.next().await.unwrap() {
                    Line::Eof => break,
                    Line::Text(t) => got.push(Some(String::from_utf8(t).unwrap())),
                    Line::TooLong(_) => got.push(None),
                }
            }
            got
        });
        let want: Vec<Option<String>> = lines.iter().map(|l| (l.len() <= 30).then(|| l.clone())).collect();
        prop_assert_eq!(got, want);
    }
}
