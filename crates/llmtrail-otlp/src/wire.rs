//! Protobuf export requests into the decoded model.
//!
//! Contract: a body that is not a valid protobuf message of the expected type (truncated,
//! wrong wire types, nested too deep) is an error for the whole request. Within a valid
//! message, each span or log record is checked on its own: ids of the wrong length or text
//! that is not UTF-8 reject that item (or, for a resource or scope, the items under it) and
//! nothing else.

use std::sync::Arc;

use prost::Message as _;
use serde_json::Value;

use crate::model::{self, Attributes, Decoded, LogRecord, Origin, Span, SpanEvent, StatusCode};
use crate::proto;

/// Decodes `ExportTraceServiceRequest` bytes.
///
/// # Errors
/// The protobuf decoder's message when the bytes are not such a message.
pub fn traces(bytes: &[u8]) -> Result<Decoded<Span>, String> {
    let req = proto::ExportTraceServiceRequest::decode(bytes).map_err(|e| e.to_string())?;
    let mut out = Decoded::default();
    for (r, rs) in req.resource_spans.into_iter().enumerate() {
        let resource = attributes(rs.resource.map(|r| r.attributes).unwrap_or_default())
            .map_err(|why| format!("resource {why}"));
        for (s, ss) in rs.scope_spans.into_iter().enumerate() {
            let at = format!("resource_spans[{r}].scope_spans[{s}]");
            let origin = match origin(&resource, ss.scope) {
                Ok(o) => Arc::new(o),
                Err(why) => {
                    out.reject(ss.spans.len() as u64, format!("{at}: {why}"));
                    continue;
                }
            };
            for (i, span) in ss.spans.into_iter().enumerate() {
                match self::span(span) {
                    Ok(span) => out.items.push((Arc::clone(&origin), span)),
                    Err(why) => out.reject(1, format!("{at}.spans[{i}]: {why}")),
                }
            }
        }
    }
    Ok(out)
}

/// Decodes `ExportLogsServiceRequest` bytes.
///
/// # Errors
/// The protobuf decoder's message when the bytes are not such a message.
pub fn logs(bytes: &[u8]) -> Result<Decoded<LogRecord>, String> {
    let req = proto::ExportLogsServiceRequest::decode(bytes).map_err(|e| e.to_string())?;
    let mut out = Decoded::default();
    for (r, rl) in req.resource_logs.into_iter().enumerate() {
        let resource = attributes(rl.resource.map(|r| r.attributes).unwrap_or_default())
            .map_err(|why| format!("resource {why}"));
        for (s, sl) in rl.scope_logs.into_iter().enumerate() {
            let at = format!("resource_logs[{r}].scope_logs[{s}]");
            let origin = match origin(&resource, sl.scope) {
                Ok(o) => Arc::new(o),
                Err(why) => {
                    out.reject(sl.log_records.len() as u64, format!("{at}: {why}"));
                    continue;
                }
            };
            for (i, rec) in sl.log_records.into_iter().enumerate() {
                match log_record(rec) {
                    Ok(rec) => out.items.push((Arc::clone(&origin), rec)),
                    Err(why) => out.reject(1, format!("{at}.log_records[{i}]: {why}")),
                }
            }
        }
    }
    Ok(out)
}

fn origin(
    resource: &Result<Attributes, String>,
    scope: Option<proto::InstrumentationScope>,
) -> Result<Origin, String> {
    let resource = resource.clone()?;
    let (scope_name, scope_version) = match scope {
        Some(s) => (
            non_empty(text(s.name, || "scope name".into())?),
            non_empty(text(s.version, || "scope version".into())?),
        ),
        None => (None, None),
    };
    Ok(Origin {
        resource,
        scope_name,
        scope_version,
    })
}

