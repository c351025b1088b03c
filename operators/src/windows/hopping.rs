//! Hopping windows, pane based: each reading is stored once, in its slide-sized pane.
//!
//! A hopping window of size `k * slide` is the union of `k` consecutive panes. Readings are
//! stored per pane; when a window closes it is handed out as its panes' data. The feature SQL
//! reduces each pane's raw readings to partial aggregate state the first time a window needs
//! them and hands those states back ([`PaneStore::absorb`]), so the following `k - 1` windows
//! over the same pane merge states instead of re-reading the readings: the aggregation cost per
//! reading does not grow with `size / slide`. Tumbling windows are the `k = 1` case.
//!
//! A window closes when the close bound (watermark minus allowed lateness) reaches its end. A
//! reading is late when every window containing it has closed; a reading whose *earlier*
//! windows closed but whose later ones are open is accepted into the open ones.

use std::collections::{BTreeMap, HashMap};

use datafusion::arrow::array::{RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use serde::{Deserialize, Serialize};

use super::{Bounds, ClosedWindow, PaneData};
use crate::snapshot::{
    decode_batches, decode_segments, encode_batches, encode_segments, Parts, Segments,
};
use crate::stats::ValueStats;
use crate::{OperatorError, Window, WindowSpec};

/// One pane's contents.
#[derive(Debug, Clone, Default)]
struct Pane {
    raw: Vec<RecordBatch>,
    partial: Vec<RecordBatch>,
    stats: Option<ValueStats>,
    saved: Saved,
}

/// What incremental snapshots already wrote of a pane: `raw[..raw]` are in the segments
/// `raw_segs`, `partial[..partial]` in `partial_segs`; `next` numbers the pane's next segment.
///
/// A fold need not rewrite the pane's states (see [`PaneStore::fold`]): the snapshot then
/// keeps naming the states written last (`written_rows` rows) and, after them, every raw row
/// folded since (`behind` rows): those already written stay in `raw_segs`, the others wait
/// in `pending` until the next snapshot writes them, ahead of the raw rows not folded.
/// `unwritten` marks states a fold replaced that no snapshot has written yet: the next fold
/// rewrites them too, since the states it would keep naming were never stored.
#[derive(Debug, Clone, Default)]
struct Saved {
    raw: usize,
    raw_segs: Vec<String>,
    partial: usize,
    partial_segs: Vec<String>,
    next: u32,
    pending: Vec<RecordBatch>,
    behind: usize,
    written_rows: usize,
    unwritten: bool,
}

/// A pane's first raw rows due to be folded into its partial states.
#[derive(Debug, Clone)]
pub struct Fold {
    /// The pane's start.
    pub start: i64,
    /// Raw rows folded.
    pub rows: usize,
    /// Its first `rows` raw rows.
    pub raw: Vec<RecordBatch>,
}

/// Raw rows at which a pane holding `partial_rows` partial state rows folds under a geometric
/// [`FoldRule`]: at least `min_rows`, and twice its partial rows, so the work of merging those
/// states is spread over as many readings. The same bound decides when a fold's states are
/// written to the snapshot again (rows folded since the states written last).
pub fn fold_due(min_rows: usize, partial_rows: usize) -> usize {
    min_rows.max(1).max(2 * partial_rows)
}

/// When a pane's raw readings fold into its partial states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoldRule {
    /// Raw rows a fold takes at least.
    pub min_rows: usize,
    /// Each fold takes [`fold_due`] rows (DataFusion's aggregation, which merges all of a
    /// pane's states again at every fold); else exactly `min_rows` (the native aggregation,
    /// which updates the states in place: a fold costs its rows only, and a close finds at
    /// most `min_rows` raw rows to aggregate beside the states).
    pub geometric: bool,
}

impl FoldRule {
    /// Raw rows the next fold of a pane with `partial_rows` state rows takes.
    pub fn rows(&self, partial_rows: usize) -> usize {
        if self.geometric {
            fold_due(self.min_rows, partial_rows)
        } else {
            self.min_rows.max(1)
        }
    }
}

/// Open panes of tumbling or hopping windows.
#[derive(Debug)]
pub struct PaneStore {
    spec: WindowSpec,
    track_stats: bool,
    panes: BTreeMap<i64, Pane>,
    /// Every window ending at or before this instant has closed.
    closed_upto: Option<i64>,
}

