//! The engine: one job's processing from payloads to alerts, without any Kafka.
//!
//! Owns the chain decoder -> event-time operator (watermarks, lateness, dedup, windows,
//! data-quality checks) -> feature SQL -> detector -> alert decision for one job instance. The streaming runner, `vigil train`, the demo and the tests all drive this same
//! engine, so training and serving compute features with the very same operators and SQL.
//! Batches in, batches out: the engine never sees a single reading on its own.

use std::collections::HashMap;
use std::sync::Arc;

use ndarray::Array2;
use tracing::Instrument;
use vigil_models::ModelArtifact;
use vigil_operators::arrow::array::{Array, AsArray, Float64Array, RecordBatch, StringArray};
use vigil_operators::arrow::datatypes::{Float64Type, TimestampMillisecondType};
use vigil_operators::{
    Advanced, Bounds, EventTimeConfig, EventTimeOperator, FeatureQuery, Problem, QualityEvent,
};
use vigil_schemas::{
    Alert, AlertKind, BatchDecoder, Contribution, DecodeOutcome, ModelRef, QualityProblem,
};

use crate::alerting::{BaselineBank, LifecycleBook};
use crate::job::{JobConfig, Limits};
use crate::metrics::JobStats;
use crate::PipelineError;

/// What processing one readings batch produced.
#[derive(Debug, Default)]
pub struct Step {
    /// Rows of the input batch that arrived after all their windows closed.
    pub late_rows: Vec<u32>,
    /// Rows of the input batch that repeat an earlier reading (dedup on).
    pub duplicate_rows: Vec<u32>,
    /// Rows of the input batch refused because their asset is beyond `[limits] max_assets`.
    pub limited_rows: Vec<u32>,
    /// Feature batches of the windows that closed (one row per asset).
    pub features: Vec<RecordBatch>,
    /// Alerts raised by those windows.
    pub alerts: Vec<Alert>,
    /// Alerts the shadow model version would have raised (not acted on).
    pub shadow_alerts: Vec<Alert>,
    /// Every scored window (asset, window, score, threshold, detector), when asked for with
    /// [`Engine::keep_scores`]: what the lifecycle decided on, for backtests and dashboards.
    pub scores: Vec<Alert>,
}

/// Feature rows with their asset ids and window bounds, as a plain matrix.
#[derive(Debug, Clone)]
pub struct FeatureMatrix {
    /// Asset id of each row (the feature batch's column itself when there is one batch: no
    /// id is copied).
    pub assets: StringArray,
    /// Window start of each row, UTC ms.
    pub window_start: Vec<i64>,
    /// Window end of each row, UTC ms.
    pub window_end: Vec<i64>,
    /// Rows x features (NaN where the SQL gave NULL); no rows when `columns` holds them.
    pub values: Array2<f64>,
    /// The feature columns themselves, when `values` was not built
    /// ([`FeatureMatrix::columns_of`]); empty otherwise.
    pub columns: Vec<Float64Array>,
}

impl FeatureMatrix {
    /// Converts feature batches (as returned by [`FeatureQuery::run`]) into one matrix.
    pub fn from_batches(batches: &[RecordBatch], n_features: usize) -> Self {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let assets = match batches {
            [b] => b.column(0).as_string::<i32>().clone(),
            _ => StringArray::from_iter(
                batches
                    .iter()
                    .flat_map(|b| b.column(0).as_string::<i32>().iter()),
            ),
        };
        let mut m = FeatureMatrix {
            assets,
            window_start: Vec::with_capacity(rows),
            window_end: Vec::with_capacity(rows),
            values: Array2::from_elem((rows, n_features), f64::NAN),
            columns: Vec::new(),
        };
        // written row by row into the row-major buffer (indexing the matrix per cell, column by
        // column, was a seventh of a window close over 50 k assets)
        let values = m
            .values
            .as_slice_mut()
            .unwrap_or_else(|| unreachable!("a fresh matrix is contiguous"));
        let mut r0 = 0;
        for b in batches {
            let n = b.num_rows();
            let ws = b.column(1).as_primitive::<TimestampMillisecondType>();
            let we = b.column(2).as_primitive::<TimestampMillisecondType>();
            m.window_start.extend_from_slice(&ws.values()[..n]);
            m.window_end.extend_from_slice(&we.values()[..n]);
            let cols: Vec<&vigil_operators::arrow::array::Float64Array> = (0..n_features)
                .map(|j| b.column(3 + j).as_primitive::<Float64Type>())
                .collect();
            let rows = values[r0 * n_features..(r0 + n) * n_features].chunks_exact_mut(n_features);
            // columns without nulls (the usual case) are copied without a validity test per cell
            let dense = cols.iter().all(|c| c.null_count() == 0);
            for (i, row) in rows.enumerate() {
                for (cell, col) in row.iter_mut().zip(&cols) {
                    if dense || col.is_valid(i) {
                        *cell = col.values()[i];
                    }
                }
            }
            r0 += n;
        }
        m
    }

    /// One feature batch's rows without the row-major copy of its values: what a close needs
    /// when only baselines read it, each one feature column ([`FeatureMatrix::value`]).
    pub fn columns_of(batch: &RecordBatch, n_features: usize) -> Self {
        let ws = batch.column(1).as_primitive::<TimestampMillisecondType>();
        let we = batch.column(2).as_primitive::<TimestampMillisecondType>();
        FeatureMatrix {
            assets: batch.column(0).as_string::<i32>().clone(),
            window_start: ws.values().to_vec(),
            window_end: we.values().to_vec(),
            values: Array2::zeros((0, n_features)),
            columns: (0..n_features)
                .map(|j| batch.column(3 + j).as_primitive::<Float64Type>().clone())
                .collect(),
        }
    }

    /// Feature `j` of row `i` (NaN where the SQL gave NULL or there is no such cell).
    pub fn value(&self, i: usize, j: usize) -> f64 {
        match self.columns.get(j) {
            Some(c) if i < c.len() && c.is_valid(i) => c.value(i),
            Some(_) => f64::NAN,
            None => self.values.get((i, j)).copied().unwrap_or(f64::NAN),
        }
    }

