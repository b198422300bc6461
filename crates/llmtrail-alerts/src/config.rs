//! `[alerts]` in `llmtrail.toml`: rules, routes, playbooks, behaviour analytics and drift.
//!
//! Raw serde types ([`RawAlerts`], `deny_unknown_fields`, every key defaulted) become a
//! validated [`AlertsConfig`] in one step ([`RawAlerts::validate`]); an error names the key.
//! The TOML reference is in the crate docs.

use std::path::PathBuf;

use llmtrail_core::{EventKind, FindingCategory, Severity};
use serde::Deserialize;

use crate::rules::{self, Matcher};

/// A configuration error naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alerts: `{key}` {why}")]
pub struct ConfigError {
    /// The key, e.g. `rules[2].window` or `behaviour.time_zone`.
    pub key: String,
    /// What is wrong.
    pub why: String,
}

fn err(key: impl Into<String>, why: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        why: why.into(),
    }
}

/// `[alerts]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAlerts {
    /// Run the alert engine.
    pub enabled: bool,
    /// Events waiting for the engine before new ones are skipped (counted and logged).
    pub queue: usize,
    /// Load the built-in rules (each can still be disabled or overridden by id).
    pub builtin_rules: bool,
    /// Default deduplication window: a rule firing again for the same group within it updates
    /// the open alert instead of raising a new one.
    pub dedup: String,
    /// Sinks that receive only the alerts routed to them (pager, chat), not every event.
    pub escalation_sinks: Vec<String>,
    /// Sinks per alert severity.
    pub routes: RawRoutes,
    /// Rules (new ones, or overrides of built-in ones by `id`).
    pub rules: Vec<RawRule>,
    /// Per user, key and agent analytics.
    pub behaviour: RawBehaviour,
    /// Per model and provider drift.
    pub drift: RawDrift,
}

impl Default for RawAlerts {
    fn default() -> Self {
        RawAlerts {
            enabled: true,
            queue: 16_384,
            builtin_rules: true,
            dedup: "1h".into(),
            escalation_sinks: Vec::new(),
            routes: RawRoutes::default(),
            rules: Vec::new(),
            behaviour: RawBehaviour::default(),
            drift: RawDrift::default(),
        }
    }
}

/// `[alerts.routes]`: sink names per severity.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRoutes {
    /// Sinks for `low` alerts.
    pub low: Vec<String>,
    /// Sinks for `medium` alerts.
    pub medium: Vec<String>,
    /// Sinks for `high` alerts.
    pub high: Vec<String>,
    /// Sinks for `critical` alerts.
    pub critical: Vec<String>,
}

/// One `[[alerts.rules]]` table. For a built-in `id`, unset keys keep the built-in value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Stable identifier; the alert's `rule_id`.
    pub id: String,
    /// `false` disables the rule.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Alert title (never quotes content).
    #[serde(default)]
    pub title: Option<String>,
    /// Alert severity.
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Threshold rule: which events count.
    #[serde(default, rename = "match")]
    pub matcher: Option<RawMatch>,
    /// Threshold rule: how many matching events within `window` raise the alert (default 1).
    #[serde(default)]
    pub count: Option<u32>,
    /// Threshold rule: the sliding window, e.g. `10m` (default `10m`).
    #[serde(default)]
    pub window: Option<String>,
    /// Fields grouping the events (a count and an alert per group).
    #[serde(default)]
    pub group_by: Option<Vec<GroupField>>,
    /// Sequence rule: the first step (any of these).
    #[serde(default)]
    pub first: Option<Vec<RawMatch>>,
    /// Sequence rule: the step that completes it (any of these), in the same group.
    #[serde(default)]
    pub then: Option<Vec<RawMatch>>,
    /// Sequence rule: longest time between the steps (default `15m`).
    #[serde(default)]
    pub within: Option<String>,
    /// Deduplication window of this rule (default `alerts.dedup`).
    #[serde(default)]
    pub dedup: Option<String>,
    /// Playbook run when a new alert is raised.
    #[serde(default)]
    pub respond: Option<Vec<RawAction>>,
}

