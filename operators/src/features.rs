//! The feature SQL: planned once on DataFusion, executed for every closed window.
//!
//! Owns the DataFusion [`SessionContext`] of a job, the `readings` table the SQL reads (a
//! [`MemTable`] whose single partition is swapped for each window), the optimized logical plan
//! (parsed, analyzed and optimized once at start-up), and the shape check on the SQL's output:
//! one row per asset with an `asset_id` column and numeric feature columns. The output batch gains
//! `window_start` / `window_end` columns and every feature is cast to `Float64`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use sha2::{Digest, Sha256};
use vigil_schemas::ASSET_COL;

use crate::{ClosedWindow, OperatorError};

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

/// A job's feature SQL, planned once against the readings schema.
pub struct FeatureQuery {
    ctx: SessionContext,
    plan: LogicalPlan,
    slot: Arc<MemTable>,
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
        let ctx = SessionContext::new_with_config(config);
        let table = Arc::new(MemTable::try_new(readings_schema, vec![vec![]])?);
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
        Ok(FeatureQuery {
            ctx,
            plan,
            slot: table,
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

    /// Runs the SQL over one closed window: one output row per asset.
    pub async fn run(&self, window: &ClosedWindow) -> Result<RecordBatch, OperatorError> {
        {
            let mut data = self.slot.batches[0].write().await;
            data.clear();
            data.extend(window.batches.iter().cloned());
        }
        let physical = self.ctx.state().create_physical_plan(&self.plan).await?;
        let parts = datafusion::physical_plan::collect(physical, self.ctx.task_ctx()).await?;
        self.slot.batches[0].write().await.clear();
        let sql_schema = Arc::new(self.plan.schema().as_arrow().clone());
        let out = concat_batches(&sql_schema, &parts)?;
        let n = out.num_rows();
        let asset = out
            .column_by_name(ASSET_COL)
            .ok_or_else(|| OperatorError::FeatureSql(format!("output lost `{ASSET_COL}`")))?;
        let mut cols: Vec<ArrayRef> = vec![
            cast(asset, &DataType::Utf8)?,
            Arc::new(
                TimestampMillisecondArray::from(vec![window.window.start; n]).with_timezone("UTC"),
            ),
            Arc::new(
                TimestampMillisecondArray::from(vec![window.window.end; n]).with_timezone("UTC"),
            ),
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

#[cfg(test)]
mod tests;