    /// Asset id of row `i` (a null id reads as "").
    pub fn asset(&self, i: usize) -> &str {
        if self.assets.is_valid(i) {
            self.assets.value(i)
        } else {
            ""
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.assets.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.assets.is_empty()
    }
}

/// One job's processing chain.
pub struct Engine {
    decoder: BatchDecoder,
    op: EventTimeOperator,
    features: FeatureQuery,
    model: Option<Arc<ModelArtifact>>,
    shadow: Option<Arc<ModelArtifact>>,
    top_features: usize,
    event_time: EventTimeConfig,
    /// Per-asset streaming baselines and their state.
    baselines: BaselineBank,
    /// The alert lifecycle of the active model and the baselines, and of the shadow model.
    lifecycle: Option<LifecycleBook>,
    shadow_lifecycle: Option<LifecycleBook>,
    /// Report every scored window in [`Step::scores`].
    keep_scores: bool,
    /// Operating-condition normalisation of readings before windowing (from the model).
    normaliser: Option<Arc<vigil_models::conditions::ConditionNormaliser>>,
    /// Last age scored per asset by a RUL model (active and shadow).
    rul_ages: HashMap<String, f64>,
    shadow_rul_ages: HashMap<String, f64>,
    /// Tracked assets and the event time of their newest reading (`[limits]`); looked up for
    /// every reading (`admit`), so hashed with foldhash, not SipHash.
    assets: HashMap<String, i64, foldhash::fast::RandomState>,
    limits: Limits,
    /// Watermark at which idle assets are looked for next.
    next_evict: Option<i64>,
    stats: Arc<JobStats>,
    /// Trace context of the input being processed (its `traceparent`), for alerts when there
    /// are no local spans.
    upstream_trace: Option<String>,
    /// Acknowledgements and silences (from the control topic; shared, replaced when it changes).
    control: Arc<crate::control::ControlBook>,
    /// Incremental snapshots: what the changelog holds of this engine's state.
    saved: SavedState,
    /// Open panes fold raw readings into partial states once they hold this many (and at least
    /// twice their partial rows); see [`Engine::set_fold_min_rows`].
    fold_min_rows: usize,
}

/// Default of [`Engine::set_fold_min_rows`].
pub const FOLD_MIN_ROWS: usize = 8192;

/// What incremental snapshots ([`Engine::snapshot_delta`]) already wrote.
#[derive(Debug, Default)]
struct SavedState {
    /// The keyed state (baselines, lifecycle, RUL ages, tracked assets) changed since it was
    /// last written. Readings accepted into open panes need not set it: restoring rebuilds the
    /// assets' newest event times from the panes.
    keyed_dirty: bool,
    /// Segments holding the keyed state as last written.
    keyed: Vec<String>,
    /// Number of the next keyed-state segment.
    next: u32,
    /// Size of the keyed state as last written, to size the next buffer.
    keyed_bytes: usize,
    /// Every segment the last head referred to (or that a restore found).
    live: std::collections::BTreeSet<String>,
}

/// An incremental snapshot of an engine's state: the head (small JSON naming its segments),
/// the segments new since the previous snapshot, and the segments no longer referred to.
/// Stored in that order (new segments, head, dropped ones), a crash at any point leaves the
/// previous or the new head readable with all its segments.
#[derive(Debug, Default)]
pub struct StateDelta {
    /// The head.
    pub head: Vec<u8>,
    /// New segments (name, bytes).
    pub put: Vec<(String, Vec<u8>)>,
    /// Segments to delete.
    pub drop: Vec<String>,
}

impl StateDelta {
    /// Bytes written by this delta.
    pub fn bytes(&self) -> usize {
        self.head.len() + self.put.iter().map(|(_, b)| b.len()).sum::<usize>()
    }
}

impl Engine {
    /// Builds the chain: plans the feature SQL and, if a model is given, checks it matches.
    pub async fn new(
        cfg: &JobConfig,
        model: Option<ModelArtifact>,
        stats: Arc<JobStats>,
    ) -> Result<Self, PipelineError> {
        let decoder = BatchDecoder::new(cfg.mapping.clone())?;
        let mut features = FeatureQuery::plan(&cfg.feature_sql, decoder.schema()).await?;
        if !cfg.native_aggregation {
            features = features.without_native();
        }
        if let Some(m) = &model {
            m.check_matches(features.feature_names(), features.fingerprint())?;
        }
        let mut baselines = Vec::new();
        for b in &cfg.baselines {
            let Some(j) = features
                .feature_names()
                .iter()
                .position(|n| *n == b.spec.feature)
            else {
                return Err(PipelineError::Data(format!(
                    "baseline on `{}`: the feature SQL has no such column (it gives: {})",
                    b.spec.feature,
                    features.feature_names().join(", ")
                )));
            };
            baselines.push((b.clone(), j));
        }
        Ok(Engine {
            baselines: BaselineBank::new(baselines, cfg.baseline_mode),
            lifecycle: cfg.lifecycle.map(LifecycleBook::new),
            shadow_lifecycle: cfg.lifecycle.map(LifecycleBook::new),
            keep_scores: false,
            normaliser: model
                .as_ref()
                .and_then(|m| m.normaliser.clone())
                .map(Arc::new),
            rul_ages: HashMap::new(),
            shadow_rul_ages: HashMap::new(),
            assets: HashMap::default(),
            limits: cfg.limits,
            next_evict: None,
            decoder,
            op: EventTimeOperator::new(cfg.event_time)?,
            features,
            model: model.map(Arc::new),
            shadow: None,
            top_features: cfg.top_features,
            event_time: cfg.event_time,
            stats,
            upstream_trace: None,
            control: Arc::default(),
            saved: SavedState::default(),
            fold_min_rows: FOLD_MIN_ROWS,
        })
    }

    /// Open panes of fixed windows keep at most about `max(n, 2 x assets)` raw readings: beyond
    /// that their first readings are folded into partial aggregate states (one row per asset)
    /// ahead of the window's close (two-phase feature SQL only). This bounds a tracked asset's
    /// buffered memory whatever the window length and rate. Folds depend only on each pane's
    /// rows in order, not on batching; `usize::MAX` turns folding off.
    pub fn set_fold_min_rows(&mut self, n: usize) {
        self.fold_min_rows = n.max(1);
    }

    /// Folds due panes (see [`Engine::set_fold_min_rows`]) until none is due.
    async fn fold_panes(&mut self) -> Result<(), PipelineError> {
        if !self.features.is_two_phase() || self.fold_min_rows == usize::MAX {
            return Ok(());
        }
        let rule = vigil_operators::windows::FoldRule {
            min_rows: self.fold_min_rows,
            geometric: !self.features.is_native(),
        };
        loop {
            let due = self.op.due_for_folding(rule);
            if due.is_empty() {
                return Ok(());
            }
            for f in due {
                // the pane's states move into the fold (a native fold updates their arrays in
                // place); a failed fold ends the engine's use, as any processing error does
                let partial = self.op.take_partial(f.start);
                match self.features.fold_states(partial, f.raw).await? {
                    Some(states) => self.op.fold(f.start, f.rows, states, rule),
                    None => {
                        return Err(PipelineError::Data(
                            "a fold needs a two-phase feature query".into(),
                        ))
                    }
                }
            }
        }
    }

