//! The output side: alerts (keyed by asset id, JSON), dead letters (original payload plus
//! reason and source coordinates in headers), feature rows and state changelog records,
//! produced in batches. In exactly-once mode the producer is transactional: everything queued
//! between [`Sink::begin`] and [`Sink::commit`] becomes visible to `read_committed` consumers
//! atomically, together with the consumed offsets. In at-least-once mode outputs are flushed
//! before the offsets of their inputs are committed; a delivery failure fails the flush, so
//! inputs are replayed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use rdkafka::TopicPartitionList;
use vigil_schemas::{Alert, RejectReason};

use super::{client_config, H_DETAIL, H_OFFSET, H_PARTITION, H_REASON, H_TOPIC};
use crate::job::KafkaSettings;
use crate::PipelineError;

/// Largest original payload copied into a dead letter; longer ones are cut (header says so).
const MAX_DEAD_PAYLOAD: usize = 512 * 1024;

/// Counts failed deliveries so a flush can report them, and (at-least-once) records each
/// alert's window-close-to-acknowledged latency when the broker acknowledges it.
pub struct Tracker {
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// The instant delivery opaques count microseconds from.
    epoch: Instant,
    /// Where acknowledged alerts' latencies go (at-least-once mode).
    stats: Option<Arc<crate::metrics::JobStats>>,
}

impl Tracker {
    fn new(stats: Option<Arc<crate::metrics::JobStats>>) -> Self {
        Tracker {
            failed: AtomicU64::new(0),
            last_error: Mutex::new(None),
            epoch: Instant::now(),
            stats,
        }
    }

    /// The delivery opaque of a record whose latency counts from `since`: microseconds after
    /// the epoch, plus one (0 means "not timed").
    fn opaque(&self, since: Option<Instant>) -> usize {
        since.map_or(0, |t| {
            usize::try_from(t.saturating_duration_since(self.epoch).as_micros())
                .unwrap_or(usize::MAX - 1)
                + 1
        })
    }
}

impl ClientContext for Tracker {}

impl ProducerContext for Tracker {
    /// 0, or 1 + microseconds from [`Tracker::epoch`] to the close of the alert's window.
    type DeliveryOpaque = usize;
    fn delivery(&self, result: &DeliveryResult<'_>, since: usize) {
        match result {
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = self.last_error.lock() {
                    *last = Some(e.to_string());
                }
            }
            Ok(_) if since > 0 => {
                if let Some(s) = &self.stats {
                    let closed = self.epoch + Duration::from_micros(since as u64 - 1);
                    s.record_close_to_alert(closed.elapsed());
                }
            }
            Ok(_) => {}
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
    /// At-least-once, alerts have a producer (and broker connection) of their own, so their
    /// acknowledgement never waits behind a changelog write of megabytes in the same produce
    /// request or connection; exactly-once they share the transactional one.
    alerts: Option<ThreadedProducer<Tracker>>,
    alert_topic: String,
    dead_letter_topic: String,
    late_topic: String,
    features_topic: Option<String>,
    shadow_topic: String,
    changelog_topic: String,
    transactional: bool,
}

/// Largest state changelog record (one input partition's snapshot).
pub const MAX_CHANGELOG_RECORD: usize = 64 * 1024 * 1024;

/// Linger of the at-least-once alert producer, ms. With 0, every alert of a close woke the
/// producer's broker thread, and the job thread met it on the queue's lock alert by alert: at
/// 702,000 readings/s the slowest run spent 2.4-7.7 ms handing ~250 alerts over. With 1 ms
/// they are queued without a wake-up and leave in one request (0.3 ms), and the median
/// window close to acknowledgement fell (6.7-9.3 -> 6.0-6.5 ms in three runs each).
const ALERT_LINGER_MS: &str = "1";

/// How long a transaction operation may take before it is reported as failed.
const TXN_TIMEOUT: Duration = Duration::from_secs(60);

impl Sink {
    /// An idempotent producer for the job's outputs; transactional (and initialised, fencing
    /// any earlier producer with the same id) when `transactional_id` is given. Without one
    /// (at-least-once) an alert is visible once the broker acknowledges it, so its latency is
    /// recorded into `stats` then (see [`Sink::alert`]), records linger 1 ms, not 5, and alerts
    /// go through a second producer of their own (see [`ALERT_LINGER_MS`]), so they never wait
    /// behind a changelog write.
    pub fn new(
        k: &KafkaSettings,
        transactional_id: Option<&str>,
        stats: Arc<crate::metrics::JobStats>,
    ) -> Result<Self, PipelineError> {
        let mut c = client_config(&k.brokers, &Default::default());
        let linger = if transactional_id.is_some() { "5" } else { "1" };
        c.set("enable.idempotence", "true")
            .set("linger.ms", linger)
            .set("compression.type", "none")
            .set(
                "message.max.bytes",
                (MAX_CHANGELOG_RECORD + 65536).to_string(),
            )
            .set("transaction.timeout.ms", "30000")
            // a transaction begun right after the previous commit finds the coordinator still
            // writing that one's markers (CONCURRENT_TRANSACTIONS) and retries after this
            // backoff: librdkafka's default of 100 ms made every commit take 100 ms
            .set("retry.backoff.ms", "5");
        if let Some(id) = transactional_id {
            c.set("transactional.id", id);
        }
        for (key, v) in &k.properties {
            c.set(key, v);
        }
        let stats = transactional_id.is_none().then_some(stats);
        let alerts = match &stats {
            Some(st) => {
                let mut a = c.clone();
                a.set("linger.ms", ALERT_LINGER_MS);
                Some(a.create_with_context(Tracker::new(Some(st.clone())))?)
            }
            None => None,
        };
        let producer: ThreadedProducer<Tracker> = c.create_with_context(Tracker::new(stats))?;
        if transactional_id.is_some() {
            producer.init_transactions(TXN_TIMEOUT)?;
        }
        Ok(Sink {
            alerts,
            changelog_topic: k.changelog_topic.clone(),
            transactional: transactional_id.is_some(),
            producer,
            alert_topic: k.alert_topic.clone(),
            dead_letter_topic: k.dead_letter_topic.clone(),
            late_topic: k.late_topic.clone(),
            features_topic: k.features_topic.clone(),
            shadow_topic: k.shadow_topic.clone(),
        })
    }

