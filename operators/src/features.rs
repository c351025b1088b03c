//! The feature SQL: planned once on DataFusion, executed for every closed window.
//!
//! Owns the DataFusion [`SessionContext`] of a job, the `readings` table the SQL reads, the
//! optimized plans, and the shape check on the SQL's output: one row per asset with an
//! `asset_id` column and numeric feature columns. The output batch gains `window_start` /
//! `window_end` columns and every feature is cast to `Float64`.
//!
//! **Two-phase (pane) execution.** When the SQL is a single grouped aggregation over row-wise
//! operators (projections and filters), its physical plan is split once at the aggregate into a
//! *partial* plan (readings -> partial aggregate states per group) and a *final* plan (partial
//! states -> the SQL's output). Each pane's readings go through the partial plan once; a window
//! merges its panes' states through the final plan. This is what keeps hopping windows' cost per
//! reading independent of `size / slide`, and it needs every aggregate (built-in or Vigil's own)
//! to have a correct state and merge. Any other SQL shape (window functions, joins, nested
//! aggregates, LIMIT) runs whole over the window's readings, re-planned per window.
//! The physical optimizer's `aggregate_statistics` rule is off: plans are reused over different
//! data, so answers must never be taken from the statistics of the data present at planning.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch, TimestampMillisecondArray};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::MemTable;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::memory::{DataSourceExec, MemorySourceConfig};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use sha2::{Digest, Sha256};
use vigil_schemas::ASSET_COL;

mod native;

use crate::windows::{Bounds, ClosedWindow};
use crate::OperatorError;

/// Name of the table the feature SQL reads.
pub const READINGS_TABLE: &str = "readings";
/// Column added to feature batches: window start (UTC ms, inclusive).
pub const WINDOW_START_COL: &str = "window_start";
/// Column added to feature batches: window end (UTC ms, exclusive).
pub const WINDOW_END_COL: &str = "window_end";

/// Fingerprint of a feature SQL text: SHA-256 of the text with whitespace runs collapsed and a
/// trailing `;` removed, so formatting changes do not invalidate a model but any real edit does.
pub fn sql_fingerprint(sql: &str) -> String {
    let normalized = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let normalized = normalized.trim_end_matches(';').trim_end();
    let digest = Sha256::digest(normalized.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The parts of a split aggregation plan.
struct Split {
    /// Readings (memory leaf) -> partial states.
    partial: Arc<dyn ExecutionPlan>,
    /// Partial states (memory leaf) -> fewer partial states, one row per group.
    reduce: Arc<dyn ExecutionPlan>,
    /// Partial states (memory leaf) -> the SQL's output.
    finish: Arc<dyn ExecutionPlan>,
}

/// Two-stacks sliding aggregate over the pane states of consecutive fixed windows, so a window
/// close merges about three state sets whatever the number of panes per window. The panes of
/// the current chain are split into a *front* (oldest first; `front[i]` is the merged state of
/// panes `i..front.len()`) and a *back* (`back` is the merged state of the rest, `back_panes`
/// their own states). A window's result is `front[0]` merged with `back`. Evicting the oldest
/// pane pops `front` (flipping the back into suffix states when the front is empty); adding a
/// pane merges it into `back`. A pane is identified by its start and its number of state
/// batches, so a pane that gained late readings breaks the chain and it is rebuilt.
#[derive(Default)]
struct Sliding {
    ids: std::collections::VecDeque<(i64, usize)>,
    front: std::collections::VecDeque<Vec<RecordBatch>>,
    back: Option<Vec<RecordBatch>>,
    back_panes: Vec<Vec<RecordBatch>>,
}

/// A job's feature SQL, planned once against the readings schema.
pub struct FeatureQuery {
    ctx: SessionContext,
    plan: LogicalPlan,
    slot: Arc<MemTable>,
    split: Option<Split>,
    /// The whole physical plan, when it has a single in-memory leaf (reused for one-pane
    /// windows: tumbling windows need no partial states).
    whole: Option<Arc<dyn ExecutionPlan>>,
    sliding: std::sync::Mutex<Sliding>,
    /// The split plan's native form (common aggregates of measurements by asset).
    native: Option<native::Native>,
    feature_names: Vec<String>,
    output_schema: SchemaRef,
    fingerprint: String,
}

impl std::fmt::Debug for FeatureQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureQuery")
            .field("features", &self.feature_names)
            .finish_non_exhaustive()
    }
}

