//! `vigil bench close`: the cost of one window close, native aggregation beside DataFusion's.
//!
//! Owns an in-process measurement (no Kafka) of what bounds the window-close-to-alert latency:
//! the latency workload's job (`bench_kafka::bench_job`, 500 ms tumbling windows, the 12
//! aggregates of `bench_kafka::SQL`, an EWMA baseline per asset) fed whole windows of readings
//! of `assets` assets, `per_asset` readings each, one in 200 assets spiking, in batches of
//! 5,000 readings (the open pane folds early as in the stream). For each
//! aggregation path it prints the mean time of the feature SQL alone over a window's readings,
//! and of a whole close inside the engine (feature SQL, matrix, baselines, alert decision: the
//! engine's `scoring` histogram), per window and per asset, and the ratios of the two paths
//! measured side by side in one run. Timings are printed, never asserted.

use std::sync::Arc;
use std::time::Instant;

use vigil_operators::arrow::array::RecordBatch;
use vigil_operators::{Bounds, ClosedWindow, FeatureQuery, PaneData, Window};

use crate::bench_kafka::{bench_job, reading};
use crate::bench_latency::spikes;
use crate::engine::Engine;
use crate::metrics::JobStats;
use crate::PipelineError;

const WINDOW_MS: i64 = 500;
const T0: i64 = 1_767_225_600_000;

/// One aggregation path's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CloseBenchRow {
    /// `native` or `datafusion`.
    pub aggregation: &'static str,
    /// Mean ms of the feature SQL over one window's readings.
    pub features_ms: f64,
    /// Mean ms of one early fold of the open pane (its raw readings into its partial states).
    pub fold_ms: f64,
    /// Early folds per window.
    pub folds_per_window: f64,
    /// Mean ms of one close in the engine (features, matrix, baselines, decision).
    pub close_ms: f64,
    /// Alerts raised over the measured windows (the same for both paths).
    pub alerts: usize,
}

