//! The streaming loop of `vigil run`: poll a batch, decode, window, score, produce, store offsets.
//!
//! One loop per job instance, on a dedicated thread (the Kafka client blocks); DataFusion work
//! runs on the Tokio runtime through a handle. Per batch: every rejected record goes to the
//! dead-letter topic and every late reading to the late-data topic, each with its reason and
//! source coordinates; alerts (anomaly and data quality) go to the alert topic; outputs are
//! flushed; only then are the batch's offsets stored for commit (at-least-once). Each input
//! partition is a watermark source: the loop follows the consumer's assignment so idle and
//! revoked partitions stop holding event time back, and polls without data still advance the
//! watermark by the wall clock when the whole input is idle. The loop ends when the stop flag is
//! set (SIGINT/SIGTERM), committing what was processed.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::message::{BorrowedMessage, Message};
use tracing::{info, warn};
use vigil_models::ModelArtifact;
use vigil_schemas::{Alert, RejectReason};

use crate::engine::{now_ms, Engine, Step};
use crate::job::JobConfig;
use crate::kafka::registry::RegistryClient;
use crate::kafka::{ensure_topics, DeadLetterRecord, Sink, Source};
use crate::metrics::{JobStats, StatsSnapshot};
use crate::PipelineError;

/// Called with each alert right after it was delivered.
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
    let engine = Engine::new(&cfg, model, opts.stats.clone()).await?;
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
    topics.extend(k.input_topics.iter().map(|t| (t.as_str(), 1)));
    if opts.create_topics {
        ensure_topics(&k.brokers, &topics).await?;
        if let Some(t) = &cfg.registry_topic {
            crate::kafka::ensure_compacted_topic(&k.brokers, t).await?;
        }
    }
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || run_blocking(&cfg, engine, opts, &handle))
        .await
        .map_err(|e| PipelineError::Data(format!("job thread failed: {e}")))?
}

/// Numbers input partitions as watermark sources and follows the consumer's assignment.
#[derive(Default)]
struct Sources {
    ids: HashMap<(String, i32), u32>,
    assigned: BTreeSet<u32>,
    last_sync: Option<Instant>,
}

impl Sources {
    fn id(&mut self, topic: &str, partition: i32) -> u32 {
        let next = self.ids.len() as u32;
        *self
            .ids
            .entry((topic.to_string(), partition))
            .or_insert(next)
    }

    /// Re-reads the assignment (at most once a second) and tells the engine what changed.
    fn sync(&mut self, source: &Source, engine: &mut Engine, wall: i64) {
        if self
            .last_sync
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.last_sync = Some(Instant::now());
        let Some(now) = source.assignment() else {
            return;
        };
        let now: BTreeSet<u32> = now.iter().map(|(t, p)| self.id(t, *p)).collect();
        let added: Vec<u32> = now.difference(&self.assigned).copied().collect();
        let removed: Vec<u32> = self.assigned.difference(&now).copied().collect();
        if !added.is_empty() {
            info!(partitions = ?added, "partitions assigned");
            engine.assign(added, wall);
        }
        if !removed.is_empty() {
            info!(partitions = ?removed, "partitions revoked");
            engine.revoke(removed);
        }
        self.assigned = now;
    }
}

fn run_blocking(
    cfg: &JobConfig,
    mut engine: Engine,
    opts: RunOptions,
    rt: &tokio::runtime::Handle,
) -> Result<StatsSnapshot, PipelineError> {
    let source = Source::new(&cfg.kafka)?;
    let sink = Sink::new(&cfg.kafka)?;
    let timeout = Duration::from_millis(cfg.kafka.batch_timeout_ms);
    let mut last_progress = Instant::now();
    let mut sources = Sources::default();
    let mut registry = match &cfg.registry_topic {
        Some(t) => Some(RegistryClient::new(&cfg.kafka.brokers, t)?),
        None => None,
    };
    info!(job = %cfg.name, topics = ?cfg.kafka.input_topics, "job started");
    while !opts.stop.load(Ordering::Relaxed) {
        if let Some(r) = registry.as_mut() {
            if r.poll() > 0 {
                follow_registry(&mut engine, r, &cfg.model_name);
            }
        }
        let msgs = source.poll_batch(cfg.kafka.max_batch, timeout);
        let wall = now_ms();
        sources.sync(&source, &mut engine, wall);
        if let Some(every) = opts.progress_every {
            if last_progress.elapsed() >= every {
                last_progress = Instant::now();
                let s = opts.stats.snapshot();
                info!(readings = s.readings, dead = s.dead_letters, windows = s.windows, alerts = s.alerts, watermark = ?engine.watermark(), "progress");
            }
        }
        if msgs.is_empty() {
            // No data: event time may still move (idle input), closing windows.
            let step = rt.block_on(engine.tick(wall))?;
            let names = engine.features().feature_names().to_vec();
            let mut produced = false;
            for f in &step.features {
                produced |= sink.features(f, &names)? > 0;
            }
            if emit_alerts(&step, &sink, opts.on_alert.as_ref())? || produced {
                sink.flush(Duration::from_secs(30))?;
            }
            continue;
        }
        opts.stats.record_polled(msgs.len());
        let produced = process_batch(
            &mut engine,
            &msgs,
            &mut sources,
            wall,
            &sink,
            rt,
            opts.on_alert.as_ref(),
        )?;
        if produced {
            sink.flush(Duration::from_secs(30))?;
        }
        source.store(&msgs)?;
    }
    sink.flush(Duration::from_secs(30))?;
    source.commit()?;
    info!(job = %cfg.name, "job stopped");
    Ok(opts.stats.snapshot())
}

