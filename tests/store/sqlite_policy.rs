//! The SQLite store's own promises for the policy tables (beyond the
//! contract): migrating a database from the previous release, corrupt rows,
//! outbox numbering under concurrency, a step failing at its last statement,
//! and the indexes its reads use.

use std::path::Path;

use rebound::event::EventType;
use rebound::policy::{Changes, GlobalSuppression, HistoryAction, SuppressReason, Tracker};
use rebound::source::sha256_hex;
use rebound::store::{Error, HealthState, OutboxEntry, PolicyStore, SqliteStore, Store};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::contract::{
    bare_contact, cp, delay, event, finding, full_contact, health, ids, line, sent,
};
use super::{db_path, raw};

/// The SQL of migrations 0001 and 0002 applied by hand, with the
/// bookkeeping the migrator writes: a database as the previous release left
/// it.
async fn database_at_migration_2(path: &Path) {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, \
         name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let old = [
        (
            1,
            "sync",
            include_str!("../../migrations/sqlite/0001_sync.sql"),
        ),
        (
            2,
            "tracking",
            include_str!("../../migrations/sqlite/0002_tracking.sql"),
        ),
    ];
    for (version, name, sql) in old {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
        let checksum = sha256_hex(sql.replace("\r\n", "\n").as_bytes());
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) \
             VALUES ($1, $2, $3, 1)",
        )
        .bind(version)
        .bind(name)
        .bind(checksum)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    // Rows of the old tables, written as the previous release wrote them.
    sqlx::raw_sql(
        "INSERT INTO checkpoints VALUES ('acme', 'INBOX', 7, 42, 1); \
         INSERT INTO tracked_messages VALUES \
           ('acme', 'm1@x', 'acme-inbox', 'Hi', 100, '{}', 'cli', 1, 1); \
         INSERT INTO tracked_recipients VALUES ('acme', 'm1@x', 'old@example.org', 'c-7', 100);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_database_at_migration_2_gets_migration_3() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    database_at_migration_2(&path).await;

    let store = SqliteStore::open(&path).await.unwrap();
    // The old rows are kept and read through the new index.
    assert_eq!(
        store.checkpoint("acme", "INBOX").await.unwrap(),
        Some(cp(7, 42))
    );
    assert_eq!(
        store.trackers("old@example.org").await.unwrap(),
        vec![Tracker {
            account: "acme".into(),
            inbox: "acme-inbox".into(),
            contact_id: Some("c-7".into()),
        }]
    );
    // The new tables work.
    let state = full_contact("acme", "old@example.org", SuppressReason::HardBounce);
    let changes = Changes {
        contacts: vec![state.clone()],
        ..Default::default()
    };
    store
        .commit_step("acme", "INBOX", cp(7, 43), &[], &changes, 2)
        .await
        .unwrap();
    assert_eq!(
        store
            .contacts("acme", &ids(&["old@example.org"]))
            .await
            .unwrap(),
        vec![state]
    );
    store.close().await;

    let mut conn = raw(&path).await;
    let versions: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, name FROM schema_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        versions,
        vec![
            (1, "sync".to_owned()),
            (2, "tracking".to_owned()),
            (3, "policy".to_owned()),
            (4, "dispatch".to_owned())
        ]
    );
    conn.close().await.unwrap();
}

