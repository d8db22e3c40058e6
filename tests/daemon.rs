//! The daemon end to end (issue 5): `rebound run -c FILE` with a real
//! Dovecot, SQLite, a real HTTP receiver and the HTTP API. A message is
//! tracked through the API, its NDR lands in INBOX, the signed callback
//! arrives and verifies, the contact's state is readable through the API,
//! a refused (410) event is dead-lettered and re-driven through the API,
//! and SIGTERM stops the daemon cleanly.

mod support;

use std::time::{Duration, Instant};

use support::dovecot::{Dovecot, DovecotOptions};
use support::receiver::{Receiver, verify};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TOKEN: &str = "test-token-0123456789abcdef";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ndr(original: &str, address: &str) -> Vec<u8> {
    format!(
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example.net\r\nTo: alice@acme.example\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n\
         Message-ID: <daemon-ndr@mx.example.net>\r\nIn-Reply-To: <{original}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n\r\n\
         --B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n\
         Final-Recipient: rfc822; {address}\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n--B--\r\n"
    )
    .into_bytes()
}

async fn until<T>(limit: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn tracked_ndr_signed_callback_and_api_end_to_end() {
    let server = Dovecot::start(DovecotOptions::default()).await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "store: {{ kind: sqlite, path: state.db }}\n\
             callback: {{ kind: http, url: \"{url}\", secret: \"{SECRET}\" }}\n\
             api: {{ listen: \"127.0.0.1:{port}\", token: \"{TOKEN}\" }}\n\
             inboxes:\n\
             \x20 - id: sales\n\
             \x20   account: acme\n\
             \x20   provider: imap\n\
             \x20   host: 127.0.0.1\n\
             \x20   port: {tls}\n\
             \x20   ca_file: \"{ca}\"\n\
             \x20   username: alice\n\
             \x20   auth: {{ kind: password, password: \"{pw}\", mechanism: login }}\n",
            url = receiver.url(),
            tls = server.tls_port(),
            ca = server.ca_pem_path().display(),
            pw = server.password("alice"),
        ),
    )
    .unwrap();
    let log = dir.path().join("daemon.log");
    let logfile = std::fs::File::create(&log).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rebound"))
        .args(["run", "--no-progress", "-c"])
        .arg(&config)
        .stdout(logfile.try_clone().unwrap())
        .stderr(logfile)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let api = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();

    // The API comes up; the inbox connects.
    until(Duration::from_secs(20), async || {
        let r = client
            .get(format!("{api}/v1/inboxes"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .ok()?;
        let body: serde_json::Value = r.json().await.ok()?;
        let state = body.pointer("/inboxes/0/state")?.as_str()?.to_string();
        (state == "idle").then_some(())
    })
    .await;
    assert_eq!(
        client
            .get(format!("{api}/v1/inboxes"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // The CRM registers its message, the NDR arrives.
    let tracked = client
        .post(format!("{api}/v1/tracked-messages"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "inbox": "sales", "message_id": "<deal-7@acme.example>",
            "recipients": [{"address": "Bob@Example.com", "contact_id": "crm-42"}],
            "subject": "Quote", "metadata": {"deal": 7}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(tracked.status(), 200, "{:?}", tracked.text().await);
    server
        .append(
            "alice",
            "INBOX",
            &ndr("deal-7@acme.example", "bob@example.com"),
        )
        .await;

    // The signed callbacks arrive.
    let got = until(Duration::from_secs(20), async || {
        let got = receiver.received();
        got.iter()
            .any(|r| r.json()["type"] == "contact.suppressed")
            .then_some(got)
    })
    .await;
    let bounce = got
        .iter()
        .find(|r| r.json()["type"] == "bounce.detected")
        .expect("bounce.detected delivered");
    assert!(verify(SECRET, bounce), "signature does not verify");
    let event = bounce.json();
    assert_eq!(event["contact"]["contact_id"], "crm-42");
    assert_eq!(event["data"]["tracked_message"]["metadata"]["deal"], 7);
    assert_eq!(event["data"]["match"]["method"], "reply_headers");
    let timestamp: i64 = bounce.timestamp.parse().unwrap();
    assert!((rebound::sync::unix_now() - timestamp).abs() < 60);
    // Per contact, in order: the bounce before the suppression it caused.
    let order: Vec<String> = got
        .iter()
        .filter(|r| r.json()["contact"]["address"] == "bob@example.com")
        .map(|r| r.json()["type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        order.first().map(String::as_str),
        Some("bounce.detected"),
        "{order:?}"
    );

    // The contact's state through the API.
    let contact: serde_json::Value = client
        .get(format!("{api}/v1/contacts/bob@example.com"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(contact["accounts"][0]["suppressed"], true, "{contact:#}");
    assert_eq!(
        contact["accounts"][0]["suppression"]["reason"],
        "hard_bounce"
    );

    // The receiver refuses for good (410): the next event is dead-lettered,
    // listed through the API, and a redrive delivers it once it accepts.
    receiver.answer(410);
    let lifted = client
        .post(format!("{api}/v1/contacts/bob@example.com/unsuppress"))
        .bearer_auth(TOKEN)
        .json(
            &serde_json::json!({"account": "acme", "actor": "ann@acme.example", "reason": "fixed"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(lifted.status(), 200, "{:?}", lifted.text().await);
    let dead_id = until(Duration::from_secs(20), async || {
        let r = client
            .get(format!("{api}/v1/events?status=dead"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .ok()?;
        let body: serde_json::Value = r.json().await.ok()?;
        let first = body.pointer("/events/0/event")?;
        (first["type"] == "contact.unsuppressed").then(|| first["id"].as_str().unwrap().to_string())
    })
    .await;
    receiver.answer(200);
    let redrive = client
        .post(format!("{api}/v1/events/{dead_id}/redrive"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(redrive.status(), 202);
    until(Duration::from_secs(20), async || {
        receiver
            .received()
            .iter()
            .any(|r| r.id == dead_id && r.status == 200)
            .then_some(())
    })
    .await;

    // SIGTERM: a clean, prompt exit.
    let pid = child.id().unwrap();
    let stopped = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("daemon did not stop")
        .unwrap();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(stopped.elapsed() < Duration::from_secs(12));
}
