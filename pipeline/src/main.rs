//! The `vigil` command line: `demo`, `run`, `train`, `features`, `backtest`, `model`, `check`,
//! `simulate`, `bench`.
//!
//! Parses flags (clap), resolves them into a job and options, calls the library, and turns
//! errors into readable messages and exit codes. No processing logic lives here.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// mimalloc returns freed pages to the system, so closed windows do not stay resident as heap
/// fragments the way glibc's malloc keeps them (`vigil bench memory` measures it).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use vigil_models::ModelArtifact;
use vigil_pipeline::demo::{run_demo, DemoOptions};
use vigil_pipeline::engine::Engine;
use vigil_pipeline::job::{parse_duration_ms, JobConfig};
use vigil_pipeline::metrics::JobStats;
use vigil_pipeline::runner::{run, RunOptions};
use vigil_pipeline::sim::PlantSim;
use vigil_pipeline::train::{train_from_files, TrainOptions};

extern "C" {
    /// mimalloc's collection: frees what it holds for reuse and returns freed pages to the
    /// system (`force`: all of them, now). Linked in with the allocator above.
    fn mi_collect(force: bool);
    /// mimalloc's runtime options (`mi_option_t` is a C enum: an int).
    fn mi_option_get(option: std::os::raw::c_int) -> std::os::raw::c_long;
    fn mi_option_set(option: std::os::raw::c_int, value: std::os::raw::c_long);
}

/// `mi_option_purge_delay` in the `mi_option_t` enum of the mimalloc (v3) the crate bundles.
const MI_OPTION_PURGE_DELAY: std::os::raw::c_int = 15;

/// Freed memory is given back to the system after 10 s instead of mimalloc's 1 s. A window
/// close allocates its feature and state arrays afresh every window: with pages returned
/// between closes, every close faulted them in again (zeroing transparent huge pages), about
/// a fifth of a close over 50 k assets (`vigil bench close`: 15.5 k page faults per run, 2.1 k
/// with the longer delay). `mi_collect(true)` still returns everything at once.
fn keep_freed_memory_longer() {
    // SAFETY: option get/set take plain integers and are safe at any time; the default (1000
    // ms) is checked first, so another enum layout leaves the allocator's options alone
    unsafe {
        if mi_option_get(MI_OPTION_PURGE_DELAY) == 1000 {
            mi_option_set(MI_OPTION_PURGE_DELAY, 10_000);
        }
    }
}

/// Gives the memory freed so far back to the system, so the resident size counts live memory
/// only (`vigil bench memory`).
fn return_freed_memory() {
    // SAFETY: mi_collect takes no pointers and may be called at any time from any thread; the
    // symbol is mimalloc's own, linked by the `mimalloc` crate that is the global allocator
    unsafe { mi_collect(true) }
}

/// The pid of the broker `scripts/kafka.sh` started: from `.kafka-local/kafka.pid` in the working
/// directory or a parent of it, else in the checkout this binary was built from, kept only if
/// that process is running and its command line names Kafka (a stale file can outlive it).
fn local_broker_pid() -> Option<u32> {
    const PID_FILE: &str = ".kafka-local/kafka.pid";
    let cwd = std::env::current_dir().ok();
    let built_from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent();
    cwd.iter()
        .flat_map(|d| d.ancestors())
        .chain(built_from)
        .map(|d| d.join(PID_FILE))
        .find_map(|f| {
            let pid: u32 = std::fs::read_to_string(f).ok()?.trim().parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline)
                .contains("kafka")
                .then_some(pid)
        })
}

