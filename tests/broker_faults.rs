//! Fault injection on a real Apache Kafka broker (feature `broker`): the `vigil` binary is run
//! as a separate process, killed with SIGKILL, run twice in one group, and the broker itself is
//! restarted, and each time the committed alert topic is compared with a golden uninterrupted
//! run over the same input: (a) kill -9 at 5+ random moments and restart: exactly the golden
//! alerts, 0 lost, 0 duplicated; (b) two instances, one killed mid-run: the same; (c) the broker
//! restarted mid-run: the same once it is back; (d) at-least-once mode with kills: no alert lost,
//! and every repeat carries the id and content of its original.
//!
//! The input (6 pumps on 2 partitions, keyed by pump) is fed while the job runs so the faults
//! land mid-stream; alerts come from per-asset EWMA and CUSUM baselines and stuck-sensor checks,
//! so they depend on state carried across windows (restored from the changelog after a crash).
//! The binary is `VIGIL_BIN` (scripts/test.sh builds it) or `target/<profile>/vigil`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use vigil_pipeline::kafka::ensure_topics;
use vigil_tests::{brokers, unique};

use vigil_tests::faults::{job_toml, partition_stream, SQL};
use vigil_tests::vigil_bin;

/// A scenario's scratch folder: job file, feature SQL and process logs.
struct Scenario {
    dir: PathBuf,
    input: String,
    alerts: String,
    group: String,
    runs: usize,
}

impl Scenario {
    async fn new(name: &str, delivery: &str) -> Scenario {
        let prefix = unique(name);
        let input = format!("{prefix}.readings");
        let alerts = format!("{prefix}.alerts");
        let dir = std::env::temp_dir().join(&prefix);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        std::fs::write(
            dir.join("job.toml"),
            job_toml(&prefix, &input, &alerts, delivery),
        )
        .expect("job file");
        std::fs::write(dir.join("features.sql"), SQL).expect("sql");
        ensure_topics(&brokers(), &[(input.as_str(), 2), (alerts.as_str(), 1)])
            .await
            .expect("create topics");
        Scenario {
            dir,
            input,
            alerts,
            group: format!("{prefix}-group"),
            runs: 0,
        }
    }

    /// Starts `vigil run` as instance `instance`, logging to the scratch folder.
    fn start(&mut self, instance: &str) -> Child {
        self.runs += 1;
        let log = std::fs::File::create(self.dir.join(format!("run-{}-{instance}.log", self.runs)))
            .expect("log file");
        Command::new(vigil_bin())
            .args(["run", "--job"])
            .arg(self.dir.join("job.toml"))
            .args(["--instance", instance, "--no-model"])
            .env("VIGIL_BROKERS", brokers())
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start vigil run")
    }

    /// Writes the whole input, pump `p` on partition `p % 2`, spread over `over`.
    fn feed(&self, over: Duration) -> std::thread::JoinHandle<()> {
        let (input, brokers) = (self.input.clone(), brokers());
        std::thread::spawn(move || {
            let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
                .set("bootstrap.servers", &brokers)
                .set("enable.idempotence", "true")
                .set("linger.ms", "5")
                .create()
                .expect("producer");
            let parts = [partition_stream(0), partition_stream(1)];
            let steps = 20;
            for step in 0..steps {
                for (part, records) in parts.iter().enumerate() {
                    let per_step = records.len().div_ceil(steps);
                    let end = ((step + 1) * per_step).min(records.len());
                    for (key, r) in &records[(step * per_step).min(end)..end] {
                        let mut rec = BaseRecord::to(&input)
                            .key(key.as_str())
                            .payload(r.as_str())
                            .partition(part as i32);
                        loop {
                            match producer.send(rec) {
                                Ok(()) => break,
                                Err((_, back)) => {
                                    rec = back;
                                    std::thread::sleep(Duration::from_millis(10));
                                }
                            }
                        }
                    }
                }
                producer
                    .flush(Duration::from_secs(60))
                    .expect("flush input");
                std::thread::sleep(over / steps as u32);
            }
        })
    }

