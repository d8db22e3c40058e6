//! The `maildir` provider end to end: the bundled demo Maildir synced by the
//! real supervisor into a real SQLite store, findings collected from the
//! in-process sink.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rebound::config::Config;
use rebound::sink::{Batch, Sink};
use rebound::source::FolderRole;
use rebound::store::{HealthState, SqliteStore, Store};
use rebound::sync::{InboxOutcome, Mode, Supervisor};
use tokio_util::sync::CancellationToken;

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/maildir")
}

/// Copies a directory tree (hidden entries included).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file of a tree with its bytes.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                out.insert(entry.path(), std::fs::read(entry.path()).unwrap());
            }
        }
    }
    out
}

fn config(dir: &Path) -> Config {
    let yaml = "store: { kind: sqlite, path: state.db }\n\
                inboxes:\n\
                \x20 - id: demo\n\
                \x20   account: demo\n\
                \x20   provider: maildir\n\
                \x20   path: maildir\n";
    Config::from_yaml_str(yaml, dir, &|_| None).unwrap()
}

async fn run_once(config: &Config, store: &Arc<SqliteStore>) -> (Vec<InboxOutcome>, Vec<Batch>) {
    let (sink, mut rx) = Sink::channel();
    let supervisor = Supervisor::new(Arc::new(config.clone()), store.clone(), sink);
    let mode = Mode {
        once: true,
        ..Mode::default()
    };
    let outcomes = supervisor.run(mode, CancellationToken::new()).await;
    drop(supervisor);
    let mut batches = Vec::new();
    while let Some(batch) = rx.recv().await {
        batches.push(batch);
    }
    (outcomes, batches)
}

#[tokio::test]
async fn demo_maildir_is_synced_once_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&demo_dir(), &dir.path().join("maildir"));
    let before = snapshot(&dir.path().join("maildir"));
    let config = config(dir.path());
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("state.db"))
            .await
            .unwrap(),
    );

    let (outcomes, batches) = run_once(&config, &store).await;
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].error, None, "{outcomes:?}");
    let findings: Vec<_> = batches.iter().flat_map(|b| &b.findings).collect();
    let envelopes: Vec<_> = batches.iter().flat_map(|b| &b.envelopes).collect();
    // 9 INBOX messages, 1 in Junk, 5 in Sent.
    assert_eq!(envelopes.len(), 15, "{envelopes:#?}");
    let verdicts: Vec<_> = findings
        .iter()
        .map(|f| {
            (
                f.envelope.folder.as_str(),
                format!("{:?}", f.report.verdict),
            )
        })
        .collect();
    // Five bounces, an auto-reply and a complaint in INBOX; a bounce in Junk.
    assert_eq!(findings.len(), 8, "{verdicts:?}");
    assert_eq!(
        verdicts.iter().filter(|(_, v)| v == "Bounce").count(),
        6,
        "{verdicts:?}"
    );
    assert!(
        verdicts.contains(&("Junk", "Bounce".to_string())),
        "{verdicts:?}"
    );
    let sent: Vec<_> = envelopes
        .iter()
        .filter(|e| e.role == FolderRole::Sent)
        .collect();
    assert_eq!(sent.len(), 5);
    assert!(
        sent.iter()
            .any(|e| e.recipients == vec!["bob@example.net".to_string()])
    );
    assert!(
        sent.iter().all(|e| !e.candidate),
        "Sent mail is tracked, never analysed"
    );
    // The Sent folder is read first, so the notices find what they concern.
    let first_sent = envelopes.iter().position(|e| e.role == FolderRole::Sent);
    let first_inbox = envelopes.iter().position(|e| e.role == FolderRole::Inbox);
    assert!(first_sent < first_inbox);
    let events: Vec<_> = batches.iter().flat_map(|b| &b.events).collect();
    let matched = |address: &str| {
        events.iter().any(|e| {
            e.kind == rebound::event::EventType::BounceDetected
                && e.contact.as_ref().is_some_and(|c| c.address == address)
        })
    };
    assert!(
        matched("bob@example.net") && matched("henry@example.net") && matched("irene@example.org")
    );
    assert!(findings.iter().all(|f| f.identity.starts_with("msg_")));

    // A second run hands nothing on again.
    let (outcomes, batches) = run_once(&config, &store).await;
    assert_eq!(outcomes[0].error, None);
    let again: usize = batches.iter().map(|b| b.findings.len()).sum();
    assert_eq!(again, 0, "a finding was handed on twice");

    // A new notice is seen on the next run.
    let new = dir.path().join("maildir/new/1999999999.M1P1.test");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dsn/postfix_null_mx.eml"),
        &new,
    )
    .unwrap();
    let (_, batches) = run_once(&config, &store).await;
    let third: Vec<_> = batches.iter().flat_map(|b| &b.findings).collect();
    assert_eq!(third.len(), 1);
    assert_eq!(
        third[0].envelope.location.as_deref(),
        Some(&*new.display().to_string())
    );
    std::fs::remove_file(&new).unwrap();

    // Read-only: every file is as it was.
    assert_eq!(snapshot(&dir.path().join("maildir")), before);
    let health = store.health().await.unwrap();
    assert_eq!(health.len(), 1);
    assert_eq!(health[0].state, HealthState::Idle);
}

