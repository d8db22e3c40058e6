//! The event contract (docs/events.md, docs/schemas/events/): every event
//! type is built through the real analysis, matching and contact policy
//! (the pure [`Ledger`], as in tests/policy.rs), and each event must satisfy
//! the JSON Schema of its type. The JSON examples in docs/events.md are
//! validated against the same schemas, so neither the docs nor the schemas
//! can drift from what the code writes.
//!
//! `inbox.status_changed` is the one type the Ledger does not write: its
//! writer, `sync::health::Reporter`, needs a `PolicyStore` whose SQLite side
//! does not exist yet, so [`status_event`] builds the event the way the
//! reporter's closure does (same key, same data), with the real
//! [`public_status`] and [`HealthState`] names.
//!
//! `EVENT_EXAMPLES=path cargo test --test event_schemas` also writes every
//! generated event, by scenario, to `path` (how the docs' examples are made).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rebound::bounce::{Report, analyse};
use rebound::event::{Event, EventType};
use rebound::matching::{self, Match};
use rebound::policy::{
    Changes, ContactState, Ledger, Notice, Settings, SoftEntry, SuppressReason, Suppression,
    Tracker,
};
use rebound::source::{identity, sha256_hex};
use rebound::store::HealthState;
use rebound::sync::health::public_status;
use rebound::track::{TrackSource, TrackedMessage, TrackedRecipient};
use serde_json::{Value, json};

/// 2026-11-23T10:15:00Z, the Date of most fixtures used here.
const T: i64 = 1_795_428_900;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
const INBOX: &str = "alice-gmail";
const UIDVALIDITY: u32 = 1_732_350_012;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One fixture notice as an inbox would hand it to the policy.
struct Mail {
    account: String,
    report: Report,
    identity: String,
    raw_sha256: String,
    uid: u32,
    at: i64,
}

impl Mail {
    fn new(fixture: &str, account: &str, uid: u32) -> Mail {
        let raw = std::fs::read(root().join("tests/fixtures").join(fixture)).unwrap();
        let report = analyse(&raw);
        let identity = identity(account, report.message.message_id.as_deref(), &raw);
        let at = matching::notice_time(None, &report).unwrap();
        Mail {
            account: account.into(),
            report,
            identity,
            raw_sha256: sha256_hex(&raw),
            uid,
            at,
        }
    }

    /// The same bytes arriving again as another notice (a second delay
    /// warning, a resent NDR): another Message-ID, so another identity.
    fn again(mut self, message_id: &str, uid: u32, at: i64) -> Mail {
        self.identity = identity(&self.account, Some(message_id), b"");
        self.report.message.message_id = Some(message_id.into());
        self.uid = uid;
        self.at = at;
        self
    }

    fn notice(&self) -> Notice<'_> {
        Notice {
            account: &self.account,
            inbox: INBOX,
            identity: &self.identity,
            report: &self.report,
            folder: "INBOX",
            uidvalidity: UIDVALIDITY,
            uid: self.uid,
            raw_sha256: &self.raw_sha256,
            location: None,
            noticed_at: self.at,
        }
    }

    /// The real matcher, given every tracked message as candidate (it
    /// re-checks ids, addresses and the window itself).
    fn matched(
        &self,
        address: &str,
        final_address: Option<&str>,
        tracked: &[TrackedMessage],
    ) -> Match {
        matching::match_address(
            &self.report,
            address,
            final_address,
            self.at,
            tracked,
            tracked,
            &matching::Settings::default(),
        )
    }

    /// Every failed recipient of the notice through matching and the policy.
    fn bounce(&self, ledger: &mut Ledger, tracked: &[TrackedMessage]) {
        for r in &self.report.recipients {
            let m = self.matched(&r.address, r.final_address.as_deref(), tracked);
            ledger.bounce(&self.notice(), r, &m);
        }
    }
}

fn tracked(
    account: &str,
    message_id: &str,
    to: &[(&str, Option<&str>)],
    sent_at: i64,
) -> TrackedMessage {
    TrackedMessage {
        account: account.into(),
        inbox: INBOX.into(),
        message_id: message_id.into(),
        recipients: to
            .iter()
            .map(|(address, contact_id)| TrackedRecipient {
                address: (*address).into(),
                contact_id: contact_id.map(str::to_string),
            })
            .collect(),
        subject: Some("Proposal for Q1".into()),
        sent_at,
        metadata: json!({"deal_id": "D-7731", "sequence": "q1-outreach"}),
        source: TrackSource::Api,
    }
}

