//! A [`serde_json::Value`] deserializer that reports *where* typed deserialization failed.
//!
//! Role: turns the already-parsed JSON of actor, trace, tags and bodies into the typed model,
//! producing [`EventError`]s that name the field by JSON Pointer
//! (`/body/gen_ai.input.messages/0/parts/1/type`).
//!
//! Contract: the error type implements every `serde::de::Error` constructor so that no
//! message ever contains the offending value — serde's defaults (and serde_json's) print
//! strings verbatim in "invalid type" and "unknown variant" errors, and values may be secrets.
//! Structs must be JSON objects (serde would otherwise also accept arrays by position).
//!
//! Invariant: the value is consumed, so strings move into the model instead of being copied.

use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Unexpected,
    Visitor,
};
use serde_json::{Map, Value};

use crate::EventError;
use crate::error::push_pointer_token;

/// Deserializes `T` from `value`, naming fields relative to the JSON Pointer `base`.
pub(crate) fn from_value<T: de::DeserializeOwned>(
    value: Value,
    base: &str,
) -> Result<T, EventError> {
    T::deserialize(ValueDe(value)).map_err(|e| e.into_event_error(base))
}

/// One step of the path from the deserialized root to the failing value.
#[derive(Debug)]
enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Debug)]
enum Problem {
    UnknownField(String),
    MissingField(String),
    Invalid(String),
}

/// Error raised while deserializing; the path is collected innermost-first as it unwinds.
#[derive(Debug)]
pub(crate) struct DeError {
    problem: Problem,
    reversed_path: Vec<Segment>,
}

impl DeError {
    fn new(problem: Problem) -> Self {
        DeError {
            problem,
            reversed_path: Vec::new(),
        }
    }

    fn within(mut self, segment: Segment) -> Self {
        self.reversed_path.push(segment);
        self
    }

    /// Converts into the public error, prefixing the path with `base`.
    pub(crate) fn into_event_error(self, base: &str) -> EventError {
        let mut field = String::from(base);
        for segment in self.reversed_path.iter().rev() {
            match segment {
                Segment::Key(key) => push_pointer_token(&mut field, key),
                Segment::Index(i) => push_pointer_token(&mut field, &i.to_string()),
            }
        }
        match self.problem {
            Problem::UnknownField(name) => {
                push_pointer_token(&mut field, &name);
                EventError::UnknownField { field }
            }
            Problem::MissingField(name) => {
                push_pointer_token(&mut field, &name);
                EventError::MissingField { field }
            }
            Problem::Invalid(reason) => EventError::InvalidValue { field, reason },
        }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Problem::UnknownField(name) => write!(f, "unknown field `{name}`"),
            Problem::MissingField(name) => write!(f, "missing field `{name}`"),
            Problem::Invalid(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for DeError {}

/// Describes the kind of an unexpected value without its content.
fn describe(unexpected: &Unexpected<'_>) -> &'static str {
    match unexpected {
        Unexpected::Bool(_) => "a boolean",
        Unexpected::Unsigned(_) | Unexpected::Signed(_) => "an integer",
        Unexpected::Float(_) => "a fractional number",
        Unexpected::Char(_) | Unexpected::Str(_) | Unexpected::Bytes(_) => "a string",
        Unexpected::Unit | Unexpected::Option => "null",
        Unexpected::Seq => "an array",
        Unexpected::Map => "an object",
        Unexpected::Other("number") => "a number",
        _ => "another kind of value",
    }
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(Problem::Invalid(msg.to_string()))
    }

    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        // serde's collection visitors speak of sequences and maps; clients write JSON.
        let expected = match expected.to_string().as_str() {
            "a sequence" => "an array".to_owned(),
            "a map" => "an object".to_owned(),
            other => other.to_owned(),
        };
        DeError::new(Problem::Invalid(format!(
            "expected {expected}, found {}",
            describe(&unexpected)
        )))
    }

    fn invalid_value(unexpected: Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        DeError::new(Problem::Invalid(format!(
            "expected {expected}, found {} out of range or malformed",
            describe(&unexpected)
        )))
    }

    fn invalid_length(len: usize, expected: &dyn de::Expected) -> Self {
        DeError::new(Problem::Invalid(format!(
            "expected {expected}, found {len} elements"
        )))
    }

    fn unknown_variant(_variant: &str, expected: &'static [&'static str]) -> Self {
        DeError::new(Problem::Invalid(format!(
            "unknown value, expected {}",
            OneOf(expected)
        )))
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        DeError::new(Problem::UnknownField(field.to_owned()))
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::new(Problem::MissingField(field.to_owned()))
    }

    fn duplicate_field(field: &'static str) -> Self {
        DeError::new(Problem::Invalid(format!("duplicate field `{field}`")))
    }
}

/// Lists allowed names: "`a`", "`a` or `b`", "one of `a`, `b`, `c`".
struct OneOf(&'static [&'static str]);

