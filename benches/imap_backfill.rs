//! Backfill of a 10,000-message INBOX against a minimal header-only client.
//!
//! Not a test: `cargo bench --bench imap_backfill` (or `scripts/bench-imap.sh`).
//!
//! Starts a local Dovecot (tests/support), fills alice's INBOX with
//! `REBOUND_BENCH_MESSAGES` (default 10,000) messages over MULTIAPPEND: 1%
//! bounce notices (the bounce fixtures of tests/fixtures/{dsn,prose}, in
//! turn, each with its own Message-ID) spread evenly among realistic
//! ordinary mail (varied headers, a few Received lines, text or
//! multipart/alternative bodies of 2–20 KB, one in ten with an attachment).
//! Then, over implicit TLS, one warm-up and `REBOUND_BENCH_ROUNDS` (default
//! 5) rounds of, interleaved:
//!
//! - **baseline**: async-imap + tokio-rustls directly: connect, LOGIN,
//!   EXAMINE INBOX, UID SEARCH ALL, `UID FETCH a:b (UID BODY.PEEK[HEADER])`
//!   in batches of 500 UIDs, LOGOUT. What any header-reading client pays.
//! - **rebound**: a fresh SQLite store, the inbox task in `--once` mode with a
//!   3650-day backfill and a channel sink: UID SEARCH SINCE, heads with
//!   BODYSTRUCTURE, pre-filter, whole bodies of candidates, analysis, one
//!   store transaction per 500 UIDs.
//!
//! For the breakdown (information only), each round also times the baseline
//! client with rebound's step-1 fetch items, and rebound's IMAP layer alone
//! (`Session::fetch_heads` over every UID, no pre-filter, analysis or store).
//!
//! `REBOUND_BENCH_PROFILE=rebound` runs only the rebound side, for a profiler.
//!
//! Reports median seconds of each, rebound/baseline (target ≤ 1.5×),
//! messages/s, bodies fetched whole, and findings (expects one per bounce).

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "imap/common.rs"]
mod common;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rebound::config::ImapSettings;
use rebound::sink::Sink;
use rebound::store::SqliteStore;
use rebound::sync::Mode;
use support::dovecot::{Dovecot, DovecotOptions};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_util::sync::CancellationToken;

const USER: &str = "alice";

fn main() -> ExitCode {
    common::bench_main("imap_backfill", Some("scripts/bench-imap.sh"), run)
}