/// A stored state with soft bounces for `messages` already counted.
fn soft_state(account: &str, address: &str, messages: &[(&str, i64)]) -> ContactState {
    let mut s = ContactState::new(account, address);
    s.soft = messages
        .iter()
        .map(|(m, at)| SoftEntry {
            message: (*m).into(),
            sent_at: Some(at - 60),
            at: *at,
        })
        .collect();
    s.updated_at = messages.iter().map(|(_, at)| *at).max().unwrap_or(0);
    s
}

/// A stored state of an address suppressed in account `acme`.
fn suppressed(address: &str, reason: SuppressReason, since: i64, event_id: &str) -> ContactState {
    let mut s = ContactState::new("acme", address);
    s.suppression = Some(Suppression {
        reason,
        since,
        event_id: event_id.into(),
    });
    s.updated_at = since;
    s
}

/// Applies `changes` to a fresh ledger, as the store would between steps.
fn carry(changes: &Changes, settings: Settings) -> Ledger {
    let mut next = Ledger::new(settings);
    for c in &changes.contacts {
        next.load_contact(c.clone());
    }
    for p in &changes.pending_add {
        next.load_pending(p.clone());
    }
    next
}

/// `type action/reason` for notice events, `type reason/scope` for
/// suppressions, `type previous_reason` for lifts, `type status`.
fn summary(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let d = &e.data;
            let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
            let detail = match e.kind {
                EventType::ContactSuppressed => format!("{}/{}", s(&d["reason"]), s(&d["scope"])),
                EventType::ContactUnsuppressed => s(&d["previous_reason"]),
                EventType::InboxStatusChanged => s(&d["status"]),
                _ => format!(
                    "{}/{}",
                    s(&d["policy"]["action"]),
                    s(&d["policy"]["reason"])
                ),
            };
            format!("{} {detail}", e.kind.as_str())
        })
        .collect()
}

/// One situation and the events the code writes for it.
struct Scenario {
    name: &'static str,
    events: Vec<Event>,
}

/// The scenario, after checking that the code wrote the events `expected`
/// lists (`summary` lines joined by ", ").
fn scenario(name: &'static str, changes: Changes, expected: &str) -> Scenario {
    assert_eq!(
        summary(&changes.events).join(", "),
        expected,
        "scenario {name}"
    );
    Scenario {
        name,
        events: changes.events,
    }
}

const BOB_NDR: &str = "dsn/postfix_user_unknown.eml";
const BOB_SENT: &str = "crm.20261123101455.0001@example.com";
const CAROL_NDR: &str = "dsn/postfix_mailbox_full.eml";
const CAROL_SENT: &str = "crm.20261123101455.0002@example.com";
const DAVE_DELAY: &str = "dsn/postfix_delayed_warning.eml";
const DAVE_SENT: &str = "crm.20261123101455.0003@example.com";

fn bob_sent(account: &str) -> TrackedMessage {
    tracked(
        account,
        BOB_SENT,
        &[("bob@example.net", Some("crm-contact-1042"))],
        T - 5,
    )
}

