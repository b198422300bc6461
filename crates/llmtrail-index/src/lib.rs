//! The embedded index derived from the ledger: search and statistics for the API and the
//! dashboard. The ledger stays the source of truth; the index holds ids, metadata columns and
//! full-text search terms, never content the ledger could not give back, and can be rebuilt
//! from the ledger at any time (`llmtrail reindex`).
//!
//! - [`row::Row`]: what is kept of one event.
//! - [`store::Index`]: the SQLite file (why SQLite, the layout) and writes.
//! - [`query::Filter`]: the API's filters and the queries.

pub mod query;
pub mod row;
pub mod store;

pub use query::{Filter, Page};
pub use row::Row;
pub use store::{Index, IndexError};

#[cfg(test)]
mod tests {
    use super::*;
    use llmtrail_core::{
        Actor, Event, Finding, FindingCategory, LlmRequest, LlmResponse, Message, Part,
        ResponseStatus, Severity, ToolCall, ToolStatus,
    };

    fn request(user: &str, session: &str, text: &str) -> Event {
        let mut r = LlmRequest::new("openai", "gpt-4o");
        r.messages.push(Message {
            role: "user".into(),
            name: None,
            parts: vec![Part::Text {
                content: text.into(),
            }],
            finish_reason: None,
        });
        let mut e = Event::new(r);
        e.actor = Actor {
            user: Some(user.into()),
            session: Some(session.into()),
            ..Actor::default()
        };
        e
    }

    #[test]
    fn filters_full_text_cursor_trace_and_stats() {
        let dir = tempfile::tempdir().unwrap();
        let ix = Index::open(&dir.path().join("i.sqlite")).unwrap();
        let a = request("u-1", "s-1", "What is the refund status of order 17?");
        let b = request("u-2", "s-2", "what is the refund status of order 99");
        let mut resp = LlmResponse::new(ResponseStatus::Ok);
        resp.request_id = Some(a.id);
        resp.latency_ms = Some(120.0);
        let resp = Event::new(resp);
        let mut call = ToolCall::new("shell", ToolStatus::Blocked);
        call.arguments = Some(serde_json::json!({"command": "rm -rf /"}));
        let mut call = Event::new(call);
        call.actor.user = Some("u-1".into());
        call.actor.session = Some("s-1".into());
        let f = Finding {
            event_id: call.id,
            category: FindingCategory::ToolRisk,
            finding_type: "recursive_delete".into(),
            severity: Severity::Critical,
            confidence: None,
            detector: "rules".into(),
            rule_id: None,
            location: None,
            preview: None,
            owasp: None,
            atlas: None,
        };
        let f = Event::new(f);
        let events = [a.clone(), b.clone(), resp.clone(), call.clone(), f.clone()];
        let rows: Vec<Row> = events
            .iter()
            .enumerate()
            .map(|(i, e)| Row::of(i as u64, e))
            .collect();
        ix.add(&rows).unwrap();
        ix.add(&rows).unwrap();
        assert_eq!(ix.next_index().unwrap(), 5);

        let page = ix
            .events(&Filter {
                q: Some("refund".into()),
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(
            page.hits.iter().map(|h| h.0).collect::<Vec<_>>(),
            vec![1, 0]
        );
        let page = ix
            .events(&Filter {
                user: Some("u-1".into()),
                kind: Some("llm.response".into()),
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(
            page.hits,
            vec![(2, resp.id.to_string())],
            "the response inherits its request's user"
        );
        let page = ix
            .events(&Filter {
                limit: Some(2),
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(page.hits.len(), 2);
        let next = ix
            .events(&Filter {
                limit: Some(2),
                cursor: page.next.clone(),
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(
            next.hits.iter().map(|h| h.0).collect::<Vec<_>>(),
            vec![2, 1]
        );
        let flagged = ix
            .events(&Filter {
                category: Some("tool_risk".into()),
                kind: Some("tool.call".into()),
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(flagged.hits.len(), 1);
        assert!(
            ix.events(&Filter {
                since: Some("yesterday".into()),
                ..Filter::default()
            })
            .is_err()
        );

        let trace = ix.trace("s-1").unwrap();
        assert_eq!(
            trace.iter().map(|h| h.0).collect::<Vec<_>>(),
            vec![0, 2, 3, 4],
            "request, response, call, its finding"
        );

        let top = ix.top_prompts(&Filter::default()).unwrap();
        assert_eq!(top[0]["count"], 2);
        assert_eq!(top[0]["users"], 2);
        let tools = ix.tools(&Filter::default()).unwrap();
        assert_eq!(
            (tools[0]["tool"].as_str(), tools[0]["blocked"].as_i64()),
            (Some("shell"), Some(1))
        );
        let fl = ix.flagged(&Filter::default()).unwrap();
        assert_eq!(fl[0]["event_id"], call.id.to_string());
        assert_eq!(fl[0]["max_severity"], "critical");
        let users = ix.users(&Filter::default()).unwrap();
        assert_eq!(users.len(), 2);
        let ts = ix
            .timeseries(&Filter {
                bucket: Some(86_400),
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(ts[0]["requests"], 2);
    }
}
