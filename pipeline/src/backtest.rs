//! `vigil backtest`: replays labelled history through the production path (decode, event-time
//! windows, feature SQL with Vigil's functions, detector, threshold) and scores the alarms
//! against the labels.
//!
//! Protocol `per_file` (SKAB's): in each file, the rows before `train_rows` fit the detector and
//! its threshold; the rest is the test part, never seen in training. Every row of the file goes
//! through the job's engine; a test row's prediction is the alarm of the window that holds it
//! (for hopping windows, the first window containing it that closes). Outlier metrics are
//! pointwise over all test rows pooled: `F1 = TP / (TP + (FP + FN)/2)`, `FAR = FP / (FP + TN)`,
//! `MAR = FN / (FN + TP)`. When the job names a `changepoint` column, change points are scored
//! with NAB (`nab.rs`): a window of `changepoint_window_rows` rows to the right of each labelled
//! change point, and the predicted change points where the test part's binary prediction flips.
//! Keys that do not apply (NAB without change points, RUL) are reported as null.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use vigil_operators::arrow::array::BooleanArray;
use vigil_operators::arrow::array::RecordBatch;
use vigil_operators::arrow::compute::filter_record_batch;
use vigil_operators::WindowKind;
use vigil_schemas::decode::{csv_separator, decode_csv_for};

use crate::engine::{Engine, FeatureMatrix};
use crate::job::{BacktestProtocol, BacktestSettings, JobConfig};
use crate::metrics::JobStats;
use crate::train::{fit_artifact, TrainOptions};
use crate::PipelineError;

/// Confusion counts and the metrics derived from them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Confusion {
    /// True positives.
    pub tp: u64,
    /// False positives.
    pub fp: u64,
    /// False negatives.
    pub fn_: u64,
    /// True negatives.
    pub tn: u64,
}

impl Confusion {
    /// Adds one prediction.
    pub fn add(&mut self, predicted: bool, actual: bool) {
        match (predicted, actual) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, true) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }

    /// `TP / (TP + (FP + FN) / 2)` (SKAB's F1), `None` without positives or predictions.
    pub fn f1(&self) -> Option<f64> {
        let d = self.tp as f64 + (self.fp + self.fn_) as f64 / 2.0;
        (d > 0.0).then(|| self.tp as f64 / d)
    }

    /// False-alarm rate in percent: `FP / (FP + TN) · 100`.
    pub fn far(&self) -> Option<f64> {
        let d = (self.fp + self.tn) as f64;
        (d > 0.0).then(|| self.fp as f64 / d * 100.0)
    }

    /// Missed-alarm rate in percent: `FN / (FN + TP) · 100`.
    pub fn mar(&self) -> Option<f64> {
        let d = (self.fn_ + self.tp) as f64;
        (d > 0.0).then(|| self.fn_ as f64 / d * 100.0)
    }
}

/// One file's result.
#[derive(Debug, Clone, Serialize)]
pub struct FileResult {
    /// The file, relative to the data folder.
    pub file: String,
    /// Rows in the training part.
    pub train_rows: usize,
    /// Rows in the test part.
    pub test_rows: usize,
    /// Counts on the test part.
    pub confusion: Confusion,
    /// The file's threshold.
    pub threshold: f64,
    /// Per test row: data row, score of its window, label (for the report's plots).
    #[serde(skip)]
    pub trace: Vec<(usize, f64, bool)>,
    /// The labelled anomalies of the test part and when each was first alarmed.
    pub events: Vec<LabelledEvent>,
}

/// A labelled anomaly (a run of labelled rows) and its first alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LabelledEvent {
    /// Event time of its first labelled row, ms.
    pub start_ms: i64,
    /// Event time of its last labelled row (the failure), ms.
    pub end_ms: i64,
    /// Event time of the first alarmed row within it, if any.
    pub first_alarm_ms: Option<i64>,
}

impl LabelledEvent {
    /// Lead time: from the first alarm to the event's end (the failure), ms.
    pub fn lead_ms(&self) -> Option<i64> {
        self.first_alarm_ms.map(|a| self.end_ms - a)
    }