#[tokio::test]
async fn hostile_files_do_not_stop_the_sync() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::fs::write(root.join("new/1.empty"), b"").unwrap();
    std::fs::write(
        root.join("new/2.garbage"),
        (0..=255u8).cycle().take(70_000).collect::<Vec<_>>(),
    )
    .unwrap();
    let mut huge =
        b"From: MAILER-DAEMON@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n"
            .to_vec();
    huge.resize(12 * 1024 * 1024, b'x');
    std::fs::write(root.join("new/3.huge"), &huge).unwrap();
    std::fs::write(
        root.join("new/4.bounce"),
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/dsn/postfix_user_unknown.eml"),
        )
        .unwrap(),
    )
    .unwrap();
    let config = config(dir.path());
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("state.db"))
            .await
            .unwrap(),
    );
    let (outcomes, batches) = run_once(&config, &store).await;
    assert_eq!(outcomes[0].error, None, "{outcomes:?}");
    let envelopes: usize = batches.iter().map(|b| b.envelopes.len()).sum();
    assert_eq!(envelopes, 4);
    let findings: Vec<_> = batches.iter().flat_map(|b| &b.findings).collect();
    assert!(findings.iter().any(|f| {
        f.report
            .recipients
            .iter()
            .any(|r| r.address == "bob@example.net")
    }));
    let huge_finding = findings.iter().find(|f| {
        f.envelope
            .location
            .as_deref()
            .is_some_and(|l| l.ends_with("3.huge"))
    });
    if let Some(f) = huge_finding {
        assert!(
            f.report.truncated,
            "a message over the cap is marked truncated"
        );
        assert!(f.raw.len() <= 10 * 1024 * 1024 + 1);
    }
}

#[tokio::test]
async fn a_missing_maildir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("state.db"))
            .await
            .unwrap(),
    );
    let (outcomes, _) = run_once(&config, &store).await;
    let err = outcomes[0].error.as_deref().unwrap_or_default();
    assert!(
        err.contains("is not a Maildir") && err.contains("does not exist"),
        "{err}"
    );
}

/// A copy of the demo Maildir in a temp dir and a config file beside it
/// (SQLite `state.db`, one inbox `demo` over the copy), with `extra` YAML
/// sections before `inboxes:`; the dir and the config's path.
fn demo_with_config(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&demo_dir(), &dir.path().join("maildir"));
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "store: {{ kind: sqlite, path: state.db }}\n{extra}\
             inboxes:\n  - {{ id: demo, account: demo, provider: maildir, path: maildir }}\n"
        ),
    )
    .unwrap();
    (dir, config)
}

/// `rebound run --once` and `rebound status` as a user runs them.
#[test]
fn the_run_and_status_commands_work_on_the_demo() {
    let (_dir, config) = demo_with_config("");
    let bin = env!("CARGO_BIN_EXE_rebound");
    let run = || {
        std::process::Command::new(bin)
            .args(["run", "--once", "-c"])
            .arg(&config)
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stdout = String::from_utf8(first.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // One event per failed recipient (matched to the demo's Sent copies,
    // or unmatched), the complaint, the suppressions, the inbox's status.
    let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    let count = |kind: &str| kinds.iter().filter(|k| **k == kind).count();
    assert_eq!(count("bounce.detected"), 5, "{stdout}");
    assert_eq!(count("bounce.unmatched"), 2, "{stdout}");
    assert_eq!(count("complaint.received"), 1);
    assert_eq!(count("contact.suppressed"), 3, "{stdout}");
    assert_eq!(count("inbox.status_changed"), 1);
    assert_eq!(lines.len(), 12, "{stdout}");
    assert!(lines.iter().all(|l| l["schema_version"] == 1
        && l["id"].as_str().unwrap().starts_with("evt_")
        && l["account"] == "demo"));
    assert!(String::from_utf8_lossy(&first.stderr).contains("8 findings"));

    let second = run();
    assert!(second.status.success());
    assert!(second.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("nothing new since the last run"),
        "{stderr}"
    );

    let status = std::process::Command::new(bin)
        .args(["status", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(status.status.success());
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("demo (demo, maildir): idle") && text.contains("INBOX: files up to"),
        "{text}"
    );
    assert!(
        text.contains("outbox: 0 undelivered (0 retrying), 0 dead letters")
            && text.contains("suppressed contacts: 3"),
        "{text}"
    );

    std::fs::write(&config, "inboxes:\n  - { id: demo, provider: maildir }\n").unwrap();
    let bad = run();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("inboxes[0]"));
}

#[tokio::test]
async fn a_disabled_inbox_is_not_synced_and_shows_as_disabled() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&demo_dir(), &dir.path().join("maildir"));
    let yaml = "store: { kind: sqlite, path: state.db }\n\
                inboxes:\n\
                \x20 - { id: off, account: demo, provider: maildir, path: maildir, enabled: false }\n";
    let config = Config::from_yaml_str(yaml, dir.path(), &|_| None).unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("state.db"))
            .await
            .unwrap(),
    );
    let (outcomes, batches) = run_once(&config, &store).await;
    assert!(outcomes.is_empty());
    // Only the inbox's status event: nothing was read.
    assert!(
        batches
            .iter()
            .all(|b| b.envelopes.is_empty() && b.findings.is_empty())
    );
    let events: Vec<_> = batches.iter().flat_map(|b| &b.events).collect();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(
        events[0].kind,
        rebound::event::EventType::InboxStatusChanged
    );
    assert_eq!(events[0].data["status"], "disabled");
    let health = store.health().await.unwrap();
    assert_eq!(health.len(), 1);
    assert_eq!(health[0].state, HealthState::Disabled);
}

