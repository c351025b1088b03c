//! Job-file validation: collects every problem, each located by line, before anything connects.

use std::path::{Path, PathBuf};

use toml_edit::{Document, Item, Table};
use vigil_operators::{EventTimeConfig, QualityConfig, WindowKind, WindowSpec};
use vigil_schemas::decode::{
    MeasurementField, DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_MAX_TS_MS, DEFAULT_MIN_TS_MS,
};
use vigil_schemas::FieldMapping;

use super::file::{JobFile, KNOWN_KEYS};
use super::{parse_duration_ms, JobConfig, KafkaSettings};

/// Maps byte offsets to 1-based line numbers.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn line(&self, offset: usize) -> usize {
        self.0.as_bytes()[..offset.min(self.0.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }
}

struct Ctx<'a> {
    doc: Document<&'a str>,
    lines: Lines<'a>,
    problems: Vec<String>,
}

impl Ctx<'_> {
    /// Line of the key at `path` (or of the nearest table that exists).
    fn line_of(&self, path: &[&str]) -> Option<usize> {
        let mut table = self.doc.as_item().as_table()?;
        let mut found = None;
        for (i, key) in path.iter().enumerate() {
            let (k, item) = table.get_key_value(key)?;
            found = k.span().map(|s| self.lines.line(s.start)).or(found);
            if i + 1 < path.len() {
                table = item.as_table()?;
            }
        }
        found
    }

    fn problem(&mut self, path: &[&str], msg: impl AsRef<str>) {
        let at = path.join(".");
        let text = match self.line_of(path).or_else(|| self.line_of(&path[..1])) {
            Some(line) => format!("line {line}: `{at}`: {}", msg.as_ref()),
            None => format!("`{at}`: {}", msg.as_ref()),
        };
        self.problems.push(text);
    }

    fn duration(&mut self, path: &[&str], text: &str) -> Option<i64> {
        match parse_duration_ms(text) {
            Ok(ms) => Some(ms),
            Err(e) => {
                self.problem(path, e);
                None
            }
        }
    }
}

fn unknown_keys(table: &Table, at: &str, lines: &Lines<'_>, problems: &mut Vec<String>) {
    let known = KNOWN_KEYS
        .iter()
        .find(|(name, _)| *name == at)
        .map(|(_, keys)| *keys);
    let Some(known) = known else { return };
    for (key, item) in table.iter() {
        if !known.contains(&key) {
            let line = table
                .key(key)
                .and_then(|k| k.span())
                .map(|s| lines.line(s.start));
            let place = if at.is_empty() {
                "at the top level".to_string()
            } else {
                format!("in [{at}]")
            };
            let head = line.map(|l| format!("line {l}: ")).unwrap_or_default();
            problems.push(format!(
                "{head}unknown key `{key}` {place}; expected one of: {}",
                known.join(", ")
            ));
        } else if let Item::Table(t) = item {
            // free-form maps are not checked
            if !matches!((at, key), ("kafka", "properties") | ("fields", "rename")) {
                unknown_keys(t, key, lines, problems);
            }
        }
    }
}

