//! Export of the ledger's events to SIEMs, log pipelines and webhooks.
//!
//! Every event appended to the ledger (findings from detection included) is handed to the
//! [`Exporter`] as a [`Record`]: the event with its ledger index and leaf hash, which every
//! exported format carries so that an analyst can prove any record against a checkpoint.
//!
//! - Formats: [`cef`] (ArcSight CEF), [`syslog`] (RFC 5424 with RFC 6587 octet counting),
//!   [`json`] (JSON lines), [`ocsf`] (OCSF API Activity 6003 and Detection Finding 2004).
//!   Escaping is exact: hostile values cannot add fields, records or lines.
//! - Sinks ([`config::SinkConfig`], one closed enum tagged by `type`): `syslog` over UDP, TCP
//!   or TLS; `file` (rotating); `webhook` (JSON batches signed with HMAC-SHA256, or a
//!   Slack-compatible message, see [`slack`]); `splunk_hec` (with indexer acknowledgement);
//!   `elasticsearch` (`_bulk` of [`ecs`] documents); `otlp_logs` (OTLP/HTTP JSON, [`otlp`]).
//! - Delivery is at least once through a disk buffer per sink ([`buffer`]), with retries and
//!   exponential backoff; the pipeline never waits on a sink ([`exporter`]).

pub mod buffer;
pub mod cef;
pub mod config;
pub mod ecs;
pub mod exporter;
pub mod json;
pub mod ocsf;
pub mod otlp;
pub mod record;
pub mod slack;
pub mod syslog;
pub mod transport;

#[cfg(test)]
mod testdata;

pub use config::ExportConfig;
pub use exporter::{ExportError, Exporter, OverflowHook, SinkStats};
pub use record::Record;
