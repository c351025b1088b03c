//! Native two-phase aggregation for the common feature SQL shape.
//!
//! Owns the recognition of a split aggregation plan whose aggregate reads the `readings` leaf
//! directly, groups by `asset_id` alone and computes only `count`, `sum`, `avg`, `min`, `max`,
//! `var`/`var_pop` and `stddev`/`stddev_pop` of `Float64` measurements (or `count(*)`), and
//! the execution of its three phases without DataFusion's generic hash aggregation: readings
//! -> partial states, states -> merged states, states (or readings) -> the SQL's output.
//!
//! The partial states have exactly the schema and meaning of DataFusion's partial plan (same
//! columns, types and update/merge formulas: Welford updates and the pairwise merge for
//! variances, `NaN` handling of `min`/`max`), so states written by either path (pane store,
//! changelog snapshots) merge with the other. A projection of the aggregate's columns above it
//! (renames such as `avg(x) AS x_mean`) is applied by picking columns; anything else above the
//! aggregate (expressions of aggregates, `HAVING`, `ORDER BY`) still runs on DataFusion over
//! the aggregate's output: a few vector operations per window. Asset ids are interned into dense
//! group indices (first-seen order, like DataFusion's), and each aggregate then updates flat
//! per-group arrays. The index of each state batch a fold emits is kept beside it ([`Known`]),
//! so the pane's next fold and its close hash only new readings.

use std::cmp::Ordering;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, Float64Array, Int64Array, PrimitiveArray,
    RecordBatch, StringArray, StringBuilder, UInt64Array,
};
use datafusion::arrow::buffer::{Buffer, NullBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::ArrowNativeType;
use datafusion::arrow::datatypes::{
    DataType, Float64Type, Int64Type, Schema, SchemaRef, UInt64Type,
};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::memory::{DataSourceExec, MemorySourceConfig};
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use hashbrown::HashTable;
use vigil_schemas::ASSET_COL;

use crate::OperatorError;

/// One recognised aggregate function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `count(col)`: non-null values.
    Count,
    /// `count(*)` / `count(<literal>)`: rows.
    CountRows,
    Sum,
    Avg,
    Min,
    Max,
    Var {
        pop: bool,
        sqrt: bool,
    },
}

impl Kind {
    fn of(name: &str) -> Option<Kind> {
        let var = |pop, sqrt| Some(Kind::Var { pop, sqrt });
        match name {
            "count" => Some(Kind::Count),
            "sum" => Some(Kind::Sum),
            "avg" => Some(Kind::Avg),
            "min" => Some(Kind::Min),
            "max" => Some(Kind::Max),
            "var" => var(false, false),
            "var_pop" => var(true, false),
            "stddev" => var(false, true),
            "stddev_pop" => var(true, true),
            _ => None,
        }
    }

    /// DataFusion's partial state columns of this aggregate.
    fn state_types(self) -> &'static [DataType] {
        match self {
            Kind::Count | Kind::CountRows => &[DataType::Int64],
            Kind::Sum | Kind::Min | Kind::Max => &[DataType::Float64],
            Kind::Avg => &[DataType::UInt64, DataType::Float64],
            Kind::Var { .. } => &[DataType::UInt64, DataType::Float64, DataType::Float64],
        }
    }

    /// The accumulator's value before any input (the extreme a `min`/`max` starts from).
    fn start(self) -> f64 {
        match self {
            Kind::Min => f64::MAX,
            Kind::Max => f64::MIN,
            _ => 0.0,
        }
    }

    fn output_type(self) -> DataType {
        match self {
            Kind::Count | Kind::CountRows => DataType::Int64,
            _ => DataType::Float64,
        }
    }
}

/// An aggregate and the readings column it reads.
#[derive(Debug)]
struct Agg {
    kind: Kind,
    /// Readings column (`None` for `count(*)`).
    input: Option<usize>,
}

/// Per-group accumulator arrays of one aggregate. `n` counts values (or rows); `a` is the
/// sum, mean or extreme; `b` the variance's M2. `unseen` counts the groups whose `n` is 0 (kept
/// for sum, avg, min and max, whose states are null there), so states of groups that all have
/// values are emitted without a pass over them.
#[derive(Default)]
struct Acc {
    n: Vec<u64>,
    a: Vec<f64>,
    b: Vec<f64>,
    unseen: usize,
}

/// The native form of a feature query (see the module doc).
pub(super) struct Native {
    /// Readings column of `asset_id`.
    asset: usize,
    aggs: Vec<Agg>,
    /// Schema of partial states (DataFusion's partial plan's).
    states: SchemaRef,
    /// Schema of the aggregate's output (group column, then one column per aggregate).
    agg_out: SchemaRef,
    /// What sits above the aggregate.
    post: Post,
    /// Indexes of the state batches emitted last, newest last (see [`Known`]).
    known: Mutex<Vec<Known>>,
    /// Calls that adopted a kept index.
    adoptions: AtomicU64,
    /// Groups of the last states emitted or output evaluated (see [`Native::scratch`]).
    groups_hint: AtomicUsize,
}

