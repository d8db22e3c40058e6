//! End-to-end latency under IDLE: APPEND of a bounce about a tracked
//! message → its signed `bounce.detected` callback received by the CRM.
//!
//! Not a test: `cargo bench --bench callback_latency`.
//!
//! Everything real and separate: a local Dovecot, the release `rebound run`
//! daemon binary (SQLite store, HTTP callback, the API only to see that the
//! inbox is idle), and an axum receiver in this process that records when
//! each request arrived. `REBOUND_BENCH_TRIALS` (default 100) messages to
//! distinct addresses are tracked before the daemon starts; trial *i*
//! APPENDs a hard NDR about message *i* on a harness connection and waits for
//! its `bounce.detected` at the receiver. Per trial:
//!
//! - t0: just before the APPEND;
//! - t1 (baseline, same run, same trial): when a bare IMAP client idling on
//!   the same INBOX read Dovecot's `* N EXISTS`: the earliest any IDLE-based
//!   service can know of the message (Dovecot holds notices back ≈ 0.5 s);
//! - t2: when the receiver had read the callback.
//!
//! Reports p50/p90/p99/max of t2−t0 (end to end), t1−t0 (the floor) and
//! t2−t1 (rebound's own share: its IDLE wake-up, the Sent and INBOX sync
//! step, analysis, matching, the policy, the outbox transaction, signing and
//! the POST), per trial and as the difference of the percentiles: Dovecot
//! times each IDLE session's notice separately, so per trial the two
//! sessions are not always told at the same moment. Between trials it waits `REBOUND_BENCH_GAP_MS` (default 300).
//! Finally it checks every callback's signature and stops the daemon with
//! SIGTERM.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "imap/common.rs"]
mod common;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use rebound::store::{SqliteStore, Store};
use support::dovecot::{Dovecot, DovecotOptions};
use support::notices::{ndr, tracked};
use support::rawimap::RawImap;
use support::receiver::{Receiver, verify};

const USER: &str = "alice";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TOKEN: &str = "bench-token-0123456789abcdef";

fn main() -> ExitCode {
    common::bench_main("callback_latency", None, run)
}

fn address(trial: usize) -> String {
    format!("lat{trial}@example.com")
}

fn original(trial: usize) -> String {
    format!("lat-{trial}@acme.example")
}

