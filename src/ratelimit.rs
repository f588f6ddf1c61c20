//! Per-client flood control: a token bucket refilled from the shard's
//! per-pass clock, with at most one warning per second.

/// Milliseconds on the owning shard's clock.
pub type Millis = u64;

/// Token bucket state for one client (16 bytes).
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f32,
    last_refill: u32,
    /// When the client was last told to slow down (never: `None`).
    last_warning: Option<u32>,
}

/// The server-wide policy every bucket follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Lines per second; 0 disables flood control.
    pub rate: u32,
    pub burst: u32,
}

/// What to do with one line.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Drop it and tell the client to slow down.
    DropAndWarn,
    /// Drop it silently (warned less than a second ago).
    Drop,
}

impl Bucket {
    pub fn new(policy: Policy, now: Millis) -> Bucket {
        Bucket {
            tokens: policy.burst as f32,
            last_refill: now as u32,
            last_warning: None,
        }
    }

    /// Milliseconds from `now` until a token is there (0: one is there
    /// now). Takes nothing.
    pub fn wait_ms(&self, policy: Policy, now: Millis) -> Millis {
        if policy.rate == 0 {
            return 0;
        }
        let elapsed = (now as u32).wrapping_sub(self.last_refill);
        let tokens = self.tokens + elapsed as f32 * policy.rate as f32 / 1000.0;
        if tokens >= 1.0 {
            return 0;
        }
        ((1.0 - tokens) * 1000.0 / policy.rate as f32)
            .ceil()
            .max(1.0) as Millis
    }

    /// Takes one token for a line at time `now`.
    pub fn take(&mut self, policy: Policy, now: Millis) -> Verdict {
        if policy.rate == 0 {
            return Verdict::Allow;
        }
        let now32 = now as u32;
        let elapsed = now32.wrapping_sub(self.last_refill);
        if elapsed > 0 {
            let refill = elapsed as f32 * policy.rate as f32 / 1000.0;
            self.tokens = (self.tokens + refill).min(policy.burst as f32);
            self.last_refill = now32;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Allow;
        }
        if self
            .last_warning
            .is_none_or(|t| now32.wrapping_sub(t) >= 1000)
        {
            self.last_warning = Some(now32);
            Verdict::DropAndWarn
        } else {
            Verdict::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate_then_one_warning_per_second() {
        let p = Policy {
            rate: 10,
            burst: 20,
        };
        let mut b = Bucket::new(p, 1000);
        for _ in 0..20 {
            assert_eq!(b.take(p, 1000), Verdict::Allow);
        }
        assert_eq!(b.take(p, 1000), Verdict::DropAndWarn);
        assert_eq!(b.take(p, 1500), Verdict::Allow, "half a second refills 5");
        for _ in 0..4 {
            assert_eq!(b.take(p, 1500), Verdict::Allow);
        }
        assert_eq!(b.take(p, 1500), Verdict::Drop, "warned under a second ago");
        assert_eq!(b.take(p, 2000), Verdict::Allow);
        for _ in 0..4 {
            b.take(p, 2000);
        }
        assert_eq!(b.take(p, 2000), Verdict::DropAndWarn);
    }

    #[test]
    fn a_flood_at_time_zero_is_warned_once() {
        let p = Policy { rate: 10, burst: 2 };
        let mut b = Bucket::new(p, 0);
        assert_eq!(b.take(p, 0), Verdict::Allow);
        assert_eq!(b.take(p, 0), Verdict::Allow);
        assert_eq!(b.take(p, 0), Verdict::DropAndWarn);
        for _ in 0..40 {
            assert_eq!(b.take(p, 0), Verdict::Drop);
        }
        assert_eq!(b.take(p, 1000), Verdict::Allow);
    }

    #[test]
    fn wait_says_when_the_next_token_comes() {
        let p = Policy { rate: 4, burst: 1 };
        let mut b = Bucket::new(p, 0);
        assert_eq!(b.wait_ms(p, 0), 0);
        assert_eq!(b.take(p, 0), Verdict::Allow);
        assert_eq!(b.wait_ms(p, 0), 250);
        assert_eq!(b.wait_ms(p, 100), 150);
        assert_eq!(b.wait_ms(p, 250), 0);
        assert_eq!(b.take(p, 250), Verdict::Allow);
        assert_eq!(b.wait_ms(Policy { rate: 0, burst: 0 }, 250), 0);
    }

    #[test]
    fn rate_zero_disables() {
        let p = Policy { rate: 0, burst: 0 };
        let mut b = Bucket::new(p, 0);
        for _ in 0..10_000 {
            assert_eq!(b.take(p, 0), Verdict::Allow);
        }
    }
}