    /// Replaces the control state (acks, silences); returns the UPDATE records of the firing
    /// alerts whose ack or silence it changes (jobs with a lifecycle; without one every alert
    /// is its own record and only later ones carry the change).
    pub fn apply_control(&mut self, book: Arc<crate::control::ControlBook>) -> Vec<Alert> {
        self.control = book;
        self.saved.keyed_dirty = true;
        let Some(l) = &mut self.lifecycle else {
            return Vec::new();
        };
        let ups = self.control.updates(l.firing(), now_ms());
        l.remember(&ups);
        ups
    }

    /// Sets the trace context of the input about to be processed (the first `traceparent` of
    /// the batch, or none): alerts carry it when no local span exists (no exporter).
    pub fn set_upstream_trace(&mut self, traceparent: Option<String>) {
        self.upstream_trace = traceparent;
    }

    /// The `traceparent` an alert produced under `span` carries: the span's own context, else
    /// the input's.
    fn trace_of(&self, span: &tracing::Span) -> Option<String> {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        crate::telemetry::trace::of_context(&span.context()).or_else(|| self.upstream_trace.clone())
    }

    /// Normalises readings with `n` before windowing from now on (training and backtests set
    /// it before a model exists; otherwise it comes with the model).
    pub fn set_normaliser(&mut self, n: Option<vigil_models::conditions::ConditionNormaliser>) {
        self.normaliser = n.map(Arc::new);
    }

    /// Reports every scored window in [`Step::scores`] from now on (backtests).
    pub fn keep_scores(&mut self, on: bool) {
        self.keep_scores = on;
    }

    /// The feature query (names, fingerprint).
    pub fn features(&self) -> &FeatureQuery {
        &self.features
    }

    /// The model in use, if any.
    pub fn model(&self) -> Option<&ModelArtifact> {
        self.model.as_deref()
    }

    /// Swaps the active model between batches (hot swap): windows closed from now on are
    /// scored by it; none is scored twice or skipped. Refused when its features do not match.
    pub fn set_model(&mut self, model: ModelArtifact) -> Result<(), PipelineError> {
        model.check_matches(self.features.feature_names(), self.features.fingerprint())?;
        if model.normaliser.is_some() {
            self.normaliser = model.normaliser.clone().map(Arc::new);
        }
        self.model = Some(Arc::new(model));
        self.saved.keyed_dirty = true;
        Ok(())
    }

    /// Sets or clears the shadow model (scored alongside, its alerts kept apart).
    pub fn set_shadow(&mut self, model: Option<ModelArtifact>) -> Result<(), PipelineError> {
        if let Some(m) = &model {
            m.check_matches(self.features.feature_names(), self.features.fingerprint())?;
        }
        self.shadow = model.map(Arc::new);
        self.saved.keyed_dirty = true;
        Ok(())
    }

    /// The shadow model, if any.
    pub fn shadow(&self) -> Option<&ModelArtifact> {
        self.shadow.as_deref()
    }

    /// The current watermark.
    pub fn watermark(&self) -> Option<i64> {
        self.op.watermark()
    }

    /// The event-time operator (watermarks, gauges, snapshots).
    pub fn event_time(&self) -> &EventTimeOperator {
        &self.op
    }

    /// Starts tracking newly assigned input sources (partitions).
    pub fn assign(&mut self, sources: impl IntoIterator<Item = u32>, wall: i64) {
        self.op.assign(sources, wall);
    }

    /// Stops tracking revoked input sources.
    pub fn revoke(&mut self, sources: impl IntoIterator<Item = u32>) {
        self.op.revoke(sources);
    }

    /// Notes a poll of `source` at `wall` that may have yielded no readings.
    pub fn touch(&mut self, source: u32, wall: i64) {
        self.op.touch(source, wall);
    }

    /// Readings buffered raw in open windows.
    pub fn buffered_rows(&self) -> usize {
        self.op.buffered_rows()
    }

    /// Decodes a batch of payloads; counts good and rejected records.
    pub fn decode<'a, I>(&self, payloads: I) -> Result<DecodeOutcome, PipelineError>
    where
        I: IntoIterator<Item = Option<&'a [u8]>>,
    {
        let out = self.decoder.decode(payloads)?;
        self.stats.record_decoded(out.batch.num_rows(), &out.dead);
        Ok(out)
    }

    /// The decoder (for history files).
    pub fn decoder(&self) -> &BatchDecoder {
        &self.decoder
    }

    /// Feeds a readings batch (`sources[i]`: input source of row `i`, `wall`: poll time), closes
    /// the windows the watermark passed, computes their features and scores them.
    /// Lateness is judged in record order (see [`EventTimeOperator::ingest_with`]), so the
    /// result does not depend on how the stream is cut into batches.
    pub async fn process(
        &mut self,
        batch: &RecordBatch,
        sources: &[u32],
        wall: i64,
    ) -> Result<Step, PipelineError> {
        let step = self.process_with(batch, sources, wall, true).await?;
        self.fold().await?;
        Ok(step)
    }

    /// [`Engine::process`] without folding open panes: the caller sends the step's alerts on
    /// first and then calls [`Engine::fold`], so a fold is never part of an alert's latency.
    /// The output is the same (folds are cut by row counts, not by batches).
    pub async fn process_unfolded(
        &mut self,
        batch: &RecordBatch,
        sources: &[u32],
        wall: i64,
    ) -> Result<Step, PipelineError> {
        self.process_with(batch, sources, wall, true).await
    }

    /// Folds the open panes that are due (see [`Engine::process_unfolded`]).
    pub async fn fold(&mut self) -> Result<(), PipelineError> {
        self.fold_panes().await
    }

