//! Latency histograms: how they are made (one per thread), merged, reduced
//! to the percentiles the summary prints, and written and read back as
//! HdrHistogram's percentile-distribution text (`.hgrm`).
//!
//! Values are recorded in microseconds; the `.hgrm` shows milliseconds, the
//! unit its usual plotters expect.

use std::fmt::Write as _;

use base64::Engine as _;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::Serialize;

/// Lowest recordable latency: 1 µs.
pub const LOW_US: u64 = 1;
/// Highest recordable latency: 60 s. Longer ones are clamped and counted.
pub const HIGH_US: u64 = 60_000_000;
/// Three significant digits: 0.1% value resolution.
pub const SIGFIG: u8 = 3;

/// Microseconds per unit of the `.hgrm` value column (milliseconds).
const HGRM_SCALE: f64 = 1000.0;
/// Rows per halving of the remaining percentile distance, as the reference
/// implementation's `outputPercentileDistribution` prints by default.
const HGRM_TICKS_PER_HALF: u32 = 5;

/// A latency histogram with the run's fixed bounds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOW_US, HIGH_US, SIGFIG)
        .expect("constant bounds are valid for HdrHistogram")
}

/// Records `us`, clamping into the bounds; returns false when it had to
/// clamp so the caller can count out-of-range values rather than lose them.
pub fn record_clamped(h: &mut Histogram<u64>, us: u64) -> bool {
    match h.record(us) {
        Ok(()) => true,
        Err(_) => {
            h.saturating_record(us.clamp(LOW_US, HIGH_US));
            false
        }
    }
}

/// Sums per-thread histograms into one.
pub fn merge<'a>(parts: impl IntoIterator<Item = &'a Histogram<u64>>) -> Histogram<u64> {
    let mut total = new_histogram();
    for part in parts {
        total
            .add(part)
            .expect("histograms with equal bounds always add");
    }
    total
}

/// The figures the summary and the JSON report, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub p99_99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            min: ms(h.min()),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p99_9: ms(h.value_at_quantile(0.999)),
            p99_99: ms(h.value_at_quantile(0.9999)),
            max: ms(h.max()),
        }
    }
}

/// The whole histogram, V2-deflate serialized and base64 encoded: the form
/// HdrHistogram's log tools read, so any percentile can be recomputed later.
pub fn to_base64(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("serializing into a Vec cannot fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The percentile-distribution text of `h`, values in milliseconds, in the
/// layout of the reference `outputPercentileDistribution`.
pub fn to_hgrm(h: &Histogram<u64>) -> String {
    let mut out = String::new();
    out.push_str("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(HGRM_TICKS_PER_HALF) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / HGRM_SCALE;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:12.3} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10}");
            }
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            h.mean() / HGRM_SCALE,
            h.stdev() / HGRM_SCALE,
            h.max() as f64 / HGRM_SCALE,
        )
    };
    let _ = writeln!(
        out,
        "#[Mean    = {mean:12.3}, StdDeviation   = {stdev:12.3}]"
    );
    let _ = writeln!(
        out,
        "#[Max     = {max:12.3}, Total count    = {:12}]",
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        sub_bucket_count(h.sigfig())
    );
    out
}

/// Sub-buckets per bucket for `sigfig` digits, as the reference computes it.
fn sub_bucket_count(sigfig: u8) -> u64 {
    let largest_single_unit = 2 * 10u64.pow(u32::from(sigfig));
    largest_single_unit.next_power_of_two()
}

/// One row of a `.hgrm`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HgrmRow {
    pub value_ms: f64,
    pub percentile: f64,
    pub total_count: u64,
}

/// Why a `.hgrm` could not be read.
#[derive(Debug, PartialEq)]
pub enum HgrmError {
    /// A data line does not have numeric value, percentile and count.
    BadRow { line: usize },
    /// Percentiles or counts go backwards, or leave [0, 1].
    NotMonotonic { line: usize },
    /// No data rows at all.
    Empty,
}

impl std::fmt::Display for HgrmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HgrmError::BadRow { line } => write!(f, "line {line}: not a percentile row"),
            HgrmError::NotMonotonic { line } => {
                write!(f, "line {line}: percentile or count goes backwards")
            }
            HgrmError::Empty => f.write_str("no percentile rows"),
        }
    }
}

