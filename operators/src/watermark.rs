//! Watermarks: how far event time has certainly progressed, per input partition and for the job.
//!
//! Each assigned input partition (a *source*, identified by a number the runtime gives it) keeps
//! the largest event time it has delivered and the wall-clock time it last delivered anything.
//! The job's watermark is the minimum over the *active* sources of `max event time -
//! out_of_orderness`. A source that delivered nothing for `idle_timeout` of wall-clock time is
//! idle and stops holding the watermark back. When every source is idle (the whole input went
//! quiet: a dead gateway, a stopped line), event time is taken to advance with the wall clock from
//! the newest event seen, so open windows still close and silent sensors are still noticed.
//!
//! The job watermark never goes backwards: it is the running maximum of the candidate above, and
//! that floor survives restarts and rebalances (it is part of the snapshot). All functions take
//! the wall-clock time as a parameter, so the behaviour is a pure function of its inputs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Watermark settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatermarkConfig {
    /// How far behind its newest reading a source's readings may arrive, ms.
    pub out_of_orderness_ms: i64,
    /// Wall-clock time without data after which a source is idle, ms (`None`: never idle).
    pub idle_timeout_ms: Option<i64>,
}

/// One source's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceProgress {
    /// Largest event time delivered (`None` before the first reading).
    pub max_event_ts: Option<i64>,
    /// Wall-clock time of the last delivery, or of the assignment.
    pub last_active_wall: i64,
}

/// The job's watermark, computed from per-source progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Watermarks {
    cfg: WatermarkConfig,
    sources: BTreeMap<u32, SourceProgress>,
    /// The largest watermark ever reported (the floor that keeps it monotonic).
    floor: Option<i64>,
    /// Largest event time over all sources, including revoked ones.
    max_event_ts: Option<i64>,
    /// Wall-clock time of the last delivery from any source.
    last_any_wall: Option<i64>,
}

/// How the current watermark was derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatermarkBasis {
    /// From the event times of the active sources.
    EventTime,
    /// Every source is idle: advanced with the wall clock from the newest event.
    WallClock,
}

impl Watermarks {
    /// No sources yet, no watermark.
    pub fn new(cfg: WatermarkConfig) -> Self {
        Watermarks {
            cfg,
            sources: BTreeMap::new(),
            floor: None,
            max_event_ts: None,
            last_any_wall: None,
        }
    }

    /// Replaces the settings, keeping all progress (a restored job may change them).
    pub fn reconfigure(&mut self, cfg: WatermarkConfig) {
        self.cfg = cfg;
    }

    /// The settings.
    pub fn config(&self) -> WatermarkConfig {
        self.cfg
    }

    /// Starts tracking `sources` (newly assigned partitions) at wall time `wall`. A source that
    /// is already tracked keeps its progress.
    pub fn assign(&mut self, sources: impl IntoIterator<Item = u32>, wall: i64) {
        for s in sources {
            self.sources.entry(s).or_insert(SourceProgress {
                max_event_ts: None,
                last_active_wall: wall,
            });
        }
    }

    /// Resumes after a restore at wall time `wall`: idleness is counted from now, not from the
    /// wall times of the process that wrote the snapshot (otherwise a downtime longer than
    /// `idle_timeout` would make every source look idle and move event time by the downtime).
    pub fn resume(&mut self, wall: i64) {
        for p in self.sources.values_mut() {
            p.last_active_wall = wall;
        }
        if self.last_any_wall.is_some() {
            self.last_any_wall = Some(wall);
        }
    }

    /// Stops tracking `sources` (revoked partitions). The watermark floor is kept.
    pub fn revoke(&mut self, sources: impl IntoIterator<Item = u32>) {
        for s in sources {
            self.sources.remove(&s);
        }
    }

    /// The tracked sources and their progress.
    pub fn sources(&self) -> &BTreeMap<u32, SourceProgress> {
        &self.sources
    }

