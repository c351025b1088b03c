//! Job metrics: counters the runner, the CLI and tests read, mirrored to OpenTelemetry.
//!
//! [`JobStats`] is the single place processing progress is counted: records polled, readings
//! decoded, dead letters by reason, late readings, duplicates, windows closed, feature rows,
//! alerts and data-quality alerts, alert records by kind/state/severity, and two latency
//! histograms (scoring per window; window close to the alert's commit), and where the job
//! thread's wall time goes ([`Phase`]: waiting for records, processing them, moving idle
//! partitions, writing the changelog, committing). Each update also goes to an OpenTelemetry
//! instrument (a no-op until an exporter is installed).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use opentelemetry::metrics::{Counter, Gauge, Histogram as OtelHistogram};
use opentelemetry::KeyValue;
use vigil_schemas::{DeadLetter, RejectReason};

struct Otel {
    readings: Counter<u64>,
    dead_letters: Counter<u64>,
    late: Counter<u64>,
    duplicates: Counter<u64>,
    windows: Counter<u64>,
    alerts: Counter<u64>,
    quality: Counter<u64>,
    commits: Counter<u64>,
    recoveries: Counter<u64>,
    state_bytes: Counter<u64>,
    phase: Counter<f64>,
    records: Counter<u64>,
    scoring: OtelHistogram<f64>,
    close_to_alert: OtelHistogram<f64>,
    lag: Gauge<i64>,
    model: Gauge<u64>,
    partitions: Gauge<u64>,
    buffered: Gauge<u64>,
    assets: Gauge<u64>,
}

/// What the job thread spends its wall time on, so an operator can tell a job waiting for input
/// from one bound by processing or by commits (Flink's idle / busy / backpressured split, made
/// finer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting in the consumer's poll for a batch of records.
    Poll,
    /// Decoding, windowing, feature SQL, scoring and alert policy for the polled records.
    Process,
    /// Moving event time of idle partitions by the wall clock (and the windows that closes).
    Tick,
    /// Taking the incremental snapshots and queueing them on the changelog.
    Changelog,
    /// Sending offsets and committing the transaction (or flushing and committing offsets).
    Commit,
}

impl Phase {
    /// Every phase, in the order of the job loop (and of the discriminants, which index the
    /// per-phase counters).
    pub const ALL: [Phase; 5] = [
        Phase::Poll,
        Phase::Process,
        Phase::Tick,
        Phase::Changelog,
        Phase::Commit,
    ];

    /// The label value (`phase="..."`).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Poll => "poll",
            Phase::Process => "process",
            Phase::Tick => "tick",
            Phase::Changelog => "changelog",
            Phase::Commit => "commit",
        }
    }
}

/// Processing counters of one job instance.
pub struct JobStats {
    polled: AtomicU64,
    readings: AtomicU64,
    dead_letters: AtomicU64,
    by_reason: [AtomicU64; RejectReason::ALL.len()],
    late: AtomicU64,
    duplicates: AtomicU64,
    windows: AtomicU64,
    feature_rows: AtomicU64,
    alerts: AtomicU64,
    quality_alerts: AtomicU64,
    commits: AtomicU64,
    recoveries: AtomicU64,
    state_bytes: AtomicU64,
    evicted: AtomicU64,
    phase_us: [AtomicU64; Phase::ALL.len()],
    /// Alert records by (kind, state, severity); rare, so a lock is fine.
    records: Mutex<BTreeMap<(String, String, String), u64>>,
    /// Feature SQL + scoring + alert decision, per closed window.
    pub scoring: crate::latency::Histogram,
    /// The job thread's CPU time of each close (wall time minus this is time spent waiting for
    /// a core).
    pub scoring_cpu: crate::latency::Histogram,
    /// From the batch that closed a window to the moment its alerts became visible: the commit
    /// of their transaction (exactly-once) or the broker's acknowledgement (at-least-once).
    pub close_to_alert: crate::latency::Histogram,
    /// The same latency, exact (the bench's percentiles).
    pub close_to_alert_exact: crate::latency::Exact,
    /// The job's part of it, exact: from the batch that closed a window to its alerts handed
    /// to the producer (the rest is the broker's acknowledgement or the commit).
    pub close_to_send_exact: crate::latency::Exact,
    /// Where the slowest run that raised alerts spent its time (see [`RunBreakdown`]).
    pub slowest_run: Mutex<RunBreakdown>,
    otel: Otel,
}

