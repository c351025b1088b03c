//! `envelope_band_energy(samples, rate_hz, lo_hz, hi_hz)`: band energy of the demodulated
//! envelope of a waveform snapshot; the standard bearing-fault detector, because defect impacts
//! at the bearing's fault frequency (BPFO, BPFI, BSF) modulate a structural resonance and show up
//! in the envelope spectrum long before they show in the raw spectrum.
//!
//! Formula: `e = |analytic(x)| − mean(|analytic(x)|)` (Hilbert envelope, see `spectrum.rs`), then
//! `Σ_{k : lo ≤ f_k < hi} P_k(e)`. Band-pass the snapshot around the resonance upstream if the
//! sensor does not already. NULL for a missing or empty snapshot.

use super::spectrum::{band_power, envelope, power_spectrum};
use super::FunctionDoc;

/// Documentation.
pub const DOC: FunctionDoc = FunctionDoc {
    name: "envelope_band_energy",
    signature: "envelope_band_energy(samples LIST<DOUBLE>, rate_hz DOUBLE, lo_hz DOUBLE, hi_hz DOUBLE) -> DOUBLE",
    formula: "band_energy of e = |x + i·H(x)| − mean, over lo ≤ f_k < hi",
    description: "Energy of the demodulated (Hilbert) envelope in a band: bearing fault frequencies (scalar, per reading).",
    example: &[],
    takes_time: false,
    sql_args: "samples, rate_hz, 60, 80",
};

/// The computation.
pub fn compute(x: &[f64], rate: f64, p: &[f64]) -> Option<f64> {
    let (lo, hi) = (p[0], p[1]);
    if lo > hi {
        return None;
    }
    let mut e = envelope(x);
    let mean = e.iter().sum::<f64>() / e.len().max(1) as f64;
    e.iter_mut().for_each(|v| *v -= mean);
    Some(band_power(&power_spectrum(&e, rate), lo, hi))
}

#[cfg(test)]
mod tests {
    use super::super::spectrum::tests::sine;
    use super::*;

    #[test]
    fn reference_and_edges() {
        // Analytic: x = (1 + 0.5 cos(2π·10t)) · sin(2π·200t), fs = 2000 Hz, N = 2000: the envelope
        // is 1 + 0.5 cos(2π·10t); without its mean, a 10 Hz cosine of amplitude 0.5 → 0.125.
        let n = 2000;
        let x: Vec<f64> = (0..n)
            .map(|i| {
                let t = i as f64 / 2000.0;
                (1.0 + 0.5 * (2.0 * std::f64::consts::PI * 10.0 * t).cos())
                    * (2.0 * std::f64::consts::PI * 200.0 * t).sin()
            })
            .collect();
        assert!((compute(&x, 2000.0, &[5.0, 15.0]).unwrap() - 0.125).abs() < 1e-6);
        // the raw spectrum has nothing at 10 Hz
        assert!(super::super::band_energy::compute(&x, 2000.0, &[5.0, 15.0]).unwrap() < 1e-12);
        // an unmodulated carrier has a flat envelope
        assert!(compute(&sine(1.0, 200.0, 2000.0, 2000), 2000.0, &[1.0, 100.0]).unwrap() < 1e-9);
        assert_eq!(compute(&[1.0], 10.0, &[0.0, 5.0]), Some(0.0));
        assert_eq!(compute(&[1.0, 2.0], 10.0, &[5.0, 1.0]), None);
    }
}
