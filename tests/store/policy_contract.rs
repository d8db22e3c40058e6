//! The contract every [`PolicyStore`] must pass (included by `contract.rs`).
//!
//! Expects a store whose outbox, contacts and pending delays hold nothing
//! but what [`super::contract_suite`] writes (it writes none). Each part uses
//! its own accounts and addresses; the outbox is shared, so outbox checks
//! look only past the highest seq at their start. Only
//! `due_pending_is_earliest_first` writes delays expiring before
//! 1,000,000,000, so its "what is due" answers are its own.
//!
//! The atomicity parts rely on the schema refusing an event with an empty id
//! and a delay that expires before it was noticed (0003's CHECKs, copied by
//! every backend).

use rebound::event::{Contact, Event, EventType};
use rebound::policy::{
    Changes, ContactState, GlobalSuppression, HistoryAction, HistoryEntry, PendingDelay,
    PendingKey, RecipientFinding, SoftEntry, SuppressReason, Suppression,
};
use rebound::store::PolicyStore;

use super::{ids, outbox};

/// Everything the [`PolicyStore`] trait promises.
pub async fn policy_contract_suite<S: PolicyStore>(store: &S) {
    contacts_round_trip_and_are_replaced(store).await;
    contacts_and_pending_are_read_in_bulk(store).await;
    suppressed_lists_in_key_order(store).await;
    history_appends_in_order(store).await;
    pending_keeps_the_first_notice(store).await;
    due_pending_is_earliest_first(store).await;
    global_suppressions_round_trip(store).await;
    recipient_findings_keep_their_first_row(store).await;
    outbox::outbox_numbers_each_event_once(store).await;
    outbox::trackers_name_each_accounts_latest_send(store).await;
    outbox::commit_step_writes_everything(store).await;
    outbox::a_refused_row_writes_nothing(store).await;
    outbox::health_events_are_written_with_the_health(store).await;
    // Deletes delivered events of the parts above: last.
    outbox::prune_lets_go_of_delivered_events_and_old_sends_only(store).await;
}

/// A suppressed contact with every optional field set.
pub fn full_contact(account: &str, address: &str, reason: SuppressReason) -> ContactState {
    ContactState {
        account: account.to_owned(),
        address: address.to_owned(),
        contact_id: Some(format!("c-{address}")),
        suppression: Some(Suppression {
            reason,
            since: 1_700_000_100,
            event_id: format!("evt_sup_{address}"),
        }),
        soft: vec![
            SoftEntry {
                message: "m1@x".into(),
                sent_at: Some(1_699_000_000),
                at: 1_700_000_000,
            },
            SoftEntry {
                message: "identity-2".into(),
                sent_at: None,
                at: 1_700_000_050,
            },
        ],
        last_certain_hard_at: Some(1_700_000_100),
        alive_at: Some(1_690_000_000),
        updated_at: 1_700_000_100,
    }
}

/// An unsuppressed contact with every optional field empty.
pub fn bare_contact(account: &str, address: &str, updated_at: i64) -> ContactState {
    ContactState {
        updated_at,
        ..ContactState::new(account, address)
    }
}

/// An event of `kind` about `address` (an inbox event when `None`).
pub fn event(kind: EventType, key: &str, account: &str, address: Option<&str>) -> Event {
    Event::new(
        kind,
        key,
        1_700_000_000,
        account,
        address.map_or(Some("inbox-1"), |_| None),
        address.map(|a| Contact {
            address: a.to_owned(),
            contact_id: Some("c-1".into()),
        }),
        serde_json::json!({ "key": key, "n": 3, "list": ["a", "b"] }),
    )
}

/// A delay noticed at `noticed_at`, expiring at `expires_at`.
pub fn delay(
    account: &str,
    address: &str,
    key: &str,
    noticed_at: i64,
    expires_at: i64,
) -> PendingDelay {
    PendingDelay {
        account: account.to_owned(),
        address: address.to_owned(),
        message_key: key.to_owned(),
        inbox: format!("{account}-inbox"),
        noticed_at,
        expires_at,
        event_id: format!("evt_delay_{address}_{key}"),
        snapshot: serde_json::json!({
            "contact": { "address": address, "contact_id": null },
            "data": { "noticed_at": noticed_at, "status": "4.4.7" },
        }),
    }
}