    async fn process_with(
        &mut self,
        batch: &RecordBatch,
        sources: &[u32],
        wall: i64,
        record_order: bool,
    ) -> Result<Step, PipelineError> {
        let all_sources = sources;
        let normalised;
        let batch = match &self.normaliser {
            Some(n) => {
                normalised = crate::conditions::apply(n, batch)?;
                &normalised
            }
            None => batch,
        };
        let (admitted, kept, limited) = self.admit(batch)?;
        let sources: Vec<u32> = if limited.is_empty() {
            sources.to_vec()
        } else {
            kept.iter().map(|r| sources[*r as usize]).collect()
        };
        if !limited.is_empty() {
            let ts = vigil_operators::ts_values(batch)?;
            let mut newest: HashMap<u32, i64> = HashMap::new();
            for r in &limited {
                self.stats
                    .record_dead(vigil_schemas::RejectReason::AssetLimit);
                let e = newest.entry(all_sources[*r as usize]).or_insert(i64::MIN);
                *e = (*e).max(ts[*r as usize]);
            }
            for (src, t) in newest {
                self.op.note_event_time(src, t, wall);
            }
        }
        let ingest = self
            .op
            .ingest_with(&admitted, &sources, wall, record_order)?;
        self.stats.record_late(ingest.late_rows.len());
        self.stats.record_duplicates(ingest.duplicate_rows.len());
        // late and duplicate rows moved their assets' newest time without entering a pane
        if !ingest.late_rows.is_empty() || !ingest.duplicate_rows.is_empty() {
            self.saved.keyed_dirty = true;
        }
        let adv = self.op.advance(wall)?;
        let mut step = self.on_advanced(adv).await?;
        step.late_rows = ingest.late_rows.iter().map(|r| kept[*r as usize]).collect();
        step.duplicate_rows = ingest
            .duplicate_rows
            .iter()
            .map(|r| kept[*r as usize])
            .collect();
        step.limited_rows = limited;
        self.evict_idle();
        Ok(step)
    }

    /// Feeds a batch of a bounded input (a history file): one source, a wall clock that stands
    /// still (replaying is deterministic and the input is never idle), and lateness judged
    /// against the state before the batch, since a file's assets may each start over at an
    /// early time.
    pub async fn process_all(&mut self, batch: &RecordBatch) -> Result<Step, PipelineError> {
        let sources = vec![0u32; batch.num_rows()];
        let step = self.process_with(batch, &sources, 0, false).await?;
        self.fold().await?;
        Ok(step)
    }

    /// Advances the watermark by wall-clock time alone (a poll without readings).
    pub async fn tick(&mut self, wall: i64) -> Result<Step, PipelineError> {
        let adv = self.op.advance(wall)?;
        self.on_advanced(adv).await
    }

    /// Closes every open window (end of a bounded input).
    pub async fn flush(&mut self) -> Result<Step, PipelineError> {
        let adv = self.op.flush()?;
        self.on_advanced(adv).await
    }

    /// Tracks the assets of `batch` and drops the rows of assets beyond the limit; returns the
    /// admitted rows, their indices in `batch`, and the refused indices.
    fn admit(
        &mut self,
        batch: &RecordBatch,
    ) -> Result<(RecordBatch, Vec<u32>, Vec<u32>), PipelineError> {
        let n = batch.num_rows();
        let assets = batch
            .column_by_name(vigil_schemas::ASSET_COL)
            .and_then(|c| {
                c.as_any()
                    .downcast_ref::<vigil_operators::arrow::array::StringArray>()
            })
            .ok_or_else(|| PipelineError::Data("readings batch without asset ids".into()))?;
        let ts = vigil_operators::ts_values(batch)?;
        let mut keep = Vec::with_capacity(n);
        let mut limited = Vec::new();
        for (r, t) in ts.iter().enumerate().take(n) {
            let a = assets.value(r);
            let full = self.assets.len() >= self.limits.max_assets;
            let ok = match self.assets.get_mut(a) {
                Some(last) => {
                    *last = (*last).max(*t);
                    true
                }
                None if !full => {
                    self.assets.insert(a.to_string(), *t);
                    true
                }
                None => false,
            };
            if !ok {
                limited.push(r as u32);
            }
            keep.push(ok);
        }
        if limited.is_empty() {
            return Ok((batch.clone(), (0..n as u32).collect(), limited));
        }
        let kept: Vec<u32> = (0..n as u32).filter(|r| keep[*r as usize]).collect();
        let mask = vigil_operators::arrow::array::BooleanArray::from(keep);
        let filtered = vigil_operators::arrow::compute::filter_record_batch(batch, &mask)
            .map_err(|e| PipelineError::Data(format!("asset limit: {e}")))?;
        Ok((filtered, kept, limited))
    }

    /// Evicts assets without readings for `[limits] evict_after` of event time: their windows
    /// have closed; their baseline, RUL and data-quality state is dropped. Looked for each time
    /// the watermark moved an eighth of that on.
    fn evict_idle(&mut self) {
        let Some(wm) = self.op.watermark() else {
            return;
        };
        if self.next_evict.is_some_and(|n| wm < n) {
            return;
        }
        let after = self.limits.evict_after_ms;
        self.next_evict = Some(wm.saturating_add((after / 8).max(1)));
        let cutoff = wm.saturating_sub(after);
        let gone: Vec<String> = self
            .assets
            .iter()
            .filter(|(_, last)| **last < cutoff)
            .map(|(a, _)| a.clone())
            .collect();
        if !gone.is_empty() {
            self.saved.keyed_dirty = true;
        }
        for a in &gone {
            self.assets.remove(a);
            self.baselines.forget(a);
            if let Some(l) = &mut self.lifecycle {
                l.forget(a);
            }
            if let Some(l) = &mut self.shadow_lifecycle {
                l.forget(a);
            }
            self.rul_ages.remove(a);
            self.shadow_rul_ages.remove(a);
            self.op.forget_asset(a);
        }
        self.stats.record_evicted(gone.len());
    }

    /// Assets tracked (a memory gauge).
    pub fn tracked_assets(&self) -> usize {
        self.assets.len()
    }

    /// Per-asset state entries: baseline and RUL state, and data-quality sensors.
    pub fn state_entries(&self) -> usize {
        self.baselines.assets()
            + self.lifecycle.as_ref().map_or(0, |l| l.states.len())
            + self.rul_ages.len()
            + self.shadow_rul_ages.len()
            + self.op.tracked_sensors()
    }

    /// The keyed state (baselines, lifecycle, firing alerts, RUL ages, tracked assets) as JSON.
    fn keyed_json(&self) -> Result<Vec<u8>, PipelineError> {
        self.keyed_json_sized(0)
    }

