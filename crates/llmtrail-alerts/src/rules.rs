//! Rule matching: the per-event [`View`] (the fields rules look at, a finding enriched with
//! the event it is about), [`Matcher`], sliding-window thresholds, two-step sequences, and the
//! built-in rules.
//!
//! Invariants: a threshold group keeps at most `max(count, 64)` entries and only those inside
//! its window; a sequence group keeps only first steps inside `within`. Groups that empty are
//! removed, so memory follows the active groups, not the history.

use std::collections::{HashMap, VecDeque};

use llmtrail_core::{Body, Event, EventKind, FindingCategory, Severity};
use uuid::Uuid;

use crate::config::{Action, GroupField, Rule, Trigger};

/// What is remembered of a recent event so that findings about it can be matched by model,
/// tool or kind.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// Its kind.
    pub kind: Option<EventKind>,
    /// Provider.
    pub provider: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Tool.
    pub tool: Option<String>,
}

/// The fields of one event that rules match and group on.
#[derive(Debug, Default)]
pub struct View<'a> {
    /// Kind.
    pub kind: Option<EventKind>,
    /// Finding category.
    pub category: Option<FindingCategory>,
    /// Finding type.
    pub finding_type: Option<&'a str>,
    /// Finding severity.
    pub severity: Option<Severity>,
    /// Detector.
    pub detector: Option<&'a str>,
    /// Kind of the event a finding is about.
    pub on: Option<EventKind>,
    /// User.
    pub user: Option<&'a str>,
    /// Role.
    pub role: Option<&'a str>,
    /// Department.
    pub department: Option<&'a str>,
    /// Virtual key id.
    pub key: Option<&'a str>,
    /// Agent.
    pub agent: Option<&'a str>,
    /// Session (or trace id, or user).
    pub session: Option<String>,
    /// Source address.
    pub source_ip: Option<String>,
    /// Model.
    pub model: Option<&'a str>,
    /// Provider.
    pub provider: Option<&'a str>,
    /// Tool.
    pub tool: Option<&'a str>,
    /// Status.
    pub status: Option<&'static str>,
    /// Decision.
    pub decision: Option<&'static str>,
}

impl<'a> View<'a> {
    /// Builds the view of `event`; `about` is what is remembered of the event a finding or a
    /// response points at.
    #[must_use]
    pub fn of(event: &'a Event, about: Option<&'a Meta>) -> View<'a> {
        let a = &event.actor;
        let mut v = View {
            kind: Some(event.kind()),
            user: a.user.as_deref(),
            role: a.role.as_deref(),
            department: a.department.as_deref(),
            key: a.api_key_id.as_deref(),
            agent: a.agent.as_deref(),
            session: a
                .session
                .clone()
                .or_else(|| event.trace.trace_id.map(|t| t.to_string()))
                .or_else(|| a.user.clone()),
            source_ip: a.source_ip.map(|ip| ip.to_string()),
            ..View::default()
        };
        if let Some(m) = about {
            v.model = m.model.as_deref();
            v.provider = m.provider.as_deref();
            v.tool = m.tool.as_deref();
            v.on = m.kind;
        }
        match &event.body {
            Body::Finding(f) => {
                v.category = Some(f.category);
                v.finding_type = Some(&f.finding_type);
                v.severity = Some(f.severity);
                v.detector = Some(&f.detector);
            }
            Body::LlmRequest(r) => {
                v.model = Some(&r.model);
                v.provider = Some(&r.provider);
            }
            Body::LlmResponse(r) => {
                v.status = Some(match r.status {
                    llmtrail_core::ResponseStatus::Ok => "ok",
                    llmtrail_core::ResponseStatus::Error => "error",
                    llmtrail_core::ResponseStatus::Incomplete => "incomplete",
                });
                if v.model.is_none() {
                    v.model = r.response_model.as_deref();
                }
            }
            Body::ToolCall(t) => {
                v.tool = Some(&t.name);
                v.status = Some(match t.status {
                    llmtrail_core::ToolStatus::Ok => "ok",
                    llmtrail_core::ToolStatus::Error => "error",
                    llmtrail_core::ToolStatus::Blocked => "blocked",
                    llmtrail_core::ToolStatus::Pending => "pending",
                });
                v.decision = t.decision.map(|d| match d {
                    llmtrail_core::Decision::Allow => "allow",
                    llmtrail_core::Decision::Alert => "alert",
                    llmtrail_core::Decision::Block => "block",
                    llmtrail_core::Decision::Hold => "hold",
                });
            }
            Body::Alert(_) | Body::Audit(_) => {}
        }
        v
    }

    /// Returns the group key of this event for `fields`, e.g. `user=alice,tool=shell`; `None`
    /// when a field is absent (the event then belongs to no group of that rule).
    #[must_use]
    pub fn group(&self, fields: &[GroupField]) -> Option<String> {
        let mut out = String::new();
        for f in fields {
            let value: Option<&str> = match f {
                GroupField::User => self.user,
                GroupField::Role => self.role,
                GroupField::Department => self.department,
                GroupField::Key => self.key,
                GroupField::Agent => self.agent,
                GroupField::Session => self.session.as_deref(),
                GroupField::SourceIp => self.source_ip.as_deref(),
                GroupField::Model => self.model,
                GroupField::Provider => self.provider,
                GroupField::Tool => self.tool,
                GroupField::Category => self.category.map(category_name),
                GroupField::Type => self.finding_type,
            };
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(f.as_str());
            out.push('=');
            out.push_str(value?);
        }
        Some(out)
    }
}

