//! `[mcp]` in `llmtrail.toml`: where the proxies report, what they do when they cannot, and the
//! per-tool policy.
//!
//! ```toml
//! [mcp]
//! url = "http://127.0.0.1:8080"   # the running `serve` (flag --url overrides)
//! on_log_failure = "block"         # "block": no call runs unlogged; "allow": forward anyway
//! max_message_bytes = 16777216     # one JSON-RPC message (stdio line or HTTP body)
//! hold_timeout_ms = 300000         # a held call is refused after this long without approval
//! critical = "block"               # decision for a tool-risk finding of each severity
//! high = "alert"
//! medium = "alert"
//! low = "alert"
//! redact = ["secret"]              # finding categories masked in results (default: none)
//!
//! [[mcp.tools]]                    # per-tool rules; `name` is exact or ends in `*`
//! name = "shell"
//! action = "hold"                  # allow | alert | block | hold
//! ```
//!
//! The strictest applicable decision wins (block, then hold, then alert, then allow): a tool
//! rule saying `allow` does not let a critical tool risk through.

use llmtrail_core::{Decision, FindingCategory};
use serde::Deserialize;

/// `[mcp]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMcp {
    /// Base URL of the running `serve` that events are sent to.
    pub url: String,
    /// What to do when an event cannot be logged: `block` (default) or `allow`.
    pub on_log_failure: OnLogFailure,
    /// Largest JSON-RPC message accepted in either direction, in bytes.
    pub max_message_bytes: usize,
    /// How long a held call waits for approval before it is refused, in milliseconds.
    pub hold_timeout_ms: u64,
    /// Decision for a critical tool-risk finding in a call's arguments.
    pub critical: Action,
    /// Decision for a high tool-risk finding.
    pub high: Action,
    /// Decision for a medium tool-risk finding.
    pub medium: Action,
    /// Decision for a low tool-risk finding.
    pub low: Action,
    /// Finding categories masked in tool results before the client sees them.
    pub redact: Vec<FindingCategory>,
    /// Rules by tool name.
    pub tools: Vec<ToolRule>,
}

impl Default for RawMcp {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8080".into(),
            on_log_failure: OnLogFailure::Block,
            max_message_bytes: 16 * 1024 * 1024,
            hold_timeout_ms: 300_000,
            critical: Action::Block,
            high: Action::Alert,
            medium: Action::Alert,
            low: Action::Alert,
            redact: Vec::new(),
            tools: Vec::new(),
        }
    }
}

/// What happens when an event cannot be logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnLogFailure {
    /// The message is not forwarded; the client gets a JSON-RPC error.
    Block,
    /// The message is forwarded anyway (logging is attempted in the background).
    Allow,
}

/// A policy decision as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Let it run.
    Allow,
    /// Let it run; the finding raises an alert.
    Alert,
    /// Wait for a human to approve.
    Hold,
    /// Refuse it.
    Block,
}

impl Action {
    /// The event model's name for it.
    #[must_use]
    pub fn decision(self) -> Decision {
        match self {
            Action::Allow => Decision::Allow,
            Action::Alert => Decision::Alert,
            Action::Hold => Decision::Hold,
            Action::Block => Decision::Block,
        }
    }
}

/// `[[mcp.tools]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolRule {
    /// Tool name, exact, or a prefix followed by `*`.
    pub name: String,
    /// Only for this server (its `serverInfo.name`); any server when absent.
    #[serde(default)]
    pub server: Option<String>,
    /// The decision.
    pub action: Action,
}

impl ToolRule {
    /// Tells whether the rule applies to `tool` on `server`.
    #[must_use]
    pub fn applies(&self, tool: &str, server: Option<&str>) -> bool {
        let name_ok = match self.name.strip_suffix('*') {
            Some(prefix) => tool.starts_with(prefix),
            None => tool == self.name,
        };
        let server_ok = match (&self.server, server) {
            (None, _) => true,
            (Some(want), Some(have)) => want == have,
            (Some(_), None) => false,
        };
        name_ok && server_ok
    }

    /// The id this rule is reported under.
    #[must_use]
    pub fn id(&self) -> String {
        format!("mcp.tools.{}", self.name)
    }
}

/// Errors in `[mcp]`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is out of range.
    #[error("config key `mcp.{key}`: {why}")]
    Invalid {
        /// The key below `mcp`.
        key: &'static str,
        /// What is allowed.
        why: String,
    },
}

impl RawMcp {
    /// Checks ranges.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1024..=1 << 30).contains(&self.max_message_bytes) {
            return Err(ConfigError::Invalid {
                key: "max_message_bytes",
                why: "must be between 1024 and 1073741824".into(),
            });
        }
        if self.hold_timeout_ms == 0 {
            return Err(ConfigError::Invalid {
                key: "hold_timeout_ms",
                why: "must be positive".into(),
            });
        }
        if !self.url.starts_with("http://") {
            return Err(ConfigError::Invalid {
                key: "url",
                why: "must be an http:// URL".into(),
            });
        }
        if let Some(r) = self.tools.iter().find(|r| r.name.is_empty()) {
            return Err(ConfigError::Invalid {
                key: "tools",
                why: format!("a rule has an empty name (action {:?})", r.action),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_block_critical_and_alert_on_the_rest() {
        let c = RawMcp::default();
        assert_eq!(c.critical, Action::Block);
        assert_eq!(c.high, Action::Alert);
        assert_eq!(c.on_log_failure, OnLogFailure::Block);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn parses_tool_rules_and_rejects_unknown_keys() {
        let c: RawMcp = serde_json::from_value(serde_json::json!({
            "tools": [{"name": "fs_*", "action": "hold"}, {"name": "shell", "server": "s", "action": "block"}],
            "redact": ["secret"],
        }))
        .unwrap();
        assert!(c.tools[0].applies("fs_write", None));
        assert!(!c.tools[0].applies("shell", None));
        assert!(c.tools[1].applies("shell", Some("s")));
        assert!(!c.tools[1].applies("shell", Some("t")));
        assert!(!c.tools[1].applies("shell", None));
        assert!(serde_json::from_value::<RawMcp>(serde_json::json!({"nope": 1})).is_err());
        assert!(Action::Block > Action::Hold && Action::Hold > Action::Alert);
    }

    #[test]
    fn ranges_are_checked() {
        let c = RawMcp {
            max_message_bytes: 10,
            ..RawMcp::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("max_message_bytes")
        );
        let c = RawMcp {
            url: "ftp://x".into(),
            ..RawMcp::default()
        };
        assert!(c.validate().is_err());
    }
}
