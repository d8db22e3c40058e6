//! A message the IMAP client cannot read must not stall its folder: a small
//! scripted IMAP server (real TCP, real protocol) answers every FETCH that
//! asks for one message's BODYSTRUCTURE with garbage, which kills the
//! session. The message is a DSN wrapped in `multipart/mixed` by a gateway,
//! so its headers alone cannot tell and its structure is asked for. The connector must find that message, fetch it without its
//! structure, analyse it, and hand on everything after it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rebound::config::{
    Auth, CallbackConfig, Config, FolderRef, Folders, ImapSettings, InboxConfig, PasswordMechanism,
    Provider, Secret, Source, StoreConfig, SyncConfig, TlsMode,
};
use rebound::sink::Sink;
use rebound::store::SqliteStore;
use rebound::sync::{Mode, Supervisor};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

const POISON_UID: u32 = 2;

fn messages() -> Vec<Vec<u8>> {
    let fixture = |name: &str, id: &str| {
        let raw = std::fs::read(format!(
            "{}/tests/fixtures/dsn/{name}.eml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut text = String::from_utf8(raw).unwrap();
        text.insert_str(0, &format!("X-Test-Id: {id}\r\n"));
        text.into_bytes()
    };
    vec![
        b"From: carol@example.org\r\nSubject: hello\r\nMessage-ID: <m1@example.org>\r\n\r\nhi\r\n"
            .to_vec(),
        // No notice by its headers: only its structure shows the report, and
        // that structure is what the server garbles.
        fixture("gateway_wrapped_in_mixed", "poisoned"),
        fixture("postfix_mailbox_full", "after"),
    ]
}

/// UIDs of an IMAP sequence set over 1..=n (`1:3`, `2`, `1,3`, `2:*`).
fn uid_set(set: &str, n: u32) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    for part in set.split(',') {
        let (a, b) = part.split_once(':').unwrap_or((part, part));
        let parse = |x: &str| if x == "*" { n } else { x.parse().unwrap_or(0) };
        let (a, b) = (parse(a), parse(b));
        for uid in a.min(b)..=a.max(b) {
            if (1..=n).contains(&uid) {
                out.insert(uid);
            }
        }
    }
    out
}

fn header_of(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 4);
    &raw[..end]
}