fn hard_bounces() -> Vec<Scenario> {
    let settings = Settings::default();
    let mut out = Vec::new();

    // Certain (embedded original): suppressed, then lifted by a person.
    let mut l = Ledger::new(settings);
    Mail::new(BOB_NDR, "acme", 4821).bounce(&mut l, &[bob_sent("acme")]);
    let c = l.into_changes();
    let mut next = carry(&c, settings);
    out.push(scenario(
        "hard_bounce_certain",
        c,
        "bounce.detected suppressed/hard_bounce, contact.suppressed hard_bounce/account",
    ));
    next.unsuppress(
        "acme",
        "bob@example.net",
        "alice@acme.example",
        "Contact confirmed the mailbox exists again",
        T + 3 * DAY,
    )
    .unwrap();
    out.push(scenario(
        "unsuppress",
        next.into_changes(),
        "contact.unsuppressed hard_bounce",
    ));

    // Nothing tracked: reported, not acted on...
    let mut l = Ledger::new(settings);
    Mail::new(BOB_NDR, "acme", 4821).bounce(&mut l, &[]);
    out.push(scenario(
        "hard_bounce_unmatched",
        l.into_changes(),
        "bounce.unmatched none/unconfirmed_match",
    ));
    // ... unless configured.
    let mut l = Ledger::new(Settings {
        suppress_on_unconfirmed_match: true,
        ..settings
    });
    Mail::new(BOB_NDR, "acme", 4821).bounce(&mut l, &[]);
    out.push(scenario(
        "hard_bounce_unmatched_trusted",
        l.into_changes(),
        "bounce.unmatched suppressed/hard_bounce, contact.suppressed hard_bounce/account",
    ));

    // A gateway's own notice, tied by address and subject only.
    let mut l = Ledger::new(settings);
    let uma = tracked(
        "acme",
        "crm.20261123091210.0044@example.com",
        &[("uma@example.org", None)],
        T - HOUR,
    );
    Mail::new("prose/mimecast_gateway.eml", "acme", 4822).bounce(&mut l, &[uma]);
    let c = l.into_changes();
    assert_eq!(c.events[0].data["match"]["confidence"], "likely");
    out.push(scenario(
        "hard_bounce_window",
        c,
        "bounce.detected none/unconfirmed_match",
    ));

    // Already suppressed in the account.
    let mut l = Ledger::new(settings);
    let state = suppressed(
        "bob@example.net",
        SuppressReason::Complaint,
        T - 20 * DAY,
        "evt_4f1c0e9a6b2d8c3e5f7a9b1d3c5e7f90",
    );
    l.load_contact(state);
    Mail::new(BOB_NDR, "acme", 4821).bounce(&mut l, &[bob_sent("acme")]);
    out.push(scenario(
        "hard_bounce_already_suppressed",
        l.into_changes(),
        "bounce.detected none/already_suppressed",
    ));
    out
}

fn soft_bounces() -> Vec<Scenario> {
    let settings = Settings::default();
    let carol = || {
        tracked(
            "acme",
            CAROL_SENT,
            &[("carol@example.org", Some("crm-contact-2210"))],
            T - 5,
        )
    };
    let mut out = Vec::new();

    let mut l = Ledger::new(settings);
    Mail::new(CAROL_NDR, "acme", 4830).bounce(&mut l, &[carol()]);
    out.push(scenario(
        "soft_bounce_counted",
        l.into_changes(),
        "bounce.detected counted/soft_bounce_counted",
    ));

    let earlier = [
        ("crm.20261109093000.0017@example.com", T - 14 * DAY),
        ("crm.20261116093000.0023@example.com", T - 7 * DAY),
    ];
    let mut l = Ledger::new(settings);
    l.load_contact(soft_state("acme", "carol@example.org", &earlier));
    Mail::new(CAROL_NDR, "acme", 4830).bounce(&mut l, &[carol()]);
    out.push(scenario(
        "soft_bounce_threshold",
        l.into_changes(),
        "bounce.detected suppressed/soft_bounce_threshold, contact.suppressed soft_bounce_threshold/account",
    ));

    // A second notice about a message already counted.
    let mut l = Ledger::new(settings);
    l.load_contact(soft_state(
        "acme",
        "carol@example.org",
        &[(CAROL_SENT, T - HOUR)],
    ));
    Mail::new(CAROL_NDR, "acme", 4830).bounce(&mut l, &[carol()]);
    out.push(scenario(
        "soft_bounce_message_already_counted",
        l.into_changes(),
        "bounce.detected none/message_already_counted",
    ));

    // Tied by address only: counted only when configured.
    let mut l = Ledger::new(settings);
    let mut m = carol();
    m.message_id = "crm.20261123080000.0009@example.com".into();
    Mail::new(CAROL_NDR, "acme", 4830).bounce(&mut l, &[m]);
    out.push(scenario(
        "soft_bounce_unconfirmed",
        l.into_changes(),
        "bounce.detected none/unconfirmed_match",
    ));
    out
}

