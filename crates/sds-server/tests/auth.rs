//! Token verification on `/ws` and `/signal` (SPEC §14.3, §18.16).

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn every_invalid_token_is_closed_with_4001_after_the_upgrade() {
    let mut config = config();
    config.issuer = Some("sds-tests".into());
    let server = TestServer::start(config).await;
    let store = "notes";
    let exp = now() + 3600;
    let valid = json!({"sub": "u", "aud": store, "scope": "write", "exp": exp, "iss": "sds-tests"});
    let with = |key: &str, value: serde_json::Value| {
        let mut claims = valid.clone();
        claims[key] = value;
        sign(&claims)
    };
    let without = |key: &str| {
        let mut claims = valid.clone();
        claims.as_object_mut().unwrap().remove(key);
        sign(&claims)
    };
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &valid,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let unsigned = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(valid.to_string())
        )
    };
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing token", None),
        ("not a JWT", Some("garbage".into())),
        (
            "bad signature",
            Some(sign_with(&valid, "another-secret-another-secret-another")),
        ),
        ("expired", Some(with("exp", json!(now() - 1)))),
        ("expiring now (no leeway)", Some(with("exp", json!(now())))),
        ("exp not a number", Some(with("exp", json!("tomorrow")))),
        ("future nbf", Some(with("nbf", json!(now() + 120)))),
        ("wrong issuer", Some(with("iss", json!("someone-else")))),
        ("missing issuer", Some(without("iss"))),
        ("missing sub", Some(without("sub"))),
        ("sub not a string", Some(with("sub", json!(42)))),
        ("missing aud", Some(without("aud"))),
        ("array aud", Some(with("aud", json!([store])))),
        ("missing scope", Some(without("scope"))),
        ("invalid scope", Some(with("scope", json!("owner")))),
        ("missing exp", Some(without("exp"))),
        ("HS512", Some(hs512)),
        ("alg none", Some(unsigned)),
    ];
    for (case, token) in cases {
        let mut client = Client::connect(&server.url(), "ws", store, token.as_deref()).await;
        assert_eq!(
            client.refused().await,
            (4001, "Unauthorized".to_owned()),
            "{case}"
        );
        // The same rules hold on /signal.
        let mut client = Client::connect(&server.url(), "signal", store, token.as_deref()).await;
        assert_eq!(client.refused().await.0, 4001, "{case} on /signal");
    }
    // The valid token and a past nbf are accepted.
    let mut accepted = Client::connect(&server.url(), "ws", store, Some(&sign(&valid))).await;
    let mut other =
        Client::connect(&server.url(), "ws", store, Some(&with("nbf", json!(now())))).await;
    assert_nothing_received(&mut accepted, &mut other, &marker(1)).await;
    drop((accepted, other));
    server.stop().await;
}

#[tokio::test]
async fn a_token_for_another_store_is_closed_with_4003() {
    let server = TestServer::start(config()).await;
    let mut client =
        Client::connect(&server.url(), "ws", "mine", Some(&token("yours", "admin"))).await;
    assert_eq!(client.refused().await, (4003, "Forbidden".to_owned()));
    let mut client = Client::connect(
        &server.url(),
        "signal",
        "mine",
        Some(&token("yours", "read")),
    )
    .await;
    assert_eq!(client.refused().await, (4003, "Forbidden".to_owned()));
    // The signature is checked before the audience.
    let forged = sign_with(
        &json!({"sub": "u", "aud": "yours", "scope": "write", "exp": now() + 60}),
        "another-secret-another-secret-another",
    );
    let mut client = Client::connect(&server.url(), "ws", "mine", Some(&forged)).await;
    assert_eq!(client.refused().await.0, 4001);
    server.stop().await;
}

#[tokio::test]
async fn tokens_without_exp_are_accepted_only_when_allowed() {
    let claims = json!({"sub": "u", "aud": "s", "scope": "write"});
    let server = TestServer::start(config()).await;
    let mut client = Client::connect(&server.url(), "ws", "s", Some(&sign(&claims))).await;
    assert_eq!(client.refused().await.0, 4001);
    drop(client);
    server.stop().await;

    let mut config = config();
    config.allow_tokens_without_exp = true;
    let server = TestServer::start(config).await;
    let mut a = Client::connect(&server.url(), "ws", "s", Some(&sign(&claims))).await;
    let mut b = Client::connect(&server.url(), "ws", "s", Some(&sign(&claims))).await;
    assert_nothing_received(&mut a, &mut b, &marker(1)).await;
    // An `exp` that is present is still checked.
    let expired = json!({"sub": "u", "aud": "s", "scope": "write", "exp": now() - 10});
    let mut late = Client::connect(&server.url(), "ws", "s", Some(&sign(&expired))).await;
    assert_eq!(late.refused().await.0, 4001);
    drop((a, b, late));
    server.stop().await;
}

#[tokio::test]
async fn a_percent_encoded_store_id_matches_its_decoded_audience() {
    let server = TestServer::start(config()).await;
    let store = "team notes/ü+%";
    // `Client::connect` percent-encodes the store id of the path.
    let mut a = server.client(store, "write").await;
    let mut b = server.client(store, "read").await;
    assert_nothing_received(&mut b, &mut a, &marker(1)).await;
    assert_eq!(server.server.sync_room_size(store), 2);
    // The encoded form as audience does not match the decoded path.
    let encoded = sds_sync::protocol::percent_encode(store);
    let mut wrong =
        Client::connect(&server.url(), "ws", store, Some(&token(&encoded, "write"))).await;
    assert_eq!(wrong.refused().await.0, 4003);
    drop((a, b, wrong));
    server.stop().await;
}

#[tokio::test]
async fn the_token_may_also_come_as_a_bearer_header() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let server = TestServer::start(config()).await;
    let mut request = format!("{}/ws/s", server.url())
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", token("s", "write")).parse().unwrap(),
    );
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut with_header = Client { socket };
    let mut other = server.client("s", "write").await;
    assert_nothing_received(&mut with_header, &mut other, &marker(1)).await;
    drop((with_header, other));
    server.stop().await;
}
