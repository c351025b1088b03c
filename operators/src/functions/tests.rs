//! Tests shared by the feature functions: evaluation helpers, the split-and-merge property test
//! of every aggregate, SQL registration, and `docs/features.md` kept in sync.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, RecordBatch, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, TimeUnit};
use datafusion::catalog::MemTable;
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use proptest::prelude::*;

use super::stat::Stat;
use super::*;

/// The sample the reference values in each function's tests were computed on.
pub const SAMPLE: &[f64] = &[2.0, -1.0, 3.5, 0.5, -2.5, 4.0, 1.0];
/// Its event times, ms.
pub const SAMPLE_TIMES: &[i64] = EXAMPLE_TIMES;

/// One pass of `S` over values (times = index seconds), skipping non-finite ones as the UDAF does.
pub fn eval<S: Stat>(xs: &[f64]) -> Option<f64> {
    let pts: Vec<(f64, i64)> = xs
        .iter()
        .enumerate()
        .map(|(i, x)| (*x, i as i64 * 1000))
        .collect();
    eval_t::<S>(&pts)
}

/// One pass of `S` over `(value, time)` points.
pub fn eval_t<S: Stat>(pts: &[(f64, i64)]) -> Option<f64> {
    let mut s = S::default();
    for (x, t) in pts {
        if x.is_finite() {
            s.add(*x, *t);
        }
    }
    s.value()
}

fn to_arrays(states: &[Vec<ScalarValue>]) -> Vec<ArrayRef> {
    let cols = states.first().map_or(0, Vec::len);
    (0..cols)
        .map(|c| {
            ScalarValue::iter_to_array(states.iter().map(|s| s[c].clone())).expect("state array")
        })
        .collect()
}

/// Splits the points into chunks, takes each chunk's state through Arrow arrays (as DataFusion
/// does between phases) and merges them, in two levels, into a fresh state.
fn split_merge<S: Stat>(pts: &[(f64, i64)], cuts: &[usize]) -> Option<f64> {
    let mut chunks: Vec<Vec<ScalarValue>> = Vec::new();
    let mut rest = pts;
    for c in cuts.iter().chain(std::iter::once(&usize::MAX)) {
        let n = (*c).min(rest.len());
        let mut s = S::default();
        for (x, t) in &rest[..n] {
            s.add(*x, *t);
        }
        chunks.push(s.state());
        rest = &rest[n..];
    }
    // first level: merge pairs into intermediate states, then merge those
    let mut level: Vec<Vec<ScalarValue>> = Vec::new();
    for pair in chunks.chunks(2) {
        let arrays = to_arrays(pair);
        let mut s = S::default();
        for row in 0..pair.len() {
            s.merge_row(&arrays, row);
        }
        level.push(s.state());
    }
    let arrays = to_arrays(&level);
    let mut s = S::default();
    for row in 0..level.len() {
        s.merge_row(&arrays, row);
    }
    s.value()
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs())),
        _ => false,
    }
}

proptest! {
    /// One pass equals any split into partial states merged back, for every aggregate.
    #[test]
    fn one_pass_equals_any_split_merged(
        xs in proptest::collection::vec(-1000.0f64..1000.0, 0..60),
        cuts in proptest::collection::vec(0usize..15, 0..8),
        t0 in 1_700_000_000_000i64..1_800_000_000_000,
    ) {
        let pts: Vec<(f64, i64)> = xs.iter().enumerate().map(|(i, x)| (*x, t0 + (i as i64 * 7919) % 60_000)).collect();
        macro_rules! check {
            ($($s:ty),*) => {$(
                let one = eval_t::<$s>(&pts);
                let merged = split_merge::<$s>(&pts, &cuts);
                prop_assert!(close(one, merged), "{}: one pass {:?}, merged {:?}", stringify!($s), one, merged);
            )*};
        }
        check!(rms::Rms, kurtosis::Kurtosis, skewness::Skewness, crest_factor::CrestFactor,
               peak_to_peak::PeakToPeak, slope::Slope, zero_crossing_rate::ZeroCrossingRate,
               mean_abs_change::MeanAbsChange);
    }
}

