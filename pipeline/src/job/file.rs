//! The job file's TOML format. Field docs here are the user documentation of the job file.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A whole job file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobFile {
    /// `[job]`: identity.
    pub job: JobSection,
    /// `[kafka]`: where readings come from and alerts go.
    pub kafka: KafkaSection,
    /// `[fields]`: where each part of a reading is in the payload.
    pub fields: FieldsSection,
    /// `[window]`: event-time windows.
    pub window: WindowSection,
    /// `[features]`: the feature SQL.
    pub features: FeaturesSection,
    /// `[model]`: the model artifact.
    pub model: ModelSection,
    /// `[alerts]`: alert content.
    #[serde(default)]
    pub alerts: AlertsSection,
    /// `[quality]`: data-quality checks (silent and stuck sensors).
    #[serde(default)]
    pub quality: QualitySection,
    /// `[[baselines]]`: per-asset streaming baselines on single features.
    #[serde(default)]
    pub baselines: Vec<BaselineSection>,
    /// `[conditions]`: operating-condition normalisation.
    #[serde(default)]
    pub conditions: Option<ConditionsSection>,
    /// `[training]`: defaults for `vigil train`.
    #[serde(default)]
    pub training: TrainingSection,
    /// `[backtest]`: labelled history for `vigil backtest`.
    #[serde(default)]
    pub backtest: Option<BacktestSection>,
    /// `[rul]`: a remaining-useful-life model instead of an anomaly detector.
    #[serde(default)]
    pub rul: Option<RulSection>,
    /// `[limits]`: bounds on the job's state.
    #[serde(default)]
    pub limits: LimitsSection,
    /// `[telemetry]`: logs, OpenTelemetry export.
    #[serde(default)]
    pub telemetry: TelemetrySection,
}

/// `[telemetry]`: what the job tells about itself. The environment overrides the file:
/// `RUST_LOG` the level, `VIGIL_LOG_FORMAT` the format, `OTEL_EXPORTER_OTLP_ENDPOINT` the
/// endpoint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySection {
    /// Log filter, in `RUST_LOG` syntax (default `vigil_pipeline=info,warn`).
    #[serde(default)]
    pub log_level: Option<String>,
    /// `text` (default) or `json` (one JSON object per line).
    #[serde(default)]
    pub log_format: Option<String>,
    /// OTLP/HTTP base URL, e.g. `http://127.0.0.1:4318`: metrics go to `/v1/metrics` and
    /// traces to `/v1/traces`. Absent: nothing is exported (the default).
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// How often metrics are exported (default `10s`).
    #[serde(default)]
    pub export_interval: Option<String>,
    /// The `service.name` resource attribute (default `vigil`).
    #[serde(default)]
    pub service_name: Option<String>,
}

/// `[limits]`: bounds on the state one input partition may hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Most assets tracked per input partition (default 200000). Readings of further assets
    /// go to the dead-letter topic (reason `asset_limit`) until an asset is evicted.
    #[serde(default)]
    pub max_assets: Option<i64>,
    /// An asset without readings for this long in event time is evicted: its windows have
    /// closed, and its baseline and data-quality state are dropped (default `24h`).
    #[serde(default)]
    pub evict_after: Option<String>,
}

/// `[rul]`: remaining useful life, trained on run-to-failure histories (each asset's last
/// reading is its failure).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulSection {
    /// The feature (a column of the feature SQL) giving the asset's age, e.g. `max(cycle)`;
    /// RUL is counted in its unit.
    pub age_feature: String,
    /// Training targets are capped at this remaining life (default 125).
    #[serde(default)]
    pub cap: Option<f64>,
    /// Alert (kind `rul`) when the predicted remaining life is below this.
    pub horizon: f64,
    /// Boosted trees (default 300).
    #[serde(default)]
    pub trees: Option<i64>,
    /// Depth of each tree (default 4).
    #[serde(default)]
    pub depth: Option<i64>,
    /// Shrinkage (default 0.05).
    #[serde(default)]
    pub learning_rate: Option<f64>,
}