/// Serializable state of a [`PaneStore`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaneStoreSnapshot {
    size_ms: i64,
    slide_ms: i64,
    closed_upto: Option<i64>,
    panes: Vec<PaneSnapshot>,
}

/// Head of an incremental snapshot of a [`PaneStore`]: each pane's segments by name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PanePartsSnapshot {
    size_ms: i64,
    slide_ms: i64,
    closed_upto: Option<i64>,
    panes: Vec<PanePart>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PanePart {
    start: i64,
    raw: Vec<String>,
    partial: Vec<String>,
    stats: Option<ValueStats>,
    next: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PaneSnapshot {
    start: i64,
    #[serde(with = "crate::snapshot::b64")]
    raw: Vec<u8>,
    #[serde(with = "crate::snapshot::b64")]
    partial: Vec<u8>,
    stats: Option<ValueStats>,
}

impl PaneStore {
    /// An empty store.
    pub fn new(spec: WindowSpec, track_stats: bool) -> Self {
        PaneStore {
            spec,
            track_stats,
            panes: BTreeMap::new(),
            closed_upto: None,
        }
    }

    /// The window shape.
    pub fn spec(&self) -> WindowSpec {
        self.spec
    }

    /// Every window ending at or before this has closed.
    pub fn closed_upto(&self) -> Option<i64> {
        self.closed_upto
    }

    /// True when every window containing `ts` has closed.
    pub fn is_late(&self, ts: i64) -> bool {
        self.closed_upto
            .is_some_and(|c| self.spec.last_end_of(ts) <= c)
    }

    /// Whether every window holding `ts` ends at or before `bound`.
    pub fn ends_by(&self, ts: i64, bound: i64) -> bool {
        self.spec.last_end_of(ts) <= bound
    }

    /// Number of open panes.
    pub fn open_panes(&self) -> usize {
        self.panes.len()
    }

    /// Readings held raw.
    pub fn buffered_rows(&self) -> usize {
        self.panes
            .values()
            .flat_map(|p| p.raw.iter())
            .map(RecordBatch::num_rows)
            .sum()
    }

    /// The readings held raw, pane by pane.
    pub fn raw_batches(&self) -> impl Iterator<Item = &RecordBatch> {
        self.panes.values().flat_map(|p| p.raw.iter())
    }

    /// Stores rows `rows` of `batch` in their panes.
    pub fn insert(&mut self, batch: &RecordBatch, rows: &[u32]) -> Result<(), OperatorError> {
        let ts = crate::ts_values(batch)?;
        let mut by_pane: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        for &r in rows {
            by_pane
                .entry(self.spec.pane_start(ts[r as usize]))
                .or_default()
                .push(r);
        }
        let whole = by_pane.len() == 1 && rows.len() == batch.num_rows();
        for (start, rows) in by_pane {
            let pane = self.panes.entry(start).or_default();
            if self.track_stats {
                pane.stats
                    .get_or_insert_with(ValueStats::default)
                    .add_rows(batch, &rows);
            }
            let part = if whole {
                batch.clone()
            } else {
                take_record_batch(batch, &UInt32Array::from(rows))?
            };
            pane.raw.push(part);
        }
        Ok(())
    }

    /// Closes every window ending at or before `bound`, earliest first; windows without data
    /// are skipped. Panes no open window needs are freed.
    pub fn close_until(&mut self, bound: i64) -> Vec<ClosedWindow> {
        let limit = self.spec.aligned_floor(bound);
        if self.closed_upto.is_some_and(|c| limit <= c) {
            return Vec::new();
        }
        let (size, slide) = (self.spec.size_ms(), self.spec.slide_ms());
        let mut closed = Vec::new();
        if let Some(&first_pane) = self.panes.keys().next() {
            // First candidate end: the earliest window containing the first pane, after what
            // has already closed.
            let mut end = first_pane + slide;
            if let Some(c) = self.closed_upto {
                end = end.max(c + slide);
            }
            while end <= limit {
                let start = end - size;
                let mut panes = Vec::new();
                let mut stats = ValueStats::default();
                for (&p, pane) in self.panes.range(start..end) {
                    if let Some(s) = &pane.stats {
                        stats.merge(s);
                    }
                    panes.push(PaneData {
                        start: p,
                        raw: pane.raw.clone(),
                        partial: pane.partial.clone(),
                    });
                }
                if panes.is_empty() {
                    // Skip the gap: jump to the first window containing the next pane.
                    match self.panes.range(end..).next() {
                        Some((&p, _)) => end = end.max(p + slide),
                        None => break,
                    }
                    continue;
                }
                closed.push(ClosedWindow {
                    bounds: Bounds::Fixed(Window { start, end }),
                    panes,
                    panes_reused: size > slide,
                    stats,
                });
                end += slide;
            }
        }
        self.closed_upto = Some(limit);
        // A pane starting at p is in windows ending up to p + size.
        self.panes.retain(|&p, _| p + size > limit);
        closed
    }

    /// Closes every window that holds data.
    pub fn flush(&mut self) -> Vec<ClosedWindow> {
        match self.panes.keys().next_back() {
            Some(last) => {
                let end = last + self.spec.size_ms();
                self.close_until(end)
            }
            None => Vec::new(),
        }
    }

    /// Replaces the raw readings of the given panes by partial aggregate states. Call it right
    /// after the windows were closed, before any new insert, with states computed from exactly
    /// the raw batches those windows carried.
    pub fn absorb(&mut self, partials: HashMap<i64, Vec<RecordBatch>>) {
        for (start, states) in partials {
            if let Some(p) = self.panes.get_mut(&start) {
                p.raw.clear();
                let s = &mut p.saved;
                s.raw = 0;
                s.raw_segs.clear();
                if s.behind > 0 {
                    // the states folded since those written (and the folded rows still
                    // pending, all counted in `behind`) are written now
                    s.pending.clear();
                    s.behind = 0;
                    s.partial = 0;
                    s.partial_segs.clear();
                }
                p.partial.extend(states);
            }
        }
    }

    /// Panes whose raw readings are due to be folded into partial states ahead of their first
    /// window's close: panes no closed window has used yet that hold at least
    /// [`FoldRule::rows`] raw rows. Each [`Fold`] carries exactly that many first rows, so where folds happen depends on the pane's rows alone, never on how
    /// they were batched.
    pub fn due_for_folding(&self, rule: FoldRule) -> Vec<Fold> {
        let slide = self.spec.slide_ms();
        let mut out = Vec::new();
        for (&start, p) in &self.panes {
            if self.closed_upto.is_some_and(|c| start + slide <= c) {
                continue; // a closed window used this pane: its states are in merged chains
            }
            let partial_rows: usize = p.partial.iter().map(RecordBatch::num_rows).sum();
            let due = rule.rows(partial_rows);
            let raw_rows: usize = p.raw.iter().map(RecordBatch::num_rows).sum();
            if raw_rows < due {
                continue;
            }
            let mut raw = Vec::new();
            let mut left = due;
            for b in &p.raw {
                if left == 0 {
                    break;
                }
                let n = b.num_rows().min(left);
                raw.push(if n == b.num_rows() {
                    b.clone()
                } else {
                    b.slice(0, n)
                });
                left -= n;
            }
            out.push(Fold {
                start,
                rows: due,
                raw,
            });
        }
        out
    }

    /// Takes pane `start`'s partial states out of it, for the fold that replaces them (see
    /// [`PaneStore::fold`]): held once, their arrays can be updated in place. A fold that fails
    /// after this leaves the pane without them; its store must then be dropped (the job ends
    /// and restores from its last snapshot).
    pub fn take_partial(&mut self, start: i64) -> Vec<RecordBatch> {
        self.panes
            .get_mut(&start)
            .map(|p| std::mem::take(&mut p.partial))
            .unwrap_or_default()
    }

    /// Replaces pane `start`'s partial states by `states` (its old states merged with those of
    /// its first `rows` raw rows, as handed out by [`PaneStore::due_for_folding`]) and drops
    /// those rows.
    ///
    /// The next snapshot writes `states` only once the rows folded since the states it wrote
    /// last reach [`fold_due`] of those states' rows (every fold, under a geometric rule).
    /// Until then it keeps naming the states written last and the raw rows folded since, so
    /// the bytes written per fold stay bounded by its rows, not by the pane's assets. A
    /// restore folds those rows again: the native aggregation updates states row by row in
    /// order, so where the folds fell does not change its results.
    pub fn fold(&mut self, start: i64, rows: usize, states: Vec<RecordBatch>, rule: FoldRule) {
        let Some(p) = self.panes.get_mut(&start) else {
            return;
        };
        let s = &mut p.saved;
        let rewrite = s.unwritten || s.behind + rows >= fold_due(rule.min_rows, s.written_rows);
        let mut left = rows;
        let mut kept = Vec::with_capacity(p.raw.len());
        let mut kept_written = 0;
        for (i, b) in p.raw.drain(..).enumerate() {
            let written = i < s.raw;
            let n = b.num_rows();
            if left >= n {
                left -= n;
                if !written && !rewrite {
                    s.pending.push(b);
                }
            } else {
                if left > 0 && !written && !rewrite {
                    s.pending.push(b.slice(0, left));
                }
                kept.push(if left > 0 { b.slice(left, n - left) } else { b });
                kept_written += usize::from(written);
                left = 0;
            }
        }
        p.raw = kept;
        if rewrite {
            s.raw = 0;
            s.raw_segs.clear();
            s.partial = 0;
            s.partial_segs.clear();
            s.pending.clear();
            s.behind = 0;
            s.written_rows = states.iter().map(RecordBatch::num_rows).sum();
            s.unwritten = true;
        } else {
            s.raw = kept_written;
            s.partial = states.len();
            s.behind += rows;
        }
        p.partial = states;
    }

    /// Serializable state.
    pub fn snapshot(&self) -> Result<PaneStoreSnapshot, OperatorError> {
        let mut panes = Vec::with_capacity(self.panes.len());
        for (&start, p) in &self.panes {
            panes.push(PaneSnapshot {
                start,
                raw: encode_batches(&p.raw)?,
                partial: encode_batches(&p.partial)?,
                stats: p.stats.clone(),
            });
        }
        Ok(PaneStoreSnapshot {
            size_ms: self.spec.size_ms(),
            slide_ms: self.spec.slide_ms(),
            closed_upto: self.closed_upto,
            panes,
        })
    }

    /// Incremental snapshot: queues on `parts` the readings and partial states stored since the
    /// previous call (as new segments) and returns the head naming every pane's segments.
    pub fn snapshot_parts(
        &mut self,
        parts: &mut Parts,
    ) -> Result<PanePartsSnapshot, OperatorError> {
        let mut panes = Vec::with_capacity(self.panes.len());
        for (&start, p) in self.panes.iter_mut() {
            let prefix = format!("w{start}");
            let s = &mut p.saved;
            if !s.pending.is_empty() {
                let names = encode_segments(&s.pending, &prefix, &mut s.next, parts)?;
                s.raw_segs.extend(names);
                s.pending.clear();
            }
            if p.raw.len() > s.raw {
                let names = encode_segments(&p.raw[s.raw..], &prefix, &mut s.next, parts)?;
                s.raw_segs.extend(names);
                s.raw = p.raw.len();
            }
            if p.partial.len() > s.partial {
                let names = encode_segments(&p.partial[s.partial..], &prefix, &mut s.next, parts)?;
                s.partial_segs.extend(names);
                s.partial = p.partial.len();
            }
            s.unwritten = false;
            parts.live.extend(s.raw_segs.iter().cloned());
            parts.live.extend(s.partial_segs.iter().cloned());
            panes.push(PanePart {
                start,
                raw: s.raw_segs.clone(),
                partial: s.partial_segs.clone(),
                stats: p.stats.clone(),
                next: s.next,
            });
        }
        Ok(PanePartsSnapshot {
            size_ms: self.spec.size_ms(),
            slide_ms: self.spec.slide_ms(),
            closed_upto: self.closed_upto,
            panes,
        })
    }

    /// Rebuilds a store from an incremental snapshot's head and its segments.
    pub fn restore_parts(
        spec: WindowSpec,
        track_stats: bool,
        snap: PanePartsSnapshot,
        segments: &Segments,
    ) -> Result<Self, OperatorError> {
        check_shape(spec, snap.size_ms, snap.slide_ms)?;
        let mut panes = BTreeMap::new();
        for p in snap.panes {
            let raw = decode_segments(&p.raw, segments)?;
            let partial = decode_segments(&p.partial, segments)?;
            let saved = Saved {
                raw: raw.len(),
                raw_segs: p.raw,
                partial: partial.len(),
                partial_segs: p.partial,
                next: p.next,
                written_rows: partial.iter().map(RecordBatch::num_rows).sum(),
                ..Saved::default()
            };
            panes.insert(
                p.start,
                Pane {
                    raw,
                    partial,
                    stats: p.stats,
                    saved,
                },
            );
        }
        Ok(PaneStore {
            spec,
            track_stats,
            panes,
            closed_upto: snap.closed_upto,
        })
    }

    /// Rebuilds a store from a snapshot; the window shape must be the job's.
    pub fn restore(
        spec: WindowSpec,
        track_stats: bool,
        snap: PaneStoreSnapshot,
    ) -> Result<Self, OperatorError> {
        check_shape(spec, snap.size_ms, snap.slide_ms)?;
        let mut panes = BTreeMap::new();
        for p in snap.panes {
            panes.insert(
                p.start,
                Pane {
                    raw: decode_batches(&p.raw)?,
                    partial: decode_batches(&p.partial)?,
                    stats: p.stats,
                    saved: Saved::default(),
                },
            );
        }
        Ok(PaneStore {
            spec,
            track_stats,
            panes,
            closed_upto: snap.closed_upto,
        })
    }
}

/// Refuses a snapshot of another window shape than the job's.
fn check_shape(spec: WindowSpec, size_ms: i64, slide_ms: i64) -> Result<(), OperatorError> {
    if size_ms != spec.size_ms() || slide_ms != spec.slide_ms() {
        return Err(OperatorError::Snapshot(format!(
            "snapshot windows are {size_ms} ms / {slide_ms} ms, the job's are {} ms / {} ms",
            spec.size_ms(),
            spec.slide_ms()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{batch, rows_of};

    fn rows() -> Vec<(&'static str, i64, f64)> {
        (0..7).map(|i| ("a", i, i as f64)).collect()
    }

    /// Folds hand out the same first rows however the pane's readings were batched, and
    /// `fold` drops exactly those.
    #[test]
    fn folds_depend_on_pane_rows_not_batching() {
        let all = rows();
        let mut whole = PaneStore::new(WindowSpec::tumbling(10).unwrap(), false);
        whole.insert(&batch(&all), &[0, 1, 2, 3, 4, 5, 6]).unwrap();
        let mut split = PaneStore::new(WindowSpec::tumbling(10).unwrap(), false);
        for chunk in all.chunks(2) {
            let idx: Vec<u32> = (0..chunk.len() as u32).collect();
            split.insert(&batch(chunk), &idx).unwrap();
        }
        assert!(whole.due_for_folding(geo(8)).is_empty(), "7 rows < 8");
        let (a, b) = (whole.due_for_folding(geo(3)), split.due_for_folding(geo(3)));
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].start, a[0].rows), (b[0].start, b[0].rows));
        assert_eq!(rows_of(a[0].raw.iter()), rows_of(b[0].raw.iter()));
        assert_eq!(rows_of(a[0].raw.iter()).len(), 3);
        let states = vec![batch(&[("a", 0, 3.0)])];
        split.fold(b[0].start, b[0].rows, states, geo(3));
        assert_eq!(split.buffered_rows(), 4);
        assert_eq!(rows_of(split.raw_batches()).first().map(|r| r.1), Some(3));
        // Now due needs 2 x 1 partial row = 2, min 3: folds again at 3 raw rows.
        assert_eq!(split.due_for_folding(geo(3))[0].rows, 3);
        // A pane a closed window has used is never folded.
        split.close_until(10);
        split.insert(&batch(&[("a", 12, 1.0)]), &[0]).unwrap();
        assert!(split.due_for_folding(geo(1)).iter().all(|f| f.start == 10));
    }

    fn geo(min_rows: usize) -> FoldRule {
        FoldRule {
            min_rows,
            geometric: true,
        }
    }

    /// The `v` of every row of the batches, in order.
    fn seq<'a>(batches: impl IntoIterator<Item = &'a RecordBatch>) -> Vec<f64> {
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::datatypes::Float64Type;
        batches
            .into_iter()
            .flat_map(|b| b.column(2).as_primitive::<Float64Type>().values().to_vec())
            .collect()
    }

    /// Inserts rows `v = n..n + len` into pane 0, then folds what is due with a "fold" whose
    /// states are every row folded so far (so states and raw rows together must always be
    /// every row, in order); returns the folds that replaced the states to be written.
    fn feed(store: &mut PaneStore, n: &mut usize, len: usize, rule: FoldRule) -> usize {
        let rows: Vec<(&str, i64, f64)> = (*n..*n + len).map(|i| ("a", 1, i as f64)).collect();
        *n += len;
        let idx: Vec<u32> = (0..len as u32).collect();
        store.insert(&batch(&rows), &idx).unwrap();
        let mut rewrites = 0;
        loop {
            let due = store.due_for_folding(rule);
            if due.is_empty() {
                return rewrites;
            }
            for f in due {
                let old = store.take_partial(f.start);
                let all: Vec<(&str, i64, f64)> = seq(old.iter().chain(&f.raw))
                    .into_iter()
                    .map(|v| ("a", 1, v))
                    .collect();
                store.fold(f.start, f.rows, vec![batch(&all)], rule);
                rewrites += usize::from(store.panes[&f.start].saved.unwritten);
            }
        }
    }

    proptest::proptest! {
        /// Folds that keep the states written last (a fixed rule, native) write the rows folded
        /// since as raw segments instead: a restore from every snapshot taken between them
        /// holds the written states and then every later row, in order, as the pane did; and
        /// snapshots write the states again only at about the geometric points, not after
        /// every fold.
        #[test]
        fn folds_that_keep_written_states_restore_every_row_in_order(
            min_rows in 1usize..5,
            steps in proptest::collection::vec((1usize..7, proptest::bool::ANY), 1..30),
        ) {
            let rule = FoldRule { min_rows, geometric: false };
            let spec = WindowSpec::tumbling(1000).unwrap();
            let mut store = PaneStore::new(spec, false);
            let (mut n, mut writes) = (0usize, 0usize);
            let mut segments = Segments::new();
            let mut last_states: Vec<String> = Vec::new();
            for (len, snapshot) in steps {
                feed(&mut store, &mut n, len, rule);
                let p = &store.panes[&0];
                let want: Vec<f64> = (0..n).map(|i| i as f64).collect();
                proptest::prop_assert_eq!(seq(p.partial.iter().chain(&p.raw)), want.clone());
                if snapshot {
                    let mut parts = Parts::default();
                    let head = store.snapshot_parts(&mut parts).unwrap();
                    segments.extend(parts.put);
                    if head.panes[0].partial != last_states {
                        writes += 1;
                        last_states = head.panes[0].partial.clone();
                    }
                    let restored = PaneStore::restore_parts(spec, false, head, &segments).unwrap();
                    let r = &restored.panes[&0];
                    proptest::prop_assert_eq!(seq(r.partial.iter().chain(&r.raw)), want);
                    proptest::prop_assert_eq!(r.saved.written_rows, seq(&r.partial).len());
                }
            }
            // written when the rows folded since reach twice the states' rows (here every row
            // folded so far): about log3 of the rows, however often the pane folded
            proptest::prop_assert!(writes <= 2 + (n as f64).log2().ceil() as usize, "{writes} writes, {n} rows");
        }
    }

    /// Under a geometric rule every fold rewrites the pane's states (DataFusion's path, as
    /// before the fixed rule existed).
    #[test]
    fn geometric_folds_always_rewrite_the_states() {
        let mut store = PaneStore::new(WindowSpec::tumbling(1000).unwrap(), false);
        let (mut n, mut rewrites) = (0, 0);
        for _ in 0..40 {
            rewrites += feed(&mut store, &mut n, 1, geo(2));
            assert_eq!(store.panes[&0].saved.behind, 0);
            assert!(store.panes[&0].saved.pending.is_empty());
        }
        // folds at 2 rows, then at twice the states' rows (every row folded): 2, 6, 18
        assert_eq!(rewrites, 3);
    }
}
