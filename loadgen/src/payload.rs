//! The payload codec: what a sender puts in a chat line so that every
//! receiver can tell who sent it, in which order, and when it was meant to go.
//!
//! Layout (`--size` bytes in all, printable ASCII only because the server
//! strips control characters):
//!
//! ```text
//! LG <sender:6 hex> <seq:10 hex> <intended send time:12 hex, ns> .....
//! ```
//!
//! written without the spaces, then padded with `.` to the requested size.
//! Fixed-width lowercase hex keeps encoding allocation-free and decoding a
//! few comparisons; the padding is checked so that a truncated or spliced
//! line is caught rather than counted.

use std::fmt;

const MAGIC: &[u8; 2] = b"LG";
const SENDER_DIGITS: usize = 6;
const SEQ_DIGITS: usize = 10;
const TIME_DIGITS: usize = 12;
const PAD: u8 = b'.';

/// The smallest `--size` that holds the header.
pub const MIN_SIZE: usize = MAGIC.len() + SENDER_DIGITS + SEQ_DIGITS + TIME_DIGITS;

/// The largest sender id the header can carry.
pub const MAX_SENDER: u64 = (1 << (4 * SENDER_DIGITS)) - 1;
const MAX_SEQ: u64 = (1 << (4 * SEQ_DIGITS)) - 1;
const MAX_TIME: u64 = (1 << (4 * TIME_DIGITS)) - 1;

/// What a payload says about its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Index of the sending client among the senders.
    pub sender: u32,
    /// Per-sender sequence number, from 0.
    pub seq: u64,
    /// Intended send time in nanoseconds since the run's shared epoch; 48
    /// bits hold 78 hours.
    pub intended_ns: u64,
}

/// Why a line is not one of our payloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// It does not start with the magic: someone else's chat line.
    Foreign,
    /// It has the magic but is shorter than the header.
    Truncated,
    /// A header field is not lowercase hex.
    BadField,
    /// The padding has a wrong byte, so the line was altered on the way.
    BadPadding,
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PayloadError::Foreign => "not a loadgen payload",
            PayloadError::Truncated => "payload shorter than its header",
            PayloadError::BadField => "payload header is not hex",
            PayloadError::BadPadding => "payload padding altered",
        })
    }
}

impl std::error::Error for PayloadError {}

/// Appends the payload for `stamp`, exactly `size` bytes and no newline.
///
/// `size` must be at least [`MIN_SIZE`] (checked when parsing flags); the
/// fields are masked to their widths so a bug cannot break the framing.
pub fn encode_into(out: &mut Vec<u8>, stamp: Stamp, size: usize) {
    debug_assert!(size >= MIN_SIZE);
    out.extend_from_slice(MAGIC);
    push_hex(out, u64::from(stamp.sender) & MAX_SENDER, SENDER_DIGITS);
    push_hex(out, stamp.seq & MAX_SEQ, SEQ_DIGITS);
    push_hex(out, stamp.intended_ns & MAX_TIME, TIME_DIGITS);
    out.resize(out.len() + size.saturating_sub(MIN_SIZE), PAD);
}

/// Reads a payload back.
pub fn decode(payload: &[u8]) -> Result<Stamp, PayloadError> {
    if !payload.starts_with(MAGIC) {
        return Err(PayloadError::Foreign);
    }
    if payload.len() < MIN_SIZE {
        return Err(PayloadError::Truncated);
    }
    let mut at = MAGIC.len();
    let mut field = |digits: usize| {
        let v = parse_hex(&payload[at..at + digits]);
        at += digits;
        v
    };
    let sender = field(SENDER_DIGITS).ok_or(PayloadError::BadField)?;
    let seq = field(SEQ_DIGITS).ok_or(PayloadError::BadField)?;
    let intended_ns = field(TIME_DIGITS).ok_or(PayloadError::BadField)?;
    if payload[MIN_SIZE..].iter().any(|&b| b != PAD) {
        return Err(PayloadError::BadPadding);
    }
    Ok(Stamp {
        sender: sender as u32,
        seq,
        intended_ns,
    })
}

fn push_hex(out: &mut Vec<u8>, value: u64, digits: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        out.push(HEX[((value >> (4 * i)) & 0xf) as usize]);
    }
}

fn parse_hex(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some(acc << 4 | u64::from(d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(stamp: Stamp, size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(&mut out, stamp, size);
        out
    }

    #[test]
    fn round_trips_at_every_size() {
        let stamp = Stamp {
            sender: 0xabcdef,
            seq: 0x12_3456_789a,
            intended_ns: 0xfedc_ba98_7654,
        };
        for size in [MIN_SIZE, MIN_SIZE + 1, 64, 4096] {
            let bytes = encoded(stamp, size);
            assert_eq!(bytes.len(), size);
            assert_eq!(decode(&bytes), Ok(stamp));
        }
    }

    #[test]
    fn appends_after_existing_bytes() {
        let mut out = b"prefix".to_vec();
        let stamp = Stamp {
            sender: 1,
            seq: 2,
            intended_ns: 3,
        };
        encode_into(&mut out, stamp, 64);
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(decode(&out[6..]), Ok(stamp));
    }

    #[test]
    fn is_printable_ascii() {
        let bytes = encoded(
            Stamp {
                sender: 7,
                seq: u64::MAX,
                intended_ns: u64::MAX,
            },
            100,
        );
        assert!(bytes.iter().all(|b| (0x21..0x7f).contains(b)), "{bytes:?}");
    }

    #[test]
    fn masks_oversized_fields() {
        let bytes = encoded(
            Stamp {
                sender: u32::MAX,
                seq: MAX_SEQ + 1,
                intended_ns: MAX_TIME + 5,
            },
            MIN_SIZE,
        );
        let back = decode(&bytes).unwrap();
        assert_eq!(back.sender as u64, MAX_SENDER);
        assert_eq!(back.seq, 0);
        assert_eq!(back.intended_ns, 4);
    }

    #[test]
    fn rejects_what_is_not_ours() {
        assert_eq!(decode(b"hello there"), Err(PayloadError::Foreign));
        assert_eq!(decode(b""), Err(PayloadError::Foreign));
        assert_eq!(decode(b"LG0001"), Err(PayloadError::Truncated));
        let good = encoded(
            Stamp {
                sender: 1,
                seq: 1,
                intended_ns: 1,
            },
            40,
        );
        let mut upper = good.clone();
        upper[3] = b'A';
        assert_eq!(decode(&upper), Err(PayloadError::BadField));
        let mut padded = good.clone();
        padded[39] = b'x';
        assert_eq!(decode(&padded), Err(PayloadError::BadPadding));
    }
}