async fn example_context() -> SessionContext {
    let ctx = SessionContext::new();
    register_all(&ctx);
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Float64Array::from(SAMPLE.to_vec())),
            Arc::new(TimestampMillisecondArray::from(SAMPLE_TIMES.to_vec()).with_timezone("UTC")),
        ],
    )
    .expect("batch");
    let table = MemTable::try_new(schema, vec![vec![batch]]).expect("table");
    ctx.register_table("samples", Arc::new(table))
        .expect("register");
    // "dirty": asset `a` holds SAMPLE with a NULL, a NaN, +inf and -inf interleaved (at their
    // own event times); asset `b` only non-finite values and NULLs
    let mut xs: Vec<Option<f64>> = Vec::new();
    let mut ts: Vec<i64> = Vec::new();
    let mut assets: Vec<&str> = Vec::new();
    let junk = [
        None,
        Some(f64::NAN),
        Some(f64::INFINITY),
        Some(f64::NEG_INFINITY),
    ];
    for (i, (x, t)) in SAMPLE.iter().zip(SAMPLE_TIMES).enumerate() {
        xs.push(Some(*x));
        ts.push(*t);
        assets.push("a");
        if i < junk.len() {
            xs.push(junk[i]);
            ts.push(t + 500);
            assets.push("a");
            xs.push(junk[i]);
            ts.push(*t);
            assets.push("b");
        }
    }
    let dschema = Arc::new(Schema::new(vec![
        Field::new("asset_id", DataType::Utf8, false),
        Field::new("x", DataType::Float64, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
    ]));
    let dbatch = RecordBatch::try_new(
        dschema.clone(),
        vec![
            Arc::new(datafusion::arrow::array::StringArray::from(assets)),
            Arc::new(Float64Array::from(xs)),
            Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")),
        ],
    )
    .expect("dirty batch");
    let dtable = MemTable::try_new(dschema, vec![vec![dbatch]]).expect("dirty table");
    ctx.register_table("dirty", Arc::new(dtable))
        .expect("register");
    // one snapshot: sin(2π·50t) + 0.5·sin(2π·120t) at 1000 Hz, 1000 samples
    let wave: Vec<f64> = (0..1000)
        .map(|i| {
            let t = i as f64 / 1000.0;
            (2.0 * std::f64::consts::PI * 50.0 * t).sin()
                + 0.5 * (2.0 * std::f64::consts::PI * 120.0 * t).sin()
        })
        .collect();
    let list =
        datafusion::arrow::array::ListArray::from_iter_primitive::<Float64Type, _, _>(vec![Some(
            wave.into_iter().map(Some).collect::<Vec<_>>(),
        )]);
    let wschema = Arc::new(Schema::new(vec![
        Field::new("samples", list.data_type().clone(), true),
        Field::new("rate_hz", DataType::Float64, true),
    ]));
    let wbatch = RecordBatch::try_new(
        wschema.clone(),
        vec![Arc::new(list), Arc::new(Float64Array::from(vec![1000.0]))],
    )
    .expect("wave batch");
    let wtable = MemTable::try_new(wschema, vec![vec![wbatch]]).expect("wave table");
    ctx.register_table("snapshots", Arc::new(wtable))
        .expect("register");
    ctx
}

async fn sql_value(ctx: &SessionContext, sql: &str) -> Option<f64> {
    let out = ctx
        .sql(sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let col = out[0].column(0).as_primitive::<Float64Type>();
    col.is_valid(0).then(|| col.value(0))
}

#[tokio::test]
async fn functions_work_in_sql_with_nulls_and_grouping() {
    let ctx = example_context().await;
    for d in docs() {
        let call = if d.takes_time {
            format!("{}(x, ts)", d.name)
        } else {
            format!("{}(x)", d.name)
        };
        let got = sql_value(&ctx, &format!("SELECT {call} FROM samples")).await;
        assert!(got.is_some(), "{}", d.name);
        // an empty input gives NULL
        let empty = sql_value(&ctx, &format!("SELECT {call} FROM samples WHERE x > 100")).await;
        assert_eq!(empty, None, "{}", d.name);
    }
    let rms = sql_value(&ctx, "SELECT rms(x) FROM samples").await.unwrap();
    assert!((rms - 2.412763679150648).abs() < 1e-12);
    let err = ctx
        .sql("SELECT slope(x, x) FROM samples")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("event time"), "{err}");
    for d in spectral_docs() {
        let v = sql_value(
            &ctx,
            &format!("SELECT {}({}) FROM snapshots", d.name, d.sql_args),
        )
        .await;
        assert!(v.is_some(), "{}", d.name);
    }
    let be = sql_value(
        &ctx,
        "SELECT band_energy(samples, rate_hz, 40, 60) FROM snapshots",
    )
    .await
    .unwrap();
    assert!((be - 0.5).abs() < 1e-9, "{be}");
    let err = ctx
        .sql("SELECT band_energy(x, 1000, 40, 60) FROM samples")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("waveform's samples"), "{err}");
    // a NULL snapshot gives NULL, in an aggregate it is skipped
    let v = sql_value(
        &ctx,
        "SELECT avg(dominant_frequency(samples, rate_hz)) FROM snapshots WHERE rate_hz > 5000",
    )
    .await;
    assert_eq!(v, None);
}

