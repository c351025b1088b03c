//! The output side: alerts (keyed by asset id, JSON) and dead letters (original payload plus
//! reason and source coordinates in headers), produced in batches and flushed before the offsets
//! of their inputs are stored. A delivery failure fails the flush, so inputs are replayed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use vigil_schemas::{Alert, RejectReason};

use super::{client_config, H_DETAIL, H_OFFSET, H_PARTITION, H_REASON, H_TOPIC};
use crate::job::KafkaSettings;
use crate::PipelineError;

/// Largest original payload copied into a dead letter; longer ones are cut (header says so).
const MAX_DEAD_PAYLOAD: usize = 512 * 1024;

/// Counts failed deliveries so a flush can report them.
#[derive(Default)]
pub struct Tracker {
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl ClientContext for Tracker {}

impl ProducerContext for Tracker {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut last) = self.last_error.lock() {
                *last = Some(e.to_string());
            }
        }
    }
}

/// A dead letter to produce: where it came from, why, and the original bytes.
pub struct DeadLetterRecord<'a> {
    /// Source topic.
    pub topic: &'a str,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// Source key.
    pub key: Option<&'a [u8]>,
    /// Source payload.
    pub payload: Option<&'a [u8]>,
    /// Reason class.
    pub reason: RejectReason,
    /// Detail.
    pub detail: &'a str,
}

/// Producer of the job's outputs.
pub struct Sink {
    producer: ThreadedProducer<Tracker>,
    alert_topic: String,
    dead_letter_topic: String,
    late_topic: String,
    features_topic: Option<String>,
    shadow_topic: String,
}

impl Sink {
    /// An idempotent producer for the job's alert and dead-letter topics.
    pub fn new(k: &KafkaSettings) -> Result<Self, PipelineError> {
        let mut c = client_config(&k.brokers, &k.properties);
        c.set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("compression.type", "none");
        let producer: ThreadedProducer<Tracker> = c.create_with_context(Tracker::default())?;
        Ok(Sink {
            producer,
            alert_topic: k.alert_topic.clone(),
            dead_letter_topic: k.dead_letter_topic.clone(),
            late_topic: k.late_topic.clone(),
            features_topic: k.features_topic.clone(),
            shadow_topic: k.shadow_topic.clone(),
        })
    }

    fn send(&self, mut record: BaseRecord<'_, [u8], [u8]>) -> Result<(), PipelineError> {
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }

    /// Queues an alert, keyed by asset id.
    pub fn alert(&self, alert: &Alert) -> Result<(), PipelineError> {
        self.alert_to(&self.alert_topic, alert)
    }

    /// Queues a shadow model's alert on the shadow topic (it carries the candidate's version).
    pub fn shadow_alert(&self, alert: &Alert) -> Result<(), PipelineError> {
        self.alert_to(&self.shadow_topic, alert)
    }

    fn alert_to(&self, topic: &str, alert: &Alert) -> Result<(), PipelineError> {
        let json = serde_json::to_vec(alert)
            .map_err(|e| PipelineError::Data(format!("alert serialization: {e}")))?;
        self.send(
            BaseRecord::to(topic)
                .key(alert.asset_id.as_bytes())
                .payload(json.as_slice()),
        )
    }

    /// Queues the rows of a feature batch on the features topic (if the job has one), keyed by
    /// asset id; returns how many were queued.
    pub fn features(
        &self,
        batch: &vigil_operators::arrow::array::RecordBatch,
        names: &[String],
    ) -> Result<usize, PipelineError> {
        let Some(topic) = &self.features_topic else {
            return Ok(0);
        };
        for i in 0..batch.num_rows() {
            let row = crate::features::row_json(batch, names, i);
            let key = row["asset_id"].as_str().unwrap_or_default().to_string();
            let json = serde_json::to_vec(&row)
                .map_err(|e| PipelineError::Data(format!("feature row serialization: {e}")))?;
            self.send(
                BaseRecord::to(topic)
                    .key(key.as_bytes())
                    .payload(json.as_slice()),
            )?;
        }
        Ok(batch.num_rows())
    }

    /// Queues a dead letter (a rejected record) on the dead-letter topic.
    pub fn dead_letter(&self, d: &DeadLetterRecord<'_>) -> Result<(), PipelineError> {
        self.redirect(&self.dead_letter_topic, d)
    }

    /// Queues a late reading on the late-data topic, with the same headers as a dead letter.
    pub fn late(&self, d: &DeadLetterRecord<'_>) -> Result<(), PipelineError> {
        self.redirect(&self.late_topic, d)
    }

    fn redirect(&self, topic: &str, d: &DeadLetterRecord<'_>) -> Result<(), PipelineError> {
        let (partition, offset) = (d.partition.to_string(), d.offset.to_string());
        let payload = d.payload.unwrap_or_default();
        let cut = payload.len() > MAX_DEAD_PAYLOAD;
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: H_REASON,
                value: Some(d.reason.code()),
            })
            .insert(Header {
                key: H_DETAIL,
                value: Some(d.detail),
            })
            .insert(Header {
                key: H_TOPIC,
                value: Some(d.topic),
            })
            .insert(Header {
                key: H_PARTITION,
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: H_OFFSET,
                value: Some(offset.as_str()),
            });
        if cut {
            headers = headers.insert(Header {
                key: "vigil.payload_truncated_from",
                value: Some(&payload.len().to_string()),
            });
        }
        let mut rec = BaseRecord::to(topic).headers(headers);
        if d.payload.is_some() {
            rec = rec.payload(&payload[..payload.len().min(MAX_DEAD_PAYLOAD)]);
        }
        if let Some(k) = d.key {
            rec = rec.key(k);
        }
        self.send(rec)
    }

    /// Waits until everything queued is delivered; fails if any delivery failed since the last
    /// flush.
    pub fn flush(&self, timeout: Duration) -> Result<(), PipelineError> {
        self.producer.flush(timeout)?;
        let failed = self.producer.context().failed.swap(0, Ordering::Relaxed);
        if failed > 0 {
            let last = self
                .producer
                .context()
                .last_error
                .lock()
                .ok()
                .and_then(|l| l.clone())
                .unwrap_or_default();
            return Err(PipelineError::Data(format!(
                "{failed} output record(s) were not delivered (last error: {last})"
            )));
        }
        Ok(())
    }
}
