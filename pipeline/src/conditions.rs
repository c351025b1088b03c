//! Operating-condition normalisation on Arrow readings batches (`[conditions]`): fitting the
//! [`ConditionNormaliser`] on training readings and applying it to every readings batch before
//! the event-time operator, so windows and feature SQL see per-regime z-scores. The maths is in
//! `vigil_models::conditions`; this file only moves columns in and out of Arrow.

use std::sync::Arc;

use ndarray::Array2;
use vigil_models::conditions::ConditionNormaliser;
use vigil_operators::arrow::array::{Array, ArrayRef, Float64Array, RecordBatch};

use crate::job::ConditionSettings;
use crate::PipelineError;

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a Float64Array, PipelineError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
        .ok_or_else(|| {
            PipelineError::Data(format!(
                "condition normalisation: no numeric measurement `{name}` in the readings"
            ))
        })
}

fn matrix(batches: &[RecordBatch], names: &[String]) -> Result<Array2<f64>, PipelineError> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut m = Array2::from_elem((rows, names.len()), f64::NAN);
    let mut r0 = 0;
    for b in batches {
        for (j, n) in names.iter().enumerate() {
            let c = column(b, n)?;
            for i in 0..b.num_rows() {
                if c.is_valid(i) {
                    m[(r0 + i, j)] = c.value(i);
                }
            }
        }
        r0 += b.num_rows();
    }
    Ok(m)
}

/// Fits the regimes and per-regime moments on training readings.
pub fn fit(
    s: &ConditionSettings,
    batches: &[RecordBatch],
) -> Result<ConditionNormaliser, PipelineError> {
    let conds = matrix(batches, &s.settings)?;
    let values = matrix(batches, &s.normalise)?;
    ConditionNormaliser::fit(
        s.settings.clone(),
        s.normalise.clone(),
        conds.view(),
        values.view(),
        s.regimes,
    )
    .map_err(PipelineError::from)
}

/// The batch with its normalised columns replaced by per-regime z-scores (null where the
/// value or a condition setting is missing).
pub fn apply(n: &ConditionNormaliser, batch: &RecordBatch) -> Result<RecordBatch, PipelineError> {
    let conds: Vec<&Float64Array> = n
        .conditions
        .iter()
        .map(|c| column(batch, c))
        .collect::<Result<_, _>>()?;
    let mut settings = vec![0.0; conds.len()];
    let regimes: Vec<Option<usize>> = (0..batch.num_rows())
        .map(|i| {
            for (k, c) in conds.iter().enumerate() {
                settings[k] = if c.is_valid(i) { c.value(i) } else { f64::NAN };
            }
            n.regime(&settings)
        })
        .collect();
    let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
    let schema = batch.schema();
    for (j, name) in n.columns.iter().enumerate() {
        let Some((idx, _)) = schema.column_with_name(name) else {
            return Err(PipelineError::Data(format!(
                "condition normalisation: no measurement `{name}` in the readings"
            )));
        };
        let src = column(batch, name)?;
        let out: Float64Array = (0..batch.num_rows())
            .map(|i| match regimes[i] {
                Some(c) if src.is_valid(i) => Some(n.normalise(c, j, src.value(i))),
                _ => None,
            })
            .collect();
        cols[idx] = Arc::new(out);
    }
    RecordBatch::try_new(schema, cols).map_err(|e| PipelineError::Data(e.to_string()))
}