fn delays() -> Vec<Scenario> {
    let settings = Settings::default();
    let dave = || {
        tracked(
            "acme",
            DAVE_SENT,
            &[("dave@example.org", Some("crm-contact-3307"))],
            T - 4 * HOUR - 780,
        )
    };
    let mut out = Vec::new();

    let mut l = Ledger::new(settings);
    Mail::new(DAVE_DELAY, "acme", 4840).bounce(&mut l, &[dave()]);
    let c = l.into_changes();
    let pending = c.pending_add[0].clone();
    let stored = carry(&c, settings);
    out.push(scenario("delay", c, "bounce.detected pending/delay_notice"));

    // A second warning for the same message.
    let mut l = stored;
    Mail::new(DAVE_DELAY, "acme", 4841)
        .again(
            "20261124101500.9C2D33C0789@mail.example.com",
            4841,
            pending.noticed_at + DAY,
        )
        .bounce(&mut l, &[dave()]);
    out.push(scenario(
        "delay_already_pending",
        l.into_changes(),
        "bounce.detected none/already_pending",
    ));

    // No final notice within 72 h.
    let mut l = Ledger::new(settings);
    l.load_contact(ContactState::new("acme", "dave@example.org"));
    l.load_pending(pending.clone());
    l.expire(&pending, pending.expires_at + 120);
    out.push(scenario(
        "pending_expired",
        l.into_changes(),
        "bounce.pending_expired counted/soft_bounce_counted",
    ));

    let earlier = [
        ("crm.20261109093000.0031@example.com", T - 14 * DAY),
        ("crm.20261116093000.0038@example.com", T - 7 * DAY),
    ];
    let mut l = Ledger::new(settings);
    l.load_contact(soft_state("acme", "dave@example.org", &earlier));
    l.load_pending(pending.clone());
    l.expire(&pending, pending.expires_at + 120);
    out.push(scenario(
        "pending_expired_threshold",
        l.into_changes(),
        "bounce.pending_expired suppressed/soft_bounce_threshold, contact.suppressed soft_bounce_threshold/account",
    ));

    let mut l = Ledger::new(settings);
    let state = suppressed(
        "dave@example.org",
        SuppressReason::HardBounce,
        T - 2 * DAY,
        "evt_0b5e2f7c9d1a3e6b8c0d2f4a6b8c0e1f",
    );
    l.load_contact(state.clone());
    l.load_pending(pending.clone());
    l.expire(&pending, pending.expires_at + 120);
    out.push(scenario(
        "pending_expired_already_suppressed",
        l.into_changes(),
        "bounce.pending_expired none/already_suppressed",
    ));
    let mut l = Ledger::new(settings);
    l.load_contact(state);
    Mail::new(DAVE_DELAY, "acme", 4840).bounce(&mut l, &[dave()]);
    out.push(scenario(
        "delay_already_suppressed",
        l.into_changes(),
        "bounce.detected none/already_suppressed",
    ));

    // A delay nothing tracked fits: reported only, not watched.
    let mut l = Ledger::new(settings);
    Mail::new(DAVE_DELAY, "acme", 4840).bounce(&mut l, &[]);
    let c = l.into_changes();
    assert!(c.pending_add.is_empty());
    out.push(scenario(
        "delay_unmatched",
        c,
        "bounce.unmatched none/unconfirmed_match",
    ));
    out
}

