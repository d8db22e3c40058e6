//! Configuration loading as the service and `rebound check-config` see it:
//! real files in temporary directories, environment injected through
//! `Config::from_yaml_str` (or the process environment of the built binary).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use rebound::config::{
    Auth, CallbackConfig, Config, Errors, FolderRef, ImapSettings, MaildirSettings, OAuth2Settings,
    OAuthMechanism, PasswordMechanism, Provider, Source, StoreConfig, SyncConfig, TlsMode,
};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_rebound");

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml")
}

/// An environment made of the given pairs only.
fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn put(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&path, content).unwrap();
    path
}

fn load(yaml: &str, dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Errors> {
    Config::from_yaml_str(yaml, dir, env)
}

/// The problems of a configuration that must not load, as `path: message`.
fn problems(yaml: &str, dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    match load(yaml, dir, env) {
        Ok(config) => panic!("loaded, expected problems:\n{yaml}\n{config:?}"),
        Err(errors) => errors
            .0
            .iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect(),
    }
}

fn has(list: &[String], path: &str, needle: &str) -> bool {
    list.iter()
        .any(|p| p.starts_with(&format!("{path}: ")) && p.contains(needle))
}

fn imap(source: &Source) -> &ImapSettings {
    match source {
        Source::Imap(imap) => imap,
        Source::Maildir(_) => panic!("expected an IMAP source"),
    }
}

fn maildir(source: &Source) -> &MaildirSettings {
    match source {
        Source::Maildir(maildir) => maildir,
        Source::Imap(_) => panic!("expected a Maildir source"),
    }
}

fn oauth(imap: &ImapSettings) -> &OAuth2Settings {
    match &imap.auth {
        Auth::OAuth2(oauth) => oauth,
        Auth::Password { .. } => panic!("expected OAuth2"),
    }
}

fn name(n: &str) -> FolderRef {
    FolderRef::Name(n.into())
}

fn special(n: &str) -> FolderRef {
    FolderRef::SpecialUse(n.into())
}

const FULL: &str = r#"
store: { kind: sqlite, path: state/rebound.db }
callback: { kind: file, path: events.jsonl }
sync: { max_message_bytes: 5242880, idle_renew: 25m, backoff_initial: 500ms, backoff_max: 2m,
        login_interval: 30, sent_backfill: 14d, shutdown_grace: 3s }
inboxes:
  - id: alice-gmail
    account: acme
    provider: gmail
    username: alice@acme.example
    auth: { kind: oauth2, client_id: "1234.apps.googleusercontent.com",
            client_secret: "${GOOGLE_CLIENT_SECRET}", refresh_token_file: secrets/alice.token }
    folders: { watch: [INBOX, "\\Junk"], sent: "\\Sent" }
    poll_interval: 45s
    idle: false
    backfill: 30d
  - id: bob-o365
    account: acme
    provider: office365
    tenant: contoso.onmicrosoft.com
    username: bob@contoso.example
    address: robert@contoso.example
    auth: { kind: oauth2, client_id: "o365-client", refresh_token: "${BOB_REFRESH}" }
  - id: carol-imap
    account: acme
    provider: imap
    host: mail.acme.example
    port: 1143
    tls: starttls
    ca_file: certs/acme-ca.pem
    username: carol
    connect_timeout: 5s
    auth: { kind: password, password: "${CAROL_PW}", mechanism: login }
    folders: [INBOX, Bounces]
    sent: Sent Items
  - id: demo
    account: demo
    provider: maildir
    path: demo/maildir
    folders: [INBOX, Junk]
    sent: Sent
  - id: dave-local
    account: acme
    provider: gmail
    enabled: false
    track_sent_folder: false
    host: 127.0.0.1
    port: 10143
    tls: none
    username: dave@acme.example
    auth:
      kind: oauth2
      client_id: local
      refresh_token: r
      token_url: http://127.0.0.1:8080/token
      scopes: [imap]
      mechanism: OAUTHBEARER
"#;

fn full_env() -> impl Fn(&str) -> Option<String> {
    env_of(&[
        ("GOOGLE_CLIENT_SECRET", "g-secret-123"),
        ("BOB_REFRESH", "bob-refresh-456"),
        ("CAROL_PW", "carol-pw-789"),
    ])
}

#[test]
fn all_four_providers_resolve_with_presets_and_overrides() {
    let dir = TempDir::new().unwrap();
    let base = dir.path();
    put(base, "secrets/alice.token", "alice-refresh-000\n");
    let config = load(FULL, base, &full_env()).unwrap();

    assert_eq!(
        config.store,
        StoreConfig::Sqlite {
            path: base.join("state/rebound.db")
        }
    );
    assert_eq!(
        config.callback,
        CallbackConfig::File {
            path: base.join("events.jsonl")
        }
    );
    assert_eq!(
        config.sync,
        SyncConfig {
            max_message_bytes: 5_242_880,
            idle_renew: Duration::from_secs(25 * 60),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(120),
            login_interval: Duration::from_secs(30),
            sent_backfill: Duration::from_secs(14 * 86_400),
            shutdown_grace: Duration::from_secs(3),
        }
    );
    assert_eq!(config.inboxes.len(), 5);

    // Gmail: the preset, with the folders and timings given.
    let alice = &config.inboxes[0];
    assert_eq!(
        (alice.id.as_str(), alice.account.as_str()),
        ("alice-gmail", "acme")
    );
    assert_eq!(alice.provider, Provider::Gmail);
    assert_eq!(alice.address.as_deref(), Some("alice@acme.example"));
    assert!(alice.enabled && alice.track_sent_folder);
    assert_eq!(alice.backfill, Some(Duration::from_secs(30 * 86_400)));
    let a = imap(&alice.source);
    assert_eq!(
        (a.host.as_str(), a.port, a.tls),
        ("imap.gmail.com", 993, TlsMode::Implicit)
    );
    assert_eq!(a.username, "alice@acme.example");
    assert_eq!(a.poll_interval, Duration::from_secs(45));
    assert!(!a.idle);
    assert_eq!(a.folders.watch, vec![name("INBOX"), special("\\Junk")]);
    assert_eq!(a.folders.sent, Some(special("\\Sent")));
    let ao = oauth(a);
    assert_eq!(ao.client_id, "1234.apps.googleusercontent.com");
    assert_eq!(ao.client_secret.as_ref().unwrap().expose(), "g-secret-123");
    assert_eq!(ao.refresh_token.expose(), "alice-refresh-000");
    assert_eq!(ao.token_url, "https://oauth2.googleapis.com/token");
    assert_eq!(ao.scopes, vec!["https://mail.google.com/"]);
    assert_eq!(ao.mechanism, Some(OAuthMechanism::Xoauth2));

    // Office 365: the tenant goes into the token URL; address overrides username.
    let bob = &config.inboxes[1];
    assert_eq!(bob.provider, Provider::Office365);
    assert_eq!(bob.address.as_deref(), Some("robert@contoso.example"));
    assert_eq!(bob.backfill, None);
    let b = imap(&bob.source);
    assert_eq!(
        (b.host.as_str(), b.port, b.tls),
        ("outlook.office365.com", 993, TlsMode::Implicit)
    );
    assert_eq!(b.poll_interval, Duration::from_secs(60));
    assert!(b.idle);
    assert_eq!(b.connect_timeout, Duration::from_secs(30));
    assert_eq!(b.folders.watch, vec![name("INBOX"), special("\\Junk")]);
    let bo = oauth(b);
    assert_eq!(
        bo.token_url,
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    );
    assert_eq!(
        bo.scopes,
        vec![
            "https://outlook.office.com/IMAP.AccessAsUser.All",
            "offline_access"
        ]
    );
    assert!(bo.client_secret.is_none());
    assert_eq!(bo.refresh_token.expose(), "bob-refresh-456");

    // Plain IMAP with a password.
    let carol = &config.inboxes[2];
    assert_eq!(carol.address, None, "carol is not an address");
    let c = imap(&carol.source);
    assert_eq!(
        (c.host.as_str(), c.port, c.tls),
        ("mail.acme.example", 1143, TlsMode::Starttls)
    );
    assert_eq!(
        c.ca_file.as_deref(),
        Some(base.join("certs/acme-ca.pem").as_path())
    );
    assert_eq!(c.connect_timeout, Duration::from_secs(5));
    assert!(!c.allow_plaintext_remote);
    match &c.auth {
        Auth::Password {
            password,
            mechanism,
        } => {
            assert_eq!(password.expose(), "carol-pw-789");
            assert_eq!(*mechanism, PasswordMechanism::Login);
        }
        Auth::OAuth2(_) => panic!("expected a password"),
    }
    assert_eq!(c.folders.watch, vec![name("INBOX"), name("Bounces")]);
    assert_eq!(c.folders.sent, Some(name("Sent Items")));

    // Maildir.
    let demo = &config.inboxes[3];
    assert_eq!(demo.provider, Provider::Maildir);
    let d = maildir(&demo.source);
    assert_eq!(d.path, base.join("demo/maildir"));
    assert_eq!(d.folders, vec!["INBOX", "Junk"]);
    assert_eq!(d.sent.as_deref(), Some("Sent"));
    assert_eq!(d.poll_interval, Duration::from_secs(10));

    // Every preset value overridden, on loopback so that tls none is accepted.
    let dave = &config.inboxes[4];
    assert!(!dave.enabled && !dave.track_sent_folder);
    let v = imap(&dave.source);
    assert_eq!(
        (v.host.as_str(), v.port, v.tls),
        ("127.0.0.1", 10143, TlsMode::None)
    );
    assert_eq!(v.folders.sent, None, "track_sent_folder: false");
    let vo = oauth(v);
    assert_eq!(vo.token_url, "http://127.0.0.1:8080/token");
    assert_eq!(vo.scopes, vec!["imap"]);
    assert_eq!(vo.mechanism, Some(OAuthMechanism::Oauthbearer));
}

#[test]
fn a_minimal_file_takes_every_default() {
    let dir = TempDir::new().unwrap();
    let yaml = "inboxes:\n  - { id: m, account: a, provider: maildir, path: box }\n  - id: i\n    account: a\n    provider: imap\n    host: imap.example.com\n    username: ops@example.com\n    auth: { kind: password, password: pw }\n  - { id: s, account: a, provider: imap, host: h.example, tls: starttls, username: u, auth: { kind: oauth2, client_id: c, refresh_token: t, token_url: 'https://auth.example/token' } }\n";
    let config = load(yaml, dir.path(), &no_env).unwrap();
    assert_eq!(
        config.store,
        StoreConfig::Sqlite {
            path: dir.path().join("rebound.db")
        }
    );
    assert_eq!(config.callback, CallbackConfig::Stdout);
    assert_eq!(
        config.sync,
        SyncConfig {
            max_message_bytes: 10 * 1024 * 1024,
            idle_renew: Duration::from_secs(20 * 60),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            login_interval: Duration::from_secs(10),
            sent_backfill: Duration::from_secs(30 * 86_400),
            shutdown_grace: Duration::from_secs(10),
        }
    );
    let m = &config.inboxes[0];
    assert!(m.enabled && m.track_sent_folder && m.backfill.is_none() && m.address.is_none());
    let md = maildir(&m.source);
    assert_eq!(md.folders, vec!["INBOX", "Junk"]);
    assert_eq!(md.sent.as_deref(), Some("Sent"));
    assert_eq!(md.poll_interval, Duration::from_secs(10));

    let i = &config.inboxes[1];
    assert_eq!(
        i.address.as_deref(),
        Some("ops@example.com"),
        "username as address"
    );
    let im = imap(&i.source);
    assert_eq!((im.port, im.tls), (993, TlsMode::Implicit));
    assert_eq!(im.folders.watch, vec![name("INBOX"), special("\\Junk")]);
    assert_eq!(im.folders.sent, Some(special("\\Sent")));
    assert_eq!(im.poll_interval, Duration::from_secs(60));
    assert_eq!(im.connect_timeout, Duration::from_secs(30));
    assert!(im.idle && !im.allow_plaintext_remote && im.ca_file.is_none());
    assert!(matches!(
        im.auth,
        Auth::Password {
            mechanism: PasswordMechanism::Plain,
            ..
        }
    ));

    let s = imap(&config.inboxes[2].source);
    assert_eq!(s.port, 143, "starttls defaults to 143");
    let so = oauth(s);
    assert!(so.scopes.is_empty());
    assert_eq!(so.mechanism, None, "no preset: picked at login");
}

#[test]
fn an_empty_file_or_list_is_zero_inboxes() {
    let dir = TempDir::new().unwrap();
    for yaml in ["", "inboxes: []\n", "inboxes:\n", "# nothing\n"] {
        let config = load(yaml, dir.path(), &no_env).unwrap();
        assert!(config.inboxes.is_empty(), "{yaml:?}");
    }
}

/// One inbox's worth of YAML around a field under test.
fn imap_inbox(extra: &str) -> String {
    format!(
        "inboxes:\n  - id: x\n    account: acme\n    provider: imap\n    host: mail.example.com\n    username: u\n    auth: {{ kind: password, password: pw }}\n{extra}"
    )
}

#[test]
fn every_kind_of_problem_is_reported_at_its_path() {
    let dir = TempDir::new().unwrap();
    put(dir.path(), "empty.secret", "\n");
    let gmail = |auth: &str| {
        format!(
            "inboxes:\n  - {{ id: g, account: a, provider: gmail, username: g@x.example, auth: {auth} }}\n"
        )
    };
    let cases: Vec<(String, &str, &str)> = vec![
        // Structure: unknown fields, types, enum values.
        ("web: {}\n".into(), "web", "unknown field `web`"),
        ("api: {}\n".into(), "api.token", "missing"),
        (imap_inbox("    hots: x\n"), "inboxes[0].hots", "unknown field `hots`, expected one of"),
        (gmail("{ kind: oauth2, client_idd: c }"), "inboxes[0].auth.client_idd", "unknown field `client_idd`"),
        ("store: { kind: postgres }\n".into(), "store.kind", "unknown variant `postgres`"),
        ("callback: { kind: smtp }\n".into(), "callback.kind", "unknown variant `smtp`"),
        ("callback: { kind: http }\n".into(), "callback.url", "missing"),
        ("inboxes:\n  - { id: x, account: a, provider: gmial }\n".into(), "inboxes[0].provider", "unknown variant `gmial`"),
        (imap_inbox("    tls: ssl\n"), "inboxes[0].tls", "unknown variant `ssl`"),
        (gmail("{ kind: token }"), "inboxes[0].auth.kind", "unknown variant `token`"),
        (imap_inbox("    port: nine\n"), "inboxes[0].port", "expected u16"),
        (imap_inbox("    port: 70000\n"), "inboxes[0].port", "expected u16"),
        (imap_inbox("    port: 0\n"), "inboxes[0].port", "between 1 and 65535"),
        (imap_inbox("    idle: maybe\n"), "inboxes[0].idle", "expected a boolean"),
        (imap_inbox("    poll_interval: 3w\n"), "inboxes[0].poll_interval", "unknown unit"),
        (imap_inbox("    poll_interval: 0s\n"), "inboxes[0].poll_interval", "greater than 0"),
        ("inboxes: { id: x }\n".into(), "inboxes", "expected a list"),
        ("inboxes:\n  - \n".into(), "inboxes[0]", "empty entry"),
        ("- a\n".into(), "", "must be a mapping"),
        // Required fields.
        ("inboxes:\n  - { account: a, provider: maildir, path: p }\n".into(), "inboxes[0].id", "missing"),
        ("inboxes:\n  - { id: x, provider: maildir, path: p }\n".into(), "inboxes[0].account", "missing"),
        ("inboxes:\n  - { id: x, account: a }\n".into(), "inboxes[0].provider", "missing"),
        ("inboxes:\n  - { id: x, account: a, provider: imap, username: u, auth: { kind: password, password: p } }\n".into(), "inboxes[0].host", "needs a host"),
        ("inboxes:\n  - { id: x, account: a, provider: maildir }\n".into(), "inboxes[0].path", "needs a path"),
        ("inboxes:\n  - { id: x, account: a, provider: gmail, auth: { kind: oauth2, client_id: c, refresh_token: t } }\n".into(), "inboxes[0].username", "missing"),
        ("inboxes:\n  - { id: x, account: a, provider: gmail, username: u@x.example }\n".into(), "inboxes[0].auth", "needs auth"),
        (gmail("{ client_id: c, refresh_token: t }"), "inboxes[0].auth.kind", "missing"),
        (gmail("{ kind: oauth2, refresh_token: t }"), "inboxes[0].auth.client_id", "missing"),
        (gmail("{ kind: oauth2, client_id: c }"), "inboxes[0].auth.refresh_token", "missing"),
        (gmail("{ kind: password }"), "inboxes[0].auth.password", "missing"),
        ("callback: { kind: file }\n".into(), "callback.path", "needs a path"),
        // Provider-specific rules.
        (format!("{}    tenant: contoso\n", imap_inbox("")), "inboxes[0].tenant", "only provider office365"),
        ("inboxes:\n  - { id: o, account: a, provider: office365, tenant: 'a/b', username: u@x.example, auth: { kind: oauth2, client_id: c, refresh_token: t } }\n".into(), "inboxes[0].tenant", "is not a tenant"),
        ("inboxes:\n  - { id: o, account: a, provider: office365, username: u@x.example, auth: { kind: password, password: p } }\n".into(), "inboxes[0].auth.kind", "use kind oauth2"),
        ("inboxes:\n  - { id: m, account: a, provider: maildir, path: p, host: h }\n".into(), "inboxes[0].host", "not used by provider maildir"),
        ("inboxes:\n  - { id: m, account: a, provider: maildir, path: p, backfill: 3d }\n".into(), "inboxes[0].backfill", "not used by provider maildir"),
        (imap_inbox("    path: /srv/mail\n"), "inboxes[0].path", "not used by provider imap"),
        (imap_inbox("    host: 'imaps://mail.example.com'\n").replace("    host: mail.example.com\n", ""), "inboxes[0].host", "is not a host name"),
        ("inboxes:\n  - { id: i, account: a, provider: imap, host: h.example, username: u, auth: { kind: oauth2, client_id: c, refresh_token: t } }\n".into(), "inboxes[0].auth.token_url", "give token_url"),
        (gmail("{ kind: oauth2, client_id: c, refresh_token: t, token_url: 'http://auth.example.com/t' }"), "inboxes[0].auth.token_url", "plain http"),
        (gmail("{ kind: oauth2, client_id: c, refresh_token: t, mechanism: login }"), "inboxes[0].auth.mechanism", "password mechanism"),
        (imap_inbox("").replace("password: pw }", "password: pw, mechanism: xoauth2 }"), "inboxes[0].auth.mechanism", "OAuth2 mechanism"),
        (imap_inbox("").replace("password: pw }", "password: pw, client_id: c }"), "inboxes[0].auth.client_id", "not used with kind password"),
        (gmail("{ kind: oauth2, client_id: c, refresh_token: t, scopes: ['a b'] }"), "inboxes[0].auth.scopes[0]", "without spaces"),
        // The TLS rule.
        (imap_inbox("    tls: none\n"), "inboxes[0].tls", "only accepted for a loopback host"),
        // Names.
        ("inboxes:\n  - { id: 'a b', account: a, provider: maildir, path: p }\n".into(), "inboxes[0].id", "not a valid name"),
        ("inboxes:\n  - { id: x, account: '-a', provider: maildir, path: p }\n".into(), "inboxes[0].account", "not a valid name"),
        (imap_inbox("    address: nobody\n"), "inboxes[0].address", "not an email address"),
        ("inboxes:\n  - { id: x, account: a, provider: maildir, path: p }\n  - { id: y, account: a, provider: maildir, path: q }\n  - { id: x, account: b, provider: maildir, path: r }\n".into(), "inboxes[2].id", "duplicate id \"x\" (also inboxes[0])"),
        // Folders.
        (imap_inbox("    folders: [INBOX, '\\Spam']\n"), "inboxes[0].folders[1]", "unknown special-use attribute"),
        (imap_inbox("    folders: [INBOX, inbox]\n"), "inboxes[0].folders[1]", "listed twice"),
        (imap_inbox("    folders: []\n"), "inboxes[0].folders", "lists no folder"),
        (imap_inbox("    folders: { watch: [INBOX], sent: INBOX }\n"), "inboxes[0].folders.sent", "also watched"),
        (imap_inbox("    folders: { sent: X }\n    sent: Y\n"), "inboxes[0].sent", "give the sent folder once"),
        (imap_inbox("    folders: { wach: [INBOX] }\n"), "inboxes[0].folders.wach", "unknown field `wach`"),
        (imap_inbox("    sent: Sent\n    track_sent_folder: false\n"), "inboxes[0].sent", "track_sent_folder is false"),
        ("inboxes:\n  - { id: m, account: a, provider: maildir, path: p, folders: ['\\Junk'] }\n".into(), "inboxes[0].folders[0]", "special-use attributes are for IMAP"),
        ("inboxes:\n  - { id: m, account: a, provider: maildir, path: p, folders: [.Junk] }\n".into(), "inboxes[0].folders[0]", "not a Maildir++ folder name"),
        // Sync.
        ("sync: { idle_renew: 29m }\n".into(), "sync.idle_renew", "RFC 2177"),
        ("sync: { idle_renew: 0s }\n".into(), "sync.idle_renew", "greater than 0"),
        ("sync: { backoff_initial: 10s, backoff_max: 5s }\n".into(), "sync.backoff_max", "not be shorter"),
        ("sync: { max_message_bytes: 0 }\n".into(), "sync.max_message_bytes", "greater than 0"),
        ("sync: { shutdown_grace: -1 }\n".into(), "sync.shutdown_grace", "must not be negative"),
        ("sync: { login_interval: soon }\n".into(), "sync.login_interval", "invalid duration"),
        ("store: { path: '' }\n".into(), "store.path", "is empty"),
        // Secrets.
        (imap_inbox("").replace("password: pw }", "password: '${NOPE}' }"), "inboxes[0].auth.password", "environment variable NOPE is not set"),
        (imap_inbox("").replace("password: pw }", "password: pw, password_file: pw.txt }"), "inboxes[0].auth.password_file", "not both"),
        (imap_inbox("").replace("password: pw }", "password_file: missing.txt }"), "inboxes[0].auth.password_file", "cannot open"),
        (imap_inbox("").replace("password: pw }", "password_file: empty.secret }"), "inboxes[0].auth.password_file", "is empty"),
        (imap_inbox("").replace("password: pw }", "password: '' }"), "inboxes[0].auth.password", "is empty"),
        (gmail("{ kind: oauth2, client_id: c, refresh_token: t, client_secret: s, client_secret_file: f }"), "inboxes[0].auth.client_secret_file", "not both"),
        (imap_inbox("").replace("password: pw }", "password: 918273645 }"), "inboxes[0].auth.password", "must be a string"),
    ];
    let mut failures = Vec::new();
    for (yaml, path, needle) in &cases {
        let list = problems(yaml, dir.path(), &no_env);
        if !has(&list, path, needle) {
            failures.push(format!(
                "expected `{path}: ...{needle}...` from\n{yaml}got {list:#?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn anchors_and_merge_keys_share_settings() {
    let dir = TempDir::new().unwrap();
    let yaml = r#"
x-google: &google
  kind: oauth2
  client_id: shared-client
  client_secret: "${SHARED_SECRET}"
inboxes:
  - id: a
    account: acme
    provider: gmail
    username: a@acme.example
    auth: { <<: *google, refresh_token: ra }
  - id: b
    account: acme
    provider: gmail
    username: b@acme.example
    auth: { <<: *google, refresh_token: rb }
"#;
    let env = env_of(&[("SHARED_SECRET", "s")]);
    let config = load(yaml, dir.path(), &env).unwrap_or_else(|e| panic!("{e}"));
    let a = oauth(imap(&config.inboxes[0].source));
    let b = oauth(imap(&config.inboxes[1].source));
    assert_eq!(
        (a.client_id.as_str(), b.client_id.as_str()),
        ("shared-client", "shared-client")
    );
    assert_eq!(b.client_secret.as_ref().unwrap().expose(), "s");
    assert_eq!(
        (a.refresh_token.expose(), b.refresh_token.expose()),
        ("ra", "rb")
    );

    // Other unknown top-level keys stay errors.
    let list = problems(&yaml.replace("x-google", "google"), dir.path(), &env);
    assert!(has(&list, "google", "unknown field `google`"), "{list:#?}");
}

#[test]
fn allowed_plaintext_hosts() {
    let dir = TempDir::new().unwrap();
    for host in ["localhost", "127.0.0.1", "127.3.2.1", "'::1'", "'[::1]'"] {
        let yaml = imap_inbox("    tls: none\n")
            .replace("host: mail.example.com", &format!("host: {host}"));
        let config = load(&yaml, dir.path(), &no_env).unwrap_or_else(|e| panic!("{host}: {e}"));
        let settings = imap(&config.inboxes[0].source);
        assert_eq!(settings.port, 143, "{host}");
        assert_eq!(
            settings.host,
            host.trim_matches(['\'', '[', ']']),
            "kept bare"
        );
    }
    let forced = imap_inbox("    tls: none\n    allow_plaintext_remote: true\n");
    let config = load(&forced, dir.path(), &no_env).unwrap();
    assert!(imap(&config.inboxes[0].source).allow_plaintext_remote);
}

#[test]
fn one_run_reports_every_problem_grouped_by_section() {
    let dir = TempDir::new().unwrap();
    let yaml = r#"
store: { kind: sqlite, paht: x.db }
sync: { idle_renew: 45m, backoff_max: soon, colour: blue }
policy: { soft_bounce_threshold: 0, pending_expiry: 0s, colour: red }
web: {}
inboxes:
  - id: a
    account: acme
    provider: imap
    host: mail.example.com
    tls: none
    username: u
    auth: { kind: password, password: "${MISSING_PW}", mechanism: cram }
  - id: a
    account: acme
    provider: gmail
    tenant: t
    username: a@acme.example
    auth: { kind: oauth2, client_id: c }
"#;
    let list = problems(yaml, dir.path(), &no_env);
    let expected = [
        ("store.paht", "unknown field `paht`"),
        ("sync.backoff_max", "invalid duration"),
        ("sync.colour", "unknown field `colour`"),
        ("sync.idle_renew", "RFC 2177"),
        ("inboxes[0].auth.password", "MISSING_PW is not set"),
        ("inboxes[0].auth.mechanism", "unknown variant `cram`"),
        ("inboxes[0].tls", "loopback"),
        ("inboxes[1].id", "duplicate id \"a\" (also inboxes[0])"),
        ("inboxes[1].tenant", "only provider office365"),
        ("inboxes[1].auth.refresh_token", "missing"),
        ("policy.colour", "unknown field `colour`"),
        ("policy.soft_bounce_threshold", "at least 1"),
        ("policy.pending_expiry", "greater than 0"),
        ("web", "unknown field `web`"),
    ];
    for (path, needle) in expected {
        assert!(
            has(&list, path, needle),
            "missing {path}: {needle} in {list:#?}"
        );
    }
    assert_eq!(list.len(), expected.len(), "{list:#?}");
    // Grouped as the file is: store, sync, policy, inbox 0, inbox 1,
    // unknown sections last.
    let position = |path: &str| list.iter().position(|p| p.starts_with(path)).unwrap();
    assert!(position("store.") < position("sync."));
    assert!(position("sync.") < position("policy."));
    assert!(position("policy.") < position("inboxes[0]"));
    assert!(position("inboxes[0]") < position("inboxes[1]"));
    assert!(position("inboxes[1]") < position("web"));
}

#[test]
fn syntax_and_field_errors_carry_line_and_column() {
    let dir = TempDir::new().unwrap();
    let broken = "inboxes:\n  - id: a\n    account: [b\n";
    let errors = load(broken, dir.path(), &no_env).unwrap_err();
    assert_eq!(errors.0.len(), 1);
    let problem = &errors.0[0];
    assert_eq!(problem.path, "");
    assert!(problem.message.starts_with("invalid YAML"), "{problem}");
    assert!(problem.message.contains("line 4 column 1"), "{problem}");
    assert!(problem.location.is_some());

    let duplicate = "inboxes:\n  - id: a\n    id: b\n";
    let errors = load(duplicate, dir.path(), &no_env).unwrap_err();
    assert!(
        errors.0[0]
            .message
            .contains("duplicate entry with key \"id\""),
        "{errors}"
    );

    let typo = "sync:\n  idle_renew: 20m\ninboxes:\n  - id: a\n    account: b\n    provider: maildir\n    path: p\n    pth: q\n";
    let errors = load(typo, dir.path(), &no_env).unwrap_err();
    let problem = &errors.0[0];
    assert_eq!(problem.path, "inboxes[0].pth");
    let at = problem.location.expect("a location");
    assert_eq!((at.line, at.column), (8, 5));
    assert!(
        problem.to_string().ends_with("(line 8, column 5)"),
        "{problem}"
    );
}

#[test]
fn environment_references_expand_anywhere_in_a_string() {
    let dir = TempDir::new().unwrap();
    let env = env_of(&[("REGION", "eu"), ("PW", "p@$$w0rd"), ("ACCOUNT", "acme")]);
    let yaml = imap_inbox("")
        .replace("mail.example.com", "imap-${REGION}.example.com")
        .replace("account: acme", "account: \"${ACCOUNT}\"")
        .replace("password: pw }", "password: \"${PW}\" }")
        .replace("username: u", "username: \"literal-$${REGION}\"");
    let config = load(&yaml, dir.path(), &env).unwrap();
    let inbox = &config.inboxes[0];
    assert_eq!(inbox.account, "acme");
    let i = imap(&inbox.source);
    assert_eq!(i.host, "imap-eu.example.com");
    assert_eq!(i.username, "literal-${REGION}");
    match &i.auth {
        Auth::Password { password, .. } => assert_eq!(password.expose(), "p@$$w0rd"),
        Auth::OAuth2(_) => panic!("expected a password"),
    }

    let unset = problems(
        &yaml,
        dir.path(),
        &env_of(&[("REGION", "eu"), ("ACCOUNT", "acme")]),
    );
    assert_eq!(
        unset,
        vec!["inboxes[0].auth.password: environment variable PW is not set"]
    );
}

#[test]
fn secret_files_are_read_relative_to_the_config_and_trimmed() {
    let dir = TempDir::new().unwrap();
    let base = dir.path();
    put(base, "secrets/pw", "pw-from-file\r\n");
    let absolute = put(base, "elsewhere/refresh", "refresh-from-file\n\n");
    put(base, "secrets/client", "client-from-file");
    let yaml = format!(
        "inboxes:\n  - id: p\n    account: a\n    provider: imap\n    host: h.example\n    username: u\n    auth: {{ kind: password, password_file: secrets/pw }}\n  - id: o\n    account: a\n    provider: gmail\n    username: o@x.example\n    auth: {{ kind: oauth2, client_id: c, client_secret_file: secrets/client, refresh_token_file: '{}' }}\n",
        absolute.display()
    );
    let config = load(&yaml, base, &no_env).unwrap();
    match &imap(&config.inboxes[0].source).auth {
        Auth::Password { password, .. } => assert_eq!(password.expose(), "pw-from-file"),
        Auth::OAuth2(_) => panic!("expected a password"),
    }
    let o = oauth(imap(&config.inboxes[1].source));
    assert_eq!(o.refresh_token.expose(), "refresh-from-file");
    assert_eq!(
        o.client_secret.as_ref().unwrap().expose(),
        "client-from-file"
    );

    // From another base directory the relative file is not found, and the
    // problem names the path it tried.
    let other = TempDir::new().unwrap();
    let list = problems(&yaml, other.path(), &no_env);
    assert!(
        has(
            &list,
            "inboxes[0].auth.password_file",
            &other.path().join("secrets/pw").display().to_string()
        ),
        "{list:#?}"
    );
}

#[test]
fn relative_paths_resolve_against_the_config_file_directory() {
    let dir = TempDir::new().unwrap();
    let yaml = "store: { path: data/state.db }\ncallback: { kind: file, path: /var/log/rebound/events.jsonl }\ninboxes:\n  - { id: m, account: a, provider: maildir, path: ../mail/box }\n  - { id: i, account: a, provider: imap, host: h.example, ca_file: ca.pem, username: u, auth: { kind: password, password_file: pw } }\n";
    let conf_dir = dir.path().join("etc");
    let file = put(&conf_dir, "rebound.yaml", yaml);
    put(&conf_dir, "pw", "secret\n");
    // Through load: the file's own directory, whatever the working directory.
    let config = Config::load(&file).unwrap();
    assert_eq!(
        config.store,
        StoreConfig::Sqlite {
            path: conf_dir.join("data/state.db")
        }
    );
    assert_eq!(
        config.callback,
        CallbackConfig::File {
            path: PathBuf::from("/var/log/rebound/events.jsonl")
        }
    );
    assert_eq!(
        maildir(&config.inboxes[0].source).path,
        conf_dir.join("../mail/box")
    );
    assert_eq!(
        imap(&config.inboxes[1].source).ca_file,
        Some(conf_dir.join("ca.pem"))
    );
    // Paths are not checked for existence: the maildir and ca.pem do not exist.
    assert!(!conf_dir.join("../mail/box").exists());
}

#[test]
fn debug_output_and_problems_never_show_a_secret() {
    let dir = TempDir::new().unwrap();
    put(dir.path(), "secrets/alice.token", "alice-refresh-000\n");
    let config = load(FULL, dir.path(), &full_env()).unwrap();
    let debug = format!("{config:?} {config:#?}");
    for secret in [
        "g-secret-123",
        "bob-refresh-456",
        "carol-pw-789",
        "alice-refresh-000",
    ] {
        assert!(!debug.contains(secret), "{secret} in Debug output");
    }
    assert!(debug.contains("[redacted]"));
    // The non-secret parts are there, so the check above looked at real output.
    assert!(debug.contains("imap.gmail.com") && debug.contains("o365-client"));

    let wrong_type = imap_inbox("").replace("password: pw }", "password: 918273645 }");
    let errors = load(&wrong_type, dir.path(), &no_env).unwrap_err();
    assert!(!errors.to_string().contains("918273645"), "{errors}");
}

#[test]
fn the_example_configuration_loads() {
    let config =
        Config::load(&example_path()).unwrap_or_else(|e| panic!("config.example.yaml:\n{e}"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        config.store,
        StoreConfig::Sqlite {
            path: root.join("rebound.db")
        }
    );
    assert_eq!(config.callback, CallbackConfig::Stdout);
    assert_eq!(config.inboxes.len(), 1);
    let demo = &config.inboxes[0];
    assert_eq!(
        (demo.id.as_str(), demo.account.as_str(), demo.provider),
        ("demo", "demo", Provider::Maildir)
    );
    assert!(demo.enabled);
    let m = maildir(&demo.source);
    assert_eq!(m.path, root.join("demo/maildir"));
    assert_eq!(m.folders, vec!["INBOX", "Junk"]);
    assert_eq!(m.sent.as_deref(), Some("Sent"));
}

/// The commented-out inboxes of the example, uncommented: each block starts
/// at a `  # - id:` line and runs while lines keep the `  #` prefix.
fn commented_examples() -> Vec<String> {
    let text = fs::read_to_string(example_path()).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("  # - id:") {
            if let Some(block) = current.take() {
                blocks.push(block);
            }
            current = Some(String::new());
        }
        let Some(block) = current.as_mut() else {
            continue;
        };
        match line.strip_prefix("  # ") {
            Some(rest) if !rest.starts_with("---") => {
                block.push_str("  ");
                block.push_str(rest);
                block.push('\n');
            }
            _ if line == "  #" => {}
            _ => blocks.extend(current.take()),
        }
    }
    blocks.extend(current);
    blocks
}

#[test]
fn the_commented_examples_are_valid_when_uncommented() {
    let dir = TempDir::new().unwrap();
    put(dir.path(), "secrets/alice.token", "t\n");
    let blocks = commented_examples();
    assert_eq!(
        blocks.len(),
        3,
        "gmail, office365 and imap examples: {blocks:#?}"
    );
    let env = env_of(&[
        ("GOOGLE_CLIENT_SECRET", "g"),
        ("BOB_REFRESH_TOKEN", "b"),
        ("CAROL_IMAP_PASSWORD", "c"),
    ]);
    let yaml = format!("inboxes:\n{}", blocks.concat());
    let config = load(&yaml, dir.path(), &env).unwrap_or_else(|e| panic!("{yaml}\n{e}"));
    let providers: Vec<Provider> = config.inboxes.iter().map(|i| i.provider).collect();
    assert_eq!(
        providers,
        vec![Provider::Gmail, Provider::Office365, Provider::Imap]
    );
}

fn check_config(file: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command.arg("check-config").arg(file);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

#[test]
fn check_config_prints_a_summary_and_exits_0() {
    let out = check_config(&example_path(), &[]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok, 1 inbox"), "{stdout}");
    let line = stdout.lines().find(|l| l.starts_with("inbox ")).unwrap();
    for part in [
        "demo",
        "account=demo",
        "maildir",
        "demo/maildir",
        "auth=none",
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }

    // The process environment feeds ${VAR}; secrets stay out of the output.
    let dir = TempDir::new().unwrap();
    let file = put(
        dir.path(),
        "c.yaml",
        &imap_inbox("").replace("password: pw }", "password: \"${TEST_IMAP_PW}\" }"),
    );
    let out = check_config(&file, &[("TEST_IMAP_PW", "s3cr3t-value")]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("mail.example.com:993") && stdout.contains("auth=password (plain)"),
        "{stdout}"
    );
    assert!(!stdout.contains("s3cr3t-value"));

    // All providers: one line each, the disabled one marked, no secret shown.
    put(dir.path(), "secrets/alice.token", "alice-refresh-000\n");
    let full = put(dir.path(), "full.yaml", FULL);
    let out = check_config(
        &full,
        &[
            ("GOOGLE_CLIENT_SECRET", "g-secret-123"),
            ("BOB_REFRESH", "bob-refresh-456"),
            ("CAROL_PW", "carol-pw-789"),
        ],
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok, 5 inboxes (1 disabled)"), "{stdout}");
    let inbox_lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("inbox ")).collect();
    assert_eq!(inbox_lines.len(), 5, "{stdout}");
    assert!(
        inbox_lines[1].contains("outlook.office365.com:993 tls")
            && inbox_lines[1].contains("office365")
    );
    assert!(
        inbox_lines[2].contains("mail.acme.example:1143 starttls")
            && inbox_lines[2].contains("password (login)")
    );
    assert!(
        inbox_lines[4].ends_with("(disabled)")
            && inbox_lines[4].contains("127.0.0.1:10143 plaintext")
    );
    for secret in [
        "g-secret-123",
        "bob-refresh-456",
        "carol-pw-789",
        "alice-refresh-000",
    ] {
        assert!(!stdout.contains(secret), "{secret} printed");
    }

    let empty = put(dir.path(), "empty.yaml", "inboxes: []\n");
    let out = check_config(&empty, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stdout).unwrap().contains("0 inboxes"));
}

#[test]
fn check_config_lists_every_problem_and_exits_2() {
    let dir = TempDir::new().unwrap();
    let file = put(
        dir.path(),
        "bad.yaml",
        "sync: { idle_renew: 30m }\ninboxes:\n  - { id: a, account: b, provider: imap, username: u, auth: { kind: password, password: \"${UNSET_FOR_TEST}\" } }\n",
    );
    let out = check_config(&file, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(lines[0].starts_with("sync.idle_renew: "), "{stderr}");
    assert!(
        lines.contains(&"inboxes[0].auth.password: environment variable UNSET_FOR_TEST is not set"),
        "{stderr}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("inboxes[0].host: ")),
        "{stderr}"
    );
    assert!(lines[3].contains("3 problems"), "{stderr}");

    let syntax = put(dir.path(), "syntax.yaml", "inboxes: [\n");
    let out = check_config(&syntax, &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("invalid YAML") && stderr.contains("line 2 column 1"),
        "{stderr}"
    );

    let missing = dir.path().join("nope.yaml");
    let out = check_config(&missing, &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("cannot read") && stderr.contains("nope.yaml"),
        "{stderr}"
    );
}

#[test]
fn policy_settings_have_defaults_and_overrides() {
    let dir = TempDir::new().unwrap();
    let base = "inboxes:\n  - { id: d, account: a, provider: maildir, path: m }\n";
    let config = load(base, dir.path(), &no_env).unwrap();
    let p = config.policy.settings();
    assert_eq!(p, rebound::policy::Settings::default());
    assert_eq!(p.soft_bounce_threshold, 3);
    assert_eq!(p.pending_expiry, 72 * 3600);
    assert_eq!(config.policy.matching().window_secs, 7 * 86_400);
    let yaml = format!(
        "policy: {{ soft_bounce_threshold: 5, soft_bounce_window: 14d, pending_expiry: 48h, \
         global_accounts: 4, global_window: 90d, suppress_on_unconfirmed_match: true, \
         auto_reply_events: true, match_window: 3d, delivered_after: 2d, due_interval: 5s }}\n{base}"
    );
    let config = load(&yaml, dir.path(), &no_env).unwrap();
    let p = config.policy.settings();
    assert_eq!(p.soft_bounce_threshold, 5);
    assert_eq!(p.soft_bounce_window, 14 * 86_400);
    assert_eq!(p.pending_expiry, 48 * 3600);
    assert_eq!(p.global_accounts, 4);
    assert_eq!(p.global_window, 90 * 86_400);
    assert!(p.suppress_on_unconfirmed_match && p.auto_reply_events);
    assert_eq!(p.delivered_after, 2 * 86_400);
    assert_eq!(config.policy.matching().window_secs, 3 * 86_400);
    assert_eq!(
        config.policy.due_interval,
        std::time::Duration::from_secs(5)
    );
}

#[test]
fn http_callback_and_api_are_validated() {
    let dir = TempDir::new().unwrap();
    let base = "inboxes:\n  - { id: d, account: a, provider: maildir, path: m }\n";
    let env = |name: &str| match name {
        "HOOK_SECRET" => Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string()),
        "API_TOKEN" => Some("0123456789abcdef0123".to_string()),
        _ => None,
    };
    let good = format!(
        "callback: {{ kind: http, url: https://crm.example.com/hooks, secret: \"${{HOOK_SECRET}}\", \
         timeout: 5s, retry_budget: 12h, concurrency: 4 }}\n\
         api: {{ listen: 127.0.0.1:9000, token: \"${{API_TOKEN}}\" }}\n{base}"
    );
    let config = load(&good, dir.path(), &env).unwrap();
    let rebound::config::CallbackConfig::Http(http) = &config.callback else {
        panic!("{:?}", config.callback);
    };
    assert_eq!(http.url, "https://crm.example.com/hooks");
    assert_eq!(http.timeout, std::time::Duration::from_secs(5));
    assert_eq!(http.retry_budget, std::time::Duration::from_secs(12 * 3600));
    assert_eq!(http.concurrency, 4);
    assert_eq!(format!("{:?}", http.secret), "[redacted]");
    let api = config.api.as_ref().unwrap();
    assert_eq!(api.listen.to_string(), "127.0.0.1:9000");
    assert!(load(base, dir.path(), &env).unwrap().api.is_none());

    let bad = format!(
        "callback: {{ kind: http, url: http://crm.example.com/hooks, secret: nope, path: x }}\n\
         api: {{ listen: everywhere, token: short }}\n{base}"
    );
    let list = problems(&bad, dir.path(), &env);
    for (path, needle) in [
        ("callback.url", "plain http"),
        ("callback.secret", "whsec_"),
        ("callback.path", "only kind file"),
        ("api.listen", "not an address"),
        ("api.token", "too short"),
    ] {
        assert!(
            has(&list, path, needle),
            "missing {path}: {needle} in {list:#?}"
        );
    }
    let missing = format!("callback: {{ kind: http }}\napi: {{}}\n{base}");
    let list = problems(&missing, dir.path(), &env);
    assert!(has(&list, "callback.url", "missing"), "{list:#?}");
    assert!(has(&list, "callback.secret", "missing"), "{list:#?}");
    assert!(has(&list, "api.token", "missing"), "{list:#?}");
    // Loopback http is fine (a local receiver).
    let local = format!(
        "callback: {{ kind: http, url: http://127.0.0.1:8080/h, secret: \"${{HOOK_SECRET}}\" }}\n{base}"
    );
    assert!(load(&local, dir.path(), &env).is_ok());
}

#[test]
fn retention_has_defaults_and_outlives_every_look_back_window() {
    let dir = TempDir::new().unwrap();
    let base = "inboxes:\n  - { id: d, account: a, provider: maildir, path: m }\n";
    let day = |n: u64| std::time::Duration::from_secs(n * 86_400);
    let config = load(base, dir.path(), &no_env).unwrap();
    assert_eq!(
        config.retention,
        rebound::config::RetentionConfig::default()
    );
    assert_eq!(config.retention.delivered_events, day(30));
    assert_eq!(config.retention.tracked_messages, day(365));
    assert_eq!(
        config.retention.interval,
        std::time::Duration::from_secs(3600)
    );
    assert_eq!(
        config.retention.cutoffs(400 * 86_400),
        (370 * 86_400, 35 * 86_400)
    );

    let yaml = format!(
        "retention: {{ delivered_events: 7d, tracked_messages: 90d, interval: 10m }}\n{base}"
    );
    let config = load(&yaml, dir.path(), &no_env).unwrap();
    assert_eq!(config.retention.delivered_events, day(7));
    assert_eq!(config.retention.tracked_messages, day(90));
    assert_eq!(
        config.retention.interval,
        std::time::Duration::from_secs(600)
    );

    let zero = format!("retention: {{ delivered_events: 0s, interval: 0s }}\n{base}");
    let list = problems(&zero, dir.path(), &no_env);
    assert!(
        has(&list, "retention.delivered_events", "greater than 0"),
        "{list:#?}"
    );
    assert!(
        has(&list, "retention.interval", "greater than 0"),
        "{list:#?}"
    );
    // global_window (60d) is the longest look-back by default.
    let short = format!("retention: {{ tracked_messages: 60d }}\n{base}");
    let list = problems(&short, dir.path(), &no_env);
    assert!(
        has(
            &list,
            "retention.tracked_messages",
            "policy.global_window (60d)"
        ),
        "{list:#?}"
    );
    let longer =
        format!("sync: {{ sent_backfill: 120d }}\nretention: {{ tracked_messages: 90d }}\n{base}");
    let list = problems(&longer, dir.path(), &no_env);
    assert!(
        has(
            &list,
            "retention.tracked_messages",
            "sync.sent_backfill (120d)"
        ),
        "{list:#?}"
    );
    let unknown = format!("retention: {{ forever: true }}\n{base}");
    let list = problems(&unknown, dir.path(), &no_env);
    assert!(
        has(&list, "retention.forever", "unknown field"),
        "{list:#?}"
    );
}
