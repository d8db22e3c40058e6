//! The IMAP source's protocol layer: one [`Session`] per connection, read-only.
//!
//! ```text
//! connect   TCP ─> TLS (implicit | STARTTLS | none) ─> greeting ─> CAPABILITY
//!           ─> LOGIN / AUTHENTICATE PLAIN / XOAUTH2 / OAUTHBEARER ─> CAPABILITY
//! folders   LIST "" "*" (RFC 6154 special-use attributes)
//! examine   EXAMINE (CONDSTORE when offered): UIDVALIDITY, UIDNEXT, EXISTS
//! new UIDs  UID SEARCH UID n+1:*
//! step 1    UID FETCH (UID INTERNALDATE RFC822.SIZE BODYSTRUCTURE BODY.PEEK[HEADER])
//! step 2    UID FETCH (BODY.PEEK[]<0.cap>)   — candidates only; PEEK never sets \Seen
//! wait      IDLE (RFC 2177) with an outer timeout, or NOOP
//! ```
//!
//! Built on `async-imap` with these rules: the greeting
//! is read before anything else; every network await has a timeout (IDLE
//! has the caller's outer one); commands are read response by response, so
//! a dropped connection is [`Error::Closed`] rather than a silently short
//! result, and `EXISTS`/`EXPUNGE` announcements are seen directly (the
//! library's bounded unsolicited channel is drained too). Once a command
//! fails on the transport the session is dead: every later call returns
//! [`Error::Closed`] and the caller reconnects.

mod auth;
mod connect;
mod date;
mod fetch;
mod folders;
mod idle;
mod session;
pub mod utf7;

use std::time::Duration;

pub use auth::{oauthbearer_initial_response, plain_initial_response, xoauth2_initial_response};
pub use fetch::{compact_uid_set, uid_batches};
pub use session::Session;

use crate::config::{OAuthMechanism, PasswordMechanism, Secret};

/// What went wrong on an IMAP connection. Callers branch on the variant:
/// [`Error::Auth`] means the credentials were refused (refresh the OAuth2
/// token, or mark the inbox as needing re-authorisation); everything else is
/// worth a reconnect with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The TCP connection could not be opened.
    #[error("could not connect to {host}:{port}: {source}")]
    Connect {
        /// Server host.
        host: String,
        /// Server port.
        port: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake failed (untrusted or mismatched certificate, or a
    /// protocol problem). Not retried quickly: it rarely heals by itself.
    #[error("TLS with {host} failed: {message}")]
    Tls {
        /// Server host.
        host: String,
        /// What the TLS layer said, in words.
        message: String,
    },
    /// The server refused the credentials.
    #[error("the IMAP server refused the credentials: {message}")]
    Auth {
        /// The server's words.
        message: String,
    },
    /// The server answered something unusable (a refused command, an
    /// unparsable response, a missing capability).
    #[error("IMAP protocol error: {0}")]
    Protocol(String),
    /// A read or write on the connection failed.
    #[error("I/O error on the IMAP connection: {0}")]
    Io(#[from] std::io::Error),
    /// The server did not answer in time; names the step.
    #[error("the IMAP server did not answer in time ({0})")]
    Timeout(&'static str),
    /// The server closed the connection (or an earlier failure closed this
    /// session).
    #[error("the IMAP server closed the connection")]
    Closed,
}

impl Error {
    /// Whether the credentials were refused (the caller refreshes a token or
    /// marks the inbox `auth_failed`), as opposed to a transient failure.
    pub fn is_auth(&self) -> bool {
        matches!(self, Error::Auth { .. })
    }
}

/// How to log in.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A password, with LOGIN or AUTHENTICATE PLAIN.
    Password {
        /// Login name.
        username: String,
        /// The password.
        password: Secret,
        /// Which command carries it.
        mechanism: PasswordMechanism,
    },
    /// An OAuth2 access token (SASL XOAUTH2 or OAUTHBEARER, RFC 7628).
    OAuth2 {
        /// Login name (the mailbox address).
        username: String,
        /// A current access token.
        access_token: Secret,
        /// `None`: OAUTHBEARER when the server offers it, else XOAUTH2.
        mechanism: Option<OAuthMechanism>,
    },
}

/// The capabilities that change what the client does, read after login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// RFC 2177 IDLE.
    pub idle: bool,
    /// RFC 7162 CONDSTORE (EXAMINE reports HIGHESTMODSEQ).
    pub condstore: bool,
    /// RFC 7162 QRESYNC.
    pub qresync: bool,
    /// RFC 6154 SPECIAL-USE (LIST reports `\Junk`, `\Sent`, ...).
    pub special_use: bool,
    /// RFC 5258 LIST-EXTENDED (`LIST ... RETURN (SPECIAL-USE)`).
    pub list_extended: bool,
    /// RFC 4315 UIDPLUS.
    pub uidplus: bool,
    /// RFC 6851 MOVE.
    pub move_: bool,
    /// `AUTH=XOAUTH2` (before login; servers usually drop AUTH= after).
    pub xoauth2: bool,
    /// `AUTH=OAUTHBEARER` (before login).
    pub oauthbearer: bool,
    /// `AUTH=PLAIN` (before login).
    pub auth_plain: bool,
    /// STARTTLS (before login).
    pub starttls: bool,
    /// LOGINDISABLED (before login; LOGIN is refused on this connection).
    pub login_disabled: bool,
    /// Every capability as the server spelled it, upper-cased.
    pub all: Vec<String>,
}

impl Capabilities {
    /// Builds the set from capability atoms (`IMAP4rev1`, `AUTH=PLAIN`, ...).
    pub fn from_atoms<'a>(atoms: impl IntoIterator<Item = &'a str>) -> Capabilities {
        let mut caps = Capabilities::default();
        for atom in atoms {
            let upper = atom.to_ascii_uppercase();
            match upper.as_str() {
                "IDLE" => caps.idle = true,
                "CONDSTORE" => caps.condstore = true,
                // QRESYNC implies CONDSTORE (RFC 7162 §3.2.3).
                "QRESYNC" => {
                    caps.qresync = true;
                    caps.condstore = true;
                }
                "SPECIAL-USE" => caps.special_use = true,
                "LIST-EXTENDED" => caps.list_extended = true,
                "UIDPLUS" => caps.uidplus = true,
                "MOVE" => caps.move_ = true,
                "AUTH=XOAUTH2" => caps.xoauth2 = true,
                "AUTH=OAUTHBEARER" => caps.oauthbearer = true,
                "AUTH=PLAIN" => caps.auth_plain = true,
                "STARTTLS" => caps.starttls = true,
                "LOGINDISABLED" => caps.login_disabled = true,
                _ => {}
            }
            if !caps.all.contains(&upper) {
                caps.all.push(upper);
            }
        }
        caps
    }

    /// Whether the server listed `name` (case-insensitive).
    pub fn has(&self, name: &str) -> bool {
        self.all.iter().any(|c| c.eq_ignore_ascii_case(name))
    }
}

