//! The contract every [`Store`] (and `PolicyStore`) implementation must
//! pass: the SQLite store runs it in `tests/store.rs`, the PostgreSQL store
//! will run the same (`#[path = "store/contract.rs"] mod contract;` from its
//! own test file). The policy half is in `store/policy_contract.rs` and
//! `store/outbox_contract.rs`.

#[path = "outbox_contract.rs"]
mod outbox;
#[path = "policy_contract.rs"]
mod policy_contract;

pub use policy_contract::{
    bare_contact, delay, event, full_contact, line, policy_contract_suite, recipient_finding,
};

use rebound::source::Checkpoint;
use rebound::store::{FindingRecord, Health, HealthState, Store, TRACKED_TO_LIMIT};
use rebound::track::{TrackSource, TrackedMessage, TrackedRecipient};

/// Everything the [`Store`] trait promises. Expects an empty store; each
/// part uses its own inbox ids, so the parts do not see each other's rows.
pub async fn contract_suite<S: Store>(store: &S) {
    checkpoints_round_trip(store).await;
    commit_records_findings_once(store).await;
    unseen_keeps_order_and_handles_bulk(store).await;
    health_reports_changes_only(store).await;
    refresh_tokens_round_trip(store).await;
    track_upserts_idempotently(store).await;
    tracked_looks_up_by_ids_in_bulk(store).await;
    tracked_to_finds_a_window(store).await;
}

/// A finding record for `identity` (UIDVALIDITY 7).
pub fn finding(identity: &str, folder: &str, uid: u32) -> FindingRecord {
    FindingRecord {
        identity: identity.to_owned(),
        folder: folder.to_owned(),
        uidvalidity: 7,
        uid,
        verdict: "bounce".to_owned(),
        raw_sha256: "ab".repeat(32),
        found_at: 1_700_000_000,
    }
}

/// A checkpoint.
pub fn cp(uidvalidity: u32, last_uid: u32) -> Checkpoint {
    Checkpoint {
        uidvalidity,
        last_uid,
    }
}

