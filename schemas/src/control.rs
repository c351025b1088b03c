//! The control record: what people tell a running job about its alerts, on the job's control
//! topic (`[alerts] control_topic`), keyed by the asset or alert id it is about.
//!
//! `vigil alerts ack|silence|unsilence` writes these; every instance of the job reads the
//! whole topic, so the state they make (acknowledgements, silences) is the same everywhere and
//! rebuilt from the topic after a restart.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a control record asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ControlAction {
    /// Acknowledge an alert: someone is on it. Later records of the alert carry the ack.
    Ack {
        /// The alert id.
        alert_id: String,
    },
    /// Silence an asset's alerts, or one alert, until a time (a maintenance window). Silenced
    /// alerts are still emitted, flagged with the silence.
    Silence {
        /// An asset id or an alert id.
        target: String,
        /// End of the silence, UTC milliseconds (compared with the alert window's end).
        until: i64,
    },
    /// End a silence of `target` now.
    Unsilence {
        /// The asset or alert id silenced.
        target: String,
    },
}

/// One control record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ControlRecord {
    /// The request.
    #[serde(flatten)]
    pub action: ControlAction,
    /// Who sent it (a user name).
    pub by: String,
    /// Why (a maintenance order, a note for the next shift).
    #[serde(default)]
    pub note: String,
    /// When it was sent, UTC milliseconds.
    pub at: i64,
}

impl ControlRecord {
    /// The JSON Schema of a control record, as committed in `schemas/json/control.schema.json`.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(ControlRecord)).unwrap_or_default()
    }

    /// The id the record is about (its Kafka key).
    pub fn target(&self) -> &str {
        match &self.action {
            ControlAction::Ack { alert_id } => alert_id,
            ControlAction::Silence { target, .. } | ControlAction::Unsilence { target } => target,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_is_flat_and_tagged() {
        let r: ControlRecord = serde_json::from_str(
            r#"{"action":"silence","target":"pump-7","until":5,"by":"ana","note":"MO-1","at":1}"#,
        )
        .unwrap();
        assert_eq!(
            r.action,
            ControlAction::Silence {
                target: "pump-7".into(),
                until: 5
            }
        );
        assert_eq!(r.target(), "pump-7");
        let back = serde_json::to_value(&r).unwrap();
        assert_eq!(back["action"], "silence");
        assert!(serde_json::from_str::<ControlRecord>(
            r#"{"action":"reboot","target":"pump-7","by":"x","at":1}"#
        )
        .is_err());
    }
}