/// Returns the wire name of a category.
#[must_use]
pub fn category_name(c: FindingCategory) -> &'static str {
    match c {
        FindingCategory::PromptInjection => "prompt_injection",
        FindingCategory::Jailbreak => "jailbreak",
        FindingCategory::Pii => "pii",
        FindingCategory::Secret => "secret",
        FindingCategory::Exfiltration => "exfiltration",
        FindingCategory::UnsafeOutput => "unsafe_output",
        FindingCategory::SystemPromptLeak => "system_prompt_leak",
        FindingCategory::InvisibleText => "invisible_text",
        FindingCategory::ToolRisk => "tool_risk",
        FindingCategory::Anomaly => "anomaly",
    }
}

/// Which events a rule step matches (validated [`crate::config::RawMatch`]).
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    /// Kinds.
    pub kinds: Vec<EventKind>,
    /// Categories.
    pub categories: Vec<FindingCategory>,
    /// Types.
    pub types: Vec<String>,
    /// Lowest severity.
    pub min_severity: Option<Severity>,
    /// Detectors.
    pub detectors: Vec<String>,
    /// Kinds a finding is about.
    pub on: Vec<EventKind>,
    /// Users.
    pub users: Vec<String>,
    /// Roles.
    pub roles: Vec<String>,
    /// Models.
    pub models: Vec<String>,
    /// Providers.
    pub providers: Vec<String>,
    /// Tools.
    pub tools: Vec<String>,
    /// Statuses.
    pub statuses: Vec<String>,
    /// Decisions.
    pub decisions: Vec<String>,
}

fn any<T: PartialEq + ?Sized, U: AsRef<T>>(set: &[U], v: Option<&T>) -> bool {
    set.is_empty() || v.is_some_and(|v| set.iter().any(|s| s.as_ref() == v))
}

impl Matcher {
    /// Tells whether the event matches.
    #[must_use]
    pub fn matches(&self, v: &View<'_>) -> bool {
        (self.kinds.is_empty() || v.kind.is_some_and(|k| self.kinds.contains(&k)))
            && (self.categories.is_empty()
                || v.category.is_some_and(|c| self.categories.contains(&c)))
            && (self.on.is_empty() || v.on.is_some_and(|k| self.on.contains(&k)))
            && self
                .min_severity
                .is_none_or(|min| v.severity.is_some_and(|s| s >= min))
            && any::<str, _>(&self.types, v.finding_type)
            && any::<str, _>(&self.detectors, v.detector)
            && any::<str, _>(&self.users, v.user)
            && any::<str, _>(&self.roles, v.role)
            && any::<str, _>(&self.models, v.model)
            && any::<str, _>(&self.providers, v.provider)
            && any::<str, _>(&self.tools, v.tool)
            && any::<str, _>(&self.statuses, v.status)
            && any::<str, _>(&self.decisions, v.decision)
    }
}

/// A rule firing: the group, the supporting events, and a content-free explanation.
#[derive(Debug, Clone)]
pub struct Fire {
    /// Rule id.
    pub rule_id: String,
    /// Group key.
    pub group: String,
    /// Evidence event ids, oldest first.
    pub evidence: Vec<Uuid>,
    /// Why, without content (counts, windows, names).
    pub reason: String,
}

/// The running state of the threshold and sequence rules.
#[derive(Debug, Default)]
pub struct RuleState {
    windows: HashMap<(usize, String), VecDeque<(i64, Uuid)>>,
    firsts: HashMap<(usize, String), VecDeque<(i64, Uuid)>>,
    sweeps: u64,
}

