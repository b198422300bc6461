//! The command line: keygen, ingest (through the API and straight into a data directory),
//! offline verify (sound and tampered), and verify against a running server that was rolled
//! back or forked.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod common;

use std::os::unix::fs::PermissionsExt as _;

use common::{Server, request_event, run, run_with_env, write_config};

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn ndjson(range: std::ops::Range<usize>) -> String {
    range.map(request_event).collect::<Vec<_>>().join("\n") + "\n"
}

#[test]
fn keygen_then_serve_with_keys_apart_from_data() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let (code, out, err) = run(&[
        "keygen",
        "--out",
        keys.to_str().unwrap(),
        "--name",
        "llmtrail.test/cli",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    for f in ["signing.key", "master.key"] {
        let mode = std::fs::metadata(keys.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    // keygen never overwrites.
    let (code, _, err) = run(&["keygen", "--out", keys.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("already exists"), "{err}");

    // Master key from the environment; the keys directory holds no master key.
    let master = std::fs::read_to_string(keys.join("master.key")).unwrap();
    std::fs::remove_file(keys.join("master.key")).unwrap();
    let config = write_config(
        tmp.path(),
        &format!("keys_dir = {:?}\n", keys.to_str().unwrap()),
    );
    let data = tmp.path().join("data");
    let env = [("LLMTRAIL_MASTER_KEY", master.trim())];
    let server = Server::start_with_env(&data, &config, &env);
    let note = server.get_anon("/api/v1/checkpoint").body;
    assert!(note.starts_with("llmtrail.test/cli\n"), "{note}");
    assert_eq!(
        server
            .post("application/x-ndjson", ndjson(0..5).as_bytes())
            .status,
        200
    );
    server.stop();
    assert!(
        !data.join("keys").exists(),
        "keys were written into the data directory"
    );
    let (code, out, err) = run_with_env(
        &[
            "verify",
            "--data-dir",
            data.to_str().unwrap(),
            "--keys-dir",
            keys.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("5 contents checked"), "{out}");
}

#[test]
fn ingest_through_the_api_and_into_a_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("events.ndjson");
    std::fs::write(&file, ndjson(0..25)).unwrap();
    let bad = tmp.path().join("bad.ndjson");
    std::fs::write(&bad, ndjson(0..3) + "{\"kind\":\"nope\",\"body\":{}}\n").unwrap();

    // Straight into a data directory.
    let data = tmp.path().join("direct");
    let config = write_config(tmp.path(), "");
    let (code, out, err) = run(&[
        "ingest",
        file.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ingested 25 events"), "{out}");
    let (code, _, err) = run(&[
        "ingest",
        bad.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("line 4"), "{err}");
    let (code, out, _) = run(&["verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok: 25 records"), "{out}");

    // Through a running server.
    let server = Server::start(&tmp.path().join("served"), &config);
    let (code, out, err) = run(&[
        "ingest",
        file.to_str().unwrap(),
        "--url",
        &server.url,
        "--token",
        &server.token,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(server.size(), 25);
    let (code, _, err) = run(&[
        "ingest",
        bad.to_str().unwrap(),
        "--url",
        &server.url,
        "--token",
        &server.token,
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("line 4"), "{err}");
    assert_eq!(server.size(), 25, "a rejected file wrote something");
    // Standard input works the same way.
    let mut child = std::process::Command::new(common::bin())
        .args([
            "ingest",
            "-",
            "--url",
            &server.url,
            "--token",
            &server.token,
        ])
        .env("LLMTRAIL_LOG", "error")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(ndjson(100..103).as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ingested 3 events"));
    assert_eq!(server.size(), 28);
    // A data directory held by a running server cannot be written behind its back.
    let (code, _, err) = run(&[
        "ingest",
        file.to_str().unwrap(),
        "--data-dir",
        tmp.path().join("served").to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("in use"), "{err}");
    server.stop();
}

#[test]
fn verify_data_dir_sound_then_tampered() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = write_config(tmp.path(), "");
    let server = Server::start(&data, &config);
    assert_eq!(
        server
            .post("application/x-ndjson", ndjson(0..10).as_bytes())
            .status,
        200
    );
    server.stop();
    let (code, out, _) = run(&["verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run(&["verify", "--data-dir", data.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["records"], 10);

    // Change one byte of the user name of the seventh record: "u-6" becomes "u-7".
    let seg = data.join("ledger/segments/00000000000000000000.seg");
    let mut bytes = std::fs::read(&seg).unwrap();
    let needle = br#""user":"u-6""#;
    let pos = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    bytes[pos + needle.len() - 2] = b'7';
    std::fs::write(&seg, &bytes).unwrap();
    let (code, out, _) = run(&["verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("FAILED: index 6:"), "{out}");
    let (_, out, _) = run(&["verify", "--data-dir", data.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["first_bad_index"], 6);
}

#[test]
fn verify_url_detects_rollback_and_fork() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = write_config(tmp.path(), "");
    let cp = tmp.path().join("kept.checkpoint");
    let cp_arg = cp.to_str().unwrap();

    let server = Server::start(&data, &config);
    assert_eq!(
        server
            .post("application/x-ndjson", ndjson(0..5).as_bytes())
            .status,
        200
    );
    server.wait_checkpoint(5);
    let (code, out, err) = run(&["verify", "--url", &server.url, "--checkpoint", cp_arg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("first checkpoint kept: tree size 5"), "{out}");
    // The server's key is kept beside the checkpoint, named by appending `.pub`.
    assert!(tmp.path().join("kept.checkpoint.pub").exists());
    server.stop();

    // A snapshot of the log at size 5.
    let snapshot = tmp.path().join("snapshot");
    copy_dir(&data, &snapshot);

    let server = Server::start(&data, &config);
    assert_eq!(
        server
            .post("application/x-ndjson", ndjson(5..10).as_bytes())
            .status,
        200
    );
    server.wait_checkpoint(10);
    let (code, out, _) = run(&["verify", "--url", &server.url, "--checkpoint", cp_arg]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("consistent: tree size 5 -> 10"), "{out}");
    server.stop();

    // The operator restores the old snapshot: the log was rolled back.
    let server = Server::start(&snapshot, &config);
    let (code, out, _) = run(&["verify", "--url", &server.url, "--checkpoint", cp_arg]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ROLLED BACK"), "{out}");
    // ...and writes different history on top: the log forked.
    assert_eq!(
        server
            .post("application/x-ndjson", ndjson(100..107).as_bytes())
            .status,
        200
    );
    server.wait_checkpoint(12);
    let (code, out, _) = run(&["verify", "--url", &server.url, "--checkpoint", cp_arg]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FORKED"), "{out}");
    server.stop();
}

#[test]
fn a_bad_config_names_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("llmtrail.toml");
    std::fs::write(
        &config,
        "[server]\nlisten = \"127.0.0.1:0\"\nmax_body = 5\n",
    )
    .unwrap();
    let (code, _, err) = run(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("max_body"), "{err}");
}
