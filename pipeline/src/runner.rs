//! The streaming loop of `vigil run`: poll a batch, decode, window, score, produce, commit.
//!
//! One loop per job instance, on a dedicated thread (the Kafka client blocks); DataFusion work
//! runs on the Tokio runtime through a handle. Each assigned input partition is a *task* with
//! its own [`Engine`] (windows, watermark, deduplication, data-quality and baseline state), so
//! a partition's results depend only on its own records, whatever the batching, restarts or
//! rebalances: this is what makes a replay after a crash give exactly the uninterrupted output.
//! Readings of one asset must therefore arrive on one partition (records keyed by asset id,
//! Kafka's default partitioner).
//!
//! Per poll batch, partition by partition in runs of at most [`ENGINE_RUN`] records: every
//! rejected record goes to the dead-letter topic and every late reading
//! to the late-data topic, each with its reason and source coordinates; alerts go to the alert
//! topic. Every `commit_interval` the work is committed ([`TaskSet::commit`]), and at once when
//! alerts wait for their transaction (at most one such early commit per [`ALERT_COMMIT_SPACING`];
//! at-least-once, an alert is out as soon as the broker acknowledges it and waits for no
//! commit, unless an alert hook or the dashboard is watching): the state
//! delta of each task that changed goes to the compacted changelog, and outputs, snapshots and consumed
//! offsets commit in one Kafka transaction (exactly-once) or are flushed before the offsets are
//! committed (at-least-once). A task is created on assignment or first record by restoring its
//! partition's latest committed snapshot, which matches the partition's committed offset. Before
//! partitions are revoked their work is committed (the rebalance hook). A failed commit aborts
//! the transaction, drops every task and rewinds the consumer to the committed offsets, so the
//! job carries on from a consistent point. The loop ends when the stop flag is set
//! (SIGINT/SIGTERM), committing what was processed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use opentelemetry::trace::TraceContextExt;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{info, warn};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use vigil_models::ModelArtifact;
use vigil_schemas::{Alert, RejectReason};

use crate::control::ControlBook;
use crate::engine::{now_ms, Engine, Step};
use crate::job::{Delivery, JobConfig};
use crate::kafka::changelog::{self, ChangelogReader};
use crate::kafka::control::ControlClient;
use crate::kafka::registry::RegistryClient;
use crate::kafka::{
    ensure_topics, DeadLetterRecord, RebalanceHook, Record, Sink, Source, SourceContext,
};
use crate::metrics::{JobStats, Phase, StatsSnapshot};
use crate::telemetry::trace;
use crate::PipelineError;

/// The shortest time between two commits made early because alerts were waiting: alerts are
/// visible within one batch plus one commit of their window's close, and a catch-up run that
/// closes windows in every batch still commits at most 100 times a second.
pub const ALERT_COMMIT_SPACING: Duration = Duration::from_millis(10);

/// Most records of one partition decoded and handed to its engine at once. A poll batch may
/// hold tens of thousands (after a commit, a catch-up): cut into runs of this many, a window
/// closes after at most this many readings of its partition were decoded and ingested with its
/// closing reading, not after the whole batch. Each run pays its own fixed costs (a span, a
/// watermark advance, a fold check); the full bench's catch-up rate did not drop with runs
/// (920,810 readings per CPU-s against 904,977 before).
pub const ENGINE_RUN: usize = 4096;

/// Called with each alert right after it was committed.
pub type AlertHook = Box<dyn Fn(&Alert) + Send>;

/// How to run a job.
pub struct RunOptions {
    /// Set to stop the job cleanly.
    pub stop: Arc<AtomicBool>,
    /// Shared counters (the caller may watch them).
    pub stats: Arc<JobStats>,
    /// Optional alert hook (the demo prints alerts with it).
    pub on_alert: Option<AlertHook>,
    /// Log a progress line this often (None: never).
    pub progress_every: Option<Duration>,
    /// Create missing topics through the admin API before starting (off for brokers without
    /// CreateTopics, such as the demo's mock cluster).
    pub create_topics: bool,
    /// The HTTP server's shared state, to publish readiness and gauges into.
    pub http: Option<crate::http::HttpState>,
}