impl FeatureQuery {
    /// Parses, checks and optimizes `sql` against `readings_schema`.
    pub async fn plan(sql: &str, readings_schema: SchemaRef) -> Result<Self, OperatorError> {
        // Windows are small and the job is already parallel across partitions: one target
        // partition avoids repartitioning overhead for every window.
        let config = SessionConfig::new()
            .with_target_partitions(1)
            .with_batch_size(8192);
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .build();
        let rules: Vec<_> = state
            .physical_optimizers()
            .iter()
            .filter(|r| r.name() != "aggregate_statistics")
            .cloned()
            .collect();
        let state = SessionStateBuilder::new_from_existing(state)
            .with_physical_optimizer_rules(rules)
            .build();
        let ctx = SessionContext::new_with_state(state);
        crate::functions::register_all(&ctx);
        let table = Arc::new(MemTable::try_new(readings_schema.clone(), vec![vec![]])?);
        ctx.register_table(READINGS_TABLE, table.clone())?;
        let df = ctx.sql(sql).await?;
        let plan = df.into_optimized_plan()?;
        let sql_schema = plan.schema().as_arrow().clone();

        match sql_schema.field_with_name(ASSET_COL) {
            Ok(f)
                if matches!(
                    f.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) => {}
            Ok(f) => {
                return Err(OperatorError::FeatureSql(format!(
                    "column `{ASSET_COL}` must be a string, the SQL gives {}",
                    f.data_type()
                )))
            }
            Err(_) => {
                return Err(OperatorError::FeatureSql(format!(
                "the SQL must select `{ASSET_COL}` and GROUP BY it (one row per asset per window)"
            )))
            }
        }
        let mut feature_names = Vec::new();
        for f in sql_schema.fields() {
            if f.name() == ASSET_COL {
                continue;
            }
            if f.name() == WINDOW_START_COL || f.name() == WINDOW_END_COL {
                return Err(OperatorError::FeatureSql(format!(
                    "column name `{}` is reserved",
                    f.name()
                )));
            }
            if !f.data_type().is_numeric() && f.data_type() != &DataType::Boolean {
                return Err(OperatorError::FeatureSql(format!(
                    "feature `{}` must be numeric, the SQL gives {}",
                    f.name(),
                    f.data_type()
                )));
            }
            feature_names.push(f.name().clone());
        }
        if feature_names.is_empty() {
            return Err(OperatorError::FeatureSql(
                "the SQL selects no feature column".into(),
            ));
        }
        let ts_type = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        let mut fields = vec![
            Field::new(ASSET_COL, DataType::Utf8, false),
            Field::new(WINDOW_START_COL, ts_type.clone(), false),
            Field::new(WINDOW_END_COL, ts_type, false),
        ];
        fields.extend(
            feature_names
                .iter()
                .map(|n| Field::new(n, DataType::Float64, true)),
        );
        let physical = ctx.state().create_physical_plan(&plan).await?;
        let split = split_plan(&physical)?;
        let native = match &split {
            Some(s) => native::Native::recognize(&physical, &readings_schema, s.partial.schema())?,
            None => None,
        };
        let whole = (split.is_some() && memory_leaves(&physical)? == 1).then_some(physical);
        Ok(FeatureQuery {
            ctx,
            plan,
            slot: table,
            split,
            whole,
            sliding: std::sync::Mutex::new(Sliding::default()),
            native,
            feature_names,
            output_schema: Arc::new(Schema::new(fields)),
            fingerprint: sql_fingerprint(sql),
        })
    }

    /// Feature column names, in SQL order.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// Fingerprint of the SQL (see [`sql_fingerprint`]).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Schema of the batches [`FeatureQuery::run`] returns.
    pub fn output_schema(&self) -> SchemaRef {
        self.output_schema.clone()
    }

    /// True when the SQL runs in two phases (partial states per pane, merged per window).
    pub fn is_two_phase(&self) -> bool {
        self.split.is_some()
    }

    /// True when the two phases run natively (`features/native.rs`) instead of on DataFusion's
    /// hash aggregation.
    pub fn is_native(&self) -> bool {
        self.native.is_some()
    }

