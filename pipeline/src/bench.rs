//! `vigil bench windows`: what pane-based hopping windows buy, measured side by side.
//!
//! Generates readings batches in memory (no Kafka: this isolates the window operator and the
//! feature SQL), then for slide = size, size/4 and size/16 pushes all of them through the
//! event-time operator and the example pump feature SQL twice: pane-based (each pane's readings
//! reduced to partial aggregate states once, states merged per window) and re-aggregating (every
//! window's raw readings through the whole SQL, the cost a non-pane engine pays). Prints readings
//! per second for each, and the ratios. Timings are printed, never asserted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use vigil_operators::arrow::array::{
    ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use vigil_operators::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use vigil_operators::{Bounds, EventTimeConfig, EventTimeOperator, FeatureQuery, WindowKind};

use crate::PipelineError;

/// Feature SQL of the example pump job.
const SQL: &str = include_str!("../../examples/pump_features.sql");
const MEASUREMENTS: [&str; 5] = [
    "vibration_rms",
    "bearing_temp",
    "discharge_pressure",
    "motor_current",
    "flow",
];

/// One measured configuration.
#[derive(Debug, Clone)]
pub struct WindowBenchRow {
    /// Panes per window (size / slide).
    pub panes: i64,
    /// Windows closed.
    pub windows: usize,
    /// Readings per second, pane-based.
    pub pane_based_per_s: f64,
    /// Readings per second, re-aggregating every window.
    pub reaggregating_per_s: f64,
}

fn schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("asset_id", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
    ];
    fields.extend(
        MEASUREMENTS
            .iter()
            .map(|m| Field::new(*m, DataType::Float64, true)),
    );
    Arc::new(Schema::new(fields))
}

/// `readings` readings of `assets` assets, `rate` per asset per second, in batches of 5000.
pub fn synthetic_batches(
    readings: usize,
    assets: usize,
    rate: u32,
) -> Result<Vec<RecordBatch>, PipelineError> {
    let step_ms = 1000 / i64::from(rate.clamp(1, 1000));
    let schema = schema();
    let names: Vec<String> = (0..assets).map(|a| format!("pump-{a:05}")).collect();
    let t0: i64 = 1_767_225_600_000;
    let mut out = Vec::new();
    let mut i = 0usize;
    while i < readings {
        let n = 5000.min(readings - i);
        let idx: Vec<usize> = (i..i + n).collect();
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                idx.iter().map(|k| names[k % assets].as_str()),
            )),
            Arc::new(
                TimestampMillisecondArray::from_iter_values(
                    idx.iter().map(|k| t0 + (k / assets) as i64 * step_ms),
                )
                .with_timezone("UTC"),
            ),
        ];
        for (m, _) in MEASUREMENTS.iter().enumerate() {
            cols.push(Arc::new(Float64Array::from_iter_values(idx.iter().map(
                |k| 10.0 * (m as f64 + 1.0) + ((k * 7919 + m * 104_729) % 1000) as f64 / 1000.0,
            ))));
        }
        out.push(
            RecordBatch::try_new(schema.clone(), cols)
                .map_err(|e| PipelineError::Data(e.to_string()))?,
        );
        i += n;
    }
    Ok(out)
}

async fn pass(
    batches: &[RecordBatch],
    size_ms: i64,
    slide_ms: i64,
    pane_based: bool,
) -> Result<(usize, f64), PipelineError> {
    let q = FeatureQuery::plan(SQL, schema()).await?;
    let mut cfg = EventTimeConfig::tumbling(size_ms);
    cfg.window = WindowKind::Fixed { size_ms, slide_ms };
    let mut op = EventTimeOperator::new(cfg)?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let started = Instant::now();
    let mut windows = 0;
    for (i, b) in batches.iter().enumerate() {
        let sources = vec![0u32; b.num_rows()];
        op.ingest(b, &sources, 0)?;
        let mut adv = op.advance(0)?;
        if i + 1 == batches.len() {
            adv.closed.extend(op.flush()?.closed);
        }
        let mut partials = HashMap::new();
        for w in &adv.closed {
            if pane_based {
                q.run(w, Some(&mut partials)).await?;
            } else {
                q.run_single_phase(w).await?;
            }
            windows += 1;
            debug_assert!(matches!(w.bounds, Bounds::Fixed(_)));
        }
        if pane_based {
            op.absorb(partials);
        }
    }
    Ok((windows, rows as f64 / started.elapsed().as_secs_f64()))
}

/// Runs the benchmark and returns one row per panes-per-window value (`reaggregate = false`
/// skips the comparison pass, e.g. for profiling).
pub async fn bench_windows(
    readings: usize,
    assets: usize,
    rate: u32,
    panes_list: &[i64],
    reaggregate: bool,
) -> Result<Vec<WindowBenchRow>, PipelineError> {
    let batches = synthetic_batches(readings, assets, rate)?;
    let size = 60_000;
    let mut rows = Vec::new();
    for &panes in panes_list {
        if panes <= 0 || size % panes != 0 {
            return Err(PipelineError::Data(format!(
                "{panes} panes do not divide a 60 s window"
            )));
        }
        let slide = size / panes;
        let (windows, pane_based_per_s) = pass(&batches, size, slide, true).await?;
        let reaggregating_per_s = if reaggregate {
            pass(&batches, size, slide, false).await?.1
        } else {
            f64::NAN
        };
        rows.push(WindowBenchRow {
            panes,
            windows,
            pane_based_per_s,
            reaggregating_per_s,
        });
    }
    Ok(rows)
}
