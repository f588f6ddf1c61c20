//! The history writer's unit tests.

use super::*;
use crate::store::Account;
use crossbeam_channel::Sender;

/// A backend whose first topic saves fail; the saved ones are sent.
struct Flaky {
    fails: u32,
    saved: Sender<SavedTopic>,
}

impl Backend for Flaky {
    fn account(&mut self, _: &str) -> Result<Option<Account>, StoreError> {
        Ok(None)
    }
    fn create_account(&mut self, _: &Account) -> Result<bool, StoreError> {
        Ok(false)
    }
    fn set_hash(&mut self, _: &str, _: &str) -> Result<bool, StoreError> {
        Ok(false)
    }
    fn drop_account(&mut self, _: &str) -> Result<bool, StoreError> {
        Ok(false)
    }
    fn account_names(&mut self) -> Result<Vec<Box<str>>, StoreError> {
        Ok(Vec::new())
    }
    fn append(&mut self, _: &[HistLine], _: usize) -> Result<(), StoreError> {
        Ok(())
    }
    fn history(&mut self, _: &str, _: &Range, _: usize) -> Result<Vec<HistLine>, StoreError> {
        Ok(Vec::new())
    }
    fn targets(
        &mut self,
        _: &[Box<str>],
        _: u64,
        _: u64,
        _: usize,
    ) -> Result<Vec<Target>, StoreError> {
        Ok(Vec::new())
    }
    fn save_topic(&mut self, topic: &SavedTopic) -> Result<(), StoreError> {
        if self.fails > 0 {
            self.fails -= 1;
            return Err(StoreError::Backend("away for now".into()));
        }
        let _ = self.saved.send(topic.clone());
        Ok(())
    }
    fn topics(&mut self) -> Result<Vec<SavedTopic>, StoreError> {
        Ok(Vec::new())
    }
}

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
    let backend = Flaky {
        fails: 2,
        saved: saved_tx,
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
