//! The journal seam: "make these events durable, then tell me their positions".
//!
//! Capture paths (the ingest API, the gateway, the MCP proxy, the OTLP receiver) depend on this
//! trait, never on files. The embedded implementation is [`Ledger`] (local segments with group
//! commit); a replicated stream with a sequencer in front of the Merkle ledger is meant to be a
//! second implementation of the same trait, not a rewrite of its callers.

use std::future::Future;
use std::pin::Pin;

use llmtrail_core::Event;

use crate::error::LedgerError;
use crate::ledger::{Ledger, Receipt};

/// A boxed future returned by [`Journal::append`].
pub type AppendFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Receipt>, LedgerError>> + Send + 'a>>;

/// Something that makes events durable in order and acknowledges each with its position.
pub trait Journal: Send + Sync {
    /// Appends `events` atomically with respect to validation and resolves once all are durable.
    fn append<'a>(&'a self, events: &'a [Event]) -> AppendFuture<'a>;
}

impl Journal for Ledger {
    fn append<'a>(&'a self, events: &'a [Event]) -> AppendFuture<'a> {
        Box::pin(Ledger::append(self, events))
    }
}
