//! The [`PolicyStore`] contract's outbox half (included by `contract.rs`,
//! run by [`super::policy_contract_suite`]): event numbering and delivery,
//! trackers, whole steps, atomicity and health events.

use rebound::event::{Event, EventType};
use rebound::policy::{
    Changes, GlobalSuppression, HistoryAction, PendingKey, SuppressReason, Tracker,
};
use rebound::store::{HealthState, OutboxEntry, OutboxStatus, PolicyStore};
use rebound::track::TrackedRecipient;

use super::{
    bare_contact, cp, delay, event, finding, full_contact, health, ids, line, recipient_finding,
    sent,
};

/// The highest seq in the outbox (0 when empty).
pub async fn last_seq<S: PolicyStore>(store: &S) -> i64 {
    store
        .outbox(0, usize::MAX)
        .await
        .unwrap()
        .last()
        .map_or(0, |e| e.seq)
}

/// Writes `events` to the outbox as one applied change set at `at`.
async fn write_events<S: PolicyStore>(store: &S, events: Vec<Event>, at: i64) {
    store
        .apply(
            &Changes {
                events,
                ..Changes::default()
            },
            at,
        )
        .await
        .unwrap();
}

/// The events of outbox entries.
fn events_of(entries: &[OutboxEntry]) -> Vec<Event> {
    entries.iter().map(|e| e.event.clone()).collect()
}

