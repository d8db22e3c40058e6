//! IDLE latency: APPEND of a bounce on another connection → its finding
//! out of the sink.
//!
//! Not a test: `cargo bench --bench imap_idle_latency` (or `scripts/bench-imap.sh`).
//!
//! Starts a local Dovecot and runs alice's inbox in daemon mode (IDLE on,
//! poll interval 1 h, INBOX only, implicit TLS) with a channel sink. Once the
//! inbox reports `Idle` (plus a second, so it is inside IDLE), runs
//! `REBOUND_BENCH_TRIALS` (default 100) trials on one harness connection:
//!
//! - t0: just before the APPEND of a bounce (a fixture, own Message-ID);
//! - t1: the batch's `trigger`, when rebound's IDLE saw the announcement;
//! - t2: when the batch carrying that finding came out of the channel.
//!
//! Between trials it waits `REBOUND_BENCH_GAP_MS` (default 300) ms so the
//! session is back in IDLE. Reports p50/p90/p99/max of t2−t0 (target p50 ≤
//! 0.8 s; Dovecot itself holds IDLE notices back 0.5 s) and of t2−t1,
//! rebound's own share (target p99 ≤ 50 ms). Then cancels and checks that the
//! inbox task returns within the shutdown grace.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "imap/common.rs"]
mod common;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rebound::sink::Sink;
use rebound::store::{HealthState, SqliteStore, Store};
use rebound::sync::Mode;
use support::dovecot::{Dovecot, DovecotOptions};
use support::rawimap::RawImap;
use tokio_util::sync::CancellationToken;

const USER: &str = "alice";

fn main() -> ExitCode {
    common::bench_main("imap_idle_latency", Some("scripts/bench-imap.sh"), run)
}

async fn run() -> Result<(), String> {
    let trials = common::env_usize("REBOUND_BENCH_TRIALS", 100)?;
    let gap = Duration::from_millis(common::env_usize("REBOUND_BENCH_GAP_MS", 300)? as u64);
    let bounces = common::bounce_fixtures();
    if bounces.is_empty() {
        return Err("no bounce fixtures under tests/fixtures/{dsn,prose}".into());
    }
    println!("machine: {}", common::describe_machine());
    let server = Dovecot::start(DovecotOptions::default()).await;
    // Something already in the INBOX, so the first sync has a checkpoint to
    // start from like a real mailbox.
    server
        .append(USER, "INBOX", b"Subject: hello\r\n\r\nbefore the start\r\n")
        .await;

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let db = dir.path().join("state.db");
    let store = Arc::new(
        SqliteStore::open(&db)
            .await
            .map_err(|e| format!("open the store: {e}"))?,
    );
    let mut settings = common::inbox_only(server.imap_settings(USER));
    settings.idle = true;
    settings.poll_interval = Duration::from_secs(3600);
    let config = Arc::new(common::config(
        &db,
        common::default_sync(),
        vec![common::inbox("bench", settings)],
    ));
    let (sink, mut rx) = Sink::channel();
    let stop = CancellationToken::new();
    let mode = Mode {
        once: false,
        ..Mode::default()
    };
    let started = Instant::now();
    let tasks = common::spawn_inboxes(config, store.clone(), sink, mode, &stop);
    wait_idle(&store, Duration::from_secs(30)).await?;
    println!(
        "inbox idle after {:.0} ms (first sync done)",
        started.elapsed().as_secs_f64() * 1000.0
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut raw = RawImap::login(server.plain_port(), USER, &server.password(USER)).await;
    let mut total = Vec::new();
    let mut own = Vec::new();
    let mut untriggered = 0;
    for trial in 0..trials {
        let Some((name, fixture)) = bounces.get(trial % bounces.len()) else {
            break;
        };
        let id = format!("latency-{trial}@bench.example");
        let message = common::with_message_id(fixture, &id);
        let t0 = Instant::now();
        raw.append_many("INBOX", vec![message]).await;
        let deadline = t0 + Duration::from_secs(30);
        let (t1, t2) = loop {
            let batch = tokio::time::timeout_at(deadline.into(), rx.recv())
                .await
                .map_err(|_| format!("trial {trial} ({name}): no finding within 30 s"))?
                .ok_or("the sink channel closed: the inbox task ended")?;
            let t2 = Instant::now();
            let ours = batch.findings.iter().any(|f| {
                f.envelope
                    .message_id
                    .as_deref()
                    .is_some_and(|m| m.contains(&id))
            });
            if ours {
                break (batch.trigger, t2);
            }
            if batch
                .envelopes
                .iter()
                .any(|e| e.message_id.as_deref().is_some_and(|m| m.contains(&id)))
            {
                return Err(format!(
                    "trial {trial}: {name} arrived without a finding (not recognised as a notice)"
                ));
            }
        };
        total.push((t2 - t0).as_secs_f64() * 1000.0);
        match t1 {
            Some(t1) => own.push(t2.saturating_duration_since(t1).as_secs_f64() * 1000.0),
            None => untriggered += 1,
        }
        tokio::time::sleep(gap).await;
    }
    raw.ok("LOGOUT").await;

    let stopping = Instant::now();
    stop.cancel();
    let outcomes = tokio::time::timeout(Duration::from_secs(15), common::join_all(tasks))
        .await
        .map_err(|_| "the inbox task did not return within 15 s of cancellation")?;
    let stopped_ms = stopping.elapsed().as_secs_f64() * 1000.0;

    println!();
    println!(
        "trials: {}, gap {} ms; {untriggered} findings came from a step not started by IDLE",
        total.len(),
        gap.as_millis()
    );
    common::report("APPEND -> finding (t2-t0)", &total);
    common::report("rebound's share (t2-t1)  ", &own);
    let p50 = common::percentile(&total, 50.0);
    let p99_own = common::percentile(&own, 99.0);
    println!(
        "target p50(t2-t0) <= 800 ms: {} ({p50:.0} ms); target p99(t2-t1) <= 50 ms: {} ({p99_own:.1} ms)",
        if p50 <= 800.0 { "met" } else { "MISSED" },
        if !own.is_empty() && p99_own <= 50.0 {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "shutdown: the inbox task returned {stopped_ms:.0} ms after cancellation; outcome: {:?}",
        outcomes
            .iter()
            .map(|o| (o.messages, o.findings, o.error.clone(), o.state))
            .collect::<Vec<_>>()
    );
    if outcomes.len() != 1 {
        return Err(format!("expected one outcome, got {}", outcomes.len()));
    }
    store.close().await;
    Ok(())
}

/// Polls the store's health until the one inbox is `Idle`.
async fn wait_idle(store: &SqliteStore, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        let health = store.health().await.map_err(|e| e.to_string())?;
        if health.iter().any(|h| h.state == HealthState::Idle) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the inbox was not idle within {limit:?}: {health:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