/// Runs both paths over `windows` windows of `assets` assets x `per_asset` readings.
pub async fn bench_close(
    assets: usize,
    per_asset: usize,
    windows: usize,
) -> Result<Vec<CloseBenchRow>, PipelineError> {
    let dir = std::env::temp_dir().join(format!("vigil-bench-close-{}", std::process::id()));
    let cfg = bench_job(
        &dir,
        "close",
        "127.0.0.1:9092",
        assets.max(1),
        "500ms",
        "0s",
        "at-least-once",
    )?;
    let decoder = vigil_schemas::BatchDecoder::new(cfg.mapping.clone())?;
    // window w's readings, then one reading of window `windows` that closes the last one
    let mut batches: Vec<RecordBatch> = Vec::with_capacity(windows + 1);
    let mut seed = 0u64;
    for w in 0..=windows {
        let n = if w == windows { 1 } else { assets * per_asset };
        let ts0 = T0 + w as i64 * WINDOW_MS;
        let ps: Vec<String> = (0..n)
            .map(|i| {
                let a = i % assets;
                let ts = ts0 + (i / assets) as i64 * (WINDOW_MS / per_asset.max(1) as i64);
                seed += 1;
                reading(a, ts, seed, spikes(a, assets, w as i64 + 1))
            })
            .collect();
        batches.push(decoder.decode(ps.iter().map(|p| Some(p.as_bytes())))?.batch);
    }
    // a warm-up pass of each path first: the process's first use of memory costs page faults
    // the later ones do not pay
    let mut rows = Vec::new();
    for (native, measured) in [(true, false), (false, false), (true, true), (false, true)] {
        let row = pass(&cfg, &decoder, &batches, windows, native).await?;
        if measured {
            rows.push(row);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}

/// Readings per batch, about what one poll brings at the latency workload's 80 % level.
const CHUNK: usize = 5_000;

async fn pass(
    cfg: &crate::job::JobConfig,
    decoder: &vigil_schemas::BatchDecoder,
    batches: &[RecordBatch],
    windows: usize,
    native: bool,
) -> Result<CloseBenchRow, PipelineError> {
    // the feature SQL alone: each window's readings arrive in chunks and the open pane folds
    // what it holds once the engine's rule (`FoldRule::rows`) is due, at chunk bounds rather
    // than at exactly the rule's rows; then the close is timed
    let mut q = FeatureQuery::plan(&cfg.feature_sql, decoder.schema()).await?;
    if !native {
        q = q.without_native();
    }
    let (mut features_s, mut folds_s, mut folds) = (0.0, 0.0, 0usize);
    for (w, b) in batches.iter().take(windows).enumerate() {
        let start = T0 + w as i64 * WINDOW_MS;
        let (mut raw, mut partial) = (Vec::new(), Vec::new());
        let (mut raw_rows, mut partial_rows) = (0, 0);
        for at in (0..b.num_rows()).step_by(CHUNK) {
            let chunk = b.slice(at, CHUNK.min(b.num_rows() - at));
            raw_rows += chunk.num_rows();
            raw.push(chunk);
            let rule = vigil_operators::windows::FoldRule {
                min_rows: crate::engine::FOLD_MIN_ROWS,
                geometric: !q.is_native(),
            };
            if raw_rows >= rule.rows(partial_rows) {
                let t = Instant::now();
                let states = q.fold_states(partial, std::mem::take(&mut raw)).await?;
                folds_s += t.elapsed().as_secs_f64();
                folds += 1;
                partial = states.unwrap_or_default();
                partial_rows = partial.iter().map(RecordBatch::num_rows).sum();
                raw_rows = 0;
            }
        }
        let win = ClosedWindow {
            bounds: Bounds::Fixed(Window {
                start,
                end: start + WINDOW_MS,
            }),
            panes: vec![PaneData {
                start,
                raw,
                partial,
            }],
            panes_reused: false,
            stats: Default::default(),
        };
        let t = Instant::now();
        std::hint::black_box(q.run(&win, None).await?);
        features_s += t.elapsed().as_secs_f64();
    }
    // whole closes inside the engine, fed the same chunks
    let mut c = cfg.clone();
    c.native_aggregation = native;
    let stats = Arc::new(JobStats::new());
    let mut engine = Engine::new(&c, None, stats.clone()).await?;
    let mut alerts = 0;
    for (w, b) in batches.iter().enumerate() {
        let wall = T0 + (w as i64 + 1) * WINDOW_MS;
        for at in (0..b.num_rows()).step_by(CHUNK) {
            let chunk = b.slice(at, CHUNK.min(b.num_rows() - at));
            let sources = vec![0u32; chunk.num_rows()];
            alerts += engine.process(&chunk, &sources, wall).await?.alerts.len();
        }
    }
    let scoring = stats.scoring.snapshot();
    Ok(CloseBenchRow {
        aggregation: if native { "native" } else { "datafusion" },
        features_ms: features_s * 1000.0 / windows.max(1) as f64,
        fold_ms: folds_s * 1000.0 / folds.max(1) as f64,
        folds_per_window: folds as f64 / windows.max(1) as f64,
        close_ms: scoring.sum_s * 1000.0 / scoring.count.max(1) as f64,
        alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both aggregation paths raise the same alerts from the same windows through the whole
    /// engine (the baselines see the same features), and some do fire once the EWMA baselines
    /// are past their 3-window warm-up.
    #[tokio::test]
    async fn both_paths_close_the_same_windows_into_the_same_alerts() {
        let rows = bench_close(400, 2, 6).await.expect("bench close");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].aggregation, "native");
        assert_eq!(rows[1].aggregation, "datafusion");
        assert!(rows[0].alerts > 0, "{rows:?}");
        assert_eq!(rows[0].alerts, rows[1].alerts, "{rows:?}");
        assert!(rows.iter().all(|r| r.close_ms > 0.0 && r.features_ms > 0.0));
    }
}
