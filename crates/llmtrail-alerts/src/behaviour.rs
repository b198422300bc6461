//! Behaviour analytics per user, virtual key and agent, learned from their own history.
//!
//! Each profiled actor ([`crate::config::Entity`]) keeps: hourly request and token counts for
//! `baseline_days`, an hour-of-week histogram of its requests, the source addresses,
//! countries/networks and tools it used, and daily counts of outputs and of outputs carrying PII
//! or secret findings.
//!
//! Memory is bounded: sets of addresses, networks and tools hold at most 4,096 entries each,
//! hourly counts cover `baseline_days`, and beyond [`MAX_PROFILES`] profiles the tenth idle
//! longest is forgotten (those actors start cold again).
//!
//! Cold start: nothing is raised for an actor first seen less than `min_history` ago or with
//! fewer than `min_events` requests; until then it only learns.
//!
//! Baselines are robust: the typical hour is the median of the hourly counts since the actor
//! was first seen (zeros included), its spread the scaled median absolute deviation (MAD), so a
//! few busy hours do not move them. A spike is a count above
//! `max(factor × max(median, 1), median + 6 × 1.4826 × MAD, min_hourly)`; the threshold is
//! computed once per hour and actor. Off hours: outside the configured business hours (in the
//! configured time zone) and in an hour of the week that holds less than `rare_hour_share` of
//! the actor's own requests.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use llmtrail_core::{Body, Event, FindingCategory};
use uuid::Uuid;

use crate::config::{Behaviour, Entity};
use crate::geo::Geo;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
const MAX_SET: usize = 4096;
/// Profiles kept; beyond, those idle longest are forgotten (they start cold again).
pub const MAX_PROFILES: usize = 200_000;

/// An analytic signal: which rule, which group, why, and the event behind it.
#[derive(Debug, Clone)]
pub struct Signal {
    /// Analytic rule id, e.g. `behaviour.volume_spike`.
    pub rule_id: &'static str,
    /// Group key, e.g. `user=alice`.
    pub group: String,
    /// Content-free explanation.
    pub reason: String,
    /// The event that crossed the line.
    pub evidence: Uuid,
}

#[derive(Debug, Default)]
struct Profile {
    first_ms: i64,
    last_ms: i64,
    requests: u64,
    /// Hour index → (requests, tokens).
    hours: HashMap<i64, (u32, u64)>,
    how: Vec<u32>,
    ips: HashSet<IpAddr>,
    networks: HashSet<String>,
    tools: HashSet<String>,
    /// Day index → (outputs, sensitive outputs).
    days: HashMap<i64, (u32, u32)>,
    /// Hour for which the thresholds below were computed.
    cached_hour: i64,
    request_threshold: f64,
    token_threshold: f64,
    median_requests: f64,
}

impl Profile {
    fn new(t: i64) -> Profile {
        Profile {
            first_ms: t,
            last_ms: t,
            how: vec![0; 168],
            cached_hour: i64::MIN,
            ..Profile::default()
        }
    }

    fn mature(&self, cfg: &Behaviour, t: i64) -> bool {
        t - self.first_ms >= cfg.min_history_ms && self.requests >= cfg.min_events
    }

    fn thresholds(&mut self, cfg: &Behaviour, hour: i64) {
        if self.cached_hour == hour {
            return;
        }
        self.cached_hour = hour;
        let from = (hour - cfg.baseline_hours).max(self.first_ms.div_euclid(HOUR_MS));
        let n = usize::try_from(hour - from).unwrap_or(0);
        let mut req = Vec::with_capacity(n);
        let mut tok = Vec::with_capacity(n);
        for h in from..hour {
            let (r, t) = self.hours.get(&h).copied().unwrap_or((0, 0));
            req.push(f64::from(r));
            tok.push(t as f64);
        }
        let (rm, rmad) = median_mad(&mut req);
        let (tm, tmad) = median_mad(&mut tok);
        self.median_requests = rm;
        self.request_threshold = (cfg.volume_factor * rm.max(1.0))
            .max(rm + 6.0 * 1.4826 * rmad)
            .max(cfg.min_hourly_requests as f64);
        self.token_threshold = (cfg.token_factor * tm.max(1.0))
            .max(tm + 6.0 * 1.4826 * tmad)
            .max(cfg.min_hourly_tokens as f64);
        self.hours.retain(|h, _| *h >= hour - cfg.baseline_hours);
    }
}