    /// How many native folds and closes reused the index of the state batch they merged first
    /// (the pane's previous fold) instead of hashing its asset ids again.
    pub fn native_index_reuses(&self) -> u64 {
        self.native.as_ref().map_or(0, native::Native::adoptions)
    }

    /// The same query with its phases on DataFusion even where they could run natively (for
    /// side-by-side benchmarks and equivalence tests).
    pub fn without_native(mut self) -> Self {
        self.native = None;
        self
    }

    /// Runs the SQL over one closed window: one output row per asset. In two-phase mode, panes'
    /// raw readings are reduced to partial states first; states computed here are added to
    /// `new_partials` under the pane start (when given) so the caller can hand them back to the
    /// window store and later windows reuse them.
    pub async fn run(
        &self,
        window: &ClosedWindow,
        mut new_partials: Option<&mut HashMap<i64, Vec<RecordBatch>>>,
    ) -> Result<RecordBatch, OperatorError> {
        let one_raw_pane = match window.panes.as_slice() {
            [p] => p.partial.is_empty(),
            _ => false,
        };
        // Natively, a window of one pane that no later window reuses (every tumbling window)
        // finishes from its folded states and its readings in one pass: the states' index is
        // reused, and only the readings are hashed.
        if let Some(n) = self.one_pane_native(window) {
            let pane = &window.panes[0];
            let out = n.finish(&self.ctx, pane.partial.clone(), &pane.raw).await?;
            return self.shape_output(out, &window.bounds);
        }
        let out = match (&self.split, &self.whole, &self.native) {
            // A window of one pane that has no partial states yet (every tumbling window): run
            // the whole plan over its readings; nothing needs to be kept for later windows.
            (Some(_), Some(whole), None) if one_raw_pane => {
                execute(&self.ctx, whole, window.raw_batches().cloned().collect()).await?
            }
            (Some(split), _, _) => {
                let mut per_pane: Vec<(i64, Vec<RecordBatch>)> = Vec::new();
                for pane in &window.panes {
                    let mut states: Vec<RecordBatch> = pane.partial.clone();
                    if !pane.raw.is_empty() {
                        if let Some(cached) =
                            new_partials.as_deref().and_then(|m| m.get(&pane.start))
                        {
                            states.extend(cached.iter().cloned());
                        } else {
                            let part = self
                                .partial_states(&split.partial, pane.raw.clone())
                                .await?;
                            states.extend(part.iter().cloned());
                            if let Some(m) = new_partials.as_deref_mut() {
                                m.insert(pane.start, part);
                            }
                        }
                    }
                    per_pane.push((pane.start, states));
                }
                // Tumbling windows share no pane: keeping their states would only hold memory.
                let states = match (&window.bounds, new_partials.is_some()) {
                    (Bounds::Fixed(w), true) if window.panes_reused => {
                        self.slide_to(split, w.start, per_pane).await?
                    }
                    _ => per_pane.into_iter().flat_map(|(_, s)| s).collect(),
                };
                match &self.native {
                    Some(n) => n.finish(&self.ctx, states, &[]).await?,
                    None => execute(&self.ctx, &split.finish, states).await?,
                }
            }
            (None, _, _) => {
                if window.panes.iter().any(|p| !p.partial.is_empty()) {
                    return Err(OperatorError::FeatureSql(
                        "partial states given to a single-phase query".into(),
                    ));
                }
                self.run_whole(window.raw_batches().cloned().collect())
                    .await?
            }
        };
        self.shape_output(out, &window.bounds)
    }

    /// [`FeatureQuery::run`] over a window it may consume: a tumbling window's pane states
    /// (held by nothing else once the pane store dropped its closed pane) then become the
    /// native close's accumulators without a copy.
    pub async fn run_owned(
        &self,
        mut window: ClosedWindow,
        new_partials: Option<&mut HashMap<i64, Vec<RecordBatch>>>,
    ) -> Result<RecordBatch, OperatorError> {
        if let Some(n) = self.one_pane_native(&window) {
            if let Some(pane) = window.panes.pop() {
                let out = n.finish(&self.ctx, pane.partial, &pane.raw).await?;
                return self.shape_output(out, &window.bounds);
            }
        }
        self.run(&window, new_partials).await
    }

    /// The native query, when `window` is one pane no later window reuses (a tumbling window)
    /// of a two-phase query: it finishes from that pane alone.
    fn one_pane_native(&self, window: &ClosedWindow) -> Option<&native::Native> {
        match (&self.split, &self.native) {
            (Some(_), Some(n)) if window.panes.len() == 1 && !window.panes_reused => Some(n),
            _ => None,
        }
    }

