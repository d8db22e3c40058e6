//! The IMAP client (`rebound::imap`) against a real Dovecot, and the test
//! harness itself. Every test starts its own server (tests/support).

mod support;

use std::time::Duration;

use support::authserver::AuthServer;
use support::dovecot::{Dovecot, DovecotOptions};

fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.com>\r\n\r\nHello.\r\n"
    )
    .into_bytes()
}

fn is_seen(flags: &[String]) -> bool {
    flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen"))
}

// ---------------------------------------------------------------- harness ---

#[tokio::test]
async fn harness_appends_and_reads_flags() {
    let server = Dovecot::start(DovecotOptions::default()).await;
    let first = server.append("alice", "INBOX", &message("one")).await;
    let second = server.append("alice", "INBOX", &message("two")).await;
    assert_eq!(second, first + 1);
    assert!(!is_seen(&server.flags("alice", "INBOX", first).await));
    let uids = server
        .append_many("alice", "Junk", (0..50).map(|i| message(&format!("m{i}"))))
        .await;
    assert_eq!(uids.len(), 50);
    assert!(uids.windows(2).all(|w| w[1] == w[0] + 1));
}

#[tokio::test]
async fn harness_reset_uidvalidity_changes_it_and_keeps_messages() {
    let mut server = Dovecot::start(DovecotOptions::default()).await;
    server.create_folder("alice", "Entwürfe").await;
    server.append("alice", "Entwürfe", &message("keep")).await;
    let before = server.uidvalidity("alice", "Entwürfe").await;
    let after = server.reset_uidvalidity("alice", "Entwürfe").await;
    assert_ne!(before, after);
    // The message is still there (UID FETCH 1:* finds one).
    let flags = server.flags("alice", "Entwürfe", 1).await;
    assert!(!is_seen(&flags), "{flags:?}");
}

#[tokio::test]
async fn harness_restart_keeps_data_and_ports() {
    let mut server = Dovecot::start(DovecotOptions::default()).await;
    let port = server.tls_port();
    let uid = server.append("alice", "INBOX", &message("persist")).await;
    server.restart().await;
    assert_eq!(server.tls_port(), port);
    assert!(!is_seen(&server.flags("alice", "INBOX", uid).await));
}

#[tokio::test]
async fn harness_authserver_token_endpoint() {
    let auth = AuthServer::start().await;
    let refresh = auth.issue_refresh_token("alice");
    let client = reqwest::Client::new();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", support::authserver::CLIENT_ID),
        ("client_secret", support::authserver::CLIENT_SECRET),
        ("scope", "imap offline"),
    ];
    let body = form
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(' ', "+")))
        .collect::<Vec<_>>()
        .join("&");
    let post = |body: String| {
        client
            .post(auth.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let ok = post(body.clone()).await.unwrap();
    assert_eq!(ok.status(), 200);
    let json: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(json["token_type"], "Bearer");
    assert!(json["access_token"].as_str().unwrap().starts_with("at-"));
    assert!(json.get("refresh_token").is_none());
    assert_eq!(
        auth.token_requests().last_scope.as_deref(),
        Some("imap offline")
    );

    auth.set_rotation(true);
    let rotated: serde_json::Value = post(body.clone()).await.unwrap().json().await.unwrap();
    assert!(
        rotated["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("rt-")
    );
    // The rotated-away token is now refused.
    let refused = post(body).await.unwrap();
    assert_eq!(refused.status(), 400);
    let err: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(err["error"], "invalid_grant");
    assert_eq!(auth.token_requests().count, 3);
}

#[tokio::test]
async fn harness_start_is_quick() {
    let started = std::time::Instant::now();
    let mut server = Dovecot::start(DovecotOptions::default()).await;
    server.stop().await;
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn harness_many_connections_and_bulk_append() {
    let server = Dovecot::start(DovecotOptions::default().many_connections()).await;
    let started = std::time::Instant::now();
    let uids = server
        .append_many(
            "alice",
            "INBOX",
            (0..2_000).map(|i| message(&format!("bulk{i}"))),
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(uids.len(), 2_000);
    assert_eq!(uids.last().copied(), Some(2_000));
}
