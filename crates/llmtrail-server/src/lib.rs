//! The llmtrail server: configuration, the HTTP API under `/api/v1/`, API tokens, and `serve`.

pub mod api;
pub mod auth;
pub mod config;
pub mod detect;
pub mod error;
pub mod links;
pub mod serve;

pub use config::Config;
