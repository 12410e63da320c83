//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw request body with the app secret.
//!
//! The check runs over the exact bytes received. Meta signs its own escaping (`\u00e7`,
//! `\/`), so a re-serialised body would not verify; that is why the webhook reads `Bytes`
//! and never a parsed value.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    #[error("X-Hub-Signature-256 is not of the form sha256=<64 hex digits>")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match the body")]
    Mismatch,
}

/// Verifies `header` (the full header value) against `body`. Hex digits are decoded before
/// comparing, so upper-case hex is accepted; the comparison is constant-time.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let expected = parse_header(header)?;
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The 32-byte digest a header states, before any work is spent on the body.
pub fn parse_header(header: Option<&str>) -> Result<Vec<u8>, SignatureError> {
    let header = header.map(str::trim).filter(|h| !h.is_empty());
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    if expected.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    Ok(expected)
}

/// The header value Meta would send for `body`; the simulator and tests sign with it.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-app-secret";

    fn escaped_fixture() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/inbound_text_escaped_raw.json"
        ))
        .unwrap()
    }

    #[test]
    fn accepts_the_exact_escaped_bytes_meta_signed() {
        let body = escaped_fixture();
        // The fixture really is Meta-style escaped: the signature must cover these bytes.
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(text.contains(r"A\u00e7\u00e3o \ud83d\ude00"));
        assert!(text.contains(r"https:\/\/example.com"));
        let header = sign(SECRET, &body);
        assert_eq!(verify(SECRET, &body, Some(&header)), Ok(()));
    }

    #[test]
    fn rejects_the_same_json_reserialised() {
        let body = escaped_fixture();
        let header = sign(SECRET, &body);
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let reserialised = serde_json::to_vec(&value).unwrap();
        assert_ne!(reserialised, body);
        assert_eq!(
            verify(SECRET, &reserialised, Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejects_a_tampered_body() {
        let mut body = escaped_fixture();
        let header = sign(SECRET, &body);
        let i = body.iter().position(|b| *b == b'k').unwrap();
        body[i] = b'K';
        assert_eq!(
            verify(SECRET, &body, Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejects_a_wrong_secret() {
        let body = escaped_fixture();
        let header = sign(b"another-secret", &body);
        assert_eq!(
            verify(SECRET, &body, Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejects_missing_and_malformed_headers() {
        let body = b"{}";
        assert_eq!(verify(SECRET, body, None), Err(SignatureError::Missing));
        assert_eq!(verify(SECRET, body, Some("")), Err(SignatureError::Missing));
        let digest = sign(SECRET, body);
        let bare = digest.trim_start_matches("sha256=");
        assert_eq!(
            verify(SECRET, body, Some(bare)),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, body, Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, body, Some("sha256=abcd")),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn upper_case_hex_is_accepted_because_bytes_are_compared() {
        let body = b"{\"entry\":[]}";
        let header = sign(SECRET, body)
            .to_uppercase()
            .replace("SHA256=", "sha256=");
        assert_eq!(verify(SECRET, body, Some(&header)), Ok(()));
    }
}
