//! OpenTelemetry on a real broker (feature `broker`): an in-test OTLP/HTTP receiver gets the
//! job's metrics and spans, and every alert's `traceparent` (field and header) names a
//! `vigil.window` span the receiver got, in the trace the input readings carried.
//!
//! Its own test binary: telemetry is process-global (installed once, before the job's
//! instruments exist).

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;
use serde_json::Value;
use vigil_pipeline::job::{JobConfig, TelemetrySettings};
use vigil_pipeline::kafka::ensure_topics;
use vigil_pipeline::runner::{run, RunOptions};
use vigil_pipeline::sim::{Fault, FaultKind, PlantSim};
use vigil_schemas::Alert;
use vigil_tests::{brokers, job_dir, pump_job_toml, read_topic, train_on_sim, unique};

const STEP_MS: i64 = 5_000;
/// The trace the input readings belong to (as a plant gateway with tracing would send it).
const INPUT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// What the receiver got: (path, parsed JSON body).
type Got = Arc<Mutex<Vec<(String, Value)>>>;

/// An OTLP/HTTP JSON receiver on 127.0.0.1; returns its base URL.
async fn receiver(got: Got) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let got = got.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let got = got.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        got.lock().unwrap().push((path, json));
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

fn names_in(v: &Value, list: &str, inner: &str, items: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for r in v[list].as_array().into_iter().flatten() {
        for s in r[inner].as_array().into_iter().flatten() {
            out.extend(s[items].as_array().into_iter().flatten().cloned());
        }
    }
    out
}

#[test]
#[cfg_attr(
    not(feature = "broker"),
    ignore = "needs a real Kafka broker: run `bash scripts/test.sh` (starts one and enables feature `broker`)"
)]
fn otlp_receiver_gets_metrics_and_spans_and_alerts_carry_their_window_span() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(scenario());
}