#[derive(Parser)]
#[command(
    name = "vigil",
    version,
    about = "Streaming predictive maintenance on Kafka"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Pane-based hopping windows vs re-aggregating every window, for slide = size, size/4, size/16.
    Windows {
        /// Readings to generate.
        #[arg(long, default_value_t = 2_000_000)]
        readings: usize,
        /// Distinct assets.
        #[arg(long, default_value_t = 1_000)]
        assets: usize,
        /// Readings per asset per second of event time.
        #[arg(long, default_value_t = 1)]
        rate: u32,
        /// Panes per window to measure (window size / slide).
        #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
        panes: Vec<i64>,
        /// Skip the re-aggregating comparison (for profiling the pane-based path).
        #[arg(long)]
        pane_based_only: bool,
    },
    /// The decoder's fast paths (learned layout, byte scanner) against its serde fallback, side by side on the
    /// `bench kafka` payloads (in memory, no Kafka).
    Decode {
        /// Payloads to decode per round.
        #[arg(long, default_value_t = 1_000_000)]
        readings: usize,
        /// Distinct assets.
        #[arg(long, default_value_t = 100_000)]
        assets: usize,
    },
    /// Vigil end to end against a raw rdkafka consume-and-drop loop on one topic of a real
    /// broker, side by side; resident memory per asset; restart to first alert.
    Kafka {
        /// The broker (a real one: `bash scripts/kafka.sh start`).
        #[arg(long, env = "VIGIL_BROKERS", default_value = "127.0.0.1:9092")]
        brokers: String,
        /// Readings to load.
        #[arg(long, default_value_t = 10_000_000)]
        readings: usize,
        /// Distinct assets (8 measurements each).
        #[arg(long, default_value_t = 100_000)]
        assets: usize,
        /// Partitions of the topic.
        #[arg(long, default_value_t = 2)]
        partitions: i32,
        /// The broker's pid, for its CPU time (default: the pid in `.kafka-local/kafka.pid` of
        /// the working directory, one of its parents, or the checkout this binary was built
        /// from, if that process is a running broker).
        #[arg(long)]
        broker_pid: Option<u32>,
        /// Asset counts for the resident-memory slope (each in a fresh process).
        #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
        memory_assets: Vec<usize>,
        /// Skip the Kafka Streams peer (benches/peers/kafka-streams, built with Maven).
        #[arg(long)]
        no_peer: bool,
        /// Keep the run's topics (readings, the job's outputs and changelog, the peer's
        /// internal topics) instead of deleting them at the end; they take gigabytes.
        #[arg(long)]
        keep_topics: bool,
        /// Seconds sampled at each fixed load (10 %, 50 %, 80 % of the end-to-end rate) for
        /// the window-close-to-alert latency; 0 skips it.
        #[arg(long, default_value_t = 30)]
        latency_seconds: u64,
        /// Run the feature SQL on DataFusion's hash aggregation, not natively (the job file's
        /// `[features] native = false`), to compare the two.
        #[arg(long)]
        datafusion_aggregation: bool,
        /// One JSON object on stdout instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// The cost of one window close of the latency workload's job (no Kafka), native
    /// aggregation beside DataFusion's.
    Close {
        /// Assets reporting in each window (one partition's share of the bench's 100 k).
        #[arg(long, default_value_t = 50_000)]
        assets: usize,
        /// Readings per asset per 500 ms window.
        #[arg(long, default_value_t = 2)]
        per_asset: usize,
        /// Windows closed per path.
        #[arg(long, default_value_t = 20)]
        windows: usize,
    },
    /// One fixed-load level of `bench kafka`'s latency part alone: readings at a steady rate
    /// through a fresh job, window close to alert acknowledged (HdrHistogram percentiles).
    Latency {
        /// The broker (a real one: `bash scripts/kafka.sh start`).
        #[arg(long, env = "VIGIL_BROKERS", default_value = "127.0.0.1:9092")]
        brokers: String,
        /// Readings per second to send (every asset twice a second).
        #[arg(long, default_value_t = 100_000.0)]
        per_s: f64,
        /// Most assets (fewer when the rate cannot send each twice a second).
        #[arg(long, default_value_t = 100_000)]
        assets: usize,
        /// Partitions of the topic.
        #[arg(long, default_value_t = 2)]
        partitions: i32,
        /// Seconds sampled after a 5 s warm-up.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// `at-least-once` (to the produce acknowledgement) or `exactly-once` (to the commit).
        #[arg(long, default_value = "at-least-once")]
        delivery: String,
    },
    /// Resident memory of the bench job's engine holding N assets (used by `bench kafka`).
    #[command(hide = true)]
    Memory {
        /// Assets.
        #[arg(long)]
        assets: usize,
    },
}