impl RuleState {
    /// Feeds one event (time `t` in ms) to every rule; pushes what fires to `out`.
    pub fn observe(&mut self, rules: &[Rule], v: &View<'_>, id: Uuid, t: i64, out: &mut Vec<Fire>) {
        for (i, rule) in rules.iter().enumerate() {
            if !rule.enabled {
                continue;
            }
            match &rule.trigger {
                Trigger::Threshold {
                    matcher,
                    count,
                    window_ms,
                } => {
                    if !matcher.matches(v) {
                        continue;
                    }
                    let Some(group) = v.group(&rule.group_by) else {
                        continue;
                    };
                    let q = self.windows.entry((i, group.clone())).or_default();
                    q.push_back((t, id));
                    while q.front().is_some_and(|(ts, _)| *ts < t - window_ms) {
                        q.pop_front();
                    }
                    let keep = (*count as usize).max(64);
                    while q.len() > keep {
                        q.pop_front();
                    }
                    if q.len() >= *count as usize {
                        out.push(Fire {
                            rule_id: rule.id.clone(),
                            group,
                            evidence: q.iter().map(|(_, id)| *id).collect(),
                            reason: format!(
                                "{} matching events within {}",
                                q.len(),
                                human(*window_ms)
                            ),
                        });
                    }
                }
                Trigger::Sequence {
                    first,
                    then,
                    within_ms,
                } => {
                    let is_first = first.iter().any(|m| m.matches(v));
                    let is_then = then.iter().any(|m| m.matches(v));
                    if !is_first && !is_then {
                        continue;
                    }
                    let Some(group) = v.group(&rule.group_by) else {
                        continue;
                    };
                    let key = (i, group);
                    if is_then && let Some(q) = self.firsts.get_mut(&key) {
                        while q.front().is_some_and(|(ts, _)| *ts < t - within_ms) {
                            q.pop_front();
                        }
                        if !q.is_empty() {
                            let mut evidence: Vec<Uuid> = q.iter().map(|(_, id)| *id).collect();
                            evidence.push(id);
                            out.push(Fire {
                                rule_id: rule.id.clone(),
                                group: key.1.clone(),
                                evidence,
                                reason: format!(
                                    "{} first-step events followed by a completing event within {}",
                                    q.len(),
                                    human(*within_ms)
                                ),
                            });
                        }
                    }
                    if is_first {
                        let q = self.firsts.entry(key).or_default();
                        q.push_back((t, id));
                        while q.front().is_some_and(|(ts, _)| *ts < t - within_ms) {
                            q.pop_front();
                        }
                        while q.len() > 64 {
                            q.pop_front();
                        }
                    }
                }
                Trigger::Analytic => {}
            }
        }
        self.sweeps += 1;
        if self.sweeps.is_multiple_of(4096) {
            self.sweep(rules, t);
        }
    }

    /// Drops groups whose entries all left their window.
    fn sweep(&mut self, rules: &[Rule], t: i64) {
        let span = |i: usize| match rules.get(i).map(|r| &r.trigger) {
            Some(Trigger::Threshold { window_ms, .. }) => *window_ms,
            Some(Trigger::Sequence { within_ms, .. }) => *within_ms,
            _ => 0,
        };
        self.windows
            .retain(|(i, _), q| q.back().is_some_and(|(ts, _)| *ts >= t - span(*i)));
        self.firsts
            .retain(|(i, _), q| q.back().is_some_and(|(ts, _)| *ts >= t - span(*i)));
    }

    /// Groups currently held (for tests and statistics).
    #[must_use]
    pub fn groups(&self) -> usize {
        self.windows.len() + self.firsts.len()
    }
}

/// Formats milliseconds as `10m`, `2h`, `90s`.
#[must_use]
pub fn human(ms: i64) -> String {
    if ms % 86_400_000 == 0 {
        format!("{}d", ms / 86_400_000)
    } else if ms % 3_600_000 == 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}s", ms / 1000)
    }
}

fn finding(categories: &[FindingCategory]) -> Matcher {
    Matcher {
        kinds: vec![EventKind::Finding],
        categories: categories.to_vec(),
        ..Matcher::default()
    }
}

