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

/// The lowest threshold at which at most a fraction `far` of `scores` (validation scores of
/// normal data) lie strictly above it: the order statistic at rank `ceil((1 − far) n)`.
/// `None` when no score is finite or `far` is not in `[0, 1)`.
pub fn threshold_for_far(scores: &[f64], far: f64) -> Option<f64> {
    if !(0.0..1.0).contains(&far) {
        return None;
    }
    let mut v: Vec<f64> = scores.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((1.0 - far) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
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
    fn far_threshold_meets_the_target_exactly_on_the_validation_scores() {
        let scores: Vec<f64> = (1..=1000).map(f64::from).collect();
        for far in [0.0, 0.001, 0.01, 0.05, 0.123] {
            let t = threshold_for_far(&scores, far).unwrap();
            let got = alarm_rate(&scores, t);
            assert!(got <= far + 1e-12, "far {far}: threshold {t} gives {got}");
            // and it is the lowest such threshold: one order statistic lower exceeds the target
            if t > 1.0 {
                assert!(alarm_rate(&scores, t - 1.0) > far, "far {far}");
            }
        }
        assert_eq!(threshold_for_far(&scores, 1.0), None);
        assert_eq!(threshold_for_far(&[f64::NAN], 0.1), None);
    }

    #[test]
    fn alarm_rate_counts_strictly_above() {
        assert_eq!(alarm_rate(&[1.0, 2.0, 3.0, 4.0], 2.0), 0.5);
        assert_eq!(alarm_rate(&[], 1.0), 0.0);
    }
}
