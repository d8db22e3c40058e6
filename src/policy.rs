//! The contact policy (issue 4): what a matched notice means for the
//! contact — suppress, count, reset — and the events that say so.
//!
//! Pure: no I/O, the clock is a parameter. [`Ledger`] is loaded with the
//! stored state a step touches, fed the step's notices in order, and yields
//! the [`Changes`] the store writes in one transaction.

mod state;

pub use state::*;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::bounce::{Kind, Recipient, Report};
use crate::event::{Contact, Event, EventType};
use crate::matching::{Confidence, Match, Method};
use crate::time::rfc3339;
use crate::track::{TrackedMessage, normalise_address};

/// The policy's tunables (config `policy:`; defaults in [`Settings::default`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Soft bounces for distinct messages that suppress (default 3).
    pub soft_bounce_threshold: u32,
    /// The window those soft bounces must fall in (default 30 days).
    pub soft_bounce_window: i64,
    /// How long a delay notice waits for its final notice before it counts
    /// as a soft bounce (default 72 hours).
    pub pending_expiry: i64,
    /// Accounts with a `certain` hard bounce that suppress an address
    /// globally (default 3).
    pub global_accounts: u32,
    /// The window those hard bounces must fall in (default 60 days).
    pub global_window: i64,
    /// Let `recipient_window` and `unmatched` findings suppress and count
    /// (default false: only notices that cite our own message do).
    pub suppress_on_unconfirmed_match: bool,
    /// Write `auto_reply.received` events (default false).
    pub auto_reply_events: bool,
    /// A tracked send with no bounce for this long counts as delivered and
    /// resets the soft-bounce run (default 7 days, the matching window).
    pub delivered_after: i64,
}

const DAY: i64 = 24 * 3600;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            soft_bounce_threshold: 3,
            soft_bounce_window: 30 * DAY,
            pending_expiry: 72 * 3600,
            global_accounts: 3,
            global_window: 60 * DAY,
            suppress_on_unconfirmed_match: false,
            auto_reply_events: false,
            delivered_after: 7 * DAY,
        }
    }
}

/// What the policy did about one notice (`data.policy` of an event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The address is now suppressed.
    Suppressed,
    /// Counted toward the soft-bounce threshold.
    Counted,
    /// A delay: watched until its final notice or its expiry.
    Pending,
    /// Nothing changed (the reason says why).
    None,
}

/// `data.policy` of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// What was done.
    pub action: Action,
    /// Why (stable snake_case names, docs/events.md).
    pub reason: &'static str,
    /// Soft bounces in the current run, for counted soft bounces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soft_bounces: Option<u32>,
    /// The threshold, alongside `soft_bounces`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
    /// The `contact.suppressed` event this caused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppression_event_id: Option<String>,
    /// When a pending delay turns into a soft bounce (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl Outcome {
    fn new(action: Action, reason: &'static str) -> Outcome {
        Outcome {
            action,
            reason,
            soft_bounces: None,
            threshold: None,
            suppression_event_id: None,
            expires_at: None,
        }
    }
}

/// One analysed notice, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Notice<'a> {
    /// The account.
    pub account: &'a str,
    /// The inbox it arrived in.
    pub inbox: &'a str,
    /// Its identity ([`crate::source::identity`]).
    pub identity: &'a str,
    /// The analysis.
    pub report: &'a Report,
    /// The folder.
    pub folder: &'a str,
    /// The folder's UIDVALIDITY.
    pub uidvalidity: u32,
    /// Its UID.
    pub uid: u32,
    /// SHA-256 of its raw bytes, hex.
    pub raw_sha256: &'a str,
    /// A local source's path to it.
    pub location: Option<&'a str>,
    /// When it arrived (Unix seconds: internal date, else Date, else now).
    pub noticed_at: i64,
}

/// Why [`Ledger::unsuppress`] did nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsuppressError {
    /// The address is not suppressed in the account.
    #[error("{address} is not suppressed in account {account}")]
    NotSuppressed {
        /// The account.
        account: String,
        /// The address.
        address: String,
    },
    /// The address is not globally suppressed.
    #[error("{0} is not globally suppressed")]
    NotGloballySuppressed(String),
    /// The actor or the reason is empty.
    #[error("an unsuppress needs an actor and a reason")]
    MissingActor,
}

type Key = (String, String);

/// One suppression change as [`Ledger::record`] writes it: the history
/// line and the event share the id derived from `key`.
struct Recorded<'a> {
    action: HistoryAction,
    /// The event's dedupe key.
    key: String,
    account: &'a str,
    inbox: Option<&'a str>,
    /// The contact (its address is the history line's).
    contact: Contact,
    reason: &'a str,
    actor: &'a str,
    now: i64,
}

