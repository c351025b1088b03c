//! The live dashboard's data: what `/` (the page, `index.html`), `/api/state` and
//! `/api/asset?id=` serve.
//!
//! [`DashboardBook`] is fed by the runner: every scored window (a point of the asset's history:
//! score, threshold, the features that drove it) as windows close, and the alert records once
//! committed. It is bounded: [`MAX_POINTS`] points per asset, [`MAX_ASSETS`] assets with a
//! history, and the page gets the [`FLEET_ROWS`] worst assets. Pure; the HTTP server reads it.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{json, Value};
use vigil_schemas::{Alert, AlertKind, AlertState, Severity};

/// The page.
pub const INDEX_HTML: &str = include_str!("index.html");
/// Points kept per asset.
pub const MAX_POINTS: usize = 240;
/// Assets with a history (further assets appear once they alert).
pub const MAX_ASSETS: usize = 5_000;
/// Rows of the fleet table.
pub const FLEET_ROWS: usize = 200;
/// Stateless alerts (jobs without a lifecycle) kept as current.
const MAX_STATELESS: usize = 200;

/// One scored window of an asset.
#[derive(Debug, Clone, PartialEq)]
struct Point {
    window_end: i64,
    score: f64,
    threshold: f64,
    features: Vec<(String, f64)>,
}

impl Point {
    fn ratio(&self) -> f64 {
        crate::alerting::ratio_of(self.score, self.threshold)
    }
}

/// Everything the dashboard shows.
#[derive(Debug, Default)]
pub struct DashboardBook {
    job: String,
    history: HashMap<String, VecDeque<Point>>,
    /// Current alerts by id: firing lifecycle alerts, and recent stateless ones.
    current: BTreeMap<String, Alert>,
}

impl DashboardBook {
    /// An empty book for job `name`.
    pub fn new(name: &str) -> Self {
        DashboardBook {
            job: name.to_string(),
            ..Default::default()
        }
    }

    /// Adds scored windows (the engine's candidates; several detectors of one asset and window
    /// keep the worst).
    pub fn scores(&mut self, scored: &[Alert]) {
        for a in scored {
            if !matches!(a.kind, AlertKind::Anomaly | AlertKind::Rul) {
                continue;
            }
            let p = Point {
                window_end: a.window_end,
                score: a.score,
                threshold: a.threshold,
                features: a
                    .top_features
                    .iter()
                    .map(|c| (c.feature.clone(), c.value))
                    .collect(),
            };
            if !self.history.contains_key(&a.asset_id) && self.history.len() >= MAX_ASSETS {
                continue;
            }
            let h = self.history.entry(a.asset_id.clone()).or_default();
            match h.back_mut() {
                Some(last) if last.window_end == p.window_end => {
                    if p.ratio() > last.ratio() {
                        *last = p;
                    }
                }
                _ => {
                    h.push_back(p);
                    if h.len() > MAX_POINTS {
                        h.pop_front();
                    }
                }
            }
            // a stateless anomaly clears once a later window of its asset is normal
            if a.state.is_none() && !(a.score > a.threshold) {
                self.current.retain(|_, c| {
                    !(c.state.is_none()
                        && c.asset_id == a.asset_id
                        && c.kind == a.kind
                        && c.window_end < a.window_end)
                });
            }
        }
    }

    /// Adds committed alert records.
    pub fn alerts(&mut self, records: &[Alert]) {
        for a in records {
            match a.state {
                Some(AlertState::Resolved) => {
                    self.current.remove(&a.alert_id);
                }
                _ => {
                    self.current.insert(a.alert_id.clone(), a.clone());
                }
            }
        }
        let stateless = self.current.values().filter(|a| a.state.is_none()).count();
        if stateless > MAX_STATELESS {
            let mut old: Vec<(i64, String)> = self
                .current
                .values()
                .filter(|a| a.state.is_none())
                .map(|a| (a.emitted_at, a.alert_id.clone()))
                .collect();
            old.sort();
            for (_, id) in old.into_iter().take(stateless - MAX_STATELESS) {
                self.current.remove(&id);
            }
        }
    }

    /// The worst current alert of each asset: (id, severity).
    fn worst_alerts(&self) -> HashMap<&str, (&Alert, Severity)> {
        let mut out: HashMap<&str, (&Alert, Severity)> = HashMap::new();
        for a in self.current.values() {
            let sev = a.severity.unwrap_or(Severity::Warning);
            let e = out.entry(a.asset_id.as_str()).or_insert((a, sev));
            if sev > e.1 {
                *e = (a, sev);
            }
        }
        out
    }

