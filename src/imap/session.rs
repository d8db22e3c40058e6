//! The session: connecting, the command loop every command goes through,
//! EXAMINE, UID SEARCH, NOOP and LOGOUT. Folder listing, fetching and IDLE
//! live in their own files as further `impl Session` blocks.

use async_imap::imap_proto::{Capability, MailboxDatum, Response, ResponseCode, Status};
use tokio::io::AsyncWriteExt;

use super::connect::{self, Stream};
use super::{Capabilities, Credentials, Error, FolderStatus, Timeouts, auth};
use crate::config::{ImapSettings, TlsMode};

/// One authenticated IMAP connection, used read-only (EXAMINE, PEEK).
///
/// After a transport failure, timeout or unparsable response the session is
/// dead and every call returns [`Error::Closed`]: drop it and connect again.
#[derive(Debug)]
pub struct Session {
    /// The async-imap session; `None` once dead, or while IDLE holds it
    /// (its IDLE handle takes the session by value).
    pub(super) inner: Option<async_imap::Session<Stream>>,
    /// Capabilities after login.
    pub(super) caps: Capabilities,
    /// Time limits.
    pub(super) timeouts: Timeouts,
    /// EXISTS of the examined folder as last announced (minus EXPUNGEs).
    pub(super) exists: u32,
    /// Set when the server announced new messages since the last check.
    pub(super) new_mail: bool,
}

impl Session {
    /// Connects, secures, reads the greeting and logs in, with the default
    /// [`Timeouts`] but the connect limit of `settings.connect_timeout`.
    pub async fn connect(
        settings: &ImapSettings,
        credentials: &Credentials,
    ) -> Result<Session, Error> {
        let timeouts = Timeouts {
            connect: settings.connect_timeout,
            ..Timeouts::default()
        };
        Session::connect_with(settings, credentials, timeouts).await
    }

    /// [`Session::connect`] with explicit time limits.
    pub async fn connect_with(
        settings: &ImapSettings,
        credentials: &Credentials,
        timeouts: Timeouts,
    ) -> Result<Session, Error> {
        let (client, pre_caps) = tokio::time::timeout(timeouts.connect, open(settings, timeouts))
            .await
            .map_err(|_| Error::Timeout("connecting (TCP, TLS, greeting)"))??;
        let inner = tokio::time::timeout(
            timeouts.command,
            auth::login(
                client,
                credentials,
                &pre_caps,
                &settings.host,
                settings.port,
            ),
        )
        .await
        .map_err(|_| Error::Timeout("login"))??;
        let mut session = Session {
            inner: Some(inner),
            caps: Capabilities::default(),
            timeouts,
            exists: 0,
            new_mail: false,
        };
        // Capabilities change at login (RFC 3501 §6.2.3 lets servers list
        // more afterwards): ask again.
        let mut atoms = Vec::new();
        session
            .run("CAPABILITY", "CAPABILITY", |r| {
                collect_capabilities(r, &mut atoms)
            })
            .await?;
        let mut caps = Capabilities::from_atoms(atoms.iter().map(String::as_str));
        // AUTH= entries are pre-login facts; keep what the server said then.
        caps.xoauth2 |= pre_caps.xoauth2;
        caps.oauthbearer |= pre_caps.oauthbearer;
        caps.auth_plain |= pre_caps.auth_plain;
        session.caps = caps;
        Ok(session)
    }

