//! The input side: a consumer-group member that polls records in batches.
//!
//! Offsets are stored only for records whose outputs (alerts, dead letters) were flushed, and
//! committed from those stores; so a crash replays records rather than losing them.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::BorrowedMessage;
use tracing::warn;

use super::client_config;
use crate::job::KafkaSettings;
use crate::PipelineError;

/// A batch-polling Kafka consumer.
pub struct Source {
    consumer: BaseConsumer,
}

impl Source {
    /// Joins the job's consumer group and subscribes to its input topics.
    pub fn new(k: &KafkaSettings) -> Result<Self, PipelineError> {
        let mut c = client_config(&k.brokers, &Default::default());
        c.set("group.id", &k.group_id)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "50")
            .set("queued.min.messages", "20000");
        for (key, v) in &k.properties {
            c.set(key, v);
        }
        let consumer: BaseConsumer = c.create()?;
        let topics: Vec<&str> = k.input_topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        Ok(Source { consumer })
    }

    /// Polls up to `max` records, waiting at most `timeout` for the batch to fill. Transient
    /// client errors are logged and skipped; they never end the job.
    pub fn poll_batch(&self, max: usize, timeout: Duration) -> Vec<BorrowedMessage<'_>> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < max {
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = if out.is_empty() { left } else { Duration::ZERO };
            match self.consumer.poll(wait) {
                Some(Ok(m)) => out.push(m),
                Some(Err(e)) => warn!(error = %e, "consumer error"),
                None if out.is_empty() && !left.is_zero() => continue,
                None => break,
            }
        }
        out
    }

    /// The partitions currently assigned to this member, or `None` if the client cannot tell.
    pub fn assignment(&self) -> Option<Vec<(String, i32)>> {
        let list = self.consumer.assignment().ok()?;
        Some(
            list.elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect(),
        )
    }

    /// Marks records as processed (their offsets will be committed).
    pub fn store(&self, msgs: &[BorrowedMessage<'_>]) -> Result<(), PipelineError> {
        for m in msgs {
            self.consumer.store_offset_from_message(m)?;
        }
        Ok(())
    }

    /// Commits stored offsets now (on shutdown).
    pub fn commit(&self) -> Result<(), PipelineError> {
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => Ok(()),
            // nothing stored since the last commit
            Err(rdkafka::error::KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::NoOffset,
            )) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