impl RunOptions {
    /// Options with a fresh stop flag and counters.
    pub fn new() -> Self {
        RunOptions {
            stop: Arc::new(AtomicBool::new(false)),
            stats: Arc::new(JobStats::new()),
            on_alert: None,
            progress_every: None,
            create_topics: true,
            http: None,
        }
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs the job until `opts.stop` is set; returns the final counters. Without a model only the
/// data-quality checks raise alerts.
pub async fn run(
    cfg: JobConfig,
    model: Option<ModelArtifact>,
    opts: RunOptions,
) -> Result<StatsSnapshot, PipelineError> {
    // plans the feature SQL and checks the model once, before touching Kafka
    Engine::new(&cfg, model.clone(), opts.stats.clone()).await?;
    let k = &cfg.kafka;
    let mut topics: Vec<(&str, i32)> = vec![
        (k.alert_topic.as_str(), 1),
        (k.dead_letter_topic.as_str(), 1),
        (k.late_topic.as_str(), 1),
    ];
    if let Some(t) = &k.features_topic {
        topics.push((t.as_str(), 1));
    }
    topics.push((k.shadow_topic.as_str(), 1));
    topics.push((k.control_topic.as_str(), 1));
    topics.extend(k.input_topics.iter().map(|t| (t.as_str(), 1)));
    let changelog_partitions = if opts.create_topics {
        ensure_topics(&k.brokers, &topics).await?;
        if let Some(t) = &cfg.registry_topic {
            crate::kafka::ensure_compacted_topic(&k.brokers, t).await?;
        }
        let mut most = 1;
        for t in &k.input_topics {
            most = most.max(changelog::partition_count(&k.brokers, t)?);
        }
        changelog::ensure_changelog(&k.brokers, &k.changelog_topic, most).await?
    } else {
        changelog::partition_count(&k.brokers, &k.changelog_topic).unwrap_or(1)
    };
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        run_blocking(cfg, model, opts, changelog_partitions, handle)
    })
    .await
    .map_err(|e| PipelineError::Data(format!("job thread failed: {e}")))?
}

/// The transactional id of this instance: stable when the instance is named (a restart fences
/// its predecessor at once), otherwise unique per start.
fn transactional_id(cfg: &JobConfig) -> String {
    match &cfg.kafka.instance_id {
        Some(i) => format!("{}-{i}", cfg.kafka.group_id),
        None => format!("{}-{}-{}", cfg.kafka.group_id, std::process::id(), now_ms()),
    }
}

/// One input partition's processing state.
struct Task {
    engine: Engine,
    /// Something changed since the last commit (state or progress).
    dirty: bool,
    /// Next offset to read, once a record was processed.
    next_offset: Option<i64>,
    /// Records below this offset are already part of the restored state (at-least-once: the
    /// snapshot was written but the offsets were not committed); they are skipped.
    skip_below: Option<i64>,
    /// UPDATE records the control state made for restored firing alerts, not yet queued.
    control_updates: Vec<Alert>,
}

/// Every task of this instance, the output producer and what a commit needs.
struct TaskSet {
    cfg: JobConfig,
    tasks: BTreeMap<(String, i32), Task>,
    model: Option<ModelArtifact>,
    shadow: Option<ModelArtifact>,
    sink: Sink,
    txn_id: Option<String>,
    reader: ChangelogReader,
    changelog_partitions: i32,
    /// Outputs were queued since the last commit (in exactly-once mode: a transaction is open).
    open: bool,
    /// Alerts queued since the last commit, for the hook.
    committed_hook: Vec<Alert>,
    /// When the batch being processed started (the closing of its windows), and (exactly-once)
    /// that instant for every alert queued since the last commit: their close-to-commit
    /// latency. At-least-once the sink records it when the broker acknowledges the alert.
    batch_started: Option<Instant>,
    queued_at: Vec<Instant>,
    on_alert: Option<AlertHook>,
    stats: Arc<JobStats>,
    rt: tokio::runtime::Handle,
    /// A commit made in the rebalance hook failed: recover before going on.
    failed: Option<PipelineError>,
    last_commit: Instant,
    /// Acknowledgements and silences read from the control topic.
    control: Arc<ControlBook>,
    /// The live view the dashboard serves, when there is an HTTP server.
    dashboard: Option<Arc<Mutex<crate::dashboard::DashboardBook>>>,
}

/// Locks the task set, whatever a panicking holder left behind.
fn lock(set: &Mutex<TaskSet>) -> MutexGuard<'_, TaskSet> {
    set.lock().unwrap_or_else(|p| p.into_inner())
}

