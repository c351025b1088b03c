//! `band_energy(samples, rate_hz, lo_hz, hi_hz)`: the mean-square energy of a waveform snapshot
//! in a frequency band, e.g. the 1×/2× running-speed band for unbalance and misalignment, or a
//! high band for cavitation.
//!
//! Formula: `Σ_{k : lo ≤ f_k < hi} P_k` with the one-sided power spectrum `P_k` of `spectrum.rs`
//! (a sine of amplitude A inside the band gives `A²/2`). Scalar: one value per reading; aggregate
//! it over the window with `avg`/`max`. NULL for a missing or empty snapshot.

use super::spectrum::{band_power, power_spectrum};
use super::FunctionDoc;

/// Documentation.
pub const DOC: FunctionDoc = FunctionDoc {
    name: "band_energy",
    signature:
        "band_energy(samples LIST<DOUBLE>, rate_hz DOUBLE, lo_hz DOUBLE, hi_hz DOUBLE) -> DOUBLE",
    formula: "Σ P_k over bins with lo ≤ f_k < hi; P_k = c_k |X_k|² / N² (one-sided power)",
    description:
        "Mean-square energy of a waveform snapshot in a frequency band (scalar, per reading).",
    example: &[],
    takes_time: false,
    sql_args: "samples, rate_hz, 40, 60",
};

/// The computation.
pub fn compute(x: &[f64], rate: f64, p: &[f64]) -> Option<f64> {
    let (lo, hi) = (p[0], p[1]);
    (lo <= hi).then(|| band_power(&power_spectrum(x, rate), lo, hi))
}

#[cfg(test)]
mod tests {
    use super::super::spectrum::tests::sine;
    use super::*;

    #[test]
    fn reference_and_edges() {
        // Analytic: x = sin(2π·50t) + 0.5 sin(2π·120t), fs = 1000 Hz, N = 1000 (whole periods):
        // the 50 Hz sine carries 1²/2 = 0.5, the 120 Hz one 0.5²/2 = 0.125.
        let x: Vec<f64> = sine(1.0, 50.0, 1000.0, 1000)
            .iter()
            .zip(sine(0.5, 120.0, 1000.0, 1000))
            .map(|(a, b)| a + b)
            .collect();
        assert!((compute(&x, 1000.0, &[40.0, 60.0]).unwrap() - 0.5).abs() < 1e-9);
        assert!((compute(&x, 1000.0, &[100.0, 130.0]).unwrap() - 0.125).abs() < 1e-9);
        assert!(compute(&x, 1000.0, &[200.0, 500.0]).unwrap() < 1e-20);
        assert_eq!(compute(&x, 1000.0, &[60.0, 40.0]), None, "inverted band");
        // one sample: all of it is DC
        assert_eq!(compute(&[3.0], 10.0, &[0.0, 1.0]), Some(9.0));
        // constant: only the DC bin
        assert_eq!(compute(&[2.0; 8], 8.0, &[0.5, 4.0]), Some(0.0));
    }
}
