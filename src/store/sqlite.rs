//! Accounts, history and topics in a SQLite file (placeholder until the backend lands).
#![allow(dead_code)]
use super::backend::StoreError;
pub struct SqliteOpener;
pub struct Sqlite;
impl SqliteOpener {
    pub fn new(_db: &str) -> Result<SqliteOpener, StoreError> { Err(StoreError::Open("todo".into())) }
    pub fn open(&self) -> Result<Sqlite, StoreError> { Err(StoreError::Open("todo".into())) }
}
impl super::Backend for Sqlite {
    fn account(&mut self, _: &str) -> Result<Option<super::Account>, StoreError> { todo!() }
    fn create_account(&mut self, _: &super::Account) -> Result<bool, StoreError> { todo!() }
    fn set_hash(&mut self, _: &str, _: &str) -> Result<bool, StoreError> { todo!() }
    fn drop_account(&mut self, _: &str) -> Result<bool, StoreError> { todo!() }
    fn account_names(&mut self) -> Result<Vec<Box<str>>, StoreError> { todo!() }
    fn append(&mut self, _: &[super::HistLine], _: usize) -> Result<(), StoreError> { todo!() }
    fn history(&mut self, _: &str, _: &super::Range, _: usize) -> Result<Vec<super::HistLine>, StoreError> { todo!() }
    fn targets(&mut self, _: &[Box<str>], _: u64, _: u64, _: usize) -> Result<Vec<super::Target>, StoreError> { todo!() }
    fn save_topic(&mut self, _: &super::SavedTopic) -> Result<(), StoreError> { todo!() }
    fn topics(&mut self) -> Result<Vec<super::SavedTopic>, StoreError> { todo!() }
}
