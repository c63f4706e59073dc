//! Webhooks over `https://` with a private certificate authority generated at test time.

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sds_sidecar::{BackendChoice, Credentials, PostError, post_json};
use sds_yrs::YrsBackend;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::sync::mpsc;

/// A certificate authority and a server certificate for 127.0.0.1 and localhost.
struct Pki {
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "sds-sidecar test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = server_params.signed_by(&server_key, &ca).unwrap();
    Pki {
        ca: ca.der().clone(),
        chain: vec![server.der().clone(), ca.der().clone()],
        key: server_key.serialize_der(),
    }
}

/// An HTTPS receiver: every request body arrives on the channel.
async fn https_receiver(pki: &Pki) -> (String, mpsc::UnboundedReceiver<(String, Bytes)>) {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key.clone()));
    let config = rustls::ServerConfig::builder_with_provider(sds_ws::tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://localhost:{}/secure",
        listener.local_addr().unwrap().port()
    );
    let (sender, requests) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let sender = sender.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let sender = sender.clone();
                    async move {
                        let path = request.uri().path().to_owned();
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let _ = sender.send((path, body));
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (url, requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_reach_an_https_receiver_that_the_configuration_trusts() {
    let pki = pki();
    let (url, mut requests) = https_receiver(&pki).await;
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(
        &server,
        "secure",
        dir.path(),
        BackendChoice::Yrs,
        vec![webhook(url.clone(), &["create"])],
    );
    config.tls = Some(sds_ws::tls::config_trusting_only([pki.ca.clone()]).unwrap());
    let mut sidecar = Sidecar::connected(config).await;
    let peer = Peer::<YrsBackend>::connect(&server, "secure").await;
    let barrier = sidecar.barrier(&peer).await;
    let (path, body) = within("an https webhook", requests.recv()).await.unwrap();
    assert_eq!(path, "/secure");
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["changedEntries"], serde_json::json!([barrier]));

    // Without the authority the certificate is refused: a transport error.
    let refused = post_json(
        &url,
        "{}",
        None,
        &Credentials::default(),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&refused, PostError::Transport(message) if message.contains("certificate")),
        "{refused:?}"
    );
    sidecar.stop().await;
    peer.stop().await;
    server.stop().await;
}
