//! JWT verification (SPEC §14.3) and token issuance (SPEC §14.5).
//!
//! The library checks the signature and the algorithm; every claim rule is checked here, so
//! that the rules are exactly the SPEC's: no leeway, `aud` a single string, `exp` required
//! unless allowed otherwise.

use crate::config::{JwtSecret, ServerConfig};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value as JsonValue, json};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// What a token allows (SPEC §14.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Receive everything; PATCH, VALUE and VALUE_CHUNK sent by the client are dropped.
    Read,
    /// Read and write.
    Write,
    /// Read and write, and issue tokens for the same store.
    Admin,
}

impl Scope {
    /// Parses `read`, `write` or `admin`.
    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    /// The claim value.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// Whether the scope may change documents (`write` and `admin` are equivalent on `/ws`).
    pub fn can_write(self) -> bool {
        !matches!(self, Scope::Read)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verified claims of a token.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// Subject.
    pub sub: String,
    /// Audience: the store id the token is for.
    pub aud: String,
    /// Scope.
    pub scope: Scope,
}

/// Why a token was refused. The text is for logs; it never contains the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError(pub String);

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn refuse(reason: impl Into<String>) -> AuthError {
    AuthError(reason.into())
}

/// The current time in seconds since the Unix epoch.
pub fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Verifies `token` against the configuration at time `now` (seconds).
pub fn verify(token: &str, config: &ServerConfig, now: u64) -> Result<Claims, AuthError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    let decoded = jsonwebtoken::decode::<Map<String, JsonValue>>(
        token,
        &DecodingKey::from_secret(config.jwt_secret.as_bytes()),
        &validation,
    )
    .map_err(|e| refuse(format!("token rejected: {e}")))?;
    let claims = decoded.claims;
    let now = now as f64;

    match claims.get("exp") {
        Some(JsonValue::Number(exp)) => {
            let exp = exp.as_f64().unwrap_or(f64::NEG_INFINITY);
            if now >= exp {
                return Err(refuse("token expired"));
            }
        }
        Some(_) => return Err(refuse("exp is not a number")),
        None if config.allow_tokens_without_exp => {}
        None => return Err(refuse("token without exp")),
    }
    match claims.get("nbf") {
        Some(JsonValue::Number(nbf)) if now < nbf.as_f64().unwrap_or(f64::INFINITY) => {
            return Err(refuse("token not yet valid"));
        }
        None | Some(JsonValue::Number(_)) => {}
        Some(_) => return Err(refuse("nbf is not a number")),
    }
    if let Some(issuer) = &config.issuer
        && claims.get("iss").and_then(JsonValue::as_str) != Some(issuer.as_str())
    {
        return Err(refuse("wrong issuer"));
    }
    let sub = match claims.get("sub") {
        Some(JsonValue::String(sub)) => sub.clone(),
        _ => return Err(refuse("sub missing or not a string")),
    };
    let aud = match claims.get("aud") {
        Some(JsonValue::String(aud)) => aud.clone(),
        Some(JsonValue::Array(_)) => return Err(refuse("aud is an array")),
        _ => return Err(refuse("aud missing or not a string")),
    };
    let scope = match claims.get("scope") {
        Some(JsonValue::String(scope)) => {
            Scope::parse(scope).ok_or_else(|| refuse("invalid scope"))?
        }
        _ => return Err(refuse("scope missing or not a string")),
    };
    Ok(Claims { sub, aud, scope })
}

/// Parses a token lifetime `^(\d+)(s|m|h|d)$` into seconds; `None` for anything else
/// (callers fall back to 24 hours, SPEC §14.5).
pub fn parse_duration(text: &str) -> Option<u64> {
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(factor)
}

/// The default lifetime of an issued token: 24 hours.
pub const DEFAULT_TOKEN_LIFETIME_SECONDS: u64 = 24 * 3_600;

/// Signs a token with the claims SPEC §14.5 lists: `sub`, `aud`, `scope`, `iat` = `now`,
/// `exp` = `now + lifetime` and `iss` when given.
pub fn issue(
    secret: &JwtSecret,
    issuer: Option<&str>,
    sub: &str,
    aud: &str,
    scope: Scope,
    now: u64,
    lifetime_seconds: u64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut claims = json!({
        "sub": sub,
        "aud": aud,
        "scope": scope.as_str(),
        "iat": now,
        "exp": now.saturating_add(lifetime_seconds),
    });
    if let Some(issuer) = issuer {
        claims["iss"] = JsonValue::String(issuer.to_owned());
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_the_documented_syntax() {
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("15m"), Some(900));
        assert_eq!(parse_duration("2h"), Some(7_200));
        assert_eq!(parse_duration("7d"), Some(604_800));
        assert_eq!(parse_duration("0s"), Some(0));
        for bad in ["", "h", "1", "1w", "-1h", "1.5h", " 1h", "1h ", "1H", "١h"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }

    #[test]
    fn issued_tokens_verify() {
        let config = ServerConfig::new("k".repeat(40));
        let token = issue(
            &config.jwt_secret,
            None,
            "me",
            "store",
            Scope::Write,
            now_seconds(),
            60,
        )
        .unwrap();
        let claims = verify(&token, &config, now_seconds()).unwrap();
        assert_eq!(
            claims,
            Claims {
                sub: "me".into(),
                aud: "store".into(),
                scope: Scope::Write
            }
        );
        // Expiry without leeway: valid strictly before `exp`.
        assert!(verify(&token, &config, now_seconds() + 60).is_err());
    }
}
