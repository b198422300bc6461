//! TLS on the main listener (issue 5: "TLS for the listener when a certificate and key are
//! configured"): the real binary with a self-signed certificate made by the openssl command,
//! a client that trusts it (and gets a `Secure` session cookie), a client that does not, plain
//! HTTP to the TLS port, and the startup errors for a missing file and a key of another
//! certificate.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{bin, run};

/// Writes a self-signed certificate for 127.0.0.1/localhost and its key (`name.pem`,
/// `name.key`); `None` when the openssl command is missing.
fn self_signed(dir: &Path, name: &str) -> Option<(PathBuf, PathBuf)> {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            // webpki refuses a CA certificate as the server's own.
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED: the openssl command is missing or failed (`make test` installs it)");
        return None;
    }
    Some((cert, key))
}

/// A config with small segments (as `common::write_config`) and the TLS files.
fn tls_config(dir: &Path, cert: &Path, key: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("llmtrail.toml");
    let text = format!(
        "[server]\nmax_body_bytes = 262144\ntls_cert = {:?}\ntls_key = {:?}\n\n\
         [ledger]\nsegment_bytes = 1048576\ncheckpoint_interval_ms = 100\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    path
}

struct Serve {
    child: Child,
    addr: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path, config: &Path) -> Serve {
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .env("LLMTRAIL_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("serve printed nothing").unwrap();
    let addr = first
        .strip_prefix("llmtrail listening on https://")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("not an https listener: {first}"))
        .to_owned();
    std::thread::spawn(move || for _ in lines {});
    Serve { child, addr }
}

fn agent_trusting(cert: Option<&Path>) -> ureq::Agent {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(cert) = cert {
        let pem = std::fs::read(cert).unwrap();
        let c = ureq::tls::Certificate::from_pem(&pem).unwrap();
        tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![c])));
    }
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .tls_config(tls.build())
        .build();
    ureq::Agent::new_with_config(config)
}

#[test]
fn serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let Some((cert, key)) = self_signed(dir.path(), "server") else {
        return;
    };
    let config = tls_config(&dir.path().join("cfg"), &cert, &key);
    let s = start(&dir.path().join("data"), &config);

    // A client that trusts the certificate gets the health answer over HTTPS.
    let mut resp = agent_trusting(Some(&cert))
        .get(format!("https://{}/api/v1/health", s.addr))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value =
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["status"], "ok", "{body}");
    // And by name.
    let port = s.addr.rsplit(':').next().unwrap();
    let resp = agent_trusting(Some(&cert))
        .get(format!("https://localhost:{port}/api/v1/health"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    // The dashboard's session cookie is Secure over TLS (issue 5: "Secure when served over
    // TLS"), and the dashboard page itself is served over HTTPS.
    let admin = std::fs::read_to_string(dir.path().join("data").join("admin.token")).unwrap();
    let login = agent_trusting(Some(&cert))
        .post(format!("https://{}/api/v1/session", s.addr))
        .header("content-type", "application/json")
        .send(
            serde_json::json!({"token": admin.trim()})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    assert_eq!(login.status().as_u16(), 200);
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("; Secure"),
        "{cookie}"
    );
    let page = agent_trusting(Some(&cert))
        .get(format!("https://{}/", s.addr))
        .call()
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);

    // A client with only the public roots refuses the self-signed certificate.
    let untrusted = agent_trusting(None)
        .get(format!("https://{}/api/v1/health", s.addr))
        .call();
    assert!(untrusted.is_err(), "an untrusted certificate was accepted");

    // Plain HTTP to the TLS port gets no HTTP answer: the handshake fails and the
    // connection is closed.
    let mut plain = TcpStream::connect(&s.addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(
        !got.starts_with(b"HTTP/"),
        "plain HTTP got an HTTP answer: {:?}",
        String::from_utf8_lossy(&got)
    );
    let http = common::agent()
        .get(format!("http://{}/api/v1/health", s.addr))
        .call();
    assert!(http.is_err(), "plain HTTP to the TLS port succeeded");

    // The listener still serves HTTPS after those failed handshakes.
    let resp = agent_trusting(Some(&cert))
        .get(format!("https://{}/api/v1/health", s.addr))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[test]
fn a_missing_or_mismatched_certificate_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let Some((cert, key)) = self_signed(dir.path(), "one") else {
        return;
    };
    let Some((_, other_key)) = self_signed(dir.path(), "two") else {
        return;
    };
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();

    let missing = dir.path().join("missing.pem");
    let config = tls_config(&dir.path().join("c1"), &missing, &key);
    let (code, _, err) = run(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data,
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("server.tls_cert")
            && err.contains("missing.pem")
            && err.contains("cannot be read"),
        "{err}"
    );

    let config = tls_config(&dir.path().join("c2"), &cert, &other_key);
    let (code, _, err) = run(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data,
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("two.key") && err.contains("one.pem") && err.contains("does not belong"),
        "{err}"
    );

    // A key file given as the certificate: no certificate in it.
    let config = tls_config(&dir.path().join("c3"), &key, &key);
    let (code, _, err) = run(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data,
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("server.tls_cert") && err.contains("no PEM CERTIFICATE"),
        "{err}"
    );

    let only_cert = dir.path().join("c4");
    std::fs::create_dir_all(&only_cert).unwrap();
    std::fs::write(
        only_cert.join("llmtrail.toml"),
        format!("[server]\ntls_cert = {:?}\n", cert.display().to_string()),
    )
    .unwrap();
    let (code, _, err) = run(&[
        "serve",
        "--config",
        only_cert.join("llmtrail.toml").to_str().unwrap(),
        "--data-dir",
        data,
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("server.tls_key"), "{err}");
}
