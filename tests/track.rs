//! Tracking sent messages: `parse_line` (the JSON Lines format) and
//! `rebound track` as a user runs it — the built binary, a real config, a
//! real SQLite file read back with `SqliteStore`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rebound::store::{SqliteStore, Store};
use rebound::track::{Defaults, TrackError, TrackSource, TrackedRecipient, parse_line, parse_time};

const BIN: &str = env!("CARGO_BIN_EXE_rebound");

fn defaults() -> Defaults {
    Defaults {
        inbox: None,
        inboxes: BTreeMap::from([
            ("demo".to_owned(), "acme".to_owned()),
            ("other".to_owned(), "globex".to_owned()),
        ]),
        now: 1_700_000_000,
        source: TrackSource::Cli,
    }
}

#[test]
fn a_full_line_parses_and_normalises() {
    let m = parse_line(
        r#"{"inbox":"demo","account":"acme","message_id":" <abc@mail.acme.test> ",
            "recipients":[{"address":"Bob@Example.NET","contact_id":"c-1"},
                          {"address":"carol@bücher.example","contact_id":42}],
            "to":["dave@example.net"],"subject":"Hello","sent_at":"2026-11-30T10:00:00+01:00",
            "metadata":{"deal":7}}"#,
        &defaults(),
    )
    .unwrap();
    assert_eq!(m.account, "acme");
    assert_eq!(m.inbox, "demo");
    assert_eq!(m.message_id, "abc@mail.acme.test");
    assert_eq!(
        m.recipients,
        vec![
            TrackedRecipient {
                address: "dave@example.net".into(),
                contact_id: None
            },
            TrackedRecipient {
                address: "bob@example.net".into(),
                contact_id: Some("c-1".into())
            },
            TrackedRecipient {
                address: "carol@xn--bcher-kva.example".into(),
                contact_id: Some("42".into())
            },
        ]
    );
    assert_eq!(m.subject.as_deref(), Some("Hello"));
    // 2026-11-30T09:00:00Z
    assert_eq!(m.sent_at, 1_796_029_200);
    assert_eq!(m.metadata, serde_json::json!({"deal": 7}));
    assert_eq!(m.source, TrackSource::Cli);
}

