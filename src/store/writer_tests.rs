//! The history writer's unit tests.

use super::*;

fn topic(room: &str, text: &str) -> SavedTopic {
    SavedTopic {
        room: room.into(),
        text: text.into(),
        set_by: "ann".into(),
        set_ms: 1,
    }
}

#[test]
fn a_topic_the_database_refused_is_saved_later() {
    let (saved_tx, saved) = crossbeam_channel::unbounded();
    let backend = crate::store::backend::stub::Stub {
        topic_failures: 2,
        saved: Some(saved_tx),
        ..Default::default()
    };
    let settings = Settings {
        keep: 10,
        replay: 10,
        auth_delay: Duration::ZERO,
    };
    let reply = Replier {
        shards: Arc::from(Vec::new()),
    };
    let writer = Writer::new(Box::new(backend), settings, reply, Arc::default());
    let (tx, rx) = crossbeam_channel::unbounded();
    tx.send(Write::Topic(topic("a", "first"))).unwrap();
    tx.send(Write::Topic(topic("b", "other"))).unwrap();
    tx.send(Write::Topic(topic("a", "second"))).unwrap();
    let thread = std::thread::spawn(move || writer.run(rx));
    // Refused twice, then saved: the newest of each room.
    let wait = Duration::from_secs(10);
    assert_eq!(saved.recv_timeout(wait), Ok(topic("b", "other")));
    assert_eq!(saved.recv_timeout(wait), Ok(topic("a", "second")));
    tx.send(Write::Stop).unwrap();
    thread.join().unwrap();
    assert!(saved.try_recv().is_err());
}
