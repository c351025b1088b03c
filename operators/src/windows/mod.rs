//! Window stores: where accepted readings wait until their windows close.
//!
//! Three window kinds, one file each: [`tumbling`] and [`hopping`] windows share the pane store
//! of [`hopping`] (a tumbling window is one pane), [`session`] windows are per asset and close
//! after a gap. [`WindowStore`] gives the event-time operator one interface over both stores:
//! whether a reading is late, storing accepted rows, closing windows up to a bound, and
//! snapshots. A closed window is handed out as [`ClosedWindow`]: its bounds (shared by all assets
//! for fixed windows, per asset for sessions) and its panes' data, raw readings and/or partial
//! aggregate states, ready for the feature SQL.

pub mod hopping;
pub mod session;
pub mod tumbling;

use std::collections::{BTreeMap, HashMap};

use datafusion::arrow::array::RecordBatch;
use serde::{Deserialize, Serialize};

pub use hopping::{Fold, FoldRule, PaneStore};
pub use session::SessionStore;

use crate::stats::ValueStats;
use crate::{OperatorError, Window};

/// Which windows a job computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowKind {
    /// Fixed windows aligned to the epoch: `size == slide` is tumbling, `slide < size` hopping.
    Fixed {
        /// Window size, ms.
        size_ms: i64,
        /// Slide, ms (a divisor of the size).
        slide_ms: i64,
    },
    /// Per-asset session windows that close after `gap_ms` without readings of the asset.
    Session {
        /// Inactivity gap, ms.
        gap_ms: i64,
    },
}

/// Bounds of a closed window.
#[derive(Debug, Clone, PartialEq)]
pub enum Bounds {
    /// One window for every asset in it (tumbling and hopping).
    Fixed(Window),
    /// One session per asset (at most one per asset in a [`ClosedWindow`]).
    PerAsset(BTreeMap<String, Window>),
}

impl Bounds {
    /// The window of `asset`, if it is in these bounds.
    pub fn of(&self, asset: &str) -> Option<Window> {
        match self {
            Bounds::Fixed(w) => Some(*w),
            Bounds::PerAsset(m) => m.get(asset).copied(),
        }
    }

    /// Latest end among the bounds.
    pub fn max_end(&self) -> i64 {
        match self {
            Bounds::Fixed(w) => w.end,
            Bounds::PerAsset(m) => m.values().map(|w| w.end).max().unwrap_or(i64::MIN),
        }
    }
}

/// One pane's data as a closed window sees it.
#[derive(Debug, Clone, Default)]
pub struct PaneData {
    /// Pane start (for fixed windows; a session index for sessions).
    pub start: i64,
    /// Readings not yet reduced to partial aggregate state.
    pub raw: Vec<RecordBatch>,
    /// Partial aggregate states of readings reduced earlier (see [`WindowStore::absorb`]).
    pub partial: Vec<RecordBatch>,
}

/// A window whose close bound has passed.
#[derive(Debug, Clone)]
pub struct ClosedWindow {
    /// Its bounds.
    pub bounds: Bounds,
    /// Its data, pane by pane.
    pub panes: Vec<PaneData>,
    /// Whether later windows reuse these panes (hopping windows, size > slide): only then are
    /// their merged states worth keeping in the sliding aggregate.
    pub panes_reused: bool,
    /// Per asset and measurement: min, max and count of the values in the window (for stuck
    /// sensor detection; empty unless the job asks for it).
    pub stats: ValueStats,
}

impl ClosedWindow {
    /// Raw readings batches of the window (all of them, when nothing was absorbed).
    pub fn raw_batches(&self) -> impl Iterator<Item = &RecordBatch> {
        self.panes.iter().flat_map(|p| p.raw.iter())
    }

    /// Number of raw readings in the window.
    pub fn raw_rows(&self) -> usize {
        self.raw_batches().map(RecordBatch::num_rows).sum()
    }
}

/// The store of a job's open windows.
#[derive(Debug)]
pub enum WindowStore {
    /// Tumbling and hopping windows.
    Panes(PaneStore),
    /// Session windows.
    Sessions(SessionStore),
}