fn complaints() -> Vec<Scenario> {
    let settings = Settings::default();
    let fixture = "other/arf_abuse_complaint.eml";
    let sent = "crm.20261123101455.0030@example.com";
    let mut out = Vec::new();

    let victor = tracked(
        "acme",
        sent,
        &[("victor@example.net", Some("crm-contact-5120"))],
        T - 5,
    );
    let mail = Mail::new(fixture, "acme", 4850);
    let mut l = Ledger::new(settings);
    let m = mail.matched("victor@example.net", None, std::slice::from_ref(&victor));
    l.complaint(&mail.notice(), Some("victor@example.net"), &m);
    out.push(scenario(
        "complaint",
        l.into_changes(),
        "complaint.received suppressed/complaint, contact.suppressed complaint/account",
    ));

    // Redacted complainant of a message sent to two people.
    let two = tracked(
        "acme",
        sent,
        &[("victor@example.net", None), ("wendy@example.net", None)],
        T - 5,
    );
    let mut l = Ledger::new(settings);
    let m = mail.matched("", None, &[two]);
    l.complaint(&mail.notice(), None, &m);
    out.push(scenario(
        "complaint_complainant_unknown",
        l.into_changes(),
        "complaint.received none/complainant_unknown",
    ));

    let mut l = Ledger::new(settings);
    let m = mail.matched("victor@example.net", None, &[]);
    l.complaint(&mail.notice(), Some("victor@example.net"), &m);
    out.push(scenario(
        "complaint_unconfirmed",
        l.into_changes(),
        "complaint.received none/unconfirmed_match",
    ));

    let mut l = Ledger::new(settings);
    let state = suppressed(
        "victor@example.net",
        SuppressReason::HardBounce,
        T - DAY,
        "evt_7d3a1c5e9f0b2d4c6e8a0b1c3d5e7f92",
    );
    l.load_contact(state);
    let m = mail.matched("victor@example.net", None, std::slice::from_ref(&victor));
    l.complaint(&mail.notice(), Some("victor@example.net"), &m);
    out.push(scenario(
        "complaint_already_suppressed",
        l.into_changes(),
        "complaint.received none/already_suppressed",
    ));
    out
}

fn auto_replies() -> Vec<Scenario> {
    let settings = Settings {
        auto_reply_events: true,
        ..Settings::default()
    };
    let sent = tracked(
        "acme",
        "crm.20261123101455.0031@example.com",
        &[("ben@example.net", Some("crm-contact-6001"))],
        T - 5,
    );
    let mail = Mail::new("other/autoreply_rfc3834.eml", "acme", 4860);
    let from = mail.report.message.from.clone().unwrap();
    let m = mail.matched(&from, None, &[sent]);
    let mut l = Ledger::new(settings);
    l.auto_reply(&mail.notice(), &from, &m);
    vec![scenario(
        "auto_reply",
        l.into_changes(),
        "auto_reply.received none/sign_of_life",
    )]
}

/// Hard bounces in three accounts: the address is suppressed everywhere,
/// then the global suppression is lifted.
fn global() -> Vec<Scenario> {
    let settings = Settings::default();
    let mut stored: Vec<ContactState> = Vec::new();
    for (i, account) in ["globex", "northwind"].into_iter().enumerate() {
        let mut l = Ledger::new(settings);
        let days = i64::try_from(10 * (i + 1)).unwrap();
        let mail = Mail::new(BOB_NDR, account, 100).again(
            &format!("2026110{i}101500.3F2A21C0123@mail.example.com"),
            100,
            T - days * DAY,
        );
        mail.bounce(&mut l, &[bob_sent(account)]);
        stored.extend(l.into_changes().contacts);
    }
    let mut l = Ledger::new(settings);
    for s in stored {
        l.load_contact(s);
    }
    l.load_global("bob@example.net", None);
    l.load_trackers(
        "bob@example.net",
        ["acme", "globex", "initech", "northwind"]
            .into_iter()
            .map(|a| Tracker {
                account: a.into(),
                inbox: if a == "acme" {
                    INBOX.into()
                } else {
                    format!("{a}-sales")
                },
                contact_id: Some(if a == "acme" {
                    "crm-contact-1042".into()
                } else {
                    format!("{a}-contact-77")
                }),
            })
            .collect(),
    );
    Mail::new(BOB_NDR, "acme", 4821).bounce(&mut l, &[bob_sent("acme")]);
    let c = l.into_changes();
    let mut lift = Ledger::new(settings);
    for s in &c.contacts {
        lift.load_contact(s.clone());
    }
    lift.load_global("bob@example.net", c.global_add.first().cloned());
    let mut out = vec![scenario(
        "global_suppression",
        c,
        "bounce.detected suppressed/hard_bounce, contact.suppressed hard_bounce/account, contact.suppressed global_suppression/global, contact.suppressed global_suppression/global, contact.suppressed global_suppression/global, contact.suppressed global_suppression/global",
    )];
    lift.lift_global(
        "bob@example.net",
        "ops@rebound.example",
        "Domain fixed its MX records",
        T + 5 * DAY,
    )
    .unwrap();
    out.push(scenario(
        "lift_global",
        lift.into_changes(),
        "contact.unsuppressed global_suppression",
    ));
    out
}

