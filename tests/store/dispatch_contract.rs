//! The contract every [`DispatchStore`] must pass (issue 5): lanes and their
//! heads, the outcome of each attempt, counts, dead letters and redrive.
//! [`dispatch_contract_suite`] is generic (a PostgreSQL store runs the same);
//! the SQLite run is at the bottom. It expects an empty outbox.

use rebound::event::{Contact, Event, EventType};
use rebound::policy::Changes;
use rebound::store::{
    DispatchCounts, DispatchStore, Lane, PolicyStore, QueuedEvent, Redrive, SqliteStore,
};

/// An event of `account` about `address`, or an inbox event of `inbox`.
fn ev(key: &str, account: &str, address: Option<&str>, inbox: Option<&str>) -> Event {
    let kind = if address.is_some() {
        EventType::BounceDetected
    } else {
        EventType::InboxStatusChanged
    };
    Event::new(
        kind,
        key,
        1_700_000_000,
        account,
        inbox,
        address.map(|a| Contact {
            address: a.to_owned(),
            contact_id: None,
        }),
        serde_json::json!({ "key": key, "é": [1, 2.5, null] }),
    )
}

async fn write<S: PolicyStore>(store: &S, events: &[Event], now: i64) {
    store
        .apply(
            &Changes {
                events: events.to_vec(),
                ..Changes::default()
            },
            now,
        )
        .await
        .unwrap();
}

fn ids_of(heads: &[QueuedEvent]) -> Vec<String> {
    heads.iter().map(|h| h.id.clone()).collect()
}

fn id(event: &Event) -> String {
    event.id.clone()
}

