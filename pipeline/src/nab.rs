//! NAB scoring (Numenta Anomaly Benchmark, `nab/sweeper.py` rules) of detections against
//! labelled anomaly windows, used by `vigil backtest` for change points.
//!
//! Within a window only the earliest detection counts: reward `A_tp · σ(y) / σ(−1)` with
//! `σ(y) = 2 / (1 + e^(5y)) − 1` and `y = −(right − i + 1) / width` (−1 at the window's first
//! row, near 0 at its last). A missed window costs `A_fn`. A detection outside every window costs
//! `A_fp · σ(y)` with `y` its distance past the previous window's right edge in units of
//! `(previous width − 1)`, or `A_fp` in full before the first window. Scores are normalised:
//! `100 (S − S_null) / (S_perfect − S_null)`, `S_null = −A_fn · windows`,
//! `S_perfect = A_tp · windows`.

/// Reward weights of a NAB profile (all magnitudes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// True-positive weight.
    pub tp: f64,
    /// False-positive weight.
    pub fp: f64,
    /// False-negative (missed window) weight.
    pub fn_: f64,
}

/// NAB's three profiles: standard, reward low FP, reward low FN.
pub const PROFILES: [Profile; 3] = [
    Profile {
        tp: 1.0,
        fp: 0.11,
        fn_: 1.0,
    },
    Profile {
        tp: 1.0,
        fp: 0.22,
        fn_: 1.0,
    },
    Profile {
        tp: 1.0,
        fp: 0.11,
        fn_: 2.0,
    },
];

fn sigma(y: f64) -> f64 {
    2.0 / (1.0 + (5.0 * y).exp()) - 1.0
}

/// Raw score `S` of `detections` (row indices, ascending) against `windows` (inclusive row
/// ranges, ascending, disjoint), and the number of windows.
pub fn raw_score(windows: &[(usize, usize)], detections: &[usize], p: Profile) -> f64 {
    let mut s = 0.0;
    let mut hit = vec![false; windows.len()];
    for &i in detections {
        match windows.iter().position(|(l, r)| i >= *l && i <= *r) {
            Some(w) => {
                if !hit[w] {
                    hit[w] = true;
                    let (l, r) = windows[w];
                    let width = (r - l + 1) as f64;
                    let y = -((r - i + 1) as f64) / width;
                    s += p.tp * sigma(y) / sigma(-1.0);
                }
            }
            None => match windows.iter().rposition(|(_, r)| *r < i) {
                Some(w) => {
                    let (l, r) = windows[w];
                    let width = ((r - l + 1) as f64 - 1.0).max(1.0);
                    s += p.fp * sigma((i - r) as f64 / width);
                }
                None => s -= p.fp,
            },
        }
    }
    s - p.fn_ * hit.iter().filter(|h| !**h).count() as f64
}

/// Normalised score from pooled raw scores over `n_windows` windows.
pub fn normalised(raw: f64, n_windows: usize, p: Profile) -> Option<f64> {
    let null = -p.fn_ * n_windows as f64;
    let perfect = p.tp * n_windows as f64;
    (perfect > null).then(|| 100.0 * (raw - null) / (perfect - null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nab_rules_by_hand() {
        let std = PROFILES[0];
        let w = [(10, 19), (50, 59)];
        // perfect: the first row of each window scores A_tp exactly
        assert!((raw_score(&w, &[10, 50], std) - 2.0).abs() < 1e-12);
        assert_eq!(normalised(2.0, 2, std), Some(100.0));
        // nothing detected: the null score
        assert_eq!(raw_score(&w, &[], std), -2.0);
        assert_eq!(normalised(-2.0, 2, std), Some(0.0));
        // only the earliest detection in a window counts; a late one earns less
        let early = raw_score(&w, &[10, 11, 12], std);
        let late = raw_score(&w, &[19], std);
        assert!((early - (1.0 - 1.0)).abs() < 1e-12, "{early}");
        assert!(late < 0.0 && late > -1.0, "{late}");
        // a false positive before any window costs A_fp in full; long after a window, close to it
        assert!((raw_score(&w, &[0], std) - (-0.11 - 2.0)).abs() < 1e-12);
        let far_fp = raw_score(&w, &[45], std) - raw_score(&w, &[], std);
        assert!(far_fp < -0.10 && far_fp > -0.11, "{far_fp}");
        let near_fp = raw_score(&w, &[20], std) - raw_score(&w, &[], std);
        assert!(
            near_fp > far_fp,
            "a false positive right after a window costs less"
        );
    }
}
