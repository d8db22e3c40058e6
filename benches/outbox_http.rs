//! Callback delivery throughput (issue 5): outbox → signed POSTs → a local
//! HTTP receiver, against raw reqwest POSTs of the same bodies.
//!
//! Not a test: `cargo bench --bench outbox_http`. Under `cargo test
//! --all-targets` (no `--bench` argument) it only proves that it builds.
//!
//! Each round, for each concurrency (8, then 1):
//! - **dispatcher**: a fresh SQLite store (temp dir) holding
//!   `REBOUND_BENCH_EVENTS` (default 10,000) `bounce.detected` events over
//!   `REBOUND_BENCH_CONTACTS` (default 1,000) contacts, written before the
//!   clock starts (event *i* is about contact *i* mod contacts, so each
//!   contact's lane holds events/contacts events in seq order). Timed: one
//!   `Dispatcher::deliver_pending` pass that delivers all of them (lane
//!   heads read from the outbox, HMAC-signed POSTs, one row update per
//!   delivery).
//! - **baseline**: the same bodies POSTed by a plain reqwest client
//!   (same pool size, `Content-Type: application/json`, no signing, no
//!   store, no ordering) with that many requests in flight.
//!
//! The receiver is an axum server on 127.0.0.1 in the same process and
//! runtime that answers 204 at once and counts requests; every run checks
//! that it received exactly the events. One warm-up round, then
//! `REBOUND_BENCH_ROUNDS` (default 5); reported: median, slowest and fastest
//! round in events/s, and the dispatcher/baseline ratio of the medians.

#[path = "imap/common.rs"]
mod common;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use rebound::config::{HttpCallback, Secret};
use rebound::event::{Contact, Event, EventType};
use rebound::outbox::Dispatcher;
use rebound::policy::Changes;
use rebound::store::{PolicyStore, SqliteStore};

use common::{describe_machine, env_usize, median};

const SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const NOW: i64 = 1_800_000_000;

fn main() -> ExitCode {
    common::bench_main("outbox_http", None, run)
}

/// A receiver answering 204 at once; returns its URL and request counter.
async fn receiver() -> Result<(String, Arc<AtomicUsize>), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("no local address: {e}"))?;
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let counter = Arc::clone(&counter);
            async move {
                if !body.is_empty() {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("bench: receiver failed: {e}");
        }
    });
    Ok((format!("http://{addr}/hook"), count))
}

/// Event `n` of the run, about contact `n % contacts`.
fn event(n: usize, contacts: usize) -> Event {
    let address = format!("contact{}@customer.example", n % contacts);
    Event::new(
        EventType::BounceDetected,
        &format!("bench-{n}"),
        NOW - 60,
        "acme",
        Some("sales"),
        Some(Contact {
            address,
            contact_id: Some(format!("crm-{}", n % contacts)),
        }),
        serde_json::json!({
            "kind": "hard", "reason": "mailbox_unknown", "status": "5.1.1",
            "smtp_code": 550, "diagnostic": "550 5.1.1 The email account does not exist",
            "match": {"method": "reply_headers", "confidence": "certain"},
            "policy": {"action": "suppressed", "reason": "hard_bounce"}
        }),
    )
}

async fn run() -> Result<(), String> {
    let rounds = env_usize("REBOUND_BENCH_ROUNDS", 5)?;
    let total = env_usize("REBOUND_BENCH_EVENTS", 10_000)?;
    let contacts = env_usize("REBOUND_BENCH_CONTACTS", 1_000)?;
    let (url, received) = receiver().await?;
    let events: Vec<Event> = (0..total).map(|n| event(n, contacts)).collect();
    let bodies: Vec<String> = events
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let body_bytes: usize = bodies.iter().map(String::len).sum();
    println!(
        "== callback delivery: {total} events over {contacts} contacts, bodies {} B on average; {}",
        body_bytes / total.max(1),
        describe_machine()
    );

    let levels = [8usize, 1];
    let mut dispatched: Vec<Vec<f64>> = vec![Vec::new(); levels.len()];
    let mut baseline: Vec<Vec<f64>> = vec![Vec::new(); levels.len()];
    for round in 0..=rounds {
        for (k, &concurrency) in levels.iter().enumerate() {
            let d = dispatcher_round(&url, &received, &events, concurrency).await?;
            let b = baseline_round(&url, &received, &bodies, concurrency).await?;
            if round > 0 {
                dispatched[k].push(total as f64 / d.as_secs_f64());
                baseline[k].push(total as f64 / b.as_secs_f64());
            }
        }
    }
    for (k, concurrency) in levels.iter().enumerate() {
        let (d, b) = (&dispatched[k], &baseline[k]);
        println!("concurrency {concurrency}:");
        for (name, values) in [("dispatcher", d), ("baseline (raw reqwest)", b)] {
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(0.0, f64::max);
            println!(
                "  {name:<24} median {:>8.0} events/s (slowest {min:.0}, fastest {max:.0}, {} rounds)",
                median(values),
                values.len()
            );
        }
        println!(
            "  dispatcher / baseline: {:.2} of the raw throughput",
            median(d) / median(b)
        );
    }
    Ok(())
}

/// One timed `deliver_pending` over a fresh outbox.
async fn dispatcher_round(
    url: &str,
    received: &AtomicUsize,
    events: &[Event],
    concurrency: usize,
) -> Result<Duration, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = SqliteStore::open(&dir.path().join("bench.db"))
        .await
        .map_err(|e| e.to_string())?;
    for chunk in events.chunks(1_000) {
        let changes = Changes {
            events: chunk.to_vec(),
            ..Changes::default()
        };
        store
            .apply(&changes, NOW)
            .await
            .map_err(|e| e.to_string())?;
    }
    let store = Arc::new(store);
    let config = HttpCallback {
        url: url.to_owned(),
        secret: Secret::new(SECRET),
        previous_secret: None,
        timeout: Duration::from_secs(10),
        retry_budget: Duration::from_secs(86_400),
        concurrency,
    };
    let dispatcher = Dispatcher::new(Arc::clone(&store), &config).map_err(|e| e.to_string())?;
    received.store(0, Ordering::SeqCst);
    let start = Instant::now();
    let summary = dispatcher
        .deliver_pending(NOW)
        .await
        .map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    if summary.delivered != events.len() || received.load(Ordering::SeqCst) != events.len() {
        return Err(format!(
            "dispatcher delivered {summary:?}, receiver got {}, expected {}",
            received.load(Ordering::SeqCst),
            events.len()
        ));
    }
    store.close().await;
    Ok(elapsed)
}

/// The same bodies through a plain reqwest client.
async fn baseline_round(
    url: &str,
    received: &AtomicUsize,
    bodies: &[String],
    concurrency: usize,
) -> Result<Duration, String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    received.store(0, Ordering::SeqCst);
    let start = Instant::now();
    let results: Vec<Result<u16, String>> = futures_util::stream::iter(bodies.iter().cloned())
        .map(|body| {
            let client = client.clone();
            async move {
                let response = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = response.status().as_u16();
                response.bytes().await.map_err(|e| e.to_string())?;
                Ok(status)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = start.elapsed();
    let ok = results.iter().filter(|r| matches!(r, Ok(204))).count();
    if ok != bodies.len() || received.load(Ordering::SeqCst) != bodies.len() {
        return Err(format!(
            "baseline: {ok} answered 204, receiver got {}, expected {}",
            received.load(Ordering::SeqCst),
            bodies.len()
        ));
    }
    Ok(elapsed)
}
