//! A plant simulator: a fleet of centrifugal pumps producing telemetry, some developing faults.
//!
//! Each pump has its own nominal flow, pressure, current and vibration; it switches between
//! operating modes (load 60/80/100 %) now and then; bearing temperature follows load with a
//! first-order lag; every signal has sensor noise. Faults grow from a start time:
//! * bearing wear: vibration rises (with impacts) and the bearing runs hotter;
//! * cavitation: discharge pressure drops and fluctuates, flow falls, vibration rises.
//!
//! Every reading also carries a vibration waveform snapshot (`waveforms.vibration`: 256 samples
//! at 2560 Hz): the running-speed line (≈25 Hz) and its second harmonic plus noise, scaled to the
//! reading's vibration level. Bearing wear adds a 900 Hz structural resonance amplitude-modulated
//! at the outer-race defect frequency (BPFO ≈ 3.57 × running speed ≈ 88 Hz), which the envelope
//! spectrum reveals; cavitation adds broadband noise, which raises high-band energy and the
//! spectral centroid.
//!
//! Used by `vigil demo` and the tests; deterministic for a given seed.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use vigil_schemas::{EventTime, Reading, Waveform};

/// The measurements the simulator produces (and the demo job maps).
pub const MEASUREMENTS: [&str; 5] = [
    "vibration_rms",
    "bearing_temp",
    "discharge_pressure",
    "motor_current",
    "flow",
];

/// Sample rate of the simulated vibration snapshots, Hz.
pub const WAVE_RATE_HZ: f64 = 2560.0;
/// Samples per simulated vibration snapshot.
pub const WAVE_SAMPLES: usize = 256;

/// A fault that develops on one pump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Rolling-element bearing wear.
    BearingWear,
    /// Cavitation at the impeller.
    Cavitation,
}

/// A fault plan: which pump, what, from when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// Pump index (0-based).
    pub pump: usize,
    /// The fault.
    pub kind: FaultKind,
    /// Event time the fault starts, UTC ms.
    pub start_ms: i64,
}

#[derive(Debug, Clone)]
struct Pump {
    flow0: f64,
    pressure0: f64,
    current0: f64,
    vib0: f64,
    ambient: f64,
    load: f64,
    temp: f64,
}

/// The simulated fleet.
#[derive(Debug)]
pub struct PlantSim {
    pumps: Vec<Pump>,
    faults: Vec<Fault>,
    rng: StdRng,
    noise: Normal<f64>,
    now_ms: i64,
    step_ms: i64,
    sites: usize,
    /// Separate stream for waveforms, so the scalar signals do not depend on them.
    wave_rng: StdRng,
}

