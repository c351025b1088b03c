//! `vigil demo`: the main job end to end on one machine, with nothing installed.
//!
//! Unless `--brokers` is given, it starts librdkafka's *mock cluster*: an in-process broker that
//! speaks the Kafka protocol (good enough for a demo, not a real Kafka; the tests use a real
//! Apache Kafka broker). Then: a warm-up of normal plant history is simulated and written as a
//! JSONL history file; `vigil train` logic trains the model on it; the example job runs against
//! the broker while the simulator streams live telemetry in which some pumps develop faults (and
//! a few malformed messages are mixed in); alerts print as they fire; after `--duration` it
//! stops and summarises what it processed and which pumps alerted, against the injected faults.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use vigil_schemas::Alert;

use crate::engine::now_ms;
use crate::job::JobConfig;
use crate::kafka::{client_config, ensure_topics};
use crate::metrics::StatsSnapshot;
use crate::runner::{run, RunOptions};
use crate::sim::{Fault, FaultKind, PlantSim};
use crate::train::{train_from_files, TrainOptions};
use crate::PipelineError;

const JOB_TOML: &str = include_str!("../../examples/pump-fleet.toml");
const FEATURE_SQL: &str = include_str!("../../examples/pump_features.sql");

/// Demo settings.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Use this cluster instead of the embedded mock broker.
    pub brokers: Option<String>,
    /// Number of pumps.
    pub pumps: usize,
    /// Wall-clock run time of the live phase.
    pub duration: Duration,
    /// Event-time seconds simulated per wall-clock second.
    pub speed: f64,
    /// Seconds of event time between two readings of a pump.
    pub step_s: i64,
    /// Hours of normal history to train on.
    pub warmup_hours: f64,
    /// Random seed.
    pub seed: u64,
    /// Where to serve `/healthz`, `/readyz` and `/metrics` (None: no HTTP server).
    pub http: Option<std::net::SocketAddr>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            brokers: None,
            pumps: 50,
            duration: Duration::from_secs(60),
            speed: 60.0,
            step_s: 5,
            warmup_hours: 2.0,
            seed: 7,
            http: None,
        }
    }
}

/// What the demo saw.
#[derive(Debug)]
pub struct DemoSummary {
    /// Readings produced by the simulator (good ones).
    pub produced: u64,
    /// Malformed messages mixed in.
    pub bad_produced: u64,
    /// Final job counters.
    pub stats: StatsSnapshot,
    /// Alerts, in order.
    pub alerts: Vec<Alert>,
    /// Injected faults: asset, kind, start.
    pub faults: Vec<(String, FaultKind, i64)>,
}

fn hhmm(ms: i64) -> String {
    let s = ms.div_euclid(1000);
    format!("{:02}:{:02}", (s / 3600) % 24, (s / 60) % 60)
}

