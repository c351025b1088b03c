//! The event-time operator: one job instance's whole event-time state and its decisions.
//!
//! Owns the per-source [`Watermarks`], the [`WindowStore`], the [`Dedup`] memory and the
//! [`QualityTracker`], and decides per readings batch which rows are late, which are duplicates
//! and which are stored; per advance, which windows close and which data-quality problems start.
//! Order of decisions for a batch: lateness is judged against the state *before* the batch, then
//! duplicates among the rest, then the batch's event times move the watermarks. All of it
//! snapshots to bytes and restores to an operator that continues exactly where this one was.

use std::collections::HashMap;

use datafusion::arrow::array::{AsArray, RecordBatch};
use serde::{Deserialize, Serialize};
use vigil_schemas::ASSET_COL;

use crate::dedup::{row_identities, Dedup};
use crate::quality::{QualityConfig, QualityEvent, QualityTracker};
use crate::snapshot::{Parts, Segments, SNAPSHOT_FORMAT};
use crate::watermark::{WatermarkBasis, WatermarkConfig, Watermarks};
use crate::windows::hopping::{PanePartsSnapshot, PaneStoreSnapshot};
use crate::windows::session::SessionStoreSnapshot;
use crate::windows::{ClosedWindow, PaneStore, SessionStore, WindowKind, WindowStore};
use crate::{OperatorError, WindowSpec};

/// Event-time settings of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTimeConfig {
    /// Window kind and shape.
    pub window: WindowKind,
    /// How far behind a source's newest reading its readings may arrive, ms.
    pub out_of_orderness_ms: i64,
    /// How long after the watermark passes a window's end the window stays open, ms.
    pub allowed_lateness_ms: i64,
    /// Wall-clock time without data after which a source stops holding the watermark, ms.
    pub idle_timeout_ms: Option<i64>,
    /// Count a repeated reading (same asset, time and values) once.
    pub dedup: bool,
    /// Data-quality checks.
    pub quality: QualityConfig,
}

impl EventTimeConfig {
    /// Plain tumbling windows of `size_ms`, no lateness, no idleness, no dedup, no checks.
    pub fn tumbling(size_ms: i64) -> Self {
        EventTimeConfig {
            window: WindowKind::Fixed {
                size_ms,
                slide_ms: size_ms,
            },
            out_of_orderness_ms: 0,
            allowed_lateness_ms: 0,
            idle_timeout_ms: None,
            dedup: false,
            quality: QualityConfig::default(),
        }
    }

    fn watermark(&self) -> WatermarkConfig {
        WatermarkConfig {
            out_of_orderness_ms: self.out_of_orderness_ms,
            idle_timeout_ms: self.idle_timeout_ms,
        }
    }

    /// Event time a reading stays relevant after the close bound passes it (window size or
    /// session gap).
    fn horizon_ms(&self) -> i64 {
        match self.window {
            WindowKind::Fixed { size_ms, .. } => size_ms,
            WindowKind::Session { gap_ms } => gap_ms,
        }
    }
}

/// What ingesting a batch decided.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Ingested {
    /// Rows that arrived after every window they belong to closed.
    pub late_rows: Vec<u32>,
    /// Rows that repeat an earlier reading (only with dedup on).
    pub duplicate_rows: Vec<u32>,
    /// Rows stored.
    pub accepted: usize,
}

/// What an advance produced.
#[derive(Debug, Default)]
pub struct Advanced {
    /// Windows closed, earliest first.
    pub closed: Vec<ClosedWindow>,
    /// Data-quality problems that started.
    pub quality: Vec<QualityEvent>,
    /// The watermark after the advance.
    pub watermark: Option<i64>,
    /// True when the watermark is wall-clock driven (the whole input is idle).
    pub wall_clock: bool,
}

/// One job instance's event-time state.
#[derive(Debug)]
pub struct EventTimeOperator {
    cfg: EventTimeConfig,
    watermarks: Watermarks,
    store: WindowStore,
    dedup: Option<Dedup>,
    quality: QualityTracker,
}

#[derive(Serialize, Deserialize)]
enum StoreSnapshot {
    Panes(PaneStoreSnapshot),
    Sessions(SessionStoreSnapshot),
    /// Incremental: the panes' readings and states are in separate segments.
    PaneParts(PanePartsSnapshot),
}

#[derive(Serialize, Deserialize)]
struct OperatorSnapshot {
    format: u32,
    config: EventTimeConfig,
    watermarks: Watermarks,
    store: StoreSnapshot,
    dedup: Option<Dedup>,
    quality: QualityTracker,
}