impl std::error::Error for HgrmError {}

/// Reads the data rows of a `.hgrm`, skipping the header and `#` footer,
/// and checks they rise monotonically.
pub fn parse_hgrm(text: &str) -> Result<Vec<HgrmRow>, HgrmError> {
    let mut rows: Vec<HgrmRow> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("Value") {
            continue;
        }
        let mut cols = trimmed.split_whitespace();
        let mut num = || cols.next().and_then(|c| c.parse::<f64>().ok());
        let (Some(value_ms), Some(percentile), Some(count)) = (num(), num(), num()) else {
            return Err(HgrmError::BadRow { line: line_no });
        };
        let row = HgrmRow {
            value_ms,
            percentile,
            total_count: count as u64,
        };
        let falling = rows.last().is_some_and(|prev| {
            row.percentile < prev.percentile
                || row.total_count < prev.total_count
                || row.value_ms < prev.value_ms
        });
        if falling || !(0.0..=1.0).contains(&row.percentile) {
            return Err(HgrmError::NotMonotonic { line: line_no });
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(HgrmError::Empty);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = new_histogram();
        for v in values {
            assert!(record_clamped(&mut h, v));
        }
        h
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let a = filled(1..=5_000);
        let b = filled((5_001..=10_000).map(|v| v * 10));
        let c = new_histogram();
        let merged = merge([&a, &b, &c]);
        let whole = filled((1..=5_000).chain((5_001..=10_000).map(|v| v * 10)));
        assert_eq!(merged.len(), 10_000);
        assert_eq!(merged, whole);
        assert_eq!(Percentiles::of(&merged), Percentiles::of(&whole));
        assert_eq!(merged.max(), whole.max());
    }

    #[test]
    fn merge_of_nothing_is_empty() {
        let none: [&Histogram<u64>; 0] = [];
        let merged = merge(none);
        assert!(merged.is_empty());
        assert_eq!(Percentiles::of(&merged), Percentiles::default());
    }

    #[test]
    fn clamps_out_of_range_values() {
        let mut h = new_histogram();
        assert!(!record_clamped(&mut h, HIGH_US * 10));
        assert_eq!(h.len(), 1);
        assert!(h.max() >= HIGH_US && h.max() <= h.highest_equivalent(HIGH_US));
    }

    #[test]
    fn percentiles_are_in_milliseconds() {
        let h = filled(1..=1000);
        let p = Percentiles::of(&h);
        assert_eq!(p.count, 1000);
        assert!((p.p50 - 0.5).abs() < 0.002, "{p:?}");
        assert!((p.p99 - 0.99).abs() < 0.002, "{p:?}");
        assert!((p.max - 1.0).abs() < 0.002, "{p:?}");
    }

    #[test]
    fn hgrm_round_trips_through_the_parser() {
        let h = filled((1..=100_000).map(|v| v * 3));
        let text = to_hgrm(&h);
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"));
        assert!(text.contains("#[Max     = "));
        assert!(text.contains("SubBuckets     =         2048]"));
        let rows = parse_hgrm(&text).unwrap();
        let last = rows.last().unwrap();
        assert_eq!(last.percentile, 1.0);
        assert_eq!(last.total_count, 100_000);
        assert!((last.value_ms - 300.0).abs() < 0.5, "{last:?}");
        let p99 = rows.iter().find(|r| r.percentile >= 0.99).unwrap();
        assert!((p99.value_ms - 297.0).abs() < 0.5, "{p99:?}");
    }

    #[test]
    fn hgrm_parser_rejects_garbage() {
        assert_eq!(parse_hgrm(""), Err(HgrmError::Empty));
        assert_eq!(
            parse_hgrm("Value x\n\n  1.0 abc 3\n"),
            Err(HgrmError::BadRow { line: 3 })
        );
        assert_eq!(
            parse_hgrm("1.0 0.5 10 2.0\n0.5 0.6 11 2.5\n"),
            Err(HgrmError::NotMonotonic { line: 2 })
        );
    }

    #[test]
    fn serialized_histogram_is_base64_v2_deflate() {
        let h = filled([10, 20, 30]);
        let text = to_base64(&h);
        // Every V2-deflate histogram starts with the same cookie.
        assert!(text.starts_with("HISTF"), "{text}");
    }
}
