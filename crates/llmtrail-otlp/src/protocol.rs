//! OTLP/HTTP without the HTTP server: content negotiation, bounded decompression, decoding,
//! and the bodies of the answers.
//!
//! What the OTLP/HTTP specification asks of a receiver, and where it is done:
//! - `Content-Type: application/x-protobuf` (also `application/protobuf`) or
//!   `application/json`, parameters ignored; anything else is 415 ([`encoding_of`]);
//! - `Content-Encoding: gzip` (or `identity`, or none); anything else is 415; the inflated
//!   size is bounded by the same limit as the body, so a small gzip bomb is a 413, never a
//!   large allocation ([`decompress`]);
//! - a body that does not decode is 400, which clients must not retry ([`decode`]);
//! - success is 200 with an `Export{Trace,Logs}ServiceResponse` in the request's encoding;
//!   when some spans or records were refused it carries `partial_success` with their count and
//!   why ([`success_body`]); errors carry a `google.rpc.Status` ([`error_body`]).
//!
//! Retryable answers (429, 503 with `Retry-After`) depend on the server's state and are made by
//! the server.

use std::borrow::Cow;
use std::io::Read as _;

use http::StatusCode;
use prost::Message as _;
use serde_json::json;

use crate::genai::Mapped;
use crate::{json, proto, wire};

/// The two OTLP/HTTP encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Binary protobuf (`application/x-protobuf`).
    Protobuf,
    /// The OTLP JSON mapping (`application/json`).
    Json,
}

impl Encoding {
    /// Returns the `Content-Type` of answers in this encoding.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// The two signals received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `POST /v1/traces`.
    Traces,
    /// `POST /v1/logs`.
    Logs,
}

impl Signal {
    fn item(self) -> &'static str {
        match self {
            Signal::Traces => "span",
            Signal::Logs => "log record",
        }
    }
}

/// Why a request is refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtlpError {
    /// The content type is not one OTLP/HTTP defines.
    #[error("unsupported content type `{0}`: send application/x-protobuf or application/json")]
    UnsupportedMediaType(String),
    /// The content encoding is not gzip or identity.
    #[error("unsupported content encoding `{0}`: send gzip or no content encoding")]
    UnsupportedEncoding(String),
    /// The body, or what it inflates to, is over the limit.
    #[error("request body exceeds the limit of {limit} bytes{}", when(*.inflated))]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
        /// Whether the limit was passed while inflating.
        inflated: bool,
    },
    /// The gzip stream is damaged.
    #[error("the gzip body could not be decompressed")]
    Gzip,
    /// The body is not an export request in its encoding.
    #[error("the body is not a valid OTLP {what} export request: {why}")]
    Undecodable {
        /// `protobuf traces`, `JSON logs`, ...
        what: &'static str,
        /// The decoder's reason (never a quote of the body).
        why: String,
    },
}

/// The end of the [`OtlpError::TooLarge`] message.
fn when(inflated: bool) -> &'static str {
    if inflated { " once decompressed" } else { "" }
}

impl OtlpError {
    /// Returns the HTTP status of the refusal (none of them retryable).
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            OtlpError::UnsupportedMediaType(_) | OtlpError::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            OtlpError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            OtlpError::Gzip | OtlpError::Undecodable { .. } => StatusCode::BAD_REQUEST,
        }
    }
}

/// Returns the encoding named by a `Content-Type` value.
///
/// # Errors
/// [`OtlpError::UnsupportedMediaType`] for a missing or other type.
pub fn encoding_of(content_type: Option<&str>) -> Result<Encoding, OtlpError> {
    let raw = content_type.unwrap_or("");
    let mime = raw.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/x-protobuf")
        || mime.eq_ignore_ascii_case("application/protobuf")
    {
        Ok(Encoding::Protobuf)
    } else if mime.eq_ignore_ascii_case("application/json") {
        Ok(Encoding::Json)
    } else {
        let shown: String = raw.chars().take(100).collect();
        Err(OtlpError::UnsupportedMediaType(shown))
    }
}