/// The `inbox.status_changed` event `sync::health::Reporter::set` writes
/// when an inbox goes from the announced status `before` to `new` at `now`.
fn status_event(
    account: &str,
    inbox: &str,
    before: Option<&'static str>,
    new: HealthState,
    error: Option<&str>,
    now: i64,
) -> Option<Event> {
    let after = public_status(new)?;
    if before == Some(after) {
        return None;
    }
    let key = format!("{inbox}\n{after}\n{now}");
    Some(Event::new(
        EventType::InboxStatusChanged,
        &key,
        now,
        account,
        Some(inbox),
        None,
        json!({"status": after, "previous_status": before, "state": new.as_str(), "error": error}),
    ))
}

fn inbox_statuses() -> Vec<Scenario> {
    let steps = [
        (HealthState::Connecting, None, 0),
        (HealthState::Connected, None, 2),
        (HealthState::Idle, None, 5),
        (
            HealthState::BackingOff,
            Some("connection to imap.gmail.com:993 lost: connection reset by peer"),
            4 * HOUR,
        ),
        (HealthState::Connected, None, 4 * HOUR + 30),
        (
            HealthState::AuthFailed,
            Some("XOAUTH2 refused: invalid_grant (Token has been expired or revoked.)"),
            2 * DAY,
        ),
        (HealthState::Disabled, None, 3 * DAY),
    ];
    let mut announced = None;
    let mut events = Vec::new();
    for (state, error, at) in steps {
        if let Some(e) = status_event("acme", INBOX, announced, state, error, T + at) {
            events.push(e);
        }
        announced = public_status(state).or(announced);
    }
    let changes = Changes {
        events,
        ..Changes::default()
    };
    vec![scenario(
        "inbox_status",
        changes,
        "inbox.status_changed connected, inbox.status_changed disconnected, inbox.status_changed connected, inbox.status_changed needs_reauthorization, inbox.status_changed disabled",
    )]
}

fn scenarios() -> Vec<Scenario> {
    let mut all = Vec::new();
    all.extend(hard_bounces());
    all.extend(soft_bounces());
    all.extend(delays());
    all.extend(complaints());
    all.extend(auto_replies());
    all.extend(global());
    all.extend(inbox_statuses());
    if let Some(path) = std::env::var_os("EVENT_EXAMPLES") {
        // Each event as the sink writes it (envelope keys in wire order).
        let dump: Vec<String> = all
            .iter()
            .map(|s| {
                format!(
                    "{:?}: {}",
                    s.name,
                    serde_json::to_string_pretty(&s.events).unwrap()
                )
            })
            .collect();
        std::fs::write(path, format!("{{\n{}\n}}\n", dump.join(",\n"))).unwrap();
    }
    all
}

/// The compiled schemas: one per event type plus the shared envelope.
struct Contract {
    schemas: boon::Schemas,
    by_type: std::collections::HashMap<EventType, boon::SchemaIndex>,
    envelope: boon::SchemaIndex,
}

fn schema_dir() -> PathBuf {
    root().join("docs/schemas/events")
}

fn url(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn contract() -> Contract {
    let dir = schema_dir();
    let mut found: BTreeSet<String> = BTreeSet::new();
    let mut compiler = boon::Compiler::new();
    compiler.set_default_draft(boon::Draft::V2020_12);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            json["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name} declares draft 2020-12"
        );
        compiler.add_resource(&url(&path), json).unwrap();
        found.insert(name);
    }
    let mut expected: BTreeSet<String> = EventType::ALL
        .iter()
        .map(|t| format!("{}.schema.json", t.as_str()))
        .collect();
    expected.insert("envelope.schema.json".into());
    assert_eq!(
        found, expected,
        "one schema per event type plus the envelope"
    );

    let mut schemas = boon::Schemas::new();
    let mut compile = |file: &str| {
        compiler
            .compile(&url(&dir.join(file)), &mut schemas)
            .unwrap_or_else(|e| panic!("{file}: {e:#}"))
    };
    let envelope = compile("envelope.schema.json");
    let by_type = EventType::ALL
        .into_iter()
        .map(|t| (t, compile(&format!("{}.schema.json", t.as_str()))))
        .collect();
    Contract {
        schemas,
        by_type,
        envelope,
    }
}

