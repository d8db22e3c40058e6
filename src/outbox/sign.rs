//! Standard Webhooks signatures (<https://www.standardwebhooks.com>, "Signature
//! scheme"): `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")),
//! where `key` is the base64 part of a `whsec_` secret, decoded.
//!
//! During a secret rotation the `webhook-signature` header carries one
//! signature per secret, space-separated (current first); a receiver accepts
//! the request when any of them matches a secret it holds.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::signing_key;

/// How far a `webhook-timestamp` may be from the receiver's clock, either
/// way, before [`verify`] refuses it (Standard Webhooks recommends five
/// minutes against replayed requests).
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 5 * 60;

/// The signature version this module writes and reads.
const VERSION: &str = "v1";

/// HMAC-SHA256 of `{id}.{timestamp}.{body}` under `key`, as `v1,<base64>`.
///
/// `body` is the exact byte string sent: receivers verify over the raw
/// bytes they received, before parsing any JSON.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = mac(key);
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    format!(
        "{VERSION},{}",
        base64::engine::general_purpose::STANDARD.encode(tag)
    )
}

/// A keyed HMAC; HMAC takes keys of any length, so this cannot fail.
fn mac(key: &[u8]) -> Hmac<Sha256> {
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        // Unreachable for HMAC (any key length is valid); an empty key
        // keeps this total without a panic.
        Err(_) => <Hmac<Sha256> as Mac>::new(&Default::default()),
    }
}

/// The signing keys of a callback: the current secret's, then the previous
/// one's while a rotation is under way.
#[derive(Clone)]
pub struct Signer {
    /// Decoded HMAC keys, current first.
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("keys", &format_args!("[{} redacted]", self.keys.len()))
            .finish()
    }
}

impl Signer {
    /// Keys from `whsec_` secrets, current first. The error says which one
    /// is malformed (never its value).
    pub fn new(current: &str, previous: Option<&str>) -> Result<Signer, String> {
        let mut keys = vec![signing_key(current).map_err(|e| format!("callback.secret {e}"))?];
        if let Some(previous) = previous {
            keys.push(signing_key(previous).map_err(|e| format!("callback.previous_secret {e}"))?);
        }
        Ok(Signer { keys })
    }

    /// The `webhook-signature` value: one `v1,` signature per key,
    /// space-separated.
    pub fn header(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let signatures: Vec<String> = self
            .keys
            .iter()
            .map(|key| sign(key, id, timestamp, body))
            .collect();
        signatures.join(" ")
    }
}

/// Why [`verify`] refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The secret is not `whsec_` + base64 of at least 16 bytes.
    #[error("the secret {0}")]
    Secret(String),
    /// `webhook-timestamp` is not a number of seconds.
    #[error("webhook-timestamp is not Unix seconds")]
    Timestamp,
    /// `webhook-timestamp` is further than [`TIMESTAMP_TOLERANCE_SECS`]
    /// from now (a replay, or a badly wrong clock).
    #[error("webhook-timestamp is {0} s away from now, more than the tolerance")]
    Stale(i64),
    /// No `v1` signature in the header matches.
    #[error("no signature matches")]
    NoMatch,
}

