//! The IMAP connector end to end: `rebound::sync::Supervisor` against a real
//! Dovecot (tests/support), a real SQLite store, the in-process sink.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rebound::config::{
    Auth, CallbackConfig, Config, ImapSettings, InboxConfig, Provider, Secret, Source, StoreConfig,
    SyncConfig,
};
use rebound::sink::{Batch, Sink};
use rebound::source::{Finding, FolderRole};
use rebound::store::{HealthState, SqliteStore, Store};
use rebound::sync::{InboxOutcome, Mode, Supervisor};
use support::authserver::AuthServer;
use support::dovecot::{Dovecot, DovecotOptions};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// A bounce (Postfix, user unknown) with its own Message-ID.
fn bounce(tag: &str) -> Vec<u8> {
    let raw = std::fs::read(format!("{FIXTURES}/dsn/postfix_user_unknown.eml")).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let text = text.replacen(
        "Message-Id: <20261123101500.3F2A21C0123@mail.example.com>",
        &format!("Message-ID: <bounce-{tag}@mail.example.com>"),
        1,
    );
    assert!(text.contains(&format!("bounce-{tag}@")), "fixture changed");
    text.into_bytes()
}

fn ordinary(n: usize) -> Vec<u8> {
    format!(
        "From: Carol <carol{n}@example.org>\r\nTo: alice@example.com\r\n\
         Subject: Meeting notes {n}\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <note-{n}@example.org>\r\n\r\nSee you tomorrow.\r\n"
    )
    .into_bytes()
}

fn sync_config() -> SyncConfig {
    SyncConfig {
        max_message_bytes: 10 * 1024 * 1024,
        idle_renew: Duration::from_secs(20 * 60),
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_secs(1),
        login_interval: Duration::from_millis(200),
        sent_backfill: Duration::from_secs(30 * 86_400),
        shutdown_grace: Duration::from_secs(5),
    }
}

fn inbox(id: &str, settings: ImapSettings) -> InboxConfig {
    InboxConfig {
        id: id.into(),
        account: "acme".into(),
        provider: Provider::Imap,
        address: None,
        enabled: true,
        backfill: None,
        track_sent_folder: true,
        source: Source::Imap(settings),
    }
}

fn config(dir: &std::path::Path, inboxes: Vec<InboxConfig>) -> Arc<Config> {
    Arc::new(Config {
        store: StoreConfig::Sqlite {
            path: dir.join("state.db"),
        },
        sync: sync_config(),
        callback: CallbackConfig::Stdout,
        policy: Default::default(),
        retention: Default::default(),
        api: None,
        inboxes,
    })
}

async fn open_store(dir: &std::path::Path) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open(&dir.join("state.db")).await.unwrap())
}

/// One `--once` run; every batch it handed on.
async fn once(
    config: &Arc<Config>,
    store: &Arc<SqliteStore>,
    backfill: Option<Duration>,
) -> (Vec<InboxOutcome>, Vec<Batch>) {
    let (sink, mut rx) = Sink::channel();
    let supervisor = Supervisor::new(config.clone(), store.clone(), sink);
    let mode = Mode {
        once: true,
        backfill,
        progress: false,
    };
    let outcomes = supervisor.run(mode, CancellationToken::new()).await;
    drop(supervisor);
    let mut batches = Vec::new();
    while let Some(batch) = rx.recv().await {
        batches.push(batch);
    }
    (outcomes, batches)
}

fn findings(batches: &[Batch]) -> Vec<&Finding> {
    batches.iter().flat_map(|b| &b.findings).collect()
}

/// A daemon-mode supervisor running in the background.
struct Daemon {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Vec<InboxOutcome>>,
    rx: UnboundedReceiver<Batch>,
    shared: Arc<rebound::sync::Shared<SqliteStore>>,
}

fn daemon(config: &Arc<Config>, store: &Arc<SqliteStore>) -> Daemon {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("rebound=debug")
        .try_init();
    let (sink, rx) = Sink::channel();
    let supervisor = Supervisor::new(config.clone(), store.clone(), sink);
    let shared = supervisor.shared().clone();
    let stop = CancellationToken::new();
    let token = stop.clone();
    let task = tokio::spawn(async move { supervisor.run(Mode::default(), token).await });
    Daemon {
        stop,
        task,
        rx,
        shared,
    }
}

