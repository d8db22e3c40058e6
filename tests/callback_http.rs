//! The HTTP callback end to end: a real SQLite outbox, the real dispatcher,
//! and a real HTTP receiver (axum on 127.0.0.1) that records every request
//! and answers as each test scripts. Signatures are checked with an HMAC
//! written here from SHA-256, independent of the crate's signing code.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use rebound::config::{HttpCallback, Secret};
use rebound::event::{Contact, Event, EventType};
use rebound::outbox::{Dispatcher, Summary};
use rebound::policy::Changes;
use rebound::store::{DispatchStore, PolicyStore, Redrive, SqliteStore};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const PREVIOUS: &str = "whsec_cmVib3VuZC1wcmV2aW91cy1zZWNyZXQta2V5IQ==";
/// The tests' clock: events are written at T.
const T: i64 = 1_800_000_000;

// ---------------------------------------------------------------- receiver

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Hit {
    id: String,
    timestamp: String,
    signature: String,
    content_type: String,
    user_agent: String,
    body: Vec<u8>,
    /// The contact address in the body (`None` for inbox events).
    contact: Option<String>,
    /// What the receiver answered.
    status: u16,
}

/// What to answer: status, Retry-After, how long to wait first.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    delay: Duration,
    body: &'static str,
}

fn answer(status: u16) -> Answer {
    Answer {
        status,
        retry_after: None,
        delay: Duration::ZERO,
        body: "",
    }
}

/// Decides the answer from the request and how many times its id was seen
/// before (0 on the first attempt).
type Script = dyn Fn(&Hit, usize) -> Answer + Send + Sync;

struct Rx {
    hits: Mutex<Vec<Hit>>,
    script: Mutex<Arc<Script>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

struct Receiver {
    addr: SocketAddr,
    rx: Arc<Rx>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn handle(State(rx): State<Arc<Rx>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut hit = Hit {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        content_type: header("content-type"),
        user_agent: header("user-agent"),
        body: body.to_vec(),
        contact: json["contact"]["address"].as_str().map(str::to_owned),
        status: 0,
    };
    let reply = {
        let mut hits = rx.hits.lock().unwrap();
        let seen = hits.iter().filter(|h| h.id == hit.id).count();
        let script = Arc::clone(&rx.script.lock().unwrap());
        let reply = script(&hit, seen);
        hit.status = reply.status;
        hits.push(hit);
        reply
    };
    let now = rx.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    rx.max_in_flight.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(reply.delay).await;
    rx.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    if let Some(value) = reply.retry_after {
        response
            .headers_mut()
            .insert("retry-after", value.parse().unwrap());
    }
    response
}

impl Receiver {
    /// A receiver on `addr` (port 0: any) answering by `script`.
    async fn start(addr: SocketAddr, script: Arc<Script>) -> Receiver {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let rx = Arc::new(Rx {
            hits: Mutex::new(Vec::new()),
            script: Mutex::new(script),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .route("/hooks/rebound", axum::routing::post(handle))
            .with_state(Arc::clone(&rx));
        let stop = CancellationToken::new();
        let shutdown = stop.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
                .unwrap();
        });
        Receiver {
            addr,
            rx,
            stop,
            task,
        }
    }

    async fn always(status: u16) -> Receiver {
        Receiver::start(local(0), Arc::new(move |_: &Hit, _| answer(status))).await
    }

    fn url(&self) -> String {
        url(self.addr)
    }

    fn hits(&self) -> Vec<Hit> {
        self.rx.hits.lock().unwrap().clone()
    }

