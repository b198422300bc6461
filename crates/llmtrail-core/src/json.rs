//! Strict JSON text → [`serde_json::Value`] parsing.
//!
//! Role: the first step of [`Event::from_json_slice`](crate::Event::from_json_slice).
//!
//! Contract: input must be UTF-8 (checked first, so the error can give the byte offset) and a
//! single JSON value; an object that repeats a key is rejected. serde_json alone would keep
//! the last duplicate, and different JSON parsers disagree on which duplicate wins — an
//! attacker could then show a downstream reader a different event than the one hashed into
//! the ledger.
//!
//! Invariant: syntax errors carry serde_json's line and column and never quote input text
//! (apart from a duplicated key's name).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::EventError;
use crate::error::shorten;

/// Parses UTF-8 JSON text into a value, refusing duplicate object keys.
pub(crate) fn parse_strict(bytes: &[u8]) -> Result<Value, EventError> {
    let text = std::str::from_utf8(bytes).map_err(|e| EventError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = StrictValue.deserialize(&mut de).map_err(json_error)?;
    de.end().map_err(json_error)?;
    Ok(value)
}

/// Deserializes any [`Value`] through [`StrictValue`], for `Deserialize` impls that accept
/// arbitrary deserializers.
pub(crate) fn deserialize_strict<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    StrictValue.deserialize(d)
}

/// Converts a serde_json parse error into [`EventError::InvalidJson`].
pub(crate) fn json_error(e: serde_json::Error) -> EventError {
    let (line, column) = (e.line(), e.column());
    let full = e.to_string();
    // serde_json appends the position to the message; it is carried separately here.
    let suffix = format!(" at line {line} column {column}");
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    EventError::InvalidJson {
        message,
        line,
        column,
    }
}

/// Key that serde_json uses to smuggle numbers through `visit_map` when its
/// `arbitrary_precision` feature is on (another crate of the build may enable it).
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Seed that builds a [`Value`] and rejects duplicate keys.
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON text cannot express NaN or infinities; map them like serde_json does.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        StrictValue.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.is_empty() && key == NUMBER_TOKEN {
                let digits: String = map.next_value()?;
                let number = digits.parse::<Number>().map_err(de::Error::custom)?;
                return Ok(Value::Number(number));
            }
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key `{}` in one object",
                    shorten(&key, 128)
                )));
            }
            let value = map.next_value_seed(StrictValue)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_serde_json() {
        let text = br#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}],"c":18446744073709551615}"#;
        let ours = parse_strict(text).unwrap();
        let theirs: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn rejects_duplicate_keys_with_position() {
        let err = parse_strict(b"{\"a\":1,\n\"a\":2}").unwrap_err();
        let EventError::InvalidJson { message, line, .. } = err else {
            panic!("wrong variant: {err:?}");
        };
        assert!(message.contains("duplicate key `a`"), "{message}");
        assert_eq!(line, 2);
    }

    #[test]
    fn syntax_error_has_line_and_column_but_no_suffix() {
        let err = parse_strict(b"{\n  \"a\": [1,,2]\n}").unwrap_err();
        let EventError::InvalidJson {
            message,
            line,
            column,
        } = err
        else {
            panic!("wrong variant: {err:?}");
        };
        assert_eq!(line, 2);
        assert!(column > 0);
        assert!(!message.contains(" at line "), "{message}");
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        assert!(matches!(
            parse_strict(b"{} {}"),
            Err(EventError::InvalidJson { .. })
        ));
    }

    #[test]
    fn invalid_utf8_reports_offset() {
        assert_eq!(
            parse_strict(b"{\"a\":\"\xff\"}"),
            Err(EventError::InvalidUtf8 { offset: 6 })
        );
    }
}
