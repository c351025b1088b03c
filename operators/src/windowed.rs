//! The windowed operator: buffers readings per pane and releases windows as the watermark passes.
//!
//! Owns the open state of one job's windows: a map from pane start to the readings batches that
//! fall in it, the watermark, and how far windows have been emitted. Each reading is stored once
//! (in its pane) whatever the window/slide ratio; a closed window is handed out as the list of its
//! panes' batches, ready for the feature SQL. Readings all of whose windows already closed are
//! reported back as late (by row index) so the caller can dead-letter them; nothing is dropped
//! silently.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::datatypes::TimestampMillisecondType;
use vigil_schemas::TS_COL;

use crate::{OperatorError, Watermark, Window, WindowSpec};

/// A window whose watermark has passed: its readings, ready for the feature SQL.
#[derive(Debug, Clone)]
pub struct ClosedWindow {
    /// The window's bounds.
    pub window: Window,
    /// The readings of the window (the batches of its panes).
    pub batches: Vec<RecordBatch>,
}

impl ClosedWindow {
    /// Number of readings in the window.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// What ingesting one batch did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct IngestOutcome {
    /// Rows (indices into the ingested batch) whose windows had all closed already.
    pub late_rows: Vec<u32>,
    /// Rows accepted into open panes.
    pub accepted: usize,
}

/// Event-time windows over readings batches, closed by a watermark.
#[derive(Debug)]
pub struct WindowOperator {
    spec: WindowSpec,
    watermark: Watermark,
    panes: BTreeMap<i64, Vec<RecordBatch>>,
    /// Every window ending at or before this instant has been emitted.
    emitted_upto: Option<i64>,
}

impl WindowOperator {
    /// A new operator with the given window shape and allowed out-of-orderness.
    pub fn new(spec: WindowSpec, out_of_orderness_ms: i64) -> Self {
        WindowOperator {
            spec,
            watermark: Watermark::new(out_of_orderness_ms),
            panes: BTreeMap::new(),
            emitted_upto: None,
        }
    }

    /// The window shape.
    pub fn spec(&self) -> WindowSpec {
        self.spec
    }

    /// The current watermark.
    pub fn watermark(&self) -> Option<i64> {
        self.watermark.current()
    }

    /// Number of open panes (a memory gauge).
    pub fn open_panes(&self) -> usize {
        self.panes.len()
    }

    /// Readings buffered in open panes.
    pub fn buffered_rows(&self) -> usize {
        self.panes
            .values()
            .flatten()
            .map(RecordBatch::num_rows)
            .sum()
    }

    /// Stores a readings batch in its panes and advances the watermark. Rows that belong only to
    /// windows already emitted are returned as late and not stored.
    pub fn ingest(&mut self, batch: &RecordBatch) -> Result<IngestOutcome, OperatorError> {
        let ts_col = batch.column_by_name(TS_COL).ok_or_else(|| {
            OperatorError::FeatureSql(format!("readings batch has no `{TS_COL}` column"))
        })?;
        let ts = ts_col.as_primitive::<TimestampMillisecondType>();
        let mut by_pane: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        let mut out = IngestOutcome::default();
        for (row, t) in ts.values().iter().enumerate() {
            if ts.is_null(row) {
                out.late_rows.push(row as u32);
                continue;
            }
            if self
                .emitted_upto
                .is_some_and(|e| self.spec.last_end_of(*t) <= e)
            {
                out.late_rows.push(row as u32);
                continue;
            }
            by_pane
                .entry(self.spec.pane_start(*t))
                .or_default()
                .push(row as u32);
        }
        // The watermark follows every reading seen, late or not, in arrival order of batches.
        if let Some(max) = ts.iter().flatten().max() {
            self.watermark.observe(max);
        }
        let whole = by_pane.len() == 1 && out.late_rows.is_empty();
        for (pane, rows) in by_pane {
            out.accepted += rows.len();
            let part = if whole {
                batch.clone()
            } else {
                take_record_batch(batch, &UInt32Array::from(rows))?
            };
            self.panes.entry(pane).or_default().push(part);
        }
        Ok(out)
    }

    /// Emits every window whose end the watermark has reached, earliest first, and frees panes
    /// no open window needs. Empty windows are skipped.
    pub fn advance(&mut self) -> Vec<ClosedWindow> {
        match self.watermark.current() {
            Some(wm) => self.close_until(self.spec.aligned_floor(wm)),
            None => Vec::new(),
        }
    }

    /// Emits every window that holds data, as if the watermark had reached the end of time
    /// (end of a bounded input such as a history file).
    pub fn flush(&mut self) -> Vec<ClosedWindow> {
        match self.panes.keys().next_back() {
            Some(last) => {
                let end = last + self.spec.size_ms();
                self.close_until(end)
            }
            None => Vec::new(),
        }
    }

    fn close_until(&mut self, limit: i64) -> Vec<ClosedWindow> {
        let mut closed = Vec::new();
        let (size, slide) = (self.spec.size_ms(), self.spec.slide_ms());
        let Some(&first_pane) = self.panes.keys().next() else {
            self.emitted_upto = Some(self.emitted_upto.map_or(limit, |e| e.max(limit)));
            return closed;
        };
        // First candidate end: the earliest window that contains the first pane, after what
        // has already been emitted.
        let mut end = first_pane + slide;
        if let Some(e) = self.emitted_upto {
            end = end.max(e + slide);
        }
        while end <= limit {
            let start = end - size;
            let batches: Vec<RecordBatch> = self
                .panes
                .range(start..end)
                .flat_map(|(_, b)| b.iter().cloned())
                .collect();
            if batches.is_empty() {
                // Skip the gap: jump to the first window containing the next pane.
                match self.panes.range(end..).next() {
                    Some((&p, _)) => end = end.max(p + slide),
                    None => break,
                }
                continue;
            }
            closed.push(ClosedWindow {
                window: Window { start, end },
                batches,
            });
            end += slide;
        }
        let emitted = self.emitted_upto.map_or(limit, |e| e.max(limit));
        self.emitted_upto = Some(emitted);
        // A pane starting at p is in windows ending up to p + size.
        self.panes.retain(|&p, _| p + size > emitted);
        closed
    }
}

#[cfg(test)]
mod tests;