/// Checks a received request the way a receiver should: `id`, `timestamp`
/// and `signatures` are the `webhook-id`, `webhook-timestamp` and
/// `webhook-signature` header values, `body` the raw bytes received, `now`
/// the receiver's clock (Unix seconds). Accepts when the timestamp is within
/// [`TIMESTAMP_TOLERANCE_SECS`] of `now` and any `v1` signature matches
/// (compared in constant time).
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    let key = signing_key(secret).map_err(VerifyError::Secret)?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::Timestamp)?;
    let skew = now.saturating_sub(ts).saturating_abs();
    if skew > TIMESTAMP_TOLERANCE_SECS {
        return Err(VerifyError::Stale(skew));
    }
    for candidate in signatures.split(' ') {
        let Some((version, encoded)) = candidate.split_once(',') else {
            continue;
        };
        if version != VERSION {
            continue;
        }
        let Ok(tag) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
            continue;
        };
        let mut mac = mac(&key);
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(ts.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        // `verify_slice` compares in constant time.
        if mac.verify_slice(&tag).is_ok() {
            return Ok(());
        }
    }
    Err(VerifyError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed independently with Python 3's `hmac`, `hashlib` and `base64`:
    //   key = base64.b64decode(secret[6:])
    //   base64.b64encode(hmac.new(key, f"{ID}.{TS}.".encode() + BODY,
    //                             hashlib.sha256).digest())
    const SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const PREVIOUS: &str = "whsec_cmVib3VuZC1wcmV2aW91cy1zZWNyZXQta2V5IQ==";
    const ID: &str = "evt_0123456789abcdef0123456789abcdef";
    const TS: i64 = 1_795_428_900;
    const BODY: &[u8] = b"{\"schema_version\":1,\"id\":\"evt_0123456789abcdef0123456789abcdef\",\"type\":\"bounce.detected\",\"data\":{\"n\":\"\xc3\xa9\"}}";
    const SIG: &str = "v1,PHzUCfsgZjXxOlxSj+9nfO4Q55PSNKOvUiSYHvmmN5A=";
    const PREVIOUS_SIG: &str = "v1,bDgOBe056xhDozqY70SkGA4kF9uEtqRFXRDwu+uXKkI=";

    #[test]
    fn signs_the_known_vector() {
        let key = signing_key(SECRET).unwrap();
        assert_eq!(sign(&key, ID, TS, BODY), SIG);
        let signer = Signer::new(SECRET, None).unwrap();
        assert_eq!(signer.header(ID, TS, BODY), SIG);
    }

    #[test]
    fn rotation_sends_both_current_first() {
        let signer = Signer::new(SECRET, Some(PREVIOUS)).unwrap();
        assert_eq!(signer.header(ID, TS, BODY), format!("{SIG} {PREVIOUS_SIG}"));
        let header = signer.header(ID, TS, BODY);
        let ts = TS.to_string();
        assert_eq!(verify(SECRET, ID, &ts, &header, BODY, TS), Ok(()));
        assert_eq!(verify(PREVIOUS, ID, &ts, &header, BODY, TS), Ok(()));
    }

    #[test]
    fn verify_refuses_tampering_staleness_and_other_secrets() {
        let ts = TS.to_string();
        assert_eq!(verify(SECRET, ID, &ts, SIG, BODY, TS + 300), Ok(()));
        assert_eq!(verify(SECRET, ID, &ts, SIG, BODY, TS - 300), Ok(()));
        assert_eq!(
            verify(SECRET, ID, &ts, SIG, BODY, TS + 301),
            Err(VerifyError::Stale(301))
        );
        let mut body = BODY.to_vec();
        body.push(b' ');
        assert_eq!(
            verify(SECRET, ID, &ts, SIG, &body, TS),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            verify(SECRET, "evt_other", &ts, SIG, BODY, TS),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            verify(PREVIOUS, ID, &ts, SIG, BODY, TS),
            Err(VerifyError::NoMatch)
        );
        // Unknown versions and junk are skipped, not fatal.
        let mixed = format!("v2,abc junk v1,!!! {SIG}");
        assert_eq!(verify(SECRET, ID, &ts, &mixed, BODY, TS), Ok(()));
        assert_eq!(
            verify(SECRET, ID, "soon", SIG, BODY, TS),
            Err(VerifyError::Timestamp)
        );
        assert!(matches!(
            verify("nope", ID, &ts, SIG, BODY, TS),
            Err(VerifyError::Secret(_))
        ));
    }

    #[test]
    fn bad_secrets_are_named_not_shown() {
        let err = Signer::new(SECRET, Some("whsec_short")).unwrap_err();
        assert!(err.starts_with("callback.previous_secret"), "{err}");
        assert!(!err.contains("short"), "{err}");
    }
}