    fn send(&self, record: BaseRecord<'_, [u8], [u8], usize>) -> Result<(), PipelineError> {
        send_with(&self.producer, record)
    }

    /// The producer of alerts (see [`Sink::alerts`]).
    fn alert_producer(&self) -> &ThreadedProducer<Tracker> {
        self.alerts.as_ref().unwrap_or(&self.producer)
    }

    /// Every producer of this sink.
    fn producers(&self) -> impl Iterator<Item = &ThreadedProducer<Tracker>> {
        std::iter::once(&self.producer).chain(&self.alerts)
    }

    /// Whether outputs are written in transactions.
    pub fn transactional(&self) -> bool {
        self.transactional
    }

    /// Opens a transaction (exactly-once mode; a no-op otherwise).
    pub fn begin(&self) -> Result<(), PipelineError> {
        if self.transactional {
            self.producer.begin_transaction()?;
        }
        Ok(())
    }

    /// Commits the open transaction with the consumed `offsets` (next offsets to read) of
    /// `group`: outputs, state and progress become visible together, or not at all.
    pub fn commit(
        &self,
        offsets: &TopicPartitionList,
        group: &ConsumerGroupMetadata,
    ) -> Result<(), PipelineError> {
        if offsets.count() > 0 {
            self.producer
                .send_offsets_to_transaction(offsets, group, TXN_TIMEOUT)?;
        }
        self.drain(TXN_TIMEOUT);
        self.producer.commit_transaction(TXN_TIMEOUT)?;
        self.take_failures()
    }

    /// Aborts the open transaction: nothing queued since [`Sink::begin`] becomes visible.
    pub fn abort(&self) -> Result<(), PipelineError> {
        self.producer.abort_transaction(TXN_TIMEOUT)?;
        self.producer.context().failed.swap(0, Ordering::Relaxed);
        Ok(())
    }

    /// Queues one input partition's state snapshot on the changelog (compacted, keyed by
    /// `key`, in changelog partition `partition`); `offset` (header `vigil.offset`) is the next
    /// input offset the state has not seen.
    pub fn changelog(
        &self,
        key: &str,
        partition: i32,
        state: &[u8],
        offset: Option<i64>,
    ) -> Result<(), PipelineError> {
        if state.len() > MAX_CHANGELOG_RECORD {
            return Err(PipelineError::Data(format!(
                "the state of input partition {key} is {} bytes, over the changelog record limit of {MAX_CHANGELOG_RECORD}: lower [limits] max_assets",
                state.len()
            )));
        }
        let mut rec = BaseRecord::with_opaque_to(&self.changelog_topic, 0)
            .key(key.as_bytes())
            .partition(partition)
            .payload(state);
        if let Some(o) = offset {
            rec = rec.headers(OwnedHeaders::new().insert(Header {
                key: super::H_STATE_OFFSET,
                value: Some(&o.to_string()),
            }));
        }
        self.send(rec)
    }

