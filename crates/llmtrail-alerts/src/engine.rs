//! The engine: events in, `alert` and `audit` events out.
//!
//! Contract:
//! - [`Engine::observe`] takes one event and the current time and returns the events to
//!   append: a new `alert` (state `open`, evidence ids, tags `llmtrail.alert.group` and
//!   `llmtrail.routes`), an update of an open alert (same `alert_id`, the new evidence only),
//!   and one `audit` event (`alert.response`) per playbook step taken. Windows use the events'
//!   own times; alert events, blocks and holds use `now`.
//! - Deduplication: one alert per rule and group while it is open or acknowledged and the rule
//!   fired within its dedup window; further evidence is sent as updates when the evidence
//!   count doubles (so a campaign of 1,000 findings is about ten updates, not 1,000 alerts).
//! - [`Engine::learn`] replays history (the ledger at startup): it learns baselines and windows
//!   and applies `alert` and `audit` events, but raises nothing. Alerts, their states and
//!   active blocks and holds are therefore rebuilt from the ledger alone.
//! - `alert` events are never matched by rules (no alert loops); a `closed` state change lifts
//!   the blocks and holds its alert caused.
//! - Nothing here reads content: titles and reasons carry names, counts and times only.

use std::collections::{HashMap, HashSet, VecDeque};

use jiff::Timestamp;
use llmtrail_core::{
    Actor, Alert, AlertState, Audit, AuditOutcome, Body, Event, EventKind, FindingCategory,
    Severity,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::behaviour::{Profiles, Signal};
use crate::config::{Action, AlertsConfig, routes_for};
use crate::drift::Drift;
use crate::geo::Geo;
use crate::rules::{Fire, Meta, RuleState, View};

/// Tag holding an alert's group key.
pub const GROUP_TAG: &str = "llmtrail.alert.group";
/// Tag holding the sinks an alert is routed to, comma-separated.
pub const ROUTES_TAG: &str = "llmtrail.routes";
/// Audit action of a playbook step.
pub const RESPONSE_ACTION: &str = "alert.response";
/// `by` of the engine's own alert events.
pub const ENGINE: &str = "llmtrail-alerts";

const MAX_RECENT: usize = 200_000;
const MAX_ALERTS: usize = 100_000;
const MAX_EVIDENCE: usize = 1_000;

/// One alert as its events describe it so far.
#[derive(Debug, Clone)]
pub struct AlertRecord {
    /// Id shared by its events.
    pub alert_id: Uuid,
    /// Rule.
    pub rule_id: String,
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Current state.
    pub state: AlertState,
    /// Group key.
    pub group: String,
    /// When it was raised.
    pub created: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
    /// Evidence event ids (the first 1,000).
    pub evidence: Vec<Uuid>,
    /// Its own events, oldest first.
    pub events: Vec<Uuid>,
    /// Who made the last state change.
    pub by: Option<String>,
    /// Why (last reason given).
    pub reason: Option<String>,
    /// Actor of the triggering event.
    pub actor: Actor,
    /// Sinks it was routed to.
    pub routes: Vec<String>,
    /// Playbook steps taken, e.g. `block_user alice until …`.
    pub responses: Vec<String>,
}

/// A block or hold in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    /// End (ms since the epoch).
    pub until_ms: i64,
    /// Alert that caused it.
    pub alert_id: Uuid,
    /// Its rule.
    pub rule_id: String,
}

/// Blocks and holds in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restrictions {
    /// Blocked virtual keys.
    pub keys: HashMap<String, Restriction>,
    /// Blocked users.
    pub users: HashMap<String, Restriction>,
    /// Users whose tool calls are held for approval.
    pub held: HashMap<String, Restriction>,
}

impl Restrictions {
    /// Returns why a request by this user or key is refused at `now_ms`: `("user"|"key",
    /// restriction)`.
    #[must_use]
    pub fn blocked(
        &self,
        user: Option<&str>,
        key: Option<&str>,
        now_ms: i64,
    ) -> Option<(&'static str, &Restriction)> {
        let live = |r: &&Restriction| r.until_ms > now_ms;
        key.and_then(|k| self.keys.get(k))
            .filter(live)
            .map(|r| ("key", r))
            .or_else(|| {
                user.and_then(|u| self.users.get(u))
                    .filter(live)
                    .map(|r| ("user", r))
            })
    }

