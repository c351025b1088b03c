//! The Vigil job runtime: everything with IO.
//!
//! This crate owns the job file ([`job`]), the in-process engine that wires decoder, windows,
//! feature SQL and model together ([`engine`]), Kafka input and output ([`kafka`]), the
//! streaming loop ([`runner`]), training from history files ([`train`]), the plant simulator and
//! the demo ([`sim`], [`demo`]), and job metrics ([`metrics`]). The `vigil` binary (`main.rs`)
//! is a thin CLI over these.

pub mod alerting;
pub mod alerts_cli;
pub mod backtest;
pub mod backtest_nab;
pub mod backtest_rul;
pub mod bench;
pub mod bench_close;
pub mod bench_decode;
pub mod bench_kafka;
pub mod bench_latency;
pub mod conditions;
pub mod control;
pub mod dashboard;
pub mod demo;
pub mod engine;
pub mod error;
pub mod features;
pub mod history;
pub mod http;
pub mod job;
pub mod kafka;
pub mod latency;
pub mod metrics;
pub mod nab;
pub mod prometheus;
pub mod runner;
pub mod sim;
pub mod telemetry;
pub mod train;

pub use error::PipelineError;

/// This crate's directory as cargo gives it to the running test, else as at compile time (a
/// target directory shared with a clone at another path reuses its test binaries).
#[cfg(test)]
pub(crate) fn crate_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || env!("CARGO_MANIFEST_DIR").into(),
        std::path::PathBuf::from,
    )
}