impl EventTimeOperator {
    /// A fresh operator.
    pub fn new(cfg: EventTimeConfig) -> Result<Self, OperatorError> {
        if cfg.out_of_orderness_ms < 0 || cfg.allowed_lateness_ms < 0 {
            return Err(OperatorError::InvalidWindow(
                "out-of-orderness and allowed lateness must not be negative".into(),
            ));
        }
        let track_stats = cfg.quality.stuck_windows.is_some();
        Ok(EventTimeOperator {
            cfg,
            watermarks: Watermarks::new(cfg.watermark()),
            store: WindowStore::new(cfg.window, track_stats)?,
            dedup: cfg.dedup.then(|| Dedup::new(cfg.horizon_ms())),
            quality: QualityTracker::new(cfg.quality),
        })
    }

    /// The settings.
    pub fn config(&self) -> &EventTimeConfig {
        &self.cfg
    }

    /// Starts tracking newly assigned sources (input partitions).
    pub fn assign(&mut self, sources: impl IntoIterator<Item = u32>, wall: i64) {
        self.watermarks.assign(sources, wall);
    }

    /// Stops tracking revoked sources.
    pub fn revoke(&mut self, sources: impl IntoIterator<Item = u32>) {
        self.watermarks.revoke(sources);
    }

    /// Notes that `source` was polled at `wall` (it is not idle even if it gave no readings).
    pub fn touch(&mut self, source: u32, wall: i64) {
        self.watermarks.touch(source, wall);
    }

    /// Moves `source`'s event time to `ts` for readings refused before ingest (an asset
    /// beyond the job's limit): like late and duplicate rows, they still show how far the
    /// source has got.
    pub fn note_event_time(&mut self, source: u32, ts: i64, wall: i64) {
        self.watermarks.observe(source, ts, wall);
    }

    /// Sensors (asset × measurement) the data-quality checks track (a memory gauge).
    pub fn tracked_sensors(&self) -> usize {
        self.quality.sensors()
    }

    /// Drops the data-quality state of an evicted asset (its windows have closed).
    pub fn forget_asset(&mut self, asset: &str) {
        self.quality.forget(asset);
    }

    /// The watermarks.
    pub fn watermarks(&self) -> &Watermarks {
        &self.watermarks
    }

    /// The current job watermark.
    pub fn watermark(&self) -> Option<i64> {
        self.watermarks.current()
    }

    /// Readings held raw in open windows.
    pub fn buffered_rows(&self) -> usize {
        self.store.buffered_rows()
    }

    /// The readings held raw in open panes of fixed windows; `None` with session windows.
    pub fn pane_raw_batches(&self) -> Option<Vec<&RecordBatch>> {
        self.store.pane_raw_batches()
    }

    /// Panes of fixed windows due to have raw readings folded into partial states.
    pub fn due_for_folding(&self, rule: crate::windows::FoldRule) -> Vec<crate::windows::Fold> {
        self.store.due_for_folding(rule)
    }

    /// Takes pane `start`'s partial states out for its fold (see
    /// [`crate::windows::PaneStore::take_partial`]).
    pub fn take_partial(&mut self, start: i64) -> Vec<RecordBatch> {
        self.store.take_partial(start)
    }

    /// Applies a fold: pane `start`'s first `rows` raw rows are replaced by `states`.
    pub fn fold(
        &mut self,
        start: i64,
        rows: usize,
        states: Vec<RecordBatch>,
        rule: crate::windows::FoldRule,
    ) {
        self.store.fold(start, rows, states, rule);
    }

    /// Open panes or sessions.
    pub fn open_units(&self) -> usize {
        self.store.open_units()
    }

    /// Reading identities remembered for deduplication.
    pub fn dedup_entries(&self) -> usize {
        self.dedup.as_ref().map_or(0, Dedup::len)
    }

    /// Judges and stores a readings batch; `sources[i]` is the source of row `i`, `wall` the
    /// wall-clock time of the poll.
    pub fn ingest(
        &mut self,
        batch: &RecordBatch,
        sources: &[u32],
        wall: i64,
    ) -> Result<Ingested, OperatorError> {
        self.ingest_with(batch, sources, wall, false)
    }