/// Ids and metadata of the analytic rules (raised by [`crate::behaviour`] and
/// [`crate::drift`]); their thresholds are in `[alerts.behaviour]` and `[alerts.drift]`.
pub const ANALYTICS: &[(&str, &str, Severity)] = &[
    (
        "behaviour.volume_spike",
        "Request volume far above this actor's baseline",
        Severity::High,
    ),
    (
        "behaviour.token_spike",
        "Token volume far above this actor's baseline",
        Severity::Medium,
    ),
    (
        "behaviour.off_hours",
        "Activity outside business hours and this actor's usual hours",
        Severity::Medium,
    ),
    (
        "behaviour.new_source_ip",
        "Request from a source address never seen for this actor",
        Severity::Low,
    ),
    (
        "behaviour.new_country",
        "Request from a country or network never seen for this actor",
        Severity::High,
    ),
    (
        "behaviour.new_tool",
        "Tool never used before by this actor",
        Severity::Low,
    ),
    (
        "behaviour.sensitive_output_share",
        "Rising share of outputs with personal data or secrets",
        Severity::High,
    ),
    (
        "drift.latency",
        "Model latency drifted above its baseline",
        Severity::Medium,
    ),
    (
        "drift.error_rate",
        "Model error rate drifted above its baseline",
        Severity::High,
    ),
    (
        "drift.refusal_rate",
        "Model refusal rate drifted above its baseline",
        Severity::Medium,
    ),
    (
        "drift.output_length",
        "Model output length drifted from its baseline",
        Severity::Low,
    ),
];

/// The analytic rules alone (when `builtin_rules = false`).
#[must_use]
pub fn analytics(dedup_ms: i64) -> Vec<Rule> {
    ANALYTICS
        .iter()
        .map(|(id, title, severity)| Rule {
            id: (*id).into(),
            title: (*title).into(),
            severity: *severity,
            enabled: true,
            group_by: Vec::new(),
            trigger: Trigger::Analytic,
            dedup_ms,
            respond: Vec::new(),
        })
        .collect()
}