fn valid_topic(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

pub(super) fn validate(text: &str, path: &Path) -> Result<JobConfig, Vec<String>> {
    let lines = Lines(text);
    let doc = match Document::parse(text) {
        Ok(d) => d,
        Err(e) => {
            let line = e
                .span()
                .map(|s| format!("line {}: ", lines.line(s.start)))
                .unwrap_or_default();
            return Err(vec![format!(
                "{line}TOML syntax error: {}",
                e.message().trim()
            )]);
        }
    };
    let mut problems = Vec::new();
    if let Some(root) = doc.as_item().as_table() {
        unknown_keys(root, "", &lines, &mut problems);
    }
    let file: JobFile = match toml_edit::de::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            // unknown keys were reported above with every occurrence; add anything else
            if !e.message().contains("unknown field") || problems.is_empty() {
                let line = e
                    .span()
                    .map(|s| format!("line {}: ", lines.line(s.start)))
                    .unwrap_or_default();
                problems.push(format!("{line}{}", e.message().trim()));
            }
            return Err(problems);
        }
    };
    let mut cx = Ctx {
        doc,
        lines,
        problems,
    };
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let resolve = |p: &str| -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            base.join(p)
        }
    };

    if file.job.name.trim().is_empty() {
        cx.problem(&["job", "name"], "must not be empty");
    }

    // [kafka]
    let k = &file.kafka;
    if k.brokers.trim().is_empty() {
        cx.problem(&["kafka", "brokers"], "must list at least one host:port");
    }
    if k.group_id.trim().is_empty() {
        cx.problem(&["kafka", "group_id"], "must not be empty");
    }
    if k.input_topics.is_empty() {
        cx.problem(&["kafka", "input_topics"], "must list at least one topic");
    }
    let late_topic = k
        .late_topic
        .clone()
        .unwrap_or_else(|| format!("{}.late", file.job.name.trim()));
    let control_topic = k
        .control_topic
        .clone()
        .unwrap_or_else(|| format!("{}.control", k.alert_topic));
    if k.input_topics.contains(&control_topic)
        || [&k.alert_topic, &k.dead_letter_topic, &late_topic].contains(&&control_topic)
    {
        cx.problem(
            &["kafka", "control_topic"],
            "must differ from the input, alert, dead-letter and late topics",
        );
    }
    for t in k
        .input_topics
        .iter()
        .chain([
            &k.alert_topic,
            &k.dead_letter_topic,
            &late_topic,
            &control_topic,
        ])
        .chain(k.features_topic.iter())
    {
        if !valid_topic(t) {
            cx.problem(
                &["kafka"],
                format!(
                    "`{t}` is not a valid topic name (letters, digits, `.`, `_`, `-`; at most 249)"
                ),
            );
        }
    }
    if k.input_topics.contains(&k.alert_topic) {
        cx.problem(
            &["kafka", "alert_topic"],
            "must differ from the input topics",
        );
    }
    if k.input_topics.contains(&k.dead_letter_topic) {
        cx.problem(
            &["kafka", "dead_letter_topic"],
            "must differ from the input topics",
        );
    }
    if k.input_topics.contains(&late_topic) {
        cx.problem(
            &["kafka", "late_topic"],
            "must differ from the input topics",
        );
    }
    if late_topic == k.alert_topic {
        cx.problem(&["kafka", "late_topic"], "must differ from the alert topic");
    }
    if k.alert_topic == k.dead_letter_topic {
        cx.problem(
            &["kafka", "dead_letter_topic"],
            "must differ from the alert topic",
        );
    }
    let max_batch = k.max_batch.unwrap_or(5000);
    if !(1..=1_000_000).contains(&max_batch) {
        cx.problem(&["kafka", "max_batch"], "must be between 1 and 1000000");
    }
    let batch_timeout_ms = match &k.batch_timeout {
        Some(t) => cx.duration(&["kafka", "batch_timeout"], t).unwrap_or(50),
        None => 50,
    };
    let delivery = match k.delivery.as_deref() {
        None | Some("exactly-once") => super::Delivery::ExactlyOnce,
        Some("at-least-once") => super::Delivery::AtLeastOnce,
        Some(other) => {
            cx.problem(
                &["kafka", "delivery"],
                format!(
                    "`{other}` is not a delivery mode: use \"exactly-once\" or \"at-least-once\""
                ),
            );
            super::Delivery::ExactlyOnce
        }
    };
    let commit_interval_ms = match &k.commit_interval {
        Some(t) => cx.duration(&["kafka", "commit_interval"], t).unwrap_or(100),
        None => 100,
    };
    if !(1..=60_000).contains(&commit_interval_ms) {
        cx.problem(&["kafka", "commit_interval"], "must be between 1ms and 60s");
    }
    if let Some(id) = &k.instance_id {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            cx.problem(
                &["kafka", "instance_id"],
                "must be non-empty letters, digits, `-`, `_` or `.`",
            );
        }
    }

    // [fields]
    let f = &file.fields;
    for col in f.rename.keys() {
        if !f.measurements.contains(col) {
            cx.problem(
                &["fields", "rename"],
                format!("renames `{col}`, which is not in `measurements`"),
            );
        }
    }
    let max_payload = f
        .max_payload_bytes
        .unwrap_or(DEFAULT_MAX_PAYLOAD_BYTES as i64);
    if !(64..=16 << 20).contains(&max_payload) {
        cx.problem(
            &["fields", "max_payload_bytes"],
            "must be between 64 and 16777216",
        );
    }
    let mapping = FieldMapping {
        asset_field: f
            .asset_id
            .clone()
            .unwrap_or_else(|| vigil_schemas::ASSET_COL.into()),
        time_field: f
            .timestamp
            .clone()
            .unwrap_or_else(|| vigil_schemas::TS_COL.into()),
        measurements: f
            .measurements
            .iter()
            .map(|col| MeasurementField {
                source: f.rename.get(col).cloned().unwrap_or_else(|| col.clone()),
                column: col.clone(),
            })
            .collect(),
        tags: f.tags.clone(),
        waveforms: f.waveforms.clone(),
        max_waveform_samples: vigil_schemas::decode::DEFAULT_MAX_WAVEFORM_SAMPLES,
        min_ts_ms: DEFAULT_MIN_TS_MS,
        max_ts_ms: DEFAULT_MAX_TS_MS,
        max_payload_bytes: max_payload.max(0) as usize,
        numeric_time: vigil_schemas::decode::NumericTime {
            origin_ms: match &f.timestamp_origin {
                None => 0,
                Some(t) => match vigil_operators::arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(t) {
                    Ok(ns) => ns.div_euclid(1_000_000),
                    Err(_) => {
                        cx.problem(&["fields", "timestamp_origin"], format!("`{t}` is not an RFC 3339 time"));
                        0
                    }
                },
            },
            unit_ms: match &f.timestamp_unit {
                None => 1,
                Some(t) => match cx.duration(&["fields", "timestamp_unit"], t) {
                    Some(ms) if ms > 0 => ms,
                    Some(_) => {
                        cx.problem(&["fields", "timestamp_unit"], "must be positive");
                        1
                    }
                    None => 1,
                },
            },
        },
        forbid_unknown: f.forbid_unknown.unwrap_or(false),
    };
    for p in mapping.validate() {
        cx.problem(&["fields", "measurements"], p);
    }
    if mapping.asset_field == mapping.time_field {
        cx.problem(&["fields", "timestamp"], "must differ from `asset_id`");
    }

    // [window] and [quality]
    let (window, event_time) = window_settings(&mut cx, &file);
    // [features]
    let feature_sql_path = resolve(&file.features.sql_file);
    let feature_sql = match std::fs::read_to_string(&feature_sql_path) {
        Ok(sql) if sql.trim().is_empty() => {
            cx.problem(
                &["features", "sql_file"],
                format!("{} is empty", feature_sql_path.display()),
            );
            String::new()
        }
        Ok(sql) => sql,
        Err(e) => {
            cx.problem(
                &["features", "sql_file"],
                format!("cannot read {}: {e}", feature_sql_path.display()),
            );
            String::new()
        }
    };

    // [alerts]
    let top_features = file.alerts.top_features.unwrap_or(3);
    if !(1..=50).contains(&top_features) {
        cx.problem(&["alerts", "top_features"], "must be between 1 and 50");
    }

    let baseline_mode = match file.alerts.baselines.as_deref() {
        None | Some("each") => crate::alerting::BaselineMode::Each,
        Some("ensemble") => crate::alerting::BaselineMode::Ensemble,
        Some(other) => {
            cx.problem(
                &["alerts", "baselines"],
                format!("`{other}` is neither `each` nor `ensemble`"),
            );
            crate::alerting::BaselineMode::Each
        }
    };
    let lifecycle = {
        let a = &file.alerts;
        let keys = [
            ("pending_windows", a.pending_windows.is_some()),
            ("resolve_windows", a.resolve_windows.is_some()),
            ("hysteresis", a.hysteresis.is_some()),
            ("cooldown", a.cooldown.is_some()),
            ("critical_ratio", a.critical_ratio.is_some()),
        ];
        let on = a.lifecycle.unwrap_or(false);
        if !on {
            for (k, set) in keys {
                if set {
                    cx.problem(&["alerts", k], "only applies with `lifecycle = true`");
                }
            }
            None
        } else {
            let d = vigil_models::lifecycle::Lifecycle::default();
            let windows = |cx: &mut Ctx<'_>, k: &str, v: Option<i64>, def: u32| match v {
                None => def,
                Some(n) if (1..=10_000).contains(&n) => n as u32,
                Some(_) => {
                    cx.problem(&["alerts", k], "must be between 1 and 10000 windows");
                    def
                }
            };
            let pending_windows = windows(&mut cx, "pending_windows", a.pending_windows, 1);
            let resolve_windows = windows(&mut cx, "resolve_windows", a.resolve_windows, 1);
            let hysteresis = a.hysteresis.unwrap_or(d.hysteresis);
            if !(hysteresis > 0.0 && hysteresis <= 1.0) {
                cx.problem(&["alerts", "hysteresis"], "must be in (0, 1]");
            }
            let critical_ratio = a.critical_ratio.unwrap_or(d.critical_ratio);
            if !(critical_ratio >= 1.0 && critical_ratio.is_finite()) {
                cx.problem(&["alerts", "critical_ratio"], "must be at least 1");
            }
            let cooldown_ms = match &a.cooldown {
                Some(t) => cx.duration(&["alerts", "cooldown"], t).unwrap_or(0),
                None => 0,
            };
            if cooldown_ms < 0 {
                cx.problem(&["alerts", "cooldown"], "must not be negative");
            }
            Some(vigil_models::lifecycle::Lifecycle {
                pending_windows,
                resolve_windows,
                hysteresis,
                cooldown_ms: cooldown_ms.max(0),
                critical_ratio,
            })
        }
    };

    // [conditions]
    let conditions = file.conditions.as_ref().map(|c| {
        let measured = |m: &String| file.fields.measurements.contains(m);
        for s in c.settings.iter().chain(c.normalise.iter().flatten()) {
            if !measured(s) {
                cx.problem(
                    &["conditions"],
                    format!("`{s}` is not one of [fields] measurements"),
                );
            }
        }
        if c.settings.is_empty() {
            cx.problem(&["conditions", "settings"], "names no measurement");
        }
        if !(1..=100).contains(&c.regimes) {
            cx.problem(&["conditions", "regimes"], "must be between 1 and 100");
        }
        let normalise = c.normalise.clone().unwrap_or_else(|| {
            file.fields
                .measurements
                .iter()
                .filter(|m| !c.settings.contains(m))
                .cloned()
                .collect()
        });
        if normalise.iter().any(|m| c.settings.contains(m)) {
            cx.problem(
                &["conditions", "normalise"],
                "a condition setting cannot itself be normalised",
            );
        }
        super::ConditionSettings {
            settings: c.settings.clone(),
            regimes: c.regimes.clamp(1, 100) as usize,
            normalise,
        }
    });

    // [[baselines]]
    let mut baselines = Vec::new();
    for (i, b) in file.baselines.iter().enumerate() {
        use vigil_models::baselines::{BaselineSpec, Method};
        let at = ["baselines"];
        let pos = |v: Option<f64>, d: f64| v.unwrap_or(d);
        let method = match b.method.as_str() {
            "ewma" => Method::Ewma {
                alpha: pos(b.alpha, 0.05),
                limit: pos(b.limit, 4.0),
            },
            "cusum" => Method::Cusum {
                k: pos(b.k, 0.5),
                h: pos(b.h, 8.0),
            },
            "page_hinkley" => Method::PageHinkley {
                delta: pos(b.delta, 0.5),
                lambda: pos(b.lambda, 10.0),
            },
            other => {
                cx.problem(
                    &at,
                    format!(
                        "baseline #{}: `{other}` is not a method (ewma, cusum, page_hinkley)",
                        i + 1
                    ),
                );
                continue;
            }
        };
        let foreign: Vec<&str> = [
            ("alpha", b.alpha.is_some() && b.method != "ewma"),
            ("limit", b.limit.is_some() && b.method != "ewma"),
            ("k", b.k.is_some() && b.method != "cusum"),
            ("h", b.h.is_some() && b.method != "cusum"),
            ("delta", b.delta.is_some() && b.method != "page_hinkley"),
            ("lambda", b.lambda.is_some() && b.method != "page_hinkley"),
        ]
        .into_iter()
        .filter_map(|(k, bad)| bad.then_some(k))
        .collect();
        if !foreign.is_empty() {
            cx.problem(
                &at,
                format!(
                    "baseline #{} ({}): `{}` belong(s) to another method",
                    i + 1,
                    b.method,
                    foreign.join("`, `")
                ),
            );
        }
        let params_ok = match method {
            Method::Ewma { alpha, limit } => alpha > 0.0 && alpha <= 1.0 && limit > 0.0,
            Method::Cusum { k, h } => k >= 0.0 && h > 0.0,
            Method::PageHinkley { delta, lambda } => delta >= 0.0 && lambda > 0.0,
        };
        if !params_ok {
            cx.problem(&at, format!("baseline #{}: parameters out of range (alpha in (0, 1], limit/h/lambda > 0, k/delta >= 0)", i + 1));
        }
        let warmup = b.warmup.unwrap_or(30);
        if !(2..=100_000).contains(&warmup) {
            cx.problem(
                &at,
                format!(
                    "baseline #{}: warmup must be between 2 and 100000 windows",
                    i + 1
                ),
            );
        }
        if b.assets.as_deref().is_some_and(str::is_empty) {
            cx.problem(
                &at,
                format!("baseline #{}: `assets` is an empty pattern", i + 1),
            );
        }
        baselines.push(crate::alerting::BaselineUse {
            spec: BaselineSpec {
                feature: b.feature.clone(),
                warmup: warmup.clamp(2, 100_000) as u32,
                method,
            },
            assets: b.assets.clone(),
        });
    }

    // [backtest]
    let backtest = match &file.backtest {
        None => None,
        Some(b) => {
            let protocol = match b.protocol.as_str() {
                "per_file" => {
                    let train_rows = b.train_rows.unwrap_or(0);
                    if train_rows < 10 {
                        cx.problem(
                            &["backtest", "train_rows"],
                            "protocol per_file needs train_rows of at least 10",
                        );
                    }
                    if b.label.is_none() {
                        cx.problem(
                            &["backtest", "protocol"],
                            "protocol per_file needs a `label` column",
                        );
                    }
                    super::BacktestProtocol::PerFile {
                        train_rows: train_rows.max(0) as usize,
                        label: b.label.clone().unwrap_or_default(),
                    }
                }
                "rul" => {
                    let data = resolve(&b.data);
                    let mut need = |key: &str, v: &Option<String>| match v {
                        Some(f) => data.join(f),
                        None => {
                            cx.problem(
                                &["backtest", "protocol"],
                                format!("protocol rul needs `{key}`"),
                            );
                            PathBuf::new()
                        }
                    };
                    let (train, test, truth) = (
                        need("train", &b.train),
                        need("test", &b.test),
                        need("truth", &b.truth),
                    );
                    if file.rul.is_none() {
                        cx.problem(
                            &["backtest", "protocol"],
                            "protocol rul needs a [rul] section",
                        );
                    }
                    if b.truth_cap.is_some_and(|c| !(c > 0.0)) {
                        cx.problem(&["backtest", "truth_cap"], "must be positive");
                    }
                    super::BacktestProtocol::Rul {
                        train,
                        test,
                        truth,
                        truth_cap: b.truth_cap,
                    }
                }
                "nab" => {
                    let labels = match &b.labels {
                        Some(l) => resolve(l),
                        None => {
                            cx.problem(
                                &["backtest", "protocol"],
                                "protocol nab needs `labels` (a combined_windows JSON file)",
                            );
                            PathBuf::new()
                        }
                    };
                    super::BacktestProtocol::Nab { labels }
                }
                other => {
                    cx.problem(
                        &["backtest", "protocol"],
                        format!("`{other}` is not a protocol (per_file, rul, nab)"),
                    );
                    super::BacktestProtocol::PerFile {
                        train_rows: 0,
                        label: String::new(),
                    }
                }
            };
            let detector = match b
                .detector
                .as_deref()
                .unwrap_or("pca")
                .parse::<crate::train::DetectorChoice>()
            {
                Ok(d) => d,
                Err(e) => {
                    cx.problem(&["backtest", "detector"], e);
                    crate::train::DetectorChoice::Pca
                }
            };
            let margin = b.threshold_margin.unwrap_or(1.0);
            if !(margin > 0.0) {
                cx.problem(&["backtest", "threshold_margin"], "must be positive");
            }
            Some(super::BacktestSettings {
                data: resolve(&b.data),
                include: b.include.clone(),
                protocol,
                changepoint: b.changepoint.clone(),
                changepoint_window_rows: b.changepoint_window_rows.unwrap_or(60).clamp(1, 1_000_000)
                    as usize,
                detector,
                threshold_margin: margin,
            })
        }
    };

    // [limits]
    let max_assets = file.limits.max_assets.unwrap_or(200_000);
    if !(1..=100_000_000).contains(&max_assets) {
        cx.problem(&["limits", "max_assets"], "must be between 1 and 100000000");
    }
    let evict_after_ms = match &file.limits.evict_after {
        Some(t) => cx
            .duration(&["limits", "evict_after"], t)
            .unwrap_or(86_400_000),
        None => 86_400_000,
    };
    if evict_after_ms <= 0 {
        cx.problem(&["limits", "evict_after"], "must be positive");
    }
    let limits = super::Limits {
        max_assets: max_assets.max(1) as usize,
        evict_after_ms: evict_after_ms.max(1),
    };

    // [telemetry]
    let t = &file.telemetry;
    let defaults = super::TelemetrySettings::default();
    let json_logs = match t.log_format.as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(_) => {
            cx.problem(&["telemetry", "log_format"], "must be `text` or `json`");
            false
        }
    };
    if let Some(level) = &t.log_level {
        if tracing_subscriber::EnvFilter::try_new(level).is_err() {
            cx.problem(
                &["telemetry", "log_level"],
                "is not a log filter (e.g. `info` or `vigil_pipeline=debug,warn`)",
            );
        }
    }
    if let Some(e) = &t.otlp_endpoint {
        if !e.starts_with("http://") {
            cx.problem(
                &["telemetry", "otlp_endpoint"],
                "must be an http:// URL such as http://127.0.0.1:4318 (OTLP over HTTP without TLS)",
            );
        }
    }
    let export_interval_ms = match &t.export_interval {
        Some(d) => cx
            .duration(&["telemetry", "export_interval"], d)
            .unwrap_or(10_000),
        None => 10_000,
    };
    if export_interval_ms < 100 {
        cx.problem(&["telemetry", "export_interval"], "must be at least 100ms");
    }
    let telemetry = super::TelemetrySettings {
        log_level: t.log_level.clone().unwrap_or(defaults.log_level),
        json_logs,
        otlp_endpoint: t
            .otlp_endpoint
            .as_ref()
            .map(|e| e.trim_end_matches('/').to_string()),
        export_interval_ms: export_interval_ms.max(100) as u64,
        service_name: t.service_name.clone().unwrap_or(defaults.service_name),
    };

    // [rul]
    let rul = file.rul.as_ref().map(|r| {
        let cap = r.cap.unwrap_or(125.0);
        if !(cap > 0.0 && r.horizon > 0.0 && r.horizon <= cap) {
            cx.problem(
                &["rul", "horizon"],
                format!("must be positive and at most the cap ({cap})"),
            );
        }
        let trees = r.trees.unwrap_or(300);
        if !(1..=5000).contains(&trees) {
            cx.problem(&["rul", "trees"], "must be between 1 and 5000");
        }
        let depth = r.depth.unwrap_or(4);
        if !(1..=12).contains(&depth) {
            cx.problem(&["rul", "depth"], "must be between 1 and 12");
        }
        let lr = r.learning_rate.unwrap_or(0.05);
        if !(lr > 0.0 && lr <= 1.0) {
            cx.problem(&["rul", "learning_rate"], "must be in (0, 1]");
        }
        super::RulSettings {
            age_feature: r.age_feature.clone(),
            cap,
            horizon: r.horizon,
            gbr: vigil_models::gbr::GbrParams {
                trees: trees.clamp(1, 5000) as usize,
                depth: depth.clamp(1, 12) as usize,
                learning_rate: lr,
                ..Default::default()
            },
        }
    });

    match (cx.problems.is_empty(), window.zip(event_time)) {
        (true, Some((window, event_time))) => Ok(JobConfig {
            name: file.job.name.clone(),
            path: path.to_path_buf(),
            kafka: KafkaSettings {
                brokers: k.brokers.clone(),
                group_id: k.group_id.clone(),
                input_topics: k.input_topics.clone(),
                alert_topic: k.alert_topic.clone(),
                dead_letter_topic: k.dead_letter_topic.clone(),
                late_topic,
                features_topic: k.features_topic.clone(),
                shadow_topic: k
                    .shadow_topic
                    .clone()
                    .unwrap_or_else(|| format!("{}.shadow", k.alert_topic)),
                control_topic,
                properties: k.properties.clone(),
                max_batch: max_batch as usize,
                batch_timeout_ms: batch_timeout_ms as u64,
                delivery,
                commit_interval_ms: commit_interval_ms.max(1) as u64,
                changelog_topic: k
                    .changelog_topic
                    .clone()
                    .unwrap_or_else(|| format!("{}.changelog", k.group_id)),
                instance_id: k.instance_id.clone(),
                require_key: k.require_key.unwrap_or(false),
            },
            limits,
            telemetry,
            mapping,
            event_time: EventTimeConfig {
                window,
                ..event_time
            },
            baselines,
            conditions,
            baseline_mode,
            lifecycle,
            feature_sql_path,
            feature_sql,
            native_aggregation: file.features.native.unwrap_or(true),
            model_path: resolve(&file.model.artifact),
            registry_topic: file.model.registry_topic.clone(),
            model_name: file
                .model
                .name
                .clone()
                .unwrap_or_else(|| file.job.name.clone()),
            top_features: top_features as usize,
            history_columns: file.fields.history_columns.clone(),
            training_input: file.training.input.as_deref().map(resolve),
            backtest,
            rul,
        }),
        _ => Err(cx.problems),
    }
}