    /// [`Engine::keyed_json`] into a buffer of `capacity` bytes (the last size: growing a
    /// several-MB buffer by doubling copied it over and over).
    fn keyed_json_sized(&self, capacity: usize) -> Result<Vec<u8>, PipelineError> {
        // written straight from the maps (keys in sorted order, as a `serde_json::Value` would
        // have them, so equal state gives equal bytes) without building a `Value` tree first:
        // building and dropping that tree was most of the changelog time per window close
        type Lifecycles = HashMap<String, vigil_models::lifecycle::LifecycleState>;
        #[derive(serde::Serialize)]
        struct Keyed<'a> {
            assets: Sorted<'a, i64, foldhash::fast::RandomState>,
            baselines: crate::alerting::BankStates<'a>,
            firing: Option<&'a std::collections::BTreeMap<String, vigil_schemas::Alert>>,
            lifecycle: Option<Sorted<'a, Lifecycles>>,
            rul_ages: Sorted<'a, f64>,
            shadow_lifecycle: Option<Sorted<'a, Lifecycles>>,
        }
        let mut out = Vec::with_capacity(capacity);
        serde_json::to_writer(
            &mut out,
            &Keyed {
                assets: Sorted(&self.assets),
                baselines: self.baselines.states(),
                firing: self.lifecycle.as_ref().map(|l| &l.firing),
                lifecycle: self.lifecycle.as_ref().map(|l| Sorted(&l.states)),
                rul_ages: Sorted(&self.rul_ages),
                shadow_lifecycle: self.shadow_lifecycle.as_ref().map(|l| Sorted(&l.states)),
            },
        )
        .map_err(|e| PipelineError::Data(format!("snapshot: {e}")))?;
        Ok(out)
    }

    /// The job's whole state as bytes: the event-time operator's snapshot and the keyed state,
    /// in one versioned JSON document (format 1).
    pub fn snapshot(&self) -> Result<Vec<u8>, PipelineError> {
        // the operator's snapshot (the bulk: buffered windows) is spliced in as it is, not
        // parsed into a `Value` and written again
        let op = self.op.snapshot()?;
        let keyed = self.keyed_json()?;
        splice_head(&op, 1, None, Some(&keyed))
    }

    /// An incremental snapshot (format 2): a head with the operator's small state and the
    /// names of its segments; as new segments, the readings and partial states stored since
    /// the previous call and, when it changed, the keyed state; as dropped, the segments
    /// nothing refers to any more. The bytes written per commit grow with the input since the
    /// last commit, not with the state held. Restore with [`Engine::restore_parts`].
    pub fn snapshot_delta(&mut self) -> Result<StateDelta, PipelineError> {
        let mut parts = vigil_operators::snapshot::Parts::default();
        let op = self.op.snapshot_parts(&mut parts)?;
        if self.op.pane_raw_batches().is_none() {
            // session windows: the assets' newest times cannot be rebuilt from panes
            self.saved.keyed_dirty = true;
        }
        if self.saved.keyed_dirty || self.saved.keyed.is_empty() {
            let keyed =
                self.keyed_json_sized(self.saved.keyed_bytes + self.saved.keyed_bytes / 8)?;
            self.saved.keyed_bytes = keyed.len();
            self.saved.keyed.clear();
            let seg = vigil_operators::snapshot::SEGMENT_BYTES;
            let chunks: Vec<Vec<u8>> = if keyed.len() <= seg {
                vec![keyed]
            } else {
                keyed.chunks(seg).map(<[u8]>::to_vec).collect()
            };
            for chunk in chunks {
                let name = format!("k.{}", self.saved.next);
                self.saved.next += 1;
                parts.put.push((name.clone(), chunk));
                self.saved.keyed.push(name);
            }
            self.saved.keyed_dirty = false;
        }
        parts.live.extend(self.saved.keyed.iter().cloned());
        let manifest = serde_json::json!({"keyed": self.saved.keyed, "next": self.saved.next});
        let head = splice_head(&op, 2, Some(&manifest), None)?;
        let live: std::collections::BTreeSet<String> = parts.live.into_iter().collect();
        let drop = self.saved.live.difference(&live).cloned().collect();
        self.saved.live = live;
        Ok(StateDelta {
            head,
            put: parts.put,
            drop,
        })
    }

    /// Replaces the job's state with a snapshot from [`Engine::snapshot`]; `wall` is the time
    /// consumption resumes, from which partition idleness is counted again.
    pub fn restore(&mut self, bytes: &[u8], wall: i64) -> Result<(), PipelineError> {
        self.restore_parts(bytes, &vigil_operators::snapshot::Segments::new(), wall)
    }