/// Through SQL with GROUP BY, NULL, NaN and ±inf readings are skipped: asset `a` (the sample
/// with junk interleaved) gets exactly the clean sample's value, and asset `b` (only junk) NULL.
#[tokio::test]
async fn nulls_and_non_finite_values_are_skipped_in_grouped_sql() {
    let ctx = example_context().await;
    for d in docs() {
        let call = if d.takes_time {
            format!("{}(x, ts)", d.name)
        } else {
            format!("{}(x)", d.name)
        };
        let clean = sql_value(&ctx, &format!("SELECT {call} FROM samples")).await;
        let out = ctx
            .sql(&format!(
                "SELECT asset_id, {call} AS v FROM dirty GROUP BY asset_id ORDER BY asset_id"
            ))
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        let b = datafusion::arrow::compute::concat_batches(&out[0].schema(), &out).expect("concat");
        assert_eq!(b.num_rows(), 2, "{}", d.name);
        let v = b.column(1).as_primitive::<Float64Type>();
        assert_eq!(
            v.is_valid(0).then(|| v.value(0)),
            clean,
            "{}: asset a",
            d.name
        );
        assert!(
            v.is_null(1),
            "{}: asset b has only NULL/non-finite values",
            d.name
        );
    }
}

/// The markdown of `docs/features.md`, with each example computed by running it.
async fn features_markdown() -> String {
    let ctx = example_context().await;
    let mut md = String::from(
        "# Feature functions\n\n\
         Vigil registers these functions in every DataFusion context it creates (the streaming job, \
         `vigil train`, `vigil features`, backtests), so a feature means the same thing in training and \
         serving. Use them in the job's feature SQL like any aggregate: `SELECT asset_id, rms(vibration) AS vib_rms \
         FROM readings GROUP BY asset_id`. NULL and non-finite inputs (NaN, ±inf) are skipped; a function \
         returns NULL when it is undefined for the values it saw (none, or too few). Every aggregate has an \
         exact partial state and merge, so pane-based hopping windows and restarts give the same result as \
         one pass.\n\n\
         Percentiles come from DataFusion itself. `median(x)` is exact and its state keeps the window's values, so \
         it merges exactly across hopping panes (property-tested in `features::tests`). \
         `percentile_cont(0.9) WITHIN GROUP (ORDER BY x)` is exact too, but a query with an ordered aggregate \
         cannot be split into pane states: it runs whole over each window's readings, so its cost grows with \
         size/slide. `approx_percentile_cont(0.9) WITHIN GROUP (ORDER BY x)` (a t-digest) is approximate and runs \
         whole per window as well.\n\n\
         Generated from `operators/src/functions/` by the test `functions::tests::docs_are_in_sync` \
         (`VIGIL_BLESS=1` rewrites this file); do not edit by hand.\n\n\
         The examples run on `x` = [2, −1, 3.5, 0.5, −2.5, 4, 1] with `ts` = 0, 1, 2, 3.5, 4, 6, 7 s.\n\n\
         | function | formula |\n|---|---|\n",
    );
    for d in docs().into_iter().chain(spectral_docs()) {
        md.push_str(&format!(
            "| [`{}`](#{}) | {} |\n",
            d.name,
            d.name,
            d.formula.replace('|', "\\|")
        ));
    }
    for d in docs() {
        let call = if d.takes_time {
            format!("{}(x, ts)", d.name)
        } else {
            format!("{}(x)", d.name)
        };
        let v = sql_value(&ctx, &format!("SELECT {call} FROM samples")).await;
        md.push_str(&format!(
            "\n## {}\n\n`{}`\n\n{}\n\nFormula: {}\n\nExample: `SELECT {call} FROM samples` → {}\n",
            d.name,
            d.signature,
            d.description,
            d.formula,
            v.map_or("NULL".to_string(), |v| format!("{v:.6}"))
        ));
    }
    md.push_str(
        "\n## Waveform functions\n\n\
         A reading may carry waveform snapshots (`\"waveforms\": {\"vibration\": {\"rate_hz\": 2560, \"samples\": [...]}}`); \
         a job maps them with `[fields] waveforms = [\"vibration\"]`, and the SQL sees a `vibration` column (the samples) and a \
         `vibration_rate_hz` column. These functions are scalar (one value per snapshot, computed with rustfft); aggregate \
         them over the window, e.g. `avg(band_energy(vibration, vibration_rate_hz, 300, 600))`. `P_k` is the one-sided power \
         spectrum: `P_k = c_k |X_k|² / N²`, `f_k = k·rate/N`, `c_k = 2` except at DC and Nyquist, so the powers sum to the \
         mean square of the snapshot.\n\n\
         The examples run on one snapshot of sin(2π·50t) + 0.5·sin(2π·120t) sampled at 1000 Hz for 1 s.\n",
    );
    for d in spectral_docs() {
        let v = sql_value(
            &ctx,
            &format!("SELECT {}({}) FROM snapshots", d.name, d.sql_args),
        )
        .await;
        md.push_str(&format!(
            "\n### {}\n\n`{}`\n\n{}\n\nFormula: {}\n\nExample: `SELECT {}({}) FROM snapshots` → {}\n",
            d.name,
            d.signature,
            d.description,
            d.formula,
            d.name,
            d.sql_args,
            v.map_or("NULL".to_string(), |v| format!("{v:.6}"))
        ));
    }
    md
}

