//! The rules for passwords and wrong ones, shared by the shards (per
//! connection) and the account thread (per account).

use std::time::Duration;

/// The shortest password taken, in bytes.
pub(crate) const MIN_PASSWORD: usize = 8;
/// The longest password taken, in bytes.
pub(crate) const MAX_PASSWORD: usize = 256;
/// Wrong passwords an account, or a connection, takes before it waits.
pub(crate) const FREE_FAILURES: u32 = 3;
/// Wrong passwords after which a connection is closed.
pub(crate) const MAX_FAILURES: u32 = 10;
/// The longest wait after wrong passwords.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(300);

/// The wait after `fails` wrong passwords in a row: none for the first
/// [`FREE_FAILURES`], then `base` (`--auth-delay`), doubling each time,
/// up to [`MAX_WAIT`].
pub(crate) fn throttle_after(fails: u32, base: Duration) -> Duration {
    if fails < FREE_FAILURES {
        return Duration::ZERO;
    }
    let exp = (fails - FREE_FAILURES).min(16);
    (base * (1u32 << exp)).min(MAX_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_after_three_failures_and_are_capped() {
        let s = Duration::from_secs(1);
        assert_eq!(throttle_after(1, s), Duration::ZERO);
        assert_eq!(throttle_after(2, s), Duration::ZERO);
        assert_eq!(throttle_after(3, s), Duration::from_secs(1));
        assert_eq!(throttle_after(4, s), Duration::from_secs(2));
        assert_eq!(throttle_after(6, s), Duration::from_secs(8));
        assert_eq!(throttle_after(40, s), MAX_WAIT);
        let ms = Duration::from_millis(10);
        assert_eq!(throttle_after(5, ms), Duration::from_millis(40));
    }
}
