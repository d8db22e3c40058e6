//! The daemon end to end (issue 5): `rebound run -c FILE` with a real
//! Dovecot, SQLite, a real HTTP receiver and the HTTP API. A message is
//! tracked through the API, its NDR lands in INBOX, the signed callback
//! arrives and verifies, the contact's state is readable through the API,
//! a refused (410) event is dead-lettered and re-driven through the API,
//! and SIGTERM stops the daemon cleanly. A receiver that is down while
//! contacts bounce gets every event once it is back, in order per contact,
//! with the ids the outbox gave them.

mod support;

use std::time::{Duration, Instant};

use support::dovecot::{Dovecot, DovecotOptions};
use support::notices::ndr;
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

/// A daemon under test: its config, API and log.
struct Daemon {
    child: tokio::process::Child,
    api: String,
    log: std::path::PathBuf,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Writes a config (SQLite, an HTTP callback to `callback_url`, the API
    /// on a free port, alice's inbox over implicit TLS) and starts `rebound
    /// run`; returns once the inbox is idle.
    async fn start(server: &Dovecot, callback_url: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "store: {{ kind: sqlite, path: state.db }}\n\
                 callback: {{ kind: http, url: \"{callback_url}\", secret: \"{SECRET}\", timeout: 2s }}\n\
                 api: {{ listen: \"127.0.0.1:{port}\", token: \"{TOKEN}\" }}\n\
                 inboxes:\n{inbox}",
                inbox = server.inbox_yaml("sales", "acme", "alice"),
            ),
        )
        .unwrap();
        let log = dir.path().join("daemon.log");
        let logfile = std::fs::File::create(&log).unwrap();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rebound"))
            .args(["run", "--no-progress", "-c"])
            .arg(&config)
            .stdout(logfile.try_clone().unwrap())
            .stderr(logfile)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let daemon = Daemon {
            child,
            api: format!("http://127.0.0.1:{port}"),
            log,
            client: reqwest::Client::new(),
            _dir: dir,
        };
        // The API comes up; the inbox connects.
        until(Duration::from_secs(20), async || {
            let body = daemon.get("/v1/inboxes").await?;
            let state = body.pointer("/inboxes/0/state")?.as_str()?.to_string();
            (state == "idle").then_some(())
        })
        .await;
        daemon
    }

    /// `GET path` with the token; `None` unless a 200 with JSON.
    async fn get(&self, path: &str) -> Option<serde_json::Value> {
        let r = self
            .client
            .get(format!("{}{path}", self.api))
            .bearer_auth(TOKEN)
            .send()
            .await
            .ok()?;
        if r.status() != 200 {
            return None;
        }
        r.json().await.ok()
    }

    /// `POST path` with the token and a JSON body.
    async fn post(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.api))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Every event in the outbox, in seq order, through `GET /v1/events`.
    async fn outbox(&self, status: &str) -> Vec<serde_json::Value> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .get(&format!(
                    "/v1/events?status={status}&after={after}&limit=1000"
                ))
                .await
                .expect("GET /v1/events");
            all.extend(page["events"].as_array().cloned().unwrap_or_default());
            match page["next_after"].as_i64() {
                Some(next) => after = next,
                None => return all,
            }
        }
    }

    /// SIGTERM; asserts a clean exit within 12 s.
    async fn stop(mut self) {
        let pid = self.child.id().unwrap();
        let stopped = Instant::now();
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("daemon did not stop")
            .unwrap();
        assert!(
            status.success(),
            "{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
        assert!(stopped.elapsed() < Duration::from_secs(12));
    }
}

