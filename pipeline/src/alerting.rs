//! From window scores to alert records: the per-asset streaming baselines (each on its own or
//! combined into one ensemble score, optionally per asset class), and the alert lifecycle
//! (open / update / resolved with pending windows, hysteresis and cool-down) applied to the
//! candidate alerts of every detector. Both keep per-asset state that the engine snapshots.
//!
//! A *candidate* is the alert a window would raise if its score were over the threshold; with a
//! lifecycle every scored window is a candidate, because resolving needs the quiet windows too.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use vigil_models::baselines::{BaselineSpec, BaselineState};
use vigil_models::lifecycle::{Lifecycle, LifecycleState, Transition};
use vigil_schemas::{Alert, AlertKind, AlertState, Contribution, ModelRef};

use vigil_operators::arrow::array::{Array, StringArray};

use crate::engine::{now_ms, FeatureMatrix};

/// How the baselines raise alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineMode {
    /// Each baseline alerts on its own (one alert per baseline and window over its limit).
    #[default]
    Each,
    /// One score per asset and window: the largest normalised score of the baselines that apply
    /// to the asset; the alert lists every baseline with its share.
    Ensemble,
}

/// A baseline as configured: the spec, its feature's column and the assets it applies to.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineUse {
    /// Method, feature and warm-up.
    pub spec: BaselineSpec,
    /// Asset-id pattern (`*` matches any run of characters); `None` applies to every asset.
    pub assets: Option<String>,
}

/// `*`-glob match of an asset id (the asset-class selector of baselines).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    if !text.ends_with(last) {
        return false;
    }
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

/// The baselines of a job and their per-asset state.
#[derive(Debug, Default)]
pub struct BaselineBank {
    uses: Vec<(BaselineUse, usize)>,
    mode: BaselineMode,
    /// The slot of each asset's states in `slots`; foldhash, since every asset of every
    /// closing window is looked up.
    index: HashMap<String, u32, foldhash::fast::RandomState>,
    /// `uses.len()` states per slot (in `uses` order), slot after slot: one flat array, so a
    /// close finds an asset's states with one hash probe and no pointer to follow.
    slots: Vec<BaselineState>,
    /// Slots of forgotten assets, taken again first.
    free: Vec<u32>,
    /// The last close's asset ids and their slots, row by row, and each slot's row in it.
    /// Assets usually follow one another in the same order window after window (gateways poll
    /// their sensors in turn), so a close guesses that a row's asset is the one that followed
    /// the previous row's asset last time, checks the guess by comparing ids, and takes its
    /// slot without a hash probe; a wrong guess is looked up. Dropped whenever a slot may
    /// change owner (`forget`, `set_states`).
    last_rows: Option<LastRows>,
}

/// A close's rows: asset ids, their slots, and the row of each slot (`u32::MAX`: none).
#[derive(Debug)]
struct LastRows {
    ids: StringArray,
    slots: Vec<u32>,
    row_of: Vec<u32>,
}

/// The per-asset states of a [`BaselineBank`] as its snapshots write them: a JSON object of
/// asset id -> the asset's states, keys in sorted order (equal state, equal bytes).
pub struct BankStates<'a>(&'a BaselineBank);

impl Serialize for BankStates<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let bank = self.0;
        let mut entries: Vec<(&String, u32)> = bank.index.iter().map(|(a, i)| (a, *i)).collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut m = s.serialize_map(Some(entries.len()))?;
        for (asset, slot) in entries {
            m.serialize_entry(asset, bank.states_of(slot))?;
        }
        m.end()
    }
}

impl BaselineBank {
    /// A bank of baselines, each with the column of its feature.
    pub fn new(uses: Vec<(BaselineUse, usize)>, mode: BaselineMode) -> Self {
        BaselineBank {
            uses,
            mode,
            index: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            last_rows: None,
        }
    }

    /// Assets with baseline state.
    pub fn assets(&self) -> usize {
        self.index.len()
    }

