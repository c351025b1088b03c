//! `vigil backtest` on the real SKAB data in `../shared/datasets/skab` (valve1 + valve2, 20
//! labelled files) with the example job `examples/skab/job.toml`: the streaming pipeline's own
//! decoder, windows, feature SQL and detector, SKAB's 2024 per-file protocol. Floors catch
//! regressions; they are looser than the goal (F1 ≥ 0.80 with FAR ≤ 15 %). The data is read in
//! place; if the folder is missing the test fails and says where it looked.

use vigil_pipeline::backtest::run_backtest;
use vigil_pipeline::job::JobConfig;

fn job() -> JobConfig {
    vigil_tests::example_job("skab")
}

#[tokio::test]
async fn skab_pooled_metrics_meet_the_floors() {
    let cfg = job();
    let report = run_backtest(&cfg, None).await.expect("backtest");
    println!("{report}");
    let j = report.json();
    println!("{j}");
    assert_eq!(report.files.len(), 20, "valve1 (16) + valve2 (4)");
    let f1 = j["f1"].as_f64().expect("f1");
    let far = j["far"].as_f64().expect("far");
    let mar = j["mar"].as_f64().expect("mar");
    assert!(f1 >= 0.70, "SKAB F1 {f1:.3} < 0.70");
    assert!(far <= 25.0, "SKAB FAR {far:.2} % > 25 %");
    assert!(mar <= 40.0, "SKAB MAR {mar:.2} % > 40 %");
    let nab = j["nab_standard"]
        .as_f64()
        .expect("NAB standard (the job scores change points)");
    assert!(nab >= 25.0, "SKAB NAB standard {nab:.2} < 25");
    // lead time: most labelled anomalies are alarmed, well before they end
    let (events, detected) = (j["events"].as_u64(), j["events_detected"].as_u64());
    assert_eq!(events, Some(20), "one labelled anomaly per file");
    assert!(detected >= Some(16), "{detected:?} of 20 anomalies alarmed");
    let lead = j["lead_time_median_s"].as_f64().expect("lead time");
    let delay = j["detection_delay_median_s"].as_f64().expect("delay");
    assert!(lead > 0.0 && delay >= 0.0, "lead {lead} s, delay {delay} s");
    assert_eq!(
        j["nab_windows"], 79,
        "one window per labelled change point in the test parts"
    );
    for key in ["nab_low_fp", "nab_low_fn", "rmse", "phm_score"] {
        assert!(j.get(key).is_some(), "--json has key {key}");
    }
    assert!(
        j["rmse"].is_null() && j["phm_score"].is_null(),
        "not a RUL job"
    );
    // the training part of each file is never scored
    assert!(report
        .files
        .iter()
        .all(|f| f.train_rows == 400 && f.test_rows > 500));
    // the report: a summary and one plot per file, kept as a test artifact
    let dir = std::env::temp_dir().join("vigil-skab-report");
    let written = vigil_pipeline::backtest::write_report(&dir, &report).expect("report");
    assert_eq!(written.len(), 21);
    let svg = std::fs::read_to_string(dir.join("valve1_0.svg")).expect("plot");
    assert!(svg.contains("<polyline") && svg.contains("stroke-dasharray"));
    println!("report in {}", dir.display());
}

#[tokio::test]
async fn input_replaces_the_data_path() {
    let cfg = job();
    let one = cfg
        .backtest
        .as_ref()
        .expect("backtest")
        .data
        .join("valve2/0.csv");
    let report = run_backtest(&cfg, Some(&one))
        .await
        .expect("backtest one file");
    assert_eq!(report.files.len(), 1);
    assert!(
        report.total.tp + report.total.fn_ > 0,
        "the file has labelled anomalies"
    );
}
