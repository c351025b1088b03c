//! Unit tests of `features`.
use datafusion::arrow::array::{
    Array, AsArray, Float64Array, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::Float64Type;

use proptest::prelude::*;

use super::*;
use crate::stats::ValueStats;
use crate::windows::PaneData;
use crate::Window;

fn window(start: i64, end: i64, panes: Vec<Vec<RecordBatch>>) -> ClosedWindow {
    ClosedWindow {
        bounds: Bounds::Fixed(Window { start, end }),
        panes: panes
            .into_iter()
            .enumerate()
            .map(|(i, raw)| PaneData {
                start: i as i64,
                raw,
                partial: vec![],
            })
            .collect(),
        panes_reused: true,
        stats: ValueStats::default(),
    }
}

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
    let rows: Vec<(&str, i64, Option<f64>)> = rows.iter().map(|r| (r.0, r.1, Some(r.2))).collect();
    batch_opt(&rows)
}

const SQL: &str = "SELECT asset_id, avg(vibration) AS vib_mean, max(vibration) - min(vibration) AS vib_p2p, count(*) AS n \
                   FROM readings GROUP BY asset_id ORDER BY asset_id";

#[tokio::test]
async fn one_row_per_asset_per_window_with_the_plan_reused() {
    let q = FeatureQuery::plan(SQL, readings_schema()).await.unwrap();
    assert_eq!(q.feature_names(), ["vib_mean", "vib_p2p", "n"]);
    assert!(q.is_two_phase());
    let w1 = window(
        0,
        10,
        vec![
            vec![batch(&[("a", 1, 1.0), ("b", 2, 10.0)])],
            vec![batch(&[("a", 3, 3.0)])],
        ],
    );
    let out = q.run(&w1, None).await.unwrap();
    assert_eq!(out.num_rows(), 2);
    assert_eq!(out.column(0).as_string::<i32>().value(0), "a");
    assert_eq!(out.column(3).as_primitive::<Float64Type>().value(0), 2.0);
    assert_eq!(out.column(4).as_primitive::<Float64Type>().value(0), 2.0);
    assert_eq!(out.column(5).as_primitive::<Float64Type>().value(1), 1.0);
    // the same plan over the next window sees only that window's data
    let w2 = window(10, 20, vec![vec![batch(&[("b", 11, 4.0)])]]);
    let out2 = q.run(&w2, None).await.unwrap();
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

#[tokio::test]
async fn shapes_that_cannot_split_run_whole() {
    for sql in [
        "SELECT asset_id, avg(v) AS m FROM (SELECT asset_id, vibration - avg(vibration) OVER (PARTITION BY asset_id) AS v FROM readings) GROUP BY asset_id",
        "SELECT asset_id, max(m) AS mm FROM (SELECT asset_id, avg(vibration) AS m FROM readings GROUP BY asset_id, ts) GROUP BY asset_id",
        "SELECT asset_id, vibration AS v FROM readings",
    ] {
        let q = FeatureQuery::plan(sql, readings_schema()).await.unwrap();
        assert!(!q.is_two_phase(), "{sql}");
        let w = window(0, 10, vec![vec![batch(&[("a", 1, 1.0), ("a", 2, 3.0)])]]);
        assert!(q.run(&w, None).await.unwrap().num_rows() >= 1);
    }
}

/// Two-phase SQL with HAVING and a filter: pane states merged per window equal the whole SQL
/// over the same readings, for any split of the readings into panes; partial states are
/// cached per pane and reused.
#[test]
fn two_phase_equals_one_phase_for_any_pane_split() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let sql = "SELECT asset_id, avg(vibration) AS m, stddev_samp(vibration) AS s, \
               min(vibration) AS lo, count(DISTINCT vibration) AS nd, sum(vibration) FILTER (WHERE vibration > 0) AS pos \
               FROM readings WHERE vibration > -900 GROUP BY asset_id HAVING count(*) > 1";
    let q = rt
        .block_on(FeatureQuery::plan(sql, readings_schema()))
        .unwrap();
    assert!(q.is_two_phase());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(200));
    let strat = (
        proptest::collection::vec((0u8..4, -1000i32..1000), 1..80),
        proptest::collection::vec(0usize..10, 1..8),
    );
    runner
        .run(&strat, |(rows, cuts)| {
            let rows: Vec<(&str, i64, f64)> = rows
                .iter()
                .enumerate()
                .map(|(i, (a, v))| {
                    (
                        ["a", "b", "c", "d"][*a as usize],
                        i as i64,
                        f64::from(*v) / 8.0,
                    )
                })
                .collect();
            let panes = cut_panes(&rows, &cuts, batch);
            let w = window(0, 100, panes);
            let mut cache = HashMap::new();
            q.reset_sliding();
            let two = rt.block_on(q.run(&w, Some(&mut cache))).unwrap();
            let again = rt.block_on(q.run(&w, Some(&mut cache))).unwrap();
            let whole = rt.block_on(q.run_whole(vec![batch(&rows)])).unwrap();
            let whole = q.shape_output(whole, &w.bounds).unwrap();
            prop_assert_eq!(sorted(&two), sorted(&whole));
            prop_assert_eq!(sorted(&again), sorted(&whole));
            Ok(())
        })
        .unwrap();
}