/// The policy applied to one step's notices: load what the store has for
/// the addresses involved, feed the notices in order, take the changes.
#[derive(Debug)]
pub struct Ledger {
    settings: Settings,
    contacts: BTreeMap<Key, ContactState>,
    dirty: HashSet<Key>,
    pending: HashMap<PendingKey, PendingDelay>,
    global: HashMap<String, Option<GlobalSuppression>>,
    trackers: HashMap<String, Vec<Tracker>>,
    sends: HashMap<Key, Vec<TrackedMessage>>,
    bounced: HashMap<Key, HashSet<String>>,
    seen: HashSet<String>,
    changes: Changes,
}

impl Ledger {
    /// An empty ledger.
    pub fn new(settings: Settings) -> Ledger {
        Ledger {
            settings,
            contacts: BTreeMap::new(),
            dirty: HashSet::new(),
            pending: HashMap::new(),
            global: HashMap::new(),
            trackers: HashMap::new(),
            sends: HashMap::new(),
            bounced: HashMap::new(),
            seen: HashSet::new(),
            changes: Changes::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Loads a stored contact state.
    pub fn load_contact(&mut self, state: ContactState) {
        let key = (state.account.clone(), state.address.clone());
        self.contacts.entry(key).or_insert(state);
    }

    /// Loads a stored pending delay.
    pub fn load_pending(&mut self, pending: PendingDelay) {
        let key = pending_key(&pending);
        self.pending.entry(key).or_insert(pending);
    }

    /// Loads an address's global suppression (`None`: there is none).
    pub fn load_global(&mut self, address: &str, global: Option<GlobalSuppression>) {
        self.global.entry(address.to_string()).or_insert(global);
    }

    /// Loads the accounts that tracked mail to an address.
    pub fn load_trackers(&mut self, address: &str, trackers: Vec<Tracker>) {
        self.trackers.insert(address.to_string(), trackers);
    }

    /// Loads recent tracked sends to an address (soft-bounce resets) and the
    /// Message-IDs that already have a finding for it.
    pub fn load_sends(
        &mut self,
        account: &str,
        address: &str,
        sends: Vec<TrackedMessage>,
        bounced: HashSet<String>,
    ) {
        let key = (account.to_string(), address.to_string());
        self.sends.insert(key.clone(), sends);
        self.bounced.insert(key, bounced);
    }

    /// Marks a notice's identity as already handled (so its recipients are
    /// skipped: a duplicate never counts twice).
    pub fn already_seen(&mut self, key: &str) {
        self.seen.insert(key.to_string());
    }

    /// Queues sent messages to track in the same transaction.
    pub fn track(&mut self, messages: Vec<TrackedMessage>) {
        self.changes.tracked.extend(messages);
    }

    /// The stored or fresh state of an address.
    pub fn contact(&self, account: &str, address: &str) -> Option<&ContactState> {
        self.contacts
            .get(&(account.to_string(), address.to_string()))
    }

    fn state_mut(&mut self, account: &str, address: &str, now: i64) -> &mut ContactState {
        let key = (account.to_string(), address.to_string());
        self.dirty.insert(key.clone());
        let state = self
            .contacts
            .entry(key)
            .or_insert_with(|| ContactState::new(account, address));
        state.updated_at = state.updated_at.max(now);
        state
    }

    /// The changes to write; the ledger is spent.
    pub fn into_changes(mut self) -> Changes {
        let mut dirty: Vec<Key> = self.dirty.into_iter().collect();
        dirty.sort();
        for key in dirty {
            if let Some(state) = self.contacts.remove(&key) {
                self.changes.contacts.push(state);
            }
        }
        self.changes
    }

    /// A sign of life from an address (a reply, an auto-reply, a delivery
    /// report): the soft-bounce run starts again. Only touches addresses
    /// that have a state (they were bounced before).
    pub fn sign_of_life(&mut self, account: &str, address: &str, at: i64) {
        let key = (account.to_string(), address.to_string());
        let Some(state) = self.contacts.get(&key) else {
            return;
        };
        if !state.soft.is_empty() || state.alive_at.is_none_or(|t| t < at) {
            let state = self.state_mut(account, address, at);
            state.soft.clear();
            state.alive_at = Some(state.alive_at.map_or(at, |t| t.max(at)));
        }
    }

    /// One failed or delayed recipient of a bounce, matched.
    pub fn bounce(&mut self, notice: &Notice<'_>, recipient: &Recipient, matched: &Match) {
        let address = contact_address(&recipient.address);
        let key = format!("{}\n{address}", notice.identity);
        if !self.seen.insert(key.clone()) {
            return;
        }
        let now = notice.noticed_at;
        let account = notice.account;
        let message_key = message_key(notice, matched);
        let certain = matched.confidence == Some(Confidence::Certain);
        let trusted = certain || self.settings.suppress_on_unconfirmed_match;
        let contact = self.contact_of(account, &address, matched.message.as_ref(), now);
        let kind = if matched.message.is_some() {
            EventType::BounceDetected
        } else {
            EventType::BounceUnmatched
        };
        let event_id = crate::event::event_id(kind, &key);
        let pkey = PendingKey {
            account: account.to_string(),
            address: address.clone(),
            message_key: message_key.clone(),
        };

        let outcome = match recipient.kind {
            Kind::Hard => {
                self.resolve_pending(&pkey);
                if certain {
                    let state = self.state_mut(account, &address, now);
                    state.last_certain_hard_at =
                        Some(state.last_certain_hard_at.map_or(now, |t| t.max(now)));
                }
                let outcome = self.suppress_for(
                    account,
                    Some(notice.inbox),
                    &address,
                    contact.clone(),
                    SuppressReason::HardBounce,
                    trusted,
                    now,
                    &event_id,
                    kind,
                );
                if certain {
                    self.check_global(&address, now, &event_id);
                }
                outcome
            }
            Kind::Soft => {
                self.resolve_pending(&pkey);
                let sent_at = matched.message.as_ref().map(|m| m.sent_at);
                self.count_soft(
                    account,
                    Some(notice.inbox),
                    &address,
                    contact.clone(),
                    &message_key,
                    sent_at,
                    trusted,
                    now,
                    &event_id,
                    kind,
                )
            }
            Kind::Pending => {
                if !trusted {
                    Outcome::new(Action::None, "unconfirmed_match")
                } else if self.pending.contains_key(&pkey) {
                    Outcome::new(Action::None, "already_pending")
                } else if self.is_suppressed(account, &address) {
                    Outcome::new(Action::None, "already_suppressed")
                } else {
                    let mut outcome = Outcome::new(Action::Pending, "delay_notice");
                    let expires_at = now.saturating_add(self.settings.pending_expiry);
                    outcome.expires_at = Some(rfc3339(expires_at));
                    self.state_mut(account, &address, now);
                    let snapshot = json!({
                        "inbox": notice.inbox,
                        "contact": contact,
                        "data": bounce_data(notice, recipient, matched, &Outcome::new(Action::Pending, "delay_notice")),
                        "trusted": trusted,
                        "sent_at": matched.message.as_ref().map(|m| m.sent_at),
                    });
                    let pending = PendingDelay {
                        account: account.to_string(),
                        address: address.clone(),
                        message_key: message_key.clone(),
                        inbox: notice.inbox.to_string(),
                        noticed_at: now,
                        expires_at,
                        event_id: event_id.clone(),
                        snapshot,
                    };
                    self.pending.insert(pkey, pending.clone());
                    self.changes.pending_add.push(pending);
                    outcome
                }
            }
        };

        let data = bounce_data(notice, recipient, matched, &outcome);
        let event = Event::new(
            kind,
            &key,
            now,
            account,
            Some(notice.inbox),
            Some(contact),
            data,
        );
        self.push_cause(event, &outcome);
        self.changes.findings.push(RecipientFinding {
            key,
            identity: notice.identity.to_string(),
            account: account.to_string(),
            inbox: notice.inbox.to_string(),
            address,
            message_id: matched.message.as_ref().map(|m| m.message_id.clone()),
            method: method_name(matched.method).to_string(),
            confidence: matched.confidence.map(|c| confidence_name(c).to_string()),
            verdict: "bounce".to_string(),
            kind: Some(kind_name(recipient.kind).to_string()),
            reason: serde_json::to_value(recipient.reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string)),
            status: recipient.status.clone(),
            folder: notice.folder.to_string(),
            uidvalidity: notice.uidvalidity,
            uid: notice.uid,
            raw_sha256: notice.raw_sha256.to_string(),
            location: notice.location.map(str::to_string),
            noticed_at: now,
            event_id,
        });
    }

    /// A spam complaint about `address` (normalised by the caller; `None`
    /// when the report redacts it and the message cannot tell).
    pub fn complaint(&mut self, notice: &Notice<'_>, address: Option<&str>, matched: &Match) {
        // A redacted complainant of a message sent to one person is that person.
        let address = address.map(contact_address).or_else(|| {
            matched
                .message
                .as_ref()
                .filter(|m| m.recipients.len() == 1)
                .and_then(|m| m.recipients.first())
                .map(|r| r.address.clone())
        });
        let key = format!("{}\n{}", notice.identity, address.as_deref().unwrap_or(""));
        if !self.seen.insert(key.clone()) {
            return;
        }
        let now = notice.noticed_at;
        let kind = EventType::ComplaintReceived;
        let event_id = crate::event::event_id(kind, &key);
        let trusted = matched.confidence == Some(Confidence::Certain)
            || self.settings.suppress_on_unconfirmed_match;
        let contact = address
            .as_deref()
            .map(|a| self.contact_of(notice.account, a, matched.message.as_ref(), now));
        let outcome = match (&address, &contact) {
            (Some(address), Some(contact)) => self.suppress_for(
                notice.account,
                Some(notice.inbox),
                address,
                contact.clone(),
                SuppressReason::Complaint,
                trusted,
                now,
                &event_id,
                kind,
            ),
            _ => Outcome::new(Action::None, "complainant_unknown"),
        };
        let mut data = Map::new();
        let complaint = notice.report.complaint.clone().unwrap_or_default();
        data.insert("feedback_type".into(), json!(complaint.feedback_type));
        data.insert(
            "original_message_id".into(),
            json!(complaint.original_message_id),
        );
        insert_common(&mut data, notice, matched, &outcome);
        let event = Event::new(
            kind,
            &key,
            now,
            notice.account,
            Some(notice.inbox),
            contact,
            Value::Object(data),
        );
        self.push_cause(event, &outcome);
        if let Some(address) = address {
            self.changes.findings.push(RecipientFinding {
                key,
                identity: notice.identity.to_string(),
                account: notice.account.to_string(),
                inbox: notice.inbox.to_string(),
                address,
                message_id: matched.message.as_ref().map(|m| m.message_id.clone()),
                method: method_name(matched.method).to_string(),
                confidence: matched.confidence.map(|c| confidence_name(c).to_string()),
                verdict: "complaint".to_string(),
                kind: None,
                reason: None,
                status: None,
                folder: notice.folder.to_string(),
                uidvalidity: notice.uidvalidity,
                uid: notice.uid,
                raw_sha256: notice.raw_sha256.to_string(),
                location: notice.location.map(str::to_string),
                noticed_at: now,
                event_id,
            });
        }
    }

    /// An auto-reply from `address`: a sign of life, never a bounce; an
    /// `auto_reply.received` event when enabled.
    pub fn auto_reply(&mut self, notice: &Notice<'_>, address: &str, matched: &Match) {
        let address = contact_address(address);
        let now = notice.noticed_at;
        self.sign_of_life(notice.account, &address, now);
        if !self.settings.auto_reply_events {
            return;
        }
        let key = format!("{}\n{address}", notice.identity);
        if !self.seen.insert(key.clone()) {
            return;
        }
        let contact = self.contact_of(notice.account, &address, matched.message.as_ref(), now);
        let mut data = Map::new();
        data.insert(
            "marker".into(),
            json!(notice.report.auto_reply.as_ref().map(|a| a.marker.clone())),
        );
        data.insert("subject".into(), json!(notice.report.message.subject));
        insert_common(
            &mut data,
            notice,
            matched,
            &Outcome::new(Action::None, "sign_of_life"),
        );
        self.changes.events.push(Event::new(
            EventType::AutoReplyReceived,
            &key,
            now,
            notice.account,
            Some(notice.inbox),
            Some(contact),
            Value::Object(data),
        ));
    }

    /// A delivery report for `addresses` about `message_key`: signs of life,
    /// and the delays it concerns are resolved.
    pub fn delivered(&mut self, account: &str, addresses: &[String], message_key: &str, at: i64) {
        for address in addresses {
            let address = contact_address(address);
            self.sign_of_life(account, &address, at);
            self.resolve_pending(&PendingKey {
                account: account.to_string(),
                address,
                message_key: message_key.to_string(),
            });
        }
    }

    /// A delay whose final notice did not come within the expiry: it becomes
    /// a soft bounce counted toward the threshold (`bounce.pending_expired`).
    pub fn expire(&mut self, pending: &PendingDelay, now: i64) {
        let key = pending_key(pending);
        self.resolve_pending(&key);
        let event_key = format!(
            "{}\n{}\n{}\n{}",
            pending.account, pending.address, pending.message_key, pending.noticed_at
        );
        let kind = EventType::PendingExpired;
        let event_id = crate::event::event_id(kind, &event_key);
        let trusted = pending
            .snapshot
            .get("trusted")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let sent_at = pending.snapshot.get("sent_at").and_then(Value::as_i64);
        let contact: Contact = pending
            .snapshot
            .get("contact")
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .unwrap_or(Contact {
                address: pending.address.clone(),
                contact_id: None,
            });
        let at = pending.expires_at.min(now);
        let outcome = self.count_soft(
            &pending.account,
            Some(&pending.inbox),
            &pending.address,
            contact.clone(),
            &pending.message_key,
            sent_at,
            trusted,
            at,
            &event_id,
            kind,
        );
        let mut data = match pending.snapshot.get("data") {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        data.insert("policy".into(), json!(outcome));
        data.insert("delay_event_id".into(), json!(pending.event_id));
        data.insert("delayed_since".into(), json!(rfc3339(pending.noticed_at)));
        let event = Event::new(
            kind,
            &event_key,
            at,
            &pending.account,
            Some(&pending.inbox),
            Some(contact),
            Value::Object(data),
        );
        self.push_cause(event, &outcome);
    }

    /// Lifts an account's suppression of an address (a person's decision,
    /// recorded with who and why). A later hard bounce suppresses again.
    pub fn unsuppress(
        &mut self,
        account: &str,
        address: &str,
        actor: &str,
        reason: &str,
        now: i64,
    ) -> Result<String, UnsuppressError> {
        self.lift(account, address, actor, reason, now, "account")
    }

    fn lift(
        &mut self,
        account: &str,
        address: &str,
        actor: &str,
        reason: &str,
        now: i64,
        scope: &str,
    ) -> Result<String, UnsuppressError> {
        if actor.trim().is_empty() || reason.trim().is_empty() {
            return Err(UnsuppressError::MissingActor);
        }
        let address = contact_address(address);
        let Some(previous) = self
            .contact(account, &address)
            .and_then(|s| s.suppression.clone())
        else {
            return Err(UnsuppressError::NotSuppressed {
                account: account.to_string(),
                address,
            });
        };
        let key = format!("{account}\n{address}\n{}\n{now}", previous.event_id);
        let state = self.state_mut(account, &address, now);
        state.suppression = None;
        state.soft.clear();
        let contact = Contact {
            address: address.clone(),
            contact_id: state.contact_id.clone(),
        };
        Ok(self.record(
            Recorded {
                action: HistoryAction::Unsuppressed,
                key,
                account,
                inbox: None,
                contact,
                reason: reason.trim(),
                actor: actor.trim(),
                now,
            },
            json!({
                "actor": actor.trim(),
                "reason": reason.trim(),
                "previous_reason": previous.reason.as_str(),
                "suppressed_since": rfc3339(previous.since),
                "scope": scope,
            }),
        ))
    }

    /// Writes a suppression change's history line and its event, under one
    /// event id (the id).
    fn record(&mut self, change: Recorded<'_>, data: Value) -> String {
        let kind = match change.action {
            HistoryAction::Suppressed => EventType::ContactSuppressed,
            HistoryAction::Unsuppressed => EventType::ContactUnsuppressed,
        };
        let event_id = crate::event::event_id(kind, &change.key);
        self.changes.history.push(HistoryEntry {
            account: change.account.to_string(),
            address: change.contact.address.clone(),
            action: change.action,
            reason: change.reason.to_string(),
            actor: change.actor.to_string(),
            at: change.now,
            event_id: event_id.clone(),
        });
        self.changes.events.push(Event::new(
            kind,
            &change.key,
            change.now,
            change.account,
            change.inbox,
            Some(change.contact),
            data,
        ));
        event_id
    }

    /// Lifts a global suppression, and every account suppression it caused.
    /// Needs [`Ledger::load_global`] and the address's states in every
    /// account loaded.
    pub fn lift_global(
        &mut self,
        address: &str,
        actor: &str,
        reason: &str,
        now: i64,
    ) -> Result<Vec<String>, UnsuppressError> {
        if actor.trim().is_empty() || reason.trim().is_empty() {
            return Err(UnsuppressError::MissingActor);
        }
        let address = contact_address(address);
        if !matches!(self.global.get(&address), Some(Some(_))) {
            return Err(UnsuppressError::NotGloballySuppressed(address));
        }
        self.global.insert(address.clone(), None);
        self.changes.global_lift.push(address.clone());
        let accounts: Vec<String> = self
            .contacts
            .values()
            .filter(|s| {
                s.address == address
                    && s.suppression
                        .as_ref()
                        .is_some_and(|x| x.reason == SuppressReason::GlobalSuppression)
            })
            .map(|s| s.account.clone())
            .collect();
        let mut ids = Vec::new();
        for account in accounts {
            if let Ok(id) = self.lift(&account, &address, actor, reason, now, "global") {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Appends an event that caused `outcome`, before the suppression event
    /// it caused (which was pushed while deciding).
    fn push_cause(&mut self, event: Event, outcome: &Outcome) {
        let at = self
            .changes
            .events
            .iter()
            .position(|e| outcome.suppression_event_id.as_deref() == Some(e.id.as_str()))
            .unwrap_or(self.changes.events.len());
        self.changes.events.insert(at, event);
    }

    /// Why a notice changes nothing before counting or suppressing: the
    /// address is suppressed already, or the match is not trusted.
    fn gate(&self, account: &str, address: &str, trusted: bool) -> Option<Outcome> {
        if self.is_suppressed(account, address) {
            return Some(Outcome::new(Action::None, "already_suppressed"));
        }
        (!trusted).then(|| Outcome::new(Action::None, "unconfirmed_match"))
    }

    fn is_suppressed(&self, account: &str, address: &str) -> bool {
        self.contact(account, address)
            .is_some_and(|s| s.suppression.is_some())
    }

    /// The contact an event names: the address, with the contact id of the
    /// tracked message's matching recipient (else the one last stored).
    fn contact_of(
        &mut self,
        account: &str,
        address: &str,
        message: Option<&TrackedMessage>,
        now: i64,
    ) -> Contact {
        let from_message = message.and_then(|m| {
            m.recipients
                .iter()
                .find(|r| r.address == address)
                .and_then(|r| r.contact_id.clone())
        });
        let stored = self
            .contact(account, address)
            .and_then(|s| s.contact_id.clone());
        if from_message.is_some() && from_message != stored {
            self.state_mut(account, address, now).contact_id = from_message.clone();
        }
        Contact {
            address: address.to_string(),
            contact_id: from_message.or(stored),
        }
    }

    fn resolve_pending(&mut self, key: &PendingKey) {
        if self.pending.remove(key).is_some() {
            self.changes.pending_add.retain(|p| &pending_key(p) != key);
            self.changes.pending_done.push(key.clone());
        }
    }

    /// Suppresses an address for `reason` when `trusted` and not suppressed
    /// yet; the outcome for the causing event.
    #[allow(clippy::too_many_arguments)]
    fn suppress_for(
        &mut self,
        account: &str,
        inbox: Option<&str>,
        address: &str,
        contact: Contact,
        reason: SuppressReason,
        trusted: bool,
        now: i64,
        cause_id: &str,
        cause_type: EventType,
    ) -> Outcome {
        if let Some(refused) = self.gate(account, address, trusted) {
            return refused;
        }
        let id = self.suppress(
            account,
            inbox,
            address,
            contact,
            reason,
            now,
            json!({"event_id": cause_id, "type": cause_type.as_str()}),
            "account",
        );
        let mut outcome = Outcome::new(Action::Suppressed, reason.as_str());
        outcome.suppression_event_id = Some(id);
        outcome
    }

    /// Writes a suppression, its history line and its event; the event id.
    #[allow(clippy::too_many_arguments)]
    fn suppress(
        &mut self,
        account: &str,
        inbox: Option<&str>,
        address: &str,
        contact: Contact,
        reason: SuppressReason,
        now: i64,
        cause: Value,
        scope: &str,
    ) -> String {
        let cause_id = cause
            .get("event_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let key = format!("{account}\n{address}\n{}\n{cause_id}", reason.as_str());
        let event_id = self.record(
            Recorded {
                action: HistoryAction::Suppressed,
                key,
                account,
                inbox,
                contact,
                reason: reason.as_str(),
                actor: "rebound",
                now,
            },
            json!({"reason": reason.as_str(), "scope": scope, "cause": cause}),
        );
        let state = self.state_mut(account, address, now);
        state.suppression = Some(Suppression {
            reason,
            since: now,
            event_id: event_id.clone(),
        });
        state.soft.clear();
        event_id
    }

    /// Counts a soft bounce for `message_key`; suppresses at the threshold.
    #[allow(clippy::too_many_arguments)]
    fn count_soft(
        &mut self,
        account: &str,
        inbox: Option<&str>,
        address: &str,
        contact: Contact,
        message_key: &str,
        sent_at: Option<i64>,
        trusted: bool,
        now: i64,
        cause_id: &str,
        cause_type: EventType,
    ) -> Outcome {
        if let Some(refused) = self.gate(account, address, trusted) {
            return refused;
        }
        let settings = self.settings;
        let key = (account.to_string(), address.to_string());
        let clean = self.clean_send_since_run(&key, message_key, now);
        let state = self.state_mut(account, address, now);
        if clean {
            state.soft.clear();
        }
        let oldest = now.saturating_sub(settings.soft_bounce_window);
        state.soft.retain(|e| e.at >= oldest);
        if state.soft.iter().any(|e| e.message == message_key) {
            let mut outcome = Outcome::new(Action::None, "message_already_counted");
            outcome.soft_bounces = u32::try_from(state.soft.len()).ok();
            outcome.threshold = Some(settings.soft_bounce_threshold);
            return outcome;
        }
        state.soft.push(SoftEntry {
            message: message_key.to_string(),
            sent_at,
            at: now,
        });
        let count = u32::try_from(state.soft.len()).unwrap_or(u32::MAX);
        if count >= settings.soft_bounce_threshold.max(1) {
            let id = self.suppress(
                account,
                inbox,
                address,
                contact,
                SuppressReason::SoftBounceThreshold,
                now,
                json!({"event_id": cause_id, "type": cause_type.as_str(), "soft_bounces": count}),
                "account",
            );
            let mut outcome = Outcome::new(Action::Suppressed, "soft_bounce_threshold");
            outcome.soft_bounces = Some(count);
            outcome.threshold = Some(settings.soft_bounce_threshold);
            outcome.suppression_event_id = Some(id);
            return outcome;
        }
        let mut outcome = Outcome::new(Action::Counted, "soft_bounce_counted");
        outcome.soft_bounces = Some(count);
        outcome.threshold = Some(settings.soft_bounce_threshold);
        outcome
    }

    /// Whether a tracked send to the address, newer than every message of
    /// the current run, went `delivered_after` without a bounce: it was
    /// delivered, so the run is not consecutive any more.
    fn clean_send_since_run(&self, key: &Key, message_key: &str, now: i64) -> bool {
        let Some(state) = self.contacts.get(key) else {
            return false;
        };
        if state.soft.is_empty() {
            return false;
        }
        let run_latest = state
            .soft
            .iter()
            .map(|e| e.sent_at.unwrap_or(e.at))
            .max()
            .unwrap_or(i64::MIN);
        let Some(sends) = self.sends.get(key) else {
            return false;
        };
        let bounced = self.bounced.get(key);
        sends.iter().any(|m| {
            m.sent_at > run_latest
                && m.sent_at.saturating_add(self.settings.delivered_after) <= now
                && m.message_id != message_key
                && !state.soft.iter().any(|e| e.message == m.message_id)
                && !bounced.is_some_and(|b| b.contains(&m.message_id))
                && !self.pending.contains_key(&PendingKey {
                    account: key.0.clone(),
                    address: key.1.clone(),
                    message_key: m.message_id.clone(),
                })
        })
    }

    /// After a `certain` hard bounce: suppresses the address in every
    /// account once enough accounts hard-bounced it within the window.
    fn check_global(&mut self, address: &str, now: i64, cause_id: &str) {
        if matches!(self.global.get(address), Some(Some(_))) {
            return;
        }
        let oldest = now.saturating_sub(self.settings.global_window);
        let mut accounts: Vec<String> = self
            .contacts
            .values()
            .filter(|s| s.address == address && s.last_certain_hard_at.is_some_and(|t| t >= oldest))
            .map(|s| s.account.clone())
            .collect();
        accounts.sort();
        accounts.dedup();
        if accounts.len() < usize::try_from(self.settings.global_accounts.max(1)).unwrap_or(1) {
            return;
        }
        let global = GlobalSuppression {
            address: address.to_string(),
            since: now,
            accounts: accounts.clone(),
        };
        self.global
            .insert(address.to_string(), Some(global.clone()));
        self.changes.global_add.push(global);
        // Every account that tracked mail to it, and every one with a state.
        let mut targets: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
        for t in self.trackers.get(address).into_iter().flatten() {
            targets.insert(
                t.account.clone(),
                (Some(t.inbox.clone()), t.contact_id.clone()),
            );
        }
        for s in self.contacts.values().filter(|s| s.address == address) {
            targets
                .entry(s.account.clone())
                .or_insert((None, s.contact_id.clone()));
        }
        for (account, (inbox, contact_id)) in targets {
            let contact = Contact {
                address: address.to_string(),
                contact_id,
            };
            let cause = json!({
                "event_id": cause_id,
                "type": EventType::BounceDetected.as_str(),
                "accounts": accounts,
            });
            if self.is_suppressed(&account, address) {
                // Already suppressed here: say that it is global now, keep
                // the account's own reason.
                let key = format!("{account}\n{address}\nglobal\n{cause_id}");
                self.changes.events.push(Event::new(
                    EventType::ContactSuppressed,
                    &key,
                    now,
                    &account,
                    inbox.as_deref(),
                    Some(contact),
                    json!({"reason": "global_suppression", "scope": "global", "cause": cause, "already_suppressed": true}),
                ));
            } else {
                if contact.contact_id.is_some() {
                    let state = self.state_mut(&account, address, now);
                    if state.contact_id.is_none() {
                        state.contact_id = contact.contact_id.clone();
                    }
                }
                self.suppress(
                    &account,
                    inbox.as_deref(),
                    address,
                    contact,
                    SuppressReason::GlobalSuppression,
                    now,
                    cause,
                    "global",
                );
            }
        }
    }
}

fn pending_key(p: &PendingDelay) -> PendingKey {
    PendingKey {
        account: p.account.clone(),
        address: p.address.clone(),
        message_key: p.message_key.clone(),
    }
}

/// The address a contact is keyed by: normalised, else trimmed lower case
/// (a notice can name something that is not quite an address).
pub fn contact_address(address: &str) -> String {
    normalise_address(address).unwrap_or_else(|| address.trim().to_lowercase())
}

/// The message a notice concerns, for counting distinct messages: the
/// tracked Message-ID, else the original's from the notice, else the
/// notice itself.
fn message_key(notice: &Notice<'_>, matched: &Match) -> String {
    matched
        .message
        .as_ref()
        .map(|m| m.message_id.clone())
        .or_else(|| notice.report.original.message_id.clone())
        .unwrap_or_else(|| notice.identity.to_string())
}

/// The stable name of a match method.
pub fn method_name(method: Method) -> &'static str {
    match method {
        Method::ReplyHeaders => "reply_headers",
        Method::EmbeddedOriginal => "embedded_original",
        Method::RecipientWindow => "recipient_window",
        Method::Unmatched => "unmatched",
    }
}

/// The stable name of a confidence.
pub fn confidence_name(confidence: Confidence) -> &'static str {
    match confidence {
        Confidence::Certain => "certain",
        Confidence::Likely => "likely",
        Confidence::Possible => "possible",
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Hard => "hard",
        Kind::Soft => "soft",
        Kind::Pending => "pending",
    }
}

/// `data` of a bounce event: the recipient entry of the report, then
/// `match`, `tracked_message`, `evidence` and `policy`.
fn bounce_data(
    notice: &Notice<'_>,
    recipient: &Recipient,
    matched: &Match,
    outcome: &Outcome,
) -> Value {
    let mut data = match serde_json::to_value(recipient) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    insert_common(&mut data, notice, matched, outcome);
    Value::Object(data)
}

/// The parts every notice event carries.
fn insert_common(
    data: &mut Map<String, Value>,
    notice: &Notice<'_>,
    matched: &Match,
    outcome: &Outcome,
) {
    data.insert(
        "match".into(),
        json!({
            "method": method_name(matched.method),
            "confidence": matched.confidence.map(confidence_name),
            "detection_limited": matched.detection_limited,
            "gateway": matched.gateway,
            "final_address": matched.final_address,
        }),
    );
    data.insert(
        "tracked_message".into(),
        matched.message.as_ref().map_or(Value::Null, |m| {
            json!({
                "message_id": m.message_id,
                "inbox": m.inbox,
                "subject": m.subject,
                "sent_at": rfc3339(m.sent_at),
                "metadata": m.metadata,
            })
        }),
    );
    data.insert(
        "evidence".into(),
        json!({
            "ndr_message_id": notice.report.message.message_id,
            "identity": notice.identity,
            "folder": notice.folder,
            "uidvalidity": notice.uidvalidity,
            "uid": notice.uid,
            "raw_sha256": notice.raw_sha256,
            "location": notice.location,
            "format": notice.report.format,
            "truncated": notice.report.truncated,
            "received_at": rfc3339(notice.noticed_at),
        }),
    );
    data.insert("policy".into(), json!(outcome));
}
