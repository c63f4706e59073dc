//! `POST /api/token` (SPEC §14.5, §18.16).

mod common;

use common::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value as JsonValue, json};

async fn post(server: &TestServer, authorization: Option<&str>, body: &str) -> (u16, JsonValue) {
    let headers: Vec<(&str, &str)> = authorization
        .map(|value| {
            vec![
                ("Authorization", value),
                ("Content-Type", "application/json"),
            ]
        })
        .unwrap_or_default();
    let (status, body) = http(
        server.address,
        "POST",
        "/api/token",
        &headers,
        body.as_bytes(),
    )
    .await;
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("JSON body expected: {body}")),
    )
}

fn error(message: &str) -> JsonValue {
    json!({ "error": message })
}

/// Decodes an issued token, checking only its signature, and returns header and claims.
fn decode(token: &str) -> (jsonwebtoken::Header, Map<String, JsonValue>) {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Map<String, JsonValue>>(
        token,
        &DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .unwrap();
    (data.header, data.claims)
}

#[tokio::test]
async fn every_error_has_its_status_and_body_in_the_documented_order() {
    let server = TestServer::start(config()).await;
    let admin = format!("Bearer {}", token("store", "admin"));
    let writer = format!("Bearer {}", token("store", "write"));
    let expired = format!(
        "Bearer {}",
        sign(&json!({"sub": "a", "aud": "store", "scope": "admin", "exp": now() - 1}))
    );
    let good_body = r#"{"sub":"alice","scope":"write"}"#;
    let cases: Vec<(Option<&str>, &str, u16, JsonValue)> = vec![
        (None, good_body, 401, error("missing token")),
        (Some("Basic abc"), good_body, 401, error("missing token")),
        (Some("bearer x"), good_body, 401, error("missing token")),
        (
            Some("Bearer nonsense"),
            "not json",
            401,
            error("invalid token"),
        ),
        (Some(&expired), good_body, 401, error("invalid token")),
        (
            Some(&writer),
            "not json",
            403,
            error("admin scope required"),
        ),
        (Some(&admin), "not json", 400, error("invalid JSON body")),
        (Some(&admin), "", 400, error("invalid JSON body")),
        (
            Some(&admin),
            r#"{"scope":"write"}"#,
            400,
            error("sub and scope required"),
        ),
        (
            Some(&admin),
            r#"{"sub":"a"}"#,
            400,
            error("sub and scope required"),
        ),
        (
            Some(&admin),
            r#"{"sub":1,"scope":"write"}"#,
            400,
            error("sub and scope required"),
        ),
        (
            Some(&admin),
            r#"{"sub":"a","scope":true}"#,
            400,
            error("sub and scope required"),
        ),
        (
            Some(&admin),
            r#"[1,2]"#,
            400,
            error("sub and scope required"),
        ),
        (
            Some(&admin),
            r#"{"sub":"a","scope":"owner"}"#,
            400,
            error("invalid scope"),
        ),
        (
            Some(&admin),
            r#"{"sub":"a","scope":"Write"}"#,
            400,
            error("invalid scope"),
        ),
    ];
    for (authorization, body, status, expected) in cases {
        assert_eq!(
            post(&server, authorization, body).await,
            (status, expected),
            "{authorization:?} {body}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn issued_tokens_carry_the_documented_claims() {
    let mut config = config();
    config.issuer = Some("sds-test-issuer".into());
    let server = TestServer::start(config).await;
    let admin = format!(
        "Bearer {}",
        sign(
            &json!({"sub": "boss", "aud": "team/store", "scope": "admin", "exp": now() + 60, "iss": "sds-test-issuer"})
        )
    );
    for (exp, seconds) in [
        (Some("90s"), 90),
        (Some("15m"), 900),
        (Some("2h"), 7_200),
        (Some("7d"), 604_800),
        (None, 86_400),
        (Some("2w"), 86_400),
        (Some("1.5h"), 86_400),
        (Some(""), 86_400),
    ] {
        for scope in ["read", "write", "admin"] {
            let mut body = json!({"sub": "alice", "scope": scope});
            if let Some(exp) = exp {
                body["exp"] = json!(exp);
            }
            let before = now();
            let (status, answer) = post(&server, Some(&admin), &body.to_string()).await;
            let after = now();
            assert_eq!(status, 200, "{answer}");
            let (header, claims) = decode(answer["token"].as_str().unwrap());
            assert_eq!(header.alg, Algorithm::HS256);
            assert_eq!(claims["sub"], "alice");
            assert_eq!(claims["aud"], "team/store", "the admin token's audience");
            assert_eq!(claims["scope"], scope);
            assert_eq!(claims["iss"], "sds-test-issuer");
            let iat = claims["iat"].as_u64().unwrap();
            assert!((before..=after).contains(&iat));
            assert_eq!(claims["exp"].as_u64().unwrap(), iat + seconds, "{exp:?}");
        }
    }
    // A non-string `exp` also means 24 hours.
    let (_, answer) = post(
        &server,
        Some(&admin),
        r#"{"sub":"a","scope":"read","exp":3600}"#,
    )
    .await;
    let (_, claims) = decode(answer["token"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        86_400
    );
    server.stop().await;
}

#[tokio::test]
async fn an_issued_token_opens_its_store_and_no_other() {
    let server = TestServer::start(config()).await;
    let admin = format!("Bearer {}", token("mine", "admin"));
    let (_, answer) = post(&server, Some(&admin), r#"{"sub":"bob","scope":"write"}"#).await;
    let issued = answer["token"].as_str().unwrap().to_owned();
    // Without an issuer configured, issued tokens carry none.
    assert!(!decode(&issued).1.contains_key("iss"));
    let mut bob = Client::connect(&server.url(), "ws", "mine", Some(&issued)).await;
    let mut other = server.client("mine", "write").await;
    assert_nothing_received(&mut bob, &mut other, &marker(1)).await;
    let mut elsewhere = Client::connect(&server.url(), "ws", "yours", Some(&issued)).await;
    assert_eq!(elsewhere.refused().await.0, 4003);
    drop((bob, other, elsewhere));
    server.stop().await;
}
