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

// ----------------------------------------------------------------- client ---

use rebound::config::{ImapSettings, OAuthMechanism, PasswordMechanism, Secret, TlsMode};
use rebound::imap::{Credentials, Error, IdleEnd, Session, Timeouts};
use tokio_util::sync::CancellationToken;

fn password(server: &Dovecot, user: &str, mechanism: PasswordMechanism) -> Credentials {
    Credentials::Password {
        username: user.into(),
        password: Secret::new(server.password(user)),
        mechanism,
    }
}

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(10),
        command: Duration::from_secs(10),
        done: Duration::from_secs(5),
    }
}

async fn login(server: &Dovecot, settings: &ImapSettings) -> Session {
    Session::connect_with(
        settings,
        &password(server, "alice", PasswordMechanism::Login),
        quick(),
    )
    .await
    .unwrap()
}

const DSN: &[u8] = b"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n\
To: alice@example.com\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
Message-ID: <dsn-1@mx.example.net>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
Your message could not be delivered.\r\n\
--b1\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; mx.example.net\r\n\
\r\n\
Final-Recipient: rfc822; nobody@example.org\r\n\
Action: failed\r\n\
Status: 5.1.1\r\n\
\r\n\
--b1\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: alice@example.com\r\n\
To: nobody@example.org\r\n\
Subject: offer\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"b2\"\r\n\
\r\n\
--b2\r\n\
Content-Type: text/plain\r\n\
\r\n\
hi\r\n\
--b2\r\n\
Content-Type: text/html\r\n\
\r\n\
<p>hi</p>\r\n\
--b2--\r\n\
\r\n\
--b1--\r\n";

#[tokio::test]
async fn login_and_plain_over_implicit_tls() {
    let server = Dovecot::start(DovecotOptions::default()).await;
    let settings = server.imap_settings("alice");
    for mechanism in [PasswordMechanism::Login, PasswordMechanism::Plain] {
        let mut session =
            Session::connect_with(&settings, &password(&server, "alice", mechanism), quick())
                .await
                .unwrap();
        let caps = session.capabilities().clone();
        assert!(caps.idle && caps.condstore && caps.special_use, "{caps:?}");
        assert!(
            caps.auth_plain && caps.xoauth2 && caps.oauthbearer,
            "{caps:?}"
        );
        let status = session.examine("INBOX").await.unwrap();
        assert!(status.uidvalidity > 0);
        assert!(
            status.highest_modseq.is_some(),
            "CONDSTORE EXAMINE reports HIGHESTMODSEQ"
        );
        session.logout().await;
    }
    assert!(server.log().contains("method=PLAIN"));
}

#[tokio::test]
async fn starttls_and_plaintext_on_loopback() {
    let server = Dovecot::start(DovecotOptions::default()).await;
    let mut settings = server.imap_settings("alice");
    settings.port = server.plain_port();
    settings.tls = TlsMode::Starttls;
    let mut session = login(&server, &settings).await;
    assert_eq!(session.examine("INBOX").await.unwrap().exists, 0);
    session.logout().await;

    settings.tls = TlsMode::None;
    let mut session = login(&server, &settings).await;
    assert!(!session.noop().await.unwrap());
    session.logout().await;
    assert!(
        server.log().contains("TLS"),
        "the STARTTLS login was over TLS"
    );
}