async fn run() -> Result<(), String> {
    let rounds = common::env_usize("REBOUND_BENCH_ROUNDS", 5)?;
    let total = common::env_usize("REBOUND_BENCH_MESSAGES", 10_000)?;
    let bounces = common::bounce_fixtures();
    if bounces.is_empty() {
        return Err("no bounce fixtures under tests/fixtures/{dsn,prose}".into());
    }
    println!("machine: {}", common::describe_machine());
    let server = Dovecot::start(DovecotOptions::default()).await;

    let started = Instant::now();
    let (messages, notices) = mailbox(total, &bounces);
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let uids = server.append_many(USER, "INBOX", messages).await;
    println!(
        "INBOX: {} messages ({notices} bounce notices from {} fixtures), {:.1} MiB, \
         appended in {:.1} s",
        uids.len(),
        bounces.len(),
        bytes as f64 / 1_048_576.0,
        started.elapsed().as_secs_f64()
    );

    let settings = common::inbox_only(server.imap_settings(USER));
    if std::env::var("REBOUND_BENCH_PROFILE").is_ok_and(|v| v == "rebound") {
        // For a profiler: the rebound side alone, `rounds` times.
        for round in 1..=rounds {
            let reb = rebound_round(&settings).await?;
            println!("rebound round {round}: {:.3} s", reb.seconds);
        }
        return Ok(());
    }
    let mut base_times = Vec::new();
    let mut rebound_times = Vec::new();
    let mut step1_times = Vec::new();
    let mut layer_times = Vec::new();
    let mut heads = Vec::new();
    let mut last = None;
    // Round 0 is the warm-up: Dovecot builds its index cache (headers,
    // BODYSTRUCTURE) on first access; the page cache fills.
    for round in 0..=rounds {
        let base = baseline(&server, &settings).await?;
        let reb = rebound_round(&settings).await?;
        let step1 = baseline_step1(&server, &settings).await?;
        let (layer, fetched) = session_layer(&settings).await?;
        heads = fetched;
        let label = if round == 0 {
            "warm-up".to_string()
        } else {
            format!("round {round}")
        };
        println!(
            "{label:>8}: baseline {:.3} s ({} headers, {:.1} MiB) | rebound {:.3} s \
             ({} envelopes, {} candidates, {} findings)",
            base.seconds,
            base.headers,
            base.header_bytes as f64 / 1_048_576.0,
            reb.seconds,
            reb.envelopes,
            reb.candidates,
            reb.findings
        );
        if base.headers != uids.len() {
            return Err(format!(
                "the baseline read {} headers, expected {}",
                base.headers,
                uids.len()
            ));
        }
        println!(
            "{:>8}  (info) baseline with rebound's step-1 items {:.3} s | rebound's IMAP layer \
             alone {layer:.3} s",
            "", step1.seconds
        );
        if round > 0 {
            base_times.push(base.seconds);
            rebound_times.push(reb.seconds);
            step1_times.push(step1.seconds);
            layer_times.push(layer);
        }
        last = Some(reb);
    }
    let Some(reb) = last else {
        return Err("no round ran".into());
    };
    let b = common::median(&base_times);
    let r = common::median(&rebound_times);
    let n = uids.len() as f64;
    println!();
    println!(
        "messages: {}, rounds: {rounds} (after one warm-up)",
        uids.len()
    );
    println!(
        "baseline (UID FETCH BODY.PEEK[HEADER], 500/batch): median {b:.3} s, {:.0} msg/s \
         (min {:.3}, max {:.3})",
        n / b,
        min(&base_times),
        max(&base_times)
    );
    println!(
        "rebound (inbox task, --once, backfill 3650 d):      median {r:.3} s, {:.0} msg/s \
         (min {:.3}, max {:.3})",
        n / r,
        min(&rebound_times),
        max(&rebound_times)
    );
    let s1 = common::median(&step1_times);
    let layer = common::median(&layer_times);
    println!(
        "breakdown (medians): baseline {b:.3} s -> + INTERNALDATE RFC822.SIZE BODYSTRUCTURE \
         (same client) {s1:.3} s -> rebound's IMAP layer (Session::fetch_heads) {layer:.3} s \
         -> whole inbox task {r:.3} s"
    );
    let (prefilter, candidates) = prefilter_time(&heads);
    println!(
        "pre-filter alone (bounce::prefilter::inspect on the fetched heads, one thread, best \
         of 3): {:.1} ms for {} heads, {:.1} us each ({candidates} candidates)",
        prefilter * 1000.0,
        heads.len(),
        prefilter * 1e6 / heads.len().max(1) as f64
    );
    let ratio = r / b;
    println!(
        "ratio rebound/baseline: {ratio:.2}x (target <= 1.5x: {})",
        if ratio <= 1.5 { "met" } else { "MISSED" }
    );
    println!(
        "rebound fetched {} bodies whole (sum of InboxOutcome.candidates); \
         {} findings ({} bounces), {} envelopes",
        reb.candidates, reb.findings, reb.bounces, reb.envelopes
    );
    if reb.bounces != notices {
        println!(
            "NOTE: expected {notices} bounces, found {}: missed fixtures: {:?}",
            reb.bounces, reb.missed
        );
    }
    if reb.envelopes != uids.len() {
        println!(
            "NOTE: {} envelopes for {} messages",
            reb.envelopes,
            uids.len()
        );
    }
    println!(
        "peak RSS (VmHWM): {} MiB",
        common::status_kb("VmHWM") / 1024
    );
    Ok(())
}

