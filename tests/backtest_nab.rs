//! `vigil backtest` on NAB's realKnownCause streams in `../shared/datasets/nab` with the example
//! job `examples/nab/job.toml`: every file streams from its first row through the pipeline's
//! decoder, hopping windows, feature SQL, an ensemble of per-stream EWMA baselines and the alert
//! lifecycle with its cool-down; NAB's probation and scoring rules. The floor (standard ≥ 60)
//! is below the goal (64), because the job's settings were chosen on these same files.

use vigil_pipeline::backtest::run_backtest;

#[tokio::test]
async fn nab_real_known_cause_meets_the_floor() {
    let cfg = vigil_tests::example_job("nab");
    let report = run_backtest(&cfg, None).await.expect("backtest");
    println!("{report}");
    let j = report.json();
    println!("{j}");
    assert_eq!(report.files.len(), 7, "7 realKnownCause streams");
    assert_eq!(j["nab_windows"], 19, "19 labelled windows");
    let std = j["nab_standard"].as_f64().expect("standard");
    let low_fp = j["nab_low_fp"].as_f64().expect("low FP");
    let low_fn = j["nab_low_fn"].as_f64().expect("low FN");
    assert!(std >= 60.0, "NAB standard {std:.2} < 60");
    assert!(
        low_fp < std && std < low_fn,
        "profiles order: {low_fp} {std} {low_fn}"
    );
    // the lifecycle holds alerts open and cools down: few detections, not one per window
    let detections = j["nab_detections"].as_u64().expect("detections");
    assert!((10..=60).contains(&detections), "{detections} detections");
    // probation: min(15 %, 750) rows of each file are never scored
    for f in &report.files {
        assert!(f.train_rows <= 750 && f.test_rows > 0, "{}", f.file);
    }
    assert!(j["rmse"].is_null(), "not a RUL job");
}