    /// The per-asset states, for a snapshot.
    pub fn states(&self) -> BankStates<'_> {
        BankStates(self)
    }

    /// Replaces the per-asset states (a restored snapshot). States of a job with fewer
    /// baselines get fresh states for the new ones; extra ones are dropped.
    pub fn set_states<H>(&mut self, states: HashMap<String, Vec<BaselineState>, H>) {
        self.index.clear();
        self.slots.clear();
        self.free.clear();
        self.last_rows = None;
        if self.uses.is_empty() {
            return;
        }
        for (asset, mut st) in states {
            st.truncate(self.uses.len());
            for (u, _) in &self.uses[st.len()..] {
                st.push(u.spec.new_state());
            }
            self.index
                .insert(asset, (self.slots.len() / self.uses.len()) as u32);
            self.slots.extend(st);
        }
    }

    fn states_of(&self, slot: u32) -> &[BaselineState] {
        let k = self.uses.len();
        let at = slot as usize * k;
        self.slots.get(at..at + k).unwrap_or_default()
    }

    /// The slot of `asset`'s states, made (fresh states) when it has none.
    fn slot_of(&mut self, asset: &str) -> u32 {
        if let Some(&s) = self.index.get(asset) {
            return s;
        }
        let k = self.uses.len();
        let fresh = self.uses.iter().map(|(u, _)| u.spec.new_state());
        let slot = match self.free.pop() {
            Some(s) => {
                let at = s as usize * k;
                for (st, new) in self.slots[at..at + k].iter_mut().zip(fresh) {
                    *st = new;
                }
                s
            }
            None => {
                self.slots.extend(fresh);
                (self.slots.len() / k - 1) as u32
            }
        };
        self.index.insert(asset.to_string(), slot);
        slot
    }

    /// True without baselines.
    pub fn is_empty(&self) -> bool {
        self.uses.is_empty()
    }

    /// Feeds the windows' feature rows to the baselines; returns candidate alerts (all of them
    /// with `all`, else only those over the limit).
    pub fn candidates(&mut self, m: &FeatureMatrix, all: bool) -> Vec<Alert> {
        let mut out = Vec::new();
        if self.uses.is_empty() {
            return out;
        }
        let emitted_at = now_ms();
        // per asset and window this runs for every asset of the window (the close's latency):
        // nothing is allocated for an asset whose baselines stay under their limits
        let mut scored: Vec<(f64, usize, f64, f64, f64)> = Vec::with_capacity(self.uses.len());
        // every asset's slot first: the slot of the asset that followed the previous row's
        // last close when it is this row's, else a hash probe
        let last = self.last_rows.take();
        let mut slots: Vec<u32> = Vec::with_capacity(m.len());
        for i in 0..m.len() {
            let asset = m.asset(i);
            let guess = last.as_ref().and_then(|l| {
                let row = match slots.last() {
                    Some(&s) => l.row_of.get(s as usize)?.checked_add(1)? as usize,
                    None => 0,
                };
                let same = row < l.slots.len() && l.ids.is_valid(row) && l.ids.value(row) == asset;
                same.then(|| l.slots[row])
            });
            slots.push(match guess {
                Some(s) => s,
                None => self.slot_of(asset),
            });
        }
        let k = self.uses.len();
        let mut row_of = vec![u32::MAX; self.slots.len() / k];
        for (i, &s) in slots.iter().enumerate() {
            if let Some(r) = row_of.get_mut(s as usize) {
                *r = i as u32;
            }
        }
        self.last_rows = Some(LastRows {
            ids: m.assets.clone(),
            slots: slots.clone(),
            row_of,
        });
        for (i, slot) in slots.into_iter().enumerate() {
            let asset = m.asset(i);
            let at = slot as usize * k;
            let states = &mut self.slots[at..at + k];
            // (score, baseline, value, reference mean, reference sd)
            scored.clear();
            for (k, ((u, j), state)) in self.uses.iter().zip(states.iter_mut()).enumerate() {
                if u.assets.as_deref().is_some_and(|p| !glob_match(p, asset)) {
                    continue;
                }
                let x = m.value(i, *j);
                let (mean, sd) = state.reference();
                let score = u.spec.update(state, x);
                scored.push((score, k, x, mean, sd));
            }
            // decided here, before anything is built: each baseline over its limit (or all of
            // them), or the ensemble's largest score
            let wanted = |score: f64| all || score > 1.0;
            let fires = match self.mode {
                BaselineMode::Each => scored.iter().any(|p| wanted(p.0)),
                BaselineMode::Ensemble => {
                    !scored.is_empty() && wanted(scored.iter().map(|p| p.0).fold(0.0, f64::max))
                }
            };
            if !fires {
                continue;
            }
            let mut parts: Vec<(f64, &BaselineSpec, Contribution)> = scored
                .iter()
                .map(|&(score, k, x, mean, sd)| {
                    let spec = &self.uses[k].0.spec;
                    let c = Contribution {
                        feature: spec.feature.clone(),
                        value: x,
                        share: 1.0,
                        normal_low: mean - 3.0 * sd,
                        normal_high: mean + 3.0 * sd,
                        z: (sd > 0.0 && x.is_finite()).then(|| (x - mean) / sd),
                    };
                    (score, spec, c)
                })
                .collect();
            let alert = |score: f64, name: String, version: String, top: Vec<Contribution>| {
                // `baseline:<method>:<feature>`, as ids have always been made
                let detail = format!("{}:{version}", name.replace('/', ":"));
                Alert {
                    schema_version: vigil_schemas::alert::ALERT_SCHEMA_VERSION,
                    alert_id: Alert::make_id(asset, m.window_start[i], AlertKind::Anomaly, &detail),
                    kind: AlertKind::Anomaly,
                    asset_id: asset.to_string(),
                    window_start: m.window_start[i],
                    window_end: m.window_end[i],
                    score,
                    threshold: 1.0,
                    model: Some(ModelRef { name, version }),
                    quality: None,
                    rul: None,
                    top_features: top,
                    emitted_at,
                    state: None,
                    severity: None,
                    ack: None,
                    silence: None,
                    traceparent: None,
                }
            };
            match self.mode {
                BaselineMode::Each => {
                    for (score, spec, c) in parts {
                        if wanted(score) {
                            out.push(alert(
                                score,
                                format!("baseline/{}", spec.method.name()),
                                spec.feature.clone(),
                                vec![c],
                            ));
                        }
                    }
                }
                BaselineMode::Ensemble => {
                    let score = parts.iter().map(|p| p.0).fold(0.0, f64::max);
                    let total: f64 = parts.iter().map(|p| p.0.max(0.0)).sum();
                    parts.sort_by(|a, b| b.0.total_cmp(&a.0));
                    let top = parts
                        .into_iter()
                        .filter(|p| p.0 > 0.0)
                        .map(|(s, _, mut c)| {
                            c.share = if total > 0.0 { s / total } else { 0.0 };
                            c
                        })
                        .collect();
                    out.push(alert(score, "baseline/ensemble".into(), "max".into(), top));
                }
            }
        }
        out
    }

    /// Drops an asset's state (eviction).
    pub fn forget(&mut self, asset: &str) {
        if let Some(slot) = self.index.remove(asset) {
            self.free.push(slot);
            self.last_rows = None;
        }
    }
}