#[tokio::test]
async fn tracked_ndr_signed_callback_and_api_end_to_end() {
    let server = Dovecot::start(DovecotOptions::default()).await;
    let receiver = Receiver::start().await;
    let daemon = Daemon::start(&server, &receiver.url()).await;
    let unauthorised = daemon
        .client
        .get(format!("{}/v1/inboxes", daemon.api))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorised.status(), 401);

    // The CRM registers its message, the NDR arrives.
    let tracked = daemon
        .post(
            "/v1/tracked-messages",
            &serde_json::json!({
                "inbox": "sales", "message_id": "<deal-7@acme.example>",
                "recipients": [{"address": "Bob@Example.com", "contact_id": "crm-42"}],
                "subject": "Quote", "metadata": {"deal": 7}
            }),
        )
        .await;
    assert_eq!(tracked.status(), 200, "{:?}", tracked.text().await);
    server
        .append(
            "alice",
            "INBOX",
            &ndr(
                "daemon-ndr@mx.example.net",
                "deal-7@acme.example",
                "bob@example.com",
                true,
            ),
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
    let contact = daemon
        .get("/v1/contacts/bob@example.com")
        .await
        .expect("GET /v1/contacts/bob@example.com");
    assert_eq!(contact["accounts"][0]["suppressed"], true, "{contact:#}");
    assert_eq!(
        contact["accounts"][0]["suppression"]["reason"],
        "hard_bounce"
    );

    // The receiver refuses for good (410): the next event is dead-lettered,
    // listed through the API, and a redrive delivers it once it accepts.
    receiver.answer(410);
    let lifted = daemon
        .post(
            "/v1/contacts/bob@example.com/unsuppress",
            &serde_json::json!({"account": "acme", "actor": "ann@acme.example", "reason": "fixed"}),
        )
        .await;
    assert_eq!(lifted.status(), 200, "{:?}", lifted.text().await);
    let dead_id = until(Duration::from_secs(20), async || {
        let body = daemon.get("/v1/events?status=dead").await?;
        let first = body.pointer("/events/0/event")?;
        (first["type"] == "contact.unsuppressed").then(|| first["id"].as_str().unwrap().to_string())
    })
    .await;
    receiver.answer(200);
    let redrive = daemon
        .post(
            &format!("/v1/events/{dead_id}/redrive"),
            &serde_json::json!({}),
        )
        .await;
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
    daemon.stop().await;
}

/// The receiver is down (connection refused) while three contacts bounce:
/// ingestion goes on (their states change, the events wait in the outbox);
/// once a receiver listens on the configured port every event arrives,
/// each contact's in the order the outbox wrote them, with the outbox's ids.
#[tokio::test]
async fn a_receiver_down_then_back_gets_everything_in_order_with_the_same_ids() {
    let server = Dovecot::start(DovecotOptions::default()).await;
    let port = free_port();
    let daemon = Daemon::start(&server, &format!("http://127.0.0.1:{port}/hook")).await;

    // Three contacts, three messages each; each message soft-bounces, and
    // carol's third hard-bounces: per contact bounce.detected ×3 and a
    // suppression (soft-bounce threshold 3, or the hard bounce).
    let contacts = ["ann@example.com", "ben@example.org", "carol@example.net"];
    let mut messages = Vec::new();
    for c in contacts {
        for n in 0..3 {
            messages.push(serde_json::json!({
                "inbox": "sales", "message_id": format!("<m{n}-{c}>"), "to": [c], "subject": "Quote"
            }));
        }
    }
    let tracked = daemon
        .post("/v1/tracked-messages", &serde_json::Value::Array(messages))
        .await;
    assert_eq!(tracked.status(), 200, "{:?}", tracked.text().await);
    for n in 0..3 {
        let notices: Vec<Vec<u8>> = contacts
            .iter()
            .map(|c| {
                let hard = n == 2 && c.starts_with("carol");
                ndr(&format!("ndr{n}-{c}"), &format!("m{n}-{c}"), c, hard)
            })
            .collect();
        server.append_many("alice", "INBOX", notices).await;
    }

    // Ingestion did not wait for the receiver: all three are suppressed,
    // and nothing has been delivered.
    for c in contacts {
        until(Duration::from_secs(30), async || {
            let contact = daemon.get(&format!("/v1/contacts/{c}")).await?;
            (contact["accounts"][0]["suppressed"] == true).then_some(())
        })
        .await;
    }
    let written = daemon.outbox("all").await;
    assert!(written.len() >= 12, "{} events", written.len());
    assert!(
        written.iter().all(|e| e["status"] == "undelivered"),
        "delivered with no receiver: {written:#?}"
    );
    // Let the dispatcher fail a few times, so that backoff is under way.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The receiver comes up on the configured port.
    let receiver = Receiver::start_on(port).await;
    let written = daemon.outbox("all").await;
    let expected: Vec<String> = written
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap().to_string())
        .collect();
    until(Duration::from_secs(60), async || {
        let got: std::collections::BTreeSet<String> =
            receiver.received().into_iter().map(|r| r.id).collect();
        expected.iter().all(|id| got.contains(id)).then_some(())
    })
    .await;
    let received = receiver.received();
    for r in &received {
        assert!(verify(SECRET, r), "{} does not verify", r.id);
        assert!(expected.contains(&r.id), "unknown id {}", r.id);
        let original = written
            .iter()
            .find(|e| e["event"]["id"] == r.id.as_str())
            .unwrap();
        assert_eq!(r.json(), original["event"], "same event, same id");
    }
    for c in contacts {
        let want: Vec<&str> = written
            .iter()
            .filter(|e| e["event"]["contact"]["address"] == c)
            .map(|e| e["event"]["id"].as_str().unwrap())
            .collect();
        let mut got: Vec<&str> = Vec::new();
        for r in &received {
            if r.json()["contact"]["address"] == c && !got.contains(&r.id.as_str()) {
                got.push(&r.id);
            }
        }
        assert_eq!(got, want, "{c}: first arrivals in outbox order");
        assert!(want.len() >= 4, "{c}: {want:?}");
    }
    until(Duration::from_secs(10), async || {
        let left = daemon.outbox("undelivered").await;
        left.is_empty().then_some(())
    })
    .await;
    daemon.stop().await;
}

