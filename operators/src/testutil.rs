//! Test helpers: readings batches from `(asset, ts, value)` tuples.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, AsArray, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Schema, SchemaRef, TimeUnit, TimestampMillisecondType,
};

/// Schema: asset_id, ts, v.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("asset_id", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("v", DataType::Float64, true),
    ]))
}

/// A readings batch.
pub fn batch(rows: &[(&str, i64, f64)]) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(
                TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.1))
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .expect("test batch")
}

/// `(asset, ts, v)` of every row of the batches, sorted.
pub fn rows_of<'a>(batches: impl IntoIterator<Item = &'a RecordBatch>) -> Vec<(String, i64, f64)> {
    let mut out = Vec::new();
    for b in batches {
        let a = b.column(0).as_string::<i32>();
        let t = b.column(1).as_primitive::<TimestampMillisecondType>();
        let v = b.column(2).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            out.push((
                a.value(i).to_string(),
                t.value(i),
                if v.is_valid(i) { v.value(i) } else { f64::NAN },
            ));
        }
    }
    out.sort_by(|x, y| x.0.cmp(&y.0).then(x.1.cmp(&y.1)).then(x.2.total_cmp(&y.2)));
    out
}