/// `[backtest]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestSection {
    /// Labelled history: a CSV file or a folder of them (relative to the job file).
    pub data: String,
    /// Sub-folders of `data` to use (default: all).
    #[serde(default)]
    pub include: Vec<String>,
    /// `per_file`: the first `train_rows` rows of each file train, the rest is tested.
    /// `rul`: `train` (run-to-failure histories) trains, each asset of `test` is predicted at its
    /// last reading and compared with the line of `truth` for it.
    pub protocol: String,
    /// Rows of each file that train (protocol `per_file`).
    #[serde(default)]
    pub train_rows: Option<i64>,
    /// The 0/1 label column (protocol `per_file`).
    #[serde(default)]
    pub label: Option<String>,
    /// Training file under `data` (protocol `rul`).
    #[serde(default)]
    pub train: Option<String>,
    /// Test file under `data` (protocol `rul`).
    #[serde(default)]
    pub test: Option<String>,
    /// True remaining life of the test assets, one per line in the order of their first
    /// appearance in `test` (protocol `rul`).
    #[serde(default)]
    pub truth: Option<String>,
    /// Cap applied to the truth before scoring (protocol `rul`; the literature's convention
    /// for C-MAPSS is the training cap), in addition to the uncapped figures.
    #[serde(default)]
    pub truth_cap: Option<f64>,
    /// NAB label windows (`combined_windows*.json`, relative to the job file; protocol `nab`).
    #[serde(default)]
    pub labels: Option<String>,
    /// The 0/1 change-point column (scored with NAB), if any.
    #[serde(default)]
    pub changepoint: Option<String>,
    /// Rows of the NAB window to the right of each change point (default 60).
    #[serde(default)]
    pub changepoint_window_rows: Option<i64>,
    /// Detector: pca, kmeans[:k], gmm[:k] (default pca).
    #[serde(default)]
    pub detector: Option<String>,
    /// Threshold = this multiple of the highest training-part score (default 1.0).
    #[serde(default)]
    pub threshold_margin: Option<f64>,
}

/// `[job]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSection {
    /// Job name.
    pub name: String,
}

/// `[kafka]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSection {
    /// Bootstrap servers; `VIGIL_BROKERS` or `--brokers` override it.
    pub brokers: String,
    /// Consumer group of the job's instances.
    pub group_id: String,
    /// Input topics.
    pub input_topics: Vec<String>,
    /// Alert topic.
    pub alert_topic: String,
    /// Dead-letter topic.
    pub dead_letter_topic: String,
    /// Late-data topic: readings that arrived after their windows closed (default
    /// `<job name>.late`).
    #[serde(default)]
    pub late_topic: Option<String>,
    /// Optional topic receiving every feature row (JSON, keyed by asset id) as windows close.
    #[serde(default)]
    pub features_topic: Option<String>,
    /// Alerts of a shadow (candidate) model version (default `<alert_topic>.shadow`).
    #[serde(default)]
    pub shadow_topic: Option<String>,
    /// Acknowledgements and silences of alerts (`vigil alerts ack|silence`), read by every
    /// instance of the job from the beginning (default `<alert_topic>.control`).
    #[serde(default)]
    pub control_topic: Option<String>,
    /// Most records per poll batch (default 5000).
    #[serde(default)]
    pub max_batch: Option<i64>,
    /// Longest wait for a poll batch to fill (default `50ms`).
    #[serde(default)]
    pub batch_timeout: Option<String>,
    /// `"exactly-once"` (default: outputs, state changelog and consumed offsets commit in one
    /// Kafka transaction) or `"at-least-once"` (lower latency; replays after a crash repeat
    /// alerts with identical ids).
    #[serde(default)]
    pub delivery: Option<String>,
    /// How often processed work is committed (default `100ms`): outputs become visible to
    /// `read_committed` consumers at this cadence.
    #[serde(default)]
    pub commit_interval: Option<String>,
    /// Compacted topic holding each input partition's state (default `<group_id>.changelog`).
    #[serde(default)]
    pub changelog_topic: Option<String>,
    /// Dead-letter records without a key (reason `null_key`; default false). Records should be
    /// keyed by asset id so each asset stays on one partition.
    #[serde(default)]
    pub require_key: Option<bool>,
    /// Stable name of this instance (`--instance` overrides): gives a fixed transactional id
    /// and static group membership, so a restarted instance takes over at once. Without it
    /// each start gets a fresh random id.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// Extra librdkafka properties.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// `[fields]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldsSection {
    /// Dead-letter payloads with a field the mapping does not name (reason `unknown_field`;
    /// default false: unknown fields are ignored).
    #[serde(default)]
    pub forbid_unknown: Option<bool>,
    /// Top-level payload key with the asset id (default `asset_id`).
    #[serde(default)]
    pub asset_id: Option<String>,
    /// Top-level payload key with the event time (default `ts`).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Measurement keys (in `measurements` or at the top level), in column order.
    pub measurements: Vec<String>,
    /// Tag keys kept as string columns.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Waveform snapshot names (keys in the payload's `waveforms` object); each gives the SQL a
    /// `<name>` column (samples) and a `<name>_rate_hz` column.
    #[serde(default)]
    pub waveforms: Vec<String>,
    /// Column renames: `column = "payload key"`.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// A numeric event time counts this unit (default `1ms`: epoch milliseconds), e.g. `1s`
    /// for a cycle counter read as one second per cycle.
    #[serde(default)]
    pub timestamp_unit: Option<String>,
    /// A numeric event time counts from this instant (RFC 3339; default the Unix epoch).
    #[serde(default)]
    pub timestamp_origin: Option<String>,
    /// Column names of history files that have no header row (their fields are then separated
    /// by whitespace or commas, whatever the extension), for `vigil train`, `vigil features` and
    /// backtests.
    #[serde(default)]
    pub history_columns: Vec<String>,
    /// Largest accepted payload in bytes (default 1 MiB).
    #[serde(default)]
    pub max_payload_bytes: Option<i64>,
}