impl std::fmt::Debug for Native {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Native").field("aggs", &self.aggs).finish()
    }
}

/// What runs over the aggregate's output to give the SQL's.
enum Post {
    /// Nothing: the aggregate is the plan's root.
    None,
    /// Only a projection of the aggregate's columns (renames, reorders, drops: the usual
    /// `avg(x) AS x_mean`): columns picked by index into the projection's schema, no plan run.
    Columns(Vec<usize>, SchemaRef),
    /// Anything else, run on DataFusion over the aggregate's output in a memory leaf.
    Plan(Arc<dyn ExecutionPlan>),
}

impl Post {
    /// `plan`'s part above its aggregate `node`.
    fn of(
        plan: &Arc<dyn ExecutionPlan>,
        node: &Arc<dyn ExecutionPlan>,
        agg_out: &SchemaRef,
    ) -> Result<Post, OperatorError> {
        if Arc::ptr_eq(plan, node) {
            return Ok(Post::None);
        }
        if let Some(p) = plan.downcast_ref::<ProjectionExec>() {
            let picks: Option<Vec<usize>> = p
                .expr()
                .iter()
                .map(|e| e.expr.downcast_ref::<Column>().map(Column::index))
                .collect();
            match picks {
                Some(picks)
                    if Arc::ptr_eq(p.input(), node)
                        && picks.iter().enumerate().all(|(at, &i)| {
                            agg_out.fields().get(i).is_some_and(|f| {
                                f.data_type() == plan.schema().field(at).data_type()
                            })
                        }) =>
                {
                    return Ok(Post::Columns(picks, plan.schema()));
                }
                _ => {}
            }
        }
        let leaf = MemorySourceConfig::try_new_exec(&[vec![]], agg_out.clone(), None)?;
        let post = plan
            .clone()
            .transform_down(|n| {
                if n.is::<AggregateExec>() {
                    let leaf: Arc<dyn ExecutionPlan> = leaf.clone();
                    Ok(Transformed::new(leaf, true, TreeNodeRecursion::Jump))
                } else {
                    Ok(Transformed::no(n))
                }
            })?
            .data;
        Ok(Post::Plan(post))
    }
}

