//! `vigil backtest` with protocol `nab` (Numenta Anomaly Benchmark's): each CSV file is one
//! asset's stream, replayed from its first row through the production path (decoder,
//! event-time windows, feature SQL, the job's detectors and alert lifecycle). Nothing is
//! trained beforehand: the job's per-asset baselines learn as the stream goes, so no label is
//! seen. A detection is an alert that opens (every alert without a lifecycle), placed at the
//! last data row of its window (the row on whose arrival the window could close); detections
//! in the probation period (the first min(⌊0.15 N⌋, 750) rows) are ignored, as NAB does. Only
//! windows that closed are scored (no flush of the open ones at the end of a file). Label
//! windows come from NAB's `combined_windows*.json`: each `[start, end]` maps to the first
//! rows with those timestamps. Scores are pooled over files (`nab.rs`); pointwise F1/FAR/MAR
//! use the state of the first window holding each row after probation.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use vigil_operators::arrow::array::TimestampMillisecondArray;
use vigil_schemas::decode::{csv_separator, decode_csv_for};
use vigil_schemas::AlertState;

use crate::backtest::{labelled_events, list_files, BacktestReport, Confusion, FileResult};
use crate::engine::Engine;
use crate::job::JobConfig;
use crate::metrics::JobStats;
use crate::PipelineError;

/// NAB's probation period of a file of `n` rows.
pub fn probation(n: usize) -> usize {
    (n * 15 / 100).min(750)
}

/// The label windows of one file as inclusive data-row ranges: each `[start, end]` timestamp
/// pair maps to the first rows whose timestamp text starts with it (to the second).
pub fn label_rows(
    stamps: &[&str],
    windows: &[(String, String)],
) -> Result<Vec<(usize, usize)>, PipelineError> {
    let find = |t: &str| {
        let key = &t[..t.len().min(19)];
        stamps
            .iter()
            .position(|s| s.starts_with(key))
            .ok_or_else(|| PipelineError::Data(format!("label window time {t} is not a row's")))
    };
    windows
        .iter()
        .map(|(a, b)| Ok((find(a)?, find(b)?)))
        .collect()
}

/// Reads NAB's label file: file name -> its windows.
fn read_labels(path: &Path) -> Result<HashMap<String, Vec<(String, String)>>, PipelineError> {
    let text = std::fs::read_to_string(path).map_err(|e| PipelineError::io(path, e))?;
    let v: HashMap<String, Vec<(String, String)>> = serde_json::from_str(&text)
        .map_err(|e| PipelineError::Data(format!("{}: {e}", path.display())))?;
    Ok(v.into_iter()
        .map(|(k, w)| (k.rsplit('/').next().unwrap_or(&k).to_string(), w))
        .collect())
}