/// `[window]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSection {
    /// `tumbling`, `hopping` (with `slide`) or `session` (with `gap`).
    pub kind: String,
    /// Window size of tumbling and hopping windows, e.g. `60s`.
    #[serde(default)]
    pub size: Option<String>,
    /// Slide of hopping windows, e.g. `15s` (a divisor of `size`).
    #[serde(default)]
    pub slide: Option<String>,
    /// Inactivity gap that ends a session (per asset), e.g. `5m`.
    #[serde(default)]
    pub gap: Option<String>,
    /// How far behind its partition's newest reading a reading may arrive (default `0s`).
    #[serde(default)]
    pub allowed_out_of_orderness: Option<String>,
    /// How long a window stays open after the watermark passes its end (default `0s`).
    #[serde(default)]
    pub allowed_lateness: Option<String>,
    /// Wall-clock time without data after which a partition stops holding the watermark back,
    /// or `off` (default `60s`).
    #[serde(default)]
    pub idle_timeout: Option<String>,
    /// Count a repeated reading (same asset, time and values) once (default false).
    #[serde(default)]
    pub dedup: Option<bool>,
}

/// `[quality]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualitySection {
    /// Alert when a measurement of an asset has no value for this long (event time), e.g. `5m`.
    #[serde(default)]
    pub silent_after: Option<String>,
    /// Alert when a measurement stays exactly constant for this many consecutive windows.
    #[serde(default)]
    pub stuck_windows: Option<i64>,
}

/// `[[baselines]]`: one per-asset streaming baseline on one feature.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineSection {
    /// The feature (a column of the feature SQL).
    pub feature: String,
    /// `ewma`, `cusum` or `page_hinkley`.
    pub method: String,
    /// Windows per asset used to learn its normal before it may alarm (default 30).
    #[serde(default)]
    pub warmup: Option<i64>,
    /// EWMA weight of the newest value (default 0.05).
    #[serde(default)]
    pub alpha: Option<f64>,
    /// EWMA z-score limit (default 4).
    #[serde(default)]
    pub limit: Option<f64>,
    /// CUSUM allowance in standard deviations (default 0.5).
    #[serde(default)]
    pub k: Option<f64>,
    /// CUSUM decision interval in standard deviations (default 8).
    #[serde(default)]
    pub h: Option<f64>,
    /// Page-Hinkley tolerated drift in standard deviations (default 0.5).
    #[serde(default)]
    pub delta: Option<f64>,
    /// Page-Hinkley threshold in standard deviations (default 10).
    #[serde(default)]
    pub lambda: Option<f64>,
    /// The asset class it applies to: an asset-id pattern where `*` matches anything
    /// (default: every asset).
    #[serde(default)]
    pub assets: Option<String>,
}

/// `[conditions]`: operating-condition normalisation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionsSection {
    /// Measurements that set the operating condition (e.g. altitude, Mach number, throttle).
    pub settings: Vec<String>,
    /// Operating regimes to find with k-means on the training readings.
    pub regimes: i64,
    /// Measurements z-scored per regime (default: every other measurement).
    #[serde(default)]
    pub normalise: Option<Vec<String>>,
}