impl Native {
    /// The native form of `plan` (single-phase physical plan of the SQL) whose partial states
    /// have schema `states`, or `None` when the plan has another shape.
    pub(super) fn recognize(
        plan: &Arc<dyn ExecutionPlan>,
        readings: &Schema,
        states: SchemaRef,
    ) -> Result<Option<Native>, OperatorError> {
        let mut found: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        plan.apply(|node| {
            if node.is::<AggregateExec>() {
                found.push(node.clone());
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        let [node] = found.as_slice() else {
            return Ok(None);
        };
        let Some(agg) = node.downcast_ref::<AggregateExec>() else {
            return Ok(None);
        };
        // The aggregate reads the readings leaf itself (no filter or computed column below).
        let leaf_reads_readings = agg
            .input()
            .downcast_ref::<DataSourceExec>()
            .is_some_and(|ds| {
                ds.data_source()
                    .downcast_ref::<MemorySourceConfig>()
                    .is_some()
            });
        if !leaf_reads_readings || agg.filter_expr().iter().any(Option::is_some) {
            return Ok(None);
        }
        let input = agg.input().schema();
        let column_of = |e: &Arc<dyn datafusion::physical_plan::PhysicalExpr>| {
            e.downcast_ref::<Column>()
                .and_then(|c| input.fields().get(c.index()))
                .and_then(|f| readings.index_of(f.name()).ok())
        };
        let [(group, _)] = agg.group_expr().expr() else {
            return Ok(None);
        };
        let asset = match column_of(group) {
            Some(i)
                if readings.field(i).name() == ASSET_COL
                    && readings.field(i).data_type() == &DataType::Utf8 =>
            {
                i
            }
            _ => return Ok(None),
        };
        let mut aggs = Vec::new();
        let mut state_types: Vec<DataType> = vec![DataType::Utf8];
        let mut out_types: Vec<DataType> = vec![DataType::Utf8];
        for a in agg.aggr_expr() {
            let Some(mut kind) = Kind::of(a.fun().name()) else {
                return Ok(None);
            };
            if a.is_distinct() || !a.order_bys().is_empty() {
                return Ok(None);
            }
            let args = a.expressions();
            let [arg] = args.as_slice() else {
                return Ok(None);
            };
            let input = match column_of(arg) {
                Some(i) if kind == Kind::Count => Some(i),
                Some(i) if readings.field(i).data_type() == &DataType::Float64 => Some(i),
                Some(_) => return Ok(None),
                None => match arg.downcast_ref::<Literal>() {
                    Some(l) if kind == Kind::Count && !l.value().is_null() => {
                        kind = Kind::CountRows;
                        None
                    }
                    _ => return Ok(None),
                },
            };
            state_types.extend_from_slice(kind.state_types());
            out_types.push(kind.output_type());
            aggs.push(Agg { kind, input });
        }
        let agg_out = agg.schema();
        let same = |schema: &Schema, types: &[DataType]| {
            schema.fields().len() == types.len()
                && schema
                    .fields()
                    .iter()
                    .zip(types)
                    .all(|(f, t)| f.data_type() == t)
        };
        if !same(&states, &state_types) || !same(&agg_out, &out_types) {
            return Ok(None);
        }
        let post = Post::of(plan, node, &agg_out)?;
        Ok(Some(Native {
            asset,
            aggs,
            states,
            agg_out,
            post,
            known: Mutex::new(Vec::new()),
            adoptions: AtomicU64::new(0),
            groups_hint: AtomicUsize::new(0),
        }))
    }

    /// Merges state sets and then readings into one state set, one row per asset (first-seen
    /// order): the partial phase with no states, the reduce phase with no readings. The first
    /// state batch's arrays become the accumulators when nothing else holds them
    /// ([`Native::take_first`]): a pane's fold updates its states in place.
    pub(super) fn reduce(
        &self,
        mut states: Vec<RecordBatch>,
        raw: &[RecordBatch],
    ) -> Result<RecordBatch, OperatorError> {
        let first = self.take_first(&mut states)?;
        let (ids, first) = split_first(first);
        let (g, accs) = self.gather(ids.as_ref(), first, &states, raw)?;
        let (batch, table, spare) = self.emit_states(g, accs, ids.as_ref())?;
        self.groups_hint
            .store(batch.num_rows(), AtomicOrdering::Relaxed);
        if let Ok(mut known) = self.known.lock() {
            if known.len() >= KNOWN {
                known.remove(0);
            }
            known.push(Known {
                ids: batch.column(0).clone(),
                table,
                spare,
            });
        }
        Ok(batch)
    }

    /// State sets and readings -> the SQL's output (the first state batch's arrays taken over
    /// as in [`Native::reduce`]).
    pub(super) async fn finish(
        &self,
        ctx: &SessionContext,
        mut states: Vec<RecordBatch>,
        raw: &[RecordBatch],
    ) -> Result<RecordBatch, OperatorError> {
        let first = self.take_first(&mut states)?;
        let (ids, first) = split_first(first);
        let (g, accs) = self.gather(ids.as_ref(), first, &states, raw)?;
        let out = self.evaluate(g, accs)?;
        self.groups_hint
            .store(out.num_rows(), AtomicOrdering::Relaxed);
        match &self.post {
            Post::None => Ok(out),
            Post::Columns(picks, schema) => {
                let cols = picks.iter().map(|&i| out.column(i).clone()).collect();
                Ok(RecordBatch::try_new(schema.clone(), cols)?)
            }
            Post::Plan(post) => super::execute(ctx, post, vec![out]).await,
        }
    }

    /// The groups and accumulators of `first` (a taken state batch: its ids `first_ids`, their
    /// index and accumulators) or fresh ones, with `states` merged and `raw` readings added.
    fn gather<'a>(
        &self,
        first_ids: Option<&'a ArrayRef>,
        first: Option<Seed>,
        states: &'a [RecordBatch],
        raw: &'a [RecordBatch],
    ) -> Result<(Groups<'a>, Vec<Acc>), OperatorError> {
        let (mut g, mut accs) = match (first_ids, first) {
            (Some(ids), Some((table, accs))) => {
                let ids = ids
                    .as_string_opt::<i32>()
                    .ok_or_else(|| OperatorError::FeatureSql("state ids are not Utf8".into()))?;
                let mut g = Groups::with_capacity(0);
                g.adopt(table, ids);
                (g, accs)
            }
            _ => self.scratch(states, raw),
        };
        self.merge(&mut g, &mut accs, states)?;
        self.update(&mut g, &mut accs, raw)?;
        Ok((g, accs))
    }

    /// Empty groups and accumulators with room for as many groups as `states` and `raw` have
    /// rows (at most), or as the last states emitted had when more (a pane's first fold sees
    /// a part of its assets; its later folds add the rest), so nothing is reallocated and
    /// copied while groups are found. The room is at most [`HINT_ROWS`] times the rows: the
    /// states keep it while their pane is open, and a sparse pane must not hold room for
    /// every asset of the job.
    fn scratch<'a>(&self, states: &[RecordBatch], raw: &[RecordBatch]) -> (Groups<'a>, Vec<Acc>) {
        let rows: usize = states.iter().chain(raw).map(RecordBatch::num_rows).sum();
        let hint = self.groups_hint.load(AtomicOrdering::Relaxed);
        let rows = rows.max(hint.min(rows.saturating_mul(HINT_ROWS)));
        let accs = self
            .aggs
            .iter()
            .map(|a| Acc {
                n: Vec::with_capacity(rows),
                a: Vec::with_capacity(rows),
                b: Vec::with_capacity(if matches!(a.kind, Kind::Var { .. }) {
                    rows
                } else {
                    0
                }),
                unseen: 0,
            })
            .collect();
        (Groups::with_capacity(rows), accs)
    }

    /// How many folds and closes so far took a kept index instead of hashing their first
    /// state batch's ids.
    pub(super) fn adoptions(&self) -> u64 {
        self.adoptions.load(AtomicOrdering::Relaxed)
    }

    /// When the first state batch is one this module emitted and its index is still kept,
    /// removes it from `states` and returns its id column, that index (the batch's rows are
    /// groups `0..n`, not hashed again) and its accumulators. Each state array moves into its
    /// accumulator without a copy when nothing else holds it (a pane hands the states a fold
    /// replaces to that fold, and a closed tumbling window its pane's), and is copied
    /// otherwise.
    fn take_first(&self, states: &mut Vec<RecordBatch>) -> Result<Option<Taken>, OperatorError> {
        let Some(ids) = states.first().and_then(|b| b.columns().first()) else {
            return Ok(None);
        };
        if states[0].num_columns() != self.states.fields().len() {
            return Ok(None); // merge reports it
        }
        let known = match self.known.lock() {
            Ok(mut known) => known
                .iter()
                .position(|k| Arc::ptr_eq(&k.ids, ids))
                .map(|i| known.remove(i)),
            Err(_) => None,
        };
        let (table, spare) = match known {
            Some(k) if k.table.len() == ids.len() => (k.table, k.spare),
            _ => return Ok(None),
        };
        let batch = states.remove(0);
        let cols = batch.columns().to_vec();
        drop(batch);
        let mut cols = cols.into_iter();
        let ids = cols
            .next()
            .ok_or_else(|| OperatorError::FeatureSql("state batch without ids".into()))?;
        let mut spare = spare.into_iter();
        let accs = self
            .aggs
            .iter()
            .map(|agg| take_acc(agg.kind, &mut cols, spare.next().flatten()))
            .collect::<Result<Vec<Acc>, _>>()?;
        self.adoptions.fetch_add(1, AtomicOrdering::Relaxed);
        Ok(Some((ids, table, accs)))
    }

    /// Updates the accumulators with readings.
    fn update<'a>(
        &self,
        g: &mut Groups<'a>,
        accs: &mut [Acc],
        raw: &'a [RecordBatch],
    ) -> Result<(), OperatorError> {
        for batch in raw {
            let ids = string_column(batch, self.asset)?;
            g.intern(ids);
            let n = g.len();
            for (agg, acc) in self.aggs.iter().zip(accs.iter_mut()) {
                acc.resize(n, agg.kind);
                let col = match agg.input {
                    Some(i) => Some(batch.columns().get(i).ok_or_else(|| {
                        OperatorError::FeatureSql(format!("readings batch lacks column {i}"))
                    })?),
                    None => None,
                };
                update(agg.kind, acc, &g.rows, col)?;
            }
        }
        Ok(())
    }