/// Which events a rule step matches: every set key must match (a list matches any of its
/// values); an empty table matches every event.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMatch {
    /// Event kinds, e.g. `finding`, `tool.call`.
    pub kind: Vec<String>,
    /// Finding categories, e.g. `prompt_injection`.
    pub category: Vec<FindingCategory>,
    /// Finding types, e.g. `aws_access_key`.
    #[serde(rename = "type")]
    pub finding_type: Vec<String>,
    /// Lowest finding severity.
    pub min_severity: Option<Severity>,
    /// Detector names.
    pub detector: Vec<String>,
    /// Kind of the event a finding is about, e.g. `llm.response` for outputs.
    pub on: Vec<String>,
    /// Users.
    pub user: Vec<String>,
    /// Roles.
    pub role: Vec<String>,
    /// Models (of the request, or of the request a finding or response is about).
    pub model: Vec<String>,
    /// Providers.
    pub provider: Vec<String>,
    /// Tool names.
    pub tool: Vec<String>,
    /// Status of a tool call (`ok`, `error`, `blocked`, `pending`) or response (`ok`,
    /// `error`, `incomplete`).
    pub status: Vec<String>,
    /// Policy decision of a tool call (`allow`, `alert`, `block`, `hold`).
    pub decision: Vec<String>,
}

/// A field events are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupField {
    /// `actor.user`.
    User,
    /// `actor.role`.
    Role,
    /// `actor.department`.
    Department,
    /// `actor.api_key_id` (the virtual key).
    Key,
    /// `actor.agent`.
    Agent,
    /// `actor.session`, else the trace id, else the user.
    Session,
    /// `actor.source_ip`.
    SourceIp,
    /// The model.
    Model,
    /// The provider.
    Provider,
    /// The tool.
    Tool,
    /// The finding category.
    Category,
    /// The finding type.
    Type,
}

impl GroupField {
    /// Returns the name used in group keys, e.g. `user`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            GroupField::User => "user",
            GroupField::Role => "role",
            GroupField::Department => "department",
            GroupField::Key => "key",
            GroupField::Agent => "agent",
            GroupField::Session => "session",
            GroupField::SourceIp => "source_ip",
            GroupField::Model => "model",
            GroupField::Provider => "provider",
            GroupField::Tool => "tool",
            GroupField::Category => "category",
            GroupField::Type => "type",
        }
    }
}

/// One playbook step, tagged by `action`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawAction {
    /// Refuse the virtual key of the alert's actor at the gateway for `duration`.
    BlockKey {
        /// How long, e.g. `1h`.
        duration: String,
    },
    /// Refuse the alert's user at the gateway for `duration`.
    BlockUser {
        /// How long, e.g. `1h`.
        duration: String,
    },
    /// Hold the user's MCP tool calls for approval for `duration` (default `1h`).
    HoldTools {
        /// How long.
        #[serde(default)]
        duration: Option<String>,
    },
    /// Route the alert to these sinks as well.
    Notify {
        /// Sink names.
        routes: Vec<String>,
    },
}

/// `[alerts.behaviour]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawBehaviour {
    /// Learn and check per-entity behaviour.
    pub enabled: bool,
    /// Which actors get a profile: `user`, `key`, `agent`.
    pub entities: Vec<Entity>,
    /// IANA time zone of the business hours, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// Business hours, `HH:MM-HH:MM` in `time_zone` (end exclusive; may wrap midnight).
    pub business_hours: String,
    /// Business days: `mon` … `sun`.
    pub business_days: Vec<String>,
    /// Cold start: an entity is checked only once first seen at least this long ago…
    pub min_history: String,
    /// … and with at least this many requests.
    pub min_events: u64,
    /// Days of hourly history kept for the volume baselines.
    pub baseline_days: u32,
    /// Requests in one hour above this factor of the entity's typical hour are a spike…
    pub volume_factor: f64,
    /// … and only from this many requests in the hour.
    pub min_hourly_requests: u64,
    /// Tokens in one hour above this factor of the typical hour are a spike…
    pub token_factor: f64,
    /// … and only from this many tokens in the hour.
    pub min_hourly_tokens: u64,
    /// Off hours: outside business hours and in an hour of the week holding less than this
    /// share of the entity's own activity.
    pub rare_hour_share: f64,
    /// Sensitive outputs: today's share of outputs with PII or secret findings rising this
    /// much over the baseline share…
    pub sensitive_share_rise: f64,
    /// … with at least this many outputs today and in the baseline.
    pub sensitive_min_outputs: u64,
    /// A MaxMind-format database (`.mmdb`, country or ASN) for new countries and networks.
    pub geoip_db: Option<PathBuf>,
}

