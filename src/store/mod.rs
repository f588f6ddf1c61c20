//! Storage: accounts and room history, kept in a database (SQLite on a
//! single node, Redis in a cluster) by storage threads that shards never
//! wait for.

pub mod backend;
pub mod redis;
pub mod sqlite;
