//! `vigil backtest` with protocol `rul` on the real NASA C-MAPSS data in
//! `../shared/datasets/cmapss` with the example jobs `examples/cmapss-fd001/`: the pipeline's own decoder, hopping windows (50 cycles, sliding by
//! one), feature SQL (levels and `slope` trends) and boosted-tree RUL model; trained on the
//! run-to-failure histories, each test engine predicted at its last cycle. The floor catches
//! regressions and is looser than the goal (FD001 RMSE ≤ 12.5, FD002 ≤ 16). FD002 (six operating
//! conditions) goes through the per-regime normalisation of `[conditions]` first.

use vigil_pipeline::backtest::run_backtest;
use vigil_tests::example_job as job;

#[tokio::test]
async fn fd001_rul_rmse_meets_the_floor() {
    let report = run_backtest(&job("cmapss-fd001"), None)
        .await
        .expect("backtest");
    println!("{report}");
    let j = report.json();
    let rul = report.rul.as_ref().expect("a RUL report");
    assert_eq!(rul.predictions.len(), 100, "one prediction per test engine");
    assert!(rul
        .predictions
        .iter()
        .all(|p| (0.0..=125.0).contains(&p.predicted)));
    // the last cycle of test engine 1 is 31 (test_FD001.txt), its true RUL 112 (RUL_FD001.txt)
    assert_eq!(
        (
            rul.predictions[0].asset.as_str(),
            rul.predictions[0].age,
            rul.predictions[0].actual
        ),
        ("1", 31.0, 112.0)
    );
    let rmse = j["rmse"].as_f64().expect("rmse");
    let phm = j["phm_score"].as_f64().expect("phm_score");
    println!("rmse {rmse:.3}, phm_score {phm:.1}");
    assert!(rmse <= 20.0, "FD001 RMSE {rmse:.2} > 20");
    assert!(phm <= 1500.0, "FD001 PHM08 score {phm:.0} > 1500");
    assert!(
        j["f1"].is_null() && j["nab_standard"].is_null(),
        "not an anomaly job"
    );
}

#[tokio::test]
async fn fd002_rul_rmse_with_condition_normalisation_meets_the_floor() {
    let report = run_backtest(&job("cmapss-fd002"), None)
        .await
        .expect("backtest");
    println!("{report}");
    let j = report.json();
    let rul = report.rul.as_ref().expect("a RUL report");
    assert_eq!(rul.predictions.len(), 259, "one prediction per test engine");
    assert_eq!(rul.truth_cap, Some(125.0));
    let rmse = j["rmse"].as_f64().expect("rmse");
    let uncapped = rul.metrics_uncapped.expect("uncapped figures").rmse;
    println!("rmse {rmse:.3} (capped truth), {uncapped:.3} (uncapped)");
    assert!(
        rmse <= 14.0,
        "FD002 RMSE {rmse:.2} > 14 against the capped truth"
    );
    // no model trained on targets capped at 125 reaches the uncapped truth of engines with more
    // life left: the uncapped error is larger, and bounded
    assert!(
        uncapped > rmse && uncapped <= 30.0,
        "uncapped RMSE {uncapped:.2}"
    );
}

/// The same FD002 engines without the normalisation: the regimes swamp the degradation, which
/// is what `[conditions]` is for.
#[tokio::test]
async fn fd002_without_condition_normalisation_is_much_worse() {
    let mut cfg = job("cmapss-fd002");
    cfg.conditions = None;
    if let Some(r) = cfg.rul.as_mut() {
        r.gbr.trees = 100;
    }
    let report = run_backtest(&cfg, None).await.expect("backtest");
    let rmse = report.rul.as_ref().expect("rul").metrics.rmse;
    println!("FD002 without normalisation (100 trees): RMSE {rmse:.2}");
    assert!(
        rmse > 16.0,
        "RMSE {rmse:.2}: normalisation should matter on FD002"
    );
}

/// The streaming engine with the trained RUL model on the test engines: alerts have kind `rul`,
/// carry the predicted life (below the 30-cycle horizon) and an explanation, and each engine is
/// scored only at windows holding a new cycle, never again at the windows that still hold it
/// after its data stopped.
#[tokio::test]
async fn streaming_rul_alerts_carry_the_prediction_and_stop_with_the_data() {
    use std::collections::HashMap;
    use std::sync::Arc;
    use vigil_pipeline::engine::Engine;
    use vigil_pipeline::history::read_history;
    use vigil_pipeline::metrics::JobStats;
    use vigil_pipeline::train::{train_from_batches, TrainOptions};
    use vigil_schemas::{AlertKind, BatchDecoder};

    let cfg = job("cmapss-fd001");
    let bt = cfg.backtest.as_ref().expect("backtest");
    let dec = BatchDecoder::new(cfg.mapping.clone()).expect("decoder");
    let read = |f: &str| {
        let h = read_history(&bt.data.join(f), &dec, &cfg.history_columns).expect("read");
        assert!(h.dead.is_empty(), "{f}: {:?}", h.dead.first());
        h.batches
    };
    let report = train_from_batches(&cfg, &read("train_FD001.txt"), &TrainOptions::for_job(&cfg))
        .await
        .expect("train");
    println!("{report}");
    let mut engine = Engine::new(&cfg, Some(report.artifact), Arc::new(JobStats::new()))
        .await
        .expect("engine");
    let mut alerts = Vec::new();
    for b in read("test_FD001.txt") {
        alerts.extend(engine.process_all(&b).await.expect("process").alerts);
    }
    alerts.extend(engine.flush().await.expect("flush").alerts);
    // last cycle of each test engine, from the file itself
    let mut last: HashMap<String, i64> = HashMap::new();
    let test_text = std::fs::read_to_string(bt.data.join("test_FD001.txt")).expect("test file");
    for line in test_text.lines() {
        let mut f = line.split_whitespace();
        if let (Some(u), Some(c)) = (f.next(), f.next().and_then(|c| c.parse::<i64>().ok())) {
            let e = last.entry(u.to_string()).or_insert(c);
            *e = (*e).max(c);
        }
    }
    const ORIGIN_MS: i64 = 946_684_800_000; // 2000-01-01T00:00:00Z, the job's timestamp_origin
    assert!(alerts.len() > 100, "{} alerts", alerts.len());
    for a in &alerts {
        assert_eq!(a.kind, AlertKind::Rul);
        let rul = a.rul.expect("predicted RUL");
        assert!(rul < 30.0 && a.score > 1.0, "{rul} {}", a.score);
        assert!(!a.top_features.is_empty(), "explained");
        assert!(
            a.top_features
                .iter()
                .all(|c| c.z.is_some_and(f64::is_finite)),
            "each driver has its z-score"
        );
        // the window's last one-cycle pane holds the engine's newest cycle at most
        let end_cycle = (a.window_end - ORIGIN_MS) / 1000;
        assert!(
            end_cycle <= last[&a.asset_id] + 1,
            "engine {} scored after its data stopped",
            a.asset_id
        );
    }
    // engine 20 (true RUL 16 at its last cycle) and 34 (7) are alerting by then
    for unit in ["20", "34"] {
        assert!(
            alerts
                .iter()
                .any(|a| a.asset_id == unit && (a.window_end - ORIGIN_MS) / 1000 == last[unit] + 1),
            "engine {unit}"
        );
    }
}