impl TaskSet {
    /// Publishes readiness and gauges for `/readyz`, `/metrics` and OpenTelemetry: lag against
    /// each owned partition's high watermark (one broker query per partition), the models in
    /// use, state sizes. Called every few seconds, never per batch.
    fn publish(
        &self,
        h: Option<&crate::http::HttpState>,
        consumer: &BaseConsumer<SourceContext>,
        ready: bool,
    ) {
        let lag: Vec<(String, i32, i64)> = self
            .tasks
            .iter()
            .filter_map(|((t, p), task)| {
                let (_, high) = consumer
                    .fetch_watermarks(t, *p, Duration::from_millis(500))
                    .ok()?;
                let pos = task.next_offset?;
                (high >= 0).then(|| (t.clone(), *p, (high - pos).max(0)))
            })
            .collect();
        let g = crate::prometheus::Gauges {
            lag,
            model: self
                .model
                .as_ref()
                .map(|m| (m.name.clone(), m.version.clone())),
            shadow: self.shadow.as_ref().map(|m| m.version.clone()),
            partitions: self.tasks.len(),
            buffered_readings: self.tasks.values().map(|t| t.engine.buffered_rows()).sum(),
            assets: self.tasks.values().map(|t| t.engine.tracked_assets()).sum(),
            ready,
        };
        self.stats.record_gauges(&g);
        if let Some(h) = h {
            h.publish(|x| *x = g);
        }
    }

    /// Opens the output transaction if none is open.
    fn open(&mut self) -> Result<(), PipelineError> {
        if !self.open {
            self.sink.begin()?;
            self.open = true;
        }
        Ok(())
    }

    /// The task of `topic`/`partition`, restored from its changelog snapshot when new.
    fn task(&mut self, topic: &str, partition: i32, wall: i64) -> Result<&mut Task, PipelineError> {
        let key = (topic.to_string(), partition);
        if !self.tasks.contains_key(&key) {
            let mut engine = self.rt.block_on(Engine::new(
                &self.cfg,
                self.model.clone(),
                self.stats.clone(),
            ))?;
            engine.set_shadow(self.shadow.clone())?;
            let mut skip_below = None;
            if let Some(r) = self.reader.restore(topic, partition)? {
                skip_below = r.offset;
                engine
                    .restore_parts(&r.head, &r.segments, wall)
                    .map_err(|e| {
                        PipelineError::Data(format!(
                            "the changelog snapshot of {topic}/{partition} cannot be restored: {e}"
                        ))
                    })?;
                let bytes = r.head.len() + r.segments.values().map(Vec::len).sum::<usize>();
                info!(topic, partition, bytes, segments = r.segments.len(), watermark = ?engine.watermark(), "task state restored");
            }
            engine.assign([0], wall);
            engine.keep_scores(self.dashboard.is_some());
            let control_updates = engine.apply_control(self.control.clone());
            self.tasks.insert(
                key.clone(),
                Task {
                    engine,
                    dirty: false,
                    next_offset: skip_below,
                    skip_below,
                    control_updates,
                },
            );
        }
        self.tasks
            .get_mut(&key)
            .ok_or_else(|| PipelineError::Data("task vanished".into()))
    }

    /// Applies a new control state (when given) to every task and queues the UPDATE records of
    /// the firing alerts it changes, and those of newly restored tasks.
    fn apply_control(&mut self, book: Option<Arc<ControlBook>>) -> Result<(), PipelineError> {
        if let Some(b) = &book {
            self.control = b.clone();
        }
        let mut ups = Vec::new();
        for t in self.tasks.values_mut() {
            let mut u = std::mem::take(&mut t.control_updates);
            if let Some(b) = &book {
                u.extend(t.engine.apply_control(b.clone()));
            }
            if !u.is_empty() {
                t.dirty = true;
                ups.extend(u);
            }
        }
        if ups.is_empty() {
            return Ok(());
        }
        info!(
            updates = ups.len(),
            "acknowledgements and silences applied to firing alerts"
        );
        self.batch_started = Some(Instant::now());
        let step = Step {
            alerts: ups,
            ..Step::default()
        };
        self.emit(&step, &[]).map(|_| ())
    }