async fn scenario() {
    let got: Got = Arc::default();
    let endpoint = receiver(got.clone()).await;
    let brokers = brokers();
    let prefix = unique("otel");
    let toml = pump_job_toml(
        "otel-pumps",
        &prefix,
        &brokers,
        "",
        "[telemetry]\nexport_interval = \"500ms\"",
    );
    let dir = job_dir("vigil-otel", &toml);
    let cfg = JobConfig::load(&dir.join("job.toml")).expect("job file is valid");
    assert_eq!(cfg.telemetry.export_interval_ms, 500);
    assert_eq!(
        cfg.telemetry.otlp_endpoint, None,
        "export is off by default"
    );
    // what `vigil run` does with `[telemetry] otlp_endpoint` (or OTEL_EXPORTER_OTLP_ENDPOINT)
    let telemetry = vigil_pipeline::telemetry::install(&TelemetrySettings {
        otlp_endpoint: Some(endpoint.clone()),
        ..cfg.telemetry.clone()
    })
    .expect("telemetry");
    assert!(vigil_pipeline::telemetry::exporting());

    let t0: i64 = 1_764_115_200_000;
    let warm_steps = 2 * 3600 * 1000 / STEP_MS as usize;
    let artifact = train_on_sim(&cfg, 8, 21, t0, STEP_MS, warm_steps).await;
    let live_start = t0 + warm_steps as i64 * STEP_MS;
    let payloads = PlantSim::new(
        8,
        22,
        live_start,
        STEP_MS,
        vec![Fault {
            pump: 3,
            kind: FaultKind::BearingWear,
            start_ms: live_start + 10 * 60_000,
        }],
    )
    .payloads(40 * 60_000 / STEP_MS as usize);

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
        .create()
        .expect("producer");
    // every reading carries the input trace, each with its own parent span id
    for (i, p) in payloads.iter().enumerate() {
        let tp = format!("00-{INPUT_TRACE}-{:016x}-01", i + 1);
        let headers = OwnedHeaders::new().insert(Header {
            key: "traceparent",
            value: Some(tp.as_bytes()),
        });
        producer
            .send(
                BaseRecord::to(&input)
                    .key("r".as_bytes())
                    .payload(p.as_slice())
                    .headers(headers),
            )
            .expect("send");
    }
    producer
        .send(
            BaseRecord::to(&input)
                .key("bad".as_bytes())
                .payload("{oops".as_bytes()),
        )
        .expect("send");
    producer.flush(Duration::from_secs(30)).expect("flush");
    let total = payloads.len() as u64 + 1;

    let opts = RunOptions::new();
    let (stop, stats) = (opts.stop.clone(), opts.stats.clone());
    let job = tokio::spawn(run(cfg.clone(), Some(artifact.clone()), opts));
    let _stop_on_panic = vigil_tests::StopOnDrop(stop.clone());
    let started = Instant::now();
    while stats.snapshot().polled < total {
        assert!(started.elapsed() < Duration::from_secs(180), "job stalled");
        assert!(!job.is_finished(), "job ended early");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // the gauges are published every 5 s and exported every 500 ms
    tokio::time::sleep(Duration::from_secs(7)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let snap = job.await.expect("job task").expect("job run");
    assert!(snap.alerts > 0, "the faulty pump alerted: {snap:?}");
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .expect("shutdown");

    let got = got.lock().unwrap().clone();
    let paths: BTreeSet<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
    assert!(paths.contains("/v1/metrics"), "paths: {paths:?}");
    assert!(paths.contains("/v1/traces"), "paths: {paths:?}");
    let mut metric_names = BTreeSet::new();
    for (_, v) in got.iter().filter(|(p, _)| p == "/v1/metrics") {
        for m in names_in(v, "resourceMetrics", "scopeMetrics", "metrics") {
            metric_names.insert(m["name"].as_str().unwrap_or_default().to_string());
        }
    }
    println!("metrics received: {metric_names:?}");
    for want in [
        "vigil.readings",
        "vigil.dead_letters",
        "vigil.windows_closed",
        "vigil.alerts",
        "vigil.alert_records",
        "vigil.scoring_latency",
        "vigil.window_close_to_alert_latency",
        "vigil.consumer_lag",
        "vigil.model",
    ] {
        assert!(metric_names.contains(want), "metric {want} exported");
    }
    // spans by id: (name, trace id, parent span id)
    let mut spans: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    for (_, v) in got.iter().filter(|(p, _)| p == "/v1/traces") {
        for s in names_in(v, "resourceSpans", "scopeSpans", "spans") {
            let f = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            spans.insert(f("spanId"), (f("name"), f("traceId"), f("parentSpanId")));
        }
    }
    let count = |n: &str| spans.values().filter(|s| s.0 == n).count();
    println!(
        "spans received: {} batch, {} window",
        count("vigil.batch"),
        count("vigil.window")
    );
    assert!(count("vigil.batch") > 0 && count("vigil.window") > 0);
    // batch spans of the traced input continue the input's trace
    assert!(spans
        .values()
        .any(|(n, t, p)| n == "vigil.batch" && t == INPUT_TRACE && !p.is_empty()));

    let alerts = read_topic(
        &brokers,
        &cfg.kafka.alert_topic,
        Some(snap.alerts as usize),
        Duration::from_secs(10),
        Duration::from_secs(60),
    );
    assert_eq!(alerts.len() as u64, snap.alerts);
    for r in &alerts {
        let a: Alert = serde_json::from_slice(r.payload.as_deref().unwrap()).expect("alert");
        let tp = a.traceparent.clone().expect("alert has a traceparent");
        assert_eq!(r.header("traceparent"), Some(tp.as_str()), "header = field");
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4, "{tp}");
        let (name, trace, parent) = spans
            .get(parts[2])
            .unwrap_or_else(|| panic!("alert {tp}: its span was not exported"));
        assert_eq!(name, "vigil.window", "an alert names its window span");
        assert_eq!(trace, parts[1]);
        assert_eq!(trace, INPUT_TRACE, "the alert is in the readings' trace");
        let batch = spans
            .get(parent)
            .expect("the window span's parent was exported");
        assert_eq!(batch.0, "vigil.batch");
    }
}