/// An alert's score in threshold multiples (1.0 is the threshold; a non-positive threshold
/// makes any score over it infinitely far over).
pub fn ratio(a: &Alert) -> f64 {
    ratio_of(a.score, a.threshold)
}

/// [`ratio`] of a score and threshold.
pub fn ratio_of(score: f64, threshold: f64) -> f64 {
    if threshold > 0.0 {
        score / threshold
    } else if score > threshold {
        f64::INFINITY
    } else {
        0.0
    }
}

/// The detector an alert's lifecycle is kept for: the model's name (not its version, so a
/// promotion continues the open alerts) or the baseline and its feature.
fn detector_key(a: &Alert) -> String {
    match &a.model {
        Some(m) if m.name.starts_with("baseline/") => format!("{}:{}", m.name, m.version),
        Some(m) => format!("{}:{}", a.kind.as_str(), m.name),
        None => a.kind.as_str().to_string(),
    }
}

/// Per-asset lifecycle states of every detector, and the policy.
#[derive(Debug, Clone)]
pub struct LifecycleBook {
    policy: Lifecycle,
    /// Per asset, per detector key.
    pub(crate) states: HashMap<String, HashMap<String, LifecycleState>>,
    /// The latest record of each firing alert (open or updated, not resolved), by id: what an
    /// acknowledgement or silence updates.
    pub(crate) firing: BTreeMap<String, Alert>,
}

impl LifecycleBook {
    /// An empty book.
    pub fn new(policy: Lifecycle) -> Self {
        LifecycleBook {
            policy,
            states: HashMap::new(),
            firing: BTreeMap::new(),
        }
    }

    /// Records emitted alert records: firing ones are kept (latest per id), resolved ones
    /// dropped.
    pub fn remember(&mut self, alerts: &[Alert]) {
        for a in alerts {
            match a.state {
                Some(AlertState::Open | AlertState::Update) => {
                    self.firing.insert(a.alert_id.clone(), a.clone());
                }
                Some(AlertState::Resolved) => {
                    self.firing.remove(&a.alert_id);
                }
                None => {}
            }
        }
    }

