//! A fixed-bucket latency histogram with atomic counts (Prometheus' cumulative `le` buckets),
//! cheap enough to observe once per window or per committed alert, and its exposition; and an
//! exact one (HdrHistogram, 3 significant digits) for the percentiles the bench reports.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds in seconds (0.5 ms to 10 s), then `+Inf`.
pub const BOUNDS_S: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Observations of one latency.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Per bucket (the last is `+Inf`), not cumulative.
    buckets: [AtomicU64; BOUNDS_S.len() + 1],
    count: AtomicU64,
    /// Sum in microseconds.
    sum_us: AtomicU64,
}

/// A copy of a histogram: cumulative bucket counts, count and sum (seconds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistogramSnapshot {
    /// Cumulative count of observations ≤ each bound, then the total (`+Inf`).
    pub cumulative: Vec<u64>,
    /// Observations.
    pub count: u64,
    /// Sum of the observations, seconds.
    pub sum_s: f64,
}

impl Histogram {
    /// Records one observation of `seconds`.
    pub fn observe(&self, seconds: f64) {
        let s = if seconds.is_finite() {
            seconds.max(0.0)
        } else {
            0.0
        };
        let i = BOUNDS_S
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(BOUNDS_S.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add((s * 1e6).round() as u64, Ordering::Relaxed);
    }

    /// The sum of the observations so far, microseconds.
    pub fn sum_us(&self) -> u64 {
        self.sum_us.load(Ordering::Relaxed)
    }

    /// A copy.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut acc = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                acc += b.load(Ordering::Relaxed);
                acc
            })
            .collect();
        HistogramSnapshot {
            cumulative,
            count: self.count.load(Ordering::Relaxed),
            sum_s: self.sum_us.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// Appends the exposition of histogram `name`.
pub fn render(out: &mut String, name: &str, help: &str, h: &HistogramSnapshot) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (i, c) in h.cumulative.iter().enumerate() {
        let le = BOUNDS_S
            .get(i)
            .map_or("+Inf".to_string(), |b| b.to_string());
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {c}");
    }
    let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", h.sum_s, h.count);
}

/// Latencies in microseconds, 1 µs to 1 h at 3 significant digits (HdrHistogram); longer
/// ones count as 1 h.
#[derive(Debug)]
pub struct Exact(std::sync::Mutex<hdrhistogram::Histogram<u64>>);

/// Percentiles of an [`Exact`] histogram, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    /// Observations.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest observation.
    pub max_ms: f64,
}

impl Default for Exact {
    fn default() -> Self {
        // bounds are constants within HdrHistogram's limits, so this cannot fail
        let h = hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
            .unwrap_or_else(|_| unreachable!("valid HdrHistogram bounds"));
        Exact(std::sync::Mutex::new(h))
    }
}

impl Exact {
    /// Records one latency.
    pub fn record(&self, d: std::time::Duration) {
        self.record_n(d, 1);
    }

    /// Records `n` observations of one latency.
    pub fn record_n(&self, d: std::time::Duration, n: u64) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        if let Ok(mut h) = self.0.lock() {
            h.saturating_record_n(us, n);
        }
    }

    /// Forgets every observation (the end of a warm-up).
    pub fn reset(&self) {
        if let Ok(mut h) = self.0.lock() {
            h.reset();
        }
    }

    /// The percentiles so far.
    pub fn percentiles(&self) -> Percentiles {
        let Ok(h) = self.0.lock() else {
            return Percentiles::default();
        };
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: h.max() as f64 / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_end_with_the_count() {
        let h = Histogram::default();
        for s in [0.0001, 0.003, 0.003, 0.2, 42.0, f64::NAN] {
            h.observe(s);
        }
        let s = h.snapshot();
        assert_eq!(s.count, 6);
        assert_eq!(s.cumulative.last(), Some(&6));
        assert!(s.cumulative.windows(2).all(|w| w[0] <= w[1]));
        // ≤ 0.5 ms: 0.0001 and NaN (counted as 0); ≤ 5 ms: +2
        assert_eq!(s.cumulative[0], 2);
        assert_eq!(s.cumulative[3], 4);
        assert!((s.sum_s - 42.2061).abs() < 1e-6, "{}", s.sum_s);
        let mut text = String::new();
        render(&mut text, "x_seconds", "help", &s);
        assert!(text.contains("x_seconds_bucket{le=\"+Inf\"} 6\n"));
        assert!(text.contains("x_seconds_count 6\n"));
    }

    #[test]
    fn exact_percentiles_match_a_sorted_reference() {
        let e = Exact::default();
        // 1..=1000 ms: p50 = 500 ms, p99 = 990 ms, p99.9 = 999 ms (3 significant digits)
        for ms in 1..=1000u64 {
            e.record(std::time::Duration::from_millis(ms));
        }
        let p = e.percentiles();
        assert_eq!(p.count, 1000);
        for (got, want) in [
            (p.p50_ms, 500.0),
            (p.p99_ms, 990.0),
            (p.p999_ms, 999.0),
            (p.max_ms, 1000.0),
        ] {
            assert!((got - want).abs() <= want * 0.001 + 1e-9, "{got} vs {want}");
        }
        e.reset();
        assert_eq!(e.percentiles().count, 0);
    }
}