    /// Queues a step's outputs; returns whether any were queued.
    fn emit(&mut self, step: &Step, engine_names: &[String]) -> Result<bool, PipelineError> {
        let mut produced = false;
        for f in &step.features {
            if self.cfg.kafka.features_topic.is_some() && f.num_rows() > 0 {
                self.open()?;
                produced |= self.sink.features(f, engine_names)? > 0;
            }
        }
        if !step.alerts.is_empty() || !step.shadow_alerts.is_empty() {
            self.open()?;
            produced = true;
        }
        let started = self.batch_started.unwrap_or_else(Instant::now);
        // at-least-once, an alert is visible once acknowledged: the sink times it then
        let acked = (!self.sink.transactional()).then_some(started);
        for a in &step.alerts {
            self.sink.alert(a, acked)?;
        }
        if !step.alerts.is_empty() {
            let n = step.alerts.len() as u64;
            self.stats
                .close_to_send_exact
                .record_n(started.elapsed(), n);
        }
        for a in &step.shadow_alerts {
            self.sink.shadow_alert(a)?;
        }
        if self.on_alert.is_some() || self.dashboard.is_some() {
            self.committed_hook.extend(step.alerts.iter().cloned());
        }
        if let Some(d) = &self.dashboard {
            if !step.scores.is_empty() {
                if let Ok(mut d) = d.lock() {
                    d.scores(&step.scores);
                }
            }
        }
        self.stats.record_alert_records(&step.alerts);
        if acked.is_none() {
            // exactly-once: visible at the commit of their transaction
            self.queued_at
                .extend(std::iter::repeat_n(started, step.alerts.len()));
        }
        Ok(produced)
    }

