//! What the contact policy keeps between notices, as the store persists it:
//! data only, the rules live in [`crate::policy`].

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::track::TrackedMessage;

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressReason {
    /// A hard bounce.
    HardBounce,
    /// Repeated soft bounces for distinct messages within the window.
    SoftBounceThreshold,
    /// A spam complaint.
    Complaint,
    /// Hard bounces in several accounts (global suppression).
    GlobalSuppression,
}

impl SuppressReason {
    /// The stable name (`hard_bounce`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressReason::HardBounce => "hard_bounce",
            SuppressReason::SoftBounceThreshold => "soft_bounce_threshold",
            SuppressReason::Complaint => "complaint",
            SuppressReason::GlobalSuppression => "global_suppression",
        }
    }

    /// The inverse of [`SuppressReason::as_str`].
    pub fn parse(name: &str) -> Option<SuppressReason> {
        [
            SuppressReason::HardBounce,
            SuppressReason::SoftBounceThreshold,
            SuppressReason::Complaint,
            SuppressReason::GlobalSuppression,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }
}

/// An active suppression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// Why.
    pub reason: SuppressReason,
    /// Since when (Unix seconds).
    pub since: i64,
    /// The `contact.suppressed` event that announced it.
    pub event_id: String,
}

/// One soft bounce counted toward the threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftEntry {
    /// The message it concerns: the tracked Message-ID, else the original's
    /// Message-ID from the notice, else the notice's identity.
    pub message: String,
    /// When that message was sent, when tracked (Unix seconds).
    pub sent_at: Option<i64>,
    /// When the bounce was noticed (Unix seconds).
    pub at: i64,
}

/// The policy's state of one address in one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactState {
    /// The account.
    pub account: String,
    /// The normalised address.
    pub address: String,
    /// The CRM's contact id last seen for it.
    pub contact_id: Option<String>,
    /// The active suppression, if any.
    pub suppression: Option<Suppression>,
    /// The current run of soft bounces (distinct messages, oldest first).
    pub soft: Vec<SoftEntry>,
    /// The last hard bounce matched with `certain` confidence (global rule).
    pub last_certain_hard_at: Option<i64>,
    /// The last sign of life (a reply, an auto-reply, a delivery report).
    pub alive_at: Option<i64>,
    /// Last change (Unix seconds).
    pub updated_at: i64,
}

impl ContactState {
    /// A fresh, unsuppressed state.
    pub fn new(account: &str, address: &str) -> ContactState {
        ContactState {
            account: account.to_string(),
            address: address.to_string(),
            contact_id: None,
            suppression: None,
            soft: Vec::new(),
            last_certain_hard_at: None,
            alive_at: None,
            updated_at: 0,
        }
    }
}

/// Whether a history entry suppressed or lifted a suppression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryAction {
    /// The address was suppressed.
    Suppressed,
    /// A suppression was lifted.
    Unsuppressed,
}

impl HistoryAction {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryAction::Suppressed => "suppressed",
            HistoryAction::Unsuppressed => "unsuppressed",
        }
    }

    /// The inverse of [`HistoryAction::as_str`].
    pub fn parse(name: &str) -> Option<HistoryAction> {
        match name {
            "suppressed" => Some(HistoryAction::Suppressed),
            "unsuppressed" => Some(HistoryAction::Unsuppressed),
            _ => None,
        }
    }
}

/// One line of an address's suppression history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The account.
    pub account: String,
    /// The normalised address.
    pub address: String,
    /// What happened.
    pub action: HistoryAction,
    /// Why (`hard_bounce`, ... or the reason a person gave).
    pub reason: String,
    /// Who: `rebound` for the policy, else the person or system named.
    pub actor: String,
    /// When (Unix seconds).
    pub at: i64,
    /// The event that announced it.
    pub event_id: String,
}

