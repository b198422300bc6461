//! The embedded index derived from the ledger: search and statistics for the API and the
//! dashboard. The ledger stays the source of truth; the index holds ids, metadata columns and
//! full-text search terms, never content the ledger could not give back, and can be rebuilt
//! from the ledger at any time (`llmtrail reindex`).
//!
//! - [`row::Row`]: what is kept of one event.
//! - [`store::Index`]: the SQLite file (why SQLite, the layout) and writes.
//! - [`query::Filter`]: the API's filters and the queries.
//! - `rollup`: pre-aggregated tables behind the statistics, kept with the rows.

pub mod query;
mod rollup;
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

/// Rollups give the answers the rows give (issue 5: the overview from rollups).
#[cfg(test)]
mod rollup_identity {
    use super::*;
    use llmtrail_core::{
        Actor, Event, Finding, FindingCategory, LlmRequest, LlmResponse, Message, Part,
        ResponseStatus, Severity, ToolCall, ToolStatus, Usage,
    };

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const T0: i64 = 1_780_000_000; // seconds

    fn dataset(seed: u64, n: usize) -> Vec<Event> {
        let mut rng = Rng(seed | 1);
        let mut out: Vec<Event> = Vec::new();
        let prompts = [
            "What is the refund status of order 17?",
            "what is the refund status of order 99",
            "Summarise the meeting notes",
            "deploy the service",
            "Translate this email",
        ];
        for _ in 0..n {
            let t = T0 + i64::try_from(rng.below(3 * 86_400)).unwrap_or(0);
            let time =
                jiff::Timestamp::new(t, i32::try_from(rng.below(1_000_000_000)).unwrap_or(0))
                    .unwrap();
            let user = match rng.below(6) {
                0 => None,
                k => Some(format!("u-{k}")),
            };
            let actor = Actor {
                user,
                ..Actor::default()
            };
            let mut e = match rng.below(4) {
                0 => {
                    let mut r = LlmRequest::new("openai", "gpt-4o");
                    r.messages.push(Message {
                        role: "user".into(),
                        name: None,
                        parts: vec![Part::Text {
                            content: prompts[rng.below(prompts.len() as u64) as usize].into(),
                        }],
                        finish_reason: None,
                    });
                    Event::new(r)
                }
                1 => {
                    let mut r = LlmResponse::new(if rng.below(5) == 0 {
                        ResponseStatus::Error
                    } else {
                        ResponseStatus::Ok
                    });
                    let reqs: Vec<&Event> = out
                        .iter()
                        .filter(|e| e.kind().as_str() == "llm.request")
                        .collect();
                    if !reqs.is_empty() && rng.below(4) != 0 {
                        r.request_id = Some(reqs[rng.below(reqs.len() as u64) as usize].id);
                    }
                    if rng.below(3) != 0 {
                        r.latency_ms = Some(rng.below(2_000_000) as f64 / 977.0);
                    }
                    if rng.below(3) != 0 {
                        r.usage = Some(Usage {
                            input_tokens: rng.below(500),
                            output_tokens: rng.below(900),
                            total_tokens: None,
                            cache_read_input_tokens: None,
                            cache_creation_input_tokens: None,
                            reasoning_output_tokens: None,
                        });
                    }
                    Event::new(r)
                }
                2 => {
                    let status = [
                        ToolStatus::Ok,
                        ToolStatus::Error,
                        ToolStatus::Blocked,
                        ToolStatus::Pending,
                    ][rng.below(4) as usize];
                    let mut c = ToolCall::new(
                        ["shell", "read_file", "http_get"][rng.below(3) as usize],
                        status,
                    );
                    c.duration_ms = Some(rng.below(10_000) as f64 / 7.0);
                    Event::new(c)
                }
                _ => {
                    let target = if out.is_empty() {
                        uuid::Uuid::now_v7()
                    } else {
                        out[rng.below(out.len() as u64) as usize].id
                    };
                    Event::new(Finding {
                        event_id: target,
                        category: [
                            FindingCategory::Pii,
                            FindingCategory::Secret,
                            FindingCategory::PromptInjection,
                            FindingCategory::ToolRisk,
                        ][rng.below(4) as usize],
                        finding_type: "x".into(),
                        severity: [
                            Severity::Low,
                            Severity::Medium,
                            Severity::High,
                            Severity::Critical,
                        ][rng.below(4) as usize],
                        confidence: None,
                        detector: "rules".into(),
                        rule_id: None,
                        location: None,
                        preview: None,
                        owasp: None,
                        atlas: None,
                    })
                }
            };
            e.actor = actor;
            e.time = time;
            out.push(e);
        }
        out
    }

