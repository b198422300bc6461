//! OTLP JSON export requests into the decoded model.
//!
//! OTLP's JSON encoding is the proto3 JSON mapping with its own deviations: trace and span ids
//! are hex strings (not base64), enums are integers (names are accepted too), and 64-bit
//! integers may be strings or numbers. Field names are lowerCamelCase; the original snake_case
//! names are accepted as well, as proto3 JSON parsers must. Unknown fields are ignored, as OTLP
//! requires of receivers.
//!
//! Contract: a body that is not JSON, or whose containers have the wrong shape (a
//! `resourceSpans` that is not an array, ...), fails the whole request. A span or log record
//! with bad ids, timestamps or attribute values is rejected on its own.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::model::{self, Attributes, Decoded, LogRecord, Origin, Span, SpanEvent, StatusCode};

/// Decodes an `ExportTraceServiceRequest` in JSON.
///
/// # Errors
/// A message for a body that is not JSON or not shaped like the request.
pub fn traces(bytes: &[u8]) -> Result<Decoded<Span>, String> {
    let root = parse(bytes)?;
    let mut out = Decoded::default();
    for (r, rs) in array(&root, "resourceSpans", "resource_spans", "request")?
        .iter()
        .enumerate()
    {
        let at = format!("resourceSpans[{r}]");
        let resource = resource(rs, &at)?;
        for (s, ss) in array(rs, "scopeSpans", "scope_spans", &at)?
            .iter()
            .enumerate()
        {
            let at = format!("{at}.scopeSpans[{s}]");
            let spans = array(ss, "spans", "spans", &at)?;
            let origin = match origin(&resource, ss) {
                Ok(o) => Arc::new(o),
                Err(why) => {
                    out.reject(spans.len() as u64, format!("{at}: {why}"));
                    continue;
                }
            };
            for (i, span) in spans.iter().enumerate() {
                match self::span(span) {
                    Ok(span) => out.items.push((Arc::clone(&origin), span)),
                    Err(why) => out.reject(1, format!("{at}.spans[{i}]: {why}")),
                }
            }
        }
    }
    Ok(out)
}

/// Decodes an `ExportLogsServiceRequest` in JSON.
///
/// # Errors
/// A message for a body that is not JSON or not shaped like the request.
pub fn logs(bytes: &[u8]) -> Result<Decoded<LogRecord>, String> {
    let root = parse(bytes)?;
    let mut out = Decoded::default();
    for (r, rl) in array(&root, "resourceLogs", "resource_logs", "request")?
        .iter()
        .enumerate()
    {
        let at = format!("resourceLogs[{r}]");
        let resource = resource(rl, &at)?;
        for (s, sl) in array(rl, "scopeLogs", "scope_logs", &at)?
            .iter()
            .enumerate()
        {
            let at = format!("{at}.scopeLogs[{s}]");
            let records = array(sl, "logRecords", "log_records", &at)?;
            let origin = match origin(&resource, sl) {
                Ok(o) => Arc::new(o),
                Err(why) => {
                    out.reject(records.len() as u64, format!("{at}: {why}"));
                    continue;
                }
            };
            for (i, rec) in records.iter().enumerate() {
                match log_record(rec) {
                    Ok(rec) => out.items.push((Arc::clone(&origin), rec)),
                    Err(why) => out.reject(1, format!("{at}.logRecords[{i}]: {why}")),
                }
            }
        }
    }
    Ok(out)
}

fn parse(bytes: &[u8]) -> Result<Value, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "invalid JSON at line {} column {}: {}",
            e.line(),
            e.column(),
            match e.classify() {
                serde_json::error::Category::Io => "read error",
                serde_json::error::Category::Syntax => "syntax error",
                serde_json::error::Category::Data => "unexpected value",
                serde_json::error::Category::Eof => "unexpected end of input",
            }
        )
    })?;
    if v.is_object() {
        Ok(v)
    } else {
        Err("the request must be a JSON object".into())
    }
}

/// Looks a field up by its JSON name, then by its proto name.
fn field<'a>(obj: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    obj.get(camel)
        .or_else(|| obj.get(snake))
        .filter(|v| !v.is_null())
}

/// A repeated field of a container; absent is empty, anything but an array fails the request.
fn array<'a>(obj: &'a Value, camel: &str, snake: &str, at: &str) -> Result<&'a [Value], String> {
    if !obj.is_object() {
        return Err(format!("{at} must be an object"));
    }
    match field(obj, camel, snake) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("{at}.{camel} must be an array")),
    }
}

