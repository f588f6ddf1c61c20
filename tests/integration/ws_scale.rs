//! Idle WebSocket clients cost little server memory: no read or write
//! buffer is held while a WebSocket is idle.

use crate::util::{heavy, Backend};
use crate::ws_util::{web_server, Ws};

const WARM: usize = 200;
const IDLE: usize = 2000;

/// Opens `n` WebSockets that read their welcome and then sit idle.
fn idle_clients(http: std::net::SocketAddr, n: usize) -> Vec<Ws> {
    (0..n)
        .map(|_| {
            let mut ws = Ws::connect(http, &["shardchat.line"]);
            ws.until("* you joined #lobby");
            ws
        })
        .collect()
}

fn an_idle_websocket_costs_at_most_a_kilobyte(b: Backend) {
    let _one_at_a_time = heavy();
    let (s, http, _) = web_server(b, &["--threads", "2"]);
    // Warm up: the first connections pay for the shards' first buffers.
    let _warm = idle_clients(http, WARM);
    let before = s.rss_bytes();
    let _idle = idle_clients(http, IDLE);
    let after = s.rss_bytes();
    let per_client = after.saturating_sub(before) / IDLE as u64;
    println!("server memory per idle WebSocket client: {per_client} bytes");
    assert!(per_client <= 1024, "{per_client} bytes per idle WebSocket");
}

both_backends!(an_idle_websocket_costs_at_most_a_kilobyte);