    /// Merges partial state batches into the accumulators.
    fn merge<'a>(
        &self,
        g: &mut Groups<'a>,
        accs: &mut [Acc],
        states: &'a [RecordBatch],
    ) -> Result<(), OperatorError> {
        for batch in states {
            if batch.num_columns() != self.states.fields().len() {
                return Err(OperatorError::FeatureSql(format!(
                    "partial states have {} columns, the query's have {}",
                    batch.num_columns(),
                    self.states.fields().len()
                )));
            }
            g.intern(string_column(batch, 0)?);
            let n = g.len();
            let mut at = 1;
            for (agg, acc) in self.aggs.iter().zip(accs.iter_mut()) {
                let k = agg.kind.state_types().len();
                let cols = &batch.columns()[at..at + k];
                acc.resize(n, agg.kind);
                merge(agg.kind, acc, &g.rows, cols)?;
                at += k;
            }
        }
        Ok(())
    }

    /// The merged states, and the index of their rows.
    /// The arrays of the accumulators become the batch's columns without a copy; the id column
    /// is `first_ids` itself when no group was added to those ids.
    fn emit_states(
        &self,
        g: Groups<'_>,
        accs: Vec<Acc>,
        first_ids: Option<&ArrayRef>,
    ) -> Result<Emitted, OperatorError> {
        let n = g.len();
        let (ids, table) = match first_ids {
            Some(ids) if ids.len() == n => (ids.clone(), g.table),
            _ => {
                let (ids, table) = g.into_parts();
                (Arc::new(ids) as ArrayRef, table)
            }
        };
        let mut cols: Vec<ArrayRef> = vec![ids];
        let mut spare = Vec::with_capacity(self.aggs.len());
        for (agg, mut acc) in self.aggs.iter().zip(accs) {
            acc.resize(n, agg.kind);
            let mut kept = None;
            match agg.kind {
                Kind::Count | Kind::CountRows => cols.push(Arc::new(counts(acc.n))),
                // the counts are not part of the state (only its nulls); kept beside it
                Kind::Sum | Kind::Min | Kind::Max => {
                    let nulls = acc.nulls();
                    cols.push(Arc::new(Float64Array::new(acc.a.into(), nulls)));
                    kept = Some(acc.n);
                }
                // like DataFusion's: both columns null for an asset without values
                Kind::Avg => {
                    let nulls = acc.nulls();
                    cols.push(Arc::new(UInt64Array::new(acc.n.into(), nulls.clone())));
                    cols.push(Arc::new(Float64Array::new(acc.a.into(), nulls)));
                }
                Kind::Var { .. } => {
                    cols.push(Arc::new(UInt64Array::from(acc.n)));
                    cols.push(Arc::new(Float64Array::from(acc.a)));
                    cols.push(Arc::new(Float64Array::from(acc.b)));
                }
            }
            spare.push(kept);
        }
        Ok((
            RecordBatch::try_new(self.states.clone(), cols)?,
            table,
            spare,
        ))
    }

    /// The aggregate's output: asset id and each aggregate's final value.
    fn evaluate(&self, g: Groups<'_>, accs: Vec<Acc>) -> Result<RecordBatch, OperatorError> {
        let n = g.len();
        let mut cols: Vec<ArrayRef> = vec![Arc::new(g.into_parts().0)];
        for (agg, mut acc) in self.aggs.iter().zip(accs) {
            acc.resize(n, agg.kind);
            let col: ArrayRef = match agg.kind {
                Kind::Count | Kind::CountRows => Arc::new(counts(acc.n)),
                // values computed for every group in one pass, in the accumulator's own array,
                // the nulls apart (none at all when every group has values): no branch per
                // value
                Kind::Sum | Kind::Min | Kind::Max => {
                    let nulls = acc.nulls();
                    Arc::new(Float64Array::new(acc.a.into(), nulls))
                }
                Kind::Avg => {
                    for (s, &c) in acc.a.iter_mut().zip(&acc.n) {
                        *s /= c.max(1) as f64;
                    }
                    let nulls = acc.nulls();
                    Arc::new(Float64Array::new(acc.a.into(), nulls))
                }
                Kind::Var { pop, sqrt } => {
                    let ddof = u64::from(!pop);
                    for (m2, &c) in acc.b.iter_mut().zip(&acc.n) {
                        let v = *m2 / c.saturating_sub(ddof).max(1) as f64;
                        *m2 = if sqrt { v.sqrt() } else { v };
                    }
                    Arc::new(Float64Array::new(acc.b.into(), valid_over(&acc.n, ddof)))
                }
            };
            cols.push(col);
        }
        Ok(RecordBatch::try_new(self.agg_out.clone(), cols)?)
    }
}

