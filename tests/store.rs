//! The store: the contract suite any [`Store`] must pass (in
//! `store/contract.rs`) run on SQLite, and the SQLite store's own promises —
//! files, pragmas, migrations, errors, concurrency — on real database files.

#[path = "store/contract.rs"]
mod contract;
#[path = "store/dispatch_contract.rs"]
mod dispatch_contract;
#[path = "store/sqlite_policy.rs"]
mod sqlite_policy;

use std::path::{Path, PathBuf};

use contract::{contract_suite, cp, finding, health, ids, policy_contract_suite};
use rebound::store::{Error, HealthState, MigrateError, SqliteStore, Store};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("rebound.db")
}

/// A plain connection beside the store's pool, to look at and tamper with
/// the file. sqlx sets no journal mode unless asked, so what it reports is
/// what the file holds.
async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn sqlite_store_passes_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&db_path(&dir)).await.unwrap();
    contract_suite(&store).await;
    policy_contract_suite(&store).await;
    store.close().await;
}

#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    assert!(!path.exists());
    let store = SqliteStore::open(&path).await.unwrap();
    assert!(path.is_file(), "open creates the file");
    assert_eq!(store.location(), path.as_path());
    store
        .commit(
            "acme",
            "INBOX",
            cp(u32::MAX, 42),
            &[finding("msg_x", "INBOX", 42)],
        )
        .await
        .unwrap();
    store
        .set_health(&health("acme", HealthState::Idle, None, 5))
        .await
        .unwrap();
    store
        .set_refresh_token("acme", "rotated", "o1", 5)
        .await
        .unwrap();
    store.close().await;
    assert!(
        matches!(
            store.checkpoint("acme", "INBOX").await,
            Err(Error::Query(_))
        ),
        "a closed store refuses queries"
    );

    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        store.checkpoint("acme", "INBOX").await.unwrap(),
        Some(cp(u32::MAX, 42))
    );
    assert_eq!(
        store.unseen("acme", &ids(&["msg_x"])).await.unwrap(),
        vec![false]
    );
    assert_eq!(
        store.health().await.unwrap(),
        vec![health("acme", HealthState::Idle, None, 5)]
    );
    assert_eq!(
        store.refresh_token("acme", "o1").await.unwrap().as_deref(),
        Some("rotated")
    );
    store.close().await;
}

#[tokio::test]
async fn the_file_is_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).await.unwrap();
    let mut conn = raw(&path).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    conn.close().await.unwrap();
    store.close().await;
    // The file header says so too (bytes 18 and 19 are 2 for WAL; "Database
    // File Format", section 1.3.4), independent of any connection.
    let header = std::fs::read(&path).unwrap();
    assert_eq!(&header[..16], b"SQLite format 3\0");
    assert_eq!((header[18], header[19]), (2, 2));
}

#[tokio::test]
async fn migrations_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    SqliteStore::open(&path).await.unwrap().close().await;
    let mut conn = raw(&path).await;
    let rows: Vec<(i64, String, String, i64)> =
        sqlx::query_as("SELECT version, name, checksum, applied_at FROM schema_migrations")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    let (version, name, checksum, applied_at) = &rows[0];
    assert_eq!((*version, name.as_str()), (1, "sync"));
    assert_eq!((rows[1].0, rows[1].1.as_str()), (2, "tracking"));
    assert_eq!((rows[2].0, rows[2].1.as_str()), (3, "policy"));
    assert_eq!((rows[3].0, rows[3].1.as_str()), (4, "dispatch"));
    assert_eq!(checksum.len(), 64);
    assert!(*applied_at > 1_700_000_000, "{applied_at}");
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        tables,
        [
            "checkpoints",
            "contacts",
            "findings",
            "global_suppressions",
            "inbox_health",
            "oauth_tokens",
            "outbox",
            "pending_delays",
            "recipient_findings",
            "schema_migrations",
            "suppression_history",
            "tracked_messages",
            "tracked_recipients"
        ]
    );
    conn.close().await.unwrap();
    // Opening again applies nothing twice.
    SqliteStore::open(&path).await.unwrap().close().await;
    let mut conn = raw(&path).await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM schema_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, 4);
}

#[tokio::test]
async fn an_edited_migration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    SqliteStore::open(&path).await.unwrap().close().await;
    // As if 0001_sync.sql had been different when this database was made.
    let mut conn = raw(&path).await;
    sqlx::query("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Migrate(MigrateError::Changed { version: 1, .. })
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("migration 1 (sync)") && message.contains("never be edited"),
        "{message}"
    );
}

