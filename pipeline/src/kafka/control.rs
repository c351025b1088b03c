//! The control topic client: reads every acknowledgement and silence of a job from the
//! beginning (no consumer group: every instance sees all of them) and writes new ones for
//! `vigil alerts ack|silence|unsilence`.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tracing::warn;
use vigil_schemas::ControlRecord;

use super::client_config;
use crate::control::ControlBook;
use crate::PipelineError;

/// Follows one control topic (one partition) into a [`ControlBook`].
pub struct ControlClient {
    consumer: BaseConsumer,
    topic: String,
    /// The state read so far.
    pub book: ControlBook,
    /// Records that were not control records (logged and skipped).
    pub rejected: u64,
}

impl ControlClient {
    /// Connects and starts reading `topic` from the beginning.
    pub fn new(brokers: &str, topic: &str) -> Result<Self, PipelineError> {
        let mut c = client_config(brokers, &Default::default());
        c.set("enable.auto.commit", "false")
            .set("group.id", "vigil-control-reader");
        let consumer: BaseConsumer = c.create()?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)?;
        consumer.assign(&tpl)?;
        Ok(ControlClient {
            consumer,
            topic: topic.to_string(),
            book: ControlBook::default(),
            rejected: 0,
        })
    }

    fn apply(&mut self, offset: i64, payload: Option<&[u8]>) {
        match payload.map(serde_json::from_slice::<ControlRecord>) {
            Some(Ok(r)) => self.book.apply(&r),
            Some(Err(e)) => {
                self.rejected += 1;
                warn!(topic = %self.topic, offset, error = %e, "not a control record; skipped");
            }
            None => {
                self.rejected += 1;
                warn!(topic = %self.topic, offset, "empty control record; skipped");
            }
        }
    }

    /// Applies every record available now (never blocks); returns how many were read.
    pub fn poll(&mut self) -> usize {
        let mut n = 0;
        while let Some(Ok(m)) = self.consumer.poll(Duration::ZERO) {
            let (offset, payload) = (m.offset(), m.payload().map(<[u8]>::to_vec));
            self.apply(offset, payload.as_deref());
            n += 1;
        }
        n
    }

    /// Reads until the end of the topic, waiting at most `limit` (at start-up, so the first
    /// alerts already carry the silences).
    pub fn catch_up(&mut self, limit: Duration) -> Result<usize, PipelineError> {
        let (_, high) = self
            .consumer
            .fetch_watermarks(&self.topic, 0, Duration::from_secs(10))?;
        let start = Instant::now();
        let (mut seen, mut n) = (0i64, 0);
        while seen < high && start.elapsed() < limit {
            if let Some(Ok(m)) = self.consumer.poll(Duration::from_millis(200)) {
                let (offset, payload) = (m.offset(), m.payload().map(<[u8]>::to_vec));
                self.apply(offset, payload.as_deref());
                seen = offset + 1;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// Sends one control record, keyed by its target, and waits for the broker to have it.
pub fn send(brokers: &str, topic: &str, r: &ControlRecord) -> Result<(), PipelineError> {
    let producer: BaseProducer = client_config(brokers, &Default::default()).create()?;
    let json = serde_json::to_vec(r).map_err(|e| PipelineError::Data(e.to_string()))?;
    producer
        .send(BaseRecord::to(topic).key(r.target()).payload(&json))
        .map_err(|(e, _)| PipelineError::from(e))?;
    producer.flush(Duration::from_secs(30))?;
    Ok(())
}
