//! Alerts over llmtrail events: rules (thresholds over windows, sequences within a session),
//! deduplication, routes per severity, response playbooks, behaviour analytics per user,
//! virtual key and agent, and drift per model and provider.
//!
//! The crate is pure and synchronous: [`Engine::observe`] takes one event and the current
//! time and returns the `alert` and `audit` events to append; `serve` owns the thread, the
//! queue and the journal (`llmtrail-server`'s `alerts` module). Everything the engine knows
//! is derived from events, so replaying the ledger through [`Engine::learn`] rebuilds it
//! after a restart: baselines, open alerts, their states, blocks and holds.
//!
//! - [`config`]: `[alerts]` in `llmtrail.toml`, validated in one step.
//! - [`rules`]: matching, windows, sequences and the built-in rules.
//! - [`behaviour`]: per-actor baselines (volume, tokens, hours, addresses, networks, tools,
//!   sensitive outputs) with a cold start.
//! - [`drift`]: per-model latency, error, refusal and output-length drift.
//! - [`geo`]: countries and networks from a MaxMind-format database.
//! - [`engine`]: deduplication, alert state, playbooks and the blocks and holds in force.
//!
//! # Configuration
//!
//! Every key has a default; without an `[alerts]` table the built-in rules and analytics run
//! and alerts go to every export sink like any other event.
//!
//! ```toml
//! [alerts]
//! enabled = true
//! queue = 16384                    # events waiting for the engine; beyond, skipped and counted
//! builtin_rules = true             # injection-campaign, secret-in-output,
//!                                  # exfil-after-injection, critical-tool-risk,
//!                                  # system-prompt-leak (+ the behaviour.* and drift.* ids)
//! dedup = "1h"                     # one alert per rule and group while it keeps firing
//! escalation_sinks = ["pager"]     # these sinks get only the alerts routed to them
//!
//! [alerts.routes]                  # export sink names per alert severity
//! critical = ["siem", "pager"]
//! high = ["siem"]
//!
//! [[alerts.rules]]                 # override a built-in rule by id
//! id = "injection-campaign"
//! count = 5                        # 5 matching findings …
//! window = "10m"                   # … within 10 minutes …
//! group_by = ["user"]              # … by one user
//! severity = "high"
//! respond = [
//!   { action = "block_user", duration = "1h" },  # the gateway answers 403
//!   { action = "block_key", duration = "1h" },   # the virtual key used
//!   { action = "hold_tools", duration = "1h" },  # MCP calls of the user wait for approval
//!   { action = "notify", routes = ["pager"] },   # route to more sinks
//! ]
//!
//! [[alerts.rules]]                 # a threshold rule of your own
//! id = "shell-tool-burst"
//! title = "Many shell tool calls by one agent"
//! severity = "medium"
//! match = { kind = ["tool.call"], tool = ["shell"] }   # also category, type, min_severity,
//!                                  # detector, on, user, role, model, provider, status, decision
//! count = 20
//! window = "5m"
//! group_by = ["agent"]             # user role department key agent session source_ip model
//!                                  # provider tool category type
//!
//! [[alerts.rules]]                 # a sequence within a session
//! id = "jailbreak-then-secret"
//! severity = "critical"
//! first = [{ category = ["jailbreak"] }]
//! then = [{ category = ["secret"], on = ["llm.response"] }, { kind = ["tool.call"], status = ["blocked"] }]
//! within = "15m"
//!
//! [[alerts.rules]]
//! id = "behaviour.new_source_ip"   # analytic rules: enabled, title, severity, dedup, respond
//! enabled = false
//!
//! [alerts.behaviour]
//! entities = ["user", "key", "agent"]
//! time_zone = "Europe/Berlin"
//! business_hours = "08:00-19:00"
//! business_days = ["mon", "tue", "wed", "thu", "fri"]
//! min_history = "3d"               # cold start: learn only, for this long …
//! min_events = 50                  # … and this many requests
//! baseline_days = 14
//! volume_factor = 5.0              # an hour above 5 × the typical hour (median, MAD) …
//! min_hourly_requests = 20         # … and at least 20 requests
//! token_factor = 5.0
//! min_hourly_tokens = 50000
//! rare_hour_share = 0.02           # off hours: < 2% of the actor's own activity
//! sensitive_share_rise = 0.2       # outputs with PII/secrets: +20 points over the baseline
//! sensitive_min_outputs = 20
//! # geoip_db = "/var/lib/GeoIP/GeoLite2-Country.mmdb"   # new countries (or ASN networks)
//!
//! [alerts.drift]                   # per provider and model
//! recent = 50                      # last 50 responses …
//! baseline = 500                   # … against the 500 before them
//! min_baseline = 100               # cold start
//! latency_factor = 2.0             # p50 or p95 above 2 × the baseline's
//! error_rate_rise = 0.2
//! refusal_rate_rise = 0.2
//! output_length_factor = 3.0
//! ```

pub mod behaviour;
pub mod config;
pub mod drift;
pub mod engine;
pub mod geo;
pub mod rules;

pub use config::{AlertsConfig, ConfigError, RawAlerts};
pub use engine::{AlertRecord, Engine, Restriction, Restrictions};