#[tokio::test]
async fn a_database_from_a_newer_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).await.unwrap();
    store.commit("acme", "INBOX", cp(1, 2), &[]).await.unwrap();
    store.close().await;
    let mut conn = raw(&path).await;
    sqlx::query(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at) \
         VALUES (999, 'from_the_future', 'x', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Migrate(MigrateError::Unknown {
                version: 999,
                known: 4,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer rebound"), "{err}");
    // Refused before anything was written.
    let mut conn = raw(&path).await;
    let last_uid: i64 = sqlx::query_scalar("SELECT last_uid FROM checkpoints")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(last_uid, 2);
}

#[tokio::test]
async fn unusable_paths_give_open_errors_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain.txt");
    std::fs::write(
        &file,
        "not a database, and long enough to have a header ".repeat(20),
    )
    .unwrap();
    let cases = [
        // A directory.
        dir.path().to_path_buf(),
        // The parent is missing (open creates the file, not directories).
        dir.path().join("missing").join("rebound.db"),
        // The parent is a file.
        file.join("rebound.db"),
        // A read-only place: procfs refuses new files even to root, where a
        // chmod'ed directory would not.
        PathBuf::from(format!(
            "/proc/rebound-store-test-{}.db",
            std::process::id()
        )),
        // A file that is not a database.
        file.clone(),
    ];
    for path in &cases {
        let err = SqliteStore::open(path).await.unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(&err, Error::Open { location, .. } if location == &path.display().to_string()),
            "{path:?}: {err:?}"
        );
        assert!(
            message.contains(&path.display().to_string()),
            "{path:?}: {message}"
        );
    }
    assert!(!dir.path().join("missing").exists());
    // The non-database file was not touched.
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .starts_with("not a database")
    );
}

#[tokio::test]
async fn a_failed_commit_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).await.unwrap();
    // Make the checkpoint write (the last statement of a commit) fail.
    let mut conn = raw(&path).await;
    sqlx::query(
        "CREATE TRIGGER refuse_broken BEFORE INSERT ON checkpoints \
         WHEN NEW.folder = 'Broken' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let err = store
        .commit(
            "acme",
            "Broken",
            cp(1, 9),
            &[finding("msg_lost", "Broken", 9)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Query(_)) && err.to_string().contains("refused by the test"),
        "{err:?}"
    );
    assert_eq!(
        store.unseen("acme", &ids(&["msg_lost"])).await.unwrap(),
        vec![true],
        "the findings of a failed commit are rolled back"
    );
    assert_eq!(store.checkpoint("acme", "Broken").await.unwrap(), None);
    // The store is still usable.
    store.commit("acme", "INBOX", cp(1, 1), &[]).await.unwrap();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_commit_at_once() {
    const TASKS: u32 = 50;
    const COMMITS: u32 = 20;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&db_path(&dir)).await.unwrap();

    // Ten inboxes with five folders each, one task per folder, reading
    // between writes and reporting health as the sync loop does.
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let store = store.clone();
        tasks.spawn(async move {
            let inbox = format!("inbox-{}", task % 10);
            let folder = format!("F{task:02}");
            for n in 1..=COMMITS {
                // Health alternates, so every write after the first is a change.
                let state = if n.is_multiple_of(2) {
                    HealthState::Idle
                } else {
                    HealthState::Connected
                };
                let previous = store
                    .set_health(&health(&format!("{inbox}/{folder}"), state, None, n.into()))
                    .await?;
                let expected = match n {
                    1 => None,
                    _ if n.is_multiple_of(2) => Some(HealthState::Connected),
                    _ => Some(HealthState::Idle),
                };
                assert_eq!(previous, expected, "{inbox}/{folder} #{n}");
                let id = format!("msg_{task}_{n}");
                let new = store.unseen(&inbox, std::slice::from_ref(&id)).await?;
                assert_eq!(new, vec![true], "{id}");
                store
                    .commit(&inbox, &folder, cp(task, n), &[finding(&id, &folder, n)])
                    .await?;
            }
            Ok::<_, Error>(())
        });
    }
    let mut done = 0;
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
        done += 1;
    }
    assert_eq!(done, TASKS);
    let healths = store.health().await.unwrap();
    assert_eq!(healths.len(), TASKS as usize);
    assert!(
        healths
            .iter()
            .all(|h| h.state == HealthState::Idle && h.since == i64::from(COMMITS))
    );

    for inbox in 0..10 {
        let inbox = format!("inbox-{inbox}");
        let checkpoints = store.checkpoints(&inbox).await.unwrap();
        assert_eq!(checkpoints.len(), 5, "{inbox}: {checkpoints:?}");
        for (folder, checkpoint) in checkpoints {
            let task: u32 = folder.trim_start_matches('F').parse().unwrap();
            assert_eq!(checkpoint, cp(task, COMMITS), "{inbox}/{folder}");
            let all: Vec<String> = (1..=COMMITS).map(|n| format!("msg_{task}_{n}")).collect();
            let unseen = store.unseen(&inbox, &all).await.unwrap();
            assert!(unseen.iter().all(|new| !new), "{inbox}/{folder}");
        }
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_opens_of_a_new_file_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let (a, b) = tokio::join!(SqliteStore::open(&path), SqliteStore::open(&path));
    let (a, b) = (a.unwrap(), b.unwrap());
    a.commit("acme", "INBOX", cp(1, 1), &[]).await.unwrap();
    assert_eq!(b.checkpoint("acme", "INBOX").await.unwrap(), Some(cp(1, 1)));
    a.close().await;
    b.close().await;
    let mut conn = raw(&path).await;
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(versions, vec![1, 2, 3, 4]);
}

