//! `vigil features` (batch, over a history file) against the streaming job on a real Apache
//! Kafka broker (feature `broker`): the same readings, published to the input topic, must give
//! exactly the feature rows the batch path gives: same assets, same windows, same values. The
//! job is the example pump job with its spectral features (waveform snapshots in every reading).
//!
//! Values are compared to 1e-9 relative: sums in the aggregates run in a different order when the
//! readings reach them in different batches (Kafka polls versus file chunks), which may change
//! the last bits; anything more is a real difference.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;
use serde_json::Value;
use vigil_pipeline::features::features_from_files;
use vigil_pipeline::job::JobConfig;
use vigil_pipeline::kafka::ensure_topics;
use vigil_pipeline::runner::{run, RunOptions};
use vigil_pipeline::sim::{Fault, FaultKind, PlantSim};
use vigil_tests::{brokers, job_dir, read_topic, unique};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const STEP_MS: i64 = 5_000;

fn job_toml(prefix: &str, brokers: &str) -> String {
    format!(
        r#"
[job]
name = "parity"
[kafka]
brokers = "{brokers}"
group_id = "{prefix}-group"
input_topics = ["{prefix}.readings"]
alert_topic = "{prefix}.alerts"
dead_letter_topic = "{prefix}.dead-letter"
late_topic = "{prefix}.late"
features_topic = "{prefix}.features"
max_batch = 300
[fields]
measurements = ["vibration_rms", "bearing_temp", "discharge_pressure", "motor_current", "flow"]
tags = ["site", "line"]
waveforms = ["vibration"]
[window]
kind = "tumbling"
size = "60s"
allowed_out_of_orderness = "10s"
[features]
sql_file = "pump_features.sql"
[model]
artifact = "none.json"
"#
    )
}

fn key(v: &Value) -> (String, i64) {
    (
        v["asset_id"].as_str().unwrap_or_default().to_string(),
        v["window_start"].as_i64().unwrap_or_default(),
    )
}

#[test]
#[cfg_attr(
    not(feature = "broker"),
    ignore = "needs a real Kafka broker: run `bash scripts/test.sh` (starts one and enables feature `broker`)"
)]
fn batch_features_equal_streaming_features() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(scenario());
}

async fn scenario() {
    let brokers = brokers();
    let prefix = unique("parity");
    let dir = job_dir("vigil-parity", &job_toml(&prefix, &brokers));
    let cfg = JobConfig::load(&dir.join("job.toml")).expect("job file is valid");

    // 12 pumps for 15 minutes, one with bearing wear; then one sentinel reading an hour later,
    // whose watermark closes every earlier window in the stream.
    let mut sim = PlantSim::new(
        12,
        3,
        T0,
        STEP_MS,
        vec![Fault {
            pump: 4,
            kind: FaultKind::BearingWear,
            start_ms: T0 + 300_000,
        }],
    );
    let mut payloads = sim.payloads(15 * 60_000 / STEP_MS as usize);
    let sentinel_ts = T0 + 3_600_000;
    payloads.push(
        format!(r#"{{"asset_id":"pump-000","ts":{sentinel_ts},"measurements":{{"flow":1.0}}}}"#)
            .into_bytes(),
    );
    let history = dir.join("history.jsonl");
    let mut text = Vec::new();
    for p in &payloads {
        text.extend_from_slice(p);
        text.push(b'\n');
    }
    std::fs::write(&history, text).expect("history file");

    // Batch.
    let batch = features_from_files(&cfg, &[history.as_path()])
        .await
        .expect("vigil features");
    let sentinel_window = sentinel_ts - sentinel_ts.rem_euclid(60_000);
    let want: BTreeMap<(String, i64), Value> = batch
        .rows()
        .into_iter()
        .filter(|r| r["window_start"].as_i64().unwrap_or_default() < sentinel_window)
        .map(|r| (key(&r), r))
        .collect();
    assert!(want.len() >= 12 * 15, "batch rows: {}", want.len());

    // Stream.
    let input = cfg.kafka.input_topics[0].clone();
    let features_topic = cfg.kafka.features_topic.clone().expect("features topic");
    ensure_topics(
        &brokers,
        &[(input.as_str(), 1), (features_topic.as_str(), 1)],
    )
    .await
    .expect("topics");
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    for p in &payloads {
        let mut rec: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&input).payload(p.as_slice());
        while let Err((_, r)) = producer.send(rec) {
            rec = r;
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    let opts = RunOptions::new();
    let (stop, stats) = (opts.stop.clone(), opts.stats.clone());
    let job = tokio::spawn(run(cfg.clone(), None, opts));
    let _stop_on_panic = vigil_tests::StopOnDrop(stop.clone());
    let started = Instant::now();
    while stats.snapshot().polled < payloads.len() as u64 {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "job stalled: {:?}",
            stats.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let snap = job.await.expect("job task").expect("job run");
    println!("stream: {snap:?}");
    let got: BTreeMap<(String, i64), Value> = read_topic(
        &brokers,
        &features_topic,
        Some(want.len()),
        Duration::from_secs(10),
        Duration::from_secs(60),
    )
    .iter()
    .map(|r| {
        serde_json::from_slice::<Value>(r.payload.as_deref().unwrap_or_default())
            .expect("feature row JSON")
    })
    .map(|r| (key(&r), r))
    .collect();
    println!("batch rows {}, streamed rows {}", want.len(), got.len());
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "same assets and windows"
    );
    let mut compared = 0;
    for (k, w) in &want {
        let g = &got[k];
        assert_eq!(g["window_end"], w["window_end"], "{k:?}");
        for (name, wv) in w.as_object().into_iter().flatten() {
            if matches!(name.as_str(), "asset_id" | "window_start" | "window_end") {
                continue;
            }
            match (wv.as_f64(), g[name].as_f64()) {
                (Some(a), Some(b)) => assert!(
                    (a - b).abs() <= 1e-9 * (1.0 + a.abs()),
                    "{k:?} {name}: batch {a}, stream {b}"
                ),
                (a, b) => assert_eq!(a, b, "{k:?} {name}"),
            }
            compared += 1;
        }
    }
    println!("{compared} feature values equal");
    std::fs::remove_dir_all(&dir).ok();
}