    /// Detection delay: from the event's start to the first alarm, ms.
    pub fn delay_ms(&self) -> Option<i64> {
        self.first_alarm_ms.map(|a| a - self.start_ms)
    }
}

/// The labelled events of test rows `(event time, alarmed, labelled)` in time order: each run
/// of labelled rows is one event, first alarmed at its first alarmed row.
pub fn labelled_events(rows: &[(i64, bool, bool)]) -> Vec<LabelledEvent> {
    let mut out: Vec<LabelledEvent> = Vec::new();
    let mut open: Option<LabelledEvent> = None;
    for &(t, alarmed, label) in rows {
        match (&mut open, label) {
            (Some(e), true) => {
                e.end_ms = t;
                if alarmed && e.first_alarm_ms.is_none() {
                    e.first_alarm_ms = Some(t);
                }
            }
            (None, true) => {
                open = Some(LabelledEvent {
                    start_ms: t,
                    end_ms: t,
                    first_alarm_ms: alarmed.then_some(t),
                })
            }
            (Some(_), false) => out.extend(open.take()),
            (None, false) => {}
        }
    }
    out.extend(open);
    out
}

/// The median of some values, if any.
fn median(mut v: Vec<i64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
    })
}

/// A backtest's result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BacktestReport {
    /// Per file.
    pub files: Vec<FileResult>,
    /// Pooled over all test rows.
    pub total: Confusion,
    /// NAB change-point scores (standard, low FP, low FN), when change points are labelled.
    pub nab: Option<[f64; 3]>,
    /// Labelled change-point windows in the test parts, and predicted change points.
    pub nab_counts: (usize, usize),
    /// Remaining-useful-life results (protocol `rul`).
    pub rul: Option<crate::backtest_rul::RulReport>,
}

impl BacktestReport {
    /// All labelled events of all files.
    pub fn events(&self) -> Vec<LabelledEvent> {
        self.files
            .iter()
            .flat_map(|f| f.events.iter().copied())
            .collect()
    }

    /// Median lead time (first alarm to the event's end) over the detected events, seconds.
    pub fn median_lead_s(&self) -> Option<f64> {
        median(
            self.events()
                .iter()
                .filter_map(LabelledEvent::lead_ms)
                .collect(),
        )
        .map(|m| m / 1000.0)
    }

    /// Median detection delay (event start to first alarm) over the detected events, seconds.
    pub fn median_delay_s(&self) -> Option<f64> {
        median(
            self.events()
                .iter()
                .filter_map(LabelledEvent::delay_ms)
                .collect(),
        )
        .map(|m| m / 1000.0)
    }

    /// The one-object JSON of `vigil backtest --json`.
    pub fn json(&self) -> serde_json::Value {
        let events = self.events();
        serde_json::json!({
            "events": events.len(),
            "events_detected": events.iter().filter(|e| e.first_alarm_ms.is_some()).count(),
            "lead_time_median_s": self.median_lead_s(),
            "detection_delay_median_s": self.median_delay_s(),
            "f1": self.total.f1(),
            "far": self.total.far(),
            "mar": self.total.mar(),
            "nab_standard": self.nab.map(|n| n[0]),
            "nab_low_fp": self.nab.map(|n| n[1]),
            "nab_low_fn": self.nab.map(|n| n[2]),
            "rmse": self.rul.as_ref().map(|r| r.metrics.rmse),
            "phm_score": self.rul.as_ref().map(|r| r.metrics.phm_score),
            "rul": self.rul,
            "files": self.files.len(),
            "nab_windows": self.nab_counts.0,
            "nab_detections": self.nab_counts.1,
            "test_rows": self.files.iter().map(|f| f.test_rows).sum::<usize>(),
            "confusion": self.total,
        })
    }
}