    /// Records that `source` delivered readings up to event time `max_ts` at wall time `wall`
    /// (an unknown source is assigned on first sight).
    pub fn observe(&mut self, source: u32, max_ts: i64, wall: i64) {
        let p = self.sources.entry(source).or_insert(SourceProgress {
            max_event_ts: None,
            last_active_wall: wall,
        });
        p.max_event_ts = Some(p.max_event_ts.map_or(max_ts, |m| m.max(max_ts)));
        p.last_active_wall = p.last_active_wall.max(wall);
        self.max_event_ts = Some(self.max_event_ts.map_or(max_ts, |m| m.max(max_ts)));
        self.last_any_wall = Some(self.last_any_wall.map_or(wall, |m| m.max(wall)));
    }

    /// Records that `source` was polled at `wall` (even without readings: a partition that
    /// delivers only bad records is not idle).
    pub fn touch(&mut self, source: u32, wall: i64) {
        if let Some(p) = self.sources.get_mut(&source) {
            p.last_active_wall = p.last_active_wall.max(wall);
        }
    }

    /// Recomputes the watermark at wall time `wall`; returns it and how it was derived. Never
    /// smaller than any value returned before.
    pub fn advance(&mut self, wall: i64) -> (Option<i64>, WatermarkBasis) {
        let (candidate, basis) = self.candidate(wall);
        if let Some(c) = candidate {
            self.floor = Some(self.floor.map_or(c, |f| f.max(c)));
        }
        (self.floor, basis)
    }

    /// The watermark as it would be if `source` had just delivered event time `max_ts` at
    /// `wall` and the watermark were advanced: what a reading right after it is judged late
    /// against, so lateness does not depend on how records are cut into batches.
    pub fn peek_with(&self, source: u32, max_ts: i64, wall: i64) -> Option<i64> {
        let own = self
            .sources
            .get(&source)
            .and_then(|p| p.max_event_ts)
            .map_or(max_ts, |m| m.max(max_ts));
        let mut min = own;
        for (id, p) in &self.sources {
            if *id == source || self.is_idle(p, wall) {
                continue;
            }
            match p.max_event_ts {
                None => return self.floor,
                Some(m) => min = min.min(m),
            }
        }
        let c = min.saturating_sub(self.cfg.out_of_orderness_ms);
        Some(self.floor.map_or(c, |f| f.max(c)))
    }

    /// The last watermark returned by [`Watermarks::advance`].
    pub fn current(&self) -> Option<i64> {
        self.floor
    }

    /// Largest event time seen from any source.
    pub fn max_event_ts(&self) -> Option<i64> {
        self.max_event_ts
    }

    fn is_idle(&self, p: &SourceProgress, wall: i64) -> bool {
        self.cfg
            .idle_timeout_ms
            .is_some_and(|t| wall.saturating_sub(p.last_active_wall) >= t)
    }

