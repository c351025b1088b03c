//! Spectral plumbing shared by the waveform functions: the one-sided power spectrum, the
//! analytic-signal envelope, and [`SpectralUdf`], which turns a per-snapshot computation into a
//! DataFusion scalar function over a waveform's `samples` list and `rate_hz` columns.
//!
//! For `N` samples `x_n` at rate `f_s`, `X_k = Σ_n x_n e^(−2πikn/N)` (rustfft), bin frequency
//! `f_k = k f_s / N` for `k = 0..=N/2`, and the one-sided power `P_k = c_k |X_k|² / N²` with
//! `c_k = 1` for `k = 0` and (N even) `k = N/2`, else 2; so `Σ_k P_k = mean(x²)` (Parseval) and a
//! sine of amplitude A contributes `A²/2` at its frequency. The envelope is `|z_n|` of the
//! analytic signal `z = IFFT(Z)`, `Z_k = X_k` for `k = 0` and `k = N/2`, `2 X_k` for
//! `0 < k < N/2`, `0` above (the Hilbert transform). A NULL snapshot, an empty one, a
//! non-positive or non-finite rate, or non-finite samples give NULL.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

/// Computes one value from a snapshot's samples, its rate and the function's extra arguments.
pub type SpectralFn = fn(&[f64], f64, &[f64]) -> Option<f64>;

/// One-sided power spectrum: `(frequency Hz, power)` for `k = 0..=N/2`.
pub fn power_spectrum(x: &[f64], rate: f64) -> Vec<(f64, f64)> {
    let n = x.len();
    if n == 0 {
        return Vec::new();
    }
    let mut buf: Vec<Complex<f64>> = x.iter().map(|v| Complex::new(*v, 0.0)).collect();
    FftPlanner::<f64>::new()
        .plan_fft_forward(n)
        .process(&mut buf);
    let nn = (n * n) as f64;
    (0..=n / 2)
        .map(|k| {
            let c = if k == 0 || (n % 2 == 0 && k == n / 2) {
                1.0
            } else {
                2.0
            };
            (k as f64 * rate / n as f64, c * buf[k].norm_sqr() / nn)
        })
        .collect()
}

/// Envelope `|z_n|` of the analytic signal of `x`.
pub fn envelope(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    if n == 0 {
        return Vec::new();
    }
    let mut planner = FftPlanner::<f64>::new();
    let mut buf: Vec<Complex<f64>> = x.iter().map(|v| Complex::new(*v, 0.0)).collect();
    planner.plan_fft_forward(n).process(&mut buf);
    for (k, z) in buf.iter_mut().enumerate() {
        let nyquist = n % 2 == 0 && k == n / 2;
        if k == 0 || nyquist {
            continue;
        }
        *z = if k < n.div_ceil(2) {
            *z * 2.0
        } else {
            Complex::new(0.0, 0.0)
        };
    }
    planner.plan_fft_inverse(n).process(&mut buf);
    buf.iter().map(|z| z.norm() / n as f64).collect()
}

/// Sum of `P_k` over bins with `lo ≤ f_k < hi`.
pub fn band_power(spectrum: &[(f64, f64)], lo: f64, hi: f64) -> f64 {
    spectrum
        .iter()
        .filter(|(f, _)| *f >= lo && *f < hi)
        .map(|(_, p)| p)
        .sum()
}

/// A per-snapshot spectral computation as a scalar SQL function
/// `name(samples, rate_hz [, params...])`.
pub struct SpectralUdf {
    name: &'static str,
    params: usize,
    f: SpectralFn,
    signature: Signature,
}

impl std::fmt::Debug for SpectralUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpectralUdf")
            .field("name", &self.name)
            .finish()
    }
}

impl PartialEq for SpectralUdf {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name
    }
}

impl Eq for SpectralUdf {}

impl Hash for SpectralUdf {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.name.hash(h);
    }
}

impl SpectralUdf {
    /// `name(samples, rate_hz, p1..p_params)` computed by `f`.
    pub fn new(name: &'static str, params: usize, f: SpectralFn) -> Self {
        SpectralUdf {
            name,
            params,
            f,
            signature: Signature::new(TypeSignature::Any(2 + params), Volatility::Immutable),
        }
    }
}

fn to_f64(a: &ArrayRef) -> Result<ArrayRef> {
    Ok(cast(a, &DataType::Float64)?)
}

impl ScalarUDFImpl for SpectralUdf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &args[0] {
            DataType::List(f) if f.data_type().is_numeric() => {}
            DataType::Null => {}
            other => {
                return plan_err!(
                    "{}: the first argument must be a waveform's samples (a list of numbers), not {other}",
                    self.name
                )
            }
        }
        for a in &args[1..] {
            if !a.is_numeric() && *a != DataType::Null {
                return plan_err!(
                    "{}: rate and band limits must be numbers, not {a}",
                    self.name
                );
            }
        }
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let samples = cast(
            &arrays[0],
            &DataType::List(Arc::new(
                datafusion::arrow::datatypes::Field::new_list_field(DataType::Float64, true),
            )),
        )?;
        let samples = samples.as_list::<i32>();
        let rest: Vec<ArrayRef> = arrays[1..].iter().map(to_f64).collect::<Result<_>>()?;
        let rest: Vec<_> = rest
            .iter()
            .map(|a| a.as_primitive::<Float64Type>())
            .collect();
        let mut params = vec![0.0; self.params];
        let out: Float64Array = (0..args.number_rows)
            .map(|i| {
                if samples.is_null(i) || rest.iter().any(|a| a.is_null(i)) {
                    return None;
                }
                let item = samples.value(i);
                let item = item.as_primitive::<Float64Type>();
                if item.null_count() > 0 {
                    return None;
                }
                let x = item.values();
                let rate = rest[0].value(i);
                if x.is_empty()
                    || !(rate.is_finite() && rate > 0.0)
                    || x.iter().any(|v| !v.is_finite())
                {
                    return None;
                }
                for (p, a) in params.iter_mut().zip(&rest[1..]) {
                    *p = a.value(i);
                }
                (self.f)(x, rate, &params).filter(|v| v.is_finite())
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `amp · sin(2π f t)` sampled at `rate` for `n` samples.
    pub fn sine(amp: f64, f: f64, rate: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| amp * (2.0 * std::f64::consts::PI * f * i as f64 / rate).sin())
            .collect()
    }

    #[test]
    fn parseval_and_sine_power() {
        let x = sine(2.0, 50.0, 1000.0, 1000);
        let p = power_spectrum(&x, 1000.0);
        let total: f64 = p.iter().map(|(_, v)| v).sum();
        let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
        assert!((total - ms).abs() < 1e-9, "Parseval: {total} vs {ms}");
        // a sine of amplitude 2 has mean square 2, all of it at 50 Hz
        assert!((band_power(&p, 49.5, 50.5) - 2.0).abs() < 1e-9);
        // envelope of a pure sine is its amplitude
        let e = envelope(&x);
        assert!(e[100..900].iter().all(|v| (v - 2.0).abs() < 1e-6));
        assert!(power_spectrum(&[], 10.0).is_empty());
    }
}
