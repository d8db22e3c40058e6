//! 1,000 idle IMAP inboxes in one process: memory per inbox and CPU while idle.
//!
//! Not a test: `cargo bench --bench imap_idle_many` (or `scripts/bench-imap.sh`,
//! which raises `ulimit -n` first).
//!
//! Starts one local Dovecot with `many_connections()` and
//! `REBOUND_BENCH_INBOXES` (default 1,000) users, then runs one inbox task per
//! user in this process, daemon mode: implicit TLS, password LOGIN, the
//! harness's folders (INBOX under IDLE; Junk and Sent polled every
//! `REBOUND_BENCH_POLL_SECS`, default 60 s, the configuration default), small
//! login interval and backoff. Measures:
//!
//! - this process's VmRSS before the tasks start and once every inbox is
//!   `Idle` in the store's health (plus `REBOUND_BENCH_SETTLE_SECS`, default
//!   10 s) → KB per idle inbox (target ≤ 100 KB), and how long it took;
//! - CPU time (utime + stime, /proc/self/stat) over a
//!   `REBOUND_BENCH_IDLE_SECS` (default 60 s) idle window → CPU % while idle;
//! - for information, Dovecot's memory (sum of PSS and of RSS over its processes);
//! - that pushes still arrive: a bounce APPENDed to 10 of the inboxes must come
//!   out of the sink;
//! - that cancellation stops every task within the grace period.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "imap/common.rs"]
mod common;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rebound::sink::Sink;
use rebound::store::{HealthState, SqliteStore, Store};
use rebound::sync::Mode;
use support::dovecot::{Dovecot, DovecotOptions};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    common::bench_main("imap_idle_many", Some("scripts/bench-imap.sh"), run)
}

fn user(i: usize) -> String {
    format!("u{i:04}")
}

async fn run() -> Result<(), String> {
    let n = common::env_usize("REBOUND_BENCH_INBOXES", 1000)?;
    let poll = common::env_usize("REBOUND_BENCH_POLL_SECS", 60)? as u64;
    let settle = common::env_usize("REBOUND_BENCH_SETTLE_SECS", 10)? as u64;
    let window = common::env_usize("REBOUND_BENCH_IDLE_SECS", 60)? as u64;
    let ready_limit = common::env_usize("REBOUND_BENCH_READY_SECS", 300)? as u64;
    check_open_files(n)?;
    let bounces = common::bounce_fixtures();
    let Some((_, bounce)) = bounces.first() else {
        return Err("no bounce fixtures under tests/fixtures/{dsn,prose}".into());
    };
    println!("machine: {}", common::describe_machine());

    let mut options = DovecotOptions::new().many_connections();
    for i in 0..n {
        options = options.user(&user(i), &format!("pw-{}", user(i)));
    }
    let server = Dovecot::start(options).await;

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let db = dir.path().join("state.db");
    let store = Arc::new(
        SqliteStore::open(&db)
            .await
            .map_err(|e| format!("open the store: {e}"))?,
    );
    let mut sync = common::default_sync();
    sync.login_interval = Duration::from_millis(100);
    sync.backoff_initial = Duration::from_millis(200);
    sync.backoff_max = Duration::from_secs(5);
    let inboxes = (0..n)
        .map(|i| {
            let mut settings = server.imap_settings(&user(i));
            settings.idle = true;
            settings.poll_interval = Duration::from_secs(poll);
            settings.connect_timeout = Duration::from_secs(60);
            common::inbox(&user(i), settings)
        })
        .collect();
    let config = Arc::new(common::config(&db, sync, inboxes));
    let (sink, mut rx) = Sink::channel();
    let stop = CancellationToken::new();
    let mode = Mode {
        once: false,
        ..Mode::default()
    };
    let ticks = clock_ticks();
    let rss_before = common::status_kb("VmRSS");
    let cpu_before = cpu_ticks();
    let started = Instant::now();
    let tasks = common::spawn_inboxes(config, store.clone(), sink, mode, &stop);
    println!("{n} inbox tasks started; RSS before: {} KiB", rss_before);

    // Until every inbox is idle (first sync of its folders done, in IDLE).
    let deadline = started + Duration::from_secs(ready_limit);
    let mut states = HashMap::new();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let health = store.health().await.map_err(|e| e.to_string())?;
        states.clear();
        for h in &health {
            *states.entry(h.state.as_str()).or_insert(0usize) += 1;
        }
        let idle = states.get("idle").copied().unwrap_or(0);
        if idle == n || Instant::now() > deadline {
            break;
        }
    }
    let ready = started.elapsed().as_secs_f64();
    let idle = states.get("idle").copied().unwrap_or(0);
    let cpu_ready = cpu_ticks();
    println!(
        "{idle}/{n} idle after {ready:.1} s (startup CPU {:.1} s); states: {states:?}",
        (cpu_ready - cpu_before) as f64 / ticks
    );
    if idle < n {
        print_errors(&store).await;
    }
    tokio::time::sleep(Duration::from_secs(settle)).await;
    let rss_idle = common::status_kb("VmRSS");
    let per_inbox = (rss_idle.saturating_sub(rss_before)) as f64 / n as f64;
    println!(
        "RSS idle ({settle} s later): {rss_idle} KiB -> {per_inbox:.1} KiB per idle inbox \
         (target <= 100 KB: {})",
        if per_inbox * 1.024 <= 100.0 {
            "met"
        } else {
            "MISSED"
        }
    );
    let (pss, rss) = dovecot_memory(&server);
    println!(
        "Dovecot: {} processes, PSS {:.0} MiB, RSS sum {:.0} MiB",
        pss.0,
        pss.1 as f64 / 1024.0,
        rss as f64 / 1024.0
    );

    // The idle window.
    let cpu0 = cpu_ticks();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(window)).await;
    let cpu1 = cpu_ticks();
    let wall = t0.elapsed().as_secs_f64();
    let cpu_secs = (cpu1 - cpu0) as f64 / ticks;
    println!(
        "CPU over a {wall:.0} s idle window: {cpu_secs:.2} s -> {:.2} % of one core \
         ({:.2} ms per inbox per minute); poll interval {poll} s",
        cpu_secs / wall * 100.0,
        cpu_secs * 1000.0 / n as f64 * 60.0 / wall
    );
    let health = store.health().await.map_err(|e| e.to_string())?;
    let still_idle = health
        .iter()
        .filter(|h| h.state == HealthState::Idle)
        .count();
    println!(
        "after the window: {still_idle}/{n} idle, RSS {} KiB, peak RSS (VmHWM) {} KiB",
        common::status_kb("VmRSS"),
        common::status_kb("VmHWM")
    );
    // Drain what the first syncs handed on (empty batches).
    while rx.try_recv().is_ok() {}

    // Pushes still arrive on idle sessions.
    let pushed: Vec<usize> = (0..10).map(|k| k * n / 10).collect();
    let t_push = Instant::now();
    for &i in &pushed {
        let message = common::with_message_id(bounce, &format!("many-{i}@bench.example"));
        server.append(&user(i), "INBOX", &message).await;
    }
    let mut found = 0;
    let push_deadline = Instant::now() + Duration::from_secs(30);
    while found < pushed.len() {
        match tokio::time::timeout_at(push_deadline.into(), rx.recv()).await {
            Ok(Some(batch)) => found += batch.findings.len(),
            Ok(None) | Err(_) => break,
        }
    }
    println!(
        "pushes: {found}/{} bounces appended to idle inboxes came out of the sink in {:.2} s",
        pushed.len(),
        t_push.elapsed().as_secs_f64()
    );

    let stopping = Instant::now();
    stop.cancel();
    let outcomes = tokio::time::timeout(Duration::from_secs(30), common::join_all(tasks))
        .await
        .map_err(|_| "the inbox tasks did not return within 30 s of cancellation")?;
    println!(
        "shutdown: {} tasks returned {:.0} ms after cancellation ({} with an error)",
        outcomes.len(),
        stopping.elapsed().as_secs_f64() * 1000.0,
        outcomes.iter().filter(|o| o.error.is_some()).count()
    );
    let mut errors: HashMap<String, usize> = HashMap::new();
    for o in &outcomes {
        if let Some(err) = &o.error {
            *errors.entry(err.clone()).or_insert(0) += 1;
        }
    }
    for (error, count) in &errors {
        println!("  {count} tasks ended with: {error}");
    }
    store.close().await;
    if found < pushed.len() {
        return Err(format!("only {found}/{} pushes arrived", pushed.len()));
    }
    Ok(())
}

