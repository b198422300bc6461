//! Fuzz target: arbitrary bytes as an MCP JSON-RPC frame (what a client or a server sends the
//! proxies) and as a Streamable HTTP event stream cut into arbitrary chunks.

#![no_main]

use libfuzzer_sys::fuzz_target;
use llmtrail_mcp::jsonrpc::{self, Kind};
use llmtrail_mcp::sse;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = jsonrpc::parse(data) {
        for m in frame.into_messages() {
            if let Kind::Request { id, .. } | Kind::Response { id, .. } = &m.kind {
                let e = jsonrpc::error_response(id, jsonrpc::BLOCKED, "x", None);
                assert_eq!(&e["id"], id);
            }
        }
    }
    // The first byte picks a chunk size; every byte must come out of the splitter once.
    let (size, rest) = match data.split_first() {
        Some((s, r)) => (usize::from(*s).max(1), r),
        None => return,
    };
    let mut split = sse::Splitter::default();
    let mut out = Vec::new();
    for chunk in rest.chunks(size) {
        for ev in split.push(chunk) {
            let _ = sse::data(&ev);
            out.extend(ev);
        }
    }
    out.extend(split.take());
    assert_eq!(out, rest);
});