#[tokio::test]
async fn tracking_the_same_input_again_keeps_updated_at() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).await.unwrap();
    let m = contract::sent("acme", "m@x", 100, &["a@example.org"]);
    assert_eq!(store.track(std::slice::from_ref(&m), 10).await.unwrap(), 1);
    assert_eq!(store.track(std::slice::from_ref(&m), 20).await.unwrap(), 0);
    let mut conn = raw(&path).await;
    const TIMES: &str = "SELECT created_at, updated_at FROM tracked_messages";
    assert_eq!(
        sqlx::query_as::<_, (i64, i64)>(TIMES)
            .fetch_one(&mut conn)
            .await
            .unwrap(),
        (10, 10)
    );
    let changed = rebound::track::TrackedMessage {
        subject: Some("changed".into()),
        ..m
    };
    assert_eq!(store.track(&[changed], 30).await.unwrap(), 0);
    assert_eq!(
        sqlx::query_as::<_, (i64, i64)>(TIMES)
            .fetch_one(&mut conn)
            .await
            .unwrap(),
        (10, 30)
    );
    conn.close().await.unwrap();
    store.close().await;
}

/// Pruning more than one batch (2,000 rows) of each kind: everything old
/// goes, no recipient row is left without its message, the rest stays.
#[tokio::test]
async fn prune_goes_through_many_batches() {
    use rebound::policy::Changes;
    use rebound::store::PolicyStore;
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).await.unwrap();
    let old: Vec<_> = (0..4_500)
        .map(|n| contract::sent("acme", &format!("old-{n}@x"), 100, &["a@x.org", "b@x.org"]))
        .collect();
    let new: Vec<_> = (0..300)
        .map(|n| contract::sent("acme", &format!("new-{n}@x"), 10_000, &["a@x.org"]))
        .collect();
    store.track(&old, 1).await.unwrap();
    store.track(&new, 1).await.unwrap();
    let events: Vec<_> = (0..4_500)
        .map(|n| {
            contract::event(
                rebound::event::EventType::BounceDetected,
                &format!("many-{n}"),
                "acme",
                Some("a@x.org"),
            )
        })
        .collect();
    store
        .apply(
            &Changes {
                events: events.clone(),
                ..Changes::default()
            },
            1,
        )
        .await
        .unwrap();
    let all: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    store.mark_delivered(&all, 100).await.unwrap();

    let started = std::time::Instant::now();
    let pruned = store.prune(5_000, 5_000).await.unwrap();
    eprintln!("pruned {pruned:?} in {:?}", started.elapsed());
    assert_eq!(pruned.events, 4_499, "all but the newest");
    assert_eq!(pruned.tracked_messages, 4_500);
    store.close().await;
    let mut conn = raw(&path).await;
    let count = async |conn: &mut SqliteConnection, sql: &'static str| -> i64 {
        sqlx::query_scalar(sql).fetch_one(conn).await.unwrap()
    };
    assert_eq!(
        count(&mut conn, "SELECT COUNT(*) FROM tracked_messages").await,
        300
    );
    assert_eq!(
        count(&mut conn, "SELECT COUNT(*) FROM tracked_recipients").await,
        300
    );
    assert_eq!(count(&mut conn, "SELECT COUNT(*) FROM outbox").await, 1);
}