/// Runs the demo.
pub async fn run_demo(opts: DemoOptions) -> Result<DemoSummary, PipelineError> {
    let started = Instant::now();
    let mut mock = None;
    let brokers = match &opts.brokers {
        Some(b) => {
            println!("broker: {b} (given with --brokers)");
            b.clone()
        }
        None => {
            let cluster = MockCluster::new(1)?;
            let b = cluster.bootstrap_servers();
            println!("broker: embedded librdkafka mock cluster at {b}");
            println!("        (an in-process Kafka-protocol broker for this demo only: not Apache Kafka; tests use a real broker)");
            mock = Some(cluster);
            b
        }
    };

    // The example job, written to a scratch folder so it is loaded and validated like any job.
    let dir = std::env::temp_dir().join(format!("vigil-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| PipelineError::io(&dir, e))?;
    let job_path = dir.join("pump-fleet.toml");
    let unique = format!("demo-{}", now_ms());
    let job_text = JOB_TOML
        .replace("vigil-pump-fleet", &format!("vigil-{unique}"))
        .replace("plant.readings", &format!("{unique}.readings"))
        .replace("plant.alerts", &format!("{unique}.alerts"))
        .replace("plant.dead-letter", &format!("{unique}.dead-letter"))
        .replace("plant.late", &format!("{unique}.late"));
    write(&job_path, &job_text)?;
    write(&dir.join("pump_features.sql"), FEATURE_SQL)?;
    let cfg = JobConfig::load(&job_path)?.with_brokers(&brokers);

    // 1. Warm-up history (normal operation only) -> JSONL -> train.
    let step_ms = opts.step_s * 1000;
    let live_start = (now_ms() / 60_000) * 60_000;
    let warm_steps = ((opts.warmup_hours * 3600.0) as i64 / opts.step_s).max(1) as usize;
    let warm_start = live_start - warm_steps as i64 * step_ms;
    let history = dir.join("pump-history.jsonl");
    let mut sim = PlantSim::new(opts.pumps, opts.seed, warm_start, step_ms, vec![]);
    let mut text = Vec::new();
    for p in sim.payloads(warm_steps) {
        text.extend_from_slice(&p);
        text.push(b'\n');
    }
    std::fs::write(&history, &text).map_err(|e| PipelineError::io(&history, e))?;
    println!(
        "\ntraining on {:.1} h of normal history from {} pumps ({} readings)...",
        opts.warmup_hours,
        opts.pumps,
        warm_steps * opts.pumps
    );
    let report = train_from_files(&cfg, &[history.as_path()], &TrainOptions::for_job(&cfg)).await?;
    println!("{report}");
    report.artifact.save(&cfg.model_path)?;

    // 2. Live telemetry with faults, produced in the background.
    let live_minutes = opts.duration.as_secs_f64() * opts.speed / 60.0;
    let at = |frac: f64| live_start + (live_minutes * frac * 60_000.0) as i64;
    let mut faults = Vec::new();
    for (pump, kind, frac) in [
        (3usize, FaultKind::BearingWear, 0.15),
        (17, FaultKind::Cavitation, 0.25),
        (31, FaultKind::BearingWear, 0.35),
    ] {
        if pump < opts.pumps {
            faults.push(Fault {
                pump,
                kind,
                start_ms: at(frac),
            });
        }
    }
    let fault_list: Vec<(String, FaultKind, i64)> = faults
        .iter()
        .map(|f| (PlantSim::asset_id(f.pump), f.kind, f.start_ms))
        .collect();
    println!(
        "\nlive for {:?} at {}x ({:.0} event minutes); faults will develop on:",
        opts.duration, opts.speed, live_minutes
    );
    for (a, k, s) in &fault_list {
        println!("  {a}: {k:?} from {}", hhmm(*s));
    }
    let input_topic = cfg.kafka.input_topics[0].clone();
    let topics = [
        (input_topic.as_str(), 1),
        (cfg.kafka.alert_topic.as_str(), 1),
        (cfg.kafka.dead_letter_topic.as_str(), 1),
        (cfg.kafka.late_topic.as_str(), 1),
        (cfg.kafka.changelog_topic.as_str(), 1),
        (cfg.kafka.shadow_topic.as_str(), 1),
        (cfg.kafka.control_topic.as_str(), 1),
    ];
    match &mock {
        // the mock cluster does not implement CreateTopics: create them on it directly
        Some(cluster) => {
            for (t, p) in topics {
                cluster.create_topic(t, p, 1)?;
            }
        }
        None => ensure_topics(&brokers, &topics).await?,
    }
    let producer: ThreadedProducer<DefaultProducerContext> =
        client_config(&brokers, &Default::default())
            .set("linger.ms", "20")
            .create()?;
    let live = PlantSim::new(
        opts.pumps,
        opts.seed.wrapping_add(1),
        live_start,
        step_ms,
        faults,
    );
    let (speed, duration) = (opts.speed, opts.duration);
    let feeder = std::thread::spawn(move || feed(live, producer, &input_topic, speed, duration));

    // 3. The job, printing alerts as they fire.
    let alerts = Arc::new(Mutex::new(Vec::<Alert>::new()));
    let mut run_opts = RunOptions::new();
    run_opts.create_topics = false;
    if let Some(addr) = opts.http {
        let state = crate::http::HttpState::new(run_opts.stats.clone());
        match crate::http::serve(addr, state.clone()).await {
            Ok(bound) => {
                println!(
                    "dashboard: http://{bound}/  (metrics and health: /metrics, /healthz, /readyz)"
                );
                run_opts.http = Some(state);
            }
            // a busy port must not spoil the demo
            Err(e) => println!("no HTTP server: {e}"),
        }
    }
    let sink = alerts.clone();
    run_opts.on_alert = Some(Box::new(move |a: &Alert| {
        if let Some(q) = &a.quality {
            println!(
                "DATA QUALITY {} {} {} at {}",
                a.asset_id,
                q.measurement(),
                q.name(),
                hhmm(a.window_end)
            );
            return;
        }
        let top: Vec<String> = a
            .top_features
            .iter()
            .map(|c| {
                format!(
                    "{}={:.2} (normal {:.2}..{:.2}, {:.0}%)",
                    c.feature,
                    c.value,
                    c.normal_low,
                    c.normal_high,
                    c.share * 100.0
                )
            })
            .collect();
        println!(
            "ALERT {} window {}-{} score {:.2} > {:.2} [{}] {}",
            a.asset_id,
            hhmm(a.window_start),
            hhmm(a.window_end),
            a.score,
            a.threshold,
            a.model.as_ref().map_or("-", |m| m.version.as_str()),
            top.join(", ")
        );
        let _ = std::io::stdout().flush();
        if let Ok(mut v) = sink.lock() {
            v.push(a.clone());
        }
    }));
    let stop = run_opts.stop.clone();
    let model = report.artifact.clone();
    let job = tokio::spawn(run(cfg.clone(), Some(model), run_opts));
    let (produced, bad_produced) = tokio::task::spawn_blocking(move || feeder.join())
        .await
        .map_err(|e| PipelineError::Data(format!("simulator thread: {e}")))?
        .map_err(|_| PipelineError::Data("simulator thread panicked".into()))??;
    // let the job drain what was produced
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let stats = job
        .await
        .map_err(|e| PipelineError::Data(format!("job task: {e}")))??;
    let alerts = alerts.lock().map(|v| v.clone()).unwrap_or_default();
    std::fs::remove_dir_all(&dir).ok();
    let summary = DemoSummary {
        produced,
        bad_produced,
        stats,
        alerts,
        faults: fault_list,
    };
    print_summary(&summary, started.elapsed());
    Ok(summary)
}

fn write(path: &PathBuf, text: &str) -> Result<(), PipelineError> {
    std::fs::write(path, text).map_err(|e| PipelineError::io(path, e))
}

/// Streams simulated readings at `speed` x real time for `duration`, with one malformed message
/// in every 500.
fn feed(
    mut sim: PlantSim,
    producer: ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    speed: f64,
    duration: Duration,
) -> Result<(u64, u64), PipelineError> {
    let start = Instant::now();
    let t0 = sim.now_ms();
    let (mut good, mut bad) = (0u64, 0u64);
    let mut readings = Vec::new();
    let bad_payloads: [&[u8]; 4] = [
        b"{\"asset_id\": \"pump-000\", \"ts\": ",
        b"not json at all",
        b"{\"asset_id\": \"pump-001\", \"ts\": 1, \"measurements\": {\"flow\": 1}}",
        b"{\"asset_id\": \"pump-002\", \"ts\": 1764126000000, \"measurements\": {\"flow\": \"high\"}}",
    ];
    while start.elapsed() < duration {
        let target = t0 + (start.elapsed().as_secs_f64() * speed * 1000.0) as i64;
        while sim.now_ms() <= target {
            readings.clear();
            sim.step(&mut readings);
            for r in &readings {
                let payload =
                    serde_json::to_vec(r).map_err(|e| PipelineError::Data(e.to_string()))?;
                send(&producer, topic, r.asset_id.as_bytes(), &payload);
                good += 1;
                if good % 500 == 0 {
                    send(&producer, topic, b"bad", bad_payloads[(bad % 4) as usize]);
                    bad += 1;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    producer.flush(Duration::from_secs(10))?;
    Ok((good, bad))
}

fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    key: &[u8],
    payload: &[u8],
) {
    let mut rec = BaseRecord::to(topic).key(key).payload(payload);
    loop {
        match producer.send(rec) {
            Ok(()) => return,
            Err((_, r)) => {
                rec = r;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

fn print_summary(s: &DemoSummary, took: Duration) {
    println!("\n=== demo summary ({:.0} s) ===", took.as_secs_f64());
    println!(
        "readings: {} produced, {} processed; {} malformed messages produced, {} dead letters {:?}",
        s.produced, s.stats.readings, s.bad_produced, s.stats.dead_letters, s.stats.by_reason
    );
    println!(
        "windows closed: {}, feature rows: {}, alerts: {}",
        s.stats.windows,
        s.stats.feature_rows,
        s.alerts.len()
    );
    let mut by_asset: BTreeMap<&str, (usize, i64)> = BTreeMap::new();
    for a in &s.alerts {
        let e = by_asset.entry(&a.asset_id).or_insert((0, a.window_end));
        e.0 += 1;
        e.1 = e.1.min(a.window_end);
    }
    println!(
        "assets that alerted: {}",
        if by_asset.is_empty() {
            "none".to_string()
        } else {
            by_asset.keys().copied().collect::<Vec<_>>().join(", ")
        }
    );
    for (asset, kind, start) in &s.faults {
        match by_asset.get(asset.as_str()) {
            Some((n, first)) => println!(
                "  {asset} ({kind:?} from {}): detected, first alert for the window ending {} ({} min after onset), {n} alert(s)",
                hhmm(*start),
                hhmm(*first),
                (first - start) / 60_000
            ),
            None => println!("  {asset} ({kind:?} from {}): not detected in this run", hhmm(*start)),
        }
    }
    let false_alarms: Vec<&str> = by_asset
        .keys()
        .copied()
        .filter(|a| !s.faults.iter().any(|(f, _, _)| f == a))
        .collect();
    println!(
        "healthy pumps that alerted: {}",
        if false_alarms.is_empty() {
            "none".to_string()
        } else {
            false_alarms.join(", ")
        }
    );
}