/// Rows of a feature batch as text, sorted by asset, values rounded to 9 significant digits.
fn sorted(b: &RecordBatch) -> Vec<String> {
    let mut v: Vec<String> = (0..b.num_rows())
        .map(|i| {
            let mut row = b.column(0).as_string::<i32>().value(i).to_string();
            for c in 3..b.num_columns() {
                let col = b.column(c).as_primitive::<Float64Type>();
                if col.is_null(i) {
                    row.push_str(" null");
                } else {
                    row.push_str(&format!(" {:.9e}", col.value(i)));
                }
            }
            row
        })
        .collect();
    v.sort();
    v
}

/// Consecutive hopping windows through the two-stacks sliding aggregate (windows sliding by one
/// or more panes, sometimes repeated, and panes that gain late readings between windows) give
/// exactly what the whole SQL gives over each window's readings.
#[test]
fn sliding_pane_merge_equals_one_phase_for_every_window() {
    let sql = "SELECT asset_id, avg(vibration) AS m, stddev_samp(vibration) AS s, max(vibration) AS hi, count(*) AS n \
               FROM readings GROUP BY asset_id";
    // the panes run natively here, checked against DataFusion's whole plan
    assert!(planned(sql).is_native());
    sliding_matches_whole(sql, 100, false);
}

/// DataFusion's exact `median` keeps its values in its state: it runs two-phase through hopping
/// panes and every window equals one pass.
#[test]
fn median_through_hopping_panes_equals_one_pass() {
    let sql = "SELECT asset_id, median(vibration) AS med, max(vibration) AS hi FROM readings GROUP BY asset_id";
    assert!(planned(sql).is_two_phase());
    sliding_matches_whole(sql, 40, false);
}

/// `percentile_cont ... WITHIN GROUP (ORDER BY ...)` carries an ordering, so its query cannot be
/// split into pane states: it runs whole over each window's readings (what `docs/features.md`
/// says), and still gives the one-pass result however the readings fell into panes.
#[test]
fn ordered_percentiles_run_whole_per_window() {
    let sql = "SELECT asset_id, percentile_cont(0.9) WITHIN GROUP (ORDER BY vibration) AS p90 FROM readings GROUP BY asset_id";
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(!rt
        .block_on(FeatureQuery::plan(sql, readings_schema()))
        .unwrap()
        .is_two_phase());
    sliding_matches_whole(sql, 20, false);
}

