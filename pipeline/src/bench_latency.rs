//! The fixed-load part of `vigil bench kafka`: window close to alert acknowledged, at a share
//! of Vigil's measured maximum rate.
//!
//! First the workload's maximum rate ([`max_rate`]: its job catching up on preloaded readings).
//! Then per delivery mode and load level (10 %, 50 %, 80 % of that rate): a fresh topic and
//! a fresh job (tumbling 500 ms windows closed by the first reading past their end), and a
//! producer thread in this process (at nice 10: `lower_priority`) that sends readings stamped
//! with the wall clock at a steady rate, every asset twice a second, a few assets far out of
//! range in each window. Each alert
//! contributes one sample, from the start of the run of records (at most
//! [`crate::runner::ENGINE_RUN`] of one partition) whose readings closed its window to the
//! moment it became visible (`JobStats::close_to_alert_exact`, HdrHistogram): at-least-once,
//! the broker's acknowledgement of the alert's produce (the protocol's definition, and the
//! low-latency mode: alert ids are deterministic, so a replay repeats the same ids);
//! exactly-once, the commit of the transaction that made it visible to `read_committed`
//! consumers. Samples of the warm-up (the first seconds, while the job joins the group and the
//! baselines learn) are dropped. Timings are printed, never asserted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::bench_kafka::{
    asset_id, bench_job, catch_up, cpu_seconds, load_with, reading, KafkaBenchOptions,
};
use crate::engine::now_ms;
use crate::kafka::{client_config, delete_job_topics, ensure_topics};
use crate::latency::Percentiles;
use crate::runner::{run, RunOptions};
use crate::PipelineError;

/// Window length of the latency job, ms.
const WINDOW_MS: i64 = 500;
/// Seconds of each level dropped before sampling.
const WARM_UP: Duration = Duration::from_secs(5);

/// The delivery modes measured, the headline (the protocol's produce acknowledgement) first.
pub const DELIVERIES: [&str; 2] = ["at-least-once", "exactly-once"];

/// What one load level measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LatencyLevel {
    /// The job's delivery mode (`at-least-once`: latency to the produce acknowledgement;
    /// `exactly-once`: to the transaction commit).
    pub delivery: &'static str,
    /// Share of the maximum rate asked for.
    pub load: f64,
    /// Readings per second asked for.
    pub target_per_s: f64,
    /// Readings per second the job consumed while sampling.
    pub achieved_per_s: f64,
    /// Assets sending (each twice a second).
    pub assets: usize,
    /// Seconds sampled (after the warm-up).
    pub seconds: f64,
    /// CPU seconds of this process while sampling (job and load producer together).
    pub cpu_s: f64,
    /// Window close to alert acknowledged, one sample per committed alert.
    pub latency: Percentiles,
    /// The job's part of `latency`: window close to the alert handed to the producer (the
    /// rest is the broker's acknowledgement, or the transaction's commit).
    pub to_producer: Percentiles,
    /// Windows closed while sampling.
    pub windows: u64,
    /// Where the job thread's wall time went while sampling, ms per closed window and phase
    /// ([`crate::metrics::Phase`]).
    pub job_ms_per_window: Vec<(&'static str, f64)>,
    /// Mean ms of one window's close (feature SQL, scoring and alert decision over all its
    /// assets: `vigil.scoring_latency`) while sampling; part of every sample's latency.
    pub close_ms_mean: f64,
    /// Mean CPU ms of the job thread in one close (the rest of `close_ms_mean` is waiting for
    /// a core).
    pub close_cpu_ms_mean: f64,
    /// CPU seconds per second of the broker while sampling (when its pid is known).
    pub broker_cpu_per_s: Option<f64>,
    /// CPU seconds per second of the load generator's own thread (not its Kafka client's),
    /// over the whole level.
    pub generator_cpu_per_s: f64,
    /// Changelog bytes (state snapshots) the job wrote per second while sampling.
    pub changelog_bytes_per_s: f64,
    /// The slowest run of records that raised alerts while sampling, by step.
    pub slowest_run: crate::metrics::RunBreakdown,
}

/// Whether asset `a` of `assets` is out of range in window `slot`: about one in 200 per
/// window (at least two), a different set each window.
pub fn spikes(a: usize, assets: usize, slot: i64) -> bool {
    let m = assets.max(1) as u64;
    let n = (m / 200).max(2);
    let shift = (slot.unsigned_abs() % m) * 7919 % m;
    (a as u64 + shift) % m < n
}

/// Readings of the maximum-rate run of the latency workload (fewer if the bench loads fewer).
const MAX_RATE_READINGS: usize = 2_000_000;

