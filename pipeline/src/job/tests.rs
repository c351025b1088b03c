//! Unit tests of `job`.
use std::path::PathBuf;

use super::*;

fn example_dir() -> PathBuf {
    crate::crate_dir().join("../examples")
}

const GOOD: &str = r#"
[job]
name = "pumps"

[kafka]
brokers = "127.0.0.1:9092"
group_id = "vigil-pumps"
input_topics = ["plant.readings"]
alert_topic = "plant.alerts"
dead_letter_topic = "plant.dead-letter"

[fields]
measurements = ["vibration_rms", "temperature"]
rename = { temperature = "temp_c" }
tags = ["site"]

[window]
kind = "hopping"
size = "60s"
slide = "15s"
allowed_out_of_orderness = "5s"

[features]
sql_file = "pump_features.sql"

[model]
artifact = "pump-model.json"
"#;

#[test]
fn a_good_job_resolves() {
    let cfg = JobConfig::from_toml(GOOD, &example_dir().join("job.toml")).unwrap();
    assert_eq!(
        cfg.event_time.window,
        vigil_operators::WindowKind::Fixed {
            size_ms: 60_000,
            slide_ms: 15_000
        }
    );
    assert_eq!(cfg.event_time.out_of_orderness_ms, 5_000);
    assert_eq!(cfg.event_time.allowed_lateness_ms, 0);
    assert_eq!(cfg.event_time.idle_timeout_ms, Some(60_000));
    assert!(!cfg.event_time.dedup);
    assert_eq!(cfg.kafka.late_topic, "pumps.late");
    assert_eq!(cfg.mapping.measurements[1].source, "temp_c");
    assert_eq!(cfg.mapping.measurements[1].column, "temperature");
    assert!(cfg.feature_sql.contains("GROUP BY"));
    assert!(cfg.model_path.ends_with("pump-model.json"));
}

#[test]
fn the_example_job_is_valid() {
    let cfg = JobConfig::load(&example_dir().join("pump-fleet.toml")).unwrap();
    assert_eq!(cfg.name, "pump-fleet");
}

#[test]
fn every_problem_is_reported_at_once_with_its_line() {
    let bad = GOOD
        .replace(
            "group_id = \"vigil-pumps\"",
            "group_id = \"vigil-pumps\"\ncolour = \"red\"",
        )
        .replace("size = \"60s\"", "size = \"60 parsecs\"")
        .replace("[features]", "[features]\nsql = \"x\"")
        .replace("pump_features.sql", "missing.sql")
        .replace(
            "alert_topic = \"plant.alerts\"",
            "alert_topic = \"plant.readings\"",
        );
    let err = JobConfig::from_toml(&bad, &example_dir().join("job.toml")).unwrap_err();
    let PipelineError::InvalidJob { problems, .. } = err else {
        panic!("wrong error")
    };
    // unknown keys stop typed parsing: both are reported, with their lines
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].starts_with("line 8: unknown key `colour` in [kafka]"),
        "{problems:#?}"
    );
    assert!(
        problems[1].contains("unknown key `sql` in [features]"),
        "{problems:#?}"
    );

    let bad = GOOD
        .replace("size = \"60s\"", "size = \"60 parsecs\"")
        .replace("pump_features.sql", "missing.sql")
        .replace(
            "alert_topic = \"plant.alerts\"",
            "alert_topic = \"plant.readings\"",
        )
        .replace(
            "rename = { temperature = \"temp_c\" }",
            "rename = { pressure = \"p\" }",
        );
    let err = JobConfig::from_toml(&bad, &example_dir().join("job.toml")).unwrap_err();
    let text = err.to_string();
    let PipelineError::InvalidJob { problems, .. } = err else {
        panic!("wrong error")
    };
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("line 9: `kafka.alert_topic`")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`fields.rename`") && p.contains("pressure")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`window.size`") && p.contains("parsecs")),
        "{problems:#?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("missing.sql")),
        "{problems:#?}"
    );
    assert!(text.contains("4 problem(s)"), "{text}");
}