/// Rewrites stored values behind the store's back.
async fn tamper(path: &Path, sql: &'static str) {
    let mut conn = raw(path).await;
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// Asserts a read failed with [`Error::Corrupt`] whose message has `needle`.
fn assert_corrupt<T: std::fmt::Debug>(result: Result<T, Error>, needle: &str) {
    match result {
        Err(Error::Corrupt(message)) => {
            assert!(message.contains(needle), "{needle:?} not in {message:?}")
        }
        other => panic!("expected a corrupt-value error naming {needle:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn corrupt_policy_rows_are_errors_naming_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).await.unwrap();
    let changes = Changes {
        contacts: vec![
            full_contact("acme", "soft@x.org", SuppressReason::HardBounce),
            full_contact("acme", "why@x.org", SuppressReason::HardBounce),
        ],
        history: vec![line("acme", "h@x.org", HistoryAction::Suppressed, 1, 1)],
        pending_add: vec![delay("acme", "p@x.org", "m@x", 1, 2)],
        global_add: vec![GlobalSuppression {
            address: "g@x.org".into(),
            since: 1,
            accounts: ids(&["acme"]),
        }],
        events: vec![
            event(EventType::BounceDetected, "a", "acme", Some("e@x.org")),
            event(EventType::BounceDetected, "b", "acme", Some("e@x.org")),
        ],
        ..Changes::default()
    };
    store.apply(&changes, 1).await.unwrap();
    let first_id = changes.events[0].id.clone();

    tamper(
        &path,
        "UPDATE contacts SET soft = '[{\"message\": 1' WHERE address = 'soft@x.org'; \
         UPDATE contacts SET suppression_reason = 'bored' WHERE address = 'why@x.org'; \
         UPDATE suppression_history SET action = 'maybe'; \
         UPDATE pending_delays SET snapshot = 'not json'; \
         UPDATE global_suppressions SET accounts = '{\"a\": 1}'; \
         UPDATE outbox SET payload = '{}' WHERE seq = 1;",
    )
    .await;
    assert_corrupt(
        store.contacts("acme", &ids(&["soft@x.org"])).await,
        "contacts.soft of \"soft@x.org\" in account \"acme\"",
    );
    assert_corrupt(
        store.contacts_everywhere("why@x.org").await,
        "\"bored\", not a known reason",
    );
    assert_corrupt(store.suppressed(None).await, "contacts.");
    assert_corrupt(
        store.history("acme", "h@x.org").await,
        "\"maybe\", not a known action",
    );
    assert_corrupt(
        store.pending("acme", &ids(&["p@x.org"])).await,
        "pending_delays.snapshot of \"p@x.org\"",
    );
    assert_corrupt(store.due_pending(10, 10).await, "pending_delays.snapshot");
    assert_corrupt(
        store.global_suppression("g@x.org").await,
        "global_suppressions.accounts of \"g@x.org\"",
    );
    let payload = format!("outbox.payload of event {first_id:?}");
    assert_corrupt(store.outbox(0, 10).await, &payload);
    assert_corrupt(store.undelivered(10).await, &payload);
    // Only the bad row fails a read: the next entry is fine.
    assert_eq!(store.outbox(1, 10).await.unwrap().len(), 1);

    // A payload holding another event, and half a suppression (which the
    // schema's CHECK refuses unless told to look away).
    tamper(
        &path,
        "UPDATE outbox SET payload = (SELECT payload FROM outbox WHERE seq = 2) WHERE seq = 1; \
         PRAGMA ignore_check_constraints = ON; \
         UPDATE contacts SET suppression_since = NULL WHERE address = 'why@x.org';",
    )
    .await;
    assert_corrupt(store.outbox(0, 1).await, "holds event");
    assert_corrupt(
        store.contacts("acme", &ids(&["why@x.org"])).await,
        "only part of a suppression",
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_steps_number_the_outbox_without_gaps_or_repeats() {
    const TASKS: usize = 20;
    const STEPS: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let store = store.clone();
        tasks.spawn(async move {
            for step in 0..STEPS {
                let key = |n: usize| format!("{task}-{step}-{n}");
                let changes = Changes {
                    events: (0..2)
                        .map(|n| event(EventType::BounceDetected, &key(n), "acme", Some("a@x")))
                        .collect(),
                    ..Changes::default()
                };
                let uid = u32::try_from(step + 1).unwrap();
                store
                    .commit_step(
                        &format!("inbox-{task}"),
                        "INBOX",
                        cp(1, uid),
                        &[],
                        &changes,
                        1,
                    )
                    .await?;
            }
            Ok::<_, Error>(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    let all = store.outbox(0, usize::MAX).await.unwrap();
    let seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
    let expected: Vec<i64> = (1..=i64::try_from(TASKS * STEPS * 2).unwrap()).collect();
    assert_eq!(
        seqs, expected,
        "MAX(seq) + 1 under the write lock: 1, 2, 3, ..."
    );
    // Each step's two events are adjacent (a step is one transaction).
    for pair in all.chunks(2) {
        let data = |e: &OutboxEntry| e.event.data["key"].as_str().unwrap().to_owned();
        let (a, b) = (data(&pair[0]), data(&pair[1]));
        assert_eq!(a.strip_suffix("-0"), b.strip_suffix("-1"), "{a} / {b}");
    }
    // An id written again takes no number: the next new event is 401.
    let again = Changes {
        events: vec![
            all[0].event.clone(),
            event(EventType::BounceDetected, "new", "acme", Some("a@x")),
        ],
        ..Changes::default()
    };
    store.apply(&again, 2).await.unwrap();
    let last = store.outbox(400, 10).await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(
        (last[0].seq, last[0].event.id.as_str()),
        (401, again.events[1].id.as_str())
    );
    store.close().await;

    // The dispatcher's columns hold their defaults.
    let mut conn = raw(&path).await;
    let defaults: (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), sum(attempts), count(next_attempt_at) + count(last_error) FROM outbox",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(defaults, (401, 0, 0));
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_step_failing_at_its_last_statement_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).await.unwrap();
    store.commit("acme", "INBOX", cp(1, 1), &[]).await.unwrap();
    // The outbox insert (the last statement of a step) fails.
    tamper(
        &path,
        "CREATE TRIGGER refuse_events BEFORE INSERT ON outbox \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .await;
    let changes = Changes {
        tracked: vec![sent("acme", "m@x", 1, &["a@x.org"])],
        contacts: vec![bare_contact("acme", "a@x.org", 1)],
        events: vec![event(
            EventType::BounceDetected,
            "k",
            "acme",
            Some("a@x.org"),
        )],
        ..Changes::default()
    };
    let err = store
        .commit_step(
            "acme",
            "INBOX",
            cp(1, 9),
            &[finding("msg_lost", "INBOX", 9)],
            &changes,
            2,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refused by the test"), "{err}");
    assert_eq!(
        store.checkpoint("acme", "INBOX").await.unwrap(),
        Some(cp(1, 1))
    );
    assert_eq!(
        store.unseen("acme", &ids(&["msg_lost"])).await.unwrap(),
        vec![true]
    );
    assert!(
        store
            .tracked("acme", &ids(&["m@x"]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .contacts("acme", &ids(&["a@x.org"]))
            .await
            .unwrap()
            .is_empty()
    );
    // Health with an event fails the same way, and keeps no health.
    let err = store
        .set_health_with_event(&health("acme", HealthState::Idle, None, 3), |_, _| {
            changes.events.first().cloned()
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refused by the test"), "{err}");
    assert!(store.health().await.unwrap().is_empty());
    store.close().await;
}

/// Each policy read is served by an index, not a scan of its table (the
/// plan SQLite reports for the store's own statements).
#[tokio::test]
async fn policy_reads_use_their_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    SqliteStore::open(&path).await.unwrap().close().await;
    let mut conn = raw(&path).await;
    let cases = [
        (
            "SELECT * FROM contacts WHERE suppression_reason IS NOT NULL \
             ORDER BY account, address",
            "contacts_suppressed",
        ),
        (
            "SELECT * FROM contacts WHERE address = 'a' ORDER BY account",
            "contacts_by_address",
        ),
        (
            "SELECT * FROM suppression_history WHERE account = 'a' AND address = 'b' \
             ORDER BY at, seq",
            "suppression_history_by_contact",
        ),
        (
            "SELECT * FROM pending_delays WHERE expires_at <= 5 \
             ORDER BY expires_at, account, address, message_key LIMIT 3",
            "pending_delays_by_expiry",
        ),
        (
            "SELECT * FROM recipient_findings WHERE account = 'a' AND address = 'b' \
             ORDER BY noticed_at, key",
            "recipient_findings_by_contact",
        ),
        (
            "SELECT * FROM outbox WHERE delivered_at IS NULL ORDER BY seq LIMIT 3",
            "outbox_undelivered",
        ),
        (
            "SELECT r.account, m.inbox, r.contact_id FROM tracked_recipients r \
             JOIN tracked_messages m ON m.account = r.account AND m.message_id = r.message_id \
             WHERE r.address = 'a' ORDER BY r.account, r.sent_at DESC, r.message_id DESC",
            "tracked_recipients_by_address_only",
        ),
    ];
    for (sql, index) in cases {
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let text: Vec<&str> = plan.iter().map(|row| row.3.as_str()).collect();
        assert!(
            text.iter().any(|step| step.contains(index)),
            "{sql}: {text:?}"
        );
    }
    conn.close().await.unwrap();
}