#[derive(Subcommand)]
enum AlertsCommand {
    /// Show alert records as they arrive (readable; --json for one JSON object per line).
    Tail {
        /// Only this asset (or glob, e.g. `pump-*`).
        #[arg(long)]
        asset: Option<String>,
        /// Lowest severity: warning or critical.
        #[arg(long)]
        severity: Option<String>,
        /// Only this state: open, update or resolved.
        #[arg(long)]
        state: Option<String>,
        /// Only this kind: anomaly, rul or data_quality.
        #[arg(long)]
        kind: Option<String>,
        /// Hide silenced records.
        #[arg(long)]
        hide_silenced: bool,
        /// Start with this many records before the end of each partition.
        #[arg(long, default_value_t = 20)]
        last: i64,
        /// Start at the beginning of the topic.
        #[arg(long)]
        from_beginning: bool,
        /// Stop at the end of the topic instead of following it.
        #[arg(long)]
        no_follow: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge an alert: later records of it carry who and the note.
    Ack {
        /// The alert id.
        id: String,
        /// A note for the others (what is being done).
        #[arg(long, default_value = "")]
        note: String,
        /// Who acknowledges (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Silence an asset's alerts (or one alert id) for a while: they are still recorded,
    /// flagged as silenced.
    Silence {
        /// Asset id or alert id.
        target: String,
        /// How long, e.g. `2h` or `90m`.
        #[arg(long = "for")]
        duration: String,
        /// Why (e.g. the maintenance order).
        #[arg(long, default_value = "")]
        note: String,
        /// Who silences (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// End a silence now.
    Unsilence {
        /// Asset id or alert id.
        target: String,
        /// Who (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Publish an artifact as a new version in the job's registry topic.
    Publish {
        /// The artifact (default: the job's [model] artifact).
        #[arg(long)]
        artifact: Option<PathBuf>,
    },
    /// List published versions and the active and shadow ones.
    List,
    /// Make a published version active; running jobs swap it in without restarting.
    Promote {
        /// The version.
        version: String,
    },
    /// Make the previously active version active again.
    Rollback,
    /// Score a published version in shadow (its alerts go to the shadow topic), or stop (--off).
    Shadow {
        /// The version (omit with --off).
        version: Option<String>,
        /// Stop shadow scoring.
        #[arg(long)]
        off: bool,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Manage the job's model versions in its registry topic ([model] registry_topic).
    Model {
        /// The job file.
        #[arg(long)]
        job: PathBuf,
        /// Override the job's brokers (also: VIGIL_BROKERS).
        #[arg(long, env = "VIGIL_BROKERS")]
        brokers: Option<String>,
        #[command(subcommand)]
        what: ModelCommand,
    },
    /// Read the job's alerts, acknowledge and silence them.
    Alerts {
        /// The job file.
        #[arg(long)]
        job: PathBuf,
        /// Override the job's brokers (also: VIGIL_BROKERS).
        #[arg(long, env = "VIGIL_BROKERS")]
        brokers: Option<String>,
        #[command(subcommand)]
        what: AlertsCommand,
    },
    /// Run the example pump job end to end on simulated telemetry (embedded broker unless --brokers).
    Demo {
        /// Use this Kafka cluster instead of the embedded mock broker.
        #[arg(long)]
        brokers: Option<String>,
        /// How long the live phase runs (e.g. 60s, 5m).
        #[arg(long, default_value = "60s")]
        duration: String,
        /// Number of simulated pumps.
        #[arg(long, default_value_t = 50)]
        pumps: usize,
        /// Event-time seconds simulated per wall-clock second.
        #[arg(long, default_value_t = 60.0)]
        speed: f64,
        /// Random seed of the simulator.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Address of the HTTP server (the dashboard at /, /healthz, /readyz, /metrics), or `off`.
        #[arg(long, default_value = "127.0.0.1:9464")]
        http: String,
    },
    /// Benchmarks (timings printed side by side, never asserted).
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// Compute the job's feature rows in batch over history files (the streaming job's exact path).
    Features {
        /// The job file.
        #[arg(long)]
        job: PathBuf,
        /// History file(s), CSV or JSONL; default: the job's [training] input.
        #[arg(long)]
        input: Vec<PathBuf>,
        /// Write JSON Lines here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run a job against a Kafka cluster until SIGINT/SIGTERM.
    Run {
        /// The job file.
        #[arg(long)]
        job: PathBuf,
        /// Override the job's brokers (also: VIGIL_BROKERS).
        #[arg(long, env = "VIGIL_BROKERS")]
        brokers: Option<String>,
        /// Stable name of this instance (overrides [kafka] instance_id; also VIGIL_INSTANCE):
        /// a restart with the same name takes over at once.
        #[arg(long, env = "VIGIL_INSTANCE")]
        instance: Option<String>,
        /// Run without a model: only the job's streaming baselines and data-quality checks
        /// raise alerts.
        #[arg(long)]
        no_model: bool,
        /// Model artifact to use instead of the job's [model] artifact (also VIGIL_MODEL).
        #[arg(long, env = "VIGIL_MODEL")]
        model: Option<PathBuf>,
        /// Address of the HTTP server (the dashboard at /, /healthz, /readyz, /metrics), or
        /// `off` (also VIGIL_HTTP).
        /// Given, it must be free; by default 127.0.0.1:9464 is used when free (a second
        /// instance on the same machine runs without one and says so).
        #[arg(long, env = "VIGIL_HTTP")]
        http: Option<String>,
    },
    /// Train the job's model from a history file (CSV or JSONL) with the job's own feature SQL.
    Train {
        /// The job file.
        #[arg(long)]
        job: PathBuf,
        /// History file(s); default: the job's [training] input.
        #[arg(long)]
        input: Vec<PathBuf>,
        /// Where to write the model; default: the job's [model] artifact.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Model version written to the artifact.
        #[arg(long, default_value = "1")]
        version: String,
        /// Detector: pca, kmeans[:k], gmm[:k] or ocsvm.
        #[arg(long, default_value = "pca")]
        detector: vigil_pipeline::train::DetectorChoice,
        /// Calibrate the threshold to this false-alarm rate (e.g. 0.01) on the latest 20 % of
        /// the history's windows, held out from fitting.
        #[arg(long)]
        target_far: Option<f64>,
    },
    /// Replay labelled history through the job's production path and score the alarms.
    Backtest {
        /// The job file (with a [backtest] section).
        #[arg(long)]
        job: PathBuf,
        /// Labelled data instead of the job's: a CSV file or a folder of them.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Print one JSON object (f1, far, mar, nab_*, rmse, phm_score; null where not applicable).
        #[arg(long)]
        json: bool,
        /// Write a report folder: summary.txt and an SVG plot (score, threshold, labels) per file.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Validate a job file, plan its SQL and check its model, without connecting to Kafka.
    Check {
        /// The job file.
        #[arg(long)]
        job: PathBuf,
    },
    /// Write simulated pump history as JSONL (for trying `vigil train`).
    Simulate {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Number of pumps.
        #[arg(long, default_value_t = 20)]
        pumps: usize,
        /// Hours of history.
        #[arg(long, default_value_t = 2.0)]
        hours: f64,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[tokio::main]
async fn main() {
    keep_freed_memory_longer();
    let cli = Cli::parse();
    // logs and OTLP export: the job file's [telemetry] for `vigil run`, then the environment
    // (RUST_LOG, VIGIL_LOG_FORMAT, OTEL_EXPORTER_OTLP_ENDPOINT) over it
    let settings = match &cli.command {
        Command::Run { job, .. } => JobConfig::load(job)
            .map(|c| c.telemetry)
            .unwrap_or_default(),
        _ => Default::default(),
    };
    let telemetry =
        match vigil_pipeline::telemetry::install(&vigil_pipeline::telemetry::with_env(settings)) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        };
    if let Some(e) = telemetry.endpoint() {
        eprintln!("OpenTelemetry: exporting metrics and traces to {e} (OTLP/HTTP JSON)");
    }
    let result = real_main(cli).await;
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn real_main(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo {
            brokers,
            duration,
            pumps,
            speed,
            seed,
            http,
        } => {
            let ms = parse_duration_ms(&duration)
                .map_err(anyhow::Error::msg)
                .context("--duration")?;
            if pumps == 0 || speed <= 0.0 {
                bail!("--pumps and --speed must be positive");
            }
            let opts = DemoOptions {
                brokers,
                pumps,
                duration: Duration::from_millis(ms as u64),
                speed,
                seed,
                http: match http.as_str() {
                    "off" => None,
                    a => Some(a.parse().with_context(|| {
                        format!("--http {a}: not an address (host:port) or off")
                    })?),
                },
                ..DemoOptions::default()
            };
            run_demo(opts).await?;
        }
        Command::Bench {
            what: BenchCommand::Decode { readings, assets },
        } => {
            if readings == 0 || assets == 0 {
                bail!("--readings and --assets must be positive");
            }
            let ([shaped, scanner, general], mean) =
                vigil_pipeline::bench_decode::bench_decode(readings, assets)?;
            println!("{readings} bench payloads (mean {mean:.0} B) of {assets} assets, best of 3 rounds, batches of 20000");
            println!("{:<32} {:>14} {:>10}", "decoder", "readings/s", "MB/s");
            for (name, r) in [
                ("default (layout, then scanner)", &shaped),
                ("byte scanner only", &scanner),
                ("serde visitor only", &general),
            ] {
                println!("{name:<32} {:>14.0} {:>10.1}", r.per_s, r.mb_per_s);
            }
            println!(
                "default / scanner only: {:.2}x; scanner only / serde visitor: {:.2}x",
                shaped.per_s / scanner.per_s,
                scanner.per_s / general.per_s
            );
        }
        Command::Bench {
            what:
                BenchCommand::Windows {
                    readings,
                    assets,
                    rate,
                    panes,
                    pane_based_only,
                },
        } => {
            if readings == 0 || assets == 0 || rate == 0 || rate > 1000 {
                bail!("--readings and --assets must be positive, --rate between 1 and 1000");
            }
            println!("windows of 60 s over {readings} readings of {assets} assets at {rate}/s each (example pump feature SQL, 9 aggregates)");
            println!(
                "{:>6} {:>8} {:>22} {:>26} {:>8}",
                "panes", "windows", "pane-based readings/s", "re-aggregating readings/s", "ratio"
            );
            let rows = vigil_pipeline::bench::bench_windows(
                readings,
                assets,
                rate,
                &panes,
                !pane_based_only,
            )
            .await?;
            for r in &rows {
                println!(
                    "{:>6} {:>8} {:>22.0} {:>26.0} {:>7.2}x",
                    r.panes,
                    r.windows,
                    r.pane_based_per_s,
                    r.reaggregating_per_s,
                    r.pane_based_per_s / r.reaggregating_per_s
                );
            }
            if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
                println!(
                    "pane-based cost growth from 1 to {} panes per window: {:.2}x slower; re-aggregating: {:.2}x slower",
                    last.panes,
                    first.pane_based_per_s / last.pane_based_per_s,
                    first.reaggregating_per_s / last.reaggregating_per_s
                );
            }
        }
        Command::Bench {
            what:
                BenchCommand::Close {
                    assets,
                    per_asset,
                    windows,
                },
        } => {
            if assets == 0 || per_asset == 0 || windows == 0 {
                bail!("--assets, --per-asset and --windows must be positive");
            }
            println!(
                "one close of a 500 ms window: {assets} assets x {per_asset} readings, the bench job's 12 aggregates and EWMA baselines, mean of {windows} windows"
            );
            println!(
                "{:<12} {:>16} {:>16} {:>20} {:>8} {:>14} {:>8}",
                "aggregation",
                "feature SQL ms",
                "whole close ms",
                "close us per asset",
                "alerts",
                "early folds/w",
                "fold ms"
            );
            let rows = vigil_pipeline::bench_close::bench_close(assets, per_asset, windows).await?;
            for r in &rows {
                println!(
                    "{:<12} {:>16.2} {:>16.2} {:>20.3} {:>8} {:>14.1} {:>8.2}",
                    r.aggregation,
                    r.features_ms,
                    r.close_ms,
                    r.close_ms * 1000.0 / assets as f64,
                    r.alerts,
                    r.folds_per_window,
                    r.fold_ms
                );
            }
            if let [n, d] = rows.as_slice() {
                println!(
                    "native / datafusion: feature SQL {:.2}x faster, whole close {:.2}x faster",
                    d.features_ms / n.features_ms,
                    d.close_ms / n.close_ms
                );
            }
        }
        Command::Bench {
            what:
                BenchCommand::Latency {
                    brokers,
                    per_s,
                    assets,
                    partitions,
                    seconds,
                    delivery,
                },
        } => {
            let Some(delivery) = vigil_pipeline::bench_latency::DELIVERIES
                .into_iter()
                .find(|d| *d == delivery)
            else {
                bail!("--delivery must be at-least-once or exactly-once, not {delivery}");
            };
            if per_s.is_nan() || per_s <= 0.0 || seconds == 0 {
                bail!("--per-s and --seconds must be positive");
            }
            let o = vigil_pipeline::bench_kafka::KafkaBenchOptions {
                brokers,
                readings: 0,
                assets,
                partitions,
                broker_pid: local_broker_pid(),
                progress: true,
                latency_seconds: seconds,
                native: true,
            };
            let dir = std::env::temp_dir().join(format!("vigil-bench-{}", std::process::id()));
            let level = vigil_pipeline::bench_latency::latency_level(
                &o, &dir, 1.0, per_s, seconds, delivery,
            )
            .await?;
            print_latency(std::slice::from_ref(&level));
        }
        Command::Bench {
            what: BenchCommand::Memory { assets },
        } => {
            let (before, after) =
                vigil_pipeline::bench_kafka::memory_run(assets, return_freed_memory).await?;
            println!("{before} {after}");
        }
        Command::Bench {
            what:
                BenchCommand::Kafka {
                    brokers,
                    readings,
                    assets,
                    partitions,
                    broker_pid,
                    memory_assets,
                    no_peer,
                    keep_topics,
                    latency_seconds,
                    datafusion_aggregation,
                    json,
                },
        } => {
            bench_kafka_command(
                vigil_pipeline::bench_kafka::KafkaBenchOptions {
                    brokers,
                    readings,
                    assets,
                    partitions,
                    broker_pid: broker_pid.or_else(local_broker_pid),
                    progress: true,
                    latency_seconds,
                    native: !datafusion_aggregation,
                },
                &memory_assets,
                no_peer,
                keep_topics,
                json,
            )
            .await?;
        }
        Command::Features { job, input, out } => {
            let cfg = JobConfig::load(&job)?;
            let inputs: Vec<PathBuf> = if input.is_empty() {
                cfg.training_input.clone().into_iter().collect()
            } else {
                input
            };
            if inputs.is_empty() {
                bail!("no input: pass --input FILE or set [training] input in the job");
            }
            let refs: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
            let run = vigil_pipeline::features::features_from_files(&cfg, &refs).await?;
            let mut text = String::new();
            for row in run.rows() {
                text.push_str(&row.to_string());
                text.push('\n');
            }
            match out {
                Some(p) => {
                    std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?
                }
                None => print!("{text}"),
            }
            eprintln!(
                "{} readings ({} rejected, {} late) -> {} feature rows of {} features",
                run.readings,
                run.rejected,
                run.late,
                run.batches.iter().map(|b| b.num_rows()).sum::<usize>(),
                run.names.len()
            );
        }
        Command::Run {
            job,
            brokers,
            instance,
            no_model,
            model,
            http,
        } => {
            let mut cfg = JobConfig::load(&job)?;
            if let Some(m) = model {
                cfg.model_path = m;
            }
            if instance.is_some() {
                cfg.kafka.instance_id = instance;
            }
            if let Some(b) = brokers {
                cfg = cfg.with_brokers(&b);
            }
            // with a registry, a missing local artifact is fine: the active version is used
            let model = match ModelArtifact::load(&cfg.model_path) {
                _ if no_model => None,
                Ok(m) => Some(m),
                Err(e) if cfg.registry_topic.is_some() => {
                    eprintln!("no local model ({e}); waiting for the registry's active version");
                    None
                }
                Err(e) => return Err(e.into()),
            };
            let mut opts = RunOptions::new();
            opts.progress_every = Some(Duration::from_secs(10));
            let explicit = http.is_some();
            let http = http.unwrap_or_else(|| "127.0.0.1:9464".to_string());
            if http != "off" {
                let addr: std::net::SocketAddr = http
                    .parse()
                    .with_context(|| format!("--http {http}: not an address (host:port) or off"))?;
                let state = vigil_pipeline::http::HttpState::new(opts.stats.clone());
                match vigil_pipeline::http::serve(addr, state.clone()).await {
                    Ok(bound) => {
                        eprintln!("dashboard: http://{bound}/  (also /healthz, /readyz, /metrics)");
                        opts.http = Some(state);
                    }
                    Err(e) if !explicit => {
                        eprintln!("warning: {e}; running without the HTTP server (pass --http ADDR to choose a port)")
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let stop = opts.stop.clone();
            tokio::spawn(async move {
                wait_for_signal().await;
                eprintln!("stopping: finishing the current batch and committing offsets");
                stop.store(true, Ordering::Relaxed);
            });
            let stats = run(cfg, model, opts).await?;
            eprintln!("final: {stats:?}");
        }
        Command::Train {
            job,
            input,
            out,
            version,
            detector,
            target_far,
        } => {
            let cfg = JobConfig::load(&job)?;
            let inputs: Vec<PathBuf> = if input.is_empty() {
                cfg.training_input.clone().into_iter().collect()
            } else {
                input
            };
            if inputs.is_empty() {
                bail!(
                    "no history given: pass --input FILE or set [training] input in the job file"
                );
            }
            let mut opts = TrainOptions::for_job(&cfg);
            opts.version = version;
            opts.detector = detector;
            opts.target_far = target_far;
            opts.progress = true;
            let refs: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
            let report = train_from_files(&cfg, &refs, &opts).await?;
            let out = out.unwrap_or_else(|| cfg.model_path.clone());
            report.artifact.save(&out)?;
            println!("{report}");
            println!("wrote {}", out.display());
        }
        Command::Alerts { job, brokers, what } => alerts_command(&job, brokers, what).await?,
        Command::Model { job, brokers, what } => {
            use vigil_pipeline::kafka::registry::RegistryClient;
            let mut cfg = JobConfig::load(&job)?;
            if let Some(b) = brokers {
                cfg = cfg.with_brokers(&b);
            }
            let topic = cfg
                .registry_topic
                .clone()
                .context("the job has no [model] registry_topic")?;
            vigil_pipeline::kafka::ensure_compacted_topic(&cfg.kafka.brokers, &topic).await?;
            let mut reg = RegistryClient::new(&cfg.kafka.brokers, &topic)?;
            reg.catch_up(Duration::from_secs(30))?;
            let name = cfg.model_name.clone();
            match what {
                ModelCommand::Publish { artifact } => {
                    let path = artifact.unwrap_or_else(|| cfg.model_path.clone());
                    let mut a = ModelArtifact::load(&path)?;
                    a.name = name.clone();
                    reg.publish(&a)?;
                    println!("published {} version {} to {topic}", a.name, a.version);
                }
                ModelCommand::List => {
                    let entry = reg.view.models.get(&name);
                    println!("{name} in {topic}:");
                    for (v, a) in entry
                        .map(|e| e.versions.iter().collect::<Vec<_>>())
                        .unwrap_or_default()
                    {
                        let active =
                            entry.and_then(|e| e.active.version.as_deref()) == Some(v.as_str());
                        let shadow =
                            entry.and_then(|e| e.shadow.version.as_deref()) == Some(v.as_str());
                        println!(
                            "  {v:<10} {} threshold {:.3}, {} features, trained on {} rows{}{}",
                            a.detector.as_dyn().kind(),
                            a.threshold,
                            a.feature_names.len(),
                            a.training.rows,
                            if active { "  [active]" } else { "" },
                            if shadow { "  [shadow]" } else { "" }
                        );
                    }
                }
                ModelCommand::Promote { version } => {
                    let a = reg.promote(&name, &version)?;
                    println!(
                        "{name}: version {version} is active (earlier: {:?})",
                        a.history
                    );
                }
                ModelCommand::Rollback => {
                    let a = reg.rollback(&name)?;
                    println!(
                        "{name}: rolled back to version {}",
                        a.version.unwrap_or_default()
                    );
                }
                ModelCommand::Shadow { version, off } => {
                    let v = if off {
                        None
                    } else {
                        Some(version.context("give a version, or --off")?)
                    };
                    reg.set_shadow(&name, v.as_deref())?;
                    println!("{name}: shadow {}", v.unwrap_or_else(|| "off".into()));
                }
            }
        }
        Command::Backtest {
            job,
            input,
            json,
            report: report_dir,
        } => {
            let cfg = JobConfig::load(&job)?;
            let report = vigil_pipeline::backtest::run_backtest(&cfg, input.as_deref()).await?;
            if let Some(dir) = report_dir {
                let files = vigil_pipeline::backtest::write_report(&dir, &report)?;
                eprintln!("report: {} files in {}", files.len(), dir.display());
            }
            if json {
                println!("{}", report.json());
            } else {
                println!("{report}");
            }
        }
        Command::Check { job } => {
            let cfg = JobConfig::load(&job)?;
            let model = match ModelArtifact::load(&cfg.model_path) {
                Ok(m) => Some(m),
                Err(e) => {
                    println!("note: {e}");
                    None
                }
            };
            let has_model = model.is_some();
            let engine = Engine::new(&cfg, model, std::sync::Arc::new(JobStats::new())).await?;
            println!("job `{}` is valid", cfg.name);
            println!(
                "  features: {}",
                engine.features().feature_names().join(", ")
            );
            println!("  SQL fingerprint: {}", engine.features().fingerprint());
            if has_model {
                println!("  model matches the job");
            }
        }
        Command::Simulate {
            out,
            pumps,
            hours,
            seed,
        } => {
            let step_ms = 5_000;
            let steps = (hours * 3600.0 / 5.0) as usize;
            let start = vigil_pipeline::engine::now_ms() / 60_000 * 60_000 - steps as i64 * step_ms;
            let mut sim = PlantSim::new(pumps, seed, start, step_ms, vec![]);
            let mut text = Vec::new();
            for p in sim.payloads(steps) {
                text.extend_from_slice(&p);
                text.push(b'\n');
            }
            std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "wrote {} readings of {pumps} pumps to {}",
                steps * pumps,
                out.display()
            );
        }
    }
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn alerts_command(
    job: &std::path::Path,
    brokers: Option<String>,
    what: AlertsCommand,
) -> Result<()> {
    use vigil_pipeline::alerts_cli::{self, Filter, Start, TailOptions};
    use vigil_schemas::{ControlAction, ControlRecord};
    let mut cfg = JobConfig::load(job)?;
    if let Some(b) = brokers {
        cfg = cfg.with_brokers(&b);
    }
    let k = cfg.kafka.clone();
    let who = |by: Option<String>| {
        by.or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "unknown".into())
    };
    let now = vigil_pipeline::engine::now_ms();
    let send = |action: ControlAction, by: String, note: String| -> Result<()> {
        let r = ControlRecord {
            action,
            by,
            note,
            at: now,
        };
        vigil_pipeline::kafka::control::send(&k.brokers, &k.control_topic, &r)?;
        println!("{}", serde_json::to_string(&r)?);
        Ok(())
    };
    match what {
        AlertsCommand::Tail {
            asset,
            severity,
            state,
            kind,
            hide_silenced,
            last,
            from_beginning,
            no_follow,
            json,
        } => {
            let severity: Option<vigil_schemas::Severity> = severity
                .map(|v| serde_json::from_value(serde_json::Value::String(v)))
                .transpose()
                .context("--severity: warning or critical")?;
            let state: Option<vigil_schemas::AlertState> = state
                .map(|v| serde_json::from_value(serde_json::Value::String(v)))
                .transpose()
                .context("--state: open, update or resolved")?;
            if let Some(k) = &kind {
                if !["anomaly", "rul", "data_quality"].contains(&k.as_str()) {
                    bail!("--kind: anomaly, rul or data_quality");
                }
            }
            let opts = TailOptions {
                start: if from_beginning {
                    Start::Beginning
                } else {
                    Start::Last(last.max(0))
                },
                follow: !no_follow,
                filter: Filter {
                    asset,
                    severity,
                    state,
                    kind,
                    hide_silenced,
                },
            };
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let s2 = stop.clone();
            tokio::spawn(async move {
                wait_for_signal().await;
                s2.store(true, Ordering::Relaxed);
            });
            let topic = k.alert_topic.clone();
            let brokers = k.brokers.clone();
            let n = tokio::task::spawn_blocking(move || {
                alerts_cli::tail(
                    &brokers,
                    &topic,
                    &opts,
                    |a| {
                        if json {
                            println!("{}", serde_json::to_string(a).unwrap_or_default());
                        } else {
                            println!("{}", alerts_cli::render(a));
                        }
                    },
                    |p, o, e| eprintln!("warning: {topic}/{p}@{o} is not an alert: {e}"),
                    || stop.load(Ordering::Relaxed),
                )
            })
            .await??;
            if !json {
                eprintln!("{n} alert record(s)");
            }
        }
        AlertsCommand::Ack { id, note, by } => {
            send(ControlAction::Ack { alert_id: id }, who(by), note)?;
        }
        AlertsCommand::Silence {
            target,
            duration,
            note,
            by,
        } => {
            let ms = parse_duration_ms(&duration)
                .map_err(anyhow::Error::msg)
                .context("--for")?;
            if ms <= 0 {
                bail!("--for must be positive");
            }
            send(
                ControlAction::Silence {
                    target,
                    until: now + ms,
                },
                who(by),
                note,
            )?;
        }
        AlertsCommand::Unsilence { target, by } => {
            send(ControlAction::Unsilence { target }, who(by), String::new())?;
        }
    }
    Ok(())
}

/// Resident memory after holding `assets` assets, from a fresh `vigil bench memory` process.
fn memory_after(assets: usize) -> Result<u64> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .args(["bench", "memory", "--assets", &assets.to_string()])
        .env("RUST_LOG", "warn")
        .output()?;
    if !out.status.success() {
        bail!(
            "vigil bench memory --assets {assets}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("vigil bench memory printed {text:?}"))
}

async fn bench_kafka_command(
    o: vigil_pipeline::bench_kafka::KafkaBenchOptions,
    memory_assets: &[usize],
    no_peer: bool,
    keep_topics: bool,
    json: bool,
) -> Result<()> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let (_, rdkafka_version) = rdkafka::util::get_rdkafka_version();
    eprintln!(
        "machine: {cores} cores, {cpu}; librdkafka {rdkafka_version}; vigil {}",
        env!("CARGO_PKG_VERSION")
    );
    eprintln!(
        "{} readings of {} assets x 8 measurements on {} partitions at {}",
        o.readings, o.assets, o.partitions, o.brokers
    );
    let dir = std::env::temp_dir().join(format!("vigil-bench-{}", std::process::id()));
    let r = vigil_pipeline::bench_kafka::bench_kafka(&o, &dir).await?;
    let mut mem: Vec<(usize, u64)> = Vec::new();
    for a in memory_assets {
        eprintln!("memory: {a} assets ...");
        mem.push((*a, memory_after(*a)?));
    }
    let bytes_per_asset = match (mem.first(), mem.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => Some((b.1 as f64 - a.1 as f64) / (b.0 - a.0) as f64),
        _ => None,
    };
    let mut peers: Vec<serde_json::Value> = Vec::new();
    if !no_peer {
        for mode in ["default", "tuned"] {
            eprintln!("kafka streams ({mode}) ...");
            peers.push(kafka_streams_peer(&o.brokers, &r.topic, o.readings, mode)?);
        }
    }
    if !keep_topics {
        let peer = format!("ks-peer-{}", r.topic);
        let gone = vigil_pipeline::kafka::delete_topics_with_prefix(&o.brokers, &[&r.topic, &peer])
            .await?;
        eprintln!(
            "deleted the run's {} topics ({}*, {peer}*)",
            gone.len(),
            r.topic
        );
    }
    let peer_best = peers
        .iter()
        .filter_map(|p| p["per_cpu_s"].as_f64())
        .fold(None, |b: Option<f64>, x| Some(b.map_or(x, |b| b.max(x))));
    let ratio_vs_ks = peer_best.map(|p| r.e2e.per_cpu_s() / p);
    let ratio = r.e2e.per_cpu_s() / r.raw.per_cpu_s();
    let ratio_batch = r.e2e.per_cpu_s() / r.raw_batch.per_cpu_s();
    // the headline latency is the one at 80 % load to the produce acknowledgement (the
    // protocol's definition: at-least-once); exactly-once (to the commit) is reported beside it
    let at80 = |delivery: &str| {
        r.latency
            .iter()
            .find(|l| (l.load - 0.8).abs() < 1e-9 && l.delivery == delivery)
    };
    let (at80, at80_eo) = (at80("at-least-once"), at80("exactly-once"));
    if json {
        println!(
            "{}",
            serde_json::json!({
                "readings": o.readings,
                "assets": o.assets,
                "partitions": o.partitions,
                "e2e_per_s": r.e2e.per_s(),
                "raw_per_s": r.raw.per_s(),
                "e2e_per_cpu_s": r.e2e.per_cpu_s(),
                "raw_per_cpu_s": r.raw.per_cpu_s(),
                "raw_batch_per_cpu_s": r.raw_batch.per_cpu_s(),
                "ratio_vs_raw_batch": ratio_batch,
                "ratio_vs_raw": ratio,
                "ratio_vs_kafka_streams": ratio_vs_ks,
                "kafka_streams": peers,
                "p50_ms": at80.map(|l| l.latency.p50_ms),
                "p99_ms": at80.map(|l| l.latency.p99_ms),
                "p999_ms": at80.map(|l| l.latency.p999_ms),
                "exactly_once_p50_ms": at80_eo.map(|l| l.latency.p50_ms),
                "exactly_once_p99_ms": at80_eo.map(|l| l.latency.p99_ms),
                "latency_at_load": r.latency,
                "latency_max_per_s": r.latency_max.map(|p| p.per_s()),
                "bytes_per_asset": bytes_per_asset,
                "resident_bytes": mem,
                "restart_to_first_alert_ms": r.restart_to_first_alert_ms,
                "phases": {"load": r.load, "raw": r.raw, "raw_batch": r.raw_batch, "e2e": r.e2e},
                "windows": r.windows,
                "alerts": r.alerts,
            })
        );
        return Ok(());
    }
    println!(
        "{:<28} {:>12} {:>9} {:>9} {:>14} {:>16} {:>11}",
        "phase", "records", "wall s", "cpu s", "records/s", "records/cpu-s", "broker cpu s"
    );
    for (name, p) in [
        ("load (producer)", r.load),
        ("raw consume-and-drop", r.raw),
        ("raw, batches (as the job)", r.raw_batch),
        ("vigil end to end", r.e2e),
    ] {
        println!(
            "{:<28} {:>12} {:>9.2} {:>9.2} {:>14.0} {:>16.0} {:>11}",
            name,
            p.records,
            p.wall_s,
            p.cpu_s,
            p.per_s(),
            p.per_cpu_s(),
            p.broker_cpu_s.map_or("-".into(), |c| format!("{c:.2}"))
        );
    }
    println!(
        "vigil / raw: {:.2}x per CPU-second, {:.2}x per second ({} windows, {} alerts)",
        ratio,
        r.e2e.per_s() / r.raw.per_s(),
        r.windows,
        r.alerts
    );
    println!("vigil / raw in batches: {ratio_batch:.2}x per CPU-second");
    println!(
        "vigil job thread, wall s by phase: {} ({} commits)",
        by_phase(&r.job_seconds, 2),
        r.commits
    );
    for p in &peers {
        println!(
            "{:<28} {:>12} {:>9.2} {:>9.2} {:>14.0} {:>16.0} {:>11}",
            format!(
                "kafka streams {} ({})",
                p["kafka_streams_version"].as_str().unwrap_or("?"),
                p["mode"].as_str().unwrap_or("?")
            ),
            p["records"].as_u64().unwrap_or(0),
            p["wall_s"].as_f64().unwrap_or(0.0),
            p["cpu_s"].as_f64().unwrap_or(0.0),
            p["per_s"].as_f64().unwrap_or(0.0),
            p["per_cpu_s"].as_f64().unwrap_or(0.0),
            "-"
        );
    }
    if let Some(x) = ratio_vs_ks {
        println!("vigil / kafka streams (its better mode): {x:.2}x per CPU-second");
    }
    for (a, b) in &mem {
        println!("resident with {a:>8} assets: {:>8.1} MB", *b as f64 / 1e6);
    }
    match bytes_per_asset {
        Some(b) => println!("resident memory per asset (slope): {b:.0} bytes"),
        None => println!("resident memory per asset: needs two --memory-assets counts"),
    }
    match r.restart_to_first_alert_ms {
        Some(ms) => println!("restart to first alert: {ms:.0} ms"),
        None => println!("restart to first alert: no alert within 5 minutes"),
    }
    if let Some(m) = &r.latency_max {
        println!(
            "latency workload (500 ms windows) caught up from offset 0: {:.0} readings/s ({} in {:.2} s), the max the load levels are shares of",
            m.per_s(),
            m.records,
            m.wall_s
        );
    }
    print_latency(&r.latency);
    Ok(())
}

/// The latency levels' table, then each level's job-thread split.
fn print_latency(levels: &[vigil_pipeline::bench_latency::LatencyLevel]) {
    if !levels.is_empty() {
        println!(
            "{:<20} {:>12} {:>12} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9}",
            "delivery, load",
            "target/s",
            "achieved/s",
            "assets",
            "windows",
            "alerts",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms"
        );
    }
    for l in levels {
        println!(
            "{:<20} {:>12.0} {:>12.0} {:>8} {:>8} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            format!("{} {:.0}%", l.delivery, l.load * 100.0),
            l.target_per_s,
            l.achieved_per_s,
            l.assets,
            l.windows,
            l.latency.count,
            l.latency.p50_ms,
            l.latency.p99_ms,
            l.latency.p999_ms,
            l.latency.max_ms
        );
    }
    for l in levels {
        println!(
            "{:<20} job thread, ms per window by phase: {}; one close {:.1} ms ({:.1} ms on a core); to the producer p50 {:.2} ms, p99 {:.2} ms",
            format!("{} {:.0}%", l.delivery, l.load * 100.0),
            by_phase(&l.job_ms_per_window, 1),
            l.close_ms_mean,
            l.close_cpu_ms_mean,
            l.to_producer.p50_ms,
            l.to_producer.p99_ms
        );
        let r = &l.slowest_run;
        let ms = |us: u64| us as f64 / 1000.0;
        println!(
            "{:<20} CPU s per s: this process {:.2} (generator thread {:.2}), broker {}; changelog {:.1} MB/s; slowest run to the producer {:.1} ms: decode {:.1}, process {:.1} (closes {:.1}, on a core {:.1}), emit {:.1}",
            "",
            l.cpu_s / l.seconds.max(1e-9),
            l.generator_cpu_per_s,
            l.broker_cpu_per_s.map_or("-".into(), |c| format!("{c:.2}")),
            l.changelog_bytes_per_s / 1e6,
            ms(r.total_us),
            ms(r.decode_us),
            ms(r.process_us),
            ms(r.close_us),
            ms(r.close_cpu_us),
            ms(r.emit_us)
        );
    }
}

/// `poll 0.85, process 3.91, ...`: a per-phase split with `decimals` digits.
fn by_phase(split: &[(&str, f64)], decimals: usize) -> String {
    split
        .iter()
        .map(|(p, v)| format!("{p} {v:.decimals$}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs the Kafka Streams peer (building its jar with Maven first if needed) over `topic`;
/// returns the JSON line it prints.
fn kafka_streams_peer(
    brokers: &str,
    topic: &str,
    readings: usize,
    mode: &str,
) -> Result<serde_json::Value> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/peers/kafka-streams");
    let jar = dir.join("target/kafka-streams-peer.jar");
    if !jar.exists() {
        eprintln!(
            "building the Kafka Streams peer: mvn -q -B package -DskipTests in {}",
            dir.display()
        );
        let st = std::process::Command::new("mvn")
            .args(["-q", "-B", "package", "-DskipTests"])
            .current_dir(&dir)
            .status()
            .context("mvn (Maven) is needed to build the Kafka Streams peer; or pass --no-peer")?;
        if !st.success() {
            bail!("building the Kafka Streams peer failed");
        }
    }
    let out = std::process::Command::new("java")
        .arg("-jar")
        .arg(&jar)
        .args(["--brokers", brokers, "--topic", topic, "--mode", mode])
        .args(["--readings", &readings.to_string()])
        .args(["--app-id", &format!("ks-peer-{topic}-{mode}")])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("java is needed to run the Kafka Streams peer; or pass --no-peer")?;
    if !out.status.success() {
        bail!("the Kafka Streams peer ({mode}) failed: {}", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).with_context(|| format!("the peer printed {text:?}"))
}