    /// The capabilities read after login.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Opens `raw_name` (modified UTF-7, as in [`FolderInfo::raw_name`](super::FolderInfo))
    /// read-only with EXAMINE (RFC 3501 §6.3.2), with CONDSTORE when offered
    /// (RFC 7162 §3.1.8) so HIGHESTMODSEQ is reported.
    pub async fn examine(&mut self, raw_name: &str) -> Result<FolderStatus, Error> {
        let mut command = format!("EXAMINE {}", quote(raw_name)?);
        if self.caps.condstore {
            command.push_str(" (CONDSTORE)");
        }
        let mut uidvalidity = None;
        let mut uidnext = None;
        let mut highest_modseq = None;
        let mut exists = 0;
        self.run(&command, "EXAMINE", |r| match r {
            Response::Data {
                status: Status::Ok,
                outcome,
            } => match outcome.code {
                Some(ResponseCode::UidValidity(v)) => uidvalidity = Some(v),
                Some(ResponseCode::UidNext(v)) => uidnext = Some(v),
                Some(ResponseCode::HighestModSeq(v)) => highest_modseq = Some(v),
                _ => {}
            },
            Response::MailboxData(MailboxDatum::Exists(n)) => exists = *n,
            _ => {}
        })
        .await?;
        // The EXISTS above is the folder's state, not news.
        self.exists = exists;
        self.new_mail = false;
        let uidvalidity = uidvalidity.ok_or_else(|| {
            Error::Protocol(format!("EXAMINE {raw_name} reported no UIDVALIDITY"))
        })?;
        Ok(FolderStatus {
            uidvalidity,
            uidnext,
            exists,
            highest_modseq,
        })
    }

