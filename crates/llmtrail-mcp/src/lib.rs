//! The MCP proxy: sees every JSON-RPC message between an MCP client and an MCP server, logs
//! the handshake, the tool catalogue and every tool call (with arguments, result and who
//! asked) to a running `serve`, and applies policy before a call runs.
//!
//! - [`stdio::wrap`]: the stdio transport (`llmtrail mcp wrap -- <server command>`).
//! - [`http::proxy`]: the Streamable HTTP transport (`llmtrail mcp proxy --upstream URL`).
//! - [`gate::Gate`]: what both share: planning, policy, logging, holds, redaction.
//!
//! The proxies hold no ledger of their own: events go to `serve` through
//! [`report::Reporter`], which returns only once they are durable.

pub mod config;
pub mod gate;
pub mod http;
pub mod jsonrpc;
pub mod lines;
pub mod policy;
pub mod report;
pub mod sse;
pub mod stdio;

pub use config::RawMcp;
pub use gate::{Conn, Gate};
pub use policy::Policy;
pub use report::Reporter;
