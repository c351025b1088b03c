//! Alerts for reliability engineers on a real broker (feature `broker`): the lifecycle, the
//! control topic (`vigil alerts ack` and `silence`, the real binary), silenced alerts still
//! recorded and flagged, `vigil alerts tail`, and the live dashboard, loaded in headless
//! Chromium, showing the faulty pump's alert (a screenshot is kept in
//! `<target dir>/test-artifacts/dashboard.png`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;
use vigil_pipeline::job::JobConfig;
use vigil_pipeline::kafka::ensure_topics;
use vigil_pipeline::runner::{run, RunOptions};
use vigil_pipeline::sim::{Fault, FaultKind, PlantSim};
use vigil_schemas::{Alert, AlertState};
use vigil_tests::{brokers, job_dir, pump_job_toml, read_topic, train_on_sim, unique, vigil_bin};

const STEP_MS: i64 = 5_000;
const PUMPS: usize = 10;
/// Develops bearing wear in the first phase; acknowledged and silenced while it fires.
const WORN: &str = "pump-003";
/// Develops cavitation in the second phase, after it was silenced: still recorded, flagged.
const SILENCED: &str = "pump-006";

fn produce(producer: &ThreadedProducer<DefaultProducerContext>, topic: &str, p: &[Vec<u8>]) {
    for x in p {
        producer
            .send(
                BaseRecord::to(topic)
                    .key("r".as_bytes())
                    .payload(x.as_slice()),
            )
            .expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

/// Waits until `f` holds for the committed alerts (bounded).
async fn until(got: &Arc<Mutex<Vec<Alert>>>, what: &str, f: impl Fn(&[Alert]) -> bool) {
    let start = Instant::now();
    loop {
        if f(&got.lock().unwrap()) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}; alerts: {:#?}",
            got.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn vigil(job: &Path, args: &[&str]) -> String {
    let out = Command::new(vigil_bin())
        .arg("alerts")
        .arg("--job")
        .arg(job)
        .args(args)
        .env("VIGIL_BROKERS", brokers())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run vigil");
    assert!(
        out.status.success(),
        "vigil alerts {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn artifacts_dir() -> PathBuf {
    // target/<profile>/deps/<this test> -> target/test-artifacts
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .ancestors()
        .nth(3)
        .map(|t| t.join("test-artifacts"))
        .expect("target dir");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

/// Loads the dashboard in headless Chromium; returns the DOM after its scripts ran.
fn chromium(url: &str, screenshot: &Path) -> String {
    let chrome = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok())
        .expect("headless Chromium is needed (scripts/test.sh installs Debian's chromium)");
    let base = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--virtual-time-budget=8000",
        "--window-size=1400,1000",
    ];
    let shot = Command::new(chrome)
        .args(base)
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(url)
        .output()
        .expect("chromium --screenshot");
    assert!(
        shot.status.success(),
        "chromium --screenshot: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let dom = Command::new(chrome)
        .args(base)
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("chromium --dump-dom");
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    String::from_utf8_lossy(&dom.stdout).into_owned()
}

#[test]
#[cfg_attr(
    not(feature = "broker"),
    ignore = "needs a real Kafka broker and Chromium: run `bash scripts/test.sh` (installs Chromium, starts a broker, enables feature `broker`)"
)]
fn acks_and_silences_flow_through_the_stream_and_the_dashboard_shows_the_faulty_pump() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(scenario());
}

async fn scenario() {
    let brokers = brokers();
    let prefix = unique("alerts");
    let toml = pump_job_toml(
        "alerts-pumps",
        &prefix,
        &brokers,
        "commit_interval = \"200ms\"",
        "[alerts]\nlifecycle = true\npending_windows = 2\nresolve_windows = 3\nhysteresis = 0.8\ncritical_ratio = 2.0",
    );
    let dir = job_dir("vigil-alerts", &toml);
    let job = dir.join("job.toml");
    let cfg = JobConfig::load(&job).expect("job file is valid");
    assert_eq!(cfg.kafka.control_topic, format!("{prefix}.alerts.control"));

    let t0: i64 = 1_764_115_200_000;
    let warm_steps = 2 * 3600 * 1000 / STEP_MS as usize;
    let artifact = train_on_sim(&cfg, PUMPS, 31, t0, STEP_MS, warm_steps).await;
    let live_start = t0 + warm_steps as i64 * STEP_MS;
    let mut live = PlantSim::new(
        PUMPS,
        32,
        live_start,
        STEP_MS,
        vec![
            Fault {
                pump: 3,
                kind: FaultKind::BearingWear,
                start_ms: live_start + 5 * 60_000,
            },
            Fault {
                pump: 6,
                kind: FaultKind::Cavitation,
                start_ms: live_start + 35 * 60_000,
            },
        ],
    );
    let steps = |min: i64| (min * 60_000 / STEP_MS) as usize;
    let phase1 = live.payloads(steps(30));
    let phase2 = live.payloads(steps(30));

    let input = cfg.kafka.input_topics[0].clone();
    ensure_topics(
        &brokers,
        &[
            (input.as_str(), 1),
            (&cfg.kafka.alert_topic, 1),
            (&cfg.kafka.control_topic, 1),
        ],
    )
    .await
    .expect("create topics");
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("producer");
    produce(&producer, &input, &phase1);

    let got: Arc<Mutex<Vec<Alert>>> = Arc::default();
    let mut opts = RunOptions::new();
    let sink = got.clone();
    opts.on_alert = Some(Box::new(move |a: &Alert| {
        sink.lock().unwrap().push(a.clone())
    }));
    let http = vigil_pipeline::http::HttpState::new(opts.stats.clone());
    let addr = vigil_pipeline::http::serve("127.0.0.1:0".parse().unwrap(), http.clone())
        .await
        .expect("HTTP server");
    opts.http = Some(http);
    let stop = opts.stop.clone();
    let task = tokio::spawn(run(cfg.clone(), Some(artifact.clone()), opts));
    let _stop_on_panic = vigil_tests::StopOnDrop(stop.clone());

    // 1. the worn pump's alert opens
    until(&got, "the worn pump's OPEN", |v| {
        v.iter()
            .any(|a| a.asset_id == WORN && a.state == Some(AlertState::Open))
    })
    .await;
    let id = got
        .lock()
        .unwrap()
        .iter()
        .find(|a| a.asset_id == WORN && a.state == Some(AlertState::Open))
        .map(|a| a.alert_id.clone())
        .unwrap();

    // 2. acknowledged and silenced with the CLI: an UPDATE carries both, without new readings
    let ack = vigil(
        &job,
        &["ack", &id, "--note", "bearing ordered", "--by", "ana"],
    );
    assert!(ack.contains("\"action\":\"ack\""), "{ack}");
    vigil(
        &job,
        &[
            "silence", WORN, "--for", "48h", "--note", "MO-4711", "--by", "ana",
        ],
    );
    until(&got, "an UPDATE with the ack and the silence", |v| {
        v.iter().any(|a| {
            a.alert_id == id
                && a.state == Some(AlertState::Update)
                && a.ack
                    .as_ref()
                    .is_some_and(|k| k.by == "ana" && k.note == "bearing ordered")
                && a.silence.as_ref().is_some_and(|s| s.note == "MO-4711")
        })
    })
    .await;

    // 3. silence the second pump before its fault: its alert is recorded, flagged
    vigil(
        &job,
        &[
            "silence",
            SILENCED,
            "--for",
            "48h",
            "--by",
            "ana",
            "--note",
            "pump swap",
        ],
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    produce(&producer, &input, &phase2);
    until(&got, "the silenced pump's OPEN", |v| {
        v.iter()
            .any(|a| a.asset_id == SILENCED && a.state == Some(AlertState::Open))
    })
    .await;

    // 4. the dashboard: the API and the page in headless Chromium
    let (status, body) = vigil_tests::http_get(addr, "/api/state").await;
    assert_eq!(status, 200);
    let state: serde_json::Value = serde_json::from_str(&body).expect("state JSON");
    println!("fleet: {}", state["fleet"]);
    let fleet = state["fleet"].as_array().expect("fleet");
    assert_eq!(fleet.len(), PUMPS);
    let top: Vec<&str> = fleet[..2]
        .iter()
        .map(|r| r["asset_id"].as_str().unwrap())
        .collect();
    assert!(
        top.contains(&WORN) && top.contains(&SILENCED),
        "the alerting pumps lead the fleet: {top:?}"
    );
    assert!(state["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["alert_id"] == id.as_str()));
    assert_eq!(state["model"]["version"], artifact.version.as_str());
    let (_, hist) = vigil_tests::http_get(addr, &format!("/api/asset?id={WORN}")).await;
    let hist: serde_json::Value = serde_json::from_str(&hist).unwrap();
    assert!(hist["points"].as_array().unwrap().len() >= 30, "{hist}");
    let shot = artifacts_dir().join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let dom = chromium(&format!("http://{addr}/"), &shot);
    assert!(
        dom.contains("data-loaded=\"1\""),
        "the page loaded its data"
    );
    assert!(
        dom.contains(&format!("data-alert-id=\"{id}\"")),
        "the page shows the worn pump's alert"
    );
    assert!(dom.contains(&format!("data-asset=\"{WORN}\"")));
    assert!(dom.contains("acked by ana"), "the ack is shown");
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "a screenshot of the page ({size} bytes)");
    println!("dashboard screenshot: {}", shot.display());

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let snap = task.await.expect("job task").expect("job run");

    // 5. the topic: silenced records are there and flagged, acks carried on
    println!("job stats: {snap:?}");
    let n = got.lock().unwrap().len();
    let records = read_topic(
        &brokers,
        &cfg.kafka.alert_topic,
        Some(n),
        Duration::from_secs(10),
        Duration::from_secs(60),
    );
    let alerts: Vec<Alert> = records
        .iter()
        .map(|r| serde_json::from_slice(r.payload.as_deref().unwrap()).unwrap())
        .collect();
    assert_eq!(
        alerts,
        *got.lock().unwrap(),
        "the topic holds what was committed"
    );
    let silenced_open = alerts
        .iter()
        .find(|a| a.asset_id == SILENCED && a.state == Some(AlertState::Open))
        .expect("the silenced pump's alert is recorded");
    let s = silenced_open.silence.as_ref().expect("flagged as silenced");
    assert_eq!((s.target.as_str(), s.by.as_str()), (SILENCED, "ana"));
    let of_id: Vec<&Alert> = alerts.iter().filter(|a| a.alert_id == id).collect();
    let first_ack = of_id
        .iter()
        .position(|a| a.ack.is_some())
        .expect("an acked record");
    assert!(
        of_id[first_ack..].iter().all(|a| a.ack.is_some()),
        "later records of the alert carry the ack"
    );

    // 6. `vigil alerts tail`: filters, readable and JSON
    let json = vigil(
        &job,
        &[
            "tail",
            "--from-beginning",
            "--no-follow",
            "--json",
            "--asset",
            "pump-00*",
        ],
    );
    let tailed: Vec<Alert> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("one alert per line"))
        .collect();
    let want: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.asset_id.starts_with("pump-00"))
        .collect();
    assert_eq!(tailed.iter().collect::<Vec<_>>(), want);
    let open_only = vigil(
        &job,
        &[
            "tail",
            "--from-beginning",
            "--no-follow",
            "--json",
            "--state",
            "open",
        ],
    );
    assert!(open_only.lines().count() >= 2);
    assert!(open_only.lines().all(|l| l.contains("\"state\":\"open\"")));
    let readable = vigil(
        &job,
        &["tail", "--from-beginning", "--no-follow", "--asset", WORN],
    );
    println!("{readable}");
    assert!(
        readable.contains("acked by ana: bearing ordered"),
        "{readable}"
    );
    assert!(readable.contains("SILENCED until"), "{readable}");
}