    /// Processes one partition's records of a poll batch.
    fn process(
        &mut self,
        topic: &str,
        partition: i32,
        msgs: &[&Record<'_>],
        wall: i64,
    ) -> Result<(), PipelineError> {
        let rt = self.rt.clone();
        self.batch_started = Some(Instant::now());
        let task = self.task(topic, partition, wall)?;
        let fresh: Vec<&Record<'_>>;
        let msgs = match task.skip_below {
            Some(o) if msgs.first().is_some_and(|m| m.offset() < o) => {
                fresh = msgs.iter().copied().filter(|m| m.offset() >= o).collect();
                &fresh[..]
            }
            _ => msgs,
        };
        if msgs.is_empty() {
            return Ok(());
        }
        let mut keyless: Vec<&Record<'_>> = Vec::new();
        let keyed: Vec<&Record<'_>>;
        let msgs = if self.cfg.kafka.require_key && msgs.iter().any(|m| m.key().is_none()) {
            let (k, n): (Vec<_>, Vec<_>) = msgs.iter().copied().partition(|m| m.key().is_some());
            keyed = k;
            keyless = n;
            &keyed[..]
        } else {
            msgs
        };
        // one span per batch, a child of the first upstream trace context it carries
        let traces = trace::of_records(msgs, trace::MAX_LINKS + 1);
        let span = tracing::info_span!(
            "vigil.batch",
            topic = topic,
            partition = partition,
            records = msgs.len()
        );
        if let Some((first, rest)) = traces.split_first() {
            let parent = opentelemetry::Context::new().with_remote_span_context(first.clone());
            let _ = span.set_parent(parent);
            rest.iter().for_each(|l| span.add_link(l.clone()));
        }
        let _entered = span.enter();
        let task = self
            .tasks
            .get_mut(&(topic.to_string(), partition))
            .ok_or_else(|| PipelineError::Data("task vanished".into()))?;
        task.engine
            .set_upstream_trace(traces.first().and_then(trace::render));
        let decoded = task.engine.decode(msgs.iter().map(|m| m.payload()))?;
        let decoded_at = Instant::now();
        let (close0, close_cpu0) = (self.stats.scoring.sum_us(), self.stats.scoring_cpu.sum_us());
        if !decoded.dead.is_empty() {
            // a partition that delivers only bad records is not idle
            task.engine.touch(0, wall);
        }
        let sources = vec![0u32; decoded.batch.num_rows()];
        let step = rt.block_on(task.engine.process_unfolded(&decoded.batch, &sources, wall))?;
        let processed_at = Instant::now();
        // made only when used: every run of every batch passes here
        let late_detail = (!step.late_rows.is_empty()).then(|| {
            format!(
                "every window of this reading had closed (watermark {} ms, allowed lateness {} ms)",
                task.engine
                    .watermark()
                    .map_or("-".into(), |w| w.to_string()),
                task.engine.event_time().config().allowed_lateness_ms
            )
        });
        let names = if self.cfg.kafka.features_topic.is_some() && !step.features.is_empty() {
            task.engine.features().feature_names().to_vec()
        } else {
            Vec::new()
        };
        task.dirty = true;
        task.next_offset = task.next_offset.max(msgs.last().map(|m| m.offset() + 1));
        task.next_offset = task
            .next_offset
            .max(keyless.iter().map(|m| m.offset() + 1).max());
        if !decoded.dead.is_empty()
            || !step.late_rows.is_empty()
            || !step.limited_rows.is_empty()
            || !keyless.is_empty()
        {
            self.open()?;
        }
        for d in &decoded.dead {
            self.sink
                .dead_letter(&dead_letter(msgs[d.index], d.reason, &d.detail))?;
        }
        for m in &keyless {
            self.stats.record_dead(RejectReason::NullKey);
            let detail = "the record has no key; the job requires records keyed by asset id";
            self.sink
                .dead_letter(&dead_letter(m, RejectReason::NullKey, detail))?;
        }
        let limit_detail = (!step.limited_rows.is_empty()).then(|| {
            format!(
                "this input partition already tracks [limits] max_assets = {} assets",
                self.cfg.limits.max_assets
            )
        });
        let limit_detail = limit_detail.as_deref().unwrap_or_default();
        let late_detail = late_detail.as_deref().unwrap_or_default();
        for row in &step.limited_rows {
            let idx = decoded.rows[*row as usize] as usize;
            self.sink.dead_letter(&dead_letter(
                msgs[idx],
                RejectReason::AssetLimit,
                limit_detail,
            ))?;
        }
        for row in &step.late_rows {
            let idx = decoded.rows[*row as usize] as usize;
            self.sink
                .late(&dead_letter(msgs[idx], RejectReason::Late, late_detail))?;
        }
        self.emit(&step, &names)?;
        if !step.alerts.is_empty() {
            if let Some(started) = self.batch_started {
                let us = |d: std::time::Duration| d.as_micros() as u64;
                self.stats.record_run(crate::metrics::RunBreakdown {
                    total_us: us(started.elapsed()),
                    decode_us: us(decoded_at.saturating_duration_since(started)),
                    process_us: us(processed_at - decoded_at),
                    close_us: self.stats.scoring.sum_us().saturating_sub(close0),
                    close_cpu_us: self.stats.scoring_cpu.sum_us().saturating_sub(close_cpu0),
                    emit_us: us(processed_at.elapsed()),
                });
            }
        }
        // open panes fold only once the alerts are on their way
        if let Some(task) = self.tasks.get_mut(&(topic.to_string(), partition)) {
            rt.block_on(task.engine.fold())?;
        }
        Ok(())
    }

    /// Lets event time of the tasks not in `busy` move by the wall clock (idle partitions).
    fn tick_others(
        &mut self,
        busy: &BTreeMap<(&str, i32), Vec<usize>>,
        wall: i64,
    ) -> Result<(), PipelineError> {
        self.batch_started = Some(Instant::now());
        let keys: Vec<(String, i32)> = self
            .tasks
            .keys()
            .filter(|(t, p)| !busy.contains_key(&(t.as_str(), *p)))
            .cloned()
            .collect();
        for key in keys {
            let rt = self.rt.clone();
            let Some(task) = self.tasks.get_mut(&key) else {
                continue;
            };
            task.engine.set_upstream_trace(None);
            let step = rt.block_on(task.engine.tick(wall))?;
            let names = task.engine.features().feature_names().to_vec();
            let changed = !step.alerts.is_empty() || !step.features.is_empty();
            if changed {
                task.dirty = true;
            }
            self.emit(&step, &names)?;
        }
        Ok(())
    }

    /// Commits everything processed since the last commit: the changed tasks' snapshots go to
    /// the changelog, then outputs, snapshots and offsets commit atomically (exactly-once) or
    /// are flushed before the offsets are committed (at-least-once).
    fn commit(&mut self, consumer: &BaseConsumer<SourceContext>) -> Result<(), PipelineError> {
        self.last_commit = Instant::now();
        if !self.open && !self.tasks.values().any(|t| t.dirty) {
            return Ok(());
        }
        self.open()?;
        if !self.sink.transactional() {
            // at-least-once: outputs first, then the state, then the offsets
            self.sink.flush(Duration::from_secs(30))?;
        }
        let writing = Instant::now();
        let mut offsets = TopicPartitionList::new();
        let n = self.changelog_partitions;
        for ((topic, p), t) in self.tasks.iter_mut().filter(|(_, t)| t.dirty) {
            let delta = t.engine.snapshot_delta()?;
            self.stats.record_state_written(delta.bytes());
            self.sink.changelog_delta(
                &changelog::key(topic, *p),
                changelog::partition_of(*p, n),
                &delta,
                t.next_offset,
            )?;
            if let Some(o) = t.next_offset {
                offsets.add_partition_offset(topic, *p, Offset::Offset(o))?;
            }
        }
        let committing = Instant::now();
        self.stats
            .record_phase(Phase::Changelog, committing - writing);
        if self.sink.transactional() {
            let group = consumer.group_metadata().ok_or_else(|| {
                PipelineError::Data("the consumer has no group metadata to commit with".into())
            })?;
            self.sink.commit(&offsets, &group)?;
        } else {
            self.sink.flush(Duration::from_secs(30))?;
            if offsets.count() > 0 {
                consumer.commit(&offsets, CommitMode::Sync)?;
            }
        }
        self.stats.record_phase(Phase::Commit, committing.elapsed());
        self.open = false;
        self.tasks.values_mut().for_each(|t| t.dirty = false);
        if let Some(hook) = &self.on_alert {
            self.committed_hook.iter().for_each(|a| hook(a));
        }
        if let Some(d) = &self.dashboard {
            if let Ok(mut d) = d.lock() {
                d.alerts(&self.committed_hook);
            }
        }
        self.committed_hook.clear();
        for t in self.queued_at.drain(..) {
            self.stats.record_close_to_alert(t.elapsed());
        }
        self.stats.record_commit();
        Ok(())
    }

    /// After a failed commit: aborts the transaction (or replaces a producer that cannot
    /// abort), drops every task and rewinds the consumer to the committed offsets, from which
    /// the tasks are restored again, consistently with the changelog.
    fn recover(&mut self, source: &Source, why: &PipelineError) -> Result<(), PipelineError> {
        warn!(error = %why, "commit failed: aborting and resuming from the last commit");
        self.stats.record_recovery();
        if self.sink.transactional() && self.open && self.sink.abort().is_err() {
            let mut wait = Duration::from_millis(200);
            self.sink = loop {
                match Sink::new(&self.cfg.kafka, self.txn_id.as_deref(), self.stats.clone()) {
                    Ok(s) => break s,
                    Err(e) if wait < Duration::from_secs(30) => {
                        warn!(error = %e, "output producer not ready yet");
                        std::thread::sleep(wait);
                        wait *= 2;
                    }
                    Err(e) => return Err(e),
                }
            };
        }
        self.open = false;
        self.committed_hook.clear();
        self.queued_at.clear();
        self.tasks.clear();
        let consumer = source.consumer();
        let assigned = consumer.assignment()?;
        if assigned.count() == 0 {
            return Ok(());
        }
        let committed = consumer.committed_offsets(assigned, Duration::from_secs(30))?;
        for e in committed.elements() {
            let to = match e.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            consumer.seek(e.topic(), e.partition(), to, Duration::from_secs(10))?;
        }
        Ok(())
    }
}

/// Commits the work of partitions about to be revoked and drops their tasks; their next owner
/// restores them from the changelog.
struct Handover(Arc<Mutex<TaskSet>>);

impl RebalanceHook for Handover {
    fn revoking(&self, consumer: &BaseConsumer<SourceContext>, revoked: &[(String, i32)]) {
        let mut set = lock(&self.0);
        if let Err(e) = set.commit(consumer) {
            warn!(error = %e, "commit before revocation failed");
            if set.sink.transactional() && set.open {
                let _ = set.sink.abort();
            }
            set.open = false;
            set.tasks.clear();
            set.failed = Some(e);
        }
        for (t, p) in revoked {
            set.tasks.remove(&(t.clone(), *p));
        }
        info!(partitions = ?revoked, "partitions revoked");
    }
}

fn run_blocking(
    cfg: JobConfig,
    model: Option<ModelArtifact>,
    opts: RunOptions,
    changelog_partitions: i32,
    rt: tokio::runtime::Handle,
) -> Result<StatsSnapshot, PipelineError> {
    let exactly_once = cfg.kafka.delivery == Delivery::ExactlyOnce;
    let txn_id = exactly_once.then(|| transactional_id(&cfg));
    let sink = Sink::new(&cfg.kafka, txn_id.as_deref(), opts.stats.clone())?;
    let reader = ChangelogReader::new(
        &cfg.kafka.brokers,
        &cfg.kafka.changelog_topic,
        changelog_partitions,
    )?;
    let instance = cfg
        .kafka
        .instance_id
        .as_ref()
        .map(|i| format!("{}-{i}", cfg.kafka.group_id));
    // the whole control topic first, so the first alerts already carry the silences
    let mut control = ControlClient::new(&cfg.kafka.brokers, &cfg.kafka.control_topic)?;
    let n = control.catch_up(Duration::from_secs(10))?;
    if n > 0 {
        info!(records = n, topic = %cfg.kafka.control_topic, "control state read");
    }
    let set = Arc::new(Mutex::new(TaskSet {
        cfg: cfg.clone(),
        tasks: BTreeMap::new(),
        model,
        shadow: None,
        sink,
        txn_id,
        reader,
        changelog_partitions,
        open: false,
        committed_hook: Vec::new(),
        batch_started: None,
        queued_at: Vec::new(),
        on_alert: opts.on_alert,
        stats: opts.stats.clone(),
        rt: rt.clone(),
        failed: None,
        last_commit: Instant::now(),
        control: Arc::new(control.book.clone()),
        dashboard: opts.http.as_ref().map(|h| h.dashboard.clone()),
    }));
    let hook: Arc<dyn RebalanceHook> = Arc::new(Handover(set.clone()));
    let source = Source::new(&cfg.kafka, instance.as_deref(), Some(hook))?;
    let timeout = Duration::from_millis(cfg.kafka.batch_timeout_ms);
    let interval = Duration::from_millis(cfg.kafka.commit_interval_ms);
    let mut last_progress = Instant::now();
    let mut last_publish: Option<Instant> = None;
    let mut published_ready = false;
    let mut seen_epoch = u64::MAX;
    let mut registry = match &cfg.registry_topic {
        Some(t) => Some(RegistryClient::new(&cfg.kafka.brokers, t)?),
        None => None,
    };
    info!(job = %cfg.name, topics = ?cfg.kafka.input_topics, delivery = ?cfg.kafka.delivery, "job started");
    let mut control_changed = false;
    if let Some(Ok(mut d)) = opts.http.as_ref().map(|h| h.dashboard.lock()) {
        d.set_job(&cfg.name);
    }
    while !opts.stop.load(Ordering::Relaxed) {
        if let Some(r) = registry.as_mut() {
            if r.poll() > 0 {
                follow_registry(&mut lock(&set), r, &cfg.model_name);
            }
        }
        if control.poll() > 0 {
            control_changed = true;
        }
        let polling = Instant::now();
        let msgs = source.poll_batch(cfg.kafka.max_batch, timeout);
        opts.stats.record_phase(Phase::Poll, polling.elapsed());
        let wall = now_ms();
        let mut guard = lock(&set);
        let s = &mut *guard;
        if let Some(e) = s.failed.take() {
            s.recover(&source, &e)?;
            continue;
        }
        if source.epoch() != seen_epoch {
            // a rebalance: every assigned partition gets its task (idle ones too)
            seen_epoch = source.epoch();
            let assigned = source.assignment().unwrap_or_default();
            info!(partitions = ?assigned, "partitions assigned");
            for (t, p) in &assigned {
                s.task(t, *p, wall)?;
            }
        }
        // new control records, and the updates of tasks restored with firing alerts
        s.apply_control(control_changed.then(|| Arc::new(control.book.clone())))?;
        control_changed = false;
        if let Some(every) = opts.progress_every {
            if last_progress.elapsed() >= every {
                last_progress = Instant::now();
                let st = opts.stats.snapshot();
                info!(
                    readings = st.readings,
                    dead = st.dead_letters,
                    windows = st.windows,
                    alerts = st.alerts,
                    tasks = s.tasks.len(),
                    "progress"
                );
            }
        }
        opts.stats.record_polled(msgs.len());
        let by_partition = by_partition(&msgs);
        let processing = Instant::now();
        for ((topic, p), idx) in &by_partition {
            for run in idx.chunks(ENGINE_RUN) {
                let part: Vec<&Record<'_>> = run.iter().map(|i| &msgs[*i]).collect();
                s.process(topic, *p, &part, wall)?;
            }
        }
        let ticking = Instant::now();
        opts.stats
            .record_phase(Phase::Process, ticking - processing);
        s.tick_others(&by_partition, wall)?;
        opts.stats.record_phase(Phase::Tick, ticking.elapsed());
        // alerts waiting for a transaction (or for the hook) are committed at once (at most one
        // such commit per ALERT_COMMIT_SPACING); everything else every commit_interval.
        // At-least-once alerts need no commit to be seen: they are out once acknowledged
        let since = s.last_commit.elapsed();
        // (the hook and the dashboard see alerts at a commit, in both modes)
        let waiting = !s.queued_at.is_empty() || !s.committed_hook.is_empty();
        if since >= interval || (waiting && since >= ALERT_COMMIT_SPACING) {
            if let Err(e) = s.commit(source.consumer()) {
                s.recover(&source, &e)?;
            }
        }
        if opts.http.is_some() || crate::telemetry::exporting() {
            // ready once the first assignment's state is restored; gauges every 5 s
            let ready = seen_epoch != u64::MAX && seen_epoch > 0;
            if last_publish.is_none_or(|t| t.elapsed() >= Duration::from_secs(5))
                || ready != published_ready
            {
                s.publish(opts.http.as_ref(), source.consumer(), ready);
                last_publish = Some(Instant::now());
                published_ready = ready;
            }
        }
    }
    if let Some(h) = &opts.http {
        h.publish(|g| g.ready = false);
    }
    let mut s = lock(&set);
    if let Err(e) = s.commit(source.consumer()) {
        warn!(error = %e, "final commit failed; the uncommitted records will be processed again");
    }
    info!(job = %cfg.name, "job stopped");
    Ok(opts.stats.snapshot())
}

fn dead_letter<'a>(
    m: &'a Record<'_>,
    reason: RejectReason,
    detail: &'a str,
) -> DeadLetterRecord<'a> {
    DeadLetterRecord {
        topic: m.topic(),
        partition: m.partition(),
        offset: m.offset(),
        key: m.key(),
        payload: m.payload(),
        reason,
        detail,
    }
}

