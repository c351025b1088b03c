//! Session windows: per asset, readings less than `gap` apart belong to one session.
//!
//! A session of an asset spans `[first reading, last reading + gap)` and closes when the close
//! bound (watermark minus allowed lateness) reaches that end. A reading merges every open session
//! of its asset it is within `gap` of. Readings are not copied per session: a session holds
//! `(batch, row)` references into the ingested batches (freed when no open session references
//! them) and is materialized with one `interleave` when it closes.
//!
//! A reading is late when a session of its own would already be closed (`ts + gap <= bound`) or
//! when it falls before the end of the last session its asset emitted (it would have belonged to
//! or split an emitted session). Sessions of different assets that close together are emitted
//! together (one feature SQL run for all of them); an asset with several closing sessions puts
//! them into successive rounds, so each [`ClosedWindow`] has at most one session per asset.

use std::collections::{BTreeMap, HashMap};

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::interleave_record_batch;
use serde::{Deserialize, Serialize};
use vigil_schemas::ASSET_COL;

use super::{Bounds, ClosedWindow, PaneData};
use crate::snapshot::{decode_batches, encode_batches};
use crate::stats::ValueStats;
use crate::{OperatorError, Window};

#[derive(Debug, Clone)]
struct Session {
    first: i64,
    last: i64,
    rows: Vec<(u64, u32)>,
}

/// Open sessions of all assets.
#[derive(Debug)]
pub struct SessionStore {
    gap_ms: i64,
    track_stats: bool,
    batches: HashMap<u64, (RecordBatch, usize)>,
    next_batch: u64,
    sessions: HashMap<String, Vec<Session>>,
    emitted_end: HashMap<String, i64>,
    closed_bound: Option<i64>,
    rows: usize,
}

/// Serializable state of a [`SessionStore`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionStoreSnapshot {
    gap_ms: i64,
    closed_bound: Option<i64>,
    emitted_end: BTreeMap<String, i64>,
    sessions: Vec<SessionSnapshot>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionSnapshot {
    asset: String,
    first: i64,
    last: i64,
    #[serde(with = "crate::snapshot::b64")]
    rows: Vec<u8>,
}

impl SessionStore {
    /// An empty store for sessions closed by `gap_ms` of inactivity.
    pub fn new(gap_ms: i64, track_stats: bool) -> Result<Self, OperatorError> {
        if gap_ms <= 0 {
            return Err(OperatorError::InvalidWindow(
                "session gap must be positive".into(),
            ));
        }
        Ok(SessionStore {
            gap_ms,
            track_stats,
            batches: HashMap::new(),
            next_batch: 0,
            sessions: HashMap::new(),
            emitted_end: HashMap::new(),
            closed_bound: None,
            rows: 0,
        })
    }

    /// True when a reading of `asset` at `ts` cannot enter an open session.
    pub fn is_late(&self, asset: &str, ts: i64) -> bool {
        self.closed_bound
            .is_some_and(|c| ts.saturating_add(self.gap_ms) <= c)
            || self.emitted_end.get(asset).is_some_and(|e| ts < *e)
    }

    /// Whether a session started by a reading at `ts` would end at or before `bound`.
    pub fn ends_by(&self, ts: i64, bound: i64) -> bool {
        ts.saturating_add(self.gap_ms) <= bound
    }

    /// Open sessions.
    pub fn open_sessions(&self) -> usize {
        self.sessions.values().map(Vec::len).sum()
    }

    /// Readings held in open sessions.
    pub fn buffered_rows(&self) -> usize {
        self.rows
    }