#[test]
fn defaults_fill_in_account_time_and_metadata() {
    let m = parse_line(
        r#"{"inbox":"other","message_id":"x@y","to":["a@b.c"]}"#,
        &defaults(),
    )
    .unwrap();
    assert_eq!(m.account, "globex");
    assert_eq!(m.sent_at, 1_700_000_000);
    assert_eq!(m.metadata, serde_json::json!({}));
    assert_eq!(m.subject, None);
    let m = parse_line(
        r#"{"inbox":"demo","message_id":"x@y","to":["a@b.c"],"sent_at":12}"#,
        &defaults(),
    )
    .unwrap();
    assert_eq!(m.sent_at, 12);
    // Without known inboxes the line must give its account.
    let open = Defaults {
        inbox: Some("any".into()),
        inboxes: BTreeMap::new(),
        ..defaults()
    };
    let err = parse_line(r#"{"message_id":"x@y","to":["a@b.c"]}"#, &open).unwrap_err();
    assert!(matches!(err, TrackError::Missing("account")), "{err}");
    let m = parse_line(
        r#"{"account":"t","message_id":"x@y","to":["a@b.c"]}"#,
        &open,
    )
    .unwrap();
    assert_eq!((m.account.as_str(), m.inbox.as_str()), ("t", "any"));
}

#[test]
fn invalid_lines_are_refused_with_reasons() {
    let d = defaults();
    let cases: &[(&str, &str)] = &[
        ("not json", "not a JSON object"),
        ("[1]", "not a JSON object"),
        (r#"{"inbox":"demo","to":["a@b.c"]}"#, "missing message_id"),
        (
            r#"{"inbox":"demo","message_id":"<>","to":["a@b.c"]}"#,
            "missing message_id",
        ),
        (
            r#"{"inbox":"demo","message_id":"x@y"}"#,
            "missing recipients",
        ),
        (
            r#"{"inbox":"demo","message_id":"x@y","to":[]}"#,
            "missing recipients",
        ),
        (
            r#"{"inbox":"demo","message_id":"x@y","to":["nobody"]}"#,
            "\"nobody\" is not an email address",
        ),
        (
            r#"{"inbox":"demo","message_id":"x@y","to":"a@b.c"}"#,
            "invalid to",
        ),
        (
            r#"{"inbox":"demo","message_id":"x@y","recipients":[{"contact_id":"1"}]}"#,
            "invalid recipients",
        ),
        (
            r#"{"inbox":"nope","message_id":"x@y","to":["a@b.c"]}"#,
            "unknown inbox \"nope\"",
        ),
        (r#"{"message_id":"x@y","to":["a@b.c"]}"#, "missing inbox"),
        (
            r#"{"inbox":"demo","account":"globex","message_id":"x@y","to":["a@b.c"]}"#,
            "belongs to \"acme\"",
        ),
        (
            r#"{"inbox":"demo","message_id":"x@y","to":["a@b.c"],"sent_at":"yesterday"}"#,
            "invalid sent_at",
        ),
        (
            r#"{"inbox":"demo","message_id":"x@y","to":["a@b.c"],"sent_at":1.5}"#,
            "invalid sent_at",
        ),
        (
            r#"{"inbox":"demo","message_id":"x@y","to":["a@b.c"],"metadata":[1]}"#,
            "invalid metadata",
        ),
        (
            r#"{"inbox":"demo","message_id":7,"to":["a@b.c"]}"#,
            "invalid message_id",
        ),
    ];
    for (line, expected) in cases {
        let err = parse_line(line, &d).unwrap_err().to_string();
        assert!(err.contains(expected), "{line}: {err}");
    }
}

#[test]
fn times_parse_as_rfc3339_or_unix_seconds() {
    assert_eq!(parse_time("0"), Some(0));
    assert_eq!(parse_time("1700000000"), Some(1_700_000_000));
    assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000));
    assert_eq!(
        parse_time("2023-11-14t22:13:20.123456z"),
        Some(1_700_000_000)
    );
    assert_eq!(parse_time("2023-11-14 23:13:20+01:00"), Some(1_700_000_000));
    assert_eq!(parse_time("2023-11-14T17:13:20-05:00"), Some(1_700_000_000));
    assert_eq!(parse_time("2024-02-29T00:00:00Z"), Some(1_709_164_800));
    for bad in [
        "",
        "2023-11-14",
        "2023-11-14T22:13:20",
        "2023-02-29T00:00:00Z",
        "2023-13-01T00:00:00Z",
        "2023-11-14T24:00:00Z",
        "2023-11-14T22:13:20+0100",
        "2023-11-14T22:13:20.Z",
        "2023-11-14T22:13:20Zjunk",
    ] {
        assert_eq!(parse_time(bad), None, "{bad:?}");
    }
}

/// A temp dir with a config (one maildir inbox `demo` of account `acme`)
/// and the path of its store.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("maildir")).unwrap();
        let config = format!(
            "store: {{ kind: sqlite, path: {} }}\n\
             inboxes: [{{ id: demo, account: acme, provider: maildir, path: {} }}]\n",
            dir.path().join("rebound.db").display(),
            dir.path().join("maildir").display(),
        );
        std::fs::write(dir.path().join("config.yaml"), config).unwrap();
        Setup { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("rebound.db")
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(BIN)
            .arg("track")
            .arg("-c")
            .arg(self.config())
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    err
}

async fn count(db: &Path) -> (i64, i64) {
    // Count through the store's own file with a plain connection.
    use sqlx::{ConnectOptions, sqlite::SqliteConnectOptions};
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await
        .unwrap();
    let m: i64 = sqlx::query_scalar("SELECT count(*) FROM tracked_messages")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let r: i64 = sqlx::query_scalar("SELECT count(*) FROM tracked_recipients")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    (m, r)
}

#[tokio::test]
async fn one_message_from_arguments() {
    let s = Setup::new();
    let out = s.run(
        &[
            "--inbox",
            "demo",
            "--message-id",
            "<m1@acme.test>",
            "--to",
            "Bob@Example.net",
            "--contact-id",
            "c-bob",
            "--to",
            "carol@example.net",
            "--to",
            "dave@example.net",
            "--contact-id",
            "c-dave",
            "--subject",
            "Offer",
            "--sent-at",
            "2023-11-14T22:13:20Z",
            "--metadata",
            r#"{"deal": 7}"#,
        ],
        None,
    );
    assert!(
        ok(&out).contains("tracked 1 messages (1 new)"),
        "{}",
        stderr(&out)
    );
    let store = SqliteStore::open(&s.db()).await.unwrap();
    let got = store
        .tracked("acme", &["m1@acme.test".to_owned()])
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!((m.inbox.as_str(), m.sent_at), ("demo", 1_700_000_000));
    assert_eq!(m.subject.as_deref(), Some("Offer"));
    assert_eq!(m.metadata, serde_json::json!({"deal": 7}));
    assert_eq!(m.source, TrackSource::Cli);
    let pairs: Vec<(&str, Option<&str>)> = m
        .recipients
        .iter()
        .map(|r| (r.address.as_str(), r.contact_id.as_deref()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("bob@example.net", Some("c-bob")),
            ("carol@example.net", None),
            ("dave@example.net", Some("c-dave")),
        ]
    );
    store.close().await;

    // Again: an update, not a duplicate.
    let again = s.run(
        &[
            "--inbox",
            "demo",
            "--message-id",
            "m1@acme.test",
            "--to",
            "bob@example.net",
            "--contact-id",
            "c-bob",
        ],
        None,
    );
    assert!(ok(&again).contains("tracked 1 messages (0 new)"));
    assert_eq!(count(&s.db()).await, (1, 1));
}

#[test]
fn usage_and_validation_errors_exit_2_and_track_nothing() {
    let s = Setup::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--inbox", "nope", "--message-id", "m@x", "--to", "a@b.c"],
            "unknown inbox \"nope\"",
        ),
        (&["--inbox", "demo", "--message-id", "m@x"], "--to"),
        (
            &[
                "--inbox",
                "demo",
                "--message-id",
                "m@x",
                "--to",
                "not-an-address",
            ],
            "not an email address",
        ),
        (
            &[
                "--inbox",
                "demo",
                "--message-id",
                "m@x",
                "--to",
                "a@b.c",
                "--metadata",
                "{",
            ],
            "--metadata is not JSON",
        ),
        (
            &[
                "--inbox",
                "demo",
                "--message-id",
                "m@x",
                "--to",
                "a@b.c",
                "--sent-at",
                "soon",
            ],
            "invalid sent_at",
        ),
        (
            &["--file", "x.jsonl", "--inbox", "demo"],
            "cannot be used with",
        ),
    ];
    for (args, expected) in cases {
        let out = s.run(args, None);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert!(!s.db().exists(), "no store was created for refused input");
}

