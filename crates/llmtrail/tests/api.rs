//! The ingest and read API of the real `serve`: happy paths, proofs checked against the signed
//! checkpoint, and bad input that must be refused with a clear 4xx while the ledger stays
//! unchanged.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod common;

use common::{Server, request_event, write_config};
use llmtrail_ledger::checkpoint::NoteVerifier;
use llmtrail_ledger::merkle::{Hash, verify_consistency, verify_inclusion};

fn hash(v: &serde_json::Value) -> Hash {
    let mut h = [0u8; 32];
    hex::decode_to_slice(v.as_str().unwrap(), &mut h).unwrap();
    h
}

#[test]
fn ingest_read_and_prove() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &write_config(tmp.path(), ""));

    // One object in, one receipt out.
    let r = server.post("application/json", request_event(1).as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    let one = r.json();
    assert_eq!(one["index"], 0);
    let id = one["id"].as_str().unwrap().to_owned();

    // An array in, an array out; NDJSON in, NDJSON out, in order.
    let arr = format!("[{},{}]", request_event(2), request_event(3));
    let r = server.post("application/json", arr.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json().as_array().unwrap().len(), 2);
    let nd = format!(
        "{}\n\n{}\n{}\n",
        request_event(4),
        request_event(5),
        request_event(6)
    );
    let r = server.post("application/x-ndjson", nd.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    let idx: Vec<u64> = r
        .body
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["index"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(idx, vec![3, 4, 5]);

    // Read it back with content, exactly as sent.
    let r = server.get(&format!("/api/v1/events/{id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let got = r.json();
    assert_eq!(got["index"], 0);
    assert_eq!(got["content"], "present");
    assert_eq!(got["event"]["actor"]["user"], "u-1");
    assert_eq!(
        got["event"]["body"]["gen_ai.input.messages"][0]["parts"][0]["content"],
        "question 1: what is my balance?"
    );
    assert_eq!(
        server
            .get("/api/v1/events/00000000-0000-7000-8000-000000000000")
            .status,
        404
    );
    assert_eq!(server.get("/api/v1/events/not-a-uuid").status, 400);

    // The checkpoint verifies with the published key, and proofs verify against it.
    // Six events, plus the audit events of the admin's raw reads above.
    let n = server.size();
    assert!(n >= 6);
    let note = server.wait_checkpoint(n);
    let vkey = server.get_anon("/api/v1/public-key").body;
    let verifier = NoteVerifier::from_vkey(vkey.trim()).unwrap();
    let cp = verifier.verify(&note).unwrap();
    let leaf = hash(&one["leaf_hash"]);
    let p = server
        .get_anon(&format!("/api/v1/proof/inclusion?index=0&size={n}"))
        .json();
    let proof: Vec<Hash> = p["proof"].as_array().unwrap().iter().map(hash).collect();
    verify_inclusion(&leaf, 0, n, &proof, &cp.root).unwrap();
    let c = server
        .get_anon(&format!("/api/v1/proof/consistency?old=1&new={n}"))
        .json();
    let proof: Vec<Hash> = c["proof"].as_array().unwrap().iter().map(hash).collect();
    verify_consistency(1, n, &hash(&c["old_root"]), &cp.root, &proof).unwrap();

    // Proof parameters out of range or malformed are 400s.
    assert_eq!(
        server
            .get_anon(&format!("/api/v1/proof/inclusion?index={n}&size={n}"))
            .status,
        400
    );
    assert_eq!(
        server
            .get_anon("/api/v1/proof/inclusion?index=0&size=99")
            .status,
        400
    );
    assert_eq!(
        server
            .get_anon("/api/v1/proof/inclusion?index=x&size=1")
            .status,
        400
    );
    assert_eq!(
        server.get_anon("/api/v1/proof/consistency?old=5").status,
        400
    );
    server.stop();
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &write_config(tmp.path(), ""));
    let r = server.post("application/json", request_event(0).as_bytes());
    assert_eq!(r.status, 200);
    let dup_id = r.json()["id"].as_str().unwrap().to_owned();

    let good = request_event(1);
    // (name, content type, body, status, error code, line)
    type Case = (
        &'static str,
        &'static str,
        Vec<u8>,
        u16,
        &'static str,
        Option<u64>,
    );
    let cases: Vec<Case> = vec![
        ("malformed JSON", "application/json", b"{\"kind\":".to_vec(), 400, "invalid_json", None),
        ("not an object", "application/json", b"42".to_vec(), 400, "invalid_value", None),
        ("empty body", "application/json", b"".to_vec(), 400, "invalid_json", None),
        (
            "malformed NDJSON line 3",
            "application/x-ndjson",
            format!("{good}\n{good}\n{{oops\n").into_bytes(),
            400,
            "invalid_json",
            Some(3),
        ),
        ("invalid UTF-8", "application/json", b"{\"kind\":\"audit\xff\"}".to_vec(), 400, "invalid_utf8", Some(1)),
        (
            "invalid UTF-8 in NDJSON line 2",
            "application/x-ndjson",
            [good.as_bytes(), b"\n{\"x\":\"\xc3\x28\"}\n"].concat(),
            400,
            "invalid_utf8",
            Some(2),
        ),
        ("unknown kind", "application/json", br#"{"kind":"llm.magic","body":{}}"#.to_vec(), 400, "unknown_kind", None),
        ("missing kind", "application/json", br#"{"body":{}}"#.to_vec(), 400, "missing_field", None),
        (
            "missing model",
            "application/json",
            br#"{"kind":"llm.request","body":{"gen_ai.provider.name":"openai"}}"#.to_vec(),
            400,
            "missing_field",
            None,
        ),
        (
            "unknown field",
            "application/json",
            br#"{"kind":"audit","colour":"red","body":{"action":"a","target":"t","outcome":"success"}}"#.to_vec(),
            400,
            "unknown_field",
            None,
        ),
        (
            "bad id",
            "application/json",
            br#"{"id":"nope","kind":"audit","body":{"action":"a","target":"t","outcome":"success"}}"#.to_vec(),
            400,
            "invalid_value",
            None,
        ),
        (
            "bad source ip",
            "application/json",
            br#"{"kind":"audit","actor":{"source_ip":"999.1.1.1"},"body":{"action":"a","target":"t","outcome":"success"}}"#.to_vec(),
            400,
            "invalid_value",
            None,
        ),
        ("empty NDJSON", "application/x-ndjson", b"\n\n".to_vec(), 400, "empty_batch", None),
        ("oversized body", "application/json", vec![b' '; 300_000], 413, "body_too_large", None),
        (
            "duplicate id",
            "application/json",
            format!(r#"{{"id":"{dup_id}","kind":"audit","body":{{"action":"a","target":"t","outcome":"success"}}}}"#).into_bytes(),
            409,
            "duplicate_id",
            None,
        ),
        (
            "second item of an array is bad",
            "application/json",
            format!(r#"[{good},{{"kind":"nope","body":{{}}}}]"#).into_bytes(),
            400,
            "unknown_kind",
            Some(2),
        ),
    ];
    for (name, ct, body, status, code, line) in cases {
        let r = server.post(ct, &body);
        assert_eq!(r.status, status, "{name}: {}", r.body);
        let err = r.json();
        assert_eq!(err["error"]["code"], code, "{name}: {}", r.body);
        assert!(!err["error"]["message"].as_str().unwrap().is_empty());
        if let Some(line) = line {
            assert_eq!(err["error"]["line"], line, "{name}: {}", r.body);
        }
        assert_eq!(server.size(), 1, "{name} changed the ledger");
    }

    // No token, a wrong token, a malformed header: 401 and nothing written.
    for token in [None, Some("llmt_wrong"), Some("")] {
        let r = server.post_with_token(token, "application/json", good.as_bytes());
        assert_eq!(r.status, 401, "{token:?}");
        assert_eq!(r.json()["error"]["code"], "unauthorized");
    }
    assert_eq!(
        server.get_anon(&format!("/api/v1/events/{dup_id}")).status,
        401
    );
    assert_eq!(server.size(), 1);
    // Secrets in a rejected event never show up in the error.
    let r = server.post(
        "application/json",
        br#"{"kind":"llm.request","body":{"gen_ai.provider.name":"openai","gen_ai.request.model":"m","temperature":"sk-live-SECRET"}}"#,
    );
    assert_eq!(r.status, 400);
    assert!(!r.body.contains("sk-live-SECRET"), "{}", r.body);
    server.stop();
}