impl fmt::Display for OneOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [] => f.write_str("nothing"),
            [one] => write!(f, "`{one}`"),
            [a, b] => write!(f, "`{a}` or `{b}`"),
            names => {
                f.write_str("one of ")?;
                for (i, name) in names.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{name}`")?;
                }
                Ok(())
            }
        }
    }
}

/// Names the JSON type of `value` for error messages.
fn unexpected(value: &Value) -> Unexpected<'static> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(_) => Unexpected::Bool(false),
        Value::Number(_) => Unexpected::Other("number"),
        Value::String(_) => Unexpected::Str(""),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// The deserializer: owns the value it walks.
struct ValueDe(Value);

impl<'de> Deserializer<'de> for ValueDe {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else if let Some(f) = n.as_f64() {
                    visitor.visit_f64(f)
                } else {
                    Err(de::Error::custom("expected a number representable as f64"))
                }
            }
            Value::String(s) => visitor.visit_string(s),
            Value::Array(items) => {
                let mut seq = SeqDe {
                    items: items.into_iter(),
                    index: 0,
                };
                let out = visitor.visit_seq(&mut seq)?;
                match seq.items.len() {
                    0 => Ok(out),
                    left => Err(de::Error::invalid_length(
                        seq.index + left,
                        &"fewer elements",
                    )),
                }
            }
            Value::Object(map) => visit_object(map, visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.0 {
            Value::Object(map) => visit_object(map, visitor),
            other => Err(de::Error::invalid_type(unexpected(&other), &visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        // Only unit variants written as strings exist in the model.
        match self.0 {
            Value::String(s) => visitor.visit_enum(s.into_deserializer()),
            other => Err(de::Error::invalid_type(unexpected(&other), &visitor)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier
    }
}

fn visit_object<'de, V: Visitor<'de>>(
    map: Map<String, Value>,
    visitor: V,
) -> Result<V::Value, DeError> {
    let mut access = MapDe {
        entries: map.into_iter(),
        pending: None,
    };
    visitor.visit_map(&mut access)
}

struct SeqDe {
    items: std::vec::IntoIter<Value>,
    index: usize,
}

impl<'de> SeqAccess<'de> for SeqDe {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(ValueDe(item))
            .map(Some)
            .map_err(|e| e.within(Segment::Index(index)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe {
    entries: serde_json::map::IntoIter,
    /// The entry whose key was handed out and whose value is next.
    pending: Option<(String, Value)>,
}

impl<'de> MapAccess<'de> for MapDe {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        // The key is lent, not moved, so it is still at hand to name the path of a bad value.
        let out = seed.deserialize(StrDeserializer::<DeError>::new(&key))?;
        self.pending = Some((key, value));
        Ok(Some(out))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((key, value)) = self.pending.take() else {
            return Err(de::Error::custom(
                "internal error: value requested before its key",
            ));
        };
        seed.deserialize(ValueDe(value))
            .map_err(|e| e.within(Segment::Key(key)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "fields exist only to be deserialized")]
    struct Inner {
        n: u16,
        #[serde(default)]
        s: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "fields exist only to be deserialized")]
    struct Outer {
        list: Vec<Inner>,
        #[serde(default)]
        map: BTreeMap<String, String>,
    }

    fn err(v: Value) -> EventError {
        from_value::<Outer>(v, "/body").unwrap_err()
    }

    #[test]
    fn names_unknown_field_with_path() {
        let e = err(json!({"list": [{"n": 1}, {"n": 2, "x/y": 3}]}));
        assert_eq!(
            e,
            EventError::UnknownField {
                field: "/body/list/1/x~1y".into()
            }
        );
    }

    #[test]
    fn names_missing_field_with_path() {
        let e = err(json!({"list": [{}]}));
        assert_eq!(
            e,
            EventError::MissingField {
                field: "/body/list/0/n".into()
            }
        );
    }

    #[test]
    fn invalid_type_hides_the_value() {
        let e = err(json!({"list": [{"n": "sk-live-SECRET"}]}));
        let text = e.to_string();
        assert!(text.contains("/body/list/0/n"), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
    }

    #[test]
    fn out_of_range_hides_the_value() {
        let e = err(json!({"list": [{"n": 987_654_321}]}));
        assert!(!e.to_string().contains("987654321"), "{e}");
    }

    #[test]
    fn struct_must_be_an_object() {
        let e = err(json!({"list": [[7]]}));
        assert_eq!(e.field(), Some("/body/list/0"));
    }

    #[test]
    fn map_values_are_typed() {
        let e = err(json!({"list": [], "map": {"k": 1}}));
        assert_eq!(e.field(), Some("/body/map/k"));
    }
}
