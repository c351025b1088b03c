//! What the job tells about itself: logs, OpenTelemetry metrics and traces.
//!
//! [`install`] sets up, once per process and before any [`crate::metrics::JobStats`] exists,
//! - the log output (tracing; text or JSON lines, the filter from the job file or `RUST_LOG`);
//! - with an OTLP endpoint (the job's `[telemetry] otlp_endpoint` or
//!   `OTEL_EXPORTER_OTLP_ENDPOINT`; off by default), an OTLP/HTTP JSON exporter for the
//!   metrics (every `export_interval`) and for the spans (batched), plus the bridge that turns
//!   the runner's `tracing` spans (`vigil.batch`, `vigil.window`) into OpenTelemetry spans.
//!
//! [`trace`] owns the W3C trace context: reading `traceparent` from input record headers and
//! rendering the context an alert carries.

mod client;
pub mod trace;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use client::BlockingClient;

use crate::job::TelemetrySettings;
use crate::PipelineError;

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// True once [`install`] set up an OTLP exporter in this process (the runner then publishes
/// its gauges even without an HTTP server).
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// The installed exporters; [`Telemetry::shutdown`] exports what is left.
#[derive(Default)]
pub struct Telemetry {
    meters: Option<SdkMeterProvider>,
    tracer: Option<SdkTracerProvider>,
    endpoint: Option<String>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Telemetry {{ otlp: {:?} }}", self.endpoint)
    }
}

impl Telemetry {
    /// The OTLP base URL in use, if exporting.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// Exports the remaining metrics and spans and stops the exporters.
    pub fn shutdown(self) {
        if let Some(t) = self.tracer {
            let _ = t.force_flush();
            let _ = t.shutdown();
        }
        if let Some(m) = self.meters {
            let _ = m.force_flush();
            let _ = m.shutdown();
        }
    }
}

/// The job's settings with the environment's overrides applied (`RUST_LOG`,
/// `VIGIL_LOG_FORMAT=json|text`, `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`).
pub fn with_env(mut s: TelemetrySettings) -> TelemetrySettings {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if let Some(l) = var("RUST_LOG") {
        s.log_level = l;
    }
    match var("VIGIL_LOG_FORMAT").as_deref() {
        Some("json") => s.json_logs = true,
        Some("text") => s.json_logs = false,
        _ => {}
    }
    if let Some(e) = var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        s.otlp_endpoint = (e != "off").then(|| e.trim_end_matches('/').to_string());
    }
    if let Some(n) = var("OTEL_SERVICE_NAME") {
        s.service_name = n;
    }
    s
}

/// Installs logging and, with an endpoint, the OTLP exporters (see the module doc). Call it
/// once, first thing: instruments created before it stay no-ops. A second call in one process
/// keeps the first log subscriber.
pub fn install(s: &TelemetrySettings) -> Result<Telemetry, PipelineError> {
    let filter = EnvFilter::try_new(&s.log_level)
        .map_err(|e| PipelineError::Telemetry(format!("log level {:?}: {e}", s.log_level)))?;
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if s.json_logs {
        fmt.json().with_filter(filter).boxed()
    } else {
        fmt.with_filter(filter).boxed()
    };
    let Some(base) = s.otlp_endpoint.clone() else {
        let _ = tracing_subscriber::registry().with(fmt).try_init();
        return Ok(Telemetry::default());
    };
    let resource = Resource::builder()
        .with_service_name(s.service_name.clone())
        .build();
    let client = BlockingClient {
        timeout: Duration::from_secs(5),
    };
    let err = |what: &str, e: &dyn std::fmt::Display| {
        PipelineError::Telemetry(format!("OTLP {what} exporter for {base}: {e}"))
    };
    let metrics = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(format!("{base}/v1/metrics"))
        .with_http_client(client.clone())
        .build()
        .map_err(|e| err("metric", &e))?;
    let reader = PeriodicReader::builder(metrics)
        .with_interval(Duration::from_millis(s.export_interval_ms))
        .build();
    let meters = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(resource.clone())
        .build();
    opentelemetry::global::set_meter_provider(meters.clone());
    let spans = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(format!("{base}/v1/traces"))
        .with_http_client(client)
        .build()
        .map_err(|e| err("span", &e))?;
    let processor = BatchSpanProcessor::builder(spans)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(Duration::from_millis(s.export_interval_ms.min(5_000)))
                .build(),
        )
        .build();
    let tracer = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource)
        .build();
    opentelemetry::global::set_tracer_provider(tracer.clone());
    // only Vigil's own spans become OpenTelemetry spans, whatever the log level
    let spans_filter = tracing_subscriber::filter::Targets::new()
        .with_target("vigil_pipeline", tracing::Level::INFO);
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer.tracer("vigil"))
        .with_threads(false)
        .with_filter(spans_filter);
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init();
    EXPORTING.store(true, Ordering::Relaxed);
    Ok(Telemetry {
        meters: Some(meters),
        tracer: Some(tracer),
        endpoint: Some(base),
    })
}
