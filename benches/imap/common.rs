//! Shared by the benchmarks that need a runtime (IMAP, tracking, callbacks) (`#[path = "imap/common.rs"] mod common;`):
//! the `--bench` gate, environment knobs, building a [`Config`] over harness
//! Dovecot users, running inbox tasks, bounce fixtures, and /proc readings.

// Each benchmark uses a different part.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rebound::config::{
    CallbackConfig, Config, FolderRef, ImapSettings, InboxConfig, Provider, Source, StoreConfig,
    SyncConfig,
};
use rebound::sink::Sink;
use rebound::store::SqliteStore;
use rebound::sync::{InboxOutcome, Mode, Supervisor};
use tokio_util::sync::CancellationToken;

/// The whole `main` of an IMAP benchmark: nothing unless measuring (see
/// [`measuring`]), else `run` on a multi-threaded runtime; its error is
/// printed and the exit code is 1.
pub fn bench_main<F>(
    name: &str,
    script: Option<&str>,
    run: impl FnOnce() -> F,
) -> std::process::ExitCode
where
    F: std::future::Future<Output = Result<(), String>>,
{
    use std::process::ExitCode;
    if !measuring(name, script) {
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo bench` passes `--bench`; `cargo test --all-targets` (the project's
/// test command) runs the binary without it: then it only proves it builds.
pub fn measuring(name: &str, script: Option<&str>) -> bool {
    if std::env::args().any(|a| a == "--bench") {
        return true;
    }
    let via = script.map(|s| format!(" ({s})")).unwrap_or_default();
    println!("bench: built; run it with `cargo bench --bench {name}`{via}");
    false
}

/// A positive integer from the environment, or `default`.
pub fn env_usize(name: &str, default: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{name} must be a positive integer, got {v:?}")),
        },
        Err(_) => Ok(default),
    }
}

/// Sync tuning as the defaults of `docs/configuration.md`.
pub fn default_sync() -> SyncConfig {
    SyncConfig {
        max_message_bytes: 10 * 1024 * 1024,
        idle_renew: Duration::from_secs(20 * 60),
        backoff_initial: Duration::from_secs(1),
        backoff_max: Duration::from_secs(5 * 60),
        login_interval: Duration::from_secs(10),
        sent_backfill: Duration::from_secs(30 * 86_400),
        shutdown_grace: Duration::from_secs(10),
    }
}

/// Watch INBOX only, no Sent tracking: what the backfill and latency
/// benchmarks measure.
pub fn inbox_only(mut settings: ImapSettings) -> ImapSettings {
    settings.folders.watch = vec![FolderRef::Name("INBOX".into())];
    settings.folders.sent = None;
    settings
}

/// One IMAP inbox entry.
pub fn inbox(id: &str, settings: ImapSettings) -> InboxConfig {
    InboxConfig {
        id: id.into(),
        account: "bench".into(),
        provider: Provider::Imap,
        address: None,
        enabled: true,
        backfill: None,
        track_sent_folder: settings.folders.sent.is_some(),
        source: Source::Imap(settings),
    }
}

/// A whole configuration over `inboxes`, the store file at `db`.
pub fn config(db: &Path, sync: SyncConfig, inboxes: Vec<InboxConfig>) -> Config {
    Config {
        store: StoreConfig::Sqlite {
            path: db.to_path_buf(),
        },
        sync,
        callback: CallbackConfig::Stdout,
        policy: Default::default(),
        retention: Default::default(),
        api: None,
        inboxes,
    }
}

/// Runs the real supervisor (one task per enabled inbox) in the background.
pub fn spawn_inboxes(
    config: Arc<Config>,
    store: Arc<SqliteStore>,
    sink: Sink,
    mode: Mode,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<Vec<InboxOutcome>> {
    let supervisor = Supervisor::new(config, store, sink);
    let stop = stop.clone();
    tokio::spawn(async move { supervisor.run(mode, stop).await })
}

/// Awaits the supervisor; one outcome per inbox.
pub async fn join_all(task: tokio::task::JoinHandle<Vec<InboxOutcome>>) -> Vec<InboxOutcome> {
    match task.await {
        Ok(outcomes) => outcomes,
        Err(err) => {
            eprintln!("bench: the supervisor ended abnormally: {err}");
            Vec::new()
        }
    }
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixtures under tests/fixtures/{dsn,prose} whose expected report says
/// `"verdict": "bounce"`, sorted by name, with CRLF line ends.
pub fn bounce_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in ["dsn", "prose"] {
        let dir = fixtures_dir().join(sub);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        for eml in names {
            let json = std::fs::read_to_string(eml.with_extension("json")).unwrap_or_default();
            let compact: String = json.chars().filter(|c| !c.is_whitespace()).collect();
            if !compact.contains("\"verdict\":\"bounce\"") {
                continue;
            }
            if let Ok(bytes) = std::fs::read(&eml) {
                let name = eml
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push((name, crlf(&bytes)));
            }
        }
    }
    out
}

/// Bare LF → CRLF (IMAP messages are CRLF, RFC 3501 §4.3 / RFC 5322).
pub fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 30);
    let mut prev = 0u8;
    for &b in bytes {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// The message with its top-level Message-ID replaced by `<id>` (added
/// when missing), so each copy of a fixture has its own identity.
pub fn with_message_id(raw: &[u8], id: &str) -> Vec<u8> {
    let header_end = find(raw, b"\r\n\r\n").map_or(raw.len(), |i| i + 2);
    let (header, body) = raw.split_at(header_end);
    let mut out = Vec::with_capacity(raw.len() + 64);
    out.extend_from_slice(format!("Message-ID: <{id}>\r\n").as_bytes());
    // Drop the old field and its folded continuation lines.
    let mut skipping = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        let folded = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        if skipping && folded {
            continue;
        }
        skipping = line.len() >= 11 && line[..11].eq_ignore_ascii_case(b"message-id:");
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(body);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A field of /proc/self/status in kB (`VmRSS`, `VmHWM`).
pub fn status_kb(field: &str) -> u64 {
    proc_status_kb("self", field)
}

/// A field of /proc/PID/status in kB (0 when unreadable).
pub fn proc_status_kb(pid: &str, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The median of `values` (sorted copy); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The nearest-rank percentile `p` (0–100) of `values`; 0 for none.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The machine and build, for the record.
pub fn describe_machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cores} cores, profile {}",
        if cfg!(debug_assertions) {
            "debug (numbers are not representative: use `cargo bench`)"
        } else {
            "release"
        }
    )
}

/// Prints `label: p50 …, p90 …, p99 …, max …, min … (n = …)` of latencies in ms.
pub fn report(label: &str, ms: &[f64]) {
    println!(
        "{label}: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms, min {:.1} ms (n = {})",
        percentile(ms, 50.0),
        percentile(ms, 90.0),
        percentile(ms, 99.0),
        percentile(ms, 100.0),
        ms.iter().copied().fold(f64::INFINITY, f64::min),
        ms.len()
    );
}