impl Acc {
    fn resize(&mut self, n: usize, kind: Kind) {
        self.unseen += n.saturating_sub(self.n.len());
        self.n.resize(n, 0);
        self.a.resize(n, kind.start());
        if matches!(kind, Kind::Var { .. }) {
            self.b.resize(n, 0.0);
        }
    }

    /// Counts a value of group `g` (sum, avg, min, max): one fewer group without values when
    /// it is its first.
    #[inline]
    fn see(&mut self, g: usize, values: u64) {
        if self.n[g] == 0 && values > 0 {
            self.unseen -= 1;
        }
        self.n[g] += values;
    }

    /// The state's nulls (sum, avg, min, max): where a group has no value; none at all, without
    /// a pass over the groups, when every group has one.
    fn nulls(&self) -> Option<NullBuffer> {
        if self.unseen == 0 {
            None
        } else {
            valid_over(&self.n, 0)
        }
    }
}

/// Asset ids interned to dense group indices, and the group of each row of the last batch.
/// The table holds group numbers only; the ids they stand for are those of `base` (an adopted
/// state batch's id column: its rows are groups `0..base.len()`) and then `ids` (borrowed from
/// the batches), so the index of one state batch's ids can outlive the call (see [`Known`])
/// and adopting it costs nothing per asset.
struct Groups<'a> {
    table: HashTable<u32>,
    base: Option<&'a StringArray>,
    ids: Vec<&'a str>,
    rows: Vec<u32>,
}

/// The hash of an asset id in a [`Groups`] table.
fn hash_id(id: &str) -> u64 {
    foldhash::fast::FixedState::default().hash_one(id)
}

