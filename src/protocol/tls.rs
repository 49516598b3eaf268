//! TLS (rustls, TLS 1.2 and 1.3 only): the server side for ESMEs on `[smpp] tls_listen`
//! and for `[http]` with `tls_cert`, the client side for carriers with `tls = true`.
//!
//! The server reads its certificate chain and key from PEM files once at start; a file that
//! is missing or holds no certificate or key is a config error that names it. A carrier is
//! verified against the system's roots, or only against the CAs of its `tls_ca_file`, and
//! the name tern connects to (`host`) must be in its certificate.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// rustls on ring with TLS 1.2 and 1.3: the provider is named here, so no process-wide
/// default needs installing.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

/// The acceptor for ESMEs: the chain in `cert` (leaf first), the key in `key` (PKCS#8,
/// PKCS#1 or SEC1 PEM).
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    Ok(TlsAcceptor::from(Arc::new(server_config(cert, key)?)))
}

/// The server side's rustls config from PEM files (also the HTTP listener's).
pub fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, String> {
    let chain = certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("tls_cert and tls_key do not make a usable pair: {e}"))?;
    Ok(config)
}

/// A client config that trusts no one: https fails, plain http works (for a machine
/// without system roots).
pub fn client_config_without_roots() -> ClientConfig {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        })
        // the ring provider supports the default versions: this cannot fail
        .unwrap_or_else(|_| {
            ClientConfig::builder()
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        })
}

/// The connector for a carrier: trusting the CAs in `ca_file`, else the system's roots.
pub fn connector(ca_file: Option<&Path>) -> Result<TlsConnector, String> {
    Ok(TlsConnector::from(Arc::new(client_config(ca_file)?)))
}

/// The client side's rustls config: trusting the roots in `ca_file`, or the system's
/// (also the webhook client's).
pub fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for c in certs(path)? {
                roots
                    .add(c)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                // a system root rustls cannot use is skipped, as browsers do
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(format!(
                    "no system root certificates found ({} errors); give the carrier a tls_ca_file",
                    found.errors.len()
                ));
            }
        }
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// The name a carrier's certificate must hold: its `host`, a DNS name or an IP address.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string()).map_err(|e| format!("{host:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_hold_no_certificate_or_key_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem\n").unwrap();
        let e = acceptor(&empty, &empty).err().unwrap();
        assert!(e.contains("empty.pem"), "{e}");
        let e = connector(Some(&dir.path().join("missing.pem")))
            .err()
            .unwrap();
        assert!(e.contains("missing.pem"), "{e}");
        assert!(server_name("smsc.example.net").is_ok());
        assert!(server_name("192.0.2.1").is_ok());
    }
}