/// Runs the `rebound` binary with `args` in `dir`; (exit code, stdout, stderr).
async fn rebound(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rebound"))
        .args(args)
        .current_dir(dir)
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The CLI side of dead letters, over the demo Maildir: a receiver that
/// refuses (410) dead-letters every event of a `run --once`;
/// `rebound dead-letters` lists them, `rebound redrive` queues them again,
/// and the next `run --once` delivers them, same ids, to a receiver that
/// now accepts.
#[tokio::test]
async fn dead_letters_and_redrive_from_the_command_line() {
    let receiver = Receiver::start().await;
    receiver.answer(410);
    let dir = tempfile::tempdir().unwrap();
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/maildir");
    std::fs::write(
        dir.path().join("config.yaml"),
        format!(
            "store: {{ kind: sqlite, path: state.db }}\n\
             callback: {{ kind: http, url: \"{url}\", secret: \"{SECRET}\" }}\n\
             inboxes:\n  - {{ id: demo, account: demo, provider: maildir, path: \"{demo}\" }}\n",
            url = receiver.url(),
            demo = demo.display(),
        ),
    )
    .unwrap();
    let (code, _, err) = rebound(dir.path(), &["run", "--once", "-c", "config.yaml"]).await;
    assert_eq!(code, 0, "{err}");
    let refused: Vec<String> = receiver.received().into_iter().map(|r| r.id).collect();
    assert!(refused.len() >= 8, "{refused:?}");

    let (code, table, err) = rebound(dir.path(), &["dead-letters", "-c", "config.yaml"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(table.starts_with("ID "), "{table}");
    assert_eq!(table.lines().count(), refused.len() + 1, "{table}");
    assert!(table.contains("HTTP 410"), "{table}");
    let (code, lines, _) = rebound(
        dir.path(),
        &[
            "dead-letters",
            "--json",
            "--limit",
            "2",
            "-c",
            "config.yaml",
        ],
    )
    .await;
    assert_eq!(code, 0);
    let listed: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], listed[0]["event"]["id"]);
    assert_eq!(listed[0]["attempts"], 1);
    assert!(refused.contains(&listed[0]["id"].as_str().unwrap().to_string()));

    // Unknown ids, and neither --id nor --all.
    let (code, _, err) = rebound(
        dir.path(),
        &["redrive", "--id", "evt_nope", "-c", "config.yaml"],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    let (code, _, _) = rebound(dir.path(), &["redrive", "-c", "config.yaml"]).await;
    assert_eq!(code, 2);

    // One by id, then the rest; the next run delivers them all.
    receiver.answer(200);
    let first = listed[0]["id"].as_str().unwrap();
    let (code, _, err) =
        rebound(dir.path(), &["redrive", "--id", first, "-c", "config.yaml"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.starts_with("1 dead letter queued"), "{err}");
    let (code, _, err) = rebound(dir.path(), &["redrive", "--all", "-c", "config.yaml"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        err.starts_with(&format!("{} dead letters queued", refused.len() - 1)),
        "{err}"
    );
    let (code, _, err) = rebound(dir.path(), &["run", "--once", "-c", "config.yaml"]).await;
    assert_eq!(code, 0, "{err}");
    let mut delivered: Vec<String> = receiver
        .received()
        .into_iter()
        .filter(|r| r.status == 200)
        .map(|r| r.id)
        .collect();
    delivered.sort();
    let mut expected = refused.clone();
    expected.sort();
    assert_eq!(delivered, expected);
    let (code, table, _) = rebound(dir.path(), &["dead-letters", "-c", "config.yaml"]).await;
    assert_eq!(code, 0);
    assert_eq!(table.trim(), "no dead letters");
}
