//! The HTTP API end to end: a real server on an ephemeral loopback port
//! over a real SQLite store in a temp dir, spoken to with reqwest.
//!
//! `UPDATE_GOLDEN=1 cargo test --test api` rewrites docs/openapi.json from
//! the code (then review the diff).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use rebound::api::{self, AppState};
use rebound::bounce::{Kind, analyse};
use rebound::config::{Config, Secret};
use rebound::event::EventType;
use rebound::ingest::Pipeline;
use rebound::matching::{Confidence, Match, Method};
use rebound::policy::{Changes, Ledger, Notice};
use rebound::store::{Health, HealthState, PolicyStore, SqliteStore, Store};
use rebound::track::{TrackSource, TrackedMessage, TrackedRecipient};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "test-token-5f2c9a";
const T: i64 = 1_795_428_900;

const CONFIG: &str = "\
store: { path: rebound.db }
inboxes:
  - { id: sales, account: acme, provider: maildir, path: sales }
  - { id: support, account: acme, provider: maildir, path: support }
  - { id: old, account: acme, provider: maildir, path: old, enabled: false }
  - { id: beta-sales, account: beta, provider: maildir, path: beta }
";

struct Server {
    base: String,
    client: reqwest::Client,
    store: Arc<SqliteStore>,
    resyncs: Arc<Mutex<Vec<String>>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["sales", "support", "old", "beta"] {
            for leaf in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(dir.path().join(sub).join(leaf)).unwrap();
            }
        }
        let config = Config::from_yaml_str(CONFIG, dir.path(), &|_| None).unwrap();
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("rebound.db"))
                .await
                .unwrap(),
        );
        let pipeline = Arc::new(Pipeline::new(
            config.policy.settings(),
            config.policy.matching(),
        ));
        let resyncs = Arc::new(Mutex::new(Vec::new()));
        let seen = resyncs.clone();
        let state = AppState::new(
            store.clone(),
            Arc::new(config),
            pipeline,
            &Secret::new(TOKEN),
        )
        .with_resync(Arc::new(move |inbox: &str| {
            seen.lock().unwrap().push(inbox.to_string());
            inbox == "sales"
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let task = tokio::spawn(api::serve(listener, state, stop.clone()));
        Server {
            base,
            client: reqwest::Client::new(),
            store,
            resyncs,
            stop,
            task,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        json_of(response).await
    }

    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        json_of(response).await
    }

    async fn stop(self) {
        self.stop.cancel();
        let served = tokio::time::timeout(std::time::Duration::from_secs(10), self.task)
            .await
            .expect("the server stops when cancelled");
        served.unwrap().unwrap();
        self.store.close().await;
    }
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("not JSON ({e}), status {status}: {text}"));
    (status, value)
}

fn tracked(id: &str, to: &str) -> TrackedMessage {
    TrackedMessage {
        account: "acme".into(),
        inbox: "sales".into(),
        message_id: id.into(),
        recipients: vec![TrackedRecipient {
            address: to.into(),
            contact_id: Some("crm-42".into()),
        }],
        subject: Some("Our offer".into()),
        sent_at: T - 3600,
        metadata: json!({"deal": 7}),
        source: TrackSource::Api,
    }
}

/// The changes a certain hard bounce of `address` in acme causes: a
/// `bounce.detected`, a suppression, its history line and the finding.
fn hard_bounce(address: &str, identity: &str) -> Changes {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dsn/postfix_user_unknown.eml");
    let report = analyse(&std::fs::read(path).unwrap());
    let mut recipient = report.recipients[0].clone();
    recipient.address = address.into();
    recipient.final_address = None;
    recipient.kind = Kind::Hard;
    let matched = Match {
        method: Method::ReplyHeaders,
        confidence: Some(Confidence::Certain),
        message: Some(tracked("m1@acme.test", address)),
        detection_limited: false,
        gateway: None,
        final_address: None,
    };
    let mut ledger = Ledger::new(rebound::policy::Settings::default());
    let notice = Notice {
        account: "acme",
        inbox: "sales",
        identity,
        report: &report,
        folder: "INBOX",
        uidvalidity: 9,
        uid: 31,
        raw_sha256: "ab",
        location: None,
        noticed_at: T,
    };
    ledger.bounce(&notice, &recipient, &matched);
    let changes = ledger.into_changes();
    assert!(
        changes.contacts.iter().any(|c| c.suppression.is_some()),
        "the fixture suppresses"
    );
    changes
}

