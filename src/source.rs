//! What a mail source (IMAP, Maildir) hands on to the rest of the service.
//!
//! Every new message in a synced folder yields one light [`Envelope`] (the
//! next stages need replies from contacts too, not just bounces). A message
//! the pre-filter ([`crate::bounce::prefilter`]) picks as a candidate is
//! fetched whole, analysed, and handed on as a [`Finding`] that carries its
//! raw bytes and the analysis [`Report`].
//!
//! Positions are UID based: a folder's [`Checkpoint`] is its UIDVALIDITY and
//! the highest UID whose items are durably handed on (RFC 3501 §2.3.1.1).

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::bounce::Report;

/// What a folder is for. Decides how its messages are used: INBOX and Junk
/// are watched for notices, Sent feeds tracking (a later issue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FolderRole {
    /// The inbox (IMAP `INBOX`, the Maildir root).
    Inbox,
    /// The spam folder (RFC 6154 `\Junk`).
    Junk,
    /// The sent-mail folder (RFC 6154 `\Sent`).
    Sent,
    /// Any other configured folder, watched like the inbox.
    Other,
}

impl FolderRole {
    /// Whether messages in this folder are analysed for notices.
    pub fn is_watched(self) -> bool {
        !matches!(self, FolderRole::Sent)
    }
}

/// How far a folder has been handed on: IMAP's UIDVALIDITY and the last UID
/// processed. Advances only after what it produced is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// The folder's UIDVALIDITY when the UIDs below were seen.
    pub uidvalidity: u32,
    /// The highest UID already handed on (0: none yet).
    pub last_uid: u32,
}

/// The light description of one new message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Envelope {
    /// The configured inbox id.
    pub inbox: String,
    /// The account (tenant) the inbox belongs to.
    pub account: String,
    /// The folder's name (decoded UTF-8, as the user sees it).
    pub folder: String,
    /// What the folder is for.
    pub role: FolderRole,
    /// The folder's UIDVALIDITY.
    pub uidvalidity: u32,
    /// The message's UID in the folder.
    pub uid: u32,
    /// The server's arrival time (IMAP INTERNALDATE; Maildir: file mtime),
    /// RFC 3339 UTC.
    pub internal_date: Option<String>,
    /// The `Date:` header, RFC 3339 UTC.
    pub date: Option<String>,
    /// The first `From:` address.
    pub from: Option<String>,
    /// Every To, Cc and Bcc address (Sent-folder tracking needs them).
    pub recipients: Vec<String>,
    /// The decoded Subject.
    pub subject: Option<String>,
    /// `Message-ID`, without angle brackets.
    pub message_id: Option<String>,
    /// `In-Reply-To` ids, without angle brackets.
    pub in_reply_to: Vec<String>,
    /// `References` ids, without angle brackets.
    pub references: Vec<String>,
    /// The message's size in bytes as the server reports it.
    pub size: u64,
    /// Whether the pre-filter picked it as a candidate notice.
    pub candidate: bool,
    /// Where a local source keeps it (Maildir: the file path); `None` for IMAP.
    pub location: Option<String>,
}

/// A candidate notice, fetched whole and analysed.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The stable identity of this finding: the same message yields the same
    /// identity after a rescan (UIDVALIDITY change) or in another folder.
    /// See [`identity`].
    pub identity: String,
    /// Where it was found and what it looks like.
    pub envelope: Envelope,
    /// The analysis of its bytes.
    pub report: Report,
    /// The raw bytes as fetched (capped at the size cap).
    #[serde(skip)]
    pub raw: Vec<u8>,
}

/// A finding's identity (architecture.md, "Identity"): SHA-256 over the
/// account and the notice's Message-ID, or over its raw bytes when it has
/// none; hex, prefixed `msg_`. Per-recipient keys append the recipient later.
pub fn identity(account: &str, message_id: Option<&str>, raw: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(account.as_bytes());
    hash.update([0u8]);
    match message_id {
        Some(id) if !id.trim().is_empty() => {
            hash.update(b"mid:");
            hash.update(id.trim().as_bytes());
        }
        _ => {
            hash.update(b"raw:");
            hash.update(raw);
        }
    }
    format!("msg_{}", hex(&hash.finalize()))
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_stable_and_uses_message_id_first() {
        let a = identity("acme", Some("x@y"), b"one");
        let b = identity("acme", Some("x@y"), b"two");
        assert_eq!(a, b);
        assert_ne!(a, identity("other", Some("x@y"), b"one"));
        assert_ne!(
            identity("acme", None, b"one"),
            identity("acme", None, b"two")
        );
        assert!(a.starts_with("msg_") && a.len() == 68);
    }
}