impl Default for RawBehaviour {
    fn default() -> Self {
        RawBehaviour {
            enabled: true,
            entities: vec![Entity::User, Entity::Key, Entity::Agent],
            time_zone: "UTC".into(),
            business_hours: "08:00-19:00".into(),
            business_days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            min_history: "3d".into(),
            min_events: 50,
            baseline_days: 14,
            volume_factor: 5.0,
            min_hourly_requests: 20,
            token_factor: 5.0,
            min_hourly_tokens: 50_000,
            rare_hour_share: 0.02,
            sensitive_share_rise: 0.2,
            sensitive_min_outputs: 20,
            geoip_db: None,
        }
    }
}

/// An actor that gets a behaviour profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    /// `actor.user`.
    User,
    /// `actor.api_key_id`.
    Key,
    /// `actor.agent`.
    Agent,
}

impl Entity {
    /// Returns the name used in group keys.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::User => "user",
            Entity::Key => "key",
            Entity::Agent => "agent",
        }
    }
}

/// `[alerts.drift]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDrift {
    /// Check models for drift.
    pub enabled: bool,
    /// Responses in the recent window compared with the baseline.
    pub recent: usize,
    /// Responses kept as the baseline (older than the recent window).
    pub baseline: usize,
    /// Responses needed in the baseline before drift is checked (cold start).
    pub min_baseline: usize,
    /// Recent latency p50 or p95 above this factor of the baseline's is drift.
    pub latency_factor: f64,
    /// Recent error rate above the baseline's by this much is drift.
    pub error_rate_rise: f64,
    /// Recent refusal rate above the baseline's by this much is drift.
    pub refusal_rate_rise: f64,
    /// Recent median output length above or below this factor of the baseline's is drift.
    pub output_length_factor: f64,
}

impl Default for RawDrift {
    fn default() -> Self {
        RawDrift {
            enabled: true,
            recent: 50,
            baseline: 500,
            min_baseline: 100,
            latency_factor: 2.0,
            error_rate_rise: 0.2,
            refusal_rate_rise: 0.2,
            output_length_factor: 3.0,
        }
    }
}

/// A playbook step, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Refuse the actor's virtual key for this many milliseconds.
    BlockKey(i64),
    /// Refuse the actor's user for this many milliseconds.
    BlockUser(i64),
    /// Hold the user's tool calls for this many milliseconds.
    HoldTools(i64),
    /// Route to these sinks as well.
    Notify(Vec<String>),
}

impl Action {
    /// Returns the action's name as written in the configuration.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Action::BlockKey(_) => "block_key",
            Action::BlockUser(_) => "block_user",
            Action::HoldTools(_) => "hold_tools",
            Action::Notify(_) => "notify",
        }
    }
}

/// What a rule looks at.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "a few dozen rules at most, read on every event: no indirection wanted"
)]
pub enum Trigger {
    /// At least `count` matching events within `window_ms`, per group.
    Threshold {
        /// The events that count.
        matcher: Matcher,
        /// How many.
        count: u32,
        /// Window in milliseconds.
        window_ms: i64,
    },
    /// An event matching `first`, then one matching `then` within `within_ms`, per group.
    Sequence {
        /// First step (any of).
        first: Vec<Matcher>,
        /// Completing step (any of).
        then: Vec<Matcher>,
        /// Longest gap in milliseconds.
        within_ms: i64,
    },
    /// Raised by the behaviour or drift analytics (built in; only its metadata is set).
    Analytic,
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Identifier.
    pub id: String,
    /// Title of its alerts.
    pub title: String,
    /// Severity of its alerts.
    pub severity: Severity,
    /// Enabled.
    pub enabled: bool,
    /// Grouping.
    pub group_by: Vec<GroupField>,
    /// What fires it.
    pub trigger: Trigger,
    /// Deduplication window in milliseconds.
    pub dedup_ms: i64,
    /// Playbook.
    pub respond: Vec<Action>,
}