    /// Runs the whole SQL over the window's raw readings, ignoring the two-phase split (what an
    /// engine without panes does; for benchmarks and equivalence tests).
    pub async fn run_single_phase(
        &self,
        window: &ClosedWindow,
    ) -> Result<RecordBatch, OperatorError> {
        if window.panes.iter().any(|p| !p.partial.is_empty()) {
            return Err(OperatorError::FeatureSql(
                "window has partial states, not raw readings".into(),
            ));
        }
        let raw: Vec<RecordBatch> = window.raw_batches().cloned().collect();
        let out = match &self.whole {
            Some(whole) => execute(&self.ctx, whole, raw).await?,
            None => self.run_whole(raw).await?,
        };
        self.shape_output(out, &window.bounds)
    }

    /// Moves the sliding aggregate to the window starting at `start` with panes `panes` (start,
    /// states); returns the merged states of the window (at most two state sets).
    async fn slide_to(
        &self,
        split: &Split,
        start: i64,
        panes: Vec<(i64, Vec<RecordBatch>)>,
    ) -> Result<Vec<RecordBatch>, OperatorError> {
        let mut sl = self
            .sliding
            .lock()
            .map(|mut g| std::mem::take(&mut *g))
            .unwrap_or_default();
        // Evict panes that left the window.
        while sl.ids.front().is_some_and(|(p, _)| *p < start) {
            if sl.front.is_empty() {
                self.flip(split, &mut sl).await?;
            }
            sl.front.pop_front();
            sl.ids.pop_front();
        }
        let ids: Vec<(i64, usize)> = panes.iter().map(|(p, s)| (*p, s.len())).collect();
        let ids: Vec<(i64, usize)> = ids
            .into_iter()
            .zip(&panes)
            .map(|((p, n), (_, s))| (p, n ^ (state_identity(s) << 16)))
            .collect();
        let kept = sl.ids.len();
        if kept > ids.len() || sl.ids.iter().zip(&ids).any(|(a, b)| a != b) {
            sl = Sliding::default();
        }
        let kept = sl.ids.len().min(kept);
        for (id, (_, states)) in ids.into_iter().zip(panes).skip(kept) {
            sl.ids.push_back(id);
            sl.back = Some(match sl.back.take() {
                None => states.clone(),
                Some(mut b) => {
                    b.extend(states.iter().cloned());
                    self.reduce(split, b).await?
                }
            });
            sl.back_panes.push(states);
        }
        let mut out: Vec<RecordBatch> = sl.front.front().cloned().unwrap_or_default();
        out.extend(sl.back.iter().flatten().cloned());
        if let Ok(mut g) = self.sliding.lock() {
            *g = sl;
        }
        Ok(out)
    }

    /// Moves every back pane to the front as suffix states.
    async fn flip(&self, split: &Split, sl: &mut Sliding) -> Result<(), OperatorError> {
        let mut suffix: Option<Vec<RecordBatch>> = None;
        let mut front = std::collections::VecDeque::new();
        for states in std::mem::take(&mut sl.back_panes).into_iter().rev() {
            let merged = match suffix.take() {
                None => states,
                Some(mut s) => {
                    s.extend(states);
                    self.reduce(split, s).await?
                }
            };
            front.push_front(merged.clone());
            suffix = Some(merged);
        }
        sl.front = front;
        sl.back = None;
        Ok(())
    }

    async fn reduce(
        &self,
        split: &Split,
        states: Vec<RecordBatch>,
    ) -> Result<Vec<RecordBatch>, OperatorError> {
        if let Some(n) = &self.native {
            return Ok(vec![n.reduce(states, &[])?]);
        }
        let plan = with_leaf(&split.reduce, states)?;
        Ok(datafusion::physical_plan::collect(plan, self.ctx.task_ctx()).await?)
    }