/// A history line.
pub fn line(account: &str, address: &str, action: HistoryAction, at: i64, n: u32) -> HistoryEntry {
    HistoryEntry {
        account: account.to_owned(),
        address: address.to_owned(),
        action,
        reason: format!("reason {n}"),
        actor: if n.is_multiple_of(2) {
            "rebound".into()
        } else {
            "ops@example.com".into()
        },
        at,
        event_id: format!("evt_hist_{n}"),
    }
}

/// A per-recipient finding with every optional field set.
pub fn recipient_finding(key: &str, account: &str, address: &str, at: i64) -> RecipientFinding {
    RecipientFinding {
        key: key.to_owned(),
        identity: format!("id-{key}"),
        account: account.to_owned(),
        inbox: format!("{account}-inbox"),
        address: address.to_owned(),
        message_id: Some("m1@x".into()),
        method: "reply_headers".into(),
        confidence: Some("certain".into()),
        verdict: "bounce".into(),
        kind: Some("hard".into()),
        reason: Some("mailbox_unknown".into()),
        status: Some("5.1.1".into()),
        folder: "INBOX".into(),
        uidvalidity: u32::MAX,
        uid: u32::MAX,
        raw_sha256: "cd".repeat(32),
        location: Some("/var/mail/new/1".into()),
        noticed_at: at,
        event_id: format!("evt_rf_{key}"),
    }
}

