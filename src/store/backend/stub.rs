//! A backend for unit tests of the storage threads: no history, a fixed
//! list of account names, and topic saves that fail a given number of
//! times before they succeed (each saved topic is sent on a channel).

use crossbeam_channel::Sender;

use super::{Account, Backend, HistLine, Range, SavedTopic, StoreError, Target};

#[derive(Default)]
pub(crate) struct Stub {
    pub names: Vec<Box<str>>,
    pub topic_failures: u32,
    pub saved: Option<Sender<SavedTopic>>,
}

impl Backend for Stub {
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
        Ok(self.names.clone())
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
        if self.topic_failures > 0 {
            self.topic_failures -= 1;
            return Err(StoreError::Backend("away for now".into()));
        }
        if let Some(saved) = &self.saved {
            let _ = saved.send(topic.clone());
        }
        Ok(())
    }
    fn topics(&mut self) -> Result<Vec<SavedTopic>, StoreError> {
        Ok(Vec::new())
    }
}
