//! Tracking throughput and match latency against the real SQLite store
//! (issue 4).
//!
//! Not a test: `cargo bench --bench track_match` (or `scripts/bench.sh`).
//! Under `cargo test --all-targets` (no `--bench` argument) it only proves
//! that it builds.
//!
//! 1. **Tracking throughput**: messages registered per second through
//!    `Store::track`, in two shapes: batches of 1,000 (bulk import, as
//!    `rebound track --file`) and one message per call (a per-send API
//!    call). Every message has 1–3 recipients, a subject and metadata
//!    `{"campaign": ...}`. Baseline in the same run: plain sqlx INSERTs of the
//!    same rows (metadata serialised the same way) into the same tables
//!    (`migrations/sqlite/0002_tracking.sql`, same pragmas, same transaction
//!    per call), without the existence check, the upsert, the recipient
//!    replacement and the address normalisation. Each round uses fresh
//!    database files (opened before the clock starts); store and baseline
//!    interleaved; `REBOUND_BENCH_ROUNDS` (default 5) rounds after one
//!    warm-up round.
//! 2. **Match latency**: a store filled with `REBOUND_BENCH_TRACKED` (default
//!    1,000,000) tracked messages, in `track` batches of 10,000, over
//!    tracked/10 distinct addresses and 60 days (fill time recorded). The
//!    store is closed (WAL checkpointed; the file size is recorded) and
//!    opened again. Then, for `REBOUND_BENCH_FINDINGS` (default 3,000)
//!    synthetic notices analysed by `bounce::analyse` beforehand, the time per
//!    finding of what the service does: `matching::cited_ids`,
//!    `Store::tracked` over them, `matching::notice_time`, `Store::tracked_to`
//!    over the window (7 days before the notice, 5 minutes after) and
//!    `matching::match_recipient`. A third of the notices cite the tracked
//!    message in In-Reply-To/References, a third embed its headers, a third
//!    cite nothing (recipient window); one in ten is about an address and
//!    ids never tracked. Every decision is checked against the message the
//!    notice was built from. Two passes over all findings: the first right
//!    after reopening (SQLite's page cache empty, the OS cache warm), then
//!    again.
//!
//! `REBOUND_BENCH_PART=track|match` runs only one part.

#[path = "imap/common.rs"]
mod common;

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rebound::bounce::{self, Report, Verdict};
use rebound::matching::{self, CLOCK_SKEW_SECS, DEFAULT_WINDOW_SECS, Method, Settings};
use rebound::store::{SqliteStore, Store};
use rebound::time::{days_from_civil, days_in_month, is_leap};
use rebound::track::{TrackSource, TrackedMessage, TrackedRecipient};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqlitePool};

use common::{describe_machine, env_usize, median, percentile};

const ACCOUNT: &str = "acme";
const INBOX: &str = "sales";
/// Sends per distinct address in the filled store (primary recipients).
const SENDS_PER_ADDRESS: usize = 10;
/// Sends are spread over this many days.
const SPREAD_DAYS: i64 = 60;
/// Messages per `track` call while filling the store.
const FILL_BATCH: usize = 10_000;
/// Messages per `track` call in the bulk shape.
const BULK_BATCH: usize = 1_000;
/// The tracking schema, applied as is to the baseline's database.
const TRACKING_SQL: &str = include_str!("../migrations/sqlite/0002_tracking.sql");

fn main() -> ExitCode {
    common::bench_main("track_match", Some("scripts/bench.sh"), run)
}

