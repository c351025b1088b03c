//! The alert lifecycle: a pure decision, per asset and detector, over the sequence of window
//! scores. It owns when an alert opens, when it is updated and when it resolves; the engine
//! keeps the [`LifecycleState`] in the job's state and turns [`Transition`]s into alert records.
//!
//! `normal → pending` when a window's score is over the threshold; `pending → firing` (emit
//! OPEN) after `pending_windows` consecutive windows over it, unless an alert opened less than
//! `cooldown_ms` of event time before; a firing alert emits UPDATE when its severity changes and
//! RESOLVED after `resolve_windows` consecutive windows under `hysteresis × threshold`. Scores are
//! given normalised (`score / threshold`, so 1.0 is the threshold); a non-finite score counts as
//! under. Severity is `critical` from `critical_ratio` times the threshold, else `warning`.

use serde::{Deserialize, Serialize};
use vigil_schemas::alert::Severity;

/// The policy's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// Consecutive windows over the threshold before an alert opens (≥ 1).
    pub pending_windows: u32,
    /// Consecutive windows under the hysteresis threshold before it resolves (≥ 1).
    pub resolve_windows: u32,
    /// The resolve threshold as a fraction of the open threshold (0 < h ≤ 1).
    pub hysteresis: f64,
    /// Event time after an OPEN during which no new alert opens for the same asset and detector.
    pub cooldown_ms: i64,
    /// Normalised score from which an alert is `critical` (else `warning`).
    pub critical_ratio: f64,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            pending_windows: 1,
            resolve_windows: 1,
            hysteresis: 1.0,
            cooldown_ms: 0,
            critical_ratio: 2.0,
        }
    }
}

/// Where one asset and detector stand.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LifecycleState {
    /// Consecutive windows over the threshold while not firing.
    pub over: u32,
    /// Consecutive windows under the hysteresis threshold while firing.
    pub under: u32,
    /// The firing alert: its opening window's start and its current severity.
    pub firing: Option<(i64, Severity)>,
    /// Window end of the last OPEN, for the cool-down.
    pub last_open_end: Option<i64>,
}

/// What a window did to the alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// An alert opened; its id is made from `opened_at` (the opening window's start).
    Open {
        /// Opening window start.
        opened_at: i64,
        /// Its severity.
        severity: Severity,
    },
    /// The firing alert's severity changed.
    Update {
        /// Opening window start of the alert.
        opened_at: i64,
        /// The new severity.
        severity: Severity,
    },
    /// The firing alert resolved.
    Resolved {
        /// Opening window start of the alert.
        opened_at: i64,
        /// Its last severity.
        severity: Severity,
    },
}

impl Lifecycle {
    /// The severity of a normalised score over the threshold.
    pub fn severity(&self, ratio: f64) -> Severity {
        if ratio >= self.critical_ratio {
            Severity::Critical
        } else {
            Severity::Warning
        }
    }