    /// Returns the hold on this user's tool calls at `now_ms`.
    #[must_use]
    pub fn held(&self, user: Option<&str>, now_ms: i64) -> Option<&Restriction> {
        user.and_then(|u| self.held.get(u))
            .filter(|r| r.until_ms > now_ms)
    }

    fn map(&mut self, what: &str) -> Option<&mut HashMap<String, Restriction>> {
        match what {
            "block_key" => Some(&mut self.keys),
            "block_user" => Some(&mut self.users),
            "hold_tools" => Some(&mut self.held),
            _ => None,
        }
    }

    fn lift(&mut self, alert_id: Uuid) -> bool {
        let before = self.keys.len() + self.users.len() + self.held.len();
        for m in [&mut self.keys, &mut self.users, &mut self.held] {
            m.retain(|_, r| r.alert_id != alert_id);
        }
        before != self.keys.len() + self.users.len() + self.held.len()
    }

    fn prune(&mut self, now_ms: i64) {
        for m in [&mut self.keys, &mut self.users, &mut self.held] {
            m.retain(|_, r| r.until_ms > now_ms);
        }
    }
}

#[derive(Debug)]
struct Open {
    alert_id: Uuid,
    last_ms: i64,
    count: usize,
    next_update: usize,
    pending: Vec<Uuid>,
}

/// The alert engine (synchronous; the caller owns threads and queues).
#[derive(Debug)]
pub struct Engine {
    cfg: AlertsConfig,
    rules: RuleState,
    profiles: Profiles,
    drift: Drift,
    recent: HashMap<Uuid, Meta>,
    recent_order: VecDeque<Uuid>,
    sensitive_counted: HashSet<Uuid>,
    open: HashMap<(String, String), Open>,
    alerts: HashMap<Uuid, AlertRecord>,
    alert_order: VecDeque<Uuid>,
    restrictions: Restrictions,
    version: u64,
    seen: u64,
}

impl Engine {
    /// Builds the engine; `geo` is the opened `behaviour.geoip_db`, if any.
    #[must_use]
    pub fn new(cfg: AlertsConfig, geo: Option<Geo>) -> Engine {
        Engine {
            rules: RuleState::default(),
            profiles: Profiles::new(cfg.behaviour.clone(), geo),
            drift: Drift::new(cfg.drift.clone()),
            cfg,
            recent: HashMap::new(),
            recent_order: VecDeque::new(),
            sensitive_counted: HashSet::new(),
            open: HashMap::new(),
            alerts: HashMap::new(),
            alert_order: VecDeque::new(),
            restrictions: Restrictions::default(),
            version: 0,
            seen: 0,
        }
    }

    /// Returns the configuration.
    #[must_use]
    pub fn config(&self) -> &AlertsConfig {
        &self.cfg
    }

    /// Feeds one live event; returns the `alert` and `audit` events to append.
    pub fn observe(&mut self, event: &Event, now: Timestamp) -> Vec<Event> {
        let mut out = Vec::new();
        self.process(event, now, Some(&mut out));
        out
    }

    /// Feeds one event of the history: learns, applies alert and audit events, raises
    /// nothing.
    pub fn learn(&mut self, event: &Event) {
        self.process(event, event.time, None);
    }

    /// Alerts known, oldest first.
    pub fn alerts(&self) -> impl DoubleEndedIterator<Item = &AlertRecord> {
        self.alert_order.iter().filter_map(|id| self.alerts.get(id))
    }

    /// One alert.
    #[must_use]
    pub fn alert(&self, id: &Uuid) -> Option<&AlertRecord> {
        self.alerts.get(id)
    }

    /// Blocks and holds (some may have expired; check with the current time).
    #[must_use]
    pub fn restrictions(&self) -> &Restrictions {
        &self.restrictions
    }