/// Fails unless the soft limit on open files leaves room for `n` sessions.
fn check_open_files(n: usize) -> Result<(), String> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| {
            if v == "unlimited" {
                Some(u64::MAX)
            } else {
                v.parse::<u64>().ok()
            }
        })
        .unwrap_or(0);
    let needed = n as u64 + 512;
    if soft < needed {
        return Err(format!(
            "the open-files limit is {soft}, {n} inboxes need at least {needed}: \
             run scripts/bench-imap.sh (it raises it with `ulimit -n 65536`), \
             or raise it yourself"
        ));
    }
    Ok(())
}

async fn print_errors(store: &SqliteStore) {
    let Ok(health) = store.health().await else {
        return;
    };
    let mut errors: HashMap<String, usize> = HashMap::new();
    for h in health.iter().filter(|h| h.state != HealthState::Idle) {
        *errors
            .entry(
                h.last_error
                    .clone()
                    .unwrap_or_else(|| h.state.as_str().into()),
            )
            .or_insert(0) += 1;
    }
    for (error, count) in errors {
        println!("  {count} inboxes not idle: {error}");
    }
}

/// utime + stime of this process, in clock ticks.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12)
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// ((process count, PSS KiB), RSS KiB) summed over the Dovecot master (found
/// by its config path on the command line) and its descendants.
fn dovecot_memory(server: &Dovecot) -> ((usize, u64), u64) {
    let ca = server.ca_pem_path();
    let Some(root) = ca.parent().and_then(|p| p.parent()) else {
        return ((0, 0), 0);
    };
    let needle = root.join("dovecot.conf").display().to_string();
    let mut parents: Vec<(u32, u32)> = Vec::new();
    let mut master = None;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains("dovecot") && cmdline.contains(&needle) && !cmdline.starts_with("sh ") {
            master = Some(pid);
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        parents.push((pid, ppid));
    }
    let Some(master) = master else {
        return ((0, 0), 0);
    };
    let mut family = vec![master];
    let mut i = 0;
    while let Some(&p) = family.get(i) {
        for &(child, parent) in &parents {
            if parent == p && !family.contains(&child) {
                family.push(child);
            }
        }
        i += 1;
    }
    let mut pss = 0;
    let mut rss = 0;
    for pid in &family {
        let pid = pid.to_string();
        rss += common::proc_status_kb(&pid, "VmRSS");
        let rollup =
            std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        pss += rollup
            .lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
    }
    ((family.len(), pss), rss)
}