fn resource(container: &Value, at: &str) -> Result<Result<Attributes, String>, String> {
    match field(container, "resource", "resource") {
        None => Ok(Ok(Attributes::new())),
        Some(r @ Value::Object(_)) => Ok(attributes(r).map_err(|why| format!("resource {why}"))),
        Some(_) => Err(format!("{at}.resource must be an object")),
    }
}

fn origin(resource: &Result<Attributes, String>, container: &Value) -> Result<Origin, String> {
    let resource = resource.clone()?;
    let (scope_name, scope_version) = match field(container, "scope", "scope") {
        Some(scope) => (
            opt_string(scope, "name", "name", "scope name")?,
            opt_string(scope, "version", "version", "scope version")?,
        ),
        None => (None, None),
    };
    Ok(Origin {
        resource,
        scope_name,
        scope_version,
    })
}

fn opt_string(obj: &Value, camel: &str, snake: &str, what: &str) -> Result<Option<String>, String> {
    match field(obj, camel, snake) {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{what} must be a string")),
    }
}

/// A 64-bit unsigned integer written as a string or a number; absent is 0.
fn uint64(obj: &Value, camel: &str, snake: &str) -> Result<u64, String> {
    match field(obj, camel, snake) {
        None => Ok(0),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| format!("{camel} must be an unsigned 64-bit integer")),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| format!("{camel} must be an unsigned 64-bit integer")),
        Some(_) => Err(format!("{camel} must be a string or a number")),
    }
}

/// Hex id of `N` bytes; empty or absent is `None`. OTLP writes lowercase; uppercase is folded
/// here because the bytes, not the text, are the id.
fn hex_id<const N: usize>(
    obj: &Value,
    camel: &str,
    snake: &str,
) -> Result<Option<[u8; N]>, String> {
    let s = match field(obj, camel, snake) {
        None => return Ok(None),
        Some(Value::String(s)) => s,
        Some(_) => return Err(format!("{camel} must be a hex string")),
    };
    if s.is_empty() {
        return Ok(None);
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| format!("{camel} must be {} hex digits", 2 * N))?;
    Ok(Some(out))
}

fn span(v: &Value) -> Result<Span, String> {
    if !v.is_object() {
        return Err("a span must be an object".into());
    }
    let trace_id = hex_id::<16>(v, "traceId", "trace_id")?
        .and_then(llmtrail_core::TraceId::from_bytes)
        .ok_or("traceId is missing or zero")?;
    let span_id = hex_id::<8>(v, "spanId", "span_id")?
        .and_then(llmtrail_core::SpanId::from_bytes)
        .ok_or("spanId is missing or zero")?;
    let parent_span_id = hex_id::<8>(v, "parentSpanId", "parent_span_id")?
        .and_then(llmtrail_core::SpanId::from_bytes);
    let events = match field(v, "events", "events") {
        None => Vec::new(),
        Some(Value::Array(events)) => events
            .iter()
            .map(|e| {
                Ok(SpanEvent {
                    time_unix_nano: uint64(e, "timeUnixNano", "time_unix_nano")?,
                    name: opt_string(e, "name", "name", "event name")?.unwrap_or_default(),
                    attributes: attributes(e).map_err(|why| format!("event {why}"))?,
                })
            })
            .collect::<Result<_, String>>()?,
        Some(_) => return Err("events must be an array".into()),
    };
    let (status, status_message) = match field(v, "status", "status") {
        None => (StatusCode::Unset, None),
        Some(st) => (
            status_code(field(st, "code", "code"))?,
            opt_string(st, "message", "message", "status message")?,
        ),
    };
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        name: opt_string(v, "name", "name", "span name")?.unwrap_or_default(),
        start_unix_nano: uint64(v, "startTimeUnixNano", "start_time_unix_nano")?,
        end_unix_nano: uint64(v, "endTimeUnixNano", "end_time_unix_nano")?,
        attributes: attributes(v)?,
        events,
        status,
        status_message,
    })
}