/// Median and median absolute deviation of `v` (reordered); `(0, 0)` when empty.
#[must_use]
pub fn median_mad(v: &mut [f64]) -> (f64, f64) {
    let med = median(v);
    let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
    (med, median(&mut dev))
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        f64::midpoint(v[n / 2 - 1], v[n / 2])
    }
}

/// The per-actor profiles.
#[derive(Debug)]
pub struct Profiles {
    cfg: Behaviour,
    geo: Option<Geo>,
    by_entity: HashMap<(Entity, String), Profile>,
}

fn entity_value(e: Entity, event: &Event) -> Option<&str> {
    match e {
        Entity::User => event.actor.user.as_deref(),
        Entity::Key => event.actor.api_key_id.as_deref(),
        Entity::Agent => event.actor.agent.as_deref(),
    }
}

impl Profiles {
    /// Starts with no history.
    #[must_use]
    pub fn new(cfg: Behaviour, geo: Option<Geo>) -> Profiles {
        Profiles {
            cfg,
            geo,
            by_entity: HashMap::new(),
        }
    }

    /// Profiled actors.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_entity.len()
    }

    /// Tells whether no actor is profiled yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_entity.is_empty()
    }

    fn business(&self, t: i64) -> bool {
        let Ok(ts) = jiff::Timestamp::from_millisecond(t) else {
            return true;
        };
        let z = ts.to_zoned(self.cfg.time_zone.clone());
        let day = usize::from(z.weekday().to_monday_zero_offset().unsigned_abs());
        let minute = u16::try_from(i32::from(z.hour()) * 60 + i32::from(z.minute())).unwrap_or(0);
        let (start, end) = self.cfg.business_minutes;
        let in_hours = if start <= end {
            minute >= start && minute < end
        } else {
            minute >= start || minute < end
        };
        in_hours && self.cfg.business_days.get(day).copied().unwrap_or(false)
    }

    fn hour_of_week(&self, t: i64) -> usize {
        let Ok(ts) = jiff::Timestamp::from_millisecond(t) else {
            return 0;
        };
        let z = ts.to_zoned(self.cfg.time_zone.clone());
        let day = usize::from(z.weekday().to_monday_zero_offset().unsigned_abs());
        day * 24 + usize::try_from(z.hour()).unwrap_or(0)
    }

    /// Feeds a request, response, tool call or finding. `sensitive_output` says whether a
    /// finding is a PII or secret finding about an output not counted before.
    pub fn observe(&mut self, event: &Event, sensitive_output: bool, out: &mut Vec<Signal>) {
        if !self.cfg.enabled {
            return;
        }
        let t = event.time.as_millisecond();
        let hour = t.div_euclid(HOUR_MS);
        let day = t.div_euclid(DAY_MS);
        let entities = self.cfg.entities.clone();
        match &event.body {
            Body::LlmRequest(_) => {
                let business = self.business(t);
                let slot = self.hour_of_week(t);
                let network = event
                    .actor
                    .source_ip
                    .and_then(|ip| self.geo.as_ref().and_then(|g| g.network(ip)));
                for e in entities {
                    let Some(name) = entity_value(e, event) else {
                        continue;
                    };
                    let cfg = &self.cfg;
                    let p = self
                        .by_entity
                        .entry((e, name.to_owned()))
                        .or_insert_with(|| Profile::new(t));
                    p.last_ms = p.last_ms.max(t);
                    let mature = p.mature(cfg, t);
                    let group = format!("{}={name}", e.as_str());
                    if mature {
                        p.thresholds(cfg, hour);
                    }
                    let bucket = p.hours.entry(hour).or_insert((0, 0));
                    bucket.0 = bucket.0.saturating_add(1);
                    let count = f64::from(bucket.0);
                    if mature && count >= p.request_threshold && count - 1.0 < p.request_threshold {
                        out.push(Signal {
                            rule_id: "behaviour.volume_spike",
                            group: group.clone(),
                            reason: format!(
                                "{} requests in this hour against a typical {:.1}{}",
                                bucket.0,
                                p.median_requests,
                                if business {
                                    ""
                                } else {
                                    ", outside business hours"
                                }
                            ),
                            evidence: event.id,
                        });
                    }
                    let share = f64::from(p.how[slot]) / (p.requests.max(1) as f64);
                    if mature && !business && share < cfg.rare_hour_share {
                        out.push(Signal {
                            rule_id: "behaviour.off_hours",
                            group: group.clone(),
                            reason: format!(
                                "request outside business hours in an hour of the week holding \
                                 {:.1}% of this actor's requests",
                                share * 100.0
                            ),
                            evidence: event.id,
                        });
                    }
                    if let Some(ip) = event.actor.source_ip
                        && !p.ips.contains(&ip)
                    {
                        if mature {
                            out.push(Signal {
                                rule_id: "behaviour.new_source_ip",
                                group: format!("{group},source_ip={ip}"),
                                reason: format!("first request from {ip} for this actor"),
                                evidence: event.id,
                            });
                        }
                        if p.ips.len() < MAX_SET {
                            p.ips.insert(ip);
                        }
                    }
                    if let Some(net) = &network
                        && !p.networks.contains(net)
                    {
                        if mature {
                            out.push(Signal {
                                rule_id: "behaviour.new_country",
                                group: format!("{group},network={net}"),
                                reason: format!("first request from {net} for this actor"),
                                evidence: event.id,
                            });
                        }
                        if p.networks.len() < MAX_SET {
                            p.networks.insert(net.clone());
                        }
                    }
                    p.how[slot] = p.how[slot].saturating_add(1);
                    p.requests += 1;
                }
            }
            Body::LlmResponse(r) => {
                let tokens = r
                    .usage
                    .map_or(0, |u| u.input_tokens.saturating_add(u.output_tokens));
                for e in entities {
                    let Some(name) = entity_value(e, event) else {
                        continue;
                    };
                    let cfg = &self.cfg;
                    let Some(p) = self.by_entity.get_mut(&(e, name.to_owned())) else {
                        continue;
                    };
                    let d = p.days.entry(day).or_insert((0, 0));
                    d.0 = d.0.saturating_add(1);
                    if tokens == 0 {
                        continue;
                    }
                    let mature = p.mature(cfg, t);
                    if mature {
                        p.thresholds(cfg, hour);
                    }
                    let bucket = p.hours.entry(hour).or_insert((0, 0));
                    let before = bucket.1 as f64;
                    bucket.1 = bucket.1.saturating_add(tokens);
                    if mature && bucket.1 as f64 >= p.token_threshold && before < p.token_threshold
                    {
                        out.push(Signal {
                            rule_id: "behaviour.token_spike",
                            group: format!("{}={name}", e.as_str()),
                            reason: format!(
                                "{} tokens in this hour against a threshold of {:.0}",
                                bucket.1, p.token_threshold
                            ),
                            evidence: event.id,
                        });
                    }
                }
            }
            Body::ToolCall(call) => {
                for e in entities {
                    let Some(name) = entity_value(e, event) else {
                        continue;
                    };
                    let cfg = &self.cfg;
                    let Some(p) = self.by_entity.get_mut(&(e, name.to_owned())) else {
                        continue;
                    };
                    if p.tools.contains(&call.name) {
                        continue;
                    }
                    if p.mature(cfg, t) && !p.tools.is_empty() {
                        out.push(Signal {
                            rule_id: "behaviour.new_tool",
                            group: format!("{}={name},tool={}", e.as_str(), call.name),
                            reason: format!("first call of tool {} by this actor", call.name),
                            evidence: event.id,
                        });
                    }
                    if p.tools.len() < MAX_SET {
                        p.tools.insert(call.name.clone());
                    }
                }
            }
            Body::Finding(f)
                if sensitive_output
                    && matches!(f.category, FindingCategory::Pii | FindingCategory::Secret) =>
            {
                for e in entities {
                    let Some(name) = entity_value(e, event) else {
                        continue;
                    };
                    let cfg = &self.cfg;
                    let Some(p) = self.by_entity.get_mut(&(e, name.to_owned())) else {
                        continue;
                    };
                    let (outputs, sensitive) = {
                        let d = p.days.entry(day).or_insert((0, 0));
                        d.1 = d.1.saturating_add(1).min(d.0.max(1));
                        *d
                    };
                    let min_days = (cfg.baseline_hours / 24).max(1);
                    p.days.retain(|k, _| *k >= day - min_days);
                    let (base_out, base_sens) = p
                        .days
                        .iter()
                        .filter(|(k, _)| **k < day)
                        .fold((0u64, 0u64), |(a, b), (_, (o, s))| {
                            (a + u64::from(*o), b + u64::from(*s))
                        });
                    if base_out < cfg.sensitive_min_outputs
                        || u64::from(outputs) < cfg.sensitive_min_outputs
                    {
                        continue;
                    }
                    let base = base_sens as f64 / base_out as f64;
                    let today = f64::from(sensitive) / f64::from(outputs);
                    let prev = f64::from(sensitive.saturating_sub(1)) / f64::from(outputs);
                    let line = base + cfg.sensitive_share_rise;
                    if today >= line && prev < line {
                        out.push(Signal {
                            rule_id: "behaviour.sensitive_output_share",
                            group: format!("{}={name}", e.as_str()),
                            reason: format!(
                                "{:.0}% of today's outputs carry PII or secrets against {:.0}% \
                                 before",
                                today * 100.0,
                                base * 100.0
                            ),
                            evidence: event.id,
                        });
                    }
                }
            }
            _ => {}
        }
        if self.by_entity.len() > MAX_PROFILES {
            self.forget_idle();
        }
    }

    /// Forgets the tenth of the profiles idle longest.
    fn forget_idle(&mut self) {
        let mut last: Vec<i64> = self.by_entity.values().map(|p| p.last_ms).collect();
        let cut = last.len() / 10;
        let (_, line, _) = last.select_nth_unstable(cut);
        let line = *line;
        self.by_entity.retain(|_, p| p.last_ms > line);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use llmtrail_core::{LlmRequest, ToolCall, ToolStatus};

    use super::*;
    use crate::config::RawBehaviour;

    fn cfg() -> Behaviour {
        let raw = RawBehaviour {
            time_zone: "Europe/Berlin".into(),
            business_hours: "08:00-18:00".into(),
            min_history: "2d".into(),
            min_events: 20,
            min_hourly_requests: 10,
            ..RawBehaviour::default()
        };
        crate::config::RawAlerts {
            behaviour: raw,
            ..crate::config::RawAlerts::default()
        }
        .validate()
        .unwrap()
        .behaviour
    }

    /// 2026-11-30 (a Monday) 00:00 UTC in ms.
    const MONDAY: i64 = 1_764_460_800_000;

    fn request(user: &str, ip: &str, t: i64) -> Event {
        let mut e = Event::new(LlmRequest::new("openai", "gpt-4o"));
        e.actor.user = Some(user.into());
        e.actor.source_ip = Some(ip.parse().unwrap());
        e.time = jiff::Timestamp::from_millisecond(t).unwrap();
        e
    }

    fn run(p: &mut Profiles, e: &Event) -> Vec<&'static str> {
        let mut out = Vec::new();
        p.observe(e, false, &mut out);
        out.iter().map(|s| s.rule_id).collect()
    }

    /// Monday to Friday, 10:00-12:00 Berlin, two requests an hour from one address.
    fn office_weeks(p: &mut Profiles) {
        for d in 0..5 {
            for h in 9..11 {
                for m in [5, 35] {
                    let t = MONDAY + d * DAY_MS + h * HOUR_MS + m * 60_000;
                    assert!(run(p, &request("alice", "10.0.0.1", t)).is_empty());
                }
            }
        }
    }

    #[test]
    fn cold_start_learns_silently() {
        let mut p = Profiles::new(cfg(), None);
        // A new user at 3 a.m. from many addresses, fifty requests in an hour: no history yet.
        for i in 0..50 {
            let e = request(
                "bob",
                &format!("10.1.0.{i}"),
                MONDAY + 2 * HOUR_MS + i * 1000,
            );
            assert!(run(&mut p, &e).is_empty());
        }
    }

    #[test]
    fn off_hours_spike_from_a_new_address() {
        let mut p = Profiles::new(cfg(), None);
        office_weeks(&mut p);
        // Saturday 03:00 Berlin, a new address, twelve requests.
        let base = MONDAY + 5 * DAY_MS + 2 * HOUR_MS;
        let first = run(&mut p, &request("alice", "203.0.113.9", base));
        assert!(first.contains(&"behaviour.off_hours"), "{first:?}");
        assert!(first.contains(&"behaviour.new_source_ip"), "{first:?}");
        let mut spikes = 0;
        for i in 1..12 {
            let s = run(&mut p, &request("alice", "203.0.113.9", base + i * 1000));
            assert!(!s.contains(&"behaviour.new_source_ip"));
            spikes += s.iter().filter(|r| **r == "behaviour.volume_spike").count();
        }
        // Crossing the threshold is one signal, not one per request.
        assert_eq!(spikes, 1);
    }

    #[test]
    fn business_hours_are_quiet() {
        let mut p = Profiles::new(cfg(), None);
        office_weeks(&mut p);
        // The next Monday 10:05 Berlin, usual address, usual rate.
        let t = MONDAY + 7 * DAY_MS + 9 * HOUR_MS + 5 * 60_000;
        assert!(run(&mut p, &request("alice", "10.0.0.1", t)).is_empty());
    }

    #[test]
    fn new_tool_after_history() {
        let mut p = Profiles::new(cfg(), None);
        office_weeks(&mut p);
        let t = MONDAY + 4 * DAY_MS + 10 * HOUR_MS;
        let mut call = Event::new(ToolCall::new("search", ToolStatus::Ok));
        call.actor.user = Some("alice".into());
        call.time = jiff::Timestamp::from_millisecond(t).unwrap();
        // The first tool an actor ever uses is not news; the second is.
        assert!(run(&mut p, &call).is_empty());
        assert!(run(&mut p, &call).is_empty());
        let mut other = call.clone();
        other.body = Body::ToolCall(ToolCall::new("shell", ToolStatus::Ok));
        assert_eq!(run(&mut p, &other), ["behaviour.new_tool"]);
    }

    #[test]
    fn new_country_needs_a_database_and_history() {
        let dir = std::env::temp_dir().join(format!("llmtrail-behaviour-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.mmdb");
        crate::geo::write_mmdb(&path, &[("10.0.0.0/8", "DE"), ("203.0.113.0/24", "NL")]).unwrap();
        let mut p = Profiles::new(cfg(), Some(Geo::open(&path).unwrap()));
        office_weeks(&mut p);
        let t = MONDAY + 4 * DAY_MS + 10 * HOUR_MS;
        // Another address in the same country: a new address, not a new country.
        assert_eq!(
            run(&mut p, &request("alice", "10.9.9.9", t)),
            ["behaviour.new_source_ip"]
        );
        let mut out = Vec::new();
        p.observe(&request("alice", "203.0.113.5", t + 1000), false, &mut out);
        let country = out
            .iter()
            .find(|s| s.rule_id == "behaviour.new_country")
            .unwrap();
        assert_eq!(country.group, "user=alice,network=country=NL");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn response(user: &str, tokens: u64, t: i64) -> Event {
        let mut r = llmtrail_core::LlmResponse::new(llmtrail_core::ResponseStatus::Ok);
        r.usage = Some(llmtrail_core::Usage {
            input_tokens: tokens,
            output_tokens: 0,
            total_tokens: None,
            cache_read_input_tokens: None,
            cache_creation_input_tokens: None,
            reasoning_output_tokens: None,
        });
        let mut e = Event::new(r);
        e.actor.user = Some(user.into());
        e.time = jiff::Timestamp::from_millisecond(t).unwrap();
        e
    }

    #[test]
    fn token_spike_against_the_actors_own_hours() {
        let mut p = Profiles::new(cfg(), None);
        office_weeks(&mut p);
        // A week of 2,000-token answers in office hours…
        for d in 0..5 {
            for h in 9..11 {
                let t = MONDAY + d * DAY_MS + h * HOUR_MS + 40 * 60_000;
                assert!(run(&mut p, &response("alice", 2_000, t)).is_empty());
            }
        }
        // … then 60,000 tokens in one hour: one signal when the line is crossed.
        let t = MONDAY + 7 * DAY_MS + 9 * HOUR_MS;
        let mut seen = Vec::new();
        for i in 0..6 {
            seen.extend(run(&mut p, &response("alice", 10_000, t + i * 1000)));
        }
        assert_eq!(seen, ["behaviour.token_spike"]);
    }

    fn sensitive(p: &mut Profiles, user: &str, t: i64) -> Vec<&'static str> {
        let mut f = Event::new(llmtrail_core::Finding {
            event_id: Uuid::now_v7(),
            category: FindingCategory::Pii,
            finding_type: "email".into(),
            severity: llmtrail_core::Severity::Medium,
            confidence: None,
            detector: "t".into(),
            rule_id: None,
            location: None,
            preview: None,
            owasp: None,
            atlas: None,
        });
        f.actor.user = Some(user.into());
        f.time = jiff::Timestamp::from_millisecond(t).unwrap();
        let mut out = Vec::new();
        p.observe(&f, true, &mut out);
        out.iter().map(|s| s.rule_id).collect()
    }

    #[test]
    fn rising_share_of_sensitive_outputs() {
        let mut raw_cfg = cfg();
        raw_cfg.sensitive_min_outputs = 10;
        let mut p = Profiles::new(raw_cfg, None);
        office_weeks(&mut p);
        // Monday: 20 outputs, 2 with PII (10 %).
        let monday = MONDAY + 7 * DAY_MS + 9 * HOUR_MS;
        for i in 0..20 {
            run(&mut p, &response("alice", 10, monday + i * 1000));
        }
        for i in 0..2 {
            assert!(sensitive(&mut p, "alice", monday + 30_000 + i).is_empty());
        }
        // Tuesday: 10 outputs, and PII in more and more of them; 30 % (10 % + 20 points)
        // crosses the line once.
        let tuesday = monday + DAY_MS;
        for i in 0..10 {
            run(&mut p, &response("alice", 10, tuesday + i * 1000));
        }
        let mut seen = Vec::new();
        for i in 0..6 {
            seen.extend(sensitive(&mut p, "alice", tuesday + 30_000 + i));
        }
        assert_eq!(seen, ["behaviour.sensitive_output_share"]);
    }

    #[test]
    fn profiles_are_bounded() {
        let mut p = Profiles::new(cfg(), None);
        for i in 0..(MAX_PROFILES as i64 + 10) {
            run(&mut p, &request(&format!("u{i}"), "10.0.0.1", MONDAY + i));
        }
        assert!(p.len() <= MAX_PROFILES, "{}", p.len());
        assert!(p.len() > MAX_PROFILES * 8 / 10);
    }

    #[test]
    fn robust_baseline() {
        let mut v = vec![1.0, 2.0, 2.0, 3.0, 100.0];
        let (m, mad) = median_mad(&mut v);
        assert!((m - 2.0).abs() < 1e-9);
        assert!((mad - 1.0).abs() < 1e-9);
    }
}
