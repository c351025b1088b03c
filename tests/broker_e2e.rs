//! End to end on a real Apache Kafka broker (feature `broker`; `scripts/test.sh` starts the broker
//! and enables it): 20 simulated pumps, one developing bearing wear, 100 bad messages of 14
//! classes mixed in. The job must alert on the faulty pump within a bounded number of windows
//! after the fault starts, never on a healthy pump, dead-letter every bad message with its reason
//! and source coordinates, and process every good reading.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;
use vigil_pipeline::history::decode_jsonl;
use vigil_pipeline::job::JobConfig;
use vigil_pipeline::kafka::{ensure_topics, H_OFFSET, H_PARTITION, H_REASON, H_TOPIC};
use vigil_pipeline::runner::{run, RunOptions};
use vigil_pipeline::sim::{Fault, FaultKind, PlantSim};
use vigil_pipeline::train::{train_from_batches, TrainOptions};
use vigil_schemas::{Alert, BatchDecoder};
use vigil_tests::{brokers, job_dir, read_topic, unique};

const PUMPS: usize = 20;
const FAULTY: usize = 7;
const STEP_MS: i64 = 5_000;
const WINDOW_MS: i64 = 60_000;
/// The faulty pump must alert for a window ending at most this many windows after onset.
const MAX_DETECTION_WINDOWS: i64 = 12;

fn job_toml(prefix: &str, brokers: &str) -> String {
    format!(
        r#"
[job]
name = "e2e-pumps"
[kafka]
brokers = "{brokers}"
group_id = "{prefix}-group"
input_topics = ["{prefix}.readings"]
alert_topic = "{prefix}.alerts"
dead_letter_topic = "{prefix}.dead-letter"
max_batch = 2000
batch_timeout = "50ms"
require_key = true
[fields]
forbid_unknown = true
measurements = ["vibration_rms", "bearing_temp", "discharge_pressure", "motor_current", "flow"]
tags = ["site", "line"]
waveforms = ["vibration"]
max_payload_bytes = 4096
[window]
kind = "tumbling"
size = "60s"
allowed_out_of_orderness = "10s"
[features]
sql_file = "pump_features.sql"
[model]
artifact = "model.json"
"#
    )
}