/// Undoes the `Content-Encoding`, reading at most `limit` inflated bytes.
///
/// # Errors
/// [`OtlpError::UnsupportedEncoding`], [`OtlpError::TooLarge`] (with `inflated`) or
/// [`OtlpError::Gzip`].
pub fn decompress<'a>(
    content_encoding: Option<&str>,
    body: &'a [u8],
    limit: usize,
) -> Result<Cow<'a, [u8]>, OtlpError> {
    let enc = content_encoding.unwrap_or("").trim();
    if enc.is_empty() || enc.eq_ignore_ascii_case("identity") {
        return Ok(Cow::Borrowed(body));
    }
    if !enc.eq_ignore_ascii_case("gzip") && !enc.eq_ignore_ascii_case("x-gzip") {
        let shown: String = enc.chars().take(50).collect();
        return Err(OtlpError::UnsupportedEncoding(shown));
    }
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    let bound = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::MultiGzDecoder::new(body)
        .take(bound)
        .read_to_end(&mut out)
        .map_err(|_| OtlpError::Gzip)?;
    if out.len() > limit {
        return Err(OtlpError::TooLarge {
            limit,
            inflated: true,
        });
    }
    Ok(Cow::Owned(out))
}

/// Decodes an export request and maps it to events.
///
/// # Errors
/// [`OtlpError::Undecodable`] when the body is not an export request of `signal` in
/// `encoding`.
pub fn decode(signal: Signal, encoding: Encoding, body: &[u8]) -> Result<Mapped, OtlpError> {
    let what = match (encoding, signal) {
        (Encoding::Protobuf, Signal::Traces) => "protobuf traces",
        (Encoding::Protobuf, Signal::Logs) => "protobuf logs",
        (Encoding::Json, Signal::Traces) => "JSON traces",
        (Encoding::Json, Signal::Logs) => "JSON logs",
    };
    let undecodable = |why| OtlpError::Undecodable { what, why };
    Ok(match (encoding, signal) {
        (Encoding::Protobuf, Signal::Traces) => {
            crate::genai::spans(wire::traces(body).map_err(undecodable)?)
        }
        (Encoding::Protobuf, Signal::Logs) => {
            crate::logs::logs(wire::logs(body).map_err(undecodable)?)
        }
        (Encoding::Json, Signal::Traces) => {
            crate::genai::spans(json::traces(body).map_err(undecodable)?)
        }
        (Encoding::Json, Signal::Logs) => crate::logs::logs(json::logs(body).map_err(undecodable)?),
    })
}

/// Summarises why items were refused, for `partial_success.error_message`.
#[must_use]
pub fn rejection_message(signal: Signal, mapped: &Mapped) -> String {
    if mapped.rejected == 0 {
        return String::new();
    }
    let noun = signal.item();
    let plural = if mapped.rejected == 1 { "" } else { "s" };
    let mut msg = format!("{} {noun}{plural} rejected", mapped.rejected);
    if !mapped.errors.is_empty() {
        msg.push_str(": ");
        msg.push_str(&mapped.errors.join("; "));
    }
    if (mapped.errors.len() as u64) < mapped.rejected {
        msg.push_str("; ...");
    }
    msg
}

/// Returns the body of a 200 answer: an empty response, or one with `partial_success`.
#[must_use]
pub fn success_body(signal: Signal, encoding: Encoding, rejected: u64, message: &str) -> Vec<u8> {
    let rejected = i64::try_from(rejected).unwrap_or(i64::MAX);
    match encoding {
        Encoding::Protobuf => proto::ExportResponse {
            partial_success: (rejected > 0 || !message.is_empty()).then(|| proto::PartialSuccess {
                rejected,
                error_message: message.to_owned(),
            }),
        }
        .encode_to_vec(),
        Encoding::Json => {
            if rejected == 0 && message.is_empty() {
                return b"{}".to_vec();
            }
            let count = match signal {
                Signal::Traces => "rejectedSpans",
                Signal::Logs => "rejectedLogRecords",
            };
            // int64 is a string in the JSON mapping.
            json!({"partialSuccess": {count: rejected.to_string(), "errorMessage": message}})
                .to_string()
                .into_bytes()
        }
    }
}