impl std::fmt::Debug for JobStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.snapshot())
    }
}

/// A point-in-time copy of [`JobStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Kafka records polled.
    pub polled: u64,
    /// Readings decoded successfully.
    pub readings: u64,
    /// Records sent to the dead-letter topic (rejected).
    pub dead_letters: u64,
    /// Dead letters per reason code (non-zero only).
    pub by_reason: Vec<(&'static str, u64)>,
    /// Late readings (sent to the late-data topic).
    pub late: u64,
    /// Duplicate readings counted once (dedup on).
    pub duplicates: u64,
    /// Windows closed.
    pub windows: u64,
    /// Feature rows computed (asset windows).
    pub feature_rows: u64,
    /// Anomaly alerts raised.
    pub alerts: u64,
    /// Data-quality alerts raised (silent or stuck sensors).
    pub quality_alerts: u64,
    /// Commits (transactions, or offset commits in at-least-once mode).
    pub commits: u64,
    /// Failed commits recovered from (abort, rewind, restore).
    pub recoveries: u64,
    /// Bytes of state snapshots written to the changelog.
    pub state_bytes: u64,
    /// Idle assets evicted (`[limits] evict_after`).
    pub evicted: u64,
    /// Microseconds of the job thread's wall time per phase, in [`Phase::ALL`] order.
    pub phase_us: [u64; Phase::ALL.len()],
}

impl StatsSnapshot {
    /// Microseconds spent in `phase`.
    pub fn phase_us(&self, phase: Phase) -> u64 {
        self.phase_us[phase as usize]
    }
}

impl Default for JobStats {
    fn default() -> Self {
        Self::new()
    }
}

impl JobStats {
    /// Records the runner's gauges (lag, models, state sizes) on the OpenTelemetry instruments.
    pub fn record_gauges(&self, g: &crate::prometheus::Gauges) {
        let o = &self.otel;
        for (topic, p, lag) in &g.lag {
            o.lag.record(
                *lag,
                &[
                    KeyValue::new("topic", topic.clone()),
                    KeyValue::new("partition", i64::from(*p)),
                ],
            );
        }
        if let Some((name, version)) = &g.model {
            o.model.record(
                1,
                &[
                    KeyValue::new("model", name.clone()),
                    KeyValue::new("version", version.clone()),
                    KeyValue::new("role", "active"),
                ],
            );
            if let Some(v) = &g.shadow {
                o.model.record(
                    1,
                    &[
                        KeyValue::new("model", name.clone()),
                        KeyValue::new("version", v.clone()),
                        KeyValue::new("role", "shadow"),
                    ],
                );
            }
        }
        o.partitions.record(g.partitions as u64, &[]);
        o.buffered.record(g.buffered_readings as u64, &[]);
        o.assets.record(g.assets as u64, &[]);
    }