impl Contract {
    /// Validates `event` against the envelope and the schema its `type` names.
    fn check(&self, event: &Value) -> Result<(), String> {
        self.schemas
            .validate(event, self.envelope)
            .map_err(|e| format!("envelope: {e:#}"))?;
        let kind = event["type"]
            .as_str()
            .and_then(EventType::parse)
            .ok_or("no known type")?;
        self.schemas
            .validate(event, self.by_type[&kind])
            .map_err(|e| format!("{}: {e:#}", kind.as_str()))
    }
}

#[test]
fn every_event_the_code_writes_matches_its_schema() {
    let contract = contract();
    let mut per_type: BTreeMap<&str, usize> = BTreeMap::new();
    let mut total = 0;
    for s in scenarios() {
        for event in &s.events {
            let value = serde_json::to_value(event).unwrap();
            if let Err(e) = contract.check(&value) {
                panic!(
                    "scenario {}: {} does not match its schema: {e}\n{}",
                    s.name,
                    event.kind.as_str(),
                    serde_json::to_string_pretty(&value).unwrap()
                );
            }
            *per_type.entry(event.kind.as_str()).or_default() += 1;
            total += 1;
        }
    }
    for t in EventType::ALL {
        assert!(
            per_type.contains_key(t.as_str()),
            "no {} event was built",
            t.as_str()
        );
    }
    assert!(total > 30, "only {total} events checked");
}

#[test]
fn the_schemas_reject_what_the_code_never_writes() {
    let contract = contract();
    let all = scenarios();
    let first = |name: &str| {
        let s = all.iter().find(|s| s.name == name).unwrap();
        serde_json::to_value(&s.events[0]).unwrap()
    };
    let bounce = first("hard_bounce_certain");
    let complaint = first("complaint");
    let status = first("inbox_status");
    assert_eq!(contract.check(&bounce), Ok(()));

    type Mutation = (&'static str, fn(&mut Value));
    let bounce_mutations: [Mutation; 12] = [
        ("no policy", |v| {
            v["data"].as_object_mut().unwrap().remove("policy");
        }),
        ("unknown action", |v| {
            v["data"]["policy"]["action"] = json!("deleted")
        }),
        ("reason of another kind", |v| {
            v["data"]["policy"]["reason"] = json!("soft_bounce_counted")
        }),
        ("suppressed without its event", |v| {
            v["data"]["policy"]
                .as_object_mut()
                .unwrap()
                .remove("suppression_event_id");
        }),
        ("unknown confidence", |v| {
            v["data"]["match"]["confidence"] = json!("sure")
        }),
        ("certain by window", |v| {
            v["data"]["match"]["method"] = json!("recipient_window")
        }),
        ("unknown data key", |v| v["data"]["extra"] = json!(1)),
        ("unknown kind", |v| v["data"]["kind"] = json!("permanent")),
        ("unknown taxonomy reason", |v| {
            v["data"]["reason"] = json!("mailbox_gone")
        }),
        ("bad id", |v| v["id"] = json!("evt_123")),
        ("detected without a tracked message", |v| {
            v["data"]["tracked_message"] = Value::Null
        }),
        ("no contact", |v| v["contact"] = Value::Null),
    ];
    for (what, mutate) in bounce_mutations {
        let mut v = bounce.clone();
        mutate(&mut v);
        assert!(
            contract.check(&v).is_err(),
            "bounce.detected with {what} passed"
        );
    }
    let mut v = complaint.clone();
    v["contact"] = Value::Null;
    assert!(
        contract.check(&v).is_err(),
        "a complaint with a complainant but no contact passed"
    );
    let mut v = status.clone();
    v["data"]["status"] = json!("connecting");
    assert!(contract.check(&v).is_err(), "status connecting passed");
    let mut v = status;
    v["data"]["state"] = json!("auth_failed");
    assert!(
        contract.check(&v).is_err(),
        "state and status disagreeing passed"
    );
}

/// The ```json blocks of docs/events.md, each with the event type of the
/// `### \`type\`` heading it sits under (and its line).
fn doc_examples(text: &str) -> Vec<(EventType, usize, String)> {
    let mut out = Vec::new();
    let mut section: Option<(usize, EventType)> = None;
    let mut block: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if let Some((start, body)) = block.as_mut() {
            if line.trim_start().starts_with("```") {
                let (kind, start, body) = (section.map(|s| s.1), *start, std::mem::take(body));
                let kind = kind.unwrap_or_else(|| {
                    panic!("docs/events.md:{start}: a json block outside an event type's section")
                });
                out.push((kind, start, body));
                block = None;
            } else {
                body.push_str(line);
                body.push('\n');
            }
            continue;
        }
        if line.trim_start().starts_with("```json") {
            block = Some((n, String::new()));
            continue;
        }
        let level = line.chars().take_while(|c| *c == '#').count();
        if level == 0 || !line[level..].starts_with(' ') {
            continue;
        }
        let title = line[level..].trim();
        let named = title
            .strip_prefix('`')
            .and_then(|t| t.split('`').next())
            .and_then(EventType::parse);
        match named {
            Some(kind) => section = Some((level, kind)),
            None if section.is_some_and(|(l, _)| level <= l) => section = None,
            None => {}
        }
    }
    assert!(block.is_none(), "docs/events.md: an unclosed code block");
    out
}

