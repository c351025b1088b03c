//! The Prometheus text exposition (format 0.0.4) of a job's counters and gauges, served on
//! `/metrics`. A pure function of a [`StatsSnapshot`] and the live [`Gauges`]; the names follow
//! the OpenTelemetry instruments of `metrics.rs` with Prometheus' conventions (`vigil_` prefix,
//! `_total` for counters).

use std::fmt::Write;

use vigil_schemas::RejectReason;

use crate::latency::HistogramSnapshot;
use crate::metrics::StatsSnapshot;

/// Values that are levels, not counts: set by the runner as it goes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    /// Consumer lag per input partition: (topic, partition, records behind the high watermark).
    pub lag: Vec<(String, i32, i64)>,
    /// The active model's name and version, if any.
    pub model: Option<(String, String)>,
    /// The shadow model's version, if any.
    pub shadow: Option<String>,
    /// Input partitions owned by this instance.
    pub partitions: usize,
    /// Readings buffered in open windows.
    pub buffered_readings: usize,
    /// Tracked assets.
    pub assets: usize,
    /// True once state is restored and the job is consuming.
    pub ready: bool,
}

/// The histograms and labelled counters kept beside the plain counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detail {
    /// Alert records by (kind, state, severity).
    pub alert_records: Vec<((String, String, String), u64)>,
    /// Scoring latency per window.
    pub scoring: HistogramSnapshot,
    /// Window close to alert commit.
    pub close_to_alert: HistogramSnapshot,
}

impl Detail {
    /// The detail of a job's stats.
    pub fn of(stats: &crate::metrics::JobStats) -> Self {
        Detail {
            alert_records: stats.alert_records(),
            scoring: stats.scoring.snapshot(),
            close_to_alert: stats.close_to_alert.snapshot(),
        }
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
    );
}

fn gauge(out: &mut String, name: &str, help: &str, v: f64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
}

/// Renders the exposition text, with the histograms and labelled counters of `d`.
pub fn render_all(s: &StatsSnapshot, g: &Gauges, d: &Detail) -> String {
    let mut out = render(s, g);
    let _ = writeln!(
        out,
        "# HELP vigil_alert_records_total Alert records emitted, by kind, lifecycle state and severity (none without a lifecycle).\n# TYPE vigil_alert_records_total counter"
    );
    for ((kind, state, severity), n) in &d.alert_records {
        let _ = writeln!(
            out,
            "vigil_alert_records_total{{kind=\"{}\",state=\"{}\",severity=\"{}\"}} {n}",
            escape(kind),
            escape(state),
            escape(severity)
        );
    }
    crate::latency::render(
        &mut out,
        "vigil_scoring_seconds",
        "Feature SQL, scoring and alert decision per closed window.",
        &d.scoring,
    );
    crate::latency::render(
        &mut out,
        "vigil_window_close_to_alert_seconds",
        "From the batch that closed a window to the commit that made its alerts visible.",
        &d.close_to_alert,
    );
    out
}