/// Vigil's own aggregates (moments, extremes, the trend and the time-ordered series functions)
/// through real hopping panes and the sliding merge, with NaN readings mixed in (skipped) and
/// several readings per event time: every window equals one pass over its readings (to 1e-9,
/// the moment merges reassociate floating-point sums).
#[test]
fn vigil_aggregates_through_sliding_panes_equal_one_pass() {
    let sql = "SELECT asset_id, rms(vibration) AS r, kurtosis(vibration) AS k, skewness(vibration) AS sk, \
               crest_factor(vibration) AS cf, peak_to_peak(vibration) AS p2p, slope(vibration, ts) AS sl, \
               zero_crossing_rate(vibration, ts) AS zcr, mean_abs_change(vibration, ts) AS mac \
               FROM readings GROUP BY asset_id";
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(rt
        .block_on(FeatureQuery::plan(sql, readings_schema()))
        .unwrap()
        .is_two_phase());
    sliding_matches_whole(sql, 60, true);
}

/// `a` and `b` hold the same rows, each value equal to a relative 1e-9 (absolute near zero).
fn assert_rows_close(a: &RecordBatch, b: &RecordBatch) -> Result<(), TestCaseError> {
    let rows = |x: &RecordBatch| -> Vec<(String, Vec<Option<f64>>)> {
        let mut v: Vec<_> = (0..x.num_rows())
            .map(|i| {
                let vals = (3..x.num_columns())
                    .map(|c| {
                        let col = x.column(c).as_primitive::<Float64Type>();
                        (!col.is_null(i)).then(|| col.value(i))
                    })
                    .collect();
                (x.column(0).as_string::<i32>().value(i).to_string(), vals)
            })
            .collect();
        v.sort_by(|p, q| p.0.cmp(&q.0));
        v
    };
    let (ra, rb) = (rows(a), rows(b));
    prop_assert_eq!(ra.len(), rb.len());
    for ((asset_a, va), (asset_b, vb)) in ra.iter().zip(&rb) {
        prop_assert_eq!(asset_a, asset_b);
        for (c, (x, y)) in va.iter().zip(vb).enumerate() {
            let ok = match (x, y) {
                (Some(x), Some(y)) if x.is_nan() || y.is_nan() => x.is_nan() && y.is_nan(),
                (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
                (None, None) => true,
                _ => false,
            };
            prop_assert!(ok, "asset {} column {}: {:?} vs {:?}", asset_a, c + 3, x, y);
        }
    }
    Ok(())
}

/// Drives random hopping windows over 12 panes through `FeatureQuery::run` (partial states per
/// pane, the two-stacks sliding merge) and compares each window with the whole SQL over its
/// readings. With `nan`, some readings are NaN and values are compared to 1e-9.
fn sliding_matches_whole(sql: &str, cases: u32, nan: bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let q = rt
        .block_on(FeatureQuery::plan(sql, readings_schema()))
        .unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases));
    let strat = (
        proptest::collection::vec((0u8..3, 0usize..12, -100i32..100), 1..150),
        1usize..6,
        proptest::collection::vec(
            (
                1usize..3,
                proptest::option::of((0usize..12, 0u8..3, -100i32..100)),
            ),
            1..14,
        ),
    );
    let value = |v: i32, i: usize| {
        if nan && v % 17 == 0 {
            f64::NAN
        } else {
            f64::from(v) + if nan { (i % 7) as f64 / 8.0 } else { 0.0 }
        }
    };
    // several readings share an event time: pane p's readings are at p*10 .. p*10+3 ms
    let ts = |p: usize, i: usize| (p * 10 + i % 4) as i64;
    runner
        .run(&strat, |(rows, k, moves)| {
            q.reset_sliding();
            // pane p holds its raw rows until first used, then partial states (absorbed)
            let mut raw: Vec<Vec<(String, i64, f64)>> = vec![Vec::new(); 12];
            for (i, (a, p, v)) in rows.iter().enumerate() {
                raw[*p].push((
                    ["a", "b", "c"][*a as usize].to_string(),
                    ts(*p, i),
                    value(*v, i),
                ));
            }
            let mut all = raw.clone();
            let mut partial: Vec<Vec<RecordBatch>> = vec![Vec::new(); 12];
            let mut first = 0usize;
            for (i, (step, late)) in moves.into_iter().enumerate() {
                if let Some((p, a, v)) = late {
                    let r = (
                        ["a", "b", "c"][a as usize].to_string(),
                        ts(p, i + 1),
                        value(v, i + 1),
                    );
                    raw[p].push(r.clone());
                    all[p].push(r);
                }
                let panes: Vec<PaneData> = (first..(first + k).min(12))
                    .filter(|p| !raw[*p].is_empty() || !partial[*p].is_empty())
                    .map(|p| {
                        let r: Vec<(&str, i64, f64)> =
                            raw[p].iter().map(|x| (x.0.as_str(), x.1, x.2)).collect();
                        PaneData {
                            start: (p * 10) as i64,
                            raw: if r.is_empty() {
                                vec![]
                            } else {
                                vec![batch(&r)]
                            },
                            partial: partial[p].clone(),
                        }
                    })
                    .collect();
                if panes.is_empty() {
                    first += step;
                    continue;
                }
                let bounds = Bounds::Fixed(Window {
                    start: (first * 10) as i64,
                    end: ((first + k) * 10) as i64,
                });
                let w = ClosedWindow {
                    bounds,
                    panes,
                    panes_reused: true,
                    stats: ValueStats::default(),
                };
                let mut cache = HashMap::new();
                let got = rt.block_on(q.run(&w, Some(&mut cache))).unwrap();
                for (p, states) in cache {
                    raw[(p / 10) as usize].clear();
                    partial[(p / 10) as usize].extend(states);
                }
                let rows: Vec<(&str, i64, f64)> = (first..(first + k).min(12))
                    .flat_map(|p| all[p].iter().map(|x| (x.0.as_str(), x.1, x.2)))
                    .collect();
                let want = rt.block_on(q.run_whole(vec![batch(&rows)])).unwrap();
                let want = q.shape_output(want, &w.bounds).unwrap();
                if nan {
                    assert_rows_close(&got, &want)?;
                } else {
                    prop_assert_eq!(
                        sorted(&got),
                        sorted(&want),
                        "window starting at pane {}",
                        first
                    );
                }
                first += step;
            }
            Ok(())
        })
        .unwrap();
}