    /// Changes whenever [`Engine::restrictions`] does.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    fn remember(&mut self, id: Uuid, meta: Meta) {
        if self.recent.insert(id, meta).is_none() {
            self.recent_order.push_back(id);
        }
        while self.recent_order.len() > MAX_RECENT {
            if let Some(old) = self.recent_order.pop_front() {
                self.recent.remove(&old);
                self.sensitive_counted.remove(&old);
            }
        }
    }

    fn process(&mut self, event: &Event, now: Timestamp, out: Option<&mut Vec<Event>>) {
        self.seen += 1;
        if self.seen.is_multiple_of(10_000) {
            let now_ms = now.as_millisecond();
            let before = self.restrictions.clone();
            self.restrictions.prune(now_ms);
            if before != self.restrictions {
                self.version += 1;
            }
            // An alert that stopped firing longer ago than any dedup window can no longer be
            // updated: its entry goes (the alert itself stays, with its state).
            let longest = self.cfg.rules.iter().map(|r| r.dedup_ms).max().unwrap_or(0);
            self.open
                .retain(|_, o| now_ms.saturating_sub(o.last_ms) <= longest);
        }
        let about_id = match &event.body {
            Body::Alert(a) => {
                self.apply_alert(event, a);
                return;
            }
            Body::Audit(a) => {
                self.apply_audit(a);
                return;
            }
            Body::Finding(f) => Some(f.event_id),
            Body::LlmResponse(r) => r.request_id,
            Body::ToolCall(t) => t.request_id,
            Body::LlmRequest(_) => None,
        };
        let about = about_id.and_then(|id| self.recent.get(&id)).cloned();
        let meta = match &event.body {
            Body::LlmRequest(r) => Some(Meta {
                kind: Some(EventKind::LlmRequest),
                provider: Some(r.provider.clone()),
                model: Some(r.model.clone()),
                tool: None,
            }),
            Body::LlmResponse(r) => Some(Meta {
                kind: Some(EventKind::LlmResponse),
                provider: about.as_ref().and_then(|m| m.provider.clone()),
                model: about
                    .as_ref()
                    .and_then(|m| m.model.clone())
                    .or_else(|| r.response_model.clone()),
                tool: None,
            }),
            Body::ToolCall(t) => Some(Meta {
                kind: Some(EventKind::ToolCall),
                tool: Some(t.name.clone()),
                ..Meta::default()
            }),
            _ => None,
        };
        let t = event.time.as_millisecond();
        let mut fires = Vec::new();
        let mut signals = Vec::new();
        {
            let view_meta = match &event.body {
                Body::LlmResponse(_) => meta.as_ref(),
                _ => about.as_ref(),
            };
            let view = View::of(event, view_meta);
            self.rules
                .observe(&self.cfg.rules, &view, event.id, t, &mut fires);
        }
        let sensitive = match (&event.body, &about) {
            (Body::Finding(f), Some(m))
                if m.kind == Some(EventKind::LlmResponse)
                    && matches!(f.category, FindingCategory::Pii | FindingCategory::Secret) =>
            {
                self.sensitive_counted.insert(f.event_id)
            }
            _ => false,
        };
        self.profiles.observe(event, sensitive, &mut signals);
        let mut drift = Vec::new();
        if let (Body::LlmResponse(r), Some(m)) = (&event.body, &meta) {
            self.drift.observe(
                m.provider.as_deref().unwrap_or("unknown"),
                m.model.as_deref().unwrap_or("unknown"),
                event.id,
                r,
                &mut drift,
            );
        }
        if let Some(m) = meta {
            self.remember(event.id, m);
        }
        let Some(out) = out else {
            return;
        };
        for f in fires {
            self.raise(f, event, true, now, out);
        }
        for s in signals {
            self.raise(from_signal(s), event, true, now, out);
        }
        for s in drift {
            self.raise(from_signal(s), event, false, now, out);
        }
    }

    fn raise(
        &mut self,
        fire: Fire,
        trigger: &Event,
        with_actor: bool,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) {
        let Some(rule) = self.cfg.rule(&fire.rule_id).cloned() else {
            return;
        };
        if !rule.enabled {
            return;
        }
        let now_ms = now.as_millisecond();
        let key = (fire.rule_id.clone(), fire.group.clone());
        if let Some(open) = self.open.get_mut(&key)
            && now_ms - open.last_ms <= rule.dedup_ms
            && let Some(record) = self.alerts.get_mut(&open.alert_id)
            && record.state != AlertState::Closed
        {
            open.last_ms = now_ms;
            let known: HashSet<&Uuid> = record.evidence.iter().chain(&open.pending).collect();
            let new: Vec<Uuid> = fire
                .evidence
                .iter()
                .filter(|id| !known.contains(id))
                .copied()
                .collect();
            open.count += new.len();
            open.pending.extend(new);
            if open.count >= open.next_update && !open.pending.is_empty() {
                open.next_update = open.count * 2;
                let evidence: Vec<Uuid> = std::mem::take(&mut open.pending);
                let mut ev = Event::new(Alert {
                    alert_id: record.alert_id,
                    rule_id: record.rule_id.clone(),
                    title: record.title.clone(),
                    severity: record.severity,
                    state: record.state,
                    evidence: evidence.clone(),
                    by: Some(ENGINE.into()),
                    reason: Some(fire.reason.clone()),
                });
                ev.time = now;
                ev.actor = record.actor.clone();
                ev.tags.insert(GROUP_TAG.into(), record.group.clone());
                record.updated = now;
                record.events.push(ev.id);
                let room = MAX_EVIDENCE.saturating_sub(record.evidence.len());
                record.evidence.extend(evidence.into_iter().take(room));
                out.push(ev);
            }
            return;
        }
        let alert_id = Uuid::now_v7();
        let mut routes: Vec<String> = routes_for(&self.cfg, rule.severity).to_vec();
        for a in &rule.respond {
            if let Action::Notify(r) = a {
                for s in r {
                    if !routes.contains(s) {
                        routes.push(s.clone());
                    }
                }
            }
        }
        let actor = if with_actor {
            trigger.actor.clone()
        } else {
            Actor::default()
        };
        let mut ev = Event::new(Alert {
            alert_id,
            rule_id: rule.id.clone(),
            title: rule.title.clone(),
            severity: rule.severity,
            state: AlertState::Open,
            evidence: fire.evidence.clone(),
            by: Some(ENGINE.into()),
            reason: Some(fire.reason.clone()),
        });
        ev.time = now;
        ev.actor = actor.clone();
        ev.tags.insert(GROUP_TAG.into(), fire.group.clone());
        if !routes.is_empty() {
            ev.tags.insert(ROUTES_TAG.into(), routes.join(","));
        }
        let count = fire.evidence.len();
        self.record_new(&ev, alert_id, &rule.id, &fire.group, routes);
        self.open.insert(
            key,
            Open {
                alert_id,
                last_ms: now_ms,
                count,
                next_update: (count * 2).max(2),
                pending: Vec::new(),
            },
        );
        let alert_event_id = ev.id;
        out.push(ev);
        for action in &rule.respond {
            let (what, subject, ms) = match action {
                Action::BlockKey(ms) => ("block_key", actor.api_key_id.clone(), *ms),
                Action::BlockUser(ms) => ("block_user", actor.user.clone(), *ms),
                Action::HoldTools(ms) => ("hold_tools", actor.user.clone(), *ms),
                Action::Notify(_) => continue,
            };
            let Some(subject) = subject else {
                // Nothing to block: the triggering event names no such actor. Say so in the
                // ledger rather than silently.
                let mut audit = Audit::new(RESPONSE_ACTION, AuditOutcome::Error);
                audit.target = Some(alert_event_id.to_string());
                audit.reason = Some(format!("{what}: the alert names no {what} subject"));
                audit.details = response_details(what, None, None, alert_id, &rule.id);
                let mut a = Event::new(audit);
                a.time = now;
                out.push(a);
                continue;
            };
            let until = Timestamp::from_millisecond(now_ms.saturating_add(ms)).unwrap_or(now);
            let mut audit = Audit::new(RESPONSE_ACTION, AuditOutcome::Success);
            audit.target = Some(alert_event_id.to_string());
            audit.reason = Some(format!("playbook of rule {}", rule.id));
            audit.details = response_details(what, Some(&subject), Some(until), alert_id, &rule.id);
            self.apply_audit(&audit);
            let mut a = Event::new(audit);
            a.time = now;
            out.push(a);
        }
    }

    fn record_new(
        &mut self,
        ev: &Event,
        alert_id: Uuid,
        rule_id: &str,
        group: &str,
        routes: Vec<String>,
    ) {
        let Body::Alert(a) = &ev.body else {
            return;
        };
        let record = AlertRecord {
            alert_id,
            rule_id: rule_id.to_owned(),
            title: a.title.clone(),
            severity: a.severity,
            state: a.state,
            group: group.to_owned(),
            created: ev.time,
            updated: ev.time,
            evidence: a.evidence.iter().take(MAX_EVIDENCE).copied().collect(),
            events: vec![ev.id],
            by: a.by.clone(),
            reason: a.reason.clone(),
            actor: ev.actor.clone(),
            routes,
            responses: Vec::new(),
        };
        self.alerts.insert(alert_id, record);
        self.alert_order.push_back(alert_id);
        while self.alert_order.len() > MAX_ALERTS {
            if let Some(old) = self.alert_order.pop_front() {
                self.alerts.remove(&old);
            }
        }
    }

    /// Applies an `alert` event (the engine's own coming back, one from history, or a state
    /// change made through the API). Idempotent.
    fn apply_alert(&mut self, event: &Event, a: &Alert) {
        let group = event.tags.get(GROUP_TAG).cloned().unwrap_or_default();
        if let Some(r) = self.alerts.get_mut(&a.alert_id) {
            if r.events.contains(&event.id) {
                return;
            }
            r.events.push(event.id);
            r.updated = r.updated.max(event.time);
            for id in &a.evidence {
                if r.evidence.len() < MAX_EVIDENCE && !r.evidence.contains(id) {
                    r.evidence.push(*id);
                }
            }
            if a.state != r.state {
                r.state = a.state;
                r.by.clone_from(&a.by);
                r.reason.clone_from(&a.reason);
            }
        } else {
            let routes = event
                .tags
                .get(ROUTES_TAG)
                .map(|s| s.split(',').map(str::to_owned).collect())
                .unwrap_or_default();
            self.record_new(event, a.alert_id, &a.rule_id, &group, routes);
            if a.state != AlertState::Closed && !group.is_empty() {
                let count = a.evidence.len();
                self.open.insert(
                    (a.rule_id.clone(), group),
                    Open {
                        alert_id: a.alert_id,
                        last_ms: event.time.as_millisecond(),
                        count,
                        next_update: (count * 2).max(2),
                        pending: Vec::new(),
                    },
                );
            }
        }
        if a.state == AlertState::Closed {
            self.open.retain(|_, o| o.alert_id != a.alert_id);
            if self.restrictions.lift(a.alert_id) {
                self.version += 1;
            }
        }
    }

    /// Applies an `alert.response` audit event: the block or hold it records.
    fn apply_audit(&mut self, a: &Audit) {
        if a.action != RESPONSE_ACTION || a.outcome != AuditOutcome::Success {
            return;
        }
        let d = &a.details;
        let (Some(what), Some(subject), Some(until), Some(alert_id), Some(rule_id)) = (
            d.get("response").and_then(Value::as_str),
            d.get("subject").and_then(Value::as_str),
            d.get("until")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<Timestamp>().ok()),
            d.get("alert_id")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<Uuid>().ok()),
            d.get("rule_id").and_then(Value::as_str),
        ) else {
            return;
        };
        if self
            .alerts
            .get(&alert_id)
            .is_some_and(|r| r.state == AlertState::Closed)
        {
            return;
        }
        if let Some(r) = self.alerts.get_mut(&alert_id) {
            let line = format!("{what} {subject} until {until}");
            if !r.responses.contains(&line) {
                r.responses.push(line);
            }
        }
        let Some(map) = self.restrictions.map(what) else {
            return;
        };
        let until_ms = until.as_millisecond();
        let entry = map.entry(subject.to_owned()).or_insert(Restriction {
            until_ms: i64::MIN,
            alert_id,
            rule_id: rule_id.to_owned(),
        });
        if until_ms > entry.until_ms {
            *entry = Restriction {
                until_ms,
                alert_id,
                rule_id: rule_id.to_owned(),
            };
            self.version += 1;
        }
    }
}