/// Group `g`'s id: row `g` of `base`, then `ids` (asset ids are never null in readings or
/// states; a null groups as "").
#[inline]
fn name_of<'a>(base: Option<&'a StringArray>, ids: &[&'a str], g: u32) -> &'a str {
    let g = g as usize;
    match base {
        Some(b) if g < b.len() => {
            if b.is_null(g) {
                ""
            } else {
                b.value(g)
            }
        }
        Some(b) => ids[g - b.len()],
        None => ids[g],
    }
}

impl<'a> Groups<'a> {
    fn with_capacity(rows: usize) -> Self {
        Groups {
            table: HashTable::with_capacity(rows),
            base: None,
            ids: Vec::with_capacity(rows),
            rows: Vec::new(),
        }
    }

    /// Groups already numbered: `known`'s table over the ids of `batch` (its rows are its
    /// groups, in order).
    fn adopt(&mut self, table: HashTable<u32>, ids: &'a StringArray) {
        self.table = table;
        self.base = Some(ids);
        self.ids.clear();
        self.rows.clear();
    }

    fn intern(&mut self, ids: &'a StringArray) {
        self.rows.clear();
        self.rows.reserve(ids.len());
        let Groups {
            table,
            base,
            ids: names,
            rows,
        } = self;
        let base = *base;
        let first_new = base.map_or(0, |b| b.len());
        table.reserve(ids.len(), |&g| hash_id(name_of(base, names, g)));
        for id in ids.iter() {
            let id = id.unwrap_or("");
            let h = hash_id(id);
            let g = match table.find(h, |&g| name_of(base, names, g) == id) {
                Some(&g) => g,
                None => {
                    let g = (first_new + names.len()) as u32;
                    names.push(id);
                    table.insert_unique(h, g, |&g| hash_id(name_of(base, names, g)));
                    g
                }
            };
            rows.push(g);
        }
    }

    fn len(&self) -> usize {
        self.base.map_or(0, |b| b.len()) + self.ids.len()
    }

    /// The ids in group order, and the table that numbers them.
    fn into_parts(self) -> (StringArray, HashTable<u32>) {
        let ids = match self.base {
            None => StringArray::from_iter_values(self.ids),
            Some(base) => {
                let bytes =
                    base.value_data().len() + self.ids.iter().map(|i| i.len()).sum::<usize>();
                let mut b = StringBuilder::with_capacity(base.len() + self.ids.len(), bytes);
                base.iter().for_each(|id| b.append_value(id.unwrap_or("")));
                self.ids.iter().for_each(|id| b.append_value(id));
                b.finish()
            }
        };
        (ids, self.table)
    }
}

/// The index of a state batch this module emitted: its id column and the table numbering its
/// rows. A pane's next fold (and its close) merges that batch first and adopts the index
/// instead of hashing every asset id of the pane again: only readings are hashed, once each.
/// The column is held, so its memory (the key of the cache) cannot be reused by another batch.
struct Known {
    ids: ArrayRef,
    table: HashTable<u32>,
    /// Per aggregate, the counts of a sum, min or max (not part of its state).
    spare: Vec<Option<Vec<u64>>>,
}

/// Most groups a pane's first fold reserves room for, per row it folds (see
/// [`Native::scratch`]): a fold of 8,192 rows reserves for up to 65,536 assets.
const HINT_ROWS: usize = 8;

/// Indexes kept at most (one per open pane that folded; older ones are dropped, and a batch
/// without its index is interned as any other).
const KNOWN: usize = 16;

fn string_column(batch: &RecordBatch, i: usize) -> Result<&StringArray, OperatorError> {
    batch
        .columns()
        .get(i)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| OperatorError::FeatureSql(format!("column {i} is not a Utf8 asset id")))
}

fn f64_column(col: &ArrayRef) -> Result<&Float64Array, OperatorError> {
    col.as_primitive_opt::<Float64Type>()
        .ok_or_else(|| OperatorError::FeatureSql("aggregate input is not Float64".into()))
}

/// Welford's update of (count, mean, M2) by one value (DataFusion's formula).
#[inline]
fn welford(n: u64, mean: f64, m2: f64, v: f64) -> (u64, f64, f64) {
    let n1 = n + 1;
    let d1 = v - mean;
    let mean1 = d1 / n1 as f64 + mean;
    (n1, mean1, m2 + d1 * (v - mean1))
}

/// Pairwise merge of two (count, mean, M2) states (DataFusion's formula).
#[inline]
fn pairwise(n: u64, mean: f64, m2: f64, n2: u64, mean2: f64, m22: f64) -> (u64, f64, f64) {
    let c = n + n2;
    let mean1 = mean * n as f64 / c as f64 + mean2 * n2 as f64 / c as f64;
    let d = mean - mean2;
    (c, mean1, m2 + m22 + d * d * n as f64 * n2 as f64 / c as f64)
}

