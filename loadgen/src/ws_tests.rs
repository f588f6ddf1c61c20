//! The WebSocket layer's handshake, encoder and decoder, byte by byte.

use super::*;

#[test]
fn accept_key_is_rfc_6455s_example() {
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

const HEAD: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                    Connection: Upgrade\r\n";

/// A client whose handshake is done, and what it sent.
fn upgraded(sub: WsSub) -> (Ws, String) {
    let mut req = Vec::new();
    let mut ws = Ws::start("chat.test", sub, &mut req);
    let req = String::from_utf8(req).unwrap();
    let key = req
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap()
        .to_owned();
    let resp = format!(
        "{HEAD}Sec-WebSocket-Accept: {}\r\nsec-websocket-protocol: {}\r\n\r\n",
        accept_key(&key),
        sub.token()
    );
    let (mut lines, mut reply) = (Vec::new(), Vec::new());
    assert_eq!(ws.feed(resp.as_bytes(), &mut lines, &mut reply), Ok(true));
    assert!(lines.is_empty() && reply.is_empty());
    (ws, req)
}

/// An unmasked server frame.
fn server_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![first];
    match payload.len() {
        n @ 0..=125 => f.push(n as u8),
        n @ 126..=0xffff => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

/// Unmasks one client frame: (first byte, payload).
fn unmask(frame: &[u8]) -> (u8, Vec<u8>) {
    assert_ne!(frame[1] & 0x80, 0, "client frames are masked");
    let (len, at) = match frame[1] & 0x7f {
        126 => (u16::from_be_bytes([frame[2], frame[3]]) as usize, 4),
        127 => panic!("no test frame is that long"),
        n => (n as usize, 2),
    };
    let mask = &frame[at..at + 4];
    let payload = &frame[at + 4..];
    assert_eq!(payload.len(), len);
    let clear = payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m);
    (frame[0], clear.collect())
}

#[test]
fn the_request_offers_the_subprotocol_and_no_origin() {
    let (_, req) = upgraded(WsSub::Irc);
    assert!(req.starts_with("GET / HTTP/1.1\r\nHost: chat.test\r\n"));
    assert!(req.contains("Sec-WebSocket-Version: 13\r\n"));
    assert!(req.contains("Sec-WebSocket-Protocol: text.ircv3.net\r\n"));
    assert!(!req.to_ascii_lowercase().contains("origin"));
    assert!(req.ends_with("\r\n\r\n"));
    let (_, req2) = upgraded(WsSub::Line);
    assert!(req2.contains("Sec-WebSocket-Protocol: shardchat.line\r\n"));
    let key = |r: &str| {
        r.lines()
            .find(|l| l.starts_with("Sec-WebSocket-Key"))
            .map(str::to_owned)
    };
    assert_ne!(key(&req), key(&req2), "a fresh key per connection");
}

#[test]
fn a_wrong_answer_to_the_upgrade_is_refused() {
    let feed = |resp: &str| {
        let mut ws = Ws::start("h", WsSub::Line, &mut Vec::new());
        ws.feed(resp.as_bytes(), &mut Vec::new(), &mut Vec::new())
    };
    let bad_accept = format!("{HEAD}Sec-WebSocket-Accept: x\r\n\r\n");
    assert!(matches!(feed(&bad_accept), Err(WsError::Handshake(_))));
    let forbidden = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    assert!(matches!(feed(forbidden), Err(WsError::Handshake(_))));
    // The line protocol's welcome is no HTTP: refused at once.
    assert!(matches!(feed("* welcome"), Err(WsError::Handshake(_))));
    // Half a head waits for the rest.
    assert_eq!(feed("HTTP/1.1 101 Swi"), Ok(false));
}

#[test]
fn lines_become_masked_text_frames() {
    let (mut ws, _) = upgraded(WsSub::Line);
    let mut out = Vec::new();
    ws.text(b"hello", &mut out);
    assert_eq!(out[1], 0x80 | 5);
    assert_eq!(unmask(&out), (0x81, b"hello".to_vec()));
    let long = vec![b'x'; 300];
    let mut out2 = Vec::new();
    ws.text(&long, &mut out2);
    assert_eq!(unmask(&out2), (0x81, long));
    // Two frames do not share a masking key.
    assert_ne!(out[2..6], out2[4..8]);
}

#[test]
fn server_frames_become_lines_across_any_split() {
    let mut wire = server_frame(0x81, b"* welcome guest-1");
    wire.extend(server_frame(0x01, b"[a] frag")); // first fragment
    wire.extend(server_frame(0x89, b"p1")); // a ping between fragments
    wire.extend(server_frame(0x80, b"ment")); // last fragment
    wire.extend(server_frame(0x81, &[b'y'; 200])); // 16-bit length
    wire.extend(server_frame(0x81, b""));
    let want_lines = format!("* welcome guest-1\n[a] fragment\n{}\n\n", "y".repeat(200));
    // Every split point, and byte by byte.
    for cut in 0..wire.len() {
        let (mut ws, _) = upgraded(WsSub::Line);
        let (mut lines, mut reply) = (Vec::new(), Vec::new());
        for part in [&wire[..cut], &wire[cut..]] {
            assert_eq!(ws.feed(part, &mut lines, &mut reply), Ok(false));
        }
        assert_eq!(String::from_utf8_lossy(&lines), want_lines, "cut at {cut}");
        assert_eq!(
            unmask(&reply),
            (0x8A, b"p1".to_vec()),
            "a pong, cut at {cut}"
        );
    }
    let (mut ws, _) = upgraded(WsSub::Line);
    let (mut lines, mut reply) = (Vec::new(), Vec::new());
    for b in &wire {
        ws.feed(std::slice::from_ref(b), &mut lines, &mut reply)
            .unwrap();
    }
    assert_eq!(String::from_utf8_lossy(&lines), want_lines);
}

#[test]
fn frames_in_the_same_read_as_the_101_are_kept() {
    let mut req = Vec::new();
    let mut ws = Ws::start("h", WsSub::Line, &mut req);
    let req = String::from_utf8(req).unwrap();
    let key = req
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap();
    let mut resp = format!(
        "{HEAD}Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: shardchat.line\r\n\r\n",
        accept_key(key)
    )
    .into_bytes();
    resp.extend(server_frame(0x81, b"* welcome x"));
    let (mut lines, mut reply) = (Vec::new(), Vec::new());
    let (a, b) = resp.split_at(20);
    assert_eq!(ws.feed(a, &mut lines, &mut reply), Ok(false));
    assert_eq!(ws.feed(b, &mut lines, &mut reply), Ok(true));
    assert_eq!(lines, b"* welcome x\n");
}

#[test]
fn bad_server_frames_end_the_connection() {
    let bad = |frame: Vec<u8>| {
        let (mut ws, _) = upgraded(WsSub::Line);
        ws.feed(&frame, &mut Vec::new(), &mut Vec::new())
    };
    assert_eq!(bad(server_frame(0x88, &[3, 232])), Err(WsError::Closed));
    let mut masked = server_frame(0x81, b"x");
    masked[1] |= 0x80;
    assert!(matches!(bad(masked), Err(WsError::Protocol(_))));
    assert!(matches!(
        bad(server_frame(0x82, b"bin")),
        Err(WsError::Protocol(_))
    ));
    assert!(matches!(
        bad(server_frame(0xC1, b"rsv")),
        Err(WsError::Protocol(_))
    ));
    assert!(matches!(
        bad(server_frame(0x09, b"unfinished ping")),
        Err(WsError::Protocol(_))
    ));
    assert!(matches!(
        bad(server_frame(0x89, &[0; 126])),
        Err(WsError::Protocol(_))
    ));
}