async fn run() -> Result<(), String> {
    let trials = common::env_usize("REBOUND_BENCH_TRIALS", 100)?;
    let gap = Duration::from_millis(common::env_usize("REBOUND_BENCH_GAP_MS", 300)? as u64);
    println!("machine: {}", common::describe_machine());
    let server = Dovecot::start(DovecotOptions::default()).await;
    server
        .append(USER, "INBOX", b"Subject: hello\r\n\r\nbefore the start\r\n")
        .await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;

    // What the CRM sent, registered before the daemon starts.
    let now = rebound::sync::unix_now();
    let sent: Vec<_> = (0..trials)
        .map(|t| tracked(&original(t), &address(t), now - 3600))
        .collect();
    {
        let store = SqliteStore::open(&dir.path().join("state.db"))
            .await
            .map_err(|e| format!("open the store: {e}"))?;
        store
            .track(&sent, now)
            .await
            .map_err(|e| format!("track: {e}"))?;
        store.close().await;
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("a free port: {e}"))?
        .port();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "store: {{ kind: sqlite, path: state.db }}\n\
             callback: {{ kind: http, url: \"{url}\", secret: \"{SECRET}\" }}\n\
             api: {{ listen: \"127.0.0.1:{port}\", token: \"{TOKEN}\" }}\n\
             inboxes:\n{inbox}",
            url = receiver.url(),
            inbox = server.inbox_yaml("sales", "acme", USER),
        ),
    )
    .map_err(|e| e.to_string())?;
    let log = dir.path().join("daemon.log");
    let logfile = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rebound"))
        .args(["run", "--no-progress", "-c"])
        .arg(&config)
        .stdout(logfile.try_clone().map_err(|e| e.to_string())?)
        .stderr(logfile)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("start the daemon: {e}"))?;
    let daemon_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let started = Instant::now();
    wait_idle(&format!("http://127.0.0.1:{port}"), Duration::from_secs(30))
        .await
        .map_err(|e| format!("{e}\n{}", daemon_log()))?;
    println!(
        "daemon idle {:.0} ms after its start",
        started.elapsed().as_secs_f64() * 1000.0
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    let password = server.password(USER);
    let mut watcher = RawImap::login(server.plain_port(), USER, &password).await;
    watcher.ok("SELECT INBOX").await;
    let idle_tag = watcher.idle_start().await;
    let mut appender = RawImap::login(server.plain_port(), USER, &password).await;

    let (mut total, mut floor, mut own) = (Vec::new(), Vec::new(), Vec::new());
    for trial in 0..trials {
        let to = address(trial);
        let notice = ndr(
            &format!("ndr-{trial}@mx.example.net"),
            &original(trial),
            &to,
            true,
        );
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(30);
        let (_, t1, t2) = tokio::join!(
            appender.append_many("INBOX", vec![notice]),
            exists(&mut watcher),
            callback(&receiver, &to, deadline),
        );
        let t2 = t2.map_err(|e| format!("trial {trial}: {e}\n{}", daemon_log()))?;
        total.push(ms(t2 - t0));
        floor.push(ms(t1.saturating_duration_since(t0)));
        // Signed: Dovecot times each IDLE session's notice on its own, so
        // the watcher is now and then told later than rebound was.
        own.push(ms(t2 - t0) - ms(t1.saturating_duration_since(t0)));
        tokio::time::sleep(gap).await;
    }
    watcher.idle_done(&idle_tag).await;
    watcher.ok("LOGOUT").await;
    appender.ok("LOGOUT").await;

    let received = receiver.received();
    let unsigned = received.iter().filter(|r| !verify(SECRET, r)).count();
    if unsigned > 0 {
        return Err(format!("{unsigned} callbacks did not verify"));
    }
    let pid = child.id().ok_or("the daemon has already exited")?;
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map_err(|e| e.to_string())?;
    let stopping = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .map_err(|_| "the daemon did not stop within 15 s of SIGTERM")?
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("the daemon exited with {status}\n{}", daemon_log()));
    }

    println!();
    println!(
        "trials: {}, gap {} ms; {} callbacks received, all signatures verified",
        total.len(),
        gap.as_millis(),
        received.len()
    );
    common::report("APPEND -> callback received (t2-t0)", &total);
    common::report("baseline: APPEND -> EXISTS   (t1-t0)", &floor);
    common::report("rebound's share, per trial   (t2-t1)", &own);
    println!(
        "rebound's share as percentile differences (end to end - baseline): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms; \
         {} trials where the watcher was told after the callback had arrived",
        common::percentile(&total, 50.0) - common::percentile(&floor, 50.0),
        common::percentile(&total, 90.0) - common::percentile(&floor, 90.0),
        common::percentile(&total, 99.0) - common::percentile(&floor, 99.0),
        own.iter().filter(|d| **d < 0.0).count()
    );
    println!(
        "daemon stopped {:.0} ms after SIGTERM",
        stopping.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// When the idling watcher reads the next `* N EXISTS`.
async fn exists(watcher: &mut RawImap) -> Instant {
    loop {
        let line = watcher.idle_next().await;
        if line.ends_with(" EXISTS") {
            return Instant::now();
        }
    }
}

/// When the receiver had read the `bounce.detected` about `address`.
async fn callback(
    receiver: &Receiver,
    address: &str,
    deadline: Instant,
) -> Result<Instant, String> {
    loop {
        let hit = receiver.received().into_iter().find(|r| {
            let event = r.json();
            event["type"] == "bounce.detected" && event["contact"]["address"] == address
        });
        if let Some(hit) = hit {
            return Ok(hit.at);
        }
        if Instant::now() > deadline {
            return Err(format!("no bounce.detected for {address} within 30 s"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Polls `GET /v1/inboxes` until the one inbox is `idle`.
async fn wait_idle(api: &str, limit: Duration) -> Result<(), String> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + limit;
    loop {
        let state = match client
            .get(format!("{api}/v1/inboxes"))
            .bearer_auth(TOKEN)
            .send()
            .await
        {
            Ok(r) => r
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|b| b.pointer("/inboxes/0/state").cloned()),
            Err(_) => None,
        };
        if state.as_ref().and_then(|s| s.as_str()) == Some("idle") {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the inbox was not idle within {limit:?}: {state:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
