//! Model registry on a real Apache Kafka broker (feature `broker`): versions published to a
//! compacted topic, promoted while the job runs (hot swap, no restart), and a candidate scored in
//! shadow. The models alert on every window (threshold −1), so each (asset, window) must carry
//! exactly one alert: from version 1 before the swap, from version 2 after it, never both and
//! never none; and the shadow topic gets version 3's alerts for windows after it was set.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;
use vigil_pipeline::history::decode_jsonl;
use vigil_pipeline::job::JobConfig;
use vigil_pipeline::kafka::registry::RegistryClient;
use vigil_pipeline::kafka::{ensure_compacted_topic, ensure_topics};
use vigil_pipeline::metrics::JobStats;
use vigil_pipeline::runner::{run, RunOptions};
use vigil_pipeline::sim::PlantSim;
use vigil_pipeline::train::{train_from_batches, TrainOptions};
use vigil_schemas::{Alert, BatchDecoder};
use vigil_tests::{brokers, job_dir, read_topic, unique};

const T0: i64 = 1_767_225_600_000;

fn job_toml(prefix: &str, brokers: &str) -> String {
    format!(
        r#"
[job]
name = "registry"
[kafka]
brokers = "{brokers}"
group_id = "{prefix}-group"
input_topics = ["{prefix}.readings"]
alert_topic = "{prefix}.alerts"
dead_letter_topic = "{prefix}.dead-letter"
features_topic = "{prefix}.features"
max_batch = 200
[fields]
measurements = ["vibration_rms", "bearing_temp", "discharge_pressure", "motor_current", "flow"]
waveforms = ["vibration"]
[window]
kind = "tumbling"
size = "60s"
[features]
sql_file = "pump_features.sql"
[model]
artifact = "model.json"
registry_topic = "{prefix}.models"
name = "pumps"
"#
    )
}

fn send_all(p: &ThreadedProducer<DefaultProducerContext>, topic: &str, payloads: &[Vec<u8>]) {
    for v in payloads {
        let mut rec: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).payload(v.as_slice());
        while let Err((_, r)) = p.send(rec) {
            rec = r;
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    p.flush(Duration::from_secs(30)).expect("flush");
}

async fn wait_polled(stats: &JobStats, n: u64) {
    let start = Instant::now();
    while stats.snapshot().polled < n {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "job stalled: {:?}",
            stats.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn alerts(brokers: &str, topic: &str) -> Vec<Alert> {
    read_topic(
        brokers,
        topic,
        None,
        Duration::from_secs(5),
        Duration::from_secs(60),
    )
    .iter()
    .map(|r| serde_json::from_slice(r.payload.as_deref().unwrap_or_default()).expect("alert JSON"))
    .collect()
}

#[test]
#[cfg_attr(
    not(feature = "broker"),
    ignore = "needs a real Kafka broker: run `bash scripts/test.sh` (starts one and enables feature `broker`)"
)]
fn promote_swaps_without_restart_and_shadow_scores_apart() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(scenario());
}