async fn run() -> Result<(), String> {
    let rounds = env_usize("REBOUND_BENCH_ROUNDS", 5)?;
    let tracked = env_usize("REBOUND_BENCH_TRACKED", 1_000_000)?;
    let findings = env_usize("REBOUND_BENCH_FINDINGS", 3_000)?;
    let bulk_messages = env_usize("REBOUND_BENCH_BULK_MESSAGES", 20_000)?;
    let single_messages = env_usize("REBOUND_BENCH_SINGLE_MESSAGES", 2_000)?;
    let part = std::env::var("REBOUND_BENCH_PART").unwrap_or_default();
    println!("machine: {}; {}", describe_machine(), load());
    if part.is_empty() || part == "track" {
        throughput(rounds, bulk_messages, single_messages).await?;
        println!("{}", load());
    }
    if part.is_empty() || part == "match" {
        latency(tracked, findings).await?;
        println!("{}", load());
    }
    Ok(())
}

/// The load averages, for the record: other work on the machine shows in
/// the tails.
fn load() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    format!("load average (1, 5, 15 min) {}", fields.join(" "))
}

// ---------------------------------------------------------------------------
// Synthetic sent messages

/// Start of the 60 days of sends: 2026-10-01T00:00:00Z.
fn epoch() -> i64 {
    days_from_civil(2026, 10, 1) * 86_400
}

/// The shape of the synthetic mail: message `i` is a pure function of `i`
/// and the number of addresses, so that notices can be built for any
/// message without keeping a million of them in memory.
#[derive(Clone, Copy)]
struct Corpus {
    /// Distinct recipient addresses.
    addresses: usize,
}

impl Corpus {
    fn address(&self, a: usize) -> String {
        format!("contact{a}@customer{}.example", a % 9_973)
    }

    /// Message `i`: primary recipient `i % addresses` (so every address gets
    /// [`SENDS_PER_ADDRESS`] sends as the primary recipient), 60% one
    /// recipient, 30% two, 10% three (the extra ones at random, distinct), a
    /// random send time over [`SPREAD_DAYS`].
    fn message(&self, i: usize) -> TrackedMessage {
        let mut rng = fastrand::Rng::with_seed(0x7261_636b ^ (i as u64).wrapping_mul(0x9e37));
        let primary = i % self.addresses;
        let extra = match rng.u8(0..10) {
            0..=5 => 0,
            6..=8 => 1,
            _ => 2,
        };
        let mut picked = vec![primary];
        while picked.len() < 1 + extra.min(self.addresses - 1) {
            let a = rng.usize(0..self.addresses);
            if !picked.contains(&a) {
                picked.push(a);
            }
        }
        let recipients = picked
            .iter()
            .map(|&a| TrackedRecipient {
                address: self.address(a),
                contact_id: Some(format!("c{a}")),
            })
            .collect();
        TrackedMessage {
            account: ACCOUNT.into(),
            inbox: INBOX.into(),
            message_id: format!("{i:08x}.{:016x}@crm.rebound.test", rng.u64(..)),
            recipients,
            subject: Some(format!("Proposal {i} for customer{primary}, winter offer")),
            sent_at: epoch() + rng.i64(0..SPREAD_DAYS * 86_400),
            metadata: serde_json::json!({ "campaign": format!("winter-{}", i % 40) }),
            source: TrackSource::Cli,
        }
    }

    fn messages(&self, range: std::ops::Range<usize>) -> Vec<TrackedMessage> {
        range.map(|i| self.message(i)).collect()
    }
}

// ---------------------------------------------------------------------------
// Part 1: tracking throughput

