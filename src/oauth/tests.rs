//! Unit tests for the parts of [`super`] that need no token endpoint.

use super::*;

fn settings(token_url: &str) -> OAuth2Settings {
    OAuth2Settings {
        client_id: "client-1".into(),
        client_secret: Some(Secret::new("CLIENT-SECRET-xyz")),
        refresh_token: Secret::new("REFRESH-from-config"),
        token_url: token_url.into(),
        scopes: vec!["https://mail.google.com/".into()],
        mechanism: None,
    }
}

#[test]
fn rfc6749_codes_that_never_heal_are_refused() {
    for code in [
        "invalid_grant",
        "invalid_client",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_request",
        "interaction_required",
        "consent_required",
    ] {
        let error = classify("u", code, Some("why"), &[]);
        assert_eq!(
            error,
            Error::Refused {
                code: code.into(),
                description: Some("why".into())
            },
            "{code}"
        );
    }
}

#[test]
fn other_codes_are_transient() {
    for code in ["temporarily_unavailable", "server_error", "slow_down", ""] {
        assert!(
            matches!(classify("u", code, None, &[]), Error::Transient(_)),
            "{code}"
        );
    }
}

#[test]
fn server_text_is_shortened_cleaned_and_masked() {
    let long = format!("bad token REFRESH-abc\n{}", "x".repeat(1000));
    let Error::Refused { description, .. } =
        classify("u", "invalid_grant", Some(&long), &["REFRESH-abc", ""])
    else {
        panic!("not refused");
    };
    let description = description.unwrap();
    assert!(!description.contains("REFRESH-abc"));
    assert!(description.starts_with("bad token [redacted]x"));
    assert!(description.chars().count() <= MAX_SERVER_TEXT + "[redacted]".len());
    // An empty description is no description.
    assert_eq!(
        classify("u", "invalid_grant", Some(""), &[]),
        Error::Refused {
            code: "invalid_grant".into(),
            description: None
        }
    );
}

#[test]
fn missing_or_absurd_lifetimes_do_not_panic() {
    let now = Instant::now();
    assert_eq!(expiry(now, None), now + DEFAULT_LIFETIME);
    assert_eq!(
        expiry(now, Some(Duration::from_secs(30))),
        now + Duration::from_secs(30)
    );
    assert_eq!(
        expiry(now, Some(Duration::from_secs(u64::MAX))),
        now + DEFAULT_LIFETIME
    );
}

#[test]
fn usable_respects_the_margin() {
    let now = Instant::now();
    let mut state = State {
        refresh_token: Secret::new("r"),
        cached: Some(AccessToken {
            token: Secret::new("a"),
            expires_at: now + Duration::from_secs(30),
        }),
        rotated: None,
        attempts: 0,
        last_error: None,
    };
    assert!(state.usable(now, EXPIRY_MARGIN).is_none());
    assert!(state.usable(now, Duration::ZERO).is_some());
    state.cached = Some(AccessToken {
        token: Secret::new("a"),
        expires_at: now + Duration::from_secs(61),
    });
    assert!(state.usable(now, EXPIRY_MARGIN).is_some());
    // Expired long ago: checked_duration_since is None, not a panic.
    assert!(
        state
            .usable(now + Duration::from_secs(120), Duration::ZERO)
            .is_none()
    );
}

#[test]
fn token_urls_must_be_https_or_loopback_http() {
    for ok in [
        "https://oauth2.googleapis.com/token",
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
        "http://127.0.0.1:8080/token",
        "http://[::1]:8080/token",
        "http://localhost/token",
    ] {
        assert!(parse_token_url(ok).is_ok(), "{ok}");
    }
    for bad in [
        "http://auth.example.com/token",
        "http://10.0.0.1/token",
        "ftp://auth.example.com/token",
        "not a url",
        "",
    ] {
        assert!(
            matches!(parse_token_url(bad), Err(Error::Config(_))),
            "{bad}"
        );
    }
}

#[test]
fn messages_show_the_url_without_credentials() {
    let error = parse_token_url("http://user:pw@auth.example.com/token?k=v").unwrap_err();
    let text = error.to_string();
    assert!(text.contains("http://auth.example.com/token"), "{text}");
    assert!(!text.contains("pw") && !text.contains("k=v"), "{text}");
}

#[test]
fn new_vets_settings_and_prefers_the_stored_token() {
    let mut bad = settings("https://oauth2.googleapis.com/token");
    bad.client_id = " ".into();
    assert!(matches!(TokenSource::new(bad, None), Err(Error::Config(_))));

    let mut empty = settings("https://oauth2.googleapis.com/token");
    empty.refresh_token = Secret::new("");
    assert!(matches!(
        TokenSource::new(empty, None),
        Err(Error::Config(_))
    ));

    let source = TokenSource::new(
        settings("https://oauth2.googleapis.com/token"),
        Some(Secret::new("REFRESH-stored")),
    )
    .unwrap();
    assert_eq!(source.lock_state().refresh_token.expose(), "REFRESH-stored");
    assert!(source.take_rotated_refresh_token().is_none());

    let debug = format!("{source:?}");
    assert!(debug.contains("client-1"), "{debug}");
    for secret in ["REFRESH", "CLIENT-SECRET"] {
        assert!(!debug.contains(secret), "{debug}");
    }
}

#[test]
fn the_source_and_its_future_can_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let source = TokenSource::new(settings("https://oauth2.googleapis.com/token"), None).unwrap();
    send_sync(&source);
    let future = source.access_token();
    send(&future);
}

#[test]
fn installing_the_crypto_provider_twice_is_fine() {
    install_crypto_provider();
    install_crypto_provider();
    assert!(tokio_rustls::rustls::crypto::CryptoProvider::get_default().is_some());
}
