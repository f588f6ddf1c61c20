//! Per-sender delivery check at one receiver: which sequence numbers have
//! arrived, which arrived twice, and which arrived after a later one.
//!
//! The server delivers each sender's lines over one TCP stream per receiver,
//! so they should arrive in order: the common path is one comparison. Gaps
//! are kept as ranges so a late arrival can be told from a duplicate without
//! a bitmap per pair (a run holds receivers × senders of these).

use std::ops::Range;

/// What one arrival was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The next expected sequence number, or one past a gap.
    InOrder,
    /// A sequence number skipped earlier that has now arrived: a reorder.
    Late,
    /// Already seen.
    Duplicate,
}

/// The state of one (receiver, sender) pair.
#[derive(Clone, Debug, Default)]
pub struct OrderCheck {
    next: u64,
    missing: Vec<Range<u64>>,
    received: u64,
}

impl OrderCheck {
    pub fn arrive(&mut self, seq: u64) -> Arrival {
        if seq == self.next {
            self.next += 1;
            self.received += 1;
            return Arrival::InOrder;
        }
        if seq > self.next {
            self.missing.push(self.next..seq);
            self.next = seq + 1;
            self.received += 1;
            return Arrival::InOrder;
        }
        // Ranges are few (normally none) and sorted: a scan is enough.
        let Some(i) = self.missing.iter().position(|r| r.contains(&seq)) else {
            return Arrival::Duplicate;
        };
        let gap = self.missing[i].clone();
        match (seq == gap.start, seq + 1 == gap.end) {
            (true, true) => {
                self.missing.remove(i);
            }
            (true, false) => self.missing[i].start += 1,
            (false, true) => self.missing[i].end -= 1,
            (false, false) => {
                self.missing[i].end = seq;
                self.missing.insert(i + 1, seq + 1..gap.end);
            }
        }
        self.received += 1;
        Arrival::Late
    }

    /// Distinct sequence numbers seen.
    pub fn received(&self) -> u64 {
        self.received
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Arrival::*;

    #[test]
    fn in_order_stream() {
        let mut c = OrderCheck::default();
        for seq in 0..100 {
            assert_eq!(c.arrive(seq), InOrder);
        }
        assert_eq!(c.received(), 100);
    }

    #[test]
    fn tells_late_from_duplicate() {
        let mut c = OrderCheck::default();
        assert_eq!(c.arrive(0), InOrder);
        assert_eq!(c.arrive(5), InOrder); // 1..5 missing
        assert_eq!(c.arrive(3), Late);
        assert_eq!(c.arrive(3), Duplicate);
        assert_eq!(c.arrive(1), Late);
        assert_eq!(c.arrive(4), Late);
        assert_eq!(c.arrive(2), Late);
        assert_eq!(c.arrive(2), Duplicate);
        assert_eq!(c.arrive(5), Duplicate);
        assert_eq!(c.arrive(0), Duplicate);
        assert_eq!(c.arrive(6), InOrder);
        assert_eq!(c.received(), 7);
    }

    #[test]
    fn counts_what_never_came() {
        let mut c = OrderCheck::default();
        for seq in [0, 1, 4, 9] {
            c.arrive(seq);
        }
        // Sent 10: six lost, none reordered.
        assert_eq!(c.received(), 4);
    }
}
