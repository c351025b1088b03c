//! `vigil bench kafka`: Vigil end to end against the raw rdkafka consumer, on one topic of the
//! real broker, in one run, side by side.
//!
//! 1. Loads N readings (JSON, keyed by asset id, 8 measurements each, one per asset and second
//!    of event time) onto a fresh topic.
//! 2. Reads them all with a plain `BaseConsumer` consume-and-drop loop (the client settings of
//!    Vigil's own source): the physical limit of this box.
//! 3. Runs the bench job (`runner::run`, exactly-once) over the same topic from offset 0 until
//!    every record is processed: decode, 10 s tumbling windows, 12 aggregates per asset,
//!    an EWMA baseline per asset, alerts, transactions, state changelog.
//! 4. Restarts the job on the same group after one anomalous reading was added: time from the
//!    start of `run` to the first committed alert (the state restore included).
//! 5. Window close to alert acknowledged at fixed shares of the rate of step 3
//!    (`bench_latency.rs`).
//!
//! CPU is this process's utime + stime over each phase (`/proc/self/stat`), the broker's is
//! read apart from `/proc/<pid>/stat`. Resident memory per asset comes from `vigil bench
//! memory`, run as child processes. Timings are printed, never asserted.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use vigil_schemas::Alert;

use crate::job::JobConfig;
use crate::kafka::{client_config, ensure_topics, RecordQueue};
use crate::runner::{run, RunOptions};
use crate::PipelineError;

/// The bench job's `max_batch`, also the raw batch loop's batch size.
const JOB_MAX_BATCH: usize = 20_000;

/// Shares of the end-to-end rate at which latency is measured.
pub const LOADS: [f64; 3] = [0.1, 0.5, 0.8];
/// Measurements of a bench reading.
pub const MEASUREMENTS: usize = 8;
/// Event-time start of the bench readings (2025-11-26T00:00:00Z).
pub(crate) const T0: i64 = 1_764_115_200_000;

/// What to measure.
#[derive(Debug, Clone)]
pub struct KafkaBenchOptions {
    /// Bootstrap servers of the real broker.
    pub brokers: String,
    /// Readings to load.
    pub readings: usize,
    /// Distinct assets.
    pub assets: usize,
    /// Partitions of the topic.
    pub partitions: i32,
    /// The broker's process id, for its CPU time (if known).
    pub broker_pid: Option<u32>,
    /// Print progress to stderr.
    pub progress: bool,
    /// Seconds sampled per fixed-load latency level (0: no latency levels).
    pub latency_seconds: u64,
    /// Plain aggregates run natively (`[features] native`; false: on DataFusion).
    pub native: bool,
}

/// One measured phase.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Phase {
    /// Records handled.
    pub records: u64,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// CPU seconds of this process (utime + stime).
    pub cpu_s: f64,
    /// CPU seconds of the broker over the phase, if its pid is known.
    pub broker_cpu_s: Option<f64>,
}

impl Phase {
    /// Records per wall-clock second.
    pub fn per_s(&self) -> f64 {
        self.records as f64 / self.wall_s.max(1e-9)
    }

    /// Records per CPU-second of this process.
    pub fn per_cpu_s(&self) -> f64 {
        self.records as f64 / self.cpu_s.max(1e-9)
    }
}

/// What one run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KafkaBenchReport {
    /// Loading the topic.
    pub load: Phase,
    /// The raw consume-and-drop loop.
    pub raw: Phase,
    /// The same loop taking records in batches from a queue of its own, as the job does.
    pub raw_batch: Phase,
    /// Vigil end to end.
    pub e2e: Phase,
    /// Windows closed and alerts raised end to end.
    pub windows: u64,
    /// Alerts committed end to end.
    pub alerts: u64,
    /// Commits (transactions) end to end.
    pub commits: u64,
    /// Where the job thread's wall time went end to end: seconds per phase
    /// ([`crate::metrics::Phase`]).
    pub job_seconds: Vec<(&'static str, f64)>,
    /// From the start of the restarted job to its first committed alert, ms.
    pub restart_to_first_alert_ms: Option<f64>,
    /// Window close to alert acknowledged at 10 %, 50 % and 80 % of `latency_max`'s rate.
    pub latency: Vec<crate::bench_latency::LatencyLevel>,
    /// The latency workload (500 ms windows) caught up from offset 0: its maximum rate.
    pub latency_max: Option<Phase>,
    /// The topic (for peers run on it afterwards).
    pub topic: String,
}