fn dead_letter<'a>(
    m: &'a BorrowedMessage<'_>,
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

/// Processes one polled batch; returns whether anything was produced.
fn process_batch(
    engine: &mut Engine,
    msgs: &[BorrowedMessage<'_>],
    sources: &mut Sources,
    wall: i64,
    sink: &Sink,
    rt: &tokio::runtime::Handle,
    on_alert: Option<&AlertHook>,
) -> Result<bool, PipelineError> {
    let decoded = engine.decode(msgs.iter().map(|m| m.payload()))?;
    let mut produced = !decoded.dead.is_empty();
    for d in &decoded.dead {
        let m = &msgs[d.index];
        sink.dead_letter(&dead_letter(m, d.reason, &d.detail))?;
        // a partition that delivers only bad records is not idle
        let id = sources.id(m.topic(), m.partition());
        engine.touch(id, wall);
    }
    let row_sources: Vec<u32> = decoded
        .rows
        .iter()
        .map(|i| {
            let m = &msgs[*i as usize];
            sources.id(m.topic(), m.partition())
        })
        .collect();
    let step = rt.block_on(engine.process(&decoded.batch, &row_sources, wall))?;
    if !step.late_rows.is_empty() {
        produced = true;
        let detail = format!(
            "every window of this reading had closed (watermark {} ms, allowed lateness {} ms)",
            engine.watermark().map_or("-".into(), |w| w.to_string()),
            engine.event_time().config().allowed_lateness_ms
        );
        for row in &step.late_rows {
            let idx = decoded.rows[*row as usize] as usize;
            sink.late(&dead_letter(&msgs[idx], RejectReason::Late, &detail))?;
        }
    }
    let names = engine.features().feature_names();
    for f in &step.features {
        produced |= sink.features(f, names)? > 0;
    }
    produced |= emit_alerts(&step, sink, on_alert)?;
    Ok(produced)
}

/// Applies the registry's active and shadow versions of `name` to the engine, between
/// batches: the windows closed before were scored by the old version, those after by the new.
fn follow_registry(engine: &mut Engine, r: &RegistryClient, name: &str) {
    if let Some(a) = r.view.active(name) {
        if engine.model().map(|m| m.version.as_str()) != Some(a.version.as_str()) {
            let v = a.version.clone();
            match engine.set_model(a.clone()) {
                Ok(()) => info!(model = name, version = %v, "active model version swapped in"),
                Err(e) => {
                    warn!(model = name, version = %v, error = %e, "promoted version refused; keeping the current one")
                }
            }
        }
    }
    let want = r.view.shadow(name);
    let have = engine.shadow().map(|m| m.version.clone());
    if want.map(|m| &m.version) != have.as_ref() {
        match engine.set_shadow(want.cloned()) {
            Ok(()) => info!(model = name, shadow = ?want.map(|m| &m.version), "shadow model set"),
            Err(e) => warn!(model = name, error = %e, "shadow version refused"),
        }
    }
}

/// Queues a step's alerts (and runs the hook after they are delivered); returns whether any
/// were queued.
fn emit_alerts(
    step: &Step,
    sink: &Sink,
    on_alert: Option<&AlertHook>,
) -> Result<bool, PipelineError> {
    for a in &step.alerts {
        sink.alert(a)?;
    }
    for a in &step.shadow_alerts {
        sink.shadow_alert(a)?;
    }
    if let Some(hook) = on_alert {
        if !step.alerts.is_empty() {
            sink.flush(Duration::from_secs(30))?;
            step.alerts.iter().for_each(|a| hook(a));
        }
    }
    Ok(!step.alerts.is_empty() || !step.shadow_alerts.is_empty())
}
