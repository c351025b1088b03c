//! The job's output does not depend on how its input is cut into batches: the fault-injection
//! scenario's partition streams (with readings held back past their windows) run through the
//! engine in batches of 1, 37, 200 and all records give the same alerts and the same late
//! readings. This is what lets a replay after a crash reproduce the uninterrupted run exactly.

use std::collections::BTreeMap;
use std::sync::Arc;

use vigil_pipeline::engine::Engine;
use vigil_pipeline::job::JobConfig;
use vigil_pipeline::metrics::JobStats;
use vigil_tests::faults::{job_toml, partition_stream, SQL};
use vigil_tests::unique;

/// Alerts (canonical JSON without emission time, counted) and late readings of one run.
async fn run(
    cfg: &JobConfig,
    records: &[(String, String)],
    chunk: usize,
) -> (BTreeMap<String, usize>, Vec<String>) {
    let mut e = Engine::new(cfg, None, Arc::new(JobStats::new()))
        .await
        .expect("engine");
    e.assign([0], 0);
    let mut alerts = BTreeMap::new();
    let mut late = Vec::new();
    for c in records.chunks(chunk) {
        let d = e
            .decode(c.iter().map(|(_, r)| Some(r.as_bytes())))
            .expect("decode");
        assert!(d.dead.is_empty());
        let src = vec![0u32; d.batch.num_rows()];
        let step = e.process(&d.batch, &src, 0).await.expect("process");
        for a in &step.alerts {
            let mut v = serde_json::to_value(a).expect("alert");
            v.as_object_mut().map(|o| o.remove("emitted_at"));
            *alerts.entry(v.to_string()).or_insert(0) += 1;
        }
        for r in &step.late_rows {
            late.push(c[d.rows[*r as usize] as usize].1.clone());
        }
    }
    (alerts, late)
}

#[tokio::test]
async fn alerts_and_late_readings_do_not_depend_on_batching() {
    let dir = std::env::temp_dir().join(unique("vigil-batching"));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("job.toml"),
        job_toml("b", "in", "alerts", "exactly-once"),
    )
    .expect("job");
    std::fs::write(dir.join("features.sql"), SQL).expect("sql");
    let cfg = JobConfig::load(&dir.join("job.toml")).expect("job is valid");
    for part in 0..2 {
        let records = partition_stream(part);
        let (alerts, late) = run(&cfg, &records, records.len()).await;
        assert!(
            alerts.len() >= 20,
            "partition {part}: {} alerts",
            alerts.len()
        );
        assert!(
            !late.is_empty(),
            "partition {part}: the held-back readings are late"
        );
        for chunk in [1, 37, 200] {
            let (a, l) = run(&cfg, &records, chunk).await;
            assert_eq!(
                a, alerts,
                "partition {part}, batches of {chunk}: alerts differ"
            );
            assert_eq!(
                l, late,
                "partition {part}, batches of {chunk}: late readings differ"
            );
        }
        println!("partition {part}: {} alerts, {} late readings, the same in batches of 1, 37, 200 and all", alerts.len(), late.len());
    }
    std::fs::remove_dir_all(&dir).ok();
}