    /// Fresh counters.
    pub fn new() -> Self {
        let meter = opentelemetry::global::meter("vigil");
        JobStats {
            polled: AtomicU64::new(0),
            readings: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            by_reason: std::array::from_fn(|_| AtomicU64::new(0)),
            late: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            windows: AtomicU64::new(0),
            feature_rows: AtomicU64::new(0),
            alerts: AtomicU64::new(0),
            quality_alerts: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            recoveries: AtomicU64::new(0),
            state_bytes: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            phase_us: std::array::from_fn(|_| AtomicU64::new(0)),
            records: Mutex::new(BTreeMap::new()),
            scoring: crate::latency::Histogram::default(),
            scoring_cpu: crate::latency::Histogram::default(),
            close_to_alert: crate::latency::Histogram::default(),
            close_to_alert_exact: crate::latency::Exact::default(),
            close_to_send_exact: crate::latency::Exact::default(),
            slowest_run: Mutex::new(RunBreakdown::default()),
            otel: Otel {
                lag: meter
                    .i64_gauge("vigil.consumer_lag")
                    .with_description("records behind the partition's high watermark")
                    .build(),
                model: meter
                    .u64_gauge("vigil.model")
                    .with_description("1 for each model version in use, by role (active, shadow)")
                    .build(),
                partitions: meter.u64_gauge("vigil.partitions").build(),
                buffered: meter.u64_gauge("vigil.buffered_readings").build(),
                assets: meter.u64_gauge("vigil.tracked_assets").build(),
                records: meter
                    .u64_counter("vigil.alert_records")
                    .with_description("alert records emitted, by kind, state and severity")
                    .build(),
                scoring: meter
                    .f64_histogram("vigil.scoring_latency")
                    .with_unit("s")
                    .with_description("feature SQL, scoring and alert decision per closed window")
                    .build(),
                close_to_alert: meter
                    .f64_histogram("vigil.window_close_to_alert_latency")
                    .with_unit("s")
                    .with_description(
                        "from the batch that closed a window to the commit of its alerts",
                    )
                    .build(),
                readings: meter
                    .u64_counter("vigil.readings")
                    .with_description("readings decoded")
                    .build(),
                dead_letters: meter
                    .u64_counter("vigil.dead_letters")
                    .with_description("records sent to the dead-letter topic, by reason")
                    .build(),
                late: meter
                    .u64_counter("vigil.late_readings")
                    .with_description("readings sent to the late-data topic")
                    .build(),
                duplicates: meter.u64_counter("vigil.duplicate_readings").build(),
                windows: meter.u64_counter("vigil.windows_closed").build(),
                alerts: meter.u64_counter("vigil.alerts").build(),
                quality: meter.u64_counter("vigil.data_quality_alerts").build(),
                commits: meter
                    .u64_counter("vigil.commits")
                    .with_description("transactions (or offset commits) completed")
                    .build(),
                recoveries: meter
                    .u64_counter("vigil.recoveries")
                    .with_description("failed commits recovered by abort, rewind and restore")
                    .build(),
                state_bytes: meter
                    .u64_counter("vigil.state_bytes_written")
                    .with_unit("By")
                    .with_description("bytes of incremental state snapshots sent to the changelog")
                    .build(),
                phase: meter
                    .f64_counter("vigil.job_time")
                    .with_unit("s")
                    .with_description("wall time of the job thread, by phase (poll, process, tick, changelog, commit)")
                    .build(),
            },
        }
    }