#[tokio::test]
async fn docs_are_in_sync() {
    let md = features_markdown().await;
    // the crate directory as cargo gives it to the running test, not as it was at compile
    // time: a target directory shared between clones reuses a build made in another clone
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || env!("CARGO_MANIFEST_DIR").into(),
        std::path::PathBuf::from,
    );
    let path = dir.join("../docs/features.md");
    if std::env::var_os("VIGIL_BLESS").is_some() {
        std::fs::write(&path, &md).expect("write docs/features.md");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == md,
        "docs/features.md is out of date with operators/src/functions/: run `VIGIL_BLESS=1 cargo test -p vigil-operators docs_are_in_sync`"
    );
}

/// Waveform functions on edge-case snapshots, through SQL: a NULL snapshot, an empty one, one
/// sample, a constant, one with a non-finite sample, and a bad rate.
#[tokio::test]
async fn waveform_functions_edge_cases() {
    let ctx = SessionContext::new();
    register_all(&ctx);
    let snaps: Vec<Option<Vec<Option<f64>>>> = vec![
        None,
        Some(vec![]),
        Some(vec![Some(3.0)]),
        Some(vec![Some(2.0); 8]),
        Some(vec![Some(1.0), Some(f64::NAN), Some(1.0), Some(-1.0)]),
        Some(vec![Some(1.0), Some(-1.0), Some(1.0), Some(-1.0)]),
    ];
    let list = datafusion::arrow::array::ListArray::from_iter_primitive::<Float64Type, _, _>(snaps);
    let rates = Float64Array::from(vec![
        Some(8.0),
        Some(8.0),
        Some(8.0),
        Some(8.0),
        Some(8.0),
        Some(0.0),
    ]);
    let schema = Arc::new(Schema::new(vec![
        Field::new("samples", list.data_type().clone(), true),
        Field::new("rate_hz", DataType::Float64, true),
        Field::new("id", DataType::Float64, false),
    ]));
    let ids = Float64Array::from((0..6).map(f64::from).collect::<Vec<_>>());
    let b = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(list), Arc::new(rates), Arc::new(ids)],
    )
    .expect("batch");
    ctx.register_table(
        "w",
        Arc::new(MemTable::try_new(schema, vec![vec![b]]).expect("table")),
    )
    .expect("register");
    let out = ctx
        .sql("SELECT band_energy(samples, rate_hz, 0, 4), dominant_frequency(samples, rate_hz), spectral_centroid(samples, rate_hz), envelope_band_energy(samples, rate_hz, 0, 4) FROM w ORDER BY id")
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let col = |c: usize| -> Vec<Option<f64>> {
        let a = out[0].column(c).as_primitive::<Float64Type>();
        (0..a.len())
            .map(|i| a.is_valid(i).then(|| a.value(i)))
            .collect()
    };
    // band_energy: NULL, empty -> NULL, one sample -> its square (DC), constant 2 -> DC power 4,
    // NaN sample -> NULL, rate 0 -> NULL
    assert_eq!(col(0), vec![None, None, Some(9.0), Some(4.0), None, None]);
    // dominant frequency and centroid: undefined without non-DC power
    assert_eq!(col(1), vec![None, None, None, None, None, None]);
    assert_eq!(col(2), vec![None, None, None, None, None, None]);
    // envelope of a constant is flat: no energy
    assert_eq!(col(3), vec![None, None, Some(0.0), Some(0.0), None, None]);
}