/// 15 kinds of bad input in 14 classes; `None` is a record without a value; `null_key` is a
/// good reading sent without a key.
fn bad_message(i: usize) -> (&'static str, Option<Vec<u8>>) {
    match i % 15 {
        0 => (
            "malformed_json",
            Some(b"{\"asset_id\": \"pump-001\",, }".to_vec()),
        ),
        1 => (
            "truncated",
            Some(b"{\"asset_id\": \"pump-001\", \"ts\": 17641".to_vec()),
        ),
        2 => (
            "wrong_type",
            Some(
                br#"{"asset_id":"pump-001","ts":1764126000000,"measurements":{"flow":"high"}}"#
                    .to_vec(),
            ),
        ),
        3 => (
            "missing_asset_id",
            Some(br#"{"ts":1764126000000,"measurements":{"flow":1.0}}"#.to_vec()),
        ),
        4 => (
            "missing_timestamp",
            Some(br#"{"asset_id":"pump-001","measurements":{"flow":1.0}}"#.to_vec()),
        ),
        5 => (
            "non_finite",
            Some(
                br#"{"asset_id":"pump-001","ts":1764126000000,"measurements":{"flow":1e400}}"#
                    .to_vec(),
            ),
        ),
        6 => (
            "bad_timestamp",
            Some(br#"{"asset_id":"pump-001","ts":86400000,"measurements":{"flow":1.0}}"#.to_vec()),
        ),
        7 => (
            "oversized",
            Some(format!(r#"{{"asset_id":"pump-001","pad":"{}"}}"#, "x".repeat(5000)).into_bytes()),
        ),
        8 => (
            "invalid_utf8",
            Some(b"{\"asset_id\": \"pump-\xc3\x28\"}".to_vec()),
        ),
        9 => ("empty_payload", Some(Vec::new())),
        10 => ("empty_payload", None),
        11 => ("not_an_object", Some(b"[1, 2, 3]".to_vec())),
        12 => (
            "no_measurements",
            Some(br#"{"asset_id":"pump-001","ts":1764126000000,"measurements":{}}"#.to_vec()),
        ),
        13 => (
            "unknown_field",
            Some(
                br#"{"asset_id":"pump-001","ts":1764126000000,"measurements":{"flow":1.0},"colour":"red"}"#
                    .to_vec(),
            ),
        ),
        _ => (
            "null_key",
            Some(
                br#"{"asset_id":"pump-001","ts":1764126000000,"measurements":{"flow":1.0}}"#
                    .to_vec(),
            ),
        ),
    }
}

#[test]
#[cfg_attr(
    not(feature = "broker"),
    ignore = "needs a real Kafka broker: run `bash scripts/test.sh` (starts one and enables feature `broker`)"
)]
fn faulty_pump_alerts_healthy_ones_do_not_and_bad_input_is_dead_lettered() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(scenario());
}

async fn scenario() {
    let brokers = brokers();
    let prefix = unique("e2e");
    let dir = job_dir("vigil-e2e", &job_toml(&prefix, &brokers));
    let cfg = JobConfig::load(&dir.join("job.toml")).expect("job file is valid");

    // Train on 3 hours of normal operation, through the job's own decoder, windows and SQL.
    let t0: i64 = 1_764_115_200_000; // 2025-11-26T00:00:00Z
    let warm_steps = 3 * 3600 * 1000 / STEP_MS as usize;
    let mut warm = PlantSim::new(PUMPS, 11, t0, STEP_MS, vec![]);
    let history: Vec<u8> = warm.payloads(warm_steps).join(&b'\n');
    let decoder = BatchDecoder::new(cfg.mapping.clone()).unwrap();
    let h = decode_jsonl(std::str::from_utf8(&history).unwrap(), &decoder).unwrap();
    assert!(h.dead.is_empty());
    let report = train_from_batches(&cfg, &h.batches, &TrainOptions::for_job(&cfg))
        .await
        .expect("training");
    println!("{report}");
    report.artifact.save(&cfg.model_path).unwrap();

    // Live: 45 minutes; pump-007 develops bearing wear from minute 15.
    let live_start = t0 + warm_steps as i64 * STEP_MS;
    let fault_start = live_start + 15 * 60_000;
    let mut live = PlantSim::new(
        PUMPS,
        12,
        live_start,
        STEP_MS,
        vec![Fault {
            pump: FAULTY,
            kind: FaultKind::BearingWear,
            start_ms: fault_start,
        }],
    );
    let good_payloads = live.payloads(45 * 60_000 / STEP_MS as usize);
    let n_good = good_payloads.len();

    let input = cfg.kafka.input_topics[0].clone();
    ensure_topics(
        &brokers,
        &[
            (input.as_str(), 1),
            (&cfg.kafka.alert_topic, 1),
            (&cfg.kafka.dead_letter_topic, 1),
            (&cfg.kafka.late_topic, 1),
        ],
    )
    .await
    .expect("create topics");
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    // Interleave 100 bad messages at fixed positions; with one partition and an idempotent
    // producer the i-th record sent gets offset i.
    let mut bad_offsets: BTreeMap<i64, &str> = BTreeMap::new();
    let every = n_good / 100;
    let mut offset: i64 = 0;
    let mut bad_sent = 0;
    for (i, p) in good_payloads.iter().enumerate() {
        send(&producer, &input, Some(b"good"), Some(p));
        offset += 1;
        if i % every == every / 2 && bad_sent < 100 {
            let (class, payload) = bad_message(bad_sent);
            let key: Option<&[u8]> = (class != "null_key").then_some(b"bad");
            send(&producer, &input, key, payload.as_deref());
            bad_offsets.insert(offset, class);
            offset += 1;
            bad_sent += 1;
        }
    }
    assert_eq!(bad_sent, 100);
    producer.flush(Duration::from_secs(30)).expect("flush");
    let total = offset as u64;

    // Run the job until it has polled everything, then stop it.
    let mut opts = RunOptions::new();
    let (stop, stats) = (opts.stop.clone(), opts.stats.clone());
    let http = vigil_pipeline::http::HttpState::new(stats.clone());
    let addr = vigil_pipeline::http::serve("127.0.0.1:0".parse().expect("addr"), http.clone())
        .await
        .expect("HTTP server");
    assert_eq!(vigil_tests::http_get(addr, "/healthz").await.0, 200);
    assert_eq!(
        vigil_tests::http_get(addr, "/readyz").await.0,
        503,
        "not ready before the job consumes"
    );
    opts.http = Some(http);
    let job = tokio::spawn(run(cfg.clone(), Some(report.artifact.clone()), opts));
    let _stop_on_panic = vigil_tests::StopOnDrop(stop.clone());
    let started = Instant::now();
    while stats.snapshot().polled < total {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "job stalled: {:?}",
            stats.snapshot()
        );
        assert!(!job.is_finished(), "job ended early");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // the HTTP endpoints while it runs: ready, and the metrics of what it did, with lag 0
    // once the gauges caught up
    let (ready, _) = vigil_tests::http_get(addr, "/readyz").await;
    assert_eq!(ready, 200, "ready while consuming");
    let mut metrics = String::new();
    let caught_up = format!("vigil_consumer_lag{{topic=\"{input}\",partition=\"0\"}} 0");
    for _ in 0..100 {
        metrics = vigil_tests::http_get(addr, "/metrics").await.1;
        if metrics.contains(&caught_up) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("/metrics:\n{metrics}");
    assert!(metrics.contains(&caught_up), "lag reaches 0");
    assert!(metrics.contains(&format!("vigil_readings_total {n_good}\n")));
    assert!(metrics.contains("vigil_dead_letters_total{reason=\"malformed_json\"}"));
    assert!(metrics.contains(&format!(
        "vigil_model_info{{name=\"{}\",version=\"{}\",role=\"active\"}} 1",
        report.artifact.name, report.artifact.version
    )));
    assert!(metrics.contains("vigil_partitions 1\n"));
    // latency histograms and alert records by kind/state/severity
    let count = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}_count ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        count("vigil_scoring_seconds") > 0,
        "scoring latency observed"
    );
    assert!(
        count("vigil_window_close_to_alert_seconds") > 0,
        "close-to-alert latency observed for committed alerts"
    );
    assert!(metrics
        .contains("vigil_alert_records_total{kind=\"anomaly\",state=\"none\",severity=\"none\"}"));
    stop.store(true, Ordering::Relaxed);
    let snap = job.await.expect("job task").expect("job run");
    println!("job stats: {snap:?}");

    // Every good reading was processed; every bad one dead-lettered; nothing late.
    assert_eq!(snap.polled, total);
    assert_eq!(snap.readings, n_good as u64);
    assert_eq!(snap.late, 0);
    assert_eq!(snap.dead_letters, 100);
    assert_eq!(
        snap.by_reason.len(),
        14,
        "a metric counts each class: {:?}",
        snap.by_reason
    );

    let dead = read_topic(
        &brokers,
        &cfg.kafka.dead_letter_topic,
        Some(100),
        Duration::from_secs(10),
        Duration::from_secs(60),
    );
    assert_eq!(dead.len(), 100, "dead-letter topic");
    let mut seen = BTreeSet::new();
    for d in &dead {
        assert_eq!(d.header(H_TOPIC), Some(input.as_str()));
        assert_eq!(d.header(H_PARTITION), Some("0"));
        let off: i64 = d
            .header(H_OFFSET)
            .expect("offset header")
            .parse()
            .expect("numeric offset");
        let want = bad_offsets
            .get(&off)
            .unwrap_or_else(|| panic!("dead letter for offset {off}, which was a good record"));
        assert_eq!(
            d.header(H_REASON),
            Some(*want),
            "offset {off}: {:?}",
            d.header("vigil.detail")
        );
        assert!(!d.header("vigil.detail").unwrap_or_default().is_empty());
        seen.insert(off);
    }
    assert_eq!(
        seen.len(),
        100,
        "each bad record dead-lettered exactly once"
    );

    // Alerts: only the faulty pump, soon after onset.
    let records = read_topic(
        &brokers,
        &cfg.kafka.alert_topic,
        None,
        Duration::from_secs(5),
        Duration::from_secs(60),
    );
    let alerts: Vec<Alert> = records
        .iter()
        .map(|r| {
            serde_json::from_slice(r.payload.as_deref().expect("alert payload"))
                .expect("alert JSON")
        })
        .collect();
    println!("{} alerts; first: {:?}", alerts.len(), alerts.first());
    assert_eq!(alerts.len() as u64, snap.alerts);
    let healthy: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.asset_id != PlantSim::asset_id(FAULTY))
        .collect();
    assert!(healthy.is_empty(), "healthy pumps alerted: {healthy:#?}");
    let first = alerts
        .iter()
        .map(|a| a.window_end)
        .min()
        .expect("the faulty pump raised no alert");
    assert!(first > fault_start, "alert before the fault started");
    let windows_after = (first - fault_start) / WINDOW_MS;
    println!("first alert {windows_after} window(s) after onset");
    assert!(
        windows_after <= MAX_DETECTION_WINDOWS,
        "detected {windows_after} windows after onset"
    );
    for (a, r) in alerts.iter().zip(&records) {
        assert_eq!(
            r.key.as_deref(),
            Some(a.asset_id.as_bytes()),
            "alerts are keyed by asset id"
        );
        assert!(a.score > a.threshold);
        assert_eq!(a.model.as_ref().map(|m| m.version.as_str()), Some("1"));
        assert!(!a.top_features.is_empty());
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn send(
    p: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
) {
    let mut rec: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic);
    if let Some(k) = key {
        rec = rec.key(k);
    }
    if let Some(v) = payload {
        rec = rec.payload(v);
    }
    while let Err((_, r)) = p.send(rec) {
        rec = r;
        std::thread::sleep(Duration::from_millis(5));
    }
}
