//! Event time on a real Apache Kafka broker (feature `broker`): two input partitions, one of
//! which goes quiet. Each partition is its own task with its own watermark, so the busy
//! partition's windows close by its own data while the quiet one is idle; once the quiet
//! partition is idle its event time moves with the wall clock and its asset's sensors are
//! reported silent (a dead gateway is noticed). Readings that arrive after their window closed
//! go to the late-data topic with reason and source coordinates (never dropped), and a repeated
//! reading is counted once.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;
use vigil_pipeline::job::JobConfig;
use vigil_pipeline::kafka::{ensure_topics, H_OFFSET, H_PARTITION, H_REASON, H_TOPIC};
use vigil_pipeline::metrics::JobStats;
use vigil_pipeline::runner::{run, RunOptions};
use vigil_schemas::{Alert, AlertKind, QualityProblem};
use vigil_tests::{brokers, job_dir, read_topic, unique};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn job_toml(prefix: &str, brokers: &str) -> String {
    format!(
        r#"
[job]
name = "event-time"
[kafka]
brokers = "{brokers}"
group_id = "{prefix}-group"
input_topics = ["{prefix}.readings"]
alert_topic = "{prefix}.alerts"
dead_letter_topic = "{prefix}.dead-letter"
late_topic = "{prefix}.late"
max_batch = 500
batch_timeout = "50ms"
[fields]
measurements = ["temp", "vib"]
[window]
kind = "tumbling"
size = "10s"
idle_timeout = "2s"
dedup = true
[quality]
silent_after = "10s"
[features]
sql_file = "pump_features.sql"
[model]
artifact = "none.json"
"#
    )
}

const SQL: &str = "SELECT asset_id, count(*) AS n, avg(temp) AS temp_mean, avg(vib) AS vib_mean \
                   FROM readings GROUP BY asset_id";

fn reading(asset: &str, secs: i64, temp: f64) -> String {
    format!(
        r#"{{"asset_id":"{asset}","ts":{},"measurements":{{"temp":{temp},"vib":0.5}}}}"#,
        T0 + secs * 1000
    )
}

fn send(p: &ThreadedProducer<DefaultProducerContext>, topic: &str, partition: i32, payload: &str) {
    let mut rec: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic)
        .partition(partition)
        .payload(payload.as_bytes());
    while let Err((_, r)) = p.send(rec) {
        rec = r;
        std::thread::sleep(Duration::from_millis(5));
    }
}

async fn wait_for(
    stats: &JobStats,
    what: &str,
    cond: impl Fn(&vigil_pipeline::metrics::StatsSnapshot) -> bool,
) {
    let start = Instant::now();
    loop {
        let s = stats.snapshot();
        if cond(&s) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "waiting for {what}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
#[cfg_attr(
    not(feature = "broker"),
    ignore = "needs a real Kafka broker: run `bash scripts/test.sh` (starts one and enables feature `broker`)"
)]
fn idle_partition_silent_sensor_late_topic_and_dedup() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(scenario());
}