    /// Replaces the job's state with a head from [`Engine::snapshot_delta`] (or a whole
    /// [`Engine::snapshot`]) and the segments found with it. Segments the head does not name
    /// are dropped by the next delta.
    pub fn restore_parts(
        &mut self,
        bytes: &[u8],
        segments: &vigil_operators::snapshot::Segments,
        wall: i64,
    ) -> Result<(), PipelineError> {
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| PipelineError::Data(format!("not an engine snapshot: {e}")))?;
        let format = v["format"].as_u64().unwrap_or(1);
        if format > 2 {
            return Err(PipelineError::Data(format!(
                "engine snapshot format {format} was written by a newer Vigil; this one reads formats 1 and 2"
            )));
        }
        let op =
            serde_json::to_vec(&v["event_time"]).map_err(|e| PipelineError::Data(e.to_string()))?;
        self.op = EventTimeOperator::restore_parts(self.event_time, &op, segments)?;
        self.op.resume(wall);
        self.saved = SavedState::default();
        if format == 1 {
            self.load_keyed(&v)?;
        } else {
            let names: Vec<String> = serde_json::from_value(v["keyed"].clone())
                .map_err(|e| PipelineError::Data(format!("snapshot head: {e}")))?;
            let mut keyed = Vec::new();
            for n in &names {
                let b = segments.get(n).ok_or_else(|| {
                    PipelineError::Data(format!("snapshot segment `{n}` is missing"))
                })?;
                keyed.extend_from_slice(b);
            }
            if !self.load_keyed_typed(&keyed) {
                let k: serde_json::Value = serde_json::from_slice(&keyed)
                    .map_err(|e| PipelineError::Data(format!("snapshot keyed state: {e}")))?;
                self.load_keyed(&k)?;
            }
            // readings in open panes moved their assets' newest time after it was written
            if let Some(raw) = self.op.pane_raw_batches() {
                let mut newest: Vec<(String, i64)> = Vec::new();
                for b in raw {
                    let ts = vigil_operators::ts_values(b)?;
                    let Some(a) = b
                        .column_by_name(vigil_schemas::ASSET_COL)
                        .and_then(|c| c.as_string_opt::<i32>())
                    else {
                        continue;
                    };
                    for (i, t) in ts.iter().enumerate() {
                        match self.assets.get_mut(a.value(i)) {
                            Some(last) => *last = (*last).max(*t),
                            None => newest.push((a.value(i).to_string(), *t)),
                        }
                    }
                }
                for (a, t) in newest {
                    let e = self.assets.entry(a).or_insert(t);
                    *e = (*e).max(t);
                }
            }
            self.saved.keyed = names;
            self.saved.next = v["next"].as_u64().unwrap_or(0) as u32;
        }
        // everything found counts as written: what the head does not name is dropped next
        self.saved.live = segments.keys().cloned().collect();
        self.features.reset_sliding();
        Ok(())
    }

    /// Loads the keyed state straight into its maps, with no `serde_json::Value` tree in between
    /// (building, cloning and converting that tree was most of a restore at 100 k assets).
    /// `false`, with nothing changed, if the bytes do not have this version's shape: then
    /// [`Engine::load_keyed`] reads them, field by field and tolerantly.
    fn load_keyed_typed(&mut self, bytes: &[u8]) -> bool {
        type Lifecycles = HashMap<String, HashMap<String, vigil_models::lifecycle::LifecycleState>>;
        #[derive(serde::Deserialize)]
        struct Keyed {
            #[serde(default)]
            assets: HashMap<String, i64, foldhash::fast::RandomState>,
            baselines: HashMap<
                String,
                Vec<vigil_models::baselines::BaselineState>,
                foldhash::fast::RandomState,
            >,
            #[serde(default)]
            firing: Option<std::collections::BTreeMap<String, vigil_schemas::Alert>>,
            #[serde(default)]
            lifecycle: Option<Lifecycles>,
            #[serde(default)]
            rul_ages: HashMap<String, f64>,
            #[serde(default)]
            shadow_lifecycle: Option<Lifecycles>,
        }
        let k = match serde_json::from_slice::<Keyed>(bytes) {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(error = %e, "keyed state not in this version's shape: reading it field by field");
                return false;
            }
        };
        self.baselines.set_states(k.baselines);
        if let Some(b) = &mut self.lifecycle {
            b.states = k.lifecycle.unwrap_or_default();
            b.firing = k.firing.unwrap_or_default();
        }
        if let Some(b) = &mut self.shadow_lifecycle {
            b.states = k.shadow_lifecycle.unwrap_or_default();
        }
        self.rul_ages = k.rul_ages;
        self.assets = k.assets;
        true
    }

    /// Loads the keyed state from a snapshot's JSON (fields absent in older snapshots start
    /// empty).
    fn load_keyed(&mut self, v: &serde_json::Value) -> Result<(), PipelineError> {
        let states: HashMap<String, Vec<vigil_models::baselines::BaselineState>> =
            serde_json::from_value(v["baselines"].clone())
                .map_err(|e| PipelineError::Data(format!("snapshot baselines: {e}")))?;
        self.baselines.set_states(states);
        // absent in older snapshots (or jobs without a lifecycle): alerts open afresh
        for (book, key) in [
            (&mut self.lifecycle, "lifecycle"),
            (&mut self.shadow_lifecycle, "shadow_lifecycle"),
        ] {
            if let Some(b) = book {
                b.states = serde_json::from_value(v[key].clone()).unwrap_or_default();
            }
        }
        if let Some(b) = &mut self.lifecycle {
            b.firing = serde_json::from_value(v["firing"].clone()).unwrap_or_default();
        }
        self.rul_ages = serde_json::from_value(v["rul_ages"].clone()).unwrap_or_default();
        // absent in snapshots of older versions: assets are tracked again as they report
        self.assets = serde_json::from_value(v["assets"].clone()).unwrap_or_default();
        Ok(())
    }

    async fn on_advanced(&mut self, adv: Advanced) -> Result<Step, PipelineError> {
        let mut step = Step::default();
        if !adv.closed.is_empty() || !adv.quality.is_empty() {
            self.saved.keyed_dirty = true;
        }
        let mut partials: HashMap<i64, Vec<RecordBatch>> = HashMap::new();
        for w in adv.closed {
            let cache = match w.bounds {
                Bounds::Fixed(_) => Some(&mut partials),
                Bounds::PerAsset(_) => None,
            };
            let started = std::time::Instant::now();
            let cpu0 = crate::metrics::thread_cpu_s();
            let (ws, we) = match &w.bounds {
                Bounds::Fixed(b) => (b.start, b.end),
                Bounds::PerAsset(m) => (
                    m.values().map(|b| b.start).min().unwrap_or(0),
                    m.values().map(|b| b.end).max().unwrap_or(0),
                ),
            };
            let span = tracing::info_span!(
                "vigil.window",
                window_start = ws,
                window_end = we,
                assets = tracing::field::Empty,
                alerts = tracing::field::Empty,
            );
            let feats = self
                .features
                .run_owned(w, cache)
                .instrument(span.clone())
                .await?;
            span.record("assets", feats.num_rows());
            self.stats.record_window(feats.num_rows());
            let names = self.features.feature_names();
            // the row-major matrix only for a model; baselines read their feature's column
            let m = if self.model.is_some() || self.shadow.is_some() {
                FeatureMatrix::from_batches(std::slice::from_ref(&feats), names.len())
            } else {
                FeatureMatrix::columns_of(&feats, names.len())
            };
            // with a lifecycle (or scores kept) every scored window is a candidate
            let all = self.lifecycle.is_some() || self.keep_scores;
            let mut cands = Vec::new();
            if let Some(model) = &self.model {
                cands = score(model, &m, names, self.top_features, &mut self.rul_ages, all);
            }
            cands.extend(self.baselines.candidates(&m, all));
            if let Some(shadow) = &self.shadow {
                let c = score(
                    shadow,
                    &m,
                    names,
                    self.top_features,
                    &mut self.shadow_rul_ages,
                    all,
                );
                let mut shadow_alerts = decide(&mut self.shadow_lifecycle, c);
                let tp = self.trace_of(&span);
                shadow_alerts
                    .iter_mut()
                    .for_each(|a| a.traceparent = tp.clone());
                step.shadow_alerts.extend(shadow_alerts);
            }
            if self.keep_scores {
                step.scores.extend(cands.iter().cloned());
            }
            let mut alerts = decide(&mut self.lifecycle, cands);
            span.record("alerts", alerts.len());
            if !alerts.is_empty() {
                let tp = self.trace_of(&span);
                for a in alerts.iter_mut() {
                    a.traceparent = tp.clone();
                    self.control.annotate(a);
                }
                if let Some(l) = &mut self.lifecycle {
                    l.remember(&alerts);
                }
            }
            self.stats.record_scoring(started.elapsed().as_secs_f64());
            self.stats
                .scoring_cpu
                .observe(crate::metrics::thread_cpu_s() - cpu0);
            self.stats.record_alerts(alerts.len());
            step.alerts.extend(alerts);
            step.features.push(feats);
        }
        if !partials.is_empty() {
            self.op.absorb(partials);
        }
        let tp = (!adv.quality.is_empty())
            .then(|| self.trace_of(&tracing::Span::current()))
            .flatten();
        for q in &adv.quality {
            let mut a = quality_alert(q, &self.event_time);
            a.traceparent = tp.clone();
            self.control.annotate(&mut a);
            step.alerts.push(a);
        }
        self.stats.record_quality(adv.quality.len());
        Ok(step)
    }
}