    /// UIDs above `last_uid` in the examined folder, ascending.
    ///
    /// `UID SEARCH UID n:*` always matches the highest UID, even when it is
    /// below `n` (RFC 3501 §6.4.8: `*` is the largest UID in use, and `n:*`
    /// is the same range as `*:n`), so results are filtered.
    pub async fn uids_after(&mut self, last_uid: u32) -> Result<Vec<u32>, Error> {
        let Some(first) = last_uid.checked_add(1) else {
            return Ok(Vec::new());
        };
        let mut uids = Vec::new();
        self.run(&format!("UID SEARCH UID {first}:*"), "UID SEARCH", |r| {
            if let Response::MailboxData(MailboxDatum::Search(found)) = r {
                uids.extend(found.iter().copied());
            }
        })
        .await?;
        uids.retain(|&uid| uid > last_uid);
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// UIDs of the messages that arrived on or after the day of `unix_secs`
    /// (UTC), ascending: `UID SEARCH SINCE d-Mon-yyyy` matches INTERNALDATE
    /// by date, ignoring the time of day (RFC 3501 §6.4.4), so the window
    /// may start up to a day early, never late.
    pub async fn uids_since(&mut self, unix_secs: i64) -> Result<Vec<u32>, Error> {
        let date = mail_parser::DateTime::from_timestamp(unix_secs.max(0));
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let month = MONTHS
            .get(usize::from(date.month).saturating_sub(1))
            .copied()
            .unwrap_or("Jan");
        let command = format!("UID SEARCH SINCE {}-{month}-{:04}", date.day, date.year);
        let mut uids = Vec::new();
        self.run(&command, "UID SEARCH", |r| {
            if let Response::MailboxData(MailboxDatum::Search(found)) = r {
                uids.extend(found.iter().copied());
            }
        })
        .await?;
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// NOOP (RFC 3501 §6.1.2): keeps the connection alive and collects
    /// announcements. True when new messages were announced since the last
    /// EXAMINE, NOOP or IDLE.
    pub async fn noop(&mut self) -> Result<bool, Error> {
        self.run("NOOP", "NOOP", |_| {}).await?;
        Ok(std::mem::take(&mut self.new_mail))
    }

    /// LOGOUT, best effort and bounded by the `done` timeout.
    pub async fn logout(mut self) {
        // A courtesy (RFC 3501 §6.1.3): never worth holding a shutdown for.
        if let Some(mut inner) = self.inner.take() {
            let limit = self.timeouts.done.min(std::time::Duration::from_secs(1));
            let _ = tokio::time::timeout(limit, inner.logout()).await;
        }
    }

    /// Runs one command: sends it, hands every untagged response to `on`
    /// (after noting EXISTS/EXPUNGE/RECENT), and returns at its tagged
    /// completion: `Ok` for OK, [`Error::Protocol`] for NO/BAD. Each read
    /// waits at most the command timeout; a transport failure, timeout, BYE
    /// or unparsable response kills the session.
    pub(super) async fn run(
        &mut self,
        command: &str,
        what: &'static str,
        mut on: impl FnMut(&Response<'_>),
    ) -> Result<(), Error> {
        let Session {
            inner,
            timeouts,
            exists,
            new_mail,
            ..
        } = self;
        let Some(session) = inner.as_mut() else {
            return Err(Error::Closed);
        };
        let limit = timeouts.command;
        // Outer error: the session is dead. Inner error: the server refused
        // this command (NO/BAD) and the connection stays usable.
        let outcome: Result<Result<(), Error>, Error> = async {
            drain_unsolicited(session, exists, new_mail);
            let tag = tokio::time::timeout(limit, session.run_command(command))
                .await
                .map_err(|_| Error::Timeout(what))?
                .map_err(map_error)?;
            loop {
                let response = tokio::time::timeout(limit, session.read_response())
                    .await
                    .map_err(|_| Error::Timeout(what))?
                    .map_err(map_io)?
                    .ok_or(Error::Closed)?;
                match response.parsed() {
                    Response::Done {
                        tag: done,
                        status,
                        outcome,
                    } if *done == tag => {
                        return Ok(match status {
                            Status::Ok => Ok(()),
                            _ => Err(Error::Protocol(format!(
                                "{what} refused: {:?} {}",
                                status,
                                outcome.information.as_deref().unwrap_or("")
                            ))),
                        });
                    }
                    Response::Data {
                        status: Status::Bye,
                        ..
                    } => return Err(Error::Closed),
                    other => {
                        observe(other, exists, new_mail);
                        on(other);
                    }
                }
            }
        }
        .await;
        match outcome {
            Err(fatal) => {
                *inner = None;
                Err(fatal)
            }
            Ok(result) => {
                if let Some(session) = inner.as_mut() {
                    drain_unsolicited(session, exists, new_mail);
                }
                result
            }
        }
    }
}

/// Notes what a response says about the examined folder's size.
pub(super) fn observe(response: &Response<'_>, exists: &mut u32, new_mail: &mut bool) {
    match response {
        Response::MailboxData(MailboxDatum::Exists(n)) => {
            if *n > *exists {
                *new_mail = true;
            }
            *exists = *n;
        }
        Response::MailboxData(MailboxDatum::Recent(n)) if *n > 0 => *new_mail = true,
        Response::Expunge(_) => *exists = exists.saturating_sub(1),
        _ => {}
    }
}

/// Empties async-imap's unsolicited channel (bounded at 100, dropping the
/// overflow), noting EXISTS/EXPUNGE/RECENT from it.
pub(super) fn drain_unsolicited(
    session: &mut async_imap::Session<Stream>,
    exists: &mut u32,
    new_mail: &mut bool,
) {
    use async_imap::types::UnsolicitedResponse as U;
    while let Ok(item) = session.unsolicited_responses.try_recv() {
        match item {
            U::Exists(n) => {
                if n > *exists {
                    *new_mail = true;
                }
                *exists = n;
            }
            U::Recent(n) if n > 0 => *new_mail = true,
            U::Expunge(_) => *exists = exists.saturating_sub(1),
            _ => {}
        }
    }
}

/// TCP, TLS/STARTTLS and greeting; returns the client and the pre-login
/// capabilities.
async fn open(
    settings: &ImapSettings,
    timeouts: Timeouts,
) -> Result<(async_imap::Client<Stream>, Capabilities), Error> {
    let host = settings.host.as_str();
    let ca_file = settings.ca_file.as_deref();
    let tcp = connect::tcp(host, settings.port, timeouts.connect).await?;
    match settings.tls {
        TlsMode::Implicit => {
            let stream = connect::tls(tcp, host, ca_file, timeouts.connect).await?;
            let mut client = async_imap::Client::new(stream);
            let caps = greeting(&mut client, timeouts).await?;
            Ok((client, caps))
        }
        TlsMode::None => {
            let mut client = async_imap::Client::new(Stream::Plain(tcp));
            let caps = greeting(&mut client, timeouts).await?;
            Ok((client, caps))
        }
        TlsMode::Starttls => {
            let mut client = async_imap::Client::new(Stream::Plain(tcp));
            let caps = greeting(&mut client, timeouts).await?;
            if !caps.starttls {
                return Err(Error::Protocol(
                    "the server does not offer STARTTLS (tls: starttls was configured)".into(),
                ));
            }
            // RFC 3501 §6.2.1. Bytes the server sent after its OK (a
            // plaintext injection) stay in async-imap's buffer and are
            // dropped with it.
            pre_login_command(&mut client, "STARTTLS", timeouts).await?;
            let Stream::Plain(tcp) = client.into_inner() else {
                return Err(Error::Protocol("STARTTLS on a TLS stream".into()));
            };
            let stream = connect::tls(tcp, host, ca_file, timeouts.connect).await?;
            let mut client = async_imap::Client::new(stream);
            // Capabilities learnt before TLS must be discarded (§6.2.1).
            let atoms = pre_login_command(&mut client, "CAPABILITY", timeouts).await?;
            Ok((
                client,
                Capabilities::from_atoms(atoms.iter().map(String::as_str)),
            ))
        }
    }
}

/// Reads the greeting (RFC 3501 §7.1): OK, or BYE for a refusal. Returns the
/// capabilities, from its response code or from a CAPABILITY command.
async fn greeting(
    client: &mut async_imap::Client<Stream>,
    timeouts: Timeouts,
) -> Result<Capabilities, Error> {
    let response = tokio::time::timeout(timeouts.connect, client.read_response())
        .await
        .map_err(|_| Error::Timeout("greeting"))?
        .map_err(map_io)?
        .ok_or(Error::Closed)?;
    let mut atoms = Vec::new();
    match response.parsed() {
        Response::Data {
            status: Status::Ok,
            outcome,
        } => {
            if let Some(ResponseCode::Capabilities(list)) = &outcome.code {
                atoms = list.iter().map(capability_atom).collect();
            }
        }
        Response::Data {
            status: Status::Bye,
            outcome,
        } => {
            return Err(Error::Protocol(format!(
                "the server refused the connection: {}",
                outcome.information.as_deref().unwrap_or("BYE")
            )));
        }
        Response::Data {
            status: Status::PreAuth,
            ..
        } => {
            return Err(Error::Protocol(
                "the server pre-authenticated the connection (PREAUTH), which rebound does \
                 not support"
                    .into(),
            ));
        }
        other => {
            return Err(Error::Protocol(format!("unexpected greeting: {other:?}")));
        }
    }
    if atoms.is_empty() {
        atoms = pre_login_command(client, "CAPABILITY", timeouts).await?;
    }
    Ok(Capabilities::from_atoms(atoms.iter().map(String::as_str)))
}

/// Runs a command before login, where async-imap offers no generic command
/// (the written bytes go straight to the stream under its reader); returns
/// the capability atoms seen on the way.
async fn pre_login_command(
    client: &mut async_imap::Client<Stream>,
    command: &'static str,
    timeouts: Timeouts,
) -> Result<Vec<String>, Error> {
    const TAG: &str = "RB0";
    let line = format!("{TAG} {command}\r\n");
    let write = async {
        client.get_mut().write_all(line.as_bytes()).await?;
        client.get_mut().flush().await
    };
    tokio::time::timeout(timeouts.command, write)
        .await
        .map_err(|_| Error::Timeout(command))?
        .map_err(map_io)?;
    let mut atoms = Vec::new();
    loop {
        let response = tokio::time::timeout(timeouts.command, client.read_response())
            .await
            .map_err(|_| Error::Timeout(command))?
            .map_err(map_io)?
            .ok_or(Error::Closed)?;
        match response.parsed() {
            Response::Done {
                tag,
                status,
                outcome,
            } if tag.0 == TAG => {
                return match status {
                    Status::Ok => Ok(atoms),
                    _ => Err(Error::Protocol(format!(
                        "{command} refused: {}",
                        outcome.information.as_deref().unwrap_or("")
                    ))),
                };
            }
            Response::Data {
                status: Status::Bye,
                ..
            } => return Err(Error::Closed),
            other => collect_capabilities(other, &mut atoms),
        }
    }
}

fn capability_atom(c: &Capability<'_>) -> String {
    match c {
        Capability::Imap4rev1 => "IMAP4rev1".to_string(),
        Capability::Auth(mech) => format!("AUTH={mech}"),
        Capability::Atom(atom) => atom.to_string(),
    }
}

fn collect_capabilities(response: &Response<'_>, atoms: &mut Vec<String>) {
    if let Response::Capabilities(list) = response {
        atoms.extend(list.iter().map(capability_atom));
    }
}

/// Quotes a mailbox name (RFC 3501 §4.3); refuses line breaks and NUL,
/// which no quoted string may hold.
pub(super) fn quote(name: &str) -> Result<String, Error> {
    if name.contains(['\r', '\n', '\0']) {
        return Err(Error::Protocol(format!(
            "mailbox name {name:?} contains a line break or NUL"
        )));
    }
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

/// Maps async-imap's error.
pub(super) fn map_error(e: async_imap::error::Error) -> Error {
    use async_imap::error::Error as E;
    match e {
        E::Io(io) => map_io(io),
        E::ConnectionLost => Error::Closed,
        E::Bad(text) | E::No(text) => Error::Protocol(auth::server_words(&text)),
        other => Error::Protocol(shorten(&other.to_string())),
    }
}

/// Maps a transport error: a closed peer is [`Error::Closed`]; async-imap
/// reports responses it cannot parse as I/O errors, which are protocol errors.
pub(super) fn map_io(e: std::io::Error) -> Error {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::UnexpectedEof
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::BrokenPipe
        | K::NotConnected => Error::Closed,
        _ => {
            let text = e.to_string();
            if text.contains("during parsing of") {
                Error::Protocol(format!(
                    "could not parse a server response: {}",
                    unparsed_input(&text).unwrap_or_else(|| shorten(&text))
                ))
            } else {
                Error::Io(e)
            }
        }
    }
}

/// The parser's error quotes the unparsed buffer as a list of byte values
/// (`input: [42, 32, ...]`): shown as text, its first line only, bounded.
fn unparsed_input(text: &str) -> Option<String> {
    let start = text.find("input: [")? + "input: [".len();
    let list = text.get(start..)?;
    let list = list.get(..list.find(']').unwrap_or(list.len()))?;
    let bytes: Vec<u8> = list
        .split(',')
        .map_while(|n| n.trim().parse::<u8>().ok())
        .take_while(|&b| b != b'\r' && b != b'\n')
        .take(160)
        .collect();
    let line = String::from_utf8_lossy(&bytes).into_owned();
    Some(format!("{line:?}"))
}

/// The first 300 characters (parse errors quote the whole buffer).
fn shorten(text: &str) -> String {
    let mut out: String = text.chars().take(300).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("INBOX").ok().as_deref(), Some("\"INBOX\""));
        assert_eq!(quote("a\"b\\c").ok().as_deref(), Some("\"a\\\"b\\\\c\""));
        assert!(quote("a\r\nb").is_err());
    }

    #[test]
    fn io_errors_map_to_closed_or_protocol() {
        use std::io::{Error as IoError, ErrorKind};
        assert!(matches!(
            map_io(IoError::from(ErrorKind::UnexpectedEof)),
            Error::Closed
        ));
        assert!(matches!(
            map_io(IoError::from(ErrorKind::ConnectionReset)),
            Error::Closed
        ));
        assert!(matches!(
            map_io(IoError::other(
                "Error(..) during parsing of \"* 1 FETCH (((\""
            )),
            Error::Protocol(_)
        ));
        assert!(matches!(
            map_io(IoError::from(ErrorKind::PermissionDenied)),
            Error::Io(_)
        ));
    }

    #[test]
    fn announcements_are_tracked() {
        let (mut exists, mut new_mail) = (3, false);
        observe(&Response::Expunge(1), &mut exists, &mut new_mail);
        assert_eq!((exists, new_mail), (2, false));
        observe(
            &Response::MailboxData(MailboxDatum::Exists(2)),
            &mut exists,
            &mut new_mail,
        );
        assert!(!new_mail);
        observe(
            &Response::MailboxData(MailboxDatum::Exists(3)),
            &mut exists,
            &mut new_mail,
        );
        assert!(new_mail);
    }
}
