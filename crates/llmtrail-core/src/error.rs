//! The error type of event parsing and validation.
//!
//! Contract: every variant names *where* the problem is (a JSON Pointer such as
//! `/body/gen_ai.input.messages/0/role`, or a line and column for malformed JSON) and *what*
//! was expected, but never echoes the offending value: values may be prompts, API keys or
//! personal data, and errors end up in logs and HTTP responses.
//!
//! Invariant: `field` strings are JSON Pointers (RFC 6901) into the event object as the client
//! sent it; the empty string means the event object itself. Client-chosen text in messages
//! (an unknown kind, key names) is cut to a bounded length.

use std::borrow::Cow;

/// Explains why bytes or a JSON value could not become an [`Event`](crate::Event).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The input is not well-formed JSON (or repeats a key inside one object).
    #[error("invalid JSON at line {line} column {column}: {message}")]
    InvalidJson {
        /// What the JSON parser expected; never contains input text beyond a key name.
        message: String,
        /// One-based line of the problem.
        line: usize,
        /// One-based column of the problem.
        column: usize,
    },
    /// The input bytes are not UTF-8, which JSON requires.
    #[error("invalid UTF-8 at byte offset {offset}: an event must be UTF-8 encoded JSON")]
    InvalidUtf8 {
        /// Zero-based offset of the first byte that is not part of valid UTF-8.
        offset: usize,
    },
    /// `kind` is not one of the event kinds this crate knows.
    #[error(
        "unknown kind `{kind}` in field `/kind`: expected one of `llm.request`, `llm.response`, \
         `tool.call`, `finding`, `alert`, `audit`"
    )]
    UnknownKind {
        /// The kind as given (cut to 64 characters).
        kind: String,
    },
    /// An object holds a field the schema does not allow there.
    #[error("unknown field `{field}`")]
    UnknownField {
        /// JSON Pointer of the unexpected field.
        field: String,
    },
    /// An object lacks a field the schema requires.
    #[error("missing field `{field}`")]
    MissingField {
        /// JSON Pointer of the field that should be present.
        field: String,
    },
    /// A field is present but its value is not acceptable.
    #[error("invalid value in field `{}`: {reason}", shown(.field))]
    InvalidValue {
        /// JSON Pointer of the field whose value is wrong (empty for the event itself).
        field: String,
        /// What was expected; never contains the value itself.
        reason: String,
    },
}

impl EventError {
    /// Returns the JSON Pointer of the field the error is about, when there is one.
    ///
    /// ```
    /// use llmtrail_core::Event;
    ///
    /// let err = Event::from_json_slice(br#"{"kind":"audit","colour":1,"body":{}}"#).unwrap_err();
    /// assert_eq!(err.field(), Some("/colour"));
    /// ```
    #[must_use]
    pub fn field(&self) -> Option<&str> {
        match self {
            EventError::UnknownField { field }
            | EventError::MissingField { field }
            | EventError::InvalidValue { field, .. } => Some(field),
            EventError::UnknownKind { .. } => Some("/kind"),
            EventError::InvalidJson { .. } | EventError::InvalidUtf8 { .. } => None,
        }
    }

    /// Builds an [`EventError::InvalidValue`] for `field` (a JSON Pointer).
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        EventError::InvalidValue {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Builds an [`EventError::UnknownKind`], cutting very long input so a hostile client
    /// cannot make the error arbitrarily large.
    pub(crate) fn unknown_kind(kind: &str) -> Self {
        EventError::UnknownKind {
            kind: shorten(kind, 64).into_owned(),
        }
    }
}

/// Renders an empty pointer (the event itself) readably in messages.
fn shown(field: &str) -> &str {
    if field.is_empty() { "(event)" } else { field }
}

/// Cuts client-chosen text (kinds, key names) that ends up in error messages, so a hostile
/// client cannot make errors, and the logs they land in, arbitrarily large.
pub(crate) fn shorten(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &text[..cut])),
        None => Cow::Borrowed(text),
    }
}

/// Longest key name kept whole in a JSON Pointer; the model's own keys are far shorter.
const MAX_KEY_CHARS: usize = 128;

/// Appends `key` to the JSON Pointer `ptr` as one reference token (RFC 6901 escaping),
/// shortening very long (client-chosen) keys.
pub(crate) fn push_pointer_token(ptr: &mut String, key: &str) {
    ptr.push('/');
    for c in shorten(key, MAX_KEY_CHARS).chars() {
        match c {
            '~' => ptr.push_str("~0"),
            '/' => ptr.push_str("~1"),
            c => ptr.push(c),
        }
    }
}

/// Returns the JSON Pointer made of `base` followed by `key`.
pub(crate) fn pointer(base: &str, key: &str) -> String {
    let mut ptr = String::with_capacity(base.len() + key.len() + 1);
    ptr.push_str(base);
    push_pointer_token(&mut ptr, key);
    ptr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_escapes_tilde_and_slash() {
        assert_eq!(pointer("/body", "a/b~c"), "/body/a~1b~0c");
        assert_eq!(pointer("", "gen_ai.request.model"), "/gen_ai.request.model");
    }

    #[test]
    fn unknown_kind_is_cut() {
        let long = "x".repeat(500);
        let EventError::UnknownKind { kind } = EventError::unknown_kind(&long) else {
            panic!("wrong variant");
        };
        assert_eq!(kind.chars().count(), 65);
    }

    #[test]
    fn long_keys_are_cut_in_pointers() {
        let key = "k".repeat(10_000);
        assert_eq!(pointer("", &key).chars().count(), 1 + MAX_KEY_CHARS + 1);
    }

    #[test]
    fn root_field_is_shown_readably() {
        let e = EventError::invalid("", "expected an object");
        assert_eq!(
            e.to_string(),
            "invalid value in field `(event)`: expected an object"
        );
    }
}