#[test]
fn syntax_and_type_errors_carry_lines() {
    let err = JobConfig::from_toml("[job]\nname = \n", &example_dir().join("j.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2"), "{err}");
    let typed = GOOD.replace("name = \"pumps\"", "name = 5");
    let err = JobConfig::from_toml(&typed, &example_dir().join("j.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn window_combinations_are_checked() {
    let t = GOOD.replace("kind = \"hopping\"", "kind = \"tumbling\"");
    let err = JobConfig::from_toml(&t, &example_dir().join("j.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("tumbling windows have no slide"), "{err}");
    let t = GOOD.replace("slide = \"15s\"", "slide = \"7s\"");
    let err = JobConfig::from_toml(&t, &example_dir().join("j.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("multiple of slide"), "{err}");
}

fn problems_of(text: &str) -> Vec<String> {
    match JobConfig::from_toml(text, &example_dir().join("j.toml")) {
        Err(PipelineError::InvalidJob { problems, .. }) => problems,
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => Vec::new(),
    }
}

#[test]
fn session_lateness_dedup_and_quality_settings() {
    let t = GOOD
        .replace("kind = \"hopping\"\nsize = \"60s\"\nslide = \"15s\"", "kind = \"session\"\ngap = \"5m\"\nallowed_lateness = \"30s\"\nidle_timeout = \"2m\"\ndedup = true")
        .replace("[features]", "[quality]\nsilent_after = \"10m\"\nstuck_windows = 5\n\n[features]")
        .replace("dead_letter_topic = \"plant.dead-letter\"", "dead_letter_topic = \"plant.dead-letter\"\nlate_topic = \"plant.late\"");
    let cfg = JobConfig::from_toml(&t, &example_dir().join("j.toml")).unwrap();
    let e = cfg.event_time;
    assert_eq!(
        e.window,
        vigil_operators::WindowKind::Session { gap_ms: 300_000 }
    );
    assert_eq!(e.allowed_lateness_ms, 30_000);
    assert_eq!(e.idle_timeout_ms, Some(120_000));
    assert!(e.dedup);
    assert_eq!(e.quality.silent_after_ms, Some(600_000));
    assert_eq!(e.quality.stuck_windows, Some(5));
    assert_eq!(cfg.kafka.late_topic, "plant.late");
}

#[test]
fn invalid_event_time_combinations_are_rejected_clearly() {
    let cases = [
        (
            GOOD.replace("slide = \"15s\"", "slide = \"15s\"\ngap = \"1m\""),
            "only session windows have a gap",
        ),
        (
            GOOD.replace("kind = \"hopping\"", "kind = \"session\""),
            "session windows have no size",
        ),
        (
            GOOD.replace(
                "kind = \"hopping\"\nsize = \"60s\"\nslide = \"15s\"",
                "kind = \"session\"",
            ),
            "session windows need a `gap`",
        ),
        (
            GOOD.replace("kind = \"hopping\"\nsize = \"60s\"", "kind = \"hopping\""),
            "hopping windows need a `size`",
        ),
        (
            GOOD.replace("kind = \"hopping\"", "kind = \"sliding\""),
            "not a window kind (tumbling, hopping, session)",
        ),
        (
            GOOD.replace("slide = \"15s\"", "slide = \"15s\"\nidle_timeout = \"0s\""),
            "must be positive, or \"off\"",
        ),
        (
            GOOD.replace("[features]", "[quality]\nstuck_windows = 1\n[features]"),
            "between 2 and 10000",
        ),
        (
            GOOD.replace("[features]", "[quality]\nsilent_after = \"5s\"\n[features]"),
            "shorter than the window slide",
        ),
        (
            GOOD.replace(
                "slide = \"15s\"",
                "slide = \"15s\"\nallowed_lateness = \"soon\"",
            ),
            "window.allowed_lateness",
        ),
        (
            GOOD.replace(
                "dead_letter_topic = \"plant.dead-letter\"",
                "dead_letter_topic = \"plant.dead-letter\"\nlate_topic = \"plant.readings\"",
            ),
            "late_topic",
        ),
        (
            GOOD.replace("slide = \"15s\"", "slide = \"15s\"\ndedup = \"yes\""),
            "expected a boolean",
        ),
        (
            GOOD.replace("slide = \"15s\"", "slide = \"15s\"\nidle_timeout = \"off\"")
                .replace("[features]", "[quality]\nsilent_after = \"5m\"\n[features]"),
            "needs [window] idle_timeout",
        ),
        (
            GOOD.replace(
                "slide = \"15s\"",
                "slide = \"15s\"\nidle_timeout = \"20ms\"",
            ),
            "longer than [kafka] batch_timeout",
        ),
    ];
    for (text, want) in cases {
        let p = problems_of(&text);
        assert!(
            p.iter().any(|x| x.contains(want)),
            "want {want:?} in {p:#?}"
        );
    }
}

#[test]
fn baselines_parse_with_defaults_and_bad_ones_are_explained() {
    let t = GOOD.replace("[features]", "[[baselines]]\nfeature = \"vib_mean\"\nmethod = \"ewma\"\n\n[[baselines]]\nfeature = \"temp_mean\"\nmethod = \"cusum\"\nh = 6.0\nwarmup = 10\n\n[features]");
    let cfg = JobConfig::from_toml(&t, &example_dir().join("j.toml")).unwrap();
    use vigil_models::baselines::Method;
    assert_eq!(cfg.baselines.len(), 2);
    assert_eq!(
        cfg.baselines[0].spec.method,
        Method::Ewma {
            alpha: 0.05,
            limit: 4.0
        }
    );
    assert_eq!(cfg.baselines[0].spec.warmup, 30);
    assert_eq!(
        cfg.baselines[1].spec.method,
        Method::Cusum { k: 0.5, h: 6.0 }
    );
    let bad = GOOD.replace("[features]", "[[baselines]]\nfeature = \"x\"\nmethod = \"ewma\"\nlambda = 3.0\nalpha = 2.0\n\n[[baselines]]\nfeature = \"y\"\nmethod = \"holt\"\n\n[features]");
    let p = problems_of(&bad);
    assert!(
        p.iter()
            .any(|x| x.contains("`lambda` belong(s) to another method")),
        "{p:#?}"
    );
    assert!(
        p.iter().any(|x| x.contains("parameters out of range")),
        "{p:#?}"
    );
    assert!(
        p.iter().any(|x| x.contains("`holt` is not a method")),
        "{p:#?}"
    );
}

#[test]
fn rul_settings_protocol_and_numeric_time_are_checked() {
    let bt = "[backtest]\ndata = \".\"\nprotocol = \"rul\"\ntrain = \"a.txt\"\n\n[features]";
    let p = problems_of(&GOOD.replace("[features]", bt));
    assert!(
        p.iter().any(|x| x.contains("protocol rul needs `test`")),
        "{p:#?}"
    );
    assert!(
        p.iter()
            .any(|x| x.contains("protocol rul needs a [rul] section")),
        "{p:#?}"
    );
    let bad = GOOD.replace(
        "[features]",
        "[rul]\nage_feature = \"age\"\nhorizon = 200\ncap = 125\ndepth = 40\n\n[features]",
    );
    let p = problems_of(&bad);
    assert!(p.iter().any(|x| x.contains("at most the cap")), "{p:#?}");
    assert!(p.iter().any(|x| x.contains("between 1 and 12")), "{p:#?}");
    let good = GOOD
        .replace(
            "[features]",
            "[rul]\nage_feature = \"age\"\nhorizon = 30\n\n[features]",
        )
        .replace(
            "[fields]",
            "[fields]\ntimestamp_unit = \"1s\"\ntimestamp_origin = \"2000-01-01T00:00:00Z\"",
        );
    let cfg = JobConfig::from_toml(&good, &example_dir().join("j.toml")).unwrap();
    let rul = cfg.rul.expect("[rul]");
    assert_eq!(
        (rul.cap, rul.horizon, rul.gbr.trees, rul.gbr.depth),
        (125.0, 30.0, 300, 4)
    );
    assert_eq!(
        cfg.mapping.numeric_time.to_ms(3),
        Some(946_684_800_000 + 3_000)
    );
    let p = problems_of(&GOOD.replace(
        "[fields]",
        "[fields]\ntimestamp_origin = \"yesterday\"\ntimestamp_unit = \"0s\"",
    ));
    assert!(
        p.iter().any(|x| x.contains("not an RFC 3339 time")),
        "{p:#?}"
    );
    assert!(
        p.iter()
            .any(|x| x.contains("timestamp_unit") && x.contains("must be positive")),
        "{p:#?}"
    );
}

#[test]
fn telemetry_defaults_to_no_export_and_bad_settings_are_explained() {
    let cfg = JobConfig::from_toml(GOOD, &example_dir().join("j.toml")).unwrap();
    assert_eq!(cfg.telemetry, TelemetrySettings::default());
    assert_eq!(cfg.telemetry.otlp_endpoint, None);
    let t = format!(
        "{GOOD}\n[telemetry]\nlog_level = \"debug\"\nlog_format = \"json\"\notlp_endpoint = \"http://collector:4318/\"\nexport_interval = \"2s\"\nservice_name = \"vigil-north\"\n"
    );
    let cfg = JobConfig::from_toml(&t, &example_dir().join("j.toml")).unwrap();
    let s = &cfg.telemetry;
    assert_eq!(s.log_level, "debug");
    assert!(s.json_logs);
    assert_eq!(s.otlp_endpoint.as_deref(), Some("http://collector:4318"));
    assert_eq!(s.export_interval_ms, 2_000);
    assert_eq!(s.service_name, "vigil-north");
    let bad = format!(
        "{GOOD}\n[telemetry]\nlog_level = \"vigil=[bogus\"\nlog_format = \"xml\"\notlp_endpoint = \"https://x:4318\"\nexport_interval = \"10ms\"\n"
    );
    let p = problems_of(&bad);
    assert_eq!(p.len(), 4, "{p:#?}");
    for (i, key) in [
        "log_format",
        "log_level",
        "otlp_endpoint",
        "export_interval",
    ]
    .iter()
    .enumerate()
    {
        assert!(
            p.iter().any(|x| x.contains(&format!("[telemetry] {key}"))
                || x.contains(&format!("telemetry.{key}"))),
            "problem {i} names {key}: {p:#?}"
        );
    }
}