impl std::fmt::Display for BacktestReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(r) = &self.rul {
            return write!(f, "{r}");
        }
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        writeln!(
            f,
            "{:<28} {:>6} {:>6} {:>7} {:>7} {:>7}",
            "file", "train", "test", "F1", "FAR %", "MAR %"
        )?;
        for r in &self.files {
            writeln!(
                f,
                "{:<28} {:>6} {:>6} {:>7} {:>7} {:>7}",
                r.file,
                r.train_rows,
                r.test_rows,
                pct(r.confusion.f1()),
                pct(r.confusion.far()),
                pct(r.confusion.mar())
            )?;
        }
        write!(
            f,
            "pooled over {} test rows: F1 {}, FAR {} %, MAR {} %",
            self.files.iter().map(|f| f.test_rows).sum::<usize>(),
            pct(self.total.f1()),
            pct(self.total.far()),
            pct(self.total.mar())
        )?;
        let events = self.events();
        if !events.is_empty() {
            let secs = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0} s"));
            write!(
                f,
                "\nlabelled events: {} of {} alarmed; median lead time before the event's end {}, median detection delay {}",
                events.iter().filter(|e| e.first_alarm_ms.is_some()).count(),
                events.len(),
                secs(self.median_lead_s()),
                secs(self.median_delay_s())
            )?;
        }
        if let Some(n) = self.nab {
            write!(
                f,
                "\nNAB change points (standard / low FP / low FN): {:.2} / {:.2} / {:.2}",
                n[0], n[1], n[2]
            )?;
        }
        Ok(())
    }
}

/// The labelled files of a backtest: `path` itself, or the files under it (in `include`
/// sub-folders when given) with the extension `ext`, sorted.
pub fn list_files(
    path: &Path,
    include: &[String],
    ext: &str,
) -> Result<Vec<PathBuf>, PipelineError> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let roots: Vec<PathBuf> = if include.is_empty() {
        vec![path.to_path_buf()]
    } else {
        include.iter().map(|i| path.join(i)).collect()
    };
    let mut out = Vec::new();
    let mut stack = roots;
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| PipelineError::io(&dir, e))?;
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().and_then(|x| x.to_str()) == Some(ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(PipelineError::Data(format!(
            "no .{ext} files under {}",
            path.display()
        )));
    }
    Ok(out)
}

fn labels_fn(text: &str, column: &str) -> Result<Vec<bool>, PipelineError> {
    labels(text, column)
}

/// The 0/1 label of each data row of a CSV file.
fn labels(text: &str, column: &str) -> Result<Vec<bool>, PipelineError> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let sep = csv_separator(header);
    let col = header
        .split(sep)
        .position(|h| h.trim().trim_matches('"') == column)
        .ok_or_else(|| PipelineError::Data(format!("no label column `{column}` in the header")))?;
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v = l.split(sep).nth(col).unwrap_or("").trim();
            v.parse::<f64>()
                .map(|x| x >= 0.5)
                .map_err(|_| PipelineError::Data(format!("label `{v}` is not 0/1")))
        })
        .collect()
}

/// Rows `[from, to)` (by decoded-row position) of a batch.
fn slice_rows(
    batch: &RecordBatch,
    keep: impl Fn(usize) -> bool,
) -> Result<RecordBatch, PipelineError> {
    let mask = BooleanArray::from((0..batch.num_rows()).map(keep).collect::<Vec<_>>());
    filter_record_batch(batch, &mask).map_err(|e| PipelineError::Data(e.to_string()))
}

pub(crate) async fn features_of(
    cfg: &JobConfig,
    batch: &RecordBatch,
) -> Result<(Vec<RecordBatch>, Vec<String>, String), PipelineError> {
    features_with(cfg, batch, None).await
}

/// [`features_of`] with the readings normalised by `normaliser` first (as the stream does
/// with a model that carries one).
pub(crate) async fn features_with(
    cfg: &JobConfig,
    batch: &RecordBatch,
    normaliser: Option<vigil_models::conditions::ConditionNormaliser>,
) -> Result<(Vec<RecordBatch>, Vec<String>, String), PipelineError> {
    let mut engine = Engine::new(cfg, None, Arc::new(JobStats::new())).await?;
    engine.set_normaliser(normaliser);
    let mut feats = engine.process_all(batch).await?.features;
    feats.extend(engine.flush().await?.features);
    Ok((
        feats,
        engine.features().feature_names().to_vec(),
        engine.features().fingerprint().to_string(),
    ))
}