/// The latency workload's maximum rate: its job (at-least-once, 500 ms windows) catching up
/// from offset 0 on a topic loaded with every asset twice per second of event time, a few
/// out of range in each window, as the levels send them. Its windows close 20 times as often
/// per reading as the throughput workload's 10 s ones, so its rate, not that one, is what the
/// load levels are shares of.
pub async fn max_rate(
    o: &KafkaBenchOptions,
    dir: &std::path::Path,
) -> Result<crate::bench_kafka::Phase, PipelineError> {
    let n = o.readings.clamp(1, MAX_RATE_READINGS);
    let assets = o.assets.max(1);
    let topic = format!("vigil-bench-latmax-{}", now_ms());
    ensure_topics(&o.brokers, &[(topic.as_str(), o.partitions)]).await?;
    let t0 = crate::bench_kafka::T0;
    load_with(o, &topic, n, "load max", |i| {
        let (a, slot) = (i % assets, (i / assets) as i64);
        let ts = t0 + slot * WINDOW_MS;
        let spike = spikes(a, assets, ts / WINDOW_MS);
        (asset_id(a), reading(a, ts, i as u64, spike))
    })?;
    let mut cfg = bench_job(
        dir,
        &topic,
        &o.brokers,
        assets,
        "500ms",
        "0s",
        DELIVERIES[0],
    )?;
    cfg.native_aggregation = o.native;
    let kafka = cfg.kafka.clone();
    let (phase, _) = catch_up(o, cfg, n as u64, "vigil max").await?;
    delete_job_topics(&kafka).await?;
    Ok(phase)
}