/// Applies the registry's active and shadow versions of `name` to every task, between
/// batches: the windows closed before were scored by the old version, those after by the new.
fn follow_registry(set: &mut TaskSet, r: &RegistryClient, name: &str) {
    if let Some(a) = r.view.active(name) {
        if set.model.as_ref().map(|m| m.version.as_str()) != Some(a.version.as_str()) {
            let v = a.version.clone();
            let ok = set
                .tasks
                .values_mut()
                .try_for_each(|t| t.engine.set_model(a.clone()));
            match ok {
                Ok(()) => {
                    set.model = Some(a.clone());
                    info!(model = name, version = %v, "active model version swapped in")
                }
                Err(e) => {
                    if let Some(old) = set.model.clone() {
                        set.tasks.values_mut().for_each(|t| {
                            let _ = t.engine.set_model(old.clone());
                        });
                    }
                    warn!(model = name, version = %v, error = %e, "promoted version refused; keeping the current one")
                }
            }
        }
    }
    let want = r.view.shadow(name).cloned();
    let have = set.shadow.as_ref().map(|m| m.version.clone());
    if want.as_ref().map(|m| &m.version) != have.as_ref() {
        let ok = set
            .tasks
            .values_mut()
            .try_for_each(|t| t.engine.set_shadow(want.clone()));
        match ok {
            Ok(()) => {
                info!(model = name, shadow = ?want.as_ref().map(|m| &m.version), "shadow model set");
                set.shadow = want;
            }
            Err(e) => warn!(model = name, error = %e, "shadow version refused"),
        }
    }
}

/// The indices of a poll batch's records by input partition, in poll order. A batch holds long
/// runs of one partition, so a record of the same partition as the one before it is added
/// without a map lookup; topic names are borrowed from the records, not copied per record.
fn by_partition<'m>(msgs: &'m [Record<'_>]) -> BTreeMap<(&'m str, i32), Vec<usize>> {
    let mut out: BTreeMap<(&str, i32), Vec<usize>> = BTreeMap::new();
    let mut run: Option<((&str, i32), Vec<usize>)> = None;
    for (i, m) in msgs.iter().enumerate() {
        let key = (m.topic(), m.partition());
        match &mut run {
            Some((k, idx)) if *k == key => idx.push(i),
            _ => {
                if let Some((k, idx)) = run.replace((key, vec![i])) {
                    out.entry(k).or_default().extend(idx);
                }
            }
        }
    }
    if let Some((k, idx)) = run {
        out.entry(k).or_default().extend(idx);
    }
    out
}
