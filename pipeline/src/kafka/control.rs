//! The control topic client: reads every acknowledgement and silence of a job from the
//! beginning (no consumer group: every instance sees all of them) and writes new ones for
//! `vigil alerts ack|silence|unsilence`.

use std::time::Duration;

use rdkafka::consumer::BaseConsumer;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
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
        Ok(ControlClient {
            consumer: super::log::reader(brokers, topic, "vigil-control-reader")?,
            topic: topic.to_string(),
            book: ControlBook::default(),
            rejected: 0,
        })
    }

    fn apply(book: &mut ControlBook, rejected: &mut u64, topic: &str, m: &BorrowedMessage<'_>) {
        let offset = m.offset();
        match m.payload().map(serde_json::from_slice::<ControlRecord>) {
            Some(Ok(r)) => book.apply(&r),
            Some(Err(e)) => {
                *rejected += 1;
                warn!(topic, offset, error = %e, "not a control record; skipped");
            }
            None => {
                *rejected += 1;
                warn!(topic, offset, "empty control record; skipped");
            }
        }
    }

    /// Applies every record available now (never blocks); returns how many were read.
    pub fn poll(&mut self) -> usize {
        let (book, rejected, topic) = (&mut self.book, &mut self.rejected, &self.topic);
        super::log::poll_now(&self.consumer, |m| Self::apply(book, rejected, topic, m))
    }

    /// Reads until the end of the topic, waiting at most `limit` (at start-up, so the first
    /// alerts already carry the silences).
    pub fn catch_up(&mut self, limit: Duration) -> Result<usize, PipelineError> {
        let (book, rejected, topic) = (&mut self.book, &mut self.rejected, &self.topic);
        super::log::read_to_end(&self.consumer, topic, limit, |m| {
            Self::apply(book, rejected, topic, m)
        })
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