/// Validated behaviour settings.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Enabled.
    pub enabled: bool,
    /// Profiled entities.
    pub entities: Vec<Entity>,
    /// Time zone of business hours.
    pub time_zone: jiff::tz::TimeZone,
    /// Business hours as minutes of the day `[start, end)`; wraps when `start > end`.
    pub business_minutes: (u16, u16),
    /// Business days, Monday = 0.
    pub business_days: [bool; 7],
    /// Cold start in milliseconds.
    pub min_history_ms: i64,
    /// Cold start in requests.
    pub min_events: u64,
    /// Hourly history kept.
    pub baseline_hours: i64,
    /// See [`RawBehaviour::volume_factor`].
    pub volume_factor: f64,
    /// See [`RawBehaviour::min_hourly_requests`].
    pub min_hourly_requests: u64,
    /// See [`RawBehaviour::token_factor`].
    pub token_factor: f64,
    /// See [`RawBehaviour::min_hourly_tokens`].
    pub min_hourly_tokens: u64,
    /// See [`RawBehaviour::rare_hour_share`].
    pub rare_hour_share: f64,
    /// See [`RawBehaviour::sensitive_share_rise`].
    pub sensitive_share_rise: f64,
    /// See [`RawBehaviour::sensitive_min_outputs`].
    pub sensitive_min_outputs: u64,
    /// The `.mmdb` path.
    pub geoip_db: Option<PathBuf>,
}

/// Validated `[alerts]`.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// Run the engine.
    pub enabled: bool,
    /// Queue length in events.
    pub queue: usize,
    /// Rules, built-in ones first, by id.
    pub rules: Vec<Rule>,
    /// Sinks per severity, indexed by `Severity as usize` (low … critical).
    pub routes: [Vec<String>; 4],
    /// Sinks that receive only what is routed to them.
    pub escalation_sinks: Vec<String>,
    /// Behaviour analytics.
    pub behaviour: Behaviour,
    /// Drift (validated as written).
    pub drift: RawDrift,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        // The defaults are valid by construction; the test `defaults_validate` proves it.
        RawAlerts::default()
            .validate()
            .unwrap_or_else(|_| AlertsConfig {
                enabled: false,
                queue: 1,
                rules: Vec::new(),
                routes: Default::default(),
                escalation_sinks: Vec::new(),
                behaviour: Behaviour {
                    enabled: false,
                    entities: Vec::new(),
                    time_zone: jiff::tz::TimeZone::UTC,
                    business_minutes: (0, 0),
                    business_days: [false; 7],
                    min_history_ms: 0,
                    min_events: 0,
                    baseline_hours: 1,
                    volume_factor: 1.0,
                    min_hourly_requests: 0,
                    token_factor: 1.0,
                    min_hourly_tokens: 0,
                    rare_hour_share: 0.0,
                    sensitive_share_rise: 1.0,
                    sensitive_min_outputs: 0,
                    geoip_db: None,
                },
                drift: RawDrift::default(),
            })
    }
}

impl AlertsConfig {
    /// Returns every sink name that routes, escalation sinks and `notify` steps mention, so
    /// that the caller can check them against the configured sinks.
    #[must_use]
    pub fn sink_names(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (i, sev) in ["low", "medium", "high", "critical"].iter().enumerate() {
            for s in &self.routes[i] {
                out.push((format!("routes.{sev}"), s.clone()));
            }
        }
        for s in &self.escalation_sinks {
            out.push(("escalation_sinks".into(), s.clone()));
        }
        for r in &self.rules {
            for a in &r.respond {
                if let Action::Notify(routes) = a {
                    for s in routes {
                        out.push((format!("rules.{}.respond", r.id), s.clone()));
                    }
                }
            }
        }
        out
    }

