//! shardchat: a sharded, edge-triggered epoll chat server.
//!
//! One acceptor thread hands connections round-robin to N shards; each shard
//! runs its own event loop over the clients it owns. A chat line becomes an
//! event in a shared chunk, rendered once per wire form, that every shard
//! writes to its own clients. See docs/architecture.md for the event path
//! and docs/protocol.md for the line protocol.

mod acceptor;
mod admin;
pub(crate) mod backplane;
pub(crate) mod channel;
pub(crate) mod client;
pub(crate) mod cluster;
pub mod codec;
pub mod config;
pub mod error;
pub mod event;
pub(crate) mod fanout;
pub mod frame;
pub(crate) mod listen;
pub(crate) mod live;
pub mod log;
pub(crate) mod metrics;
pub mod outbound;
pub mod poller;
pub(crate) mod presence;
pub mod proto;
pub mod protocol;
pub(crate) mod ratelimit;
pub(crate) mod registry;
pub(crate) mod reload;
pub mod rooms;
pub mod server;
pub(crate) mod shard;
mod shared;
pub mod store;
pub mod sys;
pub(crate) mod tls;
pub mod tls_client;
pub(crate) mod transport;
pub mod web;

pub use config::Config;
pub use error::Error;
pub use server::{Server, ServerHandle, Summary};