pub(super) async fn outbox_numbers_each_event_once<S: PolicyStore>(store: &S) {
    // Own the undelivered list: what earlier parts wrote is delivered now.
    let earlier: Vec<String> = store
        .undelivered(usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.id)
        .collect();
    store.mark_delivered(&earlier, 1).await.unwrap();
    assert!(store.undelivered(10).await.unwrap().is_empty());
    let start = last_seq(store).await;

    // Every type; inbox events have no contact, contact events no inbox.
    let batch: Vec<Event> = EventType::ALL
        .iter()
        .enumerate()
        .map(|(n, kind)| {
            let address = format!("o{n}@x.org");
            let contact = (*kind != EventType::InboxStatusChanged).then_some(address.as_str());
            event(*kind, &format!("ob-{n}"), "ob", contact)
        })
        .collect();
    write_events(store, batch.clone(), 500).await;
    let written = store.outbox(start, usize::MAX).await.unwrap();
    assert_eq!(events_of(&written), batch, "in the order given");
    assert!(written.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(written.iter().all(|e| e.seq > start));
    assert!(
        written
            .iter()
            .all(|e| e.created_at == 500 && e.delivered_at.is_none())
    );

    // An id written again (a rescan) is left as it was and gets no new seq;
    // a repeat inside one write too. A new one goes after the rest.
    let mut changed = batch[1].clone();
    changed.data = serde_json::json!({ "changed": true });
    let fresh = event(EventType::BounceDetected, "ob-fresh", "ob", Some("f@x.org"));
    write_events(
        store,
        vec![changed, fresh.clone(), fresh.clone(), batch[0].clone()],
        600,
    )
    .await;
    let all = store.outbox(start, usize::MAX).await.unwrap();
    assert_eq!(all.len(), batch.len() + 1);
    assert_eq!(all[..batch.len()], written[..], "the first rows stay");
    let last = &all[batch.len()];
    assert_eq!((&last.event, last.created_at), (&fresh, 600));
    assert!(last.seq > written[batch.len() - 1].seq);

    // `after` and `limit`.
    assert_eq!(
        store.outbox(written[0].seq, 2).await.unwrap(),
        written[1..3].to_vec()
    );
    assert!(store.outbox(start, 0).await.unwrap().is_empty());
    assert!(store.outbox(last.seq, 10).await.unwrap().is_empty());

    // Undelivered in seq order; delivery keeps its first time.
    assert_eq!(store.undelivered(2).await.unwrap(), all[..2].to_vec());
    let delivered = vec![
        all[0].event.id.clone(),
        all[2].event.id.clone(),
        "evt_unknown".to_owned(),
    ];
    store.mark_delivered(&delivered, 700).await.unwrap();
    store
        .mark_delivered(&ids(&[&all[0].event.id]), 800)
        .await
        .unwrap();
    store.mark_delivered(&[], 900).await.unwrap();
    let undelivered = store.undelivered(usize::MAX).await.unwrap();
    let expected: Vec<OutboxEntry> = all
        .iter()
        .enumerate()
        .filter(|(n, _)| *n != 0 && *n != 2)
        .map(|(_, e)| e.clone())
        .collect();
    assert_eq!(undelivered, expected);
    let now = store.outbox(start, usize::MAX).await.unwrap();
    assert_eq!(now[0].delivered_at, Some(700));
    assert_eq!(now[2].delivered_at, Some(700));
    assert_eq!(now[1].delivered_at, None);

    // Marking many at once (more than one query may bind).
    let many: Vec<String> = all
        .iter()
        .map(|e| e.event.id.clone())
        .chain((0..70_000).map(|n| format!("evt_none_{n}")))
        .collect();
    store.mark_delivered(&many, 1_000).await.unwrap();
    assert!(store.undelivered(10).await.unwrap().is_empty());
    let now = store.outbox(start, usize::MAX).await.unwrap();
    assert_eq!(now[0].delivered_at, Some(700));
    assert_eq!(now[1].delivered_at, Some(1_000));
}

pub(super) async fn trackers_name_each_accounts_latest_send<S: PolicyStore>(store: &S) {
    assert!(store.trackers("t@x.org").await.unwrap().is_empty());
    let mut old = sent("tk-a", "old@x", 100, &["t@x.org"]);
    old.inbox = "a-old".into();
    old.recipients[0].contact_id = Some("c-old".into());
    let mut new = sent("tk-a", "new@x", 200, &["t@x.org", "u@x.org"]);
    new.inbox = "a-new".into();
    new.recipients[0].contact_id = Some("c-new".into());
    let b = sent("tk-b", "b@x", 50, &["t@x.org"]);
    let unrelated = sent("tk-c", "c@x", 300, &["u@x.org"]);
    store.track(&[new, old, b, unrelated], 1).await.unwrap();
    assert_eq!(
        store.trackers("t@x.org").await.unwrap(),
        vec![
            Tracker {
                account: "tk-a".into(),
                inbox: "a-new".into(),
                contact_id: Some("c-new".into()),
            },
            Tracker {
                account: "tk-b".into(),
                inbox: "tk-b-inbox".into(),
                contact_id: None,
            },
        ]
    );
    // A later send (tracked through a policy step) becomes the latest.
    let mut later = sent("tk-b", "b2@x", 400, &["t@x.org"]);
    later.inbox = "b-later".into();
    later.recipients = vec![TrackedRecipient {
        address: "t@x.org".into(),
        contact_id: Some("c-b".into()),
    }];
    store
        .apply(
            &Changes {
                tracked: vec![later],
                ..Changes::default()
            },
            2,
        )
        .await
        .unwrap();
    let got = store.trackers("t@x.org").await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1],
        Tracker {
            account: "tk-b".into(),
            inbox: "b-later".into(),
            contact_id: Some("c-b".into()),
        }
    );
    assert_eq!(store.trackers("u@x.org").await.unwrap().len(), 2);
}

/// A step's changes touching every part, for `account`.
fn every_part(account: &str) -> Changes {
    Changes {
        tracked: vec![sent(
            account,
            &format!("{account}-m@x"),
            1_000,
            &["s@x.org"],
        )],
        findings: vec![recipient_finding(
            &format!("{account}-k"),
            account,
            "s@x.org",
            1_000,
        )],
        contacts: vec![full_contact(account, "s@x.org", SuppressReason::HardBounce)],
        history: vec![line(
            account,
            "s@x.org",
            HistoryAction::Suppressed,
            1_000,
            1,
        )],
        pending_add: vec![delay(
            account,
            "s@x.org",
            "m@x",
            1_500_000_000,
            1_500_000_001,
        )],
        pending_done: Vec::new(),
        global_add: vec![GlobalSuppression {
            address: format!("{account}@global.org"),
            since: 1_000,
            accounts: vec![account.to_owned()],
        }],
        global_lift: Vec::new(),
        events: vec![
            event(
                EventType::BounceDetected,
                &format!("{account}-1"),
                account,
                Some("s@x.org"),
            ),
            event(
                EventType::ContactSuppressed,
                &format!("{account}-2"),
                account,
                Some("s@x.org"),
            ),
        ],
    }
}