#[tokio::test]
async fn auth_guards_everything_but_healthz() {
    let s = Server::start().await;
    // Open.
    let (status, body) = json_of(s.client.get(s.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));

    for path in [
        "/v1/inboxes",
        "/metrics",
        "/v1/openapi.json",
        "/v1/no-such-route",
    ] {
        // No token.
        let response = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        let (_, body) = json_of(response).await;
        assert!(body["error"].as_str().unwrap().contains("Bearer"), "{body}");
        // Wrong token, a prefix of the right one, another scheme.
        for header in [
            "Bearer wrong".to_string(),
            format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]),
            format!("Bearer {TOKEN}x"),
            format!("Basic {TOKEN}"),
        ] {
            let response = s
                .client
                .get(s.url(path))
                .header("authorization", &header)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{path} {header}"
            );
            assert!(response.headers().contains_key("www-authenticate"));
        }
    }
    // The right token, with the scheme in any case.
    let response = s
        .client
        .get(s.url("/v1/inboxes"))
        .header("authorization", format!("bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body) = s.get("/v1/no-such-route").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no route /v1/no-such-route");
    s.stop().await;
}

#[tokio::test]
async fn tracking_one_a_batch_and_a_bad_batch() {
    let s = Server::start().await;
    let one = json!({
        "inbox": "sales",
        "message_id": "<one@acme.test>",
        "to": ["Bob@Example.NET"],
        "subject": "Hello",
        "sent_at": "2026-11-30T10:00:00Z",
        "metadata": {"deal": 1},
    });
    let (status, body) = s.post("/v1/tracked-messages", &one).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"received": 1, "new": 1, "updated": 0}));
    let stored = s
        .store
        .tracked("acme", &["one@acme.test".into()])
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].recipients[0].address, "bob@example.net");
    assert_eq!(stored[0].source, TrackSource::Api);
    assert_eq!(stored[0].sent_at, 1_796_032_800);

    // A batch: the first again (an update), two new ones, one of them in
    // the other account (from its inbox).
    let batch = json!([
        one,
        {"inbox": "support", "message_id": "two@acme.test",
         "recipients": [{"address": "carol@example.net", "contact_id": 17}]},
        {"inbox": "beta-sales", "message_id": "three@beta.test", "to": ["dan@example.net"], "sent_at": 1796029200},
    ]);
    let (status, body) = s.post("/v1/tracked-messages", &batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"received": 3, "new": 2, "updated": 1}));
    conforms("post", "/v1/tracked-messages", status, &body);
    let beta = s
        .store
        .tracked("beta", &["three@beta.test".into()])
        .await
        .unwrap();
    assert_eq!(beta.len(), 1);
    assert_eq!(beta[0].inbox, "beta-sales");

    // A bad batch: every problem named by index and field, nothing tracked.
    let bad = json!([
        {"inbox": "sales", "message_id": "four@acme.test", "to": ["erin@example.net"]},
        {"inbox": "nowhere", "message_id": "x", "to": ["a@b.c"]},
        {"inbox": "sales", "to": ["a@b.c"]},
        {"inbox": "sales", "message_id": "y", "to": ["not an address"]},
        {"inbox": "sales", "account": "beta", "message_id": "z", "to": ["a@b.c"]},
        {"inbox": "sales", "message_id": "w", "to": ["a@b.c"], "sent_at": "yesterday"},
        "just a string",
    ]);
    let (status, body) = s.post("/v1/tracked-messages", &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    conforms("post", "/v1/tracked-messages", status, &body);
    assert_eq!(body["details"]["invalid"], 6);
    let errors: Vec<(u64, Value)> = body["details"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["field"].clone()))
        .collect();
    assert_eq!(
        errors,
        vec![
            (1, json!("inbox")),
            (2, json!("message_id")),
            (3, json!("recipients")),
            (4, json!("account")),
            (5, json!("sent_at")),
            (6, Value::Null),
        ]
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("nothing was tracked")
    );
    let none = s
        .store
        .tracked("acme", &["four@acme.test".into()])
        .await
        .unwrap();
    assert!(none.is_empty(), "a bad batch tracks nothing");

    // Not JSON, not an object.
    let response = s
        .client
        .post(s.url("/v1/tracked-messages"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{\"inbox\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("not valid JSON"),
        "{body}"
    );
    let (status, _) = s.post("/v1/tracked-messages", &json!(42)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    s.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let s = Server::start().await;
    let mut big = String::from("[");
    let item = r#"{"inbox": "sales", "message_id": "m@x", "to": ["a@b.c"]},"#;
    while big.len() <= api::BODY_LIMIT {
        big.push_str(item);
    }
    big.push_str(r#"{"inbox": "sales", "message_id": "m@x", "to": ["a@b.c"]}]"#);
    let response = s
        .client
        .post(s.url("/v1/tracked-messages"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(
        body["error"],
        "the request body is larger than the limit of 1048576 bytes"
    );
    let none = s.store.tracked("acme", &["m@x".into()]).await.unwrap();
    assert!(none.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn contact_state_unsuppress_and_the_outbox() {
    let s = Server::start().await;
    let (status, body) = s.get("/v1/contacts/bob@example.com").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    s.store
        .track(&[tracked("m1@acme.test", "bob@example.com")], T - 3600)
        .await
        .unwrap();
    s.store
        .apply(&hard_bounce("bob@example.com", "msg_ndr1"), T)
        .await
        .unwrap();

    // Any spelling of the address finds it.
    let (status, body) = s.get("/v1/contacts/Bob@EXAMPLE.com").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    conforms("get", "/v1/contacts/{address}", status, &body);
    assert_eq!(body["address"], "bob@example.com");
    assert_eq!(body["global_suppression"], Value::Null);
    let accounts = body["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 1, "only acme knows bob: {body}");
    let acme = &accounts[0];
    assert_eq!(acme["account"], "acme");
    assert_eq!(acme["suppressed"], true);
    assert_eq!(acme["contact_id"], "crm-42");
    assert_eq!(acme["suppression"]["reason"], "hard_bounce");
    assert_eq!(acme["suppression"]["since"], "2026-11-23T10:15:00Z");
    assert_eq!(acme["history"].as_array().unwrap().len(), 1);
    assert_eq!(acme["history"][0]["action"], "suppressed");
    assert_eq!(acme["history"][0]["actor"], "rebound");
    let findings = acme["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["message_id"], "m1@acme.test");
    assert_eq!(findings[0]["method"], "reply_headers");
    assert_eq!(findings[0]["confidence"], "certain");
    assert_eq!(findings[0]["kind"], "hard");
    assert_eq!(findings[0]["uid"], 31);
    // Another account knows nothing.
    let (status, _) = s.get("/v1/contacts/bob@example.com?account=beta").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = s.get("/v1/contacts/bob@example.com?account=acme").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["accounts"].as_array().unwrap().len(), 1);

    // Bad unsuppress requests.
    let path = "/v1/contacts/bob@example.com/unsuppress";
    for bad in [
        json!({"actor": "ann", "reason": "asked"}),
        json!({"account": "acme", "global": true, "actor": "ann", "reason": "asked"}),
        json!({"account": "acme", "reason": "asked"}),
        json!({"account": "acme", "actor": " ", "reason": "asked"}),
        json!({"account": "acme", "actor": "ann", "reason": "asked", "extra": 1}),
    ] {
        let (status, body) = s.post(path, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} -> {body}");
    }

    // Unsuppress through the API.
    let request =
        json!({"account": "acme", "actor": "ann@acme.test", "reason": "confirmed by phone"});
    let (status, body) = s.post(path, &request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    conforms("post", "/v1/contacts/{address}/unsuppress", status, &body);
    assert_eq!(body["scope"], "account");
    assert_eq!(body["account"], "acme");
    let ids: Vec<String> = body["event_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 1);

    let (_, body) = s.get("/v1/contacts/bob@example.com").await;
    let acme = &body["accounts"][0];
    assert_eq!(acme["suppressed"], false);
    assert_eq!(acme["suppression"], Value::Null);
    assert_eq!(acme["history"].as_array().unwrap().len(), 2);
    assert_eq!(acme["history"][1]["action"], "unsuppressed");
    assert_eq!(acme["history"][1]["actor"], "ann@acme.test");
    assert_eq!(acme["history"][1]["event_id"], ids[0].as_str());

    // The event is in the outbox.
    let outbox = s.store.outbox(0, 100).await.unwrap();
    let unsuppressed = outbox
        .iter()
        .find(|e| e.event.kind == EventType::ContactUnsuppressed)
        .expect("a contact.unsuppressed event");
    assert_eq!(unsuppressed.event.id, ids[0]);
    assert_eq!(unsuppressed.event.data["actor"], "ann@acme.test");

    // Again: not suppressed any more.
    let (status, body) = s.post(path, &request).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not suppressed"));
    let (status, body) = s
        .post(
            path,
            &json!({"global": true, "actor": "ann", "reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not globally suppressed")
    );

    // The events listing.
    let (status, body) = s.get("/v1/events").await;
    assert_eq!(status, StatusCode::OK);
    conforms("get", "/v1/events", status, &body);
    let all: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        all,
        [
            "bounce.detected",
            "contact.suppressed",
            "contact.unsuppressed"
        ]
    );
    assert_eq!(body["next_after"], Value::Null);
    assert!(
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == "undelivered")
    );

    // Deliver the first; the filters see it.
    s.store
        .mark_delivered(&[outbox[0].event.id.clone()], T + 60)
        .await
        .unwrap();
    let (_, body) = s.get("/v1/events?status=delivered").await;
    let delivered = body["events"].as_array().unwrap();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["seq"], outbox[0].seq);
    assert_eq!(delivered[0]["status"], "delivered");
    assert_eq!(delivered[0]["delivered_at"], "2026-11-23T10:16:00Z");
    let (_, body) = s.get("/v1/events?status=undelivered").await;
    let seqs: Vec<i64> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [outbox[1].seq, outbox[2].seq]);
    // Pages.
    let (_, body) = s
        .get(&format!(
            "/v1/events?status=undelivered&limit=1&after={}",
            outbox[0].seq
        ))
        .await;
    assert_eq!(body["events"][0]["seq"], outbox[1].seq);
    assert_eq!(body["next_after"], outbox[1].seq);
    let (_, body) = s
        .get(&format!(
            "/v1/events?status=undelivered&after={}",
            outbox[1].seq
        ))
        .await;
    assert_eq!(body["events"].as_array().unwrap().len(), 1);
    assert_eq!(body["events"][0]["seq"], outbox[2].seq);
    let (_, body) = s.get(&format!("/v1/events?after={}", outbox[2].seq)).await;
    assert!(body["events"].as_array().unwrap().is_empty());
    // Bad queries.
    for bad in ["status=lost", "limit=0", "limit=1001", "after=x"] {
        let (status, body) = s.get(&format!("/v1/events?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"].is_string());
    }
    // No dispatcher: dead letters and re-drive are not available.
    let (status, body) = s.get("/v1/events?status=dead").await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert!(body["error"].as_str().unwrap().contains("dispatcher"));
    let (status, _) = s
        .post(&format!("/v1/events/{}/redrive", ids[0]), &json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    s.stop().await;
}

#[tokio::test]
async fn inboxes_resync_and_metrics() {
    let s = Server::start().await;
    let health = Health {
        inbox: "sales".into(),
        state: HealthState::Idle,
        last_error: None,
        since: T,
        updated_at: T + 5,
    };
    s.store.set_health(&health).await.unwrap();
    let failing = Health {
        inbox: "support".into(),
        state: HealthState::AuthFailed,
        last_error: Some("LOGIN refused".into()),
        since: T,
        updated_at: T,
    };
    s.store.set_health(&failing).await.unwrap();
    let checkpoint = rebound::source::Checkpoint {
        uidvalidity: 7,
        last_uid: 120,
    };
    s.store
        .commit("sales", "INBOX", checkpoint, &[])
        .await
        .unwrap();

    let (status, body) = s.get("/v1/inboxes").await;
    assert_eq!(status, StatusCode::OK);
    conforms("get", "/v1/inboxes", status, &body);
    let inboxes = body["inboxes"].as_array().unwrap();
    let ids: Vec<&str> = inboxes.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["sales", "support", "old", "beta-sales"],
        "config order"
    );
    let sales = &inboxes[0];
    assert_eq!(sales["account"], "acme");
    assert_eq!(sales["provider"], "maildir");
    assert_eq!(sales["enabled"], true);
    assert_eq!(sales["state"], "idle");
    assert_eq!(sales["status"], "connected");
    assert_eq!(sales["since"], "2026-11-23T10:15:00Z");
    assert_eq!(
        sales["checkpoints"],
        json!([{"folder": "INBOX", "uidvalidity": 7, "last_uid": 120}])
    );
    assert_eq!(inboxes[1]["status"], "needs_reauthorization");
    assert_eq!(inboxes[1]["last_error"], "LOGIN refused");
    assert_eq!(inboxes[2]["enabled"], false);
    assert_eq!(inboxes[2]["state"], Value::Null);
    assert_eq!(inboxes[2]["checkpoints"], json!([]));

    // Resync: accepted, disabled, not running, unknown.
    let (status, body) = s.post("/v1/inboxes/sales/resync", &json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body, json!({"inbox": "sales", "accepted": true}));
    let (status, _) = s.post("/v1/inboxes/old/resync", &json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = s.post("/v1/inboxes/support/resync", &json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"].as_str().unwrap().contains("no running task"));
    let (status, _) = s.post("/v1/inboxes/nowhere/resync", &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(*s.resyncs.lock().unwrap(), ["sales", "support"]);

    // Metrics: counters from telemetry, gauges from the store.
    s.store
        .apply(&hard_bounce("zoe@example.com", "msg_ndr9"), T)
        .await
        .unwrap();
    rebound::telemetry::bounce("hard", "api_test_reason");
    rebound::telemetry::delivery_latency(0.2);
    let response = s
        .client
        .get(s.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    let samples = parse_metrics(&text);
    let value = |series: &str| {
        *samples
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(
        value(r#"rebound_inbox_up{inbox="sales",account="acme"}"#),
        1.0
    );
    assert_eq!(
        value(r#"rebound_inbox_up{inbox="support",account="acme"}"#),
        0.0
    );
    assert_eq!(
        value(r#"rebound_inbox_up{inbox="old",account="acme"}"#),
        0.0
    );
    // The bounce and its suppression are undelivered (plus the inbox
    // status events set_health does not write).
    assert_eq!(value("rebound_outbox_backlog"), 2.0);
    assert!(value("rebound_outbox_oldest_age_seconds") >= 0.0);
    assert!(value(r#"rebound_bounces_total{kind="hard",reason="api_test_reason"}"#) >= 1.0);
    assert!(value(r#"rebound_delivery_latency_seconds_bucket{le="0.25"}"#) >= 1.0);
    assert!(value(r#"rebound_delivery_latency_seconds_bucket{le="+Inf"}"#) >= 1.0);
    assert_eq!(
        value(&format!(
            r#"rebound_build_info{{version="{}"}}"#,
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
    // Every metric declared in telemetry is exposed, with HELP and TYPE.
    for m in rebound::telemetry::RECORDED
        .iter()
        .chain(rebound::telemetry::SCRAPED)
    {
        assert!(
            text.contains(&format!("# TYPE {} {}\n", m.name, m.kind.as_str())),
            "{}",
            m.name
        );
        assert!(text.contains(&format!("# HELP {} ", m.name)), "{}", m.name);
    }
    s.stop().await;
}

/// Every sample line of a text exposition, `name{labels}` → value; panics
/// on a line that is neither a comment nor `name{labels} value`.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name in {line:?}"
        );
        if name_end < series.len() {
            let labels = &series[name_end..];
            assert!(
                labels.starts_with('{') && labels.ends_with('}'),
                "bad labels in {line:?}"
            );
            for pair in labels[1..labels.len() - 1].split("\",") {
                let (key, v) = pair
                    .split_once("=\"")
                    .unwrap_or_else(|| panic!("bad label in {line:?}"));
                assert!(
                    key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line:?}"
                );
                assert!(!v.is_empty() || pair.ends_with('"'), "{line:?}");
            }
        }
        assert!(
            out.insert(series.to_string(), value).is_none(),
            "repeated series {series}"
        );
    }
    out
}

/// The document in docs/openapi.json is what the code generates.
#[test]
fn docs_openapi_json_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
    let generated = api::openapi_json();
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        stored == generated,
        "docs/openapi.json is out of date: run UPDATE_GOLDEN=1 cargo test --test api, then review the diff"
    );
}

/// Every operation in the document is routed (and answers JSON that fits
/// its documented schema), and every method a documented path accepts is
/// in the document; `$ref`s all resolve.
#[tokio::test]
async fn the_openapi_document_and_the_router_agree() {
    let s = Server::start().await;
    let doc: Value = serde_json::from_str(&api::openapi_json()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));

    // Through the API too.
    let (status, served) = s.get("/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served, doc);

    let mut compiler = boon::Compiler::new();
    compiler.set_default_draft(boon::Draft::V2020_12);
    let base = "http://rebound.invalid/openapi.json";
    compiler.add_resource(base, doc.clone()).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut refs = BTreeSet::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in &refs {
        compiler
            .compile(&format!("{base}{r}"), &mut schemas)
            .unwrap_or_else(|e| panic!("{r}: {e:#}"));
    }

    let methods = ["get", "post", "put", "delete", "patch"];
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (template, item) in paths {
        let path = template
            .replace("{address}", "nobody@example.org")
            .replace("{id}", "sales");
        for method in methods {
            let request = match method {
                "get" => s.client.get(s.url(&path)),
                "post" => s.client.post(s.url(&path)).json(&json!({})),
                "put" => s.client.put(s.url(&path)),
                "delete" => s.client.delete(s.url(&path)),
                _ => s.client.patch(s.url(&path)),
            };
            let response = request.bearer_auth(TOKEN).send().await.unwrap();
            let status = response.status();
            let content_type = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let text = response.text().await.unwrap();
            let Some(operation) = item.get(method) else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {template} is routed but not documented"
                );
                continue;
            };
            operations += 1;
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {template}"
            );
            assert!(
                !text.contains("no route"),
                "{method} {template} is documented but not routed"
            );
            let documented = &operation["responses"][status.as_str()];
            assert!(
                documented.is_object(),
                "{method} {template} answered {status}, which is not documented"
            );
            if content_type.starts_with("application/json") {
                let schema = &documented["content"]["application/json"]["schema"];
                if let Some(r) = schema["$ref"].as_str() {
                    let index = compiler
                        .compile(&format!("{base}{r}"), &mut schemas)
                        .unwrap();
                    let body: Value = serde_json::from_str(&text).unwrap();
                    schemas
                        .validate(&body, index)
                        .unwrap_or_else(|e| panic!("{method} {template} {status}: {e:#}\n{body}"));
                }
            }
        }
    }
    assert_eq!(operations, 10, "every route of the table");
    s.stop().await;
}

/// Validates `body`, the answer `status` of `method template`, against the
/// schema the OpenAPI document gives for it.
fn conforms(method: &str, template: &str, status: StatusCode, body: &Value) {
    let doc: Value = serde_json::from_str(&api::openapi_json()).unwrap();
    let documented = &doc["paths"][template][method]["responses"][status.as_str()];
    let r = documented["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap_or_else(|| panic!("{method} {template} {status} has no JSON schema"));
    let mut compiler = boon::Compiler::new();
    compiler.set_default_draft(boon::Draft::V2020_12);
    let base = "http://rebound.invalid/openapi.json";
    compiler.add_resource(base, doc.clone()).unwrap();
    let mut schemas = boon::Schemas::new();
    let index = compiler
        .compile(&format!("{base}{r}"), &mut schemas)
        .unwrap();
    schemas
        .validate(body, index)
        .unwrap_or_else(|e| panic!("{method} {template} {status}: {e:#}\n{body}"));
}

fn collect_refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.insert(v.as_str().unwrap().to_string());
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// docs/api.md lists exactly the routes of the document, and has a section
/// for each.
#[test]
fn docs_api_md_lists_every_route() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docs/api.md")).unwrap();
    let doc: Value = serde_json::from_str(&api::openapi_json()).unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let mut listed = BTreeSet::new();
    for line in text.lines() {
        // | GET | [`/v1/inboxes`](#get-v1inboxes) | ... |
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if let [_, method, link, ..] = cells[..]
            && matches!(method, "GET" | "POST" | "PUT" | "DELETE" | "PATCH")
            && let Some(path) = link.strip_prefix("[`").and_then(|l| l.split('`').next())
        {
            listed.insert(format!("{method} {path}"));
            assert!(
                text.contains(&format!("\n## {method} {path}\n")),
                "docs/api.md has no section for {method} {path}"
            );
        }
    }
    assert_eq!(listed, documented);
}

/// Odd requests get a JSON error with a 4xx status, never a 500 or a
/// dropped connection.
#[tokio::test]
async fn odd_requests_get_json_errors() {
    let s = Server::start().await;
    let cases: Vec<(reqwest::Method, &str, Option<&'static [u8]>)> = vec![
        (reqwest::Method::GET, "/v1/contacts/%FF%FE", None),
        (reqwest::Method::GET, "/v1/contacts/%00", None),
        (reqwest::Method::GET, "/v1/contacts/a@b.c?account=%FF", None),
        (reqwest::Method::GET, "/v1/events?limit=-1", None),
        (
            reqwest::Method::GET,
            "/v1/events?after=99999999999999999999",
            None,
        ),
        (reqwest::Method::POST, "/v1/inboxes/%FF/resync", None),
        (
            reqwest::Method::POST,
            "/v1/contacts/a@b.c/unsuppress",
            Some(b"\xff\xfe"),
        ),
        (
            reqwest::Method::POST,
            "/v1/contacts/a@b.c/unsuppress",
            Some(b"[]"),
        ),
        (reqwest::Method::POST, "/v1/tracked-messages", Some(b"")),
        (
            reqwest::Method::POST,
            "/v1/tracked-messages",
            Some(b"[[[[[[[[[[]]]]]]]]]]"),
        ),
        (
            reqwest::Method::POST,
            "/v1/tracked-messages",
            Some(b"{\"inbox\": 1e999}"),
        ),
        (reqwest::Method::DELETE, "/v1/inboxes", None),
    ];
    for (method, path, body) in cases {
        let mut request = s
            .client
            .request(method.clone(), s.url(path))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let (status, json) = json_of(request.send().await.unwrap()).await;
        assert!(status.is_client_error(), "{method} {path}: {status} {json}");
        assert!(json["error"].is_string(), "{method} {path}: {json}");
    }
    s.stop().await;
}