/// `[features]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesSection {
    /// Path of the feature SQL, relative to the job file.
    pub sql_file: String,
    /// Run plain aggregates of measurements by asset natively (default) instead of on
    /// DataFusion's hash aggregation; the output is the same to the last few bits.
    #[serde(default)]
    pub native: Option<bool>,
}

/// `[model]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Path of the model artifact, relative to the job file (used until the registry has an
    /// active version).
    pub artifact: String,
    /// Compacted registry topic the job follows for promoted and shadow versions.
    #[serde(default)]
    pub registry_topic: Option<String>,
    /// Model name in the registry (default: the job name).
    #[serde(default)]
    pub name: Option<String>,
}

/// `[alerts]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// How many contributing features each alert lists (default 3).
    #[serde(default)]
    pub top_features: Option<i64>,
    /// `each` (every baseline alerts on its own, the default) or `ensemble` (one score per
    /// asset and window, the largest of the baselines').
    #[serde(default)]
    pub baselines: Option<String>,
    /// Alerts have a lifecycle (open / update / resolved) instead of one alert per window.
    #[serde(default)]
    pub lifecycle: Option<bool>,
    /// Consecutive windows over the threshold before an alert opens (default 1).
    #[serde(default)]
    pub pending_windows: Option<i64>,
    /// Consecutive windows under the hysteresis threshold before it resolves (default 1).
    #[serde(default)]
    pub resolve_windows: Option<i64>,
    /// The resolve threshold as a fraction of the threshold (default 1.0).
    #[serde(default)]
    pub hysteresis: Option<f64>,
    /// Event time after an alert opened during which no new one opens (default `0s`).
    #[serde(default)]
    pub cooldown: Option<String>,
    /// Score, in threshold multiples, from which an alert is critical (default 2.0).
    #[serde(default)]
    pub critical_ratio: Option<f64>,
}

/// `[training]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSection {
    /// History file (CSV or JSONL) used by `vigil train` when `--input` is not given.
    #[serde(default)]
    pub input: Option<String>,
}

/// Keys allowed in each table, for reporting every unknown key at once.
pub(super) const KNOWN_KEYS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "job",
            "kafka",
            "fields",
            "window",
            "features",
            "model",
            "alerts",
            "quality",
            "baselines",
            "training",
            "backtest",
            "rul",
            "limits",
            "conditions",
            "telemetry",
        ],
    ),
    (
        "telemetry",
        &[
            "log_level",
            "log_format",
            "otlp_endpoint",
            "export_interval",
            "service_name",
        ],
    ),
    ("conditions", &["settings", "regimes", "normalise"]),
    ("limits", &["max_assets", "evict_after"]),
    ("job", &["name"]),
    (
        "kafka",
        &[
            "brokers",
            "group_id",
            "input_topics",
            "alert_topic",
            "dead_letter_topic",
            "late_topic",
            "features_topic",
            "shadow_topic",
            "control_topic",
            "max_batch",
            "batch_timeout",
            "delivery",
            "commit_interval",
            "changelog_topic",
            "instance_id",
            "require_key",
            "properties",
        ],
    ),
    (
        "fields",
        &[
            "forbid_unknown",
            "asset_id",
            "timestamp",
            "measurements",
            "tags",
            "waveforms",
            "rename",
            "max_payload_bytes",
            "timestamp_unit",
            "timestamp_origin",
            "history_columns",
        ],
    ),
    (
        "window",
        &[
            "kind",
            "size",
            "slide",
            "gap",
            "allowed_out_of_orderness",
            "allowed_lateness",
            "idle_timeout",
            "dedup",
        ],
    ),
    ("features", &["sql_file", "native"]),
    ("model", &["artifact", "registry_topic", "name"]),
    (
        "alerts",
        &[
            "top_features",
            "baselines",
            "lifecycle",
            "pending_windows",
            "resolve_windows",
            "hysteresis",
            "cooldown",
            "critical_ratio",
        ],
    ),
    ("quality", &["silent_after", "stuck_windows"]),
    ("training", &["input"]),
    (
        "backtest",
        &[
            "data",
            "include",
            "protocol",
            "train_rows",
            "label",
            "changepoint",
            "changepoint_window_rows",
            "detector",
            "threshold_margin",
            "train",
            "test",
            "truth",
            "truth_cap",
            "labels",
        ],
    ),
    (
        "rul",
        &[
            "age_feature",
            "cap",
            "horizon",
            "trees",
            "depth",
            "learning_rate",
        ],
    ),
];