/// Owned identities.
pub fn ids(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

async fn checkpoints_round_trip<S: Store>(store: &S) {
    assert_eq!(store.checkpoint("cp-a", "INBOX").await.unwrap(), None);
    assert!(store.checkpoints("cp-a").await.unwrap().is_empty());

    store.commit("cp-a", "INBOX", cp(1, 10), &[]).await.unwrap();
    assert_eq!(
        store.checkpoint("cp-a", "INBOX").await.unwrap(),
        Some(cp(1, 10))
    );
    // A later commit replaces it (a UIDVALIDITY change may move it back).
    store.commit("cp-a", "INBOX", cp(2, 3), &[]).await.unwrap();
    assert_eq!(
        store.checkpoint("cp-a", "INBOX").await.unwrap(),
        Some(cp(2, 3))
    );

    // u32 values come back whole, at both ends of the range.
    store
        .commit("cp-a", "Junk", cp(u32::MAX, u32::MAX), &[])
        .await
        .unwrap();
    store
        .commit("cp-a", "Archive", cp(0, 0), &[])
        .await
        .unwrap();
    assert_eq!(
        store.checkpoint("cp-a", "Junk").await.unwrap(),
        Some(cp(u32::MAX, u32::MAX))
    );

    // Another inbox's folder of the same name is its own.
    store.commit("cp-b", "INBOX", cp(9, 99), &[]).await.unwrap();
    assert_eq!(
        store.checkpoint("cp-a", "INBOX").await.unwrap(),
        Some(cp(2, 3))
    );

    // Ordered by folder, this inbox only.
    assert_eq!(
        store.checkpoints("cp-a").await.unwrap(),
        vec![
            ("Archive".to_owned(), cp(0, 0)),
            ("INBOX".to_owned(), cp(2, 3)),
            ("Junk".to_owned(), cp(u32::MAX, u32::MAX)),
        ]
    );
    assert_eq!(
        store.checkpoints("cp-b").await.unwrap(),
        vec![("INBOX".to_owned(), cp(9, 99))]
    );
}

async fn commit_records_findings_once<S: Store>(store: &S) {
    let both = ids(&["msg_one", "msg_two"]);
    assert_eq!(store.unseen("fi-a", &both).await.unwrap(), vec![true, true]);

    let mut max = finding("msg_two", "Junk", u32::MAX);
    max.uidvalidity = u32::MAX;
    store
        .commit(
            "fi-a",
            "INBOX",
            cp(7, 5),
            &[finding("msg_one", "INBOX", 5), max],
        )
        .await
        .unwrap();
    assert_eq!(
        store.unseen("fi-a", &both).await.unwrap(),
        vec![false, false]
    );
    assert_eq!(
        store.checkpoint("fi-a", "INBOX").await.unwrap(),
        Some(cp(7, 5))
    );

    // Recorded per inbox: the same identity is still new elsewhere.
    assert_eq!(store.unseen("fi-b", &both).await.unwrap(), vec![true, true]);

    // An identity already recorded (a rescan after a UIDVALIDITY change, or
    // the same notice in another folder) is left alone; a repeat inside one
    // batch too. The checkpoint still moves.
    store
        .commit(
            "fi-a",
            "INBOX",
            cp(8, 2),
            &[
                finding("msg_one", "INBOX", 2),
                finding("msg_three", "INBOX", 1),
                finding("msg_three", "INBOX", 2),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .unseen("fi-a", &ids(&["msg_one", "msg_three", "msg_four"]))
            .await
            .unwrap(),
        vec![false, false, true]
    );
    assert_eq!(
        store.checkpoint("fi-a", "INBOX").await.unwrap(),
        Some(cp(8, 2))
    );
}

async fn unseen_keeps_order_and_handles_bulk<S: Store>(store: &S) {
    assert!(store.unseen("bulk", &[]).await.unwrap().is_empty());

    // 5,000 identities: past any one-query parameter limit, so the store
    // must split them. Every third one is recorded.
    let all: Vec<String> = (0..5_000).map(|n| format!("msg_{n:05}")).collect();
    let recorded: Vec<FindingRecord> = all
        .iter()
        .enumerate()
        .filter(|(n, _)| n.is_multiple_of(3))
        .map(|(n, id)| finding(id, "INBOX", u32::try_from(n).unwrap()))
        .collect();
    store
        .commit("bulk", "INBOX", cp(7, 5_000), &recorded)
        .await
        .unwrap();

    // Reversed, with a repeat, so order and duplicates are both checked.
    let mut query: Vec<String> = all.iter().rev().cloned().collect();
    query.push("msg_00000".to_owned());
    query.push("msg_00001".to_owned());
    let unseen = store.unseen("bulk", &query).await.unwrap();
    assert_eq!(unseen.len(), query.len());
    for (id, new) in query.iter().zip(&unseen) {
        let n: usize = id.trim_start_matches("msg_").parse().unwrap();
        assert_eq!(*new, !n.is_multiple_of(3), "{id}");
    }
    assert_eq!(unseen.iter().filter(|new| !**new).count(), 1_667 + 1);
}

/// A health record entered and written at `at`.
pub fn health(inbox: &str, state: HealthState, error: Option<&str>, at: i64) -> Health {
    Health {
        inbox: inbox.to_owned(),
        state,
        last_error: error.map(str::to_owned),
        since: at,
        updated_at: at,
    }
}

async fn health_reports_changes_only<S: Store>(store: &S) {
    assert!(store.health().await.unwrap().is_empty());

    // First write: nothing to report.
    let first = health("h-b", HealthState::Connecting, None, 100);
    assert_eq!(store.set_health(&first).await.unwrap(), None);

    // Same state again: not a change; `since` stays, the rest is written.
    let again = health("h-b", HealthState::Connecting, Some("slow"), 150);
    assert_eq!(store.set_health(&again).await.unwrap(), None);
    let now = store.health().await.unwrap();
    assert_eq!(
        now,
        vec![Health {
            since: 100,
            ..again.clone()
        }]
    );

    // A new state: the previous one is returned, `since` moves.
    let failed = health(
        "h-b",
        HealthState::BackingOff,
        Some("connection refused"),
        200,
    );
    assert_eq!(
        store.set_health(&failed).await.unwrap(),
        Some(HealthState::Connecting)
    );
    let ok = health("h-b", HealthState::Idle, None, 300);
    assert_eq!(
        store.set_health(&ok).await.unwrap(),
        Some(HealthState::BackingOff)
    );

    // Every state survives the round trip; the list is ordered by inbox.
    let states = [
        HealthState::Connecting,
        HealthState::Connected,
        HealthState::Idle,
        HealthState::BackingOff,
        HealthState::AuthFailed,
        HealthState::Disabled,
    ];
    for (n, state) in states.iter().enumerate() {
        let inbox = format!("h-z{}", states.len() - n);
        let at = i64::try_from(n).unwrap();
        store
            .set_health(&health(&inbox, *state, Some("e"), at))
            .await
            .unwrap();
    }
    store
        .set_health(&health("h-a", HealthState::AuthFailed, Some("no"), 5))
        .await
        .unwrap();
    let all = store.health().await.unwrap();
    let names: Vec<&str> = all.iter().map(|h| h.inbox.as_str()).collect();
    assert_eq!(
        names,
        ["h-a", "h-b", "h-z1", "h-z2", "h-z3", "h-z4", "h-z5", "h-z6"]
    );
    assert_eq!(all[1], ok);
    for h in &all[2..] {
        let n: usize = h.inbox.trim_start_matches("h-z").parse().unwrap();
        assert_eq!(h.state, states[states.len() - n], "{}", h.inbox);
    }
}

async fn refresh_tokens_round_trip<S: Store>(store: &S) {
    assert_eq!(store.refresh_token("tok-a", "o1").await.unwrap(), None);
    store
        .set_refresh_token("tok-a", "r1", "o1", 10)
        .await
        .unwrap();
    store
        .set_refresh_token("tok-b", "other", "o1", 10)
        .await
        .unwrap();
    // A token rotated from another config token is stale.
    assert_eq!(store.refresh_token("tok-a", "o2").await.unwrap(), None);
    assert_eq!(
        store.refresh_token("tok-a", "o1").await.unwrap().as_deref(),
        Some("r1")
    );
    // Rotation replaces it.
    store
        .set_refresh_token("tok-a", "r2", "o1", 20)
        .await
        .unwrap();
    assert_eq!(
        store.refresh_token("tok-a", "o1").await.unwrap().as_deref(),
        Some("r2")
    );
    assert_eq!(
        store.refresh_token("tok-b", "o1").await.unwrap().as_deref(),
        Some("other")
    );
}

/// A tracked message of `account` sent at `sent_at` to `to` (no contact ids).
pub fn sent(account: &str, message_id: &str, sent_at: i64, to: &[&str]) -> TrackedMessage {
    TrackedMessage {
        account: account.to_owned(),
        inbox: format!("{account}-inbox"),
        message_id: message_id.to_owned(),
        recipients: to
            .iter()
            .map(|a| TrackedRecipient {
                address: (*a).to_owned(),
                contact_id: None,
            })
            .collect(),
        subject: Some(format!("About {message_id}")),
        sent_at,
        metadata: serde_json::json!({ "campaign": "spring", "n": 1 }),
        source: TrackSource::Cli,
    }
}

async fn track_upserts_idempotently<S: Store>(store: &S) {
    let mut a = sent(
        "tr-a",
        "m1@x",
        100,
        &["bob@example.net", "carol@example.net"],
    );
    a.recipients[0].contact_id = Some("c-bob".into());
    let b = sent("tr-a", "m2@x", 200, &["bob@example.net"]);
    assert_eq!(store.track(&[a.clone(), b.clone()], 1).await.unwrap(), 2);
    // The same input again: nothing new, nothing changed.
    assert_eq!(store.track(&[a.clone(), b.clone()], 2).await.unwrap(), 0);
    let ids_ab = ids(&["m1@x", "m2@x"]);
    assert_eq!(
        store.tracked("tr-a", &ids_ab).await.unwrap(),
        vec![a.clone(), b.clone()]
    );

    // Same Message-ID in another account is another message.
    assert_eq!(
        store
            .track(&[sent("tr-b", "m1@x", 100, &["x@y.z"])], 3)
            .await
            .unwrap(),
        1
    );

    // An update replaces the values and the recipients.
    let mut a2 = sent("tr-a", "m1@x", 150, &["dave@example.net"]);
    a2.subject = None;
    a2.metadata = serde_json::json!({ "campaign": "autumn" });
    a2.source = TrackSource::Api;
    a2.inbox = "other".into();
    assert_eq!(store.track(std::slice::from_ref(&a2), 4).await.unwrap(), 0);
    assert_eq!(
        store.tracked("tr-a", &ids(&["m1@x"])).await.unwrap(),
        vec![a2.clone()]
    );
    assert!(
        store
            .tracked_to("tr-a", "carol@example.net", 0, 1_000)
            .await
            .unwrap()
            .is_empty(),
        "a replaced recipient is gone"
    );

    // Addresses are stored normalised, repeats once (the first contact id
    // given wins), and a Message-ID repeated in one slice counts once.
    let mut c = sent(
        "tr-a",
        "m3@x",
        300,
        &[" <Eve@Example.NET> ", "eve@example.net"],
    );
    c.recipients[1].contact_id = Some("c-eve".into());
    assert_eq!(store.track(&[c.clone(), c.clone()], 5).await.unwrap(), 1);
    let got = store.tracked("tr-a", &ids(&["m3@x"])).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].recipients,
        vec![TrackedRecipient {
            address: "eve@example.net".into(),
            contact_id: Some("c-eve".into()),
        }]
    );
    assert_eq!(store.track(&[], 6).await.unwrap(), 0);
}