async fn scenario() {
    let brokers = brokers();
    let prefix = unique("evt");
    let dir = job_dir("vigil-evt", &job_toml(&prefix, &brokers));
    std::fs::write(dir.join("pump_features.sql"), SQL).expect("sql");
    let cfg = JobConfig::load(&dir.join("job.toml")).expect("job file is valid");
    let input = cfg.kafka.input_topics[0].clone();
    ensure_topics(
        &brokers,
        &[
            (input.as_str(), 2),
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

    // Phase 1: pump-a on partition 0 for 80 s of event time (one reading a second, and the
    // reading at 30 s sent twice in a row); pump-b on partition 1 for the first 9 s only, then
    // nothing.
    let mut sent = 0u64;
    for s in 0..80 {
        let r = reading("pump-a", s, 20.0 + (s % 7) as f64);
        send(&producer, &input, 0, &r);
        sent += 1;
        if s == 30 {
            send(&producer, &input, 0, &r);
            sent += 1;
        }
    }
    for s in 0..10 {
        send(&producer, &input, 1, &reading("pump-b", s, 40.0));
        sent += 1;
    }
    producer.flush(Duration::from_secs(30)).expect("flush");

    let opts = RunOptions::new();
    let (stop, stats) = (opts.stop.clone(), opts.stats.clone());
    let job = tokio::spawn(run(cfg.clone(), None, opts));
    let _stop_on_panic = vigil_tests::StopOnDrop(stop.clone());
    wait_for(&stats, "phase 1 polled", |s| s.polled >= sent).await;
    // Partition 1 is idle after 2 s of wall clock: pump-a's windows up to 70 s close.
    wait_for(&stats, "windows behind the idle partition to close", |s| {
        s.windows >= 7
    })
    .await;
    assert_eq!(
        stats.snapshot().duplicates,
        1,
        "the repeated reading is counted once"
    );

    // Phase 2: three readings for the closed window [0, 10) on partition 0: late.
    let first_late_offset = 81; // partition 0 holds 81 records so far
    for s in [2, 5, 7] {
        send(&producer, &input, 0, &reading("pump-a", s, 99.0));
        sent += 1;
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    wait_for(&stats, "late readings", |s| s.late >= 3).await;
    // pump-a keeps reporting (one on-time reading a second of event time, sent every 300 ms)
    // while pump-b's idle partition moves on with the wall clock: otherwise partition 0 would go
    // idle too and pump-a's sensors would, rightly, be reported silent 10 s after its last
    // reading, racing the report for pump-b that this phase waits for.
    let start = Instant::now();
    let mut next = 80;
    while stats.snapshot().quality_alerts < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "waiting for pump-b's sensors reported silent: {:?}",
            stats.snapshot()
        );
        send(&producer, &input, 0, &reading("pump-a", next, 21.0));
        sent += 1;
        next += 1;
        producer.flush(Duration::from_secs(30)).expect("flush");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_for(&stats, "pump-a's last readings polled", |s| {
        s.polled >= sent
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let snap = job.await.expect("job task").expect("job run");
    println!("job stats: {snap:?}");
    assert_eq!(snap.polled, sent);
    assert_eq!(snap.late, 3);
    assert_eq!(snap.dead_letters, 0);

    let late = read_topic(
        &brokers,
        &cfg.kafka.late_topic,
        Some(3),
        Duration::from_secs(10),
        Duration::from_secs(60),
    );
    assert_eq!(late.len(), 3, "late-data topic");
    for (i, r) in late.iter().enumerate() {
        assert_eq!(r.header(H_REASON), Some("late"));
        assert_eq!(r.header(H_TOPIC), Some(input.as_str()));
        assert_eq!(r.header(H_PARTITION), Some("0"));
        assert_eq!(
            r.header(H_OFFSET),
            Some((first_late_offset + i as i64).to_string().as_str())
        );
        let payload = String::from_utf8(r.payload.clone().unwrap_or_default()).unwrap_or_default();
        assert!(
            payload.contains("99"),
            "the late record is passed on as it came: {payload}"
        );
    }

    // Data quality: pump-b's two sensors went silent (its idle partition's event time moved on
    // with the wall clock), pump-a's did not (its readings are 1 s apart).
    let alerts: Vec<Alert> = read_topic(
        &brokers,
        &cfg.kafka.alert_topic,
        None,
        Duration::from_secs(5),
        Duration::from_secs(60),
    )
    .iter()
    .map(|r| serde_json::from_slice(r.payload.as_deref().unwrap_or_default()).expect("alert JSON"))
    .collect();
    println!("alerts: {alerts:#?}");
    assert_eq!(snap.quality_alerts as usize, alerts.len());
    let mut silent: Vec<(String, String)> = alerts
        .iter()
        .filter(|a| a.kind == AlertKind::DataQuality)
        .filter_map(|a| match &a.quality {
            Some(QualityProblem::SilentSensor {
                measurement,
                last_seen,
                wall_clock,
                ..
            }) => {
                assert_eq!(*last_seen, T0 + 9_000);
                assert!(wall_clock, "noticed by the wall clock: {a:?}");
                Some((a.asset_id.clone(), measurement.clone()))
            }
            _ => None,
        })
        .collect();
    silent.sort();
    assert_eq!(
        silent,
        vec![
            ("pump-b".to_string(), "temp".to_string()),
            ("pump-b".to_string(), "vib".to_string())
        ]
    );
    std::fs::remove_dir_all(&dir).ok();
}
