//! The streaming loop of `vigil run`: poll a batch, decode, window, score, produce, store offsets.
//!
//! One loop per job instance, on a dedicated thread (the Kafka client blocks); DataFusion work
//! runs on the Tokio runtime through a handle. Per batch: every rejected or late record goes to
//! the dead-letter topic with its reason and source coordinates; alerts go to the alert topic;
//! outputs are flushed; only then are the batch's offsets stored for commit (at-least-once).
//! The loop ends when the stop flag is set (SIGINT/SIGTERM), committing what was processed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::message::{BorrowedMessage, Message};
use tracing::info;
use vigil_models::ModelArtifact;
use vigil_schemas::{Alert, RejectReason};

use crate::engine::Engine;
use crate::job::JobConfig;
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

/// Runs the job until `opts.stop` is set; returns the final counters.
pub async fn run(
    cfg: JobConfig,
    model: ModelArtifact,
    opts: RunOptions,
) -> Result<StatsSnapshot, PipelineError> {
    let engine = Engine::new(&cfg, Some(model), opts.stats.clone()).await?;
    let k = &cfg.kafka;
    let mut topics: Vec<(&str, i32)> = vec![
        (k.alert_topic.as_str(), 1),
        (k.dead_letter_topic.as_str(), 1),
    ];
    topics.extend(k.input_topics.iter().map(|t| (t.as_str(), 1)));
    if opts.create_topics {
        ensure_topics(&k.brokers, &topics).await?;
    }
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || run_blocking(&cfg, engine, opts, &handle))
        .await
        .map_err(|e| PipelineError::Data(format!("job thread failed: {e}")))?
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
    info!(job = %cfg.name, topics = ?cfg.kafka.input_topics, "job started");
    while !opts.stop.load(Ordering::Relaxed) {
        let msgs = source.poll_batch(cfg.kafka.max_batch, timeout);
        if let Some(every) = opts.progress_every {
            if last_progress.elapsed() >= every {
                last_progress = Instant::now();
                let s = opts.stats.snapshot();
                info!(readings = s.readings, dead = s.dead_letters, windows = s.windows, alerts = s.alerts, watermark = ?engine.watermark(), "progress");
            }
        }
        if msgs.is_empty() {
            continue;
        }
        opts.stats.record_polled(msgs.len());
        let produced = process_batch(&mut engine, &msgs, &sink, rt, opts.on_alert.as_ref())?;
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
    sink: &Sink,
    rt: &tokio::runtime::Handle,
    on_alert: Option<&AlertHook>,
) -> Result<bool, PipelineError> {
    let decoded = engine.decode(msgs.iter().map(|m| m.payload()))?;
    let mut produced = !decoded.dead.is_empty();
    for d in &decoded.dead {
        sink.dead_letter(&dead_letter(&msgs[d.index], d.reason, &d.detail))?;
    }
    let step = rt.block_on(engine.process(&decoded.batch))?;
    if !step.late_rows.is_empty() {
        produced = true;
        let detail = format!(
            "all windows of this reading closed (watermark {} ms)",
            engine.watermark().map_or("-".into(), |w| w.to_string())
        );
        for row in &step.late_rows {
            let idx = decoded.rows[*row as usize] as usize;
            sink.dead_letter(&dead_letter(&msgs[idx], RejectReason::Late, &detail))?;
        }
    }
    for a in &step.alerts {
        produced = true;
        sink.alert(a)?;
    }
    if let Some(hook) = on_alert {
        if !step.alerts.is_empty() {
            sink.flush(Duration::from_secs(30))?;
            step.alerts.iter().for_each(|a| hook(a));
        }
    }
    Ok(produced)
}