async fn contacts_round_trip_and_are_replaced<S: PolicyStore>(store: &S) {
    let addresses = ids(&[
        "ann@x.org",
        "bob@x.org",
        "cat@x.org",
        "dan@x.org",
        "eve@x.org",
    ]);
    assert!(store.contacts("ct-a", &addresses).await.unwrap().is_empty());
    assert!(store.contacts("ct-a", &[]).await.unwrap().is_empty());

    // Every reason, and a state with nothing optional; written out of order.
    let states = vec![
        full_contact("ct-a", "eve@x.org", SuppressReason::GlobalSuppression),
        full_contact("ct-a", "bob@x.org", SuppressReason::HardBounce),
        bare_contact("ct-a", "ann@x.org", 5),
        full_contact("ct-a", "dan@x.org", SuppressReason::Complaint),
        full_contact("ct-a", "cat@x.org", SuppressReason::SoftBounceThreshold),
        // The same address in another account is another contact.
        bare_contact("ct-b", "bob@x.org", 6),
    ];
    let changes = Changes {
        contacts: states.clone(),
        ..Changes::default()
    };
    store.apply(&changes, 10).await.unwrap();
    let mut expected: Vec<ContactState> = states[..5].to_vec();
    expected.sort_by(|a, b| a.address.cmp(&b.address));
    assert_eq!(store.contacts("ct-a", &addresses).await.unwrap(), expected);
    // Only those asked for (and existing), by address whatever the input order.
    assert_eq!(
        store
            .contacts("ct-a", &ids(&["dan@x.org", "nobody@x.org", "ann@x.org"]))
            .await
            .unwrap(),
        vec![expected[0].clone(), expected[3].clone()]
    );

    // A write replaces the whole state: lifted, soft run cleared, ids gone.
    let lifted = bare_contact("ct-a", "bob@x.org", 20);
    let changes = Changes {
        contacts: vec![lifted.clone()],
        ..Changes::default()
    };
    store.apply(&changes, 20).await.unwrap();
    assert_eq!(
        store.contacts("ct-a", &ids(&["bob@x.org"])).await.unwrap(),
        vec![lifted.clone()]
    );
    // And back: every field written again.
    let again = full_contact("ct-a", "bob@x.org", SuppressReason::Complaint);
    let changes = Changes {
        contacts: vec![again.clone()],
        ..Changes::default()
    };
    store.apply(&changes, 30).await.unwrap();
    assert_eq!(
        store.contacts("ct-a", &ids(&["bob@x.org"])).await.unwrap(),
        vec![again.clone()]
    );

    // Every account, by account.
    assert_eq!(
        store.contacts_everywhere("bob@x.org").await.unwrap(),
        vec![again, bare_contact("ct-b", "bob@x.org", 6)]
    );
    assert!(
        store
            .contacts_everywhere("nobody@x.org")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn contacts_and_pending_are_read_in_bulk<S: PolicyStore>(store: &S) {
    // 2,500 addresses: more than any one query may bind, so the store must
    // split them; every third has a state, every fifth two delays.
    let all: Vec<String> = (0..2_500).map(|n| format!("b{n:04}@bulk.org")).collect();
    let mut changes = Changes::default();
    for (n, address) in all.iter().enumerate() {
        if n.is_multiple_of(3) {
            changes
                .contacts
                .push(bare_contact("bk", address, i64::try_from(n).unwrap()));
        }
        if n.is_multiple_of(5) {
            for key in ["k2", "k1"] {
                changes
                    .pending_add
                    .push(delay("bk", address, key, 2_000_000_000, 2_000_000_100));
            }
        }
    }
    store.apply(&changes, 1).await.unwrap();

    // Reversed, with repeats and unknown addresses; 70,000 of those, so the
    // list is past SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
    let mut query: Vec<String> = all.iter().rev().cloned().collect();
    query.extend(ids(&["b0000@bulk.org", "b2499@bulk.org", "zz@bulk.org"]));
    query.extend(all.iter().take(700).cloned());
    query.extend((0..70_000).map(|n| format!("u{n}@bulk.org")));

    let got = store.contacts("bk", &query).await.unwrap();
    let expected: Vec<ContactState> = changes.contacts.clone();
    assert_eq!(got.len(), 834);
    assert_eq!(got, expected, "each once, by address");

    let got = store.pending("bk", &query).await.unwrap();
    assert_eq!(got.len(), 1_000);
    let keys: Vec<(String, String)> = got
        .iter()
        .map(|d| (d.address.clone(), d.message_key.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "each once, by (address, message key)");
    assert_eq!(keys[0], ("b0000@bulk.org".into(), "k1".into()));
    assert_eq!(keys[1], ("b0000@bulk.org".into(), "k2".into()));

    assert!(store.contacts("other", &query).await.unwrap().is_empty());
    assert!(store.pending("other", &query).await.unwrap().is_empty());
    assert!(store.pending("bk", &[]).await.unwrap().is_empty());
}

async fn suppressed_lists_in_key_order<S: PolicyStore>(store: &S) {
    let changes = Changes {
        contacts: vec![
            full_contact("sup-b", "zed@s.org", SuppressReason::HardBounce),
            full_contact("sup-a", "yan@s.org", SuppressReason::Complaint),
            bare_contact("sup-a", "free@s.org", 1),
            full_contact("sup-a", "abe@s.org", SuppressReason::SoftBounceThreshold),
            full_contact("sup-b", "abe@s.org", SuppressReason::GlobalSuppression),
        ],
        ..Changes::default()
    };
    store.apply(&changes, 1).await.unwrap();
    let keys = |list: Vec<ContactState>| -> Vec<(String, String)> {
        list.into_iter().map(|c| (c.account, c.address)).collect()
    };
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        keys(store.suppressed(Some("sup-a")).await.unwrap()),
        vec![pair("sup-a", "abe@s.org"), pair("sup-a", "yan@s.org")]
    );
    assert_eq!(
        store.suppressed(Some("sup-b")).await.unwrap(),
        vec![changes.contacts[4].clone(), changes.contacts[0].clone()]
    );
    assert!(store.suppressed(Some("sup-c")).await.unwrap().is_empty());

    // Every account: ordered, only suppressed ones (others' parts included).
    let all = keys(store.suppressed(None).await.unwrap());
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    let ours: Vec<_> = all
        .into_iter()
        .filter(|(account, _)| account.starts_with("sup-"))
        .collect();
    assert_eq!(
        ours,
        vec![
            pair("sup-a", "abe@s.org"),
            pair("sup-a", "yan@s.org"),
            pair("sup-b", "abe@s.org"),
            pair("sup-b", "zed@s.org"),
        ]
    );
    // Lifting removes it from the list.
    let changes = Changes {
        contacts: vec![bare_contact("sup-a", "yan@s.org", 2)],
        ..Changes::default()
    };
    store.apply(&changes, 2).await.unwrap();
    assert_eq!(
        keys(store.suppressed(Some("sup-a")).await.unwrap()),
        vec![pair("sup-a", "abe@s.org")]
    );
}

async fn history_appends_in_order<S: PolicyStore>(store: &S) {
    assert!(store.history("hi", "h@x.org").await.unwrap().is_empty());
    let first = vec![
        line("hi", "h@x.org", HistoryAction::Suppressed, 100, 1),
        line("hi", "h@x.org", HistoryAction::Unsuppressed, 100, 2),
        line("hi", "other@x.org", HistoryAction::Suppressed, 10, 3),
        line("hi-b", "h@x.org", HistoryAction::Suppressed, 10, 4),
    ];
    store
        .apply(
            &Changes {
                history: first.clone(),
                ..Changes::default()
            },
            1,
        )
        .await
        .unwrap();
    // A later write: one older line, one at the same time as the first two
    // (after them: insertion order), the same line twice (appended twice).
    let second = vec![
        line("hi", "h@x.org", HistoryAction::Suppressed, 100, 5),
        line("hi", "h@x.org", HistoryAction::Suppressed, 50, 6),
        line("hi", "h@x.org", HistoryAction::Unsuppressed, 200, 7),
        line("hi", "h@x.org", HistoryAction::Unsuppressed, 200, 7),
    ];
    store
        .apply(
            &Changes {
                history: second.clone(),
                ..Changes::default()
            },
            2,
        )
        .await
        .unwrap();
    assert_eq!(
        store.history("hi", "h@x.org").await.unwrap(),
        vec![
            second[1].clone(),
            first[0].clone(),
            first[1].clone(),
            second[0].clone(),
            second[2].clone(),
            second[3].clone(),
        ]
    );
    assert_eq!(
        store.history("hi-b", "h@x.org").await.unwrap(),
        vec![first[3].clone()]
    );
}

async fn pending_keeps_the_first_notice<S: PolicyStore>(store: &S) {
    let first = delay("pd", "p@x.org", "m1@x", 1_500_000_000, 1_500_086_400);
    let other_key = delay("pd", "p@x.org", "m0@x", 1_500_000_010, 1_500_086_410);
    let other_address = delay("pd", "a@x.org", "m9@x", 1_500_000_020, 1_500_086_420);
    store
        .apply(
            &Changes {
                pending_add: vec![first.clone(), other_key.clone(), other_address.clone()],
                ..Changes::default()
            },
            1,
        )
        .await
        .unwrap();
    // A second delay notice for the same message: the first row stays.
    let mut later = delay("pd", "p@x.org", "m1@x", 1_500_001_000, 1_500_087_400);
    later.inbox = "elsewhere".into();
    later.event_id = "evt_later".into();
    later.snapshot = serde_json::json!({ "later": true });
    store
        .apply(
            &Changes {
                pending_add: vec![later],
                ..Changes::default()
            },
            2,
        )
        .await
        .unwrap();
    let addresses = ids(&["p@x.org", "a@x.org"]);
    assert_eq!(
        store.pending("pd", &addresses).await.unwrap(),
        vec![other_address.clone(), other_key.clone(), first.clone()]
    );

    // Resolved: deleted; an unknown key is no error.
    let key = |d: &PendingDelay| PendingKey {
        account: d.account.clone(),
        address: d.address.clone(),
        message_key: d.message_key.clone(),
    };
    let unknown = PendingKey {
        message_key: "never".into(),
        ..key(&first)
    };
    store
        .apply(
            &Changes {
                pending_done: vec![key(&first), unknown],
                ..Changes::default()
            },
            3,
        )
        .await
        .unwrap();
    assert_eq!(
        store.pending("pd", &addresses).await.unwrap(),
        vec![other_address, other_key]
    );
    // A key added again after it was resolved starts a new wait.
    store
        .apply(
            &Changes {
                pending_add: vec![first.clone()],
                ..Changes::default()
            },
            4,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .pending("pd", &ids(&["p@x.org"]))
            .await
            .unwrap()
            .last(),
        Some(&first)
    );
}

async fn due_pending_is_earliest_first<S: PolicyStore>(store: &S) {
    let rows = vec![
        delay("due", "d3@x.org", "m", 1, 30),
        delay("due", "d1@x.org", "m", 1, 10),
        delay("due", "d2@x.org", "m", 2, 20),
        delay("due", "d4@x.org", "m", 3, 20),
        delay("due", "d5@x.org", "m", 3, 40),
    ];
    store
        .apply(
            &Changes {
                pending_add: rows.clone(),
                ..Changes::default()
            },
            1,
        )
        .await
        .unwrap();
    let expiries =
        |list: Vec<PendingDelay>| -> Vec<i64> { list.into_iter().map(|d| d.expires_at).collect() };
    assert!(store.due_pending(9, 10).await.unwrap().is_empty());
    // `expires_at <= now`: inclusive.
    assert_eq!(
        store.due_pending(10, 10).await.unwrap(),
        vec![rows[1].clone()]
    );
    let due = store.due_pending(25, 10).await.unwrap();
    assert_eq!(expiries(due.clone()), vec![10, 20, 20]);
    let mut addresses: Vec<String> = due.into_iter().map(|d| d.address).collect();
    addresses.sort();
    assert_eq!(addresses, ids(&["d1@x.org", "d2@x.org", "d4@x.org"]));
    // At most `limit`, the earliest.
    assert_eq!(
        expiries(store.due_pending(100, 2).await.unwrap()),
        vec![10, 20]
    );
    assert_eq!(
        expiries(store.due_pending(100, 10).await.unwrap()),
        vec![10, 20, 20, 30, 40]
    );
    assert!(store.due_pending(100, 0).await.unwrap().is_empty());
}

async fn global_suppressions_round_trip<S: PolicyStore>(store: &S) {
    assert_eq!(store.global_suppression("g@x.org").await.unwrap(), None);
    let first = GlobalSuppression {
        address: "g@x.org".into(),
        since: 100,
        accounts: ids(&["acct-b", "acct-a"]),
    };
    let none = GlobalSuppression {
        address: "g0@x.org".into(),
        since: 5,
        accounts: Vec::new(),
    };
    store
        .apply(
            &Changes {
                global_add: vec![first.clone(), none.clone()],
                ..Changes::default()
            },
            1,
        )
        .await
        .unwrap();
    assert_eq!(
        store.global_suppression("g@x.org").await.unwrap(),
        Some(first)
    );
    assert_eq!(
        store.global_suppression("g0@x.org").await.unwrap(),
        Some(none)
    );
    // Written again: replaced.
    let wider = GlobalSuppression {
        address: "g@x.org".into(),
        since: 200,
        accounts: ids(&["acct-a", "acct-b", "acct-c"]),
    };
    store
        .apply(
            &Changes {
                global_add: vec![wider.clone()],
                ..Changes::default()
            },
            2,
        )
        .await
        .unwrap();
    assert_eq!(
        store.global_suppression("g@x.org").await.unwrap(),
        Some(wider)
    );
    // Lifted (an unknown address is no error).
    store
        .apply(
            &Changes {
                global_lift: ids(&["g@x.org", "never@x.org"]),
                ..Changes::default()
            },
            3,
        )
        .await
        .unwrap();
    assert_eq!(store.global_suppression("g@x.org").await.unwrap(), None);
    assert!(
        store
            .global_suppression("g0@x.org")
            .await
            .unwrap()
            .is_some()
    );
}

async fn recipient_findings_keep_their_first_row<S: PolicyStore>(store: &S) {
    assert!(
        store
            .recipient_findings("rf", "r@x.org")
            .await
            .unwrap()
            .is_empty()
    );
    let full = recipient_finding("k-full", "rf", "r@x.org", 300);
    // Nothing optional, zero UIDs, noticed earlier.
    let bare = RecipientFinding {
        message_id: None,
        confidence: None,
        kind: None,
        reason: None,
        status: None,
        location: None,
        uidvalidity: 0,
        uid: 0,
        method: "unmatched".into(),
        verdict: "complaint".into(),
        ..recipient_finding("k-bare", "rf", "r@x.org", 100)
    };
    let elsewhere = recipient_finding("k-else", "rf", "other@x.org", 200);
    store
        .apply(
            &Changes {
                findings: vec![full.clone(), bare.clone(), elsewhere.clone()],
                ..Changes::default()
            },
            1,
        )
        .await
        .unwrap();
    assert_eq!(
        store.recipient_findings("rf", "r@x.org").await.unwrap(),
        vec![bare.clone(), full.clone()]
    );
    // The same key again (a rescan): the first row stays.
    let rescanned = RecipientFinding {
        method: "recipient_window".into(),
        folder: "Archive".into(),
        noticed_at: 50,
        ..full.clone()
    };
    store
        .apply(
            &Changes {
                findings: vec![rescanned],
                ..Changes::default()
            },
            2,
        )
        .await
        .unwrap();
    assert_eq!(
        store.recipient_findings("rf", "r@x.org").await.unwrap(),
        vec![bare, full]
    );
    assert_eq!(
        store.recipient_findings("rf", "other@x.org").await.unwrap(),
        vec![elsewhere]
    );
    assert!(
        store
            .recipient_findings("rf-b", "r@x.org")
            .await
            .unwrap()
            .is_empty()
    );
}