pub(super) async fn commit_step_writes_everything<S: PolicyStore>(store: &S) {
    let start = last_seq(store).await;
    let changes = every_part("cs");
    store
        .commit_step(
            "cs-inbox",
            "INBOX",
            cp(3, 40),
            &[finding("cs-notice", "INBOX", 40)],
            &changes,
            2_000,
        )
        .await
        .unwrap();
    assert_eq!(
        store.checkpoint("cs-inbox", "INBOX").await.unwrap(),
        Some(cp(3, 40))
    );
    assert_eq!(
        store
            .unseen("cs-inbox", &ids(&["cs-notice"]))
            .await
            .unwrap(),
        vec![false]
    );
    assert_eq!(
        store.tracked("cs", &ids(&["cs-m@x"])).await.unwrap(),
        changes.tracked
    );
    assert_eq!(
        store.recipient_findings("cs", "s@x.org").await.unwrap(),
        changes.findings
    );
    let addresses = ids(&["s@x.org"]);
    assert_eq!(
        store.contacts("cs", &addresses).await.unwrap(),
        changes.contacts
    );
    assert_eq!(
        store.history("cs", "s@x.org").await.unwrap(),
        changes.history
    );
    assert_eq!(
        store.pending("cs", &addresses).await.unwrap(),
        changes.pending_add
    );
    assert_eq!(
        store.global_suppression("cs@global.org").await.unwrap(),
        changes.global_add.first().cloned()
    );
    let events = store.outbox(start, usize::MAX).await.unwrap();
    assert_eq!(events_of(&events), changes.events);
    assert!(events.iter().all(|e| e.created_at == 2_000));

    // Resolving and lifting, by a due transition (no checkpoint).
    let done = Changes {
        pending_done: vec![PendingKey {
            account: "cs".into(),
            address: "s@x.org".into(),
            message_key: "m@x".into(),
        }],
        global_lift: ids(&["cs@global.org"]),
        contacts: vec![bare_contact("cs", "s@x.org", 3_000)],
        ..Changes::default()
    };
    store.apply(&done, 3_000).await.unwrap();
    assert!(store.pending("cs", &addresses).await.unwrap().is_empty());
    assert_eq!(
        store.global_suppression("cs@global.org").await.unwrap(),
        None
    );
    assert_eq!(
        store.contacts("cs", &addresses).await.unwrap(),
        done.contacts
    );
    // Nothing to write is fine, and a step with no changes is a commit.
    store.apply(&Changes::default(), 4_000).await.unwrap();
    store
        .commit_step(
            "cs-inbox",
            "INBOX",
            cp(3, 41),
            &[],
            &Changes::default(),
            4_000,
        )
        .await
        .unwrap();
    assert_eq!(
        store.checkpoint("cs-inbox", "INBOX").await.unwrap(),
        Some(cp(3, 41))
    );
    assert_eq!(last_seq(store).await, events[1].seq);
}

