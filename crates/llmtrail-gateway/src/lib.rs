//! The provider gateway: OpenAI- and Anthropic-compatible routes that forward to configured
//! upstreams and record every request, raw output and tool call in the ledger.
//!
//! [`proxy::Gateway`] is the request path; [`config`] its `[gateway]` section; [`vkeys`] the
//! virtual keys; [`providers`] the wire formats; [`capture`] the pass-through body that keeps a
//! copy; [`recorder`] the background appender.

pub mod admission;
pub mod capture;
pub mod config;
pub mod exchange;
pub mod identity;
pub mod policy;
pub mod providers;
pub mod proxy;
pub mod recorder;
pub mod reply;
pub mod upstream;
pub mod vkeys;
