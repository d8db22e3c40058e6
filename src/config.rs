//! The configuration: the YAML model, provider presets, secrets from the
//! environment or files, and validation that names the failing path.
//!
//! The types in this file are the resolved configuration the rest of the
//! service consumes: presets and defaults applied, relative paths made
//! absolute, secrets read. [`Config::load`] gets there in steps, each in its
//! own file:
//!
//! 1. `load`: YAML syntax (line and column), merge keys, `${VAR}` expansion
//!    (`secrets`), then each section and each inbox deserialized on its own
//!    into the serde model (`model`, `duration`), with `deny_unknown_fields`;
//!    `locate` finds the line of what serde refused.
//! 2. `resolve`, `inbox`, `auth`, `folders`: defaults, provider presets
//!    (`presets`), `*_file` secrets, and every rule that needs more than one
//!    field (the TLS rule, provider-specific fields, unique ids).
//!
//! Every problem is collected with its path (`inboxes[2].auth.client_secret`)
//! and returned together in [`Errors`]; nothing is half-loaded. The reference
//! for users is `docs/configuration.md`.

mod auth;
pub mod duration;
mod folders;
mod inbox;
mod load;
mod locate;
mod model;
mod presets;
mod resolve;
mod secrets;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use duration::{format_duration, parse_duration};

/// A secret value (password, token, client secret). Never printed: `Debug`
/// and `Display` show `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The clear value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where state lives.
    pub store: StoreConfig,
    /// Sync tuning shared by every inbox.
    pub sync: SyncConfig,
    /// The contact policy and matching.
    pub policy: PolicyConfig,
    /// How long finished records are kept.
    pub retention: RetentionConfig,
    /// Where events go.
    pub callback: CallbackConfig,
    /// The HTTP API, when configured.
    pub api: Option<ApiConfig>,
    /// The watched inboxes.
    pub inboxes: Vec<InboxConfig>,
}

/// The store backend.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreConfig {
    /// Embedded SQLite database file (the default: `rebound.db`).
    Sqlite {
        /// Database file path.
        path: PathBuf,
    },
}

/// Where events are delivered.
#[derive(Debug, Clone, PartialEq)]
pub enum CallbackConfig {
    /// One JSON line per event on standard output (the default).
    Stdout,
    /// One JSON line per event appended to a file.
    File {
        /// File path.
        path: PathBuf,
    },
    /// Signed POSTs to the CRM (Standard Webhooks).
    Http(Box<HttpCallback>),
}

/// `callback: { kind: http, ... }`.
#[derive(Debug, Clone)]
pub struct HttpCallback {
    /// The receiver (https, or http to a loopback host).
    pub url: String,
    /// The signing secret, `whsec_` + base64 (Standard Webhooks).
    pub secret: Secret,
    /// The previous secret while a rotation is under way: both sign.
    pub previous_secret: Option<Secret>,
    /// One request's timeout (default 10 s).
    pub timeout: Duration,
    /// How long an event is retried before it is dead-lettered (default 24 h).
    pub retry_budget: Duration,
    /// Requests in flight at once, across contacts (default 8).
    pub concurrency: usize,
}

impl PartialEq for HttpCallback {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url
            && self.secret.expose() == other.secret.expose()
            && self.previous_secret.as_ref().map(Secret::expose)
                == other.previous_secret.as_ref().map(Secret::expose)
            && self.timeout == other.timeout
            && self.retry_budget == other.retry_budget
            && self.concurrency == other.concurrency
    }
}

/// `api:`: the HTTP API (absent: no API).
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Where it listens (default 127.0.0.1:8025).
    pub listen: std::net::SocketAddr,
    /// The bearer token every `/v1` and `/metrics` request must carry.
    pub token: Secret,
}

impl PartialEq for ApiConfig {
    fn eq(&self, other: &Self) -> bool {
        self.listen == other.listen && self.token.expose() == other.token.expose()
    }
}

/// The HMAC key of a Standard Webhooks secret: `whsec_` + base64, decoded.
pub fn signing_key(secret: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let encoded = secret.strip_prefix("whsec_").ok_or_else(|| {
        "must start with whsec_ followed by base64 (Standard Webhooks), e.g. whsec_ + `openssl rand -base64 32`"
            .to_string()
    })?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| "the part after whsec_ is not valid base64".to_string())?;
    if key.len() < 16 {
        return Err("the decoded key is shorter than 16 bytes".to_string());
    }
    Ok(key)
}