/// `sql` planned against the test readings schema, on a runtime of its own.
fn planned(sql: &str) -> FeatureQuery {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(FeatureQuery::plan(sql, readings_schema()))
        .unwrap()
}

/// `rows` cut into one-batch panes of `cuts[i]` rows each (as many as are left), the rest in a
/// last pane.
fn cut_panes<T>(
    rows: &[T],
    cuts: &[usize],
    make: impl Fn(&[T]) -> RecordBatch,
) -> Vec<Vec<RecordBatch>> {
    let mut panes = Vec::new();
    let mut rest = rows;
    for c in cuts {
        let n = (*c).min(rest.len());
        panes.push(vec![make(&rest[..n])]);
        rest = &rest[n..];
    }
    panes.push(vec![make(rest)]);
    panes
}

/// Readings of `vibration` with nulls.
fn batch_opt(rows: &[(&str, i64, Option<f64>)]) -> RecordBatch {
    RecordBatch::try_new(
        readings_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(
                TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.1))
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap()
}

/// `sql` planned natively and on DataFusion, and a runtime to run them on.
fn native_and_datafusion(sql: &str) -> (tokio::runtime::Runtime, FeatureQuery, FeatureQuery) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let nat = rt
        .block_on(FeatureQuery::plan(sql, readings_schema()))
        .unwrap();
    let df = rt
        .block_on(FeatureQuery::plan(sql, readings_schema()))
        .unwrap()
        .without_native();
    assert!(nat.is_native() && !df.is_native());
    (rt, nat, df)
}

