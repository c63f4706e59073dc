//! TLS client configurations for `wss://` servers (SPEC §12.1).
//!
//! The provider and the probe connect to `wss://` URLs through rustls with the *ring* crypto
//! provider. They always pass an explicit [`ClientConfig`], so no process-wide crypto provider
//! is installed or needed: an application that installs one of its own is not affected.
//!
//! Which servers are trusted is the [`ClientConfig`]'s business:
//!
//! * By default ([`WsOptions::tls`](crate::WsOptions::tls) is `None`) the provider uses
//!   [`default_config`]: the public web PKI roots of the `webpki-roots` crate (Mozilla's root
//!   program), compiled in, so the operating system's certificate store plays no part.
//! * A private deployment whose server certificate is issued by its own certificate
//!   authority trusts that CA with [`config_trusting`] (the public roots and the given ones)
//!   or [`config_trusting_only`] (the given ones alone).
//! * Anything else (client certificates, a custom verifier, ALPN) takes a [`ClientConfig`]
//!   built by hand, preferably with [`crypto_provider`] so that it does not depend on the
//!   process-wide default provider.
//!
//! ```no_run
//! use sds_ws::rustls::pki_types::CertificateDer;
//! use sds_ws::rustls::pki_types::pem::PemObject;
//! use sds_ws::{WsOptions, tls};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The private CA's certificate, PEM-encoded (several certificates may follow each other).
//! let ca = CertificateDer::pem_file_iter("/etc/sds/ca.pem")?.collect::<Result<Vec<_>, _>>()?;
//! let options = WsOptions {
//!     tls: Some(tls::config_trusting_only(ca)?),
//!     ..WsOptions::default()
//! };
//! # let _ = options;
//! # Ok(())
//! # }
//! ```

use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use std::sync::{Arc, OnceLock};

/// The crypto provider of every configuration made here: rustls' *ring* provider.
///
/// Use it with [`ClientConfig::builder_with_provider`] to build a configuration by hand
/// without relying on the process-wide default provider.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The configuration used when [`WsOptions::tls`](crate::WsOptions::tls) is `None`: the
/// public web PKI roots of `webpki-roots`, TLS 1.2 and 1.3, no client certificate.
///
/// It is built once and shared, together with its TLS session cache.
pub fn default_config() -> Arc<ClientConfig> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| client_config(public_roots()))
        .clone()
}

/// A configuration that trusts the public web PKI roots (as [`default_config`]) and the given
/// certificates, typically a private certificate authority's (DER-encoded; see
/// [`PemObject`](rustls::pki_types::pem::PemObject) to read PEM files).
///
/// # Errors
///
/// A certificate that cannot be parsed as a trust anchor.
pub fn config_trusting(
    roots: impl IntoIterator<Item = CertificateDer<'static>>,
) -> Result<Arc<ClientConfig>, rustls::Error> {
    let mut store = public_roots();
    add_all(&mut store, roots)?;
    Ok(client_config(store))
}

/// A configuration that trusts the given certificates and nothing else: servers whose
/// certificates are issued by a public authority are refused.
///
/// # Errors
///
/// No certificate given, or one that cannot be parsed as a trust anchor.
pub fn config_trusting_only(
    roots: impl IntoIterator<Item = CertificateDer<'static>>,
) -> Result<Arc<ClientConfig>, rustls::Error> {
    let mut store = RootCertStore::empty();
    add_all(&mut store, roots)?;
    if store.is_empty() {
        return Err(rustls::Error::General(
            "no root certificate to trust was given".into(),
        ));
    }
    Ok(client_config(store))
}

fn public_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

fn add_all(
    store: &mut RootCertStore,
    roots: impl IntoIterator<Item = CertificateDer<'static>>,
) -> Result<(), rustls::Error> {
    roots.into_iter().try_for_each(|root| store.add(root))
}

fn client_config(roots: RootCertStore) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        // Fails only for a provider without cipher suites for any default version; ring has
        // suites for both TLS 1.2 and 1.3.
        .expect("the ring provider supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// The configuration for a connection: the options' own, or the default one.
pub(crate) fn config_for(custom: Option<&Arc<ClientConfig>>) -> Arc<ClientConfig> {
    custom.cloned().unwrap_or_else(default_config)
}

/// A message for people about a failed TLS handshake, if `error` is one.
pub(crate) fn describe_failure(error: &tokio_tungstenite::tungstenite::Error) -> Option<String> {
    use tokio_tungstenite::tungstenite::Error;
    match error {
        // tokio-rustls reports handshake failures as I/O errors wrapping rustls' own.
        Error::Io(io) => {
            let tls = io.get_ref()?.downcast_ref::<rustls::Error>()?;
            Some(match tls {
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
                    format!(
                        "TLS handshake failed: {tls} (the server's certificate was not issued \
                         by a trusted root certificate)"
                    )
                }
                _ => format!("TLS handshake failed: {tls}"),
            })
        }
        Error::Tls(tls) => Some(format!("TLS setup failed: {tls}")),
        _ => None,
    }
}
