//! Unit tests of the WebSocket frame codec.

use super::*;

/// A masked client frame.
fn client(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// What feeding `data` in pieces of `step` bytes yields.
fn decode(data: &[u8], step: usize, max: usize) -> Result<Vec<String>, u16> {
    let mut d = Decoder::default();
    let mut got = Vec::new();
    for piece in data.chunks(step) {
        d.feed(piece, max, |f| {
            got.push(match f {
                Frame::Message { text, payload } => {
                    format!(
                        "{}:{}",
                        if text { "t" } else { "b" },
                        String::from_utf8_lossy(payload)
                    )
                }
                Frame::Ping(p) => format!("ping:{}", String::from_utf8_lossy(p)),
                Frame::Close(c) => format!("close:{c:?}"),
            })
        })?;
    }
    assert_eq!(d.buffered(), 0, "nothing held after whole frames");
    Ok(got)
}

#[test]
fn frames_decode_whole_or_byte_by_byte() {
    let mut data = client(true, TEXT, b"hello");
    data.extend(client(false, TEXT, b"frag"));
    data.extend(client(true, PING, b"p"));
    data.extend(client(false, CONTINUATION, b"men"));
    data.extend(client(true, CONTINUATION, b"ted"));
    data.extend(client(true, PONG, b""));
    data.extend(client(true, BINARY, &[b'x'; 300]));
    data.extend(client(true, CLOSE, &[0x03, 0xe8, b'b', b'y', b'e']));
    data.extend(client(true, TEXT, b"after close: ignored"));
    let want = vec![
        "t:hello".to_string(),
        "ping:p".into(),
        "t:fragmented".into(),
        format!("b:{}", "x".repeat(300)),
        "close:Some(1000)".into(),
    ];
    for step in [1, 2, 3, 7, data.len()] {
        assert_eq!(decode(&data, step, 512), Ok(want.clone()), "step {step}");
    }
}

#[test]
fn bad_frames_get_their_close_codes() {
    let unmasked = {
        let mut f = client(true, TEXT, b"hi");
        f[1] &= 0x7f;
        f
    };
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (unmasked, code::PROTOCOL_ERROR),
        (client(true, 0x3, b""), code::PROTOCOL_ERROR),
        (client(true, 0xB, b""), code::PROTOCOL_ERROR),
        (client(true, TEXT | 0x40, b"x"), code::PROTOCOL_ERROR),
        (client(true, CONTINUATION, b"x"), code::PROTOCOL_ERROR),
        (client(false, PING, b"x"), code::PROTOCOL_ERROR),
        (client(true, PING, &[0; 126]), code::PROTOCOL_ERROR),
        (client(true, CLOSE, &[3]), code::PROTOCOL_ERROR),
        (client(true, CLOSE, &[0x03, 0xed]), code::PROTOCOL_ERROR),
        (client(true, CLOSE, &[0x03, 0xe8, 0xff]), code::INVALID_DATA),
        (client(true, TEXT, b"\xff\xfe"), code::INVALID_DATA),
        (client(true, TEXT, &[b'a'; 513]), code::TOO_BIG),
        (
            [client(false, TEXT, &[b'a'; 300]), client(true, TEXT, b"b")].concat(),
            code::PROTOCOL_ERROR,
        ),
        (
            [
                client(false, TEXT, &[b'a'; 300]),
                client(true, CONTINUATION, &[b'a'; 300]),
            ]
            .concat(),
            code::TOO_BIG,
        ),
    ];
    for (data, want) in cases {
        assert_eq!(decode(&data, data.len(), 512), Err(want), "{data:x?}");
    }
}

#[test]
fn an_oversized_header_is_refused_before_its_payload_arrives() {
    let mut d = Decoder::default();
    let header = [0x81, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4];
    assert_eq!(d.feed(&header, 4096, |_| {}), Err(code::TOO_BIG));
    let huge = [0x81, 0x80 | 127, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    assert!(Decoder::default().feed(&huge, 4096, |_| {}).is_err());
    // A continuation announcing nearly 2^64 bytes after a first fragment.
    let mut d = Decoder::default();
    d.feed(&client(false, TEXT, b"a"), 4096, |_| {})
        .expect("a fragment");
    let endless = [
        0x80,
        0x80 | 127,
        0x7f,
        0xff,
        0xff,
        0xff,
        0xff,
        0xff,
        0xff,
        0xff,
        1,
        2,
        3,
        4,
    ];
    assert_eq!(d.feed(&endless, 4096, |_| {}), Err(code::TOO_BIG));
}

#[test]
fn lines_become_one_server_frame_each() {
    let mut out = Vec::new();
    frame_lines(b"one\r\ntwo\n", TEXT, &mut out);
    assert_eq!(out, b"\x81\x03one\x81\x03two");
    let mut out = Vec::new();
    frame_lines(&[b'z'; 200], BINARY, &mut out);
    assert_eq!(&out[..4], &[0x82, 126, 0, 200]);
    let mut out = Vec::new();
    header_to(TEXT, 70_000, &mut out);
    assert_eq!(out, [0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
}