/// Runs the protocol over the job's data folder (or `input`).
pub async fn run(
    cfg: &JobConfig,
    input: Option<&Path>,
    data: &Path,
    include: &[String],
    labels: &Path,
) -> Result<BacktestReport, PipelineError> {
    let data = input.unwrap_or(data);
    let files = list_files(data, include, "csv")?;
    let labels = read_labels(labels)?;
    let decoder = vigil_schemas::BatchDecoder::new(cfg.mapping.clone())?;
    let mut report = BacktestReport::default();
    let mut raw = [0.0; 3];
    for path in files {
        let name = path
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        let Some(windows) = labels.get(&name) else {
            return Err(PipelineError::Data(format!(
                "{}: no label windows for {name}",
                path.display()
            )));
        };
        let text = std::fs::read_to_string(&path).map_err(|e| PipelineError::io(&path, e))?;
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header = lines.next().unwrap_or_default();
        let sep = csv_separator(header);
        let ts_col = header
            .split(sep)
            .position(|h| h.trim().trim_matches('"') == cfg.mapping.time_field)
            .ok_or_else(|| PipelineError::Data(format!("{name}: no timestamp column")))?;
        let stamps: Vec<&str> = lines
            .map(|l| {
                l.split(sep)
                    .nth(ts_col)
                    .unwrap_or("")
                    .trim()
                    .trim_matches('"')
            })
            .collect();
        let n = stamps.len();
        let wins = label_rows(&stamps, windows)?;
        let asset = name.trim_end_matches(".csv").to_string();
        let decoded = decode_csv_for(&decoder, &text, Some(&asset))?;
        if let Some(d) = decoded.dead.first() {
            return Err(PipelineError::Data(format!(
                "{name}: {} rows rejected, the first (data row {}): {}",
                decoded.dead.len(),
                d.index + 1,
                d.detail
            )));
        }
        let mut engine = Engine::new(cfg, None, Arc::new(JobStats::new())).await?;
        engine.keep_scores(true);
        let step = engine.process_all(&decoded.batch).await?;
        let ts = decoded
            .batch
            .column_by_name(vigil_schemas::TS_COL)
            .and_then(|c| c.as_any().downcast_ref::<TimestampMillisecondArray>())
            .ok_or_else(|| PipelineError::Data("no event time column".into()))?;
        // data row and event time of every decoded row
        let rows: Vec<(usize, i64)> = decoded
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (*r as usize, ts.value(i)))
            .collect();
        let last_row = |start: i64, end: i64| {
            rows.iter()
                .filter(|(_, t)| *t >= start && *t < end)
                .map(|(r, _)| *r)
                .max()
        };
        let prob = probation(n);
        let mut detections: Vec<usize> = step
            .alerts
            .iter()
            .filter(|a| a.state.is_none_or(|s| s == AlertState::Open))
            .filter_map(|a| last_row(a.window_start, a.window_end))
            .filter(|r| *r >= prob)
            .collect();
        detections.sort_unstable();
        detections.dedup();
        for (k, profile) in crate::nab::PROFILES.iter().enumerate() {
            raw[k] += crate::nab::raw_score(&wins, &detections, *profile);
        }
        report.nab_counts.0 += wins.len();
        report.nab_counts.1 += detections.len();

        // pointwise view: a row is alarmed when, at the first window holding it (the one that
        // closes first), an alert of its asset is firing (the window is over the threshold
        // without a lifecycle); several detectors of one window count by their largest score
        let mut per_window: Vec<(i64, i64, f64)> = step
            .scores
            .iter()
            .map(|a| (a.window_end, a.window_start, crate::alerting::ratio(a)))
            .collect();
        per_window.sort_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
        per_window.dedup_by(|later, first| {
            let same = (later.0, later.1) == (first.0, first.1);
            if same {
                first.2 = first.2.max(later.2);
            }
            same
        });
        let mut state = vigil_models::lifecycle::LifecycleState::default();
        let verdicts: Vec<(i64, f64, bool)> = per_window
            .iter()
            .map(|&(end, start, ratio)| {
                let firing = match &cfg.lifecycle {
                    Some(p) => {
                        p.step(&mut state, ratio, start, end);
                        state.firing.is_some()
                    }
                    None => ratio > 1.0,
                };
                (end, ratio, firing)
            })
            .collect();
        let label_of = |r: usize| wins.iter().any(|(a, b)| r >= *a && r <= *b);
        let mut conf = Confusion::default();
        let mut trace = Vec::new();
        let mut timed = Vec::new();
        let mut by_row: Vec<(usize, i64)> =
            rows.iter().copied().filter(|(r, _)| *r >= prob).collect();
        by_row.sort_unstable();
        for (r, t) in by_row {
            let k = verdicts.partition_point(|w| w.0 <= t);
            let predicted = verdicts.get(k).is_some_and(|w| w.2);
            let score = verdicts.get(k).map_or(f64::NAN, |w| w.1);
            let label = label_of(r);
            conf.add(predicted, label);
            trace.push((r, score, label));
            timed.push((t, predicted, label));
        }
        report.total.tp += conf.tp;
        report.total.fp += conf.fp;
        report.total.fn_ += conf.fn_;
        report.total.tn += conf.tn;
        report.files.push(FileResult {
            file: name,
            train_rows: prob,
            test_rows: trace.len(),
            confusion: conf,
            threshold: 1.0,
            trace,
            events: labelled_events(&timed),
        });
    }
    let mut scores = [0.0; 3];
    for (k, profile) in crate::nab::PROFILES.iter().enumerate() {
        scores[k] = crate::nab::normalised(raw[k], report.nab_counts.0, *profile).unwrap_or(0.0);
    }
    report.nab = Some(scores);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probation_is_nabs() {
        assert_eq!(probation(1000), 150);
        assert_eq!(probation(22695), 750);
        assert_eq!(probation(6), 0);
    }

    #[test]
    fn label_windows_map_to_the_first_rows_with_their_times() {
        let stamps = [
            "2014-01-01 00:00:00",
            "2014-01-01 00:05:00",
            "2014-01-01 00:05:00",
            "2014-01-01 00:10:00",
        ];
        let w = vec![(
            "2014-01-01 00:05:00.000000".to_string(),
            "2014-01-01 00:10:00.000000".to_string(),
        )];
        assert_eq!(label_rows(&stamps, &w).ok(), Some(vec![(1, 3)]));
        let bad = vec![("2015-01-01 00:00:00".to_string(), "x".to_string())];
        assert!(label_rows(&stamps, &bad).is_err());
    }
}