/// CPU seconds (utime + stime) of a process from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the command name in parentheses (which may hold spaces)
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// Resident memory of this process, bytes (`/proc/self/status` VmRSS).
pub fn resident_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

struct Meter {
    start: Instant,
    cpu: f64,
    broker: Option<(String, f64)>,
}

impl Meter {
    fn start(broker_pid: Option<u32>) -> Self {
        let broker = broker_pid.and_then(|p| {
            let p = p.to_string();
            cpu_seconds(&p).map(|c| (p, c))
        });
        Meter {
            start: Instant::now(),
            cpu: cpu_seconds("self").unwrap_or(0.0),
            broker,
        }
    }

    fn stop(&self, records: u64) -> Phase {
        Phase {
            records,
            wall_s: self.start.elapsed().as_secs_f64(),
            cpu_s: cpu_seconds("self").unwrap_or(0.0) - self.cpu,
            broker_cpu_s: self
                .broker
                .as_ref()
                .and_then(|(p, c)| cpu_seconds(p).map(|n| n - c)),
        }
    }
}

/// The asset id of bench asset `i`.
pub fn asset_id(i: usize) -> String {
    format!("a{i:06}")
}

/// SplitMix64: a well-spread hash of `x` (the readings' noise).
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The payload of reading `i` (asset `i % assets`, second `i / assets`): eight smooth signals
/// with a little asset-specific offset; `spike` makes `m0` far out of range.
pub fn payload(i: usize, assets: usize, spike: bool) -> String {
    let (a, t) = (i % assets, i / assets);
    reading(a, T0 + t as i64 * 1000, i as u64, spike)
}

/// The payload of a reading of asset `a` at `ts` (ms), its noise drawn from `seed`.
///
/// Values are written from integer thousandths (`12.345`), and every number by
/// [`push_decimal`], not through `std::fmt`: the latency levels produce in the job's own
/// process, standing in for sensors on other machines, and the generator must cost little next
/// to the job it loads (with `write!` formatting it was most of the generator thread's time).
pub fn reading(a: usize, ts: i64, seed: u64, spike: bool) -> String {
    let mut s = String::with_capacity(160);
    s.push_str("{\"asset_id\":\"a");
    push_decimal(&mut s, a as u64, 6);
    s.push_str("\",\"ts\":");
    if ts < 0 {
        s.push('-');
    }
    push_decimal(&mut s, ts.unsigned_abs(), 1);
    s.push_str(",\"measurements\":{");
    for m in 0..MEASUREMENTS {
        let v = thousandths(a, m, seed, spike);
        s.push_str(if m > 0 { ",\"m" } else { "\"m" });
        push_decimal(&mut s, m as u64, 1);
        s.push_str("\":");
        push_decimal(&mut s, v / 1000, 1);
        s.push('.');
        push_decimal(&mut s, v % 1000, 3);
    }
    s.push_str("}}");
    s
}

/// Measurement `m` of a reading of asset `a`, in thousandths: 10 x (m + 1) + 0.1 x (a mod 7),
/// plus a wiggle in [0, 1) drawn from `seed`; 50 times the base for `m0` of a spike.
fn thousandths(a: usize, m: usize, seed: u64, spike: bool) -> u64 {
    let base = 10_000 * (m as u64 + 1) + 100 * (a as u64 % 7);
    if spike && m == 0 {
        base * 50
    } else {
        base + mix(seed * 8 + m as u64) % 1000
    }
}