/// Sync tuning.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncConfig {
    /// The shared size cap for fetch and analysis (default 10 MiB).
    pub max_message_bytes: usize,
    /// How long one IDLE lasts before it is re-issued (default 20 min; RFC 2177 says < 29).
    pub idle_renew: Duration,
    /// First reconnect delay (default 1 s); doubles with jitter.
    pub backoff_initial: Duration,
    /// Longest reconnect delay (default 5 min).
    pub backoff_max: Duration,
    /// Minimum time between two logins of one inbox (default 10 s).
    pub login_interval: Duration,
    /// How far back the Sent folder is read on first sync (default 30 d).
    pub sent_backfill: Duration,
    /// Grace period for a clean shutdown (default 10 s).
    pub shutdown_grace: Duration,
}

/// `policy:`: the contact policy and matching (docs/configuration.md).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyConfig {
    /// Soft bounces for distinct messages that suppress (default 3).
    pub soft_bounce_threshold: u32,
    /// The window they must fall in (default 30 d).
    pub soft_bounce_window: Duration,
    /// How long a delay waits for its final notice (default 72 h).
    pub pending_expiry: Duration,
    /// Accounts with a certain hard bounce that suppress globally (default 3).
    pub global_accounts: u32,
    /// The window of those hard bounces (default 60 d).
    pub global_window: Duration,
    /// Let window and unmatched findings suppress (default false).
    pub suppress_on_unconfirmed_match: bool,
    /// Write `auto_reply.received` events (default false).
    pub auto_reply_events: bool,
    /// How far before a notice a tracked send may lie to match by
    /// recipient (default 7 d).
    pub match_window: Duration,
    /// A tracked send without a bounce for this long resets the soft run
    /// (default 7 d).
    pub delivered_after: Duration,
    /// How often the daemon evaluates due transitions (default 60 s).
    pub due_interval: Duration,
}

/// `retention:`: how long finished records are kept (docs/configuration.md,
/// docs/operations.md "What grows"). Pending events, dead letters, contact
/// states, suppression history and findings are kept for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Delivered events are deleted this long after their delivery
    /// (default 30 d).
    pub delivered_events: Duration,
    /// Tracked messages are forgotten this long after they were sent, with
    /// their recipients (default 365 d).
    pub tracked_messages: Duration,
    /// How often `rebound run` prunes (default 1 h); `--once` prunes once,
    /// before it exits.
    pub interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        RetentionConfig {
            delivered_events: Duration::from_secs(30 * DAY),
            tracked_messages: Duration::from_secs(365 * DAY),
            interval: Duration::from_secs(3600),
        }
    }
}

impl RetentionConfig {
    /// The cut-offs of [`crate::store::PolicyStore::prune`] at `now` (Unix
    /// seconds): (delivered before, sent before).
    pub fn cutoffs(&self, now: i64) -> (i64, i64) {
        let ago = |d: Duration| now.saturating_sub(i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        (ago(self.delivered_events), ago(self.tracked_messages))
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        let p = crate::policy::Settings::default();
        let secs = |s: i64| Duration::from_secs(u64::try_from(s).unwrap_or(0));
        PolicyConfig {
            soft_bounce_threshold: p.soft_bounce_threshold,
            soft_bounce_window: secs(p.soft_bounce_window),
            pending_expiry: secs(p.pending_expiry),
            global_accounts: p.global_accounts,
            global_window: secs(p.global_window),
            suppress_on_unconfirmed_match: p.suppress_on_unconfirmed_match,
            auto_reply_events: p.auto_reply_events,
            match_window: secs(crate::matching::DEFAULT_WINDOW_SECS),
            delivered_after: secs(p.delivered_after),
            due_interval: Duration::from_secs(60),
        }
    }
}

impl PolicyConfig {
    /// The policy's settings.
    pub fn settings(&self) -> crate::policy::Settings {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        crate::policy::Settings {
            soft_bounce_threshold: self.soft_bounce_threshold,
            soft_bounce_window: secs(self.soft_bounce_window),
            pending_expiry: secs(self.pending_expiry),
            global_accounts: self.global_accounts,
            global_window: secs(self.global_window),
            suppress_on_unconfirmed_match: self.suppress_on_unconfirmed_match,
            auto_reply_events: self.auto_reply_events,
            delivered_after: secs(self.delivered_after),
        }
    }