    /// Waits until the group's committed offsets reach the end of both input partitions; fails
    /// at once if a job process in `alive` exited.
    fn wait_caught_up(&self, alive: &mut [&mut Child], limit: Duration) {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers())
            .set("group.id", &self.group)
            .create()
            .expect("lag consumer");
        let start = Instant::now();
        loop {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&self.input, 0);
            tpl.add_partition(&self.input, 1);
            let mut behind = Vec::new();
            if let Ok(committed) = c.committed_offsets(tpl, Duration::from_secs(10)) {
                for e in committed.elements() {
                    let high = c
                        .fetch_watermarks(&self.input, e.partition(), Duration::from_secs(10))
                        .map(|(_, h)| h)
                        .unwrap_or(i64::MAX);
                    let at = match e.offset() {
                        Offset::Offset(o) => o,
                        _ => 0,
                    };
                    if at < high {
                        behind.push((e.partition(), at, high));
                    }
                }
                if behind.is_empty() {
                    return;
                }
            }
            for c in alive.iter_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!(
                        "vigil run exited with {status} (logs in {})",
                        self.dir.display()
                    );
                }
            }
            assert!(
                start.elapsed() < limit,
                "the job did not catch up within {limit:?}: {behind:?} (logs in {})",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// The committed alerts, each as canonical JSON without its emission time. Reads
    /// `read_committed` until the reader's position reaches the end of the log: a killed
    /// instance's open transaction holds committed readers back until the broker aborts it
    /// (`transaction.timeout.ms` plus the broker's abort check interval), so stopping at the
    /// first quiet moment, or at the stable offset, would miss alerts committed after it.
    fn alerts(&self) -> Vec<String> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers())
            .set("group.id", unique("faults-reader"))
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()
            .expect("reader");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.alerts, 0, Offset::Beginning)
            .expect("partition");
        c.assign(&tpl).expect("assign");
        // the end of the log as written: a read_committed client's watermark query stops at the
        // last stable offset, which an open transaction holds back
        let ends: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers())
            .set("isolation.level", "read_uncommitted")
            .create()
            .expect("watermark client");
        let start = Instant::now();
        let mut out = Vec::new();
        loop {
            match c.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    let mut v: serde_json::Value =
                        serde_json::from_slice(m.payload().unwrap_or_default())
                            .expect("alert JSON");
                    v.as_object_mut().map(|o| o.remove("emitted_at"));
                    out.push(v.to_string());
                }
                Some(Err(e)) => println!("alert reader: {e}"),
                None => {
                    let (_, high) = ends
                        .fetch_watermarks(&self.alerts, 0, Duration::from_secs(10))
                        .expect("watermarks");
                    let at = c
                        .position()
                        .ok()
                        .and_then(|p| p.elements().first().map(|e| e.offset()));
                    if matches!(at, Some(Offset::Offset(o)) if o >= high) {
                        println!(
                            "alert reader: {} alerts, position {at:?}, end {high}",
                            out.len()
                        );
                        return out;
                    }
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "the alert topic did not become readable to its end (an open transaction?)"
            );
        }
    }
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn kill9(mut child: Child) {
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

/// A small deterministic generator of kill moments; the seed is printed.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

fn seed() -> u64 {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    println!("kill moments seed: {s}");
    s
}

/// Counts of each alert.
fn multiset(alerts: &[String]) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for a in alerts {
        *m.entry(a.as_str()).or_insert(0) += 1;
    }
    m
}

fn assert_exactly(golden: &[String], got: &[String], what: &str) {
    let (g, o) = (multiset(golden), multiset(got));
    let lost: Vec<&&str> = g.keys().filter(|k| !o.contains_key(*k)).collect();
    let extra: Vec<&&str> = o.keys().filter(|k| !g.contains_key(*k)).collect();
    let dup: Vec<(&&str, &usize)> = o.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        lost.is_empty() && extra.is_empty() && dup.is_empty() && golden.len() == got.len(),
        "{what}: {} golden alerts, {} committed; lost {} {}; unexpected {} {}; duplicated {} {}",
        golden.len(),
        got.len(),
        lost.len(),
        summary(&lost),
        extra.len(),
        summary(&extra),
        dup.len(),
        summary(&dup.iter().map(|(k, _)| *k).collect::<Vec<_>>()),
    );
    println!(
        "{what}: {} alerts, exactly the golden run's (0 lost, 0 duplicated)",
        got.len()
    );
}

/// Alerts per (asset, kind, model) and the first two in full, for a failure message.
fn summary(alerts: &[&&str]) -> String {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for a in alerts {
        let v: serde_json::Value = serde_json::from_str(a).unwrap_or_default();
        let key = format!(
            "{}/{}/{}",
            v["asset_id"].as_str().unwrap_or("?"),
            v["kind"].as_str().unwrap_or("?"),
            v["model"]["version"].as_str().unwrap_or("-")
        );
        *by.entry(key).or_insert(0) += 1;
    }
    let first: Vec<&str> = alerts.iter().take(2).map(|a| **a).collect();
    format!("{by:?} e.g. {first:?}")
}