impl PlantSim {
    /// `n` pumps reporting every `step_ms` from `start_ms`.
    pub fn new(n: usize, seed: u64, start_ms: i64, step_ms: i64, faults: Vec<Fault>) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let pumps = (0..n)
            .map(|_| {
                let load = [0.6, 0.8, 1.0][rng.random_range(0..3)];
                let ambient = rng.random_range(18.0..26.0);
                Pump {
                    flow0: rng.random_range(80.0..120.0),
                    pressure0: rng.random_range(5.0..7.0),
                    current0: rng.random_range(40.0..60.0),
                    vib0: rng.random_range(1.5..2.5),
                    ambient,
                    load,
                    temp: ambient + 25.0 * load,
                }
            })
            .collect();
        PlantSim {
            pumps,
            faults,
            rng,
            noise: Normal::new(0.0, 1.0).unwrap_or_else(|_| unreachable!("unit normal is valid")),
            now_ms: start_ms,
            step_ms,
            sites: 3,
            wave_rng: StdRng::seed_from_u64(seed ^ 0x5eed_0f_5a3b1e5),
        }
    }

    /// Plans another fault (e.g. to continue a normal history into a faulty period).
    pub fn add_fault(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    /// Asset id of pump `i`.
    pub fn asset_id(i: usize) -> String {
        format!("pump-{i:03}")
    }

    /// Event time of the next step.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Number of pumps.
    pub fn len(&self) -> usize {
        self.pumps.len()
    }

    /// True when the fleet is empty.
    pub fn is_empty(&self) -> bool {
        self.pumps.is_empty()
    }

    /// Severity (0 = healthy) of pump `i`'s fault at time `t`, and its kind.
    fn severity(&self, i: usize, t: i64) -> Option<(FaultKind, f64)> {
        self.faults
            .iter()
            .find(|f| f.pump == i && t >= f.start_ms)
            .map(|f| {
                // grows over ~20 minutes of event time, then saturates
                let minutes = (t - f.start_ms) as f64 / 60_000.0;
                (f.kind, (minutes / 20.0).min(1.5))
            })
    }

    /// One reading per pump at the current time; advances time by one step.
    pub fn step(&mut self, out: &mut Vec<Reading>) {
        let t = self.now_ms;
        let dt_s = self.step_ms as f64 / 1000.0;
        for i in 0..self.pumps.len() {
            let fault = self.severity(i, t);
            let mut n = || self.noise.sample(&mut self.rng);
            let (z1, z2, z3, z4, z5) = (n(), n(), n(), n(), n());
            let switch: f64 = self.rng.random();
            let spike: f64 = self.rng.random();
            let p = &mut self.pumps[i];
            // mode switches on average every ~15 minutes
            if switch < dt_s / 900.0 {
                p.load = [0.6, 0.8, 1.0][((switch * 1e6) as usize) % 3];
            }
            let target = p.ambient + 25.0 * p.load;
            p.temp += (target - p.temp) * (dt_s / 300.0).min(1.0);
            let mut flow = p.flow0 * p.load * (1.0 + 0.02 * z1);
            let mut pressure = p.pressure0 * (0.55 + 0.45 * p.load) * (1.0 + 0.015 * z2);
            let current = p.current0 * (0.35 + 0.65 * p.load) * (1.0 + 0.02 * z3);
            let mut vib = p.vib0 * (0.8 + 0.2 * p.load) * (1.0 + 0.06 * z4);
            let mut temp = p.temp + 0.3 * z5;
            match fault {
                Some((FaultKind::BearingWear, s)) => {
                    vib *= 1.0 + 1.5 * s;
                    if spike < 0.1 * s {
                        vib *= 2.0;
                    }
                    temp += 12.0 * s;
                }
                Some((FaultKind::Cavitation, s)) => {
                    // vapour bubbles: head drops and fluctuates, flow falls, broadband vibration
                    let (z6, z7) = (
                        self.noise.sample(&mut self.rng),
                        self.noise.sample(&mut self.rng),
                    );
                    pressure *= 1.0 - 0.25 * s + 0.15 * s * z6;
                    flow *= 1.0 - 0.2 * s;
                    vib *= 1.0 + s * (0.8 + 0.5 * z7.abs());
                }
                None => {}
            }
            let load = self.pumps[i].load;
            let wave = self.waveform(vib, load, fault);
            let mut measurements = BTreeMap::new();
            for (k, v) in MEASUREMENTS
                .iter()
                .zip([vib, temp, pressure, current, flow])
            {
                measurements.insert(k.to_string(), (v * 1000.0).round() / 1000.0);
            }
            out.push(Reading {
                asset_id: Self::asset_id(i),
                ts: EventTime::Millis(t),
                measurements,
                tags: BTreeMap::from([
                    ("site".to_string(), format!("site-{}", i % self.sites)),
                    ("line".to_string(), format!("line-{}", i % 7)),
                ]),
                waveforms: BTreeMap::from([("vibration".to_string(), wave)]),
            });
        }
        self.now_ms += self.step_ms;
    }

    /// A vibration snapshot for a pump at vibration level `vib` and load `load`.
    fn waveform(&mut self, vib: f64, load: f64, fault: Option<(FaultKind, f64)>) -> Waveform {
        use std::f64::consts::PI;
        let fr = 24.6 * (0.9 + 0.1 * load);
        let bpfo = 3.57 * fr;
        let phase1: f64 = self.wave_rng.random::<f64>() * 2.0 * PI;
        let phase2: f64 = self.wave_rng.random::<f64>() * 2.0 * PI;
        let samples = (0..WAVE_SAMPLES)
            .map(|k| {
                let t = k as f64 / WAVE_RATE_HZ;
                let z: f64 = self.noise.sample(&mut self.wave_rng);
                let mut x = 1.2 * vib * (2.0 * PI * fr * t + phase1).sin()
                    + 0.4 * vib * (2.0 * PI * 2.0 * fr * t + phase2).sin()
                    + 0.3 * vib * z;
                match fault {
                    Some((FaultKind::BearingWear, s)) => {
                        let am = 0.5 * (1.0 + (2.0 * PI * bpfo * t).cos());
                        x += 1.5 * s * vib * am * (2.0 * PI * 900.0 * t).sin();
                    }
                    Some((FaultKind::Cavitation, s)) => {
                        let w: f64 = self.noise.sample(&mut self.wave_rng);
                        x += 0.8 * s * vib * w;
                    }
                    None => {}
                }
                (x * 1000.0).round() / 1000.0
            })
            .collect();
        Waveform {
            rate_hz: WAVE_RATE_HZ,
            samples,
        }
    }

    /// Readings for `steps` steps, as JSON payloads.
    pub fn payloads(&mut self, steps: usize) -> Vec<Vec<u8>> {
        let mut readings = Vec::with_capacity(steps * self.pumps.len());
        for _ in 0..steps {
            self.step(&mut readings);
        }
        readings
            .iter()
            .filter_map(|r| serde_json::to_vec(r).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_faults_raise_vibration() {
        let fault = Fault {
            pump: 1,
            kind: FaultKind::BearingWear,
            start_ms: 0,
        };
        let mut a = PlantSim::new(3, 7, 0, 60_000, vec![fault]);
        let mut b = PlantSim::new(3, 7, 0, 60_000, vec![fault]);
        assert_eq!(a.payloads(5), b.payloads(5));
        let mut out = Vec::new();
        for _ in 0..40 {
            out.clear();
            a.step(&mut out);
        }
        let vib = |r: &Reading| r.measurements["vibration_rms"];
        assert!(
            vib(&out[1]) > 1.5 * vib(&out[0]).max(vib(&out[2])),
            "{out:?}"
        );
    }
}