/// A delay notice waiting for its final notice (or its expiry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingDelay {
    /// The account.
    pub account: String,
    /// The normalised address.
    pub address: String,
    /// The message it concerns (as [`SoftEntry::message`]).
    pub message_key: String,
    /// The inbox the delay notice arrived in.
    pub inbox: String,
    /// When the (first) delay notice was noticed (Unix seconds).
    pub noticed_at: i64,
    /// When it becomes a soft bounce (Unix seconds).
    pub expires_at: i64,
    /// The `bounce.detected` event of the delay notice.
    pub event_id: String,
    /// What the `bounce.pending_expired` event will carry (the delay
    /// event's `contact` and `data`).
    pub snapshot: serde_json::Value,
}

/// An address suppressed in every account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalSuppression {
    /// The normalised address.
    pub address: String,
    /// Since when (Unix seconds).
    pub since: i64,
    /// The accounts whose hard bounces caused it.
    pub accounts: Vec<String>,
}

/// An account that sent tracked mail to an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracker {
    /// The account.
    pub account: String,
    /// The inbox of its latest tracked send to the address.
    pub inbox: String,
    /// The contact id of that send's recipient entry.
    pub contact_id: Option<String>,
}

/// One analysed notice for one recipient (the per-recipient finding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientFinding {
    /// Dedupe key: the notice's identity and the address.
    pub key: String,
    /// The notice's identity ([`crate::source::identity`]).
    pub identity: String,
    /// The account.
    pub account: String,
    /// The inbox.
    pub inbox: String,
    /// The normalised address.
    pub address: String,
    /// The tracked message it was matched to.
    pub message_id: Option<String>,
    /// The match method (`reply_headers`, ..., `unmatched`).
    pub method: String,
    /// The confidence, when matched.
    pub confidence: Option<String>,
    /// The notice's verdict (`bounce`, `complaint`, ...).
    pub verdict: String,
    /// `hard` / `soft` / `pending` for bounces.
    pub kind: Option<String>,
    /// The taxonomy reason.
    pub reason: Option<String>,
    /// The enhanced status code.
    pub status: Option<String>,
    /// Where the notice is: folder, UIDVALIDITY, UID.
    pub folder: String,
    /// The folder's UIDVALIDITY.
    pub uidvalidity: u32,
    /// Its UID.
    pub uid: u32,
    /// SHA-256 of its raw bytes, hex.
    pub raw_sha256: String,
    /// A local source's path to it.
    pub location: Option<String>,
    /// When it was noticed (Unix seconds).
    pub noticed_at: i64,
    /// The event written for it.
    pub event_id: String,
}

/// A pending delay, by its key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PendingKey {
    /// The account.
    pub account: String,
    /// The normalised address.
    pub address: String,
    /// As [`PendingDelay::message_key`].
    pub message_key: String,
}

/// Everything one policy step writes, in one store transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Sent messages to track (Sent-folder tracking).
    pub tracked: Vec<TrackedMessage>,
    /// Per-recipient findings (an existing key is left as it was).
    pub findings: Vec<RecipientFinding>,
    /// Contact states to write (replacing the stored ones).
    pub contacts: Vec<ContactState>,
    /// History lines to append.
    pub history: Vec<HistoryEntry>,
    /// Delays to start watching (an existing key keeps its first notice).
    pub pending_add: Vec<PendingDelay>,
    /// Delays resolved or expired.
    pub pending_done: Vec<PendingKey>,
    /// Global suppressions to write.
    pub global_add: Vec<GlobalSuppression>,
    /// Addresses whose global suppression is lifted.
    pub global_lift: Vec<String>,
    /// Events for the outbox (an existing id is left as it was).
    pub events: Vec<Event>,
}

impl Changes {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.tracked.is_empty()
            && self.findings.is_empty()
            && self.contacts.is_empty()
            && self.history.is_empty()
            && self.pending_add.is_empty()
            && self.pending_done.is_empty()
            && self.global_add.is_empty()
            && self.global_lift.is_empty()
            && self.events.is_empty()
    }
}
