//! llmtrail-otlp: the OTLP/HTTP receiver's protocol and mapping, without the HTTP server.
//!
//! Role: apps instrumented with OpenTelemetry export GenAI spans (and GenAI log events) to
//! llmtrail's `POST /v1/traces` and `POST /v1/logs`; this crate turns such an export request
//! into the same `llm.request`, `llm.response` and `tool.call` events the gateway records, and
//! says what to answer. The server crate owns the routes, authentication, limits and the
//! journal append.
//!
//! Flow: [`protocol::encoding_of`] (Content-Type) → [`protocol::decompress`]
//! (Content-Encoding, bounded) → [`protocol::decode`] ([`wire`] or [`json`] into [`model`],
//! then [`genai`] for spans or [`logs`] for log records) → the server appends
//! [`genai::Mapped::events`] → [`protocol::success_body`] with the rejected count.
//!
//! Contract:
//! - Decoding never loses a valid item for an invalid neighbour: a span or log record that
//!   cannot be decoded or mapped is counted as rejected (with a reason that locates it and never
//!   quotes its values), the rest is mapped.
//! - Spans that are not GenAI produce no event and are not "rejected": they are simply not
//!   llmtrail's business (see [`genai`] for the test).
//! - Content (prompts, outputs, tool arguments and results, status messages) only ever goes into
//!   the content fields of the events, never into `attributes`, tags or error messages.
//!
//! Why the OTLP messages are declared here ([`proto`]) instead of taken from
//! `opentelemetry-proto`: that crate's message types come with its `trace`/`logs` features,
//! which pull in the `opentelemetry` and `opentelemetry_sdk` crates (and, by default, tonic),
//! while the receiver needs a dozen messages of which it reads a few fields. Declaring them by
//! hand with `prost`'s derive also lets text fields be decoded as bytes, so invalid UTF-8 in one
//! span rejects that span rather than the whole request. The JSON side is decoded by hand too:
//! OTLP JSON is not plain proto3 JSON (hex ids, integer enums), and a hand-written reader gives
//! per-span errors.
//!
//! ```
//! use llmtrail_otlp::protocol::{self, Encoding, Signal};
//!
//! let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
//!     "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
//!     "name":"chat gpt-4o","startTimeUnixNano":"1700000000000000000",
//!     "endTimeUnixNano":"1700000001000000000",
//!     "attributes":[
//!       {"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},
//!       {"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},
//!       {"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}}]}]}]}]}"#;
//! let mapped = protocol::decode(Signal::Traces, Encoding::Json, body)?;
//! assert_eq!(mapped.events.len(), 2); // llm.request and llm.response
//! assert_eq!(mapped.rejected, 0);
//! # Ok::<(), llmtrail_otlp::protocol::OtlpError>(())
//! ```

pub mod content;
pub mod genai;
pub mod ids;
pub mod json;
pub mod logs;
pub mod model;
pub mod proto;
pub mod protocol;
pub mod wire;

pub use genai::Mapped;
pub use protocol::{Encoding, OtlpError, Signal};