#[test]
fn the_examples_in_the_docs_match_the_schemas() {
    let contract = contract();
    let text = std::fs::read_to_string(root().join("docs/events.md")).unwrap();
    let examples = doc_examples(&text);
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for (kind, line, body) in &examples {
        let value: Value = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("docs/events.md:{line}: not JSON: {e}"));
        assert_eq!(
            value["type"],
            kind.as_str(),
            "docs/events.md:{line}: an example under the wrong heading"
        );
        if let Err(e) = contract.check(&value) {
            panic!(
                "docs/events.md:{line}: the {} example does not match its schema: {e}",
                kind.as_str()
            );
        }
        seen.insert(kind.as_str());
    }
    for t in EventType::ALL {
        assert!(
            seen.contains(t.as_str()),
            "docs/events.md has no example of {}",
            t.as_str()
        );
    }
}

/// The reasons the policy table of docs/events.md lists: rows starting
/// ``| `reason` |`` between the "Policy reasons" heading and the next one.
fn documented_reasons(text: &str) -> BTreeSet<String> {
    let mut inside = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with('#') {
            inside = line.contains("Policy reasons");
            continue;
        }
        if let Some(rest) = line.strip_prefix("| `").filter(|_| inside)
            && let Some(reason) = rest.split('`').next()
        {
            out.insert(reason.to_string());
        }
    }
    out
}

#[test]
fn every_policy_reason_is_documented_and_written_by_some_scenario() {
    let mut written = BTreeSet::new();
    for s in scenarios() {
        for e in &s.events {
            if let Some(r) = e.data["policy"]["reason"].as_str() {
                written.insert(r.to_string());
            }
        }
    }
    let text = std::fs::read_to_string(root().join("docs/events.md")).unwrap();
    let documented = documented_reasons(&text);
    assert!(
        !documented.is_empty(),
        "no policy reason table found in docs/events.md"
    );
    assert_eq!(written, documented, "policy reasons written vs documented");
}

#[test]
fn ids_follow_the_documented_derivation() {
    // docs/events.md: `evt_` + the first 32 hex digits of
    // SHA-256(type, NUL, key); the bounce key is identity + LF + address.
    let mut l = Ledger::new(Settings::default());
    let mail = Mail::new(BOB_NDR, "acme", 4821);
    mail.bounce(&mut l, &[bob_sent("acme")]);
    let c = l.into_changes();
    let key = format!("{}\nbob@example.net", mail.identity);
    let digest = sha256_hex(format!("bounce.detected\0{key}").as_bytes());
    assert_eq!(c.events[0].id, format!("evt_{}", &digest[..32]));
    let key = format!("acme\nbob@example.net\nhard_bounce\n{}", c.events[0].id);
    let digest = sha256_hex(format!("contact.suppressed\0{key}").as_bytes());
    assert_eq!(c.events[1].id, format!("evt_{}", &digest[..32]));
}
