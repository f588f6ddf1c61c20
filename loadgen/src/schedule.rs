//! The open-loop send schedule: when each sender's k-th line is due.
//!
//! Lines are spread evenly over time and interleaved over the senders, so
//! the server sees a steady total rate rather than all senders in a burst.
//! Latency is measured from these due times, so a late send (a busy loadgen
//! thread, a full socket) counts against the measurement instead of quietly
//! lowering the load (coordinated omission).

/// The schedule shared by every sender of a run.
#[derive(Clone, Copy, Debug)]
pub struct OpenSchedule {
    pub start_ns: u64,
    pub senders: u32,
    /// Total lines per second over all senders.
    pub rate: f64,
}

impl OpenSchedule {
    /// Sender `index`'s line `seq` is due (seq * senders + index) / rate
    /// seconds after the start.
    pub fn due_ns(&self, index: u32, seq: u64) -> u64 {
        let slot = seq as f64 * f64::from(self.senders) + f64::from(index);
        self.start_ns + (slot * 1e9 / self.rate) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_before(s: &OpenSchedule, end_ns: u64) -> u64 {
        (0..s.senders)
            .map(|i| (0..).take_while(|&k| s.due_ns(i, k) < end_ns).count() as u64)
            .sum()
    }

    #[test]
    fn total_rate_is_kept() {
        let s = OpenSchedule {
            start_ns: 5_000,
            senders: 10,
            rate: 500.0,
        };
        assert_eq!(count_before(&s, 5_000 + 2_000_000_000), 1000);
        let s = OpenSchedule {
            rate: 300.0,
            senders: 3,
            ..s
        };
        assert_eq!(count_before(&s, 5_000 + 1_000_000_000), 300);
    }

    #[test]
    fn senders_interleave_evenly() {
        let s = OpenSchedule {
            start_ns: 0,
            senders: 4,
            rate: 1000.0,
        };
        let mut all: Vec<u64> = (0..4)
            .flat_map(|i| (0..5).map(move |k| s.due_ns(i, k)))
            .collect();
        all.sort_unstable();
        let gaps: Vec<u64> = all.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|&g| g == 1_000_000), "{gaps:?}");
    }
}