#[tokio::test]
async fn wrong_password_is_an_auth_error_fast() {
    let server = Dovecot::start(DovecotOptions::default()).await;
    let settings = server.imap_settings("alice");
    for mechanism in [PasswordMechanism::Login, PasswordMechanism::Plain] {
        let started = std::time::Instant::now();
        let bad = Credentials::Password {
            username: "alice".into(),
            password: Secret::new("wrong"),
            mechanism,
        };
        let err = Session::connect_with(&settings, &bad, quick())
            .await
            .unwrap_err();
        assert!(err.is_auth(), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn untrusted_certificate_is_refused() {
    let server = Dovecot::start(DovecotOptions::default()).await;
    let other = support::certs::TestCa::new("unrelated");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other-ca.pem");
    other.write_ca(&path);
    let mut settings = server.imap_settings("alice");
    settings.ca_file = Some(path);
    let err = Session::connect_with(
        &settings,
        &password(&server, "alice", PasswordMechanism::Login),
        quick(),
    )
    .await
    .unwrap_err();
    match &err {
        Error::Tls { message, .. } => assert!(message.contains("not trusted"), "{message}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }
    // A host name the certificate does not cover is refused too.
    let mut settings = server.imap_settings("alice");
    settings.host = "127.0.0.2".into();
    let err = Session::connect_with(
        &settings,
        &password(&server, "alice", PasswordMechanism::Login),
        quick(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::Tls { .. } | Error::Connect { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn oauth2_xoauth2_and_oauthbearer() {
    let auth = AuthServer::start().await;
    let server = Dovecot::start(DovecotOptions::default().oauth(&auth)).await;
    let settings = server.imap_settings("alice");
    for mechanism in [
        None,
        Some(OAuthMechanism::Xoauth2),
        Some(OAuthMechanism::Oauthbearer),
    ] {
        let creds = Credentials::OAuth2 {
            username: "alice".into(),
            access_token: Secret::new(auth.issue_access_token("alice")),
            mechanism,
        };
        let mut session = Session::connect_with(&settings, &creds, quick())
            .await
            .unwrap();
        session.examine("INBOX").await.unwrap();
        session.logout().await;
    }
    let log = server.log();
    assert!(log.contains("method=XOAUTH2"), "{log}");
    assert!(log.contains("method=OAUTHBEARER"), "{log}");
    assert!(auth.validations() >= 3);

    // Expired, unknown, and another user's token: refused, quickly, no hang.
    let expired = auth.issue_access_token("alice");
    auth.expire_all_access_tokens();
    let bob_token = auth.issue_access_token("bob");
    for (token, mechanism) in [
        (expired.clone(), Some(OAuthMechanism::Xoauth2)),
        (expired, Some(OAuthMechanism::Oauthbearer)),
        ("at-unknown".to_string(), None),
        (bob_token, Some(OAuthMechanism::Xoauth2)),
    ] {
        let started = std::time::Instant::now();
        let creds = Credentials::OAuth2 {
            username: "alice".into(),
            access_token: Secret::new(token),
            mechanism,
        };
        let err = Session::connect_with(&settings, &creds, quick())
            .await
            .unwrap_err();
        assert!(err.is_auth(), "{mechanism:?}: {err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn folders_by_special_use_and_non_ascii_names() {
    let server = Dovecot::start(DovecotOptions::default()).await;
    server.create_folder("alice", "Entwürfe").await;
    server.create_folder("alice", "Отправленные").await;
    let mut session = login(&server, &server.imap_settings("alice")).await;
    let folders = session.folders().await.unwrap();
    let junk = folders
        .iter()
        .find(|f| f.has_special_use("\\Junk"))
        .expect("a \\Junk folder");
    assert_eq!(junk.name, "Junk");
    let sent = folders
        .iter()
        .find(|f| f.has_special_use("\\Sent"))
        .expect("a \\Sent folder");
    assert_eq!(sent.name, "Sent");
    assert!(folders.iter().any(|f| f.name == "INBOX" && f.selectable));
    for name in ["Entwürfe", "Отправленные"] {
        let folder = folders
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name} in {folders:?}"));
        assert!(folder.raw_name.is_ascii() && folder.raw_name != folder.name);
        assert_eq!(folder.raw_name, rebound::imap::utf7::encode(name));
        // The raw name opens the folder, and what the harness put there is found.
        server.append("alice", name, &message("x")).await;
        assert_eq!(session.examine(&folder.raw_name).await.unwrap().exists, 1);
    }
    session.logout().await;
}

#[tokio::test]
async fn examine_and_uids_after_with_the_star_quirk() {
    let server = Dovecot::start(DovecotOptions::default()).await;
    let uids = server
        .append_many("alice", "INBOX", (0..5).map(|i| message(&format!("q{i}"))))
        .await;
    let mut session = login(&server, &server.imap_settings("alice")).await;
    let status = session.examine("INBOX").await.unwrap();
    assert_eq!(status.exists, 5);
    assert_eq!(status.uidnext, Some(uids[4] + 1));
    assert_eq!(session.uids_after(0).await.unwrap(), uids);
    assert_eq!(session.uids_after(uids[2]).await.unwrap(), &uids[3..]);
    // `n:*` with n above the highest UID still matches the highest UID on
    // the wire; it must not come back.
    assert_eq!(
        session.uids_after(uids[4]).await.unwrap(),
        Vec::<u32>::new()
    );
    assert_eq!(
        session.uids_after(uids[4] + 100).await.unwrap(),
        Vec::<u32>::new()
    );
    assert_eq!(
        session.uids_after(u32::MAX).await.unwrap(),
        Vec::<u32>::new()
    );
    session.logout().await;
}

#[tokio::test]
async fn fetch_heads_and_capped_bodies_never_set_seen() {
    let server = Dovecot::start(DovecotOptions::default()).await;
    let dsn = server.append("alice", "INBOX", DSN).await;
    let plain = server.append("alice", "INBOX", &message("plain")).await;
    let mut session = login(&server, &server.imap_settings("alice")).await;
    session.examine("INBOX").await.unwrap();
    let heads = session.fetch_heads(&[plain, dsn, dsn, 9999]).await.unwrap();
    assert_eq!(
        heads.iter().map(|h| h.uid).collect::<Vec<_>>(),
        vec![dsn, plain]
    );
    let head = &heads[0];
    assert_eq!(
        head.content_types,
        vec![
            "multipart/report",
            "text/plain",
            "message/delivery-status",
            "message/rfc822",
            "multipart/alternative",
            "text/plain",
            "text/html",
        ]
    );
    assert_eq!(head.size, DSN.len() as u64);
    assert!(head.header.starts_with(b"From: Mail Delivery System"));
    assert!(head.header.ends_with(b"\r\n\r\n"));
    let date = head.internal_date.as_deref().unwrap();
    assert!(date.len() == 20 && date.ends_with('Z'), "{date}");
    assert!(rebound::bounce::prefilter::is_candidate(
        &head.header,
        head.content_types.iter().map(String::as_str)
    ));
    assert_eq!(heads[1].content_types, vec!["text/plain"]);

    let bodies = session.fetch_bodies(&[dsn, plain], 100).await.unwrap();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0].0, dsn);
    assert_eq!(bodies[0].1, &DSN[..100]);
    let whole = session.fetch_bodies(&[dsn], 0).await.unwrap();
    assert_eq!(whole[0].1, DSN);
    let big = session
        .fetch_bodies(&[plain], 10 * 1024 * 1024)
        .await
        .unwrap();
    assert_eq!(big[0].1, message("plain"));
    session.logout().await;

    for uid in [dsn, plain] {
        assert!(
            !is_seen(&server.flags("alice", "INBOX", uid).await),
            "UID {uid} got \\Seen"
        );
    }
}

#[tokio::test]
async fn idle_new_mail_timeout_and_stop() {
    let server = Dovecot::start(DovecotOptions::default()).await;
    let mut session = login(&server, &server.imap_settings("alice")).await;
    session.examine("INBOX").await.unwrap();
    let stop = CancellationToken::new();

    // Timeout after `max` with nothing new.
    let started = std::time::Instant::now();
    let end = session
        .idle(Duration::from_millis(600), &stop)
        .await
        .unwrap();
    assert_eq!(end, IdleEnd::Timeout);
    assert!(
        started.elapsed() >= Duration::from_millis(600)
            && started.elapsed() < Duration::from_secs(3)
    );

    // New mail from another connection ends the IDLE within ~2 s.
    let started = std::time::Instant::now();
    let (end, uid) = tokio::join!(session.idle(Duration::from_secs(20), &stop), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.append("alice", "INBOX", &message("pushed")).await
    });
    assert_eq!(end.unwrap(), IdleEnd::NewMail);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(session.uids_after(0).await.unwrap(), vec![uid]);

    // Cancelling stops it promptly, and the session stays usable.
    let started = std::time::Instant::now();
    let canceller = stop.clone();
    let (end, ()) = tokio::join!(session.idle(Duration::from_secs(20), &stop), async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        canceller.cancel();
    });
    assert_eq!(end.unwrap(), IdleEnd::Stopped);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(!session.noop().await.unwrap());
    session.logout().await;
}

#[tokio::test]
async fn noop_reports_new_mail() {
    let server = Dovecot::start(DovecotOptions::default()).await;
    let mut session = login(&server, &server.imap_settings("alice")).await;
    session.examine("INBOX").await.unwrap();
    assert!(!session.noop().await.unwrap());
    server.append("alice", "INBOX", &message("n")).await;
    assert!(session.noop().await.unwrap());
    assert!(!session.noop().await.unwrap());
    session.logout().await;
}

#[tokio::test]
async fn restart_cuts_the_session_and_a_fresh_connect_works() {
    let mut server = Dovecot::start(DovecotOptions::default()).await;
    let settings = server.imap_settings("alice");
    let mut session = login(&server, &settings).await;
    session.examine("INBOX").await.unwrap();
    server.restart().await;
    let err = session.noop().await.unwrap_err();
    assert!(matches!(err, Error::Closed | Error::Io(_)), "{err:?}");
    // Dead from now on, without touching the network.
    assert!(matches!(
        session.examine("INBOX").await.unwrap_err(),
        Error::Closed
    ));
    let mut fresh = login(&server, &settings).await;
    fresh.examine("INBOX").await.unwrap();
    fresh.logout().await;
}

#[tokio::test]
async fn restart_during_idle_is_an_error_not_a_hang() {
    let mut server = Dovecot::start(DovecotOptions::default()).await;
    let mut session = login(&server, &server.imap_settings("alice")).await;
    session.examine("INBOX").await.unwrap();
    let stop = CancellationToken::new();
    let started = std::time::Instant::now();
    let (end, ()) = tokio::join!(session.idle(Duration::from_secs(30), &stop), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.restart().await;
    });
    let err = end.unwrap_err();
    assert!(matches!(err, Error::Closed | Error::Io(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test]
async fn reset_uidvalidity_is_seen_by_examine() {
    let mut server = Dovecot::start(DovecotOptions::default()).await;
    server.append("alice", "Junk", &message("j")).await;
    let settings = server.imap_settings("alice");
    let mut session = login(&server, &settings).await;
    let before = session.examine("Junk").await.unwrap();
    session.logout().await;
    let new = server.reset_uidvalidity("alice", "Junk").await;
    let mut session = login(&server, &settings).await;
    let after = session.examine("Junk").await.unwrap();
    assert_ne!(after.uidvalidity, before.uidvalidity);
    assert_eq!(after.uidvalidity, new);
    assert_eq!(after.exists, 1);
    session.logout().await;
}

#[tokio::test]
async fn a_dead_server_times_out_instead_of_hanging() {
    // A listener that accepts and never speaks.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accept = tokio::spawn(async move {
        let (_socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let server = Dovecot::start(DovecotOptions::default()).await;
    let mut settings = server.imap_settings("alice");
    settings.port = port;
    settings.tls = TlsMode::None;
    let timeouts = Timeouts {
        connect: Duration::from_millis(500),
        ..quick()
    };
    let started = std::time::Instant::now();
    let err = Session::connect_with(
        &settings,
        &password(&server, "alice", PasswordMechanism::Login),
        timeouts,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    accept.abort();
}

// ------------------------------------------------ hostile scripted server ---
// Dovecot never sends malformed data, so these few tests use a scripted
// server on 127.0.0.1 that answers like a broken or hostile one.

#[derive(Clone, Copy)]
enum Fetch {
    /// FETCH responses with missing, unasked-for and odd items.
    Sparse,
    /// A response that cannot be parsed.
    Garbage,
    /// Half a response, then the connection closes.
    Hangup,
}

async fn scripted_server(fetch: Fetch) -> u16 {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (r, mut w) = socket.into_split();
        let mut lines = BufReader::new(r).lines();
        w.write_all(b"* OK [CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN] scripted\r\n")
            .await
            .unwrap();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut words = line.splitn(3, ' ');
            let tag = words.next().unwrap_or("*").to_string();
            let command = words.next().unwrap_or("").to_ascii_uppercase();
            let reply = match command.as_str() {
                "LOGIN" => format!("{tag} OK logged in\r\n"),
                "CAPABILITY" => format!("* CAPABILITY IMAP4rev1 IDLE\r\n{tag} OK done\r\n"),
                "EXAMINE" => format!(
                    "* 4 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 10] n\r\n{tag} OK [READ-ONLY] done\r\n"
                ),
                "UID" => match fetch {
                    Fetch::Sparse => format!(
                        "* 1 FETCH (FLAGS (\\Seen))\r\n\
                         * 2 FETCH (UID 99 FLAGS ())\r\n\
                         * 3 FETCH (UID 5)\r\n\
                         * 4 FETCH (UID 6 RFC822.SIZE 12 INTERNALDATE \"not a date\" BODY[HEADER] {{4}}\r\nab\r\n)\r\n\
                         {tag} OK done\r\n"
                    ),
                    Fetch::Garbage => format!(
                        "* 1 FETCH (UID 5 BODYSTRUCTURE (\"text\" ((( \"plain\")) ]] garbage)\r\n{tag} OK done\r\n"
                    ),
                    Fetch::Hangup => {
                        w.write_all(b"* 1 FETCH (UID 5 BODY[HEADER] {100}\r\nSubject: cut")
                            .await
                            .unwrap();
                        return;
                    }
                },
                "LOGOUT" => format!("* BYE bye\r\n{tag} OK done\r\n"),
                _ => format!("{tag} BAD unknown\r\n"),
            };
            w.write_all(reply.as_bytes()).await.unwrap();
        }
    });
    port
}

async fn scripted_session(fetch: Fetch) -> Session {
    let port = scripted_server(fetch).await;
    let settings = ImapSettings {
        host: "127.0.0.1".into(),
        port,
        tls: TlsMode::None,
        ca_file: None,
        username: "alice".into(),
        auth: rebound::config::Auth::Password {
            password: Secret::new("pw"),
            mechanism: PasswordMechanism::Login,
        },
        folders: rebound::config::Folders {
            watch: vec![],
            sent: None,
        },
        poll_interval: Duration::from_secs(60),
        idle: true,
        allow_plaintext_remote: false,
        connect_timeout: Duration::from_secs(30),
    };
    let creds = rebound::imap::password_credentials(&settings).unwrap();
    let timeouts = Timeouts {
        command: Duration::from_secs(2),
        ..quick()
    };
    let mut session = Session::connect_with(&settings, &creds, timeouts)
        .await
        .unwrap();
    let status = session.examine("INBOX").await.unwrap();
    assert_eq!(
        (status.uidvalidity, status.uidnext, status.exists),
        (7, Some(10), 4)
    );
    session
}

#[tokio::test]
async fn sparse_fetch_responses_are_taken_best_effort() {
    let mut session = scripted_session(Fetch::Sparse).await;
    let heads = session.fetch_heads(&[5, 6]).await.unwrap();
    assert_eq!(heads.len(), 2, "{heads:?}");
    assert_eq!(heads[0].uid, 5);
    assert!(heads[0].header.is_empty() && heads[0].content_types.is_empty() && heads[0].size == 0);
    assert_eq!(heads[1].uid, 6);
    assert_eq!(heads[1].size, 12);
    assert_eq!(heads[1].internal_date, None);
    assert_eq!(heads[1].header, b"ab\r\n");
    // The script answers NOOP with BAD: a refusal, not a dead session.
    assert!(matches!(
        session.noop().await.unwrap_err(),
        Error::Protocol(_)
    ));
    assert_eq!(session.fetch_heads(&[5]).await.unwrap().len(), 1);
    session.logout().await;
}

#[tokio::test]
async fn unparsable_fetch_response_is_an_error_and_the_session_dies() {
    let mut session = scripted_session(Fetch::Garbage).await;
    let started = std::time::Instant::now();
    let err = session.fetch_heads(&[5]).await.unwrap_err();
    assert!(
        matches!(err, Error::Protocol(_) | Error::Timeout(_)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(
        session.uids_after(0).await.unwrap_err(),
        Error::Closed
    ));
}

#[tokio::test]
async fn hangup_mid_fetch_is_closed() {
    let mut session = scripted_session(Fetch::Hangup).await;
    let err = session.fetch_heads(&[5]).await.unwrap_err();
    assert!(matches!(err, Error::Closed | Error::Io(_)), "{err:?}");
    assert!(matches!(session.noop().await.unwrap_err(), Error::Closed));
}

#[tokio::test]
async fn many_connections_option_lifts_the_per_user_limit() {
    // Stock Dovecot allows 10 sessions per user and IP.
    let server = Dovecot::start(DovecotOptions::default().many_connections()).await;
    let settings = server.imap_settings("alice");
    let sessions = futures_util::future::join_all((0..25).map(|_| login(&server, &settings))).await;
    assert_eq!(sessions.len(), 25);
    for session in sessions {
        session.logout().await;
    }
}