async fn throughput(rounds: usize, bulk_n: usize, single_n: usize) -> Result<(), String> {
    let corpus = Corpus {
        addresses: (bulk_n / SENDS_PER_ADDRESS).max(1),
    };
    let bulk = corpus.messages(0..bulk_n);
    let single = corpus.messages(0..single_n);
    let recipients = |m: &[TrackedMessage]| m.iter().map(|m| m.recipients.len()).sum::<usize>();
    println!();
    println!(
        "== tracking throughput: bulk {bulk_n} messages ({} recipients) in track calls of \
         {BULK_BATCH}; single {single_n} messages ({} recipients), one per call; \
         1 warm-up + {rounds} rounds, fresh database files each",
        recipients(&bulk),
        recipients(&single)
    );
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let mut times: [Vec<Duration>; 4] = Default::default();
    for round in 0..=rounds {
        let shapes = [(&bulk, BULK_BATCH), (&single, 1)];
        for (s, (messages, batch)) in shapes.into_iter().enumerate() {
            let path = dir.path().join(format!("store-{round}-{s}.db"));
            let store = SqliteStore::open(&path)
                .await
                .map_err(|e| format!("open store: {e}"))?;
            let t = track_all(&store, messages, batch).await?;
            store.close().await;
            let path = dir.path().join(format!("baseline-{round}-{s}.db"));
            let pool = baseline_open(&path).await?;
            let b = baseline_insert(&pool, messages, batch).await?;
            pool.close().await;
            if round > 0 {
                times[2 * s].push(t);
                times[2 * s + 1].push(b);
            }
        }
    }
    println!(
        "{:<38} {:>12} {:>12} {:>12} {:>10}",
        "", "median/s", "slowest/s", "fastest/s", "µs/msg"
    );
    let labels = [
        "bulk: Store::track (1,000 per call)",
        "bulk: baseline plain INSERT",
        "single: Store::track (1 per call)",
        "single: baseline plain INSERT",
    ];
    let counts = [bulk_n, bulk_n, single_n, single_n];
    let mut medians = [0.0; 4];
    for k in 0..4 {
        medians[k] = rate_line(labels[k], &times[k], counts[k]);
    }
    println!(
        "ratio Store::track / baseline (median time per message): bulk {:.2}x, single {:.2}x",
        medians[1] / medians[0],
        medians[3] / medians[2]
    );
    Ok(())
}

/// Registers `messages` through the store in calls of `batch`; checks that
/// every one was new. Returns the time spent in `track`.
async fn track_all(
    store: &SqliteStore,
    messages: &[TrackedMessage],
    batch: usize,
) -> Result<Duration, String> {
    let start = Instant::now();
    let mut new = 0;
    for chunk in messages.chunks(batch) {
        new += store
            .track(chunk, epoch())
            .await
            .map_err(|e| format!("track: {e}"))?;
    }
    let elapsed = start.elapsed();
    if new != messages.len() {
        return Err(format!(
            "track reported {new} new messages of {}",
            messages.len()
        ));
    }
    Ok(elapsed)
}

/// A database with the store's pragmas and tracking tables, nothing else.
async fn baseline_open(path: &Path) -> Result<SqlitePool, String> {
    let options = store_options(path);
    let mut first = options
        .clone()
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await
        .map_err(|e| format!("baseline open: {e}"))?;
    sqlx::raw_sql(TRACKING_SQL)
        .execute(&mut first)
        .await
        .map_err(|e| format!("baseline schema: {e}"))?;
    first
        .close()
        .await
        .map_err(|e| format!("baseline close: {e}"))?;
    store_pool(options).await
}

/// The connection settings `SqliteStore::open` uses (src/store/sqlite.rs).
fn store_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .foreign_keys(true)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
}

/// A pool sized as the store's.
async fn store_pool(options: SqliteConnectOptions) -> Result<SqlitePool, String> {
    SqlitePoolOptions::new()
        .max_connections(rebound::store::sqlite::MAX_CONNECTIONS)
        .connect_with(options)
        .await
        .map_err(|e| format!("pool: {e}"))
}