    /// Matching's settings.
    pub fn matching(&self) -> crate::matching::Settings {
        crate::matching::Settings {
            window_secs: i64::try_from(self.match_window.as_secs()).unwrap_or(i64::MAX),
        }
    }
}

/// One watched inbox.
#[derive(Debug, Clone)]
pub struct InboxConfig {
    /// Stable id, unique in the file.
    pub id: String,
    /// The account (tenant) the inbox belongs to.
    pub account: String,
    /// The provider named in the file.
    pub provider: Provider,
    /// The mailbox owner's address: `address`, else the username when it is
    /// an address, else `None`.
    pub address: Option<String>,
    /// Whether the inbox is synced (default true). A disabled inbox is still
    /// validated in full.
    pub enabled: bool,
    /// How far back INBOX and Junk are read on first sync (default `None`:
    /// from now). Always `None` for Maildir, which reads everything unseen.
    pub backfill: Option<Duration>,
    /// Whether sent mail is read for tracking (default true). When false the
    /// source's sent folder (`Folders::sent`, `MaildirSettings::sent`) is `None`.
    pub track_sent_folder: bool,
    /// How to reach the mail.
    pub source: Source,
}

/// Providers with presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Gmail / Google Workspace over IMAP.
    Gmail,
    /// Microsoft 365 / Outlook over IMAP.
    Office365,
    /// Any IMAP server.
    Imap,
    /// A local Maildir tree.
    Maildir,
}

impl Provider {
    /// The provider's name in the configuration file (`gmail`, `office365`,
    /// `imap`, `maildir`).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Gmail => "gmail",
            Provider::Office365 => "office365",
            Provider::Imap => "imap",
            Provider::Maildir => "maildir",
        }
    }
}

/// How an inbox's mail is reached.
// One value per inbox, built once at startup: boxing the IMAP variant would
// only make every caller's pattern noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Source {
    /// An IMAP server.
    Imap(ImapSettings),
    /// A local Maildir tree.
    Maildir(MaildirSettings),
}

/// A resolved IMAP connection (presets applied).
#[derive(Debug, Clone)]
pub struct ImapSettings {
    /// Server host name or IP address (an IPv6 literal without brackets).
    pub host: String,
    /// Server port (default 993 with implicit TLS, 143 otherwise).
    pub port: u16,
    /// Transport security (default implicit).
    pub tls: TlsMode,
    /// An extra trust anchor (PEM) besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Accept `tls: none` to a host that is not loopback (default false;
    /// validation enforces the rule, the connector need not look again).
    pub allow_plaintext_remote: bool,
    /// Limit for the TCP connect and the TLS handshake (default 30 s).
    pub connect_timeout: Duration,
    /// Login name.
    pub username: String,
    /// Credentials.
    pub auth: Auth,
    /// Folders to watch and to read sent mail from.
    pub folders: Folders,
    /// Poll interval for folders not under IDLE, and for INBOX without IDLE (default 60 s).
    pub poll_interval: Duration,
    /// Use IDLE on INBOX where offered (default true).
    pub idle: bool,
}

/// Transport security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (port 993).
    Implicit,
    /// STARTTLS upgrade (port 143).
    Starttls,
    /// No TLS: loopback only unless forced.
    None,
}

/// Credentials.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Password login.
    Password {
        /// The password.
        password: Secret,
        /// LOGIN or AUTHENTICATE PLAIN.
        mechanism: PasswordMechanism,
    },
    /// OAuth2 access tokens from a refresh token.
    OAuth2(OAuth2Settings),
}

/// Password mechanisms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordMechanism {
    /// IMAP LOGIN.
    Login,
    /// AUTHENTICATE PLAIN.
    Plain,
}