fn status_code(v: Option<&Value>) -> Result<StatusCode, String> {
    match v {
        None => Ok(StatusCode::Unset),
        Some(Value::Number(n)) => Ok(StatusCode::from_i32(
            n.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .unwrap_or_default(),
        )),
        Some(Value::String(s)) => Ok(match s.as_str() {
            "STATUS_CODE_OK" => StatusCode::Ok,
            "STATUS_CODE_ERROR" => StatusCode::Error,
            _ => StatusCode::Unset,
        }),
        Some(_) => Err("status code must be a number or an enum name".into()),
    }
}

fn log_record(v: &Value) -> Result<LogRecord, String> {
    if !v.is_object() {
        return Err("a log record must be an object".into());
    }
    let attributes = attributes(v)?;
    let event_name = opt_string(v, "eventName", "event_name", "eventName")?.or_else(|| {
        attributes
            .get("event.name")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    Ok(LogRecord {
        time_unix_nano: uint64(v, "timeUnixNano", "time_unix_nano")?,
        observed_time_unix_nano: uint64(v, "observedTimeUnixNano", "observed_time_unix_nano")?,
        trace_id: hex_id::<16>(v, "traceId", "trace_id")?
            .and_then(llmtrail_core::TraceId::from_bytes),
        span_id: hex_id::<8>(v, "spanId", "span_id")?.and_then(llmtrail_core::SpanId::from_bytes),
        event_name,
        body: field(v, "body", "body")
            .map(|b| any_value(b, "body"))
            .transpose()?,
        attributes,
    })
}

/// The `attributes` list of an object (absent is empty).
fn attributes(obj: &Value) -> Result<Attributes, String> {
    match field(obj, "attributes", "attributes") {
        None => Ok(Attributes::new()),
        Some(Value::Array(kvs)) => key_values(kvs),
        Some(_) => Err("attributes must be an array".into()),
    }
}

fn key_values(kvs: &[Value]) -> Result<Attributes, String> {
    let mut out = Map::new();
    for (i, kv) in kvs.iter().enumerate() {
        let Some(Value::String(key)) = kv.get("key") else {
            return Err(format!("attribute {i} has no string key"));
        };
        let value = match kv.get("value") {
            None | Some(Value::Null) => Value::Null,
            Some(v) => any_value(v, key)?,
        };
        out.insert(key.clone(), value);
    }
    Ok(out)
}

/// Converts an `AnyValue` object; names the attribute (never its value) on failure.
fn any_value(v: &Value, key: &str) -> Result<Value, String> {
    let bad = |what: &str| format!("attribute `{key}`: {what}");
    let Value::Object(obj) = v else {
        return Err(bad("value must be an AnyValue object"));
    };
    let Some((name, inner)) = obj.iter().find(|(_, v)| !v.is_null()) else {
        return Ok(Value::Null);
    };
    Ok(match (name.as_str(), inner) {
        ("stringValue" | "string_value", Value::String(s)) => Value::String(s.clone()),
        ("boolValue" | "bool_value", Value::Bool(b)) => Value::Bool(*b),
        ("intValue" | "int_value", Value::Number(n)) if n.is_i64() => Value::Number(n.clone()),
        ("intValue" | "int_value", Value::String(s)) => Value::from(
            s.parse::<i64>()
                .map_err(|_| bad("intValue must be a 64-bit integer"))?,
        ),
        ("doubleValue" | "double_value", Value::Number(n)) => Value::Number(n.clone()),
        ("doubleValue" | "double_value", Value::String(s)) => match s.as_str() {
            "NaN" => model::double(f64::NAN),
            "Infinity" => model::double(f64::INFINITY),
            "-Infinity" => model::double(f64::NEG_INFINITY),
            s => model::double(s.parse().map_err(|_| bad("doubleValue must be a number"))?),
        },
        ("bytesValue" | "bytes_value", Value::String(s)) => Value::String(s.clone()),
        ("arrayValue" | "array_value", Value::Object(a)) => match a.get("values") {
            None | Some(Value::Null) => Value::Array(Vec::new()),
            Some(Value::Array(values)) => Value::Array(
                values
                    .iter()
                    .map(|v| any_value(v, key))
                    .collect::<Result<_, _>>()?,
            ),
            Some(_) => return Err(bad("arrayValue.values must be an array")),
        },
        ("kvlistValue" | "kvlist_value", Value::Object(l)) => match l.get("values") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(Value::Array(values)) => {
                Value::Object(key_values(values).map_err(|why| bad(&why))?)
            }
            Some(_) => return Err(bad("kvlistValue.values must be an array")),
        },
        (name, _) => {
            return Err(bad(&format!(
                "`{name}` is not an AnyValue field of that type"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(spans: Value) -> Vec<u8> {
        json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
            "scopeSpans": [{"scope": {"name": "sc", "version": "2"}, "spans": spans}]
        }]})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn ids_are_hex_and_int64_may_be_strings() {
        let d = traces(&body(json!([{
            "traceId": "5B8EFFF798038103D269B633813FC60C",
            "spanId": "eee19b7ec3c1b174",
            "parentSpanId": "",
            "name": "chat m",
            "startTimeUnixNano": "1544712660000000000",
            "end_time_unix_nano": 1_544_712_661_000_000_000_u64,
            "kind": 3,
            "attributes": [
                {"key": "i", "value": {"intValue": "12"}},
                {"key": "j", "value": {"intValue": 13}},
                {"key": "d", "value": {"doubleValue": "NaN"}},
                {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "x"}, {}]}}},
                {"key": "k", "value": {"kvlistValue": {"values": [{"key": "n", "value": {"boolValue": false}}]}}}
            ],
            "status": {"code": "STATUS_CODE_ERROR", "message": "boom"},
            "unknownField": {"ignored": true}
        }])))
        .unwrap();
        assert_eq!(d.rejected, 0, "{:?}", d.errors);
        let (origin, s) = &d.items[0];
        assert_eq!(origin.resource["service.name"], "svc");
        assert_eq!(s.trace_id.to_string(), "5b8efff798038103d269b633813fc60c");
        assert_eq!(s.span_id.to_string(), "eee19b7ec3c1b174");
        assert_eq!(s.parent_span_id, None);
        assert_eq!(s.start_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(s.end_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(s.status, StatusCode::Error);
        assert_eq!(s.status_message.as_deref(), Some("boom"));
        assert_eq!(
            Value::Object(s.attributes.clone()),
            json!({"i": 12, "j": 13, "d": "NaN", "a": ["x", null], "k": {"n": false}})
        );
    }

    #[test]
    fn bad_spans_are_rejected_alone() {
        let d = traces(&body(json!([
            {"traceId": "zz", "spanId": "eee19b7ec3c1b174"},
            {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
             "attributes": [{"key": "x", "value": {"intValue": "twelve"}}]},
            {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
             "name": "ok"},
        ])))
        .unwrap();
        assert_eq!(d.rejected, 2);
        assert_eq!(d.items.len(), 1);
        assert!(
            d.errors[0].contains("spans[0]: traceId must be 32 hex digits"),
            "{:?}",
            d.errors
        );
        assert!(d.errors[1].contains("attribute `x`"), "{:?}", d.errors);
        assert!(!d.errors[1].contains("twelve"), "values are never quoted");
    }

    #[test]
    fn snake_case_names_are_accepted() {
        let raw = json!({"resource_spans": [{"scope_spans": [{"spans": [
            {"trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174",
             "attributes": [{"key": "s", "value": {"string_value": "v"}}]}
        ]}]}]});
        let d = traces(raw.to_string().as_bytes()).unwrap();
        assert_eq!(d.items[0].1.attributes["s"], "v");
    }

    #[test]
    fn malformed_requests_fail_whole() {
        for bad in [
            &b"{"[..],
            b"[]",
            b"{\"resourceSpans\": {}}",
            b"{\"resourceSpans\": [{\"scopeSpans\": 3}]}",
            b"\xff\xfe",
        ] {
            assert!(traces(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(traces(b"{}").unwrap().items.len(), 0);
    }

    #[test]
    fn log_records_decode() {
        let raw = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
            {"timeUnixNano": "5", "traceId": "5b8efff798038103d269b633813fc60c",
             "spanId": "eee19b7ec3c1b174", "eventName": "gen_ai.choice",
             "body": {"kvlistValue": {"values": [{"key": "index", "value": {"intValue": "0"}}]}}},
            {"spanId": "abc"}
        ]}]}]});
        let d = logs(raw.to_string().as_bytes()).unwrap();
        assert_eq!(d.rejected, 1);
        let r = &d.items[0].1;
        assert_eq!(r.event_name.as_deref(), Some("gen_ai.choice"));
        assert_eq!(r.body, Some(json!({"index": 0})));
        assert_eq!(r.time_unix_nano, 5);
    }
}
