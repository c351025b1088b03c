//! The event-time operator against a brute-force reference.
//!
//! The reference keeps every reading in a list and recomputes everything naively at every step:
//! the watermark from per-partition maxima, which readings are late, which are duplicates, and
//! each window's contents by scanning all accepted readings. Random streams with disorder,
//! lateness, duplicates, several partitions, idle partitions and ticks without data, cut into
//! arbitrary batches (and optionally snapshotted and restored midway), must give exactly the
//! reference's windows (contents and the step they close at), late rows and duplicate rows.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::snapshot::{Parts, Segments};
use crate::testutil::{batch, rows_of};
use crate::windows::Bounds;
use crate::{QualityConfig, WindowSpec};

#[derive(Debug, Clone)]
struct Reading {
    asset: String,
    ts: i64,
    id: f64,
    part: u32,
}

#[derive(Debug, Clone)]
struct Scenario {
    cfg: EventTimeConfig,
    parts: u32,
    /// (rows, wall-clock advance before the step); empty rows is a tick.
    steps: Vec<(Vec<Reading>, i64)>,
    snapshot_after: Option<usize>,
}

/// Window key: asset, start, end.
type Key = (String, i64, i64);
/// Per window: ids inside (sorted) and the step it closed at (`usize::MAX` = flush).
type Windows = BTreeMap<Key, (Vec<i64>, usize)>;

#[derive(Debug, PartialEq)]
struct Outcome {
    windows: Windows,
    late: BTreeSet<i64>,
    dups: BTreeSet<i64>,
}

fn id(x: f64) -> i64 {
    x as i64
}

fn run_operator(sc: &Scenario) -> Outcome {
    let mut op = EventTimeOperator::new(sc.cfg).unwrap();
    op.assign(0..sc.parts, 0);
    let mut out = Outcome {
        windows: BTreeMap::new(),
        late: BTreeSet::new(),
        dups: BTreeSet::new(),
    };
    let mut wall = 0;
    let mut segments = Segments::new();
    let record = |closed: Vec<ClosedWindow>, step: usize, out: &mut Outcome| {
        for w in closed {
            let rows = rows_of(w.raw_batches());
            let mut per: BTreeMap<Key, Vec<i64>> = BTreeMap::new();
            for (a, t, v) in rows {
                let win = w.bounds.of(&a).expect("row of an asset outside the bounds");
                assert!(win.start <= t && t < win.end, "row {t} outside {win:?}");
                per.entry((a, win.start, win.end)).or_default().push(id(v));
            }
            if let Bounds::PerAsset(m) = &w.bounds {
                assert_eq!(m.len(), per.len(), "every session of the round has rows");
            }
            for (k, mut ids) in per {
                ids.sort();
                assert!(
                    out.windows.insert(k.clone(), (ids, step)).is_none(),
                    "window {k:?} emitted twice"
                );
            }
        }
    };
    for (i, (rows, dt)) in sc.steps.iter().enumerate() {
        wall += dt;
        if !rows.is_empty() {
            let tuples: Vec<(&str, i64, f64)> = rows
                .iter()
                .map(|r| (r.asset.as_str(), r.ts, r.id))
                .collect();
            let parts: Vec<u32> = rows.iter().map(|r| r.part).collect();
            let ing = op.ingest(&batch(&tuples), &parts, wall).unwrap();
            out.late
                .extend(ing.late_rows.iter().map(|r| id(rows[*r as usize].id)));
            out.dups
                .extend(ing.duplicate_rows.iter().map(|r| id(rows[*r as usize].id)));
        }
        let adv = op.advance(wall).unwrap();
        record(adv.closed, i, &mut out);
        // an incremental snapshot at every step, its segments kept as a changelog would
        let mut parts = Parts::default();
        let head = op.snapshot_parts(&mut parts).unwrap();
        segments.extend(parts.put);
        let live: BTreeSet<String> = parts.live.into_iter().collect();
        segments.retain(|k, _| live.contains(k));
        if sc.snapshot_after == Some(i) {
            op = if i % 2 == 0 {
                EventTimeOperator::restore(sc.cfg, &op.snapshot().unwrap()).unwrap()
            } else {
                EventTimeOperator::restore_parts(sc.cfg, &head, &segments).unwrap()
            };
        }
    }
    let fl = op.flush().unwrap();
    record(fl.closed, usize::MAX, &mut out);
    out
}

