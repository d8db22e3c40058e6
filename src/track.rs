//! Tracked sent messages: what the CRM (API, CLI) or the inbox's Sent folder
//! says was sent, so that a bounce can be tied to the message and contact it
//! concerns (issue 4).
//!
//! CONTRACT: the types below are shared by the store, matching and policy;
//! registration is being written.

use serde::{Deserialize, Serialize};

/// Where a tracked message was registered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackSource {
    /// The HTTP API (issue 5).
    Api,
    /// `rebound track`.
    Cli,
    /// Seen in the inbox's Sent folder.
    SentFolder,
}

impl TrackSource {
    /// The stable name stored and shown (`api`, `cli`, `sent_folder`).
    pub fn as_str(self) -> &'static str {
        match self {
            TrackSource::Api => "api",
            TrackSource::Cli => "cli",
            TrackSource::SentFolder => "sent_folder",
        }
    }

    /// The inverse of [`TrackSource::as_str`].
    pub fn parse(name: &str) -> Option<TrackSource> {
        Some(match name {
            "api" => TrackSource::Api,
            "cli" => TrackSource::Cli,
            "sent_folder" => TrackSource::SentFolder,
            _ => return None,
        })
    }
}

/// One recipient of a tracked message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedRecipient {
    /// The address, normalised ([`normalise_address`]).
    pub address: String,
    /// The CRM's contact id, when given.
    pub contact_id: Option<String>,
}

/// A sent message rebound knows about. Identified by (account, Message-ID):
/// registering it again updates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackedMessage {
    /// The account (tenant).
    pub account: String,
    /// The inbox it was sent from.
    pub inbox: String,
    /// Message-ID without angle brackets.
    pub message_id: String,
    /// Every To, Cc and Bcc recipient.
    pub recipients: Vec<TrackedRecipient>,
    /// Its subject.
    pub subject: Option<String>,
    /// When it was sent (Unix seconds).
    pub sent_at: i64,
    /// Free metadata from the CRM, handed back in events (a JSON object).
    pub metadata: serde_json::Value,
    /// Where it was registered from.
    pub source: TrackSource,
}

/// Normalises an address for comparison (architecture.md, "Addresses"): the
/// domain lower-cased and in its ASCII (IDNA) form, the local part compared
/// case-insensitively (lower-cased), no plus-tag stripping. `None` when it is
/// not an address (`local@domain`, both parts non-empty).
pub fn normalise_address(address: &str) -> Option<String> {
    let address = address
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let (local, domain) = address.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() || local.chars().any(char::is_whitespace) {
        return None;
    }
    let domain = domain.trim_end_matches('.');
    let ascii = if domain.is_ascii() {
        domain.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(domain).ok()?
    };
    if ascii.is_empty() || ascii.chars().any(char::is_whitespace) {
        return None;
    }
    Some(format!("{}@{ascii}", local.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_normalise() {
        assert_eq!(
            normalise_address(" <Bob.Stone@Example.NET> ").as_deref(),
            Some("bob.stone@example.net")
        );
        assert_eq!(
            normalise_address("bob+crm@example.net").as_deref(),
            Some("bob+crm@example.net")
        );
        assert_eq!(
            normalise_address("jörg@bücher.example").as_deref(),
            Some("jörg@xn--bcher-kva.example")
        );
        assert_eq!(normalise_address("not an address"), None);
        assert_eq!(normalise_address("@example.net"), None);
        assert_eq!(normalise_address("bob@"), None);
    }
}
