//! Unit tests of `windowed`.
use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use proptest::prelude::*;

use super::*;

fn batch(rows: &[(&str, i64, f64)]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("asset_id", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("v", DataType::Float64, true),
    ]));
    RecordBatch::try_new(
        schema,
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

fn timestamps(w: &ClosedWindow) -> Vec<i64> {
    let mut v: Vec<i64> = w
        .batches
        .iter()
        .flat_map(|b| {
            b.column(1)
                .as_primitive::<TimestampMillisecondType>()
                .values()
                .to_vec()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn tumbling_window_closes_when_watermark_passes_its_end() {
    let mut op = WindowOperator::new(WindowSpec::tumbling(10).unwrap(), 2);
    op.ingest(&batch(&[("a", 1, 1.0), ("b", 5, 2.0), ("a", 11, 3.0)]))
        .unwrap();
    assert!(op.advance().is_empty(), "watermark 9 < end 10");
    op.ingest(&batch(&[("a", 12, 1.0)])).unwrap();
    let closed = op.advance();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].window, Window { start: 0, end: 10 });
    assert_eq!(timestamps(&closed[0]), vec![1, 5]);
    // a reading for the closed window is late; one for the open window is accepted
    let out = op.ingest(&batch(&[("a", 9, 1.0), ("a", 10, 1.0)])).unwrap();
    assert_eq!(out.late_rows, vec![0]);
    assert_eq!(out.accepted, 1);
    let rest = op.flush();
    assert_eq!(rest.len(), 1);
    assert_eq!(timestamps(&rest[0]), vec![10, 11, 12]);
}

#[test]
fn gaps_produce_no_empty_windows() {
    let mut op = WindowOperator::new(WindowSpec::hopping(20, 10).unwrap(), 0);
    op.ingest(&batch(&[("a", 5, 1.0), ("a", 1005, 1.0)]))
        .unwrap();
    let closed = op.advance();
    let bounds: Vec<_> = closed
        .iter()
        .map(|c| (c.window.start, c.window.end))
        .collect();
    assert_eq!(bounds, vec![(-10, 10), (0, 20)]);
    assert_eq!(op.open_panes(), 1);
}

/// Reference: sort nothing, just for every window that any accepted reading falls in, collect
/// the readings with start <= ts < end.
fn reference(events: &[i64], size: i64, slide: i64) -> BTreeMap<(i64, i64), Vec<i64>> {
    let spec = WindowSpec::hopping(size, slide).unwrap();
    let mut out: BTreeMap<(i64, i64), Vec<i64>> = BTreeMap::new();
    for &t in events {
        for w in spec.windows_of(t) {
            out.entry((w.start, w.end)).or_default().push(t);
        }
    }
    out.values_mut().for_each(|v| v.sort());
    out
}

proptest! {
    /// With in-order-enough input (no lateness), any split into batches yields exactly the
    /// reference windows.
    #[test]
    fn any_batching_gives_reference_windows(
        mut events in proptest::collection::vec(0i64..2_000, 1..150),
        cuts in proptest::collection::vec(1usize..20, 0..20),
        slide in 1i64..40, k in 1i64..5,
    ) {
        events.sort();
        let size = slide * k;
        let mut op = WindowOperator::new(WindowSpec::hopping(size, slide).unwrap(), 0);
        let mut got: BTreeMap<(i64, i64), Vec<i64>> = BTreeMap::new();
        let mut rest: &[i64] = &events;
        let mut cuts = cuts.into_iter();
        while !rest.is_empty() {
            let n = cuts.next().unwrap_or(rest.len()).min(rest.len());
            let rows: Vec<(&str, i64, f64)> = rest[..n].iter().map(|t| ("a", *t, 0.0)).collect();
            let out = op.ingest(&batch(&rows)).unwrap();
            prop_assert!(out.late_rows.is_empty());
            for c in op.advance() {
                prop_assert!(got.insert((c.window.start, c.window.end), timestamps(&c)).is_none(), "window emitted twice");
            }
            rest = &rest[n..];
        }
        for c in op.flush() {
            prop_assert!(got.insert((c.window.start, c.window.end), timestamps(&c)).is_none(), "window emitted twice");
        }
        prop_assert_eq!(got, reference(&events, size, slide));
    }

    /// With disorder, every reading is either in all reference windows that were emitted after it
    /// arrived, or reported late; none vanishes.
    #[test]
    fn disorder_never_loses_a_reading(
        events in proptest::collection::vec(0i64..1_000, 1..120),
        slide in 1i64..30, k in 1i64..4, ooo in 0i64..50,
    ) {
        let size = slide * k;
        let mut op = WindowOperator::new(WindowSpec::hopping(size, slide).unwrap(), ooo);
        let mut seen_in_windows = 0usize;
        let mut late = 0usize;
        let mut accepted = 0usize;
        for t in &events {
            let out = op.ingest(&batch(&[("a", *t, 0.0)])).unwrap();
            late += out.late_rows.len();
            accepted += out.accepted;
            seen_in_windows += op.advance().iter().map(ClosedWindow::num_rows).sum::<usize>();
        }
        seen_in_windows += op.flush().iter().map(ClosedWindow::num_rows).sum::<usize>();
        prop_assert_eq!(late + accepted, events.len());
        // each accepted reading appears in between 1 and k windows
        prop_assert!(seen_in_windows >= accepted);
        prop_assert!(seen_in_windows <= accepted * k as usize);
        if k == 1 { prop_assert_eq!(seen_in_windows, accepted); }
    }
}
