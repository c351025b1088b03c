//! `spectral_centroid(samples, rate_hz)`: the power-weighted mean frequency of a waveform
//! snapshot (DC excluded); moves up when broadband high-frequency content (cavitation, rubbing,
//! lubrication loss) grows.
//!
//! Formula: `Σ_{k ≥ 1} f_k P_k / Σ_{k ≥ 1} P_k`. NULL for fewer than two samples or a constant.

use super::spectrum::power_spectrum;
use super::FunctionDoc;

/// Documentation.
pub const DOC: FunctionDoc = FunctionDoc {
    name: "spectral_centroid",
    signature: "spectral_centroid(samples LIST<DOUBLE>, rate_hz DOUBLE) -> DOUBLE",
    formula: "Σ_{k≥1} f_k P_k / Σ_{k≥1} P_k",
    description:
        "Power-weighted mean frequency (Hz) of a snapshot, DC excluded (scalar, per reading).",
    example: &[],
    takes_time: false,
    sql_args: "samples, rate_hz",
};

/// The computation.
pub fn compute(x: &[f64], rate: f64, _p: &[f64]) -> Option<f64> {
    let s = power_spectrum(x, rate);
    let (num, den) = s
        .iter()
        .skip(1)
        .fold((0.0, 0.0), |(n, d), (f, p)| (n + f * p, d + p));
    (den > 0.0).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::super::spectrum::tests::sine;
    use super::*;

    #[test]
    fn reference_and_edges() {
        // Analytic: powers 0.5 at 50 Hz and 0.125 at 120 Hz: (50·0.5 + 120·0.125) / 0.625 = 64 Hz.
        let x: Vec<f64> = sine(1.0, 50.0, 1000.0, 1000)
            .iter()
            .zip(sine(0.5, 120.0, 1000.0, 1000))
            .map(|(a, b)| a + b)
            .collect();
        assert!((compute(&x, 1000.0, &[]).unwrap() - 64.0).abs() < 1e-9);
        assert_eq!(compute(&[5.0], 100.0, &[]), None);
        assert_eq!(compute(&[0.0; 4], 100.0, &[]), None);
    }
}
