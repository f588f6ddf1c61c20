//! shardchat: a sharded, edge-triggered epoll chat server.
//!
//! See README.md for the architecture and docs/protocol.md for the wire
//! protocol.

pub mod poller;
