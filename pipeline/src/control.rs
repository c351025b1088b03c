//! The alert control state: acknowledgements and silences from the job's control topic, and
//! the pure decisions over them (what an alert record carries; which firing alerts get an
//! UPDATE when the state changes).
//!
//! The book is rebuilt from the whole control topic when an instance starts and follows it
//! while the job runs (`kafka/control.rs`); it holds only what people sent, so every instance
//! of a job has the same book.

use std::collections::HashMap;

use vigil_schemas::{Acknowledgement, Alert, ControlAction, ControlRecord, SilenceRef};

/// Acknowledgements by alert id and silences by target (asset or alert id).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ControlBook {
    acks: HashMap<String, Acknowledgement>,
    silences: HashMap<String, SilenceRef>,
}

impl ControlBook {
    /// Applies one record: the latest ack of an alert wins, a silence replaces the target's
    /// earlier one, an unsilence removes it.
    pub fn apply(&mut self, r: &ControlRecord) {
        match &r.action {
            ControlAction::Ack { alert_id } => {
                self.acks.insert(
                    alert_id.clone(),
                    Acknowledgement {
                        by: r.by.clone(),
                        note: r.note.clone(),
                        at: r.at,
                    },
                );
            }
            ControlAction::Silence { target, until } => {
                self.silences.insert(
                    target.clone(),
                    SilenceRef {
                        target: target.clone(),
                        until: *until,
                        by: r.by.clone(),
                        note: r.note.clone(),
                    },
                );
            }
            ControlAction::Unsilence { target } => {
                self.silences.remove(target);
            }
        }
    }

    /// True when nothing was ever sent (the common case: annotation is skipped).
    pub fn is_empty(&self) -> bool {
        self.acks.is_empty() && self.silences.is_empty()
    }

    /// The acknowledgement of `alert_id`, if any.
    pub fn ack(&self, alert_id: &str) -> Option<&Acknowledgement> {
        self.acks.get(alert_id)
    }

    /// The silence covering an alert of `asset` with id `alert_id` whose window ends at `at`:
    /// the alert's own silence first, then the asset's; a silence covers windows ending
    /// before its `until`.
    pub fn silence(&self, asset: &str, alert_id: &str, at: i64) -> Option<&SilenceRef> {
        [alert_id, asset]
            .into_iter()
            .filter_map(|k| self.silences.get(k))
            .find(|s| at < s.until)
    }

    /// Sets the ack and silence an alert record carries.
    pub fn annotate(&self, a: &mut Alert) {
        if self.is_empty() {
            return;
        }
        a.ack = self.ack(&a.alert_id).cloned();
        a.silence = self
            .silence(&a.asset_id, &a.alert_id, a.window_end)
            .cloned();
    }

    /// For each firing alert (its latest record), the UPDATE record to emit if this book
    /// changes what it carries (an ack arrived, a silence started or ended), stamped `now`.
    pub fn updates<'a>(&self, firing: impl IntoIterator<Item = &'a Alert>, now: i64) -> Vec<Alert> {
        let mut out = Vec::new();
        for a in firing {
            let mut b = a.clone();
            b.ack = self.ack(&a.alert_id).cloned();
            b.silence = self
                .silence(&a.asset_id, &a.alert_id, a.window_end)
                .cloned();
            if b.ack != a.ack || b.silence != a.silence {
                b.state = Some(vigil_schemas::AlertState::Update);
                b.emitted_at = now;
                out.push(b);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_schemas::{AlertKind, AlertState};

    fn rec(action: ControlAction, at: i64) -> ControlRecord {
        ControlRecord {
            action,
            by: "ana".into(),
            note: "MO-4711".into(),
            at,
        }
    }

    fn alert(id: &str, asset: &str, window_end: i64) -> Alert {
        Alert {
            schema_version: vigil_schemas::alert::ALERT_SCHEMA_VERSION,
            alert_id: id.into(),
            kind: AlertKind::Anomaly,
            asset_id: asset.into(),
            window_start: window_end - 60,
            window_end,
            score: 2.0,
            threshold: 1.0,
            model: None,
            quality: None,
            rul: None,
            top_features: Vec::new(),
            emitted_at: 0,
            state: Some(AlertState::Open),
            severity: None,
            ack: None,
            silence: None,
            traceparent: None,
        }
    }

    #[test]
    fn silences_cover_windows_before_until_alert_first() {
        let mut b = ControlBook::default();
        b.apply(&rec(
            ControlAction::Silence {
                target: "pump-7".into(),
                until: 1_000,
            },
            0,
        ));
        assert_eq!(b.silence("pump-7", "x", 999).map(|s| s.until), Some(1_000));
        assert!(
            b.silence("pump-7", "x", 1_000).is_none(),
            "until is exclusive"
        );
        assert!(
            b.silence("pump-8", "x", 10).is_none(),
            "other assets are not silenced"
        );
        b.apply(&rec(
            ControlAction::Silence {
                target: "x".into(),
                until: 5_000,
            },
            1,
        ));
        assert_eq!(
            b.silence("pump-7", "x", 10).map(|s| s.target.as_str()),
            Some("x")
        );
        assert_eq!(
            b.silence("pump-7", "x", 2_000).map(|s| s.until),
            Some(5_000)
        );
        b.apply(&rec(ControlAction::Unsilence { target: "x".into() }, 2));
        assert_eq!(
            b.silence("pump-7", "x", 10).map(|s| s.target.as_str()),
            Some("pump-7")
        );
        assert!(b.silence("pump-7", "x", 2_000).is_none());
    }

    #[test]
    fn an_ack_or_silence_updates_firing_alerts_once() {
        let mut b = ControlBook::default();
        let firing = vec![alert("a1", "pump-7", 600), alert("a2", "pump-8", 600)];
        assert!(b.updates(&firing, 9).is_empty(), "nothing changed");
        b.apply(&rec(
            ControlAction::Ack {
                alert_id: "a1".into(),
            },
            5,
        ));
        let u = b.updates(&firing, 9);
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].alert_id, "a1");
        assert_eq!(u[0].state, Some(AlertState::Update));
        assert_eq!(u[0].emitted_at, 9);
        let ack = u[0].ack.as_ref().expect("ack carried");
        assert_eq!(
            (ack.by.as_str(), ack.note.as_str(), ack.at),
            ("ana", "MO-4711", 5)
        );
        // once the firing record carries it, no second update
        let firing = vec![u[0].clone(), firing[1].clone()];
        assert!(b.updates(&firing, 10).is_empty());
        b.apply(&rec(
            ControlAction::Silence {
                target: "pump-8".into(),
                until: 10_000,
            },
            6,
        ));
        let u = b.updates(&firing, 11);
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].alert_id, "a2");
        assert!(u[0].silence.is_some());
        // annotate gives new records the same
        let mut fresh = alert("a3", "pump-8", 700);
        b.annotate(&mut fresh);
        assert_eq!(fresh.silence.as_ref().map(|s| s.by.as_str()), Some("ana"));
        assert!(fresh.ack.is_none());
    }
}
