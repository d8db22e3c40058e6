//! The outbox keeps every event until a sink took it: a sink that fails
//! loses nothing, and the next drain delivers in order, once.

use rebound::event::{Event, EventType};
use rebound::ingest::{self, Pipeline};
use rebound::policy::Changes;
use rebound::sink::Sink;
use rebound::store::{PolicyStore, SqliteStore};

fn event(n: u32) -> Event {
    Event::new(
        EventType::BounceUnmatched,
        &format!("key-{n}"),
        1_795_428_900,
        "acme",
        Some("sales"),
        None,
        serde_json::json!({"n": n}),
    )
}

#[tokio::test]
async fn a_failing_sink_leaves_events_in_the_outbox_for_the_next_drain() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let pipeline = Pipeline::default();
    let changes = Changes {
        events: (1..=3).map(event).collect(),
        ..Changes::default()
    };
    store.apply(&changes, 1).await.unwrap();

    // A receiver that is gone: nothing is marked delivered.
    let (dead, rx) = Sink::channel();
    drop(rx);
    assert_eq!(ingest::drain(&store, &pipeline, &dead).await, 0);
    assert_eq!(store.undelivered(10).await.unwrap().len(), 3);

    // A file sink whose writes fail (a full disk) keeps nothing back either.
    let full = Sink::file(std::path::Path::new("/dev/full")).unwrap();
    assert_eq!(ingest::drain(&store, &pipeline, &full).await, 0);
    assert_eq!(store.undelivered(10).await.unwrap().len(), 3);

    // A working sink gets all three, in order, and only once.
    let (sink, mut rx) = Sink::channel();
    assert_eq!(ingest::drain(&store, &pipeline, &sink).await, 3);
    assert_eq!(ingest::drain(&store, &pipeline, &sink).await, 0);
    drop(sink);
    let mut got = Vec::new();
    while let Some(batch) = rx.recv().await {
        got.extend(batch.events.into_iter().map(|e| e.data["n"].as_u64()));
    }
    assert_eq!(got, [Some(1), Some(2), Some(3)]);
    assert!(store.undelivered(10).await.unwrap().is_empty());
    // Re-writing the same events (a re-processed notice) adds nothing.
    store.apply(&changes, 2).await.unwrap();
    assert!(store.undelivered(10).await.unwrap().is_empty());
    assert_eq!(store.outbox(0, 10).await.unwrap().len(), 3);
}