/// OAuth2 settings (presets applied).
#[derive(Debug, Clone)]
pub struct OAuth2Settings {
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret (public clients have none).
    pub client_secret: Option<Secret>,
    /// The refresh token from the config (a rotated one in the store wins).
    pub refresh_token: Secret,
    /// Token endpoint.
    pub token_url: String,
    /// Scopes, sent on refresh requests.
    pub scopes: Vec<String>,
    /// SASL mechanism; `None` picks OAUTHBEARER when offered, else XOAUTH2.
    pub mechanism: Option<OAuthMechanism>,
}

/// SASL mechanisms for OAuth2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthMechanism {
    /// Google's XOAUTH2.
    Xoauth2,
    /// RFC 7628 OAUTHBEARER.
    Oauthbearer,
}

/// Which folders an inbox syncs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folders {
    /// Watched folders (default INBOX and the `\Junk` folder).
    pub watch: Vec<FolderRef>,
    /// The folder sent mail is read from (default `\Sent`); `None` disables.
    pub sent: Option<FolderRef>,
}

/// A folder by name or by special-use attribute (RFC 6154).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderRef {
    /// The folder with this (decoded, UTF-8) name.
    Name(String),
    /// The folder carrying this attribute, e.g. `\Junk`, `\Sent`.
    SpecialUse(String),
}

/// A local Maildir source.
#[derive(Debug, Clone)]
pub struct MaildirSettings {
    /// Root of the Maildir (holds `cur/`, `new/`, and `.Folder` subdirectories).
    pub path: PathBuf,
    /// Folders to read (default `["INBOX", "Junk"]`): `INBOX` is the Maildir
    /// root, any other name the Maildir++ subfolder `.Name` (read when present).
    pub folders: Vec<String>,
    /// The folder sent mail is read from, a Maildir++ name as in `folders`
    /// (default `Some("Sent")`, i.e. `.Sent`); `None` when
    /// `track_sent_folder` is false.
    pub sent: Option<String>,
    /// Rescan interval when running as a daemon (default 10 s).
    pub poll_interval: Duration,
}

/// One configuration problem, with the path of the field (`inboxes[2].auth.client_secret`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Field path; empty for the document as a whole (YAML syntax, an
    /// unreadable file).
    pub path: String,
    /// What is wrong. Never echoes the value of a secret field.
    pub message: String,
    /// Where in the file, when known (YAML syntax errors, and most of what
    /// the serde model refuses).
    pub location: Option<Location>,
}

/// A position in the configuration file, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line.
    pub line: usize,
    /// Column.
    pub column: usize,
}

impl fmt::Display for Problem {
    /// `path: message (line L, column C)`; a problem of the whole document
    /// is its message alone (YAML syntax messages carry their own position).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            return f.write_str(&self.message);
        }
        write!(f, "{}: {}", self.path, self.message)?;
        if let Some(at) = self.location {
            write!(f, " (line {}, column {})", at.line, at.column)?;
        }
        Ok(())
    }
}

/// All problems found in a configuration.
#[derive(Debug, Clone)]
pub struct Errors(pub Vec<Problem>);

impl fmt::Display for Errors {
    /// One problem per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}

impl Config {
    /// Reads, resolves and validates a configuration file. Relative paths in
    /// it are taken from the file's directory; `${VAR}` reads the process
    /// environment.
    pub fn load(path: &Path) -> Result<Config, Errors> {
        let whole_file = |message: String| {
            Errors(vec![Problem {
                path: String::new(),
                message,
                location: None,
            }])
        };
        let text = std::fs::read_to_string(path)
            .map_err(|err| whole_file(format!("cannot read {}: {err}", path.display())))?;
        let absolute = std::path::absolute(path)
            .map_err(|err| whole_file(format!("cannot resolve {}: {err}", path.display())))?;
        let base_dir = absolute.parent().unwrap_or(Path::new("/"));
        Config::from_yaml_str(&text, base_dir, &|name| std::env::var(name).ok())
    }

    /// Resolves and validates a configuration given as YAML text. Relative
    /// paths are taken from `base_dir`; `env` answers `${VAR}` references
    /// (tests pass a map instead of the process environment).
    pub fn from_yaml_str(
        yaml: &str,
        base_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Errors> {
        load::from_str(yaml, base_dir, env)
    }
}