/// Runs the job's backtest (`input` replaces its data path).
pub async fn run_backtest(
    cfg: &JobConfig,
    input: Option<&Path>,
) -> Result<BacktestReport, PipelineError> {
    let bt: &BacktestSettings = cfg
        .backtest
        .as_ref()
        .ok_or_else(|| PipelineError::Data("the job has no [backtest] section".into()))?;
    let (train_rows, label) = match &bt.protocol {
        BacktestProtocol::PerFile { train_rows, label } => (*train_rows, label.as_str()),
        BacktestProtocol::Nab { labels } => {
            return crate::backtest_nab::run(cfg, input, &bt.data, &bt.include, labels).await;
        }
        BacktestProtocol::Rul {
            train,
            test,
            truth,
            truth_cap,
        } => {
            let r = crate::backtest_rul::run(cfg, input, train, test, truth, *truth_cap).await?;
            return Ok(BacktestReport {
                rul: Some(r),
                ..BacktestReport::default()
            });
        }
    };
    let data = input
        .map(Path::to_path_buf)
        .unwrap_or_else(|| bt.data.clone());
    let files = list_files(&data, &bt.include, "csv")?;
    let decoder = vigil_schemas::BatchDecoder::new(cfg.mapping.clone())?;
    let (size, slide) = match cfg.event_time.window {
        WindowKind::Fixed { size_ms, slide_ms } => (size_ms, slide_ms),
        WindowKind::Session { .. } => {
            return Err(PipelineError::Data(
                "backtests need tumbling or hopping windows".into(),
            ))
        }
    };
    let mut report = BacktestReport::default();
    let mut nab_raw = [0.0; 3];
    let mut nab_windows = 0usize;
    for path in files {
        let rel = path
            .strip_prefix(&data)
            .ok()
            .filter(|r| !r.as_os_str().is_empty());
        let name = rel
            .map(|r| r.display().to_string())
            .or_else(|| path.file_name().map(|f| f.to_string_lossy().to_string()))
            .unwrap_or_default();
        let text = std::fs::read_to_string(&path).map_err(|e| PipelineError::io(&path, e))?;
        let asset = name.trim_end_matches(".csv").to_string();
        let decoded = decode_csv_for(&decoder, &text, Some(&asset))?;
        let labels = labels(&text, label)?;
        let changepoints = match &bt.changepoint {
            Some(c) => Some(labels_fn(&text, c)?),
            None => None,
        };
        // decoded row i came from data row decoded.rows[i]
        let split = train_rows;
        let train = slice_rows(&decoded.batch, |i| (decoded.rows[i] as usize) < split)?;
        let (train_feats, names, fp) = features_of(cfg, &train).await?;
        let mut opts = TrainOptions::for_job(cfg);
        opts.detector = bt.detector;
        opts.threshold_margin = bt.threshold_margin;
        let (artifact, _) = fit_artifact(&train_feats, names.clone(), fp, &opts)?;
        let (all_feats, _, _) = features_of(cfg, &decoded.batch).await?;
        let m = FeatureMatrix::from_batches(&all_feats, names.len());
        let scorer = artifact.scorer();
        let mut window_score: HashMap<i64, f64> = HashMap::new();
        for (i, row) in m.values.rows().into_iter().enumerate() {
            window_score.insert(m.window_start[i], scorer.score(row).score);
        }
        let mut trace = Vec::new();
        let ts = decoded
            .batch
            .column_by_name(vigil_schemas::TS_COL)
            .and_then(|c| {
                c.as_any()
                    .downcast_ref::<vigil_operators::arrow::array::TimestampMillisecondArray>()
            })
            .ok_or_else(|| PipelineError::Data("no event time column".into()))?;
        let mut conf = Confusion::default();
        let mut test_rows = 0;
        // test-part predictions by data row
        let mut pred: Vec<(usize, bool)> = Vec::new();
        let mut timed: Vec<(i64, bool, bool)> = Vec::new();
        for (i, src) in decoded.rows.iter().enumerate() {
            let src = *src as usize;
            if src < split {
                continue;
            }
            let t = ts.value(i);
            // the first window holding t that closes: it ends at the end of t's pane
            let end = t.div_euclid(slide) * slide + slide;
            let score = window_score.get(&(end - size)).copied();
            let predicted = score.is_some_and(|s| s > artifact.threshold);
            let label = labels.get(src).copied().unwrap_or(false);
            conf.add(predicted, label);
            trace.push((src, score.unwrap_or(f64::NAN), label));
            pred.push((src, predicted));
            timed.push((t, predicted, label));
            test_rows += 1;
        }
        if let Some(cps) = &changepoints {
            // windows: `changepoint_window_rows` rows from each labelled change point in the test part
            let n = labels.len();
            let mut windows: Vec<(usize, usize)> = Vec::new();
            for (r, cp) in cps.iter().enumerate() {
                if *cp && r >= split {
                    // one window per labelled change point; one that would overlap the next is
                    // cut short there, so every change point must be found on its own
                    let w = (
                        r,
                        (r + bt.changepoint_window_rows - 1).min(n.saturating_sub(1)),
                    );
                    if let Some(last) = windows.last_mut() {
                        if last.1 >= w.0 {
                            last.1 = w.0 - 1;
                        }
                    }
                    windows.push(w);
                }
            }
            let detections: Vec<usize> = pred
                .windows(2)
                .filter(|p| p[0].1 != p[1].1)
                .map(|p| p[1].0)
                .collect();
            for (k, profile) in crate::nab::PROFILES.iter().enumerate() {
                nab_raw[k] += crate::nab::raw_score(&windows, &detections, *profile);
            }
            nab_windows += windows.len();
            report.nab_counts.0 += windows.len();
            report.nab_counts.1 += detections.len();
        }
        report.total.tp += conf.tp;
        report.total.fp += conf.fp;
        report.total.fn_ += conf.fn_;
        report.total.tn += conf.tn;
        report.files.push(FileResult {
            file: name,
            train_rows: split.min(decoded.rows.len()),
            test_rows,
            confusion: conf,
            threshold: artifact.threshold,
            trace,
            events: labelled_events(&timed),
        });
    }
    if bt.changepoint.is_some() && nab_windows > 0 {
        let mut n = [0.0; 3];
        for (k, profile) in crate::nab::PROFILES.iter().enumerate() {
            n[k] = crate::nab::normalised(nab_raw[k], nab_windows, *profile).unwrap_or(0.0);
        }
        report.nab = Some(n);
    }
    Ok(report)
}