/// `[window]` and `[quality]`: the window kind and every event-time setting, with the
/// combinations that make no sense rejected.
fn window_settings(
    cx: &mut Ctx<'_>,
    file: &JobFile,
) -> (Option<WindowKind>, Option<EventTimeConfig>) {
    let w = &file.window;
    let mut ok = true;
    let mut dur = |cx: &mut Ctx<'_>, key: &str, v: &Option<String>| -> Option<i64> {
        let v = v.as_ref()?;
        let d = cx.duration(&["window", key], v);
        ok &= d.is_some();
        d
    };
    let size = dur(cx, "size", &w.size);
    let slide = dur(cx, "slide", &w.slide);
    let gap = dur(cx, "gap", &w.gap);
    let ooo = dur(cx, "allowed_out_of_orderness", &w.allowed_out_of_orderness).unwrap_or(0);
    let lateness = dur(cx, "allowed_lateness", &w.allowed_lateness).unwrap_or(0);
    let idle = match w.idle_timeout.as_deref() {
        Some("off") => None,
        Some(t) => match cx.duration(&["window", "idle_timeout"], t) {
            Some(0) => {
                cx.problem(&["window", "idle_timeout"], "must be positive, or \"off\"");
                None
            }
            Some(ms) => Some(ms),
            None => None,
        },
        None => Some(60_000),
    };
    let kind = match w.kind.as_str() {
        "tumbling" | "hopping" => {
            if w.gap.is_some() {
                cx.problem(
                    &["window", "gap"],
                    format!(
                        "only session windows have a gap ({} windows have `size`)",
                        w.kind
                    ),
                );
            }
            let slide = match (w.kind.as_str(), w.slide.is_some()) {
                ("tumbling", true) => {
                    cx.problem(
                        &["window", "slide"],
                        "tumbling windows have no slide (use kind = \"hopping\")",
                    );
                    None
                }
                ("hopping", false) => {
                    cx.problem(&["window", "kind"], "hopping windows need a `slide`");
                    None
                }
                ("tumbling", false) => size,
                _ => slide,
            };
            if w.size.is_none() {
                cx.problem(
                    &["window", "kind"],
                    format!("{} windows need a `size`", w.kind),
                );
            }
            match (size, slide) {
                (Some(size), Some(slide)) => match WindowSpec::hopping(size, slide) {
                    Ok(spec) => Some(WindowKind::Fixed {
                        size_ms: spec.size_ms(),
                        slide_ms: spec.slide_ms(),
                    }),
                    Err(e) => {
                        cx.problem(&["window", "size"], e.to_string());
                        None
                    }
                },
                _ => None,
            }
        }
        "session" => {
            for (key, set) in [("size", w.size.is_some()), ("slide", w.slide.is_some())] {
                if set {
                    cx.problem(
                        &["window", key],
                        format!(
                            "session windows have no {key}; they end after `gap` without readings"
                        ),
                    );
                }
            }
            match (w.gap.is_some(), gap) {
                (false, _) => {
                    cx.problem(&["window", "kind"], "session windows need a `gap`");
                    None
                }
                (true, Some(0)) => {
                    cx.problem(&["window", "gap"], "must be positive");
                    None
                }
                (true, g) => g.map(|gap_ms| WindowKind::Session { gap_ms }),
            }
        }
        other => {
            cx.problem(
                &["window", "kind"],
                format!("`{other}` is not a window kind (tumbling, hopping, session)"),
            );
            None
        }
    };
    // [quality]
    let q = &file.quality;
    let silent_after_ms = match &q.silent_after {
        Some(t) => match cx.duration(&["quality", "silent_after"], t) {
            Some(0) => {
                cx.problem(&["quality", "silent_after"], "must be positive");
                None
            }
            d => d,
        },
        None => None,
    };
    if let (Some(s), Some(WindowKind::Fixed { slide_ms, .. })) = (silent_after_ms, kind) {
        if s < slide_ms {
            cx.problem(&["quality", "silent_after"], format!("is shorter than the window slide ({slide_ms} ms): windows would close before silence could be told from a gap between readings"));
        }
    }
    if silent_after_ms.is_some() && w.idle_timeout.as_deref() == Some("off") {
        cx.problem(&["quality", "silent_after"], "needs [window] idle_timeout: with it \"off\", event time stops when the whole input goes quiet, so a dead gateway's sensors would never be reported silent");
    }
    if let Some(idle_ms) = idle {
        let batch_ms = file
            .kafka
            .batch_timeout
            .as_deref()
            .and_then(|t| parse_duration_ms(t).ok())
            .unwrap_or(50);
        if idle_ms <= batch_ms {
            cx.problem(&["window", "idle_timeout"], format!("must be longer than [kafka] batch_timeout ({batch_ms} ms): a busy partition missing from one poll batch would count as idle"));
        }
    }
    let stuck_windows = match q.stuck_windows {
        Some(n) if !(2..=10_000).contains(&n) => {
            cx.problem(&["quality", "stuck_windows"], "must be between 2 and 10000");
            None
        }
        Some(n) => Some(n as u32),
        None => None,
    };
    if !ok {
        return (kind, None);
    }
    let Some(window) = kind else {
        return (None, None);
    };
    (
        Some(window),
        Some(EventTimeConfig {
            window,
            out_of_orderness_ms: ooo,
            allowed_lateness_ms: lateness,
            idle_timeout_ms: idle,
            dedup: w.dedup.unwrap_or(false),
            quality: QualityConfig {
                silent_after_ms,
                stuck_windows,
            },
        }),
    )
}