/// The built-in rules: detection rules, then the analytic ones.
#[must_use]
pub fn builtin(dedup_ms: i64) -> Vec<Rule> {
    use FindingCategory as C;
    let rule = |id: &str, title: &str, severity, group_by: Vec<GroupField>, trigger| Rule {
        id: id.into(),
        title: title.into(),
        severity,
        enabled: true,
        group_by,
        trigger,
        dedup_ms,
        respond: Vec::<Action>::new(),
    };
    let mut out = vec![
        rule(
            "injection-campaign",
            "Prompt-injection campaign from one user",
            Severity::High,
            vec![GroupField::User],
            Trigger::Threshold {
                matcher: finding(&[C::PromptInjection, C::Jailbreak]),
                count: 5,
                window_ms: 600_000,
            },
        ),
        rule(
            "secret-in-output",
            "Secret leaked in a model output",
            Severity::Critical,
            vec![GroupField::User],
            Trigger::Threshold {
                matcher: Matcher {
                    on: vec![EventKind::LlmResponse],
                    ..finding(&[C::Secret])
                },
                count: 1,
                window_ms: 600_000,
            },
        ),
        rule(
            "exfil-after-injection",
            "Exfiltration or a blocked tool call after a prompt injection",
            Severity::Critical,
            vec![GroupField::Session],
            Trigger::Sequence {
                first: vec![finding(&[C::PromptInjection])],
                then: vec![
                    finding(&[C::Exfiltration]),
                    Matcher {
                        kinds: vec![EventKind::ToolCall],
                        statuses: vec!["blocked".into()],
                        ..Matcher::default()
                    },
                ],
                within_ms: 900_000,
            },
        ),
        rule(
            "critical-tool-risk",
            "Critical tool risk",
            Severity::Critical,
            vec![GroupField::User],
            Trigger::Threshold {
                matcher: Matcher {
                    min_severity: Some(Severity::Critical),
                    ..finding(&[C::ToolRisk])
                },
                count: 1,
                window_ms: 600_000,
            },
        ),
        rule(
            "system-prompt-leak",
            "System prompt or canary disclosed",
            Severity::High,
            vec![GroupField::User],
            Trigger::Threshold {
                matcher: finding(&[C::SystemPromptLeak]),
                count: 1,
                window_ms: 600_000,
            },
        ),
    ];
    out.extend(analytics(dedup_ms));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use llmtrail_core::{Finding, ToolCall, ToolStatus};

    use super::*;

    fn finding_event(user: &str, session: &str, c: FindingCategory, t: i64) -> Event {
        let mut e = Event::new(Finding {
            event_id: Uuid::now_v7(),
            category: c,
            finding_type: "x".into(),
            severity: Severity::High,
            confidence: None,
            detector: "test".into(),
            rule_id: None,
            location: None,
            preview: None,
            owasp: None,
            atlas: None,
        });
        e.actor.user = Some(user.into());
        e.actor.session = Some(session.into());
        e.time = jiff::Timestamp::from_millisecond(t).unwrap();
        e
    }

    fn feed(state: &mut RuleState, rules: &[Rule], e: &Event) -> Vec<Fire> {
        let mut out = Vec::new();
        state.observe(
            rules,
            &View::of(e, None),
            e.id,
            e.time.as_millisecond(),
            &mut out,
        );
        out
    }

    #[test]
    fn threshold_counts_per_group_within_the_window() {
        let rules = builtin(3_600_000);
        let mut s = RuleState::default();
        let min = 60_000;
        // Four from alice and four from bob in ten minutes: no campaign.
        for i in 0..4 {
            assert!(
                feed(
                    &mut s,
                    &rules,
                    &finding_event("alice", "s1", FindingCategory::PromptInjection, i * min)
                )
                .is_empty()
            );
            assert!(
                feed(
                    &mut s,
                    &rules,
                    &finding_event("bob", "s2", FindingCategory::Jailbreak, i * min)
                )
                .is_empty()
            );
        }
        // Alice's fifth within the window fires, with five pieces of evidence.
        let fires = feed(
            &mut s,
            &rules,
            &finding_event("alice", "s1", FindingCategory::PromptInjection, 5 * min),
        );
        assert_eq!(fires.len(), 1);
        assert_eq!(fires[0].group, "user=alice");
        assert_eq!(fires[0].evidence.len(), 5);
        // Bob's fifth comes after his first left the window: nothing.
        assert!(
            feed(
                &mut s,
                &rules,
                &finding_event("bob", "s2", FindingCategory::Jailbreak, 11 * min)
            )
            .is_empty()
        );
    }

    #[test]
    fn sequence_needs_order_session_and_time() {
        let rules = builtin(3_600_000);
        let mut s = RuleState::default();
        let min = 60_000;
        // Exfiltration before any injection: nothing.
        assert!(
            feed(
                &mut s,
                &rules,
                &finding_event("a", "s1", FindingCategory::Exfiltration, 0)
            )
            .is_empty()
        );
        feed(
            &mut s,
            &rules,
            &finding_event("a", "s1", FindingCategory::PromptInjection, min),
        );
        // Another session: nothing.
        assert!(
            feed(
                &mut s,
                &rules,
                &finding_event("a", "s2", FindingCategory::Exfiltration, 2 * min)
            )
            .is_empty()
        );
        // A blocked tool call in the same session within 15 minutes: fires.
        let mut call = Event::new(ToolCall::new("send_mail", ToolStatus::Blocked));
        call.actor.session = Some("s1".into());
        call.time = jiff::Timestamp::from_millisecond(3 * min).unwrap();
        let fires = feed(&mut s, &rules, &call);
        assert_eq!(fires.len(), 1);
        assert_eq!(fires[0].rule_id, "exfil-after-injection");
        assert_eq!(fires[0].evidence.len(), 2);
        // Twenty minutes later the injection is out of reach.
        assert!(
            feed(
                &mut s,
                &rules,
                &finding_event("a", "s1", FindingCategory::Exfiltration, 20 * min)
            )
            .is_empty()
        );
    }

    #[test]
    fn secret_rule_needs_an_output() {
        let rules = builtin(3_600_000);
        let mut s = RuleState::default();
        let e = finding_event("a", "s", FindingCategory::Secret, 0);
        let mut out = Vec::new();
        let input = Meta {
            kind: Some(EventKind::LlmRequest),
            ..Meta::default()
        };
        s.observe(&rules, &View::of(&e, Some(&input)), e.id, 0, &mut out);
        assert!(out.is_empty());
        let output = Meta {
            kind: Some(EventKind::LlmResponse),
            ..Meta::default()
        };
        s.observe(&rules, &View::of(&e, Some(&output)), e.id, 0, &mut out);
        assert_eq!(out[0].rule_id, "secret-in-output");
    }

    #[test]
    fn idle_groups_are_swept() {
        let rules = builtin(3_600_000);
        let mut s = RuleState::default();
        for i in 0..5000 {
            let e = finding_event(
                &format!("u{i}"),
                "s",
                FindingCategory::PromptInjection,
                i * 1000,
            );
            feed(&mut s, &rules, &e);
        }
        // Only the last ten minutes of users are still held (plus the sequence firsts).
        assert!(s.groups() < 2 * 1300, "{}", s.groups());
    }
}