    /// Records polled from Kafka.
    pub fn record_polled(&self, n: usize) {
        self.polled.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A decoded batch: good rows and rejected records.
    pub fn record_decoded(&self, good: usize, dead: &[DeadLetter]) {
        self.readings.fetch_add(good as u64, Ordering::Relaxed);
        self.otel.readings.add(good as u64, &[]);
        for d in dead {
            self.record_dead(d.reason);
        }
    }

    /// One rejected record of class `reason`.
    pub fn record_dead(&self, reason: RejectReason) {
        self.dead_letters.fetch_add(1, Ordering::Relaxed);
        if let Some(i) = RejectReason::ALL.iter().position(|r| *r == reason) {
            self.by_reason[i].fetch_add(1, Ordering::Relaxed);
        }
        self.otel
            .dead_letters
            .add(1, &[KeyValue::new("reason", reason.code())]);
    }

    /// Late readings (sent to the late-data topic).
    pub fn record_late(&self, n: usize) {
        self.late.fetch_add(n as u64, Ordering::Relaxed);
        self.otel.late.add(n as u64, &[]);
    }

    /// Duplicate readings dropped by deduplication.
    pub fn record_duplicates(&self, n: usize) {
        self.duplicates.fetch_add(n as u64, Ordering::Relaxed);
        self.otel.duplicates.add(n as u64, &[]);
    }

    /// Data-quality alerts raised.
    pub fn record_quality(&self, n: usize) {
        self.quality_alerts.fetch_add(n as u64, Ordering::Relaxed);
        self.otel.quality.add(n as u64, &[]);
    }

    /// One closed window with `rows` feature rows.
    pub fn record_window(&self, rows: usize) {
        self.windows.fetch_add(1, Ordering::Relaxed);
        self.feature_rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.otel.windows.add(1, &[]);
    }

    /// Alerts raised.
    pub fn record_alerts(&self, n: usize) {
        self.alerts.fetch_add(n as u64, Ordering::Relaxed);
        self.otel.alerts.add(n as u64, &[]);
    }

    /// Alert records emitted (any kind), by kind, lifecycle state and severity.
    pub fn record_alert_records(&self, alerts: &[vigil_schemas::Alert]) {
        if alerts.is_empty() {
            return;
        }
        let Ok(mut m) = self.records.lock() else {
            return;
        };
        for a in alerts {
            let key = (
                a.kind.as_str().to_string(),
                a.state.map_or("none", |s| s.as_str()).to_string(),
                a.severity.map_or("none", |s| s.as_str()).to_string(),
            );
            self.otel.records.add(
                1,
                &[
                    KeyValue::new("kind", key.0.clone()),
                    KeyValue::new("state", key.1.clone()),
                    KeyValue::new("severity", key.2.clone()),
                ],
            );
            *m.entry(key).or_default() += 1;
        }
    }

    /// Alert records so far by (kind, state, severity).
    pub fn alert_records(&self) -> Vec<((String, String, String), u64)> {
        self.records
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// Keeps `run` if it is the slowest so far.
    pub fn record_run(&self, run: RunBreakdown) {
        if let Ok(mut s) = self.slowest_run.lock() {
            if run.total_us > s.total_us {
                *s = run;
            }
        }
    }

    /// The slowest run since the last [`JobStats::reset_slowest_run`].
    pub fn slowest_run(&self) -> RunBreakdown {
        self.slowest_run.lock().map(|s| *s).unwrap_or_default()
    }

    /// Forgets the slowest run.
    pub fn reset_slowest_run(&self) {
        if let Ok(mut s) = self.slowest_run.lock() {
            *s = RunBreakdown::default();
        }
    }

    /// One window's scoring latency.
    pub fn record_scoring(&self, seconds: f64) {
        self.scoring.observe(seconds);
        self.otel.scoring.record(seconds, &[]);
    }

    /// One visible (committed or acknowledged) alert's latency from the batch that closed its
    /// window.
    pub fn record_close_to_alert(&self, d: std::time::Duration) {
        let seconds = d.as_secs_f64();
        self.close_to_alert.observe(seconds);
        self.close_to_alert_exact.record(d);
        self.otel.close_to_alert.record(seconds, &[]);
    }

    /// Assets evicted after being idle.
    pub fn record_evicted(&self, n: usize) {
        self.evicted.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// One completed commit.
    pub fn record_commit(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.otel.commits.add(1, &[]);
    }

    /// Bytes of one task's incremental snapshot queued on the changelog.
    pub fn record_state_written(&self, bytes: usize) {
        self.state_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.otel.state_bytes.add(bytes as u64, &[]);
    }

    /// Wall time the job thread spent in `phase`.
    pub fn record_phase(&self, phase: Phase, d: std::time::Duration) {
        self.phase_us[phase as usize].fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.otel
            .phase
            .add(d.as_secs_f64(), &[KeyValue::new("phase", phase.name())]);
    }

    /// One recovery from a failed commit.
    pub fn record_recovery(&self) {
        self.recoveries.fetch_add(1, Ordering::Relaxed);
        self.otel.recoveries.add(1, &[]);
    }

    /// A consistent-enough copy of the counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            polled: self.polled.load(Ordering::Relaxed),
            readings: self.readings.load(Ordering::Relaxed),
            dead_letters: self.dead_letters.load(Ordering::Relaxed),
            by_reason: RejectReason::ALL
                .iter()
                .zip(&self.by_reason)
                .map(|(r, c)| (r.code(), c.load(Ordering::Relaxed)))
                .filter(|(_, c)| *c > 0)
                .collect(),
            late: self.late.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            windows: self.windows.load(Ordering::Relaxed),
            feature_rows: self.feature_rows.load(Ordering::Relaxed),
            alerts: self.alerts.load(Ordering::Relaxed),
            quality_alerts: self.quality_alerts.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            recoveries: self.recoveries.load(Ordering::Relaxed),
            state_bytes: self.state_bytes.load(Ordering::Relaxed),
            evicted: self.evicted.load(Ordering::Relaxed),
            phase_us: std::array::from_fn(|i| self.phase_us[i].load(Ordering::Relaxed)),
        }
    }
}

/// CPU seconds the calling thread has used (0 where the clock is unavailable).
pub fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec owned by this frame.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// One run of records that raised alerts, from its start to its alerts handed to the producer
/// (the job's part of their latency), by step, microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunBreakdown {
    /// The whole run.
    pub total_us: u64,
    /// Decoding its records.
    pub decode_us: u64,
    /// Windowing its readings and closing windows (`close_us` of it).
    pub process_us: u64,
    /// The closes of the run's windows (feature SQL, scoring, alert decision).
    pub close_us: u64,
    /// The job thread's CPU time in those closes.
    pub close_cpu_us: u64,
    /// Dead letters, late data and alerts handed to the producer.
    pub emit_us: u64,
}
