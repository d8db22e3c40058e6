//! The contact policy on its own (pure, clock injected): what a matched
//! notice does to a contact, and the events that say so. The same rules run
//! end to end over Dovecot and SQLite in tests/scenarios.rs.

use rebound::bounce::{Kind, Recipient, Report, analyse};
use rebound::event::{Event, EventType};
use rebound::matching::{Confidence, Match, Method};
use rebound::policy::{Changes, ContactState, Ledger, Notice, Settings, SuppressReason, Tracker};
use rebound::track::{TrackSource, TrackedMessage, TrackedRecipient};

const T: i64 = 1_795_428_900;
const DAY: i64 = 86_400;

fn report() -> Report {
    let path = format!(
        "{}/tests/fixtures/dsn/postfix_user_unknown.eml",
        env!("CARGO_MANIFEST_DIR")
    );
    analyse(&std::fs::read(path).unwrap())
}

fn recipient(address: &str, kind: Kind) -> Recipient {
    let mut r = report().recipients.remove(0);
    r.address = address.into();
    r.final_address = None;
    r.kind = kind;
    r
}

fn message(id: &str, to: &str, sent_at: i64) -> TrackedMessage {
    TrackedMessage {
        account: "acme".into(),
        inbox: "sales".into(),
        message_id: id.into(),
        recipients: vec![TrackedRecipient {
            address: to.into(),
            contact_id: Some(format!("crm-{to}")),
        }],
        subject: Some("Quote".into()),
        sent_at,
        metadata: serde_json::json!({"deal": 7}),
        source: TrackSource::Api,
    }
}

fn certain(m: TrackedMessage) -> Match {
    Match {
        method: Method::ReplyHeaders,
        confidence: Some(Confidence::Certain),
        message: Some(m),
        detection_limited: false,
        gateway: None,
        final_address: None,
    }
}

fn window(m: TrackedMessage) -> Match {
    Match {
        method: Method::RecipientWindow,
        confidence: Some(Confidence::Likely),
        message: Some(m),
        detection_limited: true,
        gateway: Some("mimecast".into()),
        final_address: None,
    }
}

fn unmatched() -> Match {
    Match {
        method: Method::Unmatched,
        confidence: None,
        message: None,
        detection_limited: false,
        gateway: None,
        final_address: None,
    }
}

/// Feeds one bounce for `address` in `account` and returns the changes.
fn bounce_in(
    ledger: &mut Ledger,
    account: &str,
    identity: &str,
    address: &str,
    kind: Kind,
    matched: &Match,
    at: i64,
) {
    let report = report();
    let notice = Notice {
        account,
        inbox: "sales",
        identity,
        report: &report,
        folder: "INBOX",
        uidvalidity: 1,
        uid: 1,
        raw_sha256: "00",
        location: None,
        noticed_at: at,
    };
    ledger.bounce(&notice, &recipient(address, kind), matched);
}

fn types(changes: &Changes) -> Vec<EventType> {
    changes.events.iter().map(|e| e.kind).collect()
}

fn policy(event: &Event) -> (String, String) {
    let p = &event.data["policy"];
    (
        p["action"].as_str().unwrap_or_default().to_string(),
        p["reason"].as_str().unwrap_or_default().to_string(),
    )
}

/// Applies `changes` to a fresh ledger's state, as the store would.
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