/// An SVG plot of one file's test part: the score of each row's window (line), the threshold
/// (dashed) and the labelled anomalies (shaded).
pub fn plot_svg(r: &FileResult) -> String {
    let (w, h, pad) = (900.0, 260.0, 40.0);
    let n = r.trace.len().max(2) as f64;
    let cap = (r.threshold.abs() * 3.0)
        .max(
            r.trace
                .iter()
                .map(|t| t.1)
                .filter(|v| v.is_finite())
                .fold(0.0, f64::max)
                .min(r.threshold.abs() * 3.0),
        )
        .max(1e-9);
    let x = |i: usize| pad + (w - 2.0 * pad) * i as f64 / (n - 1.0);
    let y = |v: f64| h - pad - (h - 2.0 * pad) * (v.clamp(0.0, cap) / cap);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n<text x=\"{pad}\" y=\"20\">{} — score (blue), threshold {:.3} (dashed), labelled anomaly (red); F1 {}</text>\n",
        r.file,
        r.threshold,
        r.confusion.f1().map_or("-".into(), |f| format!("{f:.2}"))
    );
    let mut i = 0;
    while i < r.trace.len() {
        if r.trace[i].2 {
            let start = i;
            while i < r.trace.len() && r.trace[i].2 {
                i += 1;
            }
            svg.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{pad}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#f4c7c3\"/>\n",
                x(start),
                (x(i.saturating_sub(1)) - x(start)).max(1.0),
                h - 2.0 * pad
            ));
        } else {
            i += 1;
        }
    }
    let points: Vec<String> = r
        .trace
        .iter()
        .enumerate()
        .filter(|(_, t)| t.1.is_finite())
        .map(|(i, t)| format!("{:.1},{:.1}", x(i), y(t.1)))
        .collect();
    svg.push_str(&format!(
        "<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"1.2\" points=\"{}\"/>\n",
        points.join(" ")
    ));
    let ty = y(r.threshold);
    svg.push_str(&format!("<line x1=\"{pad}\" x2=\"{:.1}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\" stroke=\"black\" stroke-dasharray=\"6 4\"/>\n", w - pad));
    svg.push_str(&format!(
        "<text x=\"{pad}\" y=\"{:.1}\">test rows →</text>\n</svg>\n",
        h - 12.0
    ));
    svg
}

