//! Unit tests of `features`.
use datafusion::arrow::array::{AsArray, Float64Array, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::Float64Type;

use super::*;
use crate::Window;

fn readings_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("asset_id", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("vibration", DataType::Float64, true),
    ]))
}

fn batch(rows: &[(&str, i64, f64)]) -> RecordBatch {
    RecordBatch::try_new(
        readings_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(
                TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.1))
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap()
}

const SQL: &str = "SELECT asset_id, avg(vibration) AS vib_mean, max(vibration) - min(vibration) AS vib_p2p, count(*) AS n \
                   FROM readings GROUP BY asset_id ORDER BY asset_id";

#[tokio::test]
async fn one_row_per_asset_per_window_with_the_plan_reused() {
    let q = FeatureQuery::plan(SQL, readings_schema()).await.unwrap();
    assert_eq!(q.feature_names(), ["vib_mean", "vib_p2p", "n"]);
    let w1 = ClosedWindow {
        window: Window { start: 0, end: 10 },
        batches: vec![
            batch(&[("a", 1, 1.0), ("b", 2, 10.0)]),
            batch(&[("a", 3, 3.0)]),
        ],
    };
    let out = q.run(&w1).await.unwrap();
    assert_eq!(out.num_rows(), 2);
    assert_eq!(out.column(0).as_string::<i32>().value(0), "a");
    assert_eq!(out.column(3).as_primitive::<Float64Type>().value(0), 2.0);
    assert_eq!(out.column(4).as_primitive::<Float64Type>().value(0), 2.0);
    assert_eq!(out.column(5).as_primitive::<Float64Type>().value(1), 1.0);
    // the same plan over the next window sees only that window's data
    let w2 = ClosedWindow {
        window: Window { start: 10, end: 20 },
        batches: vec![batch(&[("b", 11, 4.0)])],
    };
    let out2 = q.run(&w2).await.unwrap();
    assert_eq!(out2.num_rows(), 1);
    assert_eq!(out2.column(3).as_primitive::<Float64Type>().value(0), 4.0);
    assert_eq!(
        out2.column(1)
            .as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>()
            .value(0),
        10
    );
}

#[tokio::test]
async fn bad_sql_shapes_are_explained() {
    let no_asset = FeatureQuery::plan(
        "SELECT avg(vibration) AS v FROM readings",
        readings_schema(),
    )
    .await;
    assert!(no_asset.unwrap_err().to_string().contains("asset_id"));
    let text = FeatureQuery::plan(
        "SELECT asset_id, 'x' AS label FROM readings GROUP BY asset_id",
        readings_schema(),
    )
    .await;
    assert!(text.unwrap_err().to_string().contains("numeric"));
    let unknown = FeatureQuery::plan(
        "SELECT asset_id, avg(nope) FROM readings GROUP BY asset_id",
        readings_schema(),
    )
    .await;
    assert!(unknown.is_err());
}

#[test]
fn fingerprint_ignores_formatting_but_not_edits() {
    let a = sql_fingerprint("SELECT asset_id, avg(v) AS m\nFROM readings GROUP BY asset_id;");
    assert_eq!(
        a,
        sql_fingerprint("  SELECT asset_id,   avg(v) AS m FROM readings\tGROUP BY asset_id")
    );
    assert_ne!(
        a,
        sql_fingerprint("SELECT asset_id, max(v) AS m FROM readings GROUP BY asset_id")
    );
    assert_eq!(a.len(), 64);
}
