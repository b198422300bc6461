//! Server-sent event framing.
//!
//! A stream is a list of [`Chunk`]s, one SSE event each; the body sends every chunk as its own
//! HTTP chunk. Chunks that carry answer content are marked so that `mock-slow` pauses before
//! them and nowhere else.

use bytes::Bytes;
use serde_json::Value;

/// One SSE event, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// The framed event, ending with a blank line.
    pub(crate) data: Bytes,
    /// Whether the event carries answer content (a pause of `mock-slow` comes before it).
    pub(crate) content: bool,
}

impl Chunk {
    /// Frames `payload` as a `data:` line without an event name (OpenAI Chat Completions).
    pub(crate) fn data(payload: &Value, content: bool) -> Self {
        Self::framed(b"data: ", payload, content)
    }

    /// Frames `payload` under the event name `event` (OpenAI Responses, Anthropic).
    pub(crate) fn event(event: &str, payload: &Value, content: bool) -> Self {
        let mut prefix = Vec::with_capacity(event.len() + 14);
        prefix.extend_from_slice(b"event: ");
        prefix.extend_from_slice(event.as_bytes());
        prefix.extend_from_slice(b"\ndata: ");
        Self::framed(&prefix, payload, content)
    }

    fn framed(prefix: &[u8], payload: &Value, content: bool) -> Self {
        let mut data = Vec::with_capacity(prefix.len() + 256);
        data.extend_from_slice(prefix);
        write_json(&mut data, payload);
        data.extend_from_slice(b"\n\n");
        Self::bytes(data, content)
    }

    /// Takes already framed text.
    pub(crate) fn raw(text: String, content: bool) -> Self {
        Self::bytes(text.into_bytes(), content)
    }

    /// Takes an already framed event.
    pub(crate) fn bytes(data: Vec<u8>, content: bool) -> Self {
        Self {
            data: Bytes::from(data),
            content,
        }
    }
}

/// Serializes `value` straight into bytes, skipping the `fmt` machinery that `to_string` uses.
pub(crate) fn to_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_json(&mut out, value);
    out
}

/// Appends `value` as JSON to `out`.
pub(crate) fn write_json(out: &mut Vec<u8>, value: &Value) {
    // Serializing a `Value` into memory cannot fail (its map keys are always strings); the
    // fallback only keeps this free of a panic path.
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(value.to_string().as_bytes());
    }
}

/// Returns the body of a `mock-garbage` stream: `data:` lines that are not JSON, a line that is
/// not SSE at all, and a broken JSON object.
pub(crate) fn garbage() -> Vec<Chunk> {
    [
        "data: this is not json\n\n",
        "data: {\"id\": \"chatcmpl-garbage\", \"choices\": [\n\n",
        "%%% random text without any field name %%%\n\n",
        "data: <html><body>502 Bad Gateway</body></html>\n\n",
        "data: \u{1f980} garbage \\x00 ]]]\n\n",
    ]
    .into_iter()
    .map(|text| Chunk::raw(text.to_owned(), false))
    .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn frames_events() {
        let chunk = Chunk::data(&json!({"a": 1}), true);
        assert_eq!(&chunk.data[..], b"data: {\"a\":1}\n\n");
        assert!(chunk.content);
        let chunk = Chunk::event("ping", &json!({"type": "ping"}), false);
        assert_eq!(
            &chunk.data[..],
            b"event: ping\ndata: {\"type\":\"ping\"}\n\n"
        );
    }

    #[test]
    fn garbage_is_not_json() {
        for chunk in garbage() {
            let text = std::str::from_utf8(&chunk.data).unwrap();
            let payload = text.trim_end().trim_start_matches("data: ");
            assert!(serde_json::from_str::<Value>(payload).is_err(), "{payload}");
        }
    }
}
