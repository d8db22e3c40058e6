//! Tracked sent messages: what the CRM (API, CLI) or the inbox's Sent folder
//! says was sent, so that a bounce can be tied to the message and contact it
//! concerns (issue 4).
//!
//! CONTRACT: the types below are shared by the store, matching and policy.
//! Registration from JSON (the CLI's bulk file, later the HTTP API) goes
//! through [`parse_line`], which validates and normalises.

use crate::time::{days_from_civil, days_in_month};
use std::collections::BTreeMap;

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

/// The tracked message for a message found in an inbox's Sent folder
/// (`track_sent_folder`): its Message-ID, every To/Cc/Bcc recipient, its
/// subject, and its Date (the internal date when it has none). `None` when
/// it has no Message-ID or no recipient that is an address: nothing could
/// match it.
pub fn from_sent(envelope: &crate::source::Envelope) -> Option<TrackedMessage> {
    let message_id = envelope
        .message_id
        .as_deref()
        .map(|id| {
            id.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
        })
        .filter(|id| !id.is_empty())?
        .to_string();
    let mut recipients: Vec<TrackedRecipient> = Vec::new();
    for address in envelope
        .recipients
        .iter()
        .filter_map(|a| normalise_address(a))
    {
        if !recipients.iter().any(|r| r.address == address) {
            recipients.push(TrackedRecipient {
                address,
                contact_id: None,
            });
        }
    }
    if recipients.is_empty() {
        return None;
    }
    let sent_at = envelope
        .date
        .as_deref()
        .and_then(crate::matching::parse_utc)
        .or_else(|| {
            envelope
                .internal_date
                .as_deref()
                .and_then(crate::matching::parse_utc)
        })?;
    Some(TrackedMessage {
        account: envelope.account.clone(),
        inbox: envelope.inbox.clone(),
        message_id,
        recipients,
        subject: envelope.subject.clone(),
        sent_at,
        metadata: serde_json::Value::Object(serde_json::Map::new()),
        source: TrackSource::SentFolder,
    })
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

/// Why a registration (one JSON line, or the CLI's arguments) was refused.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    /// Not a JSON object.
    #[error("not a JSON object: {0}")]
    Json(String),
    /// A required field is missing or empty.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A field has the wrong type or an unusable value.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A recipient is not an address (`local@domain`).
    #[error("recipient {0:?} is not an email address")]
    Address(String),
    /// The inbox is not one of the configured ones.
    #[error("unknown inbox {0:?}")]
    UnknownInbox(String),
    /// The line names an account other than its inbox's.
    #[error("account {given:?} does not match inbox {inbox:?}, which belongs to {expected:?}")]
    AccountMismatch {
        /// The account the line gave.
        given: String,
        /// The inbox.
        inbox: String,
        /// The inbox's account.
        expected: String,
    },
}

/// A [`TrackError`] at a line of a JSON Lines input (numbered from 1).
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct LineError {
    /// The line number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub error: TrackError,
}

/// What [`parse_line`] fills in that a line may leave out.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// The inbox of a line that names none.
    pub inbox: Option<String>,
    /// The known inboxes and their accounts (inbox id → account). When not
    /// empty, a line's inbox must be one of them and a line without an
    /// account gets its inbox's; when empty, a line must give its account.
    pub inboxes: BTreeMap<String, String>,
    /// `sent_at` of a line that gives none (Unix seconds).
    pub now: i64,
    /// Where the messages are registered from.
    pub source: TrackSource,
}

/// Parses and validates one registration in JSON (one line of a JSON Lines
/// file): `{"account", "inbox", "message_id", "to": [addresses] |
/// "recipients": [{"address", "contact_id"}], "subject", "sent_at" (RFC 3339
/// or Unix seconds, as a number or a string; default [`Defaults::now`]),
/// "metadata" (an object, default `{}`)}`. The Message-ID loses its angle
/// brackets; every address is normalised ([`normalise_address`]) and one that
/// is not an address is an error; at least one recipient is required.
pub fn parse_line(line: &str, defaults: &Defaults) -> Result<TrackedMessage, TrackError> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|err| TrackError::Json(err.to_string()))?;
    parse_value(&value, defaults)
}

