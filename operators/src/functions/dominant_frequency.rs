//! `dominant_frequency(samples, rate_hz)`: the frequency of the strongest spectral line of a
//! waveform snapshot (DC excluded); tracks running speed and shows a shifting resonance.
//!
//! Formula: `f_k` with `k = argmax_{k ≥ 1} P_k` (the lowest such k on ties). NULL for fewer than
//! two samples or a signal without any non-DC power (a constant).

use super::spectrum::power_spectrum;
use super::FunctionDoc;

/// Documentation.
pub const DOC: FunctionDoc = FunctionDoc {
    name: "dominant_frequency",
    signature: "dominant_frequency(samples LIST<DOUBLE>, rate_hz DOUBLE) -> DOUBLE",
    formula: "f_k for k = argmax_{k ≥ 1} P_k",
    description:
        "Frequency (Hz) of the strongest non-DC spectral line of a snapshot (scalar, per reading).",
    example: &[],
    takes_time: false,
    sql_args: "samples, rate_hz",
};

/// The computation.
pub fn compute(x: &[f64], rate: f64, _p: &[f64]) -> Option<f64> {
    let s = power_spectrum(x, rate);
    let (f, p) = s.iter().skip(1).fold(
        (0.0, 0.0),
        |best, &(f, p)| if p > best.1 { (f, p) } else { best },
    );
    (p > 0.0).then_some(f)
}

#[cfg(test)]
mod tests {
    use super::super::spectrum::tests::sine;
    use super::*;

    #[test]
    fn reference_and_edges() {
        // Analytic: the 50 Hz component (amplitude 1) dominates the 120 Hz one (0.5), plus DC 3.
        let x: Vec<f64> = sine(1.0, 50.0, 1000.0, 1000)
            .iter()
            .zip(sine(0.5, 120.0, 1000.0, 1000))
            .map(|(a, b)| a + b + 3.0)
            .collect();
        assert_eq!(compute(&x, 1000.0, &[]), Some(50.0));
        assert_eq!(compute(&[1.0], 100.0, &[]), None);
        assert_eq!(compute(&[2.0; 16], 100.0, &[]), None, "constant: no line");
        // Nyquist: alternating signal at fs = 10 Hz has its line at 5 Hz
        assert_eq!(compute(&[1.0, -1.0, 1.0, -1.0], 10.0, &[]), Some(5.0));
    }
}
