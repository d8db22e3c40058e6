//! Crash safety (issue 5): `kill -9` the daemon at random moments while
//! mail arrives and callbacks are in flight, 20 rounds; afterwards every
//! expected event has reached the receiver at least once (duplicates carry
//! the same id and body), and no notice counted twice toward the policy.
//! The rounds are seeded (`REBOUND_CRASH_SEED`, printed) and bounded in time.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use rebound::store::{PolicyStore, SqliteStore, Store};
use support::dovecot::{Dovecot, DovecotOptions};
use support::notices::{ndr, tracked};
use support::receiver::{Receiver, hmac_sha256, verify};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ROUNDS: usize = 20;

fn write_config(dir: &Path, server: &Dovecot, receiver: &Receiver) -> std::path::PathBuf {
    let path = dir.join("config.yaml");
    let yaml = format!(
        "store: {{ kind: sqlite, path: state.db }}\n\
         callback: {{ kind: http, url: \"{url}\", secret: \"{SECRET}\", timeout: 2s }}\n\
         sync: {{ backoff_initial: 100ms, backoff_max: 1s, login_interval: 100ms, shutdown_grace: 2s }}\n\
         inboxes:\n{inbox}\
         \x20   folders: {{ watch: [INBOX], sent: \"\\\\Sent\" }}\n\
         \x20   poll_interval: 1s\n",
        url = receiver.url(),
        inbox = server.inbox_yaml("sales", "acme", "alice"),
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

fn daemon(config: &Path, log: &Path, once: bool) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rebound"));
    cmd.arg("run").arg("-c").arg(config).arg("--no-progress");
    if once {
        cmd.arg("--once");
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    cmd.stdout(log.try_clone().unwrap())
        .stderr(log)
        .env("RUST_LOG", "rebound=info")
        .kill_on_drop(true);
    cmd.spawn().unwrap()
}

#[test]
fn the_receivers_hmac_matches_rfc_4231() {
    // RFC 4231, test case 2.
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_nothing_and_counts_nothing_twice() {
    let seed: u64 = std::env::var("REBOUND_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_201);
    eprintln!("crash test seed {seed} (REBOUND_CRASH_SEED to repeat)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let server = Dovecot::start(DovecotOptions::default()).await;
    let receiver = Receiver::start().await;
    receiver.delay(Duration::from_millis(40));
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server, &receiver);
    let log = dir.path().join("daemon.log");

    // What the CRM sent: a hard-bouncing contact per round, and ten
    // contacts that each soft-bounce twice (two distinct messages).
    let now = rebound::sync::unix_now();
    let mut sent = Vec::new();
    for r in 0..ROUNDS {
        sent.push(tracked(
            &format!("mh{r}@acme.example"),
            &format!("h{r}@example.com"),
            now - 3600,
        ));
        sent.push(tracked(
            &format!("ms{r}@acme.example"),
            &format!("s{}@example.com", r / 2),
            now - 3600,
        ));
    }
    {
        let store = SqliteStore::open(&dir.path().join("state.db"))
            .await
            .unwrap();
        store.track(&sent, now).await.unwrap();
        store.close().await;
    }
    // The first run sets where INBOX starts ("now").
    let status = daemon(&config, &log, true).wait().await.unwrap();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let started = Instant::now();
    let mut notices: Vec<(String, String)> = Vec::new(); // (NDR id, contact)
    for r in 0..ROUNDS {
        let mut child = daemon(&config, &log, false);
        let mut mail = vec![
            (
                format!("nh{r}@mx"),
                ndr(
                    &format!("nh{r}@mx"),
                    &format!("mh{r}@acme.example"),
                    &format!("h{r}@example.com"),
                    true,
                ),
            ),
            (
                format!("ns{r}@mx"),
                ndr(
                    &format!("ns{r}@mx"),
                    &format!("ms{r}@acme.example"),
                    &format!("s{}@example.com", r / 2),
                    false,
                ),
            ),
        ];
        notices.push((format!("nh{r}@mx"), format!("h{r}@example.com")));
        notices.push((format!("ns{r}@mx"), format!("s{}@example.com", r / 2)));
        // Now and then the same notice again (a relay's duplicate).
        if r > 0 && rng.bool() {
            let p = r - 1;
            mail.push((
                format!("ns{p}@mx"),
                ndr(
                    &format!("ns{p}@mx"),
                    &format!("ms{p}@acme.example"),
                    &format!("s{}@example.com", p / 2),
                    false,
                ),
            ));
        }
        let kill_after = Duration::from_millis(rng.u64(150..1500));
        let gaps: Vec<u64> = mail.iter().map(|_| rng.u64(0..300)).collect();
        let appending = async {
            for ((_, raw), gap) in mail.iter().zip(&gaps) {
                tokio::time::sleep(Duration::from_millis(*gap)).await;
                server.append("alice", "INBOX", raw).await;
            }
        };
        let (_, ()) = tokio::join!(appending, tokio::time::sleep(kill_after));
        eprintln!("round {r}: kill -9 after {kill_after:?} (gaps {gaps:?})");
        child.start_kill().unwrap();
        let _ = child.wait().await;
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "rounds took too long"
        );
    }

    // Restart: catch up, run due transitions, deliver the outbox, exit.
    let status = daemon(&config, &log, true).wait().await.unwrap();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let got = receiver.received();
    assert!(!got.is_empty());
    for r in &got {
        assert!(verify(SECRET, r), "bad signature on {}", r.id);
        assert_eq!(r.json()["id"], r.id.as_str(), "webhook-id is the event id");
    }
    // Duplicates carry the same id and the same body.
    let mut by_id: BTreeMap<&str, &[u8]> = BTreeMap::new();
    for r in &got {
        if let Some(body) = by_id.insert(&r.id, &r.body) {
            assert_eq!(
                body,
                r.body.as_slice(),
                "event {} changed between deliveries",
                r.id
            );
        }
    }
    // Every notice's bounce event arrived.
    let bounces: BTreeSet<(String, String)> = got
        .iter()
        .map(|r| r.json())
        .filter(|e| e["type"] == "bounce.detected")
        .map(|e| {
            (
                e["data"]["evidence"]["ndr_message_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                e["contact"]["address"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = notices.into_iter().collect();
    let missing: Vec<_> = expected.difference(&bounces).collect();
    assert!(missing.is_empty(), "events never delivered: {missing:?}");
    let suppressed: BTreeSet<String> = got
        .iter()
        .map(|r| r.json())
        .filter(|e| e["type"] == "contact.suppressed")
        .map(|e| {
            e["contact"]["address"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    for r in 0..ROUNDS {
        assert!(
            suppressed.contains(&format!("h{r}@example.com")),
            "h{r} not suppressed"
        );
    }
    // Each soft contact bounced for two distinct messages: counted twice,
    // never three times (which would have suppressed it).
    let store = SqliteStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let soft: Vec<String> = (0..ROUNDS / 2)
        .map(|k| format!("s{k}@example.com"))
        .collect();
    for state in store.contacts("acme", &soft).await.unwrap() {
        assert!(
            state.suppression.is_none(),
            "{} suppressed: {state:?}",
            state.address
        );
        assert_eq!(state.soft.len(), 2, "{state:?}");
    }
    assert!(
        store.undelivered(10).await.unwrap().is_empty(),
        "outbox not drained"
    );
}