/// Asserts that nothing of `every_part(account)` was written.
async fn nothing_of<S: PolicyStore>(store: &S, account: &str, seq: i64) {
    let addresses = ids(&["s@x.org"]);
    assert!(
        store
            .tracked(account, &ids(&[&format!("{account}-m@x")]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .recipient_findings(account, "s@x.org")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .contacts(account, &addresses)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.history(account, "s@x.org").await.unwrap().is_empty());
    assert!(store.pending(account, &addresses).await.unwrap().is_empty());
    assert_eq!(
        store
            .global_suppression(&format!("{account}@global.org"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(last_seq(store).await, seq, "no event written");
}

pub(super) async fn a_refused_row_writes_nothing<S: PolicyStore>(store: &S) {
    store
        .commit("at-inbox", "INBOX", cp(1, 1), &[])
        .await
        .unwrap();
    let seq = last_seq(store).await;

    // The last row written (an event without an id) is refused.
    let mut changes = every_part("at");
    changes.events.push(event(
        EventType::BounceDetected,
        "at-3",
        "at",
        Some("s@x.org"),
    ));
    if let Some(bad) = changes.events.last_mut() {
        bad.id = String::new();
    }
    let result = store
        .commit_step(
            "at-inbox",
            "INBOX",
            cp(1, 99),
            &[finding("at-notice", "INBOX", 99)],
            &changes,
            5_000,
        )
        .await;
    assert!(result.is_err(), "an event without an id is refused");
    assert_eq!(
        store.checkpoint("at-inbox", "INBOX").await.unwrap(),
        Some(cp(1, 1)),
        "checkpoint unchanged"
    );
    assert_eq!(
        store
            .unseen("at-inbox", &ids(&["at-notice"]))
            .await
            .unwrap(),
        vec![true],
        "findings rolled back"
    );
    nothing_of(store, "at", seq).await;

    // A delay that expires before it was noticed, through `apply`.
    let mut changes = every_part("at");
    changes
        .pending_add
        .push(delay("at", "t@x.org", "m@x", 1_500_000_000, 1_499_999_999));
    assert!(store.apply(&changes, 5_000).await.is_err());
    nothing_of(store, "at", seq).await;
    assert!(
        store
            .pending("at", &ids(&["t@x.org"]))
            .await
            .unwrap()
            .is_empty()
    );

    // The store is still usable, and the same step without the bad row
    // goes through.
    store.apply(&every_part("at"), 5_000).await.unwrap();
    assert_eq!(
        store
            .contacts("at", &ids(&["s@x.org"]))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.outbox(seq, usize::MAX).await.unwrap().len(), 2);
}

pub(super) async fn health_events_are_written_with_the_health<S: PolicyStore>(store: &S) {
    let start = last_seq(store).await;
    let status = |key: &str| event(EventType::InboxStatusChanged, key, "he", None);

    // First write: the closure sees no previous state; no event asked for.
    let mut seen = None;
    let first = health("he-inbox", HealthState::Connecting, None, 100);
    let previous = store
        .set_health_with_event(&first, |before, after| {
            seen = Some((before, after));
            None
        })
        .await
        .unwrap();
    assert_eq!(previous, None);
    assert_eq!(seen, Some((None, HealthState::Connecting)));
    assert_eq!(last_seq(store).await, start, "no event when none returned");

    // A change: the previous state, and the event written with it.
    let mut seen = None;
    let failed = health("he-inbox", HealthState::AuthFailed, Some("refused"), 200);
    let previous = store
        .set_health_with_event(&failed, |before, after| {
            seen = Some((before, after));
            Some(status("he-1"))
        })
        .await
        .unwrap();
    assert_eq!(previous, Some(HealthState::Connecting));
    assert_eq!(
        seen,
        Some((Some(HealthState::Connecting), HealthState::AuthFailed))
    );
    let written = store.outbox(start, usize::MAX).await.unwrap();
    assert_eq!(events_of(&written), vec![status("he-1")]);
    assert_eq!(written[0].created_at, 200, "written at the health's time");

    // Unchanged: the closure still sees the stored state; the return value
    // is as `set_health`'s (None), `since` stays; the caller's event is
    // written all the same.
    let mut seen = None;
    let again = health("he-inbox", HealthState::AuthFailed, Some("still"), 300);
    let previous = store
        .set_health_with_event(&again, |before, after| {
            seen = Some((before, after));
            Some(status("he-2"))
        })
        .await
        .unwrap();
    assert_eq!(previous, None);
    assert_eq!(
        seen,
        Some((Some(HealthState::AuthFailed), HealthState::AuthFailed))
    );
    let stored = store.health().await.unwrap();
    let ours = stored.iter().find(|h| h.inbox == "he-inbox").unwrap();
    assert_eq!((ours.since, ours.updated_at), (200, 300));
    assert_eq!(
        events_of(&store.outbox(start, usize::MAX).await.unwrap()),
        vec![status("he-1"), status("he-2")]
    );

    // A refused event leaves the health as it was.
    let idle = health("he-inbox", HealthState::Idle, None, 400);
    let result = store
        .set_health_with_event(&idle, |_, _| {
            let mut bad = status("he-3");
            bad.id = String::new();
            Some(bad)
        })
        .await;
    assert!(result.is_err());
    let stored = store.health().await.unwrap();
    let ours = stored.iter().find(|h| h.inbox == "he-inbox").unwrap();
    assert_eq!(
        (ours.state, ours.updated_at),
        (HealthState::AuthFailed, 300)
    );
    assert_eq!(store.outbox(start, usize::MAX).await.unwrap().len(), 2);

    // An event with an id already in the outbox is not written twice.
    let previous = store
        .set_health_with_event(&idle, |_, _| Some(status("he-1")))
        .await
        .unwrap();
    assert_eq!(previous, Some(HealthState::AuthFailed));
    assert_eq!(store.outbox(start, usize::MAX).await.unwrap().len(), 2);
}

/// Last in the suite: pruning deletes delivered events of every earlier part
/// too. Own rows: events `pr-*` and tracked messages of account `pa`.
pub(super) async fn prune_lets_go_of_delivered_events_and_old_sends_only<S: PolicyStore>(
    store: &S,
) {
    let start = last_seq(store).await;
    let batch: Vec<Event> = (1..=5)
        .map(|n| {
            event(
                EventType::BounceDetected,
                &format!("pr-{n}"),
                "pa",
                Some(&format!("p{n}@x.org")),
            )
        })
        .collect();
    write_events(store, batch.clone(), 1_000).await;
    let id = |n: usize| batch[n - 1].id.clone();
    // pr-1, pr-2 and pr-5 (the highest seq) delivered long ago, pr-3
    // recently, pr-4 not at all.
    store
        .mark_delivered(&[id(1), id(2), id(5)], 100)
        .await
        .unwrap();
    store.mark_delivered(&[id(3)], 10_000).await.unwrap();
    let old = sent("pa", "old@x", 100, &["a@x.org", "b@x.org"]);
    let new = sent("pa", "new@x", 10_000, &["a@x.org"]);
    store.track(&[old, new], 1_000).await.unwrap();

    let pruned = store.prune(5_000, 5_000).await.unwrap();
    assert!(pruned.events >= 2, "{pruned:?}");
    assert!(pruned.tracked_messages >= 1, "{pruned:?}");
    let left: Vec<String> = store
        .outbox(start, usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.id)
        .collect();
    assert_eq!(left, vec![id(3), id(4), id(5)], "the highest seq stays");
    assert_eq!(last_seq(store).await, start + 5);
    let undelivered: Vec<String> = store
        .undelivered(usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.id)
        .filter(|id| batch.iter().any(|e| &e.id == id))
        .collect();
    assert_eq!(undelivered, vec![id(4)]);
    let with = async |status| -> Vec<String> {
        store
            .outbox_with(status, start, usize::MAX)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event.id)
            .collect()
    };
    assert_eq!(with(OutboxStatus::Delivered).await, vec![id(3), id(5)]);
    assert_eq!(with(OutboxStatus::Undelivered).await, vec![id(4)]);
    let after_3 = store
        .outbox_with(OutboxStatus::Delivered, start + 3, 1)
        .await
        .unwrap();
    assert_eq!(after_3.len(), 1);
    assert_eq!(after_3[0].event.id, id(5));
    let kept = store
        .tracked("pa", &["old@x".to_string(), "new@x".to_string()])
        .await
        .unwrap();
    assert_eq!(
        kept.iter()
            .map(|m| m.message_id.as_str())
            .collect::<Vec<_>>(),
        vec!["new@x"]
    );
    let to_a = store
        .tracked_to("pa", "a@x.org", 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(to_a.len(), 1, "{to_a:?}");
    assert!(
        store
            .tracked_to("pa", "b@x.org", 0, i64::MAX)
            .await
            .unwrap()
            .is_empty(),
        "the old message's recipients went with it"
    );

    // Nothing more to let go; numbering goes on after the pruned rows.
    assert_eq!(
        store.prune(5_000, 5_000).await.unwrap(),
        rebound::store::Pruned::default()
    );
    let next = event(EventType::BounceDetected, "pr-6", "pa", Some("p6@x.org"));
    write_events(store, vec![next], 1_000).await;
    assert_eq!(last_seq(store).await, start + 6);
}