/// Writes an engine snapshot head: `{"event_time": <op>, "format": n, ...}` with the
/// operator's JSON spliced in as it is (not parsed and written again), then the fields of
/// `manifest` and of `keyed` (JSON objects) when given.
fn splice_head(
    op: &[u8],
    format: u32,
    manifest: Option<&serde_json::Value>,
    keyed: Option<&[u8]>,
) -> Result<Vec<u8>, PipelineError> {
    if op.first() != Some(&b'{') {
        return Err(PipelineError::Data(
            "snapshot: the operator snapshot is not a JSON object".into(),
        ));
    }
    let mut out = Vec::with_capacity(op.len() + keyed.map_or(0, <[u8]>::len) + 64);
    out.extend_from_slice(b"{\"event_time\":");
    out.extend_from_slice(op);
    out.extend_from_slice(format!(",\"format\":{format}").as_bytes());
    let manifest = manifest
        .map(|m| serde_json::to_vec(m).map_err(|e| PipelineError::Data(e.to_string())))
        .transpose()?;
    for obj in [manifest.as_deref(), keyed].into_iter().flatten() {
        if !(obj.first() == Some(&b'{') && obj.last() == Some(&b'}')) {
            return Err(PipelineError::Data(
                "snapshot: a part is not a JSON object".into(),
            ));
        }
        if obj.len() > 2 {
            out.push(b',');
            out.extend_from_slice(&obj[1..obj.len() - 1]);
        }
    }
    out.push(b'}');
    Ok(out)
}

/// The alert for a data-quality finding.
pub fn quality_alert(q: &QualityEvent, cfg: &EventTimeConfig) -> Alert {
    let (problem, start, score, threshold) = match &q.problem {
        Problem::Silent {
            last_seen,
            silent_for_ms,
            wall_clock,
        } => {
            let limit = cfg.quality.silent_after_ms.unwrap_or(1).max(1) as f64;
            (
                QualityProblem::SilentSensor {
                    measurement: q.measurement.clone(),
                    last_seen: *last_seen,
                    silent_for_ms: *silent_for_ms,
                    wall_clock: *wall_clock,
                },
                *last_seen,
                *silent_for_ms as f64 / limit,
                1.0,
            )
        }
        Problem::Stuck {
            value,
            windows,
            since,
        } => {
            let limit = f64::from(cfg.quality.stuck_windows.unwrap_or(1).max(1));
            (
                QualityProblem::StuckSensor {
                    measurement: q.measurement.clone(),
                    value: *value,
                    windows: *windows,
                    since: *since,
                },
                *since,
                f64::from(*windows) / limit,
                1.0,
            )
        }
    };
    let detail = format!("{}/{}", problem.name(), q.measurement);
    Alert {
        schema_version: vigil_schemas::alert::ALERT_SCHEMA_VERSION,
        alert_id: Alert::make_id(&q.asset_id, start, AlertKind::DataQuality, &detail),
        kind: AlertKind::DataQuality,
        asset_id: q.asset_id.clone(),
        window_start: start,
        window_end: q.at,
        score,
        threshold,
        model: None,
        quality: Some(problem),
        rul: None,
        top_features: Vec::new(),
        emitted_at: now_ms(),
        state: None,
        severity: None,
        ack: None,
        silence: None,
        traceparent: None,
    }
}

/// The alerts among candidates: the lifecycle's transitions, or without one every candidate
/// over its threshold.
fn decide(lifecycle: &mut Option<LifecycleBook>, cands: Vec<Alert>) -> Vec<Alert> {
    match lifecycle {
        Some(book) => book.apply(cands),
        None => cands
            .into_iter()
            .filter(|a| a.score > a.threshold)
            .collect(),
    }
}

/// Scores feature rows and returns the alerts for rows over the model's threshold (for every
/// scored row with `all`: the candidates of a lifecycle).
///
/// A remaining-useful-life model scores only the *current* row of each asset: the first window
/// in which the asset's age feature reached a new value (`ages` remembers the last age scored
/// per asset), so the windows that still hold an asset after it stopped reporting are not
/// scored again. Its alerts have kind `rul` and carry the predicted life.
pub fn score(
    model: &ModelArtifact,
    m: &FeatureMatrix,
    names: &[String],
    top_k: usize,
    ages: &mut HashMap<String, f64>,
    all: bool,
) -> Vec<Alert> {
    let det = model.scorer();
    let rul = model.detector.rul();
    let kind = if rul.is_some() {
        AlertKind::Rul
    } else {
        AlertKind::Anomaly
    };
    let emitted_at = now_ms();
    let mut alerts = Vec::new();
    for (i, row) in m.values.rows().into_iter().enumerate() {
        if let Some(r) = rul {
            let age = row[r.age_feature];
            let last = match ages.get_mut(m.asset(i)) {
                Some(last) => last,
                None => ages
                    .entry(m.asset(i).to_string())
                    .or_insert(f64::NEG_INFINITY),
            };
            if !(age > *last) {
                continue;
            }
            *last = age;
        }
        let s = det.score(row);
        if !all && !(s.score > model.threshold) {
            continue;
        }
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_by(|a, b| s.contributions[*b].total_cmp(&s.contributions[*a]));
        let top_features = order
            .into_iter()
            .filter(|j| s.contributions[*j] > 0.0)
            .take(top_k)
            .map(|j| Contribution {
                feature: names[j].clone(),
                value: row[j],
                share: s.contributions[j],
                normal_low: det.normal_range(j).0,
                normal_high: det.normal_range(j).1,
                z: det.z_score(j, row[j]),
            })
            .collect();
        alerts.push(Alert {
            schema_version: vigil_schemas::alert::ALERT_SCHEMA_VERSION,
            alert_id: Alert::make_id(m.asset(i), m.window_start[i], kind, &model.version),
            kind,
            asset_id: m.asset(i).to_string(),
            window_start: m.window_start[i],
            window_end: m.window_end[i],
            score: s.score,
            threshold: model.threshold,
            model: Some(ModelRef {
                name: model.name.clone(),
                version: model.version.clone(),
            }),
            quality: None,
            rul: rul.map(|r| r.predict(row)),
            top_features,
            emitted_at,
            state: None,
            severity: None,
            ack: None,
            silence: None,
            traceparent: None,
        });
    }
    alerts
}