/// Everything [`DispatchStore`] promises.
pub async fn dispatch_contract_suite<S: DispatchStore>(store: &S) {
    let t = 1_800_000_000;
    let a1 = ev("a1", "x", Some("a@x.org"), Some("in-1"));
    let b1 = ev("b1", "x", Some("b@x.org"), None);
    let a2 = ev("a2", "x", Some("a@x.org"), Some("in-2"));
    let i1 = ev("i1", "x", None, Some("in-1"));
    let i2 = ev("i2", "x", None, Some("in-1"));
    let j1 = ev("j1", "x", None, Some("in-2"));
    let y1 = ev("y1", "y", Some("a@x.org"), None);
    let a3 = ev("a3", "x", Some("a@x.org"), None);
    let all = [&a1, &b1, &a2, &i1, &i2, &j1, &y1, &a3].map(Clone::clone);
    write(store, &all, t).await;

    // One head per lane, in seq order; the same address in another account
    // and another inbox's events are lanes of their own.
    let heads = store.due_heads(t, 100).await.unwrap();
    assert_eq!(ids_of(&heads), [&a1, &b1, &i1, &j1, &y1].map(id));
    let first = &heads[0];
    assert_eq!(first.payload, serde_json::to_string(&a1).unwrap());
    assert_eq!(
        (first.attempts, first.created_at, first.budget_from),
        (0, t, t)
    );
    assert_eq!(
        (first.account.as_str(), first.address.as_deref()),
        ("x", Some("a@x.org"))
    );
    assert_eq!(first.inbox.as_deref(), Some("in-1"));
    assert!(heads.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(
        first.lane(),
        Lane::Contact {
            account: "x".into(),
            address: "a@x.org".into()
        }
    );
    assert_eq!(
        heads[2].lane(),
        Lane::Inbox {
            account: "x".into(),
            inbox: Some("in-1".into())
        }
    );
    assert_eq!(
        ids_of(&store.due_heads(t, 2).await.unwrap()),
        [&a1, &b1].map(id)
    );
    assert!(store.due_heads(t, 0).await.unwrap().is_empty());

    // A retry holds the whole lane until it is due.
    assert!(
        store
            .record_retry(&a1.id, t + 10, "HTTP 500")
            .await
            .unwrap()
    );
    let heads = store.due_heads(t + 9, 100).await.unwrap();
    assert_eq!(ids_of(&heads), [&b1, &i1, &j1, &y1].map(id));
    let heads = store.due_heads(t + 10, 100).await.unwrap();
    assert_eq!(ids_of(&heads)[0], a1.id);
    assert_eq!(heads[0].attempts, 1);
    let counts = store.dispatch_counts().await.unwrap();
    assert_eq!(
        counts,
        DispatchCounts {
            pending: 8,
            retrying: 1,
            dead: 0,
            oldest_pending_at: Some(t)
        }
    );

    // Delivered: the next of the lane is its head; a second outcome for a
    // row that is no longer pending changes nothing.
    let one = |e: &Event| vec![e.id.clone()];
    assert_eq!(store.record_delivered(&one(&a1), t + 11).await.unwrap(), 1);
    assert_eq!(store.record_delivered(&one(&a1), t + 12).await.unwrap(), 0);
    assert!(!store.record_retry(&a1.id, t + 99, "late").await.unwrap());
    assert!(!store.record_dead(&a1.id, t + 99, "late").await.unwrap());
    let heads = store.due_heads(t + 11, 100).await.unwrap();
    assert_eq!(ids_of(&heads), [&b1, &a2, &i1, &j1, &y1].map(id));

    // Dead: counted once more, the lane moves on, the letter is listed.
    assert!(
        store
            .record_retry(&a2.id, t + 20, "HTTP 503")
            .await
            .unwrap()
    );
    assert!(
        store
            .record_dead(&a2.id, t + 20, "HTTP 410: gone")
            .await
            .unwrap()
    );
    assert_eq!(store.record_delivered(&one(&a2), t + 21).await.unwrap(), 0);
    assert!(!store.record_retry(&a2.id, t + 30, "x").await.unwrap());
    let heads = store.due_heads(t + 20, 100).await.unwrap();
    assert_eq!(ids_of(&heads), [&b1, &i1, &j1, &y1, &a3].map(id));
    let dead = store.dead_letters(0, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event, a2);
    // A dead letter is not "undelivered" for the stdout/file drain either.
    assert!(
        store
            .undelivered(1000)
            .await
            .unwrap()
            .iter()
            .all(|e| e.event.id != a2.id)
    );
    assert_eq!(
        (dead[0].created_at, dead[0].dead_at, dead[0].attempts),
        (t, t + 20, 2)
    );
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 410: gone"));
    assert!(
        store
            .dead_letters(dead[0].seq, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.dispatch_counts().await.unwrap(),
        DispatchCounts {
            pending: 6,
            retrying: 0,
            dead: 1,
            oldest_pending_at: Some(t)
        }
    );

    // Unknown ids are no-ops.
    assert_eq!(
        store
            .record_delivered(&["evt_nope".to_owned()], t)
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.record_delivered(&[], t).await.unwrap(), 0);
    assert!(!store.record_retry("evt_nope", t, "x").await.unwrap());
    assert!(!store.record_dead("evt_nope", t, "x").await.unwrap());

    // Redrive: only dead ids count; the redriven event is its lane's head
    // again (lowest seq), due at once, attempts reset, a new budget.
    let which = vec![a2.id.clone(), b1.id.clone(), "evt_nope".to_owned()];
    assert_eq!(
        store.redrive(Redrive::Ids(&which), t + 50).await.unwrap(),
        1
    );
    assert_eq!(store.redrive(Redrive::Ids(&[]), t + 50).await.unwrap(), 0);
    let heads = store.due_heads(t + 50, 100).await.unwrap();
    assert_eq!(ids_of(&heads), [&b1, &a2, &i1, &j1, &y1].map(id));
    let a2_head = &heads[1];
    assert_eq!((a2_head.attempts, a2_head.budget_from), (0, t + 50));
    assert_eq!(store.dispatch_counts().await.unwrap().dead, 0);
    assert!(store.dead_letters(0, 10).await.unwrap().is_empty());

    // Redrive everything dead.
    for e in [&i1, &j1] {
        assert!(store.record_dead(&e.id, t + 60, "HTTP 400").await.unwrap());
    }
    assert_eq!(store.dead_letters(0, 1).await.unwrap().len(), 1);
    assert_eq!(store.redrive(Redrive::AllDead, t + 70).await.unwrap(), 2);
    assert_eq!(store.redrive(Redrive::AllDead, t + 70).await.unwrap(), 0);

    // A long lane waiting for a retry does not hide the lanes after it.
    // Delivered in bulk: a1 was already, the seven others count.
    let every: Vec<String> = all.iter().map(id).collect();
    assert_eq!(store.record_delivered(&every, t + 80).await.unwrap(), 7);
    assert_eq!(store.dispatch_counts().await.unwrap().pending, 0);
    let long: Vec<Event> = (0..700)
        .map(|n| ev(&format!("long-{n}"), "z", Some("long@x.org"), None))
        .collect();
    let after = ev("after", "z", Some("other@x.org"), None);
    write(store, &long, t + 90).await;
    write(store, std::slice::from_ref(&after), t + 90).await;
    assert!(
        store
            .record_retry(&long[0].id, t + 999, "HTTP 502")
            .await
            .unwrap()
    );
    assert_eq!(
        ids_of(&store.due_heads(t + 100, 1).await.unwrap()),
        std::slice::from_ref(&after.id)
    );
    let counts = store.dispatch_counts().await.unwrap();
    assert_eq!(
        (counts.pending, counts.retrying, counts.oldest_pending_at),
        (701, 1, Some(t + 90))
    );

    // Pruning with every cut-off in the future keeps dead letters and
    // pending events; only delivered ones (but the highest seq) go.
    assert!(
        store
            .record_dead(&after.id, t + 100, "HTTP 410")
            .await
            .unwrap()
    );
    let pruned = store.prune(i64::MAX, 0).await.unwrap();
    assert_eq!(pruned.events, 8, "the eight delivered events: {pruned:?}");
    assert_eq!(store.dead_letters(0, 10).await.unwrap().len(), 1);
    let counts = store.dispatch_counts().await.unwrap();
    assert_eq!((counts.pending, counts.dead), (700, 1));
}

#[tokio::test]
async fn sqlite_store_passes_the_dispatch_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("rebound.db"))
        .await
        .unwrap();
    dispatch_contract_suite(&store).await;
    store.close().await;
}