/// The same rows by plain INSERTs, one `BEGIN IMMEDIATE` transaction per
/// `batch` messages; checks the row count afterwards (outside the timing).
async fn baseline_insert(
    pool: &SqlitePool,
    messages: &[TrackedMessage],
    batch: usize,
) -> Result<Duration, String> {
    let err = |e: sqlx::Error| format!("baseline insert: {e}");
    let start = Instant::now();
    for chunk in messages.chunks(batch) {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        for m in chunk {
            let metadata = serde_json::to_string(&m.metadata).map_err(|e| e.to_string())?;
            sqlx::query(
                "INSERT INTO tracked_messages \
                 (account, message_id, inbox, subject, sent_at, metadata, source, created_at, \
                  updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(&m.account)
            .bind(&m.message_id)
            .bind(&m.inbox)
            .bind(m.subject.as_deref())
            .bind(m.sent_at)
            .bind(metadata)
            .bind(m.source.as_str())
            .bind(epoch())
            .execute(&mut *tx)
            .await
            .map_err(err)?;
            for r in &m.recipients {
                sqlx::query(
                    "INSERT INTO tracked_recipients \
                     (account, message_id, address, contact_id, sent_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&m.account)
                .bind(&m.message_id)
                .bind(&r.address)
                .bind(r.contact_id.as_deref())
                .bind(m.sent_at)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            }
        }
        tx.commit().await.map_err(err)?;
    }
    let elapsed = start.elapsed();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM tracked_messages")
        .fetch_one(pool)
        .await
        .map_err(err)?;
    if usize::try_from(rows).ok() != Some(messages.len()) {
        return Err(format!(
            "baseline holds {rows} messages of {}",
            messages.len()
        ));
    }
    Ok(elapsed)
}

/// Prints one line (median, slowest and fastest round as messages/s, median
/// µs per message); returns the median rate.
fn rate_line(label: &str, times: &[Duration], n: usize) -> f64 {
    let secs: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
    let med = median(&secs);
    let slowest = secs.iter().copied().fold(0.0, f64::max);
    let fastest = secs.iter().copied().fold(f64::INFINITY, f64::min);
    let rate = n as f64 / med;
    println!(
        "{label:<38} {rate:>12.0} {:>12.0} {:>12.0} {:>10.1}",
        n as f64 / slowest,
        n as f64 / fastest,
        med * 1e6 / n as f64
    );
    rate
}

// ---------------------------------------------------------------------------
// Part 2: match latency over a filled store

/// How a synthetic notice points at what was sent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cites {
    /// In-Reply-To / References name the message.
    Reply,
    /// Its headers are embedded (text/rfc822-headers).
    Embedded,
    /// Nothing: only the address, the time and the subject.
    Nothing,
}

/// One analysed notice and what it must match.
struct Finding {
    report: Report,
    /// The tracked message it was built from; `None` for an address and
    /// ids never tracked.
    expected: Option<String>,
    method: Method,
}

async fn latency(tracked: usize, n_findings: usize) -> Result<(), String> {
    let corpus = Corpus {
        addresses: (tracked / SENDS_PER_ADDRESS).max(1),
    };
    println!();
    println!(
        "== match latency: {tracked} tracked messages over {} addresses and {SPREAD_DAYS} days \
         (track calls of {FILL_BATCH}); {n_findings} findings",
        corpus.addresses
    );
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let path = dir.path().join("filled.db");
    let store = SqliteStore::open(&path)
        .await
        .map_err(|e| format!("open store: {e}"))?;

    let wall = Instant::now();
    let mut in_track = Duration::ZERO;
    let mut recipients = 0usize;
    let mut next_report = 100_000;
    let mut done = 0;
    while done < tracked {
        let end = (done + FILL_BATCH).min(tracked);
        let batch = corpus.messages(done..end);
        recipients += batch.iter().map(|m| m.recipients.len()).sum::<usize>();
        let t = Instant::now();
        let new = store
            .track(&batch, epoch())
            .await
            .map_err(|e| format!("fill: {e}"))?;
        in_track += t.elapsed();
        if new != batch.len() {
            return Err(format!("fill: {new} new of {}", batch.len()));
        }
        done = end;
        if done >= next_report || done == tracked {
            println!(
                "  filled {done:>9} in {:>6.1} s ({:.0} msg/s)",
                wall.elapsed().as_secs_f64(),
                done as f64 / wall.elapsed().as_secs_f64()
            );
            next_report += 100_000;
        }
    }
    let fill_wall = wall.elapsed();
    store.close().await;
    let size = file_size(&path);
    println!(
        "fill: {tracked} messages, {recipients} recipient rows ({:.1} per address) in {:.1} s \
         wall ({:.0} msg/s; {:.1} s inside track)",
        recipients as f64 / corpus.addresses as f64,
        fill_wall.as_secs_f64(),
        tracked as f64 / fill_wall.as_secs_f64(),
        in_track.as_secs_f64()
    );
    println!(
        "database after close: {:.1} MiB ({:.0} bytes per tracked message)",
        size as f64 / 1_048_576.0,
        size as f64 / tracked as f64
    );

    let findings = build_findings(&corpus, tracked, n_findings)?;
    let store = SqliteStore::open(&path)
        .await
        .map_err(|e| format!("reopen store: {e}"))?;
    let settings = Settings::default();
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "per finding (µs)", "p50", "p90", "p99", "max", "mean"
    );
    for pass in ["first pass after reopening", "second pass"] {
        let mut total = Vec::with_capacity(findings.len());
        let mut by_id = Vec::with_capacity(findings.len());
        let mut window = Vec::with_capacity(findings.len());
        let mut decide = Vec::with_capacity(findings.len());
        let mut methods = [0usize; 4];
        for (k, f) in findings.iter().enumerate() {
            let timing = one_finding(&store, f, &settings)
                .await
                .map_err(|e| format!("finding {k}: {e}"))?;
            total.push(timing.total);
            by_id.push(timing.by_id);
            window.push(timing.window);
            decide.push(timing.decide);
            methods[timing.method as usize] += 1;
        }
        println!("{pass}:");
        latency_line("  total (lookups + decision)", &total);
        latency_line("  Store::tracked (cited ids)", &by_id);
        latency_line("  Store::tracked_to (window)", &window);
        latency_line("  match_recipient", &decide);
        println!(
            "  decisions: {} reply_headers, {} embedded_original, {} recipient_window, \
             {} unmatched (all as expected)",
            methods[Method::ReplyHeaders as usize],
            methods[Method::EmbeddedOriginal as usize],
            methods[Method::RecipientWindow as usize],
            methods[Method::Unmatched as usize]
        );
    }
    store.close().await;
    round_trip_floor(&path, findings.len()).await?;
    println!(
        "peak RSS (VmHWM): {:.1} MiB",
        common::status_kb("VmHWM") as f64 / 1024.0
    );
    Ok(())
}