/// Best of 3 passes of the pre-filter over `heads`, and its candidate count.
fn prefilter_time(heads: &[rebound::imap::Head]) -> (f64, usize) {
    let mut best = f64::INFINITY;
    let mut candidates = 0;
    for _ in 0..3 {
        let started = Instant::now();
        candidates = heads
            .iter()
            .filter(|h| {
                rebound::bounce::prefilter::inspect(
                    &h.header,
                    h.content_types.iter().map(String::as_str),
                )
                .candidate
            })
            .count();
        best = best.min(started.elapsed().as_secs_f64());
    }
    (best, candidates)
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

struct Baseline {
    seconds: f64,
    headers: usize,
    header_bytes: usize,
}

/// The minimal client: connect over implicit TLS, LOGIN, EXAMINE, headers
/// in batches of 500 UIDs, LOGOUT. Nothing is parsed beyond async-imap's
/// response parser.
async fn baseline(server: &Dovecot, settings: &ImapSettings) -> Result<Baseline, String> {
    header_client(server, settings, "(UID BODY.PEEK[HEADER])").await
}

/// The minimal client with rebound's step-1 fetch items (for the breakdown).
async fn baseline_step1(server: &Dovecot, settings: &ImapSettings) -> Result<Baseline, String> {
    header_client(
        server,
        settings,
        "(UID INTERNALDATE RFC822.SIZE BODYSTRUCTURE BODY.PEEK[HEADER])",
    )
    .await
}

async fn header_client(
    server: &Dovecot,
    settings: &ImapSettings,
    items: &str,
) -> Result<Baseline, String> {
    let tls = tls_config(server)?;
    let started = Instant::now();
    let tcp = tokio::net::TcpStream::connect((settings.host.as_str(), settings.port))
        .await
        .map_err(|e| format!("baseline connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let stream = TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("baseline TLS: {e}"))?;
    let mut client = async_imap::Client::new(stream);
    client
        .read_response()
        .await
        .map_err(|e| format!("baseline greeting: {e}"))?
        .ok_or("baseline: no greeting")?;
    let mut session = client
        .login(USER, server.password(USER))
        .await
        .map_err(|(e, _)| format!("baseline login: {e}"))?;
    session
        .examine("INBOX")
        .await
        .map_err(|e| format!("baseline EXAMINE: {e}"))?;
    let mut uids: Vec<u32> = session
        .uid_search("ALL")
        .await
        .map_err(|e| format!("baseline UID SEARCH: {e}"))?
        .into_iter()
        .collect();
    uids.sort_unstable();
    let mut headers = 0;
    let mut header_bytes = 0;
    for chunk in uids.chunks(500) {
        let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else {
            continue;
        };
        let mut fetches = session
            .uid_fetch(format!("{first}:{last}"), items)
            .await
            .map_err(|e| format!("baseline UID FETCH: {e}"))?;
        while let Some(fetch) = fetches.next().await {
            let fetch = fetch.map_err(|e| format!("baseline FETCH response: {e}"))?;
            if let Some(h) = fetch.header() {
                headers += 1;
                header_bytes += h.len();
            }
        }
    }
    session
        .logout()
        .await
        .map_err(|e| format!("baseline LOGOUT: {e}"))?;
    Ok(Baseline {
        seconds: started.elapsed().as_secs_f64(),
        headers,
        header_bytes,
    })
}

/// rebound's IMAP layer alone: `Session::connect`, EXAMINE, UID SEARCH
/// SINCE, `fetch_heads` per 500 UIDs (BODYSTRUCTURE walked into content
/// types), LOGOUT; no pre-filter, bodies, analysis or store.
async fn session_layer(settings: &ImapSettings) -> Result<(f64, Vec<rebound::imap::Head>), String> {
    let credentials = rebound::imap::password_credentials(settings).ok_or("no password")?;
    let started = Instant::now();
    let mut session = rebound::imap::Session::connect(settings, &credentials)
        .await
        .map_err(|e| format!("session connect: {e}"))?;
    session
        .examine("INBOX")
        .await
        .map_err(|e| format!("session EXAMINE: {e}"))?;
    let since = rebound::sync::unix_now() - 3650 * 86_400;
    let uids = session
        .uids_since(since)
        .await
        .map_err(|e| format!("session UID SEARCH: {e}"))?;
    let mut heads = Vec::with_capacity(uids.len());
    for chunk in uids.chunks(500) {
        heads.extend(
            session
                .fetch_heads(chunk)
                .await
                .map_err(|e| format!("session fetch_heads: {e}"))?,
        );
    }
    session.logout().await;
    let seconds = started.elapsed().as_secs_f64();
    if heads.len() != uids.len() {
        return Err(format!(
            "session layer: {} heads for {} UIDs",
            heads.len(),
            uids.len()
        ));
    }
    Ok((seconds, heads))
}

fn tls_config(server: &Dovecot) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(server.ca_pem_path()).map_err(|e| e.to_string())? {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

struct Rebound {
    seconds: f64,
    envelopes: usize,
    candidates: usize,
    findings: usize,
    bounces: usize,
    missed: Vec<String>,
}

/// One `--once` backfill into a fresh store.
async fn rebound_round(settings: &ImapSettings) -> Result<Rebound, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let db = dir.path().join("state.db");
    let store = Arc::new(
        SqliteStore::open(&db)
            .await
            .map_err(|e| format!("open the store: {e}"))?,
    );
    let config = Arc::new(common::config(
        &db,
        common::default_sync(),
        vec![common::inbox("bench", settings.clone())],
    ));
    let (sink, mut rx) = Sink::channel();
    let mode = Mode {
        once: true,
        backfill: Some(Duration::from_secs(3650 * 86_400)),
        progress: false,
    };
    let stop = CancellationToken::new();
    let collector = tokio::spawn(async move {
        let mut envelopes = 0;
        let mut findings = Vec::new();
        while let Some(batch) = rx.recv().await {
            envelopes += batch.envelopes.len();
            findings.extend(batch.findings);
        }
        (envelopes, findings)
    });
    let started = Instant::now();
    let tasks = common::spawn_inboxes(config, store.clone(), sink, mode, &stop);
    let outcomes = common::join_all(tasks).await;
    let seconds = started.elapsed().as_secs_f64();
    let (envelopes, findings) = collector.await.map_err(|e| e.to_string())?;
    store.close().await;
    for o in &outcomes {
        if let Some(err) = &o.error {
            return Err(format!("rebound inbox {} failed: {err}", o.inbox));
        }
    }
    let bounces = findings
        .iter()
        .filter(|f| f.report.verdict == rebound::bounce::Verdict::Bounce)
        .count();
    // Message-IDs are `bounce-N-<fixture>@bench.example`.
    let found: std::collections::HashSet<String> = findings
        .iter()
        .filter(|f| f.report.verdict == rebound::bounce::Verdict::Bounce)
        .filter_map(|f| f.envelope.message_id.clone())
        .filter_map(|id| id.split('-').nth(2).map(|s| s.to_string()))
        .collect();
    let mut missed: Vec<String> = common::bounce_fixtures()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !found.iter().any(|f| f.starts_with(name.as_str())))
        .collect();
    missed.dedup();
    Ok(Rebound {
        seconds,
        envelopes,
        candidates: outcomes.iter().map(|o| o.candidates).sum(),
        findings: findings.len(),
        bounces,
        missed,
    })
}

/// `total` messages, one in a hundred a bounce notice; returns them and the
/// number of notices.
fn mailbox(total: usize, bounces: &[(String, Vec<u8>)]) -> (Vec<Vec<u8>>, usize) {
    let mut rng = fastrand::Rng::with_seed(0x5EED3);
    let mut out = Vec::with_capacity(total);
    let mut notices = 0;
    for i in 0..total {
        if i % 100 == 50
            && let Some((name, raw)) = bounces.get(notices % bounces.len())
        {
            let id = format!("bounce-{notices}-{name}@bench.example");
            out.push(common::with_message_id(raw, &id));
            notices += 1;
            continue;
        }
        out.push(ordinary(&mut rng, i));
    }
    (out, notices)
}

const FIRST: &[&str] = &[
    "Anna", "Ben", "Chloé", "David", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kasia",
    "Liam", "Maya", "Nils", "Olga", "Pedro", "Rosa", "Sven", "Tara", "Yusuf",
];
const LAST: &[&str] = &[
    "Müller", "Smith", "García", "Rossi", "Novak", "Dubois", "Jensen", "Silva", "Kowalski",
    "Tanaka", "Okafor", "Larsen", "Moreau", "Schmidt", "Kaur",
];
const DOMAINS: &[&str] = &[
    "example.org",
    "example.net",
    "customer.example",
    "partner.example.co.uk",
    "mail.example.de",
    "corp.example.fr",
];
const TOPICS: &[&str] = &[
    "Quote for the Q3 order",
    "Re: Meeting next Tuesday",
    "Invoice 2026-0412",
    "Re: Re: Proposal feedback",
    "Product demo follow-up",
    "Fwd: Contract draft v3",
    "Question about pricing tiers",
    "Your webinar registration",
    "Re: Shipping delay for PO 7781",
    "Newsletter: what is new in November",
    "Lunch on Friday?",
    "Support ticket #48213 updated",
];
const WORDS: &[&str] = &[
    "the",
    "proposal",
    "we",
    "discussed",
    "yesterday",
    "looks",
    "good",
    "and",
    "our",
    "team",
    "would",
    "like",
    "to",
    "move",
    "forward",
    "with",
    "pricing",
    "for",
    "next",
    "quarter",
    "please",
    "send",
    "updated",
    "contract",
    "delivery",
    "schedule",
    "thanks",
    "again",
    "meeting",
    "customer",
    "support",
    "order",
    "invoice",
    "regards",
    "attached",
    "details",
    "project",
    "timeline",
    "budget",
    "approval",
    "review",
    "feedback",
    "questions",
    "call",
    "tomorrow",
];

fn pick<'a>(rng: &mut fastrand::Rng, list: &[&'a str]) -> &'a str {
    list.get(rng.usize(..list.len())).copied().unwrap_or("x")
}