    /// The fleet, worst first: assets with a current alert (critical before warning), then by
    /// the latest score over threshold.
    pub fn fleet(&self) -> Vec<Value> {
        let worst = self.worst_alerts();
        let mut rows: Vec<(u8, f64, &str, Value)> = Vec::new();
        for (asset, h) in &self.history {
            let Some(p) = h.back() else { continue };
            let alert = worst.get(asset.as_str());
            rows.push((
                alert.map_or(0, |(_, s)| 1 + *s as u8),
                p.ratio(),
                asset,
                json!({
                    "asset_id": asset,
                    "score": finite(p.score),
                    "threshold": finite(p.threshold),
                    "ratio": finite(p.ratio()),
                    "window_end": p.window_end,
                    "alert": alert.map(|(a, s)| json!({"alert_id": a.alert_id, "severity": s.as_str()})),
                }),
            ));
        }
        // assets known only from an alert (data quality, or beyond the history bound)
        for (asset, (a, s)) in &worst {
            if self.history.get(*asset).is_some_and(|h| !h.is_empty()) {
                continue;
            }
            rows.push((
                1 + *s as u8,
                crate::alerting::ratio_of(a.score, a.threshold),
                asset,
                json!({
                    "asset_id": asset,
                    "score": finite(a.score),
                    "threshold": finite(a.threshold),
                    "ratio": finite(crate::alerting::ratio_of(a.score, a.threshold)),
                    "window_end": a.window_end,
                    "alert": {"alert_id": a.alert_id, "severity": s.as_str()},
                }),
            ));
        }
        rows.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(b.2)));
        rows.into_iter().take(FLEET_ROWS).map(|r| r.3).collect()
    }

    /// Current alerts, worst first.
    pub fn current_alerts(&self) -> Vec<&Alert> {
        let mut v: Vec<&Alert> = self.current.values().collect();
        v.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.window_end.cmp(&a.window_end))
                .then(a.alert_id.cmp(&b.alert_id))
        });
        v
    }

    /// The history of `asset`, oldest first.
    pub fn history(&self, asset: &str) -> Value {
        let points: Vec<Value> = self
            .history
            .get(asset)
            .into_iter()
            .flatten()
            .map(|p| {
                let features: serde_json::Map<String, Value> = p
                    .features
                    .iter()
                    .map(|(k, v)| (k.clone(), finite(*v)))
                    .collect();
                json!({
                    "window_end": p.window_end,
                    "score": finite(p.score),
                    "threshold": finite(p.threshold),
                    "features": features,
                })
            })
            .collect();
        json!({"asset_id": asset, "points": points})
    }

    /// Names the job shown.
    pub fn set_job(&mut self, name: &str) {
        self.job = name.to_string();
    }

    /// The job name.
    pub fn job(&self) -> &str {
        &self.job
    }
}

/// JSON has no NaN or infinity: those become null.
fn finite(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(asset: &str, end: i64, score: f64, state: Option<AlertState>) -> Alert {
        Alert {
            schema_version: 2,
            alert_id: format!("{asset}-{end}"),
            kind: AlertKind::Anomaly,
            asset_id: asset.into(),
            window_start: end - 60,
            window_end: end,
            score,
            threshold: 2.0,
            model: None,
            quality: None,
            rul: None,
            top_features: vec![vigil_schemas::Contribution {
                feature: "vib".into(),
                value: score * 10.0,
                share: 1.0,
                normal_low: 0.0,
                normal_high: 1.0,
                z: None,
            }],
            emitted_at: end,
            state,
            severity: state.map(|_| Severity::Critical),
            ack: None,
            silence: None,
            traceparent: None,
        }
    }

    #[test]
    fn fleet_puts_alerting_assets_first_then_by_ratio() {
        let mut b = DashboardBook::new("j");
        b.scores(&[
            scored("a", 60, 1.0, None),
            scored("b", 60, 1.8, None),
            scored("c", 60, 0.2, None),
        ]);
        let mut open = scored("c", 60, 5.0, Some(AlertState::Open));
        open.alert_id = "c-open".into();
        b.alerts(&[open.clone()]);
        let order: Vec<String> = b
            .fleet()
            .iter()
            .map(|r| r["asset_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(order, ["c", "b", "a"]);
        assert_eq!(b.fleet()[0]["alert"]["severity"], "critical");
        assert_eq!(b.current_alerts().len(), 1);
        let mut resolved = open;
        resolved.state = Some(AlertState::Resolved);
        b.alerts(&[resolved]);
        assert!(b.current_alerts().is_empty());
        assert_eq!(b.fleet()[0]["asset_id"], "b");
    }

    #[test]
    fn history_is_bounded_and_keeps_the_worst_detector_per_window() {
        let mut b = DashboardBook::new("j");
        for k in 0..(MAX_POINTS as i64 + 10) {
            b.scores(&[
                scored("a", k * 60, 1.0, None),
                scored("a", k * 60, 3.0, None),
            ]);
        }
        let h = b.history("a");
        let pts = h["points"].as_array().unwrap();
        assert_eq!(pts.len(), MAX_POINTS);
        assert_eq!(pts[0]["window_end"], 10 * 60);
        assert_eq!(pts[0]["score"], 3.0);
        assert_eq!(pts[0]["features"]["vib"], 30.0);
        assert_eq!(b.history("nope")["points"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn a_stateless_alert_clears_when_its_asset_is_normal_again() {
        let mut b = DashboardBook::new("j");
        b.alerts(&[scored("a", 60, 5.0, None)]);
        assert_eq!(b.current_alerts().len(), 1);
        b.scores(&[scored("a", 60, 5.0, None)]);
        assert_eq!(b.current_alerts().len(), 1, "the alerting window itself");
        b.scores(&[scored("a", 120, 0.5, None)]);
        assert!(b.current_alerts().is_empty());
    }
}