/// Updates one aggregate's accumulators with a batch's values (`rows[i]` is row i's group).
fn update(
    kind: Kind,
    acc: &mut Acc,
    rows: &[u32],
    col: Option<&ArrayRef>,
) -> Result<(), OperatorError> {
    let Some(col) = col else {
        for &g in rows {
            acc.n[g as usize] += 1;
        }
        return Ok(());
    };
    if kind == Kind::Count {
        for (i, &g) in rows.iter().enumerate() {
            acc.n[g as usize] += u64::from(col.is_valid(i));
        }
        return Ok(());
    }
    let values = f64_column(col)?;
    match kind {
        Kind::Sum | Kind::Avg => each_valid(rows, values, |g, v| {
            acc.see(g, 1);
            acc.a[g] += v;
        }),
        // DataFusion's comparisons: a NaN on either side replaces the current value
        Kind::Min => each_valid(rows, values, |g, v| {
            acc.see(g, 1);
            if takes_min(v, acc.a[g]) {
                acc.a[g] = v;
            }
        }),
        Kind::Max => each_valid(rows, values, |g, v| {
            acc.see(g, 1);
            if takes_max(v, acc.a[g]) {
                acc.a[g] = v;
            }
        }),
        Kind::Var { .. } => each_valid(rows, values, |g, v| {
            (acc.n[g], acc.a[g], acc.b[g]) = welford(acc.n[g], acc.a[g], acc.b[g], v);
        }),
        Kind::Count | Kind::CountRows => {}
    }
    Ok(())
}

/// DataFusion's `min` rule: `new` replaces `cur` when smaller, or when either is NaN.
#[inline]
fn takes_min(new: f64, cur: f64) -> bool {
    matches!(new.partial_cmp(&cur), Some(Ordering::Less) | None)
}

/// DataFusion's `max` rule: `new` replaces `cur` when greater, or when either is NaN.
#[inline]
fn takes_max(new: f64, cur: f64) -> bool {
    matches!(new.partial_cmp(&cur), Some(Ordering::Greater) | None)
}

/// Calls `f(group, value)` for every non-null value, in row order.
#[inline]
fn each_valid(rows: &[u32], values: &Float64Array, mut f: impl FnMut(usize, f64)) {
    match values.nulls() {
        None => {
            for (&g, &v) in rows.iter().zip(values.values()) {
                f(g as usize, v)
            }
        }
        Some(nulls) => {
            for (i, (&g, &v)) in rows.iter().zip(values.values()).enumerate() {
                if nulls.is_valid(i) {
                    f(g as usize, v)
                }
            }
        }
    }
}

/// Nulls where a group's count is not over `min` (`None` when every group's is).
fn valid_over(counts: &[u64], min: u64) -> Option<NullBuffer> {
    if counts.iter().all(|&c| c > min) {
        return None;
    }
    Some(NullBuffer::from_iter(counts.iter().map(|&c| c > min)))
}

/// A taken state batch: its id column, the index numbering its rows, its accumulators.
type Taken = (ArrayRef, HashTable<u32>, Vec<Acc>);

/// A taken state batch's index and accumulators.
type Seed = (HashTable<u32>, Vec<Acc>);

/// Emitted states, their index and the counts kept beside them (see [`Known`]).
type Emitted = (RecordBatch, HashTable<u32>, Vec<Option<Vec<u64>>>);

/// Splits a taken batch into its ids and the rest.
fn split_first(t: Option<Taken>) -> (Option<ArrayRef>, Option<Seed>) {
    match t {
        Some((ids, table, accs)) => (Some(ids), Some((table, accs))),
        None => (None, None),
    }
}

/// Counts as an `Int64` array over the same allocation (counts stay far below 2^63).
fn counts(n: Vec<u64>) -> Int64Array {
    let len = n.len();
    Int64Array::new(ScalarBuffer::new(Buffer::from_vec(n), 0, len), None)
}