    fn candidate(&self, wall: i64) -> (Option<i64>, WatermarkBasis) {
        let ooo = self.cfg.out_of_orderness_ms;
        let mut active = self
            .sources
            .values()
            .filter(|p| !self.is_idle(p, wall))
            .peekable();
        if active.peek().is_some() {
            // Any active source without data yet holds the watermark back.
            let mut min: Option<i64> = None;
            for p in active {
                match p.max_event_ts {
                    None => return (None, WatermarkBasis::EventTime),
                    Some(m) => min = Some(min.map_or(m, |x: i64| x.min(m))),
                }
            }
            return (
                min.map(|m| m.saturating_sub(ooo)),
                WatermarkBasis::EventTime,
            );
        }
        // Every source idle (or none assigned): advance with the wall clock from the newest
        // event, counted from the last delivery.
        match (
            self.max_event_ts,
            self.last_any_wall,
            self.cfg.idle_timeout_ms,
        ) {
            (Some(m), Some(last), Some(_)) => (
                Some(
                    m.saturating_sub(ooo)
                        .saturating_add(wall.saturating_sub(last).max(0)),
                ),
                WatermarkBasis::WallClock,
            ),
            (Some(m), _, _) => (Some(m.saturating_sub(ooo)), WatermarkBasis::EventTime),
            _ => (None, WatermarkBasis::EventTime),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn cfg(ooo: i64, idle: Option<i64>) -> WatermarkConfig {
        WatermarkConfig {
            out_of_orderness_ms: ooo,
            idle_timeout_ms: idle,
        }
    }

    #[test]
    fn minimum_over_partitions_and_idle_partition_released() {
        let mut w = Watermarks::new(cfg(10, Some(1_000)));
        w.assign([0, 1], 0);
        w.observe(0, 500, 0);
        assert_eq!(w.advance(0).0, None, "partition 1 has no data yet");
        w.observe(1, 200, 10);
        assert_eq!(w.advance(10).0, Some(190));
        // partition 1 goes quiet; after the idle timeout partition 0 alone drives the watermark
        w.observe(0, 900, 1_005);
        assert_eq!(w.advance(1_005).0, Some(190));
        assert_eq!(w.advance(1_010), (Some(890), WatermarkBasis::EventTime));
        // partition 1 comes back behind: the watermark does not go backwards
        w.observe(1, 300, 1_020);
        assert_eq!(w.advance(1_020).0, Some(890));
    }

    #[test]
    fn whole_input_quiet_advances_with_wall_clock() {
        let mut w = Watermarks::new(cfg(0, Some(1_000)));
        w.assign([0], 0);
        w.observe(0, 10_000, 100);
        assert_eq!(w.advance(500).0, Some(10_000));
        assert_eq!(w.advance(1_100), (Some(11_000), WatermarkBasis::WallClock));
        assert_eq!(w.advance(5_100).0, Some(15_000));
    }

    #[test]
    fn resume_after_downtime_does_not_jump_event_time() {
        let mut w = Watermarks::new(cfg(0, Some(100)));
        w.assign([0, 1], 0);
        w.observe(0, 1_000, 10);
        w.observe(1, 900, 10);
        assert_eq!(w.advance(20), (Some(900), WatermarkBasis::EventTime));
        // A snapshot taken here is restored an hour (of wall clock) later.
        let mut restored = w.clone();
        restored.resume(3_600_000);
        assert_eq!(
            restored.advance(3_600_010),
            (Some(900), WatermarkBasis::EventTime)
        );
        // Without resume every source would look idle and event time would jump by the downtime.
        assert_eq!(w.advance(3_600_010).1, WatermarkBasis::WallClock);
    }

    #[test]
    fn no_idle_timeout_means_a_silent_partition_holds_the_watermark() {
        let mut w = Watermarks::new(cfg(0, None));
        w.assign([0, 1], 0);
        w.observe(0, 1_000, 0);
        assert_eq!(w.advance(1_000_000).0, None);
    }

    proptest! {
        /// Random deliveries, assignments and revocations: the watermark never goes backwards and
        /// never passes the newest event of an active source minus the out-of-orderness.
        #[test]
        fn never_backwards(ops in proptest::collection::vec((0u8..4, 0u32..3, -1_000i64..1_000), 1..200), ooo in 0i64..100) {
            let mut w = Watermarks::new(cfg(ooo, Some(50)));
            let mut wall = 0i64;
            let mut prev: Option<i64> = None;
            for (op, src, ts) in ops {
                wall += 7;
                match op {
                    0 | 1 => w.observe(src, ts, wall),
                    2 => w.assign([src], wall),
                    _ => w.revoke([src]),
                }
                let (now, basis) = w.advance(wall);
                prop_assert!(now >= prev, "{now:?} < {prev:?}");
                if basis == WatermarkBasis::EventTime && now != prev {
                    let bound = w.sources().values().filter_map(|p| p.max_event_ts).max();
                    prop_assert!(now.unwrap() <= bound.unwrap() - ooo);
                }
                prev = now;
            }
        }
    }
}
