//! TLS for the main listener, when `[server] tls_cert` and `tls_key` are configured.
//!
//! Contract:
//! - Both files are PEM: the certificate file holds the server certificate first, then any
//!   intermediates; the key file one private key (PKCS#8, PKCS#1 or SEC1). They are read once
//!   at startup; an unreadable file, a file without the expected PEM block, or a key that does
//!   not belong to the certificate stops `serve` with an error naming the file.
//! - rustls with the `ring` provider (already what the gateway, the MCP proxy and the syslog
//!   sink use), TLS 1.2 and 1.3, HTTP/1.1 by ALPN, no client certificates.
//! - The handshake happens on the connection's own task, bounded by
//!   `server.header_read_timeout_ms`, so a slow or silent client holds up nobody else. A client
//!   that speaks plain HTTP to the TLS port fails the handshake and the connection is closed.
//! - The router learns that it is served over TLS from `AppState::tls` (and every request on a
//!   TLS connection carries the [`Tls`] extension), for example to mark cookies `Secure`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Marker extension on every request that arrived over a TLS connection of the main listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tls;

/// Errors loading the certificate and key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is unreadable or holds no certificate.
    #[error("server.tls_cert {}: {why}", path.display())]
    Cert {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The key file is unreadable or holds no private key.
    #[error("server.tls_key {}: {why}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The key does not belong to the certificate, or rustls refuses the pair.
    #[error(
        "server.tls_key {} and server.tls_cert {}: {why}",
        key.display(),
        cert.display()
    )]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        why: String,
    },
}

/// Reads the certificate chain and key and builds the rustls server configuration.
///
/// # Errors
/// [`TlsError`] naming the file that is unreadable, empty of the expected PEM block, or whose
/// key does not match the certificate.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert_err = |why: String| TlsError::Cert {
        path: cert.to_path_buf(),
        why,
    };
    let key_err = |why: String| TlsError::Key {
        path: key.to_path_buf(),
        why,
    };
    let cert_pem = std::fs::read(cert).map_err(|e| cert_err(format!("cannot be read: {e}")))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(format!("not a PEM certificate file: {e}")))?;
    if chain.is_empty() {
        return Err(cert_err("holds no PEM CERTIFICATE block".into()));
    }
    let key_pem = std::fs::read(key).map_err(|e| key_err(format!("cannot be read: {e}")))?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        key_err(format!(
            "holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"
        ))
    })?;
    let pair = |why: String| TlsError::Pair {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        why,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| pair(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(chain, private)
    .map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => {
            pair("the private key does not belong to the certificate".into())
        }
        other => pair(other.to_string()),
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_and_empty_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not pem at all\n").unwrap();
        let e = server_config(&missing, &junk).unwrap_err().to_string();
        assert!(
            e.starts_with("server.tls_cert ")
                && e.contains("nope.pem")
                && e.contains("cannot be read"),
            "{e}"
        );
        let e = server_config(&junk, &missing).unwrap_err().to_string();
        assert!(
            e.contains("junk.pem") && e.contains("no PEM CERTIFICATE"),
            "{e}"
        );
    }
}