/// One aggregate's accumulators from its partial state columns (the next of `cols`) in a
/// state batch this module emitted, row `i` as group `i`: what merging them into fresh
/// accumulators would give (a variance's mean and M2 as they are, not recomputed by the
/// pairwise formula, which could move their last bit). Such states hold each accumulator's
/// start value where a group has none, so nothing is cleared; `spare` is the counts emitted
/// beside a sum's, min's or max's state (rebuilt from its nulls when missing).
fn take_acc(
    kind: Kind,
    cols: &mut impl Iterator<Item = ArrayRef>,
    spare: Option<Vec<u64>>,
) -> Result<Acc, OperatorError> {
    let bad = || OperatorError::FeatureSql(format!("partial state of {kind:?} has another type"));
    let mut next = || cols.next().ok_or_else(bad);
    let unseen = |nulls: &Option<NullBuffer>| nulls.as_ref().map_or(0, NullBuffer::null_count);
    Ok(match kind {
        Kind::Count | Kind::CountRows => {
            let (n, _) = take_values::<Int64Type, u64>(next()?).ok_or_else(bad)?;
            Acc {
                n,
                ..Acc::default()
            }
        }
        Kind::Sum | Kind::Min | Kind::Max => {
            let (a, nulls) = take_values::<Float64Type, f64>(next()?).ok_or_else(bad)?;
            let n = match (spare, &nulls) {
                (Some(n), _) if n.len() == a.len() => n,
                (_, None) => vec![1; a.len()],
                (_, Some(v)) => v.iter().map(u64::from).collect(),
            };
            Acc {
                n,
                a,
                b: Vec::new(),
                unseen: unseen(&nulls),
            }
        }
        Kind::Avg => {
            let (n, nulls) = take_values::<UInt64Type, u64>(next()?).ok_or_else(bad)?;
            let (a, _) = take_values::<Float64Type, f64>(next()?).ok_or_else(bad)?;
            if a.len() != n.len() {
                return Err(bad());
            }
            Acc {
                n,
                a,
                b: Vec::new(),
                unseen: unseen(&nulls),
            }
        }
        Kind::Var { .. } => {
            let (n, _) = take_values::<UInt64Type, u64>(next()?).ok_or_else(bad)?;
            let (a, _) = take_values::<Float64Type, f64>(next()?).ok_or_else(bad)?;
            let (b, _) = take_values::<Float64Type, f64>(next()?).ok_or_else(bad)?;
            if a.len() != n.len() || b.len() != n.len() {
                return Err(bad());
            }
            Acc { n, a, b, unseen: 0 }
        }
    })
}

/// The values (as `U`, of the same width as `T`'s: a count's `i64` as `u64`) and nulls of a
/// primitive column of type `T`: its own array when nothing else holds it
/// (`Buffer::into_vec`), else a copy; `None` for another type.
fn take_values<T: ArrowPrimitiveType, U: ArrowNativeType>(
    col: ArrayRef,
) -> Option<(Vec<U>, Option<NullBuffer>)> {
    if std::mem::size_of::<U>() != std::mem::size_of::<T::Native>() {
        return None;
    }
    if col.data_type() != &T::DATA_TYPE {
        return None;
    }
    let data = col.to_data();
    drop(col);
    let (_, values, nulls) = PrimitiveArray::<T>::from(data).into_parts();
    let values = match values.into_inner().into_vec::<U>() {
        Ok(v) => v,
        Err(shared) => shared.typed_data::<U>().to_vec(),
    };
    Some((values, nulls.filter(|n| n.null_count() > 0)))
}

/// Merges one aggregate's partial state columns into its accumulators.
fn merge(kind: Kind, acc: &mut Acc, rows: &[u32], cols: &[ArrayRef]) -> Result<(), OperatorError> {
    let bad = || OperatorError::FeatureSql(format!("partial state of {kind:?} has another type"));
    match kind {
        Kind::Count | Kind::CountRows => {
            let c = cols[0].as_primitive_opt::<Int64Type>().ok_or_else(bad)?;
            for (i, &g) in rows.iter().enumerate() {
                if c.is_valid(i) {
                    acc.n[g as usize] += c.value(i).max(0) as u64;
                }
            }
        }
        Kind::Sum | Kind::Min | Kind::Max => {
            let s = f64_column(&cols[0])?;
            for (i, &g) in rows.iter().enumerate() {
                if s.is_valid(i) {
                    let (g, v) = (g as usize, s.value(i));
                    acc.see(g, 1);
                    let cur = acc.a[g];
                    match kind {
                        Kind::Sum => acc.a[g] = cur + v,
                        Kind::Min if takes_min(v, cur) => acc.a[g] = v,
                        Kind::Max if takes_max(v, cur) => acc.a[g] = v,
                        _ => {}
                    }
                }
            }
        }
        Kind::Avg => {
            let c = cols[0].as_primitive_opt::<UInt64Type>().ok_or_else(bad)?;
            let s = f64_column(&cols[1])?;
            for (i, &g) in rows.iter().enumerate() {
                let g = g as usize;
                if c.is_valid(i) {
                    acc.see(g, c.value(i));
                }
                if s.is_valid(i) {
                    acc.a[g] += s.value(i);
                }
            }
        }
        Kind::Var { .. } => {
            let c = cols[0].as_primitive_opt::<UInt64Type>().ok_or_else(bad)?;
            let (mean, m2) = (f64_column(&cols[1])?, f64_column(&cols[2])?);
            for (i, &g) in rows.iter().enumerate() {
                if !c.is_valid(i) || c.value(i) == 0 {
                    continue;
                }
                let g = g as usize;
                (acc.n[g], acc.a[g], acc.b[g]) = pairwise(
                    acc.n[g],
                    acc.a[g],
                    acc.b[g],
                    c.value(i),
                    mean.value(i),
                    m2.value(i),
                );
            }
        }
    }
    Ok(())
}
