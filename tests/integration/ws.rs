//! The web listener over real sockets: the page and HTTP errors, the
//! WebSocket handshake good and bad, each subprotocol, every frame rule,
//! web clients in rooms with line and IRC clients, and TLS.

use std::io::Write;

use crate::irc::Irc;
use crate::util::{tls_server, valid_cert, Backend};
use crate::ws_util::{addr_after, exchange, header, tcp, upgrade_request, web_server, Ws};

const PAGE: &[u8] = include_bytes!("../../src/web/page/index.html");

fn the_page_and_http_errors(b: Backend) {
    let (_s, http, _) = web_server(b, &[]);
    let (status, headers, body) = exchange(tcp(http), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    let csp = header(&headers, "content-security-policy").expect("a CSP");
    assert!(csp.contains("connect-src 'self' ws: wss:"), "{csp}");
    assert!(csp.contains("script-src 'unsafe-inline'"), "{csp}");
    assert_eq!(body, PAGE, "the page's bytes");
    let len = PAGE.len().to_string();
    assert_eq!(header(&headers, "content-length"), Some(len.as_str()));

    let (status, headers, body) = exchange(tcp(http), "HEAD /?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(header(&headers, "content-length"), Some(len.as_str()));
    assert!(body.is_empty(), "HEAD has no body");

    let (status, headers, _) = exchange(tcp(http), "POST / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(header(&headers, "allow"), Some("GET, HEAD"));
    let (status, _, _) = exchange(tcp(http), "GET /etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, _, _) = exchange(tcp(http), "GET / HTTP/1.1\r\nBad Header\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
}

fn bad_handshakes_are_refused(b: Backend) {
    let (_s, http, _) = web_server(b, &[]);
    let no_key = "GET / HTTP/1.1\r\nHost: chat.test\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_eq!(exchange(tcp(http), no_key).0, "HTTP/1.1 400 Bad Request");
    let bad_key = no_key.replace("\r\n\r\n", "\r\nSec-WebSocket-Key: c2hvcnQ=\r\n\r\n");
    assert_eq!(exchange(tcp(http), &bad_key).0, "HTTP/1.1 400 Bad Request");
    let old = upgrade_request("/", "").replace("Version: 13", "Version: 8");
    let (status, headers, _) = exchange(tcp(http), &old);
    assert_eq!(status, "HTTP/1.1 426 Upgrade Required");
    assert_eq!(header(&headers, "sec-websocket-version"), Some("13"));
    let elsewhere = upgrade_request("/", "Origin: https://evil.test\r\n");
    assert_eq!(exchange(tcp(http), &elsewhere).0, "HTTP/1.1 403 Forbidden");
    let other_scheme = upgrade_request("/", "Origin: https://chat.test\r\n");
    assert_eq!(
        exchange(tcp(http), &other_scheme).0,
        "HTTP/1.1 403 Forbidden"
    );
    let path = upgrade_request("/chat", "");
    assert_eq!(exchange(tcp(http), &path).0, "HTTP/1.1 404 Not Found");
    let post = upgrade_request("/ws", "").replacen("GET", "POST", 1);
    assert_eq!(
        exchange(tcp(http), &post).0,
        "HTTP/1.1 405 Method Not Allowed"
    );
    // The page's own origin, and no Origin at all (not a browser), may.
    let mut own = tcp(http);
    own.write_all(upgrade_request("/ws", "Origin: http://chat.test\r\n").as_bytes())
        .expect("send");
    let mut head = [0u8; 34];
    std::io::Read::read_exact(&mut own, &mut head).expect("a response");
    assert!(head.starts_with(b"HTTP/1.1 101 Switching Protocols"));
}

fn origins_can_be_configured(b: Backend) {
    let (_s, http, _) = web_server(b, &["--http-origin", "https://app.test"]);
    let allowed = upgrade_request("/", "Origin: https://app.test\r\n");
    let mut s = tcp(http);
    s.write_all(allowed.as_bytes()).expect("send");
    let mut head = [0u8; 12];
    std::io::Read::read_exact(&mut s, &mut head).expect("a response");
    assert_eq!(&head, b"HTTP/1.1 101");
    let own = upgrade_request("/", "Origin: http://chat.test\r\n");
    assert_eq!(exchange(tcp(http), &own).0, "HTTP/1.1 403 Forbidden");
}

fn each_subprotocol_speaks_its_protocol(b: Backend) {
    let (s, http, irc) = web_server(b, &[]);
    let (mut line, line_nick) = s.connect();
    let mut none = Ws::connect(http, &[]);
    assert_eq!(none.protocol, None);
    assert!(none.line().starts_with("* welcome guest"));
    assert!(none.line().starts_with("* you joined #lobby ("));
    let mut named = Ws::connect(http, &["x.unknown", "shardchat.line"]);
    assert_eq!(named.protocol.as_deref(), Some("shardchat.line"));
    named.until("* you joined #lobby");
    named.send("/nick webby");
    named.until("* you are now webby");
    let mut text = Ws::connect(http, &["text.ircv3.net", "binary.ircv3.net"]);
    assert_eq!(text.protocol.as_deref(), Some("text.ircv3.net"));
    text.register_irc("texty", 0x81);
    let mut bin = Ws::connect(http, &["binary.ircv3.net", "text.ircv3.net"]);
    assert_eq!(bin.protocol.as_deref(), Some("binary.ircv3.net"));
    bin.register_irc("binny", 0x82);
    let mut tcp_irc = Irc::register(irc, "tcpirc");
    for c in [&mut text, &mut bin] {
        c.frame(0x81, b"JOIN #lobby", true);
    }
    text.until(":irc.test 366 ");
    bin.frame(0x81, b"", true); // an empty message asks nothing
    tcp_irc.send("JOIN #lobby");
    tcp_irc.until(":irc.test 366 ");

    // Everyone sees a web line client's line in their own form.
    named.send("hello from the web");
    let want = ":webby!webby@user/webby PRIVMSG #lobby :hello from the web";
    assert_eq!(text.until(":webby!").last().map(String::as_str), Some(want));
    assert_eq!(tcp_irc.containing("hello from the web"), want);
    line.read_until("[webby] hello from the web");
    // A line client's and an IRC client's lines reach web clients framed.
    line.send("from nc");
    named.until(&format!("[{line_nick}] from nc"));
    tcp_irc.send("PRIVMSG #lobby :from irc");
    named.until("[tcpirc] from irc");
    loop {
        let l = bin.line_of(0x82);
        if l == ":tcpirc!tcpirc@user/tcpirc PRIVMSG #lobby :from irc" {
            break;
        }
    }
    // A binary message on a text subprotocol is a line all the same.
    text.frame(0x82, b"PRIVMSG #lobby :binary in", true);
    assert_eq!(
        tcp_irc.containing("binary in"),
        ":texty!texty@user/texty PRIVMSG #lobby :binary in"
    );
    // Leaving: the last lines, then a normal close.
    named.send("/quit bye");
    named.until("* bye");
    named.expect_close(1000);
    text.send("QUIT :later");
    text.until("ERROR ");
    text.expect_close(1000);
}

fn frame_rules_close_with_their_codes(b: Backend) {
    let (_s, http, _) = web_server(b, &["--max-line", "64"]);
    let open = || {
        let mut ws = Ws::connect(http, &["shardchat.line"]);
        ws.until("* you joined #lobby");
        ws
    };
    let mut unmasked = open();
    unmasked.frame(0x81, b"hi", false);
    unmasked.expect_close(1002);
    let mut big = open();
    big.send(&"x".repeat(65));
    big.expect_close(1009);
    let mut bad_utf8 = open();
    bad_utf8.frame(0x81, b"\xff\xfe", true);
    bad_utf8.expect_close(1007);
    let mut reserved = open();
    reserved.frame(0x81 | 0x40, b"hi", true);
    reserved.expect_close(1002);
    let mut opcode = open();
    opcode.frame(0x83, b"hi", true);
    opcode.expect_close(1002);
    let mut fragments = open();
    fragments.frame(0x01, &[b'a'; 40], true);
    fragments.frame(0x80, &[b'b'; 25], true);
    fragments.expect_close(1009);

    // Fragments within the limit, with a ping between them.
    let mut ws = open();
    ws.frame(0x01, b"/nick frag", true);
    ws.frame(0x89, b"are you there", true);
    ws.frame(0x00, b"men", true);
    ws.frame(0x80, b"ted", true);
    let (b0, payload) = ws.recv();
    assert_eq!(
        (b0, payload.as_slice()),
        (0x8a, &b"are you there"[..]),
        "pong"
    );
    ws.until("* you are now fragmented");
    // Close: echoed, then the socket closes.
    ws.frame(0x88, &1000u16.to_be_bytes(), true);
    ws.expect_close(1000);
}

fn slow_or_huge_requests_are_closed(b: Backend) {
    let (_s, http, _) = web_server(b, &["--handshake-timeout", "1s"]);
    let (status, _, _) = exchange(tcp(http), "GET / HTTP/1.1\r\nHost: x\r\n");
    assert_eq!(status, "HTTP/1.1 408 Request Timeout");
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(9000)
    );
    let (status, _, _) = exchange(tcp(http), &huge);
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
    // The server is fine.
    let mut ws = Ws::connect(http, &[]);
    assert!(ws.line().starts_with("* welcome "));
}

fn websocket_over_tls(b: Backend) {
    let certs = valid_cert("ws");
    let s = tls_server(b, &certs, &["--https-port", "0"]);
    let https = addr_after(&s, "[CHAT SERVER] HTTPS on ");
    let (mut line, line_nick) = s.connect();
    let mut ws = Ws::over(Box::new(crate::ws_util::tls_stream(https, &certs)), &[]);
    ws.until("* you joined #lobby");
    ws.send("/nick secure");
    ws.until("* you are now secure");
    ws.send("over wss");
    line.read_until("[secure] over wss");
    line.send("back");
    ws.until(&format!("[{line_nick}] back"));
    let page = exchange(
        crate::ws_util::tls_stream(https, &certs),
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(page.0, "HTTP/1.1 200 OK");
    assert_eq!(page.2, PAGE);
}

fn forwarded_for_counts_only_from_trusted_proxies(b: Backend) {
    let xff = "X-Forwarded-For: 198.51.100.7, 203.0.113.9\r\n";
    let (s, http, _) = web_server(b, &["-v", "--trusted-proxy", "127.0.0.0/8"]);
    let mut ws = ws_with(http, xff);
    assert!(ws.line().starts_with("* welcome "));
    s.wait_log("[Server] WebSocket (Line) from 203.0.113.9");
    let (s, http, _) = web_server(b, &["-v", "--trusted-proxy", "10.0.0.0/8"]);
    let mut ws = ws_with(http, xff);
    assert!(ws.line().starts_with("* welcome "));
    s.wait_log("[Server] WebSocket (Line) from 127.0.0.1");
}

/// A WebSocket opened with `extra` header lines in its upgrade.
fn ws_with(http: std::net::SocketAddr, extra: &str) -> Ws {
    let mut sock = tcp(http);
    sock.write_all(upgrade_request("/", extra).as_bytes())
        .expect("send");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        std::io::Read::read_exact(&mut sock, &mut byte).expect("a response");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "));
    Ws::raw(Box::new(sock))
}

fn floods_are_handled_as_over_tcp(b: Backend) {
    let (_s, http, _) = web_server(b, &["--rate-limit", "5", "--rate-burst", "5"]);
    // Line protocol: lines over the limit are dropped with a warning.
    let mut line = Ws::connect(http, &["shardchat.line"]);
    line.until("* you joined #lobby");
    line.send("/nick flooder");
    line.until("* you are now flooder");
    for i in 0..20 {
        line.send(&format!("flood {i}"));
    }
    line.until("! slow down");
    // IRC over WebSocket: fake lag, every line answered in order.
    let mut ircws = Ws::connect(http, &["text.ircv3.net"]);
    ircws.register_irc("lagged", 0x81);
    for i in 0..12 {
        ircws.send(&format!("PING :n{i}"));
    }
    for i in 0..12 {
        ircws.until(&format!(":irc.test PONG irc.test :n{i}"));
    }
}

fn a_websocket_that_never_reads_is_a_slow_consumer(b: Backend) {
    let args = [
        "--max-outbuf",
        "256KiB",
        "--rate-limit",
        "0",
        "--threads",
        "2",
    ];
    let (s, http, _) = web_server(b, &args);
    let mut silent = Ws::connect(http, &["shardchat.line"]);
    silent.until("* you joined #lobby");
    silent.send("/nick silent");
    silent.until("* you are now silent");
    let mut sender = s.connect_as("sender");
    let fill = "f".repeat(4000);
    for batch in (0..6000).collect::<Vec<_>>().chunks(64) {
        let text: String = batch.iter().map(|i| format!("{i} {fill}\n")).collect();
        sender.send_raw(text.as_bytes());
    }
    // The sender hears no echo of its own lines: only the notice.
    sender.read_until("* silent left #lobby (slow consumer)");
}

fn shutdown_says_so_and_closes_with_going_away(b: Backend) {
    let (mut s, http, _) = web_server(b, &[]);
    let mut line = Ws::connect(http, &["shardchat.line"]);
    line.until("* you joined #lobby");
    let mut irc = Ws::connect(http, &["text.ircv3.net"]);
    irc.register_irc("ircweb", 0x81);
    s.signal("TERM");
    line.until("* server shutting down");
    line.expect_close(1001);
    loop {
        let (b0, payload) = irc.recv();
        if b0 == 0x88 {
            assert_eq!(payload.get(..2), Some(&1001u16.to_be_bytes()[..]));
            break;
        }
    }
    assert!(s.wait_exit().success());
}

fn frames_right_behind_the_request_are_read(b: Backend) {
    let (_s, http, _) = web_server(b, &[]);
    let mut sock = tcp(http);
    // The upgrade and a masked "/nick eager" message in one write.
    let mut bytes = upgrade_request("/", "").into_bytes();
    let mask = [1u8, 2, 3, 4];
    bytes.extend_from_slice(&[0x81, 0x80 | 11]);
    bytes.extend_from_slice(&mask);
    bytes.extend(
        b"/nick eager"
            .iter()
            .enumerate()
            .map(|(i, c)| c ^ mask[i % 4]),
    );
    sock.write_all(&bytes).expect("send");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        std::io::Read::read_exact(&mut sock, &mut byte).expect("a response");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "));
    Ws::raw(Box::new(sock)).until("* you are now eager");
}

both_backends!(
    shutdown_says_so_and_closes_with_going_away,
    frames_right_behind_the_request_are_read,
    forwarded_for_counts_only_from_trusted_proxies,
    floods_are_handled_as_over_tcp,
    a_websocket_that_never_reads_is_a_slow_consumer,
    the_page_and_http_errors,
    bad_handshakes_are_refused,
    origins_can_be_configured,
    each_subprotocol_speaks_its_protocol,
    frame_rules_close_with_their_codes,
    slow_or_huge_requests_are_closed,
    websocket_over_tls,
);