    /// Queues an incremental snapshot of input partition `key` on changelog partition
    /// `partition`: the new segments (keys `<key>#<name>`), the head (key `key`, header
    /// `vigil.offset` = `offset`), then tombstones of the dropped segments, in that order.
    pub fn changelog_delta(
        &self,
        key: &str,
        partition: i32,
        delta: &crate::engine::StateDelta,
        offset: Option<i64>,
    ) -> Result<(), PipelineError> {
        for (name, bytes) in &delta.put {
            self.changelog(
                &super::changelog::segment_key(key, name),
                partition,
                bytes,
                None,
            )?;
        }
        self.changelog(key, partition, &delta.head, offset)?;
        for name in &delta.drop {
            let k = super::changelog::segment_key(key, name);
            self.send(
                BaseRecord::<[u8], [u8], usize>::with_opaque_to(&self.changelog_topic, 0)
                    .key(k.as_bytes())
                    .partition(partition),
            )?;
        }
        Ok(())
    }

    /// Queues an alert, keyed by asset id. `closed` is when the batch that closed its window
    /// started: at-least-once, the broker's acknowledgement records the latency from then.
    pub fn alert(&self, alert: &Alert, closed: Option<Instant>) -> Result<(), PipelineError> {
        self.alert_to(&self.alert_topic, alert, closed)
    }

    /// Queues a shadow model's alert on the shadow topic (it carries the candidate's version).
    pub fn shadow_alert(&self, alert: &Alert) -> Result<(), PipelineError> {
        self.alert_to(&self.shadow_topic, alert, None)
    }

    fn alert_to(
        &self,
        topic: &str,
        alert: &Alert,
        closed: Option<Instant>,
    ) -> Result<(), PipelineError> {
        let json = serde_json::to_vec(alert)
            .map_err(|e| PipelineError::Data(format!("alert serialization: {e}")))?;
        let producer = self.alert_producer();
        let opaque = producer.context().opaque(closed);
        let mut rec = BaseRecord::with_opaque_to(topic, opaque)
            .key(alert.asset_id.as_bytes())
            .payload(json.as_slice());
        if let Some(tp) = &alert.traceparent {
            rec = rec.headers(OwnedHeaders::new().insert(Header {
                key: crate::telemetry::trace::TRACEPARENT,
                value: Some(tp.as_bytes()),
            }));
        }
        send_with(producer, rec)
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
                BaseRecord::with_opaque_to(topic, 0)
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
        let mut rec = BaseRecord::with_opaque_to(topic, 0).headers(headers);
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
        self.drain(timeout);
        for p in self.producers() {
            p.flush(timeout)?;
        }
        self.take_failures()
    }

    /// Waits (up to `timeout`) until every queued record is delivered and its report served by
    /// the producer's polling thread. rust-rdkafka's own flush (also inside its
    /// `commit_transaction`) polls for up to 100 ms at a time while that thread serves the
    /// reports, so it returned 100 ms late at almost every commit; checking the count every
    /// 200 µs lets the flush that follows find nothing left to wait for.
    fn drain(&self, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while self.producers().any(|p| p.in_flight_count() > 0)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn take_failures(&self) -> Result<(), PipelineError> {
        let mut failed = 0;
        let mut last = String::new();
        for p in self.producers() {
            let n = p.context().failed.swap(0, Ordering::Relaxed);
            if n > 0 {
                failed += n;
                if let Some(e) = p.context().last_error.lock().ok().and_then(|l| l.clone()) {
                    last = e;
                }
            }
        }
        if failed > 0 {
            return Err(PipelineError::Data(format!(
                "{failed} output record(s) were not delivered (last error: {last})"
            )));
        }
        Ok(())
    }
}

/// Queues `record` on `producer`, waiting while its queue is full.
fn send_with(
    producer: &ThreadedProducer<Tracker>,
    mut record: BaseRecord<'_, [u8], [u8], usize>,
) -> Result<(), PipelineError> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}
