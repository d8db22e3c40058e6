//! The events rebound writes to its outbox and delivers to the CRM: the
//! envelope of architecture.md ("The event envelope"), documented with a JSON
//! Schema per type in docs/events.md.
//!
//! Ids are derived from (event type, dedupe key), so processing the same
//! notice again (a crash before the checkpoint, a UIDVALIDITY rescan) yields
//! the same ids and the outbox keeps one copy.

use serde::{Deserialize, Serialize};

use crate::source::sha256_hex;

/// Version of the event contract; bumped on any incompatible change.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A bounce tied to a tracked message.
    #[serde(rename = "bounce.detected")]
    BounceDetected,
    /// A bounce no tracked message fits; attached to the address.
    #[serde(rename = "bounce.unmatched")]
    BounceUnmatched,
    /// A delay notice with no final notice within the pending expiry.
    #[serde(rename = "bounce.pending_expired")]
    PendingExpired,
    /// A spam complaint (ARF feedback report).
    #[serde(rename = "complaint.received")]
    ComplaintReceived,
    /// An address was suppressed.
    #[serde(rename = "contact.suppressed")]
    ContactSuppressed,
    /// A suppression was lifted.
    #[serde(rename = "contact.unsuppressed")]
    ContactUnsuppressed,
    /// An auto-reply (opt-in).
    #[serde(rename = "auto_reply.received")]
    AutoReplyReceived,
    /// An inbox's connection state changed as a user sees it.
    #[serde(rename = "inbox.status_changed")]
    InboxStatusChanged,
}

impl EventType {
    /// The stable name (`bounce.detected`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::BounceDetected => "bounce.detected",
            EventType::BounceUnmatched => "bounce.unmatched",
            EventType::PendingExpired => "bounce.pending_expired",
            EventType::ComplaintReceived => "complaint.received",
            EventType::ContactSuppressed => "contact.suppressed",
            EventType::ContactUnsuppressed => "contact.unsuppressed",
            EventType::AutoReplyReceived => "auto_reply.received",
            EventType::InboxStatusChanged => "inbox.status_changed",
        }
    }

    /// Every type, in documentation order.
    pub const ALL: [EventType; 8] = [
        EventType::BounceDetected,
        EventType::BounceUnmatched,
        EventType::PendingExpired,
        EventType::ComplaintReceived,
        EventType::ContactSuppressed,
        EventType::ContactUnsuppressed,
        EventType::AutoReplyReceived,
        EventType::InboxStatusChanged,
    ];

    /// The inverse of [`EventType::as_str`].
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// The contact an event concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The normalised address.
    pub address: String,
    /// The CRM's contact id, when it was given at tracking time.
    pub contact_id: Option<String>,
}

/// One event, as the callback receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Always [`EVENT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Stable id (`evt_` + 32 hex digits); receivers de-duplicate by it.
    pub id: String,
    /// The type.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When what it reports happened (RFC 3339 UTC).
    pub occurred_at: String,
    /// The account (tenant).
    pub account: String,
    /// The inbox it came from; `null` for account-wide events.
    pub inbox: Option<String>,
    /// The contact; `null` for inbox events.
    pub contact: Option<Contact>,
    /// Type-specific details (docs/events.md).
    pub data: serde_json::Value,
}

impl Event {
    /// An event with its id derived from `(kind, key)`.
    pub fn new(
        kind: EventType,
        key: &str,
        occurred_at: i64,
        account: &str,
        inbox: Option<&str>,
        contact: Option<Contact>,
        data: serde_json::Value,
    ) -> Event {
        Event {
            schema_version: EVENT_SCHEMA_VERSION,
            id: event_id(kind, key),
            kind,
            occurred_at: crate::time::rfc3339(occurred_at),
            account: account.to_string(),
            inbox: inbox.map(str::to_string),
            contact,
            data,
        }
    }
}

/// `evt_` + the first 32 hex digits of SHA-256(type, NUL, key).
pub fn event_id(kind: EventType, key: &str) -> String {
    let mut input = Vec::with_capacity(key.len() + 32);
    input.extend_from_slice(kind.as_str().as_bytes());
    input.push(0);
    input.extend_from_slice(key.as_bytes());
    let hex = sha256_hex(&input);
    format!("evt_{}", hex.get(..32).unwrap_or(&hex))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_depend_on_type_and_key() {
        let a = event_id(EventType::BounceDetected, "k");
        assert_eq!(a, event_id(EventType::BounceDetected, "k"));
        assert_ne!(a, event_id(EventType::BounceUnmatched, "k"));
        assert_ne!(a, event_id(EventType::BounceDetected, "k2"));
        assert_eq!(a.len(), 36);
        assert!(a.starts_with("evt_"));
    }

    #[test]
    fn type_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            let json = serde_json::to_string(&t).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
    }
}