    /// Feeds one window's normalised score; returns the transition it causes, if any.
    pub fn step(
        &self,
        state: &mut LifecycleState,
        ratio: f64,
        window_start: i64,
        window_end: i64,
    ) -> Option<Transition> {
        let ratio = if ratio.is_finite() { ratio } else { 0.0 };
        match state.firing {
            None => {
                if ratio <= 1.0 {
                    state.over = 0;
                    return None;
                }
                state.over += 1;
                let cooling = state
                    .last_open_end
                    .is_some_and(|t| window_end - t < self.cooldown_ms);
                if state.over < self.pending_windows.max(1) || cooling {
                    return None;
                }
                let severity = self.severity(ratio);
                state.over = 0;
                state.under = 0;
                state.firing = Some((window_start, severity));
                state.last_open_end = Some(window_end);
                Some(Transition::Open {
                    opened_at: window_start,
                    severity,
                })
            }
            Some((opened_at, severity)) => {
                if ratio < self.hysteresis {
                    state.under += 1;
                    if state.under >= self.resolve_windows.max(1) {
                        state.firing = None;
                        state.under = 0;
                        state.over = 0;
                        return Some(Transition::Resolved {
                            opened_at,
                            severity,
                        });
                    }
                    return None;
                }
                state.under = 0;
                let now = if ratio > 1.0 {
                    self.severity(ratio)
                } else {
                    severity
                };
                if now != severity {
                    state.firing = Some((opened_at, now));
                    return Some(Transition::Update {
                        opened_at,
                        severity: now,
                    });
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(p: &Lifecycle, scores: &[f64]) -> Vec<(usize, Transition)> {
        let mut s = LifecycleState::default();
        scores
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let t = i as i64 * 10;
                p.step(&mut s, *r, t, t + 10).map(|x| (i, x))
            })
            .collect()
    }

    #[test]
    fn opens_after_pending_and_resolves_after_quiet_windows() {
        let p = Lifecycle {
            pending_windows: 2,
            resolve_windows: 2,
            hysteresis: 0.8,
            ..Lifecycle::default()
        };
        let got = run(&p, &[0.5, 1.2, 1.3, 0.9, 0.7, 0.75, 0.2]);
        assert_eq!(
            got,
            vec![
                (
                    2,
                    Transition::Open {
                        opened_at: 20,
                        severity: Severity::Warning
                    }
                ),
                (
                    5,
                    Transition::Resolved {
                        opened_at: 20,
                        severity: Severity::Warning
                    }
                ),
            ]
        );
    }

    #[test]
    fn severity_changes_are_updates() {
        let p = Lifecycle::default();
        let got: Vec<Transition> = run(&p, &[1.5, 2.5, 1.5, 0.5])
            .into_iter()
            .map(|x| x.1)
            .collect();
        assert_eq!(
            got,
            vec![
                Transition::Open {
                    opened_at: 0,
                    severity: Severity::Warning
                },
                Transition::Update {
                    opened_at: 0,
                    severity: Severity::Critical
                },
                Transition::Update {
                    opened_at: 0,
                    severity: Severity::Warning
                },
                Transition::Resolved {
                    opened_at: 0,
                    severity: Severity::Warning
                },
            ]
        );
    }

    #[test]
    fn cooldown_holds_back_a_second_open() {
        let p = Lifecycle {
            cooldown_ms: 35,
            ..Lifecycle::default()
        };
        // opens at window 0 (end 10); resolves at 1; over again at 2 (end 30, cooling) and 4 (end 50)
        let opens: Vec<usize> = run(&p, &[1.5, 0.1, 1.5, 0.1, 1.5])
            .into_iter()
            .filter(|x| matches!(x.1, Transition::Open { .. }))
            .map(|x| x.0)
            .collect();
        assert_eq!(opens, vec![0, 4]);
    }

    proptest! {
        /// Noise around the threshold does not flap with hysteresis: between two OPENs there is
        /// always a RESOLVED, every RESOLVED follows at least `resolve_windows` windows under the
        /// lower threshold, and noise within (hysteresis, ∞) never resolves.
        #[test]
        fn no_flapping_in_the_hysteresis_band(noise in proptest::collection::vec(0.85f64..1.15, 1..300)) {
            let p = Lifecycle { pending_windows: 2, resolve_windows: 3, hysteresis: 0.8, ..Lifecycle::default() };
            let got = run(&p, &noise);
            let opens = got.iter().filter(|x| matches!(x.1, Transition::Open { .. })).count();
            prop_assert!(opens <= 1, "noise in the band opened {} alerts", opens);
            let resolved = got.iter().any(|x| matches!(x.1, Transition::Resolved { .. }));
            prop_assert!(!resolved, "noise in the band resolved");
        }

        /// Transitions alternate OPEN (UPDATE*) RESOLVED, whatever the scores.
        #[test]
        fn transitions_are_well_formed(scores in proptest::collection::vec(0.0f64..3.0, 0..300), k in 1u32..4, m in 1u32..4) {
            let p = Lifecycle { pending_windows: k, resolve_windows: m, hysteresis: 0.7, ..Lifecycle::default() };
            let mut firing = false;
            for (_, t) in run(&p, &scores) {
                match t {
                    Transition::Open { .. } => { prop_assert!(!firing); firing = true; }
                    Transition::Update { .. } => prop_assert!(firing),
                    Transition::Resolved { .. } => { prop_assert!(firing); firing = false; }
                }
            }
        }
    }
}
