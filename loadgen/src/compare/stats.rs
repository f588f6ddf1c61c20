//! What the comparison keeps of each run, and how the repeats of one
//! scenario against one target fold into a median and a spread.

use hdrhistogram::Histogram;

use crate::report::Summary;

/// The figures of one run that the report shows.
#[derive(Clone, Debug, Default)]
pub struct RunFigures {
    pub deliveries_per_s: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p99_9_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub expected: u64,
    pub lost: u64,
    pub cpu_s_per_million: Option<f64>,
    pub bytes_per_connection: Option<f64>,
    pub host_busy: Option<f64>,
    pub loadgen_saturated: bool,
    /// Why the run was not clean (the loadgen's verdict).
    pub problems: Vec<String>,
}

impl RunFigures {
    pub fn of(s: &Summary) -> RunFigures {
        let lat = s.latency_ms.as_ref();
        let server = s.server.as_ref();
        RunFigures {
            deliveries_per_s: s.throughput.as_ref().map(|t| t.deliveries_per_s),
            p50_ms: lat.map(|l| l.p50),
            p99_ms: lat.map(|l| l.p99),
            p99_9_ms: lat.map(|l| l.p99_9),
            max_ms: lat.map(|l| l.max),
            expected: s.delivery.as_ref().map_or(0, |d| d.expected),
            lost: s.delivery.as_ref().map_or(0, |d| d.lost),
            cpu_s_per_million: server.and_then(|v| v.cpu_s_per_million_deliveries),
            bytes_per_connection: server.and_then(|v| v.bytes_per_connection),
            host_busy: s.host.cpu_busy_fraction,
            loadgen_saturated: s.loadgen.saturated,
            problems: s.verdict.problems.clone(),
        }
    }
}

/// Every run of one scenario against one target.
#[derive(Default)]
pub struct Cell {
    pub runs: Vec<RunFigures>,
    /// Runs that could not happen (server did not start, loadgen error).
    pub errors: Vec<String>,
    /// All runs' latencies merged (µs), for the plot.
    pub histogram: Option<Histogram<u64>>,
}

impl Cell {
    /// Median and spread of one figure over the runs that have it.
    pub fn stat(&self, f: impl Fn(&RunFigures) -> Option<f64>) -> Option<Stat> {
        Stat::of(self.runs.iter().filter_map(f).collect())
    }

    pub fn lost(&self) -> u64 {
        self.runs.iter().map(|r| r.lost).sum()
    }

    pub fn expected(&self) -> u64 {
        self.runs.iter().map(|r| r.expected).sum()
    }

    /// Every run happened and was clean.
    pub fn clean(&self) -> bool {
        self.errors.is_empty() && self.runs.iter().all(|r| r.problems.is_empty())
    }
}

/// The median of some runs' values and how far apart they were.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Stat {
    pub fn of(mut values: Vec<f64>) -> Option<Stat> {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Some(Stat {
            median,
            min: values[0],
            max: values[n - 1],
            n,
        })
    }

    /// Half the range, as a fraction of the median: the ± of the report.
    pub fn spread(&self) -> Option<f64> {
        (self.n > 1 && self.median != 0.0).then(|| (self.max - self.min) / 2.0 / self.median.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        assert_eq!(Stat::of(vec![]), None);
        let one = Stat::of(vec![5.0]).unwrap();
        assert_eq!((one.median, one.spread()), (5.0, None));
        let two = Stat::of(vec![90.0, 110.0]).unwrap();
        assert_eq!(two.median, 100.0);
        assert_eq!(two.spread(), Some(0.1));
        let three = Stat::of(vec![3.0, 1.0, 2.0, f64::NAN]).unwrap();
        assert_eq!(
            (three.median, three.min, three.max, three.n),
            (2.0, 1.0, 3.0, 3)
        );
    }
}
