//! What the mock does with a request, chosen by the request's `model` name.
//!
//! Names that do not match one of the `mock-*` patterns exactly (including a `mock-long-` or
//! `mock-slow-` suffix that is not a number) are echo models: a test can use any real model
//! name and get the echo behaviour.

use std::time::Duration;

/// Number of content chunks in a `mock-slow` stream.
pub const SLOW_CHUNKS: usize = 5;
/// Largest answer `mock-long-N` produces, in bytes; a larger `N` is capped to it.
pub const MAX_LONG_ANSWER: usize = 256 * 1024 * 1024;
/// Pause between the chunks of `mock-slow` without a number.
const DEFAULT_SLOW_PAUSE: Duration = Duration::from_millis(200);

/// The behaviour a model name asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// Answers `echo: <last user text>`.
    Echo,
    /// Asks for a tool call, or reports the tool result it was given.
    Tool,
    /// Fails with this HTTP status.
    Error(u16),
    /// Echoes in [`SLOW_CHUNKS`] chunks with this pause before each.
    Slow(Duration),
    /// Never answers.
    Hang,
    /// Closes the connection mid-answer.
    Reset,
    /// Answers with bodies that are not what the content type promises.
    Garbage,
    /// Answers with this many bytes of text.
    Long(usize),
}

impl Behaviour {
    /// Returns the behaviour for `model`.
    pub(crate) fn from_model(model: &str) -> Self {
        let Some(rest) = model.strip_prefix("mock-") else {
            return Self::Echo;
        };
        match rest {
            "tool" => Self::Tool,
            "hang" => Self::Hang,
            "reset" => Self::Reset,
            "garbage" => Self::Garbage,
            "slow" => Self::Slow(DEFAULT_SLOW_PAUSE),
            _ => {
                if let Some(code) = rest.strip_prefix("error-") {
                    match code.parse::<u16>() {
                        Ok(code) if (400..=599).contains(&code) => Self::Error(code),
                        _ => Self::Echo,
                    }
                } else if let Some(ms) = rest.strip_prefix("slow-") {
                    ms.parse::<u64>()
                        .map_or(Self::Echo, |ms| Self::Slow(Duration::from_millis(ms)))
                } else if let Some(len) = rest.strip_prefix("long-") {
                    len.parse::<usize>()
                        .map_or(Self::Echo, |len| Self::Long(len.min(MAX_LONG_ANSWER)))
                } else {
                    Self::Echo
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_pattern() {
        assert_eq!(Behaviour::from_model("gpt-4o"), Behaviour::Echo);
        assert_eq!(Behaviour::from_model("mock-echo"), Behaviour::Echo);
        assert_eq!(Behaviour::from_model(""), Behaviour::Echo);
        assert_eq!(Behaviour::from_model("mock-tool"), Behaviour::Tool);
        assert_eq!(Behaviour::from_model("mock-hang"), Behaviour::Hang);
        assert_eq!(Behaviour::from_model("mock-reset"), Behaviour::Reset);
        assert_eq!(Behaviour::from_model("mock-garbage"), Behaviour::Garbage);
        assert_eq!(
            Behaviour::from_model("mock-error-429"),
            Behaviour::Error(429)
        );
        assert_eq!(
            Behaviour::from_model("mock-error-500"),
            Behaviour::Error(500)
        );
        assert_eq!(
            Behaviour::from_model("mock-error-400"),
            Behaviour::Error(400)
        );
        assert_eq!(
            Behaviour::from_model("mock-slow"),
            Behaviour::Slow(Duration::from_millis(200))
        );
        assert_eq!(
            Behaviour::from_model("mock-slow-300"),
            Behaviour::Slow(Duration::from_millis(300))
        );
        assert_eq!(
            Behaviour::from_model("mock-long-5000"),
            Behaviour::Long(5000)
        );
    }

    #[test]
    fn odd_names_fall_back_to_echo_or_cap() {
        assert_eq!(Behaviour::from_model("mock-error-200"), Behaviour::Echo);
        assert_eq!(Behaviour::from_model("mock-error-x"), Behaviour::Echo);
        assert_eq!(Behaviour::from_model("mock-slow-x"), Behaviour::Echo);
        assert_eq!(Behaviour::from_model("mock-long-"), Behaviour::Echo);
        assert_eq!(Behaviour::from_model("mock-tools"), Behaviour::Echo);
        assert_eq!(
            Behaviour::from_model("mock-long-99999999999"),
            Behaviour::Long(MAX_LONG_ANSWER)
        );
    }
}