    /// The ids answered 2xx, in arrival order.
    fn delivered(&self) -> Vec<String> {
        self.hits()
            .into_iter()
            .filter(|h| (200..300).contains(&h.status))
            .map(|h| h.id)
            .collect()
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/hooks/rebound")
}

/// A port nobody listens on (bound, then released).
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind(local(0)).unwrap();
    listener.local_addr().unwrap()
}

// ------------------------------------------------------ independent checks

/// HMAC-SHA256 (RFC 2104) from SHA-256 alone.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner_key: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer_key: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&inner_key)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&outer_key)
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// Whether any `v1,` signature of the hit matches `secret`, checked over
/// the raw bytes received.
fn signed_with(hit: &Hit, secret: &str) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut content = format!("{}.{}.", hit.id, hit.timestamp).into_bytes();
    content.extend_from_slice(&hit.body);
    let expected = format!("v1,{}", b64.encode(hmac_sha256(&key, &content)));
    hit.signature.split(' ').any(|s| s == expected)
}

// ------------------------------------------------------------------ set-up

fn callback(url: &str, concurrency: usize) -> HttpCallback {
    HttpCallback {
        url: url.to_owned(),
        secret: Secret::new(SECRET),
        previous_secret: None,
        timeout: Duration::from_secs(5),
        retry_budget: Duration::from_secs(24 * 3600),
        concurrency,
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("rebound.db"))
        .await
        .unwrap();
    Setup {
        _dir: dir,
        store: Arc::new(store),
    }
}

/// A `bounce.detected` about `address` in account acme.
fn about(key: &str, address: &str) -> Event {
    Event::new(
        EventType::BounceDetected,
        key,
        T - 60,
        "acme",
        Some("sales"),
        Some(Contact {
            address: address.to_owned(),
            contact_id: Some(format!("crm-{address}")),
        }),
        serde_json::json!({ "key": key, "diagnostic": "550 5.1.1 user unknown", "note": "héllo" }),
    )
}

/// An `inbox.status_changed` of inbox `inbox`.
fn inbox_event(key: &str, inbox: &str) -> Event {
    Event::new(
        EventType::InboxStatusChanged,
        key,
        T - 60,
        "acme",
        Some(inbox),
        None,
        serde_json::json!({ "key": key }),
    )
}

/// An outbox row's `last_error`, read beside the store.
async fn last_error(s: &Setup, id: &str) -> Option<String> {
    use sqlx::ConnectOptions as _;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(s._dir.path().join("rebound.db"))
        .connect()
        .await
        .unwrap();
    sqlx::query_scalar("SELECT last_error FROM outbox WHERE id = $1")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

async fn write(store: &SqliteStore, events: &[Event], now: i64) {
    let changes = Changes {
        events: events.to_vec(),
        ..Changes::default()
    };
    store.apply(&changes, now).await.unwrap();
}

fn ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

/// The delivered ids of one contact, in arrival order.
fn delivered_of(receiver: &Receiver, address: &str) -> Vec<String> {
    receiver
        .hits()
        .into_iter()
        .filter(|h| (200..300).contains(&h.status) && h.contact.as_deref() == Some(address))
        .map(|h| h.id)
        .collect()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ------------------------------------------------------------------- tests

#[tokio::test]
async fn requests_are_signed_standard_webhooks_over_the_stored_bytes() {
    let s = setup().await;
    let receiver = Receiver::always(204).await;
    let events = vec![
        about("sig-1", "bob@example.com"),
        inbox_event("sig-2", "sales"),
    ];
    write(&s.store, &events, T).await;
    let dispatcher = Dispatcher::new(Arc::clone(&s.store), &callback(&receiver.url(), 4)).unwrap();

    let summary = dispatcher.deliver_pending(T + 5).await.unwrap();
    assert_eq!(
        summary,
        Summary {
            delivered: 2,
            ..Summary::default()
        }
    );
    let hits = receiver.hits();
    assert_eq!(hits.len(), 2);
    for (hit, event) in hits.iter().zip(&events) {
        assert_eq!(hit.id, event.id);
        assert_eq!(hit.timestamp, (T + 5).to_string());
        assert_eq!(hit.content_type, "application/json");
        assert_eq!(
            hit.user_agent,
            format!("rebound/{}", env!("CARGO_PKG_VERSION"))
        );
        // The body is the stored payload, byte for byte.
        assert_eq!(hit.body, serde_json::to_vec(event).unwrap());
        let parsed: Event = serde_json::from_slice(&hit.body).unwrap();
        assert_eq!(&parsed, event);
        // One signature (no rotation), valid under the independent HMAC and
        // the crate's verify helper, and not under another secret.
        assert_eq!(hit.signature.split(' ').count(), 1);
        assert!(signed_with(hit, SECRET), "{hit:?}");
        assert!(!signed_with(hit, PREVIOUS));
        rebound::outbox::verify(
            SECRET,
            &hit.id,
            &hit.timestamp,
            &hit.signature,
            &hit.body,
            T + 5,
        )
        .unwrap();
    }
    // A tampered body fails both checks.
    let mut tampered = hits[0].clone();
    tampered.body.push(b' ');
    assert!(!signed_with(&tampered, SECRET));
    assert!(
        rebound::outbox::verify(
            SECRET,
            &tampered.id,
            &tampered.timestamp,
            &tampered.signature,
            &tampered.body,
            T + 5
        )
        .is_err()
    );
    assert_eq!(s.store.dispatch_counts().await.unwrap().pending, 0);
    // Delivered events are not sent again.
    assert_eq!(
        dispatcher.deliver_pending(T + 3600).await.unwrap(),
        Summary::default()
    );
    assert_eq!(receiver.hits().len(), 2);
    receiver.stop().await;
}

#[tokio::test]
async fn during_a_rotation_both_secrets_sign_and_either_verifies() {
    let s = setup().await;
    let receiver = Receiver::always(200).await;
    write(&s.store, &[about("rot-1", "rot@example.com")], T).await;
    let mut config = callback(&receiver.url(), 1);
    config.previous_secret = Some(Secret::new(PREVIOUS));
    let dispatcher = Dispatcher::new(Arc::clone(&s.store), &config).unwrap();
    assert_eq!(dispatcher.deliver_pending(T).await.unwrap().delivered, 1);

    let hit = &receiver.hits()[0];
    let signatures: Vec<&str> = hit.signature.split(' ').collect();
    assert_eq!(signatures.len(), 2, "{}", hit.signature);
    assert!(signatures.iter().all(|s| s.starts_with("v1,")));
    assert!(signed_with(hit, SECRET));
    assert!(signed_with(hit, PREVIOUS));
    // Each signature belongs to one secret: the current one comes first.
    let only = |n: usize| Hit {
        signature: signatures[n].to_owned(),
        ..hit.clone()
    };
    assert!(signed_with(&only(0), SECRET) && !signed_with(&only(0), PREVIOUS));
    assert!(signed_with(&only(1), PREVIOUS) && !signed_with(&only(1), SECRET));
    for secret in [SECRET, PREVIOUS] {
        rebound::outbox::verify(
            secret,
            &hit.id,
            &hit.timestamp,
            &hit.signature,
            &hit.body,
            T,
        )
        .unwrap();
    }
    receiver.stop().await;
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_everything_in_order_once_it_is_up() {
    let s = setup().await;
    let addr = free_port();
    let contacts = ["a@example.com", "b@example.com", "c@example.com"];
    let mut events = Vec::new();
    for n in 0..4 {
        for c in contacts {
            events.push(about(&format!("down-{c}-{n}"), c));
        }
    }
    write(&s.store, &events, T).await;
    let dispatcher = Dispatcher::new(Arc::clone(&s.store), &callback(&url(addr), 8)).unwrap();

    // Connection refused: each lane's head fails once, the rest wait.
    let summary = dispatcher.deliver_pending(T).await.unwrap();
    assert_eq!(
        summary,
        Summary {
            retrying: 3,
            ..Summary::default()
        }
    );
    let counts = s.store.dispatch_counts().await.unwrap();
    assert_eq!((counts.pending, counts.retrying), (12, 3));
    // The first retry waits exactly 1 s (the first backoff ceiling).
    assert!(s.store.due_heads(T, 10).await.unwrap().is_empty());
    let due = s.store.due_heads(T + 1, 10).await.unwrap();
    assert_eq!(due.len(), 3);
    assert!(due.iter().all(|d| d.attempts == 1));
    // Still down a second time: the backoff grows.
    assert_eq!(dispatcher.deliver_pending(T + 1).await.unwrap().retrying, 3);
    assert!(s.store.due_heads(T + 1, 10).await.unwrap().is_empty());
    assert_eq!(s.store.due_heads(T + 3, 10).await.unwrap().len(), 3);

    let receiver = Receiver::start(addr, Arc::new(|_: &Hit, _| answer(200))).await;
    let summary = dispatcher.deliver_pending(T + 3).await.unwrap();
    assert_eq!(summary.delivered, 12, "{summary:?}");
    for c in contacts {
        let expected: Vec<String> = events
            .iter()
            .filter(|e| e.contact.as_ref().is_some_and(|k| k.address == c))
            .map(|e| e.id.clone())
            .collect();
        assert_eq!(delivered_of(&receiver, c), expected, "{c}");
    }
    let mut all = receiver.delivered();
    all.sort();
    let mut expected = ids(&events);
    expected.sort();
    assert_eq!(all, expected, "every event once, with its own id");
    assert_eq!(s.store.dispatch_counts().await.unwrap().pending, 0);
    receiver.stop().await;
}

#[tokio::test]
async fn server_errors_and_timeouts_are_retried() {
    let s = setup().await;
    let events = vec![
        about("err-1", "err@example.com"),
        about("slow-1", "slow@example.com"),
    ];
    write(&s.store, &events, T).await;
    let script: Arc<Script> = Arc::new(|hit: &Hit, seen| {
        let slow = hit.contact.as_deref() == Some("slow@example.com");
        match (seen, slow) {
            (0, false) => Answer {
                body: "upstream\n  exploded",
                ..answer(500)
            },
            (0, true) => Answer {
                delay: Duration::from_secs(3),
                ..answer(200)
            },
            _ => answer(200),
        }
    });
    let receiver = Receiver::start(local(0), script).await;
    let mut config = callback(&receiver.url(), 2);
    config.timeout = Duration::from_millis(700);
    let dispatcher = Dispatcher::new(Arc::clone(&s.store), &config).unwrap();

    let summary = dispatcher.deliver_pending(T).await.unwrap();
    assert_eq!(summary.retrying, 2, "{summary:?}");
    assert_eq!(summary.delivered, 0);
    // A later pass before the retry is due sends nothing.
    assert_eq!(
        dispatcher.deliver_pending(T).await.unwrap(),
        Summary::default()
    );
    assert_eq!(receiver.hits().len(), 2);
    assert_eq!(
        last_error(&s, &events[0].id).await.as_deref(),
        Some("HTTP 500: upstream exploded")
    );
    let timed_out = last_error(&s, &events[1].id).await.unwrap_or_default();
    assert!(timed_out.starts_with("timed out"), "{timed_out}");

    let summary = dispatcher.deliver_pending(T + 1).await.unwrap();
    assert_eq!(summary.delivered, 2, "{summary:?}");
    let hits = receiver.hits();
    assert_eq!(hits.len(), 4);
    for event in &events {
        let attempts: Vec<&Hit> = hits.iter().filter(|h| h.id == event.id).collect();
        assert_eq!(attempts.len(), 2, "same webhook-id on the retry");
        assert_eq!(attempts[0].body, attempts[1].body);
        assert!(attempts.iter().all(|h| signed_with(h, SECRET)));
    }
    receiver.stop().await;
}

#[tokio::test]
async fn a_failure_records_attempts_schedule_and_a_short_error() {
    let s = setup().await;
    let receiver = Receiver::start(
        local(0),
        Arc::new(|_: &Hit, _| Answer {
            body: "gone\r\nfor good",
            ..answer(410)
        }),
    )
    .await;
    let event = about("gone-err", "gone-err@example.com");
    write(&s.store, std::slice::from_ref(&event), T).await;
    let dispatcher = Dispatcher::new(Arc::clone(&s.store), &callback(&receiver.url(), 1)).unwrap();
    assert_eq!(dispatcher.deliver_pending(T + 7).await.unwrap().dead, 1);
    let dead = dispatcher.dead_letters(0, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event, event);
    assert_eq!((dead[0].attempts, dead[0].dead_at), (1, T + 7));
    let error = dead[0].last_error.clone().unwrap();
    assert_eq!(error, "HTTP 410: gone for good");
    assert!(!error.contains(SECRET) && !error.contains("whsec_"));

    // A transport error names what failed, not the URL.
    let down = free_port();
    let other = about("down-err", "down-err@example.com");
    write(&s.store, std::slice::from_ref(&other), T).await;
    let mut config = callback(&format!("{}?token=hush", url(down)), 1);
    config.retry_budget = Duration::ZERO;
    let dispatcher = Dispatcher::new(Arc::clone(&s.store), &config).unwrap();
    assert_eq!(dispatcher.deliver_pending(T).await.unwrap().dead, 1);
    let dead = dispatcher.dead_letters(dead[0].seq, 10).await.unwrap();
    let error = dead[0].last_error.clone().unwrap();
    assert!(error.starts_with("cannot connect"), "{error}");
    assert!(
        !error.contains("hush") && !error.contains("http://"),
        "{error}"
    );
    receiver.stop().await;
}

#[tokio::test]
async fn retry_after_is_honoured_in_seconds_and_as_a_date() {
    let s = setup().await;
    let secs = about("ra-secs", "ra1@example.com");
    let date = about("ra-date", "ra2@example.com");
    write(&s.store, &[secs.clone(), date.clone()], T).await;
    let at = http_date(T + 300);
    let script: Arc<Script> = Arc::new(move |hit: &Hit, seen| {
        if seen > 0 {
            return answer(200);
        }
        let value = if hit.contact.as_deref() == Some("ra1@example.com") {
            "120".to_owned()
        } else {
            at.clone()
        };
        Answer {
            retry_after: Some(value),
            ..answer(if hit.contact.as_deref() == Some("ra1@example.com") {
                429
            } else {
                503
            })
        }
    });
    let receiver = Receiver::start(local(0), script).await;
    let dispatcher = Dispatcher::new(Arc::clone(&s.store), &callback(&receiver.url(), 2)).unwrap();
    assert_eq!(dispatcher.deliver_pending(T).await.unwrap().retrying, 2);

    assert_eq!(
        dispatcher.deliver_pending(T + 119).await.unwrap(),
        Summary::default()
    );
    assert_eq!(
        dispatcher.deliver_pending(T + 120).await.unwrap().delivered,
        1
    );
    assert_eq!(
        delivered_of(&receiver, "ra1@example.com"),
        std::slice::from_ref(&secs.id)
    );
    assert_eq!(
        dispatcher.deliver_pending(T + 299).await.unwrap(),
        Summary::default()
    );
    assert_eq!(
        dispatcher.deliver_pending(T + 300).await.unwrap().delivered,
        1
    );
    assert_eq!(
        delivered_of(&receiver, "ra2@example.com"),
        std::slice::from_ref(&date.id)
    );
    assert_eq!(receiver.hits().len(), 4);
    receiver.stop().await;
}

/// Unix seconds as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let (y, m, d) = rebound::time::civil_from_days(days);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    let rest = secs.rem_euclid(86_400);
    format!(
        "{weekday}, {d:02} {month} {y} {:02}:{:02}:{:02} GMT",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[tokio::test]
async fn a_refused_event_is_dead_lettered_its_lane_flows_and_redrive_resends_it() {
    let s = setup().await;
    let c = "gone@example.com";
    let events: Vec<Event> = (1..=3).map(|n| about(&format!("gone-{n}"), c)).collect();
    write(&s.store, &events, T).await;
    let first = events[0].id.clone();
    let refused = first.clone();
    let script: Arc<Script> = Arc::new(move |hit: &Hit, seen| {
        if hit.id == refused && seen == 0 {
            answer(410)
        } else {
            answer(200)
        }
    });
    let receiver = Receiver::start(local(0), script).await;
    let dispatcher = Dispatcher::new(Arc::clone(&s.store), &callback(&receiver.url(), 4)).unwrap();

    // 410: dead at once, and the later events go out in the same pass.
    let summary = dispatcher.deliver_pending(T).await.unwrap();
    assert_eq!(
        summary,
        Summary {
            delivered: 2,
            dead: 1,
            ..Summary::default()
        }
    );
    assert_eq!(delivered_of(&receiver, c), ids(&events[1..]));
    let counts = dispatcher.counts().await.unwrap();
    assert_eq!((counts.pending, counts.dead), (0, 1));
    let dead = dispatcher.dead_letters(0, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event.id, first);
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 410"));
    // Dead letters stay put.
    assert_eq!(
        dispatcher.deliver_pending(T + 86_400).await.unwrap(),
        Summary::default()
    );

    // Redrive: sent again with the same id, delivered, no longer dead.
    assert_eq!(
        dispatcher
            .redrive(Redrive::Ids(std::slice::from_ref(&first)))
            .await
            .unwrap(),
        1
    );
    assert_eq!(dispatcher.counts().await.unwrap().dead, 0);
    assert_eq!(
        dispatcher.deliver_pending(T + 10).await.unwrap().delivered,
        1
    );
    assert_eq!(receiver.delivered().last(), Some(&first));
    assert_eq!(dispatcher.redrive(Redrive::AllDead).await.unwrap(), 0);
    receiver.stop().await;
}

#[tokio::test]
async fn a_spent_retry_budget_dead_letters_and_releases_the_lane() {
    let s = setup().await;
    let receiver = Receiver::always(503).await;
    let c = "budget@example.com";
    let first = about("budget-1", c);
    write(&s.store, std::slice::from_ref(&first), T).await;
    let second = about("budget-2", c);
    write(&s.store, std::slice::from_ref(&second), T + 1800).await;
    let mut config = callback(&receiver.url(), 2);
    config.retry_budget = Duration::from_secs(3600);
    let dispatcher = Dispatcher::new(Arc::clone(&s.store), &config).unwrap();

    assert_eq!(dispatcher.deliver_pending(T).await.unwrap().retrying, 1);
    // Nothing is scheduled past the budget: the last retry is at its end.
    assert_eq!(
        dispatcher.deliver_pending(T + 3599).await.unwrap().retrying,
        1
    );
    assert!(s.store.due_heads(T + 3599, 10).await.unwrap().is_empty());
    assert_eq!(s.store.due_heads(T + 3600, 10).await.unwrap().len(), 1);
    let summary = dispatcher.deliver_pending(T + 3600).await.unwrap();
    // The first is dead (3 attempts); the second, written later, has budget
    // left: it is tried in the same pass and scheduled.
    assert_eq!(
        summary,
        Summary {
            retrying: 1,
            dead: 1,
            ..Summary::default()
        }
    );
    let dead = dispatcher.dead_letters(0, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].event.id.as_str(), dead[0].attempts),
        (first.id.as_str(), 3)
    );
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 503"));
    let hits = receiver.hits();
    assert_eq!(hits.iter().filter(|h| h.id == first.id).count(), 3);
    assert_eq!(hits.last().map(|h| h.id.as_str()), Some(second.id.as_str()));

    // Redriven, it gets a whole budget again (from the redrive) and goes
    // before the second one, which waits behind it.
    let dispatcher = dispatcher.with_clock(|| T + 4000);
    assert_eq!(dispatcher.redrive(Redrive::AllDead).await.unwrap(), 1);
    let heads = s.store.due_heads(T + 4000, 10).await.unwrap();
    assert_eq!(heads.len(), 1);
    assert_eq!(
        (heads[0].id.as_str(), heads[0].budget_from),
        (first.id.as_str(), T + 4000)
    );
    receiver.stop().await;
}

#[tokio::test]
async fn order_holds_per_contact_under_concurrency_and_failures() {
    let s = setup().await;
    let contacts: Vec<String> = (0..20).map(|n| format!("c{n}@example.com")).collect();
    let mut events = Vec::new();
    for round in 0..5 {
        for c in &contacts {
            events.push(about(&format!("ord-{c}-{round}"), c));
        }
    }
    events.push(inbox_event("ord-inbox-1", "sales"));
    events.push(inbox_event("ord-inbox-2", "sales"));
    write(&s.store, &events, T).await;
    // Every third event fails on its first attempt; answers take 0-15 ms.
    let failing: std::collections::HashSet<String> =
        events.iter().step_by(3).map(|e| e.id.clone()).collect();
    let script: Arc<Script> = Arc::new(move |hit: &Hit, seen| Answer {
        delay: Duration::from_millis(fastrand::u64(0..15)),
        ..answer(if seen == 0 && failing.contains(&hit.id) {
            500
        } else {
            200
        })
    });
    let receiver = Receiver::start(local(0), script).await;
    let dispatcher = Dispatcher::new(Arc::clone(&s.store), &callback(&receiver.url(), 8)).unwrap();

    let mut now = T;
    let mut passes = 0;
    while s.store.dispatch_counts().await.unwrap().pending > 0 {
        dispatcher.deliver_pending(now).await.unwrap();
        now += 3600;
        passes += 1;
        assert!(passes < 20, "never finished");
    }
    assert!(passes > 1, "the failures needed later passes");

    // Per lane: delivered in seq order, and no event was sent before the
    // previous one of its lane had been delivered.
    let lane_of = |e: &Event| e.contact.as_ref().map(|c| c.address.clone());
    let mut lanes: HashMap<Option<String>, Vec<String>> = HashMap::new();
    for e in &events {
        lanes.entry(lane_of(e)).or_default().push(e.id.clone());
    }
    let hits = receiver.hits();
    for (lane, expected) in &lanes {
        let mut done = 0;
        for hit in hits.iter().filter(|h| &h.contact == lane) {
            assert_eq!(hit.id, expected[done], "lane {lane:?} out of order");
            if hit.status == 200 {
                done += 1;
            }
        }
        assert_eq!(done, expected.len(), "lane {lane:?}");
    }
    let max = receiver.rx.max_in_flight.load(Ordering::SeqCst);
    assert!((2..=8).contains(&max), "{max} requests in flight at most");
    receiver.stop().await;
}

#[tokio::test]
async fn a_slow_or_failing_contact_does_not_hold_up_the_others() {
    let s = setup().await;
    let slow = "slow@example.com";
    let failing = "failing@example.com";
    let fast = "fast@example.com";
    let mut events = vec![about("sl-slow", slow), about("sl-fail", failing)];
    events.extend((0..5).map(|n| about(&format!("sl-fast-{n}"), fast)));
    write(&s.store, &events, T).await;
    let script: Arc<Script> = Arc::new(move |hit: &Hit, _| match hit.contact.as_deref() {
        Some(c) if c == slow => Answer {
            delay: Duration::from_secs(3),
            ..answer(200)
        },
        Some(c) if c == failing => answer(500),
        _ => answer(200),
    });
    let receiver = Receiver::start(local(0), script).await;
    let dispatcher = Arc::new(
        Dispatcher::new(Arc::clone(&s.store), &callback(&receiver.url(), 4))
            .unwrap()
            .with_poll_interval(Duration::from_millis(50)),
    );
    let stop = CancellationToken::new();
    let started = Instant::now();
    let run = tokio::spawn({
        let dispatcher = Arc::clone(&dispatcher);
        let stop = stop.clone();
        async move { dispatcher.run(stop).await }
    });

    // Recorded as delivered by the dispatcher: only the slow one (in
    // flight) and the failing one (retrying) are left.
    loop {
        let counts = dispatcher.counts().await.unwrap();
        if counts.pending == 2 {
            assert_eq!(counts.retrying, 1, "{counts:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "timed out: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "the fast lane waited for the slow one: {:?}",
        started.elapsed()
    );
    assert_eq!(delivered_of(&receiver, fast), ids(&events[2..]));
    assert!(
        s.store
            .due_heads(rebound::sync::unix_now() + 1, 10)
            .await
            .unwrap()
            .iter()
            .any(|h| h.id == events[0].id),
        "the slow one is still pending"
    );

    // Stopping waits for the request in flight and records it.
    stop.cancel();
    run.await.unwrap();
    assert_eq!(delivered_of(&receiver, slow), [events[0].id.clone()]);
    let counts = dispatcher.counts().await.unwrap();
    assert_eq!(
        (counts.pending, counts.retrying),
        (1, 1),
        "only the failing one"
    );
    receiver.stop().await;
}

#[tokio::test]
async fn the_notifier_wakes_a_running_dispatcher() {
    let s = setup().await;
    let receiver = Receiver::always(200).await;
    // Polling once an hour: only a ping can explain a quick delivery.
    let dispatcher = Arc::new(
        Dispatcher::new(Arc::clone(&s.store), &callback(&receiver.url(), 2))
            .unwrap()
            .with_poll_interval(Duration::from_secs(3600)),
    );
    let stop = CancellationToken::new();
    let run = tokio::spawn({
        let dispatcher = Arc::clone(&dispatcher);
        let stop = stop.clone();
        async move { dispatcher.run(stop).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.hits().is_empty());

    let event = about("ping-1", "ping@example.com");
    write(
        &s.store,
        std::slice::from_ref(&event),
        rebound::sync::unix_now(),
    )
    .await;
    dispatcher.notifier().notify_one();
    wait_for("the pinged event", || receiver.delivered().len() == 1).await;
    assert_eq!(receiver.delivered(), std::slice::from_ref(&event.id));
    stop.cancel();
    run.await.unwrap();
    receiver.stop().await;
}

#[tokio::test]
async fn a_malformed_secret_is_refused_at_setup_without_showing_it() {
    let s = setup().await;
    let mut config = callback("http://127.0.0.1:9/hook", 1);
    config.secret = Secret::new("whsec_!!!not-base64!!!");
    let err = Dispatcher::new(Arc::clone(&s.store), &config).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("callback.secret"), "{text}");
    assert!(!text.contains("not-base64"), "{text}");
}

#[tokio::test]
async fn a_running_dispatcher_retries_on_schedule_while_other_lanes_keep_it_busy() {
    let s = setup().await;
    let flaky = about("busy-flaky", "flaky@example.com");
    let mut events = vec![flaky.clone()];
    for n in 0..600 {
        events.push(about(
            &format!("busy-{n}"),
            &format!("b{}@example.com", n % 60),
        ));
    }
    write(&s.store, &events, rebound::sync::unix_now()).await;
    // The flaky event fails once; every answer takes 10 ms, so two requests
    // in flight keep the dispatcher busy for about 3 s.
    let flaky_id = flaky.id.clone();
    let script: Arc<Script> = Arc::new(move |hit: &Hit, seen| Answer {
        delay: Duration::from_millis(10),
        ..answer(if hit.id == flaky_id && seen == 0 {
            500
        } else {
            200
        })
    });
    let receiver = Receiver::start(local(0), script).await;
    let dispatcher = Arc::new(
        Dispatcher::new(Arc::clone(&s.store), &callback(&receiver.url(), 2))
            .unwrap()
            .with_poll_interval(Duration::from_millis(50)),
    );
    let stop = CancellationToken::new();
    let run = tokio::spawn({
        let dispatcher = Arc::clone(&dispatcher);
        let stop = stop.clone();
        async move { dispatcher.run(stop).await }
    });
    wait_for("every event", || receiver.delivered().len() == events.len()).await;
    stop.cancel();
    run.await.unwrap();

    // The retry (due 1 s after the failure) went out while the busy lanes
    // were still being delivered, not after them.
    let delivered = receiver.delivered();
    let at = delivered.iter().position(|id| *id == flaky.id).unwrap();
    assert!(
        at + 100 < delivered.len(),
        "retried only at position {at} of {}",
        delivered.len()
    );
    assert_eq!(dispatcher.counts().await.unwrap().pending, 0);
    receiver.stop().await;
}