fn from_signal(s: Signal) -> Fire {
    Fire {
        rule_id: s.rule_id.to_owned(),
        group: s.group,
        evidence: vec![s.evidence],
        reason: s.reason,
    }
}

fn response_details(
    what: &str,
    subject: Option<&str>,
    until: Option<Timestamp>,
    alert_id: Uuid,
    rule_id: &str,
) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("response".into(), json!(what));
    if let Some(s) = subject {
        m.insert("subject".into(), json!(s));
    }
    if let Some(u) = until {
        m.insert("until".into(), json!(u.to_string()));
    }
    m.insert("alert_id".into(), json!(alert_id));
    m.insert("rule_id".into(), json!(rule_id));
    m
}

/// Builds the `alert` event of a state change made by a person (`by`), to be appended.
#[must_use]
pub fn state_change(
    record: &AlertRecord,
    state: AlertState,
    by: &str,
    reason: Option<String>,
    now: Timestamp,
) -> Event {
    let mut ev = Event::new(Alert {
        alert_id: record.alert_id,
        rule_id: record.rule_id.clone(),
        title: record.title.clone(),
        severity: record.severity,
        state,
        evidence: Vec::new(),
        by: Some(by.to_owned()),
        reason,
    });
    ev.time = now;
    ev.tags.insert(GROUP_TAG.into(), record.group.clone());
    ev
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use llmtrail_core::{Finding, LlmRequest, LlmResponse, ResponseStatus};

    use super::*;
    use crate::config::{RawAction, RawAlerts, RawRoutes, RawRule};

    const T0: i64 = 1_764_460_800_000;

    fn config() -> AlertsConfig {
        RawAlerts {
            routes: RawRoutes {
                high: vec!["soc".into()],
                ..RawRoutes::default()
            },
            rules: vec![RawRule {
                id: "injection-campaign".into(),
                respond: Some(vec![
                    RawAction::BlockUser {
                        duration: "1h".into(),
                    },
                    RawAction::Notify {
                        routes: vec!["pager".into()],
                    },
                ]),
                ..RawRule::default()
            }],
            ..RawAlerts::default()
        }
        .validate()
        .unwrap()
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(ms).unwrap()
    }

    fn request(user: &str, ms: i64) -> Event {
        let mut e = Event::new(LlmRequest::new("openai", "gpt-4o"));
        e.actor.user = Some(user.into());
        e.actor.api_key_id = Some(format!("vk-{user}"));
        e.time = at(ms);
        e
    }

    fn injection(about: &Event) -> Event {
        let mut e = Event::new(Finding {
            event_id: about.id,
            category: FindingCategory::PromptInjection,
            finding_type: "ignore_previous".into(),
            severity: Severity::High,
            confidence: None,
            detector: "rules".into(),
            rule_id: None,
            location: None,
            preview: None,
            owasp: None,
            atlas: None,
        });
        e.actor = about.actor.clone();
        e.time = about.time;
        e
    }

    /// Runs `n` injections by `user` a minute apart from `start`; returns everything emitted.
    fn campaign(engine: &mut Engine, user: &str, start: i64, n: i64) -> Vec<Event> {
        let mut out = Vec::new();
        for i in 0..n {
            let ms = start + i * 60_000;
            let r = request(user, ms);
            out.extend(engine.observe(&r, at(ms)));
            out.extend(engine.observe(&injection(&r), at(ms)));
        }
        out
    }

    fn alerts(events: &[Event]) -> Vec<&Alert> {
        events
            .iter()
            .filter_map(|e| match &e.body {
                Body::Alert(a) => Some(a),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn campaign_raises_one_alert_routes_it_and_blocks() {
        let mut engine = Engine::new(config(), None);
        let out = campaign(&mut engine, "mallory", T0, 5);
        let raised = alerts(&out);
        assert_eq!(raised.len(), 1);
        assert_eq!(raised[0].rule_id, "injection-campaign");
        assert_eq!(raised[0].evidence.len(), 5);
        let ev = out.iter().find(|e| e.kind() == EventKind::Alert).unwrap();
        assert_eq!(ev.tags[ROUTES_TAG], "soc,pager");
        assert_eq!(ev.tags[GROUP_TAG], "user=mallory");
        assert_eq!(ev.actor.user.as_deref(), Some("mallory"));
        // The playbook step is an audit event, and the block is in force for an hour.
        let audit = out.iter().find(|e| e.kind() == EventKind::Audit).unwrap();
        let Body::Audit(a) = &audit.body else {
            unreachable!()
        };
        assert_eq!(a.details["response"], "block_user");
        let now = T0 + 5 * 60_000;
        let (what, r) = engine
            .restrictions()
            .blocked(Some("mallory"), None, now)
            .unwrap();
        assert_eq!((what, r.alert_id), ("user", raised[0].alert_id));
        assert!(
            engine
                .restrictions()
                .blocked(Some("mallory"), None, now + 3_600_001)
                .is_none()
        );
        assert!(
            engine
                .restrictions()
                .blocked(Some("alice"), None, now)
                .is_none()
        );
    }

    #[test]
    fn later_evidence_updates_instead_of_raising() {
        let mut engine = Engine::new(config(), None);
        let first = campaign(&mut engine, "mallory", T0, 5);
        let id = alerts(&first)[0].alert_id;
        let more = campaign(&mut engine, "mallory", T0 + 5 * 60_000, 20);
        let updates = alerts(&more);
        // Evidence 5 → 10 → 20: two updates, no new alert, no second playbook run.
        assert_eq!(updates.len(), 2, "{updates:?}");
        assert!(
            updates
                .iter()
                .all(|a| a.alert_id == id && a.state == AlertState::Open)
        );
        assert!(more.iter().all(|e| e.kind() != EventKind::Audit));
        assert_eq!(engine.alerts().count(), 1);
        // After the dedup window, a new campaign is a new alert.
        let later = campaign(&mut engine, "mallory", T0 + 3 * 3_600_000, 5);
        let again = alerts(&later);
        assert_eq!(again.len(), 1);
        assert_ne!(again[0].alert_id, id);
    }

    #[test]
    fn closing_lifts_the_block_and_reopens_dedup() {
        let mut engine = Engine::new(config(), None);
        let out = campaign(&mut engine, "mallory", T0, 5);
        let id = alerts(&out)[0].alert_id;
        let record = engine.alert(&id).unwrap().clone();
        let close = state_change(
            &record,
            AlertState::Closed,
            "analyst-1",
            Some("handled".into()),
            at(T0 + 6 * 60_000),
        );
        assert!(engine.observe(&close, at(T0 + 6 * 60_000)).is_empty());
        let r = engine.alert(&id).unwrap();
        assert_eq!(r.state, AlertState::Closed);
        assert_eq!(r.by.as_deref(), Some("analyst-1"));
        assert!(
            engine
                .restrictions()
                .blocked(Some("mallory"), None, T0 + 7 * 60_000)
                .is_none()
        );
        // The next injection is a fresh alert (the closed one is not updated).
        let out = campaign(&mut engine, "mallory", T0 + 7 * 60_000, 1);
        assert_eq!(alerts(&out).len(), 1);
        assert_ne!(alerts(&out)[0].alert_id, id);
    }

    #[test]
    fn replay_rebuilds_alerts_and_blocks_without_raising() {
        let mut live = Engine::new(config(), None);
        let mut ledger = Vec::new();
        for i in 0..5 {
            let ms = T0 + i * 60_000;
            let r = request("mallory", ms);
            let f = injection(&r);
            ledger.push(r.clone());
            ledger.extend(live.observe(&r, at(ms)));
            ledger.push(f.clone());
            ledger.extend(live.observe(&f, at(ms)));
        }
        let mut restarted = Engine::new(config(), None);
        for e in &ledger {
            restarted.learn(e);
        }
        assert_eq!(restarted.alerts().count(), 1);
        assert_eq!(restarted.restrictions(), live.restrictions());
        // One more injection after the restart updates (dedup), not raises.
        let out = campaign(&mut restarted, "mallory", T0 + 5 * 60_000, 1);
        assert!(
            alerts(&out)
                .iter()
                .all(|a| a.alert_id == live.alerts().next().unwrap().alert_id)
        );
    }

    #[test]
    fn drift_alerts_carry_no_actor() {
        let mut raw = RawAlerts::default();
        raw.drift.recent = 5;
        raw.drift.min_baseline = 10;
        let mut engine = Engine::new(raw.validate().unwrap(), None);
        let mut out = Vec::new();
        for i in 0..30 {
            let ms = T0 + i * 1000;
            let r = request("alice", ms);
            out.extend(engine.observe(&r, at(ms)));
            let mut resp = LlmResponse::new(ResponseStatus::Ok);
            resp.request_id = Some(r.id);
            resp.latency_ms = Some(if i < 25 { 100.0 } else { 2000.0 });
            let mut e = Event::new(resp);
            e.actor = r.actor.clone();
            e.time = at(ms);
            out.extend(engine.observe(&e, at(ms)));
        }
        let ev = out.iter().find(|e| e.kind() == EventKind::Alert).unwrap();
        let Body::Alert(a) = &ev.body else {
            unreachable!()
        };
        assert_eq!(a.rule_id, "drift.latency");
        assert_eq!(ev.tags[GROUP_TAG], "provider=openai,model=gpt-4o");
        assert!(ev.actor.is_empty());
    }
}