    /// The latest record of every firing alert.
    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.firing.values()
    }

    /// Runs the candidates (in window order per asset) through the lifecycle; returns the alert
    /// records of the transitions, with state, severity and the id of the opening window.
    pub fn apply(&mut self, candidates: Vec<Alert>) -> Vec<Alert> {
        let mut out = Vec::new();
        for mut a in candidates {
            let key = detector_key(&a);
            let ratio = ratio(&a);
            let st = self
                .states
                .entry(a.asset_id.clone())
                .or_default()
                .entry(key.clone())
                .or_default();
            let Some(t) = self.policy.step(st, ratio, a.window_start, a.window_end) else {
                continue;
            };
            let (state, opened_at, severity) = match t {
                Transition::Open {
                    opened_at,
                    severity,
                } => (AlertState::Open, opened_at, severity),
                Transition::Update {
                    opened_at,
                    severity,
                } => (AlertState::Update, opened_at, severity),
                Transition::Resolved {
                    opened_at,
                    severity,
                } => (AlertState::Resolved, opened_at, severity),
            };
            a.alert_id = Alert::make_id(&a.asset_id, opened_at, a.kind, &key);
            a.state = Some(state);
            a.severity = Some(severity);
            out.push(a);
        }
        out
    }

    /// Drops an asset's state (eviction).
    pub fn forget(&mut self, asset: &str) {
        self.states.remove(asset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use vigil_models::baselines::Method;
    use vigil_operators::arrow::array::StringArray;

    fn ewma(feature: &str, assets: Option<&str>) -> BaselineUse {
        BaselineUse {
            spec: BaselineSpec {
                feature: feature.into(),
                warmup: 5,
                method: Method::Ewma {
                    alpha: 0.1,
                    limit: 3.0,
                },
            },
            assets: assets.map(str::to_string),
        }
    }

    /// One window per call: asset `a` with features (x, y).
    fn window(k: i64, asset: &str, x: f64, y: f64) -> FeatureMatrix {
        FeatureMatrix {
            assets: StringArray::from(vec![asset]),
            window_start: vec![k * 10],
            window_end: vec![k * 10 + 10],
            values: Array2::from_shape_vec((1, 2), vec![x, y]).unwrap_or_default(),
            columns: Vec::new(),
        }
    }

    #[test]
    fn ensemble_with_lifecycle_opens_once_and_resolves() {
        let mut bank = BaselineBank::new(
            vec![(ewma("x", None), 0), (ewma("y", None), 1)],
            BaselineMode::Ensemble,
        );
        let mut book = LifecycleBook::new(Lifecycle::default());
        let mut got = Vec::new();
        for k in 0..40 {
            let noise = if k % 2 == 0 { 0.1 } else { -0.1 };
            // x steps up for windows 20-22, y stays normal
            let x = if (20..23).contains(&k) { 10.0 } else { noise };
            let c = bank.candidates(&window(k, "p1", x, -noise), true);
            assert_eq!(c.len(), 1, "one ensemble candidate per asset and window");
            got.extend(book.apply(c));
        }
        let states: Vec<AlertState> = got.iter().filter_map(|a| a.state).collect();
        assert_eq!(states.first(), Some(&AlertState::Open), "{states:?}");
        assert_eq!(states.last(), Some(&AlertState::Resolved), "{states:?}");
        assert_eq!(states.iter().filter(|s| **s == AlertState::Open).count(), 1);
        assert!(
            got.iter().all(|a| a.alert_id == got[0].alert_id),
            "one id per alert"
        );
        let open = &got[0];
        assert_eq!(open.window_start, 200);
        assert_eq!(open.top_features[0].feature, "x", "x drove it");
        let shares: f64 = open.top_features.iter().map(|c| c.share).sum();
        assert!((shares - 1.0).abs() < 1e-9, "shares sum to 1: {shares}");
    }

    /// An evicted asset starts afresh when it reports again; its slot goes to the next new asset
    /// with fresh states; a restored state of a job with fewer baselines gets fresh ones for the
    /// rest; a snapshot lists assets sorted.
    #[test]
    fn forgotten_slots_start_fresh_and_snapshots_are_sorted() {
        let mut bank = BaselineBank::new(
            vec![(ewma("x", None), 0), (ewma("y", None), 1)],
            BaselineMode::Each,
        );
        for k in 0..8 {
            bank.candidates(&window(k, "b", 1.0 + k as f64 * 0.01, 2.0), false);
        }
        let learnt = serde_json::to_value(bank.states()).unwrap()["b"].clone();
        bank.forget("b");
        bank.candidates(&window(8, "b", 1.0, 2.0), false);
        bank.candidates(&window(9, "a", 1.0, 2.0), false);
        let text = serde_json::to_string(&bank.states()).unwrap();
        assert!(text.find("\"a\"") < text.find("\"b\""), "{text}");
        let json = serde_json::to_value(bank.states()).unwrap();
        assert_eq!(json["b"], json["a"]);
        assert_ne!(json["b"], learnt);
        bank.forget("a");
        bank.candidates(&window(10, "c", 1.0, 2.0), false);
        assert_eq!(bank.assets(), 2);
        // "c" took the slot "a" had: fresh states that saw one window, as "b"'s did
        let json = serde_json::to_value(bank.states()).unwrap();
        assert_eq!(json["c"], json["b"]);
        assert!(json.get("a").is_none());
        let one: Vec<BaselineState> = serde_json::from_value(json["b"].clone()).unwrap();
        let mut restored: HashMap<String, Vec<BaselineState>> = HashMap::new();
        restored.insert("z".into(), vec![one[0].clone()]);
        bank.set_states(restored);
        let json = serde_json::to_value(bank.states()).unwrap();
        let z: Vec<BaselineState> = serde_json::from_value(json["z"].clone()).unwrap();
        assert_eq!(z, vec![one[0].clone(), ewma("y", None).spec.new_state()]);
        assert_eq!(bank.assets(), 1);
    }

    /// Rows in the order of the last close (or rotated) take their slots from it; rows in any
    /// other order, new assets, forgotten ones and slots taken again give exactly what hash
    /// probes give: banks fed every window in the same order, rotated, or reversed every other
    /// window raise the same alerts and keep the same states.
    #[test]
    fn rows_in_the_last_order_find_the_same_states() {
        let bank = || BaselineBank::new(vec![(ewma("x", None), 0)], BaselineMode::Each);
        let (mut same, mut mixed, mut rotated) = (bank(), bank(), bank());
        let rows = |k: i64, assets: &[&str]| -> FeatureMatrix {
            let n = assets.len();
            FeatureMatrix {
                assets: StringArray::from(assets.to_vec()),
                window_start: vec![k * 10; n],
                window_end: vec![k * 10 + 10; n],
                values: Array2::from_shape_fn((n, 1), |(i, _)| {
                    // asset "a" steps up at window 9; the others wobble
                    let a = assets[i];
                    let base = f64::from(a.as_bytes()[0]);
                    base + if a == "a" && k >= 9 {
                        50.0
                    } else {
                        (k % 3) as f64 * 0.1
                    }
                }),
                columns: Vec::new(),
            }
        };
        let ids = |a: &Alert| {
            (
                a.asset_id.clone(),
                a.window_start,
                (a.score * 1e9).round() as i64,
            )
        };
        for k in 0..14i64 {
            let mut assets = vec!["a", "b", "c", "d"];
            if k == 6 {
                same.forget("b");
                mixed.forget("b");
                rotated.forget("b");
            }
            if k >= 7 {
                assets[1] = "e"; // takes the slot "b" had
            }
            let mut reversed = assets.clone();
            reversed.reverse();
            let got: Vec<_> = same
                .candidates(&rows(k, &assets), true)
                .iter()
                .map(ids)
                .collect();
            let other = if k % 2 == 0 { &reversed } else { &assets };
            let mut want: Vec<_> = mixed
                .candidates(&rows(k, other), true)
                .iter()
                .map(ids)
                .collect();
            let mut turned = assets.clone();
            turned.rotate_left(k as usize % 4);
            let mut also: Vec<_> = rotated
                .candidates(&rows(k, &turned), true)
                .iter()
                .map(ids)
                .collect();
            let mut got = got;
            got.sort();
            want.sort();
            also.sort();
            assert_eq!(got, want, "window {k}");
            assert_eq!(also, want, "window {k}, rotated");
        }
        assert_eq!(
            serde_json::to_value(rotated.states()).unwrap(),
            serde_json::to_value(mixed.states()).unwrap()
        );
        assert_eq!(
            serde_json::to_value(same.states()).unwrap(),
            serde_json::to_value(mixed.states()).unwrap()
        );
    }

    #[test]
    fn asset_classes_select_baselines() {
        let mut bank = BaselineBank::new(
            vec![
                (ewma("x", Some("pump-*")), 0),
                (ewma("y", Some("fan-*")), 1),
            ],
            BaselineMode::Each,
        );
        let c = bank.candidates(&window(0, "pump-1", 1.0, 1.0), true);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].top_features[0].feature, "x");
        let c = bank.candidates(&window(0, "fan-1", 1.0, 1.0), true);
        assert_eq!(c[0].top_features[0].feature, "y");
        assert!(bank
            .candidates(&window(0, "valve-1", 1.0, 1.0), true)
            .is_empty());
    }

    #[test]
    fn globs() {
        assert!(glob_match("pump-*", "pump-007"));
        assert!(!glob_match("pump-*", "fan-1"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "a-x-b-y-c"));
        assert!(!glob_match("a*b*c", "a-x-c"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("ab*ba", "aba"));
    }
}