/// Writes the report: `summary.txt` (the table) and one SVG plot per file.
pub fn write_report(dir: &Path, report: &BacktestReport) -> Result<Vec<PathBuf>, PipelineError> {
    std::fs::create_dir_all(dir).map_err(|e| PipelineError::io(dir, e))?;
    let mut written = Vec::new();
    let summary = dir.join("summary.txt");
    std::fs::write(&summary, format!("{report}\n{}\n", report.json()))
        .map_err(|e| PipelineError::io(&summary, e))?;
    written.push(summary);
    for r in &report.files {
        let p = dir.join(format!(
            "{}.svg",
            r.file.replace(['/', '\\'], "_").trim_end_matches(".csv")
        ));
        std::fs::write(&p, plot_svg(r)).map_err(|e| PipelineError::io(&p, e))?;
        written.push(p);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_events_find_each_run_and_its_first_alarm() {
        // (time, alarmed, labelled): an early alarm outside any event, an event alarmed at its
        // second row, a missed event, and an event running to the end of the part
        let rows = [
            (0, true, false),
            (1, false, true),
            (2, true, true),
            (3, true, true),
            (4, false, false),
            (5, false, true),
            (6, false, true),
            (7, true, false),
            (8, true, true),
        ];
        let e = labelled_events(&rows);
        assert_eq!(
            e,
            vec![
                LabelledEvent {
                    start_ms: 1,
                    end_ms: 3,
                    first_alarm_ms: Some(2)
                },
                LabelledEvent {
                    start_ms: 5,
                    end_ms: 6,
                    first_alarm_ms: None
                },
                LabelledEvent {
                    start_ms: 8,
                    end_ms: 8,
                    first_alarm_ms: Some(8)
                },
            ]
        );
        assert_eq!(e[0].lead_ms(), Some(1));
        assert_eq!(e[0].delay_ms(), Some(1));
        assert_eq!(e[1].lead_ms(), None);
        assert_eq!(median(vec![3, 1, 2]), Some(2.0));
        assert_eq!(median(vec![4, 1]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn plot_has_score_threshold_and_label_shading() {
        let r = FileResult {
            file: "valve1/0.csv".into(),
            train_rows: 400,
            test_rows: 4,
            confusion: Confusion {
                tp: 1,
                fp: 0,
                fn_: 1,
                tn: 2,
            },
            threshold: 1.0,
            trace: vec![
                (400, 0.2, false),
                (401, 0.5, false),
                (402, 2.0, true),
                (403, f64::NAN, true),
            ],
            events: Vec::new(),
        };
        let svg = plot_svg(&r);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(
            svg.contains("<polyline")
                && svg.contains("stroke-dasharray")
                && svg.contains("#f4c7c3")
        );
        let points = svg
            .split("points=\"")
            .nth(1)
            .and_then(|p| p.split('"').next())
            .unwrap_or_default();
        assert_eq!(
            points.split_whitespace().count(),
            3,
            "three finite points: {svg}"
        );
    }

    #[test]
    fn skab_metric_definitions() {
        let c = Confusion {
            tp: 30,
            fp: 10,
            fn_: 10,
            tn: 50,
        };
        assert_eq!(c.f1(), Some(0.75));
        assert!((c.far().unwrap() - 16.666666666666668).abs() < 1e-12);
        assert_eq!(c.mar(), Some(25.0));
        assert_eq!(Confusion::default().f1(), None);
    }

    #[test]
    fn labels_read_semicolon_csv() {
        let text = "datetime;x;anomaly\n2020-01-01 00:00:00;1;0.0\n2020-01-01 00:00:01;2;1.0\n";
        assert_eq!(labels(text, "anomaly").unwrap(), vec![false, true]);
        assert!(labels(text, "nope").is_err());
    }
}
