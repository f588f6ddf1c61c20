//! Integration tests: the real server binary over real sockets.
//!
//! Server tests are written once and run against every poller backend
//! (see `both_backends!`).

/// Runs each named `fn(Backend)` test once per backend, as
/// `epoll::<name>` and `poll::<name>`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod epoll {
            $(#[test] fn $name() { super::$name(crate::util::Backend::Epoll) })*
        }
        mod poll {
            $(#[test] fn $name() { super::$name(crate::util::Backend::Poll) })*
        }
    };
}

mod accounts;
mod admin;
mod admin_metrics;
mod bad_input;
mod browser;
mod client;
mod cluster;
mod config_file;
mod docs;
mod drain;
mod history;
mod irc;
mod irc_account_tags;
mod irc_accounts;
mod irc_caps;
mod irc_channels;
mod irc_clients;
mod irc_cluster;
mod irc_flood;
mod irc_history;
mod irc_modes;
mod irc_nickserv;
mod irc_shared;
mod irc_users;
mod listen;
mod logs;
mod protocol;
mod reload;
mod rooms;
mod scale;
mod shutdown;
mod startup;
mod store_cluster;
mod store_cluster_history;
mod tls;
mod util;
mod ws;
mod ws_scale;
mod ws_util;
