//! Threshold calibration from training scores: pure functions over score samples.

/// The `q`-quantile (0..=1) of `values` by linear interpolation between order statistics.
/// Non-finite values are ignored; `None` when nothing finite remains.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(v[lo] + (v[hi] - v[lo]) * frac)
}

/// Fraction of `scores` strictly above `threshold`.
pub fn alarm_rate(scores: &[f64], threshold: f64) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    scores.iter().filter(|s| **s > threshold).count() as f64 / scores.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_and_ignores_nan() {
        let v = [4.0, 1.0, f64::NAN, 3.0, 2.0];
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&v, 1.0), Some(4.0));
        assert_eq!(quantile(&v, 0.5), Some(2.5));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn alarm_rate_counts_strictly_above() {
        assert_eq!(alarm_rate(&[1.0, 2.0, 3.0, 4.0], 2.0), 0.5);
        assert_eq!(alarm_rate(&[], 1.0), 0.0);
    }
}