impl WindowStore {
    /// An empty store for `kind`; `track_stats` keeps per-window value statistics.
    pub fn new(kind: WindowKind, track_stats: bool) -> Result<Self, OperatorError> {
        Ok(match kind {
            WindowKind::Fixed { size_ms, slide_ms } => WindowStore::Panes(PaneStore::new(
                crate::WindowSpec::hopping(size_ms, slide_ms)?,
                track_stats,
            )),
            WindowKind::Session { gap_ms } => {
                WindowStore::Sessions(SessionStore::new(gap_ms, track_stats)?)
            }
        })
    }

    /// True when a reading of `asset` at `ts` can no longer enter any open window.
    pub fn is_late(&self, asset: &str, ts: i64) -> bool {
        match self {
            WindowStore::Panes(s) => s.is_late(ts),
            WindowStore::Sessions(s) => s.is_late(asset, ts),
        }
    }

    /// Whether every window a reading at `ts` could join ends at or before `bound`: it would be
    /// late once the watermark minus the allowed lateness reached `bound`.
    pub fn ends_by(&self, ts: i64, bound: i64) -> bool {
        match self {
            WindowStore::Panes(s) => s.ends_by(ts, bound),
            WindowStore::Sessions(s) => s.ends_by(ts, bound),
        }
    }

    /// Stores rows `rows` of `batch` (already checked not late and not duplicate).
    pub fn insert(&mut self, batch: &RecordBatch, rows: &[u32]) -> Result<(), OperatorError> {
        match self {
            WindowStore::Panes(s) => s.insert(batch, rows),
            WindowStore::Sessions(s) => s.insert(batch, rows),
        }
    }

    /// Closes every window whose end is at or before `bound` (watermark minus allowed
    /// lateness); returns them earliest first.
    pub fn close_until(&mut self, bound: i64) -> Result<Vec<ClosedWindow>, OperatorError> {
        match self {
            WindowStore::Panes(s) => Ok(s.close_until(bound)),
            WindowStore::Sessions(s) => s.close_until(bound),
        }
    }

    /// Closes every window that holds data (end of a bounded input).
    pub fn flush(&mut self) -> Result<Vec<ClosedWindow>, OperatorError> {
        match self {
            WindowStore::Panes(s) => Ok(s.flush()),
            WindowStore::Sessions(s) => s.flush(),
        }
    }

    /// Replaces the raw readings of panes with their partial aggregate states (computed by the
    /// feature SQL's first phase), so later windows over the same panes do not aggregate the
    /// readings again. Only meaningful for fixed windows.
    pub fn absorb(&mut self, partials: HashMap<i64, Vec<RecordBatch>>) {
        if let WindowStore::Panes(s) = self {
            s.absorb(partials);
        }
    }

    /// Readings held raw in open windows.
    pub fn buffered_rows(&self) -> usize {
        match self {
            WindowStore::Panes(s) => s.buffered_rows(),
            WindowStore::Sessions(s) => s.buffered_rows(),
        }
    }

    /// The readings held raw in open panes; `None` for session windows (their store does not
    /// hand them out).
    pub fn pane_raw_batches(&self) -> Option<Vec<&RecordBatch>> {
        match self {
            WindowStore::Panes(s) => Some(s.raw_batches().collect()),
            WindowStore::Sessions(_) => None,
        }
    }

    /// Panes due to have raw readings folded into partial states (see
    /// [`PaneStore::due_for_folding`]); none for session windows.
    pub fn due_for_folding(&self, rule: hopping::FoldRule) -> Vec<Fold> {
        match self {
            WindowStore::Panes(s) => s.due_for_folding(rule),
            WindowStore::Sessions(_) => Vec::new(),
        }
    }

    /// Takes a pane's partial states out for its fold (see [`PaneStore::take_partial`]).
    pub fn take_partial(&mut self, start: i64) -> Vec<RecordBatch> {
        match self {
            WindowStore::Panes(s) => s.take_partial(start),
            WindowStore::Sessions(_) => Vec::new(),
        }
    }

    /// Applies a fold computed from [`WindowStore::due_for_folding`].
    pub fn fold(
        &mut self,
        start: i64,
        rows: usize,
        states: Vec<RecordBatch>,
        rule: hopping::FoldRule,
    ) {
        if let WindowStore::Panes(s) = self {
            s.fold(start, rows, states, rule);
        }
    }

    /// Open panes or sessions (a memory gauge).
    pub fn open_units(&self) -> usize {
        match self {
            WindowStore::Panes(s) => s.open_panes(),
            WindowStore::Sessions(s) => s.open_sessions(),
        }
    }
}
