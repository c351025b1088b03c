//! The deployment stack without a Docker engine (none exists on the development machines):
//! `docker-compose.yml` parses, has the services the README documents, every file it mounts or
//! builds from exists, the ports line up (Prometheus scrapes the port `vigil run --http` binds,
//! and the Collector's exporter), and every metric the provisioned Grafana dashboard queries is
//! one Vigil's `/metrics` really exposes.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_yaml::Value;
use vigil_pipeline::metrics::StatsSnapshot;
use vigil_pipeline::prometheus::{render_all, Detail, Gauges};

fn root() -> PathBuf {
    vigil_tests::crate_dir()
        .parent()
        .expect("repository root")
        .to_path_buf()
}

fn yaml(rel: &str) -> Value {
    let p = root().join(rel);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{rel} does not parse: {e}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn compose_file_parses_and_everything_it_mounts_exists() {
    let c = yaml("docker-compose.yml");
    let services = c["services"].as_mapping().expect("services");
    let names: BTreeSet<&str> = services.keys().filter_map(Value::as_str).collect();
    let want: BTreeSet<&str> = [
        "kafka",
        "kafka-init",
        "vigil-train",
        "vigil",
        "otel-collector",
        "prometheus",
        "grafana",
    ]
    .into();
    assert_eq!(names, want);
    let named_volumes: BTreeSet<String> = c["volumes"]
        .as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut mounts = 0;
    for (name, svc) in services {
        let name = name.as_str().unwrap_or_default();
        assert!(
            svc["image"].is_string() || svc["build"].is_mapping(),
            "{name}: an image or a build"
        );
        if let Some(df) = svc["build"]["dockerfile"].as_str() {
            assert!(root().join(df).is_file(), "{name}: {df} missing");
        }
        for v in strings(&svc["volumes"]) {
            let host = v.split(':').next().unwrap_or_default();
            if host.starts_with("./") {
                assert!(
                    root().join(host).exists(),
                    "{name} mounts {host}, which does not exist"
                );
                mounts += 1;
            } else {
                assert!(
                    named_volumes.contains(host),
                    "{name}: volume {host} is not declared"
                );
            }
        }
    }
    assert!(mounts >= 6, "{mounts} bind mounts checked");
    // the job the vigil service runs is in the mounted examples folder
    let cmd = strings(&services[&Value::from("vigil")]["command"]);
    let job = cmd
        .iter()
        .skip_while(|a| *a != "--job")
        .nth(1)
        .expect("--job");
    let local = root()
        .join("examples")
        .join(job.trim_start_matches("/jobs/"));
    assert!(local.is_file(), "{}", local.display());
    let http = cmd
        .iter()
        .skip_while(|a| *a != "--http")
        .nth(1)
        .expect("--http");
    assert!(http.ends_with(":9464"), "{http}");
    vigil_pipeline::job::JobConfig::load(&local).expect("the compose job is valid");
}

#[test]
fn prometheus_and_collector_line_up_with_vigil() {
    let p = yaml("deploy/prometheus.yml");
    let targets: Vec<String> = p["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs")
        .iter()
        .flat_map(|j| {
            j["static_configs"]
                .as_sequence()
                .into_iter()
                .flatten()
                .flat_map(|s| strings(&s["targets"]))
        })
        .collect();
    assert!(targets.contains(&"vigil:9464".to_string()), "{targets:?}");
    let o = yaml("deploy/otel-collector.yaml");
    let exporter = o["exporters"]["prometheus"]["endpoint"]
        .as_str()
        .expect("collector prometheus exporter");
    let port = exporter.rsplit(':').next().unwrap_or_default();
    assert!(
        targets
            .iter()
            .any(|t| t == &format!("otel-collector:{port}")),
        "Prometheus scrapes the collector's exporter on {port}: {targets:?}"
    );
    assert!(o["receivers"]["otlp"]["protocols"]["http"].is_mapping());
    // vigil exports OTLP/HTTP to the collector's http receiver, metrics and traces
    let c = yaml("docker-compose.yml");
    let endpoint = c["services"]["vigil"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
        .as_str()
        .expect("vigil exports to the collector");
    let receiver = o["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
        .as_str()
        .expect("http receiver endpoint");
    let rport = receiver.rsplit(':').next().unwrap_or_default();
    assert_eq!(endpoint, format!("http://otel-collector:{rport}"));
    assert_eq!(
        strings(&o["service"]["pipelines"]["traces"]["receivers"]),
        vec!["otlp".to_string()]
    );
    assert_eq!(
        strings(&o["service"]["pipelines"]["metrics"]["receivers"]),
        vec!["otlp".to_string()]
    );
}

#[test]
fn grafana_dashboard_queries_only_metrics_vigil_exposes() {
    let ds = yaml("deploy/grafana/provisioning/datasources/prometheus.yaml");
    assert_eq!(
        ds["datasources"][0]["url"].as_str(),
        Some("http://prometheus:9090")
    );
    let prov = yaml("deploy/grafana/provisioning/dashboards/vigil.yaml");
    assert_eq!(
        prov["providers"][0]["options"]["path"].as_str(),
        Some("/var/lib/grafana/dashboards")
    );
    let path = root().join("deploy/grafana/dashboards/vigil.json");
    let d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard")).expect("JSON");
    let exposed = render_all(
        &StatsSnapshot::default(),
        &Gauges {
            lag: vec![("t".into(), 0, 0)],
            model: Some(("m".into(), "1".into())),
            ..Gauges::default()
        },
        &Detail::default(),
    );
    let families: BTreeSet<&str> = exposed
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let panels = d["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8);
    for p in panels {
        let expr = p["targets"][0]["expr"].as_str().expect("expr");
        let used: Vec<&str> = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|t| t.starts_with("vigil_"))
            .collect();
        assert!(!used.is_empty(), "{expr}");
        for m in used {
            // a histogram's series are its family name plus _bucket, _sum or _count
            let m = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| m.strip_suffix(s).filter(|f| families.contains(f)))
                .unwrap_or(m);
            assert!(
                families.contains(m),
                "panel `{}` queries {m}, which /metrics does not expose",
                p["title"]
            );
        }
    }
}

#[test]
fn dockerfile_is_multi_stage_and_builds_the_binary() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let froms = text.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(froms >= 2, "multi-stage: {froms} FROM lines");
    assert!(text.contains("--bin vigil") && text.contains("COPY --from=builder"));
}