    /// Folds readings into a pane's partial states ahead of its window's close (two-phase mode
    /// only, else `None`): the states of `raw`, merged after `partial` into one row per group.
    /// Folding the same rows in the same order always gives the same states.
    pub async fn fold_states(
        &self,
        partial: Vec<RecordBatch>,
        raw: Vec<RecordBatch>,
    ) -> Result<Option<Vec<RecordBatch>>, OperatorError> {
        let Some(split) = &self.split else {
            return Ok(None);
        };
        if let Some(n) = &self.native {
            return Ok(Some(vec![n.reduce(partial, &raw)?]));
        }
        let states = self.partial_states(&split.partial, raw).await?;
        if partial.is_empty() {
            return Ok(Some(states));
        }
        let mut all = partial;
        all.extend(states);
        Ok(Some(self.reduce(split, all).await?))
    }

    /// Forgets the sliding aggregate (after the window state was replaced, e.g. restored).
    pub fn reset_sliding(&self) {
        if let Ok(mut g) = self.sliding.lock() {
            *g = Sliding::default();
        }
    }

    /// Reduces readings to partial aggregate states (two-phase mode only).
    async fn partial_states(
        &self,
        partial: &Arc<dyn ExecutionPlan>,
        raw: Vec<RecordBatch>,
    ) -> Result<Vec<RecordBatch>, OperatorError> {
        if let Some(n) = &self.native {
            return Ok(vec![n.reduce(Vec::new(), &raw)?]);
        }
        let plan = with_leaf(partial, raw)?;
        Ok(datafusion::physical_plan::collect(plan, self.ctx.task_ctx()).await?)
    }

    async fn run_whole(&self, batches: Vec<RecordBatch>) -> Result<RecordBatch, OperatorError> {
        {
            let mut data = self.slot.batches[0].write().await;
            data.clear();
            data.extend(batches);
        }
        let physical = self.ctx.state().create_physical_plan(&self.plan).await;
        let parts = match physical {
            Ok(p) => datafusion::physical_plan::collect(p, self.ctx.task_ctx()).await,
            Err(e) => Err(e),
        };
        self.slot.batches[0].write().await.clear();
        let sql_schema = Arc::new(self.plan.schema().as_arrow().clone());
        Ok(concat_batches(&sql_schema, &parts?)?)
    }

    fn shape_output(
        &self,
        out: RecordBatch,
        bounds: &Bounds,
    ) -> Result<RecordBatch, OperatorError> {
        let asset = out
            .column_by_name(ASSET_COL)
            .ok_or_else(|| OperatorError::FeatureSql(format!("output lost `{ASSET_COL}`")))?;
        let asset = cast(asset, &DataType::Utf8)?;
        let names = asset.as_string::<i32>();
        let mut starts = Vec::with_capacity(out.num_rows());
        let mut ends = Vec::with_capacity(out.num_rows());
        for i in 0..out.num_rows() {
            let w = bounds.of(names.value(i)).ok_or_else(|| {
                OperatorError::FeatureSql(format!(
                    "the SQL returned asset `{}` that is not in the window",
                    names.value(i)
                ))
            })?;
            starts.push(w.start);
            ends.push(w.end);
        }
        let mut cols: Vec<ArrayRef> = vec![
            asset.clone(),
            Arc::new(TimestampMillisecondArray::from(starts).with_timezone("UTC")),
            Arc::new(TimestampMillisecondArray::from(ends).with_timezone("UTC")),
        ];
        for name in &self.feature_names {
            let col = out.column_by_name(name).ok_or_else(|| {
                OperatorError::FeatureSql(format!("output lost feature `{name}`"))
            })?;
            cols.push(cast(col, &DataType::Float64)?);
        }
        Ok(RecordBatch::try_new(self.output_schema.clone(), cols)?)
    }
}

