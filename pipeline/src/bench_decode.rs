//! `vigil bench decode`: the decoder's fast paths against the serde visitor they fall back to,
//! side by side on the payloads `vigil bench kafka` loads: the default decoder (the learned
//! layout first, then the byte scanner), the byte scanner alone, and the serde visitor alone.
//!
//! No Kafka: the payloads are generated in memory and decoded in batches of the bench job's
//! `max_batch`, alternately by the three decoders for a few rounds, so all see the same caches
//! and the same box at the same time. Prints readings per second and MB/s of each and the
//! ratio; timings are printed, never asserted.

use std::time::{Duration, Instant};

use vigil_schemas::{BatchDecoder, FieldMapping};

use crate::bench_kafka::{payload, MEASUREMENTS};
use crate::PipelineError;

/// Readings per decoded batch (the bench job's `max_batch`).
const BATCH: usize = 20_000;
/// Rounds, each decoding every payload once with each decoder.
const ROUNDS: usize = 3;

/// What one decoder measured.
#[derive(Debug, Clone)]
pub struct DecodeRate {
    /// Readings decoded per second (best round).
    pub per_s: f64,
    /// Payload megabytes (10^6 bytes) per second (best round).
    pub mb_per_s: f64,
}

/// Decodes `readings` payloads of `assets` assets with each decoder; returns their rates (the
/// default, the scanner without layouts, the serde visitor only) and the mean payload bytes.
pub fn bench_decode(
    readings: usize,
    assets: usize,
) -> Result<([DecodeRate; 3], f64), PipelineError> {
    let names: Vec<String> = (0..MEASUREMENTS).map(|m| format!("m{m}")).collect();
    let mapping = FieldMapping::canonical(&names, &[]);
    let shaped = BatchDecoder::new(mapping.clone())?;
    let scanner = BatchDecoder::new(mapping.clone())?.without_shapes();
    let general = BatchDecoder::new(mapping)?.without_fast_path();
    let payloads: Vec<String> = (0..readings).map(|i| payload(i, assets, false)).collect();
    let bytes: usize = payloads.iter().map(String::len).sum();
    let mut best = [Duration::MAX; 3];
    for _ in 0..ROUNDS {
        for (slot, dec) in [&shaped, &scanner, &general].into_iter().enumerate() {
            let started = Instant::now();
            let mut rows = 0;
            for chunk in payloads.chunks(BATCH) {
                let out = dec.decode(chunk.iter().map(|p| Some(p.as_bytes())))?;
                if !out.dead.is_empty() {
                    return Err(PipelineError::Data(format!(
                        "bench payload rejected: {:?}",
                        out.dead[0]
                    )));
                }
                rows += out.batch.num_rows();
            }
            if rows != readings {
                return Err(PipelineError::Data(format!(
                    "decoded {rows} of {readings} readings"
                )));
            }
            best[slot] = best[slot].min(started.elapsed());
        }
    }
    let rate = |d: Duration| DecodeRate {
        per_s: readings as f64 / d.as_secs_f64(),
        mb_per_s: bytes as f64 / 1e6 / d.as_secs_f64(),
    };
    Ok((best.map(rate), bytes as f64 / readings.max(1) as f64))
}