#[test]
fn certain_hard_bounce_suppresses_and_orders_events() {
    let mut l = Ledger::new(Settings::default());
    let m = message("m1@acme", "bob@example.com", T - DAY);
    bounce_in(
        &mut l,
        "acme",
        "ndr1",
        "Bob@Example.COM",
        Kind::Hard,
        &certain(m),
        T,
    );
    let c = l.into_changes();
    assert_eq!(
        types(&c),
        [EventType::BounceDetected, EventType::ContactSuppressed]
    );
    let bounce = &c.events[0];
    assert_eq!(policy(bounce), ("suppressed".into(), "hard_bounce".into()));
    assert_eq!(
        bounce.data["policy"]["suppression_event_id"],
        c.events[1].id.as_str()
    );
    assert_eq!(bounce.contact.as_ref().unwrap().address, "bob@example.com");
    assert_eq!(
        bounce.contact.as_ref().unwrap().contact_id.as_deref(),
        Some("crm-bob@example.com")
    );
    assert_eq!(bounce.data["tracked_message"]["metadata"]["deal"], 7);
    assert_eq!(bounce.data["match"]["method"], "reply_headers");
    assert_eq!(bounce.data["kind"], "hard");
    assert_eq!(bounce.data["evidence"]["folder"], "INBOX");
    assert_eq!(c.contacts.len(), 1);
    let state = &c.contacts[0];
    assert_eq!(
        state.suppression.as_ref().map(|s| s.reason),
        Some(SuppressReason::HardBounce)
    );
    assert_eq!(state.last_certain_hard_at, Some(T));
    assert_eq!(c.history.len(), 1);
    assert_eq!(c.findings.len(), 1);
    assert_eq!(c.findings[0].message_id.as_deref(), Some("m1@acme"));
}