/// Which shapes run natively: plain aggregates of measurements by asset, with anything above
/// the aggregate; not a filter below it, a DISTINCT, a Vigil function or a string's minimum.
#[tokio::test]
async fn only_plain_aggregates_by_asset_run_natively() {
    let native = |sql: &'static str| async move {
        let q = FeatureQuery::plan(sql, readings_schema()).await.unwrap();
        assert!(q.is_two_phase() || !q.is_native(), "{sql}");
        q.is_native()
    };
    assert!(native(SQL).await);
    assert!(
        native("SELECT asset_id, var(vibration) AS v FROM readings GROUP BY asset_id HAVING count(*) > 2")
            .await
    );
    assert!(
        !native("SELECT asset_id, avg(vibration) AS v FROM readings WHERE vibration > 0 GROUP BY asset_id")
            .await
    );
    assert!(
        !native("SELECT asset_id, count(DISTINCT vibration) AS v FROM readings GROUP BY asset_id")
            .await
    );
    assert!(!native("SELECT asset_id, rms(vibration) AS v FROM readings GROUP BY asset_id").await);
    assert!(
        !native("SELECT asset_id, count(*) AS n, length(min(asset_id)) AS x FROM readings GROUP BY asset_id")
            .await
    );
    let off = FeatureQuery::plan(SQL, readings_schema())
        .await
        .unwrap()
        .without_native();
    assert!(off.is_two_phase() && !off.is_native());
}

/// The native phases give what DataFusion's phases give, for readings with nulls and NaN
/// split into panes, with pane states computed or folded early: the outputs agree to 1e-9, and
/// the states either path wrote finish in the other (the pane store and changelog snapshots
/// hold states of both).
#[test]
fn native_phases_equal_datafusions_and_share_its_states() {
    let sql = "SELECT asset_id, avg(vibration) AS m, min(vibration) AS lo, \
               max(vibration) - min(vibration) AS p2p, sum(vibration) AS s, count(vibration) AS nv, \
               count(*) AS n, var_pop(vibration) AS vp, stddev(vibration) AS sd, var(vibration) AS v \
               FROM readings GROUP BY asset_id HAVING count(*) > 0";
    let (rt, nat, df) = native_and_datafusion(sql);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(150));
    let strat = (
        proptest::collection::vec((0u8..5, proptest::option::of(-400i32..400)), 1..120),
        proptest::collection::vec(0usize..30, 0..4),
        any::<bool>(),
    );
    runner
        .run(&strat, |(rows, cuts, nan)| {
            let rows: Vec<(&str, i64, Option<f64>)> = rows
                .iter()
                .enumerate()
                .map(|(i, (a, v))| {
                    let v = v.map(|v| {
                        if nan && v % 29 == 0 {
                            f64::NAN
                        } else {
                            f64::from(v) / 7.0
                        }
                    });
                    (["a", "b", "c", "d", "e"][*a as usize], i as i64, v)
                })
                .collect();
            let panes = cut_panes(&rows, &cuts, batch_opt);
            // whole windows, pane states computed at the close
            let w = window(0, 1000, panes.clone());
            for q in [&nat, &df] {
                q.reset_sliding();
            }
            let got = rt.block_on(nat.run(&w, Some(&mut HashMap::new()))).unwrap();
            let want = rt.block_on(df.run(&w, Some(&mut HashMap::new()))).unwrap();
            assert_rows_close(&got, &want)?;
            // panes folded early by one path, finished by the other
            for (fold, finish) in [(&nat, &df), (&df, &nat)] {
                let mut folded = w.clone();
                for p in &mut folded.panes {
                    let states = rt
                        .block_on(fold.fold_states(vec![], std::mem::take(&mut p.raw)))
                        .unwrap()
                        .unwrap();
                    p.partial = states;
                }
                finish.reset_sliding();
                let out = rt.block_on(finish.run(&folded, None)).unwrap();
                assert_rows_close(&out, &want)?;
            }
            Ok(())
        })
        .unwrap();
}