fn paragraph_text(rng: &mut fastrand::Rng, bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 80);
    let mut line = 0;
    while text.len() < bytes {
        let word = pick(rng, WORDS);
        text.push_str(word);
        line += word.len() + 1;
        if line > 70 {
            text.push_str("\r\n");
            line = 0;
            if rng.u8(..8) == 0 {
                text.push_str("\r\n");
            }
        } else {
            text.push(' ');
        }
    }
    text.push_str("\r\n");
    text
}

/// One ordinary message: 2–20 KB of body, text/plain or
/// multipart/alternative, one in ten inside multipart/mixed with a PDF.
fn ordinary(rng: &mut fastrand::Rng, i: usize) -> Vec<u8> {
    use base64::Engine;
    let first = pick(rng, FIRST);
    let last = pick(rng, LAST);
    let domain = pick(rng, DOMAINS);
    let from = format!("{}.{}@{domain}", first.to_lowercase(), last.to_lowercase());
    // Spread over the past 300 days.
    let when = 1_796_000_000 - rng.i64(0..300 * 86_400);
    let date = rfc5322_date(when);
    let hop = rng.u8(1..250);
    let mut m = String::new();
    m.push_str(&format!("Return-Path: <{from}>\r\n"));
    m.push_str(&format!(
        "Received: from mx{}.{domain} (mx{}.{domain} [198.51.100.{hop}])\r\n\
         \tby mail.example.com (Postfix) with ESMTPS id {:X}\r\n\
         \tfor <sales@example.com>; {date}\r\n",
        hop % 4,
        hop % 4,
        rng.u64(..)
    ));
    m.push_str(&format!(
        "Received: from [10.0.{}.{}] (unknown [10.0.0.{hop}])\r\n\tby mx{}.{domain} (Postfix) \
         with ESMTPSA id {:X}; {date}\r\n",
        rng.u8(..),
        rng.u8(..),
        hop % 4,
        rng.u32(..)
    ));
    if rng.bool() {
        m.push_str(&format!(
            "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s1;\r\n\
             \th=from:to:subject:date:message-id; bh={};\r\n\tb={}\r\n",
            base64::engine::general_purpose::STANDARD.encode(rng.u64(..).to_be_bytes()),
            base64::engine::general_purpose::STANDARD.encode([rng.u8(..); 96])
        ));
    }
    m.push_str(&format!("Date: {date}\r\n"));
    m.push_str(&format!("From: \"{first} {last}\" <{from}>\r\n"));
    m.push_str("To: Sales <sales@example.com>\r\n");
    if rng.u8(..4) == 0 {
        m.push_str(&format!(
            "Cc: {}@{domain}\r\n",
            pick(rng, FIRST).to_lowercase()
        ));
    }
    m.push_str(&format!("Subject: {}\r\n", pick(rng, TOPICS)));
    m.push_str(&format!("Message-ID: <{i}.{:x}@{domain}>\r\n", rng.u64(..)));
    if rng.u8(..3) == 0 {
        let parent = format!("<{:x}@example.com>", rng.u64(..));
        m.push_str(&format!(
            "In-Reply-To: {parent}\r\nReferences: {parent}\r\n"
        ));
    }
    m.push_str("MIME-Version: 1.0\r\n");
    let body_len = rng.usize(2_000..20_000);
    let text = paragraph_text(rng, body_len);
    let attach = rng.u8(..10) == 0;
    let alt = rng.bool();
    let alternative = |m: &mut String, text: &str| {
        let b = format!("alt-{i}");
        m.push_str(&format!(
            "Content-Type: multipart/alternative; boundary=\"{b}\"\r\n\r\n"
        ));
        m.push_str(&format!(
            "--{b}\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n"
        ));
        let html = text.replace("\r\n\r\n", "</p>\r\n<p>");
        m.push_str(&format!(
            "--{b}\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n<html><body><p>{html}</p></body></html>\r\n"
        ));
        m.push_str(&format!("--{b}--\r\n"));
    };
    if attach {
        let b = format!("mixed-{i}");
        m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\n--{b}\r\n"
        ));
        alternative(&mut m, &text);
        let pdf: Vec<u8> = (0..rng.usize(3_000..12_000)).map(|_| rng.u8(..)).collect();
        let encoded = base64::engine::general_purpose::STANDARD.encode(pdf);
        m.push_str(&format!(
            "--{b}\r\nContent-Type: application/pdf; name=\"quote-{i}.pdf\"\r\n\
             Content-Disposition: attachment; filename=\"quote-{i}.pdf\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n"
        ));
        for line in encoded.as_bytes().chunks(76) {
            m.push_str(&String::from_utf8_lossy(line));
            m.push_str("\r\n");
        }
        m.push_str(&format!("--{b}--\r\n"));
    } else if alt {
        alternative(&mut m, &text);
    } else {
        m.push_str(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        );
        m.push_str(&text);
    }
    m.into_bytes()
}

/// `Mon, 23 Nov 2026 10:15:00 +0000` for Unix seconds (UTC).
fn rfc5322_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}
