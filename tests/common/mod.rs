//! Shared helpers of Vigil's integration tests: the broker address, unique topic names, a scratch
//! job folder, reading whole topics back, and the example jobs on the real datasets.

pub mod faults;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::ClientConfig;

/// Sets a job's stop flag when dropped, so a failing assertion ends the job thread instead of
/// leaving the test waiting for it forever.
pub struct StopOnDrop(pub std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The broker the real-broker tests use: `VIGIL_BROKERS`, default `127.0.0.1:9092`.
pub fn brokers() -> String {
    std::env::var("VIGIL_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_string())
}

/// A prefix unique to this test run, for topic and group names.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

/// This crate's directory as cargo gives it to the running test (`CARGO_MANIFEST_DIR`), else
/// as it was at compile time: a target directory shared between clones at other paths reuses
/// test binaries built in another clone.
pub fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), PathBuf::from)
}

/// A scratch folder holding a job file and the example feature SQL.
pub fn job_dir(name: &str, job_toml: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(name));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::write(dir.join("job.toml"), job_toml).expect("job file");
    let sql = crate_dir().join("../examples/pump_features.sql");
    std::fs::copy(sql, dir.join("pump_features.sql")).expect("feature SQL");
    dir
}

/// One record read back from a topic.
#[derive(Debug, Clone)]
pub struct Record {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Payload.
    pub payload: Option<Vec<u8>>,
    /// Headers as (key, UTF-8 value).
    pub headers: Vec<(String, String)>,
}

impl Record {
    /// Value of header `k`.
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(hk, _)| hk == k)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a topic from the beginning until `expect` records arrived or nothing new came for
/// `idle` (bounded by `limit` overall).
pub fn read_topic(
    brokers: &str,
    topic: &str,
    expect: Option<usize>,
    idle: Duration,
    limit: Duration,
) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("reader consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let start = Instant::now();
    let mut last = Instant::now();
    let mut out = Vec::new();
    while start.elapsed() < limit && last.elapsed() < idle {
        if expect.is_some_and(|n| out.len() >= n) {
            break;
        }
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            last = Instant::now();
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|x| {
                            (
                                x.key.to_string(),
                                String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(Record {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                payload: m.payload().map(<[u8]>::to_vec),
                headers,
            });
        }
    }
    out
}

/// The example job `examples/<name>/job.toml`, whose backtest data (in `../shared/datasets/`
/// beside the repository) must exist: a missing folder fails the test and says where it looked.
pub fn example_job(name: &str) -> vigil_pipeline::job::JobConfig {
    let path = crate_dir().join(format!("../examples/{name}/job.toml"));
    let cfg = vigil_pipeline::job::JobConfig::load(&path).expect("example job is valid");
    let data = &cfg.backtest.as_ref().expect("backtest section").data;
    assert!(
        data.is_dir(),
        "{name} data not found at {} (expected ../shared beside the repository)",
        data.display()
    );
    cfg
}

/// `GET path` on a local HTTP server: the status code and the body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    c.write_all(req.as_bytes()).await.expect("request");
    let mut text = String::new();
    c.read_to_string(&mut text).await.expect("response");
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |b| b.1).to_string();
    (status, body)
}

/// The `vigil` binary beside the test binaries (`VIGIL_BIN` overrides; `scripts/test.sh` builds it).
pub fn vigil_bin() -> PathBuf {
    if let Ok(p) = std::env::var("VIGIL_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<this test> -> target/<profile>/vigil
    let exe = std::env::current_exe().expect("test binary path");
    let bin = exe
        .parent()
        .and_then(std::path::Path::parent)
        .map(|d| d.join("vigil"))
        .expect("target dir");
    assert!(
        bin.exists(),
        "the vigil binary is not built at {} (run `cargo build --workspace --bins`, or set VIGIL_BIN)",
        bin.display()
    );
    bin
}

/// A job over the simulated pump fleet (`vigil_pipeline::sim`): topics under `prefix`, 60 s
/// tumbling windows, the example feature SQL, model `model.json`; `extra` is appended (more
/// `[kafka]` keys first, then whole tables).
pub fn pump_job_toml(
    name: &str,
    prefix: &str,
    brokers: &str,
    kafka_extra: &str,
    extra: &str,
) -> String {
    format!(
        r#"
[job]
name = "{name}"
[kafka]
brokers = "{brokers}"
group_id = "{prefix}-group"
input_topics = ["{prefix}.readings"]
alert_topic = "{prefix}.alerts"
dead_letter_topic = "{prefix}.dead-letter"
max_batch = 500
batch_timeout = "50ms"
{kafka_extra}
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
artifact = "model.json"
{extra}
"#
    )
}

/// Trains `cfg`'s model on `steps` steps of normal operation of `pumps` simulated pumps (seed
/// `seed`, from `t0`, `step_ms` apart), through the job's own decoder, windows and SQL.
pub async fn train_on_sim(
    cfg: &vigil_pipeline::job::JobConfig,
    pumps: usize,
    seed: u64,
    t0: i64,
    step_ms: i64,
    steps: usize,
) -> vigil_models::ModelArtifact {
    let history: Vec<u8> = vigil_pipeline::sim::PlantSim::new(pumps, seed, t0, step_ms, vec![])
        .payloads(steps)
        .join(&b'\n');
    let decoder = vigil_schemas::BatchDecoder::new(cfg.mapping.clone()).expect("decoder");
    let h = vigil_pipeline::history::decode_jsonl(
        std::str::from_utf8(&history).expect("UTF-8"),
        &decoder,
    )
    .expect("history");
    assert!(h.dead.is_empty(), "simulated history decodes");
    let opts = vigil_pipeline::train::TrainOptions::for_job(cfg);
    vigil_pipeline::train::train_from_batches(cfg, &h.batches, &opts)
        .await
        .expect("training")
        .artifact
}