/// Appends `v` in decimal, zero-padded to at least `width` digits (what `{v:0width$}` writes).
fn push_decimal(s: &mut String, mut v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    while v > 0 || buf.len() - i < width.clamp(1, 20) {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    s.extend(buf[i..].iter().map(|&b| char::from(b)));
}

/// The bench job's feature SQL: 12 aggregates per asset.
pub const SQL: &str = "SELECT asset_id,
  avg(m0) AS m0_mean, min(m0) AS m0_min, max(m0) AS m0_max, stddev(m0) AS m0_std,
  avg(m1) AS m1_mean, max(m1) AS m1_max, avg(m2) AS m2_mean, avg(m3) AS m3_mean,
  avg(m4) AS m4_mean, avg(m5) AS m5_mean, avg(m6) AS m6_mean, avg(m7) AS m7_mean
FROM readings GROUP BY asset_id";

/// The bench job file (written next to the SQL in `dir`): tumbling windows of `window` that
/// wait `out_of_order` for stragglers.
pub fn job_toml(
    topic: &str,
    brokers: &str,
    max_assets: usize,
    window: &str,
    out_of_order: &str,
    delivery: &str,
) -> String {
    let ms: Vec<String> = (0..MEASUREMENTS).map(|m| format!("\"m{m}\"")).collect();
    format!(
        r#"
[job]
name = "bench"
[kafka]
brokers = "{brokers}"
group_id = "{topic}-vigil"
input_topics = ["{topic}"]
alert_topic = "{topic}.alerts"
dead_letter_topic = "{topic}.dead-letter"
max_batch = {JOB_MAX_BATCH}
batch_timeout = "50ms"
commit_interval = "1s"
delivery = "{delivery}"
[fields]
measurements = [{}]
[window]
kind = "tumbling"
size = "{window}"
allowed_out_of_orderness = "{out_of_order}"
idle_timeout = "600s"
[features]
sql_file = "bench.sql"
[model]
artifact = "none.json"
[[baselines]]
feature = "m0_mean"
method = "ewma"
warmup = 3
limit = 6.0
[limits]
max_assets = {max_assets}
"#,
        ms.join(", ")
    )
}

fn progress(on: bool, what: &str, done: u64, total: u64) {
    if on {
        let pct = done as f64 * 100.0 / total.max(1) as f64;
        let bar = "#".repeat((pct / 2.5) as usize);
        eprint!("\r{what:<10} [{bar:<40}] {pct:5.1}% ({done}/{total})");
        if done >= total {
            eprintln!();
        }
    }
}

fn load(o: &KafkaBenchOptions, topic: &str) -> Result<Phase, PipelineError> {
    load_with(o, topic, o.readings, "load", |i| {
        (asset_id(i % o.assets), payload(i, o.assets, false))
    })
}

/// Loads `n` records made by `record(i)` (key, payload) onto `topic`.
pub(crate) fn load_with(
    o: &KafkaBenchOptions,
    topic: &str,
    n: usize,
    label: &str,
    record: impl Fn(usize) -> (String, String),
) -> Result<Phase, PipelineError> {
    let producer: ThreadedProducer<DefaultProducerContext> =
        client_config(&o.brokers, &Default::default())
            .set("linger.ms", "20")
            .set("batch.size", "1000000")
            .set("queue.buffering.max.kbytes", "1048576")
            .create()?;
    let m = Meter::start(o.broker_pid);
    for i in 0..n {
        let (key, p) = record(i);
        let mut rec = BaseRecord::to(topic).key(&key).payload(&p);
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((e, r))
                    if e.rdkafka_error_code()
                        == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                {
                    rec = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        if i % 100_000 == 0 {
            progress(o.progress, label, i as u64, n as u64);
        }
    }
    producer.flush(Duration::from_secs(300))?;
    progress(o.progress, label, n as u64, n as u64);
    Ok(m.stop(n as u64))
}

/// Runs `cfg` from offset 0 until it has polled `total` records; returns the phase (readings
/// decoded, wall and CPU time) and the job's final counters.
pub(crate) async fn catch_up(
    o: &KafkaBenchOptions,
    cfg: JobConfig,
    total: u64,
    label: &str,
) -> Result<(Phase, crate::metrics::StatsSnapshot), PipelineError> {
    let opts = RunOptions::new();
    let (stop, stats) = (opts.stop.clone(), opts.stats.clone());
    let m = Meter::start(o.broker_pid);
    let job_task = tokio::spawn(run(cfg, None, opts));
    let deadline = Instant::now() + Duration::from_secs(3600);
    while stats.snapshot().polled < total {
        if job_task.is_finished() || Instant::now() > deadline {
            break;
        }
        progress(o.progress, label, stats.snapshot().polled, total);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let snap = job_task
        .await
        .map_err(|e| PipelineError::Data(e.to_string()))??;
    let phase = m.stop(snap.readings);
    progress(o.progress, label, snap.polled, total);
    if snap.polled < total {
        return Err(PipelineError::Data(format!(
            "Vigil processed {} of {total} records",
            snap.polled
        )));
    }
    Ok((phase, snap))
}

/// The consume-and-drop loop with the source's client settings: rust-rdkafka's `poll`, one
/// record per call, or (`batch`) records taken in batches of the job's size from a queue the
/// partitions are routed to, as the job's source takes them.
fn raw(o: &KafkaBenchOptions, topic: &str, batch: bool) -> Result<Phase, PipelineError> {
    let label = if batch { "raw batch" } else { "raw" };
    let mut c = crate::kafka::consumer_config(&o.brokers, &Default::default());
    c.set("group.id", format!("{topic}-{}", label.replace(' ', "-")))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "50")
        .set("queued.min.messages", "20000");
    let consumer: BaseConsumer = c.create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..o.partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    // the batch loop's partitions are routed before the assignment, as the source does
    let queue = match batch {
        false => None,
        true => {
            let q = RecordQueue::new(consumer.client())
                .ok_or_else(|| PipelineError::Data("librdkafka made no queue".into()))?;
            for p in 0..o.partitions {
                if !q.route(consumer.client(), topic, p) {
                    return Err(PipelineError::Data(format!(
                        "partition {p} of {topic} could not be routed to the batch queue"
                    )));
                }
            }
            Some(q)
        }
    };
    consumer.assign(&tpl)?;
    let total = o.readings as u64;
    let m = Meter::start(o.broker_pid);
    let (mut n, mut bytes) = (0u64, 0usize);
    let deadline = Instant::now() + Duration::from_secs(1800);
    let mut shown = 0;
    let mut records = Vec::new();
    while n < total && Instant::now() < deadline {
        if let Some(queue) = &queue {
            consumer.poll(Duration::ZERO);
            queue.take(JOB_MAX_BATCH, Duration::from_millis(100), &mut records);
            for r in records.drain(..) {
                bytes += r.payload_len();
                n += 1;
            }
        } else if let Some(Ok(msg)) = consumer.poll(Duration::from_millis(100)) {
            bytes += msg.payload_len();
            n += 1;
        }
        if n >= shown + 200_000 {
            shown = n;
            progress(o.progress, label, n, total);
        }
    }
    progress(o.progress, label, n, total);
    let phase = m.stop(n);
    if n < total {
        return Err(PipelineError::Data(format!(
            "the {label} consumer read {n} of {total} records in 30 minutes"
        )));
    }
    std::hint::black_box(bytes);
    Ok(phase)
}

/// Runs the whole comparison (see the module doc). `dir` receives the job and SQL files.
pub async fn bench_kafka(
    o: &KafkaBenchOptions,
    dir: &std::path::Path,
) -> Result<KafkaBenchReport, PipelineError> {
    let topic = format!("vigil-bench-{}", crate::engine::now_ms());
    ensure_topics(&o.brokers, &[(topic.as_str(), o.partitions)]).await?;
    let mut cfg = bench_job(
        dir,
        &topic,
        &o.brokers,
        o.assets.max(1),
        "10s",
        "2s",
        "exactly-once",
    )?;
    cfg.native_aggregation = o.native;

    let load = load(o, &topic)?;
    let mut raws = Vec::new();
    for batch in [false, true] {
        let o = o.clone();
        let t = topic.clone();
        raws.push(
            tokio::task::spawn_blocking(move || raw(&o, &t, batch))
                .await
                .map_err(|e| PipelineError::Data(e.to_string()))??,
        );
    }
    let (raw_phase, raw_batch) = (raws[0], raws[1]);

    // Vigil end to end, from offset 0
    let (e2e, snap) = catch_up(o, cfg.clone(), o.readings as u64, "vigil").await?;

    // restart after one anomalous reading of asset 0 and 13 more seconds of it (its
    // partition's watermark passes the spike's window): time to that alert
    let next = o.readings.div_ceil(o.assets) * o.assets;
    let producer: ThreadedProducer<DefaultProducerContext> =
        client_config(&o.brokers, &Default::default()).create()?;
    for k in 0..14 {
        let i = next + k * o.assets;
        let p = payload(i, o.assets, k == 0);
        producer
            .send(BaseRecord::to(&topic).key(&asset_id(0)).payload(&p))
            .map_err(|(e, _)| PipelineError::from(e))?;
    }
    producer.flush(Duration::from_secs(60))?;
    let first: Arc<Mutex<Option<Instant>>> = Arc::default();
    let mut opts = RunOptions::new();
    let f = first.clone();
    opts.on_alert = Some(Box::new(move |a: &Alert| {
        if a.asset_id == asset_id(0) {
            if let Ok(mut g) = f.lock() {
                g.get_or_insert_with(Instant::now);
            }
        }
    }));
    let stop = opts.stop.clone();
    let started = Instant::now();
    let job_task = tokio::spawn(run(cfg, None, opts));
    let deadline = Instant::now() + Duration::from_secs(300);
    while first.lock().map(|g| g.is_none()).unwrap_or(false) && Instant::now() < deadline {
        if job_task.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = job_task.await;
    let restart = first
        .lock()
        .ok()
        .and_then(|g| *g)
        .map(|t| (t - started).as_secs_f64() * 1000.0);
    let mut latency = Vec::new();
    let mut latency_max = None;
    if o.latency_seconds > 0 {
        // the shares are of the latency workload's own maximum (its windows close 20 times
        // as often as the throughput workload's)
        let max = crate::bench_latency::max_rate(o, dir).await?;
        latency_max = Some(max);
        for delivery in crate::bench_latency::DELIVERIES {
            for load in LOADS {
                latency.push(
                    crate::bench_latency::latency_level(
                        o,
                        dir,
                        load,
                        max.per_s(),
                        o.latency_seconds,
                        delivery,
                    )
                    .await?,
                );
            }
        }
    }
    Ok(KafkaBenchReport {
        latency,
        latency_max,
        load,
        raw: raw_phase,
        raw_batch,
        e2e,
        windows: snap.windows,
        alerts: snap.alerts,
        commits: snap.commits,
        job_seconds: crate::metrics::Phase::ALL
            .iter()
            .map(|p| (p.name(), snap.phase_us(*p) as f64 / 1e6))
            .collect(),
        restart_to_first_alert_ms: restart,
        topic,
    })
}

/// Writes the bench job into `dir` and loads it.
pub fn bench_job(
    dir: &std::path::Path,
    topic: &str,
    brokers: &str,
    max_assets: usize,
    window: &str,
    out_of_order: &str,
    delivery: &str,
) -> Result<JobConfig, PipelineError> {
    std::fs::create_dir_all(dir).map_err(|e| PipelineError::io(dir, e))?;
    std::fs::write(dir.join("bench.sql"), SQL).map_err(|e| PipelineError::io(dir, e))?;
    let job = dir.join(format!("{topic}.toml"));
    std::fs::write(
        &job,
        job_toml(topic, brokers, max_assets, window, out_of_order, delivery),
    )
    .map_err(|e| PipelineError::io(&job, e))?;
    JobConfig::load(&job)
}

/// Resident memory (before, after) of feeding 25 s of readings of `assets` assets through the
/// bench job's engine: two windows closed, a third open, every asset's baseline state kept. Run
/// in a fresh process per asset count (`vigil bench memory`), so freed memory of one count does
/// not hide the next one's.
///
/// `settle` runs before each reading of the resident size: the binary passes its allocator's
/// collection (mimalloc gives freed pages back lazily, on later allocations, so without it the
/// same run read 980 MB or 1,414 MB at 1 M assets, depending on when the last purge ran).
pub async fn memory_run(assets: usize, settle: fn()) -> Result<(u64, u64), PipelineError> {
    let dir = std::env::temp_dir().join(format!("vigil-bench-mem-{}", std::process::id()));
    let cfg = bench_job(
        &dir,
        "mem",
        "127.0.0.1:9092",
        assets.max(1),
        "10s",
        "2s",
        "exactly-once",
    )?;
    settle();
    let before = resident_bytes().unwrap_or(0);
    let stats = Arc::new(crate::metrics::JobStats::new());
    let mut engine = crate::engine::Engine::new(&cfg, None, stats).await?;
    let decoder = vigil_schemas::BatchDecoder::new(cfg.mapping.clone())?;
    let total = assets * 25;
    let chunk = 50_000;
    let mut i = 0;
    while i < total {
        let ps: Vec<String> = (i..(i + chunk).min(total))
            .map(|j| payload(j, assets, false))
            .collect();
        let out = decoder.decode(ps.iter().map(|p| Some(p.as_bytes())))?;
        engine.process_all(&out.batch).await?;
        i += chunk;
    }
    settle();
    let after = resident_bytes().unwrap_or(0);
    eprintln!(
        "memory: {assets} assets: {} readings buffered raw",
        engine.buffered_rows()
    );
    std::hint::black_box(&engine);
    let _ = std::fs::remove_dir_all(&dir);
    Ok((before, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_decode_with_the_bench_job() {
        let dir = std::env::temp_dir().join(format!("vigil-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("bench.sql"), SQL).unwrap();
        std::fs::write(
            dir.join("job.toml"),
            job_toml("t", "127.0.0.1:9092", 10, "10s", "2s", "exactly-once"),
        )
        .unwrap();
        let cfg = JobConfig::load(&dir.join("job.toml")).expect("bench job is valid");
        let d = vigil_schemas::BatchDecoder::new(cfg.mapping.clone()).unwrap();
        let ps: Vec<String> = (0..30).map(|i| payload(i, 10, i == 20)).collect();
        let out = d.decode(ps.iter().map(|p| Some(p.as_bytes()))).unwrap();
        assert!(out.dead.is_empty(), "{:?}", out.dead);
        assert_eq!(out.batch.num_rows(), 30);
        assert!(payload(20, 10, true).contains("\"m0\":500."));
        assert_eq!(asset_id(7), "a000007");
    }

    /// What `reading` wrote with `std::fmt` before it formatted numbers itself.
    fn reading_by_format(a: usize, ts: i64, seed: u64, spike: bool) -> String {
        use std::fmt::Write;
        let mut s = format!("{{\"asset_id\":\"a{a:06}\",\"ts\":{ts},\"measurements\":{{");
        for m in 0..MEASUREMENTS {
            let v = thousandths(a, m, seed, spike);
            if m > 0 {
                s.push(',');
            }
            let _ = write!(s, "\"m{m}\":{}.{:03}", v / 1000, v % 1000);
        }
        s.push_str("}}");
        s
    }

    #[test]
    fn readings_are_written_as_std_fmt_writes_them() {
        for (i, a) in [0usize, 7, 99_999, 123_456, 9_999_999, 12_345_678]
            .into_iter()
            .enumerate()
        {
            for ts in [0i64, -5, 1_764_126_000_000, i64::MAX, i64::MIN + 1] {
                for seed in [0u64, 1, 41, 1 << 40, u64::MAX / 9] {
                    let spike = (i + seed as usize).is_multiple_of(3);
                    assert_eq!(
                        reading(a, ts, seed, spike),
                        reading_by_format(a, ts, seed, spike)
                    );
                }
            }
        }
        let mut s = String::new();
        push_decimal(&mut s, u64::MAX, 3);
        assert_eq!(s, u64::MAX.to_string());
    }

    #[test]
    fn reads_cpu_time_and_memory_of_this_process() {
        let c = cpu_seconds("self").expect("cpu");
        assert!(c >= 0.0);
        assert!(resident_bytes().expect("rss") > 1_000_000);
    }
}