    /// Adds rows `rows` of `batch` to their assets' sessions, merging sessions they bridge.
    pub fn insert(&mut self, batch: &RecordBatch, rows: &[u32]) -> Result<(), OperatorError> {
        if rows.is_empty() {
            return Ok(());
        }
        let ts = crate::ts_values(batch)?;
        let assets = batch
            .column_by_name(ASSET_COL)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| OperatorError::FeatureSql(format!("batch has no `{ASSET_COL}`")))?;
        let id = self.next_batch;
        self.next_batch += 1;
        self.batches.insert(id, (batch.clone(), rows.len()));
        self.rows += rows.len();
        let gap = self.gap_ms;
        for &r in rows {
            let t = ts[r as usize];
            let asset = assets.value(r as usize);
            let list = match self.sessions.get_mut(asset) {
                Some(l) => l,
                None => self.sessions.entry(asset.to_string()).or_default(),
            };
            // Sessions within `gap` of t (strictly) merge with it.
            let mut merged = Session {
                first: t,
                last: t,
                rows: vec![(id, r)],
            };
            let mut i = 0;
            while i < list.len() {
                let s = &list[i];
                if t > s.first.saturating_sub(gap) && t < s.last.saturating_add(gap) {
                    let s = list.swap_remove(i);
                    merged.first = merged.first.min(s.first);
                    merged.last = merged.last.max(s.last);
                    merged.rows.extend(s.rows);
                } else {
                    i += 1;
                }
            }
            list.push(merged);
        }
        Ok(())
    }

    /// Closes every session ending at or before `bound`.
    pub fn close_until(&mut self, bound: i64) -> Result<Vec<ClosedWindow>, OperatorError> {
        self.closed_bound = Some(self.closed_bound.map_or(bound, |c| c.max(bound)));
        let gap = self.gap_ms;
        let mut closing: BTreeMap<String, Vec<Session>> = BTreeMap::new();
        self.sessions.retain(|asset, list| {
            let mut keep = Vec::with_capacity(list.len());
            for s in list.drain(..) {
                if s.last.saturating_add(gap) <= bound {
                    closing.entry(asset.clone()).or_default().push(s);
                } else {
                    keep.push(s);
                }
            }
            *list = keep;
            !list.is_empty()
        });
        let out = self.emit(closing)?;
        let c = self.closed_bound.unwrap_or(bound);
        self.emitted_end.retain(|_, e| e.saturating_add(gap) > c);
        Ok(out)
    }

    /// Closes every open session.
    pub fn flush(&mut self) -> Result<Vec<ClosedWindow>, OperatorError> {
        let closing: BTreeMap<String, Vec<Session>> = self.sessions.drain().collect();
        self.emit(closing)
    }

    fn emit(
        &mut self,
        mut closing: BTreeMap<String, Vec<Session>>,
    ) -> Result<Vec<ClosedWindow>, OperatorError> {
        let gap = self.gap_ms;
        closing
            .values_mut()
            .for_each(|l| l.sort_by_key(|s| s.first));
        let mut out = Vec::new();
        let mut round = 0;
        loop {
            let members: Vec<(&String, &Session)> = closing
                .iter()
                .filter_map(|(a, l)| l.get(round).map(|s| (a, s)))
                .collect();
            if members.is_empty() {
                break;
            }
            let mut bounds = BTreeMap::new();
            let mut refs: Vec<(u64, u32)> = Vec::new();
            for (a, s) in &members {
                bounds.insert(
                    (*a).clone(),
                    Window {
                        start: s.first,
                        end: s.last.saturating_add(gap),
                    },
                );
                refs.extend(s.rows.iter().copied());
                let e = self.emitted_end.entry((*a).clone()).or_insert(i64::MIN);
                *e = (*e).max(s.last.saturating_add(gap));
            }
            let batch = self.materialize(&refs)?;
            let mut stats = ValueStats::default();
            if self.track_stats {
                let all: Vec<u32> = (0..batch.num_rows() as u32).collect();
                stats.add_rows(&batch, &all);
            }
            self.release(&refs);
            out.push(ClosedWindow {
                bounds: Bounds::PerAsset(bounds),
                panes: vec![PaneData {
                    start: round as i64,
                    raw: vec![batch],
                    partial: Vec::new(),
                }],
                panes_reused: false,
                stats,
            });
            round += 1;
        }
        Ok(out)
    }

    fn materialize(&self, refs: &[(u64, u32)]) -> Result<RecordBatch, OperatorError> {
        let mut ids: Vec<u64> = refs.iter().map(|r| r.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let pos: HashMap<u64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let batches: Vec<&RecordBatch> = ids
            .iter()
            .map(|id| {
                self.batches.get(id).map(|b| &b.0).ok_or_else(|| {
                    OperatorError::Snapshot(format!("session references a freed batch {id}"))
                })
            })
            .collect::<Result<_, _>>()?;
        let idx: Vec<(usize, usize)> = refs.iter().map(|(id, r)| (pos[id], *r as usize)).collect();
        Ok(interleave_record_batch(&batches, &idx)?)
    }

    fn release(&mut self, refs: &[(u64, u32)]) {
        for (id, _) in refs {
            if let Some(e) = self.batches.get_mut(id) {
                e.1 -= 1;
                if e.1 == 0 {
                    self.batches.remove(id);
                }
            }
        }
        self.rows = self.rows.saturating_sub(refs.len());
    }

    /// Serializable state (each open session materialized into one batch).
    pub fn snapshot(&self) -> Result<SessionStoreSnapshot, OperatorError> {
        let mut sessions = Vec::new();
        let mut assets: Vec<&String> = self.sessions.keys().collect();
        assets.sort();
        for a in assets {
            for s in &self.sessions[a] {
                sessions.push(SessionSnapshot {
                    asset: a.clone(),
                    first: s.first,
                    last: s.last,
                    rows: encode_batches(&[self.materialize(&s.rows)?])?,
                });
            }
        }
        Ok(SessionStoreSnapshot {
            gap_ms: self.gap_ms,
            closed_bound: self.closed_bound,
            emitted_end: self
                .emitted_end
                .iter()
                .map(|(a, e)| (a.clone(), *e))
                .collect(),
            sessions,
        })
    }

    /// Rebuilds a store from a snapshot; the gap must be the job's.
    pub fn restore(
        gap_ms: i64,
        track_stats: bool,
        snap: SessionStoreSnapshot,
    ) -> Result<Self, OperatorError> {
        if snap.gap_ms != gap_ms {
            return Err(OperatorError::Snapshot(format!(
                "snapshot session gap is {} ms, the job's is {gap_ms} ms",
                snap.gap_ms
            )));
        }
        let mut store = SessionStore::new(gap_ms, track_stats)?;
        store.closed_bound = snap.closed_bound;
        store.emitted_end = snap.emitted_end.into_iter().collect();
        for s in snap.sessions {
            let mut rows = Vec::new();
            for b in decode_batches(&s.rows)? {
                let id = store.next_batch;
                store.next_batch += 1;
                let n = b.num_rows();
                rows.extend((0..n as u32).map(|r| (id, r)));
                store.rows += n;
                store.batches.insert(id, (b, n));
            }
            store.sessions.entry(s.asset).or_default().push(Session {
                first: s.first,
                last: s.last,
                rows,
            });
        }
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{batch, rows_of};

    #[test]
    fn sessions_split_on_gap_merge_on_bridge_and_close_per_asset() {
        let mut s = SessionStore::new(10, false).unwrap();
        let b = batch(&[("a", 0, 1.0), ("a", 22, 2.0), ("b", 3, 3.0), ("a", 5, 4.0)]);
        s.insert(&b, &[0, 1, 2, 3]).unwrap();
        assert_eq!(s.open_sessions(), 3);
        // readings exactly one gap apart are separate sessions
        s.insert(&batch(&[("c", 0, 1.0), ("c", 10, 1.0)]), &[0, 1])
            .unwrap();
        assert_eq!(s.open_sessions(), 5);
        s.flush().unwrap();
        let b = batch(&[("a", 0, 1.0), ("a", 22, 2.0), ("b", 3, 3.0), ("a", 5, 4.0)]);
        let mut s = SessionStore::new(10, false).unwrap();
        s.insert(&b, &[0, 1, 2, 3]).unwrap();
        // a reading at 14 bridges a:[0,5] and a:[22]
        s.insert(&batch(&[("a", 14, 5.0)]), &[0]).unwrap();
        assert_eq!(s.open_sessions(), 2);
        let closed = s.close_until(14).unwrap();
        assert_eq!(closed.len(), 1);
        assert_eq!(
            closed[0].bounds,
            Bounds::PerAsset(BTreeMap::from([(
                "b".to_string(),
                Window { start: 3, end: 13 }
            )]))
        );
        assert!(s.is_late("b", 12), "before b's emitted session end");
        assert!(!s.is_late("b", 13));
        assert!(!s.is_late("a", 12));
        let closed = s.close_until(35).unwrap();
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].bounds.of("a"), Some(Window { start: 0, end: 32 }));
        assert_eq!(rows_of(closed[0].raw_batches()).len(), 4);
        assert_eq!(s.buffered_rows(), 0);
        assert!(s.batches.is_empty(), "batches freed");
    }

    #[test]
    fn two_sessions_of_one_asset_go_to_successive_rounds() {
        let mut s = SessionStore::new(10, true).unwrap();
        let b = batch(&[("a", 0, 1.0), ("a", 50, 1.0), ("b", 0, 2.0)]);
        s.insert(&b, &[0, 1, 2]).unwrap();
        let closed = s.close_until(100).unwrap();
        assert_eq!(closed.len(), 2);
        assert_eq!(closed[0].bounds.of("b"), Some(Window { start: 0, end: 10 }));
        assert_eq!(
            closed[1].bounds.of("a"),
            Some(Window { start: 50, end: 60 })
        );
        assert!(closed[1].stats.by_asset["a"][0].is_constant());
    }
}
