//! `vigil bench kafka` on the real broker at a small size (feature `broker`): every phase
//! handles every record, windows close, the restarted job raises the planted alert, and the
//! fixed-load levels of both delivery modes sample visible alerts (acknowledged or committed).
//! Only
//! counts are asserted; the timings it prints are never checked.

use vigil_pipeline::bench_kafka::{bench_kafka, KafkaBenchOptions};
use vigil_tests::{brokers, unique};

#[test]
#[cfg_attr(
    not(feature = "broker"),
    ignore = "needs a real Kafka broker: run `bash scripts/test.sh` (starts one and enables feature `broker`)"
)]
fn the_kafka_bench_runs_every_phase_over_every_record() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let o = KafkaBenchOptions {
        brokers: brokers(),
        readings: 30_000,
        assets: 997,
        partitions: 2,
        broker_pid: None,
        progress: false,
        latency_seconds: 4,
        native: true,
    };
    let dir = std::env::temp_dir().join(unique("vigil-bench-test"));
    let r = rt.block_on(bench_kafka(&o, &dir)).expect("bench");
    println!("{r:?}");
    assert_eq!(r.load.records, 30_000);
    assert_eq!(r.raw.records, 30_000, "the raw loop read every record");
    assert_eq!(
        r.raw_batch.records, 30_000,
        "the batch-taking raw loop read every record"
    );
    assert_eq!(r.e2e.records, 30_000, "Vigil decoded every reading");
    // 30 s of event time in 10 s windows: at least two closed
    assert!(r.windows >= 2, "{r:?}");
    let ms = r
        .restart_to_first_alert_ms
        .expect("the restarted job alerts on the planted spike");
    assert!(ms > 0.0);
    assert!(r.e2e.cpu_s > 0.0 && r.raw.cpu_s >= 0.0);
    // every fixed-load level of both delivery modes ran, closed windows and sampled the
    // alerts it made visible
    assert_eq!(r.latency.len(), 6, "{:?}", r.latency);
    for d in ["at-least-once", "exactly-once"] {
        assert_eq!(r.latency.iter().filter(|l| l.delivery == d).count(), 3);
    }
    for l in &r.latency {
        assert!(l.windows > 0, "{l:?}");
        assert!(l.latency.count > 0, "no alert sampled at {l:?}");
        assert!(l.latency.p50_ms <= l.latency.p99_ms && l.latency.p99_ms <= l.latency.max_ms);
    }
}