fn span(s: proto::Span) -> Result<Span, String> {
    let trace_id = model::trace_id(&s.trace_id)?.ok_or("trace id is missing or zero")?;
    let span_id = model::span_id(&s.span_id)?.ok_or("span id is missing or zero")?;
    let parent_span_id = model::span_id(&s.parent_span_id).map_err(|e| format!("parent {e}"))?;
    let events = s
        .events
        .into_iter()
        .map(|e| {
            Ok(SpanEvent {
                time_unix_nano: e.time_unix_nano,
                name: text(e.name, || "event name".into())?,
                attributes: attributes(e.attributes).map_err(|why| format!("event {why}"))?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let (status, status_message) = match s.status {
        Some(st) => (
            StatusCode::from_i32(st.code),
            non_empty(text(st.message, || "status message".into())?),
        ),
        None => (StatusCode::Unset, None),
    };
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        name: text(s.name, || "span name".into())?,
        start_unix_nano: s.start_time_unix_nano,
        end_unix_nano: s.end_time_unix_nano,
        attributes: attributes(s.attributes)?,
        events,
        status,
        status_message,
    })
}

fn log_record(r: proto::LogRecord) -> Result<LogRecord, String> {
    let attributes = attributes(r.attributes)?;
    let event_name = non_empty(text(r.event_name, || "event name".into())?).or_else(|| {
        attributes
            .get("event.name")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    Ok(LogRecord {
        time_unix_nano: r.time_unix_nano,
        observed_time_unix_nano: r.observed_time_unix_nano,
        trace_id: model::trace_id(&r.trace_id)?,
        span_id: model::span_id(&r.span_id)?,
        event_name,
        body: r.body.map(|b| any_value(b, "body")).transpose()?,
        attributes,
    })
}

/// Takes the bytes of a protobuf string as text (no copy); `what` names it in the error.
fn text(bytes: Vec<u8>, what: impl FnOnce() -> String) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{} is not UTF-8 (at byte {})",
            what(),
            e.utf8_error().valid_up_to()
        )
    })
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Converts key-value pairs; names the attribute (never its value) on failure.
fn attributes(kvs: Vec<proto::KeyValue>) -> Result<Attributes, String> {
    let mut out = Attributes::new();
    for (i, kv) in kvs.into_iter().enumerate() {
        let key = text(kv.key, || format!("attribute {i} key"))?;
        let value = match kv.value {
            Some(v) => any_value(v, &key)?,
            None => Value::Null,
        };
        out.insert(key, value);
    }
    Ok(out)
}

fn any_value(v: proto::AnyValue, key: &str) -> Result<Value, String> {
    use base64::Engine as _;
    use proto::any_value::Value as V;
    Ok(match v.value {
        None => Value::Null,
        Some(V::String(s)) => Value::String(text(s, || format!("attribute `{key}`"))?),
        Some(V::Bool(b)) => Value::Bool(b),
        Some(V::Int(i)) => Value::from(i),
        Some(V::Double(d)) => model::double(d),
        Some(V::Bytes(b)) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Some(V::Array(a)) => Value::Array(
            a.values
                .into_iter()
                .map(|v| any_value(v, key))
                .collect::<Result<_, _>>()?,
        ),
        Some(V::Kvlist(l)) => {
            Value::Object(attributes(l.values).map_err(|why| format!("attribute `{key}`: {why}"))?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::any_value::Value as V;

    pub(crate) fn kv(key: &str, v: V) -> proto::KeyValue {
        proto::KeyValue {
            key: key.as_bytes().to_vec(),
            value: Some(proto::AnyValue { value: Some(v) }),
        }
    }

    fn span(name: &str, attrs: Vec<proto::KeyValue>) -> proto::Span {
        proto::Span {
            trace_id: vec![0x4b; 16],
            span_id: vec![0x01; 8],
            parent_span_id: Vec::new(),
            name: name.as_bytes().to_vec(),
            kind: 3,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_001_000_000_000,
            attributes: attrs,
            events: Vec::new(),
            status: None,
        }
    }

    fn request(spans: Vec<proto::Span>) -> Vec<u8> {
        proto::ExportTraceServiceRequest {
            resource_spans: vec![proto::ResourceSpans {
                resource: Some(proto::Resource {
                    attributes: vec![kv("service.name", V::String(b"svc".to_vec()))],
                }),
                scope_spans: vec![proto::ScopeSpans {
                    scope: Some(proto::InstrumentationScope {
                        name: b"scope".to_vec(),
                        version: b"1.0".to_vec(),
                    }),
                    spans,
                }],
            }],
        }
        .encode_to_vec()
    }

    #[test]
    fn values_of_every_type_become_json() {
        let attrs = vec![
            kv("s", V::String(b"x".to_vec())),
            kv("b", V::Bool(true)),
            kv("i", V::Int(-7)),
            kv("d", V::Double(0.5)),
            kv("y", V::Bytes(vec![0xff, 0xfe])),
            kv(
                "a",
                V::Array(proto::ArrayValue {
                    values: vec![proto::AnyValue {
                        value: Some(V::Int(1)),
                    }],
                }),
            ),
            kv(
                "k",
                V::Kvlist(proto::KeyValueList {
                    values: vec![kv("n", V::String(b"v".to_vec()))],
                }),
            ),
        ];
        let d = traces(&request(vec![span("s", attrs)])).unwrap();
        assert_eq!(d.rejected, 0);
        let (origin, s) = &d.items[0];
        assert_eq!(origin.resource["service.name"], "svc");
        assert_eq!(origin.scope_name.as_deref(), Some("scope"));
        assert_eq!(
            Value::Object(s.attributes.clone()),
            serde_json::json!({"s": "x", "b": true, "i": -7, "d": 0.5, "y": "//4=",
                "a": [1], "k": {"n": "v"}})
        );
        assert_eq!(s.trace_id.to_string(), "4b".repeat(16));
    }

    #[test]
    fn invalid_utf8_rejects_only_its_span() {
        let bad = span(
            "bad",
            vec![kv("gen_ai.prompt.0.content", V::String(vec![0xc3, 0x28]))],
        );
        let good = span("good", vec![]);
        let d = traces(&request(vec![bad, good])).unwrap();
        assert_eq!(d.rejected, 1);
        assert_eq!(d.items.len(), 1);
        assert_eq!(d.items[0].1.name, "good");
        assert!(d.errors[0].contains("spans[0]"), "{:?}", d.errors);
        assert!(d.errors[0].contains("not UTF-8"), "{:?}", d.errors);
        assert!(
            d.errors[0].contains("gen_ai.prompt.0.content"),
            "{:?}",
            d.errors
        );
    }

    #[test]
    fn wrong_id_lengths_reject_the_span() {
        let mut short = span("short", vec![]);
        short.trace_id = vec![1; 15];
        let mut zero = span("zero", vec![]);
        zero.span_id = vec![0; 8];
        let d = traces(&request(vec![short, zero, span("ok", vec![])])).unwrap();
        assert_eq!(d.rejected, 2);
        assert_eq!(d.items.len(), 1);
    }

    #[test]
    fn a_bad_resource_rejects_its_spans() {
        let mut bytes = proto::ExportTraceServiceRequest::decode(
            request(vec![span("a", vec![]), span("b", vec![])]).as_slice(),
        )
        .unwrap();
        bytes.resource_spans[0].resource = Some(proto::Resource {
            attributes: vec![kv("service.name", V::String(vec![0xff]))],
        });
        let d = traces(&bytes.encode_to_vec()).unwrap();
        assert_eq!(d.rejected, 2);
        assert!(d.items.is_empty());
        assert!(d.errors[0].starts_with("resource_spans[0].scope_spans[0]: resource"));
    }

    #[test]
    fn truncated_protobuf_is_an_error() {
        let bytes = request(vec![span("a", vec![kv("k", V::String(b"v".to_vec()))])]);
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            assert!(traces(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(traces(b"\xff\xff\xff").is_err());
        assert_eq!(traces(b"").unwrap().items.len(), 0);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut v = proto::AnyValue {
            value: Some(V::Int(1)),
        };
        for _ in 0..200 {
            v = proto::AnyValue {
                value: Some(V::Array(proto::ArrayValue { values: vec![v] })),
            };
        }
        let s = span(
            "deep",
            vec![proto::KeyValue {
                key: b"k".to_vec(),
                value: Some(v),
            }],
        );
        assert!(traces(&request(vec![s])).is_err());
    }

    #[test]
    fn log_records_take_the_event_name_from_either_place() {
        let req = proto::ExportLogsServiceRequest {
            resource_logs: vec![proto::ResourceLogs {
                resource: None,
                scope_logs: vec![proto::ScopeLogs {
                    scope: None,
                    log_records: vec![
                        proto::LogRecord {
                            event_name: b"gen_ai.user.message".to_vec(),
                            trace_id: vec![2; 16],
                            span_id: vec![3; 8],
                            body: Some(proto::AnyValue {
                                value: Some(V::String(b"hi".to_vec())),
                            }),
                            ..Default::default()
                        },
                        proto::LogRecord {
                            attributes: vec![kv(
                                "event.name",
                                V::String(b"gen_ai.choice".to_vec()),
                            )],
                            ..Default::default()
                        },
                        proto::LogRecord {
                            span_id: vec![3; 7],
                            ..Default::default()
                        },
                    ],
                }],
            }],
        };
        let d = logs(&req.encode_to_vec()).unwrap();
        assert_eq!(d.rejected, 1);
        assert_eq!(
            d.items[0].1.event_name.as_deref(),
            Some("gen_ai.user.message")
        );
        assert_eq!(d.items[0].1.body, Some(Value::from("hi")));
        assert_eq!(d.items[1].1.event_name.as_deref(), Some("gen_ai.choice"));
        assert!(d.items[1].1.trace_id.is_none());
    }
}