impl Daemon {
    /// The next finding, within `limit`.
    async fn finding(&mut self, limit: Duration) -> Finding {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let batch = tokio::time::timeout(left, self.rx.recv())
                .await
                .expect("no finding in time")
                .expect("sink closed");
            if let Some(f) = batch.findings.into_iter().next() {
                return f;
            }
        }
    }

    /// No finding for `quiet`.
    async fn no_finding(&mut self, quiet: Duration) {
        let deadline = Instant::now() + quiet;
        while let Ok(Some(batch)) = tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            self.rx.recv(),
        )
        .await
        {
            assert!(
                batch.findings.is_empty(),
                "unexpected finding: {:?}",
                batch.findings
            );
        }
    }

    async fn shutdown(self) -> Vec<InboxOutcome> {
        self.stop.cancel();
        let started = Instant::now();
        let outcomes = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("supervisor did not stop")
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "shutdown took too long"
        );
        outcomes
    }
}

/// Waits until every inbox reports `state`.
async fn wait_for_state(store: &SqliteStore, inboxes: usize, state: HealthState, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let health = store.health().await.unwrap();
        if health.len() == inboxes && health.iter().all(|h| h.state == state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "inboxes not {state:?} in time: {health:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn is_seen(flags: &[String]) -> bool {
    flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen"))
}

#[tokio::test]
async fn first_sync_starts_now_backfill_reads_back_and_nothing_is_marked_seen() {
    let server = Dovecot::start(DovecotOptions::default()).await;
    let mut uids = Vec::new();
    for n in 0..30 {
        uids.push(server.append("alice", "INBOX", &ordinary(n)).await);
    }
    for n in 0..3 {
        uids.push(
            server
                .append("alice", "INBOX", &bounce(&format!("old{n}")))
                .await,
        );
    }
    server.append("alice", "Junk", &bounce("junk")).await;
    server.append("alice", "Sent", &ordinary(99)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        vec![inbox("alice", server.imap_settings("alice"))],
    );
    let store = open_store(dir.path()).await;

    // From "now": nothing old is handed on, except Sent (30 days back).
    let (outcomes, batches) = once(&config, &store, None).await;
    assert_eq!(outcomes[0].error, None, "{outcomes:?}");
    assert!(findings(&batches).is_empty());
    let envelopes: Vec<_> = batches.iter().flat_map(|b| &b.envelopes).collect();
    assert_eq!(envelopes.len(), 1, "{envelopes:#?}");
    assert_eq!(envelopes[0].role, FolderRole::Sent);
    let inbox_cp = store.checkpoint("alice", "INBOX").await.unwrap().unwrap();
    assert_eq!(inbox_cp.last_uid, *uids.last().unwrap());

    // What arrives next is handed on.
    let new_uid = server.append("alice", "INBOX", &bounce("new")).await;
    let (_, batches) = once(&config, &store, None).await;
    let found = findings(&batches);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].envelope.uid, new_uid);
    assert_eq!(found[0].report.recipients[0].address, "bob@example.net");
    assert!(found[0].envelope.candidate);

    // A fresh store with a backfill window reads everything back.
    let dir2 = tempfile::tempdir().unwrap();
    let config2 = config_with(dir2.path(), &config);
    let store2 = open_store(dir2.path()).await;
    let (outcomes, batches) = once(&config2, &store2, Some(Duration::from_secs(86_400))).await;
    assert_eq!(outcomes[0].error, None);
    let found = findings(&batches);
    assert_eq!(found.len(), 5, "3 old + 1 new bounce in INBOX, 1 in Junk");
    assert!(found.iter().any(|f| f.envelope.role == FolderRole::Junk));
    assert_eq!(outcomes[0].messages, 34 + 1 + 1);
    assert!(
        outcomes[0].candidates < 10,
        "only candidates are fetched whole: {}",
        outcomes[0].candidates
    );

    // Read-only: no message was marked \Seen.
    uids.push(new_uid);
    for uid in uids {
        assert!(
            !is_seen(&server.flags("alice", "INBOX", uid).await),
            "uid {uid} seen"
        );
    }
}

