//! The WebSocket layer's handshake, encoder and decoder, byte by byte.

use super::*;

#[test]
fn accept_key_is_rfc_6455s_example() {
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}
