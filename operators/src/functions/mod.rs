//! Vigil's feature functions: predictive-maintenance statistics as DataFusion functions.
//!
//! Every `SessionContext` Vigil creates (streaming job, `vigil train`, `vigil features`,
//! backtests) gets them through [`register_all`], called by [`crate::FeatureQuery::plan`], so
//! training and serving use one definition. One file per function, each with its formula in its
//! doc comment, a [`FunctionDoc`] (the source of `docs/features.md`, kept in sync by a test) and
//! tests against independently computed reference values. Aggregates are built on [`stat::Stat`]:
//! each has a partial state and an exact merge, which pane-based windows and restarts rely on
//! (checked by a split-and-merge property test).

pub mod band_energy;
pub mod crest_factor;
pub mod dominant_frequency;
pub mod envelope_band_energy;
pub mod kurtosis;
pub mod mean_abs_change;
pub mod moments;
pub mod peak_to_peak;
pub mod rms;
pub mod series;
pub mod skewness;
pub mod slope;
pub mod spectral_centroid;
pub mod spectrum;
pub mod stat;
pub mod zero_crossing_rate;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

use stat::StatUdaf;

/// Documentation of one function (rendered into `docs/features.md`).
#[derive(Debug, Clone, Copy)]
pub struct FunctionDoc {
    /// SQL name.
    pub name: &'static str,
    /// SQL signature.
    pub signature: &'static str,
    /// The formula.
    pub formula: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// Example input values (with [`EXAMPLE_TIMES`] as event times when `takes_time`).
    pub example: &'static [f64],
    /// Whether the function's second argument is the event time.
    pub takes_time: bool,
    /// Arguments of the documentation example of a waveform function (empty for aggregates).
    pub sql_args: &'static str,
}

/// Event times (ms) of the documentation examples.
pub const EXAMPLE_TIMES: &[i64] = &[0, 1000, 2000, 3500, 4000, 6000, 7000];

/// Every aggregate function Vigil adds.
pub fn aggregates() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(StatUdaf::<rms::Rms>::new("rms", false)),
        AggregateUDF::from(StatUdaf::<kurtosis::Kurtosis>::new("kurtosis", false)),
        AggregateUDF::from(StatUdaf::<skewness::Skewness>::new("skewness", false)),
        AggregateUDF::from(StatUdaf::<crest_factor::CrestFactor>::new(
            "crest_factor",
            false,
        )),
        AggregateUDF::from(StatUdaf::<peak_to_peak::PeakToPeak>::new(
            "peak_to_peak",
            false,
        )),
        AggregateUDF::from(StatUdaf::<slope::Slope>::new("slope", true)),
        AggregateUDF::from(StatUdaf::<zero_crossing_rate::ZeroCrossingRate>::new(
            "zero_crossing_rate",
            true,
        )),
        AggregateUDF::from(StatUdaf::<mean_abs_change::MeanAbsChange>::new(
            "mean_abs_change",
            true,
        )),
    ]
}

/// Every scalar (waveform) function Vigil adds.
pub fn scalars() -> Vec<ScalarUDF> {
    use spectrum::SpectralUdf;
    vec![
        ScalarUDF::from(SpectralUdf::new("band_energy", 2, band_energy::compute)),
        ScalarUDF::from(SpectralUdf::new(
            "dominant_frequency",
            0,
            dominant_frequency::compute,
        )),
        ScalarUDF::from(SpectralUdf::new(
            "spectral_centroid",
            0,
            spectral_centroid::compute,
        )),
        ScalarUDF::from(SpectralUdf::new(
            "envelope_band_energy",
            2,
            envelope_band_energy::compute,
        )),
    ]
}

/// Documentation of the waveform functions.
pub fn spectral_docs() -> Vec<FunctionDoc> {
    vec![
        band_energy::DOC,
        dominant_frequency::DOC,
        spectral_centroid::DOC,
        envelope_band_energy::DOC,
    ]
}

/// Documentation of every function, in the order of `docs/features.md`.
pub fn docs() -> Vec<FunctionDoc> {
    vec![
        rms::DOC,
        kurtosis::DOC,
        skewness::DOC,
        crest_factor::DOC,
        peak_to_peak::DOC,
        slope::DOC,
        zero_crossing_rate::DOC,
        mean_abs_change::DOC,
    ]
}

/// Registers every Vigil function in `ctx`.
pub fn register_all(ctx: &SessionContext) {
    for f in aggregates() {
        ctx.register_udaf(f);
    }
    for f in scalars() {
        ctx.register_udf(f);
    }
}

#[cfg(test)]
pub(crate) mod tests;