/// `rebound suppressed` and `rebound unsuppress` as a user runs them, after
/// the demo suppressed three addresses.
#[test]
fn the_suppressed_and_unsuppress_commands_work_on_the_demo() {
    let (dir, config) = demo_with_config("callback: { kind: file, path: events.jsonl }\n");
    let bin = env!("CARGO_BIN_EXE_rebound");
    let rebound = |args: &[&str]| {
        std::process::Command::new(bin)
            .args(args)
            .arg("-c")
            .arg(&config)
            .output()
            .unwrap()
    };
    assert!(rebound(&["run", "--once"]).status.success());
    let listed = rebound(&["suppressed"]);
    assert!(listed.status.success());
    let text = String::from_utf8_lossy(&listed.stdout);
    for (address, reason) in [
        ("bob@example.net", "hard_bounce"),
        ("henry@example.net", "hard_bounce"),
        ("victor@example.net", "complaint"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.contains(address) && l.contains(reason)),
            "{text}"
        );
    }

    let lift = rebound(&[
        "unsuppress",
        "--account",
        "demo",
        "--address",
        "Bob@Example.NET",
        "--actor",
        "alice@demo.example",
        "--reason",
        "the contact fixed the mailbox",
    ]);
    assert!(
        lift.status.success(),
        "{}",
        String::from_utf8_lossy(&lift.stderr)
    );
    let events = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(events.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "contact.unsuppressed");
    assert_eq!(last["contact"]["address"], "bob@example.net");
    assert_eq!(last["data"]["actor"], "alice@demo.example");
    assert_eq!(last["data"]["previous_reason"], "hard_bounce");

    let json = rebound(&["suppressed", "--json"]);
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert!(rows.iter().all(|r| r["address"] != "bob@example.net"));
    assert_eq!(rows[0]["history"][0]["action"], "suppressed");

    // Not suppressed any more: a clear error, exit 1.
    let again = rebound(&[
        "unsuppress",
        "--account",
        "demo",
        "--address",
        "bob@example.net",
        "--actor",
        "alice",
        "--reason",
        "twice",
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not suppressed"));
}

/// Retention through `rebound run --once`: events delivered longer ago than
/// `retention.delivered_events` and messages sent longer ago than
/// `retention.tracked_messages` are deleted before it exits; the newest
/// event, and everything newer, stays.
#[tokio::test]
async fn run_once_prunes_what_retention_lets_go() {
    let (dir, config) =
        demo_with_config("retention: { delivered_events: 1d, tracked_messages: 400d }\n");
    let run = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rebound"))
            .args(["run", "--once", "-c"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run();
    let db = dir.path().join("state.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&db);
    // Reads a count, or runs a statement (then 0).
    let scalar = async |sql: &str| -> i64 {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        let n = if sql.0.starts_with("SELECT") {
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        } else {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
            0
        };
        conn.close().await.unwrap();
        n
    };
    let events = scalar("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NOT NULL").await;
    assert_eq!(events, 12, "the demo's events, delivered to stdout");
    let tracked = scalar("SELECT COUNT(*) FROM tracked_messages").await;
    assert_eq!(tracked, 5);

    // Two days later, as far as the rows know: all but the newest event
    // go; one sent message is made 500 days old and goes with its
    // recipients.
    let two_days = 2 * 86_400;
    scalar(&format!(
        "UPDATE outbox SET delivered_at = delivered_at - {two_days}"
    ))
    .await;
    scalar(
        "UPDATE tracked_messages SET sent_at = sent_at - 500 * 86400 \
         WHERE message_id = (SELECT MIN(message_id) FROM tracked_messages)",
    )
    .await;
    run();
    assert_eq!(scalar("SELECT COUNT(*) FROM outbox").await, 1);
    assert_eq!(scalar("SELECT COUNT(*) FROM tracked_messages").await, 4);
    assert_eq!(
        scalar(
            "SELECT COUNT(*) FROM tracked_recipients r WHERE NOT EXISTS \
             (SELECT 1 FROM tracked_messages m WHERE m.account = r.account \
              AND m.message_id = r.message_id)"
        )
        .await,
        0
    );
}