#[test]
fn ids_are_deterministic() {
    let run = || {
        let mut l = Ledger::new(Settings::default());
        let m = message("m1@acme", "bob@example.com", T - DAY);
        bounce_in(
            &mut l,
            "acme",
            "ndr1",
            "bob@example.com",
            Kind::Hard,
            &certain(m),
            T,
        );
        l.into_changes()
            .events
            .into_iter()
            .map(|e| e.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn unconfirmed_matches_report_but_do_not_suppress_unless_configured() {
    let m = message("m1@acme", "bob@example.com", T - DAY);
    let mut l = Ledger::new(Settings::default());
    bounce_in(
        &mut l,
        "acme",
        "ndr1",
        "bob@example.com",
        Kind::Hard,
        &window(m.clone()),
        T,
    );
    bounce_in(
        &mut l,
        "acme",
        "ndr2",
        "eve@example.com",
        Kind::Hard,
        &unmatched(),
        T,
    );
    let c = l.into_changes();
    assert_eq!(
        types(&c),
        [EventType::BounceDetected, EventType::BounceUnmatched]
    );
    assert!(
        c.events
            .iter()
            .all(|e| policy(e) == ("none".into(), "unconfirmed_match".into()))
    );
    assert!(c.contacts.iter().all(|s| s.suppression.is_none()));
    assert_eq!(c.events[0].data["match"]["detection_limited"], true);
    assert_eq!(c.events[0].data["match"]["gateway"], "mimecast");
    assert!(c.events[1].data["tracked_message"].is_null());

    let settings = Settings {
        suppress_on_unconfirmed_match: true,
        ..Settings::default()
    };
    let mut l = Ledger::new(settings);
    bounce_in(
        &mut l,
        "acme",
        "ndr1",
        "bob@example.com",
        Kind::Hard,
        &window(m),
        T,
    );
    let c = l.into_changes();
    assert_eq!(policy(&c.events[0]).0, "suppressed");
}

#[test]
fn three_soft_bounces_for_distinct_messages_suppress() {
    let mut l = Ledger::new(Settings::default());
    for (i, day) in [0, 5, 10].iter().enumerate() {
        let m = message(
            &format!("m{i}@acme"),
            "bob@example.com",
            T + day * DAY - 3600,
        );
        bounce_in(
            &mut l,
            "acme",
            &format!("ndr{i}"),
            "bob@example.com",
            Kind::Soft,
            &certain(m),
            T + day * DAY,
        );
    }
    let c = l.into_changes();
    let outcomes: Vec<_> = c
        .events
        .iter()
        .filter(|e| e.kind == EventType::BounceDetected)
        .map(policy)
        .collect();
    assert_eq!(
        outcomes,
        [
            ("counted".into(), "soft_bounce_counted".into()),
            ("counted".into(), "soft_bounce_counted".into()),
            ("suppressed".into(), "soft_bounce_threshold".into())
        ]
    );
    assert_eq!(
        c.contacts[0].suppression.as_ref().map(|s| s.reason),
        Some(SuppressReason::SoftBounceThreshold)
    );
}

#[test]
fn the_same_message_soft_bouncing_twice_counts_once() {
    let mut l = Ledger::new(Settings::default());
    let m = message("m1@acme", "bob@example.com", T);
    for i in 0..3 {
        bounce_in(
            &mut l,
            "acme",
            &format!("ndr{i}"),
            "bob@example.com",
            Kind::Soft,
            &certain(m.clone()),
            T + i,
        );
    }
    let c = l.into_changes();
    assert!(c.contacts[0].suppression.is_none());
    assert_eq!(c.contacts[0].soft.len(), 1);
    assert_eq!(policy(&c.events[2]).1, "message_already_counted");
}

#[test]
fn a_duplicate_notice_is_ignored() {
    let mut l = Ledger::new(Settings::default());
    let m = message("m1@acme", "bob@example.com", T);
    bounce_in(
        &mut l,
        "acme",
        "ndr1",
        "bob@example.com",
        Kind::Soft,
        &certain(m.clone()),
        T,
    );
    bounce_in(
        &mut l,
        "acme",
        "ndr1",
        "bob@example.com",
        Kind::Soft,
        &certain(m),
        T,
    );
    let c = l.into_changes();
    assert_eq!(c.events.len(), 1);
    assert_eq!(c.findings.len(), 1);
}

#[test]
fn soft_bounces_outside_the_window_do_not_add_up() {
    let mut l = Ledger::new(Settings::default());
    for (i, day) in [0, 20, 40].iter().enumerate() {
        let m = message(&format!("m{i}@acme"), "bob@example.com", T + day * DAY);
        bounce_in(
            &mut l,
            "acme",
            &format!("ndr{i}"),
            "bob@example.com",
            Kind::Soft,
            &certain(m),
            T + day * DAY,
        );
    }
    let c = l.into_changes();
    assert!(c.contacts[0].suppression.is_none());
    assert_eq!(c.contacts[0].soft.len(), 2);
}

#[test]
fn a_reply_resets_the_soft_count() {
    let mut l = Ledger::new(Settings::default());
    for i in 0..2 {
        let m = message(&format!("m{i}@acme"), "bob@example.com", T + i);
        bounce_in(
            &mut l,
            "acme",
            &format!("ndr{i}"),
            "bob@example.com",
            Kind::Soft,
            &certain(m),
            T + i,
        );
    }
    l.sign_of_life("acme", "bob@example.com", T + DAY);
    let m = message("m9@acme", "bob@example.com", T + 2 * DAY);
    bounce_in(
        &mut l,
        "acme",
        "ndr9",
        "bob@example.com",
        Kind::Soft,
        &certain(m),
        T + 2 * DAY,
    );
    let c = l.into_changes();
    assert!(c.contacts[0].suppression.is_none());
    assert_eq!(c.contacts[0].soft.len(), 1);
    assert_eq!(c.contacts[0].alive_at, Some(T + DAY));
}

#[test]
fn a_delivered_tracked_send_resets_the_soft_count() {
    let settings = Settings::default();
    let mut l = Ledger::new(settings);
    for i in 0..2 {
        let m = message(&format!("m{i}@acme"), "bob@example.com", T + i);
        bounce_in(
            &mut l,
            "acme",
            &format!("ndr{i}"),
            "bob@example.com",
            Kind::Soft,
            &certain(m),
            T + i,
        );
    }
    let mut l = carry(&l.into_changes(), settings);
    // m5 went out a day later and never bounced; the third bounce comes 10 days on.
    let clean = message("m5@acme", "bob@example.com", T + DAY);
    l.load_sends("acme", "bob@example.com", vec![clean], Default::default());
    let m = message("m9@acme", "bob@example.com", T + 10 * DAY);
    bounce_in(
        &mut l,
        "acme",
        "ndr9",
        "bob@example.com",
        Kind::Soft,
        &certain(m),
        T + 10 * DAY,
    );
    let c = l.into_changes();
    assert!(c.contacts[0].suppression.is_none());
    assert_eq!(c.contacts[0].soft.len(), 1);
}

#[test]
fn a_delay_expires_into_a_soft_bounce_and_a_final_notice_resolves_it() {
    let settings = Settings::default();
    let mut l = Ledger::new(settings);
    let m = message("m1@acme", "bob@example.com", T);
    bounce_in(
        &mut l,
        "acme",
        "delay1",
        "bob@example.com",
        Kind::Pending,
        &certain(m.clone()),
        T,
    );
    let c = l.into_changes();
    assert_eq!(
        policy(&c.events[0]),
        ("pending".into(), "delay_notice".into())
    );
    assert_eq!(c.pending_add.len(), 1);
    let pending = c.pending_add[0].clone();
    assert_eq!(pending.expires_at, T + 72 * 3600);

    // A second delay notice for the same message keeps the first.
    let mut l = carry(&c, settings);
    bounce_in(
        &mut l,
        "acme",
        "delay2",
        "bob@example.com",
        Kind::Pending,
        &certain(m.clone()),
        T + 3600,
    );
    let c2 = l.into_changes();
    assert!(c2.pending_add.is_empty());
    assert_eq!(policy(&c2.events[0]).1, "already_pending");

    // Expiry: a soft bounce counted, with the delay's details.
    let mut l = carry(&c, settings);
    l.expire(&pending, T + 73 * 3600);
    let e = l.into_changes();
    assert_eq!(types(&e), [EventType::PendingExpired]);
    assert_eq!(
        policy(&e.events[0]),
        ("counted".into(), "soft_bounce_counted".into())
    );
    assert_eq!(
        e.events[0].data["delay_event_id"],
        pending.event_id.as_str()
    );
    assert_eq!(e.events[0].data["tracked_message"]["message_id"], "m1@acme");
    assert_eq!(e.pending_done.len(), 1);
    assert_eq!(e.contacts[0].soft.len(), 1);

    // A final notice before the expiry resolves the delay instead.
    let mut l = carry(&c, settings);
    bounce_in(
        &mut l,
        "acme",
        "final",
        "bob@example.com",
        Kind::Hard,
        &certain(m),
        T + 7200,
    );
    let f = l.into_changes();
    assert_eq!(f.pending_done.len(), 1);
    assert_eq!(policy(&f.events[0]).0, "suppressed");
}

#[test]
fn hard_bounces_in_three_accounts_suppress_globally() {
    let settings = Settings::default();
    let mut stored: Vec<ContactState> = Vec::new();
    for (i, account) in ["a1", "a2"].iter().enumerate() {
        let mut l = Ledger::new(settings);
        let mut m = message(&format!("m{i}@x"), "bob@example.com", T);
        m.account = (*account).into();
        bounce_in(
            &mut l,
            account,
            &format!("n{i}"),
            "bob@example.com",
            Kind::Hard,
            &certain(m),
            T + i64::try_from(i).unwrap(),
        );
        let c = l.into_changes();
        assert!(c.global_add.is_empty());
        stored.extend(c.contacts);
    }
    let mut l = Ledger::new(settings);
    for s in stored {
        l.load_contact(s);
    }
    l.load_global("bob@example.com", None);
    l.load_trackers(
        "bob@example.com",
        ["a1", "a2", "a3", "a4"]
            .iter()
            .map(|a| Tracker {
                account: (*a).into(),
                inbox: format!("{a}-inbox"),
                contact_id: None,
            })
            .collect(),
    );
    let mut m = message("m3@x", "bob@example.com", T);
    m.account = "a3".into();
    bounce_in(
        &mut l,
        "a3",
        "n3",
        "bob@example.com",
        Kind::Hard,
        &certain(m),
        T + 10,
    );
    let c = l.into_changes();
    assert_eq!(c.global_add.len(), 1);
    assert_eq!(c.global_add[0].accounts, ["a1", "a2", "a3"]);
    let global: Vec<_> = c
        .events
        .iter()
        .filter(|e| e.kind == EventType::ContactSuppressed && e.data["scope"] == "global")
        .map(|e| e.account.as_str())
        .collect();
    assert_eq!(global, ["a1", "a2", "a3", "a4"]);
    let a4 = c.contacts.iter().find(|s| s.account == "a4").unwrap();
    assert_eq!(
        a4.suppression.as_ref().map(|s| s.reason),
        Some(SuppressReason::GlobalSuppression)
    );
}

#[test]
fn unconfirmed_hard_bounces_never_count_globally() {
    let settings = Settings {
        suppress_on_unconfirmed_match: true,
        global_accounts: 2,
        ..Settings::default()
    };
    let mut l = Ledger::new(settings);
    for account in ["a1", "a2"] {
        let mut m = message("m@x", "bob@example.com", T);
        m.account = account.into();
        bounce_in(
            &mut l,
            account,
            account,
            "bob@example.com",
            Kind::Hard,
            &window(m),
            T,
        );
    }
    let c = l.into_changes();
    assert!(c.global_add.is_empty());
    assert!(c.contacts.iter().all(|s| s.last_certain_hard_at.is_none()));
}

#[test]
fn unsuppress_is_recorded_and_a_later_hard_bounce_suppresses_again() {
    let settings = Settings::default();
    let mut l = Ledger::new(settings);
    let m = message("m1@acme", "bob@example.com", T);
    bounce_in(
        &mut l,
        "acme",
        "n1",
        "bob@example.com",
        Kind::Hard,
        &certain(m.clone()),
        T,
    );
    let mut l = carry(&l.into_changes(), settings);
    assert!(
        l.unsuppress("acme", "bob@example.com", "", "x", T + 1)
            .is_err()
    );
    let id = l
        .unsuppress(
            "acme",
            "BOB@example.com",
            "alice@acme",
            "typo fixed by the contact",
            T + 1,
        )
        .unwrap();
    assert!(
        l.unsuppress("acme", "bob@example.com", "alice", "again", T + 2)
            .is_err()
    );
    let c = l.into_changes();
    assert_eq!(types(&c), [EventType::ContactUnsuppressed]);
    assert_eq!(c.events[0].id, id);
    assert_eq!(c.events[0].data["previous_reason"], "hard_bounce");
    assert_eq!(c.history[0].actor, "alice@acme");
    assert!(c.contacts[0].suppression.is_none());

    let mut l = carry(&c, settings);
    bounce_in(
        &mut l,
        "acme",
        "n2",
        "bob@example.com",
        Kind::Hard,
        &certain(m),
        T + 5,
    );
    let c = l.into_changes();
    assert_eq!(policy(&c.events[0]).0, "suppressed");
}

#[test]
fn complaints_suppress_and_auto_replies_are_signs_of_life() {
    let settings = Settings {
        auto_reply_events: true,
        ..Settings::default()
    };
    let mut l = Ledger::new(settings);
    let report = report();
    let notice = Notice {
        account: "acme",
        inbox: "sales",
        identity: "arf1",
        report: &report,
        folder: "INBOX",
        uidvalidity: 1,
        uid: 2,
        raw_sha256: "00",
        location: None,
        noticed_at: T,
    };
    let m = message("m1@acme", "carol@example.com", T - DAY);
    l.complaint(&notice, None, &certain(m));
    let soft = message("m2@acme", "dan@example.com", T - DAY);
    bounce_in(
        &mut l,
        "acme",
        "n1",
        "dan@example.com",
        Kind::Soft,
        &certain(soft),
        T,
    );
    let auto = Notice {
        identity: "auto1",
        noticed_at: T + 60,
        ..notice
    };
    l.auto_reply(&auto, "Dan@Example.com", &unmatched());
    let c = l.into_changes();
    assert_eq!(
        types(&c),
        [
            EventType::ComplaintReceived,
            EventType::ContactSuppressed,
            EventType::BounceDetected,
            EventType::AutoReplyReceived
        ]
    );
    // The redacted complainant of a one-recipient message is that recipient.
    assert_eq!(
        c.events[0].contact.as_ref().unwrap().address,
        "carol@example.com"
    );
    assert_eq!(
        policy(&c.events[0]),
        ("suppressed".into(), "complaint".into())
    );
    let dan = c
        .contacts
        .iter()
        .find(|s| s.address == "dan@example.com")
        .unwrap();
    assert!(dan.soft.is_empty(), "the auto-reply reset the soft count");
}