    /// Returns the rule with this id.
    #[must_use]
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

/// Parses a duration such as `90s`, `10m`, `1h`, `2d` (also `1h30m`) into milliseconds.
///
/// # Errors
/// A message saying what is expected.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let expected = || format!("expected a duration such as 30s, 10m, 1h or 2d, not {s:?}");
    let s = s.trim();
    if s.is_empty() {
        return Err(expected());
    }
    let mut total: i64 = 0;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().map_err(|_| expected())?;
        number.clear();
        let unit = match c {
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            _ => return Err(expected()),
        };
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(expected)?;
    }
    if !number.is_empty() || total <= 0 {
        return Err(expected());
    }
    Ok(total)
}

fn duration(key: &str, s: &str) -> Result<i64, ConfigError> {
    parse_duration(s).map_err(|why| err(key, why))
}

fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
}

impl RawMatch {
    fn validate(&self, key: &str) -> Result<Matcher, ConfigError> {
        let kinds = self
            .kind
            .iter()
            .map(|k| {
                k.parse::<EventKind>()
                    .map_err(|_| err(format!("{key}.kind"), format!("unknown event kind {k:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let on = self
            .on
            .iter()
            .map(|k| {
                k.parse::<EventKind>()
                    .map_err(|_| err(format!("{key}.on"), format!("unknown event kind {k:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (field, values, allowed) in [
            (
                "status",
                &self.status,
                &["ok", "error", "blocked", "pending", "incomplete"][..],
            ),
            (
                "decision",
                &self.decision,
                &["allow", "alert", "block", "hold"][..],
            ),
        ] {
            if let Some(v) = values.iter().find(|v| !allowed.contains(&v.as_str())) {
                return Err(err(
                    format!("{key}.{field}"),
                    format!(
                        "unknown value {v:?} (expected one of {})",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(Matcher {
            kinds,
            categories: self.category.clone(),
            types: self.finding_type.clone(),
            min_severity: self.min_severity,
            detectors: self.detector.clone(),
            on,
            users: self.user.clone(),
            roles: self.role.clone(),
            models: self.model.clone(),
            providers: self.provider.clone(),
            tools: self.tool.clone(),
            statuses: self.status.clone(),
            decisions: self.decision.clone(),
        })
    }
}

impl RawAlerts {
    /// Validates the table and merges the built-in rules (unless `builtin_rules = false`).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad key.
    pub fn validate(&self) -> Result<AlertsConfig, ConfigError> {
        let dedup_ms = duration("dedup", &self.dedup)?;
        let mut rules: Vec<Rule> = if self.builtin_rules {
            rules::builtin(dedup_ms)
        } else {
            rules::analytics(dedup_ms)
        };
        for (i, raw) in self.rules.iter().enumerate() {
            let key = format!("rules[{i}]");
            if raw.id.is_empty()
                || raw.id.len() > 128
                || raw
                    .id
                    .chars()
                    .any(|c| c.is_control() || c == ',' || c == '=')
            {
                return Err(err(
                    format!("{key}.id"),
                    "must be 1-128 characters without control characters, commas or =",
                ));
            }
            if self.rules[..i].iter().any(|r| r.id == raw.id) {
                return Err(err(format!("{key}.id"), format!("repeats {:?}", raw.id)));
            }
            let existing = rules.iter().position(|r| r.id == raw.id);
            let mut rule = match existing {
                Some(p) => rules.remove(p),
                None => Rule {
                    id: raw.id.clone(),
                    title: raw.id.clone(),
                    severity: Severity::Medium,
                    enabled: true,
                    group_by: Vec::new(),
                    trigger: Trigger::Analytic,
                    dedup_ms,
                    respond: Vec::new(),
                },
            };
            apply(&mut rule, raw, &key, existing.is_none())?;
            match existing {
                Some(p) => rules.insert(p, rule),
                None => rules.push(rule),
            }
        }
        let behaviour = self.behaviour.validate()?;
        let d = &self.drift;
        if d.recent < 5 || d.min_baseline < 5 || d.baseline < d.min_baseline {
            return Err(err(
                "drift",
                "needs recent >= 5, min_baseline >= 5 and baseline >= min_baseline",
            ));
        }
        for (k, v) in [
            ("drift.latency_factor", d.latency_factor),
            ("drift.output_length_factor", d.output_length_factor),
        ] {
            if !(v.is_finite() && v > 1.0) {
                return Err(err(k, "must be a number above 1"));
            }
        }
        for (k, v) in [
            ("drift.error_rate_rise", d.error_rate_rise),
            ("drift.refusal_rate_rise", d.refusal_rate_rise),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 1.0) {
                return Err(err(k, "must be a number in (0, 1]"));
            }
        }
        let r = &self.routes;
        Ok(AlertsConfig {
            enabled: self.enabled,
            queue: self.queue.max(1),
            rules,
            routes: [
                r.low.clone(),
                r.medium.clone(),
                r.high.clone(),
                r.critical.clone(),
            ],
            escalation_sinks: self.escalation_sinks.clone(),
            behaviour,
            drift: self.drift.clone(),
        })
    }
}

fn apply(rule: &mut Rule, raw: &RawRule, key: &str, new: bool) -> Result<(), ConfigError> {
    if let Some(e) = raw.enabled {
        rule.enabled = e;
    }
    if let Some(t) = &raw.title {
        if t.trim().is_empty() {
            return Err(err(format!("{key}.title"), "must not be empty"));
        }
        rule.title.clone_from(t);
    }
    if let Some(s) = raw.severity {
        rule.severity = s;
    }
    if let Some(g) = &raw.group_by {
        rule.group_by.clone_from(g);
    }
    if let Some(d) = &raw.dedup {
        rule.dedup_ms = duration(&format!("{key}.dedup"), d)?;
    }
    if let Some(actions) = &raw.respond {
        rule.respond = actions
            .iter()
            .enumerate()
            .map(|(j, a)| {
                let k = format!("{key}.respond[{j}].duration");
                Ok(match a {
                    RawAction::BlockKey { duration: d } => Action::BlockKey(duration(&k, d)?),
                    RawAction::BlockUser { duration: d } => Action::BlockUser(duration(&k, d)?),
                    RawAction::HoldTools { duration: d } => {
                        Action::HoldTools(duration(&k, d.as_deref().unwrap_or("1h"))?)
                    }
                    RawAction::Notify { routes } => Action::Notify(routes.clone()),
                })
            })
            .collect::<Result<_, ConfigError>>()?;
    }
    let threshold = raw.matcher.is_some() || raw.count.is_some() || raw.window.is_some();
    let sequence = raw.first.is_some() || raw.then.is_some() || raw.within.is_some();
    if threshold && sequence {
        return Err(err(
            key,
            "is either a threshold rule (match, count, window) or a sequence (first, then, within)",
        ));
    }
    if matches!(rule.trigger, Trigger::Analytic) && !new && (threshold || sequence) {
        return Err(err(
            key,
            "overrides a built-in analytic rule: only enabled, title, severity, dedup and respond \
             can be set",
        ));
    }
    if threshold {
        let (old_m, old_c, old_w) = match &rule.trigger {
            Trigger::Threshold {
                matcher,
                count,
                window_ms,
            } => (Some(matcher.clone()), *count, *window_ms),
            _ => (None, 1, 600_000),
        };
        let matcher = match &raw.matcher {
            Some(m) => m.validate(&format!("{key}.match"))?,
            None => old_m.ok_or_else(|| err(format!("{key}.match"), "is required"))?,
        };
        let count = raw.count.unwrap_or(old_c);
        if count == 0 || count > 100_000 {
            return Err(err(format!("{key}.count"), "must be between 1 and 100000"));
        }
        let window_ms = match &raw.window {
            Some(w) => duration(&format!("{key}.window"), w)?,
            None => old_w,
        };
        rule.trigger = Trigger::Threshold {
            matcher,
            count,
            window_ms,
        };
    } else if sequence {
        let (old_f, old_t, old_w) = match &rule.trigger {
            Trigger::Sequence {
                first,
                then,
                within_ms,
            } => (Some(first.clone()), Some(then.clone()), *within_ms),
            _ => (None, None, 900_000),
        };
        let steps = |raw: &Option<Vec<RawMatch>>, old: Option<Vec<Matcher>>, name: &str| match raw {
            Some(list) if list.is_empty() => {
                Err(err(format!("{key}.{name}"), "must list at least one step"))
            }
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(j, m)| m.validate(&format!("{key}.{name}[{j}]")))
                .collect(),
            None => old.ok_or_else(|| err(format!("{key}.{name}"), "is required")),
        };
        let first = steps(&raw.first, old_f, "first")?;
        let then = steps(&raw.then, old_t, "then")?;
        let within_ms = match &raw.within {
            Some(w) => duration(&format!("{key}.within"), w)?,
            None => old_w,
        };
        if raw.group_by.is_none() && new {
            rule.group_by = vec![GroupField::Session];
        }
        rule.trigger = Trigger::Sequence {
            first,
            then,
            within_ms,
        };
    } else if new {
        return Err(err(
            key,
            "is not a built-in rule: it needs `match` (threshold) or `first` and `then` (sequence)",
        ));
    }
    Ok(())
}

impl RawBehaviour {
    fn validate(&self) -> Result<Behaviour, ConfigError> {
        let time_zone = jiff::tz::TimeZone::get(&self.time_zone).map_err(|_| {
            err(
                "behaviour.time_zone",
                format!("unknown time zone {:?}", self.time_zone),
            )
        })?;
        let business_minutes = self
            .business_hours
            .split_once('-')
            .and_then(|(a, b)| Some((parse_hhmm(a)?, parse_hhmm(b)?)))
            .ok_or_else(|| err("behaviour.business_hours", "expected HH:MM-HH:MM"))?;
        let mut business_days = [false; 7];
        for d in &self.business_days {
            let i = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                .iter()
                .position(|x| x.eq_ignore_ascii_case(d))
                .ok_or_else(|| {
                    err(
                        "behaviour.business_days",
                        format!("unknown day {d:?} (mon … sun)"),
                    )
                })?;
            business_days[i] = true;
        }
        for (k, v) in [
            ("behaviour.volume_factor", self.volume_factor),
            ("behaviour.token_factor", self.token_factor),
        ] {
            if !(v.is_finite() && v > 1.0) {
                return Err(err(k, "must be a number above 1"));
            }
        }
        for (k, v) in [
            ("behaviour.rare_hour_share", self.rare_hour_share),
            ("behaviour.sensitive_share_rise", self.sensitive_share_rise),
        ] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(err(k, "must be a number from 0 to 1"));
            }
        }
        if self.baseline_days == 0 || self.baseline_days > 90 {
            return Err(err("behaviour.baseline_days", "must be between 1 and 90"));
        }
        Ok(Behaviour {
            enabled: self.enabled,
            entities: self.entities.clone(),
            time_zone,
            business_minutes,
            business_days,
            min_history_ms: duration("behaviour.min_history", &self.min_history)?,
            min_events: self.min_events,
            baseline_hours: i64::from(self.baseline_days) * 24,
            volume_factor: self.volume_factor,
            min_hourly_requests: self.min_hourly_requests.max(1),
            token_factor: self.token_factor,
            min_hourly_tokens: self.min_hourly_tokens.max(1),
            rare_hour_share: self.rare_hour_share,
            sensitive_share_rise: self.sensitive_share_rise,
            sensitive_min_outputs: self.sensitive_min_outputs.max(1),
            geoip_db: self.geoip_db.clone(),
        })
    }
}

/// Routes of a severity.
#[must_use]
pub fn routes_for(cfg: &AlertsConfig, severity: Severity) -> &[String] {
    &cfg.routes[severity_index(severity)]
}

/// Index of a severity, low = 0 … critical = 3.
#[must_use]
pub fn severity_index(s: Severity) -> usize {
    match s {
        Severity::Low => 0,
        Severity::Medium => 1,
        Severity::High => 2,
        Severity::Critical => 3,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<AlertsConfig, ConfigError> {
        #[derive(Deserialize)]
        struct File {
            alerts: RawAlerts,
        }
        let f: File = toml::from_str(s).map_err(|e| err("toml", e.to_string()))?;
        f.alerts.validate()
    }

    #[test]
    fn defaults_validate() {
        let cfg = RawAlerts::default().validate().unwrap();
        assert!(cfg.rule("injection-campaign").is_some());
        assert!(cfg.rule("behaviour.volume_spike").is_some());
    }

    #[test]
    fn the_crate_docs_example_is_valid() {
        let docs = include_str!("lib.rs");
        let toml: String = docs
            .lines()
            .filter_map(|l| l.strip_prefix("//!"))
            .skip_while(|l| !l.starts_with(" ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with(" ```"))
            .map(|l| format!("{}\n", l.strip_prefix(' ').unwrap_or(l)))
            .collect();
        assert!(toml.contains("[alerts.drift]"), "{toml}");
        let cfg = parse(&toml).unwrap();
        assert!(!cfg.rule("behaviour.new_source_ip").unwrap().enabled);
        assert!(matches!(
            cfg.rule("jailbreak-then-secret").unwrap().trigger,
            Trigger::Sequence { .. }
        ));
        assert_eq!(cfg.rule("injection-campaign").unwrap().respond.len(), 4);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m"), Ok(600_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("2d"), Ok(172_800_000));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5w").is_err());
    }

    #[test]
    fn override_and_new_rules() {
        let cfg = parse(
            r#"
            [alerts]
            [alerts.routes]
            critical = ["pager"]
            [[alerts.rules]]
            id = "injection-campaign"
            count = 3
            respond = [{ action = "block_user", duration = "1h" }, { action = "notify", routes = ["chat"] }]
            [[alerts.rules]]
            id = "secret-in-output"
            enabled = false
            [[alerts.rules]]
            id = "behaviour.new_source_ip"
            severity = "high"
            [[alerts.rules]]
            id = "many-tools"
            match = { kind = ["tool.call"], tool = ["shell"] }
            count = 2
            window = "1m"
            group_by = ["user", "tool"]
            "#,
        )
        .unwrap();
        let r = cfg.rule("injection-campaign").unwrap();
        assert!(matches!(r.trigger, Trigger::Threshold { count: 3, .. }));
        assert_eq!(r.respond[0], Action::BlockUser(3_600_000));
        assert!(!cfg.rule("secret-in-output").unwrap().enabled);
        assert_eq!(
            cfg.rule("behaviour.new_source_ip").unwrap().severity,
            Severity::High
        );
        assert_eq!(cfg.rule("many-tools").unwrap().group_by.len(), 2);
        let names: Vec<String> = cfg.sink_names().into_iter().map(|(_, s)| s).collect();
        assert_eq!(names, ["pager", "chat"]);
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse("[alerts]\n[[alerts.rules]]\nid = \"x\"\nmatch = {}\nwindow = \"ten\"\n")
            .unwrap_err();
        assert_eq!(e.key, "rules[0].window");
        let e = parse("[alerts]\n[[alerts.rules]]\nid = \"x\"\n").unwrap_err();
        assert_eq!(e.key, "rules[0]");
        let e = parse("[alerts.behaviour]\ntime_zone = \"Mars/Base\"\n").unwrap_err();
        assert_eq!(e.key, "behaviour.time_zone");
        let e = parse("[alerts]\n[[alerts.rules]]\nid = \"x\"\nmatch = { status = [\"weird\"] }\n")
            .unwrap_err();
        assert_eq!(e.key, "rules[0].match.status");
        assert!(parse("[alerts]\nbogus = 1\n").is_err());
        assert!(
            parse("[alerts]\n[[alerts.rules]]\nid = \"x\"\nmatch = {}\nrespond = [{ action = \"nuke\" }]\n")
                .is_err()
        );
    }
}