/// For information: a finding's round trips with no work in them. A
/// finding is two read transactions (`tracked`, `tracked_to`) and five
/// statements (`tracked_to` finds the ids, then each loads messages and
/// recipients); here the same shape with `SELECT 1`, through a pool with the
/// store's settings on the same file.
async fn round_trip_floor(path: &Path, n: usize) -> Result<(), String> {
    let err = |e: sqlx::Error| format!("floor: {e}");
    let pool = store_pool(store_options(path)).await?;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        for statements in [2, 3] {
            let mut tx = pool.begin().await.map_err(err)?;
            for _ in 0..statements {
                let one: i64 = sqlx::query_scalar("SELECT 1")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(err)?;
                std::hint::black_box(one);
            }
            tx.commit().await.map_err(err)?;
        }
        times.push(start.elapsed().as_secs_f64() * 1e6);
    }
    pool.close().await;
    latency_line("(info) same round trips, SELECT 1", &times);
    Ok(())
}

/// Microsecond timings of one finding, and its decision.
struct Timing {
    total: f64,
    by_id: f64,
    window: f64,
    decide: f64,
    method: Method,
}

/// What the service does for one failed recipient, timed; the decision is
/// checked against the notice's origin.
async fn one_finding(
    store: &SqliteStore,
    f: &Finding,
    settings: &Settings,
) -> Result<Timing, String> {
    let recipient = f
        .report
        .recipients
        .first()
        .ok_or("a notice without a recipient")?;
    let start = Instant::now();
    let (reply, embedded) = matching::cited_ids(&f.report);
    let ids: Vec<String> = reply.into_iter().chain(embedded).collect();
    let by_id = store
        .tracked(ACCOUNT, &ids)
        .await
        .map_err(|e| format!("tracked: {e}"))?;
    let t_by_id = start.elapsed();
    let notice = matching::notice_time(None, &f.report).ok_or("a notice without a date")?;
    let by_recipient = store
        .tracked_to(
            ACCOUNT,
            &recipient.address,
            notice - settings.window_secs,
            notice + CLOCK_SKEW_SECS,
        )
        .await
        .map_err(|e| format!("tracked_to: {e}"))?;
    let t_window = start.elapsed();
    let decision = matching::match_recipient(
        &f.report,
        recipient,
        notice,
        &by_id,
        &by_recipient,
        settings,
    );
    let total = start.elapsed();
    let got = decision.message.as_ref().map(|m| m.message_id.as_str());
    if decision.method != f.method || got != f.expected.as_deref() {
        return Err(format!(
            "expected {:?} {:?}, got {:?} {got:?}",
            f.method, f.expected, decision.method
        ));
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    Ok(Timing {
        total: us(total),
        by_id: us(t_by_id),
        window: us(t_window - t_by_id),
        decide: us(total - t_window),
        method: decision.method,
    })
}

fn latency_line(label: &str, values: &[f64]) {
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    println!(
        "{label:<34} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0}",
        percentile(values, 50.0),
        percentile(values, 90.0),
        percentile(values, 99.0),
        values.iter().copied().fold(0.0, f64::max),
        mean
    );
}

/// The notices, analysed, each checked to carry what it was built with.
fn build_findings(corpus: &Corpus, tracked: usize, n: usize) -> Result<Vec<Finding>, String> {
    let mut rng = fastrand::Rng::with_seed(4);
    let mut out = Vec::with_capacity(n);
    let mut analyse_time = Duration::ZERO;
    let mut bytes = 0usize;
    for k in 0..n {
        let cites = match k % 3 {
            0 => Cites::Reply,
            1 => Cites::Embedded,
            _ => Cites::Nothing,
        };
        let unknown = k % 10 == 9;
        let target = corpus.message(rng.usize(0..tracked));
        let delay = rng.i64(60..6 * 86_400);
        let notice_at = target.sent_at + delay;
        let (address, id, subject, expected, method) = if unknown {
            (
                format!("nobody{k}@elsewhere.example"),
                format!("never-tracked-{k}@crm.rebound.test"),
                format!("Proposal to someone else {k}"),
                None,
                Method::Unmatched,
            )
        } else {
            let r = rng.usize(0..target.recipients.len());
            let method = match cites {
                Cites::Reply => Method::ReplyHeaders,
                Cites::Embedded => Method::EmbeddedOriginal,
                Cites::Nothing => Method::RecipientWindow,
            };
            (
                target.recipients[r].address.clone(),
                target.message_id.clone(),
                target.subject.clone().unwrap_or_default(),
                Some(target.message_id.clone()),
                method,
            )
        };
        let raw = notice(k, cites, &address, &id, &subject, notice_at);
        bytes += raw.len();
        let t = Instant::now();
        let report = bounce::analyse(&raw);
        analyse_time += t.elapsed();
        check_notice(&report, cites, &address, &id, notice_at)
            .map_err(|e| format!("synthetic notice {k} ({cites:?}): {e}"))?;
        out.push(Finding {
            report,
            expected,
            method,
        });
    }
    println!(
        "findings: {n} synthetic notices ({} B on average), analysed beforehand in {:.1} µs each \
         (not part of the latency below); window {} days",
        bytes / n.max(1),
        analyse_time.as_secs_f64() * 1e6 / n.max(1) as f64,
        DEFAULT_WINDOW_SECS / 86_400
    );
    Ok(out)
}

/// The analysis of a synthetic notice shows what it was built with.
fn check_notice(
    report: &Report,
    cites: Cites,
    address: &str,
    id: &str,
    notice_at: i64,
) -> Result<(), String> {
    if report.verdict != Verdict::Bounce {
        return Err(format!("verdict {:?}", report.verdict));
    }
    match report.recipients.as_slice() {
        [r] if r.address == address => {}
        other => return Err(format!("recipients {other:?}")),
    }
    let (reply, embedded) = matching::cited_ids(report);
    let ok = match cites {
        // With no original part, the analysis also takes In-Reply-To as the
        // original's Message-ID.
        Cites::Reply => {
            reply.first().map(String::as_str) == Some(id) && embedded.iter().all(|e| e == id)
        }
        Cites::Embedded => reply.is_empty() && embedded == [id],
        Cites::Nothing => reply.is_empty() && embedded.is_empty(),
    };
    if !ok {
        return Err(format!("cited ids {reply:?} / {embedded:?}"));
    }
    if matching::notice_time(None, report) != Some(notice_at) {
        return Err(format!("date {:?}", report.message.date));
    }
    Ok(())
}

/// A small RFC 3464 delivery status notification (RFC 3462 multipart/report)
/// about `address`. `Reply`: the notice's In-Reply-To and References cite
/// `id`; `Embedded`: the original's headers with `id` follow as
/// text/rfc822-headers; `Nothing`: no ids, the original subject only in the
/// notice's Subject ("Undeliverable: ...", as gateways write them).
fn notice(k: usize, cites: Cites, address: &str, id: &str, subject: &str, at: i64) -> Vec<u8> {
    let date = rfc5322_date(at);
    let boundary = format!("bnd.{k}.rebound");
    let mut m = String::with_capacity(1500);
    m.push_str(&format!(
        "Return-Path: <>\r\nDate: {date}\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx{}.example>\r\n",
        k % 7
    ));
    match cites {
        Cites::Nothing => m.push_str(&format!("Subject: Undeliverable: {subject}\r\n")),
        _ => m.push_str("Subject: Undelivered Mail Returned to Sender\r\n"),
    }
    m.push_str(&format!(
        "To: sales@vendor.example\r\nMessage-ID: <ndr.{k}@mx.example>\r\n"
    ));
    if cites == Cites::Reply {
        m.push_str(&format!(
            "In-Reply-To: <{id}>\r\nReferences: <thread-start.{k}@crm.rebound.test> <{id}>\r\n"
        ));
    }
    m.push_str(&format!(
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\
         \r\n--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         Your message could not be delivered to one or more recipients.\r\n\r\n\
         <{address}>: host mx.customer.example said: 550 5.1.1 User unknown\r\n\r\n\
         --{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; mx.vendor.example\r\nArrival-Date: {date}\r\n\r\n\
         Final-Recipient: rfc822; {address}\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Remote-MTA: dns; mx.customer.example\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 <{address}>: Recipient address rejected: User unknown\r\n\r\n"
    ));
    if cites == Cites::Embedded {
        m.push_str(&format!(
            "--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n\
             From: Alice Martin <sales@vendor.example>\r\nTo: <{address}>\r\n\
             Subject: {subject}\r\nMessage-ID: <{id}>\r\n\r\n"
        ));
    }
    m.push_str(&format!("--{boundary}--\r\n"));
    m.into_bytes()
}

/// `D Mon YYYY HH:MM:SS +0000` (RFC 5322 §3.3) of Unix seconds after 1970.
fn rfc5322_date(t: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (mut day, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let mut year = 1970;
    while day >= if is_leap(year) { 366 } else { 365 } {
        day -= if is_leap(year) { 366 } else { 365 };
        year += 1;
    }
    let mut month = 1;
    while day >= days_in_month(year, month) {
        day -= days_in_month(year, month);
        month += 1;
    }
    format!(
        "{} {} {year} {:02}:{:02}:{:02} +0000",
        day + 1,
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The database file plus its WAL, in bytes.
fn file_size(path: &Path) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    size(path) + size(Path::new(&wal))
}