/// Naive sessions of one asset's readings (sorted by ts): split where the gap is >= `gap`.
fn naive_sessions(mut ts: Vec<(i64, i64)>, gap: i64) -> Vec<(i64, i64, Vec<i64>)> {
    ts.sort();
    let mut out: Vec<(i64, i64, Vec<i64>)> = Vec::new();
    for (t, i) in ts {
        match out.last_mut() {
            Some(s) if t - s.1 < gap => {
                s.1 = t;
                s.2.push(i);
            }
            _ => out.push((t, t, vec![i])),
        }
    }
    out.into_iter()
        .map(|(f, l, mut ids)| {
            ids.sort();
            (f, l + gap, ids)
        })
        .collect()
}

fn run_reference(sc: &Scenario) -> Outcome {
    let cfg = sc.cfg;
    let mut out = Outcome {
        windows: BTreeMap::new(),
        late: BTreeSet::new(),
        dups: BTreeSet::new(),
    };
    // (reading, close state when it arrived)
    let mut accepted: Vec<(Reading, Option<i64>)> = Vec::new();
    let mut seen: BTreeSet<(String, i64, u64)> = BTreeSet::new();
    let mut part_max: BTreeMap<u32, Option<i64>> = (0..sc.parts).map(|p| (p, None)).collect();
    let mut part_wall: BTreeMap<u32, i64> = (0..sc.parts).map(|p| (p, 0)).collect();
    let mut max_all: Option<i64> = None;
    let mut last_any: Option<i64> = None;
    let mut wm: Option<i64> = None;
    let mut closed: Option<i64> = None; // fixed: closed_upto; session: bound
    let mut emitted_end: BTreeMap<String, i64> = BTreeMap::new();
    let mut wall = 0;
    let fixed = match cfg.window {
        WindowKind::Fixed { size_ms, slide_ms } => {
            Some(WindowSpec::hopping(size_ms, slide_ms).unwrap())
        }
        WindowKind::Session { .. } => None,
    };
    let gap = match cfg.window {
        WindowKind::Session { gap_ms } => gap_ms,
        _ => 0,
    };

    let windows_now = |accepted: &[(Reading, Option<i64>)]| -> BTreeMap<Key, Vec<i64>> {
        let mut m: BTreeMap<Key, Vec<i64>> = BTreeMap::new();
        match fixed {
            Some(spec) => {
                for (r, c) in accepted {
                    for w in spec.windows_of(r.ts) {
                        if c.is_none_or(|c| w.end > c) {
                            m.entry((r.asset.clone(), w.start, w.end))
                                .or_default()
                                .push(id(r.id));
                        }
                    }
                }
                m.values_mut().for_each(|v| v.sort());
            }
            None => {
                let mut by_asset: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
                for (r, _) in accepted {
                    by_asset
                        .entry(r.asset.clone())
                        .or_default()
                        .push((r.ts, id(r.id)));
                }
                for (a, ts) in by_asset {
                    for (s, e, ids) in naive_sessions(ts, gap) {
                        m.insert((a.clone(), s, e), ids);
                    }
                }
            }
        }
        m
    };

    for (step, (rows, dt)) in sc.steps.iter().enumerate() {
        wall += dt;
        for r in rows {
            let late = match fixed {
                Some(spec) => closed.is_some_and(|c| spec.last_end_of(r.ts) <= c),
                None => {
                    closed.is_some_and(|c| r.ts + gap <= c)
                        || emitted_end.get(&r.asset).is_some_and(|e| r.ts < *e)
                }
            };
            if late {
                out.late.insert(id(r.id));
                continue;
            }
            if cfg.dedup && !seen.insert((r.asset.clone(), r.ts, r.id.to_bits())) {
                out.dups.insert(id(r.id));
                continue;
            }
            accepted.push((r.clone(), closed));
        }
        for r in rows {
            let m = part_max.entry(r.part).or_insert(None);
            *m = Some(m.map_or(r.ts, |x| x.max(r.ts)));
            part_wall.insert(r.part, wall);
            max_all = Some(max_all.map_or(r.ts, |x| x.max(r.ts)));
            last_any = Some(wall);
        }
        let idle = |p: &u32| {
            cfg.idle_timeout_ms
                .is_some_and(|t| wall - part_wall[p] >= t)
        };
        let active: Vec<u32> = part_max.keys().copied().filter(|p| !idle(p)).collect();
        let cand = if !active.is_empty() {
            if active.iter().any(|p| part_max[p].is_none()) {
                None
            } else {
                active
                    .iter()
                    .map(|p| part_max[p].unwrap())
                    .min()
                    .map(|m| m - cfg.out_of_orderness_ms)
            }
        } else {
            match (max_all, last_any, cfg.idle_timeout_ms) {
                (Some(m), Some(l), Some(_)) => {
                    Some(m - cfg.out_of_orderness_ms + (wall - l).max(0))
                }
                (Some(m), _, _) => Some(m - cfg.out_of_orderness_ms),
                _ => None,
            }
        };
        if let Some(c) = cand {
            wm = Some(wm.map_or(c, |w| w.max(c)));
        }
        if let Some(w) = wm {
            let bound = w - cfg.allowed_lateness_ms;
            let new_closed = match fixed {
                Some(spec) => spec.aligned_floor(bound),
                None => bound,
            };
            closed = Some(closed.map_or(new_closed, |c| c.max(new_closed)));
            let c = closed.unwrap();
            for (k, ids) in windows_now(&accepted) {
                if k.2 <= c && !out.windows.contains_key(&k) {
                    if fixed.is_none() {
                        let e = emitted_end.entry(k.0.clone()).or_insert(i64::MIN);
                        *e = (*e).max(k.2);
                    }
                    out.windows.insert(k, (ids, step));
                }
            }
        }
    }
    for (k, ids) in windows_now(&accepted) {
        out.windows.entry(k).or_insert((ids, usize::MAX));
    }
    out
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let rows = proptest::collection::vec((0u8..3, 0i64..100, 0u32..3, 0u8..8), 1..100);
    let cuts = proptest::collection::vec((0usize..12, 0i64..40), 1..30);
    let kind = prop_oneof![
        (1i64..30, 1i64..5).prop_map(|(slide, k)| WindowKind::Fixed {
            size_ms: slide * k,
            slide_ms: slide
        }),
        (1i64..40).prop_map(|gap| WindowKind::Session { gap_ms: gap }),
    ];
    (
        rows,
        cuts,
        kind,
        (
            0i64..40,
            0i64..40,
            proptest::option::of(10i64..80),
            any::<bool>(),
        ),
        1u32..4,
        proptest::option::of(0usize..30),
    )
        .prop_map(
            |(rows, cuts, window, (ooo, lateness, idle, dedup), parts, snap)| {
                let mut readings: Vec<Reading> = Vec::new();
                for (i, (a, jitter, p, dup)) in rows.into_iter().enumerate() {
                    let part = p % parts;
                    if dup == 0 && !readings.is_empty() {
                        let mut r = readings[i / 2].clone();
                        r.part = part;
                        readings.push(r);
                        continue;
                    }
                    readings.push(Reading {
                        asset: ["a", "b", "c"][a as usize].to_string(),
                        ts: i as i64 * 4 + jitter - 50,
                        id: i as f64,
                        part,
                    });
                }
                let mut steps = Vec::new();
                let mut rest = readings.as_slice();
                for (n, dt) in cuts {
                    let n = n.min(rest.len());
                    steps.push((rest[..n].to_vec(), dt));
                    rest = &rest[n..];
                }
                if !rest.is_empty() {
                    steps.push((rest.to_vec(), 1));
                }
                Scenario {
                    cfg: EventTimeConfig {
                        window,
                        out_of_orderness_ms: ooo,
                        allowed_lateness_ms: lateness,
                        idle_timeout_ms: idle,
                        dedup,
                        quality: QualityConfig::default(),
                    },
                    parts,
                    steps,
                    snapshot_after: snap,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn operator_matches_brute_force_reference(sc in scenario()) {
        let got = run_operator(&sc);
        let want = run_reference(&sc);
        // Nothing vanishes: every reading is late, a duplicate, or in at least one window.
        let mut all: BTreeSet<i64> = got.late.iter().chain(&got.dups).copied().collect();
        for (ids, _) in got.windows.values() { all.extend(ids); }
        let total: BTreeSet<i64> = sc.steps.iter().flat_map(|s| s.0.iter().map(|r| id(r.id))).collect();
        prop_assert_eq!(&all, &total);
        prop_assert_eq!(got, want);
    }

    /// A snapshot restores to an operator that continues identically (checked on the bytes:
    /// snapshot, restore, snapshot again gives the same state).
    #[test]
    fn snapshot_restore_is_lossless(sc in scenario()) {
        let mut op = EventTimeOperator::new(sc.cfg).unwrap();
        op.assign(0..sc.parts, 0);
        let mut wall = 0;
        for (rows, dt) in &sc.steps {
            wall += dt;
            if !rows.is_empty() {
                let tuples: Vec<(&str, i64, f64)> = rows.iter().map(|r| (r.asset.as_str(), r.ts, r.id)).collect();
                let parts: Vec<u32> = rows.iter().map(|r| r.part).collect();
                op.ingest(&batch(&tuples), &parts, wall).unwrap();
            }
            op.advance(wall).unwrap();
        }
        let restored = EventTimeOperator::restore(sc.cfg, &op.snapshot().unwrap()).unwrap();
        prop_assert_eq!(restored.watermark(), op.watermark());
        prop_assert_eq!(restored.buffered_rows(), op.buffered_rows());
        prop_assert_eq!(restored.dedup_entries(), op.dedup_entries());
        let a = EventTimeOperator::restore(sc.cfg, &restored.snapshot().unwrap()).unwrap();
        prop_assert_eq!(a.buffered_rows(), op.buffered_rows());
    }
}

#[test]
fn newer_snapshot_format_is_refused_clearly() {
    let op = EventTimeOperator::new(EventTimeConfig::tumbling(10)).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&op.snapshot().unwrap()).unwrap();
    v["format"] = serde_json::json!(99);
    let err = EventTimeOperator::restore(EventTimeConfig::tumbling(10), v.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("newer Vigil"), "{err}");
    let other = EventTimeOperator::restore(EventTimeConfig::tumbling(20), &op.snapshot().unwrap());
    assert!(other.unwrap_err().to_string().contains("10 ms"));
}

#[test]
fn idle_partition_released_and_whole_input_quiet_closes_windows() {
    let mut cfg = EventTimeConfig::tumbling(10);
    cfg.idle_timeout_ms = Some(100);
    let mut op = EventTimeOperator::new(cfg).unwrap();
    op.assign([0, 1], 0);
    op.ingest(&batch(&[("a", 5, 1.0), ("a", 25, 2.0)]), &[0, 0], 0)
        .unwrap();
    assert!(
        op.advance(50).unwrap().closed.is_empty(),
        "partition 1 holds the watermark"
    );
    op.ingest(&batch(&[("a", 28, 3.0)]), &[0], 90).unwrap();
    let adv = op.advance(100).unwrap();
    assert_eq!(
        adv.watermark,
        Some(28),
        "partition 1 idle, partition 0 alone"
    );
    assert!(!adv.wall_clock);
    assert_eq!(adv.closed.len(), 1);
    // the whole input is quiet: the window [20, 30) closes by the wall clock
    let adv = op.advance(200).unwrap();
    assert!(adv.wall_clock);
    assert_eq!(adv.watermark, Some(28 + 110));
    assert_eq!(adv.closed.len(), 1);
}