async fn serve(socket: tokio::net::TcpStream, messages: Arc<Vec<Vec<u8>>>) {
    let (r, mut w) = socket.into_split();
    let mut r = BufReader::new(r);
    let n = messages.len() as u32;
    w.write_all(b"* OK [CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN] scripted\r\n")
        .await
        .unwrap();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end().to_string();
        let mut words = line.splitn(3, ' ');
        let tag = words.next().unwrap_or("*").to_string();
        let command = words.next().unwrap_or("").to_ascii_uppercase();
        let rest = words.next().unwrap_or("").to_string();
        let mut out: Vec<u8> = Vec::new();
        match command.as_str() {
            "CAPABILITY" => out.extend(format!("* CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN\r\n{tag} OK done\r\n").bytes()),
            "LOGIN" => out.extend(format!("{tag} OK logged in\r\n").bytes()),
            "AUTHENTICATE" => {
                w.write_all(b"+ \r\n").await.unwrap();
                let mut answer = String::new();
                r.read_line(&mut answer).await.unwrap();
                out.extend(format!("{tag} OK logged in\r\n").bytes());
            }
            "LIST" => out.extend(format!("* LIST (\\HasNoChildren) \"/\" INBOX\r\n{tag} OK done\r\n").bytes()),
            "EXAMINE" | "SELECT" => out.extend(
                format!("* {n} EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT {}] n\r\n{tag} OK [READ-ONLY] done\r\n", n + 1).bytes(),
            ),
            "NOOP" => out.extend(format!("{tag} OK done\r\n").bytes()),
            "LOGOUT" => {
                w.write_all(format!("* BYE bye\r\n{tag} OK done\r\n").as_bytes()).await.unwrap();
                return;
            }
            "UID" if rest.to_ascii_uppercase().starts_with("SEARCH") => {
                let all: Vec<String> = (1..=n).map(|u| u.to_string()).collect();
                out.extend(format!("* SEARCH {}\r\n{tag} OK done\r\n", all.join(" ")).bytes());
            }
            "UID" if rest.to_ascii_uppercase().starts_with("FETCH") => {
                let mut parts = rest.splitn(3, ' ');
                parts.next();
                let set = parts.next().unwrap_or("");
                let items = parts.next().unwrap_or("").to_ascii_uppercase();
                for uid in uid_set(set, n) {
                    let raw = &messages[(uid - 1) as usize];
                    if items.contains("BODYSTRUCTURE") && uid == POISON_UID {
                        // Unparsable: the client's session dies here.
                        out.extend(format!("* {uid} FETCH (UID {uid} BODYSTRUCTURE (\"text\" ((( \"plain\")) ]] garbage)\r\n").bytes());
                        continue;
                    }
                    if items.contains("BODY.PEEK[HEADER]") {
                        let header = header_of(raw);
                        let structure = if items.contains("BODYSTRUCTURE") {
                            "BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 1 NIL NIL NIL NIL) "
                        } else {
                            ""
                        };
                        out.extend(format!(
                            "* {uid} FETCH (UID {uid} INTERNALDATE \"01-Dec-2026 09:00:00 +0000\" RFC822.SIZE {} {structure}BODY[HEADER] {{{}}}\r\n",
                            raw.len(), header.len()
                        ).bytes());
                        out.extend_from_slice(header);
                        out.extend(b")\r\n");
                    } else {
                        out.extend(format!("* {uid} FETCH (UID {uid} BODY[]<0> {{{}}}\r\n", raw.len()).bytes());
                        out.extend_from_slice(raw);
                        out.extend(b")\r\n");
                    }
                }
                out.extend(format!("{tag} OK done\r\n").bytes());
            }
            _ => out.extend(format!("{tag} BAD unknown\r\n").bytes()),
        }
        if w.write_all(&out).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn an_unreadable_message_does_not_stall_its_folder() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let messages = Arc::new(messages());
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(socket, messages.clone()));
        }
    });

    let settings = ImapSettings {
        host: "127.0.0.1".into(),
        port,
        tls: TlsMode::None,
        ca_file: None,
        username: "alice".into(),
        auth: Auth::Password {
            password: Secret::new("pw"),
            mechanism: PasswordMechanism::Login,
        },
        folders: Folders {
            watch: vec![FolderRef::Name("INBOX".into())],
            sent: None,
        },
        poll_interval: Duration::from_secs(60),
        idle: true,
        allow_plaintext_remote: false,
        connect_timeout: Duration::from_secs(5),
    };
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(Config {
        store: StoreConfig::Sqlite {
            path: dir.path().join("state.db"),
        },
        sync: SyncConfig {
            max_message_bytes: 10 * 1024 * 1024,
            idle_renew: Duration::from_secs(1200),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_millis(200),
            login_interval: Duration::from_millis(50),
            sent_backfill: Duration::from_secs(86_400),
            shutdown_grace: Duration::from_secs(2),
        },
        callback: CallbackConfig::Stdout,
        policy: Default::default(),
        retention: Default::default(),
        api: None,
        inboxes: vec![InboxConfig {
            id: "alice".into(),
            account: "acme".into(),
            provider: Provider::Imap,
            address: None,
            enabled: true,
            backfill: None,
            track_sent_folder: false,
            source: Source::Imap(settings),
        }],
    });
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("state.db"))
            .await
            .unwrap(),
    );
    let (sink, mut rx) = Sink::channel();
    let supervisor = Supervisor::new(config, store, sink);
    let mode = Mode {
        once: true,
        backfill: Some(Duration::from_secs(86_400)),
        progress: false,
    };
    let outcomes = tokio::time::timeout(
        Duration::from_secs(30),
        supervisor.run(mode, CancellationToken::new()),
    )
    .await
    .expect("the sync got stuck");
    drop(supervisor);
    assert_eq!(outcomes[0].error, None, "{outcomes:?}");
    assert_eq!(outcomes[0].messages, 3);
    let mut found = Vec::new();
    while let Some(batch) = rx.recv().await {
        found.extend(batch.findings);
    }
    let uids: Vec<u32> = found.iter().map(|f| f.envelope.uid).collect();
    assert_eq!(
        uids,
        vec![2, 3],
        "the unreadable message and the one after it are both found"
    );
    assert_eq!(found[0].report.recipients[0].address, "bob@example.net");
    assert!(
        connections.load(Ordering::SeqCst) >= 3,
        "it took reconnects to isolate the message"
    );
}