    /// As [`EventTimeOperator::ingest`], but with `record_order` each row is judged late
    /// against the watermark as it stands after the rows before it (as if event time advanced
    /// after every record), so the outcome does not depend on how a source's records are cut
    /// into batches. The streaming job uses this; bounded replays of whole files (whose assets
    /// may each start again at an early time) use the batch rule.
    pub fn ingest_with(
        &mut self,
        batch: &RecordBatch,
        sources: &[u32],
        wall: i64,
        record_order: bool,
    ) -> Result<Ingested, OperatorError> {
        if sources.len() != batch.num_rows() {
            return Err(OperatorError::InvalidWindow(format!(
                "{} source ids for {} rows",
                sources.len(),
                batch.num_rows()
            )));
        }
        let ts = crate::ts_values(batch)?;
        let assets = batch
            .column_by_name(ASSET_COL)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| OperatorError::FeatureSql(format!("batch has no `{ASSET_COL}`")))?;
        let ids = self.dedup.as_ref().map(|_| row_identities(batch, ts));
        let mut out = Ingested::default();
        let mut accepted = Vec::with_capacity(batch.num_rows());
        // Lateness is judged against the watermark as it stands after the rows before this one
        // (as if it advanced after every record), so it does not depend on the batching.
        let lateness = self.cfg.allowed_lateness_ms;
        let mut running: HashMap<u32, i64> = HashMap::new();
        let mut bound: Option<i64> = None;
        for r in 0..batch.num_rows() {
            let late_by_order = bound.is_some_and(|b| self.store.ends_by(ts[r], b));
            if record_order {
                let s = sources[r];
                let m = running.entry(s).or_insert(i64::MIN);
                if ts[r] > *m {
                    *m = ts[r];
                    let b = self
                        .watermarks
                        .peek_with(s, ts[r], wall)
                        .map(|w| w.saturating_sub(lateness));
                    bound = bound.max(b);
                }
            }
            if late_by_order || self.store.is_late(assets.value(r), ts[r]) {
                out.late_rows.push(r as u32);
                continue;
            }
            if let (Some(d), Some(ids)) = (self.dedup.as_mut(), ids.as_ref()) {
                if !d.first_time(ts[r], ids[r]) {
                    out.duplicate_rows.push(r as u32);
                    continue;
                }
            }
            accepted.push(r as u32);
        }
        self.store.insert(batch, &accepted)?;
        self.quality.observe(batch, &accepted, ts);
        out.accepted = accepted.len();
        // Every row moves its source's event time, late and duplicate ones included.
        let mut max_by_source: HashMap<u32, i64> = HashMap::new();
        for (s, t) in sources.iter().zip(ts) {
            let e = max_by_source.entry(*s).or_insert(*t);
            *e = (*e).max(*t);
        }
        for (s, t) in max_by_source {
            self.watermarks.observe(s, t, wall);
        }
        Ok(out)
    }

    /// Recomputes the watermark at wall time `wall`, closes the windows it passed (plus the
    /// allowed lateness) and runs the data-quality checks.
    pub fn advance(&mut self, wall: i64) -> Result<Advanced, OperatorError> {
        let (wm, basis) = self.watermarks.advance(wall);
        let mut out = Advanced {
            watermark: wm,
            wall_clock: basis == WatermarkBasis::WallClock,
            ..Default::default()
        };
        let Some(wm) = wm else { return Ok(out) };
        let bound = wm.saturating_sub(self.cfg.allowed_lateness_ms);
        out.closed = self.store.close_until(bound)?;
        if let Some(d) = self.dedup.as_mut() {
            let closed_to = match &self.store {
                WindowStore::Panes(p) => p.closed_upto().unwrap_or(bound),
                WindowStore::Sessions(_) => bound,
            };
            d.forget_before(closed_to.saturating_sub(self.cfg.horizon_ms()));
        }
        for w in &out.closed {
            out.quality.extend(self.quality.on_window(w));
        }
        out.quality
            .extend(self.quality.check_silent(wm, out.wall_clock));
        Ok(out)
    }

    /// Closes every window that holds data (end of a bounded input).
    pub fn flush(&mut self) -> Result<Advanced, OperatorError> {
        let mut out = Advanced {
            closed: self.store.flush()?,
            watermark: self.watermarks.current(),
            ..Default::default()
        };
        for w in &out.closed {
            out.quality.extend(self.quality.on_window(w));
        }
        Ok(out)
    }

    /// Hands partial aggregate states of panes back to the store (see
    /// [`WindowStore::absorb`]).
    pub fn absorb(&mut self, partials: HashMap<i64, Vec<RecordBatch>>) {
        self.store.absorb(partials);
    }

    /// The whole state as bytes (versioned JSON with Arrow IPC inside).
    pub fn snapshot(&self) -> Result<Vec<u8>, OperatorError> {
        let store = match &self.store {
            WindowStore::Panes(p) => StoreSnapshot::Panes(p.snapshot()?),
            WindowStore::Sessions(s) => StoreSnapshot::Sessions(s.snapshot()?),
        };
        self.encode_head(store)
    }

    /// An incremental snapshot: the head (versioned JSON: watermarks, deduplication and
    /// data-quality state, the window store's manifest) and, on `parts`, the segments of
    /// readings and partial states stored since the previous call. Session windows are written
    /// whole into the head. Restore with [`EventTimeOperator::restore_parts`].
    pub fn snapshot_parts(&mut self, parts: &mut Parts) -> Result<Vec<u8>, OperatorError> {
        let store = match &mut self.store {
            WindowStore::Panes(p) => StoreSnapshot::PaneParts(p.snapshot_parts(parts)?),
            WindowStore::Sessions(s) => StoreSnapshot::Sessions(s.snapshot()?),
        };
        self.encode_head(store)
    }

    fn encode_head(&self, store: StoreSnapshot) -> Result<Vec<u8>, OperatorError> {
        let snap = OperatorSnapshot {
            format: SNAPSHOT_FORMAT,
            config: self.cfg,
            watermarks: self.watermarks.clone(),
            store,
            dedup: self.dedup.clone(),
            quality: self.quality.clone(),
        };
        serde_json::to_vec(&snap).map_err(|e| OperatorError::Snapshot(e.to_string()))
    }

    /// After a restore, counts partition idleness from wall time `wall` (see
    /// [`Watermarks::resume`]); the runner calls it with the time it resumes consuming.
    pub fn resume(&mut self, wall: i64) {
        self.watermarks.resume(wall);
    }

    /// Restores an operator for `cfg` from [`EventTimeOperator::snapshot`] bytes. Refuses a
    /// snapshot of a newer format or of a different window shape.
    pub fn restore(cfg: EventTimeConfig, bytes: &[u8]) -> Result<Self, OperatorError> {
        Self::restore_parts(cfg, bytes, &Segments::new())
    }

    /// Restores an operator for `cfg` from a head written by
    /// [`EventTimeOperator::snapshot_parts`] (or a whole [`EventTimeOperator::snapshot`]) and
    /// the segments it names.
    pub fn restore_parts(
        cfg: EventTimeConfig,
        bytes: &[u8],
        segments: &Segments,
    ) -> Result<Self, OperatorError> {
        #[derive(Deserialize)]
        struct Head {
            format: u32,
        }
        let head: Head = serde_json::from_slice(bytes)
            .map_err(|e| OperatorError::Snapshot(format!("not a Vigil snapshot: {e}")))?;
        if head.format > SNAPSHOT_FORMAT {
            return Err(OperatorError::Snapshot(format!(
                "snapshot format {} was written by a newer Vigil; this one reads formats up to {SNAPSHOT_FORMAT}",
                head.format
            )));
        }
        let snap: OperatorSnapshot = serde_json::from_slice(bytes)
            .map_err(|e| OperatorError::Snapshot(format!("corrupt snapshot: {e}")))?;
        let track_stats = cfg.quality.stuck_windows.is_some();
        let store = match (cfg.window, snap.store) {
            (WindowKind::Fixed { size_ms, slide_ms }, StoreSnapshot::Panes(p)) => {
                WindowStore::Panes(PaneStore::restore(
                    WindowSpec::hopping(size_ms, slide_ms)?,
                    track_stats,
                    p,
                )?)
            }
            (WindowKind::Fixed { size_ms, slide_ms }, StoreSnapshot::PaneParts(p)) => {
                WindowStore::Panes(PaneStore::restore_parts(
                    WindowSpec::hopping(size_ms, slide_ms)?,
                    track_stats,
                    p,
                    segments,
                )?)
            }
            (WindowKind::Session { gap_ms }, StoreSnapshot::Sessions(s)) => {
                WindowStore::Sessions(SessionStore::restore(gap_ms, track_stats, s)?)
            }
            _ => {
                return Err(OperatorError::Snapshot(
                    "snapshot and job use different window kinds".into(),
                ))
            }
        };
        let mut watermarks = snap.watermarks;
        watermarks.reconfigure(cfg.watermark());
        let dedup = match (cfg.dedup, snap.dedup) {
            (true, Some(d)) => Some(d),
            (true, None) => Some(Dedup::new(cfg.horizon_ms())),
            (false, _) => None,
        };
        Ok(EventTimeOperator {
            cfg,
            watermarks,
            store,
            dedup,
            quality: snap.quality.reconfigured(cfg.quality),
        })
    }
}

#[cfg(test)]
mod tests;