async fn scenario() {
    let brokers = brokers();
    let prefix = unique("registry");
    let dir = job_dir("vigil-registry", &job_toml(&prefix, &brokers));
    let cfg = JobConfig::load(&dir.join("job.toml")).expect("job file is valid");

    // Train once; versions 1, 2 and 3 alert on every window.
    let mut sim = PlantSim::new(6, 9, T0, 5_000, vec![]);
    let history: Vec<String> = sim
        .payloads(12 * 60)
        .into_iter()
        .map(|p| String::from_utf8(p).unwrap_or_default())
        .collect();
    let decoder = BatchDecoder::new(cfg.mapping.clone()).expect("decoder");
    let h = decode_jsonl(&history.join("\n"), &decoder).expect("history");
    let trained = train_from_batches(&cfg, &h.batches, &TrainOptions::for_job(&cfg))
        .await
        .expect("train")
        .artifact;
    let version = |v: &str| {
        let mut a = trained.clone();
        a.name = "pumps".into();
        a.version = v.into();
        a.threshold = -1.0;
        a
    };
    let registry_topic = cfg.registry_topic.clone().expect("registry topic");
    ensure_compacted_topic(&brokers, &registry_topic)
        .await
        .expect("registry topic");
    let mut reg = RegistryClient::new(&brokers, &registry_topic).expect("registry");
    for v in ["1", "2", "3"] {
        reg.publish(&version(v)).expect("publish");
    }
    reg.catch_up(Duration::from_secs(10)).expect("catch up");
    reg.promote("pumps", "1").expect("promote 1");

    let input = cfg.kafka.input_topics[0].clone();
    ensure_topics(&brokers, &[(input.as_str(), 1)])
        .await
        .expect("input topic");
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    let first = sim.payloads(12 * 20); // 20 minutes
    let second = sim.payloads(12 * 20);
    send_all(&producer, &input, &first);

    let opts = RunOptions::new();
    let (stop, stats) = (opts.stop.clone(), opts.stats.clone());
    let job = tokio::spawn(run(cfg.clone(), Some(version("1")), opts));
    let _stop_on_panic = vigil_tests::StopOnDrop(stop.clone());
    wait_polled(&stats, first.len() as u64).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Promote 2 and shadow 3 while the job runs, then send the rest.
    reg.catch_up(Duration::from_secs(10)).expect("catch up");
    reg.promote("pumps", "2").expect("promote 2");
    reg.catch_up(Duration::from_secs(10)).expect("catch up");
    reg.set_shadow("pumps", Some("3")).expect("shadow 3");
    tokio::time::sleep(Duration::from_secs(2)).await;
    send_all(&producer, &input, &second);
    wait_polled(&stats, (first.len() + second.len()) as u64).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let snap = job.await.expect("job task").expect("job run");
    println!("job: {snap:?}");

    let feature_rows = read_topic(
        &brokers,
        cfg.kafka.features_topic.as_deref().unwrap_or_default(),
        None,
        Duration::from_secs(5),
        Duration::from_secs(60),
    )
    .len();
    let main = alerts(&brokers, &cfg.kafka.alert_topic);
    let shadow = alerts(&brokers, &cfg.kafka.shadow_topic);
    let mut per_window: BTreeMap<(String, i64), Vec<String>> = BTreeMap::new();
    for a in &main {
        per_window
            .entry((a.asset_id.clone(), a.window_start))
            .or_default()
            .push(
                a.model
                    .as_ref()
                    .map(|m| m.version.clone())
                    .unwrap_or_default(),
            );
    }
    let v1: Vec<i64> = main
        .iter()
        .filter(|a| a.model.as_ref().is_some_and(|m| m.version == "1"))
        .map(|a| a.window_start)
        .collect();
    let v2: Vec<i64> = main
        .iter()
        .filter(|a| a.model.as_ref().is_some_and(|m| m.version == "2"))
        .map(|a| a.window_start)
        .collect();
    println!(
        "{} feature rows, {} alerts (v1 {}, v2 {}), {} shadow alerts",
        feature_rows,
        main.len(),
        v1.len(),
        v2.len(),
        shadow.len()
    );
    assert_eq!(
        main.len(),
        feature_rows,
        "one alert per scored (asset, window)"
    );
    assert!(
        per_window.values().all(|v| v.len() == 1),
        "a window scored twice: {per_window:?}"
    );
    assert!(!v1.is_empty() && !v2.is_empty(), "both versions scored");
    assert!(
        v1.iter().max() < v2.iter().min(),
        "versions swap at one instant of event time"
    );
    assert!(!shadow.is_empty(), "the shadow version scored");
    for s in &shadow {
        assert_eq!(s.model.as_ref().map(|m| m.version.as_str()), Some("3"));
        assert_eq!(
            per_window
                .get(&(s.asset_id.clone(), s.window_start))
                .map(|v| v[0].as_str()),
            Some("2"),
            "shadow scored a window the active version 2 scored"
        );
    }
    // rollback brings version 1 back
    reg.catch_up(Duration::from_secs(10)).expect("catch up");
    let active = reg.rollback("pumps").expect("rollback");
    assert_eq!(active.version.as_deref(), Some("1"));
    std::fs::remove_dir_all(&dir).ok();
}