/// [`parse_line`] on a JSON value already parsed.
pub fn parse_value(
    value: &serde_json::Value,
    defaults: &Defaults,
) -> Result<TrackedMessage, TrackError> {
    let object = value
        .as_object()
        .ok_or_else(|| TrackError::Json(format!("got {}", kind(value))))?;
    let text = |field: &'static str| -> Result<Option<String>, TrackError> {
        match object.get(field) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(TrackError::Invalid {
                field,
                reason: format!("expected a string, got {}", kind(other)),
            }),
        }
    };

    let inbox = text("inbox")?
        .filter(|s| !s.trim().is_empty())
        .or_else(|| defaults.inbox.clone())
        .ok_or(TrackError::Missing("inbox"))?;
    let given = text("account")?.filter(|s| !s.trim().is_empty());
    let account = if defaults.inboxes.is_empty() {
        given.ok_or(TrackError::Missing("account"))?
    } else {
        let expected = defaults
            .inboxes
            .get(&inbox)
            .ok_or_else(|| TrackError::UnknownInbox(inbox.clone()))?;
        match given {
            Some(given) if given != *expected => {
                return Err(TrackError::AccountMismatch {
                    given,
                    inbox,
                    expected: expected.clone(),
                });
            }
            _ => expected.clone(),
        }
    };

    let message_id = text("message_id")?.unwrap_or_default();
    let message_id = message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_owned();
    if message_id.is_empty() {
        return Err(TrackError::Missing("message_id"));
    }

    let mut recipients = Vec::new();
    for field in ["to", "recipients"] {
        let Some(list) = object.get(field) else {
            continue;
        };
        let list = list.as_array().ok_or_else(|| TrackError::Invalid {
            field,
            reason: format!("expected an array, got {}", kind(list)),
        })?;
        for entry in list {
            recipients.push(recipient(entry)?);
        }
    }
    if recipients.is_empty() {
        return Err(TrackError::Missing("recipients (to or recipients)"));
    }

    let sent_at = match object.get("sent_at") {
        None | Some(serde_json::Value::Null) => defaults.now,
        Some(serde_json::Value::Number(n)) => n.as_i64().ok_or_else(|| TrackError::Invalid {
            field: "sent_at",
            reason: format!("{n} is not whole Unix seconds"),
        })?,
        Some(serde_json::Value::String(s)) => parse_time(s).ok_or_else(|| TrackError::Invalid {
            field: "sent_at",
            reason: format!("{s:?} is neither RFC 3339 nor Unix seconds"),
        })?,
        Some(other) => {
            return Err(TrackError::Invalid {
                field: "sent_at",
                reason: format!("expected a time, got {}", kind(other)),
            });
        }
    };
    let metadata = match object.get("metadata") {
        None | Some(serde_json::Value::Null) => serde_json::Value::Object(Default::default()),
        Some(m @ serde_json::Value::Object(_)) => m.clone(),
        Some(other) => {
            return Err(TrackError::Invalid {
                field: "metadata",
                reason: format!("expected an object, got {}", kind(other)),
            });
        }
    };

    Ok(TrackedMessage {
        account,
        inbox,
        message_id,
        recipients,
        subject: text("subject")?,
        sent_at,
        metadata,
        source: defaults.source,
    })
}

/// One entry of `to` (a string) or `recipients` (`{address, contact_id}`).
fn recipient(entry: &serde_json::Value) -> Result<TrackedRecipient, TrackError> {
    let (address, contact_id) = match entry {
        serde_json::Value::String(address) => (address.as_str(), None),
        serde_json::Value::Object(o) => {
            let address =
                o.get("address")
                    .and_then(|a| a.as_str())
                    .ok_or_else(|| TrackError::Invalid {
                        field: "recipients",
                        reason: "each needs an \"address\" string".to_owned(),
                    })?;
            let contact_id = match o.get("contact_id") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                // CRMs often use numeric ids.
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                Some(other) => {
                    return Err(TrackError::Invalid {
                        field: "contact_id",
                        reason: format!("expected a string, got {}", kind(other)),
                    });
                }
            };
            (address, contact_id)
        }
        other => {
            return Err(TrackError::Invalid {
                field: "recipients",
                reason: format!("expected an address or an object, got {}", kind(other)),
            });
        }
    };
    let normalised =
        normalise_address(address).ok_or_else(|| TrackError::Address(address.to_owned()))?;
    Ok(TrackedRecipient {
        address: normalised,
        contact_id: contact_id.filter(|c| !c.is_empty()),
    })
}

/// A JSON value's kind, for messages.
fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Unix seconds from decimal digits (optionally signed) or an RFC 3339
/// date-time (RFC 3339 §5.6: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`; `t`,
/// `z` and a space for `T` are accepted as §5.6's note allows). Fractions
/// are dropped; a leap second counts as :59.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<i64>() {
        return Some(secs);
    }
    let b = text.as_bytes();
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = text.get(from..to)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let at = |i: usize| b.get(i).copied();
    if at(4) != Some(b'-')
        || at(7) != Some(b'-')
        || !matches!(at(10), Some(b'T' | b't' | b' '))
        || at(13) != Some(b':')
        || at(16) != Some(b':')
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    if at(i) == Some(b'.') {
        i += 1;
        let start = i;
        while at(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match at(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && at(i + 3) == Some(b':') => {
            let (h, m) = (num(i + 1, i + 3)?, num(i + 4, i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let offset = h * 3600 + m * 60;
            if sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60;
    Some(local + second.min(59) - offset)
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