/// Splits a physical plan with exactly one single-phase grouped aggregate over row-wise
/// operators into partial and final halves; `None` when the plan has another shape.
fn split_plan(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Split>, OperatorError> {
    let mut aggs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
    plan.apply(|node| {
        if node.is::<AggregateExec>() {
            aggs.push(node.clone());
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    })?;
    let [agg_node] = aggs.as_slice() else {
        return Ok(None);
    };
    let Some(agg) = agg_node.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    if *agg.mode() != AggregateMode::Single
        || agg.group_expr().is_empty()
        || agg.group_expr().has_grouping_set()
        || agg.aggr_expr().iter().any(|a| !a.order_bys().is_empty())
    {
        return Ok(None);
    }
    // Only row-wise operators below the aggregate: reducing any subset of rows is then valid.
    let mut row_wise = true;
    let mut leaves = 0;
    agg.input().apply(|node| {
        if let Some(ds) = node.downcast_ref::<DataSourceExec>() {
            if ds
                .data_source()
                .downcast_ref::<MemorySourceConfig>()
                .is_some()
            {
                leaves += 1;
            } else {
                row_wise = false;
            }
        } else if !(node.is::<ProjectionExec>() || node.is::<FilterExec>()) {
            row_wise = false;
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    })?;
    if !row_wise || leaves != 1 {
        return Ok(None);
    }
    let partial: Arc<dyn ExecutionPlan> = Arc::new(AggregateExec::try_new(
        AggregateMode::Partial,
        agg.group_expr().clone(),
        agg.aggr_expr().to_vec(),
        agg.filter_expr().to_vec(),
        agg.input().clone(),
        agg.input_schema(),
    )?);
    let states = MemorySourceConfig::try_new_exec(&[vec![]], partial.schema(), None)?;
    let reduce: Arc<dyn ExecutionPlan> = Arc::new(AggregateExec::try_new(
        AggregateMode::PartialReduce,
        agg.group_expr().as_final(),
        agg.aggr_expr().to_vec(),
        agg.filter_expr().to_vec(),
        states.clone(),
        agg.input_schema(),
    )?);
    let final_agg: Arc<dyn ExecutionPlan> = Arc::new(AggregateExec::try_new(
        AggregateMode::Final,
        agg.group_expr().as_final(),
        agg.aggr_expr().to_vec(),
        agg.filter_expr().to_vec(),
        states,
        agg.input_schema(),
    )?);
    let finish = plan
        .clone()
        .transform_down(|node| {
            if node.is::<AggregateExec>() {
                Ok(Transformed::new(
                    final_agg.clone(),
                    true,
                    datafusion::common::tree_node::TreeNodeRecursion::Jump,
                ))
            } else {
                Ok(Transformed::no(node))
            }
        })?
        .data;
    Ok(Some(Split {
        partial,
        reduce,
        finish,
    }))
}

/// Number of in-memory leaves of a plan.
fn memory_leaves(plan: &Arc<dyn ExecutionPlan>) -> Result<usize, OperatorError> {
    let mut n = 0;
    plan.apply(|node| {
        if let Some(ds) = node.downcast_ref::<DataSourceExec>() {
            if ds
                .data_source()
                .downcast_ref::<MemorySourceConfig>()
                .is_some()
            {
                n += 1;
            }
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    })?;
    Ok(n)
}

/// Address of the last state batch's first buffer: with the pane start and the number of state
/// batches, it tells whether a pane's states are the very ones seen before (they are shared,
/// not copied, between the pane store and the sliding aggregate).
fn state_identity(states: &[RecordBatch]) -> usize {
    states
        .last()
        .and_then(|b| b.columns().first().map(|c| c.to_data()))
        .and_then(|d| d.buffers().first().map(|b| b.as_ptr() as usize))
        .unwrap_or(0)
}

/// Runs `plan` with its in-memory leaf reading `batches`; its output as one batch.
async fn execute(
    ctx: &SessionContext,
    plan: &Arc<dyn ExecutionPlan>,
    batches: Vec<RecordBatch>,
) -> Result<RecordBatch, OperatorError> {
    let parts =
        datafusion::physical_plan::collect(with_leaf(plan, batches)?, ctx.task_ctx()).await?;
    Ok(concat_batches(&plan.schema(), &parts)?)
}

/// A copy of `plan` whose (single) in-memory leaf reads `batches` instead.
fn with_leaf(
    plan: &Arc<dyn ExecutionPlan>,
    batches: Vec<RecordBatch>,
) -> Result<Arc<dyn ExecutionPlan>, OperatorError> {
    let mut batches = Some(batches);
    let out = plan.clone().transform_up(|node| {
        if let Some(ds) = node.downcast_ref::<DataSourceExec>() {
            if let Some(mem) = ds.data_source().downcast_ref::<MemorySourceConfig>() {
                let data = batches.take().unwrap_or_default();
                let leaf: Arc<dyn ExecutionPlan> = MemorySourceConfig::try_new_exec(
                    &[data],
                    mem.original_schema(),
                    mem.projection().clone(),
                )?;
                return Ok(Transformed::yes(leaf));
            }
        }
        Ok(Transformed::no(node))
    })?;
    Ok(out.data)
}

#[cfg(test)]
mod tests;