const FILE: &str = r#"{"inbox":"demo","message_id":"<f1@acme.test>","to":["a@example.org","B@Example.org"],"subject":"One","sent_at":1700000000}
{"inbox":"demo","message_id":"f2@acme.test","recipients":[{"address":"c@example.org","contact_id":"c-c"}],"sent_at":"2023-11-14T22:13:21Z","metadata":{"k":"v"}}

{"message_id":"f3@acme.test","inbox":"demo","account":"acme","to":["d@example.org"]}
"#;

#[tokio::test]
async fn a_file_twice_changes_nothing_the_second_time() {
    let s = Setup::new();
    let path = s.dir.path().join("sent.jsonl");
    std::fs::write(&path, FILE).unwrap();
    let path = path.to_str().unwrap();
    let out = s.run(&["--file", path], None);
    assert!(
        ok(&out).contains("tracked 3 messages (3 new)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(count(&s.db()).await, (3, 4));
    let store = SqliteStore::open(&s.db()).await.unwrap();
    let to_b = store
        .tracked_to("acme", "b@example.org", 1_699_999_999, 1_700_000_000)
        .await
        .unwrap();
    assert_eq!(to_b.len(), 1);
    assert_eq!(to_b[0].message_id, "f1@acme.test");
    store.close().await;

    let out = s.run(&["--file", path], None);
    assert!(
        ok(&out).contains("tracked 3 messages (0 new)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(count(&s.db()).await, (3, 4));

    // The same through stdin.
    let out = s.run(&["--file", "-"], Some(FILE));
    assert!(
        ok(&out).contains("tracked 3 messages (0 new)"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn a_file_with_bad_lines_is_refused_whole_with_line_numbers() {
    let s = Setup::new();
    let text = format!(
        "{FILE}{}\n{}\n",
        r#"{"inbox":"demo","message_id":"f4@acme.test","to":["broken"]}"#,
        r#"{"inbox":"demo","to":["e@example.org"]}"#
    );
    let out = s.run(&["--file", "-"], Some(&text));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("stdin: line 5: recipient \"broken\" is not an email address"),
        "{err}"
    );
    assert!(err.contains("stdin: line 6: missing message_id"), "{err}");
    assert!(err.contains("nothing was tracked"), "{err}");
    assert!(!s.db().exists());

    let out = s.run(
        &[
            "--file",
            s.dir.path().join("missing.jsonl").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));
}

#[test]
fn a_store_that_cannot_open_is_exit_1() {
    let s = Setup::new();
    // The store path is a directory.
    std::fs::create_dir(s.db()).unwrap();
    let out = s.run(
        &["--inbox", "demo", "--message-id", "m@x", "--to", "a@b.c"],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot open the store"),
        "{}",
        stderr(&out)
    );
}