/// Returns the body of an error answer: a `google.rpc.Status` with the gRPC code that
/// matches `status`.
#[must_use]
pub fn error_body(encoding: Encoding, status: StatusCode, message: &str) -> Vec<u8> {
    let code = match status.as_u16() {
        400 | 413 | 415 => 3, // INVALID_ARGUMENT
        401 => 16,            // UNAUTHENTICATED
        403 => 7,             // PERMISSION_DENIED
        404 => 5,             // NOT_FOUND
        429 => 8,             // RESOURCE_EXHAUSTED
        503 => 14,            // UNAVAILABLE
        _ => 13,              // INTERNAL
    };
    match encoding {
        Encoding::Protobuf => proto::RpcStatus {
            code,
            message: message.to_owned(),
        }
        .encode_to_vec(),
        Encoding::Json => json!({"code": code, "message": message})
            .to_string()
            .into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn content_types() {
        assert_eq!(
            encoding_of(Some("application/x-protobuf")),
            Ok(Encoding::Protobuf)
        );
        assert_eq!(
            encoding_of(Some("Application/JSON; charset=utf-8")),
            Ok(Encoding::Json)
        );
        for bad in [None, Some("text/plain"), Some("application/grpc"), Some("")] {
            let err = encoding_of(bad).unwrap_err();
            assert_eq!(err.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        }
    }

    #[test]
    fn gzip_is_inflated_within_the_limit() {
        let body = br#"{"resourceSpans":[]}"#;
        let z = gzip(body);
        assert_eq!(&*decompress(Some("gzip"), &z, 1024).unwrap(), body);
        assert_eq!(&*decompress(None, body, 1024).unwrap(), body);
        assert_eq!(&*decompress(Some("identity"), body, 1024).unwrap(), body);
        assert_eq!(
            decompress(Some("br"), body, 1024).unwrap_err().status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            decompress(Some("gzip"), b"not gzip", 1024),
            Err(OtlpError::Gzip)
        );
        assert_eq!(
            decompress(Some("gzip"), &z[..z.len() / 2], 1024),
            Err(OtlpError::Gzip)
        );
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        // 64 MiB of zeros compresses to about 64 KiB; the limit is 1 MiB.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            e.write_all(&zeros).unwrap();
        }
        let bomb = e.finish().unwrap();
        assert!(bomb.len() < 200 * 1024);
        let err = decompress(Some("gzip"), &bomb, 1 << 20).unwrap_err();
        assert_eq!(
            err,
            OtlpError::TooLarge {
                limit: 1 << 20,
                inflated: true
            }
        );
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(err.to_string().contains("once decompressed"));
    }

    #[test]
    fn undecodable_bodies_are_400() {
        for (enc, body) in [
            (Encoding::Protobuf, &b"\x0a\x05\x0a"[..]),
            (Encoding::Json, b"{\"resourceSpans\": ["),
            (Encoding::Json, b"\xff"),
        ] {
            let err = decode(Signal::Traces, enc, body).unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{err}");
        }
    }

    #[test]
    fn answers_in_both_encodings() {
        assert_eq!(success_body(Signal::Traces, Encoding::Json, 0, ""), b"{}");
        assert!(success_body(Signal::Traces, Encoding::Protobuf, 0, "").is_empty());
        let j: serde_json::Value =
            serde_json::from_slice(&success_body(Signal::Logs, Encoding::Json, 2, "why")).unwrap();
        assert_eq!(
            j,
            json!({"partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "why"}})
        );
        let p = success_body(Signal::Traces, Encoding::Protobuf, 3, "why");
        let decoded = proto::ExportResponse::decode(p.as_slice()).unwrap();
        assert_eq!(
            decoded.partial_success,
            Some(proto::PartialSuccess {
                rejected: 3,
                error_message: "why".into()
            })
        );
        let s = proto::RpcStatus::decode(
            error_body(Encoding::Protobuf, StatusCode::SERVICE_UNAVAILABLE, "later").as_slice(),
        )
        .unwrap();
        assert_eq!((s.code, s.message.as_str()), (14, "later"));
    }

    proptest::proptest! {
        /// Untrusted bytes never panic the decoders, in either encoding, for either signal.
        #[test]
        fn arbitrary_bodies_never_panic(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        ) {
            for signal in [Signal::Traces, Signal::Logs] {
                for enc in [Encoding::Protobuf, Encoding::Json] {
                    let _ = decode(signal, enc, &body);
                }
            }
            let _ = decompress(Some("gzip"), &body, 4096);
        }

        /// Valid envelopes around arbitrary attribute values never panic the mapping, and what
        /// it maps always validates.
        #[test]
        fn arbitrary_attribute_values_map_to_valid_events(
            key in "(gen_ai\\.(operation\\.name|input\\.messages|prompt\\.[0-9]\\.content|usage\\.input_tokens|tool\\.call\\.arguments)|user\\.id)",
            text in ".{0,40}",
            n in proptest::num::i64::ANY,
        ) {
            let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
                "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                    {"key": key, "value": {"stringValue": text}},
                    {"key": "gen_ai.request.max_tokens", "value": {"intValue": n.to_string()}},
                ]}]}]}]});
            let bytes = body.to_string().into_bytes();
            let mapped = decode(Signal::Traces, Encoding::Json, &bytes).unwrap();
            for e in &mapped.events {
                proptest::prop_assert!(llmtrail_core::Event::from_value(e.to_value()).is_ok());
            }
        }
    }

    #[test]
    fn protobuf_and_json_of_one_export_give_the_same_events() {
        use crate::proto::any_value::Value as V;
        let kv = |k: &str, v: V| proto::KeyValue {
            key: k.as_bytes().to_vec(),
            value: Some(proto::AnyValue { value: Some(v) }),
        };
        let req = proto::ExportTraceServiceRequest {
            resource_spans: vec![proto::ResourceSpans {
                resource: Some(proto::Resource {
                    attributes: vec![kv("service.name", V::String(b"svc".to_vec()))],
                }),
                scope_spans: vec![proto::ScopeSpans {
                    scope: None,
                    spans: vec![proto::Span {
                        trace_id: hex::decode("5b8efff798038103d269b633813fc60c").unwrap(),
                        span_id: hex::decode("eee19b7ec3c1b174").unwrap(),
                        parent_span_id: hex::decode("00f067aa0ba902b7").unwrap(),
                        name: b"chat m".to_vec(),
                        kind: 3,
                        start_time_unix_nano: 1_700_000_000_000_000_000,
                        end_time_unix_nano: 1_700_000_000_250_000_000,
                        attributes: vec![
                            kv("gen_ai.operation.name", V::String(b"chat".to_vec())),
                            kv("gen_ai.request.model", V::String(b"m".to_vec())),
                            kv("gen_ai.request.temperature", V::Double(0.5)),
                            kv("gen_ai.usage.input_tokens", V::Int(7)),
                            kv("gen_ai.prompt.0.content", V::String(b"hi".to_vec())),
                        ],
                        events: Vec::new(),
                        status: Some(proto::Status {
                            message: b"boom".to_vec(),
                            code: 2,
                        }),
                    }],
                }],
            }],
        };
        let as_json = json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
            "scopeSpans": [{"spans": [{
                "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                "parentSpanId": "00f067aa0ba902b7", "name": "chat m", "kind": 3,
                "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000250000000",
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                    {"key": "gen_ai.request.model", "value": {"stringValue": "m"}},
                    {"key": "gen_ai.request.temperature", "value": {"doubleValue": 0.5}},
                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "7"}},
                    {"key": "gen_ai.prompt.0.content", "value": {"stringValue": "hi"}}],
                "status": {"code": 2, "message": "boom"}}]}]}]});
        let from_pb = decode(Signal::Traces, Encoding::Protobuf, &req.encode_to_vec()).unwrap();
        let from_json = decode(
            Signal::Traces,
            Encoding::Json,
            as_json.to_string().as_bytes(),
        )
        .unwrap();
        assert_eq!(from_pb.events.len(), 2);
        assert_eq!(
            from_pb.events, from_json.events,
            "same ids, times and bodies"
        );
        let v = from_pb.events[1].to_value();
        assert_eq!(v["trace"]["parent_span_id"], "00f067aa0ba902b7");
        assert_eq!(v["body"]["error_message"], "boom");
        // Gzip changes nothing either.
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&req.encode_to_vec()).unwrap();
        let zipped = z.finish().unwrap();
        let inflated = decompress(Some("gzip"), &zipped, 1 << 20).unwrap();
        let from_gz = decode(Signal::Traces, Encoding::Protobuf, &inflated).unwrap();
        assert_eq!(from_gz.events, from_pb.events);
    }

    #[test]
    fn rejection_messages_count_and_explain() {
        let mut m = Mapped::default();
        assert_eq!(rejection_message(Signal::Traces, &m), "");
        m.reject(1, "spans[0]: trace id must be 16 bytes, found 3".into());
        assert_eq!(
            rejection_message(Signal::Traces, &m),
            "1 span rejected: spans[0]: trace id must be 16 bytes, found 3"
        );
        m.rejected = 10;
        assert!(rejection_message(Signal::Logs, &m).starts_with("10 log records rejected"));
        assert!(rejection_message(Signal::Logs, &m).ends_with("; ..."));
    }
}