fn config_with(dir: &std::path::Path, base: &Config) -> Arc<Config> {
    config(dir, base.inboxes.clone())
}

#[tokio::test]
async fn new_mail_is_seen_through_idle_and_through_polling() {
    let server = Dovecot::start(DovecotOptions::default().user("bob", "bob-pw")).await;
    let dir = tempfile::tempdir().unwrap();
    let mut polled = server.imap_settings("bob");
    polled.idle = false;
    polled.poll_interval = Duration::from_secs(1);
    let config = config(
        dir.path(),
        vec![
            inbox("alice", server.imap_settings("alice")),
            inbox("bob", polled),
        ],
    );
    let store = open_store(dir.path()).await;
    let mut daemon = daemon(&config, &store);
    wait_for_state(&store, 2, HealthState::Idle, Duration::from_secs(10)).await;

    let sent = Instant::now();
    server.append("alice", "INBOX", &bounce("idle")).await;
    let f = daemon.finding(Duration::from_secs(5)).await;
    assert_eq!(f.envelope.inbox, "alice");
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "IDLE took {:?}",
        sent.elapsed()
    );

    server.append("bob", "INBOX", &bounce("poll")).await;
    let f = daemon.finding(Duration::from_secs(5)).await;
    assert_eq!(f.envelope.inbox, "bob");
    assert_eq!(
        f.report.message.message_id.as_deref(),
        Some("bounce-poll@mail.example.com")
    );

    daemon.no_finding(Duration::from_millis(1500)).await;
    let outcomes = daemon.shutdown().await;
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes.iter().map(|o| o.findings).sum::<usize>(), 2);
}

#[tokio::test]
async fn a_server_restart_mid_session_loses_nothing_and_repeats_nothing() {
    let mut server = Dovecot::start(DovecotOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        vec![inbox("alice", server.imap_settings("alice"))],
    );
    let store = open_store(dir.path()).await;
    let mut daemon = daemon(&config, &store);
    wait_for_state(&store, 1, HealthState::Idle, Duration::from_secs(10)).await;
    server.append("alice", "INBOX", &bounce("before")).await;
    let first = daemon.finding(Duration::from_secs(5)).await;

    server.stop().await;
    wait_for_state(&store, 1, HealthState::BackingOff, Duration::from_secs(10)).await;
    server.start_again().await;
    // Mail that arrives while rebound reconnects is not missed.
    server.append("alice", "INBOX", &bounce("during")).await;
    let second = daemon.finding(Duration::from_secs(15)).await;
    assert_ne!(first.identity, second.identity);
    assert_eq!(
        second.report.message.message_id.as_deref(),
        Some("bounce-during@mail.example.com")
    );
    wait_for_state(&store, 1, HealthState::Idle, Duration::from_secs(10)).await;
    daemon.no_finding(Duration::from_secs(1)).await;

    // Cut again, while idle, and check the session comes back once more.
    server.restart().await;
    server.append("alice", "INBOX", &bounce("after")).await;
    let third = daemon.finding(Duration::from_secs(15)).await;
    assert_eq!(
        third.report.message.message_id.as_deref(),
        Some("bounce-after@mail.example.com")
    );
    daemon.no_finding(Duration::from_secs(1)).await;
    let outcomes = daemon.shutdown().await;
    assert_eq!(outcomes[0].findings, 3);
    assert_eq!(outcomes[0].duplicates, 0);
}

#[tokio::test]
async fn a_uidvalidity_change_rescans_without_handing_anything_on_twice() {
    let mut server = Dovecot::start(DovecotOptions::default()).await;
    for n in 0..5 {
        server.append("alice", "INBOX", &ordinary(n)).await;
    }
    server.append("alice", "INBOX", &bounce("a")).await;
    server.append("alice", "INBOX", &bounce("b")).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        vec![inbox("alice", server.imap_settings("alice"))],
    );
    let store = open_store(dir.path()).await;
    let backfill = Some(Duration::from_secs(86_400));
    let (_, batches) = once(&config, &store, backfill).await;
    assert_eq!(findings(&batches).len(), 2);
    let before = store.checkpoint("alice", "INBOX").await.unwrap().unwrap();

    let new_validity = server.reset_uidvalidity("alice", "INBOX").await;
    assert_ne!(new_validity, before.uidvalidity);
    let (outcomes, batches) = once(&config, &store, backfill).await;
    assert_eq!(outcomes[0].error, None);
    assert!(
        findings(&batches).is_empty(),
        "a rescan handed a finding on twice"
    );
    assert_eq!(outcomes[0].duplicates, 2);
    assert_eq!(outcomes[0].messages, 7, "the whole folder was rescanned");
    let after = store.checkpoint("alice", "INBOX").await.unwrap().unwrap();
    assert_eq!(after.uidvalidity, new_validity);

    // And new mail after the reset is still seen.
    server.append("alice", "INBOX", &bounce("c")).await;
    let (_, batches) = once(&config, &store, backfill).await;
    assert_eq!(findings(&batches).len(), 1);
}