    fn at(secs: i64, nanos: i32) -> String {
        jiff::Timestamp::new(secs, nanos).unwrap().to_string()
    }

    #[test]
    fn rollups_answer_as_the_rows_do() {
        for seed in [7_u64, 1234, 99_991] {
            let dir = tempfile::tempdir().unwrap();
            let ix = Index::open(&dir.path().join("i.sqlite")).unwrap();
            let events = dataset(seed, 1500);
            let rows: Vec<Row> = events
                .iter()
                .enumerate()
                .map(|(i, e)| Row::of(i as u64, e))
                .collect();
            // Uneven batches, out of order, and a replay: a row counts once.
            let mut rng = Rng(seed ^ 0x9e37);
            let mut order: Vec<usize> = (0..rows.len()).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let mut start = 0;
            while start < order.len() {
                let end = (start + 1 + rng.below(300) as usize).min(order.len());
                let batch: Vec<Row> = order[start..end].iter().map(|&i| rows[i].clone()).collect();
                ix.add(&batch).unwrap();
                start = end;
            }
            ix.add(&rows[..200]).unwrap();

            let h = 3600;
            let mut filters = vec![
                Filter::default(),
                Filter {
                    limit: Some(3),
                    ..Filter::default()
                },
                Filter {
                    since: Some(at(T0 - T0 % h + 5 * h, 0)),
                    until: Some(at(T0 - T0 % h + 30 * h, 0)),
                    ..Filter::default()
                },
                Filter {
                    since: Some(at(T0 + 4 * h + 17, 3)),
                    until: Some(at(T0 + 50 * h + 1234, 999)),
                    ..Filter::default()
                },
                Filter {
                    since: Some(at(T0 + 20 * h + 1, 0)),
                    ..Filter::default()
                },
                Filter {
                    until: Some(at(T0 + 20 * h + 59, 0)),
                    limit: Some(4),
                    ..Filter::default()
                },
                Filter {
                    since: Some(at(T0 + 2 * h + 10, 0)),
                    until: Some(at(T0 + 3 * h + 10, 0)),
                    ..Filter::default()
                },
                // Ranges that hold every event (answered as all time).
                Filter {
                    since: Some(at(T0 - 10 * h, 0)),
                    until: Some(at(T0 + 4 * 86_400, 0)),
                    ..Filter::default()
                },
                Filter {
                    since: Some(at(T0 - 1, 0)),
                    limit: Some(2),
                    ..Filter::default()
                },
                Filter {
                    user: Some("u-2".into()),
                    since: Some(at(T0 + 4 * h + 17, 3)),
                    ..Filter::default()
                },
            ];
            for b in [3600_u32, 7200, 86_400, 60] {
                filters.push(Filter {
                    bucket: Some(b),
                    since: Some(at(T0 + 7 * h + 1, 0)),
                    ..Filter::default()
                });
                filters.push(Filter {
                    bucket: Some(b),
                    ..Filter::default()
                });
            }
            for f in &filters {
                let answers = |on: bool| {
                    ix.use_rollups(on);
                    (
                        ix.top_prompts(f).unwrap(),
                        ix.tools(f).unwrap(),
                        ix.flagged(f).unwrap(),
                        ix.users(f).unwrap(),
                        ix.timeseries(f).unwrap(),
                    )
                };
                let rolled = answers(true);
                let raw = answers(false);
                assert!(
                    !raw.0.is_empty() && !raw.4.is_empty(),
                    "{f:?}: empty data set"
                );
                assert_eq!(rolled, raw, "seed {seed}, filter {f:?}");
                if f.since.is_none() && f.until.is_none() {
                    let some = |k: &str| raw.4.iter().any(|p| p[k].as_i64() > Some(0));
                    assert!(some("flagged") && some("users") && some("content_events"));
                }
            }
        }
    }
}