/// The golden run: all input first, one uninterrupted instance.
async fn golden() -> Vec<String> {
    let mut s = Scenario::new("faults-golden", "exactly-once").await;
    s.feed(Duration::ZERO).join().expect("feeder");
    let mut child = s.start("golden");
    s.wait_caught_up(&mut [&mut child], Duration::from_secs(180));
    stop(child);
    let alerts = s.alerts();
    let kinds = alerts.iter().filter(|a| a.contains("data_quality")).count();
    println!("golden run: {} alerts ({kinds} data quality)", alerts.len());
    assert!(
        alerts.len() >= 30 && kinds >= 3,
        "the input must raise enough alerts of both kinds to make the comparison mean something"
    );
    alerts
}

/// (a) kill -9 at random moments, restart each time.
async fn kill_and_restart(golden: &[String], delivery: &str) -> Vec<String> {
    let mut s = Scenario::new("faults-kill", delivery).await;
    let mut rng = Moments(seed());
    let feeder = s.feed(Duration::from_secs(15));
    let mut child = s.start("a");
    let kills: usize = std::env::var("VIGIL_FAULT_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(6);
    for k in 0..kills {
        let wait = rng.next_ms(1500, 4000);
        std::thread::sleep(Duration::from_millis(wait));
        println!("kill -9 #{} after {wait} ms", k + 1);
        kill9(child);
        child = s.start("a");
    }
    feeder.join().expect("feeder");
    s.wait_caught_up(&mut [&mut child], Duration::from_secs(180));
    stop(child);
    let got = s.alerts();
    assert!(!golden.is_empty());
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "broker"),
    ignore = "needs the real Kafka broker and the vigil binary: run `bash scripts/test.sh` (or `cargo test --features vigil-tests/broker` with a broker on VIGIL_BROKERS)"
)]
async fn faults_against_a_golden_run() {
    let golden = golden().await;

    // (a) exactly-once, kill -9 six times
    let got = kill_and_restart(&golden, "exactly-once").await;
    assert_exactly(&golden, &got, "(a) kill -9 x6, exactly-once");

    // (b) two instances, one killed mid-run and not restarted
    {
        let mut s = Scenario::new("faults-two", "exactly-once").await;
        let feeder = s.feed(Duration::from_secs(12));
        let a = s.start("a");
        let mut b = s.start("b");
        std::thread::sleep(Duration::from_secs(5));
        println!("(b) kill -9 instance a");
        kill9(a);
        feeder.join().expect("feeder");
        s.wait_caught_up(&mut [&mut b], Duration::from_secs(180));
        stop(b);
        assert_exactly(&golden, &s.alerts(), "(b) two instances, one killed");
    }

    // (c) the broker restarted mid-run
    {
        let mut s = Scenario::new("faults-broker", "exactly-once").await;
        let feeder = s.feed(Duration::from_secs(12));
        let mut child = s.start("a");
        std::thread::sleep(Duration::from_secs(4));
        let script = vigil_tests::crate_dir().join("../scripts/kafka.sh");
        println!("(c) restarting the broker");
        let ok = Command::new("bash").arg(&script).arg("restart").status();
        assert!(ok.is_ok_and(|s| s.success()), "kafka.sh restart");
        feeder.join().expect("feeder");
        s.wait_caught_up(&mut [&mut child], Duration::from_secs(240));
        stop(child);
        assert_exactly(&golden, &s.alerts(), "(c) broker restarted");
    }

    // (d) at-least-once: nothing lost, repeats identical
    let got = kill_and_restart(&golden, "at-least-once").await;
    let (g, o) = (multiset(&golden), multiset(&got));
    let lost: Vec<&&str> = g.keys().filter(|k| !o.contains_key(*k)).collect();
    let extra: Vec<&&str> = o.keys().filter(|k| !g.contains_key(*k)).collect();
    assert!(
        lost.is_empty() && extra.is_empty(),
        "(d) at-least-once: lost {lost:?}; alerts not in the golden run {extra:?}"
    );
    let mut ids: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for a in &got {
        let v: serde_json::Value = serde_json::from_str(a).expect("json");
        ids.entry(v["alert_id"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push(a);
    }
    for (id, copies) in &ids {
        assert!(
            copies.windows(2).all(|w| w[0] == w[1]),
            "(d) alert {id} was repeated with different content"
        );
    }
    println!(
        "(d) kill -9 x6, at-least-once: {} alerts, {} distinct, 0 lost, every repeat identical",
        got.len(),
        ids.len()
    );
}