/// A tumbling pane as the engine folds it natively, each fold merging the previous fold's
/// states with new readings, then closed with readings still raw: the folds and the close reuse
/// the index of the states they merge first, and the output equals DataFusion's one pass over
/// every reading (to 1e-9, with nulls and NaN).
#[test]
fn folds_that_reuse_their_index_close_like_one_pass() {
    let sql = "SELECT asset_id, avg(vibration) AS m, min(vibration) AS lo, max(vibration) AS hi, \
               sum(vibration) AS s, count(vibration) AS nv, count(*) AS n, \
               var_pop(vibration) AS vp, stddev(vibration) AS sd \
               FROM readings GROUP BY asset_id";
    let (rt, nat, df) = native_and_datafusion(sql);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(150));
    let strat = (
        proptest::collection::vec((0u8..9, proptest::option::of(-400i32..400)), 1..150),
        proptest::collection::vec(1usize..40, 0..5),
        any::<bool>(),
    );
    runner
        .run(&strat, |(rows, cuts, nan)| {
            let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
            let rows: Vec<(&str, i64, Option<f64>)> = rows
                .iter()
                .enumerate()
                .map(|(i, (a, v))| {
                    let v = v.map(|v| match v % 23 {
                        0 if nan => f64::NAN,
                        _ => f64::from(v) / 7.0,
                    });
                    (names[*a as usize], i as i64, v)
                })
                .collect();
            let mut chunks = cut_panes(&rows, &cuts, batch_opt);
            let last = chunks.pop().unwrap_or_default();
            let before = nat.native_index_reuses();
            let mut partial: Vec<RecordBatch> = Vec::new();
            for raw in &chunks {
                partial = rt
                    .block_on(nat.fold_states(partial, raw.clone()))
                    .unwrap()
                    .unwrap();
            }
            let mut w = window(0, 1000, vec![last]);
            w.panes_reused = false;
            w.panes[0].partial = partial;
            // consumed, as the engine closes a tumbling window: its states become the close's
            let got = rt.block_on(nat.run_owned(w, None)).unwrap();
            // every fold after the first, and the close after any fold
            let reuses = nat.native_index_reuses() - before;
            prop_assert_eq!(reuses, chunks.len() as u64);
            let all = window(0, 1000, vec![vec![batch_opt(&rows)]]);
            let want = rt.block_on(df.run_single_phase(&all)).unwrap();
            assert_rows_close(&got, &want)?;
            Ok(())
        })
        .unwrap();
}

/// A fold handed the only reference to its pane's states updates their arrays in place: with
/// no new asset, the next states hold the same id column and the same value buffers (no copy
/// of every asset's accumulators per fold), and the values are those of one pass.
#[test]
fn a_fold_of_states_held_once_updates_their_arrays_in_place() {
    let sql = "SELECT asset_id, sum(vibration) AS s, avg(vibration) AS m, count(*) AS n, \
               var_pop(vibration) AS vp FROM readings GROUP BY asset_id";
    let (rt, nat, df) = native_and_datafusion(sql);
    let first = vec![batch(&[("a", 1, 1.0), ("b", 2, 2.0)])];
    let second = vec![batch(&[("b", 3, 4.0), ("a", 4, 8.0)])];
    let states = rt
        .block_on(nat.fold_states(vec![], first.clone()))
        .unwrap()
        .unwrap();
    let ptrs = |b: &RecordBatch| -> Vec<*const u8> {
        b.columns()[1..]
            .iter()
            .map(|c| c.to_data().buffers()[0].as_ptr())
            .collect()
    };
    let (ids, before) = (states[0].column(0).clone(), ptrs(&states[0]));
    let states = rt
        .block_on(nat.fold_states(states, second.clone()))
        .unwrap()
        .unwrap();
    assert!(
        Arc::ptr_eq(&ids, states[0].column(0)),
        "the id column is kept"
    );
    assert_eq!(
        ptrs(&states[0]),
        before,
        "every state array is updated in place"
    );
    // and a copy when the states are held elsewhere too
    let held = states.clone();
    let third = rt
        .block_on(nat.fold_states(states, vec![batch(&[("a", 5, 16.0)])]))
        .unwrap()
        .unwrap();
    assert_ne!(ptrs(&third[0]), ptrs(&held[0]));
    let mut w = window(0, 1000, vec![vec![]]);
    w.panes_reused = false;
    w.panes[0].partial = third;
    let got = rt.block_on(nat.run_owned(w, None)).unwrap();
    let mut all = first;
    all.extend(second);
    all.push(batch(&[("a", 5, 16.0)]));
    let want = rt
        .block_on(df.run_single_phase(&window(0, 1000, vec![all])))
        .unwrap();
    assert_rows_close(&got, &want).unwrap();
}
