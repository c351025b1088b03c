//! `vigil features`: a job's feature rows computed in batch over history files, and the JSON
//! form of a feature row shared with the streaming job's features topic.
//!
//! The batch path runs the very same [`Engine`] as the streaming job (decoder, event time,
//! feature SQL with Vigil's functions) over the files in order, then closes every open window;
//! so on the same readings it gives the rows the stream gives (`tests/broker_features_parity.rs`
//! checks it against a real broker).

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};
use vigil_operators::arrow::array::{Array, AsArray, RecordBatch};
use vigil_operators::arrow::datatypes::{Float64Type, TimestampMillisecondType};

use crate::engine::Engine;
use crate::history::read_history;
use crate::job::JobConfig;
use crate::metrics::JobStats;
use crate::PipelineError;

/// Feature rows of a batch run.
#[derive(Debug, Default)]
pub struct FeatureRun {
    /// Feature batches, in window-close order.
    pub batches: Vec<RecordBatch>,
    /// Feature names.
    pub names: Vec<String>,
    /// Readings decoded.
    pub readings: usize,
    /// Rows of the files that could not be decoded.
    pub rejected: usize,
    /// Readings that arrived after their windows closed.
    pub late: usize,
}

impl FeatureRun {
    /// Every row as JSON (see [`row_json`]).
    pub fn rows(&self) -> Vec<Value> {
        self.batches
            .iter()
            .flat_map(|b| rows_json(b, &self.names))
            .collect()
    }
}

/// The JSON of each row of a feature batch: `asset_id`, `window_start`, `window_end` (UTC ms)
/// and one key per feature (null where the SQL gave NULL or a non-finite value).
pub fn rows_json(b: &RecordBatch, names: &[String]) -> Vec<Value> {
    (0..b.num_rows()).map(|i| row_json(b, names, i)).collect()
}

/// The JSON of row `i` of a feature batch.
pub fn row_json(b: &RecordBatch, names: &[String], i: usize) -> Value {
    let mut m = Map::new();
    m.insert(
        "asset_id".into(),
        Value::from(b.column(0).as_string::<i32>().value(i)),
    );
    m.insert(
        "window_start".into(),
        Value::from(
            b.column(1)
                .as_primitive::<TimestampMillisecondType>()
                .value(i),
        ),
    );
    m.insert(
        "window_end".into(),
        Value::from(
            b.column(2)
                .as_primitive::<TimestampMillisecondType>()
                .value(i),
        ),
    );
    for (j, n) in names.iter().enumerate() {
        let c = b.column(3 + j).as_primitive::<Float64Type>();
        let v = if c.is_valid(i) && c.value(i).is_finite() {
            Value::from(c.value(i))
        } else {
            Value::Null
        };
        m.insert(n.clone(), v);
    }
    Value::Object(m)
}

/// Computes the job's features over history files (CSV or JSONL), in file order.
pub async fn features_from_files(
    cfg: &JobConfig,
    inputs: &[&Path],
) -> Result<FeatureRun, PipelineError> {
    let mut engine = Engine::new(cfg, None, Arc::new(JobStats::new())).await?;
    let mut run = FeatureRun {
        names: engine.features().feature_names().to_vec(),
        ..Default::default()
    };
    for p in inputs {
        let h = read_history(p, engine.decoder(), &cfg.history_columns)?;
        run.rejected += h.dead.len();
        for b in &h.batches {
            run.readings += b.num_rows();
            let step = engine.process_all(b).await?;
            run.late += step.late_rows.len();
            run.batches.extend(step.features);
        }
    }
    run.batches.extend(engine.flush().await?.features);
    Ok(run)
}