async fn tracked_looks_up_by_ids_in_bulk<S: Store>(store: &S) {
    let messages: Vec<TrackedMessage> = (0..1_500)
        .map(|n| {
            sent(
                "bulk",
                &format!("b{n}@x"),
                n,
                &[&format!("r{n}@example.org")],
            )
        })
        .collect();
    assert_eq!(store.track(&messages, 1).await.unwrap(), 1_500);
    // Every other id, in reverse, plus unknown ones and a repeat.
    let mut wanted: Vec<String> = (0..1_500)
        .rev()
        .step_by(2)
        .map(|n| format!("b{n}@x"))
        .collect();
    wanted.push("missing@x".into());
    wanted.push("b1499@x".into());
    let got = store.tracked("bulk", &wanted).await.unwrap();
    assert_eq!(got.len(), 750);
    let expected: Vec<TrackedMessage> = (0..1_500)
        .rev()
        .step_by(2)
        .map(|n: usize| messages[n].clone())
        .collect();
    assert_eq!(got, expected);
    assert!(store.tracked("bulk", &[]).await.unwrap().is_empty());
    assert!(
        store
            .tracked("other-account", &wanted)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn tracked_to_finds_a_window<S: Store>(store: &S) {
    let msgs = [
        sent("win-a", "w1@x", 1_000, &["Zoe@Example.COM"]),
        sent(
            "win-a",
            "w2@x",
            2_000,
            &["zoe@example.com", "amy@example.com"],
        ),
        sent("win-a", "w3@x", 3_000, &["zoe@example.com"]),
        sent("win-a", "w4@x", 3_000, &["zoe@example.com"]),
        sent("win-a", "w5@x", 4_000, &["amy@example.com"]),
        sent("win-b", "v1@x", 2_500, &["zoe@example.com"]),
    ];
    store.track(&msgs, 1).await.unwrap();
    let found = |list: Vec<TrackedMessage>| -> Vec<String> {
        list.into_iter().map(|m| m.message_id).collect()
    };
    // Both bounds inclusive, newest first, ties by Message-ID descending,
    // the query address normalised too, other accounts not seen.
    assert_eq!(
        found(
            store
                .tracked_to("win-a", "<ZOE@example.com>", 2_000, 3_000)
                .await
                .unwrap()
        ),
        ids(&["w4@x", "w3@x", "w2@x"])
    );
    assert_eq!(
        found(
            store
                .tracked_to("win-a", "zoe@example.com", 1_001, 2_999)
                .await
                .unwrap()
        ),
        ids(&["w2@x"])
    );
    assert_eq!(
        found(
            store
                .tracked_to("win-b", "zoe@example.com", 0, 10_000)
                .await
                .unwrap()
        ),
        ids(&["v1@x"])
    );
    assert!(
        store
            .tracked_to("win-a", "zoe@example.com", 3_001, 3_999)
            .await
            .unwrap()
            .is_empty()
    );
    // Each comes with all its recipients.
    let w2 = store
        .tracked_to("win-a", "amy@example.com", 2_000, 2_000)
        .await
        .unwrap();
    assert_eq!(w2.len(), 1);
    assert_eq!(
        w2[0]
            .recipients
            .iter()
            .map(|r| r.address.as_str())
            .collect::<Vec<_>>(),
        ["amy@example.com", "zoe@example.com"]
    );
    // At most TRACKED_TO_LIMIT, the newest.
    let many: Vec<TrackedMessage> = (0..80)
        .map(|n| sent("win-c", &format!("c{n:02}@x"), n, &["lim@example.com"]))
        .collect();
    store.track(&many, 1).await.unwrap();
    let got = store
        .tracked_to("win-c", "lim@example.com", 0, 1_000)
        .await
        .unwrap();
    assert_eq!(got.len(), TRACKED_TO_LIMIT);
    assert_eq!(got[0].message_id, "c79@x");
    assert_eq!(got[TRACKED_TO_LIMIT - 1].sent_at, 30);
}