/// Lowers the calling thread's scheduling priority (nice 10), and so that of the threads it
/// starts (the Kafka client's), for the load generator: it stands in for sensors and gateways
/// that run on other machines, and on this box would otherwise take CPU from the job it
/// measures whenever the cores are busy. The broker keeps its priority. Best effort: a refusal
/// leaves the priority as it was (the bench prints what it achieved either way).
fn lower_priority() {
    // SAFETY: plain system calls on the calling thread's own id; no memory is shared.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// Sends `per_s` readings a second to `topic` until `stop`, round-robin over `assets` assets
/// (so each sends every `assets / per_s` seconds), stamped with the wall clock.
fn produce(
    brokers: &str,
    topic: &str,
    per_s: f64,
    assets: usize,
    stop: &AtomicBool,
) -> Result<(u64, f64), PipelineError> {
    let cpu0 = crate::metrics::thread_cpu_s();
    let producer: ThreadedProducer<DefaultProducerContext> =
        client_config(brokers, &Default::default())
            .set("linger.ms", "2")
            .set("queue.buffering.max.kbytes", "1048576")
            .create()?;
    let started = Instant::now();
    let mut sent: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let due = (started.elapsed().as_secs_f64() * per_s) as u64;
        // one clock reading per tick (2 ms), not per reading: the generator's CPU is taken
        // from the cores the job and the broker share
        let ts = now_ms();
        while sent < due {
            let a = (sent % assets as u64) as usize;
            let p = reading(a, ts, sent, spikes(a, assets, ts / WINDOW_MS));
            let key = asset_id(a);
            match producer.send(BaseRecord::to(topic).key(&key).payload(&p)) {
                Ok(()) => sent += 1,
                // a full queue: the broker is behind; try again on the next tick
                Err((e, _))
                    if e.rdkafka_error_code()
                        == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                {
                    break
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let cpu_per_s = (crate::metrics::thread_cpu_s() - cpu0) / started.elapsed().as_secs_f64();
    producer.flush(Duration::from_secs(30))?;
    Ok((sent, cpu_per_s))
}

/// Measures one level: `load` x `max_per_s` readings a second for `seconds` after the warm-up.
pub async fn latency_level(
    o: &KafkaBenchOptions,
    dir: &std::path::Path,
    load: f64,
    max_per_s: f64,
    seconds: u64,
    delivery: &'static str,
) -> Result<LatencyLevel, PipelineError> {
    let per_s = (load * max_per_s).max(10.0);
    let assets = ((per_s * WINDOW_MS as f64 / 1000.0) as usize).clamp(1, o.assets.max(1));
    let topic = format!(
        "vigil-bench-lat{}-{}-{}",
        (load * 100.0).round() as u32,
        &delivery[..1],
        now_ms()
    );
    ensure_topics(&o.brokers, &[(topic.as_str(), o.partitions)]).await?;
    let mut cfg = bench_job(dir, &topic, &o.brokers, assets, "500ms", "0s", delivery)?;
    cfg.native_aggregation = o.native;
    let kafka = cfg.kafka.clone();
    let opts = RunOptions::new();
    let (stop_job, stats) = (opts.stop.clone(), opts.stats.clone());
    let job = tokio::spawn(run(cfg, None, opts));

    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (b, t, s) = (o.brokers.clone(), topic.clone(), stop.clone());
        // a thread of its own (its priority is lowered), not one of the blocking pool's
        tokio::task::spawn_blocking(move || {
            std::thread::spawn(move || {
                lower_priority();
                produce(&b, &t, per_s, assets, &s)
            })
            .join()
            .unwrap_or_else(|_| Err(PipelineError::Data("the load producer panicked".into())))
        })
    };
    let label = format!("{delivery} {:>3.0}%", load * 100.0);
    let total = WARM_UP + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut sampling: Option<(Instant, f64, crate::metrics::StatsSnapshot)> = None;
    let broker_cpu = || o.broker_pid.and_then(|p| cpu_seconds(&p.to_string()));
    let mut broker0 = None;
    let mut scoring0 = stats.scoring.snapshot();
    let mut cpu_close0 = stats.scoring_cpu.snapshot();
    while started.elapsed() < total && !job.is_finished() && !producer.is_finished() {
        if sampling.is_none() && started.elapsed() >= WARM_UP {
            stats.close_to_alert_exact.reset();
            stats.close_to_send_exact.reset();
            stats.reset_slowest_run();
            scoring0 = stats.scoring.snapshot();
            cpu_close0 = stats.scoring_cpu.snapshot();
            sampling = Some((
                Instant::now(),
                cpu_seconds("self").unwrap_or(0.0),
                stats.snapshot(),
            ));
            broker0 = broker_cpu();
        }
        if o.progress {
            let done = started.elapsed().as_secs_f64();
            eprint!(
                "\r{label:<18} [{:<40}] {:5.1}% ({:.0}/{:.0} s)",
                "#".repeat((done / total.as_secs_f64() * 40.0) as usize),
                done * 100.0 / total.as_secs_f64(),
                done,
                total.as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if o.progress {
        eprintln!();
    }
    let latency = stats.close_to_alert_exact.percentiles();
    let to_producer = stats.close_to_send_exact.percentiles();
    let scoring = stats.scoring.snapshot();
    let closes = scoring.count.saturating_sub(scoring0.count);
    let close_ms_mean = (scoring.sum_s - scoring0.sum_s) * 1000.0 / closes.max(1) as f64;
    let close_cpu_ms_mean =
        (stats.scoring_cpu.snapshot().sum_s - cpu_close0.sum_s) * 1000.0 / closes.max(1) as f64;
    let end = stats.snapshot();
    let (t0, cpu0, start) = sampling.unwrap_or_else(|| {
        (
            Instant::now(),
            cpu_seconds("self").unwrap_or(0.0),
            Default::default(),
        )
    });
    let windows = end.windows.saturating_sub(start.windows);
    let job_ms_per_window = crate::metrics::Phase::ALL
        .iter()
        .map(|p| {
            let us = end.phase_us(*p).saturating_sub(start.phase_us(*p));
            (p.name(), us as f64 / 1000.0 / windows.max(1) as f64)
        })
        .collect();
    let secs = t0.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds("self").unwrap_or(0.0) - cpu0;
    let broker_cpu_per_s = broker0
        .zip(broker_cpu())
        .map(|(a, b)| (b - a) / secs.max(1e-9));
    stop.store(true, Ordering::Relaxed);
    let sent = producer
        .await
        .map_err(|e| PipelineError::Data(e.to_string()))?;
    stop_job.store(true, Ordering::Relaxed);
    job.await
        .map_err(|e| PipelineError::Data(e.to_string()))??;
    let (_, generator_cpu_per_s) = sent?;
    delete_job_topics(&kafka).await?;
    Ok(LatencyLevel {
        delivery,
        load,
        target_per_s: per_s,
        achieved_per_s: end.polled.saturating_sub(start.polled) as f64 / secs.max(1e-9),
        assets,
        seconds: secs,
        cpu_s,
        latency,
        to_producer,
        windows,
        job_ms_per_window,
        close_ms_mean,
        close_cpu_ms_mean,
        slowest_run: stats.slowest_run(),
        broker_cpu_per_s,
        generator_cpu_per_s,
        changelog_bytes_per_s: end.state_bytes.saturating_sub(start.state_bytes) as f64
            / secs.max(1e-9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_assets_spike_in_each_window_and_the_set_moves() {
        for assets in [1, 3, 100, 5000] {
            let n = (0..assets).filter(|a| spikes(*a, assets, 42)).count();
            assert_eq!(n, (assets / 200).max(2).min(assets), "{assets} assets");
        }
        let a: Vec<usize> = (0..5000).filter(|a| spikes(*a, 5000, 1)).collect();
        let b: Vec<usize> = (0..5000).filter(|a| spikes(*a, 5000, 2)).collect();
        assert_ne!(a, b);
    }
}
