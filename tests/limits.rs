//! Bounded memory: 100 000 assets, each reporting once, through a job limited to 10 000
//! tracked assets per partition with idle assets evicted after 20 minutes of event time. The
//! tracked assets and the per-asset state never exceed the limit, readings of assets beyond it
//! are refused (dead-lettered as `asset_limit` by the runner) and counted, every reading is
//! accounted for, and evicted assets make room for new ones. Resident memory is printed.

use std::sync::Arc;

use vigil_pipeline::engine::Engine;
use vigil_pipeline::job::JobConfig;
use vigil_pipeline::metrics::JobStats;
use vigil_tests::faults::{job_toml, SQL, T0};
use vigil_tests::unique;

fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::test]
async fn a_hundred_thousand_assets_stay_within_the_limit() {
    const ASSETS: usize = 100_000;
    const LIMIT: usize = 10_000;
    let dir = std::env::temp_dir().join(unique("vigil-limits"));
    std::fs::create_dir_all(&dir).expect("dir");
    let job = job_toml("l", "in", "alerts", "exactly-once")
        + "[limits]\nmax_assets = 10000\nevict_after = \"20m\"\n";
    std::fs::write(dir.join("job.toml"), job).expect("job");
    std::fs::write(dir.join("features.sql"), SQL).expect("sql");
    let cfg = JobConfig::load(&dir.join("job.toml")).expect("job is valid");
    let stats = Arc::new(JobStats::new());
    let mut engine = Engine::new(&cfg, None, stats.clone())
        .await
        .expect("engine");
    engine.assign([0], 0);
    let before = rss_kib();
    let (mut limited, mut most, mut most_state) = (0usize, 0usize, 0usize);
    // asset i reports once at T0 + i·100 ms: 100 000 assets over 10 000 s of event time
    for chunk in (0..ASSETS).collect::<Vec<_>>().chunks(5000) {
        let lines: Vec<String> = chunk
            .iter()
            .map(|i| {
                format!(
                    r#"{{"asset_id":"a{i}","ts":{},"measurements":{{"temp":20.0,"vib":0.5}}}}"#,
                    T0 + *i as i64 * 100
                )
            })
            .collect();
        let d = engine
            .decode(lines.iter().map(|l| Some(l.as_bytes())))
            .expect("decode");
        let src = vec![0u32; d.batch.num_rows()];
        let step = engine.process(&d.batch, &src, 0).await.expect("process");
        limited += step.limited_rows.len();
        most = most.max(engine.tracked_assets());
        most_state = most_state.max(engine.state_entries());
    }
    let after = rss_kib();
    let s = stats.snapshot();
    println!(
        "{ASSETS} assets, limit {LIMIT}: at most {most} tracked, at most {most_state} per-asset state entries, {limited} readings refused, {} assets evicted; resident memory {before:?} KiB -> {after:?} KiB",
        s.evicted
    );
    assert!(most <= LIMIT, "tracked {most}");
    assert!(most_state <= 3 * LIMIT, "state entries {most_state}");
    assert!(limited > 0, "assets beyond the limit were refused");
    assert!(s.evicted > 0, "idle assets were evicted");
    assert_eq!(
        s.by_reason
            .iter()
            .find(|(r, _)| *r == "asset_limit")
            .map(|(_, n)| *n as usize),
        Some(limited),
        "each refused reading is counted"
    );
    // 12 000 assets report per 20 minutes: without eviction only the first 10 000 would get in
    assert!(
        ASSETS - limited > 2 * LIMIT,
        "eviction made room: {} admitted",
        ASSETS - limited
    );
    std::fs::remove_dir_all(&dir).ok();
}