/// One folder from LIST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderInfo {
    /// The name as the user sees it (decoded from modified UTF-7; the raw
    /// name when it does not decode).
    pub name: String,
    /// The name as on the wire (modified UTF-7): what EXAMINE takes.
    pub raw_name: String,
    /// The hierarchy delimiter, when the server has one.
    pub delimiter: Option<String>,
    /// RFC 6154 (and RFC 8457 `\Important`) attributes, e.g. `"\\Junk"`.
    pub special_use: Vec<String>,
    /// False for `\Noselect` / `\NonExistent` entries.
    pub selectable: bool,
}

impl FolderInfo {
    /// Whether the folder carries the special-use attribute `attr` (e.g.
    /// `"\\Junk"`), case-insensitive.
    pub fn has_special_use(&self, attr: &str) -> bool {
        self.special_use
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attr))
    }
}

/// What EXAMINE tells about the selected folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderStatus {
    /// UIDVALIDITY (RFC 3501 §2.3.1.1): when it changes, old UIDs mean nothing.
    pub uidvalidity: u32,
    /// The UID the next message will get, when reported.
    pub uidnext: Option<u32>,
    /// Number of messages.
    pub exists: u32,
    /// RFC 7162 HIGHESTMODSEQ, when CONDSTORE is on.
    pub highest_modseq: Option<u64>,
}

/// Step 1 of the two-step fetch: what the pre-filter needs about one message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Head {
    /// The message's UID.
    pub uid: u32,
    /// INTERNALDATE as RFC 3339 UTC (`2024-05-01T10:15:00Z`), when parsable.
    pub internal_date: Option<String>,
    /// RFC822.SIZE (0 when the server left it out).
    pub size: u64,
    /// The header block (`BODY.PEEK[HEADER]`), blank line included.
    pub header: Vec<u8>,
    /// Every MIME part's `type/subtype` from BODYSTRUCTURE, containers and
    /// nested messages' parts included, lower-case, in tree order.
    pub content_types: Vec<String>,
}

/// Why [`Session::idle`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleEnd {
    /// The server announced new messages (EXISTS grew, or RECENT).
    NewMail,
    /// The caller's `max` elapsed with nothing new.
    Timeout,
    /// The stop token was cancelled.
    Stopped,
}

/// Time limits for one session. The defaults suit real servers; tests use
/// shorter ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect plus TLS handshake plus greeting (default 30 s).
    pub connect: Duration,
    /// The longest silence while a command runs (default 60 s).
    pub command: Duration,
    /// How long DONE (end of IDLE) and LOGOUT may take (default 10 s).
    pub done: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(30),
            command: Duration::from_secs(60),
            done: Duration::from_secs(10),
        }
    }
}

/// Builds [`Credentials`] for password settings, or `None` for OAuth2 (whose
/// access token comes from the token cache).
pub fn password_credentials(settings: &crate::config::ImapSettings) -> Option<Credentials> {
    match &settings.auth {
        crate::config::Auth::Password {
            password,
            mechanism,
        } => Some(Credentials::Password {
            username: settings.username.clone(),
            password: password.clone(),
            mechanism: *mechanism,
        }),
        crate::config::Auth::OAuth2(_) => None,
    }
}
