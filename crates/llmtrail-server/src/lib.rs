//! The llmtrail server: configuration, the HTTP API under `/api/v1/`, the OTLP/HTTP receiver
//! (`/v1/traces`, `/v1/logs`), API tokens, and `serve`.

pub mod alerts;
pub mod api;
pub mod approvals;
pub mod auth;
pub mod catalogue;
pub mod config;
pub mod dashboard;
pub mod detect;
pub mod error;
pub mod export;
pub mod index_feed;
pub mod links;
pub mod metrics;
pub mod otlp;
pub mod query_api;
pub mod readback;
pub mod sampling;
pub mod serve;
pub mod session;
pub mod tls;
pub mod views;
pub mod watermark;

pub use config::Config;