/// Wall-clock now, UTC ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// A map serialised with its keys in sorted order (nested hash maps too), so the bytes do not
/// depend on the hash map's iteration order.
struct Sorted<'a, V, H = std::collections::hash_map::RandomState>(&'a HashMap<String, V, H>);

impl<V: SortedValue, H> serde::Serialize for Sorted<'_, V, H> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut entries: Vec<(&String, &V)> = self.0.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut m = s.serialize_map(Some(entries.len()))?;
        for (k, v) in entries {
            m.serialize_entry(k, &SortedRef(v))?;
        }
        m.end()
    }
}

/// A value of a [`Sorted`] map: nested hash maps are sorted too, anything else is as it is.
trait SortedValue {
    fn write<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error>;
}

struct SortedRef<'a, V>(&'a V);

impl<V: SortedValue> serde::Serialize for SortedRef<'_, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.write(s)
    }
}

impl<V: SortedValue> SortedValue for HashMap<String, V> {
    fn write<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&Sorted(self), s)
    }
}

macro_rules! sorted_as_is {
    ($($t:ty),*) => {$(
        impl SortedValue for $t {
            fn write<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serde::Serialize::serialize(self, s)
            }
        }
    )*};
}
sorted_as_is!(
    i64,
    f64,
    Vec<vigil_models::baselines::BaselineState>,
    vigil_models::lifecycle::LifecycleState
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_maps_write_the_bytes_a_json_value_would() {
        let mut nested: HashMap<String, HashMap<String, f64>> = HashMap::new();
        let mut flat: HashMap<String, i64> = HashMap::new();
        for i in 0..300u32 {
            let k = format!("asset-{}", i.wrapping_mul(2_654_435_761) % 1000);
            flat.insert(k.clone(), i64::from(i) * 7 - 900);
            let inner = nested.entry(k).or_default();
            for j in 0..(i % 4) {
                inner.insert(format!("m{}", (i + j * 13) % 9), f64::from(i) / 3.0);
            }
        }
        nested.insert(String::new(), HashMap::new());
        let direct = serde_json::to_vec(&Sorted(&flat)).expect("direct");
        let via_value = serde_json::to_vec(&serde_json::to_value(&flat).expect("value"));
        assert_eq!(direct, via_value.expect("value bytes"));
        let direct = serde_json::to_vec(&Sorted(&nested)).expect("direct");
        let via_value = serde_json::to_vec(&serde_json::to_value(&nested).expect("value"));
        assert_eq!(direct, via_value.expect("value bytes"));
    }

    /// A feature batch as `FeatureQuery::run` shapes it: asset, window bounds, then features;
    /// feature `j` of row `i` is null when `(i + j) % 3 == 0`.
    fn feature_batch(rows: usize, features: usize, first: usize) -> RecordBatch {
        use vigil_operators::arrow::array::{
            ArrayRef, Float64Array, StringArray, TimestampMillisecondArray,
        };
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                (0..rows).map(|i| format!("a{}", first + i)),
            )),
            Arc::new(TimestampMillisecondArray::from_iter_values(
                (0..rows).map(|i| (first + i) as i64),
            )),
            Arc::new(TimestampMillisecondArray::from_iter_values(
                (0..rows).map(|i| (first + i) as i64 + 500),
            )),
        ];
        for j in 0..features {
            cols.push(Arc::new(Float64Array::from_iter((0..rows).map(|i| {
                ((i + j) % 3 != 0).then_some(((first + i) * 100 + j) as f64)
            }))));
        }
        RecordBatch::try_from_iter(
            cols.into_iter()
                .enumerate()
                .map(|(k, c)| (format!("c{k}"), c)),
        )
        .expect("batch")
    }

    #[test]
    fn the_feature_matrix_holds_every_cell_of_every_batch_in_row_order() {
        let (nf, sizes) = (4, [5, 0, 7]);
        let mut first = 0;
        let batches: Vec<RecordBatch> = sizes
            .iter()
            .map(|n| {
                let b = feature_batch(*n, nf, first);
                first += n;
                b
            })
            .collect();
        let m = FeatureMatrix::from_batches(&batches, nf);
        assert_eq!(m.len(), 12);
        // the reference: cell by cell from the batch that holds the row
        let mut r = 0;
        for b in &batches {
            for i in 0..b.num_rows() {
                assert_eq!(m.asset(r), format!("a{r}"));
                assert_eq!(
                    (m.window_start[r], m.window_end[r]),
                    (r as i64, r as i64 + 500)
                );
                for j in 0..nf {
                    let col = b.column(3 + j).as_primitive::<Float64Type>();
                    let want = if col.is_valid(i) {
                        col.value(i)
                    } else {
                        f64::NAN
                    };
                    let got = m.values[(r, j)];
                    assert!(got == want || (got.is_nan() && want.is_nan()), "({r}, {j})");
                }
                r += 1;
            }
        }
        assert!(m.values[(0, 0)].is_nan() && m.values[(1, 0)] == 100.0);
    }

    /// The column view of one batch reads every cell, id and bound the matrix holds.
    #[test]
    fn the_column_view_reads_what_the_matrix_holds() {
        let (nf, b) = (3, feature_batch(9, 3, 4));
        let (m, v) = (
            FeatureMatrix::from_batches(std::slice::from_ref(&b), nf),
            FeatureMatrix::columns_of(&b, nf),
        );
        assert_eq!((v.len(), v.values.nrows()), (9, 0));
        assert_eq!(
            (&v.window_start, &v.window_end),
            (&m.window_start, &m.window_end)
        );
        for i in 0..9 {
            assert_eq!(v.asset(i), m.asset(i));
            for j in 0..nf {
                let (got, want) = (v.value(i, j), m.value(i, j));
                assert!(got == want || (got.is_nan() && want.is_nan()), "({i}, {j})");
            }
        }
        assert!(v.value(0, 0).is_nan() && v.value(1, 0) == 500.0);
        assert!(v.value(0, nf).is_nan() && v.value(9, 0).is_nan());
    }
}