/// Renders the exposition text of the counters and gauges.
pub fn render(s: &StatsSnapshot, g: &Gauges) -> String {
    let mut out = String::new();
    counter(
        &mut out,
        "vigil_records_polled_total",
        "Kafka records polled.",
        s.polled,
    );
    counter(
        &mut out,
        "vigil_readings_total",
        "Readings decoded.",
        s.readings,
    );
    let _ = writeln!(
        out,
        "# HELP vigil_dead_letters_total Records sent to the dead-letter topic, by reason.\n# TYPE vigil_dead_letters_total counter"
    );
    for r in RejectReason::ALL {
        let n = s
            .by_reason
            .iter()
            .find(|(c, _)| *c == r.code())
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(
            out,
            "vigil_dead_letters_total{{reason=\"{}\"}} {n}",
            r.code()
        );
    }
    counter(
        &mut out,
        "vigil_late_readings_total",
        "Readings sent to the late-data topic.",
        s.late,
    );
    counter(
        &mut out,
        "vigil_duplicate_readings_total",
        "Repeated readings counted once.",
        s.duplicates,
    );
    counter(
        &mut out,
        "vigil_windows_closed_total",
        "Windows closed.",
        s.windows,
    );
    counter(
        &mut out,
        "vigil_feature_rows_total",
        "Feature rows computed (asset windows).",
        s.feature_rows,
    );
    counter(
        &mut out,
        "vigil_alerts_total",
        "Anomaly and RUL alert records emitted.",
        s.alerts,
    );
    counter(
        &mut out,
        "vigil_data_quality_alerts_total",
        "Data-quality alerts emitted.",
        s.quality_alerts,
    );
    counter(
        &mut out,
        "vigil_commits_total",
        "Transactions (or offset commits) completed.",
        s.commits,
    );
    counter(
        &mut out,
        "vigil_recoveries_total",
        "Failed commits recovered from.",
        s.recoveries,
    );
    counter(
        &mut out,
        "vigil_state_bytes_written_total",
        "Bytes of incremental state snapshots sent to the changelog.",
        s.state_bytes,
    );
    counter(
        &mut out,
        "vigil_assets_evicted_total",
        "Idle assets whose state was dropped.",
        s.evicted,
    );
    let _ = writeln!(
        out,
        "# HELP vigil_job_seconds_total Wall time of the job thread, by phase.\n# TYPE vigil_job_seconds_total counter"
    );
    for p in crate::metrics::Phase::ALL {
        let _ = writeln!(
            out,
            "vigil_job_seconds_total{{phase=\"{}\"}} {}",
            p.name(),
            s.phase_us(p) as f64 / 1e6
        );
    }
    let _ = writeln!(
        out,
        "# HELP vigil_consumer_lag Records behind the partition's high watermark.\n# TYPE vigil_consumer_lag gauge"
    );
    for (t, p, lag) in &g.lag {
        let _ = writeln!(
            out,
            "vigil_consumer_lag{{topic=\"{}\",partition=\"{p}\"}} {lag}",
            escape(t)
        );
    }
    let _ = writeln!(
        out,
        "# HELP vigil_model_info The model versions in use (value 1).\n# TYPE vigil_model_info gauge"
    );
    if let Some((name, version)) = &g.model {
        let _ = writeln!(
            out,
            "vigil_model_info{{name=\"{}\",version=\"{}\",role=\"active\"}} 1",
            escape(name),
            escape(version)
        );
        if let Some(v) = &g.shadow {
            let _ = writeln!(
                out,
                "vigil_model_info{{name=\"{}\",version=\"{}\",role=\"shadow\"}} 1",
                escape(name),
                escape(v)
            );
        }
    }
    gauge(
        &mut out,
        "vigil_partitions",
        "Input partitions owned by this instance.",
        g.partitions as f64,
    );
    gauge(
        &mut out,
        "vigil_buffered_readings",
        "Readings held in open windows.",
        g.buffered_readings as f64,
    );
    gauge(
        &mut out,
        "vigil_tracked_assets",
        "Assets with state.",
        g.assets as f64,
    );
    gauge(
        &mut out,
        "vigil_ready",
        "1 once state is restored and the job consumes.",
        if g.ready { 1.0 } else { 0.0 },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family_once_and_parses_line_by_line() {
        let s = StatsSnapshot {
            readings: 10,
            dead_letters: 2,
            by_reason: vec![("malformed_json", 2)],
            phase_us: [1_500_000, 0, 0, 0, 250],
            ..StatsSnapshot::default()
        };
        let g = Gauges {
            lag: vec![("in\"put".into(), 1, 42)],
            model: Some(("pumps".into(), "3".into())),
            ready: true,
            ..Gauges::default()
        };
        let text = render(&s, &g);
        assert!(text.contains("vigil_readings_total 10\n"));
        assert!(text.contains("vigil_dead_letters_total{reason=\"malformed_json\"} 2\n"));
        assert!(text.contains("vigil_dead_letters_total{reason=\"late\"} 0\n"));
        assert!(text.contains("vigil_consumer_lag{topic=\"in\\\"put\",partition=\"1\"} 42\n"));
        assert!(text.contains("vigil_model_info{name=\"pumps\",version=\"3\",role=\"active\"} 1\n"));
        assert!(text.contains("vigil_ready 1\n"));
        assert!(text.contains("vigil_job_seconds_total{phase=\"poll\"} 1.5\n"));
        assert!(text.contains("vigil_job_seconds_total{phase=\"commit\"} 0.00025\n"));
        let mut types = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                assert!(
                    types.insert(rest.split(' ').next().unwrap_or("").to_string()),
                    "{line}"
                );
            } else if !line.starts_with('#') {
                let value = line.rsplit(' ').next().unwrap_or("");
                assert!(value.parse::<f64>().is_ok(), "sample line `{line}`");
            }
        }
    }
}