#[tokio::test]
async fn a_wrong_password_parks_the_inbox_without_a_retry_storm() {
    let server = Dovecot::start(DovecotOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = server.imap_settings("alice");
    settings.auth = Auth::Password {
        password: Secret::new("wrong"),
        mechanism: rebound::config::PasswordMechanism::Plain,
    };
    let config = config(dir.path(), vec![inbox("alice", settings)]);
    let store = open_store(dir.path()).await;
    let daemon = daemon(&config, &store);
    wait_for_state(&store, 1, HealthState::AuthFailed, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let health = store.health().await.unwrap();
    assert_eq!(health[0].state, HealthState::AuthFailed);
    assert!(health[0].last_error.as_deref().unwrap_or_default().len() > 3);
    let log = server.log();
    let attempts = log.matches("auth failed").count();
    assert_eq!(attempts, 1, "logins were retried:\n{log}");
    let outcomes = daemon.shutdown().await;
    assert_eq!(outcomes[0].state, Some(HealthState::AuthFailed));
}

#[tokio::test]
async fn oauth2_tokens_are_refreshed_rotated_and_a_revoked_grant_needs_reauthorisation() {
    let auth = AuthServer::start().await;
    let mut server = Dovecot::start(DovecotOptions::default().oauth(&auth)).await;
    auth.set_rotation(true);
    let refresh = auth.issue_refresh_token("alice");
    let dir = tempfile::tempdir().unwrap();
    let settings = server.imap_settings_oauth("alice", &auth, &refresh);
    let config = config(dir.path(), vec![inbox("alice", settings)]);
    let store = open_store(dir.path()).await;
    let mut daemon = daemon(&config, &store);
    wait_for_state(&store, 1, HealthState::Idle, Duration::from_secs(10)).await;
    assert_eq!(auth.token_requests().count, 1);
    // The rotated refresh token is stored, tied to the config's token.
    let origin = sha256_hex(&refresh);
    let stored = store.refresh_token("alice", &origin).await.unwrap();
    assert!(
        stored.is_some_and(|t| t != refresh),
        "rotated token not stored"
    );

    // The access token expires while connected: the next login is refused,
    // the token refreshed once, and the session resumes.
    auth.expire_all_access_tokens();
    server.restart().await;
    server.append("alice", "INBOX", &bounce("oauth")).await;
    let f = daemon.finding(Duration::from_secs(15)).await;
    assert_eq!(
        f.report.message.message_id.as_deref(),
        Some("bounce-oauth@mail.example.com")
    );
    assert_eq!(auth.token_requests().count, 2);

    // Consent revoked: the refresh is refused, the inbox needs re-authorisation,
    // and the token endpoint is not hammered.
    let current = store
        .refresh_token("alice", &origin)
        .await
        .unwrap()
        .unwrap();
    auth.revoke(&current);
    auth.expire_all_access_tokens();
    server.restart().await;
    wait_for_state(&store, 1, HealthState::AuthFailed, Duration::from_secs(15)).await;
    let health = store.health().await.unwrap();
    assert!(
        health[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("re-authorisation"),
        "{health:?}"
    );
    let requests = auth.token_requests().count;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        auth.token_requests().count,
        requests,
        "refresh retried after a refusal"
    );
    daemon.shutdown().await;
}

fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_and_a_broken_inbox_does_not_stall_the_others() {
    let server = Dovecot::start(DovecotOptions::default().user("bob", "bob-pw")).await;
    server.append("bob", "INBOX", &bounce("bob")).await;
    let dir = tempfile::tempdir().unwrap();
    let mut untrusted = server.imap_settings("alice");
    untrusted.ca_file = None;
    let mut dead = server.imap_settings("alice");
    dead.port = 1; // nothing listens there
    let config = config(
        dir.path(),
        vec![
            inbox("untrusted", untrusted),
            inbox("dead", dead),
            inbox("bob", server.imap_settings("bob")),
        ],
    );
    let store = open_store(dir.path()).await;
    let (outcomes, batches) = once(&config, &store, Some(Duration::from_secs(86_400))).await;
    let by_id = |id: &str| outcomes.iter().find(|o| o.inbox == id).unwrap();
    let err = by_id("untrusted").error.clone().unwrap_or_default();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(by_id("dead").error.is_some());
    assert_eq!(by_id("bob").error, None);
    assert_eq!(findings(&batches).len(), 1);
    assert_eq!(by_id("bob").findings, 1);
}

#[tokio::test]
async fn thousands_of_messages_and_hostile_ones_are_handled() {
    let server = Dovecot::start(DovecotOptions::default()).await;
    let bulk: Vec<Vec<u8>> = (0..3000).map(ordinary).collect();
    server.append_many("alice", "INBOX", bulk).await;
    let mut huge =
        b"From: MAILER-DAEMON@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n\
        Message-ID: <huge@example.com>\r\nContent-Type: text/plain\r\n\r\n"
            .to_vec();
    while huge.len() < 12 * 1024 * 1024 {
        huge.extend_from_slice(b"550 5.1.1 <x@example.com>: user unknown, and more padding\r\n");
    }
    let hostile: Vec<Vec<u8>> = vec![
        b"\r\n".to_vec(),
        b"Subject: \xff\xfe\x00 broken\r\nContent-Type: multipart/report; boundary=\"\r\n\r\n--\r\n".to_vec(),
        format!("Subject: long\r\nX-Long: {}\r\n\r\nbody\r\n", "a".repeat(200_000)).into_bytes(),
        b"From: MAILER-DAEMON@example.com\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; x@example.com\r\nAction: failed\r\n".to_vec(),
        huge,
        bounce("last"),
    ];
    let mut last = 0;
    for message in &hostile {
        last = server.append("alice", "INBOX", message).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        vec![inbox("alice", server.imap_settings("alice"))],
    );
    let store = open_store(dir.path()).await;
    let (outcomes, batches) = once(&config, &store, Some(Duration::from_secs(86_400))).await;
    assert_eq!(outcomes[0].error, None, "{outcomes:?}");
    assert_eq!(outcomes[0].messages, 3000 + hostile.len());
    let checkpoint = store.checkpoint("alice", "INBOX").await.unwrap().unwrap();
    assert_eq!(checkpoint.last_uid, last);
    let found = findings(&batches);
    let huge = found
        .iter()
        .find(|f| f.report.message.message_id.as_deref() == Some("huge@example.com"))
        .expect("the huge notice is analysed");
    assert!(huge.report.truncated);
    assert!(huge.raw.len() <= 10 * 1024 * 1024);
    assert!(found.iter().any(|f| f.report.message.message_id.as_deref() == Some("bounce-last@mail.example.com")));
}

#[tokio::test]
async fn a_resync_request_cuts_the_wait_short() {
    let server = Dovecot::start(DovecotOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = server.imap_settings("alice");
    settings.idle = false;
    settings.poll_interval = Duration::from_secs(3600);
    let config = config(dir.path(), vec![inbox("slow", settings)]);
    let store = open_store(dir.path()).await;
    let mut daemon = daemon(&config, &store);
    wait_for_state(&store, 1, HealthState::Idle, Duration::from_secs(20)).await;
    assert!(!daemon.shared.resync.request("nobody"), "unknown inbox");
    server.append("alice", "INBOX", &bounce("resync")).await;
    daemon.no_finding(Duration::from_millis(500)).await;
    assert!(daemon.shared.resync.request("slow"));
    let found = daemon.finding(Duration::from_secs(10)).await;
    assert_eq!(found.envelope.inbox, "slow");
    daemon.shutdown().await;
}
